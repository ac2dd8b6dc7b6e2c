//! [`DataStore`] in process: maps behind one mutex.
//!
//! Every call takes the one lock for its whole duration, so placing an
//! order (check every line, then take the stock of every line) and
//! cancelling one (check the status, give the stock back) are atomic with
//! respect to every other call, however many tasks call at once. No call
//! awaits while holding it. Nothing survives the process: this store is for
//! tests, development and the quick start (`webapp serve`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use crate::model::{Order, OrderRequest, OrderStatus, Product, ProductChanges};
use crate::store::{
    BoxFuture, CancelOutcome, DataStore, Page, PageRequest, ProductQuery, StoreError,
    product_matches,
};

#[derive(Default)]
struct Tables {
    /// By id, so iteration is in id (= creation) order.
    products: BTreeMap<String, Product>,
    /// SKU → product id: the unique index.
    skus: HashMap<String, String>,
    orders: BTreeMap<String, Order>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic elsewhere while holding the lock cannot leave a half-made
        // change behind (every change is computed before it is written),
        // so a poisoned lock is still consistent.
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Tables {
    fn create_product(&mut self, product: &Product) -> Result<(), StoreError> {
        if let Some(owner) = self.skus.get(&product.sku) {
            return Err(StoreError::DuplicateSku {
                sku: product.sku.clone(),
                product_id: owner.clone(),
            });
        }
        if self.products.contains_key(&product.id) {
            return Err(StoreError::backend(
                "create product",
                format!("id {} exists already", product.id),
            ));
        }
        self.skus.insert(product.sku.clone(), product.id.clone());
        self.products.insert(product.id.clone(), product.clone());
        Ok(())
    }

    fn update_product(
        &mut self,
        id: &str,
        expected_version: u64,
        changes: &ProductChanges,
        now_ms: i64,
    ) -> Result<Product, StoreError> {
        let current = self
            .products
            .get(id)
            .ok_or_else(|| StoreError::ProductNotFound(id.to_owned()))?;
        if current.version != expected_version {
            return Err(StoreError::VersionMismatch {
                id: id.to_owned(),
                expected: expected_version,
                current: current.version,
            });
        }
        let next = current.changed(changes, now_ms);
        if next.sku != current.sku {
            if let Some(owner) = self.skus.get(&next.sku) {
                return Err(StoreError::DuplicateSku {
                    sku: next.sku.clone(),
                    product_id: owner.clone(),
                });
            }
            self.skus.remove(&current.sku);
            self.skus.insert(next.sku.clone(), id.to_owned());
        }
        self.products.insert(id.to_owned(), next.clone());
        Ok(next)
    }

    fn place_order(
        &mut self,
        order_id: &str,
        request: &OrderRequest,
        now_ms: i64,
    ) -> Result<Order, StoreError> {
        // Every line is checked before any stock is taken: a refusal leaves
        // everything as it was.
        let mut products = Vec::with_capacity(request.lines.len());
        for (line, wanted) in request.lines.iter().enumerate() {
            let product = self.products.get(&wanted.product_id).ok_or_else(|| {
                StoreError::UnknownProduct {
                    line,
                    product_id: wanted.product_id.clone(),
                }
            })?;
            if product.stock < wanted.quantity {
                return Err(StoreError::InsufficientStock {
                    line,
                    product_id: product.id.clone(),
                    sku: product.sku.clone(),
                    name: product.name.clone(),
                    requested: wanted.quantity,
                    available: product.stock,
                });
            }
            products.push(product);
        }
        if self.orders.contains_key(order_id) {
            return Err(StoreError::backend(
                "place order",
                format!("id {order_id} exists already"),
            ));
        }
        let order = Order::placed(order_id.to_owned(), &request.lines, &products, now_ms);
        for wanted in &request.lines {
            let product = self
                .products
                .get_mut(&wanted.product_id)
                .expect("checked above, under the same lock");
            product.stock -= wanted.quantity;
            product.version += 1;
            product.updated_at = now_ms;
        }
        self.orders.insert(order.id.clone(), order.clone());
        Ok(order)
    }

    fn cancel_order(
        &mut self,
        id: &str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<CancelOutcome, StoreError> {
        let order = self
            .orders
            .get(id)
            .ok_or_else(|| StoreError::OrderNotFound(id.to_owned()))?;
        if order.status == OrderStatus::Cancelled {
            return Ok(CancelOutcome::AlreadyCancelled(order.clone()));
        }
        if let Some(expected) = expected_version.filter(|v| *v != order.version) {
            return Err(StoreError::VersionMismatch {
                id: id.to_owned(),
                expected,
                current: order.version,
            });
        }
        let cancelled = order.cancelled(now_ms);
        for line in &cancelled.lines {
            // Products are never deleted, so every line's product is here.
            if let Some(product) = self.products.get_mut(&line.product_id) {
                product.stock += line.quantity;
                product.version += 1;
                product.updated_at = now_ms;
            }
        }
        self.orders.insert(id.to_owned(), cancelled.clone());
        Ok(CancelOutcome::Cancelled(cancelled))
    }
}

/// Up to `limit` items of `items` (already in list order), and the id to
/// continue after when more remain.
fn page_of<'a, T: Clone + 'a>(
    items: impl Iterator<Item = (&'a String, &'a T)>,
    limit: usize,
) -> Page<T> {
    let mut taken: Vec<(&String, &T)> = items.take(limit + 1).collect();
    let more = taken.len() > limit;
    taken.truncate(limit);
    Page {
        next_after: if more {
            taken.last().map(|(id, _)| (*id).clone())
        } else {
            None
        },
        items: taken.into_iter().map(|(_, item)| item.clone()).collect(),
    }
}

impl DataStore for MemoryStore {
    fn create_product<'a>(&'a self, product: &'a Product) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(self.lock().create_product(product))
    }

    fn get_product<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Product>, StoreError>> {
        ready(Ok(self.lock().products.get(id).cloned()))
    }

    fn update_product<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        changes: &'a ProductChanges,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Product, StoreError>> {
        ready(
            self.lock()
                .update_product(id, expected_version, changes, now_ms),
        )
    }

    fn list_products<'a>(
        &'a self,
        query: &'a ProductQuery,
    ) -> BoxFuture<'a, Result<Page<Product>, StoreError>> {
        let tables = self.lock();
        let start = match &query.page.after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Unbounded,
        };
        let matching = tables
            .products
            .range((start, Bound::Unbounded))
            .filter(|(_, p)| {
                query
                    .search
                    .as_deref()
                    .is_none_or(|q| product_matches(p, q))
            });
        ready(Ok(page_of(matching, query.page.limit)))
    }

    fn place_order<'a>(
        &'a self,
        order_id: &'a str,
        request: &'a OrderRequest,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Order, StoreError>> {
        ready(self.lock().place_order(order_id, request, now_ms))
    }

    fn cancel_order<'a>(
        &'a self,
        id: &'a str,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<CancelOutcome, StoreError>> {
        ready(self.lock().cancel_order(id, expected_version, now_ms))
    }

    fn get_order<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Order>, StoreError>> {
        ready(Ok(self.lock().orders.get(id).cloned()))
    }

    fn list_orders<'a>(
        &'a self,
        page: &'a PageRequest,
    ) -> BoxFuture<'a, Result<Page<Order>, StoreError>> {
        let tables = self.lock();
        let end = match &page.after {
            Some(after) => Bound::Excluded(after.clone()),
            None => Bound::Unbounded,
        };
        let newest_first = tables.orders.range((Bound::Unbounded, end)).rev();
        ready(Ok(page_of(newest_first, page.limit)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ids::{new_order_id, new_product_id};
    use crate::model::{LineRequest, NewProduct};

    async fn product(store: &MemoryStore, sku: &str, price_cents: i64, stock: i64) -> Product {
        let product = Product::new(
            new_product_id(1_000),
            NewProduct {
                sku: sku.into(),
                name: format!("The {sku}"),
                description: String::new(),
                price_cents,
                stock,
            },
            1_000,
        );
        store.create_product(&product).await.unwrap();
        product
    }

    fn order(lines: &[(&Product, i64)]) -> OrderRequest {
        OrderRequest {
            lines: lines
                .iter()
                .map(|(p, quantity)| LineRequest {
                    product_id: p.id.clone(),
                    quantity: *quantity,
                })
                .collect(),
        }
    }

    async fn stock(store: &MemoryStore, id: &str) -> i64 {
        store.get_product(id).await.unwrap().unwrap().stock
    }

    #[tokio::test]
    async fn skus_are_unique_on_create_and_update() {
        let store = MemoryStore::new();
        let a = product(&store, "A-1", 100, 1).await;
        let mut copy = Product::new(
            new_product_id(2),
            NewProduct {
                sku: "A-1".into(),
                name: "x".into(),
                description: String::new(),
                price_cents: 1,
                stock: 1,
            },
            2,
        );
        assert_eq!(
            store.create_product(&copy).await,
            Err(StoreError::DuplicateSku {
                sku: "A-1".into(),
                product_id: a.id.clone()
            })
        );
        copy.sku = "B-1".into();
        store.create_product(&copy).await.unwrap();
        let onto_a = ProductChanges {
            sku: Some("A-1".into()),
            ..ProductChanges::default()
        };
        assert!(matches!(
            store.update_product(&copy.id, 1, &onto_a, 3).await,
            Err(StoreError::DuplicateSku { .. })
        ));
        // A's SKU freed by renaming A can then be taken.
        let rename = ProductChanges {
            sku: Some("A-2".into()),
            ..ProductChanges::default()
        };
        store.update_product(&a.id, 1, &rename, 3).await.unwrap();
        let moved = store.update_product(&copy.id, 1, &onto_a, 4).await.unwrap();
        assert_eq!((moved.sku.as_str(), moved.version), ("A-1", 2));
    }

    #[tokio::test]
    async fn updates_need_the_current_version() {
        let store = MemoryStore::new();
        let p = product(&store, "W", 100, 5).await;
        let changes = ProductChanges {
            price_cents: Some(120),
            ..ProductChanges::default()
        };
        let v2 = store
            .update_product(&p.id, 1, &changes, 2_000)
            .await
            .unwrap();
        assert_eq!((v2.version, v2.price_cents, v2.updated_at), (2, 120, 2_000));
        assert_eq!(
            store.update_product(&p.id, 1, &changes, 3_000).await,
            Err(StoreError::VersionMismatch {
                id: p.id.clone(),
                expected: 1,
                current: 2
            })
        );
        let missing = new_product_id(1);
        assert_eq!(
            store.update_product(&missing, 1, &changes, 3_000).await,
            Err(StoreError::ProductNotFound(missing.clone()))
        );
    }

    #[tokio::test]
    async fn an_order_takes_all_its_stock_or_none() {
        let store = MemoryStore::new();
        let a = product(&store, "A", 250, 5).await;
        let b = product(&store, "B", 1_000, 1).await;

        let refused = store
            .place_order(&new_order_id(1), &order(&[(&a, 2), (&b, 2)]), 2_000)
            .await;
        assert_eq!(
            refused,
            Err(StoreError::InsufficientStock {
                line: 1,
                product_id: b.id.clone(),
                sku: "B".into(),
                name: "The B".into(),
                requested: 2,
                available: 1
            })
        );
        assert_eq!(
            (stock(&store, &a.id).await, stock(&store, &b.id).await),
            (5, 1)
        );
        let unknown = new_product_id(3);
        let mut with_unknown = order(&[(&a, 1)]);
        with_unknown.lines.push(LineRequest {
            product_id: unknown.clone(),
            quantity: 1,
        });
        assert_eq!(
            store
                .place_order(&new_order_id(1), &with_unknown, 2_000)
                .await,
            Err(StoreError::UnknownProduct {
                line: 1,
                product_id: unknown
            })
        );
        assert_eq!(stock(&store, &a.id).await, 5);

        let placed = store
            .place_order(&new_order_id(2), &order(&[(&a, 2), (&b, 1)]), 2_000)
            .await
            .unwrap();
        assert_eq!(placed.total_cents, 2 * 250 + 1_000);
        assert_eq!(
            (stock(&store, &a.id).await, stock(&store, &b.id).await),
            (3, 0)
        );
        // Reservations are changes: an editor holding version 1 is stale.
        assert_eq!(store.get_product(&a.id).await.unwrap().unwrap().version, 2);
        assert_eq!(store.get_order(&placed.id).await.unwrap(), Some(placed));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_concurrent_orders_for_ten_in_stock() {
        let store = Arc::new(MemoryStore::new());
        let p = product(&store, "HOT", 500, 10).await;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (store, request) = (store.clone(), order(&[(&p, 1)]));
            tasks.spawn(async move {
                store
                    .place_order(&new_order_id(model_now()), &request, model_now())
                    .await
            });
        }
        let (mut placed, mut refused) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => placed += 1,
                Err(StoreError::InsufficientStock { available: 0, .. }) => refused += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((placed, refused), (10, 40));
        assert_eq!(stock(&store, &p.id).await, 0);
        let all = store
            .list_orders(&PageRequest {
                limit: 100,
                after: None,
            })
            .await
            .unwrap();
        assert_eq!(all.items.len(), 10);
    }

    fn model_now() -> i64 {
        crate::model::now_ms()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn cancelling_gives_stock_back_exactly_once() {
        let store = Arc::new(MemoryStore::new());
        let p = product(&store, "C", 100, 10).await;
        let placed = store
            .place_order(&new_order_id(1), &order(&[(&p, 4)]), 2_000)
            .await
            .unwrap();
        assert_eq!(stock(&store, &p.id).await, 6);
        assert!(matches!(
            store.cancel_order(&placed.id, Some(7), 2_500).await,
            Err(StoreError::VersionMismatch { current: 1, .. })
        ));

        // Twenty cancels at once: one cancels, the others find it done.
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (store, id) = (store.clone(), placed.id.clone());
            tasks.spawn(async move { store.cancel_order(&id, None, 3_000).await.unwrap() });
        }
        let mut cancelled = 0;
        while let Some(outcome) = tasks.join_next().await {
            let outcome = outcome.unwrap();
            assert_eq!(outcome.order().status, OrderStatus::Cancelled);
            assert_eq!(outcome.order().version, 2);
            if matches!(outcome, CancelOutcome::Cancelled(_)) {
                cancelled += 1;
            }
        }
        assert_eq!(cancelled, 1);
        assert_eq!(stock(&store, &p.id).await, 10);
        assert!(matches!(
            store.cancel_order(&placed.id, None, 4_000).await,
            Ok(CancelOutcome::AlreadyCancelled(_))
        ));
        assert_eq!(stock(&store, &p.id).await, 10);
        let missing = new_order_id(1);
        assert_eq!(
            store.cancel_order(&missing, None, 1).await,
            Err(StoreError::OrderNotFound(missing.clone()))
        );
    }

    #[tokio::test]
    async fn pages_and_search() {
        let store = MemoryStore::new();
        let mut ids = Vec::new();
        for i in 0..7 {
            let sku = if i % 2 == 0 {
                format!("BOLT-{i}")
            } else {
                format!("NUT-{i}")
            };
            ids.push(product(&store, &sku, 10, 1).await.id);
        }
        ids.sort();
        let query = |after: Option<String>, search: Option<&str>| ProductQuery {
            page: PageRequest { limit: 3, after },
            search: search.map(str::to_owned),
        };
        let first = store.list_products(&query(None, None)).await.unwrap();
        let ids_of =
            |page: &Page<Product>| page.items.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids_of(&first), ids[0..3]);
        assert_eq!(first.next_after.as_ref(), Some(&ids[2]));
        let second = store
            .list_products(&query(first.next_after, None))
            .await
            .unwrap();
        assert_eq!(ids_of(&second), ids[3..6]);
        let third = store
            .list_products(&query(second.next_after, None))
            .await
            .unwrap();
        assert_eq!(ids_of(&third), ids[6..7]);
        assert_eq!(third.next_after, None);

        // Case-insensitive, in the SKU or the name ("The BOLT-0").
        let bolts = store
            .list_products(&query(None, Some("bolt")))
            .await
            .unwrap();
        assert_eq!(bolts.items.len(), 3);
        assert!(bolts.items.iter().all(|p| p.sku.starts_with("BOLT")));
        let rest = store
            .list_products(&query(bolts.next_after, Some("bolt")))
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.next_after, None);
        let none = store
            .list_products(&query(None, Some("washer")))
            .await
            .unwrap();
        assert_eq!((none.items.len(), none.next_after), (0, None));
    }

    #[tokio::test]
    async fn orders_are_listed_newest_first() {
        let store = MemoryStore::new();
        let p = product(&store, "O", 10, 100).await;
        let mut ids = Vec::new();
        for t in 0..5 {
            let id = new_order_id(10_000 + t);
            store
                .place_order(&id, &order(&[(&p, 1)]), 10_000 + t)
                .await
                .unwrap();
            ids.push(id);
        }
        ids.reverse();
        let first = store
            .list_orders(&PageRequest {
                limit: 2,
                after: None,
            })
            .await
            .unwrap();
        assert_eq!(
            first.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
            vec![&ids[0], &ids[1]]
        );
        let second = store
            .list_orders(&PageRequest {
                limit: 3,
                after: first.next_after,
            })
            .await
            .unwrap();
        assert_eq!(
            second.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
            vec![&ids[2], &ids[3], &ids[4]]
        );
        assert_eq!(second.next_after, None);
    }
}
