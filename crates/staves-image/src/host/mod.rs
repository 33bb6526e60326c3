//! The image as maintainer scripts see it while `staves-maintscript` walks them: what the
//! packages ship (from their `md5sums` and `conffiles`), what earlier scripts made, the
//! accounts, and a model of each command a script calls, recording its effect.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use staves_maintscript::{FileTest, Image, Ran, Status};

use crate::accounts::Accounts;
use crate::paths::image_path;
use crate::scripts::{
    Directory, Effects, ModeChange, Override, parse_addgroup, parse_adduser, parse_alternative,
};

mod accounts;
mod apache;
mod declarative;
mod files;
mod find;
mod helpers;
mod owners;
mod queries;

pub(crate) use accounts::apply_account;
use files::argv_takes_value;

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
    /// Installed packages and their versions.
    pub(crate) installed: &'a BTreeMap<String, String>,
    /// Each package's files, as `dpkg -L` lists them.
    pub(crate) lists: &'a HashMap<String, Vec<String>>,
    /// debconf questions and their answers: the packages' `templates` defaults, then what
    /// `config` and `postinst` scripts set.
    pub(crate) debconf: HashMap<String, String>,
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
        installed: &'a BTreeMap<String, String>,
        lists: &'a HashMap<String, Vec<String>>,
        debconf: &HashMap<String, String>,
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
            debconf: debconf.clone(),
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
}

/// Adds the directories `path` (a layer path) lies in to `files`, as directories.
pub(crate) fn add_parents(files: &mut HashMap<String, Known>, path: &str) {
    let mut at = path;
    while let Some((parent, _)) = at.rsplit_once('/') {
        files.entry(parent.to_owned()).or_insert(Known::Dir);
        at = parent;
    }
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
        if name == "find"
            && let Some(ran) = self.find(&argv)
        {
            return Some(ran);
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
            "systemd-sysusers" => self.sysusers(&argv),
            "systemd-tmpfiles" => self.tmpfiles(&argv),
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
            // update-locale: its locale file with the variables given values.
            "update-locale" => {
                let mut text = "#  File generated by update-locale\n".to_owned();
                for a in args.iter().filter(|a| !a.starts_with("--")) {
                    if let Some((var, value)) = a.split_once('=') {
                        text.push_str(&format!("{var}={value}\n"));
                    }
                }
                let file = self.locale_file(args);
                Ran::status(self.write(&file, &text, false))
            }
            "a2enmod" | "a2enconf" | "a2ensite" => self.apache_enable(&name, args),
            "lighty-enable-mod" => self.lighty_enable_mod(&argv),
            "update-catalog" => self.update_catalog(&argv),
            "pam-auth-update" if args.iter().any(|a| a == "--package") => {
                self.effects.pam_auth_update = true;
                Ran::ok()
            }
            "shadowconfig" if args.first().is_some_and(|a| a == "on") => {
                self.effects.shadowed = true;
                self.accounts.shadow_files = true;
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
                // adduser from 3.135 (Debian 13) leaves the GECOS fields it was not
                // given empty instead of writing `Name,,,`.
                if name == "adduser"
                    && let Some(crate::scripts::AccountChange::User { account, .. }) =
                        change.as_mut()
                    && let Some(version) = self.installed.get("adduser")
                    && queries::compare_versions(version, "ge", "3.135") == Some(true)
                    && let Some(gecos) = account.gecos.as_mut()
                    && let Some(bare) = gecos.strip_suffix(",,,")
                {
                    *gecos = bare.to_owned();
                }
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

impl Host<'_> {
    /// The file update-locale writes: `--locale-file`, else the default the installed
    /// script names (`/etc/locale.conf` from Debian 13, `/etc/default/locale` before).
    fn locale_file(&self, args: &[String]) -> String {
        if let Some(file) = args.iter().find_map(|a| a.strip_prefix("--locale-file=")) {
            return file.to_owned();
        }
        self.read("/usr/sbin/update-locale")
            .and_then(|script| {
                script.lines().find_map(|line| {
                    let rest = line.trim().strip_prefix("my $locale_file")?;
                    let quoted = rest.trim_start().strip_prefix('=')?.trim();
                    Some(quoted.split('"').nth(1)?.to_owned())
                })
            })
            .unwrap_or_else(|| "/etc/default/locale".to_owned())
    }
}

impl Image for Host<'_> {
    fn unmodelled(&mut self, argv: &[String]) {
        self.not_modelled(argv);
    }

    fn debconf(&self, question: &str) -> Option<String> {
        self.debconf.get(question).cloned()
    }

    fn debconf_set(&mut self, question: &str, value: &str) {
        self.debconf.insert(question.to_owned(), value.to_owned());
    }

    fn run(&mut self, argv: &[String], _stdin: Option<&str>) -> Option<Ran> {
        self.model(argv)
    }

    fn test(&self, path: &str, test: FileTest) -> Option<bool> {
        let path = &self.absolute(path);
        // The running kernel's files: there at run time, unknown at build time.
        if path.starts_with("/proc/") || path.starts_with("/sys/") {
            return None;
        }
        let Some(p) = image_path(path) else {
            return Some(path == "/" && matches!(test, FileTest::Exists | FileTest::Dir));
        };
        let known = self.files.get(&p);
        // What no `md5sums` lists (empty directories, empty files such as nfs-common's
        // /var/lib/nfs/state) may still be shipped: the package is listed whole for the
        // next walk when its script looks for one in a directory the image has.
        let parent_known = p
            .rsplit_once('/')
            .is_some_and(|(parent, _)| self.files.get(parent) == Some(&Known::Dir));
        let worth_listing = test == FileTest::Dir
            || (parent_known && matches!(test, FileTest::File | FileTest::Exists));
        if known.is_none() && worth_listing {
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
        if path == "/dev/null" {
            return Some(String::new());
        }
        let p = image_path(&self.absolute(path))?;
        if let Some(text) = self.texts.get(&p) {
            return Some(text.clone());
        }
        match self.contents.get(&p) {
            // A shipped script with Latin-1 in a comment or a message
            // (update-exim4defaults) is still read for what it does, a byte a character.
            Some(bytes) if bytes.starts_with(b"#!") => Some(
                String::from_utf8(bytes.clone())
                    .unwrap_or_else(|_| bytes.iter().map(|&b| char::from(b)).collect()),
            ),
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
