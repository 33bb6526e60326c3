//! The image as maintainer scripts see it while `staves-maintscript` walks them: what the
//! packages ship (from their `md5sums` and `conffiles`), what earlier scripts made, the
//! accounts, and a model of each command a script calls, recording its effect.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use staves_maintscript::{FileTest, Image, Ran, Status};

use crate::accounts::Accounts;
use crate::effects::image_path;
use crate::scripts::{
    AccountChange, Directory, Effects, ModeChange, Override, parse_addgroup, parse_adduser,
    parse_alternative, parse_mkdir,
};

/// What is at a path, as far as known before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Known {
    Dir,
    File,
    Symlink(String),
}

/// Commands whose work concerns a running system, not an image's files: services, caches
/// rebuilt on use, byte-compiled modules. They succeed and change nothing.
const NOTHING_TO_DO: &[&str] = &[
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "systemctl",
    "invoke-rc.d",
    "update-rc.d",
    "service",
    "start-stop-daemon",
    "dpkg-maintscript-helper",
    "ldconfig",
    "update-ca-certificates",
    "update-mime-database",
    "update-desktop-database",
    "gtk-update-icon-cache",
    "update-icon-caches",
    "fc-cache",
    "mandb",
    "install-info",
    "systemd-tmpfiles",
    "systemd-sysusers",
    "py3compile",
    "pycompile",
    "py3clean",
    "pyclean",
    "ucfr",
    "update-perl-sax-parsers",
    "update-xmlcatalog",
    "dpkg-trigger",
    "sync",
    "udevadm",
    "mount",
];

/// Commands that make run-time state (keys, certificates, clusters, ids): each container
/// makes its own at its first start (GUIDE, "First-start tasks"); never baked in.
pub const RUN_TIME: &[&str] = &[
    "make-ssl-cert",
    "ssh-keygen",
    "pg_createcluster",
    "pg_updatedicts",
    "mysql_install_db",
    "mariadb-install-db",
    "systemd-machine-id-setup",
    "dbus-uuidgen",
    "rndc-confgen",
    "tsig-keygen",
    "openssl",
    "locale-gen",
    "newaliases",
    "postalias",
    "postmap",
    "update-exim4.conf",
];

/// The image under the walk, across every package's `postinst`, in install order.
pub(crate) struct Host<'a> {
    /// Known paths, as layer paths.
    pub(crate) files: HashMap<String, Known>,
    /// Text of files the scripts wrote or the second walk was given.
    pub(crate) texts: BTreeMap<String, String>,
    /// Content of shipped files kept while streaming (the second walk).
    pub(crate) contents: &'a BTreeMap<String, Vec<u8>>,
    /// Shipped files a script read that had no known content yet.
    pub(crate) wanted: RefCell<BTreeSet<String>>,
    /// Directories a script looked for that no `md5sums` shows (an empty directory the
    /// package may ship), with the package whose script looked.
    pub(crate) probed: RefCell<BTreeSet<(String, String)>>,
    /// The package whose script is walked.
    pub(crate) package: String,
    /// The walked script's working directory (`cd`), for relative paths.
    pub(crate) cwd: String,
    pub(crate) accounts: Accounts,
    /// Installed packages.
    pub(crate) installed: &'a BTreeSet<String>,
    /// Each package's files, as `dpkg -L` lists them.
    pub(crate) lists: &'a HashMap<String, Vec<String>>,
    /// debconf questions and their defaults, from the packages' `templates`.
    pub(crate) debconf: &'a HashMap<String, String>,
    pub(crate) arch: String,
    statoverrides: BTreeSet<String>,
    /// Shipped directories a script removed (`rmdir`), to become links.
    removed_dirs: BTreeSet<String>,
    scratch: usize,
    /// The file mode creation mask (`umask`), for files scripts write.
    umask: u32,
    /// The package whose script runs, and what it did.
    pub(crate) effects: Effects,
}

impl<'a> Host<'a> {
    pub(crate) fn new(
        files: HashMap<String, Known>,
        accounts: Accounts,
        installed: &'a BTreeSet<String>,
        lists: &'a HashMap<String, Vec<String>>,
        debconf: &'a HashMap<String, String>,
        contents: &'a BTreeMap<String, Vec<u8>>,
        arch: &str,
    ) -> Self {
        Host {
            files,
            texts: BTreeMap::new(),
            contents,
            wanted: RefCell::new(BTreeSet::new()),
            probed: RefCell::new(BTreeSet::new()),
            package: String::new(),
            cwd: "/".into(),
            accounts,
            installed,
            lists,
            debconf,
            arch: arch.to_owned(),
            statoverrides: BTreeSet::new(),
            removed_dirs: BTreeSet::new(),
            scratch: 0,
            umask: 0o022,
            effects: Effects::default(),
        }
    }

    fn not_modelled(&mut self, argv: &[String]) -> Ran {
        let line = argv.join(" ");
        if !self.effects.unmodelled.contains(&line) {
            self.effects.unmodelled.push(line);
        }
        Ran::unknown()
    }

    fn add_parents(&mut self, path: &str) {
        add_parents(&mut self.files, path);
    }

    fn make_dir(&mut self, dir: Directory) {
        if let Some(path) = image_path(&dir.path) {
            self.add_parents(&path);
            self.files.entry(path).or_insert(Known::Dir);
        }
        self.effects.directories.push(dir);
    }

    /// `path` made absolute against the working directory.
    fn absolute(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("{}/{path}", self.cwd.trim_end_matches('/'))
        }
    }

    /// The path operands of the file commands made absolute (a link's target stays as
    /// written: it is relative to the link).
    fn absolute_paths(&self, argv: &mut [String]) {
        let skip_first = match argv[0].as_str() {
            "chown" | "chgrp" | "chmod" => true,
            "ln" => argv[1..].iter().filter(|a| !a.starts_with('-')).count() > 1,
            "mkdir" | "rmdir" | "touch" | "rm" | "cp" | "mv" | "install" => false,
            _ => return,
        };
        let mut first = skip_first;
        let mut value_next = false;
        for arg in argv[1..].iter_mut() {
            if value_next {
                value_next = false;
                continue;
            }
            if arg.starts_with('-') {
                value_next = argv_takes_value(arg);
                continue;
            }
            if first {
                first = false;
                continue;
            }
            if !arg.starts_with('/') {
                *arg = self.absolute(arg);
            }
        }
    }

    /// Gives a useradd or groupadd account without a fixed id the highest free one.
    fn allocate_top_down(&mut self, change: &mut Option<AccountChange>) {
        let free_uid = |accounts: &Accounts| {
            (100..1000)
                .rev()
                .find(|id| !accounts.users.iter().any(|u| u.uid == *id))
        };
        let free_gid = |accounts: &Accounts| {
            (100..1000)
                .rev()
                .find(|id| !accounts.groups.iter().any(|g| g.gid == *id))
        };
        match change {
            Some(AccountChange::User { account, .. })
                if self.accounts.user(&account.name).is_none() =>
            {
                if account.uid.is_none() {
                    account.uid = free_uid(&self.accounts);
                }
                if account.group == crate::accounts::SystemGroup::Own
                    && self.accounts.group(&account.name).is_none()
                    && let Some(gid) = free_gid(&self.accounts)
                {
                    let _ = self.accounts.add_system_group(&account.name, Some(gid));
                }
            }
            Some(AccountChange::Group(name, gid @ None)) if self.accounts.group(name).is_none() => {
                *gid = free_gid(&self.accounts);
            }
            _ => {}
        }
    }

    /// apache2's `a2enmod`, `a2enconf` and `a2ensite` (Perl, modelled): each name linked
    /// from `*-enabled` to its files in `*-available`, a module after the modules its
    /// `.load` file names in `# Depends:`; with `-m`, the mark that the maintainer scripts
    /// enabled it.
    fn apache_enable(&mut self, name: &str, args: &[String]) -> Ran {
        let (kind, files): (&str, &[&str]) = match name {
            "a2enmod" => ("mods", &["load", "conf"]),
            "a2enconf" => ("conf", &["conf"]),
            _ => ("sites", &["conf"]),
        };
        let by_maint = args.iter().any(|a| a == "-m");
        let mut pending: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .rev()
            .cloned()
            .collect();
        let mut done = BTreeSet::new();
        // Bounded: modules that depend on each other in a circle end here.
        let mut budget = 1000;
        while let Some(item) = pending.pop() {
            budget -= 1;
            if budget == 0 {
                return self.not_modelled(&[name.to_owned(), "(circular # Depends:)".to_owned()]);
            }
            let item = item
                .trim_end_matches(".load")
                .trim_end_matches(".conf")
                .to_owned();
            if !done.insert(item.clone()) {
                continue;
            }
            let available = |ext: &str| format!("/etc/apache2/{kind}-available/{item}.{ext}");
            if !files.iter().any(|ext| self.exists(&available(ext))) {
                return Ran::status(Status::Failure(1));
            }
            if kind == "mods"
                && let Some(text) = self.read(&available("load"))
            {
                let depends: Vec<String> = text
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("# Depends:"))
                    .flat_map(|d| d.split_whitespace().map(str::to_owned))
                    .filter(|d| !done.contains(d))
                    .collect();
                if !depends.is_empty() {
                    // The dependencies first, then this one again.
                    done.remove(&item);
                    pending.push(item.clone());
                    pending.extend(depends.into_iter().rev());
                    continue;
                }
            }
            for ext in files {
                if self.exists(&available(ext)) {
                    let link = format!("/etc/apache2/{kind}-enabled/{item}.{ext}");
                    let target = format!("../{kind}-available/{item}.{ext}");
                    if let Some(path) = image_path(&link)
                        && !self.files.contains_key(&path)
                    {
                        self.effects.links.push((link, target.clone()));
                        self.files.insert(path, Known::Symlink(target));
                    }
                }
            }
            {
                let state = match kind {
                    "mods" => "module",
                    "conf" => "conf",
                    _ => "site",
                };
                let by = if by_maint { "maint" } else { "admin" };
                let mark = format!("/var/lib/apache2/{state}/enabled_by_{by}/{item}");
                if !self.exists(&mark) {
                    self.write(&mark, "", false);
                }
            }
        }
        Ran::ok()
    }

    fn override_path(&mut self, path: &str, change: Override) {
        let Some(layer_path) = image_path(path) else {
            return;
        };
        // Scratch files under /tmp are the script's own; nothing of them stays.
        if layer_path.starts_with("tmp/") {
            return;
        }
        self.effects.overrides.push((layer_path, change));
    }

    fn chown(&mut self, args: &[String], group_only: bool) -> Ran {
        if args.iter().any(|a| a.starts_with("--reference")) {
            return Ran::ok();
        }
        let recursive = args.iter().any(|a| a == "-R" || a == "--recursive");
        let rest: Vec<&String> = args
            .iter()
            .filter(|a| !a.starts_with('-') || a.as_str() == "-")
            .collect();
        let Some((spec, paths)) = rest.split_first() else {
            return Ran::status(Status::Failure(1));
        };
        let (owner, group) = if group_only {
            (None, Some(spec.to_string()))
        } else {
            match spec.split_once([':', '.']) {
                Some((o, g)) => (
                    (!o.is_empty()).then(|| o.to_owned()),
                    (!g.is_empty()).then(|| g.to_owned()),
                ),
                None => (Some(spec.to_string()), None),
            }
        };
        let numeric = |name: &str| name.bytes().all(|b| b.is_ascii_digit());
        if owner
            .as_deref()
            .is_some_and(|o| !numeric(o) && self.accounts.user(o).is_none())
            || group
                .as_deref()
                .is_some_and(|g| !numeric(g) && self.accounts.group(g).is_none())
        {
            return Ran::status(Status::Failure(1));
        }
        for path in paths {
            // An empty shipped directory is in no `md5sums`: a path not known is taken
            // as present, and the change does nothing if nothing is there.
            self.override_path(
                path,
                Override {
                    owner: owner.clone(),
                    group: group.clone(),
                    mode: None,
                    recursive,
                },
            );
        }
        Ran::ok()
    }

    fn chmod(&mut self, args: &[String]) -> Ran {
        // `--reference=FILE`: the mode of a file the script itself copied; nothing changes.
        if args.iter().any(|a| a.starts_with("--reference")) {
            return Ran::ok();
        }
        let recursive = args.iter().any(|a| a == "-R" || a == "--recursive");
        let rest: Vec<&String> = args
            .iter()
            .filter(|a| !(a.starts_with("--") || a.as_str() == "-R" || a.as_str() == "-f"))
            .collect();
        let Some((mode, paths)) = rest.split_first() else {
            return Ran::status(Status::Failure(1));
        };
        let Some(change) = ModeChange::parse(mode) else {
            return self.not_modelled(&[&["chmod".to_owned()], args].concat());
        };
        for path in paths {
            self.override_path(
                path,
                Override {
                    owner: None,
                    group: None,
                    mode: Some(change.clone()),
                    recursive,
                },
            );
        }
        Ran::ok()
    }

    fn statoverride(&mut self, argv: &[String]) -> Ran {
        let args: Vec<&String> = argv[1..]
            .iter()
            .filter(|a| {
                !matches!(a.as_str(), "--quiet" | "--force" | "--update")
                    && !a.starts_with("--force-")
            })
            .collect();
        match args.as_slice() {
            [flag, user, group, mode, path] if flag.as_str() == "--add" => {
                let Ok(mode) = u32::from_str_radix(mode, 8) else {
                    return Ran::status(Status::Failure(2));
                };
                let user = user.trim_start_matches('#');
                let group = group.trim_start_matches('#');
                self.statoverrides.insert(path.to_string());
                self.override_path(
                    path,
                    Override {
                        owner: Some(user.to_owned()),
                        group: Some(group.to_owned()),
                        mode: Some(ModeChange::Set(mode)),
                        recursive: false,
                    },
                );
                Ran::ok()
            }
            [flag, path] if flag.as_str() == "--list" => Ran::status(Status::from_bool(
                self.statoverrides.contains(path.as_str()),
            )),
            [flag] if flag.as_str() == "--list" => Ran {
                status: Status::from_bool(!self.statoverrides.is_empty()),
                stdout: None,
            },
            [flag, path] if flag.as_str() == "--remove" => {
                Ran::status(Status::from_bool(self.statoverrides.remove(path.as_str())))
            }
            _ => self.not_modelled(argv),
        }
    }

    fn exists(&self, path: &str) -> bool {
        image_path(path).is_some_and(|p| self.files.contains_key(&p))
    }

    /// Copies `source` to `dest` as `cp` or `ucf` would on a first install.
    fn copy(&mut self, source: &str, dest: &str) -> Status {
        let (Some(from), Some(to)) = (image_path(source), image_path(dest)) else {
            return Status::Failure(1);
        };
        if let Some(text) = self.texts.get(&from).cloned() {
            return self.write(dest, &text, false);
        }
        // The copy's content is known where the source's is (read ahead for the walk).
        if let Some(Ok(text)) = self
            .contents
            .get(&from)
            .map(|b| String::from_utf8(b.clone()))
        {
            self.texts.insert(to.clone(), text);
        } else if to.starts_with("tmp/") {
            // A scratch copy of something not read ahead: its content is not known yet,
            // and is read ahead for the next walk.
            self.texts.remove(&to);
            if self.files.get(&from) == Some(&Known::File) {
                self.wanted.borrow_mut().insert(from.clone());
            }
        }
        if to.starts_with("tmp/") {
            // Scratch files are the script's own; nothing of them stays in the image.
            self.files.insert(to, Known::File);
            return Status::Success;
        }
        if from.starts_with("tmp/") {
            // A scratch file whose content came from something not known at build time.
            self.not_modelled(&[format!("copy of {source} to {dest}")]);
            return Status::Unknown;
        }
        match self.files.get(&from) {
            // A package without `md5sums` lists nothing: an unknown source may still be
            // there, and the copy is made only if it is once the packages are in.
            Some(Known::File) | None => {
                self.add_parents(&to);
                self.files.insert(to, Known::File);
                self.effects
                    .copies
                    .push((source.to_owned(), dest.to_owned()));
                Status::Success
            }
            _ => Status::Failure(1),
        }
    }

    fn ucf(&mut self, argv: &[String]) -> Ran {
        let mut rest = Vec::new();
        let mut i = 1;
        while i < argv.len() {
            match argv[i].as_str() {
                "--purge" => return Ran::ok(),
                "--sum-file" | "--src-dir" | "--state-dir" => i += 1,
                a if a.starts_with('-') => {}
                a => rest.push(a.to_owned()),
            }
            i += 1;
        }
        let [new, dest] = rest.as_slice() else {
            return self.not_modelled(argv);
        };
        // A first install: the new file becomes the configuration, unless one is there.
        if self.exists(dest) {
            return Ran::ok();
        }
        Ran::status(self.copy(new, dest))
    }

    fn file_command(&mut self, argv: &[String]) -> Ran {
        let name = argv[0].as_str();
        let flags: String = argv[1..]
            .iter()
            .filter(|w| w.starts_with('-') && !w.starts_with("--"))
            .map(|w| w.trim_start_matches('-'))
            .collect();
        let args: Vec<&String> = argv[1..].iter().filter(|w| !w.starts_with('-')).collect();
        match name {
            "mkdir" => match parse_mkdir(argv) {
                Some(dirs) => {
                    for dir in dirs {
                        self.make_dir(dir);
                    }
                    Ran::ok()
                }
                None => self.not_modelled(argv),
            },
            "install" if argv.iter().any(|a| a == "-d" || a == "--directory") => {
                match parse_mkdir(argv) {
                    Some(dirs) => {
                        for dir in dirs {
                            self.make_dir(dir);
                        }
                        Ran::ok()
                    }
                    None => self.not_modelled(argv),
                }
            }
            "install" => {
                let mut mode = None;
                let (mut owner, mut group) = (None, None);
                let mut paths = Vec::new();
                let mut i = 1;
                while i < argv.len() {
                    match argv[i].as_str() {
                        "-m" | "--mode" => {
                            i += 1;
                            mode = argv.get(i).and_then(|m| ModeChange::parse(m));
                        }
                        "-o" | "--owner" => {
                            i += 1;
                            owner = argv.get(i).cloned();
                        }
                        "-g" | "--group" => {
                            i += 1;
                            group = argv.get(i).cloned();
                        }
                        "-p" | "-c" | "-D" => {}
                        a if a.starts_with('-') => return self.not_modelled(argv),
                        a => paths.push(a.to_owned()),
                    }
                    i += 1;
                }
                let [source, dest] = paths.as_slice() else {
                    return self.not_modelled(argv);
                };
                let status = self.copy(source, dest);
                self.override_path(
                    dest,
                    Override {
                        owner,
                        group,
                        mode: Some(mode.unwrap_or(ModeChange::Set(0o755))),
                        recursive: false,
                    },
                );
                Ran::status(status)
            }
            "ln" => {
                if !flags.contains('s') || !flags.chars().all(|c| "sfnTv".contains(c)) {
                    return self.not_modelled(argv);
                }
                let [target, link] = args.as_slice() else {
                    return self.not_modelled(argv);
                };
                let Some(path) = image_path(link) else {
                    return Ran::status(Status::Failure(1));
                };
                if self.removed_dirs.remove(&path) {
                    self.effects
                        .migrations
                        .push((link.to_string(), target.to_string()));
                } else if self.files.get(&path) == Some(&Known::Dir) {
                    // `ln -s T DIR` links inside an existing directory.
                    let base = target.rsplit('/').next().unwrap_or(target);
                    let inside = format!("{}/{base}", link.trim_end_matches('/'));
                    self.effects.links.push((inside, target.to_string()));
                } else if self.files.contains_key(&path) && !flags.contains('f') {
                    return Ran::status(Status::Failure(1));
                } else {
                    self.effects
                        .links
                        .push((link.to_string(), target.to_string()));
                    self.add_parents(&path);
                    self.files.insert(path, Known::Symlink(target.to_string()));
                }
                Ran::ok()
            }
            "cp" => {
                // `-Z` sets an SELinux context, which an image does not carry.
                let plain = argv[1..].iter().filter(|w| w.starts_with('-')).all(|w| {
                    w == "--preserve"
                        || (!w.starts_with("--") && w[1..].chars().all(|c| "apfZ".contains(c)))
                });
                match args.as_slice() {
                    [source, dest] if plain => Ran::status(self.copy(source, dest)),
                    _ => self.not_modelled(argv),
                }
            }
            "mv" => match args.as_slice() {
                [source, dest] => {
                    let from = image_path(source).unwrap_or_default();
                    if let Some(text) = self.texts.remove(&from) {
                        self.files.remove(&from);
                        Ran::status(self.write(dest, &text, false))
                    } else if let Some(Known::Symlink(target)) = self.files.get(&from).cloned()
                        && let Some(at) = self
                            .effects
                            .links
                            .iter()
                            .position(|(l, _)| image_path(l) == Some(from.clone()))
                    {
                        // `ln -s T X.tmp && mv -f X.tmp X`: the link, made at its place.
                        self.files.remove(&from);
                        self.effects.links.remove(at);
                        let to = image_path(dest).unwrap_or_default();
                        self.effects.links.push((dest.to_string(), target.clone()));
                        self.files.insert(to, Known::Symlink(target));
                        Ran::ok()
                    } else if !self.files.contains_key(&from) {
                        // Perhaps made by a command whose words were known only at run time.
                        Ran::unknown()
                    } else {
                        self.not_modelled(argv)
                    }
                }
                _ => self.not_modelled(argv),
            },
            "rm" => {
                for path in &args {
                    let Some(p) = image_path(path) else { continue };
                    if self.texts.remove(&p).is_some() {
                        self.files.remove(&p);
                        continue;
                    }
                    if self.files.contains_key(&p) {
                        return self.not_modelled(argv);
                    }
                    if !flags.contains('f') {
                        return Ran::status(Status::Failure(1));
                    }
                }
                Ran::ok()
            }
            "rmdir" => {
                for path in &args {
                    let Some(p) = image_path(path) else { continue };
                    // An empty shipped directory is in no package's `md5sums`: what
                    // is not known as something else is taken as one.
                    match self.files.get(&p) {
                        Some(Known::Dir) | None => {
                            self.files.remove(&p);
                            self.removed_dirs.insert(p);
                        }
                        Some(_) => return Ran::status(Status::Failure(1)),
                    }
                }
                Ran::ok()
            }
            "touch" => {
                for path in &args {
                    if !self.exists(path) {
                        let status = self.write(path, "", false);
                        if status != Status::Success {
                            return Ran::status(status);
                        }
                    }
                }
                Ran::ok()
            }
            _ => self.not_modelled(argv),
        }
    }

    fn query(&mut self, argv: &[String]) -> Option<Ran> {
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
                [flag, package] if flag == "-s" || flag == "--status" => Ran::status(
                    Status::from_bool(self.installed.contains(package.split(':').next()?)),
                ),
                _ => return None,
            },
            "dpkg-query" => {
                let package = args.iter().rfind(|a| !a.starts_with('-'))?;
                let present = self.installed.contains(package.split(':').next()?);
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

/// Adds the directories `path` (a layer path) lies in to `files`, as directories.
pub(crate) fn add_parents(files: &mut HashMap<String, Known>, path: &str) {
    let mut at = path;
    while let Some((parent, _)) = at.rsplit_once('/') {
        files.entry(parent.to_owned()).or_insert(Known::Dir);
        at = parent;
    }
}

/// Whether an option of the file commands takes the next word as its value.
fn argv_takes_value(option: &str) -> bool {
    matches!(
        option,
        "-m" | "--mode" | "-o" | "--owner" | "-g" | "--group" | "-t" | "-S"
    )
}

/// `dpkg --compare-versions A OP B`; an empty version is the oldest, or with `-nl` the newest.
fn compare_versions(a: &str, op: &str, b: &str) -> Option<bool> {
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

impl Host<'_> {
    /// The model of a command, `None` when there is none.
    fn model(&mut self, argv: &[String]) -> Option<Ran> {
        let name = argv[0].rsplit('/').next().unwrap_or_default().to_owned();
        let mut argv = argv.to_vec();
        argv[0] = name.clone();
        if name == "cd" {
            let dir = argv.get(1).map_or("/".to_owned(), |d| self.absolute(d));
            return Some(
                match self
                    .files
                    .get(image_path(&dir).unwrap_or_default().as_str())
                {
                    Some(Known::Dir) | None => {
                        self.cwd = dir;
                        Ran::ok()
                    }
                    Some(_) => Ran::status(Status::Failure(1)),
                },
            );
        }
        self.absolute_paths(&mut argv);
        if NOTHING_TO_DO.contains(&name.as_str()) {
            return Some(Ran::ok());
        }
        if RUN_TIME.contains(&name.as_str()) {
            let line = argv.join(" ");
            if !self.effects.run_time.contains(&line) {
                self.effects.run_time.push(line);
            }
            return Some(Ran::ok());
        }
        if name == "umask" {
            if let Some(mask) = argv.get(1).and_then(|m| u32::from_str_radix(m, 8).ok()) {
                self.umask = mask & 0o777;
            }
            return Some(Ran::ok());
        }
        if let Some(ran) = self.query(&argv) {
            return Some(ran);
        }
        let args = &argv[1..];
        Some(match name.as_str() {
            "chown" => self.chown(args, false),
            "chgrp" => self.chown(args, true),
            "chmod" => self.chmod(args),
            "dpkg-statoverride" => self.statoverride(&argv),
            "ucf" => self.ucf(&argv),
            "update-alternatives" => {
                if args.iter().any(|a| a == "--install") {
                    match parse_alternative(args) {
                        Some(alt) => {
                            self.effects.alternatives.push(alt);
                            Ran::ok()
                        }
                        None => self.not_modelled(&argv),
                    }
                } else if args.iter().any(|a| a == "--remove" || a == "--remove-all") {
                    Ran::ok()
                } else if let [flag, name] = args
                    && (flag == "--display" || flag == "--query")
                    && !self.effects.alternatives.iter().any(|a| a.name == *name)
                {
                    // Nothing registered under the name before this script.
                    Ran::status(Status::Failure(2))
                } else {
                    self.not_modelled(&argv)
                }
            }
            "add-shell" => {
                self.effects
                    .shells
                    .extend(args.iter().filter(|w| w.starts_with('/')).cloned());
                Ran::ok()
            }
            // update-locale: /etc/default/locale with the variables given values.
            "update-locale" => {
                let mut text = "#  File generated by update-locale\n".to_owned();
                for a in args.iter().filter(|a| !a.starts_with("--")) {
                    if let Some((var, value)) = a.split_once('=') {
                        text.push_str(&format!("{var}={value}\n"));
                    }
                }
                Ran::status(self.write("/etc/default/locale", &text, false))
            }
            "a2enmod" | "a2enconf" | "a2ensite" => self.apache_enable(&name, args),
            "pam-auth-update" if args.iter().any(|a| a == "--package") => {
                self.effects.pam_auth_update = true;
                Ran::ok()
            }
            "shadowconfig" if args.first().is_some_and(|a| a == "on") => {
                self.effects.shadowed = true;
                // shadowconfig on: pwconv and grpconv, and the shadow files group-owned
                // by `shadow` and 0640, which is what the accounts phase writes.
                for path in ["/etc/shadow", "/etc/gshadow"] {
                    self.override_path(
                        path,
                        Override {
                            owner: Some("root".into()),
                            group: Some("shadow".into()),
                            mode: Some(ModeChange::Set(0o640)),
                            recursive: false,
                        },
                    );
                }
                Ran::ok()
            }
            "adduser" | "useradd" | "addgroup" | "groupadd" => {
                let words: Vec<String> = argv.iter().filter(|w| !w.is_empty()).cloned().collect();
                let mut change = if matches!(name.as_str(), "adduser" | "useradd") {
                    parse_adduser(&words)
                } else {
                    parse_addgroup(&words)
                };
                // useradd and groupadd take system ids from the top (SYS_UID_MAX, 999)
                // down; adduser from the bottom (100) up.
                if matches!(name.as_str(), "useradd" | "groupadd") {
                    self.allocate_top_down(&mut change);
                }
                match change {
                    Some(change) => {
                        let (directory, result) = apply_account(&mut self.accounts, change.clone());
                        match result {
                            Ok(()) => {
                                self.effects.accounts.push(change);
                                if let Some(dir) = directory {
                                    self.make_dir(dir);
                                }
                                Ran::ok()
                            }
                            Err(_) => Ran::status(Status::Failure(1)),
                        }
                    }
                    None => self.not_modelled(&argv),
                }
            }
            "mkdir" | "install" | "ln" | "cp" | "mv" | "rm" | "rmdir" | "touch" => {
                self.file_command(&argv)
            }
            _ => return None,
        })
    }
}

impl Image for Host<'_> {
    fn unmodelled(&mut self, argv: &[String]) {
        self.not_modelled(argv);
    }

    fn debconf(&self, question: &str) -> Option<String> {
        self.debconf.get(question).cloned()
    }

    fn run(&mut self, argv: &[String], _stdin: Option<&str>) -> Option<Ran> {
        self.model(argv)
    }

    fn test(&self, path: &str, test: FileTest) -> Option<bool> {
        let path = &self.absolute(path);
        let Some(p) = image_path(path) else {
            return Some(path == "/" && matches!(test, FileTest::Exists | FileTest::Dir));
        };
        let known = self.files.get(&p);
        if known.is_none() && test == FileTest::Dir {
            self.probed
                .borrow_mut()
                .insert((self.package.clone(), p.clone()));
        }
        Some(match test {
            FileTest::Exists => known.is_some(),
            FileTest::File => known == Some(&Known::File),
            FileTest::Dir => known == Some(&Known::Dir),
            FileTest::Symlink => matches!(known, Some(Known::Symlink(_))),
            FileTest::Executable => known.is_some(),
            FileTest::NonEmpty => match self.texts.get(&p) {
                Some(text) => !text.is_empty(),
                None => return known.map(|_| true),
            },
        })
    }

    fn glob(&self, pattern: &str) -> Option<Vec<String>> {
        let layer_pattern = pattern.trim_start_matches('/');
        let mut found: Vec<String> = self
            .files
            .keys()
            .filter(|p| {
                p.matches('/').count() == layer_pattern.matches('/').count()
                    && staves_maintscript::pattern_matches(layer_pattern, p)
            })
            .map(|p| format!("/{p}"))
            .collect();
        found.sort();
        Some(found)
    }

    fn read(&self, path: &str) -> Option<String> {
        let p = image_path(&self.absolute(path))?;
        if let Some(text) = self.texts.get(&p) {
            return Some(text.clone());
        }
        match self.contents.get(&p) {
            Some(bytes) => String::from_utf8(bytes.clone()).ok(),
            None => {
                if self.files.get(&p) == Some(&Known::File) {
                    // Kept while streaming, for the walk after it.
                    self.wanted.borrow_mut().insert(p);
                }
                None
            }
        }
    }

    fn write(&mut self, path: &str, text: &str, append: bool) -> Status {
        let path = &self.absolute(path);
        let Some(p) = image_path(path) else {
            return Status::Failure(1);
        };
        if path == "/dev/null" {
            return Status::Success;
        }
        let current = match self.texts.get(&p) {
            Some(t) => Some(t.clone()),
            None if self.files.get(&p) == Some(&Known::File) => {
                match self.contents.get(&p).map(|b| String::from_utf8(b.clone())) {
                    Some(Ok(t)) => Some(t),
                    _ => {
                        self.wanted.get_mut().insert(p.clone());
                        None
                    }
                }
            }
            None if self.files.contains_key(&p) => return Status::Failure(1),
            None => Some(String::new()),
        };
        let Some(current) = current else {
            self.not_modelled(&[format!("write to {path}")]);
            return Status::Unknown;
        };
        let new = if append {
            current + text
        } else {
            text.to_owned()
        };
        self.add_parents(&p);
        let created = self.files.insert(p.clone(), Known::File).is_none();
        if created && self.umask != 0o022 {
            self.override_path(
                path,
                Override {
                    owner: None,
                    group: None,
                    mode: Some(ModeChange::Set(0o666 & !self.umask)),
                    recursive: false,
                },
            );
        }
        self.texts.insert(p, new);
        Status::Success
    }
}

/// Applies one account change; a created home becomes a directory to make.
pub(crate) fn apply_account(
    accounts: &mut Accounts,
    change: AccountChange,
) -> (Option<Directory>, Result<(), crate::accounts::AccountError>) {
    match change {
        AccountChange::User {
            account,
            create_home,
        } => {
            let existed = accounts.user(&account.name).is_some();
            if let Err(e) = accounts.add_system_user(&account) {
                return (None, Err(e));
            }
            let home = (create_home && !existed)
                .then(|| accounts.user(&account.name).cloned())
                .flatten()
                .map(|user| Directory {
                    group: accounts
                        .groups
                        .iter()
                        .find(|g| g.gid == user.gid)
                        .map(|g| g.name.clone()),
                    path: user.home.clone(),
                    mode: 0o755,
                    owner: Some(user.name.clone()),
                });
            (home, Ok(()))
        }
        AccountChange::Group(name, gid) => {
            (None, accounts.add_system_group(&name, gid).map(|_| ()))
        }
        AccountChange::Member(user, group) => {
            accounts.add_member(&user, &group);
            (None, Ok(()))
        }
    }
}
