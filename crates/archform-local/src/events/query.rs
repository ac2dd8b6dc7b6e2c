//! Query strings as the services split them: `&`-separated pairs, the name
//! up to the first `=`, empty pieces skipped.

/// The raw (still percent-encoded) pairs of a query string, in order.
pub fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// URL form decoding: `%XX` to its byte and `+` to a space; a `%` not
/// followed by two hex digits stays as it is. Invalid UTF-8 is replaced.
pub fn decode(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let digit = |at: usize| bytes.get(at).copied().and_then(hex);
                match (digit(i + 1), digit(i + 2)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decoded pairs grouped by name in first-seen order, values in order.
pub fn decoded_groups(query: &str) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in raw_pairs(query) {
        push_grouped(&mut groups, decode(name), decode(value));
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
    use super::{decode, decoded_groups, raw_pairs};

    #[test]
    fn splits_pairs_without_decoding() {
        let pairs: Vec<_> = raw_pairs("&a=1&b&a=x%20y&c=d=e&").collect();
        assert_eq!(pairs, [("a", "1"), ("b", ""), ("a", "x%20y"), ("c", "d=e")]);
    }

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(decode("a%20b+c%2Bd"), "a b c+d");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("caf%C3%A9"), "café");
        assert_eq!(
            decoded_groups("x=1&y=2&x=3"),
            [
                ("x".to_string(), vec!["1".to_string(), "3".to_string()]),
                ("y".to_string(), vec!["2".to_string()])
            ]
        );
    }
}
