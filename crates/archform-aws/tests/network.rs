//! Network kinds (subnet, internet gateway, route table, security group,
//! EIP, NAT gateway, VPC endpoint) against the emulator: create, refresh,
//! in-place update, delete, delete-when-gone and create-adopts-existing.

use archform_aws::AwsProvider;
use archform_engine::provider::{Applied, Provider, Resolved};
use archform_engine::state::ResourceState;
use aws_sdk_ec2::types::Filter;
use indexmap::IndexMap;
use serde_json::{Value, json};

mod common;
use common::{assert_attrs, assert_reads_back, assert_recovers, stack, state};

async fn provider() -> (AwsProvider, aws_sdk_ec2::Client) {
    let endpoint = archform_testkit::test_endpoint();
    let config = archform_testkit::sdk_config(&endpoint).await;
    (AwsProvider::new(&config), aws_sdk_ec2::Client::new(&config))
}

fn resolved(kind: &str, stack: &str, id: &str, properties: Value) -> Resolved {
    let mut tags = IndexMap::new();
    tags.insert("archform:stack".to_string(), stack.to_string());
    tags.insert("archform:id".to_string(), id.to_string());
    let kind = archform_blueprint::kinds::lookup(kind).unwrap();
    Resolved {
        stack: stack.into(),
        id: id.into(),
        kind,
        physical_name: kind.naming.map(|_| format!("{stack}-{id}")),
        properties,
        tags,
    }
}

/// The state after an update: new properties and tags, attributes as answered.
fn updated(r: &Resolved, a: &Applied) -> ResourceState {
    state(r, a)
}

fn tag_filters(stack: &str, id: &str) -> Vec<Filter> {
    vec![
        Filter::builder()
            .name("tag:archform:stack")
            .values(stack)
            .build(),
        Filter::builder().name("tag:archform:id").values(id).build(),
    ]
}

/// Deletes, then checks that a second delete and a delete without a
/// physical id (crash mid-create) both count the gone resource as deleted,
/// and that read reports it gone.
async fn delete_twice(p: &AwsProvider, id: &str, st: &ResourceState) {
    p.delete(id, st).await.unwrap();
    assert!(
        p.read(id, st).await.unwrap().is_none(),
        "{id} still readable after delete"
    );
    p.delete(id, st).await.unwrap();
    let mut lost = st.clone();
    lost.physical_id = None;
    p.delete(id, &lost).await.unwrap();
    assert!(p.read(id, &lost).await.unwrap().is_none());
}

async fn vpc(p: &AwsProvider, s: &str, id: &str, cidr: &str) -> (Resolved, Applied) {
    let r = resolved("ec2.vpc", s, id, json!({ "cidr_block": cidr }));
    let a = p.create(&r).await.unwrap();
    (r, a)
}

async fn az(ec2: &aws_sdk_ec2::Client, n: usize) -> String {
    let out = ec2.describe_availability_zones().send().await.unwrap();
    out.availability_zones()[n].zone_name().unwrap().to_string()
}

#[tokio::test]
async fn subnet_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("subnet");
    let (_, v) = vpc(&p, &s, "vpc", "10.40.0.0/16").await;
    let zone = az(&ec2, 0).await;
    let r = resolved(
        "ec2.subnet",
        &s,
        "public_a",
        json!({ "vpc_id": v.physical_id, "cidr_block": "10.40.1.0/24", "availability_zone": zone, "tier": "public" }),
    );
    let a = p.create(&r).await.unwrap();
    assert_attrs(&r, &a);
    assert_eq!(a.attributes["availability_zone"], json!(zone));
    assert_eq!(a.attributes["cidr_block"], json!("10.40.1.0/24"));

    // A second create (an earlier one whose answer was lost) adopts.
    let again = p.create(&r).await.unwrap();
    assert_eq!(again.physical_id, a.physical_id);
    let n = ec2
        .describe_subnets()
        .set_filters(Some(tag_filters(&s, "public_a")))
        .send()
        .await
        .unwrap()
        .subnets()
        .len();
    assert_eq!(n, 1, "no duplicate subnet");

    let st = state(&r, &a);
    let o = p.read("public_a", &st).await.unwrap().unwrap();
    assert_eq!(o.applied, a);
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_eq!(
        o.properties["map_public_ip_on_launch"],
        json!(false),
        "AWS's default is read too"
    );
    assert!(
        o.properties.get("tier").is_none(),
        "the tier is archform's own: AWS has no record of it"
    );
    assert_recovers(&p, "public_a", &st).await;

    // In place: public IPs on launch, and tags.
    let mut r2 = r.clone();
    r2.properties["map_public_ip_on_launch"] = json!(true);
    r2.tags.insert("team".into(), "net".into());
    let a2 = p
        .update(&r2, &st, &["map_public_ip_on_launch".into(), "tags".into()])
        .await
        .unwrap();
    assert_eq!(a2, a);
    let st2 = updated(&r2, &a2);
    let o = p.read("public_a", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    assert_eq!(o.properties["map_public_ip_on_launch"], json!(true));
    assert_recovers(&p, "public_a", &st2).await;
    let sub = ec2
        .describe_subnets()
        .subnet_ids(&a.physical_id)
        .send()
        .await
        .unwrap();
    let tags = sub.subnets()[0].tags();
    assert!(
        tags.iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("net"))
    );

    delete_twice(&p, "public_a", &st2).await;
}

#[tokio::test]
async fn internet_gateway_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("igw");
    let (_, v1) = vpc(&p, &s, "vpc", "10.41.0.0/16").await;
    let (_, v2) = vpc(&p, &s, "vpc2", "10.42.0.0/16").await;
    let r = resolved(
        "ec2.internet_gateway",
        &s,
        "igw",
        json!({ "vpc_id": v1.physical_id }),
    );
    let a = p.create(&r).await.unwrap();
    assert_attrs(&r, &a);
    assert!(a.physical_id.starts_with("igw-"));
    let again = p.create(&r).await.unwrap();
    assert_eq!(again.physical_id, a.physical_id);
    let gws = ec2
        .describe_internet_gateways()
        .set_filters(Some(tag_filters(&s, "igw")))
        .send()
        .await
        .unwrap();
    assert_eq!(gws.internet_gateways().len(), 1, "no duplicate gateway");
    let att = gws.internet_gateways()[0].attachments();
    assert_eq!(att.len(), 1, "attached once");
    assert_eq!(att[0].vpc_id(), Some(v1.physical_id.as_str()));

    let st = state(&r, &a);
    let o = p.read("igw", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_recovers(&p, "igw", &st).await;

    // In place: move to another VPC.
    let mut r2 = r.clone();
    r2.properties["vpc_id"] = json!(v2.physical_id);
    let a2 = p.update(&r2, &st, &["vpc_id".into()]).await.unwrap();
    assert_eq!(a2.physical_id, a.physical_id);
    let st2 = updated(&r2, &a2);
    let o = p.read("igw", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    assert_recovers(&p, "igw", &st2).await;
    // Detached outside archform: the read shows it.
    ec2.detach_internet_gateway()
        .internet_gateway_id(&a.physical_id)
        .vpc_id(&v2.physical_id)
        .send()
        .await
        .unwrap();
    let o = p.read("igw", &st2).await.unwrap().unwrap();
    assert_eq!(o.properties["vpc_id"], json!(""));

    delete_twice(&p, "igw", &st2).await;
    // Detached before deletion: the VPC can go now.
    let vr = resolved("ec2.vpc", &s, "vpc2", json!({}));
    let vs = state(&vr, &v2);
    p.delete("vpc2", &vs).await.unwrap();
}

#[tokio::test]
async fn route_table_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("rt");
    let (_, v) = vpc(&p, &s, "vpc", "10.43.0.0/16").await;
    let igw_r = resolved(
        "ec2.internet_gateway",
        &s,
        "igw",
        json!({ "vpc_id": v.physical_id }),
    );
    let igw = p.create(&igw_r).await.unwrap().physical_id;
    let zone = az(&ec2, 0).await;
    let mut subnets = vec![];
    for (i, cidr) in ["10.43.0.0/24", "10.43.1.0/24"].iter().enumerate() {
        let r = resolved(
            "ec2.subnet",
            &s,
            &format!("sub{i}"),
            json!({ "vpc_id": v.physical_id, "cidr_block": cidr, "availability_zone": zone }),
        );
        subnets.push(p.create(&r).await.unwrap().physical_id);
    }
    let r = resolved(
        "ec2.route_table",
        &s,
        "public_rt",
        json!({
            "vpc_id": v.physical_id,
            "routes": [{ "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw }],
            "subnet_ids": [subnets[0]],
        }),
    );
    let a = p.create(&r).await.unwrap();
    assert_attrs(&r, &a);
    let again = p.create(&r).await.unwrap();
    assert_eq!(again.physical_id, a.physical_id);
    let tables = ec2
        .describe_route_tables()
        .set_filters(Some(tag_filters(&s, "public_rt")))
        .send()
        .await
        .unwrap();
    assert_eq!(tables.route_tables().len(), 1, "no duplicate route table");
    let t = &tables.route_tables()[0];
    let default: Vec<_> = t
        .routes()
        .iter()
        .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .collect();
    assert_eq!(default.len(), 1);
    assert_eq!(default[0].gateway_id(), Some(igw.as_str()));
    assert_eq!(
        t.associations()
            .iter()
            .filter(|a| a.subnet_id().is_some())
            .count(),
        1
    );

    let st = state(&r, &a);
    let o = p.read("public_rt", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_recovers(&p, "public_rt", &st).await;

    // In place: one more route, and the association moved to the other subnet
    // plus the first one kept -> then only the second.
    let mut r2 = r.clone();
    r2.properties["routes"] = json!([
        { "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw },
        { "destination_cidr_block": "192.168.0.0/16", "gateway_id": igw },
    ]);
    r2.properties["subnet_ids"] = json!([subnets[1], subnets[0]]);
    p.update(&r2, &st, &["routes".into(), "subnet_ids".into()])
        .await
        .unwrap();
    let st2 = updated(&r2, &a);
    let o = p.read("public_rt", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    // Without the applied order to go by, a read gives AWS's order of the
    // associations: the spec declares the list unordered.
    assert_recovers(&p, "public_rt", &st2).await;

    let mut r3 = r2.clone();
    r3.properties["routes"] =
        json!([{ "destination_cidr_block": "192.168.0.0/16", "gateway_id": igw }]);
    r3.properties["subnet_ids"] = json!([subnets[1]]);
    p.update(&r3, &st2, &["routes".into(), "subnet_ids".into()])
        .await
        .unwrap();
    let st3 = updated(&r3, &a);
    let o = p.read("public_rt", &st3).await.unwrap().unwrap();
    assert_reads_back(r3.kind, &r3.properties, &o.properties);
    assert_recovers(&p, "public_rt", &st3).await;

    // Drift: a route deleted outside archform shows up in the read.
    ec2.delete_route()
        .route_table_id(&a.physical_id)
        .destination_cidr_block("192.168.0.0/16")
        .send()
        .await
        .unwrap();
    let o = p.read("public_rt", &st3).await.unwrap().unwrap();
    assert_eq!(o.properties["routes"], json!([]));

    // Delete disassociates the subnet first.
    delete_twice(&p, "public_rt", &st3).await;
    let left = ec2
        .describe_route_tables()
        .filters(
            Filter::builder()
                .name("association.subnet-id")
                .values(&subnets[1])
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        left.route_tables()
            .iter()
            .all(|t| t.route_table_id() != Some(a.physical_id.as_str()))
    );
}

/// (protocol, from port, CIDR source, group source).
type FlatRule = (String, Option<i32>, Option<String>, Option<String>);

fn rules_of(perms: &[aws_sdk_ec2::types::IpPermission]) -> Vec<FlatRule> {
    let mut out = vec![];
    for p in perms {
        for r in p.ip_ranges() {
            out.push((
                p.ip_protocol().unwrap().to_string(),
                p.from_port(),
                r.cidr_ip().map(Into::into),
                None,
            ));
        }
        for g in p.user_id_group_pairs() {
            out.push((
                p.ip_protocol().unwrap().to_string(),
                p.from_port(),
                None,
                g.group_id().map(Into::into),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn security_group_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("sg");
    let (_, v) = vpc(&p, &s, "vpc", "10.44.0.0/16").await;
    let alb_r = resolved(
        "ec2.security_group",
        &s,
        "alb_sg",
        json!({
            "vpc_id": v.physical_id,
            "description": "Public ALB",
            "ingress": [
                { "protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0", "description": "HTTP" },
                { "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0", "description": "HTTPS" },
            ],
        }),
    );
    let alb = p.create(&alb_r).await.unwrap();
    assert_attrs(&alb_r, &alb);
    assert_eq!(alb.attributes["name"], json!(format!("{s}-alb_sg")));
    let again = p.create(&alb_r).await.unwrap();
    assert_eq!(
        again.physical_id, alb.physical_id,
        "create adopts the group by name"
    );
    let g = ec2
        .describe_security_groups()
        .group_ids(&alb.physical_id)
        .send()
        .await
        .unwrap();
    let g = &g.security_groups()[0];
    assert_eq!(
        rules_of(g.ip_permissions()).len(),
        2,
        "rules not authorized twice"
    );
    assert_eq!(
        rules_of(g.ip_permissions_egress()),
        vec![("-1".to_string(), None, Some("0.0.0.0/0".to_string()), None)],
        "egress absent: AWS's default allow-all is kept"
    );

    // A group whose source is the other group, with managed egress.
    let app_r = resolved(
        "ec2.security_group",
        &s,
        "app_sg",
        json!({
            "vpc_id": v.physical_id,
            "description": "App tier",
            "ingress": [{ "protocol": "tcp", "from_port": 8080, "to_port": 8080, "source_security_group_id": alb.physical_id, "description": "From the ALB" }],
            "egress": [{ "protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0" }],
        }),
    );
    let app = p.create(&app_r).await.unwrap();
    let g = ec2
        .describe_security_groups()
        .group_ids(&app.physical_id)
        .send()
        .await
        .unwrap();
    let g = &g.security_groups()[0];
    assert_eq!(
        rules_of(g.ip_permissions()),
        vec![(
            "tcp".to_string(),
            Some(8080),
            None,
            Some(alb.physical_id.clone())
        )]
    );
    assert_eq!(
        rules_of(g.ip_permissions_egress()),
        vec![(
            "tcp".to_string(),
            Some(443),
            Some("0.0.0.0/0".to_string()),
            None
        )],
        "egress given: the default allow-all is revoked"
    );

    let st = state(&app_r, &app);
    let o = p.read("app_sg", &st).await.unwrap().unwrap();
    assert_eq!(o.applied, app);
    assert_reads_back(app_r.kind, &app_r.properties, &o.properties);
    assert_recovers(&p, "app_sg", &st).await;
    let alb_st = state(&alb_r, &alb);
    let o = p.read("alb_sg", &alb_st).await.unwrap().unwrap();
    assert_reads_back(alb_r.kind, &alb_r.properties, &o.properties);
    assert_eq!(
        o.properties["ingress"], alb_r.properties["ingress"],
        "same rules in the applied order"
    );
    assert_eq!(
        o.properties["egress"],
        json!([{ "protocol": "-1", "from_port": -1, "to_port": -1, "cidr": "0.0.0.0/0" }]),
        "unmanaged egress is read: AWS's allow-all, the spec's default"
    );
    assert_recovers(&p, "alb_sg", &alb_st).await;

    // In place: one ingress rule replaced, one added; egress back to unmanaged.
    let mut app2 = app_r.clone();
    app2.properties["ingress"] = json!([
        { "protocol": "tcp", "from_port": 8081, "to_port": 8081, "source_security_group_id": alb.physical_id, "description": "From the ALB" },
        { "protocol": "udp", "from_port": 53, "to_port": 53, "cidr": "10.44.0.0/16" },
    ]);
    app2.properties.as_object_mut().unwrap().remove("egress");
    p.update(&app2, &st, &["ingress".into(), "egress".into()])
        .await
        .unwrap();
    let g = ec2
        .describe_security_groups()
        .group_ids(&app.physical_id)
        .send()
        .await
        .unwrap();
    let g = &g.security_groups()[0];
    assert_eq!(
        rules_of(g.ip_permissions()),
        vec![
            (
                "tcp".to_string(),
                Some(8081),
                None,
                Some(alb.physical_id.clone())
            ),
            (
                "udp".to_string(),
                Some(53),
                Some("10.44.0.0/16".to_string()),
                None
            ),
        ]
    );
    assert_eq!(
        rules_of(g.ip_permissions_egress()),
        vec![("-1".to_string(), None, Some("0.0.0.0/0".to_string()), None)],
        "egress removed from the blueprint: back to allow-all"
    );
    let st2 = updated(&app2, &app);
    let o = p.read("app_sg", &st2).await.unwrap().unwrap();
    assert_reads_back(app2.kind, &app2.properties, &o.properties);
    assert_recovers(&p, "app_sg", &st2).await;

    // The referencing group goes first, then the referenced one.
    delete_twice(&p, "app_sg", &st2).await;
    delete_twice(&p, "alb_sg", &alb_st).await;
}

#[tokio::test]
async fn eip_and_nat_gateway_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("nat");
    let (_, v) = vpc(&p, &s, "vpc", "10.45.0.0/16").await;
    let zone = az(&ec2, 0).await;
    let sub_r = resolved(
        "ec2.subnet",
        &s,
        "public_a",
        json!({ "vpc_id": v.physical_id, "cidr_block": "10.45.0.0/24", "availability_zone": zone }),
    );
    let sub = p.create(&sub_r).await.unwrap();

    let eip_r = resolved("ec2.eip", &s, "nat_eip", json!({}));
    let eip = p.create(&eip_r).await.unwrap();
    assert_attrs(&eip_r, &eip);
    assert_eq!(
        eip.physical_id,
        eip.attributes["allocation_id"].as_str().unwrap()
    );
    assert_eq!(
        p.create(&eip_r).await.unwrap(),
        eip,
        "create adopts the tagged address"
    );
    let n = ec2
        .describe_addresses()
        .set_filters(Some(tag_filters(&s, "nat_eip")))
        .send()
        .await
        .unwrap()
        .addresses()
        .len();
    assert_eq!(n, 1, "no duplicate address");
    let eip_st = state(&eip_r, &eip);
    let o = p.read("nat_eip", &eip_st).await.unwrap().unwrap();
    assert_eq!(o.applied, eip);
    assert_reads_back(eip_r.kind, &eip_r.properties, &o.properties);
    assert_recovers(&p, "nat_eip", &eip_st).await;
    let mut eip_r2 = eip_r.clone();
    eip_r2.tags.insert("team".into(), "net".into());
    assert_eq!(
        p.update(&eip_r2, &eip_st, &["tags".into()]).await.unwrap(),
        eip
    );
    let eip_st = updated(&eip_r2, &eip);
    assert_recovers(&p, "nat_eip", &eip_st).await;

    let nat_r = resolved(
        "ec2.nat_gateway",
        &s,
        "nat",
        json!({ "subnet_id": sub.physical_id, "allocation_id": eip.physical_id }),
    );
    let nat = p.create(&nat_r).await.unwrap();
    assert_attrs(&nat_r, &nat);
    let g = ec2
        .describe_nat_gateways()
        .nat_gateway_ids(&nat.physical_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.nat_gateways()[0].state().map(|s| s.as_str()),
        Some("available"),
        "create waits until available"
    );
    assert_eq!(
        p.create(&nat_r).await.unwrap().physical_id,
        nat.physical_id,
        "create adopts"
    );
    let nat_st = state(&nat_r, &nat);
    let o = p.read("nat", &nat_st).await.unwrap().unwrap();
    assert_reads_back(nat_r.kind, &nat_r.properties, &o.properties);
    assert_recovers(&p, "nat", &nat_st).await;
    let mut nat_r2 = nat_r.clone();
    nat_r2.tags.insert("team".into(), "net".into());
    p.update(&nat_r2, &nat_st, &["tags".into()]).await.unwrap();
    let nat_st = updated(&nat_r2, &nat);
    assert_recovers(&p, "nat", &nat_st).await;

    // A private route table routing through the NAT gateway.
    let rt_r = resolved(
        "ec2.route_table",
        &s,
        "private_rt",
        json!({ "vpc_id": v.physical_id, "routes": [{ "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.physical_id }] }),
    );
    let rt = p.create(&rt_r).await.unwrap();
    let rt_st = state(&rt_r, &rt);
    let o = p.read("private_rt", &rt_st).await.unwrap().unwrap();
    assert_reads_back(rt_r.kind, &rt_r.properties, &o.properties);
    assert_recovers(&p, "private_rt", &rt_st).await;
    delete_twice(&p, "private_rt", &rt_st).await;

    // The gateway is deleted (waited for), then its address and subnet go.
    delete_twice(&p, "nat", &nat_st).await;
    delete_twice(&p, "nat_eip", &eip_st).await;
    p.delete("public_a", &state(&sub_r, &sub)).await.unwrap();
}

#[tokio::test]
async fn vpc_endpoint_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("vpce");
    let (_, v) = vpc(&p, &s, "vpc", "10.46.0.0/16").await;
    let mut tables = vec![];
    for id in ["rt_a", "rt_b"] {
        let r = resolved(
            "ec2.route_table",
            &s,
            id,
            json!({ "vpc_id": v.physical_id }),
        );
        tables.push(p.create(&r).await.unwrap().physical_id);
    }

    // Gateway endpoint on route tables.
    let r = resolved(
        "ec2.vpc_endpoint",
        &s,
        "dynamodb_endpoint",
        json!({ "vpc_id": v.physical_id, "service": "dynamodb", "route_table_ids": [tables[0]] }),
    );
    let a = p.create(&r).await.unwrap();
    assert_attrs(&r, &a);
    assert_eq!(
        p.create(&r).await.unwrap(),
        a,
        "create adopts the tagged endpoint"
    );
    let out = ec2
        .describe_vpc_endpoints()
        .set_filters(Some(tag_filters(&s, "dynamodb_endpoint")))
        .send()
        .await
        .unwrap();
    assert_eq!(out.vpc_endpoints().len(), 1, "no duplicate endpoint");
    let e = &out.vpc_endpoints()[0];
    assert_eq!(e.service_name(), Some("com.amazonaws.us-east-1.dynamodb"));
    assert_eq!(e.vpc_endpoint_type().map(|t| t.as_str()), Some("Gateway"));
    let rt = ec2
        .describe_route_tables()
        .route_table_ids(&tables[0])
        .send()
        .await
        .unwrap();
    assert!(
        rt.route_tables()[0]
            .routes()
            .iter()
            .any(|r| r.destination_prefix_list_id().is_some()),
        "the gateway endpoint's prefix-list route is on the table"
    );
    let st = state(&r, &a);
    let o = p.read("dynamodb_endpoint", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_eq!(
        o.properties["endpoint_type"],
        json!("Gateway"),
        "the type AWS reports is read too"
    );
    assert_recovers(&p, "dynamodb_endpoint", &st).await;

    let mut r2 = r.clone();
    r2.properties["route_table_ids"] = json!([tables[1], tables[0]]);
    r2.tags.insert("team".into(), "net".into());
    p.update(&r2, &st, &["route_table_ids".into(), "tags".into()])
        .await
        .unwrap();
    let st2 = updated(&r2, &a);
    let o = p.read("dynamodb_endpoint", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    // Without the applied order, the tables come in AWS's order: the spec
    // declares the list unordered.
    assert_recovers(&p, "dynamodb_endpoint", &st2).await;
    // Back to the first table only. (moto 5.2.5's ModifyVpcEndpoint does not
    // add the prefix-list routes of added tables, and its DeleteVpcEndpoints
    // then fails with InvalidRoute.NotFound on them; real AWS manages both.)
    let mut r3 = r2.clone();
    r3.properties["route_table_ids"] = json!([tables[0]]);
    p.update(&r3, &st2, &["route_table_ids".into()])
        .await
        .unwrap();
    let st2 = updated(&r3, &a);
    let o = p.read("dynamodb_endpoint", &st2).await.unwrap().unwrap();
    assert_reads_back(r3.kind, &r3.properties, &o.properties);
    assert_recovers(&p, "dynamodb_endpoint", &st2).await;
    delete_twice(&p, "dynamodb_endpoint", &st2).await;

    // Interface endpoint in a subnet with a security group.
    let zone = az(&ec2, 0).await;
    let sub_r = resolved(
        "ec2.subnet",
        &s,
        "sub",
        json!({ "vpc_id": v.physical_id, "cidr_block": "10.46.0.0/24", "availability_zone": zone }),
    );
    let sub = p.create(&sub_r).await.unwrap().physical_id;
    let mut sgs = vec![];
    for id in ["sg_a", "sg_b"] {
        let r = resolved(
            "ec2.security_group",
            &s,
            id,
            json!({ "vpc_id": v.physical_id, "description": id }),
        );
        sgs.push(p.create(&r).await.unwrap().physical_id);
    }
    let r = resolved(
        "ec2.vpc_endpoint",
        &s,
        "secrets_endpoint",
        json!({
            "vpc_id": v.physical_id,
            "service": "secretsmanager",
            "endpoint_type": "Interface",
            "subnet_ids": [sub],
            "security_group_ids": [sgs[0]],
            "private_dns_enabled": true,
        }),
    );
    let a = p.create(&r).await.unwrap();
    assert_eq!(p.create(&r).await.unwrap(), a);
    let st = state(&r, &a);
    let o = p.read("secrets_endpoint", &st).await.unwrap().unwrap();
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_recovers(&p, "secrets_endpoint", &st).await;
    let mut r2 = r.clone();
    r2.properties["security_group_ids"] = json!([sgs[1]]);
    p.update(&r2, &st, &["security_group_ids".into()])
        .await
        .unwrap();
    let st2 = updated(&r2, &a);
    let o = p.read("secrets_endpoint", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    assert_recovers(&p, "secrets_endpoint", &st2).await;
    delete_twice(&p, "secrets_endpoint", &st2).await;
}

#[tokio::test]
async fn vpc_lifecycle() {
    let (p, ec2) = provider().await;
    let s = stack("vpc");
    let (r, a) = vpc(&p, &s, "vpc", "10.48.0.0/16").await;
    assert_attrs(&r, &a);
    assert_eq!(
        p.create(&r).await.unwrap(),
        a,
        "create adopts the tagged VPC"
    );
    let n = ec2
        .describe_vpcs()
        .set_filters(Some(tag_filters(&s, "vpc")))
        .send()
        .await
        .unwrap()
        .vpcs()
        .len();
    assert_eq!(n, 1, "no duplicate VPC");
    let st = state(&r, &a);
    let o = p.read("vpc", &st).await.unwrap().unwrap();
    assert_eq!(o.applied, a);
    assert_reads_back(r.kind, &r.properties, &o.properties);
    assert_recovers(&p, "vpc", &st).await;
    assert_eq!(o.properties["enable_dns_support"], json!(true));
    assert_eq!(
        o.properties["enable_dns_hostnames"],
        json!(true),
        "the kind's default: hostnames on"
    );
    let mut r2 = r.clone();
    r2.properties["enable_dns_hostnames"] = json!(false);
    p.update(&r2, &st, &["enable_dns_hostnames".into()])
        .await
        .unwrap();
    let st2 = updated(&r2, &a);
    let o = p.read("vpc", &st2).await.unwrap().unwrap();
    assert_reads_back(r2.kind, &r2.properties, &o.properties);
    assert_eq!(o.properties["enable_dns_hostnames"], json!(false));
    assert_recovers(&p, "vpc", &st2).await;
    delete_twice(&p, "vpc", &st2).await;
}
