//! Architecture diagrams: Mermaid `flowchart` and Graphviz `digraph`.
//!
//! Not a dump of every resource: the picture an architect would draw.
//!
//! - VPCs are frames holding one frame per subnet tier (public, private app,
//!   isolated data, from the subnet `tier`), summarised by AZ count; gateways,
//!   load balancers, VPC-attached functions and databases sit in the tier of
//!   the subnets they run in.
//! - Entry points (load balancers, function URLs, APIs), functions, stores,
//!   queues and topics are boxes, shaped by what they are.
//! - Wiring resources (roles, log groups, permissions, route tables, EIPs,
//!   listeners, target groups, integrations, routes, deployments,
//!   subscriptions, event source mappings) are not boxes but arrows:
//!   internet -> gateway -> load balancer -> function (path patterns),
//!   clients -> API -> function (route keys), queue -> function (batch size),
//!   topic -> queue (filter policy), queue -> DLQ (maxReceiveCount),
//!   function -> store/queue/topic (role policy and environment references,
//!   labelled read/write/send/publish), private tier -> NAT -> internet gateway.
//! - Security groups form a small frame of their own in the VPC, with their
//!   ingress rules as arrows between them (the tier-to-tier chain).
//!
//! Output is deterministic: it follows blueprint order.

mod dot;
mod labels;
mod mermaid;
mod scene;
mod style;

use crate::model::Graph;

/// The architecture as a Mermaid `flowchart LR`.
pub fn mermaid(graph: &Graph) -> String {
    mermaid::render(&scene::build(graph))
}

/// The architecture as a Graphviz `digraph` (render with `dot -Tsvg`).
pub fn dot(graph: &Graph) -> String {
    dot::render(&scene::build(graph))
}
