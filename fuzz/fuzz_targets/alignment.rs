//! Every alignment reader on arbitrary bytes. The first byte picks the
//! reader (auto-detection or one forced format) and the options; the rest
//! is the file (gzip included: the magic bytes switch decompression on).
//! Any outcome but a panic is fine; an error must be an input error.
#![no_main]

use fadca::alignment::{Format, ReadOptions, parse_alignment_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = match selector % 5 {
        0 => None,
        1 => Some(Format::Fasta),
        2 => Some(Format::A3m),
        3 => Some(Format::Stockholm),
        _ => Some(Format::Aln),
    };
    let options = ReadOptions {
        format,
        keep_query_gaps: selector & 0x08 != 0,
        max_gap_fraction: if selector & 0x10 != 0 { 0.0 } else { 0.9 },
    };
    match parse_alignment_bytes("fuzz.input", body, &options) {
        Ok(a) => {
            assert_eq!(a.states.nrows(), a.names.len());
            assert_eq!(a.states.ncols(), a.query_sequence.len());
            assert!(a.states.iter().all(|&s| s < 21));
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
});
