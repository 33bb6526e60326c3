//! `a2enmod`, `a2enconf` and `a2ensite`: the links, the `# Depends:` they follow and the marks
//! the maintainer scripts leave.

use std::collections::BTreeSet;

use staves_maintscript::{Image, Ran, Status};

use super::{Host, Known};
use crate::paths::image_path;

impl Host<'_> {
    /// apache2's `a2enmod`, `a2enconf` and `a2ensite` (Perl, modelled): each name linked
    /// from `*-enabled` to its files in `*-available`, a module after the modules its
    /// `.load` file names in `# Depends:`; with `-m`, the mark that the maintainer scripts
    /// enabled it.
    pub(super) fn apache_enable(&mut self, name: &str, args: &[String]) -> Ran {
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
}
