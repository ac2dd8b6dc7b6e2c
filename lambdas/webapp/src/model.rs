//! The records of the app: products with stock, and orders whose lines
//! reserved some of it.
//!
//! Money is whole cents (`i64`) everywhere, never floating point, so that
//! totals are exact. Times are Unix epoch milliseconds. Every record has a
//! `version` that starts at 1 and grows by one with each change; it is the
//! ETag of the API and the expected version of conditional writes.

use serde::{Deserialize, Serialize};

/// A product as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    /// The merchant's stock-keeping unit; unique across products.
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    /// Units that can still be ordered (reserved units are already gone).
    pub stock: i64,
    pub version: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A product to create, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
}

/// The fields a product update sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub stock: Option<i64>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Product {
    /// The first version of a product.
    pub fn new(id: String, new: NewProduct, now_ms: i64) -> Self {
        Self {
            id,
            sku: new.sku,
            name: new.name,
            description: new.description,
            price_cents: new.price_cents,
            stock: new.stock,
            version: 1,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    /// This product with `changes` applied, as its next version.
    pub fn changed(&self, changes: &ProductChanges, now_ms: i64) -> Self {
        let mut next = self.clone();
        if let Some(sku) = &changes.sku {
            next.sku = sku.clone();
        }
        if let Some(name) = &changes.name {
            next.name = name.clone();
        }
        if let Some(description) = &changes.description {
            next.description = description.clone();
        }
        if let Some(price) = changes.price_cents {
            next.price_cents = price;
        }
        if let Some(stock) = changes.stock {
            next.stock = stock;
        }
        next.version += 1;
        next.updated_at = now_ms;
        next
    }
}

/// What an order asks for, validated: distinct products, each at least one
/// unit. Prices are not part of it: the store takes each product's price
/// at the moment it reserves the stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub lines: Vec<LineRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    pub product_id: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// The stock of every line is reserved.
    Placed,
    /// The stock went back; final.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One line of a placed order. SKU and name are copied from the product at
/// ordering time, so the order reads the same after the product changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub version: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Order {
    /// A placed order of `lines` (product and quantity) at `products`'
    /// current prices; `products[i]` is the product of `lines[i]`.
    pub fn placed(id: String, lines: &[LineRequest], products: &[&Product], now_ms: i64) -> Self {
        let lines: Vec<OrderLine> = lines
            .iter()
            .zip(products)
            .map(|(line, product)| OrderLine {
                product_id: product.id.clone(),
                sku: product.sku.clone(),
                name: product.name.clone(),
                quantity: line.quantity,
                unit_price_cents: product.price_cents,
                // Bounded by validation (quantity and price limits), so
                // neither this nor the sum below can overflow.
                line_total_cents: product.price_cents * line.quantity,
            })
            .collect();
        Self {
            total_cents: lines.iter().map(|l| l.line_total_cents).sum(),
            id,
            status: OrderStatus::Placed,
            lines,
            version: 1,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    /// This order cancelled, as its next version.
    pub fn cancelled(&self, now_ms: i64) -> Self {
        Self {
            status: OrderStatus::Cancelled,
            version: self.version + 1,
            updated_at: now_ms,
            ..self.clone()
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, price_cents: i64) -> Product {
        Product::new(
            id.into(),
            NewProduct {
                sku: format!("SKU-{id}"),
                name: format!("Product {id}"),
                description: String::new(),
                price_cents,
                stock: 10,
            },
            1_000,
        )
    }

    #[test]
    fn changes_make_the_next_version() {
        let p = product("a", 250);
        assert_eq!((p.version, p.created_at, p.updated_at), (1, 1_000, 1_000));
        let changes = ProductChanges {
            price_cents: Some(300),
            stock: Some(0),
            ..ProductChanges::default()
        };
        let q = p.changed(&changes, 2_000);
        assert_eq!((q.price_cents, q.stock, q.version), (300, 0, 2));
        assert_eq!((q.name, q.created_at, q.updated_at), (p.name, 1_000, 2_000));
        assert!(ProductChanges::default().is_empty());
        assert!(!changes.is_empty());
    }

    #[test]
    fn an_order_totals_its_lines_at_current_prices() {
        let (a, b) = (product("a", 250), product("b", 1_999));
        let lines = [
            LineRequest {
                product_id: "a".into(),
                quantity: 3,
            },
            LineRequest {
                product_id: "b".into(),
                quantity: 1,
            },
        ];
        let order = Order::placed("o".into(), &lines, &[&a, &b], 5);
        assert_eq!(order.lines[0].line_total_cents, 750);
        assert_eq!(order.lines[1].sku, "SKU-b");
        assert_eq!(order.total_cents, 2_749);
        assert_eq!((order.status, order.version), (OrderStatus::Placed, 1));
        let cancelled = order.cancelled(9);
        assert_eq!(cancelled.status, OrderStatus::Cancelled);
        assert_eq!((cancelled.version, cancelled.updated_at), (2, 9));
        assert_eq!(
            serde_json::to_value(&cancelled).unwrap()["status"],
            "cancelled"
        );
    }
}
