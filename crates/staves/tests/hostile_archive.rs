//! The archive server against hostile uploads and clients, on 127.0.0.1: a control file
//! that names files to delete or forges a second package, a misspelled removal, links
//! planted in the served tree, a lost signing key, a forged package list, uploads beyond the
//! framework's default body limit, and idle or slow connections by the thousand.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::archive::{TOKEN, curl, deb, put, serve};
use support::stderr;

/// A `.deb` whose `control` is `control`, word for word, holding one file: what a hostile
/// uploader sends (dpkg-deb would refuse to build some of these).
fn raw_deb(dir: &Path, file: &str, control: &str) -> PathBuf {
    fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *bytes).expect("tar");
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .expect("gzip")
    }
    let members: [(&str, Vec<u8>); 3] = [
        ("debian-binary", b"2.0\n".to_vec()),
        (
            "control.tar.gz",
            tar_gz(&[("./control", control.as_bytes())]),
        ),
        ("data.tar.gz", tar_gz(&[("./usr/EVIL", b"evil\n")])),
    ];
    let mut out = b"!<arch>\n".to_vec();
    for (name, bytes) in members {
        out.extend(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                "100644",
                bytes.len()
            )
            .as_bytes(),
        );
        out.extend(&bytes);
        if bytes.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    let path = dir.join(file);
    std::fs::write(&path, out).expect("write");
    path
}

fn packages(served: &support::archive::Served) -> String {
    let index = served.dir.join(format!(
        "dists/stable/main/binary-{}/Packages",
        support::host_arch()
    ));
    std::fs::read_to_string(index).unwrap_or_default()
}

const GOOD: &str = "Package: good\nVersion: 1.0-1\nArchitecture: all\nMaintainer: M <m@localhost>\nDescription: a package\n";

#[test]
fn a_control_file_can_neither_delete_files_nor_forge_another_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").expect("victim");
    let served = serve(dir.path(), &["--suite", "stable", "--suite", "testing"]);
    let good = deb(dir.path(), "good", "1.0-1", "good");
    assert_eq!(put(&served, &good, Some(TOKEN), "stable").0, 200);
    let before = packages(&served);

    let hostile = [
        // The pool path the archive later deletes.
        format!("{GOOD}Filename: ../../victim\n").replace("good", "evil"),
        format!("{GOOD}Filename: .staves/signing-key.asc\n").replace("good", "evil"),
        // A second paragraph: another package, with the attacker's file and checksum.
        "Package: evil\nVersion: 1\nArchitecture: all\nDescription: x\n\nPackage: good\nVersion: 1.0-1\nArchitecture: all\nFilename: pool/main/e/evil/evil_1_all.deb\nSHA256: 00\n".to_owned(),
        format!("{GOOD}SHA256: {}\n", "0".repeat(64)).replace("good", "evil"),
        format!("{GOOD}Version: 2\n").replace("good", "evil"),
        GOOD.replace("good", "a:b"),
        GOOD.replace("good", "evil").replace('\n', "\r\n"),
        GOOD.replace("good", &"x".repeat(300)),
    ];
    for (n, control) in hostile.iter().enumerate() {
        let file = raw_deb(dir.path(), &format!("hostile-{n}.deb"), control);
        let (code, body) = put(&served, &file, Some(TOKEN), "testing");
        assert_eq!(code, 400, "{control:?}: {body}");
        assert!(body.contains("control file"), "{body}");
        assert!(!body.contains(".staves"), "no server path: {body}");
    }
    assert_eq!(packages(&served), before, "stable's index is as it was");
    // Several files at once: all or none, the refused one named as it was sent.
    let other = deb(dir.path(), "other", "1.0-1", "other");
    let hostile = raw_deb(dir.path(), "named-hostile.deb", &hostile[0]);
    let both = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, "--suite", "testing"])
        .args([&other, &hostile])
        .env("STAVES_TOKEN", TOKEN)
        .output()
        .expect("staves upload");
    assert!(!both.status.success());
    let said = stderr(&both);
    assert!(said.contains("named-hostile.deb"), "{said}");
    assert!(
        !said.contains(".staves") && !said.contains("incoming"),
        "{said}"
    );

    // A misspelled selection is refused, not read as "every version".
    let url = format!("{}/packages/stable/main/good?Version=1.0-1", served.base);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let (code, body) = curl(&["-X", "DELETE", "-H", &auth, &url]);
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("version="), "{body}");
    assert_eq!(packages(&served), before);
    let url = format!("{}/packages/stable/main/good?version=1.0-1", served.base);
    // The scheme is case-insensitive (RFC 7235).
    let lower = format!("Authorization: bearer {TOKEN}");
    let (code, body) = curl(&["-X", "DELETE", "-H", &lower, &url]);
    assert_eq!(code, 200, "{body}");
    assert!(!packages(&served).contains("Package: good"));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");
    assert!(served.dir.join(".staves/signing-key.asc").is_file());
    for (name, mode) in [("key.asc", 0o644), (".staves/signing-key.asc", 0o600)] {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(served.dir.join(name)).expect(name);
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
}

#[test]
fn a_lost_key_or_a_forged_package_list_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "keep me").expect("victim");
    let archive = dir.path().join("archive");
    let include = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_staves"))
            .arg("include")
            .arg("--dir")
            .arg(&archive)
            .args(["--arch", &support::host_arch()])
            .args(extra)
            .output()
            .expect("staves include")
    };
    let good = deb(dir.path(), "good", "1.0-1", "good");
    let done = include(&[good.to_str().expect("utf8")]);
    assert!(done.status.success(), "{}", stderr(&done));

    // A list edited (or poisoned by an older release) to name a file outside the pool.
    let db = archive.join(".staves/db/stable/main");
    let listed = std::fs::read_to_string(&db).expect("db");
    let forged = listed.replace("Filename: pool/", "Filename: ../../victim\nX-Was: pool/");
    std::fs::write(&db, &forged).expect("forge");
    let refused = include(&[good.to_str().expect("utf8")]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("outside pool/"),
        "{}",
        stderr(&refused)
    );
    std::fs::write(&db, &listed).expect("restore");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep me");

    // The secret key gone while clients trust the published one: no silent new key.
    let published = std::fs::read(archive.join("key.asc")).expect("key.asc");
    std::fs::remove_file(archive.join(".staves/signing-key.asc")).expect("lose the key");
    let refused = include(&[good.to_str().expect("utf8")]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("is missing"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read(archive.join("key.asc")).expect("key.asc"),
        published
    );
    assert!(!archive.join(".staves/signing-key.asc").exists());
}

#[test]
fn the_served_tree_follows_no_link_out_of_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &[]);
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "host secret").expect("secret");
    std::os::unix::fs::symlink(&secret, served.dir.join("dists/leak")).expect("link");
    std::os::unix::fs::symlink("../.staves/signing-key.asc", served.dir.join("pool/key"))
        .expect("link");
    for path in [
        "dists/leak",
        "pool/key",
        "dists/%2e%2e/.staves/signing-key.asc",
    ] {
        let (code, body) = curl(&[&format!("{}/{path}", served.base)]);
        assert_eq!(code, 404, "{path}: {body}");
        assert!(
            !body.contains("host secret") && !body.contains("PRIVATE"),
            "{body}"
        );
    }
    // The archive's own links still work.
    let (code, body) = curl(&[&format!("{}/dists/stable/Release", served.base)]);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn uploads_of_thirty_mebibytes_pass_alone_and_together() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(dir.path(), &["--max-upload-mib", "100"]);
    let big = |name: &str| {
        let root = dir.path().join(format!("build-{name}"));
        std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
        std::fs::create_dir_all(root.join("usr/share/big")).expect("mkdir");
        std::fs::write(root.join("DEBIAN/control"), GOOD.replace("good", name)).expect("control");
        // Incompressible: the package is as large as its data.
        let mut data = vec![0u8; 30 << 20];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut data))
            .expect("random");
        std::fs::write(root.join("usr/share/big/data"), data).expect("data");
        let out = dir.path().join(format!("{name}.deb"));
        support::run(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Znone", "--build"])
                .arg(&root)
                .arg(&out),
        );
        out
    };
    let (one, two, three) = (big("big-one"), big("big-two"), big("big-three"));
    let upload = |files: &[&PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["upload", &served.base])
            .args(files)
            .env("STAVES_TOKEN", TOKEN)
            .output()
            .expect("staves upload")
    };
    let alone = upload(&[&one]);
    assert!(alone.status.success(), "{}", stderr(&alone));
    let together = upload(&[&two, &three]);
    assert!(together.status.success(), "{}", stderr(&together));
    let listed = packages(&served);
    for name in ["big-one", "big-two", "big-three"] {
        assert!(listed.contains(&format!("Package: {name}\n")), "{listed}");
    }
}

/// The resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[test]
fn idle_and_slow_connections_are_bounded_and_time_out() {
    let dir = tempfile::tempdir().expect("tmp");
    let served = serve(
        dir.path(),
        &["--max-connections", "64", "--idle-timeout-seconds", "2"],
    );
    let address = served.base.trim_start_matches("http://").to_owned();
    // A client that sends half a request head is cut off after the timeout.
    let mut slow = TcpStream::connect(&address).expect("connect");
    slow.write_all(b"GET /dists/stable/Release HTTP/1.1\r\n")
        .expect("half a head");
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the slow client was closed by the server"
    );
    // Many more idle connections than the limit: those beyond it wait in the accept queue,
    // taking no descriptor of the server's, and each accepted one is closed after the
    // timeout, so the queue moves on.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&address).ok())
        .collect();
    assert!(idle.len() > 100, "{} connections", idle.len());
    // Requests are still answered while the idle connections are open.
    let (code, body) = curl(&[
        "--max-time",
        "60",
        &format!("{}/dists/stable/Release", served.base),
    ]);
    assert_eq!(code, 200, "{body}");
    let memory = rss(served.child.id());
    assert!(memory < 200 << 20, "server RSS {memory} bytes");
    drop(idle);
}
