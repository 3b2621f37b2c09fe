//! Request latency per endpoint (`/metrics/latency`, and histograms in `/metrics`).

use super::AppState;
use crate::view::LatencyFamily;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use hdrhistogram::Histogram;
use prometheus::{Registry, TextEncoder};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Latency histograms (µs) keyed by `METHOD path` of the matched route. The key set is
/// bounded by the route table (unmatched paths share one `unmatched` key).
#[derive(Debug, Default)]
pub struct Telemetry {
    by_route: Mutex<BTreeMap<String, Histogram<u64>>>,
}

impl Telemetry {
    fn record(&self, key: String, us: u64) {
        let mut map = self.by_route.lock().expect("telemetry lock");
        let h = map
            .entry(key)
            .or_insert_with(|| Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid bounds"));
        let _ = h.record(us.max(1));
    }

    /// Buckets per endpoint.
    pub fn buckets(&self) -> Value {
        let map = self.by_route.lock().expect("telemetry lock");
        Value::Object(
            map.iter()
                .map(|(k, h)| (k.clone(), crate::view::buckets(h)))
                .collect(),
        )
    }

    /// Appends the request-latency histograms per route as Prometheus text, written by
    /// the `prometheus` crate's text encoder (nothing when no request was timed yet).
    pub fn prometheus(&self, out: &mut String) -> prometheus::Result<()> {
        let mut family = LatencyFamily::new(
            "propbot_http_request_seconds",
            "HTTP request latency by route.",
            &["route"],
        )?;
        {
            let map = self.by_route.lock().expect("telemetry lock");
            for (route, h) in map.iter() {
                family.add(&[route], h)?;
            }
        }
        let registry = Registry::new();
        registry.register(Box::new(family))?;
        TextEncoder::new().encode_utf8(&registry.gather(), out)
    }
}

/// Middleware: times every request.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = match request.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", request.method(), p.as_str()),
        None => "unmatched".to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .0
        .telemetry
        .record(key, started.elapsed().as_micros() as u64);
    response
}
