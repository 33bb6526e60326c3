//! What can go wrong signing or verifying.

/// Errors of keys, signatures and envelopes.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// A key file that is not a key this crate reads.
    #[error("{0}")]
    Key(String),
    /// A signature that does not verify with the key given.
    #[error("{0}")]
    BadSignature(String),
    /// A signed document that says something other than what it is checked for.
    #[error("{0}")]
    Mismatch(String),
    /// A document that is not what it claims to be.
    #[error("{0}")]
    Malformed(String),
    /// The external signer failed.
    #[error("{0}")]
    Signer(String),
    /// Reading or writing a key file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
