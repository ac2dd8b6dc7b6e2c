//! Lambda's VPC network interfaces. A function in a VPC leaves
//! requester-managed `awslambda_` ENIs behind for a long while after its VPC
//! config is removed or it is deleted; until they are gone, DeleteSubnet and
//! DeleteSecurityGroup answer DependencyViolation. Destroy waits for them to
//! become `available` and deletes them, with bounded waiting.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::ProviderResult;
use aws_sdk_ec2::types::{Filter, NetworkInterface, NetworkInterfaceStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many times subnet and security group deletes retry after
/// DependencyViolation (each retry first releases Lambda ENIs).
pub(crate) const RETRIES: u32 = 4;

/// How long to wait for Lambda to release its ENIs.
const LIMIT: Duration = Duration::from_secs(20 * 60);

#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    Subnet(&'a str),
    SecurityGroup(&'a str),
}

/// True for an ENI that Lambda created and manages.
pub(crate) fn is_lambda(eni: &NetworkInterface) -> bool {
    let requester = eni.requester_id().unwrap_or_default();
    let description = eni.description().unwrap_or_default();
    let interface_type = eni.interface_type().map(|t| t.as_str()).unwrap_or_default();
    requester.contains("awslambda_")
        || interface_type == "lambda"
        || (eni.requester_managed().unwrap_or(false)
            && description.starts_with("AWS Lambda VPC ENI"))
}

async fn matching(
    c: &Clients,
    scope: Scope<'_>,
    pick: fn(&NetworkInterface) -> bool,
) -> ProviderResult<Vec<NetworkInterface>> {
    let filter = match scope {
        Scope::Subnet(id) => Filter::builder().name("subnet-id").values(id).build(),
        Scope::SecurityGroup(id) => Filter::builder().name("group-id").values(id).build(),
    };
    let mut found = Vec::new();
    let mut pages = c
        .ec2
        .describe_network_interfaces()
        .filters(filter)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| error::aws("ec2:DescribeNetworkInterfaces", e))?;
        found.extend(
            page.network_interfaces()
                .iter()
                .filter(|e| pick(e))
                .cloned(),
        );
    }
    Ok(found)
}

/// Waits (bounded) until no Lambda ENI is left in the subnet or security
/// group, deleting each one as soon as Lambda has released it (status
/// `available`). Returns the number of ENIs deleted. When none is there,
/// returns at once after a short pause, so the caller's retry of its own
/// delete covers AWS's eventual consistency.
pub(crate) async fn release(c: &Clients, scope: Scope<'_>) -> ProviderResult<usize> {
    release_matching(c, scope, is_lambda).await
}

/// [`release`] for the ENIs `pick` selects.
async fn release_matching(
    c: &Clients,
    scope: Scope<'_>,
    pick: fn(&NetworkInterface) -> bool,
) -> ProviderResult<usize> {
    let deleted = AtomicUsize::new(0);
    let polls = AtomicUsize::new(0);
    let what = match scope {
        Scope::Subnet(id) => format!("Lambda ENIs in subnet {id} to be released"),
        Scope::SecurityGroup(id) => format!("Lambda ENIs of security group {id} to be released"),
    };
    crate::wait::until(&what, Duration::from_secs(2), LIMIT, || {
        let was_first = polls.fetch_add(1, Ordering::Relaxed) == 0;
        let deleted = &deleted;
        async move {
            let enis = matching(c, scope, pick).await?;
            if enis.is_empty() {
                if was_first {
                    // Nothing of Lambda's: the dependency is something else
                    // or AWS has not caught up yet.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                return Ok(Some(()));
            }
            for eni in enis {
                if eni.status() != Some(&NetworkInterfaceStatus::Available) {
                    continue;
                }
                let id = eni.network_interface_id().unwrap_or_default();
                match c
                    .ec2
                    .delete_network_interface()
                    .network_interface_id(id)
                    .send()
                    .await
                {
                    Ok(_) => {
                        deleted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if error::is_not_found(&e) => {}
                    // Still held (Lambda is detaching it): try again next poll.
                    Err(e) if error::code(&e) == Some("InvalidNetworkInterface.InUse") => {}
                    Err(e) => return Err(error::aws("ec2:DeleteNetworkInterface", e)),
                }
            }
            Ok(None)
        }
    })
    .await?;
    Ok(deleted.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::NetworkInterfaceType;

    fn eni(
        requester: &str,
        description: &str,
        managed: bool,
        kind: NetworkInterfaceType,
    ) -> NetworkInterface {
        NetworkInterface::builder()
            .requester_id(requester)
            .description(description)
            .requester_managed(managed)
            .interface_type(kind)
            .build()
    }

    #[test]
    fn recognises_lambda_enis_only() {
        use NetworkInterfaceType as T;
        assert!(is_lambda(&eni(
            "AROAEXAMPLE:awslambda_123",
            "",
            true,
            T::Interface
        )));
        assert!(is_lambda(&eni("", "", true, T::Lambda)));
        assert!(is_lambda(&eni(
            "",
            "AWS Lambda VPC ENI-fn-1234",
            true,
            T::Interface
        )));
        // Someone's own ENI with a look-alike description is left alone.
        assert!(!is_lambda(&eni(
            "AIDAEXAMPLE",
            "AWS Lambda VPC ENI-fn-1234",
            false,
            T::Interface
        )));
        assert!(!is_lambda(&eni(
            "amazon-elb",
            "ELB app/x",
            true,
            T::Interface
        )));
    }

    /// Against the emulator: the released ENIs are exactly the selected ones
    /// (moto cannot make Lambda ENIs, so selection is by description here).
    #[tokio::test]
    async fn deletes_selected_available_enis_and_nothing_else() {
        let endpoint = archform_testkit::test_endpoint();
        let config = archform_testkit::sdk_config(&endpoint).await;
        let c = Clients::new(&config);
        let vpc = c
            .ec2
            .create_vpc()
            .cidr_block("10.47.0.0/16")
            .send()
            .await
            .unwrap();
        let vpc = vpc.vpc().unwrap().vpc_id().unwrap();
        let sub = c
            .ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block("10.47.0.0/24")
            .send()
            .await
            .unwrap();
        let sub = sub.subnet().unwrap().subnet_id().unwrap();
        let mut ids = vec![];
        for d in [
            "archform-test-lambda-1",
            "archform-test-lambda-2",
            "someone-else",
        ] {
            let e = c
                .ec2
                .create_network_interface()
                .subnet_id(sub)
                .description(d)
                .send()
                .await
                .unwrap();
            ids.push(
                e.network_interface()
                    .unwrap()
                    .network_interface_id()
                    .unwrap()
                    .to_string(),
            );
        }
        let pick: fn(&NetworkInterface) -> bool = |e| {
            e.description()
                .unwrap_or_default()
                .starts_with("archform-test-lambda")
        };
        let n = release_matching(&c, Scope::Subnet(sub), pick)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let left = c
            .ec2
            .describe_network_interfaces()
            .filters(Filter::builder().name("subnet-id").values(sub).build())
            .send()
            .await
            .unwrap();
        let left: Vec<_> = left
            .network_interfaces()
            .iter()
            .filter_map(|e| e.network_interface_id())
            .collect();
        assert_eq!(left, vec![ids[2].as_str()]);
        // Nothing of Lambda's: returns at once.
        assert_eq!(release(&c, Scope::Subnet(sub)).await.unwrap(), 0);
        c.ec2
            .delete_network_interface()
            .network_interface_id(&ids[2])
            .send()
            .await
            .unwrap();
        c.ec2.delete_subnet().subnet_id(sub).send().await.unwrap();
        c.ec2.delete_vpc().vpc_id(vpc).send().await.unwrap();
    }
}
