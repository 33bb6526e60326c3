//! A throwaway certificate authority and a server certificate for 127.0.0.1 signed by it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

impl Pki {
    /// `openssl s_server -WWW` serving the files of `dir` over HTTPS with the server
    /// certificate on 127.0.0.1 at a free port, once it accepts connections. Kill the child
    /// when done.
    pub fn serve(&self, dir: &Path) -> (Child, u16) {
        let port = super::free_port();
        let server = Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&self.server_cert)
            .arg("-key")
            .arg(&self.server_key)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (server, port)
    }
}
