//! `archform blueprints`: the embedded blueprints and their parameters.

use crate::args::OutputFormat;
use crate::output;
use archform_blueprint::{BlueprintInfo, blueprint_info, catalog};
use std::fmt::Write as _;

pub fn run(out: OutputFormat) -> anyhow::Result<i32> {
    let infos: Vec<BlueprintInfo> = catalog::embedded_names()
        .into_iter()
        .map(blueprint_info)
        .collect::<Result<_, _>>()?;
    output::emit(out, &infos, || {
        let mut s = String::new();
        for info in &infos {
            let _ = writeln!(s, "{}\n  {}", info.name, info.description);
            for p in &info.parameters {
                let default = p
                    .default
                    .as_ref()
                    .map(|d| format!(" (default {d})"))
                    .unwrap_or_default();
                let _ = writeln!(s, "    --set {}=<{}>{default}", p.name, p.ty.describe());
                if !p.description.is_empty() {
                    let _ = writeln!(s, "        {}", p.description);
                }
            }
            s.push('\n');
        }
        s
    });
    Ok(0)
}
