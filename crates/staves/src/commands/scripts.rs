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
            for command in &report.unmodelled {
                println!("  not modelled: {command}");
            }
            for command in &report.run_time {
                println!("  first start:  {command}");
            }
            for note in &report.notes {
                println!("  {note}");
            }
        }
    }
    Ok(())
}
