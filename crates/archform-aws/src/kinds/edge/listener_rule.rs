//! elbv2.listener_rule: CreateRule with path-pattern / http-method
//! conditions and one action. A rule is identified by its listener and
//! priority, so a repeated create adopts the rule already at that priority.

use super::elb;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{
    HttpRequestMethodConditionConfig, PathPatternConditionConfig, Rule, RuleCondition,
    RulePriorityPair,
};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(rule: &Rule) -> Applied {
    let arn = rule.rule_arn().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    Applied {
        physical_id: arn,
        attributes,
    }
}

async fn at_priority(c: &Clients, listener: &str, priority: i64) -> ProviderResult<Option<Rule>> {
    let mut marker = None;
    loop {
        let out = match c
            .elb
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("elasticloadbalancing:DescribeRules", e)),
        };
        let p = priority.to_string();
        if let Some(r) = out
            .rules()
            .iter()
            .find(|r| r.priority() == Some(p.as_str()))
        {
            return Ok(Some(r.clone()));
        }
        match out.next_marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(None),
        }
    }
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<Rule>> {
    match c.elb.describe_rules().rule_arns(arn).send().await {
        Ok(o) => Ok(o.rules().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeRules", e)),
    }
}

async fn find(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<Rule>> {
    if let Some(arn) = &cur.physical_id {
        return by_arn(c, arn).await;
    }
    let p = &cur.properties;
    match (
        p.get("listener_arn").and_then(Value::as_str),
        p.get("priority").and_then(Value::as_i64),
    ) {
        (Some(l), Some(prio)) => at_priority(c, l, prio).await,
        _ => Ok(None),
    }
}

fn conditions(r: &Resolved) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    let paths = r.strs("path_patterns");
    if !paths.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(paths))
                        .build(),
                )
                .build(),
        );
    }
    let methods = r.strs("http_methods");
    if !methods.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("http-request-method")
                .http_request_method_config(
                    HttpRequestMethodConditionConfig::builder()
                        .set_values(Some(methods))
                        .build(),
                )
                .build(),
        );
    }
    out
}

fn priority(r: &Resolved) -> ProviderResult<i32> {
    r.int("priority")
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| ProviderError::Invalid("priority is required".into()))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let listener = r
        .str("listener_arn")
        .ok_or_else(|| ProviderError::Invalid("listener_arn is required".into()))?;
    let prio = priority(r)?;
    if let Some(rule) = at_priority(c, listener, prio.into()).await? {
        return Ok(applied(&rule));
    }
    let out = c
        .elb
        .create_rule()
        .listener_arn(listener)
        .priority(prio)
        .set_conditions(Some(conditions(r)))
        .actions(elb::action(r.prop("action"))?)
        .set_tags(elb::tags(&r.tags))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:CreateRule", e))?;
    let rule = out
        .rules()
        .first()
        .ok_or_else(|| ProviderError::failed("CreateRule answered without a rule"))?;
    Ok(applied(rule))
}

/// The values of a condition, from its typed config or the legacy `Values`.
fn values(cond: &RuleCondition) -> Vec<String> {
    let typed: Vec<String> = match cond.field() {
        Some("path-pattern") => cond
            .path_pattern_config()
            .map(|p| p.values().to_vec())
            .unwrap_or_default(),
        Some("http-request-method") => cond
            .http_request_method_config()
            .map(|p| p.values().to_vec())
            .unwrap_or_default(),
        _ => vec![],
    };
    if typed.is_empty() {
        cond.values().to_vec()
    } else {
        typed
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(rule) = find(c, cur).await? else {
        return Ok(None);
    };
    let mut props = json!({
        "priority": rule.priority().and_then(|p| p.parse::<i64>().ok()),
    });
    if let Some(l) = cur.properties.get("listener_arn") {
        props["listener_arn"] = l.clone();
    }
    for cond in rule.conditions() {
        match cond.field() {
            Some("path-pattern") => props["path_patterns"] = json!(values(cond)),
            Some("http-request-method") => props["http_methods"] = json!(values(cond)),
            _ => {}
        }
    }
    if let Some(a) = rule.actions().first() {
        props["action"] = elb::action_json(a);
    }
    Ok(Some(Observed {
        applied: applied(&rule),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let rule = find(c, cur)
        .await?
        .ok_or_else(|| ProviderError::failed("the listener rule no longer exists"))?;
    let a = applied(&rule);
    let has = |p: &str| changed.iter().any(|c| c == p);
    if has("priority") {
        c.elb
            .set_rule_priorities()
            .rule_priorities(
                RulePriorityPair::builder()
                    .rule_arn(&a.physical_id)
                    .priority(priority(r)?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:SetRulePriorities", e))?;
    }
    if has("path_patterns") || has("http_methods") || has("action") {
        c.elb
            .modify_rule()
            .rule_arn(&a.physical_id)
            .set_conditions(Some(conditions(r)))
            .actions(elb::action(r.prop("action"))?)
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyRule", e))?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &a.physical_id, &cur.tags, &r.tags).await?;
    }
    Ok(a)
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(rule) = find(c, cur).await? else {
        return Ok(());
    };
    let arn = applied(&rule).physical_id;
    match c.elb.delete_rule().rule_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeleteRule", e)),
    }
}
