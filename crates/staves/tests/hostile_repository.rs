//! A repository signed by the very key the spec trusts, built to hurt: paths that leave the
//! archive, sizes that lie, a 10 MB control field, dependency cycles, chains and providers by
//! the ten thousand. Each run must end with one clear error (or a correct answer) and a peak
//! memory below 200 MB — measured on the real process with getrusage.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::server::Server;
use support::*;

const PEAK_RSS_LIMIT_KIB: u64 = 200 * 1024;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: Key,
}

fn paragraph(name: &str, extra: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1\nArchitecture: all\n{extra}Filename: pool/x/{name}.deb\nSize: 100\nSHA256: {}\n\n",
        "0".repeat(64)
    )
}

/// Sets `field` of `package`'s paragraph in an index text.
fn set_field(text: &mut String, package: &str, field: &str, value: &str) {
    let at = text
        .find(&format!("Package: {package}\n"))
        .expect("package");
    let key = format!("\n{field}: ");
    let start = at + text[at..].find(&key).expect("field") + key.len();
    let end = start + text[start..].find('\n').expect("eol");
    text.replace_range(start..end, value);
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = Key::generate(dir.path(), "hostile");
        let root = dir.path().join("repo");
        let repo = Repo::new(&root);
        let fat = "a".repeat(10 << 20);
        repo.publish_edited(
            "hostile",
            &[
                pkg("escape", "1", &[]),
                pkg("liar", "1", &[]),
                pkg("fat", "1", &[("X-Fat", fat.as_str())]),
                pkg("cycle-a", "1", &[("Depends", "cycle-b")]),
                pkg("cycle-b", "1", &[("Depends", "cycle-a")]),
            ],
            &key,
            Signing::Both,
            None,
            &|text| {
                // A path that leaves the archive, and a size that lies, all signed.
                let mut text = text;
                set_field(&mut text, "escape", "Filename", "../../../etc/shadow");
                set_field(&mut text, "liar", "Size", "10");
                // Ten thousand providers of one name, each failing; a chain ten thousand deep.
                text.push_str(&paragraph("wants-virt", "Depends: virt\n"));
                for i in 0..10_000 {
                    text.push_str(&paragraph(
                        &format!("prov{i}"),
                        "Provides: virt\nDepends: absent\n",
                    ));
                }
                for i in 0..10_000 {
                    let dep = if i + 1 < 10_000 {
                        format!("Depends: link{}\n", i + 1)
                    } else {
                        String::new()
                    };
                    text.push_str(&paragraph(&format!("link{i}"), &dep));
                }
                text
            },
        );
        Fixture {
            _dir: dir,
            root,
            key,
        }
    })
}

fn run_case(uri: &str, packages: &[&str], command: &[&str]) -> (Output, u64) {
    let f = fixture();
    let tmp = tempfile::tempdir().expect("tmp");
    let spec_path = spec(tmp.path(), packages, uri, "hostile", &f.key.armored, "");
    let mut args: Vec<&str> = command.to_vec();
    args.extend(["-f", spec_path.to_str().expect("utf8")]);
    let out_path = tmp.path().join("image.tar");
    if command == ["build"] {
        args.extend(["-o", out_path.to_str().expect("utf8")]);
    }
    let result = support::staves_measured(&args, Some(&tmp.path().join("cache")), None);
    if command == ["build"] && !result.0.status.success() {
        assert!(!out_path.exists(), "a failed build leaves no output");
    }
    assert!(
        result.1 < PEAK_RSS_LIMIT_KIB,
        "peak RSS {} KiB for {packages:?}",
        result.1
    );
    result
}

fn file_uri() -> String {
    format!("file:{}", fixture().root.display())
}

#[test]
fn filenames_that_leave_the_archive_are_refused_for_every_scheme() {
    let server = Server::start(fixture().root.clone());
    for uri in [file_uri(), server.base.clone()] {
        let (out, _) = run_case(&uri, &["escape"], &["build"]);
        let err = stderr(&out);
        assert!(!out.status.success());
        assert!(err.contains("climbs out of the archive"), "{err}");
        // Nothing about the host file leaks: no size, no checksum of it.
        assert!(!err.contains("mismatch"), "{err}");
    }
    let requests = server.requests();
    assert!(requests.iter().all(|r| !r.contains("..")), "{requests:?}");
}

#[test]
fn a_size_that_lies_is_refused_without_reading_past_it() {
    let server = Server::start(fixture().root.clone());
    let (out, _) = run_case(&server.base, &["liar"], &["build"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("size mismatch"), "{}", stderr(&out));
}

#[test]
fn a_ten_megabyte_control_field_is_refused_with_bounded_memory() {
    let (out, _) = run_case(&file_uri(), &["fat"], &["build"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("fat: "), "{err}");
    assert!(err.contains("`control` is"), "{err}");
}

#[test]
fn cycles_resolve_and_build() {
    let (out, _) = run_case(&file_uri(), &["cycle-a"], &["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn ten_thousand_providers_end_in_a_short_error() {
    let (out, _) = run_case(&file_uri(), &["wants-virt"], &["resolve"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("more alternatives"), "{err}");
    assert!(err.lines().count() < 60, "{err}");
}

#[test]
fn a_chain_ten_thousand_deep_resolves() {
    let (out, _) = run_case(&file_uri(), &["link0"], &["resolve"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 10_000);
}

/// A tmpfs of `size` mounted for the closure's duration; `None` where mounting is not
/// permitted (the test then says so and checks nothing).
fn with_small_disk(size: &str, body: impl FnOnce(&Path)) -> Option<()> {
    let dir = tempfile::tempdir().expect("tmp");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here; the full-disk case is not exercised");
        return None;
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(dir.path())));
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    Some(())
}

/// Nothing half-written is left in the cache's temporary directory.
fn assert_no_temporary_files(cache: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .expect("tmp dir")
        .flatten()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_full_disk_is_one_clear_error_and_leaves_no_entry() {
    let uri = file_uri();
    let f = fixture();
    with_small_disk("1m", |cache| {
        let tmp = tempfile::tempdir().expect("tmp");
        let spec_path = spec(tmp.path(), &["link0"], &uri, "hostile", &f.key.armored, "");
        let out = staves(&["resolve", "-f", spec_path.to_str().expect("utf8")], cache);
        let err = stderr(&out);
        assert!(!out.status.success());
        assert!(err.contains("No space left on device"), "{err}");
        assert!(err.contains("the disk is full"), "{err}");
        assert!(
            !err.contains("mismatch") && !err.contains("retrying"),
            "{err}"
        );
        assert_no_temporary_files(cache);
    });
}

#[test]
fn a_full_disk_during_a_download_names_the_cache_entry_and_leaves_none() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = Key::generate(dir.path(), "full");
    let root = dir.path().join("repo");
    // Two megabytes no compressor shrinks (xorshift), for a cache of one.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..2 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let big = Pkg {
        files: &[("usr/share/big/noise", &noise, 0o644)],
        ..pkg("big", "1", &[])
    };
    Repo::new(&root).publish("full", &[big], &key, Signing::Both, None);
    let server = Server::start(root);
    with_small_disk("1m", |cache| {
        let spec_path = spec(dir.path(), &["big"], &server.base, "full", &key.armored, "");
        let image = dir.path().join("image.tar");
        let out = staves(
            &[
                "build",
                "-f",
                spec_path.to_str().expect("utf8"),
                "-o",
                image.to_str().expect("utf8"),
            ],
            cache,
        );
        let err = stderr(&out);
        assert!(!out.status.success());
        assert!(!image.exists(), "a failed build leaves no output");
        assert!(err.contains("No space left on device"), "{err}");
        assert!(err.contains("the disk is full"), "{err}");
        // The write that failed is the cache's, and the message says where it is.
        assert!(
            err.contains(&format!("writing {}", cache.display())),
            "{err}"
        );
        assert!(!err.contains("retrying"), "{err}");
        assert_no_temporary_files(cache);
    });
}
