//! README's test command installs every program the tests run: each program a test (or
//! Staves itself) starts by name is listed here with the Debian package that ships it, and
//! that package is one `scripts/test-all.sh` installs — or one every Debian system has. A
//! new program without a row, or a package the script stops installing, fails here, not
//! on a fresh machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where a program comes from.
enum Source {
    /// A Debian package the script must install.
    Package(&'static str),
    /// Essential or `Priority: required`: on every Debian system.
    Base,
    /// The container engine: Docker when it answers, else podman, which the script installs.
    Engine,
    /// A Python tool the script puts in its virtual environment (its pip name).
    Pip(&'static str),
}

/// Every program started by name, and its source.
const PROGRAMS: &[(&str, Source)] = &[
    ("apt-ftparchive", Source::Package("apt-utils")),
    ("apt-get", Source::Base),
    ("bash", Source::Base),
    ("bwrap", Source::Package("bubblewrap")),
    ("chmod", Source::Base),
    ("chown", Source::Base),
    ("cp", Source::Base),
    ("curl", Source::Package("curl")),
    ("df", Source::Base),
    ("docker", Source::Engine),
    ("docker-registry", Source::Package("docker-registry")),
    ("dpkg", Source::Base),
    ("dpkg-deb", Source::Base),
    ("dpkg-query", Source::Base),
    ("dpkg-shlibdeps", Source::Package("dpkg-dev")),
    ("dpkg-source", Source::Package("dpkg-dev")),
    ("git", Source::Package("git")),
    ("gpg", Source::Package("gnupg")),
    ("gzip", Source::Base),
    ("htpasswd", Source::Package("apache2-utils")),
    ("id", Source::Base),
    ("ip", Source::Package("iproute2")),
    ("javac", Source::Package("default-jdk-headless")),
    ("kill", Source::Package("procps")),
    ("ldd", Source::Base),
    ("mkfifo", Source::Base),
    ("mount", Source::Base),
    ("openssl", Source::Package("openssl")),
    ("pgrep", Source::Package("procps")),
    ("psql", Source::Package("postgresql-client")),
    ("pyspdxtools", Source::Pip("spdx-tools")),
    ("python3", Source::Package("python3")),
    ("readelf", Source::Package("binutils")),
    ("setpriv", Source::Base),
    ("sh", Source::Base),
    ("sha256sum", Source::Base),
    ("skopeo", Source::Package("skopeo")),
    ("ssh-keyscan", Source::Package("openssh-client")),
    ("tar", Source::Base),
    ("umoci", Source::Package("umoci")),
    ("umount", Source::Base),
    ("xz", Source::Package("xz-utils")),
    ("zstd", Source::Package("zstd")),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The programs started by name (`Command::new` with a string literal) anywhere in the
/// crates.
fn programs_started() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    let needle = "Command::new(\"";
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for (at, _) in text.match_indices(needle) {
            let rest = &text[at + needle.len()..];
            if let Some(end) = rest.find('"') {
                found.insert(rest[..end].to_owned());
            }
        }
    }
    found
}

/// The packages the script's `apt-get install` lines name, and its pip installs.
fn installed_by_script() -> (BTreeSet<String>, BTreeSet<String>) {
    let script =
        std::fs::read_to_string(workspace().join("scripts/test-all.sh")).expect("test-all.sh");
    let joined = script.replace("\\\n", " ");
    let mut apt = BTreeSet::new();
    let mut pip = BTreeSet::new();
    for line in joined.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(at) = words.windows(2).position(|w| w == ["apt-get", "install"]) {
            apt.extend(
                words[at + 2..]
                    .iter()
                    .take_while(|w| !w.starts_with('>'))
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| (*w).to_owned()),
            );
        }
        if let Some(at) = words.windows(2).position(|w| w == ["pip", "install"]) {
            pip.extend(
                words[at + 2..]
                    .iter()
                    .filter(|w| !w.starts_with('-'))
                    .map(|w| w.split("==").next().unwrap_or(w).to_owned()),
            );
        }
    }
    (apt, pip)
}

#[test]
fn every_program_the_tests_run_is_installed_by_the_test_command() {
    let started = programs_started();
    assert!(started.contains("skopeo"), "{started:?}");
    let unknown: Vec<&String> = started
        .iter()
        .filter(|p| !PROGRAMS.iter().any(|(name, _)| name == p))
        .collect();
    assert!(
        unknown.is_empty(),
        "programs started by name with no row here (add it, and its package to scripts/test-all.sh): {unknown:?}"
    );
    let (apt, pip) = installed_by_script();
    for (program, source) in PROGRAMS {
        match source {
            Source::Package(package) => assert!(
                apt.contains(*package),
                "{program} needs {package}, which scripts/test-all.sh does not install: {apt:?}"
            ),
            Source::Engine => assert!(apt.contains("podman"), "no engine installed: {apt:?}"),
            Source::Pip(name) => assert!(pip.contains(*name), "{program}: {pip:?}"),
            Source::Base => {}
        }
    }
}
