//! Tests that run the real `propbot` binary: crash safety under `kill -9`, the
//! single-host lease, graceful SIGTERM, the CLI, and start-up refusals.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_propbot");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

fn spawn(dir: &Path, run: usize, extra: &[&str]) -> Server {
    let port = free_port();
    let log = dir.join(format!("run-{run}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--market-speed",
            "20",
        ])
        .args(extra)
        .env_remove("API_TOKEN")
        .env_remove("APPROVE_TOKEN")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn http() -> sync_http::Client {
    sync_http::Client::new()
}

/// A tiny synchronous wrapper over reqwest for these process tests.
mod sync_http {
    use serde_json::Value;
    use std::time::Duration;

    pub struct Client {
        rt: tokio::runtime::Runtime,
        http: ::reqwest::Client,
    }

    impl Client {
        pub fn new() -> Client {
            Client {
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
                http: ::reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            }
        }

        pub fn call(
            &self,
            method: &str,
            url: &str,
            token: Option<&str>,
            body: Option<Value>,
        ) -> Option<(u16, Value)> {
            self.rt.block_on(async {
                let mut r = self.http.request(method.parse().unwrap(), url);
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                if let Some(b) = body {
                    r = r.json(&b);
                }
                let response = r.send().await.ok()?;
                let status = response.status().as_u16();
                let v = response.json().await.unwrap_or(Value::Null);
                Some((status, v))
            })
        }
    }
}

impl Drop for Server {
    /// A failing test must not leave its server running.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    fn wait_healthy(&mut self, c: &sync_http::Client) {
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Some((200, _)) = c.call("GET", &format!("{}/healthz", self.base), None, None) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "server exited with {status}: {}",
                    std::fs::read_to_string(&self.log).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server did not come up: {}",
            std::fs::read_to_string(&self.log).unwrap()
        );
    }

    fn get(&self, c: &sync_http::Client, path: &str) -> Value {
        let (status, v) = c
            .call("GET", &format!("{}{path}", self.base), Some(VIEW), None)
            .expect("server answers");
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    fn post(&self, c: &sync_http::Client, path: &str, token: &str, body: Value) -> (u16, Value) {
        c.call(
            "POST",
            &format!("{}{path}", self.base),
            Some(token),
            Some(body),
        )
        .expect("server answers")
    }

    fn resume(&self, c: &sync_http::Client) {
        let until = Instant::now() + Duration::from_secs(30);
        while !self.get(c, "/api/ui/status/overview")["resume_blockers"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            assert!(Instant::now() < until, "resume blockers never cleared");
            std::thread::sleep(Duration::from_millis(100));
        }
        let (s, v) = self.post(
            c,
            "/api/ui/resume-request",
            ALICE,
            json!({"reason": "test"}),
        );
        assert_eq!(s, 200, "{v}");
        let (s, v) = self.post(
            c,
            "/api/ui/resume-confirm",
            BOB,
            json!({"request_id": v["request_id"], "token": APPROVE}),
        );
        assert_eq!(s, 200, "{v}");
        let (s, v) = self.post(c, "/api/ui/resume", BOB, json!({}));
        assert_eq!(s, 200, "{v}");
    }

    fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < until, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// xorshift64*: kill moments from a printed seed, so a failure can be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

fn hash_at(db: &Path, seq: u64) -> Option<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT hash FROM events WHERE seq = ?1",
        [seq as i64],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .ok()
    .map(|h| propbot_server::secrets::hex(&h))
}

fn count_kind(db: &Path, kind: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT COUNT(*) FROM events WHERE kind = ?1", [kind], |r| {
        r.get(0)
    })
    .unwrap()
}

fn assert_no_secrets_in(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "a secret appears in {}",
            log.display()
        );
    }
}

#[test]
fn kill_minus_nine_loses_nothing_committed_and_restarts_in_hold() {
    let seed = std::env::var("PROPBOT_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!(
        "kill -9 test seed {seed} (replay: PROPBOT_KILL_SEED={seed} cargo test -p propbot-server --test process kill_minus_nine)"
    );
    let mut rng = seed;
    let dir = tempfile::tempdir().unwrap();
    write_secrets(&dir.path().join("secrets.json"));
    let db = dir.path().join("journal.sqlite");
    // A shorter request expiry shortens the new leader's quiet period (expiry + clock
    // bound) so each short run trades; wider notional caps keep it trading after the
    // spread positions of earlier runs (the strategy exits only on a converged basis).
    let config = dir.path().join("fast.yaml");
    let yaml = propbot_engine::config::PAPER_YAML
        .replace("order_expiry_ms: 5000", "order_expiry_ms: 1000")
        .replace("per_symbol_usd: 1000", "per_symbol_usd: 100000")
        .replace("total_usd: 5000", "total_usd: 500000");
    std::fs::write(&config, yaml).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let c = http();
    let mut last_seq = 0;
    for run in 0..4 {
        let mut server = spawn(dir.path(), run, &["--config", &config]);
        server.wait_healthy(&c);
        // Every start is in HOLD, whatever the state before the crash.
        let o = server.get(&c, "/api/ui/status/overview");
        assert_eq!(o["mode"], "HOLD", "run {run}: {o}");
        assert_eq!(o["flags"]["safe_mode"], true);
        assert_eq!(
            o["epoch"],
            run as u64 + 1,
            "a new lease epoch at every start"
        );
        let health = server.get(&c, "/api/health");
        assert!(
            health["journal"]["committed_seq"].as_u64().unwrap() > last_seq,
            "the journal continues"
        );
        if run == 0 {
            // A second instance on the same data directory refuses to start.
            let second = Command::new(BIN)
                .args(["serve", "--data-dir"])
                .arg(dir.path())
                .args(["--listen", &format!("127.0.0.1:{}", free_port())])
                .output()
                .unwrap();
            assert!(!second.status.success());
            let err = String::from_utf8_lossy(&second.stderr);
            assert!(err.contains("another PropBot instance is running"), "{err}");
        }
        server.resume(&c);
        // Trade busily, reading what the server reports committed, then kill at a
        // random moment after the first fill of this run.
        let traded = Instant::now() + Duration::from_secs(20);
        while server.get(&c, "/api/ui/execution")["fills"]
            .as_u64()
            .unwrap()
            == 0
        {
            if Instant::now() > traded {
                // Not fatal for this run (a guard may hold it); the whole test still
                // requires intents and fills below.
                let o = server.get(&c, "/api/ui/status/overview");
                eprintln!(
                    "run {run} did not trade within 20 s: mode {} ({}), blockers {}",
                    o["mode"], o["hold"]["reason"], o["resume_blockers"]
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let kill_after = Duration::from_millis(300 + next(&mut rng) % 1700);
        let until = Instant::now() + kill_after;
        let mut reported = (0u64, String::new());
        while Instant::now() < until {
            let h = server.get(&c, "/api/health");
            reported = (
                h["journal"]["committed_seq"].as_u64().unwrap(),
                h["journal"]["head_hash"].as_str().unwrap().to_owned(),
            );
            std::thread::sleep(Duration::from_millis(next(&mut rng) % 40));
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let report =
            propbot_server::journal::verify(&db).unwrap_or_else(|e| panic!("run {run}: {e}"));
        assert!(
            report.head.seq >= reported.0,
            "run {run}: committed {} lost (head {})",
            reported.0,
            report.head.seq
        );
        assert_eq!(
            hash_at(&db, reported.0).as_deref(),
            Some(reported.1.as_str()),
            "run {run}: the reported record changed"
        );
        assert_eq!(report.records, report.head.seq, "contiguous from 1");
        last_seq = report.head.seq;
        assert_no_secrets_in(&server.log);
    }
    assert!(
        count_kind(&db, "order_intent") > 0,
        "the run traded: intents were journaled"
    );
    assert!(
        count_kind(&db, "fill") > 0,
        "the run traded: fills were journaled"
    );
    // The outbox holds exactly the journaled order intents, with their last state.
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let outbox: i64 = conn
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, count_kind(&db, "order_intent"));
    let settled: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE state != 'intent'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(settled > 0, "order updates reach the outbox");
    drop(conn);
    // A last start after the crashes, resumed, then stopped cleanly with SIGTERM:
    // HOLD by "shutdown", exit code 0, chain intact.
    let mut server = spawn(dir.path(), 9, &["--config", &config]);
    server.wait_healthy(&c);
    assert_eq!(server.get(&c, "/api/ui/status/overview")["mode"], "HOLD");
    server.resume(&c);
    std::thread::sleep(Duration::from_millis(500));
    let status = server.sigterm();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&server.log).unwrap()
    );
    let report = propbot_server::journal::verify(&db).unwrap();
    let events = propbot_server::journal::Reader::new(db.clone())
        .events(20)
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "control" && e.body["event"]["Control"]["actor"] == "shutdown"),
        "shutdown entered HOLD: {events:#?}"
    );
    assert!(report.head.seq > last_seq);
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("policy: cancel"),
        "the shutdown states its open-order policy: {log}"
    );
    assert_no_secrets_in(&server.log);
}

fn ctl(base: &str, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["ctl", "--base-url", base])
        .args(args)
        .env_remove("API_TOKEN");
    if let Some(t) = token {
        cmd.env("API_TOKEN", t);
    }
    cmd.output().unwrap()
}

#[test]
fn ctl_status_components_pause_resume_export_log() {
    let dir = tempfile::tempdir().unwrap();
    write_secrets(&dir.path().join("secrets.json"));
    let c = http();
    let mut server = spawn(dir.path(), 0, &[]);
    server.wait_healthy(&c);
    let out = ctl(&server.base, None, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("mode: HOLD") && text.contains("hold_active=true"),
        "{text}"
    );
    let out = ctl(&server.base, None, &["components"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("journal") && text.lines().count() > 20,
        "{text}"
    );
    let out = ctl(&server.base, None, &["pause"]);
    assert!(!out.status.success(), "pause needs a token");
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let out = ctl(&server.base, Some(ALICE), &["pause"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("HOLD"));
    let out = ctl(&server.base, Some(ALICE), &["resume"]);
    assert!(
        !out.status.success(),
        "RUN needs the two-man approval first"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_approved"));
    server.resume(&c);
    let out = ctl(&server.base, Some(BOB), &["pause"]);
    assert!(out.status.success());
    let out = ctl(
        &server.base,
        Some("--token-is-an-arg"),
        &["--token", AUDIT, "export-log", "--out"],
    );
    assert!(!out.status.success(), "export-log --out needs a path");
    let file = dir.path().join("events.json");
    let out = Command::new(BIN)
        .args([
            "ctl",
            "--base-url",
            &server.base,
            "--token",
            AUDIT,
            "export-log",
            "--limit",
            "100",
            "--out",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "control")
    );
    assert!(server.sigterm().success());
    assert_no_secrets_in(&server.log);
}

#[test]
fn serve_trades_on_a_recording_after_the_two_man_resume() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    let out = Command::new(BIN)
        .args([
            "recordings",
            "synth",
            "--seed",
            "5",
            "--duration",
            "40s",
            "-q",
        ])
        .args(["--windows-every-ms", "3000", "--out"])
        .arg(&rec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_secrets(&data.join("secrets.json"));
    let c = http();
    let rec_arg = rec.display().to_string();
    let mut server = spawn(&data, 0, &["--source", "recording", &rec_arg]);
    server.wait_healthy(&c);
    let state = server.get(&c, "/api/ui/state");
    let source = state["source"].as_str().unwrap_or_default().to_owned();
    assert!(
        source.starts_with("recording ") && source.contains(&rec_arg),
        "{state}"
    );
    // The books come from the recording: the resume blockers clear and it trades.
    server.resume(&c);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let h = server.get(&c, "/api/health");
        let events = h["engine"]["events"].as_u64().unwrap_or(0);
        let orders = server.get(&c, "/api/ui/execution");
        let sent = orders["orders"].as_array().map_or(0, |o| o.len());
        if events > 1_000 && sent > 0 {
            break;
        }
        assert!(
            Instant::now() < until,
            "no trading on the recording: events {events}, orders {orders}, overview {}, \
             opportunities {}",
            server.get(&c, "/api/ui/status/overview"),
            server.get(&c, "/api/opportunities")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.sigterm().success());
}

#[test]
fn start_up_refusals_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--source", "recording", "a.parquet", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--source recording") && err.contains("a.parquet"),
        "{err}"
    );
    let secrets = dir.path().join("secrets.json");
    write_secrets(&secrets);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        propbot_engine::config::PAPER_YAML
            .replace("clock_skew_guard_ms: 200", "clock_skew_guard_ms: -1"),
    )
    .unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--config",
        ])
        .arg(&bad)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clock_skew_guard_ms"));
}

#[test]
fn scenario_forwards_to_the_simulator_runner() {
    let args = ["run", "scenarios/none.yaml"];
    let out = Command::new(BIN)
        .arg("scenario")
        .args(args)
        .output()
        .unwrap();
    let argv = std::iter::once("scenario").chain(args);
    let cli = <propbot_sim::cli::ScenarioCli as clap::Parser>::parse_from(argv);
    let expected = propbot_sim::cli::run(cli.command);
    assert_eq!(out.status.code(), Some(expected));
}

#[test]
fn generated_tokens_are_announced_by_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = http();
    let mut server = spawn(dir.path(), 0, &[]);
    server.wait_healthy(&c);
    let secrets = propbot_server::secrets::Secrets::load(&dir.path().join("secrets.json")).unwrap();
    assert!(server.sigterm().success());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("secrets.json") && log.contains("/ui"), "{log}");
    for value in secrets.values() {
        assert!(!log.contains(&value), "a generated secret was printed");
    }
}
