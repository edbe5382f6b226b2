//! `ranges` against a model: a set of bytes over a small universe (0..256).

// A list holding one range is what these tests mean, not a range collected into a list.
#![allow(clippy::single_range_in_vec_init)]

use std::collections::BTreeSet;
use std::ops::Range;

use piwheels_protocol::ranges::{consolidate, exclude, intersect, split, total};
use proptest::prelude::*;

const UNIVERSE: u64 = 256;

/// The bytes a list of ranges holds.
fn bytes(ranges: &[Range<u64>]) -> BTreeSet<u64> {
    ranges.iter().flat_map(|r| r.clone()).collect()
}

/// Sorted, non-empty, neither overlapping nor touching.
fn is_consolidated(ranges: &[Range<u64>]) -> bool {
    ranges.iter().all(|r| r.start < r.end) && ranges.windows(2).all(|w| w[0].end < w[1].start)
}

/// Any range in the universe, empty and reversed ones included.
fn any_range() -> impl Strategy<Value = Range<u64>> {
    (0..=UNIVERSE, 0..=UNIVERSE).prop_map(|(a, b)| a..b)
}

fn any_list() -> impl Strategy<Value = Vec<Range<u64>>> {
    prop::collection::vec(any_range(), 0..12)
}

proptest! {
    #[test]
    fn consolidate_keeps_the_bytes_in_canonical_form(list in any_list()) {
        let out = consolidate(list.clone());
        prop_assert!(is_consolidated(&out), "{out:?}");
        prop_assert_eq!(bytes(&out), bytes(&list));
        prop_assert_eq!(total(&out), bytes(&list).len() as u64);
        // Idempotent.
        prop_assert_eq!(consolidate(out.clone()), out);
    }

    #[test]
    fn exclude_removes_exactly_the_excluded_bytes(list in any_list(), ex in any_range()) {
        let mut ranges = consolidate(list);
        let before = bytes(&ranges);
        exclude(&mut ranges, ex.clone());
        prop_assert!(is_consolidated(&ranges), "{ranges:?}");
        let removed: BTreeSet<u64> = ex.collect();
        prop_assert_eq!(bytes(&ranges), &before - &removed);
    }

    #[test]
    fn exclude_on_unconsolidated_input_never_panics(list in any_list(), ex in any_range()) {
        let mut ranges = list;
        exclude(&mut ranges, ex);
    }

    #[test]
    fn intersect_is_the_common_bytes(a in any_range(), b in any_range()) {
        let common = &a.clone().collect::<BTreeSet<u64>>() & &b.clone().collect::<BTreeSet<u64>>();
        match intersect(&a, &b) {
            None => prop_assert!(common.is_empty()),
            Some(r) => {
                prop_assert!(r.start < r.end);
                prop_assert_eq!(r.collect::<BTreeSet<u64>>(), common);
            }
        }
        prop_assert_eq!(intersect(&a, &b), intersect(&b, &a));
    }

    #[test]
    fn split_puts_a_boundary_at_the_point(list in any_list(), at in 0..=UNIVERSE) {
        let mut ranges = list.clone();
        split(&mut ranges, at);
        // The same bytes in the same order, and nothing straddles `at`.
        let flat = |rs: &[Range<u64>]| rs.iter().flat_map(|r| r.clone()).collect::<Vec<u64>>();
        prop_assert_eq!(flat(&ranges), flat(&list));
        prop_assert!(ranges.iter().all(|r| !(r.start < at && at < r.end)), "{ranges:?}");
        // Only straddling ranges were split, each into two.
        let straddling = list.iter().filter(|r| r.start < at && at < r.end).count();
        prop_assert_eq!(ranges.len(), list.len() + straddling);
        // On a consolidated list, the result stays sorted and keeps its bytes.
        let mut c = consolidate(list);
        let before = bytes(&c);
        split(&mut c, at);
        prop_assert!(c.windows(2).all(|w| w[0].end <= w[1].start));
        prop_assert_eq!(bytes(&c), before);
        prop_assert_eq!(consolidate(c.clone()), consolidate(c));
    }
}

#[test]
fn examples_from_the_original() {
    assert_eq!(consolidate([0..5, 4..10]), [0..10]);
    assert_eq!(consolidate([0..5, 5..10]), [0..10]);
    assert_eq!(consolidate([0..5, 6..10]), [0..5, 6..10]);
    let mut r = vec![0..10];
    exclude(&mut r, 2..4);
    assert_eq!(r, [0..2, 4..10]);
    exclude(&mut r, 0..2);
    assert_eq!(r, [4..10]);
    exclude(&mut r, 8..100);
    assert_eq!(r, [4..8]);
    exclude(&mut r, 0..100);
    assert!(r.is_empty());
    assert_eq!(intersect(&(0..10), &(5..15)), Some(5..10));
    assert_eq!(intersect(&(0..5), &(5..10)), None);
    let mut s = vec![0..10, 10..20];
    split(&mut s, 5);
    assert_eq!(s, [0..5, 5..10, 10..20]);
    split(&mut s, 10);
    assert_eq!(s, [0..5, 5..10, 10..20]);
}

#[test]
fn exclude_across_many_ranges() {
    let mut r = vec![0..2, 4..6, 8..10, 12..14];
    exclude(&mut r, 1..13);
    assert_eq!(r, [0..1, 13..14]);
    let mut r = vec![0..2, 4..6, 8..10];
    exclude(&mut r, 2..4);
    assert_eq!(r, [0..2, 4..6, 8..10]);
    exclude(&mut r, 5..5);
    assert_eq!(r, [0..2, 4..6, 8..10]);
    exclude(&mut r, u64::MAX - 1..u64::MAX);
    assert_eq!(r, [0..2, 4..6, 8..10]);
}
