//! Questions scripts ask of the system: `getent`, `id`, `dpkg -L/-s/--compare-versions`,
//! `dpkg-query`, `dpkg-divert`, `dpkg-realpath` and the like, answered from the package set;
//! `chronyd -p` from its configuration file.

use staves_maintscript::{Image, Ran, Status};

use super::Host;
use crate::paths::image_path;

impl Host<'_> {
    pub(super) fn query(&mut self, argv: &[String]) -> Option<Ran> {
        let args = &argv[1..];
        let text = |status: bool, out: String| Ran {
            status: Status::from_bool(status),
            stdout: Some(out),
        };
        Some(match argv[0].as_str() {
            "getent" => match args {
                [db, key] if db == "passwd" => match self.accounts.user(key) {
                    Some(u) => text(
                        true,
                        format!(
                            "{}:x:{}:{}:{}:{}:{}\n",
                            u.name, u.uid, u.gid, u.gecos, u.home, u.shell
                        ),
                    ),
                    None => text(false, String::new()),
                },
                [db, key] if db == "group" => match self.accounts.group(key) {
                    Some(g) => text(
                        true,
                        format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(",")),
                    ),
                    None => text(false, String::new()),
                },
                _ => Ran::unknown(),
            },
            // Maintainer scripts run as root.
            "id" if args == ["-u"] || args == ["-g"] => text(true, "0\n".into()),
            "id" => {
                let name = args.iter().find(|a| !a.starts_with('-'))?;
                let Some(user) = self.accounts.user(name).cloned() else {
                    return Some(text(false, String::new()));
                };
                let primary = self.accounts.groups.iter().find(|g| g.gid == user.gid);
                let mut names: Vec<String> = primary.map(|g| g.name.clone()).into_iter().collect();
                names.extend(
                    self.accounts
                        .groups
                        .iter()
                        .filter(|g| g.members.contains(&user.name) && g.gid != user.gid)
                        .map(|g| g.name.clone()),
                );
                match args.first().map(String::as_str) {
                    Some("-u") => text(true, format!("{}\n", user.uid)),
                    Some("-g") => text(true, format!("{}\n", user.gid)),
                    Some("-Gn" | "-nG") => text(true, format!("{}\n", names.join(" "))),
                    _ => Ran::unknown(),
                }
            }
            "dpkg" => match args {
                [flag] if flag == "--print-architecture" => text(true, format!("{}\n", self.arch)),
                [flag, a, op, b] if flag == "--compare-versions" => compare_versions(a, op, b)
                    .map_or_else(Ran::unknown, |ok| Ran::status(Status::from_bool(ok))),
                [flag, packages @ ..] if flag == "-L" || flag == "--listfiles" => {
                    // Each installed package's files; one not installed makes it fail.
                    let mut out = String::new();
                    let mut all = true;
                    for package in packages {
                        match self.lists.get(package.split(':').next()?) {
                            Some(list) => out.extend(list.iter().map(|p| format!("{p}\n"))),
                            None => all = false,
                        }
                    }
                    text(all, out)
                }
                // An installed package's status paragraph, as far as scripts read it.
                [flag, package] if flag == "-s" || flag == "--status" => {
                    let name = package.split(':').next()?;
                    match self.installed.get(name) {
                        Some(version) => text(
                            true,
                            format!(
                                "Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
                            ),
                        ),
                        None => Ran::status(Status::Failure(1)),
                    }
                }
                _ => return None,
            },
            "dpkg-query" => {
                let package = args.iter().rfind(|a| !a.starts_with('-'))?;
                let present = self.installed.contains_key(package.split(':').next()?);
                if args
                    .iter()
                    .any(|a| a.starts_with("-f") || a.starts_with("--showformat"))
                {
                    return Some(Ran {
                        status: Status::from_bool(present),
                        stdout: None,
                    });
                }
                Ran::status(Status::from_bool(present))
            }
            // `chronyd -p` prints the configuration it would run with, one directive a line:
            // the directives of its file (comments and blank lines dropped). chrony's
            // postinst asks it whether a `user` is configured before giving _chrony its
            // files.
            "chronyd" if args == ["-p"] => {
                let conf = self.read("/etc/chrony/chrony.conf")?;
                let directives: String = conf
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with(['#', '!', ';', '%']))
                    .map(|l| format!("{l}\n"))
                    .collect();
                text(true, directives)
            }
            // AppArmor is the running kernel's business: a build has none enabled, and what
            // a script does with it (load a profile) changes no file of the image.
            "aa-enabled" => Ran::status(Status::Failure(1)),
            "mktemp" => {
                self.scratch += 1;
                let path = format!("/tmp/staves-script.{}", self.scratch);
                self.write(&path, "", false);
                text(true, format!("{path}\n"))
            }
            "dpkg-divert" => match args {
                // No package of an image diverts anything.
                [flag, path] if flag == "--truename" => text(true, format!("{path}\n")),
                [flag, _] if flag == "--listpackage" => text(true, String::new()),
                [flag, ..] if flag == "--list" => text(true, String::new()),
                _ => return None,
            },
            "uname" => match args {
                [flag] if flag == "-s" => text(true, "Linux\n".into()),
                [flag] if flag == "-m" => match self.arch.as_str() {
                    "amd64" => text(true, "x86_64\n".into()),
                    "arm64" => text(true, "aarch64\n".into()),
                    _ => Ran::unknown(),
                },
                _ => Ran::unknown(),
            },
            // Paths resolve through merged /usr: `/bin` is `/usr/bin`.
            "dpkg-realpath" => {
                let path = args.last()?;
                match image_path(path) {
                    Some(p) => text(true, format!("/{p}\n")),
                    None => text(true, format!("{path}\n")),
                }
            }
            // update-exim4.conf checks what it generated from Debian's own template before
            // moving it in place; exim cannot run here, and the check is taken as passing
            // (a test runs the same `exim -bV` in a container of the image).
            "exim4" | "exim" if args.iter().any(|a| a == "-bV") => text(true, String::new()),
            // A container has /proc mounted.
            "mountpoint" => text(args.last().is_some_and(|p| p == "/proc"), String::new()),
            // The image is assembled into a root that is not the running system's.
            "ischroot" => text(true, String::new()),
            // Nothing in an image's PAM environment files on a first install.
            "pam_getenv" => text(true, String::new()),
            "md5sum" | "cmp" | "diff" | "readlink" | "realpath" | "find" | "ls" | "stat"
            | "awk" | "hostname" | "runlevel" | "su" | "perl" | "python3" | "date" => {
                Ran::unknown()
            }
            _ => return None,
        })
    }
}

/// `dpkg --compare-versions A OP B`; an empty version is the oldest, or with `-nl` the newest.
pub(super) fn compare_versions(a: &str, op: &str, b: &str) -> Option<bool> {
    use std::cmp::Ordering::*;
    let nl = op.ends_with("-nl");
    let order = match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => {
            if nl {
                Greater
            } else {
                Less
            }
        }
        (false, true) => {
            if nl {
                Less
            } else {
                Greater
            }
        }
        (false, false) => staves_deb::version::compare_str(a, b),
    };
    Some(match op.trim_end_matches("-nl") {
        "lt" | "<<" => order == Less,
        "le" | "<=" => order != Greater,
        "eq" | "=" => order == Equal,
        "ne" => order != Equal,
        "ge" | ">=" => order != Less,
        "gt" | ">>" => order == Greater,
        _ => return None,
    })
}
