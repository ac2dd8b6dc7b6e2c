//! The text of plans with nested changes: what a reviewer reads.

use super::*;
use archform_engine::plan::Step;
use serde_json::json;

fn update(kind: Kind, id: &str, changes: Vec<Change>) -> Step {
    Step {
        id: id.into(),
        kind,
        action: Action::Update { changes },
        waits_for: Vec::new(),
        desired: None,
    }
}

fn change(property: &str, old: Value, new: Value) -> Change {
    Change {
        property: property.into(),
        old: Some(old),
        new: NewValue::Known(new),
        forces_replacement: false,
    }
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        version: archform_engine::plan::PLAN_VERSION,
        stack: "demo".into(),
        blueprint: "url-shortener".into(),
        parameters: Default::default(),
        base: None,
        steps,
    }
}

/// The lines under the resource's own line.
fn body(step: Step) -> String {
    let text = render_plan(&plan(vec![step]));
    let lines: Vec<&str> = text.lines().collect();
    // Header, resource line, ..., summary.
    lines[2..lines.len() - 1].join("\n") + "\n"
}

fn environment(ttl: &str) -> Value {
    json!({
        "TABLE_NAME": "demo-links",
        "CACHE_TTL_SECONDS": ttl,
        "BASE_URL": "https://sho.rt",
        "RUST_LOG": "info",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/demo-clicks",
    })
}

#[test]
fn a_function_update_shows_only_the_changed_variable_and_subnet() {
    let step = update(
        Kind::Function,
        "api",
        vec![
            change("memory_size", json!(128), json!(256)),
            change("environment", environment("60"), environment("120")),
            change(
                "vpc_config",
                json!({"subnet_ids": ["subnet-1", "subnet-2"], "security_group_ids": ["sg-1"]}),
                json!({"subnet_ids": ["subnet-2", "subnet-1", "subnet-3"], "security_group_ids": ["sg-1"]}),
            ),
        ],
    );
    let text = render_plan(&plan(vec![step]));
    assert_eq!(
        text,
        r#"Plan for stack `demo` (url-shortener):
  ~   api (lambda.function): update in place
        memory_size: 128 -> 256
        environment:
          ~ CACHE_TTL_SECONDS: "60" -> "120"
          (4 unchanged)
        vpc_config.subnet_ids:
          + "subnet-3"
          (2 unchanged)
0 to create, 1 to update, 0 to replace, 0 to delete
"#
    );
}

#[test]
fn map_keys_added_and_removed() {
    let old = json!({"A": "1", "B": "2", "C": "3"});
    let new = json!({"A": "1", "C": "4", "D": "5"});
    assert_eq!(
        body(update(
            Kind::Function,
            "api",
            vec![change("environment", old, new)]
        )),
        r#"        environment:
          ~ C: "3" -> "4"
          + D: "5"
          - B: "2"
          (1 unchanged)
"#
    );
}

#[test]
fn a_policy_shows_the_changed_statement_and_key() {
    let statement = |actions: Value| {
        json!({
            "Sid": "OnlyFromTopic",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": actions,
            "Resource": "arn:aws:sqs:us-east-1:1:jobs",
        })
    };
    let deny = json!({"Sid": "DenyHttp", "Effect": "Deny", "Principal": "*", "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}});
    let old =
        json!({"Version": "2012-10-17", "Statement": [statement(json!(["sqs:SendMessage"]))]});
    let new = json!({"Version": "2012-10-17", "Statement": [
        statement(json!(["sqs:SendMessage", "sqs:GetQueueAttributes"])),
        deny,
    ]});
    assert_eq!(
        body(update(
            Kind::QueuePolicy,
            "jobs_policy",
            vec![change("policy", old, new)]
        )),
        r#"        policy.Statement:
          ~ [0].Action:
              + [1]: "sqs:GetQueueAttributes"
              (1 unchanged)
          + [1]: {"Sid":"DenyHttp","Effect":"Deny","Principal":"*","Action":"sqs:*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}
"#
    );
}

#[test]
fn a_policy_held_as_json_text_is_compared_as_a_document() {
    let old = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]});
    let mut new = old.clone();
    new["Statement"][0]["Effect"] = json!("Deny");
    assert_eq!(
        body(update(
            Kind::QueuePolicy,
            "p",
            vec![change(
                "policy",
                json!(old.to_string()),
                json!(new.to_string())
            )]
        )),
        r#"        policy.Statement[0]:
          ~ Effect: "Allow" -> "Deny"
          (1 unchanged)
"#
    );
}

#[test]
fn set_members_of_objects_are_removed_and_added_whole() {
    let rule = |port: i64| json!({"protocol": "tcp", "from_port": port, "to_port": port, "cidr": "0.0.0.0/0"});
    let old = json!([rule(443), rule(80)]);
    let new = json!([rule(80), rule(8443)]);
    assert_eq!(
        body(update(
            Kind::SecurityGroup,
            "front_sg",
            vec![change("ingress", old, new)]
        )),
        r#"        ingress:
          - {"protocol":"tcp","from_port":443,"to_port":443,"cidr":"0.0.0.0/0"}
          + {"protocol":"tcp","from_port":8443,"to_port":8443,"cidr":"0.0.0.0/0"}
          (1 unchanged)
"#
    );
}

#[test]
fn an_ordered_insertion_is_one_addition() {
    // Tags and undeclared values have no spec: lists keep their order.
    let old = json!({"list": ["a", "c", "d"]});
    let new = json!({"list": ["a", "b", "c", "x"]});
    assert_eq!(
        body(update(
            Kind::Function,
            "api",
            vec![change("extra", old, new)]
        )),
        r#"        extra.list:
          + [1]: "b"
          ~ [3]: "d" -> "x"
          (2 unchanged)
"#
    );
}

#[test]
fn a_left_out_default_is_not_shown_as_a_change() {
    // `projection` left out means ALL, which the table reads back.
    let gsi = |name: &str| json!({"name": name, "partition_key": {"name": "pk", "type": "S"}});
    let read = |name: &str| json!({"name": name, "partition_key": {"name": "pk", "type": "S"}, "projection": "ALL"});
    let old = json!([read("by_owner")]);
    let new = json!([gsi("by_owner"), gsi("by_day")]);
    assert_eq!(
        body(update(
            Kind::Table,
            "links",
            vec![change("global_secondary_indexes", old, new)]
        )),
        r#"        global_secondary_indexes:
          + {"name":"by_day","partition_key":{"name":"pk","type":"S"}}
          (1 unchanged)
"#
    );
}

#[test]
fn long_values_stay_on_one_line() {
    let long = "x".repeat(500);
    let text = body(update(
        Kind::Function,
        "api",
        vec![change(
            "environment",
            json!({"BIG": "small"}),
            json!({"BIG": long}),
        )],
    ));
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.contains(&format!("~ BIG: \"small\" -> \"{long}\"")),
        "{text}"
    );
}

#[test]
fn scalars_unknowns_and_replacements_keep_one_line() {
    let step = Step {
        id: "jobs".into(),
        kind: Kind::Table,
        action: Action::Replace {
            reason: "changing `partition_key` requires a new resource".into(),
            changes: vec![
                Change {
                    property: "partition_key".into(),
                    old: Some(json!({"name": "id", "type": "S"})),
                    new: NewValue::Known(json!({"name": "code", "type": "S"})),
                    forces_replacement: true,
                },
                Change {
                    property: "kms_key_id".into(),
                    old: Some(json!("alias/old")),
                    new: NewValue::KnownAfterApply,
                    forces_replacement: false,
                },
                Change {
                    property: "ttl_attribute".into(),
                    old: None,
                    new: NewValue::Known(json!("expires_at")),
                    forces_replacement: false,
                },
            ],
        },
        waits_for: Vec::new(),
        desired: None,
    };
    assert_eq!(
        body(step),
        r#"        partition_key:  # forces replacement
          ~ name: "id" -> "code"
          (1 unchanged)
        kms_key_id: "alias/old" -> (known after apply)
        ttl_attribute: (none) -> "expires_at"
"#
    );
}

#[test]
fn shapes_that_differ_are_one_change() {
    assert_eq!(
        body(update(
            Kind::Function,
            "api",
            vec![change("extra", json!({"a": 1}), json!([1]))]
        )),
        "        extra: {\"a\":1} -> [1]\n"
    );
}
