#![no_main]
//! deb822 paragraphs, as `Packages` and `Release` files hold them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for para in staves_deb::deb822::paragraphs(text) {
            for (field, value) in para.fields() {
                let _ = para.get(field);
                let _ = value.len();
            }
        }
    }
});
