//! Services under s6 as PID 1, run by the real engine: start order by readiness, `docker
//! stop` with 1, 3 and 10 services, restarts, orphans reaped, the main service's exit code,
//! first-start tasks, read-only roots, non-root images, `init` (on by default for a plain
//! command), readiness checks that speak only on failure.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::engine::container;
use support::{shared_cache, stderr, stdout};

/// Packages the test services are written with.
const SHELL: &str = "packages = [\"dash\", \"coreutils\"]\n";

/// Builds `body` as image `name` and loads it into the engine.
fn image(dir: &Path, name: &str, body: &str) {
    let spec = dir.join(format!("{name}.toml"));
    std::fs::write(&spec, format!("name = \"{name}\"\n{body}")).expect("spec");
    build_and_load(&spec, &dir.join(format!("{name}.tar")));
}

/// Builds an example and loads it into the engine.
fn example(name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = support::examples().join(name).join("staves.toml");
    build_and_load(&spec, &dir.path().join("image.tar"));
}

/// Builds `spec` into the docker-archive `archive` and loads that into the engine.
fn build_and_load(spec: &Path, archive: &Path) {
    let out = support::staves_command(
        &[
            "build",
            "-f",
            spec.to_str().expect("utf8"),
            "-o",
            archive.to_str().expect("utf8"),
        ],
        &shared_cache(),
    )
    .output()
    .expect("run staves");
    assert!(out.status.success(), "{}: {}", spec.display(), stderr(&out));
    let loaded = container(&["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
}

/// A running container, removed when dropped.
struct Running(String);

impl Running {
    fn start(image: &str, extra: &[&str]) -> Running {
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let name = format!("staves-svc-{image}-{nonce}");
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend(extra);
        let image = format!("{image}:latest");
        args.push(&image);
        let out = container(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        Running(name)
    }

    /// Everything the container printed, both streams.
    fn logs(&self) -> String {
        let out = container(&["logs", &self.0]);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// Waits until the logs hold `needle` `times` times; the logs.
    fn wait_for(&self, needle: &str, times: usize, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let logs = self.logs();
            if logs.matches(needle).count() >= times {
                return logs;
            }
            assert!(
                start.elapsed() < limit,
                "`{needle}` not seen {times} times in {limit:?}:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker stop`: how long it took.
    fn stop(&self) -> Duration {
        let start = Instant::now();
        let out = container(&["stop", &self.0]);
        assert!(out.status.success(), "{}", stderr(&out));
        start.elapsed()
    }

    /// Waits for the container to end; its exit code.
    fn wait(&self) -> i32 {
        let out = container(&["wait", &self.0]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().parse().expect("exit code")
    }

    fn exec(&self, argv: &[&str]) -> String {
        let mut args = vec!["exec", &self.0];
        args.extend(argv);
        let out = container(&args);
        assert!(out.status.success(), "{argv:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// The states of the container's processes (`/proc/PID/stat`'s third field), by name.
    fn processes(&self) -> Vec<(String, char)> {
        self.exec(&["/bin/sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"])
            .lines()
            .filter_map(|line| {
                let open = line.find('(')?;
                let close = line.rfind(')')?;
                let state = line[close + 1..].trim_start().chars().next()?;
                Some((line[open + 1..close].to_owned(), state))
            })
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        container(&["rm", "-f", &self.0]);
    }
}

fn position(logs: &str, needle: &str) -> usize {
    logs.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in logs:\n{logs}"))
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn services_start_after_readiness_and_stop_in_reverse_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `db` takes a second to become ready and says so on descriptor 3; `app` must not
    // start before. On SIGTERM each prints its name, so the stop order shows in the logs.
    image(
        dir.path(),
        "svc-order",
        &format!(
            "{SHELL}
[services.db]
command = [\"/bin/sh\", \"-c\", \"trap 'echo db stopping; exit 0' TERM; sleep 1; echo db ready; echo >&3; while :; do sleep 0.1; done\"]
ready = {{ notify-fd = 3 }}

[services.app]
command = [\"/bin/sh\", \"-c\", \"trap 'echo app stopping; exit 0' TERM; echo app started; while :; do sleep 0.1; done\"]
after = [\"db\"]
log-prefix = true
"
        ),
    );
    let c = Running::start("svc-order", &[]);
    let logs = c.wait_for("app: app started", 1, Duration::from_secs(20));
    assert!(
        position(&logs, "db ready") < position(&logs, "app: app started"),
        "app started before db was ready:\n{logs}"
    );
    let took = c.stop();
    let logs = c.logs();
    assert!(
        position(&logs, "app: app stopping") < position(&logs, "db stopping"),
        "db stopped before app, which is after it:\n{logs}"
    );
    assert_eq!(c.wait(), 0, "{logs}");
    assert!(took < Duration::from_secs(5), "docker stop took {took:?}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn docker_stop_ends_1_3_and_10_services_with_code_0_long_before_the_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    for count in [1, 3, 10] {
        let mut body = SHELL.to_owned();
        for i in 0..count {
            body.push_str(&format!(
                "\n[services.s{i}]\ncommand = [\"/bin/sleep\", \"1000\"]\n{}",
                if i > 0 {
                    format!("after = [\"s{}\"]\n", i - 1)
                } else {
                    String::new()
                }
            ));
        }
        let name = format!("svc-stop-{count}");
        image(dir.path(), &name, &body);
        let c = Running::start(&name, &[]);
        // Every service is up before the stop.
        let start = Instant::now();
        while c.processes().iter().filter(|(n, _)| n == "sleep").count() < count {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{:?}",
                c.processes()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let took = c.stop();
        // The engine kills after 10 s with 137; s6 stopping everything exits 0.
        assert_eq!(c.wait(), 0, "{count} services: {}", c.logs());
        assert!(
            took < Duration::from_secs(5),
            "{count} services: docker stop took {took:?}"
        );
        eprintln!("{count} services: docker stop {took:?}");
    }
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn crashed_services_restart_and_orphans_are_reaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    image(
        dir.path(),
        "svc-crash",
        &format!(
            "{SHELL}
[services.crasher]
command = [\"/bin/sh\", \"-c\", \"echo crasher started; sleep 0.2; exit 3\"]

[services.orphans]
command = [\"/bin/sh\", \"-c\", \"for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo orphans made; exec sleep 1000\"]

[services.once]
command = [\"/bin/sh\", \"-c\", \"echo once ran; exit 0\"]
restart = \"on-failure\"
"
        ),
    );
    let c = Running::start("svc-crash", &[]);
    // s6 waits a second between two starts of a service that was never ready.
    let logs = c.wait_for("crasher started", 3, Duration::from_secs(20));
    assert!(
        logs.contains("staves: crasher exited with code 3"),
        "{logs}"
    );
    assert_eq!(logs.matches("once ran").count(), 1, "{logs}");
    c.wait_for("orphans made", 1, Duration::from_secs(10));
    // The orphans' parents exited at once; the sleeps end 0.1 s later, reparented to PID 1.
    std::thread::sleep(Duration::from_millis(800));
    let zombies: Vec<_> = c
        .processes()
        .into_iter()
        .filter(|(_, s)| *s == 'Z')
        .collect();
    assert!(zombies.is_empty(), "zombies left: {zombies:?}");
    c.stop();
    assert_eq!(c.wait(), 0);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_main_service_ends_the_container_with_its_code_and_a_failing_service_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    image(
        dir.path(),
        "svc-main",
        &format!(
            "{SHELL}
[services.job]
command = [\"/bin/sh\", \"-c\", \"sleep 0.5; exit 7\"]
main = true

[services.helper]
command = [\"/bin/sleep\", \"1000\"]
"
        ),
    );
    let c = Running::start("svc-main", &[]);
    assert_eq!(c.wait(), 7, "{}", c.logs());
    assert!(
        c.logs()
            .contains("staves: job is the main service; stopping the container")
    );

    image(
        dir.path(),
        "svc-never",
        &format!(
            "{SHELL}
[services.broken]
command = [\"/bin/sh\", \"-c\", \"echo cannot start >&2; exit 4\"]
restart = \"never\"

[services.helper]
command = [\"/bin/sleep\", \"1000\"]
"
        ),
    );
    let c = Running::start("svc-never", &[]);
    assert_eq!(c.wait(), 4, "{}", c.logs());
    let logs = c.logs();
    assert!(
        logs.contains("staves: broken failed and its restart is never; stopping the container"),
        "{logs}"
    );

    // Killed by a signal (an OOM kill is SIGKILL): 128 + N, as a shell reports it.
    image(
        dir.path(),
        "svc-killed",
        &format!(
            "{SHELL}
[services.job]
command = [\"/bin/sh\", \"-c\", \"sleep 0.3; kill -9 $$\"]
main = true
"
        ),
    );
    let c = Running::start("svc-killed", &[]);
    assert_eq!(c.wait(), 137, "{}", c.logs());
    assert!(
        c.logs().contains("staves: job was killed by signal 9"),
        "{}",
        c.logs()
    );
}

/// A readiness check's output is shown once, when the service never becomes ready — not
/// at every start.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn readiness_checks_speak_only_when_the_service_never_gets_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = |check: &str| {
        format!(
            "{SHELL}
[services.slow]
command = [\"/bin/sleep\", \"1000\"]
ready = {{ check = [\"/bin/sh\", \"-c\", \"echo noisy check output; {check}\"], interval = \"100ms\", timeout = \"2s\" }}

[services.app]
command = [\"/bin/sh\", \"-c\", \"echo app started; exec sleep 1000\"]
after = [\"slow\"]
"
        )
    };
    // Fails twice, then passes.
    image(
        dir.path(),
        "svc-check-ok",
        &body("test -e /tmp/2 && exit 0; test -e /tmp/1 && touch /tmp/2; touch /tmp/1; exit 1"),
    );
    let c = Running::start("svc-check-ok", &[]);
    let logs = c.wait_for("app started", 1, Duration::from_secs(20));
    assert!(!logs.contains("noisy check output"), "{logs}");
    c.stop();

    image(dir.path(), "svc-check-never", &body("exit 1"));
    let c = Running::start("svc-check-never", &[]);
    assert_eq!(c.wait(), 1, "{}", c.logs());
    let logs = c.logs();
    assert!(
        logs.contains("staves: slow was not ready within 2s"),
        "{logs}"
    );
    assert!(
        logs.contains("the last readiness check of slow said:"),
        "{logs}"
    );
    assert_eq!(logs.matches("noisy check output").count(), 1, "{logs}");
    assert!(!logs.contains("app started"), "{logs}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn tasks_run_on_first_start_only_and_a_read_only_non_root_image_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The whole image runs as nobody; the task writes into a volume nobody owns.
    image(
        dir.path(),
        "svc-tasks",
        &format!(
            "{SHELL}user = \"nobody\"
volumes = [\"/data\"]

[[paths]]
path = \"/data\"
owner = \"nobody\"

[tasks.init]
command = [\"/bin/sh\", \"-c\", \"echo initialised > /data/marker\"]
unless-exists = \"/data/marker\"

[services.reader]
command = [\"/bin/sh\", \"-c\", \"echo reader sees $(cat /data/marker) as $(id -un); exec sleep 1000\"]
after = [\"init\"]
ready = {{ check = [\"/bin/sh\", \"-c\", \"test -s /data/marker\"], interval = \"100ms\" }}
"
        ),
    );
    let c = Running::start("svc-tasks", &["--read-only"]);
    let logs = c.wait_for(
        "reader sees initialised as nobody",
        1,
        Duration::from_secs(20),
    );
    assert!(logs.contains("staves: task init: running"), "{logs}");
    let restarted = container(&["restart", &c.0]);
    assert!(restarted.status.success(), "{}", stderr(&restarted));
    let logs = c.wait_for(
        "reader sees initialised as nobody",
        2,
        Duration::from_secs(20),
    );
    assert!(
        logs.contains("staves: task init: skipped, /data/marker exists"),
        "{logs}"
    );
    assert_eq!(logs.matches("task init: running").count(), 1, "{logs}");
    let took = c.stop();
    assert_eq!(c.wait(), 0, "{}", c.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn init_true_reaps_and_forwards_signals_for_one_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    image(
        dir.path(),
        "svc-init",
        &format!(
            "{SHELL}init = true
command = [\"/bin/sh\", \"-c\", \"trap 'echo got TERM; exit 0' TERM; for i in 1 2 3; do (sleep 0.1 &); done; echo up; while :; do sleep 0.1; done\"]
"
        ),
    );
    let c = Running::start("svc-init", &[]);
    c.wait_for("up", 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(600));
    let processes = c.processes();
    assert!(processes.iter().any(|(n, _)| n == "tini"), "{processes:?}");
    assert!(!processes.iter().any(|(_, s)| *s == 'Z'), "{processes:?}");
    let took = c.stop();
    assert_eq!(c.wait(), 0, "{}", c.logs());
    assert!(c.logs().contains("got TERM"));
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Without `init`, a plain command runs under tini too: `sleep` sets no handler, and as
    // PID 1 it would ignore SIGTERM until the engine's kill 10 s later (137).
    image(
        dir.path(),
        "svc-default-init",
        &format!("{SHELL}command = [\"/bin/sleep\", \"1000\"]\n"),
    );
    let c = Running::start("svc-default-init", &[]);
    let start = Instant::now();
    while !c.processes().iter().any(|(n, _)| n == "sleep") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            c.processes()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        c.processes().iter().any(|(n, _)| n == "tini"),
        "{:?}",
        c.processes()
    );
    let took = c.stop();
    assert_eq!(c.wait(), 143, "{}", c.logs());
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// Retries `probe` until it succeeds or `limit` passes.
fn eventually(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn example_postgresql_initialises_its_volume_once_and_answers_the_host() {
    example("postgresql");
    let port = support::free_port();
    let volume = format!("staves-pg-{port}");
    let publish = format!("127.0.0.1:{port}:5432");
    let mount = format!("{volume}:/var/lib/postgresql/data");
    let c = Running::start("postgresql", &["-v", &mount, "-p", &publish]);
    let query = |sql: &str| {
        std::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-Atc",
                sql,
            ])
            .env("PGPASSWORD", "example")
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    assert!(
        eventually(Duration::from_secs(60), || query("select 1").is_some()),
        "no answer: {}",
        c.logs()
    );
    assert!(query("create table t (v int); insert into t values (42)").is_some());
    assert_eq!(query("select v from t").as_deref(), Some("42"));
    let restarted = container(&["restart", &c.0]);
    assert!(restarted.status.success(), "{}", stderr(&restarted));
    assert!(
        eventually(Duration::from_secs(60), || query("select v from t")
            .as_deref()
            == Some("42")),
        "the data did not survive the restart: {}",
        c.logs()
    );
    let logs = c.logs();
    assert_eq!(
        logs.matches("staves: task initdb: running").count(),
        1,
        "{logs}"
    );
    assert!(
        logs.contains("task initdb: skipped, /var/lib/postgresql/data/PG_VERSION exists"),
        "{logs}"
    );
    let took = c.stop();
    assert_eq!(c.wait(), 0, "{}", c.logs());
    assert!(took < Duration::from_secs(9), "{took:?}");
    drop(c);
    container(&["volume", "rm", "-f", &volume]);
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn example_web_and_worker_serve_then_stop_quickly() {
    example("services");
    let port = support::free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let c = Running::start("web-worker", &["-p", &publish]);
    let page = || {
        std::process::Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/status.html")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    assert!(
        eventually(Duration::from_secs(20), || page()
            .is_some_and(|p| p.contains("rendered"))),
        "no page: {}",
        c.logs()
    );
    let processes = c.processes();
    assert!(processes.iter().any(|(n, _)| n == "nginx"), "{processes:?}");
    assert!(
        processes.iter().any(|(n, _)| n == "s6-svscan"),
        "{processes:?}"
    );
    assert!(c.logs().contains("worker: rendering"), "{}", c.logs());
    let took = c.stop();
    assert_eq!(c.wait(), 0, "{}", c.logs());
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn example_openssh_makes_its_host_key_at_first_start() {
    example("openssh");
    let port = support::free_port();
    let publish = format!("127.0.0.1:{port}:22");
    let c = Running::start("openssh", &["-p", &publish]);
    let scan = || {
        std::process::Command::new("ssh-keyscan")
            .args([
                "-T",
                "2",
                "-t",
                "ed25519",
                "-p",
                &port.to_string(),
                "127.0.0.1",
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .filter(|s| s.contains("ssh-ed25519"))
    };
    assert!(
        eventually(Duration::from_secs(20), || scan().is_some()),
        "{}",
        c.logs()
    );
    let key = c.exec(&[
        "/usr/bin/ssh-keygen",
        "-lf",
        "/var/lib/ssh-keys/ssh_host_ed25519_key.pub",
    ]);
    assert!(key.contains("ED25519"), "{key}");
    c.stop();
    assert_eq!(c.wait(), 0, "{}", c.logs());
}

/// The Debian release the host does not run (Debian 13 on a Debian 12 host, and the other
/// way round), from the host's mirror: its s6 and execline run the same generated scripts.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_other_debian_release_runs_services_stops_them_and_reports_a_kill() {
    let (other, repository) = support::other_release();
    let dir = tempfile::tempdir().expect("tempdir");
    image(
        dir.path(),
        "svc-other-release",
        &format!(
            "{SHELL}
[services.db]
command = [\"/bin/sh\", \"-c\", \"trap 'echo db stopping; exit 0' TERM; echo db up; while :; do sleep 0.1; done\"]

[services.app]
command = [\"/bin/sh\", \"-c\", \"trap 'echo app stopping; exit 0' TERM; echo app up; while :; do sleep 0.1; done\"]
after = [\"db\"]

{repository}"
        ),
    );
    let c = Running::start("svc-other-release", &[]);
    c.wait_for("app up", 1, Duration::from_secs(20));
    let os = c.exec(&["/bin/cat", "/etc/os-release"]);
    assert!(os.contains(other), "{os}");
    let took = c.stop();
    let logs = c.logs();
    assert!(
        position(&logs, "app stopping") < position(&logs, "db stopping"),
        "{logs}"
    );
    assert_eq!(c.wait(), 0, "{logs}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    image(
        dir.path(),
        "svc-other-killed",
        &format!(
            "{SHELL}
[services.job]
command = [\"/bin/sh\", \"-c\", \"sleep 0.3; kill -9 $$\"]
main = true

{repository}"
        ),
    );
    let c = Running::start("svc-other-killed", &[]);
    assert_eq!(c.wait(), 137, "{}", c.logs());
}

/// Configuration rendered at start, as GUIDE shows it: a task fills a template from the
/// container's environment before the service that reads it starts.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_task_renders_configuration_from_the_environment_before_the_service_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    image(
        dir.path(),
        "svc-render",
        "packages = [\"dash\", \"coreutils\", \"gettext-base\"]
environment = { GREETING = \"hello\" }

[[paths]]
path = \"/etc/app/app.conf.template\"
content = \"greeting = ${GREETING}\\nport = ${PORT}\\n\"

[tasks.render]
command = [\"/bin/sh\", \"-c\", \"envsubst '$GREETING $PORT' < /etc/app/app.conf.template > /dev/shm/app.conf\"]

[services.app]
command = [\"/bin/sh\", \"-c\", \"cat /dev/shm/app.conf; exec sleep 1000\"]
after = [\"render\"]
",
    );
    let c = Running::start("svc-render", &["-e", "PORT=8080", "--read-only"]);
    let logs = c.wait_for("port = 8080", 1, Duration::from_secs(20));
    assert!(logs.contains("greeting = hello"), "{logs}");
}
