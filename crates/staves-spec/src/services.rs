//! `[services.NAME]` and `[tasks.NAME]`: the processes an image runs under a supervisor,
//! and the one-shot commands that prepare for them at container start.
//!
//! ```toml
//! [tasks.initdb]
//! command = ["/usr/lib/postgresql/15/bin/initdb", "-D", "/var/lib/postgresql/data"]
//! user = "postgres"
//! unless-exists = "/var/lib/postgresql/data/PG_VERSION"
//!
//! [services.postgres]
//! command = ["/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/data"]
//! user = "postgres"
//! after = ["initdb"]
//! ready = { check = ["pg_isready", "-q"], interval = "200ms", timeout = "30s" }
//! stop-signal = "SIGINT"
//! main = true
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::Spanned;

/// When a service is started again after its process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// Whatever the exit: s6 waits at least a second between two starts.
    #[default]
    Always,
    /// Only after a non-zero exit or a signal.
    OnFailure,
    /// Never; a failure stops the container with the service's code.
    Never,
}

/// A length of time: an integer of seconds, or a string such as `"500ms"`, `"5s"`, `"2m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds as an integer, or \"500ms\", \"5s\", \"2m\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
                u64::try_from(v)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .map(Millis)
                    .ok_or_else(|| E::custom("a duration is not negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
                parse_duration(v).map(Millis).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not a duration; write \"500ms\", \"5s\" or \"2m\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

fn parse_duration(text: &str) -> Option<u64> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |i| text.split_at(i));
    let n: u64 = number.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// How a service tells that it is ready: services that name it in `after` start then.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReadySpec {
    /// The daemon writes a newline to this descriptor when it is ready (s6's
    /// `notification-fd`).
    pub notify_fd: Option<Spanned<u32>>,
    /// A command polled until it exits 0.
    pub check: Option<Spanned<Vec<String>>>,
    /// Time between two checks (1 s).
    pub interval: Option<Millis>,
    /// How long dependents wait for readiness before the container stops (60 s).
    pub timeout: Option<Millis>,
}

/// Text before every line a service prints: `true` for `NAME:`, or the text itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LogPrefix {
    /// `true`: the service's name.
    On(bool),
    /// The prefix itself.
    Text(String),
}

/// A long-running process, from `[services.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSpec {
    /// The program and its arguments (run without a shell).
    pub command: Spanned<Vec<String>>,
    /// Account the process runs as (root, or the image's `user`, when absent).
    pub user: Option<Spanned<String>>,
    /// Group the process runs as (the user's primary group when absent).
    pub group: Option<Spanned<String>>,
    /// Working directory.
    pub workdir: Option<Spanned<String>>,
    /// Variables added to the image's environment for this process.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Services (started once ready) and tasks (once done) this one waits for.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// How readiness is signalled; without it a service is ready once started.
    pub ready: Option<Spanned<ReadySpec>>,
    /// Restart policy.
    #[serde(default)]
    pub restart: Restart,
    /// Signal that stops the process (`SIGTERM`).
    pub stop_signal: Option<Spanned<String>>,
    /// Time between the stop signal and SIGKILL (5 s).
    pub stop_timeout: Option<Millis>,
    /// The container ends when this service ends, with its exit code.
    #[serde(default)]
    pub main: bool,
    /// Prefix for every line of output (stderr is then merged into stdout).
    pub log_prefix: Option<LogPrefix>,
}

/// A one-shot command run at container start, from `[tasks.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TaskSpec {
    /// The program and its arguments.
    pub command: Spanned<Vec<String>>,
    /// Account the command runs as.
    pub user: Option<Spanned<String>>,
    /// Group the command runs as.
    pub group: Option<Spanned<String>>,
    /// Working directory.
    pub workdir: Option<Spanned<String>>,
    /// Variables added for this command.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Services and tasks this one waits for.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// Skip the task when this path exists (first-start work: a database cluster, keys).
    pub unless_exists: Option<Spanned<String>>,
}

/// What services and tasks both say about their process, borrowed from either.
#[derive(Debug, Clone, Copy)]
pub struct Process<'a> {
    /// The program and its arguments.
    pub command: &'a Spanned<Vec<String>>,
    /// Account the process runs as.
    pub user: Option<&'a Spanned<String>>,
    /// Group the process runs as.
    pub group: Option<&'a Spanned<String>>,
    /// Working directory.
    pub workdir: Option<&'a Spanned<String>>,
    /// Variables added for the process.
    pub environment: &'a BTreeMap<String, String>,
    /// Services and tasks it waits for.
    pub after: &'a [Spanned<String>],
}

macro_rules! process_of {
    ($($spec:ty),*) => {$(
        impl $spec {
            /// The process this declares.
            pub fn process(&self) -> Process<'_> {
                Process {
                    command: &self.command,
                    user: self.user.as_ref(),
                    group: self.group.as_ref(),
                    workdir: self.workdir.as_ref(),
                    environment: &self.environment,
                    after: &self.after,
                }
            }
        }
    )*};
}
process_of!(ServiceSpec, TaskSpec);

/// The account part of a `user` value (`"www-data:www-data"` → `"www-data"`).
pub fn account(user: &str) -> &str {
    user.split(':').next().unwrap_or(user)
}

/// Whether an image whose `user` is this runs as root (no `user` does).
pub fn runs_as_root(user: Option<&str>) -> bool {
    user.map(account).is_none_or(|a| a == "root" || a == "0")
}

/// Signal names `stop-signal` accepts.
pub const SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGTERM", "SIGCONT",
    "SIGSTOP", "SIGWINCH", "SIGPWR",
];

/// A problem with the services, at a place in the spec.
pub(crate) struct Problem {
    pub span: std::ops::Range<usize>,
    pub message: String,
    pub help: Option<String>,
}

fn problem(span: std::ops::Range<usize>, message: String, help: &str) -> Problem {
    Problem {
        span,
        message,
        help: (!help.is_empty()).then(|| help.to_owned()),
    }
}

/// A service or a task, for checks that apply to both.
struct Common<'a> {
    kind: &'static str,
    name: &'a str,
    span: std::ops::Range<usize>,
    process: Process<'a>,
}

/// Checks services and tasks together: names, commands, references, cycles.
pub(crate) fn check(
    services: &BTreeMap<String, Spanned<ServiceSpec>>,
    tasks: &BTreeMap<String, Spanned<TaskSpec>>,
    image_user: Option<&str>,
) -> Result<(), Problem> {
    let mut all = Vec::new();
    for (name, s) in services {
        all.push(Common {
            kind: "service",
            name,
            span: s.span(),
            process: s.get_ref().process(),
        });
    }
    for (name, t) in tasks {
        let t_ref = t.get_ref();
        if services.contains_key(name) {
            return Err(problem(
                t.span(),
                format!("`{name}` is both a service and a task"),
                "give each a name of its own: `after` refers to them by name",
            ));
        }
        all.push(Common {
            kind: "task",
            name,
            span: t.span(),
            process: t_ref.process(),
        });
        if let Some(path) = &t_ref.unless_exists {
            check_text(path)?;
            if !path.get_ref().starts_with('/') {
                return Err(problem(
                    path.span(),
                    "`unless-exists` must be an absolute path".into(),
                    "",
                ));
            }
        }
    }
    for c in &all {
        check_one(c, image_user)?;
    }
    let known: BTreeSet<&str> = all.iter().map(|c| c.name).collect();
    for c in &all {
        for dep in c.process.after {
            if !known.contains(dep.get_ref().as_str()) {
                let names: Vec<&str> = known.iter().copied().filter(|n| *n != c.name).collect();
                return Err(problem(
                    dep.span(),
                    format!(
                        "{} `{}` is after `{}`, which is neither a service nor a task",
                        c.kind,
                        c.name,
                        dep.get_ref()
                    ),
                    &if names.is_empty() {
                        "declare it as `[services.NAME]` or `[tasks.NAME]`".to_owned()
                    } else {
                        format!("declared: {}", names.join(", "))
                    },
                ));
            }
            if dep.get_ref() == c.name {
                return Err(problem(
                    dep.span(),
                    format!("{} `{}` is after itself", c.kind, c.name),
                    "",
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&all) {
        let first = all.iter().find(|c| c.name == cycle[0]);
        return Err(problem(
            first.map_or(0..0, |c| c.span.clone()),
            format!(
                "services wait for each other in a circle: {}",
                cycle.join(" → ")
            ),
            "remove one of these `after` entries",
        ));
    }
    let mains: Vec<_> = services.iter().filter(|(_, s)| s.get_ref().main).collect();
    if let [_, (second, s), ..] = mains.as_slice() {
        return Err(problem(
            s.span(),
            format!("`{second}` is a second service with `main = true`"),
            "one service's exit ends the container; keep `main` on that one",
        ));
    }
    for (name, spanned) in services {
        let s = spanned.get_ref();
        if let Some(ready) = &s.ready
            && ready.get_ref().interval.is_some_and(|i| i.0 < 10)
        {
            return Err(problem(
                ready.span(),
                format!("service `{name}`: a `ready` interval under 10 ms polls without pause"),
                "write an interval such as \"200ms\" or \"1s\"",
            ));
        }
        if let Some(sig) = &s.stop_signal
            && !SIGNALS.contains(&sig.get_ref().as_str())
        {
            return Err(problem(
                sig.span(),
                format!("service `{name}`: `{}` is not a signal name", sig.get_ref()),
                &format!("one of {}", SIGNALS.join(", ")),
            ));
        }
        if let Some(ready) = &s.ready {
            let r = ready.get_ref();
            match (&r.notify_fd, &r.check) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(problem(
                        ready.span(),
                        format!("service `{name}`: `ready` needs one of `notify-fd` and `check`"),
                        "`notify-fd = 3` when the daemon writes a newline to a descriptor once ready; `check = [\"cmd\", …]` to poll",
                    ));
                }
                (Some(fd), None) if *fd.get_ref() == 0 || *fd.get_ref() == 2 => {
                    return Err(problem(
                        fd.span(),
                        format!(
                            "service `{name}`: descriptor {} is standard input or error",
                            fd.get_ref()
                        ),
                        "use 3 or above (or 1 for a daemon that reports on standard output)",
                    ));
                }
                (None, Some(check)) => check_command(name, "service", check)?,
                _ => {}
            }
        }
        if let Some(LogPrefix::Text(text)) = &s.log_prefix
            && text.chars().any(char::is_control)
        {
            return Err(problem(
                spanned.span(),
                format!("service `{name}`: `log-prefix` holds a control character"),
                "",
            ));
        }
    }
    Ok(())
}

fn check_one(c: &Common<'_>, image_user: Option<&str>) -> Result<(), Problem> {
    let p = c.process;
    check_command(c.name, c.kind, p.command)?;
    if !is_name(c.name) {
        return Err(problem(
            c.span.clone(),
            format!("`{}` is not a usable {} name", c.name, c.kind),
            "use letters, digits, `-` and `_`, starting with a letter or digit",
        ));
    }
    for text in [p.user, p.group, p.workdir].into_iter().flatten() {
        check_text(text)?;
    }
    if let Some(user) = p.user
        && user.get_ref().contains(':')
    {
        return Err(problem(
            user.span(),
            format!("{} `{}`: `user` names one account", c.kind, c.name),
            "name the group with `group = \"…\"`",
        ));
    }
    if let Some(dir) = p.workdir
        && !dir.get_ref().starts_with('/')
    {
        return Err(problem(
            dir.span(),
            "`workdir` must be an absolute path".into(),
            "",
        ));
    }
    if let (Some(group), None) = (p.group, p.user) {
        return Err(problem(
            group.span(),
            format!("{} `{}` sets `group` without `user`", c.kind, c.name),
            "name the account too: `user = \"www-data\"`",
        ));
    }
    if !runs_as_root(image_user)
        && let Some(user) = p.user
        && Some(user.get_ref().as_str()) != image_user.map(account)
    {
        return Err(problem(
            user.span(),
            format!(
                "{} `{}` runs as `{}`, but the whole image runs as `{}`",
                c.kind,
                c.name,
                user.get_ref(),
                image_user.unwrap_or_default()
            ),
            "a process that is not root cannot change user; drop `user` here, or the image's `user`",
        ));
    }
    for (key, value) in p.environment {
        if key.is_empty()
            || key.contains('=')
            || key.chars().any(char::is_control)
            || value
                .chars()
                .any(|ch| ch.is_control() && ch != '\t' && ch != '\n')
        {
            return Err(problem(
                c.span.clone(),
                format!(
                    "{} `{}`: `{}` is not a usable environment variable",
                    c.kind,
                    c.name,
                    key.escape_debug()
                ),
                "a name holds no `=` and no control characters",
            ));
        }
    }
    Ok(())
}

fn check_command(name: &str, kind: &str, command: &Spanned<Vec<String>>) -> Result<(), Problem> {
    match command.get_ref().first() {
        None => Err(problem(
            command.span(),
            format!("{kind} `{name}` has an empty command"),
            "name the program and its arguments: `command = [\"nginx\", \"-g\", \"daemon off;\"]`",
        )),
        Some(program) if program.is_empty() => Err(problem(
            command.span(),
            format!("{kind} `{name}`: the program's name is empty"),
            "",
        )),
        _ if command
            .get_ref()
            .iter()
            .any(|a| a.chars().any(|c| c.is_control() && c != '\t' && c != '\n')) =>
        {
            Err(problem(
                command.span(),
                format!("{kind} `{name}`: an argument holds a control character"),
                "only tabs and newlines are kept in arguments",
            ))
        }
        _ => Ok(()),
    }
}

fn check_text(text: &Spanned<String>) -> Result<(), Problem> {
    if text.get_ref().is_empty() || text.get_ref().chars().any(char::is_control) {
        return Err(problem(
            text.span(),
            "empty, or holds a control character".into(),
            "",
        ));
    }
    Ok(())
}

fn is_name(name: &str) -> bool {
    name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A chain of `after` that comes back to its start, if any.
fn find_cycle<'a>(all: &'a [Common<'a>]) -> Option<Vec<&'a str>> {
    let after: BTreeMap<&str, Vec<&str>> = all
        .iter()
        .map(|c| {
            (
                c.name,
                c.process
                    .after
                    .iter()
                    .map(|a| a.get_ref().as_str())
                    .collect(),
            )
        })
        .collect();
    // 0: unvisited, 1: on the current path, 2: done.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    fn visit<'a>(
        node: &'a str,
        after: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node, 1);
        path.push(node);
        for next in after.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, after, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node, 2);
        None
    }
    for c in all {
        if let Some(cycle) = visit(c.name, &after, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("5s"), Some(5000));
        assert_eq!(parse_duration("2m"), Some(120_000));
        assert_eq!(parse_duration("7"), Some(7000));
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("5h"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn names_are_plain() {
        assert!(is_name("web"));
        assert!(is_name("db_init-2"));
        assert!(!is_name("staves.start"));
        assert!(!is_name("-x"));
        assert!(!is_name(""));
    }
}
