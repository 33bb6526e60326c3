//! Image stacks: the specs of a directory tree (or those a `staves-workspace.toml` lists)
//! as one build graph. An image names what it is built on with `base = "../base"`; the
//! stack is built in dependency order, images that do not depend on each other at the same
//! time, each on the layers of its base — so a base's layers are shared, byte for byte, by
//! every image above it.
//!
//! * [`Stack::discover`]: the specs and the graph their `base` keys make, cycles refused
//!   with the chain that closes them.
//! * [`open_workspace`]: one spec opened for the pipeline on its base chain — the way a
//!   library user opens a spec that may name a `base`.
//! * [`build`]: every image (or the one `only` names and what it needs) into its own OCI
//!   layout, through the pipeline.

mod build;
pub mod changed;
mod discover;
mod error;
mod open;
pub mod plan;

pub use build::{BuiltNode, StackOptions, bases_of, build, build_packages};
pub use discover::{BaseSource, Node, Stack, WORKSPACE_FILE};
pub use error::StackError;
pub use open::{OpenedWorkspace, open_each, open_workspace};
