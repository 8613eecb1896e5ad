//! Every alignment reader on arbitrary bytes: `checks::alignment`
//! (fuzz/checks.rs, shared with the regression test).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::alignment(data));
