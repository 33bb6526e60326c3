#![no_main]
//! `Release` files: dates, checksum lists.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = staves_repo::Release::parse(text, "fuzz");
        let _ = staves_repo::release::parse_rfc2822(text);
    }
});
