//! What only the assembled image can tell about a spec, checked at build time with the
//! spec's place: an image `user` (or `user:group`) no account of the image defines, a
//! `[[paths]]` owner it lacks, a program the command names that it does not hold; and a
//! command whose default init the repositories cannot give.

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

/// `staves build` of `spec` into `root`'s cache and output.
fn build(root: &Path, spec: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["build", "-f"])
        .arg(spec)
        .arg("--cache")
        .arg(root.join("cache"))
        .arg("-o")
        .arg(root.join("out"))
        .env("NO_COLOR", "1")
        .output()
        .expect("staves build")
}

/// Asserts `spec` fails as a spec error (exit 2) whose message holds each of `expected`.
fn refused(root: &Path, spec: &Path, expected: &[&str]) {
    let failed = build(root, spec);
    let message = stderr(&failed);
    assert_eq!(failed.status.code(), Some(2), "{message}");
    for expected in expected {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[test]
fn a_program_the_image_lacks_and_an_unknown_path_owner_are_spec_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let spec = fixture_spec(root, "command = [\"helo\", \"--greeting\"]\ninit = false");
    refused(
        root,
        &spec,
        &[
            "the image has no program `helo`",
            "staves.toml:4:1",
            "looked in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin",
        ],
    );
    let spec = fixture_spec(
        root,
        "command = [\"/usr/bin/hello\"]\ninit = false\n[[paths]]\npath = \"/usr/bin/hello\"\ncontent = \"x\"\nmode = \"0755\"\nowner = \"ghost\"",
    );
    refused(root, &spec, &["no account `ghost`", "staves.toml:10:9"]);
    // The program as a path the spec adds, found through PATH, with an owner the image has.
    let spec = fixture_spec(
        root,
        "command = [\"hello\"]\ninit = false\n[[paths]]\npath = \"/usr/local/bin/hello\"\ncontent = \"x\"\nmode = \"0755\"\nowner = \"nobody\"",
    );
    let built = build(root, &spec);
    assert!(built.status.success(), "{}", stderr(&built));
}

/// A command runs under tini unless `init = false`; a repository without it is told so at
/// the `command` line.
#[test]
fn a_command_whose_init_the_repositories_lack_says_how_to_do_without() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let spec = fixture_spec(root, "command = [\"/usr/bin/hello\"]");
    let failed = build(root, &spec);
    let message = stderr(&failed);
    for expected in [
        "no package named `tini`",
        "staves.toml:4:1",
        "`init = false`",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}

#[test]
fn a_user_no_account_defines_is_a_spec_error_at_build_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let run = |spec: &Path| build(root, spec);
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
