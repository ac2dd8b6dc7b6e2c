//! The README's two commands share one dependency build: `cargo run` builds
//! the root package alone, `archform build` (dev profile) builds each lambdas/
//! package alone, and `tests/run` builds the whole workspace. Cargo resolves
//! features per selection, so any third-party crate that gets fewer features
//! in one of those than in the workspace build is compiled twice (for the
//! AWS SDK, minutes). crates/archform-workspace-hack (cargo-hakari) unifies
//! them; this test fails, naming the crates, when it is out of date: run
//! `cargo hakari generate && cargo hakari manage-deps`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

type Features = BTreeMap<String, BTreeSet<String>>;

/// Third-party crates and their features as `cargo tree` resolves them for
/// `args` (normal and build dependencies, plus `extra` edges).
fn features(args: &[&str], extra: &str) -> Features {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p} {f}"])
        .args(["-e", &format!("normal,build{extra}")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map = Features::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let line = line.trim_end_matches(" (*)");
        let parts: Vec<&str> = line.split(' ').collect();
        // Workspace members print their path in parentheses.
        if parts.len() < 2 || parts.get(2).is_some_and(|p| p.starts_with('(')) {
            continue;
        }
        let set = map.entry(format!("{} {}", parts[0], parts[1])).or_default();
        if let Some(f) = parts.get(2) {
            set.extend(f.split(',').filter(|f| !f.is_empty()).map(String::from));
        }
    }
    map
}

fn lambda_packages() -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "metadata",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
        ])
        .output()
        .unwrap();
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["manifest_path"].as_str().unwrap().contains("/lambdas/"))
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_package_built_alone_resolves_the_workspace_features() {
    let workspace = features(&["--workspace"], ",dev");
    let mut selections = vec!["archform".to_string()];
    selections.extend(lambda_packages());
    assert!(selections.len() > 1, "no lambdas/ packages found");
    let mut short = Vec::new();
    for package in &selections {
        for (krate, feats) in features(&["-p", package], "") {
            let all = workspace.get(&krate).cloned().unwrap_or_default();
            let missing: Vec<&String> = all.difference(&feats).collect();
            if !missing.is_empty() {
                short.push(format!("{package}: {krate} lacks {missing:?}"));
            }
        }
    }
    assert!(
        short.is_empty(),
        "built alone, these packages compile crates with fewer features than the workspace \
         build (so twice); run `cargo hakari generate && cargo hakari manage-deps`:\n  {}",
        short.join("\n  ")
    );
}
