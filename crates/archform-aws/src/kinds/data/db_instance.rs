//! rds.db_instance: a PostgreSQL instance whose master password RDS keeps in
//! Secrets Manager (ManageMasterUserPassword), encrypted, never public.
//! Created with its tags and waited for until available (its endpoint is
//! what dependents need); modified with ApplyImmediately; deleted without a
//! final snapshot and waited for until gone, so its subnet group and
//! security groups can be deleted next.

use super::rds_tags;
use crate::clients::Clients;
use crate::error;
use crate::kinds::Read;
use crate::support::{key_form, same_set_of, saved_name};
use archform_engine::provider::{Applied, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_rds::types::DbInstance;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Props {
    pub engine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    pub instance_class: String,
    pub allocated_storage: i64,
    pub db_subnet_group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_parameter_group_name: Option<String>,
    pub vpc_security_group_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publicly_accessible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_encrypted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manage_master_user_password: Option<bool>,
    pub master_username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_az: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
}

/// What RDS takes when these are left out (the spec's defaults).
const DEFAULT_PORT: i32 = 5432;
const DEFAULT_BACKUP_RETENTION: i32 = 1;

fn applied(db: &DbInstance) -> Applied {
    let id = db.db_instance_identifier().unwrap_or_default().to_string();
    let mut attributes = IndexMap::new();
    attributes.insert(
        "endpoint_address".into(),
        Value::from(db.endpoint().and_then(|e| e.address()).unwrap_or_default()),
    );
    attributes.insert(
        "endpoint_port".into(),
        Value::from(
            db.endpoint()
                .and_then(|e| e.port())
                .or(db.db_instance_port())
                .unwrap_or_default(),
        ),
    );
    attributes.insert(
        "arn".into(),
        Value::from(db.db_instance_arn().unwrap_or_default()),
    );
    attributes.insert("identifier".into(), Value::from(id.clone()));
    attributes.insert(
        "master_user_secret_arn".into(),
        Value::from(
            db.master_user_secret()
                .and_then(|s| s.secret_arn())
                .unwrap_or_default(),
        ),
    );
    Applied {
        physical_id: id,
        attributes,
    }
}

async fn get(c: &Clients, id: &str) -> ProviderResult<Option<DbInstance>> {
    match c
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(o) => Ok(o.db_instances().first().cloned()),
        Err(e) if error::is_not_found(&e) => Ok(None),
        Err(e) => Err(error::aws("rds:DescribeDBInstances", e)),
    }
}

fn i32_of(v: Option<i64>) -> Option<i32> {
    v.and_then(|v| i32::try_from(v).ok())
}

async fn wait_available(c: &Clients, id: &str) -> ProviderResult<DbInstance> {
    crate::wait::until(
        &format!("DB instance {id} to be available"),
        Duration::from_secs(2),
        Duration::from_secs(3600),
        || async {
            let db = get(c, id).await?.ok_or_else(|| {
                ProviderError::failed(format!("DB instance {id} disappeared while waiting"))
            })?;
            match db.db_instance_status() {
                Some("available") => Ok(Some(db)),
                Some(
                    s @ ("failed"
                    | "incompatible-parameters"
                    | "incompatible-network"
                    | "storage-full"),
                ) => Err(ProviderError::failed(format!("DB instance {id} is {s}"))),
                _ => Ok(None),
            }
        },
    )
    .await
}

pub(crate) async fn create(c: &Clients, r: &Resolved, p: &Props) -> ProviderResult<Applied> {
    let id = r
        .physical_name
        .clone()
        .ok_or_else(|| ProviderError::Invalid("rds.db_instance needs a physical name".into()))?;
    if p.manage_master_user_password == Some(false) {
        return Err(ProviderError::Invalid(
            "rds.db_instance needs manage_master_user_password: archform never handles the master password".into(),
        ));
    }
    if get(c, &id).await?.is_none() {
        let res = c
            .rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .engine(&p.engine)
            .set_engine_version(p.engine_version.clone())
            .db_instance_class(&p.instance_class)
            .set_allocated_storage(i32_of(Some(p.allocated_storage)))
            .set_storage_type(p.storage_type.clone())
            .db_subnet_group_name(&p.db_subnet_group_name)
            .set_db_parameter_group_name(p.db_parameter_group_name.clone())
            .set_vpc_security_group_ids(Some(p.vpc_security_group_ids.clone()))
            .publicly_accessible(p.publicly_accessible.unwrap_or(false))
            .storage_encrypted(p.storage_encrypted.unwrap_or(true))
            .set_kms_key_id(p.kms_key_id.clone())
            .manage_master_user_password(true)
            .master_username(&p.master_username)
            .set_db_name(p.db_name.clone())
            .set_port(i32_of(p.port))
            .set_multi_az(p.multi_az)
            .set_backup_retention_period(i32_of(p.backup_retention_period))
            .set_deletion_protection(p.deletion_protection)
            .set_tags(rds_tags::tags(&r.tags))
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if error::code(&e) == Some("DBInstanceAlreadyExists") => {}
            Err(e) => return Err(error::aws("rds:CreateDBInstance", e)),
        }
    }
    Ok(applied(&wait_available(c, &id).await?))
}

/// The default DB parameter group of an engine version: PostgreSQL's
/// families are named by the major version alone since PostgreSQL 10.
fn default_parameter_group(engine: &str, version: &str) -> String {
    let major = version.split('.').next().unwrap_or_default();
    format!("default.{engine}{major}")
}

fn pending_reboot(db: &DbInstance) -> bool {
    db.db_parameter_groups()
        .iter()
        .any(|g| g.parameter_apply_status() == Some("pending-reboot"))
}

/// The engine version as the blueprint gave it when that is the major (or
/// major.minor) version AWS runs; else AWS's full version.
fn version_form(applied: Option<&str>, observed: &str) -> String {
    match applied {
        Some(a) if observed == a || observed.starts_with(&format!("{a}.")) => a.to_string(),
        _ => observed.to_string(),
    }
}

fn props_of(db: &DbInstance, hint: Option<&Props>) -> Props {
    let text = |v: Option<&str>| v.unwrap_or_default().to_string();
    let groups: Vec<String> = db
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .map(str::to_string)
        .collect();
    Props {
        engine: text(db.engine()),
        engine_version: db
            .engine_version()
            .map(|v| version_form(hint.and_then(|h| h.engine_version.as_deref()), v)),
        instance_class: text(db.db_instance_class()),
        allocated_storage: db.allocated_storage().map(i64::from).unwrap_or_default(),
        db_subnet_group_name: text(db.db_subnet_group().and_then(|g| g.db_subnet_group_name())),
        db_parameter_group_name: db
            .db_parameter_groups()
            .first()
            .and_then(|g| g.db_parameter_group_name())
            .map(str::to_string),
        // RDS keeps its own order.
        vpc_security_group_ids: same_set_of(
            hint.map(|h| h.vpc_security_group_ids.as_slice()),
            groups,
            Value::clone,
        ),
        publicly_accessible: db.publicly_accessible(),
        storage_encrypted: db.storage_encrypted(),
        kms_key_id: db
            .kms_key_id()
            .map(|k| key_form(hint.and_then(|h| h.kms_key_id.as_deref()), k)),
        manage_master_user_password: Some(db.master_user_secret().is_some()),
        master_username: text(db.master_username()),
        db_name: db.db_name().map(str::to_string),
        port: db
            .endpoint()
            .and_then(|e| e.port())
            .or(db.db_instance_port())
            .map(i64::from),
        multi_az: db.multi_az(),
        backup_retention_period: db.backup_retention_period().map(i64::from),
        deletion_protection: db.deletion_protection(),
        storage_type: db.storage_type().map(str::to_string),
    }
}

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    hint: Option<&Props>,
) -> ProviderResult<Option<Read<Props>>> {
    let Some(id) = saved_name(cur) else {
        return Ok(None);
    };
    let Some(db) = get(c, &id).await? else {
        return Ok(None);
    };
    if db.db_instance_status() == Some("deleting") {
        return Ok(None);
    }
    Ok(Some(Read {
        applied: applied(&db),
        props: props_of(&db, hint),
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    p: &Props,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let id = saved_name(cur)
        .ok_or_else(|| ProviderError::failed("the DB instance has no identifier in state"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    let mut req = c
        .rds
        .modify_db_instance()
        .db_instance_identifier(&id)
        .apply_immediately(true);
    let mut any = false;
    if has("engine_version") {
        // The version running now, as AWS reports it.
        let old = get(c, &id)
            .await?
            .and_then(|db| db.engine_version().map(str::to_string))
            .unwrap_or_default();
        let new = p.engine_version.as_deref().unwrap_or_default();
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
        req = req
            .set_engine_version(p.engine_version.clone())
            .allow_major_version_upgrade(major(&old) != major(new));
        any = true;
    }
    if has("instance_class") {
        req = req.db_instance_class(&p.instance_class);
        any = true;
    }
    if has("allocated_storage") {
        req = req.set_allocated_storage(i32_of(Some(p.allocated_storage)));
        any = true;
    }
    if has("storage_type") {
        req = req.set_storage_type(p.storage_type.clone());
        any = true;
    }
    if has("db_parameter_group_name") {
        let group = match &p.db_parameter_group_name {
            Some(g) => g.clone(),
            // Left out: back to the default group, which must be named.
            None => {
                let db = get(c, &id).await?.ok_or_else(|| {
                    ProviderError::failed(format!("DB instance {id} no longer exists"))
                })?;
                default_parameter_group(
                    db.engine().unwrap_or(&p.engine),
                    db.engine_version().unwrap_or_default(),
                )
            }
        };
        req = req.db_parameter_group_name(group);
        any = true;
    }
    if has("vpc_security_group_ids") {
        req = req.set_vpc_security_group_ids(Some(p.vpc_security_group_ids.clone()));
        any = true;
    }
    if has("publicly_accessible") {
        req = req.publicly_accessible(p.publicly_accessible.unwrap_or(false));
        any = true;
    }
    if has("manage_master_user_password") {
        if p.manage_master_user_password == Some(false) {
            return Err(ProviderError::Invalid(
                "manage_master_user_password cannot be turned off: archform never handles the master password".into(),
            ));
        }
        req = req.manage_master_user_password(true);
        any = true;
    }
    // Left out, the port and the backup retention go back to RDS's defaults.
    if has("port") {
        req = req.db_port_number(i32_of(p.port).unwrap_or(DEFAULT_PORT));
        any = true;
    }
    if has("multi_az") {
        req = req.multi_az(p.multi_az.unwrap_or(false));
        any = true;
    }
    if has("backup_retention_period") {
        req = req.backup_retention_period(
            i32_of(p.backup_retention_period).unwrap_or(DEFAULT_BACKUP_RETENTION),
        );
        any = true;
    }
    if has("deletion_protection") {
        req = req.deletion_protection(p.deletion_protection.unwrap_or(false));
        any = true;
    }
    if any {
        req.send()
            .await
            .map_err(|e| error::aws("rds:ModifyDBInstance", e))?;
    }
    let mut db = wait_available(c, &id).await?;
    // A group attached to a running instance takes effect at its next
    // reboot (RDS reports it pending-reboot): reboot now, or the blueprint's
    // settings (rds.force_ssl) would not hold until someone else does.
    if has("db_parameter_group_name") && pending_reboot(&db) {
        c.rds
            .reboot_db_instance()
            .db_instance_identifier(&id)
            .send()
            .await
            .map_err(|e| error::aws("rds:RebootDBInstance", e))?;
        db = wait_available(c, &id).await?;
    }
    if has("tags") {
        crate::retag::rds(
            c,
            db.db_instance_arn().unwrap_or_default(),
            &cur.tags,
            &r.tags,
        )
        .await?;
        db = get(c, &id).await?.unwrap_or(db);
    }
    Ok(applied(&db))
}

pub(crate) async fn delete(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
    _hint: Option<&Props>,
) -> ProviderResult<()> {
    let Some(id) = saved_name(cur) else {
        return Ok(());
    };
    let res = c
        .rds
        .delete_db_instance()
        .db_instance_identifier(&id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e) if error::is_not_found(&e) => return Ok(()),
        // Already being deleted by an earlier, cut-off run: wait for it.
        Err(e)
            if error::code(&e) == Some("InvalidDBInstanceState")
                && get(c, &id)
                    .await?
                    .is_some_and(|d| d.db_instance_status() == Some("deleting")) => {}
        Err(e) => return Err(error::aws("rds:DeleteDBInstance", e)),
    }
    crate::wait::until(
        &format!("DB instance {id} to be deleted"),
        Duration::from_secs(2),
        Duration::from_secs(3600),
        || async { Ok(get(c, &id).await?.is_none().then_some(())) },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_parameter_group_is_named_by_the_major_version() {
        assert_eq!(
            default_parameter_group("postgres", "16.3"),
            "default.postgres16"
        );
        assert_eq!(
            default_parameter_group("postgres", "14"),
            "default.postgres14"
        );
    }
}
