//! Killing a run of the built binary at a moment the test can prove: while
//! the fault proxy holds one of its AWS calls (see `FaultProxy::hold`), so
//! the run is certainly mid-deploy, waiting on that call, when SIGKILL
//! lands. And reading what the killed run left: its journal and the state
//! the next run will load.

use archform_engine::state::{LocalBackend, ResourceStatus, State};
use archform_testkit::{Held, HeldCall};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Runs `archform args` in `dir` and SIGKILLs it as soon as `held`
/// resolves; panics if it exits first (the call was never made, so the
/// kill would not have been mid-deploy) or no call is held in 3 minutes.
pub async fn run_killed_when_held(
    dir: &Path,
    args: &[String],
    held: HeldCall,
    label: &str,
) -> Held {
    use std::os::unix::process::ExitStatusExt;
    let stderr = std::fs::File::create(dir.join("killed-run.stderr")).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let limit = Duration::from_secs(180);
    let outcome = tokio::time::timeout(limit, async {
        tokio::select! {
            h = held.held() => Ok(h),
            status = child.wait() => Err(status),
        }
    })
    .await;
    let said = || std::fs::read_to_string(dir.join("killed-run.stderr")).unwrap_or_default();
    let held = match outcome {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => panic!("{label}: the hold was dropped before the call came"),
        Ok(Err(status)) => panic!(
            "{label}: the run ended ({status:?}) before making the call to hold:\n{}",
            said()
        ),
        Err(_) => panic!("{label}: no call held within {limit:?}:\n{}", said()),
    };
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "{label}: the run was still going when killed (not exited by itself): {status:?}\n{}",
        said()
    );
    held
}

/// The journal's records (JSON lines), oldest first; empty without one.
pub fn journal(dir: &Path, stack: &str) -> Vec<Value> {
    let path = dir.join(format!(".archform/state/{stack}.journal"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The state the next run loads (the last whole state, journal replayed).
pub fn stored(dir: &Path, stack: &str) -> State {
    LocalBackend::new(dir.join(".archform/state"))
        .load_sync(stack)
        .unwrap_or_else(|e| panic!("loading the state of `{stack}`: {e}"))
        .unwrap_or_else(|| panic!("no state for `{stack}`"))
}

/// Ids the stored state says have an AWS call in flight.
pub fn in_flight(dir: &Path, stack: &str) -> Vec<(String, ResourceStatus)> {
    stored(dir, stack)
        .resources
        .iter()
        .filter(|(_, r)| r.status.in_flight())
        .map(|(id, r)| (id.clone(), r.status))
        .collect()
}
