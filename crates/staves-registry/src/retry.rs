//! Retries of requests that failed transiently (a reset connection, a 5xx, a 429), with
//! backoff, reported to the progress.

use std::time::Duration;

use crate::{Progress, RegistryError};

/// Runs `attempt` up to `attempts` times while it fails transiently, backing off.
pub(crate) fn retrying<T>(
    attempts: u32,
    progress: &dyn Progress,
    mut attempt: impl FnMut() -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let mut tries = 1;
    let mut delay = Duration::from_millis(200);
    loop {
        match attempt() {
            Err(e) if e.is_transient() && tries < attempts => {
                tracing::debug!("retrying in {delay:?}: {e}");
                progress.retrying(&e, delay);
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(10));
                tries += 1;
            }
            other => return other,
        }
    }
}
