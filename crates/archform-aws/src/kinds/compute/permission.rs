//! lambda.permission: AddPermission with a statement id derived from the
//! stack and resource id, so a create cut off before its answer was saved is
//! found again in GetPolicy. Physical id: `<function>|<statement id>`.

use crate::clients::Clients;
use crate::error;
use crate::kinds::security::managed;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use indexmap::IndexMap;
use serde_json::Value;

/// `<stack>-<id>` in the characters a statement id allows (`[A-Za-z0-9-_]`),
/// at most 100 characters (a hash keeps long ones distinct).
pub(crate) fn statement_id(stack: &str, id: &str) -> String {
    let raw = format!("{stack}-{id}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() <= 100 {
        return clean;
    }
    // FNV-1a: stable across builds and platforms.
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}-{hash:016x}", &clean[..83])
}

fn applied(function: &str, sid: &str) -> Applied {
    let id = format!("{function}|{sid}");
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id.clone()));
    Applied {
        physical_id: id,
        attributes,
    }
}

/// The statement with this sid in the function's resource policy; `None`
/// when the function or the statement does not exist.
async fn statement(c: &Clients, function: &str, sid: &str) -> ProviderResult<Option<Value>> {
    let out = match c.lambda.get_policy().function_name(function).send().await {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("lambda:GetPolicy", e)),
    };
    let doc: Value = out
        .policy()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        one => vec![one.clone()],
    };
    Ok(statements.into_iter().find(|s| s["Sid"] == sid))
}

fn ids(cur: &ResourceState) -> Option<(String, String)> {
    let id = cur.physical_id.as_deref()?;
    let (f, s) = id.rsplit_once('|')?;
    Some((f.to_string(), s.to_string()))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let function = r
        .str("function_name")
        .ok_or_else(|| ProviderError::Invalid(format!("{}: function_name is required", r.id)))?;
    let sid = statement_id(&r.stack, &r.id);
    if statement(c, function, &sid).await?.is_some() {
        return Ok(applied(function, &sid));
    }
    let out = c
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id(&sid)
        .action(r.str("action").unwrap_or("lambda:InvokeFunction"))
        .principal(r.str("principal").unwrap_or_default())
        .set_source_arn(r.str("source_arn").map(String::from))
        .set_source_account(r.str("source_account").map(String::from))
        .set_function_url_auth_type(
            r.str("function_url_auth_type")
                .map(FunctionUrlAuthType::from),
        )
        .set_invoked_via_function_url(r.bool("invoked_via_function_url"))
        .send()
        .await;
    match out {
        Ok(_) => Ok(applied(function, &sid)),
        // The statement appeared meanwhile (an earlier attempt's lost answer).
        Err(e)
            if error::code(&e) == Some("ResourceConflictException")
                && statement(c, function, &sid).await?.is_some() =>
        {
            Ok(applied(function, &sid))
        }
        Err(e) => Err(error::aws("lambda:AddPermission", e)),
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some((function, sid)) = ids(cur) else {
        return Ok(None);
    };
    let Some(st) = statement(c, &function, &sid).await? else {
        return Ok(None);
    };
    let mut props = serde_json::Map::new();
    props.insert(
        "function_name".into(),
        cur.properties["function_name"].clone(),
    );
    let principal = match &st["Principal"] {
        Value::Object(m) => m.values().next().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    props.insert("principal".into(), principal);
    props.insert("action".into(), st["Action"].clone());
    let cond = &st["Condition"];
    if let Some(v) = cond["ArnLike"]["AWS:SourceArn"].as_str() {
        props.insert("source_arn".into(), Value::from(v));
    }
    if let Some(v) = cond["StringEquals"]["AWS:SourceAccount"].as_str() {
        props.insert("source_account".into(), Value::from(v));
    }
    if let Some(v) = cond["StringEquals"]["lambda:FunctionUrlAuthType"].as_str() {
        props.insert("function_url_auth_type".into(), Value::from(v));
    }
    if let Some(v) = cond["Bool"]["lambda:InvokedViaFunctionUrl"].as_str() {
        props.insert("invoked_via_function_url".into(), Value::from(v == "true"));
    }
    if c.emulator {
        // moto drops both conditions from the statements it stores.
        for k in ["function_url_auth_type", "invoked_via_function_url"] {
            if let (false, Some(v)) = (props.contains_key(k), cur.properties.get(k)) {
                props.insert(k.into(), v.clone());
            }
        }
    }
    Ok(Some(Observed {
        applied: applied(&function, &sid),
        properties: managed(cur, props),
    }))
}

pub(crate) async fn update(
    _c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    _changed: &[String],
) -> ProviderResult<Applied> {
    // Every property forces a replacement; nothing changes in place.
    match ids(cur) {
        Some((f, s)) => Ok(applied(&f, &s)),
        None => Ok(applied(
            r.str("function_name").unwrap_or_default(),
            &statement_id(&r.stack, &r.id),
        )),
    }
}

pub(crate) async fn delete(c: &Clients, id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let (function, sid) = match ids(cur) {
        Some(x) => x,
        None => {
            let Some(f) = cur.properties["function_name"].as_str() else {
                return Ok(());
            };
            let stack = cur.tags.get("archform:stack").cloned().unwrap_or_default();
            (f.to_string(), statement_id(&stack, id))
        }
    };
    match c
        .lambda
        .remove_permission()
        .function_name(&function)
        .statement_id(&sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("lambda:RemovePermission", e)),
    }
}
