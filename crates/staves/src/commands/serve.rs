//! `staves serve` (a signed archive from a directory, taking changes from credential
//! holders) and `staves include` (the same archive changed directly, without a server).

use std::path::PathBuf;

use staves_archive::config::{AuthConfig, ServerConfig};
use staves_archive::server::ServeOptions;
use staves_archive::{Archive, ArchiveConfig, Auth, Suite};

use crate::cli::{ArchiveArgs, IncludeArgs, ServeArgs};
use crate::report::CliError;

/// The configuration the options or the configuration file describe.
fn configuration(args: &ArchiveArgs, serve: Option<&ServeArgs>) -> Result<ServerConfig, CliError> {
    if let Some(path) = &args.config {
        return Ok(ServerConfig::load(path)?);
    }
    let dir = args
        .dir
        .clone()
        .ok_or_else(|| CliError::Usage("name the archive with `--dir` or `--config`".into()))?;
    let archs = if args.archs.is_empty() {
        vec![staves_deb::arch::host().to_owned()]
    } else {
        args.archs.clone()
    };
    let components: Vec<&str> = args.components.iter().map(String::as_str).collect();
    let archs: Vec<&str> = archs.iter().map(String::as_str).collect();
    let suites = args
        .suites
        .iter()
        .map(|name| Suite::new(name, &components, &archs))
        .collect();
    Ok(ServerConfig {
        archive: ArchiveConfig {
            dir,
            suites,
            origin: args.origin.clone(),
        },
        listen: serve.map_or(([127, 0, 0, 1], 8080).into(), |s| s.listen),
        signing_key: None,
        tls: None,
        auth: AuthConfig {
            token_file: serve.and_then(|s| s.token_file.clone()),
            jwt: None,
        },
        max_upload: serve
            .map_or(512, |s| s.max_upload_mib)
            .saturating_mul(1 << 20),
        limits: serve.map_or_else(Default::default, |s| staves_archive::connections::Limits {
            max_connections: s.max_connections as usize,
            idle_timeout: std::time::Duration::from_secs(s.idle_timeout_seconds),
        }),
    })
}

/// The server's log on standard error, as the build's status lines are written.
struct Log;

impl staves_archive::ServerLog for Log {
    fn change(&self, verb: &str, message: &str) {
        eprintln!("{verb:>12} {message}");
    }

    fn warning(&self, message: &str) {
        crate::report::warning(message);
    }
}

/// Opens the archive, making its signing key on first start.
fn open(config: &ServerConfig) -> Result<Archive, CliError> {
    let path = config
        .signing_key
        .clone()
        .unwrap_or_else(|| staves_archive::key::default_path(&config.archive.dir));
    let user_id = format!(
        "{} archive signing key <archive@staves.invalid>",
        config.archive.origin
    );
    let published = staves_archive::key::published_path(&config.archive.dir);
    let (key, new) = staves_archive::key::load_or_create(&path, &user_id, &published)?;
    if new {
        eprintln!(
            "     Created a signing key ({}) in {}",
            key.fingerprint(),
            path.display()
        );
    }
    Ok(Archive::open(config.archive.clone(), key)?)
}

pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let config = configuration(&args.archive, Some(args))?;
    let log: std::sync::Arc<dyn staves_archive::ServerLog> = std::sync::Arc::new(Log);
    let auth = Auth::new(&config.auth, log.clone())?;
    let archive = open(&config)?;
    let options = ServeOptions {
        listen: config.listen,
        max_upload: config.max_upload,
        tls: config.tls.clone(),
        limits: config.limits,
    };
    let suites: Vec<&str> = config
        .archive
        .suites
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let uploads = match (&config.auth.token_file, &config.auth.jwt) {
        (None, None) => "no uploads (no tokens, no [jwt])",
        (Some(_), None) => "uploads with a token",
        (None, Some(_)) => "uploads with a JWT",
        (Some(_), Some(_)) => "uploads with a token or a JWT",
    };
    staves_archive::serve(
        archive,
        auth,
        &options,
        |url, archive| {
            // The first line of stdout is the URL, for scripts that asked for port 0.
            println!("{url}");
            eprintln!(
                "     Serving {} on {url} (suites: {}; {uploads}); public key at {url}/key.asc and /key.gpg, fingerprint {}",
                archive.config().dir.display(),
                suites.join(", "),
                archive.fingerprint()
            );
        },
        log,
    )?;
    Ok(())
}

pub fn include(args: &IncludeArgs) -> Result<(), CliError> {
    let config = configuration(&args.archive, None)?;
    let archive = open(&config)?;
    let suite = match &args.into_suite {
        Some(name) => archive
            .find_suite(name)
            .cloned()
            .ok_or_else(|| CliError::Usage(format!("the archive serves no suite `{name}`")))?,
        None => config.archive.suites[0].clone(),
    };
    let component = args
        .into_component
        .clone()
        .unwrap_or_else(|| suite.components[0].clone());
    let mut debs = Vec::new();
    for path in &args.files {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "deb"))
                .collect();
            found.sort();
            debs.extend(found);
        } else {
            debs.push(path.clone());
        }
    }
    // The archive takes what it is given into its pool: hand it links (or copies, across
    // file systems) and keep the caller's files.
    let incoming = archive.incoming();
    let mut staged = Vec::with_capacity(debs.len());
    for (n, deb) in debs.iter().enumerate() {
        let name = deb
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = incoming.join(format!("include-{n}-{name}"));
        std::fs::hard_link(deb, &target)
            .or_else(|_| std::fs::copy(deb, &target).map(|_| ()))
            .map_err(|e| CliError::Usage(format!("{}: {e}", deb.display())))?;
        staged.push(target);
    }
    let changes = archive.add_many(&suite.name, &component, &staged)?;
    let mut added = 0;
    for change in &changes {
        if let staves_archive::Added::New(entry) = &change.added {
            added += 1;
            if changes.len() <= 20 {
                eprintln!(
                    "       Added {} {} ({}) to {}/{component}",
                    entry.name, entry.version, entry.arch, suite.name
                );
            }
        }
        for gone in &change.removed {
            eprintln!(
                "     Retired {} {} ({}) from {}/{component}",
                gone.name, gone.version, gone.arch, suite.name
            );
        }
    }
    eprintln!(
        "    Included {added} new of {} packages in {}/{component}",
        changes.len(),
        suite.name
    );
    Ok(())
}
