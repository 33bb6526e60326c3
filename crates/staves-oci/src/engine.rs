//! Images in an engine's store, named `docker:NAME[:TAG]` or `podman:NAME[:TAG]`: saved as a
//! docker-archive by the engine itself (`docker save`, `podman save`; the store has no other
//! interface) into a temporary file, then read as any archive — every layer checked against
//! its digest as it is read.

use std::path::Path;
use std::process::Command;

use crate::OciError;

/// An engine whose store an image can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker Engine, through the `docker` client.
    Docker,
    /// podman.
    Podman,
}

impl Engine {
    /// `docker:NAME` or `podman:NAME` as the engine and the image's name; anything else is
    /// not an engine reference.
    pub fn parse(reference: &str) -> Option<(Engine, &str)> {
        let (engine, name) = reference.split_once(':')?;
        let engine = match engine {
            "docker" => Engine::Docker,
            "podman" => Engine::Podman,
            _ => return None,
        };
        (!name.is_empty()).then_some((engine, name))
    }

    fn program(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// Saves image `name` from the store into the docker-archive `archive`.
    pub fn save(self, name: &str, archive: &Path) -> Result<(), OciError> {
        let mut command = Command::new(self.program());
        command.arg("save");
        if self == Engine::Podman {
            command.args(["--format", "docker-archive"]);
        }
        // `--` keeps a name starting with `-` from being read as an option.
        command.arg("-o").arg(archive).arg("--").arg(name);
        let out = command.output().map_err(|e| {
            OciError::Layout(format!(
                "running `{} save`: {e}; is {} installed?",
                self.program(),
                self.program()
            ))
        })?;
        if !out.status.success() {
            return Err(OciError::Layout(format!(
                "`{} save {name}` failed: {}",
                self.program(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_references_name_their_engine() {
        assert_eq!(
            Engine::parse("docker:nginx:latest"),
            Some((Engine::Docker, "nginx:latest"))
        );
        assert_eq!(Engine::parse("podman:app"), Some((Engine::Podman, "app")));
        assert_eq!(Engine::parse("docker:"), None);
        assert_eq!(Engine::parse("./layout:tag"), None);
        assert_eq!(Engine::parse("image.tar"), None);
    }
}
