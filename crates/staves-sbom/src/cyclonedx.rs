//! CycloneDX 1.6 JSON, made from the SPDX document of the same image so that the two never
//! disagree: one component per Debian package (its purl, declared licence and `.deb`
//! SHA-256), the image as the metadata's component, and the dependencies between packages.

use serde_json::{Value, json};

use crate::Document;

/// The CycloneDX document of what `spdx` describes. Its serial number is derived from the
/// SPDX document's namespace (which the image's digest or packages determine), so the same
/// image gives the same bytes.
pub fn from_spdx(spdx: &Document) -> Value {
    let doc = spdx.value();
    let packages = doc["packages"].as_array().cloned().unwrap_or_default();
    let purl = |p: &Value| -> Option<String> {
        p["externalRefs"]
            .as_array()?
            .iter()
            .find(|r| r["referenceType"] == "purl")?["referenceLocator"]
            .as_str()
            .map(str::to_owned)
    };
    let is_image = |p: &Value| p["primaryPackagePurpose"] == "CONTAINER";
    // The first container is what the document describes (an image, or an index whose
    // images follow as components of their own).
    let root = packages.iter().position(is_image);
    let mut components = Vec::new();
    for (index, p) in packages.iter().enumerate() {
        if Some(index) == root {
            continue;
        }
        let kind = if is_image(p) { "container" } else { "library" };
        let mut component = json!({
            "type": kind,
            "bom-ref": p["SPDXID"],
            "name": p["name"],
            "version": p["versionInfo"],
        });
        let Some(map) = component.as_object_mut() else {
            continue;
        };
        if let Some(purl) = purl(p) {
            map.insert("purl".into(), json!(purl));
        }
        if let Some(sha) = p["checksums"][0]["checksumValue"].as_str() {
            map.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": sha }]),
            );
        }
        if let Some(license) = p["licenseDeclared"]
            .as_str()
            .filter(|l| *l != "NOASSERTION")
        {
            map.insert("licenses".into(), json!([{ "expression": license }]));
        }
        if let Some(supplier) = p["supplier"]
            .as_str()
            .and_then(|s| s.strip_prefix("Organization: "))
        {
            let name = supplier.split(" (").next().unwrap_or(supplier);
            map.insert("supplier".into(), json!({ "name": name }));
        }
        if let Some(description) = p["description"].as_str() {
            map.insert("description".into(), json!(description));
        }
        components.push(component);
    }
    let image = root.and_then(|i| packages.get(i));
    let mut subject = json!({
        "type": "container",
        "bom-ref": image.map_or(json!("image"), |i| i["SPDXID"].clone()),
        "name": doc["name"],
    });
    if let (Some(image), Some(map)) = (image, subject.as_object_mut()) {
        if let Some(version) = image["versionInfo"].as_str() {
            map.insert("version".into(), json!(version));
        }
        if let Some(purl) = purl(image) {
            map.insert("purl".into(), json!(purl));
        }
    }
    let mut dependencies: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in doc["relationships"].as_array().into_iter().flatten() {
        let (from, to) = (
            r["spdxElementId"].as_str().unwrap_or_default(),
            r["relatedSpdxElement"].as_str().unwrap_or_default(),
        );
        match r["relationshipType"].as_str() {
            Some("DEPENDS_ON") | Some("CONTAINS") if from != "SPDXRef-DOCUMENT" => {
                dependencies
                    .entry(from.to_owned())
                    .or_default()
                    .push(to.to_owned());
            }
            _ => {}
        }
    }
    let namespace = doc["documentNamespace"].as_str().unwrap_or_default();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", uuid_from(namespace)),
        "version": 1,
        "metadata": {
            "timestamp": doc["creationInfo"]["created"],
            "tools": { "components": [{
                "type": "application",
                "name": "staves",
                "version": env!("CARGO_PKG_VERSION"),
            }] },
            "component": subject,
        },
        "components": components,
        "dependencies": dependencies
            .into_iter()
            .map(|(r, on)| json!({ "ref": r, "dependsOn": on }))
            .collect::<Vec<_>>(),
    })
}

/// A version-5-shaped UUID from the SHA-256 of `seed`.
fn uuid_from(seed: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
