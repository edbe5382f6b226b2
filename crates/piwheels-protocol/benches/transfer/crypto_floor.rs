//! The floor under the CURVE cells: what libsodium's `crypto_box` (XSalsa20-Poly1305, the
//! cipher CURVE puts every message through, once on each side) costs for the same bytes,
//! on one core, with no ZeroMQ, no copy and no socket. Linked from the libsodium that
//! Debian's libzmq itself uses.

use std::time::{Duration, Instant};

#[link(name = "sodium")]
unsafe extern "C" {
    fn sodium_init() -> i32;
    fn crypto_box_keypair(pk: *mut u8, sk: *mut u8) -> i32;
    fn crypto_box_beforenm(k: *mut u8, pk: *const u8, sk: *const u8) -> i32;
    fn crypto_box_easy_afternm(
        c: *mut u8,
        m: *const u8,
        mlen: u64,
        n: *const u8,
        k: *const u8,
    ) -> i32;
    fn crypto_box_open_easy_afternm(
        m: *mut u8,
        c: *const u8,
        clen: u64,
        n: *const u8,
        k: *const u8,
    ) -> i32;
}

/// `crypto_box_MACBYTES`.
const MAC: usize = 16;

/// The time to encrypt, then to decrypt, `size` bytes in `chunk`-byte messages.
pub fn crypto_box_times(size: u64, chunk: usize) -> (Duration, Duration) {
    let mut pk = [0u8; 32];
    let mut sk = [0u8; 32];
    let mut key = [0u8; 32];
    let nonce = [0u8; 24];
    let plain = vec![7u8; chunk];
    let mut sealed = vec![0u8; chunk + MAC];
    let mut opened = vec![0u8; chunk];
    // SAFETY: libsodium's documented calls, each buffer as large as the call writes
    // (keys 32 bytes, a sealed message its length plus the MAC, an opened one its length).
    unsafe {
        assert!(sodium_init() >= 0, "libsodium does not start");
        assert_eq!(crypto_box_keypair(pk.as_mut_ptr(), sk.as_mut_ptr()), 0);
        assert_eq!(
            crypto_box_beforenm(key.as_mut_ptr(), pk.as_ptr(), sk.as_ptr()),
            0
        );
    }
    let messages = size.div_ceil(chunk as u64);
    let started = Instant::now();
    for _ in 0..messages {
        // SAFETY: as above.
        let r = unsafe {
            crypto_box_easy_afternm(
                sealed.as_mut_ptr(),
                plain.as_ptr(),
                chunk as u64,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        assert_eq!(r, 0);
    }
    let encrypt = started.elapsed();
    let started = Instant::now();
    for _ in 0..messages {
        // SAFETY: as above.
        let r = unsafe {
            crypto_box_open_easy_afternm(
                opened.as_mut_ptr(),
                sealed.as_ptr(),
                (chunk + MAC) as u64,
                nonce.as_ptr(),
                key.as_ptr(),
            )
        };
        assert_eq!(r, 0, "a sealed message does not open");
    }
    (encrypt, started.elapsed())
}
