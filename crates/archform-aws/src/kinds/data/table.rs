//! dynamodb.table: CreateTable (on-demand) with keys, GSIs, SSE and tags in
//! the one call; TTL and point-in-time recovery have no create-time
//! parameter, so they are set once the table is ACTIVE. GSIs change one per
//! UpdateTable call (DynamoDB refuses more), waiting for ACTIVE in between.

use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate,
    IndexStatus, KeySchemaElement, KeyType, PointInTimeRecoverySpecification,
    PointInTimeRecoveryStatus, Projection, ProjectionType, ScalarAttributeType, SseSpecification,
    SseStatus, SseType, TableDescription, TableStatus, Tag, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::time::Duration;

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

/// A key attribute: `(name, type)`.
type Key = (String, String);

/// `{name, type}` of a key property.
fn key(v: Option<&Value>) -> Option<(String, String)> {
    let v = v?;
    Some((
        v.get("name")?.as_str()?.to_string(),
        v.get("type")?.as_str()?.to_string(),
    ))
}

fn schema(
    pk: &(String, String),
    sk: Option<&(String, String)>,
) -> ProviderResult<Vec<KeySchemaElement>> {
    let mut out = vec![
        KeySchemaElement::builder()
            .attribute_name(&pk.0)
            .key_type(KeyType::Hash)
            .build()
            .map_err(invalid)?,
    ];
    if let Some(sk) = sk {
        out.push(
            KeySchemaElement::builder()
                .attribute_name(&sk.0)
                .key_type(KeyType::Range)
                .build()
                .map_err(invalid)?,
        );
    }
    Ok(out)
}

struct Gsi {
    name: String,
    pk: (String, String),
    sk: Option<(String, String)>,
    projection: String,
}

fn gsis(r: &Resolved) -> Vec<Gsi> {
    r.prop("global_secondary_indexes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    Some(Gsi {
                        name: g.get("name")?.as_str()?.to_string(),
                        pk: key(g.get("partition_key"))?,
                        sk: key(g.get("sort_key")),
                        projection: g
                            .get("projection")
                            .and_then(Value::as_str)
                            .unwrap_or("ALL")
                            .to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn projection(p: &str) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(p))
        .build()
}

/// Attribute definitions of every key the table and the given indexes use,
/// each name once (a name shared by two keys is defined once).
fn definitions(keys: &[&(String, String)]) -> ProviderResult<Vec<AttributeDefinition>> {
    let mut seen: IndexMap<&str, &str> = IndexMap::new();
    for (n, t) in keys {
        if let Some(prev) = seen.insert(n.as_str(), t.as_str())
            && prev != t.as_str()
        {
            return Err(ProviderError::Invalid(format!(
                "key attribute `{n}` is declared as both {prev} and {t}"
            )));
        }
    }
    seen.iter()
        .map(|(n, t)| {
            AttributeDefinition::builder()
                .attribute_name(*n)
                .attribute_type(ScalarAttributeType::from(*t))
                .build()
                .map_err(invalid)
        })
        .collect()
}

fn table_keys(r: &Resolved) -> ProviderResult<(Key, Option<Key>)> {
    let pk = key(r.prop("partition_key"))
        .ok_or_else(|| ProviderError::Invalid("partition_key needs name and type".into()))?;
    Ok((pk, key(r.prop("sort_key"))))
}

fn all_definitions(r: &Resolved, only: Option<&Gsi>) -> ProviderResult<Vec<AttributeDefinition>> {
    let (pk, sk) = table_keys(r)?;
    let gs = gsis(r);
    let mut keys: Vec<&(String, String)> = vec![&pk];
    keys.extend(sk.as_ref());
    match only {
        Some(g) => {
            keys.push(&g.pk);
            keys.extend(g.sk.as_ref());
        }
        None => {
            for g in &gs {
                keys.push(&g.pk);
                keys.extend(g.sk.as_ref());
            }
        }
    }
    definitions(&keys)
}

fn sse(r: &Resolved) -> SseSpecification {
    let on = r.bool("sse_enabled").unwrap_or(false);
    let b = SseSpecification::builder().enabled(on);
    if on {
        b.sse_type(SseType::Kms)
            .set_kms_master_key_id(r.str("kms_key_id").map(String::from))
            .build()
    } else {
        b.build()
    }
}

fn name_of(cur: &ResourceState) -> Option<String> {
    cur.physical_id
        .clone()
        .or_else(|| cur.physical_name.clone())
}

fn applied(t: &TableDescription) -> Applied {
    let name = t.table_name().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert("arn".into(), Value::from(t.table_arn().unwrap_or_default()));
    attributes.insert("name".into(), Value::from(name.clone()));
    Applied {
        physical_id: name,
        attributes,
    }
}

async fn describe(c: &Clients, name: &str) -> ProviderResult<Option<TableDescription>> {
    match c.dynamodb.describe_table().table_name(name).send().await {
        Ok(o) => Ok(o.table().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("dynamodb:DescribeTable", e)),
    }
}

/// Waits until the table and all its indexes are ACTIVE (the next control
/// call on the table is refused before that).
async fn wait_active(c: &Clients, name: &str) -> ProviderResult<TableDescription> {
    crate::wait::until(
        &format!("DynamoDB table {name} to be ACTIVE"),
        Duration::from_millis(500),
        Duration::from_secs(900),
        || async {
            let Some(t) = describe(c, name).await? else {
                return Err(ProviderError::failed(format!(
                    "DynamoDB table {name} disappeared while waiting"
                )));
            };
            let ready = t.table_status() == Some(&TableStatus::Active)
                && t.global_secondary_indexes()
                    .iter()
                    .all(|g| g.index_status() == Some(&IndexStatus::Active));
            Ok(ready.then_some(t))
        },
    )
    .await
}

async fn set_ttl(c: &Clients, name: &str, want: Option<&str>) -> ProviderResult<()> {
    let cur = c
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| error::aws("dynamodb:DescribeTimeToLive", e))?;
    let d = cur.time_to_live_description();
    let status = d.and_then(|d| d.time_to_live_status());
    let enabled = matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    let cur_attr = d.and_then(|d| d.attribute_name()).filter(|_| enabled);
    if cur_attr == want {
        return Ok(());
    }
    // Changing the attribute takes disable-then-enable.
    if let Some(old) = cur_attr {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(old)
            .enabled(false)
            .build()
            .map_err(invalid)?;
        c.dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTimeToLive", e))?;
    }
    if let Some(attr) = want {
        let spec = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()
            .map_err(invalid)?;
        c.dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTimeToLive", e))?;
    }
    Ok(())
}

async fn set_pitr(c: &Clients, name: &str, on: bool) -> ProviderResult<()> {
    let spec = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(on)
        .build()
        .map_err(invalid)?;
    c.dynamodb
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(spec)
        .send()
        .await
        .map_err(|e| error::aws("dynamodb:UpdateContinuousBackups", e))?;
    Ok(())
}

async fn pitr_enabled(c: &Clients, name: &str) -> ProviderResult<bool> {
    let out = c
        .dynamodb
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
        .map_err(|e| error::aws("dynamodb:DescribeContinuousBackups", e))?;
    Ok(out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        == Some(&PointInTimeRecoveryStatus::Enabled))
}

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let name = r
        .physical_name
        .clone()
        .ok_or_else(|| ProviderError::Invalid("dynamodb.table needs a physical name".into()))?;
    if describe(c, &name).await?.is_none() {
        let (pk, sk) = table_keys(r)?;
        let mut indexes = Vec::new();
        for g in gsis(r) {
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(&g.name)
                    .set_key_schema(Some(schema(&g.pk, g.sk.as_ref())?))
                    .projection(projection(&g.projection))
                    .build()
                    .map_err(invalid)?,
            );
        }
        let tags: Vec<Tag> = r
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(invalid))
            .collect::<ProviderResult<_>>()?;
        let mut req = c
            .dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(schema(&pk, sk.as_ref())?))
            .set_attribute_definitions(Some(all_definitions(r, None)?))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .set_tags((!tags.is_empty()).then_some(tags));
        if r.bool("sse_enabled").unwrap_or(false) {
            req = req.sse_specification(sse(r));
        }
        if let Some(dp) = r.bool("deletion_protection") {
            req = req.deletion_protection_enabled(dp);
        }
        match req.send().await {
            Ok(_) => {}
            // Created concurrently by an earlier, cut-off run: adopt it.
            Err(e) if error::code(&e) == Some("ResourceInUseException") => {}
            Err(e) => return Err(error::aws("dynamodb:CreateTable", e)),
        }
    }
    let t = wait_active(c, &name).await?;
    if let Some(attr) = r.str("ttl_attribute") {
        set_ttl(c, &name, Some(attr)).await?;
    }
    if r.bool("point_in_time_recovery").unwrap_or(false) {
        set_pitr(c, &name, true).await?;
    }
    Ok(applied(&t))
}

fn key_json(schema: &[KeySchemaElement], defs: &[AttributeDefinition], kt: KeyType) -> Value {
    schema
        .iter()
        .find(|k| k.key_type() == &kt)
        .map(|k| {
            let n = k.attribute_name();
            let t = defs
                .iter()
                .find(|d| d.attribute_name() == n)
                .map(|d| d.attribute_type().as_str().to_string())
                .unwrap_or_default();
            json!({ "name": n, "type": t })
        })
        .unwrap_or(Value::Null)
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(name) = name_of(cur) else {
        return Ok(None);
    };
    let Some(t) = describe(c, &name).await? else {
        return Ok(None);
    };
    let defs = t.attribute_definitions();
    let mut props = json!({
        "partition_key": key_json(t.key_schema(), defs, KeyType::Hash),
    });
    let sk = key_json(t.key_schema(), defs, KeyType::Range);
    if !sk.is_null() {
        props["sort_key"] = sk;
    }
    let gs: Vec<Value> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let mut v = json!({
                "name": g.index_name(),
                "partition_key": key_json(g.key_schema(), defs, KeyType::Hash),
            });
            let sk = key_json(g.key_schema(), defs, KeyType::Range);
            if !sk.is_null() {
                v["sort_key"] = sk;
            }
            if let Some(p) = g.projection().and_then(|p| p.projection_type()) {
                v["projection"] = Value::from(p.as_str());
            }
            v
        })
        .collect();
    if !gs.is_empty() {
        props["global_secondary_indexes"] = Value::from(gs);
    }
    let sse_on = t
        .sse_description()
        .and_then(|s| s.status())
        .is_some_and(|s| {
            matches!(
                s,
                SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating
            )
        });
    props["sse_enabled"] = Value::from(sse_on);
    if let Some(k) = t.sse_description().and_then(|s| s.kms_master_key_arn())
        && cur
            .properties
            .get("kms_key_id")
            .is_some_and(|v| !v.is_null())
    {
        props["kms_key_id"] = Value::from(k);
    }
    props["deletion_protection"] = Value::from(t.deletion_protection_enabled().unwrap_or(false));
    let ttl = c
        .dynamodb
        .describe_time_to_live()
        .table_name(&name)
        .send()
        .await
        .map_err(|e| error::aws("dynamodb:DescribeTimeToLive", e))?;
    if let Some(d) = ttl.time_to_live_description()
        && matches!(
            d.time_to_live_status(),
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        )
        && let Some(a) = d.attribute_name()
    {
        props["ttl_attribute"] = Value::from(a);
    }
    props["point_in_time_recovery"] = Value::from(pitr_enabled(c, &name).await?);
    Ok(Some(Observed {
        applied: applied(&t),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let name = name_of(cur)
        .or_else(|| r.physical_name.clone())
        .unwrap_or_default();
    let has = |p: &str| changed.iter().any(|c| c == p);
    let mut t = wait_active(c, &name).await?;
    if has("global_secondary_indexes") {
        let want = gsis(r);
        let have: Vec<String> = t
            .global_secondary_indexes()
            .iter()
            .filter_map(|g| g.index_name().map(String::from))
            .collect();
        // An index whose definition changed is dropped and added again.
        let old = cur
            .properties
            .get("global_secondary_indexes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new = r
            .prop("global_secondary_indexes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let changed_def = |n: &str| {
            let f = |a: &[Value]| {
                a.iter()
                    .find(|g| g.get("name").and_then(Value::as_str) == Some(n))
                    .cloned()
            };
            f(&old).is_some() && f(&old) != f(&new)
        };
        for n in &have {
            if !want.iter().any(|g| &g.name == n) || changed_def(n) {
                let del = DeleteGlobalSecondaryIndexAction::builder()
                    .index_name(n)
                    .build()
                    .map_err(invalid)?;
                c.dynamodb
                    .update_table()
                    .table_name(&name)
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().delete(del).build(),
                    )
                    .send()
                    .await
                    .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
                wait_gsi_gone(c, &name, n).await?;
            }
        }
        t = wait_active(c, &name).await?;
        for g in &want {
            if t.global_secondary_indexes()
                .iter()
                .any(|x| x.index_name() == Some(g.name.as_str()))
            {
                continue;
            }
            let add = CreateGlobalSecondaryIndexAction::builder()
                .index_name(&g.name)
                .set_key_schema(Some(schema(&g.pk, g.sk.as_ref())?))
                .projection(projection(&g.projection))
                .build()
                .map_err(invalid)?;
            c.dynamodb
                .update_table()
                .table_name(&name)
                .set_attribute_definitions(Some(all_definitions(r, Some(g))?))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(add).build(),
                )
                .send()
                .await
                .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
            t = wait_active(c, &name).await?;
        }
    }
    if has("sse_enabled") || has("kms_key_id") {
        c.dynamodb
            .update_table()
            .table_name(&name)
            .sse_specification(sse(r))
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
        t = wait_active(c, &name).await?;
    }
    if has("deletion_protection") {
        c.dynamodb
            .update_table()
            .table_name(&name)
            .deletion_protection_enabled(r.bool("deletion_protection").unwrap_or(false))
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
        t = wait_active(c, &name).await?;
    }
    if has("ttl_attribute") {
        set_ttl(c, &name, r.str("ttl_attribute")).await?;
    }
    if has("point_in_time_recovery") {
        set_pitr(c, &name, r.bool("point_in_time_recovery").unwrap_or(false)).await?;
    }
    if has("tags") {
        let arn = t.table_arn().unwrap_or_default().to_string();
        let gone: Vec<String> = cur
            .tags
            .keys()
            .filter(|k| !r.tags.contains_key(*k))
            .cloned()
            .collect();
        if !gone.is_empty() {
            c.dynamodb
                .untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(gone))
                .send()
                .await
                .map_err(|e| error::aws("dynamodb:UntagResource", e))?;
        }
        let tags: Vec<Tag> = r
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(invalid))
            .collect::<ProviderResult<_>>()?;
        if !tags.is_empty() {
            c.dynamodb
                .tag_resource()
                .resource_arn(&arn)
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| error::aws("dynamodb:TagResource", e))?;
        }
    }
    Ok(applied(&t))
}

async fn wait_gsi_gone(c: &Clients, name: &str, index: &str) -> ProviderResult<()> {
    crate::wait::until(
        &format!("index {index} of table {name} to be deleted"),
        Duration::from_millis(500),
        Duration::from_secs(900),
        || async {
            let t = describe(c, name).await?;
            let present = t.is_some_and(|t| {
                t.global_secondary_indexes()
                    .iter()
                    .any(|g| g.index_name() == Some(index))
            });
            Ok((!present).then_some(()))
        },
    )
    .await
}

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(name) = name_of(cur) else {
        return Ok(());
    };
    match c.dynamodb.delete_table().table_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("dynamodb:DeleteTable", e)),
    }
}
