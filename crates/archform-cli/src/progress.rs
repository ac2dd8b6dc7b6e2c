//! Live progress of an apply. In a terminal: finished steps scroll above a
//! block of the steps in flight, each with its elapsed time, redrawn a few
//! times a second (like CDK and Terraform). Elsewhere: one plain line per
//! start and finish. With `--output json`: one JSON event per line on stderr.

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
    screen: Arc<Mutex<Screen>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(mode: Mode) -> Progress {
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
            screen,
            ticker,
        }
    }

    /// The callback the engine calls for every event.
    pub fn sink(&self) -> Arc<dyn Fn(Event) + Send + Sync> {
        let screen = self.screen.clone();
        let mode = self.mode;
        Arc::new(move |e: Event| match mode {
            Mode::Json => eprintln!("{}", serde_json::to_string(&e).unwrap_or_default()),
            Mode::Plain => eprintln!("{}", line(&e)),
            Mode::Live => {
                let mut s = screen.lock().unwrap_or_else(|e| e.into_inner());
                match &e {
                    Event::Started { id, kind, action } => {
                        s.in_flight.insert(
                            id.clone(),
                            (kind.name().to_string(), action, Instant::now()),
                        );
                    }
                    Event::Finished { id, .. } | Event::Failed { id, .. } => {
                        s.in_flight.shift_remove(id);
                        s.finished.push(line(&e));
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

fn line(e: &Event) -> String {
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
