//! Making a local cluster once: the server's user, its certificates,
//! initdb, the settings and pg_hba, and the passwords kept in its folder.

use super::{SYSTEM_USER, err, run, with_user};
use crate::error::DevError;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Written last when the cluster is made: without it, a folder is the
/// remains of an interrupted first start and is made again.
pub(super) const MADE_MARKER: &str = "cluster-made";

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, SYSTEM_USER]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// As root, the uid and gid of [`SYSTEM_USER`], created when missing.
pub(super) fn server_user(dir: &Path) -> Result<Option<(u32, u32)>, DevError> {
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
pub(super) fn check_reachable(dir: &Path) -> Result<(), DevError> {
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

/// A password from the kernel's random source (hex: no quoting anywhere).
fn new_password(dir: &Path) -> Result<String, DevError> {
    let mut bytes = [0u8; 18];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| err(dir, format!("reading /dev/urandom: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `name`'s content, or a new password written there (mode 0600).
pub(super) fn password_file(dir: &Path, name: &str) -> Result<String, DevError> {
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
pub(super) fn make_cluster(
    dir: &Path,
    bin: &Path,
    run_as: Option<(u32, u32)>,
) -> Result<(), DevError> {
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
