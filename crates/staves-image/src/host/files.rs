//! File commands: `mkdir`, `install`, `ln`, `cp`, `mv`, `rm`, `rmdir`, `touch` and `ucf`, on the
//! paths the packages ship and what earlier scripts made.

use staves_maintscript::{Image, Ran, Status};

use super::{Host, Known};
use crate::paths::image_path;
use crate::scripts::{ModeChange, Override, parse_mkdir};

impl Host<'_> {
    pub(super) fn exists(&self, path: &str) -> bool {
        image_path(path).is_some_and(|p| self.files.contains_key(&p))
    }

    /// Copies `source` to `dest` as `cp` or `ucf` would on a first install.
    /// `cp -r DIR DEST`: DEST made (or DIR's name inside it, when DEST is a directory
    /// already) with every directory and file below DIR copied into it; links below DIR are
    /// not followed and make it unknown.
    fn copy_tree(&mut self, from: &str, dest: &str) -> Ran {
        let dest = self.absolute(dest);
        let into = match image_path(&dest) {
            Some(d) if self.files.get(&d) == Some(&Known::Dir) => {
                format!(
                    "{}/{}",
                    dest.trim_end_matches('/'),
                    from.rsplit('/').next().unwrap_or(from)
                )
            }
            _ => dest,
        };
        let prefix = format!("{from}/");
        let mut below: Vec<(String, Known)> = self
            .files
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix))
            .map(|(p, k)| (p.clone(), k.clone()))
            .collect();
        below.sort_by(|a, b| a.0.cmp(&b.0));
        self.make_dir(crate::scripts::Directory {
            path: into.clone(),
            mode: 0o755,
            owner: None,
            group: None,
        });
        for (path, kind) in below {
            let target = format!("{into}/{}", &path[prefix.len()..]);
            match kind {
                Known::Dir => self.make_dir(crate::scripts::Directory {
                    path: target,
                    mode: 0o755,
                    owner: None,
                    group: None,
                }),
                Known::File => {
                    if self.copy(&format!("/{path}"), &target) != Status::Success {
                        return Ran::unknown();
                    }
                }
                _ => return self.not_modelled(&[format!("cp -r of {from} (a link below it)")]),
            }
        }
        Ran::ok()
    }

    pub(super) fn copy(&mut self, source: &str, dest: &str) -> Status {
        // `install -m 644 /dev/null FILE` (dh_apparmor's local profile): an empty file.
        if source == "/dev/null" {
            return self.write(dest, "", false);
        }
        // Into a directory (`cp -a /usr/share/freetds/freetds.conf /etc/freetds/`): the
        // source's name inside it.
        let into;
        let dest = match image_path(dest) {
            Some(d) if self.files.get(&d) == Some(&Known::Dir) || dest.ends_with('/') => {
                let name = source.rsplit('/').next().unwrap_or(source);
                into = format!("{}/{name}", dest.trim_end_matches('/'));
                into.as_str()
            }
            _ => dest,
        };
        // The running kernel's files (a fresh uuid from /proc) are the container's.
        if source.starts_with("/proc/") || source.starts_with("/sys/") {
            self.effects
                .run_time
                .push(format!("copy of {source} to {dest}"));
            return Status::Unknown;
        }
        let (Some(mut from), Some(to)) = (image_path(source), image_path(dest)) else {
            return Status::Failure(1);
        };
        // `cp` follows a link to what it names (rspamd's assets linked into
        // /usr/share/javascript).
        for _ in 0..8 {
            let Some(Known::Symlink(target)) = self.files.get(&from) else {
                break;
            };
            match crate::paths::link_destination(&from, target) {
                Some(resolved) => from = resolved,
                None => break,
            }
        }
        let source_resolved = format!("/{from}");
        let source = source_resolved.as_str();
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
        } else {
            // A copy of something not read ahead: its content is not known yet, and is read
            // ahead for the next walk (a later command may read the copy: ucf's
            // configuration files are read by the daemon the postinst asks).
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

    pub(super) fn ucf(&mut self, argv: &[String]) -> Ran {
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

    pub(super) fn file_command(&mut self, argv: &[String]) -> Ran {
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
                if !flags.contains('s') || !flags.chars().all(|c| "sfnTvr".contains(c)) {
                    return self.not_modelled(argv);
                }
                let [target, link] = args.as_slice() else {
                    return self.not_modelled(argv);
                };
                // `-r`: the target written relative to the link's directory.
                let relative;
                let target = if flags.contains('r') {
                    relative = relative_target(&self.absolute(target), &self.absolute(link));
                    &relative
                } else {
                    target
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
                        || w == "--recursive"
                        || w == "--remove-destination"
                        || (!w.starts_with("--") && w[1..].chars().all(|c| "apfZrRd".contains(c)))
                });
                match args.as_slice() {
                    [source, dest] if plain => {
                        let recursive = argv[1..].iter().any(|w| {
                            w == "--recursive"
                                || (w.starts_with('-')
                                    && !w.starts_with("--")
                                    && w.contains(['r', 'R', 'a']))
                        });
                        let from = image_path(&self.absolute(source)).unwrap_or_default();
                        // `-d`, `-P`, `-a`: a link is copied as a link, not what it names.
                        // dash's postinst copies /bin/sh so after removing it (`rm` of a
                        // shipped path is not followed): the copy is left unknown.
                        let keeps_links = argv[1..].iter().any(|w| {
                            w == "--no-dereference"
                                || (w.starts_with('-')
                                    && !w.starts_with("--")
                                    && w.contains(['d', 'P', 'a']))
                        });
                        if keeps_links && matches!(self.files.get(&from), Some(Known::Symlink(_))) {
                            return Ran::unknown();
                        }
                        if recursive && self.files.get(&from) == Some(&Known::Dir) {
                            self.copy_tree(&from, dest)
                        } else {
                            Ran::status(self.copy(source, dest))
                        }
                    }
                    _ => self.not_modelled(argv),
                }
            }
            "mv" => match args.as_slice() {
                [source, dest] => {
                    let from = image_path(source).unwrap_or_default();
                    if let Some(text) = self.texts.remove(&from) {
                        self.files.remove(&from);
                        let status = self.write(dest, &text, false);
                        // The owner and mode given to the file before it moved go with it
                        // (update-exim4.conf's `chown root:Debian-exim` of its .tmp).
                        if let Some(to) = image_path(dest) {
                            for (path, _) in self.effects.overrides.iter_mut() {
                                if *path == from {
                                    path.clone_from(&to);
                                }
                            }
                        }
                        Ran::status(status)
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
                    if let Some(Known::Symlink(_)) = self.files.get(&p) {
                        self.files.remove(&p);
                        self.effects.removed_links.push(p);
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
}

/// Whether an option of the file commands takes the next word as its value.
pub(super) fn argv_takes_value(option: &str) -> bool {
    matches!(
        option,
        "-m" | "--mode" | "-o" | "--owner" | "-g" | "--group" | "-t" | "-S"
    )
}

/// `ln -r`: `target` (absolute) as a path from the directory of `link` (absolute).
fn relative_target(target: &str, link: &str) -> String {
    let target: Vec<&str> = target.split('/').filter(|c| !c.is_empty()).collect();
    let mut dir: Vec<&str> = link.split('/').filter(|c| !c.is_empty()).collect();
    dir.pop();
    let common = target.iter().zip(&dir).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n("..", dir.len() - common);
    let path: Vec<&str> = ups.chain(target[common..].iter().copied()).collect();
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.join("/")
    }
}
