//! Download progress on a terminal; nothing in pipes or CI.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use staves_repo::Progress;

/// A progress sink shared by every download of a command.
pub struct TerminalProgress {
    bar: Option<ProgressBar>,
}

/// A phase's bar leaves the screen when the phase lets go of it.
impl Drop for TerminalProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A download bar labelled `message` on stderr when it is a terminal and `CI` is unset;
/// silent otherwise.
pub fn labelled(message: &'static str) -> Arc<TerminalProgress> {
    let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let bar = interactive.then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.green} {msg:<12} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {wide_bar:.cyan/blue}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    Arc::new(TerminalProgress { bar })
}

/// Files of unknown size (release files) and retried attempts add bytes no `started`
/// announced; the total grows with them, so the bar never shows more done than in all.
fn grow_to_position(bar: &ProgressBar) {
    if bar.length().is_some_and(|length| bar.position() > length) {
        bar.set_length(bar.position());
    }
}

impl Progress for TerminalProgress {
    fn started(&self, _what: &str, size: Option<u64>) {
        if let (Some(bar), Some(size)) = (&self.bar, size) {
            bar.inc_length(size);
        }
    }

    fn advanced(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            grow_to_position(bar);
        }
    }

    fn retrying(&self, what: &str, error: &dyn std::error::Error, delay: Duration) {
        let line = format!("retrying {what} in {delay:?}: {error}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => tracing::warn!("{line}"),
        }
    }

    fn repaired(&self, what: &str, why: &str) {
        let line = format!("{:>12} {what}: {why}; fetching it again", "Repairing");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn note(&self, what: &str) {
        let line = format!("{:>12} {what}", "Note");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl staves_registry::Progress for TerminalProgress {
    fn sending(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(bytes);
        }
    }

    fn sent(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            grow_to_position(bar);
        }
    }

    fn retrying(&self, error: &staves_registry::RegistryError, delay: Duration) {
        let line = format!("retrying in {delay:?}: {error}");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => tracing::warn!("{line}"),
        }
    }
}
