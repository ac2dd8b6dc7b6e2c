//! The registry of resource kinds.
//!
//! One declarative spec per kind drives everything generic: schema checks
//! (unknown fields, types, required fields), the attributes a kind exports,
//! which property changes force a replacement, physical naming rules, tags and
//! the CloudFormation type. Adding a kind means one spec in one domain module
//! plus one line in [`ALL`].

mod compute;
mod data;
mod edge;
mod messaging;
mod network;
mod security;

use serde::Serialize;

/// The type of a property value.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    /// Any text; `${id.attr}` references may appear inside.
    Str,
    Int {
        min: i64,
        max: i64,
    },
    /// One of a fixed set of integers (log retention days, for instance).
    IntSet(&'static [i64]),
    Bool,
    /// An IPv4 CIDR block.
    Cidr,
    Enum(&'static [&'static str]),
    List(&'static Ty),
    /// Free keys (text) with values of one type: environment variables.
    Map(&'static Ty),
    Obj(&'static [Prop]),
    /// A free-form JSON document: IAM policies, SNS filter policies.
    Doc,
}

/// What a change of the property does to an existing resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Update {
    InPlace,
    Replace,
}

#[derive(Clone, Copy, Debug)]
pub struct Prop {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub update: Update,
}

impl Prop {
    /// Changing this property deletes and recreates the resource.
    pub const fn replace(mut self) -> Self {
        self.update = Update::Replace;
        self
    }
}

pub const fn opt(name: &'static str, ty: Ty) -> Prop {
    Prop {
        name,
        ty,
        required: false,
        update: Update::InPlace,
    }
}

pub const fn req(name: &'static str, ty: Ty) -> Prop {
    Prop {
        name,
        ty,
        required: true,
        update: Update::InPlace,
    }
}

pub const STR: Ty = Ty::Str;
pub const BOOL: Ty = Ty::Bool;
pub const STRS: Ty = Ty::List(&Ty::Str);
pub const fn int(min: i64, max: i64) -> Ty {
    Ty::Int { min, max }
}

/// How an exported attribute is read in CloudFormation.
#[derive(Clone, Copy, Debug)]
pub enum CfnAttr {
    Ref,
    GetAtt(&'static str),
    /// A `Fn::Sub` template where `${Self}` stands for the resource's logical id.
    Sub(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub name: &'static str,
    pub cfn: CfnAttr,
}

pub const fn attr(name: &'static str, cfn: CfnAttr) -> Attr {
    Attr { name, cfn }
}

/// Character rules of a kind's physical name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Letters, digits, hyphens; no leading or trailing hyphen (ALB, target group).
    AlnumHyphen,
    /// Letters, digits, hyphens, underscores (Lambda, SQS, SNS).
    AlnumHyphenUnderscore,
    /// IAM: letters, digits and `+=,.@_-`.
    Iam,
    /// DynamoDB: letters, digits, `_`, `-`, `.`.
    Dynamo,
    /// S3: lowercase letters, digits, hyphens, dots; starts and ends alphanumeric.
    S3,
    /// RDS identifiers: start with a letter, letters/digits/hyphens, no `--`, no trailing hyphen.
    Rds,
    /// Log groups: letters, digits, `_-./#`.
    LogGroup,
    /// Anything printable (security group names, API names, secrets).
    Printable,
}

#[derive(Clone, Copy, Debug)]
pub struct Naming {
    pub min_len: usize,
    pub max_len: usize,
    pub charset: Charset,
    /// The CloudFormation property that holds the name.
    pub cfn_prop: &'static str,
    /// Fixed text put before the derived name (log groups: `/archform/`).
    pub prefix: &'static str,
    /// Names that must be unique across all accounts (S3) get the account id
    /// and region appended at apply time; validation reserves room for them.
    pub global: bool,
    /// Whether the derived name is lowercased (S3, RDS identifiers).
    pub lowercase: bool,
}

pub const fn naming(max_len: usize, charset: Charset, cfn_prop: &'static str) -> Naming {
    Naming {
        min_len: 1,
        max_len,
        charset,
        cfn_prop,
        prefix: "",
        global: false,
        lowercase: false,
    }
}

/// How CloudFormation takes tags for this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tags {
    /// `[{Key, Value}]`.
    List,
    /// `{key: value}` (API Gateway v2, SSM).
    Map,
    /// The AWS API cannot tag this sub-resource; it belongs to its parent.
    Untaggable,
}

/// Where a kind sits in architecture diagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Network,
    Edge,
    Compute,
    Data,
    Messaging,
    Security,
    /// Wiring between other resources (routes, permissions, subscriptions):
    /// drawn as arrows, not boxes.
    Wiring,
}

#[derive(Clone, Copy, Debug)]
pub struct KindSpec {
    pub name: &'static str,
    pub summary: &'static str,
    pub cfn_type: &'static str,
    pub props: &'static [Prop],
    pub attrs: &'static [Attr],
    pub naming: Option<Naming>,
    pub tags: Tags,
    pub role: Role,
}

impl KindSpec {
    pub fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name)
    }
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
    pub fn attr_names(&self) -> Vec<&'static str> {
        self.attrs.iter().map(|a| a.name).collect()
    }
}

pub static ALL: &[&KindSpec] = &[
    &network::VPC,
    &network::SUBNET,
    &network::INTERNET_GATEWAY,
    &network::EIP,
    &network::NAT_GATEWAY,
    &network::ROUTE_TABLE,
    &network::SECURITY_GROUP,
    &network::VPC_ENDPOINT,
    &security::IAM_ROLE,
    &security::SECRET,
    &compute::LOG_GROUP,
    &compute::FUNCTION,
    &compute::PERMISSION,
    &compute::EVENT_SOURCE_MAPPING,
    &compute::FUNCTION_URL,
    &messaging::QUEUE,
    &messaging::QUEUE_POLICY,
    &messaging::TOPIC,
    &messaging::SUBSCRIPTION,
    &data::TABLE,
    &data::BUCKET,
    &data::DB_SUBNET_GROUP,
    &data::DB_INSTANCE,
    &edge::LOAD_BALANCER,
    &edge::TARGET_GROUP,
    &edge::LAMBDA_TARGET,
    &edge::LISTENER,
    &edge::LISTENER_RULE,
    &edge::API,
    &edge::INTEGRATION,
    &edge::ROUTE,
    &edge::STAGE,
    &edge::DEPLOYMENT,
];

pub fn lookup(name: &str) -> Option<&'static KindSpec> {
    ALL.iter().copied().find(|k| k.name == name)
}

/// Attributes of the built-in `aws` pseudo-resource, resolved at apply time
/// from the target account (STS, DescribeAvailabilityZones).
pub const AWS_ATTRS: &[&str] = &[
    "region",
    "account_id",
    "partition",
    "url_suffix",
    "az0",
    "az1",
    "az2",
    "az3",
    "az4",
    "az5",
];

/// Brings a resolved value to its declared type. References resolve to the
/// attribute's own JSON type (a port is a number), but a property declared
/// as text (an environment variable) must hold text, or AWS, which stores
/// text, would differ from the plan on every run.
pub fn coerce_value(ty: &Ty, v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match (ty, v) {
        (Ty::Str | Ty::Cidr | Ty::Enum(_), J::Number(n)) => J::String(n.to_string()),
        (Ty::Str | Ty::Cidr | Ty::Enum(_), J::Bool(b)) => J::String(b.to_string()),
        (Ty::Int { .. } | Ty::IntSet(_), J::String(s)) => match s.parse::<i64>() {
            Ok(i) => J::from(i),
            Err(_) => J::String(s),
        },
        (Ty::List(item), J::Array(a)) => {
            J::Array(a.into_iter().map(|x| coerce_value(item, x)).collect())
        }
        (Ty::Map(item), J::Object(m)) => J::Object(
            m.into_iter()
                .map(|(k, x)| (k, coerce_value(item, x)))
                .collect(),
        ),
        (Ty::Obj(props), J::Object(m)) => J::Object(
            m.into_iter()
                .map(|(k, x)| {
                    let x = match props.iter().find(|p| p.name == k) {
                        Some(p) => coerce_value(&p.ty, x),
                        None => x,
                    };
                    (k, x)
                })
                .collect(),
        ),
        (_, v) => v,
    }
}

/// [`coerce_value`] for a whole `properties` object of a kind.
pub fn coerce(kind: &KindSpec, props: serde_json::Value) -> serde_json::Value {
    coerce_value(&Ty::Obj(kind.props), props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kind_names_and_cfn_types_are_unique() {
        let mut names = HashSet::new();
        for k in ALL {
            assert!(names.insert(k.name), "duplicate kind {}", k.name);
            assert!(k.cfn_type.starts_with("AWS::") || k.cfn_type.is_empty());
            let mut props = HashSet::new();
            for p in k.props {
                assert!(
                    props.insert(p.name),
                    "{}: duplicate prop {}",
                    k.name,
                    p.name
                );
            }
        }
    }
}
