//! lambda.function: CreateFunction with its zip, configuration and tags in
//! one call, then waits for State Active (and for LastUpdateStatus
//! Successful after every later update call). A role created a moment ago is
//! not yet assumable by Lambda: CreateFunction is retried on that error.
//! Delete first detaches a VPC configuration so Lambda releases its
//! hyperplane ENIs, then deletes the function.
//!
//! The zip goes inline (ZipFile) unless its `code` names an
//! `artifact_bucket` (set for zips over Lambda's direct-upload limit): then
//! it is uploaded there first and passed as S3Bucket/S3Key.

mod artifact_bucket;

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::{managed, removed_tags};
use crate::support::{arn_partition, name_of, saved_name};
use crate::wait;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus,
    LoggingConfig, Runtime, State, VpcConfig,
};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Properties that UpdateFunctionConfiguration applies.
const CONFIG: &[&str] = &[
    "role",
    "runtime",
    "handler",
    "memory_size",
    "timeout",
    "environment",
    "vpc_config",
    "log_group",
    "description",
];

fn applied(c: &Clients, f: &FunctionConfiguration) -> Applied {
    let arn = f.function_arn().unwrap_or_default().to_string();
    let name = f.function_name().unwrap_or_default().to_string();
    let region = c
        .region
        .clone()
        .unwrap_or_else(|| arn.split(':').nth(3).unwrap_or_default().to_string());
    let invoke = format!(
        "arn:{}:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        arn_partition(&arn)
    );
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    attributes.insert("name".into(), Value::from(name.clone()));
    attributes.insert("invoke_arn".into(), Value::from(invoke));
    Applied {
        physical_id: name,
        attributes,
    }
}

/// The deployment package as Lambda takes it.
enum Package {
    Inline(Blob),
    S3 { bucket: String, key: String },
}

impl Package {
    /// ZipFile, S3Bucket and S3Key: the one that applies is set.
    fn parts(self) -> (Option<Blob>, Option<String>, Option<String>) {
        match self {
            Package::Inline(zip) => (Some(zip), None, None),
            Package::S3 { bucket, key } => (None, Some(bucket), Some(key)),
        }
    }

    fn function_code(self) -> FunctionCode {
        let (zip, bucket, key) = self.parts();
        FunctionCode::builder()
            .set_zip_file(zip)
            .set_s3_bucket(bucket)
            .set_s3_key(key)
            .build()
    }
}

/// The deployment package from `code`: `code.zip` read from disk, or
/// uploaded to `code.artifact_bucket` under its `code.sha256`. Code given as
/// a package/binary of lambdas/ must be built first.
async fn package(c: &Clients, r: &Resolved) -> ProviderResult<Package> {
    let code = r.prop("code").cloned().unwrap_or(Value::Null);
    let path = match code.get("zip").and_then(Value::as_str) {
        Some(path) => path,
        None if code.get("package").is_some() || code.get("bin").is_some() => {
            return Err(ProviderError::Invalid(format!(
                "{}: the function code ({}) must be built into a zip first: run `archform build` (a later feature) \
             or deploy a zip instead with `--code-override <path to zip>`",
                r.id, code
            )));
        }
        None => {
            return Err(ProviderError::Invalid(format!(
                "{}: code.zip is required",
                r.id
            )));
        }
    };
    if let Some(bucket) = code.get("artifact_bucket").and_then(Value::as_str) {
        let sha256 = code.get("sha256").and_then(Value::as_str).unwrap_or("");
        let key = artifact_bucket::upload(c, r, bucket, Path::new(path), sha256).await?;
        return Ok(Package::S3 {
            bucket: bucket.to_string(),
            key,
        });
    }
    std::fs::read(path)
        .map(|b| Package::Inline(Blob::new(b)))
        .map_err(|e| {
            ProviderError::Invalid(format!(
                "{}: cannot read the function code zip {path}: {e}",
                r.id
            ))
        })
}

fn environment(r: &Resolved) -> Environment {
    let vars: HashMap<String, String> = r
        .prop("environment")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Environment::builder().set_variables(Some(vars)).build()
}

fn vpc(r: &Resolved) -> VpcConfig {
    let v = r.prop("vpc_config").cloned().unwrap_or(Value::Null);
    let list = |k: &str| -> Vec<String> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    VpcConfig::builder()
        .set_subnet_ids(Some(list("subnet_ids")))
        .set_security_group_ids(Some(list("security_group_ids")))
        .build()
}

fn logging(r: &Resolved) -> Option<LoggingConfig> {
    r.str("log_group")
        .map(|g| LoggingConfig::builder().log_group(g).build())
}

fn runtime(r: &Resolved) -> Runtime {
    Runtime::from(r.str("runtime").unwrap_or("provided.al2023"))
}

fn architecture(r: &Resolved) -> Architecture {
    Architecture::from(r.str("architecture").unwrap_or("x86_64"))
}

async fn get(
    c: &Clients,
    name: &str,
) -> ProviderResult<Option<aws_sdk_lambda::operation::get_function::GetFunctionOutput>> {
    match c.lambda.get_function().function_name(name).send().await {
        Ok(o) => Ok(Some(o)),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("lambda:GetFunction", e)),
    }
}

/// Waits until the function is Active and its last update Successful.
async fn settled(c: &Clients, name: &str) -> ProviderResult<FunctionConfiguration> {
    wait::until(
        &format!("function {name} to be active"),
        Duration::from_millis(500),
        Duration::from_secs(300),
        || async {
            let f = c
                .lambda
                .get_function_configuration()
                .function_name(name)
                .send()
                .await
                .map_err(|e| error::aws("lambda:GetFunctionConfiguration", e))?;
            if f.state() == Some(&State::Failed) {
                return Err(ProviderError::failed(format!(
                    "function {name} failed: {}",
                    f.state_reason().unwrap_or("no reason given")
                )));
            }
            if f.last_update_status() == Some(&LastUpdateStatus::Failed) {
                return Err(ProviderError::failed(format!(
                    "update of function {name} failed: {}",
                    f.last_update_status_reason().unwrap_or("no reason given")
                )));
            }
            let active = f.state().is_none_or(|s| *s == State::Active);
            let updated = f
                .last_update_status()
                .is_none_or(|s| *s == LastUpdateStatus::Successful);
            Ok((active && updated).then(|| {
                FunctionConfiguration::builder()
                    .set_function_name(f.function_name().map(String::from))
                    .set_function_arn(f.function_arn().map(String::from))
                    .build()
            }))
        },
    )
    .await
}

async fn set_concurrency(c: &Clients, name: &str, n: Option<i64>) -> ProviderResult<()> {
    match n {
        Some(n) => c
            .lambda
            .put_function_concurrency()
            .function_name(name)
            .reserved_concurrent_executions(n as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error::aws("lambda:PutFunctionConcurrency", e)),
        None => match c
            .lambda
            .delete_function_concurrency()
            .function_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if error::is_not_found(&e) => Ok(()),
            Err(e) => Err(error::aws("lambda:DeleteFunctionConcurrency", e)),
        },
    }
}

async fn update_config(c: &Clients, name: &str, r: &Resolved) -> ProviderResult<()> {
    c.lambda
        .update_function_configuration()
        .function_name(name)
        .set_role(r.str("role").map(String::from))
        .runtime(runtime(r))
        .handler(r.str("handler").unwrap_or("bootstrap"))
        .set_memory_size(r.int("memory_size").map(|v| v as i32))
        .set_timeout(r.int("timeout").map(|v| v as i32))
        .description(r.str("description").unwrap_or_default())
        .environment(environment(r))
        .vpc_config(vpc(r))
        // Without a log group of its own, the function logs to Lambda's
        // default group again.
        .logging_config(logging(r).unwrap_or_else(|| {
            LoggingConfig::builder()
                .log_group(format!("/aws/lambda/{name}"))
                .build()
        }))
        .send()
        .await
        .map_err(|e| error::aws("lambda:UpdateFunctionConfiguration", e))?;
    settled(c, name).await.map(|_| ())
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if get(c, &name).await?.is_none() {
        let code = package(c, r).await?.function_code();
        // A role created moments ago cannot be assumed by Lambda yet.
        let start = Instant::now();
        let mut delay = Duration::from_secs(1);
        loop {
            let out = c
                .lambda
                .create_function()
                .function_name(&name)
                .role(r.str("role").unwrap_or_default())
                .runtime(runtime(r))
                .handler(r.str("handler").unwrap_or("bootstrap"))
                .code(code.clone())
                .architectures(architecture(r))
                .set_memory_size(r.int("memory_size").map(|v| v as i32))
                .set_timeout(r.int("timeout").map(|v| v as i32))
                .set_description(r.str("description").map(String::from))
                .set_environment(r.prop("environment").map(|_| environment(r)))
                .set_vpc_config(r.prop("vpc_config").map(|_| vpc(r)))
                .set_logging_config(logging(r))
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
                .await;
            match out {
                Ok(_) => break,
                Err(e)
                    if error::code(&e) == Some("InvalidParameterValueException")
                        && aws_sdk_lambda::error::ProvideErrorMetadata::message(&e)
                            .is_some_and(|m| m.contains("cannot be assumed"))
                        && start.elapsed() + delay < Duration::from_secs(90) =>
                {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                // An earlier attempt created it after all (lost answer).
                Err(e) if error::code(&e) == Some("ResourceConflictException") => break,
                Err(e) => return Err(error::aws("lambda:CreateFunction", e)),
            }
        }
    }
    let f = settled(c, &name).await?;
    if let Some(n) = r.int("reserved_concurrency") {
        set_concurrency(c, &name, Some(n)).await?;
    }
    Ok(applied(c, &f))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(out) = get(c, &name).await? else {
        return Ok(None);
    };
    let Some(f) = out.configuration() else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        props.insert(k.to_string(), v);
    };
    if let Some(v) = f.role() {
        put("role", Value::from(v));
    }
    if let Some(v) = f.runtime() {
        put("runtime", Value::from(v.as_str()));
    }
    if let Some(v) = f.handler() {
        put("handler", Value::from(v));
    }
    if let Some(a) = f.architectures().first() {
        put("architecture", Value::from(a.as_str()));
    }
    if let Some(v) = f.memory_size() {
        put("memory_size", Value::from(v));
    }
    if let Some(v) = f.timeout() {
        put("timeout", Value::from(v));
    }
    if let Some(v) = f.description().filter(|d| !d.is_empty()) {
        put("description", Value::from(v));
    }
    if let Some(vars) = f.environment().and_then(|e| e.variables()) {
        // Lambda keeps every value as text; a value applied as a number or
        // boolean (a resolved reference) that reads back as the same text is
        // reported as applied, not as drift.
        let applied_env = cur.properties.get("environment");
        let mut m: Vec<_> = vars.iter().collect();
        m.sort();
        let env = m
            .into_iter()
            .map(|(k, v)| {
                let was = applied_env.and_then(|e| e.get(k));
                let value = match was {
                    Some(w)
                        if !w.is_string()
                            && serde_json::from_str::<Value>(v).ok().as_ref() == Some(w) =>
                    {
                        w.clone()
                    }
                    _ => Value::from(v.clone()),
                };
                (k.clone(), value)
            })
            .collect();
        put("environment", Value::Object(env));
    }
    if let Some(v) = f.vpc_config().filter(|v| !v.subnet_ids().is_empty()) {
        put(
            "vpc_config",
            json!({"subnet_ids": v.subnet_ids(), "security_group_ids": v.security_group_ids()}),
        );
    }
    match f.logging_config() {
        Some(l) => {
            // Lambda's own default group is what leaving `log_group` out means.
            if let Some(g) = l
                .log_group()
                .filter(|g| *g != format!("/aws/lambda/{name}"))
            {
                put("log_group", Value::from(g));
            }
        }
        // AWS always reports a logging configuration; moto has none, so
        // what was applied is all there is to go by.
        None if c.emulator => {
            if let Some(g) = cur.properties.get("log_group") {
                put("log_group", g.clone());
            }
        }
        None => {}
    }
    if let Some(n) = out
        .concurrency()
        .and_then(|c| c.reserved_concurrent_executions())
    {
        put("reserved_concurrency", Value::from(n));
    }
    // The code cannot be read back as the blueprint wrote it.
    if let Some(code) = cur.properties.get("code") {
        put("code", code.clone());
    }
    Ok(Some(Observed {
        applied: applied(c, f),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let name = saved_name(cur).map_or_else(|| name_of(r), Ok)?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("code") || has("architecture") {
        let (zip, bucket, key) = package(c, r).await?.parts();
        c.lambda
            .update_function_code()
            .function_name(&name)
            .set_zip_file(zip)
            .set_s3_bucket(bucket)
            .set_s3_key(key)
            .architectures(architecture(r))
            .send()
            .await
            .map_err(|e| error::aws("lambda:UpdateFunctionCode", e))?;
        settled(c, &name).await?;
    }
    if CONFIG.iter().any(|p| has(p)) {
        update_config(c, &name, r).await?;
    }
    if has("reserved_concurrency") {
        set_concurrency(c, &name, r.int("reserved_concurrency")).await?;
    }
    let f = settled(c, &name).await?;
    let a = applied(c, &f);
    if has("tags") {
        let arn = a.attributes["arn"].as_str().unwrap_or_default().to_string();
        let gone = removed_tags(&cur.tags, &r.tags);
        if !gone.is_empty() {
            c.lambda
                .untag_resource()
                .resource(&arn)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("lambda:UntagResource", e))?;
        }
        if !r.tags.is_empty() {
            c.lambda
                .tag_resource()
                .resource(&arn)
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| error::aws("lambda:TagResource", e))?;
        }
    }
    Ok(a)
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(name) = saved_name(cur) else {
        return Ok(());
    };
    let Some(out) = get(c, &name).await? else {
        return Ok(());
    };
    let in_vpc = out
        .configuration()
        .and_then(|f| f.vpc_config())
        .is_some_and(|v| !v.subnet_ids().is_empty());
    if in_vpc {
        // Detaching the VPC lets Lambda release its hyperplane ENIs, so the
        // subnets and security groups can be deleted after the function.
        match c
            .lambda
            .update_function_configuration()
            .function_name(&name)
            .vpc_config(
                VpcConfig::builder()
                    .set_subnet_ids(Some(vec![]))
                    .set_security_group_ids(Some(vec![]))
                    .build(),
            )
            .send()
            .await
        {
            Ok(_) => {
                settled(c, &name).await?;
            }
            Err(e) if error::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(error::aws("lambda:UpdateFunctionConfiguration", e)),
        }
    }
    match c.lambda.delete_function().function_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("lambda:DeleteFunction", e)),
    }
}
