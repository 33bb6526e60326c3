//! `staves cache du` and `staves cache prune` on a cache filled from a repository served
//! on 127.0.0.1: a prune keeps what the locks it is told of need — the build still works
//! `--offline` — and removes the rest; a dry run or an age spares what it should.

mod support;

use std::path::Path;

use support::server::Server;
use support::*;

fn du(cache: &Path) -> serde_json::Value {
    let out = staves(&["cache", "du", "--json"], cache);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn entries(du: &serde_json::Value, kind: &str) -> u64 {
    du["kinds"]
        .as_array()
        .expect("kinds")
        .iter()
        .find(|k| k["kind"] == kind)
        .and_then(|k| k["entries"].as_u64())
        .expect(kind)
}

#[test]
fn a_prune_keeps_what_the_locks_need_and_the_locked_build_works_offline() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = Key::generate(dir.path(), "archive");
    let root = dir.path().join("repo");
    let repo = Repo::new(&root);
    let kept_file: &[(&str, &[u8], u32)] = &[("usr/share/kept/data", b"kept", 0o644)];
    let dropped_file: &[(&str, &[u8], u32)] = &[("usr/share/dropped/data", b"dropped", 0o644)];
    repo.publish(
        "main",
        &[
            pkg("kept", "1.0", &[]).with_files(kept_file),
            pkg("dropped", "1.0", &[]).with_files(dropped_file),
        ],
        &key,
        Signing::Both,
        None,
    );
    let server = Server::start(root);
    let projects = dir.path().join("projects");
    let kept = spec(
        &projects.join("kept"),
        &["kept"],
        &server.base,
        "main",
        &key.armored,
        "",
    );
    let other = dir.path().join("elsewhere");
    let dropped = spec(&other, &["dropped"], &server.base, "main", &key.armored, "");
    let cache = dir.path().join("cache");
    for spec in [&kept, &dropped] {
        let path = spec.to_str().expect("utf8");
        let out = staves(&["lock", "-f", path], &cache);
        assert!(out.status.success(), "{}", stderr(&out));
        let image = spec.with_file_name("image.tar");
        let out = staves(
            &["build", "-f", path, "-o", image.to_str().expect("utf8")],
            &cache,
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let before = du(&cache);
    assert_eq!(entries(&before, "debs"), 2, "{before}");
    assert!(entries(&before, "images") >= 2, "{before}");

    let projects_arg = projects.to_str().expect("utf8");
    // A dry run and an age nothing is that old remove nothing.
    for args in [
        vec!["--keep-locked", projects_arg, "--dry-run"],
        vec!["--older-than", "1d"],
    ] {
        let mut all = vec!["cache", "prune", "--json"];
        all.extend(args);
        let out = staves(&all, &cache);
        assert!(out.status.success(), "{}", stderr(&out));
        let after = du(&cache);
        assert_eq!(after["bytes"], before["bytes"], "{all:?}");
    }
    let dry = staves(
        &[
            "cache",
            "prune",
            "--json",
            "--dry-run",
            "--keep-locked",
            projects_arg,
        ],
        &cache,
    );
    let dry: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("json");
    assert!(dry["removed"].as_u64().is_some_and(|n| n > 0), "{dry}");

    let out = staves(
        &["cache", "prune", "--json", "--keep-locked", projects_arg],
        &cache,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pruned: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        pruned["locks"].as_array().map(Vec::len),
        Some(1),
        "{pruned}"
    );
    assert_eq!(
        pruned["removed"], dry["removed"],
        "the dry run said the same"
    );
    let after = du(&cache);
    assert_eq!(entries(&after, "debs"), 1, "{after}");
    assert_eq!(entries(&after, "images"), 0, "{after}");
    assert!(
        entries(&after, "indices") > 0,
        "the releases' indices stay: {after}"
    );
    assert!(after["bytes"].as_u64() < before["bytes"].as_u64());

    // The kept lock still builds with no network; the other one cannot.
    let offline = |spec: &Path| {
        let image = spec.with_file_name("again.tar");
        staves(
            &[
                "build",
                "--offline",
                "--locked",
                "-f",
                spec.to_str().expect("utf8"),
                "-o",
                image.to_str().expect("utf8"),
            ],
            &cache,
        )
    };
    let out = offline(&kept);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = offline(&dropped);
    assert!(!out.status.success(), "{}", stderr(&out));
}
