//! `status_thresholds.yaml`: SLO targets (local and VPS columns, with overrides), the
//! OK/WARN score thresholds of groups P0–P3, and alerting rules.

use super::raw::{DecimalText, Lenient, Unknown};
use super::validate::{ConfigError, ConfigErrors, Validator, join, ms};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// SLO targets (one column of the operator spec's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SloTargets {
    /// p95 of market-data inter-arrival gaps, ms.
    pub ws_gap_ms_p95: u64,
    /// p95 of order send → first venue answer, ms.
    pub order_cycle_ms_p95: u64,
    /// Rejected orders / orders sent, in parts per million.
    pub reject_rate_ppm: u64,
    /// Failed cancels / cancels sent, in parts per million.
    pub cancel_fail_rate_ppm: u64,
    /// Reconciliation differences allowed.
    pub recon_mismatch: u64,
    /// Largest intraday drawdown, bps of capital.
    pub max_day_drawdown_bps: u64,
}

/// Score thresholds of one group, in per-mille (1000 = score 1.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GroupThresholds {
    /// Score at or above this is OK.
    pub ok_permille: u32,
    /// Score at or above this (and below ok) is WARN; below is ERROR.
    pub warn_permille: u32,
}

/// The whole thresholds file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusThresholds {
    /// Which SLO column applies: `local` or `vps`.
    pub environment: String,
    /// The SLO targets in force (the chosen column with overrides applied).
    pub slo: SloTargets,
    /// Thresholds of P0, P1, P2, P3.
    pub groups: [GroupThresholds; 4],
    /// A component or SLO degraded this long raises an alert, ns.
    pub degraded_alert_ns: u64,
    /// P0 alerts put the engine in HOLD.
    pub p0_alert_holds: bool,
    /// `ws_gap_ms_p95` above target × this for `degraded_alert_ns` trips HOLD.
    pub ws_gap_hold_multiplier: u64,
    /// Degraded time allowed per day before the exception budget is spent, ns.
    pub exception_budget_ns_per_day: u64,
}

#[derive(Debug, Default, Deserialize)]
struct RawThresholds {
    environment: Option<Lenient<String>>,
    slo: Option<BTreeMap<String, RawSlo>>,
    #[serde(rename = "override")]
    overrides: Option<RawSlo>,
    groups: Option<BTreeMap<String, RawGroup>>,
    alerts: Option<RawAlerts>,
    exception_budget: Option<RawBudget>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
struct RawSlo {
    ws_gap_ms_p95: Option<Lenient<u64>>,
    order_cycle_ms_p95: Option<Lenient<u64>>,
    reject_rate: Option<Lenient<DecimalText>>,
    cancel_fail_rate: Option<Lenient<DecimalText>>,
    recon_mismatch: Option<Lenient<u64>>,
    max_day_drawdown_bps: Option<Lenient<u64>>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
struct RawGroup {
    ok: Option<Lenient<DecimalText>>,
    warn: Option<Lenient<DecimalText>>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
struct RawAlerts {
    degraded_for_minutes: Option<Lenient<u64>>,
    p0_alert_holds: Option<Lenient<bool>>,
    ws_gap_hold_multiplier: Option<Lenient<u64>>,
    #[serde(flatten)]
    unknown: Unknown,
}

#[derive(Debug, Default, Deserialize)]
struct RawBudget {
    degraded_minutes_per_day: Option<Lenient<u64>>,
    #[serde(flatten)]
    unknown: Unknown,
}

const GROUPS: [&str; 4] = ["P0", "P1", "P2", "P3"];

impl StatusThresholds {
    /// Parses and validates the thresholds file, reporting every error.
    pub fn from_yaml(text: &str) -> Result<StatusThresholds, ConfigErrors> {
        let raw: RawThresholds = serde_yaml::from_str(text).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: "document".into(),
                reason: format!("not a valid thresholds document: {e}"),
            }])
        })?;
        let mut v = Validator::default();
        let out = build(&mut v, &raw);
        match out {
            Some(t) if v.errors.is_empty() => Ok(t),
            _ => Err(ConfigErrors(v.errors)),
        }
    }
}

fn build(v: &mut Validator, raw: &RawThresholds) -> Option<StatusThresholds> {
    v.unknown("", &raw.unknown);
    let environment = v.required("environment", &raw.environment).and_then(|e| {
        if e == "local" || e == "vps" {
            Some(e)
        } else {
            v.error("environment", format!("{e:?} is not local or vps"));
            None
        }
    });
    let slo_map = v.section("slo", &raw.slo);
    let mut columns = BTreeMap::new();
    if let Some(map) = slo_map {
        for (name, column) in map {
            let path = join("slo", name);
            if name != "local" && name != "vps" {
                v.error(&path, "unknown SLO column; expected local or vps");
                continue;
            }
            if let Some(t) = slo_targets(v, &path, column, None) {
                columns.insert(name.clone(), t);
            }
        }
        for name in ["local", "vps"] {
            if !map.contains_key(name) {
                v.error(join("slo", name), "missing section");
            }
        }
    }
    let chosen = environment.as_ref().and_then(|e| columns.get(e).copied());
    let slo = match (&raw.overrides, chosen) {
        (Some(o), Some(base)) => slo_targets(v, "override", o, Some(base)),
        (None, base) => base,
        (Some(_), None) => None,
    };
    let groups = build_groups(v, raw);
    let alerts = v.section("alerts", &raw.alerts);
    let (degraded, holds, mult) = match alerts {
        Some(a) => {
            v.unknown("alerts", &a.unknown);
            (
                v.range(
                    "alerts.degraded_for_minutes",
                    &a.degraded_for_minutes,
                    1,
                    1440,
                ),
                v.required("alerts.p0_alert_holds", &a.p0_alert_holds),
                v.range(
                    "alerts.ws_gap_hold_multiplier",
                    &a.ws_gap_hold_multiplier,
                    1,
                    100,
                ),
            )
        }
        None => (None, None, None),
    };
    let budget = v
        .section("exception_budget", &raw.exception_budget)
        .and_then(|b| {
            v.unknown("exception_budget", &b.unknown);
            v.range(
                "exception_budget.degraded_minutes_per_day",
                &b.degraded_minutes_per_day,
                1,
                1440,
            )
        });
    Some(StatusThresholds {
        environment: environment?,
        slo: slo?,
        groups: groups?,
        degraded_alert_ns: ms(degraded? * 60_000),
        p0_alert_holds: holds?,
        ws_gap_hold_multiplier: mult?,
        exception_budget_ns_per_day: ms(budget? * 60_000),
    })
}

/// `groups`: the OK and WARN score thresholds of P0..P3, in permille.
fn build_groups(v: &mut Validator, raw: &RawThresholds) -> Option<[GroupThresholds; 4]> {
    let map = v.section("groups", &raw.groups)?;
    for key in map.keys() {
        if !GROUPS.contains(&key.as_str()) {
            v.error(join("groups", key), "unknown group; expected P0..P3");
        }
    }
    let mut groups = [GroupThresholds {
        ok_permille: 0,
        warn_permille: 0,
    }; 4];
    let mut groups_ok = true;
    for (i, g) in GROUPS.iter().enumerate() {
        let path = join("groups", g);
        let Some(raw_group) = map.get(*g) else {
            v.error(&path, "missing section");
            groups_ok = false;
            continue;
        };
        v.unknown(&path, &raw_group.unknown);
        let ok = v.decimal(&join(&path, "ok"), &raw_group.ok, 3, 0, 1000);
        let warn = v.decimal(&join(&path, "warn"), &raw_group.warn, 3, 0, 1000);
        match (ok, warn) {
            (Some(ok), Some(warn)) if warn <= ok => {
                groups[i] = GroupThresholds {
                    ok_permille: ok as u32,
                    warn_permille: warn as u32,
                }
            }
            (Some(_), Some(_)) => {
                v.error(join(&path, "warn"), "must not exceed ok");
                groups_ok = false;
            }
            _ => groups_ok = false,
        }
    }
    groups_ok.then_some(groups)
}

/// Reads one SLO column; with `base`, missing keys keep the base value (an override).
fn slo_targets(
    v: &mut Validator,
    path: &str,
    raw: &RawSlo,
    base: Option<SloTargets>,
) -> Option<SloTargets> {
    v.unknown(path, &raw.unknown);
    let p = |k: &str| join(path, k);
    macro_rules! int {
        ($field:ident, $hi:expr) => {
            match (&raw.$field, base) {
                (None, Some(b)) => Some(b.$field),
                (leaf, _) => v.range(&p(stringify!($field)), leaf, 0, $hi),
            }
        };
    }
    let ws = int!(ws_gap_ms_p95, 3_600_000);
    let cycle = int!(order_cycle_ms_p95, 3_600_000);
    let recon = int!(recon_mismatch, 1_000_000);
    let dd = int!(max_day_drawdown_bps, 10_000);
    let mut rate = |key: &str, leaf: &Option<Lenient<DecimalText>>, base_value: Option<u64>| match (
        leaf, base_value,
    ) {
        (None, Some(b)) => Some(b),
        (leaf, _) => v.decimal(&p(key), leaf, 6, 0, 1_000_000).map(|x| x as u64),
    };
    let reject = rate(
        "reject_rate",
        &raw.reject_rate,
        base.map(|b| b.reject_rate_ppm),
    );
    let cancel = rate(
        "cancel_fail_rate",
        &raw.cancel_fail_rate,
        base.map(|b| b.cancel_fail_rate_ppm),
    );
    Some(SloTargets {
        ws_gap_ms_p95: ws?,
        order_cycle_ms_p95: cycle?,
        reject_rate_ppm: reject?,
        cancel_fail_rate_ppm: cancel?,
        recon_mismatch: recon?,
        max_day_drawdown_bps: dd?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::STATUS_THRESHOLDS_YAML;

    #[test]
    fn shipped_thresholds_match_the_operator_spec() {
        let t = StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML).unwrap();
        assert_eq!(t.environment, "local");
        assert_eq!(t.slo.ws_gap_ms_p95, 400);
        assert_eq!(t.slo.order_cycle_ms_p95, 200);
        assert_eq!(t.slo.reject_rate_ppm, 5_000);
        assert_eq!(t.slo.cancel_fail_rate_ppm, 3_000);
        assert_eq!(t.slo.recon_mismatch, 0);
        assert_eq!(t.degraded_alert_ns, 5 * 60 * 1_000_000_000);
        let vps = STATUS_THRESHOLDS_YAML.replace("environment: local", "environment: vps");
        let t = StatusThresholds::from_yaml(&vps).unwrap();
        assert_eq!(t.slo.ws_gap_ms_p95, 600);
        assert_eq!(t.slo.order_cycle_ms_p95, 300);
    }

    #[test]
    fn override_replaces_only_given_keys() {
        let text = format!("{STATUS_THRESHOLDS_YAML}\noverride:\n  ws_gap_ms_p95: 250\n");
        let t = StatusThresholds::from_yaml(&text).unwrap();
        assert_eq!(t.slo.ws_gap_ms_p95, 250);
        assert_eq!(t.slo.order_cycle_ms_p95, 200);
    }

    #[test]
    fn bad_thresholds_report_all_paths() {
        let text = STATUS_THRESHOLDS_YAML
            .replace("environment: local", "environment: moon")
            .replace("reject_rate: 0.005", "reject_rate: 2");
        let errors = StatusThresholds::from_yaml(&text).unwrap_err().0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"environment"), "{paths:?}");
        assert!(paths.contains(&"slo.local.reject_rate"), "{paths:?}");
    }
}
