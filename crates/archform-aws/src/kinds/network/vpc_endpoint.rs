//! ec2.vpc_endpoint: CreateVpcEndpoint with tags for
//! `com.amazonaws.<region>.<service>` (region from the client config).
//! Gateway endpoints sit on route tables; interface endpoints in subnets
//! with security groups and optional private DNS. Route tables, subnets,
//! groups and private DNS change in place (ModifyVpcEndpoint). Delete of an
//! interface endpoint waits until it is gone: its network interfaces keep
//! the subnets and security groups from being deleted until then.

use super::ec2_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::{ResourceType, VpcEndpoint, VpcEndpointType};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub vpc_id: String,
    /// The last part of `com.amazonaws.<region>.<service>`.
    pub service: String,
    /// Absent: Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dns_enabled: Option<bool>,
}

/// The ids of a list property; absent, none.
fn ids(v: &Option<Vec<String>>) -> Vec<String> {
    v.clone().unwrap_or_default()
}

const LIMIT: Duration = Duration::from_secs(10 * 60);

fn applied(id: &str) -> Applied {
    let mut attributes = IndexMap::new();
    attributes.insert("id".into(), Value::from(id));
    Applied {
        physical_id: id.to_string(),
        attributes,
    }
}

/// The endpoint's state in lower case: the API answers `available`,
/// `deleted`, ... while the SDK's enum spells them capitalised.
fn state(e: &VpcEndpoint) -> String {
    e.state()
        .map(|s| s.as_str().to_ascii_lowercase())
        .unwrap_or_default()
}

fn live(e: &VpcEndpoint) -> bool {
    !matches!(
        state(e).as_str(),
        "deleted" | "deleting" | "failed" | "rejected" | "expired"
    )
}

fn endpoint_not_found(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("InvalidVpcEndpointId") && c.ends_with("NotFound"))
}

fn is_interface(e: &VpcEndpoint) -> bool {
    e.vpc_endpoint_type() == Some(&VpcEndpointType::Interface)
}

fn service_name(c: &Clients, service: &str) -> ProviderResult<String> {
    let region = c.region.as_deref().ok_or_else(|| {
        ProviderError::Invalid(
            "no AWS region configured for the VPC endpoint's service name".into(),
        )
    })?;
    Ok(format!("com.amazonaws.{region}.{service}"))
}

async fn find(c: &Clients, tags: &IndexMap<String, String>) -> ProviderResult<Option<VpcEndpoint>> {
    let out = c
        .ec2
        .describe_vpc_endpoints()
        .set_filters(Some(ec2_tags::identity_filters(tags)))
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeVpcEndpoints", e))?;
    Ok(out
        .vpc_endpoints()
        .iter()
        .find(|e| live(e) && ec2_tags::is_ours(e.tags(), tags))
        .cloned())
}

/// The endpoint in whatever state it is; `None` when AWS no longer knows it.
async fn describe(c: &Clients, id: &str) -> ProviderResult<Option<VpcEndpoint>> {
    match c
        .ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.vpc_endpoints().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("ec2:DescribeVpcEndpoints", e)),
    }
}

fn groups(e: &VpcEndpoint) -> Vec<String> {
    e.groups()
        .iter()
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect()
}

/// (to add, to remove) to go from `have` to `want`.
fn diff(have: &[String], want: &[String]) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let add: Vec<String> = want.iter().filter(|w| !have.contains(w)).cloned().collect();
    let remove: Vec<String> = have.iter().filter(|h| !want.contains(h)).cloned().collect();
    (
        (!add.is_empty()).then_some(add),
        (!remove.is_empty()).then_some(remove),
    )
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    if let Some(e) = find(c, &r.tags).await? {
        return Ok(applied(e.vpc_endpoint_id().unwrap_or_default()));
    }
    let interface = p.endpoint_type.as_deref() == Some("Interface");
    let mut req = c
        .ec2
        .create_vpc_endpoint()
        .vpc_id(&p.vpc_id)
        .service_name(service_name(c, &p.service)?)
        .vpc_endpoint_type(if interface {
            VpcEndpointType::Interface
        } else {
            VpcEndpointType::Gateway
        })
        .tag_specifications(ec2_tags::spec(ResourceType::VpcEndpoint, r));
    if interface {
        // No groups: AWS uses the VPC's default group; no private DNS
        // setting: AWS's default (on).
        req = req
            .set_subnet_ids(Some(ids(&p.subnet_ids)))
            .set_security_group_ids(Some(ids(&p.security_group_ids)).filter(|g| !g.is_empty()))
            .set_private_dns_enabled(p.private_dns_enabled);
    } else {
        req = req.set_route_table_ids(Some(ids(&p.route_table_ids)));
    }
    let out = req
        .send()
        .await
        .map_err(|e| error::aws("ec2:CreateVpcEndpoint", e))?;
    let id = out
        .vpc_endpoint()
        .and_then(|e| e.vpc_endpoint_id())
        .ok_or_else(|| {
            ProviderError::failed("ec2:CreateVpcEndpoint answered without an endpoint id")
        })?;
    Ok(applied(id))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let e = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?.filter(live),
        None => find(c, &cur.tags).await?,
    };
    let Some(e) = e else { return Ok(None) };
    let service = e.service_name().unwrap_or_default();
    let service = service.rsplit('.').next().unwrap_or(service);
    // Lists in the applied order when they hold the same ids; those that do
    // not apply to the endpoint's type are empty, as the blueprint leaves
    // them out.
    let props = Props {
        vpc_id: e.vpc_id().unwrap_or_default().to_string(),
        service: service.to_string(),
        endpoint_type: e.vpc_endpoint_type().map(|t| t.as_str().to_string()),
        route_table_ids: Some(super::same_elements(
            hint.and_then(|h| h.route_table_ids.as_ref()),
            e.route_table_ids().to_vec(),
        )),
        subnet_ids: Some(super::same_elements(
            hint.and_then(|h| h.subnet_ids.as_ref()),
            e.subnet_ids().to_vec(),
        )),
        security_group_ids: Some(super::same_elements(
            hint.and_then(|h| h.security_group_ids.as_ref()),
            groups(&e),
        )),
        // Private DNS is an interface endpoint's: AWS reports `false` for a
        // gateway endpoint, where the property does not apply.
        private_dns_enabled: if is_interface(&e) {
            e.private_dns_enabled()
        } else {
            None
        },
    };
    Ok(Some(Read {
        applied: applied(e.vpc_endpoint_id().unwrap_or_default()),
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
    if [
        "route_table_ids",
        "subnet_ids",
        "security_group_ids",
        "private_dns_enabled",
    ]
    .iter()
    .any(|p| has(p))
    {
        let e = describe(c, &id)
            .await?
            .filter(live)
            .ok_or_else(|| ProviderError::failed(format!("VPC endpoint {id} no longer exists")))?;
        let mut req = c.ec2.modify_vpc_endpoint().vpc_endpoint_id(&id);
        if has("route_table_ids") {
            let (add, remove) = diff(e.route_table_ids(), &ids(&p.route_table_ids));
            req = req
                .set_add_route_table_ids(add)
                .set_remove_route_table_ids(remove);
        }
        if has("subnet_ids") {
            let (add, remove) = diff(e.subnet_ids(), &ids(&p.subnet_ids));
            req = req.set_add_subnet_ids(add).set_remove_subnet_ids(remove);
        }
        if has("security_group_ids") {
            let (add, remove) = diff(&groups(&e), &ids(&p.security_group_ids));
            req = req
                .set_add_security_group_ids(add)
                .set_remove_security_group_ids(remove);
        }
        if has("private_dns_enabled") && is_interface(&e) {
            // Removed from the blueprint: back to AWS's default (on), which
            // is what the spec says leaving it out means.
            req = req.private_dns_enabled(p.private_dns_enabled.unwrap_or(true));
        }
        req.send()
            .await
            .map_err(|e| error::aws("ec2:ModifyVpcEndpoint", e))?;
    }
    if has("tags") {
        crate::retag::ec2(c, &id, &cur.tags, &r.tags).await?;
    }
    Ok(applied(&id))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let e = match cur.physical_id.as_deref() {
        Some(id) => describe(c, id).await?,
        None => find(c, &cur.tags).await?,
    };
    let Some(e) = e else { return Ok(()) };
    let id = e.vpc_endpoint_id().unwrap_or_default().to_string();
    if state(&e) == "deleted" {
        return Ok(());
    }
    if state(&e) != "deleting" {
        let out = match c
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(&id)
            .send()
            .await
        {
            Ok(o) => o,
            // The endpoint's own not-found only (InvalidVpcEndpointId.NotFound),
            // not a missing route or anything else the call trips over.
            Err(e) if endpoint_not_found(error::code(&e)) => return Ok(()),
            Err(e) => return Err(error::aws("ec2:DeleteVpcEndpoints", e)),
        };
        // Failures come back as items of a successful answer.
        if let Some(err) = out.unsuccessful().iter().find_map(|u| u.error()) {
            let code = err.code().unwrap_or_default();
            if !endpoint_not_found(Some(code)) {
                return Err(ProviderError::failed(format!(
                    "ec2:DeleteVpcEndpoints: {code}: {}",
                    err.message().unwrap_or_default()
                )));
            }
            return Ok(());
        }
    }
    if !is_interface(&e) {
        return Ok(());
    }
    let id = id.as_str();
    crate::wait::until(
        &format!("VPC endpoint {id} to be deleted"),
        Duration::from_secs(2),
        LIMIT,
        || async move {
            Ok(describe(c, id)
                .await?
                .filter(|e| state(e) != "deleted")
                .is_none()
                .then_some(()))
        },
    )
    .await
}
