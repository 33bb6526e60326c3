//! The archive's configuration file on 127.0.0.1: JWTs checked against a JWKS (valid,
//! expired, not yet valid, for another audience, signed by a foreign key, lacking a claim a
//! suite requires, none; the key set rotated while the server runs), HTTPS with a private
//! authority for apt and `staves upload`, retention, removal, several packages added all
//! or none, `staves include` and its refusal of an archive a server holds.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use support::archive::{Apt, Served, TOKEN, curl, deb, put, serve_config};
use support::{run, stderr, stdout};

const ISSUER: &str = "https://ci.test";
const AUDIENCE: &str = "staves-test";

/// An Ed25519 key made by openssl, for signing JWTs.
struct SigningKey {
    encoding: EncodingKey,
    kid: String,
    /// The raw public key, base64url without padding (a JWK's `x`).
    x: String,
}

impl SigningKey {
    fn generate(dir: &Path, kid: &str) -> SigningKey {
        let path = dir.join(format!("{kid}.pem"));
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&path));
        let pem = std::fs::read(&path).expect("pem");
        // The public key's DER ends with its 32 raw bytes.
        let public = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "openssl pkey -in '{}' -pubout -outform DER | tail -c 32 | basenc --base64url | tr -d '=\\n'",
                path.display()
            ))
            .output()
            .expect("openssl");
        assert!(public.status.success(), "{}", stderr(&public));
        SigningKey {
            encoding: EncodingKey::from_ed_pem(&pem).expect("ed25519 key"),
            kid: kid.to_owned(),
            x: stdout(&public).trim().to_owned(),
        }
    }

    /// Its public half as a JWK named `kid`.
    fn jwk(&self, kid: &str) -> serde_json::Value {
        serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid, "x": self.x })
    }

    /// A token with `claims`, named as signed by `kid`.
    fn token(&self, kid: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What GitLab puts in a protected branch's job token, valid for ten minutes.
fn claims() -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "project_path:team/app:ref_type:branch:ref:main",
        "namespace_path": "team",
        "ref_protected": "true",
        "iat": now(),
        "nbf": now() - 5,
        "exp": now() + 600,
    })
}

fn write_jwks(path: &Path, keys: &[serde_json::Value]) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, serde_json::json!({ "keys": keys }).to_string()).expect("jwks");
    std::fs::rename(&temp, path).expect("rename");
}

fn upload(served: &Served, file: &Path, token: &str, suite: &str) -> (u16, String) {
    put(served, file, Some(token), suite)
}

#[test]
fn jwts_are_checked_against_the_jwks_and_each_suites_claims() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let trusted = SigningKey::generate(root, "ci-2026");
    let foreign = SigningKey::generate(root, "foreign");
    let rotated = SigningKey::generate(root, "ci-2027");
    let jwks = root.join("jwks.json");
    write_jwks(&jwks, &[trusted.jwk(&trusted.kid)]);
    let config = root.join("archive.toml");
    std::fs::write(
        &config,
        format!(
            r#"dir = "archive"
listen = "127.0.0.1:0"

[jwt]
jwks-file = "jwks.json"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
claims = {{ namespace_path = ["team", "team/tools"] }}

[[suites]]
name = "stable"
architectures = ["{arch}"]
claims = {{ ref_protected = "true" }}

[[suites]]
name = "testing"
architectures = ["{arch}"]
"#,
            arch = support::host_arch()
        ),
    )
    .expect("config");
    let served = serve_config(&config, &root.join("archive"));
    let package = deb(root, "jwt-hello", "1.0", "signed");

    // No token, and a token of the right shape from nobody.
    assert_eq!(put(&served, &package, None, "stable").0, 401);
    let (code, body) = upload(&served, &package, "a.b.c", "stable");
    assert_eq!(code, 401, "{body}");

    // Expired, not yet valid, made for another service: refused with the reason.
    let mut expired = claims();
    expired["exp"] = (now() - 600).into();
    let (code, body) = upload(
        &served,
        &package,
        &trusted.token("ci-2026", &expired),
        "stable",
    );
    assert_eq!((code, body.contains("expired")), (401, true), "{body}");
    let mut early = claims();
    early["nbf"] = (now() + 600).into();
    let (code, body) = upload(
        &served,
        &package,
        &trusted.token("ci-2026", &early),
        "stable",
    );
    assert_eq!(
        (code, body.contains("not valid yet")),
        (401, true),
        "{body}"
    );
    let mut elsewhere = claims();
    elsewhere["aud"] = "another-service".into();
    let (code, body) = upload(
        &served,
        &package,
        &trusted.token("ci-2026", &elsewhere),
        "stable",
    );
    assert_eq!((code, body.contains("audience")), (401, true), "{body}");

    // Signed by a key the JWKS does not hold, under the trusted key's name.
    let (code, body) = upload(
        &served,
        &package,
        &foreign.token("ci-2026", &claims()),
        "stable",
    );
    assert_eq!(
        (code, body.contains("does not verify")),
        (401, true),
        "{body}"
    );

    // Valid, but lacking what a suite requires: 403 there, accepted where it is not required.
    let mut unprotected = claims();
    unprotected
        .as_object_mut()
        .expect("object")
        .remove("ref_protected");
    let token = trusted.token("ci-2026", &unprotected);
    let (code, body) = upload(&served, &package, &token, "stable");
    assert_eq!(
        (code, body.contains("ref_protected")),
        (403, true),
        "{body}"
    );
    let mut other_group = claims();
    other_group["namespace_path"] = "someone-else".into();
    let (code, body) = upload(
        &served,
        &package,
        &trusted.token("ci-2026", &other_group),
        "testing",
    );
    assert_eq!(
        (code, body.contains("namespace_path")),
        (403, true),
        "{body}"
    );
    let (code, body) = upload(&served, &package, &token, "testing");
    assert_eq!(code, 200, "{body}");

    // A valid token through `staves upload`, read from GitLab's variable.
    let cli = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, "--suite", "stable"])
        .arg(&package)
        .env_remove("STAVES_TOKEN")
        .env("CI_JOB_JWT_V2", trusted.token("ci-2026", &claims()))
        .output()
        .expect("staves upload");
    assert!(cli.status.success(), "{}", stderr(&cli));
    assert!(
        stderr(&cli).contains("Uploaded jwt-hello 1.0 (all)"),
        "{}",
        stderr(&cli)
    );

    // The issuer rotates its keys while the server runs: a token of the new key names a kid
    // the server has not seen, so it reads the set again; the old key is then gone.
    write_jwks(&jwks, &[rotated.jwk(&rotated.kid)]);
    let newer = deb(root, "jwt-hello", "2.0", "rotated");
    let (code, body) = upload(
        &served,
        &newer,
        &rotated.token("ci-2027", &claims()),
        "stable",
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = upload(
        &served,
        &newer,
        &trusted.token("ci-2026", &claims()),
        "stable",
    );
    assert_eq!(
        (code, body.contains("does not hold")),
        (401, true),
        "{body}"
    );

    let (code, packages) = curl(&[&format!(
        "{}/dists/stable/main/binary-{}/Packages",
        served.base,
        support::host_arch()
    )]);
    assert_eq!(code, 200);
    assert!(packages.contains("Version: 1.0") && packages.contains("Version: 2.0"));
}

#[test]
fn an_https_archive_serves_apt_and_uploads_with_a_private_authority() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let served = support::archive::serve_tls(root);
    let ca = served.ca.clone().expect("the archive's authority");
    let package = deb(root, "tls-hello", "1.0", "encrypted");

    // Without the authority the client refuses the certificate; with it, the upload lands.
    let untrusted = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, "--token", TOKEN])
        .arg(&package)
        .output()
        .expect("staves upload");
    assert!(!untrusted.status.success());
    let trusted = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["upload", &served.base, "--token", TOKEN, "--ca-cert"])
        .arg(&ca)
        .arg(&package)
        .output()
        .expect("staves upload");
    assert!(trusted.status.success(), "{}", stderr(&trusted));

    let apt = Apt::new(root, &served);
    let update = apt.get(&["update"]);
    assert!(update.status.success(), "{}", stderr(&update));
    assert!(!stderr(&update).contains("W: "), "{}", stderr(&update));
    let install = apt.get(&["install", "-y", "tls-hello"]);
    assert!(
        install.status.success(),
        "{}{}",
        stdout(&install),
        stderr(&install)
    );
    assert!(apt.root.join("usr/bin/tls-hello").exists());
}

/// `staves` with the archive options of `args`.
fn staves(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_staves"));
    command.args(args).env_remove("STAVES_TOKEN");
    if let Some(token) = token {
        command.env("STAVES_TOKEN", token);
    }
    command.output().expect("staves")
}

fn listed(served: &Served) -> String {
    let url = format!(
        "{}/dists/stable/main/binary-{}/Packages",
        served.base,
        support::host_arch()
    );
    let (code, text) = curl(&[&url]);
    assert_eq!(code, 200);
    text
}

fn pool_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = support::walk(&dir.join("pool"));
    files.sort();
    files
}

#[test]
fn retention_removal_and_uploads_of_several_packages_all_or_none() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    std::fs::write(root.join("tokens"), format!("{TOKEN}\n")).expect("tokens");
    let config = root.join("archive.toml");
    std::fs::write(
        &config,
        format!(
            "dir = \"archive\"\nlisten = \"127.0.0.1:0\"\ntoken-file = \"tokens\"\n[[suites]]\nname = \"stable\"\narchitectures = [\"{}\"]\nkeep = 2\n",
            support::host_arch()
        ),
    )
    .expect("config");
    let served = serve_config(&config, &root.join("archive"));

    // keep = 2: the third version retires the first, and its pool file goes.
    for version in ["1.0", "1.10", "1.9"] {
        let file = deb(root, "kept", version, "v");
        let out = staves(
            &["upload", &served.base, file.to_str().expect("utf8")],
            Some(TOKEN),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        if version == "1.9" {
            assert!(
                stderr(&out).contains("Removed kept 1.0 (all)"),
                "{}",
                stderr(&out)
            );
        }
    }
    let text = listed(&served);
    assert!(!text.contains("Version: 1.0\n"), "{text}");
    assert!(text.contains("Version: 1.9\n") && text.contains("Version: 1.10\n"));
    let pool = pool_files(&served.dir);
    assert_eq!(pool.len(), 2, "{pool:?}");

    // Two packages and something that is not one, in one request: nothing is added.
    let one = deb(root, "batch-one", "1.0", "one");
    let two = deb(root, "batch-two", "1.0", "two");
    let junk = root.join("junk_1.0_all.deb");
    std::fs::write(&junk, b"not a package").expect("junk");
    let args = |files: &[&Path]| {
        let mut args = vec!["upload".to_owned(), served.base.clone()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        args
    };
    let refused = args(&[&one, &junk, &two]);
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let out = staves(&refused, Some(TOKEN));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("400"), "{}", stderr(&out));
    assert!(!listed(&served).contains("batch-one"));
    assert_eq!(
        pool_files(&served.dir).len(),
        2,
        "nothing of a refused batch stays"
    );
    let generations = |dir: &Path| {
        std::fs::read_dir(dir.join("dists"))
            .expect("dists")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".stable."))
            .count()
    };
    let before = generations(&served.dir);
    let accepted = args(&[&one, &two]);
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    let out = staves(&accepted, Some(TOKEN));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = listed(&served);
    assert!(text.contains("batch-one") && text.contains("batch-two"));
    assert_eq!(
        generations(&served.dir),
        (before + 1).min(9),
        "published once"
    );

    // Removal: a token is needed; one version, then a package that is not there.
    let (code, _) = curl(&[
        "-X",
        "DELETE",
        &format!("{}/packages/stable/main/kept", served.base),
    ]);
    assert_eq!(code, 401);
    let out = staves(&["remove", &served.base, "kept=1.10"], Some(TOKEN));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Removed kept 1.10 (all)"),
        "{}",
        stderr(&out)
    );
    let text = listed(&served);
    assert!(!text.contains("Version: 1.10\n") && text.contains("Version: 1.9\n"));
    let out = staves(&["remove", &served.base, "never-uploaded"], Some(TOKEN));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
}

#[test]
fn include_adds_a_directory_at_once_and_leaves_a_served_archive_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let debs = root.join("debs");
    std::fs::create_dir_all(&debs).expect("mkdir");
    for n in 0..5 {
        let file = deb(root, &format!("bulk{n}"), "1.0", "bulk");
        std::fs::rename(&file, debs.join(file.file_name().expect("name"))).expect("move");
    }
    let archive = root.join("archive");
    let dir_arg = archive.to_str().expect("utf8");
    let debs_arg = debs.to_str().expect("utf8");
    let arch = support::host_arch();

    let served = support::archive::serve(root, &[]);
    let out = staves(
        &["include", "--dir", dir_arg, "--arch", &arch, debs_arg],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("open in another process"),
        "{}",
        stderr(&out)
    );
    drop(served);

    let out = staves(
        &["include", "--dir", dir_arg, "--arch", &arch, debs_arg],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Included 5 new of 5"),
        "{}",
        stderr(&out)
    );
    let packages =
        std::fs::read_to_string(archive.join(format!("dists/stable/main/binary-{arch}/Packages")))
            .expect("Packages");
    assert_eq!(packages.matches("Package: bulk").count(), 5);
    assert_eq!(
        std::fs::read_dir(&debs).expect("debs").count(),
        5,
        "the caller's files stay"
    );
}

#[test]
fn a_configuration_mistake_is_located() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("archive.toml");
    std::fs::write(
        &config,
        "dir = \"archive\"\n[jwt]\njwks-file = \"keys.json\"\n",
    )
    .expect("config");
    let out = staves(&["serve", "--config", config.to_str().expect("utf8")], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("archive.toml:2:1"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("audience"), "{}", stderr(&out));
}
