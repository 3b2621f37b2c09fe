//! The dashboard in a real headless Chromium, driven over the DevTools protocol:
//! the page loads, components render and update live, an operator triggers HOLD from
//! the page, and a screenshot is saved. Needs Debian's `chromium` (`.ci/run`
//! installs it); without it this test fails and says so.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn chromium_path() -> String {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return p;
    }
    for candidate in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {candidate}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return candidate.to_owned();
        }
    }
    panic!(
        "the dashboard test needs a headless Chromium: install chromium (apt-get install chromium) or run .ci/run"
    );
}

struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch() -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium_path())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
            "--window-size=1400,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts (install chromium or run .ci/run)");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("DevTools listening on ").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let ws_url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("chromium announces its DevTools endpoint");
    Browser {
        child,
        _profile: profile,
        ws_url,
    }
}

struct Cdp {
    socket: Socket,
    next_id: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            self.socket.send(Message::Text(msg.to_string().into())),
        )
        .await
        .expect("CDP send in time")
        .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("CDP {method} answered in time"))
                .unwrap()
                .unwrap();
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    async fn wait(&mut self, what: &str, expression: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if self.eval(expression).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {what} ({expression})");
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64"),
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(value(c))).collect();
        let n = v
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, x)| acc | x << (18 - 6 * i));
        out.push((n >> 16) as u8);
        if v.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if v.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_status_and_holds_from_the_page() {
    let h = start(Mode::OpenRead).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    h.resume().await;

    let browser = launch();
    let (socket, _) = tokio_tungstenite::connect_async(&browser.ws_url)
        .await
        .unwrap();
    let mut cdp = Cdp {
        socket,
        next_id: 0,
        session: None,
    };
    let target = cdp
        .call(
            "Target.createTarget",
            json!({"url": format!("http://{addr}/ui?lang=ru")}),
        )
        .await;
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    cdp.session = Some(attached["sessionId"].as_str().unwrap().to_owned());

    // The page loads and renders the P0 components, in Russian, live over the stream.
    cdp.wait(
        "components",
        "document.querySelectorAll('#components tbody tr').length >= 5",
    )
    .await;
    cdp.wait(
        "a connected stream",
        "document.getElementById('ws').textContent === 'подключено'",
    )
    .await;
    assert_eq!(
        cdp.eval("document.getElementById('mode').textContent")
            .await,
        "RUN"
    );
    let text = cdp.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Статус системы") && text.contains("Журнал/Outbox"),
        "{text}"
    );
    let first = cdp.eval("document.getElementById('ts').textContent").await;
    cdp.wait(
        "a status update",
        &format!("document.getElementById('ts').textContent !== {first}"),
    )
    .await;
    // The P1 tab switches the component list.
    cdp.eval("document.querySelector('#tabs button[data-group=\"P1\"]').click(); true")
        .await;
    cdp.wait(
        "P1 components",
        "!!document.querySelector('#components tr[data-id=\"live_readiness\"]')",
    )
    .await;

    // An operator pastes a token and presses HOLD.
    cdp.eval(&format!(
        "(() => {{ const t = document.getElementById('token'); t.value = '{ALICE}'; \
         t.dispatchEvent(new Event('change')); document.getElementById('reason').value = 'from the dashboard'; \
         document.getElementById('btn-hold').click(); return true; }})()"
    ))
    .await;
    cdp.wait(
        "HOLD",
        "document.getElementById('mode').textContent === 'HOLD'",
    )
    .await;
    let o = h.get("/api/ui/status/overview").await;
    assert_eq!(o["mode"], "HOLD");
    assert_eq!(o["hold"]["actor"], "alice");
    assert_eq!(o["hold"]["reason"], "from the dashboard");
    cdp.wait(
        "the HOLD reason",
        "document.getElementById('hold-reason').textContent.includes('from the dashboard')",
    )
    .await;

    let shot = cdp
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("dashboard screenshot: {}", path.display());
    drop(browser);
    server.abort();
    h.stop().await;
}
