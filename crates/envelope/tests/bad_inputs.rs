//! The envelope-level cases of BAD_INPUTS.md (1, 2, 3, 5, 8, 9 and 10). Case 4, bit flips, is
//! a property in `properties.rs`; cases 6 and 7 concern which organisation a key belongs to and
//! whether it is active, which the hub decides with the key this crate returns.

use alliance_envelope::payload_type::{RECEIPT, REGISTRY, REPORT};
use alliance_envelope::text::decode_base64;
use alliance_envelope::{
    DsseVerifier, Envelope, EnvelopeError, KeyId, SigningKey, TrustedKey, Verified, keys_by_id,
    report_id, sign, verify_pinned, verify_signed,
};
use ed25519_dalek::Verifier as _;

/// A node key, from a fixed seed so that failures are reproducible.
fn node_key() -> SigningKey {
    SigningKey::from_seed(&[7; 32])
}

fn other_key() -> SigningKey {
    SigningKey::from_seed(&[9; 32])
}

/// What the hub would do: verify a report against the keys it knows.
fn hub_verify(envelope: &Envelope, known: &[&SigningKey]) -> Result<Verified, EnvelopeError> {
    let keys: Vec<[u8; 32]> = known.iter().map(|key| key.public_key()).collect();
    verify_signed(envelope, REPORT, keys_by_id(&keys))
}

fn generic(keys: &[&SigningKey], threshold: usize, types: &[&str]) -> DsseVerifier {
    let trusted = keys
        .iter()
        .map(|key| TrustedKey::with_keyid(key.key_id().as_str(), key.public_key()))
        .collect();
    DsseVerifier::new(trusted, threshold, types.iter().copied()).expect("a reachable threshold")
}

// Case 1: the payload type is part of what is signed.

#[test]
fn case_1_type_changed_after_signing_is_refused() {
    let key = node_key();
    let mut envelope = sign(&key, REPORT, b"\x08\x01".to_vec());
    envelope.payload_type = RECEIPT.to_owned();

    assert_eq!(
        verify_signed(&envelope, RECEIPT, keys_by_id(&[key.public_key()])),
        Err(EnvelopeError::BadSignature {
            index: 0,
            key_id: key.key_id().to_string()
        })
    );
    assert_eq!(
        hub_verify(&envelope, &[&key]).map(|_| ()),
        Err(EnvelopeError::UnexpectedPayloadType {
            actual: RECEIPT.to_owned(),
            expected: REPORT.to_owned()
        })
    );
    // A generic verifier that supports both types still refuses: the signature covered the
    // other one.
    assert!(
        generic(&[&key], 1, &[REPORT, RECEIPT])
            .verify(&envelope)
            .is_err()
    );
}

// Case 2: empty and unsupported types; empty payloads.

#[test]
fn case_2_empty_or_unsupported_type_is_refused() {
    let key = node_key();
    let empty = sign(&key, "", b"\x08\x01".to_vec());
    assert_eq!(
        hub_verify(&empty, &[&key]).map(|_| ()),
        Err(EnvelopeError::EmptyPayloadType)
    );
    assert_eq!(
        generic(&[&key], 1, &[REPORT, ""]).verify(&empty),
        Err(EnvelopeError::EmptyPayloadType)
    );

    let unsupported = sign(&key, "application/json", b"{}".to_vec());
    assert_eq!(
        generic(&[&key], 1, &[REPORT]).verify(&unsupported),
        Err(EnvelopeError::UnsupportedPayloadType(
            "application/json".into()
        ))
    );
    assert_eq!(
        hub_verify(&unsupported, &[&key])
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(format!(
            "payload type \"application/json\" is not the expected \"{REPORT}\""
        ))
    );
}

#[test]
fn case_2_empty_payload_is_refused_as_a_report() {
    let key = node_key();
    let envelope = sign(&key, REPORT, Vec::new());
    // The signature itself is valid: the generic layer accepts it, as the DSSE vectors say.
    assert!(generic(&[&key], 1, &[REPORT]).verify(&envelope).is_ok());
    let refused = hub_verify(&envelope, &[&key]).map(|_| ());
    assert_eq!(refused, Err(EnvelopeError::EmptyPayload));
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err("empty payload".into())
    );
}

#[test]
fn a_very_long_claimed_type_is_quoted_short() {
    let key = node_key();
    let envelope = sign(&key, &"x".repeat(100_000), b"\x08\x01".to_vec());
    let message = hub_verify(&envelope, &[&key])
        .map(|_| ())
        .map_err(|e| e.to_string())
        .expect_err("not a report");
    assert!(message.len() < 300, "{message}");
}

// Case 3: thresholds count distinct keys; alliance signatures need key ids.

#[test]
fn case_3_one_keys_signature_repeated_counts_once() {
    let (a, b) = (node_key(), other_key());
    let mut envelope = sign(&a, REPORT, b"\x08\x01".to_vec());
    let copy = envelope.signatures[0].clone();
    envelope.signatures.push(copy.clone());
    envelope.signatures.push(copy);
    assert_eq!(
        generic(&[&a, &b], 2, &[REPORT]).verify(&envelope),
        Err(EnvelopeError::ThresholdNotMet {
            valid: 1,
            threshold: 2
        })
    );
    // Also when the copies drop their key ids, so that every key is tried for each.
    for signature in &mut envelope.signatures {
        signature.keyid.clear();
    }
    assert!(generic(&[&a, &b], 2, &[REPORT]).verify(&envelope).is_err());
    // The alliance layer lists the signer once.
    let mut alliance = sign(&a, REPORT, b"\x08\x01".to_vec());
    alliance.add_signature(&a);
    let verified = hub_verify(&alliance, &[&a]).expect("both copies verify");
    assert_eq!(verified.signers().len(), 1);
}

#[test]
fn case_3_alliance_signature_without_key_id_is_refused() {
    let key = node_key();
    let mut envelope = sign(&key, REPORT, b"\x08\x01".to_vec());
    envelope.signatures[0].keyid.clear();
    let refused = hub_verify(&envelope, &[&key]).map(|_| ());
    assert_eq!(refused, Err(EnvelopeError::MissingKeyId { index: 0 }));
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err("signature 0 has no key id".into())
    );

    // A valid signature does not carry an unlabelled one along.
    let mut envelope = sign(&key, REPORT, b"\x08\x01".to_vec());
    envelope.add_signature(&key);
    envelope.signatures[1].keyid.clear();
    assert_eq!(
        hub_verify(&envelope, &[&key]).map(|_| ()),
        Err(EnvelopeError::MissingKeyId { index: 1 })
    );
}

// Case 5: stripped signatures and unknown keys.

#[test]
fn case_5_stripped_signature_is_refused() {
    let key = node_key();
    let mut envelope = sign(&key, REPORT, b"\x08\x01".to_vec());
    envelope.signatures.clear();
    assert_eq!(
        hub_verify(&envelope, &[&key]).map(|_| ()),
        Err(EnvelopeError::NoSignatures)
    );
    assert!(generic(&[&key], 1, &[REPORT]).verify(&envelope).is_err());
}

#[test]
fn case_5_unknown_key_is_refused() {
    let (known, stranger) = (node_key(), other_key());
    let envelope = sign(&stranger, REPORT, b"\x08\x01".to_vec());
    let refused = hub_verify(&envelope, &[&known]).map(|_| ());
    assert_eq!(
        refused,
        Err(EnvelopeError::UnknownKey {
            index: 0,
            key_id: stranger.key_id().to_string()
        })
    );
    assert_eq!(
        refused.map_err(|e| e.to_string()),
        Err(format!(
            "signature 0 names unknown key \"{}\"",
            stranger.key_id()
        ))
    );

    // Claiming a known key's id does not help a stranger.
    let mut forged = envelope.clone();
    forged.signatures[0].keyid = known.key_id().to_string();
    assert_eq!(
        hub_verify(&forged, &[&known]).map(|_| ()),
        Err(EnvelopeError::BadSignature {
            index: 0,
            key_id: known.key_id().to_string()
        })
    );
    assert!(generic(&[&known], 1, &[REPORT]).verify(&envelope).is_err());

    // A node pins the hub key; a document signed by anyone else is refused.
    let registry = sign(&stranger, REGISTRY, b"\x0a\x00".to_vec());
    assert!(verify_pinned(&registry, REGISTRY, &known.public_key()).is_err());
}

// Case 8: the exact bytes are verified; re-encoding changes the id and breaks the signature.

#[test]
fn case_8_re_encoded_payload_has_another_id_and_does_not_verify() {
    let key = node_key();
    // Field 1 = 1, field 2 = "abc", as protobuf encodes them.
    let original: &[u8] = b"\x08\x01\x12\x03abc";
    let re_encodings: [&[u8]; 3] = [
        // The same fields in the other order.
        b"\x12\x03abc\x08\x01",
        // An unknown field 3 added.
        b"\x08\x01\x12\x03abc\x18\x05",
        // Field 1's varint in two bytes instead of one.
        b"\x08\x81\x00\x12\x03abc",
    ];
    let signed = sign(&key, REPORT, original.to_vec());
    let original_id = report_id(&signed);
    let mut ids = vec![original_id];
    for bytes in re_encodings {
        let mut swapped = signed.clone();
        swapped.payload = bytes.to_vec();
        let id = report_id(&swapped);
        assert!(!ids.contains(&id), "{bytes:?} has a new report id");
        ids.push(id);
        assert_eq!(
            hub_verify(&swapped, &[&key]).map(|_| ()),
            Err(EnvelopeError::BadSignature {
                index: 0,
                key_id: key.key_id().to_string()
            }),
            "{bytes:?}"
        );
        // Signed as those exact bytes, it verifies, with the same id as above.
        let resigned = sign(&key, REPORT, bytes.to_vec());
        let verified = hub_verify(&resigned, &[&key]).expect("signed bytes verify");
        assert_eq!(verified.report_id(), id);
        assert_eq!(verified.payload(), bytes);
    }
    assert_eq!(
        hub_verify(&signed, &[&key]).map(|v| v.report_id()),
        Ok(original_id)
    );
}

// Case 9: Ed25519 edge cases that only strict verification refuses.

/// The order of the Ed25519 base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Adds L to the S half of a signature: the same value modulo L, in a non-canonical encoding.
fn add_l_to_s(sig: &mut [u8]) {
    let mut carry = 0u16;
    for (byte, l) in sig[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    // S < L < 2^253, so S + L < 2^254 fits in 32 bytes.
    assert_eq!(carry, 0);
}

#[test]
fn case_9_non_canonical_s_is_refused() {
    let key = node_key();
    let mut envelope = sign(&key, REPORT, b"\x08\x01".to_vec());
    add_l_to_s(&mut envelope.signatures[0].sig);

    let public = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key()).expect("valid key");
    let sig = ed25519_dalek::Signature::from_slice(&envelope.signatures[0].sig).expect("64 bytes");
    assert!(public.verify_strict(&envelope.pae(), &sig).is_err());

    assert_eq!(
        hub_verify(&envelope, &[&key]).map(|_| ()),
        Err(EnvelopeError::BadSignature {
            index: 0,
            key_id: key.key_id().to_string()
        })
    );
    assert!(generic(&[&key], 1, &[REPORT]).verify(&envelope).is_err());
}

#[test]
fn case_9_small_order_public_key_is_refused() {
    // The identity point. With R = identity and S = 0, the plain verification equation holds
    // for every message, so anyone could "sign" as this key; `verify_strict` refuses it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut forged_sig = vec![0u8; 64];
    forged_sig[0] = 1;
    let message = b"any message at all";

    let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).expect("a point encoding");
    let sig = ed25519_dalek::Signature::from_slice(&forged_sig).expect("64 bytes");
    assert!(weak.is_weak());
    assert!(
        weak.verify(message, &sig).is_ok(),
        "the forgery passes the lax check"
    );
    assert!(weak.verify_strict(message, &sig).is_err());

    let key_id = KeyId::of(&identity).into_string();
    let envelope = Envelope {
        payload_type: REPORT.to_owned(),
        payload: b"\x08\x01".to_vec(),
        signatures: vec![alliance_envelope::Signature {
            keyid: key_id.clone(),
            sig: forged_sig,
        }],
    };
    assert_eq!(
        verify_signed(&envelope, REPORT, keys_by_id(&[identity])).map(|_| ()),
        Err(EnvelopeError::BadSignature { index: 0, key_id })
    );
    let trusted = vec![TrustedKey::new(identity)];
    let verifier = DsseVerifier::new(trusted, 1, [REPORT]).expect("threshold 1 of 1");
    assert!(verifier.verify(&envelope).is_err());
    assert!(matches!(
        alliance_envelope::check_public_key(&identity),
        Err(EnvelopeError::WeakPublicKey(_))
    ));

    // The point of order 2, (0, -1), is refused as well.
    let mut order_two = [0xff; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    assert!(matches!(
        alliance_envelope::check_public_key(&order_two),
        Err(EnvelopeError::WeakPublicKey(_))
    ));
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&order_two).expect("a point encoding");
    assert!(weak.verify_strict(message, &sig).is_err());
}

// Case 10: base64 in either alphabet, padded or not; trailing garbage refused.

#[test]
fn case_10_json_envelope_in_either_alphabet_with_or_without_padding() {
    let key = node_key();
    // Bytes whose base64 uses the characters that differ between the alphabets.
    let envelope = sign(&key, REPORT, vec![0xfb, 0xff, 0xbf, 0x3e, 0x3f]);
    let standard = envelope.to_json();
    let payload = "+/+/Pj8=";
    assert!(standard.contains(payload));
    let sig = alliance_envelope::text::encode_base64(&envelope.signatures[0].sig);

    let url_safe = |s: &str| s.replace('+', "-").replace('/', "_");
    let unpadded = |s: &str| s.trim_end_matches('=').to_owned();
    let variants = [
        (payload.to_owned(), sig.clone()),
        (unpadded(payload), unpadded(&sig)),
        (url_safe(payload), url_safe(&sig)),
        (unpadded(&url_safe(payload)), unpadded(&url_safe(&sig))),
        // Each field is read on its own, so they need not agree.
        (url_safe(payload), unpadded(&sig)),
    ];
    for (payload_text, sig_text) in variants {
        let json = standard
            .replace(payload, &payload_text)
            .replace(&sig, &sig_text);
        let read = Envelope::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(read, envelope, "{json}");
        assert!(hub_verify(&read, &[&key]).is_ok());
    }
}

#[test]
fn case_10_trailing_garbage_is_refused() {
    let key = node_key();
    let envelope = sign(&key, REPORT, b"\x08\x01\x12\x03abc".to_vec());
    let json = envelope.to_json();
    let sig = alliance_envelope::text::encode_base64(&envelope.signatures[0].sig);
    for garbage in ["!", "=", "==", " ", "\n", "=A", "\u{0}", "é"] {
        let damaged = json.replace(&sig, &format!("{sig}{garbage}"));
        let damaged = damaged.replace('\n', "\\n").replace('\u{0}', "\\u0000");
        match Envelope::from_json(&damaged) {
            Ok(_) => panic!("{garbage:?} after the signature was accepted"),
            Err(e) => assert!(
                e.to_string().starts_with("invalid base64 in signature 0:"),
                "{garbage:?}: {e}"
            ),
        }
    }
    for text in [
        "CAESA2FiYw==x",
        "CAESA2FiYw==\n",
        "CAESA2FiYw== ",
        "CAESA2FiYw$",
    ] {
        assert!(decode_base64(text).is_err(), "{text:?}");
    }
    assert_eq!(
        decode_base64("CAESA2FiYw=="),
        Ok(b"\x08\x01\x12\x03abc".to_vec())
    );
}
