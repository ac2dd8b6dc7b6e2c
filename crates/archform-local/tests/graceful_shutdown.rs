//! Shutdown like Lambda's: a process that registered an extension (as
//! `lambda_runtime`'s graceful-shutdown helper does) gets SIGTERM and a
//! grace period from `LocalFunction::stop`; any other is killed at once.
//!
//! The bootstrap is a small Python program written by the test: it
//! registers an extension over the Extensions API, long-polls its events
//! on a thread, handles SIGTERM by writing a marker file, and serves the
//! Runtime API loop.

use archform_local::{FunctionConfig, LocalFunction, SHUTDOWN_GRACE};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BOOTSTRAP: &str = r#"#!/usr/bin/env python3
import json, os, signal, threading, urllib.request

api = os.environ["AWS_LAMBDA_RUNTIME_API"]
marker = os.environ["MARKER"]
mode = os.environ["MODE"]

def on_sigterm(signum, frame):
    with open(marker, "w") as f:
        f.write("SIGTERM")
    print("bootstrap: SIGTERM received, cleaned up", flush=True)
    os._exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "ignore-sigterm" else on_sigterm)

if mode != "no-extension":
    register = urllib.request.Request(
        f"http://{api}/2020-01-01/extension/register",
        data=json.dumps({"events": []}).encode(),
        headers={"Lambda-Extension-Name": "graceful-shutdown-helper"},
        method="POST",
    )
    with urllib.request.urlopen(register) as r:
        ext_id = r.headers["Lambda-Extension-Identifier"]
        info = json.load(r)
    print(f"bootstrap: registered {ext_id} for {info['functionName']}", flush=True)

    def poll():
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"http://{api}/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": ext_id},
            ))
        except Exception:
            pass

    threading.Thread(target=poll, daemon=True).start()

while True:
    with urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    answer = json.dumps({"echo": event, "mode": mode}).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"http://{api}/2018-06-01/runtime/invocation/{request_id}/response",
        data=answer,
        method="POST",
    )).read()
"#;

fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh folder with the bootstrap, and the marker path it writes.
fn function(mode: &str) -> (LocalFunction, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "archform-local-shutdown-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let bootstrap = dir.join("bootstrap");
    std::fs::write(&bootstrap, BOOTSTRAP).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let marker = dir.join("sigterm-marker");
    let mut config = FunctionConfig::new(&bootstrap, format!("shutdown-{mode}"));
    config
        .environment
        .push(("MARKER".into(), marker.display().to_string()));
    config.environment.push(("MODE".into(), mode.into()));
    (LocalFunction::new(config), marker, dir)
}

async fn warm_up(f: &mut LocalFunction, mode: &str) {
    let out = f
        .invoke(json!({"n": 1}), Duration::from_secs(10))
        .await
        .unwrap();
    let r = out
        .response()
        .unwrap_or_else(|| panic!("not a response: {out:?}"));
    assert_eq!(r["echo"], json!({"n": 1}));
    assert_eq!(r["mode"], mode);
    assert!(f.is_warm());
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sigterm_reaches_a_process_that_registered_an_extension() {
    // python3 is a requirement of the test machine (the emulators are
    // Python): missing, this is a failure, not a skip.
    assert!(python_available(), "python3 is not installed");
    let (mut f, marker, dir) = function("graceful");
    warm_up(&mut f, "graceful").await;
    let logs = f.stop().await;
    assert!(
        marker.exists(),
        "the SIGTERM handler did not run; logs:\n{logs}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(!f.is_warm());
    cleanup(&dir);
}

#[tokio::test]
async fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
    // python3 is a requirement of the test machine (the emulators are
    // Python): missing, this is a failure, not a skip.
    assert!(python_available(), "python3 is not installed");
    let (mut f, marker, dir) = function("ignore-sigterm");
    warm_up(&mut f, "ignore-sigterm").await;
    let started = Instant::now();
    let logs = f.stop().await;
    let took = started.elapsed();
    assert!(
        took >= SHUTDOWN_GRACE - Duration::from_millis(20),
        "killed after {took:?}, before the {SHUTDOWN_GRACE:?} grace period"
    );
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    assert!(!marker.exists(), "{logs}");
    // The next invoke starts a new process.
    warm_up(&mut f, "ignore-sigterm").await;
    f.stop().await;
    cleanup(&dir);
}

#[tokio::test]
async fn without_an_extension_the_process_is_killed_without_sigterm() {
    // python3 is a requirement of the test machine (the emulators are
    // Python): missing, this is a failure, not a skip.
    assert!(python_available(), "python3 is not installed");
    let (mut f, marker, dir) = function("no-extension");
    warm_up(&mut f, "no-extension").await;
    let logs = f.stop().await;
    assert!(
        !marker.exists(),
        "a process without extensions got SIGTERM; logs:\n{logs}"
    );
    cleanup(&dir);
}
