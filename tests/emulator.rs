//! The AWS SDK for Rust talks to the test emulator: the smallest end-to-end
//! check that the endpoint, credentials and region from archform-testkit work.
//!
//! Runs against `$ARCHFORM_TEST_ENDPOINT` when set (moto or LocalStack),
//! otherwise against a moto server this test process starts.

#[tokio::test]
async fn describe_vpcs_succeeds() {
    let endpoint = archform_testkit::test_endpoint();
    let backend = archform_testkit::endpoint_kind(&endpoint)
        .map_or_else(|| "unknown backend".to_owned(), |kind| kind.to_string());
    let config = archform_testkit::sdk_config(&endpoint).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);

    let output = ec2
        .describe_vpcs()
        .send()
        .await
        .unwrap_or_else(|err| panic!("DescribeVpcs against {endpoint} ({backend}): {err:?}"));

    let vpcs = output.vpcs();
    println!(
        "DescribeVpcs against {endpoint} ({backend}): {} VPC(s)",
        vpcs.len()
    );
    for vpc in vpcs {
        assert!(
            vpc.vpc_id().is_some_and(|id| id.starts_with("vpc-")),
            "{vpc:?}"
        );
    }
}
