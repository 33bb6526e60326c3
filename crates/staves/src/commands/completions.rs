//! `staves completions SHELL`: a completion script generated from the command line's own
//! definition, so it never drifts from it.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::report::CliError;

pub fn run(args: &CompletionsArgs) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "staves", &mut out);
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .or_else(super::resolve::ignore_broken_pipe)
}
