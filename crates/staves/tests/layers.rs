//! `layers = N` on the real archive and engine: a split image holds exactly the flat
//! image's file system and packages, runs, and dpkg finds it clean; two images holding the
//! same source packages share those layers byte for byte; a change to one package takes
//! every untouched layer from the cache instead of compressing it again.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use support::engine::container;
use support::{shared_cache, stderr, stdout};

fn staves(args: &[&str]) -> Output {
    let out = support::staves_command(args, &shared_cache())
        .output()
        .expect("run staves");
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

/// Writes a spec and builds it into `dir/NAME.tar`; the build's error output.
fn build(dir: &Path, name: &str, body: &str) -> String {
    // A label unique to this run: the whole-image cache must not answer, the layer cache may.
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let spec = dir.join(format!("{name}.toml"));
    std::fs::write(
        &spec,
        format!("name = \"{name}\"\nlabels = {{ run = \"{nonce}\" }}\n{body}"),
    )
    .expect("spec");
    let out = staves(&[
        "build",
        "-f",
        s(&spec),
        "-o",
        s(&dir.join(format!("{name}.tar"))),
    ]);
    stderr(&out)
}

/// The image's files (path → kind, mode, owner, size, link) and packages, as inspect lists
/// them. A hard link counts as the file it links (a split image copies what a script copies:
/// a link cannot reach into another layer); the SBOM, which names the image, is left out.
fn contents(archive: &Path) -> (BTreeMap<String, serde_json::Value>, serde_json::Value) {
    let out = support::run(
        std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
            .args(["inspect", "--files", "--json"])
            .arg(archive),
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let files: BTreeMap<String, serde_json::Value> = json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or_default().to_owned(), f.clone()))
        .collect();
    let resolved = files
        .iter()
        .filter(|(path, _)| !path.ends_with("/sbom.spdx.json"))
        .map(|(path, f)| {
            let target = f["link"].as_str().map(|t| format!("/{t}"));
            let f = match (f["kind"].as_str(), target.and_then(|t| files.get(&t))) {
                (Some("h"), Some(linked)) => {
                    let mut linked = linked.clone();
                    linked["path"] = path.clone().into();
                    linked
                }
                _ => f.clone(),
            };
            (path.clone(), f)
        })
        .collect();
    (resolved, json["packages"].clone())
}

/// The diff IDs of an image loaded from `archive` as `name`.
fn loaded_layers(archive: &Path, name: &str) -> Vec<String> {
    let loaded = container(&["load", "-i", s(archive)]);
    assert!(loaded.status.success(), "{}", stderr(&loaded));
    let out = container(&["inspect", "-f", "{{json .RootFS.Layers}}", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("layers")
}

/// The number of layers a build says it took from the cache (0 when it says nothing).
fn reused(log: &str) -> usize {
    log.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("Reused ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn split_images_hold_the_flat_system_share_layers_and_reuse_untouched_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let dir = dir.path();
    let python = "packages = [\"python3\"]\ncommand = [\"python3\", \"-c\", \"import ssl; print(open('/root/.profile').read()[:1], ssl.OPENSSL_VERSION)\"]\n";
    build(dir, "flat-python", python);
    build(dir, "split-python", &format!("layers = 8\n{python}"));

    // The same file system and packages, whatever the split.
    let (flat_files, flat_packages) = contents(&dir.join("flat-python.tar"));
    let (split_files, split_packages) = contents(&dir.join("split-python.tar"));
    assert!(flat_files.len() > 1000);
    let differ: Vec<_> = flat_files
        .iter()
        .filter(|(path, f)| split_files.get(*path) != Some(f))
        .map(|(path, f)| format!("{f} / {:?}", split_files.get(path)))
        .chain(
            split_files
                .keys()
                .filter(|p| !flat_files.contains_key(*p))
                .cloned(),
        )
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
    assert_eq!(split_packages, flat_packages);

    let split = loaded_layers(&dir.join("split-python.tar"), "split-python:latest");
    assert_eq!(split.len(), 8, "{split:?}");
    // It runs (a file a script copies lives in another layer than its source), and dpkg
    // finds every package's files where its database says.
    let ran = container(&["run", "--rm", "split-python:latest"]);
    assert!(ran.status.success(), "{}", stderr(&ran));
    assert!(stdout(&ran).starts_with("# OpenSSL 3"), "{}", stdout(&ran));
    for check in ["--verify", "--audit"] {
        let out = container(&[
            "run",
            "--rm",
            "--entrypoint",
            "/usr/bin/dpkg",
            "split-python:latest",
            check,
        ]);
        assert!(out.status.success(), "dpkg {check}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "dpkg {check}");
    }

    // One more small package: it joins the shared layer of small sources; every other
    // package layer is the same blob, taken from the cache, not compressed again.
    let log = build(
        dir,
        "split-python-hello",
        &format!(
            "layers = 8\n{}",
            python.replace("\"python3\"]", "\"python3\", \"hello\"]")
        ),
    );
    assert!(reused(&log) >= 6, "{log}");
    let other = loaded_layers(
        &dir.join("split-python-hello.tar"),
        "split-python-hello:latest",
    );
    let shared = other.iter().filter(|l| split.contains(l)).count();
    assert_eq!(shared, 6, "{split:?}\n{other:?}");
    // The generated layer (dpkg database, SBOM) is each image's own.
    assert_ne!(other.last(), split.last());
}
