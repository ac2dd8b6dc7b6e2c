//! A real PostgreSQL server for a test: Debian's `postgresql` package
//! (`/usr/lib/postgresql/*/bin`), a fresh cluster in a temporary folder, on
//! a free loopback port, with TLS (a CA and a server certificate made with
//! `openssl` for this run), stopped and deleted when dropped.
//!
//! PostgreSQL refuses to run as root: as root, the server runs as the
//! system user `archform-pg` (created with `useradd --system` if missing).
//!
//! The cluster has the superuser `postgres` (reached through the Unix
//! socket, for the test's own checks) and [`OWNER`], a non-superuser with
//! `CREATEROLE` owning the database [`DATABASE`]: what an RDS master user
//! is. The store connects as [`OWNER`], migrates, and works as the app
//! role.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use webapp::postgres::{PgSettings, SslMode};

pub const OWNER: &str = "webapp_owner";
pub const OWNER_PASSWORD: &str = "owner-Pa55-word";
pub const DATABASE: &str = "webapp";
const SYSTEM_USER: &str = "archform-pg";

pub struct TestPg {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    ssl: bool,
    /// uid and gid the server runs as (when the test runs as root).
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The newest `/usr/lib/postgresql/N/bin` holding `initdb`.
fn bin_dir() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(
        "no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package (tests/run does)",
    )
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, SYSTEM_USER]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// As root, the unprivileged user the server runs as.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    if id_of("-u").is_none() {
        // Several tests may race here; whoever loses finds the user made.
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ])
            .stderr(Stdio::null())
            .status();
    }
    Some((
        id_of("-u").expect("the archform-pg user"),
        id_of("-g").expect("the archform-pg group"),
    ))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `openssl` with `args` split at blanks.
fn openssl(dir: &Path, args: &str) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace()));
}

/// A CA (`{name}.pem`, `{name}.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
             -subj /CN=archform-test-{name} -keyout {name}.key -out {name}.pem \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

impl TestPg {
    /// A server with TLS on.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// A server with TLS on or off (`ssl = off`: it refuses TLS).
    pub fn start_with(ssl: bool) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "archform-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sock")).unwrap();
        make_ca(&dir, "ca");
        make_ca(&dir, "other-ca");
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            &dir,
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
             -keyout server.key -out server.csr",
        );
        openssl(
            &dir,
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile server.ext -out server.pem",
        );
        fs::set_permissions(dir.join("server.key"), fs::Permissions::from_mode(0o600)).unwrap();
        let run_as = server_user();
        if let Some((uid, gid)) = run_as {
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(&dir));
        }
        let bin = bin_dir();
        let mut pg = TestPg {
            dir,
            bin,
            port: free_port(),
            ssl,
            run_as,
            child: None,
        };
        pg.as_server_user(&mut Command::new(pg.bin.join("initdb")))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--no-locale", "--no-sync", "-D"])
            .arg(pg.dir.join("data"))
            .stdout(Stdio::null())
            .output()
            .map(|out| {
                assert!(
                    out.status.success(),
                    "initdb: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .unwrap();
        pg.launch();
        pg.psql(&format!(
            "CREATE ROLE {OWNER} LOGIN CREATEROLE PASSWORD '{OWNER_PASSWORD}'"
        ));
        pg.psql(&format!("CREATE DATABASE {DATABASE} OWNER {OWNER}"));
        pg
    }

    fn as_server_user<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Starts the server process and waits until it accepts connections.
    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let mut command = Command::new(self.bin.join("postgres"));
        self.as_server_user(&mut command)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(self.dir.join("sock"))
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                &format!("ssl={}", if self.ssl { "on" } else { "off" }),
            ])
            .args([
                "-c",
                "ssl_cert_file=../server.pem",
                "-c",
                "ssl_key_file=../server.key",
            ])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=60"])
            .args(["-c", "shared_buffers=16MB"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(command.spawn().expect("start postgres"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(self.dir.join("sock"))
                .args(["-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("postgres exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Fast shutdown (SIGINT), waiting for the process to end.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.wait();
        }
    }

    /// Stops and starts the server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Runs `sql` as the superuser in `database`; the output unaligned,
    /// without headers (`psql -At`).
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        run(Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.dir.join("sock"))
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-At", "-c", sql]))
        .trim()
        .to_owned()
    }

    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// Runs `sql` in the app's database.
    pub fn sql(&self, sql: &str) -> String {
        self.psql_in(DATABASE, sql)
    }

    /// The CA that signed the server's certificate.
    pub fn ca_bundle(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA that has nothing to do with this server.
    pub fn other_ca_bundle(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }

    /// The owner's URL (no sslmode in it).
    pub fn url(&self) -> String {
        format!(
            "postgres://{OWNER}:{OWNER_PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// Settings as the owner; `verify-full` trusts [`Self::ca_bundle`].
    pub fn settings(&self, sslmode: SslMode) -> PgSettings {
        let ca = (sslmode == SslMode::VerifyFull).then(|| self.ca_bundle());
        PgSettings::from_url(&self.url(), Some(sslmode), ca).unwrap()
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
