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
