//! The detached daemon's full life: start, idempotent start, status, stop.
//!
//! It runs against a private cache dir so it never touches a daemon the
//! developer (or `tests/run`) has running. This file holds exactly one test
//! because it changes the process environment.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use archform_emulator::daemon::{self, DaemonStatus, StartOutcome};
use archform_emulator::{EmulatorKind, PythonTool, endpoint_kind, ensure_venv};

#[test]
fn start_status_stop() {
    // Install (or find) moto in the real cache first, then share that venv
    // with the private cache dir through a symlink instead of reinstalling.
    let venv = ensure_venv(PythonTool::Moto).expect("moto venv");
    let private = std::env::temp_dir().join(format!("archform-daemon-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::create_dir_all(&private).unwrap();
    std::os::unix::fs::symlink(venv.parent().unwrap(), private.join("venvs")).unwrap();
    // SAFETY: this is the only test in this binary, so no other thread reads
    // the environment while it changes.
    unsafe { std::env::set_var("ARCHFORM_CACHE_DIR", &private) };

    assert_eq!(
        daemon::status(EmulatorKind::Moto).unwrap(),
        DaemonStatus::NotRunning
    );
    let started = daemon::start(EmulatorKind::Moto).expect("daemon starts");
    let StartOutcome::Started(state) = started else {
        panic!("expected a fresh start, got {started:?}");
    };
    let state_file = daemon::state_path(EmulatorKind::Moto).unwrap();
    assert!(state_file.is_file());
    assert_eq!(endpoint_kind(&state.endpoint), Some(EmulatorKind::Moto));
    // Detached: the daemon leads its own session.
    // SAFETY: getsid on a pid we just started.
    let sid = unsafe { libc::getsid(state.pid as libc::pid_t) };
    assert_eq!(
        sid, state.pid as libc::pid_t,
        "daemon is not a session leader"
    );

    let again = daemon::start(EmulatorKind::Moto).unwrap();
    assert_eq!(again, StartOutcome::AlreadyRunning(state.clone()));
    assert_eq!(
        daemon::status(EmulatorKind::Moto).unwrap(),
        DaemonStatus::Running(state.clone())
    );

    let stopped = daemon::stop(EmulatorKind::Moto).unwrap();
    assert_eq!(stopped.as_ref().map(|s| s.pid), Some(state.pid));
    assert!(!state_file.exists());
    assert!(gone(state.pid, Duration::from_secs(5)));
    assert_eq!(
        daemon::status(EmulatorKind::Moto).unwrap(),
        DaemonStatus::NotRunning
    );
    assert_eq!(daemon::stop(EmulatorKind::Moto).unwrap(), None);

    std::fs::remove_dir_all(&private).unwrap();
}

fn gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        // A zombie (stopped, not yet reaped) has an empty cmdline.
        let cmdline = PathBuf::from(format!("/proc/{pid}/cmdline"));
        if std::fs::read(cmdline).map_or(true, |bytes| bytes.is_empty()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
