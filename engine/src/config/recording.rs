//! `recording:` — whether the service records the live market data it trades on (shadow
//! and live), where, and how often files roll. Optional: left out, nothing is recorded.
//! Drivers read it; no decision does.

use super::raw::RawRecording;
use super::validate::{Validator, join};
use serde::Serialize;

/// The service's own recording of live market data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordingConfig {
    /// Record every live venue's market data while serving.
    pub live_market_data: bool,
    /// Directory, relative to the data directory unless absolute.
    pub dir: String,
    /// A new file after this many minutes of receive time.
    pub roll_minutes: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            live_market_data: false,
            dir: "recordings".into(),
            roll_minutes: 60,
        }
    }
}

pub(super) fn build_recording(
    v: &mut Validator,
    raw: Option<&RawRecording>,
) -> Option<RecordingConfig> {
    let mut out = RecordingConfig::default();
    let Some(raw) = raw else {
        return Some(out);
    };
    let path = "recording";
    v.unknown(path, &raw.unknown);
    let mut ok = true;
    if let Some(on) = v.optional(&join(path, "live_market_data"), &raw.live_market_data) {
        out.live_market_data = on;
    }
    if let Some(dir) = v.optional(&join(path, "dir"), &raw.dir) {
        if dir.trim().is_empty() {
            v.error(join(path, "dir"), "must name a directory");
            ok = false;
        }
        out.dir = dir;
    }
    if raw.roll_minutes.is_some() {
        match v.range(&join(path, "roll_minutes"), &raw.roll_minutes, 1, 24 * 60) {
            Some(m) => out.roll_minutes = m,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Profile, STATUS_THRESHOLDS_YAML, StatusThresholds};

    fn paper_with(tail: &str) -> Result<Config, String> {
        let base = include_str!("../../../configs/config.paper.yaml");
        let start = base
            .find("\nrecording:")
            .expect("the paper profile has a recording section");
        let end = base[start + 1..]
            .find("\n\n")
            .map_or(base.len(), |e| start + 1 + e);
        let text = format!("{}\n{tail}{}", &base[..start], &base[end..]);
        let status = StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML).expect("thresholds");
        Config::from_yaml(&text, status).map_err(|e| e.to_string())
    }

    #[test]
    fn recording_is_off_by_default_and_checked_when_given() {
        assert!(!Config::embedded(Profile::Paper).recording.live_market_data);
        let on = paper_with(
            "recording: { live_market_data: true, dir: /var/lib/md, roll_minutes: 15 }\n",
        )
        .expect("valid");
        assert!(on.recording.live_market_data);
        assert_eq!(
            (on.recording.dir.as_str(), on.recording.roll_minutes),
            ("/var/lib/md", 15)
        );
        let err = paper_with(
            "recording: { live_market_data: yes please, roll_minutes: 0, dir: \" \" }\n",
        )
        .expect_err("refused");
        for needle in [
            "recording.live_market_data",
            "recording.roll_minutes",
            "recording.dir",
        ] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
    }
}
