//! CPU time of processes from `/proc`, for benchmarks that say where the
//! CPU of a request goes (the load generator, a server, its functions), not
//! only how long it took.

use archform_emulator::proc_stat_fields as stat_fields;
use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// User plus system CPU time `pid` has used so far (its threads included,
/// its children not); `None` once it is gone.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let fields = stat_fields(pid)?;
    // utime and stime are fields 14 and 15: indexes 11 and 12 after the
    // state (field 3, index 0).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_micros(
        (utime + stime) * 1_000_000 / ticks_per_second(),
    ))
}

/// The pids whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            // ppid is field 4: index 1 after the state.
            stat_fields(pid)
                .and_then(|f| f.get(1)?.parse::<u32>().ok())
                .is_some_and(|ppid| ppid == parent)
        })
        .collect()
}

/// Runs `cmd` to completion like [`Command::output`], and also returns the
/// user plus system CPU time the child used (all its threads), as the
/// kernel accounts it when the child is reaped. `/proc` cannot tell this:
/// once a process has exited and been waited for, its entry is gone, and
/// polling before that misses the last work (the final state write).
#[cfg(unix)]
pub fn output_with_cpu(cmd: &mut Command) -> std::io::Result<(Output, Duration)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Both pipes are drained at once: a child filling one while we block
    // on the other would never exit.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data the kernel fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waits for our own child, writing into the two locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    use std::os::unix::process::ExitStatusExt;
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    Ok((output, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_grows_with_work() {
        let me = std::process::id();
        let before = process_cpu(me).expect("own stat");
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = process_cpu(me).expect("own stat");
        assert!(
            after >= before + Duration::from_millis(100),
            "{before:?} -> {after:?}"
        );
    }

    #[test]
    fn a_spawned_child_is_listed_and_a_gone_pid_has_no_time() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(children_of(std::process::id()).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(process_cpu(child.id()), None);
    }

    #[test]
    fn a_child_that_computes_uses_more_cpu_than_one_that_sleeps() {
        let (busy, busy_cpu) = output_with_cpu(Command::new("sh").args([
            "-c",
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo done; echo err >&2",
        ]))
        .unwrap();
        assert!(busy.status.success());
        assert_eq!(busy.stdout, b"done\n");
        assert_eq!(busy.stderr, b"err\n");
        let (idle, idle_cpu) = output_with_cpu(Command::new("sleep").arg("0.3")).unwrap();
        assert!(idle.status.success());
        assert!(
            busy_cpu >= Duration::from_millis(100) && idle_cpu < Duration::from_millis(50),
            "busy {busy_cpu:?}, idle {idle_cpu:?}"
        );
        let (failed, _) = output_with_cpu(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        assert_eq!(failed.status.code(), Some(3));
    }
}
