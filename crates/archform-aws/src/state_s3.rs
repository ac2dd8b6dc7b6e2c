//! State in S3 (`--state s3://bucket/prefix`), for teams and CI where a
//! local file would be lost or duplicated.
//!
//! Layout under `s3://bucket/prefix/`:
//! - `<stack>.json`: the state as last written whole;
//! - `<stack>.journal/<serial>.json`: one small object per change made
//!   since (a [`journal::Record`]: one resource marked creating, updating
//!   or deleting before its AWS call, created or updated after it, or
//!   removed), named by the serial it brings the state to, zero-padded to
//!   20 digits so that listing order is serial order. Loading lists them and
//!   replays those above the whole state's serial; the end of a run writes
//!   the state whole again and deletes them. A step thus costs one small
//!   PUT (and a HEAD), whatever the size of the stack;
//! - `<stack>.json.backup`: the previous whole version;
//! - `<stack>.lock`: present while a run holds the stack; its body is the
//!   holder's [`LockInfo`] (id, who, pid, when, operation).
//!
//! Safety comes from S3's conditional writes, not from timing:
//! - the lock object is created with `If-None-Match: *`, so of two runs
//!   exactly one creates it and the other gets [`StateError::Locked`] naming
//!   the holder;
//! - every journal object is created with `If-None-Match: *`: a serial is
//!   taken once, so of two writers holding the same version exactly one
//!   records and the other gets [`StateError::Conflict`]. Before it, a
//!   `HEAD` with `If-Match` checks that the whole state is still the one the
//!   writer's copy chains from;
//! - a whole write first takes the next serial the same way, with a claim
//!   (a journal object that changes nothing), so that records and whole
//!   writes compete for one name; then it writes the state with `If-Match:
//!   <ETag of the version this process loaded or last wrote>` (or
//!   `If-None-Match: *` for a stack's first write), so a writer holding a
//!   stale copy gets a conflict instead of silently undoing another run.
//!   The claim stays until the next whole write, as a fence: a writer still
//!   on the version before finds its serial taken;
//! - unlock deletes the lock object only if it still records our lock id.
//!
//! Unlike the local backend's OS lock, an S3 lock survives a process that
//! dies: `archform state unlock --stack S --lock-id ID` removes it.

use archform_engine::state::journal::{self, Entry, JournalFault, Record};
use archform_engine::state::{
    Change, FORMAT_VERSION, Lock, LockInfo, State, StateBackend, StateError, check_stack_name,
};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use std::collections::HashMap;
use std::sync::Mutex;

/// The last version of a stack's state this process read or wrote.
#[derive(Clone, Debug)]
struct Known {
    /// The whole state object's lineage, ETag and bytes (kept as the
    /// backup when it is replaced).
    lineage: String,
    etag: String,
    bytes: Vec<u8>,
    /// The serial its journal brings it to.
    tail: u64,
}

#[derive(Debug)]
pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Without leading or trailing `/`; may be empty.
    prefix: String,
    known: Mutex<HashMap<String, Known>>,
}

/// Splits `s3://bucket/some/prefix` into `("bucket", "some/prefix")`.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// What an S3 call's failure means for state.
enum Failure {
    /// 412, or 409 (another conditional write to the key was in flight).
    Precondition,
    NotFound,
    Other(String),
}

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> Failure {
    // S3 leaves the code empty on some 404s and 412s: the status decides.
    let status = e.raw_response().map(|r| r.status().as_u16());
    match (e.code(), status) {
        (Some("PreconditionFailed" | "ConditionalRequestConflict"), _) | (_, Some(412 | 409)) => {
            Failure::Precondition
        }
        (Some("NoSuchKey" | "NotFound"), _) | (_, Some(404)) => Failure::NotFound,
        _ => Failure::Other(format!(
            "{}: {}",
            e.code().unwrap_or("error"),
            e.message()
                .map(str::to_string)
                .unwrap_or_else(|| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
        )),
    }
}

impl S3Backend {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str) -> Self {
        S3Backend {
            client,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').to_string(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// A backend for `s3://bucket/prefix`; `None` if `url` is not one.
    pub fn from_url(client: aws_sdk_s3::Client, url: &str) -> Option<Self> {
        let (bucket, prefix) = parse_s3_url(url)?;
        Some(S3Backend::new(client, bucket, &prefix))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    pub fn state_key(&self, stack: &str) -> String {
        self.key(&format!("{stack}.json"))
    }

    pub fn backup_key(&self, stack: &str) -> String {
        self.key(&format!("{stack}.json.backup"))
    }

    pub fn lock_key(&self, stack: &str) -> String {
        self.key(&format!("{stack}.lock"))
    }

    /// The "folder" of the stack's journal objects, `/` included.
    pub fn journal_prefix(&self, stack: &str) -> String {
        self.key(&format!("{stack}.journal/"))
    }

    /// The journal object of the record that brings the state to `serial`.
    pub fn journal_key(&self, stack: &str, serial: u64) -> String {
        format!("{}{serial:020}.json", self.journal_prefix(stack))
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn remote(&self, action: &'static str, key: &str, message: String) -> StateError {
        StateError::Remote {
            action,
            location: self.location(key),
            message,
        }
    }

    fn journal_error(&self, stack: &str, fault: JournalFault) -> StateError {
        StateError::Journal {
            stack: stack.into(),
            path: self.location(&self.journal_prefix(stack)).into(),
            fault,
        }
    }

    /// An object's bytes and ETag, or `None` if it does not exist.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        let resp = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return match classify(&e) {
                    Failure::NotFound => Ok(None),
                    Failure::Precondition => Err(self.remote("reading", key, e.to_string())),
                    Failure::Other(m) => Err(self.remote("reading", key, m)),
                };
            }
        };
        let etag = resp.e_tag().unwrap_or_default().to_string();
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| self.remote("reading", key, e.to_string()))?
            .into_bytes()
            .to_vec();
        Ok(Some((bytes, etag)))
    }

    /// The stack's journal objects as (serial, key), in serial order.
    async fn list_journal(&self, stack: &str) -> Result<Vec<(u64, String)>, StateError> {
        let dir = self.journal_prefix(stack);
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&dir)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.listing_error(&dir, &e))?;
            for o in page.contents() {
                let serial = o
                    .key()
                    .and_then(|k| k.strip_prefix(&dir))
                    .and_then(|k| k.strip_suffix(".json"))
                    .and_then(|n| n.parse::<u64>().ok());
                if let (Some(serial), Some(key)) = (serial, o.key()) {
                    out.push((serial, key.to_string()));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn listing_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        dir: &str,
        e: &SdkError<E, HttpResponse>,
    ) -> StateError {
        let m = match classify(e) {
            Failure::Other(m) => m,
            _ => e.to_string(),
        };
        self.remote("listing", dir, m)
    }

    /// The records of `listed` above `serial`, in order. `None` if one
    /// listed disappeared before it was read: a whole write folded it in
    /// meanwhile, and the caller reads again.
    async fn records_after(
        &self,
        stack: &str,
        listed: &[(u64, String)],
        serial: u64,
    ) -> Result<Option<Vec<Record>>, StateError> {
        let mut records = Vec::new();
        for (n, key) in listed {
            if *n <= serial {
                continue; // folded into the whole state already
            }
            let Some((bytes, _)) = self.get(key).await? else {
                return Ok(None);
            };
            let unreadable = |reason: String| {
                self.journal_error(
                    stack,
                    JournalFault::Unreadable {
                        index: records.len() + 1,
                        reason: format!("{}: {reason}", self.location(key)),
                    },
                )
            };
            let record: Record =
                serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?;
            if record.serial != *n {
                return Err(unreadable(format!(
                    "holds the record of serial {}",
                    record.serial
                )));
            }
            records.push(record);
        }
        Ok(Some(records))
    }

    /// The stored state (its journal replayed) and what this process now
    /// knows of it, or `None` if the stack has no state object.
    async fn fetch(&self, stack: &str) -> Result<Option<(State, Known)>, StateError> {
        let key = self.state_key(stack);
        // The journal is listed before the state is read: a whole write in
        // between leaves us a newer state and records it already has, which
        // replay skips (the other order could pair an old state with records
        // that do not chain from it). Records listed but deleted before
        // they are read mean the same race: reading again sees the new
        // whole state.
        for _ in 0..3 {
            let listed = self.list_journal(stack).await?;
            let Some((bytes, etag)) = self.get(&key).await? else {
                return Ok(None);
            };
            let header = self.header(&key, &bytes)?;
            let mut state: State =
                serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                    path: self.location(&key).into(),
                    source,
                })?;
            let Some(records) = self.records_after(stack, &listed, header.serial).await? else {
                continue;
            };
            journal::replay(&mut state, records).map_err(|f| self.journal_error(stack, f))?;
            let known = Known {
                lineage: header.lineage,
                etag,
                bytes,
                tail: state.serial,
            };
            return Ok(Some((state, known)));
        }
        Err(self.remote(
            "reading",
            &self.journal_prefix(stack),
            "the journal kept changing while it was read: another run is writing this stack".into(),
        ))
    }

    fn header(&self, key: &str, bytes: &[u8]) -> Result<Header, StateError> {
        let header: Header = serde_json::from_slice(bytes).map_err(|source| StateError::Parse {
            path: self.location(key).into(),
            source,
        })?;
        if header.version != FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                path: self.location(key).into(),
                found: header.version,
            });
        }
        Ok(header)
    }

    fn remember(&self, stack: &str, known: Option<Known>) {
        let mut map = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match known {
            Some(k) => {
                map.insert(stack.to_string(), k);
            }
            None => {
                map.remove(stack);
            }
        }
    }

    fn remembered(&self, stack: &str) -> Option<Known> {
        let map = self.known.lock().unwrap_or_else(|p| p.into_inner());
        map.get(stack).cloned()
    }

    /// The serial stored now (journal included), for a conflict's message;
    /// best effort.
    async fn stored_serial(&self, stack: &str) -> u64 {
        self.fetch(stack)
            .await
            .ok()
            .flatten()
            .map_or(0, |(_, k)| k.tail)
    }

    /// Creates `key` only if it does not exist: false if it does.
    async fn create_new(&self, key: &str, body: Vec<u8>) -> Result<bool, StateError> {
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) => match classify(&e) {
                Failure::Precondition => Ok(false),
                Failure::NotFound => Err(self.remote(
                    "writing",
                    key,
                    format!("bucket `{}` does not exist", self.bucket),
                )),
                Failure::Other(m) => Err(self.remote("writing", key, m)),
            },
        }
    }

    /// Deletes the stack's journal objects with a serial up to `up_to`
    /// (all, with `None`). Best effort: objects left behind are at or below
    /// the whole state's serial, which loading skips, and the next whole
    /// write tries again.
    async fn delete_journal(&self, stack: &str, up_to: Option<u64>) {
        let Ok(listed) = self.list_journal(stack).await else {
            return;
        };
        let keys: Vec<ObjectIdentifier> = listed
            .into_iter()
            .filter(|(n, _)| up_to.is_none_or(|u| *n <= u))
            .filter_map(|(_, key)| ObjectIdentifier::builder().key(key).build().ok())
            .collect();
        for batch in keys.chunks(1000) {
            let Ok(delete) = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
            else {
                return;
            };
            let _ = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await;
        }
    }

    /// What the stored version is, for a write of `state`: the remembered
    /// one when `state` is it, else read now. Refused if the stored version
    /// belongs to another deployment or is newer than `state`.
    async fn base_for(&self, state: &State) -> Result<Option<Known>, StateError> {
        let stack = &state.stack;
        let base = match self.remembered(stack) {
            Some(k) if k.tail == state.serial && k.lineage == state.lineage => Some(k),
            _ => self.fetch(stack).await?.map(|(_, k)| k),
        };
        if let Some(b) = &base {
            if b.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    stack: stack.clone(),
                    on_disk: b.lineage.clone(),
                    ours: state.lineage.clone(),
                });
            }
            if b.tail > state.serial {
                return Err(StateError::Conflict {
                    stack: stack.clone(),
                    on_disk: b.tail,
                    loaded: state.serial,
                });
            }
        }
        Ok(base)
    }

    /// The recorded lock holder and the lock object's ETag, if locked.
    pub async fn holder(&self, stack: &str) -> Result<Option<(LockInfo, String)>, StateError> {
        let key = self.lock_key(stack);
        let Some((bytes, etag)) = self.get(&key).await? else {
            return Ok(None);
        };
        let info: LockInfo =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                path: self.location(&key).into(),
                source,
            })?;
        Ok(Some((info, etag)))
    }

    /// Stacks that have a state object under the prefix, sorted.
    pub async fn list(&self) -> Result<Vec<String>, StateError> {
        let dir = self.key("");
        let mut out = Vec::new();
        // The delimiter keeps journal objects (under `<stack>.journal/`)
        // out of the listing.
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&dir)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.listing_error(&dir, &e))?;
            for o in page.contents() {
                let Some(stack) = o
                    .key()
                    .and_then(|k| k.strip_prefix(&dir))
                    .and_then(|k| k.strip_suffix(".json"))
                else {
                    continue;
                };
                if check_stack_name(stack).is_ok() {
                    out.push(stack.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes the lock object if it still holds `lock_id`; the delete is
    /// itself conditional on the ETag read, so a lock taken in between is
    /// never removed.
    async fn delete_lock_if(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        let key = self.lock_key(stack);
        let Some((info, etag)) = self.holder(stack).await? else {
            return Ok(());
        };
        if info.id != lock_id {
            return Err(StateError::LockIdMismatch {
                stack: stack.into(),
                given: lock_id.into(),
                actual: info.id,
            });
        }
        let conditional = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_match(&etag)
            .send()
            .await;
        let Err(e) = conditional else {
            return Ok(());
        };
        match classify(&e) {
            Failure::NotFound => Ok(()),
            Failure::Precondition => Err(StateError::Locked {
                stack: stack.into(),
                holder: self.holder(stack).await?.map(|(h, _)| Box::new(h)),
            }),
            // Stores without conditional deletes: the id was checked above.
            Failure::Other(_) if e.code() == Some("NotImplemented") => self
                .client
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.remote("deleting", &key, e.to_string())),
            Failure::Other(m) => Err(self.remote("deleting", &key, m)),
        }
    }
}

/// The fields checked before overwriting a state object.
#[derive(serde::Deserialize)]
struct Header {
    version: u32,
    serial: u64,
    lineage: String,
}

fn check_lock(lock: &Lock, state: &State) -> Result<(), StateError> {
    check_stack_name(&state.stack)?;
    if lock.stack != state.stack {
        return Err(StateError::WrongLock {
            lock: lock.stack.clone(),
            state: state.stack.clone(),
        });
    }
    Ok(())
}

impl StateBackend for S3Backend {
    async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        check_stack_name(stack)?;
        match self.fetch(stack).await? {
            Some((state, known)) => {
                self.remember(stack, Some(known));
                Ok(Some(state))
            }
            None => {
                self.remember(stack, None);
                // Changes without the state they apply to: saying "never
                // deployed" would lose them. (A whole write, as `state
                // recover` makes, starts the stack afresh and clears them.)
                if !self.list_journal(stack).await?.is_empty() {
                    return Err(StateError::JournalWithoutState {
                        stack: stack.into(),
                        path: self.location(&self.journal_prefix(stack)).into(),
                        state: self.location(&self.state_key(stack)),
                    });
                }
                Ok(None)
            }
        }
    }

    async fn save(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        check_lock(lock, state)?;
        let stack = state.stack.clone();
        let key = self.state_key(&stack);
        let base = self.base_for(state).await?;
        let mut next = state.clone();
        next.serial += 1;
        next.version = FORMAT_VERSION;
        // Take the serial first (see the module comment): a record made on
        // the same version, or another whole write, has it or gets refused.
        let claim = self.journal_key(&stack, next.serial);
        if base.is_some() {
            let record = Record {
                lineage: state.lineage.clone(),
                serial: next.serial,
                entry: Entry::Claim,
            };
            if !self.create_new(&claim, record.to_line()).await? {
                self.remember(&stack, None);
                return Err(StateError::Conflict {
                    on_disk: self.stored_serial(&stack).await,
                    stack,
                    loaded: state.serial,
                });
            }
        }
        let mut bytes = serde_json::to_vec_pretty(&next).expect("state serialises");
        bytes.push(b'\n');
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(bytes.clone()));
        let put = match &base {
            Some(b) => put.if_match(&b.etag),
            None => put.if_none_match("*"),
        };
        let etag = match put.send().await {
            Ok(r) => r.e_tag().map(str::to_string),
            Err(e) => {
                self.remember(&stack, None);
                if base.is_some() {
                    // Our claim guards nothing now; a claim changes nothing
                    // on replay, so one left behind is harmless too.
                    let _ = self
                        .client
                        .delete_object()
                        .bucket(&self.bucket)
                        .key(&claim)
                        .send()
                        .await;
                }
                return Err(match classify(&e) {
                    // 412, or 404: the object was deleted since it was read.
                    Failure::Precondition | Failure::NotFound => StateError::Conflict {
                        on_disk: self.stored_serial(&stack).await,
                        stack,
                        loaded: state.serial,
                    },
                    Failure::Other(m) => self.remote("writing", &key, m),
                });
            }
        };
        // The backup is written after the guarded write succeeded, so a
        // refused writer never replaces it with a stale version.
        if let Some(b) = &base {
            let backup = self.backup_key(&stack);
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&backup)
                .content_type("application/json")
                .body(ByteStream::from(b.bytes.clone()))
                .send()
                .await
                .map_err(|e| self.remote("writing", &backup, e.to_string()))?;
        }
        // The records are in the whole state now. Our claim stays as the
        // fence; a stack's first write clears any objects a lost state
        // left behind.
        self.delete_journal(&stack, base.is_some().then(|| next.serial - 1))
            .await;
        self.remember(
            &stack,
            etag.map(|etag| Known {
                lineage: next.lineage.clone(),
                etag,
                bytes,
                tail: next.serial,
            }),
        );
        state.serial = next.serial;
        state.version = next.version;
        Ok(())
    }

    async fn record(
        &self,
        lock: &Lock,
        state: &mut State,
        change: Change,
    ) -> Result<(), StateError> {
        check_lock(lock, state)?;
        let stack = state.stack.clone();
        let remembered = self
            .remembered(&stack)
            .filter(|k| k.tail == state.serial && k.lineage == state.lineage);
        let base = match remembered {
            Some(k) => {
                // The whole state must still be the one this copy chains
                // from: a whole write by another run since is refused here,
                // before the AWS call this record guards.
                let head = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(self.state_key(&stack))
                    .if_match(&k.etag)
                    .send()
                    .await;
                if let Err(e) = head {
                    self.remember(&stack, None);
                    return Err(match classify(&e) {
                        Failure::Precondition | Failure::NotFound => StateError::Conflict {
                            on_disk: self.stored_serial(&stack).await,
                            stack,
                            loaded: state.serial,
                        },
                        Failure::Other(m) => self.remote("reading", &self.state_key(&stack), m),
                    });
                }
                Some(k)
            }
            None => self.base_for(state).await?,
        };
        let base = match base {
            Some(b) if b.tail == state.serial => b,
            // A state never written whole, or a copy newer than the stored
            // one (an older version put back by hand): written whole first,
            // as `save` would, so that the journal has a state to apply to.
            _ => {
                self.save(lock, state).await?;
                self.remembered(&stack).ok_or_else(|| {
                    self.remote(
                        "writing",
                        &self.state_key(&stack),
                        "the write returned no ETag".into(),
                    )
                })?
            }
        };
        let record = Record {
            lineage: state.lineage.clone(),
            serial: state.serial + 1,
            entry: change.into(),
        };
        let key = self.journal_key(&stack, record.serial);
        if !self.create_new(&key, record.to_line()).await? {
            self.remember(&stack, None);
            return Err(StateError::Conflict {
                on_disk: self.stored_serial(&stack).await,
                stack,
                loaded: state.serial,
            });
        }
        self.remember(
            &stack,
            Some(Known {
                tail: record.serial,
                ..base
            }),
        );
        state.serial = record.serial;
        journal::apply_entry(state, record.entry);
        Ok(())
    }

    async fn lock(&self, stack: &str, operation: &str) -> Result<Lock, StateError> {
        check_stack_name(stack)?;
        let key = self.lock_key(stack);
        let info = LockInfo::current(operation);
        let body = serde_json::to_vec_pretty(&info).expect("lock info serialises");
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Lock::remote(stack, info)),
            Err(e) => match classify(&e) {
                Failure::Precondition => Err(StateError::Locked {
                    stack: stack.into(),
                    // Best effort: the holder may have just released it.
                    holder: self
                        .holder(stack)
                        .await
                        .ok()
                        .flatten()
                        .map(|(h, _)| Box::new(h)),
                }),
                Failure::NotFound => Err(self.remote(
                    "locking",
                    &key,
                    format!("bucket `{}` does not exist", self.bucket),
                )),
                Failure::Other(m) => Err(self.remote("locking", &key, m)),
            },
        }
    }

    async fn unlock(&self, lock: Lock) -> Result<(), StateError> {
        self.delete_lock_if(&lock.stack, &lock.info.id).await
    }

    async fn force_unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        check_stack_name(stack)?;
        self.delete_lock_if(stack, lock_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_urls() {
        assert_eq!(
            parse_s3_url("s3://b/p/q/"),
            Some(("b".into(), "p/q".into()))
        );
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_s3_url("s3:///x"), None);
        assert_eq!(parse_s3_url(".archform/state"), None);
    }
}
