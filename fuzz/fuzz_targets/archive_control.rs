#![no_main]
//! An upload's control paragraph, as the archive checks it before it reaches an index: what
//! passes is one paragraph of distinct fields naming a safe package, version and architecture.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checked) = staves_archive::control::check(text) {
        assert!(!checked.text.contains("\n\n"), "one paragraph");
        assert!(!checked.text.contains('\r'));
        assert!(staves_archive::control::is_package_name(&checked.name));
        assert!(!checked.version.contains('/') && !checked.arch.contains('/'));
        let pool = format!("pool/main/x/{}/{}_{}_{}.deb", checked.source, checked.name, checked.version, checked.arch);
        let pool = pool.replace(':', "_");
        assert!(staves_archive::control::is_pool_path(&pool), "{pool}");
    }
});
