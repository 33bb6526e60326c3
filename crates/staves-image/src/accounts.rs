//! `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/gshadow`.
//!
//! Debian's standard system accounts are the ones base-passwd defines (its `passwd.master`
//! and `group.master`), which its postinst would install; they are written whether or not
//! base-passwd is in the image, so `www-data` or `nobody` always exist. Accounts from the spec
//! are added after them.

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// GECOS field.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// How `/etc/shadow` locks it, by what made it.
    pub lock: Lock,
    /// Made by systemd-sysusers before the shadow files existed, which therefore lists it
    /// first.
    pub before_shadow: bool,
}

/// How the shadow files lock an account, which says what made it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lock {
    /// One of base-passwd's, locked in place (`*`) and given pwconv's password ages.
    #[default]
    Base,
    /// adduser, useradd, addgroup or groupadd: `!`.
    Tool,
    /// systemd-sysusers: `!*`; a `u!` line also expires the account (day 1).
    Sysusers {
        /// Made by a `u!` line.
        expired: bool,
    },
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Supplementary members.
    pub members: Vec<String>,
    /// How `/etc/gshadow` locks it, by what made it.
    pub lock: Lock,
    /// Made by systemd-sysusers before the shadow files existed.
    pub before_shadow: bool,
}

/// An account requested by the spec: a user (with a group of its own unless `group` names one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRequest {
    /// User name.
    pub name: String,
    /// User id; the next free id from 1000 when absent.
    pub uid: Option<u32>,
    /// Primary group name; a group named like the user when absent.
    pub group: Option<String>,
    /// Primary group id, when the group is created.
    pub gid: Option<u32>,
    /// Home directory; `/home/<name>` when absent.
    pub home: Option<String>,
    /// Shell; `/usr/sbin/nologin` when absent.
    pub shell: Option<String>,
    /// Supplementary groups (must exist).
    pub groups: Vec<String>,
}

/// A system account a package's `postinst` creates (`adduser --system`, `useradd -r`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemAccount {
    /// User name.
    pub name: String,
    /// User id; the first free one from 100 to 999 when absent, as adduser picks it.
    pub uid: Option<u32>,
    /// Primary group.
    pub group: SystemGroup,
    /// Home directory; `/nonexistent` when absent.
    pub home: Option<String>,
    /// Shell; `/usr/sbin/nologin` when absent.
    pub shell: Option<String>,
    /// GECOS field.
    pub gecos: Option<String>,
}

/// The primary group of a system account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SystemGroup {
    /// `nogroup`, adduser's default for system users.
    #[default]
    Nogroup,
    /// A group named like the user (`--group`), created when missing.
    Own,
    /// An existing group (`--ingroup`).
    Named(String),
}

/// Why an account cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The name or id is taken.
    #[error("account `{0}` clashes with an existing account")]
    Clash(String),
    /// A group named as supplementary or primary does not exist.
    #[error("group `{0}` does not exist")]
    NoGroup(String),
    /// The name is not a valid login name.
    #[error("`{0}` is not a valid account name")]
    BadName(String),
    /// A line of a base image's `/etc/passwd` or `/etc/group` is not one.
    #[error("{file} line {line}: {why}")]
    BadLine {
        /// `/etc/passwd` or `/etc/group`.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// The accounts of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    /// Users, in file order.
    pub users: Vec<User>,
    /// Groups, in file order.
    pub groups: Vec<Group>,
    /// Home directories to create where missing, as adduser does: the spec's accounts'
    /// (mode 0700, adduser's `DIR_MODE`) and system accounts' with a real home (0755).
    pub homes: Vec<Home>,
    /// `/etc/shadow` and `/etc/gshadow` exist yet (passwd's `shadowconfig on` ran, or the
    /// base image's passwd file points into them).
    pub shadow_files: bool,
}

/// A home directory adduser would create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Absolute path.
    pub path: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// Homes that are no place to create: adduser's "no home" and the root directory.
fn creates_home(home: &str) -> bool {
    !matches!(home, "/nonexistent" | "/" | "")
}

const BASE_USERS: &[(&str, u32, u32, &str, &str, &str)] = &[
    ("root", 0, 0, "root", "/root", "/bin/bash"),
    ("daemon", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"),
    ("bin", 2, 2, "bin", "/bin", "/usr/sbin/nologin"),
    ("sys", 3, 3, "sys", "/dev", "/usr/sbin/nologin"),
    ("sync", 4, 65534, "sync", "/bin", "/bin/sync"),
    ("games", 5, 60, "games", "/usr/games", "/usr/sbin/nologin"),
    ("man", 6, 12, "man", "/var/cache/man", "/usr/sbin/nologin"),
    ("lp", 7, 7, "lp", "/var/spool/lpd", "/usr/sbin/nologin"),
    ("mail", 8, 8, "mail", "/var/mail", "/usr/sbin/nologin"),
    ("news", 9, 9, "news", "/var/spool/news", "/usr/sbin/nologin"),
    (
        "uucp",
        10,
        10,
        "uucp",
        "/var/spool/uucp",
        "/usr/sbin/nologin",
    ),
    ("proxy", 13, 13, "proxy", "/bin", "/usr/sbin/nologin"),
    (
        "www-data",
        33,
        33,
        "www-data",
        "/var/www",
        "/usr/sbin/nologin",
    ),
    (
        "backup",
        34,
        34,
        "backup",
        "/var/backups",
        "/usr/sbin/nologin",
    ),
    (
        "list",
        38,
        38,
        "Mailing List Manager",
        "/var/list",
        "/usr/sbin/nologin",
    ),
    ("irc", 39, 39, "ircd", "/run/ircd", "/usr/sbin/nologin"),
    (
        "nobody",
        65534,
        65534,
        "nobody",
        "/nonexistent",
        "/usr/sbin/nologin",
    ),
];

const BASE_GROUPS: &[(&str, u32)] = &[
    ("root", 0),
    ("daemon", 1),
    ("bin", 2),
    ("sys", 3),
    ("adm", 4),
    ("tty", 5),
    ("disk", 6),
    ("lp", 7),
    ("mail", 8),
    ("news", 9),
    ("uucp", 10),
    ("man", 12),
    ("proxy", 13),
    ("kmem", 15),
    ("dialout", 20),
    ("fax", 21),
    ("voice", 22),
    ("cdrom", 24),
    ("floppy", 25),
    ("tape", 26),
    ("sudo", 27),
    ("audio", 29),
    ("dip", 30),
    ("www-data", 33),
    ("backup", 34),
    ("operator", 37),
    ("list", 38),
    ("irc", 39),
    ("src", 40),
    ("shadow", 42),
    ("utmp", 43),
    ("video", 44),
    ("sasl", 45),
    ("plugdev", 46),
    ("staff", 50),
    ("games", 60),
    ("users", 100),
    ("nogroup", 65534),
];

impl Accounts {
    /// Debian's standard accounts, as base-passwd defines them.
    pub fn debian_base() -> Self {
        Accounts {
            users: BASE_USERS
                .iter()
                .map(|&(name, uid, gid, gecos, home, shell)| User {
                    name: name.into(),
                    uid,
                    gid,
                    gecos: gecos.into(),
                    home: home.into(),
                    shell: shell.into(),
                    lock: Lock::Base,
                    before_shadow: false,
                })
                .collect(),
            groups: BASE_GROUPS
                .iter()
                .map(|&(name, gid)| Group {
                    name: name.into(),
                    gid,
                    members: Vec::new(),
                    lock: Lock::Base,
                    before_shadow: false,
                })
                .collect(),
            // base-files ships base-passwd's homes (/root, /var/www is a package's).
            homes: Vec::new(),
            shadow_files: false,
        }
    }

    /// The accounts a base image already has, from its `/etc/passwd` and `/etc/group`, so
    /// that an image built on it adds to them (and keeps their ids) instead of starting
    /// from Debian's defaults. Homes are not created again: the base has them.
    pub fn from_files(passwd: &str, group: &str) -> Result<Self, AccountError> {
        fn lines<'t>(
            file: &'static str,
            content: &'t str,
        ) -> Vec<(&'static str, usize, Vec<&'t str>)> {
            content
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
                .map(|(i, l)| (file, i + 1, l.split(':').collect()))
                .collect()
        }
        let bad = |file: &'static str, line: usize, why: &str| AccountError::BadLine {
            file,
            line,
            why: why.to_owned(),
        };
        let id = |file, line, text: &str| {
            text.parse::<u32>()
                .map_err(|_| bad(file, line, &format!("`{text}` is not a numeric id")))
        };
        let mut accounts = Accounts {
            users: Vec::new(),
            groups: Vec::new(),
            homes: Vec::new(),
            shadow_files: false,
        };
        for (file, line, f) in lines("/etc/passwd", passwd) {
            let [name, password, uid, gid, gecos, home, shell] = f.as_slice() else {
                return Err(bad(file, line, "a passwd line has seven fields"));
            };
            let uid = id(file, line, uid)?;
            // pwconv leaves `x` ("see /etc/shadow") in root's entry.
            if uid == 0 && *password == "x" {
                accounts.shadow_files = true;
            }
            accounts.users.push(User {
                name: (*name).to_owned(),
                uid,
                gid: id(file, line, gid)?,
                gecos: (*gecos).to_owned(),
                home: (*home).to_owned(),
                shell: (*shell).to_owned(),
                lock: if is_static_id(uid) {
                    Lock::Base
                } else {
                    Lock::Tool
                },
                before_shadow: false,
            });
        }
        for (file, line, f) in lines("/etc/group", group) {
            let [name, _, gid, members] = f.as_slice() else {
                return Err(bad(file, line, "a group line has four fields"));
            };
            let gid = id(file, line, gid)?;
            accounts.groups.push(Group {
                name: (*name).to_owned(),
                gid,
                members: members
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
                    .collect(),
                lock: if is_static_id(gid) || gid == 100 {
                    Lock::Base
                } else {
                    Lock::Tool
                },
                before_shadow: false,
            });
        }
        Ok(accounts)
    }

    /// Remembers `home` to be created as adduser would, unless it is no place for one.
    fn note_home(&mut self, home: &str, uid: u32, gid: u32, mode: u32) {
        if creates_home(home) {
            self.homes.push(Home {
                path: home.to_owned(),
                uid,
                gid,
                mode,
            });
        }
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The uid and gid an image config's `User` names: `name`, `uid`, `name:group` or
    /// `uid:gid`; a name this image lacks counts as root (the engine refuses to start it).
    pub fn ids_of(&self, user: &str) -> (u32, u32) {
        let (user, group) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        let found = self.user(user).map(|u| (u.uid, u.gid)).or_else(|| {
            let uid = user.parse::<u32>().ok()?;
            let gid = self
                .users
                .iter()
                .find(|u| u.uid == uid)
                .map_or(uid, |u| u.gid);
            Some((uid, gid))
        });
        let (uid, mut gid) = found.unwrap_or((0, 0));
        if let Some(group) = group {
            gid = self
                .group(group)
                .map(|g| g.gid)
                .or_else(|| group.parse().ok())
                .unwrap_or(gid);
        }
        (uid, gid)
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Adds a requested account (and its own group when needed).
    pub fn add(&mut self, request: &AccountRequest) -> Result<&User, AccountError> {
        check_name(&request.name)?;
        let uid = match request.uid {
            Some(uid) => uid,
            None => (1000..60000)
                .find(|id| !self.users.iter().any(|u| u.uid == *id))
                .unwrap_or(60000),
        };
        if self
            .users
            .iter()
            .any(|u| u.name == request.name || u.uid == uid)
        {
            return Err(AccountError::Clash(request.name.clone()));
        }
        let gid = match &request.group {
            Some(group) => {
                self.group(group)
                    .ok_or_else(|| AccountError::NoGroup(group.clone()))?
                    .gid
            }
            None => {
                let gid = request.gid.unwrap_or(uid);
                if self
                    .groups
                    .iter()
                    .any(|g| g.name == request.name || g.gid == gid)
                {
                    return Err(AccountError::Clash(request.name.clone()));
                }
                self.groups.push(Group {
                    name: request.name.clone(),
                    gid,
                    members: Vec::new(),
                    lock: Lock::Tool,
                    before_shadow: false,
                });
                gid
            }
        };
        for extra in &request.groups {
            let group = self
                .groups
                .iter_mut()
                .find(|g| g.name == *extra)
                .ok_or_else(|| AccountError::NoGroup(extra.clone()))?;
            group.members.push(request.name.clone());
        }
        let home = request
            .home
            .clone()
            .unwrap_or_else(|| format!("/home/{}", request.name));
        self.note_home(&home, uid, gid, 0o700);
        self.users.push(User {
            name: request.name.clone(),
            uid,
            gid,
            gecos: String::new(),
            home,
            shell: request
                .shell
                .clone()
                .unwrap_or_else(|| "/usr/sbin/nologin".into()),
            lock: Lock::Tool,
            before_shadow: false,
        });
        Ok(self
            .users
            .last()
            .unwrap_or_else(|| unreachable!("just pushed")))
    }

    /// Adds a system group, unless one of that name exists (adduser's behaviour); returns
    /// its gid. Without `gid`, the first free one from 100 to 999.
    pub fn add_system_group(&mut self, name: &str, gid: Option<u32>) -> Result<u32, AccountError> {
        if let Some(group) = self.group(name) {
            return Ok(group.gid);
        }
        check_system_name(name)?;
        let gid = match gid {
            Some(gid) if self.groups.iter().any(|g| g.gid == gid) => {
                return Err(AccountError::Clash(name.to_owned()));
            }
            Some(gid) => gid,
            None => (100..1000)
                .find(|id| !self.groups.iter().any(|g| g.gid == *id))
                .ok_or_else(|| AccountError::Clash(name.to_owned()))?,
        };
        self.groups.push(Group {
            name: name.to_owned(),
            gid,
            members: Vec::new(),
            lock: Lock::Tool,
            before_shadow: false,
        });
        Ok(gid)
    }

    /// Adds a system user as `adduser --system` would; a user of that name already present
    /// (from base-passwd, the spec or an earlier package) is left as it is.
    pub fn add_system_user(&mut self, account: &SystemAccount) -> Result<(), AccountError> {
        if self.user(&account.name).is_some() {
            return Ok(());
        }
        check_system_name(&account.name)?;
        let uid = match account.uid {
            Some(uid) if self.users.iter().any(|u| u.uid == uid) => {
                return Err(AccountError::Clash(account.name.clone()));
            }
            Some(uid) => uid,
            None => (100..1000)
                .find(|id| !self.users.iter().any(|u| u.uid == *id))
                .ok_or_else(|| AccountError::Clash(account.name.clone()))?,
        };
        let gid = match &account.group {
            SystemGroup::Nogroup => {
                self.group("nogroup")
                    .ok_or_else(|| AccountError::NoGroup("nogroup".into()))?
                    .gid
            }
            SystemGroup::Own => self.add_system_group(&account.name, None)?,
            SystemGroup::Named(group) => {
                self.group(group)
                    .ok_or_else(|| AccountError::NoGroup(group.clone()))?
                    .gid
            }
        };
        let home = account
            .home
            .clone()
            .unwrap_or_else(|| "/nonexistent".into());
        self.note_home(&home, uid, gid, 0o755);
        self.users.push(User {
            name: account.name.clone(),
            uid,
            gid,
            gecos: account.gecos.clone().unwrap_or_default(),
            home,
            shell: account
                .shell
                .clone()
                .unwrap_or_else(|| "/usr/sbin/nologin".into()),
            lock: Lock::Tool,
            before_shadow: false,
        });
        Ok(())
    }

    /// Adds `user` to the supplementary members of `group`, when both exist and the group
    /// is not already the user's primary one.
    pub fn add_member(&mut self, user: &str, group: &str) {
        let Some(primary) = self.user(user).map(|u| u.gid) else {
            return;
        };
        if let Some(group) = self.groups.iter_mut().find(|g| g.name == group)
            && group.gid != primary
            && !group.members.iter().any(|m| m == user)
        {
            group.members.push(user.to_owned());
        }
    }

    /// `/etc/passwd`.
    pub fn passwd(&self) -> String {
        self.users
            .iter()
            .map(|u| {
                format!(
                    "{}:x:{}:{}:{}:{}:{}\n",
                    u.name, u.uid, u.gid, u.gecos, u.home, u.shell
                )
            })
            .collect()
    }

    /// `/etc/group`.
    pub fn group_file(&self) -> String {
        self.groups
            .iter()
            .map(|g| format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(",")))
            .collect()
    }

    /// Marks the user `name` (and its group `group`, when made with it) as systemd-sysusers
    /// made them: locked with `!*`, listed first when the shadow files did not exist yet.
    pub fn made_by_sysusers(&mut self, user: Option<&str>, group: Option<&str>, expired: bool) {
        let before_shadow = !self.shadow_files;
        if let Some(u) = self
            .users
            .iter_mut()
            .find(|u| Some(u.name.as_str()) == user)
        {
            u.lock = Lock::Sysusers { expired };
            u.before_shadow = before_shadow;
        }
        if let Some(g) = self
            .groups
            .iter_mut()
            .find(|g| Some(g.name.as_str()) == group)
        {
            g.lock = Lock::Sysusers { expired: false };
            g.before_shadow = before_shadow;
        }
    }

    /// `/etc/shadow`: every account locked, as what made it locks it; no password ages or
    /// day of the last change, so nothing depends on the build date. Accounts
    /// systemd-sysusers made before the file existed come first (it wrote the file; pwconv
    /// added the others after them).
    pub fn shadow(&self) -> String {
        let (first, rest): (Vec<&User>, Vec<&User>) =
            self.users.iter().partition(|u| u.before_shadow);
        first
            .into_iter()
            .chain(rest)
            .map(|u| match u.lock {
                Lock::Base => format!("{}:*::0:99999:7:::\n", u.name),
                Lock::Tool => format!("{}:!:::::::\n", u.name),
                Lock::Sysusers { expired: false } => format!("{}:!*:::::::\n", u.name),
                Lock::Sysusers { expired: true } => format!("{}:!*::::::1:\n", u.name),
            })
            .collect()
    }

    /// `/etc/gshadow`, ordered as [`Accounts::shadow`] orders users.
    pub fn gshadow(&self) -> String {
        let (first, rest): (Vec<&Group>, Vec<&Group>) =
            self.groups.iter().partition(|g| g.before_shadow);
        first
            .into_iter()
            .chain(rest)
            .map(|g| {
                let locked = match g.lock {
                    Lock::Base => "*",
                    Lock::Tool => "!",
                    Lock::Sysusers { .. } => "!*",
                };
                format!("{}:{locked}::{}\n", g.name, g.members.join(","))
            })
            .collect()
    }
}

/// Ids base-passwd allocates for every Debian system (0–99, and `nobody`'s 65534; for
/// groups also `users`' 100); the others were added by adduser or useradd.
fn is_static_id(id: u32) -> bool {
    id < 100 || id == 65534
}

/// Login names as adduser accepts them by default.
fn check_name(name: &str) -> Result<(), AccountError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
        && !name.starts_with('-');
    if valid {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_owned()))
    }
}

/// Names of system accounts a package's script adds: those adduser takes with
/// `--allow-bad-names` too (`Debian-exim`, `Debian-snmp`), which a package whose script
/// lacks the flag could not have shipped; what would break `/etc/passwd` never.
fn check_system_name(name: &str) -> Result<(), AccountError> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with(['-', '+', '~'])
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.$@".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn system_accounts_may_have_the_names_debian_packages_give_them() {
        let mut a = super::Accounts::debian_base();
        a.add_system_user(&super::SystemAccount {
            name: "Debian-exim".into(),
            uid: None,
            group: super::SystemGroup::Own,
            home: Some("/var/spool/exim4".into()),
            shell: None,
            gecos: None,
        })
        .expect("adds");
        assert!(a.user("Debian-exim").is_some());
        assert!(a.group("Debian-exim").is_some());
        for bad in ["a:b", "with space", "-x", "1234", ""] {
            assert!(super::check_system_name(bad).is_err(), "{bad}");
        }
        assert!(super::check_name("Debian-exim").is_err());
    }

    #[test]
    fn a_base_images_files_read_back_to_the_same_accounts() {
        let mut written = super::Accounts::debian_base();
        written
            .add(&super::AccountRequest {
                name: "app".into(),
                uid: Some(1000),
                groups: vec!["users".into()],
                ..Default::default()
            })
            .expect("add");
        let read =
            super::Accounts::from_files(&written.passwd(), &written.group_file()).expect("parse");
        assert_eq!(read.users, written.users);
        assert_eq!(read.groups, written.groups);
        assert!(read.homes.is_empty(), "a base's homes exist already");
        let error = super::Accounts::from_files("root:x:0\n", "").expect_err("refused");
        assert!(error.to_string().contains("/etc/passwd line 1"), "{error}");
        let error = super::Accounts::from_files("", "g:x:abc:\n").expect_err("refused");
        assert!(error.to_string().contains("not a numeric id"), "{error}");
    }

    use super::*;

    #[test]
    fn system_accounts_take_the_first_free_ids_from_100() {
        let mut a = Accounts::debian_base();
        a.add_system_user(&SystemAccount {
            name: "sshd".into(),
            home: Some("/run/sshd".into()),
            ..SystemAccount::default()
        })
        .expect("sshd");
        a.add_system_user(&SystemAccount {
            name: "postgres".into(),
            group: SystemGroup::Own,
            shell: Some("/bin/bash".into()),
            ..SystemAccount::default()
        })
        .expect("postgres");
        let passwd = a.passwd();
        assert!(
            passwd.contains("sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"),
            "{passwd}"
        );
        assert!(
            passwd.contains("postgres:x:101:101::/nonexistent:/bin/bash\n"),
            "{passwd}"
        );
        assert!(a.group_file().contains("postgres:x:101:\n"));
        // Asking again changes nothing; membership needs both sides.
        a.add_system_user(&SystemAccount {
            name: "sshd".into(),
            uid: Some(500),
            ..SystemAccount::default()
        })
        .expect("again");
        assert_eq!(a.user("sshd").map(|u| u.uid), Some(100));
        a.add_member("postgres", "ssl-cert");
        a.add_member("postgres", "adm");
        assert!(a.group_file().contains("adm:x:4:postgres\n"));
    }

    #[test]
    fn base_accounts_and_requests() {
        let mut a = Accounts::debian_base();
        assert!(
            a.passwd()
                .contains("www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n")
        );
        assert!(a.group_file().contains("nogroup:x:65534:\n"));
        let user = a
            .add(&AccountRequest {
                name: "app".into(),
                groups: vec!["www-data".into()],
                ..Default::default()
            })
            .expect("adds")
            .clone();
        assert_eq!((user.uid, user.gid), (1000, 1000));
        assert!(a.group_file().contains("www-data:x:33:app\n"));
        assert!(a.group_file().contains("app:x:1000:\n"));
        let clash = a.add(&AccountRequest {
            name: "root".into(),
            ..Default::default()
        });
        assert_eq!(clash, Err(AccountError::Clash("root".into())));
        let bad = a.add(&AccountRequest {
            name: "x".into(),
            groups: vec!["nope".into()],
            ..Default::default()
        });
        assert_eq!(bad, Err(AccountError::NoGroup("nope".into())));
    }
}
