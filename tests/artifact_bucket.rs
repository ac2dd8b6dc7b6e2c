//! `archform deploy` of a function whose zip is over Lambda's 50 MB
//! direct-upload limit, through the counting proxy: without an artifact
//! bucket it is refused before any AWS call, naming the function, its size,
//! the limit and the fixes; with `--artifact-bucket` (or
//! ARCHFORM_ARTIFACT_BUCKET) the zip is uploaded to
//! `archform/<stack>/<id>/<sha256>.zip` and deployed from there; a redeploy
//! of the same zip makes no call that changes anything; a changed zip is
//! uploaded and updates the code; destroy leaves the artifacts.

use archform_aws::Clients;
use archform_testkit::{FaultConfig, FaultProxy, sdk_config, test_endpoint};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BLUEPRINT: &str = r#"name: artifact-bucket-test
description: one function whose zip is over the direct-upload limit
---
resources:
  role:
    kind: iam.role
    properties:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: lambda.amazonaws.com}
            Action: sts:AssumeRole
  big:
    kind: lambda.function
    properties:
      role: ${role.arn}
      code: {zip: big.zip}
      runtime: provided.al2023
      handler: bootstrap
"#;

/// Lambda's direct-upload quota for a zip (50 MB).
const DIRECT_UPLOAD_LIMIT: u64 = 52_428_800;
/// Enough incompressible data to put a zip just over it.
const NOISE_BYTES: usize = 51 * 1024 * 1024;

/// A directory removed when dropped, so no 51 MB zip outlives the test.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Incompressible bytes from a xorshift64 generator: the same seed gives the
/// same bytes.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `big.zip` (`bootstrap` and a large data file) into `dir`; returns
/// its size and SHA-256 (hex).
fn write_big_zip(dir: &Path, seed: u64) -> (u64, String) {
    let data = noise(seed, NOISE_BYTES);
    let zip = archform_testkit::zip::build(&[
        ("bootstrap", b"#!/bin/sh\necho big\n", 0o755),
        ("data.bin", &data, 0o644),
    ]);
    assert!(zip.len() as u64 > DIRECT_UPLOAD_LIMIT);
    let path = dir.join("big.zip");
    std::fs::write(&path, &zip).unwrap();
    // coreutils' sha256sum: no hashing crate among the test dependencies.
    let out = Command::new("sha256sum").arg(&path).output().unwrap();
    assert!(out.status.success());
    let sha = String::from_utf8(out.stdout).unwrap()[..64].to_string();
    (zip.len() as u64, sha)
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

/// Runs the binary in `dir`; `bucket_env` is ARCHFORM_ARTIFACT_BUCKET (unset
/// when `None`, whatever the test's own environment says).
async fn archform(dir: &Path, args: Vec<String>, bucket_env: Option<&str>) -> Run {
    let dir = dir.to_path_buf();
    let bucket_env = bucket_env.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_archform"));
        cmd.current_dir(&dir).args(&args).args(["--output", "json"]);
        match bucket_env {
            Some(b) => cmd.env("ARCHFORM_ARTIFACT_BUCKET", b),
            None => cmd.env_remove("ARCHFORM_ARTIFACT_BUCKET"),
        };
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn last_modified(c: &Clients, bucket: &str, key: &str) -> Option<String> {
    c.s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()
        .map(|o| format!("{:?}", o.last_modified()))
}

/// Lambda's CodeSha256 of the deployed function, as hex.
async fn deployed_sha(c: &Clients, name: &str) -> String {
    let f = c
        .lambda
        .get_function()
        .function_name(name)
        .send()
        .await
        .unwrap();
    let b64 = f.configuration().unwrap().code_sha256().unwrap_or_default();
    // Standard base64 back to bytes, then hex.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut hex = String::new();
    for c in b64.bytes().filter(|c| *c != b'=') {
        bits = (bits << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            hex.push_str(&format!("{:02x}", (bits >> n) & 0xff));
        }
    }
    hex
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_over_the_direct_upload_limit_needs_and_uses_the_artifact_bucket() {
    let upstream = test_endpoint();
    let proxy = FaultProxy::start(&upstream, FaultConfig::default())
        .await
        .unwrap();
    let direct = Clients::new(&sdk_config(&upstream).await);
    let dir =
        TempDir(std::env::temp_dir().join(format!("archform-artifact-cli-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(dir.0.join("bp.yaml"), BLUEPRINT).unwrap();
    let (size1, sha1) = write_big_zip(&dir.0, 1);
    let stack = format!("artcli-{}", std::process::id());
    let deploy = args(&[
        "deploy",
        "bp.yaml",
        "--stack",
        &stack,
        "--endpoint",
        &proxy.endpoint,
    ]);
    let with =
        |extra: &[&str]| -> Vec<String> { deploy.iter().cloned().chain(args(extra)).collect() };

    // No bucket: refused before any call to AWS, with the way out.
    let r = archform(&dir.0, deploy.clone(), None).await;
    assert_eq!(r.code, 2, "{}\n{}", r.json, r.stderr);
    for want in [
        "`big`",
        &format!("{size1} bytes"),
        "52428800 bytes",
        "ARCHFORM_ARTIFACT_BUCKET",
        "--artifact-bucket",
        "same region",
        "smaller",
    ] {
        assert!(
            r.stderr.contains(want),
            "{want:?} missing from: {}",
            r.stderr
        );
    }
    assert_eq!(proxy.stats().total(), 0, "{:?}", proxy.stats().calls);
    archform_aws::assert_no_leftovers(&direct, &stack).await;

    // With the bucket: uploaded to its content-addressed key, deployed.
    let bucket = format!("{stack}-artifacts");
    direct
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let r = archform(&dir.0, with(&["--artifact-bucket", &bucket]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let key1 = format!("archform/{stack}/big/{sha1}.zip");
    let stamp1 = last_modified(&direct, &bucket, &key1).await;
    assert!(stamp1.is_some(), "no object at {key1}");
    let name = format!("{stack}-big");
    assert_eq!(deployed_sha(&direct, &name).await, sha1);

    // The same zip again (bucket from the environment this time): nothing
    // to change, no mutating call, the object untouched.
    proxy.reset();
    let r = archform(&dir.0, deploy.clone(), Some(&bucket)).await;
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    assert_eq!(r.json["changes"], 0, "{}", r.json);
    assert!(
        proxy.stats().mutations().is_empty(),
        "{:?}",
        proxy.stats().mutations()
    );
    assert_eq!(last_modified(&direct, &bucket, &key1).await, stamp1);

    // A changed zip: uploaded under its own key, the code updated from it.
    let (_, sha2) = write_big_zip(&dir.0, 2);
    proxy.reset();
    let r = archform(&dir.0, with(&["--artifact-bucket", &bucket]), None).await;
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    let key2 = format!("archform/{stack}/big/{sha2}.zip");
    assert!(last_modified(&direct, &bucket, &key2).await.is_some());
    assert_eq!(deployed_sha(&direct, &name).await, sha2);
    let mutations = proxy.stats().mutations();
    let count = |prefix: &str| -> u64 {
        mutations
            .iter()
            .filter(|(op, _)| op.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(count("s3:"), 1, "one upload: {mutations:?}");
    assert_eq!(count("lambda:"), 1, "one UpdateFunctionCode: {mutations:?}");

    // Destroy removes the stack's resources, not its artifacts.
    let r = archform(
        &dir.0,
        args(&["destroy", "--stack", &stack, "--endpoint", &upstream]),
        None,
    )
    .await;
    assert_eq!(r.code, 0, "{}\n{}", r.json, r.stderr);
    archform_aws::assert_no_leftovers(&direct, &stack).await;
    assert_eq!(last_modified(&direct, &bucket, &key1).await, stamp1);
    assert!(last_modified(&direct, &bucket, &key2).await.is_some());
}
