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

fn apt_choice(packages: &[&str]) -> Vec<String> {
    let out = run(Command::new("apt-get")
        .args(apt_root().options())
        .args(["--simulate", "--no-install-recommends", "install"])
        .args(packages));
    let mut chosen: Vec<String> = String::from_utf8_lossy(&out.stdout)
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

fn staves_choice(package: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tmp");
    let spec_path = dir.path().join("staves.toml");
    std::fs::write(
        &spec_path,
        format!("name = \"{package}\"\npackages = [\"{package}\"]\n"),
    )
    .expect("spec");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("staves-cache");
    let out = staves(
        &["resolve", "-f", spec_path.to_str().expect("utf8")],
        &cache,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut chosen: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    chosen.sort();
    chosen
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
    let missing: Vec<_> = apt.iter().filter(|p| !ours.contains(p)).collect();
    let extra: Vec<_> = ours.iter().filter(|p| !apt.contains(p)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{package}: staves lacks {missing:?} and adds {extra:?}"
    );
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
