//! The simulator's market driven by a recording: the real BTCUSDT capture (hftbacktest,
//! `../shared/data`) imported with the OKX side derived from it, played by
//! `RecordedMarket` under the AT-P0 scenarios.

use propbot_engine::book::{ApplyOutcome, Book};
use propbot_engine::gateway::MarketUpdate;
use propbot_engine::model::{Price, Venue};
use propbot_engine::time::UnixNanos;
use propbot_engine::{Config, Profile};
use propbot_market::generate::DeriveParams;
use propbot_market::tape::{RecordedMarket, Tape, TapeError};
use propbot_sim::runner;
use propbot_sim::scenario::{Scenario, ScenarioError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The real Binance recording and the derived OKX one, made once per test binary.
fn recording() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static ONCE: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // Windows often enough that a two-minute scenario trades.
        let params = DeriveParams {
            arbitrage_every_ms: 15_000,
            ..DeriveParams::default()
        };
        let (real, derived) = propbot_tests::btcusdt_with_derived_okx(dir.path(), params);
        (dir, real, derived)
    })
}

fn paths() -> Vec<PathBuf> {
    let (_, real, derived) = recording();
    vec![real.clone(), derived.clone()]
}

fn scenario(name: &str) -> (PathBuf, Scenario) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.yaml"));
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (path, s)
}

#[test]
fn the_recorded_market_is_one_unbroken_chain_per_venue_and_loops_at_its_end() {
    let config = Config::embedded(Profile::Paper);
    let tape = Arc::new(Tape::load(&paths(), &config).unwrap());
    assert!(tape.events() > 10_000, "{tape:?}");
    let span = tape.span_ns();
    assert!(
        (300_000_000_000..400_000_000_000).contains(&span),
        "the capture covers about 345 s with both venues: {span}"
    );
    let instrument = tape.instrument();
    let start = UnixNanos::from_secs(1_800_000_000);
    let mut market = RecordedMarket::new(tape.clone(), start, 0);
    let tick = |v| config.listing(v, instrument).unwrap().tick;
    let mut books = Venue::ALL.map(|v| Book::new(v, instrument, tick(v), 20_000));
    for v in Venue::ALL {
        let MarketUpdate::Snapshot {
            last, bids, asks, ..
        } = market.snapshot(v, start)
        else {
            panic!("a snapshot");
        };
        books[v.index()].apply_snapshot(start, last, &bids, &asks);
        assert!(books[v.index()].is_valid());
    }
    let mut last_t = start;
    let mut trades = 0;
    while market.loops < 2 {
        let peek = market.peek_time();
        let (t, update) = market.advance();
        assert_eq!(t, peek, "the update comes when announced");
        assert!(t >= last_t, "time never goes back");
        last_t = t;
        match update {
            MarketUpdate::Delta {
                venue,
                sequence,
                bids,
                asks,
                ts,
                ..
            } => {
                assert_eq!(ts, t, "exchange time is restamped to the played time");
                let b = &mut books[venue.index()];
                let outcome = b.apply_delta(t, sequence, &bids, &asks);
                assert!(
                    matches!(outcome, ApplyOutcome::Applied { .. }),
                    "{venue} delta {sequence:?} at {t:?}: {outcome:?}"
                );
                let top = b.top();
                let (bid, ask) = market.touch(venue);
                assert_eq!((top.bid, top.ask), (bid, ask), "{venue} at {t:?}");
                assert!(
                    bid < ask && bid > Price::ZERO,
                    "{venue} at {t:?}: {bid:?} {ask:?}"
                );
            }
            MarketUpdate::Trade { ts, .. } => {
                assert_eq!(ts, t);
                trades += 1;
            }
            MarketUpdate::Snapshot { .. } => panic!("a played tape only sends deltas"),
        }
    }
    assert!(trades > 1_000, "trades are played too: {trades}");
    assert!(
        last_t.nanos_since(start) > 2 * span,
        "two loops take at least twice the span"
    );
}

#[test]
fn at_p0_scenarios_pass_on_the_recorded_market_and_replay_exactly() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let seeds: Vec<u64> = (0..6).collect();
    let mut orders = 0;
    for name in [
        "at-p0-crash",
        "at-p0-fence",
        "at-p0-disconnect",
        "at-p0-skew",
        "at-p0-clockstep",
        "at-p0-unknown",
        "at-p0-chaos",
    ] {
        let (path, mut s) = scenario(name);
        let synthetic = runner::run_one(&s, 3, false);
        s.use_recording(&path.display().to_string(), paths())
            .unwrap_or_else(|e| panic!("{e}"));
        for r in runner::run_seeds(&s, &seeds, threads) {
            assert!(
                r.failure.is_none(),
                "{name} seed {} on the recorded market: {}",
                r.seed,
                r.failure.unwrap()
            );
            orders += r.figures.orders_sent;
        }
        let a = runner::run_one(&s, 3, false);
        let b = runner::run_one(&s, 3, false);
        assert_eq!(a.digest, b.digest, "{name}: same seed, same recording");
        assert_ne!(
            a.digest, synthetic.digest,
            "{name}: the recording, not the model, drives the market"
        );
    }
    assert!(
        orders > 100,
        "the engine trades on the recorded market: {orders}"
    );
}

#[test]
fn a_recorded_market_refuses_what_it_cannot_play() {
    // Faults that steer the synthetic model.
    let (path, mut killcap) = scenario("at-p0-killcap");
    let e = killcap
        .use_recording(&path.display().to_string(), paths())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("price_jump") && e.contains("recorded market"),
        "{e}"
    );

    // One venue only: the strategy needs both.
    let (_, real, _) = recording();
    let (path, mut crash) = scenario("at-p0-crash");
    let e = crash
        .use_recording(&path.display().to_string(), vec![real.clone()])
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ScenarioError::Recording { source, .. }
                if matches!(**source, TapeError::MissingVenue { venue: Venue::Okx, .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("recordings synth --from"), "{e}");

    // A scenario naming a recording that is not there: the error names the file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        "name: x\ndescription: x\nworld: { recording: [missing-dir] }\n",
    )
    .unwrap();
    let e = Scenario::load(&file).unwrap_err().to_string();
    assert!(e.contains("missing-dir"), "{e}");

    // A recording named in the scenario file, relative to it, is loaded.
    let (_, real, derived) = recording();
    std::fs::write(
        &file,
        format!(
            "name: x\ndescription: x\nseeds: 1\nworld: {{ duration_ms: 20000, recording: [{}, {}] }}\n",
            real.display(),
            derived.display()
        ),
    )
    .unwrap();
    let s = Scenario::load(&file).unwrap_or_else(|e| panic!("{e}"));
    assert!(s.tape.is_some());
    assert!(runner::run_one(&s, 0, false).failure.is_none());

    // An unknown profile is an error, not a silent paper run.
    std::fs::write(&file, "name: x\ndescription: x\nworld: { profile: papr }\n").unwrap();
    let e = Scenario::load(&file).unwrap_err().to_string();
    assert!(e.contains("unknown profile \"papr\""), "{e}");
}
