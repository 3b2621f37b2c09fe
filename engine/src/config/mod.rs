//! Configuration: YAML text → raw DTOs ([`raw`]) → a validated, typed [`Config`].
//!
//! The engine never parses a string at run time: everything a decision reads is a
//! typed value checked here once. Validation reports every invalid value with its path
//! and reason at once ([`ConfigErrors`]). The shipped profiles live in `configs/` and
//! are embedded at compile time ([`Config::embedded`]).

mod endpoints;
pub mod raw;
mod recording;
mod status;
mod validate;

pub use endpoints::Endpoints;
pub use recording::RecordingConfig;
pub use status::{GroupThresholds, SloTargets, StatusThresholds};
pub use validate::{ConfigError, ConfigErrors, parse_rfc3339_utc};

use crate::model::{CentiBps, InstrumentId, NOTIONAL_SCALE, Notional, Price, Qty, Scales, Venue};
use crate::time::UnixNanos;
use raw::RawConfig;
use serde::Serialize;
use validate::{Validator, join, ms};

/// Deployment profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Simulated fills on a simulated or recorded market.
    Paper,
    /// Venue testnets / demo trading.
    Testnet,
    /// Real accounts.
    Live,
}

impl Profile {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Paper => "paper",
            Profile::Testnet => "testnet",
            Profile::Live => "live",
        }
    }

    /// Parses a profile name.
    pub fn from_name(name: &str) -> Option<Profile> {
        match name {
            "paper" => Some(Profile::Paper),
            "testnet" => Some(Profile::Testnet),
            "live" => Some(Profile::Live),
            _ => None,
        }
    }
}

/// The engine's whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Deployment profile.
    pub profile: Profile,
    /// Base URL the API server advertises (used by drivers, not decisions).
    pub api_base_url: String,
    /// Start-up flags.
    pub control: ControlConfig,
    /// Instruments and their venue listings.
    pub instruments: Vec<InstrumentConfig>,
    /// Per-venue fees, limits and timings, indexed by [`Venue::index`].
    pub venues: [VenueConfig; Venue::COUNT],
    /// Per-venue URLs (`venues.<venue>.endpoints`), indexed by [`Venue::index`]; read
    /// by drivers, never by a decision.
    pub endpoints: [Endpoints; Venue::COUNT],
    /// The service's own recording of live market data (`recording:`).
    pub recording: RecordingConfig,
    /// P0 guard thresholds.
    pub guards: GuardsConfig,
    /// Risk caps.
    pub risk: RiskConfig,
    /// Strategy parameters.
    pub strategy: StrategyConfig,
    /// Minutes after 00:00 UTC at which the trading day starts.
    pub day_start_minutes: i32,
    /// Named bounds on every table the engine keeps.
    pub limits: Limits,
    /// System Status thresholds (from `status_thresholds.yaml`).
    pub status: StatusThresholds,
}

/// Start-up flags. The engine always boots in HOLD with safe mode on; these say what
/// the operator wants once trading resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ControlConfig {
    /// Keep safe mode on after resume (no orders at all).
    pub safe_mode: bool,
    /// Orders go to the simulated (paper) venue, never a real one.
    pub dry_run: bool,
    /// Resume needs a second operator (always true in live).
    pub two_man_rule: bool,
    /// BLAKE3 digest of the approval token. Never in YAML: the driver sets it from its
    /// secrets with [`ControlConfig::set_approval_token`]. `None` means no confirmation
    /// can succeed.
    #[serde(skip)]
    pub approval_token_digest: Option<[u8; 32]>,
}

impl ControlConfig {
    /// Stores the digest of the approval token (the token itself is not kept).
    pub fn set_approval_token(&mut self, token: &str) {
        self.approval_token_digest =
            (!token.is_empty()).then(|| *blake3::hash(token.as_bytes()).as_bytes());
    }
}

/// One economic instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstrumentConfig {
    /// Canonical name, e.g. `BTC-USDT-PERP`.
    pub name: String,
    /// Decimals of prices and quantities.
    pub scales: Scales,
    /// Listing per venue (`None` when not traded there).
    pub listings: [Option<Listing>; Venue::COUNT],
}

/// How an instrument is listed on one venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// Venue symbol (`BTCUSDT`, `BTC-USDT-SWAP`).
    pub symbol: String,
    /// Price increment.
    pub tick: Price,
    /// Quantity increment in base units (OKX: `lotSz × ctVal`).
    pub lot: Qty,
    /// Smallest order in base units.
    pub min_qty: Qty,
    /// Base units per contract (OKX `ctVal × ctMult`); `None` where sizes are in base.
    pub contract_value: Option<Qty>,
}

/// Per-venue settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct VenueConfig {
    /// Maker fee rate (negative for a rebate).
    pub maker_fee: CentiBps,
    /// Taker fee rate.
    pub taker_fee: CentiBps,
    /// Venue order-count limit per 10 s.
    pub orders_per_10s: u32,
    /// Venue order-count limit per minute.
    pub orders_per_min: u32,
    /// Venue request-weight limit per minute.
    pub weight_per_min: u32,
    /// Share of each budget kept for cancels (cancel beats place).
    pub cancel_reserve_pct: u32,
    /// Venue-side request expiry (Binance `recvWindow`, OKX `expTime`), ns.
    pub order_expiry_ns: u64,
    /// An order unacknowledged for this long becomes `Unknown` and is looked up, ns.
    pub ack_timeout_ns: u64,
    /// Dead-man switch countdown, ns.
    pub deadman_timeout_ns: u64,
    /// Dead-man refresh period, ns (must be well below the timeout).
    pub deadman_refresh_ns: u64,
}

/// P0 guard thresholds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuardsConfig {
    /// Cancel everything and HOLD when a venue disconnects.
    pub cancel_on_disconnect: bool,
    /// Governor: places allowed per minute per venue.
    pub rate_place_per_min: u32,
    /// Governor: cancels allowed per minute per venue.
    pub rate_cancel_per_min: u32,
    /// First backoff after a 429 without `Retry-After`, ns.
    pub backoff_initial_ns: u64,
    /// Longest backoff, ns.
    pub backoff_max_ns: u64,
    /// |skew| above this trips HOLD, ns.
    pub clock_skew_guard_ns: u64,
    /// A clock sample older than this is stale (WARN), ns.
    pub clock_sample_max_age_ns: u64,
    /// Check snapshot+diff continuity.
    pub snapshot_diff_check: bool,
    /// A book invalid for longer than this escalates to ERROR + HOLD, ns.
    pub resync_deadline_ns: u64,
    /// Market data silent for longer than this marks the route stale, ns.
    pub market_data_stale_ns: u64,
    /// Kill caps active.
    pub kill_caps_enabled: bool,
    /// Flatten positions on a kill-cap breach.
    pub flatten_on_breach: bool,
    /// Runaway breaker: places per rolling minute per route.
    pub runaway_place_per_min: u32,
    /// Runaway breaker: cancels per rolling minute per route.
    pub runaway_cancel_per_min: u32,
    /// Configured maintenance windows.
    pub maintenance_calendar: Vec<MaintenanceWindow>,
    /// HOLD this long before a window starts, ns.
    pub maintenance_lead_ns: u64,
    /// Reconcile each venue at least this often (besides at start, after every
    /// reconnect and on demand).
    pub reconcile_every_ns: u64,
}

/// A maintenance window.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct MaintenanceWindow {
    /// Venue affected; `None` for all venues.
    pub venue: Option<Venue>,
    /// Start of the outage.
    pub start: UnixNanos,
    /// Expected end.
    pub end: UnixNanos,
    /// Start of pre-open: from here until `end` the venue accepts only cancels and
    /// post-only orders (OKX `preOpenBegin`); `None` when none is announced.
    pub pre_open_start: Option<UnixNanos>,
    /// Human title.
    pub title: String,
}

/// Risk caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RiskConfig {
    /// Largest gross notional per instrument, summed over venues.
    pub per_symbol_notional: Notional,
    /// Largest gross notional across everything.
    pub total_notional: Notional,
    /// Daily loss that trips the kill cap (positive number).
    pub daily_loss: Notional,
    /// Unrealised loss that trips the kill cap (positive number).
    pub unrealized_loss: Notional,
    /// Capital the drawdown in bps is measured against.
    pub capital: Notional,
    /// Largest number of live orders.
    pub max_open_orders: u32,
    /// Naked (unhedged) notional of one instrument above which an alert is raised
    /// once it has lasted `unhedged_alert_after_ns`.
    pub unhedged_alert: Notional,
    /// How long the naked notional must stay above the bound before the alert.
    pub unhedged_alert_after_ns: u64,
}

/// How the two legs are executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStyle {
    /// Both legs as taker IOC orders, sent together.
    Taker,
    /// A post-only leg on one venue first; the other leg as taker when it fills.
    MakerFirst,
}

/// Strategy parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StrategyConfig {
    /// Evaluate and trade (opportunities are computed either way).
    pub enabled: bool,
    /// Instruments traded (indices into `instruments`).
    pub instruments: Vec<InstrumentId>,
    /// Venues traded.
    pub venues: Vec<Venue>,
    /// Net edge needed to open or grow a position.
    pub entry_edge: CentiBps,
    /// Net edge needed to reduce a position (may be negative).
    pub exit_edge: CentiBps,
    /// Subtracted from the edge for expected slippage.
    pub slippage_buffer: CentiBps,
    /// Limit price allowance beyond the touch for taker and hedge orders.
    pub max_slippage: CentiBps,
    /// Largest notional per leg per decision.
    pub order_notional: Notional,
    /// Share of the top-of-book size a leg may take.
    pub depth_fraction_pct: u32,
    /// A partial fill not hedged within this is unwound and HOLD follows, ns.
    pub hedge_timeout_ns: u64,
    /// A book older than this is not traded on, ns.
    pub max_book_age_ns: u64,
    /// Pause after a decision on an instrument, ns.
    pub cooldown_ns: u64,
    /// Taker both legs or maker first.
    pub execution: ExecutionStyle,
    /// Maker leg lifetime before it is cancelled, ns.
    pub maker_timeout_ns: u64,
}

/// Named bounds on every table the engine keeps (STYLE rule 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Orders tracked at once (live and recently terminal); a new order beyond it is
    /// refused.
    pub orders_tracked_max: u32,
    /// Trade ids remembered for fill dedupe.
    pub trade_ids_remembered_max: u32,
    /// Ticks per book side.
    pub book_ticks_per_side: u32,
    /// Active alerts kept; the oldest info alert is dropped first.
    pub alerts_max: u32,
    /// Pending two-man approvals kept.
    pub approvals_max: u32,
}

/// The paper profile as shipped.
pub const PAPER_YAML: &str = include_str!("../../../configs/config.paper.yaml");
/// The testnet profile as shipped.
pub const TESTNET_YAML: &str = include_str!("../../../configs/config.testnet.yaml");
/// The live profile as shipped.
pub const LIVE_YAML: &str = include_str!("../../../configs/config.live.yaml");
/// The status thresholds as shipped.
pub const STATUS_THRESHOLDS_YAML: &str = include_str!("../../../configs/status_thresholds.yaml");

impl Config {
    /// A shipped profile with the shipped status thresholds.
    pub fn embedded(profile: Profile) -> Config {
        let text = match profile {
            Profile::Paper => PAPER_YAML,
            Profile::Testnet => TESTNET_YAML,
            Profile::Live => LIVE_YAML,
        };
        let status = StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML)
            .expect("shipped status_thresholds.yaml is valid");
        Config::from_yaml(text, status).expect("shipped config is valid")
    }

    /// Parses and validates a config document; `status` comes from its own file.
    pub fn from_yaml(text: &str, status: StatusThresholds) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: e
                    .location()
                    .map(|l| format!("line {} column {}", l.line(), l.column()))
                    .unwrap_or_else(|| "document".into()),
                reason: format!("not a valid config document: {e}"),
            }])
        })?;
        let mut v = Validator::default();
        let config = build(&mut v, &raw, status);
        match config {
            Some(c) if v.errors.is_empty() => Ok(c),
            _ => {
                if v.errors.is_empty() {
                    v.error("document", "incomplete configuration");
                }
                Err(ConfigErrors(v.errors))
            }
        }
    }

    /// The configured listing of an instrument on a venue.
    pub fn listing(&self, venue: Venue, instrument: InstrumentId) -> Option<&Listing> {
        self.instruments
            .get(instrument.index())
            .and_then(|i| i.listings[venue.index()].as_ref())
    }

    /// Looks an instrument up by canonical name.
    pub fn instrument_by_name(&self, name: &str) -> Option<InstrumentId> {
        self.instruments
            .iter()
            .position(|i| i.name == name)
            .map(|i| InstrumentId(i as u16))
    }

    /// Looks an instrument up by a venue symbol.
    pub fn instrument_by_symbol(&self, venue: Venue, symbol: &str) -> Option<InstrumentId> {
        self.instruments
            .iter()
            .position(|i| {
                i.listings[venue.index()]
                    .as_ref()
                    .is_some_and(|l| l.symbol == symbol)
            })
            .map(|i| InstrumentId(i as u16))
    }

    /// Checks invariants between sections that a hot apply must not break: the
    /// instrument set and scales are fixed for the life of the process.
    pub fn hot_apply_compatible(&self, next: &Config) -> Result<(), String> {
        if self.instruments != next.instruments {
            return Err("instruments and listings cannot change without a restart".into());
        }
        if self.profile != next.profile {
            return Err("the profile cannot change without a restart".into());
        }
        if self.limits != next.limits {
            return Err("limits cannot change without a restart".into());
        }
        Ok(())
    }
}

const MAX_USD: i64 = 1_000_000_000;
const DAY_MS: u64 = 86_400_000;

fn build(v: &mut Validator, raw: &RawConfig, status: StatusThresholds) -> Option<Config> {
    v.unknown("", &raw.unknown);
    let profile = v.required("profile", &raw.profile).and_then(|p| {
        let parsed = Profile::from_name(&p);
        if parsed.is_none() {
            v.error(
                "profile",
                format!("{p:?} is not one of paper, testnet, live"),
            );
        }
        parsed
    });
    let api_base_url = v.section("api", &raw.api).and_then(|api| {
        v.unknown("api", &api.unknown);
        let url = v.required("api.base_url", &api.base_url)?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            v.error(
                "api.base_url",
                format!("{url:?} must start with http:// or https://"),
            );
        }
        Some(url)
    });
    let control = v.section("control", &raw.control).and_then(|c| {
        v.unknown("control", &c.unknown);
        Some(ControlConfig {
            safe_mode: v.required("control.safe_mode", &c.safe_mode)?,
            dry_run: v.required("control.dry_run", &c.dry_run)?,
            two_man_rule: v.required("control.two_man_rule", &c.two_man_rule)?,
            approval_token_digest: None,
        })
    });
    if let (Some(Profile::Live), Some(c)) = (profile, control)
        && !c.two_man_rule
    {
        v.error("control.two_man_rule", "must be true in the live profile");
    }
    if let (Some(Profile::Paper), Some(c)) = (profile, control)
        && !c.dry_run
    {
        v.error(
            "control.dry_run",
            "must be true in the paper profile (it has no real venue)",
        );
    }
    let instruments = build_instruments(v, raw);
    let venues = build_venues(v, raw);
    let endpoints = profile.and_then(|p| venue_endpoints(v, raw, p));
    let guards = build_guards(v, raw);
    let risk = build_risk(v, raw);
    let strategy = instruments.as_ref().and_then(|i| build_strategy(v, raw, i));
    let day_start_minutes = v.section("ledger", &raw.ledger).and_then(|l| {
        v.unknown("ledger", &l.unknown);
        let text = v.required("ledger.day_start_utc", &l.day_start_utc)?;
        let parsed = parse_hh_mm(&text);
        if parsed.is_none() {
            v.error(
                "ledger.day_start_utc",
                format!("{text:?} is not a time like \"00:00\""),
            );
        }
        parsed
    });
    let limits = build_limits(v, raw);
    let recording = recording::build_recording(v, raw.recording.as_ref());
    if let (Some(g), Some(vs)) = (&guards, &venues) {
        for venue in Venue::ALL {
            let vc = &vs[venue.index()];
            if g.runaway_place_per_min > vc.orders_per_min {
                v.error(
                    "guards.runaway_breaker.place_per_min",
                    format!(
                        "{} is above the {} venue limit of {} orders/min; the breaker must trip before the venue limit",
                        g.runaway_place_per_min, venue, vc.orders_per_min
                    ),
                );
            }
        }
    }
    Some(Config {
        profile: profile?,
        api_base_url: api_base_url?,
        control: control?,
        instruments: instruments?,
        venues: venues?,
        endpoints: endpoints?,
        recording: recording?,
        guards: guards?,
        risk: risk?,
        strategy: strategy?,
        day_start_minutes: day_start_minutes?,
        limits: limits?,
        status,
    })
}

fn parse_hh_mm(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

fn build_instruments(v: &mut Validator, raw: &RawConfig) -> Option<Vec<InstrumentConfig>> {
    let list = v.section("instruments", &raw.instruments)?;
    if list.is_empty() {
        v.error("instruments", "at least one instrument is required");
        return None;
    }
    if list.len() > 64 {
        v.error("instruments", "at most 64 instruments are supported");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, inst) in list.iter().enumerate() {
        let path = format!("instruments[{i}]");
        v.unknown(&path, &inst.unknown);
        let name = v.required(&join(&path, "name"), &inst.name);
        let price_scale = v.range(&join(&path, "price_scale"), &inst.price_scale, 0, 8);
        let qty_scale = v.range(&join(&path, "qty_scale"), &inst.qty_scale, 0, 8);
        let mut listings: [Option<Listing>; Venue::COUNT] = [None, None];
        if let (Some(map), Some(ps), Some(qs)) = (&inst.listings, price_scale, qty_scale) {
            for (venue_name, l) in map {
                let lpath = join(&join(&path, "listings"), venue_name);
                let Some(venue) = Venue::from_name(venue_name) else {
                    v.error(&lpath, "unknown venue; expected binance-um or okx-swap");
                    ok = false;
                    continue;
                };
                match build_listing(v, &lpath, l, ps, qs) {
                    Some(listing) => listings[venue.index()] = Some(listing),
                    None => ok = false,
                }
            }
        } else if inst.listings.is_none() {
            v.error(join(&path, "listings"), "missing section");
        }
        if listings.iter().all(Option::is_none) && inst.listings.is_some() && ok {
            v.error(
                join(&path, "listings"),
                "at least one venue listing is required",
            );
        }
        if let Some(n) = &name
            && out.iter().any(|o: &InstrumentConfig| &o.name == n)
        {
            v.error(join(&path, "name"), format!("duplicate instrument {n:?}"));
        }
        match (name, price_scale, qty_scale) {
            (Some(name), Some(price), Some(qty)) => out.push(InstrumentConfig {
                name,
                scales: Scales { price, qty },
                listings,
            }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn build_listing(
    v: &mut Validator,
    path: &str,
    l: &raw::RawListing,
    ps: u8,
    qs: u8,
) -> Option<Listing> {
    v.unknown(path, &l.unknown);
    let symbol = v.required(&join(path, "symbol"), &l.symbol);
    let tick = v.decimal(&join(path, "tick_size"), &l.tick_size, ps, 1, i64::MAX / 4);
    let lot = v.decimal(&join(path, "lot_size"), &l.lot_size, qs, 1, i64::MAX / 4);
    let min_qty = v.decimal(&join(path, "min_qty"), &l.min_qty, qs, 1, i64::MAX / 4);
    let contract_value = match &l.contract_value {
        None => Some(None),
        Some(_) => v
            .decimal(
                &join(path, "contract_value"),
                &l.contract_value,
                qs,
                1,
                i64::MAX / 4,
            )
            .map(Some),
    };
    if let (Some(lot), Some(min)) = (lot, min_qty)
        && min % lot != 0
    {
        v.error(join(path, "min_qty"), "must be a multiple of lot_size");
    }
    if let (Some(lot), Some(Some(cv))) = (lot, contract_value)
        && lot % cv != 0
        && cv % lot != 0
    {
        v.error(
            join(path, "lot_size"),
            "lot_size (in base units) and contract_value must divide one another",
        );
    }
    Some(Listing {
        symbol: symbol?,
        tick: Price::from_raw(tick?),
        lot: Qty::from_raw(lot?),
        min_qty: Qty::from_raw(min_qty?),
        contract_value: contract_value?.map(Qty::from_raw),
    })
}

/// `venues.<venue>.endpoints` of both venues (defaults where the file is silent).
fn venue_endpoints(
    v: &mut Validator,
    raw: &RawConfig,
    profile: Profile,
) -> Option<[Endpoints; Venue::COUNT]> {
    let map = raw.venues.as_ref()?;
    let mut out = Venue::ALL.map(|venue| Some(Endpoints::default_for(venue, profile)));
    for (name, rv) in map {
        if let Some(venue) = Venue::from_name(name) {
            let path = join(&join("venues", name), "endpoints");
            out[venue.index()] =
                endpoints::build_endpoints(v, &path, rv.endpoints.as_ref(), venue, profile);
        }
    }
    let [a, b] = out;
    Some([a?, b?])
}

fn build_venues(v: &mut Validator, raw: &RawConfig) -> Option<[VenueConfig; Venue::COUNT]> {
    let map = v.section("venues", &raw.venues)?;
    let mut out: [Option<VenueConfig>; Venue::COUNT] = [None, None];
    for (name, rv) in map {
        let path = join("venues", name);
        let Some(venue) = Venue::from_name(name) else {
            v.error(&path, "unknown venue; expected binance-um or okx-swap");
            continue;
        };
        v.unknown(&path, &rv.unknown);
        let p = |k: &str| join(&path, k);
        let fee_lo = -100 * 100;
        let fee_hi = 100 * 100;
        let maker = v.decimal(&p("maker_fee_bps"), &rv.maker_fee_bps, 2, fee_lo, fee_hi);
        let taker = v.decimal(&p("taker_fee_bps"), &rv.taker_fee_bps, 2, fee_lo, fee_hi);
        let o10 = v.range(&p("orders_per_10s"), &rv.orders_per_10s, 1, 100_000);
        let o60 = v.range(&p("orders_per_min"), &rv.orders_per_min, 1, 1_000_000);
        let w60 = v.range(&p("weight_per_min"), &rv.weight_per_min, 1, 1_000_000);
        let reserve = v.range(&p("cancel_reserve_pct"), &rv.cancel_reserve_pct, 0, 90);
        let expiry = v.range(&p("order_expiry_ms"), &rv.order_expiry_ms, 100, 60_000);
        let ack = v.range(&p("ack_timeout_ms"), &rv.ack_timeout_ms, 10, 60_000);
        let dm = v.range(
            &p("deadman_timeout_ms"),
            &rv.deadman_timeout_ms,
            1_000,
            600_000,
        );
        let dr = v.range(
            &p("deadman_refresh_ms"),
            &rv.deadman_refresh_ms,
            100,
            600_000,
        );
        if let (Some(dm), Some(dr)) = (dm, dr)
            && dr * 2 > dm
        {
            v.error(
                p("deadman_refresh_ms"),
                "must be at most half of deadman_timeout_ms",
            );
        }
        if venue == Venue::Okx
            && let Some(dm) = dm
            && !(10_000..=120_000).contains(&dm)
        {
            v.error(
                p("deadman_timeout_ms"),
                "OKX cancel-all-after accepts 10000..=120000 ms",
            );
        }
        if let (Some(o10), Some(o60)) = (o10, o60)
            && u64::from(o10) * 6 < u64::from(o60) / 10
        {
            v.error(
                p("orders_per_10s"),
                "is implausibly small against orders_per_min",
            );
        }
        out[venue.index()] = (|| {
            Some(VenueConfig {
                maker_fee: CentiBps::from_raw(maker?),
                taker_fee: CentiBps::from_raw(taker?),
                orders_per_10s: o10?,
                orders_per_min: o60?,
                weight_per_min: w60?,
                cancel_reserve_pct: reserve?,
                order_expiry_ns: ms(expiry?),
                ack_timeout_ns: ms(ack?),
                deadman_timeout_ns: ms(dm?),
                deadman_refresh_ns: ms(dr?),
            })
        })();
    }
    for venue in Venue::ALL {
        if !map.contains_key(venue.name())
            && !map.keys().any(|k| Venue::from_name(k) == Some(venue))
        {
            v.error(join("venues", venue.name()), "missing section");
        }
    }
    Some([out[0]?, out[1]?])
}

fn build_guards(v: &mut Validator, raw: &RawConfig) -> Option<GuardsConfig> {
    let g = v.section("guards", &raw.guards)?;
    v.unknown("guards", &g.unknown);
    let cod = v.required("guards.cancel_on_disconnect", &g.cancel_on_disconnect);
    let (place, cancel, b0, bmax) = build_rate_limit(v, g);
    let skew = v.range(
        "guards.clock_skew_guard_ms",
        &g.clock_skew_guard_ms,
        1,
        10_000,
    );
    let skew_age = v.range(
        "guards.clock_sample_max_age_ms",
        &g.clock_sample_max_age_ms,
        1_000,
        DAY_MS,
    );
    let snapdiff = v.required("guards.snapshot_diff_check", &g.snapshot_diff_check);
    if snapdiff == Some(false) {
        v.error(
            "guards.snapshot_diff_check",
            "continuity checks cannot be disabled: a desynced book trades on prices that do not exist",
        );
    }
    let resync = v.range(
        "guards.resync_deadline_ms",
        &g.resync_deadline_ms,
        100,
        3_600_000,
    );
    let stale = v.range(
        "guards.market_data_stale_ms",
        &g.market_data_stale_ms,
        100,
        3_600_000,
    );
    let (kc_enabled, flatten) = match v.section("guards.kill_caps", &g.kill_caps) {
        Some(k) => {
            v.unknown("guards.kill_caps", &k.unknown);
            (
                v.required("guards.kill_caps.enabled", &k.enabled),
                v.required("guards.kill_caps.flatten_on_breach", &k.flatten_on_breach),
            )
        }
        None => (None, None),
    };
    let (rplace, rcancel) = build_runaway_breaker(v, g);
    let calendar = build_calendar(v, g);
    let lead = v.range(
        "guards.maintenance_lead_ms",
        &g.maintenance_lead_ms,
        0,
        DAY_MS,
    );
    let recon = v.range(
        "guards.reconcile_every_ms",
        &g.reconcile_every_ms,
        10_000,
        DAY_MS,
    );
    Some(GuardsConfig {
        cancel_on_disconnect: cod?,
        rate_place_per_min: place?,
        rate_cancel_per_min: cancel?,
        backoff_initial_ns: ms(b0?),
        backoff_max_ns: ms(bmax?),
        clock_skew_guard_ns: ms(skew?),
        clock_sample_max_age_ns: ms(skew_age?),
        snapshot_diff_check: snapdiff?,
        resync_deadline_ns: ms(resync?),
        market_data_stale_ns: ms(stale?),
        kill_caps_enabled: kc_enabled?,
        flatten_on_breach: flatten?,
        runaway_place_per_min: rplace?,
        runaway_cancel_per_min: rcancel?,
        maintenance_calendar: calendar?,
        maintenance_lead_ns: ms(lead?),
        reconcile_every_ns: ms(recon?),
    })
}

/// `guards.rate_limit`: places and cancels per minute, then the 429 backoff (initial
/// and maximum, ms).
fn build_rate_limit(
    v: &mut Validator,
    g: &raw::RawGuards,
) -> (Option<u32>, Option<u32>, Option<u64>, Option<u64>) {
    let Some(r) = v.section("guards.rate_limit", &g.rate_limit) else {
        return (None, None, None, None);
    };
    v.unknown("guards.rate_limit", &r.unknown);
    let p = |k: &str| join("guards.rate_limit", k);
    let place = v.range(&p("place_per_min"), &r.place_per_min, 1, 100_000);
    let cancel = v.range(&p("cancel_per_min"), &r.cancel_per_min, 1, 100_000);
    let b0 = v.range(&p("backoff_initial_ms"), &r.backoff_initial_ms, 10, 600_000);
    let bmax = v.range(&p("backoff_max_ms"), &r.backoff_max_ms, 10, 3_600_000);
    if let (Some(b0), Some(bmax)) = (b0, bmax)
        && b0 > bmax
    {
        v.error(p("backoff_initial_ms"), "must not exceed backoff_max_ms");
    }
    (place, cancel, b0, bmax)
}

/// `guards.runaway_breaker`: places and cancels per minute per route.
fn build_runaway_breaker(v: &mut Validator, g: &raw::RawGuards) -> (Option<u32>, Option<u32>) {
    let Some(r) = v.section("guards.runaway_breaker", &g.runaway_breaker) else {
        return (None, None);
    };
    v.unknown("guards.runaway_breaker", &r.unknown);
    if r.backoff_initial_ms.is_some() || r.backoff_max_ms.is_some() {
        v.error(
            "guards.runaway_breaker",
            "backoff settings belong under guards.rate_limit",
        );
    }
    let p = |k: &str| join("guards.runaway_breaker", k);
    (
        v.range(&p("place_per_min"), &r.place_per_min, 1, 100_000),
        v.range(&p("cancel_per_min"), &r.cancel_per_min, 1, 100_000),
    )
}

fn build_calendar(v: &mut Validator, g: &raw::RawGuards) -> Option<Vec<MaintenanceWindow>> {
    let list = v.section("guards.maintenance_calendar", &g.maintenance_calendar)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, w) in list.iter().enumerate() {
        let path = format!("guards.maintenance_calendar[{i}]");
        v.unknown(&path, &w.unknown);
        let venue = match v.optional(&join(&path, "venue"), &w.venue) {
            None => Some(None),
            Some(name) if name == "all" => Some(None),
            Some(name) => match Venue::from_name(&name) {
                Some(venue) => Some(Some(venue)),
                None => {
                    v.error(
                        join(&path, "venue"),
                        format!("{name:?} is not binance-um, okx-swap or all"),
                    );
                    None
                }
            },
        };
        let start = v.timestamp(&join(&path, "start"), &w.start);
        let end = v.timestamp(&join(&path, "end"), &w.end);
        let pre_open = match &w.pre_open_start {
            None => Some(None),
            Some(_) => v
                .timestamp(&join(&path, "pre_open_start"), &w.pre_open_start)
                .map(Some),
        };
        let title = v
            .optional(&join(&path, "title"), &w.title)
            .unwrap_or_default();
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            v.error(join(&path, "end"), "must be after start");
        }
        if let (Some(e), Some(Some(p))) = (end, pre_open)
            && p > e
        {
            v.error(join(&path, "pre_open_start"), "must not be after end");
        }
        match (venue, start, end, pre_open) {
            (Some(venue), Some(start), Some(end), Some(pre_open_start)) => {
                out.push(MaintenanceWindow {
                    venue,
                    start,
                    end,
                    pre_open_start,
                    title,
                })
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn usd(
    v: &mut Validator,
    path: &str,
    leaf: &Option<raw::Lenient<raw::DecimalText>>,
    min: i64,
) -> Option<Notional> {
    v.decimal(
        path,
        leaf,
        NOTIONAL_SCALE,
        min,
        MAX_USD * crate::model::NOTIONAL_ONE,
    )
    .map(Notional::from_raw)
}

fn build_risk(v: &mut Validator, raw: &RawConfig) -> Option<RiskConfig> {
    let r = v.section("risk", &raw.risk)?;
    v.unknown("risk", &r.unknown);
    let (per_symbol, total) = match v.section("risk.notional_caps", &r.notional_caps) {
        Some(c) => {
            v.unknown("risk.notional_caps", &c.unknown);
            (
                usd(v, "risk.notional_caps.per_symbol_usd", &c.per_symbol_usd, 1),
                usd(v, "risk.notional_caps.total_usd", &c.total_usd, 1),
            )
        }
        None => (None, None),
    };
    if let (Some(p), Some(t)) = (per_symbol, total)
        && p > t
    {
        v.error(
            "risk.notional_caps.per_symbol_usd",
            "must not exceed total_usd",
        );
    }
    let daily = usd(v, "risk.daily_loss_usd", &r.daily_loss_usd, 1);
    let unrealized = usd(v, "risk.unrealized_loss_usd", &r.unrealized_loss_usd, 1);
    let capital = usd(v, "risk.capital_usd", &r.capital_usd, 1);
    let max_open = v.range("risk.max_open_orders", &r.max_open_orders, 1, 10_000);
    let unhedged = usd(v, "risk.unhedged_alert_usd", &r.unhedged_alert_usd, 1);
    let unhedged_after = v.range(
        "risk.unhedged_alert_after_ms",
        &r.unhedged_alert_after_ms,
        0,
        3_600_000,
    );
    Some(RiskConfig {
        per_symbol_notional: per_symbol?,
        total_notional: total?,
        daily_loss: daily?,
        unrealized_loss: unrealized?,
        capital: capital?,
        max_open_orders: max_open?,
        unhedged_alert: unhedged?,
        unhedged_alert_after_ns: ms(unhedged_after?),
    })
}

fn build_strategy(
    v: &mut Validator,
    raw: &RawConfig,
    instruments: &[InstrumentConfig],
) -> Option<StrategyConfig> {
    let s = v.section("strategy", &raw.strategy)?;
    v.unknown("strategy", &s.unknown);
    let p = |k: &str| join("strategy", k);
    let enabled = v.required(&p("enabled"), &s.enabled);
    let pair = v
        .required(&p("loop_pair"), &s.loop_pair)
        .and_then(|name| loop_pair(v, instruments, &name));
    let venues = v
        .required(&p("loop_venues"), &s.loop_venues)
        .and_then(|names| loop_venues(v, &names));
    if let (Some(i), Some(vs)) = (pair, &venues) {
        for venue in vs {
            if instruments[i.index()].listings[venue.index()].is_none() {
                v.error(
                    p("loop_venues"),
                    format!("{} is not listed on {venue}", instruments[i.index()].name),
                );
            }
        }
    }
    let bps = |v: &mut Validator, k: &str, leaf, lo: i64, hi: i64| {
        v.decimal(&p(k), leaf, 2, lo * 100, hi * 100)
            .map(CentiBps::from_raw)
    };
    let entry = bps(v, "min_spread_bps", &s.min_spread_bps, -1_000, 10_000);
    let exit = bps(v, "exit_spread_bps", &s.exit_spread_bps, -1_000, 10_000);
    if let (Some(e), Some(x)) = (entry, exit)
        && x > e
    {
        v.error(
            p("exit_spread_bps"),
            "must not exceed min_spread_bps, or positions would churn",
        );
    }
    let buffer = bps(v, "slippage_buffer_bps", &s.slippage_buffer_bps, 0, 1_000);
    let max_slip = bps(v, "max_slippage_bps", &s.max_slippage_bps, 0, 1_000);
    let notional = usd(v, &p("order_notional_usdt"), &s.order_notional_usdt, 1);
    let depth = v.range(&p("depth_fraction_pct"), &s.depth_fraction_pct, 1, 100);
    let hedge = v.range(&p("hedge_timeout_ms"), &s.hedge_timeout_ms, 10, 600_000);
    let age = v.range(&p("max_book_age_ms"), &s.max_book_age_ms, 1, 600_000);
    let cooldown = v.range(&p("cooldown_ms"), &s.cooldown_ms, 0, 3_600_000);
    let execution = v
        .required(&p("execution"), &s.execution)
        .and_then(|e| match e.as_str() {
            "taker" => Some(ExecutionStyle::Taker),
            "maker_first" => Some(ExecutionStyle::MakerFirst),
            other => {
                v.error(
                    p("execution"),
                    format!("{other:?} is not taker or maker_first"),
                );
                None
            }
        });
    let maker_timeout = v.range(&p("maker_timeout_ms"), &s.maker_timeout_ms, 10, 3_600_000);
    Some(StrategyConfig {
        enabled: enabled?,
        instruments: vec![pair?],
        venues: venues?,
        entry_edge: entry?,
        exit_edge: exit?,
        slippage_buffer: buffer?,
        max_slippage: max_slip?,
        order_notional: notional?,
        depth_fraction_pct: depth?,
        hedge_timeout_ns: ms(hedge?),
        max_book_age_ns: ms(age?),
        cooldown_ns: ms(cooldown?),
        execution: execution?,
        maker_timeout_ns: ms(maker_timeout?),
    })
}

/// The traded instrument by its canonical name or any venue symbol (`BTCUSDT`).
fn loop_pair(
    v: &mut Validator,
    instruments: &[InstrumentConfig],
    name: &str,
) -> Option<InstrumentId> {
    let found = instruments
        .iter()
        .position(|i| i.name == name || i.listings.iter().flatten().any(|l| l.symbol == name));
    if found.is_none() {
        v.error(
            "strategy.loop_pair",
            format!("{name:?} is not a configured instrument"),
        );
    }
    found.map(|i| InstrumentId(i as u16))
}

/// The two venues of the loop, each named once.
fn loop_venues(v: &mut Validator, names: &[String]) -> Option<Vec<Venue>> {
    let key = "strategy.loop_venues";
    let mut out = Vec::new();
    for n in names {
        match Venue::from_name(n) {
            Some(venue) if !out.contains(&venue) => out.push(venue),
            Some(_) => v.error(key, format!("{n:?} is listed twice")),
            None => v.error(key, format!("{n:?} is not binance-um or okx-swap")),
        }
    }
    if out.len() != 2 {
        v.error(key, "cross-venue arbitrage needs exactly two venues");
        return None;
    }
    Some(out)
}

fn build_limits(v: &mut Validator, raw: &RawConfig) -> Option<Limits> {
    let l = v.section("limits", &raw.limits)?;
    v.unknown("limits", &l.unknown);
    let p = |k: &str| join("limits", k);
    Some(Limits {
        orders_tracked_max: v.range(&p("orders_tracked_max"), &l.orders_tracked_max, 8, 100_000)?,
        trade_ids_remembered_max: v.range(
            &p("trade_ids_remembered_max"),
            &l.trade_ids_remembered_max,
            16,
            10_000_000,
        )?,
        book_ticks_per_side: v.range(
            &p("book_ticks_per_side"),
            &l.book_ticks_per_side,
            64,
            1 << 20,
        )?,
        alerts_max: v.range(&p("alerts_max"), &l.alerts_max, 8, 100_000)?,
        approvals_max: v.range(&p("approvals_max"), &l.approvals_max, 1, 1_000)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> StatusThresholds {
        StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML).unwrap()
    }

    #[test]
    fn shipped_profiles_are_valid_and_carry_the_operator_spec_values() {
        let paper = Config::embedded(Profile::Paper);
        assert_eq!(paper.profile, Profile::Paper);
        assert!(paper.control.dry_run && paper.control.two_man_rule);
        assert!(
            !paper.control.safe_mode,
            "paper trades after the two-man resume"
        );
        assert!(Config::embedded(Profile::Live).control.safe_mode);
        let testnet = Config::embedded(Profile::Testnet);
        assert_eq!(testnet.guards.rate_place_per_min, 300);
        assert_eq!(testnet.guards.rate_cancel_per_min, 600);
        assert_eq!(testnet.guards.clock_skew_guard_ns, 200 * 1_000_000);
        assert_eq!(testnet.risk.per_symbol_notional, Notional::from_usd(1000));
        assert_eq!(testnet.risk.total_notional, Notional::from_usd(5000));
        let live = Config::embedded(Profile::Live);
        assert_eq!(live.guards.rate_place_per_min, 120);
        assert_eq!(live.guards.runaway_cancel_per_min, 240);
        assert_eq!(live.guards.clock_skew_guard_ns, 150 * 1_000_000);
        assert_eq!(live.risk.per_symbol_notional, Notional::from_usd(500));
        assert_eq!(live.risk.total_notional, Notional::from_usd(2500));
        assert!(live.guards.kill_caps_enabled && live.guards.flatten_on_breach);
    }

    #[test]
    fn every_invalid_value_is_reported_with_its_path() {
        let text = PAPER_YAML
            .replace("clock_skew_guard_ms: 200", "clock_skew_guard_ms: -5")
            .replace("per_symbol_usd: 1000", "per_symbol_usd: lots")
            .replace("min_spread_bps: 1.2", "min_spread_bps: 1.234")
            .replace(
                "cancel_on_disconnect: true",
                "cancel_on_disconnect: yes please",
            )
            .replace("profile: paper", "profile: paper\nsurprise: 1");
        let errors = Config::from_yaml(&text, status()).unwrap_err().0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "guards.clock_skew_guard_ms",
            "risk.notional_caps.per_symbol_usd",
            "strategy.min_spread_bps",
            "guards.cancel_on_disconnect",
            "surprise",
        ] {
            assert!(paths.contains(&want), "missing {want} in {paths:?}");
        }
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn missing_sections_and_cross_field_rules_are_reported() {
        let errors = Config::from_yaml("profile: live\n", status())
            .unwrap_err()
            .0;
        assert!(
            errors
                .iter()
                .any(|e| e.path == "guards" && e.reason == "missing section")
        );
        assert!(errors.iter().any(|e| e.path == "risk"));
        let text = LIVE_YAML.replace("two_man_rule: true", "two_man_rule: false");
        let errors = Config::from_yaml(&text, status()).unwrap_err().0;
        assert_eq!(errors[0].path, "control.two_man_rule");
    }

    #[test]
    fn not_yaml_is_one_clear_error() {
        let errors = Config::from_yaml("profile: [unclosed", status())
            .unwrap_err()
            .0;
        assert_eq!(errors.len(), 1);
        assert!(errors[0].reason.contains("not a valid config document"));
    }
}
