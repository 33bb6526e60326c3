//! The pipeline without a terminal: a spec on a `file:` repository written here, resolved
//! through the library, with what it reports collected.

use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use staves_pipeline::{PipelineError, Reporter, Workspace, WorkspaceOptions};

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);

impl Reporter for Collect {
    fn status(&self, verb: &str, message: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{verb} {message}"));
    }
    fn warning(&self, message: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("warning {message}"));
    }
    fn downloads(&self, _label: &'static str) -> Arc<dyn staves_repo::Progress> {
        Arc::new(staves_repo::NoProgress)
    }
    fn uploads(&self, _label: &'static str) -> Arc<dyn staves_registry::Progress> {
        staves_pipeline::NoReporter.uploads("")
    }
}

/// A trusted `file:` repository holding `packages` (control paragraphs) for the host's
/// architecture.
fn repository(root: &Path, packages: &str) {
    let arch = staves_deb::arch::host();
    let index = root.join(format!("dists/s/main/binary-{arch}"));
    std::fs::create_dir_all(&index).expect("dirs");
    std::fs::write(index.join("Packages"), packages).expect("Packages");
    let release = format!(
        "Suite: s\nCodename: s\nArchitectures: {arch}\nComponents: main\nSHA256:\n {} {} main/binary-{arch}/Packages\n",
        hex::encode(Sha256::digest(packages)),
        packages.len()
    );
    std::fs::write(root.join("dists/s/Release"), release).expect("Release");
}

fn paragraph(name: &str, depends: &str) -> String {
    format!(
        "Package: {name}\nVersion: 1\nArchitecture: {}\nDepends: {depends}\nFilename: pool/{name}.deb\nSize: 1\nSHA256: {}\n\n",
        staves_deb::arch::host(),
        "0".repeat(64)
    )
    .replace("Depends: \n", "")
}

fn open(dir: &Path, extra: &str) -> (Result<Workspace, PipelineError>, Arc<Collect>) {
    let spec = dir.join("staves.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"t\"\npackages = [\"app\"]\n{extra}\n[[repositories]]\nname = \"local\"\nuri = \"file:{}\"\nsuite = \"s\"\ntrusted = true\n",
            dir.join("repo").display()
        ),
    )
    .expect("spec");
    let reporter = Arc::new(Collect::default());
    let options = WorkspaceOptions {
        file: spec,
        cache: dir.join("cache"),
        ..WorkspaceOptions::default()
    };
    (Workspace::load(&options, reporter.clone()), reporter)
}

#[test]
fn resolves_and_reports_through_the_reporter() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = paragraph("app", "lib, tool") + &paragraph("lib", "") + &paragraph("tool", "");
    repository(&dir.path().join("repo"), &text);
    let (workspace, reporter) = open(dir.path(), "exclude = [\"tool\"]");
    let workspace = workspace.expect("loads");
    let lock = workspace.resolve(&workspace.selected).expect("resolves");
    let names = names(&lock);
    assert_eq!(names, ["app", "lib"]);
    let said = reporter.0.lock().expect("lock").clone();
    assert!(
        said.iter()
            .any(|l| l.starts_with("Excluded tool (a dependency of app)")),
        "{said:?}"
    );
}

#[test]
fn an_architecture_outside_archs_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"t\"\npackages = [\"app\"]\narchs = [\"amd64\", \"arm64\"]\n",
    )
    .expect("spec");
    let options = WorkspaceOptions {
        file: spec,
        cache: dir.path().join("cache"),
        arch: Some("riscv64".into()),
        ..WorkspaceOptions::default()
    };
    let error = Workspace::load(&options, Arc::new(staves_pipeline::NoReporter))
        .err()
        .expect("refused");
    assert!(
        matches!(error, PipelineError::ArchNotInSpec { ref arch, .. } if arch == "riscv64"),
        "{error}"
    );
}

#[test]
fn on_a_base_its_packages_are_kept_and_its_digest_locks() {
    let dir = tempfile::tempdir().expect("tmp");
    let text = paragraph("app", "lib, tool") + &paragraph("lib", "") + &paragraph("tool", "");
    repository(&dir.path().join("repo"), &text);
    let (workspace, _) = open(dir.path(), "");
    let mut workspace = workspace.expect("loads");
    let lock = workspace.resolve(&workspace.selected).expect("resolves");
    lock.write(&workspace.lock_path()).expect("lock");
    assert!(workspace.matching_lock(true).expect("reads").is_some());

    let status = format!(
        "Package: lib\nStatus: install ok installed\nVersion: 1\nArchitecture: {}\n\n",
        staves_deb::arch::host()
    );
    let base = staves_pipeline::base::BaseImage {
        name: "base".into(),
        arch: staves_deb::arch::host().into(),
        digest: Some(format!("sha256:{}", "a".repeat(64))),
        accounts: staves_image::Accounts::debian_base(),
        config: serde_json::Value::Null,
        below: Default::default(),
        layout: dir.path().to_owned(),
        system: Arc::new(staves_image::Base {
            status,
            ..Default::default()
        }),
        packages: Vec::new(),
    };
    workspace.on_base(vec![Arc::new(base)]);
    // The lock was made without that base: stale now.
    assert!(matches!(
        workspace.matching_lock(true),
        Err(PipelineError::StaleLock { missing: false, .. })
    ));
    let lock = workspace.resolve(&workspace.selected).expect("resolves");
    let names = names(&lock);
    assert_eq!(names, ["app", "tool"], "lib comes from the base");
}

/// The names of the first target's packages, in the lock's order.
fn names(lock: &staves_resolve::Lockfile) -> Vec<&str> {
    lock.targets[0]
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect()
}
