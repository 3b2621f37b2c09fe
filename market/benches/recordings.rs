//! `cargo bench -p propbot-market [-- --duration 1h] [-- --dir PATH…]`: how fast
//! recordings are written and decoded, without the engine (it lives with the market
//! because the recording it writes is the synthetic one).
//!
//! Writes the synthetic two-venue recording (seed 7) for `--duration` of market time
//! into a temporary directory (or decodes the recordings given with `--dir`), then
//! decodes it three times through the merged reader exactly as `propbot replay` does
//! (every row into reusable messages, both streams merged by receive time) and
//! prints the best pass. Comparing with `propbot replay --speed max` on the same files
//! shows how much of a replay is decoding and how much is the engine and the venues.

use propbot_engine::{Config, Profile};
use propbot_market::cli::parse_duration;
use propbot_market::generate::{self, SynthOptions};
use propbot_recordings::progress::Progress;
use propbot_recordings::{Recording, WriterOptions};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut duration_ns = parse_duration("1h").expect("valid");
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--duration" => {
                duration_ns = args
                    .next()
                    .and_then(|v| parse_duration(&v))
                    .expect("--duration D (e.g. 1h)");
            }
            "--dir" => {
                while let Some(p) = args.next_if(|a| !a.starts_with("--")) {
                    dirs.push(PathBuf::from(p));
                }
            }
            _ => {}
        }
    }
    let temp = tempfile::tempdir().expect("temp dir");
    if dirs.is_empty() {
        let options = SynthOptions {
            seed: 7,
            duration_ns,
            ..SynthOptions::default()
        };
        let started = Instant::now();
        let summary = generate::synthesize(
            &Config::embedded(Profile::Paper),
            &options,
            temp.path(),
            &WriterOptions::default(),
            &Progress::hidden(),
        )
        .expect("synthesize");
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "write (model + encode): {} rows, {} messages, {} bytes ({:.2} bytes/row) in {:.3} s: {:.0} rows/s",
            summary.rows(),
            summary.messages(),
            summary.bytes(),
            summary.bytes() as f64 / summary.rows().max(1) as f64,
            seconds,
            summary.rows() as f64 / seconds
        );
        dirs.push(temp.path().to_owned());
    }
    let recording = Recording::open(&dirs).expect("open");
    let mut best = f64::MAX;
    let (mut rows, mut messages) = (0, 0);
    for _ in 0..3 {
        let started = Instant::now();
        let mut reader = recording.reader(None);
        messages = 0u64;
        while let Some((_, m)) = reader.next().expect("decode") {
            messages += u64::from(m.rows > 0);
        }
        rows = reader.rows_read();
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "decode (Parquet → merged messages, best of 3): {rows} rows, {messages} messages in {best:.3} s: {:.0} rows/s, {:.0} messages/s",
        rows as f64 / best,
        messages as f64 / best
    );
}
