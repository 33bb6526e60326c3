//! The locked packages found in the cache or fetched: each `.deb` located in its repository,
//! and every architecture's downloaded in one parallel run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use staves_repo::debs::{DebFetch, fetch_debs};
use staves_resolve::{LockedTarget, Lockfile};

use super::Located;
use crate::{PipelineError, Workspace};

/// The target's packages with the URL of each `.deb`, and of its copy in the repository's
/// snapshot archive (`<snapshot>/<YYYYMMDDTHHMMSSZ>/<Filename>`, at the time the lock read
/// the repository) when the spec names one.
pub(crate) fn locate(
    lock: &Lockfile,
    target: &LockedTarget,
    workspace: &Workspace,
) -> Result<Vec<Located>, PipelineError> {
    let cache_root = workspace.cache.root();
    let uris: BTreeMap<&str, &str> = lock
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.uri.as_str()))
        .collect();
    let snapshots: BTreeMap<&str, (String, &str)> = lock
        .repositories
        .iter()
        .filter_map(|locked| {
            let date = locked.date.as_deref()?;
            staves_deb::date::parse_basic(date)?;
            let configured = workspace
                .repositories
                .iter()
                .find(|r| r.name == locked.name)?;
            let root = configured.snapshot.as_deref()?;
            Some((locked.name.as_str(), (format!("{root}/{date}"), date)))
        })
        .collect();
    target
        .packages
        .iter()
        .map(|p| {
            let uri = uris
                .get(p.repository.as_str())
                .ok_or_else(|| PipelineError::UnknownLockedRepository(p.repository.clone()))?;
            let snapshot = snapshots.get(p.repository.as_str()).map(|(root, date)| {
                (
                    format!("{root}/{}", p.filename),
                    format!("the snapshot of {} at {date}", p.repository),
                )
            });
            Ok(Located {
                package: p.clone(),
                url: crate::from_source::url(cache_root, uri, &p.filename),
                snapshot,
            })
        })
        .collect()
}

/// Every `.deb` of `located`, from the cache or the network, verified.
pub(crate) fn download(
    workspace: &Workspace,
    located: &[Located],
    jobs: usize,
) -> Result<Vec<PathBuf>, PipelineError> {
    let fetches: Vec<DebFetch> = located
        .iter()
        .map(|l| DebFetch {
            package: format!(
                "{} {} ({})",
                l.package.name, l.package.version, l.package.arch
            ),
            url: l.url.clone(),
            size: l.package.size,
            sha256: l.package.sha256.clone(),
            elsewhere: l.snapshot.clone(),
        })
        .collect();
    let progress = workspace.reporter().downloads("Fetching");
    let client = workspace.client(progress);
    let paths = fetch_debs(&client, &workspace.cache, &fetches, jobs);
    drop(client);
    Ok(paths?)
}
