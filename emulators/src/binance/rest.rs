//! Binance USDⓈ-M public REST: `GET /fapi/v1/time`, `/fapi/v1/exchangeInfo`,
//! `/fapi/v1/depth`, with the venue's request weights, the `X-MBX-USED-WEIGHT-1M`
//! header on every answer, its 429 when the minute's weight is spent, and the REST
//! faults (429, 418 ban, slow snapshot) of `../shared/VENUES.md` §1.9.

use super::Shared;
use super::frames::{depth_body, error_body, exchange_info_body, time_body};
use crate::hub::bump;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Request weight a client may use per minute of the venue's clock.
pub const WEIGHT_PER_MINUTE: u32 = 2400;

/// `limit` values `GET /fapi/v1/depth` accepts, with their weights.
pub const DEPTH_LIMITS: [(usize, u32); 7] = [
    (5, 2),
    (10, 2),
    (20, 2),
    (50, 2),
    (100, 5),
    (500, 10),
    (1000, 20),
];

/// The default depth `limit`.
pub const DEPTH_LIMIT_DEFAULT: usize = 500;

const USED_WEIGHT: HeaderName = HeaderName::from_static("x-mbx-used-weight-1m");

/// What the REST faults hold for the next requests.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RestFaults {
    /// Requests still to answer 429.
    pub rate_limited: u32,
    /// Venue time (ms) until which every request answers 418.
    pub banned_until_ms: Option<u64>,
    /// Wall delay of every depth answer, after its book was taken.
    pub snapshot_delay: std::time::Duration,
}

/// Weight used in the current minute of the venue's clock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WeightWindow {
    minute: u64,
    used: u32,
}

/// An answer with a Binance JSON body.
fn json(status: StatusCode, body: String, used: u32) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(USED_WEIGHT, HeaderValue::from(used));
    response
}

/// A request refused by a limit or a fault.
#[derive(Debug)]
pub(crate) struct Refused {
    status: StatusCode,
    body: String,
    retry_after_seconds: u64,
    used: u32,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = json(self.status, self.body, self.used);
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after_seconds.max(1)),
        );
        response
    }
}

/// Charges `weight` and applies the REST faults: the weight used this minute, or the
/// refusal to send instead.
fn admit(shared: &Shared, client: SocketAddr, weight: u32) -> Result<u32, Refused> {
    bump(&shared.hub.counters.rest_requests);
    let now_ms = shared.hub.venue_now_ms();
    let used = {
        let mut window = super::lock(&shared.weight);
        let minute = now_ms / 60_000;
        if window.minute != minute {
            *window = WeightWindow { minute, used: 0 };
        }
        window.used = window.used.saturating_add(weight);
        window.used
    };
    let mut faults = super::lock(&shared.rest_faults);
    let ip = client.ip();
    if let Some(until) = faults.banned_until_ms.filter(|&until| until > now_ms) {
        drop(faults);
        bump(&shared.hub.counters.rest_rejected);
        let msg = format!(
            "Way too many requests; IP({ip}) banned until {until}. Please use the websocket for live updates to avoid bans."
        );
        return Err(Refused {
            status: StatusCode::IM_A_TEAPOT,
            body: error_body(-1003, &msg),
            retry_after_seconds: (until - now_ms).div_ceil(1000),
            used,
        });
    }
    let forced = faults.rate_limited > 0;
    faults.rate_limited = faults.rate_limited.saturating_sub(1);
    drop(faults);
    if forced || used > WEIGHT_PER_MINUTE {
        bump(&shared.hub.counters.rest_rejected);
        let msg = format!(
            "Too many requests; current limit of IP({ip}) request weight per minute is {WEIGHT_PER_MINUTE}. Please use WebSocket Streams for live updates to avoid polling the API."
        );
        return Err(Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: error_body(-1003, &msg),
            retry_after_seconds: 60 - (now_ms / 1000) % 60,
            used,
        });
    }
    Ok(used)
}

/// `GET /fapi/v1/time`.
pub(crate) async fn time(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Response {
    match admit(&shared, client, 1) {
        Ok(used) => json(StatusCode::OK, time_body(shared.hub.venue_now_ms()), used),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /fapi/v1/exchangeInfo`.
pub(crate) async fn exchange_info(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Response {
    match admit(&shared, client, 1) {
        Ok(used) => {
            let body = {
                let market = super::lock(&shared.market);
                exchange_info_body(market.specs(), shared.hub.venue_now_ms(), WEIGHT_PER_MINUTE)
            };
            json(StatusCode::OK, body, used)
        }
        Err(refused) => refused.into_response(),
    }
}

/// `GET /fapi/v1/depth` parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct DepthQuery {
    symbol: Option<String>,
    limit: Option<String>,
}

/// `GET /fapi/v1/depth?symbol=BTCUSDT&limit=N`.
pub(crate) async fn depth(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    query: Result<Query<DepthQuery>, QueryRejection>,
) -> Response {
    let (index, limit, weight) = match parse_depth(&shared, query) {
        Ok(parsed) => parsed,
        Err(body) => return json(StatusCode::BAD_REQUEST, body, 0),
    };
    let used = match admit(&shared, client, weight) {
        Ok(used) => used,
        Err(refused) => return refused.into_response(),
    };
    let (body, delay) = {
        let market = super::lock(&shared.market);
        let image = market.snapshot(index, limit);
        let now_ms = shared.hub.venue_now_ms();
        let body = depth_body(
            &image,
            market.spec(index),
            now_ms,
            shared.hub.venue_ms(image.changed_at),
        );
        (body, super::lock(&shared.rest_faults).snapshot_delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    json(StatusCode::OK, body, used)
}

/// The symbol index, limit and weight of a depth request, or the error body.
fn parse_depth(
    shared: &Shared,
    query: Result<Query<DepthQuery>, QueryRejection>,
) -> Result<(usize, usize, u32), String> {
    let mandatory = || {
        error_body(
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        )
    };
    let Ok(Query(query)) = query else {
        return Err(mandatory());
    };
    let symbol = query
        .symbol
        .filter(|s| !s.is_empty())
        .ok_or_else(mandatory)?;
    let index = super::lock(&shared.market)
        .index_of(&symbol)
        .ok_or_else(|| error_body(-1121, "Invalid symbol."))?;
    let limit = match query.limit {
        None => DEPTH_LIMIT_DEFAULT,
        Some(text) => text.parse::<usize>().unwrap_or(0),
    };
    let weight = DEPTH_LIMITS
        .iter()
        .find(|(l, _)| *l == limit)
        .map(|(_, w)| *w)
        .ok_or_else(|| error_body(-1130, "Invalid data sent for a parameter."))?;
    Ok((index, limit, weight))
}
