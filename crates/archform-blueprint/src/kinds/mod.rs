//! The registry of resource kinds.
//!
//! A kind is a [`Kind`], a plain enum: every table that treats kinds
//! differently (the provider in archform-aws, the CloudFormation and diagram
//! exports, the inventory, `archform dev`) matches it exhaustively, so a new
//! kind that one of them forgets does not compile. CONTRIBUTING.md lists the
//! places.
//!
//! One declarative spec per kind ([`KindSpec`], reached with
//! [`Kind::spec`]) drives everything generic: schema checks (unknown fields,
//! types, required fields), the attributes a kind exports, which property
//! changes force a replacement, the value AWS assumes for an omitted
//! property, physical naming rules, tags and the CloudFormation type.

mod compare;
mod compute;
mod data;
mod edge;
mod messaging;
mod network;
mod security;

pub use compare::{same_prop, same_value};

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
    /// What AWS holds when the blueprint leaves the property out.
    pub absent: Absent,
    /// AWS cannot return the value (a zip's path on this machine, a value
    /// only archform knows): it is compared with what was last applied, and
    /// taken as applied when AWS has no record to compare with.
    pub write_only: bool,
    /// A list whose order means nothing to AWS (subnet ids, rules): AWS
    /// returns it in an order of its own, so two lists with the same
    /// elements are the same.
    pub unordered: bool,
}

/// What AWS holds for a property the blueprint leaves out. A read returns
/// every property AWS reports; this decides which of those values are a
/// change and which are what the omission means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// Nothing (or an empty value): any other value read back is a change.
    Unset,
    /// This value (AWS's default, or the one archform sends): a different
    /// value read back is a change.
    Default(Scalar),
    /// A value AWS picks itself (an account default key, an assigned
    /// address): whatever AWS holds is accepted.
    Chosen,
}

/// A constant property value, for [`Absent::Default`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Str(&'static str),
    /// A list or object, as JSON text (the rules AWS gives every new
    /// security group). The kinds' tests parse every one.
    Json(&'static str),
}

impl Scalar {
    pub fn json(self) -> serde_json::Value {
        match self {
            Scalar::Bool(b) => b.into(),
            Scalar::Int(i) => i.into(),
            Scalar::Str(s) => s.into(),
            Scalar::Json(text) => {
                serde_json::from_str(text).expect("a spec's JSON default is valid JSON")
            }
        }
    }
}

impl Prop {
    /// Changing this property deletes and recreates the resource.
    pub const fn replace(mut self) -> Self {
        self.update = Update::Replace;
        self
    }
    /// Left out, the property is `value` in AWS.
    pub const fn default(mut self, value: Scalar) -> Self {
        self.absent = Absent::Default(value);
        self
    }
    pub const fn default_bool(self, value: bool) -> Self {
        self.default(Scalar::Bool(value))
    }
    pub const fn default_int(self, value: i64) -> Self {
        self.default(Scalar::Int(value))
    }
    pub const fn default_str(self, value: &'static str) -> Self {
        self.default(Scalar::Str(value))
    }
    /// Left out, the property is this list or object (JSON text) in AWS.
    pub const fn default_json(self, value: &'static str) -> Self {
        self.default(Scalar::Json(value))
    }
    /// Left out, AWS picks the value and any value it holds is accepted.
    pub const fn chosen(mut self) -> Self {
        self.absent = Absent::Chosen;
        self
    }
    /// AWS cannot return the value.
    pub const fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    /// A list whose order means nothing to AWS.
    pub const fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }
}

pub const fn opt(name: &'static str, ty: Ty) -> Prop {
    Prop {
        name,
        ty,
        required: false,
        update: Update::InPlace,
        absent: Absent::Unset,
        write_only: false,
        unordered: false,
    }
}

pub const fn req(name: &'static str, ty: Ty) -> Prop {
    Prop {
        required: true,
        ..opt(name, ty)
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

/// Declares [`Kind`] with its variants, [`Kind::ALL`] and [`Kind::spec`]
/// from one list, so the three cannot disagree.
macro_rules! kinds {
    ($($variant:ident => $spec:path,)*) => {
        /// A resource kind. Match it exhaustively (no `_ =>` arm) wherever
        /// kinds are treated differently.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($variant,)*
        }

        impl Kind {
            /// Every kind, in the order `archform kinds` lists them.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            /// The kind's declarative spec.
            pub fn spec(self) -> &'static KindSpec {
                match self {
                    $(Kind::$variant => &$spec,)*
                }
            }
        }
    };
}

kinds! {
    Vpc => network::VPC,
    Subnet => network::SUBNET,
    InternetGateway => network::INTERNET_GATEWAY,
    Eip => network::EIP,
    NatGateway => network::NAT_GATEWAY,
    RouteTable => network::ROUTE_TABLE,
    SecurityGroup => network::SECURITY_GROUP,
    VpcEndpoint => network::VPC_ENDPOINT,
    IamRole => security::IAM_ROLE,
    Secret => security::SECRET,
    LogGroup => compute::LOG_GROUP,
    Function => compute::FUNCTION,
    Permission => compute::PERMISSION,
    EventSourceMapping => compute::EVENT_SOURCE_MAPPING,
    FunctionUrl => compute::FUNCTION_URL,
    Queue => messaging::QUEUE,
    QueuePolicy => messaging::QUEUE_POLICY,
    Topic => messaging::TOPIC,
    EmailIdentity => messaging::EMAIL_IDENTITY,
    Subscription => messaging::SUBSCRIPTION,
    Table => data::TABLE,
    Bucket => data::BUCKET,
    DbSubnetGroup => data::DB_SUBNET_GROUP,
    DbParameterGroup => data::DB_PARAMETER_GROUP,
    DbInstance => data::DB_INSTANCE,
    LoadBalancer => edge::LOAD_BALANCER,
    TargetGroup => edge::TARGET_GROUP,
    LambdaTarget => edge::LAMBDA_TARGET,
    Listener => edge::LISTENER,
    ListenerRule => edge::LISTENER_RULE,
    Api => edge::API,
    Integration => edge::INTEGRATION,
    Route => edge::ROUTE,
    Stage => edge::STAGE,
    Deployment => edge::DEPLOYMENT,
}

impl Kind {
    /// The kind's name in blueprints and state files (`ec2.vpc`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The kind named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

/// A kind reads as its spec (`kind.name`, `kind.props`, `kind.prop(..)`):
/// the spec is static data fixed by the kind.
impl std::ops::Deref for Kind {
    type Target = KindSpec;
    fn deref(&self) -> &KindSpec {
        self.spec()
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Kind::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown resource kind `{name}` (this build knows: {})",
                Kind::ALL
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }
}

/// The kind named `name`, if there is one.
pub fn lookup(name: &str) -> Option<Kind> {
    Kind::from_name(name)
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

/// A value of type `ty` with every property present (the first enum
/// member, the smallest number): for tests that check a table written per
/// kind (CloudFormation rules, providers' typed properties) against the
/// specs.
pub fn sample(ty: &Ty) -> serde_json::Value {
    use serde_json::json;
    match ty {
        Ty::Str => json!("sample"),
        Ty::Int { min, .. } => json!(min),
        Ty::IntSet(v) => json!(v[0]),
        Ty::Bool => json!(true),
        Ty::Cidr => json!("10.0.0.0/16"),
        Ty::Enum(v) => json!(v[0]),
        Ty::List(inner) => json!([sample(inner)]),
        Ty::Map(inner) => json!({"KEY": sample(inner)}),
        Ty::Obj(props) => serde_json::Value::Object(
            props
                .iter()
                .map(|p| (p.name.to_string(), sample(&p.ty)))
                .collect(),
        ),
        Ty::Doc => json!({"Version": "2012-10-17"}),
    }
}

/// Only the required properties of `ty`, recursively.
pub fn sample_required(ty: &Ty) -> serde_json::Value {
    match ty {
        Ty::Obj(props) => serde_json::Value::Object(
            props
                .iter()
                .filter(|p| p.required)
                .map(|p| (p.name.to_string(), sample_required(&p.ty)))
                .collect(),
        ),
        Ty::List(inner) => serde_json::Value::Array(vec![sample_required(inner)]),
        other => sample(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kind_names_and_cfn_types_are_unique() {
        let mut names = HashSet::new();
        for kind in Kind::ALL {
            let k = kind.spec();
            assert!(names.insert(k.name), "duplicate kind {}", k.name);
            assert_eq!(Kind::from_name(k.name), Some(*kind));
            assert!(k.cfn_type.starts_with("AWS::") || k.cfn_type.is_empty());
            let mut props = HashSet::new();
            for p in k.props {
                assert!(
                    props.insert(p.name),
                    "{}: duplicate prop {}",
                    k.name,
                    p.name
                );
                if let Absent::Default(Scalar::Json(text)) = p.absent {
                    let v: serde_json::Value = serde_json::from_str(text)
                        .unwrap_or_else(|e| panic!("{}.{}: default: {e}", k.name, p.name));
                    assert!(
                        v.is_array() || v.is_object(),
                        "{}.{}: a JSON default is a list or object",
                        k.name,
                        p.name
                    );
                }
            }
        }
    }
}
