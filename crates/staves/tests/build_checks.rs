//! What only the assembled image can tell about a spec, checked at build time with the
//! spec's place: an image `user` (or `user:group`) no account of the image defines.

mod support;

use std::path::Path;
use std::process::Command;

use staves_test_support::fixtures;
use support::stderr;

/// A spec of `hello` from the fixture repository, with `extra` lines.
fn fixture_spec(root: &Path, extra: &str) -> std::path::PathBuf {
    let repo = root.join("repo");
    if !repo.exists() {
        std::fs::create_dir_all(&repo).expect("repo");
        let hello = fixtures::deb(root, "hello", "usr/share/hello/data", "");
        fixtures::repository(&repo, &[hello]);
    }
    let spec = root.join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"hello\"\npackages = [\"hello\"]\nexclude = [\"base-files\"]\n{extra}\n[[repositories]]\nname = \"fixture\"\nuri = \"file:{}\"\nsuite = \"s\"\ntrusted = true\n",
            repo.display()
        ),
    )
    .expect("spec");
    spec
}

#[test]
fn a_user_no_account_defines_is_a_spec_error_at_build_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let cache = root.join("cache");
    let out = root.join("out");
    let run = |spec: &Path| {
        Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["build", "-f"])
            .arg(spec)
            .arg("--cache")
            .arg(&cache)
            .arg("-o")
            .arg(&out)
            .env("NO_COLOR", "1")
            .output()
            .expect("staves build")
    };
    let ghost = fixture_spec(root, "user = \"ghost\"");
    let failed = run(&ghost);
    assert_eq!(failed.status.code(), Some(2), "{}", stderr(&failed));
    let message = stderr(&failed);
    for expected in [
        "no account `ghost`",
        "staves.toml:4:",
        "[[accounts]]",
        "nobody",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let group = fixture_spec(root, "user = \"nobody:ghosts\"");
    let failed = run(&group);
    assert!(
        stderr(&failed).contains("no group `ghosts`"),
        "{}",
        stderr(&failed)
    );

    // An account the image has, one the spec adds, and numeric ids all build.
    for extra in [
        "user = \"nobody:nogroup\"",
        "user = \"1234:1234\"",
        "user = \"app\"\n[[accounts]]\nname = \"app\"",
    ] {
        let spec = fixture_spec(root, extra);
        let built = run(&spec);
        assert!(built.status.success(), "{extra}: {}", stderr(&built));
    }
}
