//! ec2.security_group: CreateSecurityGroup (group name = the physical name)
//! with tags, then its rules. A rule is one source (a CIDR or another
//! group) for one protocol and port range; updates revoke the rules no
//! longer wanted and authorize the new ones. AWS gives every new group an
//! allow-all egress rule: egress is only managed when the `egress` property
//! is given (and put back to allow-all when the property is removed).
//! Delete cleans up Lambda's leftover ENIs when AWS answers
//! DependencyViolation.

use super::{ec2_tags, enis};
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair,
};
use indexmap::IndexMap;
use serde_json::{Value, json};

fn applied(g: &SecurityGroup) -> Applied {
    let id = g.group_id().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id.clone()));
    attributes.insert(
        "name".into(),
        Value::from(g.group_name().unwrap_or_default()),
    );
    Applied {
        physical_id: id,
        attributes,
    }
}

/// One rule: one protocol, port range and source.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    protocol: String,
    from: i32,
    to: i32,
    cidr: Option<String>,
    group: Option<String>,
    description: Option<String>,
}

impl Rule {
    fn from_json(v: &Value) -> Rule {
        let protocol = v["protocol"].as_str().unwrap_or("-1").to_string();
        let all = protocol == "-1";
        Rule {
            // All traffic has no ports; AWS reports none.
            from: if all {
                -1
            } else {
                v["from_port"].as_i64().unwrap_or(-1) as i32
            },
            to: if all {
                -1
            } else {
                v["to_port"].as_i64().unwrap_or(-1) as i32
            },
            protocol,
            cidr: v["cidr"].as_str().map(str::to_string),
            group: v["source_security_group_id"].as_str().map(str::to_string),
            description: v["description"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        }
    }

    fn json(&self) -> Value {
        let mut v =
            json!({ "protocol": self.protocol, "from_port": self.from, "to_port": self.to });
        if let Some(c) = &self.cidr {
            v["cidr"] = Value::from(c.as_str());
        }
        if let Some(g) = &self.group {
            v["source_security_group_id"] = Value::from(g.as_str());
        }
        if let Some(d) = &self.description {
            v["description"] = Value::from(d.as_str());
        }
        v
    }

    fn permission(&self) -> IpPermission {
        let mut p = IpPermission::builder().ip_protocol(&self.protocol);
        if self.protocol != "-1" {
            p = p.from_port(self.from).to_port(self.to);
        }
        if let Some(c) = &self.cidr {
            p = p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .set_description(self.description.clone())
                    .build(),
            );
        }
        if let Some(g) = &self.group {
            p = p.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(g)
                    .set_description(self.description.clone())
                    .build(),
            );
        }
        p.build()
    }
}

/// AWS's default egress rule of a new group.
fn allow_all() -> Rule {
    Rule {
        protocol: "-1".into(),
        from: -1,
        to: -1,
        cidr: Some("0.0.0.0/0".into()),
        group: None,
        description: None,
    }
}

fn rules(v: Option<&Value>) -> Vec<Rule> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().map(Rule::from_json).collect())
        .unwrap_or_default()
}

/// AWS's permissions flattened to one rule per source (IPv4 CIDRs and
/// groups; IPv6 and prefix-list sources are not archform's).
fn flatten(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let all = protocol == "-1";
        let from = if all { -1 } else { p.from_port().unwrap_or(-1) };
        let to = if all { -1 } else { p.to_port().unwrap_or(-1) };
        for r in p.ip_ranges() {
            out.push(Rule {
                protocol: protocol.clone(),
                from,
                to,
                cidr: r.cidr_ip().map(str::to_string),
                group: None,
                description: r
                    .description()
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            });
        }
        for g in p.user_id_group_pairs() {
            out.push(Rule {
                protocol: protocol.clone(),
                from,
                to,
                cidr: None,
                group: g.group_id().map(str::to_string),
                description: g
                    .description()
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            });
        }
    }
    out
}

async fn find(
    c: &Clients,
    r_name: Option<&str>,
    tags: &IndexMap<String, String>,
) -> ProviderResult<Option<SecurityGroup>> {
    let filters = match r_name {
        Some(n) => vec![Filter::builder().name("group-name").values(n).build()],
        None => ec2_tags::identity_filters(tags),
    };
    let out = c
        .ec2
        .describe_security_groups()
        .set_filters(Some(filters))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeSecurityGroups", e))?;
    // A name is unique per VPC: with a name, also require our tags, so a
    // same-named group of someone else in another VPC is never adopted.
    let stack = tags.get("archform:stack");
    let id = tags.get("archform:id");
    Ok(out
        .security_groups()
        .iter()
        .find(|g| {
            let has = |k: &str, v: Option<&String>| {
                v.is_none_or(|v| {
                    g.tags()
                        .iter()
                        .any(|t| t.key() == Some(k) && t.value() == Some(v.as_str()))
                })
            };
            has("archform:stack", stack) && has("archform:id", id)
        })
        .cloned())
}

async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<SecurityGroup>> {
    match c
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-id").values(id).build())
        .send()
        .await
    {
        Ok(o) => Ok(o.security_groups().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeSecurityGroups", e)),
    }
}

/// Revokes the rules of `have` not in `want`, then authorizes those of
/// `want` not in `have`.
async fn sync(
    c: &Clients,
    id: &str,
    egress: bool,
    have: &[Rule],
    want: &[Rule],
) -> ProviderResult<()> {
    let gone: Vec<IpPermission> = have
        .iter()
        .filter(|r| !want.contains(r))
        .map(Rule::permission)
        .collect();
    let new: Vec<IpPermission> = want
        .iter()
        .enumerate()
        .filter(|(i, r)| !have.contains(r) && !want[..*i].contains(r))
        .map(|(_, r)| r.permission())
        .collect();
    if !gone.is_empty() {
        let res = if egress {
            c.ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(gone))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("ec2:RevokeSecurityGroupEgress", e))
        } else {
            c.ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(gone))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("ec2:RevokeSecurityGroupIngress", e))
        };
        res?;
    }
    if !new.is_empty() {
        let res = if egress {
            c.ec2
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(new))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("ec2:AuthorizeSecurityGroupEgress", e))
        } else {
            c.ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(new))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error::aws("ec2:AuthorizeSecurityGroupIngress", e))
        };
        res?;
    }
    Ok(())
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = r.physical_name.as_deref().unwrap_or(r.id.as_str());
    let g = match find(c, Some(name), &r.tags).await? {
        Some(g) => g,
        None => {
            let id = c
                .ec2
                .create_security_group()
                .group_name(name)
                .description(r.str("description").unwrap_or_default())
                .vpc_id(r.str("vpc_id").unwrap_or_default())
                .tag_specifications(ec2_tags::spec(ResourceType::SecurityGroup, r))
                .send()
                .await
                .map_err(|e| error::aws("ec2:CreateSecurityGroup", e))?
                .group_id()
                .map(str::to_string)
                .ok_or_else(|| {
                    ProviderError::failed("ec2:CreateSecurityGroup answered without a group id")
                })?;
            describe(c, &id).await?.ok_or_else(|| {
                ProviderError::failed(format!("security group {id} not found after creation"))
            })?
        }
    };
    let id = g.group_id().unwrap_or_default();
    sync(
        c,
        id,
        false,
        &flatten(g.ip_permissions()),
        &rules(r.prop("ingress")),
    )
    .await?;
    if r.prop("egress").is_some() {
        sync(
            c,
            id,
            true,
            &flatten(g.ip_permissions_egress()),
            &rules(r.prop("egress")),
        )
        .await?;
    }
    Ok(applied(&g))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let g = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, cur.physical_name.as_deref(), &cur.tags).await?,
    };
    let Some(g) = g else { return Ok(None) };
    let canon = |v: &Value| Rule::from_json(v).json();
    let mut props = json!({
        "vpc_id": g.vpc_id(),
        "description": g.description(),
    });
    let ingress: Vec<Value> = flatten(g.ip_permissions()).iter().map(Rule::json).collect();
    props["ingress"] = crate::support::same_set_by(cur.properties.get("ingress"), ingress, canon);
    if cur.properties.get("egress").is_some_and(|v| !v.is_null()) {
        let egress: Vec<Value> = flatten(g.ip_permissions_egress())
            .iter()
            .map(Rule::json)
            .collect();
        props["egress"] = crate::support::same_set_by(cur.properties.get("egress"), egress, canon);
    }
    Ok(Some(Observed {
        applied: applied(&g),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let id = cur.physical_id.clone().unwrap_or_default();
    let has = |p: &str| changed.iter().any(|c| c == p);
    let g = describe(c, &id)
        .await?
        .ok_or_else(|| ProviderError::failed(format!("security group {id} no longer exists")))?;
    if has("ingress") {
        sync(
            c,
            &id,
            false,
            &flatten(g.ip_permissions()),
            &rules(r.prop("ingress")),
        )
        .await?;
    }
    if has("egress") {
        let want = match r.prop("egress") {
            Some(v) => rules(Some(v)),
            // No longer managed: back to AWS's default.
            None => vec![allow_all()],
        };
        sync(c, &id, true, &flatten(g.ip_permissions_egress()), &want).await?;
    }
    if has("tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&g))
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let id = match &cur.physical_id {
        Some(id) => id.clone(),
        None => match find(c, cur.physical_name.as_deref(), &cur.tags).await? {
            Some(g) => g.group_id().unwrap_or_default().to_string(),
            None => return Ok(()),
        },
    };
    let mut attempt = 0;
    loop {
        match c.ec2.delete_security_group().group_id(&id).send().await {
            Ok(_) => return Ok(()),
            Err(e) if error::is_not_found(&e) => return Ok(()),
            Err(e) if error::code(&e) == Some("DependencyViolation") && attempt < enis::RETRIES => {
                attempt += 1;
                enis::release(c, enis::Scope::SecurityGroup(&id)).await?;
            }
            Err(e) => return Err(error::aws("ec2:DeleteSecurityGroup", e)),
        }
    }
}
