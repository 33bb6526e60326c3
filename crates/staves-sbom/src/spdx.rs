//! The SPDX 2.3 JSON document.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use staves_deb::{deb822, relation};

use crate::copyright;

/// One installed `.deb`.
#[derive(Debug, Clone)]
pub struct Package<'a> {
    /// Package name.
    pub name: &'a str,
    /// Exact version.
    pub version: &'a str,
    /// Architecture (`all` included).
    pub arch: &'a str,
    /// Its control paragraph (`Maintainer`, `Depends`, `Provides`, `Homepage`, `Source`).
    pub control: &'a str,
    /// Its `/usr/share/doc/<name>/copyright`, when it ships one.
    pub copyright: Option<&'a str>,
    /// SHA-256 of the `.deb`.
    pub sha256: &'a str,
    /// Where the `.deb` was fetched from (`NOASSERTION` when it was made on this host).
    pub download_location: Option<String>,
    /// How it came about, when not fetched (SPDX `sourceInfo`): built from source or by a
    /// recipe, or a local `.deb`, named as the lock names it.
    pub source_info: Option<String>,
}

/// The packages of one architecture's image.
#[derive(Debug, Clone)]
pub struct Image<'a> {
    /// Debian architecture.
    pub arch: &'a str,
    /// Manifest digest, when known (a document placed inside the image cannot know it).
    pub digest: Option<&'a str>,
    /// Its packages.
    pub packages: Vec<Package<'a>>,
}

/// What the document describes.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// `name:tag`.
    pub name: &'a str,
    /// The digest of the manifest (one image) or index (several), when known.
    pub digest: Option<&'a str>,
    /// Creation time, RFC 3339.
    pub created: &'a str,
}

/// What the document is assembled from, image by image.
#[derive(Default)]
struct Parts<'a> {
    packages: Vec<Value>,
    relationships: BTreeSet<(String, &'static str, String)>,
    /// `LicenseRef-…` → (Debian name, text).
    references: BTreeMap<String, (String, String)>,
    /// `.deb` digests already listed: an `all` package in several images is one package.
    written: HashMap<&'a str, String>,
}

impl<'a> Parts<'a> {
    /// Lists `image`'s packages as contained by `holder`, with their dependencies.
    fn add_image(&mut self, holder: &str, image: &Image<'a>) {
        // Name (and provided name) → SPDX id, within this image.
        let mut by_name: HashMap<String, String> = HashMap::new();
        let mut parsed = Vec::with_capacity(image.packages.len());
        for p in &image.packages {
            let id = package_id(p);
            by_name.insert(p.name.to_owned(), id.clone());
            let para = deb822::paragraphs(p.control).next();
            let field = |f: &str| para.and_then(|para| para.get(f)).unwrap_or_default();
            if let Ok(provides) = relation::parse_field(field("Provides")) {
                for provided in provides.iter().flat_map(|d| &d.alternatives) {
                    by_name.entry(provided.name.clone()).or_insert(id.clone());
                }
            }
            parsed.push((p, id, para));
        }
        for (p, id, para) in parsed {
            self.relationships
                .insert((holder.to_owned(), "CONTAINS", id.clone()));
            let field = |f: &str| para.and_then(|para| para.get(f)).unwrap_or_default();
            for name in ["Pre-Depends", "Depends"] {
                let Ok(deps) = relation::parse_field(field(name)) else {
                    continue;
                };
                for dep in deps {
                    // The first alternative the image holds is the one that satisfies it.
                    if let Some(target) = dep
                        .alternatives
                        .iter()
                        .find_map(|alt| by_name.get(alt.name.as_str()))
                        && *target != id
                    {
                        self.relationships
                            .insert((id.clone(), "DEPENDS_ON", target.clone()));
                    }
                }
            }
            if self.written.contains_key(p.sha256) {
                continue;
            }
            self.written.insert(p.sha256, id.clone());
            let declared = p
                .copyright
                .map(|text| copyright::declared(p.name, text))
                .unwrap_or_default();
            self.references.extend(declared.references);
            self.packages.push(deb_package(
                p,
                &id,
                field("Maintainer"),
                field("Homepage"),
                field("Source"),
                declared.expression,
            ));
        }
    }
}

/// A finished document.
#[derive(Debug, Clone)]
pub struct Document(Value);

impl Document {
    /// Builds the document: the subject (one image, or an index of images) contains the
    /// packages, which depend on each other as their relations resolve within each image.
    pub fn new(subject: &Subject<'_>, images: &[Image<'_>]) -> Document {
        let mut parts = Parts::default();
        let single = images.len() == 1;
        let root = if single {
            "SPDXRef-Image"
        } else {
            "SPDXRef-Index"
        };
        parts.packages.push(image_package(
            root,
            subject.name,
            subject.digest,
            images.first().filter(|_| single).map(|i| i.arch),
        ));
        parts
            .relationships
            .insert(("SPDXRef-DOCUMENT".into(), "DESCRIBES", root.into()));
        for image in images {
            let holder = if single {
                root.to_owned()
            } else {
                let id = format!("SPDXRef-Image-{}", idstring(image.arch));
                parts.packages.push(image_package(
                    &id,
                    subject.name,
                    image.digest,
                    Some(image.arch),
                ));
                parts
                    .relationships
                    .insert((root.into(), "CONTAINS", id.clone()));
                id
            };
            parts.add_image(&holder, image);
        }
        let Parts {
            packages,
            relationships,
            references,
            ..
        } = parts;

        let namespace_seed = match subject.digest {
            Some(d) => d.to_owned(),
            None => {
                let mut h = Sha256::new();
                for image in images {
                    for p in &image.packages {
                        h.update(p.sha256.as_bytes());
                    }
                }
                hex::encode(h.finalize())
            }
        };
        let mut document = json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": subject.name,
            "documentNamespace": format!(
                "https://spdx.org/spdxdocs/staves/{}-{}",
                idstring(subject.name),
                namespace_seed.trim_start_matches("sha256:")
            ),
            "creationInfo": {
                "created": subject.created,
                "creators": [concat!("Tool: staves-", env!("CARGO_PKG_VERSION"))],
            },
            "documentDescribes": [root],
            "packages": packages,
            "relationships": relationships.into_iter().map(|(a, kind, b)| json!({
                "spdxElementId": a,
                "relationshipType": kind,
                "relatedSpdxElement": b,
            })).collect::<Vec<_>>(),
        });
        if !references.is_empty()
            && let Some(map) = document.as_object_mut()
        {
            map.insert(
                "hasExtractedLicensingInfos".into(),
                references
                    .into_iter()
                    .map(|(id, (name, text))| {
                        json!({ "licenseId": id, "name": name, "extractedText": text })
                    })
                    .collect(),
            );
        }
        Document(document)
    }

    /// The document as pretty-printed JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.0).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// A document read back from its JSON.
    pub fn from_value(value: Value) -> Document {
        Document(value)
    }

    /// The document as a JSON value.
    pub fn value(&self) -> &Value {
        &self.0
    }
}

fn image_package(id: &str, name: &str, digest: Option<&str>, arch: Option<&str>) -> Value {
    let mut p = json!({
        "SPDXID": id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
    });
    let Some(map) = p.as_object_mut() else {
        return p;
    };
    if let Some(arch) = arch {
        map.insert("description".into(), format!("linux/{arch} image").into());
    }
    if let Some(digest) = digest {
        map.insert("versionInfo".into(), digest.into());
        let hex = digest.trim_start_matches("sha256:");
        map.insert(
            "checksums".into(),
            json!([{ "algorithm": "SHA256", "checksumValue": hex }]),
        );
        let short = name.rsplit('/').next().unwrap_or(name);
        let short = short.split(':').next().unwrap_or(short);
        let mut purl = format!("pkg:oci/{short}@{}", percent(digest));
        if let Some(arch) = arch {
            purl.push_str(&format!("?arch={}", percent(arch)));
        }
        map.insert("externalRefs".into(), json!([purl_ref(&purl)]));
    }
    p
}

fn deb_package(
    p: &Package<'_>,
    id: &str,
    maintainer: &str,
    homepage: &str,
    source: &str,
    license: Option<String>,
) -> Value {
    let purl = format!(
        "pkg:deb/debian/{}@{}?arch={}",
        percent(p.name),
        percent(p.version),
        percent(p.arch)
    );
    let mut value = json!({
        "SPDXID": id,
        "name": p.name,
        "versionInfo": p.version,
        "downloadLocation": p.download_location.clone().unwrap_or_else(|| "NOASSERTION".into()),
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license.unwrap_or_else(|| "NOASSERTION".into()),
        "copyrightText": "NOASSERTION",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": p.sha256 }],
        "externalRefs": [purl_ref(&purl)],
        "description": format!("Debian package {} {} ({})", p.name, p.version, p.arch),
    });
    let Some(map) = value.as_object_mut() else {
        return value;
    };
    if let Some(info) = &p.source_info {
        map.insert("sourceInfo".into(), json!(info));
    }
    if let Some(supplier) = supplier(maintainer) {
        map.insert("supplier".into(), supplier.into());
    }
    if homepage.starts_with("http://") || homepage.starts_with("https://") {
        map.insert("homepage".into(), homepage.into());
    }
    if !source.is_empty() {
        map.insert(
            "sourceInfo".into(),
            format!("built from Debian source package {source}").into(),
        );
    }
    value
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

/// `Name <mail>` → `Organization: Name (mail)`.
fn supplier(maintainer: &str) -> Option<String> {
    let maintainer = maintainer.trim();
    if maintainer.is_empty() {
        return None;
    }
    Some(match maintainer.split_once('<') {
        Some((name, mail)) => format!(
            "Organization: {} ({})",
            name.trim(),
            mail.trim_end_matches('>').trim()
        ),
        None => format!("Organization: {maintainer}"),
    })
}

fn package_id(p: &Package<'_>) -> String {
    format!(
        "SPDXRef-deb-{}-{}-{}",
        idstring(p.name),
        idstring(p.version),
        idstring(p.arch)
    )
}

fn idstring(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// purl percent-encoding: everything but unreserved characters.
fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg<'a>(name: &'a str, version: &'a str, control: &'a str, sha: &'a str) -> Package<'a> {
        Package {
            name,
            version,
            arch: "amd64",
            control,
            copyright: None,
            sha256: sha,
            download_location: None,
            source_info: None,
        }
    }

    #[test]
    fn relates_packages_through_depends_and_provides() {
        let a = "Package: app\nMaintainer: Team <team@example.org>\nDepends: libfoo (>= 1) | libbar, mail-transport-agent\n";
        let b = "Package: libfoo\nSource: foo\n";
        let c = "Package: postfix\nProvides: mail-transport-agent\n";
        let images = [Image {
            arch: "amd64",
            digest: None,
            packages: vec![
                pkg("app", "1:2.0+x", a, "aa"),
                pkg("libfoo", "1", b, "bb"),
                pkg("postfix", "3", c, "cc"),
            ],
        }];
        let subject = Subject {
            name: "demo:latest",
            digest: Some("sha256:0123"),
            created: "2026-01-01T00:00:00Z",
        };
        let doc = Document::new(&subject, &images);
        let v = doc.value();
        let rel: Vec<String> = v["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["spdxElementId"].as_str().unwrap(),
                    r["relationshipType"].as_str().unwrap(),
                    r["relatedSpdxElement"].as_str().unwrap()
                )
            })
            .collect();
        assert!(
            rel.contains(
                &"SPDXRef-deb-app-1-2.0-x-amd64 DEPENDS_ON SPDXRef-deb-libfoo-1-amd64".to_owned()
            ),
            "{rel:?}"
        );
        assert!(rel.contains(
            &"SPDXRef-deb-app-1-2.0-x-amd64 DEPENDS_ON SPDXRef-deb-postfix-3-amd64".to_owned()
        ));
        assert!(rel.contains(&"SPDXRef-DOCUMENT DESCRIBES SPDXRef-Image".to_owned()));
        assert!(rel.contains(&"SPDXRef-Image CONTAINS SPDXRef-deb-libfoo-1-amd64".to_owned()));
        let app = &v["packages"][1];
        assert_eq!(app["supplier"], "Organization: Team (team@example.org)");
        assert_eq!(
            app["externalRefs"][0]["referenceLocator"],
            "pkg:deb/debian/app@1%3A2.0%2Bx?arch=amd64"
        );
        assert_eq!(v["packages"][0]["versionInfo"], "sha256:0123");
    }
}
