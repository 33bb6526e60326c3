//! The uploading side: each `.deb` sent with `PUT /upload/SUITE/COMPONENT/NAME`, streamed
//! from disk with its length, and the server's answer read back.

use std::path::Path;

/// What the archive said of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// `added` or `unchanged`.
    pub status: String,
    /// `name version (arch)`.
    pub package: String,
}

/// Why an upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The archive could not be reached.
    #[error("{url}: {message}")]
    Network {
        /// Where.
        url: String,
        /// What happened.
        message: String,
    },
    /// The archive refused the file.
    #[error("{file}: the archive answered {status}: {message}")]
    Refused {
        /// The file.
        file: String,
        /// The HTTP status.
        status: u16,
        /// The archive's message.
        message: String,
    },
}

/// Uploads `file` to the archive at `base` (`http://HOST:PORT`).
pub fn upload(
    base: &str,
    suite: &str,
    component: &str,
    token: &str,
    file: &Path,
) -> Result<Uploaded, UploadError> {
    let io = |source| UploadError::Io {
        path: file.to_owned(),
        source,
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.ends_with(".deb"))
        .ok_or_else(|| io(std::io::Error::other("not a .deb file name")))?;
    let mut handle = std::fs::File::open(file).map_err(io)?;
    let len = handle.metadata().map_err(io)?.len();
    let url = format!(
        "{}/upload/{suite}/{component}/{name}",
        base.trim_end_matches('/')
    );
    let network = |message: String| UploadError::Network {
        url: url.clone(),
        message,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .put(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Length", &len.to_string())
        .header("Content-Type", "application/vnd.debian.binary-package")
        .send(ureq::SendBody::from_reader(&mut handle))
        .map_err(|e| network(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 16)
        .read_to_string()
        .map_err(|e| network(e.to_string()))?;
    if status != 200 {
        return Err(UploadError::Refused {
            file: file.display().to_string(),
            status,
            message: text.trim().to_owned(),
        });
    }
    let answer: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| network(format!("an unreadable answer: {e}")))?;
    let field = |k: &str| {
        answer
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    Ok(Uploaded {
        status: field("status"),
        package: format!(
            "{} {} ({})",
            field("package"),
            field("version"),
            field("architecture")
        ),
    })
}
