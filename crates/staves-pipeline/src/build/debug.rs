//! The debug variant of an image (`staves build --debug`, or `debug = true`): the image as
//! it is, every layer byte for byte, with one layer on top holding tools — Debian's static
//! busybox with a link in `/busybox` (added to `PATH`) for each command it has, or the
//! packages `debug-packages` names, resolved on top of what the image holds — tagged
//! `TAG-debug`. The production image never holds a shell; the debug one is the same image
//! plus a shell, so what is debugged is what runs.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use staves_registry::ImageName;
use staves_spec::{BaseRef, PathSpec, Spec};
use toml::Spanned;

use super::{Build, BuildOptions, Output, download, locate};
use crate::base::read_base;
use crate::error::PipelineError;
use crate::workspace::Workspace;

/// Debian's statically linked busybox: one file, no dependencies.
pub const BUSYBOX: &str = "busybox-static";
/// Where its command links go.
const LINKS: &str = "/busybox";
/// The most a busybox binary may weigh when its command table is read.
const MAX_BINARY: u64 = 16 << 20;

/// Builds the debug variant of `main`, built from `workspace` with `options`: into the
/// same layout (a layout output), beside the archive as `NAME-debug.tar`, or to scratch.
pub fn build_debug(
    workspace: &Workspace,
    main: &Build,
    options: &BuildOptions,
) -> Result<Build, PipelineError> {
    let names = options
        .names
        .iter()
        .map(|n| ImageName::parse(&format!("{}:{}-debug", n.repository, n.tag)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PipelineError::ImageName(e.to_string()))?;
    let first = options.names.first().ok_or(PipelineError::NoImageName)?;
    let bases = workspace
        .selected
        .iter()
        .map(|arch| {
            read_base(
                main.layout.root(),
                &first.to_string(),
                Some(&first.tag),
                arch,
            )
            .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let path = bases
        .first()
        .and_then(|b| b.config["Env"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str()?.strip_prefix("PATH="))
        .next()
        .unwrap_or(super::options::DEFAULT_PATH.trim_start_matches("PATH="))
        .to_owned();
    let busybox = workspace.spec.debug_packages.is_empty();
    let spec = variant_spec(
        &workspace.spec,
        main.layout.root(),
        &names[0].tag,
        busybox,
        &path,
    )?;
    let scratch = workspace.cache.scratch_dir()?;
    let mut variant = workspace.variant(spec, scratch.path().join("debug.lock"))?;
    variant.on_base(bases);
    if busybox {
        let links = busybox_links(&variant, options.jobs)?;
        variant.spec.paths = links;
    }
    let output = match &options.output {
        Output::Layout(_) => Output::Scratch { archive: false },
        Output::Archive(out) => Output::Archive(beside(out)),
        Output::Scratch { archive } => Output::Scratch { archive: *archive },
    };
    let built = super::build(
        &variant,
        &BuildOptions {
            names,
            output,
            context: options.context.clone(),
            jobs: options.jobs,
            compression: options.compression,
            locked: false,
            sbom: false,
            fresh: options.fresh,
            source_date_epoch: options.source_date_epoch,
        },
    )?;
    // A layout output holds both: the variant's blobs (its own layer; the rest are the
    // image's) and its names beside the image's.
    if let Output::Layout(out) = &options.output {
        let into = staves_oci::Layout::open(out)?;
        let blobs = built.layout.root().join("blobs/sha256");
        for entry in std::fs::read_dir(&blobs)? {
            let entry = entry?;
            let to = into.root().join("blobs/sha256").join(entry.file_name());
            if !to.exists() {
                staves_fs::link_or_copy(&entry.path(), &to)?;
            }
        }
        let mut entries = into.index()?;
        entries.extend(built.layout.index()?);
        into.put_index(&entries)?;
    }
    Ok(built)
}

/// `dir/NAME.tar` → `dir/NAME-debug.tar`.
fn beside(archive: &Path) -> std::path::PathBuf {
    let stem = archive
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    archive.with_file_name(format!("{stem}-debug.tar"))
}

/// The spec of the variant: on the image just built, adding only the debug packages (and
/// for busybox, its links on `PATH`); everything else — command, user, environment,
/// ports — comes from the image.
fn variant_spec(
    spec: &Spec,
    image: &Path,
    tag: &str,
    busybox: bool,
    path: &str,
) -> Result<Spec, PipelineError> {
    let mut variant = spec.clone();
    variant.packages = if busybox {
        vec![
            staves_spec::parse_request(BUSYBOX)
                .map_err(|e| PipelineError::DebugTools(e.to_string()))?,
        ]
    } else {
        spec.debug_packages.clone()
    };
    variant.base = Some(Spanned::new(
        0..0,
        BaseRef::Path(image.display().to_string()),
    ));
    variant.tag = Some(tag.to_owned());
    variant.layers = 1;
    variant.environment.clear();
    if busybox {
        variant
            .environment
            .insert("PATH".into(), format!("{path}:{LINKS}"));
        // Busybox is its own shell (`/busybox/sh`): an image without /bin/sh stays so.
        variant.exclude.push(Spanned::new(0..0, "dash".to_owned()));
    }
    variant.services.clear();
    variant.tasks.clear();
    variant.command.clear();
    variant.cmd.clear();
    variant.init = false;
    variant.recipes.clear();
    variant.debs.clear();
    variant.accounts.clear();
    variant.paths.clear();
    variant.ports.clear();
    variant.volumes.clear();
    variant.labels.clear();
    variant.package_options.clear();
    variant.workdir = None;
    variant.user = None;
    variant.stop_signal = None;
    variant.debug = false;
    // The variant's own key in the image cache: the spec it came from, and what it adds.
    variant.source = format!(
        "{}\n# debug variant: {}\n",
        spec.source,
        variant
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(variant)
}

/// A link in `/busybox` for each command the busybox the variant resolves to has.
fn busybox_links(variant: &Workspace, jobs: usize) -> Result<Vec<PathSpec>, PipelineError> {
    let lock = variant.resolve(&variant.selected)?;
    let target = lock
        .targets
        .first()
        .ok_or_else(|| PipelineError::DebugTools("nothing was resolved".into()))?;
    let located: Vec<_> = locate(&lock, target, variant)?
        .into_iter()
        .filter(|l| l.package.name == BUSYBOX)
        .collect();
    if located.is_empty() {
        return Err(PipelineError::DebugTools(format!(
            "{BUSYBOX} is not in the image's repositories; name the tools with `debug-packages`"
        )));
    }
    let deb = download(variant, &located, jobs)?
        .into_iter()
        .next()
        .ok_or_else(|| PipelineError::DebugTools(format!("{BUSYBOX} was not downloaded")))?;
    let binary = read_busybox(&deb)?;
    let commands = commands_of(&binary).ok_or_else(|| {
        PipelineError::DebugTools(format!(
            "{}: no command table found in its busybox",
            deb.display()
        ))
    })?;
    let entry = |path: String, kind: &str, target: Option<String>| PathSpec {
        path: Spanned::new(0..0, path),
        kind: Some(Spanned::new(0..0, kind.to_owned())),
        mode: None,
        owner: None,
        content: None,
        source: None,
        target,
    };
    let mut paths = vec![entry(LINKS.to_owned(), "dir", None)];
    paths.extend(commands.into_iter().map(|command| {
        entry(
            format!("{LINKS}/{command}"),
            "symlink",
            Some("/bin/busybox".into()),
        )
    }));
    Ok(paths)
}

/// The busybox binary in `deb` (`bin/busybox`, or `usr/bin/busybox`).
fn read_busybox(deb: &Path) -> Result<Vec<u8>, PipelineError> {
    let failed = |why: String| PipelineError::DebugTools(format!("{}: {why}", deb.display()));
    let file = staves_deb::deb::DebFile::open(deb).map_err(|e| failed(e.to_string()))?;
    let data = file.data().map_err(|e| failed(e.to_string()))?;
    let guarded = staves_deb::tar_guard::TarGuard::new(data, file.unpack_limit());
    let mut archive = tar::Archive::new(guarded);
    for entry in archive.entries().map_err(|e| failed(e.to_string()))? {
        let mut entry = entry.map_err(|e| failed(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| failed(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if matches!(
            name.trim_start_matches("./"),
            "bin/busybox" | "usr/bin/busybox"
        ) {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_BINARY)
                .read_to_end(&mut bytes)
                .map_err(|e| failed(e.to_string()))?;
            return Ok(bytes);
        }
    }
    Err(failed("holds no bin/busybox".into()))
}

/// The commands a busybox binary has, from the table of their names it carries (sorted,
/// NUL-separated, starting `[`, `[[`): what `busybox --list` prints, read without running
/// a program built for the image's architecture.
fn commands_of(binary: &[u8]) -> Option<Vec<String>> {
    let start = binary.windows(5).position(|w| w == b"[\0[[\0")?;
    let mut commands = Vec::new();
    for name in binary[start..].split(|&b| b == 0) {
        let plain = !name.is_empty()
            && name.len() <= 32
            && name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"[]-_.".contains(&b));
        if !plain || commands.len() >= 1000 {
            break;
        }
        commands.push(String::from_utf8_lossy(name).into_owned());
    }
    (commands.len() >= 10).then_some(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_table_is_read_up_to_its_end() {
        let mut binary = b"\x7fELF....[\0[[\0".to_vec();
        for name in [
            "acpid", "ar", "ash", "cat", "ls", "ps", "sh", "vi", "wget", "zcat",
        ] {
            binary.extend_from_slice(name.as_bytes());
            binary.push(0);
        }
        binary.extend_from_slice(b"\0\x01\x02usage text");
        let commands = commands_of(&binary).expect("a table");
        assert_eq!(commands.first().map(String::as_str), Some("["));
        assert_eq!(commands.last().map(String::as_str), Some("zcat"));
        assert_eq!(commands.len(), 12);
        // No table, or one too short to be busybox's: nothing.
        assert_eq!(commands_of(b"no table here"), None);
        assert_eq!(commands_of(b"[\0[[\0sh\0\0"), None);
    }
}
