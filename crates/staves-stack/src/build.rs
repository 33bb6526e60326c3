//! Building a stack: each image through the pipeline, on its base, in dependency order,
//! images whose bases are ready built at the same time.

use std::path::PathBuf;
use std::sync::Arc;

use staves_oci::{BlobRef, LayerCompression};
use staves_pipeline::base::{BaseImage, read_base};
use staves_pipeline::publish::{RegistryOptions, pull_base};
use staves_pipeline::{BuildOptions, Output, PipelineError, Reporter, Workspace, WorkspaceOptions};
use staves_registry::ImageName;

use crate::discover::{BaseSource, Stack};
use crate::error::StackError;

/// How to build a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The cache every image shares.
    pub cache: PathBuf,
    /// One architecture to build, of those each spec targets.
    pub arch: Option<String>,
    /// How the network is used.
    pub network: staves_pipeline::NetworkMode,
    /// Trust, credentials, proxies and retries for every fetch.
    pub net: staves_pipeline::NetOptions,
    /// Each image's OCI layout goes to `output/NAME`.
    pub output: PathBuf,
    /// Also write `output/NAME.tar`, a docker-archive, for loading into an engine.
    pub archives: bool,
    /// Parallel downloads of one image.
    pub jobs: usize,
    /// Layer compression.
    pub compression: LayerCompression,
    /// Refuse missing or stale locks.
    pub locked: bool,
    /// Images built at the same time.
    pub parallel: usize,
    /// How to reach registries bases are pulled from.
    pub registry: RegistryOptions,
    /// What each source or recipe build may use.
    pub build_limits: staves_pipeline::BuildLimits,
    /// The date of every file of every image (`SOURCE_DATE_EPOCH`), when set.
    pub source_date_epoch: Option<u64>,
    /// The cache's tier shared with other machines (`--cache-registry`).
    pub shared: Option<std::sync::Arc<dyn staves_types::SharedCache>>,
}

/// One image of the stack, built.
#[derive(Debug, Clone)]
pub struct BuiltNode {
    /// Its index in the stack.
    pub index: usize,
    /// Its name and tag.
    pub name: ImageName,
    /// The layout holding it.
    pub layout: PathBuf,
    /// Its entry in the layout (an image, or the index of several architectures).
    pub entry: BlobRef,
    /// The docker-archive written, when asked for.
    pub archive: Option<PathBuf>,
    /// Every architecture taken from the image cache: nothing was assembled.
    pub reused: bool,
}

/// Bases already read in this run, by layout and architecture: the children of one base
/// read its layers once.
pub(crate) type BaseMemo =
    std::sync::Mutex<std::collections::HashMap<(PathBuf, String), Arc<BaseImage>>>;

/// Builds the images `order` lists (bases first, as [`Stack::order`] gives them).
pub fn build(
    stack: &Stack,
    order: &[usize],
    options: &StackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<BuiltNode>, StackError> {
    let mut built: Vec<Option<BuiltNode>> = vec![None; stack.nodes.len()];
    let mut left: Vec<usize> = order.to_vec();
    let memo = BaseMemo::default();
    while !left.is_empty() {
        // Ready: its base (if one of the stack's) is built. Bases come first in `order`, so
        // something is always ready.
        let ready: Vec<usize> = left
            .iter()
            .copied()
            .filter(|&i| stack.base_of(i).is_none_or(|b| built[b].is_some()))
            .take(options.parallel.max(1))
            .collect();
        if ready.is_empty() {
            return Err(StackError::Internal(
                "no image of the stack is ready".into(),
            ));
        }
        let results: Vec<Result<BuiltNode, StackError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = ready
                .iter()
                .map(|&index| {
                    let (built, memo, reporter) = (&built, &memo, reporter.clone());
                    scope.spawn(move || build_one(stack, index, built, memo, options, reporter))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(StackError::Internal("a build panicked".into())))
                })
                .collect()
        });
        for result in results {
            let node = result?;
            let index = node.index;
            built[index] = Some(node);
        }
        left.retain(|i| built[*i].is_none());
    }
    Ok(order.iter().filter_map(|&i| built[i].clone()).collect())
}

/// Builds (or takes from the caches, the shared tier included) the packages the images
/// `nodes` build from source or by a recipe, for every architecture each targets, and no
/// image: what a plan's job for source builds and recipes several images share runs.
/// Returns how many `.deb`s there are.
pub fn build_packages(
    stack: &Stack,
    nodes: &[usize],
    options: &StackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<usize, StackError> {
    let mut count = 0;
    for &index in nodes {
        let node = &stack.nodes[index];
        let failed = |source: PipelineError| StackError::Build {
            name: node.name.clone(),
            source: Box::new(source),
        };
        let workspace = Workspace::load(&workspace_options(stack, node, options), reporter.clone())
            .map_err(failed)?;
        for arch in &workspace.selected {
            count += workspace.built_packages(arch).map_err(failed)?.len();
        }
    }
    Ok(count)
}

fn build_one(
    stack: &Stack,
    index: usize,
    built: &[Option<BuiltNode>],
    memo: &BaseMemo,
    options: &StackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BuiltNode, StackError> {
    let node = &stack.nodes[index];
    let failed = |source: PipelineError| StackError::Build {
        name: node.name.clone(),
        source: Box::new(source),
    };
    let mut workspace = Workspace::load(&workspace_options(stack, node, options), reporter.clone())
        .map_err(failed)?;
    if let Some(bases) = read_bases(
        stack,
        index,
        built,
        memo,
        &workspace.selected,
        options,
        reporter.as_ref(),
    )? {
        workspace.on_base(bases);
    }
    let tag = workspace.spec.tag.as_deref().unwrap_or("latest");
    let name = ImageName::parse(&format!("{}:{tag}", node.name))
        .map_err(|e| failed(PipelineError::ImageName(e.to_string())))?;
    let layout = options.output.join(&node.name);
    let result = staves_pipeline::build(
        &workspace,
        &BuildOptions {
            names: vec![name.clone()],
            output: Output::Layout(layout.clone()),
            context: workspace.spec.base_dir().to_owned(),
            jobs: options.jobs,
            compression: options.compression,
            locked: options.locked,
            sbom: false,
            fresh: false,
            source_date_epoch: options.source_date_epoch,
        },
    )
    .map_err(failed)?;
    let archive = if options.archives {
        let path = options.output.join(format!("{}.tar", node.name));
        result
            .write_archive(None, &[name.to_string()], &path)
            .map_err(failed)?;
        Some(path)
    } else {
        None
    };
    Ok(BuiltNode {
        index,
        name,
        layout,
        entry: result.entry.clone(),
        archive,
        reused: result.images.iter().all(|i| i.reused),
    })
}

/// How the workspace of the stack's image `node` is opened.
pub(crate) fn workspace_options(
    stack: &Stack,
    node: &crate::Node,
    options: &StackOptions,
) -> WorkspaceOptions {
    // The stack's directory is the context of the specs inside it; one outside it (a base
    // named by a relative path) keeps its own directory.
    let inside = node
        .spec
        .canonicalize()
        .is_ok_and(|spec| spec.starts_with(&stack.root));
    WorkspaceOptions {
        file: node.spec.clone(),
        cache: options.cache.clone(),
        arch: options.arch.clone(),
        network: options.network,
        context: inside.then(|| stack.root.clone()),
        build_limits: options.build_limits,
        net: options.net.clone(),
        shared: options.shared.clone(),
    }
}

/// The base image `index` is built on, for each of `archs`: a base of the stack from its
/// built layout (in `built`), a layout as it is, a registry image pulled into the cache.
/// `None` when it names no base.
pub(crate) fn read_bases(
    stack: &Stack,
    index: usize,
    built: &[Option<BuiltNode>],
    memo: &BaseMemo,
    archs: &[String],
    options: &StackOptions,
    reporter: &dyn Reporter,
) -> Result<Option<Vec<Arc<BaseImage>>>, StackError> {
    let node = &stack.nodes[index];
    let failed = |source: PipelineError| StackError::Build {
        name: node.name.clone(),
        source: Box::new(source),
    };
    let (layout, name) = match &node.base {
        None => return Ok(None),
        Some(BaseSource::Spec(base)) => built
            .get(*base)
            .and_then(Option::as_ref)
            .map(|b| (b.layout.clone(), b.name.to_string()))
            .ok_or_else(|| {
                StackError::Internal(format!("the base of {} is not built", node.name))
            })?,
        Some(BaseSource::Layout(dir)) => (dir.clone(), dir.display().to_string()),
        Some(BaseSource::Registry { name, digest }) => {
            let dir = pull_base(
                name,
                digest,
                archs,
                options.network == staves_pipeline::NetworkMode::Offline,
                &options.registry,
                reporter,
            )
            .map_err(failed)?;
            (dir, format!("{name}@{digest}"))
        }
        Some(BaseSource::Engine { engine, name }) => {
            let reference = format!("{engine}:{name}");
            let (engine, name) = staves_oci::engine::Engine::parse(&reference)
                .ok_or_else(|| StackError::Internal(format!("{reference} is no engine")))?;
            let dir = staves_pipeline::base::engine_base(engine, name, archs, &options.cache)
                .map_err(failed)?;
            (dir, reference)
        }
    };
    let read = |arch: &String| -> Result<Arc<BaseImage>, PipelineError> {
        let key = (layout.clone(), arch.clone());
        if let Some(base) = memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(base);
        }
        let base = Arc::new(read_base(&layout, &name, None, arch)?);
        if let Ok(mut m) = memo.lock() {
            m.insert(key, base.clone());
        }
        Ok(base)
    };
    archs
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(failed)
}

/// The bases the spec at `spec` is built on, for each of `archs`: a base spec is built first
/// (with whatever it is built on, into `options.output`), a layout is read as it is. `None`
/// when the spec names no base.
pub fn bases_of(
    spec: &std::path::Path,
    archs: &[String],
    options: &StackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<Option<Vec<Arc<BaseImage>>>, StackError> {
    let stack = Stack::discover(spec)?;
    // The spec itself is the first node found; its base chain follows.
    let mut built: Vec<Option<BuiltNode>> = vec![None; stack.nodes.len()];
    if let Some(base) = stack.base_of(0) {
        for node in build(&stack, &stack.order(&[base])?, options, reporter.clone())? {
            let index = node.index;
            built[index] = Some(node);
        }
    }
    read_bases(
        &stack,
        0,
        &built,
        &BaseMemo::default(),
        archs,
        options,
        reporter.as_ref(),
    )
}
