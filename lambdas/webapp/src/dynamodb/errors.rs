//! What the SDK's errors mean for the store: a cancelled transaction's
//! reasons turned into the answer the in-memory store gives
//! ([`StoreError::InsufficientStock`], [`StoreError::DuplicateSku`]...), a
//! retry, or a backend failure; and the bounded, jittered backoff between
//! retries.
//!
//! Every transaction here asks for `ReturnValuesOnConditionCheckFailure:
//! ALL_OLD`, so a failed condition comes with the item as it was; the
//! classification decides from that item alone, and says "retry" (re-read,
//! then try again) whenever the item does not settle the question.

use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use rand::Rng as _;

use super::item::{Item, get_s, order_from, product_from};
use crate::model::{Order, OrderRequest, Product};
use crate::store::StoreError;

/// How often a transaction cancelled by a conflict with another one
/// (`TransactionConflict`) or by throttling is tried again.
pub const MAX_CONFLICT_RETRIES: u32 = 12;
/// How often a write whose condition failed on data that moved on (a
/// price changed between the read and the transaction) is re-read and
/// tried again.
pub const MAX_STALE_RETRIES: u32 = 5;
/// The first backoff's upper bound; it doubles per retry up to
/// [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_CAP: Duration = Duration::from_millis(200);

/// The reason DynamoDB gives for one item of a cancelled transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `None` (the item was fine), `ConditionalCheckFailed`,
    /// `TransactionConflict`, `ThrottlingError`, ...
    pub code: Option<String>,
    /// The item as it was, when its condition failed and it existed.
    pub item: Option<Item>,
}

impl Reason {
    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    fn passed(&self) -> bool {
        matches!(self.code.as_deref(), None | Some("None"))
    }

    fn condition_failed(&self) -> bool {
        self.is("ConditionalCheckFailed")
    }

    /// Worth trying again after a pause: another transaction held the
    /// item, or the partition was throttled.
    fn transient(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "TransactionConflict"
                    | "ThrottlingError"
                    | "ProvisionedThroughputExceeded"
                    | "RequestLimitExceeded"
            )
        )
    }
}

/// Why a `TransactWriteItems` did not commit.
#[derive(Debug, Clone, PartialEq)]
pub enum TxFailure {
    /// Cancelled; one reason per item, in the request's order.
    Cancelled(Vec<Reason>),
    /// Another transaction with the same client token is still running:
    /// pause and try again.
    InProgress,
    /// Anything else (the SDK already retried what it retries).
    Other(String),
}

pub fn tx_failure<R: std::fmt::Debug>(err: SdkError<TransactWriteItemsError, R>) -> TxFailure {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            TxFailure::Cancelled(
                cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| Reason {
                        code: r.code().map(str::to_owned),
                        item: r.item().cloned(),
                    })
                    .collect(),
            )
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => TxFailure::InProgress,
        _ => TxFailure::Other(DisplayErrorContext(err).to_string()),
    }
}

/// An SDK error as a [`StoreError::Backend`] with its whole chain.
pub fn backend<E: std::error::Error + 'static>(operation: &'static str, err: E) -> StoreError {
    StoreError::backend(operation, DisplayErrorContext(err).to_string())
}

/// A single-item write refused because the item is held by a transaction
/// (`TransactionConflictException`): worth a retry after a pause.
pub fn is_transaction_conflict<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("TransactionConflictException")
}

/// What to do after a cancelled transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict<T> {
    /// The answer: a refusal about the data, or a backend failure.
    Fail(StoreError),
    /// It is done after all (an earlier attempt of this very call, which
    /// the caller did not hear about, committed it).
    Done(T),
    /// Pause (jittered backoff) and send it again, re-reading first.
    RetryAfterConflict,
    /// What the transaction was based on moved on: re-read and try again.
    RetryStale,
}

fn unexpected<T>(operation: &'static str, reasons: &[Reason]) -> Verdict<T> {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r.code.as_deref().unwrap_or("None"))
        .collect();
    Verdict::Fail(StoreError::backend(
        operation,
        format!("transaction cancelled: [{}]", codes.join(", ")),
    ))
}

/// After a fixed classification of the particular items, the rest: any
/// reason that is neither fine nor transient is a backend failure; then
/// any transient one means a retry after a pause.
fn remaining<T>(operation: &'static str, reasons: &[Reason]) -> Option<Verdict<T>> {
    if reasons.iter().any(|r| !r.passed() && !r.transient()) {
        return Some(unexpected(operation, reasons));
    }
    reasons
        .iter()
        .any(Reason::transient)
        .then_some(Verdict::RetryAfterConflict)
}

/// Placing `order` for `request` was cancelled: items `0..n` were the
/// line updates (`stock >= :q AND price_cents = :p`), item `n` the put of
/// the order (`attribute_not_exists(pk)`).
///
/// The first line (in the request's order) whose product, as it was,
/// lacked the stock refuses the order, as in the in-memory store. A line
/// whose condition failed while the stock was there (its price changed)
/// or without an item to tell (cannot be: products are never deleted and
/// the line's product was just read) is stale: re-read and retry. The
/// order already there, exactly as this call writes it, means an earlier
/// attempt committed.
pub fn place_order_verdict(
    reasons: &[Reason],
    request: &OrderRequest,
    order: &Order,
) -> Verdict<Order> {
    const OP: &str = "place order";
    let lines = request.lines.len();
    if reasons.len() != lines + 1 {
        return unexpected(OP, reasons);
    }
    let put = &reasons[lines];
    if put.condition_failed() {
        return match put.item.as_ref().map(order_from) {
            Some(Ok(existing)) if existing == *order => Verdict::Done(existing),
            _ => Verdict::Fail(StoreError::backend(
                OP,
                format!("id {} exists already", order.id),
            )),
        };
    }
    let mut stale = false;
    for (line, (wanted, reason)) in request.lines.iter().zip(reasons).enumerate() {
        if !reason.condition_failed() {
            continue;
        }
        match reason.item.as_ref().map(product_from) {
            Some(Ok(product)) if product.stock < wanted.quantity => {
                return Verdict::Fail(insufficient(line, &product, wanted.quantity));
            }
            Some(Err(err)) => return Verdict::Fail(err),
            Some(Ok(_)) | None => stale = true,
        }
    }
    let others: Vec<Reason> = reasons
        .iter()
        .filter(|r| !r.condition_failed())
        .cloned()
        .collect();
    if let Some(verdict) = remaining(OP, &others) {
        return verdict;
    }
    if stale {
        Verdict::RetryStale
    } else {
        unexpected(OP, reasons)
    }
}

pub fn insufficient(line: usize, product: &Product, requested: i64) -> StoreError {
    StoreError::InsufficientStock {
        line,
        product_id: product.id.clone(),
        sku: product.sku.clone(),
        name: product.name.clone(),
        requested,
        available: product.stock,
    }
}

/// Cancelling was cancelled: item 0 was the order's update (`status =
/// placed AND version = :v`), the others the stock given back to each
/// line's product (`attribute_exists(pk)`). A failed order condition means
/// someone else cancelled it (or it moved on): re-read, which answers.
pub fn cancel_order_verdict(reasons: &[Reason]) -> Verdict<()> {
    const OP: &str = "cancel order";
    let Some(order) = reasons.first() else {
        return unexpected(OP, reasons);
    };
    if reasons[1..].iter().any(Reason::condition_failed) {
        return Verdict::Fail(StoreError::backend(
            OP,
            "a product of the order is gone; nothing was changed",
        ));
    }
    if order.condition_failed() {
        return Verdict::RetryStale;
    }
    remaining(OP, reasons).unwrap_or_else(|| unexpected(OP, reasons))
}

/// Creating `product` was cancelled: item 0 was its put
/// (`attribute_not_exists(pk)`), item 1 the put of its SKU item
/// (`attribute_not_exists(pk)`). The product already there, exactly as
/// written here, means an earlier attempt committed; a SKU item naming
/// another product is [`StoreError::DuplicateSku`].
pub fn create_product_verdict(reasons: &[Reason], product: &Product) -> Verdict<()> {
    const OP: &str = "create product";
    if reasons.len() != 2 {
        return unexpected(OP, reasons);
    }
    if reasons[0].condition_failed() {
        return match reasons[0].item.as_ref().map(product_from) {
            Some(Ok(existing)) if existing == *product => Verdict::Done(()),
            _ => Verdict::Fail(StoreError::backend(
                OP,
                format!("id {} exists already", product.id),
            )),
        };
    }
    if reasons[1].condition_failed() {
        return duplicate_sku(&reasons[1], &product.sku);
    }
    remaining(OP, reasons).unwrap_or_else(|| unexpected(OP, reasons))
}

/// A SKU item's condition failed: it names the product that has the SKU
/// (without an item, it was freed meanwhile: try again).
fn duplicate_sku<T>(reason: &Reason, sku: &str) -> Verdict<T> {
    match reason.item.as_ref().map(|item| get_s(item, "product_id")) {
        Some(Ok(owner)) => Verdict::Fail(StoreError::DuplicateSku {
            sku: sku.to_owned(),
            product_id: owner,
        }),
        Some(Err(err)) => Verdict::Fail(err),
        None => Verdict::RetryStale,
    }
}

/// Changing a product's SKU was cancelled: item 0 was the product's update
/// (`version = :v`), item 1 the put of the new SKU item
/// (`attribute_not_exists(pk)`), item 2 the delete of the old one
/// (`product_id = :id`). A product at another version is
/// [`StoreError::VersionMismatch`] against `expected`.
pub fn change_sku_verdict(
    reasons: &[Reason],
    id: &str,
    expected: u64,
    new_sku: &str,
) -> Verdict<()> {
    const OP: &str = "update product";
    if reasons.len() != 3 {
        return unexpected(OP, reasons);
    }
    if reasons[0].condition_failed() {
        return match reasons[0].item.as_ref().map(product_from) {
            Some(Ok(current)) if current.version != expected => {
                Verdict::Fail(StoreError::VersionMismatch {
                    id: id.to_owned(),
                    expected,
                    current: current.version,
                })
            }
            Some(Ok(_)) => Verdict::RetryStale,
            Some(Err(err)) => Verdict::Fail(err),
            None => Verdict::Fail(StoreError::ProductNotFound(id.to_owned())),
        };
    }
    if reasons[1].condition_failed() {
        return duplicate_sku(&reasons[1], new_sku);
    }
    if reasons[2].condition_failed() {
        // The old SKU item names another product: the product's version
        // held, so this cannot be a race of this code; re-read and see.
        return Verdict::RetryStale;
    }
    remaining(OP, reasons).unwrap_or_else(|| unexpected(OP, reasons))
}

/// Bounded retries with full jitter: the `n`th pause is uniform in
/// `[1 ms, min(cap, base * 2^n)]`, so callers that collided spread out.
#[derive(Debug, Default)]
pub struct Retries {
    conflicts: u32,
    stale: u32,
}

impl Retries {
    /// Pauses before the next try after a conflict, or says the retries
    /// are used up.
    pub async fn after_conflict(&mut self, operation: &'static str) -> Result<(), StoreError> {
        if self.conflicts >= MAX_CONFLICT_RETRIES {
            return Err(StoreError::backend(
                operation,
                format!(
                    "still conflicting with other transactions after {MAX_CONFLICT_RETRIES} retries"
                ),
            ));
        }
        let pause = backoff(self.conflicts);
        self.conflicts += 1;
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Counts a retry after stale data (no pause: the re-read is fresh),
    /// or says the retries are used up.
    pub fn after_stale(&mut self, operation: &'static str) -> Result<(), StoreError> {
        if self.stale >= MAX_STALE_RETRIES {
            return Err(StoreError::backend(
                operation,
                format!("the data kept changing under it ({MAX_STALE_RETRIES} retries); try again"),
            ));
        }
        self.stale += 1;
        Ok(())
    }

    /// Tries so far (for a client request token that differs per try).
    pub fn attempt(&self) -> u32 {
        self.conflicts + self.stale
    }
}

pub fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1 << retry.min(16))
        .min(BACKOFF_CAP);
    let millis = ceiling.as_millis().max(1) as u64;
    Duration::from_millis(rand::rng().random_range(1..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::item::{order_item, product_item, sku_item};
    use crate::model::{LineRequest, NewProduct};

    fn ok() -> Reason {
        Reason {
            code: Some("None".into()),
            item: None,
        }
    }

    fn code(code: &str) -> Reason {
        Reason {
            code: Some(code.into()),
            item: None,
        }
    }

    fn failed(item: Option<Item>) -> Reason {
        Reason {
            code: Some("ConditionalCheckFailed".into()),
            item,
        }
    }

    fn product(id: &str, price_cents: i64, stock: i64) -> Product {
        Product::new(
            id.into(),
            NewProduct {
                sku: format!("SKU-{id}"),
                name: format!("The {id}"),
                description: String::new(),
                price_cents,
                stock,
            },
            1,
        )
    }

    fn setup() -> (OrderRequest, Order, Product, Product) {
        let (a, b) = (product("a", 100, 5), product("b", 200, 5));
        let request = OrderRequest {
            lines: vec![
                LineRequest {
                    product_id: "a".into(),
                    quantity: 2,
                },
                LineRequest {
                    product_id: "b".into(),
                    quantity: 3,
                },
            ],
        };
        let order = Order::placed("ord_1".into(), &request.lines, &[&a, &b], 10);
        (request, order, a, b)
    }

    #[test]
    fn a_short_line_refuses_the_order_naming_the_first_short_line() {
        let (request, order, mut a, mut b) = setup();
        b.stock = 1;
        let reasons = [ok(), failed(Some(product_item(&b))), ok()];
        assert_eq!(
            place_order_verdict(&reasons, &request, &order),
            Verdict::Fail(StoreError::InsufficientStock {
                line: 1,
                product_id: "b".into(),
                sku: "SKU-b".into(),
                name: "The b".into(),
                requested: 3,
                available: 1
            })
        );
        a.stock = 0;
        let both = [
            failed(Some(product_item(&a))),
            failed(Some(product_item(&b))),
            ok(),
        ];
        assert!(matches!(
            place_order_verdict(&both, &request, &order),
            Verdict::Fail(StoreError::InsufficientStock {
                line: 0,
                available: 0,
                ..
            })
        ));
        // Short beats a conflict elsewhere: the order cannot go through.
        let with_conflict = [
            code("TransactionConflict"),
            failed(Some(product_item(&b))),
            ok(),
        ];
        assert!(matches!(
            place_order_verdict(&with_conflict, &request, &order),
            Verdict::Fail(StoreError::InsufficientStock { line: 1, .. })
        ));
    }

    #[test]
    fn a_changed_price_or_a_conflict_is_retried() {
        let (request, order, mut a, _) = setup();
        a.price_cents = 150;
        let repriced = [failed(Some(product_item(&a))), ok(), ok()];
        assert_eq!(
            place_order_verdict(&repriced, &request, &order),
            Verdict::RetryStale
        );
        let no_item = [failed(None), ok(), ok()];
        assert_eq!(
            place_order_verdict(&no_item, &request, &order),
            Verdict::RetryStale
        );
        let conflict = [ok(), code("TransactionConflict"), ok()];
        assert_eq!(
            place_order_verdict(&conflict, &request, &order),
            Verdict::RetryAfterConflict
        );
        let throttled = [ok(), ok(), code("ThrottlingError")];
        assert_eq!(
            place_order_verdict(&throttled, &request, &order),
            Verdict::RetryAfterConflict
        );
        // Stale and conflicting: a retry either way, after a pause.
        let both = [
            failed(Some(product_item(&a))),
            code("TransactionConflict"),
            ok(),
        ];
        assert_eq!(
            place_order_verdict(&both, &request, &order),
            Verdict::RetryAfterConflict
        );
    }

    #[test]
    fn the_order_already_there_is_done_only_if_it_is_this_one() {
        let (request, order, a, b) = setup();
        let mine = [
            failed(Some(product_item(&a))),
            failed(Some(product_item(&b))),
            failed(Some(order_item(&order))),
        ];
        assert_eq!(
            place_order_verdict(&mine, &request, &order),
            Verdict::Done(order.clone())
        );
        let other = order.cancelled(11);
        let theirs = [ok(), ok(), failed(Some(order_item(&other)))];
        assert!(matches!(
            place_order_verdict(&theirs, &request, &order),
            Verdict::Fail(StoreError::Backend { message, .. }) if message.contains("exists already")
        ));
    }

    #[test]
    fn odd_reasons_are_backend_failures() {
        let (request, order, _, _) = setup();
        let short = [ok(), ok()];
        assert!(matches!(
            place_order_verdict(&short, &request, &order),
            Verdict::Fail(StoreError::Backend { .. })
        ));
        let validation = [ok(), code("ValidationError"), ok()];
        assert!(matches!(
            place_order_verdict(&validation, &request, &order),
            Verdict::Fail(StoreError::Backend { message, .. }) if message.contains("ValidationError")
        ));
        let nothing = [ok(), ok(), ok()];
        assert!(matches!(
            place_order_verdict(&nothing, &request, &order),
            Verdict::Fail(StoreError::Backend { .. })
        ));
    }

    #[test]
    fn cancellation_of_a_cancel() {
        assert_eq!(
            cancel_order_verdict(&[failed(None), ok()]),
            Verdict::RetryStale
        );
        assert_eq!(
            cancel_order_verdict(&[ok(), code("TransactionConflict")]),
            Verdict::RetryAfterConflict
        );
        assert!(matches!(
            cancel_order_verdict(&[ok(), failed(None)]),
            Verdict::Fail(StoreError::Backend { .. })
        ));
        assert!(matches!(
            cancel_order_verdict(&[]),
            Verdict::Fail(StoreError::Backend { .. })
        ));
    }

    #[test]
    fn skus_taken_on_create_and_on_change() {
        let p = product("p", 1, 1);
        assert_eq!(
            create_product_verdict(&[ok(), failed(Some(sku_item("SKU-p", "other")))], &p),
            Verdict::Fail(StoreError::DuplicateSku {
                sku: "SKU-p".into(),
                product_id: "other".into()
            })
        );
        assert_eq!(
            create_product_verdict(&[failed(Some(product_item(&p))), failed(None)], &p),
            Verdict::Done(())
        );
        assert!(matches!(
            create_product_verdict(&[failed(Some(product_item(&product("p", 2, 2)))), ok()], &p),
            Verdict::Fail(StoreError::Backend { .. })
        ));
        assert_eq!(
            create_product_verdict(&[ok(), failed(None)], &p),
            Verdict::RetryStale
        );

        let v3 = p
            .changed(&Default::default(), 2)
            .changed(&Default::default(), 3);
        assert_eq!(
            change_sku_verdict(&[failed(Some(product_item(&v3))), ok(), ok()], "p", 1, "N"),
            Verdict::Fail(StoreError::VersionMismatch {
                id: "p".into(),
                expected: 1,
                current: 3
            })
        );
        assert_eq!(
            change_sku_verdict(&[failed(None), ok(), ok()], "p", 1, "N"),
            Verdict::Fail(StoreError::ProductNotFound("p".into()))
        );
        assert_eq!(
            change_sku_verdict(&[ok(), failed(Some(sku_item("N", "q"))), ok()], "p", 1, "N"),
            Verdict::Fail(StoreError::DuplicateSku {
                sku: "N".into(),
                product_id: "q".into()
            })
        );
        assert_eq!(
            change_sku_verdict(&[ok(), code("TransactionConflict"), ok()], "p", 1, "N"),
            Verdict::RetryAfterConflict
        );
    }

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for retry in 0..40 {
            let pause = backoff(retry);
            assert!(pause >= Duration::from_millis(1), "{pause:?}");
            assert!(pause <= BACKOFF_CAP, "{pause:?}");
            if retry == 0 {
                assert!(pause <= BACKOFF_BASE);
            }
        }
    }

    #[tokio::test]
    async fn retries_run_out() {
        let mut retries = Retries::default();
        for _ in 0..MAX_CONFLICT_RETRIES {
            retries.after_conflict("x").await.unwrap();
        }
        assert!(retries.after_conflict("x").await.is_err());
        for _ in 0..MAX_STALE_RETRIES {
            retries.after_stale("x").unwrap();
        }
        assert!(retries.after_stale("x").is_err());
        assert_eq!(retries.attempt(), MAX_CONFLICT_RETRIES + MAX_STALE_RETRIES);
    }
}
