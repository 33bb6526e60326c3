//! The packages the resolver may choose from: every verified index of every repository,
//! read lazily — a paragraph is parsed the first time its name is looked up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use staves_deb::Version;
use staves_deb::deb822::Paragraph;
use staves_deb::packages::PackageSource;
use staves_deb::relation::{self, Dependency, Relation};

use crate::error::ResolveError;

/// `Multi-Arch:` of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiArch {
    /// No field: the package only satisfies dependencies of its own architecture.
    No,
    /// `same`: co-installable across architectures.
    Same,
    /// `foreign`: satisfies dependencies of any architecture.
    Foreign,
    /// `allowed`: satisfies `:any` dependencies of any architecture.
    Allowed,
}

/// One version of one binary package, as an index describes it.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// `Architecture:` (`amd64`, `all`, …).
    pub arch: String,
    /// `Multi-Arch:`.
    pub multi_arch: MultiArch,
    /// `Essential: yes`.
    pub essential: bool,
    /// `Important: yes`.
    pub important: bool,
    /// apt's priority rank: 1 required … 5 extra; lower is preferred between providers.
    pub priority: u8,
    /// `Pre-Depends` then `Depends`, in field order.
    pub depends: Vec<Dependency>,
    /// `Recommends`.
    pub recommends: Vec<Dependency>,
    /// `Conflicts` and `Breaks`.
    pub conflicts: Vec<Relation>,
    /// `Provides`: names with an optional `(= version)`.
    pub provides: Vec<Relation>,
    /// Path of the .deb below the repository root.
    pub filename: String,
    /// Size of the .deb.
    pub size: u64,
    /// `Installed-Size:`, in KiB.
    pub installed_size: u64,
    /// SHA-256 of the .deb.
    pub sha256: String,
    /// Index of the repository it came from (the first listing this version).
    pub repository: usize,
    /// Every repository listing this version, by index.
    pub sources: Vec<usize>,
    /// Its pin priority: the highest of the repositories listing it (apt_preferences(5)).
    pub pin: i32,
}

impl Package {
    /// `name:arch`, or just the name for the native architecture and `all`.
    pub fn display_name(&self, native: &str) -> String {
        if self.arch == native || self.arch == "all" {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.arch)
        }
    }
}

/// A shared handle to a package version.
pub type PackageRef = Rc<Package>;

/// Every package visible through the synced repositories.
pub struct Universe<'r> {
    repositories: Vec<&'r dyn PackageSource>,
    native: String,
    by_name: RefCell<HashMap<String, Rc<Vec<PackageRef>>>>,
    providers: RefCell<HashMap<String, Rc<Vec<PackageRef>>>>,
}

impl<'r> Universe<'r> {
    /// A universe over `repositories` (in priority order for identical versions), resolving
    /// for the `native` architecture.
    pub fn new<S: PackageSource>(repositories: &'r [S], native: &str) -> Self {
        Universe {
            repositories: repositories
                .iter()
                .map(|r| r as &dyn PackageSource)
                .collect(),
            native: native.to_owned(),
            by_name: RefCell::default(),
            providers: RefCell::default(),
        }
    }

    /// The architecture being resolved for.
    pub fn native(&self) -> &str {
        &self.native
    }

    /// The repositories, as given.
    pub fn repositories(&self) -> &[&'r dyn PackageSource] {
        &self.repositories
    }

    /// Every version of every architecture of `name`, highest version first.
    pub fn packages(&self, name: &str) -> Result<Rc<Vec<PackageRef>>, ResolveError> {
        if let Some(found) = self.by_name.borrow().get(name) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        for (repository, source) in self.repositories.iter().enumerate() {
            for para in source.named(name) {
                found.push(parse_package(&para, repository, source.origin())?);
            }
        }
        let found = Rc::new(by_policy(found));
        self.by_name
            .borrow_mut()
            .insert(name.to_owned(), found.clone());
        Ok(found)
    }

    /// Every package version whose `Provides` names `name`.
    pub fn providers(&self, name: &str) -> Result<Rc<Vec<PackageRef>>, ResolveError> {
        if let Some(found) = self.providers.borrow().get(name) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        for (repository, source) in self.repositories.iter().enumerate() {
            for para in source.providing(name) {
                let package = parse_package(&para, repository, source.origin())?;
                if package.provides.iter().any(|p| p.name == name) {
                    found.push(package);
                }
            }
        }
        let found = Rc::new(by_policy(found));
        self.providers
            .borrow_mut()
            .insert(name.to_owned(), found.clone());
        Ok(found)
    }

    /// Package names close to `name`, for "did you mean" hints.
    pub fn similar_names(&self, name: &str, limit: usize) -> Vec<String> {
        let mut scored: Vec<(f64, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for source in &self.repositories {
            for candidate in source.names() {
                if !seen.insert(candidate) {
                    continue;
                }
                let score = strsim::jaro_winkler(name, candidate);
                if score > 0.85 {
                    scored.push((score, candidate.to_owned()));
                }
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        scored.into_iter().take(limit).map(|(_, n)| n).collect()
    }
}

/// apt's policy order: the same name, version and architecture once (from the first
/// repository listing it, at the highest priority of those listing it); versions pinned
/// below 0 dropped, as apt never installs them; then the highest priority first, the
/// highest version first among equals. The first of a name and architecture is apt's
/// candidate.
fn by_policy(mut found: Vec<PackageRef>) -> Vec<PackageRef> {
    found.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.arch.cmp(&b.arch))
            .then_with(|| b.version.cmp(&a.version))
            .then_with(|| a.repository.cmp(&b.repository))
    });
    let mut merged: Vec<PackageRef> = Vec::with_capacity(found.len());
    for package in found {
        match merged.last_mut() {
            Some(last)
                if last.name == package.name
                    && last.arch == package.arch
                    && last.version == package.version =>
            {
                let record = Rc::make_mut(last);
                record.pin = record.pin.max(package.pin);
                record.sources.push(package.repository);
            }
            _ => merged.push(package),
        }
    }
    merged.retain(|p| p.pin >= 0);
    merged.sort_by(|a, b| b.pin.cmp(&a.pin).then_with(|| b.version.cmp(&a.version)));
    merged
}

/// Where installed packages come from, in [`Package::repository`]: no repository.
pub const INSTALLED: usize = usize::MAX;

/// The packages a dpkg status file lists as installed (`Status: install ok installed`),
/// for [`crate::Task::installed`]: a base image's system. `what` names the file in errors.
pub fn installed_from_status(text: &str, what: &str) -> Result<Vec<PackageRef>, ResolveError> {
    staves_deb::deb822::paragraphs(text)
        .filter(|p| {
            p.get("Status")
                .is_some_and(|s| s.trim().ends_with(" installed"))
        })
        .map(|p| {
            let origin = staves_deb::packages::Origin {
                name: what,
                uri: "",
                suite: "",
                release_names: ["", ""],
                priority: staves_deb::packages::DEFAULT_PRIORITY,
                date: None,
            };
            parse_package(&p, INSTALLED, origin)
        })
        .collect()
}

fn parse_package(
    para: &Paragraph<'_>,
    repository: usize,
    origin: staves_deb::packages::Origin<'_>,
) -> Result<PackageRef, ResolveError> {
    let bad = |message: String| ResolveError::BadIndex {
        repository: origin.name.to_owned(),
        message,
    };
    let name = para.get("Package").unwrap_or_default().to_owned();
    let field = |f: &str| para.get(f).unwrap_or_default();
    let version = Version::parse(field("Version")).map_err(|e| {
        bad(format!(
            "package {name}: version `{}`: {e}",
            field("Version")
        ))
    })?;
    let relations = |f: &str| {
        relation::parse_field(field(f))
            .map_err(|e| bad(format!("package {name} {version}: {f}: {e}")))
    };
    let mut depends = relations("Pre-Depends")?;
    depends.extend(relations("Depends")?);
    let flatten = |deps: Vec<Dependency>| -> Vec<Relation> {
        deps.into_iter().flat_map(|d| d.alternatives).collect()
    };
    let mut conflicts = flatten(relations("Conflicts")?);
    conflicts.extend(flatten(relations("Breaks")?));
    let priority = match field("Priority") {
        "required" => 1,
        "important" => 2,
        "standard" => 3,
        "optional" => 4,
        _ => 5,
    };
    let yes = |f: &str| field(f).eq_ignore_ascii_case("yes");
    Ok(Rc::new(Package {
        multi_arch: match field("Multi-Arch") {
            "same" => MultiArch::Same,
            "foreign" => MultiArch::Foreign,
            "allowed" => MultiArch::Allowed,
            _ => MultiArch::No,
        },
        arch: field("Architecture").to_owned(),
        essential: yes("Essential"),
        important: yes("Important") || yes("Protected"),
        priority,
        recommends: relations("Recommends")?,
        provides: flatten(relations("Provides")?),
        depends,
        conflicts,
        filename: field("Filename").to_owned(),
        size: field("Size").parse().unwrap_or(0),
        installed_size: field("Installed-Size").parse().unwrap_or(0),
        sha256: field("SHA256").to_ascii_lowercase(),
        repository,
        sources: vec![repository],
        pin: origin.priority,
        name,
        version,
    }))
}
