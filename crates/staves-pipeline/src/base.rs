//! A base image read back for an image to be built on it: its installed packages (from its
//! dpkg database), its accounts, its configuration and its layers. An image without a dpkg
//! database cannot be a base: nothing would say what it holds.

use std::path::Path;

use staves_image::Accounts;
use staves_oci::ImageReader;
use staves_resolve::PackageRef;

use crate::error::PipelineError;

const STATUS: &str = "/var/lib/dpkg/status";
const PASSWD: &str = "/etc/passwd";
const GROUP: &str = "/etc/group";
/// The most any of those files may hold.
const MAX_FILE: u64 = 64 << 20;

/// What an image built on a base needs to know of it.
#[derive(Debug)]
pub struct BaseImage {
    /// The base's manifest digest, where known.
    pub digest: Option<String>,
    /// Its dpkg status file, verbatim.
    pub status: String,
    /// The packages that status lists as installed.
    pub installed: Vec<PackageRef>,
    /// Its accounts.
    pub accounts: Accounts,
    /// Its image config (`config` of the OCI config: Env, User, Entrypoint, …).
    pub config: serde_json::Value,
}

/// Reads the base at `path`: an OCI layout (`select` picks an entry by name, `arch` an image
/// of an index) or a docker-archive. Layer digests are checked while reading.
pub fn read_base(
    path: &Path,
    select: Option<&str>,
    arch: Option<&str>,
) -> Result<BaseImage, PipelineError> {
    let image = ImageReader::open(path, select, arch)?;
    let tree = image.tree(&[STATUS, PASSWD, GROUP], MAX_FILE)?;
    let text = |file: &str| {
        tree.contents
            .get(file)
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
    };
    let status = text(STATUS).ok_or_else(|| {
        PipelineError::Invalid(format!(
            "{} has no dpkg database ({STATUS}), so nothing says what it holds; a base must be a Debian system (built by Staves, or any image with dpkg)",
            path.display()
        ))
    })?;
    let what = format!("{}{STATUS}", path.display());
    let installed = staves_resolve::installed_from_status(&status, &what)?;
    let accounts = Accounts::from_files(
        &text(PASSWD).unwrap_or_default(),
        &text(GROUP).unwrap_or_default(),
    )
    .map_err(|e| PipelineError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(BaseImage {
        digest: image.manifest_digest.clone(),
        status,
        installed,
        accounts,
        config: image.config["config"].clone(),
    })
}
