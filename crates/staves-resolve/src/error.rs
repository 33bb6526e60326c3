//! Errors of resolution and of the lockfile.

use std::fmt;

/// Why one package could not be installed: the dependency that failed, and why each way of
/// satisfying it failed in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `name version` of the package whose dependency failed.
    pub subject: String,
    /// The dependency group as written.
    pub dependency: String,
    /// One line per alternative tried, with the deeper failure that ruled it out.
    pub reasons: Vec<(String, Option<Failure>)>,
}

/// How deep a failure tree is kept: deeper explanations are cut, so that a hostile chain of
/// ten thousand packages explains itself in a screenful, not in ten thousand nested levels.
const MAX_DEPTH: usize = 24;

impl Failure {
    pub(crate) fn leaf(message: String) -> Self {
        Failure {
            subject: String::new(),
            dependency: String::new(),
            reasons: vec![(message, None)],
        }
    }

    /// A failure of `subject`'s `dependency`.
    pub(crate) fn new(
        subject: String,
        dependency: String,
        reasons: Vec<(String, Option<Failure>)>,
    ) -> Self {
        Failure {
            subject,
            dependency,
            reasons,
        }
    }

    /// The failure cut to the levels worth reading.
    pub(crate) fn shortened(mut self) -> Self {
        self.cut(MAX_DEPTH);
        self
    }

    /// Cuts the tree below `levels` levels, walking it without recursion.
    fn cut(&mut self, levels: usize) {
        let mut stack = vec![(self, 1)];
        while let Some((node, depth)) = stack.pop() {
            for (reason, nested) in &mut node.reasons {
                if depth >= levels && nested.is_some() {
                    *nested = None;
                    reason.push_str(" (… deeper causes left out)");
                } else if let Some(nested) = nested {
                    stack.push((nested, depth + 1));
                }
            }
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let pad = "   ".repeat(depth);
        if !self.subject.is_empty() {
            writeln!(f, "{pad}{} depends on {}", self.subject, self.dependency)?;
        }
        for (i, (reason, nested)) in self.reasons.iter().enumerate() {
            let last = i + 1 == self.reasons.len();
            let branch = if self.subject.is_empty() {
                ""
            } else if last {
                "└─ "
            } else {
                "├─ "
            };
            writeln!(f, "{pad}{branch}{reason}")?;
            if let Some(nested) = nested {
                nested.render(f, depth + 1)?;
            }
        }
        Ok(())
    }
}

impl Drop for Failure {
    /// Drops nested failures one by one: the default recursive drop of a chain thousands of
    /// levels deep would overflow the stack.
    fn drop(&mut self) {
        let mut pending: Vec<Failure> = self
            .reasons
            .iter_mut()
            .filter_map(|(_, nested)| nested.take())
            .collect();
        while let Some(mut failure) = pending.pop() {
            pending.extend(
                failure
                    .reasons
                    .iter_mut()
                    .filter_map(|(_, nested)| nested.take()),
            );
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, 0)
    }
}

/// Everything that stops a resolution or a lockfile from being used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A requested name matches no package and no provider.
    #[error("no package named `{name}` is available")]
    UnknownPackage {
        /// Index of the request in the task.
        request: usize,
        /// The name asked for.
        name: String,
        /// Close names that exist.
        suggestions: Vec<String>,
    },
    /// The package exists but no version fits the request.
    #[error("no version of `{name}`{wanted} is available (available: {})", available.join(", "))]
    NoVersion {
        /// Index of the request.
        request: usize,
        /// The package.
        name: String,
        /// The constraint, formatted.
        wanted: String,
        /// Versions that exist.
        available: Vec<String>,
    },
    /// A virtual name with several providers: the user must choose.
    #[error("`{name}` is a virtual package provided by {}; request one of them", providers.join(", "))]
    VirtualPackage {
        /// Index of the request.
        request: usize,
        /// The virtual name.
        name: String,
        /// Real packages providing it.
        providers: Vec<String>,
    },
    /// A dependency chain cannot be satisfied.
    #[error("the request cannot be satisfied:\n{failure}")]
    Unsatisfiable {
        /// Index of the request.
        request: usize,
        /// Why.
        failure: Failure,
    },
    /// A package is asked for from a release that no repository is, or that lacks it.
    #[error("`{name}/{release}`: {}", if known.iter().any(|k| k == release) {
        format!("{release} has no `{name}` for this architecture")
    } else {
        format!("no repository is the release `{release}` (known: {})", known.join(", "))
    })]
    NotInRelease {
        /// Index of the request, when a request asked for it.
        request: Option<usize>,
        /// The package.
        name: String,
        /// The release named.
        release: String,
        /// The releases the repositories are (suites and codenames).
        known: Vec<String>,
    },
    /// A repository's index holds malformed data.
    #[error("repository {repository}: {message}")]
    BadIndex {
        /// The repository.
        repository: String,
        /// What is wrong.
        message: String,
    },
    /// The lockfile cannot be read or written.
    #[error("{path}: {message}")]
    Lockfile {
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ResolveError {
    /// Index of the request this error is about, to point at it in the spec.
    pub fn request(&self) -> Option<usize> {
        match self {
            ResolveError::UnknownPackage { request, .. }
            | ResolveError::NoVersion { request, .. }
            | ResolveError::VirtualPackage { request, .. }
            | ResolveError::Unsatisfiable { request, .. } => Some(*request),
            ResolveError::NotInRelease { request, .. } => *request,
            _ => None,
        }
    }
}
