#![no_main]
//! Debian version parsing and ordering: never panics, and ordering is total and consistent.
use libfuzzer_sys::fuzz_target;
use staves_deb::Version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    if let (Ok(x), Ok(y)) = (Version::parse(a), Version::parse(b)) {
        assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        assert_eq!(x.cmp(&x), std::cmp::Ordering::Equal);
    }
    let _ = staves_deb::version::compare_str(a, b);
});
