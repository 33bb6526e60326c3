//! `staves upload URL FILE…`: `.deb`s into an archive `staves serve` runs.

use crate::cli::UploadArgs;
use crate::report::CliError;

pub fn run(args: &UploadArgs) -> Result<(), CliError> {
    let token = match (&args.token, &args.token_file) {
        (Some(token), _) => token.trim().to_owned(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
            .trim()
            .to_owned(),
        (None, None) => {
            return Err(CliError::Usage(
                "an upload needs a token: `--token`, `--token-file` or STAVES_TOKEN".into(),
            ));
        }
    };
    for file in &args.files {
        let uploaded =
            staves_archive::client::upload(&args.url, &args.suite, &args.component, &token, file)?;
        let verb = if uploaded.status == "unchanged" {
            "Unchanged"
        } else {
            "Uploaded"
        };
        eprintln!(
            "{verb:>12} {} to {} {}/{}",
            uploaded.package, args.url, args.suite, args.component
        );
    }
    Ok(())
}
