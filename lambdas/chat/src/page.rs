//! The web page: one self-contained HTML file (no build step) that signs
//! in with a token (pasted, or minted by `/dev/token` under `chat serve
//! --dev-tokens`), and shows conversations, messages, who is online and
//! who is typing. It talks to `chat serve` (`/ws` of the same host) or to
//! any deployed API's WebSocket URL given as `?ws=wss://...`. Element ids
//! the browser test relies on are listed in the README.

pub const HTML: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_has_the_documented_elements() {
        for id in [
            "ws-url", "token", "signin", "dev-user", "dev-conversations", "dev-signin", "status",
            "conversations", "messages", "typing", "online", "composer", "text", "send", "error",
        ] {
            assert!(super::HTML.contains(&format!("id=\"{id}\"")), "{id}");
        }
    }
}
