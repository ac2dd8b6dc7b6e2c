//! Function code: `code.zip` paths become absolute and carry the zip's hash,
//! so an unchanged zip plans as no change and a changed one as an update.
//! Code named as `{package, bin}` is built first (see [`build_functions`]).
//! A zip over Lambda's direct-upload limit also carries `artifact_bucket`,
//! the S3 bucket the provider uploads it to; without one it is refused here,
//! before anything touches AWS.

use anyhow::Context;
use archform_blueprint::Graph;
use archform_package::{
    Architecture, Artifact, BuildOptions, BuildProfile, FunctionCode, Upload, upload_route,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Names the existing S3 bucket (in the stack's region) that zips over
/// Lambda's direct-upload limit are uploaded to (also `--artifact-bucket`).
pub const ARTIFACT_BUCKET_ENV: &str = "ARCHFORM_ARTIFACT_BUCKET";
/// `dev` builds functions with Cargo's dev profile for this machine (fast,
/// unoptimized: for `archform dev` and tests); `lambda` (default) with the
/// size-tuned release profile that goes to AWS.
pub const BUILD_PROFILE_ENV: &str = "ARCHFORM_BUILD_PROFILE";
/// The Cargo workspace holding lambdas/ (default: the nearest one above the
/// current directory).
pub const WORKSPACE_ENV: &str = "ARCHFORM_WORKSPACE";

/// One function built from `{package, bin}`.
pub struct Built {
    pub id: String,
    pub code: FunctionCode,
    pub artifact: Artifact,
}

/// The `{package, bin}` code of a function whose code has no `zip`.
fn function_code(r: &archform_blueprint::Resource) -> Option<FunctionCode> {
    let code = r.properties.get("code")?.as_object()?;
    if code.contains_key("zip") {
        return None;
    }
    let package = code.get("package")?.as_str()?.to_string();
    let bin = code.get("bin")?.as_str()?.to_string();
    let architecture = r
        .properties
        .get("architecture")
        .and_then(|a| a.as_str())
        .and_then(Architecture::parse)
        .unwrap_or_default();
    Some(FunctionCode {
        package,
        bin,
        architecture,
    })
}

/// Builds every function whose code is `{package, bin}` (each distinct one
/// once), in resource order. Build warnings go to stderr.
pub fn build_functions(graph: &Graph) -> anyhow::Result<Vec<Built>> {
    let wanted: Vec<(String, FunctionCode)> = graph
        .resources
        .values()
        .filter(|r| r.kind == archform_blueprint::kinds::Kind::Function)
        .filter_map(|r| function_code(r).map(|c| (r.id.clone(), c)))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let root = match std::env::var_os(WORKSPACE_ENV) {
        Some(w) => PathBuf::from(w),
        None => archform_package::find_workspace_root(Path::new("."))?,
    };
    let profile = match std::env::var(BUILD_PROFILE_ENV) {
        Ok(p) if !p.is_empty() => BuildProfile::parse(&p).with_context(|| {
            format!("{BUILD_PROFILE_ENV}={p} is not a build profile: use `lambda` (the default) or `dev`")
        })?,
        _ => BuildProfile::Lambda,
    };
    let options = BuildOptions {
        profile,
        ..Default::default()
    };
    let mut done: BTreeMap<(String, String, &'static str), Artifact> = BTreeMap::new();
    let mut built = Vec::new();
    for (id, code) in wanted {
        let key = (
            code.package.clone(),
            code.bin.clone(),
            code.architecture.as_str(),
        );
        let artifact = match done.get(&key) {
            Some(a) => a.clone(),
            None => {
                let a = archform_package::build(&code, &root, &options)
                    .with_context(|| format!("building function `{id}`"))?;
                for w in &a.warnings {
                    eprintln!("warning: {w}");
                }
                done.insert(key, a.clone());
                a
            }
        };
        built.push(Built { id, code, artifact });
    }
    Ok(built)
}

/// Rewrites every function's `code` in place. `blueprint_dir` anchors
/// relative zip paths; `override_zip` replaces all code (placeholder deploys).
/// Without an override, `{package, bin}` code is built and becomes its zip.
/// Zips over the direct-upload limit get `artifact_bucket` (only those: the
/// bucket setting does not change the code of functions that fit inline).
pub fn prepare(
    graph: &mut Graph,
    blueprint_dir: &Path,
    override_zip: Option<&Path>,
    artifact_bucket: Option<&str>,
) -> anyhow::Result<()> {
    if override_zip.is_none() {
        for b in build_functions(graph)? {
            let Some(code) = graph
                .resources
                .get_mut(&b.id)
                .and_then(|r| r.properties.get_mut("code"))
                .and_then(|c| c.as_object_mut())
            else {
                continue;
            };
            code.insert(
                "zip".into(),
                b.artifact.zip_path.display().to_string().into(),
            );
        }
    }
    for r in graph
        .resources
        .values_mut()
        .filter(|r| r.kind == archform_blueprint::kinds::Kind::Function)
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
        let route = upload_route(&r.id, &zip, bytes.len() as u64, artifact_bucket)?;
        code.insert("zip".into(), zip.display().to_string().into());
        code.insert("sha256".into(), hash.into());
        if let Upload::ArtifactBucket(bucket) = route {
            code.insert("artifact_bucket".into(), bucket.into());
        }
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
    std::fs::write(&path, archform_package::zip::placeholder_function())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
