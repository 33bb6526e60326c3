//! Why a stack cannot be built.

use std::path::PathBuf;

/// Why a stack cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A directory or workspace file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The workspace file is not what it should be.
    #[error("{}: {message}", path.display())]
    Workspace {
        /// The workspace file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A spec of the stack is invalid.
    #[error(transparent)]
    Spec(#[from] staves_spec::SpecError),
    /// No spec was found.
    #[error("{} holds no staves.toml (nor a {} listing specs)", .0.display(), crate::WORKSPACE_FILE)]
    Empty(PathBuf),
    /// Two specs give their image one name.
    #[error("two specs name their image `{name}`: {} and {}", first.display(), second.display())]
    DuplicateName {
        /// The name.
        name: String,
        /// One spec.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A `base` names something that is not there.
    #[error("{}: `base = \"{base}\"` is neither a spec (a staves.toml) nor an OCI image layout", spec.display())]
    UnknownBase {
        /// The spec.
        spec: PathBuf,
        /// What it names.
        base: String,
    },
    /// Images are built on each other in a circle.
    #[error("the images are built on each other in a circle: {0}")]
    Cycle(String),
    /// `--only` names no image of the stack.
    #[error("no image of the stack is named `{name}`; it has: {known}")]
    NoSuchImage {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// Building an image failed.
    #[error("{name}: {source}")]
    Build {
        /// The image.
        name: String,
        /// Why.
        source: Box<staves_pipeline::PipelineError>,
    },
    /// The spec itself could not be opened.
    #[error(transparent)]
    Open(Box<staves_pipeline::PipelineError>),
    /// Two images whose names give one job name in a plan.
    #[error("`{image}` gives the job name `{id}`, as another image does; rename one of them")]
    JobName {
        /// The image.
        image: String,
        /// The job name both give.
        id: String,
    },
    /// Git could not say what changed (`--changed-since`).
    #[error("git {args}: {message}")]
    Git {
        /// What git was asked.
        args: String,
        /// What it said.
        message: String,
    },
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StackError {
    /// The pipeline error inside, when building an image failed.
    pub fn pipeline(&self) -> Option<&staves_pipeline::PipelineError> {
        match self {
            StackError::Build { source, .. } | StackError::Open(source) => Some(source),
            _ => None,
        }
    }
}
