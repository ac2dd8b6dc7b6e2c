//! The stack's RDS PostgreSQL instances under dev: against an emulator,
//! each is served by a local server (crate::postgres) whose master-user
//! credentials are written to the instance's master-user secret, so a
//! function that reads the secret and connects to the instance's endpoint
//! (rewritten by crate::env_rewrite) runs unchanged.

use crate::env_rewrite::DbRewrite;
use crate::error::DevError;
use crate::postgres::LocalPostgres;
use crate::start::LocalEndpoint;
use crate::topology::DatabaseSpec;
use aws_sdk_secretsmanager::Client;
use std::path::Path;

/// What serving the databases produced.
#[derive(Default)]
pub struct Databases {
    pub servers: Vec<LocalPostgres>,
    pub rewrites: Vec<DbRewrite>,
    pub endpoints: Vec<LocalEndpoint>,
    /// What dev leaves alone, and why (printed with the readiness line).
    pub notes: Vec<String>,
}

impl Databases {
    pub async fn stop(self) {
        for server in self.servers {
            server.stop().await;
        }
    }
}

/// Starts a local server for each PostgreSQL instance. `secrets` is `None`
/// against a real account: there dev leaves the databases on AWS (see
/// the note it returns for why).
pub async fn serve(
    databases: &[DatabaseSpec],
    dev_state_dir: &Path,
    secrets: Option<&Client>,
) -> Result<Databases, DevError> {
    let mut out = Databases::default();
    for db in databases {
        if db.engine != "postgres" {
            out.notes.push(format!(
                "`{}`: dev serves only PostgreSQL instances locally; the functions keep this {} instance's endpoint",
                db.id, db.engine
            ));
            continue;
        }
        let Some(secrets) = secrets else {
            // Against a real account the master-user secret is RDS's: RDS
            // owns it (rotates it, and Secrets Manager refuses writes to a
            // secret another service manages), and the deployed functions
            // read it too, so overwriting it would cut them off from their
            // database. The functions keep their environment instead.
            out.notes.push(format!(
                "`{}`: dev leaves the database on AWS (its master-user secret is RDS's, shared with the deployed \
                 functions); the local functions keep DB endpoint {}:{}, which must be reachable from this machine",
                db.id, db.endpoint_address, db.endpoint_port
            ));
            continue;
        };
        if db.master_user_secret_arn.is_empty() {
            return Err(DevError::Stack(format!(
                "`{}` has no master_user_secret_arn in the state: dev writes the local server's credentials there \
                 (deploy it with manage_master_user_password: true)",
                db.id
            )));
        }
        let user = if db.master_username.is_empty() {
            "postgres"
        } else {
            db.master_username.as_str()
        };
        let db_name = db.db_name.as_deref().unwrap_or("postgres");
        let server =
            LocalPostgres::start(&dev_state_dir.join("postgres").join(&db.id), user, db_name)
                .await?;
        let written = write_secret(
            secrets,
            &db.master_user_secret_arn,
            user,
            server.master_password(),
        )
        .await?;
        out.endpoints.push(LocalEndpoint {
            kind: "postgres",
            id: db.id.clone(),
            url: format!("postgres://localhost:{}/{db_name}", server.port()),
            detail: format!(
                "stands in for {}:{}; user `{user}`, password in {}; TLS with CA {}",
                db.endpoint_address,
                db.endpoint_port,
                written,
                server.ca_cert().display()
            ),
        });
        out.rewrites.push(DbRewrite {
            endpoint_address: db.endpoint_address.clone(),
            endpoint_port: db.endpoint_port.clone(),
            local_port: server.port(),
            secret_arn: db.master_user_secret_arn.clone(),
            written_secret_arn: (written != db.master_user_secret_arn).then_some(written),
            ca_bundle: server.ca_cert(),
        });
        out.servers.push(server);
    }
    Ok(out)
}

/// The secret's name in its ARN (`...:secret:<name>-<6 random characters>`).
pub fn secret_name(arn: &str) -> &str {
    let name = arn.split_once(":secret:").map_or(arn, |(_, n)| n);
    match name.rsplit_once('-') {
        Some((base, suffix))
            if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            base
        }
        _ => name,
    }
}

/// Writes `{"username", "password"}` as the secret's current value (the
/// shape RDS keeps in a managed master-user secret) and returns the ARN it
/// went to. A secret the emulator does not have (one that does not create
/// RDS-managed secrets) is created under the name in the ARN; its ARN then
/// differs in the random suffix, and the functions' environments follow it.
pub async fn write_secret(
    client: &Client,
    arn: &str,
    username: &str,
    password: &str,
) -> Result<String, DevError> {
    let value = serde_json::json!({"username": username, "password": password}).to_string();
    let fail = |message: String| DevError::Secret {
        arn: arn.to_string(),
        message,
    };
    let put = |id: String| {
        client
            .put_secret_value()
            .secret_id(id)
            .secret_string(&value)
            .send()
    };
    match put(arn.to_string()).await {
        Ok(out) => Ok(out.arn().unwrap_or(arn).to_string()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            let name = secret_name(arn);
            match client
                .create_secret()
                .name(name)
                .description("archform dev: the local PostgreSQL's master user")
                .secret_string(&value)
                .send()
                .await
            {
                Ok(out) => Ok(out.arn().unwrap_or(arn).to_string()),
                // Made by an earlier dev run (under another suffix).
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_exists_exception()) =>
                {
                    put(name.to_string())
                        .await
                        .map(|out| out.arn().unwrap_or(arn).to_string())
                        .map_err(|e| {
                            fail(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
                        })
                }
                Err(e) => Err(fail(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )),
            }
        }
        Err(e) => Err(fail(
            aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::secret_name;

    #[test]
    fn the_name_is_the_arn_without_its_random_suffix() {
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b-AbC123"),
            "rds!db-1a2b"
        );
        assert_eq!(
            secret_name("arn:aws:secretsmanager:us-east-1:1:secret:plain"),
            "plain"
        );
    }
}
