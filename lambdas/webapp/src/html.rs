//! HTML building blocks of the web tier's pages: escaping, the page frame,
//! form fields with their error next to them, and the style sheet.
//!
//! Pages are plain strings. Every value that did not come from this file
//! goes through [`escape`] (text and double-quoted attribute values alike),
//! and no page has a script, so the Content-Security-Policy can forbid
//! scripts outright.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// Text made safe for HTML text and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query string (`a=1&b=x%20y`) from pairs, percent-encoded; escape it
/// again when it goes into an attribute.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// What the frame of every page shows besides its body.
pub struct Frame<'a> {
    pub title: &'a str,
    pub request_id: &'a str,
}

/// A whole document: head, navigation, `body`, and the request id in the
/// footer (what to quote when reporting a problem).
pub fn document(frame: &Frame<'_>, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Orders</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n</head>\n<body>\n\
         <header><nav><a href=\"/products\">Products</a> <a href=\"/products/new\">New product</a> \
         <a href=\"/orders\">Orders</a></nav></header>\n<main>\n<h1>{title}</h1>\n{body}\n</main>\n\
         <footer>request id <code>{request_id}</code></footer>\n</body>\n</html>\n",
        title = escape(frame.title),
        request_id = escape(frame.request_id),
    )
}

/// An HTML response.
pub fn respond(status: StatusCode, document: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        document,
    )
        .into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        crate::csrf::TOKEN_FIELD,
        escape(token)
    )
}

/// The error of a field, right after it (`id="{name}-error"`, which the
/// field names in `aria-describedby`), or nothing.
pub fn field_error(name: &str, error: Option<&str>) -> String {
    match error {
        Some(message) => format!(
            "<p class=\"field-error\" id=\"{name}-error\" role=\"alert\">{}</p>",
            escape(message)
        ),
        None => String::new(),
    }
}

/// The attributes that tie a field to its error and mark it invalid.
fn invalid_attributes(name: &str, error: Option<&str>) -> String {
    if error.is_some() {
        format!(" aria-invalid=\"true\" aria-describedby=\"{name}-error\"")
    } else {
        String::new()
    }
}

/// A labelled single-line input with its error.
pub fn input(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    extra: &str,
    error: Option<&str>,
) -> String {
    format!(
        "<p class=\"field\"><label for=\"{name}\">{label}</label>\
         <input id=\"{name}\" name=\"{name}\" type=\"{kind}\" value=\"{value}\"{extra}{invalid}>{error}</p>",
        label = escape(label),
        value = escape(value),
        invalid = invalid_attributes(name, error),
        error = field_error(name, error),
    )
}

/// A labelled text area with its error.
pub fn textarea(label: &str, name: &str, value: &str, extra: &str, error: Option<&str>) -> String {
    format!(
        "<p class=\"field\"><label for=\"{name}\">{label}</label>\
         <textarea id=\"{name}\" name=\"{name}\" rows=\"4\"{extra}{invalid}>{value}</textarea>{error}</p>",
        label = escape(label),
        value = escape(value),
        invalid = invalid_attributes(name, error),
        error = field_error(name, error),
    )
}

/// A message about the form as a whole (not one field).
pub fn form_notice(message: Option<&str>) -> String {
    match message {
        Some(message) => format!(
            "<p class=\"form-error\" id=\"form-error\" role=\"alert\">{}</p>",
            escape(message)
        ),
        None => String::new(),
    }
}

/// A Unix-milliseconds time as RFC 3339 in UTC (seconds precision).
pub fn time(epoch_ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(epoch_ms) {
        Ok(ts) => escape(&format!("{ts:.0}")),
        Err(_) => String::from("?"),
    }
}

/// The style sheet at `/static/style.css` (a file, not inline, so the
/// Content-Security-Policy needs no `'unsafe-inline'`).
pub const STYLE_CSS: &str = "\
body{font-family:system-ui,sans-serif;max-width:56rem;margin:0 auto;padding:0 1rem;color:#1d1d1f}
header nav{display:flex;gap:1rem;padding:1rem 0;border-bottom:1px solid #ddd}
footer{margin:2rem 0;color:#777;font-size:.8rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.4rem;border-bottom:1px solid #eee}
td.num,th.num{text-align:right}
.field{display:flex;flex-direction:column;max-width:30rem}
.field label{font-weight:600;margin-bottom:.2rem}
.field input,.field textarea{padding:.4rem;font:inherit}
.field-error,.form-error{color:#b00020;margin:.2rem 0}
[aria-invalid=true]{border:2px solid #b00020}
.pager{display:flex;gap:1rem;margin:1rem 0}
.description{white-space:pre-wrap}
form.inline{display:inline}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        let field = input(
            "Name",
            "name",
            "text",
            "\"><script>",
            "",
            Some("<b>bad</b>"),
        );
        assert!(field.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(field.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(field.contains("aria-describedby=\"name-error\""));
        assert!(!input("Name", "name", "text", "x", "", None).contains("aria-invalid"));
    }

    #[test]
    fn queries_and_times() {
        assert_eq!(
            query(&[("q", "a b&c"), ("cursor", "x")]),
            "q=a+b%26c&cursor=x"
        );
        assert_eq!(time(1_700_000_000_123), "2023-11-14T22:13:20Z");
        let page = document(
            &Frame {
                title: "A <b>",
                request_id: "r1",
            },
            "<p>body</p>",
        );
        assert!(page.contains("<title>A &lt;b&gt; · Orders</title>"));
        assert!(page.contains("<p>body</p>") && page.contains("<code>r1</code>"));
    }
}
