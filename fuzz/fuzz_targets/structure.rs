//! Structure loading and mapping on arbitrary text: `checks::structure`
//! (fuzz/checks.rs, shared with the regression test).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::structure(data));
