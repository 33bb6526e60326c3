//! The container engine that runs built images: Docker, or podman with runc where no
//! Docker engine runs.

use std::process::{Command, Output};

/// `docker`, or `podman` with runc and cgroupfs.
pub fn engine() -> Vec<String> {
    let docker = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if docker {
        vec!["docker".into()]
    } else {
        ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
            .map(String::from)
            .to_vec()
    }
}

/// Whether the engine is podman.
pub fn is_podman() -> bool {
    engine()[0] == "podman"
}

/// Runs the engine with `args`; `run` gets the limits podman needs here.
pub fn container(args: &[&str]) -> Output {
    let e = engine();
    let mut cmd = Command::new(&e[0]);
    if e[0] == "podman" && args.first() == Some(&"run") {
        let mut full = vec![
            "run",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        full.extend(&args[1..]);
        cmd.args(&e[1..]).args(full);
    } else {
        cmd.args(&e[1..]).args(args);
    }
    cmd.output().expect("container engine")
}

/// The `127.0.0.1:PORT` the engine published container `name`'s `port` on.
pub fn published(name: &str, port: &str) -> String {
    String::from_utf8_lossy(&container(&["port", name, port]).stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The body of `url` once it is served (curl `-f`), asked up to `tries` times a quarter
/// second apart; `None` when it never was.
pub fn served(url: &str, tries: usize) -> Option<Vec<u8>> {
    for _ in 0..tries {
        let got = Command::new("curl")
            .args(["-fsS", url])
            .output()
            .expect("curl");
        if got.status.success() {
            return Some(got.stdout);
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    None
}
