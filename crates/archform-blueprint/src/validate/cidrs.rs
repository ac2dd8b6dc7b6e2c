//! Subnets must lie inside their VPC and must not overlap each other.

use crate::cidr;
use crate::diagnostic::Diagnostics;
use crate::kinds::Kind;
use crate::model::Graph;
use crate::steps::{self, Step};
use crate::validate::whole_ref;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap};

pub fn check(graph: &Graph, diags: &mut Diagnostics) {
    // Subnets checked so far, in blueprint order, and per VPC an index of
    // their blocks: comparing each subnet with every earlier one made a VPC
    // of n subnets cost n^2 comparisons.
    let mut seen: Vec<(&str, Ipv4Net)> = Vec::new();
    let mut by_vpc: HashMap<&str, Blocks> = HashMap::new();
    for res in graph.resources.values().filter(|r| r.kind == Kind::Subnet) {
        let Some(net) = res
            .prop("cidr_block")
            .and_then(|v| v.as_str())
            .and_then(|s| cidr::parse(s).ok())
        else {
            continue;
        };
        let Some((vpc_id, _)) = res.prop("vpc_id").and_then(whole_ref) else {
            continue;
        };
        let Some(vpc) = graph.resources.get(&vpc_id) else {
            continue;
        };
        let Some(vpc_net) = vpc
            .prop("cidr_block")
            .and_then(|v| v.as_str())
            .and_then(|s| cidr::parse(s).ok())
        else {
            continue;
        };
        let loc = res.locate("/cidr_block");
        if !vpc_net.contains(&net) {
            diags.error(
                "cidr/outside-vpc",
                loc.clone(),
                format!(
                    "subnet `{}` ({net}) is not inside its VPC `{vpc_id}` ({vpc_net})",
                    res.id
                ),
                format!("choose a block inside {vpc_net}, e.g. with {{{{cidr_subnet ...}}}}"),
            );
        }
        if net.prefix_len() > 28 || net.prefix_len() < 16 {
            diags.error(
                "cidr/subnet-size",
                loc.clone(),
                format!(
                    "subnet `{}` is a /{}; AWS subnets are /16 to /28",
                    res.id,
                    net.prefix_len()
                ),
                "use a prefix length from 16 to 28",
            );
        }
        let blocks = by_vpc.entry(vpc.id.as_str()).or_default();
        // Reported in the order the other subnets were written.
        for other in blocks.overlapping(&net) {
            let (other, other_net) = seen[other];
            diags.error(
                "cidr/overlap",
                loc.clone(),
                format!(
                    "subnet `{}` ({net}) overlaps subnet `{other}` ({other_net})",
                    res.id
                ),
                "give each subnet of a VPC its own block",
            );
        }
        blocks.add(&net, seen.len());
        seen.push((&res.id, net));
    }
}

/// The blocks of one VPC's subnets, keyed by (network address, prefix
/// length), each with the positions in `seen` of the subnets that have it.
/// Two CIDR blocks overlap exactly when one contains the other, so the
/// blocks overlapping a new one are its at most 33 enclosing blocks (looked
/// up one by one) and the blocks inside it (one range of keys).
#[derive(Default)]
struct Blocks(BTreeMap<(u32, u8), Vec<usize>>);

impl Blocks {
    fn add(&mut self, net: &Ipv4Net, at: usize) {
        self.0.entry(key(net)).or_default().push(at);
    }

    /// Positions of the blocks overlapping `net`, in ascending order.
    fn overlapping(&self, net: &Ipv4Net) -> Vec<usize> {
        let (start, prefix) = key(net);
        let mut out = Vec::new();
        // Blocks that contain `net` or are equal to it.
        for len in 0..=prefix {
            steps::count(Step::CidrCompare, 1);
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            if let Some(at) = self.0.get(&(start & mask, len)) {
                out.extend(at);
            }
        }
        // Blocks inside `net`: their network address lies in its range.
        let end = u32::from(net.broadcast());
        for ((_, len), at) in self.0.range((start, 0)..=(end, 32)) {
            steps::count(Step::CidrCompare, 1);
            if *len > prefix {
                out.extend(at);
            }
        }
        out.sort_unstable();
        out
    }
}

fn key(net: &Ipv4Net) -> (u32, u8) {
    (u32::from(net.network()), net.prefix_len())
}
