//! `archform graph`: dependency layers, i.e. what can be created in parallel.

use crate::args::{OutputFormat, StackArgs};
use crate::output;
use archform_blueprint::compile;
use serde_json::json;
use std::fmt::Write as _;

pub fn run(out: OutputFormat, stack: &StackArgs) -> anyhow::Result<i32> {
    let graph = match compile(&stack.request()) {
        Ok(g) => g,
        Err(e) => return Ok(output::load_error(out, &e)),
    };
    let layers = graph.layers();
    let value = json!({
        "stack": graph.stack.name,
        "layers": layers.iter().map(|l| l.iter().map(|r| json!({
            "id": r.id,
            "kind": r.kind.name,
            "depends_on": r.dependencies(),
        })).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    output::emit(out, &value, || {
        let mut s = String::new();
        for (i, layer) in layers.iter().enumerate() {
            let _ = writeln!(s, "layer {i} ({} in parallel)", layer.len());
            for r in layer {
                let deps: Vec<String> = r.dependencies().into_iter().collect();
                let arrow = if deps.is_empty() {
                    String::new()
                } else {
                    format!("  <- {}", deps.join(", "))
                };
                let _ = writeln!(s, "  {:<28} {:<28}{arrow}", r.id, r.kind.name);
            }
        }
        s
    });
    Ok(0)
}
