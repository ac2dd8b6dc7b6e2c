//! Query strings as the services split them: `&`-separated pairs, the name
//! up to the first `=`, empty pieces skipped.

/// The raw (still percent-encoded) pairs of a query string, in order.
pub fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// Pairs decoded as `application/x-www-form-urlencoded` (`%XX` to its
/// byte, `+` to a space, a `%` not followed by two hex digits kept, invalid
/// UTF-8 replaced), grouped by name in first-seen order, values in order.
pub fn decoded_groups(query: &str) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        push_grouped(&mut groups, name.into_owned(), value.into_owned());
    }
    groups
}

/// Appends `value` to `name`'s group, creating it at the end if new.
pub fn push_grouped(groups: &mut Vec<(String, Vec<String>)>, name: String, value: String) {
    match groups.iter_mut().find(|(n, _)| *n == name) {
        Some((_, values)) => values.push(value),
        None => groups.push((name, vec![value])),
    }
}

#[cfg(test)]
mod tests {
    use super::{decoded_groups, raw_pairs};

    #[test]
    fn splits_pairs_without_decoding() {
        let pairs: Vec<_> = raw_pairs("&a=1&b&a=x%20y&c=d=e&").collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("a", "x%20y"), ("c", "d=e")]);
    }

    #[test]
    fn decodes_percent_and_plus() {
        let one = |query: &str| decoded_groups(query).remove(0).1.remove(0);
        assert_eq!(one("v=a%20b+c%2Bd"), "a b c+d");
        assert_eq!(one("v=100%"), "100%");
        assert_eq!(one("v=%zz%4"), "%zz%4");
        assert_eq!(one("v=caf%C3%A9"), "café");
        assert_eq!(one("v=d=e"), "d=e");
        assert_eq!(
            decoded_groups("a+b%3D=1"),
            [("a b=".to_string(), vec!["1".to_string()])]
        );
        assert_eq!(
            decoded_groups("x=1&y=2&x=3"),
            [
                ("x".to_string(), vec!["1".to_string(), "3".to_string()]),
                ("y".to_string(), vec!["2".to_string()])
            ]
        );
    }
}
