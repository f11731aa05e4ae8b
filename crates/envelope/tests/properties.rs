//! Properties over generated input: signing round-trips, report ids survive re-signing, and
//! a single flipped bit anywhere in what is signed or in the signature is refused
//! (BAD_INPUTS.md case 4).

use alliance_envelope::payload_type::{ALL, REPORT};
use alliance_envelope::{
    DsseVerifier, Envelope, EnvelopeError, SigningKey, TrustedKey, keys_by_id, report_id, sign,
    verify_signed,
};
use proptest::prelude::*;
use proptest::sample::Index;

fn key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_map(|seed| SigningKey::from_seed(&seed))
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..512)
}

fn payload_type() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ALL)
}

fn flip(bytes: &mut [u8], at: Index, bit: u8) {
    let i = at.index(bytes.len());
    bytes[i] ^= 1 << (bit % 8);
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(key in key(), kind in payload_type(), payload in payload()) {
        let envelope = sign(&key, kind, payload.clone());
        let verified = verify_signed(&envelope, kind, keys_by_id(&[key.public_key()]))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified.payload(), &payload[..]);
        prop_assert_eq!(verified.public_key(), key.public_key());
        prop_assert_eq!(verified.report_id(), report_id(&envelope));

        // The JSON form carries it unchanged.
        let read = Envelope::from_json(&envelope.to_json())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&read, &envelope);

        // And the generic layer agrees.
        let generic = DsseVerifier::new(vec![TrustedKey::new(key.public_key())], 1, ALL.iter().copied())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(generic.verify(&envelope), Ok(vec![key.public_key()]));
    }

    #[test]
    fn resigning_keeps_the_report_id(old in key(), new in key(), payload in payload()) {
        prop_assume!(old.public_key() != new.public_key());
        let mut envelope = sign(&old, REPORT, payload);
        let id = report_id(&envelope);
        envelope.resign(&new);
        prop_assert_eq!(report_id(&envelope), id);
        prop_assert_eq!(envelope.signatures.len(), 1);
        let verified = verify_signed(&envelope, REPORT, keys_by_id(&[new.public_key()]))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verified.report_id(), id);
        // The old key no longer signs it.
        prop_assert!(verify_signed(&envelope, REPORT, keys_by_id(&[old.public_key()])).is_err());
    }

    #[test]
    fn a_flipped_payload_or_signature_bit_is_refused(key in key(), payload in payload(), at in any::<Index>(), bit in any::<u8>(), in_signature in any::<bool>()) {
        let mut envelope = sign(&key, REPORT, payload);
        if in_signature {
            flip(&mut envelope.signatures[0].sig, at, bit);
        } else {
            flip(&mut envelope.payload, at, bit);
        }
        prop_assert_eq!(
            verify_signed(&envelope, REPORT, keys_by_id(&[key.public_key()])).map(|_| ()),
            Err(EnvelopeError::BadSignature { index: 0, key_id: key.key_id().to_string() })
        );
        let generic = DsseVerifier::new(vec![TrustedKey::new(key.public_key())], 1, [REPORT])
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(generic.verify(&envelope).is_err());
    }

    #[test]
    fn a_flipped_bit_in_type_or_key_id_is_refused(key in key(), payload in payload(), at in any::<Index>(), bit in any::<u8>(), in_type in any::<bool>()) {
        let envelope = sign(&key, REPORT, payload);
        let mut damaged = envelope.clone();
        let text = if in_type {
            &mut damaged.payload_type
        } else {
            &mut damaged.signatures[0].keyid
        };
        let mut bytes = std::mem::take(text).into_bytes();
        flip(&mut bytes, at, bit);
        // A flip that breaks UTF-8 could not arrive in a string field at all.
        let Ok(flipped) = String::from_utf8(bytes) else { return Ok(()) };
        *text = flipped;
        prop_assert!(verify_signed(&damaged, REPORT, keys_by_id(&[key.public_key()])).is_err());
    }

    #[test]
    fn lenient_base64_reads_every_form(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        use alliance_envelope::text::{decode_base64, encode_base64};
        let standard = encode_base64(&bytes);
        let url_safe = standard.replace('+', "-").replace('/', "_");
        for text in [
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_owned(),
        ] {
            let decoded = decode_base64(&text);
            prop_assert_eq!(decoded.as_ref(), Ok(&bytes), "{}", text);
            let garbage = format!("{text}!");
            let space = format!("{text} ");
            prop_assert!(decode_base64(&garbage).is_err());
            prop_assert!(decode_base64(&space).is_err());
        }
    }
}
