//! Which contact points and names are accepted: email addresses, E.164
//! phone numbers, webhook URLs, and the ids and names of the API.
//!
//! Each check returns a typed error whose message says what is wrong, for a
//! 400 answer. The rules are deliberately narrower than the standards where
//! the standards allow things no provider delivers to (quoted local parts,
//! IP-literal mail domains) or that would let a caller aim the service at
//! its own network (webhooks to private addresses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest user id, template name, category name.
pub const MAX_ID_CHARS: usize = 64;
/// Longest idempotency key (the length Stripe and others allow).
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest email address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest webhook URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest locale tag.
pub const MAX_LOCALE_CHARS: usize = 35;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("{what} is empty")]
    Empty { what: &'static str },
    #[error("{what} is {len} characters long; at most {max} are allowed")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} {value:?} has the character {bad:?}; {allowed}")]
    BadCharacter {
        what: &'static str,
        value: String,
        bad: char,
        allowed: &'static str,
    },
    #[error("{value:?} is not a valid email address: {reason}")]
    Email { value: String, reason: &'static str },
    #[error(
        "{value:?} is not an E.164 phone number: {reason} (write it as + then the country code and number, 7 to 15 digits, e.g. +14155550123)"
    )]
    Phone { value: String, reason: &'static str },
    #[error("{value:?} is not an acceptable webhook URL: {reason}")]
    Url { value: String, reason: String },
    #[error("{value:?} is not a locale tag like en, pt-BR or zh-Hant-TW")]
    Locale { value: String },
}

fn check_len(what: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::Empty { what });
    }
    let len = value.chars().count();
    if len > max {
        return Err(InvalidInput::TooLong { what, len, max });
    }
    Ok(())
}

/// User ids come from the caller's own system, so they may look like
/// emails or UUIDs; spaces, `/` and `#` are kept out because ids appear in
/// URL paths and in the tables' composite keys.
pub fn user_id(value: &str) -> Result<(), InvalidInput> {
    check_len("the user id", value, MAX_ID_CHARS)?;
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@' | '+')))
    {
        return Err(InvalidInput::BadCharacter {
            what: "the user id",
            value: value.to_owned(),
            bad,
            allowed: "use letters, digits and . _ - : @ + only",
        });
    }
    Ok(())
}

/// Template and category names: lower-case slugs, so that `Welcome` and
/// `welcome` cannot be two templates.
fn slug(what: &'static str, value: &str) -> Result<(), InvalidInput> {
    check_len(what, value, MAX_ID_CHARS)?;
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')))
    {
        return Err(InvalidInput::BadCharacter {
            what,
            value: value.to_owned(),
            bad,
            allowed: "use lower-case letters, digits and . _ - only",
        });
    }
    Ok(())
}

pub fn template_name(value: &str) -> Result<(), InvalidInput> {
    slug("the template name", value)
}

pub fn category_name(value: &str) -> Result<(), InvalidInput> {
    slug("the category", value)
}

/// Idempotency keys are opaque to the service: any visible ASCII, so a
/// UUID, a hash or `order-123:receipt` all work.
pub fn idempotency_key(value: &str) -> Result<(), InvalidInput> {
    check_len("the idempotency key", value, MAX_IDEMPOTENCY_KEY_CHARS)?;
    if let Some(bad) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(InvalidInput::BadCharacter {
            what: "the idempotency key",
            value: value.to_owned(),
            bad,
            allowed: "use visible ASCII characters only (no spaces)",
        });
    }
    Ok(())
}

/// A BCP 47 language tag in its common shape: a 2-3 letter language, then
/// subtags of 2-8 letters or digits (`pt-BR`, `zh-Hant-TW`, `es-419`).
/// Case is not checked here; [`crate::templates`] compares tags without it.
pub fn locale(value: &str) -> Result<(), InvalidInput> {
    let bad = || InvalidInput::Locale {
        value: value.to_owned(),
    };
    if value.len() > MAX_LOCALE_CHARS {
        return Err(bad());
    }
    let mut parts = value.split('-');
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
    }
    Ok(())
}

/// An address SES and SMTP relays accept: a dot-atom local part and a
/// domain of LDH labels with a non-numeric top level. Quoted local parts,
/// comments and IP-literal domains are valid RFC 5322 but refused: no
/// mainstream provider delivers to them, and they are a common way of
/// smuggling odd bytes into headers.
pub fn email(value: &str) -> Result<(), InvalidInput> {
    let err = |reason| {
        Err(InvalidInput::Email {
            value: value.to_owned(),
            reason,
        })
    };
    if value.is_empty() {
        return err("it is empty");
    }
    if value.chars().count() > MAX_EMAIL_CHARS {
        return err("it is longer than 254 characters");
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return err("it has no @");
    };
    if local.is_empty() {
        return err("nothing comes before the @");
    }
    if local.len() > 64 {
        return err("the part before the @ is longer than 64 characters");
    }
    // atext of RFC 5322 (without the quoted forms).
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '!' | '#'
                    | '$'
                    | '%'
                    | '&'
                    | '\''
                    | '*'
                    | '+'
                    | '-'
                    | '/'
                    | '='
                    | '?'
                    | '^'
                    | '_'
                    | '`'
                    | '{'
                    | '|'
                    | '}'
                    | '~'
            )
    };
    if local.contains('@') {
        return err("it has more than one @");
    }
    if local.split('.').any(|atom| atom.is_empty()) {
        return err("the part before the @ starts or ends with a dot, or has two dots in a row");
    }
    if !local.chars().all(|c| c == '.' || atext(c)) {
        return err(
            "the part before the @ has a space, quote or other character not allowed there",
        );
    }
    if domain.is_empty() {
        return err("nothing comes after the @");
    }
    if !domain_name(domain) {
        return err(
            "the part after the @ is not a domain name (letters, digits and hyphens in dot-separated labels)",
        );
    }
    if !domain.contains('.') {
        return err("the domain has no dot (a bare host name cannot receive Internet mail)");
    }
    Ok(())
}

/// LDH labels of 1-63 characters (not starting or ending with `-`), at most
/// 253 in all, and a top-level label that is not all digits (that would be
/// an IPv4 address in disguise). Internationalised names must come in
/// punycode (`xn--`).
fn domain_name(domain: &str) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    labels.iter().all(|l| label_ok(l))
        && !labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// E.164: `+`, a country code that does not start with 0, and at most 15
/// digits in all. At least 7 digits are required: the shortest numbers in
/// service (small island nations) have that many with their country code,
/// and anything shorter is a typo or a short code, which SNS cannot reach
/// through this channel anyway.
pub fn e164(value: &str) -> Result<(), InvalidInput> {
    let err = |reason| {
        Err(InvalidInput::Phone {
            value: value.to_owned(),
            reason,
        })
    };
    let Some(digits) = value.strip_prefix('+') else {
        return err("it does not start with +");
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return err("only digits may follow the + (no spaces, dashes or brackets)");
    }
    if digits.starts_with('0') {
        return err("country codes do not start with 0");
    }
    if digits.len() < 7 {
        return err("it has fewer than 7 digits");
    }
    if digits.len() > 15 {
        return err("it has more than 15 digits");
    }
    Ok(())
}

/// Whether a webhook may target plain `http://` (tests and local
/// development only; the deployed service takes HTTPS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UrlPolicy {
    #[default]
    HttpsOnly,
    /// `http://` allowed, and loopback hosts too, for receivers on this
    /// machine in tests. Private and link-local targets stay refused.
    AllowHttpLoopback,
}

/// A webhook URL: `https://`, a public host (name or address), optional
/// port, path and query. Refused: credentials in the URL, `localhost` and
/// `*.localhost`, and IP literals in loopback, private, link-local,
/// shared (CGNAT), unspecified, broadcast, multicast or documentation
/// ranges, in either family, IPv4-mapped IPv6 included, and hosts that
/// URL parsers read as IPv4 in other notations (`2130706433`, `0x7f.1`,
/// `127.1`).
///
/// A host *name* can still resolve to a private address (or be rebound to
/// one later); that can only be caught when connecting, so the webhook
/// provider must check the address it connects to with
/// [`is_forbidden_ip`] as well.
pub fn webhook_url(value: &str, policy: UrlPolicy) -> Result<(), InvalidInput> {
    let err = |reason: &str| {
        Err(InvalidInput::Url {
            value: value.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if value.is_empty() {
        return err("it is empty");
    }
    if value.chars().count() > MAX_URL_CHARS {
        return err(&format!("it is longer than {MAX_URL_CHARS} characters"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '\\' || !c.is_ascii())
    {
        return err(&format!(
            "it has the character {c:?} (percent-encode it, and write international host names in punycode)"
        ));
    }
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => return err("it has no scheme; webhooks need https://"),
    };
    let http_allowed = policy == UrlPolicy::AllowHttpLoopback;
    match scheme.as_str() {
        "https" => {}
        "http" if http_allowed => {}
        "http" => return err("plain http is not allowed; webhooks need https://"),
        other => {
            return err(&format!(
                "the scheme {other:?} is not allowed; webhooks need https://"
            ));
        }
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return err("credentials (user:password@) are not allowed in the URL");
    }
    let (host, port) = split_host_port(authority).map_err(|reason| InvalidInput::Url {
        value: value.to_owned(),
        reason: reason.to_owned(),
    })?;
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return err("the port is not a number from 1 to 65535");
    }
    if host.is_empty() {
        return err("it has no host");
    }

    let loopback_ok = http_allowed;
    if let Some(literal) = host.strip_prefix('[') {
        let Some(literal) = literal.strip_suffix(']') else {
            return err("the IPv6 address is not closed with ]");
        };
        let Ok(ip) = literal.parse::<Ipv6Addr>() else {
            return err("the host in brackets is not an IPv6 address");
        };
        return check_ip(IpAddr::V6(ip), loopback_ok).or_else(|reason| err(&reason));
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return if loopback_ok {
            Ok(())
        } else {
            err("localhost is not a public host")
        };
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return check_ip(IpAddr::V4(ip), loopback_ok).or_else(|reason| err(&reason));
    }
    // WHATWG URL parsers (and so most HTTP clients) read a host whose last
    // label is numeric as IPv4 in another notation: 2130706433, 0x7f.1 and
    // 127.1 all mean 127.0.0.1. Such hosts are never legitimate names.
    if host
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()) || is_hex_number(last))
    {
        return err("the host looks like an IP address in a non-standard notation");
    }
    if !domain_name(&host) {
        return err("the host is not a valid domain name");
    }
    if !host.contains('.') {
        return err("the host has no dot, so it cannot be a public domain name");
    }
    Ok(())
}

fn is_hex_number(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    lower
        .strip_prefix("0x")
        .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or("the IPv6 address is not closed with ]")?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("unexpected characters after the IPv6 address"),
            },
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn check_ip(ip: IpAddr, loopback_ok: bool) -> Result<(), String> {
    if loopback_ok && canonical(ip).is_loopback() {
        return Ok(());
    }
    match forbidden_range(ip) {
        Some(range) => Err(format!("{ip} is a {range} address, not a public one")),
        None => Ok(()),
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is the IPv4 address it carries.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the service must not connect to `ip` for a webhook: the same
/// ranges [`webhook_url`] refuses in literals, for the provider to check
/// after DNS resolution.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    forbidden_range(ip).is_some()
}

/// The name of the non-public range `ip` falls in, if any.
fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                // 169.254.169.254 is the cloud metadata service.
                Some("link-local")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified (\"this network\")")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (carrier-grade NAT)")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if v4.is_multicast() || a >= 240 {
                Some("multicast or reserved")
            } else if v4.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
                Some("documentation or benchmarking")
            } else if a == 192 && b == 0 && c == 0 {
                Some("IETF protocol assignment")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_unique_local() {
                Some("private (unique local)")
            } else if v6.is_unicast_link_local() || first & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if first == 0x2001 && v6.segments()[1] == 0x0db8 {
                Some("documentation")
            } else if v6.segments()[..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) addresses carry an IPv4 one.
                Some("IPv4-compatible")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        for ok in ["u1", "alice@example.com", "6f1c-44aa", "org:42", "a+b"] {
            user_id(ok).unwrap();
        }
        assert_eq!(
            user_id(""),
            Err(InvalidInput::Empty {
                what: "the user id"
            })
        );
        assert!(matches!(
            user_id("a b"),
            Err(InvalidInput::BadCharacter { bad: ' ', .. })
        ));
        assert!(user_id("a/b").is_err());
        assert!(user_id("a#b").is_err());
        assert_eq!(
            user_id(&"x".repeat(65)).unwrap_err().to_string(),
            "the user id is 65 characters long; at most 64 are allowed"
        );
    }

    #[test]
    fn template_and_category_names_are_lower_case_slugs() {
        template_name("order-shipped").unwrap();
        template_name("v2.welcome_email").unwrap();
        category_name("marketing").unwrap();
        assert_eq!(
            template_name("Welcome").unwrap_err().to_string(),
            "the template name \"Welcome\" has the character 'W'; use lower-case letters, digits and . _ - only"
        );
        assert!(category_name("").is_err());
        assert!(category_name("a/b").is_err());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        idempotency_key("3f2a9c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b").unwrap();
        idempotency_key("order-123:receipt").unwrap();
        assert!(idempotency_key("has space").is_err());
        assert!(idempotency_key("tab\t").is_err());
        assert!(idempotency_key("é").is_err());
        idempotency_key(&"k".repeat(255)).unwrap();
        assert!(idempotency_key(&"k".repeat(256)).is_err());
    }

    #[test]
    fn locales() {
        for ok in ["en", "pt-BR", "zh-Hant-TW", "es-419", "EN-us", "fil"] {
            locale(ok).unwrap();
        }
        for bad in [
            "",
            "e",
            "english",
            "pt_BR",
            "pt-",
            "-BR",
            "pt-B",
            "en-US-x-ridiculouslylong",
        ] {
            assert!(locale(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_accepted() {
        for ok in [
            "alice@example.com",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "x@xn--bcher-kva.example",
            "_ops-team@example.io",
            "a@b.cd",
        ] {
            email(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn emails_refused_with_the_reason() {
        let cases = [
            ("", "it is empty"),
            ("alice.example.com", "it has no @"),
            ("@example.com", "nothing comes before the @"),
            ("alice@", "nothing comes after the @"),
            ("a@b@example.com", "it has more than one @"),
            (".alice@example.com", "two dots in a row"),
            ("al..ice@example.com", "two dots in a row"),
            ("al ice@example.com", "a space, quote"),
            ("\"al ice\"@example.com", "a space, quote"),
            ("alice@localhost", "has no dot"),
            ("alice@[192.0.2.1]", "is not a domain name"),
            ("alice@example..com", "is not a domain name"),
            ("alice@-example.com", "is not a domain name"),
            ("alice@exa_mple.com", "is not a domain name"),
            ("alice@example.123", "is not a domain name"),
            ("alice@bücher.example", "is not a domain name"),
        ];
        for (value, reason) in cases {
            let message = email(value).unwrap_err().to_string();
            assert!(message.contains(reason), "{value}: {message}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(email(&long_local).unwrap_err().to_string().contains("64"));
        let long = format!("a@{}.com", "b".repeat(60).repeat(5));
        assert!(email(&long).is_err());
    }

    #[test]
    fn e164_numbers() {
        for ok in [
            "+14155550123",
            "+351912345678",
            "+6834002",
            "+861012345678901",
        ] {
            e164(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let cases = [
            ("14155550123", "does not start with +"),
            ("+1 415 555 0123", "only digits"),
            ("+1-415-555-0123", "only digits"),
            ("+0123456789", "do not start with 0"),
            ("+123456", "fewer than 7"),
            ("+1234567890123456", "more than 15"),
            ("+", "fewer than 7"),
        ];
        for (value, reason) in cases {
            let message = e164(value).unwrap_err().to_string();
            assert!(message.contains(reason), "{value}: {message}");
            assert!(message.contains("e.g. +14155550123"));
        }
    }

    fn refused(url: &str) -> String {
        match webhook_url(url, UrlPolicy::HttpsOnly) {
            Err(InvalidInput::Url { reason, .. }) => reason,
            other => panic!("{url} was not refused: {other:?}"),
        }
    }

    #[test]
    fn public_https_webhooks_are_accepted() {
        for ok in [
            "https://hooks.example.com/notify",
            "https://hooks.example.com:8443/a/b?x=1&y=2",
            "https://EXAMPLE.com",
            "https://example.com./path",
            "https://93.184.216.34/hook",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
            "https://[2606:2800:220:1:248:1893:25c8:1946]:443/hook",
            "https://xn--bcher-kva.example/x",
            "HTTPS://example.com/x",
            "https://a.b.example.com/path#frag",
        ] {
            webhook_url(ok, UrlPolicy::HttpsOnly).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn webhook_schemes_credentials_and_shapes_are_refused() {
        assert!(refused("http://example.com/hook").contains("plain http"));
        assert!(refused("ftp://example.com/").contains("\"ftp\""));
        assert!(refused("example.com/hook").contains("no scheme"));
        assert!(refused("javascript://example.com/").contains("\"javascript\""));
        assert!(refused("https://user:pw@example.com/").contains("credentials"));
        assert!(refused("https://example.com@evil.example/").contains("credentials"));
        assert!(refused("https:///path").contains("no host"));
        assert!(refused("https://example.com:0/").contains("port"));
        assert!(refused("https://example.com:99999/").contains("port"));
        assert!(refused("https://example.com:/").contains("port"));
        assert!(refused("https://exa mple.com/").contains("' '"));
        assert!(refused("https://example.com\\@evil/").contains("'\\\\'"));
        assert!(refused("https://bücher.example/").contains("punycode"));
        assert!(refused("https://intranet/hook").contains("no dot"));
        assert!(refused("https://-bad-.example.com/").contains("not a valid domain"));
        assert!(refused(&format!("https://example.com/{}", "a".repeat(2048))).contains("2048"));
    }

    #[test]
    fn webhooks_to_non_public_addresses_are_refused() {
        let cases = [
            ("https://localhost/hook", "localhost"),
            ("https://LOCALHOST./hook", "localhost"),
            ("https://api.localhost/hook", "localhost"),
            ("https://127.0.0.1/hook", "loopback"),
            ("https://127.8.9.10:8443/hook", "loopback"),
            ("https://10.0.0.5/", "private"),
            ("https://172.16.0.1/", "private"),
            ("https://172.31.255.255/", "private"),
            ("https://192.168.1.1/", "private"),
            ("https://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://0.0.0.0/", "unspecified"),
            ("https://100.64.0.1/", "carrier-grade NAT"),
            ("https://255.255.255.255/", "broadcast"),
            ("https://224.0.0.1/", "multicast"),
            ("https://192.0.2.1/", "documentation"),
            ("https://[::1]/", "loopback"),
            ("https://[::]/", "unspecified"),
            ("https://[fd00::1]/", "unique local"),
            ("https://[fe80::1]/", "link-local"),
            ("https://[ff02::1]/", "multicast"),
            ("https://[::ffff:127.0.0.1]/", "loopback"),
            ("https://[::ffff:10.1.2.3]/", "private"),
            ("https://[::ffff:169.254.169.254]/", "link-local"),
            ("https://[2001:db8::1]/", "documentation"),
            ("https://2130706433/", "non-standard notation"),
            ("https://0x7f.1/", "non-standard notation"),
            ("https://127.1/", "non-standard notation"),
            ("https://0177.0.0.1/", "non-standard notation"),
            ("https://[::1/", "not closed"),
            ("https://[nope]/", "not an IPv6"),
        ];
        for (url, reason) in cases {
            let message = refused(url);
            assert!(message.contains(reason), "{url}: {message}");
        }
        // Addresses just outside the ranges are public.
        for ok in [
            "https://172.32.0.1/",
            "https://100.128.0.1/",
            "https://11.0.0.1/",
            "https://[2600::1]/",
        ] {
            webhook_url(ok, UrlPolicy::HttpsOnly).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn the_test_policy_allows_http_to_loopback_but_not_to_private_ranges() {
        let policy = UrlPolicy::AllowHttpLoopback;
        webhook_url("http://127.0.0.1:9000/hook", policy).unwrap();
        webhook_url("http://[::1]:9000/hook", policy).unwrap();
        webhook_url("http://localhost:9000/hook", policy).unwrap();
        webhook_url("https://hooks.example.com/", policy).unwrap();
        assert!(webhook_url("http://10.0.0.1/", policy).is_err());
        assert!(webhook_url("http://169.254.169.254/", policy).is_err());
        assert!(webhook_url("gopher://127.0.0.1/", policy).is_err());
    }

    #[test]
    fn resolved_addresses_are_checked_the_same_way() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_forbidden_ip(ip("10.1.2.3")));
        assert!(is_forbidden_ip(ip("::ffff:192.168.0.1")));
        assert!(is_forbidden_ip(ip("fe80::1")));
        assert!(!is_forbidden_ip(ip("93.184.216.34")));
        assert!(!is_forbidden_ip(ip("2606:4700::1111")));
    }
}
