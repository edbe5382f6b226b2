//! The inotify record parser on arbitrary and on well-formed input.

use butter::inotify::{Event, HEADER_SIZE, Mask, WatchEvent, Wd, parse};
use proptest::prelude::*;

fn record(wd: i32, mask: u32, cookie: u32, name: &[u8], pad_to: usize) -> Vec<u8> {
    let len = if name.is_empty() {
        0
    } else {
        (name.len() + 1).div_ceil(pad_to) * pad_to
    };
    let mut r = Vec::with_capacity(HEADER_SIZE + len);
    r.extend_from_slice(&wd.to_ne_bytes());
    r.extend_from_slice(&mask.to_ne_bytes());
    r.extend_from_slice(&cookie.to_ne_bytes());
    r.extend_from_slice(&(len as u32).to_ne_bytes());
    r.extend_from_slice(name);
    r.resize(HEADER_SIZE + len, 0);
    r
}

#[test]
fn parses_the_kernel_layout() {
    let mut buf = record(1, libc::IN_CREATE, 0, b"abc", 16);
    assert_eq!(buf.len(), 32, "abc is padded to 16 bytes");
    buf.extend(record(1, libc::IN_DELETE_SELF, 0, b"", 16));
    buf.extend(record(-1, libc::IN_Q_OVERFLOW, 0, b"", 16));
    let evs: Vec<_> = parse(&buf).map(|e| e.unwrap().to_owned()).collect();
    assert_eq!(evs.len(), 3);
    let w = evs[0].as_watch().unwrap();
    assert_eq!(
        (w.wd, w.mask, w.name_bytes()),
        (Wd::from_raw(1), Mask::CREATE, Some(&b"abc"[..]))
    );
    assert_eq!(evs[1].as_watch().unwrap().name, None);
    assert_eq!(evs[2], Event::Overflow);
}

#[test]
fn truncated_records_end_the_parse_with_an_error() {
    let full = record(3, libc::IN_MODIFY, 0, b"name", 16);
    for cut in 1..full.len() {
        let mut it = parse(&full[..cut]);
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(err.needed as usize > cut && err.available == cut, "{err}");
        assert!(it.next().is_none());
    }
    // A record that claims four gigabytes.
    let mut huge = record(3, libc::IN_MODIFY, 0, b"", 16);
    huge[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
    let err = parse(&huge).next().unwrap().unwrap_err();
    assert_eq!(err.needed, 16 + u32::MAX as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes: no panic, no loop; every event consumed at least a header; at most one
    /// error, and only at the end.
    #[test]
    fn never_panics_or_loops(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut n = 0;
        let mut errors = 0;
        let mut it = parse(&buf);
        while let Some(item) = it.next() {
            n += 1;
            prop_assert!(n * HEADER_SIZE <= buf.len() + HEADER_SIZE);
            if item.is_err() {
                errors += 1;
                prop_assert!(it.remaining().is_empty());
            }
        }
        prop_assert!(errors <= 1);
    }

    /// Well-formed records come back exactly.
    #[test]
    fn round_trips_well_formed_records(
        recs in proptest::collection::vec(
            (any::<i32>(), any::<u32>(), any::<u32>(), proptest::collection::vec(1u8..=255, 0..40), 1usize..=32),
            0..20,
        )
    ) {
        let mut buf = Vec::new();
        for (wd, mask, cookie, name, pad) in &recs {
            buf.extend(record(*wd, *mask, *cookie, name, *pad));
        }
        let got: Vec<Event> = parse(&buf).map(|e| e.unwrap().to_owned()).collect();
        prop_assert_eq!(got.len(), recs.len());
        for (ev, (wd, mask, cookie, name, _)) in got.iter().zip(&recs) {
            if mask & libc::IN_Q_OVERFLOW != 0 {
                prop_assert_eq!(ev, &Event::Overflow);
                continue;
            }
            let expect = WatchEvent {
                wd: Wd::from_raw(*wd),
                mask: Mask::from_bits_retain(*mask),
                cookie: *cookie,
                name: (!name.is_empty()).then(|| name.as_slice().into()),
            };
            prop_assert_eq!(ev, &Event::Watch(expect));
        }
    }
}
