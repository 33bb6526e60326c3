//! A throwaway OpenPGP signing key in its own gpg home, for archives the tests sign.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run;

/// A throwaway OpenPGP signing key in its own gpg home.
pub struct Key {
    /// The gpg home holding it.
    pub home: PathBuf,
    /// Its fingerprint.
    pub fingerprint: String,
    /// The public key, armored.
    pub armored: PathBuf,
    /// The public key, binary (for `signed-by`).
    pub binary: PathBuf,
}

impl Key {
    /// An Ed25519 key for `name`, made in `dir/gnupg-NAME`, exported beside it.
    pub fn generate(dir: &Path, name: &str) -> Key {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).expect("gpg home");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let gpg = |args: &[&str]| {
            run(Command::new("gpg")
                .arg("--homedir")
                .arg(&home)
                .args(["--batch", "--quiet"])
                .args(args))
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{name} <{name}@test.invalid>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let listing =
            String::from_utf8_lossy(&gpg(&["--with-colons", "--list-keys"]).stdout).into_owned();
        let fingerprint = listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned();
        let armored = dir.join(format!("{name}.asc"));
        let binary = dir.join(format!("{name}.gpg"));
        std::fs::write(&armored, gpg(&["--armor", "--export", &fingerprint]).stdout)
            .expect("write key");
        std::fs::write(&binary, gpg(&["--export", &fingerprint]).stdout).expect("write key");
        Key {
            home,
            fingerprint,
            armored,
            binary,
        }
    }

    /// `gpg` in this key's home, signing with it by default.
    pub fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(&self.home).args([
            "--batch",
            "--yes",
            "--quiet",
            "--default-key",
            &self.fingerprint,
        ]);
        c
    }
}
