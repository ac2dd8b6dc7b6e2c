//! `archform emulator start|stop|status|endpoint`: a local AWS emulator that
//! keeps running between commands, so a developer or a test script can
//! `export AWS_ENDPOINT_URL=$(archform emulator endpoint)`.

use anyhow::Result;
use archform_emulator::EmulatorKind;
use archform_emulator::daemon::{self, DaemonState, DaemonStatus, StartOutcome};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    #[command(subcommand)]
    cmd: EmulatorCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EmulatorCommand {
    /// Start a detached emulator on a free loopback port (installs it on first use).
    /// Does nothing but report it if one is already running.
    Start(KindArg),
    /// Stop the running emulator.
    Stop(KindArg),
    /// Show whether the emulator is running and healthy (exit code 1 if not).
    Status(KindArg),
    /// Print only the emulator's endpoint URL (exit code 1 if none is running).
    Endpoint(KindArg),
}

#[derive(Debug, clap::Args)]
struct KindArg {
    /// Which emulator.
    #[arg(long, value_enum, default_value_t = Kind::Moto)]
    kind: Kind,
}

/// Mirrors [`EmulatorKind`] for clap (archform-emulator does not depend on clap).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Kind {
    /// moto server 5.2.5: widest service coverage.
    Moto,
    /// LocalStack 4.12.0 community edition in host mode.
    #[value(name = "localstack")]
    LocalStack,
}

impl From<Kind> for EmulatorKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Moto => Self::Moto,
            Kind::LocalStack => Self::LocalStack,
        }
    }
}

/// Runs an `archform emulator` subcommand; returns the process exit code.
pub fn run(args: &EmulatorArgs, json: bool) -> Result<i32> {
    match &args.cmd {
        EmulatorCommand::Start(arg) => start(arg.kind.into(), json),
        EmulatorCommand::Stop(arg) => stop(arg.kind.into(), json),
        EmulatorCommand::Status(arg) => status(arg.kind.into(), json),
        EmulatorCommand::Endpoint(arg) => endpoint(arg.kind.into(), json),
    }
}

fn start(kind: EmulatorKind, json: bool) -> Result<i32> {
    let outcome = daemon::start(kind)?;
    let (word, state) = match &outcome {
        StartOutcome::Started(state) => ("started", state),
        StartOutcome::AlreadyRunning(state) => ("already_running", state),
    };
    if json {
        let mut doc = state_json(state);
        doc["status"] = json!(word);
        println!("{doc}");
    } else {
        let verb = match outcome {
            StartOutcome::Started(_) => "started",
            StartOutcome::AlreadyRunning(_) => "already running",
        };
        println!(
            "{kind} {verb} at {} (pid {}, log {})",
            state.endpoint,
            state.pid,
            state.log_path.display()
        );
        println!("  export AWS_ENDPOINT_URL={}", state.endpoint);
    }
    Ok(0)
}

fn stop(kind: EmulatorKind, json: bool) -> Result<i32> {
    let stopped = daemon::stop(kind)?;
    if json {
        let doc = match &stopped {
            Some(state) => {
                let mut doc = state_json(state);
                doc["status"] = json!("stopped");
                doc
            }
            None => json!({ "kind": kind, "status": "not_running" }),
        };
        println!("{doc}");
    } else {
        match &stopped {
            Some(state) => println!("{kind} stopped (pid {})", state.pid),
            None => println!("{kind} was not running"),
        }
    }
    Ok(0)
}

fn status(kind: EmulatorKind, json: bool) -> Result<i32> {
    let status = daemon::status(kind)?;
    if json {
        let doc = match &status {
            DaemonStatus::Running(state) => {
                let mut doc = state_json(state);
                doc["status"] = json!("running");
                doc["uptime_secs"] = json!(state.uptime_secs());
                doc
            }
            DaemonStatus::NotRunning => json!({ "kind": kind, "status": "not_running" }),
            DaemonStatus::Stale { state, reason } => {
                let mut doc = state_json(state);
                doc["status"] = json!("stale");
                doc["reason"] = json!(reason);
                doc
            }
        };
        println!("{doc}");
    } else {
        match &status {
            DaemonStatus::Running(state) => println!(
                "{kind} is running at {} (pid {}, up {}, log {})",
                state.endpoint,
                state.pid,
                human_duration(state.uptime_secs()),
                state.log_path.display()
            ),
            DaemonStatus::NotRunning => println!("{kind} is not running"),
            DaemonStatus::Stale { state, reason } => println!(
                "{kind} is not running: {reason} (log {}); `archform emulator start --kind {kind}` replaces it",
                state.log_path.display()
            ),
        }
    }
    Ok(if matches!(status, DaemonStatus::Running(_)) {
        0
    } else {
        1
    })
}

fn endpoint(kind: EmulatorKind, json: bool) -> Result<i32> {
    match daemon::status(kind)? {
        DaemonStatus::Running(state) => {
            if json {
                println!("{}", json!({ "kind": kind, "endpoint": state.endpoint }));
            } else {
                println!("{}", state.endpoint);
            }
            Ok(0)
        }
        DaemonStatus::NotRunning | DaemonStatus::Stale { .. } => {
            // stderr, so `$(archform emulator endpoint)` captures nothing.
            eprintln!(
                "archform: no {kind} emulator is running; start one with \
                 `archform emulator start --kind {kind}`"
            );
            if json {
                println!(
                    "{}",
                    json!({ "kind": kind, "endpoint": null, "status": "not_running" })
                );
            }
            Ok(1)
        }
    }
}

fn state_json(state: &DaemonState) -> serde_json::Value {
    json!({
        "kind": state.kind,
        "endpoint": state.endpoint,
        "port": state.port,
        "pid": state.pid,
        "log": state.log_path,
        "started_at_unix": state.started_at_unix,
    })
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    #[test]
    fn kind_defaults_to_moto_and_accepts_localstack() {
        let cli = Cli::try_parse_from(["x", "status"]).unwrap();
        assert!(matches!(
            cli.args.cmd,
            EmulatorCommand::Status(KindArg { kind: Kind::Moto })
        ));
        let cli = Cli::try_parse_from(["x", "start", "--kind", "localstack"]).unwrap();
        assert!(matches!(
            cli.args.cmd,
            EmulatorCommand::Start(KindArg {
                kind: Kind::LocalStack
            })
        ));
        assert!(Cli::try_parse_from(["x", "start", "--kind", "docker"]).is_err());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(65), "1m05s");
        assert_eq!(human_duration(7322), "2h02m");
    }
}
