//! Unpacks a function's deployment zip (for `bootstrap`). A small reader for
//! stored and deflated entries (what archform's own zip writer and most zip
//! tools produce); other compression methods are refused with a clear error.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}: not a zip file (no end of central directory)")]
    NotZip(PathBuf),
    #[error("{zip}: entry `{name}` is truncated or points outside the file")]
    Truncated { zip: PathBuf, name: String },
    #[error(
        "{zip}: entry `{name}` uses compression method {method}; only stored (0) and deflated (8) \
         entries are supported"
    )]
    Compressed {
        zip: PathBuf,
        name: String,
        method: u16,
    },
    #[error("{zip}: entry `{name}` has an unsafe path")]
    UnsafePath { zip: PathBuf, name: String },
    #[error("{0}: the zip has no `bootstrap` at its root")]
    NoBootstrap(PathBuf),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Extracts every file of `zip` into `dir` (modes from the zip, `bootstrap`
/// executable) and returns the path of `bootstrap`.
pub fn extract(zip: &Path, dir: &Path) -> Result<PathBuf, BundleError> {
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Io {
            action,
            path,
            source,
        }
    };
    let bytes = std::fs::read(zip).map_err(io("reading", zip))?;
    let not_zip = || BundleError::NotZip(zip.to_path_buf());
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&bytes, i) == Some(0x0605_4b50))
        .ok_or_else(not_zip)?;
    let count = u16_at(&bytes, eocd + 10).ok_or_else(not_zip)? as usize;
    let mut at = u32_at(&bytes, eocd + 16).ok_or_else(not_zip)? as usize;
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut bootstrap = None;
    for _ in 0..count {
        if u32_at(&bytes, at) != Some(0x0201_4b50) {
            return Err(not_zip());
        }
        let field = |off: usize| u16_at(&bytes, at + off).ok_or_else(not_zip);
        let method = field(10)?;
        let size = u32_at(&bytes, at + 20).ok_or_else(not_zip)? as usize;
        let unpacked_size = u32_at(&bytes, at + 24).ok_or_else(not_zip)? as usize;
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let attrs = u32_at(&bytes, at + 38).ok_or_else(not_zip)?;
        let local = u32_at(&bytes, at + 42).ok_or_else(not_zip)? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(not_zip)?;
        at += 46 + name_len + extra_len + comment_len;
        let rel = Path::new(&name);
        if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(BundleError::UnsafePath {
                zip: zip.to_path_buf(),
                name,
            });
        }
        let target = dir.join(rel);
        if name.ends_with('/') {
            std::fs::create_dir_all(&target).map_err(io("creating", &target))?;
            continue;
        }
        if method != 0 && method != 8 {
            return Err(BundleError::Compressed {
                zip: zip.to_path_buf(),
                name,
                method,
            });
        }
        let truncated = || BundleError::Truncated {
            zip: zip.to_path_buf(),
            name: name.clone(),
        };
        let local_name = u16_at(&bytes, local + 26).ok_or_else(truncated)? as usize;
        let local_extra = u16_at(&bytes, local + 28).ok_or_else(truncated)? as usize;
        let start = local + 30 + local_name + local_extra;
        let packed = bytes.get(start..start + size).ok_or_else(truncated)?;
        let inflated;
        let data = if method == 8 {
            use std::io::Read;
            let mut out = Vec::with_capacity(unpacked_size);
            flate2::read::DeflateDecoder::new(packed)
                .read_to_end(&mut out)
                .map_err(|_| truncated())?;
            if out.len() != unpacked_size {
                return Err(truncated());
            }
            inflated = out;
            &inflated[..]
        } else {
            packed
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        std::fs::write(&target, data).map_err(io("writing", &target))?;
        let mut mode = (attrs >> 16) & 0o777;
        if name == "bootstrap" {
            mode |= 0o755;
            bootstrap = Some(target.clone());
        }
        if mode != 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(io("setting the mode of", &target))?;
        }
    }
    bootstrap.ok_or_else(|| BundleError::NoBootstrap(zip.to_path_buf()))
}
