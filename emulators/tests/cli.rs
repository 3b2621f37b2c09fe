//! `propbot emulate` in-process: the parsed command line starts an emulator on a free
//! loopback port, REST answers there, scheduled faults fire on the emulated clock, a
//! recording plays to its end, and what cannot be served is refused with a clear
//! error. Nothing here reaches the internet.

use clap::Parser;
use propbot_emulators::cli::{EmulateArgs, EmulateError, start};
use propbot_emulators::roundtrip::synthesize_recording;
use propbot_engine::config::PAPER_YAML;
use propbot_engine::{Config, Profile};
use std::time::Duration;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: EmulateArgs,
}

fn args(words: &[&str]) -> EmulateArgs {
    let argv = std::iter::once("emulate").chain(words.iter().copied());
    Cli::try_parse_from(argv).unwrap().args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulate_starts_on_a_free_port_and_answers_rest_with_its_faults() {
    let running = start(args(&[
        "binance",
        "--listen",
        "127.0.0.1:0",
        "--speed",
        "5",
        "--fault",
        "time-offset:-2500ms",
    ]))
    .await
    .unwrap();
    let http = running.http_url();
    assert!(!http.ends_with(":0"), "{http}");
    let banner = running.banner();
    assert!(banner.contains(&format!("rest: \"{http}\"")), "{banner}");
    assert!(banner.contains("BTCUSDT ETHUSDT"), "{banner}");
    assert!(
        banner.contains("fault:     time-offset:-2500ms"),
        "{banner}"
    );
    let url = format!("{http}/fapi/v1/time");
    let server_ms = running
        .serve_until(async {
            // The offset fires at +0; give the schedule a moment to run.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let body: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            body["serverTime"].as_u64().unwrap()
        })
        .await;
    let market_ms = running.handle.emulator().now().as_millis();
    let behind = market_ms as i64 - server_ms as i64;
    assert!((2_400..=3_500).contains(&behind), "{behind} ms behind");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulate_plays_a_recording_to_its_end_with_a_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded(Profile::Paper);
    let recording = dir.path().join("rec");
    std::fs::create_dir(&recording).unwrap();
    synthesize_recording(&config, &recording, 5, 2_000_000_000).unwrap();
    let config_file = dir.path().join("config.yaml");
    std::fs::write(&config_file, PAPER_YAML).unwrap();
    let running = start(args(&[
        "okx",
        "--source",
        "recording",
        "--recording",
        recording.to_str().unwrap(),
        "--config",
        config_file.to_str().unwrap(),
        "--speed",
        "100",
    ]))
    .await
    .unwrap();
    assert!(running.banner().contains("symbols:   BTC-USDT-SWAP\n"));
    let finished = running
        .serve_until(async {
            for _ in 0..200 {
                if running.handle.finished() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            false
        })
        .await;
    assert!(finished, "two seconds of recording at 100x end within five");
    running.shutdown().await;
}

#[tokio::test]
async fn what_cannot_be_served_is_refused_before_serving() {
    let refused = |words: &'static [&'static str]| async move {
        start(args(words)).await.expect_err("refused").to_string()
    };
    let e = refused(&["binance", "--recording", "somewhere"]).await;
    assert!(
        e.contains("--recording is played only with --source recording"),
        "{e}"
    );
    let e = refused(&["binance", "--fault", "corrupt-checksum@1s"]).await;
    assert!(e.contains("Binance diffs carry no checksum"), "{e}");
    let e = refused(&["okx", "--fault", "http418@1s:5s"]).await;
    assert!(e.contains("OKX does not ban with 418"), "{e}");
    let e = refused(&["okx", "--config", "/nonexistent/config.yaml"]).await;
    assert!(e.starts_with("--config /nonexistent/config.yaml: "), "{e}");
    let e = refused(&[
        "okx",
        "--source",
        "recording",
        "--recording",
        "/nonexistent/rec",
    ])
    .await;
    assert!(e.contains("/nonexistent/rec"), "{e}");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let error = start(args(&["binance", "--listen", &address])).await;
    assert!(matches!(error, Err(EmulateError::Serve(_))), "{error:?}");
}
