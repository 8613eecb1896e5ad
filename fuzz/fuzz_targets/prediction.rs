//! Contact-file readers (fadca tsv, CCMpred matrix, CASP RR, plmc EC) on
//! arbitrary text. The first byte picks detection or one forced format and
//! whether a query length is expected. Any outcome but a panic is fine; an
//! error must be an input error.
#![no_main]

use std::path::Path;

use fadca::contacts::{ContactFormat, detect_format, parse_prediction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let format = match selector % 5 {
        0 => match detect_format(text) {
            Some(f) => f,
            None => return,
        },
        1 => ContactFormat::Fadca,
        2 => ContactFormat::Ccmpred,
        3 => ContactFormat::CaspRr,
        _ => ContactFormat::Plmc,
    };
    let expected = (selector & 0x08 != 0).then_some((selector >> 4) as usize + 1);
    match parse_prediction(text, format, Path::new("fuzz.input"), expected) {
        Ok(p) => {
            // A legitimate L of tens of thousands would need gigabytes here.
            if p.length <= 2000 {
                let m = p.to_matrix();
                assert_eq!(m.nrows(), m.ncols());
            }
            let _ = p.top(5, 6, None);
        }
        Err(e) => assert!(
            fadca::error::is_input_error(&e),
            "not an input error: {e:#}"
        ),
    }
});
