#![no_main]
//! `staves.toml`: any text gives a spec or a located error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = staves_spec::Spec::parse(text, std::path::Path::new("staves.toml"));
    }
});
