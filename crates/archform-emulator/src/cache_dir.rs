//! Where archform keeps tool venvs, emulator logs, data and daemon state.
//!
//! Everything lives under one root so that a single `rm -rf` resets it, and so
//! that CI can point `ARCHFORM_CACHE_DIR` at a cached folder.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// The cache root: `$ARCHFORM_CACHE_DIR`, else `$XDG_CACHE_HOME/archform`,
/// else `~/.cache/archform`. The directory is not created here.
pub fn cache_root() -> Result<PathBuf> {
    cache_root_from(|name| std::env::var_os(name))
}

/// [`cache_root`] with the environment injected, so the precedence is testable.
pub(crate) fn cache_root_from(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf> {
    let non_empty = |name: &str| env(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("ARCHFORM_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
    if let Some(xdg) = non_empty("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Ok(xdg.join("archform"));
    }
    match non_empty("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".cache").join("archform")),
        None => Err(Error::NoCacheDir),
    }
}

/// `cache_root()/sub`, created if missing.
pub(crate) fn cache_subdir(sub: &str) -> Result<PathBuf> {
    let dir = cache_root()?.join(sub);
    create_dir_all(&dir)?;
    Ok(dir)
}

pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn archform_cache_dir_wins() {
        let env = env_of(&[
            ("ARCHFORM_CACHE_DIR", "/a"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(cache_root_from(env).unwrap(), PathBuf::from("/a"));
    }

    #[test]
    fn xdg_then_home() {
        let env = env_of(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(cache_root_from(env).unwrap(), PathBuf::from("/x/archform"));
        let env = env_of(&[("ARCHFORM_CACHE_DIR", ""), ("HOME", "/h")]);
        assert_eq!(
            cache_root_from(env).unwrap(),
            PathBuf::from("/h/.cache/archform")
        );
    }

    #[test]
    fn relative_xdg_is_ignored() {
        let env = env_of(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]);
        assert_eq!(
            cache_root_from(env).unwrap(),
            PathBuf::from("/h/.cache/archform")
        );
    }

    #[test]
    fn nothing_set_is_an_error() {
        assert!(matches!(
            cache_root_from(env_of(&[])),
            Err(Error::NoCacheDir)
        ));
    }
}
