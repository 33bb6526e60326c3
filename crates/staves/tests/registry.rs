//! Publishing against a real registry: Debian's `docker-registry` on 127.0.0.1 with TLS and
//! htpasswd users (or bearer tokens, or plain HTTP), images built from the host's Debian
//! sources, pulled back with skopeo and run with Docker or podman.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use support::engine::{container, is_podman};
use support::registry::{Auth, PASSWORD, Registry, USER};
use support::{examples, run, shared_cache, stderr, stdout};

/// Runs staves with `registry`'s credentials and CA.
fn staves(registry: &Registry, args: &[&str]) -> Output {
    staves_with(registry, args, &registry.docker_config, &[])
}

fn staves_with(
    registry: &Registry,
    args: &[&str],
    docker_config: &Path,
    envs: &[(&str, String)],
) -> Output {
    let mut cmd = support::staves_command(args, &shared_cache());
    let publishes = matches!(args.first(), Some(&"build" | &"push" | &"stack"));
    if publishes && !args.contains(&"--certs-dir") {
        cmd.arg("--certs-dir").arg(&registry.certs_dir);
    }
    cmd.env("DOCKER_CONFIG", docker_config);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run staves")
}

/// The bash example built and pushed to `reference` with the credentials in `docker_config`.
fn push_bash(
    registry: &Registry,
    reference: &str,
    docker_config: &Path,
    extra: &[&str],
    envs: &[(&str, String)],
) -> Output {
    push_spec(registry, "bash", reference, docker_config, extra, envs)
}

/// An example built and pushed to `reference` with the registry's own credentials.
fn push_example(registry: &Registry, example: &str, reference: &str, extra: &[&str]) -> Output {
    push_spec(
        registry,
        example,
        reference,
        &registry.docker_config,
        extra,
        &[],
    )
}

fn push_spec(
    registry: &Registry,
    example: &str,
    reference: &str,
    docker_config: &Path,
    extra: &[&str],
    envs: &[(&str, String)],
) -> Output {
    let spec = examples().join(example).join("staves.toml");
    let mut args = vec![
        "build",
        "-f",
        spec.to_str().expect("utf8"),
        "--push",
        reference,
    ];
    args.extend(extra);
    staves_with(registry, &args, docker_config, envs)
}

/// The digest of what the registry serves for `reference`, fetched by skopeo.
fn remote_digest(registry: &Registry, reference: &str) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"])
        .args(registry.skopeo_args())
        .arg(format!("docker://{reference}"));
    let out = run(&mut cmd);
    format!("sha256:{}", hex::encode(Sha256::digest(&out.stdout)))
}

/// `skopeo copy` from `reference` in the registry to `destination`.
fn skopeo_copy(registry: &Registry, reference: &str, destination: &str, extra: &[&str]) {
    let mut cmd = Command::new("skopeo");
    cmd.arg("copy")
        .args(extra)
        .args(["--src-creds", &format!("{USER}:{PASSWORD}")])
        .arg("--src-cert-dir")
        .arg(registry.certs_dir.join(registry.host()))
        .arg(format!("docker://{reference}"))
        .arg(destination);
    run(&mut cmd);
}

fn pushed_digest(out: &Output) -> String {
    assert!(out.status.success(), "push failed: {}", stderr(out));
    stdout(out).trim().to_owned()
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn pushes_an_image_that_pulls_back_identically_and_runs() {
    let registry = Registry::start();
    let reference = format!("{}/staves/bash:1", registry.host());
    let dir = tempfile::tempdir().expect("tmp");
    let digest_file = dir.path().join("digest");
    let out = push_example(
        &registry,
        "bash",
        &reference,
        &["--digest-file", digest_file.to_str().expect("utf8")],
    );
    let digest = pushed_digest(&out);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert_eq!(
        std::fs::read_to_string(&digest_file)
            .expect("digest file")
            .trim(),
        digest
    );
    assert_eq!(remote_digest(&registry, &reference), digest);

    // The manifest went last: every blob upload finished before the tag was written.
    let log = registry.log();
    let manifest_at = log
        .find("\"PUT /v2/staves/bash/manifests/1")
        .expect("manifest put");
    let last_blob_at = log.rfind("/blobs/uploads/").expect("blob upload");
    assert!(last_blob_at < manifest_at, "{log}");

    // skopeo copies it out whole (it verifies every blob's digest on the way).
    let copy = dir.path().join("copy");
    skopeo_copy(
        &registry,
        &reference,
        &format!("oci:{}:1", copy.display()),
        &[],
    );

    // Read back straight from the registry, by tag and by digest: the same image as the
    // copy skopeo checked, and no difference between them.
    let certs = registry.certs_dir.to_str().expect("utf8").to_owned();
    let copied = format!("{}:1", copy.display());
    let inspect = |target: &str| -> serde_json::Value {
        let out = staves(
            &registry,
            &[
                "inspect",
                "--files",
                "--json",
                "--certs-dir",
                &certs,
                target,
            ],
        );
        assert!(out.status.success(), "{target}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let remote = inspect(&reference);
    assert_eq!(remote, inspect(&copied));
    assert_eq!(
        remote,
        inspect(&format!("{}/staves/bash@{digest}", registry.host()))
    );
    let same = staves(
        &registry,
        &["diff", "--certs-dir", &certs, &reference, &copied],
    );
    assert_eq!(same.status.code(), Some(0), "{}", stdout(&same));

    // And the engine pulls it from the registry and runs it.
    let pulled = if is_podman() {
        container(&[
            "pull",
            "--tls-verify=false",
            "--creds",
            &format!("{USER}:{PASSWORD}"),
            &reference,
        ])
    } else {
        let mut cmd = Command::new("docker");
        cmd.arg("--config")
            .arg(&registry.docker_config)
            .args(["pull", &reference]);
        cmd.output().expect("docker pull")
    };
    assert!(pulled.status.success(), "pull: {}", stderr(&pulled));
    let ran = container(&["run", "--rm", &reference]);
    container(&["rmi", &reference]);
    assert_eq!(stdout(&ran), "Hello World!\n", "{}", stderr(&ran));
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn an_unchanged_image_is_pushed_again_without_uploading_a_blob() {
    let registry = Registry::start();
    let reference = format!("{}/staves/nginx:stable", registry.host());
    let first = pushed_digest(&push_example(&registry, "nginx", &reference, &[]));
    let uploads = registry.upload_requests();
    assert!(
        uploads >= 4,
        "a first push uploads config and layer: {uploads}"
    );

    let again = push_example(&registry, "nginx", &reference, &[]);
    assert_eq!(pushed_digest(&again), first);
    assert_eq!(registry.upload_requests(), uploads, "{}", registry.log());
    assert!(
        stderr(&again).contains("0 blob(s) uploaded"),
        "{}",
        stderr(&again)
    );

    // Another repository of the same registry mounts the blobs instead of uploading them.
    let other = format!("{}/elsewhere/nginx:copy", registry.host());
    let mounted = push_example(&registry, "nginx", &other, &[]);
    assert_eq!(pushed_digest(&mounted), first);
    let mounts = registry.requests("POST", "/v2/elsewhere/nginx/blobs/uploads/?mount=");
    assert_eq!(mounts.len(), 2, "{}", registry.log());
    assert!(mounts.iter().all(|l| l.contains("\" 201 ")), "{mounts:?}");
    assert!(
        registry
            .requests("PUT", "/v2/elsewhere/nginx/blobs/")
            .is_empty()
    );
    assert_eq!(remote_digest(&registry, &other), first);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn large_blobs_go_up_in_chunks() {
    let registry = Registry::start();
    let reference = format!("{}/staves/chunked:1", registry.host());
    let out = push_example(&registry, "nginx", &reference, &["--chunk-size", "1"]);
    let digest = pushed_digest(&out);
    // The nginx layer is several MiB: one PATCH per MiB, then the closing PUT.
    let patches = registry.requests("PATCH", "/v2/staves/chunked/blobs/uploads/");
    assert!(patches.len() >= 4, "{}", registry.log());
    assert!(patches.iter().all(|l| l.contains("\" 202 ")), "{patches:?}");
    assert_eq!(remote_digest(&registry, &reference), digest);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn several_architectures_push_as_one_index() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-multi\"\npackages = [\"bash\"]\ncommand = [\"bash\", \"-c\", \"echo Hello from $HOSTTYPE\"]\narchs = [\"amd64\", \"arm64\"]\n",
    )
    .expect("spec");
    let spec = spec.to_str().expect("utf8");
    let locked = staves(&registry, &["lock", "-f", spec]);
    assert!(locked.status.success(), "{}", stderr(&locked));
    let lock = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    assert!(lock.contains("arch = \"amd64\"") && lock.contains("arch = \"arm64\""));

    // Without `--arch`, each architecture prints as a section; as JSON, keyed by architecture.
    let both = staves(&registry, &["resolve", "-f", spec, "--locked"]);
    let text = stdout(&both);
    assert!(
        text.starts_with("[amd64]\n") && text.contains("\n[arm64]\n"),
        "{text}"
    );
    let json = staves(&registry, &["resolve", "-f", spec, "--locked", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(
        json["arm64"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "bash"))
    );

    // `--arch` picks one of them for resolve; an architecture the spec lacks is refused.
    let arm = staves(
        &registry,
        &["resolve", "-f", spec, "--arch", "arm64", "--locked"],
    );
    assert!(stdout(&arm).contains("bash ") && stdout(&arm).contains(" arm64\n"));
    assert!(!stdout(&arm).contains(" amd64\n"), "{}", stdout(&arm));
    let wrong = staves(&registry, &["resolve", "-f", spec, "--arch", "i386"]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("pick one of them"),
        "{}",
        stderr(&wrong)
    );

    // A package one architecture lacks is reported for that architecture.
    let amd64_only = dir.path().join("amd64-only.toml");
    std::fs::write(
        &amd64_only,
        "name = \"x\"\npackages = [\"bash\", \"libc6-i386\"]\narchs = [\"amd64\", \"arm64\"]\n",
    )
    .expect("spec");
    let missing = staves(
        &registry,
        &["resolve", "-f", amd64_only.to_str().expect("utf8")],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no package named `libc6-i386` is available for arm64"),
        "{}",
        stderr(&missing)
    );

    let reference = format!("{}/staves/hello:multi", registry.host());
    let layout = dir.path().join("layout");
    let key = dir.path().join("key");
    let keygen = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["keygen", key.to_str().expect("utf8")])
        .output()
        .expect("keygen");
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            spec,
            "--locked",
            "-o",
            layout.to_str().expect("utf8"),
            "--push",
            &reference,
            "--sign",
            key.with_extension("key").to_str().expect("utf8"),
        ],
    );
    let digest = pushed_digest(&out);
    assert_eq!(remote_digest(&registry, &reference), digest);
    // Signed: the index and each platform's manifest.
    let certs = registry.certs_dir.to_str().expect("utf8").to_owned();
    let verified = staves(
        &registry,
        &[
            "verify",
            "--json",
            "--certs-dir",
            &certs,
            "--key",
            key.with_extension("pub").to_str().expect("utf8"),
            &reference,
        ],
    );
    assert!(verified.status.success(), "{}", stderr(&verified));
    let verified: serde_json::Value = serde_json::from_slice(&verified.stdout).expect("json");
    assert_eq!(
        verified["signed"].as_array().map(Vec::len),
        Some(3),
        "{verified}"
    );
    assert_eq!(verified["signed"][0], digest.as_str());

    // The registry serves an index whose entries are per-platform manifests.
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"])
        .args(registry.skopeo_args())
        .arg(format!("docker://{reference}"));
    let index: serde_json::Value =
        serde_json::from_slice(&run(&mut cmd).stdout).expect("index json");
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<String> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| {
            format!(
                "{}/{}",
                m["platform"]["os"].as_str().unwrap_or(""),
                m["platform"]["architecture"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for arch in ["amd64", "arm64"] {
        let mut cmd = Command::new("skopeo");
        cmd.args([
            "inspect",
            "--override-arch",
            arch,
            "--format",
            "{{.Architecture}}",
        ])
        .args(registry.skopeo_args())
        .arg(format!("docker://{reference}"));
        assert_eq!(stdout(&run(&mut cmd)).trim(), arch);
    }
    // The arm64 image holds arm64 code: its bash is an AArch64 ELF.
    let copy = dir.path().join("arm64");
    skopeo_copy(
        &registry,
        &reference,
        &format!("dir:{}", copy.display()),
        &["--override-arch", "arm64"],
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).expect("manifest"))
            .expect("json");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = std::fs::File::open(copy.join(layer)).expect("layer blob");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(blob));
    let mut machine = None;
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").to_str() == Some("usr/bin/bash") {
            let mut head = [0u8; 20];
            entry.read_exact(&mut head).expect("elf header");
            machine = Some(u16::from_le_bytes([head[18], head[19]]));
        }
    }
    assert_eq!(machine, Some(183), "EM_AARCH64");

    // A docker-archive holds the host's image, which runs here.
    if support::host_arch() == "amd64" {
        let archive = dir.path().join("multi.tar");
        let out = staves(
            &registry,
            &[
                "build",
                "-f",
                spec,
                "--locked",
                "-o",
                archive.to_str().expect("utf8"),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
        assert!(loaded.status.success(), "{}", stderr(&loaded));
        let ran = container(&["run", "--rm", "staves-multi:latest"]);
        container(&["rmi", "staves-multi:latest"]);
        assert_eq!(stdout(&ran), "Hello from x86_64\n", "{}", stderr(&ran));
    }
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn bearer_tokens_from_the_registrys_token_server_are_used() {
    let registry = Registry::start_with(true, Auth::Token);
    let reference = format!("{}/team/bash:token", registry.host());
    let digest = pushed_digest(&push_example(&registry, "bash", &reference, &[]));
    assert_eq!(remote_digest(&registry, &reference), digest);

    let dir = tempfile::tempdir().expect("tmp");
    registry.write_docker_config(dir.path(), USER, "wrong");
    let refused = push_bash(&registry, &reference, dir.path(), &[], &[]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("refused the credentials of user `alice`"));

    // docker's `identitytoken`: exchanged through the OAuth2 refresh-token grant.
    let oauth = dir.path().join("oauth");
    registry.write_identity_token_config(&oauth, support::registry::REFRESH_TOKEN);
    let reference = format!("{}/team/bash:oauth", registry.host());
    let out = push_bash(&registry, &reference, &oauth, &[], &[]);
    assert_eq!(remote_digest(&registry, &reference), pushed_digest(&out));
    registry.write_identity_token_config(&oauth, "revoked-token");
    let refused = push_bash(&registry, &reference, &oauth, &[], &[]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("refused the credentials of an identity token"),
        "{}",
        stderr(&refused)
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn credentials_come_from_a_docker_credential_helper() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let helper = bin.join("docker-credential-staves-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread host\n[ \"$host\" = \"{}\" ] || {{ echo 'credentials not found in native keychain'; exit 1; }}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$host\"\n",
            registry.host()
        ),
    )
    .expect("helper");
    run(Command::new("chmod").arg("+x").arg(&helper));
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(
        config.join("config.json"),
        format!(
            "{{\"credHelpers\":{{\"{}\":\"staves-test\"}}}}",
            registry.host()
        ),
    )
    .expect("config");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let reference = format!("{}/helped/bash:1", registry.host());
    let out = push_bash(
        &registry,
        &reference,
        &config,
        &[],
        &[("PATH", path.clone())],
    );
    assert_eq!(remote_digest(&registry, &reference), pushed_digest(&out));

    // The same helper as the default store, with wrong inline credentials it must win over.
    std::fs::write(
        config.join("config.json"),
        format!(
            "{{\"credsStore\":\"staves-test\",\"auths\":{{\"{}\":{{\"auth\":\"eDp5\"}}}}}}",
            registry.host()
        ),
    )
    .expect("config");
    let reference = format!("{}/stored/bash:1", registry.host());
    let out = push_bash(&registry, &reference, &config, &[], &[("PATH", path)]);
    assert_eq!(remote_digest(&registry, &reference), pushed_digest(&out));
}

/// Each failure: a non-zero exit, one `error:` line that says what, one `help:` line.
fn assert_clear_failure(out: &Output, says: &str) {
    assert!(!out.status.success(), "succeeded: {}", stderr(out));
    let text = stderr(out);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.trim_start().starts_with("Built") && !l.trim_start().starts_with("Finished"))
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("Excluded") && !l.starts_with("Added") && !l.starts_with("Unchanged")
        })
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(says),
        "{text}"
    );
    assert!(lines[1].trim_start().starts_with("help: "), "{text}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn wrong_credentials_unknown_ca_and_unreachable_registries_fail_clearly() {
    let registry = Registry::start();
    let reference = format!("{}/staves/bash:1", registry.host());
    let dir = tempfile::tempdir().expect("tmp");
    let (bad, none) = (dir.path().join("bad"), dir.path().join("none"));
    registry.write_docker_config(&bad, USER, "not-the-password");
    let good = &registry.docker_config;
    let closed = format!("127.0.0.1:{}/staves/bash:1", support::free_port());
    for (reference, config, extra, says) in [
        (
            &reference,
            &bad,
            &[][..],
            "refused the credentials of user `alice`",
        ),
        (&reference, &none, &[][..], "refused anonymous access"),
        (
            &reference,
            good,
            &["--certs-dir", "/nonexistent"][..],
            "UnknownIssuer",
        ),
        (&closed, good, &[][..], "cannot reach registry 127.0.0.1:"),
        (
            &"bash:latest".to_owned(),
            good,
            &[][..],
            "name the registry",
        ),
    ] {
        let out = push_bash(&registry, reference, config, extra, &[]);
        assert_clear_failure(&out, says);
    }
    // Nothing was tagged by any of the failed pushes.
    assert!(
        registry.requests("PUT", "/manifests/").is_empty(),
        "{}",
        registry.log()
    );
}

/// What the faulty proxy did.
#[derive(Default)]
struct Faults {
    connections: AtomicUsize,
    cuts: AtomicUsize,
}

/// Forwards 127.0.0.1 connections to `port`, answering the first `refusals` with a 503 and
/// cutting the first connection that carries more than one MiB upstream (a blob upload)
/// in the middle of it.
fn faulty_proxy(port: u16, refusals: usize) -> (u16, Arc<Faults>) {
    staves_test_support::loopback();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port = listener.local_addr().expect("addr").port();
    let faults = Arc::new(Faults::default());
    let seen = faults.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            if seen.connections.fetch_add(1, Ordering::SeqCst) < refusals {
                let mut head = [0u8; 4096];
                let _ = client.read(&mut head);
                let _ = client.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (Ok(mut c2), Ok(mut u2)) = (client.try_clone(), upstream.try_clone()) else {
                continue;
            };
            let cuts = seen.clone();
            std::thread::spawn(move || {
                let mut sent = 0usize;
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = c2.read(&mut buf) {
                    if n == 0 || u2.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                    if sent > 1 << 20
                        && cuts
                            .cuts
                            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                            .is_ok()
                    {
                        let _ = c2.shutdown(std::net::Shutdown::Both);
                        let _ = u2.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
                let _ = u2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (proxy_port, faults)
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn plain_http_only_when_marked_insecure_and_faults_are_retried() {
    let registry = Registry::start_with(false, Auth::Anonymous);
    let spec = examples().join("bash/staves.toml");
    let spec = spec.to_str().expect("utf8");
    let (proxy, faults) = faulty_proxy(registry.port, 2);
    let host = format!("127.0.0.1:{proxy}");
    let reference = format!("{host}/plain/bash:1");

    // Without the mark, staves speaks TLS and the plain server cannot answer it.
    let direct = format!("{}/plain/bash:1", registry.host());
    let refused = staves(&registry, &["build", "-f", spec, "--push", &direct]);
    assert!(!refused.status.success());

    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            spec,
            "--push",
            &reference,
            "--insecure-registry",
            &host,
        ],
    );
    let digest = pushed_digest(&out);
    // Two connections were answered 503 and one upload was cut off mid-blob; the push went
    // on over later connections, starting that blob's upload again.
    assert!(faults.connections.load(Ordering::SeqCst) > 2);
    assert!(faults.cuts.load(Ordering::SeqCst) >= 1, "an upload was cut");
    let starts = registry.requests("POST", "/v2/plain/bash/blobs/uploads/");
    assert!(starts.len() >= 3, "config, layer, layer again: {starts:?}");
    assert!(stderr(&out).contains("retrying in"), "{}", stderr(&out));
    // In chunks too: a chunk cut on the way makes that blob start over.
    let (proxy, faults) = faulty_proxy(registry.port, 0);
    let host = format!("127.0.0.1:{proxy}");
    let chunked = staves(
        &registry,
        &[
            "build",
            "-f",
            spec,
            "--push",
            &format!("{host}/chunked/bash:1"),
            "--insecure-registry",
            &host,
            "--chunk-size",
            "1",
        ],
    );
    assert_eq!(pushed_digest(&chunked), digest);
    assert_eq!(faults.cuts.load(Ordering::SeqCst), 1, "an upload was cut");
    let starts = registry.requests("POST", "/v2/chunked/bash/blobs/uploads/");
    assert!(starts.len() >= 3, "config, layer, layer again: {starts:?}");
    assert!(
        !registry
            .requests("PATCH", "/v2/chunked/bash/blobs/uploads/")
            .is_empty()
    );

    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://127.0.0.1:{}/plain/bash:1", registry.port));
    let raw = run(&mut cmd).stdout;
    assert_eq!(
        format!("sha256:{}", hex::encode(Sha256::digest(raw))),
        digest
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_sbom_is_attached_as_an_artifact_referring_to_the_image() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let sbom = dir.path().join("bash.spdx.json");
    let reference = format!("{}/staves/attached:1", registry.host());
    let push = || {
        push_bash(
            &registry,
            &reference,
            &registry.docker_config,
            &["--sbom", sbom.to_str().expect("utf8"), "--attach-sbom"],
            &[],
        )
    };
    let digest = pushed_digest(&push());
    let raw = |reference: &str| -> serde_json::Value {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw"])
            .args(registry.skopeo_args())
            .arg(format!("docker://{reference}"));
        serde_json::from_slice(&run(&mut cmd).stdout).expect("json")
    };
    // docker-registry 2.8 has no referrers API: the artifact is listed under the fallback tag.
    let tag = format!(
        "{}/staves/attached:{}",
        registry.host(),
        digest.replace(':', "-")
    );
    let referrers = raw(&tag);
    let listed = referrers["manifests"].as_array().expect("manifests");
    assert_eq!(listed.len(), 1, "{referrers}");
    assert_eq!(listed[0]["artifactType"], "application/spdx+json");
    let artifact = raw(&format!(
        "{}/staves/attached@{}",
        registry.host(),
        listed[0]["digest"].as_str().expect("digest")
    ));
    assert_eq!(artifact["subject"]["digest"], digest.as_str());
    let local = std::fs::read(&sbom).expect("sbom");
    assert_eq!(
        artifact["layers"][0]["digest"],
        format!("sha256:{}", hex::encode(Sha256::digest(&local)))
    );

    // The same image again: the same artifact, listed once.
    assert_eq!(pushed_digest(&push()), digest);
    assert_eq!(raw(&tag)["manifests"].as_array().map(Vec::len), Some(1));
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_self_signed_certificate_in_certs_d_is_trusted_for_its_registry_only() {
    let registry = Registry::start_self_signed();
    let text = run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(registry.certs_dir.join(registry.host()).join("ca.crt")));
    assert!(
        stdout(&text).contains("CA:TRUE"),
        "the fixture must be the CA-as-server case"
    );
    // skopeo accepts it, as docker and podman do…
    let reference = format!("{}/selfsigned/bash:1", registry.host());
    let out = push_example(&registry, "bash", &reference, &[]);
    // …and so does staves: the pushed image is what skopeo reads back.
    assert_eq!(remote_digest(&registry, &reference), pushed_digest(&out));

    // Without that certificate the same registry is refused.
    let other = tempfile::tempdir().expect("tmp");
    let out = push_example(
        &registry,
        "bash",
        &reference,
        &["--certs-dir", other.path().to_str().expect("utf8")],
    );
    assert!(!out.status.success(), "pushed to an untrusted registry");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_stack_is_pushed_with_each_shared_blob_uploaded_once_and_mounted_for_the_others() {
    let registry = Registry::start();
    let prefix = format!("{}/stack", registry.host());
    let stack = examples().join("stack");
    let out = staves_with(
        &registry,
        &["stack", stack.to_str().expect("utf8"), "--push", &prefix],
        &registry.docker_config,
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Every blob's upload ends in one PUT naming its digest: no digest twice.
    let mut uploaded: Vec<String> = registry
        .requests("PUT", "/blobs/uploads/")
        .iter()
        .filter_map(|l| l.split("digest=").nth(1))
        .map(|d| {
            d.split([' ', '&', '"'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let total = uploaded.len();
    // Four layers and four configs; the base's layer only once.
    assert_eq!(total, 8, "{}", registry.log());
    uploaded.sort();
    uploaded.dedup();
    assert_eq!(
        uploaded.len(),
        total,
        "a blob went up twice: {}",
        registry.log()
    );
    // The base's layer is mounted into python, nginx and the app; python's into the app.
    let mounts = registry.requests("POST", "?mount=");
    assert!(mounts.len() >= 4, "{}", registry.log());
    assert!(mounts.iter().all(|l| l.contains("\" 201 ")), "{mounts:?}");
    for name in ["stack-base", "stack-python", "stack-nginx", "stack-app"] {
        assert!(
            !registry
                .requests("PUT", &format!("/v2/stack/{name}/manifests/latest"))
                .is_empty(),
            "{name} not pushed: {}",
            registry.log()
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn an_image_is_built_on_a_base_pulled_by_digest_and_rebuilt_offline_from_the_cache() {
    // A bearer-token registry: the pull asks for a token that may only pull.
    let registry = Registry::start_with(true, Auth::Token);
    let base_ref = format!("{}/golden/base:1", registry.host());
    let digest = pushed_digest(&push_example(&registry, "stack/base", &base_ref, &[]));
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    let pinned = format!("{}/golden/base@{digest}", registry.host());
    std::fs::write(
        &spec,
        format!(
            "name = \"on-pulled\"\nbase = \"{pinned}\"\npackages = [\"hello\"]\ncommand = [\"hello\"]\nuser = \"app\"\n"
        ),
    )
    .expect("spec");
    // Not pulled before: whatever an earlier run left in the shared cache goes.
    let pulled = shared_cache().join("bases").join(digest.replace(':', "-"));
    let _ = std::fs::remove_dir_all(&pulled);
    let archive = dir.path().join("on-pulled.tar");
    let build = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            archive.to_str().expect("utf8"),
        ];
        args.extend(extra);
        staves(&registry, &args)
    };
    let out = build(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Pulled"), "{}", stderr(&out));
    let fetched = registry.requests("GET", "/v2/golden/base/blobs/");
    assert_eq!(
        fetched.len(),
        2,
        "one layer and one config: {}",
        registry.log()
    );
    assert!(
        !registry
            .requests("GET", &format!("/v2/golden/base/manifests/{digest}"))
            .is_empty()
    );

    // The base's layer, byte for byte, is the bottom of the image; it runs as the base's
    // account.
    let base_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(pulled.join("blobs/sha256").join(&digest[7..])).expect("manifest"),
    )
    .expect("json");
    let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let inspect = container(&[
        "inspect",
        "-f",
        "{{json .RootFS.Layers}}",
        "on-pulled:latest",
    ]);
    let layers: Vec<String> = serde_json::from_str(stdout(&inspect).trim()).expect("layers");
    assert_eq!(layers.len(), 2, "{layers:?}");
    let base_diff = {
        let config = &base_manifest["config"]["digest"].as_str().expect("config")[7..];
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(pulled.join("blobs/sha256").join(config)).expect("config"),
        )
        .expect("json");
        config["rootfs"]["diff_ids"][0]
            .as_str()
            .expect("diff")
            .to_owned()
    };
    assert_eq!(layers[0], base_diff);
    let ran = container(&["run", "--rm", "on-pulled:latest"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert!(stdout(&ran).contains("Hello, world!"), "{}", stdout(&ran));

    // Offline, from the cache: the registry hears nothing more.
    let before = registry.log().lines().count();
    let out = build(&["--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(registry.log().lines().count(), before, "{}", registry.log());

    // A damaged blob in the cache is not built on: it is fetched again.
    let layer = base_manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")[7..]
        .to_owned();
    let blob = pulled.join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&blob).expect("blob");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).expect("damage");
    let out = build(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let refetched = registry.requests("GET", &format!("/v2/golden/base/blobs/sha256:{layer}"));
    assert_eq!(refetched.len(), 2, "{}", registry.log());

    // A digest the registry does not hold is one clear error naming it.
    let missing = format!("sha256:{}", "0".repeat(64));
    std::fs::write(
        &spec,
        format!(
            "name = \"on-pulled\"\nbase = \"{}/golden/base@{missing}\"\npackages = [\"hello\"]\n",
            registry.host()
        ),
    )
    .expect("spec");
    let out = build(&[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&missing), "{}", stderr(&out));
    let out = build(&["--offline"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not in the cache and the build is offline"),
        "{}",
        stderr(&out)
    );
}

/// The layer digests and sizes of what the registry serves for `reference`.
fn remote_layers(registry: &Registry, reference: &str) -> Vec<(String, u64)> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"])
        .args(registry.skopeo_args())
        .arg(format!("docker://{reference}"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&run(&mut cmd).stdout).expect("manifest");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().expect("digest").to_owned(),
                l["size"].as_u64().expect("size"),
            )
        })
        .collect()
}

/// Code on a base: with `layers`, the added packages split as on their own and the spec's
/// own files are the top layer, so a one-line change pushes that layer and the config —
/// not the packages' layers again.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_one_line_code_change_on_a_base_pushes_only_the_code_layer() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("src")).expect("src");
    std::fs::write(
        app.join("staves.toml"),
        format!(
            "name = \"code-app\"\nbase = \"{}\"\npackages = [\"hello\"]\nlayers = 3\ncommand = [\"hello\"]\n\n[[paths]]\npath = \"/srv/app\"\nsource = \"src\"\n",
            examples().join("stack/base").display()
        ),
    )
    .expect("spec");
    let push = |version: &str, line: &str| {
        std::fs::write(
            app.join("src/settings.txt"),
            format!("greeting = {line}\ncolour = blue\n"),
        )
        .expect("code");
        let reference = format!("{}/staves/code-app:{version}", registry.host());
        let spec = app.join("staves.toml");
        let out = staves(
            &registry,
            &[
                "build",
                "-f",
                spec.to_str().expect("utf8"),
                "--push",
                &reference,
            ],
        );
        pushed_digest(&out);
        (stderr(&out), remote_layers(&registry, &reference))
    };
    let (_, first) = push("1", "hello");
    let (log, second) = push("2", "hello, world");
    // The base's layer, the packages' and the generated files' are the same blobs; only
    // the top one differs.
    assert!(first.len() >= 3, "{first:?}");
    assert_eq!(first.len(), second.len());
    let (top, below) = second.split_last().expect("layers");
    assert_eq!(below, &first[..first.len() - 1]);
    assert_ne!(top, first.last().expect("top"));
    let whole: u64 = second.iter().map(|(_, size)| size).sum();
    assert!(top.1 * 100 < whole, "top layer {} of {whole} bytes", top.1);
    // What went up: that layer and the image's config; the rest was there already.
    assert!(log.contains("2 blob(s) uploaded"), "{log}");
    assert!(
        log.contains(&format!("{} already there", second.len() - 1)),
        "{log}"
    );
}

/// Checks every DSSE envelope in `dir` (skopeo's `dir:` copy of an `.att` tag) with
/// securesystemslib, and the CycloneDX predicate against the 1.6 schema with
/// cyclonedx-python-lib: implementations that are not Staves'. Prints the predicate types.
const INDEPENDENT_CHECK: &str = r#"
import base64, json, pathlib, subprocess, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
public = load_pem_public_key(pathlib.Path(sys.argv[1]).read_bytes())
found = SSlibKey.from_crypto(public)
# cosign's envelopes (and Staves') name no key: the empty keyid is the one to match.
key = SSlibKey("", found.keytype, found.scheme, found.keyval)
digest = sys.argv[3]
manifest = json.loads((pathlib.Path(sys.argv[2]) / "manifest.json").read_text())
for layer in manifest["layers"]:
    assert layer["mediaType"] == "application/vnd.dsse.envelope.v1+json", layer
    envelope = Envelope.from_dict(json.loads((pathlib.Path(sys.argv[2]) / layer["digest"][7:]).read_text()))
    envelope.verify([key], 1)
    statement = json.loads(envelope.pae().split(b" ", 4)[4])
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"]["sha256"] == digest[7:], statement["subject"]
    assert layer["annotations"]["predicateType"] == statement["predicateType"]
    if statement["predicateType"] == "https://cyclonedx.org/bom":
        errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(statement["predicate"]))
        assert errors is None, errors
        assert any(c.get("purl", "").startswith("pkg:deb/debian/bash@") for c in statement["predicate"]["components"])
    if statement["predicateType"] == "https://spdx.dev/Document":
        # The predicate itself through the SPDX tools' parser and validator.
        path = pathlib.Path(sys.argv[2]) / "predicate.spdx.json"
        path.write_text(json.dumps(statement["predicate"]))
        subprocess.run(["pyspdxtools", "-i", str(path)], check=True, capture_output=True)
    print(statement["predicateType"])
"#;

/// Sigstore bundles read by the Sigstore protobuf specs' own parser (which must give the
/// same document back), their DSSE envelopes verified by securesystemslib, and each
/// Statement about the digest it is attached to. argv: public key, a `dir:` copy of the
/// referrers index, the digest; then `DIGEST=DIR` for each bundle artifact copied.
const BUNDLE_CHECK: &str = r#"
import json, pathlib, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle
public = load_pem_public_key(pathlib.Path(sys.argv[1]).read_bytes())
found = SSlibKey.from_crypto(public)
key = SSlibKey("", found.keytype, found.scheme, found.keyval)
for arg in sys.argv[3:]:
    subject, directory = arg.split("=", 1)
    directory = pathlib.Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json", manifest
    assert manifest["subject"]["digest"] == subject, manifest["subject"]
    (layer,) = manifest["layers"]
    assert layer["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    document = json.loads((directory / layer["digest"][7:]).read_text())
    bundle = Bundle.from_dict(document)
    assert bundle.media_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    # Protobuf JSON leaves out default values: an empty keyid is no field of its own.
    expected = json.loads(json.dumps(document))
    for signature in expected["dsseEnvelope"]["signatures"]:
        if signature.get("keyid") == "":
            del signature["keyid"]
    assert bundle.to_dict() == expected, (bundle.to_dict(), expected)
    envelope = Envelope.from_dict(document["dsseEnvelope"])
    envelope.verify([key], 1)
    statement = json.loads(envelope.pae().split(b" ", 4)[4])
    assert statement["subject"][0]["digest"]["sha256"] == subject[7:], statement["subject"]
    assert layer["annotations"]["dev.sigstore.bundle.predicateType"] == statement["predicateType"]
    print(statement["predicateType"])
"#;

/// `staves keygen`, `build --push --sign`, `staves verify`: signatures and attestations in
/// cosign's tag scheme on Debian's docker-registry (no referrers API), checked by
/// securesystemslib and cyclonedx-python-lib and read back with skopeo; and the refusals —
/// another key, a tag moved to another image (altered envelopes: `staves-attest`'s tests).
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn signed_images_verify_with_their_key_only_and_independent_tools_agree() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = dir.path().join("release");
    let prefix_arg = prefix.to_str().expect("utf8");
    let keygen = |prefix: &str| {
        Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["keygen", prefix])
            .output()
            .expect("keygen")
    };
    let out = keygen(prefix_arg);
    assert!(out.status.success(), "{}", stderr(&out));
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key).expect("key").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // Never over an existing key.
    assert!(!keygen(prefix_arg).status.success());

    let reference = format!("{}/staves/signed:1", registry.host());
    let out = push_example(
        &registry,
        "bash",
        &reference,
        &["--sign", key.to_str().expect("utf8")],
    );
    let digest = pushed_digest(&out);
    assert!(stderr(&out).contains("Signed"), "{}", stderr(&out));
    let certs = registry.certs_dir.to_str().expect("utf8").to_owned();
    let verify = |key: &Path, target: &str| {
        staves(
            &registry,
            &[
                "verify",
                "--json",
                "--certs-dir",
                &certs,
                "--key",
                key.to_str().expect("utf8"),
                target,
            ],
        )
    };
    let out = verify(&public, &reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["digest"], digest.as_str());
    let kinds: Vec<&str> = report["attestations"]
        .as_array()
        .expect("attestations")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
            "https://cyclonedx.org/bom"
        ]
    );
    assert!(
        report["dependencies"].as_u64().is_some_and(|n| n > 5),
        "{report}"
    );

    // The tag-scheme artifacts, read back by skopeo and checked by other implementations.
    let tag = |suffix: &str| {
        format!(
            "{}/staves/signed:{}.{suffix}",
            registry.host(),
            digest.replace(':', "-")
        )
    };
    let att = dir.path().join("att");
    skopeo_copy(
        &registry,
        &tag("att"),
        &format!("dir:{}", att.display()),
        &[],
    );
    let sig = dir.path().join("sig");
    skopeo_copy(
        &registry,
        &tag("sig"),
        &format!("dir:{}", sig.display()),
        &[],
    );
    let checked = Command::new("python3")
        .args(["-c", INDEPENDENT_CHECK])
        .arg(&public)
        .arg(&att)
        .arg(&digest)
        .output()
        .expect("python3");
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert_eq!(stdout(&checked).lines().count(), 3, "{}", stdout(&checked));

    // Refusals: another key; the tag moved to another image (whose signature is by
    // nobody); an envelope altered after signing.
    let other = dir.path().join("other");
    assert!(keygen(other.to_str().expect("utf8")).status.success());
    let out = verify(&other.with_extension("pub"), &reference);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not verify"), "{}", stderr(&out));

    let moved = push_example(&registry, "python3", &reference, &[]);
    assert!(moved.status.success(), "{}", stderr(&moved));
    let out = verify(&public, &reference);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no signature"), "{}", stderr(&out));
    // The signed digest itself still verifies.
    let pinned = format!("{}/staves/signed@{digest}", registry.host());
    assert!(verify(&public, &pinned).status.success());

    // `staves sign` signs an image already there: now the moved tag verifies, with
    // signatures but no attestations.
    let out = staves(
        &registry,
        &[
            "sign",
            "--certs-dir",
            &certs,
            "--key",
            key.to_str().expect("utf8"),
            &reference,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = verify(&public, &reference);
    assert!(out.status.success(), "{}", stderr(&out));

    // The first image's attestations put under the second's tag: signed by the key, but
    // about another image.
    let now = remote_digest(&registry, &reference);
    let cert_dir = registry.certs_dir.join(registry.host());
    skopeo_copy(
        &registry,
        &tag("att"),
        &format!(
            "docker://{}/staves/signed:{}.att",
            registry.host(),
            now.replace(':', "-")
        ),
        &[
            "--dest-creds",
            &format!("{USER}:{PASSWORD}"),
            "--dest-cert-dir",
            cert_dir.to_str().expect("utf8"),
        ],
    );
    let out = verify(&public, &reference);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("about another image"),
        "{}",
        stderr(&out)
    );
}

/// `--signature-format bundle`: Sigstore bundles (v0.3) attached as OCI 1.1 referrers —
/// on Debian's docker-registry, which has no referrers API, through the referrers tag —
/// one per manifest of a two-platform index for its signature and one per attestation;
/// read back with skopeo and checked by the Sigstore protobuf specs' parser and
/// securesystemslib; `staves verify` finds them without cosign's tags, and refuses them for
/// another key.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn bundles_attached_as_referrers_verify_independently() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    let other = dir.path().join("other");
    for prefix in [&key, &other] {
        let out = Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["keygen", prefix.to_str().expect("utf8")])
            .output()
            .expect("keygen");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let reference = format!("{}/staves/bundled:1", registry.host());
    let private = key.with_extension("key");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"bundled\"\npackages = [\"bash\"]\narchs = [\"amd64\", \"arm64\"]\n",
    )
    .expect("spec");
    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "--push",
            &reference,
            "--sign",
            private.to_str().expect("utf8"),
            "--signature-format",
            "bundle",
        ],
    );
    let digest = pushed_digest(&out);
    assert!(stderr(&out).contains("6 bundle(s)"), "{}", stderr(&out));
    let host = registry.host();
    let tag = |digest: &str, suffix: &str| {
        format!("{host}/staves/bundled:{}{suffix}", digest.replace(':', "-"))
    };
    // No cosign tags were written.
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"])
        .args(registry.skopeo_args())
        .arg(format!("docker://{}", tag(&digest, ".sig")));
    assert!(!cmd.output().expect("skopeo").status.success());

    let index: serde_json::Value =
        serde_json::from_slice(&raw(&registry, &format!("{host}/staves/bundled@{digest}")))
            .expect("index");
    let mut subjects = vec![digest.clone()];
    subjects.extend(
        index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| m["digest"].as_str().expect("digest").to_owned()),
    );
    assert_eq!(subjects.len(), 3);
    let mut args = Vec::new();
    for subject in &subjects {
        let referrers: serde_json::Value =
            serde_json::from_slice(&raw(&registry, &tag(subject, ""))).expect("referrers");
        for (n, artifact) in referrers["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .enumerate()
        {
            let copy = dir.path().join(format!("{}-{n}", &subject[7..19]));
            skopeo_copy(
                &registry,
                &format!(
                    "{host}/staves/bundled@{}",
                    artifact["digest"].as_str().expect("d")
                ),
                &format!("dir:{}", copy.display()),
                &[],
            );
            args.push(format!("{subject}={}", copy.display()));
        }
    }
    let checked = Command::new("python3")
        .args(["-c", BUNDLE_CHECK])
        .arg(key.with_extension("pub"))
        .arg(&digest)
        .args(&args)
        .output()
        .expect("python3");
    assert!(checked.status.success(), "{}", stderr(&checked));
    let printed = stdout(&checked);
    let mut kinds: Vec<&str> = printed.lines().collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "https://cyclonedx.org/bom",
            "https://sigstore.dev/cosign/sign/v1",
            "https://sigstore.dev/cosign/sign/v1",
            "https://sigstore.dev/cosign/sign/v1",
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document",
        ]
    );

    let verify = |public: &Path| {
        staves(
            &registry,
            &[
                "verify",
                "--json",
                "--certs-dir",
                registry.certs_dir.to_str().expect("utf8"),
                "--key",
                public.to_str().expect("utf8"),
                &reference,
            ],
        )
    };
    let out = verify(&key.with_extension("pub"));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["signed"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    assert_eq!(report["bundles"], 6, "{report}");
    assert_eq!(report["attestations"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["signed_as"][0], format!("{host}/staves/bundled"));
    let out = verify(&other.with_extension("pub"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no signature"), "{}", stderr(&out));
}

/// What the registry serves for `reference`, raw, through skopeo.
fn raw(registry: &Registry, reference: &str) -> Vec<u8> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw"])
        .args(registry.skopeo_args())
        .arg(format!("docker://{reference}"));
    run(&mut cmd).stdout
}

/// `verify --rebuild`: the image rebuilt from the spec and lock the signed provenance
/// names has the signed digest — a plain image, a stack's child on its base, nginx in an
/// empty cache of its own; an image whose content differs from what that spec and lock
/// give (here a file changed under the builder) is refused, naming the file, and so is one
/// whose layer was altered in the registry after it was signed.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn verify_rebuild_confirms_the_signed_digest_and_names_what_differs() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = dir.path().join("key");
    let out = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["keygen", prefix.to_str().expect("utf8")])
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", stderr(&out));
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"rebuilt\"\npackages = [\"dash\"]\ncommand = [\"/bin/sh\"]\n[[paths]]\npath = \"/srv/hello.txt\"\nsource = \"hello.txt\"\n",
    )
    .expect("spec");
    std::fs::write(dir.path().join("hello.txt"), "hello\n").expect("file");
    let spec_arg = spec.to_str().expect("utf8");
    let out = staves(&registry, &["lock", "-f", spec_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let certs = registry.certs_dir.to_str().expect("utf8").to_owned();
    let push = |tag: &str| {
        let reference = format!("{}/staves/rebuilt:{tag}", registry.host());
        let out = staves(
            &registry,
            &[
                "build",
                "-f",
                spec_arg,
                "--push",
                &reference,
                "--sign",
                prefix.with_extension("key").to_str().expect("utf8"),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        reference
    };
    let verify = |reference: &str| {
        staves(
            &registry,
            &[
                "verify",
                "--rebuild",
                "--certs-dir",
                &certs,
                "--key",
                prefix.with_extension("pub").to_str().expect("utf8"),
                "-f",
                spec_arg,
                reference,
            ],
        )
    };
    let good = push("good");
    let out = verify(&good);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rebuilt from the spec and lock"),
        "{}",
        stdout(&out)
    );

    // The builder's copy of a file differed from the one verifiers have: same spec, same
    // lock, another image.
    std::fs::write(dir.path().join("hello.txt"), "hello, altered\n").expect("file");
    let altered = push("altered");
    std::fs::write(dir.path().join("hello.txt"), "hello\n").expect("file");
    let out = verify(&altered);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("/srv/hello.txt"), "{}", stderr(&out));

    // An image of a stack, on a base spec: rebuilt on its base as it was built.
    let base = dir.path().join("base");
    let child = dir.path().join("child");
    std::fs::create_dir_all(&base).expect("dir");
    std::fs::create_dir_all(&child).expect("dir");
    std::fs::write(
        base.join("staves.toml"),
        "name = \"rebuilt-base\"\npackages = [\"dash\"]\n",
    )
    .expect("spec");
    std::fs::write(
        child.join("staves.toml"),
        "name = \"rebuilt-child\"\nbase = \"../base\"\npackages = [\"netbase\"]\ncommand = [\"/bin/sh\"]\n",
    )
    .expect("spec");
    for spec in [&base, &child] {
        let spec = spec.join("staves.toml");
        let out = staves(&registry, &["lock", "-f", spec.to_str().expect("utf8")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let child_spec = child.join("staves.toml");
    let child_ref = format!("{}/staves/rebuilt-child:1", registry.host());
    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            child_spec.to_str().expect("utf8"),
            "--push",
            &child_ref,
            "--sign",
            prefix.with_extension("key").to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = staves(
        &registry,
        &[
            "verify",
            "--rebuild",
            "--certs-dir",
            &certs,
            "--key",
            prefix.with_extension("pub").to_str().expect("utf8"),
            "-f",
            child_spec.to_str().expect("utf8"),
            &child_ref,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("rebuilt from the spec and lock"),
        "{}",
        stdout(&out)
    );

    // nginx, rebuilt in an empty cache of its own: every package from the archive again.
    let nginx = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx).expect("dir");
    let nginx_spec = nginx.join("staves.toml");
    std::fs::copy(examples().join("nginx").join("staves.toml"), &nginx_spec).expect("copy");
    let nginx_arg = nginx_spec.to_str().expect("utf8");
    let out = staves(&registry, &["lock", "-f", nginx_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let nginx_ref = format!("{}/staves/rebuilt-nginx:1", registry.host());
    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            nginx_arg,
            "--push",
            &nginx_ref,
            "--sign",
            prefix.with_extension("key").to_str().expect("utf8"),
        ],
    );
    let nginx_digest = pushed_digest(&out);
    let public = prefix.with_extension("pub");
    let verify_nginx = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "--rebuild",
            "--certs-dir",
            &certs,
            "--key",
            public.to_str().expect("utf8"),
            "-f",
            nginx_arg,
            &nginx_ref,
        ];
        args.extend(extra);
        staves(&registry, &args)
    };
    let out = verify_nginx(&["--fresh-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("rebuilt from the spec and lock: {nginx_digest}")),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("package(s)") && stderr(&out).contains("into an empty cache"),
        "{}",
        stderr(&out)
    );

    // One of its layers altered in the registry's storage after the push: the signature
    // still names the manifest, but the image is no longer what was signed.
    let manifest: serde_json::Value = serde_json::from_slice(&raw(
        &registry,
        &format!("{}/staves/rebuilt-nginx@{nginx_digest}", registry.host()),
    ))
    .expect("manifest");
    let layer = manifest["layers"][0]["digest"].as_str().expect("layer");
    let stored = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&layer[7..9])
        .join(&layer[7..])
        .join("data");
    let mut bytes = std::fs::read(&stored).expect("stored layer");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&stored, bytes).expect("alter");
    let out = verify_nginx(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(layer), "{}", stderr(&out));

    // Another spec than the provenance names is refused before anything is built.
    std::fs::write(
        &spec,
        std::fs::read_to_string(&spec).expect("spec") + "\n# edited\n",
    )
    .expect("spec");
    let out = verify(&good);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not the spec"), "{}", stderr(&out));
}

/// `build -o DIR --sign`: signatures and attestations written into the layout as OCI 1.1
/// artifacts referring to the image (checked against image-spec 1.1's rules), verified
/// from the layout, and carried by `staves push` into the registry, where they verify too.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_layout_signed_offline_carries_its_signatures_when_pushed() {
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    let out = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["keygen", key.to_str().expect("utf8")])
        .output()
        .expect("keygen");
    assert!(out.status.success(), "{}", stderr(&out));
    let (private, public) = (key.with_extension("key"), key.with_extension("pub"));
    let layout = dir.path().join("layout");
    let spec = examples().join("bash").join("staves.toml");
    let out = staves(
        &registry,
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
            "--sign",
            private.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // image-spec 1.1: each artifact is a manifest with an artifactType, the empty config,
    // and a subject that is the image's descriptor; the index lists it with its type.
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
    };
    let index = read(&layout.join("index.json"));
    let entries = index["manifests"].as_array().expect("manifests");
    let image = entries
        .iter()
        .find(|e| e.get("artifactType").is_none())
        .expect("the image");
    let artifacts: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e.get("artifactType").is_some())
        .collect();
    let of_type = |t: &str| artifacts.iter().filter(|e| e["artifactType"] == t).count();
    assert_eq!(
        artifacts.len(),
        8,
        "a signature and three attestations, in cosign's form and as bundles: {index}"
    );
    assert_eq!(
        of_type("application/vnd.dev.sigstore.bundle.v0.3+json"),
        4,
        "{index}"
    );
    assert_eq!(
        of_type("application/vnd.dev.cosign.simplesigning.v1+json"),
        1,
        "{index}"
    );
    for entry in &artifacts {
        let digest = entry["digest"].as_str().expect("digest");
        let manifest = read(&layout.join("blobs/sha256").join(&digest[7..]));
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(manifest["artifactType"], entry["artifactType"]);
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(manifest["config"]["size"], 2);
        assert_eq!(manifest["subject"]["digest"], image["digest"]);
        assert_eq!(manifest["subject"]["size"], image["size"]);
        assert_eq!(manifest["subject"]["mediaType"], image["mediaType"]);
    }
    let verify = |target: &str| {
        staves(
            &registry,
            &[
                "verify",
                "--json",
                "--certs-dir",
                registry.certs_dir.to_str().expect("utf8"),
                "--key",
                public.to_str().expect("utf8"),
                target,
            ],
        )
    };
    let out = verify(layout.to_str().expect("utf8"));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["attestations"].as_array().map(Vec::len), Some(3));
    assert_eq!(report["bundles"], 4, "{report}");

    let reference = format!("{}/staves/offline:1", registry.host());
    let out = staves(
        &registry,
        &["push", layout.to_str().expect("utf8"), &reference],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Carried 4"), "{}", stderr(&out));
    let out = verify(&reference);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["digest"], image["digest"]);
    assert_eq!(report["attestations"].as_array().map(Vec::len), Some(3));
}
