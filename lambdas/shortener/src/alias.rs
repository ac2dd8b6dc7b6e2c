//! Custom aliases: which names a client may choose for a link.

use crate::base62::is_base62;

/// Shortest allowed alias.
pub const MIN_ALIAS_LEN: usize = 3;
/// Longest allowed alias (and longest path segment looked up as a link).
pub const MAX_ALIAS_LEN: usize = 32;

/// Names that are, or could become, routes of the service, compared without
/// regard to case so that `/API` cannot be mistaken for the API either.
/// Some contain a `.` and could not be aliases anyway; they are listed so the
/// refusal says why.
pub const RESERVED: &[&str] = &[
    "api",
    "static",
    "assets",
    "health",
    "favicon.ico",
    "robots.txt",
    "index.html",
];

/// Why an alias was refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("alias must be {MIN_ALIAS_LEN} to {MAX_ALIAS_LEN} characters long (got {0})")]
    Length(usize),
    #[error("alias '{0}' is reserved")]
    Reserved(String),
    #[error("alias may only contain letters, digits, '-' and '_' (found {0:?})")]
    Character(char),
}

/// Whether `b` may appear in an alias: Base62 plus `-` and `_`.
pub fn is_alias_byte(b: u8) -> bool {
    is_base62(b) || b == b'-' || b == b'_'
}

/// Whether `name` is a reserved word.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|word| word.eq_ignore_ascii_case(name))
}

/// Checks an alias a client asked for.
pub fn validate_alias(alias: &str) -> Result<(), AliasError> {
    if is_reserved(alias) {
        return Err(AliasError::Reserved(alias.to_owned()));
    }
    let len = alias.chars().count();
    if !(MIN_ALIAS_LEN..=MAX_ALIAS_LEN).contains(&len) {
        return Err(AliasError::Length(len));
    }
    if let Some(bad) = alias
        .chars()
        .find(|&c| !c.is_ascii() || !is_alias_byte(c as u8))
    {
        return Err(AliasError::Character(bad));
    }
    Ok(())
}

/// Whether a path segment could name a link (a generated code or an alias),
/// so that anything else is answered 404 without a database read. Internal
/// items of the links table (rate-limit windows start with `!`) never pass.
pub fn could_be_link_code(segment: &str) -> bool {
    (MIN_ALIAS_LEN..=MAX_ALIAS_LEN).contains(&segment.len())
        && segment.bytes().all(is_alias_byte)
        && !is_reserved(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_base62_dash_underscore_within_bounds() {
        for ok in [
            "abc",
            "my-link",
            "My_Link_2",
            "a".repeat(32).as_str(),
            "0-_",
        ] {
            assert_eq!(validate_alias(ok), Ok(()), "{ok}");
            assert!(could_be_link_code(ok));
        }
    }

    #[test]
    fn refuses_short_and_long() {
        assert_eq!(validate_alias(""), Err(AliasError::Length(0)));
        assert_eq!(validate_alias("ab"), Err(AliasError::Length(2)));
        assert_eq!(validate_alias(&"a".repeat(33)), Err(AliasError::Length(33)));
    }

    #[test]
    fn refuses_other_characters() {
        for (alias, bad) in [
            ("has space", ' '),
            ("dot.ted", '.'),
            ("sla/sh", '/'),
            ("qu?ery", '?'),
            ("bang!x", '!'),
            ("ünïcode", 'ü'),
            ("per%41", '%'),
        ] {
            assert_eq!(
                validate_alias(alias),
                Err(AliasError::Character(bad)),
                "{alias}"
            );
        }
    }

    #[test]
    fn refuses_reserved_words_in_any_case() {
        for word in RESERVED {
            assert!(matches!(validate_alias(word), Err(AliasError::Reserved(_))));
            assert!(!could_be_link_code(word));
        }
        assert!(matches!(
            validate_alias("API"),
            Err(AliasError::Reserved(_))
        ));
        assert!(matches!(
            validate_alias("Health"),
            Err(AliasError::Reserved(_))
        ));
    }

    #[test]
    fn messages_say_what_is_wrong() {
        assert_eq!(
            validate_alias("ab").unwrap_err().to_string(),
            "alias must be 3 to 32 characters long (got 2)"
        );
        assert_eq!(
            validate_alias("api").unwrap_err().to_string(),
            "alias 'api' is reserved"
        );
    }

    #[test]
    fn internal_items_are_never_link_codes() {
        assert!(!could_be_link_code("!rate#127.0.0.1#29000000"));
        assert!(!could_be_link_code("ab"));
    }
}
