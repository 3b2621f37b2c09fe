//! Sockets: the TLS configuration (rustls, webpki roots built in), the HTTP client, a
//! bounded REST `GET` that reads the venues' rate-limit answers, and the WebSocket
//! connect.

use crate::options::FeedOptions;
use futures_util::StreamExt;
use propbot_engine::time::{NANOS_PER_MILLI, UnixNanos};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// A connected WebSocket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Characters of a venue's answer kept in an error, at most.
const SHOWN_CHARS_MAX: usize = 200;

/// Why a REST request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// HTTP 429: a rate limit was broken; wait `retry_after` (`Retry-After`) if given.
    #[error("HTTP 429 rate limited (retry after {retry_after:?}): {body}")]
    RateLimited {
        /// The venue's `Retry-After`.
        retry_after: Option<Duration>,
        /// The start of the venue's answer.
        body: String,
    },
    /// HTTP 418 (Binance): the IP is banned, until `until` when the venue says.
    #[error("HTTP 418 IP banned (until {until:?}, retry after {retry_after:?}): {body}")]
    Banned {
        /// End of the ban, from `banned until <ms>` in the body.
        until: Option<UnixNanos>,
        /// The venue's `Retry-After`.
        retry_after: Option<Duration>,
        /// The start of the venue's answer.
        body: String,
    },
    /// Any other non-success status.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The start of the venue's answer.
        body: String,
    },
    /// The body is longer than the bound.
    #[error("the answer is longer than {max} bytes")]
    TooLarge {
        /// The bound (`FeedOptions::rest_body_bytes_max`).
        max: usize,
    },
    /// Connecting, sending or reading failed, or the request timed out.
    #[error("request failed: {0}")]
    Transport(String),
}

impl HttpError {
    /// A short name for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::RateLimited { .. } => "rate limited",
            HttpError::Banned { .. } => "banned",
            HttpError::Status { .. } => "http status",
            HttpError::TooLarge { .. } => "http body too large",
            HttpError::Transport(_) => "http transport",
        }
    }
}

/// A successful REST answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The body.
    pub body: String,
    /// Binance `X-MBX-USED-WEIGHT-1M`, when sent.
    pub used_weight: Option<u32>,
}

/// The rustls client configuration: the aws-lc-rs provider (the one reqwest links) and
/// the Mozilla roots compiled in, so no system certificate store is needed.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client with the TLS configuration and the request timeouts of `options`.
pub(crate) fn http_client(
    options: &FeedOptions,
    tls: &rustls::ClientConfig,
) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .user_agent(concat!("propbot-live/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError::Transport(with_causes(&e)))
}

/// An error and its causes, `: `-separated (reqwest's own text omits them: "error
/// sending request" without "connection refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let shown = cause.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = cause.source();
    }
    text
}

/// `GET url`: the body of a 2xx answer read up to `body_max` bytes, or the error.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &str,
    body_max: usize,
) -> Result<Reply, HttpError> {
    let transport = |e: reqwest::Error| HttpError::Transport(with_causes(&e));
    let mut response = client.get(url).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers();
    let used_weight =
        header_number(headers, "x-mbx-used-weight-1m").and_then(|w| u32::try_from(w).ok());
    let retry_after = header_number(headers, "retry-after").map(Duration::from_secs);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > body_max {
            return Err(HttpError::TooLarge { max: body_max });
        }
        body.extend_from_slice(&chunk);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    match status {
        200..=299 => Ok(Reply { body, used_weight }),
        429 => Err(HttpError::RateLimited {
            retry_after,
            body: shown(&body),
        }),
        418 => Err(HttpError::Banned {
            until: banned_until(&body),
            retry_after,
            body: shown(&body),
        }),
        _ => Err(HttpError::Status {
            status,
            body: shown(&body),
        }),
    }
}

fn header_number(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The start of a venue's answer, for an error message.
pub(crate) fn shown(text: &str) -> String {
    text.chars().take(SHOWN_CHARS_MAX).collect()
}

/// The end of a Binance ban from its message (`... banned until 1700000000000. ...`).
fn banned_until(body: &str) -> Option<UnixNanos> {
    let (_, after) = body.split_once("banned until ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let ms: u64 = digits.parse().ok()?;
    Some(UnixNanos(ms.checked_mul(NANOS_PER_MILLI)?))
}

/// Opens a WebSocket to `url` within `options.connect_timeout`, refusing frames over
/// four times `options.frame_bytes_max`.
pub(crate) async fn connect(
    url: &str,
    options: &FeedOptions,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Socket, String> {
    let hard_max = options.frame_bytes_max.saturating_mul(4).max(64 << 10);
    let config = WebSocketConfig::default()
        .max_message_size(Some(hard_max))
        .max_frame_size(Some(hard_max));
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(config),
        true,
        Some(Connector::Rustls(tls.clone())),
    );
    match tokio::time::timeout(options.connect_timeout, connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(e)) => Err(format!("connect to {url} failed: {e}")),
        Err(_) => Err(format!(
            "connect to {url} took longer than {:?}",
            options.connect_timeout
        )),
    }
}

/// Closes a socket politely, without waiting more than a second for the venue.
pub(crate) async fn close(mut socket: Socket) {
    let closing = async {
        if socket.close(None).await.is_ok() {
            // Read until the venue's close frame (or the end) arrives.
            while let Some(Ok(_)) = socket.next().await {}
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_config_builds_with_the_compiled_in_roots() {
        let config = tls_config().expect("a TLS config");
        assert!(config.alpn_protocols.is_empty());
        let options = FeedOptions::new(
            propbot_engine::model::Venue::Binance,
            crate::Endpoints::default_for(
                propbot_engine::model::Venue::Binance,
                propbot_engine::Profile::Live,
            ),
            Vec::new(),
        );
        assert!(http_client(&options, &config).is_ok());
    }

    #[test]
    fn a_ban_message_gives_its_end() {
        let body = r#"{"code":-1003,"msg":"Way too many requests; IP(127.0.0.1) banned until 1700000000123. Please use the websocket for live updates to avoid bans."}"#;
        assert_eq!(
            banned_until(body),
            Some(UnixNanos::from_millis(1_700_000_000_123))
        );
        assert_eq!(banned_until("no ban here"), None);
        assert_eq!(banned_until("banned until soon"), None);
        assert_eq!(shown(&"x".repeat(1000)).len(), SHOWN_CHARS_MAX);
    }
}
