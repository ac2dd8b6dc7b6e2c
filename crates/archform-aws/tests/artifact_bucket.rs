//! lambda.function with a zip over Lambda's direct-upload limit, against the
//! emulator behind the counting proxy: the zip is uploaded to the artifact
//! bucket under `archform/<stack>/<id>/<sha256>.zip` and the function is
//! created and updated from there; a key that exists is not uploaded again;
//! a missing bucket or one in another region is a clear error that creates
//! nothing; deleting the function leaves its artifacts.

use archform_aws::{AwsProvider, Clients};
use archform_engine::provider::{Provider, ProviderError};
use archform_testkit::{FaultConfig, FaultProxy, sdk_config, test_endpoint};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

mod common;
use common::{assert_reads_back, assert_recovers, resolved, sha256_hex, stack, state};

/// Lambda's direct-upload quota for a zip (50 MB).
const DIRECT_UPLOAD_LIMIT: u64 = 52_428_800;
/// Enough incompressible data to put a zip just over it.
const NOISE_BYTES: usize = 51 * 1024 * 1024;

/// A directory removed when dropped, so no 51 MB zip outlives the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("archform-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

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

/// A big function zip: `bootstrap` and a large data file. Returns its path,
/// SHA-256 (hex) and size.
fn big_zip(dir: &Path, name: &str, seed: u64) -> (String, String, u64) {
    let data = noise(seed, NOISE_BYTES);
    let zip = archform_testkit::zip::build(&[
        ("bootstrap", b"#!/bin/sh\necho big\n", 0o755),
        ("data.bin", &data, 0o644),
    ]);
    let path = dir.join(name);
    std::fs::write(&path, &zip).unwrap();
    assert!(zip.len() as u64 > DIRECT_UPLOAD_LIMIT);
    (
        path.to_string_lossy().into_owned(),
        sha256_hex(&path),
        zip.len() as u64,
    )
}

/// Lambda's CodeSha256: the digest in base64.
fn base64_of_hex(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

fn trust() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
}

/// S3 and Lambda mutations the proxy saw since the last reset.
fn mutations(proxy: &FaultProxy) -> (u64, u64) {
    let m = proxy.stats().mutations();
    let count = |prefix: &str| {
        m.iter()
            .filter(|(op, _)| op.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    };
    (count("s3:"), count("lambda:"))
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

/// GetFunction's CodeSize and CodeSha256 describe `size` and `sha256`.
fn code_reported(conf: &aws_sdk_lambda::types::FunctionConfiguration, size: u64, sha256: &str) {
    assert_eq!(conf.code_size(), size as i64, "CodeSize");
    assert_eq!(
        conf.code_sha256().unwrap_or_default(),
        base64_of_hex(sha256),
        "CodeSha256"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_zips_deploy_through_the_artifact_bucket_once_per_content() {
    let upstream = test_endpoint();
    let proxy = FaultProxy::start(&upstream, FaultConfig::default())
        .await
        .unwrap();
    let p = AwsProvider::new(&sdk_config(&proxy.endpoint).await);
    // Checks go straight to the emulator, outside the proxy's counts.
    let direct = Clients::new(&sdk_config(&upstream).await);
    let s = stack("art");
    let bucket = format!("{s}-artifacts");
    direct
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let role = direct
        .iam
        .create_role()
        .role_name(format!("{s}-role"))
        .assume_role_policy_document(trust().to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let dir = TempDir::new(&format!("artifact-{s}"));
    let (zip1, sha1, size1) = big_zip(&dir.0, "one.zip", 1);
    let name = format!("{s}-big");
    let code = |zip: &str, sha: &str| json!({"zip": zip, "sha256": sha, "artifact_bucket": bucket});
    let mut r = resolved(
        "lambda.function",
        &s,
        "big",
        Some(name.clone()),
        json!({"role": role, "code": code(&zip1, &sha1), "runtime": "provided.al2023"}),
    );

    // Create: the zip lands at its content-addressed key, the function is
    // created from it.
    proxy.reset();
    let a = p.create(&r).await.unwrap();
    assert_eq!(a.physical_id, name);
    let key1 = format!("archform/{s}/big/{sha1}.zip");
    let head = direct
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("no object at {key1}: {e:?}"));
    assert_eq!(head.content_length(), Some(size1 as i64));
    // The upload carried the key's hash for S3 to check the bytes against.
    let sums = direct
        .s3
        .head_object()
        .bucket(&bucket)
        .key(&key1)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(sums.checksum_sha256(), Some(base64_of_hex(&sha1).as_str()));
    let stamp1 = last_modified(&direct, &bucket, &key1).await;
    let (s3_puts, lambda_calls) = mutations(&proxy);
    assert_eq!(s3_puts, 1, "one upload: {:?}", proxy.stats().mutations());
    assert_eq!(lambda_calls, 1, "one CreateFunction");
    let f = direct
        .lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    code_reported(f.configuration().unwrap(), size1, &sha1);
    let mut st = state(&r, &a);

    // Creating again adopts the function: nothing uploaded or created.
    proxy.reset();
    assert_eq!(p.create(&r).await.unwrap(), a);
    assert_eq!(mutations(&proxy), (0, 0), "{:?}", proxy.stats().mutations());

    // The same bytes under another path: the key exists, so no upload; the
    // code update names the same object.
    let copy = dir.0.join("copy.zip");
    std::fs::copy(&zip1, &copy).unwrap();
    r.properties["code"] = code(copy.to_str().unwrap(), &sha1);
    proxy.reset();
    p.update(&r, &st, &["code".to_string()]).await.unwrap();
    assert_eq!(mutations(&proxy), (0, 1), "{:?}", proxy.stats().mutations());
    assert_eq!(last_modified(&direct, &bucket, &key1).await, stamp1);
    std::fs::remove_file(&copy).unwrap();

    // Changed code: a new object, and UpdateFunctionCode from it.
    let (zip2, sha2, size2) = big_zip(&dir.0, "two.zip", 2);
    r.properties["code"] = code(&zip2, &sha2);
    proxy.reset();
    let a2 = p.update(&r, &st, &["code".to_string()]).await.unwrap();
    assert_eq!(a2, a);
    st = state(&r, &a2);
    let key2 = format!("archform/{s}/big/{sha2}.zip");
    assert!(last_modified(&direct, &bucket, &key2).await.is_some());
    let (s3_puts, lambda_calls) = mutations(&proxy);
    assert_eq!(
        (s3_puts, lambda_calls),
        (1, 1),
        "upload + UpdateFunctionCode"
    );
    let conf = direct
        .lambda
        .get_function()
        .function_name(&name)
        .send()
        .await
        .unwrap();
    code_reported(conf.configuration().unwrap(), size2, &sha2);
    let seen = p.read("big", &st).await.unwrap().unwrap();
    // Lambda keeps the code, not where it came from: the read reports the
    // zip's hash, the zip's path and the bucket are taken as applied.
    assert_eq!(seen.properties["code"], json!({"sha256": sha2}));
    assert_reads_back(r.kind, &r.properties, &seen.properties);
    assert_recovers(&p, "big", &st).await;

    // Deleting the function leaves its artifacts: they are content-addressed
    // and may serve other deploys.
    p.delete("big", &st).await.unwrap();
    assert_eq!(last_modified(&direct, &bucket, &key1).await, stamp1);
    assert!(last_modified(&direct, &bucket, &key2).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_or_one_in_another_region_is_a_clear_error() {
    let endpoint = test_endpoint();
    let p = AwsProvider::new(&sdk_config(&endpoint).await);
    let direct = p.clients().clone();
    let s = stack("artbad");
    // A small zip is enough: the bucket is what is wrong.
    let dir = TempDir::new(&format!("artifact-{s}"));
    let zip = dir.0.join("small.zip");
    std::fs::write(&zip, archform_testkit::zip::placeholder_function()).unwrap();
    let sha = sha256_hex(&zip);
    let function = |bucket: &str| {
        resolved(
            "lambda.function",
            &s,
            "big",
            Some(format!("{s}-big")),
            json!({"role": format!("arn:aws:iam::123456789012:role/{s}-role"),
                   "code": {"zip": zip.to_str().unwrap(), "sha256": sha, "artifact_bucket": bucket}}),
        )
    };
    let invalid = |r: Result<_, ProviderError>| match r {
        Err(ProviderError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    };

    let missing = format!("{s}-missing");
    let m = invalid(p.create(&function(&missing)).await);
    assert!(
        m.contains(&format!("`{missing}` does not exist")) && m.contains("us-east-1"),
        "{m}"
    );

    let foreign = format!("{s}-eu");
    direct
        .s3
        .create_bucket()
        .bucket(&foreign)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let m = invalid(p.create(&function(&foreign)).await);
    assert!(
        m.contains("is in eu-west-1") && m.contains("deploys to us-east-1") && m.contains("big"),
        "{m}"
    );
    let objects = direct
        .s3
        .list_objects_v2()
        .bucket(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(objects.key_count(), Some(0), "nothing uploaded");
    let gone = direct
        .lambda
        .get_function()
        .function_name(format!("{s}-big"))
        .send()
        .await;
    assert!(gone.is_err(), "no function was created");
}
