//! Schema migrations, embedded in the binary and applied at start-up.
//!
//! The numbered SQL files of `lambdas/webapp/migrations/` are applied in
//! order, each recorded in `schema_migrations`, all in one transaction that
//! first takes a transaction-level advisory lock: instances starting at
//! once queue on the lock, and each after the first finds everything
//! recorded and applies nothing. A failing migration rolls back entirely.
//!
//! After the migrations the same transaction makes sure the app role
//! exists (`NOLOGIN`), the migrating user may `SET ROLE` to it, and it has
//! `SELECT`, `INSERT`, `UPDATE`, `DELETE` on the app's tables: no DDL, no
//! `schema_migrations`.

use tokio_postgres::Client;

use super::config::is_identifier;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in order. Never edit an applied one: add the next.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "products_and_orders",
    sql: include_str!("../../migrations/0001_products_and_orders.sql"),
}];

/// The tables the app role may read and write.
const APP_TABLES: &[&str] = &["products", "orders", "order_lines"];

/// `pg_advisory_xact_lock` key of the migrations ("webapp" in ASCII).
pub const LOCK_KEY: i64 = 0x7765_6261_7070;

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied now (empty when the schema was current).
    pub applied: Vec<i32>,
    /// The highest version recorded afterwards.
    pub current: i32,
}

/// Applies the migrations not yet recorded, and grants `app_role` its
/// rights; safe to run from several instances at once.
pub async fn migrate(
    client: &mut Client,
    app_role: Option<&str>,
) -> Result<MigrationReport, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        if done.contains(&migration.version) {
            continue;
        }
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        applied.push(migration.version);
    }
    if let Some(role) = app_role.filter(|r| is_identifier(r)) {
        // The name is a checked identifier: quoting is not needed.
        tx.batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                     CREATE ROLE {role} NOLOGIN;
                 END IF;
             END $$;
             GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role};",
            tables = APP_TABLES.join(", ")
        ))
        .await?;
        // So that the sessions may `SET ROLE` to it (PostgreSQL 16 gives a
        // non-superuser creator only the ADMIN option; repeating the grant is
        // a notice).
        tx.batch_execute(&format!("GRANT {role} TO CURRENT_USER"))
            .await?;
    }
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    tx.commit().await?;
    Ok(MigrationReport { applied, current })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
            assert!(!m.sql.trim().is_empty());
        }
    }
}
