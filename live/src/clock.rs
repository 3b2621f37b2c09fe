//! Server time: a small burst of `GET /fapi/v1/time` (Binance) or
//! `GET /api/v5/public/time` (OKX) every `clock_sample_every`, turned into one
//! `ClockSample` from the burst's lowest round trip.
//!
//! ## The formula
//!
//! A request sent at `send` (our wall clock) comes back after `rtt` (measured on the
//! monotonic clock). The venue stamped its time `venue` (milliseconds, truncated) at
//! some instant of ours within `[send, send + rtt]`, when its own clock read somewhere
//! in `[venue, venue + 1 ms)`. The textbook estimate takes the middle:
//! `offset_mid = venue − (send + rtt / 2)`, good to ± `rtt / 2`.
//!
//! Binance refuses a request stamped more than 1 s ahead of its clock outright but
//! accepts one up to `recvWindow` (5 s) behind (`../shared/VENUES.md` §1.8: "bias the
//! offset estimate slightly toward the past"). So we report the lowest offset the
//! sample allows, `rtt / 2` below the middle:
//!
//! ```text
//! offset_ns = venue_ns − (send + rtt / 2) − rtt / 2 = venue_ns − (send + rtt)
//! ```
//!
//! A clock corrected with it (`local + offset_ns`) is never ahead of the venue's at the
//! time of the sample, and behind it by at most `rtt + 1 ms`; taking the burst's
//! lowest round trip keeps that small. The sample is stamped with our wall clock when
//! its answer arrived.

use crate::conn::{Emitter, Stop};
use crate::event::FeedEvent;
use crate::options::FeedOptions;
use crate::stats::{LogGate, Shared};
use crate::transport::{self, HttpError};
use propbot_engine::input::VenueEventKind;
use propbot_engine::model::Venue;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One server-time probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockProbe {
    /// Our wall clock when the request left.
    pub send: UnixNanos,
    /// Round trip, ns.
    pub rtt_ns: u64,
    /// The venue's time in the answer.
    pub venue: UnixNanos,
    /// Our wall clock when the answer arrived.
    pub received: UnixNanos,
}

impl ClockProbe {
    /// `venue − (send + rtt)`: the offset biased to the past (see the module docs).
    pub fn offset_ns(&self) -> i64 {
        let local = i128::from(self.send.0) + i128::from(self.rtt_ns);
        let offset = i128::from(self.venue.0) - local;
        i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX })
    }
}

#[derive(Deserialize)]
struct BinanceTime {
    #[serde(rename = "serverTime")]
    server_time: u64,
}

#[derive(Deserialize)]
struct OkxTime {
    code: String,
    #[serde(default)]
    data: Vec<OkxTs>,
}

#[derive(Deserialize)]
struct OkxTs {
    ts: String,
}

/// The venue time in a server-time answer.
fn venue_time(venue: Venue, body: &str) -> Option<UnixNanos> {
    let ms = match venue {
        Venue::Binance => serde_json::from_str::<BinanceTime>(body).ok()?.server_time,
        Venue::Okx => {
            let answer: OkxTime = serde_json::from_str(body).ok()?;
            if answer.code != "0" {
                return None;
            }
            answer.data.first()?.ts.parse().ok()?
        }
    };
    Some(UnixNanos(ms.checked_mul(NANOS_PER_MILLI)?))
}

/// The server-time URL of a venue.
fn time_url(venue: Venue, rest: &str) -> String {
    let rest = rest.trim_end_matches('/');
    match venue {
        Venue::Binance => format!("{rest}/fapi/v1/time"),
        Venue::Okx => format!("{rest}/api/v5/public/time"),
    }
}

/// Samples server time until the feed stops (nothing if `clock_burst` is 0).
pub(crate) async fn run(
    mut emitter: Emitter,
    stats: Arc<Shared>,
    options: Arc<FeedOptions>,
    http: reqwest::Client,
) {
    if options.clock_burst == 0 {
        return;
    }
    let url = time_url(options.venue, &options.endpoints.rest);
    let mut log = LogGate::new(options.log_every);
    loop {
        let wait = match burst(&mut emitter, &stats, &options, &http, &url, &mut log).await {
            Ok(asked) => asked.unwrap_or(options.clock_sample_every),
            Err(Stop) => return,
        };
        if emitter.sleep(wait).await.is_err() {
            return;
        }
    }
}

/// One burst: forwards the sample of the lowest round trip; returns the wait a venue
/// refusal asked for, if any.
async fn burst(
    emitter: &mut Emitter,
    stats: &Shared,
    options: &FeedOptions,
    http: &reqwest::Client,
    url: &str,
    log: &mut LogGate,
) -> Result<Option<Duration>, Stop> {
    let mut best: Option<ClockProbe> = None;
    for _ in 0..options.clock_burst {
        let send = emitter.now();
        let started = Instant::now();
        let answer = transport::get(http, url, options.rest_body_bytes_max).await;
        let rtt_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let received = emitter.now();
        let error = match answer {
            Ok(reply) => match venue_time(options.venue, &reply.body) {
                Some(venue) => {
                    let probe = ClockProbe {
                        send,
                        rtt_ns,
                        venue,
                        received,
                    };
                    if best.is_none_or(|b| probe.rtt_ns < b.rtt_ns) {
                        best = Some(probe);
                    }
                    continue;
                }
                None => HttpError::Status {
                    status: 200,
                    body: transport::shown(&reply.body),
                },
            },
            Err(error) => error,
        };
        let detail = format!("server time: {error}");
        stats.update_clock(|c| {
            c.errors += 1;
            c.last_error = Some(detail.clone());
        });
        if let Some(suppressed) = log.admit(error.kind()) {
            tracing::warn!(venue = %options.venue, suppressed, "{detail}");
        }
        let asked = emitter.refusal(&error).await?;
        if matches!(
            error,
            HttpError::RateLimited { .. } | HttpError::Banned { .. }
        ) {
            // The rest of the burst would be refused too.
            return Ok(Some(asked.unwrap_or(options.clock_sample_every)));
        }
    }
    if let Some(probe) = best {
        let (offset_ns, rtt_ns) = (probe.offset_ns(), probe.rtt_ns);
        stats.update_clock(|c| {
            c.samples += 1;
            c.last_offset_ns = Some(offset_ns);
            c.last_rtt_ns = Some(rtt_ns);
        });
        let sample = VenueEventKind::ClockSample { offset_ns, rtt_ns };
        emitter
            .emit(probe.received, FeedEvent::Venue(sample))
            .await?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_the_lowest_the_probe_allows() {
        // Sent at 1000 ms, back 10 ms later; the venue said 3005 ms. The middle would
        // be 3005 − 1005 = 2000 ms; biased to the past it is 3005 − 1010 = 1995 ms.
        let probe = ClockProbe {
            send: UnixNanos::from_millis(1_000),
            rtt_ns: 10 * NANOS_PER_MILLI,
            venue: UnixNanos::from_millis(3_005),
            received: UnixNanos::from_millis(1_010),
        };
        assert_eq!(probe.offset_ns(), 1_995 * NANOS_PER_MILLI as i64);
        let behind = ClockProbe {
            venue: UnixNanos::from_millis(500),
            ..probe
        };
        assert_eq!(behind.offset_ns(), -510 * NANOS_PER_MILLI as i64);
    }

    #[test]
    fn server_time_answers_parse() {
        assert_eq!(
            venue_time(Venue::Binance, r#"{"serverTime":1700000000123}"#),
            Some(UnixNanos::from_millis(1_700_000_000_123))
        );
        assert_eq!(
            venue_time(
                Venue::Okx,
                r#"{"code":"0","msg":"","data":[{"ts":"1700000000456"}]}"#
            ),
            Some(UnixNanos::from_millis(1_700_000_000_456))
        );
        for bad in [
            r#"{"code":"50011","msg":"","data":[]}"#,
            r#"{"code":"0","data":[{"ts":"soon"}]}"#,
            "<html>",
        ] {
            assert_eq!(venue_time(Venue::Okx, bad), None, "{bad}");
        }
        assert_eq!(venue_time(Venue::Binance, r#"{"serverTime":-1}"#), None);
        assert_eq!(
            time_url(Venue::Okx, "https://www.okx.com/"),
            "https://www.okx.com/api/v5/public/time"
        );
    }
}
