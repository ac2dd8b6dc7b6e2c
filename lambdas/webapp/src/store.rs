//! The data tier as one trait, [`DataStore`], that the app tier is written
//! against; [`crate::memory`] implements it in process, [`crate::postgres`]
//! on PostgreSQL, [`crate::dynamodb`] on one DynamoDB table.
//!
//! The trait is shaped so that a transactional database and DynamoDB can
//! both keep its promises without a lock held across calls:
//!
//! - **Conditional writes carry the expected state.** An update names the
//!   version it was based on; PostgreSQL makes it
//!   `UPDATE products SET ..., version = version + 1 WHERE id = $1 AND version = $2`,
//!   DynamoDB a `PutItem`/`UpdateItem` with `ConditionExpression: version = :v`.
//!   Zero rows / `ConditionalCheckFailed` then means "stale" (or gone).
//! - **Placing an order is one transaction over every line.** PostgreSQL:
//!   in one transaction, `SELECT ... FOR UPDATE` the products (in id order,
//!   so two orders never wait on each other in a cycle) or run
//!   `UPDATE products SET stock = stock - $q ... WHERE id = $1 AND stock >= $q`
//!   per line, insert the order, commit; any short line rolls it all back.
//!   DynamoDB (one table, `pk`/`sk`): `TransactWriteItems` with one
//!   `Update` per line (`stock >= :q AND price_cents = :p`, the price read
//!   just before; a changed price fails the condition and the store
//!   retries with the new one) and a `Put` of the order
//!   (`attribute_not_exists(pk)`); the cancellation reasons say which line
//!   failed. At most [`crate::validate::MAX_ORDER_LINES`] lines keeps the
//!   transaction under DynamoDB's 100 items.
//! - **Cancelling gives the stock back exactly once**: the status change
//!   `placed` → `cancelled` and the stock increments are one transaction
//!   conditioned on the status still being `placed`. A repeated or
//!   concurrent cancel finds it `cancelled` and changes nothing.
//! - **Lists are keyset pages**: "the next `limit` items after id X" (ids
//!   sort by creation), a primary key range in PostgreSQL and
//!   `ExclusiveStartKey` on the sort key in DynamoDB; no offsets, so a page
//!   costs the same however deep it is and inserts do not shift pages.
//!
//! Methods return boxed futures so the trait stays object safe: the app
//! tier holds an `Arc<dyn DataStore>` chosen at start-up.

use std::future::Future;
use std::pin::Pin;

use crate::model::{Order, OrderRequest, Product, ProductChanges};

/// A `Send` future borrowed for `'a`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store call did not do what was asked. All but
/// [`StoreError::Backend`] are answers about the data (the API turns them
/// into 4xx); `Backend` means the store itself failed (503, details logged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("there is no product {0}")]
    ProductNotFound(String),
    #[error("there is no order {0}")]
    OrderNotFound(String),
    #[error("SKU {sku} is already used by product {product_id}")]
    DuplicateSku { sku: String, product_id: String },
    /// The record changed since the version the caller read.
    #[error("{id} is at version {current}, not {expected}: it changed since you read it")]
    VersionMismatch {
        id: String,
        expected: u64,
        current: u64,
    },
    /// An order line names a product that does not exist; nothing was
    /// reserved. `line` is the index into the request's lines.
    #[error("line {line}: there is no product {product_id}")]
    UnknownProduct { line: usize, product_id: String },
    /// An order line asks for more than is in stock; nothing was reserved.
    #[error("not enough stock of {sku} ({name}): {requested} requested, {available} available")]
    InsufficientStock {
        line: usize,
        product_id: String,
        sku: String,
        name: String,
        requested: i64,
        available: i64,
    },
    #[error("{operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
}

impl StoreError {
    pub fn backend(operation: &'static str, message: impl Into<String>) -> Self {
        Self::Backend {
            operation,
            message: message.into(),
        }
    }
}

/// Which page of a list: at most `limit` items after the item with id
/// `after` (in the list's order), or from the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

/// A product listing: a page, optionally only products whose name or SKU
/// contains `search` (see [`product_matches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    pub page: PageRequest,
    pub search: Option<String>,
}

/// One page of a list. `next_after` is the id to pass as
/// [`PageRequest::after`] for the next page; `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

/// What cancelling did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The order was placed; it is cancelled now and its stock is back.
    Cancelled(Order),
    /// It was cancelled before; nothing changed.
    AlreadyCancelled(Order),
}

impl CancelOutcome {
    pub fn order(&self) -> &Order {
        match self {
            Self::Cancelled(order) | Self::AlreadyCancelled(order) => order,
        }
    }

    pub fn into_order(self) -> Order {
        match self {
            Self::Cancelled(order) | Self::AlreadyCancelled(order) => order,
        }
    }
}

/// The search rule every store follows: `search` occurs in the product's
/// name or SKU, ignoring case. (PostgreSQL: `lower(name) LIKE '%' || $q ||
/// '%'` with `%`, `_` and `\` escaped; DynamoDB: `contains` on stored
/// lower-cased copies, as a filter on the page query.)
pub fn product_matches(product: &Product, search: &str) -> bool {
    let search = search.to_lowercase();
    product.name.to_lowercase().contains(&search) || product.sku.to_lowercase().contains(&search)
}

/// The data tier.
pub trait DataStore: Send + Sync {
    /// Stores a new product (version 1). [`StoreError::DuplicateSku`] if
    /// another product has its SKU; the check and the write are one atomic
    /// step (a unique index; in DynamoDB a `SKU#` item written in the same
    /// transaction).
    fn create_product<'a>(&'a self, product: &'a Product) -> BoxFuture<'a, Result<(), StoreError>>;

    fn get_product<'a>(&'a self, id: &'a str)
    -> BoxFuture<'a, Result<Option<Product>, StoreError>>;

    /// Applies `changes` if the product is still at `expected_version`, and
    /// returns the new version. [`StoreError::VersionMismatch`] (with the
    /// current version) if it moved on, [`StoreError::ProductNotFound`],
    /// or [`StoreError::DuplicateSku`] for a SKU change onto a taken SKU.
    fn update_product<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        changes: &'a ProductChanges,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Product, StoreError>>;

    /// Products in id order (oldest first).
    fn list_products<'a>(
        &'a self,
        query: &'a ProductQuery,
    ) -> BoxFuture<'a, Result<Page<Product>, StoreError>>;

    /// Reserves the stock of every line and records the order under
    /// `order_id`, all at once, at each product's current price; or, if any
    /// line is refused ([`StoreError::UnknownProduct`],
    /// [`StoreError::InsufficientStock`] naming the first such line),
    /// changes nothing at all. Each reservation is a change of the product,
    /// so its version grows by one.
    fn place_order<'a>(
        &'a self,
        order_id: &'a str,
        request: &'a OrderRequest,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Order, StoreError>>;

    /// Cancels a placed order and puts its stock back, exactly once (see
    /// [`CancelOutcome`]). With `expected_version`, a placed order at another
    /// version is [`StoreError::VersionMismatch`]. Stock goes back to
    /// products as they are now (their versions grow by one).
    fn cancel_order<'a>(
        &'a self,
        id: &'a str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<CancelOutcome, StoreError>>;

    fn get_order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, StoreError>>;

    /// Orders newest first.
    fn list_orders<'a>(
        &'a self,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Order>, StoreError>>;
}
