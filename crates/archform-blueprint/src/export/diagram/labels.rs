//! Short arrow labels from IAM actions, SNS filter policies and security
//! group rules.

use super::scene::Flow;
use crate::model::Resource;
use serde_json::Value;

/// The `Allow` statements of a role's inline policies.
pub fn statements(role: &Resource) -> Vec<&Value> {
    let mut out = Vec::new();
    let policies = role.prop("policies").and_then(Value::as_array);
    for policy in policies.into_iter().flatten() {
        let Some(statement) = policy.get("document").and_then(|d| d.get("Statement")) else {
            continue;
        };
        let list: Vec<&Value> = match statement {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        out.extend(
            list.into_iter()
                .filter(|s| s.get("Effect").and_then(Value::as_str) != Some("Deny")),
        );
    }
    out
}

/// The IAM service prefix of the actions that act on a kind of resource.
pub fn service(kind: Option<&str>) -> Option<&'static str> {
    Some(match kind?.split('.').next()? {
        "dynamodb" => "dynamodb",
        "sqs" => "sqs",
        "sns" => "sns",
        "s3" => "s3",
        "rds" => "rds-db",
        "secretsmanager" => "secretsmanager",
        "lambda" => "lambda",
        "apigatewayv2" => "execute-api",
        _ => return None,
    })
}

/// What a statement's actions do to a resource of `service`: `read`, `write`,
/// `send`, `consume`, `publish`, ... Actions of other services are ignored,
/// unless none match (a secret's actions on a database's managed secret).
pub fn verbs(actions: Option<&Value>, service: Option<&str>) -> Vec<String> {
    let actions: Vec<&str> = match actions {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let matching: Vec<&str> = actions
        .iter()
        .copied()
        .filter(|a| match (service, a.split_once(':')) {
            (Some(svc), Some((s, _))) => s == svc || (svc == "rds-db" && s == "rds"),
            _ => *a == "*",
        })
        .collect();
    let chosen = if matching.is_empty() {
        &actions
    } else {
        &matching
    };
    let mut out: Vec<String> = Vec::new();
    for a in chosen {
        for v in verb(a) {
            if !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
    }
    out
}

fn verb(action: &str) -> Vec<&'static str> {
    let (svc, op) = action.split_once(':').unwrap_or(("*", action));
    let reads = [
        "Get",
        "BatchGet",
        "Query",
        "Scan",
        "Describe",
        "List",
        "Head",
        "ConditionCheck",
    ];
    let read_or_write = |op: &str| -> Vec<&'static str> {
        if op == "*" {
            vec!["read", "write"]
        } else if reads.iter().any(|p| op.starts_with(p)) {
            vec!["read"]
        } else {
            vec!["write"]
        }
    };
    match svc {
        "sqs" if op.starts_with("Send") => vec!["send"],
        "sqs" if op == "*" => vec!["send", "consume"],
        "sqs" => vec!["consume"],
        "sns" if op.starts_with("Publish") || op == "*" => vec!["publish"],
        "sns" => vec![],
        "lambda" if op.starts_with("Invoke") || op == "*" => vec!["invoke"],
        "execute-api" if op == "ManageConnections" || op == "*" => vec!["post to connections"],
        "execute-api" => vec!["invoke"],
        "secretsmanager" if op.starts_with("Get") || op == "*" => vec!["read secret"],
        "rds-db" => vec!["IAM connect"],
        "kms" | "logs" | "ec2" | "xray" | "cloudwatch" => vec![],
        _ => read_or_write(op),
    }
}

/// Verbs joined for an arrow: `read` and `write` together read `read/write`.
pub fn join_verbs(verbs: &[String]) -> String {
    let read = verbs.iter().any(|v| v == "read");
    let write = verbs.iter().any(|v| v == "write");
    let mut out: Vec<&str> = Vec::new();
    for v in verbs {
        match v.as_str() {
            "read" | "write" if read && write => {
                if !out.contains(&"read/write") {
                    out.push("read/write");
                }
            }
            other => out.push(other),
        }
    }
    out.join(", ")
}

/// An SNS filter policy in a few words: `channel=email`, `type=a|b`.
pub fn filter_policy(policy: &Value) -> String {
    let Value::Object(map) = policy else {
        return compact(policy);
    };
    let parts: Vec<String> = map
        .iter()
        .map(|(key, cond)| match cond {
            Value::Array(values) => {
                let simple: Option<Vec<String>> = values.iter().map(scalar).collect();
                match simple {
                    Some(v) => format!("{key}={}", v.join("|")),
                    None => format!(
                        "{key}: {}",
                        values.iter().map(condition).collect::<Vec<_>>().join("|")
                    ),
                }
            }
            Value::Object(_) => format!("{key}: {{{}}}", filter_policy(cond)),
            other => format!("{key}={}", scalar(other).unwrap_or_else(|| compact(other))),
        })
        .collect();
    parts.join(", ")
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One matching condition: `prefix abc`, `anything-but x`, or compact JSON.
fn condition(v: &Value) -> String {
    if let Some(s) = scalar(v) {
        return s;
    }
    if let Value::Object(m) = v
        && m.len() == 1
    {
        let (op, arg) = m.iter().next().expect("one entry");
        let arg = match arg {
            Value::Array(a) => a
                .iter()
                .map(|x| scalar(x).unwrap_or_else(|| compact(x)))
                .collect::<Vec<_>>()
                .join(","),
            x => scalar(x).unwrap_or_else(|| compact(x)),
        };
        return format!("{op} {arg}");
    }
    compact(v)
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A security group rule's protocol and ports: `tcp 80`, `tcp 1024-65535`, `all traffic`.
pub fn ports(rule: &Value) -> String {
    let proto = rule.get("protocol").and_then(Value::as_str).unwrap_or("");
    let from = rule.get("from_port").and_then(Value::as_i64);
    let to = rule.get("to_port").and_then(Value::as_i64);
    match (proto, from, to) {
        ("-1", _, _) => "all traffic".into(),
        ("icmp", _, _) => "icmp".into(),
        (p, Some(f), Some(t)) if f == t => format!("{p} {f}"),
        (p, Some(-1), _) | (p, Some(0), Some(65535)) => format!("{p} all ports"),
        (p, Some(f), Some(t)) => format!("{p} {f}-{t}"),
        (p, _, _) => p.to_string(),
    }
}

/// The labels of all arrows merged into one arrow.
pub fn merge(flow: Flow, labels: &[String]) -> String {
    if flow == Flow::Rule {
        // `tcp 80` + `tcp 443` -> `tcp 80, 443`.
        let mut by_proto: Vec<(String, Vec<String>)> = Vec::new();
        for l in labels {
            let (proto, port) = l.split_once(' ').unwrap_or((l.as_str(), ""));
            match by_proto.iter_mut().find(|(p, _)| p == proto) {
                Some((_, ports)) if !port.is_empty() => ports.push(port.into()),
                Some(_) => {}
                None => by_proto.push((
                    proto.into(),
                    if port.is_empty() {
                        vec![]
                    } else {
                        vec![port.into()]
                    },
                )),
            }
        }
        return by_proto
            .into_iter()
            .map(|(p, ports)| {
                if ports.is_empty() {
                    p
                } else {
                    format!("{p} {}", ports.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    labels.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verbs_from_actions() {
        let a = json!(["dynamodb:GetItem", "dynamodb:PutItem", "sqs:SendMessage"]);
        assert_eq!(verbs(Some(&a), Some("dynamodb")), ["read", "write"]);
        assert_eq!(verbs(Some(&a), Some("sqs")), ["send"]);
        assert_eq!(join_verbs(&verbs(Some(&a), Some("dynamodb"))), "read/write");
        let s = json!("secretsmanager:GetSecretValue");
        assert_eq!(verbs(Some(&s), Some("rds-db")), ["read secret"]);
        let c = json!(["sqs:ReceiveMessage", "sqs:DeleteMessage"]);
        assert_eq!(verbs(Some(&c), Some("sqs")), ["consume"]);
    }

    #[test]
    fn filter_policies_read_short() {
        assert_eq!(
            filter_policy(&json!({"channel": ["email"]})),
            "channel=email"
        );
        assert_eq!(
            filter_policy(&json!({"channel": ["sms", "push"], "lang": [{"prefix": "en"}]})),
            "channel=sms|push, lang: prefix en"
        );
    }

    #[test]
    fn rule_ports_merge() {
        let l = vec!["tcp 80".to_string(), "tcp 443".to_string()];
        assert_eq!(merge(Flow::Rule, &l), "tcp 80, 443");
        assert_eq!(
            ports(&json!({"protocol": "-1", "from_port": -1, "to_port": -1})),
            "all traffic"
        );
        assert_eq!(
            ports(&json!({"protocol": "tcp", "from_port": 5432, "to_port": 5432})),
            "tcp 5432"
        );
    }
}
