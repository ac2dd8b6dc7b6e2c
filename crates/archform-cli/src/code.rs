//! Function code: `code.zip` paths become absolute and carry the zip's hash,
//! so an unchanged zip plans as no change and a changed one as an update.

use anyhow::Context;
use archform_blueprint::Graph;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Rewrites every function's `code` in place. `blueprint_dir` anchors
/// relative zip paths; `override_zip` replaces all code (placeholder deploys).
pub fn prepare(
    graph: &mut Graph,
    blueprint_dir: &Path,
    override_zip: Option<&Path>,
) -> anyhow::Result<()> {
    for r in graph
        .resources
        .values_mut()
        .filter(|r| r.kind.name == "lambda.function")
    {
        let Some(code) = r.properties.get_mut("code").and_then(|c| c.as_object_mut()) else {
            continue;
        };
        let zip: Option<PathBuf> = match override_zip {
            Some(z) => Some(z.to_path_buf()),
            None => code
                .get("zip")
                .and_then(|z| z.as_str())
                .map(|z| blueprint_dir.join(z)),
        };
        let Some(zip) = zip else { continue };
        let zip = zip.canonicalize().with_context(|| {
            format!("function `{}`: code zip {} not found", r.id, zip.display())
        })?;
        let bytes = std::fs::read(&zip).with_context(|| format!("reading {}", zip.display()))?;
        let hash: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        code.insert("zip".into(), zip.display().to_string().into());
        code.insert("sha256".into(), hash.into());
    }
    Ok(())
}

/// Writes the placeholder package (a `bootstrap` that answers nothing) to
/// `.archform/placeholder.zip` and returns its path. The bytes never change,
/// so redeploys see no code change.
pub fn placeholder() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(".archform");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("placeholder.zip");
    std::fs::write(&path, archform_testkit::zip::placeholder_function())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
