//! `propbot ctl`: the operator CLI against a running service (the runbook's
//! `propbotctl`). The bearer token comes from `--token` or `API_TOKEN`; read commands
//! work without one where reads are open (paper on loopback).

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// Every request gives up after this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `propbot ctl` arguments.
#[derive(Args, Debug)]
pub struct CtlArgs {
    /// Base URL of the service.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub base_url: String,
    /// Bearer token (or set API_TOKEN).
    #[arg(long, env = "API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `propbot ctl` commands.
#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Overall status, mode, flags, alerts and what blocks a resume.
    Status,
    /// Status components as a table.
    Components,
    /// Enter HOLD (PATCH /api/ui/control {"mode": "HOLD"}).
    Pause,
    /// Leave HOLD (PATCH /api/ui/control {"mode": "RUN"}); needs a confirmed two-man request.
    Resume,
    /// Export journal events.
    ExportLog {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// json or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// Newest events to export.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base.trim_end_matches('/')));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let response = r
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let message = body["error"]["message"].as_str().unwrap_or("(no message)");
        let code = body["error"]["code"].as_str().unwrap_or("error");
        bail!("{status}: {code}: {message}")
    }

    async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.send(self.request(reqwest::Method::GET, path)).await?;
        Ok(r.json().await?)
    }
}

/// Runs one ctl command.
pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?,
        base: args.base_url,
        token: args.token.filter(|t| !t.is_empty()),
    };
    match args.command {
        CtlCommand::Status => print_status(&client.get_json("/api/ui/status/overview").await?),
        CtlCommand::Components => {
            print_components(&client.get_json("/api/ui/status/components").await?);
        }
        CtlCommand::Pause | CtlCommand::Resume => {
            let mode = if matches!(args.command, CtlCommand::Pause) {
                "HOLD"
            } else {
                "RUN"
            };
            let r = client
                .send(
                    client
                        .request(reqwest::Method::PATCH, "/api/ui/control")
                        .json(&json!({"mode": mode})),
                )
                .await?;
            let v: Value = r.json().await?;
            println!("{} (mode {})", s(&v["message"]), s(&v["mode"]));
        }
        CtlCommand::ExportLog { out, format, limit } => {
            let path = format!("/api/ui/events/export?format={format}&limit={limit}");
            let r = client
                .send(client.request(reqwest::Method::GET, &path))
                .await?;
            let body = r.bytes().await?;
            match out {
                Some(file) => {
                    std::fs::write(&file, &body)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    eprintln!("wrote {} bytes to {}", body.len(), file.display());
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(&body)?;
                }
            }
        }
    }
    Ok(())
}

fn print_status(o: &Value) {
    println!(
        "overall: {}   mode: {}   profile: {}",
        s(&o["overall"]),
        s(&o["mode"]),
        s(&o["profile"])
    );
    let f = &o["flags"];
    println!(
        "flags: hold_active={} safe_mode={} dry_run_mode={} two_man_rule={}",
        f["hold_active"], f["safe_mode"], f["dry_run_mode"], f["two_man_rule"]
    );
    let h = &o["hold"];
    println!(
        "hold: {} by {} since {}",
        s(&h["reason"]),
        s(&h["actor"]),
        s(&h["since"])
    );
    println!("scores: {}", o["scores"]);
    for b in o["resume_blockers"].as_array().into_iter().flatten() {
        println!("blocks resume: {}", s(b));
    }
    for a in o["alerts"].as_array().into_iter().flatten() {
        println!(
            "alert [{}] {}: {}",
            s(&a["severity"]),
            s(&a["component_id"]),
            s(&a["msg"])
        );
    }
}

fn print_components(c: &Value) {
    println!("{:<24} {:<5} {:<6} summary", "id", "group", "status");
    for c in c["components"].as_array().into_iter().flatten() {
        println!(
            "{:<24} {:<5} {:<6} {}",
            s(&c["id"]),
            s(&c["group"]),
            s(&c["status"]),
            s(&c["summary"])
        );
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
