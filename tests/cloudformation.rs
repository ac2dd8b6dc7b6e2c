//! Every embedded blueprint, with its default parameters and with the
//! non-default parameter sets below, exports a CloudFormation template that
//! cfn-lint (pinned, from the testkit's venv) accepts without errors.
//! Warnings are printed, not failed.

use archform_testkit::{PythonTool, ensure_venv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Non-default parameter sets per blueprint (`--set` values). Every set is
/// rendered in addition to the defaults. Entries for blueprints that are not
/// embedded (yet) are skipped with a note.
const SETS: &[(&str, &[&[&str]])] = &[
    (
        "url-shortener",
        &[
            &["front_door=function_url"],
            &[
                "front_door=alb",
                "vpc_cidr=10.99.0.0/20",
                "redirect_status=301",
                "api_timeout=30",
            ],
        ],
    ),
    (
        "three-tier",
        &[
            &["az_count=3", "nat=per_az", "data_store=dynamodb"],
            &[
                "nat=none",
                "data_store=postgres",
                "db_multi_az=true",
                "db_deletion_protection=true",
            ],
            &["az_count=3", "nat=single", "data_store=postgres"],
        ],
    ),
    (
        "chat",
        &[&[
            "function_layout=per_route",
            "stage_name=live",
            "message_retention_days=30",
        ]],
    ),
    (
        "notifications",
        &[
            &["channels=webhook"],
            &["channels=email,sms,push,webhook", "worker_batch_size=1"],
        ],
    ),
];

struct Case {
    blueprint: String,
    sets: Vec<String>,
    file: PathBuf,
}

fn render(blueprint: &str, sets: &[String]) -> Result<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
    cmd.args(["render", blueprint, "--format", "cloudformation"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("running archform");
    if !out.status.success() {
        return Err(format!(
            "archform render {blueprint} {sets:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
}

/// One finding of `cfn-lint --format parseable`:
/// `file:line:col:end_line:end_col:RULE:message`.
struct Finding {
    file: String,
    rule: String,
    line: String,
}

fn parse_findings(stdout: &str) -> Vec<Finding> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // The file name is ours and has no colons; the message may.
            let fields: Vec<&str> = l.splitn(7, ':').collect();
            Finding {
                file: fields.first().copied().unwrap_or_default().to_string(),
                rule: fields.get(5).copied().unwrap_or_default().to_string(),
                line: l.to_string(),
            }
        })
        .collect()
}

#[test]
fn every_blueprint_exports_a_template_cfn_lint_accepts() {
    let embedded = archform_blueprint::catalog::embedded_names();
    let table: BTreeMap<&str, &[&[&str]]> = SETS.iter().copied().collect();
    for name in table.keys() {
        if !embedded.contains(name) {
            println!(
                "note: blueprint `{name}` is not embedded (yet); its parameter sets are skipped"
            );
        }
    }

    let dir = std::env::temp_dir().join(format!("archform-cfn-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    for bp in &embedded {
        let mut sets: Vec<Vec<String>> = vec![Vec::new()];
        match table.get(bp) {
            Some(extra) => sets.extend(
                extra
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.iter().map(|x| x.to_string()).collect()),
            ),
            None => println!(
                "note: no non-default parameter sets for `{bp}`; add some to SETS in tests/cloudformation.rs"
            ),
        }
        if sets.len() == 1 {
            println!("note: `{bp}` is linted with its default parameters only");
        }
        for (i, set) in sets.into_iter().enumerate() {
            match render(bp, &set) {
                Ok(text) => {
                    let file = dir.join(format!("{bp}-{i}.json"));
                    std::fs::write(&file, text).unwrap();
                    cases.push(Case {
                        blueprint: bp.to_string(),
                        sets: set,
                        file,
                    });
                }
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(!cases.is_empty(), "no blueprints are embedded");

    let venv = ensure_venv(PythonTool::CfnLint).expect("cfn-lint venv");
    let out = Command::new(PythonTool::CfnLint.executable(&venv))
        .args(["--format", "parseable", "--"])
        .args(cases.iter().map(|c| c.file.as_os_str()))
        .output()
        .expect("running cfn-lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code: a bit mask of 2 (errors), 4 (warnings), 8 (informational); 1 = crash.
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code >= 0 && code & 1 == 0,
        "cfn-lint failed to run (exit {code}):\n{stdout}\n{stderr}"
    );
    let findings = parse_findings(&stdout);

    let mut errors = 0;
    for case in &cases {
        let file = case.file.display().to_string();
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.file == file).collect();
        let count = |p: char| mine.iter().filter(|f| f.rule.starts_with(p)).count();
        let (e, w, i) = (count('E'), count('W'), count('I'));
        println!(
            "{} {:?}: {e} errors, {w} warnings, {i} informational",
            case.blueprint, case.sets
        );
        for f in &mine {
            println!("  {}", f.line.replacen(&file, "", 1));
        }
        errors += e;
    }
    let unattributed: Vec<&Finding> = findings
        .iter()
        .filter(|f| !cases.iter().any(|c| c.file.display().to_string() == f.file))
        .collect();
    for f in &unattributed {
        println!("  {}", f.line);
    }
    assert!(
        errors == 0 && unattributed.iter().all(|f| !f.rule.starts_with('E')),
        "cfn-lint reported errors (see above); templates are in {}",
        dir.display()
    );
    assert!(
        code & 2 == 0,
        "cfn-lint exited with {code} (errors) though none were parsed:\n{stdout}\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
