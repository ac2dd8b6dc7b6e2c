//! docs/blueprints.md shows each blueprint's diagram; this keeps them equal to what
//! `archform render <bp> --format mermaid` draws. `ARCHFORM_UPDATE_GOLDEN=1`
//! rewrites the section instead.

use std::path::Path;
use std::process::Command;

const START: &str = "<!-- diagrams:start -->";
const END: &str = "<!-- diagrams:end -->";

fn section() -> String {
    let mut out = String::new();
    for name in archform_blueprint::catalog::embedded_names() {
        let info = archform_blueprint::blueprint_info(name).unwrap();
        let mermaid = Command::new(env!("CARGO_BIN_EXE_archform"))
            .args(["render", name, "--format", "mermaid"])
            .output()
            .unwrap();
        assert!(
            mermaid.status.success(),
            "{}",
            String::from_utf8_lossy(&mermaid.stderr)
        );
        out.push_str(&format!(
            "### {name}\n\n{}\n\n```mermaid\n{}```\n\n",
            info.description,
            String::from_utf8_lossy(&mermaid.stdout)
        ));
    }
    out
}

#[test]
fn readme_diagrams_match_the_renderer() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/blueprints.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = readme
        .split_once(START)
        .expect("docs/blueprints.md has the diagrams:start marker");
    let (current, tail) = rest
        .split_once(END)
        .expect("docs/blueprints.md has the diagrams:end marker");
    let wanted = format!("\n{}", section());
    if std::env::var_os("ARCHFORM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{head}{START}{wanted}{END}{tail}")).unwrap();
        eprintln!("rewrote the diagrams in docs/blueprints.md");
        return;
    }
    assert!(
        current == wanted,
        "docs/blueprints.md's diagrams are stale; run `ARCHFORM_UPDATE_GOLDEN=1 cargo test --test readme`"
    );
}
