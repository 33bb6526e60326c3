//! What maintainer scripts would have done, read from `postinst` without running it.
//!
//! Reproduced, where the script states it literally (no shell variables):
//! * `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…`
//! * `add-shell SHELL…` (entries of `/etc/shells`)
//! * `mkdir -p DIR…` and `install -d [-m MODE] [-o USER] [-g GROUP] DIR…`
//! * `ln -s TARGET LINK` (symbolic links, e.g. enabling a default site)
//! * `cp SOURCE DEST` of a file the image holds (made a hard link: same bytes, no copy)
//! * base-files' own helpers, when the script defines them: `install_directory DIR MODE
//!   GROUP`, `install_local_dir DIR`, `install_from_default FILE DEST` and
//!   `migrate_directory OLD NEW` (a shipped directory replaced by a link, `/var/run` → `/run`)
//!
//! * `adduser --system …`, `addgroup --system …`, `adduser USER GROUP`, `useradd -r …` and
//!   `groupadd -r …`: system accounts, ids allocated as adduser does (first free from 100)
//!
//! `$DPKG_ROOT` is the installation root, empty for a normal installation, and is read as
//! such. Upper-case variables assigned a literal at the top level (`USER=redis`) are
//! substituted; `$quiet`, the usual spelling of an optional `--quiet`, is dropped.
//!
//! Conditions are not evaluated: every literal command counts as run. Not reproduced:
//! anything computed at run time (other variables, loops), debconf questions, service
//! starts, trigger processing and `ldconfig` (libraries in standard paths load without a
//! cache).

/// An alternative registered by a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// The generic link, e.g. `/usr/bin/awk`.
    pub link: String,
    /// The alternative's name, e.g. `awk`.
    pub name: String,
    /// The target, e.g. `/usr/bin/mawk`.
    pub path: String,
    /// Priority; the highest available wins.
    pub priority: i64,
    /// Slave links: `(link, name, path)`.
    pub slaves: Vec<(String, String, String)>,
}

/// A directory a script creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    /// Absolute path.
    pub path: String,
    /// Mode, 0o755 unless given.
    pub mode: u32,
    /// Owner name, when given.
    pub owner: Option<String>,
    /// Group name, when given.
    pub group: Option<String>,
}

/// The effects found in one script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Alternatives installed.
    pub alternatives: Vec<Alternative>,
    /// Shells registered.
    pub shells: Vec<String>,
    /// Directories created.
    pub directories: Vec<Directory>,
    /// Symbolic links created: `(link, target)`.
    pub links: Vec<(String, String)>,
    /// Files copied: `(source, destination)`.
    pub copies: Vec<(String, String)>,
    /// Shipped directories replaced by a symbolic link: `(directory, link target)`.
    pub migrations: Vec<(String, String)>,
    /// Accounts created, in script order.
    pub accounts: Vec<AccountChange>,
}

/// An account a script creates or changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// A system user; its home directory is created unless `--no-create-home`.
    User {
        /// The account.
        account: SystemAccount,
        /// Whether the home directory is created.
        create_home: bool,
    },
    /// A system group, with a fixed gid when given.
    Group(String, Option<u32>),
    /// A user added to a group's members.
    Member(String, String),
}

use crate::accounts::{SystemAccount, SystemGroup};

/// base-files' helper functions, recognised by name where the script defines them.
const BASE_FILES_HELPERS: &[&str] = &[
    "install_directory",
    "install_local_dir",
    "install_from_default",
    "migrate_directory",
];

/// Reads the effects out of a `postinst`.
pub fn postinst_effects(script: &str) -> Effects {
    let mut effects = Effects::default();
    let joined = substitute_constants(
        &script
            .replace("\\\n", " ")
            .replace("${DPKG_ROOT}", "")
            .replace("$DPKG_ROOT", ""),
    );
    let helpers: Vec<&str> = BASE_FILES_HELPERS
        .iter()
        .copied()
        .filter(|name| defines(&joined, name))
        .collect();
    for line in joined.lines() {
        // Split on shell separators so `a && update-alternatives …` is seen.
        for command in line.split(['&', '|', ';']) {
            let words = split_words(command);
            let Some(pos) = words
                .iter()
                .position(|w| !w.contains('=') || w.starts_with('-'))
            else {
                continue;
            };
            let words = &words[pos..];
            let account_command = matches!(
                words.first().map(String::as_str),
                Some("adduser" | "addgroup" | "useradd" | "groupadd")
            );
            let words: Vec<String> = if account_command {
                words
                    .iter()
                    .filter(|w| !matches!(w.as_str(), "$quiet" | "${quiet}"))
                    .cloned()
                    .collect()
            } else {
                words.to_vec()
            };
            let words = words.as_slice();
            if words.iter().any(|w| w.contains('$') || w.contains('`')) {
                continue;
            }
            match words.first().map(String::as_str) {
                Some("update-alternatives") => {
                    if let Some(alt) = parse_alternative(&words[1..]) {
                        effects.alternatives.push(alt);
                    }
                }
                Some("add-shell") => {
                    effects
                        .shells
                        .extend(words[1..].iter().filter(|w| w.starts_with('/')).cloned());
                }
                Some("ln") => {
                    let flags: String = words[1..]
                        .iter()
                        .filter(|w| w.starts_with('-'))
                        .map(|w| w.trim_start_matches('-'))
                        .collect();
                    let args: Vec<&String> =
                        words[1..].iter().filter(|w| !w.starts_with('-')).collect();
                    if flags.contains('s')
                        && flags.chars().all(|c| "sfnT".contains(c))
                        && let [target, link] = args.as_slice()
                        && link.starts_with('/')
                    {
                        effects.links.push(((*link).clone(), (*target).clone()));
                    }
                }
                Some("cp") => {
                    let args: Vec<&String> =
                        words[1..].iter().filter(|w| !w.starts_with('-')).collect();
                    let plain_flags = words[1..]
                        .iter()
                        .filter(|w| w.starts_with('-'))
                        .all(|w| matches!(w.as_str(), "-a" | "-p" | "-f"));
                    if plain_flags
                        && let [source, dest] = args.as_slice()
                        && source.starts_with('/')
                        && dest.starts_with('/')
                    {
                        effects.copies.push(((*source).clone(), (*dest).clone()));
                    }
                }
                Some("mkdir") | Some("install") => {
                    if let Some(dirs) = parse_mkdir(words) {
                        effects.directories.extend(dirs);
                    }
                }
                Some(name) if helpers.contains(&name) => base_files_helper(words, &mut effects),
                Some("adduser" | "useradd") => {
                    effects.accounts.extend(parse_adduser(words));
                }
                Some("addgroup" | "groupadd") => {
                    effects.accounts.extend(parse_addgroup(words));
                }
                _ => {}
            }
        }
    }
    effects
}

/// Substitutes variables that the script assigns a literal once, at the start of a line
/// (`USER=redis`, `DIR="/var/lib/x"`, automake's `ver=1.16`); anything assigned twice or
/// computed is left.
fn substitute_constants(script: &str) -> String {
    let mut values: Vec<(String, Option<String>)> = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || name.as_bytes()[0].is_ascii_digit()
        {
            continue;
        }
        let value = value.trim();
        let literal = match split_words(value).as_slice() {
            [one] if !one.contains(['$', '`']) && !value.contains(['$', '`', ';', '(']) => {
                Some(one.clone())
            }
            _ => None,
        };
        match values.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = None,
            None => values.push((name.to_owned(), literal)),
        }
    }
    let mut out = script.to_owned();
    for (name, value) in values {
        if let Some(value) = value {
            out = out
                .replace(&format!("${{{name}}}"), &value)
                .replace(&format!("\"${name}\""), &value);
            // A bare `$NAME` only where the name ends there.
            let bare = format!("${name}");
            let mut result = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(at) = rest.find(&bare) {
                let after = &rest[at + bare.len()..];
                result.push_str(&rest[..at]);
                if after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    result.push_str(&bare);
                } else {
                    result.push_str(&value);
                }
                rest = after;
            }
            result.push_str(rest);
            out = result;
        }
    }
    out
}

/// `adduser --system [options] NAME`, `adduser USER GROUP`, `useradd -r [options] NAME`.
fn parse_adduser(words: &[String]) -> Option<AccountChange> {
    let useradd = words[0] == "useradd";
    let mut system = false;
    let mut account = SystemAccount::default();
    let mut create_home = !useradd;
    let mut positional = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i].as_str();
        let mut value = || {
            i += 1;
            words.get(i).cloned()
        };
        match w {
            "--system" | "-r" => system = true,
            "--group" | "-U" | "--user-group" => account.group = SystemGroup::Own,
            "--ingroup" | "-g" | "--gid" => account.group = SystemGroup::Named(value()?),
            "--home" | "--home-dir" | "-d" => account.home = Some(value()?),
            "--shell" | "-s" => account.shell = Some(value()?),
            "--gecos" | "--comment" | "-c" => account.gecos = Some(value()?),
            "--uid" | "-u" => account.uid = Some(value()?.parse().ok()?),
            "--no-create-home" | "-M" | "--no-create-home-dir" => create_home = false,
            "--create-home" | "-m" => create_home = true,
            "--quiet"
            | "-q"
            | "--disabled-password"
            | "--disabled-login"
            | "--force-badname"
            | "--allow-bad-names"
            | "--no-log-init"
            | "-l" => {}
            _ if w.starts_with('-') => return None, // an option not modelled
            _ => positional.push(w.to_owned()),
        }
        i += 1;
    }
    if useradd && account.group == SystemGroup::Nogroup {
        // useradd's default on Debian (USERGROUPS_ENAB yes): a group named like the user.
        account.group = SystemGroup::Own;
    }
    match positional.as_slice() {
        [name] if system => {
            account.name = name.clone();
            let home = account.home.as_deref().unwrap_or("/nonexistent");
            create_home &= home != "/nonexistent" && home.starts_with('/');
            Some(AccountChange::User {
                account,
                create_home,
            })
        }
        [user, group] if !system && !useradd => {
            Some(AccountChange::Member(user.clone(), group.clone()))
        }
        _ => None,
    }
}

/// `addgroup --system [--gid N] NAME`, `groupadd -r [-g N] NAME`.
fn parse_addgroup(words: &[String]) -> Option<AccountChange> {
    let mut system = false;
    let mut gid = None;
    let mut positional = Vec::new();
    let mut i = 1;
    while i < words.len() {
        match words[i].as_str() {
            "--system" | "-r" => system = true,
            "--gid" | "-g" => {
                i += 1;
                gid = Some(words.get(i)?.parse().ok()?);
            }
            "--quiet" | "-q" | "-f" | "--force" => {}
            w if w.starts_with('-') => return None,
            w => positional.push(w.to_owned()),
        }
        i += 1;
    }
    match positional.as_slice() {
        [name] if system => Some(AccountChange::Group(name.clone(), gid)),
        _ => None,
    }
}

/// Whether `script` defines the shell function `name` (`name() {`).
fn defines(script: &str, name: &str) -> bool {
    script.lines().any(|line| {
        line.trim_start()
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_start().starts_with("()"))
    })
}

/// A call of one of base-files' helpers, as its definition in base-files 12 behaves.
fn base_files_helper(words: &[String], effects: &mut Effects) {
    let absolute = |p: &str| format!("/{}", p.trim_start_matches('/'));
    match words {
        [name, dir, mode, group] if name == "install_directory" => {
            if let Ok(mode) = u32::from_str_radix(mode, 8) {
                effects.directories.push(Directory {
                    path: absolute(dir),
                    mode,
                    owner: Some("root".into()),
                    group: Some(group.clone()),
                });
            }
        }
        [name, dir] if name == "install_local_dir" => effects.directories.push(Directory {
            path: absolute(dir),
            mode: 0o755,
            owner: None,
            group: None,
        }),
        [name, file, dest] if name == "install_from_default" && !file.contains('/') => {
            effects
                .copies
                .push((format!("/usr/share/base-files/{file}"), absolute(dest)));
        }
        // libc-bin's function of the same name takes both paths whole (it installs
        // /etc/nsswitch.conf, without which glibc finds no groups and asks DNS first).
        [name, file, dest] if name == "install_from_default" && file.starts_with('/') => {
            effects.copies.push((file.clone(), absolute(dest)));
        }
        [name, old, new] if name == "migrate_directory" && new.starts_with('/') => {
            effects.migrations.push((absolute(old), new.clone()));
        }
        _ => {}
    }
}

fn parse_alternative(args: &[String]) -> Option<Alternative> {
    let start = args.iter().position(|a| a == "--install")?;
    let rest = &args[start + 1..];
    let [link, name, path, priority, ..] = rest else {
        return None;
    };
    let mut alt = Alternative {
        link: link.clone(),
        name: name.clone(),
        path: path.clone(),
        priority: priority.parse().ok()?,
        slaves: Vec::new(),
    };
    let mut i = 4;
    while i < rest.len() {
        if rest[i] == "--slave"
            && let Some([l, n, p]) = rest.get(i + 1..i + 4)
        {
            alt.slaves.push((l.clone(), n.clone(), p.clone()));
            i += 4;
        } else {
            i += 1;
        }
    }
    (alt.link.starts_with('/') && alt.path.starts_with('/')).then_some(alt)
}

fn parse_mkdir(words: &[String]) -> Option<Vec<Directory>> {
    let is_install = words[0] == "install";
    let mut mode = 0o755;
    let (mut owner, mut group) = (None, None);
    let mut saw_d = !is_install;
    let mut dirs = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        match w.as_str() {
            "-p" | "--parents" => {}
            "-d" | "--directory" => saw_d = true,
            "-m" | "--mode" => {
                mode = u32::from_str_radix(words.get(i + 1)?, 8).ok()?;
                i += 1;
            }
            "-o" | "--owner" => {
                owner = Some(words.get(i + 1)?.clone());
                i += 1;
            }
            "-g" | "--group" => {
                group = Some(words.get(i + 1)?.clone());
                i += 1;
            }
            _ if w.starts_with("-m") && w.len() > 2 => {
                mode = u32::from_str_radix(&w[2..], 8).ok()?
            }
            _ if w.starts_with('-') => return None, // an option we do not model
            _ if w.starts_with('/') => dirs.push(w.clone()),
            _ => return None,
        }
        i += 1;
    }
    saw_d.then(|| {
        dirs.into_iter()
            .map(|path| Directory {
                path,
                mode,
                owner: owner.clone(),
                group: group.clone(),
            })
            .collect()
    })
}

/// Splits a command into words, honouring single and double quotes.
fn split_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in command.chars() {
        match (quote, c) {
            (None, '#') if !in_word => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            (_, c) => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_system_accounts_as_adduser_and_useradd_create_them() {
        let script = r#"#!/bin/sh
USER="redis"
[ "$DPKG_MAINTSCRIPT_PACKAGE" ] && quiet="--quiet"
if ! getent passwd postgres > /dev/null; then
    adduser --system $quiet --home /var/lib/postgresql --no-create-home         --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
fi
addgroup --system $quiet postgres
adduser $quiet postgres ssl-cert
adduser --quiet --system --no-create-home --home /run/sshd --shell /usr/sbin/nologin sshd
adduser     --system     --home /var/lib/redis     --quiet     --group     ${USER} || true
useradd -r -d /var/lib/app -s /bin/false app
adduser --system --some-new-option odd
"#;
        let e = postinst_effects(script);
        let users: Vec<(&str, &SystemGroup, Option<&str>, bool)> = e
            .accounts
            .iter()
            .filter_map(|c| match c {
                AccountChange::User {
                    account,
                    create_home,
                } => Some((
                    account.name.as_str(),
                    &account.group,
                    account.home.as_deref(),
                    *create_home,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            users,
            [
                (
                    "postgres",
                    &SystemGroup::Own,
                    Some("/var/lib/postgresql"),
                    false
                ),
                ("sshd", &SystemGroup::Nogroup, Some("/run/sshd"), false),
                ("redis", &SystemGroup::Own, Some("/var/lib/redis"), true),
                ("app", &SystemGroup::Own, Some("/var/lib/app"), false),
            ]
        );
        assert!(
            e.accounts
                .contains(&AccountChange::Group("postgres".into(), None))
        );
        assert!(
            e.accounts
                .contains(&AccountChange::Member("postgres".into(), "ssl-cert".into()))
        );
    }

    #[test]
    fn installs_libc_bins_nsswitch_conf_on_a_first_configure() {
        let script = r#"#!/bin/sh
set -e
install_from_default() {
  if [ ! -f $2 ]; then
    cp -p $1 $2
  fi
}
if [ "$1" = "configure" ] && [ "$2" = "" ] ; then
  install_from_default "$DPKG_ROOT/usr/share/libc-bin/nsswitch.conf" "$DPKG_ROOT/etc/nsswitch.conf"
fi
"#;
        let e = postinst_effects(script);
        assert_eq!(
            e.copies,
            [(
                "/usr/share/libc-bin/nsswitch.conf".to_owned(),
                "/etc/nsswitch.conf".to_owned()
            )]
        );
    }

    #[test]
    fn reads_base_files_helpers_where_the_script_defines_them() {
        let script = r#"#!/bin/sh
install_directory() {
  if [ ! -d "$DPKG_ROOT/$1" ]; then
    mkdir "$DPKG_ROOT/$1"
  fi
}
migrate_directory() {
  ln -s "$2" "$DPKG_ROOT$1"
}
install_from_default() {
  cp -p "$DPKG_ROOT/usr/share/base-files/$1" "$DPKG_ROOT$2"
}
install_local_dir() {
  mkdir -p "$DPKG_ROOT$1"
}
if [ "$1" = "configure" ] && [ "$2" = "" ]; then
  install_from_default dot.profile   /root/.profile
  install_directory var/mail 2775 mail
  if [ ! -L "$DPKG_ROOT/var/spool/mail" ]; then
    ln -s ../mail "$DPKG_ROOT/var/spool/mail"
  fi
  migrate_directory /var/run /run
  install_local_dir /usr/local/bin
  ln -sf share/man "$DPKG_ROOT/usr/local/man"
fi
"#;
        let e = postinst_effects(script);
        assert_eq!(e.migrations, [("/var/run".to_owned(), "/run".to_owned())]);
        assert_eq!(
            e.copies,
            [(
                "/usr/share/base-files/dot.profile".to_owned(),
                "/root/.profile".to_owned()
            )]
        );
        assert!(e.directories.contains(&Directory {
            path: "/var/mail".into(),
            mode: 0o2775,
            owner: Some("root".into()),
            group: Some("mail".into()),
        }));
        assert!(e.directories.iter().any(|d| d.path == "/usr/local/bin"));
        assert!(
            e.links
                .contains(&("/var/spool/mail".into(), "../mail".into()))
        );
        assert!(
            e.links
                .contains(&("/usr/local/man".into(), "share/man".into()))
        );

        // The same words in a script that does not define the helper mean nothing.
        let e = postinst_effects("migrate_directory /var/run /run\n");
        assert!(e.migrations.is_empty());
    }

    #[test]
    fn expands_lower_case_constants_in_alternatives() {
        let script = "#!/bin/sh\nset -e\nver=1.16\nprio=34\n\nupdate-alternatives --install /usr/bin/automake automake \\\n\t/usr/bin/automake-$ver $prio \\\n\t--slave /usr/bin/aclocal aclocal /usr/bin/aclocal-$ver\n";
        let effects = postinst_effects(script);
        let alt = effects.alternatives.first().expect("read");
        assert_eq!(
            (alt.path.as_str(), alt.priority),
            ("/usr/bin/automake-1.16", 34)
        );
        assert_eq!(alt.slaves[0].2, "/usr/bin/aclocal-1.16");
    }

    #[test]
    fn reads_alternatives_shells_and_directories() {
        let script = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n    --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz\nfi\nadd-shell /bin/bash /bin/rbash\ninstall -d -m 0750 -o www-data -g adm /var/log/nginx\nmkdir -p /var/lib/nginx\nupdate-alternatives --install $LINK x /usr/bin/x 1\n";
        let e = postinst_effects(script);
        assert_eq!(e.alternatives.len(), 1);
        let awk = &e.alternatives[0];
        assert_eq!(
            (
                awk.link.as_str(),
                awk.name.as_str(),
                awk.path.as_str(),
                awk.priority
            ),
            ("/usr/bin/awk", "awk", "/usr/bin/mawk", 5)
        );
        assert_eq!(
            awk.slaves,
            [(
                "/usr/share/man/man1/awk.1.gz".into(),
                "awk.1.gz".into(),
                "/usr/share/man/man1/mawk.1.gz".into()
            )]
        );
        assert_eq!(e.shells, ["/bin/bash", "/bin/rbash"]);
        assert_eq!(
            e.directories[0],
            Directory {
                path: "/var/log/nginx".into(),
                mode: 0o750,
                owner: Some("www-data".into()),
                group: Some("adm".into())
            }
        );
        assert_eq!(e.directories[1].path, "/var/lib/nginx");
        let site = "  ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default\n  cp /usr/share/nginx/html/index.html /var/www/html/index.nginx-debian.html\nln /a /b\n";
        let e = postinst_effects(site);
        assert_eq!(
            e.links,
            [(
                "/etc/nginx/sites-enabled/default".into(),
                "/etc/nginx/sites-available/default".into()
            )]
        );
        assert_eq!(
            e.copies,
            [(
                "/usr/share/nginx/html/index.html".into(),
                "/var/www/html/index.nginx-debian.html".into()
            )]
        );
    }
}
