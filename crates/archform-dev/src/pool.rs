//! Warm execution environments per function, like Lambda's: an invocation
//! takes an idle environment or starts a new one (a cold start), up to the
//! function's concurrency limit; beyond it, invocations wait their turn.

use crate::error::DevError;
use crate::topology::FunctionSpec;
use archform_local::{AwsEndpoint, FunctionConfig, InvokeOutcome, LocalFunction};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::Semaphore;

pub struct FunctionPool {
    pub spec: FunctionSpec,
    config: FunctionConfig,
    idle: Mutex<Vec<LocalFunction>>,
    slots: Arc<Semaphore>,
    concurrency: u32,
}

impl FunctionPool {
    /// Unpacks the function's zip under `work_dir` once; every environment
    /// runs the same `bootstrap`.
    pub fn new(
        spec: FunctionSpec,
        work_dir: &Path,
        endpoint: Option<AwsEndpoint>,
        extra_env: &[(String, String)],
        concurrency: usize,
    ) -> Result<FunctionPool, DevError> {
        let dir: PathBuf = work_dir.join(&spec.id);
        let _ = std::fs::remove_dir_all(&dir);
        let bootstrap = archform_local::bundle::extract(&spec.zip, &dir).map_err(|source| {
            DevError::Bundle {
                function: spec.id.clone(),
                source,
            }
        })?;
        let mut config = FunctionConfig::new(bootstrap, &spec.name);
        config.arn = spec.arn.clone();
        if let Some(region) = spec.arn.split(':').nth(3).filter(|r| !r.is_empty()) {
            config.region = region.to_string();
        }
        config.memory_mb = spec.memory_mb;
        config.environment = spec.environment.clone();
        config.environment.extend(extra_env.iter().cloned());
        config.aws_endpoint = endpoint;
        // dev's request lines never show it; under load the /proc read per
        // invocation is measurable.
        config.report_memory = false;
        Ok(FunctionPool {
            spec,
            config,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1) as u32,
        })
    }

    /// One invocation with the function's own timeout. Function failures
    /// are in the outcome; `Err` is the local runtime failing.
    pub async fn invoke(&self, event: Bytes) -> Result<InvokeOutcome, DevError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| DevError::Stack(format!("function `{}` is stopping", self.spec.id)))?;
        let taken = self.idle.lock().map(|mut idle| idle.pop()).unwrap_or(None);
        let mut env = taken.unwrap_or_else(|| LocalFunction::new(self.config.clone()));
        let outcome = env.invoke_raw(event, self.spec.timeout).await;
        // A crashed or timed-out environment is already stopped inside
        // LocalFunction and restarts cold on its next use, as on Lambda.
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(env);
        }
        outcome.map_err(|source| DevError::Runtime {
            function: self.spec.id.clone(),
            source,
        })
    }

    /// Stops every environment once in-flight invocations are done (bounded
    /// by the function's timeout; a process still running after that is
    /// killed when its environment drops).
    pub async fn stop(&self) {
        let wait = self.spec.timeout + std::time::Duration::from_secs(1);
        let all = tokio::time::timeout(wait, self.slots.acquire_many(self.concurrency)).await;
        self.slots.close();
        drop(all);
        let envs: Vec<LocalFunction> = self
            .idle
            .lock()
            .map(|mut idle| idle.drain(..).collect())
            .unwrap_or_default();
        for mut env in envs {
            env.stop().await;
        }
    }
}
