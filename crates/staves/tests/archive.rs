//! `staves serve` and `staves upload` on 127.0.0.1, with real apt as the client: apt
//! updates and installs from the served archive with the served key (and refuses an index
//! changed on disk), Staves builds an image from it, uploads are refused without a valid
//! token, as not a package, as a conflict or as too large; 200 uploads from 16 parallel
//! clients all land; a server killed mid-upload restarts with a consistent archive.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::archive::{Apt, TOKEN, curl, deb, put, serve};
use support::{stderr, stdout};

#[test]
fn apt_installs_from_the_archive_and_refuses_an_index_changed_on_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &[]);
    let package = deb(dir.path(), "served-hello", "1.0", "served");
    let upload = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, package.to_str().expect("utf8")])
        .env("STAVES_TOKEN", &served.token)
        .output()
        .expect("staves upload");
    assert!(upload.status.success(), "{}", stderr(&upload));
    assert!(
        stderr(&upload).contains("Uploaded served-hello 1.0 (all)"),
        "{}",
        stderr(&upload)
    );

    let apt = Apt::new(dir.path(), &served);
    let update = apt.get(&["update"]);
    assert!(update.status.success(), "{}", stderr(&update));
    assert!(!stderr(&update).contains("W: "), "{}", stderr(&update));
    let install = apt.get(&["install", "-y", "served-hello"]);
    assert!(
        install.status.success(),
        "{}{}",
        stdout(&install),
        stderr(&install)
    );
    let installed =
        std::fs::read_to_string(apt.root.join("usr/bin/served-hello")).expect("installed");
    assert!(installed.contains("echo served"));

    // An index changed on disk after signing: apt's verifier refuses it.
    let by_hash = served.dir.join("dists/.by-hash/stable/main");
    for file in support::walk(&by_hash) {
        let mut bytes = std::fs::read(&file).expect("read");
        bytes.extend_from_slice(b"\n");
        std::fs::write(&file, bytes).expect("tamper");
    }
    let fresh = Apt::new(&dir.path().join("again"), &served);
    let refused = fresh.get(&["update"]);
    let said = format!("{}{}", stdout(&refused), stderr(&refused));
    assert!(
        !refused.status.success()
            || said.contains("Hash Sum mismatch")
            || said.contains("unexpected size"),
        "{said}"
    );
    assert!(
        said.contains("Hash Sum mismatch")
            || said.contains("unexpected size")
            || said.contains("Mirror sync"),
        "{said}"
    );
}

#[test]
fn uploads_need_a_token_a_real_package_and_a_new_version() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &["--max-upload-mib", "1"]);
    let package = deb(dir.path(), "tokened", "1.0", "first");
    assert_eq!(put(&served, &package, None, "stable").0, 401);
    assert_eq!(
        put(
            &served,
            &package,
            Some("ffffffffffffffffffffffffffffffff"),
            "stable"
        )
        .0,
        401
    );
    let text = dir.path().join("not.deb");
    std::fs::write(&text, "hello").expect("write");
    let (code, body) = put(&served, &text, Some(TOKEN), "stable");
    assert_eq!(code, 400, "{body}");
    assert_eq!(put(&served, &package, Some(TOKEN), "unstable").0, 404);
    let (code, body) = put(&served, &package, Some(TOKEN), "stable");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"added\""), "{body}");
    let (code, body) = put(&served, &package, Some(TOKEN), "stable");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"unchanged\""), "{body}");
    let other = deb(dir.path(), "tokened", "1.0", "other bytes");
    let (code, body) = put(&served, &other, Some(TOKEN), "stable");
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("never replaced"), "{body}");
    // Two MiB against a limit of one: refused, and nothing is left in the incoming directory.
    let big = dir.path().join("big.deb");
    std::fs::write(&big, vec![0u8; 2 << 20]).expect("write");
    assert_eq!(put(&served, &big, Some(TOKEN), "stable").0, 413);
    let incoming = served.dir.join(".staves/incoming");
    assert!(
        support::walk(&incoming).is_empty(),
        "{:?}",
        support::walk(&incoming)
    );
    let packages =
        std::fs::read_to_string(served.dir.join("dists/stable/main/binary-amd64/Packages"))
            .unwrap_or_default();
    assert_eq!(
        packages.matches("Package: tokened").count(),
        1,
        "{packages}"
    );
}

#[test]
fn two_hundred_parallel_uploads_all_land_and_the_index_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &[]);
    let debs: Vec<PathBuf> = (0..200)
        .map(|i| deb(dir.path(), &format!("many-{i}"), "1.0", "x"))
        .collect();
    let chunks: Vec<Vec<PathBuf>> = debs.chunks(200 / 16 + 1).map(<[PathBuf]>::to_vec).collect();
    std::thread::scope(|s| {
        for chunk in &chunks {
            let served = &served;
            s.spawn(move || {
                for file in chunk {
                    let (code, body) = put(served, file, Some(TOKEN), "stable");
                    assert_eq!(code, 200, "{body}");
                }
            });
        }
    });
    let apt = Apt::new(dir.path(), &served);
    let update = apt.get(&["update"]);
    assert!(update.status.success(), "{}", stderr(&update));
    let policy = apt.get(&["install", "-y", "--simulate", "many-0", "many-199"]);
    assert!(policy.status.success(), "{}", stderr(&policy));
    let lists = support::walk(&apt.root.join("var/lib/apt/lists"));
    let index = lists
        .iter()
        .find(|p| p.to_string_lossy().contains("_Packages"))
        .unwrap_or_else(|| panic!("the index apt kept, among {lists:?}"));
    let text = std::fs::read(index).expect("read");
    let text = String::from_utf8_lossy(&text);
    assert_eq!(text.matches("Package: many-").count(), 200, "{index:?}");
}

#[test]
fn a_server_killed_mid_upload_restarts_with_a_consistent_archive() {
    let dir = tempfile::tempdir().expect("tmp");
    let first = deb(dir.path(), "before", "1.0", "kept");
    let mut served = serve(dir.path(), &[]);
    assert_eq!(put(&served, &first, Some(TOKEN), "stable").0, 200);
    // A slow upload, and the server killed while it streams.
    let big = dir.path().join("slow.deb");
    std::fs::write(&big, vec![7u8; 4 << 20]).expect("write");
    let url = format!("{}/upload/stable/main/slow.deb", served.base);
    let mut slow = Command::new("curl")
        .args(["-s", "-X", "PUT", "--limit-rate", "256k", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg("--data-binary")
        .arg(format!("@{}", big.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .spawn()
        .expect("curl");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    served.child.kill().expect("kill");
    served.child.wait().expect("wait");
    let _ = slow.wait();
    drop(served);

    let served = serve(dir.path(), &[]);
    let incoming = served.dir.join(".staves/incoming");
    assert!(
        support::walk(&incoming).is_empty(),
        "swept: {:?}",
        support::walk(&incoming)
    );
    let apt = Apt::new(dir.path(), &served);
    let update = apt.get(&["update"]);
    assert!(update.status.success(), "{}", stderr(&update));
    let install = apt.get(&["install", "-y", "before"]);
    assert!(
        install.status.success(),
        "{}{}",
        stdout(&install),
        stderr(&install)
    );
    let after = deb(dir.path(), "after", "1.0", "new");
    assert_eq!(put(&served, &after, Some(TOKEN), "stable").0, 200);
}

#[test]
fn staves_builds_an_image_from_the_archive() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &[]);
    let package = deb(dir.path(), "served-tool", "2.0", "from the archive");
    assert_eq!(put(&served, &package, Some(TOKEN), "stable").0, 200);
    let key = dir.path().join("archive.gpg");
    let (code, _) = curl(&[
        "-o",
        key.to_str().expect("utf8"),
        &format!("{}/key.gpg", served.base),
    ]);
    assert_eq!(code, 200);
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"served\"\npackages = [\"served-tool\"]\nexclude = [\"base-files\"]\n\n[[repositories]]\nname = \"ours\"\nuri = \"{}\"\nsuite = \"stable\"\nkeyring = \"archive.gpg\"\n",
            served.base
        ),
    )
    .expect("spec");
    let layout = dir.path().join("layout");
    let build = support::staves(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &dir.path().join("cache"),
    );
    assert!(build.status.success(), "{}", stderr(&build));
    let inspect = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", layout.to_str().expect("utf8")])
        .output()
        .expect("staves inspect");
    assert!(
        stdout(&inspect).contains("served-tool"),
        "{}",
        stdout(&inspect)
    );
}
