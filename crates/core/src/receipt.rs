//! What the hub and relays answer to a submission: outcomes and receipts.
//!
//! The hub signs every receipt when it gives it (the signing and its wire form live elsewhere);
//! these are the signed contents.

use std::fmt;
use std::str::FromStr;

use crate::org::OrgId;
use crate::period::Period;
use crate::timestamp::Timestamp;

/// A report's id: the SHA-256 of the PAE bytes its signatures cover, so it does not depend on
/// who signed it (re-signing with a rotated key keeps the id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportId(pub [u8; 32]);

/// A report id that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("report id {0:?} is not 64 hex digits")]
pub struct ReportIdError(pub String);

/// What a stored envelope did to the view (DESIGN.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// It is the winner of its (org, period).
    Accepted,
    /// A higher revision wins; it is kept in history.
    Superseded,
    /// Another envelope has the same revision and another report id; both are kept as evidence.
    /// Takes precedence over superseded.
    Equivocation,
    /// Already held; nothing changed.
    Duplicate,
}

/// The outcome of one envelope, with the winner of its (org, period) at the moment it was given,
/// so that a node restored from a backup can move past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub winning_revision: u64,
    pub winning_report_id: ReportId,
}

/// The hub's receipt for one envelope, signed by the hub's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub report_id: ReportId,
    pub org: OrgId,
    pub period: Period,
    pub revision: u64,
    pub outcome: Outcome,
    /// When the hub gave this receipt.
    pub issued_at: Timestamp,
    /// When the hub (or a relay's custody receipt, if earlier) first held this report; for a
    /// duplicate, that earlier time.
    pub first_received_at: Timestamp,
}

/// One hub signature over the outcomes of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReceipt {
    pub issued_at: Timestamp,
    pub receipts: Vec<Receipt>,
}

/// A relay's promise that it holds a report durably and will forward it, signed by the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyReceipt {
    pub report_id: ReportId,
    pub relay: OrgId,
    pub org: OrgId,
    pub period: Period,
    pub revision: u64,
    pub received_at: Timestamp,
}

/// A relay's custody receipts for the relayed items of a batch it forwards, signed once by the
/// relay: what each item's own custody receipt says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyBatch {
    pub receipts: Vec<CustodyReceipt>,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Accepted => "accepted",
            OutcomeKind::Superseded => "superseded",
            OutcomeKind::Equivocation => "equivocation",
            OutcomeKind::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ReportId {
    /// Lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for ReportId {
    type Err = ReportIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ReportIdError(s.to_owned());
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        let mut id = [0u8; 32];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(ReportId(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_id_hex_round_trips() {
        let id = ReportId([0xab; 32]);
        assert_eq!(id.to_string(), "ab".repeat(32));
        assert_eq!(id.to_string().parse::<ReportId>(), Ok(id));
        assert!("ab".repeat(31).parse::<ReportId>().is_err());
        assert!("zz".repeat(32).parse::<ReportId>().is_err());
        assert!("+a".repeat(32).parse::<ReportId>().is_err());
    }
}
