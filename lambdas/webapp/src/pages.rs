//! The web tier's pages, as HTML strings (see [`crate::html`] for the
//! escaping and the frame). Functions here only render; what to show comes
//! from the handlers in [`crate::web`].

use std::collections::BTreeMap;

use crate::app_api::ListPage;
use crate::html::{self, Frame, csrf_field, escape, form_notice, input, textarea, time};
use crate::model::{Order, OrderStatus, Product};
use crate::validate::{self, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_QUANTITY, MAX_SKU_CHARS};

/// What a page needs to know about its request: the id shown in the footer
/// and the CSRF token its forms carry.
pub struct PageInfo<'a> {
    pub request_id: &'a str,
    pub csrf_token: &'a str,
}

/// Errors of a submitted form: by field name, plus one about the form as a
/// whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    pub fields: BTreeMap<String, String>,
    pub notice: Option<String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.notice.is_none()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: &str, message: impl Into<String>) {
        self.fields.insert(name.to_owned(), message.into());
    }

    pub fn notice(message: impl Into<String>) -> Self {
        Self {
            notice: Some(message.into()),
            ..Self::default()
        }
    }
}

/// The text of the product form's fields, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductForm {
    pub sku: String,
    pub name: String,
    pub description: String,
    /// An amount like `12.50`.
    pub price: String,
    pub stock: String,
}

impl ProductForm {
    pub fn of(product: &Product) -> Self {
        Self {
            sku: product.sku.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            price: validate::format_money(product.price_cents),
            stock: product.stock.to_string(),
        }
    }
}

/// Where the product form goes.
pub enum ProductFormTarget<'a> {
    New,
    /// Editing `product`, based on `version`.
    Edit {
        id: &'a str,
        version: u64,
    },
}

fn frame<'a>(info: &'a PageInfo<'a>, title: &'a str) -> Frame<'a> {
    Frame {
        title,
        request_id: info.request_id,
    }
}

/// A page that only says something (errors, refusals).
pub fn message(info: &PageInfo<'_>, title: &str, text: &str) -> String {
    let body = format!(
        "<p class=\"message\">{}</p>\n<p><a href=\"/products\">Back to the products</a></p>",
        escape(text)
    );
    html::document(&frame(info, title), &body)
}

/// `/products`: the search form, a table of one page, and the pager.
pub fn product_list(
    info: &PageInfo<'_>,
    products: &ListPage<Product>,
    q: &str,
    search_error: Option<&str>,
    at_start: bool,
) -> String {
    let mut body = format!(
        "<form method=\"get\" action=\"/products\" class=\"search\">{}<button type=\"submit\">Search</button></form>\n",
        input(
            "Search by name or SKU",
            "q",
            "search",
            q,
            &format!(" maxlength=\"{}\"", validate::MAX_SEARCH_CHARS),
            search_error
        )
    );
    if products.items.is_empty() {
        body.push_str(if q.is_empty() {
            "<p>No products yet. <a href=\"/products/new\">Add one</a>.</p>\n"
        } else {
            "<p>No product matches.</p>\n"
        });
    } else {
        body.push_str(
            "<table>\n<thead><tr><th>SKU</th><th>Name</th><th class=\"num\">Price</th><th class=\"num\">In stock</th></tr></thead>\n<tbody>\n",
        );
        for p in &products.items {
            body.push_str(&format!(
                "<tr><td>{sku}</td><td><a href=\"/products/{id}\">{name}</a></td><td class=\"num\">{price}</td><td class=\"num\">{stock}</td></tr>\n",
                sku = escape(&p.sku),
                id = escape(&p.id),
                name = escape(&p.name),
                price = validate::format_money(p.price_cents),
                stock = p.stock,
            ));
        }
        body.push_str("</tbody>\n</table>\n");
    }
    body.push_str(&pager(
        "/products",
        q,
        products.next_cursor.as_deref(),
        at_start,
    ));
    html::document(&frame(info, "Products"), &body)
}

/// "First page" (when not on it) and "Next page" (when there is one)
/// links, keeping the search.
fn pager(path: &str, q: &str, next_cursor: Option<&str>, at_start: bool) -> String {
    let mut links = Vec::new();
    let search: Vec<(&str, &str)> = if q.is_empty() { vec![] } else { vec![("q", q)] };
    if !at_start {
        let first = html::query(&search);
        let href = if first.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{first}")
        };
        links.push(format!(
            "<a href=\"{}\" rel=\"first\">First page</a>",
            escape(&href)
        ));
    }
    if let Some(cursor) = next_cursor {
        let mut pairs = search.clone();
        pairs.push(("cursor", cursor));
        links.push(format!(
            "<a href=\"{}\" rel=\"next\">Next page</a>",
            escape(&format!("{path}?{}", html::query(&pairs)))
        ));
    }
    if links.is_empty() {
        String::new()
    } else {
        format!("<nav class=\"pager\">{}</nav>\n", links.join(" "))
    }
}

/// The new-product and edit-product form, with each error next to its field.
pub fn product_form(
    info: &PageInfo<'_>,
    target: ProductFormTarget<'_>,
    form: &ProductForm,
    errors: &FormErrors,
) -> String {
    let (title, action, hidden, button) = match target {
        ProductFormTarget::New => (
            "New product",
            "/products".to_owned(),
            String::new(),
            "Create product",
        ),
        ProductFormTarget::Edit { id, version } => (
            "Edit product",
            format!("/products/{}/edit", escape(id)),
            format!("<input type=\"hidden\" name=\"version\" value=\"{version}\">"),
            "Save changes",
        ),
    };
    let body = format!(
        "{notice}<form method=\"post\" action=\"{action}\" novalidate>\n{csrf}{hidden}\n{sku}\n{name}\n{description}\n{price}\n{stock}\n\
         <p><button type=\"submit\">{button}</button></p>\n</form>",
        notice = form_notice(errors.notice.as_deref()),
        csrf = csrf_field(info.csrf_token),
        sku = input(
            "SKU",
            "sku",
            "text",
            &form.sku,
            &format!(" required maxlength=\"{MAX_SKU_CHARS}\""),
            errors.field("sku")
        ),
        name = input(
            "Name",
            "name",
            "text",
            &form.name,
            &format!(" required maxlength=\"{MAX_NAME_CHARS}\""),
            errors.field("name")
        ),
        description = textarea(
            "Description",
            "description",
            &form.description,
            &format!(" maxlength=\"{MAX_DESCRIPTION_CHARS}\""),
            errors.field("description")
        ),
        price = input(
            "Price",
            "price",
            "text",
            &form.price,
            " required inputmode=\"decimal\" placeholder=\"12.50\"",
            errors.field("price")
        ),
        stock = input(
            "In stock",
            "stock",
            "number",
            &form.stock,
            " required min=\"0\" step=\"1\"",
            errors.field("stock")
        ),
    );
    html::document(&frame(info, title), &body)
}

/// A product with its order form (quantity as typed, and its error).
pub fn product_page(
    info: &PageInfo<'_>,
    product: &Product,
    quantity: &str,
    errors: &FormErrors,
) -> String {
    let description = if product.description.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"description\">{}</p>\n",
            escape(&product.description)
        )
    };
    let availability = if product.stock == 0 {
        "<p class=\"stock\" id=\"stock\">Out of stock</p>".to_owned()
    } else {
        format!(
            "<p class=\"stock\" id=\"stock\">{} in stock</p>",
            product.stock
        )
    };
    let body = format!(
        "<p>SKU <code>{sku}</code> · price <strong>{price}</strong></p>\n{description}{availability}\n\
         <h2>Order</h2>\n{notice}<form method=\"post\" action=\"/orders\" novalidate>\n{csrf}\
         <input type=\"hidden\" name=\"product_id\" value=\"{id}\">\n{quantity}\n\
         <p><button type=\"submit\">Place order</button></p>\n</form>\n\
         <p><a href=\"/products/{id}/edit\">Edit this product</a></p>\n\
         <p class=\"meta\">version {version} · updated {updated}</p>",
        sku = escape(&product.sku),
        price = validate::format_money(product.price_cents),
        notice = form_notice(errors.notice.as_deref()),
        csrf = csrf_field(info.csrf_token),
        id = escape(&product.id),
        quantity = input(
            "Quantity",
            "quantity",
            "number",
            quantity,
            &format!(" required min=\"1\" max=\"{MAX_QUANTITY}\" step=\"1\""),
            errors.field("quantity")
        ),
        version = product.version,
        updated = time(product.updated_at),
    );
    html::document(&frame(info, &product.name), &body)
}

/// An order: its lines, total and status, and the cancel button while it
/// is placed.
pub fn order_page(info: &PageInfo<'_>, order: &Order) -> String {
    let mut body = format!(
        "<p>Status <strong id=\"status\">{status}</strong> · placed {created}</p>\n<table>\n\
         <thead><tr><th>SKU</th><th>Product</th><th class=\"num\">Quantity</th><th class=\"num\">Unit price</th><th class=\"num\">Line total</th></tr></thead>\n<tbody>\n",
        status = order.status.as_str(),
        created = time(order.created_at),
    );
    for line in &order.lines {
        body.push_str(&format!(
            "<tr><td>{sku}</td><td><a href=\"/products/{id}\">{name}</a></td><td class=\"num\">{quantity}</td><td class=\"num\">{unit}</td><td class=\"num\">{total}</td></tr>\n",
            sku = escape(&line.sku),
            id = escape(&line.product_id),
            name = escape(&line.name),
            quantity = line.quantity,
            unit = validate::format_money(line.unit_price_cents),
            total = validate::format_money(line.line_total_cents),
        ));
    }
    body.push_str(&format!(
        "</tbody>\n<tfoot><tr><th colspan=\"4\">Total</th><th class=\"num\" id=\"total\">{}</th></tr></tfoot>\n</table>\n",
        validate::format_money(order.total_cents)
    ));
    if order.status == OrderStatus::Placed {
        body.push_str(&format!(
            "<form method=\"post\" action=\"/orders/{id}/cancel\">{csrf}<button type=\"submit\">Cancel order</button></form>\n",
            id = escape(&order.id),
            csrf = csrf_field(info.csrf_token),
        ));
    }
    html::document(&frame(info, &format!("Order {}", order.id)), &body)
}

/// `/orders`: one page, newest first.
pub fn order_list(info: &PageInfo<'_>, orders: &ListPage<Order>, at_start: bool) -> String {
    let mut body = String::new();
    if orders.items.is_empty() {
        body.push_str("<p>No orders yet.</p>\n");
    } else {
        body.push_str(
            "<table>\n<thead><tr><th>Order</th><th>Placed</th><th>Status</th><th class=\"num\">Lines</th><th class=\"num\">Total</th></tr></thead>\n<tbody>\n",
        );
        for o in &orders.items {
            body.push_str(&format!(
                "<tr><td><a href=\"/orders/{id}\">{id}</a></td><td>{created}</td><td>{status}</td><td class=\"num\">{lines}</td><td class=\"num\">{total}</td></tr>\n",
                id = escape(&o.id),
                created = time(o.created_at),
                status = o.status.as_str(),
                lines = o.lines.len(),
                total = validate::format_money(o.total_cents),
            ));
        }
        body.push_str("</tbody>\n</table>\n");
    }
    body.push_str(&pager(
        "/orders",
        "",
        orders.next_cursor.as_deref(),
        at_start,
    ));
    html::document(&frame(info, "Orders"), &body)
}
