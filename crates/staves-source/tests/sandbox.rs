//! The sandbox on the real bubblewrap: no network, no host paths, the same as root and as
//! an unprivileged user. The build root is a small one made of the host's bash and
//! coreutils with the libraries they load.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use staves_source::Quiet;
use staves_source::sandbox::Sandbox;

/// A listener on the host's loopback that records whether anything connected.
fn listener() -> (u16, std::sync::mpsc::Receiver<()>) {
    staves_test_support::loopback();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = tx.send(());
            drop(stream);
        }
    });
    (port, rx)
}

/// A root holding `programs` (from the host's PATH) and every library `ldd` says they
/// load, at the same paths, with `/bin/sh` a copy of bash and the sandbox's mount points.
fn tiny_root(dir: &Path, programs: &[&str]) {
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dirs");
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    };
    for program in programs {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .expect("sh");
        let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
        assert!(!path.is_empty(), "{program} is on the host");
        copy(Path::new(&path), &dir.join("usr/bin").join(program));
        let ldd = Command::new("ldd").arg(&path).output().expect("ldd");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            let library = line
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(Path::new);
            if let Some(library) = library {
                copy(
                    library,
                    &dir.join(library.strip_prefix("/").expect("absolute")),
                );
            }
        }
    }
    copy(&dir.join("usr/bin/bash"), &dir.join("bin/sh"));
    for point in ["build", "dev", "proc", "tmp", "run", "var/tmp", "sys"] {
        std::fs::create_dir_all(dir.join(point)).expect("mount point");
    }
}

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_root(dir.path(), &["bash", "touch", "id", "hostname", "cat"]);
    dir
}

fn sandbox<'a>(root: &'a Path, work: &'a Path) -> Sandbox<'a> {
    Sandbox {
        root,
        work,
        inputs: Vec::new(),
        caches: Vec::new(),
        env: vec![("STAVES_TEST".into(), "1".into())],
        limits: staves_source::BuildLimits::default(),
    }
}

#[test]
fn a_build_step_cannot_reach_the_network() {
    let (port, connected) = listener();
    let reach = format!("exec 3<>/dev/tcp/127.0.0.1/{port}");
    // The same step outside the sandbox does reach the listener: the test can fail.
    let outside = Command::new("bash")
        .args(["-c", &reach])
        .status()
        .expect("bash");
    assert!(outside.success(), "the host reaches its own listener");
    connected
        .recv_timeout(Duration::from_secs(5))
        .expect("the listener saw the host's connection");

    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("log");
    let script = format!("echo '::staves-step connect'\nbash -c '{reach}'\n");
    let root = root();
    let outcome = sandbox(root.path(), dir.path())
        .run(&script, &log, &Quiet, "test")
        .expect("the sandbox starts");
    assert_ne!(
        outcome.code, 0,
        "the connection must fail: {:?}",
        outcome.tail
    );
    assert_eq!(outcome.step, "connect");
    assert!(
        connected.recv_timeout(Duration::from_millis(500)).is_err(),
        "nothing reached the host from inside the sandbox"
    );
}

#[test]
fn only_the_build_directory_is_writable_and_host_paths_are_hidden() {
    let dir = tempfile::tempdir().expect("tmp");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "host file").expect("secret");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("work");
    let log = dir.path().join("log");
    let script = format!(
        "touch /build/made\n\
         if touch /usr/staves-test 2>/dev/null; then echo ROOT-WRITABLE; fi\n\
         if [ -e '{}' ]; then echo HOST-TMP-VISIBLE; fi\n\
         id -u; echo \"$STAVES_TEST\"; hostname\n",
        secret.display()
    );
    let root = root();
    let outcome = sandbox(root.path(), &work)
        .run(&script, &log, &Quiet, "test")
        .expect("runs");
    assert_eq!(outcome.code, 0, "{:?}", outcome.tail);
    assert!(work.join("made").exists(), "/build is the work directory");
    let mut text = String::new();
    std::fs::File::open(&log)
        .and_then(|mut f| f.read_to_string(&mut text))
        .expect("log");
    assert!(!text.contains("ROOT-WRITABLE"), "{text}");
    assert!(!text.contains("HOST-TMP-VISIBLE"), "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["0", "1", "staves-build"],
        "uid 0 inside, the variables given, its own host name"
    );
}

#[test]
fn an_unprivileged_user_gets_the_same_sandbox() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        // Already unprivileged: the other tests are this one.
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    Command::new("chown")
        .args(["65534:65534"])
        .arg(dir.path())
        .status()
        .expect("chown");
    let root = root();
    let script = "touch /build/made; id -u; cat /proc/self/uid_map";
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "bwrap"])
        .args(sandbox(root.path(), dir.path()).command(script).get_args())
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("0"), "root inside");
    let map: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", "65534", "1"], "uid 0 inside is nobody outside");
    let made = std::fs::metadata(dir.path().join("made")).expect("made");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        made.uid(),
        65534,
        "files made in /build belong to the caller"
    );
}

/// A sandbox with `limits`, in a root that can sleep and write, and how its run ended.
fn limited(limits: staves_source::BuildLimits, script: &str) -> staves_source::sandbox::Outcome {
    let dir = tempfile::tempdir().expect("tmp");
    let root = tempfile::tempdir().expect("tmp");
    tiny_root(root.path(), &["bash", "sleep", "head"]);
    let work = dir.path().join("build");
    std::fs::create_dir(&work).expect("work");
    let mut sandbox = sandbox(root.path(), &work);
    sandbox.limits = limits;
    let started = std::time::Instant::now();
    let outcome = sandbox
        .run(script, &dir.path().join("log"), &Quiet, "test")
        .expect("the sandbox starts");
    // Stopped soon after the limit, not at the script's own end (minutes away).
    assert!(started.elapsed() < Duration::from_secs(60), "{outcome:?}");
    outcome
}

#[test]
fn a_build_is_stopped_at_its_time_limit() {
    let limits = staves_source::BuildLimits {
        time: Duration::from_secs(1),
        ..Default::default()
    };
    let outcome = limited(limits, "echo '::staves-step wait'\nsleep 600\n");
    assert_eq!(
        outcome.stopped,
        Some(staves_source::limits::Exceeded::Time(Duration::from_secs(
            1
        )))
    );
    assert_eq!(outcome.step, "wait");
    assert_ne!(outcome.code, 0);
}

#[test]
fn a_build_is_stopped_at_its_process_limit() {
    let limits = staves_source::BuildLimits {
        processes: 20,
        ..Default::default()
    };
    let outcome = limited(
        limits,
        "echo '::staves-step fork'\ni=0\nwhile [ $i -lt 60 ]; do sleep 600 & i=$((i + 1)); done\nwait\n",
    );
    assert_eq!(
        outcome.stopped,
        Some(staves_source::limits::Exceeded::Processes(20))
    );
}

#[test]
fn scratch_space_on_disk_and_in_tmp_is_bounded() {
    let limits = staves_source::BuildLimits {
        scratch: 32 << 20,
        ..Default::default()
    };
    // /tmp is on disk beside the build directory, not in RAM, and counts with it.
    let outcome = limited(
        limits,
        "echo '::staves-step fill'\nwhile true; do head -c 8000000 /dev/zero > /tmp/fill.$RANDOM.$RANDOM; done\n",
    );
    assert_eq!(
        outcome.stopped,
        Some(staves_source::limits::Exceeded::Scratch(32 << 20))
    );
    let quiet = limited(
        limits,
        "head -c 4000000 /dev/zero > /tmp/small\nhead -c 4000000 /dev/zero > /build/small\n",
    );
    assert_eq!(quiet.stopped, None, "{quiet:?}");
    assert_eq!(quiet.code, 0, "{quiet:?}");
}
