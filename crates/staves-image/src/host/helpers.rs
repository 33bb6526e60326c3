//! Two Perl helpers postinsts call, as they act on a first install: lighttpd's
//! `lighty-enable-mod` (links in `conf-enabled`, following `# -*- depends: -*-`) and
//! sgml-base's `update-catalog --update-super` (the super catalog of `/etc/sgml/*.cat`).

use staves_maintscript::{Image, Ran, Status};

use super::{Host, Known};
use crate::paths::image_path;
use crate::scripts::Directory;

const LIGHTTPD: &str = "/etc/lighttpd";
const SUPER_CATALOG: &str = "/var/lib/sgml-base/supercatalog";

impl Host<'_> {
    /// `lighty-enable-mod MODULE…`: each module's `conf-available/NN-MODULE.conf` linked from
    /// `conf-enabled` (`../conf-available/…`), the modules it depends on too. Exit 2 when a
    /// module is unknown or already enabled, as the script does.
    pub(super) fn lighty_enable_mod(&mut self, argv: &[String]) -> Ran {
        let modules = |dir: &str, host: &Self| -> Option<Vec<(String, String)>> {
            let found = host.glob(&format!("{LIGHTTPD}/{dir}/*.conf"))?;
            Some(
                found
                    .into_iter()
                    .filter_map(|path| {
                        let file = path.rsplit('/').next()?.to_owned();
                        let (number, name) = file.strip_suffix(".conf")?.split_once('-')?;
                        let numbered =
                            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
                        numbered.then(|| (name.to_owned(), file.clone()))
                    })
                    .collect(),
            )
        };
        let (Some(available), Some(mut enabled)) = (
            modules("conf-available", self),
            modules("conf-enabled", self),
        ) else {
            return self.not_modelled(argv);
        };
        let file_of = |list: &[(String, String)], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, f)| f.clone())
        };
        let mut todo: Vec<String> = argv[1..].to_vec();
        let mut status = Status::Success;
        let mut next = 0;
        while let Some(module) = todo.get(next).cloned() {
            next += 1;
            let Some(file) = file_of(&available, &module) else {
                status = Status::Failure(2);
                continue;
            };
            let link = format!("{LIGHTTPD}/conf-enabled/{file}");
            if self.exists(&link) {
                if status == Status::Success {
                    status = Status::Failure(2);
                }
                continue;
            }
            let Some(text) = self.read(&format!("{LIGHTTPD}/conf-available/{file}")) else {
                return Ran::unknown();
            };
            for line in text.lines() {
                let Some(depends) = line
                    .split_once("# -*- depends: ")
                    .and_then(|(_, rest)| rest.split_once(" -*-"))
                    .map(|(list, _)| list)
                else {
                    continue;
                };
                for dependency in depends.split(',').map(str::trim) {
                    if file_of(&available, dependency).is_none() {
                        return Ran::status(Status::Failure(1));
                    }
                    if file_of(&enabled, dependency).is_none() {
                        todo.push(dependency.to_owned());
                    }
                }
            }
            let target = format!("../conf-available/{file}");
            if let Some(path) = image_path(&link) {
                self.effects.links.push((link, target.clone()));
                self.files.insert(path, Known::Symlink(target));
            }
            enabled.push((module, file));
        }
        Ran::status(status)
    }

    /// `update-catalog --update-super`: the super catalog listing every `/etc/sgml/*.cat`
    /// in byte order. `--add` and `--remove` edit a centralized catalog, which is not
    /// followed.
    pub(super) fn update_catalog(&mut self, argv: &[String]) -> Ran {
        let args: Vec<&str> = argv[1..]
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--quiet")
            .collect();
        if args != ["--update-super"] {
            return self.not_modelled(argv);
        }
        let Some(catalogs) = self.glob("/etc/sgml/*.cat") else {
            return self.not_modelled(argv);
        };
        let mut text = "--\n## This file is created by update-catalog with update-super.\n## Please see update-catalog(8) for how to modify this file.\n--\n".to_owned();
        for catalog in catalogs {
            text.push_str(&format!("CATALOG {catalog}\n"));
        }
        if !self.exists("/var/lib/sgml-base") {
            self.make_dir(Directory {
                path: "/var/lib/sgml-base".into(),
                mode: 0o755,
                owner: None,
                group: None,
            });
        }
        Ran::status(self.write(SUPER_CATALOG, &text, false))
    }
}
