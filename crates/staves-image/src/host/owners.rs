//! Owners and modes: `chown`, `chgrp`, `chmod` and `dpkg-statoverride`, recorded as overrides
//! applied while the packages stream in.

use staves_maintscript::{Ran, Status};

use super::Host;
use crate::paths::image_path;
use crate::scripts::{ModeChange, Override};

impl Host<'_> {
    pub(super) fn override_path(&mut self, path: &str, change: Override) {
        let Some(layer_path) = image_path(path) else {
            return;
        };
        // Scratch files under /tmp are the script's own; nothing of them stays.
        if layer_path.starts_with("tmp/") {
            return;
        }
        self.effects.overrides.push((layer_path, change));
    }

    pub(super) fn chown(&mut self, args: &[String], group_only: bool) -> Ran {
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
                // `USER:` is the user and its login group.
                Some((o, "")) if !o.is_empty() => {
                    let login = self.accounts.user(o).and_then(|u| {
                        self.accounts
                            .groups
                            .iter()
                            .find(|g| g.gid == u.gid)
                            .map(|g| g.name.clone())
                    });
                    (Some(o.to_owned()), login)
                }
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

    pub(super) fn chmod(&mut self, args: &[String]) -> Ran {
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

    pub(super) fn statoverride(&mut self, argv: &[String]) -> Ran {
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
            [flag, path] if flag.as_str() == "--list" && !path.contains(['*', '?', '[']) => {
                Ran::status(Status::from_bool(
                    self.statoverrides.contains(path.as_str()),
                ))
            }
            // `--list GLOB…` (exim4-base's loop over its directories): nothing listed and
            // status 1 when no override made so far matches.
            [flag, globs @ ..]
                if flag.as_str() == "--list"
                    && !self.statoverrides.iter().any(|path| {
                        globs
                            .iter()
                            .any(|g| staves_maintscript::pattern_matches(g, path))
                    }) =>
            {
                Ran {
                    status: Status::Failure(1),
                    stdout: Some(String::new()),
                }
            }
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
}
