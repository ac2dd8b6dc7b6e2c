//! `archform render` and `archform validate`.

use crate::args::{OutputFormat, RenderFormat, StackArgs};
use crate::output;
use archform_blueprint::{compile, export, yaml};

pub fn render(out: OutputFormat, stack: &StackArgs, format: RenderFormat) -> anyhow::Result<i32> {
    let graph = match compile(&stack.request()) {
        Ok(g) => g,
        Err(e) => return Ok(output::load_error(out, &e)),
    };
    let text = match format {
        RenderFormat::Yaml => yaml::to_yaml_string(&serde_json::to_value(&graph)?),
        RenderFormat::Json => serde_json::to_string_pretty(&graph)? + "\n",
        RenderFormat::Cloudformation => {
            serde_json::to_string_pretty(&export::cloudformation::template(&graph))? + "\n"
        }
        RenderFormat::Mermaid => export::diagram::mermaid(&graph),
        RenderFormat::Dot => export::diagram::dot(&graph),
    };
    print!("{text}");
    Ok(0)
}

pub fn validate(out: OutputFormat, stack: &StackArgs) -> anyhow::Result<i32> {
    match compile(&stack.request()) {
        Ok(graph) => {
            let warnings = archform_blueprint::advice::warnings(&graph);
            let summary = serde_json::json!({
                "valid": true,
                "stack": graph.stack.name,
                "blueprint": graph.stack.blueprint,
                "resources": graph.resources.len(),
                "outputs": graph.outputs.len(),
                "warnings": warnings,
            });
            output::emit(out, &summary, || {
                // Warnings go to stderr, after the verdict, like a compiler's.
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
                format!(
                    "{}: valid ({} resources, {} outputs, stack `{}`)\n",
                    graph.stack.blueprint,
                    graph.resources.len(),
                    graph.outputs.len(),
                    graph.stack.name
                )
            });
            Ok(0)
        }
        Err(e) => Ok(output::load_error(out, &e)),
    }
}
