//! `propbot bench-api`: starts the service in-process on the synthetic market, measures
//! the engine's event rate alone, then drives `/api/ui/status/overview` (or another
//! path) with an in-repo loopback HTTP/1.1 load generator (keep-alive connections on
//! their own thread) and reports req/s, p50/p99 latency, errors, and the engine's
//! event rate under load. Only 127.0.0.1 is ever targeted; every loop is bounded by
//! the run's duration.

use crate::paper::{Pace, PaperOptions};
use crate::{ServeOptions, Service, app};
use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `propbot bench-api` arguments.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds of HTTP load.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Seconds of engine-only baseline before the load.
    #[arg(long, default_value_t = 15)]
    pub baseline_seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Path to request.
    #[arg(long, default_value = "/api/ui/status/overview")]
    pub path: String,
    /// Synthetic market speed (× real time); ignored with --unthrottled.
    #[arg(long, default_value_t = 100.0)]
    pub market_speed: f64,
    /// Feed the market as fast as the engine takes it.
    #[arg(long)]
    pub unthrottled: bool,
}

/// What one load run measured.
#[derive(Debug)]
pub struct LoadReport {
    /// Requests completed with status 200.
    pub ok: u64,
    /// Non-200 answers and IO errors.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency, µs.
    pub latency_us: Histogram<u64>,
}

impl LoadReport {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Drives `GET path` on `addr` over `connections` keep-alive connections for `duration`.
pub async fn load(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> LoadReport {
    assert!(
        addr.ip().is_loopback(),
        "the load generator only targets loopback"
    );
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
        tasks.push(tokio::spawn(async move {
            connection(addr, request, deadline).await
        }));
    }
    let mut report = LoadReport {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
    };
    for t in tasks {
        if let Ok((ok, errors, h)) = t.await {
            report.ok += ok;
            report.errors += errors;
            let _ = report.latency_us.add(&h);
        } else {
            report.errors += 1;
        }
    }
    report.elapsed = started.elapsed();
    report
}

async fn connection(
    addr: SocketAddr,
    request: Vec<u8>,
    deadline: Instant,
) -> (u64, u64, Histogram<u64>) {
    let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    while Instant::now() < deadline {
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
                .await
        else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        while Instant::now() < deadline {
            let t0 = Instant::now();
            let result = tokio::time::timeout(
                Duration::from_secs(5),
                exchange(&mut stream, &request, &mut buf),
            )
            .await;
            match result {
                Ok(Ok(200)) => {
                    ok += 1;
                    let _ = h.record(t0.elapsed().as_micros().max(1) as u64);
                }
                Ok(Ok(_)) => errors += 1,
                _ => {
                    errors += 1;
                    break;
                }
            }
        }
    }
    (ok, errors, h)
}

/// One request/response on a keep-alive connection; returns the status code.
async fn exchange(
    stream: &mut tokio::net::TcpStream,
    request: &[u8],
    buf: &mut [u8],
) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    let mut filled = 0;
    let (head_end, status, length) = loop {
        if filled == buf.len() {
            return Err(std::io::Error::other("response headers too large"));
        }
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        filled += n;
        if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).map_err(std::io::Error::other)?;
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| std::io::Error::other("bad status line"))?;
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .ok_or_else(|| std::io::Error::other("no content-length"))?;
            break (end + 4, status, length);
        }
    };
    let mut have = filled - head_end;
    while have < length {
        let n = stream.read(&mut buf[..]).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-body"));
        }
        have += n;
    }
    Ok(status)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Resident set size of this process, kB (Linux).
pub fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("propbot-bench-{}", std::process::id()));
    let mut options = ServeOptions::new(dir.clone());
    options.listen = "127.0.0.1:0".parse()?;
    options.paper = PaperOptions {
        pace: if args.unthrottled {
            Pace::Unthrottled
        } else {
            Pace::Speed(args.market_speed)
        },
        ..PaperOptions::default()
    };
    let service = Service::start(&options).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = app(service.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let events = |s: &Service| s.counters.market_events.load(Ordering::Relaxed);
    let e0 = events(&service);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.baseline_seconds)).await;
    let base_rate = (events(&service) - e0) as f64 / t0.elapsed().as_secs_f64();

    let e1 = events(&service);
    let t1 = Instant::now();
    let path = args.path.clone();
    let connections = args.connections;
    let seconds = args.seconds;
    // The load generator runs on its own thread and runtime, like an external client.
    let report = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("load runtime")
            .block_on(load(addr, &path, connections, Duration::from_secs(seconds)))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("load generator panicked"))?;
    let load_rate = (events(&service) - e1) as f64 / t1.elapsed().as_secs_f64();
    let rss = rss_kb().unwrap_or(0);

    println!(
        "machine: {} CPU(s) visible",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "market: {}",
        if args.unthrottled {
            "unthrottled".to_owned()
        } else {
            format!("{}x real time", args.market_speed)
        }
    );
    println!(
        "engine alone: {base_rate:.0} market events/s over {}s",
        args.baseline_seconds
    );
    println!(
        "load: GET {} over {} connection(s) for {}s: {:.0} req/s, p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs, {} ok, {} errors",
        args.path,
        args.connections,
        args.seconds,
        report.rate(),
        report.latency_us.value_at_quantile(0.5),
        report.latency_us.value_at_quantile(0.99),
        report.latency_us.value_at_quantile(0.999),
        report.latency_us.max(),
        report.ok,
        report.errors
    );
    println!(
        "engine under load: {load_rate:.0} market events/s ({:+.1}% vs alone)",
        (load_rate / base_rate.max(1e-9) - 1.0) * 100.0
    );
    println!("process RSS at the end: {} MB", rss / 1024);
    server.abort();
    service.shutdown().await.context("engine stop")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
