//! Image stacks from the real Debian archive (host apt sources): `examples/stack` built in
//! one command, loaded into the engine and run; every child carries its base's layers at
//! the bottom, byte for byte; the dpkg database of a child lists base and own packages and
//! dpkg itself finds it clean; a base read from an OCI layout; and each way a stack is
//! refused, with one clear error.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::engine::container;
use support::{empty_image, examples, shared_cache, stderr, stdout};

fn staves(args: &[&str]) -> Output {
    support::staves_command(args, &shared_cache())
        .output()
        .expect("run staves")
}

fn ok(args: &[&str]) -> Output {
    let out = staves(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

/// The layer digests (diff IDs) of an image loaded into the engine.
fn layers(image: &str) -> Vec<String> {
    let out = container(&["inspect", "-f", "{{json .RootFS.Layers}}", image]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("layers")
}

/// Builds the spec `text` written at `dir/staves.toml`, which must fail; its error output.
fn refused(dir: &Path, text: &str) -> String {
    let spec = write(&dir.join("staves.toml"), text);
    let out = staves(&["build", "-f", s(&spec), "-o", s(&dir.join("out"))]);
    assert!(!out.status.success(), "built: {}", stderr(&out));
    stderr(&out)
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, text).expect("write");
    path.to_owned()
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn the_example_stack_builds_in_one_command_loads_and_runs_on_shared_layers() {
    let out_dir = tempfile::tempdir().expect("tmp");
    let stack = examples().join("stack");
    ok(&["stack", s(&stack), "-o", s(out_dir.path()), "--load"]);

    let base = layers("stack-base:latest");
    assert_eq!(base.len(), 1);
    for (child, depth) in [("stack-python", 2), ("stack-nginx", 2), ("stack-app", 3)] {
        let own = layers(&format!("{child}:latest"));
        assert_eq!(own.len(), depth, "{child}: {own:?}");
        assert_eq!(own[0], base[0], "{child} starts with the base's layer");
    }
    assert_eq!(
        layers("stack-app:latest")[1],
        layers("stack-python:latest")[1],
        "the app carries the python layer"
    );
    // The app runs as the base's account, with the base's certificates and environment.
    let ran = container(&["run", "--rm", "stack-app:latest"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    let said = stdout(&ran);
    assert!(said.starts_with("hello from app: "), "{said}");
    assert!(!said.contains(": 0 CA"), "{said}");
    assert!(said.contains("TZ=Etc/UTC"), "{said}");
    let nginx = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "nginx",
        "stack-nginx:latest",
        "-t",
    ]);
    assert!(nginx.status.success(), "{}", stderr(&nginx));

    // The same layer blob file, not a copy with other bytes, in every layout.
    let (_, base_blobs) = layout_layers(&out_dir.path().join("stack-base"));
    let (_, app_blobs) = layout_layers(&out_dir.path().join("stack-app"));
    assert_eq!(base_blobs[0], app_blobs[0]);

    // A child of the python image, from its OCI layout, with dpkg itself inside: it lists
    // the base's packages and its own, and verifies every file of all of them.
    let tmp = tempfile::tempdir().expect("tmp");
    let python_layout = out_dir.path().join("stack-python");
    let spec = write(
        &tmp.path().join("tools/staves.toml"),
        &format!(
            "name = \"stack-tools\"\nbase = \"{}\"\npackages = [\"dpkg\", \"dash\"]\n",
            python_layout.display()
        ),
    );
    ok(&["build", "-f", s(&spec), "--load"]);
    let tools = layers("stack-tools:latest");
    assert_eq!(tools[..2], layers("stack-python:latest")[..]);
    let listed = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "dpkg-query",
        "stack-tools:latest",
        "-W",
        "-f",
        "${db:Status-Abbrev}${Package}\\n",
    ]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed = stdout(&listed);
    for package in [
        "base-files",
        "libc6",
        "ca-certificates",
        "tzdata",
        "python3",
        "dpkg",
        "dash",
    ] {
        assert!(
            listed.lines().any(|l| l == format!("ii {package}")),
            "{package}: {listed}"
        );
    }
    assert!(listed.lines().all(|l| l.starts_with("ii ")), "{listed}");
    let verify = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "dpkg",
        "stack-tools:latest",
        "--verify",
    ]);
    assert!(
        verify.status.success() && stdout(&verify).is_empty(),
        "{}{}",
        stdout(&verify),
        stderr(&verify)
    );
    let audit = container(&[
        "run",
        "--rm",
        "--entrypoint",
        "dpkg",
        "stack-tools:latest",
        "--audit",
    ]);
    assert!(
        audit.status.success() && stdout(&audit).is_empty(),
        "{}",
        stdout(&audit)
    );
    for image in [
        "stack-tools",
        "stack-app",
        "stack-nginx",
        "stack-python",
        "stack-base",
    ] {
        container(&["rmi", &format!("{image}:latest")]);
    }
}

/// The config and layer digests of a layout's only image.
fn layout_layers(layout: &Path) -> (String, Vec<String>) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .expect("manifest"),
    )
    .expect("json");
    let layers = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().expect("digest").to_owned())
        .collect();
    (digest, layers)
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_stack_is_refused_with_one_clear_error_for_each_mistake() {
    let tmp = tempfile::tempdir().expect("tmp");
    // A circle of bases, found before anything is fetched.
    let circle = tmp.path().join("circle");
    write(
        &circle.join("a/staves.toml"),
        "name = \"a\"\nbase = \"../b\"\npackages = [\"bash\"]\n",
    );
    write(
        &circle.join("b/staves.toml"),
        "name = \"b\"\nbase = \"../a\"\npackages = [\"bash\"]\n",
    );
    let out = staves(&["stack", s(&circle), "--offline"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("a is built on b is built on a"),
        "{}",
        stderr(&out)
    );
    // `--only` names an image the stack lacks.
    write(
        &circle.join("b/staves.toml"),
        "name = \"b\"\npackages = [\"bash\"]\n",
    );
    let out = staves(&["stack", s(&circle), "--only", "c", "--offline"]);
    assert!(
        stderr(&out).contains("no image of the stack is named `c`; it has: a, b"),
        "{}",
        stderr(&out)
    );

    // A base with no dpkg database: an empty image made by umoci.
    let empty = tmp.path().join("empty");
    empty_image(&empty);
    let err = refused(
        &tmp.path().join("on-empty"),
        &format!(
            "name = \"on-empty\"\nbase = \"{}\"\npackages = [\"bash\"]\n",
            empty.display()
        ),
    );
    assert!(err.contains("has no dpkg database"), "{err}");

    // A request the base's installed version cannot meet names the base image.
    let base_layout = tmp.path().join("base-layout");
    ok(&[
        "build",
        "-f",
        s(&examples().join("stack/base/staves.toml")),
        "-o",
        s(&base_layout),
    ]);
    let err = refused(
        &tmp.path().join("newer"),
        &format!(
            "name = \"newer\"\nbase = \"{}\"\npackages = [\"libc6 (>> 99)\"]\n",
            base_layout.display()
        ),
    );
    assert!(
        err.contains("libc6")
            && err.contains("installed in the base image")
            && err.contains(">> 99"),
        "{err}"
    );

    // A lock made on one base is refused with `--locked` once the base has moved.
    let spec = write(
        &tmp.path().join("locked/staves.toml"),
        &format!(
            "name = \"locked\"\nbase = \"{}\"\npackages = [\"bash\"]\n",
            base_layout.display()
        ),
    );
    ok(&["lock", "-f", s(&spec)]);
    ok(&[
        "build",
        "-f",
        s(&spec),
        "--locked",
        "-o",
        s(&tmp.path().join("z1")),
    ]);
    let moved = write(
        &tmp.path().join("moved/staves.toml"),
        "name = \"stack-base\"\npackages = [\"libc6\", \"ca-certificates\", \"tzdata\", \"netbase\", \"zlib1g\"]\nexclude = [\"dash\"]\n",
    );
    ok(&["build", "-f", s(&moved), "-o", s(&base_layout)]);
    let out = staves(&[
        "build",
        "-f",
        s(&spec),
        "--locked",
        "-o",
        s(&tmp.path().join("z2")),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("staves.lock"), "{}", stderr(&out));
}
