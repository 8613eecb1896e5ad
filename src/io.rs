//! Files in and out, the same way for every module: input files are
//! opened through [`open_reader`] / [`read_bytes`] (gzip recognised by its
//! magic bytes, whatever the name), and every file fadca writes goes through
//! [`write_atomic`]: the content is written to a temporary file in the
//! destination folder and renamed over the destination only when writing
//! succeeded, so a killed run never leaves a half-written output behind.
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::read::MultiGzDecoder;

use crate::error::input_error;

/// The first two bytes of a gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for buffered reading, decompressing it on the fly when it
/// starts with the gzip magic (several concatenated gzip members are read
/// as one stream). Returns the reader and whether the file is gzipped.
pub fn open_reader(path: &Path) -> std::io::Result<(Box<dyn BufRead>, bool)> {
    let mut raw = BufReader::with_capacity(1 << 16, File::open(path)?);
    let gzipped = raw.fill_buf()?.starts_with(&GZIP_MAGIC);
    let reader: Box<dyn BufRead> = if gzipped {
        Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    };
    Ok((reader, gzipped))
}

/// Reads a whole file through [`open_reader`] (gunzipped when gzipped). A
/// failure is an input error, `cannot read <what><path>: …` or `cannot
/// gunzip <what><path>: …`; `what` is a prefix such as `"structure "`, or
/// empty.
pub fn read_bytes(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let fail = |verb: &str, e: std::io::Error| {
        input_error(format!("cannot {verb} {what}{}: {e}", path.display()))
    };
    let (mut reader, gzipped) = open_reader(path).map_err(|e| fail("read", e))?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| fail(if gzipped { "gunzip" } else { "read" }, e))?;
    Ok(out)
}

/// Creates a folder (and its parents); failure is an input error naming it.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| input_error(format!("cannot create folder {}: {e}", dir.display())))
}

/// The SHA-256 of a file's bytes as stored (compressed files are hashed
/// compressed), in lowercase hex: what `sha256sum` prints. Recorded in
/// `summary.json` and model files so that a result names the exact input it
/// was made from.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    use sha2::Digest;
    let mut file = File::open(path)
        .map_err(|e| input_error(format!("cannot read {}: {e}", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .map_err(|e| input_error(format!("cannot read {}: {e}", path.display())))?;
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 of bytes held in memory, as [`sha256_file`] gives it for a
/// file holding them (lowercase hex).
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hidden sibling of `dir` named `.<name><suffix>` (`dir` must have a
/// file name).
fn sibling(dir: &Path, suffix: &str) -> anyhow::Result<PathBuf> {
    let name = dir
        .file_name()
        .with_context(|| format!("output folder {} has no name", dir.display()))?;
    let mut sibling = std::ffi::OsString::from(".");
    sibling.push(name);
    sibling.push(suffix);
    Ok(dir.with_file_name(sibling))
}

/// The advisory lock that makes a run the only one writing into an output
/// folder: `flock` on the hidden sibling file `.<folder>.lock`, which holds
/// the process id of its holder. The operating system drops the lock when
/// the process ends, however it ends (`kill -9` included), so a dead run
/// leaves nothing to clean up; the lock file itself stays (removing it
/// while another process waits on it would let two runs in).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Takes the lock of output folder `dir` (whose parent must exist), or
    /// fails at once with an input error naming the holder's process id.
    pub fn acquire(dir: &Path) -> anyhow::Result<FolderLock> {
        let path = sibling(dir, ".lock")?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                input_error(format!(
                    "cannot create the lock file {}: {e}",
                    path.display()
                ))
            })?;
        if !try_lock(&file)? {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "unknown" } else { holder };
            return Err(input_error(format!(
                "output folder {} is in use by another fadca run (process {holder}); wait for it to \
                 finish, or write elsewhere with -o",
                dir.display()
            )));
        }
        file.set_len(0)
            .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(FolderLock { _file: file })
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: true when the lock was taken, false when
/// another process holds it.
fn try_lock(file: &File) -> anyhow::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this process owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(anyhow::Error::new(err).context("locking the output folder"))
    }
}

/// An output folder written as a whole: files go into a hidden temporary
/// sibling `.<folder>.tmp-<pid>`, which [`StagedFolder::publish`] moves into
/// place at once (atomically exchanging it with the previous folder where
/// the file system allows it, then removing the previous one). A run that
/// fails or is killed before publishing leaves the previous folder as it
/// was; a dropped, unpublished stage removes its temporary folder, and one
/// left by a killed run is removed by the next run into the same folder.
/// Hold the folder's [`FolderLock`] while a stage lives.
#[derive(Debug)]
pub struct StagedFolder {
    target: PathBuf,
    temp: PathBuf,
    published: bool,
}

impl StagedFolder {
    /// Starts writing folder `dir` (its parent must exist): removes the
    /// temporary folders that killed runs into `dir` left, and creates an
    /// empty one for this run.
    pub fn new(dir: &Path) -> anyhow::Result<StagedFolder> {
        let temp = sibling(dir, &format!(".tmp-{}", std::process::id()))?;
        remove_stale_stages(dir)?;
        std::fs::create_dir(&temp)
            .map_err(|e| input_error(format!("cannot create folder {}: {e}", temp.display())))?;
        Ok(StagedFolder {
            target: dir.to_path_buf(),
            temp,
            published: false,
        })
    }

    /// Where this run's files go until [`StagedFolder::publish`].
    pub fn path(&self) -> &Path {
        &self.temp
    }

    /// The folder the files end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the staged files into place as one folder, replacing the
    /// previous folder (and whatever it held) as a whole.
    pub fn publish(mut self) -> anyhow::Result<()> {
        let fail = |e: std::io::Error| {
            anyhow::Error::new(e).context(format!(
                "moving {} into place as {}",
                self.temp.display(),
                self.target.display()
            ))
        };
        if self.target.is_dir() {
            if exchange(&self.temp, &self.target).map_err(fail)? {
                // The previous folder is now at the temporary path.
                std::fs::remove_dir_all(&self.temp).map_err(fail)?;
            } else {
                let old = sibling(&self.target, &format!(".old-{}", std::process::id()))?;
                std::fs::rename(&self.target, &old).map_err(fail)?;
                std::fs::rename(&self.temp, &self.target).map_err(fail)?;
                std::fs::remove_dir_all(&old).map_err(fail)?;
            }
        } else {
            std::fs::rename(&self.temp, &self.target).map_err(fail)?;
        }
        self.published = true;
        Ok(())
    }
}

impl Drop for StagedFolder {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

/// Removes the hidden `.<folder>.tmp-*` and `.<folder>.old-*` siblings of
/// `dir` that killed runs left (call while holding the folder's lock).
fn remove_stale_stages(dir: &Path) -> anyhow::Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Ok(());
    };
    let name = name.to_string_lossy();
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.old-")];
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing the stale {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Atomically exchanges two folders (`renameat2` with `RENAME_EXCHANGE`);
/// false when the system or file system cannot (the caller falls back to
/// two renames).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c =
        |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two NUL-terminated paths, relative to the current folder.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::ENOTSUP) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Writes a file atomically: `write` receives a buffered writer on a temporary
/// file `.<name>.tmp-<pid>` in the same folder as `path`; when it returns `Ok`
/// the buffer is flushed and the temporary file renamed to `path` (replacing an
/// existing file). On any error the temporary file is removed and `path` is
/// left untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> anyhow::Result<()> {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut buffered = std::io::BufWriter::new(file);
        write(&mut buffered)?;
        if injected_write_failure(path) {
            anyhow::bail!("injected write failure (FADCA_FAULT_WRITE)");
        }
        buffered
            .flush()
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(buffered);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Test hook: `FADCA_FAULT_WRITE=<file name>` makes [`write_atomic`] fail
/// for files of that name, after their content was written, as a full disk
/// would. Unset in normal use.
fn injected_write_failure(path: &Path) -> bool {
    std::env::var_os("FADCA_FAULT_WRITE")
        .is_some_and(|name| path.file_name() == Some(name.as_os_str()))
}

/// The temporary sibling of `path` used by [`write_atomic`].
fn temp_path(path: &Path) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("output path {} has no file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    Ok(path.with_file_name(tmp_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, |w| {
            w.write_all(b"first")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
        write_atomic(&path, |w| {
            w.write_all(b"second")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[test]
    fn error_leaves_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("boom")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("boom"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temp_name_is_hidden_sibling() {
        let tmp = temp_path(Path::new("/a/b/contacts.tsv")).unwrap();
        assert_eq!(
            tmp,
            PathBuf::from(format!("/a/b/.contacts.tsv.tmp-{}", std::process::id()))
        );
    }
}
