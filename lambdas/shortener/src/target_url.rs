//! Validation of the URLs links point to.
//!
//! The parser is deliberately strict rather than forgiving: whatever it
//! accepts must mean the same host to every browser that later follows the
//! redirect. Browsers silently drop tabs and newlines (`java\nscript:`) and
//! read `\` as `/` in http URLs (`http://good\@evil`), so both are refused
//! instead of being interpreted one way here and another way there.

/// Longest accepted URL, before and after normalisation.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("url is empty")]
    Empty,
    #[error("url is longer than {MAX_URL_LEN} characters ({0})")]
    TooLong(usize),
    #[error("url must not contain spaces, control characters or backslashes")]
    ForbiddenCharacter,
    #[error("url must start with http:// or https://")]
    NoScheme,
    #[error("{0}: URLs are not allowed; only http and https")]
    DangerousScheme(String),
    #[error("only http and https URLs are allowed (got {0}:)")]
    UnsupportedScheme(String),
    #[error("url must have a host (http://host/...)")]
    NoHost,
    #[error("url must not contain credentials (user:password@)")]
    Credentials,
    #[error(
        "url host is not a valid host name: use letters, digits, '-' and '.' \
         (internationalised names in punycode, xn--...)"
    )]
    InvalidHost,
    #[error("url port must be a number from 1 to 65535")]
    InvalidPort,
    #[error("url points to this service itself ({0}); that would redirect in a loop")]
    SelfReference(String),
}

/// Schemes that run code or read local files when followed; named in the
/// refusal so the client knows why.
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "blob"];

/// Checks `raw` and returns the URL to store: scheme and host in lower case,
/// bytes that are not allowed in a URI (non-ASCII, `"`, `<`, `>`, ...) in the
/// path, query and fragment percent-encoded, so it is a valid `Location`.
///
/// `own_hosts` are the service's own host names (the request's `Host`, the
/// configured public host); a port in them is ignored, as is the link's, so a
/// link to the service on another port is refused too.
pub fn validate_target_url(raw: &str, own_hosts: &[&str]) -> Result<String, UrlError> {
    let raw = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    if raw.is_empty() {
        return Err(UrlError::Empty);
    }
    let len = raw.chars().count();
    if len > MAX_URL_LEN {
        return Err(UrlError::TooLong(len));
    }
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(UrlError::ForbiddenCharacter);
    }

    let (scheme, rest) = split_scheme(raw).ok_or(UrlError::NoScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    if DANGEROUS_SCHEMES.contains(&scheme.as_str()) {
        return Err(UrlError::DangerousScheme(scheme));
    }
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::UnsupportedScheme(scheme));
    }
    let rest = rest.strip_prefix("//").ok_or(UrlError::NoHost)?;

    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(UrlError::Credentials);
    }
    let (host, port) = split_host_port(authority)?;
    let host = host.to_ascii_lowercase();

    let bare = host_for_comparison(&host);
    if let Some(own) = own_hosts
        .iter()
        .map(|own| host_for_comparison(strip_port(own)).to_ascii_lowercase())
        .find(|own| !own.is_empty() && *own == bare)
    {
        return Err(UrlError::SelfReference(own));
    }

    let mut normalized = format!("{scheme}://{host}");
    if let Some(port) = port {
        normalized.push(':');
        normalized.push_str(port);
    }
    percent_encode_tail(tail, &mut normalized);
    let normalized_len = normalized.len();
    if normalized_len > MAX_URL_LEN {
        return Err(UrlError::TooLong(normalized_len));
    }
    Ok(normalized)
}

/// The host part of a `Host` header or authority (`host:port`, `[v6]:port`).
pub fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// `example.com.` and `example.com` name the same host.
fn host_for_comparison(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// `scheme:rest` when the text before the first `:` is a valid scheme
/// (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`).
fn split_scheme(raw: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = raw.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_ok && rest_ok).then_some((scheme, rest))
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if authority.is_empty() {
        return Err(UrlError::NoHost);
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(UrlError::InvalidHost)?;
        let (host, after) = authority.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if let Some(port) = port {
        let valid = (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(UrlError::InvalidPort);
        }
    }
    let valid_host = if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').unwrap_or(inner);
        inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        is_dns_name(host)
    };
    if !valid_host {
        return Err(UrlError::InvalidHost);
    }
    Ok((host, port))
}

/// LDH labels of 1 to 63 characters, at most 253 in all, an optional
/// trailing dot. IPv4 addresses pass as digit labels.
fn is_dns_name(host: &str) -> bool {
    let host = host_for_comparison(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Appends path/query/fragment with every byte that may not appear in a URI
/// percent-encoded; existing `%XX` escapes are kept as they are.
fn percent_encode_tail(tail: &str, out: &mut String) {
    for &b in tail.as_bytes() {
        let keep = b.is_ascii_graphic()
            && !matches!(b, b'"' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str) -> Result<String, UrlError> {
        validate_target_url(raw, &["sho.rt:8080"])
    }

    #[test]
    fn accepts_ordinary_http_and_https() {
        for (raw, stored) in [
            ("https://example.com", "https://example.com"),
            ("http://example.com/", "http://example.com/"),
            (
                "HTTPS://Example.COM:8443/a/b?q=1&r=%20#frag",
                "https://example.com:8443/a/b?q=1&r=%20#frag",
            ),
            ("  https://example.com/x  ", "https://example.com/x"),
            ("http://10.0.0.1:80/", "http://10.0.0.1:80/"),
            ("http://[::1]:8080/x", "http://[::1]:8080/x"),
            (
                "https://example.com?only=query",
                "https://example.com?only=query",
            ),
            (
                "https://xn--bcher-kva.example/",
                "https://xn--bcher-kva.example/",
            ),
        ] {
            assert_eq!(check(raw).as_deref(), Ok(stored), "{raw}");
        }
    }

    #[test]
    fn percent_encodes_what_a_location_header_cannot_hold() {
        assert_eq!(
            check("https://example.com/caf\u{e9}?q=\"a<b>\"").unwrap(),
            "https://example.com/caf%C3%A9?q=%22a%3Cb%3E%22"
        );
    }

    #[test]
    fn refuses_empty_and_too_long() {
        assert_eq!(check(""), Err(UrlError::Empty));
        assert_eq!(check("   "), Err(UrlError::Empty));
        let long = format!("https://example.com/{}", "a".repeat(2030));
        assert_eq!(check(&long), Err(UrlError::TooLong(2050)));
        let exactly = format!("https://example.com/{}", "a".repeat(2028));
        assert!(check(&exactly).is_ok());
        // Growing past the limit by percent-encoding is refused too.
        let grows = format!("https://example.com/{}", "\u{e9}".repeat(1000));
        assert!(matches!(check(&grows), Err(UrlError::TooLong(_))));
    }

    #[test]
    fn refuses_scripts_data_and_files() {
        for (raw, scheme) in [
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,<script>alert(1)</script>", "data"),
            ("file:///etc/passwd", "file"),
            ("vbscript:msgbox", "vbscript"),
        ] {
            assert_eq!(
                check(raw),
                Err(UrlError::DangerousScheme(scheme.into())),
                "{raw}"
            );
        }
        assert_eq!(
            check("javascript:alert(1)").unwrap_err().to_string(),
            "javascript: URLs are not allowed; only http and https"
        );
    }

    #[test]
    fn refuses_smuggled_schemes() {
        // Browsers strip the newline and tab and would run the script.
        assert_eq!(
            check("java\nscript:alert(1)"),
            Err(UrlError::ForbiddenCharacter)
        );
        assert_eq!(
            check("java\tscript:alert(1)"),
            Err(UrlError::ForbiddenCharacter)
        );
        assert_eq!(
            check("https://exa mple.com"),
            Err(UrlError::ForbiddenCharacter)
        );
        assert_eq!(
            check("http://good.com\\@evil.com"),
            Err(UrlError::ForbiddenCharacter)
        );
    }

    #[test]
    fn refuses_other_schemes_and_scheme_less_input() {
        assert_eq!(
            check("ftp://example.com"),
            Err(UrlError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            check("mailto:a@example.com"),
            Err(UrlError::UnsupportedScheme("mailto".into()))
        );
        assert_eq!(check("example.com/path"), Err(UrlError::NoScheme));
        assert_eq!(check("//example.com"), Err(UrlError::NoScheme));
        assert_eq!(check("1http://example.com"), Err(UrlError::NoScheme));
    }

    #[test]
    fn refuses_missing_hosts() {
        for raw in [
            "http:",
            "http:/example.com",
            "https://",
            "https:///path",
            "http://:80/",
        ] {
            assert_eq!(check(raw), Err(UrlError::NoHost), "{raw}");
        }
    }

    #[test]
    fn refuses_credentials() {
        for raw in [
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://example.com@evil.com/",
            "https://:@example.com/",
        ] {
            assert_eq!(check(raw), Err(UrlError::Credentials), "{raw}");
        }
        // An @ after the authority is just part of the path.
        assert!(check("https://example.com/@user").is_ok());
    }

    #[test]
    fn refuses_invalid_hosts_and_ports() {
        for raw in [
            "https://exa_mple.com/",
            "https://-example.com/",
            "https://example..com/",
            "https://ex%61mple.com/",
            "https://b\u{fc}cher.example/",
            "https://[::1/",
            "https://[zz::1]/",
        ] {
            assert_eq!(check(raw), Err(UrlError::InvalidHost), "{raw}");
        }
        for raw in [
            "https://example.com:/",
            "https://example.com:0/",
            "https://example.com:65536/",
            "https://example.com:80a/",
            "https://example.com:1:2/",
        ] {
            assert_eq!(check(raw), Err(UrlError::InvalidPort), "{raw}");
        }
    }

    #[test]
    fn refuses_links_to_the_service_itself() {
        for raw in [
            "http://sho.rt:8080/abc1234",
            "https://SHO.RT/abc1234",
            "http://sho.rt./x",
        ] {
            assert_eq!(
                check(raw),
                Err(UrlError::SelfReference("sho.rt".into())),
                "{raw}"
            );
        }
        assert!(validate_target_url("http://[::1]:9/", &["[::1]:8080"]).is_err());
        assert!(validate_target_url("http://sub.sho.rt/", &["sho.rt"]).is_ok());
        assert!(validate_target_url("http://sho.rt/", &[]).is_ok());
        assert!(validate_target_url("http://sho.rt/", &[""]).is_ok());
    }

    #[test]
    fn strip_port_handles_names_and_v6() {
        assert_eq!(strip_port("a.example:8080"), "a.example");
        assert_eq!(strip_port("a.example"), "a.example");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
