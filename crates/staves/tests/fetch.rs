//! `[fetch] pip`: a recipe's Python requirements fetched before its sandbox by hash — from
//! an index served on 127.0.0.1 for what must fail (a hash the index does not have, a file
//! whose bytes are not its hash, a yanked release, an unknown project, a requirement
//! without a hash) and for an index behind basic auth, and from the real package index,
//! named as the host's pip names it — offered to the build read-only so that `pip install
//! -r requirements.txt` just works without network, and run in the image.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use support::server::Server;
use support::{shared_cache, staves_command, stderr};

/// Writes the wheel `greet-1.0-py3-none-any.whl` (a module saying `said`) into `dir`.
fn wheel(dir: &Path, said: &str) -> PathBuf {
    let path = dir.join("greet-1.0-py3-none-any.whl");
    let script = r#"
import base64, hashlib, sys, zipfile
path, said = sys.argv[1], sys.argv[2]
files = {
    "greet/__init__.py": f"def hello():\n    return {said!r}\n",
    "greet-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n",
    "greet-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(text.encode())}")
record.append("greet-1.0.dist-info/RECORD,,")
files["greet-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(path, "w") as z:
    for name, text in files.items():
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
        z.writestr(info, text)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .arg(said)
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).expect("read")))
}

/// A PEP 691 index in `root`: `simple/greet/` lists `wheel` as the file of hash `listed`.
fn index(root: &Path, wheel: &Path, listed: &str, yanked: bool) {
    let files = root.join("files");
    std::fs::create_dir_all(&files).expect("dir");
    std::fs::copy(wheel, files.join("greet-1.0-py3-none-any.whl")).expect("copy");
    let page = root.join("simple/greet");
    std::fs::create_dir_all(&page).expect("dir");
    let json = serde_json::json!({
        "meta": {"api-version": "1.0"},
        "name": "greet",
        "files": [{
            "filename": "greet-1.0-py3-none-any.whl",
            "url": "../../files/greet-1.0-py3-none-any.whl",
            "hashes": {"sha256": listed},
            "yanked": yanked,
        }],
    });
    std::fs::write(page.join("index.html"), json.to_string()).expect("page");
}

/// A recipe installing `requirements` with pip, and a spec running it.
fn app(dir: &Path, requirements: &str, index: Option<&str>, import: &str) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("dir");
    std::fs::write(src.join("requirements.txt"), requirements).expect("requirements");
    let index = index
        .map(|url| format!("pip-index = \"{url}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        dir.join("app.toml"),
        format!(
            r#"name = "fetched-app"
version = "1.0-1"
description = "Runs with what pip installed from fetched files"
architecture = "all"
source = "src"
build-depends = ["python3-pip"]
depends = ["python3"]
install = """
python3 -m pip install --no-deps --no-compile --require-hashes --disable-pip-version-check \
  --break-system-packages --target "$DESTDIR/usr/lib/python3/dist-packages" -r requirements.txt
"""
source-date-epoch = 1767225600

[fetch]
pip = "src/requirements.txt"
{index}"#
        ),
    )
    .expect("recipe");
    let spec = dir.join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"staves-test-fetched\"\npackages = [\"fetched-app\"]\nrecipes = [\"app.toml\"]\ncommand = [\"python3\", \"-c\", \"import {import}; print({import}.__name__, 'ok', getattr({import}, 'hello', lambda: '')())\"]\n"
        ),
    )
    .expect("spec");
    spec
}

fn build(spec: &Path, cache: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let archive = spec.with_file_name("image.tar");
    let mut args = vec![
        "build",
        "-f",
        spec.to_str().expect("utf8"),
        "-o",
        archive.to_str().expect("utf8"),
    ];
    args.extend(extra);
    let mut cmd = staves_command(&args, cache);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("staves build")
}

fn run_image(spec: &Path) -> String {
    support::run_archive(
        &spec.with_file_name("image.tar"),
        "staves-test-fetched:latest",
    )
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn pip_requirements_are_fetched_by_hash_and_installed_without_network() {
    let dir = tempfile::tempdir().expect("tmp");
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).expect("dir");
    let good = wheel(&wheels, "hello from a fetched wheel");
    let hash = sha256(&good);
    let served = dir.path().join("index");
    index(&served, &good, &hash, false);
    let server = Server::start(served.clone());
    let simple = format!("{}/simple", server.base);
    let cache = dir.path().join("cache");
    let requirement = format!("greet==1.0 \\\n    --hash=sha256:{hash}\n");

    // Fetched from the index, installed by pip in the sandbox, run in the image.
    let app_dir = dir.path().join("app");
    let spec = app(&app_dir, &requirement, Some(&simple), "greet");
    let out = build(&spec, &cache, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        run_image(&spec).contains("greet ok hello from a fetched wheel"),
        "the image runs the fetched package"
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.contains("greet-1.0-py3-none-any.whl")),
        "{:?}",
        server.requests()
    );

    // The same inputs in an empty cache: the same package, byte for byte.
    let again = dir.path().join("cache-again");
    let out = build(&spec, &again, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(support::built_debs(&cache), support::built_debs(&again));
    assert_eq!(support::built_debs(&cache).len(), 1);

    // Offline, from the cache alone: the index is not asked.
    let asked = server.requests().len();
    let out = build(&spec, &cache, &["--offline", "--fresh"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.requests().len(), asked);

    // What must fail, each naming the requirement's line.
    let refused = |name: &str, requirements: &str, tamper: &dyn Fn(&Path)| -> String {
        let root = dir.path().join(format!("index-{name}"));
        index(&root, &good, &hash, false);
        tamper(&root);
        let server = Server::start(root);
        let app_dir = dir.path().join(name);
        let spec = app(
            &app_dir,
            requirements,
            Some(&format!("{}/simple", server.base)),
            "greet",
        );
        let out = build(&spec, &dir.path().join(format!("cache-{name}")), &[], &[]);
        assert!(!out.status.success(), "{name}: built");
        stderr(&out)
    };
    let other = "b".repeat(64);
    let message = refused(
        "unknown-hash",
        &format!("# pinned\ngreet==1.0 --hash=sha256:{other}\n"),
        &|_| {},
    );
    assert!(
        message.contains("requirements.txt:2:1") && message.contains("no file of greet==1.0"),
        "{message}"
    );
    let message = refused("no-hash", "greet==1.0\n", &|_| {});
    assert!(
        message.contains("requirements.txt:1:1") && message.contains("no `--hash`"),
        "{message}"
    );
    let message = refused("yanked", &requirement, &|root| {
        index(root, &good, &hash, true)
    });
    assert!(message.contains("yanked"), "{message}");
    let message = refused("unknown-project", &requirement, &|root| {
        std::fs::remove_dir_all(root.join("simple/greet")).expect("remove");
    });
    assert!(message.contains("no project greet"), "{message}");
    // A manylinux wheel with its own copy of a system library.
    let bundling = dir.path().join("bundling");
    std::fs::create_dir_all(&bundling).expect("dir");
    let manylinux = bundling.join("greet-1.0-cp311-cp311-manylinux_2_17_x86_64.whl");
    let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    z.writestr('greet/__init__.py', '')\n    z.writestr('greet.libs/libjpeg-77ae51ab.so.62', 'elf')\n";
    let made = Command::new("python3")
        .args(["-c", script])
        .arg(&manylinux)
        .output()
        .expect("python3");
    assert!(made.status.success(), "{}", stderr(&made));
    let bundled_hash = sha256(&manylinux);
    let message = refused(
        "bundled",
        &format!("greet==1.0 --hash=sha256:{bundled_hash}\n"),
        &|root| {
            std::fs::copy(
                &manylinux,
                root.join("files")
                    .join(manylinux.file_name().expect("name")),
            )
            .expect("copy");
            let json = serde_json::json!({
                "meta": {"api-version": "1.0"},
                "name": "greet",
                "files": [{
                    "filename": manylinux.file_name().expect("name").to_str().expect("utf8"),
                    "url": format!("../../files/{}", manylinux.file_name().expect("name").to_str().expect("utf8")),
                    "hashes": {"sha256": bundled_hash},
                }],
            });
            std::fs::write(root.join("simple/greet/index.html"), json.to_string()).expect("page");
        },
    );
    assert!(
        message.contains("requirements.txt:1:1")
            && message.contains("greet.libs/libjpeg-77ae51ab.so.62")
            && message.contains("allow-bundled-libraries"),
        "{message}"
    );

    // The index lists the good hash, but serves other bytes.
    let message = refused("mismatch", &requirement, &|root| {
        wheel(&root.join("files"), "hello from a tampered wheel");
    });
    assert!(
        message.contains("greet-1.0-py3-none-any.whl")
            && message.to_lowercase().contains("sha-256")
            || message.contains("checksum"),
        "{message}"
    );
}

/// The real package index, as the host's pip names it (never written here), a requirement
/// pinned with the hash of its wheel: fetched, installed in the sandbox, imported in the
/// image.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_requirement_from_the_real_index_is_fetched_by_its_hash() {
    let index = support::pip_index();
    let dir = tempfile::tempdir().expect("tmp");
    let spec = app(
        dir.path(),
        "six==1.16.0 \\\n    --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n",
        None,
        "six",
    );
    let out = build(&spec, &shared_cache(), &[], &[("PIP_INDEX_URL", &index)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run_image(&spec).contains("six ok"));
}

/// A private index behind basic auth: a 401 that says where credentials are read, then the
/// requirement fetched with apt's credential format (`--auth-file`), the password never
/// printed.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_private_index_behind_basic_auth_reads_apt_credentials() {
    const PASSWORD: &str = "index-pa55-71c3";
    let dir = tempfile::tempdir().expect("tmp");
    let wheels = dir.path().join("wheels");
    std::fs::create_dir_all(&wheels).expect("dir");
    let good = wheel(&wheels, "hello from a private index");
    let hash = sha256(&good);
    let served = dir.path().join("index");
    index(&served, &good, &hash, false);
    let server = Server::start(served);
    let header = {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s 'alice:{PASSWORD}' | base64 -w0"))
            .output()
            .expect("base64");
        format!("Basic {}", String::from_utf8_lossy(&out.stdout))
    };
    server.faults.lock().expect("faults").authorization = Some(header);
    let spec = app(
        &dir.path().join("app"),
        &format!("greet==1.0 --hash=sha256:{hash}\n"),
        Some(&format!("{}/simple", server.base)),
        "greet",
    );
    let cache = dir.path().join("cache");
    let refused = build(&spec, &cache, &[], &[]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("401") && message.contains("--auth-file"),
        "{message}"
    );
    let authority = server.base.trim_start_matches("http://").to_owned();
    let conf = dir.path().join("index.conf");
    std::fs::write(
        &conf,
        format!("machine http://{authority}/ login alice password {PASSWORD}\n"),
    )
    .expect("auth");
    let out = build(
        &spec,
        &cache,
        &["--auth-file", conf.to_str().expect("utf8")],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains(PASSWORD) && !stderr(&refused).contains(PASSWORD));
    assert!(run_image(&spec).contains("greet ok hello from a private index"));
}
