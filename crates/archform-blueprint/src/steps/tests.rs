//! Compile work grows linearly with the resource count: each blueprint is
//! compiled at two sizes, four times apart, and every kind of step must grow
//! at most 4.5 times. A pass that compares every resource with every other
//! grows 16 times and fails, however fast the machine is.

use super::{Step, measure};
use crate::diagnostic::Diagnostics;
use crate::load::{LoadError, StackRequest, compile_here};
use std::collections::BTreeMap;
use std::path::PathBuf;

const FACTOR: u64 = 4;

/// Writes `text` as a blueprint file and compiles it on this thread with
/// `sets`, returning the outcome and the steps it took.
fn compile_counted(
    name: &str,
    text: &str,
    sets: Vec<String>,
) -> (Result<usize, Diagnostics>, BTreeMap<Step, u64>) {
    let dir = std::env::temp_dir().join(format!("archform-steps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    let request = StackRequest {
        blueprint: Some(path.display().to_string()),
        stack: Some("steps".into()),
        set: sets,
        ..Default::default()
    };
    let (out, steps) = measure(|| compile_here(&request));
    let _ = std::fs::remove_file(&path);
    let out = out.map(|g| g.resources.len()).map_err(|e| match e {
        LoadError::Invalid(d) => d,
        other => panic!("{other}"),
    });
    (out, steps)
}

/// Compiles at `small` and `FACTOR * small` and checks every step count,
/// and that each of `exercised` was taken at all (so the check means
/// something). `outcome` checks each result against the size.
fn assert_linear(
    name: &str,
    text: &str,
    param: impl Fn(usize) -> Vec<String>,
    small: usize,
    exercised: &[Step],
    outcome: impl Fn(usize, &Result<usize, Diagnostics>),
) {
    let (out, few) = compile_counted(name, text, param(small));
    outcome(small, &out);
    let (out, many) = compile_counted(name, text, param(FACTOR as usize * small));
    outcome(FACTOR as usize * small, &out);
    for step in exercised {
        assert!(
            few.get(step).copied().unwrap_or(0) > 0,
            "{name}: no {step:?} steps counted, so the blueprint does not exercise them: {few:?}"
        );
    }
    for (step, &n) in &many {
        let before = few.get(step).copied().unwrap_or(0);
        // Linear work a + b*n grows at most FACTOR times; the half step of
        // slack absorbs rounding, a square term grows FACTOR^2 times.
        assert!(
            2 * n <= (2 * FACTOR + 1) * before,
            "{name}: {step:?} steps grew from {before} to {n} when the resources grew {FACTOR} times\n\
             at {small}: {few:?}\nat {}: {many:?}",
            FACTOR as usize * small
        );
    }
}

fn count(n: usize) -> Vec<String> {
    vec![format!("count={n}")]
}

fn valid(resources_per_unit: usize, fixed: usize) -> impl Fn(usize, &Result<usize, Diagnostics>) {
    move |n, out| match out {
        Ok(len) => assert_eq!(*len, n * resources_per_unit + fixed),
        Err(d) => panic!("{d}"),
    }
}

/// Blueprints shared with the render benchmark, sized by `count`.
const QUEUES: &str = include_str!("../../benches/blueprints/queues.yaml");
const MIXED: &str = include_str!("../../benches/blueprints/mixed.yaml");

/// The header of the blueprints written here.
const COUNT_PARAM: &str = "name: steps
description: generated for the step counts
parameters:
  count:
    type: integer
    default: 1
    min: 1
    max: 50000
    description: how many units
---
";

#[test]
fn queues_from_a_loop_take_linear_steps() {
    assert_linear(
        "queues",
        QUEUES,
        count,
        250,
        &[Step::ScalarText, Step::PropRead, Step::ColumnChar],
        valid(1, 0),
    );
}

/// The whole loop on one line: every resource is located on the same,
/// very long, rendered line.
#[test]
fn queues_on_one_line_take_linear_steps() {
    let text = format!(
        "{COUNT_PARAM}resources: {{ {{{{#each (range params.count)}}}}{{{{#unless @first}}}}, {{{{/unless}}}}queue_{{{{this}}}}: {{kind: sqs.queue, properties: {{sqs_managed_sse: true}}}}{{{{/each}}}} }}\n"
    );
    assert_linear(
        "one-line",
        &text,
        count,
        250,
        &[Step::ScalarText, Step::ColumnChar],
        valid(1, 0),
    );
}

#[test]
fn every_validation_pass_takes_linear_steps() {
    assert_linear(
        "mixed",
        MIXED,
        count,
        20,
        &[
            Step::ScalarText,
            Step::PropRead,
            Step::RefSplit,
            Step::CidrCompare,
            Step::ColumnChar,
        ],
        valid(12, 5),
    );
}

/// Overlapping subnets are still all reported, in the order written.
#[test]
fn overlapping_subnets_are_each_reported_once_per_pair() {
    let text = format!(
        "{COUNT_PARAM}resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.0.0.0/16
  wide:
    kind: ec2.subnet
    properties:
      vpc_id: ${{vpc.id}}
      cidr_block: 10.0.0.0/20
      availability_zone: us-east-1a
{{{{#each (range params.count)}}}}
  subnet_{{{{this}}}}:
    kind: ec2.subnet
    properties:
      vpc_id: ${{vpc.id}}
      cidr_block: {{{{cidr_subnet \"10.0.0.0/16\" 8 this}}}}
      availability_zone: us-east-1a
{{{{/each}}}}
  inner:
    kind: ec2.subnet
    properties:
      vpc_id: ${{vpc.id}}
      cidr_block: 10.0.1.0/28
      availability_zone: us-east-1a
  late_wide:
    kind: ec2.subnet
    properties:
      vpc_id: ${{vpc.id}}
      cidr_block: 10.0.0.0/22
      availability_zone: us-east-1a
"
    );
    let (out, _) = compile_counted("overlaps", &text, count(20));
    let overlaps: Vec<String> = out
        .unwrap_err()
        .iter()
        .filter(|d| d.rule == "cidr/overlap")
        .map(|d| d.message.clone())
        .collect();
    // /24s 0-15 lie in the /20; 10.0.1.0/28 lies in both it and subnet 1;
    // the /22 lies in the /20 and holds subnets 0-3 and the /28.
    let mut wanted: Vec<String> = (0..16)
        .map(|i| {
            format!("subnet `subnet_{i}` (10.0.{i}.0/24) overlaps subnet `wide` (10.0.0.0/20)")
        })
        .collect();
    wanted.push("subnet `inner` (10.0.1.0/28) overlaps subnet `wide` (10.0.0.0/20)".into());
    wanted.push("subnet `inner` (10.0.1.0/28) overlaps subnet `subnet_1` (10.0.1.0/24)".into());
    let late = "subnet `late_wide` (10.0.0.0/22) overlaps subnet";
    wanted.push(format!("{late} `wide` (10.0.0.0/20)"));
    for i in 0..4 {
        wanted.push(format!("{late} `subnet_{i}` (10.0.{i}.0/24)"));
    }
    wanted.push(format!("{late} `inner` (10.0.1.0/28)"));
    assert_eq!(overlaps, wanted);
}

#[test]
fn a_repeated_dangling_reference_takes_linear_steps() {
    let text = format!(
        "{COUNT_PARAM}resources:
{{{{#each (range params.count)}}}}
  queue_{{{{this}}}}:
    kind: sqs.queue
    properties:
      redrive_policy:
        dead_letter_target_arn: ${{queue_x.arn}}
        max_receive_count: 3
{{{{/each}}}}
"
    );
    assert_linear(
        "dangling",
        &text,
        count,
        100,
        &[Step::EditDistance],
        |_, out| {
            // Every queue refers to it from the same line of the loop, so
            // the identical diagnostics are reported once.
            let dangling: Vec<_> = out
                .as_ref()
                .unwrap_err()
                .iter()
                .filter(|d| d.rule == "ref/dangling")
                .collect();
            assert_eq!(dangling.len(), 1, "{dangling:?}");
            assert_eq!(dangling[0].hint, "did you mean `queue_0`?");
        },
    );
}

#[test]
fn a_long_unique_list_parameter_takes_linear_steps() {
    let text = "name: steps
description: generated for the step counts
parameters:
  names:
    type: list
    items: {type: string}
    unique: true
    default: [a]
    description: one queue each
---
resources:
{{#each params.names}}
  queue_{{this}}:
    kind: sqs.queue
    properties: {sqs_managed_sse: true}
{{/each}}
";
    let names = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("q{i}")).collect();
        vec![format!("names={}", list.join(","))]
    };
    assert_linear(
        "list",
        text,
        names,
        250,
        &[Step::ParamItem, Step::ScalarText],
        valid(1, 0),
    );
    // A repeat is still found, at its own position.
    let (out, _) = compile_counted("list", text, vec!["names=a,b,c,b".into()]);
    let d = out.unwrap_err();
    assert!(
        d.iter()
            .any(|d| d.message.contains("item 4 (\"b\") is repeated")),
        "{d}"
    );
}
