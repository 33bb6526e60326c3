//! The locked packages found in the cache or fetched: each `.deb` located in its repository,
//! and every architecture's downloaded in one parallel run.

use super::*;

/// The target's packages with the URL of each `.deb`.
pub(super) fn locate(
    lock: &Lockfile,
    target: &LockedTarget,
    cache_root: &std::path::Path,
) -> Result<Vec<Located>, PipelineError> {
    let uris: BTreeMap<&str, &str> = lock
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.uri.as_str()))
        .collect();
    target
        .packages
        .iter()
        .map(|p| {
            let uri = uris
                .get(p.repository.as_str())
                .ok_or_else(|| PipelineError::UnknownLockedRepository(p.repository.clone()))?;
            Ok(Located {
                package: p.clone(),
                url: crate::from_source::url(cache_root, uri, &p.filename),
            })
        })
        .collect()
}

/// Every `.deb` of `located`, from the cache or the network, verified.
pub(super) fn download(
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
        })
        .collect();
    let progress = workspace.reporter().downloads("Fetching");
    let client = Client::new(progress);
    let paths = fetch_debs(
        &client,
        &workspace.cache,
        &fetches,
        jobs,
        workspace.offline(),
    );
    drop(client);
    Ok(paths?)
}
