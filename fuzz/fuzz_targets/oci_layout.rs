#![no_main]
//! An OCI layout whose `index.json`, manifest, config and one layer come from the input,
//! read as `staves inspect` reads it: refused or read, never a file outside the layout.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0xff).collect();
    let Ok(dir) = tempfile::tempdir() else { return };
    let root = dir.path();
    let blobs = root.join("blobs/sha256");
    if std::fs::create_dir_all(&blobs).is_err() {
        return;
    }
    let _ = std::fs::write(root.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let _ = std::fs::write(root.join("index.json"), parts.first().copied().unwrap_or_default());
    for part in parts.iter().skip(1) {
        let digest = staves_oci::Digest::of(part);
        let _ = std::fs::write(blobs.join(digest.hex()), part);
    }
    if let Ok(image) = staves_oci::ImageReader::open(root, None, Some("amd64")) {
        let _ = image.tree(&["/var/lib/dpkg/status"], 1 << 20);
    }
});
