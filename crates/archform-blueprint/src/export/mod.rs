//! Exports of a graph: CloudFormation, Mermaid, Graphviz.

pub mod cloudformation;
pub mod diagram;
