//! What a sandboxed build may use: wall-clock time, processes, and scratch space on disk.
//!
//! The sandbox keeps a build away from host files and the network, but a build step could
//! still run forever, fork without end or fill the disk. A watchdog thread looks at the build
//! a few times a second and ends it (the whole PID namespace dies with bubblewrap) when it
//! passes a limit, naming the limit. Processes are counted in the build's own PID namespace;
//! scratch space is what the file system holding the build directory lost since the start,
//! confirmed by adding up the build's own directories (its `/build`, `/tmp`, `/var/tmp`,
//! `/run` and `/dev/shm`, all on that disk rather than in RAM), so another program filling
//! the same disk does not stop a build.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the watchdog looks.
const POLL: Duration = Duration::from_millis(200);
/// How often, at most, the build's directories are walked to confirm the disk's figure.
const WALK_EVERY: Duration = Duration::from_secs(3);

/// The limits of one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildLimits {
    /// Wall-clock time.
    pub time: Duration,
    /// Processes (and threads) alive at once in the build.
    pub processes: usize,
    /// Bytes written to the build's directories, `/tmp` included.
    pub scratch: u64,
}

impl Default for BuildLimits {
    /// Room for Debian's large packages (a compiler or a browser builds in a few hours, with
    /// tens of gigabytes, at `make -j` on a big machine).
    fn default() -> Self {
        BuildLimits {
            time: Duration::from_secs(6 * 3600),
            processes: 4096,
            scratch: 64 << 30,
        }
    }
}

/// Which limit a build passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exceeded {
    /// It ran longer than this.
    Time(Duration),
    /// It had more processes than this at once.
    Processes(usize),
    /// It wrote more than this many bytes.
    Scratch(u64),
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exceeded::Time(limit) => write!(
                f,
                "it ran longer than the time limit of {} s (`--build-timeout`)",
                limit.as_secs()
            ),
            Exceeded::Processes(limit) => write!(
                f,
                "it started more than {limit} processes at once (`--build-processes`)"
            ),
            Exceeded::Scratch(limit) => write!(
                f,
                "it wrote more than {} MiB of scratch space (`--build-scratch-mib`)",
                limit >> 20
            ),
        }
    }
}

/// A watchdog over one running build; stops when dropped.
pub struct Watchdog {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Option<Exceeded>>>,
}

impl Watchdog {
    /// Watches the build whose `bwrap` process is `pid`, writing below `dirs` (the first on
    /// the file system the build uses).
    pub fn start(pid: u32, dirs: Vec<PathBuf>, limits: BuildLimits) -> Watchdog {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let thread = std::thread::spawn(move || watch(pid, &dirs, limits, &flag));
        Watchdog {
            done,
            thread: Some(thread),
        }
    }

    /// Stops watching; the limit the build passed, if it did.
    pub fn finish(mut self) -> Option<Exceeded> {
        self.done.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

fn watch(pid: u32, dirs: &[PathBuf], limits: BuildLimits, done: &AtomicBool) -> Option<Exceeded> {
    let started = Instant::now();
    let disk = dirs.first().map(PathBuf::as_path).unwrap_or(Path::new("/"));
    let free_at_start = free_bytes(disk);
    let mut namespace: Option<PathBuf> = None;
    let mut last_walk: Option<Instant> = None;
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        if namespace.is_none() {
            namespace = sandbox_namespace(pid);
        }
        let processes = namespace.as_deref().map_or(0, processes_in);
        let exceeded = if started.elapsed() > limits.time {
            Some(Exceeded::Time(limits.time))
        } else if processes > limits.processes {
            Some(Exceeded::Processes(limits.processes))
        } else {
            let lost = free_at_start.saturating_sub(free_bytes(disk));
            let may_walk = last_walk.is_none_or(|t| t.elapsed() > WALK_EVERY);
            if lost > limits.scratch && may_walk {
                last_walk = Some(Instant::now());
                (used_below(dirs) > limits.scratch).then_some(Exceeded::Scratch(limits.scratch))
            } else {
                None
            }
        };
        if exceeded.is_some() {
            // bwrap's init in the namespace dies with it (--die-with-parent), and every
            // process of the namespace with its init.
            if let Some(pid) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            return exceeded;
        }
    }
    None
}

/// Bytes free to the caller on the file system holding `path`; 0 when unknown.
fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path).map_or(0, |stat| stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The PID namespace of `pid`'s child: the sandbox's own (bwrap stays outside it).
fn sandbox_namespace(pid: u32) -> Option<PathBuf> {
    let ours = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let parent = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|p| p.trim().parse::<u32>().ok());
        if parent == Some(pid) {
            let theirs = std::fs::read_link(entry.path().join("ns/pid")).ok()?;
            return (theirs != ours).then_some(theirs);
        }
    }
    None
}

/// Tasks (processes and their threads) alive in the PID namespace `ns`.
fn processes_in(ns: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| std::fs::read_link(e.path().join("ns/pid")).is_ok_and(|l| l == ns))
        .map(|e| std::fs::read_dir(e.path().join("task")).map_or(1, |tasks| tasks.count().max(1)))
        .sum()
}

/// Bytes allocated below `dirs`, symlinks not followed.
fn used_below(dirs: &[PathBuf]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total = total.saturating_add(meta.blocks().saturating_mul(512));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}
