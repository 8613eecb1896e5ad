//! What the test harnesses share: the binary under test, the committed data
//! in tests/data, temporary folders, small file helpers, the hand-made
//! hairpin structure, the lock around libtorch's process-wide state and the
//! locator of the DEV benchmark.
//!
//! Every harness (`tests/<harness>/main.rs`) includes this file with
//! `#[path = "../common/mod.rs"] mod common;` and uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path under tests/data.
pub fn data(relative: &str) -> PathBuf {
    root().join("tests/data").join(relative)
}

/// The `fadca` binary that cargo built for these tests.
pub fn fadca_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fadca"))
}

/// A command running the binary under test.
pub fn fadca() -> assert_cmd::Command {
    assert_cmd::Command::new(fadca_exe())
}

/// A fresh temporary folder, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// The text of a file; a failure names the file.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes `text` to `path`, creating its folder first.
pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Decodes the PNG file at `path` (checking that it is one) and returns its
/// width and height and its 8-bit RGB pixels, row-major.
pub fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// `bytes` as one gzip member.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The query (first row) of tests/data/predict/small.fasta: 30 residues.
pub const SMALL_QUERY: &str = "DPFSHYGFLEFWMRKFIYTLWCYHCTSYWT";

/// A two-strand hairpin of Cα atoms carrying [`SMALL_QUERY`] on `chain`
/// (PDB text): residue k (1..15) at (3.8k, 0, 0), residue 31−k at
/// (3.8k, 5, 0), so (k, 31−k) are in contact.
pub fn hairpin_pdb(chain: char) -> String {
    const THREE: [(char, &str); 20] = [
        ('A', "ALA"),
        ('R', "ARG"),
        ('N', "ASN"),
        ('D', "ASP"),
        ('C', "CYS"),
        ('Q', "GLN"),
        ('E', "GLU"),
        ('G', "GLY"),
        ('H', "HIS"),
        ('I', "ILE"),
        ('L', "LEU"),
        ('K', "LYS"),
        ('M', "MET"),
        ('F', "PHE"),
        ('P', "PRO"),
        ('S', "SER"),
        ('T', "THR"),
        ('W', "TRP"),
        ('Y', "TYR"),
        ('V', "VAL"),
    ];
    let mut text = String::new();
    for (n, c) in SMALL_QUERY.chars().enumerate() {
        let k = n + 1;
        let (x, y) = if k <= 15 {
            (3.8 * k as f64, 0.0)
        } else {
            (3.8 * (31 - k) as f64, 5.0)
        };
        let res = THREE.iter().find(|(a, _)| *a == c).unwrap().1;
        text.push_str(&format!(
            "ATOM  {k:>5}  CA  {res} {chain}{k:>4}    {x:8.3}{y:8.3}{z:8.3}  1.00 20.00           C\n",
            z = 0.0
        ));
    }
    text.push_str("END\n");
    text
}

/// Serialises the tests of one harness that use libtorch in this process:
/// its random generator (seeded by `tch::manual_seed`, also inside
/// `fadca::model::train`) and its thread count (set by tests and by `train`)
/// are process-wide, and the tests of a harness run on parallel threads.
/// Hold the returned guard for the whole test; dropping it restores the
/// thread count libtorch had when it was taken, so that no test inherits
/// another's. A test that panicked while holding it does not poison it for
/// the others.
pub fn torch_globals() -> TorchGlobals {
    static LOCK: Mutex<()> = Mutex::new(());
    let lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    TorchGlobals {
        threads: tch::get_num_threads(),
        _lock: lock,
    }
}

/// See [`torch_globals`].
pub struct TorchGlobals {
    threads: i32,
    _lock: MutexGuard<'static, ()>,
}

impl Drop for TorchGlobals {
    fn drop(&mut self) {
        tch::set_num_threads(self.threads);
    }
}

/// The DEV benchmark: `$FADCA_BENCH_DIR` if set (e.g. from a git worktree
/// elsewhere), else `../shared/bench` next to the repository. The tests that
/// read it are `#[ignore]`d (CI and users do not have it) and run with
/// `cargo test --release -- --ignored`; run so, they fail here when it is
/// missing instead of passing without checking anything.
pub fn bench_dir() -> PathBuf {
    let dir = std::env::var_os("FADCA_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/bench"));
    assert!(
        dir.join("families.tsv").is_file(),
        "the DEV benchmark is not at {} (no families.tsv): put it at ../shared/bench \
         or point FADCA_BENCH_DIR at it",
        dir.display()
    );
    dir
}
