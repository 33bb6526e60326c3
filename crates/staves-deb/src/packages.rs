//! A repository's binary packages as their readers see them: where they come from, and their
//! `Packages` paragraphs by name and by provided name. The resolver reads this trait, not the
//! repository client: it is given records, however they were fetched and verified.

use std::collections::HashMap;

use crate::deb822::{self, Paragraph};

/// Where a repository's packages come from, as a lockfile records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The repository's name.
    pub name: &'a str,
    /// Its URI.
    pub uri: &'a str,
    /// Its suite, as configured.
    pub suite: &'a str,
    /// The `Suite:` and `Codename:` its release gives (empty when unknown): what
    /// `name/release` may name, as apt matches `-t` and `pkg/release`.
    pub release_names: [&'a str; 2],
    /// Its pin priority (apt_preferences(5)): [`DEFAULT_PRIORITY`], or what the release or
    /// the configuration says.
    pub priority: i32,
    /// Its release's `Date:` (seconds since the epoch), when known: when it was read.
    pub date: Option<i64>,
}

impl Origin<'_> {
    /// Whether `release` names this repository: its configured suite, or its release's
    /// suite or codename.
    pub fn is_release(&self, release: &str) -> bool {
        !release.is_empty() && (self.suite == release || self.release_names.contains(&release))
    }
}

/// apt's priority of a repository without pins: 500.
pub const DEFAULT_PRIORITY: i32 = 500;

/// The priority apt gives a release by its own fields: 1 with `NotAutomatic: yes`, 100
/// when `ButAutomaticUpgrades: yes` is there too (backports), else 500.
pub fn release_priority(not_automatic: bool, but_automatic_upgrades: bool) -> i32 {
    match (not_automatic, but_automatic_upgrades) {
        (true, true) => 100,
        (true, false) => 1,
        _ => DEFAULT_PRIORITY,
    }
}

/// Paragraphs of one architecture's packages, one iterator at a time.
pub type Paragraphs<'a> = Box<dyn Iterator<Item = Paragraph<'a>> + 'a>;

/// A repository's packages, looked up by name.
pub trait PackageSource {
    /// Where they come from.
    fn origin(&self) -> Origin<'_>;
    /// Every paragraph whose `Package` is `name`.
    fn named<'a>(&'a self, name: &'a str) -> Paragraphs<'a>;
    /// Every paragraph that may provide `name` (callers check `Provides` themselves).
    fn providing<'a>(&'a self, name: &'a str) -> Paragraphs<'a>;
    /// Every package name, for "did you mean" hints.
    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_>;
}

/// Packages held as `Packages` text in memory, indexed once: fixtures, and sets a program
/// builds itself.
#[derive(Debug, Clone)]
pub struct TextPackages {
    name: String,
    uri: String,
    suite: String,
    priority: i32,
    text: String,
    /// Name → byte ranges of its paragraphs.
    by_name: HashMap<String, Vec<(usize, usize)>>,
    /// Provided name → byte ranges of the paragraphs providing it.
    by_provided: HashMap<String, Vec<(usize, usize)>>,
}

impl TextPackages {
    /// The packages of `text` (a `Packages` file), as repository `name` at `uri` `suite`.
    pub fn new(name: &str, uri: &str, suite: &str, text: String) -> TextPackages {
        let mut by_name: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        let mut by_provided: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
        for para in deb822::paragraphs(&text) {
            let range = (para.offset(), para.offset() + para.text().len());
            if let Some(package) = para.get("Package") {
                by_name.entry(package.to_owned()).or_default().push(range);
            }
            for provided in para.get("Provides").unwrap_or_default().split(',') {
                let provided = provided.split(['(', ' ']).find(|w| !w.is_empty());
                if let Some(provided) = provided {
                    by_provided
                        .entry(provided.trim().to_owned())
                        .or_default()
                        .push(range);
                }
            }
        }
        TextPackages {
            name: name.to_owned(),
            uri: uri.to_owned(),
            suite: suite.to_owned(),
            priority: DEFAULT_PRIORITY,
            text,
            by_name,
            by_provided,
        }
    }

    /// The same packages at pin priority `priority`.
    pub fn with_priority(mut self, priority: i32) -> TextPackages {
        self.priority = priority;
        self
    }

    fn at<'a>(&'a self, ranges: Option<&'a Vec<(usize, usize)>>) -> Paragraphs<'a> {
        Box::new(
            ranges
                .into_iter()
                .flatten()
                .map(|&(start, end)| Paragraph::new(&self.text[start..end], start)),
        )
    }
}

impl PackageSource for TextPackages {
    fn origin(&self) -> Origin<'_> {
        Origin {
            name: &self.name,
            uri: &self.uri,
            suite: &self.suite,
            release_names: ["", ""],
            priority: self.priority,
            date: None,
        }
    }

    fn named<'a>(&'a self, name: &'a str) -> Paragraphs<'a> {
        self.at(self.by_name.get(name))
    }

    fn providing<'a>(&'a self, name: &'a str) -> Paragraphs<'a> {
        self.at(self.by_provided.get(name))
    }

    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.by_name.keys().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_are_found_by_name_and_by_what_they_provide() {
        let text = "Package: mawk\nVersion: 1\nProvides: awk\n\nPackage: gawk\nVersion: 2\nProvides: awk (= 2), gawk-doc\n\nPackage: mawk\nVersion: 0\n";
        let packages = TextPackages::new("r", "file:/r", "s", text.into());
        assert_eq!(packages.named("mawk").count(), 2);
        let providers: Vec<_> = packages
            .providing("awk")
            .filter_map(|p| p.get("Package"))
            .collect();
        assert_eq!(providers, ["mawk", "gawk"]);
        assert_eq!(packages.providing("gawk-doc").count(), 1);
        assert_eq!(packages.named("nothing").count(), 0);
        assert_eq!(packages.origin().name, "r");
    }
}
