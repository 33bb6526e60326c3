//! What maintainer scripts do to an image, as the walk of each `postinst` records it
//! (see [`crate::host`] for the commands modelled): alternatives, shells, directories,
//! links, copies, files written, owners and modes changed, accounts; and what could not
//! be followed, reported per package.

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
    /// Shipped symlinks `rm` removed, as layer paths (fontconfig's postinst removes and
    /// makes again the links it manages).
    pub removed_links: Vec<String>,
    /// Files copied: `(source, destination)`.
    pub copies: Vec<(String, String)>,
    /// Shipped directories replaced by a symbolic link: `(directory, link target)`.
    pub migrations: Vec<(String, String)>,
    /// Accounts created, in script order.
    pub accounts: Vec<AccountChange>,
    /// Owners and modes changed (`chown`, `chmod`, `dpkg-statoverride`), as layer paths,
    /// in script order.
    pub overrides: Vec<(String, Override)>,
    /// `pam-auth-update --package` ran: the `common-*` files are made from the profiles.
    pub pam_auth_update: bool,
    /// passwd's `shadowconfig on` ran: `/etc/shadow` and `/etc/gshadow` exist.
    pub shadowed: bool,
    /// Commands not modelled, once each, as the script called them.
    pub unmodelled: Vec<String>,
    /// Commands that make run-time state, left to the container's first start.
    pub run_time: Vec<String>,
}

/// An owner, group or mode a script sets on a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The owner's name.
    pub owner: Option<String>,
    /// The group's name.
    pub group: Option<String>,
    /// The mode.
    pub mode: Option<ModeChange>,
    /// For everything below the path too (`-R`).
    pub recursive: bool,
}

/// A `chmod` mode: octal, or symbolic (`g+w`, `u=rwx,go=rx`, `+t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeChange {
    /// The mode bits, set whole.
    Set(u32),
    /// Symbolic clauses, applied to the current mode.
    Symbolic(Vec<(u32, char, u32)>),
}

impl ModeChange {
    /// Reads an octal or symbolic mode.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(mode) = u32::from_str_radix(text, 8) {
            return (mode <= 0o7777).then_some(ModeChange::Set(mode));
        }
        let mut clauses = Vec::new();
        for clause in text.split(',') {
            let op_at = clause.find(['+', '-', '='])?;
            let (who, rest) = clause.split_at(op_at);
            let mut who_mask = 0;
            for c in who.chars() {
                who_mask |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return None,
                };
            }
            if who_mask == 0 {
                who_mask = 0o7777;
            }
            let op = rest.chars().next()?;
            let mut perm = 0;
            for c in rest[1..].chars() {
                perm |= match c {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' | 'X' => 0o111,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return None,
                };
            }
            clauses.push((who_mask, op, perm));
        }
        Some(ModeChange::Symbolic(clauses))
    }

    /// The mode after the change.
    pub fn apply(&self, mode: u32) -> u32 {
        match self {
            ModeChange::Set(m) => *m,
            ModeChange::Symbolic(clauses) => clauses.iter().fold(mode, |mode, &(who, op, perm)| {
                let bits = who & perm;
                match op {
                    '+' => mode | bits,
                    '-' => mode & !bits,
                    _ => (mode & !(who & 0o7777)) | bits,
                }
            }),
        }
    }
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

/// `adduser --system [options] NAME`, `adduser USER GROUP`, `useradd -r [options] NAME`.
pub(crate) fn parse_adduser(words: &[String]) -> Option<AccountChange> {
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
            | "--allow-all-names"
            | "--no-log-init"
            | "--debug"
            | "--verbose"
            | "-l" => {}
            // adduser's message levels (3.130 on): what it prints, not what it makes.
            _ if is_message_level(w) => {
                if !w.contains('=') {
                    value()?;
                }
            }
            _ if w.starts_with('-') => return None, // an option not modelled
            _ => positional.push(w.to_owned()),
        }
        i += 1;
    }
    // adduser fills the GECOS fields it was not given (room number, phones): `Name,,,`.
    if !useradd && let Some(gecos) = account.gecos.as_mut().filter(|g| !g.contains(',')) {
        gecos.push_str(",,,");
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

/// `--stdoutmsglevel`, `--stderrmsglevel`, `--logmsglevel`, with `=LEVEL` or before it.
fn is_message_level(option: &str) -> bool {
    let name = option.split('=').next().unwrap_or(option);
    matches!(
        name,
        "--stdoutmsglevel" | "--stderrmsglevel" | "--logmsglevel"
    )
}

/// `addgroup --system [--gid N] NAME`, `groupadd -r [-g N] NAME`.
pub(crate) fn parse_addgroup(words: &[String]) -> Option<AccountChange> {
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
            "--quiet" | "-q" | "-f" | "--force" | "--force-badname" | "--allow-bad-names"
            | "--allow-all-names" | "--debug" | "--verbose" => {}
            w if is_message_level(w) => {
                if !w.contains('=') {
                    i += 1;
                    words.get(i)?;
                }
            }
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

pub(crate) fn parse_alternative(args: &[String]) -> Option<Alternative> {
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

pub(crate) fn parse_mkdir(words: &[String]) -> Option<Vec<Directory>> {
    let is_install = words[0] == "install";
    let mut mode = 0o755;
    let (mut owner, mut group) = (None, None);
    let mut saw_d = !is_install;
    let mut dirs = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = &words[i];
        match w.as_str() {
            "--parents" => {}
            // `-p`, and `-Z` (an SELinux context, which an image does not carry), alone or
            // together.
            _ if w.len() > 1 && w[1..].chars().all(|c| "pZ".contains(c)) && w.starts_with('-') => {}
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
            // Values joined to their option: `-m2750`, `-oDebian-exim`, `--group=adm`.
            _ if w.starts_with("-m") && w.len() > 2 => {
                mode = u32::from_str_radix(&w[2..], 8).ok()?
            }
            _ if w.starts_with("--mode=") => {
                mode = u32::from_str_radix(&w["--mode=".len()..], 8).ok()?
            }
            _ if w.starts_with("-o") && w.len() > 2 && is_install => {
                owner = Some(w[2..].to_owned())
            }
            _ if w.starts_with("--owner=") => owner = Some(w["--owner=".len()..].to_owned()),
            _ if w.starts_with("-g") && w.len() > 2 && is_install => {
                group = Some(w[2..].to_owned())
            }
            _ if w.starts_with("--group=") => group = Some(w["--group=".len()..].to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    use crate::accounts::Accounts;
    use crate::host::{Host, Known};

    /// The effects of `script` on an image holding `files`.
    fn walk(script: &str, files: &[&str]) -> Effects {
        walk_reading(script, files, &[])
    }

    /// The same, with the bytes of some files known (`PATH`, `TEXT`).
    fn walk_reading(script: &str, files: &[&str], texts: &[(&str, &str)]) -> Effects {
        walk_installed(script, files, texts, &BTreeMap::new())
    }

    /// The same, with packages installed at versions.
    fn walk_installed(
        script: &str,
        files: &[&str],
        texts: &[(&str, &str)],
        installed: &BTreeMap<String, String>,
    ) -> Effects {
        walk_accounts(script, files, texts, installed).0
    }

    /// The same, with the accounts the walk leaves and the files it writes.
    fn walk_accounts(
        script: &str,
        files: &[&str],
        texts: &[(&str, &str)],
        installed: &BTreeMap<String, String>,
    ) -> (
        Effects,
        Accounts,
        BTreeMap<String, String>,
        staves_maintscript::Report,
    ) {
        let lists = HashMap::new();
        let debconf = HashMap::new();
        let contents: BTreeMap<String, Vec<u8>> = texts
            .iter()
            .map(|(p, t)| (p.trim_start_matches('/').to_owned(), t.as_bytes().to_vec()))
            .collect();
        let files: Vec<&str> = files
            .iter()
            .copied()
            .chain(texts.iter().map(|(p, _)| *p))
            .collect();
        let files = files.as_slice();
        let mut known = HashMap::new();
        for f in files {
            // `PATH -> TARGET` is a shipped symlink.
            let (f, link) = match f.split_once(" -> ") {
                Some((path, target)) => (path, Some(target)),
                None => (*f, None),
            };
            let path = f.trim_start_matches('/');
            let mut at = path;
            while let Some((parent, _)) = at.rsplit_once('/') {
                known.insert(parent.to_owned(), Known::Dir);
                at = parent;
            }
            let kind = link.map_or(Known::File, |t| Known::Symlink(t.to_owned()));
            known.insert(path.to_owned(), kind);
        }
        let mut host = Host::new(
            known,
            Accounts::debian_base(),
            installed,
            &lists,
            &debconf,
            &contents,
            "amd64",
        );
        let invocation = staves_maintscript::Invocation::first_configure("pkg", "amd64");
        let report = staves_maintscript::run(script, &invocation, &mut host);
        (host.effects, host.accounts, host.texts, report)
    }

    fn postinst_effects(script: &str) -> Effects {
        walk(script, &[])
    }

    /// Debian 13's adduser leaves the GECOS fields it was not given empty; 12's writes
    /// `Name,,,`.
    #[test]
    fn adduser_fills_gecos_as_its_version_does() {
        let script = "adduser --system --gecos \"PostgreSQL administrator\" postgres\n";
        for (version, gecos) in [
            ("3.134", "PostgreSQL administrator,,,"),
            ("3.152", "PostgreSQL administrator"),
        ] {
            let installed = BTreeMap::from([("adduser".to_owned(), version.to_owned())]);
            let e = walk_installed(script, &[], &[], &installed);
            let Some(AccountChange::User { account, .. }) = e.accounts.first() else {
                panic!("{:?}", e.accounts);
            };
            assert_eq!(account.gecos.as_deref(), Some(gecos), "adduser {version}");
        }
    }

    /// freeradius's `find … -exec chmod 640 '{}' \;` and freetds' `cp -a FILE DIR/`.
    #[test]
    fn find_runs_its_command_on_each_path_and_cp_copies_into_a_directory() {
        let e = walk(
            "find /etc/fr -type f -exec chmod 640 '{}' \\;\ncp -a /usr/share/f/f.conf /etc/f/\nfind /etc/fr -type d -empty -delete\ncp --remove-destination /usr/share/f/f.conf /etc/f/g.conf\nchown www-data: /etc/f\n",
            &[
                "/etc/fr/a.conf",
                "/etc/fr/sub/b",
                "/usr/share/f/f.conf",
                "/etc/f/keep",
            ],
        );
        let modes: Vec<(&str, Option<&ModeChange>)> = e
            .overrides
            .iter()
            .map(|(p, o)| (p.as_str(), o.mode.as_ref()))
            .collect();
        assert_eq!(
            modes,
            [
                ("etc/fr/a.conf", Some(&ModeChange::Set(0o640))),
                ("etc/fr/sub/b", Some(&ModeChange::Set(0o640))),
                ("etc/f", None)
            ]
        );
        // `USER:` is the user and its login group.
        let owner = &e.overrides[2].1;
        assert_eq!(
            (owner.owner.as_deref(), owner.group.as_deref()),
            (Some("www-data"), Some("www-data"))
        );
        assert_eq!(
            e.copies,
            [
                ("/usr/share/f/f.conf".into(), "/etc/f/f.conf".into()),
                ("/usr/share/f/f.conf".into(), "/etc/f/g.conf".into())
            ]
        );
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
    }

    /// Ids as systemd-sysusers picks them: a user without one gets the highest id free as
    /// both a uid and a gid, with a group of that number; `UID:GID` joins that group.
    #[test]
    fn sysusers_accounts_get_the_ids_systemd_gives_them() {
        let conf = "g systemd-journal - -\nu! systemd-network - \"systemd Network Management\"\nu _apt 42:65534 - /nonexistent /usr/sbin/nologin\nu tomcat - \"Apache Tomcat\" /var/lib/tomcat /usr/sbin/nologin\nu sshd -:nogroup \"sshd user\" /run/sshd\n";
        let e = walk_reading(
            "systemd-sysusers\n",
            &[],
            &[("/usr/lib/sysusers.d/basic.conf", conf)],
        );
        let got: Vec<String> = e
            .accounts
            .iter()
            .map(|c| match c {
                AccountChange::Group(name, gid) => format!("g {name} {gid:?}"),
                AccountChange::User { account, .. } => {
                    format!("u {} {:?} {:?}", account.name, account.uid, account.group)
                }
                AccountChange::Member(u, g) => format!("m {u} {g}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                "g systemd-journal Some(999)",
                "g systemd-network Some(998)",
                "u systemd-network Some(998) Named(\"systemd-network\")",
                "u _apt Some(42) Named(\"nogroup\")",
                "g tomcat Some(997)",
                "u tomcat Some(997) Named(\"tomcat\")",
                // Free as a uid and as a gid, though its group is nogroup.
                "u sshd Some(996) Named(\"nogroup\")",
            ]
        );
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
    }

    /// lighttpd's `lighty-enable-mod` and sgml-base's `update-catalog --update-super`,
    /// as their Perl does them.
    #[test]
    fn lighty_enable_mod_links_modules_and_update_catalog_writes_the_super_catalog() {
        let script = "lighty-enable-mod fastcgi-php\nlighty-enable-mod nothing || echo $? > /etc/status\nupdate-catalog --quiet --update-super\nln -sf /var/lib/sgml-base/supercatalog /etc/sgml/catalog\n";
        let (e, _, written, _) = walk_accounts(
            script,
            &["/etc/lighttpd/conf-available/99-unconfigured.conf"],
            &[
                (
                    "/etc/lighttpd/conf-available/15-fastcgi-php.conf",
                    "# -*- depends: fastcgi -*-\nfastcgi.server += ()\n",
                ),
                (
                    "/etc/lighttpd/conf-available/10-fastcgi.conf",
                    "server.modules += ()\n",
                ),
                ("/etc/sgml/b.cat", "CATALOG b\n"),
                ("/etc/sgml/a.cat", "CATALOG a\n"),
            ],
            &BTreeMap::new(),
        );
        assert_eq!(
            e.links[..2],
            [
                (
                    "/etc/lighttpd/conf-enabled/15-fastcgi-php.conf".to_owned(),
                    "../conf-available/15-fastcgi-php.conf".to_owned()
                ),
                (
                    "/etc/lighttpd/conf-enabled/10-fastcgi.conf".to_owned(),
                    "../conf-available/10-fastcgi.conf".to_owned()
                ),
            ]
        );
        assert_eq!(written.get("etc/status").map(String::as_str), Some("2\n"));
        assert_eq!(
            written
                .get("var/lib/sgml-base/supercatalog")
                .map(String::as_str),
            Some(
                "--\n## This file is created by update-catalog with update-super.\n## Please see update-catalog(8) for how to modify this file.\n--\nCATALOG /etc/sgml/a.cat\nCATALOG /etc/sgml/b.cat\n"
            )
        );
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
    }

    /// fontconfig-config's postinst removes the links it manages, shipped or not, and
    /// makes the chosen ones again; a shipped regular file is still not removed.
    #[test]
    fn rm_removes_a_shipped_link_which_ln_makes_again() {
        let script = "D=/etc/fonts/conf.d\nif [ -h $D/10-none.conf ]; then rm $D/10-none.conf; fi\nln -s /usr/share/f/10-none.conf $D/10-none.conf\nrm /etc/shipped\n";
        let (e, _, _, report) = walk_accounts(
            script,
            &[
                "/etc/fonts/conf.d/10-none.conf -> /usr/share/f/10-none.conf",
                "/etc/shipped",
            ],
            &[],
            &BTreeMap::new(),
        );
        assert_eq!(e.removed_links, ["etc/fonts/conf.d/10-none.conf"]);
        assert_eq!(
            e.links,
            [(
                "/etc/fonts/conf.d/10-none.conf".to_owned(),
                "/usr/share/f/10-none.conf".to_owned()
            )]
        );
        assert_eq!(e.unmodelled, ["rm /etc/shipped"]);
        assert_eq!(
            report.status,
            Some(staves_maintscript::Status::Unknown),
            "{report:?}"
        );
        assert_eq!(
            report.status,
            Some(staves_maintscript::Status::Unknown),
            "{report:?}"
        );
    }

    /// Debian 13's locales postinst links the legacy `/etc/default/locale` to
    /// `/etc/locale.conf` (`ln -sfr`), and its update-locale writes the file its script
    /// names.
    #[test]
    fn update_locale_writes_the_file_its_version_names_and_ln_r_links_relatively() {
        let script = "[ -e /etc/default/locale ] || ln -sfr /etc/locale.conf /etc/default/locale\nupdate-locale --no-checks LANG\n";
        let trixie = "#!/usr/bin/perl -w\nmy $locale_file  = \"/etc/locale.conf\";\n";
        let (e, _, written, _) = walk_accounts(
            script,
            &["/etc/default/keep"],
            &[("/usr/sbin/update-locale", trixie)],
            &BTreeMap::new(),
        );
        assert_eq!(
            e.links,
            [(
                "/etc/default/locale".to_owned(),
                "../locale.conf".to_owned()
            )]
        );
        assert_eq!(
            written.get("etc/locale.conf").map(String::as_str),
            Some("#  File generated by update-locale\n")
        );
        // Debian 12's update-locale, which names no such file: the legacy one.
        let (e, _, written, _) = walk_accounts(
            "update-locale LANG=C.UTF-8\n",
            &[],
            &[("/usr/sbin/update-locale", "#!/usr/bin/perl -w\n")],
            &BTreeMap::new(),
        );
        assert_eq!(
            written.get("etc/default/locale").map(String::as_str),
            Some("#  File generated by update-locale\nLANG=C.UTF-8\n"),
            "{written:?} {:?}",
            e.unmodelled
        );
    }

    /// Debian 13: systemd's postinst runs systemd-sysusers before passwd's `shadowconfig
    /// on`, so systemd-sysusers writes the shadow files with its own accounts (`!*`, `u!`
    /// expired) and pwconv adds base-passwd's after them; what adduser makes later is `!`
    /// and last.
    #[test]
    fn sysusers_accounts_made_before_the_shadow_files_come_first_in_them() {
        let conf = "g systemd-journal - -\nu! systemd-network - \"systemd Network Management\"\n";
        let (_, accounts, _, _) = walk_accounts(
            "systemd-sysusers\nshadowconfig on\nadduser --system --group postgres\n",
            &[],
            &[("/usr/lib/sysusers.d/basic.conf", conf)],
            &BTreeMap::new(),
        );
        let shadow = accounts.shadow();
        let lines: Vec<&str> = shadow.lines().collect();
        assert_eq!(
            lines[..2],
            ["systemd-network:!*::::::1:", "root:*::0:99999:7:::"]
        );
        assert_eq!(lines.last(), Some(&"postgres:!:::::::"));
        let gshadow = accounts.gshadow();
        let groups: Vec<&str> = gshadow.lines().collect();
        assert_eq!(
            groups[..3],
            ["systemd-journal:!*::", "systemd-network:!*::", "root:*::"]
        );
        assert_eq!(groups.last(), Some(&"postgres:!::"));

        // With the shadow files already there (Debian 12, where passwd is essential),
        // systemd-sysusers adds its accounts at the end.
        let (_, accounts, _, _) = walk_accounts(
            "shadowconfig on\nsystemd-sysusers\n",
            &[],
            &[("/usr/lib/sysusers.d/basic.conf", conf)],
            &BTreeMap::new(),
        );
        let shadow = accounts.shadow();
        assert!(shadow.starts_with("root:"), "{shadow}");
        assert!(shadow.ends_with("systemd-network:!*::::::1:\n"), "{shadow}");
    }

    /// systemd's own `tmpfiles.d` lines at install: boot-only (`!`) and credential (`^`)
    /// lines do nothing, and a `:` mode is for a directory the line creates, not `/root`.
    #[test]
    fn tmpfiles_create_skips_boot_and_credential_lines() {
        let conf = "d- /root :0700 root :root -\nf^ /etc/hosts - - - - network.hosts\nD! /tmp/.X11-unix 1777 root root 10d\nd /var/lib/app 0750 root adm -\nd- /srv/new :0711 - - -\nd /var/lib/app 0755 root root -\n";
        let e = walk_reading(
            "systemd-tmpfiles --create app.conf\n",
            &["/root/.profile"],
            &[("/usr/lib/tmpfiles.d/app.conf", conf)],
        );
        let made: Vec<(&str, u32)> = e
            .directories
            .iter()
            .map(|d| (d.path.as_str(), d.mode))
            .collect();
        assert_eq!(made, [("/var/lib/app", 0o750), ("/srv/new", 0o711)]);
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
        // The owner is set anew (root), the mode left alone.
        assert!(
            e.overrides
                .iter()
                .all(|(p, o)| p != "/root" || o.mode.is_none()),
            "{:?}",
            e.overrides
        );
    }

    /// Debian 13's rpcbind: adduser 3.130's message-level options say what it prints.
    #[test]
    fn adduser_message_levels_are_read_past() {
        let e = postinst_effects(
            "adduser --allow-bad-names --system --stdoutmsglevel=warn --home /run/rpcbind --no-create-home _rpc\naddgroup --system --stderrmsglevel error rpcgroup\n",
        );
        let made: Vec<String> = e
            .accounts
            .iter()
            .map(|a| match a {
                AccountChange::User { account, .. } => format!("u {}", account.name),
                AccountChange::Group(name, _) => format!("g {name}"),
                AccountChange::Member(u, g) => format!("m {u} {g}"),
            })
            .collect();
        assert_eq!(made, ["u _rpc", "g rpcgroup"]);
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
    }

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
        let e = walk(script, &["/usr/share/libc-bin/nsswitch.conf"]);
        assert_eq!(
            e.copies,
            [(
                "/usr/share/libc-bin/nsswitch.conf".to_owned(),
                "/etc/nsswitch.conf".to_owned()
            )]
        );
    }

    #[test]
    fn follows_base_files_helpers_as_the_script_defines_them() {
        let script = r#"#!/bin/sh
set -e
install_local_dir() {
  if [ ! -d "$DPKG_ROOT$1" ]; then
    mkdir -p "$DPKG_ROOT$1"
  fi
  if [ -f "$DPKG_ROOT/etc/staff-group-for-usr-local" ]; then
    chown root:staff "$DPKG_ROOT$1" 2>/dev/null || true
  fi
}
install_from_default() {
  if [ ! -f "$DPKG_ROOT$2" ]; then
    cp -p "$DPKG_ROOT/usr/share/base-files/$1" "$DPKG_ROOT$2"
  fi
}
install_directory() {
  if [ ! -d "$DPKG_ROOT/$1" ]; then
    mkdir "$DPKG_ROOT/$1"
    chown "root:$3" "$DPKG_ROOT/$1"
    chmod "$2" "$DPKG_ROOT/$1"
  fi
}
migrate_directory() {
  if [ ! -L "$DPKG_ROOT$1" ]; then
    rmdir "$DPKG_ROOT$1"
    ln -s "$2" "$DPKG_ROOT$1"
  fi
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
        let e = walk(script, &["/usr/share/base-files/dot.profile"]);
        assert_eq!(e.migrations, [("/var/run".to_owned(), "/run".to_owned())]);
        assert_eq!(
            e.copies,
            [(
                "/usr/share/base-files/dot.profile".to_owned(),
                "/root/.profile".to_owned()
            )]
        );
        assert!(e.directories.iter().any(|d| d.path == "/var/mail"));
        assert!(e.overrides.contains(&(
            "var/mail".into(),
            Override {
                owner: Some("root".into()),
                group: Some("mail".into()),
                mode: None,
                recursive: false
            }
        )));
        assert!(e.overrides.contains(&(
            "var/mail".into(),
            Override {
                owner: None,
                group: None,
                mode: Some(ModeChange::Set(0o2775)),
                recursive: false
            }
        )));
        assert!(e.directories.iter().any(|d| d.path == "/usr/local/bin"));
        assert!(
            e.links
                .contains(&("/var/spool/mail".into(), "../mail".into()))
        );
        assert!(
            e.links
                .contains(&("/usr/local/man".into(), "share/man".into()))
        );
        assert!(e.unmodelled.is_empty(), "{:?}", e.unmodelled);
    }

    #[test]
    fn models_statoverride_ucf_chgrp_and_symbolic_modes() {
        let script = r#"#!/bin/sh
set -e
if ! dpkg-statoverride --list /etc/ssl/private >/dev/null 2>&1; then
    dpkg-statoverride --update --add root ssl-cert 710 /etc/ssl/private
fi
if ! dpkg-statoverride --list /usr/bin/ssh-agent >/dev/null; then
    chgrp _ssh /usr/bin/ssh-agent
    chmod 2755 /usr/bin/ssh-agent
fi
ucf --three-way --debconf-ok /usr/share/openssh/sshd_config /etc/ssh/sshd_config
ucfr openssh-server /etc/ssh/sshd_config
chmod g+w,o-r /var/log/app
update-rc.d ssh defaults
deb-systemd-helper enable ssh.service
some-tool --frobnicate
some-tool --frobnicate
"#;
        let e = walk(
            script,
            &[
                "/usr/bin/ssh-agent",
                "/usr/share/openssh/sshd_config",
                "/var/log/app/x",
            ],
        );
        assert!(e.copies.is_empty());
        let paths: Vec<&str> = e.overrides.iter().map(|(p, _)| p.as_str()).collect();
        // `_ssh` does not exist in this image: chgrp fails, and set -e ends the script.
        assert_eq!(paths, ["etc/ssl/private"]);
        let e = walk(
            &script.replace("_ssh", "adm"),
            &[
                "/usr/bin/ssh-agent",
                "/usr/share/openssh/sshd_config",
                "/var/log/app/x",
            ],
        );
        assert_eq!(
            e.copies,
            [(
                "/usr/share/openssh/sshd_config".to_owned(),
                "/etc/ssh/sshd_config".to_owned()
            )]
        );
        let paths: Vec<&str> = e.overrides.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "etc/ssl/private",
                "usr/bin/ssh-agent",
                "usr/bin/ssh-agent",
                "var/log/app"
            ]
        );
        let ModeChange::Symbolic(_) = e.overrides[3].1.mode.clone().expect("a mode") else {
            panic!("symbolic");
        };
        assert_eq!(
            e.overrides[3].1.mode.as_ref().map(|m| m.apply(0o755)),
            Some(0o771)
        );
        assert_eq!(e.unmodelled, ["some-tool --frobnicate"]);
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
        // exim4-base writes the values joined to their options.
        let e = postinst_effects(
            "install -d -oDebian-exim -gadm -m2750 /var/log/exim4\ninstall -d --owner=a --group=b --mode=750 /x /y\n",
        );
        let got: Vec<_> = e
            .directories
            .iter()
            .map(|d| {
                (
                    d.path.as_str(),
                    d.mode,
                    d.owner.as_deref(),
                    d.group.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/var/log/exim4", 0o2750, Some("Debian-exim"), Some("adm")),
                ("/x", 0o750, Some("a"), Some("b")),
                ("/y", 0o750, Some("a"), Some("b"))
            ]
        );
        let site = "  ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default\n  cp /usr/share/nginx/html/index.html /var/www/html/index.nginx-debian.html\nln /a /b\n";
        let e = walk(site, &["/usr/share/nginx/html/index.html"]);
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
