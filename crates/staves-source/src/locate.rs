//! From a binary package to its source package, as the verified indices describe them.

use staves_deb::deb822::{self, Paragraph};
use staves_deb::source::{SourceFile, checksums_sha256};
use staves_deb::{Version, VersionOp};
use staves_repo::{PackageIndex, SyncedRepository, archive_path};

use crate::error::SourceError;

/// A source package found in a verified `Sources` index.
#[derive(Debug, Clone)]
pub struct SourcePackage {
    /// Source package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Archive root of the repository it is in.
    pub uri: String,
    /// `Directory:` below the root.
    pub directory: String,
    /// The `.dsc`.
    pub dsc: SourceFile,
    /// Every file of the source package, the `.dsc` among them.
    pub files: Vec<SourceFile>,
    /// Its `Sources` paragraph: build relationships are read from it.
    pub paragraph: String,
}

impl SourcePackage {
    /// `name version`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// The paragraph, parsed.
    pub fn fields(&self) -> Option<Paragraph<'_>> {
        deb822::paragraphs(&self.paragraph).next()
    }
}

/// The source package of `binary`: the highest version the repositories offer for `arch`
/// (admitted by `pin` when given), and the `Sources` paragraph of its exact source version.
/// `sources[i]` are the `Sources` indices of `synced[i]`.
pub fn locate(
    binary: &str,
    arch: &str,
    pin: Option<&(VersionOp, Version)>,
    synced: &[SyncedRepository],
    sources: &[Vec<(String, PackageIndex)>],
) -> Result<SourcePackage, SourceError> {
    let mut best: Option<(Version, String, String)> = None;
    for repository in synced {
        for (_, _, index) in &repository.indices {
            for para in index.by_name(binary) {
                let field = |f: &str| para.get(f).unwrap_or_default();
                if field("Architecture") != arch && field("Architecture") != "all" {
                    continue;
                }
                let Ok(version) = Version::parse(field("Version")) else {
                    continue;
                };
                if pin.is_some_and(|(op, wanted)| !op.admits(&version, wanted)) {
                    continue;
                }
                if best.as_ref().is_some_and(|(v, _, _)| *v >= version) {
                    continue;
                }
                let text = version.to_string();
                let (source, source_version) =
                    staves_deb::source::source_of(binary, &text, para.get("Source"));
                let (source, source_version) = (source.to_owned(), source_version.to_owned());
                best = Some((version, source, source_version));
            }
        }
    }
    let (_, source, version) = best.ok_or_else(|| SourceError::NoBinary(binary.to_owned()))?;
    for (repository, indices) in synced.iter().zip(sources) {
        for (_, index) in indices {
            for para in index.by_name(&source) {
                if para.get("Version").map(str::trim) != Some(version.as_str()) {
                    continue;
                }
                return read(
                    &para,
                    &repository.config.uri,
                    &format!("{source} {version}"),
                );
            }
        }
    }
    Err(SourceError::NoSource {
        binary: binary.to_owned(),
        source_package: source,
        version,
    })
}

fn read(para: &Paragraph<'_>, uri: &str, label: &str) -> Result<SourcePackage, SourceError> {
    let malformed = |message: String| SourceError::Malformed {
        what: format!("the Sources paragraph of {label}"),
        message,
    };
    let directory = para.get("Directory").unwrap_or_default().trim();
    archive_path::check(directory)
        .map_err(|reason| malformed(format!("`Directory: {directory}` {reason}")))?;
    let files = checksums_sha256(para).map_err(|e| malformed(e.to_string()))?;
    let dsc = files
        .iter()
        .find(|f| f.name.ends_with(".dsc"))
        .cloned()
        .ok_or_else(|| malformed("lists no .dsc".into()))?;
    Ok(SourcePackage {
        name: para.get("Package").unwrap_or_default().trim().to_owned(),
        version: para.get("Version").unwrap_or_default().trim().to_owned(),
        uri: uri.to_owned(),
        directory: directory.to_owned(),
        dsc,
        files,
        paragraph: para.text().to_owned(),
    })
}

/// Checks that the `.dsc` (already verified by its checksum in the signed index) names
/// exactly the other files of the index paragraph, with the same sizes and checksums.
pub fn check_dsc(package: &SourcePackage, dsc_text: &str) -> Result<(), SourceError> {
    let mismatch = |message: String| SourceError::DscMismatch {
        dsc: package.dsc.name.clone(),
        message,
    };
    // A .dsc is usually clear-signed by its uploader: the fields are inside the signed part.
    let body = dsc_text
        .split_once("\n\n")
        .filter(|_| dsc_text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----"))
        .map_or(dsc_text, |(_, rest)| rest);
    let para = deb822::paragraphs(body)
        .next()
        .ok_or_else(|| mismatch("holds no fields".into()))?;
    let mut named = checksums_sha256(&para).map_err(|e| mismatch(e.to_string()))?;
    let mut indexed: Vec<SourceFile> = package
        .files
        .iter()
        .filter(|f| f.name != package.dsc.name)
        .cloned()
        .collect();
    named.sort_by(|a, b| a.name.cmp(&b.name));
    indexed.sort_by(|a, b| a.name.cmp(&b.name));
    if named != indexed {
        let show = |files: &[SourceFile]| {
            files
                .iter()
                .map(|f| format!("{} ({} bytes)", f.name, f.size))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(mismatch(format!(
            "it names {}; the index names {}",
            show(&named),
            show(&indexed)
        )));
    }
    for (field, theirs) in [("Source", &package.name), ("Version", &package.version)] {
        let ours = para.get(field).map(str::trim);
        if ours != Some(theirs.as_str()) {
            return Err(mismatch(format!(
                "its `{field}` is {}, the index says {theirs}",
                ours.unwrap_or("missing")
            )));
        }
    }
    Ok(())
}
