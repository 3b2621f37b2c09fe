//! Request signing for Binance USDⓈ-M and OKX v5 (VENUES.md §1.8, §2.2), pure and
//! IO-free: the caller passes the time in. The live adapters sign with these functions
//! and the venue emulators verify with them, so one implementation of each venue's rule
//! exists; the official and documented test vectors pin it (tests below).
//!
//! Keys are held in [`VenueKeys`], whose `Debug` shows no secret; nothing here logs.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use propbot_engine::UnixNanos;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// One venue's API credentials. `Debug` and `Display` never show the secret or the
/// passphrase; the key itself is shown only as its last four characters.
#[derive(Clone, PartialEq, Eq)]
pub struct VenueKeys {
    /// The API key (sent in a header; not secret on its own, but shown shortened).
    pub api_key: String,
    /// The HMAC secret.
    pub secret: String,
    /// OKX passphrase (`None` for Binance).
    pub passphrase: Option<String>,
}

impl VenueKeys {
    /// The key shortened for messages: `…abcd`.
    pub fn key_hint(&self) -> String {
        let tail: String = self
            .api_key
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for VenueKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenueKeys")
            .field("api_key", &self.key_hint())
            .field("secret", &"<redacted>")
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn hmac_sha256(secret: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(payload);
    mac.finalize().into_bytes().into()
}

/// Binance `signature`: lower-case hex of HMAC-SHA256(secret, totalParams), where
/// totalParams is the query string followed directly by the body (VENUES.md §1.8).
pub fn binance_signature(secret: &str, total_params: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), total_params.as_bytes());
    let mut out = String::with_capacity(64);
    for b in mac {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// Whether `signature` (hex, any case) signs `total_params` with `secret`; constant
/// time in the signature's content.
pub fn binance_verify(secret: &str, total_params: &str, signature: &str) -> bool {
    let expected = binance_signature(secret, total_params);
    let given = signature.to_ascii_lowercase();
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// OKX `OK-ACCESS-SIGN`: Base64(HMAC-SHA256(secret, prehash)).
pub fn okx_signature(secret: &str, prehash: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(secret.as_bytes(), prehash.as_bytes()))
}

/// Whether `signature` is OKX's signature of `prehash` with `secret` (constant time).
pub fn okx_verify(secret: &str, prehash: &str, signature: &str) -> bool {
    let expected = okx_signature(secret, prehash);
    expected.len() == signature.len() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
}

/// The OKX REST prehash: timestamp + UPPER-CASE method + request path (with the query
/// string for GET) + the exact body sent (empty when none).
pub fn okx_rest_prehash(timestamp: &str, method: &str, path_and_query: &str, body: &str) -> String {
    let mut s =
        String::with_capacity(timestamp.len() + method.len() + path_and_query.len() + body.len());
    s.push_str(timestamp);
    s.push_str(&method.to_ascii_uppercase());
    s.push_str(path_and_query);
    s.push_str(body);
    s
}

/// The OKX private WebSocket login prehash: epoch seconds + `GET/users/self/verify`.
pub fn okx_ws_login_prehash(epoch_seconds: u64) -> String {
    format!("{epoch_seconds}GET/users/self/verify")
}

/// OKX `OK-ACCESS-TIMESTAMP`: ISO-8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`).
pub fn okx_timestamp(now: UnixNanos) -> String {
    now.to_rfc3339()
}

/// Parses an OKX REST timestamp back to time (the emulators check its age).
pub fn parse_okx_timestamp(text: &str) -> Option<UnixNanos> {
    if text.len() != 24 || !text.ends_with('Z') {
        return None;
    }
    propbot_engine::config::parse_rfc3339_utc(text)
}

/// Binance `timestamp`: milliseconds since the epoch.
pub fn binance_timestamp(now: UnixNanos) -> u64 {
    now.0 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    // VENUES.md §1.8: the official Binance test vector, re-verified there.
    #[test]
    fn binance_official_vector() {
        let key = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        let sig = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";
        assert_eq!(binance_signature(key, payload), sig);
        assert!(binance_verify(key, payload, sig));
        assert!(binance_verify(key, payload, &sig.to_ascii_uppercase()));
        assert!(!binance_verify(key, &payload.replace("9000", "9001"), sig));
        assert!(!binance_verify("other", payload, sig));
        assert!(!binance_verify(key, payload, &sig[..63]));
    }

    // VENUES.md §2.2: the documented OKX REST and WS-login vectors.
    #[test]
    fn okx_documented_vectors() {
        let secret = "22582BD0CFF14C41EDBF1AB98506286D";
        let rest = okx_rest_prehash(
            "2020-12-08T09:08:57.715Z",
            "get",
            "/api/v5/account/balance?ccy=BTC",
            "",
        );
        assert_eq!(
            rest,
            "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
        );
        assert_eq!(
            okx_signature(secret, &rest),
            "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="
        );
        let ws = okx_ws_login_prehash(1_538_054_050);
        assert_eq!(ws, "1538054050GET/users/self/verify");
        let sig = okx_signature(secret, &ws);
        assert_eq!(sig, "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=");
        assert!(okx_verify(secret, &ws, &sig));
        assert!(!okx_verify(secret, "1538054051GET/users/self/verify", &sig));
    }

    #[test]
    fn okx_timestamps_are_iso_milliseconds_and_parse_back() {
        let t = UnixNanos(1_607_418_537_715_000_000);
        assert_eq!(okx_timestamp(t), "2020-12-08T09:08:57.715Z");
        assert_eq!(parse_okx_timestamp("2020-12-08T09:08:57.715Z"), Some(t));
        assert_eq!(parse_okx_timestamp("2020-12-08T09:08:57Z"), None);
        assert_eq!(parse_okx_timestamp("1607418537715"), None);
        assert_eq!(binance_timestamp(t), 1_607_418_537_715);
    }

    #[test]
    fn keys_never_show_their_secret() {
        let keys = VenueKeys {
            api_key: "KEY-ABCDEFGH-1234".into(),
            secret: "s3cr3t-value".into(),
            passphrase: Some("pass-phrase".into()),
        };
        let shown = format!("{keys:?}");
        assert!(shown.contains("…1234"), "{shown}");
        for secret in ["s3cr3t-value", "pass-phrase", "ABCDEFGH"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
