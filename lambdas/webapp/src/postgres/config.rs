//! Where the PostgreSQL store connects, as who, and how the connection is
//! protected: from a `DATABASE_URL`, or from the RDS-managed Secrets
//! Manager secret (user name and password) plus the host, port and
//! database name from the environment.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::tls::{RustlsConnect, encrypting_config, verifying_config};

/// How the connection is protected (libpq's `sslmode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP. Only for a server on this machine (a loopback host).
    Disable,
    /// TLS required (a server without TLS is refused), its certificate not
    /// checked.
    Require,
    /// TLS required, the certificate checked against the CA bundle and the
    /// host name.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "disable" => Ok(Self::Disable),
            "require" => Ok(Self::Require),
            "verify-full" => Ok(Self::VerifyFull),
            other => Err(format!(
                "sslmode {other:?} is not one of require, verify-full, disable (allow, prefer and \
                 verify-ca are not offered: the first two may fall back to a plain connection)"
            )),
        }
    }
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Require => "require",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// The role the app's sessions take after the migrations, unless told
/// otherwise: `SELECT`, `INSERT`, `UPDATE`, `DELETE` on the app's tables
/// and nothing else.
pub const DEFAULT_APP_ROLE: &str = "webapp_app";
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Everything the store needs to connect. `Debug` never shows the
/// password.
#[derive(Clone)]
pub struct PgSettings {
    pub host: String,
    pub port: u16,
    pub dbname: String,
    pub user: String,
    pub password: String,
    pub sslmode: SslMode,
    /// PEM file of the CA certificates `verify-full` trusts.
    pub ca_bundle: Option<PathBuf>,
    /// The role every app session switches to (`SET ROLE`) once the
    /// migrations (run as `user`) are done; `None` stays `user`.
    pub app_role: Option<String>,
    /// Connections kept open at most (1 is right on Lambda: one request
    /// at a time per instance).
    pub pool_size: usize,
    pub connect_timeout: Duration,
}

impl fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("dbname", &self.dbname)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("sslmode", &self.sslmode)
            .field("ca_bundle", &self.ca_bundle)
            .field("app_role", &self.app_role)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

/// TLS unless told otherwise: `verify-full` when a CA bundle is given,
/// else `require`.
fn default_sslmode(ca_bundle: Option<&PathBuf>) -> SslMode {
    if ca_bundle.is_some() {
        SslMode::VerifyFull
    } else {
        SslMode::Require
    }
}

impl PgSettings {
    fn base(host: String, port: u16, dbname: String, user: String, password: String) -> Self {
        Self {
            host,
            port,
            dbname,
            user,
            password,
            sslmode: SslMode::Require,
            ca_bundle: None,
            app_role: Some(DEFAULT_APP_ROLE.to_owned()),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// From `postgres://user:password@host:port/dbname?sslmode=...&sslrootcert=PATH`
    /// (or libpq's `key=value` form). `sslmode` and `ca_bundle`, when
    /// given, win over the URL's.
    pub fn from_url(
        url: &str,
        sslmode: Option<SslMode>,
        ca_bundle: Option<PathBuf>,
    ) -> Result<Self, String> {
        // tokio-postgres knows disable/prefer/require only: take sslmode and
        // sslrootcert out of the query string and keep the rest.
        let (url_mode, url_ca, rest) = match url.split_once('?') {
            Some((base, query)) if url.contains("://") => {
                let (mut mode, mut ca) = (None, None);
                let mut kept = form_urlencoded::Serializer::new(String::new());
                for (key, value) in form_urlencoded::parse(query.as_bytes()) {
                    match key.as_ref() {
                        "sslmode" => mode = Some(value.parse::<SslMode>()?),
                        "sslrootcert" => ca = Some(PathBuf::from(value.as_ref())),
                        _ => {
                            kept.append_pair(&key, &value);
                        }
                    }
                }
                let kept = kept.finish();
                let rest = if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{kept}")
                };
                (mode, ca, rest)
            }
            _ => (None, None, url.to_owned()),
        };
        let config = tokio_postgres::Config::from_str(&rest)
            .map_err(|err| format!("DATABASE_URL is not a PostgreSQL URL: {err}"))?;
        let host = match config.get_hosts() {
            [tokio_postgres::config::Host::Tcp(host)] => host.clone(),
            [] => return Err("DATABASE_URL names no host".into()),
            _ => return Err("DATABASE_URL must name exactly one TCP host".into()),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .ok_or("DATABASE_URL names no user")?
            .to_owned();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let dbname = config.get_dbname().unwrap_or(&user).to_owned();
        let ca_bundle = ca_bundle.or(url_ca);
        let mut settings = Self::base(host, port, dbname, user, password);
        settings.sslmode = sslmode
            .or(url_mode)
            .unwrap_or_else(|| default_sslmode(ca_bundle.as_ref()));
        settings.ca_bundle = ca_bundle;
        Ok(settings)
    }

    /// From the secret's JSON (`username`, `password`, and optionally
    /// `host`, `port`, `dbname` as RDS writes them for secrets it does not
    /// manage), with `host`, `port` and `dbname` from the environment where
    /// the secret lacks them (an RDS-managed master secret holds only the
    /// user name and password).
    pub fn from_secret(
        secret: &str,
        host: Option<&str>,
        port: Option<u16>,
        dbname: Option<&str>,
        sslmode: Option<SslMode>,
        ca_bundle: Option<PathBuf>,
    ) -> Result<Self, String> {
        let (user, password, value) = parse_secret(secret)?;
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let host = field("host")
            .or_else(|| host.map(str::to_owned))
            .filter(|h| !h.trim().is_empty())
            .ok_or("no database host: the secret has none and DATABASE_HOST is not set")?;
        let port = match value.get("port") {
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .or(port)
        .unwrap_or(5432);
        let dbname = field("dbname")
            .or_else(|| dbname.map(str::to_owned))
            .filter(|d| !d.trim().is_empty())
            .ok_or("no database name: the secret has none and DATABASE_NAME is not set")?;
        let mut settings = Self::base(host, port, dbname, user, password);
        settings.sslmode = sslmode.unwrap_or_else(|| default_sslmode(ca_bundle.as_ref()));
        settings.ca_bundle = ca_bundle;
        Ok(settings)
    }

    /// Refuses what must not be used: a plain connection to another
    /// machine, `verify-full` without a CA bundle, an app role that is not
    /// a plain identifier.
    pub fn check(&self) -> Result<(), String> {
        match self.sslmode {
            SslMode::Disable if !is_loopback(&self.host) => Err(format!(
                "sslmode disable is only allowed for a server on this machine, not {}: use \
                 require or verify-full (DATABASE_SSLMODE)",
                self.host
            )),
            SslMode::VerifyFull if self.ca_bundle.is_none() => Err(
                "sslmode verify-full needs a CA bundle: set DATABASE_CA_BUNDLE (--database-ca-bundle) \
                 to a PEM file such as the RDS global bundle"
                    .into(),
            ),
            _ => Ok(()),
        }?;
        if let Some(role) = &self.app_role
            && !is_identifier(role)
        {
            return Err(format!(
                "the app role {role:?} must be 1 to 63 of a-z, 0-9 and _, not starting with a digit"
            ));
        }
        if self.pool_size == 0 {
            return Err("the pool size must be at least 1".into());
        }
        Ok(())
    }

    pub fn client_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(&self.user)
            .password(&self.password)
            .application_name("webapp")
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                // Require: a server that answers "no TLS" is refused.
                SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
            });
        config
    }

    /// The TLS connector for [`Self::sslmode`], `None` for `disable`.
    pub(crate) fn tls(&self) -> Result<Option<RustlsConnect>, String> {
        match self.sslmode {
            SslMode::Disable => Ok(None),
            SslMode::Require => Ok(Some(RustlsConnect::new(encrypting_config()))),
            SslMode::VerifyFull => {
                let ca = self
                    .ca_bundle
                    .as_deref()
                    .ok_or("sslmode verify-full needs a CA bundle (DATABASE_CA_BUNDLE)")?;
                Ok(Some(RustlsConnect::new(verifying_config(ca)?)))
            }
        }
    }
}

/// The user name, the password and the whole object of a database secret
/// (`{"username": ..., "password": ..., ...}`). The error never quotes it.
fn parse_secret(secret: &str) -> Result<(String, String, serde_json::Value), String> {
    let value: serde_json::Value = serde_json::from_str(secret)
        .map_err(|_| "the database secret is not a JSON object".to_owned())?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let user = field("username").ok_or("the database secret has no \"username\"")?;
    let password = field("password").ok_or("the database secret has no \"password\"")?;
    Ok((user, password, value))
}

/// The user name and password of a database secret.
pub fn credentials_from_secret(secret: &str) -> Result<(String, String), String> {
    parse_secret(secret).map(|(user, password, _)| (user, password))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A lower-case SQL identifier that needs no quoting.
pub(crate) fn is_identifier(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// The secret's string from Secrets Manager, with the credentials and
/// region of the environment (on Lambda, the function's role). `what`
/// names the secret in errors ("database", "CSRF key").
pub async fn fetch_secret(what: &str, arn: &str) -> Result<String, String> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    super::credentials::secret_string(&client, what, arn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_libpq_ssl_settings() {
        let s = PgSettings::from_url(
            "postgres://app:s%40cret@db.example:6543/shop?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3",
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.dbname.as_str(), s.user.as_str()),
            ("db.example", 6543, "shop", "app")
        );
        assert_eq!(s.password, "s@cret");
        assert_eq!(s.sslmode, SslMode::VerifyFull);
        assert_eq!(s.ca_bundle, Some(PathBuf::from("/ca.pem")));
        assert!(s.check().is_ok());
        assert!(!format!("{s:?}").contains("s@cret"));

        // TLS by default; verify-full once a bundle is given.
        let plain = PgSettings::from_url("postgres://u:p@db.example/d", None, None).unwrap();
        assert_eq!(plain.sslmode, SslMode::Require);
        let with_ca =
            PgSettings::from_url("postgres://u:p@db.example/d", None, Some("/ca".into())).unwrap();
        assert_eq!(with_ca.sslmode, SslMode::VerifyFull);
        assert!(PgSettings::from_url("postgres://u@h/d?sslmode=prefer", None, None).is_err());
    }

    #[test]
    fn plain_connections_only_to_this_machine() {
        for (host, ok) in [
            ("127.0.0.1", true),
            ("localhost", true),
            ("::1", true),
            ("db.example", false),
            ("10.0.0.5", false),
        ] {
            let mut s = PgSettings::base(host.into(), 5432, "d".into(), "u".into(), "p".into());
            s.sslmode = SslMode::Disable;
            assert_eq!(s.check().is_ok(), ok, "{host}");
        }
        let mut s = PgSettings::base("h".into(), 5432, "d".into(), "u".into(), "p".into());
        s.sslmode = SslMode::VerifyFull;
        assert!(s.check().unwrap_err().contains("DATABASE_CA_BUNDLE"));
        s.sslmode = SslMode::Require;
        s.app_role = Some("app; DROP TABLE x".into());
        assert!(s.check().is_err());
    }

    #[test]
    fn the_rds_managed_secret_and_the_environment() {
        let secret = r#"{"username": "master", "password": "p\"w"}"#;
        let s =
            PgSettings::from_secret(secret, Some("db.rds"), Some(5433), Some("shop"), None, None)
                .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.dbname.as_str(), s.user.as_str()),
            ("db.rds", 5433, "shop", "master")
        );
        assert_eq!((s.password.as_str(), s.sslmode), ("p\"w", SslMode::Require));
        // The secret's own host and port win.
        let full =
            r#"{"username": "u", "password": "p", "host": "h2", "port": 6000, "dbname": "d2"}"#;
        let s = PgSettings::from_secret(full, Some("h1"), None, None, None, None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.dbname.as_str()),
            ("h2", 6000, "d2")
        );
        let err = PgSettings::from_secret(secret, None, None, Some("d"), None, None).unwrap_err();
        assert!(err.contains("DATABASE_HOST"), "{err}");
        let err = PgSettings::from_secret("not json secret-value", None, None, None, None, None)
            .unwrap_err();
        assert!(!err.contains("secret-value"));
    }
}
