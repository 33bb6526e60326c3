//! A `staves serve` on 127.0.0.1, packages made by dpkg-deb, curl, and apt-get in a
//! throwaway root: what the archive tests share.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{run, stdout};

/// A running `staves serve`, killed when dropped.
pub struct Served {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub dir: PathBuf,
    /// The authority that signed an HTTPS archive's certificate.
    pub ca: Option<PathBuf>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// `staves serve --dir ROOT/archive` on a free port, with [`TOKEN`] and `extra` options.
pub fn serve(root: &Path, extra: &[&str]) -> Served {
    staves_test_support::loopback();
    let tokens = root.join("tokens");
    std::fs::write(&tokens, format!("# uploaders\n{TOKEN}\n")).expect("tokens");
    let dir = root.join("archive");
    let mut command = Command::new(env!("CARGO_BIN_EXE_staves"));
    command
        .arg("serve")
        .arg("--dir")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--token-file"])
        .arg(&tokens)
        .args(["--arch", &super::host_arch()])
        .args(extra);
    start(command, dir)
}

/// `staves serve` over HTTPS on 127.0.0.1 with a certificate a throwaway authority (made
/// in `root`) signed, one suite `stable`, and [`TOKEN`]; `ca` is that authority.
pub fn serve_tls(root: &Path) -> Served {
    let pki = super::pki::local_ca(root);
    std::fs::write(root.join("tokens"), format!("{TOKEN}\n")).expect("tokens");
    let config = root.join("archive.toml");
    std::fs::write(
        &config,
        format!(
            "dir = \"archive\"\nlisten = \"127.0.0.1:0\"\ntoken-file = \"tokens\"\n[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n[[suites]]\nname = \"stable\"\narchitectures = [\"{}\"]\n",
            pki.server_cert.display(),
            pki.server_key.display(),
            super::host_arch()
        ),
    )
    .expect("config");
    let mut served = serve_config(&config, &root.join("archive"));
    assert!(served.base.starts_with("https://"), "{}", served.base);
    served.ca = Some(pki.ca_cert);
    served
}

/// `staves serve --config CONFIG` serving `dir`; the configuration listens on port 0.
pub fn serve_config(config: &Path, dir: &Path) -> Served {
    staves_test_support::loopback();
    let mut command = Command::new(env!("CARGO_BIN_EXE_staves"));
    command.arg("serve").arg("--config").arg(config);
    start(command, dir.to_owned())
}

fn start(mut command: Command, dir: PathBuf) -> Served {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("staves serve");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("address");
    assert!(
        line.starts_with("http://127.0.0.1:") || line.starts_with("https://127.0.0.1:"),
        "{line}"
    );
    Served {
        child,
        base: line.trim().to_owned(),
        token: TOKEN.to_owned(),
        dir,
        ca: None,
    }
}

/// A `.deb` made by dpkg-deb: `name` `version`, a script printing `message`.
pub fn deb(dir: &Path, name: &str, version: &str, message: &str) -> PathBuf {
    let root = dir.join(format!("build-{name}-{version}-{}", message.len()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("DEBIAN")).expect("mkdir");
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Staves <staves@localhost>\nDescription: a served package\n"),
    )
    .expect("control");
    let script = root.join("usr/bin").join(name);
    std::fs::write(&script, format!("#!/bin/sh\necho {message}\n")).expect("script");
    run(Command::new("chmod").arg("0755").arg(&script));
    let out = dir.join(format!("{name}_{version}_{}.deb", message.len()));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&out));
    out
}

/// `curl` a request and return the HTTP status and body.
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

pub fn put(served: &Served, file: &Path, token: Option<&str>, suite: &str) -> (u16, String) {
    let url = format!("{}/upload/{suite}/main/x.deb", served.base);
    let data = format!("@{}", file.display());
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-X", "PUT", "--data-binary", &data, &url];
    if let Some(auth) = &auth {
        args.extend(["-H", auth]);
    }
    curl(&args)
}

/// apt-get in a throwaway root that trusts only the archive's key.
pub struct Apt {
    pub root: PathBuf,
    /// The authority apt trusts for an HTTPS archive.
    pub ca: Option<PathBuf>,
}

impl Apt {
    pub fn new(dir: &Path, served: &Served) -> Apt {
        let root = dir.join("aptroot");
        let _ = std::fs::remove_dir_all(&root);
        for sub in [
            "etc/apt/sources.list.d",
            "etc/apt/preferences.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
        let key = root.join("key.gpg");
        let url = format!("{}/key.gpg", served.base);
        let mut args = vec!["-o", key.to_str().expect("utf8"), &url];
        let ca = served.ca.as_ref().map(|c| c.display().to_string());
        if let Some(ca) = &ca {
            args.extend(["--cacert", ca]);
        }
        let (code, _) = curl(&args);
        assert_eq!(code, 200);
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] {} stable main\n",
                root.join("key.gpg").display(),
                served.base
            ),
        )
        .expect("sources");
        Apt {
            root,
            ca: served.ca.clone(),
        }
    }

    pub fn get(&self, args: &[&str]) -> std::process::Output {
        let r = self.root.display();
        Command::new("apt-get")
            .arg("-o")
            .arg(format!("Dir={r}"))
            .arg("-o")
            .arg(format!("Dir::State::status={r}/var/lib/dpkg/status"))
            .arg("-o")
            .arg(format!("Dir::Etc::SourceParts={r}/etc/apt/sources.list.d"))
            .args(["-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"])
            .args(["-o", "Acquire::GzipIndexes=false"])
            .args(self.ca.iter().flat_map(|ca| {
                [
                    "-o".into(),
                    format!("Acquire::https::CaInfo={}", ca.display()),
                ]
            }))
            .arg("-o")
            .arg(format!("APT::Architecture={}", super::host_arch()))
            .arg("-o")
            .arg(format!("DPkg::Options::=--root={r}"))
            .args([
                "-o",
                "DPkg::Options::=--force-not-root",
                "-o",
                "DPkg::Options::=--force-script-chrootless",
                "-o",
                "DPkg::Options::=--log=/dev/null",
                "-o",
                "DPkg::Options::=--no-triggers",
            ])
            .args(args)
            .output()
            .expect("apt-get")
    }
}
