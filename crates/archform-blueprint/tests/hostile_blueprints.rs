//! Careless and hostile blueprints: whatever the text, compiling it ends in
//! a graph or located diagnostics, within a time bound, never a panic, an
//! abort (stack overflow) or a loop that runs until killed. The property
//! tests mutate the embedded blueprints and generate handlebars/YAML from
//! the pieces that have broken things before; the named cases above them
//! are the ones found by hand.

use archform_blueprint::catalog;
use archform_blueprint::limits;
use archform_blueprint::{Graph, LoadError, StackRequest, compile};
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Compiles `text` as a blueprint file, checking the time bound.
fn compile_text(text: &str) -> Result<Graph, LoadError> {
    let dir = std::env::temp_dir().join(format!("archform-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("{:?}", std::thread::current().id())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "");
    let path = dir.join(format!("bp-{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let out = compile(&StackRequest {
        blueprint: Some(path.display().to_string()),
        stack: Some("hostile".into()),
        ..Default::default()
    });
    let took = started.elapsed();
    assert!(
        took < limits::COMPILE_TIME + Duration::from_secs(5),
        "compiling took {took:?}:\n{text}"
    );
    out
}

fn error_text(r: &Result<Graph, LoadError>) -> String {
    match r {
        Ok(_) => String::new(),
        Err(e) => match e.diagnostics() {
            Some(d) => {
                d.0.iter()
                    .map(|d| format!("{}:{} {}", d.location.file, d.location.line, d.message))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            None => e.to_string(),
        },
    }
}

const HEADER: &str = "name: hostile\ndescription: x\nparameters: {}\n---\n";

fn refused_with(body: &str, wanted: &str) {
    let r = compile_text(&format!("{HEADER}{body}"));
    let text = error_text(&r);
    assert!(r.is_err(), "accepted:\n{body}");
    assert!(text.contains(wanted), "wanted `{wanted}`, got:\n{text}");
    // Every diagnostic names a place in the user's file.
    assert!(text.contains(".yaml:"), "no location: {text}");
}

#[test]
fn cidr_subnet_past_32_bits_is_an_error_not_a_panic_or_a_wrap() {
    for bits in ["250", "264", "18446744073709551615"] {
        refused_with(
            &format!(
                "resources:\n  vpc:\n    kind: ec2.vpc\n    properties:\n      cidr_block: {{{{cidr_subnet \"10.0.0.0/16\" {bits} 1}}}}\n"
            ),
            "longer than /32",
        );
    }
}

#[test]
fn a_partial_that_includes_itself_is_refused_before_rendering() {
    refused_with(
        "{{#*inline \"loop\"}}\nx: {{> loop}}\n{{/inline}}\nresources:\n  {{> loop}}\n",
        "includes itself",
    );
}

#[test]
fn an_enormous_range_is_refused_at_once() {
    refused_with(
        "resources:\n{{#each (range 100000000)}}\n  q{{this}}:\n    kind: sqs.queue\n{{/each}}\n",
        "over the limit",
    );
    // Nested loops multiply: each call is small, the total is not.
    refused_with(
        "resources:\n{{#each (range 50000)}}{{#each (range 50000)}}{{/each}}{{/each}}\n",
        "in all",
    );
}

#[test]
fn arithmetic_out_of_range_is_an_error() {
    refused_with(
        "resources:\n  vpc:\n    kind: ec2.vpc\n    properties:\n      cidr_block: {{mul 9223372036854775807 2}}\n",
        "out of range",
    );
}

#[test]
fn deep_yaml_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!(
        "resources: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(compile_text(&format!("{HEADER}{deep}")).is_err());
}

/// Pieces that have broken parsers and renderers before, and plain YAML.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{{#each (range 3)}}".to_string()),
        Just("{{#each (range 99999)}}".to_string()),
        Just("{{/each}}".to_string()),
        Just("{{#if params.x}}".to_string()),
        Just("{{/if}}".to_string()),
        Just("{{> net/vpc}}".to_string()),
        Just("{{> (concat \"a\" \"b\")}}".to_string()),
        Just("{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}".to_string()),
        Just("{{cidr_subnet \"10.0.0.0/16\" 250 1}}".to_string()),
        Just("{{add 9223372036854775807 1}}".to_string()),
        Just("{{az_letter 18446744073709551615}}".to_string()),
        Just("{{json params}}".to_string()),
        Just("${vpc.id}".to_string()),
        Just("${a.b.c}".to_string()),
        Just("\n".to_string()),
        Just("\n  ".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("[".to_string()),
        Just("{".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("kind: ec2.vpc".to_string()),
        Just("kind: sqs.queue".to_string()),
        Just("properties:".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("\u{E000}0:1\u{E001}".to_string()),
        "[a-z_]{1,8}",
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

/// A mutation of one of the embedded blueprints: spans cut and pieces put
/// in their place.
fn mutated() -> impl Strategy<Value = String> {
    let sources: Vec<String> = catalog::embedded_names()
        .into_iter()
        .map(|n| catalog::find(n).unwrap().text)
        .collect();
    let edit = (
        any::<prop::sample::Index>(),
        0usize..40,
        prop::collection::vec(piece(), 0..4),
    );
    (
        proptest::sample::select(sources),
        prop::collection::vec(edit, 1..6),
    )
        .prop_map(|(text, edits)| {
            let mut t: Vec<char> = text.chars().collect();
            for (at, cut, insert) in edits {
                let start = at.index(t.len().max(1)).min(t.len());
                let end = (start + cut).min(t.len());
                let new: Vec<char> = insert.concat().chars().collect();
                t.splice(start..end, new);
            }
            t.into_iter().collect()
        })
}

fn generated() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..60)
        .prop_map(|p| format!("{HEADER}resources:\n{}", p.concat()))
}

/// The compile worker turns a panic into an "internal" diagnostic (so the
/// CLI can exit 2 with a message): that must never happen.
fn no_panic(text: &str) -> Result<(), TestCaseError> {
    let r = compile_text(text);
    let errors = error_text(&r);
    prop_assert!(
        !errors.contains("stopped unexpectedly"),
        "compile panicked on:\n{text}\n{errors}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_mutated_blueprint_compiles_or_is_refused_quickly(text in mutated()) {
        no_panic(&text)?;
    }

    #[test]
    fn any_generated_template_compiles_or_is_refused_quickly(text in generated()) {
        no_panic(&text)?;
    }
}
