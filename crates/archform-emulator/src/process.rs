//! Unix process plumbing for emulators: spawning in the two ownership modes,
//! liveness checks that survive pid reuse and zombies, and group kills.
//!
//! Every emulator runs as the leader of its own process group, so one signal
//! to the group also reaches any helper processes it starts.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

type SpawnJob = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` so that it dies with this process.
///
/// The child asks the kernel for SIGKILL when its parent dies
/// (`PR_SET_PDEATHSIG`). Linux ties that to the parent *thread*, not the
/// process: a child forked from a test's thread would be killed as soon as
/// that test finished. So all owned children are forked by one dedicated
/// thread that blocks on a channel whose sender lives in a static, which means
/// it only ends when the whole process does.
pub(crate) fn spawn_owned(mut command: Command) -> io::Result<Child> {
    // SAFETY: getpid is async-signal-safe and has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe system calls (setpgid, prctl, getppid), without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal
            // would ever come, so refuse to start instead of leaking.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner_thread()?
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("emulator spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("emulator spawner thread did not answer"))?
}

/// The sender half of the long-lived spawner thread's channel (see [`spawn_owned`]).
fn spawner_thread() -> io::Result<mpsc::Sender<SpawnJob>> {
    static SPAWNER: Mutex<Option<mpsc::Sender<SpawnJob>>> = Mutex::new(None);
    let mut guard = SPAWNER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sender) = guard.as_ref() {
        return Ok(sender.clone());
    }
    let (tx, rx) = mpsc::channel::<SpawnJob>();
    std::thread::Builder::new()
        .name("archform-emulator-spawner".to_owned())
        .spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
        })?;
    *guard = Some(tx.clone());
    Ok(tx)
}

/// Spawns `command` as a daemon: in a new session (so no terminal hangup or
/// Ctrl-C reaches it) and with no death signal, so it outlives this process.
pub(crate) fn spawn_detached(mut command: Command) -> io::Result<Child> {
    // SAFETY: setsid is async-signal-safe; nothing else runs in the closure.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Whether `pid` is a running (not zombie) process.
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    reap_if_our_child(pid_t);
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = unsafe { libc::kill(pid_t, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    // A zombie still "exists" for kill(2) until someone reaps it, and in a
    // container pid 1 may never do that; a zombie is dead for our purposes.
    exists && proc_state(pid) != Some('Z')
}

/// Collects `pid`'s exit status if it is our child, so it does not linger as a
/// zombie (the CLI's own tests start and stop daemons in one process).
fn reap_if_our_child(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: WNOHANG never blocks; for a pid that is not our child this
    // returns ECHILD and changes nothing.
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// Fields of `/proc/<pid>/stat` after the command name (which may contain
/// spaces and parentheses, so the split is at its last `)`): the state is
/// index 0, so field N of proc(5) is index N - 3. `None` once it is gone.
pub fn proc_stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_comm) = stat.rsplit_once(')')?;
    Some(after_comm.split_whitespace().map(str::to_owned).collect())
}

fn proc_state(pid: u32) -> Option<char> {
    proc_stat_fields(pid)?.first()?.chars().next()
}

/// When `pid` started, in clock ticks since boot (`/proc/<pid>/stat` field 22).
/// Stored with a daemon's pid so a later `stop` never signals an unrelated
/// process that was given the same pid after the daemon died.
pub(crate) fn proc_start_ticks(pid: u32) -> Option<u64> {
    // Field 22 overall is index 19 after pid (1), comm (2) and state (3 = index 0).
    proc_stat_fields(pid)?.get(19)?.parse().ok()
}

/// Sends `signal` to the process group led by `pgid`.
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid)
        && pgid > 1
    {
        // SAFETY: plain kill(2) on a negative pid (a process group); errors
        // (the group is already gone) are expected and ignored.
        unsafe { libc::kill(-pgid, signal) };
    }
}

/// SIGTERM to the group led by `pid`, then SIGKILL if it is still alive
/// after `grace`. Returns whether the leader is gone.
pub(crate) fn terminate_group(pid: u32, grace: Duration) -> bool {
    signal_group(pid, libc::SIGTERM);
    if wait_until_dead(pid, grace) {
        // Helpers that ignored the group's SIGTERM go too.
        signal_group(pid, libc::SIGKILL);
        return true;
    }
    signal_group(pid, libc::SIGKILL);
    wait_until_dead(pid, Duration::from_secs(5))
}

fn wait_until_dead(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pid_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_a_start_time() {
        let me = std::process::id();
        assert!(pid_alive(me));
        assert!(proc_start_ticks(me).is_some());
    }

    #[test]
    fn an_exited_child_is_not_alive() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        assert!(wait_until_dead(pid, Duration::from_secs(5)));
        let _ = child.wait();
    }

    #[test]
    fn owned_child_is_spawned_in_its_own_group() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = spawn_owned(command).unwrap();
        let pid = child.id();
        // SAFETY: getpgid on a pid we just spawned.
        let pgid = unsafe { libc::getpgid(pid as libc::pid_t) };
        assert_eq!(pgid, pid as libc::pid_t);
        assert!(terminate_group(pid, Duration::from_secs(2)));
        let _ = child.wait();
    }
}
