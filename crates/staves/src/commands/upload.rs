//! `staves upload URL FILE…` and `staves remove URL NAME…`: changes to an archive `staves
//! serve` runs.

use staves_archive::client::{self, Connection};

use crate::cli::{RemoteArgs, RemoveArgs, UploadArgs};
use crate::report::CliError;

/// GitLab CI's job tokens, read when no token is given otherwise.
const CI_TOKENS: [&str; 2] = ["CI_JOB_JWT_V2", "CI_JOB_JWT"];

fn connection(args: &RemoteArgs) -> Result<Connection, CliError> {
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
            .trim()
            .to_owned(),
        (None, None) => CI_TOKENS
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|t| !t.trim().is_empty()))
            .ok_or_else(|| {
                CliError::Usage(
                    "a change needs a token: `--token`, `--token-file` or STAVES_TOKEN".into(),
                )
            })?,
    };
    Ok(Connection {
        base: args.url.clone(),
        token,
        ca_certificates: args.ca_cert.clone(),
    })
}

fn print(said: &[client::Uploaded], args: &RemoteArgs) {
    for one in said {
        let verb = match one.status.as_str() {
            "unchanged" => "Unchanged",
            "removed" => "Removed",
            _ => "Uploaded",
        };
        eprintln!(
            "{verb:>12} {} ({} {}/{})",
            one.package, args.url, args.suite, args.component
        );
    }
}

pub fn run(args: &UploadArgs) -> Result<(), CliError> {
    let to = connection(&args.remote)?;
    let mut files = args.files.clone();
    if let Some(spec) = &args.built {
        files.extend(built(spec, args)?);
    }
    let said = client::upload(&to, &args.remote.suite, &args.remote.component, &files)?;
    print(&said, &args.remote);
    Ok(())
}

/// Every package `spec` builds, for each of its architectures; built now if the cache
/// lacks it.
fn built(spec: &std::path::Path, args: &UploadArgs) -> Result<Vec<std::path::PathBuf>, CliError> {
    let cache = &args.cache;
    let shared = args.cache_registry.as_ref().map(|reference| {
        staves_pipeline::publish::shared_cache(
            reference,
            &staves_pipeline::publish::RegistryOptions {
                insecure: args.insecure_registry.clone(),
                certs_dir: args.certs_dir.clone(),
                chunk_size: 64 << 20,
                cache: cache.root(),
                ca_certificates: Vec::new(),
            },
        )
    });
    let options = staves_pipeline::WorkspaceOptions {
        file: spec.to_owned(),
        cache: cache.root(),
        shared,
        ..Default::default()
    };
    let workspace = staves_pipeline::Workspace::load(&options, crate::report::reporter())?;
    let mut debs = Vec::new();
    for arch in &workspace.selected {
        debs.extend(workspace.built_packages(arch)?);
    }
    if debs.is_empty() {
        return Err(CliError::Usage(format!(
            "{} builds nothing: it has no recipes and no `source = true` package",
            spec.display()
        )));
    }
    Ok(debs)
}

pub fn remove(args: &RemoveArgs) -> Result<(), CliError> {
    let to = connection(&args.remote)?;
    for package in &args.packages {
        let (name, version) = match package.split_once('=') {
            Some((name, version)) => (name, Some(version)),
            None => (package.as_str(), None),
        };
        let said = client::remove(
            &to,
            &args.remote.suite,
            &args.remote.component,
            name,
            version,
            args.arch.as_deref(),
        )?;
        print(&said, &args.remote);
    }
    Ok(())
}
