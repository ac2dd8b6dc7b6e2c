//! Architecture diagrams (being written).
use crate::model::Graph;

pub fn mermaid(graph: &Graph) -> String {
    format!("flowchart LR\n  %% {}\n", graph.stack.name)
}

pub fn dot(graph: &Graph) -> String {
    format!("digraph \"{}\" {{}}\n", graph.stack.name)
}
