//! Helpers the end-to-end tests share: a scratch folder, the built
//! `archform` binary, lambdas/testfn's binaries, and `archform dev` as a
//! background process. Each test file includes it with `mod support;` and
//! uses what it needs.
#![allow(dead_code)]

pub mod census;
pub mod kills;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder under the temp dir, unique to this test process.
pub fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("archform-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs the built `archform` in `dir`; functions named as `{package, bin}`
/// are built with the dev profile from this workspace.
pub fn archform(dir: &Path, args: &[&str]) -> Output {
    archform_env(dir, args, &[])
}

/// [`archform`] with extra environment variables.
pub fn archform_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(dir)
        .env("ARCHFORM_BUILD_PROFILE", "dev")
        .env("ARCHFORM_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

/// A lambdas/testfn binary from target/debug (built by `cargo build
/// --workspace --bins`, or here once when missing).
pub fn testfn(bin: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_BIN_EXE_archform")).parent().unwrap();
    let path = dir.join(bin);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "archform-testfn"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build -p archform-testfn failed");
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A stored zip with `bin` as `bootstrap`, written to `dir/zip`.
pub fn testfn_zip(dir: &Path, zip: &str, bin: &str) {
    let bytes = archform_testkit::zip::build(&[("bootstrap", &testfn(bin), 0o755)]);
    std::fs::write(dir.join(zip), bytes).unwrap();
}

/// `archform dev` in the background, from its JSON readiness line on;
/// interrupted (then killed) when dropped.
pub struct Dev {
    child: Child,
    pub ready: Value,
}

impl Dev {
    pub fn start(dir: &Path, stack: &str, endpoint: &str) -> Dev {
        Dev::start_with(dir, &["--stack", stack, "--endpoint", endpoint], &[])
    }

    /// `archform --output json dev ARGS --port 0` with extra environment
    /// variables (the target may come from the environment alone).
    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_archform"))
            .current_dir(dir)
            .args(["--output", "json", "dev", "--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| {
            panic!("the first stdout line is not the JSON readiness line ({e}): {line:?}")
        });
        assert_eq!(ready["event"], "ready", "{ready}");
        Dev { child, ready }
    }

    /// The process id of `archform dev`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The local URL of the first endpoint of `kind` (alb, websocket, ...).
    pub fn url(&self, kind: &str) -> String {
        self.ready["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .and_then(|e| e["url"].as_str())
            .unwrap_or_else(|| panic!("no {kind} endpoint in {}", self.ready))
            .to_string()
    }

    /// The local URL of the endpoint `id` (an ALB listener's logical id, ...).
    pub fn url_of(&self, id: &str) -> String {
        self.ready["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .and_then(|e| e["url"].as_str())
            .unwrap_or_else(|| panic!("no endpoint {id} in {}", self.ready))
            .to_string()
    }

    /// Ctrl-C, then the exit status (within 20 s).
    pub fn interrupt(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "archform dev did not stop within 20 s of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
