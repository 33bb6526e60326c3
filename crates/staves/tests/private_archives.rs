//! Archives as companies run them, on 127.0.0.1: HTTPS signed by a private authority
//! (openssl-made), a repository behind basic auth read with apt's credential format, and
//! a CONNECT proxy every request goes through unless `no_proxy` names the host.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::archive::{Served, TOKEN, curl, deb};
use support::proxy::Proxy;
use support::server::Server;
use support::*;

/// `staves ARGS -f SPEC` with its own cache, and `env` set.
fn staves_with(args: &[&str], spec: &Path, cache: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = staves_command(args, cache);
    command
        .arg("-f")
        .arg(spec)
        .env_remove("SSL_CERT_FILE")
        .env_remove("STAVES_AUTH_FILE");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("staves")
}

fn text(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

/// A `staves serve` over HTTPS with a certificate a private authority signed, holding one
/// uploaded package; returns it, the authority's certificate and the archive's key.
fn private_https_archive(root: &Path) -> (Served, PathBuf, PathBuf) {
    std::fs::create_dir_all(root).expect("archive root");
    let served = support::archive::serve_tls(root);
    let ca = served.ca.clone().expect("the archive's authority");
    let package = deb(root, "private-tool", "1.0", "from a private archive");
    let upload = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, "--token", TOKEN, "--ca-cert"])
        .arg(&ca)
        .arg(&package)
        .output()
        .expect("staves upload");
    assert!(upload.status.success(), "{}", text(&upload));
    let key = root.join("archive.gpg");
    let (code, _) = curl(&[
        "--cacert",
        ca.to_str().expect("utf8"),
        "-o",
        key.to_str().expect("utf8"),
        &format!("{}/key.gpg", served.base),
    ]);
    assert_eq!(code, 200);
    (served, ca, key)
}

/// A spec of `private-tool` from `uri`, with `repository_extra` in its repository table.
fn private_spec(dir: &Path, uri: &str, key: &Path, repository_extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("spec dir");
    let path = dir.join("staves.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"private\"\npackages = [\"private-tool\"]\nexclude = [\"base-files\"]\n\n[[repositories]]\nname = \"ours\"\nuri = \"{uri}\"\nsuite = \"stable\"\nkeyring = \"{}\"\n{repository_extra}",
            key.display()
        ),
    )
    .expect("spec");
    path
}

#[test]
fn a_private_authority_is_refused_clearly_then_trusted_three_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let (served, ca, key) = private_https_archive(root);
    let spec = private_spec(&root.join("plain"), &served.base, &key, "");

    // Untrusted: one clear error naming the certificate and the ways out, not retried.
    let refused = staves_with(&["lock"], &spec, &root.join("c0"), &[]);
    assert!(!refused.status.success());
    let message = text(&refused);
    for expected in [
        "not signed by an authority",
        "staves test CA",
        "--ca-cert",
        "SSL_CERT_FILE",
        "update-ca-certificates",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    assert!(!message.contains("retrying"), "{message}");

    // SSL_CERT_FILE, as OpenSSL and curl read it.
    let ca_text = ca.to_str().expect("utf8");
    let by_env = staves_with(
        &["lock"],
        &spec,
        &root.join("c1"),
        &[("SSL_CERT_FILE", ca_text)],
    );
    assert!(by_env.status.success(), "{}", text(&by_env));

    // --ca-cert, for the whole build: release, indices and the .deb.
    let layout = root.join("layout-flag");
    let by_flag = staves_with(
        &[
            "build",
            "--ca-cert",
            ca_text,
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &spec,
        &root.join("c2"),
        &[],
    );
    assert!(by_flag.status.success(), "{}", text(&by_flag));

    // `ca-cert =` on the repository, relative to the spec.
    let scoped_dir = root.join("scoped");
    std::fs::create_dir_all(&scoped_dir).expect("dir");
    std::fs::copy(&ca, scoped_dir.join("company-ca.pem")).expect("copy");
    let scoped = private_spec(
        &scoped_dir,
        &served.base,
        &key,
        "ca-cert = \"company-ca.pem\"\n",
    );
    let layout = root.join("layout-spec");
    let by_spec = staves_with(
        &["build", "-o", layout.to_str().expect("utf8")],
        &scoped,
        &root.join("c3"),
        &[],
    );
    assert!(by_spec.status.success(), "{}", text(&by_spec));
    let inspect = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", layout.to_str().expect("utf8")])
        .output()
        .expect("inspect");
    assert!(
        stdout(&inspect).contains("private-tool"),
        "{}",
        text(&inspect)
    );
}

/// A signed repository of `private-tool` (suite `stable`) served over HTTP on 127.0.0.1,
/// signed by a key named `key_name`.
fn served_repository(root: &Path, key_name: &str) -> (Server, Key) {
    let key = Key::generate(root, key_name);
    let repo = Repo::new(&root.join("repo"));
    repo.publish(
        "stable",
        &[pkg("private-tool", "1.0", &[])],
        &key,
        Signing::Both,
        None,
    );
    (Server::start(repo.root.clone()), key)
}

const PASSWORD: &str = "s3cret-pa55-9f27";

/// A signed repository of `private-tool` served over HTTP, answering 401 without
/// `alice`'s credentials; returns the server and the repository's key.
fn repository_behind_basic_auth(root: &Path) -> (Server, Key) {
    let (server, key) = served_repository(root, "auth");
    let header = {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s 'alice:{PASSWORD}' | base64 -w0"))
            .output()
            .expect("base64");
        format!("Basic {}", String::from_utf8_lossy(&out.stdout))
    };
    server.faults.lock().expect("faults").authorization = Some(header);
    (server, key)
}

#[test]
fn a_repository_behind_basic_auth_reads_apt_credentials_and_keeps_them_secret() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let (server, key) = repository_behind_basic_auth(root);
    let spec = private_spec(&root.join("spec"), &server.base, &key.binary, "");
    let authority = server.base.trim_start_matches("http://").to_owned();

    // No credentials: a 401 that says where credentials are read.
    let refused = staves_with(&["lock"], &spec, &root.join("c0"), &[]);
    assert!(!refused.status.success());
    let message = text(&refused);
    for expected in [
        "401",
        "no credentials match",
        "/etc/apt/auth.conf.d",
        "--auth-file",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }

    // An entry without a scheme is for HTTPS only, as apt has it: not sent over HTTP.
    let https_only = root.join("https-only.conf");
    std::fs::write(
        &https_only,
        format!("machine {authority} login alice password {PASSWORD}\n"),
    )
    .expect("auth");
    let not_sent = staves_with(
        &["lock", "--auth-file", https_only.to_str().expect("utf8")],
        &spec,
        &root.join("c1"),
        &[],
    );
    assert!(!not_sent.status.success(), "{}", text(&not_sent));
    assert!(
        !server.requests().iter().any(|r| r.ends_with("authorized")),
        "{:?}",
        server.requests()
    );

    // An `http://` entry in an auth.conf.d-style file, by --auth-file: the build works.
    let conf = root.join("company.conf");
    std::fs::write(
        &conf,
        format!(
            "# the company's mirror\nmachine http://{authority}/ login alice password {PASSWORD}\n"
        ),
    )
    .expect("auth");
    let cache = root.join("c2");
    let layout = root.join("layout");
    let sbom = root.join("sbom.json");
    let built = staves_with(
        &[
            "build",
            "--auth-file",
            conf.to_str().expect("utf8"),
            "--sbom",
            sbom.to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &spec,
        &cache,
        &[],
    );
    assert!(built.status.success(), "{}", text(&built));
    let lock = staves_with(
        &["lock", "--auth-file", conf.to_str().expect("utf8")],
        &spec,
        &cache,
        &[],
    );
    assert!(lock.status.success(), "{}", text(&lock));
    assert!(!text(&built).contains(PASSWORD) && !text(&lock).contains(PASSWORD));
    let lockfile = spec.with_file_name("staves.lock");
    assert!(lockfile.exists());
    for file in walk(&cache)
        .into_iter()
        .chain(walk(&layout))
        .chain([sbom, lockfile])
    {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "the password is in {}",
            file.display()
        );
    }

    // STAVES_AUTH_FILE names the file as well.
    let by_env = staves_with(
        &["lock", "--refresh"],
        &spec,
        &root.join("c3"),
        &[("STAVES_AUTH_FILE", conf.to_str().expect("utf8"))],
    );
    assert!(by_env.status.success(), "{}", text(&by_env));
}

#[test]
fn a_connect_proxy_carries_every_request_unless_no_proxy_names_the_host() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let proxy = Proxy::start();

    // Plain HTTP under a name only the proxy resolves: a request that went around the
    // proxy could not have reached the repository at all.
    let (server, key) = served_repository(root, "proxied");
    let port = server.base.rsplit(':').next().expect("port");
    let hidden = format!("http://repository.staves-test.invalid:{port}");
    let spec = private_spec(&root.join("hidden"), &hidden, &key.binary, "");
    let layout = root.join("layout");
    let built = staves_with(
        &["build", "-o", layout.to_str().expect("utf8")],
        &spec,
        &root.join("c0"),
        &[("http_proxy", &proxy.address)],
    );
    assert!(built.status.success(), "{}", text(&built));
    let tunnels = proxy.tunnels();
    assert!(
        tunnels
            .iter()
            .all(|t| t == &format!("repository.staves-test.invalid:{port}")),
        "{tunnels:?}"
    );
    assert!(!tunnels.is_empty());

    // HTTPS goes through CONNECT too.
    let (served, ca, archive_key) = private_https_archive(&root.join("tls"));
    let https_spec = private_spec(&root.join("https"), &served.base, &archive_key, "");
    let ca_text = ca.to_str().expect("utf8");
    let before = proxy.tunnels().len();
    let through = staves_with(
        &["lock", "--ca-cert", ca_text],
        &https_spec,
        &root.join("c1"),
        &[("https_proxy", &proxy.address)],
    );
    assert!(through.status.success(), "{}", text(&through));
    let authority = served.base.trim_start_matches("https://").to_owned();
    assert!(
        proxy.tunnels()[before..].contains(&authority),
        "{:?}",
        proxy.tunnels()
    );

    // no_proxy names the host: the proxy sees nothing.
    let before = proxy.tunnels().len();
    let direct = staves_with(
        &["lock", "--ca-cert", ca_text],
        &https_spec,
        &root.join("c2"),
        &[
            ("https_proxy", &proxy.address),
            ("no_proxy", "localhost,127.0.0.1"),
        ],
    );
    assert!(direct.status.success(), "{}", text(&direct));
    assert_eq!(proxy.tunnels().len(), before, "{:?}", proxy.tunnels());
}
