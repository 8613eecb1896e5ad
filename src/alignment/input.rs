//! Opening an alignment file and reading it line by line: gzip detection by
//! magic bytes, one reusable line buffer, line numbers for error messages, and
//! the checks that turn unreadable or binary input into one-line input errors.
use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::InputError;
use crate::io::{GZIP_MAGIC, open_reader};

/// A line reader over a (possibly gzipped) alignment file.
pub(crate) struct LineReader {
    inner: Box<dyn BufRead>,
    /// The file as shown in messages.
    file: String,
    gzipped: bool,
    buf: Vec<u8>,
    /// 1-based number of the line now in `buf` (0 before the first line).
    line_no: usize,
    /// When set, the next call to [`LineReader::next_line`] returns the current line again.
    replay: bool,
    eof: bool,
}

impl LineReader {
    /// Opens `path`, detecting gzip from its first two bytes
    /// ([`crate::io::open_reader`]).
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let fail = |message: String| InputError::in_file("alignment", path, message);
        let meta =
            std::fs::metadata(path).map_err(|e| fail(format!("cannot open: {}", io_reason(&e))))?;
        if meta.is_dir() {
            return Err(fail("is a directory, not an alignment file".into()).into());
        }
        let (inner, gzipped) =
            open_reader(path).map_err(|e| fail(format!("cannot open: {}", io_reason(&e))))?;
        Ok(LineReader {
            inner,
            file: path.display().to_string(),
            gzipped,
            buf: Vec::with_capacity(1024),
            line_no: 0,
            replay: false,
            eof: false,
        })
    }

    /// Wraps an in-memory reader (unit tests, [`super::parse_alignment_bytes`]);
    /// `file` names it in messages.
    pub(crate) fn from_reader(file: &str, reader: impl std::io::Read + 'static) -> Self {
        LineReader {
            inner: Box::new(BufReader::new(reader)),
            file: file.to_string(),
            gzipped: false,
            buf: Vec::new(),
            line_no: 0,
            replay: false,
            eof: false,
        }
    }

    /// Wraps in-memory bytes, decompressing them when they start with the
    /// gzip magic (as [`LineReader::open`] does for files).
    pub(crate) fn from_bytes(file: &str, bytes: Vec<u8>) -> Self {
        if bytes.starts_with(&GZIP_MAGIC) {
            let mut reader =
                Self::from_reader(file, MultiGzDecoder::new(std::io::Cursor::new(bytes)));
            reader.gzipped = true;
            reader
        } else {
            Self::from_reader(file, std::io::Cursor::new(bytes))
        }
    }

    /// The file as shown in messages.
    pub(crate) fn file(&self) -> &str {
        &self.file
    }

    /// 1-based number of the current line.
    pub(crate) fn line_no(&self) -> usize {
        self.line_no
    }

    /// Makes the next [`LineReader::advance`] stay on the current line.
    pub(crate) fn unread(&mut self) {
        self.replay = true;
    }

    /// The current line without its line terminator and surrounding ASCII
    /// whitespace.
    pub(crate) fn line(&self) -> &[u8] {
        self.buf.trim_ascii()
    }

    /// Moves to the next line; false at the end of the file. A line holding
    /// a NUL byte or invalid UTF-8 is an input error (binary file).
    pub(crate) fn advance(&mut self) -> anyhow::Result<bool> {
        if self.replay {
            self.replay = false;
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.buf.clear();
        let n = self.inner.read_until(b'\n', &mut self.buf).map_err(|e| {
            let what = if self.gzipped {
                "gzip data is truncated or corrupt"
            } else {
                "cannot read"
            };
            InputError::in_named_file(
                "alignment",
                self.file.clone(),
                format!("{what}: {}", io_reason(&e)),
            )
            .at_line(self.line_no + 1)
        })?;
        if n == 0 {
            self.eof = true;
            self.buf.clear();
            return Ok(false);
        }
        self.line_no += 1;
        if self.buf.contains(&0) {
            return Err(self.error("binary data (a NUL byte); not a text alignment file"));
        }
        if std::str::from_utf8(&self.buf).is_err() {
            return Err(self.error("not valid UTF-8 text; not a text alignment file"));
        }
        Ok(true)
    }

    /// An input error located at the current line.
    pub(crate) fn error(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        InputError::in_named_file("alignment", self.file.clone(), msg.to_string())
            .at_line(self.line_no)
            .into()
    }

    /// An input error located at a column (1-based) of the current line.
    pub(crate) fn error_at(&self, column: usize, msg: impl std::fmt::Display) -> anyhow::Error {
        InputError::in_named_file("alignment", self.file.clone(), msg.to_string())
            .at_line(self.line_no)
            .at_column(column)
            .into()
    }
}

/// The OS reason of an I/O error without Rust's "(os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::UnexpectedEof => "unexpected end of data".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
