//! One client per AWS service, built once from one SdkConfig.

use aws_config::SdkConfig;

#[derive(Clone, Debug)]
pub struct Clients {
    pub region: Option<String>,
    /// The clients talk to an endpoint of the user's choosing (an emulator)
    /// rather than AWS's own: reads then take what was applied for the few
    /// properties known to be missing from emulators' answers (each named
    /// where it is read), instead of reporting them as drift.
    pub emulator: bool,
    pub apigw: aws_sdk_apigatewayv2::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub rds: aws_sdk_rds::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ses: aws_sdk_sesv2::Client,
    /// SES's first API: ListIdentities, which emulators have where they
    /// lack SES v2's ListEmailIdentities (the identities are the same).
    pub ses_v1: aws_sdk_ses::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        // Path-style S3 addressing: emulators on 127.0.0.1 have no
        // virtual-host DNS; real S3 accepts both.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Clients {
            region: config.region().map(|r| r.to_string()),
            emulator: config.endpoint_url().is_some(),
            apigw: aws_sdk_apigatewayv2::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            rds: aws_sdk_rds::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ses: aws_sdk_sesv2::Client::new(config),
            ses_v1: aws_sdk_ses::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
        }
    }
}
