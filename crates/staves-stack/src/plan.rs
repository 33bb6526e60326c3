//! A stack as jobs for the CI engines teams already run: one job per image, needing the
//! job of its base (and of the source builds and recipes it shares with other images),
//! each running one `staves stack DIR --only NAME` from the stack's directory, with a key of all its inputs (spec, lock, recipes and local `.deb`s, the
//! files `[[paths]]` copies in, the base's key) that changes whenever what it builds
//! may. Rendered as the graph itself (JSON), a GitLab child pipeline, a GitHub Actions
//! workflow (a job per level, a matrix of its images) or Kubernetes Indexed Jobs (one per
//! level, applied in order). No scheduler: the engines schedule.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Stack, StackError};

/// GitHub expands a matrix to at most this many jobs.
pub const GITHUB_MATRIX_LIMIT: usize = 256;

/// One job of a plan.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Job {
    /// The image's name, as engines accept a job name.
    pub id: String,
    /// The jobs that must finish first.
    pub needs: Vec<String>,
    /// The command, run from the stack's directory.
    pub argv: Vec<String>,
    /// SHA-256 of everything the job's image is made from.
    pub key: String,
    /// Its depth: 0 for an image on no image of the stack.
    #[serde(skip)]
    pub level: usize,
}

/// The stack's jobs, bases first.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Always 1.
    pub version: u32,
    /// The jobs.
    pub jobs: Vec<Job>,
}

/// Plans `stack`, found in `dir` (what each job's command names). `extra` options
/// (`--insecure-registry`, `--cache-registry`, …) are carried into every command, `push`
/// (`--push PREFIX`) into every image's.
///
/// A recipe (by file) or a package built from source (by name) that several images build
/// gets a job of its own, `staves stack DIR --only NAME --packages` for the first image
/// using it, that those images' jobs need: with a shared cache, it is built once and every
/// image's job takes it from there, instead of each racing to build it.
pub fn plan(
    stack: &Stack,
    dir: &str,
    extra: &[String],
    push: Option<&str>,
) -> Result<Plan, StackError> {
    let order = stack.order(&[])?;
    let mut keys: Vec<Option<String>> = vec![None; stack.nodes.len()];
    let mut levels = vec![0usize; stack.nodes.len()];
    let mut jobs = Vec::new();
    let shared = shared_builds(stack, &order)?;
    for build in &shared {
        let mut argv = vec![
            "staves".to_owned(),
            "stack".to_owned(),
            dir.to_owned(),
            "--only".to_owned(),
            stack.nodes[build.first].name.clone(),
            "--packages".to_owned(),
        ];
        argv.extend(extra.iter().cloned());
        argv.extend(["--job-key".to_owned(), build.key.clone()]);
        jobs.push(Job {
            id: build.id.clone(),
            needs: Vec::new(),
            argv,
            key: build.key.clone(),
            level: 0,
        });
    }
    for index in order {
        let node = &stack.nodes[index];
        let base = stack.base_of(index);
        let mut hasher = Sha256::new();
        hasher.update(b"staves-plan 1\n");
        inputs_of(&node.spec)?.hash_into(&mut hasher);
        let mut needs: Vec<String> = Vec::new();
        if let Some(base) = base {
            hasher.update(keys[base].as_deref().unwrap_or_default().as_bytes());
            levels[index] = levels[base] + 1;
            needs.push(job_id(&stack.nodes[base].name));
        }
        for build in shared.iter().filter(|b| b.users.contains(&index)) {
            levels[index] = levels[index].max(1);
            needs.push(build.id.clone());
        }
        let key = hex::encode(hasher.finalize());
        keys[index] = Some(key.clone());
        let mut argv = vec![
            "staves".to_owned(),
            "stack".to_owned(),
            dir.to_owned(),
            "--only".to_owned(),
            node.name.clone(),
        ];
        if let Some(prefix) = push {
            argv.extend(["--push".to_owned(), prefix.to_owned()]);
        }
        argv.extend(extra.iter().cloned());
        argv.extend(["--job-key".to_owned(), key.clone()]);
        let id = job_id(&node.name);
        // Two names that become one job name would make one job of two images.
        if id.is_empty() || jobs.iter().any(|j: &Job| j.id == id) {
            return Err(StackError::JobName {
                image: node.name.clone(),
                id,
            });
        }
        jobs.push(Job {
            id,
            needs,
            argv,
            key,
            level: levels[index],
        });
    }
    Ok(Plan { version: 1, jobs })
}

/// A build several images share.
struct SharedBuild {
    /// Its job's id: `recipe-NAME` or `source-NAME`.
    id: String,
    /// The images that build it; the first is the one its job names.
    users: Vec<usize>,
    first: usize,
    /// SHA-256 of what it is built from: what it is, and every input of the first user.
    key: String,
}

/// The recipes (by file) and source builds (by package) more than one image builds.
fn shared_builds(stack: &Stack, order: &[usize]) -> Result<Vec<SharedBuild>, StackError> {
    let mut by_what: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for &index in order {
        let spec = staves_spec::Spec::load(&stack.nodes[index].spec)?;
        let dir = spec.base_dir().to_owned();
        for recipe in &spec.recipes {
            let path = dir.join(recipe.get_ref());
            let path = path.canonicalize().unwrap_or(path);
            by_what
                .entry(format!("recipe {}", path.display()))
                .or_default()
                .push(index);
        }
        for name in spec.source_builds() {
            by_what
                .entry(format!("source {name}"))
                .or_default()
                .push(index);
        }
    }
    let mut shared = Vec::new();
    for (what, users) in by_what {
        if users.len() < 2 {
            continue;
        }
        let (kind, target) = what.split_once(' ').unwrap_or(("", &what));
        let stem = Path::new(target)
            .file_stem()
            .map_or_else(|| target.to_owned(), |s| s.to_string_lossy().into_owned());
        let mut id = format!("{kind}-{}", job_id(&stem));
        while shared.iter().any(|b: &SharedBuild| b.id == id) {
            id.push_str("-x");
        }
        // The job builds every package of the first user's spec: all its inputs count.
        let mut hasher = Sha256::new();
        hasher.update(what.as_bytes());
        inputs_of(&stack.nodes[users[0]].spec)?.hash_into(&mut hasher);
        shared.push(SharedBuild {
            id,
            first: users[0],
            users,
            key: hex::encode(hasher.finalize()),
        });
    }
    Ok(shared)
}

/// The name a job's completion is kept under in the shared cache: its plan key with what
/// else decides what the job does (the images, whether packages only, where it pushes) and
/// the Staves version that ran it. A job finding it there has nothing to do.
pub fn done_marker(key: &str, only: &[String], packages: bool, push: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "staves-job 1 {}\n{key}\n{only:?}\n{packages}\n{push:?}\n",
        env!("CARGO_PKG_VERSION")
    ));
    hex::encode(hasher.finalize())
}

/// A job name every engine takes: lower-case letters, digits and `-`.
fn job_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    id.trim_matches('-').to_owned()
}

/// Feeds `path`'s content to `hasher`: a file's bytes (streamed: a `[[paths]]` source may
/// be large), a directory's entries by name and content in order, a link's target; nothing
/// for what is missing. A job's key must move with a recipe's source tree, or a job marker
/// would skip a build whose sources changed.
fn hash_content(path: &Path, kept: &[PathBuf], hasher: &mut Sha256) {
    if kept.iter().any(|k| k == path) {
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_symlink() {
        if let Ok(target) = std::fs::read_link(path) {
            hasher.update(b"link ");
            hasher.update(target.display().to_string().as_bytes());
        }
    } else if meta.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            hasher.update(b"entry ");
            hasher.update(name.as_encoded_bytes());
            hash_content(&path.join(&name), kept, hasher);
        }
    } else {
        let mut content = Sha256::new();
        if let Ok(mut reader) = std::fs::File::open(path)
            && std::io::copy(&mut reader, &mut content).is_ok()
        {
            hasher.update(content.finalize());
        }
    }
}

/// What an image is made of (paths as the spec names them), and the build caches inside
/// recipes' source directories, which are not.
pub(crate) struct Inputs {
    /// The spec and lock, each recipe with its lock files and the directory it builds from,
    /// local `.deb`s, and the files `[[paths]]` copies in.
    pub files: Vec<PathBuf>,
    /// Build caches (`cache = ["target"]`) below those directories.
    pub kept: Vec<PathBuf>,
}

impl Inputs {
    /// Every input's name and content into `hasher`, build caches left out.
    fn hash_into(&self, hasher: &mut Sha256) {
        for file in &self.files {
            hasher.update(file.display().to_string().as_bytes());
            hash_content(file, &self.kept, hasher);
        }
    }
}

/// What an image is made of. The plan's keys hash it; `--changed-since` looks for its files
/// among what git says changed.
pub(crate) fn inputs_of(spec_path: &Path) -> Result<Inputs, StackError> {
    let spec = staves_spec::Spec::load(spec_path)?;
    let dir = spec.base_dir().to_owned();
    let mut files = vec![spec_path.to_owned(), dir.join("staves.lock")];
    let mut kept = Vec::new();
    for recipe in &spec.recipes {
        let path = dir.join(recipe.get_ref());
        if let Ok(loaded) = staves_spec::recipe::Recipe::load(&path) {
            files.extend(loaded.lock_files());
            if let Some(source) = loaded.source_dir() {
                kept.extend(
                    loaded
                        .cache
                        .iter()
                        .filter(|c| !c.get_ref().starts_with("~/"))
                        .map(|c| source.join(c.get_ref().trim_end_matches('/'))),
                );
                files.push(source);
            }
        }
        files.push(path);
    }
    for deb in &spec.debs {
        files.push(dir.join(deb.get_ref()));
    }
    for path in &spec.paths {
        if let Some(source) = &path.source {
            files.push(dir.join(source.get_ref()));
        }
    }
    Ok(Inputs { files, kept })
}

impl Plan {
    /// Keeps only the jobs of the images `nodes` of `stack` (and the package jobs they
    /// need); a need of a job left out is dropped — what it built is in the caches — and
    /// levels are counted again.
    pub fn only(&mut self, stack: &Stack, nodes: &[usize]) {
        let images: Vec<String> = nodes
            .iter()
            .map(|&i| job_id(&stack.nodes[i].name))
            .collect();
        let needed: std::collections::HashSet<String> = self
            .jobs
            .iter()
            .filter(|j| images.contains(&j.id))
            .flat_map(|j| j.needs.iter().cloned())
            .collect();
        let is_image = |id: &str| stack.nodes.iter().any(|n| job_id(&n.name) == id);
        self.jobs
            .retain(|j| images.contains(&j.id) || (!is_image(&j.id) && needed.contains(&j.id)));
        let kept: Vec<String> = self.jobs.iter().map(|j| j.id.clone()).collect();
        let mut levels: std::collections::HashMap<String, usize> = Default::default();
        for job in &mut self.jobs {
            job.needs.retain(|n| kept.contains(n));
            job.level = job
                .needs
                .iter()
                .filter_map(|n| levels.get(n))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            levels.insert(job.id.clone(), job.level);
        }
    }

    /// The jobs by level: each level's jobs need only jobs of earlier levels.
    pub fn levels(&self) -> Vec<Vec<&Job>> {
        let depth = self.jobs.iter().map(|j| j.level + 1).max().unwrap_or(0);
        let mut levels: Vec<Vec<&Job>> = vec![Vec::new(); depth];
        for job in &self.jobs {
            levels[job.level].push(job);
        }
        levels
    }

    /// The graph itself: `{"version": 1, "jobs": [{id, needs, argv, key}]}`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A GitLab child pipeline (JSON is YAML): a job per image with its `needs`, in one
    /// stage, `image` the runner image with staves in it, each run in `dir` (the stack's
    /// directory in the checkout).
    pub fn to_gitlab(&self, image: &str, dir: &str) -> Value {
        let mut pipeline = serde_json::Map::new();
        pipeline.insert("stages".into(), json!(["build"]));
        for job in &self.jobs {
            pipeline.insert(
                job.id.clone(),
                json!({
                    "stage": "build",
                    "image": image,
                    "script": [format!("cd {}", shell_line(&[dir.to_owned()])), shell_line(&job.argv)],
                    "needs": job.needs,
                    "variables": { "STAVES_JOB_KEY": job.key },
                }),
            );
        }
        Value::Object(pipeline)
    }

    /// A GitHub Actions workflow: a job per level (chunked by the matrix limit), whose
    /// matrix is that level's images, each level needing the one before, run in `dir`.
    pub fn to_github(&self, runs_on: &str, dir: &str) -> Value {
        let mut jobs = serde_json::Map::new();
        let mut previous: Vec<String> = Vec::new();
        for (depth, level) in self.levels().iter().enumerate() {
            let mut names = Vec::new();
            for (part, chunk) in level.chunks(GITHUB_MATRIX_LIMIT).enumerate() {
                let name = format!("level-{depth}-{part}");
                let include: Vec<Value> = chunk
                    .iter()
                    .map(|j| json!({ "image": j.id, "command": shell_line(&j.argv), "key": j.key }))
                    .collect();
                let mut job = json!({
                    "runs-on": runs_on,
                    "strategy": { "fail-fast": false, "matrix": { "include": include } },
                    "steps": [
                        { "uses": "actions/checkout@v4" },
                        {
                            "name": "${{ matrix.image }}",
                            "run": "${{ matrix.command }}",
                            "working-directory": dir,
                        },
                    ],
                });
                if !previous.is_empty()
                    && let Some(map) = job.as_object_mut()
                {
                    map.insert("needs".into(), json!(previous));
                }
                jobs.insert(name.clone(), job);
                names.push(name);
            }
            previous = names;
        }
        json!({
            "name": "staves",
            "on": { "workflow_dispatch": {}, "push": {} },
            "jobs": jobs,
        })
    }

    /// Kubernetes: an Indexed Job per level (`JOB_COMPLETION_INDEX` picks the image), to be
    /// applied in order, each after the one before completes (`kubectl wait`).
    pub fn to_kubernetes(&self, image: &str, name: &str) -> Vec<Value> {
        self.levels()
            .iter()
            .enumerate()
            .map(|(depth, level)| {
                let mut cases = String::from("case \"$JOB_COMPLETION_INDEX\" in\n");
                for (index, job) in level.iter().enumerate() {
                    cases.push_str(&format!("  {index}) exec {} ;;\n", shell_line(&job.argv)));
                }
                cases.push_str("  *) exit 2 ;;\nesac\n");
                json!({
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": format!("{}-level-{depth}", job_id(name)),
                        "labels": { "app.kubernetes.io/managed-by": "staves" },
                        "annotations": { "staves.dev/level": depth.to_string() },
                    },
                    "spec": {
                        "completionMode": "Indexed",
                        "completions": level.len(),
                        "parallelism": level.len(),
                        "backoffLimit": 2,
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{
                                    "name": "staves",
                                    "image": image,
                                    "command": ["sh", "-c", cases],
                                }],
                            },
                        },
                    },
                })
            })
            .collect()
    }
}

/// `argv` as one shell command line, each word quoted where it must be.
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
            if plain {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_names_that_make_one_job_name_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        for (sub, name) in [("a", "web_app"), ("b", "web-app")] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("dir");
            std::fs::write(
                dir.path().join(sub).join("staves.toml"),
                format!("name = \"{name}\"\npackages = [\"bash\"]\n"),
            )
            .expect("spec");
        }
        let stack = Stack::discover(dir.path()).expect("discovers");
        assert!(matches!(
            plan(&stack, ".", &[], None),
            Err(StackError::JobName { ref id, .. }) if id == "web-app"
        ));
    }

    #[test]
    fn job_ids_and_command_lines_are_safe_for_every_engine() {
        assert_eq!(job_id("Stack_Base.1"), "stack-base-1");
        assert_eq!(
            shell_line(&["staves".into(), "a b".into(), "it's".into()]),
            "staves 'a b' 'it'\\''s'"
        );
    }
}
