//! Each of the four blueprints, with placeholder function code, on the
//! emulator behind the counting proxy: deploy, check the wiring through the
//! SDK, redeploy with zero mutating calls, plan a parameter change that
//! touches only what it should, destroy, and find nothing tagged left.

use archform_aws::{Clients, assert_no_leftovers};
use archform_testkit::{FaultConfig, FaultProxy, sdk_config, test_endpoint};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct Stack {
    dir: PathBuf,
    name: String,
    blueprint: &'static str,
    endpoint: String,
    zip: String,
}

impl Stack {
    fn new(blueprint: &'static str, endpoint: &str) -> Stack {
        let short: String = blueprint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(4)
            .collect();
        let name = format!("{short}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("archform-bp-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let zip = dir.join("placeholder.zip");
        std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
        Stack {
            dir,
            name,
            blueprint,
            endpoint: endpoint.into(),
            zip: zip.display().to_string(),
        }
    }

    async fn run(&self, args: &[&str]) -> (i32, Value, String) {
        let (dir, args) = (
            self.dir.clone(),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_archform"))
                .current_dir(&dir)
                .args(&args)
                .args(["--output", "json"])
                .output()
                .unwrap();
            (
                out.status.code().unwrap_or(-1),
                serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        })
        .await
        .unwrap()
    }

    async fn deploy(&self, extra: &[&str]) -> (i32, Value, String) {
        let mut a = vec![
            "deploy",
            self.blueprint,
            "--stack",
            &self.name,
            "--endpoint",
            &self.endpoint,
            "--code-override",
            &self.zip,
        ];
        a.extend_from_slice(extra);
        self.run(&a).await
    }

    /// Steps a plan with `--set` changes, leaving out `ignore` (steps the
    /// emulator cannot do, which every plan proposes again).
    async fn changed_by(&self, set: &[&str], ignore: &[String]) -> Vec<String> {
        let mut a = vec![
            "plan",
            self.blueprint,
            "--stack",
            &self.name,
            "--endpoint",
            &self.endpoint,
            "--code-override",
            &self.zip,
            "--detailed-exitcode",
        ];
        for s in set {
            a.push("--set");
            a.push(s);
        }
        let (code, plan, err) = self.run(&a).await;
        assert_eq!(code, 2, "a parameter change must plan changes: {err}");
        let mut ids: Vec<String> = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["action"] != "no_op")
            .filter(|s| !ignore.iter().any(|i| s["id"] == i.as_str()))
            .map(|s| {
                format!(
                    "{}:{}",
                    s["id"].as_str().unwrap(),
                    s["action"].as_str().unwrap()
                )
            })
            .collect();
        ids.sort();
        ids
    }

    /// Physical id and attributes of a resource, from the saved state.
    fn resource(&self, id: &str) -> Value {
        let text = std::fs::read_to_string(
            self.dir
                .join(".archform/state")
                .join(format!("{}.json", self.name)),
        )
        .unwrap();
        let state: Value = serde_json::from_str(&text).unwrap();
        state["resources"][id].clone()
    }
}

async fn lifecycle(
    blueprint: &'static str,
    change: &[&str],
    expected: &[&str],
    check: impl AsyncFnOnce(&Stack, &Clients),
) {
    let upstream = test_endpoint();
    let proxy = FaultProxy::start(&upstream, FaultConfig::default())
        .await
        .unwrap();
    let stack = Stack::new(blueprint, &proxy.endpoint);
    let (code, report, err) = stack.deploy(&[]).await;
    assert_eq!(code, 0, "{blueprint}: deploy failed: {report}\n{err}");
    let clients = Clients::new(&sdk_config(&upstream).await);
    check(&stack, &clients).await;

    // A second deploy makes zero mutating calls. Operations the emulator
    // lacks are attempted again and reported as skipped; they are the only
    // calls allowed to count as mutations here.
    let steps = report["report"]["steps"].as_array().unwrap();
    let unsupported: Vec<String> = steps
        .iter()
        .filter(|s| s["outcome"] == "unsupported")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let not_done: Vec<String> = steps
        .iter()
        .filter(|s| s["outcome"] != "done")
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    proxy.reset();
    let (code, again, err) = stack.deploy(&[]).await;
    assert_eq!(code, 0, "{blueprint}: redeploy failed: {err}");
    let mutations = proxy.stats().mutations();
    if unsupported.is_empty() {
        assert_eq!(again["changes"], 0, "{blueprint}: {again}");
        assert!(
            mutations.is_empty(),
            "{blueprint}: a no-op redeploy changed things: {mutations:?}"
        );
    } else {
        eprintln!("{blueprint}: steps skipped because the emulator lacks them: {unsupported:?}");
        assert_eq!(
            mutations.values().sum::<u64>() as usize,
            unsupported.len(),
            "{blueprint}: {mutations:?}"
        );
    }

    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        stack.changed_by(change, &not_done).await,
        want,
        "{blueprint}: `--set {change:?}` must change only these"
    );

    let (code, _, err) = stack
        .run(&[
            "destroy",
            "--stack",
            &stack.name,
            "--endpoint",
            &stack.endpoint,
        ])
        .await;
    assert_eq!(code, 0, "{blueprint}: destroy failed: {err}");
    assert_no_leftovers(&clients, &stack.name).await;
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_shortener() {
    lifecycle(
        "url-shortener",
        &["api_timeout=20"],
        &["api:update"],
        async |st, c| {
            let clicks = st.resource("clicks");
            let attrs = c
                .sqs
                .get_queue_attributes()
                .queue_url(s(&clicks["physical_id"]))
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let redrive: Value = serde_json::from_str(
                attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]
                    .as_str(),
            )
            .unwrap();
            assert_eq!(
                redrive["deadLetterTargetArn"],
                st.resource("clicks_dlq")["attributes"]["arn"]
            );
            assert_eq!(
                redrive["maxReceiveCount"].to_string().trim_matches('"'),
                "5"
            );
            let tg = s(&st.resource("api_route_tg")["physical_id"]);
            let health = c
                .elb
                .describe_target_health()
                .target_group_arn(&tg)
                .send()
                .await
                .unwrap();
            let targets: Vec<String> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|d| d.target().and_then(|t| t.id()).map(String::from))
                .collect();
            assert_eq!(targets, [s(&st.resource("api")["attributes"]["arn"])]);
            let esm = c
                .lambda
                .get_event_source_mapping()
                .uuid(s(&st.resource("aggregator_events")["physical_id"]))
                .send()
                .await
                .unwrap();
            assert_eq!(esm.batch_size(), Some(100));
            assert!(
                esm.function_response_types()
                    .iter()
                    .any(|t| t.as_str() == "ReportBatchItemFailures")
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications() {
    lifecycle(
        "notifications",
        &["worker_batch_size=5"],
        &[
            "email_worker_bulk_events:update",
            "email_worker_events:update",
            "push_worker_bulk_events:update",
            "push_worker_events:update",
            "sms_worker_bulk_events:update",
            "sms_worker_events:update",
        ],
        async |st, c| {
            // Each channel and the expander: a queue whose redrive policy sends to its
            // DLQ after 5 receives, read by its function through a mapping that
            // reports batch item failures.
            for (queue, function, mapping, bin) in [
                (
                    "email_queue",
                    "email_worker",
                    "email_worker_events",
                    "worker",
                ),
                ("sms_queue", "sms_worker", "sms_worker_events", "worker"),
                ("push_queue", "push_worker", "push_worker_events", "worker"),
                (
                    "email_bulk_queue",
                    "email_worker",
                    "email_worker_bulk_events",
                    "worker",
                ),
                (
                    "sms_bulk_queue",
                    "sms_worker",
                    "sms_worker_bulk_events",
                    "worker",
                ),
                (
                    "push_bulk_queue",
                    "push_worker",
                    "push_worker_bulk_events",
                    "worker",
                ),
                ("expansion_queue", "expander", "expander_events", "expander"),
            ] {
                let url = s(&st.resource(queue)["physical_id"]);
                let attrs = c
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                    .send()
                    .await
                    .unwrap();
                let redrive: Value = serde_json::from_str(
                    attrs.attributes().unwrap()
                        [&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy]
                        .as_str(),
                )
                .unwrap();
                assert_eq!(
                    redrive["deadLetterTargetArn"],
                    st.resource(&format!("{queue}_dlq"))["attributes"]["arn"],
                    "{queue}"
                );
                assert_eq!(
                    redrive["maxReceiveCount"].to_string().trim_matches('"'),
                    "5"
                );
                let esm = c
                    .lambda
                    .get_event_source_mapping()
                    .uuid(s(&st.resource(mapping)["physical_id"]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    esm.event_source_arn(),
                    st.resource(queue)["attributes"]["arn"].as_str()
                );
                assert!(
                    esm.function_response_types()
                        .iter()
                        .any(|t| t.as_str() == "ReportBatchItemFailures"),
                    "{function}"
                );
                let f = c
                    .lambda
                    .get_function_configuration()
                    .function_name(s(&st.resource(function)["physical_id"]))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(f.description(), Some(&*format!("notify/{bin}")));
                let env = f.environment().unwrap().variables().unwrap();
                assert_eq!(
                    env["NOTIFY_NOTIFICATIONS_TABLE"],
                    s(&st.resource("notifications")["physical_id"])
                );
                if bin == "worker" {
                    let channel = function.trim_end_matches("_worker").to_uppercase();
                    let var = if queue.contains("_bulk_") {
                        format!("NOTIFY_{channel}_BULK_QUEUE_URL")
                    } else {
                        format!("NOTIFY_{channel}_QUEUE_URL")
                    };
                    assert_eq!(env[&var], url);
                    assert_eq!(env["NOTIFY_MAX_RECEIVE_COUNT"], "5");
                }
            }
            // The ingest queues straight to every channel's queue and the expander's.
            let f = c
                .lambda
                .get_function_configuration()
                .function_name(s(&st.resource("ingest")["physical_id"]))
                .send()
                .await
                .unwrap();
            let env = f.environment().unwrap().variables().unwrap();
            for (var, queue) in [
                ("NOTIFY_EMAIL_QUEUE_URL", "email_queue"),
                ("NOTIFY_SMS_QUEUE_URL", "sms_queue"),
                ("NOTIFY_PUSH_QUEUE_URL", "push_queue"),
                ("NOTIFY_EMAIL_BULK_QUEUE_URL", "email_bulk_queue"),
                ("NOTIFY_SMS_BULK_QUEUE_URL", "sms_bulk_queue"),
                ("NOTIFY_PUSH_BULK_QUEUE_URL", "push_bulk_queue"),
                ("NOTIFY_EXPANSION_QUEUE_URL", "expansion_queue"),
            ] {
                assert_eq!(env[var], s(&st.resource(queue)["physical_id"]), "{var}");
            }
            assert!(!env.contains_key("NOTIFY_WEBHOOK_QUEUE_URL"));
            // The sender identity, in SES, is the email worker's NOTIFY_EMAIL_FROM.
            let identity = s(&st.resource("email_sender")["physical_id"]);
            assert_eq!(identity, "notifications@example.com");
            c.ses
                .get_email_identity()
                .email_identity(&identity)
                .send()
                .await
                .unwrap();
            let f = c
                .lambda
                .get_function_configuration()
                .function_name(s(&st.resource("email_worker")["physical_id"]))
                .send()
                .await
                .unwrap();
            let env = f.environment().unwrap().variables().unwrap();
            assert_eq!(env["NOTIFY_EMAIL_FROM"], identity);
            // The old design's topic is gone.
            assert!(st.resource("topic").is_null());
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat() {
    lifecycle(
        "chat",
        &["function_timeout=20"],
        &["router:update", "router_integration:update"],
        async |st, c| {
            let api = s(&st.resource("api")["physical_id"]);
            let routes = c.apigw.get_routes().api_id(&api).send().await.unwrap();
            let mut keys: Vec<String> = routes
                .items()
                .iter()
                .filter_map(|r| r.route_key().map(String::from))
                .collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "$connect",
                    "$default",
                    "$disconnect",
                    "history",
                    "join",
                    "leave",
                    "presence",
                    "read",
                    "sendmessage",
                    "typing"
                ]
            );
            let role = s(&st.resource("router_role")["physical_id"]);
            let policies = c
                .iam
                .list_role_policies()
                .role_name(&role)
                .send()
                .await
                .unwrap();
            let mut text = String::new();
            for name in policies.policy_names() {
                let p = c
                    .iam
                    .get_role_policy()
                    .role_name(&role)
                    .policy_name(name)
                    .send()
                    .await
                    .unwrap();
                text.push_str(&urlencoding_decode(p.policy_document()));
            }
            assert!(text.contains("execute-api:ManageConnections"), "{text}");
            assert!(
                text.contains(&format!(":{api}/")),
                "ManageConnections must be scoped to this API: {text}"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tier() {
    lifecycle(
        "three-tier",
        &["app_timeout=20"],
        &["app:update"],
        async |st, c| {
            let sg = |id: &str| s(&st.resource(id)["physical_id"]);
            let groups = c
                .ec2
                .describe_security_groups()
                .group_ids(sg("web_sg"))
                .group_ids(sg("db_sg"))
                .send()
                .await
                .unwrap();
            for g in groups.security_groups() {
                let sources: Vec<String> = g
                    .ip_permissions()
                    .iter()
                    .flat_map(|p| {
                        p.user_id_group_pairs()
                            .iter()
                            .filter_map(|u| u.group_id().map(String::from))
                    })
                    .collect();
                let cidrs: usize = g.ip_permissions().iter().map(|p| p.ip_ranges().len()).sum();
                assert_eq!(cidrs, 0, "{:?} admits address ranges", g.group_name());
                if Some(sg("web_sg").as_str()) == g.group_id() {
                    assert_eq!(sources, [sg("public_alb_sg")]);
                } else {
                    assert_eq!(sources, [sg("app_sg")]);
                    assert!(
                        g.ip_permissions()
                            .iter()
                            .all(|p| p.from_port() == Some(5432))
                    );
                }
            }
            let rt = c
                .ec2
                .describe_route_tables()
                .route_table_ids(sg("public_rt"))
                .route_table_ids(sg("data_rt"))
                .send()
                .await
                .unwrap();
            for t in rt.route_tables() {
                let default = t
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"));
                if t.route_table_id() == Some(sg("public_rt").as_str()) {
                    assert_eq!(
                        default.and_then(|r| r.gateway_id()),
                        Some(sg("igw").as_str())
                    );
                } else {
                    assert!(default.is_none(), "the data tier must have no route out");
                }
            }
            // The database refuses plain connections: its parameter group
            // forces TLS.
            let group = sg("db_params");
            let db = c
                .rds
                .describe_db_instances()
                .db_instance_identifier(sg("db"))
                .send()
                .await
                .unwrap();
            let attached: Vec<&str> = db.db_instances()[0]
                .db_parameter_groups()
                .iter()
                .filter_map(|g| g.db_parameter_group_name())
                .collect();
            assert_eq!(attached, [group.as_str()]);
            let params = c
                .rds
                .describe_db_parameters()
                .db_parameter_group_name(&group)
                .source("user")
                .send()
                .await
                .unwrap();
            let force_ssl = params
                .parameters()
                .iter()
                .find(|p| p.parameter_name() == Some("rds.force_ssl"))
                .and_then(|p| p.parameter_value());
            assert_eq!(force_ssl, Some("1"));
        },
    )
    .await;
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
