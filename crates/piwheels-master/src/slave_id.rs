//! [`SlaveId`]: who builds or sends a file, as every task of the master names it.
//!
//! The wire carries slave ids as integers of two kinds (a signed one in `ACK`, monitors'
//! messages and the database, an unsigned one in the file transfer's `HELLO`): they are
//! turned into a `SlaveId` where they arrive, and back where they leave, so no task
//! converts (or forgets to check) in between.

use std::fmt;

/// A slave's id: 0 for `piw-import` ([`SlaveId::IMPORT`]), 1 and up for build slaves, in
/// the order they said `HELLO`. Always in `0..=i64::MAX`, so it fits both wire forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlaveId(u64);

/// A wire integer that is no slave id (negative, or past `i64::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad slave id {0}")]
pub struct BadSlaveId(pub i128);

impl SlaveId {
    /// The id files imported by `piw-import` are sent under.
    pub const IMPORT: SlaveId = SlaveId(0);
    /// The first build slave's id.
    pub const FIRST: SlaveId = SlaveId(1);

    /// The id after this one (for the next slave to say `HELLO`), saturating at the last.
    #[must_use]
    pub fn next(self) -> SlaveId {
        SlaveId((self.0 + 1).min(i64::MAX as u64))
    }

    /// The wire form of `ACK`, monitors' messages and the database.
    pub fn as_i64(self) -> i64 {
        // The invariant: at most i64::MAX.
        self.0 as i64
    }

    /// The wire form of the file transfer's `HELLO`.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl TryFrom<i64> for SlaveId {
    type Error = BadSlaveId;

    fn try_from(id: i64) -> Result<Self, BadSlaveId> {
        u64::try_from(id)
            .map(SlaveId)
            .map_err(|_| BadSlaveId(id.into()))
    }
}

impl TryFrom<u64> for SlaveId {
    type Error = BadSlaveId;

    fn try_from(id: u64) -> Result<Self, BadSlaveId> {
        if i64::try_from(id).is_ok() {
            Ok(SlaveId(id))
        } else {
            Err(BadSlaveId(id.into()))
        }
    }
}

impl fmt::Display for SlaveId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wire_forms_are_checked_and_round_trip() {
        assert_eq!(SlaveId::try_from(0_i64), Ok(SlaveId::IMPORT));
        assert_eq!(SlaveId::try_from(-1_i64), Err(BadSlaveId(-1)));
        assert_eq!(
            SlaveId::try_from(u64::MAX),
            Err(BadSlaveId(u64::MAX.into()))
        );
        let last = SlaveId::try_from(i64::MAX).unwrap();
        assert_eq!(SlaveId::try_from(last.as_u64()), Ok(last));
        assert_eq!(last.as_i64(), i64::MAX);
        assert_eq!(last.next(), last, "never past what the wire can carry");
        assert_eq!(SlaveId::FIRST.next().as_i64(), 2);
        assert_eq!(SlaveId::FIRST.to_string(), "1");
        assert_eq!(BadSlaveId(-3).to_string(), "bad slave id -3");
    }
}
