//! Subnets must lie inside their VPC and must not overlap each other.

use crate::cidr;
use crate::diagnostic::Diagnostics;
use crate::kinds::Kind;
use crate::model::Graph;
use crate::validate::whole_ref;

pub fn check(graph: &Graph, diags: &mut Diagnostics) {
    let mut seen: Vec<(&str, &str, ipnet::Ipv4Net)> = Vec::new();
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
        for (other, other_vpc, other_net) in &seen {
            if *other_vpc == vpc_id && cidr::overlaps(&net, other_net) {
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
        }
        seen.push((&res.id, &vpc.id, net));
    }
}
