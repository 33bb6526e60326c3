//! A spec opened for the pipeline with what it is built on: a library user calls
//! [`open_workspace`] and gets a workspace that resolves and builds on the spec's `base`
//! chain (base specs built first, layouts read), never one that silently lacks it.

use std::sync::Arc;

use staves_pipeline::{Reporter, Workspace, WorkspaceOptions};

use crate::{StackError, StackOptions};

/// A workspace with its bases; the bases' layouts live in scratch space as long as it does.
pub struct OpenedWorkspace {
    /// The workspace, on its bases.
    pub workspace: Workspace,
    /// Where the base specs were built, removed when this is dropped.
    _bases: Option<staves_fs::TempDir>,
}

impl std::ops::Deref for OpenedWorkspace {
    type Target = Workspace;

    fn deref(&self) -> &Workspace {
        &self.workspace
    }
}

/// Opens the spec `options` names: when it has a `base`, the chain below it is built (a
/// spec, with `bases`' options, into the cache's scratch space) or read (a layout) for each
/// of the workspace's architectures, and the workspace is put on it.
pub fn open_workspace(
    options: &WorkspaceOptions,
    bases: &StackOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<OpenedWorkspace, StackError> {
    let open = |e| StackError::Open(Box::new(e));
    let mut workspace = Workspace::load(options, reporter.clone()).map_err(open)?;
    if workspace.spec.base.is_none() {
        return Ok(OpenedWorkspace {
            workspace,
            _bases: None,
        });
    }
    let scratch = workspace
        .cache
        .scratch_dir()
        .map_err(|e| open(staves_pipeline::PipelineError::Repo(e)))?;
    let stack = StackOptions {
        output: scratch.path().to_owned(),
        archives: false,
        parallel: 1,
        ..bases.clone()
    };
    if let Some(found) = crate::bases_of(&options.file, &workspace.selected, &stack, reporter)? {
        workspace.on_base(found);
    }
    Ok(OpenedWorkspace {
        workspace,
        _bases: Some(scratch),
    })
}

/// Opens every image `order` lists (bases first), each as [`open_workspace`] opens one, but
/// with each base of the stack built (or taken from the image cache) and read once for all
/// the images on it, and hands each to `each`: what a read-only pass over a whole stack
/// (`staves outdated DIR`) needs. An image that fails to open is handed its error.
pub fn open_each(
    stack: &crate::Stack,
    order: &[usize],
    options: &StackOptions,
    reporter: Arc<dyn Reporter>,
    mut each: impl FnMut(usize, Result<Workspace, StackError>) -> Result<(), StackError>,
) -> Result<(), StackError> {
    let open = |e| StackError::Open(Box::new(e));
    // Scratch space in the cache's own temporaries, swept there if this run is killed.
    let tmp = options.cache.join("tmp");
    let scratch = std::fs::create_dir_all(&tmp)
        .and_then(|()| staves_fs::temp_dir_in(&tmp))
        .map_err(|source| StackError::Io { path: tmp, source })?;
    let stacked = StackOptions {
        output: scratch.path().to_owned(),
        archives: false,
        ..options.clone()
    };
    let bases: Vec<usize> = order.iter().filter_map(|&i| stack.base_of(i)).collect();
    let mut built = vec![None; stack.nodes.len()];
    if !bases.is_empty() {
        for node in crate::build::build(stack, &stack.order(&bases)?, &stacked, reporter.clone())? {
            let index = node.index;
            built[index] = Some(node);
        }
    }
    let memo = crate::build::BaseMemo::default();
    for &index in order {
        let node = &stack.nodes[index];
        let opened = Workspace::load(
            &crate::build::workspace_options(stack, node, options),
            reporter.clone(),
        )
        .map_err(open)
        .and_then(|mut workspace| {
            let selected = workspace.selected.clone();
            if let Some(found) = crate::build::read_bases(
                stack,
                index,
                &built,
                &memo,
                &selected,
                &stacked,
                reporter.as_ref(),
            )? {
                workspace.on_base(found);
            }
            Ok(workspace)
        });
        each(index, opened)?;
    }
    Ok(())
}
