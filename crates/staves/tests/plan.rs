//! `staves plan`: a stack's graph as jobs — bases first, each job needing its base's, keys
//! that move with exactly the inputs under them — and the GitLab, GitHub and Kubernetes
//! renderings valid against the engines' published schemas (`tests/schemas/`), for a small
//! stack and for a 300-image one that needs GitHub's matrix split.

mod support;

use std::path::Path;
use std::process::Command;

use support::{stderr, stdout};

/// A stack: `base`, `count` images on it, and `leaf` on the first of them.
fn stack(root: &Path, count: usize) {
    let write = |name: &str, base: Option<&str>| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let base = base
            .map(|b| format!("base = \"../{b}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.join("staves.toml"),
            format!("name = \"{name}\"\n{base}packages = [\"bash\"]\n"),
        )
        .expect("spec");
    };
    write("base", None);
    for i in 0..count {
        write(&format!("app{i}"), Some("base"));
    }
    write("leaf", Some("app0"));
}

fn plan(root: &Path, format: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args(["plan", root.to_str().expect("utf8"), "--format", format])
        .args(extra)
        .output()
        .expect("staves plan");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn jobs(root: &Path) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_str(&plan(root, "json", &[])).expect("json");
    assert_eq!(json["version"], 1);
    json["jobs"].as_array().expect("jobs").clone()
}

#[test]
fn jobs_come_bases_first_and_keys_move_with_what_is_under_them() {
    let dir = tempfile::tempdir().expect("tmp");
    stack(dir.path(), 3);
    let all = jobs(dir.path());
    let ids: Vec<&str> = all.iter().filter_map(|j| j["id"].as_str()).collect();
    assert_eq!(ids.len(), 5);
    let at = |id: &str| ids.iter().position(|i| *i == id).expect("job");
    assert!(at("base") < at("app0") && at("app0") < at("leaf"));
    let job = |id: &str| all[at(id)].clone();
    assert_eq!(job("leaf")["needs"], serde_json::json!(["app0"]));
    assert_eq!(job("base")["needs"], serde_json::json!([]));
    assert_eq!(
        job("app1")["argv"],
        serde_json::json!([
            "staves",
            "stack",
            ".",
            "--only",
            "app1",
            "--job-key",
            job("app1")["key"]
        ])
    );

    // A lock for app0: its key and its child's move, nothing else's.
    std::fs::write(dir.path().join("app0/staves.lock"), "# a lock\n").expect("lock");
    let after = jobs(dir.path());
    let key = |jobs: &[serde_json::Value], id: &str| {
        jobs.iter().find(|j| j["id"] == id).expect("job")["key"].clone()
    };
    for (id, moved) in [
        ("base", false),
        ("app0", true),
        ("app1", false),
        ("leaf", true),
    ] {
        assert_eq!(key(&all, id) != key(&after, id), moved, "{id}");
    }

    // Options jobs need are carried into every command.
    let carried: serde_json::Value = serde_json::from_str(&plan(
        dir.path(),
        "json",
        &[
            "--push",
            "registry.example/team",
            "--insecure-registry",
            "127.0.0.1:5000",
        ],
    ))
    .expect("json");
    for job in carried["jobs"].as_array().expect("jobs") {
        let argv: Vec<&str> = job["argv"]
            .as_array()
            .expect("argv")
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        let key = job["key"].as_str().expect("key");
        assert!(argv.ends_with(&[
            "--push",
            "registry.example/team",
            "--insecure-registry",
            "127.0.0.1:5000",
            "--job-key",
            key
        ]));
    }
}

/// Validates each `---`-separated JSON document of `text` against `schema`.
fn validate(text: &str, schema: &str) {
    let check = r#"
import json, pathlib, sys
import jsonschema
schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
for doc in sys.stdin.read().split("\n---\n"):
    instance = json.loads(doc)
    jsonschema.validate(instance, schema, cls=jsonschema.Draft7Validator)
    if instance.get("kind") == "Job":
        assert instance["spec"]["completionMode"] == "Indexed"
"#;
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schemas")
        .join(schema);
    let mut child = Command::new("python3")
        .args(["-c", check])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "{schema:?}: {}", stderr(&out));
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs the Python tools scripts/test-all.sh installs; run with --features staves/online-tests"
)]
fn plans_are_valid_for_gitlab_github_and_kubernetes_small_and_wide() {
    for count in [18, 298] {
        let dir = tempfile::tempdir().expect("tmp");
        stack(dir.path(), count);
        validate(&plan(dir.path(), "gitlab", &[]), "gitlab-ci.json");
        let github = plan(dir.path(), "github", &[]);
        validate(&github, "github-workflow.json");
        let kubernetes = plan(
            dir.path(),
            "kubernetes",
            &["--image", "registry.example/staves:1"],
        );
        validate(&kubernetes, "kubernetes-job.json");
        // Three levels: base; its images; leaf. The wide one's middle level is split into
        // matrices of at most 256.
        let workflow: serde_json::Value = serde_json::from_str(&github).expect("json");
        let names: Vec<&String> = workflow["jobs"].as_object().expect("jobs").keys().collect();
        let expected = if count > 256 { 4 } else { 3 };
        assert_eq!(names.len(), expected, "{names:?}");
        for job in workflow["jobs"].as_object().expect("jobs").values() {
            let width = job["strategy"]["matrix"]["include"]
                .as_array()
                .map_or(0, Vec::len);
            assert!((1..=256).contains(&width));
        }
        assert_eq!(kubernetes.matches("\"kind\": \"Job\"").count(), 3);
    }
}

/// `--changed-since GIT_REF`: only the images whose inputs git sees changed since the
/// commit (the working tree's changes and new files included), and what is built on them.
#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs git, which the test command installs; run with --features staves/online-tests"
)]
fn changed_since_plans_what_a_change_touches_and_what_sits_on_it() {
    let dir = tempfile::tempdir().expect("tmp");
    stack(dir.path(), 3);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "stack"]);
    let changed = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--changed-since", "HEAD"];
        args.extend(extra);
        let json: serde_json::Value =
            serde_json::from_str(&plan(dir.path(), "json", &args)).expect("json");
        json["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .map(|j| j["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert!(changed(&[]).is_empty());
    // A new lock (untracked) for app0: app0 and leaf, on it; leaf needs nothing planned
    // but app0.
    std::fs::write(dir.path().join("app0/staves.lock"), "# a lock\n").expect("lock");
    assert_eq!(changed(&[]), ["app0", "leaf"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "lock"]);
    assert!(changed(&[]).is_empty());
    // The base's spec edited: everything.
    let base = dir.path().join("base/staves.toml");
    let text = std::fs::read_to_string(&base).expect("spec") + "# edited\n";
    std::fs::write(&base, text).expect("spec");
    assert_eq!(changed(&[]).len(), 5);
    git(&["commit", "-q", "-am", "base"]);
    // Against the commit before: the same, from history.
    let json: serde_json::Value =
        serde_json::from_str(&plan(dir.path(), "json", &["--changed-since", "HEAD~1"]))
            .expect("json");
    assert_eq!(json["jobs"].as_array().map(Vec::len), Some(5));
    let leaf = json["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["id"] == "leaf")
        .expect("leaf")
        .clone();
    assert_eq!(leaf["needs"], serde_json::json!(["app0"]));
    // A ref git does not know: a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_staves"))
        .args([
            "plan",
            dir.path().to_str().expect("utf8"),
            "--changed-since",
            "no-such-ref",
        ])
        .output()
        .expect("plan");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-ref"), "{}", stderr(&out));
    // `staves stack --changed-since` with nothing changed builds nothing.
    let out = support::staves_command(
        &[
            "stack",
            dir.path().to_str().expect("utf8"),
            "--changed-since",
            "HEAD",
        ],
        &dir.path().join("cache"),
    )
    .output()
    .expect("stack");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing changed since HEAD"),
        "{}",
        stderr(&out)
    );
}
