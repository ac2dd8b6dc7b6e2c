//! Handlebars rendering of blueprint bodies and partials, with a source map.
//!
//! Rendering is text-level, which shifts lines: a partial expands into many
//! lines and loops repeat them. To still point users at the line they wrote,
//! every template line gets an invisible end-of-line marker naming its file and
//! line before compilation. Markers travel through rendering with their line
//! and are stripped afterwards, leaving a map from each rendered line back to
//! its source line.

use crate::diagnostic::Location;
use crate::helpers;
use crate::limits::MAX_RENDERED_BYTES;
use crate::partial_graph::PartialGraph;
use crate::steps::{self, Step};
use handlebars::Handlebars;
use std::collections::BTreeMap;

const MARK_OPEN: char = '\u{E000}';
const MARK_CLOSE: char = '\u{E001}';

/// A template source: a file name for messages and its text.
#[derive(Clone, Debug)]
pub struct TemplateSource {
    /// Name shown in diagnostics (a path relative to the project or `<embedded>/...`).
    pub file: String,
    pub text: String,
    /// Line number of the first line of `text` in `file` (1-based).
    pub first_line: usize,
}

/// Where each rendered line came from.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<String>,
    /// Per rendered line: (file index, source line), or the nearest marked
    /// line above when the line has no marker of its own (rare: multi-line
    /// tags). Resolved once when the map is built, so a lookup is one index
    /// instead of a walk back over the lines.
    lines: Vec<Option<(usize, usize)>>,
    /// The source text of every marked line, so columns can be mapped.
    source_lines: BTreeMap<(usize, usize), String>,
    /// Per rendered line, how its columns map to its source line. Measured
    /// once per line: measuring per lookup made every lookup on a long line
    /// (a whole loop written as one flow mapping) cost the line's length.
    columns: Vec<Option<ColumnMap>>,
    fallback: Option<Location>,
}

impl SourceMap {
    /// Maps a 1-based (line, column) in the rendered text to the file the user wrote.
    pub fn locate(&self, line: usize, col: usize) -> Location {
        // Past the last line: the last line's origin, applied to an empty line.
        let index = line.wrapping_sub(1).min(self.lines.len().wrapping_sub(1));
        let origin = if line == 0 {
            None
        } else {
            self.lines.get(index).copied().flatten()
        };
        match origin {
            Some((file, src_line)) => {
                let column = match self.columns.get(line - 1) {
                    Some(Some(columns)) => columns.map(col),
                    _ => {
                        let source = self
                            .source_lines
                            .get(&(file, src_line))
                            .map(String::as_str)
                            .unwrap_or("");
                        ColumnMap::new("", source).map(col)
                    }
                };
                Location::new(&self.files[file], src_line, column)
            }
            None => self
                .fallback
                .clone()
                .unwrap_or_else(|| Location::new("<rendered>", line, col)),
        }
    }
}

/// Maps columns of a rendered line to the source line it came from. Text
/// before the first difference and after the last one is copied verbatim, so
/// columns there map exactly; anything inside an expansion points at the
/// start of the `{{ }}` that produced it. Only lengths and the extent of the
/// common prefix and suffix matter, so they are all that is kept.
#[derive(Clone, Copy, Debug)]
struct ColumnMap {
    /// Characters in the rendered and the source line.
    rendered: usize,
    source: usize,
    /// Leading characters the two lines share.
    prefix: usize,
    /// Trailing characters they share, not overlapping the prefix.
    suffix: usize,
    /// Index of the source line's first non-blank character (0 if none).
    first_non_space: usize,
}

impl ColumnMap {
    fn new(rendered: &str, source: &str) -> Self {
        let r: Vec<char> = rendered.chars().collect();
        let s: Vec<char> = source.chars().collect();
        steps::count(Step::ColumnChar, r.len() + s.len());
        let prefix = r.iter().zip(&s).take_while(|(a, b)| a == b).count();
        let shorter = r.len().min(s.len());
        let suffix = r
            .iter()
            .rev()
            .zip(s.iter().rev())
            .take_while(|(a, b)| a == b)
            .count()
            .min(shorter - prefix.min(shorter));
        ColumnMap {
            rendered: r.len(),
            source: s.len(),
            prefix,
            suffix,
            first_non_space: s.iter().position(|ch| !ch.is_whitespace()).unwrap_or(0),
        }
    }

    /// The 1-based source column of 1-based rendered column `col`.
    fn map(&self, col: usize) -> usize {
        let c = col.saturating_sub(1);
        if c < self.prefix {
            return col;
        }
        if c >= self.rendered.saturating_sub(self.suffix) && c < self.rendered {
            return self.source - (self.rendered - c) + 1;
        }
        // Inside an expansion, or an indentation added by a partial.
        self.prefix.max(self.first_non_space) + 1
    }
}

/// A render failure located in the template the user wrote.
#[derive(Clone, Debug)]
pub struct RenderFailure {
    pub location: Location,
    pub message: String,
}

/// A compiled set of templates: the partials and a body to render.
pub struct Renderer {
    hb: Handlebars<'static>,
    map: SourceMap,
    partials: PartialGraph,
}

impl Renderer {
    /// Registers partials (name -> source). Failures are collected, not fatal,
    /// so every broken partial is reported at once.
    pub fn new(partials: &[(String, TemplateSource)]) -> (Self, Vec<RenderFailure>) {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(yaml_escape);
        helpers::register(&mut hb);
        let mut r = Renderer {
            hb,
            map: SourceMap::default(),
            partials: PartialGraph::default(),
        };
        let mut failures = Vec::new();
        for (name, src) in partials {
            r.partials.scan(name, src);
            let marked = r.mark(src);
            if let Err(e) = r.hb.register_partial(name, marked) {
                failures.push(r.template_failure(&src.file, src.first_line, &e));
            }
        }
        (r, failures)
    }

    fn mark(&mut self, src: &TemplateSource) -> String {
        let idx = self.map.files.len();
        self.map.files.push(src.file.clone());
        let mut out = String::with_capacity(src.text.len() * 2);
        let mut open_tags = 0usize;
        let count = src.text.split('\n').count();
        for (i, line) in src.text.split('\n').enumerate() {
            // The empty piece after a final newline is not a line of its own;
            // marking it would glue the next line of the includer onto it.
            let is_tail = i + 1 == count && line.is_empty();
            let n = src.first_line + i;
            self.map.source_lines.insert((idx, n), line.to_string());
            out.push_str(line);
            open_tags += line.matches("{{").count();
            open_tags = open_tags.saturating_sub(line.matches("}}").count());
            // A marker inside an unfinished tag would corrupt it; a marker after
            // a standalone block/partial/comment tag would stop handlebars from
            // treating that line as standalone (which keeps partial indentation).
            if open_tags == 0 && !is_tail && !is_standalone_tag(line) {
                out.push(MARK_OPEN);
                out.push_str(&format!("{idx}:{n}"));
                out.push(MARK_CLOSE);
            }
            out.push('\n');
        }
        out.pop();
        out
    }

    fn template_failure(
        &self,
        file: &str,
        first_line: usize,
        e: &handlebars::TemplateError,
    ) -> RenderFailure {
        let (line, col) = e.pos().unwrap_or((1, 1));
        RenderFailure {
            location: Location::new(file, line + first_line - 1, col),
            message: format!("template syntax: {}", e.reason()),
        }
    }

    /// Renders a body template with `data`, returning the rendered text with
    /// markers removed and the map back to the sources.
    pub fn render(
        mut self,
        body: &TemplateSource,
        data: &serde_json::Value,
    ) -> Result<(String, SourceMap), RenderFailure> {
        self.partials.scan("", body);
        if let Some(f) = self.partials.check().into_iter().next() {
            return Err(f);
        }
        let marked = self.mark(body);
        let name = body.file.clone();
        if let Err(e) = self.hb.register_template_string(&name, marked) {
            return Err(self.template_failure(&body.file, body.first_line, &e));
        }
        self.map.fallback = Some(Location::new(&body.file, body.first_line, 1));
        helpers::reset_range_budget();
        let mut sink = Capped::default();
        let rendered = self.hb.render_to_write(&name, data, &mut sink);
        if sink.over {
            return Err(RenderFailure {
                location: Location::new(&body.file, body.first_line, 1),
                message: format!(
                    "the rendered blueprint is over {} MiB: a loop that repeats too much?",
                    MAX_RENDERED_BYTES >> 20
                ),
            });
        }
        let out = rendered
            .map(|()| String::from_utf8_lossy(&sink.bytes).into_owned())
            .map_err(|e| {
                let template = e.template_name.clone().unwrap_or(name.clone());
                let file = self
                    .map
                    .files
                    .iter()
                    .find(|f| **f == template)
                    .cloned()
                    .or_else(|| {
                        // Partials are registered under their partial name.
                        self.map
                            .files
                            .iter()
                            .find(|f| f.contains(&template))
                            .cloned()
                    })
                    .unwrap_or(template);
                let line = e.line_no.unwrap_or(1);
                let offset = if file == body.file {
                    body.first_line - 1
                } else {
                    0
                };
                RenderFailure {
                    location: Location::new(file, line + offset, e.column_no.unwrap_or(1)),
                    message: describe_render_error(&e),
                }
            })?;
        Ok(self.strip(out))
    }

    fn strip(mut self, rendered: String) -> (String, SourceMap) {
        let mut text = String::with_capacity(rendered.len());
        // The origin of the last marked line, inherited by unmarked ones.
        let mut nearest = None;
        for line in rendered.split('\n') {
            let mut origin = None;
            let mut clean = String::with_capacity(line.len());
            let mut rest = line;
            while let Some(start) = rest.find(MARK_OPEN) {
                clean.push_str(&rest[..start]);
                let after = &rest[start + MARK_OPEN.len_utf8()..];
                let end = after.find(MARK_CLOSE).unwrap_or(after.len());
                if origin.is_none() {
                    origin = parse_mark(&after[..end]);
                }
                rest = after.get(end + MARK_CLOSE.len_utf8()..).unwrap_or("");
            }
            clean.push_str(rest);
            let clean = clean.trim_end();
            if origin.is_some() {
                nearest = origin;
            }
            let columns = nearest.map(|key| {
                let source = self.map.source_lines.get(&key).map_or("", String::as_str);
                ColumnMap::new(clean, source)
            });
            self.map.lines.push(nearest);
            self.map.columns.push(columns);
            text.push_str(clean);
            text.push('\n');
        }
        (text, self.map)
    }
}

/// The rendered text, refused past [`MAX_RENDERED_BYTES`].
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_RENDERED_BYTES {
            self.over = true;
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parse_mark(s: &str) -> Option<(usize, usize)> {
    let (f, l) = s.split_once(':')?;
    Some((f.parse().ok()?, l.parse().ok()?))
}

fn describe_render_error(e: &handlebars::RenderError) -> String {
    use handlebars::RenderErrorReason as R;
    match e.reason() {
        R::MissingVariable(Some(path)) => format!(
            "`{path}` is not defined here (parameters are under `params.`, the stack name is `stack.name`)"
        ),
        R::PartialNotFound(p) => format!(
            "no template named `{p}` (partials live in templates/, named by path without .hbs)"
        ),
        other => other.to_string(),
    }
}

/// A line holding only a block open/close, `else`, a partial or a comment:
/// handlebars drops such lines from the output ("standalone" tags).
fn is_standalone_tag(line: &str) -> bool {
    let t = line.trim();
    if !(t.starts_with("{{") && t.ends_with("}}")) || t.matches("{{").count() != 1 {
        return false;
    }
    let inner = t.trim_start_matches("{{").trim_start_matches('~');
    inner.starts_with(['#', '/', '>', '!', '^']) || inner.trim_start().starts_with("else")
}

/// Values substituted into YAML must not change its structure: anything that
/// is not a safe plain scalar is written as a double-quoted JSON string.
pub fn yaml_escape(s: &str) -> String {
    let safe = !s.is_empty()
        && !s.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', ' ',
        ])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains(['\n', '\r', '\t', MARK_OPEN, MARK_CLOSE]);
    if safe {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src(file: &str, text: &str) -> TemplateSource {
        TemplateSource {
            file: file.into(),
            text: text.into(),
            first_line: 1,
        }
    }

    #[test]
    fn partials_keep_indentation_and_map_lines() {
        let partial = (
            "net/thing".to_string(),
            src("templates/net/thing.hbs", "a:\n  b: {{x}}\n"),
        );
        let (r, errs) = Renderer::new(&[partial]);
        assert!(errs.is_empty());
        let body = src("bp.yaml", "top:\n  {{> net/thing x=5}}\nend: 1\n");
        let (text, map) = r.render(&body, &json!({})).unwrap();
        assert_eq!(text.trim_end(), "top:\n  a:\n    b: 5\nend: 1");
        assert_eq!(
            map.locate(3, 5),
            Location::new("templates/net/thing.hbs", 2, 3)
        );
        assert_eq!(map.locate(4, 1), Location::new("bp.yaml", 3, 1));
    }

    #[test]
    fn loops_map_each_iteration_to_the_loop_body() {
        let (r, _) = Renderer::new(&[]);
        let body = src(
            "bp.yaml",
            "items:\n{{#each (range 3)}}\n  s{{this}}: {{this}}\n{{/each}}\n",
        );
        let (text, map) = r.render(&body, &json!({})).unwrap();
        assert_eq!(text.trim_end(), "items:\n  s0: 0\n  s1: 1\n  s2: 2");
        for line in 2..=4 {
            assert_eq!(map.locate(line, 3).line, 3);
        }
    }

    #[test]
    fn column_after_an_expansion_maps_back() {
        let (r, _) = Renderer::new(&[]);
        let body = src("bp.yaml", "name: {{params.n}}-tail: x\n");
        let (text, map) = r
            .render(&body, &json!({"params": {"n": "longvalue"}}))
            .unwrap();
        assert_eq!(text.trim_end(), "name: longvalue-tail: x");
        // The `x` at the end maps to the `x` in the source.
        let col = text.find('x').unwrap() + 1;
        let loc = map.locate(1, col);
        assert_eq!(
            loc.column,
            "name: {{params.n}}-tail: x".find('x').unwrap() + 1
        );
        // A column inside the expansion points at the expression.
        assert_eq!(map.locate(1, 9).column, 7);
    }

    #[test]
    fn missing_variables_are_located() {
        let (r, _) = Renderer::new(&[]);
        let body = TemplateSource {
            file: "bp.yaml".into(),
            text: "a: 1\nb: {{params.nope}}\n".into(),
            first_line: 10,
        };
        let err = r.render(&body, &json!({"params": {}})).unwrap_err();
        assert_eq!(err.location.file, "bp.yaml");
        assert_eq!(err.location.line, 11);
        assert!(err.message.contains("params.nope"), "{}", err.message);
    }

    #[test]
    fn unsafe_values_are_quoted() {
        assert_eq!(yaml_escape("plain-value"), "plain-value");
        assert_eq!(yaml_escape("a: b"), "\"a: b\"");
        assert_eq!(yaml_escape("*x"), "\"*x\"");
        assert_eq!(yaml_escape(""), "\"\"");
    }
}
