//! SBOMs of real images (host Debian sources): valid against the SPDX 2.3 JSON schema and
//! the SPDX tools' validator, and true to the lock and the layout they describe.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{examples, run, shared_cache, stderr};

/// Validates `path` against the SPDX 2.3 JSON schema (as shipped by lib4sbom) and with
/// pyspdxtools, which also checks licence expressions, ids and relationships.
fn assert_valid_spdx(path: &Path) {
    let script = "import importlib.resources, json, sys, jsonschema\n\
schema = json.loads((importlib.resources.files('lib4sbom') / 'schemas' / 'spdx' / '2.3-schema.json').read_text())\n\
jsonschema.validate(json.load(open(sys.argv[1])), schema)\n";
    run(Command::new("python3").args(["-c", script]).arg(path));
    let out = run(Command::new("pyspdxtools").arg("-i").arg(path));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !said.contains("issues") && !said.contains("ERROR"),
        "{said}"
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// One file of the image's only layer, from an OCI layout.
fn file_in_layout(layout: &Path, wanted: &str) -> Option<Vec<u8>> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(index["manifests"][0]["digest"].as_str()?));
    let layer = std::fs::File::open(blob(manifest["layers"][0]["digest"].as_str()?)).ok()?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    for entry in archive.entries().ok()? {
        let mut entry = entry.ok()?;
        if entry.path().ok()?.to_str() == Some(wanted) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).ok()?;
            return Some(bytes);
        }
    }
    None
}

/// `(element, relationship, related element)` of every relationship in `doc`.
fn relations(doc: &Value) -> BTreeSet<(String, String, String)> {
    doc["relationships"]
        .as_array()
        .expect("relationships")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().expect("field").to_owned();
            (
                s("spdxElementId"),
                s("relationshipType"),
                s("relatedSpdxElement"),
            )
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn nginx_sbom_is_valid_spdx_and_matches_the_lock_and_the_image() {
    let dir = tempfile::tempdir().expect("tmp");
    // A copy of the example, so its lock is written here and not into the source tree.
    let spec = dir.path().join("staves.toml");
    std::fs::copy(examples().join("nginx/staves.toml"), &spec).expect("spec");
    let layout = dir.path().join("layout");
    let sbom = dir.path().join("nginx.spdx.json");
    let staves = |args: &[&str]| {
        let out = support::staves_command(args, &shared_cache())
            .arg("-f")
            .arg(&spec)
            .output()
            .expect("staves");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    staves(&["lock"]);
    staves(&[
        "build",
        "--locked",
        "-o",
        layout.to_str().expect("utf8"),
        "--sbom",
        sbom.to_str().expect("utf8"),
    ]);
    assert_valid_spdx(&sbom);

    let doc = read_json(&sbom);
    let index = read_json(&layout.join("index.json"));
    let image_digest = index["manifests"][0]["digest"].as_str().expect("digest");
    let packages = doc["packages"].as_array().expect("packages");
    let root = &packages[0];
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Image");
    assert_eq!(root["SPDXID"], "SPDXRef-Image");
    assert_eq!(root["versionInfo"], image_digest);

    // Every locked .deb is there, with its checksum and purl, and nothing else.
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.path().join("staves.lock")).expect("lock"))
            .expect("lock toml");
    let locked: BTreeMap<String, (String, String, String)> = lock["target"][0]["package"]
        .as_array()
        .expect("locked packages")
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().expect("field").to_owned();
            (s("name"), (s("version"), s("arch"), s("sha256")))
        })
        .collect();
    let debs: BTreeMap<String, &Value> = packages[1..]
        .iter()
        .map(|p| (p["name"].as_str().expect("name").to_owned(), p))
        .collect();
    assert_eq!(
        debs.keys().collect::<Vec<_>>(),
        locked.keys().collect::<Vec<_>>()
    );
    for (name, (version, arch, sha256)) in &locked {
        let p = debs[name];
        assert_eq!(p["versionInfo"], version.as_str());
        assert_eq!(p["checksums"][0]["checksumValue"], sha256.as_str());
        let purl = p["externalRefs"][0]["referenceLocator"]
            .as_str()
            .expect("purl");
        assert!(
            purl.starts_with(&format!("pkg:deb/debian/{name}@"))
                && purl.ends_with(&format!("?arch={arch}")),
            "{purl}"
        );
        assert!(
            p["supplier"]
                .as_str()
                .is_some_and(|s| s.starts_with("Organization: "))
        );
    }
    // Machine-readable copyright files give real licences.
    assert_eq!(debs["zlib1g"]["licenseDeclared"], "Zlib");

    // Relationships: the image contains every package; nginx depends on libc6 through
    // its own Depends.
    let relations = relations(&doc);
    let id = |name: &str| debs[name]["SPDXID"].as_str().expect("id").to_owned();
    for name in locked.keys() {
        assert!(relations.contains(&("SPDXRef-Image".into(), "CONTAINS".into(), id(name))));
    }
    assert!(relations.contains(&(id("nginx"), "DEPENDS_ON".into(), id("libc6"))));

    // The image carries its own SBOM: the same packages, with the image as a subject whose
    // digest it cannot know.
    let inside = file_in_layout(&layout, "var/lib/staves/sbom.spdx.json").expect("sbom in image");
    let inside_path = dir.path().join("inside.spdx.json");
    std::fs::write(&inside_path, &inside).expect("write");
    assert_valid_spdx(&inside_path);
    let inside: Value = serde_json::from_slice(&inside).expect("json");
    assert!(inside["packages"][0].get("versionInfo").is_none());
    assert_eq!(
        inside["packages"].as_array().map(Vec::len),
        Some(packages.len())
    );

    // Built again, the image comes from the image cache, and so does what its SBOM needs:
    // the same SBOM, byte for byte, without assembling anything.
    let again = dir.path().join("again.spdx.json");
    let out = support::staves_command(
        &[
            "build",
            "--locked",
            "-o",
            dir.path().join("again").to_str().expect("utf8"),
            "--sbom",
            again.to_str().expect("utf8"),
        ],
        &shared_cache(),
    )
    .arg("-f")
    .arg(&spec)
    .output()
    .expect("staves");
    assert!(stderr(&out).contains("Unchanged"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&again).expect("sbom"),
        std::fs::read(&sbom).expect("sbom")
    );

    // `--sbom-format cyclonedx`: CycloneDX 1.6 of the same packages, valid for
    // cyclonedx-python-lib's strict validator.
    let bom = dir.path().join("nginx.cdx.json");
    staves(&[
        "build",
        "--locked",
        "-o",
        dir.path().join("cdx").to_str().expect("utf8"),
        "--sbom",
        bom.to_str().expect("utf8"),
        "--sbom-format",
        "cyclonedx",
    ]);
    let checked = Command::new("python3")
        .args(["-c", CYCLONEDX_CHECK])
        .arg(&bom)
        .output()
        .expect("python3");
    assert!(checked.status.success(), "{}", stderr(&checked));
    let components: BTreeSet<String> = read_json(&bom)["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(components, locked.keys().cloned().collect());
}

/// A CycloneDX 1.6 document through cyclonedx-python-lib's strict JSON validator.
const CYCLONEDX_CHECK: &str = r#"
import pathlib, sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(pathlib.Path(sys.argv[1]).read_text())
assert errors is None, errors
"#;

#[test]
#[cfg_attr(
    not(feature = "online-tests"),
    ignore = "needs Debian's archive or a container engine; run with --features staves/online-tests"
)]
fn a_multi_arch_sbom_describes_the_index_and_each_image() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("staves.toml");
    std::fs::write(
        &spec,
        "name = \"multi-sbom\"\npackages = [\"bash\", \"ca-certificates\"]\narchs = [\"amd64\", \"arm64\"]\n",
    )
    .expect("spec");
    let layout = dir.path().join("layout");
    let sbom = dir.path().join("multi.spdx.json");
    let out = support::staves_command(
        &[
            "build",
            "-o",
            layout.to_str().expect("utf8"),
            "--sbom",
            sbom.to_str().expect("utf8"),
        ],
        &shared_cache(),
    )
    .arg("-f")
    .arg(&spec)
    .output()
    .expect("staves");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_valid_spdx(&sbom);

    let doc = read_json(&sbom);
    let index = read_json(&layout.join("index.json"));
    let packages = doc["packages"].as_array().expect("packages");
    assert_eq!(doc["documentDescribes"][0], "SPDXRef-Index");
    assert_eq!(packages[0]["versionInfo"], index["manifests"][0]["digest"]);
    let relations = relations(&doc);
    for arch in ["amd64", "arm64"] {
        let image = format!("SPDXRef-Image-{arch}");
        assert!(relations.contains(&("SPDXRef-Index".into(), "CONTAINS".into(), image.clone())));
        // Each image holds its own architecture's bash.
        let bash = packages
            .iter()
            .find(|p| {
                p["name"] == "bash" && p["SPDXID"].as_str().is_some_and(|id| id.ends_with(arch))
            })
            .expect("bash of this architecture");
        let id = bash["SPDXID"].as_str().expect("id").to_owned();
        assert!(relations.contains(&(image, "CONTAINS".into(), id)));
    }
    // An `all` package is one .deb: listed once, contained by both images.
    let certificates: Vec<&Value> = packages
        .iter()
        .filter(|p| p["name"] == "ca-certificates")
        .collect();
    assert_eq!(certificates.len(), 1);
    let id = certificates[0]["SPDXID"].as_str().expect("id").to_owned();
    for arch in ["amd64", "arm64"] {
        let image = format!("SPDXRef-Image-{arch}");
        assert!(relations.contains(&(image, "CONTAINS".into(), id.clone())));
    }
}
