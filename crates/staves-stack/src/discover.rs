//! Finding a stack's specs and the graph their `base` keys make.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use staves_spec::{BaseRef, Spec};

use crate::error::StackError;

/// A file listing a workspace's specs (`members = ["base", "apps/web"]`), where walking
/// the directory tree would find too much or the wrong order of names matters.
pub const WORKSPACE_FILE: &str = "staves-workspace.toml";

/// The spec file a directory holds.
const SPEC_FILE: &str = "staves.toml";

/// What an image is built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// Another image of the stack (its index in [`Stack::nodes`]).
    Spec(usize),
    /// An OCI image layout.
    Layout(PathBuf),
    /// A registry image pinned by digest.
    Registry {
        /// `registry/repository`.
        name: String,
        /// `sha256:…`.
        digest: String,
    },
    /// An image in an engine's local store.
    Engine {
        /// `docker` or `podman`.
        engine: String,
        /// Its name there.
        name: String,
    },
}

/// One image of the stack.
#[derive(Debug, Clone)]
pub struct Node {
    /// The image's name (the spec's `name`).
    pub name: String,
    /// Its spec file.
    pub spec: PathBuf,
    /// What it is built on.
    pub base: Option<BaseSource>,
}

/// The specs of a stack and what each is built on.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Every image, in the order found (a spec's base may come after it).
    pub nodes: Vec<Node>,
    /// The registry repository the workspace file's `[cache] registry` names as the
    /// cache's shared tier.
    pub cache_registry: Option<String>,
    /// The stack's directory: the build context of every spec inside it, so that images
    /// may share a recipe (or files `[[paths]]` copies in) kept beside them.
    pub root: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkspaceFile {
    members: Vec<String>,
    #[serde(default)]
    cache: CacheSection,
}

/// `[cache]` of a workspace file.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    /// `HOST[:PORT]/NAME`: the shared tier every build of the workspace uses.
    registry: Option<String>,
}

impl Stack {
    /// The stack at `root`: a spec file (with the specs it is built on), a directory with a
    /// [`WORKSPACE_FILE`], or a directory tree whose `staves.toml` files are its images.
    /// A spec named as a base is part of the stack even when it lies outside `root`.
    pub fn discover(root: &Path) -> Result<Stack, StackError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StackError::Io { path, source }
        };
        let mut cache_registry = None;
        let mut pending: Vec<PathBuf> = if root.is_file() {
            vec![root.to_owned()]
        } else if root.join(WORKSPACE_FILE).is_file() {
            let file = root.join(WORKSPACE_FILE);
            let text = std::fs::read_to_string(&file).map_err(io(&file))?;
            let parsed: WorkspaceFile =
                toml::from_str(&text).map_err(|e| StackError::Workspace {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
            cache_registry = parsed.cache.registry;
            parsed
                .members
                .iter()
                .map(|m| spec_file(&root.join(m)))
                .collect()
        } else {
            let mut found = staves_fs::files_named(root, SPEC_FILE).map_err(io(root))?;
            found.sort();
            found
        };
        if pending.is_empty() {
            return Err(StackError::Empty(root.to_owned()));
        }
        pending.reverse();
        let mut nodes: Vec<Node> = Vec::new();
        let mut by_path: HashMap<PathBuf, usize> = HashMap::new();
        let mut bases: Vec<Option<BaseRef>> = Vec::new();
        while let Some(path) = pending.pop() {
            let canonical = path.canonicalize().map_err(io(&path))?;
            if by_path.contains_key(&canonical) {
                continue;
            }
            let spec = Spec::load(&path)?;
            if let Some(other) = nodes.iter().find(|n| n.name == *spec.name.get_ref()) {
                return Err(StackError::DuplicateName {
                    name: spec.name.get_ref().clone(),
                    first: other.spec.clone(),
                    second: path,
                });
            }
            let base = spec.base.as_ref().map(|b| b.get_ref().clone());
            if let Some(BaseRef::Path(relative)) = &base {
                let target = spec.base_dir().join(relative);
                if is_spec(&target) {
                    pending.push(spec_file(&target));
                }
            }
            by_path.insert(canonical, nodes.len());
            nodes.push(Node {
                name: spec.name.get_ref().clone(),
                spec: path,
                base: None,
            });
            bases.push(base);
        }
        for (index, base) in bases.into_iter().enumerate() {
            let spec = nodes[index].spec.clone();
            let dir = spec.parent().unwrap_or(Path::new(".")).to_owned();
            nodes[index].base = match base {
                None => None,
                Some(BaseRef::Registry { name, digest }) => {
                    Some(BaseSource::Registry { name, digest })
                }
                Some(BaseRef::Engine { engine, name }) => Some(BaseSource::Engine { engine, name }),
                Some(BaseRef::Path(relative)) => {
                    let target = dir.join(&relative);
                    if is_spec(&target) {
                        let file = spec_file(&target);
                        let canonical = file.canonicalize().map_err(io(&file))?;
                        let found = by_path.get(&canonical).copied().ok_or_else(|| {
                            StackError::Internal(format!("{} was not read", file.display()))
                        })?;
                        Some(BaseSource::Spec(found))
                    } else if target.join("oci-layout").is_file() {
                        Some(BaseSource::Layout(target))
                    } else {
                        return Err(StackError::UnknownBase {
                            spec,
                            base: relative,
                        });
                    }
                }
            };
        }
        let dir = match root.is_file() {
            true => root.parent().unwrap_or(Path::new(".")),
            false => root,
        };
        Ok(Stack {
            nodes,
            cache_registry,
            root: dir.canonicalize().map_err(io(dir))?,
        })
    }

    /// The index of the image named `name`.
    pub fn find(&self, name: &str) -> Result<usize, StackError> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| StackError::NoSuchImage {
                name: name.to_owned(),
                known: self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The base of image `index` within the stack, if it is one of the stack's images.
    pub fn base_of(&self, index: usize) -> Option<usize> {
        match self.nodes.get(index)?.base {
            Some(BaseSource::Spec(base)) => Some(base),
            _ => None,
        }
    }

    /// `changed` and every image built on one of them, however far up: what a change to
    /// them makes stale. Sorted.
    pub fn with_dependents(&self, changed: &[usize]) -> Vec<usize> {
        let stale = |mut index: usize| {
            // A circle is refused by `order`; here it only must not loop: no chain of
            // bases is longer than the stack.
            for _ in 0..=self.nodes.len() {
                if changed.contains(&index) {
                    return true;
                }
                match self.base_of(index) {
                    Some(base) => index = base,
                    None => return false,
                }
            }
            false
        };
        (0..self.nodes.len()).filter(|&i| stale(i)).collect()
    }

    /// The images to build, bases before what is built on them: all of them, or those
    /// `only` names and what they need. A circle of bases is an error naming it.
    pub fn order(&self, only: &[usize]) -> Result<Vec<usize>, StackError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Visiting,
            Done,
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        let mut order = Vec::new();
        let roots: Vec<usize> = if only.is_empty() {
            (0..self.nodes.len()).collect()
        } else {
            only.to_vec()
        };
        for root in roots {
            // Follow the base chain up; each image has at most one base, so the chain is a
            // path, and meeting an image being visited closes a circle.
            let mut chain: Vec<usize> = Vec::new();
            let mut at = Some(root);
            while let Some(index) = at {
                match marks[index] {
                    Mark::Done => break,
                    Mark::Visiting => {
                        let start = chain.iter().position(|&i| i == index).unwrap_or(0);
                        let mut names: Vec<&str> = chain[start..]
                            .iter()
                            .map(|&i| self.nodes[i].name.as_str())
                            .collect();
                        names.push(&self.nodes[index].name);
                        return Err(StackError::Cycle(names.join(" is built on ")));
                    }
                    Mark::New => {
                        marks[index] = Mark::Visiting;
                        chain.push(index);
                        at = self.base_of(index);
                    }
                }
            }
            for &index in chain.iter().rev() {
                marks[index] = Mark::Done;
                order.push(index);
            }
        }
        Ok(order)
    }
}

/// Whether `path` is a spec: a `.toml` file, or a directory holding a `staves.toml`.
fn is_spec(path: &Path) -> bool {
    (path.is_file() && path.extension().is_some_and(|e| e == "toml"))
        || path.join(SPEC_FILE).is_file()
}

/// The spec file `path` names: itself, or the `staves.toml` in it.
fn spec_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(SPEC_FILE)
    } else {
        path.to_owned()
    }
}
