//! Image assembly: the resolved packages' contents streamed into one layer, turned into a
//! Debian system that tools recognise — without running a single maintainer script.
//!
//! Each package's `data.tar` goes straight from its `.deb` into the layer (see
//! [`staves_deb::deb`]), its paths mapped onto merged `/usr`, filtered by [`Features`], and
//! checked: absolute paths, `..`, escaping links and device nodes are refused, and two
//! packages shipping one path is an error unless one `Replaces` the other. Then come the
//! dpkg database, the accounts, and what `postinst` scripts would have done ([`scripts`]).
//!
//! The output is a plain tar stream, or several: [`layering`] splits the packages over a
//! budget of layers by source package. Compression and OCI packaging are `staves-oci`'s job.
//! Every header is normalised (times clamped to one date), so the same inputs give the same
//! bytes.

pub mod accounts;
pub mod features;
pub use staves_deb::tar_guard as guard;
mod certs_dir;
mod java_keystore;
pub mod layer;
pub mod layering;
pub mod libraries;
mod needs;
pub mod paths;
pub mod scripts;

mod assemble;
mod base;
mod configure_order;
mod dpkg;
mod effects;
mod error;
mod host;
mod options;
mod pam;
mod phases;
mod plan;
mod prefetch;
mod stream;
mod walk;

pub use accounts::{AccountRequest, Accounts};
pub use assemble::{assemble, assemble_layers};
pub use base::Base;
pub use dpkg::PackageFacts;
pub use error::ImageError;
pub use features::Features;
pub use libraries::MissingLibrary;
pub use needs::{Need, Unmet};
pub use options::{
    ExtraPath, GeneratedFile, LayerContents, LayerRole, Options, PackageInput, Program, Summary,
};
pub use plan::ScriptReport;
pub use prefetch::{DamagedCopy, unpacked_copy_is_intact};
