//! The default backend: one JSON file per stack in a directory.
//!
//! Layout under the directory (default `.archform/state`):
//! - `<stack>.json`: the state as last written whole (atomically: a
//!   reader or a crash sees the old or the new version, never a mix);
//! - `<stack>.journal`: the changes made since, one JSON line each (see
//!   [`super::journal`]), appended and flushed to disk before the AWS call
//!   each guards. Loading replays it; the next whole write folds it in and
//!   removes it, so it exists while a run works on the stack or after one
//!   died;
//! - `<stack>.json.backup`: the previous whole version;
//! - `<stack>.lock`: an empty file held with an exclusive OS lock while a
//!   run works on the stack. The OS drops the lock when its process dies, so
//!   a crash never leaves a stale lock behind;
//! - `<stack>.lock.json`: who holds it. Kept apart from the locked file
//!   because on Windows a locked file cannot be read by anyone else.

use super::journal::{self, JournalFault, Record};
use super::lock::{Lock, LockInfo};
use super::{Change, FORMAT_VERSION, State, StateBackend, StateError, check_stack_name};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::{self, File, Metadata, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Debug)]
pub struct LocalBackend {
    dir: PathBuf,
    /// The journal each locked stack's run appends to, kept open between
    /// records so that a record costs one append and one flush, not a
    /// read of the state.
    journals: Arc<Mutex<HashMap<String, OpenJournal>>>,
}

/// A journal being appended to, and what was checked when it was opened.
#[derive(Debug)]
struct OpenJournal {
    lock_id: String,
    lineage: String,
    /// The serial the last record brought the state to.
    serial: u64,
    file: File,
    /// Its length and identity as this process left them: a journal that
    /// changed behind our back (removed by a whole write through another
    /// backend value, say) is checked again rather than appended to blind.
    len: u64,
    id: (u64, u64),
}

impl OpenJournal {
    fn fits(&self, lock: &Lock, state: &State, on_disk: Option<Metadata>) -> bool {
        self.lock_id == lock.info.id
            && self.lineage == state.lineage
            && self.serial == state.serial
            && on_disk.is_some_and(|m| m.len() == self.len && file_id(&m) == self.id)
    }
}

impl Default for LocalBackend {
    fn default() -> Self {
        LocalBackend::new(LocalBackend::DEFAULT_DIR)
    }
}

/// The fields checked before overwriting a state file; read without parsing
/// the resources, which may come from a newer format.
#[derive(Deserialize)]
struct Header {
    version: u32,
    serial: u64,
    lineage: String,
}

/// The stored version of a stack: its whole state file and its journal.
struct Stored {
    /// The state file, kept as the backup when it is replaced.
    bytes: Vec<u8>,
    lineage: String,
    /// The serial the journal brings the state to.
    tail: u64,
    /// Whether any journal record applies on top of the file.
    journaled: bool,
    /// Where the journal's last complete record ends.
    journal_valid_len: u64,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io {
        action,
        path,
        source,
    }
}

impl LocalBackend {
    pub const DEFAULT_DIR: &'static str = ".archform/state";

    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalBackend {
            dir: dir.into(),
            journals: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    pub fn journal_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.journal"))
    }

    pub fn backup_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json.backup"))
    }

    pub fn lock_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.lock"))
    }

    pub fn lock_info_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.lock.json"))
    }

    /// Stacks that have a state file, sorted.
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("reading", &self.dir)(e)),
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stack = name.strip_suffix(".json")?;
                check_stack_name(stack).ok()?;
                Some(stack.to_string())
            })
            .collect();
        out.sort();
        Ok(out)
    }

    pub fn load_sync(&self, stack: &str) -> Result<Option<State>, StateError> {
        check_stack_name(stack)?;
        let path = self.state_path(stack);
        // The journal is read before the state file: a run compacting in
        // between leaves us a newer file and records it already has, which
        // replay skips. The other order could pair an old file with a new
        // journal that does not chain from it.
        let journal = read_if_exists(&self.journal_path(stack))?;
        let Some(bytes) = read_if_exists(&path)? else {
            let (records, _) = self.parse_journal(stack, journal.as_deref())?;
            if records.is_empty() {
                return Ok(None);
            }
            return Err(StateError::JournalWithoutState {
                stack: stack.into(),
                path: self.journal_path(stack),
                state: path.display().to_string(),
            });
        };
        parse_header(&path, &bytes)?;
        let mut state: State =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path, source })?;
        let (records, _) = self.parse_journal(stack, journal.as_deref())?;
        journal::replay(&mut state, records).map_err(|f| self.journal_error(stack, f))?;
        Ok(Some(state))
    }

    /// Writes the state whole (the compaction of its journal): the
    /// previous file becomes the backup, the new one replaces it
    /// atomically, and the journal, whose records are all in it now, goes.
    pub fn save_sync(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        check_lock(lock, state)?;
        fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let stack = state.stack.clone();
        // The open journal is about to be folded in; the next record
        // checks the stored version again.
        self.journals().remove(&stack);
        let previous = self.stored(&stack)?;
        if let Some(on_disk) = &previous {
            check_version(state, &on_disk.lineage, on_disk.tail)?;
        }
        // Serialise a copy with the next serial so a failed write leaves the
        // caller's state (and its serial) as it was.
        let mut next = state.clone();
        next.serial += 1;
        next.version = FORMAT_VERSION;
        let mut bytes = serde_json::to_vec_pretty(&next).expect("state serialises");
        bytes.push(b'\n');
        if let Some(old) = &previous {
            write_atomic(&self.dir, &self.backup_path(&stack), &old.bytes)?;
        }
        let path = self.state_path(&stack);
        write_atomic(&self.dir, &path, &bytes)?;
        state.serial = next.serial;
        state.version = next.version;
        // Were this removal lost in a crash, the records left would all be
        // at or below the new serial, which replay skips.
        remove_if_exists(&self.journal_path(&stack))
    }

    /// Appends `change` to the stack's journal and flushes it to disk, then
    /// makes it in `state`. A run's first record checks the stored
    /// version (and writes a state never written whole, so that the
    /// journal always has a state to apply to); later ones only append.
    pub fn record_sync(
        &self,
        lock: &Lock,
        state: &mut State,
        change: Change,
    ) -> Result<(), StateError> {
        check_lock(lock, state)?;
        let stack = state.stack.clone();
        let path = self.journal_path(&stack);
        // Taken out of the map while in use, so the checks below can call
        // save_sync (which uses the map) without holding its lock.
        let open = self.journals().remove(&stack);
        let mut open = match open {
            Some(j) if j.fits(lock, state, fs::metadata(&path).ok()) => j,
            _ => self.open_journal(lock, state)?,
        };
        let record = Record {
            lineage: state.lineage.clone(),
            serial: state.serial + 1,
            entry: change.into(),
        };
        let line = record.to_line();
        // fdatasync also covers the file's new length: the record is on
        // disk, and findable, before the AWS call it guards is sent. On a
        // failure the journal is dropped, and the next record cuts off
        // whatever part of this line was written before appending.
        open.file
            .write_all(&line)
            .and_then(|()| open.file.sync_data())
            .map_err(io("appending to", &path))?;
        open.len += line.len() as u64;
        open.serial = record.serial;
        self.journals().insert(stack, open);
        state.serial = record.serial;
        journal::apply_entry(state, record.entry);
        Ok(())
    }

    /// Opens the stack's journal for a run's records after checking that
    /// `state` is the stored version (lost-update protection).
    fn open_journal(&self, lock: &Lock, state: &mut State) -> Result<OpenJournal, StateError> {
        fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let stored = self.stored(&state.stack)?;
        let keep = match &stored {
            Some(on_disk) => {
                check_version(state, &on_disk.lineage, on_disk.tail)?;
                // Records that only repeat what the file has are dropped.
                (on_disk.tail == state.serial && on_disk.journaled)
                    .then_some(on_disk.journal_valid_len)
            }
            None => None,
        };
        let whole_first = match &stored {
            None => true,
            // A copy newer than what is stored (an older file put back by
            // hand) is written whole, as `save` would, so the records that
            // follow chain from the file.
            Some(on_disk) => on_disk.tail < state.serial,
        };
        if whole_first {
            self.save_sync(lock, state)?;
        }
        let path = self.journal_path(&state.stack);
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("opening", &path))?;
        let len = keep.unwrap_or(0);
        let meta = file.metadata().map_err(io("reading", &path))?;
        if meta.len() != len {
            // A line torn by a crash (or records already folded in): cut
            // it off, or the next record would be glued to it.
            file.set_len(len).map_err(io("truncating", &path))?;
            file.sync_data().map_err(io("syncing", &path))?;
        }
        if !existed {
            // The new file's name must survive a crash as its records do.
            sync_dir(&self.dir)?;
        }
        Ok(OpenJournal {
            lock_id: lock.info.id.clone(),
            lineage: state.lineage.clone(),
            serial: state.serial,
            len,
            id: file_id(&meta),
            file,
        })
    }

    /// The stored state file and what its journal brings it to, or `None`
    /// without a state file.
    fn stored(&self, stack: &str) -> Result<Option<Stored>, StateError> {
        let path = self.state_path(stack);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let header = parse_header(&path, &bytes)?;
        let journal = read_if_exists(&self.journal_path(stack))?;
        let (records, valid_len) = self.parse_journal(stack, journal.as_deref())?;
        let tail = journal::tail(&header.lineage, header.serial, &records)
            .map_err(|f| self.journal_error(stack, f))?;
        Ok(Some(Stored {
            bytes,
            lineage: header.lineage,
            journaled: tail > header.serial,
            tail,
            journal_valid_len: valid_len as u64,
        }))
    }

    fn parse_journal(
        &self,
        stack: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(Vec<Record>, usize), StateError> {
        journal::parse_lines(bytes.unwrap_or_default()).map_err(|f| self.journal_error(stack, f))
    }

    fn journal_error(&self, stack: &str, fault: JournalFault) -> StateError {
        StateError::Journal {
            stack: stack.into(),
            path: self.journal_path(stack),
            fault,
        }
    }

    fn journals(&self) -> MutexGuard<'_, HashMap<String, OpenJournal>> {
        // A panic while holding it cannot leave a half-made entry: entries
        // are inserted whole.
        self.journals.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lock_sync(&self, stack: &str, operation: &str) -> Result<Lock, StateError> {
        check_stack_name(stack)?;
        fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let file = self.open_lock_file(stack)?;
        self.try_lock_file(&file, stack)?;
        let info = LockInfo::current(operation);
        let text = serde_json::to_vec_pretty(&info).expect("lock info serialises");
        write_atomic(&self.dir, &self.lock_info_path(stack), &text)?;
        Ok(Lock {
            stack: stack.into(),
            info,
            _os_lock: Some(file),
        })
    }

    /// Takes the OS lock without waiting; a held lock is reported with its holder.
    fn try_lock_file(&self, file: &fs::File, stack: &str) -> Result<(), StateError> {
        match file.try_lock() {
            Ok(()) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(StateError::Locked {
                stack: stack.into(),
                holder: self.holder(stack).map(Box::new),
            }),
            Err(TryLockError::Error(e)) => Err(io("locking", &self.lock_path(stack))(e)),
        }
    }

    pub fn unlock_sync(&self, lock: Lock) -> Result<(), StateError> {
        // Clear the holder record while still holding the OS lock, then let
        // the drop release it. The lock file itself stays: deleting a locked
        // file lets the next run lock a new inode while a third still waits
        // on the old one, and both would think they hold the lock.
        self.journals().remove(&lock.stack);
        let info = self.lock_info_path(&lock.stack);
        remove_if_exists(&info)?;
        drop(lock);
        Ok(())
    }

    /// Clears a holder record left by a run that died. A lock still held at
    /// the OS level belongs to a live process and is never broken.
    pub fn force_unlock_sync(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        check_stack_name(stack)?;
        let file = match OpenOptions::new().write(true).open(self.lock_path(stack)) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return remove_if_exists(&self.lock_info_path(stack));
            }
            Err(e) => return Err(io("opening", &self.lock_path(stack))(e)),
        };
        self.try_lock_file(&file, stack)?;
        if let Some(h) = self.holder(stack)
            && h.id != lock_id
        {
            return Err(StateError::LockIdMismatch {
                stack: stack.into(),
                given: lock_id.into(),
                actual: h.id,
            });
        }
        remove_if_exists(&self.lock_info_path(stack))
    }

    /// The recorded holder, if any (best effort: it is only for messages).
    pub fn holder(&self, stack: &str) -> Option<LockInfo> {
        let bytes = fs::read(self.lock_info_path(stack)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn open_lock_file(&self, stack: &str) -> Result<File, StateError> {
        let path = self.lock_path(stack);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("opening", &path))
    }
}

impl StateBackend for LocalBackend {
    // Local state files are small and these calls short, so they run inline
    // rather than on a blocking thread.
    async fn load(&self, stack: &str) -> Result<Option<State>, StateError> {
        self.load_sync(stack)
    }

    async fn save(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        self.save_sync(lock, state)
    }

    async fn record(
        &self,
        lock: &Lock,
        state: &mut State,
        change: Change,
    ) -> Result<(), StateError> {
        self.record_sync(lock, state, change)
    }

    async fn lock(&self, stack: &str, operation: &str) -> Result<Lock, StateError> {
        self.lock_sync(stack, operation)
    }

    async fn unlock(&self, lock: Lock) -> Result<(), StateError> {
        self.unlock_sync(lock)
    }

    async fn force_unlock(&self, stack: &str, lock_id: &str) -> Result<(), StateError> {
        self.force_unlock_sync(stack, lock_id)
    }
}

/// The lock must be the state's stack's.
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

/// A write of `state` over a stored version of `lineage` at `serial` (its
/// journal included) is refused if that version belongs to another
/// deployment or is newer than the copy being written.
fn check_version(state: &State, lineage: &str, serial: u64) -> Result<(), StateError> {
    if lineage != state.lineage {
        return Err(StateError::LineageMismatch {
            stack: state.stack.clone(),
            on_disk: lineage.into(),
            ours: state.lineage.clone(),
        });
    }
    if serial > state.serial {
        return Err(StateError::Conflict {
            stack: state.stack.clone(),
            on_disk: serial,
            loaded: state.serial,
        });
    }
    Ok(())
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header, StateError> {
    let header: Header = serde_json::from_slice(bytes).map_err(|source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    if header.version != FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: header.version,
        });
    }
    Ok(header)
}

/// What identifies a file across renames and replacements.
#[cfg(unix)]
fn file_id(m: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

// Elsewhere only the length tells a journal changed behind our back.
#[cfg(not(unix))]
fn file_id(_: &Metadata) -> (u64, u64) {
    (0, 0)
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path)(e)),
    }
}

fn remove_if_exists(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("removing", path)(e)),
    }
}

/// Replaces `path` so that readers and crashes only ever see the old or the
/// new content: write a temp file in the same directory (rename is atomic
/// only within one file system), flush it to disk, rename it over the
/// target, then flush the directory so the rename itself survives a crash.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("creating", &tmp))?;
        f.write_all(bytes).map_err(io("writing", &tmp))?;
        f.sync_all().map_err(io("syncing", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io("renaming into", path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

// Windows cannot open a directory as a file; its rename is durable once the
// call returns with the file flushed.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StateError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ResourceState, ResourceStatus};
    use std::sync::{Arc, Barrier};

    /// A fresh directory per test, removed on drop.
    pub(crate) struct TempDir(PathBuf);
    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "archform-engine-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn resource(n: usize) -> ResourceState {
        ResourceState {
            kind: archform_blueprint::kinds::Kind::Queue,
            physical_id: Some(format!("q-{n}")),
            physical_name: None,
            properties: serde_json::json!({ "pad": "x".repeat(n * 50) }),
            attributes: Default::default(),
            dependencies: vec![],
            tags: Default::default(),
            status: ResourceStatus::Created,
        }
    }

    #[test]
    fn save_load_backup_and_serials() {
        let t = TempDir::new("save");
        let b = LocalBackend::new(t.0.join("state"));
        assert!(b.load_sync("demo").unwrap().is_none());
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        b.save_sync(&lock, &mut s).unwrap();
        assert_eq!(s.serial, 1);
        assert!(!b.backup_path("demo").exists());
        s.resources.insert("q".into(), resource(1));
        b.save_sync(&lock, &mut s).unwrap();
        assert_eq!(s.serial, 2);
        let loaded = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(loaded, s);
        let backup: State =
            serde_json::from_slice(&fs::read(b.backup_path("demo")).unwrap()).unwrap();
        assert_eq!(backup.serial, 1);
        assert!(backup.resources.is_empty());
        assert_eq!(b.list().unwrap(), vec!["demo".to_string()]);
        b.unlock_sync(lock).unwrap();
        assert!(!b.lock_info_path("demo").exists());
    }

    #[test]
    fn stale_copies_are_refused() {
        let t = TempDir::new("conflict");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        b.save_sync(&lock, &mut s).unwrap();
        let mut a = b.load_sync("demo").unwrap().unwrap();
        let mut stale = b.load_sync("demo").unwrap().unwrap();
        b.save_sync(&lock, &mut a).unwrap();
        let err = b.save_sync(&lock, &mut stale).unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Conflict {
                    on_disk: 2,
                    loaded: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(stale.serial, 1, "a refused save leaves the serial alone");
        let mut other = State::new("demo", "chat");
        other.serial = 10;
        let err = b.save_sync(&lock, &mut other).unwrap_err();
        assert!(matches!(err, StateError::LineageMismatch { .. }), "{err}");
        let wrong = b.lock_sync("other", "deploy").unwrap();
        assert!(matches!(
            b.save_sync(&wrong, &mut a).unwrap_err(),
            StateError::WrongLock { .. }
        ));
    }

    #[test]
    fn newer_format_versions_are_refused() {
        let t = TempDir::new("version");
        let b = LocalBackend::new(&t.0);
        fs::write(
            b.state_path("demo"),
            r#"{"version": 99, "serial": 1, "lineage": "x", "future": true}"#,
        )
        .unwrap();
        assert!(matches!(
            b.load_sync("demo").unwrap_err(),
            StateError::UnsupportedVersion { found: 99, .. }
        ));
    }

    #[test]
    fn second_concurrent_locker_is_told_who_holds_it() {
        let t = TempDir::new("lock");
        let b = Arc::new(LocalBackend::new(&t.0));
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, barrier) = (b.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let r = b.lock_sync("demo", "deploy");
                    // Hold a winner's lock until both have tried.
                    barrier.wait();
                    r
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "exactly one run gets the lock");
        let winner = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        match loser {
            StateError::Locked { holder, .. } => {
                // The holder record may lag the OS lock by a write; when
                // present it must name the winner.
                if let Some(h) = holder {
                    assert_eq!(h.id, winner.info.id);
                }
            }
            other => panic!("unexpected {other}"),
        }
        // Once recorded, the message names who, pid and operation.
        let err = b.lock_sync("demo", "destroy").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(
            msg.contains("`deploy`") && msg.contains(&winner.info.id),
            "{msg}"
        );
        // A live lock is never broken by force.
        assert!(matches!(
            b.force_unlock_sync("demo", &winner.info.id).unwrap_err(),
            StateError::Locked { .. }
        ));
    }

    #[test]
    fn dropped_lock_is_released_and_stale_record_cleared() {
        let t = TempDir::new("stale");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let id = lock.info.id.clone();
        // A run that dies releases the OS lock but leaves its record.
        drop(lock);
        assert!(b.holder("demo").is_some());
        assert!(matches!(
            b.force_unlock_sync("demo", "not-the-id").unwrap_err(),
            StateError::LockIdMismatch { .. }
        ));
        b.force_unlock_sync("demo", &id).unwrap();
        assert!(b.holder("demo").is_none());
        let again = b.lock_sync("demo", "deploy").unwrap();
        b.unlock_sync(again).unwrap();
    }

    #[test]
    fn readers_only_ever_see_a_whole_version() {
        let t = TempDir::new("atomic");
        let b = Arc::new(LocalBackend::new(&t.0));
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        b.save_sync(&lock, &mut s).unwrap();
        let path = b.state_path("demo");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut reads, mut last) = (0, 0);
                while !stop.load(Ordering::Relaxed) {
                    let bytes = fs::read(&path).expect("the state file never disappears");
                    let s: State = serde_json::from_slice(&bytes).expect("never a torn file");
                    assert_eq!(s.resources.len() as u64, s.serial - 1);
                    assert!(s.serial >= last, "serials only grow");
                    last = s.serial;
                    reads += 1;
                }
                reads
            })
        };
        for i in 0..150 {
            s.resources.insert(format!("r{i}"), resource(i));
            b.save_sync(&lock, &mut s).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        // A crash between writing and renaming leaves only a temp file,
        // which loading ignores.
        fs::write(t.0.join(".demo.json.tmp-1-1"), b"{ half").unwrap();
        assert_eq!(b.load_sync("demo").unwrap().unwrap().serial, 151);
        assert_eq!(b.list().unwrap(), vec!["demo".to_string()]);
    }

    const CHILD_DIR: &str = "ARCHFORM_ENGINE_TEST_CHILD_DIR";

    /// Not a test on its own: the body of the child process that
    /// `killed_process_releases_its_lock_and_leaves_a_whole_state` starts
    /// (with `--ignored --exact`) and kills. It takes the lock, then writes
    /// as fast as it can until killed, as a run does: records (each adding
    /// one resource), and every 25th write a whole write (compaction) that
    /// also adds one, so a kill lands in either and every version has one
    /// resource per write. Ignored, so a plain run never counts it as a
    /// test; run by hand without its parent it fails, saying so.
    #[test]
    #[ignore = "helper, run by killed_process_releases_its_lock_and_leaves_a_whole_state"]
    fn child_saving_until_killed_helper() {
        let dir = std::env::var_os(CHILD_DIR).unwrap_or_else(|| {
            panic!(
                "a helper process: run killed_process_releases_its_lock_and_leaves_a_whole_state, which sets {CHILD_DIR}"
            )
        });
        let b = LocalBackend::new(dir);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = b.load_sync("demo").unwrap().unwrap();
        // libtest may print this on the line of the test name.
        println!("CHILD-HOLDS-LOCK");
        for i in 0.. {
            if i % 25 == 24 {
                s.resources.insert(format!("r{i}"), resource(i % 40));
                b.save_sync(&lock, &mut s).unwrap();
            } else {
                let change = Change::Put {
                    id: format!("r{i}"),
                    resource: Box::new(resource(i % 40)),
                };
                b.record_sync(&lock, &mut s, change).unwrap();
            }
        }
    }

    #[test]
    fn killed_process_releases_its_lock_and_leaves_a_whole_state() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let t = TempDir::new("kill");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        b.save_sync(&lock, &mut State::new("demo", "chat")).unwrap();
        b.unlock_sync(lock).unwrap();

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "state::local::tests::child_saving_until_killed_helper",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &t.0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.contains("CHILD-HOLDS-LOCK"))),
            "child never took the lock"
        );
        // Another process holding the lock is named in the error.
        match b.lock_sync("demo", "destroy") {
            Err(StateError::Locked {
                holder: Some(h), ..
            }) => assert_eq!(h.pid, child.id()),
            other => panic!("expected a lock error naming the child, got {other:?}"),
        }
        // Let it get past a few compactions; meanwhile every read, taken
        // while the child writes, is a whole version too.
        let started = std::time::Instant::now();
        loop {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let s = b.load_sync("demo").unwrap().unwrap();
            assert_eq!(s.resources.len() as u64, s.serial - 1, "a whole version");
            if s.serial > 60 || started.elapsed() > std::time::Duration::from_secs(20) {
                break;
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix: no destructor runs.
        child.wait().unwrap();

        let s = b
            .load_sync("demo")
            .unwrap()
            .expect("state survives the kill");
        assert_eq!(s.resources.len() as u64, s.serial - 1, "a whole version");
        assert!(
            s.serial > 26,
            "the child recorded and compacted: {}",
            s.serial
        );
        // The OS released the dead process's lock, and the next run goes on
        // from the replayed state: its records chain after the dead one's.
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut next = s.clone();
        let change = Change::Put {
            id: "after".into(),
            resource: Box::new(resource(1)),
        };
        b.record_sync(&lock, &mut next, change).unwrap();
        b.unlock_sync(lock).unwrap();
        let again = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(again.serial, s.serial + 1);
        assert_eq!(again, next);
    }

    /// Writes `n` records, each adding resource `r{i}`.
    fn record_n(b: &LocalBackend, lock: &Lock, s: &mut State, from: usize, n: usize) {
        for i in from..from + n {
            let change = Change::Put {
                id: format!("r{i}"),
                resource: Box::new(resource(i)),
            };
            b.record_sync(lock, s, change).unwrap();
        }
    }

    fn journal_lines(b: &LocalBackend) -> Vec<serde_json::Value> {
        fs::read_to_string(b.journal_path("demo"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn records_append_one_line_each_and_load_replays_them() {
        let t = TempDir::new("record");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        // A state never written is written whole before its first record.
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 3);
        assert_eq!(s.serial, 4);
        let file: State = serde_json::from_slice(&fs::read(b.state_path("demo")).unwrap()).unwrap();
        assert_eq!((file.serial, file.resources.len()), (1, 0));
        let lines = journal_lines(&b);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["op"], "put");
        assert_eq!(lines[0]["id"], "r0");
        assert_eq!(lines[2]["serial"], 4);
        assert_eq!(lines[2]["lineage"], s.lineage.as_str());
        // A record is one resource: its size does not depend on the stack.
        let sizes: Vec<usize> = fs::read_to_string(b.journal_path("demo"))
            .unwrap()
            .lines()
            .map(str::len)
            .collect();
        assert!(sizes[2] < sizes[0] + 200, "{sizes:?}");
        b.record_sync(&lock, &mut s, Change::Remove { id: "r1".into() })
            .unwrap();
        let loaded = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(loaded, s);
        let ids: Vec<&str> = loaded.resources.keys().map(String::as_str).collect();
        assert_eq!(ids, ["r0", "r2"]);
        // A refused record leaves the caller's copy as it was.
        let mut stale = file.clone();
        let err = b
            .record_sync(&lock, &mut stale, Change::Remove { id: "r0".into() })
            .unwrap_err();
        assert!(
            matches!(
                err,
                StateError::Conflict {
                    on_disk: 5,
                    loaded: 1,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(stale, file);
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), s);
    }

    #[test]
    fn compaction_folds_the_journal_into_the_file_and_removes_it() {
        let t = TempDir::new("compact");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        b.save_sync(&lock, &mut s).unwrap();
        record_n(&b, &lock, &mut s, 0, 4);
        b.save_sync(&lock, &mut s).unwrap();
        assert_eq!(s.serial, 6, "records and whole writes share one serial");
        assert!(!b.journal_path("demo").exists());
        let file: State = serde_json::from_slice(&fs::read(b.state_path("demo")).unwrap()).unwrap();
        assert_eq!(file, s);
        // The backup is the previous whole version, from before the records.
        let backup: State =
            serde_json::from_slice(&fs::read(b.backup_path("demo")).unwrap()).unwrap();
        assert_eq!((backup.serial, backup.resources.len()), (1, 0));
        // A run after the compaction journals on top of it.
        record_n(&b, &lock, &mut s, 4, 1);
        assert_eq!(journal_lines(&b).len(), 1);
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), s);
        // A stale copy cannot compact over newer records either.
        let mut stale = file;
        assert!(matches!(
            b.save_sync(&lock, &mut stale).unwrap_err(),
            StateError::Conflict {
                on_disk: 7,
                loaded: 6,
                ..
            }
        ));
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_cut_off_before_the_next_record() {
        let t = TempDir::new("torn");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 2);
        let whole = fs::read(b.journal_path("demo")).unwrap();
        // A crash in the middle of appending the third record.
        let mut third = s.clone();
        let mut extra = whole.clone();
        extra.extend_from_slice(b"{\"lineage\":\"");
        extra.extend_from_slice(s.lineage.as_bytes());
        extra.extend_from_slice(b"\",\"serial\":4,\"op\":\"put\",\"id\":\"r2\",\"reso");
        fs::write(b.journal_path("demo"), &extra).unwrap();
        b.unlock_sync(lock).unwrap(); // the dead run's open journal is gone
        let loaded = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(loaded, s, "the torn record is left out");
        // The next run cuts it off: its record is not glued to the fragment.
        let lock = b.lock_sync("demo", "deploy").unwrap();
        record_n(&b, &lock, &mut third, 7, 1);
        let lines = journal_lines(&b);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["id"], "r7");
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), third);
        // Damage before complete records is not a torn write: an error
        // that says what to do, never a silently shorter state.
        let mut damaged = whole[..10].to_vec();
        damaged.extend_from_slice(b"\n");
        damaged.extend_from_slice(&whole);
        fs::write(b.journal_path("demo"), damaged).unwrap();
        let err = b.load_sync("demo").unwrap_err();
        assert!(matches!(err, StateError::Journal { .. }), "{err}");
        assert!(err.to_string().contains("state recover"), "{err}");
    }

    #[test]
    fn replay_after_a_kill_between_marked_and_done() {
        use crate::state::ResourceStatus;
        let t = TempDir::new("marked");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 1);
        let mut creating = resource(5);
        creating.physical_id = None;
        creating.status = ResourceStatus::Creating;
        let change = Change::Put {
            id: "q".into(),
            resource: Box::new(creating),
        };
        b.record_sync(&lock, &mut s, change).unwrap();
        // Killed here, while the create is in flight: the OS lock goes, the
        // open journal with it.
        drop(lock);
        let b = LocalBackend::new(&t.0);
        let loaded = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(loaded.serial, 3);
        let q = &loaded.resources["q"];
        assert_eq!(
            q.status,
            ResourceStatus::Creating,
            "the next run looks it up"
        );
        assert_eq!(q.physical_id, None);
        // The next run finishes it and compacts.
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut next = loaded;
        let change = Change::Put {
            id: "q".into(),
            resource: Box::new(resource(5)),
        };
        b.record_sync(&lock, &mut next, change).unwrap();
        b.save_sync(&lock, &mut next).unwrap();
        let done = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(done.resources["q"].status, ResourceStatus::Created);
        assert_eq!(done.serial, 5);
        assert!(!b.journal_path("demo").exists());
    }

    #[test]
    fn records_left_by_a_compaction_cut_short_are_skipped() {
        let t = TempDir::new("stale-journal");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 3);
        let journal = fs::read(b.journal_path("demo")).unwrap();
        b.save_sync(&lock, &mut s).unwrap();
        // The compaction wrote the file, then died before removing the journal.
        fs::write(b.journal_path("demo"), &journal).unwrap();
        b.unlock_sync(lock).unwrap();
        let loaded = b.load_sync("demo").unwrap().unwrap();
        assert_eq!(loaded, s, "nothing applied twice");
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut next = loaded;
        record_n(&b, &lock, &mut next, 3, 1);
        assert_eq!(journal_lines(&b).len(), 1, "the stale records went");
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), next);
    }

    #[test]
    fn a_journal_without_its_state_file_is_an_error_saying_what_to_do() {
        let t = TempDir::new("orphan");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 1);
        fs::remove_file(b.state_path("demo")).unwrap();
        let err = b.load_sync("demo").unwrap_err();
        assert!(
            matches!(err, StateError::JournalWithoutState { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("demo.json.backup"), "{err}");
        // An empty journal is nothing to lose.
        let records = fs::read(b.journal_path("demo")).unwrap();
        fs::write(b.journal_path("demo"), b"").unwrap();
        assert!(b.load_sync("demo").unwrap().is_none());
        // A state written afresh (as `state recover` does) starts the
        // stack over and clears what the lost one left.
        fs::write(b.journal_path("demo"), records).unwrap();
        let mut fresh = State::new("demo", "chat");
        b.save_sync(&lock, &mut fresh).unwrap();
        assert!(!b.journal_path("demo").exists());
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), fresh);
    }

    #[test]
    fn a_journal_changed_behind_an_open_one_is_checked_again() {
        let t = TempDir::new("behind");
        let b = LocalBackend::new(&t.0);
        let other = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = State::new("demo", "chat");
        record_n(&b, &lock, &mut s, 0, 2);
        // Another backend value (same process, same lock) compacts.
        let mut theirs = s.clone();
        other.save_sync(&lock, &mut theirs).unwrap();
        // Our copy is now older than the stored one: refused, not appended
        // to a removed file.
        let err = b
            .record_sync(&lock, &mut s, Change::Remove { id: "r0".into() })
            .unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{err}");
        assert_eq!(b.load_sync("demo").unwrap().unwrap(), theirs);
    }

    #[tokio::test]
    async fn works_through_the_backend_trait() {
        async fn deploy(b: &impl StateBackend) -> Result<u64, StateError> {
            let lock = b.lock("demo", "deploy").await?;
            let mut s = match b.load("demo").await? {
                Some(s) => s,
                None => State::new("demo", "chat"),
            };
            let change = Change::Put {
                id: format!("r{}", s.serial),
                resource: Box::new(resource(1)),
            };
            b.record(&lock, &mut s, change).await?;
            b.save(&lock, &mut s).await?;
            b.unlock(lock).await?;
            Ok(s.serial)
        }
        let t = TempDir::new("trait");
        let b = LocalBackend::new(&t.0);
        // First: a whole write of the new state, a record, the compaction.
        assert_eq!(deploy(&b).await.unwrap(), 3);
        assert_eq!(deploy(&b).await.unwrap(), 5);
        assert_eq!(b.load("demo").await.unwrap().unwrap().resources.len(), 2);
    }
}
