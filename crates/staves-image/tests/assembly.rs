//! Assembly on hand-made `.deb` files: hostile archives are refused naming the package and
//! the entry, overlapping files need Replaces, merged `/usr` and feature toggles apply, and
//! every data compression dpkg-deb produces is read.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use staves_image::{Accounts, Features, ImageError, Options, PackageInput, assemble};

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str),
}

/// A tar header with the raw path written in, unchecked, as an attacker would.
fn raw_header(path: &str, kind: tar::EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn data_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (h, body) = match e {
            E::Dir(p) => (raw_header(p, tar::EntryType::Directory, 0, ""), ""),
            E::File(p, c) => (
                raw_header(p, tar::EntryType::Regular, c.len() as u64, ""),
                *c,
            ),
            E::Symlink(p, t) => (raw_header(p, tar::EntryType::Symlink, 0, t), ""),
            E::Hardlink(p, t) => (raw_header(p, tar::EntryType::Link, 0, t), ""),
            E::Char(p) => (raw_header(p, tar::EntryType::Char, 0, ""), ""),
        };
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body.as_bytes());
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn ar_member(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(
        format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            0,
            100644,
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(b'\n');
    }
}

fn write_deb(
    dir: &Path,
    name: &str,
    extra_control: &str,
    data: Vec<u8>,
    data_member: &str,
) -> PathBuf {
    write_scripted_deb(dir, name, extra_control, data, data_member, None)
}

fn write_scripted_deb(
    dir: &Path,
    name: &str,
    extra_control: &str,
    data: Vec<u8>,
    data_member: &str,
    postinst: Option<&str>,
) -> PathBuf {
    let control = format!(
        "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@test.invalid>\nDescription: test\n{extra_control}"
    );
    let mut control_tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(control.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    control_tar
        .append_data(&mut h, "./control", control.as_bytes())
        .expect("control");
    if let Some(script) = postinst {
        let mut h = tar::Header::new_gnu();
        h.set_size(script.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(1_700_000_000);
        control_tar
            .append_data(&mut h, "./postinst", script.as_bytes())
            .expect("postinst");
    }
    let control_tar = control_tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&control_tar).expect("gz");
    let mut deb = b"!<arch>\n".to_vec();
    ar_member(&mut deb, "debian-binary", b"2.0\n");
    ar_member(&mut deb, "control.tar.gz", &gz.finish().expect("gz"));
    ar_member(&mut deb, data_member, &data);
    let path = dir.join(format!("{name}.deb"));
    std::fs::write(&path, deb).expect("write deb");
    path
}

fn input(name: &str, deb: PathBuf) -> PackageInput {
    PackageInput {
        own: false,
        name: name.into(),
        version: "1.0".into(),
        arch: "all".into(),
        deb,
        unpacked: None,
        sha256: String::new(),
    }
}

fn options() -> Options {
    Options {
        features: Features::default(),
        accounts: Accounts::debian_base(),
        mtime: Some(1_700_000_000),
        extra_paths: Vec::new(),
        generated: Vec::new(),
        build_info: false,
        programs: Vec::new(),
        temp_dir: None,
        volumes: Vec::new(),
        user: None,
        base: None,
    }
}

fn build(packages: &[PackageInput]) -> Result<Vec<u8>, ImageError> {
    assemble(packages, &options(), Vec::new()).map(|(bytes, _)| bytes)
}

fn entries(layer: &[u8]) -> Vec<(String, tar::EntryType, Option<String>)> {
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .expect("entries")
        .map(|e| {
            let e = e.expect("entry");
            let link = e
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned());
            (
                e.path().expect("path").to_string_lossy().into_owned(),
                e.header().entry_type(),
                link,
            )
        })
        .collect()
}

fn refused(entries_: &[E<'_>], reason: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(dir.path(), "evil", "", data_tar(entries_), "data.tar");
    match build(&[input("evil", deb)]) {
        Err(ImageError::Hostile {
            package,
            reason: why,
            ..
        }) => {
            assert_eq!(package, "evil");
            assert!(why.contains(reason), "{why}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a hostile archive was accepted"),
    }
}

#[test]
fn hostile_archives_are_refused() {
    refused(&[E::File("/etc/passwd", "x")], "absolute path");
    refused(&[E::File("./usr/../../etc/passwd", "x")], "`..`");
    refused(
        &[E::Symlink("./usr/bin/x", "../../../etc/shadow")],
        "leaves the image",
    );
    refused(&[E::Hardlink("./usr/bin/x", "../etc/shadow")], "`..`");
    refused(
        &[E::Hardlink("./usr/bin/x", "./usr/bin/missing")],
        "not a file of the image",
    );
    refused(&[E::Char("./dev/null")], "device nodes");
}

#[test]
fn error_names_the_entry() {
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "evil",
        "",
        data_tar(&[E::File("/etc/passwd", "x")]),
        "data.tar",
    );
    let err = build(&[input("evil", deb)])
        .expect_err("refused")
        .to_string();
    assert_eq!(err, "evil: refusing `/etc/passwd`: absolute path");
}

#[test]
fn overlapping_files_need_replaces() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = write_deb(
        dir.path(),
        "aaa",
        "",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/tool", "a"),
        ]),
        "data.tar",
    );
    let b = write_deb(
        dir.path(),
        "bbb",
        "",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/tool", "b"),
        ]),
        "data.tar",
    );
    let err = build(&[input("aaa", a.clone()), input("bbb", b)])
        .expect_err("conflict")
        .to_string();
    assert!(
        err.contains("/usr/bin/tool") && err.contains("aaa") && err.contains("bbb"),
        "{err}"
    );

    let c = write_deb(
        dir.path(),
        "ccc",
        "Replaces: aaa (<< 2)\n",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/tool", "c"),
        ]),
        "data.tar",
    );
    let layer = build(&[input("aaa", a), input("ccc", c)]).expect("Replaces allows it");
    // The later entry wins when the layer is extracted.
    let mut archive = tar::Archive::new(layer.as_slice());
    let mut last = String::new();
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == "usr/bin/tool" {
            last.clear();
            e.read_to_string(&mut last).expect("read");
        }
    }
    assert_eq!(last, "c");
}

#[test]
fn merged_usr_and_toggles() {
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "tool",
        "",
        data_tar(&[
            E::Dir("./"),
            E::Dir("./bin/"),
            E::File("./bin/tool", "#!/bin/sh\n"),
            E::Symlink("./bin/alias", "../usr/bin/real"),
            E::Dir("./usr/"),
            E::Dir("./usr/share/"),
            E::Dir("./usr/share/doc/"),
            E::Dir("./usr/share/doc/tool/"),
            E::File("./usr/share/doc/tool/copyright", "free"),
            E::File("./usr/share/doc/tool/README", "words"),
            E::Dir("./usr/share/man/"),
            E::Dir("./usr/share/man/man1/"),
            E::File("./usr/share/man/man1/tool.1.gz", "man"),
        ]),
        "data.tar",
    );
    let layer = build(&[input("tool", deb)]).expect("builds");
    let all = entries(&layer);
    let names: Vec<&str> = all.iter().map(|(p, _, _)| p.as_str()).collect();
    assert!(names.contains(&"usr/bin/tool"), "{names:?}");
    assert!(!names.contains(&"bin/tool"));
    let bin = all.iter().find(|(p, _, _)| p == "bin").expect("bin link");
    assert_eq!(
        (bin.1, bin.2.as_deref()),
        (tar::EntryType::Symlink, Some("usr/bin"))
    );
    let alias = all
        .iter()
        .find(|(p, _, _)| p == "usr/bin/alias")
        .expect("alias");
    assert_eq!(
        alias.2.as_deref(),
        Some("real"),
        "relative link re-aimed after the move"
    );
    assert!(names.contains(&"usr/share/doc/tool/copyright"));
    assert!(!names.contains(&"usr/share/doc/tool/README"));
    assert!(!names.contains(&"usr/share/man/man1/tool.1.gz"));
    let status = String::from_utf8(
        tar::Archive::new(layer.as_slice())
            .entries()
            .expect("entries")
            .filter_map(Result::ok)
            .find(|e| {
                e.path()
                    .is_ok_and(|p| p.to_string_lossy() == "var/lib/dpkg/status")
            })
            .map(|mut e| {
                let mut s = Vec::new();
                e.read_to_end(&mut s).expect("read");
                s
            })
            .expect("status"),
    )
    .expect("utf8");
    assert!(
        status.starts_with("Package: tool\nStatus: install ok installed\n"),
        "{status}"
    );
}

#[test]
fn every_data_compression_is_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let plain = data_tar(&[E::Dir("./etc/"), E::File("./etc/greeting", "hi")]);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).expect("gz");
        e.finish().expect("gz")
    };
    let xz = {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(&plain).expect("xz");
        e.finish().expect("xz")
    };
    let bz2 = {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        e.write_all(&plain).expect("bz2");
        e.finish().expect("bz2")
    };
    let zst = std::process::Command::new("zstd")
        .args(["-q", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().expect("stdin").write_all(&plain)?;
            child.wait_with_output()
        })
        .map(|o| o.stdout)
        .ok()
        .filter(|b| !b.is_empty());
    let mut variants = vec![
        ("data.tar", plain.clone()),
        ("data.tar.gz", gz),
        ("data.tar.xz", xz),
        ("data.tar.bz2", bz2),
    ];
    if let Some(zst) = zst {
        variants.push(("data.tar.zst", zst));
    }
    for (member, data) in variants {
        let name = format!("pkg{}", member.len());
        let deb = write_deb(dir.path(), &name, "", data, member);
        let layer = build(&[input(&name, deb)]).unwrap_or_else(|e| panic!("{member}: {e}"));
        assert!(
            entries(&layer).iter().any(|(p, _, _)| p == "etc/greeting"),
            "{member}"
        );
    }
}

#[test]
fn generated_files_see_every_package_with_its_copyright() {
    let dir = tempfile::tempdir().expect("tmp");
    let with = write_deb(
        dir.path(),
        "licensed",
        "",
        data_tar(&[
            E::Dir("./usr/share/doc/licensed/"),
            E::File("./usr/share/doc/licensed/copyright", "Format: x\n"),
        ]),
        "data.tar",
    );
    let without = write_deb(
        dir.path(),
        "bare",
        "",
        data_tar(&[E::File("./usr/bin/bare", "x")]),
        "data.tar",
    );
    let mut options = options();
    options.generated.push(staves_image::GeneratedFile {
        path: "/var/lib/staves/list".into(),
        render: std::sync::Arc::new(|facts: &[staves_image::PackageFacts], _| {
            facts
                .iter()
                .map(|f| format!("{} {:?}\n", f.name, f.copyright))
                .collect::<String>()
                .into_bytes()
        }),
    });
    let (layer, summary) = assemble(
        &[input("licensed", with), input("bare", without)],
        &options,
        Vec::new(),
    )
    .expect("builds");
    assert_eq!(summary.packages.len(), 2);
    assert!(summary.packages[0].control.contains("Package: licensed"));
    let mut archive = tar::Archive::new(layer.as_slice());
    let mut found = None;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_str() == Some("var/lib/staves/list") {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            found = Some(text);
        }
    }
    assert_eq!(
        found.as_deref(),
        Some("licensed Some(\"Format: x\\n\")\nbare None\n")
    );
}

#[test]
fn base_files_helpers_move_var_run_and_install_defaults() {
    let dir = tempfile::tempdir().expect("tmp");
    let postinst = r#"#!/bin/sh
install_from_default() {
  cp -p "$DPKG_ROOT/usr/share/base-files/$1" "$DPKG_ROOT$2"
}
migrate_directory() {
  rmdir "$DPKG_ROOT$1"
  ln -s "$2" "$DPKG_ROOT$1"
}
install_from_default dot.profile /root/.profile
migrate_directory /var/run /run
"#;
    let base = write_scripted_deb(
        dir.path(),
        "base-files",
        "",
        data_tar(&[
            E::Dir("./run/"),
            E::Dir("./var/"),
            E::Dir("./var/run/"),
            E::Dir("./usr/share/base-files/"),
            E::File("./usr/share/base-files/dot.profile", "PATH=/bin\n"),
        ]),
        "data.tar",
        Some(postinst),
    );
    // Another package that (against policy) ships something under /var/run.
    let daemon = write_deb(
        dir.path(),
        "daemon",
        "",
        data_tar(&[
            E::Dir("./var/run/daemon/"),
            E::File("./var/run/daemon/note", "x"),
        ]),
        "data.tar",
    );
    let layer = build(&[input("base-files", base), input("daemon", daemon)]).expect("builds");
    let all = entries(&layer);
    let find = |p: &str| all.iter().find(|(path, _, _)| path == p);
    let var_run = find("var/run").expect("var/run");
    assert_eq!(
        (var_run.1, var_run.2.as_deref()),
        (tar::EntryType::Symlink, Some("/run"))
    );
    assert!(find("run/daemon/note").is_some(), "moved under /run");
    assert!(find("var/run/daemon/note").is_none());
    let profile = find("root/.profile").expect("/root/.profile");
    assert_eq!(
        profile.1,
        tar::EntryType::Link,
        "a hard link to the default"
    );
}

/// A script's paths that are no path in the image — `/` itself, `..` out of it — are
/// skipped or "not followed" notes, never a build failure (slapd's postinst made `/`).
#[test]
fn paths_outside_the_image_from_a_script_are_noted_not_fatal() {
    let dir = tempfile::tempdir().expect("tmp");
    let postinst = r#"#!/bin/sh
EMPTY=""
mkdir -p "$EMPTY" /
mkdir -p /var/lib/ok
ln -s /etc/target "$EMPTY"
cp /etc/app.conf "$EMPTY"
mkdir -p /../..
"#;
    let deb = write_scripted_deb(
        dir.path(),
        "app",
        "",
        data_tar(&[E::Dir("./etc/"), E::File("./etc/app.conf", "x")]),
        "data.tar",
        Some(postinst),
    );
    let (layer, summary) = assemble(&[input("app", deb)], &options(), Vec::new()).expect("builds");
    let all = entries(&layer);
    assert!(all.iter().any(|(p, _, _)| p == "var/lib/ok/"), "{all:?}");
    let notes: Vec<&String> = summary
        .scripts
        .iter()
        .flat_map(|r| &r.notes)
        .filter(|n| n.starts_with("not followed"))
        .collect();
    // `/` itself (slapd's postinst made it, and the build failed) is there already: no
    // note; a path leaving the image is one.
    assert_eq!(
        notes,
        ["not followed: a directory at `/../..`, which is no path inside the image"]
    );
}

/// A data.tar written by hand: `(raw header bytes, body)` per entry.
fn raw_tar(entries: &[(tar::Header, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (h, body) in entries {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn layer_paths(layer: &[u8]) -> Vec<String> {
    entries(layer).into_iter().map(|(p, ..)| p).collect()
}

#[test]
fn entries_are_resolved_through_the_layers_own_symlinks() {
    // `usr/lib/esc -> /etc`, then `usr/lib/esc/passwd`: the write would land on /etc/passwd.
    refused(
        &[
            E::Dir("./usr/lib/"),
            E::Symlink("./usr/lib/esc", "/etc"),
            E::File("./usr/lib/esc/passwd", "evil::0:0::/:/bin/sh\n"),
        ],
        "writes `/etc/passwd` through a symlink",
    );
    // Two levels up, then down again: lands at the root's `shadow`… of /etc.
    refused(
        &[
            E::Dir("./usr/lib/"),
            E::Symlink("./usr/lib/a", "../.."),
            E::File("./usr/lib/a/etc/shadow", "x"),
        ],
        "through a symlink",
    );
    // A harmless traversal is followed, as dpkg follows it: the file lands in the target.
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "ok",
        "",
        data_tar(&[
            E::Dir("./usr/share/"),
            E::Dir("./usr/share/real/"),
            E::Symlink("./usr/share/alias", "real"),
            E::File("./usr/share/alias/file", "x"),
        ]),
        "data.tar",
    );
    let layer = build(&[input("ok", deb)]).expect("builds");
    let paths = layer_paths(&layer);
    assert!(
        paths.contains(&"usr/share/real/file".to_owned()),
        "{paths:?}"
    );
    assert!(
        !paths.contains(&"usr/share/alias/file".to_owned()),
        "{paths:?}"
    );
}

#[test]
fn one_path_is_one_entry() {
    refused(
        &[
            E::Dir("./usr/"),
            E::Dir("./usr/x/"),
            E::File("./usr/x", "file"),
        ],
        "two different kinds of entry",
    );
    // A directory where Staves writes /etc/passwd.
    refused(
        &[E::Dir("./etc/"), E::Dir("./etc/passwd/")],
        "writes this path itself",
    );
    // The SBOM's path, shipped by a package.
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "evil",
        "",
        data_tar(&[E::File("./var/lib/staves/sbom.spdx.json", "{}")]),
        "data.tar",
    );
    let mut opts = options();
    opts.generated.push(staves_image::GeneratedFile {
        path: "var/lib/staves/sbom.spdx.json".into(),
        render: std::sync::Arc::new(|_, _| b"{}".to_vec()),
    });
    match assemble(&[input("evil", deb)], &opts, Vec::new()) {
        Err(ImageError::Hostile { package, .. }) => assert_eq!(package, "evil"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("two entries for the SBOM's path"),
    }
}

#[test]
fn non_utf8_paths_are_refused_not_renamed() {
    let mut h = tar::Header::new_old();
    let name = b"./usr/\xff\xfe";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "evil",
        "",
        raw_tar(&[(h, b"x".to_vec())]),
        "data.tar",
    );
    match build(&[input("evil", deb)]) {
        Err(ImageError::Hostile { reason, .. }) => assert!(reason.contains("UTF-8"), "{reason}"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a non-UTF-8 path was accepted"),
    }
}

#[test]
fn a_size_that_lies_is_an_error_not_a_crash() {
    // The header declares 1 TiB; the data holds a few bytes.
    let mut h = tar::Header::new_gnu();
    h.set_path("./usr/share/ca-certificates/x.crt")
        .expect("path");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(1 << 40);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut data = h.as_bytes().to_vec();
    data.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
    for (name, tar_bytes, expected) in [
        ("cert", data.clone(), "certificate of"),
        (
            "plain",
            {
                let mut h = h.clone();
                h.set_path("./usr/share/big").expect("path");
                h.set_cksum();
                let mut d = h.as_bytes().to_vec();
                d.extend_from_slice(b"short");
                d
            },
            "declares",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let deb = write_deb(dir.path(), name, "", tar_bytes, "data.tar");
        let error = build(&[input(name, deb)]).expect_err("refused");
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
    }
}

#[test]
fn a_decompression_bomb_is_refused_early() {
    // 80 MB of zeros in a file, xz-compressed to a few tens of KB; the package declares
    // 1 KiB installed.
    let mut h = tar::Header::new_gnu();
    h.set_path("./usr/share/bomb").expect("path");
    h.set_entry_type(tar::EntryType::Regular);
    let size: u64 = 80 << 20;
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(h.as_bytes()).expect("xz");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..80 {
        xz.write_all(&zeros).expect("xz");
    }
    xz.write_all(&[0u8; 1024]).expect("xz");
    let data = xz.finish().expect("xz");
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "bomb",
        "Installed-Size: 1\n",
        data,
        "data.tar.xz",
    );
    let error = build(&[input("bomb", deb)]).expect_err("refused");
    assert!(error.to_string().contains("decompression bomb"), "{error}");
}

#[test]
fn oversized_control_members_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = format!("#!/bin/sh\n{}", "#".repeat(5 << 20));
    let deb = write_scripted_deb(
        dir.path(),
        "big",
        "",
        data_tar(&[E::Dir("./usr/")]),
        "data.tar",
        Some(&script),
    );
    let error = build(&[input("big", deb)]).expect_err("refused");
    let text = error.to_string();
    assert!(text.starts_with("big: "), "{text}");
    assert!(text.contains("postinst"), "{text}");
}

#[test]
fn a_kept_copy_is_used_only_for_its_own_deb() {
    let dir = tempfile::tempdir().expect("tmp");
    let one = write_deb(
        dir.path(),
        "one",
        "",
        data_tar(&[E::Dir("./usr/"), E::File("./usr/one", "1")]),
        "data.tar",
    );
    let two = write_deb(
        dir.path(),
        "two",
        "",
        data_tar(&[E::Dir("./usr/"), E::File("./usr/two", "2")]),
        "data.tar",
    );
    let kept = |name: &str| dir.path().join(format!("{name}.tar.zst"));
    let with_copy = |name: &str, deb: &PathBuf, sha: &str| PackageInput {
        unpacked: Some(kept(name)),
        sha256: sha.to_owned(),
        ..input(name, deb.clone())
    };
    let (sha_one, sha_two) = ("1".repeat(64), "2".repeat(64));
    // First builds keep copies.
    build(&[with_copy("one", &one, &sha_one)]).expect("one");
    build(&[with_copy("two", &two, &sha_two)]).expect("two");
    assert!(staves_image::unpacked_copy_is_intact(
        &kept("one"),
        &sha_one
    ));
    // Swap the copies: each is whole, but of the other package.
    std::fs::copy(kept("two"), kept("one")).expect("swap");
    assert!(!staves_image::unpacked_copy_is_intact(
        &kept("one"),
        &sha_one
    ));
    let layer = build(&[with_copy("one", &one, &sha_one)]).expect("builds from the .deb");
    let paths = layer_paths(&layer);
    assert!(paths.contains(&"usr/one".to_owned()), "{paths:?}");
    assert!(!paths.contains(&"usr/two".to_owned()), "{paths:?}");
    // Flip a byte of a copy's data: the build fails naming the package.
    let mut bytes = std::fs::read(kept("one")).expect("read");
    bytes[20] ^= 0x40;
    std::fs::write(kept("one"), &bytes).expect("write");
    assert!(!staves_image::unpacked_copy_is_intact(
        &kept("one"),
        &sha_one
    ));
    let error = build(&[with_copy("one", &one, &sha_one)]).expect_err("damaged copy");
    assert!(error.to_string().starts_with("one: "), "{error}");
}

/// The content of `path` in `layer`.
fn file_in(layer: &[u8], path: &str) -> String {
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_string_lossy() == path {
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("read");
            return text;
        }
    }
    panic!("{path} not in the layer")
}

#[test]
fn a_layer_on_a_base_lists_the_bases_packages_and_its_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let deb = write_deb(
        dir.path(),
        "app",
        "",
        data_tar(&[E::File("./usr/bin/app", "x")]),
        "data.tar",
    );
    let mut options = options();
    options.base = Some(std::sync::Arc::new(staves_image::Base {
        status: "Package: libc6\nStatus: install ok installed\nPriority: optional\nVersion: 2.36-9\nArchitecture: amd64\nMaintainer: m\nDescription: C library\n\n\n"
            .into(),
        ..Default::default()
    }));
    let (layer, _) = assemble(&[input("app", deb)], &options, Vec::new()).expect("assembles");
    let status = file_in(&layer, "var/lib/dpkg/status");
    // dpkg itself reads the merged database: both packages, installed.
    let admin = dir.path().join("admin");
    std::fs::create_dir_all(admin.join("info")).expect("admin");
    std::fs::write(admin.join("status"), &status).expect("status");
    let out = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", admin.display()))
        .args(["-W", "-f", "${Package} ${Version} ${Status}\\n"])
        .output()
        .expect("dpkg-query");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "app 1.0 install ok installed\nlibc6 2.36-9 install ok installed\n"
    );
    assert!(status.starts_with("Package: libc6\n"), "{status}");
    assert!(
        !status.contains("\n\n\n"),
        "one blank line between paragraphs: {status:?}"
    );
}

/// A layer read back as a base: every path and the contents assembly asks for.
fn base_of(layers: &[&[u8]]) -> staves_image::Base {
    use staves_image::layer::Kind;
    let mut paths = std::collections::BTreeMap::new();
    let mut contents = std::collections::BTreeMap::new();
    for layer in layers {
        let mut archive = tar::Archive::new(*layer);
        for e in archive.entries().expect("entries") {
            let mut e = e.expect("entry");
            let path = e
                .path()
                .expect("path")
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned();
            let link = e
                .link_name()
                .expect("link")
                .map(|l| l.to_string_lossy().into_owned());
            let kind = match e.header().entry_type() {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Symlink => Kind::Symlink(link.unwrap_or_default()),
                tar::EntryType::Link => Kind::Hardlink(link.unwrap_or_default()),
                _ => Kind::File,
            };
            if kind == Kind::File && staves_image::Base::wants(&path) {
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).expect("read");
                contents.insert(path.clone(), bytes);
            }
            paths.insert(path, kind);
        }
    }
    staves_image::Base::from_tree(paths.into_iter().collect(), &contents)
}

const CERT_A: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
const CERT_B: &str = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";

#[test]
fn a_layer_on_a_base_merges_what_installing_everything_together_would() {
    let dir = tempfile::tempdir().expect("tmp");
    let mawk = write_scripted_deb(
        dir.path(),
        "mawk",
        "",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/mawk", "mawk"),
            E::File("./usr/bin/tool", "base tool"),
            E::Dir("./var/"),
            E::Symlink("./var/run", "/run"),
            E::Dir("./usr/share/ca-certificates/"),
            E::Dir("./usr/share/ca-certificates/a/"),
            E::File("./usr/share/ca-certificates/a/a.crt", CERT_A),
        ]),
        "data.tar",
        Some("update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5\nadd-shell /bin/sh\n"),
    );
    let (base_layer, _) = assemble(&[input("mawk", mawk)], &options(), Vec::new()).expect("base");
    let base = std::sync::Arc::new(base_of(&[&base_layer]));
    assert_eq!(base.alternatives.len(), 1);
    assert_eq!(
        base.owners.get("usr/bin/tool").map(String::as_str),
        Some("mawk")
    );
    let on_base = |packages: &[PackageInput]| {
        let mut options = options();
        options.base = Some(base.clone());
        assemble(packages, &options, Vec::new()).map(|(layer, _)| layer)
    };

    let gawk = write_scripted_deb(
        dir.path(),
        "gawk",
        "",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/gawk", "gawk"),
            E::Dir("./var/"),
            E::Dir("./var/run/"),
            E::File("./var/run/gawk.pid", ""),
            E::Dir("./usr/share/ca-certificates/"),
            E::Dir("./usr/share/ca-certificates/b/"),
            E::File("./usr/share/ca-certificates/b/b.crt", CERT_B),
        ]),
        "data.tar",
        Some(
            "update-alternatives --install /usr/bin/awk awk /usr/bin/gawk 10\nadd-shell /bin/zsh\n",
        ),
    );
    let layer = on_base(&[input("gawk", gawk.clone())]).expect("assembles on the base");
    let written: Vec<(String, tar::EntryType, Option<String>)> = entries(&layer);
    let find = |path: &str| {
        written
            .iter()
            .find(|(p, _, _)| p.trim_end_matches('/') == path)
    };
    // Nothing of the base is written again: not its files, not its directories or links.
    for path in [
        "usr/bin/mawk",
        "usr/bin",
        "usr",
        "var/run",
        "usr/bin/awk",
        "bin",
    ] {
        assert!(find(path).is_none(), "{path} written again: {written:?}");
    }
    // A directory the base has as a link stays a link: the file goes where it points.
    assert!(find("run/gawk.pid").is_some(), "{written:?}");
    // The higher-priority candidate wins; the generic link of the base already points at
    // /etc/alternatives, and dpkg's record keeps both candidates.
    assert_eq!(
        find("etc/alternatives/awk")
            .and_then(|e| e.2.clone())
            .as_deref(),
        Some("/usr/bin/gawk")
    );
    let admin = file_in(&layer, "var/lib/dpkg/alternatives/awk");
    assert!(
        admin.contains("/usr/bin/gawk\n10\n") && admin.contains("/usr/bin/mawk\n5\n"),
        "{admin}"
    );
    assert_eq!(
        file_in(&layer, "etc/shells"),
        "# /etc/shells: valid login shells\n/bin/sh\n/bin/zsh\n"
    );
    let bundle = file_in(&layer, "etc/ssl/certs/ca-certificates.crt");
    assert!(
        bundle.contains("AAAA") && bundle.contains("BBBB"),
        "{bundle}"
    );
    let status = file_in(&layer, "var/lib/dpkg/status");
    assert!(
        status.starts_with("Package: mawk\n") && status.contains("Package: gawk\n"),
        "{status}"
    );

    // A package shipping a file a base package owns needs to replace it.
    let clash = write_deb(
        dir.path(),
        "clash",
        "",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/tool", "x"),
        ]),
        "data.tar",
    );
    let err = on_base(&[input("clash", clash)])
        .expect_err("conflict")
        .to_string();
    assert!(
        err.contains("/usr/bin/tool")
            && err.contains("mawk (in the base image)")
            && err.contains("clash"),
        "{err}"
    );
    let replacer = write_deb(
        dir.path(),
        "replacer",
        "Replaces: mawk\n",
        data_tar(&[
            E::Dir("./usr/"),
            E::Dir("./usr/bin/"),
            E::File("./usr/bin/tool", "new"),
        ]),
        "data.tar",
    );
    let layer = on_base(&[input("replacer", replacer)]).expect("Replaces allows it");
    assert_eq!(file_in(&layer, "usr/bin/tool"), "new");
    // Nothing new competes, nothing new is a shell or a certificate: the base's files stand.
    for path in [
        "etc/alternatives/awk",
        "etc/shells",
        "etc/ssl/certs/ca-certificates.crt",
    ] {
        assert!(
            !layer_paths(&layer).iter().any(|p| p == path),
            "{path} rewritten"
        );
    }
}
