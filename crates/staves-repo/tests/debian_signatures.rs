//! Debian's own releases, as apt downloaded them on this host, verify against Debian's
//! archive keyring (RSA and EdDSA signatures), and any change to them is caught.

use std::path::Path;

use staves_repo::{Keyring, Release};

fn host_releases() -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir("/var/lib/apt/lists") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_InRelease"))
        .collect()
}

#[test]
fn debian_releases_verify_and_tampering_is_refused() {
    let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
    let releases = host_releases();
    assert!(
        keyring.is_file() && !releases.is_empty(),
        "needs debian-archive-keyring and `apt-get update` on the host"
    );
    let ring = Keyring::from_files(&[keyring]).expect("keyring loads");
    assert!(ring.len() >= 3);
    for path in releases {
        let text = std::fs::read_to_string(&path).expect("read");
        let what = path.display().to_string();
        let body = ring
            .verify_cleartext(&text, &what)
            .expect("Debian release verifies");
        let release = Release::parse(&body, &what).expect("parses");
        assert!(!release.files.is_empty());

        // Change one checksum digit: every signature must now fail.
        let at = text.find("SHA256:").expect("has SHA256") + 12;
        let mut tampered = text.clone().into_bytes();
        tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).expect("utf8");
        let err = ring
            .verify_cleartext(&tampered, &what)
            .expect_err("tampering is caught");
        assert!(err.to_string().contains("does not verify"), "{err}");
    }
}

#[test]
fn a_keyring_without_the_signer_refuses() {
    let other = Path::new("/usr/share/keyrings/debian-archive-bullseye-stable.gpg");
    let Some(release) = host_releases()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("bookworm_InRelease"))
    else {
        panic!("needs bookworm's InRelease from `apt-get update`");
    };
    let ring = Keyring::from_files(&[other]).expect("keyring loads");
    let text = std::fs::read_to_string(&release).expect("read");
    let err = ring
        .verify_cleartext(&text, "InRelease")
        .expect_err("wrong key refused");
    assert!(err.to_string().contains("not in the keyring"), "{err}");
}
