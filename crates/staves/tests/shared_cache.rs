//! The cache's shared tier in a registry (`--cache-registry`), as CI runners use it: a
//! stack's JSON plan executed level by level by three runners, each with its own empty
//! cache and one Debian docker-registry on 127.0.0.1 between them. What one runner builds —
//! the recipe two images share, every image — is built once and taken by the others; a
//! second run on fresh runners builds nothing and downloads no `.deb`; an entry damaged in
//! the registry is refused and built again, to the same bytes; two runners racing to keep
//! one key leave an entry a third takes.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::registry::{Auth, Registry};
use support::{examples, shared_cache, staves_command, stderr};

/// A stack in `root`: `sim-base`; `sim-web` and `sim-tool` on it, both with the recipe in
/// `recipe/`; `sim-leaf` on `sim-tool`.
fn stack(root: &Path) {
    let recipe = root.join("recipe");
    std::fs::create_dir_all(recipe.join("src")).expect("dir");
    let example = examples().join("recipe");
    std::fs::copy(
        example.join("url-status.toml"),
        recipe.join("url-status.toml"),
    )
    .expect("recipe");
    for file in ["Makefile", "README", "status.c"] {
        std::fs::copy(
            example.join("src").join(file),
            recipe.join("src").join(file),
        )
        .expect("source");
    }
    let write = |dir: &str, text: &str| {
        std::fs::create_dir_all(root.join(dir)).expect("dir");
        std::fs::write(root.join(dir).join("staves.toml"), text).expect("spec");
    };
    write("base", "name = \"sim-base\"\npackages = [\"dash\"]\n");
    write(
        "web",
        "name = \"sim-web\"\nbase = \"../base\"\npackages = [\"url-status\"]\nrecipes = [\"../recipe/url-status.toml\"]\n",
    );
    write(
        "tool",
        "name = \"sim-tool\"\nbase = \"../base\"\npackages = [\"url-status\", \"netbase\"]\nrecipes = [\"../recipe/url-status.toml\"]\n",
    );
    write(
        "leaf",
        "name = \"sim-leaf\"\nbase = \"../tool\"\npackages = [\"media-types\"]\n",
    );
}

/// One job of the plan.
struct Job {
    id: String,
    needs: Vec<String>,
    argv: Vec<String>,
}

fn plan(root: &Path, registry: &Registry, repository: &str) -> Vec<Job> {
    let cache_ref = format!("{}/{repository}", registry.host());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_staves"))
        .args([
            "plan",
            root.to_str().expect("utf8"),
            "--cache-registry",
            &cache_ref,
            "--insecure-registry",
            &registry.host(),
        ])
        .output()
        .expect("plan");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    json["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| Job {
            id: j["id"].as_str().expect("id").to_owned(),
            needs: j["needs"]
                .as_array()
                .expect("needs")
                .iter()
                .map(|n| n.as_str().expect("need").to_owned())
                .collect(),
            argv: j["argv"]
                .as_array()
                .expect("argv")
                .iter()
                .map(|a| a.as_str().expect("arg").to_owned())
                .collect(),
        })
        .collect()
}

/// What a run of the plan saw: every job's output, by job id.
type Run = BTreeMap<String, Output>;

/// Runs `jobs` as CI would: a level at a time (a job whose needs are done), its jobs
/// spread over `runners` (each a cache of its own), the runners at once. Every image's
/// layout goes to `out/NAME`.
fn execute(root: &Path, jobs: &[Job], runners: &[PathBuf], out: &Path) -> Run {
    let mut done: Run = BTreeMap::new();
    while done.len() < jobs.len() {
        let ready: Vec<&Job> = jobs
            .iter()
            .filter(|j| !done.contains_key(&j.id) && j.needs.iter().all(|n| done.contains_key(n)))
            .collect();
        assert!(!ready.is_empty(), "no job is ready");
        let outputs: Vec<(String, Output)> = std::thread::scope(|scope| {
            let handles: Vec<_> = runners
                .iter()
                .enumerate()
                .map(|(r, cache)| {
                    let mine: Vec<&Job> = ready
                        .iter()
                        .copied()
                        .skip(r)
                        .step_by(runners.len())
                        .collect();
                    scope.spawn(move || {
                        mine.into_iter()
                            .map(|job| {
                                let args: Vec<&str> =
                                    job.argv[1..].iter().map(String::as_str).collect();
                                let mut cmd = staves_command(&args, cache);
                                if !args.contains(&"--packages") {
                                    cmd.arg("-o").arg(out);
                                }
                                let output = cmd.current_dir(root).output().expect("job");
                                assert!(output.status.success(), "{}: {}", job.id, stderr(&output));
                                (job.id.clone(), output)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("runner"))
                .collect()
        });
        done.extend(outputs);
    }
    done
}

/// Status lines of `verb` in every job's output that mention `what`.
fn count(run: &Run, verb: &str, what: &str) -> usize {
    run.values()
        .flat_map(|o| {
            stderr(o)
                .lines()
                .filter(|l| l.trim_start().starts_with(verb) && l.contains(what))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .count()
}

/// Every job's status lines that mention `what`, for messages.
fn lines(run: &Run, what: &str) -> String {
    run.iter()
        .flat_map(|(id, o)| {
            stderr(o)
                .lines()
                .filter(|l| l.contains(what))
                .map(|l| format!("{id}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The digest each image's layout in `out` holds.
fn digests(out: &Path) -> BTreeMap<String, String> {
    ["sim-base", "sim-web", "sim-tool", "sim-leaf"]
        .iter()
        .map(|name| {
            let index: serde_json::Value = serde_json::from_slice(
                &std::fs::read(out.join(name).join("index.json")).expect("index"),
            )
            .expect("json");
            (
                (*name).to_owned(),
                index["manifests"][0]["digest"]
                    .as_str()
                    .expect("digest")
                    .to_owned(),
            )
        })
        .collect()
}

/// The packages of the `.deb`s a cache holds.
fn debs_in(cache: &Path) -> Vec<String> {
    support::walk(&cache.join("debs"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .map(|p| {
            let out = support::run(
                std::process::Command::new("dpkg-deb")
                    .arg("-f")
                    .arg(p)
                    .arg("Package"),
            );
            support::stdout(&out).trim().to_owned()
        })
        .collect()
}

fn runners(dir: &Path, pass: &str) -> Vec<PathBuf> {
    (0..3)
        .map(|i| {
            let cache = dir.join(format!("{pass}-runner{i}"));
            std::fs::create_dir_all(&cache).expect("cache");
            cache
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn three_runners_build_each_thing_once_through_a_cache_registry() {
    let registry = Registry::start_with(false, Auth::Anonymous);
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("stack");
    stack(&root);
    // Locked first (in the tests' own cache), as a repository's stack is.
    let out = staves_command(&["stack", root.to_str().expect("utf8")], &shared_cache())
        .output()
        .expect("stack");
    assert!(out.status.success(), "{}", stderr(&out));

    let jobs = plan(&root, &registry, "staves-cache");
    let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "recipe-url-status",
            "sim-base",
            "sim-leaf",
            "sim-tool",
            "sim-web"
        ],
        "the shared recipe is a job of its own"
    );
    let web = jobs.iter().find(|j| j.id == "sim-web").expect("web");
    assert_eq!(web.needs, ["sim-base", "recipe-url-status"]);

    // Cold: every runner's cache is empty, so is the registry.
    let cold_out = dir.path().join("cold");
    let cold = execute(&root, &jobs, &runners(dir.path(), "cold"), &cold_out);
    assert_eq!(
        count(&cold, "Building", "url-status"),
        1,
        "the recipe is built once across the runners"
    );
    for name in ["sim-base", "sim-web", "sim-tool", "sim-leaf"] {
        assert_eq!(
            count(&cold, "Built", &format!("{name}:latest")),
            1,
            "{name} is assembled once across the runners: {}",
            lines(&cold, "")
        );
    }
    assert!(count(&cold, "Shared", "") >= 2, "{}", lines(&cold, ""));
    let built = digests(&cold_out);

    // Warm: fresh runners build nothing and download no .deb: everything is shared.
    let warm_out = dir.path().join("warm");
    let warm_runners = runners(dir.path(), "warm");
    let warm = execute(&root, &jobs, &warm_runners, &warm_out);
    assert_eq!(count(&warm, "Building", ""), 0);
    assert_eq!(count(&warm, "Built", ":latest"), 0);
    // The only `.deb`s there are the recipe's, from the shared cache: none from Debian.
    for cache in &warm_runners {
        let debs = debs_in(cache);
        assert!(
            debs.iter().all(|p| p.starts_with("url-status")),
            "{} downloaded {debs:?}",
            cache.display()
        );
    }
    assert_eq!(digests(&warm_out), built);

    // An entry damaged in the registry's storage: refused, built again, the same bytes.
    let storage = registry
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256");
    let (damaged, blob) = damage_an_image_entry(&registry, "staves-cache", &storage);
    let again_out = dir.path().join("again");
    let again = execute(&root, &jobs, &runners(dir.path(), "again"), &again_out);
    assert!(
        count(&again, "Warning", "built here") >= 1,
        "the damaged entry {damaged} is reported: {again:?}"
    );
    assert_eq!(digests(&again_out), built);
    // Mended: the registry keeps one copy of a blob for every repository.
    flip_first_byte(&blob);

    // Two runners racing on one key of an empty repository, then a third taking it.
    let race = plan(&root, &registry, "staves-race");
    let base = race.iter().find(|j| j.id == "sim-base").expect("base");
    let racers = runners(dir.path(), "race");
    let root = root.as_path();
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = racers[..2]
            .iter()
            .map(|cache| {
                let args: Vec<&str> = base.argv[1..].iter().map(String::as_str).collect();
                scope.spawn(move || {
                    staves_command(&args, cache)
                        .current_dir(root)
                        .output()
                        .expect("racer")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer"))
            .collect()
    });
    for out in &outputs {
        assert!(out.status.success(), "{}", stderr(out));
    }
    let args: Vec<&str> = base.argv[1..].iter().map(String::as_str).collect();
    let third = staves_command(&args, &racers[2])
        .current_dir(root)
        .output()
        .expect("third");
    assert!(third.status.success(), "{}", stderr(&third));
    // The job is done (the racers said so): one request, nothing built.
    assert!(stderr(&third).contains("Skipped job"), "{}", stderr(&third));
    assert!(!stderr(&third).contains("Built"), "{}", stderr(&third));
    // With a layout to write, the job runs, and takes the image from the shared cache.
    let fourth = staves_command(&args, &racers[2])
        .arg("-o")
        .arg(dir.path().join("fourth"))
        .current_dir(root)
        .output()
        .expect("fourth");
    assert!(fourth.status.success(), "{}", stderr(&fourth));
    assert!(stderr(&fourth).contains("Shared"), "{}", stderr(&fourth));
    assert!(!stderr(&fourth).contains("Built"), "{}", stderr(&fourth));
}

/// Flips a byte of one blob of one image entry of `repository`; returns the entry's tag
/// and the blob's file.
fn damage_an_image_entry(
    registry: &Registry,
    repository: &str,
    storage: &Path,
) -> (String, PathBuf) {
    let tags_dir = registry
        .dir
        .path()
        .join("data/docker/registry/v2/repositories")
        .join(repository)
        .join("_manifests/tags");
    let tag = std::fs::read_dir(&tags_dir)
        .expect("tags")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|t| t.starts_with("image-"))
        .expect("an image entry");
    let link = std::fs::read_to_string(tags_dir.join(&tag).join("current/link")).expect("link");
    let manifest_hex = link.trim().trim_start_matches("sha256:").to_owned();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            storage
                .join(&manifest_hex[..2])
                .join(&manifest_hex)
                .join("data"),
        )
        .expect("manifest"),
    )
    .expect("json");
    let layer = manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .find(|l| {
            l["annotations"]["org.opencontainers.image.title"]
                .as_str()
                .is_some_and(|t| t.starts_with("blob-"))
        })
        .expect("a blob");
    let hex = layer["digest"].as_str().expect("digest")[7..].to_owned();
    let path = storage.join(&hex[..2]).join(&hex).join("data");
    flip_first_byte(&path);
    (tag, path)
}

fn flip_first_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("blob");
    bytes[0] ^= 0xff;
    std::fs::write(path, bytes).expect("damage");
}
