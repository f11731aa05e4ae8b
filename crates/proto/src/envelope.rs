//! DSSE envelopes to and from the wire.
//!
//! The conversion is a plain copy and refuses nothing: whether an envelope is acceptable (its
//! payload type, key ids, signatures) is the envelope crate's verdict, given on the bytes exactly
//! as they arrived. Owned conversions move the payload instead of copying it.

use alliance_envelope::{Envelope, Signature};

use crate::pb;

impl From<pb::Envelope> for Envelope {
    fn from(envelope: pb::Envelope) -> Self {
        Envelope {
            payload_type: envelope.payload_type,
            payload: envelope.payload,
            signatures: envelope
                .signatures
                .into_iter()
                .map(|s| Signature {
                    keyid: s.keyid,
                    sig: s.sig,
                })
                .collect(),
        }
    }
}

impl From<Envelope> for pb::Envelope {
    fn from(envelope: Envelope) -> Self {
        pb::Envelope {
            payload: envelope.payload,
            payload_type: envelope.payload_type,
            signatures: envelope
                .signatures
                .into_iter()
                .map(|s| pb::Signature {
                    sig: s.sig,
                    keyid: s.keyid,
                })
                .collect(),
        }
    }
}

impl From<&Envelope> for pb::Envelope {
    fn from(envelope: &Envelope) -> Self {
        pb::Envelope::from(envelope.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_unchanged() {
        let envelope = Envelope {
            payload_type: alliance_envelope::payload_type::REPORT.into(),
            payload: vec![0, 1, 2, 0xff],
            signatures: vec![
                Signature {
                    keyid: "a".into(),
                    sig: vec![7; 64],
                },
                // Nothing is refused here, not even what verification will refuse.
                Signature {
                    keyid: String::new(),
                    sig: vec![],
                },
            ],
        };
        assert_eq!(Envelope::from(pb::Envelope::from(&envelope)), envelope);
    }
}
