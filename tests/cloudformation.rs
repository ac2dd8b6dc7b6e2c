//! Every embedded blueprint, with its default parameters and with the
//! non-default parameter sets below, exports a CloudFormation template that
//! cfn-lint (pinned, from the testkit's venv) accepts without errors.
//! Warnings are printed, not failed. A kitchen-sink blueprint below covers
//! the kinds and properties the embedded blueprints do not use.

use archform_testkit::{PythonTool, ensure_venv};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Non-default parameter sets per blueprint (`--set` values). Every set is
/// rendered in addition to the defaults. Entries for blueprints that are not
/// embedded (yet) are skipped with a note.
const SETS: &[(&str, &[&[&str]])] = &[
    (
        "url-shortener",
        &[
            &["front_door=function_url"],
            &[
                "front_door=alb",
                "vpc_cidr=10.99.0.0/20",
                "redirect_status=301",
                "api_timeout=30",
            ],
            &[
                "front_door=alb",
                "certificate_arn=arn:aws:acm:us-east-1:123456789012:certificate/0b6d2a3c-1f4e-4c5d-9a8b-7e6f5d4c3b2a",
            ],
        ],
    ),
    (
        "three-tier",
        &[
            &["az_count=3", "nat=per_az", "data_store=dynamodb"],
            &[
                "nat=none",
                "data_store=postgres",
                "db_multi_az=true",
                "db_deletion_protection=true",
            ],
            &["az_count=3", "nat=single", "data_store=postgres"],
        ],
    ),
    (
        "chat",
        &[&[
            "function_layout=per_route",
            "stage_name=live",
            "message_retention_days=30",
        ]],
    ),
    (
        "notifications",
        &[
            &["channels=webhook"],
            &["channels=email,sms,push,webhook", "worker_batch_size=1"],
            &[
                "channels=push,sms",
                "email_rate_per_second=0",
                "apns_platform_application_arn=arn:aws:sns:us-east-1:123456789012:app/APNS/shop",
                "fcm_platform_application_arn=arn:aws:sns:us-east-1:123456789012:app/GCM/shop",
            ],
        ],
    ),
];

/// Every kind with (nearly) every property, realistically wired, so that
/// translations no embedded blueprint exercises are linted too.
const KITCHEN_SINK: &str = r#"name: kitchen-sink
description: Every kind and property archform knows, to check the CloudFormation export
parameters: {}
---
resources:
  vpc:
    kind: ec2.vpc
    properties:
      cidr_block: 10.50.0.0/16
      enable_dns_support: true
      enable_dns_hostnames: true
  igw:
    kind: ec2.internet_gateway
    properties:
      vpc_id: ${vpc.id}
  public_a:
    kind: ec2.subnet
    properties:
      vpc_id: ${vpc.id}
      cidr_block: 10.50.0.0/24
      availability_zone: ${aws.az0}
      map_public_ip_on_launch: false
      tier: public
  public_b:
    kind: ec2.subnet
    properties:
      vpc_id: ${vpc.id}
      cidr_block: 10.50.1.0/24
      availability_zone: ${aws.az1}
      tier: public
  app_a:
    kind: ec2.subnet
    properties:
      vpc_id: ${vpc.id}
      cidr_block: 10.50.16.0/24
      availability_zone: ${aws.az0}
      tier: private
  app_b:
    kind: ec2.subnet
    properties:
      vpc_id: ${vpc.id}
      cidr_block: 10.50.17.0/24
      availability_zone: ${aws.az1}
      tier: private
  public_rt:
    kind: ec2.route_table
    properties:
      vpc_id: ${vpc.id}
      routes:
        - destination_cidr_block: 0.0.0.0/0
          gateway_id: ${igw.id}
      subnet_ids: ["${public_a.id}", "${public_b.id}"]
  nat_eip:
    kind: ec2.eip
  nat:
    kind: ec2.nat_gateway
    properties:
      subnet_id: ${public_a.id}
      allocation_id: ${nat_eip.allocation_id}
  app_rt:
    kind: ec2.route_table
    properties:
      vpc_id: ${vpc.id}
      routes:
        - destination_cidr_block: 0.0.0.0/0
          nat_gateway_id: ${nat.id}
      subnet_ids: ["${app_a.id}", "${app_b.id}"]
  s3_endpoint:
    kind: ec2.vpc_endpoint
    properties:
      vpc_id: ${vpc.id}
      service: s3
      endpoint_type: Gateway
      route_table_ids: ["${app_rt.id}"]
  endpoint_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: Interface endpoints - HTTPS from the app tier
      ingress:
        - {protocol: tcp, from_port: 443, to_port: 443, source_security_group_id: "${app_sg.id}", description: HTTPS from the app tier}
      egress: []
  secrets_endpoint:
    kind: ec2.vpc_endpoint
    properties:
      vpc_id: ${vpc.id}
      service: secretsmanager
      endpoint_type: Interface
      subnet_ids: ["${app_a.id}", "${app_b.id}"]
      security_group_ids: ["${endpoint_sg.id}"]
      private_dns_enabled: true
  app_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: App tier
      egress:
        - {protocol: tcp, from_port: 443, to_port: 443, cidr: 0.0.0.0/0, description: HTTPS out}
        - {protocol: tcp, from_port: 5432, to_port: 5432, cidr: 10.50.0.0/16, description: PostgreSQL}
  alb_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: Public ALB
      ingress:
        - {protocol: tcp, from_port: 443, to_port: 443, cidr: 0.0.0.0/0, description: HTTPS}
  key_secret:
    kind: secretsmanager.secret
    properties:
      description: An API key
      kms_key_id: alias/aws/secretsmanager
      generate:
        length: 40
        exclude_punctuation: true
        secret_template: '{"user": "app"}'
        generate_key: password
  plain_secret:
    kind: secretsmanager.secret
  app_logs:
    kind: logs.log_group
    properties:
      retention_in_days: 30
  app_role:
    kind: iam.role
    properties:
      description: Execution role of app
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
      managed_policy_arns: ["arn:${aws.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"]
      policies:
        - name: app
          document:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [logs:CreateLogStream, logs:PutLogEvents]
                Resource: ${app_logs.arn}
              - Effect: Allow
                Action: [secretsmanager:GetSecretValue]
                Resource: ${key_secret.arn}
              - Effect: Allow
                Action: [s3:GetObject]
                Resource: ${assets.arn}/*
              - Effect: Allow
                Action: [ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DeleteNetworkInterface]
                Resource: "*"
  app:
    kind: lambda.function
    properties:
      description: app
      role: ${app_role.arn}
      code: {zip: dist/app.zip}
      runtime: provided.al2023
      handler: bootstrap
      architecture: arm64
      memory_size: 512
      timeout: 20
      environment:
        SECRET_ARN: ${key_secret.arn}
        ENDPOINT: https://${db.endpoint_address}:${db.endpoint_port}/x
        REGION_AZ: ${aws.region}-${aws.az0}
      vpc_config:
        subnet_ids: ["${app_a.id}", "${app_b.id}"]
        security_group_ids: ["${app_sg.id}"]
      log_group: ${app_logs.name}
      reserved_concurrency: 5
  app_url:
    kind: lambda.function_url
    properties:
      function_name: ${app.name}
      auth_type: AWS_IAM
  jobs_dlq:
    kind: sqs.queue
    properties:
      kms_master_key_id: alias/aws/sqs
  jobs:
    kind: sqs.queue
    properties:
      visibility_timeout: 120
      message_retention_seconds: 86400
      delay_seconds: 2
      receive_wait_time_seconds: 20
      sqs_managed_sse: true
      redrive_policy:
        dead_letter_target_arn: ${jobs_dlq.arn}
        max_receive_count: 3
  app_events:
    kind: lambda.event_source_mapping
    properties:
      function_name: ${app.name}
      event_source_arn: ${jobs.arn}
      batch_size: 5
      maximum_batching_window_seconds: 1
      report_batch_item_failures: true
      maximum_concurrency: 2
      enabled: true
  topic:
    kind: sns.topic
    properties:
      kms_master_key_id: alias/aws/sns
      display_name: Jobs
  jobs_policy:
    kind: sqs.queue_policy
    properties:
      queue_url: ${jobs.url}
      policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: sns.amazonaws.com}
            Action: sqs:SendMessage
            Resource: ${jobs.arn}
            Condition: {ArnEquals: {"aws:SourceArn": "${topic.arn}"}}
  jobs_sub:
    kind: sns.subscription
    depends_on: [jobs_policy]
    properties:
      topic_arn: ${topic.arn}
      protocol: sqs
      endpoint: ${jobs.arn}
      filter_policy: {kind: [job]}
      filter_policy_scope: MessageBody
      raw_message_delivery: true
  items:
    kind: dynamodb.table
    properties:
      partition_key: {name: pk, type: S}
      sort_key: {name: sk, type: S}
      global_secondary_indexes:
        - {name: by_owner, partition_key: {name: owner, type: S}, sort_key: {name: sk, type: S}, projection: KEYS_ONLY}
        - {name: by_time, partition_key: {name: day, type: S}, sort_key: {name: ts, type: N}}
      ttl_attribute: expires
      sse_enabled: true
      kms_key_id: alias/aws/dynamodb
      point_in_time_recovery: true
      deletion_protection: false
  assets:
    kind: s3.bucket
    properties:
      encryption: aws:kms
      kms_key_id: alias/aws/s3
      versioning: true
      block_public_access: true
  db_sg:
    kind: ec2.security_group
    properties:
      vpc_id: ${vpc.id}
      description: Database
      ingress:
        - {protocol: tcp, from_port: 5432, to_port: 5432, source_security_group_id: "${app_sg.id}", description: From the app}
  db_subnets:
    kind: rds.db_subnet_group
    properties:
      subnet_ids: ["${app_a.id}", "${app_b.id}"]
      description: Database subnets
  db_params:
    kind: rds.db_parameter_group
    properties:
      family: postgres17
      description: Database settings
      parameters:
        rds.force_ssl: "1"
        log_connections: "1"
  db:
    kind: rds.db_instance
    properties:
      engine: postgres
      engine_version: "17.6"
      instance_class: db.t4g.micro
      allocated_storage: 20
      db_subnet_group_name: ${db_subnets.name}
      db_parameter_group_name: ${db_params.name}
      vpc_security_group_ids: ["${db_sg.id}"]
      publicly_accessible: false
      storage_encrypted: true
      kms_key_id: alias/aws/rds
      manage_master_user_password: true
      master_username: app_admin
      db_name: app
      port: 5432
      multi_az: false
      backup_retention_period: 7
      deletion_protection: false
      storage_type: gp3
  alb:
    kind: elbv2.load_balancer
    properties:
      scheme: internet-facing
      subnets: ["${public_a.id}", "${public_b.id}"]
      security_groups: ["${alb_sg.id}"]
      idle_timeout: 30
      drop_invalid_header_fields: true
  https:
    kind: elbv2.listener
    properties:
      load_balancer_arn: ${alb.arn}
      port: 443
      protocol: HTTPS
      certificate_arn: arn:${aws.partition}:acm:${aws.region}:${aws.account_id}:certificate/00000000-0000-0000-0000-000000000000
      default_action: {type: fixed-response, status_code: 404, content_type: text/plain, message_body: not found}
  app_tg:
    kind: elbv2.target_group
    properties:
      target_type: lambda
      multi_value_headers: true
      health_check_enabled: true
      health_check_path: /health
  app_invoke:
    kind: lambda.permission
    properties:
      function_name: ${app.name}
      principal: elasticloadbalancing.amazonaws.com
      action: lambda:InvokeFunction
      source_arn: ${app_tg.arn}
      source_account: ${aws.account_id}
  app_target:
    kind: elbv2.lambda_target
    depends_on: [app_invoke]
    properties:
      target_group_arn: ${app_tg.arn}
      function_arn: ${app.arn}
  app_rule:
    kind: elbv2.listener_rule
    properties:
      listener_arn: ${https.arn}
      priority: 5
      path_patterns: [/app/*]
      http_methods: [GET, POST]
      action: {type: forward, target_group_arn: "${app_tg.arn}"}
  ws:
    kind: apigatewayv2.api
    properties:
      protocol_type: WEBSOCKET
      route_selection_expression: $request.body.action
      description: A socket
  ws_integration:
    kind: apigatewayv2.integration
    properties:
      api_id: ${ws.id}
      integration_type: AWS_PROXY
      integration_uri: ${app.invoke_arn}
      timeout_ms: 10000
  ws_invoke:
    kind: lambda.permission
    properties:
      function_name: ${app.name}
      principal: apigateway.amazonaws.com
      source_arn: ${ws.execution_arn}/*/*
  ws_default:
    kind: apigatewayv2.route
    properties:
      api_id: ${ws.id}
      route_key: $default
      integration_id: ${ws_integration.id}
  ws_deployment:
    kind: apigatewayv2.deployment
    depends_on: [ws_default]
    properties:
      api_id: ${ws.id}
      description: first
      revision: $default
  ws_stage:
    kind: apigatewayv2.stage
    properties:
      api_id: ${ws.id}
      stage_name: live
      deployment_id: ${ws_deployment.id}
      throttling_burst_limit: 50
      throttling_rate_limit: 20
outputs:
  url:
    value: ${ws_stage.invoke_url}
    description: WebSocket URL
  app_url:
    value: ${app_url.url}
  secret:
    value: ${key_secret.arn}
  db:
    value: ${db.endpoint_address}:${db.endpoint_port} in ${aws.az0}
  bucket:
    value: ${assets.domain_name}
"#;

struct Case {
    blueprint: String,
    sets: Vec<String>,
    file: PathBuf,
}

fn render(blueprint: &str, sets: &[String]) -> Result<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
    cmd.args(["render", blueprint, "--format", "cloudformation"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("running archform");
    if !out.status.success() {
        return Err(format!(
            "archform render {blueprint} {sets:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8(out.stdout).expect("utf-8 output"))
}

/// One finding of `cfn-lint --format parseable`:
/// `file:line:col:end_line:end_col:RULE:message`.
struct Finding {
    file: String,
    rule: String,
    line: String,
}

fn parse_findings(stdout: &str) -> Vec<Finding> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // The file name is ours and has no colons; the message may.
            let fields: Vec<&str> = l.splitn(7, ':').collect();
            Finding {
                file: fields.first().copied().unwrap_or_default().to_string(),
                rule: fields.get(5).copied().unwrap_or_default().to_string(),
                line: l.to_string(),
            }
        })
        .collect()
}

#[test]
fn every_blueprint_exports_a_template_cfn_lint_accepts() {
    let embedded = archform_blueprint::catalog::embedded_names();
    let table: BTreeMap<&str, &[&[&str]]> = SETS.iter().copied().collect();
    for name in table.keys() {
        assert!(
            embedded.contains(name),
            "SETS names blueprint `{name}`, which is not embedded: fix the table"
        );
    }

    let dir = std::env::temp_dir().join(format!("archform-cfn-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = Vec::new();
    let mut failures = Vec::new();
    for bp in &embedded {
        let mut sets: Vec<Vec<String>> = vec![Vec::new()];
        match table.get(bp) {
            Some(extra) => sets.extend(
                extra
                    .iter()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.iter().map(|x| x.to_string()).collect()),
            ),
            None => println!(
                "note: no non-default parameter sets for `{bp}`; add some to SETS in tests/cloudformation.rs"
            ),
        }
        if sets.len() == 1 {
            println!("note: `{bp}` is linted with its default parameters only");
        }
        for (i, set) in sets.into_iter().enumerate() {
            match render(bp, &set) {
                Ok(text) => {
                    let file = dir.join(format!("{bp}-{i}.json"));
                    std::fs::write(&file, text).unwrap();
                    cases.push(Case {
                        blueprint: bp.to_string(),
                        sets: set,
                        file,
                    });
                }
                Err(e) => failures.push(e),
            }
        }
    }
    let sink = dir.join("kitchen-sink.yaml");
    std::fs::write(&sink, KITCHEN_SINK).unwrap();
    match render(sink.to_str().unwrap(), &[]) {
        Ok(text) => {
            let file = dir.join("kitchen-sink.json");
            std::fs::write(&file, text).unwrap();
            cases.push(Case {
                blueprint: "kitchen-sink".into(),
                sets: Vec::new(),
                file,
            });
        }
        Err(e) => failures.push(e),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nothing may be left out of a template silently.
    for case in &cases {
        let text = std::fs::read_to_string(&case.file).unwrap();
        let t: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            t.pointer("/Metadata/archform/untranslated").is_none(),
            "{} {:?}: untranslated parts {:#}",
            case.blueprint,
            case.sets,
            t["Metadata"]
        );
    }
    assert!(!cases.is_empty(), "no blueprints are embedded");

    let venv = ensure_venv(PythonTool::CfnLint).expect("cfn-lint venv");
    let out = Command::new(PythonTool::CfnLint.executable(&venv))
        .args(["--format", "parseable", "--"])
        .args(cases.iter().map(|c| c.file.as_os_str()))
        .output()
        .expect("running cfn-lint");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code: a bit mask of 2 (errors), 4 (warnings), 8 (informational); 1 = crash.
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code >= 0 && code & 1 == 0,
        "cfn-lint failed to run (exit {code}):\n{stdout}\n{stderr}"
    );
    let findings = parse_findings(&stdout);

    let mut errors = 0;
    for case in &cases {
        let file = case.file.display().to_string();
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.file == file).collect();
        let count = |p: char| mine.iter().filter(|f| f.rule.starts_with(p)).count();
        let (e, w, i) = (count('E'), count('W'), count('I'));
        println!(
            "{} {:?}: {e} errors, {w} warnings, {i} informational",
            case.blueprint, case.sets
        );
        for f in &mine {
            let text = f.line.strip_prefix(&format!("{file}:")).unwrap_or(&f.line);
            println!("  {text}");
        }
        errors += e;
    }
    let unattributed: Vec<&Finding> = findings
        .iter()
        .filter(|f| !cases.iter().any(|c| c.file.display().to_string() == f.file))
        .collect();
    for f in &unattributed {
        println!("  {}", f.line);
    }
    assert!(
        errors == 0 && unattributed.iter().all(|f| !f.rule.starts_with('E')),
        "cfn-lint reported errors (see above); templates are in {}",
        dir.display()
    );
    assert!(
        code & 2 == 0,
        "cfn-lint exited with {code} (errors) though none were parsed:\n{stdout}\n{stderr}"
    );
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}
