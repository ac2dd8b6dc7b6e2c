//! Local cold start of a function: process start to first response, median
//! of 30 runs, next to the warm invoke time in the same run. Prints figures
//! (not a timed test).
//!
//!     cargo build -p archform-testfn && cargo run -p archform-local --example cold_start [BOOTSTRAP]

use archform_local::{FunctionConfig, LocalFunction};
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let bootstrap = std::env::args().nth(1).map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            // target/debug/examples/cold_start -> target/debug/testfn-echo
            exe.parent().unwrap().parent().unwrap().join("testfn-echo")
        },
        Into::into,
    );
    assert!(
        bootstrap.exists(),
        "{} missing: cargo build -p archform-testfn",
        bootstrap.display()
    );
    let mut f = LocalFunction::new(FunctionConfig::new(&bootstrap, "cold-start"));
    let (mut cold, mut init, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..30 {
        let t = Instant::now();
        let out = f
            .invoke(serde_json::json!({"i": i}), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(out.response().is_some(), "{out:?}");
        cold.push(t.elapsed());
        init.push(out.init_duration.unwrap());
        let t = Instant::now();
        f.invoke(serde_json::json!({"i": i}), Duration::from_secs(5))
            .await
            .unwrap();
        warm.push(t.elapsed());
        f.stop().await;
    }
    println!("bootstrap: {}", bootstrap.display());
    println!(
        "cold start (process start to first response), median of 30: {:.2} ms (target < 20 ms); init {:.2} ms; warm invoke {:.2} ms",
        median(cold),
        median(init),
        median(warm)
    );
}
