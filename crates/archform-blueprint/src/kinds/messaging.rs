//! SQS and SNS kinds.

use super::*;

pub static QUEUE: KindSpec = KindSpec {
    name: "sqs.queue",
    summary: "An SQS standard queue, optionally with a dead-letter queue",
    cfn_type: "AWS::SQS::Queue",
    props: &[
        opt("visibility_timeout", int(0, 43200)).default_int(30),
        opt("message_retention_seconds", int(60, 1_209_600)).default_int(345_600),
        opt("delay_seconds", int(0, 900)).default_int(0),
        opt("receive_wait_time_seconds", int(0, 20)).default_int(0),
        // SQS encrypts new queues with SQS-managed keys unless told not to.
        opt("sqs_managed_sse", BOOL).default_bool(true),
        opt("kms_master_key_id", STR),
        opt(
            "redrive_policy",
            Ty::Obj(&[
                req("dead_letter_target_arn", STR),
                req("max_receive_count", int(1, 1000)),
            ]),
        ),
    ],
    attrs: &[
        attr("arn", CfnAttr::GetAtt("Arn")),
        attr("url", CfnAttr::Ref),
        attr("name", CfnAttr::GetAtt("QueueName")),
    ],
    naming: Some(naming(80, Charset::AlnumHyphenUnderscore, "QueueName")),
    tags: Tags::List,
    role: Role::Messaging,
};

pub static QUEUE_POLICY: KindSpec = KindSpec {
    name: "sqs.queue_policy",
    summary: "The access policy of a queue (for example: only this SNS topic may send)",
    cfn_type: "AWS::SQS::QueuePolicy",
    props: &[req("queue_url", STR).replace(), req("policy", Ty::Doc)],
    attrs: &[attr("id", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};

pub static TOPIC: KindSpec = KindSpec {
    name: "sns.topic",
    summary: "An SNS standard topic",
    cfn_type: "AWS::SNS::Topic",
    props: &[opt("kms_master_key_id", STR), opt("display_name", STR)],
    attrs: &[
        attr("arn", CfnAttr::Ref),
        attr("name", CfnAttr::GetAtt("TopicName")),
    ],
    naming: Some(naming(256, Charset::AlnumHyphenUnderscore, "TopicName")),
    tags: Tags::List,
    role: Role::Messaging,
};

pub static EMAIL_IDENTITY: KindSpec = KindSpec {
    name: "ses.email_identity",
    summary: "An SES sender identity (an email address or a domain) that mail is sent from",
    cfn_type: "AWS::SES::EmailIdentity",
    // The identity is its own name: an address (`noreply@example.com`) or a
    // domain (`example.com`). SES then verifies it: an address by a link
    // mailed to it, a domain by the DKIM records it asks for.
    props: &[req("email_identity", STR).replace()],
    attrs: &[
        attr("name", CfnAttr::Ref),
        // What `ses:SendEmail` is granted on.
        attr(
            "arn",
            CfnAttr::Sub(
                "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Self}",
            ),
        ),
    ],
    naming: None,
    tags: Tags::List,
    role: Role::Messaging,
};

pub static SUBSCRIPTION: KindSpec = KindSpec {
    name: "sns.subscription",
    summary: "An SNS subscription of a queue, with a filter policy and raw delivery",
    cfn_type: "AWS::SNS::Subscription",
    props: &[
        req("topic_arn", STR).replace(),
        req("protocol", Ty::Enum(&["sqs", "lambda", "https", "email"])).replace(),
        req("endpoint", STR).replace(),
        opt("filter_policy", Ty::Doc),
        // SNS reports a scope only with a filter policy: MessageAttributes
        // unless told otherwise.
        opt(
            "filter_policy_scope",
            Ty::Enum(&["MessageAttributes", "MessageBody"]),
        )
        .default_str("MessageAttributes"),
        opt("raw_message_delivery", BOOL).default_bool(false),
    ],
    attrs: &[attr("arn", CfnAttr::Ref)],
    naming: None,
    tags: Tags::Untaggable,
    role: Role::Wiring,
};
