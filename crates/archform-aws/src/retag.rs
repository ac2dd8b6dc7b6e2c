//! Bringing a resource's tags from what was applied to what is wanted: one
//! function per tagging API. Each removes the keys no longer wanted, then
//! sets every wanted tag (setting an unchanged tag is harmless and keeps one
//! call instead of a comparison that could race with other writers).

use crate::clients::Clients;
use crate::error::aws;
use archform_engine::provider::ProviderResult;
use indexmap::IndexMap;
use std::collections::HashMap;

pub(crate) type Tags = IndexMap<String, String>;

/// Keys of the old tags that the new tags no longer have.
pub(crate) fn removed(old: &Tags, new: &Tags) -> Vec<String> {
    old.keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect()
}

fn map(t: &Tags) -> HashMap<String, String> {
    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// EC2 (CreateTags / DeleteTags) by resource id.
pub(crate) async fn ec2(c: &Clients, id: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_ec2::types::Tag;
    let gone: Vec<Tag> = removed(old, new)
        .into_iter()
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !gone.is_empty() {
        c.ec2
            .delete_tags()
            .resources(id)
            .set_tags(Some(gone))
            .send()
            .await
            .map_err(|e| aws("ec2:DeleteTags", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        c.ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("ec2:CreateTags", e))?;
    }
    Ok(())
}

/// Lambda functions and event source mappings, by ARN.
pub(crate) async fn lambda(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.lambda
            .untag_resource()
            .resource(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("lambda:UntagResource", e))?;
    }
    if !new.is_empty() {
        c.lambda
            .tag_resource()
            .resource(arn)
            .set_tags(Some(map(new)))
            .send()
            .await
            .map_err(|e| aws("lambda:TagResource", e))?;
    }
    Ok(())
}

/// SQS queues, by URL.
pub(crate) async fn sqs(c: &Clients, url: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.sqs
            .untag_queue()
            .queue_url(url)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("sqs:UntagQueue", e))?;
    }
    if !new.is_empty() {
        c.sqs
            .tag_queue()
            .queue_url(url)
            .set_tags(Some(map(new)))
            .send()
            .await
            .map_err(|e| aws("sqs:TagQueue", e))?;
    }
    Ok(())
}

/// SNS topics, by ARN.
pub(crate) async fn sns(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_sns::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.sns
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("sns:UntagResource", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
        c.sns
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("sns:TagResource", e))?;
    }
    Ok(())
}

/// SES (v2) email identities, by ARN.
pub(crate) async fn ses(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_sesv2::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.ses
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("ses:UntagResource", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
        c.ses
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("ses:TagResource", e))?;
    }
    Ok(())
}

/// DynamoDB tables, by ARN.
pub(crate) async fn dynamodb(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_dynamodb::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.dynamodb
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("dynamodb:UntagResource", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
        c.dynamodb
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("dynamodb:TagResource", e))?;
    }
    Ok(())
}

/// CloudWatch Logs log groups, by ARN (without the trailing `:*`).
pub(crate) async fn logs(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.logs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("logs:UntagResource", e))?;
    }
    if !new.is_empty() {
        c.logs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(map(new)))
            .send()
            .await
            .map_err(|e| aws("logs:TagResource", e))?;
    }
    Ok(())
}

/// IAM roles, by name.
pub(crate) async fn iam_role(
    c: &Clients,
    name: &str,
    old: &Tags,
    new: &Tags,
) -> ProviderResult<()> {
    use aws_sdk_iam::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.iam
            .untag_role()
            .role_name(name)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("iam:UntagRole", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
        c.iam
            .tag_role()
            .role_name(name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("iam:TagRole", e))?;
    }
    Ok(())
}

/// Secrets Manager secrets, by ARN or name.
pub(crate) async fn secret(c: &Clients, id: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_secretsmanager::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.secrets
            .untag_resource()
            .secret_id(id)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("secretsmanager:UntagResource", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        c.secrets
            .tag_resource()
            .secret_id(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("secretsmanager:TagResource", e))?;
    }
    Ok(())
}

/// Elastic Load Balancing v2 (load balancers, target groups, listeners,
/// rules), by ARN.
pub(crate) async fn elbv2(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_elasticloadbalancingv2::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.elb
            .remove_tags()
            .resource_arns(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:RemoveTags", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        c.elb
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("elasticloadbalancing:AddTags", e))?;
    }
    Ok(())
}

/// API Gateway v2 (APIs, stages), by the ARN of their path.
pub(crate) async fn apigw(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.apigw
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("apigateway:UntagResource", e))?;
    }
    if !new.is_empty() {
        c.apigw
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(map(new)))
            .send()
            .await
            .map_err(|e| aws("apigateway:TagResource", e))?;
    }
    Ok(())
}

/// RDS (instances, subnet groups, parameter groups), by ARN.
pub(crate) async fn rds(c: &Clients, arn: &str, old: &Tags, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_rds::types::Tag;
    let gone = removed(old, new);
    if !gone.is_empty() {
        c.rds
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(gone))
            .send()
            .await
            .map_err(|e| aws("rds:RemoveTagsFromResource", e))?;
    }
    if !new.is_empty() {
        let tags = new
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        c.rds
            .add_tags_to_resource()
            .resource_name(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws("rds:AddTagsToResource", e))?;
    }
    Ok(())
}

/// S3 buckets: the tag set is replaced as a whole (PutBucketTagging), or
/// removed when no tag is wanted.
pub(crate) async fn s3(c: &Clients, bucket: &str, new: &Tags) -> ProviderResult<()> {
    use aws_sdk_s3::types::{Tag, Tagging};
    if new.is_empty() {
        return c
            .s3
            .delete_bucket_tagging()
            .bucket(bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws("s3:DeleteBucketTagging", e));
    }
    let set = new
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
    let tagging = Tagging::builder()
        .set_tag_set(Some(set))
        .build()
        .map_err(|e| archform_engine::provider::ProviderError::Invalid(e.to_string()))?;
    c.s3.put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws("s3:PutBucketTagging", e))
}
