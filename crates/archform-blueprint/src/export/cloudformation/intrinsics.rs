//! `${id.attr}` references -> CloudFormation intrinsic functions.
//!
//! A string that is exactly one reference becomes the attribute's own form
//! (`Ref`, `Fn::GetAtt`, or the kind's `Fn::Sub` template); a string mixing
//! text and references becomes one `Fn::Sub`. Values that `Fn::Sub` cannot
//! name inline (`Fn::Select` of an availability zone) go into its variable map.

use super::{Ctx, pascal_case};
use crate::model::Resource;
use crate::refs::{self, Piece, Ref};
use serde_json::{Map, Value as J, json};
use std::collections::BTreeSet;

impl Ctx<'_> {
    /// Translates every string inside a value (documents included).
    pub(super) fn value(&self, v: &J) -> J {
        match v {
            J::String(s) => self.string(s),
            J::Array(items) => J::Array(items.iter().map(|x| self.value(x)).collect()),
            J::Object(map) => J::Object(
                map.iter()
                    .map(|(k, x)| (k.clone(), self.value(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Translates one string: literal, whole reference, or interpolation.
    pub(super) fn string(&self, s: &str) -> J {
        // Validation rejects malformed references, so an error here means a
        // graph built by hand: keep the text rather than guess.
        let Ok(pieces) = refs::split(s) else {
            return J::String(s.into());
        };
        if let [Piece::Ref(r)] = pieces.as_slice() {
            return self.reference(r);
        }
        if pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
            return J::String(s.into());
        }
        let mut sub = Sub::default();
        for p in &pieces {
            match p {
                Piece::Text(t) => sub.text(t),
                Piece::Ref(r) => match aws_az(r) {
                    Some(n) => sub.var(&format!("Az{n}"), az(n)),
                    None => sub.value(self.reference(r)),
                },
            }
        }
        sub.finish()
    }

    /// The CloudFormation value of `${id.attr}` on its own.
    pub(super) fn reference(&self, r: &Ref) -> J {
        if r.id == "aws" {
            return aws_ref(&r.attr).unwrap_or_else(|| J::String(r.to_string()));
        }
        let resolved = self.graph.resources.get(&r.id).and_then(|res| {
            let attr = res.kind.attr(&r.attr)?;
            let logical = self.logical.get(&r.id)?;
            Some((res, attr, logical))
        });
        let Some((res, attr, logical)) = resolved else {
            return J::String(r.to_string());
        };
        match attr.cfn {
            crate::kinds::CfnAttr::Ref => json!({ "Ref": logical }),
            crate::kinds::CfnAttr::GetAtt(a) => json!({ "Fn::GetAtt": [logical, a] }),
            crate::kinds::CfnAttr::Sub(template) => {
                let mut sub = Sub::default();
                self.attr_template(res, logical, template, &mut sub);
                sub.finish()
            }
        }
    }

    /// Expands a kind's `CfnAttr::Sub` template into `sub`: `${Self}` is the
    /// resource's logical id, `${Self.Attr}` its attribute, `${AWS::...}`
    /// stays, and any other `${Name}` is the resource's CloudFormation
    /// property `Name` (the archform property whose PascalCase is `Name`;
    /// `${api_id}` works too).
    fn attr_template(&self, res: &Resource, logical: &str, template: &str, sub: &mut Sub) {
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            sub.raw(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                sub.raw(&rest[start..]);
                return;
            };
            let name = &after[..end];
            if name == "Self" {
                sub.raw(&format!("${{{logical}}}"));
            } else if let Some(attr) = name.strip_prefix("Self.") {
                sub.raw(&format!("${{{logical}.{attr}}}"));
            } else if name.contains("::") || name.starts_with('!') {
                sub.raw(&format!("${{{name}}}"));
            } else {
                let prop = res
                    .kind
                    .props
                    .iter()
                    .find(|p| p.name == name || pascal_case(p.name) == name)
                    .and_then(|p| res.properties.get(p.name));
                match prop {
                    Some(v) => sub.value(self.value(v)),
                    // Not a property of the resource: left for CloudFormation
                    // to resolve (a logical id or parameter of the same name).
                    None => sub.raw(&format!("${{{name}}}")),
                }
            }
            rest = &after[end + 1..];
        }
        sub.raw(rest);
    }
}

fn aws_az(r: &Ref) -> Option<usize> {
    if r.id != "aws" {
        return None;
    }
    r.attr.strip_prefix("az")?.parse().ok()
}

fn az(n: usize) -> J {
    json!({ "Fn::Select": [n, { "Fn::GetAZs": "" }] })
}

/// The pseudo-resource `aws`: pseudo parameters and availability zones.
fn aws_ref(attr: &str) -> Option<J> {
    let pseudo = match attr {
        "region" => "AWS::Region",
        "account_id" => "AWS::AccountId",
        "partition" => "AWS::Partition",
        "url_suffix" => "AWS::URLSuffix",
        _ => {
            let n: usize = attr.strip_prefix("az")?.parse().ok()?;
            return Some(az(n));
        }
    };
    Some(json!({ "Ref": pseudo }))
}

/// An `Fn::Sub` being built: its template and variable map.
#[derive(Default)]
pub(super) struct Sub {
    template: String,
    vars: Map<String, J>,
}

impl Sub {
    /// Literal text (a `${` in it is escaped as `${!`).
    pub(super) fn text(&mut self, t: &str) {
        self.template.push_str(&t.replace("${", "${!"));
    }

    /// Template text, copied as is.
    pub(super) fn raw(&mut self, t: &str) {
        self.template.push_str(t);
    }

    /// A value through the variable map, under `hint` or a fresh name.
    pub(super) fn var(&mut self, hint: &str, value: J) {
        let name = self.bind(hint, value);
        self.template.push_str(&format!("${{{name}}}"));
    }

    fn bind(&mut self, hint: &str, value: J) -> String {
        let mut name = hint.to_string();
        let mut n = 1;
        while let Some(existing) = self.vars.get(&name) {
            if *existing == value {
                return name;
            }
            n += 1;
            name = format!("{hint}{n}");
        }
        self.vars.insert(name.clone(), value);
        name
    }

    /// A translated value: inline when `Fn::Sub` can name it, else a variable.
    pub(super) fn value(&mut self, v: J) {
        match v {
            J::String(s) => self.text(&s),
            J::Number(n) => self.text(&n.to_string()),
            J::Bool(b) => self.text(&b.to_string()),
            J::Object(ref m) if m.len() == 1 => {
                let (k, inner) = m.iter().next().expect("one entry");
                match (k.as_str(), inner) {
                    ("Ref", J::String(x)) => self.raw(&format!("${{{x}}}")),
                    ("Fn::GetAtt", J::Array(a)) if a.len() == 2 && a.iter().all(J::is_string) => {
                        let (x, attr) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
                        self.raw(&format!("${{{x}.{attr}}}"));
                    }
                    ("Fn::Sub", J::String(t)) => self.raw(t),
                    ("Fn::Sub", J::Array(a))
                        if a.len() == 2 && a[0].is_string() && a[1].is_object() =>
                    {
                        let mut t = a[0].as_str().unwrap().to_string();
                        for (name, value) in a[1].as_object().unwrap() {
                            let bound = self.bind(name, value.clone());
                            if bound != *name {
                                t = t.replace(&format!("${{{name}}}"), &format!("${{{bound}}}"));
                            }
                        }
                        self.raw(&t);
                    }
                    _ => self.var("Value", v),
                }
            }
            other => self.var("Value", other),
        }
    }

    pub(super) fn finish(self) -> J {
        if self.vars.is_empty() {
            json!({ "Fn::Sub": self.template })
        } else {
            json!({ "Fn::Sub": [self.template, self.vars] })
        }
    }
}

/// Logical ids a CloudFormation value refers to (`Ref`, `Fn::GetAtt`, and
/// names inside `Fn::Sub` templates), pseudo parameters excluded.
pub(super) fn referenced_ids(v: &J, out: &mut BTreeSet<String>) {
    match v {
        J::Array(items) => items.iter().for_each(|x| referenced_ids(x, out)),
        J::Object(map) => {
            if let Some(J::String(x)) = map.get("Ref")
                && !x.contains("::")
            {
                out.insert(x.clone());
            }
            if let Some(J::Array(a)) = map.get("Fn::GetAtt")
                && let Some(J::String(x)) = a.first()
            {
                out.insert(x.clone());
            }
            if let Some(sub) = map.get("Fn::Sub") {
                let (template, vars) = match sub {
                    J::String(t) => (t.as_str(), None),
                    J::Array(a) => (
                        a.first().and_then(J::as_str).unwrap_or_default(),
                        a.get(1).and_then(J::as_object),
                    ),
                    _ => ("", None),
                };
                for name in sub_names(template) {
                    if name.contains("::") || vars.is_some_and(|m| m.contains_key(name)) {
                        continue;
                    }
                    out.insert(name.split('.').next().unwrap_or(name).to_string());
                }
            }
            map.values().for_each(|x| referenced_ids(x, out));
        }
        _ => {}
    }
}

/// The `${name}` variables of an `Fn::Sub` template (escapes `${!` skipped).
pub(super) fn sub_names(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            out.push(name);
        }
        rest = &after[end + 1..];
    }
    out
}
