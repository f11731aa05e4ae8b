//! The JSON envelope form: `{"payload": base64, "payloadType": ..., "signatures": [{"keyid":
//! ..., "sig": base64}]}`.
//!
//! Base64 is read leniently (either alphabet, padded or not, see [`crate::text`]) and written in
//! the standard alphabet, padded. A missing or `null` key id reads as the empty string, and an
//! empty key id is left out when writing.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::envelope::{Envelope, Signature};
use crate::error::EnvelopeError;
use crate::text::{decode_base64, encode_base64};

impl Envelope {
    /// Reads an envelope from its JSON form.
    pub fn from_json(json: &str) -> Result<Self, EnvelopeError> {
        Self::from_json_slice(json.as_bytes())
    }

    /// Reads an envelope from its JSON form, given as bytes (which must be UTF-8).
    pub fn from_json_slice(json: &[u8]) -> Result<Self, EnvelopeError> {
        let wire: WireEnvelope =
            serde_json::from_slice(json).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        wire.decode()
    }

    /// Writes the envelope in its JSON form, with keys in a fixed order.
    pub fn to_json(&self) -> String {
        let signatures: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|signature| {
                let mut object = serde_json::Map::new();
                if !signature.keyid.is_empty() {
                    object.insert("keyid".into(), signature.keyid.clone().into());
                }
                object.insert("sig".into(), encode_base64(&signature.sig).into());
                object.into()
            })
            .collect();
        serde_json::json!({
            "payload": encode_base64(&self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        })
        .to_string()
    }
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireEnvelope::encode(self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        WireEnvelope::deserialize(deserializer)?
            .decode()
            .map_err(serde::de::Error::custom)
    }
}

/// The JSON form with base64 still as text. Serde refuses duplicate fields here, so a
/// second `payload` cannot smuggle in other bytes than a reader of the first one sees.
#[derive(Serialize, Deserialize)]
struct WireEnvelope {
    payload: String,
    #[serde(rename = "payloadType")]
    payload_type: String,
    signatures: Vec<WireSignature>,
}

#[derive(Serialize, Deserialize)]
struct WireSignature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyid: Option<String>,
    sig: String,
}

impl WireEnvelope {
    fn encode(envelope: &Envelope) -> Self {
        Self {
            payload: encode_base64(&envelope.payload),
            payload_type: envelope.payload_type.clone(),
            signatures: envelope
                .signatures
                .iter()
                .map(|signature| WireSignature {
                    keyid: Some(signature.keyid.clone()).filter(|id| !id.is_empty()),
                    sig: encode_base64(&signature.sig),
                })
                .collect(),
        }
    }

    fn decode(self) -> Result<Envelope, EnvelopeError> {
        let payload = decode_base64(&self.payload).map_err(|e| EnvelopeError::Base64 {
            field: "payload".into(),
            reason: e.to_string(),
        })?;
        let signatures = self
            .signatures
            .into_iter()
            .enumerate()
            .map(|(index, signature)| {
                let sig = decode_base64(&signature.sig).map_err(|e| EnvelopeError::Base64 {
                    field: format!("signature {index}"),
                    reason: e.to_string(),
                })?;
                Ok(Signature {
                    keyid: signature.keyid.unwrap_or_default(),
                    sig,
                })
            })
            .collect::<Result<_, EnvelopeError>>()?;
        Ok(Envelope {
            payload_type: self.payload_type,
            payload,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            payload_type: "application/x".into(),
            payload: vec![0xfb, 0xff, 0xbf, 0x3e, 0x3f],
            signatures: vec![
                Signature {
                    keyid: "k1".into(),
                    sig: vec![1, 2, 3],
                },
                Signature {
                    keyid: String::new(),
                    sig: vec![4],
                },
            ],
        }
    }

    #[test]
    fn writes_standard_padded_base64_and_omits_empty_key_ids() {
        assert_eq!(
            sample().to_json(),
            r#"{"payload":"+/+/Pj8=","payloadType":"application/x","signatures":[{"keyid":"k1","sig":"AQID"},{"sig":"BA=="}]}"#
        );
        assert_eq!(
            serde_json::to_string(&sample()).expect("serializable"),
            sample().to_json()
        );
    }

    #[test]
    fn round_trips_through_both_readers() {
        let json = sample().to_json();
        assert_eq!(Envelope::from_json(&json), Ok(sample()));
        let via_serde: Envelope = serde_json::from_str(&json).expect("readable");
        assert_eq!(via_serde, sample());
    }

    #[test]
    fn reads_url_safe_unpadded_and_null_key_ids() {
        let json = r#"{"payload":"-_-_Pj8","payloadType":"application/x",
            "signatures":[{"keyid":"k1","sig":"AQID"},{"keyid":null,"sig":"BA"}]}"#;
        assert_eq!(Envelope::from_json(json), Ok(sample()));
    }

    #[test]
    fn bad_base64_names_the_field() {
        let json = r#"{"payload":"AQID","payloadType":"t","signatures":[{"sig":"AQID!!"}]}"#;
        let error = Envelope::from_json(json).expect_err("garbage after the signature");
        assert!(
            error
                .to_string()
                .starts_with("invalid base64 in signature 0: invalid character '!'"),
            "{error}"
        );
        let json = r#"{"payload":"AQID====","payloadType":"t","signatures":[]}"#;
        let error = Envelope::from_json(json).expect_err("garbage after the payload");
        assert!(
            error.to_string().starts_with("invalid base64 in payload"),
            "{error}"
        );
        let via_serde = serde_json::from_str::<Envelope>(json).map(|_| ());
        assert!(via_serde.is_err());
    }

    #[test]
    fn duplicate_or_missing_fields_are_refused() {
        let duplicate = r#"{"payload":"AQID","payload":"BA==","payloadType":"t","signatures":[]}"#;
        assert!(matches!(
            Envelope::from_json(duplicate),
            Err(EnvelopeError::Json(_))
        ));
        let missing = r#"{"payload":"AQID","payloadType":"t"}"#;
        assert!(matches!(
            Envelope::from_json(missing),
            Err(EnvelopeError::Json(_))
        ));
    }
}
