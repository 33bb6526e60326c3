//! Packages built from the real archive's source: `hello` with `-O3` run by the engine and
//! reused unchanged; a build with the `nocheck nodoc` profiles as an unprivileged user; a
//! build interrupted with Ctrl-C leaves no result and no process behind. And a source
//! package served on 127.0.0.1 whose tarball or `.dsc` was tampered with after signing.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::engine::container;
use support::{shared_cache, stderr, stdout};

/// A spec building `hello` from source with `env` as its `[env]` table.
fn hello_spec(dir: &Path, name: &str, env: &str) -> PathBuf {
    let spec = dir.join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"{name}\"\npackages = [\"hello\"]\ncommand = [\"hello\"]\n\n[env]\n{env}\n\n['hello']\nsource = true\n"
        ),
    )
    .expect("spec");
    spec
}

/// Manifests of the builds in `cache`, with the text of each.
fn built(cache: &Path) -> Vec<(PathBuf, String)> {
    let Ok(dirs) = std::fs::read_dir(cache.join("built")) else {
        return Vec::new();
    };
    dirs.flatten()
        .filter_map(|d| {
            let manifest = d.path().join("manifest");
            let text = std::fs::read_to_string(&manifest).ok()?;
            Some((d.path(), text))
        })
        .collect()
}

/// The log of hello's build whose manifest records `flag` among its flags.
fn log_with_flag(cache: &Path, flag: &str) -> String {
    let (dir, _) = built(cache)
        .into_iter()
        .find(|(_, text)| {
            text.starts_with("source hello ")
                && text
                    .lines()
                    .any(|l| l.starts_with("flag CFLAGS=") && l.ends_with(flag))
        })
        .unwrap_or_else(|| panic!("a build of hello with CFLAGS ending in {flag}"));
    std::fs::read_to_string(dir.join("build.log")).expect("log")
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn hello_rebuilt_with_o3_runs_and_an_unchanged_rebuild_does_no_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = hello_spec(
        dir.path(),
        "staves-test-hello-o3",
        "CFLAGS = \"${CFLAGS} -O3\"",
    );
    let cache = shared_cache();
    let file = spec.to_str().expect("utf8");
    let lock = support::staves(&["lock", "-f", file], &cache);
    assert!(lock.status.success(), "{}", stderr(&lock));
    // The flags are reported (`Built …`, or `Reused …` when an earlier run built it).
    let said = stderr(&lock);
    assert!(
        said.lines()
            .any(|l| l.contains("hello 2.10") && l.contains("CFLAGS=") && l.contains("-O3)")),
        "{said}"
    );
    // A build says where its log is kept.
    if let Some(built) = said
        .lines()
        .find(|l| l.trim_start().starts_with("Built hello"))
    {
        assert!(built.ends_with("/build.log"), "{built}");
    }
    let text = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    let hello = text
        .split("[[target.package]]")
        .find(|p| p.contains("name = \"hello\""))
        .expect("hello is locked");
    assert!(hello.contains("repository = \"built\""), "{hello}");
    assert!(text.contains("uri = \"staves:built\""), "{text}");

    let archive = dir.path().join("image.tar");
    let build = support::staves(
        &["build", "-f", file, "-o", archive.to_str().expect("utf8")],
        &cache,
    );
    assert!(build.status.success(), "{}", stderr(&build));
    assert!(
        stderr(&build).contains("Reused hello 2.10"),
        "{}",
        stderr(&build)
    );
    // The compiler was called with the flags.
    let log = log_with_flag(&cache, "-O3");
    assert!(
        log.lines()
            .any(|l| l.starts_with("gcc ") && l.contains(" -O3 ") && l.contains("src/hello.c")),
        "hello.c compiled with -O3"
    );
    assert!(log.contains("PASS: tests/greeting-1"), "the test suite ran");

    let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let ran = container(&["run", "--rm", "staves-test-hello-o3:latest"]);
    assert_eq!(stdout(&ran).trim(), "Hello, world!", "{}", stderr(&ran));

    // The same inputs again: the build is taken from the cache, nothing is compiled.
    let again = support::staves(
        &["build", "-f", file, "-o", archive.to_str().expect("utf8")],
        &cache,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let said = stderr(&again);
    assert!(said.contains("Reused hello 2.10"), "{said}");
    assert!(!said.contains("Building hello"), "{said}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn build_profiles_as_an_unprivileged_user() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    let as_root = stdout(&uid).trim() == "0";
    let dir = tempfile::tempdir().expect("tmp");
    let spec = hello_spec(
        dir.path(),
        "staves-test-hello-lean",
        "DEB_BUILD_PROFILES = \"nocheck nodoc\"\nCFLAGS = \"${CFLAGS} -Os\"",
    );
    // Its own cache, owned by the user building: nothing is shared with root's.
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).expect("cache");
    let out = dir.path().join("layout");
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(dir.path())
            .status()
            .expect("chown");
        assert!(status.success());
    }
    let plain = support::staves_command(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            out.to_str().expect("utf8"),
        ],
        &cache,
    );
    let mut command = if as_root {
        let mut wrapped = Command::new("setpriv");
        wrapped
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(plain.get_program())
            .args(plain.get_args())
            .env("CI", "1")
            .env("NO_COLOR", "1")
            .env("HOME", dir.path())
            .env_remove("SOURCE_DATE_EPOCH");
        wrapped
    } else {
        plain
    };
    let built_image = command.output().expect("staves");
    assert!(built_image.status.success(), "{}", stderr(&built_image));
    let said = stderr(&built_image);
    assert!(said.contains("DEB_BUILD_PROFILES=nocheck nodoc"), "{said}");
    let log = log_with_flag(&cache, "-Os");
    assert!(
        log.contains("dpkg-buildpackage: info: source package hello"),
        "{log}"
    );
    assert!(
        !log.contains("PASS: tests/greeting-1"),
        "nocheck: the test suite did not run"
    );
    assert!(out.join("index.json").is_file(), "the image was written");
    use std::os::unix::fs::MetadataExt;
    if as_root {
        let owner = std::fs::metadata(cache.join("built")).expect("built").uid();
        assert_eq!(owner, 65534, "the cache belongs to the user who built");
    }
}

/// Gives the child Ctrl-C's default action, as a shell gives its foreground jobs: a test
/// run started in the background by a non-interactive shell inherits SIGINT ignored, and
/// the build would then not be interrupted at all.
#[allow(unsafe_code)]
fn default_sigint(command: &mut Command) {
    // SAFETY: signal() is async-signal-safe, so it may run between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn an_interrupted_build_leaves_no_result_and_no_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = hello_spec(
        dir.path(),
        "staves-test-hello-interrupted",
        "CFLAGS = \"${CFLAGS} -O1\"",
    );
    let cache = dir.path().join("cache");
    let file = spec.to_str().expect("utf8");
    let out = dir.path().join("layout");
    let mut command = support::staves_command(
        &["build", "-f", file, "-o", out.to_str().expect("utf8")],
        &cache,
    );
    command.process_group(0).stderr(Stdio::piped());
    default_sigint(&mut command);
    let mut child = command.spawn().expect("staves");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Building hello") {
            break;
        }
    }
    assert!(seen.contains("Building hello"), "{seen}");
    // Well into dpkg-buildpackage: Ctrl-C reaches the whole foreground process group.
    std::thread::sleep(Duration::from_secs(4));
    let pgid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(!status.success(), "the build was interrupted");
    std::thread::sleep(Duration::from_millis(500));
    let left = Command::new("pgrep")
        .args(["-f", cache.to_str().expect("utf8")])
        .output()
        .expect("pgrep");
    assert!(
        stdout(&left).trim().is_empty(),
        "no sandbox left running: {}",
        stdout(&left)
    );
    assert!(built(&cache).is_empty(), "no build result was kept");

    // The next run sweeps what the killed one left and builds.
    let again = support::staves(
        &["build", "-f", file, "-o", out.to_str().expect("utf8")],
        &cache,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(built(&cache).len(), 1, "one build result");
    let tmp_left: Vec<_> = std::fs::read_dir(cache.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp_left.is_empty(), "temporaries swept: {tmp_left:?}");
}

/// The host's first apt source as a `[[repositories]]` entry (build dependencies come from
/// it), read from its deb822 `.sources` file.
fn host_repository() -> String {
    let dir = std::fs::read_dir("/etc/apt/sources.list.d").expect("apt sources");
    let mut files: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sources"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.first().expect("a .sources file")).expect("read");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    let keyring = match field("Signed-By") {
        k if k.is_empty() => "/usr/share/keyrings/debian-archive-keyring.gpg".to_owned(),
        k => k,
    };
    format!(
        "[[repositories]]\nname = \"host\"\nuri = \"{}\"\nsuite = \"{}\"\ncomponents = [\"main\"]\nkeyring = \"{keyring}\"\n",
        field("URIs").trim_end_matches('/'),
        field("Suites")
    )
}

/// A native source package `stavestest 1.0` (no build dependencies beyond
/// build-essential) in `pool`, made by `dpkg-source -b`.
fn source_package(pool: &Path) {
    let tree = pool.join("stavestest-1.0");
    std::fs::create_dir_all(tree.join("debian/source")).expect("tree");
    let files = [
        ("debian/source/format", "3.0 (native)\n"),
        (
            "debian/control",
            "Source: stavestest\nMaintainer: Test <t@test.invalid>\nStandards-Version: 4.6.2\n\nPackage: stavestest\nArchitecture: any\nDescription: test\n test package\n",
        ),
        (
            "debian/changelog",
            "stavestest (1.0) unstable; urgency=medium\n\n  * Test.\n\n -- Test <t@test.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n",
        ),
        (
            "debian/rules",
            "#!/usr/bin/make -f\nbuild build-arch build-indep clean binary-indep:\n\ttrue\nbinary binary-arch:\n\tmkdir -p debian/tmp/DEBIAN debian/tmp/usr/share/doc/stavestest\n\techo test > debian/tmp/usr/share/doc/stavestest/copyright\n\tdpkg-gencontrol -pstavestest -Pdebian/tmp\n\tdpkg-deb --root-owner-group --build debian/tmp ..\n",
        ),
        ("hello.c", "int main(void) { return 0; }\n"),
    ];
    for (path, text) in files {
        std::fs::write(tree.join(path), text).expect("file");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tree.join("debian/rules"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    support::run(
        Command::new("dpkg-source")
            .current_dir(pool)
            .args(["-b", "stavestest-1.0"]),
    );
    std::fs::remove_dir_all(&tree).expect("tree");
}

/// Flips the last byte of `path`.
fn flip_last_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let last = bytes.last_mut().expect("not empty");
    *last ^= 0xff;
    std::fs::write(path, bytes).expect("write");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_tampered_tarball_or_dsc_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = support::Key::generate(dir.path(), "src");
    let repo = support::Repo::new(&dir.path().join("repo"));
    let pool = repo.root.join("pool/s");
    std::fs::create_dir_all(&pool).expect("pool");
    source_package(&pool);
    repo.publish(
        "s",
        &[support::pkg("stavestest", "1.0", &[])],
        &key,
        support::Signing::Both,
        None,
    );
    let server = support::server::Server::start(repo.root.clone());
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"t\"\npackages = [\"stavestest\"]\n\n['stavestest']\nsource = true\n\n[[repositories]]\nname = \"local\"\nuri = \"{}\"\nsuite = \"s\"\ncomponents = [\"main\"]\nkeyring = \"{}\"\n\n{}",
            server.base,
            key.binary.display(),
            host_repository()
        ),
    )
    .expect("spec");
    // A fresh cache for each tampered file: a verified copy already cached is used as it is
    // (the server is not asked again), which is the point of the cache.
    let fresh = |name: &str| dir.path().join(name);
    let lock = |cache: &Path| support::staves(&["lock", "-f", spec.to_str().expect("utf8")], cache);

    let tarball = pool.join("stavestest_1.0.tar.xz");
    flip_last_byte(&tarball);
    let refused = lock(&fresh("cache-tarball"));
    assert!(!refused.status.success(), "a tampered tarball is refused");
    let said = stderr(&refused);
    assert!(
        said.contains("stavestest_1.0.tar.xz") && said.to_lowercase().contains("sha-256")
            || said.contains("checksum"),
        "{said}"
    );
    assert!(!said.contains("Building"), "nothing was built: {said}");
    flip_last_byte(&tarball);

    let dsc = pool.join("stavestest_1.0.dsc");
    flip_last_byte(&dsc);
    let refused = lock(&fresh("cache-dsc"));
    assert!(!refused.status.success(), "a tampered .dsc is refused");
    let said = stderr(&refused);
    assert!(said.contains("stavestest_1.0.dsc"), "{said}");
    flip_last_byte(&dsc);

    // Intact again: it builds, and the built package is what the lock takes.
    let built = lock(&shared_cache());
    assert!(built.status.success(), "{}", stderr(&built));
    let text = std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock");
    let entry = text
        .split("[[target.package]]")
        .find(|p| p.contains("name = \"stavestest\""))
        .expect("locked");
    assert!(entry.contains("repository = \"built\""), "{entry}");
}
