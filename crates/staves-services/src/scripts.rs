//! The scripts and service directories, one function per file kind.

use std::collections::BTreeMap;

use staves_spec::{LogPrefix, Process, Restart, ServiceSpec, TaskSpec};
use staves_types::ExtraPath;
use toml::Spanned;

use crate::execline::{Script, quote, s6, say, words, x};
use crate::{INIT, RUN, SCAN, STARTER, STOP, TASKS};

/// Time from the stop signal to SIGKILL when a service does not say (engines kill the
/// whole container 10 s after `docker stop`).
pub const DEFAULT_STOP_TIMEOUT_MS: u64 = 5000;
/// How long a service waits for what it is after to become ready.
pub const DEFAULT_READY_TIMEOUT_MS: u64 = 60_000;
/// Between two readiness checks.
const DEFAULT_CHECK_INTERVAL_MS: u64 = 1000;
/// The descriptor s6-notifyoncheck reports readiness on.
const CHECK_FD: u32 = 3;
/// Where the container's exit code is kept; empty until something decides it.
const EXIT_CODE: &str = "/dev/shm/staves/exit-code";
/// The two ends of the pipe that serves as s6-svscan's control fifo. Programs the spec
/// names get neither: [`close_control`] drops them before they run.
const CONTROL_FD: u32 = 7;
const CONTROL_WRITE_FD: u32 = 8;

/// Everything the scripts are generated from.
pub struct Plan<'a> {
    pub services: &'a BTreeMap<String, Spanned<ServiceSpec>>,
    pub tasks: &'a BTreeMap<String, Spanned<TaskSpec>>,
    /// Services and tasks, each after what it waits for.
    pub start: Vec<String>,
    /// Services in the waves they stop in.
    pub stop: Vec<Vec<String>>,
    /// PID 1 is root, so processes may run as other accounts.
    pub switch_user: bool,
}

fn dir(path: String) -> ExtraPath {
    ExtraPath::Dir {
        path,
        mode: 0o755,
        owner: None,
    }
}

fn file(path: String, mode: u32, content: Vec<u8>) -> ExtraPath {
    ExtraPath::File {
        path,
        mode,
        owner: None,
        content,
    }
}

fn link(path: String, target: String) -> ExtraPath {
    ExtraPath::Symlink { path, target }
}

/// A service directory's writable parts, as links into the run directory: s6 creates
/// their targets itself.
fn state_links(entries: &mut Vec<ExtraPath>, dir: &str, state: &str) {
    entries.push(link(
        format!("{dir}/supervise"),
        format!("{RUN}/{state}.supervise"),
    ));
    entries.push(link(format!("{dir}/event"), format!("{RUN}/{state}.event")));
}

impl Plan<'_> {
    /// The whole tree.
    pub fn entries(&self) -> Vec<ExtraPath> {
        let mut entries = vec![
            dir(crate::ROOT.into()),
            file(INIT.into(), 0o755, self.init()),
            file(STOP.into(), 0o755, self.stop()),
            dir(SCAN.into()),
        ];
        self.scan_control(&mut entries);
        let starter = format!("{SCAN}/{STARTER}");
        entries.push(dir(starter.clone()));
        entries.push(file(format!("{starter}/run"), 0o755, self.starter()));
        entries.push(file(
            format!("{starter}/finish"),
            0o755,
            Script::new("-P", "Started once: never again.")
                .line(format!("{} 125", x("exit")))
                .into_bytes(),
        ));
        state_links(&mut entries, &starter, STARTER);
        for (name, service) in self.services {
            self.service(&mut entries, name, service.get_ref());
        }
        if !self.tasks.is_empty() {
            entries.push(dir(TASKS.into()));
        }
        for (name, task) in self.tasks {
            entries.push(file(
                format!("{TASKS}/{name}"),
                0o755,
                self.task(name, task.get_ref()),
            ));
        }
        entries
    }

    /// PID 1: make the run directory, open the scan's control pipe, become `s6-svscan`.
    fn init(&self) -> Vec<u8> {
        Script::new(
            "-P",
            "PID 1, written by Staves. Becomes s6-svscan on the service directories; SIGTERM,\nSIGINT and SIGQUIT stop the services in order; the scan's finish exits with the\nmain service's code.",
        )
        .line(format!(
            "{} {{ {} -w 2 /dev/null {} {RUN} }}",
            x("foreground"),
            x("redirfd"),
            s6("s6-mkfifodir")
        ))
        .line(format!(
            "{} -n {{ {} -w {RUN} }} {{ {} {} 111 }}",
            x("ifelse"),
            x("eltest"),
            say(&format!(
                "staves: {RUN} cannot be written: s6 keeps the services' state there. Give the container a writable /dev/shm (not --ipc none)."
            )),
            x("exit")
        ))
        .line(format!("{} {{ {} -w 1 {EXIT_CODE} {} 0 }}", x("if"), x("redirfd"), x("exit")))
        // The scan's control fifo is this pipe, reached through `/proc/self/fd`: nothing
        // else can make a fifo at start on a read-only root (see `scan_control`).
        .line(format!("{} {CONTROL_FD} {CONTROL_WRITE_FD}", x("piperw")))
        .line(format!("{} {SCAN}", s6("s6-svscan")))
        .into_bytes()
    }

    /// The scan's control directory. s6-svscan runs `SIGTERM`, `SIGINT` and `SIGQUIT`
    /// when it gets them, and when it ends it becomes `finish` — as PID 1, so the code
    /// `finish` exits with is the container's whole (under execline's `trap`, any code
    /// from 128 up came out as 128). The directory is in the image, read-only like the
    /// rest: `lock` is created through its link into the run directory, and `control`,
    /// a fifo s6 cannot create there, is the pipe PID 1 opened before it became the scan,
    /// which every process s6 starts inherits.
    fn scan_control(&self, entries: &mut Vec<ExtraPath>) {
        let control = format!("{SCAN}/.s6-svscan");
        entries.push(dir(control.clone()));
        entries.push(link(
            format!("{control}/control"),
            format!("/proc/self/fd/{CONTROL_FD}"),
        ));
        entries.push(link(
            format!("{control}/lock"),
            format!("{RUN}/svscan.lock"),
        ));
        entries.push(file(
            format!("{control}/SIGTERM"),
            0o755,
            Script::new(
                "-P",
                "Turns a stop signal into the ordered stop, written by Staves.",
            )
            .line(format!("{STOP} 0 0"))
            .into_bytes(),
        ));
        for signal in ["SIGINT", "SIGQUIT"] {
            entries.push(link(format!("{control}/{signal}"), "SIGTERM".into()));
        }
        entries.push(file(
            format!("{control}/finish"),
            0o755,
            Script::new(
                "-P",
                "The container's last step, written by Staves: exit with the code the stop\nrecorded, or 0.",
            )
            .line(format!("{} -n {{ {} -s {EXIT_CODE} }} {{ {} 0 }}", x("ifelse"), x("eltest"), x("exit")))
            .line(format!("{} -r 0 {EXIT_CODE}", x("redirfd")))
            .line(format!("{} -E code", x("withstdinas")))
            .line(format!("{} ${{code}}", x("exit")))
            .into_bytes(),
        ));
    }

    /// The ordered stop: record the exit code (first caller wins), stop the starter, stop
    /// the services wave by wave, end the scan.
    fn stop(&self) -> Vec<u8> {
        let write = |code: &str| {
            format!(
                "{} -w 1 {EXIT_CODE} {} 0 {} {}",
                x("redirfd"),
                x("heredoc"),
                quote(&format!("{code}\n")),
                s6("s6-tai64nlocal")
            )
        };
        // A process killed by signal N ends the container with 128 + N, as a shell would.
        let by_signal: Vec<String> = (1..=31)
            .map(|n| format!("\"^{n}$\" {{ {} }}", write(&(128 + n).to_string())))
            .collect();
        let mut script = Script::new(
            "-S0",
            "The ordered stop, written by Staves. Arguments: an exit code (256: killed by the\nsignal in the second) that becomes the container's unless one was recorded first.",
        )
        .line(format!(
            "{} {{ {} {EXIT_CODE}.lock {} {{ {} -s {EXIT_CODE} }} {{ {} 0 }} {} {{ {} ${{1}} -eq 256 }} {{ {} -- ${{2}} {{ {} }} {} }} {} }}",
            x("foreground"),
            s6("s6-setlock"),
            x("ifelse"),
            x("eltest"),
            x("exit"),
            x("ifelse"),
            x("eltest"),
            x("case"),
            by_signal.join(" "),
            write("1"),
            write("${1}"),
        ))
        .line(format!("{} {{ {} -d {SCAN}/{STARTER} }}", x("foreground"), s6("s6-svc")));
        for wave in &self.stop {
            let timeout = wave
                .iter()
                .filter_map(|n| self.services.get(n))
                .map(|s| s.get_ref().stop_timeout.map_or(DEFAULT_STOP_TIMEOUT_MS, |t| t.0))
                .max()
                .unwrap_or(DEFAULT_STOP_TIMEOUT_MS)
                // s6 kills at the timeout; the finish scripts get their own few seconds.
                + 2000;
            let downs: Vec<String> = wave
                .iter()
                .map(|n| format!("{} {{ {} -d {SCAN}/{n} }}", x("foreground"), s6("s6-svc")))
                .collect();
            let dirs: Vec<String> = wave.iter().map(|n| format!("{SCAN}/{n}")).collect();
            script = script.line(format!(
                "{} {{ {} {} -D -t {timeout} {} }}",
                x("foreground"),
                downs.join(" "),
                s6("s6-svwait"),
                dirs.join(" ")
            ));
        }
        script
            .line(format!("{} -t {SCAN}", s6("s6-svscanctl")))
            .into_bytes()
    }

    /// The starter: wait until every supervisor listens, then bring services up and run
    /// tasks in order, each once what it is after is ready.
    fn starter(&self) -> Vec<u8> {
        let mut script = Script::new("-P", "Starts the services in order, written by Staves.");
        for name in self.services.keys() {
            // s6-svscan spawns the supervisors; a command sent before one listens is lost.
            script = script.line(format!(
                "{} {{ {} -x 0 {} {{ {} {SCAN}/{name} }} {{ {} 0 }} {} {{ {} -w 2 /dev/null {} -t 10 {RUN} \"^$\" }} {} 1 }}",
                x("if"),
                x("loopwhilex"),
                x("ifelse"),
                s6("s6-svok"),
                x("exit"),
                x("foreground"),
                x("redirfd"),
                s6("s6-ftrig-wait"),
                x("exit"),
            ));
        }
        for name in &self.start {
            let (after, step) = if let Some(service) = self.services.get(name) {
                (
                    &service.get_ref().after,
                    format!("{} -u {SCAN}/{name}", s6("s6-svc")),
                )
            } else if let Some(task) = self.tasks.get(name) {
                (&task.get_ref().after, format!("{TASKS}/{name}"))
            } else {
                continue;
            };
            let mut waits = String::new();
            for dep in after {
                let dep = dep.get_ref();
                // Tasks before this one in the order are done: only services are waited for.
                let Some(service) = self.services.get(dep) else {
                    continue;
                };
                let ready = service.get_ref().ready.as_ref().map(|r| r.get_ref());
                let timeout = ready
                    .and_then(|r| r.timeout)
                    .map_or(DEFAULT_READY_TIMEOUT_MS, |t| t.0);
                let flag = if ready.is_some() { "-U" } else { "-u" };
                let last_check = if ready.is_some_and(|r| r.check.is_some()) {
                    format!(
                        "{} {} {{ {} -c 1 2 {} -r 0 {} {} }} ",
                        say(&format!("staves: the last readiness check of {dep} said:")),
                        x("foreground"),
                        x("fdmove"),
                        x("redirfd"),
                        check_output(dep),
                        s6("s6-tai64nlocal")
                    )
                } else {
                    String::new()
                };
                waits.push_str(&format!(
                    "{} {{ {} {{ {} {flag} -t {timeout} {SCAN}/{dep} }} {{ {} 0 }} {} {last_check}{} -d {{ {STOP} 1 0 }} {} 1 }} ",
                    x("if"),
                    x("ifelse"),
                    s6("s6-svwait"),
                    x("exit"),
                    say(&format!(
                        "staves: {dep} was not ready within {}; {name} waits for it; stopping the container",
                        seconds(timeout)
                    )),
                    x("background"),
                    x("exit"),
                ));
            }
            script = script.line(format!("{} {{ {waits}{step} }}", x("if")));
        }
        script.into_bytes()
    }

    fn service(&self, entries: &mut Vec<ExtraPath>, name: &str, service: &ServiceSpec) {
        let dir_path = format!("{SCAN}/{name}");
        entries.push(dir(dir_path.clone()));
        let mut run = Script::new("-P", &format!("Service {name}, written by Staves."));
        let prefix = match &service.log_prefix {
            Some(LogPrefix::On(true)) => Some(format!("{name}:")),
            Some(LogPrefix::Text(text)) => Some(text.clone()),
            _ => None,
        };
        if prefix.is_some() {
            // Both streams go through the logger, which prefixes each line.
            run = run.line(format!("{} -c 2 1", x("fdmove")));
        }
        if let Some(ready) = &service.ready {
            let ready = ready.get_ref();
            let fd = match (&ready.notify_fd, &ready.check) {
                (Some(fd), _) => *fd.get_ref(),
                (None, Some(check)) => {
                    entries.push(dir(format!("{dir_path}/data")));
                    entries.push(file(
                        format!("{dir_path}/data/check"),
                        0o755,
                        // Run as the service runs: its directory, environment, account.
                        // Its output is kept, each attempt over the last, and shown only
                        // if the service never becomes ready. Each attempt writes a file
                        // of its own, copied over the kept one when it ends: a starter
                        // giving up while an attempt has just begun still shows the
                        // last whole one.
                        Script::new(
                            "-P",
                            &format!("Readiness check of {name}, written by Staves."),
                        )
                        .line(format!(
                            "{} {{ {} -w 1 {}.new {} -c 2 1 {} }}",
                            x("foreground"),
                            x("redirfd"),
                            check_output(name),
                            x("fdmove"),
                            self.chain(service.process(), check.get_ref(), None)
                                .join(" ")
                        ))
                        .line(format!("{} -u ? ?", x("importas")))
                        .line(format!(
                            "{} {{ {} -r 0 {}.new {} -w 1 {} {} }}",
                            x("foreground"),
                            x("redirfd"),
                            check_output(name),
                            x("redirfd"),
                            check_output(name),
                            s6("s6-tai64nlocal")
                        ))
                        .line(format!("{} ${{?}}", x("exit")))
                        .into_bytes(),
                    ));
                    let interval = ready.interval.map_or(DEFAULT_CHECK_INTERVAL_MS, |i| i.0);
                    let timeout = ready.timeout.map_or(DEFAULT_READY_TIMEOUT_MS, |t| t.0);
                    // Before `cd` and the account change: s6-notifyoncheck reads the
                    // service directory's supervise state, which only its owner may.
                    run = run.line(format!(
                        "{} -d -3 {CHECK_FD} -s 0 -w {interval} -n 0 -T {timeout} -c {}",
                        s6("s6-notifyoncheck"),
                        quote(&format!("{dir_path}/data/check"))
                    ));
                    CHECK_FD
                }
                (None, None) => CHECK_FD,
            };
            entries.push(file(
                format!("{dir_path}/notification-fd"),
                0o644,
                format!("{fd}\n").into_bytes(),
            ));
        }
        let notify = service.ready.as_ref().map(|r| {
            r.get_ref()
                .notify_fd
                .as_ref()
                .map_or(CHECK_FD, |fd| *fd.get_ref())
        });
        run = run.lines(self.chain(service.process(), service.command.get_ref(), notify));
        entries.push(file(format!("{dir_path}/run"), 0o755, run.into_bytes()));
        entries.push(file(
            format!("{dir_path}/finish"),
            0o755,
            finish(name, service),
        ));
        // Down until the starter brings it up in order.
        entries.push(file(format!("{dir_path}/down"), 0o644, Vec::new()));
        let stop_timeout = service
            .stop_timeout
            .map_or(DEFAULT_STOP_TIMEOUT_MS, |t| t.0);
        entries.push(file(
            format!("{dir_path}/timeout-kill"),
            0o644,
            format!("{stop_timeout}\n").into_bytes(),
        ));
        if let Some(signal) = &service.stop_signal {
            entries.push(file(
                format!("{dir_path}/down-signal"),
                0o644,
                format!("{}\n", signal.get_ref()).into_bytes(),
            ));
        }
        state_links(entries, &dir_path, name);
        if let Some(prefix) = prefix {
            let log = format!("{dir_path}/log");
            entries.push(dir(log.clone()));
            entries.push(file(
                format!("{log}/run"),
                0o755,
                Script::new(
                    "-P",
                    &format!("Prefixes {name}'s output, written by Staves."),
                )
                .line(format!(
                    "{} -b -- {} 1",
                    s6("s6-log"),
                    quote(&format!("p{prefix}"))
                ))
                .into_bytes(),
            ));
            state_links(entries, &log, &format!("{name}.log"));
        }
    }

    /// The lines that run `argv` as `process` says: working directory, environment and
    /// account, in the order that lets each apply, then the program itself.
    /// `keep` is a descriptor the program is handed (a service's notification fd).
    fn chain(&self, process: Process<'_>, argv: &[String], keep: Option<u32>) -> Vec<String> {
        let mut lines = vec![close_control(keep)];
        if let Some(dir) = process.workdir {
            lines.push(format!("{} {}", x("cd"), quote(dir.get_ref())));
        }
        for (key, value) in process.environment {
            lines.push(format!("{} {} {}", x("export"), quote(key), quote(value)));
        }
        match (process.user, process.group) {
            (Some(user), None) if self.switch_user => {
                lines.push(format!("{} {}", s6("s6-setuidgid"), quote(user.get_ref())));
            }
            (Some(user), Some(group)) if self.switch_user => lines.push(format!(
                "{} {} {} -g {} {} -zU",
                s6("s6-envuidgid"),
                quote(user.get_ref()),
                s6("s6-envuidgid"),
                quote(group.get_ref()),
                s6("s6-applyuidgid")
            )),
            _ => {}
        }
        lines.push(words(argv));
        lines
    }

    /// A task: skipped when its path exists; a failure stops the container.
    fn task(&self, name: &str, task: &TaskSpec) -> Vec<u8> {
        let mut script = Script::new(
            "-P",
            &format!("Task {name}, written by Staves; run once by the starter."),
        );
        if let Some(path) = &task.unless_exists {
            script = script.line(format!(
                "{} {{ {} -e {} }} {{ {} }}",
                x("ifelse"),
                x("eltest"),
                quote(path.get_ref()),
                say(&format!(
                    "staves: task {name}: skipped, {} exists",
                    path.get_ref()
                ))
            ));
        }
        script = script.line(say(&format!("staves: task {name}: running")));
        // The task's own command sits inside this block: it is consumed before `importas`
        // substitutes anything, so a `$` in it stays as written.
        let body = self
            .chain(task.process(), task.command.get_ref(), None)
            .join(" ");
        script
            .line(format!("{} {{ {body} }}", x("foreground")))
            .line(format!("{} -u ? ?", x("importas")))
            .line(format!(
                "{} {{ {} ${{?}} -eq 0 }} {{ {} 0 }}",
                x("ifelse"),
                x("eltest"),
                x("exit")
            ))
            .line(say(&format!(
                "staves: task {name} failed (code ${{?}}); stopping the container"
            )))
            .line(format!("{} -d {{ {STOP} ${{?}} 0 }}", x("background")))
            .line(format!("{} 1", x("exit")))
            .into_bytes()
    }
}

/// Closes the control pipe's ends, but for `keep`: s6 hands its pipe to every process it
/// starts, and what the spec runs has no business writing to PID 1's control.
fn close_control(keep: Option<u32>) -> String {
    [CONTROL_FD, CONTROL_WRITE_FD]
        .into_iter()
        .filter(|fd| Some(*fd) != keep)
        .map(|fd| format!("{} {fd}", x("fdclose")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What happens when a service's process ends, by its restart policy and `main`.
fn finish(name: &str, service: &ServiceSpec) -> Vec<u8> {
    let stop_container = |why: &str| {
        format!(
            "{} {} -d {{ {STOP} ${{1}} ${{2}} }} {} 125",
            say(&format!("staves: {name} {why}; stopping the container")),
            x("background"),
            x("exit")
        )
    };
    let mut script = Script::new(
        "-S0",
        &format!("Runs when {name}'s process ends, written by Staves.\nArguments: exit code (256: killed by the signal in the second), signal."),
    )
    // Once the container is stopping, nothing is restarted or decided.
    .line(format!("{} {{ {} -s {EXIT_CODE} }} {{ {} 0 }}", x("ifelse"), x("eltest"), x("exit")))
    .line(format!(
        "{} {{ {} {{ {} ${{1}} -eq 256 }} {{ {} }} {} }}",
        x("foreground"),
        x("ifelse"),
        x("eltest"),
        say(&format!("staves: {name} was killed by signal ${{2}}")),
        say(&format!("staves: {name} exited with code ${{1}}")),
    ));
    script = if service.main {
        script.line(stop_container("is the main service"))
    } else {
        match service.restart {
            Restart::Always => script.line(format!("{} 0", x("exit"))),
            Restart::OnFailure => script.line(format!(
                "{} {{ {} ${{1}} -eq 0 }} {{ {} 125 }} {} 0",
                x("ifelse"),
                x("eltest"),
                x("exit"),
                x("exit")
            )),
            Restart::Never => script.line(format!(
                "{} {{ {} ${{1}} -eq 0 }} {{ {} 125 }} {}",
                x("ifelse"),
                x("eltest"),
                x("exit"),
                stop_container("failed and its restart is never")
            )),
        }
    };
    script.into_bytes()
}

/// Where a service's last readiness check wrote its output.
fn check_output(service: &str) -> String {
    format!("{RUN}/{service}.check-output")
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
