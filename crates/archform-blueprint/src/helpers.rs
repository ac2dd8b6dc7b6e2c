//! Handlebars helpers available to blueprints and partials.
//!
//! Built-ins (`each`, `if`, `eq`, `and`, `or`, `not`, `len`, `lookup`, ...) come
//! from handlebars; these add what infrastructure templates need: counting
//! loops, AZ letters, CIDR arithmetic, joined lists, text cut at a separator
//! and flow-style JSON values.

use crate::cidr;
use crate::limits::{MAX_RANGE, RANGE_BUDGET};
use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason,
    ScopedJson, handlebars_helper,
};
use serde_json::{Value, json};

thread_local! {
    /// `range` elements produced by the render running on this thread.
    static RANGE_USED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Starts a render's `range` budget afresh.
pub fn reset_range_budget() {
    RANGE_USED.with(|u| u.set(0));
}

/// `(range n)`: the numbers 0..n, within [`MAX_RANGE`] per call and
/// [`RANGE_BUDGET`] per render (nested loops multiply).
struct Range;

impl HelperDef for Range {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, handlebars::RenderError> {
        let n = h.param(0).and_then(|p| p.value().as_u64()).ok_or_else(|| {
            RenderErrorReason::Other("range takes a whole number: (range 3) is 0, 1, 2".into())
        })?;
        if n > MAX_RANGE {
            return Err(RenderErrorReason::Other(format!(
                "(range {n}) is over the limit of {MAX_RANGE} elements"
            ))
            .into());
        }
        let used = RANGE_USED.with(|u| {
            let total = u.get().saturating_add(n);
            u.set(total);
            total
        });
        if used > RANGE_BUDGET {
            return Err(RenderErrorReason::Other(format!(
                "loops over `range` produced over {RANGE_BUDGET} elements in all (nested loops multiply): make them smaller"
            ))
            .into());
        }
        Ok(ScopedJson::Derived(Value::Array(
            (0..n).map(|i| json!(i)).collect(),
        )))
    }
}
handlebars_helper!(az_letter: |i: u64| {
    char::from(b'a' + (i % 26) as u8).to_string()
});
/// `(add a b)` and `(mul a b)` on whole numbers; a result out of range is
/// an error, not a wrapped number.
struct Arith(&'static str, fn(i64, i64) -> Option<i64>);

impl HelperDef for Arith {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, handlebars::RenderError> {
        let arg = |i| h.param(i).and_then(|p| p.value().as_i64());
        let (Some(a), Some(b)) = (arg(0), arg(1)) else {
            return Err(
                RenderErrorReason::Other(format!("{} takes two whole numbers", self.0)).into(),
            );
        };
        let v = (self.1)(a, b).ok_or_else(|| {
            RenderErrorReason::Other(format!("({} {a} {b}) is out of range", self.0))
        })?;
        Ok(ScopedJson::Derived(json!(v)))
    }
}
handlebars_helper!(contains: |list: array, item: Json| list.contains(item));
handlebars_helper!(concat: |*args| args.iter().map(|v| match v {
    Value::String(s) => s.clone(),
    other => other.to_string(),
}).collect::<String>());

// `(join list " ")`: a list parameter as one text value (an environment
// variable, whose `,` would split `env_map` pairs).
handlebars_helper!(join: |list: array, sep: str| list.iter().map(|v| match v {
    Value::String(s) => s.clone(),
    other => other.to_string(),
}).collect::<Vec<_>>().join(sep));

// `(before "14.9" ".")`: the text before the first separator, all of it
// when there is none (a major version out of a version parameter).
handlebars_helper!(before: |text: Json, sep: str| {
    let text = match text {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.split_once(sep) {
        Some((head, _)) if !sep.is_empty() => head.to_string(),
        _ => text,
    }
});

/// `{{json value}}` writes a value in flow style (valid YAML), e.g. a list parameter.
fn json_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let v = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("json", 0))?;
    out.write(&serde_json::to_string(v.value()).unwrap_or_default())?;
    Ok(())
}

/// `{{cidr_subnet base newbits netnum}}`, Terraform's cidrsubnet: the
/// `netnum`-th subnet of `base` with `newbits` more prefix bits.
struct CidrSubnet;

impl HelperDef for CidrSubnet {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, handlebars::RenderError> {
        let base = h
            .param(0)
            .and_then(|p| p.value().as_str().map(str::to_string));
        let bits = h.param(1).and_then(|p| p.value().as_u64());
        let num = h.param(2).and_then(|p| p.value().as_u64());
        let (Some(base), Some(bits), Some(num)) = (base, bits, num) else {
            return Err(RenderErrorReason::Other(
                "cidr_subnet takes a CIDR string, a number of new bits and a subnet number".into(),
            )
            .into());
        };
        let net = cidr::subnet(&base, bits, num).map_err(RenderErrorReason::Other)?;
        Ok(ScopedJson::Derived(Value::String(net)))
    }
}

/// `{{env_map "A=${x.name},B=literal"}}` writes a flow mapping of environment
/// variables; handlebars hash arguments cannot be mappings themselves.
fn env_map_helper(
    h: &Helper,
    _: &Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let text = h.param(0).and_then(|p| p.value().as_str()).unwrap_or("");
    let mut map = serde_json::Map::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            RenderErrorReason::Other(format!("env_map: `{pair}` is not NAME=value"))
        })?;
        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    out.write(&serde_json::to_string(&Value::Object(map)).unwrap_or_default())?;
    Ok(())
}

pub fn register(hb: &mut Handlebars<'static>) {
    hb.register_helper("range", Box::new(Range));
    hb.register_helper("az_letter", Box::new(az_letter));
    hb.register_helper("add", Box::new(Arith("add", i64::checked_add)));
    hb.register_helper("mul", Box::new(Arith("mul", i64::checked_mul)));
    hb.register_helper("contains", Box::new(contains));
    hb.register_helper("concat", Box::new(concat));
    hb.register_helper("join", Box::new(join));
    hb.register_helper("before", Box::new(before));
    hb.register_helper("json", Box::new(json_helper));
    hb.register_helper("env_map", Box::new(env_map_helper));
    hb.register_helper("cidr_subnet", Box::new(CidrSubnet));
}

#[cfg(test)]
mod tests {
    use crate::template::{Renderer, TemplateSource};
    use serde_json::json;

    fn render(text: &str, data: serde_json::Value) -> String {
        let (r, errs) = Renderer::new(&[]);
        assert!(errs.is_empty());
        let body = TemplateSource {
            file: "t.yaml".into(),
            text: text.into(),
            first_line: 1,
        };
        let text = r.render(&body, &data).map_err(|e| e.message).unwrap().0;
        text.trim_end().to_string()
    }

    #[test]
    fn join_writes_a_list_as_one_text() {
        let data = json!({"l": ["email", "sms", 3]});
        assert_eq!(
            render("a: {{join l \" \"}}\n", data.clone()),
            "a: email sms 3"
        );
        assert_eq!(
            render(
                "e: {{env_map (concat \"C=\" (join l \"+\") \",D=x\")}}\n",
                data
            ),
            "e: {\"C\":\"email+sms+3\",\"D\":\"x\"}"
        );
    }

    #[test]
    fn before_cuts_at_the_first_separator() {
        let data = json!({"v": "14.9", "m": "16", "n": 15});
        assert_eq!(
            render("f: postgres{{before v \".\"}}\n", data.clone()),
            "f: postgres14"
        );
        assert_eq!(
            render("f: postgres{{before m \".\"}}\n", data.clone()),
            "f: postgres16"
        );
        assert_eq!(
            render("f: postgres{{before n \".\"}}\n", data.clone()),
            "f: postgres15"
        );
        assert_eq!(
            render("f: {{before \"a.b.c\" \".\"}}\n", data.clone()),
            "f: a"
        );
        assert_eq!(render("f: {{before \"a.b\" \"\"}}\n", data), "f: a.b");
    }
}
