//! The pipeline from a blueprint and a stack's settings to a validated graph:
//! header -> parameters -> render -> parse -> schema -> graph -> checks.
//! Nothing here talks to AWS.

use crate::catalog::{self, BlueprintSource, CatalogError};
use crate::diagnostic::{Diagnostics, Location};
use crate::kinds;
use crate::limits;
use crate::model::{BlueprintInfo, Graph, Output, Resource, StackInfo};
use crate::naming;
use crate::params::{self, ParamDef};
use crate::template::{Renderer, TemplateSource};
use crate::validate;
use crate::validate::schema::{Checker, closest};
use crate::yaml::{self, Node, Value};
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the user asked for: from flags, a stack file, or both (flags win).
#[derive(Clone, Debug, Default)]
pub struct StackRequest {
    /// An embedded blueprint name or a path to a blueprint file.
    pub blueprint: Option<String>,
    pub stack: Option<String>,
    pub region: Option<String>,
    /// `key=value` parameter settings, in command-line order.
    pub set: Vec<String>,
    /// `key=value` extra tags.
    pub tags: Vec<String>,
    pub stack_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl LoadError {
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            LoadError::Invalid(d) => Some(d),
            _ => None,
        }
    }
}

const CLI: &str = "<command line>";

/// Reads a blueprint's header (name, description, parameters).
pub fn blueprint_info(name_or_path: &str) -> Result<BlueprintInfo, LoadError> {
    let src = catalog::find(name_or_path)?;
    let mut diags = Diagnostics::default();
    let (info, _) = parse_header(&src, &mut diags);
    match info {
        Some(info) if !diags.has_errors() => Ok(info),
        _ => Err(LoadError::Invalid(diags.sorted())),
    }
}

/// Renders and validates a stack. All problems are reported at once.
///
/// The work runs on a thread of its own with a large stack and a time limit
/// ([`crate::limits`]): a blueprint is a program, and one that loops or
/// nests without end is reported like any other mistake, with its file,
/// instead of hanging or aborting the caller.
pub fn compile(req: &StackRequest) -> Result<Graph, LoadError> {
    let (send, receive) = std::sync::mpsc::channel();
    let request = req.clone();
    let worker = std::thread::Builder::new()
        .name("archform-compile".into())
        .stack_size(limits::COMPILE_STACK)
        .spawn(move || {
            let _ = send.send(compile_here(&request));
        });
    let over_time = || {
        let mut diags = Diagnostics::default();
        diags.error(
            "template/limit",
            Location::new(req.blueprint.as_deref().unwrap_or(CLI), 1, 1),
            format!(
                "rendering and checking the blueprint took over {} seconds",
                limits::COMPILE_TIME.as_secs()
            ),
            "look for loops that repeat too often (nested `each` over large lists)",
        );
        LoadError::Invalid(diags)
    };
    if worker.is_err() {
        // No thread to spare: compile here, without the time limit.
        return compile_here(req);
    }
    match receive.recv_timeout(limits::COMPILE_TIME) {
        Ok(result) => result,
        // The worker keeps running until its loop ends; the caller (the
        // CLI) exits with this error meanwhile.
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(over_time()),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let mut diags = Diagnostics::default();
            diags.error(
                "internal",
                Location::new(req.blueprint.as_deref().unwrap_or(CLI), 1, 1),
                "checking the blueprint stopped unexpectedly (an archform bug; the message above says where)",
                "please report it with the blueprint that caused it",
            );
            Err(LoadError::Invalid(diags))
        }
    }
}

pub(crate) fn compile_here(req: &StackRequest) -> Result<Graph, LoadError> {
    let mut diags = Diagnostics::default();
    let file = read_stack_file(req, &mut diags);
    let blueprint = req
        .blueprint
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.blueprint.clone()));
    let Some(blueprint) = blueprint else {
        diags.error(
            "stack/blueprint",
            Location::new(CLI, 1, 1),
            "no blueprint given",
            "name one (`archform render url-shortener`) or set `blueprint:` in the stack file",
        );
        return Err(LoadError::Invalid(diags));
    };
    let src = catalog::find(&blueprint)?;
    let (info, body) = parse_header(&src, &mut diags);
    let (Some(info), Some(body)) = (info, body) else {
        return Err(LoadError::Invalid(diags.sorted()));
    };

    // Stack identity: flags override the stack file, which overrides defaults.
    let stack_name = req
        .stack
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.stack.clone()))
        .unwrap_or_else(|| info.name.clone());
    let stack_loc = file
        .as_ref()
        .and_then(|f| f.stack_loc.clone())
        .filter(|_| req.stack.is_none())
        .unwrap_or_else(|| Location::new(CLI, 1, 1));
    if let Err(e) = check_stack_name(&stack_name) {
        diags.error(
            "stack/name",
            stack_loc,
            format!("stack name `{stack_name}` {e}"),
            "use 1-32 lowercase letters, digits and hyphens, starting with a letter (e.g. --stack demo)",
        );
    }
    let region = req
        .region
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.region.clone()));
    let mut given: Vec<(String, serde_json::Value, Location)> = Vec::new();
    if let Some(f) = &file {
        given.extend(f.parameters.iter().cloned());
    }
    let mut tags: IndexMap<String, String> =
        file.as_ref().map(|f| f.tags.clone()).unwrap_or_default();
    for (i, t) in req.tags.iter().enumerate() {
        match t.split_once('=') {
            Some((k, v)) => {
                tags.insert(k.trim().into(), v.into());
            }
            None => diags.error(
                "stack/tag",
                Location::new(CLI, 1, i + 1),
                format!("--tag `{t}` is not `key=value`"),
                "write --tag team=payments",
            ),
        }
    }
    check_tags(&tags, file.as_ref().map(|f| f.location.clone()), &mut diags);
    let values = resolve_params(&info.parameters, req, given, &mut diags);
    if diags.has_errors() {
        return Err(LoadError::Invalid(diags.sorted()));
    }

    // Render the body with the parameters.
    let partials = catalog::partials(src.templates_dir.as_deref());
    let (renderer, failures) = Renderer::new(&partials);
    for f in failures {
        diags.error(
            "template/syntax",
            f.location,
            f.message,
            "fix the handlebars syntax of the partial",
        );
    }
    let data = serde_json::json!({
        "params": values,
        "stack": { "name": stack_name },
    });
    let (text, map) = match renderer.render(&body, &data) {
        Ok(r) => r,
        Err(f) => {
            diags.error(
                "template/render",
                f.location,
                f.message,
                "fix the template expression",
            );
            return Err(LoadError::Invalid(diags.sorted()));
        }
    };
    let docs = match yaml::parse(&text) {
        Ok(d) => d,
        Err(e) => {
            diags.error(
                "yaml/syntax",
                map.locate(e.pos.line, e.pos.col),
                format!("after rendering, the YAML is invalid: {}", e.message),
                "check indentation and quoting on this line (partials must be included on a line of their own)",
            );
            return Err(LoadError::Invalid(diags.sorted()));
        }
    };
    let stack = StackInfo {
        name: stack_name,
        blueprint: info.name.clone(),
        region,
        parameters: values,
        tags,
    };
    let mut graph = Graph {
        stack,
        resources: IndexMap::new(),
        outputs: IndexMap::new(),
    };
    let Some(root) = docs.first() else {
        diags.error(
            "schema/missing-field",
            Location::new(&body.file, body.first_line, 1),
            "the blueprint has no `resources:` section",
            "add `resources:` after the header's `---` line",
        );
        return Err(LoadError::Invalid(diags));
    };
    let mut checker = Checker {
        map: &map,
        diags: &mut diags,
        locations: BTreeMap::new(),
    };
    read_body(root, &mut checker, &mut graph);
    validate::run(&graph, &mut diags);
    if diags.has_errors() {
        return Err(LoadError::Invalid(diags.sorted()));
    }
    Ok(graph)
}

const HEADER_FIELDS: &[&str] = &["name", "description", "parameters"];

/// Splits a blueprint at its `---` line and reads the plain-YAML header.
fn parse_header(
    src: &BlueprintSource,
    diags: &mut Diagnostics,
) -> (Option<BlueprintInfo>, Option<TemplateSource>) {
    let lines: Vec<&str> = src.text.split('\n').collect();
    // A leading `---` is a document start, not the separator.
    let start = usize::from(lines.first().is_some_and(|l| l.trim_end() == "---"));
    let Some(sep) = lines
        .iter()
        .skip(start)
        .position(|l| l.trim_end() == "---")
        .map(|i| i + start)
    else {
        diags.error(
            "schema/layout",
            Location::new(&src.file, 1, 1),
            "a blueprint has two parts separated by a `---` line: the header (name, description, parameters) and the body (resources, outputs)",
            "add a `---` line between `parameters:` and `resources:`",
        );
        return (None, None);
    };
    let header_text = lines[..sep].join("\n");
    let body = TemplateSource {
        file: src.file.clone(),
        text: lines[sep + 1..].join("\n"),
        first_line: sep + 2,
    };
    let at = |n: &Node| Location::new(&src.file, n.pos.line, n.pos.col);
    let root = match yaml::parse(&header_text) {
        Ok(d) => d.into_iter().next(),
        Err(e) => {
            diags.error(
                "yaml/syntax",
                Location::new(&src.file, e.pos.line, e.pos.col),
                format!("the header is not valid YAML: {}", e.message),
                "the header is plain YAML (no {{ }} expressions); check indentation and quoting",
            );
            return (None, Some(body));
        }
    };
    let Some(root) = root.filter(|r| r.as_map().is_some()) else {
        diags.error(
            "schema/missing-field",
            Location::new(&src.file, 1, 1),
            "the header must be a mapping with `name` and `description`",
            "start the file with `name: my-blueprint` and `description: ...`",
        );
        return (None, Some(body));
    };
    for (k, _) in root.as_map().unwrap_or_default() {
        let key = k.scalar_text().unwrap_or_default();
        if !HEADER_FIELDS.contains(&key.as_str()) {
            let hint = if key == "resources" || key == "outputs" {
                format!("`{key}` belongs in the body, after the `---` line")
            } else {
                format!("header fields are: {}", HEADER_FIELDS.join(", "))
            };
            diags.error(
                "schema/unknown-field",
                at(k),
                format!("unknown header field `{key}`"),
                hint,
            );
        }
    }
    let mut text_field = |key: &str| -> String {
        match root.get(key) {
            Some(n) => n.scalar_text().unwrap_or_else(|| {
                diags.error(
                    "schema/type",
                    at(n),
                    format!("`{key}` must be text"),
                    format!("write `{key}: some text`"),
                );
                String::new()
            }),
            None => {
                diags.error(
                    "schema/missing-field",
                    at(&root),
                    format!("the header has no `{key}`"),
                    format!("add `{key}: ...` at the top of the file"),
                );
                String::new()
            }
        }
    };
    let name = text_field("name");
    let description = text_field("description");
    let parameters = match root.get("parameters") {
        Some(p) if !matches!(p.value, Value::Null) => params::parse_defs(p, &src.file, diags),
        _ => Vec::new(),
    };
    let info = BlueprintInfo {
        name,
        description,
        file: src.file.clone(),
        parameters,
    };
    (Some(info), Some(body))
}

/// A stack file: `blueprint`, `stack`, `region`, `parameters`, `tags`.
struct StackFile {
    location: Location,
    blueprint: Option<String>,
    stack: Option<String>,
    stack_loc: Option<Location>,
    region: Option<String>,
    parameters: Vec<(String, serde_json::Value, Location)>,
    tags: IndexMap<String, String>,
}

const STACK_FILE_FIELDS: &[&str] = &["blueprint", "stack", "region", "parameters", "tags"];

fn read_stack_file(req: &StackRequest, diags: &mut Diagnostics) -> Option<StackFile> {
    let path = req.stack_file.as_ref()?;
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.error(
                "stack/file",
                Location::new(CLI, 1, 1),
                format!("cannot read the stack file {file}: {e}"),
                "check the --stack-file path",
            );
            return None;
        }
    };
    let at = |n: &Node| Location::new(&file, n.pos.line, n.pos.col);
    let root = match yaml::parse(&text) {
        Ok(d) => d.into_iter().next()?,
        Err(e) => {
            diags.error(
                "yaml/syntax",
                Location::new(&file, e.pos.line, e.pos.col),
                format!("the stack file is not valid YAML: {}", e.message),
                "check indentation and quoting",
            );
            return None;
        }
    };
    let mut out = StackFile {
        location: Location::new(&file, 1, 1),
        blueprint: None,
        stack: None,
        stack_loc: None,
        region: None,
        parameters: Vec::new(),
        tags: IndexMap::new(),
    };
    for (k, v) in root.as_map().unwrap_or_default() {
        let key = k.scalar_text().unwrap_or_default();
        match key.as_str() {
            "blueprint" => out.blueprint = v.scalar_text(),
            "stack" => {
                out.stack = v.scalar_text();
                out.stack_loc = Some(at(v));
            }
            "region" => out.region = v.scalar_text(),
            "parameters" => {
                for (pk, pv) in v.as_map().unwrap_or_default() {
                    out.parameters.push((
                        pk.scalar_text().unwrap_or_default(),
                        pv.to_json(),
                        at(pk),
                    ));
                }
            }
            "tags" => {
                for (tk, tv) in v.as_map().unwrap_or_default() {
                    out.tags.insert(
                        tk.scalar_text().unwrap_or_default(),
                        tv.scalar_text().unwrap_or_default(),
                    );
                }
            }
            _ => diags.error(
                "schema/unknown-field",
                at(k),
                format!("unknown stack file field `{key}`"),
                format!("stack file fields are: {}", STACK_FILE_FIELDS.join(", ")),
            ),
        }
    }
    Some(out)
}

fn check_stack_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 32 {
        return Err(format!(
            "is {} characters long; 1 to 32 are allowed",
            name.len()
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("must start with a lowercase letter".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("contains `{c}`"));
    }
    if name.ends_with('-') || name.contains("--") {
        return Err("must not end with a hyphen or contain `--`".into());
    }
    Ok(())
}

fn check_tags(tags: &IndexMap<String, String>, at: Option<Location>, diags: &mut Diagnostics) {
    let loc = at.unwrap_or_else(|| Location::new(CLI, 1, 1));
    for (k, v) in tags {
        let problem = if k.is_empty() || k.chars().count() > 128 {
            Some("tag keys must be 1 to 128 characters")
        } else if k.starts_with("aws:") || k.starts_with("archform:") {
            Some("tag keys starting with `aws:` or `archform:` are reserved")
        } else if v.chars().count() > 256 {
            Some("tag values must be at most 256 characters")
        } else {
            None
        };
        if let Some(p) = problem {
            diags.error(
                "stack/tag",
                loc.clone(),
                format!("tag `{k}`: {p}"),
                "rename or shorten the tag",
            );
        }
    }
    // AWS allows 50 tags per resource; archform adds its two.
    if tags.len() > 48 {
        diags.error(
            "stack/tag",
            loc,
            format!(
                "{} tags given; at most 48 fit next to archform's own",
                tags.len()
            ),
            "drop some tags",
        );
    }
}

fn resolve_params(
    defs: &[ParamDef],
    req: &StackRequest,
    mut given: Vec<(String, serde_json::Value, Location)>,
    diags: &mut Diagnostics,
) -> IndexMap<String, serde_json::Value> {
    for (i, s) in req.set.iter().enumerate() {
        let loc = Location::new(CLI, 1, i + 1);
        let Some((k, v)) = s.split_once('=') else {
            diags.error(
                "param/syntax",
                loc,
                format!("--set `{s}` is not `name=value`"),
                "write --set az_count=3",
            );
            continue;
        };
        let k = k.trim();
        let value = match defs.iter().find(|d| d.name == k) {
            Some(d) => d.ty.parse_text(v),
            None => serde_json::Value::String(v.into()),
        };
        given.push((k.into(), value, loc));
    }
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    let mut values = IndexMap::new();
    for (k, v, loc) in &given {
        let Some(def) = defs.iter().find(|d| d.name == *k) else {
            let hint = match closest(k, &names) {
                Some(c) => format!("did you mean `{c}`? Parameters: {}", names.join(", ")),
                None if names.is_empty() => "this blueprint takes no parameters".into(),
                None => format!("parameters of this blueprint: {}", names.join(", ")),
            };
            diags.error(
                "param/unknown",
                loc.clone(),
                format!("unknown parameter `{k}`"),
                hint,
            );
            continue;
        };
        if let Err(e) = def.ty.check(v) {
            diags.error(
                "param/value",
                loc.clone(),
                format!("parameter `{k}`: {e}"),
                format!("give a value that is {}", def.ty.describe()),
            );
        }
        values.insert(k.clone(), v.clone());
    }
    for def in defs {
        if values.contains_key(&def.name) {
            continue;
        }
        match &def.default {
            Some(d) => {
                values.insert(def.name.clone(), d.clone());
            }
            None => diags.error(
                "param/missing",
                Location::new(CLI, 1, 1),
                format!("parameter `{}` has no default and was not given", def.name),
                format!("add --set {}=... ({})", def.name, def.ty.describe()),
            ),
        }
    }
    // Keep declaration order for stable output.
    let mut ordered = IndexMap::new();
    for def in defs {
        if let Some(v) = values.shift_remove(&def.name) {
            ordered.insert(def.name.clone(), v);
        }
    }
    ordered
}

const BODY_FIELDS: &[&str] = &["resources", "outputs"];
const RESOURCE_FIELDS: &[&str] = &["kind", "name", "tags", "depends_on", "properties"];

fn read_body(root: &Node, c: &mut Checker, graph: &mut Graph) {
    let Some(entries) = root.as_map() else {
        let loc = c.at(root);
        c.diags.error(
            "schema/type",
            loc,
            "the body must be a mapping with `resources:`",
            "start the body with `resources:`",
        );
        return;
    };
    for (k, _) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if !BODY_FIELDS.contains(&key.as_str()) {
            let loc = c.at(k);
            c.diags.error(
                "schema/unknown-field",
                loc,
                format!("unknown body field `{key}`"),
                format!(
                    "the body has: {} (name, description and parameters go in the header)",
                    BODY_FIELDS.join(", ")
                ),
            );
        }
    }
    match root.get("resources") {
        Some(res) => read_resources(res, c, graph),
        None => {
            let loc = c.at(root);
            c.diags.error(
                "schema/missing-field",
                loc,
                "the body has no `resources:`",
                "add `resources:` with at least one resource",
            );
        }
    }
    if let Some(outs) = root
        .get("outputs")
        .filter(|o| !matches!(o.value, Value::Null))
    {
        let Some(entries) = outs.as_map() else {
            let loc = c.at(outs);
            c.diags.error(
                "schema/type",
                loc,
                "`outputs` must be a mapping",
                "write `name: {value: ..., description: ...}` entries",
            );
            return;
        };
        for (k, v) in entries {
            let name = k.scalar_text().unwrap_or_default();
            let loc = c.at(k);
            for (f, _) in v.as_map().unwrap_or_default() {
                let field = f.scalar_text().unwrap_or_default();
                if field != "value" && field != "description" {
                    let floc = c.at(f);
                    c.diags.error(
                        "schema/unknown-field",
                        floc,
                        format!("unknown field `{field}` in output `{name}`"),
                        "outputs have `value` and `description`",
                    );
                }
            }
            let value = v
                .get("value")
                .and_then(Node::scalar_text)
                .or_else(|| v.scalar_text().filter(|_| v.as_map().is_none()));
            let Some(value) = value else {
                c.diags.error(
                    "schema/missing-field",
                    loc,
                    format!("output `{name}` has no `value`"),
                    "add `value: ${id.attr}`",
                );
                continue;
            };
            let description = v
                .get("description")
                .and_then(Node::scalar_text)
                .unwrap_or_default();
            graph.outputs.insert(
                name,
                Output {
                    value,
                    description,
                    location: loc,
                },
            );
        }
    }
}

fn valid_id(id: &str) -> bool {
    id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn read_resources(res: &Node, c: &mut Checker, graph: &mut Graph) {
    let Some(entries) = res.as_map() else {
        let loc = c.at(res);
        c.diags.error(
            "schema/type",
            loc,
            format!("`resources` must be a mapping, found a {}", res.type_name()),
            "write one `logical_id: {kind: ..., properties: ...}` per resource",
        );
        return;
    };
    let kind_names: Vec<&str> = kinds::Kind::ALL.iter().map(|k| k.name()).collect();
    if entries.len() > limits::MAX_RESOURCES {
        let loc = c.at(res);
        c.diags.error(
            "resource/limit",
            loc,
            format!(
                "the blueprint declares {} resources, over the limit of {}",
                entries.len(),
                limits::MAX_RESOURCES
            ),
            "split the system into several stacks",
        );
        return;
    }
    for (k, v) in entries {
        let id = k.scalar_text().unwrap_or_default();
        let loc = c.at(k);
        if !valid_id(&id) || id == "aws" {
            c.diags.error(
                "resource/id",
                loc.clone(),
                format!("`{id}` is not a valid logical id"),
                "use up to 64 lowercase letters, digits and `_`, starting with a letter (`aws` is reserved)",
            );
            continue;
        }
        if v.as_map().is_none() {
            c.diags.error(
                "schema/type",
                loc,
                format!("resource `{id}` must be a mapping with `kind` and `properties`"),
                "write `kind: ...` and `properties:` indented under the id",
            );
            continue;
        }
        for (f, _) in v.as_map().unwrap_or_default() {
            let field = f.scalar_text().unwrap_or_default();
            if !RESOURCE_FIELDS.contains(&field.as_str()) {
                let floc = c.at(f);
                let hint = match closest(&field, RESOURCE_FIELDS) {
                    Some(s) => format!(
                        "did you mean `{s}`? Resource fields: {}",
                        RESOURCE_FIELDS.join(", ")
                    ),
                    None => format!(
                        "resource fields are: {} (properties go under `properties:`)",
                        RESOURCE_FIELDS.join(", ")
                    ),
                };
                c.diags.error(
                    "schema/unknown-field",
                    floc,
                    format!("unknown field `{field}` in resource `{id}`"),
                    hint,
                );
            }
        }
        let Some(kind_node) = v.get("kind") else {
            c.diags.error(
                "schema/missing-field",
                loc,
                format!("resource `{id}` has no `kind`"),
                format!("add `kind:` with one of: {}", kind_names.join(", ")),
            );
            continue;
        };
        let kind_name = kind_node.scalar_text().unwrap_or_default();
        let Some(kind) = kinds::lookup(&kind_name) else {
            let kloc = c.at(kind_node);
            let hint = match closest(&kind_name, &kind_names) {
                Some(s) => format!("did you mean `{s}`? Run `archform kinds` for the list"),
                None => format!("known kinds: {}", kind_names.join(", ")),
            };
            c.diags.error(
                "resource/kind",
                kloc,
                format!("unknown resource kind `{kind_name}`"),
                hint,
            );
            continue;
        };
        c.locations = BTreeMap::from([(String::new(), loc.clone())]);
        let props_node = v.get("properties");
        let properties = match props_node {
            Some(p) => c.object(p, kind.props, "", &format!("`{id}` ({})", kind.name)),
            None => {
                let empty = Node {
                    value: Value::Map(Vec::new()),
                    pos: k.pos,
                };
                c.object(&empty, kind.props, "", &format!("`{id}` ({})", kind.name))
            }
        };
        let property_locations = std::mem::take(&mut c.locations);
        let name = match (v.get("name"), kind.naming) {
            (Some(n), Some(rule)) => {
                let text = n.scalar_text().unwrap_or_default();
                if let Err(e) = naming::check(&text, &rule) {
                    let nloc = c.at(n);
                    c.diags.error("name/rule", nloc, format!("the {} name `{text}` {e}", kind.name), "choose a name within the kind's rules, or drop `name:` to get a derived one");
                }
                Some(text)
            }
            (Some(n), None) => {
                let nloc = c.at(n);
                c.diags.error(
                    "name/unsupported",
                    nloc,
                    format!("{} resources have no name in AWS", kind.name),
                    "remove `name:`; the resource is identified by its tags",
                );
                None
            }
            (None, Some(rule)) => Some(naming::derive(&graph.stack.name, &id, &rule)),
            (None, None) => None,
        };
        let mut tags = graph.stack.tags.clone();
        if let Some(t) = v.get("tags") {
            match t.as_map() {
                Some(m) => {
                    for (tk, tv) in m {
                        tags.insert(
                            tk.scalar_text().unwrap_or_default(),
                            tv.scalar_text().unwrap_or_default(),
                        );
                    }
                }
                None => {
                    let tloc = c.at(t);
                    c.diags.error(
                        "schema/type",
                        tloc,
                        "`tags` must be a mapping",
                        "write `tags: {team: web}`",
                    );
                }
            }
        }
        tags.insert("archform:stack".into(), graph.stack.name.clone());
        tags.insert("archform:id".into(), id.clone());
        let depends_on = match v.get("depends_on") {
            None => Vec::new(),
            Some(d) => match d.as_seq() {
                Some(items) => items.iter().filter_map(Node::scalar_text).collect(),
                None => {
                    let dloc = c.at(d);
                    c.diags.error(
                        "schema/type",
                        dloc,
                        "`depends_on` must be a list of logical ids",
                        "write `depends_on: [other_id]`",
                    );
                    Vec::new()
                }
            },
        };
        graph.resources.insert(
            id.clone(),
            Resource {
                id,
                kind,
                name,
                properties,
                tags,
                depends_on,
                location: loc,
                property_locations,
            },
        );
    }
}
