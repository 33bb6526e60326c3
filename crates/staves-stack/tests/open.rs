//! A spec built on a base through the public API alone: `open_workspace` builds the base spec
//! first and the image holds both; the pipeline refuses a workspace that was loaded without
//! its base rather than build an image that silently lacks it. Real `.deb`s in a `file:`
//! repository written here, so nothing leaves the machine.

use std::path::Path;
use std::sync::Arc;

use staves_pipeline::{
    BuildOptions, NoReporter, Output, PipelineError, Workspace, WorkspaceOptions,
};
use staves_stack::StackOptions;
use staves_test_support::fixtures::{deb, repository};

fn spec(dir: &Path, name: &str, base: &str, package: &str, repo: &Path) {
    std::fs::create_dir_all(dir).expect("dir");
    std::fs::write(
        dir.join("staves.toml"),
        format!(
            "name = \"{name}\"\n{base}packages = [\"{package}\"]\nexclude = [\"base-files\"]\n\n[[repositories]]\nname = \"local\"\nuri = \"file:{}\"\nsuite = \"s\"\ntrusted = true\n",
            repo.display()
        ),
    )
    .expect("spec");
}

#[test]
fn a_spec_on_a_base_builds_through_the_library_and_never_without_its_base() {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = dir.path().join("repo");
    let work = dir.path().join("debs");
    std::fs::create_dir_all(&work).expect("work");
    repository(
        &repo,
        &[
            deb(&work, "runtime", "usr/share/runtime/runtime.txt", ""),
            deb(&work, "app", "usr/share/app/app.txt", "runtime"),
        ],
    );
    spec(&dir.path().join("base"), "base", "", "runtime", &repo);
    let app = dir.path().join("app");
    spec(&app, "app", "base = \"../base\"\n", "app", &repo);
    let options = WorkspaceOptions {
        file: app.join("staves.toml"),
        cache: dir.path().join("cache"),
        ..WorkspaceOptions::default()
    };

    // Loaded alone, the workspace has no base: resolving it is refused, not done without.
    let alone = Workspace::load(&options, Arc::new(NoReporter)).expect("loads");
    match alone.resolve(&alone.selected) {
        Err(PipelineError::BaseNotOpened { .. }) => {}
        Err(other) => panic!("another error: {other}"),
        Ok(lock) => panic!("resolved without the base: {lock:?}"),
    }

    let bases = StackOptions {
        cache: options.cache.clone(),
        arch: None,
        network: Default::default(),
        output: dir.path().join("unused"),
        archives: false,
        jobs: 2,
        compression: staves_oci::LayerCompression::Gzip,
        locked: false,
        parallel: 1,
        registry: Default::default(),
        build_limits: Default::default(),
        source_date_epoch: None,
        shared: None,
        net: Default::default(),
    };
    let opened =
        staves_stack::open_workspace(&options, &bases, Arc::new(NoReporter)).expect("opens");
    let lock = opened.resolve(&opened.selected).expect("resolves");
    let names: Vec<&str> = lock
        .targets
        .iter()
        .flat_map(|t| t.packages.iter().map(|p| p.name.as_str()))
        .collect();
    assert_eq!(names, ["app"], "the base's runtime is not resolved again");
    let layout = dir.path().join("layout");
    staves_pipeline::build(
        &opened,
        &BuildOptions {
            names: vec![staves_registry::ImageName::parse("app").expect("name")],
            output: Output::Layout(layout.clone()),
            context: app.clone(),
            jobs: 2,
            compression: staves_oci::LayerCompression::Gzip,
            locked: false,
            sbom: false,
            fresh: false,
            source_date_epoch: None,
        },
    )
    .expect("builds");
    let image = staves_oci::ImageReader::open(&layout, None, None).expect("image");
    let tree = image.tree(&[], 0).expect("tree");
    for file in ["/usr/share/runtime/runtime.txt", "/usr/share/app/app.txt"] {
        assert!(
            tree.files.contains_key(file),
            "{file} in {:?}",
            tree.files.keys()
        );
    }
    assert!(
        image.layer_count() >= 2,
        "the base's layers, then the app's"
    );
}
