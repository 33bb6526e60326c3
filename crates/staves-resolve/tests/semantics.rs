//! Debian relationship semantics on small, hand-written indices: alternatives, providers,
//! versioned Provides, Multi-Arch, Conflicts and Breaks, exclusions, pins, several suites.

use std::collections::HashMap;

use staves_deb::packages::TextPackages;
use staves_deb::{Version, VersionOp};
use staves_resolve::{Request, ResolveError, Task, Universe, resolve};

/// A repository from `Packages` paragraphs; `Filename`/`SHA256` are filled in.
fn repo(name: &str, paragraphs: &[&str]) -> TextPackages {
    let text: String = paragraphs
        .iter()
        .map(|p| {
            let arch = if p.contains("Architecture:") {
                ""
            } else {
                "Architecture: amd64\n"
            };
            format!(
                "{}\n{arch}Filename: pool/x.deb\nSize: 1\nSHA256: {}\n\n",
                p.trim(),
                "0".repeat(64)
            )
        })
        .collect();
    TextPackages::new(name, "http://127.0.0.1/", name, text)
}

fn request(name: &str) -> Request {
    let (name, arch) = match name.split_once(':') {
        Some((n, a)) => (n, Some(a.to_owned())),
        None => (name, None),
    };
    Request {
        name: name.into(),
        arch,
        constraint: None,
    }
}

fn task(names: &[&str]) -> Task {
    Task {
        requests: names.iter().map(|n| request(n)).collect(),
        ..Task::default()
    }
}

fn chosen(repos: &[TextPackages], task: &Task) -> Vec<String> {
    let universe = Universe::new(repos, "amd64");
    let resolution = resolve(&universe, task).unwrap_or_else(|e| panic!("{e}"));
    resolution
        .packages
        .iter()
        .map(|p| format!("{}:{}={}", p.name, p.arch, p.version))
        .collect()
}

fn error(repos: &[TextPackages], task: &Task) -> ResolveError {
    let universe = Universe::new(repos, "amd64");
    resolve(&universe, task).expect_err("must fail")
}

#[test]
fn first_satisfiable_alternative_wins() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: missing | second | third",
            "Package: second\nVersion: 1",
            "Package: third\nVersion: 1",
        ],
    )];
    assert_eq!(
        chosen(&repos, &task(&["app"])),
        ["app:amd64=1", "second:amd64=1"]
    );
}

#[test]
fn an_already_chosen_alternative_satisfies_a_later_group() {
    // As apt: `c` depends on `d | b`, but `b` was already marked for `a`.
    let repos = [repo(
        "r",
        &[
            "Package: a\nVersion: 1\nDepends: b | d",
            "Package: c\nVersion: 1\nDepends: d | b",
            "Package: b\nVersion: 1",
            "Package: d\nVersion: 1",
        ],
    )];
    assert_eq!(
        chosen(&repos, &task(&["a", "c"])),
        ["a:amd64=1", "b:amd64=1", "c:amd64=1"]
    );
}

#[test]
fn versioned_provides_satisfy_versioned_dependencies() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: virt (>= 2)",
            "Package: old\nVersion: 1\nProvides: virt (= 1)",
            "Package: new\nVersion: 1\nProvides: virt (= 3)",
            "Package: unversioned\nVersion: 1\nProvides: virt\nPriority: required",
        ],
    )];
    assert_eq!(
        chosen(&repos, &task(&["app"])),
        ["app:amd64=1", "new:amd64=1"]
    );
}

#[test]
fn conflicts_and_breaks_rule_out_candidates() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: base, impl-a | impl-b",
            "Package: base\nVersion: 1",
            "Package: impl-a\nVersion: 1\nBreaks: base (<< 2)",
            "Package: impl-b\nVersion: 1",
        ],
    )];
    assert_eq!(
        chosen(&repos, &task(&["app"])),
        ["app:amd64=1", "base:amd64=1", "impl-b:amd64=1"]
    );

    let both = [repo(
        "r",
        &[
            "Package: x\nVersion: 1\nConflicts: y",
            "Package: y\nVersion: 1",
        ],
    )];
    let err = error(&both, &task(&["x", "y"])).to_string();
    assert!(err.contains("conflicts with"), "{err}");
}

#[test]
fn cycles_terminate() {
    let repos = [repo(
        "r",
        &[
            "Package: a\nVersion: 1\nDepends: b",
            "Package: b\nVersion: 1\nPre-Depends: a",
        ],
    )];
    assert_eq!(chosen(&repos, &task(&["a"])), ["a:amd64=1", "b:amd64=1"]);
}

#[test]
fn multi_arch_qualifiers() {
    let repos = [repo(
        "r",
        &[
            "Package: tool\nVersion: 1\nDepends: perl:any, helper, lib:arm64",
            "Package: perl\nVersion: 1\nArchitecture: arm64\nMulti-Arch: allowed",
            "Package: helper\nVersion: 1\nArchitecture: arm64\nMulti-Arch: foreign",
            "Package: lib\nVersion: 1\nArchitecture: arm64\nMulti-Arch: same",
            "Package: lib\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same",
        ],
    )];
    assert_eq!(
        chosen(&repos, &task(&["tool"])),
        [
            "helper:arm64=1",
            "lib:arm64=1",
            "perl:arm64=1",
            "tool:amd64=1"
        ]
    );
    // Without Multi-Arch, a foreign-architecture package does not satisfy a plain dependency.
    let strict = [repo(
        "r",
        &[
            "Package: tool\nVersion: 1\nDepends: helper",
            "Package: helper\nVersion: 1\nArchitecture: arm64",
        ],
    )];
    let err = error(&strict, &task(&["tool"])).to_string();
    assert!(err.contains("helper has only version 1 (arm64)"), "{err}");
    assert_eq!(
        chosen(&strict, &task(&["helper:arm64"])),
        ["helper:arm64=1"]
    );
}

#[test]
fn highest_version_across_suites_unless_pinned() {
    let repos = [
        repo(
            "main",
            &[
                "Package: lib\nVersion: 1.0-1",
                "Package: app\nVersion: 1\nDepends: lib",
            ],
        ),
        repo("updates", &["Package: lib\nVersion: 1.0-1+deb12u1"]),
    ];
    assert_eq!(
        chosen(&repos, &task(&["app"])),
        ["app:amd64=1", "lib:amd64=1.0-1+deb12u1"]
    );

    let mut pinned = task(&["app"]);
    pinned.pins.insert(
        "lib".into(),
        (VersionOp::Eq, Version::parse("1.0-1").expect("v")),
    );
    assert_eq!(chosen(&repos, &pinned), ["app:amd64=1", "lib:amd64=1.0-1"]);

    let mut req = task(&[]);
    req.requests.push(Request {
        name: "lib".into(),
        arch: None,
        constraint: Some((VersionOp::Lt, Version::parse("1.0-1+deb12u1").expect("v"))),
    });
    assert_eq!(chosen(&repos, &req), ["lib:amd64=1.0-1"]);
}

#[test]
fn exclusions_count_as_satisfied_and_are_reported() {
    let repos = [repo(
        "r",
        &[
            "Package: nginx\nVersion: 1\nDepends: iproute2 | other",
            "Package: iproute2\nVersion: 1",
            "Package: other\nVersion: 1",
        ],
    )];
    let mut t = task(&["nginx"]);
    t.exclude.insert("iproute2".into());
    let universe = Universe::new(&repos, "amd64");
    let resolution = resolve(&universe, &t).expect("resolves");
    let names: Vec<_> = resolution
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["nginx"]);
    assert_eq!(
        resolution.excluded,
        [("iproute2".to_owned(), "nginx".to_owned())]
    );
}

#[test]
fn virtual_requests() {
    let one = [repo("r", &["Package: mawk\nVersion: 1\nProvides: awk"])];
    assert_eq!(chosen(&one, &task(&["awk"])), ["mawk:amd64=1"]);
    let two = [repo(
        "r",
        &[
            "Package: mawk\nVersion: 1\nProvides: awk",
            "Package: gawk\nVersion: 1\nProvides: awk",
        ],
    )];
    assert!(matches!(
        error(&two, &task(&["awk"])),
        ResolveError::VirtualPackage { .. }
    ));
}

#[test]
fn failures_explain_the_chain() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: mid",
            "Package: mid\nVersion: 2\nDepends: leaf (>= 5)",
            "Package: leaf\nVersion: 4",
        ],
    )];
    let err = error(&repos, &task(&["app"]));
    let ResolveError::Unsatisfiable { failure, .. } = &err else {
        panic!("unexpected {err}");
    };
    let text = failure.to_string();
    let expected = "app 1 depends on mid\n└─ mid 2 cannot be installed\n   mid 2 depends on leaf (>= 5)\n   └─ leaf has only version 4\n";
    assert_eq!(text, expected);
    let unknown = error(&repos, &task(&["ap"]));
    assert!(
        matches!(&unknown, ResolveError::UnknownPackage { suggestions, .. } if suggestions.contains(&"app".to_owned())),
        "{unknown:?}"
    );
}

#[test]
fn recommends_only_when_asked() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nRecommends: extra",
            "Package: extra\nVersion: 1",
        ],
    )];
    assert_eq!(chosen(&repos, &task(&["app"])), ["app:amd64=1"]);
    let mut t = task(&["app"]);
    t.recommends_for = HashMap::from([("app".to_owned(), true)]);
    assert_eq!(chosen(&repos, &t), ["app:amd64=1", "extra:amd64=1"]);
}

#[test]
fn merged_usr_meets_usrmerge_groups_with_the_marker() {
    let repos = [repo(
        "r",
        &[
            "Package: init-system-helpers\nVersion: 1\nDepends: usrmerge | usr-is-merged",
            "Package: usrmerge\nVersion: 1\nDepends: perl",
            "Package: perl\nVersion: 1",
            "Package: usr-is-merged\nVersion: 1",
        ],
    )];
    // apt's choice: the first alternative, and perl with it.
    assert_eq!(
        chosen(&repos, &task(&["init-system-helpers"])),
        [
            "init-system-helpers:amd64=1",
            "perl:amd64=1",
            "usrmerge:amd64=1"
        ]
    );
    let merged = Task {
        merged_usr: true,
        ..task(&["init-system-helpers"])
    };
    assert_eq!(
        chosen(&repos, &merged),
        ["init-system-helpers:amd64=1", "usr-is-merged:amd64=1"]
    );
    // Only the marker moves; other groups keep their order.
    let other = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: b | c",
            "Package: b\nVersion: 1",
            "Package: c\nVersion: 1",
        ],
    )];
    let merged = Task {
        merged_usr: true,
        ..task(&["app"])
    };
    assert_eq!(chosen(&other, &merged), ["app:amd64=1", "b:amd64=1"]);
}

#[test]
fn every_package_knows_the_dependency_that_brought_it() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: missing | lib\nRecommends: extra",
            "Package: lib\nVersion: 1\nDepends: base",
            "Package: base\nVersion: 1",
            "Package: extra\nVersion: 1",
        ],
    )];
    let universe = Universe::new(&repos, "amd64");
    let task = Task {
        recommends: true,
        ..task(&["app"])
    };
    let resolution = resolve(&universe, &task).unwrap_or_else(|e| panic!("{e}"));
    let why: HashMap<String, String> = resolution
        .packages
        .iter()
        .zip(&resolution.origins)
        .map(|(p, origin)| {
            let text = match origin {
                staves_resolve::Origin::Requested(i) => format!("request {i}"),
                staves_resolve::Origin::Implied(i) => format!("implied {i}"),
                staves_resolve::Origin::Installed => "installed".into(),
                staves_resolve::Origin::Dependency {
                    by,
                    group,
                    recommended,
                } => format!("{} {group} {recommended}", by.name),
            };
            (p.name.clone(), text)
        })
        .collect();
    assert_eq!(why["app"], "request 0");
    assert_eq!(why["lib"], "app missing | lib false");
    assert_eq!(why["base"], "lib base false");
    assert_eq!(why["extra"], "app extra true");
}

#[test]
fn why_walks_back_to_the_request_and_counts_what_came_along() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: lib, tool\nInstalled-Size: 10",
            "Package: lib\nVersion: 1\nDepends: base\nInstalled-Size: 100",
            "Package: tool\nVersion: 1\nDepends: base, helper\nInstalled-Size: 1000",
            "Package: base\nVersion: 1\nInstalled-Size: 10000",
            "Package: helper\nVersion: 1\nInstalled-Size: 100000",
        ],
    )];
    let universe = Universe::new(&repos, "amd64");
    let resolution = resolve(&universe, &task(&["app"])).unwrap_or_else(|e| panic!("{e}"));
    let [tool] = staves_resolve::why::explain(&resolution, "tool")
        .try_into()
        .expect("one tool");
    let names: Vec<&str> = tool.chain.iter().map(|l| l.package.name.as_str()).collect();
    assert_eq!(names, ["app", "tool"]);
    // base came with lib first, so only helper is tool's own.
    let own: Vec<&str> = tool.brought_in.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(own, ["helper"]);
    assert_eq!((tool.own_size(), tool.total_size()), (1000, 101_000));
    let [base] = staves_resolve::why::explain(&resolution, "base")
        .try_into()
        .expect("one base");
    let names: Vec<&str> = base.chain.iter().map(|l| l.package.name.as_str()).collect();
    assert_eq!(names, ["app", "lib", "base"]);
    assert!(staves_resolve::why::explain(&resolution, "absent").is_empty());
}

#[test]
fn implied_packages_come_after_requests_and_only_where_they_exist() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1",
            "Package: base-files\nVersion: 12\nDepends: mawk",
            "Package: mawk\nVersion: 1",
        ],
    )];
    let implied = |names: &[&str]| Task {
        implied: names.iter().map(|n| request(n)).collect(),
        ..task(&["app"])
    };
    assert_eq!(
        chosen(&repos, &implied(&["base-files", "not-in-any-repository"])),
        ["app:amd64=1", "base-files:amd64=12", "mawk:amd64=1"]
    );
    let universe = Universe::new(&repos, "amd64");
    let resolution = resolve(&universe, &implied(&["base-files"])).expect("resolves");
    let origin = |name: &str| {
        let at = resolution
            .packages
            .iter()
            .position(|p| p.name == name)
            .expect("chosen");
        format!("{:?}", resolution.origins[at])
    };
    assert_eq!(origin("base-files"), "Implied(0)");
    assert!(origin("mawk").contains("base-files"));
}

/// The packages of `paragraphs`, as a base image's installed set.
fn installed(paragraphs: &[&str]) -> Vec<staves_resolve::PackageRef> {
    let repos = [repo("base", paragraphs)];
    let universe = Universe::new(&repos, "amd64");
    paragraphs
        .iter()
        .filter_map(|p| p.lines().next()?.strip_prefix("Package: "))
        .flat_map(|name| universe.packages(name).expect("parsed").to_vec())
        .collect()
}

#[test]
fn installed_packages_are_kept_and_not_resolved_again() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: libc (>= 2), tool",
            "Package: libc\nVersion: 3",
            "Package: tool\nVersion: 1\nDepends: libc",
        ],
    )];
    // The base has libc 2: it meets `libc (>= 2)`, so the newer 3 is not taken.
    let base = installed(&["Package: libc\nVersion: 2"]);
    let kept = Task {
        installed: base.clone(),
        ..task(&["app"])
    };
    assert_eq!(chosen(&repos, &kept), ["app:amd64=1", "tool:amd64=1"]);

    // A dependency the installed version cannot meet names the base.
    let newer = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: libc (>= 3)",
            "Package: libc\nVersion: 3",
        ],
    )];
    let needs_newer = Task {
        installed: base.clone(),
        ..task(&["app"])
    };
    let unmet = error(&newer, &needs_newer).to_string();
    assert!(
        unmet.contains("libc 2 is installed in the base image"),
        "{unmet}"
    );

    // A request for an installed package keeps it; one for another version is refused.
    let request_kept = Task {
        installed: base.clone(),
        ..task(&["libc"])
    };
    assert!(chosen(&repos, &request_kept).is_empty());
    let mut pinned = request_kept.clone();
    pinned.requests[0].constraint = Some((VersionOp::Eq, Version::parse("3").expect("v")));
    let refused = resolve(&Universe::new(&repos, "amd64"), &pinned)
        .expect_err("refused")
        .to_string();
    assert!(refused.contains("installed in the base image"), "{refused}");

    // A request that conflicts with what the base holds says so, not "also requested".
    let clashing = [repo(
        "r",
        &["Package: other-libc\nVersion: 1\nConflicts: libc"],
    )];
    let clash = error(
        &clashing,
        &Task {
            installed: base.clone(),
            ..task(&["other-libc"])
        },
    )
    .to_string();
    assert!(clash.contains("which the base image holds"), "{clash}");
    assert!(!clash.contains("also requested"), "{clash}");
}

#[test]
fn locked_versions_are_preferred_while_the_repositories_have_them() {
    let repos = [repo(
        "r",
        &[
            "Package: app\nVersion: 1\nDepends: lib",
            "Package: lib\nVersion: 2",
            "Package: lib\nVersion: 1",
        ],
    )];
    let locked = |version: &str| Task {
        locked: [(
            ("lib".to_owned(), "amd64".to_owned()),
            Version::parse(version).expect("version"),
        )]
        .into_iter()
        .collect(),
        ..task(&["app"])
    };
    assert_eq!(chosen(&repos, &locked("1")), ["app:amd64=1", "lib:amd64=1"]);
    // Gone from the repositories: the highest again.
    assert_eq!(
        chosen(&repos, &locked("0.5")),
        ["app:amd64=1", "lib:amd64=2"]
    );
}

#[test]
fn a_dpkg_status_file_gives_the_installed_set() {
    let status = "\
Package: libc6
Status: install ok installed
Version: 2.36-9
Architecture: amd64
Multi-Arch: same
Provides: libc6-x

Package: removed-one
Status: deinstall ok config-files
Version: 1
Architecture: amd64

Package: base-files
Status: install ok installed
Version: 12.4
Architecture: amd64
Pre-Depends: awk
";
    let installed = staves_resolve::installed_from_status(status, "base image").expect("parses");
    let names: Vec<String> = installed
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    assert_eq!(names, ["libc6 2.36-9", "base-files 12.4"]);
    assert!(
        installed
            .iter()
            .all(|p| p.repository == staves_resolve::INSTALLED)
    );
    // What it provides satisfies dependencies.
    let repos = [repo("r", &["Package: app\nVersion: 1\nDepends: libc6-x"])];
    let task = Task {
        installed,
        ..task(&["app"])
    };
    assert_eq!(chosen(&repos, &task), ["app:amd64=1"]);
    let broken =
        "Package: x\nStatus: install ok installed\nVersion: not a version!\nArchitecture: amd64\n";
    assert!(staves_resolve::installed_from_status(broken, "base image").is_err());
}
