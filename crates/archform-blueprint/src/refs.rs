//! `${logical_id.attribute}` references inside property values.
//!
//! References stay symbolic through rendering and validation; they are the
//! edges of the resource graph and are resolved at apply time.

use crate::steps::{self, Step};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    pub id: String,
    pub attr: String,
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}.{}}}", self.id, self.attr)
    }
}

/// A piece of a string value: literal text or a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Ref(Ref),
}

/// Splits a string into literal text and references. A `${` that does not
/// form `${id.attr}` is an error, so typos never reach AWS as literal text.
pub fn split(s: &str) -> Result<Vec<Piece<'_>>, String> {
    steps::count(Step::RefSplit, 1);
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated reference in `{s}`: `${{` without `}}`"))?;
        let inner = &after[..end];
        let (id, attr) = inner.split_once('.').ok_or_else(|| {
            format!("`${{{inner}}}` is not a reference: write `${{logical_id.attribute}}`")
        })?;
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !p.starts_with(|c: char| c.is_ascii_digit())
        };
        if !ok(id) || !ok(attr) {
            return Err(format!(
                "`${{{inner}}}` is not a reference: ids and attributes are letters, digits and `_`"
            ));
        }
        out.push(Piece::Ref(Ref {
            id: id.into(),
            attr: attr.into(),
        }));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// All references in a JSON value, each with the JSON pointer of the string
/// holding it.
pub fn collect(value: &serde_json::Value, path: &mut String, out: &mut Vec<(String, Ref)>) {
    match value {
        serde_json::Value::String(s) => {
            if let Ok(pieces) = split(s) {
                for p in pieces {
                    if let Piece::Ref(r) = p {
                        out.push((path.clone(), r));
                    }
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                collect(v, path, out);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let len = path.len();
                path.push('/');
                path.push_str(k);
                collect(v, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_refs() {
        let p = split("arn:${aws.partition}:x:${api.id}/*").unwrap();
        assert_eq!(p.len(), 5);
        assert_eq!(
            p[1],
            Piece::Ref(Ref {
                id: "aws".into(),
                attr: "partition".into()
            })
        );
        assert_eq!(p[4], Piece::Text("/*"));
    }

    #[test]
    fn malformed_refs_are_errors() {
        assert!(split("${nodot}").is_err());
        assert!(split("${a.b").is_err());
        assert!(split("${a-b.c}").is_err());
        assert!(split("plain $ text {x}").is_ok());
    }
}
