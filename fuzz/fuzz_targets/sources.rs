#![no_main]
//! apt sources, deb822 and one-line.
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = staves_deb::sources::parse_deb822_file(Path::new("fuzz.sources"), text);
        let _ = staves_deb::sources::parse_one_line_file(Path::new("fuzz.list"), text);
    }
});
