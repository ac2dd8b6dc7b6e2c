//! Refresh: read every resource of the state back from AWS before planning,
//! so the plan works from what exists, and report drift (changes made
//! outside archform) as such.

use crate::provider::Provider;
use crate::state::State;
use archform_blueprint::kinds::same_prop;
use futures_lite::refresh_all;
use serde::Serialize;
use serde_json::Value;

/// One difference between the saved state and AWS.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    /// The resource no longer exists; it will be created again.
    Deleted { id: String },
    /// A property differs from what archform last applied.
    Changed {
        id: String,
        property: String,
        applied: Value,
        actual: Value,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("refreshing `{id}`: {source}")]
pub struct RefreshError {
    pub id: String,
    #[source]
    pub source: crate::provider::ProviderError,
}

/// Reads every created resource (up to `parallelism` at once) and folds
/// what AWS reports into `state`: gone resources are dropped, observed
/// properties replace the applied ones. Only properties the provider reads
/// are compared; others keep their applied values.
pub async fn refresh(
    state: &mut State,
    provider: &dyn Provider,
    parallelism: usize,
) -> Result<Vec<Drift>, RefreshError> {
    let ids: Vec<String> = state
        .resources
        .iter()
        .filter(|(_, r)| r.physical_id.is_some())
        .map(|(id, _)| id.clone())
        .collect();
    let results = refresh_all(state, provider, &ids, parallelism.max(1)).await;
    let mut drifts = Vec::new();
    for (id, result) in ids.into_iter().zip(results) {
        let observed = result.map_err(|source| RefreshError {
            id: id.clone(),
            source,
        })?;
        match observed {
            None => {
                state.resources.shift_remove(&id);
                drifts.push(Drift::Deleted { id });
            }
            Some(o) => {
                let Some(r) = state.resources.get_mut(&id) else {
                    continue;
                };
                let kind = r.kind;
                if let (Some(seen), Some(applied)) =
                    (o.properties.as_object(), r.properties.as_object_mut())
                {
                    // Every property of the kind: one AWS no longer reports
                    // was removed outside archform, unless leaving it out
                    // means what was applied (its default).
                    for p in kind.props {
                        let (was, actual) = (applied.get(p.name), seen.get(p.name));
                        if was.is_none() || same_prop(p, was, actual) {
                            continue;
                        }
                        drifts.push(Drift::Changed {
                            id: id.clone(),
                            property: p.name.to_string(),
                            applied: was.cloned().unwrap_or(Value::Null),
                            actual: actual.cloned().unwrap_or(Value::Null),
                        });
                        match actual {
                            Some(v) => applied.insert(p.name.to_string(), v.clone()),
                            None => applied.remove(p.name),
                        };
                    }
                }
                for (k, v) in o.applied.attributes {
                    r.attributes.insert(k, v);
                }
            }
        }
    }
    Ok(drifts)
}

mod futures_lite {
    //! Bounded-concurrency reads without pulling in a futures crate.

    use crate::provider::{Observed, Provider, ProviderResult};
    use crate::state::State;
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    pub(super) async fn refresh_all(
        state: &State,
        provider: &dyn Provider,
        ids: &[String],
        parallelism: usize,
    ) -> Vec<ProviderResult<Option<Observed>>> {
        let gate = Arc::new(Semaphore::new(parallelism));
        let reads = ids.iter().map(|id| {
            let gate = gate.clone();
            let current = &state.resources[id];
            async move {
                let _permit = gate.acquire().await;
                provider.read(id, current).await
            }
        });
        join_all(reads.collect()).await
    }

    /// Polls every future concurrently on the current task.
    async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut out: Vec<Option<F::Output>> = (0..futures.len()).map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in futures.iter_mut().enumerate() {
                if out[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => out[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        out.into_iter()
            .map(|o| o.expect("every future finished"))
            .collect()
    }
}
