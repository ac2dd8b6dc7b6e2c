//! Which state backend a command uses: `--state s3://bucket/prefix` for S3,
//! otherwise local files (`--state DIR` or `--state-dir DIR`, default
//! `.archform/state`).

use crate::target::{self, TargetArgs};
use anyhow::Context;
use archform_aws::{Clients, S3Backend};
use archform_engine::state::{Change, LocalBackend, Lock, State, StateBackend, StateError};

/// One of the state backends; the lifecycle commands work through it.
#[derive(Debug)]
pub enum Store {
    Local(LocalBackend),
    S3(S3Backend),
}

impl Store {
    /// The backend `--state`/`--state-dir` select. S3 uses the same AWS
    /// target (endpoint, profile) as the command's resources.
    pub async fn open(t: &TargetArgs) -> anyhow::Result<Store> {
        match t.state.as_deref() {
            Some(url) if url.starts_with("s3://") => {
                let target = target::resolve(t, None).await?;
                let s3 = Clients::new(&target.config).s3;
                let b = S3Backend::from_url(s3, url)
                    .with_context(|| format!("`{url}` is not s3://bucket[/prefix]"))?;
                Ok(Store::S3(b))
            }
            Some(dir) => Ok(Store::Local(LocalBackend::new(dir))),
            None => Ok(Store::Local(LocalBackend::new(&t.state_dir))),
        }
    }

    /// Where states live, for messages.
    pub fn describe(&self) -> String {
        match self {
            Store::Local(b) => b.dir().display().to_string(),
            Store::S3(b) if b.prefix().is_empty() => format!("s3://{}", b.bucket()),
            Store::S3(b) => format!("s3://{}/{}", b.bucket(), b.prefix()),
        }
    }

    /// The state of a stack that must have been deployed (outputs, invoke,
    /// dev); no state is an error saying where it looked and what to do.
    pub async fn load_deployed(&self, stack: &str) -> anyhow::Result<State> {
        match self.load(stack).await? {
            Some(state) => Ok(state),
            None => anyhow::bail!(
                "no state for stack `{stack}` in {}: deploy it first",
                self.describe()
            ),
        }
    }

    /// Stacks that have state, sorted.
    pub async fn list(&self) -> Result<Vec<String>, StateError> {
        match self {
            Store::Local(b) => b.list(),
            Store::S3(b) => b.list().await,
        }
    }
}

impl StateBackend for Store {
    async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        match self {
            Store::Local(b) => b.load(stack).await,
            Store::S3(b) => b.load(stack).await,
        }
    }

    async fn save(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        match self {
            Store::Local(b) => b.save(lock, state).await,
            Store::S3(b) => b.save(lock, state).await,
        }
    }

    async fn record(
        &self,
        lock: &Lock,
        state: &mut State,
        change: Change,
    ) -> Result<(), StateError> {
        match self {
            Store::Local(b) => b.record(lock, state, change).await,
            Store::S3(b) => b.record(lock, state, change).await,
        }
    }

    async fn lock(&self, stack: &str, operation: &str) -> Result<Lock, StateError> {
        match self {
            Store::Local(b) => b.lock(stack, operation).await,
            Store::S3(b) => b.lock(stack, operation).await,
        }
    }

    async fn unlock(&self, lock: Lock) -> Result<(), StateError> {
        match self {
            Store::Local(b) => b.unlock(lock).await,
            Store::S3(b) => b.unlock(lock).await,
        }
    }

    async fn force_unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        match self {
            Store::Local(b) => b.force_unlock(stack, lock_id).await,
            Store::S3(b) => b.force_unlock(stack, lock_id).await,
        }
    }
}
