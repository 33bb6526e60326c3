//! Retries of registry requests, by the network layer's one policy, reported to the
//! progress.

use crate::{Progress, RegistryError};

impl staves_net::Transient for RegistryError {
    /// A reset connection, a 408, 429 or 5xx may pass; a refusal or bad content will not.
    fn is_transient(&self) -> bool {
        match self {
            RegistryError::Network { .. } => true,
            RegistryError::Status { status, .. } => staves_net::transient_status(*status),
            _ => false,
        }
    }
}

/// Runs `attempt` up to `attempts` times while it fails transiently, backing off.
pub(crate) fn retrying<T>(
    attempts: u32,
    progress: &dyn Progress,
    attempt: impl FnMut() -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let policy = staves_net::Retry {
        attempts,
        ..staves_net::Retry::default()
    };
    policy.run(attempt, |e, delay| {
        tracing::debug!("retrying in {delay:?}: {e}");
        progress.retrying(e, delay);
    })
}
