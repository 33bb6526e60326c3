#![no_main]
//! Relationship fields (`Depends:` and friends).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = staves_deb::relation::parse_field(text);
    }
});
