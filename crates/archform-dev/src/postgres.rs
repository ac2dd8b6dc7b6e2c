//! A local PostgreSQL server standing in for an RDS instance: Debian's
//! `postgresql` package (`/usr/lib/postgresql/<N>/bin`), one cluster per
//! instance in a folder dev keeps per stack, so data survives dev restarts.
//!
//! The cluster is made once: a CA and a server certificate for `localhost`
//! and `127.0.0.1` (`openssl`), `initdb` with a superuser `postgres` whose
//! password is kept in the folder (dev's own administration), TLS on,
//! SCRAM passwords, listening on 127.0.0.1 only, no Unix socket, and a
//! pg_hba that admits only `hostssl ... scram-sha-256` (as RDS with
//! `rds.force_ssl`). Each start (re)creates the master user (`CREATEROLE`,
//! not superuser: what RDS's master user can do that matters to an app,
//! creating roles and owning its database) and the database.
//!
//! PostgreSQL refuses to run as root: as root, dev runs it as the system
//! user [`SYSTEM_USER`] (created if missing) and gives it the folder.
//!
//! The server is a child of a thread that lives as long as it does and
//! waits for it; the child asks the kernel for SIGINT (fast shutdown) when
//! that thread ends, so a killed dev does not leave it running. A server
//! the next start still finds running (still shutting down, or orphaned)
//! is stopped with `pg_ctl stop`, unless another running dev owns it (then
//! the start is refused); a stale `postmaster.pid` of a server that is gone
//! is PostgreSQL's own business (it checks the pid).

mod cluster;

use crate::error::DevError;
use cluster::{MADE_MARKER, check_reachable, make_cluster, password_file, server_user};
use std::fs;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The unprivileged user the server runs as when dev runs as root.
pub const SYSTEM_USER: &str = "archform-pg";
/// The Debian package with initdb, postgres, pg_ctl and psql.
pub const PACKAGE: &str = "postgresql";
/// The project's script that installs it (and `openssl`).
pub const INSTALL_SCRIPT: &str = "scripts/install-postgres";

/// A running local server.
#[derive(Debug)]
pub struct LocalPostgres {
    dir: PathBuf,
    port: u16,
    master_password: String,
    pid: Option<u32>,
    exited: Option<oneshot::Receiver<std::io::Result<ExitStatus>>>,
}

impl LocalPostgres {
    /// Makes the cluster in `dir` if it is not made yet, starts the server
    /// and makes sure `master_username` and `db_name` exist.
    pub async fn start(
        dir: &Path,
        master_username: &str,
        db_name: &str,
    ) -> Result<LocalPostgres, DevError> {
        let (dir, user, db) = (
            dir.to_path_buf(),
            master_username.to_string(),
            db_name.to_string(),
        );
        tokio::task::spawn_blocking(move || start_blocking(&dir, &user, &db))
            .await
            .map_err(|e| DevError::Postgres {
                cluster: PathBuf::new(),
                message: format!("the start task failed: {e}"),
            })?
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate that signed the server's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn master_password(&self) -> &str {
        &self.master_password
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server process (the postmaster).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Fast shutdown (SIGINT: sessions are ended, data is flushed), waiting
    /// up to 30 s, then SIGKILL.
    pub async fn stop(mut self) {
        let (Some(pid), Some(exited)) = (self.pid.take(), self.exited.take()) else {
            return;
        };
        signal(pid, libc::SIGINT);
        let mut exited = exited;
        if tokio::time::timeout(Duration::from_secs(30), &mut exited)
            .await
            .is_err()
        {
            signal(pid, libc::SIGKILL);
            let _ = exited.await;
        }
    }
}

impl Drop for LocalPostgres {
    /// A server never stopped (dev failed after starting it) is told to
    /// shut down; nothing waits for it here.
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            signal(pid, libc::SIGINT);
        }
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill has no memory preconditions; the pid is our child's
    // (it is not reaped until the waiting thread sees it exit).
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

pub(super) fn err(dir: &Path, message: impl Into<String>) -> DevError {
    DevError::Postgres {
        cluster: dir.to_path_buf(),
        message: message.into(),
    }
}

/// The newest `/usr/lib/postgresql/N/bin` with the server's programs.
fn bin_dir() -> Result<PathBuf, DevError> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            ["initdb", "postgres", "pg_ctl", "psql", "pg_isready"]
                .iter()
                .all(|p| bin.join(p).exists())
                .then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or(DevError::PostgresMissing {
            what: "/usr/lib/postgresql/<N>/bin/{initdb,postgres,pg_ctl,psql,pg_isready}",
        })
}

/// Runs `command`, its output in the error when it fails.
pub(super) fn run(dir: &Path, command: &mut Command) -> Result<String, DevError> {
    let out = command.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound && command.get_program() == "openssl" {
            DevError::PostgresMissing { what: "openssl" }
        } else {
            err(dir, format!("{command:?}: {e}"))
        }
    })?;
    if !out.status.success() {
        return Err(err(
            dir,
            format!(
                "{command:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(super) fn with_user(command: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// The port the cluster had last time when it is free, else a free one;
/// kept in the folder so clients keep their settings across restarts.
fn choose_port(dir: &Path) -> Result<u16, DevError> {
    let path = dir.join("port");
    let last = fs::read_to_string(&path)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok());
    let port = match last.filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok()) {
        Some(p) => p,
        None => TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| err(dir, format!("finding a free port: {e}")))?,
    };
    fs::write(&path, port.to_string()).map_err(|e| err(dir, format!("writing port: {e}")))?;
    Ok(port)
}

/// The pid of the PostgreSQL server running on the cluster in `dir`, from
/// its `postmaster.pid`, if that process is alive and a postgres.
fn running_server(dir: &Path) -> Option<u32> {
    let pid = fs::read_to_string(dir.join("data").join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmdline)
        .contains("postgres")
        .then_some(pid)
}

/// Deletes what dev keeps for a stack (its local databases' clusters under
/// `dev_state_dir`), as `archform destroy` does once the stack is gone;
/// whether there was anything. A cluster whose server still runs (a dev
/// serving the stack) is refused and everything is kept.
pub fn remove_dev_state(dev_state_dir: &Path) -> Result<bool, DevError> {
    if !dev_state_dir.exists() {
        return Ok(false);
    }
    let clusters = fs::read_dir(dev_state_dir.join("postgres"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path());
    for cluster in clusters {
        if let Some(pid) = running_server(&cluster) {
            return Err(err(
                &cluster,
                format!(
                    "its PostgreSQL server is running (pid {pid}): stop `archform dev` first, then delete {}",
                    dev_state_dir.display()
                ),
            ));
        }
    }
    fs::remove_dir_all(dev_state_dir)
        .map_err(|e| err(dev_state_dir, format!("deleting it: {e}")))?;
    Ok(true)
}

/// A server still running on this cluster is stopped when it is a leftover
/// (a killed dev's, shutting down or orphaned); one that another running
/// dev started (its parent runs the same executable as this one) is
/// refused, not taken away from it.
fn stop_leftover(dir: &Path, bin: &Path, run_as: Option<(u32, u32)>) -> Result<(), DevError> {
    // None: gone (or the pid is someone else's now): postgres sees that
    // itself and replaces the stale file.
    let Some(pid) = running_server(dir) else {
        return Ok(());
    };
    let data = dir.join("data");
    let parent = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // pid (comm) state ppid ...: comm may hold blanks and parens.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().nth(1)?.parse::<u32>().ok()
        });
    if let Some(ppid) = parent
        && ppid != std::process::id()
        && ppid > 1
        && fs::read_link(format!("/proc/{ppid}/exe")).ok() == std::env::current_exe().ok()
    {
        return Err(err(
            dir,
            format!("another archform dev (pid {ppid}) is serving this database: stop it first"),
        ));
    }
    run(
        dir,
        with_user(&mut Command::new(bin.join("pg_ctl")), run_as)
            .current_dir(dir)
            .args(["stop", "-m", "fast", "-w", "-t", "30", "-D"])
            .arg(&data),
    )
    .map(drop)
}

fn start_blocking(dir: &Path, user: &str, db: &str) -> Result<LocalPostgres, DevError> {
    let bin = bin_dir()?;
    fs::create_dir_all(dir).map_err(|e| err(dir, format!("creating the folder: {e}")))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| err(dir, format!("resolving the folder: {e}")))?;
    let dir = dir.as_path();
    let run_as = server_user(dir)?;
    if run_as.is_some() {
        check_reachable(dir)?;
    }
    if !dir.join(MADE_MARKER).exists() {
        make_cluster(dir, &bin, run_as)?;
    }
    stop_leftover(dir, &bin, run_as)?;
    let port = choose_port(dir)?;
    let superuser = password_file(dir, "superuser-password")?;
    let master_password = password_file(dir, "master-password")?;
    let (pid, exited) = spawn_server(dir, &bin, run_as, port)?;
    let mut server = LocalPostgres {
        dir: dir.to_path_buf(),
        port,
        master_password,
        pid: Some(pid),
        exited: Some(exited),
    };
    wait_ready(&mut server, &bin)?;
    let psql = |sql: &str| -> Result<String, DevError> {
        run(
            dir,
            Command::new(bin.join("psql"))
                .env("PGPASSWORD", &superuser)
                .env("PGSSLROOTCERT", dir.join("ca.pem"))
                .arg(format!(
                    "host=localhost hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres \
                     sslmode=verify-full"
                ))
                .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        )
    };
    let (u, p) = (ident(user), literal(&server.master_password));
    psql(&format!(
        "DO $archform$ BEGIN \
           IF EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) \
           THEN ALTER ROLE {u} LOGIN CREATEROLE NOSUPERUSER PASSWORD {p}; \
           ELSE CREATE ROLE {u} LOGIN CREATEROLE PASSWORD {p}; END IF; END $archform$",
        name = literal(user)
    ))?;
    let exists = psql(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = {}",
        literal(db)
    ))?;
    if exists.trim() == "0" {
        psql(&format!("CREATE DATABASE {} OWNER {u}", ident(db)))?;
    }
    Ok(server)
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

type Exited = oneshot::Receiver<std::io::Result<ExitStatus>>;

/// Starts `postgres` from a thread that waits for it: the thread is the
/// child's parent for PR_SET_PDEATHSIG, so the child gets SIGINT when the
/// thread ends, which is when dev's process ends (a thread of a runtime
/// pool would end while the server is still wanted).
fn spawn_server(
    dir: &Path,
    bin: &Path,
    run_as: Option<(u32, u32)>,
    port: u16,
) -> Result<(u32, Exited), DevError> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .map_err(|e| err(dir, format!("opening server.log: {e}")))?;
    let log2 = log
        .try_clone()
        .map_err(|e| err(dir, format!("server.log: {e}")))?;
    let mut command = Command::new(bin.join("postgres"));
    with_user(&mut command, run_as)
        .current_dir(dir)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: prctl and getppid are async-signal-safe; the closure runs in
    // the forked child after the uid change (which would clear the setting).
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
            if libc::getppid() != parent {
                // The parent ended before the setting took effect.
                return Err(std::io::Error::other("dev ended"));
            }
            Ok(())
        });
    }
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (exit_tx, exit_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = pid_tx.send(Ok(child.id()));
                let _ = exit_tx.send(child.wait());
            }
            Err(e) => {
                let _ = pid_tx.send(Err(e));
            }
        })
        .map_err(|e| err(dir, format!("starting a thread: {e}")))?;
    let pid = pid_rx
        .recv()
        .map_err(|_| err(dir, "the postgres thread ended"))?
        .map_err(|e| {
            err(
                dir,
                format!("starting {}: {e}", bin.join("postgres").display()),
            )
        })?;
    Ok((pid, exit_rx))
}

fn wait_ready(server: &mut LocalPostgres, bin: &Path) -> Result<(), DevError> {
    let log = |dir: &Path| {
        let text = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Ok(());
        }
        if let Some(exited) = &mut server.exited
            && let Ok(status) = exited.try_recv()
        {
            server.pid = None;
            return Err(err(
                &server.dir,
                format!(
                    "postgres exited ({}) while starting; server.log ends:\n{}",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                    log(&server.dir)
                ),
            ));
        }
        if Instant::now() > deadline {
            return Err(err(
                &server.dir,
                format!(
                    "postgres did not accept connections within 60 s; server.log ends:\n{}",
                    log(&server.dir)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn dev_state(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("archform-dev-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("postgres/db/data")).unwrap();
        dir
    }

    #[test]
    fn dev_state_goes_unless_its_server_runs() {
        // A stale pid file (no such process): deleted.
        let stale = dev_state("stale");
        fs::write(stale.join("postgres/db/data/postmaster.pid"), "999999999\n").unwrap();
        assert!(remove_dev_state(&stale).unwrap());
        assert!(!stale.exists());
        assert!(!remove_dev_state(&stale).unwrap(), "nothing left");

        // A live process named postgres holds the cluster: kept, and why.
        let live = dev_state("live");
        let mut server = std::process::Command::new("sleep")
            .arg0("postgres")
            .arg("30")
            .spawn()
            .unwrap();
        // Until the child has exec'd, its command line is this test's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !fs::read(format!("/proc/{}/cmdline", server.id()))
            .unwrap_or_default()
            .starts_with(b"postgres\0")
        {
            assert!(std::time::Instant::now() < deadline, "sleep never started");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        fs::write(
            live.join("postgres/db/data/postmaster.pid"),
            format!("{}\n", server.id()),
        )
        .unwrap();
        let err = remove_dev_state(&live).unwrap_err().to_string();
        let _ = server.kill();
        let _ = server.wait();
        assert!(err.contains("stop `archform dev` first"), "{err}");
        assert!(live.join("postgres/db/data").exists());
        let _ = fs::remove_dir_all(&live);
    }
}
