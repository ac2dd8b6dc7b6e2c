//! Owned emulators must never outlive their owner: neither the value nor the
//! process. These tests start real moto servers (installing moto on first use).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use archform_emulator::{EmulatorKind, OwnedEmulator, endpoint_kind};

/// Set in the child process that plays the owner in `dies_with_its_owner_process`.
const HELPER_ENV: &str = "ARCHFORM_EMULATOR_OWNER_HELPER";

fn is_running(pid: u32) -> bool {
    // A zombie has no cmdline; kill(0) alone would call it alive.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn killed_when_the_value_drops() {
    let emulator = OwnedEmulator::start(EmulatorKind::Moto).expect("moto starts");
    let pid = emulator.pid();
    assert_eq!(endpoint_kind(emulator.endpoint()), Some(EmulatorKind::Moto));
    assert!(emulator.log_path().is_file());
    drop(emulator);
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "moto {pid} survived drop"
    );
}

/// Not a test of its own: the owner process for `dies_with_its_owner_process`.
#[test]
#[ignore = "helper, run by dies_with_its_owner_process"]
fn owner_helper() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    // Start from a short-lived thread on purpose: PR_SET_PDEATHSIG follows the
    // spawning thread, and this thread is gone long before the process.
    let emulator = std::thread::spawn(|| OwnedEmulator::start(EmulatorKind::Moto))
        .join()
        .unwrap()
        .expect("moto starts");
    println!("EMULATOR_PID {}", emulator.pid());
    std::thread::sleep(Duration::from_secs(2));
    // Still alive after its spawning thread ended?
    println!("ALIVE_AFTER_THREAD_EXIT {}", is_running(emulator.pid()));
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn dies_with_its_owner_process() {
    let mut owner = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "owner_helper", "--ignored", "--nocapture"])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(owner.stdout.take().unwrap()).lines();
    let mut value_of = |key: &str| -> String {
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(value) = line.strip_prefix(key) {
                return value.trim().to_owned();
            }
        }
        panic!("owner helper exited before printing {key}");
    };
    let pid: u32 = value_of("EMULATOR_PID").parse().unwrap();
    assert_eq!(
        value_of("ALIVE_AFTER_THREAD_EXIT"),
        "true",
        "the emulator died with the thread that started it"
    );
    owner.kill().unwrap(); // SIGKILL: no destructor runs in the owner.
    owner.wait().unwrap();
    assert!(
        wait_gone(pid, Duration::from_secs(5)),
        "moto {pid} outlived its owner process"
    );
}

#[test]
fn localstack_starts_and_stops() {
    // Installs LocalStack's pinned venv on first use (minutes); tests/run
    // installs it before the tests anyway.
    let emulator = OwnedEmulator::start(EmulatorKind::LocalStack).expect("LocalStack starts");
    let pid = emulator.pid();
    assert_eq!(
        endpoint_kind(emulator.endpoint()),
        Some(EmulatorKind::LocalStack)
    );
    drop(emulator);
    assert!(wait_gone(pid, Duration::from_secs(5)));
}
