//! Checks of a rendered graph. Each module adds diagnostics; none stops the
//! others, so one run reports every problem.

mod cidrs;
mod lint;
mod names;
mod references;
pub mod schema;
mod wiring;

use crate::diagnostic::Diagnostics;
use crate::model::Graph;

pub fn run(graph: &Graph, diags: &mut Diagnostics) {
    let refs_ok = references::check(graph, diags);
    names::check(graph, diags);
    cidrs::check(graph, diags);
    lint::check(graph, diags);
    wiring::check(graph, diags);
    if refs_ok {
        references::check_cycles(graph, diags);
    }
}

/// `Some((id, attr))` when the value is exactly one `${id.attr}` reference.
pub(crate) fn whole_ref(v: &serde_json::Value) -> Option<(String, String)> {
    let s = v.as_str()?;
    match crate::refs::split(s).ok()?.as_slice() {
        [crate::refs::Piece::Ref(r)] => Some((r.id.clone(), r.attr.clone())),
        _ => None,
    }
}
