//! `propbot`: serve, ctl, scenario, recordings, replay, bench-api. Errors are reported here, with
//! `anyhow`, and nowhere else.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use propbot_engine::config::Profile;
use propbot_server::paper::{Pace, PaperOptions};
use propbot_server::secrets::Resolved;
use propbot_server::{ServeOptions, Service, Source, app};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "propbot",
    version,
    about = "PropBot: cross-exchange perpetual-futures arbitrage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the service: engine, journal, API and dashboard (paper trading by default).
    Serve(ServeArgs),
    /// Talk to a running service.
    Ctl(propbot_server::ctl::CtlArgs),
    /// Run acceptance scenarios (the simulator's runner).
    Scenario {
        #[command(subcommand)]
        command: propbot_sim::cli::Command,
    },
    /// Import, generate, inspect and recover Parquet recordings.
    Recordings {
        #[command(subcommand)]
        command: RecordingsCommand,
    },
    /// Paper-trade a recording through the engine against simulated venues.
    Replay(propbot_sim::replay::ReplayArgs),
    /// Serve a loopback Binance or OKX market-data emulator (synthetic or recorded).
    Emulate(propbot_emulators::cli::EmulateArgs),
    /// Benchmark the API under loopback load while the engine runs the synthetic market.
    BenchApi(propbot_server::bench::BenchArgs),
    /// Record a venue's live public market data into Parquet files.
    Record(propbot_server::record::RecordArgs),
    /// Check a data directory's journal: contiguous sequence and hash chain.
    VerifyJournal {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

/// `propbot recordings …`: the file commands of `propbot-recordings` and the generated
/// recordings of `propbot-market`.
#[derive(Subcommand, Debug)]
enum RecordingsCommand {
    #[command(flatten)]
    Files(propbot_recordings::cli::Command),
    /// Write a synthetic two-venue recording, or derive the other venue from a real
    /// venue's recording (--from).
    Synth(propbot_market::cli::SynthArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Profile: paper, testnet or live (default: the config's, else paper).
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// Market source: sim, live (shadow trading: the venues' public data, paper
    /// execution), or recording followed by files.
    #[arg(long, num_args = 1.., value_names = ["sim|live|recording", "PATH"], default_value = "sim")]
    source: Vec<String>,
    /// Config file (default: the profile's embedded config, or the last applied one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Data directory: journal, lock file, generated secrets.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Secrets file (default <data-dir>/secrets.json).
    #[arg(long, env = "PROPBOT_SECRETS")]
    secrets: Option<PathBuf>,
    /// Seed of the synthetic market.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Synthetic market speed relative to the wall clock (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    market_speed: f64,
}

fn parse_profile(s: &str) -> Result<Profile, String> {
    Profile::from_name(s).ok_or_else(|| format!("{s:?} is not paper, testnet or live"))
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Scenario { command } => propbot_sim::cli::run(command),
        Command::Recordings { command } => match command {
            RecordingsCommand::Files(command) => propbot_recordings::cli::run(command),
            RecordingsCommand::Synth(args) => propbot_market::cli::run(args),
        },
        Command::Replay(args) => propbot_sim::replay::cli_run(args),
        Command::Emulate(args) => report(
            runtime()
                .block_on(propbot_emulators::cli::run(args))
                .map_err(Into::into),
        ),
        Command::Serve(args) => report(serve(args)),
        Command::Ctl(args) => report(runtime().block_on(propbot_server::ctl::run(args))),
        Command::BenchApi(args) => report(runtime().block_on(propbot_server::bench::run(args))),
        Command::Record(args) => {
            init_logs();
            report(runtime().block_on(propbot_server::record::run(args)))
        }
        Command::VerifyJournal { data_dir } => report(verify(data_dir)),
    };
    std::process::exit(code);
}

fn report(result: anyhow::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("propbot: error: {e:#}");
            1
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROPBOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn verify(data_dir: PathBuf) -> anyhow::Result<()> {
    let path = data_dir.join(propbot_server::journal::JOURNAL_FILE);
    let report = propbot_server::journal::verify(&path)?;
    println!(
        "{}: {} record(s), contiguous, hash chain intact; head {} {}",
        path.display(),
        report.records,
        report.head.seq,
        propbot_server::secrets::hex(&report.head.hash)
    );
    Ok(())
}

fn source_of(words: &[String]) -> anyhow::Result<Source> {
    match words.split_first() {
        Some((first, rest)) if first == "sim" && rest.is_empty() => Ok(Source::Sim),
        Some((first, rest)) if first == "recording" && !rest.is_empty() => {
            Ok(Source::Recording(rest.iter().map(PathBuf::from).collect()))
        }
        Some((first, rest)) if first == "live" && rest.is_empty() => Ok(Source::Live),
        _ => anyhow::bail!("--source takes `sim`, `live` or `recording PATH…`, got {words:?}"),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logs();
    anyhow::ensure!(
        args.market_speed.is_finite() && args.market_speed > 0.0,
        "--market-speed must be a positive number"
    );
    let mut options = ServeOptions::new(args.data_dir.clone());
    options.profile = args.profile;
    options.source = source_of(&args.source)?;
    options.config_file = args.config;
    options.listen = args.listen;
    options.secrets_file = args.secrets;
    options.env_api_token = std::env::var("API_TOKEN").ok();
    options.env_approve_token = std::env::var("APPROVE_TOKEN").ok();
    options.paper = PaperOptions {
        seed: args.seed,
        pace: Pace::Speed(args.market_speed),
        ..PaperOptions::default()
    };
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let service = Service::start(&options).await?;
        let address = listener.local_addr()?;
        greet(&service, &options, address);
        let router = app(service.state.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let signal = tokio::select! {
            signal = propbot_server::service::shutdown_signal() => signal,
            () = engine_stopped(&service) => "the engine stopped",
        };
        tracing::info!("{signal}: stopping (HOLD, cancel open orders, flush the journal)");
        let stop = service.shutdown().await;
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        let report = stop?;
        tracing::info!(
            "stopped: journal head {} ({} order(s) left open)",
            report.head.seq,
            report.left_open
        );
        Ok(())
    })
}

/// Resolves when the engine thread has ended on its own (a journal failure).
async fn engine_stopped(service: &Service) {
    while !service.engine_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn greet(service: &Service, options: &ServeOptions, address: SocketAddr) {
    let host = if address.ip().is_unspecified() {
        format!("127.0.0.1:{}", address.port())
    } else {
        address.to_string()
    };
    println!(
        "PropBot {} — profile {}, market {}, data {}",
        env!("CARGO_PKG_VERSION"),
        service.profile.name(),
        match &options.source {
            Source::Sim => format!("sim (seed {})", options.paper.seed),
            Source::Recording(p) => format!("recording ({} files)", p.len()),
            Source::Live => "live (shadow trading)".to_owned(),
        },
        options.data_dir.display()
    );
    println!(
        "Config: {}; lease epoch {}",
        service.config_source, service.epoch
    );
    println!("Dashboard: http://{host}/ui   (API: http://{host}/openapi.json)");
    match &service.secrets {
        Resolved::Generated(path) => println!(
            "Tokens: none were configured, so operator tokens (alice, bob), an auditor (audit), \
             a viewer (view) and the approval token were generated in {} (mode 0600).",
            path.display()
        ),
        Resolved::File(path) => println!("Tokens: read from {}", path.display()),
        Resolved::Environment => {
            println!("Tokens: API_TOKEN (operator \"api\") and APPROVE_TOKEN from the environment")
        }
        Resolved::None => println!(
            "Tokens: none configured; every state-changing route will refuse (set --secrets or API_TOKEN)"
        ),
    }
    println!(
        "Started in HOLD with safe mode on. Trading starts only after the two-man resume:\n  \
         1. operator A (alice): dashboard → paste her token → «Запросить RESUME» (Request RESUME) with a reason\n  \
         2. operator B (bob): paste his token and the approve_token → «Подтвердить» (Confirm)\n  \
         3. «RESUME» (refused while anything under «Что блокирует RESUME» / resume blockers remains)\n\
         Stop with Ctrl-C (SIGINT) or SIGTERM: HOLD, cancel open orders, flush the journal."
    );
}
