//! A real headless Chromium driven over the Chrome DevTools Protocol, for
//! tests of the services' web pages: navigate, evaluate JavaScript in the
//! page, wait for a condition. Debian's `chromium` package provides the
//! browser (`tests/run` installs it).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error(
        "starting chromium: {0} (install Debian's `chromium` package: `sudo apt-get install -y chromium`)"
    )]
    Start(String),
    #[error("DevTools protocol: {0}")]
    Protocol(String),
    #[error("timed out after {0:?} waiting for `{1}`")]
    Timeout(Duration, String),
}

/// One browser process with one page; killed on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: Socket,
    session: String,
    next_id: u64,
}

/// The chromium executable: `ARCHFORM_CHROMIUM`, else `chromium` on PATH.
pub fn chromium_path() -> String {
    std::env::var("ARCHFORM_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

impl Browser {
    pub async fn launch() -> Result<Browser, BrowserError> {
        // One profile per browser: two browsers of one test (two users)
        // must not share one.
        static LAUNCHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "archform-chromium-{}-{}",
            std::process::id(),
            LAUNCHED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut child = Command::new(chromium_path())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BrowserError::Start(e.to_string()))?;
        // Chromium prints its DevTools address on stderr once listening.
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| BrowserError::Start("no stderr".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| BrowserError::Start("no DevTools address within 30 s".into()))?;
        let (socket, _) = tokio_tungstenite::connect_async(&url)
            .await
            .map_err(|e| BrowserError::Start(e.to_string()))?;
        let mut browser = Browser {
            child,
            profile,
            socket,
            session: String::new(),
            next_id: 0,
        };
        let target = browser
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = target["targetId"].as_str().unwrap_or_default().to_string();
        let attached = browser
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let session = browser.session.clone();
        browser
            .call(Some(&session), "Page.enable", json!({}))
            .await?;
        browser
            .call(Some(&session), "Runtime.enable", json!({}))
            .await?;
        Ok(browser)
    }

    /// One protocol command; events arriving meanwhile are skipped.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BrowserError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::Text(msg.to_string().into()))
            .await
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .map_err(|_| BrowserError::Timeout(Duration::from_secs(30), method.to_string()))?
                .ok_or_else(|| BrowserError::Protocol("the browser closed the connection".into()))?
                .map_err(|e| BrowserError::Protocol(e.to_string()))?;
            let Message::Text(text) = frame else { continue };
            let v: Value =
                serde_json::from_str(&text).map_err(|e| BrowserError::Protocol(e.to_string()))?;
            if v["id"].as_u64() != Some(id) {
                continue;
            }
            if let Some(err) = v.get("error") {
                return Err(BrowserError::Protocol(format!("{method}: {err}")));
            }
            return Ok(v["result"].clone());
        }
    }

    pub async fn navigate(&mut self, url: &str) -> Result<(), BrowserError> {
        let session = self.session.clone();
        let r = self
            .call(Some(&session), "Page.navigate", json!({"url": url}))
            .await?;
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Protocol(format!("navigating to {url}: {e}")));
        }
        self.wait_for(
            "document.readyState === 'complete'",
            Duration::from_secs(15),
        )
        .await
    }

    /// Evaluates an expression in the page (promises awaited) and returns
    /// its value; a thrown exception is an error.
    pub async fn eval(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let session = self.session.clone();
        let r = self
            .call(
                Some(&session),
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(BrowserError::Protocol(format!(
                "`{expression}` threw: {ex}"
            )));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Polls a boolean expression until it is true.
    pub async fn wait_for(
        &mut self,
        condition: &str,
        timeout: Duration,
    ) -> Result<(), BrowserError> {
        let until = Instant::now() + timeout;
        loop {
            // A navigation in progress can destroy the context mid-call.
            if let Ok(Value::Bool(true)) = self.eval(condition).await {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(BrowserError::Timeout(timeout, condition.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
