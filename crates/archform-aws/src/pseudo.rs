//! The `aws` pseudo-resource: region, account, partition and zones of the
//! target account.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{ProviderError, ProviderResult};
use indexmap::IndexMap;
use serde_json::Value;

pub(crate) async fn read(c: &Clients) -> ProviderResult<IndexMap<String, Value>> {
    let region = c.region.clone().ok_or_else(|| {
        ProviderError::Invalid("no AWS region configured: pass --region or set AWS_REGION".into())
    })?;
    let identity = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| error::aws("sts:GetCallerIdentity", e))?;
    let (partition, suffix) = if region.starts_with("cn-") {
        ("aws-cn", "amazonaws.com.cn")
    } else if region.starts_with("us-gov-") {
        ("aws-us-gov", "amazonaws.com")
    } else {
        ("aws", "amazonaws.com")
    };
    let zones = c
        .ec2
        .describe_availability_zones()
        .send()
        .await
        .map_err(|e| error::aws("ec2:DescribeAvailabilityZones", e))?;
    // Only zones every account can use, in name order, so az0..azN are stable.
    let mut names: Vec<String> = zones
        .availability_zones()
        .iter()
        .filter(|z| z.state().map(|s| s.as_str()) == Some("available"))
        .filter(|z| {
            z.opt_in_status()
                .is_none_or(|o| o.as_str() == "opt-in-not-required")
        })
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(String::from))
        .collect();
    names.sort();
    let mut out = IndexMap::new();
    out.insert("region".into(), Value::from(region));
    out.insert(
        "account_id".into(),
        Value::from(identity.account().unwrap_or_default()),
    );
    out.insert("partition".into(), Value::from(partition));
    out.insert("url_suffix".into(), Value::from(suffix));
    for (i, z) in names.iter().take(6).enumerate() {
        out.insert(format!("az{i}"), Value::from(z.clone()));
    }
    Ok(out)
}
