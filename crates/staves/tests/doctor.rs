//! `staves doctor`: each item of the host with its state, the fix for what is missing, and a
//! failing exit only for what nothing works without.

mod support;

use std::process::Command;

use support::{stderr, stdout};

fn doctor(cache: &std::path::Path, path: Option<&std::path::Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_staves"));
    command.arg("doctor").arg("--cache").arg(cache);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().expect("staves doctor")
}

#[test]
fn doctor_names_what_is_missing_and_how_to_get_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache");
    let good = doctor(&cache, None);
    assert!(good.status.success(), "{}{}", stdout(&good), stderr(&good));
    for item in [
        "cache",
        "apt sources",
        "bubblewrap",
        "engine",
        "trust",
        "credentials",
        "proxies",
    ] {
        assert!(stdout(&good).contains(item), "{item}: {}", stdout(&good));
    }

    // Without bubblewrap or an engine on the PATH: reported with their fixes, not fatal.
    let empty = dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).expect("dir");
    let bare = doctor(&cache, Some(&empty));
    assert!(bare.status.success(), "{}{}", stdout(&bare), stderr(&bare));
    let text = stdout(&bare);
    assert!(text.contains("missing  bubblewrap"), "{text}");
    assert!(text.contains("apt-get install bubblewrap"), "{text}");
    assert!(text.contains("missing  engine"), "{text}");

    // A cache that cannot be written: nothing works, so the exit says so.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let broken = doctor(&file.join("cache"), None);
    assert!(!broken.status.success());
    assert!(
        stdout(&broken).contains("broken  cache"),
        "{}",
        stdout(&broken)
    );
    assert!(stderr(&broken).contains("cache"), "{}", stderr(&broken));
}
