//! Keys that may no longer sign: expired and revoked keys made with gpg, refused as gpgv
//! (and so apt) refuses them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use staves_repo::Keyring;

const RELEASE: &str = "Origin: Test\nSuite: stable\n";

/// A gpg home with one signing key; `faked` runs gpg at another date (`20200101T000000`).
struct Gpg {
    home: PathBuf,
    fingerprint: String,
}

impl Gpg {
    fn new(dir: &Path, expire: &str, faked: Option<&str>) -> Gpg {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home).expect("home");
        let mut perms = std::fs::metadata(&home).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o700);
        std::fs::set_permissions(&home, perms).expect("chmod");
        let gpg = Gpg {
            home,
            fingerprint: String::new(),
        };
        gpg.run(
            &[
                "--passphrase",
                "",
                "--quick-gen-key",
                "t <t@test.invalid>",
                "ed25519",
                "sign",
                expire,
            ],
            faked,
        );
        let listing = gpg.run(&["--with-colons", "--list-keys"], None);
        let fingerprint = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned();
        Gpg { fingerprint, ..gpg }
    }

    fn run(&self, args: &[&str], faked: Option<&str>) -> String {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(&self.home)
            .args(["--batch", "--yes", "--quiet"]);
        if let Some(date) = faked {
            cmd.args(["--faked-system-time", &format!("{date}!")]);
        }
        let out = cmd.args(args).output().expect("gpg");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn sign(&self, faked: Option<&str>) -> String {
        let dir = self.home.parent().expect("dir");
        std::fs::write(dir.join("Release"), RELEASE).expect("release");
        self.run(
            &[
                "--armor",
                "--clearsign",
                "--output",
                dir.join("InRelease").to_str().expect("utf8"),
                dir.join("Release").to_str().expect("utf8"),
            ],
            faked,
        );
        std::fs::read_to_string(dir.join("InRelease")).expect("InRelease")
    }

    fn keyring(&self) -> Keyring {
        let exported = self.run(&["--armor", "--export", &self.fingerprint], None);
        let mut ring = Keyring::default();
        ring.add_bytes(exported.as_bytes(), "test key")
            .expect("keyring");
        ring
    }
}

#[test]
fn a_valid_key_with_a_future_expiry_signs() {
    let dir = tempfile::tempdir().expect("tmp");
    let gpg = Gpg::new(dir.path(), "10y", None);
    let ring = gpg.keyring();
    let (text, signer) = ring
        .verify_cleartext_by(&gpg.sign(None), "InRelease", SystemTime::now())
        .expect("accepted");
    assert_eq!(text, RELEASE.trim_end());
    assert_eq!(signer.fingerprint, gpg.fingerprint);
    // Ten years from now, give or take the leap days: the bound memoised verifications keep.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let expires = signer.expires.expect("expires");
    assert!(expires > now + 9 * 365 * 86_400 && expires < now + 11 * 365 * 86_400);
    // In eleven years the same signature is refused.
    let later = SystemTime::now() + Duration::from_secs(11 * 365 * 86_400);
    let error = ring
        .verify_cleartext_by(&gpg.sign(None), "InRelease", later)
        .expect_err("expired by then")
        .to_string();
    assert!(error.contains("expired"), "{error}");
}

#[test]
fn an_expired_key_signs_nothing_even_what_it_signed_in_time() {
    let dir = tempfile::tempdir().expect("tmp");
    // Made on 2020-01-01 to last one day; the release signed while it was valid.
    let gpg = Gpg::new(dir.path(), "1d", Some("20200101T000000"));
    let signed = gpg.sign(Some("20200101T120000"));
    let ring = gpg.keyring();
    let error = ring
        .verify_cleartext(&signed, "InRelease")
        .expect_err("expired key refused")
        .to_string();
    assert!(error.contains("expired"), "{error}");
}

#[test]
fn a_revoked_key_signs_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let gpg = Gpg::new(dir.path(), "never", None);
    let signed = gpg.sign(None);
    gpg.keyring()
        .verify_cleartext(&signed, "InRelease")
        .expect("accepted before the revocation");

    // gpg leaves a revocation certificate beside every new key; importing it revokes the key.
    let certificate = gpg
        .home
        .join("openpgp-revocs.d")
        .join(format!("{}.rev", gpg.fingerprint));
    let text = std::fs::read_to_string(&certificate).expect("revocation certificate");
    let armored = text.replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    );
    let imported = dir.path().join("revoke.asc");
    std::fs::write(&imported, armored).expect("write");
    gpg.run(&["--import", imported.to_str().expect("utf8")], None);

    let ring = gpg.keyring();
    let error = ring
        .verify_cleartext(&signed, "InRelease")
        .expect_err("revoked key refused")
        .to_string();
    assert!(error.contains("revoked"), "{error}");
}
