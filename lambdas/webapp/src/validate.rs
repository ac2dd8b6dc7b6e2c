//! Checks of everything a client sends, before anything is stored.
//!
//! Each refusal names the field it is about ([`FieldError::field`]), so the
//! API can say which input is wrong and the web tier can show the message
//! next to that field of its form. Limits are in characters (not bytes),
//! as a person typing counts them.

use serde_json::{Map, Value};

use crate::ids::is_product_id;
use crate::model::{LineRequest, NewProduct, OrderRequest, ProductChanges};

pub const MAX_SKU_CHARS: usize = 64;
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// $1,000,000.00: far above any shop item, far below where a line total
/// (price times [`MAX_QUANTITY`], times [`MAX_ORDER_LINES`]) could overflow.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
pub const MAX_STOCK: i64 = 1_000_000_000;
pub const MAX_QUANTITY: i64 = 10_000;
/// DynamoDB's TransactWriteItems takes at most 100 items: the order and one
/// stock update per line must fit in one transaction, with room to spare.
pub const MAX_ORDER_LINES: usize = 25;
pub const MAX_SEARCH_CHARS: usize = 100;
pub const DEFAULT_PAGE_LIMIT: usize = 20;
pub const MAX_PAGE_LIMIT: usize = 100;

/// Input that cannot be used, and which field it is in (`lines[0].quantity`
/// for a field inside an order line; `body` for the request as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A SKU: 1 to 64 of `A-Z a-z 0-9 . _ -`, surrounding blanks removed.
pub fn sku(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new("sku", "sku is required"));
    }
    if value.chars().count() > MAX_SKU_CHARS {
        return Err(FieldError::new(
            "sku",
            format!("sku is longer than {MAX_SKU_CHARS} characters"),
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(FieldError::new(
            "sku",
            "sku may only hold letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(value.to_owned())
}

/// A product name: 1 to 200 characters, no control characters.
pub fn name(value: &str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldError::new("name", "name is required"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            format!("name is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "name may not hold control characters (line breaks, tabs, ...)",
        ));
    }
    Ok(value.to_owned())
}

/// A description: up to 2000 characters; line breaks and tabs are kept
/// (browsers send a text area's line breaks as CRLF, stored as LF), other
/// control characters refused.
pub fn description(value: &str) -> Result<String, FieldError> {
    let value = value.replace("\r\n", "\n");
    let value = value.trim();
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(FieldError::new(
            "description",
            format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(FieldError::new(
            "description",
            "description may not hold control characters other than line breaks and tabs",
        ));
    }
    Ok(value.to_owned())
}

fn in_range(field: &str, value: i64, min: i64, max: i64, unit: &str) -> Result<i64, FieldError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(range_error(field, min, max, unit))
    }
}

fn range_error(field: &str, min: i64, max: i64, unit: &str) -> FieldError {
    FieldError::new(
        field,
        format!("{field} must be a whole number from {min} to {max}{unit}"),
    )
}

pub fn price_cents(value: i64) -> Result<i64, FieldError> {
    in_range("price_cents", value, 0, MAX_PRICE_CENTS, " (cents)")
}

pub fn stock(value: i64) -> Result<i64, FieldError> {
    in_range("stock", value, 0, MAX_STOCK, "")
}

/// A quantity of one order line; `field` says which line.
pub fn quantity(field: &str, value: i64) -> Result<i64, FieldError> {
    in_range(field, value, 1, MAX_QUANTITY, "")
}

/// The JSON object of a request body.
fn object(body: &Value) -> Result<&Map<String, Value>, FieldError> {
    body.as_object()
        .ok_or_else(|| FieldError::new("body", "the body must be a JSON object"))
}

/// Refuses fields outside `allowed`: a misspelt field silently ignored
/// would look like a change that was made.
fn only_fields(map: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), FieldError> {
    match map.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(FieldError::new(
            format!("{prefix}{key}"),
            format!(
                "unknown field '{prefix}{key}'; the fields are {}",
                allowed.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

fn string_field<'a>(value: &'a Value, field: &str) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| FieldError::new(field, format!("{field} must be a string")))
}

/// A whole number in `min..=max`; a float, a string or anything else is
/// refused with the range in the message.
fn integer_field(
    value: &Value,
    field: &str,
    min: i64,
    max: i64,
    unit: &str,
) -> Result<i64, FieldError> {
    match value.as_i64() {
        Some(n) => in_range(field, n, min, max, unit),
        None => Err(range_error(field, min, max, unit)),
    }
}

const PRODUCT_FIELDS: &[&str] = &["sku", "name", "description", "price_cents", "stock"];

/// `POST /api/products`: sku, name, price_cents and stock required,
/// description optional.
pub fn new_product(body: &Value) -> Result<NewProduct, FieldError> {
    let map = object(body)?;
    only_fields(map, PRODUCT_FIELDS, "")?;
    let required = |field: &str| {
        map.get(field)
            .filter(|v| !v.is_null())
            .ok_or_else(|| FieldError::new(field, format!("{field} is required")))
    };
    Ok(NewProduct {
        sku: sku(string_field(required("sku")?, "sku")?)?,
        name: name(string_field(required("name")?, "name")?)?,
        description: match map.get("description").filter(|v| !v.is_null()) {
            Some(v) => description(string_field(v, "description")?)?,
            None => String::new(),
        },
        price_cents: integer_field(
            required("price_cents")?,
            "price_cents",
            0,
            MAX_PRICE_CENTS,
            " (cents)",
        )?,
        stock: integer_field(required("stock")?, "stock", 0, MAX_STOCK, "")?,
    })
}

/// `PATCH /api/products/{id}` (a JSON merge patch): any of the product's
/// fields, at least one; `null` is refused (no field can be removed).
pub fn product_changes(body: &Value) -> Result<ProductChanges, FieldError> {
    let map = object(body)?;
    only_fields(map, PRODUCT_FIELDS, "")?;
    if let Some((field, _)) = map.iter().find(|(_, v)| v.is_null()) {
        return Err(FieldError::new(
            field.as_str(),
            format!("{field} cannot be removed; send a value"),
        ));
    }
    let changes = ProductChanges {
        sku: map
            .get("sku")
            .map(|v| string_field(v, "sku").and_then(sku))
            .transpose()?,
        name: map
            .get("name")
            .map(|v| string_field(v, "name").and_then(name))
            .transpose()?,
        description: map
            .get("description")
            .map(|v| string_field(v, "description").and_then(description))
            .transpose()?,
        price_cents: map
            .get("price_cents")
            .map(|v| integer_field(v, "price_cents", 0, MAX_PRICE_CENTS, " (cents)"))
            .transpose()?,
        stock: map
            .get("stock")
            .map(|v| integer_field(v, "stock", 0, MAX_STOCK, ""))
            .transpose()?,
    };
    if changes.is_empty() {
        return Err(FieldError::new(
            "body",
            format!(
                "nothing to change: send at least one of {}",
                PRODUCT_FIELDS.join(", ")
            ),
        ));
    }
    Ok(changes)
}

/// `POST /api/orders`: `{"lines": [{"product_id", "quantity"}, ...]}`, 1 to
/// 25 lines, each product at most once.
pub fn order_request(body: &Value) -> Result<OrderRequest, FieldError> {
    let map = object(body)?;
    only_fields(map, &["lines"], "")?;
    let lines = map.get("lines").and_then(Value::as_array).ok_or_else(|| {
        FieldError::new("lines", "lines must be a list of {product_id, quantity}")
    })?;
    if lines.is_empty() || lines.len() > MAX_ORDER_LINES {
        return Err(FieldError::new(
            "lines",
            format!("an order has 1 to {MAX_ORDER_LINES} lines"),
        ));
    }
    let mut checked: Vec<LineRequest> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let prefix = format!("lines[{i}].");
        let line = line.as_object().ok_or_else(|| {
            FieldError::new(
                format!("lines[{i}]"),
                format!("lines[{i}] must be an object {{product_id, quantity}}"),
            )
        })?;
        only_fields(line, &["product_id", "quantity"], &prefix)?;
        let id_field = format!("{prefix}product_id");
        let product_id = string_field(
            line.get("product_id")
                .ok_or_else(|| FieldError::new(&id_field, format!("{id_field} is required")))?,
            &id_field,
        )?;
        if !is_product_id(product_id) {
            return Err(FieldError::new(
                &id_field,
                format!("{id_field}: there is no product {product_id:?}"),
            ));
        }
        if checked.iter().any(|l| l.product_id == product_id) {
            return Err(FieldError::new(
                &id_field,
                format!(
                    "{id_field}: product {product_id} is already on another line; add the quantities up"
                ),
            ));
        }
        let quantity_field = format!("{prefix}quantity");
        let quantity = integer_field(
            line.get("quantity").ok_or_else(|| {
                FieldError::new(&quantity_field, format!("{quantity_field} is required"))
            })?,
            &quantity_field,
            1,
            MAX_QUANTITY,
            "",
        )?;
        checked.push(LineRequest {
            product_id: product_id.to_owned(),
            quantity,
        });
    }
    Ok(OrderRequest { lines: checked })
}

/// The `q` search parameter: blank means no search.
pub fn search(value: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > MAX_SEARCH_CHARS {
        return Err(FieldError::new(
            "q",
            format!("q is longer than {MAX_SEARCH_CHARS} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new("q", "q may not hold control characters"));
    }
    Ok(Some(value.to_owned()))
}

/// The `limit` parameter: items per page.
pub fn page_limit(value: Option<&str>) -> Result<usize, FieldError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_PAGE_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => Ok(n),
            _ => Err(FieldError::new(
                "limit",
                format!("limit must be a whole number from 1 to {MAX_PAGE_LIMIT}"),
            )),
        },
    }
}

/// A price typed in a form (`12`, `12.5`, `12.50`) as cents. Only digits
/// and one point with at most two decimals: no signs, exponents, grouping
/// or currency symbols, so nothing is guessed.
pub fn parse_money(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let refuse = || {
        format!(
            "price must be an amount like 12.50 (0 to {})",
            format_money(MAX_PRICE_CENTS)
        )
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 9
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().map_err(|_| refuse())? * 10,
        _ => fraction.parse().map_err(|_| refuse())?,
    };
    let cents = whole * 100 + fraction;
    if cents > MAX_PRICE_CENTS {
        return Err(refuse());
    }
    Ok(cents)
}

/// Cents as an amount with two decimals (`1999` → `19.99`).
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PRODUCT: &str = "prd_01ARYZ6S41TSV4RRFFQ69G5FAV";

    fn refused(result: Result<impl std::fmt::Debug, FieldError>) -> FieldError {
        result.expect_err("should be refused")
    }

    #[test]
    fn a_complete_product_is_accepted_and_trimmed() {
        let p = new_product(&json!({
            "sku": " W-1 ", "name": "  Widget ", "description": "line 1\r\nline 2",
            "price_cents": 1999, "stock": 10
        }))
        .unwrap();
        assert_eq!((p.sku.as_str(), p.name.as_str()), ("W-1", "Widget"));
        assert_eq!(p.description, "line 1\nline 2");
        assert_eq!((p.price_cents, p.stock), (1999, 10));
        let p =
            new_product(&json!({"sku": "a", "name": "b", "price_cents": 0, "stock": 0})).unwrap();
        assert_eq!(p.description, "");
    }

    #[test]
    fn every_product_refusal_names_its_field() {
        let base = json!({"sku": "W-1", "name": "Widget", "price_cents": 100, "stock": 1});
        let with = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            body
        };
        let cases = [
            (with("sku", json!("")), "sku", "sku is required"),
            (with("sku", json!("a b")), "sku", "letters, digits"),
            (with("sku", json!("x".repeat(65))), "sku", "longer than 64"),
            (with("sku", json!(5)), "sku", "must be a string"),
            (with("name", json!("   ")), "name", "name is required"),
            (
                with("name", json!("é".repeat(201))),
                "name",
                "longer than 200",
            ),
            (with("name", json!("a\nb")), "name", "control characters"),
            (
                with("description", json!("d".repeat(2001))),
                "description",
                "longer than 2000",
            ),
            (
                with("description", json!("a\u{7}b")),
                "description",
                "control",
            ),
            (
                with("price_cents", json!(-1)),
                "price_cents",
                "from 0 to 100000000",
            ),
            (
                with("price_cents", json!(12.5)),
                "price_cents",
                "whole number",
            ),
            (
                with("price_cents", json!("100")),
                "price_cents",
                "whole number",
            ),
            (
                with("stock", json!(1_000_000_001)),
                "stock",
                "from 0 to 1000000000",
            ),
            (with("stock", Value::Null), "stock", "stock is required"),
            (
                with("colour", json!("red")),
                "colour",
                "unknown field 'colour'",
            ),
            (json!([1, 2]), "body", "JSON object"),
        ];
        for (body, field, message) in cases {
            let err = refused(new_product(&body));
            assert_eq!(err.field, field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
        // Limits count characters, not bytes: 200 two-byte characters pass.
        assert!(new_product(&with("name", json!("é".repeat(200)))).is_ok());
    }

    #[test]
    fn changes_need_one_known_non_null_field() {
        let c = product_changes(&json!({"price_cents": 5, "name": " New "})).unwrap();
        assert_eq!((c.price_cents, c.name.as_deref()), (Some(5), Some("New")));
        assert_eq!(c.stock, None);
        assert_eq!(refused(product_changes(&json!({}))).field, "body");
        assert_eq!(
            refused(product_changes(&json!({"stock": null}))).field,
            "stock"
        );
        assert_eq!(
            refused(product_changes(&json!({"stock": -3}))).field,
            "stock"
        );
        assert_eq!(
            refused(product_changes(&json!({"version": 2}))).field,
            "version"
        );
    }

    #[test]
    fn orders_are_checked_line_by_line() {
        let order =
            order_request(&json!({"lines": [{"product_id": PRODUCT, "quantity": 2}]})).unwrap();
        assert_eq!(order.lines[0].quantity, 2);
        let other = "prd_01ARYZ6S41TSV4RRFFQ69G5FAW";
        let cases = [
            (json!({}), "lines"),
            (json!({"lines": []}), "lines"),
            (json!({"lines": "x"}), "lines"),
            (json!({"lines": [5]}), "lines[0]"),
            (
                json!({"lines": [{"product_id": PRODUCT}]}),
                "lines[0].quantity",
            ),
            (
                json!({"lines": [{"product_id": PRODUCT, "quantity": 0}]}),
                "lines[0].quantity",
            ),
            (
                json!({"lines": [{"product_id": PRODUCT, "quantity": 10_001}]}),
                "lines[0].quantity",
            ),
            (
                json!({"lines": [{"product_id": PRODUCT, "quantity": -1}]}),
                "lines[0].quantity",
            ),
            (
                json!({"lines": [{"product_id": "nope", "quantity": 1}]}),
                "lines[0].product_id",
            ),
            (json!({"lines": [{"quantity": 1}]}), "lines[0].product_id"),
            (
                json!({"lines": [{"product_id": PRODUCT, "quantity": 1, "price": 0}]}),
                "lines[0].price",
            ),
            (
                json!({"lines": [{"product_id": other, "quantity": 1}, {"product_id": other, "quantity": 2}]}),
                "lines[1].product_id",
            ),
            (
                json!({"lines": [{"product_id": PRODUCT, "quantity": 1}], "coupon": "x"}),
                "coupon",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(refused(order_request(&body)).field, field, "{body}");
        }
        let many: Vec<Value> = (0..26)
            .map(|i| json!({"product_id": format!("prd_01ARYZ6S41TSV4RRFFQ69G5F{:02}", i), "quantity": 1}))
            .collect();
        assert_eq!(
            refused(order_request(&json!({"lines": many}))).field,
            "lines"
        );
    }

    #[test]
    fn search_and_limit() {
        assert_eq!(search(None).unwrap(), None);
        assert_eq!(search(Some("  ")).unwrap(), None);
        assert_eq!(search(Some(" wid ")).unwrap().as_deref(), Some("wid"));
        assert_eq!(refused(search(Some(&"q".repeat(101)))).field, "q");
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE_LIMIT);
        assert_eq!(page_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(refused(page_limit(Some(bad))).field, "limit");
        }
    }

    #[test]
    fn money_in_forms() {
        for (text, cents) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("0.07", 7),
            (" 3.00 ", 300),
            ("1000000", 100_000_000),
        ] {
            assert_eq!(parse_money(text), Ok(cents), "{text}");
        }
        for bad in [
            "",
            "-1",
            "1.234",
            "1,50",
            "1e3",
            "$5",
            "12.",
            ".5",
            "1000000.01",
            "9999999999",
        ] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
        assert_eq!(format_money(1999), "19.99");
        assert_eq!(format_money(7), "0.07");
        assert_eq!(format_money(0), "0.00");
    }
}
