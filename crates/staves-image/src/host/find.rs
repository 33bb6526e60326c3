//! `find` over the paths the packages ship and the scripts made: the tests postinsts use
//! (`-type`, `-name`, `-maxdepth`, `-mindepth`, `-empty`) and the actions (`-print`,
//! `-exec … {} \;` or `+`, `-delete` of nothing). freeradius gives its configuration
//! mode 0640 with `find /etc/freeradius -type f -exec chmod 640 '{}' \;`.

use staves_maintscript::{Ran, Status};

use super::{Host, Known};
use crate::paths::image_path;

/// What `find` does with each path it finds.
enum Action {
    Print,
    Exec(Vec<String>),
    Delete,
}

impl Host<'_> {
    /// `None` for an expression this model does not read: the walk then treats the output
    /// as unknown.
    pub(super) fn find(&mut self, argv: &[String]) -> Option<Ran> {
        let mut roots = Vec::new();
        let mut i = 1;
        while i < argv.len() && !argv[i].starts_with('-') {
            roots.push(self.absolute(&argv[i]));
            i += 1;
        }
        let (mut kind, mut name, mut empty) = (None, None, false);
        let (mut min_depth, mut max_depth) = (0usize, usize::MAX);
        let mut action = Action::Print;
        while i < argv.len() {
            match argv[i].as_str() {
                "-type" => {
                    i += 1;
                    kind = Some(argv.get(i)?.clone());
                }
                "-name" => {
                    i += 1;
                    name = Some(argv.get(i)?.clone());
                }
                "-maxdepth" => {
                    i += 1;
                    max_depth = argv.get(i)?.parse().ok()?;
                }
                "-mindepth" => {
                    i += 1;
                    min_depth = argv.get(i)?.parse().ok()?;
                }
                "-empty" => empty = true,
                "-print" => action = Action::Print,
                "-delete" => action = Action::Delete,
                "-exec" => {
                    let end = argv[i + 1..].iter().position(|w| w == ";" || w == "+")?;
                    action = Action::Exec(argv[i + 1..i + 1 + end].to_vec());
                    i += end + 1;
                }
                _ => return None,
            }
            i += 1;
        }
        if roots.is_empty() {
            return None;
        }
        let mut found = Vec::new();
        for root in &roots {
            let Some(root_path) = image_path(root) else {
                continue;
            };
            if !self.files.contains_key(&root_path) {
                return Some(Ran::status(Status::Failure(1)));
            }
            let prefix = format!("{root_path}/");
            let mut below: Vec<(&String, &Known)> = self
                .files
                .iter()
                .filter(|(p, _)| **p == root_path || p.starts_with(&prefix))
                .collect();
            below.sort_by(|a, b| a.0.cmp(b.0));
            for (path, known) in below {
                let depth = if *path == root_path {
                    0
                } else {
                    path[prefix.len()..].matches('/').count() + 1
                };
                let kind_matches = match kind.as_deref() {
                    None => true,
                    Some("f") => *known == Known::File,
                    Some("d") => *known == Known::Dir,
                    Some("l") => matches!(known, Known::Symlink(_)),
                    Some(_) => return None,
                };
                let base = path.rsplit('/').next().unwrap_or(path);
                let name_matches = name
                    .as_deref()
                    .is_none_or(|n| staves_maintscript::pattern_matches(n, base));
                let is_empty = *known == Known::Dir
                    && !self
                        .files
                        .keys()
                        .any(|p| p.starts_with(&format!("{path}/")));
                if (min_depth..=max_depth).contains(&depth)
                    && kind_matches
                    && name_matches
                    && (!empty || is_empty)
                {
                    found.push(format!("/{path}"));
                }
            }
        }
        Some(match action {
            Action::Print => Ran {
                status: Status::Success,
                stdout: Some(found.iter().map(|p| format!("{p}\n")).collect()),
            },
            // Removing shipped paths is not something the layer can take back: only a
            // search that finds nothing is followed.
            Action::Delete if found.is_empty() => Ran::ok(),
            Action::Delete => return None,
            Action::Exec(command) => {
                for path in &found {
                    let argv: Vec<String> = command.iter().map(|w| w.replace("{}", path)).collect();
                    match self.model(&argv) {
                        Some(ran) if ran.status == Status::Success => {}
                        Some(ran) => return Some(Ran::status(ran.status)),
                        None => return Some(self.not_modelled(&argv)),
                    }
                }
                Ran::ok()
            }
        })
    }
}
