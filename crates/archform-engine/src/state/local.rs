//! The default backend: one JSON file per stack in a directory.
//!
//! Layout under the directory (default `.archform/state`):
//! - `<stack>.json`: the state;
//! - `<stack>.json.backup`: the version before the last write;
//! - `<stack>.lock`: an empty file held with an exclusive OS lock while a
//!   run works on the stack. The OS drops the lock when its process dies, so
//!   a crash never leaves a stale lock behind;
//! - `<stack>.lock.json`: who holds it. Kept apart from the locked file
//!   because on Windows a locked file cannot be read by anyone else.

use super::lock::{Lock, LockInfo};
use super::{FORMAT_VERSION, State, StateBackend, StateError, check_stack_name};
use serde::Deserialize;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug)]
pub struct LocalBackend {
    dir: PathBuf,
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
        LocalBackend { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
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
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let header: Header =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
                path: path.clone(),
                source,
            })?;
        if header.version != FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                path,
                found: header.version,
            });
        }
        let state =
            serde_json::from_slice(&bytes).map_err(|source| StateError::Parse { path, source })?;
        Ok(Some(state))
    }

    pub fn save_sync(&self, lock: &Lock, state: &mut State) -> Result<(), StateError> {
        check_stack_name(&state.stack)?;
        if lock.stack != state.stack {
            return Err(StateError::WrongLock {
                lock: lock.stack.clone(),
                state: state.stack.clone(),
            });
        }
        fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let path = self.state_path(&state.stack);
        let previous = read_if_exists(&path)?;
        if let Some(bytes) = &previous {
            let on_disk: Header =
                serde_json::from_slice(bytes).map_err(|source| StateError::Parse {
                    path: path.clone(),
                    source,
                })?;
            if on_disk.lineage != state.lineage {
                return Err(StateError::LineageMismatch {
                    stack: state.stack.clone(),
                    on_disk: on_disk.lineage,
                    ours: state.lineage.clone(),
                });
            }
            if on_disk.serial > state.serial {
                return Err(StateError::Conflict {
                    stack: state.stack.clone(),
                    on_disk: on_disk.serial,
                    loaded: state.serial,
                });
            }
        }
        // Serialise a copy with the next serial so a failed write leaves the
        // caller's state (and its serial) as it was.
        let mut next = state.clone();
        next.serial += 1;
        next.version = FORMAT_VERSION;
        let mut bytes = serde_json::to_vec_pretty(&next).expect("state serialises");
        bytes.push(b'\n');
        if let Some(old) = &previous {
            write_atomic(&self.dir, &self.backup_path(&state.stack), old)?;
        }
        write_atomic(&self.dir, &path, &bytes)?;
        state.serial = next.serial;
        state.version = next.version;
        Ok(())
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
    /// `killed_process_releases_its_lock_and_leaves_a_whole_file` starts and
    /// kills. It takes the lock, then saves as fast as it can until killed.
    #[test]
    fn child_saving_until_killed() {
        let Some(dir) = std::env::var_os(CHILD_DIR) else {
            return;
        };
        let b = LocalBackend::new(dir);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        let mut s = b.load_sync("demo").unwrap().unwrap();
        // libtest may print this on the line of the test name.
        println!("CHILD-HOLDS-LOCK");
        for i in 0.. {
            s.resources.insert(format!("r{i}"), resource(i % 40));
            b.save_sync(&lock, &mut s).unwrap();
        }
    }

    #[test]
    fn killed_process_releases_its_lock_and_leaves_a_whole_file() {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let t = TempDir::new("kill");
        let b = LocalBackend::new(&t.0);
        let lock = b.lock_sync("demo", "deploy").unwrap();
        b.save_sync(&lock, &mut State::new("demo", "chat")).unwrap();
        b.unlock_sync(lock).unwrap();

        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "state::local::tests::child_saving_until_killed"])
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
        std::thread::sleep(std::time::Duration::from_millis(150));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor runs.
        child.wait().unwrap();

        let s = b
            .load_sync("demo")
            .unwrap()
            .expect("state survives the kill");
        assert_eq!(s.resources.len() as u64, s.serial - 1, "a whole version");
        assert!(s.serial > 1, "the child wrote before it was killed");
        // The OS released the dead process's lock.
        let lock = b.lock_sync("demo", "deploy").unwrap();
        b.unlock_sync(lock).unwrap();
    }

    #[tokio::test]
    async fn works_through_the_backend_trait() {
        async fn deploy(b: &impl StateBackend) -> Result<u64, StateError> {
            let lock = b.lock("demo", "deploy").await?;
            let mut s = match b.load("demo").await? {
                Some(s) => s,
                None => State::new("demo", "chat"),
            };
            b.save(&lock, &mut s).await?;
            b.unlock(lock).await?;
            Ok(s.serial)
        }
        let t = TempDir::new("trait");
        let b = LocalBackend::new(&t.0);
        assert_eq!(deploy(&b).await.unwrap(), 1);
        assert_eq!(deploy(&b).await.unwrap(), 2);
    }
}
