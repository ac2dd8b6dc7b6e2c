//! The web page: one self-contained HTML file (no build step) that signs
//! in with a token (pasted, or minted by `/dev/token` under `chat serve
//! --dev-tokens`), and shows conversations, messages, who is online and
//! who is typing. It talks to `chat serve` (`/ws` of the same host), to the
//! deployed API named by the `page` function (`WEBSOCKET_URL`), or to any
//! WebSocket URL given as `?ws=wss://...`. Element ids the browser test
//! relies on are listed in the README.

pub const HTML: &str = include_str!("page.html");

/// Headers every answer with the page carries: no framing by other sites,
/// no sniffing, and a policy that lets the page's own inline script and
/// WebSocket connections run and nothing else load.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
];

/// The page with `websocket_url` as its default socket (the deployed
/// API's `wss://` URL), or as served by `chat serve` when `None`.
pub fn with_websocket_url(websocket_url: Option<&str>) -> String {
    match websocket_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => HTML.to_owned(),
        Some(url) => {
            let url = websocket_scheme(url);
            HTML.replacen(
                "<meta charset=\"utf-8\">",
                &format!(
                    "<meta charset=\"utf-8\">\n<meta name=\"chat-ws\" content=\"{}\">",
                    escape_attribute(&url)
                ),
                1,
            )
        }
    }
}

/// `url` with the WebSocket scheme of its HTTP one: an API's endpoint
/// given as `https://` (as some emulators report a WebSocket API's, or as a
/// user may write it) is the same endpoint over `wss://`.
fn websocket_scheme(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        url.to_owned()
    }
}

fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_the_documented_elements() {
        for id in [
            "ws-url",
            "token",
            "signin",
            "dev-user",
            "dev-conversations",
            "dev-signin",
            "status",
            "conversations",
            "messages",
            "typing",
            "online",
            "composer",
            "text",
            "send",
            "error",
        ] {
            assert!(HTML.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }

    #[test]
    fn the_deployed_page_names_its_socket_escaped() {
        let page = with_websocket_url(Some("wss://abc.execute-api.us-east-1.amazonaws.com/prod"));
        assert!(page.contains(
            "<meta name=\"chat-ws\" content=\"wss://abc.execute-api.us-east-1.amazonaws.com/prod\">"
        ));
        let hostile = with_websocket_url(Some("wss://x/\"><script>alert(1)</script>"));
        assert!(!hostile.contains("<script>alert(1)"), "{hostile}");
        assert_eq!(with_websocket_url(Some("  ")), HTML);
        assert!(
            with_websocket_url(Some("https://abc.example/prod"))
                .contains("content=\"wss://abc.example/prod\"")
        );
        assert!(
            with_websocket_url(Some("http://127.0.0.1:9/local"))
                .contains("content=\"ws://127.0.0.1:9/local\"")
        );
        assert_eq!(with_websocket_url(None), HTML);
    }
}
