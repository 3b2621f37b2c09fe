//! Composition root: takes the lease, opens and verifies the journal, chooses the
//! config, recovers the engine, resolves secrets, starts the engine thread and the
//! market source, and serves the API until SIGTERM/SIGINT.

use crate::api::{self, AccessMode, AppState, InstrumentInfo, Shared};
use crate::clock::{MonotonicClock, wall_clock};
use crate::driver::{
    CONTROL_MAX, Control, Counters, DriverError, EngineTask, INPUTS_MAX, StopReport,
};
use crate::journal::{JOURNAL_FILE, Journal, JournalError, Reader, latest_config};
use crate::lease::{FileLease, LeaseError};
use crate::paper::{PaperOptions, PaperWorld, REQUESTS_MAX};
use crate::secrets::{Resolved, Secrets, SecretsError};
use crate::view::{Snapshot, ViewContext};
use propbot_engine::config::{
    Config, ConfigErrors, LIVE_YAML, PAPER_YAML, Profile, STATUS_THRESHOLDS_YAML, StatusThresholds,
    TESTNET_YAML,
};
use propbot_engine::model::{InstrumentId, Qty, Venue};
use propbot_engine::recovery::RecoveryError;
use propbot_engine::{Engine, RecoveredState};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Where market data comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The simulator's synthetic two-venue market.
    Sim,
    /// Recorded market data files.
    Recording(Vec<PathBuf>),
    /// Shadow trading: the venues' live public market data (`venues.<venue>.endpoints`),
    /// paper execution on those books.
    Live,
}

/// Everything `propbot serve` needs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Profile; `None` takes it from `--config` or defaults to paper.
    pub profile: Option<Profile>,
    /// Market source.
    pub source: Source,
    /// Config file.
    pub config_file: Option<PathBuf>,
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory (journal, lock, generated secrets).
    pub data_dir: PathBuf,
    /// Secrets file (default `<data-dir>/secrets.json`).
    pub secrets_file: Option<PathBuf>,
    /// `API_TOKEN` from the environment.
    pub env_api_token: Option<String>,
    /// `APPROVE_TOKEN` from the environment.
    pub env_approve_token: Option<String>,
    /// Paper world settings.
    pub paper: PaperOptions,
}

impl ServeOptions {
    /// Defaults: paper, sim, 127.0.0.1:8000, `./data`.
    pub fn new(data_dir: PathBuf) -> ServeOptions {
        ServeOptions {
            profile: None,
            source: Source::Sim,
            config_file: None,
            listen: "127.0.0.1:8000".parse().expect("valid address"),
            data_dir,
            secrets_file: None,
            env_api_token: None,
            env_approve_token: None,
            paper: PaperOptions::default(),
        }
    }
}

/// Why the service cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another instance holds the data directory.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The journal cannot be opened or is damaged.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The journal cannot be folded into engine state.
    #[error("cannot recover from the journal: {0}")]
    Recovery(#[from] RecoveryError),
    /// Secrets are unsafe or unreadable.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The config is invalid.
    #[error("invalid config {file}:\n{errors}")]
    Config {
        /// File.
        file: String,
        /// Every error with its path.
        errors: ConfigErrors,
    },
    /// The config and the requested profile disagree.
    #[error("{0}")]
    Profile(String),
    /// The market source is not available.
    #[error("{0}")]
    Source(String),
    /// Live market data could not start (unreachable venue, metadata mismatch).
    #[error("--source live: {0}")]
    Live(#[from] crate::live::LiveError),
    /// A file could not be read or a directory created.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The engine stopped before publishing its first status.
    #[error("the engine stopped during start-up")]
    EngineStopped,
}

/// A running service (engine thread, market source, API state).
pub struct Service {
    /// State for [`api::app`].
    pub state: AppState,
    /// The engine's venue-event channel (the paper venues feed it).
    pub events: mpsc::Sender<crate::driver::Event>,
    /// The engine's control channel (operator commands, shutdown), read first.
    pub control: mpsc::Sender<Control>,
    /// Shared counters (events handled…).
    pub counters: Arc<Counters>,
    /// How the secrets were found.
    pub secrets: Resolved,
    /// Lease epoch of this run.
    pub epoch: u32,
    /// Profile in force.
    pub profile: Profile,
    /// Where the config came from.
    pub config_source: String,
    engine: std::thread::JoinHandle<Result<StopReport, DriverError>>,
    paper: tokio::task::JoinHandle<()>,
    /// The live feeds' supervisor (shadow trading).
    live: Option<tokio::task::JoinHandle<()>>,
    _lease: FileLease,
}

struct Chosen {
    config: Config,
    yaml: String,
    source: String,
}

fn embedded_yaml(profile: Profile) -> &'static str {
    match profile {
        Profile::Paper => PAPER_YAML,
        Profile::Testnet => TESTNET_YAML,
        Profile::Live => LIVE_YAML,
    }
}

fn thresholds() -> StatusThresholds {
    StatusThresholds::from_yaml(STATUS_THRESHOLDS_YAML).expect("shipped thresholds are valid")
}

fn choose_config(
    options: &ServeOptions,
    journal_path: &std::path::Path,
) -> Result<Chosen, StartError> {
    if let Some(file) = &options.config_file {
        let shown = file.display().to_string();
        let yaml = std::fs::read_to_string(file).map_err(|source| StartError::Io {
            path: shown.clone(),
            source,
        })?;
        let config =
            Config::from_yaml(&yaml, thresholds()).map_err(|errors| StartError::Config {
                file: shown.clone(),
                errors,
            })?;
        if let Some(p) = options.profile
            && p != config.profile
        {
            return Err(StartError::Profile(format!(
                "--profile {} but {shown} is a {} config",
                p.name(),
                config.profile.name()
            )));
        }
        return Ok(Chosen {
            config,
            yaml,
            source: shown,
        });
    }
    let profile = options.profile.unwrap_or(Profile::Paper);
    if let Some(stored) = latest_config(journal_path)?
        && let Ok(config) = Config::from_yaml(&stored.yaml, thresholds())
        && config.profile == profile
    {
        return Ok(Chosen {
            config,
            yaml: stored.yaml,
            source: format!(
                "journal (config version {}, {} by {})",
                stored.version, stored.kind, stored.actor
            ),
        });
    }
    let yaml = embedded_yaml(profile).to_owned();
    Ok(Chosen {
        config: Config::embedded(profile),
        yaml,
        source: format!("embedded configs/config.{}.yaml", profile.name()),
    })
}

fn base_positions(recovered: &RecoveredState, instruments: usize) -> [Vec<Qty>; Venue::COUNT] {
    Venue::ALL.map(|v| {
        (0..instruments)
            .map(|i| recovered.ledger.position(v, InstrumentId(i as u16)).qty)
            .collect()
    })
}

/// Everything decided before any task starts.
struct Prepared {
    lease: FileLease,
    journal: Journal,
    journal_path: PathBuf,
    chosen: Chosen,
    secrets: Secrets,
    resolved: Resolved,
    recovered: RecoveredState,
    epoch: u32,
    now: propbot_engine::UnixNanos,
    tape: Option<Arc<propbot_market::tape::Tape>>,
}

/// Lease → journal (chain verified) → config → secrets → recovery → new epoch.
fn prepare(options: &ServeOptions) -> Result<Prepared, StartError> {
    std::fs::create_dir_all(&options.data_dir).map_err(|source| StartError::Io {
        path: options.data_dir.display().to_string(),
        source,
    })?;
    let lease = FileLease::acquire(&options.data_dir)?;
    let journal_path = options.data_dir.join(JOURNAL_FILE);
    let mut journal = Journal::open(&journal_path)?;
    let records = journal.records()?;
    let mut chosen = choose_config(options, &journal_path)?;
    // A recording is read (and checked against the config) before anything is
    // committed, so a bad file stops the start with its own message.
    let tape = match &options.source {
        Source::Sim | Source::Live => None,
        Source::Recording(paths) => Some(Arc::new(
            propbot_market::tape::Tape::load(paths, &chosen.config)
                .map_err(|e| StartError::Source(format!("--source recording: {e}")))?,
        )),
    };
    let secrets_path = options
        .secrets_file
        .clone()
        .unwrap_or_else(|| options.data_dir.join("secrets.json"));
    let (secrets, resolved) = Secrets::resolve(
        &secrets_path,
        options.env_api_token.clone(),
        options.env_approve_token.clone(),
        chosen.config.profile == Profile::Paper,
    )?;
    if let Some(token) = secrets.approve_token() {
        chosen.config.control.set_approval_token(token);
    }
    let recovered = RecoveredState::from_records(&chosen.config, &records)?;
    let now = wall_clock().max(recovered.last_ts);
    let recovered = recovered.boot_at(now);
    let epoch = journal.begin_lease(recovered.highest_epoch, now.0)?;
    Ok(Prepared {
        lease,
        journal,
        journal_path,
        chosen,
        secrets,
        resolved,
        recovered,
        epoch,
        now,
        tape,
    })
}

fn spawn_engine(
    task: EngineTask,
) -> Result<std::thread::JoinHandle<Result<StopReport, DriverError>>, StartError> {
    std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("engine runtime");
            rt.block_on(task.run())
        })
        .map_err(|source| StartError::Io {
            path: "engine thread".into(),
            source,
        })
}

fn instruments(config: &Config) -> Vec<InstrumentInfo> {
    config
        .instruments
        .iter()
        .enumerate()
        .map(|(i, inst)| InstrumentInfo {
            name: inst.name.clone(),
            symbols: Venue::ALL
                .iter()
                .filter_map(|&v| config.listing(v, InstrumentId(i as u16)))
                .map(|l| l.symbol.clone())
                .collect(),
        })
        .collect()
}

/// The market as the dashboard names it: the seeded model or the looping recording.
fn source_label(tape: Option<&propbot_market::tape::Tape>, seed: u64) -> String {
    let Some(t) = tape else {
        return format!("sim (seed {seed})");
    };
    format!("recording {}, looping", t.describe())
}

/// The traded instruments' live feeds, after each venue's metadata matched the config.
async fn start_live(config: &Config, seed: u64) -> Result<crate::live::LiveFeeds, StartError> {
    let venues: Vec<_> = Venue::ALL
        .iter()
        .map(|&v| (v, config.endpoints[v.index()].clone()))
        .collect();
    Ok(crate::live::LiveFeeds::start(config, &venues, &config.strategy.instruments, seed).await?)
}

/// The paper world on live books, the supervisor that feeds it (and, with
/// `recording.live_market_data`, records what it receives).
fn shadow_world(
    config: &Config,
    options: &ServeOptions,
    paper: crate::paper::PaperOptions,
    epoch: u32,
    base: crate::paper::BasePositions,
    feeds: crate::live::LiveFeeds,
    board: crate::links::LinkBoard,
) -> Result<(PaperWorld, tokio::task::JoinHandle<()>), StartError> {
    use crate::live::{FEED_EVENTS_MAX, Recorder, recording_dir, supervise};
    let recorder = if config.recording.live_market_data {
        let dir = recording_dir(config, &options.data_dir);
        let mut writer =
            crate::live::live_writer_options(propbot_recordings::WriterOptions::default(), None);
        writer.roll.max_span_ns = config.recording.roll_minutes * 60 * 1_000_000_000;
        let urls: Vec<String> = Venue::ALL
            .iter()
            .map(|v| format!("{v} {}", config.endpoints[v.index()].ws_public))
            .collect();
        let source = format!("live (propbot serve --source live): {}", urls.join(", "));
        let instruments = &config.strategy.instruments;
        Some(Recorder::start(
            &dir,
            config,
            &Venue::ALL,
            instruments,
            &source,
            writer,
        )?)
    } else {
        None
    };
    let (world_tx, world_rx) = mpsc::channel(FEED_EVENTS_MAX);
    let (resync_tx, resync_rx) = mpsc::channel(64);
    let supervisor = tokio::spawn(supervise(feeds, world_tx, resync_rx, board, recorder));
    let live = crate::paper::LiveMarket {
        events: world_rx,
        resyncs: resync_tx,
    };
    let world = PaperWorld::live(config, paper, epoch, base, wall_clock(), live);
    Ok((world, supervisor))
}

impl Service {
    /// Starts everything except the HTTP listener. Must run inside a tokio runtime.
    pub async fn start(options: &ServeOptions) -> Result<Service, StartError> {
        let p = prepare(options)?;
        let live = match options.source {
            Source::Live => Some(start_live(&p.chosen.config, options.paper.seed).await?),
            _ => None,
        };
        let profile = p.chosen.config.profile;
        let base = base_positions(&p.recovered, p.chosen.config.instruments.len());
        let config = p.chosen.config.clone();
        let engine = Engine::new(p.chosen.config, p.recovered);
        let (events_tx, events_rx) = mpsc::channel(INPUTS_MAX);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_MAX);
        let (venues_tx, venues_rx) = mpsc::channel(REQUESTS_MAX);
        let (snap_tx, mut snap_rx) = watch::channel(Arc::new(Snapshot::empty()));
        let (stream_tx, _) = broadcast::channel(1024);
        let counters = Arc::new(Counters::default());
        let access = AccessMode::for_deployment(profile, options.listen);
        let board = crate::links::LinkBoard::default();
        let context = ViewContext {
            profile,
            source: match &live {
                Some(_) => "live (shadow trading: venue public data, paper execution)".to_owned(),
                None => source_label(p.tape.as_deref(), options.paper.seed),
            },
            data_dir: options.data_dir.display().to_string(),
            started_at: p.now,
            access: access.name(),
            approve_token: p.secrets.approve_token().map(str::to_owned),
            links: board.clone(),
        };
        let engine_thread = spawn_engine(EngineTask {
            engine,
            journal: p.journal,
            clock: MonotonicClock::starting_at(p.now),
            inputs: events_rx,
            control: control_rx,
            venues: venues_tx,
            epoch: p.epoch,
            snapshots: snap_tx,
            stream: stream_tx.clone(),
            counters: counters.clone(),
            current_yaml: p.chosen.yaml,
            context,
        })?;
        let mut paper_options = options.paper.clone();
        paper_options.tape = p.tape.clone();
        let (world, live) = match live {
            Some(feeds) => {
                let (world, supervisor) =
                    shadow_world(&config, options, paper_options, p.epoch, base, feeds, board)?;
                (world, Some(supervisor))
            }
            None => {
                let world = PaperWorld::new(&config, paper_options, p.epoch, base, wall_clock());
                (world, None)
            }
        };
        let paper = tokio::spawn(world.run(events_tx.clone(), venues_rx));
        // The API serves only once the engine has published its first status.
        if tokio::time::timeout(Duration::from_secs(30), snap_rx.changed())
            .await
            .map_or(true, |r| r.is_err())
        {
            return Err(StartError::EngineStopped);
        }
        let state = AppState(Arc::new(Shared {
            snapshots: snap_rx,
            control: control_tx.clone(),
            stream: stream_tx,
            secrets: p.secrets,
            access,
            reader: Reader::new(p.journal_path),
            telemetry: api::telemetry::Telemetry::default(),
            thresholds: thresholds(),
            profile,
            instruments: instruments(&config),
            stream_clients: std::sync::atomic::AtomicUsize::new(0),
        }));
        Ok(Service {
            state,
            events: events_tx,
            control: control_tx,
            counters,
            secrets: p.resolved,
            epoch: p.epoch,
            profile,
            config_source: p.chosen.source,
            engine: engine_thread,
            paper,
            live,
            _lease: p.lease,
        })
    }

    /// Graceful stop: HOLD, cancel open orders (waiting up to the drain time), flush
    /// the journal, stop the market source.
    pub async fn shutdown(self) -> Result<StopReport, DriverError> {
        let _ = self.control.send(Control::Shutdown).await;
        let engine = self.engine;
        let result = tokio::task::spawn_blocking(move || engine.join())
            .await
            .expect("join task");
        self.paper.abort();
        if let Some(live) = self.live {
            // The paper world is gone: the supervisor closes the sockets and commits
            // the recording.
            if tokio::time::timeout(Duration::from_secs(10), live)
                .await
                .is_err()
            {
                tracing::warn!("the live feeds did not stop within 10 s");
            }
        }
        match result {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Whether the engine thread has ended (a journal failure stops it).
    pub fn engine_finished(&self) -> bool {
        self.engine.is_finished()
    }
}

/// Resolves on SIGINT or SIGTERM, naming it.
pub async fn shutdown_signal() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
