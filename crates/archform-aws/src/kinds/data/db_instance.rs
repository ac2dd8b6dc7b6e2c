//! rds.db_instance: a PostgreSQL instance whose master password RDS keeps in
//! Secrets Manager (ManageMasterUserPassword), encrypted, never public.
//! Created with its tags and waited for until available (its endpoint is
//! what dependents need); modified with ApplyImmediately; deleted without a
//! final snapshot and waited for until gone, so its subnet group and
//! security groups can be deleted next.

use super::rds_tags;
use crate::clients::Clients;
use crate::error;
use archform_engine::provider::{Applied, Observed, ProviderError, ProviderResult, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_rds::types::DbInstance;
use indexmap::IndexMap;
use serde_json::{Value, json};
use std::time::Duration;

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

fn id_of(cur: &ResourceState) -> Option<String> {
    cur.physical_id
        .clone()
        .or_else(|| cur.physical_name.clone())
}

fn i32_prop(r: &Resolved, name: &str) -> Option<i32> {
    r.int(name).and_then(|v| i32::try_from(v).ok())
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

pub(crate) async fn create(c: &Clients, r: &Resolved) -> ProviderResult<Applied> {
    let id = r
        .physical_name
        .clone()
        .ok_or_else(|| ProviderError::Invalid("rds.db_instance needs a physical name".into()))?;
    if r.bool("manage_master_user_password") == Some(false) {
        return Err(ProviderError::Invalid(
            "rds.db_instance needs manage_master_user_password: archform never handles the master password".into(),
        ));
    }
    if get(c, &id).await?.is_none() {
        let res = c
            .rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .engine(r.str("engine").unwrap_or("postgres"))
            .set_engine_version(r.str("engine_version").map(String::from))
            .db_instance_class(r.str("instance_class").unwrap_or_default())
            .set_allocated_storage(i32_prop(r, "allocated_storage"))
            .set_storage_type(r.str("storage_type").map(String::from))
            .set_db_subnet_group_name(r.str("db_subnet_group_name").map(String::from))
            .set_vpc_security_group_ids(Some(r.strs("vpc_security_group_ids")))
            .publicly_accessible(r.bool("publicly_accessible").unwrap_or(false))
            .storage_encrypted(r.bool("storage_encrypted").unwrap_or(true))
            .set_kms_key_id(r.str("kms_key_id").map(String::from))
            .manage_master_user_password(true)
            .master_username(r.str("master_username").unwrap_or_default())
            .set_db_name(r.str("db_name").map(String::from))
            .set_port(i32_prop(r, "port"))
            .set_multi_az(r.bool("multi_az"))
            .set_backup_retention_period(i32_prop(r, "backup_retention_period"))
            .set_deletion_protection(r.bool("deletion_protection"))
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

pub(crate) async fn read(
    c: &Clients,
    _id: &str,
    cur: &ResourceState,
) -> ProviderResult<Option<Observed>> {
    let Some(id) = id_of(cur) else {
        return Ok(None);
    };
    let Some(db) = get(c, &id).await? else {
        return Ok(None);
    };
    if db.db_instance_status() == Some("deleting") {
        return Ok(None);
    }
    let mut props = json!({
        "engine": db.engine(),
        "instance_class": db.db_instance_class(),
        "allocated_storage": db.allocated_storage(),
        "db_subnet_group_name": db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
        "vpc_security_group_ids": db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id()).collect::<Vec<_>>(),
        "publicly_accessible": db.publicly_accessible(),
        "storage_encrypted": db.storage_encrypted(),
        "manage_master_user_password": db.master_user_secret().is_some(),
        "master_username": db.master_username(),
        "multi_az": db.multi_az(),
        "backup_retention_period": db.backup_retention_period(),
        "deletion_protection": db.deletion_protection(),
    });
    let obj = props.as_object_mut().expect("an object");
    obj.retain(|_, v| !v.is_null());
    // Only the parts given in the blueprint: AWS fills in the rest.
    for (k, v) in [
        ("engine_version", db.engine_version().map(Value::from)),
        ("db_name", db.db_name().map(Value::from)),
        (
            "port",
            db.endpoint()
                .and_then(|e| e.port())
                .or(db.db_instance_port())
                .map(Value::from),
        ),
        ("storage_type", db.storage_type().map(Value::from)),
        ("kms_key_id", db.kms_key_id().map(Value::from)),
    ] {
        if let Some(v) = v
            && cur.properties.get(k).is_some_and(|x| !x.is_null())
        {
            obj.insert(k.into(), v);
        }
    }
    Ok(Some(Observed {
        applied: applied(&db),
        properties: props,
    }))
}

pub(crate) async fn update(
    c: &Clients,
    r: &Resolved,
    cur: &ResourceState,
    changed: &[String],
) -> ProviderResult<Applied> {
    let id = id_of(cur)
        .ok_or_else(|| ProviderError::failed("the DB instance has no identifier in state"))?;
    let has = |p: &str| changed.iter().any(|c| c == p);
    let mut req = c
        .rds
        .modify_db_instance()
        .db_instance_identifier(&id)
        .apply_immediately(true);
    let mut any = false;
    if has("engine_version") {
        let old = cur
            .properties
            .get("engine_version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let new = r.str("engine_version").unwrap_or_default();
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
        req = req
            .set_engine_version(r.str("engine_version").map(String::from))
            .allow_major_version_upgrade(major(old) != major(new));
        any = true;
    }
    if has("instance_class") {
        req = req.set_db_instance_class(r.str("instance_class").map(String::from));
        any = true;
    }
    if has("allocated_storage") {
        req = req.set_allocated_storage(i32_prop(r, "allocated_storage"));
        any = true;
    }
    if has("storage_type") {
        req = req.set_storage_type(r.str("storage_type").map(String::from));
        any = true;
    }
    if has("vpc_security_group_ids") {
        req = req.set_vpc_security_group_ids(Some(r.strs("vpc_security_group_ids")));
        any = true;
    }
    if has("publicly_accessible") {
        req = req.publicly_accessible(r.bool("publicly_accessible").unwrap_or(false));
        any = true;
    }
    if has("manage_master_user_password") {
        if r.bool("manage_master_user_password") == Some(false) {
            return Err(ProviderError::Invalid(
                "manage_master_user_password cannot be turned off: archform never handles the master password".into(),
            ));
        }
        req = req.manage_master_user_password(true);
        any = true;
    }
    if has("port") {
        req = req.set_db_port_number(i32_prop(r, "port"));
        any = true;
    }
    if has("multi_az") {
        req = req.multi_az(r.bool("multi_az").unwrap_or(false));
        any = true;
    }
    if has("backup_retention_period") {
        req = req.set_backup_retention_period(i32_prop(r, "backup_retention_period"));
        any = true;
    }
    if has("deletion_protection") {
        req = req.deletion_protection(r.bool("deletion_protection").unwrap_or(false));
        any = true;
    }
    if any {
        req.send()
            .await
            .map_err(|e| error::aws("rds:ModifyDBInstance", e))?;
    }
    let mut db = wait_available(c, &id).await?;
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

pub(crate) async fn delete(c: &Clients, _id: &str, cur: &ResourceState) -> ProviderResult<()> {
    let Some(id) = id_of(cur) else { return Ok(()) };
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
