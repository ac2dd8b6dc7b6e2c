//! `archform build` and the implicit build of deploy: a blueprint function
//! named as `{package, bin}` becomes a reproducible `bootstrap` zip, an
//! unchanged function redeploys with no change, and a changed one plans an
//! update. Blueprint functions whose package does not exist yet fail clearly.
//! With cargo-lambda (installed from its pinned venv) the zips hold
//! Lambda-compatible binaries for both architectures.

use archform_testkit::{PythonTool, ensure_venv, test_endpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BLUEPRINT: &str = r#"name: build-test
description: one function built from a package
---
resources:
  role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  hello:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {package: hello, bin: hello-bin}
      runtime: provided.al2023
      handler: bootstrap
"#;

fn put(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A Cargo workspace with lambdas/hello (binary `hello-bin`) and the
/// blueprint, kept under the target dir with its own target dir so reruns
/// build nothing. `message` is what the function prints.
fn workspace(message: &str) -> PathBuf {
    workspace_in("archform-build-ws", message, BLUEPRINT)
}

/// [`workspace`] in its own folder `name` (tests run in parallel and one of
/// them rewrites the function) with `blueprint` as bp.yaml.
fn workspace_in(name: &str, message: &str, blueprint: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    put(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"lambdas/*\"]\n\n\
         [profile.lambda]\ninherits = \"release\"\nopt-level = \"s\"\nlto = true\n\
         codegen-units = 1\npanic = \"abort\"\nstrip = true\n",
    );
    put(
        &root.join("lambdas/hello/Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [[bin]]\nname = \"hello-bin\"\npath = \"src/main.rs\"\n",
    );
    put(
        &root.join("lambdas/hello/src/main.rs"),
        &format!("fn main() {{\n    println!(\"{message}\");\n}}\n"),
    );
    put(&root.join("bp.yaml"), blueprint);
    root
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

fn archform(dir: &Path, args: &[&str]) -> Run {
    archform_with_path(dir, args, None)
}

/// [`archform`] with `path_first` put in front of PATH.
fn archform_with_path(dir: &Path, args: &[&str], path_first: Option<&Path>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
    if let Some(first) = path_first {
        let rest = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(first.to_path_buf()).chain(std::env::split_paths(&rest)),
        )
        .unwrap();
        cmd.env("PATH", path);
    }
    let out = cmd
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .args(args)
        .args(["--output", "json"])
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One test: the steps share the workspace and must run in order.
#[test]
fn build_then_deploy_unchanged_and_changed_code() {
    let dir = workspace("hello");
    let r = archform(&dir, &["build", "bp.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let f = &r.json["functions"][0];
    assert_eq!(f["id"], "hello", "{}", r.json);
    assert_eq!(f["architecture"], "x86_64");
    let size = f["size"].as_u64().unwrap();
    assert!(size > 0 && size < 5 * 1024 * 1024, "{size}");
    let zip = f["zip"].as_str().unwrap().to_string();
    assert!(
        zip.ends_with("archform/hello/hello-bin-x86_64.zip"),
        "{zip}"
    );
    let sha = f["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    // Without cargo-lambda it is a host build, and says so.
    if !archform_package::cargo_lambda_available() {
        assert!(r.stderr.contains("glibc"), "{}", r.stderr);
    }

    let again = archform(&dir, &["build", "bp.yaml"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json["functions"][0]["sha256"], sha.as_str());

    // Deploy builds implicitly; a redeploy of unchanged code changes nothing.
    let endpoint = test_endpoint();
    let stack = format!("build-{}", std::process::id());
    let target = ["--stack", &stack, "--endpoint", &endpoint];
    let with = |cmd: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(target.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |cmd: &[&str]| {
        let a = with(cmd);
        archform(&dir, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let r = run(&["deploy", "bp.yaml"]);
    assert_eq!(r.code, 0, "deploy: {}\n{}", r.json, r.stderr);
    let r = run(&["deploy", "bp.yaml"]);
    assert_eq!(r.code, 0, "redeploy: {}\n{}", r.json, r.stderr);
    assert_eq!(r.json["changes"], 0, "unchanged code: {}", r.json);

    // Changed code: a new zip, so the function's code is updated.
    workspace("hello again");
    let r = run(&["plan", "bp.yaml", "--detailed-exitcode"]);
    workspace("hello");
    assert_eq!(r.code, 2, "changed code must plan a change: {}", r.stderr);
    let ids: Vec<&str> = r.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "no_op")
        .filter_map(|s| s["id"].as_str())
        .collect();
    let destroyed = run(&["destroy"]);
    assert_eq!(ids, ["hello"], "{}", r.json);
    let hello = r.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "hello");
    assert_eq!(hello.unwrap()["action"], "update", "{}", r.json);
    assert_eq!(
        destroyed.code, 0,
        "destroy: {}\n{}",
        destroyed.json, destroyed.stderr
    );
}

#[test]
fn a_blueprint_function_without_its_package_names_it_and_the_way_out() {
    let blueprint = BLUEPRINT.replace(
        "{package: hello, bin: hello-bin}",
        "{package: nothere, bin: x}",
    );
    let dir = workspace_in("archform-build-missing-ws", "hello", &blueprint);
    let r = archform(&dir, &["build", "bp.yaml"]);
    assert_eq!(r.code, 1, "{}", r.json);
    let msg = r.json["error"].as_str().unwrap_or_default();
    assert!(
        msg.contains("`nothere`") && msg.contains("--placeholder-code"),
        "{}",
        r.json
    );
}

/// The blueprint of [`BLUEPRINT`]'s role with one function of package
/// `hello` per `(id, architecture)`.
fn arch_blueprint(functions: &[(&str, &str)]) -> String {
    let mut text = BLUEPRINT[..BLUEPRINT.find("  hello:").unwrap()].to_string();
    for (id, arch) in functions {
        text.push_str(&format!(
            "  {id}:\n    kind: lambda.function\n    properties:\n      role: ${{role.arn}}\n      \
             code: {{package: hello, bin: hello-bin}}\n      runtime: provided.al2023\n      \
             handler: bootstrap\n      architecture: {arch}\n"
        ));
    }
    text
}

/// Whether rustup has the arm64 Linux target. cargo-lambda would fetch it
/// on demand, but a toolchain download is not something every machine that
/// runs these tests can make.
fn arm64_target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("aarch64-unknown-linux-gnu"))
}

/// The ELF machine of the zip's `bootstrap` (the one entry, stored or
/// deflated), read with Python's zipfile.
fn bootstrap_machine(zip: &str) -> u16 {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; d = zipfile.ZipFile(sys.argv[1]).read('bootstrap'); \
             assert d[:4] == b'\\x7fELF', d[:4]; print(int.from_bytes(d[18:20], 'little'))",
            zip,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// cargo-lambda (from its pinned venv, installed on first use) builds each
/// function for its own architecture with zig: no host-build warning, an
/// x86-64 `bootstrap` (and an AArch64 one where rustup has that target), and
/// the same bytes on a rebuild.
#[test]
fn cargo_lambda_builds_each_architecture() {
    let venv = ensure_venv(PythonTool::CargoLambda).expect("cargo-lambda venv");
    let bin = venv.join("bin");
    // EM_X86_64 = 62, EM_AARCH64 = 183.
    let mut functions = vec![("on_x86", "x86_64", 62)];
    if arm64_target_installed() {
        functions.push(("on_arm", "arm64", 183));
    } else {
        eprintln!(
            "arm64 not built: rustup has no aarch64-unknown-linux-gnu target here \
             (`rustup target add aarch64-unknown-linux-gnu` adds it)"
        );
    }
    let ids: Vec<(&str, &str)> = functions.iter().map(|&(id, arch, _)| (id, arch)).collect();
    let dir = workspace_in("archform-build-arch-ws", "hello", &arch_blueprint(&ids));
    let r = archform_with_path(&dir, &["build", "bp.yaml"], Some(&bin));
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert!(!r.stderr.contains("glibc"), "a host build: {}", r.stderr);
    let built = r.json["functions"].as_array().unwrap();
    let by_id = |id: &str| built.iter().find(|f| f["id"] == id).unwrap().clone();
    for &(id, arch, machine) in &functions {
        let f = by_id(id);
        assert_eq!(f["architecture"], arch, "{f}");
        assert_eq!(
            bootstrap_machine(f["zip"].as_str().unwrap()),
            machine,
            "{id}"
        );
    }

    let again = archform_with_path(&dir, &["build", "bp.yaml"], Some(&bin));
    assert_eq!(again.code, 0, "{}", again.stderr);
    for f in again.json["functions"].as_array().unwrap() {
        let first = by_id(f["id"].as_str().unwrap());
        assert_eq!(f["sha256"], first["sha256"], "{}", f["id"]);
    }
}
