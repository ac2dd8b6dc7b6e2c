//! Each provider's typed properties against its kind's spec: every property
//! the spec declares deserialises into the struct and comes back under the
//! same name (a misspelt or missing field fails here, not at run time), and
//! so does the smallest valid set (only the required properties).

use archform_blueprint::kinds::{Kind, Ty, sample, sample_required};

#[test]
fn every_provider_types_exactly_its_kinds_properties() {
    let mut untyped = Vec::new();
    for kind in Kind::ALL {
        for (what, props) in [
            ("every property", sample(&Ty::Obj(kind.props))),
            (
                "the required properties",
                sample_required(&Ty::Obj(kind.props)),
            ),
        ] {
            match archform_aws::props_round_trip(*kind, props.clone()) {
                None => {
                    untyped.push(kind.name());
                    break;
                }
                Some(Ok(back)) => assert_eq!(
                    back, props,
                    "{kind}: {what} did not come back the same through the provider's Props"
                ),
                Some(Err(e)) => panic!("{kind}: {what} do not fit the provider's Props: {e}"),
            }
        }
    }
    assert!(
        untyped.is_empty(),
        "providers still reading properties by name: {untyped:?}"
    );
}
