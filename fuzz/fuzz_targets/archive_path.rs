#![no_main]
//! `Filename:` paths: whatever is accepted stays below the archive root.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && staves_repo::archive_path::check(text).is_ok()
    {
        assert!(!text.starts_with('/'));
        assert!(!text.split('/').any(|c| c == ".."));
        assert!(!staves_repo::archive_path::url_climbs(&format!("http://h/{text}")));
    }
});
