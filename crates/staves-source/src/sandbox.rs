//! The sandbox: bubblewrap with its own user, network, PID, IPC, UTS and mount namespaces.
//! The build root is mounted read-only as `/`, the build directory read-write as `/build`,
//! the source files read-only inside it, a recipe's build caches read-write, fresh `/proc` and `/dev`, and empty `/tmp`,
//! `/var/tmp`, `/run` and `/dev/shm` from directories beside the build directory — on disk,
//! not in RAM, so that [`crate::limits`] counts them with the build's scratch space. No other
//! host path is visible and there is no network but a loopback device.
//! The build runs as uid 0 of its own user namespace, which is the caller's uid outside:
//! the same whether Staves runs as root or as anyone else.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::BuildReporter;
use crate::error::SourceError;
use crate::limits::{BuildLimits, Exceeded, Watchdog};

/// What a script prints to say which step it starts: `::staves-step NAME`.
pub const STEP_MARKER: &str = "::staves-step ";

/// How many lines of the log a failure shows.
const TAIL: usize = 25;

/// One sandboxed run.
#[derive(Debug, Clone)]
pub struct Sandbox<'a> {
    /// The build root, mounted read-only as `/`.
    pub root: &'a Path,
    /// The build directory, mounted read-write as `/build`.
    pub work: &'a Path,
    /// Host files mounted read-only at `/build/NAME`.
    pub inputs: Vec<(PathBuf, String)>,
    /// Host directories mounted read-write at absolute paths under `/build` (a recipe's
    /// build caches), over what is there.
    pub caches: Vec<(PathBuf, String)>,
    /// Variables set besides `PATH`, `HOME`, `LANG` and `TMPDIR`.
    pub env: Vec<(String, String)>,
    /// Time, processes and scratch space the run may use.
    pub limits: BuildLimits,
}

/// The scratch directories mounted over the root's, beside the build directory.
const SCRATCH: [(&str, &str); 4] = [
    ("tmp", "/tmp"),
    ("var-tmp", "/var/tmp"),
    ("run", "/run"),
    ("shm", "/dev/shm"),
];

/// How a sandboxed script ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit code; -1 when a signal ended it.
    pub code: i32,
    /// The last step the script announced.
    pub step: String,
    /// The last lines of its log.
    pub tail: Vec<String>,
    /// The limit it was stopped at, if it was.
    pub stopped: Option<Exceeded>,
}

impl Sandbox<'_> {
    /// The `bwrap` command for `script`, run by `/bin/sh -e`.
    pub fn command(&self, script: &str) -> Command {
        let mut command = Command::new("bwrap");
        command
            .args(["--unshare-all", "--die-with-parent", "--new-session"])
            .args(["--uid", "0", "--gid", "0", "--hostname", "staves-build"])
            .arg("--ro-bind")
            .arg(self.root)
            .arg("/")
            .arg("--bind")
            .arg(self.work)
            .arg("/build");
        for (host, name) in &self.inputs {
            command
                .arg("--ro-bind")
                .arg(host)
                .arg(format!("/build/{name}"));
        }
        for (host, inside) in &self.caches {
            command.arg("--bind").arg(host).arg(inside);
        }
        command.args(["--dev", "/dev", "--proc", "/proc"]);
        for (name, inside) in SCRATCH {
            let dir = self.scratch(name);
            // `run` creates them and says why it cannot; a caller of this alone gets
            // bubblewrap's own error when one is missing.
            let _ = std::fs::create_dir_all(&dir);
            command.arg("--bind").arg(dir).arg(inside);
        }
        command.args(["--clearenv", "--chdir", "/build"]);
        let fixed = [
            (
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
            ("HOME", "/build"),
            ("LANG", "C.UTF-8"),
            ("TMPDIR", "/tmp"),
        ];
        for (name, value) in fixed {
            command.args(["--setenv", name, value]);
        }
        for (name, value) in &self.env {
            command.arg("--setenv").arg(name).arg(value);
        }
        command.args(["/bin/sh", "-e", "-c", script]);
        command
    }

    /// The host directory mounted as the scratch directory `name`.
    fn scratch(&self, name: &str) -> PathBuf {
        self.work
            .with_file_name(format!("{}-{name}", file_name(self.work)))
    }

    /// Runs `script`, its output (stdout and stderr, interleaved as written) streamed line
    /// by line to `log` and to the reporter.
    pub fn run(
        &self,
        script: &str,
        log: &Path,
        reporter: &dyn BuildReporter,
        package: &str,
    ) -> Result<Outcome, SourceError> {
        let mut watched = vec![self.work.to_owned()];
        for (name, _) in SCRATCH {
            let dir = self.scratch(name);
            std::fs::create_dir_all(&dir).map_err(SourceError::io("creating", &dir))?;
            watched.push(dir);
        }
        let mut file = std::fs::File::create(log).map_err(SourceError::io("creating", log))?;
        let (reader, writer) = std::io::pipe().map_err(SourceError::Sandbox)?;
        let mut command = self.command(script);
        command
            .stdin(Stdio::null())
            .stdout(writer.try_clone().map_err(SourceError::Sandbox)?)
            .stderr(writer);
        let mut child = command.spawn().map_err(SourceError::Sandbox)?;
        let watchdog = Watchdog::start(child.id(), watched, self.limits);
        // The command holds the pipe's writing ends until it is dropped: drop it, so that
        // the reader sees the end of the output when the sandbox exits.
        drop(command);
        let mut step = String::from("start");
        let mut tail = std::collections::VecDeque::with_capacity(TAIL);
        for line in BufReader::new(reader).split(b'\n') {
            let line = line.map_err(SourceError::io("reading the output of", log))?;
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(name) = line.strip_prefix(STEP_MARKER) {
                step = name.trim().to_owned();
                continue;
            }
            file.write_all(line.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .map_err(SourceError::io("writing", log))?;
            reporter.log_line(package, &line);
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        let status = child.wait().map_err(SourceError::Sandbox)?;
        let stopped = watchdog.finish();
        file.flush().map_err(SourceError::io("writing", log))?;
        Ok(Outcome {
            code: status.code().unwrap_or(-1),
            step,
            tail: tail.into(),
            stopped,
        })
    }
}

/// The last component of `path`, for naming its siblings.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "build".to_owned(), |n| n.to_string_lossy().into_owned())
}
