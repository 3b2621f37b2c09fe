//! The Prometheus text of `/metrics`, written with the `prometheus` crate: the engine's
//! counters and gauges, System Status families, pair figures, the live connections,
//! and latency histograms made from hdrhistogram µs histograms.

use super::*;
use prometheus::core::{Collector, Desc};
use prometheus::{Gauge, GaugeVec, IntCounter, Opts, Registry, TextEncoder, proto};

/// The engine's figures as Prometheus text: every family goes into a fresh
/// [`Registry`] and the crate's [`TextEncoder`] writes them (families sorted by name,
/// the label pairs of a series sorted by label name).
pub(super) fn prometheus(
    engine: &Engine,
    status: &StatusReport,
    facts: &DriverFacts<'_>,
    links: &[LinkRow],
    now: UnixNanos,
) -> String {
    // Names, help texts and label names are constants, so a failure here is a
    // programming error, which the API tests meet on the first snapshot.
    let registry = engine_registry(engine, status, facts, now).expect("metric families are valid");
    link_families(&registry, links).expect("link families are valid");
    TextEncoder::new()
        .encode_to_string(&registry.gather())
        .expect("metric families encode")
}

fn engine_registry(
    engine: &Engine,
    status: &StatusReport,
    facts: &DriverFacts<'_>,
    now: UnixNanos,
) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    engine_counters(&registry, engine, facts)?;
    engine_gauges(&registry, engine, status, facts)?;
    status_families(&registry, status)?;
    pair_families(&registry, engine, now)?;
    for (name, help, us) in [
        (
            "propbot_engine_step_seconds",
            "Engine loop turn (handle batch + journal + send).",
            facts.step_us,
        ),
        (
            "propbot_journal_commit_seconds",
            "Journal transaction commit.",
            facts.commit_us,
        ),
    ] {
        let mut family = LatencyFamily::new(name, help, &[])?;
        family.add(&[], us)?;
        registry.register(Box::new(family))?;
    }
    Ok(registry)
}

fn engine_counters(
    registry: &Registry,
    engine: &Engine,
    facts: &DriverFacts<'_>,
) -> prometheus::Result<()> {
    let m = engine.metrics();
    let c = facts.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let counters: [(&str, &str, u64); 7] = [
        (
            "propbot_engine_events_total",
            "Events the engine task handled.",
            load(&c.events),
        ),
        (
            "propbot_engine_market_events_total",
            "Market events handled.",
            load(&c.market_events),
        ),
        (
            "propbot_engine_inputs_total",
            "Inputs the engine handled (incl. system).",
            m.inputs,
        ),
        (
            "propbot_engine_book_updates_total",
            "Book messages applied.",
            m.book_updates,
        ),
        ("propbot_fills_total", "Fills booked.", m.fills),
        (
            "propbot_journal_commits_total",
            "Journal transactions committed.",
            load(&c.commits),
        ),
        (
            "propbot_venue_requests_dropped_total",
            "Venue requests dropped (queue full).",
            load(&c.venue_requests_dropped),
        ),
    ];
    for (name, help, value) in counters {
        // The registry lives for one snapshot, so the counter starts at zero and takes
        // the running total at once.
        let counter = IntCounter::new(name, help)?;
        counter.inc_by(value);
        registry.register(Box::new(counter))?;
    }
    Ok(())
}

fn engine_gauges(
    registry: &Registry,
    engine: &Engine,
    status: &StatusReport,
    facts: &DriverFacts<'_>,
) -> prometheus::Result<()> {
    let t = engine.pnl();
    let open_orders = engine.orders().filter(|o| o.is_live()).count();
    let gauges: [(&str, &str, f64); 9] = [
        (
            "propbot_journal_committed_seq",
            "Last durable journal sequence.",
            facts.head.seq as f64,
        ),
        (
            "propbot_lease_epoch",
            "Leader epoch of this run.",
            f64::from(facts.epoch),
        ),
        (
            "propbot_hold_active",
            "1 in HOLD.",
            flag(status.hold.hold_active),
        ),
        (
            "propbot_safe_mode",
            "1 with safe mode on.",
            flag(status.hold.safe_mode),
        ),
        (
            "propbot_overall_status",
            "Overall status: 0 OK, 1 WARN, 2 ERROR, 3 HOLD.",
            f64::from(level_value(status.overall)),
        ),
        (
            "propbot_open_orders",
            "Orders live at venues.",
            open_orders as f64,
        ),
        (
            "propbot_input_backlog",
            "Events waiting for the engine.",
            facts.inputs_depth as f64,
        ),
        ("propbot_pnl_net_usd", "Net PnL, USD.", usd(t.net)),
        (
            "propbot_gross_exposure_usd",
            "Gross exposure, USD.",
            usd(t.gross_exposure),
        ),
    ];
    for (name, help, value) in gauges {
        let gauge = Gauge::new(name, help)?;
        gauge.set(value);
        registry.register(Box::new(gauge))?;
    }
    Ok(())
}

/// Labelled gauges: component states, group scores, SLO figures, readiness, alerts.
fn status_families(registry: &Registry, status: &StatusReport) -> prometheus::Result<()> {
    register_gauges(
        registry,
        "propbot_component_status",
        "Component status: 0 OK, 1 WARN, 2 ERROR, 3 HOLD.",
        ["id", "group"],
        status.components.iter().map(|c| {
            let labels = [c.id.to_owned(), format!("{:?}", c.group)];
            (labels, f64::from(level_value(c.status)))
        }),
    )?;
    register_gauges(
        registry,
        "propbot_group_score",
        "Group score 0..1.",
        ["group"],
        status
            .scores
            .iter()
            .map(|g| ([format!("{:?}", g.group)], g.score)),
    )?;
    let v = &status.slo;
    let slo = [
        ("ws_gap_ms_p95", v.ws_gap_ms_p95 as f64),
        ("order_cycle_ms_p95", v.order_cycle_ms_p95 as f64),
        ("reject_rate", v.reject_rate),
        ("cancel_fail_rate", v.cancel_fail_rate),
        ("recon_mismatch", v.recon_mismatch as f64),
        ("max_day_drawdown_bps", v.max_day_drawdown_bps),
        ("budget_remaining", v.budget_remaining),
    ];
    register_gauges(
        registry,
        "propbot_slo",
        "SLO figures.",
        ["name"],
        slo.map(|(name, value)| ([name.to_owned()], value)),
    )?;
    let readiness =
        ["GREEN", "YELLOW", "RED"].map(|st| ([st.to_owned()], flag(status.readiness.status == st)));
    register_gauges(
        registry,
        "readiness_status",
        "Live readiness (1 for the current status).",
        ["status"],
        readiness,
    )?;
    let mut by: BTreeMap<String, u32> = BTreeMap::new();
    for a in &status.alerts {
        *by.entry(format!("{:?}", a.severity).to_lowercase())
            .or_default() += 1;
    }
    let alerts = ["info", "warn", "error", "critical"].map(|sev| {
        let count = by.get(sev).copied().unwrap_or(0);
        ([sev.to_owned()], f64::from(count))
    });
    register_gauges(
        registry,
        "propbot_alerts_active",
        "Active alerts by severity.",
        ["severity"],
        alerts,
    )
}

/// Unhedged exposure per traded instrument: the naked notional, its age and whether
/// its unwind is overdue. A net position below dust (`naked_since` zero) is hedged, so
/// its notional and age show 0.
fn pair_families(registry: &Registry, engine: &Engine, now: UnixNanos) -> prometheus::Result<()> {
    let config = engine.config();
    let rows = |value: fn(&PairState, UnixNanos) -> f64| {
        engine.pairs().iter().map(move |p| {
            let labels = [instrument_name(config, p.spec.instrument)];
            (labels, value(p, now))
        })
    };
    register_gauges(
        registry,
        "propbot_unhedged_notional_usd",
        "Notional of the naked (unhedged) net position at the mark, USD; 0 when hedged.",
        ["instrument"],
        rows(|p, _| {
            if p.naked_since.is_zero() {
                0.0
            } else {
                usd(p.naked_notional)
            }
        }),
    )?;
    register_gauges(
        registry,
        "propbot_unhedged_age_seconds",
        "Seconds since the naked (unhedged) position appeared; 0 when hedged.",
        ["instrument"],
        rows(|p, now| {
            if p.naked_since.is_zero() {
                0.0
            } else {
                now.nanos_since(p.naked_since) as f64 / 1e9
            }
        }),
    )?;
    register_gauges(
        registry,
        "propbot_unwind_escalated",
        "1 when the unwind of the naked position is overdue (escalated), else 0.",
        ["instrument"],
        rows(|p, _| flag(p.unwind.is_some_and(|u| u.escalated))),
    )
}

/// A boolean as a gauge value.
/// One series per live connection (none without live market data).
fn link_families(registry: &Registry, links: &[LinkRow]) -> prometheus::Result<()> {
    type Figure = fn(&LinkRow) -> f64;
    let families: [(&str, &str, Figure); 7] = [
        (
            "propbot_feed_up",
            "1 while the live connection is connected or synced.",
            |l| flag(l.is_up()),
        ),
        (
            "propbot_feed_last_message_age_seconds",
            "Seconds since the connection's last message (-1 before the first).",
            |l| l.last_message_age_ms.map_or(-1.0, |ms| ms as f64 / 1e3),
        ),
        (
            "propbot_feed_reconnects",
            "Reconnects of the live connection since start.",
            |l| l.reconnects as f64,
        ),
        (
            "propbot_feed_resyncs",
            "Book resyncs on the live connection since start.",
            |l| l.resyncs as f64,
        ),
        (
            "propbot_feed_messages",
            "Messages received on the live connection since start.",
            |l| l.messages as f64,
        ),
        (
            "propbot_feed_message_rate",
            "Messages per second on the live connection.",
            |l| l.rate_per_s,
        ),
        (
            "propbot_feed_bad_frames",
            "Malformed, oversized or unexpected frames since start.",
            |l| l.bad_frames as f64,
        ),
    ];
    for (name, help, figure) in families {
        let rows = links
            .iter()
            .map(|l| ([l.venue.name().to_owned(), l.connection.clone()], figure(l)));
        register_gauges(registry, name, help, ["venue", "connection"], rows)?;
    }
    Ok(())
}

fn flag(on: bool) -> f64 {
    f64::from(u8::from(on))
}

/// Registers one gauge family with `N` labels, one series per row.
fn register_gauges<const N: usize>(
    registry: &Registry,
    name: &str,
    help: &str,
    label_names: [&str; N],
    rows: impl IntoIterator<Item = ([String; N], f64)>,
) -> prometheus::Result<()> {
    let family = GaugeVec::new(Opts::new(name, help), &label_names)?;
    for (labels, value) in rows {
        family.get_metric_with_label_values(&labels)?.set(value);
    }
    registry.register(Box::new(family))
}

/// A Prometheus `histogram` family made from hdrhistogram µs histograms.
///
/// The `prometheus` crate fills its own histograms only one observation at a time,
/// while the engine task and the API record latency in hdrhistogram (which also gives
/// `/metrics/latency` its quantiles). This collector is the adapter: each histogram
/// becomes one series with the cumulative counts at the fixed bounds of
/// [`BUCKETS_US`] (in seconds), its sum and its count, and the crate's encoder writes
/// the text (including the `+Inf` bucket, which is the count).
#[derive(Debug)]
pub struct LatencyFamily {
    desc: Desc,
    series: Vec<proto::Metric>,
}

impl LatencyFamily {
    /// An empty family with these label names.
    pub fn new(name: &str, help: &str, label_names: &[&str]) -> prometheus::Result<LatencyFamily> {
        let labels = label_names.iter().map(|&l| l.to_owned()).collect();
        let desc = Desc::new(name.to_owned(), help.to_owned(), labels, HashMap::new())?;
        Ok(LatencyFamily {
            desc,
            series: Vec::new(),
        })
    }

    /// Adds the series of one µs histogram, with one label value per label name.
    pub fn add(
        &mut self,
        label_values: &[&str],
        us: &hdrhistogram::Histogram<u64>,
    ) -> prometheus::Result<()> {
        let names = &self.desc.variable_labels;
        if names.len() != label_values.len() {
            return Err(prometheus::Error::InconsistentCardinality {
                expect: names.len(),
                got: label_values.len(),
            });
        }
        let labels = names
            .iter()
            .zip(label_values)
            .map(|(name, &value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name.clone());
                pair.set_value(value.to_owned());
                pair
            })
            .collect();
        let buckets = BUCKETS_US
            .iter()
            .map(|&le| {
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(le as f64 / 1e6);
                bucket.set_cumulative_count(us.count_between(0, le));
                bucket
            })
            .collect();
        let mut histogram = proto::Histogram::default();
        histogram.set_bucket(buckets);
        histogram.set_sample_count(us.len());
        histogram.set_sample_sum(sum_seconds(us));
        let mut series = proto::Metric::from_label(labels);
        series.set_histogram(histogram);
        self.series.push(series);
        Ok(())
    }
}

impl Collector for LatencyFamily {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let mut family = proto::MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(proto::MetricType::HISTOGRAM);
        family.set_metric(self.series.clone());
        vec![family]
    }
}

/// Sum of the recorded values of a µs histogram, in seconds (each value counted at
/// the top of its hdrhistogram bucket).
fn sum_seconds(us: &hdrhistogram::Histogram<u64>) -> f64 {
    us.iter_recorded()
        .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
        .sum::<f64>()
        / 1e6
}
