//! `overlap_flags` against upstream's pairwise loop (`validateResourceOverlap`), which it
//! replaces because it is quadratic in the length of one rule's resource list.

use proptest::prelude::*;

use super::overlap_flags;
use crate::resolve::GroupResource;

/// k8s.io/apiserver pkg/apis/apiserver/validation/validation_encryption.go
/// `validateResourceOverlap`, loop for loop: (duplicate, overlap).
fn pairwise(parsed: &[GroupResource]) -> (bool, bool) {
    let (mut has_overlap, mut has_duplicate) = (false, false);
    for (i, r1) in parsed.iter().enumerate() {
        for (j, r2) in parsed.iter().enumerate() {
            if i == j {
                continue;
            }
            if r1 == r2 && !has_duplicate {
                has_duplicate = true;
                continue;
            }
            if has_overlap {
                continue;
            }
            if r1.is_any() {
                has_overlap = true;
                continue;
            }
            if r1.group != r2.group {
                continue;
            }
            if r1.resource == "*" || r2.resource == "*" {
                has_overlap = true;
            }
        }
    }
    (has_duplicate, has_overlap)
}

fn resource() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("*.".to_owned()),
        Just("*.*".to_owned()),
        Just("*.apps".to_owned()),
        Just("secrets".to_owned()),
        Just("secrets.".to_owned()),
        Just("configmaps".to_owned()),
        Just("deployments.apps".to_owned()),
        Just("widgets.example.com".to_owned()),
        Just("secrets.*".to_owned()),
    ]
}

#[test]
fn the_first_equal_pair_is_not_an_overlap() {
    let parse = |rs: &[&str]| rs.iter().map(|r| GroupResource::parse(r)).collect::<Vec<_>>();
    // Upstream skips the first equal pair's overlap check; the mirror pair still overlaps.
    assert_eq!(overlap_flags(&parse(&["*.apps", "*.apps"])), (true, true));
    assert_eq!(overlap_flags(&parse(&["secrets", "secrets"])), (true, false));
    assert_eq!(overlap_flags(&parse(&["secrets", "*."])), (false, true));
    assert_eq!(overlap_flags(&parse(&["secrets", "configmaps"])), (false, false));
    assert_eq!(overlap_flags(&parse(&["*.*", "*.*"])), (true, true));
    assert_eq!(overlap_flags(&parse(&["*.*", "secrets"])), (false, true));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn flags_match_the_pairwise_loop(resources in proptest::collection::vec(resource(), 2..9)) {
        let parsed: Vec<GroupResource> = resources.iter().map(|r| GroupResource::parse(r)).collect();
        prop_assert_eq!(overlap_flags(&parsed), pairwise(&parsed));
    }
}
