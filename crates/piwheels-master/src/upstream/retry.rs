//! `Retry-After`: how long an upstream that answered `429 Too Many Requests` or `503
//! Service Unavailable` asks to be left alone, and the shared instant before which no
//! request goes to it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

/// The longest wait a `Retry-After` can impose; a longer one (or a date further ahead) is
/// cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// The wait a `Retry-After` value asks for, at most [`MAX_RETRY_AFTER`]: a number of
/// seconds, or an HTTP date (IMF-fixdate, as RFC 9110 has senders write it; a date past
/// is no wait). `None` for anything else (a negative or fractional number, words), which
/// is then ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: a delay, however many of them (too many for a u64 is a long one).
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    let now: DateTime<Utc> = now.into();
    let wait = (when - now).to_std().unwrap_or(Duration::ZERO);
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The instant before which no request may go to an upstream, shared by every clone of a
/// client.
#[derive(Debug, Clone, Default)]
pub(super) struct Gate(Arc<Mutex<Option<Instant>>>);

impl Gate {
    /// The instant, if it is still ahead.
    pub(super) fn closed_until(&self) -> Option<Instant> {
        let until = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        until.filter(|t| *t > Instant::now())
    }

    /// Keeps every request back until `until` at least.
    pub(super) fn close_until(&self, until: Instant) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_none_or(|t| t < until) {
            *held = Some(until);
        }
    }

    /// Waits until no `Retry-After` holds requests back (one that arrives meanwhile is
    /// waited for too).
    pub(super) async fn wait(&self) {
        while let Some(until) = self.closed_until() {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}
