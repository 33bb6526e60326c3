//! The SBOMs of a build: one inside every image, and `--sbom FILE` beside them.

use std::collections::BTreeMap;
use std::sync::Arc;

use staves_image::{GeneratedFile, PackageFacts};
use staves_sbom::{Document, Subject};

use super::{BuiltImage, Located};

/// Where the SBOM sits inside every image.
pub const SBOM_PATH: &str = "/var/lib/staves/sbom.spdx.json";

/// The SBOM file placed inside an image of `arch` built from the spec named `name`. The
/// image's digest cannot be known inside it, so the image is its subject by the spec's name:
/// never by a tag, so that naming an image differently does not change its bytes.
pub fn in_image(reference: &str, arch: &str, located: &[Located]) -> GeneratedFile {
    let (name, arch, located) = (reference.to_owned(), arch.to_owned(), located.to_vec());
    GeneratedFile {
        path: SBOM_PATH.into(),
        render: Arc::new(move |facts, mtime| {
            let image = sbom_image(&arch, None, facts, &located);
            Document::new(
                &Subject {
                    name: &name,
                    digest: None,
                    created: &staves_oci::image::rfc3339(mtime),
                },
                &[image],
            )
            .to_json()
        }),
    }
}

/// The SBOM view of one image's packages.
fn sbom_image<'a>(
    arch: &'a str,
    digest: Option<&'a str>,
    facts: &'a [PackageFacts],
    located: &'a [Located],
) -> staves_sbom::Image<'a> {
    let by_name: BTreeMap<(&str, &str), &Located> = located
        .iter()
        .map(|l| ((l.package.name.as_str(), l.package.arch.as_str()), l))
        .collect();
    staves_sbom::Image {
        arch,
        digest,
        packages: facts
            .iter()
            .filter_map(|f| {
                let l = by_name.get(&(f.name.as_str(), f.arch.as_str()))?;
                Some(staves_sbom::Package {
                    name: &f.name,
                    version: &f.version,
                    arch: &f.arch,
                    control: &f.control,
                    copyright: f.copyright.as_deref(),
                    sha256: &l.package.sha256,
                    download_location: fetched_from(l),
                    source_info: made_here(l),
                })
            })
            .collect(),
    }
}

/// The SBOM of everything built: the image (or index) by digest, then its packages.
pub fn sbom_document(
    reference: &str,
    digest: Option<&str>,
    built: &[BuiltImage],
    created: u64,
) -> Document {
    let images: Vec<staves_sbom::Image<'_>> = built
        .iter()
        .map(|b| {
            sbom_image(
                &b.arch,
                Some(&b.manifest.digest),
                &b.summary.packages,
                &b.listed,
            )
        })
        .collect();
    Document::new(
        &Subject {
            name: reference,
            digest,
            created: &staves_oci::image::rfc3339(created),
        },
        &images,
    )
}

/// Where a package was fetched from: its repository's URL. None for a package made on
/// this host (built from source, by a recipe, or a local `.deb`): its `.deb` lives in this
/// host's cache, and no path of this host may reach an image (the same spec gives the same
/// bytes whatever the cache directory).
fn fetched_from(l: &Located) -> Option<String> {
    made_here(l).is_none().then(|| l.url.clone())
}

/// How a package made on this host came about, named as the lock names it.
fn made_here(l: &Located) -> Option<String> {
    use crate::from_source::{BUILT, BUILT_URI, LOCAL, LOCAL_URI};
    match l.package.repository.as_str() {
        BUILT => Some(format!(
            "built by Staves (from Debian source or a recipe): {BUILT_URI}/{}",
            l.package.filename
        )),
        LOCAL => Some(format!(
            "a local .deb the spec names: {LOCAL_URI}/{}",
            l.package.filename
        )),
        _ => None,
    }
}
