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
                // `u!`: the account locked and expired.
                let expired = word(0).is_some_and(|k| k.ends_with('!'));
                let kind = word(0).map(|k| k.trim_end_matches('!'));
                let commands: Vec<Vec<String>> = match (kind, word(1)) {
                    (None, _) | (Some("r"), _) => continue,
                    (Some("u"), Some(name)) if self.accounts.user(name).is_none() => {
                        match self.sysusers_user(name, word(2)) {
                            Some((uid, group, new_group)) => {
                                let (uid, gecos) = (uid.to_string(), word(3));
                                let mut useradd = vec!["useradd", "-r", "-M", "-u", &uid];
                                useradd.extend(["-g", &group]);
                                if let Some(gecos) = gecos {
                                    useradd.extend(["-c", gecos]);
                                }
                                useradd.extend(["-d", word(4).unwrap_or("/")]);
                                useradd.extend(["-s", word(5).unwrap_or("/usr/sbin/nologin")]);
                                useradd.push(name);
                                let mut commands = Vec::new();
                                if let Some(gid) = new_group {
                                    let gid = gid.to_string();
                                    commands.push(
                                        ["groupadd", "-r", "-g", &gid, name]
                                            .map(str::to_owned)
                                            .to_vec(),
                                    );
                                }
                                commands.push(useradd.into_iter().map(str::to_owned).collect());
                                commands
                            }
                            None => {
                                known = false;
                                continue;
                            }
                        }
                    }
                    (Some("g"), Some(name)) if self.accounts.group(name).is_none() => {
                        let mut command = vec!["groupadd", "-r"];
                        if let Some(gid) = word(2).filter(|g| g.parse::<u32>().is_ok()) {
                            command.extend(["-g", gid]);
                        }
                        command.push(name);
                        vec![command.into_iter().map(str::to_owned).collect()]
                    }
                    (Some("m"), Some(user)) => match word(2) {
                        Some(group) => vec![vec!["adduser".into(), user.into(), group.into()]],
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
                for command in &commands {
                    if self
                        .model(command)
                        .is_none_or(|ran| ran.status != Status::Success)
                    {
                        known = false;
                    }
                }
                // What it made is locked as systemd-sysusers locks it.
                for command in &commands {
                    let made = command.last().map(String::as_str);
                    match command.first().map(String::as_str) {
                        Some("useradd") => self.accounts.made_by_sysusers(made, None, expired),
                        Some("groupadd") => self.accounts.made_by_sysusers(None, made, false),
                        _ => {}
                    }
                }
            }
        }
        if known {
            Ran::ok()
        } else {
            self.not_modelled(argv)
        }
    }

    /// The ids of a `u` line's new account as systemd-sysusers picks them: `UID:GID` (or a
    /// group name) as given, `-:GID` with the uid picked as below; a bare `UID` with a group of that number where it is free;
    /// none, the highest system id free both as a user's and as a group's. Returns the uid,
    /// the group for `useradd -g`, and the gid of a group to make first, if any; `None` for
    /// an id taken from a path's owner, which the walk does not read.
    fn sysusers_user(&self, name: &str, id: Option<&str>) -> Option<(u32, String, Option<u32>)> {
        let users = &self.accounts.users;
        let groups = &self.accounts.groups;
        let uid_free = |id: u32| !users.iter().any(|u| u.uid == id);
        let gid_free = |id: u32| !groups.iter().any(|g| g.gid == id);
        let top_down = |free: &dyn Fn(u32) -> bool| (100..1000).rev().find(|id| free(*id));
        let own_group = |gid: u32| match self.accounts.group(name) {
            Some(_) => (name.to_owned(), None),
            None => (name.to_owned(), Some(gid)),
        };
        match id {
            Some(id) if id.contains(':') => {
                let (uid, group) = id.split_once(':')?;
                // `-:GROUP`: the id picked as for a user without one, in a given group.
                let uid: u32 = match uid {
                    "-" => top_down(&|id| uid_free(id) && gid_free(id))?,
                    uid => uid.parse().ok()?,
                };
                let group = match group.parse::<u32>() {
                    Ok(gid) => groups.iter().find(|g| g.gid == gid)?.name.clone(),
                    Err(_) => group.to_owned(),
                };
                Some((uid, group, None))
            }
            Some(id) => {
                let uid: u32 = id.parse().ok()?;
                let gid = if gid_free(uid) {
                    uid
                } else {
                    top_down(&gid_free)?
                };
                let (group, new) = own_group(gid);
                Some((uid, group, new))
            }
            None => {
                let both = top_down(&|id| uid_free(id) && gid_free(id))?;
                let (group, new) = own_group(both);
                Some((both, group, new))
            }
        }
    }

    /// `systemd-tmpfiles --create [FILE…]`: `d` and `D` lines make directories, `f` empty
    /// files that are missing, `L` links; ages, cleaning and removal concern a running
    /// system.
    pub(super) fn tmpfiles(&mut self, argv: &[String]) -> Ran {
        if !argv.iter().any(|a| a == "--create") {
            return Ran::ok();
        }
        let Some(files) = self.declarations(argv, "tmpfiles.d", &["--create", "--boot"]) else {
            return self.not_modelled(argv);
        };
        let boot = argv.iter().any(|a| a == "--boot");
        let mut known = true;
        // A path configured again in a later file (legacy.conf's /run/lock after
        // debian.conf's) is a duplicate systemd-tmpfiles ignores: the first line stands.
        let mut configured: std::collections::HashSet<String> = std::collections::HashSet::new();
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
                // `!`: only at boot, which `--create` alone is not. `^`: the argument is a
                // credential, which a package's install has none of, and the line is
                // skipped without one.
                let modifiers = &kind[kind.len().min(1)..];
                if (modifiers.contains('!') && !boot) || modifiers.contains('^') {
                    continue;
                }
                let kind = kind.trim_end_matches(['!', '-', '=', '~', '^', '+']);
                if !configured.insert(path.trim_end_matches('/').to_owned()) {
                    continue;
                }
                if path.contains('%') {
                    known = false; // specifiers (%h, %t) are the running system's
                    continue;
                }
                // A `:` before a mode, user or group: used only when the line creates the
                // path, not on one already there.
                let exists = self.exists(path);
                let only_new = |w: Option<&str>| match w {
                    Some(w) if w.starts_with(':') => (!exists).then(|| w[1..].to_owned()),
                    other => other.map(str::to_owned),
                };
                let mode = only_new(word(2))
                    .and_then(|m| u32::from_str_radix(m.trim_start_matches('~'), 8).ok());
                let (owner, group) = (only_new(word(3)), only_new(word(4)));
                match kind {
                    "d" | "D" => {
                        // A directory already there keeps what the line does not set.
                        if !exists {
                            self.make_dir(Directory {
                                path: path.to_owned(),
                                mode: mode.unwrap_or(0o755),
                                owner: owner.clone(),
                                group: group.clone(),
                            });
                        }
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
                        // The argument is the rest of the line, with C escapes
                        // (varnish's CACHEDIR.TAG: `Signature: …\n# …`).
                        let argument = words.get(6..).map(|rest| rest.join(" "));
                        let text = unescape_c(argument.as_deref().unwrap_or_default());
                        self.write(path, &text, false);
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

/// A tmpfiles.d argument's C escapes (`\n`, `\t`, `\\`, `\xHH`) as their characters.
fn unescape_c(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) => out.push(char::from(b)),
                    Err(_) => {
                        out.push_str("\\x");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
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
    fn arguments_take_c_escapes() {
        assert_eq!(
            super::unescape_c(r"Signature: 8a47\n# a cache\x21"),
            "Signature: 8a47\n# a cache!"
        );
    }

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
