//! End to end against a repository built here: real .debs, apt-ftparchive indices, a release
//! signed with a throwaway key, served over HTTP on 127.0.0.1 — plus its broken variants.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use support::server::Server;
use support::*;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: Key,
    other: Key,
}

/// `(name, version, extra control fields)`.
type Fixed = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const PACKAGES: &[Fixed] = &[
    (
        "hello",
        "1.0-1",
        &[
            ("Depends", "libgreet (>= 1.0) | greet-impl, base-virt"),
            ("Recommends", "hello-doc"),
        ],
    ),
    ("libgreet", "1.0-1", &[("Multi-Arch", "same")]),
    ("libgreet", "2.0-1", &[("Multi-Arch", "same")]),
    (
        "provider-b",
        "1.0",
        &[("Provides", "base-virt"), ("Priority", "optional")],
    ),
    (
        "provider-a",
        "1.0",
        &[("Provides", "base-virt"), ("Priority", "required")],
    ),
    ("hello-doc", "1.0", &[]),
    ("clash", "1.0", &[("Conflicts", "libgreet")]),
    (
        "broken",
        "1.0",
        &[("Depends", "hello (>= 1.0), not-there (>= 2)")],
    ),
    ("old-only", "1.0", &[("Depends", "libgreet (<< 2.0)")]),
];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Key::generate(dir.path(), "archive");
        let other = Key::generate(dir.path(), "stranger");
        let root = dir.path().join("repo");
        let repo = Repo::new(&root);
        let pkgs: Vec<Pkg<'_>> = PACKAGES.iter().map(|(n, v, f)| pkg(n, v, f)).collect();
        repo.publish("stable", &pkgs, &key, Signing::Both, None);
        repo.publish("detached", &pkgs, &key, Signing::DetachedOnly, None);
        repo.publish("unsigned", &pkgs, &key, Signing::Unsigned, None);
        repo.publish(
            "expired",
            &pkgs,
            &key,
            Signing::Both,
            Some("Mon, 01 Jan 2001 00:00:00 UTC"),
        );
        Fixture {
            _dir: dir,
            root,
            key,
            other,
        }
    })
}

fn copy_repo(to: &Path) -> PathBuf {
    let dest = to.join("repo");
    run(std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixture().root)
        .arg(&dest));
    dest
}

fn names(output: &str) -> Vec<String> {
    output
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn resolves_alternatives_providers_and_highest_versions() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // libgreet: highest version; base-virt: the provider with priority `required`;
    // Recommends are off by default.
    assert_eq!(
        names(&stdout(&out)),
        ["hello 1.0-1", "libgreet 2.0-1", "provider-a 1.0"]
    );

    let with_recommends = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.binary,
        "recommends = true",
    );
    let out = staves(
        &["resolve", "-f", with_recommends.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        names(&stdout(&out)).contains(&"hello-doc 1.0".to_owned()),
        "{}",
        stdout(&out)
    );
}

#[test]
fn versioned_dependency_falls_back_to_an_older_version() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["old-only"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names(&stdout(&out)), ["libgreet 1.0-1", "old-only 1.0"]);
}

#[test]
fn json_output_and_pins() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["libgreet=1.0-1"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "--json", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["name"], "libgreet");
    assert_eq!(json[0]["version"], "1.0-1");
    assert_eq!(json[0]["sha256"].as_str().map(str::len), Some(64));
    assert!(
        json[0]["filename"]
            .as_str()
            .is_some_and(|f| f.ends_with(".deb"))
    );
}

#[test]
fn lockfile_is_written_used_and_detected_stale() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let spec_arg = spec_path.to_str().expect("utf8");
    let out = staves(&["resolve", "--locked", "-f", spec_arg], &cache);
    assert!(!out.status.success(), "--locked without a lock must fail");
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let out = staves(&["lock", "-f", spec_arg], &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(tmp.path().join("staves.lock")).expect("lock written");
    assert!(lock.starts_with("# @generated"));
    assert!(
        lock.contains("name = \"libgreet\"") && lock.contains("sha256 = "),
        "{lock}"
    );

    // With a matching lock, resolve needs neither network nor cache.
    let requests_before = server.requests().len();
    let out = staves(
        &["resolve", "--locked", "--offline", "-f", spec_arg],
        &tmp.path().join("empty-cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        names(&stdout(&out)),
        ["hello 1.0-1", "libgreet 2.0-1", "provider-a 1.0"]
    );
    assert_eq!(server.requests().len(), requests_before);

    // Change the requests: the lock is stale.
    spec(
        tmp.path(),
        &["hello", "hello-doc"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(&["resolve", "--locked", "-f", spec_arg], &cache);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not match the spec"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn detached_signatures_are_accepted() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "detached",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.ends_with("/Release.gpg"))
    );
}

#[test]
fn unsigned_release_is_refused_unless_trusted() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "unsigned",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not signed"), "{}", stderr(&out));

    let text = std::fs::read_to_string(&spec_path)
        .expect("spec")
        .replace("keyring =", "trusted = true\n#");
    std::fs::write(&spec_path, text).expect("spec");
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn release_signed_by_another_key_is_refused() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.other.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not in the keyring") && err.contains("help:"),
        "{err}"
    );
}

#[test]
fn expired_release_is_refused() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "expired",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("expired on Mon, 01 Jan 2001"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn tampered_release_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = copy_repo(tmp.path());
    let in_release = root.join("dists/stable/InRelease");
    let text = std::fs::read_to_string(&in_release).expect("InRelease");
    std::fs::write(
        &in_release,
        text.replacen("Suite: stable", "Suite: stablf", 1),
    )
    .expect("tamper");
    let server = Server::start(root);
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &fixture().key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not verify"), "{}", stderr(&out));
}

#[test]
fn tampered_index_is_refused_and_nothing_is_cached() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = copy_repo(tmp.path());
    let arch = host_arch();
    let packages = root.join(format!("dists/stable/main/binary-{arch}/Packages"));
    let text = std::fs::read_to_string(&packages).expect("Packages");
    std::fs::write(&packages, text.replace("Version: 2.0-1", "Version: 9.0-1")).expect("tamper");
    run(std::process::Command::new("xz")
        .args(["-k", "-f"])
        .arg(&packages));
    let server = Server::start(root);
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &fixture().key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("mismatch"), "{}", stderr(&out));
    assert_eq!(
        cached_indices(&cache),
        0,
        "a refused index must not be cached"
    );
}

#[test]
fn interrupted_downloads_leave_nothing_half_written() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let arch = host_arch();
    server
        .faults
        .lock()
        .expect("faults")
        .truncate
        .insert(format!("/dists/stable/main/binary-{arch}/Packages.xz"));
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(
        !out.status.success(),
        "a body that always stops halfway cannot succeed"
    );
    assert_eq!(cached_indices(&cache), 0);
    let leftovers = walk(&cache).into_iter().filter(|p| is_temporary(p)).count();
    assert_eq!(leftovers, 0, "temporary files must be cleaned up");
}

#[test]
fn transient_server_errors_are_retried() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    server.faults.lock().expect("faults").unavailable = 2;
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &tmp.path().join("cache"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        server.requests().len() >= 4,
        "the two failed requests were retried"
    );
}

#[test]
fn unsatisfiable_requests_are_explained_in_the_spec() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["broken"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("staves.toml:2:13"), "{err}");
    assert!(
        err.contains("broken 1.0 depends on not-there (>= 2)"),
        "{err}"
    );
    assert!(err.contains("no package named not-there"), "{err}");

    let spec_path = spec(
        tmp.path(),
        &["hello", "clash"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("conflicts with"), "{}", stderr(&out));

    let spec_path = spec(
        tmp.path(),
        &["helo"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("did you mean `hello`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn concurrent_processes_share_a_cold_cache() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let spec_arg = spec_path.to_str().expect("utf8").to_owned();
    let outputs: Vec<_> = (0..4)
        .map(|_| {
            let (cache, spec_arg) = (cache.clone(), spec_arg.clone());
            std::thread::spawn(move || staves(&["resolve", "-f", &spec_arg], &cache))
        })
        .map(|h| h.join().expect("thread"))
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
        assert_eq!(stdout(out), stdout(&outputs[0]));
    }
    assert_eq!(cached_indices(&cache), 1);
}

fn cached_indices(cache: &Path) -> usize {
    walk(&cache.join("indices"))
        .iter()
        .filter(|p| p.extension().is_none() && !is_temporary(p))
        .count()
}

fn is_temporary(path: &Path) -> bool {
    path.file_name().is_some_and(|n| {
        let n = n.to_string_lossy();
        n.starts_with(".tmp-") || n.starts_with(".staves-tmp-")
    })
}

#[test]
fn a_cached_release_is_verified_again_when_the_keyring_changes() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let good = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let out = staves(&["resolve", "-f", good.to_str().expect("utf8")], &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    // Same cache, same cached release, but a keyring that does not hold the signer.
    let bad = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.other.armored,
        "",
    );
    let out = staves(
        &["resolve", "--offline", "-f", bad.to_str().expect("utf8")],
        &cache,
    );
    assert!(
        !out.status.success(),
        "a cached verification must not outlive its keyring"
    );
    assert!(
        stderr(&out).contains("not in the keyring"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn builds_an_image_and_resumes_a_cut_download() {
    let f = fixture();
    let server = Server::start(f.root.clone());
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    let spec_path = spec(
        tmp.path(),
        &["hello"],
        &server.base,
        "stable",
        &f.key.armored,
        "",
    );
    let spec_arg = spec_path.to_str().expect("utf8");
    let lock = staves(&["lock", "-f", spec_arg], &cache);
    assert!(lock.status.success(), "{}", stderr(&lock));
    let text = std::fs::read_to_string(tmp.path().join("staves.lock")).expect("lock");
    let libgreet = text
        .lines()
        .find(|l| l.contains("filename") && l.contains("libgreet_2.0-1"))
        .and_then(|l| l.split('"').nth(1))
        .expect("libgreet in lock")
        .to_owned();
    server
        .faults
        .lock()
        .expect("faults")
        .truncate_once
        .insert(format!("/{libgreet}"));
    let image = tmp.path().join("image.tar");
    let out = staves(
        &[
            "build",
            "--locked",
            "-f",
            spec_arg,
            "-o",
            image.to_str().expect("utf8"),
        ],
        &cache,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(image.is_file());
    let resumed = server
        .requests()
        .iter()
        .any(|r| r.starts_with(&format!("/{libgreet} range=")));
    assert!(
        resumed,
        "the cut download was resumed with a range request: {:?}",
        server.requests()
    );

    // Warm: a second build needs no network at all.
    let before = server.requests().len();
    let again = staves(
        &[
            "build",
            "--locked",
            "--offline",
            "-f",
            spec_arg,
            "-o",
            tmp.path().join("again.tar").to_str().expect("utf8"),
        ],
        &cache,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(server.requests().len(), before);
    assert_eq!(
        std::fs::read(&image).expect("read"),
        std::fs::read(tmp.path().join("again.tar")).expect("read")
    );

    // A damaged decoded copy in the cache is found, dropped, and the build done again from
    // the verified .debs, to the same bytes.
    let copies: Vec<PathBuf> = walk(&cache.join("unpacked"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zst"))
        .collect();
    assert!(!copies.is_empty(), "warm builds keep decoded copies");
    for copy in &copies {
        let mut bytes = std::fs::read(copy).expect("copy");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(copy, bytes).expect("damage");
    }
    // Without the built image kept in the cache, so the copies are what the build reads.
    std::fs::remove_dir_all(cache.join("images")).expect("image cache");
    let repaired = staves(
        &[
            "build",
            "--locked",
            "--offline",
            "-f",
            spec_arg,
            "-o",
            tmp.path().join("repaired.tar").to_str().expect("utf8"),
        ],
        &cache,
    );
    assert!(repaired.status.success(), "{}", stderr(&repaired));
    assert!(
        stderr(&repaired).contains("were damaged and were removed"),
        "{}",
        stderr(&repaired)
    );
    assert_eq!(
        std::fs::read(&image).expect("read"),
        std::fs::read(tmp.path().join("repaired.tar")).expect("read")
    );
}
