//! Image references: `HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]`.
//!
//! The registry host is always explicit. A reference without one (`nginx:1.25`) would, by
//! docker's convention, go to a public registry; pushing there by accident is worse than
//! asking the user to spell the destination out.

use std::fmt;

use crate::RegistryError;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    /// Repository path within the registry (`team/app`).
    pub repository: String,
    /// Tag, when given.
    pub tag: Option<String>,
    /// `sha256:…` digest, when given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text`, which must name its registry host.
    pub fn parse(text: &str) -> Result<Reference, RegistryError> {
        let invalid = |why: &str| RegistryError::Reference {
            reference: text.to_owned(),
            why: why.to_owned(),
        };
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                let hex = digest
                    .strip_prefix("sha256:")
                    .ok_or_else(|| invalid("the digest must start with `sha256:`"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid("the digest must be `sha256:` and 64 hex digits"));
                }
                (rest, Some(digest.to_ascii_lowercase()))
            }
            None => (text, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .filter(|(host, _)| host.contains(['.', ':']) || *host == "localhost")
            .ok_or_else(|| {
                invalid(
                    "name the registry: HOST[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/app:1",
                )
            })?;
        // A tag follows the last `:` after the last `/`.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
            _ => (path, None),
        };
        if registry.is_empty() || registry.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(invalid("the registry host is not valid"));
        }
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(invalid(
                "repository names are lowercase letters, digits and `._-` separated by `/`",
            ));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "a tag is 1 to 128 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// What the manifest is stored under: the tag, else the digest, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("latest")
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }
}

/// An image's local name, as `docker build -t` takes it: `[HOST[:PORT]/]REPOSITORY[:TAG]`,
/// the tag `latest` when absent. Unlike a [`Reference`] it need not name a registry: it is
/// what `docker images` shows, not where a push goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// Everything before the tag: `app`, `team/app`, `registry.example:5000/team/app`.
    pub repository: String,
    /// The tag.
    pub tag: String,
}

impl ImageName {
    /// Parses `text`; a digest is refused (an image cannot be named after its own digest).
    pub fn parse(text: &str) -> Result<ImageName, RegistryError> {
        let invalid = |why: &str| RegistryError::Reference {
            reference: text.to_owned(),
            why: why.to_owned(),
        };
        if text.contains('@') {
            return Err(invalid("an image is named by a tag, not a digest"));
        }
        let (repository, tag) = match text.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (text, "latest"),
        };
        let mut parts = repository.split('/').peekable();
        // A first part with `.` or `:` (or `localhost`) is a registry host, as docker reads it.
        if let Some(host) = parts.next_if(|first| {
            repository.contains('/') && (first.contains(['.', ':']) || *first == "localhost")
        }) && (host.is_empty() || host.contains(char::is_whitespace))
        {
            return Err(invalid("the registry host is not valid"));
        }
        let mut any = false;
        for part in parts {
            any = true;
            if !valid_component(part) {
                return Err(invalid(
                    "repository names are lowercase letters, digits and `._-` separated by `/`",
                ));
            }
        }
        if !any {
            return Err(invalid("the name is empty"));
        }
        if !valid_tag(tag) {
            return Err(invalid(
                "a tag is 1 to 128 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        Ok(ImageName {
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    !bytes.is_empty()
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b))
}

fn valid_tag(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{ImageName, Reference};

    #[test]
    fn image_names_read_as_docker_build_reads_them() {
        let name = |t: &str| ImageName::parse(t).map(|n| n.to_string());
        assert_eq!(name("app").unwrap(), "app:latest");
        assert_eq!(name("app:1.0").unwrap(), "app:1.0");
        assert_eq!(
            name("registry.example:5000/team/app:1.0").unwrap(),
            "registry.example:5000/team/app:1.0"
        );
        assert_eq!(
            name("localhost:5000/app").unwrap(),
            "localhost:5000/app:latest"
        );
        for bad in [
            "",
            "App",
            "app:",
            "app:-1",
            "a//b",
            "app@sha256:00",
            "/app",
            ":1",
        ] {
            assert!(ImageName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parses_host_port_repository_tag_and_digest() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1.2").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("localhost/app@{d}")).unwrap();
        assert_eq!((r.tag, r.digest.as_deref()), (None, Some(d.as_str())));
        let r = Reference::parse("registry.example:443/app").unwrap();
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.to_string(), "registry.example:443/app");
    }

    #[test]
    fn refuses_references_without_a_registry_or_with_bad_parts() {
        for bad in [
            "nginx:1.25",
            "library/nginx",
            "127.0.0.1:5000/App",
            "127.0.0.1:5000/app:-x",
            "127.0.0.1:5000/app@sha256:abc",
            "127.0.0.1:5000/",
            "127.0.0.1:5000/a//b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
