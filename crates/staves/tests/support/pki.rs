//! A throwaway certificate authority and a server certificate for 127.0.0.1 signed by it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::run;

pub struct Pki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// A self-signed RSA certificate for `common_name`: `<name>.key` and `<name>.crt` in `dir`.
pub fn self_signed(dir: &Path, name: &str, common_name: &str) {
    let (key, cert, subject) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={common_name}"),
    );
    run(Command::new("openssl").current_dir(dir).args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
        "-keyout", &key, "-out", &cert,
    ]));
}

/// Writes `ca.crt`, `server.crt` and `server.key` into `dir`.
pub fn local_ca(dir: &Path) -> Pki {
    let openssl = |args: &[&str]| run(Command::new("openssl").current_dir(dir).args(args));
    self_signed(dir, "ca", "staves test CA");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    ]);
    Pki {
        ca_cert: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    }
}
