//! `systemd-sysusers` and `systemd-tmpfiles --create` as postinsts call them: the accounts
//! of `sysusers.d` files made as useradd and groupadd would make them, and the directories
//! and files of `tmpfiles.d` files made with their owners and modes — read from the image,
//! every `/usr/lib/{sysusers,tmpfiles}.d/*.conf` when no file is named.

use staves_maintscript::{Image, Ran, Status};

use super::Host;
use crate::scripts::{Directory, ModeChange, Override};

impl Host<'_> {
    /// `systemd-sysusers [FILE…]`.
    pub(super) fn sysusers(&mut self, argv: &[String]) -> Ran {
        let Some(files) = self.declarations(argv, "sysusers.d", &[]) else {
            return self.not_modelled(argv);
        };
        let mut known = true;
        for file in files {
            let Some(text) = self.read(&file) else {
                known = false;
                continue;
            };
            for line in text.lines() {
                let words = words(line);
                let word = |i: usize| words.get(i).map(String::as_str).filter(|w| *w != "-");
                let command: Vec<String> = match (word(0), word(1)) {
                    (None, _) | (Some("r"), _) => continue,
                    (Some("u"), Some(name)) if self.accounts.user(name).is_none() => {
                        let mut command = vec!["useradd", "-r", "-M"];
                        // `ID` may be `UID:GID` or a path whose owner gives it: the number
                        // only when it is one.
                        let uid = word(2).and_then(|id| id.split(':').next());
                        if let Some(uid) = uid.filter(|u| u.parse::<u32>().is_ok()) {
                            command.extend(["-u", uid]);
                        }
                        if let Some(gecos) = word(3) {
                            command.extend(["-c", gecos]);
                        }
                        command.extend(["-d", word(4).unwrap_or("/")]);
                        command.extend(["-s", word(5).unwrap_or("/usr/sbin/nologin")]);
                        command.push(name);
                        command.into_iter().map(str::to_owned).collect()
                    }
                    (Some("g"), Some(name)) if self.accounts.group(name).is_none() => {
                        let mut command = vec!["groupadd", "-r"];
                        if let Some(gid) = word(2).filter(|g| g.parse::<u32>().is_ok()) {
                            command.extend(["-g", gid]);
                        }
                        command.push(name);
                        command.into_iter().map(str::to_owned).collect()
                    }
                    (Some("m"), Some(user)) => match word(2) {
                        Some(group) => vec!["adduser".into(), user.into(), group.into()],
                        None => {
                            known = false;
                            continue;
                        }
                    },
                    (Some("u" | "g"), Some(_)) => continue, // there already
                    _ => {
                        known = false;
                        continue;
                    }
                };
                if self
                    .model(&command)
                    .is_none_or(|ran| ran.status != Status::Success)
                {
                    known = false;
                }
            }
        }
        if known {
            Ran::ok()
        } else {
            self.not_modelled(argv)
        }
    }

    /// `systemd-tmpfiles --create [FILE…]`: `d` and `D` lines make directories, `f` empty
    /// files that are missing, `L` links; ages, cleaning and removal concern a running
    /// system.
    pub(super) fn tmpfiles(&mut self, argv: &[String]) -> Ran {
        if !argv.iter().any(|a| a == "--create") {
            return Ran::ok();
        }
        let Some(files) = self.declarations(argv, "tmpfiles.d", &["--create"]) else {
            return self.not_modelled(argv);
        };
        let mut known = true;
        for file in files {
            let Some(text) = self.read(&file) else {
                known = false;
                continue;
            };
            for line in text.lines() {
                let words = words(line);
                let word = |i: usize| words.get(i).map(String::as_str).filter(|w| *w != "-");
                let (Some(kind), Some(path)) = (word(0), word(1)) else {
                    continue;
                };
                // `d!`, `d-`: boot-only and similar modifiers change nothing at install.
                let kind = kind.trim_end_matches(['!', '-', '=', '~', '^', '+']);
                if path.contains('%') {
                    known = false; // specifiers (%h, %t) are the running system's
                    continue;
                }
                let mode =
                    word(2).and_then(|m| u32::from_str_radix(m.trim_start_matches('~'), 8).ok());
                let (owner, group) = (word(3).map(str::to_owned), word(4).map(str::to_owned));
                match kind {
                    "d" | "D" => {
                        self.make_dir(Directory {
                            path: path.to_owned(),
                            mode: mode.unwrap_or(0o755),
                            owner: owner.clone(),
                            group: group.clone(),
                        });
                        self.override_path(
                            path,
                            Override {
                                owner,
                                group,
                                mode: mode.map(ModeChange::Set),
                                recursive: false,
                            },
                        );
                    }
                    "f" if !self.exists(path) => {
                        self.write(path, word(6).unwrap_or_default(), false);
                        self.override_path(
                            path,
                            Override {
                                owner,
                                group,
                                mode: Some(ModeChange::Set(mode.unwrap_or(0o644))),
                                recursive: false,
                            },
                        );
                    }
                    "L" if !self.exists(path) => match word(6) {
                        Some(target) => {
                            let command = ["ln", "-s", target, path].map(str::to_owned);
                            if self.model(&command).is_none() {
                                known = false;
                            }
                        }
                        None => known = false,
                    },
                    // What exists already, what is cleaned or removed, what is written to
                    // (`w`), copied at boot (`C`), attributes: the running system's.
                    _ => {}
                }
            }
        }
        if known {
            Ran::ok()
        } else {
            self.not_modelled(argv)
        }
    }

    /// The files a `systemd-sysusers`/`systemd-tmpfiles` call names (absolute, or in
    /// `/usr/lib/DIR/`), every `*.conf` there when it names none; `None` for an option not
    /// among `flags`.
    fn declarations(&self, argv: &[String], dir: &str, flags: &[&str]) -> Option<Vec<String>> {
        let mut named = Vec::new();
        for arg in &argv[1..] {
            if arg.starts_with('-') {
                if !flags.contains(&arg.as_str()) {
                    return None;
                }
            } else if arg.starts_with('/') {
                named.push(arg.clone());
            } else {
                named.push(format!("/usr/lib/{dir}/{arg}"));
            }
        }
        if named.is_empty() {
            named = self
                .glob(&format!("/usr/lib/{dir}/*.conf"))
                .unwrap_or_default();
        }
        Some(named)
    }
}

/// The words of a `sysusers.d`/`tmpfiles.d` line, `"…"` quoting kept together; none for
/// comments.
fn words(line: &str) -> Vec<String> {
    let line = line.trim();
    if line.starts_with('#') {
        return Vec::new();
    }
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            c => {
                current.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn lines_split_into_words_with_quotes() {
        assert_eq!(
            words(r#"u     tomcat   -   "Apache Tomcat"   /var/lib/tomcat  /usr/sbin/nologin"#),
            [
                "u",
                "tomcat",
                "-",
                "Apache Tomcat",
                "/var/lib/tomcat",
                "/usr/sbin/nologin"
            ]
        );
        assert!(words("# Type Name").is_empty());
        assert_eq!(
            words("d /var/log/x 2770 tomcat adm -"),
            ["d", "/var/log/x", "2770", "tomcat", "adm", "-"]
        );
    }
}
