//! Errors of the local runtime itself (not of the function: those are
//! outcomes, see [`crate::InvokeOutcome`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("binding the Runtime API listener on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("starting the function's bootstrap {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Runtime API server stopped unexpectedly")]
    ApiGone,
}
