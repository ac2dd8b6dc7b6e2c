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
//! still running from a dev killed some other way is stopped with
//! `pg_ctl stop` on the next start; a stale `postmaster.pid` of a server
//! that is gone is PostgreSQL's own business (it checks the pid).

use crate::error::DevError;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
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

/// Written last when the cluster is made: without it, a folder is the
/// remains of an interrupted first start and is made again.
const MADE_MARKER: &str = "cluster-made";

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

fn err(dir: &Path, message: impl Into<String>) -> DevError {
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
fn run(dir: &Path, command: &mut Command) -> Result<String, DevError> {
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

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, SYSTEM_USER]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// As root, the uid and gid of [`SYSTEM_USER`], created when missing.
fn server_user(dir: &Path) -> Result<Option<(u32, u32)>, DevError> {
    if !is_root() {
        return Ok(None);
    }
    if id_of("-u").is_none() {
        // Two devs may race here; whoever loses finds the user made.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(SYSTEM_USER)
            .stderr(Stdio::null())
            .status();
    }
    match (id_of("-u"), id_of("-g")) {
        (Some(uid), Some(gid)) => Ok(Some((uid, gid))),
        _ => Err(err(
            dir,
            format!(
                "PostgreSQL refuses to run as root and the user `{SYSTEM_USER}` could not be made \
                 (useradd --system --no-create-home --shell /usr/sbin/nologin {SYSTEM_USER})"
            ),
        )),
    }
}

/// As root, the server user must be able to reach the cluster: every
/// folder above it must let others through (a project under /root does not).
fn check_reachable(dir: &Path) -> Result<(), DevError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(err(
                dir,
                format!(
                    "PostgreSQL runs as `{SYSTEM_USER}` (it refuses root), which cannot reach the cluster: \
                     {} is not searchable by other users (chmod o+x it, or keep the state elsewhere with --state-dir)",
                    ancestor.display()
                ),
            ));
        }
    }
    Ok(())
}

fn with_user(command: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    command
}

/// A password from the kernel's random source (hex: no quoting anywhere).
fn new_password(dir: &Path) -> Result<String, DevError> {
    let mut bytes = [0u8; 18];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| err(dir, format!("reading /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `name`'s content, or a new password written there (mode 0600).
fn password_file(dir: &Path, name: &str) -> Result<String, DevError> {
    let path = dir.join(name);
    if let Ok(p) = fs::read_to_string(&path)
        && !p.trim().is_empty()
    {
        return Ok(p.trim().to_string());
    }
    let p = new_password(dir)?;
    fs::write(&path, &p)
        .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o600)))
        .map_err(|e| err(dir, format!("writing {}: {e}", path.display())))?;
    Ok(p)
}

fn openssl(dir: &Path, args: &str) -> Result<(), DevError> {
    run(
        dir,
        Command::new("openssl")
            .current_dir(dir)
            .args(args.split_whitespace()),
    )
    .map(drop)
}

/// The CA (ca.pem, ca.key) and the server's certificate for `localhost`
/// and 127.0.0.1 (server.pem, server.key), valid for ten years: a cluster
/// lives as long as the stack's dev folder.
fn make_certificates(dir: &Path) -> Result<(), DevError> {
    openssl(
        dir,
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
         -subj /CN=archform-dev-local-postgres-ca -keyout ca.key -out ca.pem \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
    )?;
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| err(dir, format!("writing server.ext: {e}")))?;
    openssl(
        dir,
        "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
         -keyout server.key -out server.csr",
    )?;
    openssl(
        dir,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
         -extfile server.ext -out server.pem",
    )?;
    for key in ["server.key", "ca.key"] {
        fs::set_permissions(dir.join(key), fs::Permissions::from_mode(0o600))
            .map_err(|e| err(dir, format!("{key}: {e}")))?;
    }
    Ok(())
}

fn chown(dir: &Path, run_as: Option<(u32, u32)>) -> Result<(), DevError> {
    if let Some((uid, gid)) = run_as {
        run(
            dir,
            Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(dir),
        )?;
    }
    Ok(())
}

/// Makes the cluster: certificates, initdb, the settings and pg_hba.
fn make_cluster(dir: &Path, bin: &Path, run_as: Option<(u32, u32)>) -> Result<(), DevError> {
    // Whatever an interrupted first start left is made again.
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).map_err(|e| err(dir, format!("creating the folder: {e}")))?;
    make_certificates(dir)?;
    password_file(dir, "superuser-password")?;
    chown(dir, run_as)?;
    let data = dir.join("data");
    run(
        dir,
        with_user(&mut Command::new(bin.join("initdb")), run_as)
            .current_dir(dir)
            .args(["-U", "postgres", "--pwfile=superuser-password"])
            .args(["--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "-D"])
            .arg(&data),
    )?;
    let settings = format!(
        "\n# archform dev: a stand-in for an RDS instance\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = ''\n\
         ssl = on\n\
         ssl_cert_file = '{0}/server.pem'\n\
         ssl_key_file = '{0}/server.key'\n\
         password_encryption = scram-sha-256\n\
         max_connections = 100\n",
        dir.display()
    );
    let conf = data.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf).map_err(|e| err(dir, format!("{e}")))?;
    text.push_str(&settings);
    fs::write(&conf, text).map_err(|e| err(dir, format!("writing postgresql.conf: {e}")))?;
    // TLS and passwords only, as RDS with rds.force_ssl: no plain `host`
    // lines, no `local` lines (there is no socket).
    fs::write(
        data.join("pg_hba.conf"),
        "# archform dev: TLS and SCRAM passwords only, from this machine only\n\
         hostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .map_err(|e| err(dir, format!("writing pg_hba.conf: {e}")))?;
    chown(dir, run_as)?;
    fs::write(dir.join(MADE_MARKER), "").map_err(|e| err(dir, format!("{e}")))?;
    Ok(())
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

/// A server a killed dev left running on this cluster is stopped.
fn stop_leftover(dir: &Path, bin: &Path, run_as: Option<(u32, u32)>) -> Result<(), DevError> {
    let data = dir.join("data");
    let Some(pid) = fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
    else {
        return Ok(());
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains("postgres") {
        // Gone (or the pid is someone else's now): postgres sees that
        // itself and replaces the stale file.
        return Ok(());
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
