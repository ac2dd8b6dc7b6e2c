//! Function environment values that name a stack resource dev serves
//! locally, rewritten to lead to the local stand-in: a load balancer's DNS
//! name to the local listener of the same port, a database instance's
//! endpoint to the local PostgreSQL. Values are matched by the exact
//! attribute values in the stack's state (what the deploy substituted into
//! the environment), never by variable or logical-id naming conventions.
//! Pure text substitution, so it is unit-tested without servers.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The variable the webapp (and any function following the same contract)
/// reads for the CA certificates its `verify-full` TLS check trusts; dev
/// sets it to the local cluster's CA for every function whose environment
/// names the instance.
pub const DATABASE_CA_BUNDLE_ENV: &str = "DATABASE_CA_BUNDLE";

/// A load balancer served locally: its DNS name and, per port on AWS, the
/// local address of dev's listener standing in for it.
#[derive(Clone, Debug)]
pub struct AlbRewrite {
    pub dns_name: String,
    pub ports: Vec<(u16, SocketAddr)>,
}

/// A database instance served locally.
#[derive(Clone, Debug)]
pub struct DbRewrite {
    pub endpoint_address: String,
    pub endpoint_port: String,
    pub local_port: u16,
    pub secret_arn: String,
    /// The ARN the credentials went to, when it differs from `secret_arn`
    /// (the emulator had no such secret and dev created it).
    pub written_secret_arn: Option<String>,
    pub ca_bundle: PathBuf,
}

#[derive(Clone, Debug, Default)]
pub struct Rewrites {
    pub albs: Vec<AlbRewrite>,
    pub dbs: Vec<DbRewrite>,
}

impl Rewrites {
    /// `env` with every value that names a served resource rewritten, plus
    /// [`DATABASE_CA_BUNDLE_ENV`] when it names a served database.
    pub fn apply(&self, env: &[(String, String)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| {
                let v = self
                    .albs
                    .iter()
                    .fold(v.clone(), |v, alb| rewrite_alb(&v, alb));
                (k.clone(), v)
            })
            .collect();
        for db in &self.dbs {
            // Only a function that names this instance gets its port
            // rewritten: `5432` alone says nothing about which database.
            let names = |v: &str| {
                (!db.endpoint_address.is_empty() && v.contains(&db.endpoint_address))
                    || (!db.secret_arn.is_empty() && v == db.secret_arn)
            };
            if !env.iter().any(|(_, v)| names(v)) {
                continue;
            }
            for (_, v) in &mut out {
                *v = rewrite_db(v, db);
            }
            let ca = db.ca_bundle.display().to_string();
            match out.iter_mut().find(|(k, _)| k == DATABASE_CA_BUNDLE_ENV) {
                Some((_, v)) => *v = ca,
                None => out.push((DATABASE_CA_BUNDLE_ENV.to_string(), ca)),
            }
        }
        out
    }
}

fn rewrite_db(value: &str, db: &DbRewrite) -> String {
    if !db.endpoint_port.is_empty() && value == db.endpoint_port {
        return db.local_port.to_string();
    }
    if !db.secret_arn.is_empty() && value == db.secret_arn {
        return db
            .written_secret_arn
            .clone()
            .unwrap_or_else(|| value.into());
    }
    if db.endpoint_address.is_empty() {
        return value.to_string();
    }
    let with_port = format!("{}:{}", db.endpoint_address, db.endpoint_port);
    let local = format!("localhost:{}", db.local_port);
    let value = if db.endpoint_port.is_empty() {
        value.to_string()
    } else {
        value.replace(&with_port, &local)
    };
    value.replace(&db.endpoint_address, "localhost")
}

/// Every `http://<dns>[:port]`, `https://<dns>[:port]` or bare
/// `<dns>[:port]` in `value` becomes the local listener of that port (80
/// without a port or scheme, 443 for https). dev's listeners speak plain
/// HTTP, so https becomes http. A port dev has no listener for is left
/// alone (it leads nowhere either way).
fn rewrite_alb(value: &str, alb: &AlbRewrite) -> String {
    if alb.dns_name.is_empty() {
        return value.to_string();
    }
    let dns = alb.dns_name.as_str();
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find(dns) {
        let (before, after) = (&rest[..at], &rest[at + dns.len()..]);
        let (port_text, tail) = match after.strip_prefix(':') {
            Some(p) => {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                (Some(&p[..digits]), &p[digits..])
            }
            None => (None, after),
        };
        let (prefix, scheme) = if let Some(b) = before.strip_suffix("https://") {
            (b, Some("https"))
        } else if let Some(b) = before.strip_suffix("http://") {
            (b, Some("http"))
        } else {
            (before, None)
        };
        let host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        // Part of a longer host name: not this load balancer.
        let whole = (scheme.is_some() || !prefix.ends_with(host_char))
            && !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-');
        let port = match port_text {
            Some("") => None,
            Some(p) => p.parse::<u16>().ok(),
            None if scheme == Some("https") => Some(443),
            None => Some(80),
        };
        let local = port.and_then(|p| alb.ports.iter().find(|(aws, _)| *aws == p));
        match local {
            Some((_, addr)) if whole && port_text != Some("") => {
                out.push_str(prefix);
                if scheme.is_some() {
                    out.push_str("http://");
                }
                out.push_str(&addr.to_string());
                rest = tail;
            }
            _ => {
                // Keep the text and look past this occurrence.
                out.push_str(&rest[..at + dns.len()]);
                rest = &rest[at + dns.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DNS: &str = "internal-app-123.us-east-1.elb.amazonaws.com";

    fn rewrites() -> Rewrites {
        Rewrites {
            albs: vec![AlbRewrite {
                dns_name: DNS.into(),
                ports: vec![
                    (80, "127.0.0.1:3001".parse().unwrap()),
                    (443, "127.0.0.1:3002".parse().unwrap()),
                ],
            }],
            dbs: vec![DbRewrite {
                endpoint_address: "db.abc.us-east-1.rds.amazonaws.com".into(),
                endpoint_port: "5432".into(),
                local_port: 40123,
                secret_arn: "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-AbCdEf".into(),
                written_secret_arn: None,
                ca_bundle: "/state/ca.pem".into(),
            }],
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn one(value: &str) -> String {
        rewrites().apply(&env(&[("V", value)]))[0].1.clone()
    }

    #[test]
    fn alb_urls_lead_to_the_local_listener_of_their_port() {
        assert_eq!(one(&format!("http://{DNS}")), "http://127.0.0.1:3001");
        assert_eq!(one(&format!("http://{DNS}:80")), "http://127.0.0.1:3001");
        assert_eq!(
            one(&format!("http://{DNS}/api?x=1")),
            "http://127.0.0.1:3001/api?x=1"
        );
        assert_eq!(one(&format!("https://{DNS}")), "http://127.0.0.1:3002");
        assert_eq!(
            one(&format!("https://{DNS}:443/p")),
            "http://127.0.0.1:3002/p"
        );
        assert_eq!(one(DNS), "127.0.0.1:3001");
        assert_eq!(
            one(&format!("a=http://{DNS},b=https://{DNS}")),
            "a=http://127.0.0.1:3001,b=http://127.0.0.1:3002"
        );
    }

    #[test]
    fn other_hosts_and_ports_are_left_alone() {
        // No listener on 8080.
        let v = format!("http://{DNS}:8080/x");
        assert_eq!(one(&v), v);
        // A longer host name that merely contains the DNS name.
        let v = format!("http://x{DNS}");
        assert_eq!(one(&format!("http://{DNS}x")), format!("http://{DNS}x"));
        assert_eq!(one(&v), v);
        assert_eq!(one("http://example.com"), "http://example.com");
        let v = format!("http://{DNS}:");
        assert_eq!(one(&v), v);
    }

    #[test]
    fn database_endpoint_leads_to_the_local_server() {
        let out = rewrites().apply(&env(&[
            ("DB_HOST", "db.abc.us-east-1.rds.amazonaws.com"),
            ("DB_PORT", "5432"),
            ("DB_NAME", "app"),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-AbCdEf",
            ),
            ("ENDPOINT", "db.abc.us-east-1.rds.amazonaws.com:5432"),
        ]));
        assert_eq!(
            out,
            env(&[
                ("DB_HOST", "localhost"),
                ("DB_PORT", "40123"),
                ("DB_NAME", "app"),
                (
                    "DB_SECRET_ARN",
                    "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-AbCdEf"
                ),
                ("ENDPOINT", "localhost:40123"),
                (DATABASE_CA_BUNDLE_ENV, "/state/ca.pem"),
            ])
        );
    }

    #[test]
    fn a_function_not_naming_the_database_keeps_its_port_and_gets_no_bundle() {
        let e = env(&[("PORT", "5432"), ("OTHER", "x")]);
        assert_eq!(rewrites().apply(&e), e);
    }

    #[test]
    fn the_secret_arn_alone_names_the_database_and_follows_a_created_secret() {
        let mut r = rewrites();
        r.dbs[0].written_secret_arn =
            Some("arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-ZyXwVu".into());
        let out = r.apply(&env(&[
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-AbCdEf",
            ),
            (DATABASE_CA_BUNDLE_ENV, "/opt/rds-global-bundle.pem"),
            ("DB_PORT", "5432"),
        ]));
        assert_eq!(
            out,
            env(&[
                (
                    "DB_SECRET_ARN",
                    "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x-ZyXwVu"
                ),
                (DATABASE_CA_BUNDLE_ENV, "/state/ca.pem"),
                ("DB_PORT", "40123"),
            ])
        );
    }
}
