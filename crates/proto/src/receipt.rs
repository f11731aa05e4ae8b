//! Receipts, custody receipts and winning-revision statements to and from the wire.

use alliance_core::org::OrgId;
use alliance_core::period::Period;
use alliance_core::receipt::{
    BatchReceipt, CustodyBatch, CustodyReceipt, Outcome, Receipt, ReportId,
};
use alliance_core::timestamp::Timestamp;

use crate::enums;
use crate::error::{WireError, Within, fixed_bytes, parse};
use crate::pb;

/// The hub's signed statement of which revision wins an (org, period) at a moment. A node goes
/// past it when it assigns its next revision, so that a restored node never reuses a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinningRevision {
    pub org: OrgId,
    pub period: Period,
    /// None when the hub holds no report for (org, period).
    pub winner: Option<Winner>,
    /// The moment the statement describes.
    pub as_of: Timestamp,
}

/// The winning report of an (org, period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Winner {
    pub revision: u64,
    pub report_id: ReportId,
}

impl TryFrom<pb::Receipt> for Receipt {
    type Error = WireError;

    fn try_from(receipt: pb::Receipt) -> Result<Self, WireError> {
        Ok(Receipt {
            report_id: report_id(&receipt.report_id).within("report_id")?,
            org: parse(&receipt.org_id).within("org_id")?,
            period: parse(&receipt.period).within("period")?,
            revision: receipt.revision,
            outcome: Outcome {
                kind: enums::outcome_kind(receipt.outcome).within("outcome")?,
                winning_revision: receipt.winning_revision,
                winning_report_id: report_id(&receipt.winning_report_id)
                    .within("winning_report_id")?,
            },
            issued_at: Timestamp(receipt.issued_at_unix_seconds),
            first_received_at: Timestamp(receipt.first_received_at_unix_seconds),
        })
    }
}

impl From<&Receipt> for pb::Receipt {
    fn from(receipt: &Receipt) -> Self {
        pb::Receipt {
            report_id: receipt.report_id.0.to_vec(),
            org_id: receipt.org.to_string(),
            period: receipt.period.to_string(),
            revision: receipt.revision,
            outcome: enums::outcome_kind_to_i32(receipt.outcome.kind),
            winning_revision: receipt.outcome.winning_revision,
            winning_report_id: receipt.outcome.winning_report_id.0.to_vec(),
            issued_at_unix_seconds: receipt.issued_at.0,
            first_received_at_unix_seconds: receipt.first_received_at.0,
        }
    }
}

impl TryFrom<pb::BatchReceipt> for BatchReceipt {
    type Error = WireError;

    fn try_from(batch: pb::BatchReceipt) -> Result<Self, WireError> {
        Ok(BatchReceipt {
            issued_at: Timestamp(batch.issued_at_unix_seconds),
            receipts: batch
                .receipts
                .into_iter()
                .enumerate()
                .map(|(index, r)| Receipt::try_from(r).within_at("receipts", index))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&BatchReceipt> for pb::BatchReceipt {
    fn from(batch: &BatchReceipt) -> Self {
        pb::BatchReceipt {
            issued_at_unix_seconds: batch.issued_at.0,
            receipts: batch.receipts.iter().map(pb::Receipt::from).collect(),
        }
    }
}

impl TryFrom<pb::CustodyReceipt> for CustodyReceipt {
    type Error = WireError;

    fn try_from(custody: pb::CustodyReceipt) -> Result<Self, WireError> {
        Ok(CustodyReceipt {
            report_id: report_id(&custody.report_id).within("report_id")?,
            relay: parse(&custody.relay_id).within("relay_id")?,
            org: parse(&custody.org_id).within("org_id")?,
            period: parse(&custody.period).within("period")?,
            revision: custody.revision,
            received_at: Timestamp(custody.received_at_unix_seconds),
        })
    }
}

impl From<&CustodyReceipt> for pb::CustodyReceipt {
    fn from(custody: &CustodyReceipt) -> Self {
        pb::CustodyReceipt {
            report_id: custody.report_id.0.to_vec(),
            relay_id: custody.relay.to_string(),
            org_id: custody.org.to_string(),
            period: custody.period.to_string(),
            revision: custody.revision,
            received_at_unix_seconds: custody.received_at.0,
        }
    }
}

impl TryFrom<pb::CustodyBatch> for CustodyBatch {
    type Error = WireError;

    fn try_from(batch: pb::CustodyBatch) -> Result<Self, WireError> {
        let receipts = batch
            .receipts
            .into_iter()
            .enumerate()
            .map(|(i, custody)| CustodyReceipt::try_from(custody).within_at("receipts", i))
            .collect::<Result<_, _>>()?;
        Ok(CustodyBatch { receipts })
    }
}

impl From<&CustodyBatch> for pb::CustodyBatch {
    fn from(batch: &CustodyBatch) -> Self {
        pb::CustodyBatch {
            receipts: batch
                .receipts
                .iter()
                .map(pb::CustodyReceipt::from)
                .collect(),
        }
    }
}

impl TryFrom<pb::WinningRevision> for WinningRevision {
    type Error = WireError;

    fn try_from(winning: pb::WinningRevision) -> Result<Self, WireError> {
        // Revision 0 with no id is the one way to say "nothing held"; anything half-set is
        // refused, so a node never mistakes a damaged statement for an empty one.
        let winner = match (winning.revision, winning.report_id.is_empty()) {
            (0, true) => None,
            (0, false) => {
                return Err(WireError::problem("must be empty when revision is 0"))
                    .within("report_id");
            }
            (revision, _) => Some(Winner {
                revision,
                report_id: report_id(&winning.report_id).within("report_id")?,
            }),
        };
        Ok(WinningRevision {
            org: parse(&winning.org_id).within("org_id")?,
            period: parse(&winning.period).within("period")?,
            winner,
            as_of: Timestamp(winning.as_of_unix_seconds),
        })
    }
}

impl From<&WinningRevision> for pb::WinningRevision {
    fn from(winning: &WinningRevision) -> Self {
        pb::WinningRevision {
            org_id: winning.org.to_string(),
            period: winning.period.to_string(),
            revision: winning.winner.map_or(0, |w| w.revision),
            report_id: winning
                .winner
                .map(|w| w.report_id.0.to_vec())
                .unwrap_or_default(),
            as_of_unix_seconds: winning.as_of.0,
        }
    }
}

/// A report id from the wire: exactly 32 bytes.
pub(crate) fn report_id(bytes: &[u8]) -> Result<ReportId, WireError> {
    fixed_bytes(bytes).map(ReportId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alliance_core::receipt::OutcomeKind;

    fn receipt(kind: OutcomeKind) -> Receipt {
        Receipt {
            report_id: ReportId([1; 32]),
            org: "cut-brazil".parse().unwrap(),
            period: "2009".parse().unwrap(),
            revision: 3,
            outcome: Outcome {
                kind,
                winning_revision: 4,
                winning_report_id: ReportId([2; 32]),
            },
            issued_at: Timestamp(1_300_000_000),
            first_received_at: Timestamp(1_290_000_000),
        }
    }

    #[test]
    fn receipts_round_trip() {
        let batch = BatchReceipt {
            issued_at: Timestamp(1_300_000_001),
            receipts: [
                OutcomeKind::Accepted,
                OutcomeKind::Superseded,
                OutcomeKind::Equivocation,
                OutcomeKind::Duplicate,
            ]
            .map(receipt)
            .to_vec(),
        };
        assert_eq!(
            BatchReceipt::try_from(pb::BatchReceipt::from(&batch)).unwrap(),
            batch
        );

        let custody = CustodyReceipt {
            report_id: ReportId([9; 32]),
            relay: "ituc-africa".parse().unwrap(),
            org: "gtuc".parse().unwrap(),
            period: "2009".parse().unwrap(),
            revision: 1,
            received_at: Timestamp(1_262_304_001),
        };
        assert_eq!(
            CustodyReceipt::try_from(pb::CustodyReceipt::from(&custody)).unwrap(),
            custody
        );

        let other = CustodyReceipt {
            report_id: ReportId([7; 32]),
            revision: 2,
            ..custody.clone()
        };
        let batch = CustodyBatch {
            receipts: vec![custody, other],
        };
        assert_eq!(
            CustodyBatch::try_from(pb::CustodyBatch::from(&batch)).unwrap(),
            batch
        );
        // A bad entry is named by its index.
        let mut wire = pb::CustodyBatch::from(&batch);
        wire.receipts[1].report_id.truncate(31);
        let error = CustodyBatch::try_from(wire).unwrap_err().to_string();
        assert!(error.contains("receipts[1]"), "{error}");
    }

    #[test]
    fn bad_receipts_are_refused() {
        let mut wire = pb::Receipt::from(&receipt(OutcomeKind::Accepted));
        wire.report_id.truncate(31);
        assert_eq!(
            Receipt::try_from(wire).unwrap_err().field(),
            Some("report_id")
        );
        let mut wire = pb::Receipt::from(&receipt(OutcomeKind::Accepted));
        wire.outcome = 0;
        assert_eq!(
            Receipt::try_from(wire).unwrap_err().field(),
            Some("outcome")
        );
        let mut batch = pb::BatchReceipt::from(&BatchReceipt {
            issued_at: Timestamp(0),
            receipts: vec![receipt(OutcomeKind::Duplicate); 2],
        });
        batch.receipts[1].winning_report_id.clear();
        assert_eq!(
            BatchReceipt::try_from(batch).unwrap_err().field(),
            Some("receipts[1].winning_report_id")
        );
    }

    #[test]
    fn winning_revisions_round_trip_and_say_nothing_plainly() {
        let base = WinningRevision {
            org: "cut-brazil".parse().unwrap(),
            period: "2009".parse().unwrap(),
            winner: None,
            as_of: Timestamp(5),
        };
        let some = WinningRevision {
            winner: Some(Winner {
                revision: 2,
                report_id: ReportId([7; 32]),
            }),
            ..base.clone()
        };
        for w in [base, some.clone()] {
            assert_eq!(
                WinningRevision::try_from(pb::WinningRevision::from(&w)).unwrap(),
                w
            );
        }
        let mut half = pb::WinningRevision::from(&some);
        half.revision = 0;
        assert_eq!(
            WinningRevision::try_from(half).unwrap_err().field(),
            Some("report_id")
        );
        let mut half = pb::WinningRevision::from(&some);
        half.report_id.clear();
        assert_eq!(
            WinningRevision::try_from(half).unwrap_err().field(),
            Some("report_id")
        );
    }
}
