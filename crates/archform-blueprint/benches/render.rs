//! Render + validate time of every embedded blueprint (target: under 50 ms
//! for the largest). Prints figures; asserts nothing, since these machines
//! are noisy. Run with `cargo bench -p archform-blueprint --bench render`.

use archform_blueprint::{StackRequest, catalog, compile};
use std::time::{Duration, Instant};

fn main() {
    let mut rows = Vec::new();
    for name in catalog::embedded_names() {
        let req = StackRequest {
            blueprint: Some(name.to_string()),
            stack: Some("bench".into()),
            ..Default::default()
        };
        // Warm up (first use builds regexes and the handlebars registry's caches).
        let graph = compile(&req).expect("embedded blueprints are valid");
        let resources = graph.resources.len();
        let mut samples: Vec<Duration> = (0..50)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(compile(&req).unwrap());
                t.elapsed()
            })
            .collect();
        samples.sort();
        rows.push((
            name,
            resources,
            samples[samples.len() / 2],
            samples[samples.len() * 9 / 10],
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    println!(
        "{:<16} {:>9} {:>12} {:>12}",
        "blueprint", "resources", "median", "p90"
    );
    for (name, n, median, p90) in &rows {
        println!(
            "{name:<16} {n:>9} {:>9.2} ms {:>9.2} ms",
            ms(*median),
            ms(*p90)
        );
    }
    if let Some((name, n, median, _)) = rows.first() {
        println!(
            "largest blueprint: {name} ({n} resources) renders and validates in {:.2} ms (target < 50 ms: {})",
            ms(*median),
            if ms(*median) < 50.0 { "met" } else { "NOT met" }
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
