//! The crash windows around each AWS create, for every class of kind,
//! through the built binary against the emulator with the fault proxy in
//! between:
//!
//! - request sent, answer never received: the proxy forwards the create to
//!   the emulator, which makes the resource, and holds the answer while the
//!   test SIGKILLs archform;
//! - answered, not saved: `ARCHFORM_TEST_EXIT_BEFORE_RECORD` kills the run
//!   just before it records the result, and the test shows that lands
//!   after the proxy passed the create's answer back;
//! - for a kind tagged by a second call, between the create and the tagging
//!   call (the proxy keeps the tagging call from the emulator).
//!
//! The classes: tagged by the create call itself (sqs.queue,
//! lambda.function), tagged by a second call after the create, and
//! untaggable (lambda.permission, sns.subscription, sqs.queue_policy), which
//! archform finds again only through their parents. Every provider tags in
//! its create call where the endpoint takes tags there; the one second call
//! is s3.bucket's PutBucketTagging, made on endpoints that ignore
//! CreateBucket's tags. moto takes them, so the proxy here drops them
//! (`FaultConfig::drop_create_bucket_tags`) to make the emulator such an
//! endpoint.
//!
//! After each kill, the next deploy must leave the account holding exactly
//! the blueprint, as an independent census sees it (tests/support/census.rs:
//! the tag inventory and direct listings, never archform's own report), the
//! stack must have converged (a redeploy makes no mutating call, counted by
//! the proxy), and a destroy must leave nothing.

mod support;

use archform_blueprint::{Graph, StackRequest, compile};
use archform_testkit::{Call, FaultConfig, FaultProxy, Hold, HoldPoint, sdk_config, test_endpoint};
use std::path::Path;
use support::census;
use support::kills::{in_flight, journal, run_killed_when_held};

const BLUEPRINT: &str = r#"name: crash-windows
description: one resource of each crash-window class
---
resources:
  fn_role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: "sts:AssumeRole"}
  worker:
    kind: lambda.function
    properties:
      role: ${fn_role.arn}
      code: {package: notify, bin: worker}
  jobs:
    kind: sqs.queue
    properties: {sqs_managed_sse: true}
  uploads:
    kind: s3.bucket
    properties: {encryption: AES256, block_public_access: true}
  events:
    kind: sns.topic
    properties: {kms_master_key_id: alias/aws/sns}
  jobs_sub:
    kind: sns.subscription
    properties: {topic_arn: "${events.arn}", protocol: sqs, endpoint: "${jobs.arn}"}
  jobs_policy:
    kind: sqs.queue_policy
    properties:
      queue_url: ${jobs.url}
      policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: "sqs:SendMessage"
            Resource: ${jobs.arn}
            Condition: {ArnEquals: {"aws:SourceArn": "${events.arn}"}}
  worker_invoke:
    kind: lambda.permission
    properties: {function_name: "${worker.name}", principal: sns.amazonaws.com, source_arn: "${events.arn}"}
"#;

/// One crash window: the step of `id` killed while `call` is held.
struct Window {
    id: &'static str,
    class: &'static str,
    call: &'static str,
    is_call: fn(&Call) -> bool,
    point: HoldPoint,
}

fn s3_bucket_path(c: &Call) -> bool {
    c.operation.starts_with("s3:PUT") && c.path.trim_matches('/').split('/').count() == 1
}

const WINDOWS: &[Window] = &[
    Window {
        id: "jobs",
        class: "tagged at create",
        call: "sqs:CreateQueue",
        is_call: |c| c.operation == "sqs:CreateQueue",
        point: HoldPoint::AfterForwarding,
    },
    Window {
        id: "worker",
        class: "tagged at create",
        call: "lambda:CreateFunction",
        is_call: |c| c.method == "POST" && c.path == "/2015-03-31/functions",
        point: HoldPoint::AfterForwarding,
    },
    Window {
        id: "uploads",
        class: "tagged by a second call",
        call: "s3:CreateBucket",
        is_call: |c| s3_bucket_path(c) && c.query.is_empty(),
        point: HoldPoint::AfterForwarding,
    },
    Window {
        id: "uploads",
        class: "tagged by a second call",
        call: "s3:PutBucketTagging (kept from the emulator: created, untagged)",
        is_call: |c| s3_bucket_path(c) && c.query.starts_with("tagging"),
        point: HoldPoint::BeforeForwarding,
    },
    Window {
        id: "worker_invoke",
        class: "untaggable",
        call: "lambda:AddPermission",
        is_call: |c| c.method == "POST" && c.path.ends_with("/policy"),
        point: HoldPoint::AfterForwarding,
    },
    Window {
        id: "jobs_sub",
        class: "untaggable",
        call: "sns:Subscribe",
        is_call: |c| c.operation == "sns:Subscribe",
        point: HoldPoint::AfterForwarding,
    },
    Window {
        id: "jobs_policy",
        class: "untaggable",
        call: "sqs:SetQueueAttributes",
        is_call: |c| c.operation == "sqs:SetQueueAttributes",
        point: HoldPoint::AfterForwarding,
    },
];

/// One window's stack. Each window gets a stack of its own: moto keeps a
/// deleted bucket's tags and gives them to the next bucket of that name,
/// which would hide a bucket left untagged.
struct Fixture<'a> {
    dir: &'a Path,
    stack: String,
    proxy: &'a FaultProxy,
    graph: Graph,
    clients: &'a archform_aws::Clients,
    zip: &'a str,
}

impl Fixture<'_> {
    /// A deploy through the proxy, one step at a time: the order of steps,
    /// and so of state records, is the same in every run.
    fn deploy(&self) -> Vec<String> {
        [
            "deploy",
            "bp.yaml",
            "--stack",
            &self.stack,
            "--endpoint",
            &self.proxy.endpoint,
            "--code-override",
            self.zip,
            "--parallelism",
            "1",
            "--output",
            "json",
        ]
        .map(String::from)
        .to_vec()
    }

    fn destroy(&self) -> Vec<String> {
        [
            "destroy",
            "--stack",
            &self.stack,
            "--endpoint",
            &self.proxy.endpoint,
            "--output",
            "json",
        ]
        .map(String::from)
        .to_vec()
    }

    /// The step of `window.id` is the one in flight, and nothing else is:
    /// the journal ends with its mark, and the state the next run loads
    /// says it is being created.
    fn assert_in_flight(&self, window: &Window, label: &str) -> usize {
        let records = journal(self.dir, &self.stack);
        let last = records
            .last()
            .unwrap_or_else(|| panic!("{label}: the killed run journaled nothing"));
        assert_eq!(
            (last["id"].as_str(), last["resource"]["status"].as_str()),
            (Some(window.id), Some("creating")),
            "{label}: the run was killed in {}'s create, after its mark: {last}",
            window.id
        );
        assert_eq!(
            in_flight(self.dir, &self.stack),
            [(
                window.id.to_string(),
                archform_engine::state::ResourceStatus::Creating
            )],
            "{label}: the next run sees exactly this create in flight"
        );
        records.len()
    }

    /// The run after a kill: the account holds exactly the blueprint, a
    /// further deploy changes nothing, a destroy leaves nothing.
    async fn converges(&self, label: &str) {
        let r = run(self.dir, &self.deploy(), &[]).await;
        assert_eq!(r.0, 0, "{label}: the deploy after the kill: {}", r.1);
        assert!(
            journal(self.dir, &self.stack).is_empty(),
            "{label}: a finished run compacts its journal"
        );
        census::assert_each_once(self.clients, &self.stack, &self.graph, label).await;
        self.proxy.reset();
        let r = run(self.dir, &self.deploy(), &[]).await;
        assert_eq!(r.0, 0, "{label}: the redeploy: {}", r.1);
        let mutations = self.proxy.stats().mutations();
        assert!(
            mutations.is_empty(),
            "{label}: the stack did not converge, a redeploy changed {mutations:?}"
        );
        let r = run(self.dir, &self.destroy(), &[]).await;
        assert_eq!(r.0, 0, "{label}: destroy: {}", r.1);
        census::assert_nothing_left(self.clients, &self.stack, &self.graph, label).await;
    }
}

/// Runs the built binary; `(exit code, stderr)`.
async fn run(dir: &Path, args: &[String], env: &[(&str, String)]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_archform"))
        .current_dir(dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_in_each_crash_window_of_each_kind_class_converges() {
    let dir = support::workdir("crash-windows");
    std::fs::write(dir.join("bp.yaml"), BLUEPRINT).unwrap();
    let zip = dir.join("placeholder.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let zip = zip.to_string_lossy().into_owned();
    let endpoint = test_endpoint();
    let proxy = FaultProxy::start(
        &endpoint,
        FaultConfig {
            drop_create_bucket_tags: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let clients = archform_aws::Clients::new(&sdk_config(&endpoint).await);

    for (i, w) in WINDOWS.iter().enumerate() {
        let stack = format!("cw{i}-{}", std::process::id());
        let graph = compile(&StackRequest {
            blueprint: Some(dir.join("bp.yaml").to_string_lossy().into_owned()),
            stack: Some(stack.clone()),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let f = Fixture {
            dir: &dir,
            stack,
            proxy: &proxy,
            graph,
            clients: &clients,
            zip: &zip,
        };
        // Request sent (or, for a second call, about to be), answer never
        // received: the emulator acted, archform never heard.
        let label = format!("{} ({}) killed while {} was held", w.id, w.class, w.call);
        let held = f.proxy.hold(Hold::nth_matching(1, w.point, w.is_call));
        eprintln!("crash window: {label}");
        let h = run_killed_when_held(f.dir, &f.deploy(), held, &label).await;
        f.proxy.release_held();
        if w.point == HoldPoint::AfterForwarding {
            assert_eq!(
                h.upstream_status.map(|s| s < 300),
                Some(true),
                "{label}: the emulator did the call: {h:?}"
            );
        }
        let marked = f.assert_in_flight(w, &label);
        f.converges(&label).await;
        if w.point == HoldPoint::BeforeForwarding {
            continue;
        }

        // Answered, not saved: the record after the mark is the result's.
        let label = format!(
            "{} ({}) killed after {} was answered, before the result was recorded",
            w.id, w.class, w.call
        );
        eprintln!("crash window: {label}");
        f.proxy.reset();
        let r = run(
            f.dir,
            &f.deploy(),
            &[("ARCHFORM_TEST_EXIT_BEFORE_RECORD", (marked + 1).to_string())],
        )
        .await;
        assert_eq!(r.0, 137, "{label}: the hook did not fire: {}", r.1);
        let stats = f.proxy.stats();
        let answered = stats
            .answered_mutations
            .iter()
            .filter(|c| (w.is_call)(c))
            .count();
        assert_eq!(
            answered, 1,
            "{label}: the proxy passed the answer of {} back before the kill: {:?}",
            w.call, stats.answered_mutations
        );
        assert_eq!(f.assert_in_flight(w, &label), marked);
        f.converges(&label).await;
    }
}
