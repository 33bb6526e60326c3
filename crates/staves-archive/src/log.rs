//! Where the archive server says what it did: each change with who made it, and what went
//! wrong without stopping it. The library never prints; its caller decides where this goes.

/// The server's log.
pub trait ServerLog: Send + Sync {
    /// A change: `verb` (`Added`, `Retired`, `Removed`) and what, where and for whom.
    fn change(&self, verb: &str, message: &str);
    /// Something that did not stop the server, such as a key set that could not be fetched.
    fn warning(&self, message: &str);
}

/// A log that keeps nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLog;

impl ServerLog for NoLog {
    fn change(&self, _verb: &str, _message: &str) {}
    fn warning(&self, _message: &str) {}
}
