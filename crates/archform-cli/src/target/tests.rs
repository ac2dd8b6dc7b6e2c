//! Which target the flags, the environment and the emulators' state files
//! select. The daemons' status is injected, so these run without emulators.

use super::*;
use archform_emulator::daemon::{DaemonState, DaemonStatus};
use clap::Parser;
use std::collections::HashMap;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    target: TargetArgs,
}

fn args(flags: &[&str]) -> TargetArgs {
    Cmd::parse_from(std::iter::once("archform").chain(flags.iter().copied())).target
}

fn state(kind: EmulatorKind, port: u16) -> DaemonState {
    DaemonState {
        kind,
        pid: 4242,
        port,
        endpoint: format!("http://127.0.0.1:{port}"),
        log_path: "/cache/logs/daemon.log".into(),
        started_at_unix: 1_700_000_000,
        proc_start_ticks: Some(1),
    }
}

/// A status function for the given daemons: running ones by port, stale ones
/// with a reason, the rest not running.
fn daemons(
    running: &[(EmulatorKind, u16)],
    stale: &[EmulatorKind],
) -> impl Fn(EmulatorKind) -> archform_emulator::Result<DaemonStatus> {
    let running: HashMap<EmulatorKind, u16> = running.iter().copied().collect();
    let stale = stale.to_vec();
    move |kind| {
        Ok(match running.get(&kind) {
            Some(port) => DaemonStatus::Running(state(kind, *port)),
            None if stale.contains(&kind) => DaemonStatus::Stale {
                state: state(kind, 1),
                reason: "process 4242 is no longer running".into(),
            },
            None => DaemonStatus::NotRunning,
        })
    }
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| vars.get(k).cloned()
}

#[test]
fn local_uses_localstack_when_it_is_the_only_one_running() {
    let t = choose(
        &args(&["--local"]),
        env(&[]),
        daemons(&[(EmulatorKind::LocalStack, 4566)], &[]),
    )
    .unwrap();
    assert_eq!(
        t,
        Endpoint::Local {
            kind: EmulatorKind::LocalStack,
            url: "http://127.0.0.1:4566".into()
        }
    );
    assert!(
        t.note()
            .unwrap()
            .contains("LocalStack emulator at http://127.0.0.1:4566")
    );
}

#[test]
fn local_prefers_moto_when_both_run() {
    let t = choose(
        &args(&["--local"]),
        env(&[]),
        daemons(
            &[(EmulatorKind::LocalStack, 4566), (EmulatorKind::Moto, 5000)],
            &[],
        ),
    )
    .unwrap();
    assert_eq!(t.url(), Some("http://127.0.0.1:5000"));
    assert!(t.note().unwrap().contains("moto emulator"), "{t:?}");
}

#[test]
fn local_skips_a_stale_moto_for_a_running_localstack() {
    let t = choose(
        &args(&["--local"]),
        env(&[]),
        daemons(&[(EmulatorKind::LocalStack, 4566)], &[EmulatorKind::Moto]),
    )
    .unwrap();
    assert_eq!(t.url(), Some("http://127.0.0.1:4566"));
}

#[test]
fn local_with_nothing_running_says_how_to_start_one() {
    let e = choose(&args(&["--local"]), env(&[]), daemons(&[], &[])).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("archform emulator start"), "{msg}");
    assert!(msg.contains("--kind localstack"), "{msg}");
    let e = choose(
        &args(&["--local"]),
        env(&[]),
        daemons(&[], &[EmulatorKind::Moto]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("not answering: moto (process 4242 is no longer running)"),
        "{e}"
    );
}

#[test]
fn local_wins_over_the_environment_variable() {
    let t = choose(
        &args(&["--local"]),
        env(&[(ENDPOINT_ENV, "http://127.0.0.1:9999")]),
        daemons(&[(EmulatorKind::Moto, 5000)], &[]),
    )
    .unwrap();
    assert_eq!(t.url(), Some("http://127.0.0.1:5000"));
}

#[test]
fn the_environment_variable_is_an_endpoint_like_the_flag() {
    let t = choose(
        &args(&[]),
        env(&[(ENDPOINT_ENV, "http://127.0.0.1:4566")]),
        daemons(&[], &[]),
    )
    .unwrap();
    assert_eq!(t, Endpoint::Env("http://127.0.0.1:4566".into()));
    assert_eq!(t.url(), Some("http://127.0.0.1:4566"));
    assert!(t.note().unwrap().contains(ENDPOINT_ENV));
    // The flag names the endpoint explicitly and wins over the variable.
    let t = choose(
        &args(&["--endpoint", "http://127.0.0.1:1"]),
        env(&[(ENDPOINT_ENV, "http://127.0.0.1:4566")]),
        daemons(&[], &[]),
    )
    .unwrap();
    assert_eq!(t, Endpoint::Flag("http://127.0.0.1:1".into()));
    assert_eq!(t.note(), None);
}

#[test]
fn without_an_endpoint_it_is_aws() {
    for vars in [
        vec![],
        vec![(ENDPOINT_ENV, "")],
        vec![(ENDPOINT_ENV, "  ")],
        // The SDKs' own switch to ignore configured endpoints.
        vec![
            (ENDPOINT_ENV, "http://127.0.0.1:4566"),
            (IGNORE_ENDPOINTS_ENV, "true"),
        ],
        // A service's own endpoint is the SDK's business, not a target.
        vec![("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")],
    ] {
        let t = choose(&args(&[]), env(&vars), daemons(&[], &[])).unwrap();
        assert_eq!(t, Endpoint::Aws, "{vars:?}");
        assert_eq!(t.url(), None);
    }
    let t = choose(
        &args(&[]),
        env(&[
            (ENDPOINT_ENV, "http://127.0.0.1:4566"),
            (IGNORE_ENDPOINTS_ENV, "false"),
        ]),
        daemons(&[], &[]),
    )
    .unwrap();
    assert_eq!(t.url(), Some("http://127.0.0.1:4566"));
}
