//! `archform build`: compiles every function of a stack whose code is
//! `{package, bin}` and packages it as a reproducible zip.

use crate::args::{OutputFormat, StackArgs};
use crate::{code, output};
use archform_blueprint::compile;
use serde_json::json;
use std::fmt::Write as _;

pub fn run(out: OutputFormat, stack: &StackArgs) -> anyhow::Result<i32> {
    let graph = match compile(&stack.request()) {
        Ok(g) => g,
        Err(e) => return Ok(output::load_error(out, &e)),
    };
    let built = match code::build_functions(&graph) {
        Ok(b) => b,
        Err(e) => {
            match out {
                OutputFormat::Json => println!("{}", json!({"error": format!("{e:#}")})),
                OutputFormat::Text => eprintln!("error: {e:#}"),
            }
            return Ok(1);
        }
    };
    let value = json!({
        "stack": graph.stack.name,
        "functions": built.iter().map(|b| json!({
            "id": b.id,
            "package": b.code.package,
            "bin": b.code.bin,
            "architecture": b.code.architecture.as_str(),
            "zip": b.artifact.zip_path.display().to_string(),
            "size": b.artifact.size,
            "sha256": b.artifact.sha256,
            "warnings": b.artifact.warnings,
        })).collect::<Vec<_>>(),
    });
    output::emit(out, &value, || {
        let mut s = String::new();
        if built.is_empty() {
            let _ = writeln!(
                s,
                "no functions to build (none names its code as package and bin)"
            );
        }
        for b in &built {
            let _ = writeln!(
                s,
                "{:<24} {}/{} ({})  {}  {}",
                b.id,
                b.code.package,
                b.code.bin,
                b.code.architecture.as_str(),
                human_size(b.artifact.size),
                b.artifact.zip_path.display()
            );
        }
        s
    });
    Ok(0)
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
