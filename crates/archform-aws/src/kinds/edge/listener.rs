//! elbv2.listener: CreateListener with its default action (and the stack's
//! tags, which the API accepts though CloudFormation does not). A listener
//! is identified by its load balancer and port, so a repeated create adopts
//! the listener already on that port.

use super::elb;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{Certificate, Listener, ProtocolEnum};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub load_balancer_arn: String,
    pub port: i64,
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    pub default_action: elb::Action,
}

fn applied(arn: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn));
    Applied {
        physical_id: arn.to_string(),
        attributes,
    }
}

fn arn_of(l: &Listener) -> String {
    l.listener_arn().unwrap_or_default().to_string()
}

async fn on_port(c: &Clients, lb: &str, port: i64) -> ProviderResult<Option<Listener>> {
    let mut pages = c
        .elb
        .describe_listeners()
        .load_balancer_arn(lb)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let out = match page {
            Ok(o) => o,
            Err(e) if error::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(error::aws("elasticloadbalancing:DescribeListeners", e)),
        };
        if let Some(l) = out
            .listeners()
            .iter()
            .find(|l| l.port().map(i64::from) == Some(port))
        {
            return Ok(Some(l.clone()));
        }
    }
    Ok(None)
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<Listener>> {
    match c.elb.describe_listeners().listener_arns(arn).send().await {
        Ok(o) => Ok(o.listeners().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeListeners", e)),
    }
}

async fn find(
    c: &Clients,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Listener>> {
    if let Some(arn) = &cur.physical_id {
        return by_arn(c, arn).await;
    }
    match hint {
        Some(h) => on_port(c, &h.load_balancer_arn, h.port).await,
        None => Ok(None),
    }
}

fn port(p: &Props) -> ProviderResult<i32> {
    i32::try_from(p.port)
        .map_err(|_| ProviderError::Invalid(format!("port {} is out of range", p.port)))
}

fn certificates(p: &Props) -> Option<Vec<Certificate>> {
    p.certificate_arn
        .as_ref()
        .map(|a| vec![Certificate::builder().certificate_arn(a).build()])
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let port = port(p)?;
    if let Some(l) = on_port(c, &p.load_balancer_arn, port.into()).await? {
        return Ok(applied(&arn_of(&l)));
    }
    let out = c
        .elb
        .create_listener()
        .load_balancer_arn(&p.load_balancer_arn)
        .port(port)
        .protocol(ProtocolEnum::from(p.protocol.as_str()))
        .set_certificates(certificates(p))
        .set_ssl_policy(p.ssl_policy.clone())
        .default_actions(elb::action(&p.default_action)?)
        .set_tags(elb::tags(&r.tags))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:CreateListener", e))?;
    let l = out
        .listeners()
        .first()
        .ok_or_else(|| ProviderError::failed("CreateListener answered without a listener"))?;
    Ok(applied(&arn_of(l)))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(l) = find(c, cur, hint).await? else {
        return Ok(None);
    };
    let props = Props {
        load_balancer_arn: l.load_balancer_arn().unwrap_or_default().to_string(),
        port: l.port().map(i64::from).unwrap_or_default(),
        protocol: l
            .protocol()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        // DescribeListeners gives the default certificate only.
        certificate_arn: l
            .certificates()
            .first()
            .and_then(|c| c.certificate_arn())
            .map(String::from),
        // AWS names a policy for HTTP listeners too (emulators) and the
        // default one for an HTTPS listener created without one: only the
        // policy of an HTTPS listener whose blueprint chose one is compared.
        ssl_policy: l
            .ssl_policy()
            .filter(|_| l.protocol() == Some(&ProtocolEnum::Https))
            .filter(|_| hint.is_none_or(|h| h.ssl_policy.is_some()))
            .map(String::from),
        default_action: elb::first_action(l.default_actions()),
    };
    Ok(Some(Read {
        applied: applied(&arn_of(&l)),
        props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let old = crate::kinds::hint::<Props>(cur);
    let arn = match find(c, cur, old.as_ref()).await? {
        Some(l) => arn_of(&l),
        None => return Err(ProviderError::failed("the listener no longer exists")),
    };
    let has = |p: &str| changed.iter().any(|c| c == p);
    if [
        "port",
        "protocol",
        "certificate_arn",
        "ssl_policy",
        "default_action",
    ]
    .iter()
    .any(|p| has(p))
    {
        c.elb
            .modify_listener()
            .listener_arn(&arn)
            .port(port(p)?)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .set_certificates(certificates(p))
            .set_ssl_policy(p.ssl_policy.clone())
            .default_actions(elb::action(&p.default_action)?)
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyListener", e))?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &arn, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&arn))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(l) = find(c, cur, hint).await? else {
        return Ok(());
    };
    let arn = arn_of(&l);
    match c.elb.delete_listener().listener_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeleteListener", e)),
    }
}
