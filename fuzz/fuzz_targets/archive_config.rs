#![no_main]
//! The archive server's configuration file: refused with a located error, or read.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = staves_archive::ServerConfig::parse(text, std::path::Path::new("/nonexistent/archive.toml"));
});
