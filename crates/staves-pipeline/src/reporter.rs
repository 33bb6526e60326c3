//! How the pipeline tells its caller what happens.

use std::sync::Arc;

/// Receives what the pipeline has to say. Implementations decide how it is shown: a CLI
/// prints aligned status lines and draws progress bars, a test may collect or drop it.
pub trait Reporter: Send + Sync {
    /// A step done: `Added base-files …`, `Excluded iproute2 …`.
    fn status(&self, verb: &str, message: &str);
    /// Something the user should act on; the build goes on.
    fn warning(&self, message: &str);
    /// Progress for the downloads of one phase (`Fetching`); the phase ends when the
    /// returned handle is dropped.
    fn downloads(&self, label: &'static str) -> Arc<dyn staves_repo::Progress>;
    /// Progress for the uploads of a push, likewise.
    fn uploads(&self, label: &'static str) -> Arc<dyn staves_registry::Progress>;
    /// One line of the log of `package`'s source build, as the build writes it.
    fn build_log(&self, _package: &str, _line: &str) {}
    /// A detail for whoever asked for them (`staves build -v`): what a package's
    /// maintainer scripts did that the image does not reproduce.
    fn detail(&self, _message: &str) {}
}

/// A reporter that says nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoReporter;

impl Reporter for NoReporter {
    fn status(&self, _verb: &str, _message: &str) {}
    fn warning(&self, _message: &str) {}
    fn downloads(&self, _label: &'static str) -> Arc<dyn staves_repo::Progress> {
        Arc::new(staves_repo::NoProgress)
    }
    fn uploads(&self, _label: &'static str) -> Arc<dyn staves_registry::Progress> {
        Arc::new(Silent)
    }
}

/// Uploads nobody watches.
struct Silent;

impl staves_registry::Progress for Silent {}
