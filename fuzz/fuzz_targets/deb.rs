#![no_main]
//! `.deb` archives: the ar member table and the control archive.
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("staves-fuzz-{}.deb", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(deb) = staves_deb::deb::DebFile::open(&path)
        && let Ok(mut reader) = deb.data()
    {
        let mut sink = vec![0u8; 1 << 16];
        let mut total = 0usize;
        while let Ok(n) = reader.read(&mut sink) {
            if n == 0 || total > 1 << 24 {
                break;
            }
            total += n;
        }
    }
});
