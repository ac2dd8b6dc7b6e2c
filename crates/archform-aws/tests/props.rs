//! Each provider's typed properties against its kind's spec: every property
//! the spec declares deserialises into the struct and comes back under the
//! same name (a misspelt or missing field fails here, not at run time), and
//! so does the smallest valid set (only the required properties).

use archform_blueprint::kinds::{Kind, Ty, sample, sample_required};

#[test]
fn every_provider_types_exactly_its_kinds_properties() {
    for kind in Kind::ALL {
        for (what, props) in [
            ("every property", sample(&Ty::Obj(kind.props))),
            (
                "the required properties",
                sample_required(&Ty::Obj(kind.props)),
            ),
        ] {
            match archform_aws::props_round_trip(*kind, props.clone()) {
                Ok(back) => assert_eq!(
                    back, props,
                    "{kind}: {what} did not come back the same through the provider's Props"
                ),
                Err(e) => panic!("{kind}: {what} do not fit the provider's Props: {e}"),
            }
        }
    }
}

/// A misspelt property name is caught: the struct refuses what the spec
/// does not declare.
#[test]
fn a_property_the_spec_does_not_declare_is_refused() {
    for kind in Kind::ALL {
        let mut props = sample(&Ty::Obj(kind.props));
        props["no_such_property"] = serde_json::json!(1);
        assert!(
            archform_aws::props_round_trip(*kind, props).is_err(),
            "{kind}: an undeclared property was accepted"
        );
    }
}
