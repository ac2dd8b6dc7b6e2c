//! The DynamoDB store on the moto emulator over HTTP
//! (`$ARCHFORM_TEST_ENDPOINT`, or one started for this test process by
//! archform-testkit): the API scenarios every store passes, then what only
//! the table can show (the store's calls go through a proxy that has
//! moto take one request at a time, as DynamoDB isolates each request; see
//! `support/one_at_a_time.rs`): the items as stored, contention, a SKU moving from
//! product to product, pages across many items, and `webapp serve-app
//! --store dynamodb`. Every test makes its own table.

#[macro_use]
mod support;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use http::StatusCode;
use serde_json::json;
use support::api_suite::{Fixture, Harness};
use support::one_at_a_time::OneAtATime;
use webapp::DataStore;
use webapp::dynamodb::DynamoStore;
use webapp::ids::{new_order_id, new_product_id};
use webapp::model::{LineRequest, NewProduct, OrderRequest, Product, ProductChanges};
use webapp::store::{CancelOutcome, PageRequest, ProductQuery, StoreError};

async fn client() -> Client {
    Client::new(&archform_testkit::sdk_config(&archform_testkit::test_endpoint()).await)
}

/// A new table like the blueprint's `app_table` (`pk` S, `sk` S, no
/// indexes), named uniquely for this process and call.
async fn table(client: &Client) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "webapp-{}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 1_000_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, kind) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        request = request
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(attribute)
                    .key_type(kind)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
    name
}

/// A client straight to the emulator, a new table, and the store on it
/// through a [`OneAtATime`] proxy (which must live as long as the store).
async fn store() -> (Client, String, Arc<DynamoStore>, OneAtATime) {
    let client = client().await;
    let name = table(&client).await;
    let proxy = OneAtATime::start(&archform_testkit::test_endpoint()).await;
    let sdk = archform_testkit::sdk_config(&proxy.endpoint).await;
    let store = Arc::new(DynamoStore::new(Client::new(&sdk), &name));
    (client, name, store, proxy)
}

async fn dynamodb() -> Fixture {
    let (_, _, store, proxy) = store().await;
    Fixture {
        store,
        guard: Box::new(proxy),
    }
}

api_suite!(dynamodb);

/// Every item of the table, by `(pk, sk)`.
async fn items(
    client: &Client,
    table: &str,
) -> HashMap<(String, String), HashMap<String, AttributeValue>> {
    let out = client.scan().table_name(table).send().await.unwrap();
    out.items
        .unwrap_or_default()
        .into_iter()
        .map(|item| {
            let key = |name: &str| item[name].as_s().unwrap().clone();
            ((key("pk"), key("sk")), item)
        })
        .collect()
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item[name].as_n().unwrap().parse().unwrap()
}

async fn product(store: &DynamoStore, sku: &str, price_cents: i64, stock: i64) -> Product {
    let product = Product::new(
        new_product_id(webapp::model::now_ms()),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_items_as_stored() {
    let (client, table, store, _proxy) = store().await;
    let p = product(&store, "Bolt-M8", 250, 5).await;
    let placed = store
        .place_order(&new_order_id(2_000), &order(&[(&p, 2)]), 2_000)
        .await
        .unwrap();
    let all = items(&client, &table).await;
    assert_eq!(all.len(), 3, "{:?}", all.keys());
    let stored = &all[&("PRODUCTS".to_owned(), p.id.clone())];
    assert_eq!(stored["sku_lower"].as_s().unwrap(), "bolt-m8");
    assert_eq!(stored["name_lower"].as_s().unwrap(), "the bolt-m8");
    assert_eq!((number(stored, "stock"), number(stored, "version")), (3, 2));
    let sku = &all[&("SKU#Bolt-M8".to_owned(), "SKU".to_owned())];
    assert_eq!(sku["product_id"].as_s().unwrap(), &p.id);
    let stored_order = &all[&("ORDERS".to_owned(), placed.id.clone())];
    assert_eq!(stored_order["status"].as_s().unwrap(), "placed");
    assert_eq!(number(stored_order, "total_cents"), 500);
    assert_eq!(stored_order["lines"].as_l().unwrap().len(), 1);
    assert_eq!(store.get_order(&placed.id).await.unwrap(), Some(placed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sku_moves_between_products_and_stays_unique() {
    let (client, table, store, _proxy) = store().await;
    let a = product(&store, "A-1", 100, 1).await;
    let b = product(&store, "B-1", 100, 1).await;
    let onto_a = ProductChanges {
        sku: Some("A-1".into()),
        ..ProductChanges::default()
    };
    assert_eq!(
        store.update_product(&b.id, 1, &onto_a, 3).await,
        Err(StoreError::DuplicateSku {
            sku: "A-1".into(),
            product_id: a.id.clone()
        })
    );
    // Stale, whatever the change.
    assert!(matches!(
        store.update_product(&b.id, 7, &onto_a, 3).await,
        Err(StoreError::VersionMismatch {
            expected: 7,
            current: 1,
            ..
        })
    ));
    let rename = ProductChanges {
        sku: Some("A-2".into()),
        name: Some("Renamed".into()),
        ..ProductChanges::default()
    };
    let renamed = store.update_product(&a.id, 1, &rename, 3).await.unwrap();
    assert_eq!((renamed.sku.as_str(), renamed.version), ("A-2", 2));
    let moved = store.update_product(&b.id, 1, &onto_a, 4).await.unwrap();
    assert_eq!((moved.sku.as_str(), moved.version), ("A-1", 2));
    assert_eq!(store.get_product(&b.id).await.unwrap(), Some(moved));
    // Same SKU again: a plain update.
    let same = ProductChanges {
        sku: Some("A-1".into()),
        stock: Some(9),
        ..ProductChanges::default()
    };
    assert_eq!(
        store
            .update_product(&b.id, 2, &same, 5)
            .await
            .unwrap()
            .stock,
        9
    );

    let skus: Vec<(String, String)> = items(&client, &table)
        .await
        .into_iter()
        .filter(|((pk, _), _)| pk.starts_with("SKU#"))
        .map(|((pk, _), item)| (pk, item["product_id"].as_s().unwrap().clone()))
        .collect();
    let mut skus = skus;
    skus.sort();
    assert_eq!(
        skus,
        [
            ("SKU#A-1".to_owned(), b.id.clone()),
            ("SKU#A-2".to_owned(), a.id.clone())
        ]
    );
    // The name search sees the new name.
    let found = store
        .list_products(&ProductQuery {
            page: PageRequest {
                limit: 10,
                after: None,
            },
            search: Some("RENAMED".into()),
        })
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    let missing = new_product_id(1);
    assert_eq!(
        store.update_product(&missing, 1, &same, 5).await,
        Err(StoreError::ProductNotFound(missing.clone()))
    );
    let plain = ProductChanges {
        price_cents: Some(1),
        ..ProductChanges::default()
    };
    assert_eq!(
        store.update_product(&missing, 1, &plain, 5).await,
        Err(StoreError::ProductNotFound(missing))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_refuse_a_short_line_and_take_nothing() {
    let (_, _, store, _proxy) = store().await;
    let a = product(&store, "A", 250, 5).await;
    let b = product(&store, "B", 1_000, 1).await;
    assert_eq!(
        store
            .place_order(&new_order_id(1), &order(&[(&a, 2), (&b, 2)]), 2_000)
            .await,
        Err(StoreError::InsufficientStock {
            line: 1,
            product_id: b.id.clone(),
            sku: "B".into(),
            name: "The B".into(),
            requested: 2,
            available: 1
        })
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
    let stock = |id: String| {
        let store = store.clone();
        async move { store.get_product(&id).await.unwrap().unwrap().stock }
    };
    assert_eq!(
        (stock(a.id.clone()).await, stock(b.id.clone()).await),
        (5, 1)
    );
    let placed = store
        .place_order(&new_order_id(2), &order(&[(&a, 2), (&b, 1)]), 2_000)
        .await
        .unwrap();
    assert_eq!(placed.total_cents, 2 * 250 + 1_000);
    let a_now = store.get_product(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (a_now.stock, a_now.version, a_now.updated_at),
        (3, 2, 2_000)
    );
    // The same id again (a client resending): refused, nothing taken.
    assert!(matches!(
        store
            .place_order(&placed.id, &order(&[(&a, 1)]), 2_000)
            .await,
        Err(StoreError::Backend { message, .. }) if message.contains("exists already")
    ));
    assert_eq!(stock(a.id.clone()).await, 3);
}

/// A price changed between the order's read and its transaction makes the
/// transaction fail its condition; the store re-reads and orders at the
/// new price. Forced here by changing the price from many tasks while
/// orders are placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_take_the_current_price_while_it_changes() {
    let (_, _, store, _proxy) = store().await;
    let p = product(&store, "P", 100, 1_000).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (editor, id) = (store.clone(), p.id.clone());
        tasks.spawn(async move {
            let store = editor;
            // Each retry of a stale version re-reads it.
            loop {
                let current = store.get_product(&id).await.unwrap().unwrap();
                let changes = ProductChanges {
                    price_cents: Some(100 + i),
                    ..ProductChanges::default()
                };
                match store
                    .update_product(&id, current.version, &changes, 3_000)
                    .await
                {
                    Ok(_) => return None,
                    Err(StoreError::VersionMismatch { .. }) => continue,
                    Err(other) => panic!("{other:?}"),
                }
            }
        });
        let (buyer, p) = (store.clone(), p.clone());
        tasks.spawn(async move {
            Some(
                buyer
                    .place_order(&new_order_id(3_000), &order(&[(&p, 1)]), 3_000)
                    .await,
            )
        });
    }
    let mut placed = 0;
    while let Some(result) = tasks.join_next().await {
        if let Some(result) = result.unwrap() {
            let order = result.unwrap();
            assert!((100..110).contains(&order.lines[0].unit_price_cents));
            placed += 1;
        }
    }
    assert_eq!(placed, 10);
    let now = store.get_product(&p.id).await.unwrap().unwrap();
    assert_eq!(now.stock, 990);
    // One version per order and per price change.
    assert_eq!(now.version, 1 + 10 + 10);
}

/// The price changes after the order read it, just before its
/// transaction reaches the table (a proxy in front of the emulator changes
/// it as the first TransactWriteItems arrives): the line's condition fails,
/// the store re-reads and orders at the new price, taking the stock once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_price_changed_under_an_order_is_re_read_and_retried() {
    let endpoint = archform_testkit::test_endpoint();
    let (_, table, direct, _proxy) = store().await;
    let p = product(&direct, "P", 100, 10).await;
    let fired = Arc::new(AtomicU32::new(0));
    let rule = {
        let (fired, table, id) = (fired.clone(), table.clone(), p.id.clone());
        let endpoint = endpoint.clone();
        archform_testkit::Rule::new(
            move |call| {
                if call.operation == "dynamodb:TransactWriteItems"
                    && fired.fetch_add(1, Ordering::SeqCst) == 0
                {
                    // Another instance's edit, done before this call goes on.
                    let (table, id, endpoint) = (table.clone(), id.clone(), endpoint.clone());
                    std::thread::spawn(move || {
                        tokio::runtime::Runtime::new().unwrap().block_on(async {
                            let sdk = archform_testkit::sdk_config(&endpoint).await;
                            let other = DynamoStore::new(Client::new(&sdk), table);
                            let changes = ProductChanges {
                                price_cents: Some(130),
                                ..ProductChanges::default()
                            };
                            other.update_product(&id, 1, &changes, 5).await.unwrap();
                        })
                    })
                    .join()
                    .unwrap();
                }
                false
            },
            archform_testkit::Answer::Bare404,
        )
    };
    let proxy = archform_testkit::FaultProxy::start(
        &endpoint,
        archform_testkit::FaultConfig {
            rules: vec![rule],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let sdk = archform_testkit::sdk_config(&proxy.endpoint).await;
    let store = DynamoStore::new(Client::new(&sdk), &table);
    let placed = store
        .place_order(&new_order_id(4_000), &order(&[(&p, 2)]), 4_000)
        .await
        .unwrap();
    assert_eq!(fired.load(Ordering::SeqCst), 2, "one retry");
    assert_eq!(
        (placed.lines[0].unit_price_cents, placed.total_cents),
        (130, 260)
    );
    let now = direct.get_product(&p.id).await.unwrap().unwrap();
    assert_eq!((now.stock, now.price_cents, now.version), (8, 130, 3));
    assert_eq!(
        proxy.stats().calls.get("dynamodb:BatchGetItem"),
        Some(&2),
        "{:?}",
        proxy.stats().calls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_cancels_give_the_stock_back_once() {
    let (_, _, store, _proxy) = store().await;
    let p = product(&store, "C", 100, 10).await;
    let q = product(&store, "D", 100, 10).await;
    let placed = store
        .place_order(&new_order_id(1), &order(&[(&p, 4), (&q, 1)]), 2_000)
        .await
        .unwrap();
    assert!(matches!(
        store.cancel_order(&placed.id, Some(7), 2_500).await,
        Err(StoreError::VersionMismatch { current: 1, .. })
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (store, id) = (store.clone(), placed.id.clone());
        tasks.spawn(async move { store.cancel_order(&id, None, 3_000).await.unwrap() });
    }
    let mut cancelled = 0;
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        assert_eq!(outcome.order().version, 2);
        if matches!(outcome, CancelOutcome::Cancelled(_)) {
            cancelled += 1;
        }
    }
    assert_eq!(cancelled, 1);
    let p_now = store.get_product(&p.id).await.unwrap().unwrap();
    assert_eq!((p_now.stock, p_now.version), (10, 3));
    assert_eq!(store.get_product(&q.id).await.unwrap().unwrap().stock, 10);
    let missing = new_order_id(1);
    assert_eq!(
        store.cancel_order(&missing, None, 1).await,
        Err(StoreError::OrderNotFound(missing))
    );
}

/// Pages over more items than one query returns when filtered, and orders
/// newest first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_and_search_over_many_items() {
    let (_, _, store, _proxy) = store().await;
    let mut ids = Vec::new();
    for i in 0..130 {
        let sku = if i % 10 == 3 {
            format!("BOLT-{i}")
        } else {
            format!("NUT-{i}")
        };
        ids.push(product(&store, &sku, 10, 100).await.id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_products(&ProductQuery {
                page: PageRequest { limit: 50, after },
                search: None,
            })
            .await
            .unwrap();
        seen.extend(page.items.into_iter().map(|p| p.id));
        after = page.next_after;
        if after.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids);
    // 13 bolts spread over 130 products: the filter drops most of each
    // query's items, so pages need several queries.
    let mut bolts = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_products(&ProductQuery {
                page: PageRequest { limit: 5, after },
                search: Some("bolt".into()),
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 5);
        bolts.extend(page.items.into_iter().map(|p| p.sku));
        after = page.next_after;
        if after.is_none() {
            break;
        }
    }
    assert_eq!(bolts.len(), 13, "{bolts:?}");
    assert!(bolts.iter().all(|s| s.starts_with("BOLT-")));

    let p = store.get_product(&ids[0]).await.unwrap().unwrap();
    let mut orders = Vec::new();
    for _ in 0..7 {
        let id = new_order_id(webapp::model::now_ms());
        store
            .place_order(&id, &order(&[(&p, 1)]), 10)
            .await
            .unwrap();
        orders.push(id);
    }
    orders.reverse();
    let first = store
        .list_orders(&PageRequest {
            limit: 3,
            after: None,
        })
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
        orders[0..3].iter().collect::<Vec<_>>()
    );
    let rest = store
        .list_orders(&PageRequest {
            limit: 10,
            after: first.next_after,
        })
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|o| &o.id).collect::<Vec<_>>(),
        orders[3..].iter().collect::<Vec<_>>()
    );
    assert_eq!(rest.next_after, None);
}

/// The 50-orders-for-10-in-stock race, counted in the table too: ten
/// order items, stock 0, version 11.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_orders_for_ten_in_stock_as_the_table_shows() {
    let (client, table, store, _proxy) = store().await;
    let h = Harness::with_store(store.clone());
    let id = h.create("HOT", 500, 10).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (app, id) = (h.app.clone(), id.clone());
        tasks.spawn(async move {
            let h = Harness { app };
            h.order(json!([{"product_id": id, "quantity": 1}])).await
        });
    }
    let (mut created, mut refused) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        match answer.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                assert_eq!(answer.body["available"], 0, "{}", answer.body);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert_eq!((created, refused), (10, 40));
    let all = items(&client, &table).await;
    let stored = &all[&("PRODUCTS".to_owned(), id.clone())];
    assert_eq!(
        (number(stored, "stock"), number(stored, "version")),
        (0, 11)
    );
    assert_eq!(all.keys().filter(|(pk, _)| pk == "ORDERS").count(), 10);
}

/// `webapp serve-app --store dynamodb` with the table from `TABLE_NAME`
/// and the emulator from `AWS_ENDPOINT_URL`, as the blueprint's Lambda
/// environment gives them; and its refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_app_on_dynamodb() {
    let endpoint = archform_testkit::test_endpoint();
    let (client, table, _, _proxy) = store().await;
    let aws_env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let (mut child, base) = support::serve_app(
        &[],
        &[
            &[("DATA_STORE", "dynamodb"), ("TABLE_NAME", table.as_str())][..],
            &aws_env,
        ]
        .concat(),
        &["AWS_PROFILE", "AWS_SESSION_TOKEN"],
    );
    let status = support::post_bin_product(&base).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, StatusCode::CREATED);
    let all = items(&client, &table).await;
    assert!(all.contains_key(&("SKU#BIN-1".to_owned(), "SKU".to_owned())));

    // No table: exit 2; a table that is not there: exit 1 naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_webapp"))
        .args(["serve-app", "--store", "dynamodb", "--port", "0"])
        .env_remove("TABLE_NAME")
        .env_remove("DATA_STORE")
        .envs(aws_env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TABLE_NAME"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_webapp"))
        .args(["serve-app", "--store", "dynamodb", "--port", "0"])
        .args(["--table-name", "no-such-table"])
        .env_remove("DATA_STORE")
        .envs(aws_env)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-table"), "{stderr}");
}
