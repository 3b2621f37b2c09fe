//! Where each venue is reached: `venues.<venue>.endpoints` (REST host, public and
//! market WebSocket bases). The engine never opens them; drivers (the live market-data
//! adapters, `propbot record`) read them from the validated config. When a profile's
//! file leaves them out, the venue's documented URLs for that profile are used
//! (VENUES.md §1.1, §2.1): production for `paper` (shadow trading reads the real public
//! market) and `live`, testnet / demo for `testnet`. Tests point them at the loopback
//! emulators.

use super::Profile;
use super::raw::RawEndpoints;
use super::validate::{Validator, join};
use crate::model::Venue;
use serde::Serialize;

/// One venue's URLs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// REST base: scheme and host, no path (`https://fapi.binance.com`).
    pub rest: String,
    /// Public WebSocket. Binance: the base the adapter appends `/stream?streams=…` to
    /// (depth and book ticker); OKX: the full `/ws/v5/public` URL.
    pub ws_public: String,
    /// Binance's separate route for regular market streams (`@aggTrade`); `None`: the
    /// trade streams go on `ws_public` too (testnet, emulators).
    pub ws_market: Option<String>,
    /// Private streams: Binance user data (`{ws_private}/ws?listenKey=…`), OKX
    /// `/ws/v5/private` (login, `orders`, `positions`, `account`).
    pub ws_private: String,
}

impl Endpoints {
    /// The venue's documented URLs for `profile`.
    pub fn default_for(venue: Venue, profile: Profile) -> Endpoints {
        let (rest, public, market, private) = match (venue, profile) {
            (Venue::Binance, Profile::Testnet) => (
                "https://testnet.binancefuture.com",
                "wss://fstream.binancefuture.com",
                None,
                "wss://fstream.binancefuture.com",
            ),
            (Venue::Binance, _) => (
                "https://fapi.binance.com",
                "wss://fstream.binance.com/public",
                Some("wss://fstream.binance.com/market"),
                "wss://fstream.binance.com/private",
            ),
            (Venue::Okx, Profile::Testnet) => (
                "https://www.okx.com",
                "wss://wspap.okx.com:8443/ws/v5/public",
                None,
                "wss://wspap.okx.com:8443/ws/v5/private",
            ),
            (Venue::Okx, _) => (
                "https://www.okx.com",
                "wss://ws.okx.com:8443/ws/v5/public",
                None,
                "wss://ws.okx.com:8443/ws/v5/private",
            ),
        };
        Endpoints {
            rest: rest.to_owned(),
            ws_public: public.to_owned(),
            ws_market: market.map(str::to_owned),
            ws_private: private.to_owned(),
        }
    }
}

/// The endpoints of one venue section: the file's values where given (each checked),
/// the profile's defaults for the rest.
pub(super) fn build_endpoints(
    v: &mut Validator,
    path: &str,
    raw: Option<&RawEndpoints>,
    venue: Venue,
    profile: Profile,
) -> Option<Endpoints> {
    let mut out = Endpoints::default_for(venue, profile);
    let Some(raw) = raw else {
        return Some(out);
    };
    v.unknown(path, &raw.unknown);
    let mut ok = true;
    if let Some(url) = v.optional(&join(path, "rest"), &raw.rest) {
        ok &= check_url(v, &join(path, "rest"), &url, &["http://", "https://"]);
        out.rest = url.trim_end_matches('/').to_owned();
    }
    if let Some(url) = v.optional(&join(path, "ws_public"), &raw.ws_public) {
        ok &= check_url(v, &join(path, "ws_public"), &url, &["ws://", "wss://"]);
        out.ws_public = url.trim_end_matches('/').to_owned();
    }
    if let Some(url) = v.optional(&join(path, "ws_private"), &raw.ws_private) {
        ok &= check_url(v, &join(path, "ws_private"), &url, &["ws://", "wss://"]);
        out.ws_private = url.trim_end_matches('/').to_owned();
    }
    if let Some(url) = v.optional(&join(path, "ws_market"), &raw.ws_market) {
        if url.is_empty() || url == "none" {
            out.ws_market = None;
        } else {
            ok &= check_url(v, &join(path, "ws_market"), &url, &["ws://", "wss://"]);
            out.ws_market = Some(url.trim_end_matches('/').to_owned());
        }
    }
    ok.then_some(out)
}

/// A URL with one of `schemes`, a host, and nothing a socket library would choke on.
fn check_url(v: &mut Validator, path: &str, url: &str, schemes: &[&str]) -> bool {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        v.error(
            path,
            format!("{url:?} must start with {}", schemes.join(" or ")),
        );
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        v.error(path, format!("{url:?} has no host or contains spaces"));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, StatusThresholds};

    #[test]
    fn profiles_default_to_the_documented_urls() {
        let live = Config::embedded(Profile::Live);
        assert_eq!(
            live.endpoints[Venue::Binance.index()].rest,
            "https://fapi.binance.com"
        );
        let test = Config::embedded(Profile::Testnet);
        assert_eq!(
            test.endpoints[Venue::Okx.index()].ws_public,
            "wss://wspap.okx.com:8443/ws/v5/public"
        );
        let paper = Config::embedded(Profile::Paper);
        assert_eq!(
            paper.endpoints[Venue::Binance.index()].ws_market.as_deref(),
            Some("wss://fstream.binance.com/market")
        );
        assert_eq!(
            live.endpoints[Venue::Okx.index()].ws_private,
            "wss://ws.okx.com:8443/ws/v5/private"
        );
        assert_eq!(
            test.endpoints[Venue::Binance.index()].ws_private,
            "wss://fstream.binancefuture.com"
        );
    }

    /// The paper profile with its Binance endpoints block replaced by `yaml`.
    fn with_endpoints(yaml: &str) -> Result<Config, String> {
        let base = include_str!("../../../configs/config.paper.yaml");
        let block = "      rest: https://fapi.binance.com\n      ws_public: wss://fstream.binance.com/public\n      ws_market: wss://fstream.binance.com/market\n";
        assert!(
            base.contains(block),
            "the paper profile lists Binance's endpoints"
        );
        let text = base.replacen(block, yaml, 1);
        let status = StatusThresholds::from_yaml(crate::config::STATUS_THRESHOLDS_YAML)
            .expect("embedded thresholds");
        Config::from_yaml(&text, status).map_err(|e| e.to_string())
    }

    #[test]
    fn file_values_override_and_bad_ones_are_named() {
        let c = with_endpoints(
            "      rest: http://127.0.0.1:9001/\n      ws_public: ws://127.0.0.1:9001\n      ws_market: none\n",
        )
        .expect("valid endpoints");
        let e = &c.endpoints[Venue::Binance.index()];
        assert_eq!(e.rest, "http://127.0.0.1:9001");
        assert_eq!(e.ws_public, "ws://127.0.0.1:9001");
        assert_eq!(e.ws_market, None);
        let err =
            with_endpoints("      rest: ftp://x\n      ws_public: \"ws:// \"\n      colour: red\n")
                .expect_err("refused");
        for needle in [
            "venues.binance-um.endpoints.rest",
            "venues.binance-um.endpoints.ws_public",
            "venues.binance-um.endpoints.colour",
        ] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
    }
}
