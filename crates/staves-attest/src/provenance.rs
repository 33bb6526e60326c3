//! SLSA provenance v1: who built an image, from what, and when. The spec and lock are the
//! external parameters (by digest); every `.deb`, base image and source the build read is a
//! resolved dependency with its digest — enough for anyone to rebuild the image from the lock
//! and compare digests.

use serde_json::{Value, json};

/// The predicate type of SLSA provenance v1.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// What kind of build this is.
pub const BUILD_TYPE: &str = "https://staves.dev/build/v1";

/// One input of the build, by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Where it is (a URL, or a name for what was made on the builder).
    pub uri: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its name (a package's `name version arch`), when it has one.
    pub name: Option<String>,
}

/// What the provenance says.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The builder's identity (a URI: a CI job, a host).
    pub builder_id: String,
    /// Staves' version.
    pub version: String,
    /// The spec file as the build was given it, and its SHA-256.
    pub spec: (String, String),
    /// The lock's SHA-256, when the build read one.
    pub lock: Option<String>,
    /// The image's names.
    pub names: Vec<String>,
    /// The architectures built.
    pub archs: Vec<String>,
    /// `SOURCE_DATE_EPOCH`, when set.
    pub source_date_epoch: Option<u64>,
    /// The layer compression (`gzip`, `zstd`): the bytes depend on it.
    pub compression: String,
    /// Every input read, by digest.
    pub dependencies: Vec<Dependency>,
    /// An identifier of this build.
    pub invocation_id: String,
    /// When it started and ended, RFC 3339.
    pub started: String,
    /// …
    pub finished: String,
}

impl Provenance {
    /// The predicate.
    pub fn predicate(&self) -> Value {
        let dependencies: Vec<Value> = self
            .dependencies
            .iter()
            .map(|d| {
                let mut value = json!({ "uri": d.uri, "digest": { "sha256": d.sha256 } });
                if let (Some(name), Some(map)) = (&d.name, value.as_object_mut()) {
                    map.insert("name".into(), json!(name));
                }
                value
            })
            .collect();
        let mut external = json!({
            "spec": { "path": self.spec.0, "digest": { "sha256": self.spec.1 } },
            "names": self.names,
            "archs": self.archs,
            "compression": self.compression,
        });
        if let Some(map) = external.as_object_mut() {
            if let Some(lock) = &self.lock {
                map.insert("lock".into(), json!({ "digest": { "sha256": lock } }));
            }
            if let Some(epoch) = self.source_date_epoch {
                map.insert("sourceDateEpoch".into(), json!(epoch));
            }
        }
        json!({
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {},
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": self.builder_id,
                    "version": { "staves": self.version },
                },
                "metadata": {
                    "invocationId": self.invocation_id,
                    "startedOn": self.started,
                    "finishedOn": self.finished,
                },
            },
        })
    }
}
