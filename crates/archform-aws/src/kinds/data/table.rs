//! dynamodb.table: CreateTable (on-demand) with keys, GSIs, SSE and tags in
//! the one call; TTL and point-in-time recovery have no create-time
//! parameter, so they are set once the table is ACTIVE. GSIs change one per
//! UpdateTable call (DynamoDB refuses more), waiting for ACTIVE in between.

use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{key_form, same_set_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub partition_key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_secondary_indexes: Option<Vec<Gsi>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_attribute: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,
}

/// A key attribute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Key {
    pub name: String,
    pub r#type: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Gsi {
    pub name: String,
    pub partition_key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_key: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
}

/// What an index's projection is when the blueprint leaves it out.
const DEFAULT_PROJECTION: &str = "ALL";

impl Gsi {
    fn projection(&self) -> &str {
        self.projection.as_deref().unwrap_or(DEFAULT_PROJECTION)
    }

    /// The index with its projection spelt out: how DynamoDB reports it.
    fn explicit(&self) -> Gsi {
        Gsi {
            projection: Some(self.projection().to_string()),
            ..self.clone()
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(e.to_string())
}

fn schema(pk: &Key, sk: Option<&Key>) -> ProviderResult<Vec<KeySchemaElement>> {
    let mut out = vec![
        KeySchemaElement::builder()
            .attribute_name(&pk.name)
            .key_type(KeyType::Hash)
            .build()
            .map_err(invalid)?,
    ];
    if let Some(sk) = sk {
        out.push(
            KeySchemaElement::builder()
                .attribute_name(&sk.name)
                .key_type(KeyType::Range)
                .build()
                .map_err(invalid)?,
        );
    }
    Ok(out)
}

fn gsis(p: &Props) -> &[Gsi] {
    p.global_secondary_indexes.as_deref().unwrap_or_default()
}

fn projection(p: &str) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(p))
        .build()
}

/// Attribute definitions of every key the table and the given indexes use,
/// each name once (a name shared by two keys is defined once).
fn definitions(keys: &[&Key]) -> ProviderResult<Vec<AttributeDefinition>> {
    let mut seen: IndexMap<&str, &str> = IndexMap::new();
    for k in keys {
        if let Some(prev) = seen.insert(k.name.as_str(), k.r#type.as_str())
            && prev != k.r#type
        {
            return Err(ProviderError::Invalid(format!(
                "key attribute `{}` is declared as both {prev} and {}",
                k.name, k.r#type
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

/// Attribute definitions of the table's keys and of `indexes`' keys.
fn all_definitions<'a>(
    p: &'a Props,
    indexes: impl IntoIterator<Item = &'a Gsi>,
) -> ProviderResult<Vec<AttributeDefinition>> {
    let mut keys: Vec<&Key> = vec![&p.partition_key];
    keys.extend(p.sort_key.as_ref());
    for g in indexes {
        keys.push(&g.partition_key);
        keys.extend(g.sort_key.as_ref());
    }
    definitions(&keys)
}

fn sse(p: &Props) -> SseSpecification {
    let on = p.sse_enabled.unwrap_or(false);
    let b = SseSpecification::builder().enabled(on);
    if on {
        b.sse_type(SseType::Kms)
            .set_kms_master_key_id(p.kms_key_id.clone())
            .build()
    } else {
        b.build()
    }
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

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let name = r
        .physical_name
        .clone()
        .ok_or_else(|| ProviderError::Invalid("dynamodb.table needs a physical name".into()))?;
    if describe(c, &name).await?.is_none() {
        let mut indexes = Vec::new();
        for g in gsis(p) {
            indexes.push(
                GlobalSecondaryIndex::builder()
                    .index_name(&g.name)
                    .set_key_schema(Some(schema(&g.partition_key, g.sort_key.as_ref())?))
                    .projection(projection(g.projection()))
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
            .set_key_schema(Some(schema(&p.partition_key, p.sort_key.as_ref())?))
            .set_attribute_definitions(Some(all_definitions(p, gsis(p))?))
            .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
            .set_tags((!tags.is_empty()).then_some(tags));
        if p.sse_enabled.unwrap_or(false) {
            req = req.sse_specification(sse(p));
        }
        if let Some(dp) = p.deletion_protection {
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
    if let Some(attr) = &p.ttl_attribute {
        set_ttl(c, &name, Some(attr)).await?;
    }
    if p.point_in_time_recovery.unwrap_or(false) {
        set_pitr(c, &name, true).await?;
    }
    Ok(applied(&t))
}

/// The key of type `kt` in a key schema, with its attribute's type.
fn key_of(schema: &[KeySchemaElement], defs: &[AttributeDefinition], kt: KeyType) -> Option<Key> {
    schema.iter().find(|k| k.key_type() == &kt).map(|k| {
        let name = k.attribute_name();
        Key {
            name: name.to_string(),
            r#type: defs
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(|d| d.attribute_type().as_str().to_string())
                .unwrap_or_default(),
        }
    })
}

/// The table's indexes as DynamoDB describes them, projection included.
fn gsis_of(t: &TableDescription) -> Vec<Gsi> {
    let defs = t.attribute_definitions();
    t.global_secondary_indexes()
        .iter()
        .map(|g| Gsi {
            name: g.index_name().unwrap_or_default().to_string(),
            partition_key: key_of(g.key_schema(), defs, KeyType::Hash).unwrap_or_default(),
            sort_key: key_of(g.key_schema(), defs, KeyType::Range),
            projection: g
                .projection()
                .and_then(|p| p.projection_type())
                .map(|p| p.as_str().to_string()),
        })
        .collect()
}

/// The TTL attribute, while TTL is on (or being turned on).
async fn ttl_of(c: &Clients, name: &str) -> ProviderResult<Option<String>> {
    let ttl = c
        .dynamodb
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| error::aws("dynamodb:DescribeTimeToLive", e))?;
    Ok(ttl
        .time_to_live_description()
        .filter(|d| {
            matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
        })
        .and_then(|d| d.attribute_name())
        .map(str::to_string))
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(name) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(t) = describe(c, &name).await? else {
        return Ok(None);
    };
    let defs = t.attribute_definitions();
    // DynamoDB keeps indexes in an order of its own.
    let applied_gsis: Option<Vec<Gsi>> = hint
        .and_then(|h| h.global_secondary_indexes.as_ref())
        .map(|a| a.iter().map(Gsi::explicit).collect());
    let indexes = same_set_of(applied_gsis.as_deref(), gsis_of(&t), Value::clone);
    let sse = t.sse_description();
    let sse_on = sse.and_then(|s| s.status()).is_some_and(|s| {
        matches!(
            s,
            SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating
        )
    });
    let props = Props {
        partition_key: key_of(t.key_schema(), defs, KeyType::Hash).unwrap_or_default(),
        sort_key: key_of(t.key_schema(), defs, KeyType::Range),
        global_secondary_indexes: (!indexes.is_empty()).then_some(indexes),
        ttl_attribute: ttl_of(c, &name).await?,
        sse_enabled: Some(sse_on),
        kms_key_id: sse
            .filter(|_| sse_on)
            .and_then(|s| s.kms_master_key_arn())
            .map(|k| key_form(hint.and_then(|h| h.kms_key_id.as_deref()), k)),
        point_in_time_recovery: Some(pitr_enabled(c, &name).await?),
        deletion_protection: t.deletion_protection_enabled(),
    };
    Ok(Some(Read {
        applied: applied(&t),
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
    let name = saved_name(cur)
        .or_else(|| r.physical_name.clone())
        .unwrap_or_default();
    let has = |p: &str| changed.iter().any(|c| c == p);
    let mut t = wait_active(c, &name).await?;
    if has("global_secondary_indexes") {
        let want = gsis(p);
        // An index whose definition changed is dropped and added again.
        for g in gsis_of(&t) {
            let keep = want.iter().any(|w| w.explicit() == g);
            if !keep {
                let del = DeleteGlobalSecondaryIndexAction::builder()
                    .index_name(&g.name)
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
                wait_gsi_gone(c, &name, &g.name).await?;
            }
        }
        t = wait_active(c, &name).await?;
        for g in want {
            if t.global_secondary_indexes()
                .iter()
                .any(|x| x.index_name() == Some(g.name.as_str()))
            {
                continue;
            }
            let add = CreateGlobalSecondaryIndexAction::builder()
                .index_name(&g.name)
                .set_key_schema(Some(schema(&g.partition_key, g.sort_key.as_ref())?))
                .projection(projection(g.projection()))
                .build()
                .map_err(invalid)?;
            // The definitions of every key the table has with the new index
            // (the indexes left are the wanted ones): moto replaces the
            // table's definitions with those given where AWS adds them, and
            // AWS refuses definitions no key uses.
            let have = want.iter().filter(|w| {
                t.global_secondary_indexes()
                    .iter()
                    .any(|x| x.index_name() == Some(w.name.as_str()))
            });
            c.dynamodb
                .update_table()
                .table_name(&name)
                .set_attribute_definitions(Some(all_definitions(
                    p,
                    have.chain(std::iter::once(g)),
                )?))
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
            .sse_specification(sse(p))
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
        t = wait_active(c, &name).await?;
    }
    if has("deletion_protection") {
        c.dynamodb
            .update_table()
            .table_name(&name)
            .deletion_protection_enabled(p.deletion_protection.unwrap_or(false))
            .send()
            .await
            .map_err(|e| error::aws("dynamodb:UpdateTable", e))?;
        t = wait_active(c, &name).await?;
    }
    if has("ttl_attribute") {
        set_ttl(c, &name, p.ttl_attribute.as_deref()).await?;
    }
    if has("point_in_time_recovery") {
        set_pitr(c, &name, p.point_in_time_recovery.unwrap_or(false)).await?;
    }
    if has("tags") {
        crate::retag::dynamodb(c, t.table_arn().unwrap_or_default(), &cur.tags, &r.tags).await?;
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

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(name) = saved_name(cur) else {
        return Ok(());
    };
    match c.dynamodb.delete_table().table_name(&name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(error::aws("dynamodb:DeleteTable", e)),
    }
}
