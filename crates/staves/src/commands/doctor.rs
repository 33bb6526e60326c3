//! `staves doctor`: what this host offers Staves, each item with what to do when it is
//! missing. Required: a writable cache. Needed for some work: apt sources (specs without
//! `[[repositories]]`), bubblewrap (source builds and recipes), a container engine (running
//! and loading images). Reported: trust, credentials and proxies as every fetch sees them.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cli::DoctorArgs;
use crate::report::CliError;

/// How a check came out.
#[derive(PartialEq, Eq)]
enum State {
    Ok,
    /// Missing, and some commands need it.
    Missing,
    /// Missing, and nothing works without it.
    Broken,
}

struct Check {
    what: &'static str,
    state: State,
    detail: String,
    fix: Option<String>,
}

pub fn run(args: &DoctorArgs) -> Result<(), CliError> {
    let checks = [
        cache(&args.cache.root()),
        apt_sources(),
        bubblewrap(),
        engine(),
        trust(),
        credentials(),
        proxies(),
    ];
    for check in &checks {
        let label = match check.state {
            State::Ok => "ok",
            State::Missing => "missing",
            State::Broken => "broken",
        };
        println!("{label:>8}  {:<16} {}", check.what, check.detail);
        if let (Some(fix), false) = (&check.fix, check.state == State::Ok) {
            println!("{:>8}  {:<16} fix: {fix}", "", "");
        }
    }
    let broken: Vec<&str> = checks
        .iter()
        .filter(|c| c.state == State::Broken)
        .map(|c| c.what)
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(CliError::Host(format!(
            "this host cannot run Staves until it is fixed: {}",
            broken.join(", ")
        )))
    }
}

fn ok(what: &'static str, detail: String) -> Check {
    Check {
        what,
        state: State::Ok,
        detail,
        fix: None,
    }
}

fn cache(root: &Path) -> Check {
    let probe = std::fs::create_dir_all(root)
        .and_then(|()| staves_fs::write_atomic(&root.join(".doctor"), b"ok"))
        .and_then(|()| std::fs::remove_file(root.join(".doctor")));
    if let Err(e) = probe {
        return Check {
            what: "cache",
            state: State::Broken,
            detail: format!("{} cannot be written: {e}", root.display()),
            fix: Some("give another directory with --cache DIR or STAVES_CACHE".into()),
        };
    }
    let free = Command::new("df")
        .args(["-Pk"])
        .arg(root)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines()
                .nth(1)?
                .split_whitespace()
                .nth(3)?
                .parse::<u64>()
                .ok()
        });
    match free {
        Some(kib) if kib < 2 << 20 => Check {
            what: "cache",
            state: State::Missing,
            detail: format!("{}: only {} MiB free", root.display(), kib / 1024),
            fix: Some("free some space (an nginx build needs about 100 MB, a source build a few GB), or use --cache DIR elsewhere".into()),
        },
        Some(kib) => ok(
            "cache",
            format!("{} ({} GiB free)", root.display(), kib >> 20),
        ),
        None => ok("cache", root.display().to_string()),
    }
}

fn apt_sources() -> Check {
    match staves_deb::sources::read_host_sources(Path::new("/")) {
        Ok(entries) if !entries.is_empty() => {
            let mut suites: Vec<&str> = entries.iter().map(|e| e.suite.as_str()).collect();
            suites.dedup();
            ok(
                "apt sources",
                format!("{} repositories ({})", entries.len(), suites.join(", ")),
            )
        }
        Ok(_) => Check {
            what: "apt sources",
            state: State::Missing,
            detail: "none: a spec without [[repositories]] has nowhere to take packages from"
                .into(),
            fix: Some(
                "configure /etc/apt/sources.list.d, or give each spec its [[repositories]]".into(),
            ),
        },
        Err(e) => Check {
            what: "apt sources",
            state: State::Missing,
            detail: e.to_string(),
            fix: Some("fix the file named, or give each spec its [[repositories]]".into()),
        },
    }
}

/// Whether `program` runs with `args` and succeeds, quietly.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn bubblewrap() -> Check {
    if !runs("bwrap", &["--version"]) {
        return Check {
            what: "bubblewrap",
            state: State::Missing,
            detail: "not installed: source builds and recipes run in it".into(),
            fix: Some("apt-get install bubblewrap".into()),
        };
    }
    // What a build does first: a new user, PID and mount namespace over a read-only root.
    if runs(
        "bwrap",
        &[
            "--unshare-user-try",
            "--unshare-pid",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "true",
        ],
    ) {
        ok("bubblewrap", "runs sandboxes".into())
    } else {
        Check {
            what: "bubblewrap",
            state: State::Missing,
            detail: "installed, but cannot make a sandbox here (user namespaces off?)".into(),
            fix: Some("sysctl -w kernel.unprivileged_userns_clone=1 (Debian 12), or run as root; inside a container, give it --privileged or a seccomp profile allowing unshare".into()),
        }
    }
}

fn engine() -> Check {
    if runs("docker", &["info"]) {
        return ok(
            "engine",
            "Docker answers (build --load, running images)".into(),
        );
    }
    if runs("podman", &["--version"]) {
        return ok("engine", "podman (build --load, running images)".into());
    }
    Check {
        what: "engine",
        state: State::Missing,
        detail: "no Docker engine answers and podman is not installed: images build, but --load and running them need one".into(),
        fix: Some("apt-get install podman runc".into()),
    }
}

fn trust() -> Check {
    match staves_net::Trust::load(&[]) {
        Ok(trust) => ok(
            "trust",
            format!(
                "{} certificate authorities from {}",
                trust.certificates().len(),
                trust.sources().join(", ")
            ),
        ),
        Err(e) => Check {
            what: "trust",
            state: State::Missing,
            detail: e.to_string(),
            fix: Some(
                "apt-get install ca-certificates, or name a bundle with SSL_CERT_FILE".into(),
            ),
        },
    }
}

fn credentials() -> Check {
    match staves_net::Credentials::load(&[], true) {
        Ok(found) if found.files().is_empty() => ok(
            "credentials",
            "none (/etc/apt/auth.conf.d/*.conf, /etc/apt/auth.conf; --auth-file adds more)".into(),
        ),
        Ok(found) => ok(
            "credentials",
            format!(
                "read from {}",
                found
                    .files()
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Err(e) => Check {
            what: "credentials",
            state: State::Missing,
            detail: e.to_string(),
            fix: Some("fix the line named: `machine HOST[/PATH] login USER password PASS`".into()),
        },
    }
}

fn proxies() -> Check {
    let set: Vec<String> = [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ]
    .iter()
    .filter_map(|name| std::env::var(name).ok().map(|v| format!("{name}={v}")))
    .collect();
    match staves_net::Proxies::from_env() {
        Ok(_) if set.is_empty() => ok("proxies", "none: every fetch goes direct".into()),
        Ok(_) => ok("proxies", set.join(" ")),
        Err(e) => Check {
            what: "proxies",
            state: State::Missing,
            detail: e.to_string(),
            fix: Some("set the proxy as http://HOST:PORT".into()),
        },
    }
}
