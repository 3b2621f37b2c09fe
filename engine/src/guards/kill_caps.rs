//! Kill caps: gross notional per instrument and in total, daily loss, unrealised loss.
//! A breach trips HOLD and, when `flatten_on_breach` is set, asks the engine to
//! flatten every position with reduce-only orders. Orders are also sized so they can
//! never breach a notional cap themselves ([`KillCapsGuard::headroom`]).

use super::{GuardLevel, Verdict};
use crate::config::RiskConfig;
use crate::model::{InstrumentId, Notional};
use crate::time::UnixNanos;
use serde::Serialize;

/// Which cap was breached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Breach {
    /// Gross notional of one instrument.
    PerSymbol(InstrumentId),
    /// Gross notional of everything.
    Total,
    /// Daily loss.
    DailyLoss,
    /// Unrealised loss.
    UnrealizedLoss,
}

impl Breach {
    /// English reason.
    pub const fn reason(self) -> &'static str {
        match self {
            Breach::PerSymbol(_) => "per-symbol notional cap breached",
            Breach::Total => "total notional cap breached",
            Breach::DailyLoss => "daily loss cap breached",
            Breach::UnrealizedLoss => "unrealised loss cap breached",
        }
    }
}

/// Risk figures the guard checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RiskFigures {
    /// Largest gross notional of any one instrument, and which.
    pub max_symbol_exposure: (Notional, Option<InstrumentId>),
    /// Gross notional of everything.
    pub total_exposure: Notional,
    /// Today's PnL (negative = loss).
    pub daily_pnl: Notional,
    /// Unrealised PnL (negative = loss).
    pub unrealized_pnl: Notional,
}

/// What the engine must do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapAction {
    /// A new breach: HOLD (and journal).
    pub trip: Option<Breach>,
    /// Flatten positions.
    pub flatten: bool,
    /// The breach is over.
    pub cleared: bool,
}

/// The guard.
#[derive(Clone, Debug)]
pub struct KillCapsGuard {
    enabled: bool,
    flatten_on_breach: bool,
    caps: RiskConfig,
    verdict: Verdict,
    breach: Option<Breach>,
    /// Figures at the last evaluation.
    pub last: RiskFigures,
    /// Breaches so far.
    pub trips: u64,
}

impl KillCapsGuard {
    /// A guard with the given caps.
    pub fn new(
        enabled: bool,
        flatten_on_breach: bool,
        caps: RiskConfig,
        now: UnixNanos,
    ) -> KillCapsGuard {
        KillCapsGuard {
            enabled,
            flatten_on_breach,
            caps,
            verdict: Verdict::ok(now),
            breach: None,
            last: RiskFigures::default(),
            trips: 0,
        }
    }

    /// Applies a config change.
    pub fn configure(&mut self, enabled: bool, flatten_on_breach: bool, caps: RiskConfig) {
        self.enabled = enabled;
        self.flatten_on_breach = flatten_on_breach;
        self.caps = caps;
    }

    /// The caps in force.
    pub fn caps(&self) -> &RiskConfig {
        &self.caps
    }

    /// Verdict.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The current breach.
    pub fn breach(&self) -> Option<Breach> {
        self.breach
    }

    /// Whether positions should be flattened now.
    pub fn wants_flatten(&self) -> bool {
        self.enabled && self.flatten_on_breach && self.breach.is_some()
    }

    /// Checks the figures against the caps.
    pub fn evaluate(&mut self, now: UnixNanos, f: RiskFigures) -> CapAction {
        self.last = f;
        if !self.enabled {
            self.verdict
                .set(now, GuardLevel::Warn, "kill caps disabled");
            return CapAction::default();
        }
        let breach = if f.daily_pnl.raw() < -self.caps.daily_loss.raw() {
            Some(Breach::DailyLoss)
        } else if f.unrealized_pnl.raw() < -self.caps.unrealized_loss.raw() {
            Some(Breach::UnrealizedLoss)
        } else if f.total_exposure > self.caps.total_notional {
            Some(Breach::Total)
        } else if f.max_symbol_exposure.0 > self.caps.per_symbol_notional {
            Some(Breach::PerSymbol(
                f.max_symbol_exposure.1.unwrap_or(InstrumentId(0)),
            ))
        } else {
            None
        };
        match (self.breach, breach) {
            (None, Some(b)) => {
                self.breach = Some(b);
                self.trips += 1;
                self.verdict.set(now, GuardLevel::Hold, b.reason());
                CapAction {
                    trip: Some(b),
                    flatten: self.flatten_on_breach,
                    cleared: false,
                }
            }
            (Some(_), Some(b)) => {
                self.breach = Some(b);
                self.verdict.set(now, GuardLevel::Hold, b.reason());
                CapAction {
                    trip: None,
                    flatten: self.flatten_on_breach,
                    cleared: false,
                }
            }
            (Some(_), None) => {
                self.breach = None;
                self.verdict.set(now, GuardLevel::Ok, "within caps");
                CapAction {
                    cleared: true,
                    ..CapAction::default()
                }
            }
            (None, None) => {
                let near = f.total_exposure.raw() > self.caps.total_notional.raw() / 10 * 8
                    || f.daily_pnl.raw() < -(self.caps.daily_loss.raw() / 10 * 8);
                if near {
                    self.verdict.set(now, GuardLevel::Warn, "near a cap");
                } else {
                    self.verdict.set(now, GuardLevel::Ok, "within caps");
                }
                CapAction::default()
            }
        }
    }

    /// Notional a new risk-increasing order on `symbol_exposure` may still add.
    pub fn headroom(&self, symbol_exposure: Notional, total_exposure: Notional) -> Notional {
        let symbol = self.caps.per_symbol_notional.raw() - symbol_exposure.raw();
        let total = self.caps.total_notional.raw() - total_exposure.raw();
        Notional::from_raw(symbol.min(total).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> RiskConfig {
        RiskConfig {
            per_symbol_notional: Notional::from_usd(1000),
            total_notional: Notional::from_usd(5000),
            daily_loss: Notional::from_usd(100),
            unrealized_loss: Notional::from_usd(50),
            capital: Notional::from_usd(10_000),
            max_open_orders: 10,
            unhedged_alert: Notional::ZERO,
            unhedged_alert_after_ns: 0,
        }
    }

    #[test]
    fn each_cap_trips_and_clears() {
        let cases = [
            (
                RiskFigures {
                    max_symbol_exposure: (Notional::from_usd(1001), Some(InstrumentId(1))),
                    ..Default::default()
                },
                Breach::PerSymbol(InstrumentId(1)),
            ),
            (
                RiskFigures {
                    total_exposure: Notional::from_usd(5001),
                    ..Default::default()
                },
                Breach::Total,
            ),
            (
                RiskFigures {
                    daily_pnl: Notional::from_usd(-101),
                    ..Default::default()
                },
                Breach::DailyLoss,
            ),
            (
                RiskFigures {
                    unrealized_pnl: Notional::from_usd(-51),
                    ..Default::default()
                },
                Breach::UnrealizedLoss,
            ),
        ];
        for (figures, want) in cases {
            let mut g = KillCapsGuard::new(true, true, caps(), UnixNanos(0));
            let a = g.evaluate(UnixNanos(1), figures);
            assert_eq!(a.trip, Some(want));
            assert!(a.flatten);
            assert!(g.wants_flatten());
            assert_eq!(g.verdict().level, GuardLevel::Hold);
            let a = g.evaluate(UnixNanos(2), figures);
            assert_eq!(a.trip, None, "a standing breach trips once");
            let a = g.evaluate(UnixNanos(3), RiskFigures::default());
            assert!(a.cleared);
            assert_eq!(g.verdict().level, GuardLevel::Ok);
        }
    }

    #[test]
    fn headroom_is_the_tighter_cap_and_never_negative() {
        let g = KillCapsGuard::new(true, false, caps(), UnixNanos(0));
        assert_eq!(
            g.headroom(Notional::from_usd(900), Notional::from_usd(1000)),
            Notional::from_usd(100)
        );
        assert_eq!(
            g.headroom(Notional::from_usd(0), Notional::from_usd(4950)),
            Notional::from_usd(50)
        );
        assert_eq!(
            g.headroom(Notional::from_usd(2000), Notional::from_usd(0)),
            Notional::ZERO
        );
    }
}
