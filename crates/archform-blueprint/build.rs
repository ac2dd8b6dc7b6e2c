//! Embeds blueprints/ and templates/ into the library so the `archform`
//! binary works from any directory and `archform blueprints` needs no files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, ext: &[&str], out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, base, ext, out);
        } else if ext.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path.canonicalize().unwrap_or(path)));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut code = String::new();
    for (name, dir, ext) in [
        ("BLUEPRINTS", "blueprints", &[".yaml"][..]),
        ("TEMPLATES", "templates", &[".hbs"][..]),
    ] {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        collect(&dir, &dir, ext, &mut files);
        writeln!(code, "pub static {name}: &[(&str, &str)] = &[").unwrap();
        for (rel, path) in &files {
            println!("cargo:rerun-if-changed={}", path.display());
            writeln!(
                code,
                "    ({rel:?}, include_str!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
