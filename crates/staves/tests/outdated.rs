//! `staves outdated` against the real archive: a spec locked against the host's release
//! alone, then given its security suite, lists the real security updates of its packages
//! with the CVE identifiers their changelogs name, and exits 1 for CI.

mod support;

use std::path::Path;

use support::{shared_cache, stderr, stdout};

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_security_suite_added_to_a_locked_spec_shows_its_updates_and_cves() {
    let codename = support::host_codename();
    let repository = |name: &str, suite: &str| {
        format!(
            "\n[[repositories]]\nname = \"{name}\"\nuri = \"{}\"\nsuite = \"{suite}\"\nkeyring = \"/usr/share/keyrings/debian-archive-keyring.gpg\"\n",
            support::host_uri(suite)
        )
    };
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    let body = "name = \"outdated\"\npackages = [\"openssl\", \"curl\"]\n";
    std::fs::write(&spec, format!("{body}{}", repository("main", &codename))).expect("spec");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-f", spec.to_str().expect("utf8")]);
        support::staves(&all, &shared_cache())
    };
    let locked = run(&["lock"]);
    assert!(locked.status.success(), "{}", stderr(&locked));
    // Against what it was locked from, nothing is waiting.
    let current = run(&["outdated"]);
    assert_eq!(current.status.code(), Some(0), "{}", stderr(&current));

    std::fs::write(
        &spec,
        format!(
            "{body}{}{}",
            repository("main", &codename),
            repository("security", &format!("{codename}-security"))
        ),
    )
    .expect("spec");
    let out = run(&["outdated", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let updates: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(!updates.is_empty(), "{}", stdout(&out));
    for update in &updates {
        assert_eq!(update["security"], true, "{update}");
        assert_eq!(update["suite"], format!("{codename}-security"));
    }
    // Real identifiers, read from the new versions' changelogs.
    let cves: Vec<&str> = updates
        .iter()
        .flat_map(|u| u["cves"].as_array().into_iter().flatten())
        .filter_map(|c| c.as_str())
        .collect();
    assert!(!cves.is_empty(), "{}", stdout(&out));
    assert!(
        cves.iter().all(|c| c.starts_with("CVE-") && c.len() >= 13),
        "{cves:?}"
    );
    // The lock itself is not touched.
    let lock_path = dir.path().join("staves.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("lock");
    assert!(!lock.contains("-security"), "{lock}");

    // `update --security-only` moves exactly those packages, says what each fixes, and
    // leaves nothing waiting.
    let before = dir.path().join("before.lock");
    std::fs::copy(&lock_path, &before).expect("copy");
    let updated = run(&["update", "--security-only"]);
    assert!(updated.status.success(), "{}", stderr(&updated));
    let said = stderr(&updated);
    for update in &updates {
        let package = update["package"].as_str().expect("package");
        assert!(
            said.contains(&format!("Updating {package} ")),
            "{package}: {said}"
        );
    }
    assert!(said.contains("Fixes"), "{said}");
    let moved = std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["diff", "--json"])
        .arg(&before)
        .arg(&lock_path)
        .output()
        .expect("staves diff");
    let moved: serde_json::Value = serde_json::from_slice(&moved.stdout).expect("json");
    assert_eq!(
        moved["packages"].as_array().map(Vec::len),
        Some(updates.len()),
        "{moved}"
    );
    let after = run(&["outdated"]);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));
}

/// With a directory, every image of the stack is reported, bases first; one never locked
/// says so instead of failing the others.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_stack_directory_is_reported_image_by_image_bases_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let stack = dir.path().join("stack");
    let copy = |from: &Path, to: &Path| {
        let out = std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .output()
            .expect("cp");
        assert!(out.status.success());
    };
    copy(&support::examples().join("stack"), &stack);
    let base = stack.join("base/staves.toml");
    let locked = support::staves(
        &["lock", "-f", base.to_str().expect("utf8")],
        &shared_cache(),
    );
    assert!(locked.status.success(), "{}", stderr(&locked));
    let out = support::staves(
        &["outdated", "--json", "-f", stack.to_str().expect("utf8")],
        &shared_cache(),
    );
    // The host's sources are what the lock was made from: nothing is waiting.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let images: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = images.iter().filter_map(|i| i["image"].as_str()).collect();
    assert_eq!(names.first(), Some(&"stack-base"), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
    let unlocked = images
        .iter()
        .filter(|i| {
            i["note"]
                .as_str()
                .is_some_and(|n| n.contains("staves lock"))
        })
        .count();
    assert_eq!(unlocked, 3, "{images:?}");
}

/// `update --build` over a 4-image stack given its security suite: every lock with a
/// security update waiting moves, and exactly the images whose lock or base moved are
/// rebuilt — an image on an unchanged base is not, an image on a changed one is.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn update_build_rebuilds_only_the_images_whose_lock_or_base_moved() {
    let codename = support::host_codename();
    let repositories = |security: bool| {
        let mut suites = vec![codename.clone()];
        if security {
            suites.push(format!("{codename}-security"));
        }
        suites
            .iter()
            .enumerate()
            .map(|(i, suite)| {
                format!(
                    "\n[[repositories]]\nname = \"r{i}\"\nuri = \"{}\"\nsuite = \"{suite}\"\nkeyring = \"/usr/share/keyrings/debian-archive-keyring.gpg\"\n",
                    support::host_uri(suite)
                )
            })
            .collect::<String>()
    };
    let dir = tempfile::tempdir().expect("tmp");
    let stack = dir.path().join("stack");
    // base: a package never patched by a security update; tls on it: openssl, which
    // has had many; web on base; app on tls with nothing of its own.
    let images = [
        ("base", None, "packages = [\"netbase\"]"),
        ("tls", Some("../base"), "packages = [\"openssl\"]"),
        ("web", Some("../base"), "packages = [\"media-types\"]"),
        (
            "app",
            Some("../tls"),
            "command = [\"openssl\", \"version\"]\nexclude = [\"dash\"]",
        ),
    ];
    let write = |security: bool| {
        for (name, base, body) in &images {
            let base = base
                .map(|b| format!("base = \"{b}\"\n"))
                .unwrap_or_default();
            std::fs::create_dir_all(stack.join(name)).expect("dir");
            std::fs::write(
                stack.join(name).join("staves.toml"),
                format!(
                    "name = \"{name}\"\n{base}{body}\n{}",
                    repositories(security)
                ),
            )
            .expect("spec");
        }
    };
    write(false);
    let cache = shared_cache();
    let root = stack.to_str().expect("utf8");
    for (name, ..) in &images {
        let spec = stack.join(name).join("staves.toml");
        let locked = support::staves(&["lock", "-f", spec.to_str().expect("utf8")], &cache);
        assert!(locked.status.success(), "{name}: {}", stderr(&locked));
    }
    let built = support::staves(&["stack", root], &cache);
    assert!(built.status.success(), "{}", stderr(&built));

    write(true);
    let out = support::staves(&["outdated", "--json", "-f", root], &cache);
    let waiting: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let behind: Vec<&str> = waiting
        .iter()
        .filter(|i| i["updates"].as_array().is_some_and(|u| !u.is_empty()))
        .filter_map(|i| i["image"].as_str())
        .collect();
    assert_eq!(behind, ["tls"], "{}", stdout(&out));

    let output = dir.path().join("out");
    let updated = support::staves(
        &[
            "update",
            "--security-only",
            "-f",
            root,
            "-o",
            output.to_str().expect("utf8"),
        ],
        &cache,
    );
    let said = stderr(&updated);
    assert!(updated.status.success(), "{said}");
    let rebuilt: Vec<&str> = said
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Rebuilt "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(rebuilt, ["tls:latest", "app:latest"], "{said}");
    assert!(said.contains("Unchanged base:latest"), "{said}");
    assert!(!output.join("web").exists(), "web is not stale: {said}");
    let after = support::staves(&["outdated", "-f", root], &cache);
    assert_eq!(after.status.code(), Some(0), "{}", stdout(&after));

    // Nothing moved: nothing is rebuilt.
    let again = support::staves(&["update", "--build", "-f", root], &cache);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("nothing to rebuild"),
        "{}",
        stderr(&again)
    );
}
