//! ec2.security_group: CreateSecurityGroup (group name = the physical name)
//! with tags, then its rules. A rule is one source (a CIDR or another
//! group) for one protocol and port range; updates revoke the rules no
//! longer wanted and authorize the new ones. AWS gives every new group an
//! allow-all egress rule: egress is only managed when the `egress` property
//! is given (and put back to allow-all when the property is removed).
//! Reads report egress either way: left out, it is that allow-all rule, the
//! spec's default.
//! Delete cleans up Lambda's leftover ENIs when AWS answers
//! DependencyViolation.

use super::{ec2_tags, enis};
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub vpc_id: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<Rule>>,
    /// Absent: AWS's allow-all egress ([`allow_all`], the spec's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<Rule>>,
}

/// One rule: one protocol, port range and source (a CIDR or a group).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_security_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

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

impl Rule {
    /// The rule as AWS holds it: all traffic has no ports (AWS reports
    /// -1), an empty description is none.
    fn canonical(&self) -> Rule {
        let all = self.protocol == "-1";
        Rule {
            protocol: self.protocol.clone(),
            from_port: if all { -1 } else { self.from_port },
            to_port: if all { -1 } else { self.to_port },
            cidr: self.cidr.clone(),
            source_security_group_id: self.source_security_group_id.clone(),
            description: self.description.clone().filter(|d| !d.is_empty()),
        }
    }

    fn permission(&self) -> IpPermission {
        let mut p = IpPermission::builder().ip_protocol(&self.protocol);
        if self.protocol != "-1" {
            p = p.from_port(self.from_port).to_port(self.to_port);
        }
        if let Some(c) = &self.cidr {
            p = p.ip_ranges(
                IpRange::builder()
                    .cidr_ip(c)
                    .set_description(self.description.clone())
                    .build(),
            );
        }
        if let Some(g) = &self.source_security_group_id {
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

/// AWS's default egress rule of a new group (the spec's default of
/// `egress`).
fn allow_all() -> Rule {
    Rule {
        protocol: "-1".into(),
        from_port: -1,
        to_port: -1,
        cidr: Some("0.0.0.0/0".into()),
        source_security_group_id: None,
        description: None,
    }
}

/// The blueprint's rules in AWS's form.
fn rules(v: Option<&Vec<Rule>>) -> Vec<Rule> {
    v.map(|a| a.iter().map(Rule::canonical).collect())
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
                from_port: from,
                to_port: to,
                cidr: r.cidr_ip().map(str::to_string),
                source_security_group_id: None,
                description: r
                    .description()
                    .filter(|d| !d.is_empty())
                    .map(str::to_string),
            });
        }
        for g in p.user_id_group_pairs() {
            out.push(Rule {
                protocol: protocol.clone(),
                from_port: from,
                to_port: to,
                cidr: None,
                source_security_group_id: g.group_id().map(str::to_string),
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

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = r.physical_name.as_deref().unwrap_or(r.id.as_str());
    let g = match find(c, Some(name), &r.tags).await? {
        Some(g) => g,
        None => {
            let id = c
                .ec2
                .create_security_group()
                .group_name(name)
                .description(&p.description)
                .vpc_id(&p.vpc_id)
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
        &rules(p.ingress.as_ref()),
    )
    .await?;
    if p.egress.is_some() {
        sync(
            c,
            id,
            true,
            &flatten(g.ip_permissions_egress()),
            &rules(p.egress.as_ref()),
        )
        .await?;
    }
    Ok(applied(&g))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let g = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, cur.physical_name.as_deref(), &cur.tags).await?,
    };
    let Some(g) = g else { return Ok(None) };
    // The applied rules (in their order and form: ports of all-traffic
    // rules as written) when AWS holds the same ones. Egress is read
    // whether or not the blueprint manages it: left out, it is AWS's
    // allow-all rule, the spec's default.
    let props = Props {
        vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        description: g.description().unwrap_or_default().to_string(),
        ingress: Some(super::same_set(
            hint.and_then(|h| h.ingress.as_ref()),
            flatten(g.ip_permissions()),
            Rule::canonical,
        )),
        egress: Some(super::same_set(
            hint.and_then(|h| h.egress.as_ref()),
            flatten(g.ip_permissions_egress()),
            Rule::canonical,
        )),
    };
    Ok(Some(Read {
        applied: applied(&g),
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
            &rules(p.ingress.as_ref()),
        )
        .await?;
    }
    if has("egress") {
        let want = match &p.egress {
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

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
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
