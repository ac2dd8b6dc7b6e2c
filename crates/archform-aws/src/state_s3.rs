//! State in S3 (`--state s3://bucket/prefix`), for teams and CI where a
//! local file would be lost or duplicated.
//!
//! Layout under `s3://bucket/prefix/`:
//! - `<stack>.json`: the state;
//! - `<stack>.json.backup`: the version before the last write;
//! - `<stack>.lock`: present while a run holds the stack; its body is the
//!   holder's [`LockInfo`] (id, who, pid, when, operation).
//!
//! Safety comes from S3's conditional writes, not from timing:
//! - the lock object is created with `If-None-Match: *`, so of two runs
//!   exactly one creates it and the other gets [`StateError::Locked`] naming
//!   the holder;
//! - every state write carries `If-Match: <ETag of the version this
//!   process loaded or last wrote>` (or `If-None-Match: *` for a stack's
//!   first write), so a writer holding a stale copy gets
//!   [`StateError::Conflict`] instead of silently undoing another run;
//! - unlock deletes the lock object only if it still records our lock id.
//!
//! Unlike the local backend's OS lock, an S3 lock survives a process that
//! dies: `archform state unlock --stack S --lock-id ID` removes it.

use archform_engine::state::{
    FORMAT_VERSION, Lock, LockInfo, State, StateBackend, StateError, check_stack_name,
};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use std::collections::HashMap;
use std::sync::Mutex;

/// The last version of a stack's state this process read or wrote.
#[derive(Clone, Debug)]
struct Known {
    serial: u64,
    lineage: String,
    etag: String,
    bytes: Vec<u8>,
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

    /// The current stored version, parsed only as far as its header.
    async fn fetch_known(&self, stack: &str) -> Result<Option<Known>, StateError> {
        let key = self.state_key(stack);
        let Some((bytes, etag)) = self.get(&key).await? else {
            return Ok(None);
        };
        let header = self.header(&key, &bytes)?;
        Ok(Some(Known {
            serial: header.serial,
            lineage: header.lineage,
            etag,
            bytes,
        }))
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
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&dir)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let m = match classify(&e) {
                    Failure::Other(m) => m,
                    _ => e.to_string(),
                };
                self.remote("listing", &dir, m)
            })?;
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

impl StateBackend for S3Backend {
    async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        check_stack_name(stack)?;
        let key = self.state_key(stack);
        let Some((bytes, etag)) = self.get(&key).await? else {
            self.remember(stack, None);
            return Ok(None);
        };
        let header = self.header(&key, &bytes)?;
        let state: State = serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path: self.location(&key).into(),
            source,
        })?;
        self.remember(
            stack,
            Some(Known {
                serial: header.serial,
                lineage: header.lineage,
                etag,
                bytes,
            }),
        );
        Ok(Some(state))
    }

    async fn save(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        check_stack_name(&state.stack)?;
        if lock.stack != state.stack {
            return Err(StateError::WrongLock {
                lock: lock.stack.clone(),
                state: state.stack.clone(),
            });
        }
        let stack = state.stack.clone();
        let key = self.state_key(&stack);
        // The version this copy was loaded from (or last written as): its
        // ETag guards the write. Unknown to this process: read it now.
        let base = match self.remembered(&stack) {
            Some(k) if k.serial == state.serial && k.lineage == state.lineage => Some(k),
            Some(k) if k.lineage == state.lineage && k.serial > state.serial => {
                return Err(StateError::Conflict {
                    stack,
                    on_disk: k.serial,
                    loaded: state.serial,
                });
            }
            _ => self.fetch_known(&stack).await?,
        };
        if let Some(b) = &base {
            if b.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    stack,
                    on_disk: b.lineage.clone(),
                    ours: state.lineage.clone(),
                });
            }
            if b.serial > state.serial {
                return Err(StateError::Conflict {
                    stack,
                    on_disk: b.serial,
                    loaded: state.serial,
                });
            }
        }
        let mut next = state.clone();
        next.serial += 1;
        next.version = FORMAT_VERSION;
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
                return Err(match classify(&e) {
                    // 412, or 404: the object was deleted since it was read.
                    Failure::Precondition | Failure::NotFound => StateError::Conflict {
                        on_disk: self
                            .fetch_known(&stack)
                            .await
                            .ok()
                            .flatten()
                            .map_or(0, |k| k.serial),
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
        self.remember(
            &stack,
            etag.map(|etag| Known {
                serial: next.serial,
                lineage: next.lineage.clone(),
                etag,
                bytes,
            }),
        );
        state.serial = next.serial;
        state.version = next.version;
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
