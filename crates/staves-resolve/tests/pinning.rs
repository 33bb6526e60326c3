//! apt's pinning (apt_preferences(5)) on small indices: a release's default priority, a
//! repository's `priority`, and `name/release` requests. What apt answers for each case is
//! written next to it; the same cases run against apt itself with the real archive in the
//! command-line crate's parity tests.

use staves_deb::packages::TextPackages;
use staves_resolve::{Request, ResolveError, Task, Universe, resolve};

fn repo(name: &str, priority: i32, paragraphs: &[&str]) -> TextPackages {
    let text: String = paragraphs
        .iter()
        .map(|p| {
            format!(
                "{}\nArchitecture: amd64\nFilename: pool/x.deb\nSize: 1\nSHA256: {}\n\n",
                p.trim(),
                "0".repeat(64)
            )
        })
        .collect();
    TextPackages::new(name, "http://127.0.0.1/", name, text).with_priority(priority)
}

/// `stable` at 500 and `backports` at `priority`: backports has newer curl and libcurl,
/// and a tool only it carries.
fn archive(priority: i32) -> Vec<TextPackages> {
    vec![
        repo(
            "stable",
            500,
            &[
                "Package: curl\nVersion: 7.88.1-10\nDepends: libcurl4 (= 7.88.1-10)",
                "Package: libcurl4\nVersion: 7.88.1-10\nDepends: libc6",
                "Package: libc6\nVersion: 2.36-9",
                "Package: app\nVersion: 1.0\nDepends: libcurl4 (>= 8.0)",
            ],
        ),
        repo(
            "backports",
            priority,
            &[
                "Package: curl\nVersion: 8.14.1-2~bpo12+1\nDepends: libcurl4 (= 8.14.1-2~bpo12+1)",
                "Package: libcurl4\nVersion: 8.14.1-2~bpo12+1\nDepends: libc6",
                "Package: only-new\nVersion: 2.0",
            ],
        ),
    ]
}

fn task(requests: &[&str]) -> Task {
    Task {
        requests: requests
            .iter()
            .map(|name| Request {
                name: (*name).into(),
                arch: None,
                constraint: None,
            })
            .collect(),
        ..Task::default()
    }
}

fn version_of(repos: &[TextPackages], task: &Task, name: &str) -> Result<String, ResolveError> {
    let universe = Universe::new(repos, "amd64");
    let resolution = resolve(&universe, task)?;
    Ok(resolution
        .packages
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.version.to_string())
        .unwrap_or_default())
}

#[test]
fn priorities_choose_the_candidate_as_apt_does() {
    // (priority of backports, curl apt installs on an empty system)
    for (priority, expected) in [
        (1, "7.88.1-10"),           // NotAutomatic: only when asked
        (100, "7.88.1-10"),         // NotAutomatic + ButAutomaticUpgrades (backports)
        (500, "8.14.1-2~bpo12+1"),  // equal priorities: the higher version
        (990, "8.14.1-2~bpo12+1"),  // a target release
        (1001, "8.14.1-2~bpo12+1"), // above 1000
        (-1, "7.88.1-10"),          // never
    ] {
        let repos = archive(priority);
        let got = version_of(&repos, &task(&["curl"]), "curl").expect("resolves");
        assert_eq!(got, expected, "backports at {priority}");
        let libcurl = version_of(&repos, &task(&["curl"]), "libcurl4").expect("resolves");
        assert_eq!(
            libcurl, expected,
            "libcurl4 follows curl's exact dependency"
        );
    }
    // Stable pinned above backports: stable's older version wins.
    let mut repos = archive(500);
    repos[0] = repos.remove(0).with_priority(990);
    assert_eq!(
        version_of(&repos, &task(&["curl"]), "curl").expect("resolves"),
        "7.88.1-10"
    );
}

#[test]
fn a_package_only_a_low_priority_release_has_is_still_installable() {
    // apt installs `only-new` from a NotAutomatic release when asked: it is the only version.
    for priority in [1, 100] {
        let repos = archive(priority);
        assert_eq!(
            version_of(&repos, &task(&["only-new"]), "only-new").expect("resolves"),
            "2.0"
        );
    }
    // Below 0 it is never installed.
    let repos = archive(-1);
    assert!(version_of(&repos, &task(&["only-new"]), "only-new").is_err());
}

#[test]
fn name_slash_release_takes_that_version_and_what_it_needs_from_there() {
    let repos = archive(100);
    let mut task = task(&["curl"]);
    task.releases.insert("curl".into(), "backports".into());
    assert_eq!(
        version_of(&repos, &task, "curl").expect("resolves"),
        "8.14.1-2~bpo12+1"
    );
    // Its exact dependency is only met from backports: taken from there, as apt's
    // "Selected version … because of curl" does.
    assert_eq!(
        version_of(&repos, &task, "libcurl4").expect("resolves"),
        "8.14.1-2~bpo12+1"
    );
    // Other dependencies keep their default candidates.
    assert_eq!(
        version_of(&repos, &task, "libc6").expect("resolves"),
        "2.36-9"
    );

    // A release no repository is, or one without the package, is an error naming it.
    let mut unknown = self::task(&["curl"]);
    unknown.releases.insert("curl".into(), "nowhere".into());
    let error = version_of(&repos, &unknown, "curl").unwrap_err();
    assert!(
        matches!(&error, ResolveError::NotInRelease { .. }) && error.to_string().contains("stable"),
        "{error}"
    );
    let mut lacking = self::task(&["app"]);
    lacking.releases.insert("app".into(), "backports".into());
    let error = version_of(&repos, &lacking, "app").unwrap_err();
    assert!(
        error.to_string().contains("backports has no `app`"),
        "{error}"
    );
}

#[test]
fn a_dependency_only_a_low_priority_release_meets_falls_back_to_it() {
    // `app` needs libcurl4 >= 8.0; stable's 7.88 does not do, backports' does. apt gives up
    // here ("but 7.88.1-10 is to be installed"); Staves takes the version that meets it,
    // the one documented difference of its resolver.
    let repos = archive(100);
    assert_eq!(
        version_of(&repos, &task(&["app"]), "libcurl4").expect("resolves"),
        "8.14.1-2~bpo12+1"
    );
}
