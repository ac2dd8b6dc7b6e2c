//! Live progress of an apply. In a terminal: finished steps scroll above a
//! block of the steps in flight, each with its elapsed time, redrawn a few
//! times a second (like CDK and Terraform). Elsewhere: one plain line per
//! start and finish. With `--output json`: one JSON event per line on stderr.
//!
//! A step the endpoint cannot do (an operation an emulator lacks) shows as
//! `skipped` against an emulator, where it does not fail the run, and as
//! `FAILED` against AWS, where it does.

use archform_engine::apply::Event;
use indexmap::IndexMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
    Json,
}

impl Mode {
    pub fn detect(json: bool) -> Mode {
        if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Mode::Live
        } else {
            Mode::Plain
        }
    }
}

#[derive(Default)]
struct Screen {
    in_flight: IndexMap<String, (String, &'static str, Instant)>,
    /// Lines printed since the last redraw, to scroll above the live block.
    finished: Vec<String>,
    /// How many live lines are on screen now (to erase them).
    drawn: usize,
}

pub struct Progress {
    mode: Mode,
    /// The target is an emulator: unsupported steps are skips, not failures.
    emulator: bool,
    screen: Arc<Mutex<Screen>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(mode: Mode, emulator: bool) -> Progress {
        let screen = Arc::new(Mutex::new(Screen::default()));
        let ticker = (mode == Mode::Live).then(|| {
            let screen = screen.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    redraw(&mut screen.lock().unwrap_or_else(|e| e.into_inner()));
                }
            })
        });
        Progress {
            mode,
            emulator,
            screen,
            ticker,
        }
    }

    /// The callback the engine calls for every event.
    pub fn sink(&self) -> Arc<dyn Fn(Event) + Send + Sync> {
        let screen = self.screen.clone();
        let mode = self.mode;
        let emulator = self.emulator;
        Arc::new(move |e: Event| match mode {
            Mode::Json => eprintln!("{}", json_line(&e, emulator)),
            Mode::Plain => eprintln!("{}", line(&e, emulator)),
            Mode::Live => {
                let mut s = screen.lock().unwrap_or_else(|e| e.into_inner());
                match &e {
                    Event::Started { id, kind, action } => {
                        s.in_flight.insert(
                            id.clone(),
                            (kind.name().to_string(), action, Instant::now()),
                        );
                    }
                    Event::Finished { id, .. }
                    | Event::Failed { id, .. }
                    | Event::Unsupported { id, .. } => {
                        s.in_flight.shift_remove(id);
                        s.finished.push(line(&e, emulator));
                    }
                }
            }
        })
    }

    /// Draws the final state and stops redrawing.
    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if self.mode == Mode::Live {
            redraw(&mut self.screen.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
}

/// The JSON event: the engine's, except that an unsupported step is a
/// `skipped` event against an emulator and a `failed` one against AWS. The
/// engine's reason already says what the endpoint lacks ("the endpoint does
/// not support apigateway:CreateDeployment: ...").
fn json_line(e: &Event, emulator: bool) -> String {
    let value = match e {
        Event::Unsupported { id, action, reason } if emulator => serde_json::json!({
            "event": "skipped", "id": id, "action": action, "reason": reason,
        }),
        Event::Unsupported { id, action, reason } => serde_json::json!({
            "event": "failed", "id": id, "action": action, "error": reason,
        }),
        other => serde_json::to_value(other).unwrap_or_default(),
    };
    value.to_string()
}

fn line(e: &Event, emulator: bool) -> String {
    match e {
        Event::Started { id, kind, action } => {
            format!("  {:<9} {id} ({kind})", format!("{action}…"))
        }
        Event::Finished {
            id,
            action,
            seconds,
        } => format!("  done      {id} {action} in {seconds:.1}s"),
        Event::Failed { id, action, error } => format!("  FAILED    {id} {action}: {error}"),
        Event::Unsupported { id, action, reason } => format!(
            "  {:<9} {id} {action}: {reason}",
            if emulator { "skipped" } else { "FAILED" },
        ),
    }
}

fn redraw(s: &mut Screen) {
    let mut out = String::new();
    // Move up over the previous live block and clear to the end of screen.
    if s.drawn > 0 {
        out.push_str(&format!("\x1b[{}A", s.drawn));
    }
    out.push_str("\x1b[J");
    for l in s.finished.drain(..) {
        out.push_str(&l);
        out.push('\n');
    }
    for (id, (kind, action, started)) in &s.in_flight {
        out.push_str(&format!(
            "  {:<9} {id} ({kind}) {:>5.1}s\n",
            format!("{action}…"),
            started.elapsed().as_secs_f64()
        ));
    }
    s.drawn = s.in_flight.len();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported_event() -> Event {
        Event::Unsupported {
            id: "api_deployment".into(),
            action: "create",
            reason: "the endpoint does not support apigateway:CreateDeployment: 404".into(),
        }
    }

    #[test]
    fn an_unsupported_step_is_skipped_on_an_emulator() {
        let l = line(&unsupported_event(), true);
        assert!(l.starts_with("  skipped   api_deployment create: "), "{l}");
        assert!(!l.contains("FAILED"), "{l}");
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&unsupported_event(), true)).expect("one JSON value");
        assert_eq!(j["event"], "skipped", "{j}");
        assert_eq!(j["id"], "api_deployment", "{j}");
        assert!(
            j["reason"].as_str().unwrap().contains("CreateDeployment"),
            "{j}"
        );
    }

    #[test]
    fn an_unsupported_step_fails_against_aws() {
        let l = line(&unsupported_event(), false);
        assert!(l.starts_with("  FAILED    api_deployment create: "), "{l}");
        let j: serde_json::Value =
            serde_json::from_str(&json_line(&unsupported_event(), false)).unwrap();
        assert_eq!(j["event"], "failed", "{j}");
        assert!(
            j["error"].as_str().unwrap().contains("does not support"),
            "{j}"
        );
    }

    #[test]
    fn other_events_keep_the_engine_shape() {
        let e = Event::Failed {
            id: "t".into(),
            action: "create",
            error: "AccessDenied".into(),
        };
        assert_eq!(line(&e, true), "  FAILED    t create: AccessDenied");
        let j: serde_json::Value = serde_json::from_str(&json_line(&e, true)).unwrap();
        assert_eq!(j["event"], "failed");
        assert_eq!(j["error"], "AccessDenied");
    }
}
