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

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use staves_deb::relation::{Dependency, Relation};
use staves_deb::{Version, VersionOp};

use crate::error::{Failure, ResolveError};
use crate::marked::MarkedSet;
use crate::universe::{MultiArch, Package, PackageRef, Universe};

/// One requested package.
#[derive(Debug, Clone)]
pub struct Request {
    /// Package name (or a virtual name with a single provider).
    pub name: String,
    /// Architecture qualifier; the native architecture when absent.
    pub arch: Option<String>,
    /// Version pin or constraint.
    pub constraint: Option<(VersionOp, Version)>,
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// Requested packages, in order.
    pub requests: Vec<Request>,
    /// Names kept out: dependencies on them count as met.
    pub exclude: HashSet<String>,
    /// Follow Recommends of every package.
    pub recommends: bool,
    /// Per-package override of `recommends` (for that package's own Recommends).
    pub recommends_for: HashMap<String, bool>,
    /// Per-package version pins from the spec.
    pub pins: HashMap<String, (VersionOp, Version)>,
    /// The target system is merged-/usr: `usr-is-merged` meets `usrmerge | usr-is-merged`.
    pub merged_usr: bool,
    /// Packages every image gets although nobody asked (`base-files`), marked after the
    /// requests; each only where a repository has it.
    pub implied: Vec<Request>,
    /// Packages already installed (a base image's): they satisfy whatever they satisfy, as
    /// apt keeps an installed version, and are not part of the resolution. Another version
    /// of one of them is never chosen.
    pub installed: Vec<PackageRef>,
    /// `(name, architecture)` → version to prefer as the candidate when the repositories
    /// still have it (the lockfile's), so that re-resolving changes only what must change.
    pub locked: HashMap<(String, String), Version>,
}

/// The package every Debian system has its skeleton from: `/etc/os-release`, `/tmp`, `/run`
/// and `/var/run`, `/etc/debian_version`. Essential, so nothing declares a dependency on it.
pub const BASE_FILES: &str = "base-files";

/// The marker package that says a system's /usr is merged.
pub const USR_IS_MERGED: &str = "usr-is-merged";

/// Why a package is in the resolution.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The spec's request of this index asked for it.
    Requested(usize),
    /// [`Task::implied`] of this index added it.
    Implied(usize),
    /// It is installed already ([`Task::installed`]).
    Installed,
    /// It was chosen for one dependency group of `by`.
    Dependency {
        /// The package whose dependency it meets.
        by: PackageRef,
        /// The dependency group as written (`usrmerge | usr-is-merged`).
        group: String,
        /// The group is a Recommends, not a Depends.
        recommended: bool,
    },
}

/// The chosen set.
#[derive(Debug)]
pub struct Resolution {
    /// Chosen packages, sorted by name and architecture.
    pub packages: Vec<PackageRef>,
    /// Why each package is there, in the order of `packages`.
    pub origins: Vec<Origin>,
    /// `(excluded name, package that depended on it)`, for the build output.
    pub excluded: Vec<(String, String)>,
}

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

/// Which of a package's dependency groups.
#[derive(Debug, Clone, Copy)]
enum GroupRef {
    Depends(usize),
    Recommends(usize),
}

impl GroupRef {
    fn dependency(self, package: &Package) -> &Dependency {
        match self {
            GroupRef::Depends(i) => &package.depends[i],
            GroupRef::Recommends(i) => &package.recommends[i],
        }
    }
}

/// Walking one package's dependency groups.
struct DepsFrame {
    package: PackageRef,
    /// Each group, and whether failing it fails the package.
    groups: Vec<(GroupRef, bool)>,
    next: usize,
}

/// Trying the alternatives (and their candidates) of one dependency group.
struct GroupFrame {
    owner: String,
    /// What a candidate chosen here is marked with.
    origin: Origin,
    dep_arch: String,
    alternatives: Vec<Relation>,
    next_alternative: usize,
    candidates: Vec<PackageRef>,
    next_candidate: usize,
    reasons: Reasons,
    /// The candidate being tried: where to truncate `marked` and `excluded`, and its label.
    attempt: Option<(usize, usize, String)>,
}

enum Frame {
    Deps(DepsFrame),
    Group(GroupFrame),
}

enum Returned {
    Deps(Result<(), Failure>),
    Group(Result<(), Vec<(String, Option<Failure>)>>),
}

enum Next {
    Try(PackageRef),
    Done(Result<(), Reasons>),
}

/// Why each alternative of a group failed, the first [`MAX_REASONS`] of them.
#[derive(Default)]
struct Reasons {
    kept: Vec<(String, Option<Failure>)>,
    more: usize,
}

impl Reasons {
    fn push(&mut self, reason: String, nested: Option<Failure>) {
        if self.kept.len() < MAX_REASONS {
            self.kept.push((reason, nested));
        } else {
            self.more += 1;
        }
    }

    fn into_vec(mut self) -> Vec<(String, Option<Failure>)> {
        if self.more > 0 {
            self.kept
                .push((format!("… and {} more alternatives", self.more), None));
        }
        self.kept
    }
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
        self.prefer_locked(name, arch, allowed)
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

    /// Marks what `package` depends on (and recommends, when asked), depth first.
    ///
    /// apt's walk is recursive; this one keeps its own stack of frames, so a dependency chain
    /// ten thousand packages deep costs heap, not the thread's stack. Every candidate tried
    /// spends one unit of the budget, so a repository built to make the search explode ends
    /// in a clear error instead of running forever.
    fn install_dependencies(&mut self, root: &PackageRef, from_user: bool) -> Result<(), Failure> {
        let mut stack = vec![Frame::Deps(self.deps_frame(root, from_user))];
        // What the frame just popped returned to the one below it.
        let mut returned: Option<Returned> = None;
        while let Some(top) = stack.last_mut() {
            match top {
                Frame::Deps(deps) => {
                    if let Some(Returned::Group(result)) = returned.take()
                        && let Err(reasons) = result
                    {
                        let (group, critical) = deps.groups[deps.next - 1];
                        if critical {
                            let failure = Failure::new(
                                format!(
                                    "{} {}",
                                    deps.package.display_name(&self.native),
                                    deps.package.version
                                ),
                                group.dependency(&deps.package).to_string(),
                                reasons,
                            );
                            stack.pop();
                            returned = Some(Returned::Deps(Err(failure)));
                            continue;
                        }
                        tracing::debug!(
                            "recommendation {} of {} left out",
                            group.dependency(&deps.package),
                            deps.package.name
                        );
                    }
                    let Some(&(group, _)) = deps.groups.get(deps.next) else {
                        stack.pop();
                        returned = Some(Returned::Deps(Ok(())));
                        continue;
                    };
                    deps.next += 1;
                    let package = deps.package.clone();
                    match self.begin_group(&package, group) {
                        Some(frame) => stack.push(Frame::Group(frame)),
                        None => returned = Some(Returned::Group(Ok(()))),
                    }
                }
                Frame::Group(group) => {
                    if let Some(Returned::Deps(result)) = returned.take() {
                        match result {
                            Ok(()) => {
                                stack.pop();
                                returned = Some(Returned::Group(Ok(())));
                                continue;
                            }
                            Err(nested) => {
                                let (checkpoint, excluded, label) =
                                    group.attempt.take().unwrap_or_default();
                                self.marked.truncate(checkpoint);
                                self.excluded.truncate(excluded);
                                group
                                    .reasons
                                    .push(format!("{label} cannot be installed"), Some(nested));
                            }
                        }
                    }
                    match self.next_attempt(group) {
                        Err(failure) => return Err(failure),
                        Ok(Next::Try(candidate)) => {
                            let frame = self.deps_frame(&candidate, false);
                            stack.push(Frame::Deps(frame));
                        }
                        Ok(Next::Done(result)) => {
                            stack.pop();
                            returned = Some(Returned::Group(result.map_err(Reasons::into_vec)));
                        }
                    }
                }
            }
        }
        match returned {
            Some(Returned::Deps(result)) => result,
            _ => Ok(()),
        }
    }

    /// The dependency groups of `package` to walk: Depends always, Recommends when asked.
    fn deps_frame(&self, package: &PackageRef, from_user: bool) -> DepsFrame {
        let recommends = if from_user {
            *self
                .task
                .recommends_for
                .get(&package.name)
                .unwrap_or(&self.task.recommends)
        } else {
            self.task.recommends
        };
        let mut groups: Vec<(GroupRef, bool)> = (0..package.depends.len())
            .map(|i| (GroupRef::Depends(i), true))
            .collect();
        if recommends {
            groups.extend((0..package.recommends.len()).map(|i| (GroupRef::Recommends(i), false)));
        }
        DepsFrame {
            package: package.clone(),
            groups,
            next: 0,
        }
    }

    /// Starts satisfying one dependency group: `None` when it already is (or applies to
    /// nothing on this architecture).
    fn begin_group(&self, package: &PackageRef, which: GroupRef) -> Option<GroupFrame> {
        let group = which.dependency(package);
        let dep_arch = self.dependency_arch(package).to_owned();
        let mut applicable: Vec<Relation> = group
            .alternatives
            .iter()
            .filter(|r| r.applies_on(&dep_arch))
            .cloned()
            .collect();
        if self.task.merged_usr {
            // Stable: only the marker moves to the front.
            applicable.sort_by_key(|r| r.name != USR_IS_MERGED);
        }
        if applicable.is_empty()
            || applicable.iter().any(|r| {
                self.marked
                    .carrying(&r.name)
                    .any(|m| self.satisfies(r, m, &dep_arch))
            })
        {
            return None;
        }
        Some(GroupFrame {
            owner: package.name.clone(),
            origin: Origin::Dependency {
                by: package.clone(),
                group: group.to_string(),
                recommended: matches!(which, GroupRef::Recommends(_)),
            },
            dep_arch,
            alternatives: applicable,
            next_alternative: 0,
            candidates: Vec::new(),
            next_candidate: 0,
            reasons: Reasons::default(),
            attempt: None,
        })
    }

    /// The next candidate of a group to try (already marked), or the group's outcome.
    fn next_attempt(&mut self, group: &mut GroupFrame) -> Result<Next, Failure> {
        loop {
            if let Some(candidate) = group.candidates.get(group.next_candidate).cloned() {
                group.next_candidate += 1;
                let label = format!(
                    "{} {}",
                    candidate.display_name(&self.native),
                    candidate.version
                );
                if let Some(clash) = self.conflict_with_marked(&candidate) {
                    group
                        .reasons
                        .push(format!("{label} conflicts with {clash}"), None);
                    continue;
                }
                self.budget = self.budget.checked_sub(1).ok_or_else(|| {
                    Failure::leaf(format!(
                        "resolution gave up after trying {RESOLUTION_BUDGET} candidates; \
                         the repository's dependencies are pathological (or malicious)"
                    ))
                })?;
                group.attempt = Some((self.marked.len(), self.excluded.len(), label));
                self.marked.push(candidate.clone(), group.origin.clone());
                return Ok(Next::Try(candidate));
            }
            let Some(relation) = group.alternatives.get(group.next_alternative).cloned() else {
                let reasons = std::mem::take(&mut group.reasons);
                return Ok(Next::Done(Err(reasons)));
            };
            group.next_alternative += 1;
            if self.task.exclude.contains(&relation.name) {
                self.excluded
                    .push((relation.name.clone(), group.owner.clone()));
                return Ok(Next::Done(Ok(())));
            }
            group.next_candidate = 0;
            group.candidates = match self.candidates(&relation, &group.dep_arch) {
                Ok(c) => c,
                Err(e) => {
                    group.reasons.push(e.to_string(), None);
                    Vec::new()
                }
            };
            if group.candidates.is_empty() {
                let why = self.why_no_candidate(&relation, &group.dep_arch);
                group.reasons.push(why, None);
            }
        }
    }

    /// Installable versions for one alternative, in apt's order of preference.
    fn candidates(
        &self,
        relation: &Relation,
        dep_arch: &str,
    ) -> Result<Vec<PackageRef>, ResolveError> {
        let mut real: Vec<PackageRef> = Vec::new();
        let packages = self.universe.packages(&relation.name)?;
        let mut archs: Vec<&str> = packages.iter().map(|p| p.arch.as_str()).collect();
        archs.sort_unstable();
        archs.dedup();
        for arch in archs {
            if self.marked_slot(&relation.name, arch).is_some() {
                continue; // another version is already chosen; it did not satisfy
            }
            let pin = self.task.pins.get(&relation.name);
            let allowed: Vec<&PackageRef> = packages
                .iter()
                .filter(|p| p.arch == arch && pin.is_none_or(|(op, v)| op.admits(&p.version, v)))
                .collect();
            let allowed = self.prefer_locked(&relation.name, arch, allowed);
            let fits = |p: &&&PackageRef| {
                relation.admits_version(&p.version) && self.arch_ok(relation, p, dep_arch, false)
            };
            if let Some(found) = allowed
                .first()
                .filter(fits)
                .or_else(|| allowed.iter().find(fits))
            {
                real.push((*found).clone());
            }
        }
        let mut provided: Vec<PackageRef> = self
            .universe
            .providers(&relation.name)?
            .iter()
            .filter(|p| {
                p.name != relation.name
                    && self.is_candidate(p)
                    && self.marked_slot(&p.name, &p.arch).is_none()
                    && self.satisfies(relation, p, dep_arch)
            })
            .cloned()
            .collect();
        let native = self.native.as_str();
        provided.sort_by_key(|p| {
            (
                !p.essential,
                !p.important,
                !(p.arch == native || p.arch == "all"),
                p.priority,
                p.name.clone(),
            )
        });
        real.sort_by_key(|p| !(p.arch == native || p.arch == "all"));
        real.extend(provided);
        Ok(real)
    }

    fn why_no_candidate(&self, relation: &Relation, dep_arch: &str) -> String {
        let packages = self.universe.packages(&relation.name).unwrap_or_default();
        if let Some(marked) = self.marked.iter().find(|m| m.name == relation.name) {
            let how = if self.task.installed.iter().any(|i| Rc::ptr_eq(i, marked)) {
                "is installed in the base image"
            } else {
                "is already chosen"
            };
            return format!(
                "{} {} {how} and does not satisfy it",
                marked.name, marked.version
            );
        }
        if packages.is_empty() {
            return format!("no package named {} is available", relation.name);
        }
        if let Some((op, pinned)) = self.task.pins.get(&relation.name) {
            let versions: Vec<String> = packages.iter().map(|p| p.version.to_string()).collect();
            return format!(
                "{} is pinned to ({op} {pinned}), which rules out {}",
                relation.name,
                versions.join(", ")
            );
        }
        let versions: Vec<String> = packages
            .iter()
            .map(|p| {
                if p.arch == dep_arch || p.arch == "all" {
                    p.version.to_string()
                } else {
                    format!("{} ({})", p.version, p.arch)
                }
            })
            .collect();
        format!("{} has only version {}", relation.name, versions.join(", "))
    }
}
