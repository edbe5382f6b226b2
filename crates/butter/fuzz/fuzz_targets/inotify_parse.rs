//! Fuzzes the inotify record parser: no input may make it panic or loop, and what it
//! accepts must be consistent with the bytes.
#![no_main]

use butter::inotify::{Event, HEADER_SIZE, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut it = parse(data);
    let mut consumed = 0usize;
    let mut steps = 0usize;
    while let Some(item) = it.next() {
        steps += 1;
        // Every step consumes at least a header, so this bounds the iteration.
        assert!(steps <= data.len() / HEADER_SIZE + 1);
        match item {
            Ok(ev) => {
                let left = it.remaining().len();
                let step = data.len() - consumed - left;
                assert!(step >= HEADER_SIZE);
                if let Event::Watch(w) = &ev {
                    if let Some(name) = w.name {
                        assert!(name.len() + HEADER_SIZE <= step);
                        assert!(!name.contains(&0));
                    }
                }
                let owned = ev.to_owned();
                assert_eq!(owned.is_overflow(), ev.is_overflow());
                consumed += step;
            }
            Err(e) => {
                assert_eq!(e.offset, consumed);
                assert!(it.remaining().is_empty());
                assert!(it.next().is_none());
                break;
            }
        }
    }
});
