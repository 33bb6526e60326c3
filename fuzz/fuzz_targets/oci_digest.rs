#![no_main]
//! Digest parsing: whatever passes names a file inside `blobs/sha256`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(digest) = staves_oci::Digest::parse(text) {
        assert_eq!(digest.hex().len(), 64);
        assert!(digest.hex().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
    let _ = serde_json::from_str::<staves_oci::BlobRef>(text);
});
