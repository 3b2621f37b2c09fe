//! Live public market data in the service: shadow trading (`serve --source live`: the
//! real venues' books, paper execution) and recording (`propbot record`, and the
//! service's `recording.live_market_data` switch).
//!
//! [`LiveFeeds::start`] checks each venue's instrument metadata against the config (a
//! mismatch stops the start, naming field, config value and venue value), then starts
//! one `propbot_live` feed per venue into one bounded channel. [`supervise`] carries
//! the feeds' events to the paper world (books, trades, resyncs, clock samples, rate
//! limits), the engine's resync requests to the feeds, a copy of every market event to
//! the recorder, and the connections' counters to the [`LinkBoard`] once a second.
//! [`Recorder`] writes on a thread of its own (Parquet and fsync never block the
//! runtime); a full recorder queue loses messages only as a recorded `BookInvalid` and
//! a resync of the venue's books, never silently.

use crate::links::{LinkBoard, LinkRow};
use crate::paper::LiveEvent;
use propbot_engine::config::{Config, Endpoints};
use propbot_engine::model::{InstrumentId, Venue};
use propbot_engine::time::UnixNanos;
use propbot_live::{FeedEvent, FeedHandle, FeedOptions, LinkState, Stamped, spawn_feed};
use propbot_recordings::writer::{WriteSummary, WriterOptions};
use propbot_recordings::{SessionCounts, SessionRecorder};
use propbot_venues::InstrumentSpec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Events waiting between the feeds and the supervisor (or the recorder command).
pub const FEED_EVENTS_MAX: usize = 8_192;
/// Events waiting for the recorder thread.
pub const RECORDER_QUEUE_MAX: usize = 65_536;
/// Rows per Parquet row group when recording live data. The writer keeps a row group in
/// memory and makes it durable (with a footer checkpoint) when it closes, so a live
/// recording closes them small: at a busy book's 200 rows a second this is about a
/// minute of data at risk in a crash and a few MiB of memory per stream (the import
/// default, 2^20 rows, would hold an hour and 100 MiB).
pub const LIVE_ROW_GROUP_ROWS: usize = 16_384;

/// Writer settings for a live recording: `base` with live-sized row groups unless
/// `row_group_rows` was chosen.
pub fn live_writer_options(
    mut base: WriterOptions,
    row_group_rows: Option<usize>,
) -> WriterOptions {
    if row_group_rows.is_none() {
        base.layout.row_group_rows = LIVE_ROW_GROUP_ROWS;
        base.layout.batch_rows = base.layout.batch_rows.min(LIVE_ROW_GROUP_ROWS);
    }
    base
}

/// The board is refreshed this often.
const BOARD_EVERY: Duration = Duration::from_secs(1);

/// Why live market data could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A configured instrument is not listed on the venue.
    #[error("{venue}: {what}")]
    Config {
        /// Venue.
        venue: Venue,
        /// What is wrong.
        what: String,
    },
    /// The venue's instrument metadata disagrees with the config, or could not be read.
    #[error(transparent)]
    Metadata(#[from] propbot_live::MetadataError),
    /// The recording could not be opened.
    #[error("recording: {0}")]
    Recording(#[from] propbot_recordings::Error),
}

/// The feed's instrument specs of `instruments` on `venue`, from the config listings.
pub fn specs(
    config: &Config,
    venue: Venue,
    instruments: &[InstrumentId],
) -> Result<Vec<InstrumentSpec>, LiveError> {
    instruments
        .iter()
        .map(|&id| {
            InstrumentSpec::from_config(config, venue, id).map_err(|e| LiveError::Config {
                venue,
                what: e.to_string(),
            })
        })
        .collect()
}

/// The endpoints an operator names with one URL (an emulator or a proxy): REST at the
/// URL, the public WebSocket on the same host (`/ws/v5/public` for OKX), no separate
/// market route.
pub fn endpoints_at(venue: Venue, url: &str) -> Endpoints {
    let rest = url.trim_end_matches('/').to_owned();
    let ws = rest
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    let (ws_public, ws_private) = match venue {
        Venue::Binance => (ws.clone(), ws),
        Venue::Okx => (format!("{ws}/ws/v5/public"), format!("{ws}/ws/v5/private")),
    };
    Endpoints {
        rest,
        ws_public,
        ws_market: None,
        ws_private,
    }
}

/// The live feeds of a service or a recorder.
pub struct LiveFeeds {
    handles: Vec<(Venue, FeedHandle)>,
    /// Every feed's events, in arrival order.
    pub events: mpsc::Receiver<Stamped>,
    instruments: Vec<InstrumentId>,
}

impl LiveFeeds {
    /// Checks each venue's metadata, then starts its feed. `endpoints` overrides the
    /// config's per venue.
    pub async fn start(
        config: &Config,
        venues: &[(Venue, Endpoints)],
        instruments: &[InstrumentId],
        seed: u64,
    ) -> Result<LiveFeeds, LiveError> {
        let (tx, events) = mpsc::channel(FEED_EVENTS_MAX);
        let mut handles = Vec::new();
        for (venue, endpoints) in venues {
            let specs = specs(config, *venue, instruments)?;
            propbot_live::fetch_and_check_instruments(*venue, &endpoints.rest, config).await?;
            let mut options = FeedOptions::new(*venue, endpoints.clone(), specs);
            options.seed = seed ^ (venue.index() as u64 + 1);
            handles.push((*venue, spawn_feed(options, tx.clone())));
        }
        Ok(LiveFeeds {
            handles,
            events,
            instruments: instruments.to_vec(),
        })
    }

    /// Asks `venue`'s feed for a fresh book of `instrument`.
    pub fn resync(&self, venue: Venue, instrument: InstrumentId) {
        if let Some((_, h)) = self.handles.iter().find(|(v, _)| *v == venue) {
            h.resync(instrument);
        }
    }

    /// Every connection as the board shows it at `now`.
    pub fn rows(&self, now: UnixNanos) -> Vec<LinkRow> {
        let mut rows = Vec::new();
        for (_, h) in &self.handles {
            let stats = h.stats();
            for c in &stats.connections {
                let (state, error) = match &c.state {
                    LinkState::Disconnected { reason } => ("disconnected", Some(reason.clone())),
                    LinkState::Connecting => ("connecting", None),
                    LinkState::Connected => ("connected", None),
                    LinkState::Synced => ("synced", None),
                };
                rows.push(LinkRow {
                    venue: stats.venue,
                    connection: c.connection.to_owned(),
                    state: state.to_owned(),
                    last_message_age_ms: c.last_message_at.map(|t| now.nanos_since(t) / 1_000_000),
                    reconnects: c.reconnects,
                    resyncs: c.resyncs,
                    messages: c.messages,
                    rate_per_s: c.message_rate,
                    bad_frames: c.malformed + c.oversized,
                    last_error: error.or_else(|| c.last_error.clone()),
                });
            }
        }
        rows
    }

    /// Closes every socket.
    pub async fn shutdown(self) {
        for (_, h) in self.handles {
            h.shutdown().await;
        }
    }
}

/// The recorder thread: one [`SessionRecorder`] per venue.
pub struct Recorder {
    tx: Option<mpsc::Sender<Stamped>>,
    lost: Arc<[AtomicBool; Venue::COUNT]>,
    counts: Arc<Mutex<[SessionCounts; Venue::COUNT]>>,
    thread: std::thread::JoinHandle<Result<Vec<WriteSummary>, propbot_recordings::Error>>,
}

impl Recorder {
    /// Opens one stream per venue in `dir` (leftovers of a crash are recovered first)
    /// and starts the writing thread.
    pub fn start(
        dir: &Path,
        config: &Config,
        venues: &[Venue],
        instruments: &[InstrumentId],
        source: &str,
        options: WriterOptions,
    ) -> Result<Recorder, LiveError> {
        let mut sessions: Vec<(Venue, SessionRecorder)> = Vec::new();
        for &venue in venues {
            let (rec, leftovers) =
                SessionRecorder::create(dir, config, venue, instruments, source, options.clone())?;
            for l in leftovers {
                tracing::warn!(
                    "recording {}: a crashed file was dealt with: {l:?}",
                    dir.display()
                );
            }
            sessions.push((venue, rec));
        }
        let (tx, rx) = mpsc::channel(RECORDER_QUEUE_MAX);
        let lost: Arc<[AtomicBool; Venue::COUNT]> = Arc::new(Default::default());
        let counts = Arc::new(Mutex::new([SessionCounts::default(); Venue::COUNT]));
        let work = Writing {
            rx,
            sessions,
            lost: lost.clone(),
            counts: counts.clone(),
            instruments: instruments.to_vec(),
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || work.run())
            .map_err(|e| LiveError::Config {
                venue: venues.first().copied().unwrap_or(Venue::Binance),
                what: format!("recorder thread: {e}"),
            })?;
        Ok(Recorder {
            tx: Some(tx),
            lost,
            counts,
            thread,
        })
    }

    /// Hands an event over, waiting while the queue is full (`propbot record`: nothing
    /// is ever lost). `false` once the thread has stopped (a write error).
    pub async fn send(&self, stamped: Stamped) -> bool {
        match &self.tx {
            Some(tx) => tx.send(stamped).await.is_ok(),
            None => false,
        }
    }

    /// Hands an event over without waiting (the service: trading comes first). A full
    /// queue loses it: the venue's books are recorded as invalid until their next
    /// snapshot, and `false` tells the caller to ask the feed for one.
    pub fn offer(&self, stamped: &Stamped) -> bool {
        let Some(tx) = &self.tx else {
            return true;
        };
        match tx.try_send(stamped.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(s)) => {
                self.lost[s.venue.index()].store(true, Ordering::Relaxed);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        }
    }

    /// What has been written so far, per venue.
    pub fn counts(&self) -> [SessionCounts; Venue::COUNT] {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains the queue, commits the open files and returns what was written.
    pub async fn finish(mut self) -> Result<Vec<WriteSummary>, propbot_recordings::Error> {
        self.tx = None;
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("join task")
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// The recorder thread's state.
struct Writing {
    rx: mpsc::Receiver<Stamped>,
    sessions: Vec<(Venue, SessionRecorder)>,
    lost: Arc<[AtomicBool; Venue::COUNT]>,
    counts: Arc<Mutex<[SessionCounts; Venue::COUNT]>>,
    instruments: Vec<InstrumentId>,
}

impl Writing {
    fn run(mut self) -> Result<Vec<WriteSummary>, propbot_recordings::Error> {
        while let Some(stamped) = self.rx.blocking_recv() {
            let FeedEvent::Sync(event) = &stamped.event else {
                continue;
            };
            let Some((_, rec)) = self.sessions.iter_mut().find(|(v, _)| *v == stamped.venue) else {
                continue;
            };
            if self.lost[stamped.venue.index()].swap(false, Ordering::Relaxed) {
                for &i in &self.instruments {
                    rec.lost(stamped.received, i)?;
                }
            }
            rec.record(stamped.received, event)?;
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts[stamped.venue.index()] = rec.counts();
        }
        self.sessions
            .into_iter()
            .map(|(_, rec)| rec.finish())
            .collect()
    }
}

/// Carries the feeds' events to the paper world, the engine's resync requests to the
/// feeds, market events to the recorder, and the counters to the board, until the
/// world or the feeds stop.
pub async fn supervise(
    mut feeds: LiveFeeds,
    world: mpsc::Sender<LiveEvent>,
    mut resyncs: mpsc::Receiver<(Venue, InstrumentId)>,
    board: LinkBoard,
    recorder: Option<Recorder>,
) {
    let mut tick = tokio::time::interval(BOARD_EVERY);
    loop {
        tokio::select! {
            stamped = feeds.events.recv() => {
                let Some(stamped) = stamped else { break };
                if !carry(&feeds, &world, recorder.as_ref(), stamped).await {
                    break;
                }
            }
            Some((venue, instrument)) = resyncs.recv() => feeds.resync(venue, instrument),
            _ = tick.tick() => board.set(feeds.rows(crate::clock::wall_clock())),
        }
    }
    feeds.shutdown().await;
    if let Some(r) = recorder
        && let Err(e) = r.finish().await
    {
        tracing::error!("recording live market data failed: {e}");
    }
}

/// One feed event to where it goes; `false` when the world has stopped.
async fn carry(
    feeds: &LiveFeeds,
    world: &mpsc::Sender<LiveEvent>,
    recorder: Option<&Recorder>,
    stamped: Stamped,
) -> bool {
    if let Some(r) = recorder
        && matches!(stamped.event, FeedEvent::Sync(_))
        && !r.offer(&stamped)
    {
        for &i in &feeds.instruments {
            feeds.resync(stamped.venue, i);
        }
    }
    let venue = stamped.venue;
    match stamped.event {
        FeedEvent::Sync(event) => world.send(LiveEvent::Sync(event)).await.is_ok(),
        FeedEvent::Venue(kind) => world.send(LiveEvent::Venue(venue, kind)).await.is_ok(),
        FeedEvent::Link { connection, state } => {
            tracing::info!("{venue} {connection}: {state}");
            true
        }
    }
}

/// Where the service records: `recording.dir`, relative to the data directory.
pub fn recording_dir(config: &Config, data_dir: &Path) -> PathBuf {
    let dir = Path::new(&config.recording.dir);
    if dir.is_absolute() {
        dir.to_owned()
    } else {
        data_dir.join(dir)
    }
}
