//! Render + validate time of every embedded blueprint (target: under 50 ms
//! for the largest), then of generated blueprints of 1k to 16k resources
//! (`sqs.queue`s, then a mix of the kinds the validation passes relate),
//! with the time per resource: compile is meant to be linear in the
//! resource count, so that column should stay flat as the count doubles.
//! Prints figures; asserts nothing, since these machines are noisy. Run with
//! `cargo bench -p archform-blueprint --bench render`.

use archform_blueprint::{StackRequest, catalog, compile};
use std::time::{Duration, Instant};

fn main() {
    embedded();
    println!();
    generated();
}

fn embedded() {
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

/// Blueprints sized by their `count` parameter (see their comments).
const QUEUES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/benches/blueprints/queues.yaml"
);
const MIXED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/blueprints/mixed.yaml");

/// Stops doubling once one compile takes longer than this, so a regression
/// back to quadratic time shows in the figures without stalling CI.
const CHEAP: Duration = Duration::from_secs(2);

fn generated() {
    println!(
        "{:<16} {:>9} {:>12} {:>14} {:>10}",
        "generated", "resources", "median", "per resource", "vs first"
    );
    table("sqs.queue x N", QUEUES, 1, 0);
    // 12 resources per unit and 5 shared ones: 1,001 to 16,001 resources.
    table("mixed kinds", MIXED, 12, 5);
}

/// Compiles `blueprint` at 1k, 2k, 4k, 8k and 16k resources (`per_unit`
/// resources per `count`, plus `fixed`), printing the median time and the
/// time per resource, relative to the first size.
fn table(label: &str, blueprint: &str, per_unit: usize, fixed: usize) {
    let request = |units: usize| StackRequest {
        blueprint: Some(blueprint.to_string()),
        stack: Some("bench".into()),
        set: vec![format!("count={units}")],
        ..Default::default()
    };
    // Warm up, and make sure the blueprint is valid.
    compile(&request(2)).expect("the generated blueprint is valid");
    let mut first_per_resource = None;
    for resources in [1_000, 2_000, 4_000, 8_000, 16_000] {
        let req = request(resources / per_unit);
        let started = Instant::now();
        let count = compile(&req)
            .expect("the generated blueprint is valid")
            .resources
            .len();
        assert_eq!(count, resources / per_unit * per_unit + fixed);
        let once = started.elapsed();
        // Fewer samples for the bigger stacks: the figure is a trend, and
        // the whole table should take seconds.
        let runs = (8_000 / resources).clamp(3, 8);
        let mut samples: Vec<Duration> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(compile(&req).unwrap());
                t.elapsed()
            })
            .collect();
        samples.sort();
        let median = samples[samples.len() / 2];
        let per = median.as_secs_f64() * 1e6 / count as f64;
        let base = *first_per_resource.get_or_insert(per);
        println!(
            "{label:<16} {count:>9} {:>9.2} ms {:>11.2} us {:>9.2}x",
            ms(median),
            per,
            per / base
        );
        if once > CHEAP {
            println!("(stopping: one compile took {:.2} s)", once.as_secs_f64());
            break;
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
