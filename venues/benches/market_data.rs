//! Parse + sync throughput on the real hftbacktest Binance captures.
//!
//! `cargo bench -p propbot-venues [-- --passes N]`
//!
//! Each capture is decompressed into memory and split into lines before timing; the
//! timed loop parses every frame (combined-stream envelope, DTO, fixed-point levels)
//! and runs the book sync machine, exactly as a live driver or the recordings importer
//! would, with a fresh feed per pass. Throughput is frames/s and MB/s of raw JSON (the
//! JSON bytes of each line, without the receive-time prefix), best of N passes.

#[path = "../tests/support/mod.rs"]
mod support;

use propbot_venues::binance::BinanceFeed;
use propbot_venues::capture::parse_hftbacktest_line;
use propbot_venues::{Events, SyncEvent};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let passes = std::env::args()
        .skip_while(|a| a != "--passes")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5usize);
    println!("venue market data: parse + sync, best of {passes} passes, one core");
    for capture in support::HFTBACKTEST {
        bench_capture(&capture, passes);
    }
}

fn bench_capture(capture: &support::Hftbacktest, passes: usize) {
    let text = support::read_capture(capture.file);
    let frames: Vec<&str> = text
        .lines()
        .map(|line| parse_hftbacktest_line(line).expect("capture line").json)
        .collect();
    let bytes: usize = frames.iter().map(|f| f.len()).sum();
    let spec = support::binance_spec(capture.instrument);
    let instrument = spec.instrument;
    let mut best = f64::INFINITY;
    let mut summary = (0u64, 0u64, 0u64);
    for _ in 0..passes {
        let mut feed = BinanceFeed::new(vec![spec.clone()]);
        let mut out = Events::new();
        let (mut deltas, mut resyncs, mut errors) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        for frame in &frames {
            let result = if support::is_rest_snapshot(frame) {
                feed.on_depth_snapshot(instrument, frame, &mut out)
            } else {
                feed.on_frame(frame, &mut out)
            };
            errors += u64::from(result.is_err());
            for event in &out {
                match event {
                    SyncEvent::Delta { .. } => deltas += 1,
                    SyncEvent::Resync { .. } => resyncs += 1,
                    _ => {}
                }
                black_box(event);
            }
            out.clear();
        }
        let seconds = start.elapsed().as_secs_f64();
        best = best.min(seconds);
        summary = (deltas, resyncs, errors);
    }
    let (deltas, resyncs, errors) = summary;
    assert_eq!((resyncs, errors), (0, 0), "the capture must sync cleanly");
    println!(
        "{:<42} {:>7} frames {:>6.1} MB  {:>7.1} ms  {:>10.0} frames/s  {:>7.1} MB/s  ({deltas} deltas)",
        capture.file,
        frames.len(),
        bytes as f64 / 1e6,
        best * 1e3,
        frames.len() as f64 / best,
        bytes as f64 / 1e6 / best,
    );
}
