//! `archform state unlock`, `state rm` and `state recover`: repairing state
//! by hand. (`state list` and `state show` live with the lifecycle commands.)

use crate::args::OutputFormat;
use crate::output;
use crate::state_store::Store;
use crate::target::TargetArgs;
use anyhow::bail;
use archform_engine::state::StateBackend;
use std::fmt::Write as _;

#[derive(Debug, clap::Args, Clone)]
pub struct UnlockArgs {
    /// The stack whose lock to remove.
    #[arg(long)]
    pub stack: String,
    /// The lock's id, as the lock error printed it: a different (newer)
    /// lock is never removed.
    #[arg(long)]
    pub lock_id: String,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, clap::Args, Clone)]
pub struct RmArgs {
    #[arg(long)]
    pub stack: String,
    /// The logical id of the resource to forget (see `archform state show`).
    #[arg(long = "id", value_name = "ID", required = true)]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn unlock(out: OutputFormat, args: &UnlockArgs) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let store = Store::open(&args.target).await?;
        store.force_unlock(&args.stack, &args.lock_id).await?;
        let report = serde_json::json!({"stack": args.stack, "unlocked": args.lock_id});
        output::emit(out, &report, || {
            format!("Stack `{}` is unlocked.\n", args.stack)
        });
        Ok(0)
    })
}

/// Removes resources from the state without touching AWS: afterwards
/// archform neither updates nor deletes them (a later deploy whose blueprint
/// still has them creates new ones, or adopts them by name/tags where the
/// kind can).
pub fn rm(out: OutputFormat, args: &RmArgs) -> anyhow::Result<i32> {
    runtime()?.block_on(async {
        let store = Store::open(&args.target).await?;
        let Some(mut state) = store.load(&args.stack).await? else {
            bail!(
                "no state for stack `{}` in {}",
                args.stack,
                store.describe()
            );
        };
        if let Some(missing) = args
            .ids
            .iter()
            .find(|id| !state.resources.contains_key(*id))
        {
            bail!(
                "stack `{}` has no resource `{missing}` in its state (see `archform state show --stack {}`)",
                args.stack,
                args.stack
            );
        }
        let lock = store.lock(&args.stack, "state rm").await?;
        let result = async {
            // Reload under the lock: the copy read above may be stale.
            let mut locked = store.load(&args.stack).await?.unwrap_or(state.clone());
            let mut forgotten = indexmap::IndexMap::new();
            for id in &args.ids {
                if let Some(r) = locked.resources.shift_remove(id) {
                    forgotten.insert(id.clone(), r);
                }
            }
            // Dependents no longer wait for (or order their delete after) a
            // resource archform does not manage.
            let mut dependents = Vec::new();
            for (id, r) in locked.resources.iter_mut() {
                let before = r.dependencies.len();
                r.dependencies.retain(|d| !forgotten.contains_key(d));
                if r.dependencies.len() != before {
                    dependents.push(id.clone());
                }
            }
            store.save(&lock, &mut locked).await?;
            state = locked;
            anyhow::Ok((forgotten, dependents))
        }
        .await;
        store.unlock(lock).await?;
        let (forgotten, dependents) = result?;
        let report = serde_json::json!({
            "stack": args.stack,
            "forgotten": forgotten,
            "dependents": dependents,
            "serial": state.serial,
        });
        output::emit(out, &report, || {
            let mut s = String::new();
            for (id, r) in &forgotten {
                let _ = writeln!(
                    s,
                    "Forgot {id} ({}, {}): it still exists in AWS and archform no longer manages it.",
                    r.kind,
                    r.physical_id.as_deref().unwrap_or("no physical id")
                );
            }
            if !dependents.is_empty() {
                let _ = writeln!(s, "Resources that depended on it: {}", dependents.join(", "));
            }
            s
        });
        Ok(0)
    })
}
