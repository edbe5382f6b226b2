//! Byte ranges: the building blocks of the file transfer's bookkeeping.
//!
//! piwheels keeps the bytes of a file it has yet to receive as a sorted list of ranges
//! (its `ranges` module: `consolidate`, `exclude`, `intersect`, `split`). These are the same
//! operations on [`Range<u64>`], half-open as Python's `range` is.
//!
//! A list is *consolidated* when its ranges are sorted, non-empty, and neither overlap nor
//! touch: the form [`consolidate`] returns and [`exclude`] keeps.
//!
//! ```
//! use piwheels_protocol::ranges::{consolidate, exclude, intersect, split};
//!
//! let mut missing = consolidate([0..10, 20..30, 8..12, 12..15]);
//! assert_eq!(missing, [0..15, 20..30]);
//! exclude(&mut missing, 5..22);
//! assert_eq!(missing, [0..5, 22..30]);
//! assert_eq!(intersect(&(0..5), &(3..8)), Some(3..5));
//! split(&mut missing, 25);
//! assert_eq!(missing, [0..5, 22..25, 25..30]);
//! ```

use std::ops::Range;

/// Sorts `ranges`, merges the ones that overlap or touch, and drops the empty ones
/// (including any whose start lies past its end).
///
/// The result is consolidated: sorted, non-empty, neither overlapping nor touching.
pub fn consolidate<I>(ranges: I) -> Vec<Range<u64>>
where
    I: IntoIterator<Item = Range<u64>>,
{
    let mut sorted: Vec<Range<u64>> = ranges.into_iter().filter(|r| r.start < r.end).collect();
    sorted.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Removes the bytes of `ex` from the consolidated list `ranges`, in place: ranges inside
/// `ex` go, ranges that overlap an end of it are trimmed, and a range that holds all of it
/// is split in two. The list stays consolidated.
///
/// The work is a binary search plus one splice, so removing a chunk from a long list of
/// missing ranges is cheap. `ranges` must be consolidated (as [`consolidate`] returns); on any
/// other list the result is unspecified, but this never panics.
pub fn exclude(ranges: &mut Vec<Range<u64>>, ex: Range<u64>) {
    if ex.start >= ex.end {
        return;
    }
    // The ranges that overlap `ex` are ranges[lo..hi].
    let lo = ranges.partition_point(|r| r.end <= ex.start);
    let hi = ranges.partition_point(|r| r.start < ex.end);
    if lo >= hi {
        return;
    }
    let first_start = ranges[lo].start;
    let last_end = ranges[hi - 1].end;
    let left = (first_start < ex.start).then_some(first_start..ex.start);
    let right = (ex.end < last_end).then_some(ex.end..last_end);
    match (left, right) {
        // The common cases in a transfer (a chunk arriving at the front of, or inside, one
        // missing range) are rewritten in place, without shifting the rest of the list.
        (Some(left), None) if hi - lo == 1 => ranges[lo] = left,
        (None, Some(right)) if hi - lo == 1 => ranges[lo] = right,
        (left, right) => {
            ranges.splice(lo..hi, left.into_iter().chain(right));
        }
    }
}

/// The bytes `a` and `b` have in common, or `None` when they have none.
pub fn intersect(a: &Range<u64>, b: &Range<u64>) -> Option<Range<u64>> {
    let start = a.start.max(b.start);
    let end = a.end.min(b.end);
    (start < end).then_some(start..end)
}

/// Splits, in place, every range of `ranges` that straddles `at` (starts before it and ends
/// after it) into `start..at` and `at..end`. Other ranges are left as they are, in order.
///
/// A consolidated list has at most one such range; the result then holds the same bytes,
/// still sorted, with `at` on a range boundary.
pub fn split(ranges: &mut Vec<Range<u64>>, at: u64) {
    let mut i = 0;
    while i < ranges.len() {
        let r = &mut ranges[i];
        if r.start < at && at < r.end {
            let end = r.end;
            r.end = at;
            ranges.insert(i + 1, at..end);
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// The number of bytes in `ranges` (counted once per range; for a consolidated list, the
/// number of distinct bytes).
pub fn total(ranges: &[Range<u64>]) -> u64 {
    ranges
        .iter()
        .map(|r| r.end.saturating_sub(r.start))
        .fold(0, u64::saturating_add)
}
