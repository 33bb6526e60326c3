#![no_main]
//! The tar-stream guard in front of the tar reader: arbitrary bytes through both.
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let guard = staves_image::guard::TarGuard::new(data, 1 << 20);
    let mut archive = tar::Archive::new(guard);
    if let Ok(entries) = archive.entries() {
        for entry in entries.take(64) {
            let Ok(mut entry) = entry else { break };
            let _ = entry.path_bytes();
            let _ = entry.link_name_bytes();
            let mut sink = Vec::new();
            let _ = (&mut entry).take(1 << 16).read_to_end(&mut sink);
        }
    }
});
