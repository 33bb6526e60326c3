//! `staves scripts`: what the package set's maintainer scripts do that the image does not
//! reproduce — commands without a model, commands left to the first start, lines the walk
//! could not follow — package by package. The image is assembled afresh (never taken from
//! the image cache, whose record does not keep the walk) into scratch space.

use staves_pipeline::{BuildOptions, Output};

use crate::cli::ScriptsArgs;
use crate::report::CliError;

pub fn run(args: &ScriptsArgs) -> Result<(), CliError> {
    let workspace =
        super::open_workspace(&args.spec, false, 8, staves_oci::LayerCompression::Gzip)?;
    let names = super::build::image_names(&workspace.spec, &[])?;
    let options = BuildOptions {
        names,
        output: Output::Scratch { archive: false },
        context: workspace.spec.base_dir().to_owned(),
        jobs: 8,
        compression: staves_oci::LayerCompression::Gzip,
        locked: false,
        sbom: false,
        // What the scripts do is learnt while assembling: the image cache is not asked.
        fresh: true,
        source_date_epoch: None,
    };
    let built = staves_pipeline::build(&workspace, &options)?;
    let several = built.images.len() > 1;
    for image in &built.images {
        if several {
            println!("[{}]", image.arch);
        }
        if image.summary.scripts.is_empty() {
            println!("every maintainer script was followed and modelled");
        }
        for report in &image.summary.scripts {
            println!("{}", report.package);
            for command in summarize(&report.unmodelled, args.all) {
                println!("  not modelled: {command}");
            }
            for command in summarize(&report.run_time, args.all) {
                println!("  first start:  {command}");
            }
            for note in &report.notes {
                println!("  {note}");
            }
        }
    }
    Ok(())
}

/// The longest command line shown whole without `--all`.
const SHOWN: usize = 100;

/// Commands as printed: with `all` each in full; else the calls of one program as one line,
/// counted, with the first call cut to [`SHOWN`] characters (a byte-compilation names
/// hundreds of files, which say nothing a reader can act on).
fn summarize(commands: &[String], all: bool) -> Vec<String> {
    if all {
        return commands.to_vec();
    }
    let mut groups: Vec<(&str, usize, &str)> = Vec::new();
    for command in commands {
        let program = command.split_whitespace().next().unwrap_or_default();
        match groups.iter_mut().find(|(p, _, _)| *p == program) {
            Some(group) => group.1 += 1,
            None => groups.push((program, 1, command)),
        }
    }
    groups
        .into_iter()
        .map(|(program, count, first)| {
            let shown = match first.char_indices().nth(SHOWN) {
                Some((cut, _)) => format!("{} …", &first[..cut]),
                None => first.to_owned(),
            };
            match count {
                1 => shown,
                n => format!("{program}, {n} calls, the first: {shown}"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_of_one_program_are_counted_and_long_ones_cut() {
        let long = format!("/usr/bin/python3 -E {}", "/usr/lib/x.py ".repeat(50));
        let commands = vec![long.clone(), format!("{long} -O"), "ldconfig".to_owned()];
        let lines = summarize(&commands, false);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("/usr/bin/python3, 2 calls, the first: /usr/bin/python3 -E"));
        assert!(
            lines[0].ends_with(" …") && lines[0].len() < 200,
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], "ldconfig");
        assert_eq!(summarize(&commands, true), commands);
    }
}
