//! Progress bars for long commands (import, synth, replay): drawn on stderr, and not at
//! all when stderr is not a terminal or the user asked for `--quiet`, so scripts and
//! CI logs stay clean and a hidden bar costs nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar that may be hidden.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `total` units labelled `what` (`bytes` draws byte counts), hidden when
    /// `quiet` or stderr is not a terminal.
    pub fn new(total: u64, what: &str, quiet: bool) -> Progress {
        if quiet || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = if what == "bytes" {
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})"
        } else {
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} ({eta})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if what != "bytes" {
            bar.set_message(what.to_owned());
        }
        Progress { bar: Some(bar) }
    }

    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves the bar to `position`.
    #[inline]
    pub fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
