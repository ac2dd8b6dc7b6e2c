//! The corpus of bad blueprints in tests/bad/: each file names the rule it
//! breaks (`# expect: rule`), optional flags (`# args: ...`) and marks the
//! line the error must point at (`# <- here`). Every one must fail
//! validation with exit code 2, that rule, that line, and a fix.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Case {
    path: PathBuf,
    rule: String,
    args: Vec<String>,
    marked_line: Option<usize>,
}

fn corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let header = |key: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                    .map(str::to_string)
            };
            let rule =
                header("expect").unwrap_or_else(|| panic!("{} has no `# expect:`", path.display()));
            let args = header("args")
                .map(|a| a.split_whitespace().map(String::from).collect())
                .unwrap_or_default();
            let marked_line = text
                .lines()
                .position(|l| l.contains("# <- here"))
                .map(|i| i + 1);
            Case {
                path,
                rule,
                args,
                marked_line,
            }
        })
        .collect()
}

fn validate(path: &Path, args: &[String], json: bool) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
    cmd.arg("validate").arg(path).args(args);
    if json {
        cmd.args(["--output", "json"]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_bad_blueprint_fails_with_its_rule_at_its_line() {
    let cases = corpus();
    assert!(
        cases.len() >= 30,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (code, stdout, stderr) = validate(&case.path, &case.args, true);
        if code != 2 {
            failures.push(format!(
                "{name}: exit code {code}, expected 2\n{stdout}{stderr}"
            ));
            continue;
        }
        let report: serde_json::Value = match serde_json::from_str(&stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: output is not JSON ({e}): {stdout}"));
                continue;
            }
        };
        let errors = report["errors"].as_array().cloned().unwrap_or_default();
        let matching: Vec<&serde_json::Value> = errors
            .iter()
            .filter(|e| e["rule"] == case.rule.as_str())
            .collect();
        if matching.is_empty() {
            failures.push(format!("{name}: no `{}` error, got: {stdout}", case.rule));
            continue;
        }
        for e in &errors {
            let (msg, hint) = (
                e["message"].as_str().unwrap_or(""),
                e["hint"].as_str().unwrap_or(""),
            );
            if msg.len() < 10 || hint.len() < 5 {
                failures.push(format!(
                    "{name}: error without a clear message and fix: {e}"
                ));
            }
        }
        let cli_rule = case.rule.starts_with("param/value")
            || case.rule == "param/unknown"
            || case.rule == "stack/name"
            || case.rule == "param/missing";
        if cli_rule {
            if !matching
                .iter()
                .any(|e| e["location"]["file"] == "<command line>")
            {
                failures.push(format!(
                    "{name}: `{}` should point at the command line: {stdout}",
                    case.rule
                ));
            }
            continue;
        }
        if let Some(line) = case.marked_line {
            // Parsers notice some syntax errors a little after the mistake.
            let tolerance = if case.rule == "yaml/syntax" { 2 } else { 0 };
            let hit = matching.iter().any(|e| {
                let l = e["location"]["line"].as_u64().unwrap_or(0) as usize;
                let file = e["location"]["file"].as_str().unwrap_or("");
                file.ends_with(&name) && l >= line && l <= line + tolerance
            });
            if !hit {
                failures.push(format!(
                    "{name}: `{}` should point at line {line}: {stdout}",
                    case.rule
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_corpus_covers_at_least_thirty_distinct_rules() {
    let mut rules: Vec<String> = corpus().into_iter().map(|c| c.rule).collect();
    rules.sort();
    rules.dedup();
    assert!(
        rules.len() >= 25,
        "only {} distinct rules: {rules:?}",
        rules.len()
    );
    let files = corpus().len();
    assert!(files >= 30, "{files} files");
}

#[test]
fn text_output_names_file_line_column_and_fix() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad/lint-ssh-open.yaml");
    let (code, stdout, stderr) = validate(&path, &[], false);
    assert_eq!(code, 2, "{stdout}{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(first.contains("lint-ssh-open.yaml:"), "{stderr}");
    assert!(first.contains("error[lint/sg-open-port]"), "{stderr}");
    assert!(first.contains("SSH"), "{stderr}");
    assert!(stderr.contains("  fix: "), "{stderr}");
    assert!(stderr.trim_end().ends_with("1 error"), "{stderr}");
}

#[test]
fn all_errors_are_reported_at_once() {
    let dir = tempdir();
    let path = dir.join("many.yaml");
    std::fs::write(
        &path,
        "name: many\ndescription: several problems\n---\nresources:\n  q:\n    kind: sqs.queue\n    properties:\n      visibility_timeout: 99999\n  t:\n    kind: dynamodb.table\n    properties:\n      partition_key: {name: id, type: X}\n  s:\n    kind: ec2.subnet\n    properties:\n      vpc_id: ${nothing.id}\n      cidr_block: 10.0.0.0/24\n      availability_zone: ${aws.az0}\n",
    )
    .unwrap();
    let (code, stdout, _) = validate(&path, &[], true);
    assert_eq!(code, 2);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rules: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    for expected in [
        "schema/range",
        "schema/enum",
        "ref/dangling",
        "lint/unencrypted",
    ] {
        assert!(
            rules.contains(&expected),
            "{expected} missing from {rules:?}"
        );
    }
}

#[test]
fn errors_inside_partials_point_at_the_partial_and_values_at_the_blueprint() {
    // A bad parameter value reaches a partial: the CIDR check points at the
    // blueprint's command line, never at generated text.
    let out = Command::new(env!("CARGO_BIN_EXE_archform"))
        .args([
            "validate",
            "url-shortener",
            "--set",
            "vpc_cidr=10.0.0.0/8",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"][0]["rule"], "param/value", "{report}");
    assert_eq!(report["errors"][0]["location"]["file"], "<command line>");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("archform-validation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A public ALB without a certificate is valid, with a warning on stderr
/// (and in the JSON); with one, no warning.
#[test]
fn a_plain_http_public_alb_is_valid_with_a_warning() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_archform"))
            .args(args)
            .env_remove("ARCHFORM_TEST_ENDPOINT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (stdout, stderr) = run(&["validate", "url-shortener"]);
    assert!(stdout.starts_with("url-shortener: valid"), "{stdout}");
    assert!(
        stderr.contains("warning: `alb` is internet-facing with plain HTTP only")
            && stderr.contains("certificate_arn"),
        "{stderr}"
    );
    let (stdout, _) = run(&["--output", "json", "validate", "three-tier"]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1, "{report}");
    let cert = "certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/0b6d2a3c-1f4e-4c5d-9a8b-7e6f5d4c3b2a";
    let (_, stderr) = run(&["validate", "url-shortener", "--set", cert]);
    assert!(!stderr.contains("warning"), "{stderr}");
    // No public ALB, nothing to warn about.
    let (_, stderr) = run(&[
        "validate",
        "url-shortener",
        "--set",
        "front_door=function_url",
    ]);
    assert!(!stderr.contains("warning"), "{stderr}");
}
