//! Typed blueprint parameters: their declarations and the values a stack gives.

use crate::cidr;
use crate::diagnostic::{Diagnostics, Location};
use crate::steps::{self, Step};
use crate::yaml::{Node, Value};
use serde::Serialize;
use serde_json::Value as J;
use std::collections::HashSet;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamType {
    String {
        #[serde(skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        min_length: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_length: Option<usize>,
    },
    Integer {
        #[serde(skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    Boolean,
    Enum {
        values: Vec<String>,
    },
    List {
        items: Box<ParamType>,
        #[serde(skip_serializing_if = "Option::is_none")]
        min_items: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_items: Option<usize>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unique: bool,
    },
    Cidr {
        #[serde(skip_serializing_if = "Option::is_none")]
        min_prefix: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_prefix: Option<u8>,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct ParamDef {
    pub name: String,
    #[serde(flatten)]
    pub ty: ParamType,
    pub default: Option<J>,
    pub description: String,
    #[serde(skip)]
    pub location: Location,
}

impl ParamType {
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamType::String { .. } => "string",
            ParamType::Integer { .. } => "integer",
            ParamType::Boolean => "boolean",
            ParamType::Enum { .. } => "enum",
            ParamType::List { .. } => "list",
            ParamType::Cidr { .. } => "cidr",
        }
    }

    /// A short human description: `integer 2..3`, `one of none|single|per_az`.
    pub fn describe(&self) -> String {
        match self {
            ParamType::String { pattern, .. } => match pattern {
                Some(p) => format!("string matching {p}"),
                None => "string".into(),
            },
            ParamType::Integer { min, max } => match (min, max) {
                (Some(a), Some(b)) => format!("integer {a}..{b}"),
                (Some(a), None) => format!("integer >= {a}"),
                (None, Some(b)) => format!("integer <= {b}"),
                _ => "integer".into(),
            },
            ParamType::Boolean => "boolean".into(),
            ParamType::Enum { values } => format!("one of {}", values.join("|")),
            ParamType::List { items, .. } => format!("list of {}", items.describe()),
            ParamType::Cidr { .. } => "IPv4 CIDR".into(),
        }
    }

    /// Checks a value of this type; `Err` says what is wrong.
    pub fn check(&self, v: &J) -> Result<(), String> {
        match (self, v) {
            (
                ParamType::String {
                    pattern,
                    min_length,
                    max_length,
                },
                J::String(s),
            ) => {
                if let Some(min) = min_length
                    && s.chars().count() < *min
                {
                    return Err(format!("`{s}` is shorter than {min} characters"));
                }
                if let Some(max) = max_length
                    && s.chars().count() > *max
                {
                    return Err(format!("`{s}` is longer than {max} characters"));
                }
                if let Some(p) = pattern {
                    let re = regex::Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| format!("the parameter's pattern is invalid: {e}"))?;
                    if !re.is_match(s) {
                        return Err(format!("`{s}` does not match the pattern {p}"));
                    }
                }
                Ok(())
            }
            (ParamType::Integer { min, max }, J::Number(n)) if n.is_i64() => {
                let i = n.as_i64().unwrap_or_default();
                if min.is_some_and(|m| i < m) || max.is_some_and(|m| i > m) {
                    return Err(format!(
                        "{i} is outside the allowed range ({})",
                        self.describe()
                    ));
                }
                Ok(())
            }
            (ParamType::Boolean, J::Bool(_)) => Ok(()),
            (ParamType::Enum { values }, J::String(s)) => {
                if values.iter().any(|v| v == s) {
                    Ok(())
                } else {
                    Err(format!("`{s}` is not one of {}", values.join(", ")))
                }
            }
            (
                ParamType::List {
                    items,
                    min_items,
                    max_items,
                    unique,
                },
                J::Array(list),
            ) => {
                if min_items.is_some_and(|m| list.len() < m) {
                    return Err(format!(
                        "the list has {} items, at least {} are needed",
                        list.len(),
                        min_items.unwrap_or_default()
                    ));
                }
                if max_items.is_some_and(|m| list.len() > m) {
                    return Err(format!(
                        "the list has {} items, at most {} are allowed",
                        list.len(),
                        max_items.unwrap_or_default()
                    ));
                }
                // Items are checked against their type first, so each is a
                // string, an integer, a boolean or a list of those, whose JSON
                // text is equal exactly when the values are: one set lookup
                // per item finds a repeat, not a scan of the earlier items.
                let mut earlier = HashSet::new();
                for (i, item) in list.iter().enumerate() {
                    items
                        .check(item)
                        .map_err(|e| format!("item {}: {e}", i + 1))?;
                    steps::count(Step::ParamItem, 1);
                    if *unique && !earlier.insert(item.to_string()) {
                        return Err(format!("item {} ({item}) is repeated", i + 1));
                    }
                }
                Ok(())
            }
            (
                ParamType::Cidr {
                    min_prefix,
                    max_prefix,
                },
                J::String(s),
            ) => {
                let net = cidr::parse(s)?;
                let p = net.prefix_len();
                if min_prefix.is_some_and(|m| p < m) || max_prefix.is_some_and(|m| p > m) {
                    return Err(format!(
                        "/{p} is outside the allowed prefix lengths /{}../{}",
                        min_prefix.unwrap_or(0),
                        max_prefix.unwrap_or(32)
                    ));
                }
                Ok(())
            }
            (ty, other) => Err(format!(
                "expected {}, got {}",
                ty.describe(),
                json_type_name(other)
            )),
        }
    }

    /// Parses a value given as text on the command line (`--set key=value`).
    pub fn parse_text(&self, text: &str) -> J {
        match self {
            ParamType::Integer { .. } => text
                .trim()
                .parse::<i64>()
                .map(J::from)
                .unwrap_or_else(|_| J::String(text.into())),
            ParamType::Boolean => match text.trim() {
                "true" => J::Bool(true),
                "false" => J::Bool(false),
                _ => J::String(text.into()),
            },
            ParamType::List { items, .. } => J::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| items.parse_text(s))
                    .collect(),
            ),
            _ => J::String(text.into()),
        }
    }
}

pub fn json_type_name(v: &J) -> &'static str {
    match v {
        J::Null => "nothing",
        J::Bool(_) => "a boolean",
        J::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "a list",
        J::Object(_) => "a mapping",
    }
}

const PARAM_FIELDS: &[&str] = &[
    "type",
    "description",
    "default",
    "values",
    "min",
    "max",
    "pattern",
    "min_length",
    "max_length",
    "items",
    "min_items",
    "max_items",
    "unique",
    "min_prefix",
    "max_prefix",
];

/// Reads the `parameters:` mapping of a blueprint header.
pub fn parse_defs(node: &Node, file: &str, diags: &mut Diagnostics) -> Vec<ParamDef> {
    let at = |n: &Node| Location::new(file, n.pos.line, n.pos.col);
    let Some(entries) = node.as_map() else {
        diags.error(
            "schema/type",
            at(node),
            format!(
                "`parameters` must be a mapping, found a {}",
                node.type_name()
            ),
            "write `parameters:` followed by one indented entry per parameter",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.scalar_text().unwrap_or_default();
        if !valid_param_name(&name) {
            diags.error(
                "param/name",
                at(k),
                format!("`{name}` is not a valid parameter name"),
                "use lowercase letters, digits and `_`, starting with a letter",
            );
            continue;
        }
        if let Some(ty) = parse_type(v, file, &name, diags) {
            let default = v.get("default").map(Node::to_json);
            let description = v
                .get("description")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            if let Some(d) = &default
                && let Err(e) = ty.check(d)
            {
                diags.error(
                    "param/default",
                    at(v.get("default").unwrap_or(v)),
                    format!("the default of parameter `{name}` is invalid: {e}"),
                    format!("give a default that is {}", ty.describe()),
                );
            }
            out.push(ParamDef {
                name,
                ty,
                default,
                description,
                location: at(k),
            });
        }
    }
    out
}

fn valid_param_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_type(v: &Node, file: &str, name: &str, diags: &mut Diagnostics) -> Option<ParamType> {
    let at = |n: &Node| Location::new(file, n.pos.line, n.pos.col);
    let Some(entries) = v.as_map() else {
        diags.error(
            "schema/type",
            at(v),
            format!("parameter `{name}` must be a mapping with at least `type`"),
            "write for example `{type: integer, default: 2, min: 1, max: 3}`",
        );
        return None;
    };
    let mut ok = true;
    for (k, _) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if !PARAM_FIELDS.contains(&key.as_str()) {
            diags.error(
                "schema/unknown-field",
                at(k),
                format!("unknown field `{key}` in parameter `{name}`"),
                format!("parameter fields are: {}", PARAM_FIELDS.join(", ")),
            );
            ok = false;
        }
    }
    let int = |key: &str, diags: &mut Diagnostics| -> Option<i64> {
        let n = v.get(key)?;
        match n.value {
            Value::Int(i) => Some(i),
            _ => {
                diags.error(
                    "schema/type",
                    at(n),
                    format!("`{key}` of parameter `{name}` must be an integer"),
                    format!("write a whole number, e.g. `{key}: 1`"),
                );
                None
            }
        }
    };
    let ty_node = v.get("type");
    let ty_name = ty_node.and_then(Node::as_str).unwrap_or("");
    let ty = match ty_name {
        "string" => {
            let pattern = v.get("pattern").and_then(Node::scalar_text);
            if let Some(p) = &pattern
                && let Err(e) = regex::Regex::new(p)
            {
                diags.error(
                    "param/pattern",
                    at(v.get("pattern").unwrap_or(v)),
                    format!(
                        "the pattern of parameter `{name}` is not a valid regular expression: {e}"
                    ),
                    "fix the regular expression (Rust regex syntax)",
                );
                ok = false;
            }
            ParamType::String {
                pattern,
                min_length: int("min_length", diags).map(|i| i.max(0) as usize),
                max_length: int("max_length", diags).map(|i| i.max(0) as usize),
            }
        }
        "integer" => ParamType::Integer {
            min: int("min", diags),
            max: int("max", diags),
        },
        "boolean" => ParamType::Boolean,
        "enum" => {
            let values: Vec<String> = v
                .get("values")
                .and_then(Node::as_seq)
                .map(|s| s.iter().filter_map(Node::scalar_text).collect())
                .unwrap_or_default();
            if values.is_empty() {
                diags.error(
                    "param/enum",
                    at(v),
                    format!("enum parameter `{name}` has no `values`"),
                    "list the allowed values, e.g. `values: [none, single, per_az]`",
                );
                ok = false;
            }
            ParamType::Enum { values }
        }
        "list" => {
            let items = match v.get("items") {
                Some(n) => parse_type(n, file, name, diags).map(Box::new),
                None => Some(Box::new(ParamType::String {
                    pattern: None,
                    min_length: None,
                    max_length: None,
                })),
            };
            let items = items?;
            ParamType::List {
                items,
                min_items: int("min_items", diags).map(|i| i.max(0) as usize),
                max_items: int("max_items", diags).map(|i| i.max(0) as usize),
                unique: matches!(v.get("unique").map(|n| &n.value), Some(Value::Bool(true))),
            }
        }
        "cidr" => ParamType::Cidr {
            min_prefix: int("min_prefix", diags).map(|i| i.clamp(0, 32) as u8),
            max_prefix: int("max_prefix", diags).map(|i| i.clamp(0, 32) as u8),
        },
        other => {
            diags.error(
                "param/type",
                at(ty_node.unwrap_or(v)),
                if other.is_empty() {
                    format!("parameter `{name}` has no `type`")
                } else {
                    format!("parameter `{name}` has unknown type `{other}`")
                },
                "use one of: string, integer, boolean, enum, list, cidr",
            );
            return None;
        }
    };
    ok.then_some(ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_values_against_types() {
        let int = ParamType::Integer {
            min: Some(2),
            max: Some(3),
        };
        assert!(int.check(&json!(2)).is_ok());
        assert!(int.check(&json!(4)).unwrap_err().contains("outside"));
        assert!(
            int.check(&json!("x"))
                .unwrap_err()
                .contains("expected integer")
        );
        let list = ParamType::List {
            items: Box::new(ParamType::Enum {
                values: vec!["email".into(), "sms".into()],
            }),
            min_items: Some(1),
            max_items: None,
            unique: true,
        };
        assert!(list.check(&json!(["email", "sms"])).is_ok());
        assert!(
            list.check(&json!(["email", "fax"]))
                .unwrap_err()
                .contains("item 2")
        );
        assert!(
            list.check(&json!(["sms", "sms"]))
                .unwrap_err()
                .contains("repeated")
        );
        assert!(list.check(&json!([])).is_err());
        let c = ParamType::Cidr {
            min_prefix: Some(16),
            max_prefix: Some(24),
        };
        assert!(c.check(&json!("10.0.0.0/16")).is_ok());
        assert!(c.check(&json!("10.0.0.0/8")).is_err());
    }

    #[test]
    fn parses_command_line_text_by_type() {
        let list = ParamType::List {
            items: Box::new(ParamType::Integer {
                min: None,
                max: None,
            }),
            min_items: None,
            max_items: None,
            unique: false,
        };
        assert_eq!(list.parse_text("1, 2"), json!([1, 2]));
        assert_eq!(ParamType::Boolean.parse_text("true"), json!(true));
        assert_eq!(ParamType::Boolean.parse_text("yes"), json!("yes"));
    }
}
