//! [`DataStore`] on PostgreSQL (RDS in the blueprint).
//!
//! - **Connections**: at most [`PgSettings::pool_size`] kept open and
//!   reused across requests (and warm Lambda invocations). One that reports
//!   an I/O or protocol error, or that the server closed, is dropped and the
//!   next call opens a new one; one idle for more than a second is checked
//!   with a round trip before it is used (a frozen Lambda, a restarted or
//!   failed-over server).
//! - **Rotated passwords**: RDS rotates its managed master secret (every
//!   7 days by default) while warm instances keep running. With a
//!   [`SecretCredentials`] source ([`PostgresStore::with_rotation`]), a
//!   connection refused for its password re-reads the secret (at most once
//!   per [`REREAD_AT_MOST_EVERY`]) and tries once more with the new one.
//! - **Start-up** ([`PostgresStore::open`]): the migrations
//!   ([`migrate`]), as the connecting user; then every session switches to
//!   the app role (`SET ROLE`), which may only read and write the app's
//!   tables.
//! - **Orders**: one transaction locks the ordered products
//!   (`SELECT ... FOR UPDATE` in id order, so two orders never wait on each
//!   other in a cycle), checks every line, takes the stock (each product's
//!   version grows by one), and inserts the order and its lines. A refused
//!   line rolls it all back.
//! - **Updates**: `UPDATE ... WHERE id = $1 AND version = $2`; no row means
//!   stale (or gone).
//! - **Lists**: keyset pages on the primary key (`COLLATE "C"`, the app's
//!   byte order), search on lower-cased copies of name and SKU made by the
//!   app, so it matches what [`crate::memory`] matches.

pub mod config;
pub mod credentials;
pub mod migrate;
pub mod tls;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Row};

pub use config::{PgSettings, SslMode};
pub use credentials::{REREAD_AT_MOST_EVERY, SecretCredentials};
pub use migrate::{MigrationReport, migrate};

use crate::model::{Order, OrderLine, OrderRequest, OrderStatus, Product, ProductChanges};
use crate::store::{
    BoxFuture, CancelOutcome, DataStore, Page, PageRequest, ProductQuery, StoreError,
};
use tls::RustlsConnect;

/// A connection idle longer than this is checked before it is used.
const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(1);

const PRODUCT_COLUMNS: &str =
    "id, sku, name, description, price_cents, stock, version, created_at, updated_at";
const ORDER_COLUMNS: &str = "id, status, total_cents, version, created_at, updated_at";
const LINE_COLUMNS: &str =
    "order_id, product_id, sku, name, quantity, unit_price_cents, line_total_cents";

struct Idle {
    client: Client,
    since: Instant,
}

pub struct PostgresStore {
    settings: PgSettings,
    /// The user and password new connections log in with: the settings',
    /// until a rotation replaces them.
    login: Mutex<(String, String)>,
    rotation: Option<SecretCredentials>,
    tls: Option<RustlsConnect>,
    idle: Mutex<Vec<Idle>>,
    permits: Semaphore,
}

/// Why [`PostgresStore::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The settings are unusable (exit 2 in the CLI).
    #[error("{0}")]
    Settings(String),
    /// The database could not be reached or the migrations failed.
    #[error("{0}")]
    Database(String),
}

/// One connection taken from the pool; it goes back when dropped, unless
/// it failed.
struct Conn<'a> {
    store: &'a PostgresStore,
    client: Option<Client>,
    broken: bool,
    _permit: SemaphorePermit<'a>,
}

impl Conn<'_> {
    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }

    /// Maps a database error to a [`StoreError::Backend`], and marks the
    /// connection for closing unless the error is an answer from a working
    /// session (a constraint, a lock timeout...).
    fn fail(&mut self, operation: &'static str, err: tokio_postgres::Error) -> StoreError {
        if is_connection_error(&err) {
            self.broken = true;
        }
        backend(operation, &err)
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !self.broken
            && !client.is_closed()
        {
            self.store
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Idle {
                    client,
                    since: Instant::now(),
                });
        }
    }
}

/// The server refused the login (wrong password, or a user that is gone):
/// what a rotated secret looks like from an old password.
fn is_login_refused(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| {
        *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    })
}

fn is_connection_error(err: &tokio_postgres::Error) -> bool {
    err.is_closed() || err.as_db_error().is_none()
}

fn backend(operation: &'static str, err: &tokio_postgres::Error) -> StoreError {
    let message = match err.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    };
    StoreError::backend(operation, message)
}

impl PostgresStore {
    /// Connects (checking the settings first), applies the migrations and
    /// keeps that first connection for the pool.
    pub async fn open(settings: PgSettings) -> Result<Self, OpenError> {
        settings.check().map_err(OpenError::Settings)?;
        let tls = settings.tls().map_err(OpenError::Settings)?;
        let store = Self {
            permits: Semaphore::new(settings.pool_size),
            login: Mutex::new((settings.user.clone(), settings.password.clone())),
            rotation: None,
            settings,
            tls,
            idle: Mutex::new(Vec::new()),
        };
        let mut client = store
            .connect()
            .await
            .map_err(|err| OpenError::Database(store.describe(&err)))?;
        let report = migrate(&mut client, store.settings.app_role.as_deref())
            .await
            .map_err(|err| {
                OpenError::Database(format!("migrating the schema failed: {}", describe(&err)))
            })?;
        tracing::info!(
            applied = ?report.applied,
            schema_version = report.current,
            "PostgreSQL schema is current"
        );
        store
            .start_session(&client)
            .await
            .map_err(|err| OpenError::Database(store.describe(&err)))?;
        store.idle.lock().unwrap().push(Idle {
            client,
            since: Instant::now(),
        });
        Ok(store)
    }

    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    /// New connections refused for their password re-read the login from
    /// `source` (the secret the settings came from) and try once more.
    pub fn with_rotation(mut self, source: SecretCredentials) -> Self {
        self.rotation = Some(source);
        self
    }

    fn describe(&self, err: &tokio_postgres::Error) -> String {
        format!(
            "cannot connect to PostgreSQL at {}:{} (database {}, user {}, sslmode {}): {}",
            self.settings.host,
            self.settings.port,
            self.settings.dbname,
            self.settings.user,
            self.settings.sslmode.as_str(),
            describe(err)
        )
    }

    /// A new connection; if the server refuses the password and there is a
    /// secret to re-read, once more with the login it holds now.
    async fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        match self.connect_once().await {
            Err(err) if is_login_refused(&err) && self.reread_login().await => {
                self.connect_once().await
            }
            other => other,
        }
    }

    /// Replaces the login with the secret's if it changed; whether it did.
    async fn reread_login(&self) -> bool {
        let Some(rotation) = &self.rotation else {
            return false;
        };
        match rotation.reread().await {
            Ok(Some((user, password))) => {
                let mut login = self.login.lock().unwrap_or_else(|p| p.into_inner());
                let changed = login.0 != user || login.1 != password;
                if changed {
                    tracing::info!(%user, "the database password was rotated: using the secret's new one");
                    *login = (user, password);
                }
                changed
            }
            Ok(None) => false,
            Err(err) => {
                tracing::warn!(error = %err, "re-reading the database secret failed");
                false
            }
        }
    }

    /// A new connection, its I/O driven by a task of its own.
    async fn connect_once(&self) -> Result<Client, tokio_postgres::Error> {
        let mut config = self.settings.client_config();
        {
            let login = self.login.lock().unwrap_or_else(|p| p.into_inner());
            config.user(&login.0).password(&login.1);
        }
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::warn!(error = %err, "PostgreSQL connection ended");
                    }
                });
                client
            }
            None => {
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::warn!(error = %err, "PostgreSQL connection ended");
                    }
                });
                client
            }
        };
        Ok(client)
    }

    async fn start_session(&self, client: &Client) -> Result<(), tokio_postgres::Error> {
        if let Some(role) = &self.settings.app_role {
            // A checked identifier (PgSettings::check).
            client.batch_execute(&format!("SET ROLE {role}")).await?;
        }
        Ok(())
    }

    /// A working connection: an idle one (checked if it sat for a while),
    /// or a new one.
    async fn conn(&self, operation: &'static str) -> Result<Conn<'_>, StoreError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::backend(operation, "the pool is closed"))?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let client = match idle {
                Some(idle) if idle.client.is_closed() => continue,
                Some(idle) if idle.since.elapsed() > VERIFY_AFTER_IDLE => {
                    match idle.client.simple_query("SELECT 1").await {
                        Ok(_) => idle.client,
                        Err(err) => {
                            tracing::info!(error = %err, "an idle PostgreSQL connection failed its check; reconnecting");
                            continue;
                        }
                    }
                }
                Some(idle) => idle.client,
                None => {
                    let client = self
                        .connect()
                        .await
                        .map_err(|err| StoreError::backend(operation, self.describe(&err)))?;
                    self.start_session(&client)
                        .await
                        .map_err(|err| backend(operation, &err))?;
                    client
                }
            };
            return Ok(Conn {
                store: self,
                client: Some(client),
                broken: false,
                _permit: permit,
            });
        }
    }

    /// The role the app's queries run as (`current_user`).
    pub async fn session_role(&self) -> Result<String, StoreError> {
        let mut conn = self.conn("session role").await?;
        match conn
            .client()
            .query_one("SELECT current_user::text", &[])
            .await
        {
            Ok(row) => Ok(row.get(0)),
            Err(err) => Err(conn.fail("session role", err)),
        }
    }

    async fn create_product_(&self, product: &Product) -> Result<(), StoreError> {
        const OP: &str = "create product";
        let mut conn = self.conn(OP).await?;
        let result = conn
            .client()
            .execute(
                "INSERT INTO products (id, sku, name, description, price_cents, stock, version,
                                       created_at, updated_at, sku_lower, name_lower)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &product.id,
                    &product.sku,
                    &product.name,
                    &product.description,
                    &product.price_cents,
                    &product.stock,
                    &(product.version as i64),
                    &product.created_at,
                    &product.updated_at,
                    &product.sku.to_lowercase(),
                    &product.name.to_lowercase(),
                ],
            )
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match unique_violation(&err) {
                Some("products_sku_key") => {
                    Err(duplicate_sku(conn.client(), &product.sku, OP).await)
                }
                Some(_) => Err(StoreError::backend(
                    OP,
                    format!("id {} exists already", product.id),
                )),
                None => Err(conn.fail(OP, err)),
            },
        }
    }

    async fn update_product_(
        &self,
        id: &str,
        expected_version: u64,
        changes: &ProductChanges,
        now_ms: i64,
    ) -> Result<Product, StoreError> {
        const OP: &str = "update product";
        let mut conn = self.conn(OP).await?;
        let sku_lower = changes.sku.as_deref().map(str::to_lowercase);
        let name_lower = changes.name.as_deref().map(str::to_lowercase);
        let result = conn
            .client()
            .query_opt(
                &format!(
                    "UPDATE products SET
                         sku = coalesce($3, sku), sku_lower = coalesce($4, sku_lower),
                         name = coalesce($5, name), name_lower = coalesce($6, name_lower),
                         description = coalesce($7, description),
                         price_cents = coalesce($8, price_cents), stock = coalesce($9, stock),
                         version = version + 1, updated_at = $10
                     WHERE id = $1 AND version = $2
                     RETURNING {PRODUCT_COLUMNS}"
                ),
                &[
                    &id,
                    &(expected_version as i64),
                    &changes.sku,
                    &sku_lower,
                    &changes.name,
                    &name_lower,
                    &changes.description,
                    &changes.price_cents,
                    &changes.stock,
                    &now_ms,
                ],
            )
            .await;
        match result {
            Ok(Some(row)) => Ok(product_from(&row)),
            Ok(None) => {
                let current = conn
                    .client()
                    .query_opt("SELECT version FROM products WHERE id = $1", &[&id])
                    .await;
                match current {
                    Ok(None) => Err(StoreError::ProductNotFound(id.to_owned())),
                    Ok(Some(row)) => Err(StoreError::VersionMismatch {
                        id: id.to_owned(),
                        expected: expected_version,
                        current: row.get::<_, i64>(0) as u64,
                    }),
                    Err(err) => Err(conn.fail(OP, err)),
                }
            }
            Err(err) if unique_violation(&err) == Some("products_sku_key") => {
                let sku = changes.sku.as_deref().unwrap_or_default();
                Err(duplicate_sku(conn.client(), sku, OP).await)
            }
            Err(err) => Err(conn.fail(OP, err)),
        }
    }

    async fn get_product_(&self, id: &str) -> Result<Option<Product>, StoreError> {
        const OP: &str = "get product";
        let mut conn = self.conn(OP).await?;
        match conn
            .client()
            .query_opt(
                &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"),
                &[&id],
            )
            .await
        {
            Ok(row) => Ok(row.as_ref().map(product_from)),
            Err(err) => Err(conn.fail(OP, err)),
        }
    }

    async fn list_products_(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        const OP: &str = "list products";
        let mut conn = self.conn(OP).await?;
        let search = query.search.as_deref().map(str::to_lowercase);
        let rows = conn
            .client()
            .query(
                &format!(
                    "SELECT {PRODUCT_COLUMNS} FROM products
                     WHERE ($1::text IS NULL OR id > $1)
                       AND ($2::text IS NULL OR strpos(name_lower, $2) > 0 OR strpos(sku_lower, $2) > 0)
                     ORDER BY id
                     LIMIT $3"
                ),
                &[&query.page.after, &search, &fetch_limit(query.page.limit)],
            )
            .await
            .map_err(|err| conn.fail(OP, err))?;
        Ok(page_of(
            rows.iter().map(product_from).collect(),
            query.page.limit,
            |p| &p.id,
        ))
    }

    async fn place_order_(
        &self,
        order_id: &str,
        request: &OrderRequest,
        now_ms: i64,
    ) -> Result<Order, StoreError> {
        const OP: &str = "place order";
        let mut conn = self.conn(OP).await?;
        match place_order_tx(conn.client(), order_id, request, now_ms).await {
            Ok(result) => result,
            Err(err) if unique_violation(&err) == Some("orders_pkey") => Err(StoreError::backend(
                OP,
                format!("id {order_id} exists already"),
            )),
            Err(err) => Err(conn.fail(OP, err)),
        }
    }

    async fn cancel_order_(
        &self,
        id: &str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<CancelOutcome, StoreError> {
        const OP: &str = "cancel order";
        let mut conn = self.conn(OP).await?;
        match cancel_order_tx(conn.client(), id, expected_version, now_ms).await {
            Ok(result) => result,
            Err(err) => Err(conn.fail(OP, err)),
        }
    }

    async fn get_order_(&self, id: &str) -> Result<Option<Order>, StoreError> {
        const OP: &str = "get order";
        let mut conn = self.conn(OP).await?;
        match load_orders(conn.client(), "WHERE id = $1", &[&id]).await {
            Ok(mut orders) => Ok(orders.pop()),
            Err(err) => Err(conn.fail(OP, err)),
        }
    }

    async fn list_orders_(&self, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        const OP: &str = "list orders";
        let mut conn = self.conn(OP).await?;
        let orders = load_orders(
            conn.client(),
            "WHERE ($1::text IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            &[&page.after, &fetch_limit(page.limit)],
        )
        .await
        .map_err(|err| conn.fail(OP, err))?;
        Ok(page_of(orders, page.limit, |o| &o.id))
    }
}

/// One more than the page, to learn whether another follows.
fn fetch_limit(limit: usize) -> i64 {
    limit as i64 + 1
}

fn page_of<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> &String) -> Page<T> {
    let more = items.len() > limit;
    items.truncate(limit);
    Page {
        next_after: if more {
            items.last().map(|i| id(i).clone())
        } else {
            None
        },
        items,
    }
}

fn describe(err: &tokio_postgres::Error) -> String {
    match backend("", err) {
        StoreError::Backend { message, .. } => message,
        other => other.to_string(),
    }
}

/// The constraint a unique violation is about.
fn unique_violation(err: &tokio_postgres::Error) -> Option<&str> {
    let db = err.as_db_error()?;
    (db.code() == &SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

async fn duplicate_sku(client: &Client, sku: &str, operation: &'static str) -> StoreError {
    match client
        .query_opt("SELECT id FROM products WHERE sku = $1", &[&sku])
        .await
    {
        Ok(Some(row)) => StoreError::DuplicateSku {
            sku: sku.to_owned(),
            product_id: row.get(0),
        },
        Ok(None) => StoreError::backend(operation, format!("SKU {sku} was taken, then freed")),
        Err(err) => backend(operation, &err),
    }
}

fn product_from(row: &Row) -> Product {
    Product {
        id: row.get(0),
        sku: row.get(1),
        name: row.get(2),
        description: row.get(3),
        price_cents: row.get(4),
        stock: row.get(5),
        version: row.get::<_, i64>(6) as u64,
        created_at: row.get(7),
        updated_at: row.get(8),
    }
}

type TxResult<T> = Result<Result<T, StoreError>, tokio_postgres::Error>;

async fn place_order_tx(
    client: &mut Client,
    order_id: &str,
    request: &OrderRequest,
    now_ms: i64,
) -> TxResult<Order> {
    let tx = client.transaction().await?;
    let ids: Vec<&str> = request
        .lines
        .iter()
        .map(|l| l.product_id.as_str())
        .collect();
    // Locked in id order: concurrent orders queue here, never in a cycle.
    let locked: HashMap<String, Product> = tx
        .query(
            &format!(
                "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            ),
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| {
            let p = product_from(row);
            (p.id.clone(), p)
        })
        .collect();
    // Every line checked, in the request's order, before anything changes
    // (dropping `tx` rolls back).
    let mut products = Vec::with_capacity(request.lines.len());
    for (line, wanted) in request.lines.iter().enumerate() {
        let Some(product) = locked.get(&wanted.product_id) else {
            return Ok(Err(StoreError::UnknownProduct {
                line,
                product_id: wanted.product_id.clone(),
            }));
        };
        if product.stock < wanted.quantity {
            return Ok(Err(StoreError::InsufficientStock {
                line,
                product_id: product.id.clone(),
                sku: product.sku.clone(),
                name: product.name.clone(),
                requested: wanted.quantity,
                available: product.stock,
            }));
        }
        products.push(product);
    }
    let order = Order::placed(order_id.to_owned(), &request.lines, &products, now_ms);
    let quantities: Vec<i64> = request.lines.iter().map(|l| l.quantity).collect();
    tx.execute(
        "UPDATE products AS p
         SET stock = p.stock - l.quantity, version = p.version + 1, updated_at = $3
         FROM unnest($1::text[], $2::bigint[]) AS l (id, quantity)
         WHERE p.id = l.id",
        &[&ids, &quantities, &now_ms],
    )
    .await?;
    tx.execute(
        "INSERT INTO orders (id, status, total_cents, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &order.id,
            &order.status.as_str(),
            &order.total_cents,
            &(order.version as i64),
            &order.created_at,
            &order.updated_at,
        ],
    )
    .await?;
    let line_nos: Vec<i32> = (0..order.lines.len() as i32).collect();
    let skus: Vec<&str> = order.lines.iter().map(|l| l.sku.as_str()).collect();
    let names: Vec<&str> = order.lines.iter().map(|l| l.name.as_str()).collect();
    let prices: Vec<i64> = order.lines.iter().map(|l| l.unit_price_cents).collect();
    let totals: Vec<i64> = order.lines.iter().map(|l| l.line_total_cents).collect();
    tx.execute(
        "INSERT INTO order_lines (order_id, line_no, product_id, sku, name, quantity,
                                  unit_price_cents, line_total_cents)
         SELECT $1, l.line_no, l.product_id, l.sku, l.name, l.quantity, l.price, l.total
         FROM unnest($2::integer[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::bigint[], $8::bigint[])
              AS l (line_no, product_id, sku, name, quantity, price, total)",
        &[
            &order.id,
            &line_nos,
            &ids,
            &skus,
            &names,
            &quantities,
            &prices,
            &totals,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(order))
}

async fn cancel_order_tx(
    client: &mut Client,
    id: &str,
    expected_version: Option<u64>,
    now_ms: i64,
) -> TxResult<CancelOutcome> {
    let tx = client.transaction().await?;
    // The order's row lock makes concurrent cancels queue: the first
    // cancels, the others then find it cancelled.
    let Some(row) = tx
        .query_opt(
            "SELECT status, version FROM orders WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
    else {
        return Ok(Err(StoreError::OrderNotFound(id.to_owned())));
    };
    let (status, version): (String, i64) = (row.get(0), row.get(1));
    if status == OrderStatus::Cancelled.as_str() {
        let order = load_orders(&tx, "WHERE id = $1", &[&id]).await?.pop();
        return Ok(order
            .map(CancelOutcome::AlreadyCancelled)
            .ok_or_else(|| StoreError::OrderNotFound(id.to_owned())));
    }
    if let Some(expected) = expected_version.filter(|v| *v as i64 != version) {
        return Ok(Err(StoreError::VersionMismatch {
            id: id.to_owned(),
            expected,
            current: version as u64,
        }));
    }
    tx.execute(
        "SELECT 1 FROM products
         WHERE id IN (SELECT product_id FROM order_lines WHERE order_id = $1)
         ORDER BY id FOR UPDATE",
        &[&id],
    )
    .await?;
    tx.execute(
        "UPDATE products AS p
         SET stock = p.stock + l.quantity, version = p.version + 1, updated_at = $2
         FROM order_lines AS l
         WHERE l.order_id = $1 AND p.id = l.product_id",
        &[&id, &now_ms],
    )
    .await?;
    tx.execute(
        "UPDATE orders SET status = $2, version = version + 1, updated_at = $3 WHERE id = $1",
        &[&id, &OrderStatus::Cancelled.as_str(), &now_ms],
    )
    .await?;
    let order = load_orders(&tx, "WHERE id = $1", &[&id]).await?.pop();
    tx.commit().await?;
    Ok(order
        .map(CancelOutcome::Cancelled)
        .ok_or_else(|| StoreError::OrderNotFound(id.to_owned())))
}

/// Orders chosen by `filter` (a `WHERE`, maybe with `ORDER BY`/`LIMIT`), in
/// its order, with their lines.
async fn load_orders<C: tokio_postgres::GenericClient>(
    client: &C,
    filter: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Order>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {ORDER_COLUMNS} FROM orders {filter}"),
            params,
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut lines: HashMap<String, Vec<OrderLine>> = HashMap::new();
    for row in client
        .query(
            &format!(
                "SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id = ANY($1)
                 ORDER BY order_id, line_no"
            ),
            &[&ids],
        )
        .await?
    {
        lines.entry(row.get(0)).or_default().push(OrderLine {
            product_id: row.get(1),
            sku: row.get(2),
            name: row.get(3),
            quantity: row.get(4),
            unit_price_cents: row.get(5),
            line_total_cents: row.get(6),
        });
    }
    Ok(rows
        .iter()
        .map(|row| {
            let id: String = row.get(0);
            let status: String = row.get(1);
            Order {
                lines: lines.remove(&id).unwrap_or_default(),
                id,
                status: if status == OrderStatus::Cancelled.as_str() {
                    OrderStatus::Cancelled
                } else {
                    OrderStatus::Placed
                },
                total_cents: row.get(2),
                version: row.get::<_, i64>(3) as u64,
                created_at: row.get(4),
                updated_at: row.get(5),
            }
        })
        .collect())
}

impl DataStore for PostgresStore {
    fn create_product<'a>(&'a self, product: &'a Product) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.create_product_(product))
    }

    fn get_product<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Product>, StoreError>> {
        Box::pin(self.get_product_(id))
    }

    fn update_product<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        changes: &'a ProductChanges,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Product, StoreError>> {
        Box::pin(self.update_product_(id, expected_version, changes, now_ms))
    }

    fn list_products<'a>(
        &'a self,
        query: &'a ProductQuery,
    ) -> BoxFuture<'a, Result<Page<Product>, StoreError>> {
        Box::pin(self.list_products_(query))
    }

    fn place_order<'a>(
        &'a self,
        order_id: &'a str,
        request: &'a OrderRequest,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Order, StoreError>> {
        Box::pin(self.place_order_(order_id, request, now_ms))
    }

    fn cancel_order<'a>(
        &'a self,
        id: &'a str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<CancelOutcome, StoreError>> {
        Box::pin(self.cancel_order_(id, expected_version, now_ms))
    }

    fn get_order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, StoreError>> {
        Box::pin(self.get_order_(id))
    }

    fn list_orders<'a>(
        &'a self,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Order>, StoreError>> {
        Box::pin(self.list_orders_(page))
    }
}
