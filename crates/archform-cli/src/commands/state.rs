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

#[derive(Debug, clap::Args, Clone)]
pub struct RecoverArgs {
    /// The stack whose state to rebuild from the `archform:stack` tags.
    #[arg(long)]
    pub stack: String,
    /// The blueprint the stack was deployed from (an embedded name or a
    /// file). With it, resources AWS cannot tag (permissions, target
    /// registrations, listeners, routes, subscriptions) are found through
    /// their parents, and values come back in the blueprint's form, so an
    /// untouched stack plans no change. Without it, only tagged resources
    /// are recorded (default name: the existing state's, or `unknown`).
    #[arg(long)]
    pub blueprint: Option<String>,
    /// A parameter the stack was deployed with: `--set az_count=3`
    /// (repeatable, as for `deploy`).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// AWS region (default: from the AWS configuration).
    #[arg(long)]
    pub region: Option<String>,
    /// Replace an existing state (its previous version is kept as the backup).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Rebuilds a lost state from the tags in the account (and, with the
/// blueprint, from the parents of untagged resources). Properties are what
/// each kind's provider reads back.
pub fn recover(out: OutputFormat, args: &RecoverArgs) -> anyhow::Result<i32> {
    // A bad blueprint or parameter stops here, before any AWS call.
    let graph = match &args.blueprint {
        Some(b) => match archform_blueprint::compile(&archform_blueprint::StackRequest {
            blueprint: Some(b.clone()),
            stack: Some(args.stack.clone()),
            region: args.region.clone(),
            set: args.set.clone(),
            tags: Vec::new(),
            stack_file: None,
        }) {
            Ok(g) => Some(g),
            Err(e) => return Ok(output::load_error(out, &e)),
        },
        None if !args.set.is_empty() => {
            bail!("--set needs --blueprint: name the blueprint the stack was deployed from")
        }
        None => None,
    };
    runtime()?.block_on(async {
        let store = Store::open(&args.target).await?;
        let target = crate::target::resolve(&args.target, args.region.as_deref()).await?;
        let provider = archform_aws::AwsProvider::new(&target.config);
        let lock = store.lock(&args.stack, "state recover").await?;
        let result = async {
            let existing = store.load(&args.stack).await?;
            if existing.is_some() && !args.force {
                bail!(
                    "stack `{}` already has state in {}: pass --force to replace it with one rebuilt from tags",
                    args.stack,
                    store.describe()
                );
            }
            let blueprint = args
                .blueprint
                .clone()
                .or_else(|| existing.as_ref().map(|s| s.blueprint.clone()))
                .unwrap_or_else(|| "unknown".into());
            let mut r = archform_aws::inventory::recover(&provider, &args.stack, &blueprint).await;
            let completed = match &graph {
                Some(g) => {
                    use archform_engine::provider::Provider;
                    let pseudo = provider.pseudo().await?;
                    let c = archform_engine::recover::complete(&mut r.state, g, &provider, &pseudo).await;
                    r.unread.retain(|(id, _)| !g.resources.contains_key(id));
                    r.unread.extend(c.unread.iter().cloned());
                    Some(c)
                }
                None => None,
            };
            if let Some(old) = &existing {
                // Continue the existing lineage so the write is accepted.
                r.state.lineage = old.lineage.clone();
                r.state.serial = old.serial;
                if graph.is_none() {
                    r.state.parameters = old.parameters.clone();
                }
            }
            store.save(&lock, &mut r.state).await?;
            anyhow::Ok((r, completed))
        }
        .await;
        store.unlock(lock).await?;
        let (r, completed) = result?;
        let through_parents = completed.as_ref().map(|c| c.through_parents.clone()).unwrap_or_default();
        let report = serde_json::json!({
            "stack": args.stack,
            "state": store.describe(),
            "resources": r.state.resources.iter().map(|(id, x)| serde_json::json!({
                "id": id, "kind": x.kind, "physical_id": x.physical_id,
            })).collect::<Vec<_>>(),
            "untracked": r.untracked,
            "unread": r.unread.iter().map(|(id, e)| serde_json::json!({"id": id, "error": e})).collect::<Vec<_>>(),
            "through_parents": through_parents,
            "unknown": r.unknown,
        });
        output::emit(out, &report, || {
            let mut s = format!(
                "Recovered {} resources of stack `{}` into {}:\n",
                r.state.resources.len(),
                args.stack,
                store.describe()
            );
            for (id, x) in &r.state.resources {
                let _ = writeln!(
                    s,
                    "  {id:<28} {:<28} {}",
                    x.kind,
                    x.physical_id.as_deref().unwrap_or("-")
                );
            }
            for f in &r.untracked {
                let _ = writeln!(
                    s,
                    "  not recorded: {} {} (tagged with the stack but {})",
                    f.kind,
                    f.physical_id,
                    if f.id.is_empty() { "without an archform:id tag" } else { "its id is taken" }
                );
            }
            for (id, e) in &r.unread {
                let _ = writeln!(s, "  {id}: properties not read back ({e})");
            }
            if !through_parents.is_empty() {
                let _ = writeln!(s, "  found through their parents (no tags): {}", through_parents.join(", "));
            }
            if graph.is_none() {
                s.push_str(
                    "Only tagged resources were recorded: pass --blueprint (and the --set values of the deploy) to find untagged ones too.\n",
                );
            }
            if !r.unknown.is_empty() {
                let _ = writeln!(
                    s,
                    "Could not look at {} places: resources tagged with the stack may be there and are not in this state:",
                    r.unknown.len()
                );
                for u in &r.unknown {
                    let _ = writeln!(s, "  {u}");
                }
            }
            s.push_str("Run `archform plan` and review it before deploying.\n");
            s
        });
        // Incomplete: the state was saved, but may lack what could not be seen.
        Ok(if r.unknown.is_empty() { 0 } else { 1 })
    })
}
