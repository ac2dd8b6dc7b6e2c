//! What a local function runs with: the binary, its identity and environment.

use std::path::PathBuf;
use std::time::Duration;

/// The AWS endpoint (emulator or proxy) and credentials the function's SDK
/// clients should use, passed as `AWS_ENDPOINT_URL` and the key variables.
#[derive(Clone, Debug)]
pub struct AwsEndpoint {
    pub url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl AwsEndpoint {
    /// An emulator endpoint with the emulator's test credentials.
    pub fn emulator(url: impl Into<String>) -> Self {
        AwsEndpoint {
            url: url.into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }
    }
}

/// The `_HANDLER` of a custom-runtime function: its `bootstrap`.
pub(crate) const HANDLER: &str = "bootstrap";

#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// The `bootstrap` executable (a custom-runtime function's entry point).
    pub bootstrap: PathBuf,
    pub name: String,
    /// The ARN sent as `Lambda-Runtime-Invoked-Function-Arn`.
    pub arn: String,
    pub memory_mb: u32,
    pub version: String,
    pub region: String,
    /// The function's own environment variables (from the stack state).
    pub environment: Vec<(String, String)>,
    /// Where the function's AWS calls go; `None` passes the caller's AWS
    /// configuration (profile, keys) through to the real account.
    pub aws_endpoint: Option<AwsEndpoint>,
    /// How long the process may take to reach its first `next` request
    /// (Lambda allows 10 seconds of init).
    pub init_timeout: Duration,
    /// Whether each outcome reports the process's peak memory (Lambda's
    /// "Max Memory Used"): a read of /proc per invocation, which callers
    /// that never show it (dev, under load) can spare.
    pub report_memory: bool,
}

impl FunctionConfig {
    /// Defaults like a new Lambda function: 128 MB, `$LATEST`, us-east-1.
    pub fn new(bootstrap: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        let name = name.into();
        let region = "us-east-1".to_string();
        FunctionConfig {
            bootstrap: bootstrap.into(),
            arn: format!("arn:aws:lambda:{region}:000000000000:function:{name}"),
            name,
            memory_mb: 128,
            version: "$LATEST".into(),
            region,
            environment: Vec::new(),
            aws_endpoint: None,
            init_timeout: Duration::from_secs(10),
            report_memory: true,
        }
    }

    /// The variables the child process starts with (besides PATH and HOME):
    /// the Lambda-reserved ones, then the function's own.
    pub(crate) fn child_env(&self, runtime_api: &str) -> Vec<(String, String)> {
        let task_root = self
            .bootstrap
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ".".into());
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", self.version.clone()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "local/[$LATEST]archform".into(),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
            ("AWS_REGION", self.region.clone()),
            ("AWS_DEFAULT_REGION", self.region.clone()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
            ("LAMBDA_TASK_ROOT", task_root.clone()),
            ("LAMBDA_RUNTIME_DIR", task_root),
            ("_HANDLER", HANDLER.into()),
            ("TZ", ":UTC".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match &self.aws_endpoint {
            Some(e) => {
                env.push(("AWS_ENDPOINT_URL".into(), e.url.clone()));
                env.push(("AWS_ACCESS_KEY_ID".into(), e.access_key_id.clone()));
                env.push(("AWS_SECRET_ACCESS_KEY".into(), e.secret_access_key.clone()));
            }
            None => {
                for k in [
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                    "AWS_PROFILE",
                    "AWS_CONFIG_FILE",
                    "AWS_SHARED_CREDENTIALS_FILE",
                ] {
                    if let Ok(v) = std::env::var(k) {
                        env.push((k.into(), v));
                    }
                }
            }
        }
        env.extend(service_endpoints(std::env::vars()));
        env.extend(self.environment.iter().cloned());
        env
    }
}

/// The caller's service-specific endpoints (`AWS_ENDPOINT_URL_DYNAMODB`,
/// ...). They redirected that service's calls when the stack was deployed
/// (the SDK's rule, with or without a general endpoint), so the function's
/// calls follow them and both see the same resources. The function's own
/// environment comes after and wins (dev's local `@connections` endpoint).
fn service_endpoints(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter(|(k, v)| {
        k.strip_prefix("AWS_ENDPOINT_URL_")
            .is_some_and(|service| !service.is_empty())
            && !v.trim().is_empty()
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn only_set_service_endpoints_pass_through() {
        let found = service_endpoints(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SQS", ""),
            ("AWS_ENDPOINT_URL_", "http://127.0.0.1:2"),
            ("AWS_REGION", "eu-west-1"),
        ]));
        assert_eq!(
            found,
            vec![(
                "AWS_ENDPOINT_URL_DYNAMODB".to_string(),
                "http://127.0.0.1:8000".to_string()
            )]
        );
    }

    #[test]
    fn the_functions_own_environment_comes_last() {
        let mut config = FunctionConfig::new("/tmp/bootstrap", "f");
        config.environment = vec![("TABLE".into(), "links".into())];
        config.aws_endpoint = Some(AwsEndpoint::emulator("http://127.0.0.1:5000"));
        let env = config.child_env("127.0.0.1:9001");
        assert_eq!(env.last(), Some(&("TABLE".into(), "links".into())));
        assert!(env.contains(&("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:5000".into())));
    }
}
