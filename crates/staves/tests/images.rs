//! Images built from the real Debian archive (host apt sources) and run for real: bash, nginx,
//! python3 and curl in Docker (podman with runc where Docker is absent); the OCI layout
//! checked with skopeo and umoci; the dpkg database read by dpkg-query; builds repeated
//! bit for bit.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::engine::container;
use support::{examples, free_port, run, shared_cache, stderr, stdout};

fn staves(args: &[&str], cache: &Path, envs: &[(&str, &str)]) -> Output {
    let mut cmd = support::staves_command(args, cache);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run staves")
}

fn build(spec: &Path, output: &Path) {
    let out = staves(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            output.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(out.status.success(), "build failed: {}", stderr(&out));
}

fn load(archive: &Path) {
    let out = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(out.status.success(), "load failed: {}", stderr(&out));
}

fn http_get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn bash_says_hello() {
    let dir = tempfile::tempdir().expect("tmp");
    let archive = dir.path().join("bash.tar");
    build(&examples().join("bash/staves.toml"), &archive);
    load(&archive);
    let out = container(&["run", "--rm", "bash:latest"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hello World!\n");
    // Alternatives set up without running mawk's postinst, on merged /usr.
    let out = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "/bin/awk",
        "bash:latest",
        "BEGIN { print 6 * 7 }",
    ]);
    assert_eq!(stdout(&out).trim(), "42", "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn nginx_serves_a_page() {
    let dir = tempfile::tempdir().expect("tmp");
    let archive = dir.path().join("nginx.tar");
    build(&examples().join("nginx/staves.toml"), &archive);
    load(&archive);
    let port = free_port();
    let name = format!("staves-nginx-{port}");
    let out = container(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "nginx:latest",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut page = None;
    while Instant::now() < deadline && page.is_none() {
        page = http_get(port).filter(|p| p.contains("200 OK"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = container(&["logs", &name]);
    container(&["rm", "-f", &name]);
    let page = page.unwrap_or_else(|| panic!("nginx did not answer: {}", stderr(&logs)));
    assert!(page.contains("Welcome to nginx!"), "{page}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn python3_imports_its_standard_library() {
    let dir = tempfile::tempdir().expect("tmp");
    let archive = dir.path().join("python3.tar");
    build(&examples().join("python3/staves.toml"), &archive);
    load(&archive);
    let out = container(&[
        "run",
        "--rm",
        "python3:latest",
        "-c",
        "import ssl, sqlite3, json; print(ssl.OPENSSL_VERSION.split()[0], sqlite3.sqlite_version_info >= (3, 0), json.dumps([1]))",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "OpenSSL True [1]");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn curl_trusts_a_local_https_server_through_ca_certificates() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    support::pki::local_ca(d);
    std::fs::write(d.join("index.html"), "hello over tls\n").expect("page");

    let port = free_port();
    let server_script = format!(
        "import http.server, ssl\nh = http.server.SimpleHTTPRequestHandler\ns = http.server.HTTPServer(('127.0.0.1', {port}), h)\nc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\nc.load_cert_chain('server.crt', 'server.key')\ns.socket = c.wrap_socket(s.socket, server_side=True)\ns.serve_forever()\n"
    );
    let mut server = Command::new("python3")
        .current_dir(d)
        .args(["-c", &server_script])
        .spawn()
        .expect("https server");

    let spec = std::fs::read_to_string(examples().join("curl/staves.toml")).expect("example");
    let spec = format!(
        "{spec}\n[[paths]]\npath = \"/usr/local/share/ca-certificates/staves-test.crt\"\nsource = \"ca.crt\"\n"
    );
    std::fs::write(d.join("staves.toml"), spec).expect("spec");
    let archive = d.join("curl.tar");
    build(&d.join("staves.toml"), &archive);
    load(&archive);
    let url = format!("https://127.0.0.1:{port}/index.html");
    let mut out = container(&[
        "run",
        "--rm",
        "--network",
        "host",
        "curl:latest",
        "-sS",
        "--retry",
        "5",
        "--retry-connrefused",
        &url,
    ]);
    if !out.status.success() {
        std::thread::sleep(Duration::from_secs(1));
        out = container(&[
            "run",
            "--rm",
            "--network",
            "host",
            "curl:latest",
            "-sS",
            &url,
        ]);
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "curl failed: {}", stderr(&out));
    assert_eq!(stdout(&out), "hello over tls\n");
    // And it runs as the unprivileged account from the spec.
    // The image holds no `id`; curl reads its own process status instead.
    let out = container(&[
        "run",
        "--rm",
        "curl:latest",
        "-s",
        "file:///proc/self/status",
    ]);
    let uid = stdout(&out)
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned());
    assert_eq!(uid.as_deref(), Some("1000"), "{}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn builds_are_bit_identical_across_directories_and_caches() {
    let one = tempfile::tempdir().expect("tmp");
    let two = tempfile::tempdir().expect("tmp");
    for d in [&one, &two] {
        std::fs::copy(
            examples().join("bash/staves.toml"),
            d.path().join("staves.toml"),
        )
        .expect("copy");
    }
    // The first build uses the shared warm cache, the second a cold cache of its own.
    let a = staves(
        &[
            "build",
            "-f",
            one.path().join("staves.toml").to_str().expect("utf8"),
            "-o",
            one.path().join("image.tar").to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(a.status.success(), "{}", stderr(&a));
    let b = staves(
        &[
            "build",
            "-f",
            two.path().join("staves.toml").to_str().expect("utf8"),
            "-o",
            two.path().join("image.tar").to_str().expect("utf8"),
        ],
        &two.path().join("cold-cache"),
        &[],
    );
    assert!(b.status.success(), "{}", stderr(&b));
    let first = std::fs::read(one.path().join("image.tar")).expect("read");
    let second = std::fs::read(two.path().join("image.tar")).expect("read");
    assert!(first == second, "the two builds differ");

    // SOURCE_DATE_EPOCH is honoured, and changes the bytes.
    let c = staves(
        &[
            "build",
            "-f",
            one.path().join("staves.toml").to_str().expect("utf8"),
            "-o",
            one.path().join("epoch.tar").to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(c.status.success(), "{}", stderr(&c));
    let epoch = std::fs::read(one.path().join("epoch.tar")).expect("read");
    assert!(epoch != first);
    let layout = one.path().join("layout");
    let d = staves(
        &[
            "build",
            "-f",
            one.path().join("staves.toml").to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    );
    assert!(d.status.success(), "{}", stderr(&d));
    let index = std::fs::read_to_string(layout.join("index.json")).expect("index");
    let config_created = walk_json_for(&layout, "\"created\":\"2023-11-14T22:13:20Z\"");
    assert!(
        config_created,
        "config must carry SOURCE_DATE_EPOCH as its creation date; index: {index}"
    );
}

fn walk_json_for(layout: &Path, needle: &str) -> bool {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten().any(|e| {
                std::fs::metadata(e.path()).is_ok_and(|m| m.len() < 100_000)
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle))
            })
        })
        .unwrap_or(false)
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn oci_layout_passes_skopeo_and_umoci_and_dpkg_sees_every_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::copy(examples().join("bash/staves.toml"), &spec).expect("copy");
    let lock = staves(
        &["lock", "-f", spec.to_str().expect("utf8")],
        &shared_cache(),
        &[],
    );
    assert!(lock.status.success(), "{}", stderr(&lock));
    let layout = dir.path().join("layout");
    build(&spec, &layout);

    let inspect = run(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", layout.display())));
    let info: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("skopeo json");
    assert_eq!(info["Architecture"], support::host_arch());
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(1));

    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", layout.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_link(rootfs.join("bin")).expect("bin is a link"),
        Path::new("usr/bin")
    );
    assert!(rootfs.join("usr/bin/bash").is_file());
    assert!(
        !rootfs.join("usr/share/man/man1/bash.1.gz").exists(),
        "man pages are off by default"
    );
    assert!(
        rootfs.join("usr/share/doc/bash/copyright").is_file(),
        "licences always stay"
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .expect("passwd")
            .contains("www-data:*:33:33:"),
        "without passwd (no shadowconfig), base-passwd's entries stay locked in place, as in Debian"
    );
    assert!(
        !rootfs.join("etc/shadow").exists(),
        "no shadow file without passwd"
    );

    // dpkg itself finds its database whole: every kept file matches its md5sums, every
    // conffile its recorded checksum, no package half-installed; a changed conffile shows.
    let verify = |what: &str| {
        let mut cmd = Command::new("dpkg");
        cmd.arg(format!("--root={}", rootfs.display())).arg(what);
        cmd.output().expect("dpkg")
    };
    for what in ["--verify", "--audit"] {
        let out = verify(what);
        assert!(out.status.success(), "dpkg {what}: {}", stderr(&out));
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("", ""),
            "dpkg {what}"
        );
    }
    let bashrc = rootfs.join("etc/bash.bashrc");
    let mut text = std::fs::read_to_string(&bashrc).expect("bash.bashrc");
    text.push_str("# changed\n");
    std::fs::write(&bashrc, text).expect("write");
    assert_eq!(
        stdout(&verify("--verify")),
        "??5?????? c /etc/bash.bashrc\n"
    );

    let query = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            rootfs.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Package} ${Version} ${db:Status-Abbrev}\n"]));
    let mut seen: Vec<String> = stdout(&query).lines().map(str::to_owned).collect();
    seen.sort();
    let locked = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    let lock: toml::Value = toml::from_str(&locked).expect("lock toml");
    let mut expected: Vec<String> = lock["target"][0]["package"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            format!(
                "{} {} ii ",
                p["name"].as_str().unwrap_or(""),
                p["version"].as_str().unwrap_or("")
            )
        })
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    let files = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            rootfs.join("var/lib/dpkg").display()
        ))
        .args(["-L", "bash"]));
    assert!(
        stdout(&files).lines().any(|l| l == "/bin/bash"),
        "{}",
        stdout(&files)
    );
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn zstd_layers_decompress_to_their_diff_id() {
    let dir = tempfile::tempdir().expect("tmp");
    let layout = dir.path().join("layout");
    let out = staves(
        &[
            "build",
            "-f",
            examples().join("bash/staves.toml").to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
            "--compression",
            "zstd",
        ],
        &shared_cache(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let read_json = |digest: &str| -> serde_json::Value {
        let path = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).expect("blob")).expect("json")
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let manifest = read_json(index["manifests"][0]["digest"].as_str().expect("digest"));
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let config = read_json(manifest["config"]["digest"].as_str().expect("digest"));
    let blob = layout.join("blobs/sha256").join(
        layer["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:"),
    );
    let plain = run(Command::new("zstd").args(["-d", "-c"]).arg(&blob));
    let digest = {
        use std::fmt::Write as _;
        let hash = <sha2::Sha256 as sha2::Digest>::digest(&plain.stdout);
        hash.iter().fold(String::from("sha256:"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    assert_eq!(
        config["rootfs"]["diff_ids"][0].as_str(),
        Some(digest.as_str())
    );
}

/// Every shipped example builds without a warning: a warning a user cannot act on (a shell
/// for a script no container runs, s6's own) teaches them to ignore the real ones.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_shipped_examples_build_without_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    // The language examples fetch from the indices this machine's pip and cargo use.
    let index = support::pip_index();
    let cargo_home = support::cargo_home_with_host_registry(dir.path());
    let cargo_home = cargo_home.to_str().expect("utf8");
    let mut built = 0;
    for entry in std::fs::read_dir(examples()).expect("examples").flatten() {
        let spec = entry.path().join("staves.toml");
        let name = entry.file_name().to_string_lossy().into_owned();
        // `repository` needs its server running; `stack` is a tree (its own test builds it).
        if !spec.is_file() || name == "repository" {
            continue;
        }
        let out = staves(
            &[
                "build",
                "-f",
                spec.to_str().expect("utf8"),
                "-o",
                dir.path()
                    .join(format!("{name}.tar"))
                    .to_str()
                    .expect("utf8"),
            ],
            &shared_cache(),
            &[("PIP_INDEX_URL", &index), ("CARGO_HOME", cargo_home)],
        );
        let log = stderr(&out);
        assert!(out.status.success(), "{name}: {log}");
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.trim_start().starts_with("Warning"))
            .collect();
        assert!(warnings.is_empty(), "{name}: {warnings:#?}");
        built += 1;
    }
    assert!(built >= 10, "{built} examples");
}

/// slapd's postinst once made the build fail (a directory at `/` reached the layer); it
/// builds, and its daemon runs.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn slapd_builds_and_its_daemon_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(&spec, "name = \"staves-slapd\"\npackages = [\"slapd\"]\n").expect("spec");
    let archive = dir.path().join("slapd.tar");
    build(&spec, &archive);
    load(&archive);
    let out = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "/usr/sbin/slapd",
        "staves-slapd:latest",
        "-VV",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("slapd 2."), "{}", stderr(&out));
}

/// `/etc/ssl/certs` is the directory `update-ca-certificates` leaves: OpenSSL finds a
/// packaged root and a local one (added by `[[paths]]`) by subject hash through `-CApath`.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn openssl_finds_packaged_and_local_roots_through_capath() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = dir.path().join("test-ca.crt");
    let key = dir.path().join("test-ca.key");
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Staves  Test\tCA/O=Example",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&ca));
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-capath\"\npackages = [\"openssl\", \"ca-certificates\"]\ninit = false\n\n[[paths]]\npath = \"/usr/local/share/ca-certificates/test-ca.crt\"\nsource = \"test-ca.crt\"\n",
    )
    .expect("spec");
    let archive = dir.path().join("capath.tar");
    build(&spec, &archive);
    load(&archive);
    let verify = |capath: &str, certificate: &str| {
        container(&[
            "run",
            "--rm",
            "--entrypoint",
            "/usr/bin/openssl",
            "staves-capath:latest",
            "verify",
            // Only the directory given: no bundle, no default directory, no store.
            "-no-CAfile",
            "-no-CApath",
            "-no-CAstore",
            "-CApath",
            capath,
            certificate,
        ])
    };
    for certificate in [
        "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt",
        "/usr/local/share/ca-certificates/test-ca.crt",
    ] {
        let out = verify("/etc/ssl/certs", certificate);
        assert!(out.status.success(), "{certificate}: {}", stderr(&out));
        assert!(stdout(&out).contains(": OK"), "{}", stdout(&out));
        // Not through the bundle: an empty directory finds nothing.
        let out = verify("/usr/share/doc", certificate);
        assert!(!out.status.success(), "{certificate}: {}", stdout(&out));
    }
}

/// Java's trust store is the keystore `ca-certificates-java` would build: a Java program in
/// the image opens an HTTPS connection to a 127.0.0.1 server signed by a local authority
/// added to the image, and is refused by one signed by an authority the image lacks.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn java_trusts_a_local_authority_through_its_cacerts() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let trusted = support::pki::local_ca(d);
    let other = d.join("other");
    std::fs::create_dir_all(&other).expect("dir");
    let untrusted = support::pki::local_ca(&other);
    std::fs::write(
        d.join("Fetch.java"),
        "public class Fetch {\n  public static void main(String[] args) throws Exception {\n    try (var in = new java.net.URL(args[0]).openStream()) {\n      System.out.print(new String(in.readAllBytes()));\n    }\n  }\n}\n",
    )
    .expect("source");
    run(Command::new("javac")
        .current_dir(d)
        .args(["--release", "11", "Fetch.java"]));
    let spec = d.join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-java-tls\"\npackages = [\"default-jre-headless\", \"ca-certificates-java\"]\ninit = false\n\n[[paths]]\npath = \"/usr/local/share/ca-certificates/test-ca.crt\"\nsource = \"ca.crt\"\n\n[[paths]]\npath = \"/opt/fetch/Fetch.class\"\nsource = \"Fetch.class\"\n",
    )
    .expect("spec");
    let archive = d.join("java.tar");
    build(&spec, &archive);
    load(&archive);

    // The store opens with Debian's password, so its integrity digest is right.
    let out = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "/usr/bin/keytool",
        "staves-java-tls:latest",
        "-list",
        "-cacerts",
        "-storepass",
        "changeit",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("debian:test-ca.pem"),
        "{}",
        stdout(&out)
    );

    let fetch = |pki: &support::pki::Pki, served: &Path| {
        std::fs::write(served.join("page.txt"), "hello from java\n").expect("page");
        let (mut server, port) = pki.serve(served);
        let url = format!("https://127.0.0.1:{port}/page.txt");
        let out = container(&[
            "run",
            "--rm",
            "--network",
            "host",
            "--entrypoint",
            "/usr/bin/java",
            "staves-java-tls:latest",
            "-cp",
            "/opt/fetch",
            "Fetch",
            &url,
        ]);
        let _ = server.kill();
        let _ = server.wait();
        out
    };
    let out = fetch(&trusted, d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from java\n");
    let out = fetch(&untrusted, &other);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("SSLHandshakeException") && stderr(&out).contains("PKIX path"),
        "{}",
        stderr(&out)
    );
}

/// An image loaded into the engine reads back as the archive it was loaded from:
/// `inspect docker:NAME` (or `podman:NAME`) lists the same packages, configuration and
/// files.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn an_image_in_the_engine_store_inspects_as_its_archive() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-inspect-store\"\npackages = [\"dash\"]\ncommand = [\"/bin/sh\"]\n",
    )
    .expect("spec");
    let archive = dir.path().join("image.tar");
    build(&spec, &archive);
    load(&archive);
    let inspect = |target: &str| {
        let out = run(Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["inspect", "--files", "--json", target]));
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        // Only what an engine keeps is compared: it re-packs layers (their digests) and
        // may drop the manifest's own.
        json.as_object_mut().expect("object").remove("digest");
        json
    };
    let engine = if support::engine::is_podman() {
        "podman"
    } else {
        "docker"
    };
    let from_store = inspect(&format!("{engine}:staves-inspect-store:latest"));
    let from_archive = inspect(archive.to_str().expect("utf8"));
    assert_eq!(from_store["packages"], from_archive["packages"]);
    assert_eq!(from_store["config"], from_archive["config"]);
    assert_eq!(from_store["files"], from_archive["files"]);
    assert!(from_store["file_count"].as_u64().is_some_and(|n| n > 100));

    let missing = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["inspect", &format!("{engine}:staves-no-such-image:latest")])
        .output()
        .expect("run");
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("save"), "{}", stderr(&missing));

    // The image in the store is a base: its layers come over byte for byte beneath the
    // new one, its dpkg database says what is installed, and the result runs.
    let child = dir.path().join("child");
    std::fs::create_dir_all(&child).expect("dir");
    std::fs::write(
        child.join("staves.toml"),
        format!(
            "name = \"staves-on-store-base\"\nbase = \"{engine}:staves-inspect-store:latest\"\npackages = [\"netbase\"]\ncommand = [\"/bin/sh\", \"-c\", \"test -s /etc/protocols && echo on-the-store-base\"]\n"
        ),
    )
    .expect("spec");
    let child_archive = dir.path().join("child.tar");
    build(&child.join("staves.toml"), &child_archive);
    let on_base = inspect(child_archive.to_str().expect("utf8"));
    let names: Vec<&str> = on_base["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"dash") && names.contains(&"netbase"),
        "{names:?}"
    );
    load(&child_archive);
    let ran = container(&["run", "--rm", "staves-on-store-base:latest"]);
    assert!(
        stdout(&ran).contains("on-the-store-base"),
        "{}",
        stderr(&ran)
    );
    // Read again, the same store image is the same base: nothing is rebuilt.
    let again = staves(
        &[
            "build",
            "-f",
            child.join("staves.toml").to_str().expect("utf8"),
            "-o",
            child_archive.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(stderr(&again).contains("Unchanged"), "{}", stderr(&again));
}

/// `build --debug`: the image and `TAG-debug` in one layout, the variant's layers the
/// image's plus one; the variant has busybox's commands on PATH, the image none of them;
/// and the variant debugs a running container of the image by sharing its processes.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_debug_variant_shares_every_layer_and_debugs_the_running_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"staves-debuggee\"\npackages = [\"coreutils\"]\nexclude = [\"dash\"]\ncommand = [\"sleep\", \"600\"]\n",
    )
    .expect("spec");
    let layout = dir.path().join("layout");
    let out = staves(
        &[
            "build",
            "--debug",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
    };
    let index = read(&layout.join("index.json"));
    let manifest_of = |tag: &str| {
        let entry = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("{tag} in {index}"));
        let digest = entry["digest"].as_str().expect("digest");
        read(&layout.join("blobs/sha256").join(&digest[7..]))
    };
    let layers = |m: &serde_json::Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("digest").to_owned())
            .collect()
    };
    let image = layers(&manifest_of("latest"));
    let debug = layers(&manifest_of("latest-debug"));
    assert_eq!(debug.len(), image.len() + 1);
    assert_eq!(debug[..image.len()], image[..], "every layer shared");

    let archive = dir.path().join("image.tar");
    let out = staves(
        &[
            "build",
            "--debug",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            archive.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    load(&archive);
    load(&dir.path().join("image-debug.tar"));
    // The image has no shell; its variant has busybox's, and its commands on PATH.
    let no_shell = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "/busybox/sh",
        "staves-debuggee:latest",
    ]);
    assert!(!no_shell.status.success());
    let listed = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "/busybox/sh",
        "staves-debuggee:latest-debug",
        "-c",
        "ls /busybox | wc -l; wget --help 2>&1 | head -1",
    ]);
    let said = stdout(&listed);
    let count: usize = said
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_default();
    assert!(count > 100, "{said} {}", stderr(&listed));

    // The sidecar way: the variant joins a running container's processes.
    let name = format!("staves-debuggee-{}", std::process::id());
    let started = container(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &name,
        "staves-debuggee:latest",
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let pid = format!("container:{name}");
    let ps = container(&[
        "run",
        "--rm",
        "--pid",
        &pid,
        "--entrypoint",
        "/busybox/ps",
        "staves-debuggee:latest-debug",
    ]);
    let _ = container(&["rm", "-f", &name]);
    assert!(
        stdout(&ps).contains("sleep 600"),
        "{}{}",
        stdout(&ps),
        stderr(&ps)
    );

    // `debug = true` in the spec, with the tools it names instead of busybox: resolved on
    // top of what the image holds.
    std::fs::write(
        &spec,
        "name = \"staves-debuggee\"\npackages = [\"coreutils\"]\nexclude = [\"dash\"]\ncommand = [\"sleep\", \"600\"]\ndebug = true\ndebug-packages = [\"procps\"]\n",
    )
    .expect("spec");
    let layout = dir.path().join("named");
    let out = staves(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            layout.to_str().expect("utf8"),
        ],
        &shared_cache(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let files = |tag: &str| {
        let out = run(Command::new(env!("CARGO_BIN_EXE_staves")).args([
            "inspect",
            "--files",
            "--json",
            &format!("{}:{tag}", layout.display()),
        ]));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        json["files"].to_string()
    };
    assert!(files("latest-debug").contains("/usr/bin/ps"));
    assert!(!files("latest").contains("/usr/bin/ps"));
}
