//! lambda.permission: AddPermission with a statement id derived from the
//! stack and resource id, so a create cut off before its answer was saved is
//! found again in GetPolicy. Physical id: `<function>|<statement id>`.

use super::function_ref;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_lambda::types::FunctionUrlAuthType;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub function_name: String,
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_url_auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_via_function_url: Option<bool>,
}

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

/// The function and statement id: saved, else derived from the function
/// (the parent, named in the properties) and the stack and logical id, as
/// the create derived them. That is how a permission, which AWS cannot
/// tag, is found again after its state was lost or its create cut off.
fn ids_or_derived(id: &str, cur: &ResourceState, hint: Option<&Props>) -> Option<(String, String)> {
    ids(cur).or_else(|| {
        let function = hint?.function_name.clone();
        let stack = cur.tags.get("archform:stack")?;
        Some((function, statement_id(stack, id)))
    })
}

/// The statement's principal as the blueprint gives it: a service, `*`, or
/// an account, which AWS keeps as the account's root ARN.
fn principal(st: &Value, hint: Option<&Props>) -> String {
    let p = match &st["Principal"] {
        Value::Object(m) => m.values().next().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let p = p.as_str().unwrap_or_default();
    let account = p
        .strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":iam::"))
        .and_then(|(_, rest)| rest.strip_suffix(":root"));
    match (account, hint.map(|h| h.principal.as_str())) {
        (Some(_), Some(h)) if h == p => p.to_string(),
        (Some(account), _) => account.to_string(),
        (None, _) => p.to_string(),
    }
}

/// The properties the statement holds.
fn props_of(c: &Clients, st: &Value, function: &str, hint: Option<&Props>) -> Props {
    let cond = &st["Condition"];
    let text = |v: &Value| v.as_str().map(String::from);
    let mut function_url_auth_type = text(&cond["StringEquals"]["lambda:FunctionUrlAuthType"]);
    let mut invoked_via_function_url = match &cond["Bool"]["lambda:InvokedViaFunctionUrl"] {
        Value::String(s) => Some(s == "true"),
        v => v.as_bool(),
    };
    if c.emulator {
        // moto keeps both as fields of the statement itself rather than as
        // conditions.
        function_url_auth_type =
            function_url_auth_type.or_else(|| text(&st["FunctionUrlAuthType"]));
        invoked_via_function_url =
            invoked_via_function_url.or_else(|| st["InvokedViaFunctionUrl"].as_bool());
    }
    // AWS names the function by its ARN; the blueprint named it as it was
    // applied (also the first part of the physical id).
    let given = hint.map_or(function, |h| h.function_name.as_str());
    Props {
        function_name: match st["Resource"].as_str() {
            Some(arn) => function_ref(arn, Some(given)),
            None => given.to_string(),
        },
        principal: principal(st, hint),
        action: text(&st["Action"]),
        source_arn: text(&cond["ArnLike"]["AWS:SourceArn"]),
        source_account: text(&cond["StringEquals"]["AWS:SourceAccount"]),
        function_url_auth_type,
        invoked_via_function_url,
    }
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let function = p.function_name.as_str();
    let sid = statement_id(&r.stack, &r.id);
    if statement(c, function, &sid).await?.is_some() {
        return Ok(applied(function, &sid));
    }
    let out = c
        .lambda
        .add_permission()
        .function_name(function)
        .statement_id(&sid)
        .action(p.action.as_deref().unwrap_or("lambda:InvokeFunction"))
        .principal(&p.principal)
        .set_source_arn(p.source_arn.clone())
        .set_source_account(p.source_account.clone())
        .set_function_url_auth_type(
            p.function_url_auth_type
                .as_deref()
                .map(FunctionUrlAuthType::from),
        )
        .set_invoked_via_function_url(p.invoked_via_function_url)
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
    id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some((function, sid)) = ids_or_derived(id, cur, hint) else {
        return Ok(None);
    };
    let Some(st) = statement(c, &function, &sid).await? else {
        return Ok(None);
    };
    Ok(Some(Read {
        applied: applied(&function, &sid),
        props: props_of(c, &st, &function, hint),
    }))
}

pub(crate) async fn update(
    _c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    _changed: &[String],
) -> ProviderResult<Applied> {
    // Every property forces a replacement; nothing changes in place.
    match ids(cur) {
        Some((f, s)) => Ok(applied(&f, &s)),
        None => Ok(applied(&p.function_name, &statement_id(&r.stack, &r.id))),
    }
}

pub(crate) async fn delete(
    c: &Clients,
    id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some((function, sid)) = ids_or_derived(id, cur, hint) else {
        return Ok(());
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
