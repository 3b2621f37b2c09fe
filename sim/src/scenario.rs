//! Scenarios as data: the YAML schema of `scenarios/*.yaml` (world, seeds, fault
//! schedule, operator actions, expectations). `docs/SCENARIOS.md` documents it.
//!
//! Operator actions are the same engine commands the API server sends
//! (`OperatorAction`), addressed to the leader or to one instance.

use crate::market::MarketParams;
use crate::rng::SimRng;
use crate::venue::VenueParams;
use propbot_engine::model::Venue;
use propbot_market::tape::Tape;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One scenario file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name, e.g. `at-p0-fence`.
    pub name: String,
    /// What it proves.
    pub description: String,
    /// Seeds `cargo test` runs (the full suite runs more with `--seeds`).
    #[serde(default = "default_seeds")]
    pub seeds: u64,
    /// The world.
    pub world: WorldSpec,
    /// Operator actions.
    #[serde(default)]
    pub operator: Vec<OperatorStep>,
    /// Faults.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// What must hold at the end (in addition to every invariant at every step).
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// The recorded market, once loaded (from `world.recording` or `--recording`).
    #[serde(skip)]
    pub tape: Option<Arc<Tape>>,
}

fn default_seeds() -> u64 {
    50
}

/// The simulated world.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldSpec {
    /// Engine instances (1 = single host; 2+ = leader and standbys).
    pub instances: u8,
    /// Simulated run time before healing, ms.
    pub duration_ms: u64,
    /// Time after every fault has healed, for liveness checks, ms.
    pub heal_ms: u64,
    /// Engine config profile: paper, testnet or live.
    pub profile: String,
    /// YAML merged into the profile's config before validation (deep merge of mappings).
    pub config_patch: Option<serde_yaml::Value>,
    /// Lease TTL, ms.
    pub lease_ttl_ms: u64,
    /// Request latency between instances and venues or the lease service, ms.
    pub latency_ms: (u64, u64),
    /// Market-data latency, ms.
    pub market_latency_ms: (u64, u64),
    /// How long a crashed instance stays down, ms.
    pub restart_ms: u64,
    /// A venue stream silent this long counts as stalled, ms.
    pub stall_ms: u64,
    /// Largest number of steps a run may take (a step budget).
    pub step_budget: u64,
    /// Market model.
    pub market: MarketParams,
    /// Recording files or directories (relative to the scenario file) that drive the
    /// market instead of the synthetic model; `market` is then unused.
    pub recording: Option<Vec<PathBuf>>,
    /// Venue model.
    pub venue: VenueParams,
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec {
            instances: 1,
            duration_ms: 120_000,
            heal_ms: 30_000,
            profile: "paper".into(),
            config_patch: None,
            lease_ttl_ms: 6_000,
            latency_ms: (1, 8),
            market_latency_ms: (1, 3),
            restart_ms: 2_000,
            stall_ms: 3_000,
            step_budget: 5_000_000,
            market: MarketParams::default(),
            recording: None,
            venue: VenueParams::default(),
        }
    }
}

/// Who receives an operator action or suffers a fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The instance that is leader at that moment (or instance 0 if none).
    #[default]
    Leader,
    /// A standby (the lowest-numbered instance that is not the leader).
    Standby,
    /// A fixed instance.
    Instance(u8),
}

/// An operator action at a time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorStep {
    /// When, ms from the start.
    pub at_ms: u64,
    /// What.
    pub action: OperatorSpec,
    /// To whom.
    #[serde(default)]
    pub target: Target,
}

/// Operator actions. `resume` expands to the two-man flow: a request by `alice`, a
/// confirmation by `bob` with the approval token, and `resume` by `bob`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum OperatorSpec {
    /// Two-man resume by alice and bob.
    Resume,
    /// A resume attempted by one actor alone (request and confirm by alice): must be
    /// refused.
    ResumeSameActor,
    /// HOLD.
    Hold {
        /// Why.
        reason: String,
    },
    /// Kill switch: request by alice, confirm by bob.
    Kill,
    /// Apply a config patch (merged into the current config) as a new version.
    ConfigApply {
        /// YAML merged into the config.
        patch: serde_yaml::Value,
    },
}

/// A node of the network, for partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeSpec {
    /// An instance.
    Instance(Target),
    /// A venue.
    Venue(Venue),
    /// The lease service.
    Lease,
}

/// Where a crash happens in the driver loop (SIMULATION.md's three crash points).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// Right now, wherever the driver is.
    Now,
    /// After the journal commit of an order, before the order is sent.
    AfterCommitBeforeSend,
    /// After an order is sent, before its acknowledgement arrives.
    AfterSendBeforeAck,
    /// After a fill is received, before its journal record is committed.
    AfterFillBeforeCommit,
}

/// A fault at a time, for a duration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Start, ms from the start.
    pub at_ms: u64,
    /// How long it lasts, ms (faults that are instantaneous ignore it).
    #[serde(default)]
    pub duration_ms: u64,
    /// The affected instance must be in HOLD within this many ms of the start.
    #[serde(default)]
    pub hold_within_ms: Option<u64>,
    /// What.
    pub fault: FaultKind,
}

/// The fault catalogue (SIMULATION.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FaultKind {
    /// Messages from `a` to `b` (and back, unless `one_way`) are lost.
    Partition {
        /// One end.
        a: NodeSpec,
        /// The other end.
        b: NodeSpec,
        /// Only `a → b` is cut.
        #[serde(default)]
        one_way: bool,
    },
    /// A venue link drops: cleanly (the socket closes) or as a silent stall.
    Disconnect {
        /// Instance.
        #[serde(default)]
        target: Target,
        /// Venue.
        venue: Venue,
        /// Clean close (else a silent stall found by the watchdog).
        #[serde(default = "yes")]
        clean: bool,
    },
    /// Book deltas to an instance are lost (a snapshot/diff gap).
    Gap {
        /// Instance.
        #[serde(default)]
        target: Target,
        /// Venue.
        venue: Venue,
    },
    /// Every request to the venue gets a 429; continued requests escalate to a 418 ban.
    Storm429 {
        /// Venue.
        venue: Venue,
    },
    /// Places get an unknown outcome (503) with this chance.
    Unknown {
        /// Venue.
        venue: Venue,
        /// Chance, ppm.
        ppm: u64,
    },
    /// Execution reports are duplicated with this chance, and reordered.
    DuplicateReorder {
        /// Venue.
        venue: Venue,
        /// Chance, ppm.
        ppm: u64,
    },
    /// A maintenance window announced `notice_ms` ahead, with a pre-open at the end.
    Maintenance {
        /// Venue.
        venue: Venue,
        /// Notice ahead of the start, ms.
        notice_ms: u64,
        /// Pre-open length at the end of the window, ms.
        #[serde(default)]
        pre_open_ms: u64,
    },
    /// The venue cancels every open order on its own.
    VenueCancel {
        /// Venue.
        venue: Venue,
    },
    /// An instance's clock jumps by `offset_ms` (for the duration).
    Skew {
        /// Instance.
        #[serde(default)]
        target: Target,
        /// Offset, ms (positive: ahead).
        offset_ms: i64,
    },
    /// A venue's clock is off by `offset_ms`.
    VenueClock {
        /// Venue.
        venue: Venue,
        /// Offset, ms.
        offset_ms: i64,
    },
    /// An instance crashes at a crash point, and restarts `world.restart_ms` later.
    Crash {
        /// Instance.
        #[serde(default)]
        target: Target,
        /// Where.
        point: CrashPoint,
    },
    /// An instance stops processing for the duration (a GC pause, a frozen VM).
    Pause {
        /// Instance.
        #[serde(default)]
        target: Target,
    },
    /// The market flips a venue's basis in and out of an arbitrage window on every
    /// update: a strategy that follows it places and cancels in a loop.
    Flip {
        /// Venue.
        venue: Venue,
    },
    /// Journal writes fail (an IO error or a full disk).
    DiskError {
        /// Instance.
        #[serde(default)]
        target: Target,
    },
    /// The lease service does not answer.
    LeaseDown,
    /// Another engine process starts and competes for the lease (two instances on one
    /// host, a forgotten standby).
    ExtraInstance,
    /// An instance crashes `count` times in a row, each time soon after restarting.
    CrashLoop {
        /// Instance.
        #[serde(default)]
        target: Target,
        /// Crashes.
        count: u64,
    },
    /// A fast market: the common price jumps by `centibps` hundredths of a bp.
    PriceJump {
        /// Jump size, 1/100 bp (signed).
        centibps: i64,
    },
    /// `count` faults drawn per seed from `kinds` within `window_ms`.
    Random {
        /// How many.
        count: u32,
        /// Fault kinds to draw from (names as above).
        kinds: Vec<String>,
        /// Start window, ms.
        window_ms: (u64, u64),
        /// Duration range, ms.
        duration_ms: (u64, u64),
    },
}

fn yes() -> bool {
    true
}

/// What must be true at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "check")]
pub enum Expectation {
    /// The engine traded at least this many orders (the scenario exercised something).
    MinOrders {
        /// Orders.
        orders: u64,
    },
    /// These guards tripped at least once.
    Tripped {
        /// Guard names (`clock_skew`, `rate_limit`, …).
        guards: Vec<String>,
    },
    /// No order was accepted at a venue from an instance after it entered HOLD
    /// (except reduce-only flatten orders).
    NoOrdersAfterTrip,
    /// No fill was lost: after final reconciliation the leader's journal has every
    /// venue fill, once.
    NoLostFills,
    /// Final reconciliation found no mismatch.
    ReconOk,
    /// Leadership changed at least `changes` times, and every new leader started in
    /// HOLD.
    NewLeaderInHold {
        /// Leadership changes.
        changes: u64,
    },
    /// An instance restarted at least `restarts` times, and came up in HOLD each time.
    RestartInHold {
        /// Restarts.
        restarts: u64,
    },
    /// A resume by a single actor was refused.
    SameActorRefused,
    /// Positions were flattened to zero after a kill-cap breach.
    Flattened,
    /// Routes were quarantined by the runaway breaker, and no venue saw more orders per
    /// minute on one route than the breaker limit.
    Quarantined,
    /// During the maintenance pre-open only cancels and post-only orders were sent.
    PreOpenRespected,
    /// Cancels were still sent while places were held back by the governor.
    CancelsDuringBackoff,
    /// The dead-man switch cancelled orders that could not be cancelled otherwise.
    DeadmanCovered,
    /// Every order of unknown outcome was resolved by the end.
    UnknownResolved,
    /// The SLO figures of `status_thresholds.yaml` were met at the end.
    SloMet,
    /// The leader detected at least one book gap (and, by liveness, resynced).
    GapsDetected,
}

/// Fault kinds the `random` fault may draw.
pub const RANDOM_KINDS: &[&str] = &[
    "disconnect",
    "stall",
    "gap",
    "storm_429",
    "unknown",
    "duplicate_reorder",
    "skew",
    "venue_clock",
    "crash",
    "pause",
    "venue_cancel",
    "lease_down",
    "price_jump",
    "disk_error",
    "maintenance",
    "flip",
    "extra_instance",
    "crash_loop",
    "partition_lease",
    "partition_venue",
];

/// Expands `random` faults into concrete ones, deterministically from `rng`.
pub fn expand_faults(faults: &[FaultSpec], rng: &mut SimRng) -> Vec<FaultSpec> {
    let mut out = Vec::new();
    for f in faults {
        let FaultKind::Random {
            count,
            kinds,
            window_ms,
            duration_ms,
        } = &f.fault
        else {
            out.push(f.clone());
            continue;
        };
        if kinds.is_empty() {
            continue;
        }
        for _ in 0..*count {
            // The draws' order is part of every seed's schedule: name, venue, start,
            // duration, then whatever the kind draws itself.
            let name = &kinds[rng.below(kinds.len() as u64) as usize];
            let venue = if rng.below(2) == 0 {
                Venue::Binance
            } else {
                Venue::Okx
            };
            let at_ms = rng.range(window_ms.0, window_ms.1);
            let duration_ms = rng.range(duration_ms.0, duration_ms.1);
            if let Some(fault) = random_fault(name, venue, duration_ms, rng) {
                out.push(FaultSpec {
                    at_ms,
                    duration_ms,
                    hold_within_ms: None,
                    fault,
                });
            }
        }
    }
    out.sort_by_key(|f| f.at_ms);
    out
}

/// One random fault of kind `name` (a name of [`RANDOM_KINDS`]; others are `None`):
/// the table of what each kind means when drawn at random.
fn random_fault(name: &str, venue: Venue, duration_ms: u64, rng: &mut SimRng) -> Option<FaultKind> {
    Some(match name {
        "disconnect" => FaultKind::Disconnect {
            target: Target::Leader,
            venue,
            clean: true,
        },
        "stall" => FaultKind::Disconnect {
            target: Target::Leader,
            venue,
            clean: false,
        },
        "gap" => FaultKind::Gap {
            target: Target::Leader,
            venue,
        },
        "storm_429" => FaultKind::Storm429 { venue },
        "unknown" => FaultKind::Unknown {
            venue,
            ppm: 300_000,
        },
        "duplicate_reorder" => FaultKind::DuplicateReorder {
            venue,
            ppm: 300_000,
        },
        "skew" => FaultKind::Skew {
            target: Target::Leader,
            offset_ms: if rng.below(2) == 0 { 400 } else { -400 },
        },
        "venue_clock" => FaultKind::VenueClock {
            venue,
            offset_ms: 350,
        },
        "crash" => {
            let points = [
                CrashPoint::Now,
                CrashPoint::AfterCommitBeforeSend,
                CrashPoint::AfterSendBeforeAck,
                CrashPoint::AfterFillBeforeCommit,
            ];
            FaultKind::Crash {
                target: Target::Leader,
                point: points[rng.below(4) as usize],
            }
        }
        "pause" => FaultKind::Pause {
            target: Target::Leader,
        },
        "venue_cancel" => FaultKind::VenueCancel { venue },
        "lease_down" => FaultKind::LeaseDown,
        "disk_error" => FaultKind::DiskError {
            target: Target::Leader,
        },
        "maintenance" => FaultKind::Maintenance {
            venue,
            notice_ms: 5_000,
            pre_open_ms: duration_ms / 3,
        },
        "flip" => FaultKind::Flip { venue },
        "extra_instance" => FaultKind::ExtraInstance,
        "crash_loop" => FaultKind::CrashLoop {
            target: Target::Leader,
            count: 2,
        },
        "partition_lease" => FaultKind::Partition {
            a: NodeSpec::Instance(Target::Leader),
            b: NodeSpec::Lease,
            one_way: rng.below(2) == 0,
        },
        "partition_venue" => FaultKind::Partition {
            a: NodeSpec::Instance(Target::Leader),
            b: NodeSpec::Venue(venue),
            one_way: rng.below(2) == 0,
        },
        "price_jump" => FaultKind::PriceJump {
            centibps: if rng.below(2) == 0 { 3_000 } else { -3_000 },
        },
        _ => return None,
    })
}

/// Deep-merges `patch` into `base` (mappings merge key by key; anything else replaces).
pub fn merge_yaml(base: &mut serde_yaml::Value, patch: &serde_yaml::Value) {
    match (base, patch) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) => merge_yaml(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Why a scenario file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The YAML does not match the schema (`docs/SCENARIOS.md`).
    #[error("{path}: {message}")]
    Schema {
        /// Path.
        path: String,
        /// serde's message with the location.
        message: String,
    },
    /// The engine config the scenario builds is invalid.
    #[error("{path}: the scenario's config is invalid:\n{errors}")]
    Config {
        /// Path.
        path: String,
        /// Every invalid value.
        errors: propbot_engine::config::ConfigErrors,
    },
    /// The recording named by the scenario cannot drive its market.
    #[error("{path}: recording {}: {source}", recording.display())]
    Recording {
        /// Path.
        path: String,
        /// The first recording path.
        recording: PathBuf,
        /// Cause.
        source: Box<propbot_market::tape::TapeError>,
    },
}

/// Faults that steer the synthetic market model; a recorded market plays as recorded.
pub const MARKET_FAULTS: &[&str] = &["price_jump", "flip"];

impl Scenario {
    /// Parses a scenario document.
    pub fn from_yaml(path: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(|e| ScenarioError::Schema {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let schema = |message: String| ScenarioError::Schema {
            path: path.to_owned(),
            message,
        };
        if !["paper", "testnet", "live"].contains(&s.world.profile.as_str()) {
            return Err(schema(format!(
                "world.profile: unknown profile {:?} (expected paper, testnet or live)",
                s.world.profile
            )));
        }
        for (k, f) in s.faults.iter().enumerate() {
            if let FaultKind::Random { kinds, .. } = &f.fault {
                for name in kinds {
                    if !RANDOM_KINDS.contains(&name.as_str()) {
                        return Err(schema(format!(
                            "faults[{k}].fault.kinds: unknown fault kind {name:?} (one of: {})",
                            RANDOM_KINDS.join(", ")
                        )));
                    }
                }
            }
        }
        Ok(s)
    }

    /// Makes the recording at `paths` the scenario's market: loads it once (every seed
    /// shares it) and checks that no fault needs the synthetic model. `random` faults
    /// stop drawing the market-model kinds (`price_jump`, `flip`).
    pub fn use_recording(&mut self, path: &str, paths: Vec<PathBuf>) -> Result<(), ScenarioError> {
        for (k, f) in self.faults.iter_mut().enumerate() {
            match &mut f.fault {
                FaultKind::PriceJump { .. } | FaultKind::Flip { .. } => {
                    return Err(ScenarioError::Schema {
                        path: path.to_owned(),
                        message: format!(
                            "faults[{k}]: a {} fault steers the synthetic market and cannot \
                             run on a recorded market",
                            if matches!(f.fault, FaultKind::Flip { .. }) {
                                "flip"
                            } else {
                                "price_jump"
                            }
                        ),
                    });
                }
                FaultKind::Random { kinds, .. } => {
                    kinds.retain(|k| !MARKET_FAULTS.contains(&k.as_str()));
                    if kinds.is_empty() {
                        return Err(ScenarioError::Schema {
                            path: path.to_owned(),
                            message: format!(
                                "faults[{k}]: every kind of this random fault steers the \
                                 synthetic market; none can run on a recorded market"
                            ),
                        });
                    }
                }
                _ => {}
            }
        }
        let config = self.config().map_err(|errors| ScenarioError::Config {
            path: path.to_owned(),
            errors,
        })?;
        let tape = Tape::load(&paths, &config).map_err(|source| ScenarioError::Recording {
            path: path.to_owned(),
            recording: paths.first().cloned().unwrap_or_default(),
            source: Box::new(source),
        })?;
        self.world.recording = Some(paths);
        self.tape = Some(Arc::new(tape));
        Ok(())
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: p.clone(),
            source,
        })?;
        let mut s = Scenario::from_yaml(&p, &text)?;
        s.config().map_err(|errors| ScenarioError::Config {
            path: p.clone(),
            errors,
        })?;
        if let Some(rel) = s.world.recording.clone() {
            let dir = path.parent().unwrap_or(Path::new("."));
            let paths = rel.iter().map(|r| dir.join(r)).collect();
            s.use_recording(&p, paths)?;
        }
        Ok(s)
    }

    /// The engine config of this scenario (profile plus patch).
    pub fn config(&self) -> Result<propbot_engine::Config, propbot_engine::config::ConfigErrors> {
        use propbot_engine::config::{
            LIVE_YAML, PAPER_YAML, STATUS_THRESHOLDS_YAML, StatusThresholds, TESTNET_YAML,
        };
        let text = match self.world.profile.as_str() {
            "testnet" => TESTNET_YAML,
            "live" => LIVE_YAML,
            // `from_yaml` refuses any other profile.
            _ => PAPER_YAML,
        };
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(text).expect("shipped config is YAML");
        if let Some(patch) = &self.world.config_patch {
            merge_yaml(&mut value, patch);
        }
        let merged = serde_yaml::to_string(&value).expect("YAML value serialises");
        let status = StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML)
            .expect("shipped thresholds are valid");
        let mut config = propbot_engine::Config::from_yaml(&merged, status)?;
        config
            .control
            .set_approval_token(crate::world::APPROVAL_TOKEN);
        Ok(config)
    }
}
