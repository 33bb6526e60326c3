//! Services under a real PID 1: the spec's `[services]` and `[tasks]` become s6 service
//! directories and execline scripts, written into the image at build time. Nothing runs
//! or is compiled while building, so the image stays reproducible.
//!
//! At container start `/etc/staves/init` (PID 1) makes its state directory, then becomes
//! `s6-svscan` on `/etc/staves/services`, which reaps orphans, turns SIGTERM, SIGINT and
//! SIGQUIT into an ordered stop (its `.s6-svscan/SIG*` scripts), and at the end becomes
//! `.s6-svscan/finish`, which exits with the main service's code — 128 + N for a service
//! killed by signal N. Service directories stay in the image, read-only if the
//! container's root is: `supervise` and `event` are links into the state directory,
//! where s6 creates them, and the scan's control fifo is a pipe PID 1 opens at start.
//!
//! The state lives in `/dev/shm/staves`: `/dev/shm` is a tmpfs that Docker, podman and
//! Kubernetes mount fresh at every start, writable by any account and present under
//! `--read-only`. So a non-root image needs no `/run` it owns, a read-only root needs no
//! `--tmpfs`, and a restarted container finds no state of its last run (s6-supervise
//! refuses to start on a link whose target already exists).
//!
//! A starter service brings the services up in order, waiting for each one's readiness
//! before starting what comes after it, and runs the tasks on the way. Debian 12 packages
//! s6 and execline but neither s6-rc nor s6-linux-init; what they would add (ordering,
//! oneshots, the shutdown sequence, the exit code) is what these scripts do with the
//! programs Debian has.

mod execline;
mod order;
mod scripts;

use std::collections::{BTreeMap, BTreeSet};

use staves_spec::Spec;
use staves_types::ExtraPath;

pub use scripts::{DEFAULT_READY_TIMEOUT_MS, DEFAULT_STOP_TIMEOUT_MS};

/// Where the generated tree lives in the image.
pub const ROOT: &str = "/etc/staves";
/// The scan directory: one service directory per service, and the starter.
pub const SCAN: &str = "/etc/staves/services";
/// PID 1.
pub const INIT: &str = "/etc/staves/init";
/// The ordered stop, run on SIGTERM or when the main service ends.
pub const STOP: &str = "/etc/staves/stop";
/// One script per task.
pub const TASKS: &str = "/etc/staves/tasks";
/// Run-time state, on the tmpfs engines mount fresh at every start.
pub const RUN: &str = "/dev/shm/staves";
/// The service that starts the others in order (a name no spec service can take).
pub const STARTER: &str = "staves.start";

/// The single-process PID 1 of `init = true`, from Debian's `tini`.
pub const TINI: &str = "/usr/bin/tini";

/// The image's entrypoint: s6's PID 1 when the spec declares services, tini before the
/// command with `init = true`, else the command itself.
pub fn entrypoint(spec: &Spec) -> Vec<String> {
    if !spec.services.is_empty() {
        vec![INIT.to_owned()]
    } else if spec.init {
        [TINI, "--"]
            .into_iter()
            .map(str::to_owned)
            .chain(spec.command.iter().cloned())
            .collect()
    } else {
        spec.command.clone()
    }
}

/// The service tree for `spec` — under [`ROOT`] — or `None` when it declares no services.
pub fn supervision(spec: &Spec) -> Option<Vec<ExtraPath>> {
    if spec.services.is_empty() {
        return None;
    }
    let mut after: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let processes = spec
        .services
        .iter()
        .map(|(name, s)| (name, s.get_ref().process()))
        .chain(
            spec.tasks
                .iter()
                .map(|(name, t)| (name, t.get_ref().process())),
        );
    for (name, process) in processes {
        after.insert(
            name,
            process.after.iter().map(|a| a.get_ref().as_str()).collect(),
        );
    }
    let service_names: BTreeSet<&str> = spec.services.keys().map(String::as_str).collect();
    let plan = scripts::Plan {
        services: &spec.services,
        tasks: &spec.tasks,
        start: order::start_order(&after),
        stop: order::stop_waves(&after, &service_names),
        switch_user: staves_spec::services::runs_as_root(
            spec.user.as_ref().map(|u| u.get_ref().as_str()),
        ),
    };
    Some(plan.entries())
}
