//! [`DataStore`] on one DynamoDB table (`app_table` of
//! `blueprints/three-tier.yaml`: partition key `pk` S, sort key `sk` S, no
//! secondary indexes).
//!
//! # Items
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | product | `PRODUCTS` | product id | `sku`, `sku_lower`, `name`, `name_lower`, `description`, `price_cents`, `stock`, `version`, `created_at`, `updated_at` |
//! | order | `ORDERS` | order id | `status`, `lines` (list of maps: `product_id`, `sku`, `name`, `quantity`, `unit_price_cents`, `line_total_cents`), `total_cents`, `version`, `created_at`, `updated_at` |
//! | SKU | `SKU#<sku>` | `SKU` | `product_id` (the product that has the SKU) |
//!
//! Lists are Queries of one partition: products oldest first (ids sort by
//! creation), orders newest first (`ScanIndexForward=false`); a page after
//! id X is the key condition `sk > X` (`sk < X` for orders), continued
//! with `ExclusiveStartKey` when a filter or the 1 MB limit cut a query
//! short. Search is a `FilterExpression` of `contains` on the lower-cased
//! copies (so it reads, and pays for, the products it skips).
//!
//! **Why two list partitions are fine here.** Every product read and write
//! goes to partition key `PRODUCTS`, every order to `ORDERS`. One
//! partition key serves about 3,000 reads and 1,000 writes (of 1 KB) per
//! second, and, without local secondary indexes, DynamoDB splits a busy
//! key's sort-key range across partitions ("split for heat") and has no
//! 10 GB item-collection limit. Product traffic is spread over many sort
//! keys, so it splits well; a single hot product is limited by its one item
//! (about 1,000 writes/s) whatever the layout. Order writes always land
//! at the end of the ULID range, which splitting does not spread, so
//! placing orders tops out at roughly 1,000 write units per second
//! (a few hundred orders/s; each order also writes its products'
//! items, and transactions cost double). That is far above what this
//! blueprint's app is sized for; past it, write orders under `ORDERS#<n>`
//! shards and merge the shards' pages. The alternative without GSIs, a
//! partition per record plus list items, doubles every write for no gain.
//!
//! # How each promise of [`crate::store`] is kept
//!
//! - **Create**: one `TransactWriteItems`: `Put` of the product
//!   (`attribute_not_exists(pk)`) and `Put` of its SKU item
//!   (`attribute_not_exists(pk)`); a failed SKU put is
//!   [`StoreError::DuplicateSku`] naming the product in the SKU item.
//! - **Update**: `UpdateItem` with `version = :v`; on a failed condition the
//!   item as it was (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) gives
//!   the current version, or its absence says the product is gone. A SKU
//!   change is a transaction: the update, a `Put` of the new SKU item
//!   (`attribute_not_exists(pk)`) and a `Delete` of the old one
//!   (`product_id = :id`).
//! - **Orders**: the products are read (`BatchGetItem`, consistent), every
//!   line checked in order (an unknown or short line refuses the order
//!   without writing), then one `TransactWriteItems`: per line an `Update`
//!   taking the stock with `stock >= :q AND price_cents = :p` (the price
//!   just read), and a `Put` of the order (`attribute_not_exists(pk)`). A
//!   cancelled transaction is classified by [`errors::place_order_verdict`]
//!   from each line's item as it was: short is
//!   [`StoreError::InsufficientStock`] (the first such line); a changed
//!   price is re-read and retried (at most [`errors::MAX_STALE_RETRIES`]
//!   times); a `TransactionConflict` with another order is retried after
//!   a jittered backoff (at most [`errors::MAX_CONFLICT_RETRIES`] times).
//! - **Cancel**: one transaction: the order's `Update` to `cancelled`
//!   conditioned on `status = placed AND version = :v`, and per line an
//!   `Update` giving the stock back. A concurrent cancel fails the
//!   condition, re-reads, and answers [`CancelOutcome::AlreadyCancelled`].
//! - Every read is strongly consistent: a client that just wrote reads
//!   its write, as with the other stores.
//! - Order and product creation send a client request token (the id and
//!   the try), so the SDK's own retry of a transaction that did commit is
//!   answered as a success, not as "exists already".

pub mod errors;
pub mod item;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, KeysAndAttributes, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::model::{Order, OrderRequest, OrderStatus, Product, ProductChanges};
use crate::store::{
    BoxFuture, CancelOutcome, DataStore, Page, PageRequest, ProductQuery, StoreError,
};
use errors::{
    Retries, TxFailure, Verdict, backend, cancel_order_verdict, change_sku_verdict,
    create_product_verdict, insufficient, is_transaction_conflict, place_order_verdict, tx_failure,
};
use item::{
    Item, ORDERS_PK, PRODUCTS_PK, n, order_from, order_item, order_key, product_from, product_item,
    product_key, s, sku_item, sku_key,
};

/// The environment variable naming the table (the blueprint sets it).
pub const TABLE_NAME_ENV: &str = "TABLE_NAME";

/// Items a filtered product query reads per request at least (a filter
/// drops items after the limit counted them).
const FILTERED_QUERY_LIMIT: usize = 100;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store on `table` with the SDK's default configuration (region,
    /// credentials, and `AWS_ENDPOINT_URL` when set).
    pub async fn connect(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(Client::new(&config), table)
    }

    /// [`Self::connect`] to the table named by `TABLE_NAME`; an error
    /// message when it is unset or empty.
    pub async fn from_env() -> Result<Self, String> {
        match std::env::var(TABLE_NAME_ENV) {
            Ok(table) if !table.trim().is_empty() => Ok(Self::connect(table.trim()).await),
            _ => Err(format!(
                "the DynamoDB store needs its table: set {TABLE_NAME_ENV}"
            )),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One read (a key that never exists), to learn at start-up that the
    /// table, the credentials and the endpoint work, with only the rights
    /// the store needs anyway (`dynamodb:GetItem`).
    pub async fn check(&self) -> Result<(), StoreError> {
        self.get("check the table", item::key("CHECK", "CHECK"))
            .await
            .map(drop)
            .map_err(|err| match err {
                StoreError::Backend { message, .. } => StoreError::backend(
                    "check the table",
                    format!("cannot read DynamoDB table {}: {message}", self.table),
                ),
                other => other,
            })
    }

    async fn get(&self, operation: &'static str, key: Item) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|err| backend(operation, err))
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: Option<String>,
    ) -> Result<(), TxFailure> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_client_request_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(tx_failure)
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| backend("build a transaction", err))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(&self, key: Item, expr: Expression) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expr.update)
            .condition_expression(expr.condition)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|err| backend("build a transaction", err))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn create_product_(&self, product: &Product) -> Result<(), StoreError> {
        const OP: &str = "create product";
        let mut retries = Retries::default();
        loop {
            let items = vec![
                self.put(product_item(product), "attribute_not_exists(pk)")?,
                self.put(
                    sku_item(&product.sku, &product.id),
                    "attribute_not_exists(pk)",
                )?,
            ];
            let token = request_token(&product.id, &retries);
            let failure = match self.transact(items, Some(token)).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            if let Some(()) = settle(OP, &mut retries, failure, |reasons| {
                create_product_verdict(reasons, product)
            })
            .await?
            {
                return Ok(());
            }
        }
    }

    async fn get_product_(&self, id: &str) -> Result<Option<Product>, StoreError> {
        self.get("get product", product_key(id))
            .await?
            .as_ref()
            .map(product_from)
            .transpose()
    }

    async fn update_product_(
        &self,
        id: &str,
        expected_version: u64,
        changes: &ProductChanges,
        now_ms: i64,
    ) -> Result<Product, StoreError> {
        const OP: &str = "update product";
        let mut retries = Retries::default();
        loop {
            if let Some(new_sku) = &changes.sku {
                // The old SKU item must go in the same transaction, so
                // read which SKU that is.
                let current = self
                    .get_product_(id)
                    .await?
                    .ok_or_else(|| StoreError::ProductNotFound(id.to_owned()))?;
                if current.version != expected_version {
                    return Err(StoreError::VersionMismatch {
                        id: id.to_owned(),
                        expected: expected_version,
                        current: current.version,
                    });
                }
                if current.sku != *new_sku {
                    let mut update = Expression::product_changes(changes, now_ms);
                    update.value(":expected", n(expected_version));
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(sku_key(&current.sku)))
                        .condition_expression("product_id = :id")
                        .expression_attribute_values(":id", s(id))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .map_err(|err| backend("build a transaction", err))?;
                    let items = vec![
                        self.update(product_key(id), update)?,
                        self.put(sku_item(new_sku, id), "attribute_not_exists(pk)")?,
                        TransactWriteItem::builder().delete(delete).build(),
                    ];
                    let failure = match self.transact(items, None).await {
                        Ok(()) => return Ok(current.changed(changes, now_ms)),
                        Err(failure) => failure,
                    };
                    settle(OP, &mut retries, failure, |reasons| {
                        change_sku_verdict(reasons, id, expected_version, new_sku)
                    })
                    .await?;
                    continue;
                }
            }
            let mut expr = Expression::product_changes(changes, now_ms);
            expr.condition = "attribute_exists(pk) AND #version = :expected".into();
            expr.value(":expected", n(expected_version));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(product_key(id)))
                .update_expression(expr.update)
                .condition_expression(expr.condition)
                .set_expression_attribute_names(Some(expr.names))
                .set_expression_attribute_values(Some(expr.values))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(out) => {
                    let item = out.attributes.unwrap_or_default();
                    return product_from(&item);
                }
                Err(err) => match err.as_service_error() {
                    Some(
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                            failed,
                        ),
                    ) => {
                        return match failed.item() {
                            Some(item) => Err(StoreError::VersionMismatch {
                                id: id.to_owned(),
                                expected: expected_version,
                                current: product_from(item)?.version,
                            }),
                            None => Err(StoreError::ProductNotFound(id.to_owned())),
                        };
                    }
                    Some(service) if is_transaction_conflict(service) => {
                        retries.after_conflict(OP).await?;
                    }
                    _ => return Err(backend(OP, err)),
                },
            }
        }
    }

    /// The items of one partition in sort-key order (`forward`) or reverse,
    /// after `after` when given, that pass `filter`: up to `want` of them.
    async fn query_partition(
        &self,
        operation: &'static str,
        pk: &str,
        after: Option<&str>,
        forward: bool,
        filter: Option<(&str, Item)>,
        want: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut values = HashMap::from([(":pk".to_owned(), s(pk))]);
        let key_condition = match after {
            Some(after) => {
                values.insert(":after".into(), s(after));
                if forward {
                    "pk = :pk AND sk > :after"
                } else {
                    "pk = :pk AND sk < :after"
                }
            }
            None => "pk = :pk",
        };
        let filter_expression = filter.map(|(expr, filter_values)| {
            values.extend(filter_values);
            expr.to_owned()
        });
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let needed = want - items.len();
            let limit = if filter_expression.is_some() {
                needed.max(FILTERED_QUERY_LIMIT)
            } else {
                needed
            };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_condition)
                .set_filter_expression(filter_expression.clone())
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(forward)
                .consistent_read(true)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| backend(operation, err))?;
            for item in out.items.unwrap_or_default() {
                if items.len() < want {
                    items.push(item);
                }
            }
            match out.last_evaluated_key {
                Some(key) if items.len() < want => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn list_products_(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let search = query
            .search
            .as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.is_empty());
        let filter = search.map(|q| {
            (
                "contains(name_lower, :q) OR contains(sku_lower, :q)",
                HashMap::from([(":q".to_owned(), s(q))]),
            )
        });
        let items = self
            .query_partition(
                "list products",
                PRODUCTS_PK,
                query.page.after.as_deref(),
                true,
                filter,
                query.page.limit + 1,
            )
            .await?;
        let products = items
            .iter()
            .map(product_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(products, query.page.limit, |p| &p.id))
    }

    /// The products of `ids`, by id (absent ones left out), read
    /// consistently in one `BatchGetItem` (and more for unprocessed keys).
    async fn read_products(
        &self,
        operation: &'static str,
        ids: &[&str],
    ) -> Result<HashMap<String, Product>, StoreError> {
        let mut keys: Vec<Item> = ids.iter().map(|id| product_key(id)).collect();
        let mut products = HashMap::new();
        let mut retries = Retries::default();
        while !keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|err| backend(operation, err))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|err| backend(operation, err))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let product = product_from(&item)?;
                products.insert(product.id.clone(), product);
            }
            if let Some(unprocessed) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table))
            {
                keys = unprocessed.keys;
                if !keys.is_empty() {
                    retries.after_conflict(operation).await?;
                }
            }
        }
        Ok(products)
    }

    async fn place_order_(
        &self,
        order_id: &str,
        request: &OrderRequest,
        now_ms: i64,
    ) -> Result<Order, StoreError> {
        const OP: &str = "place order";
        let ids: Vec<&str> = request
            .lines
            .iter()
            .map(|l| l.product_id.as_str())
            .collect();
        let mut retries = Retries::default();
        loop {
            let read = self.read_products(OP, &ids).await?;
            // Every line checked, in order, before anything is written: a
            // refusal from a consistent read needs no transaction.
            let mut products = Vec::with_capacity(request.lines.len());
            for (line, wanted) in request.lines.iter().enumerate() {
                let product =
                    read.get(&wanted.product_id)
                        .ok_or_else(|| StoreError::UnknownProduct {
                            line,
                            product_id: wanted.product_id.clone(),
                        })?;
                if product.stock < wanted.quantity {
                    return Err(insufficient(line, product, wanted.quantity));
                }
                products.push(product);
            }
            let order = Order::placed(order_id.to_owned(), &request.lines, &products, now_ms);
            let mut items = Vec::with_capacity(request.lines.len() + 1);
            for (wanted, product) in request.lines.iter().zip(&products) {
                let mut expr = Expression::new(
                    "SET #stock = #stock - :q, #version = #version + :one, #updated_at = :now",
                    "#stock >= :q AND #price_cents = :p",
                );
                expr.value(":q", n(wanted.quantity));
                expr.value(":p", n(product.price_cents));
                expr.value(":one", n(1));
                expr.value(":now", n(now_ms));
                items.push(self.update(product_key(&product.id), expr)?);
            }
            items.push(self.put(order_item(&order), "attribute_not_exists(pk)")?);
            let token = request_token(order_id, &retries);
            let failure = match self.transact(items, Some(token)).await {
                Ok(()) => return Ok(order),
                Err(failure) => failure,
            };
            if let Some(order) = settle(OP, &mut retries, failure, |reasons| {
                place_order_verdict(reasons, request, &order)
            })
            .await?
            {
                return Ok(order);
            }
        }
    }

    async fn get_order_(&self, id: &str) -> Result<Option<Order>, StoreError> {
        self.get("get order", order_key(id))
            .await?
            .as_ref()
            .map(order_from)
            .transpose()
    }

    async fn cancel_order_(
        &self,
        id: &str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<CancelOutcome, StoreError> {
        const OP: &str = "cancel order";
        let mut retries = Retries::default();
        loop {
            let order = self
                .get_order_(id)
                .await?
                .ok_or_else(|| StoreError::OrderNotFound(id.to_owned()))?;
            if order.status == OrderStatus::Cancelled {
                return Ok(CancelOutcome::AlreadyCancelled(order));
            }
            if let Some(expected) = expected_version.filter(|v| *v != order.version) {
                return Err(StoreError::VersionMismatch {
                    id: id.to_owned(),
                    expected,
                    current: order.version,
                });
            }
            let cancelled = order.cancelled(now_ms);
            let mut status = Expression::new(
                "SET #status = :cancelled, #version = #version + :one, #updated_at = :now",
                "#status = :placed AND #version = :v",
            );
            status.value(":cancelled", s(OrderStatus::Cancelled.as_str()));
            status.value(":placed", s(OrderStatus::Placed.as_str()));
            status.value(":v", n(order.version));
            status.value(":one", n(1));
            status.value(":now", n(now_ms));
            let mut items = vec![self.update(order_key(id), status)?];
            for line in &order.lines {
                let mut expr = Expression::new(
                    "SET #stock = #stock + :q, #version = #version + :one, #updated_at = :now",
                    "attribute_exists(pk)",
                );
                expr.value(":q", n(line.quantity));
                expr.value(":one", n(1));
                expr.value(":now", n(now_ms));
                items.push(self.update(product_key(&line.product_id), expr)?);
            }
            // No client token: two cancels sent with the same one would
            // both hear "done" and both answer Cancelled.
            let failure = match self.transact(items, None).await {
                Ok(()) => return Ok(CancelOutcome::Cancelled(cancelled)),
                Err(failure) => failure,
            };
            settle(OP, &mut retries, failure, cancel_order_verdict).await?;
        }
    }

    async fn list_orders_(&self, page: &PageRequest) -> Result<Page<Order>, StoreError> {
        let items = self
            .query_partition(
                "list orders",
                ORDERS_PK,
                page.after.as_deref(),
                false,
                None,
                page.limit + 1,
            )
            .await?;
        let orders = items
            .iter()
            .map(order_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(orders, page.limit, |o| &o.id))
    }
}

/// A client request token for one try of a call about `id` (at most 36
/// characters: ids are 30).
fn request_token(id: &str, retries: &Retries) -> String {
    format!("{id}-{}", retries.attempt())
}

/// What a failed transaction leads to: `Ok(Some(_))` done after all,
/// `Ok(None)` try again (after the pause a conflict calls for), `Err` the
/// answer.
async fn settle<T>(
    operation: &'static str,
    retries: &mut Retries,
    failure: TxFailure,
    classify: impl FnOnce(&[errors::Reason]) -> Verdict<T>,
) -> Result<Option<T>, StoreError> {
    let verdict = match failure {
        TxFailure::Cancelled(reasons) => classify(&reasons),
        TxFailure::InProgress => Verdict::RetryAfterConflict,
        TxFailure::Other(message) => Verdict::Fail(StoreError::backend(operation, message)),
    };
    match verdict {
        Verdict::Done(value) => Ok(Some(value)),
        Verdict::Fail(err) => Err(err),
        Verdict::RetryAfterConflict => {
            retries.after_conflict(operation).await?;
            Ok(None)
        }
        Verdict::RetryStale => {
            retries.after_stale(operation)?;
            Ok(None)
        }
    }
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

/// An update with its condition; every attribute is named through `#name`
/// (`name` and `status` are reserved words).
struct Expression {
    update: String,
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn new(update: &str, condition: &str) -> Self {
        let mut expr = Self {
            update: update.to_owned(),
            condition: condition.to_owned(),
            names: HashMap::new(),
            values: HashMap::new(),
        };
        for text in [update, condition] {
            for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#')) {
                if let Some(name) = word.strip_prefix('#') {
                    expr.names.insert(word.to_owned(), name.to_owned());
                }
            }
        }
        expr
    }

    fn value(&mut self, placeholder: &str, value: AttributeValue) {
        self.values.insert(placeholder.to_owned(), value);
    }

    /// `changes` as the next version of a product, conditioned on
    /// `#version = :expected` (the caller adds `:expected`, and may extend
    /// the condition).
    fn product_changes(changes: &ProductChanges, now_ms: i64) -> Self {
        let mut fields: Vec<(&str, AttributeValue)> = vec![("updated_at", n(now_ms))];
        if let Some(sku) = &changes.sku {
            fields.push(("sku", s(sku)));
            fields.push(("sku_lower", s(sku.to_lowercase())));
        }
        if let Some(name) = &changes.name {
            fields.push(("name", s(name)));
            fields.push(("name_lower", s(name.to_lowercase())));
        }
        if let Some(description) = &changes.description {
            fields.push(("description", s(description)));
        }
        if let Some(price) = changes.price_cents {
            fields.push(("price_cents", n(price)));
        }
        if let Some(stock) = changes.stock {
            fields.push(("stock", n(stock)));
        }
        let mut sets = vec!["#version = #version + :one".to_owned()];
        let mut expr = Self::new("", "#version = :expected");
        expr.value(":one", n(1));
        for (attribute, value) in fields {
            sets.push(format!("#{attribute} = :{attribute}"));
            expr.names
                .insert(format!("#{attribute}"), attribute.to_owned());
            expr.value(&format!(":{attribute}"), value);
        }
        expr.update = format!("SET {}", sets.join(", "));
        expr
    }
}

impl DataStore for DynamoStore {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_name_every_attribute() {
        let expr = Expression::new(
            "SET #stock = #stock - :q, #version = #version + :one",
            "#stock >= :q AND #price_cents = :p",
        );
        let mut names: Vec<(&str, &str)> = expr
            .names
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("#price_cents", "price_cents"),
                ("#stock", "stock"),
                ("#version", "version")
            ]
        );
    }

    #[test]
    fn product_changes_set_only_what_changes_with_lower_cased_copies() {
        let changes = ProductChanges {
            name: Some("Big BOLT".into()),
            stock: Some(0),
            ..ProductChanges::default()
        };
        let expr = Expression::product_changes(&changes, 42);
        assert_eq!(
            expr.update,
            "SET #version = #version + :one, #updated_at = :updated_at, #name = :name, \
             #name_lower = :name_lower, #stock = :stock"
        );
        assert_eq!(expr.condition, "#version = :expected");
        assert_eq!(expr.values[":name_lower"], s("big bolt"));
        assert_eq!(expr.values[":stock"], n(0));
        assert_eq!(expr.values[":updated_at"], n(42));
        assert_eq!(expr.names["#name"], "name");
        assert!(!expr.values.contains_key(":sku"));
        // Every placeholder used is defined, and every name.
        for word in expr.update.split([' ', ',']) {
            if word.starts_with(':') {
                assert!(expr.values.contains_key(word), "{word}");
            }
            if word.starts_with('#') {
                assert!(expr.names.contains_key(word), "{word}");
            }
        }
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let page = page_of(vec!["a".to_owned(), "b".into(), "c".into()], 2, |s| s);
        assert_eq!(
            (page.items.len(), page.next_after.as_deref()),
            (2, Some("b"))
        );
        let last = page_of(vec!["a".to_owned()], 2, |s| s);
        assert_eq!(last.next_after, None);
    }
}
