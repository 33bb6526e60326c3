//! The dependency walk: each package's dependency groups in order, each group's candidates
//! tried in turn, as frames on a heap-allocated stack rather than recursion, with the reasons
//! each candidate failed kept for the explanation.

use std::rc::Rc;

use staves_deb::relation::{Dependency, Relation};

use crate::resolver::{MAX_REASONS, RESOLUTION_BUDGET, Solver};
use crate::{Failure, Origin, Package, PackageRef, ResolveError, USR_IS_MERGED};

/// Which of a package's dependency groups.
#[derive(Debug, Clone, Copy)]
pub(super) enum GroupRef {
    Depends(usize),
    Recommends(usize),
}

impl GroupRef {
    pub(super) fn dependency(self, package: &Package) -> &Dependency {
        match self {
            GroupRef::Depends(i) => &package.depends[i],
            GroupRef::Recommends(i) => &package.recommends[i],
        }
    }
}

/// Walking one package's dependency groups.
pub(super) struct DepsFrame {
    pub(super) package: PackageRef,
    /// Each group, and whether failing it fails the package.
    pub(super) groups: Vec<(GroupRef, bool)>,
    pub(super) next: usize,
}

/// Trying the alternatives (and their candidates) of one dependency group.
pub(super) struct GroupFrame {
    pub(super) owner: String,
    /// What a candidate chosen here is marked with.
    pub(super) origin: Origin,
    pub(super) dep_arch: String,
    pub(super) alternatives: Vec<Relation>,
    pub(super) next_alternative: usize,
    pub(super) candidates: Vec<PackageRef>,
    pub(super) next_candidate: usize,
    pub(super) reasons: Reasons,
    /// The candidate being tried: where to truncate `marked` and `excluded`, and its label.
    pub(super) attempt: Option<(usize, usize, String)>,
}

pub(super) enum Frame {
    Deps(DepsFrame),
    Group(GroupFrame),
}

pub(super) enum Returned {
    Deps(Result<(), Failure>),
    Group(Result<(), Vec<(String, Option<Failure>)>>),
}

pub(super) enum Next {
    Try(PackageRef),
    Done(Result<(), Reasons>),
}

/// Why each alternative of a group failed, the first [`MAX_REASONS`] of them.
#[derive(Default)]
pub(super) struct Reasons {
    pub(super) kept: Vec<(String, Option<Failure>)>,
    pub(super) more: usize,
}

impl Reasons {
    pub(super) fn push(&mut self, reason: String, nested: Option<Failure>) {
        if self.kept.len() < MAX_REASONS {
            self.kept.push((reason, nested));
        } else {
            self.more += 1;
        }
    }

    pub(super) fn into_vec(mut self) -> Vec<(String, Option<Failure>)> {
        if self.more > 0 {
            self.kept
                .push((format!("… and {} more alternatives", self.more), None));
        }
        self.kept
    }
}

impl Solver<'_, '_> {
    /// Marks what `package` depends on (and recommends, when asked), depth first.
    ///
    /// apt's walk is recursive; this one keeps its own stack of frames, so a dependency chain
    /// ten thousand packages deep costs heap, not the thread's stack. Every candidate tried
    /// spends one unit of the budget, so a repository built to make the search explode ends
    /// in a clear error instead of running forever.
    pub(super) fn install_dependencies(
        &mut self,
        root: &PackageRef,
        from_user: bool,
    ) -> Result<(), Failure> {
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
    pub(super) fn deps_frame(&self, package: &PackageRef, from_user: bool) -> DepsFrame {
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
    pub(super) fn begin_group(&self, package: &PackageRef, which: GroupRef) -> Option<GroupFrame> {
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
    pub(super) fn next_attempt(&mut self, group: &mut GroupFrame) -> Result<Next, Failure> {
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
    pub(super) fn candidates(
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
            let allowed = self.prefer_release(
                &relation.name,
                self.prefer_locked(&relation.name, arch, allowed),
            );
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

    pub(super) fn why_no_candidate(&self, relation: &Relation, dep_arch: &str) -> String {
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
