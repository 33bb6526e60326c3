//! Locks that outlive the mirror: a locked `.deb` the mirror dropped is fetched from a
//! snapshot-shaped tree (`<snapshot>/<YYYYMMDDTHHMMSSZ>/<Filename>`, at the time the lock
//! read the repository) and checked against the lock like any `.deb`; without a snapshot
//! the error names the package and the ways out.

mod support;

use std::path::Path;

use support::server::Server;
use support::*;

fn text(output: &std::process::Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

fn write_spec(dir: &Path, uri: &str, key: &Path, snapshot: Option<&str>) -> std::path::PathBuf {
    let snapshot = snapshot
        .map(|s| format!("snapshot = \"{s}\"\n"))
        .unwrap_or_default();
    let path = dir.join("staves.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"locked\"\npackages = [\"locked-tool\"]\nexclude = [\"base-files\"]\n\n[[repositories]]\nname = \"mirror\"\nuri = \"{uri}\"\nsuite = \"stable\"\nkeyring = \"{}\"\n{snapshot}",
            key.display()
        ),
    )
    .expect("spec");
    path
}

#[test]
fn a_locked_package_the_mirror_dropped_comes_from_the_snapshot_checked_by_the_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let key = Key::generate(root, "snapshots");
    let repo = Repo::new(&root.join("mirror"));
    repo.publish(
        "stable",
        &[pkg("locked-tool", "1.0", &[])],
        &key,
        Signing::Both,
        None,
    );
    let mirror = Server::start(repo.root.clone());
    let snapshot_root = root.join("snapshot");
    std::fs::create_dir_all(&snapshot_root).expect("snapshot root");
    let snapshot = Server::start(snapshot_root.clone());
    let spec_dir = root.join("spec");
    std::fs::create_dir_all(&spec_dir).expect("spec dir");
    let spec = write_spec(&spec_dir, &mirror.base, &key.binary, Some(&snapshot.base));
    let spec_arg = spec.to_str().expect("utf8");

    let lock = staves(&["lock", "-f", spec_arg], &root.join("c0"));
    assert!(lock.status.success(), "{}", text(&lock));
    let lock_text = std::fs::read_to_string(spec_dir.join("staves.lock")).expect("lock");
    let date = lock_text
        .lines()
        .find_map(|l| l.strip_prefix("date = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the lock records when the repository was read")
        .to_owned();
    assert_eq!(date.len(), 16, "{date}");

    // The snapshot archive holds the pool as it was; the mirror drops the package.
    let debs: Vec<_> = walk(&repo.root.join("pool"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert!(!debs.is_empty());
    for deb in &debs {
        let relative = deb.strip_prefix(&repo.root).expect("under the mirror");
        let copy = snapshot_root.join(&date).join(relative);
        std::fs::create_dir_all(copy.parent().expect("parent")).expect("dirs");
        std::fs::copy(deb, &copy).expect("copy");
        std::fs::remove_file(deb).expect("drop from the mirror");
    }

    let layout = root.join("layout");
    // A locked build with a cache of its own: nothing of the mirror's files cached.
    let build_locked = |cache: &Path| {
        staves(
            &[
                "build",
                "--locked",
                "-f",
                spec_arg,
                "-o",
                layout.to_str().expect("utf8"),
            ],
            cache,
        )
    };
    let build = build_locked(&root.join("c1"));
    assert!(build.status.success(), "{}", text(&build));
    assert!(
        text(&build).contains("fetched from the snapshot of mirror at"),
        "{}",
        text(&build)
    );
    assert!(
        snapshot
            .requests()
            .iter()
            .any(|r| r.starts_with(&format!("/{date}/pool/"))),
        "{:?}",
        snapshot.requests()
    );

    // A tampered snapshot copy is refused by the lock's SHA-256.
    let copy = walk(&snapshot_root.join(&date))
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("copy");
    let mut bytes = std::fs::read(&copy).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&copy, &bytes).expect("tamper");
    let tampered = build_locked(&root.join("c2"));
    assert!(!tampered.status.success());
    assert!(text(&tampered).contains("checksum"), "{}", text(&tampered));

    // Without a snapshot: the package, its locked version, and the two ways out.
    write_spec(&spec_dir, &mirror.base, &key.binary, None);
    let gone = build_locked(&root.join("c3"));
    assert!(!gone.status.success());
    let message = text(&gone);
    for expected in [
        "locked-tool 1.0",
        "no longer has",
        "staves lock",
        "snapshot",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
}
