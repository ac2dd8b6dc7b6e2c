//! Warnings about a valid graph: things that deploy and work but that a
//! reviewer would flag. They are printed by `archform validate`; they stop
//! nothing.

use crate::model::Graph;

/// One line per finding, naming the resource and what to do.
pub fn warnings(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (id, lb) in &graph.resources {
        if lb.kind.name != "elbv2.load_balancer"
            || lb.prop("scheme").and_then(|s| s.as_str()) != Some("internet-facing")
        {
            continue;
        }
        let reference = format!("${{{id}.arn}}");
        let https = graph.resources.values().any(|l| {
            l.kind.name == "elbv2.listener"
                && l.prop("load_balancer_arn").and_then(|a| a.as_str()) == Some(&reference)
                && l.prop("protocol").and_then(|p| p.as_str()) == Some("HTTPS")
        });
        if !https {
            found.push(format!(
                "`{id}` is internet-facing with plain HTTP only: requests and answers (API keys, session cookies) cross the internet in clear; set the certificate_arn parameter to an ACM certificate for your domain to serve HTTPS (TLS 1.2/1.3) and redirect port 80 to it"
            ));
        }
    }
    found
}
