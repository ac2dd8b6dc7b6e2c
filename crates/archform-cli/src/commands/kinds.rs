//! `archform kinds`: the resource kinds, their properties and attributes.

use crate::args::OutputFormat;
use crate::output;
use archform_blueprint::kinds::{self, KindSpec, Update};
use serde_json::json;
use std::fmt::Write as _;

fn to_json(k: &KindSpec) -> serde_json::Value {
    json!({
        "kind": k.name,
        "summary": k.summary,
        "cloudformation_type": k.cfn_type,
        "properties": k.props.iter().map(|p| json!({
            "name": p.name,
            "required": p.required,
            "update": p.update,
        })).collect::<Vec<_>>(),
        "attributes": k.attr_names(),
        "named": k.naming.is_some(),
    })
}

pub fn run(out: OutputFormat, name: Option<&str>) -> anyhow::Result<i32> {
    let selected: Vec<&KindSpec> = match name {
        Some(n) => match kinds::lookup(n) {
            Some(k) => vec![k.spec()],
            None => {
                eprintln!("error: no kind `{n}`; run `archform kinds` for the list");
                return Ok(2);
            }
        },
        None => kinds::Kind::ALL.iter().map(|k| k.spec()).collect(),
    };
    let value: Vec<_> = selected.iter().map(|k| to_json(k)).collect();
    output::emit(out, &value, || {
        let mut s = String::new();
        for k in &selected {
            let _ = writeln!(s, "{:<30} {}", k.name, k.summary);
            if name.is_some() {
                for p in k.props {
                    let req = if p.required { "required" } else { "optional" };
                    let upd = if p.update == Update::Replace {
                        ", change replaces"
                    } else {
                        ""
                    };
                    let _ = writeln!(s, "  {:<34} {req}{upd}", p.name);
                }
                let _ = writeln!(s, "  attributes: {}", k.attr_names().join(", "));
            }
        }
        s
    });
    Ok(0)
}
