//! A `.deb` Staves writes is read by dpkg itself: `dpkg-deb --info` shows its control,
//! `dpkg-deb --contents` lists `./`-named root-owned entries, and `dpkg --install` into a
//! throwaway admin directory and root installs it, checking the md5sums it ships.

use std::fs::File;
use std::process::Command;

use staves_deb::write::{Entry, EntryKind, NewDeb, installed_size, write_deb};

fn run(command: &mut Command) -> String {
    let out = command.output().expect("dpkg runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).expect("metadata").len()
}

#[test]
fn dpkg_installs_a_package_staves_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("greet");
    std::fs::write(&script, "#!/bin/sh\necho greetings\n").expect("write");
    let conf = dir.path().join("greet.conf");
    std::fs::write(&conf, "loud = no\n").expect("write");
    let entries = vec![
        Entry {
            path: "etc".into(),
            kind: EntryKind::Dir,
        },
        Entry {
            path: "etc/greet.conf".into(),
            kind: EntryKind::File {
                source: conf.clone(),
                size: len(&conf),
                executable: false,
            },
        },
        Entry {
            path: "usr".into(),
            kind: EntryKind::Dir,
        },
        Entry {
            path: "usr/bin".into(),
            kind: EntryKind::Dir,
        },
        Entry {
            path: "usr/bin/greet".into(),
            kind: EntryKind::File {
                source: script.clone(),
                size: len(&script),
                executable: true,
            },
        },
        Entry {
            path: "usr/bin/hi".into(),
            kind: EntryKind::Symlink {
                target: "greet".into(),
            },
        },
    ];
    let control = format!(
        "Package: greet\nVersion: 1.2-1\nArchitecture: all\nMaintainer: Staves <staves@localhost>\nInstalled-Size: {}\nDescription: says hello\n",
        installed_size(&entries)
    );
    let deb = dir.path().join("greet_1.2-1_all.deb");
    let new = NewDeb {
        control: &control,
        entries: &entries,
        mtime: 1_600_000_000,
        scripts: &[],
    };
    write_deb(File::create(&deb).expect("create"), &new).expect("write");

    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(info.contains("Package: greet"), "{info}");
    assert!(info.contains("conffiles"), "{info}");
    let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    assert!(
        contents.contains("-rwxr-xr-x root/root        25 2020-09-13"),
        "{contents}"
    );
    assert!(contents.contains("./usr/bin/hi -> greet"), "{contents}");

    let root = dir.path().join("root");
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).expect("mkdir");
    std::fs::create_dir_all(admin.join("updates")).expect("mkdir");
    std::fs::write(admin.join("status"), "").expect("write");
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--force-not-root")
        .arg("--force-script-chrootless")
        .arg("--no-triggers")
        .arg("--log=/dev/null")
        .arg("--install")
        .arg(&deb));
    let verify = Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--verify", "greet"])
        .output()
        .expect("dpkg runs");
    assert!(
        verify.status.success() && verify.stdout.is_empty(),
        "{verify:?}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("usr/bin/greet")).expect("installed"),
        "#!/bin/sh\necho greetings\n"
    );
}
