//! Test fixtures: real .deb files built with dpkg-deb, indexed with apt-ftparchive, signed
//! with a throwaway gpg key, and served over HTTP on 127.0.0.1.

#![allow(dead_code)]

pub mod archive;
pub mod engine;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use staves_test_support::run;

/// The staves binary with `args`, a cache, and an environment that does not depend on the
/// caller's terminal or `SOURCE_DATE_EPOCH`.
pub fn staves_command(args: &[&str], cache: &Path) -> Command {
    staves_test_support::loopback();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_staves"));
    cmd.args(args)
        .arg("--cache")
        .arg(cache)
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH");
    // Requests to 127.0.0.1 go straight there, whatever proxy the caller's shell names.
    for proxy in PROXY_VARIABLES {
        cmd.env_remove(proxy);
    }
    cmd
}

/// Every variable a proxy is named by.
pub const PROXY_VARIABLES: [&str; 7] = [
    "http_proxy",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// The cache the tests that use the real archive share, so each package is fetched once.
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("staves-cache")
}

/// The host's Debian release (`bookworm`, `trixie`), from `/etc/os-release`.
pub fn host_codename() -> String {
    let os_release = std::fs::read_to_string("/etc/os-release").expect("os-release");
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .expect("VERSION_CODENAME")
        .trim_matches('"')
        .to_owned()
}

/// The archive URI the host's apt sources give for `suite`: tests reach Debian as the
/// host does, never by a name written here.
pub fn host_uri(suite: &str) -> String {
    let entries = staves_deb::sources::read_host_sources(Path::new("/")).expect("sources");
    entries
        .iter()
        .find(|e| e.suite == suite)
        .map(|e| e.uri.clone())
        .unwrap_or_else(|| panic!("the host's apt sources name {suite}"))
}

/// The Debian release the host does not run (Debian 13 on a Debian 12 host, and the other
/// way round), and a `[[repositories]]` table for it on the host's mirror.
pub fn other_release() -> (&'static str, String) {
    let codename = host_codename();
    let other = if codename == "bookworm" {
        "trixie"
    } else {
        "bookworm"
    };
    let uri = host_uri(&codename);
    let repository = format!(
        "[[repositories]]\nname = \"{other}\"\nuri = \"{uri}\"\nsuite = \"{other}\"\nkeyring = \"/usr/share/keyrings/debian-archive-keyring.gpg\"\n"
    );
    (other, repository)
}

/// The examples directory of the repository.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// An OCI layout at `dir` holding one empty image (`latest`), made by umoci: an image
/// with no dpkg database.
pub fn empty_image(dir: &Path) {
    run(Command::new("umoci").args(["init", "--layout"]).arg(dir));
    run(Command::new("umoci")
        .args(["new", "--image"])
        .arg(format!("{}:latest", dir.display())));
}

pub fn host_arch() -> String {
    let out = run(Command::new("dpkg").arg("--print-architecture"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub use staves_test_support::gpg::Key;

/// One package to build: name, version, architecture and extra control fields.
pub struct Pkg<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub fields: &'a [(&'a str, &'a str)],
    /// Files of the package: path (relative to the root), content, mode.
    pub files: &'a [(&'a str, &'a [u8], u32)],
}

impl<'a> Pkg<'a> {
    pub fn with_files(self, files: &'a [(&'a str, &'a [u8], u32)]) -> Self {
        Pkg { files, ..self }
    }
}

pub fn pkg<'a>(name: &'a str, version: &'a str, fields: &'a [(&'a str, &'a str)]) -> Pkg<'a> {
    Pkg {
        name,
        version,
        arch: "",
        fields,
        files: &[],
    }
}

/// How to publish a suite's release.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// InRelease and Release.gpg.
    Both,
    /// Only Release + Release.gpg (no InRelease).
    DetachedOnly,
    /// Release alone.
    Unsigned,
}

/// A repository directory with `dists/<suite>` and `pool/<suite>`.
pub struct Repo {
    pub root: PathBuf,
    pub arch: String,
    /// Publish `main/Contents-<arch>.gz` too (apt-ftparchive reads every .deb for it).
    pub contents: bool,
}

impl Repo {
    pub fn new(root: &Path) -> Repo {
        std::fs::create_dir_all(root).expect("repo root");
        Repo {
            root: root.to_owned(),
            arch: host_arch(),
            contents: false,
        }
    }

    /// Builds the .debs of `suite` and writes its indices and release, signed by `key`.
    pub fn publish(
        &self,
        suite: &str,
        packages: &[Pkg<'_>],
        key: &Key,
        signing: Signing,
        valid_until: Option<&str>,
    ) {
        self.publish_edited(suite, packages, key, signing, valid_until, &|text| text);
    }

    /// Like [`Repo::publish`], with the `Packages` text passed through `edit` before it is
    /// compressed and signed: a hostile archive, signed by the key the spec trusts.
    pub fn publish_edited(
        &self,
        suite: &str,
        packages: &[Pkg<'_>],
        key: &Key,
        signing: Signing,
        valid_until: Option<&str>,
        edit: &dyn Fn(String) -> String,
    ) {
        let pool = self.root.join("pool").join(suite);
        std::fs::create_dir_all(&pool).expect("pool");
        let work = self.root.join(".build");
        for p in packages {
            let arch = if p.arch.is_empty() {
                self.arch.as_str()
            } else {
                p.arch
            };
            let dir = work.join(format!("{}_{}", p.name, p.version));
            let doc = dir.join("usr/share/doc").join(p.name);
            std::fs::create_dir_all(dir.join("DEBIAN")).expect("DEBIAN");
            std::fs::create_dir_all(&doc).expect("doc");
            std::fs::write(
                doc.join("copyright"),
                format!("{} is free software.\n", p.name),
            )
            .expect("copyright");
            let mut control = format!(
                "Package: {}\nVersion: {}\nArchitecture: {arch}\nMaintainer: Test <t@test.invalid>\nDescription: test package {}\n",
                p.name, p.version, p.name
            );
            for (k, v) in p.fields {
                control.push_str(&format!("{k}: {v}\n"));
            }
            std::fs::write(dir.join("DEBIAN/control"), control).expect("control");
            for (path, content, mode) in p.files {
                let file = dir.join(path);
                std::fs::create_dir_all(file.parent().expect("parent")).expect("dirs");
                std::fs::write(&file, content).expect("file");
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode))
                    .expect("chmod");
            }
            let deb = pool.join(format!(
                "{}_{}_{arch}.deb",
                p.name,
                p.version.replace(':', "%3a")
            ));
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zgzip", "--build"])
                .arg(&dir)
                .arg(&deb));
        }
        let _ = std::fs::remove_dir_all(&work);
        let dists = self.root.join("dists").join(suite);
        let binary = dists.join(format!("main/binary-{}", self.arch));
        std::fs::create_dir_all(&binary).expect("binary dir");
        let packages = run(Command::new("apt-ftparchive")
            .current_dir(&self.root)
            .arg("packages")
            .arg(format!("pool/{suite}")));
        let text = edit(String::from_utf8_lossy(&packages.stdout).into_owned());
        std::fs::write(binary.join("Packages"), text).expect("Packages");
        run(Command::new("xz")
            .args(["-k", "-f"])
            .arg(binary.join("Packages")));
        run(Command::new("gzip")
            .args(["-k", "-f", "-n"])
            .arg(binary.join("Packages")));
        // Source packages put in the pool beforehand (`dpkg-source -b`) get a Sources index.
        let has_sources = std::fs::read_dir(&pool)
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "dsc"))
            })
            .unwrap_or(false);
        if has_sources {
            let source_dir = dists.join("main/source");
            std::fs::create_dir_all(&source_dir).expect("source dir");
            let sources = run(Command::new("apt-ftparchive")
                .current_dir(&self.root)
                .arg("sources")
                .arg(format!("pool/{suite}")));
            std::fs::write(source_dir.join("Sources"), &sources.stdout).expect("Sources");
            run(Command::new("xz")
                .args(["-k", "-f"])
                .arg(source_dir.join("Sources")));
        }
        if self.contents {
            let listing = run(Command::new("apt-ftparchive")
                .current_dir(&self.root)
                .arg("contents")
                .arg(format!("pool/{suite}")));
            let path = dists.join(format!("main/Contents-{}", self.arch));
            std::fs::write(&path, &listing.stdout).expect("Contents");
            run(Command::new("gzip").args(["-f", "-n"]).arg(&path));
        }
        for stale in ["Release", "InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(dists.join(stale));
        }
        let release = run(Command::new("apt-ftparchive")
            .current_dir(&self.root)
            .args(["-o", &format!("APT::FTPArchive::Release::Suite={suite}")])
            .args(["-o", &format!("APT::FTPArchive::Release::Codename={suite}")])
            .args([
                "-o",
                &format!("APT::FTPArchive::Release::Architectures={}", self.arch),
            ])
            .args(["-o", "APT::FTPArchive::Release::Components=main"])
            .arg("release")
            .arg(format!("dists/{suite}")));
        let mut text = String::from_utf8_lossy(&release.stdout).into_owned();
        if let Some(until) = valid_until {
            text = text.replacen("\nDate:", &format!("\nValid-Until: {until}\nDate:"), 1);
        }
        std::fs::write(dists.join("Release"), &text).expect("Release");
        if signing == Signing::Both {
            run(key
                .gpg()
                .arg("--clearsign")
                .arg("-o")
                .arg(dists.join("InRelease"))
                .arg(dists.join("Release")));
        }
        if signing != Signing::Unsigned {
            run(key
                .gpg()
                .args(["--armor", "--detach-sign", "-o"])
                .arg(dists.join("Release.gpg"))
                .arg(dists.join("Release")));
        }
    }

    pub fn dists(&self, suite: &str) -> PathBuf {
        self.root.join("dists").join(suite)
    }
}

/// A spec using one repository at `uri`.
pub fn spec(
    dir: &Path,
    packages: &[&str],
    uri: &str,
    suite: &str,
    keyring: &Path,
    extra: &str,
) -> PathBuf {
    let list = packages
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "name = \"test\"\npackages = [{list}]\n{extra}\n[[repositories]]\nname = \"local\"\nuri = \"{uri}\"\nsuite = \"{suite}\"\ncomponents = [\"main\"]\nkeyring = \"{}\"\n",
        keyring.display()
    );
    std::fs::create_dir_all(dir).expect("spec dir");
    let path = dir.join("staves.toml");
    std::fs::write(&path, text).expect("spec");
    path
}

/// Runs the staves binary.
pub fn staves(args: &[&str], cache: &Path) -> Output {
    staves_test_support::loopback();
    Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(args)
        .arg("--cache")
        .arg(cache)
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .output()
        .expect("run staves")
}

/// Every file below `dir`, recursively (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub use staves_test_support::free_port;

/// Runs staves (with `--cache CACHE` when given) under a parent that reports the child's
/// peak RSS in KiB; a run longer than `timeout` seconds is stopped and exits 124.
pub fn staves_measured(args: &[&str], cache: Option<&Path>, timeout: Option<u64>) -> (Output, u64) {
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import resource, subprocess, sys\n\
         t = int(sys.argv[1]) or None\n\
         try:\n    r = subprocess.run(sys.argv[2:], timeout=t).returncode\n\
         except subprocess.TimeoutExpired:\n    r = 124\n\
         print('peak-rss-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
         sys.exit(r)",
        &timeout.unwrap_or(0).to_string(),
        env!("CARGO_BIN_EXE_staves"),
    ])
    .args(args)
    .env("CI", "1")
    .env("NO_COLOR", "1");
    if let Some(cache) = cache {
        cmd.arg("--cache").arg(cache);
    }
    let out = cmd.output().expect("python3");
    let peak = stderr(&out)
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse().ok())
        .expect("peak rss");
    (out, peak)
}

/// The SHA-256 of every `.deb` the recipes built in `cache`, from the builds' manifests.
pub fn built_debs(cache: &Path) -> std::collections::BTreeSet<String> {
    walk(&cache.join("built"))
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "manifest"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("manifest")
                .lines()
                .filter_map(|l| l.strip_prefix("deb ").map(|r| r[..64].to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Loads the docker-archive `archive` into the engine, runs `image` once (its own command)
/// and removes it; what it printed, stdout then stderr.
pub fn run_archive(archive: &Path, image: &str) -> String {
    let loaded = engine::container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let ran = engine::container(&["run", "--rm", image]);
    engine::container(&["rmi", image]);
    format!("{}{}", stdout(&ran), stderr(&ran))
}

/// The package index the host's pip uses (`PIP_INDEX_URL`, else pip's own default), never
/// written in the project.
pub fn pip_index() -> String {
    if let Ok(index) = std::env::var("PIP_INDEX_URL") {
        return index;
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])
        .output()
        .expect("python3 with pip");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// A cargo home in `dir` whose configuration puts, in place of crates-io, the registry this
/// machine's cargo fetched this workspace's crates from — named by the directory cargo
/// keeps its index in (`HOST-HASH`), never written in the project.
pub fn cargo_home_with_host_registry(dir: &Path) -> PathBuf {
    let host_cargo = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let index_dir = std::fs::read_dir(host_cargo.join("registry/index"))
        .expect("cargo's index cache")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.contains('.'))
        .expect("a registry cargo used");
    let host = index_dir
        .rsplit_once('-')
        .map(|(host, _)| host.to_owned())
        .expect("HOST-HASH");
    let home = dir.join("cargo-home");
    std::fs::create_dir_all(&home).expect("dir");
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"mirror\"\n\n[source.mirror]\nregistry = \"sparse+https://{host}/\"\n"
        ),
    )
    .expect("config");
    home
}
