//! elbv2.listener: CreateListener with its default action (and the stack's
//! tags, which the API accepts though CloudFormation does not). A listener
//! is identified by its load balancer and port, so a repeated create adopts
//! the listener already on that port.

use super::elb;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_elasticloadbalancingv2::types::{Certificate, Listener, ProtocolEnum};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(l: &Listener) -> Applied {
    let arn = l.listener_arn().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    Applied {
        physical_id: arn,
        attributes,
    }
}

async fn on_port(c: &Clients, lb: &str, port: i64) -> ProviderResult<Option<Listener>> {
    let out = match c
        .elb
        .describe_listeners()
        .load_balancer_arn(lb)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) if error::is_not_found(&e) => return Ok(None),
        Err(e) => return Err(error::aws("elasticloadbalancing:DescribeListeners", e)),
    };
    Ok(out
        .listeners()
        .iter()
        .find(|l| l.port().map(i64::from) == Some(port))
        .cloned())
}

async fn by_arn(c: &Clients, arn: &str) -> ProviderResult<Option<Listener>> {
    match c.elb.describe_listeners().listener_arns(arn).send().await {
        Ok(o) => Ok(o.listeners().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("elasticloadbalancing:DescribeListeners", e)),
    }
}

async fn find(c: &Clients, cur: &ResourceState) -> ProviderResult<Option<Listener>> {
    if let Some(arn) = &cur.physical_id {
        return by_arn(c, arn).await;
    }
    let p = &cur.properties;
    match (
        p.get("load_balancer_arn").and_then(Value::as_str),
        p.get("port").and_then(Value::as_i64),
    ) {
        (Some(lb), Some(port)) => on_port(c, lb, port).await,
        _ => Ok(None),
    }
}

fn port(r: &Resolved) -> ProviderResult<i32> {
    r.int("port")
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| ProviderError::Invalid("port is required".into()))
}

fn certificates(r: &Resolved) -> Option<Vec<Certificate>> {
    r.str("certificate_arn")
        .map(|a| vec![Certificate::builder().certificate_arn(a).build()])
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let lb = r
        .str("load_balancer_arn")
        .ok_or_else(|| ProviderError::Invalid("load_balancer_arn is required".into()))?;
    let port = port(r)?;
    if let Some(l) = on_port(c, lb, port.into()).await? {
        return Ok(applied(&l));
    }
    let out = c
        .elb
        .create_listener()
        .load_balancer_arn(lb)
        .port(port)
        .protocol(ProtocolEnum::from(r.str("protocol").unwrap_or("HTTP")))
        .set_certificates(certificates(r))
        .default_actions(elb::action(r.prop("default_action"))?)
        .set_tags(elb::tags(&r.tags))
        .send()
        .await
        .map_err(|e| error::aws("elasticloadbalancing:CreateListener", e))?;
    let l = out
        .listeners()
        .first()
        .ok_or_else(|| ProviderError::failed("CreateListener answered without a listener"))?;
    Ok(applied(l))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(l) = find(c, cur).await? else {
        return Ok(None);
    };
    let mut props = json!({
        "load_balancer_arn": l.load_balancer_arn(),
        "port": l.port(),
        "protocol": l.protocol().map(|p| p.as_str()),
    });
    if let Some(cert) = l.certificates().first().and_then(|c| c.certificate_arn()) {
        props["certificate_arn"] = Value::from(cert);
    }
    if let Some(a) = l.default_actions().first() {
        props["default_action"] = elb::action_json(a);
    }
    Ok(Some(Observed {
        applied: applied(&l),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let arn = match find(c, cur).await? {
        Some(l) => applied(&l).physical_id,
        None => return Err(ProviderError::failed("the listener no longer exists")),
    };
    let has = |p: &str| changed.iter().any(|c| c == p);
    if ["port", "protocol", "certificate_arn", "default_action"]
        .iter()
        .any(|p| has(p))
    {
        c.elb
            .modify_listener()
            .listener_arn(&arn)
            .port(port(r)?)
            .protocol(ProtocolEnum::from(r.str("protocol").unwrap_or("HTTP")))
            .set_certificates(certificates(r))
            .default_actions(elb::action(r.prop("default_action"))?)
            .send()
            .await
            .map_err(|e| error::aws("elasticloadbalancing:ModifyListener", e))?;
    }
    if has("tags") {
        crate::retag::elbv2(c, &arn, &cur.tags, &r.tags).await?;
    }
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(arn.clone()));
    Ok(Applied {
        physical_id: arn,
        attributes,
    })
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(l) = find(c, cur).await? else {
        return Ok(());
    };
    let arn = applied(&l).physical_id;
    match c.elb.delete_listener().listener_arn(&arn).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("elasticloadbalancing:DeleteListener", e)),
    }
}
