//! archform's blueprint language: a blueprint (YAML header + handlebars body)
//! and a stack's parameters become a validated graph of typed AWS resources,
//! which exports to CloudFormation, Mermaid and Graphviz.

pub mod advice;
pub mod catalog;
pub mod cidr;
pub mod diagnostic;
pub mod export;
mod helpers;
pub mod kinds;
pub mod limits;
pub mod load;
pub mod model;
pub mod naming;
pub mod params;
mod partial_graph;
pub mod refs;
mod steps;
pub mod template;
mod validate;
pub mod yaml;

pub use diagnostic::{Diagnostic, Diagnostics, Location};
pub use load::{LoadError, StackRequest, blueprint_info, compile};
pub use model::{BlueprintInfo, Graph, Resource};
