//! Against the real Debian archive through the host's apt sources: for each package the set
//! staves chooses equals what `apt-get install --simulate --no-install-recommends` picks for
//! an empty system. apt runs in a throwaway directory with an empty dpkg status.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use support::*;

struct AptRoot {
    dir: PathBuf,
}

impl AptRoot {
    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        vec![
            format!("-oDir::State={d}/state"),
            format!("-oDir::State::status={d}/status"),
            format!("-oDir::Cache={d}/cache"),
            "-oDebug::NoLocking=1".into(),
            "-oAPT::Get::List-Cleanup=0".into(),
        ]
    }
}

/// One apt state directory, updated once from the host's sources, shared by every test.
fn apt_root() -> &'static AptRoot {
    static ROOT: OnceLock<AptRoot> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("apt-parity");
        for sub in ["state/lists/partial", "cache/archives/partial"] {
            std::fs::create_dir_all(dir.join(sub)).expect("apt dirs");
        }
        std::fs::write(dir.join("status"), "").expect("empty status");
        let root = AptRoot { dir };
        run(Command::new("apt-get")
            .args(root.options())
            .args(["-qq", "update"]));
        root
    })
}

/// `name version` of every package an `apt-get --simulate install` plan installs, sorted.
fn apt_plan(stdout: &[u8]) -> Vec<String> {
    let mut chosen: Vec<String> = String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().unwrap_or_default();
            let version = parts.next().unwrap_or_default().trim_start_matches('(');
            format!("{name} {version}")
        })
        .collect();
    chosen.sort();
    chosen
}

/// `name version` of every package `staves resolve` chooses for the spec, sorted.
fn staves_resolution(spec: &Path) -> Vec<String> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("staves-cache");
    let out = staves(&["resolve", "-f", spec.to_str().expect("utf8")], &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut chosen: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    chosen.sort();
    chosen
}

/// Staves' set equals apt's, or the assertion names what differs for `what`.
fn assert_same(ours: &[String], apt: &[String], what: &str) {
    let missing: Vec<_> = apt.iter().filter(|p| !ours.contains(p)).collect();
    let extra: Vec<_> = ours.iter().filter(|p| !apt.contains(p)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: staves lacks {missing:?} and adds {extra:?}"
    );
}

fn apt_choice(packages: &[&str]) -> Vec<String> {
    let out = run(Command::new("apt-get")
        .args(apt_root().options())
        .args(["--simulate", "--no-install-recommends", "install"])
        .args(packages));
    apt_plan(&out.stdout)
}

fn staves_choice(package: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tmp");
    let spec_path = dir.path().join("staves.toml");
    std::fs::write(
        &spec_path,
        format!("name = \"{package}\"\npackages = [\"{package}\"]\n"),
    )
    .expect("spec");
    staves_resolution(&spec_path)
}

/// Staves differs from apt in one documented way: a merged-/usr image meets `usrmerge |
/// usr-is-merged` with the marker. apt asked for the marker as well makes the same choice,
/// so where staves chose it, apt is asked for it too; everything else must be equal.
fn assert_parity(package: &str) {
    let ours = staves_choice(package);
    // Every image has base-files; apt is asked for it as well.
    let mut asked = vec![package, "base-files"];
    if ours.iter().any(|p| p.starts_with("usr-is-merged ")) {
        asked.push("usr-is-merged");
    }
    let apt = apt_choice(&asked);
    assert!(
        ours.iter().any(|p| p.starts_with("base-files ")),
        "{package}: no base-files"
    );
    assert!(
        apt.len() > 3,
        "apt chose almost nothing for {package}: {apt:?}"
    );
    assert!(
        !ours.iter().any(|p| p.starts_with("usrmerge ")),
        "{package}: usrmerge chosen although the image is merged-/usr"
    );
    assert_same(&ours, &apt, package);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn nginx() {
    assert_parity("nginx");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn python3() {
    assert_parity("python3");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn curl() {
    assert_parity("curl");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn git() {
    assert_parity("git");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn openssh_server() {
    assert_parity("openssh-server");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn postgresql() {
    assert_parity("postgresql");
}

/// The host's release and its backports through the host's mirror, with apt state of their
/// own: what apt decides with both, against what Staves decides with the same two suites.
struct Backports {
    apt: AptRoot,
    uri: String,
    codename: String,
    keyring: PathBuf,
}

fn backports() -> &'static Backports {
    static ROOT: OnceLock<Backports> = OnceLock::new();
    ROOT.get_or_init(|| {
        let codename = support::host_codename();
        let entries = staves_deb::sources::read_host_sources(Path::new("/")).expect("sources");
        let entry = entries
            .iter()
            .find(|e| e.suite == codename)
            .expect("the host's apt sources name its release");
        let keyring = match &entry.signed_by {
            staves_deb::sources::SignedBy::Files(files) => files[0].clone(),
            _ => PathBuf::from("/usr/share/keyrings/debian-archive-keyring.gpg"),
        };
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("apt-backports");
        for sub in ["state/lists/partial", "cache/archives/partial", "none"] {
            std::fs::create_dir_all(dir.join(sub)).expect("apt dirs");
        }
        std::fs::write(dir.join("status"), "").expect("empty status");
        std::fs::write(
            dir.join("sources.list"),
            format!(
                "deb [signed-by={k}] {u} {c} main\ndeb [signed-by={k}] {u} {c}-backports main\n",
                k = keyring.display(),
                u = entry.uri,
                c = codename
            ),
        )
        .expect("sources.list");
        let apt = AptRoot { dir };
        run(Command::new("apt-get")
            .args(apt.options())
            .args(backports_options(&apt.dir, None))
            .args(["-qq", "update"]));
        Backports {
            apt,
            uri: entry.uri.clone(),
            codename,
            keyring,
        }
    })
}

/// apt's options for the backports state: its own sources, and `preferences` when given.
fn backports_options(dir: &Path, preferences: Option<&Path>) -> Vec<String> {
    let none = dir.join("none");
    vec![
        format!(
            "-oDir::Etc::SourceList={}",
            dir.join("sources.list").display()
        ),
        format!("-oDir::Etc::SourceParts={}", none.display()),
        format!(
            "-oDir::Etc::Preferences={}",
            preferences
                .map_or(none.join("preferences"), Path::to_path_buf)
                .display()
        ),
        format!("-oDir::Etc::PreferencesParts={}", none.display()),
    ]
}

/// What apt installs for `packages` with backports at `priority` (its release's own when
/// `None`).
fn apt_with_backports(packages: &[&str], priority: Option<i32>) -> Vec<String> {
    let b = backports();
    let scratch = tempfile::tempdir().expect("tmp");
    let preferences = priority.map(|p| {
        let path = scratch.path().join("preferences");
        std::fs::write(
            &path,
            format!(
                "Package: *\nPin: release n={}-backports\nPin-Priority: {p}\n",
                b.codename
            ),
        )
        .expect("preferences");
        path
    });
    let out = run(Command::new("apt-get")
        .args(b.apt.options())
        .args(backports_options(&b.apt.dir, preferences.as_deref()))
        .args(["--simulate", "--no-install-recommends", "install"])
        .args(packages));
    apt_plan(&out.stdout)
}

/// What Staves resolves for `packages` from the same two suites.
fn staves_with_backports(packages: &[&str], priority: Option<i32>) -> Vec<String> {
    let b = backports();
    let dir = tempfile::tempdir().expect("tmp");
    let spec_path = dir.path().join("staves.toml");
    let list: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let repository = |name: &str, suite: &str, extra: &str| {
        format!(
            "\n[[repositories]]\nname = \"{name}\"\nuri = \"{}\"\nsuite = \"{suite}\"\nkeyring = \"{}\"\n{extra}",
            b.uri,
            b.keyring.display()
        )
    };
    let pin = priority
        .map(|p| format!("priority = {p}\n"))
        .unwrap_or_default();
    std::fs::write(
        &spec_path,
        format!(
            "name = \"backports\"\npackages = [{}]\n{}{}",
            list.join(", "),
            repository("release", &b.codename, ""),
            repository("backports", &format!("{}-backports", b.codename), &pin)
        ),
    )
    .expect("spec");
    staves_resolution(&spec_path)
}

/// Staves and apt agree on `packages` with backports at `priority`.
fn assert_backports_parity(packages: &[&str], priority: Option<i32>) {
    let ours = staves_with_backports(packages, priority);
    let mut asked: Vec<&str> = packages.to_vec();
    asked.push("base-files");
    if ours.iter().any(|p| p.starts_with("usr-is-merged ")) {
        asked.push("usr-is-merged");
    }
    let apt = apt_with_backports(&asked, priority);
    assert!(apt.len() > 3, "apt chose almost nothing: {apt:?}");
    assert_same(
        &ours,
        &apt,
        &format!("{packages:?} with backports at {priority:?}"),
    );
}

/// One test, so that one process updates the backports state (apt's lists are not shared
/// safely between processes).
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn backports_and_pin_priorities_are_taken_as_apt_takes_them() {
    // NotAutomatic + ButAutomaticUpgrades: the release's own versions, as apt's.
    for packages in [
        &["curl"][..],
        &["nginx", "python3"],
        &["git", "openssh-client"],
    ] {
        assert_backports_parity(packages, None);
    }
    // Packages from backports by name (`apt-get install curl/X-backports
    // libcurl4/X-backports`, as apt needs both), their other dependencies as apt resolves.
    let release = format!("{}-backports", backports().codename);
    let (curl, libcurl) = (format!("curl/{release}"), format!("libcurl4/{release}"));
    assert_backports_parity(&[&curl, &libcurl], None);
    let both = staves_with_backports(&[&curl, &libcurl], None);
    assert!(
        both.iter()
            .any(|p| p.starts_with("curl ") && p.contains("bpo")),
        "curl did not come from backports: {both:?}"
    );
    // Asked for curl alone, apt gives up (libcurl4's candidate is the release's); Staves
    // takes the version that meets curl's dependency: the same set as apt's with both.
    assert_eq!(staves_with_backports(&[&curl], None), both);
    // A repository's `priority` is apt's Pin-Priority.
    for priority in [1, 100, 500, 990, 1001, -1] {
        assert_backports_parity(&["curl"], Some(priority));
    }
}
