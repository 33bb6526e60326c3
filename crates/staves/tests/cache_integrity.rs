//! The cache is re-checked against the signed chain on every use: damaged, truncated or
//! swapped entries are repaired by fetching again — or, offline, refused — never built in.
//! The fixture has a security suite whose updates must survive any damage to its index.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::server::Server;
use support::*;

struct Fixture {
    dir: tempfile::TempDir,
    server: Server,
    spec: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Key::generate(dir.path(), "archive");
        let root = dir.path().join("repo");
        let repo = Repo::new(&root);
        repo.publish(
            "main",
            &[
                pkg("app", "1.0", &[("Depends", "libssl")]),
                pkg("libssl", "1.0", &[]),
            ],
            &key,
            Signing::Both,
            None,
        );
        repo.publish(
            "security",
            &[
                pkg("app", "1.1", &[("Depends", "libssl (>= 1.1)")]),
                pkg("libssl", "1.1", &[]),
            ],
            &key,
            Signing::Both,
            None,
        );
        let server = Server::start(root);
        let spec = dir.path().join("staves.toml");
        let repository = |name: &str| {
            format!(
                "[[repositories]]\nname = \"{name}\"\nuri = \"{}\"\nsuite = \"{name}\"\nkeyring = \"{}\"\n",
                server.base,
                key.armored.display()
            )
        };
        std::fs::write(
            &spec,
            format!(
                "name = \"app\"\npackages = [\"app\"]\n\n{}\n{}",
                repository("main"),
                repository("security")
            ),
        )
        .expect("spec");
        Fixture { dir, server, spec }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn staves(&self, args: &[&str]) -> Output {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-f", self.spec.to_str().expect("utf8")]);
        run_staves(&full, &self.cache())
    }
}

fn run_staves(args: &[&str], cache: &Path) -> Output {
    staves_command(args, cache).output().expect("run staves")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
}

/// The cached text of the index holding `needle`.
fn cached_index_with(cache: &Path, needle: &str) -> PathBuf {
    walk(&cache.join("indices"))
        .into_iter()
        .find(|p| {
            p.extension().is_none() && std::fs::read_to_string(p).is_ok_and(|t| t.contains(needle))
        })
        .unwrap_or_else(|| panic!("no cached index holds {needle}"))
}

fn flip_byte_after(path: &Path, needle: &str) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("needle")
        + needle.len();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn security_updates_survive_a_damaged_index() {
    let f = Fixture::new();
    assert!(ok(&f.staves(&["resolve"])).contains("app 1.1"));
    let security = cached_index_with(&f.cache(), "Version: 1.1");

    // Truncated to nothing: the next run notices, fetches it again, and still sees 1.1.
    std::fs::write(&security, b"").expect("truncate");
    let out = f.staves(&["resolve"]);
    assert!(ok(&out).contains("app 1.1"), "{}", stdout(&out));
    assert!(stderr(&out).contains("Repairing"), "{}", stderr(&out));

    // One flipped byte in a `Filename:` is found the same way.
    flip_byte_after(&security, "Filename: pool/");
    let out = f.staves(&["resolve"]);
    assert!(ok(&out).contains("app 1.1"));
    assert!(stderr(&out).contains("Repairing"), "{}", stderr(&out));

    // Offline there is nothing to repair with: refused, never resolved from what is left.
    std::fs::write(&security, b"").expect("truncate");
    let out = f.staves(&["resolve", "--offline"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(!stdout(&out).contains("app 1.0"));
    assert!(stderr(&out).contains("is damaged"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("without `--offline`"),
        "{}",
        stderr(&out)
    );
    // Repaired by the next run that may fetch.
    assert!(ok(&f.staves(&["resolve"])).contains("app 1.1"));
}

#[test]
fn a_damaged_index_record_is_not_believed() {
    let f = Fixture::new();
    ok(&f.staves(&["resolve"]));
    let records: Vec<PathBuf> = walk(&f.cache().join("indices"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    assert_eq!(records.len(), 2);
    for record in &records {
        let mut bytes = std::fs::read(record).expect("read");
        let last = bytes.len() - 40;
        bytes[last] ^= 0xff;
        std::fs::write(record, bytes).expect("write");
    }
    let out = f.staves(&["resolve"]);
    assert!(ok(&out).contains("app 1.1"));
    assert_eq!(
        stderr(&out).matches("Repairing").count(),
        2,
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_swapped_or_damaged_cached_deb_is_fetched_again() {
    let f = Fixture::new();
    let tmp = f.dir.path();
    let first = tmp.join("first.tar");
    ok(&f.staves(&["build", "-o", first.to_str().expect("utf8")]));
    let debs: Vec<PathBuf> = walk(&f.cache().join("debs"));
    assert_eq!(debs.len(), 2);
    let (app, libssl) = {
        let is_app = |p: &PathBuf| {
            let out = run(std::process::Command::new("dpkg-deb")
                .args(["-f"])
                .arg(p)
                .arg("Package"));
            stdout(&out).trim() == "app"
        };
        let app = debs.iter().find(|p| is_app(p)).expect("app").clone();
        let libssl = debs.iter().find(|p| !is_app(p)).expect("libssl").clone();
        (app, libssl)
    };
    // Drop the decoded copies and the built image too, so the .debs are what the build
    // reads.
    let _ = std::fs::remove_dir_all(f.cache().join("unpacked"));
    let _ = std::fs::remove_dir_all(f.cache().join("images"));

    // Another valid .deb in app's place.
    std::fs::copy(&libssl, &app).expect("swap");
    let offline = f.staves(&[
        "build",
        "--offline",
        "-o",
        tmp.join("x.tar").to_str().expect("utf8"),
    ]);
    assert!(!offline.status.success());
    assert!(stderr(&offline).contains("app 1.1"), "{}", stderr(&offline));
    assert!(!tmp.join("x.tar").exists());

    let second = tmp.join("second.tar");
    let out = f.staves(&["build", "-o", second.to_str().expect("utf8")]);
    ok(&out);
    assert!(stderr(&out).contains("Repairing"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&first).expect("first"),
        std::fs::read(&second).expect("second"),
        "the repaired build must equal the first"
    );
}

#[test]
fn swapped_decoded_copies_are_not_built_in() {
    let f = Fixture::new();
    let tmp = f.dir.path();
    let first = tmp.join("first.tar");
    ok(&f.staves(&["build", "-o", first.to_str().expect("utf8")]));
    let copies = walk(&f.cache().join("unpacked"));
    assert_eq!(copies.len(), 2);
    let held = std::fs::read(&copies[0]).expect("copy");
    std::fs::copy(&copies[1], &copies[0]).expect("swap");
    std::fs::write(&copies[1], held).expect("swap");
    let second = tmp.join("second.tar");
    ok(&f.staves(&["build", "-o", second.to_str().expect("utf8")]));
    assert_eq!(
        std::fs::read(&first).expect("first"),
        std::fs::read(&second).expect("second")
    );
}

#[test]
fn damaged_release_and_verification_memo_are_repaired() {
    let f = Fixture::new();
    ok(&f.staves(&["resolve"]));
    let releases = f.cache().join("releases");
    let memos: Vec<PathBuf> = walk(&releases)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "verified"))
        .collect();
    assert_eq!(memos.len(), 2);
    // A memo whose body no longer matches what was verified: e.g. an index's checksum.
    for memo in &memos {
        flip_byte_after(memo, "SHA256:\n ");
    }
    let out = f.staves(&["resolve", "--refresh"]);
    assert!(ok(&out).contains("app 1.1"), "{}", stderr(&out));
    for memo in &memos {
        let text = std::fs::read_to_string(memo).expect("memo");
        let (_, rest) = text.split_once('\n').expect("header");
        let (sum, body) = rest.split_once('\n').expect("sum");
        let actual = hex_sha256(body.as_bytes());
        assert_eq!(sum, format!("body-sha256 {actual}"), "memo rewritten whole");
    }
    // The cached release itself, damaged: fetched again.
    let cached: Vec<PathBuf> = walk(&releases)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".InRelease"))
        .collect();
    for release in &cached {
        flip_byte_after(release, "SHA256:\n ");
    }
    let out = f.staves(&["resolve"]);
    assert!(ok(&out).contains("app 1.1"));
    assert!(stderr(&out).contains("Repairing"), "{}", stderr(&out));
}

fn hex_sha256(bytes: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), bytes).expect("write");
    let out = child.wait_with_output().expect("sha256sum");
    stdout(&out)
        .split_whitespace()
        .next()
        .expect("sum")
        .to_owned()
}

#[test]
fn temporaries_of_killed_runs_are_swept() {
    let f = Fixture::new();
    ok(&f.staves(&["resolve"]));
    // What a killed run leaves: a temporary named after a process that is gone.
    let orphan = f.cache().join("tmp/.staves-tmp-4294967295-1-abc");
    let orphan_dir = f.cache().join("tmp/.staves-tmp-4294967295-1-scratch");
    std::fs::write(&orphan, b"half a deb").expect("orphan");
    std::fs::create_dir_all(orphan_dir.join("layout")).expect("orphan dir");
    ok(&f.staves(&["resolve"]));
    assert!(!orphan.exists() && !orphan_dir.exists());
}

/// Whether `dir` (not recursively) holds a temporary of Staves.
fn temporaries_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".staves-tmp-"))
        .collect()
}

#[test]
fn killed_builds_leave_no_partial_output() {
    let f = Fixture::new();
    let out_dir = f.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("out");
    let clean_tar = out_dir.join("clean.tar");
    let clean_layout = out_dir.join("clean-layout");
    let spec = f.spec.to_str().expect("utf8").to_owned();
    ok(&f.staves(&["build", "-o", clean_tar.to_str().expect("utf8")]));
    ok(&f.staves(&["build", "-o", clean_layout.to_str().expect("utf8")]));

    let tar = out_dir.join("image.tar");
    let layout = out_dir.join("layout");
    // Kill points from process start to past the end of a build, with a cold cache half
    // the time so that downloads and decoding are cut too.
    for (i, delay_ms) in [0u64, 2, 4, 6, 8, 10, 13, 16, 20, 25, 30, 40]
        .iter()
        .enumerate()
    {
        if i % 2 == 0 {
            let _ = std::fs::remove_dir_all(f.cache());
        }
        for target in [&tar, &layout] {
            let mut child = staves_command(
                &["build", "-f", &spec, "-o", target.to_str().expect("utf8")],
                &f.cache(),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
            std::thread::sleep(std::time::Duration::from_millis(*delay_ms));
            let _ = child.kill();
            let _ = child.wait();
            // Whatever is at the destination is whole: absent, or a complete output.
            if target.exists() {
                if target == &tar {
                    let listing = run(std::process::Command::new("tar").arg("tf").arg(target));
                    assert!(stdout(&listing).contains("manifest.json"));
                } else {
                    assert!(target.join("index.json").is_file(), "partial layout");
                }
            }
        }
    }
    // The next builds sweep what the kills left and produce the clean bytes.
    ok(&f.staves(&["build", "-o", tar.to_str().expect("utf8")]));
    ok(&f.staves(&["build", "-o", layout.to_str().expect("utf8")]));
    assert_eq!(temporaries_in(&out_dir), Vec::<String>::new());
    assert_eq!(
        temporaries_in(&layout.join("blobs/sha256")),
        Vec::<String>::new()
    );
    assert_eq!(temporaries_in(&f.cache().join("tmp")), Vec::<String>::new());
    assert_eq!(
        std::fs::read(&tar).expect("tar"),
        std::fs::read(&clean_tar).expect("clean")
    );
    assert_eq!(
        std::fs::read(layout.join("index.json")).expect("index"),
        std::fs::read(clean_layout.join("index.json")).expect("clean index")
    );
}

#[test]
fn four_builds_sharing_one_empty_cache_give_the_sequential_bytes() {
    let f = Fixture::new();
    let out_dir = f.dir.path().join("parallel");
    std::fs::create_dir_all(&out_dir).expect("out");
    let spec = f.spec.to_str().expect("utf8").to_owned();
    // Sequential reference, then a fresh cache shared by four builds at once.
    let reference = out_dir.join("sequential.tar");
    ok(&f.staves(&["build", "-o", reference.to_str().expect("utf8")]));
    std::fs::remove_dir_all(f.cache()).expect("empty the cache");
    let outputs: Vec<PathBuf> = (0..4).map(|i| out_dir.join(format!("{i}.tar"))).collect();
    let children: Vec<_> = outputs
        .iter()
        .map(|out| {
            staves_command(
                &["build", "-f", &spec, "-o", out.to_str().expect("utf8")],
                &f.cache(),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let expected = std::fs::read(&reference).expect("reference");
    for out in &outputs {
        assert!(
            std::fs::read(out).expect("output") == expected,
            "{} differs from the sequential build",
            out.display()
        );
    }
    assert_eq!(temporaries_in(&f.cache().join("tmp")), Vec::<String>::new());
    // And the cache they filled together serves an offline build of the same bytes.
    let offline = out_dir.join("offline.tar");
    ok(&f.staves(&["build", "--offline", "-o", offline.to_str().expect("utf8")]));
    assert!(std::fs::read(&offline).expect("offline") == expected);
}

#[test]
fn offline_opens_no_connection_and_names_what_is_missing() {
    let f = Fixture::new();
    // Indices cached, no .deb: an offline build must fail without one request.
    ok(&f.staves(&["resolve"]));
    let before = f.server.requests().len();
    let image = f.dir.path().join("offline.tar");
    let out = f.staves(&["build", "--offline", "-o", image.to_str().expect("utf8")]);
    assert!(!out.status.success(), "built offline without the packages");
    assert_eq!(
        f.server.requests().len(),
        before,
        "--offline reached the repository: {:?}",
        &f.server.requests()[before..]
    );
    let err = stderr(&out);
    assert!(
        err.contains("app 1.1") || err.contains("libssl 1.1"),
        "{err}"
    );
    assert!(!err.contains("retrying"), "{err}");
    assert!(!image.exists());
}

#[test]
fn offline_names_every_missing_package_at_once() {
    let f = Fixture::new();
    // The indices are cached, the .debs are not.
    ok(&f.staves(&["lock"]));
    let out = f.staves(&[
        "build",
        "--offline",
        "--locked",
        "-o",
        f.dir.path().join("x.tar").to_str().expect("utf8"),
    ]);
    assert!(!out.status.success());
    let message = stderr(&out);
    for expected in [
        "2 files are not in the cache",
        "--offline",
        "app 1.1",
        "libssl 1.1",
        "MB in all",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    // Nothing was asked of the server once offline.
    let before = f.server.requests().len();
    let _ = f.staves(&["build", "--offline", "--locked", "-o", "/dev/null"]);
    assert_eq!(f.server.requests().len(), before);
}

/// A changed keyring is not damage: the cached release is verified against the new one, and
/// one it no longer verifies is fetched again — with the keyring's own error, never a
/// "Repairing" line.
#[test]
fn a_changed_keyring_is_verified_afresh_without_repairing() {
    let f = Fixture::new();
    ok(&f.staves(&["resolve"]));
    let text = std::fs::read_to_string(&f.spec).expect("spec");
    let keyring_line = text
        .lines()
        .find(|l| l.starts_with("keyring = "))
        .expect("keyring line")
        .to_owned();
    let old = keyring_line
        .trim_start_matches("keyring = \"")
        .trim_end_matches('"')
        .to_owned();
    // The same key and one more: still verifies, silently.
    let other = Key::generate(f.dir.path(), "other");
    let both = f.dir.path().join("both.asc");
    let joined = format!(
        "{}\n{}",
        std::fs::read_to_string(&old).expect("key"),
        std::fs::read_to_string(&other.armored).expect("key")
    );
    std::fs::write(&both, joined).expect("keyring");
    std::fs::write(
        &f.spec,
        text.replace(&keyring_line, &format!("keyring = \"{}\"", both.display())),
    )
    .expect("spec");
    let out = f.staves(&["resolve"]);
    assert!(ok(&out).contains("app 1.1"));
    assert!(!stderr(&out).contains("Repairing"), "{}", stderr(&out));

    // Only a key that did not sign it: the signature error, no repair.
    std::fs::write(
        &f.spec,
        text.replace(
            &keyring_line,
            &format!("keyring = \"{}\"", other.armored.display()),
        ),
    )
    .expect("spec");
    let out = f.staves(&["resolve"]);
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("Repairing"), "{}", stderr(&out));
    assert!(stderr(&out).contains("keyring"), "{}", stderr(&out));
}
