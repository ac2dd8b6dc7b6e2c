//! elbv2.listener_rule: CreateRule with path-pattern / http-method
//! conditions and one action. A rule is identified by its listener and
//! priority, so a repeated create adopts the rule already at that priority.

use super::elb;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{
    HttpRequestMethodConditionConfig, PathPatternConditionConfig, Rule, RuleCondition,
    RulePriorityPair,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub listener_arn: String,
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_patterns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_methods: Option<Vec<String>>,
    pub action: elb::Action,
}

fn applied(rule: &Rule) -> Applied {
    let arn = rule.rule_arn().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    Applied {
        physical_id: arn,
        attributes,
    }
}

/// The listener of a rule, from the rule's ARN:
/// `…:listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>` belongs to
/// `…:listener/app/<lb>/<lb id>/<listener id>`.
fn listener_of(rule_arn: &str) -> Option<String> {
    let (head, tail) = rule_arn.split_once(":listener-rule/")?;
    let (listener, _rule) = tail.rsplit_once('/')?;
    Some(format!("{head}:listener/{listener}"))
}

async fn at_priority(c: &Clients, listener: &str, priority: i64) -> ProviderResult<Option<Rule>> {
    let p = priority.to_string();
    let mut pages = c
        .elb
        .describe_rules()
        .listener_arn(listener)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let out = match page {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("elasticloadbalancing:DescribeRules", e)),
        };
        if let Some(r) = out
            .rules()
            .iter()
            .find(|r| r.priority() == Some(p.as_str()))
        {
            return Ok(Some(r.clone()));
        }
    }
    Ok(None)
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<Rule>> {
    match c.elb.describe_rules().rule_arns(arn).send().await {
        Ok(o) => Ok(o.rules().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeRules", e)),
    }
}

async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Rule>> {
    if let Some(arn) = &cur.physical_id {
        return by_arn(c, arn).await;
    }
    match hint {
        Some(h) => at_priority(c, &h.listener_arn, h.priority).await,
        None => Ok(None),
    }
}

fn conditions(p: &Props) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    if let Some(paths) = p.path_patterns.clone().filter(|v| !v.is_empty()) {
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
    if let Some(methods) = p.http_methods.clone().filter(|v| !v.is_empty()) {
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

fn priority(p: &Props) -> ProviderResult<i32> {
    i32::try_from(p.priority)
        .map_err(|_| ProviderError::Invalid(format!("priority {} is out of range", p.priority)))
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let prio = priority(p)?;
    if let Some(rule) = at_priority(c, &p.listener_arn, prio.into()).await? {
        return Ok(applied(&rule));
    }
    let out = c
        .elb
        .create_rule()
        .listener_arn(&p.listener_arn)
        .priority(prio)
        .set_conditions(Some(conditions(p)))
        .actions(elb::action(&p.action)?)
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
fn values(cond: &RuleCondition) -> Vec<&str> {
    let typed: Vec<&str> = match cond.field() {
        Some("path-pattern") => cond
            .path_pattern_config()
            .map(|p| p.values().iter().map(String::as_str).collect())
            .unwrap_or_default(),
        Some("http-request-method") => cond
            .http_request_method_config()
            .map(|p| p.values().iter().map(String::as_str).collect())
            .unwrap_or_default(),
        _ => vec![],
    };
    if typed.is_empty() {
        cond.values().iter().map(String::as_str).collect()
    } else {
        typed
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(rule) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let a = applied(&rule);
    // The values of the condition on `field`, in the applied order when
    // AWS holds the same ones.
    let condition = |field: &str, applied: Option<&Vec<String>>| {
        rule.conditions()
            .iter()
            .find(|c| c.field() == Some(field))
            .map(|c| elb::same_strs(applied.map(Vec::as_slice), values(c)))
    };
    let props = Props {
        listener_arn: listener_of(&a.physical_id).unwrap_or_default(),
        priority: rule
            .priority()
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or_default(),
        path_patterns: condition("path-pattern", hint.and_then(|h| h.path_patterns.as_ref())),
        http_methods: condition(
            "http-request-method",
            hint.and_then(|h| h.http_methods.as_ref()),
        ),
        action: elb::first_action(rule.actions()),
    };
    Ok(Some(Read { applied: a, props }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let old = crate::kinds::hint::<Props>(cur);
    let rule = find(c, cur, old.as_ref())
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
                    .priority(priority(p)?)
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
            .set_conditions(Some(conditions(p)))
            .actions(elb::action(&p.action)?)
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyRule", e))?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &a.physical_id, &cur.tags, &r.tags).await?;
    }
    Ok(a)
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(rule) = find(c, cur, hint).await? else {
        return Ok(());
    };
    let arn = applied(&rule).physical_id;
    match c.elb.delete_rule().rule_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeleteRule", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::listener_of;

    #[test]
    fn a_rule_arn_names_its_listener() {
        assert_eq!(
            listener_of(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
            )
            .as_deref(),
            Some(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
            )
        );
        assert_eq!(listener_of("not an arn"), None);
    }
}
