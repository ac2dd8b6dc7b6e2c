//! Hostile blueprints through the binary: `archform validate` exits 2 with
//! the file and line and a fix, never a panic, an abort or a hang. (The
//! property tests on many more inputs are in
//! crates/archform-blueprint/tests/hostile_blueprints.rs, in process.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HEADER: &str = "name: hostile\ndescription: x\nparameters: {}\n---\n";

fn validate(body: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("archform-hostile-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("bp-{}.yaml", body.len()));
    std::fs::write(&path, format!("{HEADER}{body}")).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_archform"))
        .args(["validate", path.to_str().unwrap(), "--stack", "hostile"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "validate took {:?}",
        started.elapsed()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn each_crash_and_hang_found_by_hand_exits_2_with_its_location() {
    let cases = [
        (
            "resources:\n  vpc:\n    kind: ec2.vpc\n    properties:\n      cidr_block: {{cidr_subnet \"10.0.0.0/16\" 250 1}}\n",
            "longer than /32",
        ),
        (
            "resources:\n  vpc:\n    kind: ec2.vpc\n    properties:\n      cidr_block: {{cidr_subnet \"10.0.0.0/16\" 264 1}}\n",
            "longer than /32",
        ),
        (
            "{{#*inline \"loop\"}}\nx: {{> loop}}\n{{/inline}}\nresources:\n  {{> loop}}\n",
            "includes itself",
        ),
        (
            "resources:\n{{#each (range 100000000)}}\n  q{{this}}:\n    kind: sqs.queue\n{{/each}}\n",
            "over the limit",
        ),
    ];
    for (body, wanted) in cases {
        let (code, text) = validate(body);
        assert_eq!(code, 2, "{body}\n{text}");
        assert!(text.contains(wanted), "wanted `{wanted}`:\n{text}");
        assert!(text.contains(".yaml:"), "no file:line in:\n{text}");
    }
}
