//! Structure loading (PDB or mmCIF, detected from content) on arbitrary text,
//! then the mapping onto a fixed query. The first byte picks the chain
//! (default or 'A'). Any outcome but a panic is fine; an error must be an
//! input error.
#![no_main]

use std::path::Path;

use fadca::structure::{map_to_query, parse_structure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let chain = (selector & 1 == 1).then_some("A");
    match parse_structure(&text, Path::new("fuzz.input"), chain) {
        Ok(s) => {
            let _ = map_to_query("ACDEFGHIKLMNPQRSTVWY", &s);
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
});
