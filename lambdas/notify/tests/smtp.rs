//! Email over SMTP: the built `notify serve` (memory store) sending
//! through a real SMTP server, aiosmtpd from a pinned Python venv (made
//! on first use under ~/.cache/archform/venvs, like the emulators'),
//! writing what it receives to a maildir: once in clear to 127.0.0.1, once
//! over implicit TLS (smtps) with the test CA's certificate, which the
//! provider must verify; and a relay that is down is retried.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::http;

const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// The venv with aiosmtpd, made once (in a temporary directory, then
/// renamed into place, so concurrent first uses do not collide).
fn venv() -> PathBuf {
    // Once per test process (tests run on threads of one process).
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = Path::new(&home)
        .join(".cache/archform/venvs")
        .join(AIOSMTPD.replace("==", "-"));
    if dir.join("bin/aiosmtpd").exists() {
        return dir;
    }
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let tmp = dir.parent().unwrap().join(format!(
        ".{}.tmp-{}",
        AIOSMTPD.replace("==", "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&tmp)
        .status()
        .unwrap()
        .success()
        && Command::new(tmp.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                AIOSMTPD,
            ])
            .status()
            .unwrap()
            .success();
    assert!(ok, "could not install {AIOSMTPD} into {}", tmp.display());
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test process got there first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running aiosmtpd writing to a maildir; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    fn start(tls: bool) -> SmtpServer {
        let venv = venv();
        let port = free_port();
        let maildir =
            std::env::temp_dir().join(format!("notify-smtp-{}-{port}", std::process::id()));
        let mut command = Command::new(venv.join("bin/python"));
        command
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"]);
        if tls {
            let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata");
            command
                .arg("--smtpscert")
                .arg(testdata.join("receiver.pem"))
                .arg("--smtpskey")
                .arg(testdata.join("receiver.key"));
        }
        let child = command
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The raw messages in the maildir.
    fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// `notify serve` with the memory store and `env`; killed when dropped.
struct Notify {
    child: Child,
    base: String,
}

impl Notify {
    fn start(env: &[(&str, String)]) -> Notify {
        let mut command = Command::new(env!("CARGO_BIN_EXE_notify"));
        command.args(["serve", "--port", "0"]);
        for (name, _) in std::env::vars() {
            if name.starts_with("NOTIFY_") || name.starts_with("AWS_") || name == "SSL_CERT_FILE" {
                command.env_remove(name);
            }
        }
        let mut child = command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("notify serve printed {line:?}"))
            .to_string();
        Notify { child, base }
    }

    /// Stores the template and ana's address, sends, and waits until the
    /// email channel leaves queued/sending (or reaches `until`).
    async fn send(&self, order: &str, until: &[&str]) -> Value {
        let answer = http::put_json(
            &format!("{}/v1/templates/shipped", self.base),
            &json!({"default_locale": "en", "locales": {"en": {"email": {
                "subject": "Order {{order}} shipped",
                "text": "Hi {{name}}, order {{order}} is on its way.",
                "html": "<p>Hi {{name}}, order <b>{{order}}</b></p>"
            }}}}),
        )
        .await;
        assert!(answer.status.is_success(), "{:?}", answer.json());
        let answer = http::put_json(
            &format!("{}/v1/users/ana/preferences", self.base),
            &json!({"email": "ana@example.com"}),
        )
        .await;
        assert!(answer.status.is_success(), "{:?}", answer.json());
        let answer = http::post_json(
            &format!("{}/v1/notifications", self.base),
            &json!({"user_id": "ana", "template": "shipped", "data": {"name": "Ana <&>", "order": order}}),
        )
        .await;
        assert_eq!(answer.status.as_u16(), 202, "{:?}", answer.json());
        let id = answer.json()["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let shown = http::get(&format!("{}/v1/notifications/{id}", self.base))
                .await
                .json();
            let status = shown["channels"]["email"]["status"].as_str().unwrap_or("");
            if until.contains(&status) {
                return shown;
            }
            assert!(
                matches!(status, "queued" | "sending" | "retrying"),
                "{shown}"
            );
            assert!(Instant::now() < deadline, "still {status}: {shown}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Notify {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(url: String) -> Vec<(&'static str, String)> {
    vec![
        ("NOTIFY_SMTP_URL", url),
        ("NOTIFY_EMAIL_FROM", "orders@example.com".into()),
    ]
}

fn assert_delivered(server: &SmtpServer, shown: &Value, order: &str) {
    assert_eq!(shown["channels"]["email"]["status"], "sent", "{shown}");
    let id = shown["id"].as_str().unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert!(
        m.contains(&format!("Subject: Order {order} shipped")),
        "{m}"
    );
    assert!(m.contains("To: ana@example.com"), "{m}");
    assert!(m.contains("From: orders@example.com"), "{m}");
    assert!(
        m.contains(&format!("Message-ID: <{id}@notify.archform>")),
        "{m}"
    );
    assert_eq!(
        shown["channels"]["email"]["provider_id"],
        json!(format!("<{id}@notify.archform>"))
    );
    assert!(m.contains("multipart/alternative"), "{m}");
    // The HTML part is escaped, the text part is not.
    assert!(m.contains("Hi Ana &lt;&amp;&gt;, order <b>"), "{m}");
    assert!(m.contains("Hi Ana <&>, order"), "{m}");
}

#[tokio::test]
async fn email_goes_out_through_a_real_smtp_server_in_clear_to_loopback() {
    let server = SmtpServer::start(false);
    let notify = Notify::start(&env(format!("smtp://127.0.0.1:{}", server.port)));
    let shown = notify.send("S-1", &["sent", "failed"]).await;
    assert_delivered(&server, &shown, "S-1");
}

#[tokio::test]
async fn email_goes_out_over_smtps_with_the_certificate_checked() {
    let server = SmtpServer::start(true);
    let url = format!("smtps://127.0.0.1:{}", server.port);
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata/ca.pem");
    let mut trusted = env(url.clone());
    trusted.push(("SSL_CERT_FILE", ca.display().to_string()));
    let notify = Notify::start(&trusted);
    let shown = notify.send("S-2", &["sent", "failed"]).await;
    assert_delivered(&server, &shown, "S-2");
    drop(notify);

    // Without the test CA the certificate is refused and nothing is sent.
    let notify = Notify::start(&env(url));
    let shown = notify.send("S-3", &["retrying", "failed"]).await;
    let reason = shown["channels"]["email"]["reason"].as_str().unwrap();
    assert!(reason.contains("SMTP"), "{shown}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_relay_that_is_down_is_retried_and_plain_smtp_elsewhere_is_refused() {
    let port = free_port();
    let notify = Notify::start(&env(format!("smtp://127.0.0.1:{port}")));
    let shown = notify.send("S-4", &["retrying"]).await;
    assert!(shown["channels"]["email"]["attempts"].as_u64().unwrap() >= 1);

    // A relay elsewhere without TLS: notify serve refuses to start.
    let out = Command::new(env!("CARGO_BIN_EXE_notify"))
        .args(["serve", "--port", "0"])
        .env("NOTIFY_SMTP_URL", "smtp://user:secret@smtp.example.com:587")
        .env("NOTIFY_EMAIL_FROM", "orders@example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("?tls=required"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}
