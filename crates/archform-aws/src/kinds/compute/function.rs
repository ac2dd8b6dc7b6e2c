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
use crate::kinds::Read;
use crate::support::{arn_partition, name_of, same_set_of, saved_name};
use crate::wait::{self, Backoff, retry_while};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, FunctionConfiguration, LastUpdateStatus,
    LoggingConfig, Runtime, State, VpcConfig,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub role: String,
    pub code: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<IndexMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Vpc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where the code comes from (`zip`, or `package`/`bin` still to be built),
/// the zip's hash and the bucket it is uploaded through. Lambda reports only
/// the hash.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Code {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_bucket: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Vpc {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
}

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
async fn package(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Package> {
    let code = &p.code;
    let path = match code.zip.as_deref() {
        Some(path) => path,
        None if code.package.is_some() || code.bin.is_some() => {
            return Err(ProviderError::Invalid(format!(
                "{}: the function code ({}) must be built into a zip first: run `archform build` (a later feature) \
             or deploy a zip instead with `--code-override <path to zip>`",
                r.id,
                serde_json::to_value(code).unwrap_or(Value::Null)
            )));
        }
        None => {
            return Err(ProviderError::Invalid(format!(
                "{}: code.zip is required",
                r.id
            )));
        }
    };
    if let Some(bucket) = code.artifact_bucket.as_deref() {
        let sha256 = code.sha256.as_deref().unwrap_or("");
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

fn environment(p: &Props) -> Environment {
    let vars = p
        .environment
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Environment::builder().set_variables(Some(vars)).build()
}

fn vpc(p: &Props) -> VpcConfig {
    let (subnets, groups) = p
        .vpc_config
        .as_ref()
        .map(|v| (v.subnet_ids.clone(), v.security_group_ids.clone()))
        .unwrap_or_default();
    VpcConfig::builder()
        .set_subnet_ids(Some(subnets))
        .set_security_group_ids(Some(groups))
        .build()
}

fn logging(p: &Props) -> Option<LoggingConfig> {
    p.log_group
        .as_ref()
        .map(|g| LoggingConfig::builder().log_group(g).build())
}

fn runtime(p: &Props) -> Runtime {
    Runtime::from(p.runtime.as_deref().unwrap_or("provided.al2023"))
}

fn architecture(p: &Props) -> Architecture {
    Architecture::from(p.architecture.as_deref().unwrap_or("x86_64"))
}

/// Lambda's own log group of a function: where it logs without `log_group`.
fn default_log_group(name: &str) -> String {
    format!("/aws/lambda/{name}")
}

/// The properties Lambda reports for the function, in the blueprint's
/// shape: subnets and security groups in the applied order when they are
/// the same, Lambda's own log group as none (what leaving `log_group` out
/// means) unless the blueprint named it.
fn props_of(
    c: &Clients,
    name: &str,
    out: &GetFunctionOutput,
    f: &FunctionConfiguration,
    hint: Option<&Props>,
) -> Props {
    let vpc_config = f
        .vpc_config()
        .filter(|v| !v.subnet_ids().is_empty())
        .map(|v| {
            let applied = hint.and_then(|h| h.vpc_config.as_ref());
            Vpc {
                subnet_ids: same_set_of(
                    applied.map(|a| a.subnet_ids.as_slice()),
                    v.subnet_ids().to_vec(),
                    Value::clone,
                ),
                security_group_ids: same_set_of(
                    applied.map(|a| a.security_group_ids.as_slice()),
                    v.security_group_ids().to_vec(),
                    Value::clone,
                ),
            }
        });
    let applied_group = hint.and_then(|h| h.log_group.as_deref());
    let log_group = match f.logging_config() {
        Some(l) => l
            .log_group()
            .filter(|g| *g != default_log_group(name) || applied_group == Some(*g))
            .map(String::from),
        // AWS always reports a logging configuration; moto (5.x) leaves it
        // out of GetFunction, so what was applied is all there is to go by.
        None if c.emulator => applied_group.map(String::from),
        None => None,
    };
    let environment = f
        .environment()
        .and_then(|e| e.variables())
        .filter(|v| !v.is_empty())
        .map(|vars| {
            let mut m: Vec<_> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            m.sort();
            m.into_iter().collect()
        });
    Props {
        role: f.role().unwrap_or_default().to_string(),
        code: Code {
            // Lambda gives the zip's SHA-256 in base64, the CLI in hex.
            sha256: f.code_sha256().and_then(artifact_bucket::hex_of_base64),
            ..Code::default()
        },
        runtime: f.runtime().map(|r| r.as_str().to_string()),
        handler: f.handler().map(String::from),
        architecture: f.architectures().first().map(|a| a.as_str().to_string()),
        memory_size: f.memory_size().map(i64::from),
        timeout: f.timeout().map(i64::from),
        environment,
        vpc_config,
        log_group,
        reserved_concurrency: out
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions())
            .map(i64::from),
        description: f.description().filter(|d| !d.is_empty()).map(String::from),
    }
}

async fn get(c: &Clients, name: &str) -> ProviderResult<Option<GetFunctionOutput>> {
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

async fn update_config(c: &Clients, name: &str, p: &Props) -> ProviderResult<()> {
    c.lambda
        .update_function_configuration()
        .function_name(name)
        .role(&p.role)
        .runtime(runtime(p))
        .handler(p.handler.as_deref().unwrap_or("bootstrap"))
        // A size or timeout the blueprint no longer sets goes back to
        // Lambda's default (the spec's).
        .memory_size(p.memory_size.unwrap_or(128) as i32)
        .timeout(p.timeout.unwrap_or(3) as i32)
        .description(p.description.as_deref().unwrap_or_default())
        .environment(environment(p))
        .vpc_config(vpc(p))
        // Without a log group of its own, the function logs to Lambda's
        // default group again.
        .logging_config(logging(p).unwrap_or_else(|| {
            LoggingConfig::builder()
                .log_group(default_log_group(name))
                .build()
        }))
        .send()
        .await
        .map_err(|e| error::aws("lambda:UpdateFunctionConfiguration", e))?;
    settled(c, name).await.map(|_| ())
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = name_of(r)?;
    if get(c, &name).await?.is_none() {
        let code = package(c, r, p).await?.function_code();
        // A role created moments ago cannot be assumed by Lambda yet.
        let backoff = Backoff {
            first: Duration::from_secs(1),
            limit: Duration::from_secs(90),
        };
        let not_assumable_yet = |e: &aws_sdk_lambda::error::SdkError<_, _>| {
            error::code(e) == Some("InvalidParameterValueException")
                && e.message().is_some_and(|m| m.contains("cannot be assumed"))
        };
        let out = retry_while(backoff, not_assumable_yet, || {
            c.lambda
                .create_function()
                .function_name(&name)
                .role(&p.role)
                .runtime(runtime(p))
                .handler(p.handler.as_deref().unwrap_or("bootstrap"))
                .code(code.clone())
                .architectures(architecture(p))
                .set_memory_size(p.memory_size.map(|v| v as i32))
                .set_timeout(p.timeout.map(|v| v as i32))
                .set_description(p.description.clone())
                .set_environment(p.environment.as_ref().map(|_| environment(p)))
                .set_vpc_config(p.vpc_config.as_ref().map(|_| vpc(p)))
                .set_logging_config(logging(p))
                .set_tags(Some(r.tags.clone().into_iter().collect()))
                .send()
        })
        .await;
        match out {
            Ok(_) => {}
            // An earlier attempt created it after all (lost answer).
            Err(e) if error::code(&e) == Some("ResourceConflictException") => {}
            Err(e) => return Err(error::aws("lambda:CreateFunction", e)),
        }
    }
    let f = settled(c, &name).await?;
    if let Some(n) = p.reserved_concurrency {
        set_concurrency(c, &name, Some(n)).await?;
    }
    Ok(applied(c, &f))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(out) = get(c, &name).await? else {
        return Ok(None);
    };
    let Some(f) = out.configuration() else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(c, f),
        props: props_of(c, &name, &out, f, hint),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let name = saved_name(cur).map_or_else(|| name_of(r), Ok)?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("code") || has("architecture") {
        let (zip, bucket, key) = package(c, r, p).await?.parts();
        c.lambda
            .update_function_code()
            .function_name(&name)
            .set_zip_file(zip)
            .set_s3_bucket(bucket)
            .set_s3_key(key)
            .architectures(architecture(p))
            .send()
            .await
            .map_err(|e| error::aws("lambda:UpdateFunctionCode", e))?;
        settled(c, &name).await?;
    }
    if CONFIG.iter().any(|p| has(p)) {
        update_config(c, &name, p).await?;
    }
    if has("reserved_concurrency") {
        set_concurrency(c, &name, p.reserved_concurrency).await?;
    }
    let f = settled(c, &name).await?;
    let a = applied(c, &f);
    if has("tags") {
        let arn = a.attributes["arn"].as_str().unwrap_or_default();
        crate::retag::lambda(c, arn, &cur.tags, &r.tags).await?;
    }
    Ok(a)
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
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
