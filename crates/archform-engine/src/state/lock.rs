//! Who holds a stack's lock, so the second concurrent deploy can say whom it
//! is waiting for instead of just "locked".

use serde::{Deserialize, Serialize};

/// The record kept next to a held lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Unique per acquisition (a random UUID v4: lock records are shared
    /// across machines); `archform state unlock` must name it.
    pub id: String,
    /// `user@host`.
    pub who: String,
    pub pid: u32,
    /// UTC, RFC 3339.
    pub when: String,
    /// What the holder is doing: `deploy`, `destroy`, `state rm`, ...
    pub operation: String,
}

impl LockInfo {
    /// A record for the current process.
    pub fn current(operation: &str) -> Self {
        LockInfo {
            id: archform_ids::uuid_v4(),
            who: format!("{}@{}", user(), host()),
            pid: std::process::id(),
            when: rfc3339_now(),
            operation: operation.into(),
        }
    }
}

/// A held lock. Dropping it releases an OS-level lock too, so a panicking
/// run never leaves its stack locked; [`super::StateBackend::unlock`] also
/// clears the holder record.
#[derive(Debug)]
pub struct Lock {
    pub stack: String,
    pub info: LockInfo,
    /// The open lock file, for backends whose lock is an OS file lock; never
    /// read, held only so that dropping the `Lock` releases it.
    pub(crate) _os_lock: Option<std::fs::File>,
}

impl Lock {
    /// A lock held by a remote record (an S3 lock object) rather than an OS
    /// file lock: nothing is released on drop, so the backend's `unlock`
    /// must run, and a dead holder's record is cleared with `force_unlock`.
    pub fn remote(stack: impl Into<String>, info: LockInfo) -> Self {
        Lock {
            stack: stack.into(),
            info,
            _os_lock: None,
        }
    }
}

pub(crate) fn describe_locked(stack: &str, holder: Option<&LockInfo>) -> String {
    match holder {
        Some(h) => format!(
            "stack `{stack}` is locked by {} (pid {}) since {} for `{}` (lock id {}); wait for it to finish, or if that process is gone run `archform state unlock --stack {stack} --lock-id {}`",
            h.who, h.pid, h.when, h.operation, h.id, h.id
        ),
        None => format!(
            "stack `{stack}` is locked by another archform process (it has not recorded who yet); try again shortly"
        ),
    }
}

fn user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            ["/proc/sys/kernel/hostname", "/etc/hostname"]
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Current UTC time as RFC 3339.
pub(crate) fn rfc3339_now() -> String {
    archform_ids::utc::DateTime::from_epoch_ms(archform_ids::utc::now_ms()).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_say_when_in_rfc3339_and_ids_differ() {
        let (a, b) = (LockInfo::current("deploy"), LockInfo::current("deploy"));
        assert_ne!(a.id, b.id);
        assert_eq!(a.when.len(), "2026-01-01T00:00:00Z".len(), "{}", a.when);
        assert!(
            a.when.starts_with("20") && a.when.ends_with('Z'),
            "{}",
            a.when
        );
    }

    #[test]
    fn locked_message_names_the_holder() {
        let info = LockInfo {
            id: "abc".into(),
            who: "ann@box".into(),
            pid: 42,
            when: "2026-01-01T00:00:00Z".into(),
            operation: "deploy".into(),
        };
        let m = describe_locked("demo", Some(&info));
        assert!(m.contains("ann@box") && m.contains("pid 42") && m.contains("`deploy`"));
        assert!(m.contains("archform state unlock --stack demo --lock-id abc"));
    }
}
