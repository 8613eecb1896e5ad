//! The contact-file readers on arbitrary text: `checks::prediction`
//! (fuzz/checks.rs, shared with the regression test).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::prediction(data));
