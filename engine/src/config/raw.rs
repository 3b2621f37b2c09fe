//! Raw configuration DTOs: the YAML shape, deserialised leniently so that validation
//! can report every bad value with its path instead of stopping at the first.
//!
//! Every leaf is a [`Lenient`]: it captures a value of the wrong type instead of
//! failing. Every mapping captures unknown keys in `unknown`. Only a document that is
//! not YAML at all, or a section that is not a mapping, fails deserialisation.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// A leaf that deserialised to `T`, or the YAML it found instead.
#[derive(Clone, Debug)]
pub enum Lenient<T> {
    /// The value had the expected type.
    Value(T),
    /// It did not: what was found, and serde's reason.
    Invalid {
        /// The offending value, rendered as YAML.
        found: String,
        /// Why it was not accepted.
        reason: String,
    },
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        match serde_yaml::from_value::<T>(value.clone()) {
            Ok(v) => Ok(Lenient::Value(v)),
            Err(e) => Ok(Lenient::Invalid {
                found: serde_yaml::to_string(&value)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

/// A number kept as its decimal text, so money never passes through a float. Accepts
/// YAML numbers and quoted decimal strings.
#[derive(Clone, Debug)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        match value {
            serde_yaml::Value::Number(n) => Ok(DecimalText(n.to_string())),
            serde_yaml::Value::String(s) => Ok(DecimalText(s)),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, found {}",
                kind_of(&other)
            ))),
        }
    }
}

fn kind_of(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// Keys of a mapping that no field claimed.
pub type Unknown = BTreeMap<String, serde_yaml::Value>;

/// The whole engine config file.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawConfig {
    pub profile: Option<Lenient<String>>,
    pub api: Option<RawApi>,
    pub control: Option<RawControl>,
    pub instruments: Option<Vec<RawInstrument>>,
    pub venues: Option<BTreeMap<String, RawVenue>>,
    pub guards: Option<RawGuards>,
    pub risk: Option<RawRisk>,
    pub strategy: Option<RawStrategy>,
    pub ledger: Option<RawLedger>,
    pub limits: Option<RawLimits>,
    pub recording: Option<RawRecording>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawRecording {
    pub live_market_data: Option<Lenient<bool>>,
    pub dir: Option<Lenient<String>>,
    pub roll_minutes: Option<Lenient<u64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawApi {
    pub base_url: Option<Lenient<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawControl {
    pub safe_mode: Option<Lenient<bool>>,
    pub dry_run: Option<Lenient<bool>>,
    pub two_man_rule: Option<Lenient<bool>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawInstrument {
    pub name: Option<Lenient<String>>,
    pub price_scale: Option<Lenient<u8>>,
    pub qty_scale: Option<Lenient<u8>>,
    pub listings: Option<BTreeMap<String, RawListing>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawListing {
    pub symbol: Option<Lenient<String>>,
    pub tick_size: Option<Lenient<DecimalText>>,
    pub lot_size: Option<Lenient<DecimalText>>,
    pub min_qty: Option<Lenient<DecimalText>>,
    pub contract_value: Option<Lenient<DecimalText>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawVenue {
    pub maker_fee_bps: Option<Lenient<DecimalText>>,
    pub taker_fee_bps: Option<Lenient<DecimalText>>,
    pub orders_per_10s: Option<Lenient<u32>>,
    pub orders_per_min: Option<Lenient<u32>>,
    pub weight_per_min: Option<Lenient<u32>>,
    pub cancel_reserve_pct: Option<Lenient<u32>>,
    pub order_expiry_ms: Option<Lenient<u64>>,
    pub ack_timeout_ms: Option<Lenient<u64>>,
    pub deadman_timeout_ms: Option<Lenient<u64>>,
    pub deadman_refresh_ms: Option<Lenient<u64>>,
    pub endpoints: Option<RawEndpoints>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawEndpoints {
    pub rest: Option<Lenient<String>>,
    pub ws_public: Option<Lenient<String>>,
    pub ws_market: Option<Lenient<String>>,
    pub ws_private: Option<Lenient<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawPerMin {
    pub place_per_min: Option<Lenient<u32>>,
    pub cancel_per_min: Option<Lenient<u32>>,
    pub backoff_initial_ms: Option<Lenient<u64>>,
    pub backoff_max_ms: Option<Lenient<u64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawKillCaps {
    pub enabled: Option<Lenient<bool>>,
    pub flatten_on_breach: Option<Lenient<bool>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawWindow {
    pub venue: Option<Lenient<String>>,
    pub start: Option<Lenient<String>>,
    pub end: Option<Lenient<String>>,
    pub pre_open_start: Option<Lenient<String>>,
    pub title: Option<Lenient<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawGuards {
    pub cancel_on_disconnect: Option<Lenient<bool>>,
    pub rate_limit: Option<RawPerMin>,
    pub clock_skew_guard_ms: Option<Lenient<u64>>,
    pub clock_sample_max_age_ms: Option<Lenient<u64>>,
    pub snapshot_diff_check: Option<Lenient<bool>>,
    pub resync_deadline_ms: Option<Lenient<u64>>,
    pub market_data_stale_ms: Option<Lenient<u64>>,
    pub kill_caps: Option<RawKillCaps>,
    pub runaway_breaker: Option<RawPerMin>,
    pub maintenance_calendar: Option<Vec<RawWindow>>,
    pub maintenance_lead_ms: Option<Lenient<u64>>,
    pub reconcile_every_ms: Option<Lenient<u64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawNotionalCaps {
    pub per_symbol_usd: Option<Lenient<DecimalText>>,
    pub total_usd: Option<Lenient<DecimalText>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawRisk {
    pub notional_caps: Option<RawNotionalCaps>,
    pub daily_loss_usd: Option<Lenient<DecimalText>>,
    pub unrealized_loss_usd: Option<Lenient<DecimalText>>,
    pub capital_usd: Option<Lenient<DecimalText>>,
    pub max_open_orders: Option<Lenient<u32>>,
    pub unhedged_alert_usd: Option<Lenient<DecimalText>>,
    pub unhedged_alert_after_ms: Option<Lenient<u64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawStrategy {
    pub enabled: Option<Lenient<bool>>,
    pub loop_pair: Option<Lenient<String>>,
    pub loop_venues: Option<Lenient<Vec<String>>>,
    pub min_spread_bps: Option<Lenient<DecimalText>>,
    pub exit_spread_bps: Option<Lenient<DecimalText>>,
    pub slippage_buffer_bps: Option<Lenient<DecimalText>>,
    pub max_slippage_bps: Option<Lenient<DecimalText>>,
    pub order_notional_usdt: Option<Lenient<DecimalText>>,
    pub depth_fraction_pct: Option<Lenient<u32>>,
    pub hedge_timeout_ms: Option<Lenient<u64>>,
    pub max_book_age_ms: Option<Lenient<u64>>,
    pub cooldown_ms: Option<Lenient<u64>>,
    pub execution: Option<Lenient<String>>,
    pub maker_timeout_ms: Option<Lenient<u64>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawLedger {
    pub day_start_utc: Option<Lenient<String>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawLimits {
    pub orders_tracked_max: Option<Lenient<u32>>,
    pub trade_ids_remembered_max: Option<Lenient<u32>>,
    pub book_ticks_per_side: Option<Lenient<u32>>,
    pub alerts_max: Option<Lenient<u32>>,
    pub approvals_max: Option<Lenient<u32>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}
