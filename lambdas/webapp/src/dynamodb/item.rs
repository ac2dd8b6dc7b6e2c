//! Records as DynamoDB items, and back (the layout is in the module doc of
//! [`crate::dynamodb`]).
//!
//! Numbers are stored as `N`; every attribute a record needs must be
//! present and of its type, or reading it is a [`StoreError::Backend`]
//! naming the key and the attribute (an item this code did not write).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::model::{Order, OrderLine, OrderStatus, Product};
use crate::store::StoreError;

pub type Item = HashMap<String, AttributeValue>;

/// The partition of every product item (sort key: the product id).
pub const PRODUCTS_PK: &str = "PRODUCTS";
/// The partition of every order item (sort key: the order id).
pub const ORDERS_PK: &str = "ORDERS";
/// The partition key prefix of the SKU items (`SKU#<sku>`, sort key
/// [`SKU_SK`]), which make SKUs unique.
pub const SKU_PREFIX: &str = "SKU#";
pub const SKU_SK: &str = "SKU";

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub fn product_key(id: &str) -> Item {
    key(PRODUCTS_PK, id)
}

pub fn order_key(id: &str) -> Item {
    key(ORDERS_PK, id)
}

pub fn sku_key(sku: &str) -> Item {
    key(&format!("{SKU_PREFIX}{sku}"), SKU_SK)
}

/// The SKU item: it exists while a product has this SKU, and names it.
pub fn sku_item(sku: &str, product_id: &str) -> Item {
    let mut item = sku_key(sku);
    item.insert("product_id".into(), s(product_id));
    item
}

/// A product item, with the lower-cased copies of name and SKU that
/// search matches (`contains`, which is case-sensitive).
pub fn product_item(product: &Product) -> Item {
    let mut item = product_key(&product.id);
    item.extend([
        ("sku".to_owned(), s(&product.sku)),
        ("sku_lower".to_owned(), s(product.sku.to_lowercase())),
        ("name".to_owned(), s(&product.name)),
        ("name_lower".to_owned(), s(product.name.to_lowercase())),
        ("description".to_owned(), s(&product.description)),
        ("price_cents".to_owned(), n(product.price_cents)),
        ("stock".to_owned(), n(product.stock)),
        ("version".to_owned(), n(product.version)),
        ("created_at".to_owned(), n(product.created_at)),
        ("updated_at".to_owned(), n(product.updated_at)),
    ]);
    item
}

pub fn order_item(order: &Order) -> Item {
    let lines = order
        .lines
        .iter()
        .map(|line| {
            AttributeValue::M(HashMap::from([
                ("product_id".to_owned(), s(&line.product_id)),
                ("sku".to_owned(), s(&line.sku)),
                ("name".to_owned(), s(&line.name)),
                ("quantity".to_owned(), n(line.quantity)),
                ("unit_price_cents".to_owned(), n(line.unit_price_cents)),
                ("line_total_cents".to_owned(), n(line.line_total_cents)),
            ]))
        })
        .collect();
    let mut item = order_key(&order.id);
    item.extend([
        ("status".to_owned(), s(order.status.as_str())),
        ("lines".to_owned(), AttributeValue::L(lines)),
        ("total_cents".to_owned(), n(order.total_cents)),
        ("version".to_owned(), n(order.version)),
        ("created_at".to_owned(), n(order.created_at)),
        ("updated_at".to_owned(), n(order.updated_at)),
    ]);
    item
}

fn malformed(item: &Item, attribute: &str, what: &str) -> StoreError {
    let part = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
            .unwrap_or("?")
    };
    StoreError::backend(
        "read item",
        format!(
            "item {}/{}: attribute {attribute} is missing or not {what}",
            part("pk"),
            part("sk")
        ),
    )
}

pub fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| malformed(item, name, "a string"))
}

pub fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(item, name, "a whole number"))
}

pub fn get_u64(item: &Item, name: &str) -> Result<u64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(item, name, "a whole number >= 0"))
}

pub fn product_from(item: &Item) -> Result<Product, StoreError> {
    Ok(Product {
        id: get_s(item, "sk")?,
        sku: get_s(item, "sku")?,
        name: get_s(item, "name")?,
        description: get_s(item, "description")?,
        price_cents: get_i64(item, "price_cents")?,
        stock: get_i64(item, "stock")?,
        version: get_u64(item, "version")?,
        created_at: get_i64(item, "created_at")?,
        updated_at: get_i64(item, "updated_at")?,
    })
}

pub fn order_from(item: &Item) -> Result<Order, StoreError> {
    let status = match get_s(item, "status")?.as_str() {
        "placed" => OrderStatus::Placed,
        "cancelled" => OrderStatus::Cancelled,
        _ => return Err(malformed(item, "status", "placed or cancelled")),
    };
    let lines = item
        .get("lines")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| malformed(item, "lines", "a list"))?
        .iter()
        .map(|line| {
            let line = line
                .as_m()
                .map_err(|_| malformed(item, "lines", "a list of maps"))?;
            Ok(OrderLine {
                product_id: get_s(line, "product_id")?,
                sku: get_s(line, "sku")?,
                name: get_s(line, "name")?,
                quantity: get_i64(line, "quantity")?,
                unit_price_cents: get_i64(line, "unit_price_cents")?,
                line_total_cents: get_i64(line, "line_total_cents")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Order {
        id: get_s(item, "sk")?,
        status,
        lines,
        total_cents: get_i64(item, "total_cents")?,
        version: get_u64(item, "version")?,
        created_at: get_i64(item, "created_at")?,
        updated_at: get_i64(item, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LineRequest, NewProduct};

    fn product() -> Product {
        Product::new(
            "prd_01ARYZ6S41TSV4RRFFQ69G5FAV".into(),
            NewProduct {
                sku: "Bolt-M8".into(),
                name: "Hex BOLT, M8".into(),
                description: "Zinc <b>plated</b>".into(),
                price_cents: 1_999,
                stock: 40,
            },
            1_700_000_000_000,
        )
    }

    #[test]
    fn a_product_round_trips_with_lower_cased_copies() {
        let p = product();
        let item = product_item(&p);
        assert_eq!(item["pk"], s("PRODUCTS"));
        assert_eq!(item["sk"], s(&p.id));
        assert_eq!(item["sku_lower"], s("bolt-m8"));
        assert_eq!(item["name_lower"], s("hex bolt, m8"));
        assert_eq!(item["price_cents"], n(1_999));
        assert_eq!(product_from(&item).unwrap(), p);
        let changed = p.changed(&Default::default(), 1_700_000_000_001);
        assert_eq!(product_from(&product_item(&changed)).unwrap(), changed);
    }

    #[test]
    fn an_order_round_trips_with_its_lines() {
        let p = product();
        let mut q = product();
        q.id = "prd_01ARYZ6S41TSV4RRFFQ69G5FAW".into();
        q.price_cents = 5;
        let lines = [
            LineRequest {
                product_id: p.id.clone(),
                quantity: 3,
            },
            LineRequest {
                product_id: q.id.clone(),
                quantity: 1,
            },
        ];
        let order = Order::placed(
            "ord_01ARYZ6S41TSV4RRFFQ69G5FAV".into(),
            &lines,
            &[&p, &q],
            7,
        );
        let item = order_item(&order);
        assert_eq!(item["pk"], s("ORDERS"));
        assert_eq!(item["status"], s("placed"));
        assert_eq!(order_from(&item).unwrap(), order);
        let cancelled = order.cancelled(9);
        assert_eq!(order_from(&order_item(&cancelled)).unwrap(), cancelled);
    }

    #[test]
    fn keys_and_the_sku_item() {
        assert_eq!(sku_key("A-1"), key("SKU#A-1", "SKU"));
        let item = sku_item("A-1", "prd_x");
        assert_eq!(item["product_id"], s("prd_x"));
        assert_eq!(item["pk"], s("SKU#A-1"));
    }

    #[test]
    fn a_foreign_item_is_a_backend_error_naming_the_attribute() {
        let mut item = product_item(&product());
        item.insert("stock".into(), s("many"));
        let err = product_from(&item).unwrap_err();
        assert!(
            matches!(&err, StoreError::Backend { message, .. }
                if message.contains("PRODUCTS/prd_01ARYZ6S41TSV4RRFFQ69G5FAV") && message.contains("stock")),
            "{err}"
        );
        let mut order = order_item(&Order::placed("ord_x".into(), &[], &[], 1));
        order.insert("status".into(), s("lost"));
        assert!(order_from(&order).is_err());
        order.remove("status");
        assert!(order_from(&order).is_err());
    }
}
