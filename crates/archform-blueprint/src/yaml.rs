//! A YAML tree that remembers where every node was written.
//!
//! serde-based YAML loaders drop positions, and users must be pointed at the
//! line they wrote, so the blueprint loader builds its own small tree from the
//! parser's marked events.

use crate::steps::{self, Step};
use std::collections::HashSet;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the text that was parsed (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// A syntax error with its position in the parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The scalar as text, whatever its YAML type (keys and interpolated values).
    pub fn scalar_text(&self) -> Option<String> {
        steps::count(Step::ScalarText, 1);
        match &self.value {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses every document of a YAML text. Duplicate keys and aliases are
/// errors: both silently change meaning in ways users do not expect.
pub fn parse(text: &str) -> Result<Vec<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        pos: pos(e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

fn pos(m: &Marker) -> Pos {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Pos {
        line: m.line(),
        col: m.col() + 1,
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    /// A mapping being built: its entries, the key waiting for its value,
    /// and the text of every scalar key so far, so a duplicate is found with
    /// one lookup instead of a scan of the entries (which made a mapping of
    /// n resources cost n^2 key comparisons).
    Map(Pos, Vec<(Node, Node)>, Option<Node>, HashSet<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: String) {
        if self.error.is_none() {
            self.error = Some(SyntaxError { pos, message });
        }
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending, keys)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    // Keys compare by their text whatever their YAML type
                    // (`1` and `"1"` are the same key); mapping and list
                    // keys have no text and never clash.
                    let dup = match key.scalar_text() {
                        Some(k) => !keys.insert(k),
                        None => false,
                    };
                    if dup {
                        let (p, k) = (key.pos, key.scalar_text().unwrap_or_default());
                        entries.push((key, node));
                        self.fail(
                            p,
                            format!("duplicate key `{k}`: the later value would silently replace the earlier one"),
                        );
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let p = pos(&mark);
        match ev {
            Event::Scalar(text, style, _, tag) => {
                let value = if style == TScalarStyle::Plain && tag.is_none() {
                    resolve_plain(text)
                } else {
                    Value::Str(text)
                };
                self.push_node(Node { value, pos: p });
            }
            Event::SequenceStart(..) => self.stack.push(Frame::Seq(p, Vec::new())),
            Event::MappingStart(..) => {
                self.stack
                    .push(Frame::Map(p, Vec::new(), None, HashSet::new()))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(start, items)) => Node {
                        value: Value::Seq(items),
                        pos: start,
                    },
                    Some(Frame::Map(start, entries, ..)) => Node {
                        value: Value::Map(entries),
                        pos: start,
                    },
                    None => return,
                };
                self.push_node(node);
            }
            Event::Alias(_) => self.fail(
                p,
                "YAML aliases (*name) are not supported in blueprints".into(),
            ),
            _ => {}
        }
    }
}

/// YAML 1.2 core schema resolution of plain scalars.
fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    let looks_numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Value::Float(f);
    }
    Value::Str(text)
}

/// Writes a JSON value as block-style YAML (for `archform render`).
pub fn to_yaml_string(value: &serde_json::Value) -> String {
    fn convert(v: &serde_json::Value) -> yaml_rust2::Yaml {
        use serde_json::Value as J;
        use yaml_rust2::Yaml as Y;
        match v {
            J::Null => Y::Null,
            J::Bool(b) => Y::Boolean(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Y::Integer(i),
                None => Y::Real(n.to_string()),
            },
            J::String(s) => Y::String(s.clone()),
            J::Array(a) => Y::Array(a.iter().map(convert).collect()),
            J::Object(m) => Y::Hash(
                m.iter()
                    .map(|(k, v)| (Y::String(k.clone()), convert(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    let _ = emitter.dump(&convert(value));
    out.push('\n');
    out.trim_start_matches("---\n").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let docs = parse("a: 1\nb:\n  c: [x, 'y']\n").unwrap();
        let root = &docs[0];
        let b = root.get("b").unwrap();
        let c = b.get("c").unwrap();
        assert_eq!(c.pos, Pos { line: 3, col: 6 });
        let items = c.as_seq().unwrap();
        assert_eq!(items[1].value, Value::Str("y".into()));
        assert_eq!(root.get("a").unwrap().value, Value::Int(1));
        assert_eq!(root.get("a").unwrap().pos, Pos { line: 1, col: 4 });
    }

    #[test]
    fn plain_scalars_resolve_to_core_types() {
        let docs = parse("[true, 'true', 10, 1.5, ~, 10.0.0.0/16, 0x1]").unwrap();
        let v: Vec<_> = docs[0]
            .as_seq()
            .unwrap()
            .iter()
            .map(|n| n.value.clone())
            .collect();
        assert_eq!(v[0], Value::Bool(true));
        assert_eq!(v[1], Value::Str("true".into()));
        assert_eq!(v[2], Value::Int(10));
        assert_eq!(v[3], Value::Float(1.5));
        assert_eq!(v[4], Value::Null);
        assert_eq!(v[5], Value::Str("10.0.0.0/16".into()));
        assert_eq!(v[6], Value::Str("0x1".into()));
    }

    #[test]
    fn duplicate_keys_are_errors_with_position() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3);
        assert!(err.message.contains("duplicate key `a`"));
    }

    #[test]
    fn syntax_errors_carry_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }

    #[test]
    fn multiple_documents() {
        let docs = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
