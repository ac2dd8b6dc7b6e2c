//! Providers of the edge kinds.

use super::Handler;

pub(super) fn handler(kind: &str) -> Option<&'static Handler> {
    let _ = kind;
    None
}
