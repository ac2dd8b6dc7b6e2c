//! Whether two values of a property mean the same to AWS: the desired value
//! and what AWS holds (plan), or what was last applied and what AWS holds
//! now (drift). Reads return every property AWS reports, so a property the
//! blueprint leaves out is compared with what the omission means
//! ([`Absent`]), and a write-only one only where AWS has a value to show.

use super::{Absent, Prop, Ty};
use serde_json::Value;

/// `desired` (the blueprint's value, `None` when left out) and `current`
/// (AWS's or the state's, `None` when it has none) of one property.
pub fn same_prop(p: &Prop, desired: Option<&Value>, current: Option<&Value>) -> bool {
    let desired = desired.filter(|v| !v.is_null());
    let current = current.filter(|v| !v.is_null());
    match (desired, current) {
        (None, None) => true,
        // Nothing to compare with: a write-only value is taken as applied.
        (Some(_), None) if p.write_only => true,
        (None, Some(c)) => match p.absent {
            Absent::Chosen => true,
            Absent::Default(d) => same_value(&p.ty, &d.json(), c),
            Absent::Unset => is_empty(c),
        },
        (Some(d), None) => match p.absent {
            Absent::Default(x) => same_value(&p.ty, d, &x.json()),
            Absent::Unset | Absent::Chosen => is_empty(d),
        },
        (Some(d), Some(c)) => match (&p.ty, d, c) {
            (Ty::List(item), Value::Array(d), Value::Array(c)) if p.unordered => {
                same_elements(item, d, c)
            }
            _ => same_value(&p.ty, d, c),
        },
    }
}

/// The same elements in any order (each matched once).
fn same_elements(item: &Ty, desired: &[Value], current: &[Value]) -> bool {
    if desired.len() != current.len() {
        return false;
    }
    let mut left: Vec<&Value> = current.iter().collect();
    desired
        .iter()
        .all(|d| match left.iter().position(|c| same_value(item, d, c)) {
            Some(i) => {
                left.swap_remove(i);
                true
            }
            None => false,
        })
}

/// Two present values of type `ty`: objects property by property (with the
/// rules of [`same_prop`]), lists element by element in order, maps key by
/// key, anything else exactly.
pub fn same_value(ty: &Ty, desired: &Value, current: &Value) -> bool {
    match (ty, desired, current) {
        (Ty::Obj(props), Value::Object(d), Value::Object(c)) => d
            .keys()
            .chain(c.keys().filter(|k| !d.contains_key(*k)))
            .all(|k| match props.iter().find(|p| p.name == k) {
                Some(p) => same_prop(p, d.get(k), c.get(k)),
                None => d.get(k) == c.get(k),
            }),
        (Ty::List(item), Value::Array(d), Value::Array(c)) => {
            d.len() == c.len() && d.iter().zip(c).all(|(d, c)| same_value(item, d, c))
        }
        (Ty::Map(item), Value::Object(d), Value::Object(c)) => {
            d.len() == c.len()
                && d.iter()
                    .all(|(k, d)| c.get(k).is_some_and(|c| same_value(item, d, c)))
        }
        _ => desired == current,
    }
}

/// Empty text, list or object: what AWS reports for "nothing".
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{Scalar, opt};
    use serde_json::json;

    #[test]
    fn an_omitted_property_is_its_default() {
        let p = opt(
            "memory_size",
            Ty::Int {
                min: 128,
                max: 10240,
            },
        )
        .default_int(128);
        assert!(same_prop(&p, None, Some(&json!(128))));
        assert!(!same_prop(&p, None, Some(&json!(256))));
        assert!(same_prop(&p, Some(&json!(128)), None));
        assert!(!same_prop(&p, Some(&json!(512)), None));
        assert_eq!(p.absent, Absent::Default(Scalar::Int(128)));
    }

    #[test]
    fn an_omitted_unset_property_must_be_empty_in_aws() {
        let p = opt("description", Ty::Str);
        assert!(same_prop(&p, None, Some(&json!(""))));
        assert!(!same_prop(&p, None, Some(&json!("set outside"))));
        assert!(!same_prop(&p, Some(&json!("x")), None));
    }

    #[test]
    fn an_omitted_list_is_its_json_default() {
        const RULE: Ty = Ty::Obj(&[opt("cidr", Ty::Str), opt("description", Ty::Str)]);
        let p = opt("egress", Ty::List(&RULE)).default_json(r#"[{"cidr": "0.0.0.0/0"}]"#);
        assert!(same_prop(&p, None, Some(&json!([{"cidr": "0.0.0.0/0"}]))));
        assert!(!same_prop(&p, None, Some(&json!([]))));
        assert!(!same_prop(&p, None, Some(&json!([{"cidr": "10.0.0.0/8"}]))));
        assert!(same_prop(&p, Some(&json!([{"cidr": "0.0.0.0/0"}])), None));
    }

    #[test]
    fn a_chosen_property_accepts_what_aws_picked() {
        let p = opt("kms_key_id", Ty::Str).chosen();
        assert!(same_prop(&p, None, Some(&json!("arn:aws:kms:key/1"))));
        assert!(!same_prop(&p, Some(&json!("a")), Some(&json!("b"))));
    }

    #[test]
    fn write_only_parts_compare_only_when_both_sides_have_them() {
        const CODE: Ty = Ty::Obj(&[opt("zip", Ty::Str).write_only(), opt("sha256", Ty::Str)]);
        let p = opt("code", CODE);
        let desired = json!({"zip": "/tmp/a.zip", "sha256": "ab"});
        assert!(same_prop(
            &p,
            Some(&desired),
            Some(&json!({"sha256": "ab"}))
        ));
        assert!(!same_prop(
            &p,
            Some(&desired),
            Some(&json!({"sha256": "cd"}))
        ));
        assert!(!same_prop(
            &p,
            Some(&desired),
            Some(&json!({"zip": "/tmp/b.zip", "sha256": "ab"}))
        ));
    }

    #[test]
    fn unordered_lists_compare_as_sets() {
        let p = opt("subnet_ids", Ty::List(&Ty::Str)).unordered();
        let (a, b) = (json!(["s-1", "s-2"]), json!(["s-2", "s-1"]));
        assert!(same_prop(&p, Some(&a), Some(&b)));
        assert!(!same_prop(&p, Some(&a), Some(&json!(["s-1", "s-1"]))));
        assert!(!same_prop(&p, Some(&a), Some(&json!(["s-1"]))));
        let ordered = opt("subnet_ids", Ty::List(&Ty::Str));
        assert!(!same_prop(&ordered, Some(&a), Some(&b)));
    }

    #[test]
    fn lists_keep_order_and_nested_defaults_apply() {
        const GSI: Ty = Ty::Obj(&[
            opt("name", Ty::Str),
            opt("projection", Ty::Str).default_str("ALL"),
        ]);
        let p = opt("indexes", Ty::List(&GSI));
        let desired = json!([{"name": "a"}, {"name": "b"}]);
        let aws = json!([{"name": "a", "projection": "ALL"}, {"name": "b", "projection": "ALL"}]);
        assert!(same_prop(&p, Some(&desired), Some(&aws)));
        let swapped =
            json!([{"name": "b", "projection": "ALL"}, {"name": "a", "projection": "ALL"}]);
        assert!(!same_prop(&p, Some(&desired), Some(&swapped)));
    }
}
