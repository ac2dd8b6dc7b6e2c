//! Builds a tiny binary package in a throwaway workspace and checks the zip:
//! an executable `bootstrap` that runs, the same hash on a rebuild, and the
//! error for a package that does not exist.

use archform_package::{Architecture, BuildOptions, Error, FunctionCode, Toolchain, build};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Writes `text` unless the file already holds it, so reruns keep mtimes and
/// cargo has nothing to rebuild.
fn put(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A workspace with one package `hello` (binary `hello-bin`), kept under the
/// target dir with its own stable target dir so reruns are fast.
fn workspace() -> (PathBuf, BuildOptions) {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(write_workspace).clone();
    let options = BuildOptions {
        toolchain: Toolchain::Host,
        target_dir: Some(root.join("target")),
        quiet: true,
        ..Default::default()
    };
    (root, options)
}

/// Written once per test process: the tests run in parallel.
fn write_workspace() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("archform-package-ws");
    put(
        &root.join("Cargo.toml"),
        r#"[workspace]
resolver = "3"
members = ["lambdas/*"]

[profile.lambda]
inherits = "release"
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
strip = true
"#,
    );
    put(
        &root.join("lambdas/hello/Cargo.toml"),
        r#"[package]
name = "hello"
version = "0.1.0"
edition = "2024"

[[bin]]
name = "hello-bin"
path = "src/main.rs"
"#,
    );
    put(
        &root.join("lambdas/hello/src/main.rs"),
        "fn main() {\n    println!(\"hello\");\n}\n",
    );
    root
}

fn hello() -> FunctionCode {
    FunctionCode {
        package: "hello".into(),
        bin: "hello-bin".into(),
        architecture: Architecture::host().expect("a Lambda architecture"),
    }
}

#[test]
fn builds_a_reproducible_zip_with_a_runnable_bootstrap() {
    let (root, options) = workspace();
    let a = build(&hello(), &root, &options).expect("build");
    assert!(
        a.zip_path.ends_with(format!(
            "archform/hello/hello-bin-{}.zip",
            hello().architecture.as_str()
        )),
        "{}",
        a.zip_path.display()
    );
    assert_eq!(a.size, std::fs::metadata(&a.zip_path).unwrap().len());
    assert!(
        a.warnings.iter().any(|w| w.contains("glibc")),
        "{:?}",
        a.warnings
    );

    // Extract with Python's zipfile, keeping the mode, and run it.
    let out_dir = root.join("unzipped");
    let _ = std::fs::remove_dir_all(&out_dir);
    let script = "import os,sys,zipfile\n\
        z=zipfile.ZipFile(sys.argv[1]); i=z.getinfo('bootstrap')\n\
        assert z.namelist()==['bootstrap'], z.namelist()\n\
        p=z.extract(i, sys.argv[2]); os.chmod(p, i.external_attr>>16 & 0o7777)\n\
        print(oct(i.external_attr>>16))";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&a.zip_path)
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0o100755");
    let run = std::process::Command::new(out_dir.join("bootstrap"))
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello\n");

    // Unchanged code: the same bytes, so the same hash.
    let b = build(&hello(), &root, &options).expect("rebuild");
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(a.zip_path, b.zip_path);
}

#[test]
fn a_missing_package_or_binary_is_a_clear_error() {
    let (root, options) = workspace();
    let missing = FunctionCode {
        package: "shortener".into(),
        ..hello()
    };
    let err = build(&missing, &root, &options).unwrap_err();
    assert!(matches!(err, Error::PackageNotFound { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`shortener`") && text.contains("--placeholder-code"),
        "{text}"
    );

    let wrong_bin = FunctionCode {
        bin: "nope".into(),
        ..hello()
    };
    let err = build(&wrong_bin, &root, &options).unwrap_err();
    assert!(err.to_string().contains("hello-bin"), "{err}");
}

#[test]
fn a_foreign_architecture_needs_cargo_lambda() {
    let (root, options) = workspace();
    let foreign = FunctionCode {
        architecture: match hello().architecture {
            Architecture::X86_64 => Architecture::Arm64,
            Architecture::Arm64 => Architecture::X86_64,
        },
        ..hello()
    };
    let err = build(&foreign, &root, &options).unwrap_err();
    assert!(matches!(err, Error::NeedsCargoLambda { .. }), "{err:?}");
    assert!(err.to_string().contains("cargo-lambda"), "{err}");
}
