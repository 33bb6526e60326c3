//! Maintainer scripts read as POSIX shell, without running anything.
//!
//! A script is parsed by `brush-parser` and walked as a shell would run it for the
//! invocation given (`postinst configure` with an empty second argument: a first install),
//! against an [`Image`] that answers what is known at build time — which files exist,
//! what a file holds — and models the commands the script calls. Variables, functions,
//! `if`/`case`/`for`/`while`, `&&`/`||`, `set -e`, `exit`/`return`, here-documents,
//! redirections into files and command substitutions of known output follow shell
//! semantics; so do `eval`, aliases, util-linux `getopt`, awk programs (module `awk`) and
//! the helper scripts an image ships as POSIX shell, walked when a script calls them. What cannot be known at build time (a command whose output is not modelled,
//! a `read`) makes a value *unknown*: a command with an unknown argument is not run, and
//! a condition that cannot be decided is taken as a first install takes it on a fresh
//! system (the `then` branch) — both are recorded in the [`Report`], never silent.

mod awk;
mod expand;
mod getopt;
mod parse;
mod pattern;
mod run;
mod test_expr;
mod utils;

pub use pattern::matches as pattern_matches;
pub use run::run;

/// The exit status of a command, as far as it is known at build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit status 0.
    Success,
    /// A non-zero exit status.
    Failure(u8),
    /// Depends on the machine the script would run on.
    Unknown,
}

impl Status {
    /// Success or failure from a known truth value.
    pub fn from_bool(ok: bool) -> Self {
        if ok {
            Status::Success
        } else {
            Status::Failure(1)
        }
    }

    fn negate(self) -> Self {
        match self {
            Status::Success => Status::Failure(1),
            Status::Failure(_) => Status::Success,
            Status::Unknown => Status::Unknown,
        }
    }
}

/// What a command the image models did: its status, and its output where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Exit status.
    pub status: Status,
    /// Standard output, when the model knows it (`None`: unknown).
    pub stdout: Option<String>,
}

impl Ran {
    /// Succeeded, printing nothing.
    pub fn ok() -> Self {
        Ran {
            status: Status::Success,
            stdout: Some(String::new()),
        }
    }

    /// A status without output.
    pub fn status(status: Status) -> Self {
        Ran {
            status,
            stdout: Some(String::new()),
        }
    }

    /// Not known: neither status nor output.
    pub fn unknown() -> Self {
        Ran {
            status: Status::Unknown,
            stdout: None,
        }
    }
}

/// A file test of `test`/`[`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTest {
    /// `-e`: exists.
    Exists,
    /// `-f`: a regular file.
    File,
    /// `-d`: a directory.
    Dir,
    /// `-L` / `-h`: a symbolic link.
    Symlink,
    /// `-x`: executable.
    Executable,
    /// `-s`: not empty.
    NonEmpty,
}

/// The image a script runs against: what is known about its files, and the commands
/// that have a model.
pub trait Image {
    /// Runs an external command (not a builtin or a function of the script) with the
    /// given standard input; `None` when the image has no model of it (the walk then
    /// follows the command itself if the image ships it as a shell script, or reports it
    /// through [`Image::unmodelled`]).
    fn run(&mut self, argv: &[String], stdin: Option<&str>) -> Option<Ran>;
    /// Records a command that neither the image nor the walk can follow.
    fn unmodelled(&mut self, argv: &[String]);
    /// The answer debconf gives to `question` when nobody is asked: what a script set it
    /// to (`db_set`), else its default.
    fn debconf(&self, question: &str) -> Option<String>;
    /// `db_set QUESTION VALUE`: the answer later `db_get`s read.
    fn debconf_set(&mut self, question: &str, value: &str);
    /// Answers a file test, `None` when it cannot be known.
    fn test(&self, path: &str, test: FileTest) -> Option<bool>;
    /// The paths of the image matching a glob pattern, sorted; `None` when unknown.
    fn glob(&self, pattern: &str) -> Option<Vec<String>>;
    /// What a file of the image holds, when known.
    fn read(&self, path: &str) -> Option<String>;
    /// Writes (or appends) `text` to a file, from a redirection; returns the status.
    fn write(&mut self, path: &str, text: &str, append: bool) -> Status;
}

/// How dpkg calls the script.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The package, for `DPKG_MAINTSCRIPT_PACKAGE`.
    pub package: String,
    /// The script's name, for `DPKG_MAINTSCRIPT_NAME` (`postinst`).
    pub script: String,
    /// The architecture, for `DPKG_MAINTSCRIPT_ARCH`.
    pub arch: String,
    /// The positional arguments (`configure` and an empty previous version).
    pub args: Vec<String>,
}

impl Invocation {
    /// `postinst configure ""`: the package configured for the first time.
    pub fn first_configure(package: &str, arch: &str) -> Self {
        Invocation {
            package: package.to_owned(),
            script: "postinst".into(),
            arch: arch.to_owned(),
            args: vec!["configure".into(), String::new()],
        }
    }
}

/// Something the walk could not follow exactly, with the script line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// 1-based line of the script.
    pub line: usize,
    /// What happened.
    pub kind: NoteKind,
    /// The command or condition, as written.
    pub text: String,
}

/// Kinds of [`Note`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// A command was not run: one of its words is not known at build time.
    UnknownWord,
    /// A condition could not be decided; the branch a first install takes was followed.
    Undecided,
    /// A construct the walk does not follow (a `while read` loop, `eval`, …).
    Unsupported,
    /// The script does not parse as shell.
    Syntax,
    /// Under `set -e`, this command fails and ends the script.
    Failed,
}

impl std::fmt::Display for NoteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoteKind::UnknownWord => "not run, a word is known only at run time",
            NoteKind::Undecided => "condition known only at run time, taken as on a fresh system",
            NoteKind::Unsupported => "not followed",
            NoteKind::Syntax => "does not parse",
            NoteKind::Failed => "fails, and `set -e` ends the script here",
        })
    }
}

/// What one walk found besides what the image recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Places the walk could not follow exactly.
    pub notes: Vec<Note>,
    /// The script's exit status.
    pub status: Option<Status>,
}

/// An image that knows nothing, for unit tests of what reads standard input only.
#[cfg(test)]
pub(crate) struct NoImage;

#[cfg(test)]
impl Image for NoImage {
    fn run(&mut self, _: &[String], _: Option<&str>) -> Option<Ran> {
        None
    }
    fn unmodelled(&mut self, _: &[String]) {}
    fn debconf(&self, _: &str) -> Option<String> {
        None
    }
    fn debconf_set(&mut self, _: &str, _: &str) {}
    fn test(&self, _: &str, _: FileTest) -> Option<bool> {
        None
    }
    fn glob(&self, _: &str) -> Option<Vec<String>> {
        None
    }
    fn read(&self, _: &str) -> Option<String> {
        None
    }
    fn write(&mut self, _: &str, _: &str, _: bool) -> Status {
        Status::Unknown
    }
}
