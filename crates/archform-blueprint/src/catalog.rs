//! Where blueprints and templates come from: the copies embedded at build
//! time, or files on disk for users' own blueprints.

use crate::template::TemplateSource;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A blueprint's text and the name used for it in diagnostics.
#[derive(Clone, Debug)]
pub struct BlueprintSource {
    pub file: String,
    pub text: String,
    /// Directory holding user templates next to a blueprint file, if any.
    pub templates_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "no blueprint named `{0}`; the embedded ones are: {1}. Give one of those or a path to a .yaml file"
    )]
    UnknownBlueprint(String, String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Names of the embedded blueprints (file stem), in file order.
pub fn embedded_names() -> Vec<&'static str> {
    embedded::BLUEPRINTS
        .iter()
        .map(|(f, _)| f.trim_end_matches(".yaml"))
        .collect()
}

/// Finds a blueprint by embedded name, or reads it from a path.
pub fn find(name_or_path: &str) -> Result<BlueprintSource, CatalogError> {
    if let Some((f, text)) = embedded::BLUEPRINTS
        .iter()
        .find(|(f, _)| f.trim_end_matches(".yaml") == name_or_path)
    {
        return Ok(BlueprintSource {
            file: format!("blueprints/{f}"),
            text: (*text).to_string(),
            templates_dir: None,
        });
    }
    let path = Path::new(name_or_path);
    let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".yaml");
    if !looks_like_path || !path.exists() {
        if looks_like_path {
            return Err(CatalogError::Read {
                path: name_or_path.into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        return Err(CatalogError::UnknownBlueprint(
            name_or_path.into(),
            embedded_names().join(", "),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
        path: name_or_path.into(),
        source,
    })?;
    // A blueprints/ folder's sibling templates/ holds that project's partials.
    let templates_dir = path
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("templates"))
        .filter(|p| p.is_dir());
    Ok(BlueprintSource {
        file: name_or_path.into(),
        text,
        templates_dir,
    })
}

/// All partials: embedded ones, overridden by same-named files in `dir`.
pub fn partials(dir: Option<&Path>) -> Vec<(String, TemplateSource)> {
    let mut out: Vec<(String, TemplateSource)> = embedded::TEMPLATES
        .iter()
        .map(|(f, text)| {
            (
                f.trim_end_matches(".hbs").to_string(),
                TemplateSource {
                    file: format!("templates/{f}"),
                    text: (*text).to_string(),
                    first_line: 1,
                },
            )
        })
        .collect();
    if let Some(dir) = dir {
        let mut files = Vec::new();
        walk(dir, &mut files);
        for path in files {
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let name = rel
                .to_string_lossy()
                .trim_end_matches(".hbs")
                .replace('\\', "/");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let src = TemplateSource {
                file: path.display().to_string(),
                text,
                first_line: 1,
            };
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = src,
                None => out.push((name, src)),
            }
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "hbs") {
            out.push(p);
        }
    }
}
