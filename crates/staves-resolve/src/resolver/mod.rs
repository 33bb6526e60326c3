//! Choosing packages the way apt's `MarkInstall` does.
//!
//! * Every requested package is marked first; then each one's dependencies are walked in
//!   request order, depth first, as `apt-get install` does.
//! * A dependency group already satisfied by a marked package (directly or through
//!   `Provides`) adds nothing. Otherwise its alternatives are tried in order; within one
//!   alternative the real package comes first, then providers ranked as apt ranks them
//!   (essential, important, native architecture, priority).
//! * Each package has one candidate: its highest version, or the highest one allowed by a
//!   pin in the spec. Where the candidate does not satisfy a versioned dependency, the highest
//!   version that does is used instead (apt would give up there).
//! * Conflicts and Breaks rule a candidate out. A candidate whose own dependencies cannot be
//!   met is undone with everything it pulled in, and the next one is tried.
//! * Essential packages are not implied; Recommends are followed only when asked.
//! * With [`Task::merged_usr`], a group offering `usr-is-merged` is met by that marker
//!   package before any other alternative: every image is merged-/usr already, and
//!   `usrmerge` (the converter listed first) would bring perl.
//! * Every marked package remembers its [`Origin`], so `why` questions have the answer apt
//!   itself would give: the first dependency that brought it in.

use staves_deb::VersionOp;
use staves_deb::relation::Relation;

use crate::error::{Failure, ResolveError};
use crate::marked::MarkedSet;
pub use crate::task::{BASE_FILES, Origin, Request, Resolution, Task, USR_IS_MERGED};
use crate::universe::{MultiArch, Package, PackageRef, Universe};

mod walk;

/// Resolves `task` over `universe`.
pub fn resolve(universe: &Universe<'_>, task: &Task) -> Result<Resolution, ResolveError> {
    let mut solver = Solver {
        universe,
        task,
        native: universe.native().to_owned(),
        marked: MarkedSet::default(),
        excluded: Vec::new(),
        budget: RESOLUTION_BUDGET,
    };
    for package in &task.installed {
        solver.marked.push(package.clone(), Origin::Installed);
    }
    // Pass 1: mark what was asked for, as apt marks command-line packages before their
    // dependencies, so a request can satisfy another request's dependency.
    let mut roots = Vec::new();
    for (index, request) in task.requests.iter().enumerate() {
        if let Some(kept) = solver.installed_for(index, request)? {
            roots.push(kept);
            continue;
        }
        let package = solver.select_request(index, request)?;
        if let Some(clash) = solver.conflict_with_marked(&package) {
            return Err(ResolveError::Unsatisfiable {
                request: index,
                failure: Failure::leaf(if clash.ends_with("which the base image holds") {
                    format!(
                        "{} {} conflicts with {clash}",
                        package.name, package.version
                    )
                } else {
                    format!(
                        "{} {} conflicts with {clash}, which is also requested",
                        package.name, package.version
                    )
                }),
            });
        }
        if !solver.is_marked(&package) {
            solver
                .marked
                .push(package.clone(), Origin::Requested(index));
        }
        roots.push(package);
    }
    let requested = roots.len();
    for (index, request) in task.implied.iter().enumerate() {
        let package = match solver.select_request(requested + index, request) {
            Ok(package) => package,
            Err(ResolveError::UnknownPackage { .. }) => continue,
            Err(e) => return Err(e),
        };
        if solver.conflict_with_marked(&package).is_some() || solver.is_marked(&package) {
            continue; // a request already stands in for it, or rules it out
        }
        solver.marked.push(package.clone(), Origin::Implied(index));
        roots.push(package);
    }
    // Pass 2: walk each request's dependencies.
    for (index, package) in roots.iter().enumerate() {
        solver
            .install_dependencies(package, true)
            .map_err(|failure| ResolveError::Unsatisfiable {
                request: index,
                failure: failure.shortened(),
            })?;
    }
    let (packages, origins) = solver.marked.into_parts();
    let mut chosen: Vec<(PackageRef, Origin)> = packages
        .into_iter()
        .zip(origins)
        .filter(|(_, origin)| !matches!(origin, Origin::Installed))
        .collect();
    chosen.sort_by(|a, b| {
        a.0.name
            .cmp(&b.0.name)
            .then_with(|| a.0.arch.cmp(&b.0.arch))
    });
    let (packages, origins) = chosen.into_iter().unzip();
    let mut excluded = solver.excluded;
    excluded.sort();
    excluded.dedup();
    Ok(Resolution {
        packages,
        origins,
        excluded,
    })
}

/// Candidates a resolution may try before it gives up. Real requests try a few hundred
/// (postgresql: about 100 packages, few alternatives); a hostile index can make the search
/// exponential.
pub const RESOLUTION_BUDGET: usize = 200_000;

/// Reasons kept per dependency group; more are counted, not kept, so that thousands of
/// failing providers cannot fill memory with their explanations.
const MAX_REASONS: usize = 8;

struct Solver<'u, 'r> {
    universe: &'u Universe<'r>,
    task: &'u Task,
    native: String,
    /// Marked packages in marking order; undoing a failed attempt truncates it.
    marked: MarkedSet,
    excluded: Vec<(String, String)>,
    /// Candidates that may still be tried.
    budget: usize,
}

impl Solver<'_, '_> {
    /// The package version a request names.
    fn select_request(&self, index: usize, request: &Request) -> Result<PackageRef, ResolveError> {
        let arch = request.arch.clone().unwrap_or_else(|| self.native.clone());
        let all = self.universe.packages(&request.name)?;
        let of_arch: Vec<&PackageRef> = all
            .iter()
            .filter(|p| {
                p.arch == arch
                    || (p.arch == "all" && (arch == self.native || request.arch.is_some()))
            })
            .collect();
        if of_arch.is_empty() {
            let providers = self.universe.providers(&request.name)?;
            let candidates: Vec<PackageRef> = providers
                .iter()
                .filter(|p| self.is_candidate(p) && (p.arch == arch || p.arch == "all"))
                .cloned()
                .collect();
            return match candidates.as_slice() {
                [only] if request.constraint.is_none() => Ok(only.clone()),
                [] if all.is_empty() => Err(ResolveError::UnknownPackage {
                    request: index,
                    name: request.name.clone(),
                    suggestions: self.universe.similar_names(&request.name, 3),
                }),
                [] => Err(ResolveError::NoVersion {
                    request: index,
                    name: format!("{}:{arch}", request.name),
                    wanted: String::new(),
                    available: all
                        .iter()
                        .map(|p| format!("{} ({})", p.version, p.arch))
                        .collect(),
                }),
                many => Err(ResolveError::VirtualPackage {
                    request: index,
                    name: request.name.clone(),
                    providers: many.iter().map(|p| p.name.clone()).collect(),
                }),
            };
        }
        let pin = request
            .constraint
            .as_ref()
            .or_else(|| self.task.pins.get(&request.name));
        let of_arch = self.prefer_locked(&request.name, &arch, of_arch);
        let of_arch = self.prefer_release(&request.name, of_arch);
        if let Some(release) = self.task.releases.get(&request.name)
            && !of_arch
                .first()
                .is_some_and(|p| self.listed_in_release(p, release))
        {
            return Err(ResolveError::NotInRelease {
                request: Some(index),
                name: request.name.clone(),
                release: release.clone(),
                known: self.known_releases(),
            });
        }
        of_arch
            .iter()
            .find(|p| pin.is_none_or(|(op, v)| op.admits(&p.version, v)))
            .map(|p| (*p).clone())
            .ok_or_else(|| ResolveError::NoVersion {
                request: index,
                name: request.name.clone(),
                wanted: pin
                    .map(|(op, v)| format!(" ({op} {v})"))
                    .unwrap_or_default(),
                available: of_arch.iter().map(|p| p.version.to_string()).collect(),
            })
    }

    /// The installed package a request names, when one is installed: kept if it meets the
    /// request, an error if the request wants another version.
    fn installed_for(
        &self,
        index: usize,
        request: &Request,
    ) -> Result<Option<PackageRef>, ResolveError> {
        let arch = request.arch.as_deref().unwrap_or(&self.native);
        let Some(installed) = self
            .task
            .installed
            .iter()
            .find(|p| p.name == request.name && (p.arch == arch || p.arch == "all"))
        else {
            return Ok(None);
        };
        let pin = request
            .constraint
            .as_ref()
            .or_else(|| self.task.pins.get(&request.name));
        match pin {
            Some((op, wanted)) if !op.admits(&installed.version, wanted) => {
                Err(ResolveError::Unsatisfiable {
                    request: index,
                    failure: Failure::leaf(format!(
                        "{} {} is installed in the base image and the request wants ({op} {wanted})",
                        installed.name, installed.version
                    )),
                })
            }
            _ => Ok(Some(installed.clone())),
        }
    }

    /// `allowed` (highest version first) with the locked version, when among them, first.
    fn prefer_locked<'a>(
        &self,
        name: &str,
        arch: &str,
        mut allowed: Vec<&'a PackageRef>,
    ) -> Vec<&'a PackageRef> {
        let locked = |arch: &str| self.task.locked.get(&(name.to_owned(), arch.to_owned()));
        if let Some(version) = locked(arch).or_else(|| locked("all"))
            && let Some(at) = allowed.iter().position(|p| &p.version == version)
        {
            let locked = allowed.remove(at);
            allowed.insert(0, locked);
        }
        allowed
    }

    /// `allowed` with the versions of the release its package is asked from first (in
    /// their order), as apt makes such a version the candidate.
    pub(super) fn prefer_release<'a>(
        &self,
        name: &str,
        mut allowed: Vec<&'a PackageRef>,
    ) -> Vec<&'a PackageRef> {
        if let Some(release) = self.task.releases.get(name) {
            allowed.sort_by_key(|p| !self.listed_in_release(p, release));
        }
        allowed
    }

    /// Whether a repository that is `release` lists `p`.
    fn listed_in_release(&self, p: &Package, release: &str) -> bool {
        let repositories = self.universe.repositories();
        p.sources.iter().any(|&r| {
            repositories
                .get(r)
                .is_some_and(|s| s.origin().is_release(release))
        })
    }

    /// Every name a repository answers to as a release, for messages.
    fn known_releases(&self) -> Vec<String> {
        let mut known: Vec<String> = Vec::new();
        for source in self.universe.repositories() {
            let origin = source.origin();
            for name in std::iter::once(origin.suite).chain(origin.release_names) {
                if !name.is_empty() && !known.iter().any(|k| k == name) {
                    known.push(name.to_owned());
                }
            }
        }
        known
    }

    /// Whether `p` is its package's candidate: the highest version allowed by the pins.
    fn is_candidate(&self, p: &Package) -> bool {
        self.candidate_of(&p.name, &p.arch)
            .is_some_and(|c| c.version == p.version)
    }

    fn candidate_of(&self, name: &str, arch: &str) -> Option<PackageRef> {
        let pin = self.task.pins.get(name);
        let packages = self.universe.packages(name).ok()?;
        let allowed: Vec<&PackageRef> = packages
            .iter()
            .filter(|p| p.arch == arch && pin.is_none_or(|(op, v)| op.admits(&p.version, v)))
            .collect();
        self.prefer_release(name, self.prefer_locked(name, arch, allowed))
            .first()
            .map(|p| (*p).clone())
    }

    fn is_marked(&self, p: &Package) -> bool {
        self.marked
            .carrying(&p.name)
            .any(|m| m.name == p.name && m.arch == p.arch && m.version == p.version)
    }

    /// The marked package of this name and architecture, if any.
    fn marked_slot(&self, name: &str, arch: &str) -> Option<&PackageRef> {
        self.marked
            .carrying(name)
            .find(|m| m.name == name && m.arch == arch)
    }

    /// The architecture a package's dependencies are resolved for.
    fn dependency_arch<'p>(&'p self, p: &'p Package) -> &'p str {
        if p.arch == "all" {
            &self.native
        } else {
            &p.arch
        }
    }

    fn arch_ok(&self, relation: &Relation, p: &Package, dep_arch: &str, provided: bool) -> bool {
        let same = p.arch == dep_arch || p.arch == "all";
        match relation.arch_qualifier.as_deref() {
            None => same || p.multi_arch == MultiArch::Foreign,
            Some("any") if provided => same || p.multi_arch == MultiArch::Foreign,
            Some("any") => same || matches!(p.multi_arch, MultiArch::Foreign | MultiArch::Allowed),
            Some("native") => p.arch == self.native || p.arch == "all",
            Some(arch) => p.arch == arch || (p.arch == "all" && arch == self.native),
        }
    }

    /// Whether package `p` satisfies `relation` of a package built for `dep_arch`.
    fn satisfies(&self, relation: &Relation, p: &Package, dep_arch: &str) -> bool {
        if p.name == relation.name
            && relation.admits_version(&p.version)
            && self.arch_ok(relation, p, dep_arch, false)
        {
            return true;
        }
        p.provides.iter().any(|provided| {
            provided.name == relation.name
                && match (&relation.constraint, &provided.constraint) {
                    (None, _) => true,
                    (Some((op, wanted)), Some((VersionOp::Eq, version))) => {
                        op.admits(version, wanted)
                    }
                    (Some(_), _) => false,
                }
                && self.arch_ok(relation, p, dep_arch, true)
        })
    }

    /// A marked package that `candidate` conflicts with, or that conflicts with it: the
    /// first such in marking order.
    fn conflict_with_marked(&self, candidate: &Package) -> Option<String> {
        let cand_arch = self.dependency_arch(candidate).to_owned();
        let mut first: Option<(usize, String)> = None;
        let mut note = |at: usize, text: String| {
            if first.as_ref().is_none_or(|(f, _)| at < *f) {
                first = Some((at, text));
            }
        };
        for (at, marked) in self.marked.carrying_positions(&candidate.name) {
            if marked.name == candidate.name
                && marked.arch == candidate.arch
                && marked.version != candidate.version
            {
                note(
                    at,
                    format!(
                        "{} {} (two versions of one package)",
                        marked.name, marked.version
                    ),
                );
            }
        }
        let same_slot = |m: &Package| m.name == candidate.name && m.arch == candidate.arch;
        // What the candidate conflicts with, among the marked packages carrying that name.
        for c in &candidate.conflicts {
            for (at, marked) in self.marked.carrying_positions(&c.name) {
                if !same_slot(marked) && self.satisfies(c, marked, &cand_arch) {
                    note(at, format!("{} {}", marked.name, marked.version));
                }
            }
        }
        // Marked packages that conflict with the candidate's name or a name it provides.
        let names = std::iter::once(candidate.name.as_str())
            .chain(candidate.provides.iter().map(|p| p.name.as_str()));
        for name in names {
            for (at, marked) in self.marked.conflicting_with(name) {
                if same_slot(marked) {
                    continue;
                }
                let marked_arch = self.dependency_arch(marked);
                if marked
                    .conflicts
                    .iter()
                    .any(|c| c.name == name && self.satisfies(c, candidate, marked_arch))
                {
                    note(at, format!("{} {}", marked.name, marked.version));
                }
            }
        }
        // The base's installed packages are marked first.
        first.map(|(at, text)| {
            if at < self.task.installed.len() {
                format!("{text}, which the base image holds")
            } else {
                text
            }
        })
    }
}
