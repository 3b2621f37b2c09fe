//! The durable journal in SQLite: an append-only event log with a hash chain, the
//! outbox of order intents, the audit log of operator actions, config versions and
//! the lease epochs.
//!
//! One writer (the engine task) holds a [`Journal`]; API handlers read through their
//! own read-only connections ([`Reader`]). The database runs in WAL mode with
//! `synchronous=FULL`, so a committed transaction survives a crash of the process or
//! the machine. [`Journal::commit`] writes a whole batch — the engine's journal
//! records, the outbox rows they imply, audit entries and config versions — in ONE
//! transaction: that is the write-ahead point of DESIGN §4.
//!
//! Each event row carries `hash = BLAKE3(prev_hash ‖ seq ‖ ts ‖ epoch ‖ body)`, so any
//! edit, deletion or reordering of committed rows is found by [`verify`]. Triggers
//! make `events` and `audit` append-only at the SQL level too.

use propbot_engine::output::{JournalEvent, JournalRecord};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the journal inside the data directory.
pub const JOURNAL_FILE: &str = "journal.sqlite";
/// How long a connection waits for a lock held by another connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rows a single export may return.
pub const EXPORT_ROWS_MAX: u32 = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TABLE IF NOT EXISTS outbox (
    client_order_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    venue TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS config_versions (
    version INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    yaml TEXT NOT NULL,
    backup_yaml TEXT,
    rollback_token TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS leases (
    epoch INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    pid INTEGER NOT NULL
);
";

/// Why the journal failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// SQLite refused.
    #[error("journal {path}: {source}")]
    Sql {
        /// Database file.
        path: String,
        /// The error.
        source: rusqlite::Error,
    },
    /// A stored record is not valid JSON of a journal record.
    #[error("journal {path}: record {seq} cannot be read: {reason}")]
    Corrupt {
        /// Database file.
        path: String,
        /// Sequence of the bad row.
        seq: u64,
        /// Why.
        reason: String,
    },
    /// The hash chain or the sequence is broken.
    #[error("journal {path}: {reason} at sequence {seq}")]
    Chain {
        /// Database file.
        path: String,
        /// Where.
        seq: u64,
        /// What.
        reason: String,
    },
    /// The engine handed over a record out of sequence (a driver bug).
    #[error("journal: record {found} does not follow {head}")]
    OutOfSequence {
        /// Last committed sequence.
        head: u64,
        /// Sequence handed over.
        found: u64,
    },
}

/// An operator action for the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Wall-clock time, ns.
    pub ts: u64,
    /// Token name (or `anonymous`, `shutdown`).
    pub actor: String,
    /// Role of the token.
    pub role: String,
    /// What was asked (`hold`, `resume-request`, `config-apply`, …).
    pub action: String,
    /// `requested` / `approved` / `executed` / `denied` / `forbidden` / `refused`.
    pub status: String,
    /// Details (never a secret).
    pub detail: String,
}

/// A config version to store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigVersion {
    /// Version number (the engine's `config_version`).
    pub version: u64,
    /// Wall-clock time, ns.
    pub ts: u64,
    /// Who.
    pub actor: String,
    /// `start`, `apply` or `rollback`.
    pub kind: String,
    /// The YAML text applied.
    pub yaml: String,
    /// The YAML in force before (the backup a rollback restores).
    pub backup_yaml: Option<String>,
    /// Token that rolls this version back.
    pub rollback_token: Option<String>,
}

/// Everything one engine-loop turn makes durable, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Journal records, in sequence.
    pub records: Vec<JournalRecord>,
    /// Audit entries.
    pub audits: Vec<AuditEntry>,
    /// Config versions.
    pub configs: Vec<ConfigVersion>,
}

impl Batch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.audits.is_empty() && self.configs.is_empty()
    }
}

/// The head of the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Last committed sequence (0 when empty).
    pub seq: u64,
    /// Its hash (zeros when empty).
    #[serde(serialize_with = "ser_hex")]
    pub hash: [u8; 32],
}

fn ser_hex<S: serde::Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::secrets::hex(h))
}

/// The writer.
pub struct Journal {
    conn: Connection,
    head: Head,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("head", &self.head.seq)
            .finish()
    }
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, in WAL mode with
    /// `synchronous=FULL`, and finds the head of the chain.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let sql = sql_err(path);
        let conn = Connection::open(path).map_err(&sql)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(&sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&sql)?;
        conn.execute_batch(SCHEMA).map_err(&sql)?;
        let head = conn
            .query_row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()
            .map_err(&sql)?
            .map(|(seq, hash)| Head {
                seq: seq as u64,
                hash: hash.try_into().unwrap_or([0; 32]),
            })
            .unwrap_or_default();
        Ok(Journal {
            conn,
            head,
            path: path.to_path_buf(),
        })
    }

    /// The head of the chain.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Every record, in order, after checking the sequence and the hash chain.
    pub fn records(&self) -> Result<Vec<JournalRecord>, JournalError> {
        let mut out = Vec::new();
        walk(&self.conn, &self.path, |record| {
            out.push(record);
        })?;
        Ok(out)
    }

    /// Records a new lease epoch: one above both `floor` (the highest epoch in the
    /// journal records) and every epoch taken before. Durable before it returns.
    pub fn begin_lease(&mut self, floor: u32, ts: u64) -> Result<u32, JournalError> {
        let sql = sql_err(&self.path);
        let tx = self.conn.transaction().map_err(&sql)?;
        let last: Option<i64> = tx
            .query_row("SELECT MAX(epoch) FROM leases", [], |r| r.get(0))
            .map_err(&sql)?;
        let epoch = (last.unwrap_or(0) as u32).max(floor) + 1;
        tx.execute(
            "INSERT INTO leases (epoch, ts, pid) VALUES (?1, ?2, ?3)",
            params![epoch, ts as i64, std::process::id()],
        )
        .map_err(&sql)?;
        tx.commit().map_err(&sql)?;
        Ok(epoch)
    }

    /// Writes a batch in one transaction. On error nothing of the batch is written.
    pub fn commit(&mut self, batch: &Batch) -> Result<Head, JournalError> {
        if batch.is_empty() {
            return Ok(self.head);
        }
        let sql = sql_err(&self.path);
        let tx = self.conn.transaction().map_err(&sql)?;
        let mut head = self.head;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (seq, ts, epoch, kind, body, prev_hash, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(&sql)?;
            for record in &batch.records {
                if record.sequence != head.seq + 1 {
                    return Err(JournalError::OutOfSequence {
                        head: head.seq,
                        found: record.sequence,
                    });
                }
                let body = serde_json::to_string(record).expect("journal records serialise");
                let hash = chain_hash(
                    &head.hash,
                    record.sequence,
                    record.ts.0,
                    record.epoch,
                    &body,
                );
                insert
                    .execute(params![
                        record.sequence as i64,
                        record.ts.0 as i64,
                        record.epoch,
                        kind_of(&record.event),
                        body,
                        &head.hash[..],
                        &hash[..],
                    ])
                    .map_err(&sql)?;
                outbox(&tx, record).map_err(&sql)?;
                head = Head {
                    seq: record.sequence,
                    hash,
                };
            }
        }
        for a in &batch.audits {
            tx.execute(
                "INSERT INTO audit (ts, actor, role, action, status, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![a.ts as i64, a.actor, a.role, a.action, a.status, a.detail],
            )
            .map_err(&sql)?;
        }
        for c in &batch.configs {
            tx.execute(
                "INSERT INTO config_versions (version, ts, actor, kind, yaml, backup_yaml, rollback_token)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    c.version as i64,
                    c.ts as i64,
                    c.actor,
                    c.kind,
                    c.yaml,
                    c.backup_yaml,
                    c.rollback_token
                ],
            )
            .map_err(&sql)?;
        }
        tx.commit().map_err(&sql)?;
        self.head = head;
        Ok(head)
    }
}

/// The outbox follows the order intents and their state changes.
fn outbox(tx: &rusqlite::Transaction<'_>, record: &JournalRecord) -> rusqlite::Result<()> {
    match &record.event {
        JournalEvent::OrderIntent(order) => {
            tx.execute(
                "INSERT OR REPLACE INTO outbox (client_order_id, seq, venue, body, state, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, 'intent', ?2)",
                params![
                    order.client_order_id.to_string(),
                    record.sequence as i64,
                    order.venue.name(),
                    serde_json::to_string(order).expect("orders serialise"),
                ],
            )?;
        }
        JournalEvent::OrderUpdate {
            client_order_id,
            state,
            ..
        } => {
            tx.execute(
                "UPDATE outbox SET state = ?2, updated_seq = ?3 WHERE client_order_id = ?1",
                params![
                    client_order_id.to_string(),
                    state.name(),
                    record.sequence as i64
                ],
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// `BLAKE3(prev ‖ seq ‖ ts ‖ epoch ‖ body)`, integers little-endian.
pub fn chain_hash(prev: &[u8; 32], seq: u64, ts: u64, epoch: u32, body: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(&seq.to_le_bytes());
    h.update(&ts.to_le_bytes());
    h.update(&epoch.to_le_bytes());
    h.update(body.as_bytes());
    *h.finalize().as_bytes()
}

/// Stable name of a journal event (the `kind` column and export field).
pub fn kind_of(event: &JournalEvent) -> &'static str {
    match event {
        JournalEvent::Started { .. } => "started",
        JournalEvent::LeaseAcquired { .. } => "lease_acquired",
        JournalEvent::OrderIntent(_) => "order_intent",
        JournalEvent::OrderUpdate { .. } => "order_update",
        JournalEvent::CancelRequested { .. } => "cancel_requested",
        JournalEvent::Fill { .. } => "fill",
        JournalEvent::Control { .. } => "control",
        JournalEvent::Approval { .. } => "approval",
        JournalEvent::GuardTripped { .. } => "guard_tripped",
        JournalEvent::GuardCleared { .. } => "guard_cleared",
        JournalEvent::Quarantined { .. } => "quarantined",
        JournalEvent::MaintenanceNotice(_) => "maintenance_notice",
        JournalEvent::ConfigApplied { .. } => "config_applied",
        JournalEvent::ControlPatched { .. } => "control_patched",
        JournalEvent::DayStarted { .. } => "day_started",
        JournalEvent::Reconciled { .. } => "reconciled",
    }
}

/// What [`verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Records checked.
    pub records: u64,
    /// The head.
    pub head: Head,
}

/// Checks a journal file: contiguous sequence from 1, every hash recomputed from the
/// previous one, every body a valid record whose fields match its row.
pub fn verify(path: &Path) -> Result<ChainReport, JournalError> {
    let conn = open_read_only(path)?;
    let mut records = 0;
    let head = walk(&conn, path, |_| records += 1)?;
    Ok(ChainReport { records, head })
}

fn walk(
    conn: &Connection,
    path: &Path,
    mut each: impl FnMut(JournalRecord),
) -> Result<Head, JournalError> {
    let sql = sql_err(path);
    let mut stmt = conn
        .prepare("SELECT seq, ts, epoch, body, prev_hash, hash FROM events ORDER BY seq")
        .map_err(&sql)?;
    let mut rows = stmt.query([]).map_err(&sql)?;
    let mut head = Head::default();
    let chain = |seq: u64, reason: &str| JournalError::Chain {
        path: path.display().to_string(),
        seq,
        reason: reason.into(),
    };
    while let Some(row) = rows.next().map_err(&sql)? {
        let seq = row.get::<_, i64>(0).map_err(&sql)? as u64;
        let ts = row.get::<_, i64>(1).map_err(&sql)? as u64;
        let epoch = row.get::<_, i64>(2).map_err(&sql)? as u32;
        let body: String = row.get(3).map_err(&sql)?;
        let prev: Vec<u8> = row.get(4).map_err(&sql)?;
        let hash: Vec<u8> = row.get(5).map_err(&sql)?;
        if seq != head.seq + 1 {
            return Err(chain(seq, &format!("sequence gap after {}", head.seq)));
        }
        if prev.as_slice() != head.hash {
            return Err(chain(seq, "previous hash does not match"));
        }
        let expect = chain_hash(&head.hash, seq, ts, epoch, &body);
        if hash.as_slice() != expect {
            return Err(chain(seq, "hash does not match the row"));
        }
        let record: JournalRecord =
            serde_json::from_str(&body).map_err(|e| JournalError::Corrupt {
                path: path.display().to_string(),
                seq,
                reason: e.to_string(),
            })?;
        if record.sequence != seq || record.ts.0 != ts || record.epoch != epoch {
            return Err(chain(seq, "row columns disagree with the record"));
        }
        head = Head { seq, hash: expect };
        each(record);
    }
    Ok(head)
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Sql {
        path: path.display().to_string(),
        source,
    }
}

/// A read-only connection for API handlers and checks.
pub fn open_read_only(path: &Path) -> Result<Connection, JournalError> {
    let sql = sql_err(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&sql)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&sql)?;
    Ok(conn)
}

/// Read side used by the API (each call opens its own read-only connection, so
/// readers never wait for the engine's writer in WAL mode).
#[derive(Clone, Debug)]
pub struct Reader {
    path: PathBuf,
}

/// One exported event.
#[derive(Clone, Debug, Serialize)]
pub struct ExportedEvent {
    /// Sequence.
    pub seq: u64,
    /// ISO 8601 time.
    pub ts: String,
    /// Leader epoch.
    pub epoch: u32,
    /// Event kind.
    pub kind: String,
    /// The record as JSON.
    pub body: serde_json::Value,
    /// Chain hash, hex.
    pub hash: String,
}

/// A stored audit entry.
#[derive(Clone, Debug, Serialize)]
pub struct StoredAudit {
    /// Row id.
    pub id: i64,
    /// ISO 8601 time.
    pub ts: String,
    /// Who.
    pub actor: String,
    /// Role.
    pub role: String,
    /// What.
    pub action: String,
    /// Outcome.
    pub status: String,
    /// Details.
    pub detail: String,
}

/// A stored config version (for rollback).
#[derive(Clone, Debug, Serialize)]
pub struct StoredConfig {
    /// Version.
    pub version: u64,
    /// `start`, `apply` or `rollback`.
    pub kind: String,
    /// Who.
    pub actor: String,
    /// ISO 8601 time.
    pub ts: String,
    /// The YAML applied.
    #[serde(skip)]
    pub yaml: String,
    /// The YAML before it.
    #[serde(skip)]
    pub backup_yaml: Option<String>,
}

impl Reader {
    /// A reader of the journal at `path`.
    pub fn new(path: PathBuf) -> Reader {
        Reader { path }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest `limit` events, oldest first.
    pub fn events(&self, limit: u32) -> Result<Vec<ExportedEvent>, JournalError> {
        let conn = open_read_only(&self.path)?;
        let sql = sql_err(&self.path);
        let mut stmt = conn
            .prepare(
                "SELECT seq, ts, epoch, kind, body, hash FROM events ORDER BY seq DESC LIMIT ?1",
            )
            .map_err(&sql)?;
        let mut out: Vec<ExportedEvent> = stmt
            .query_map([limit.min(EXPORT_ROWS_MAX)], |r| {
                let body: String = r.get(4)?;
                let hash: Vec<u8> = r.get(5)?;
                Ok(ExportedEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    ts: iso(r.get::<_, i64>(1)? as u64),
                    epoch: r.get::<_, i64>(2)? as u32,
                    kind: r.get(3)?,
                    body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                    hash: crate::secrets::hex(&hash),
                })
            })
            .map_err(&sql)?
            .collect::<Result<_, _>>()
            .map_err(&sql)?;
        out.reverse();
        Ok(out)
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit(&self, limit: u32) -> Result<Vec<StoredAudit>, JournalError> {
        let conn = open_read_only(&self.path)?;
        let sql = sql_err(&self.path);
        let mut stmt = conn
            .prepare(
                "SELECT id, ts, actor, role, action, status, detail FROM audit
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(&sql)?;
        stmt.query_map([limit.min(EXPORT_ROWS_MAX)], |r| {
            Ok(StoredAudit {
                id: r.get(0)?,
                ts: iso(r.get::<_, i64>(1)? as u64),
                actor: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                status: r.get(5)?,
                detail: r.get(6)?,
            })
        })
        .map_err(&sql)?
        .collect::<Result<_, _>>()
        .map_err(&sql)
    }

    /// The version a rollback token undoes, or the newest applied version.
    pub fn config_to_roll_back(
        &self,
        token: Option<&str>,
    ) -> Result<Option<StoredConfig>, JournalError> {
        let conn = open_read_only(&self.path)?;
        let sql = sql_err(&self.path);
        let row = |r: &rusqlite::Row<'_>| {
            Ok(StoredConfig {
                version: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                actor: r.get(2)?,
                ts: iso(r.get::<_, i64>(3)? as u64),
                yaml: r.get(4)?,
                backup_yaml: r.get(5)?,
            })
        };
        let cols = "version, kind, actor, ts, yaml, backup_yaml";
        match token {
            Some(t) => conn
                .query_row(
                    &format!("SELECT {cols} FROM config_versions WHERE rollback_token = ?1"),
                    [t],
                    row,
                )
                .optional()
                .map_err(&sql),
            None => conn
                .query_row(
                    &format!(
                        "SELECT {cols} FROM config_versions WHERE backup_yaml IS NOT NULL
                         ORDER BY version DESC LIMIT 1"
                    ),
                    [],
                    row,
                )
                .optional()
                .map_err(&sql),
        }
    }

    /// Config versions, newest first.
    pub fn config_versions(&self, limit: u32) -> Result<Vec<StoredConfig>, JournalError> {
        let conn = open_read_only(&self.path)?;
        let sql = sql_err(&self.path);
        let mut stmt = conn
            .prepare(
                "SELECT version, kind, actor, ts, yaml, backup_yaml FROM config_versions
                 ORDER BY version DESC LIMIT ?1",
            )
            .map_err(&sql)?;
        stmt.query_map([limit], |r| {
            Ok(StoredConfig {
                version: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                actor: r.get(2)?,
                ts: iso(r.get::<_, i64>(3)? as u64),
                yaml: r.get(4)?,
                backup_yaml: r.get(5)?,
            })
        })
        .map_err(&sql)?
        .collect::<Result<_, _>>()
        .map_err(&sql)
    }
}

/// The newest stored config, if any (used at start to keep hot-applied changes).
pub fn latest_config(path: &Path) -> Result<Option<StoredConfig>, JournalError> {
    Ok(Reader::new(path.to_path_buf())
        .config_versions(1)?
        .into_iter()
        .next())
}

/// ISO 8601 UTC with milliseconds.
pub fn iso(ns: u64) -> String {
    propbot_engine::UnixNanos(ns).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;
    use propbot_engine::UnixNanos;

    fn record(seq: u64) -> JournalRecord {
        JournalRecord {
            sequence: seq,
            ts: UnixNanos(1_000 + seq),
            epoch: 1,
            event: JournalEvent::LeaseAcquired { epoch: 1 },
        }
    }

    #[test]
    fn batches_chain_and_verify_and_tampering_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut j = Journal::open(&path).unwrap();
        let batch = Batch {
            records: (1..=5).map(record).collect(),
            ..Batch::default()
        };
        let head = j.commit(&batch).unwrap();
        assert_eq!(head.seq, 5);
        let report = verify(&path).unwrap();
        assert_eq!(report.records, 5);
        assert_eq!(report.head, head);
        assert_eq!(Journal::open(&path).unwrap().records().unwrap().len(), 5);
        // Out of sequence is refused and writes nothing.
        let bad = Batch {
            records: vec![record(7)],
            ..Batch::default()
        };
        assert!(matches!(
            j.commit(&bad),
            Err(JournalError::OutOfSequence { head: 5, found: 7 })
        ));
        assert_eq!(verify(&path).unwrap().records, 5);
        // The table refuses edits; with the trigger dropped an edit breaks the chain.
        let conn = Connection::open(&path).unwrap();
        assert!(
            conn.execute("DELETE FROM events WHERE seq = 3", [])
                .is_err()
        );
        conn.execute_batch("DROP TRIGGER events_append_only_update")
            .unwrap();
        conn.execute("UPDATE events SET ts = 1 WHERE seq = 3", [])
            .unwrap();
        let err = verify(&path).unwrap_err();
        assert!(matches!(err, JournalError::Chain { seq: 3, .. }), "{err}");
    }

    #[test]
    fn lease_epochs_only_grow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.begin_lease(0, 1).unwrap(), 1);
        assert_eq!(j.begin_lease(0, 2).unwrap(), 2);
        assert_eq!(j.begin_lease(9, 3).unwrap(), 10);
        drop(j);
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.begin_lease(0, 4).unwrap(), 11);
    }
}
