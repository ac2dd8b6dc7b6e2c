//! The saved state of a stack: what archform believes exists in AWS, and
//! where that belief is stored.
//!
//! The state is the only record linking a blueprint's logical ids to physical
//! AWS resources, so losing or corrupting it means orphans or duplicates.
//! Every write is therefore atomic (the file is always the old or the new
//! version), versioned (a serial that only grows, so a writer holding a stale
//! copy is refused instead of silently undoing another deploy) and guarded by
//! a lock naming its holder.
//!
//! Two kinds of write keep a step's cost independent of the stack's size:
//! a step appends one change to the stack's [`journal`] (durable before the
//! AWS call it guards), and the end of a run writes the state whole
//! ([`StateBackend::save`]), which folds the journal in. Loading replays
//! the journal on top of the last whole state.

pub mod journal;
mod local;
mod lock;

pub use journal::Change;
pub use local::LocalBackend;
pub use lock::{Lock, LockInfo};

use archform_blueprint::kinds::Kind;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;

/// The state file format this build reads and writes. Bumped on any change
/// an older build would misread; older builds then refuse the file.
pub const FORMAT_VERSION: u32 = 1;

/// The saved state of one stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Incremented on every write, whole or journaled; a write whose loaded
    /// serial is older than the stored one is refused (lost-update
    /// protection).
    pub serial: u64,
    /// Random id fixed when the stack's state is first created: two files
    /// with different lineages describe different deployments even if they
    /// share a stack name, and must never overwrite each other.
    pub lineage: String,
    pub stack: String,
    pub blueprint: String,
    #[serde(default)]
    pub parameters: IndexMap<String, Value>,
    #[serde(default)]
    pub resources: IndexMap<String, ResourceState>,
    /// The blueprint's outputs as resolved by the last successful deploy.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, Value>,
}

impl State {
    /// An empty state for a stack never deployed before (serial 0, new lineage).
    pub fn new(stack: impl Into<String>, blueprint: impl Into<String>) -> Self {
        State {
            version: FORMAT_VERSION,
            serial: 0,
            lineage: archform_ids::uuid_v4(),
            stack: stack.into(),
            blueprint: blueprint.into(),
            parameters: IndexMap::new(),
            outputs: IndexMap::new(),
            resources: IndexMap::new(),
        }
    }

    pub fn resource(&self, id: &str) -> Option<&ResourceState> {
        self.resources.get(id)
    }
}

/// One resource as last applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: Kind,
    /// The id AWS assigned (vpc-..., an ARN, a queue URL). `None` while a
    /// create is in flight and its answer has not been recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// The deterministic name archform chose, for kinds that have one: with it
    /// a create that crashed before its id was saved can be found again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_name: Option<String>,
    /// The properties last applied, with every reference resolved.
    #[serde(default)]
    pub properties: Value,
    /// Exported attributes (`arn`, `id`, `url`, ...) other resources refer to.
    #[serde(default)]
    pub attributes: IndexMap<String, Value>,
    /// Logical ids this resource depended on when applied: a resource removed
    /// from the blueprint is deleted in reverse order of these.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub tags: IndexMap<String, String>,
    pub status: ResourceStatus,
}

/// Where a resource is in its lifecycle. The in-flight statuses are written
/// BEFORE the AWS call, so after a crash the next run knows the call may have
/// happened and looks the resource up (by name or tags) instead of guessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    /// A create was started; the resource may or may not exist.
    Creating,
    /// Created or updated successfully; `properties` are what AWS has.
    Created,
    /// An update was started; AWS may hold the old or the new properties.
    Updating,
    /// A delete was started; the resource may already be gone.
    Deleting,
}

impl ResourceStatus {
    /// True when a previous run was interrupted during this resource's call.
    pub fn in_flight(self) -> bool {
        !matches!(self, ResourceStatus::Created)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not valid JSON state: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "state file {path} has format version {found}; this archform reads version {FORMAT_VERSION}: upgrade archform"
    )]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error(
        "state of stack `{stack}` changed since it was loaded (on disk serial {on_disk}, loaded serial {loaded}): another run wrote it; run the command again"
    )]
    Conflict {
        stack: String,
        on_disk: u64,
        loaded: u64,
    },
    #[error(
        "state of stack `{stack}` on disk belongs to another deployment (lineage {on_disk}, ours {ours}); refusing to overwrite it"
    )]
    LineageMismatch {
        stack: String,
        on_disk: String,
        ours: String,
    },
    #[error("{}", lock::describe_locked(stack, holder.as_deref()))]
    Locked {
        stack: String,
        holder: Option<Box<LockInfo>>,
    },
    #[error("lock {given} is not the lock on stack `{stack}` (held as {actual})")]
    LockIdMismatch {
        stack: String,
        given: String,
        actual: String,
    },
    #[error("the lock passed is for stack `{lock}`, not `{state}`")]
    WrongLock { lock: String, state: String },
    /// A remote store (S3) failed or refused a call.
    #[error("{action} {location}: {message}")]
    Remote {
        action: &'static str,
        location: String,
        message: String,
    },
    #[error(
        "`{0}` is not a valid stack name for state: use letters, digits, `-` and `_` (at most 128)"
    )]
    InvalidStackName(String),
    #[error(
        "state journal {path} is damaged ({fault}); remove it to go back to the state as last written whole, then, if resources were created since, rebuild the state from the stack's tags with `archform state recover --stack {stack} --force`"
    )]
    Journal {
        stack: String,
        path: PathBuf,
        fault: journal::JournalFault,
    },
    #[error(
        "state journal {path} holds changes but the state {state} it applies to is missing; restore {state} (its previous version is {state}.backup), or remove the journal and rebuild the state with `archform state recover --stack {stack}`"
    )]
    JournalWithoutState {
        stack: String,
        path: PathBuf,
        state: String,
    },
}

/// Where states are stored. Async because remote backends (S3) are; every
/// method is per stack. `save` and `record` take the [`Lock`] so the type
/// system keeps callers from writing state they have not locked.
pub trait StateBackend: Send + Sync {
    /// The stack's state, or `None` if it was never deployed: the last
    /// whole state with its journal replayed on top.
    fn load(&self, stack: &str) -> impl Future<Output = Result<Option<State>, StateError>> + Send;

    /// Writes `state` whole and increments its serial on success; the
    /// journal is folded in and dropped (compaction). Refused if the stored
    /// serial (journal included) is newer than `state.serial` or its
    /// lineage differs. Costs in proportion to the state: once per run.
    fn save(
        &self,
        lock: &Lock,
        state: &mut State,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Appends `change` to the stack's journal, durably, then makes it in
    /// `state` and increments its serial. Refused like [`Self::save`], and
    /// then `state` is left as it was. The cost does not grow with the
    /// state, except for a run's first record, which checks the stored
    /// version (and writes a state never saved whole).
    fn record(
        &self,
        lock: &Lock,
        state: &mut State,
        change: Change,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Takes the stack's exclusive lock, or fails with
    /// [`StateError::Locked`] naming the holder.
    fn lock(
        &self,
        stack: &str,
        operation: &str,
    ) -> impl Future<Output = Result<Lock, StateError>> + Send;

    fn unlock(&self, lock: Lock) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Removes a lock left behind by a run that died (`archform state
    /// unlock`). `lock_id` must match the recorded lock, so a user cannot
    /// break a different, newer lock by mistake.
    fn force_unlock(
        &self,
        stack: &str,
        lock_id: &str,
    ) -> impl Future<Output = Result<(), StateError>> + Send;
}

/// Stack names become file (and S3 key) names: keep them to a safe alphabet
/// so `../x` or `a/b` can never escape the state directory.
pub fn check_stack_name(stack: &str) -> Result<(), StateError> {
    let ok = !stack.is_empty()
        && stack.len() <= 128
        && stack
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidStackName(stack.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let mut s = State::new("demo", "url-shortener");
        s.parameters.insert("env".into(), "dev".into());
        s.resources.insert(
            "queue".into(),
            ResourceState {
                kind: archform_blueprint::kinds::Kind::Queue,
                physical_id: Some("https://sqs/q".into()),
                physical_name: Some("demo-queue".into()),
                properties: serde_json::json!({"visibility_timeout": 30}),
                attributes: [("arn".to_string(), Value::from("arn:aws:sqs:::q"))]
                    .into_iter()
                    .collect(),
                dependencies: vec!["dlq".into()],
                tags: [("archform:stack".to_string(), "demo".to_string())]
                    .into_iter()
                    .collect(),
                status: ResourceStatus::Creating,
            },
        );
        let text = serde_json::to_string_pretty(&s).unwrap();
        assert!(text.contains("\"status\": \"creating\""));
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        assert!(back.resource("queue").unwrap().status.in_flight());
    }

    #[test]
    fn lineages_are_random_uuids() {
        let (a, b) = (State::new("demo", "x"), State::new("demo", "x"));
        assert_ne!(a.lineage, b.lineage);
        assert_eq!(a.lineage.len(), 36);
        assert_eq!(&a.lineage[14..15], "4", "{}", a.lineage);
    }

    #[test]
    fn stack_names_cannot_escape_the_directory() {
        assert!(check_stack_name("my-stack_1").is_ok());
        for bad in ["", "../x", "a/b", "a.b", "x\\y"] {
            assert!(check_stack_name(bad).is_err(), "{bad}");
        }
    }
}
