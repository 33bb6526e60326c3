//! `staves serve`: a signed archive from a directory, taking uploads from token holders.

use staves_archive::{Archive, ArchiveConfig, Suite, Tokens};

use crate::cli::ServeArgs;
use crate::report::CliError;

pub fn run(args: &ServeArgs) -> Result<(), CliError> {
    let tokens = Tokens::from_file(&args.token_file)?;
    let archs = if args.archs.is_empty() {
        vec![staves_deb::arch::host().to_owned()]
    } else {
        args.archs.clone()
    };
    let suites = args
        .suites
        .iter()
        .map(|name| Suite {
            name: name.clone(),
            components: args.components.clone(),
            architectures: archs.clone(),
        })
        .collect();
    let path = staves_archive::key::default_path(&args.dir);
    let user_id = format!(
        "{} archive signing key <archive@staves.invalid>",
        args.origin
    );
    let (key, new) = staves_archive::key::load_or_create(&path, &user_id)?;
    if new {
        eprintln!(
            "     Created a signing key ({}) in {}",
            key.fingerprint(),
            path.display()
        );
    }
    let config = ArchiveConfig {
        dir: args.dir.clone(),
        suites,
        origin: args.origin.clone(),
    };
    let archive = Archive::open(config, key)?;
    let max_upload = args.max_upload_mib.saturating_mul(1 << 20);
    staves_archive::serve(
        archive,
        tokens,
        max_upload,
        args.listen,
        |bound, archive| {
            // The first line of stdout is the address, for scripts that asked for port 0.
            println!("http://{bound}");
            eprintln!(
                "     Serving {} on http://{bound} (suites: {}); public key at http://{bound}/key.asc and /key.gpg, fingerprint {}",
                archive.config().dir.display(),
                args.suites.join(", "),
                archive.fingerprint()
            );
        },
    )?;
    Ok(())
}
