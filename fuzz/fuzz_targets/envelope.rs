//! Envelopes as a hub, relay or node receives them: protobuf bytes (a gRPC message, a stored
//! value, a file) and the JSON form. Whatever the bytes, decoding, verifying and decoding the
//! payload must end in a value or an error, never a panic.
//!
//! Properties checked on the way:
//! - both forms round-trip: an envelope that was read writes out as bytes that read back as the
//!   same envelope (not necessarily the same bytes, since protobuf is not canonical);
//! - an envelope that verifies has exactly the expected type, a payload, signatures only by
//!   known keys, and the report id of its PAE bytes.

#![no_main]

use std::sync::LazyLock;

use alliance_core::validate::Frameworks;
use alliance_envelope::{
    DsseVerifier, Envelope, SigningKey, TrustedKey, keys_by_id, payload_type, report_id,
    verify_pinned, verify_signed,
};
use libfuzzer_sys::fuzz_target;

/// The seeds of the keys the verifiers know. `seedgen` signs the seed corpus with the same ones,
/// so that the fuzzer starts from envelopes that verify and can mutate past the signature check.
const KEY_SEEDS: [u8; 3] = [1, 7, 9];

static KEYS: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    KEY_SEEDS
        .iter()
        .map(|seed| SigningKey::from_seed(&[*seed; 32]).public_key())
        .collect()
});

/// The generic DSSE verifier over the same keys, without key ids, for every alliance type.
static GENERIC: LazyLock<DsseVerifier> = LazyLock::new(|| {
    let trusted = KEYS.iter().copied().map(TrustedKey::new).collect();
    match DsseVerifier::new(trusted, 1, payload_type::ALL.iter().copied()) {
        Ok(verifier) => verifier,
        Err(e) => panic!("a threshold of 1 over three keys is reachable: {e}"),
    }
});

static FRAMEWORKS: LazyLock<Frameworks> = LazyLock::new(Frameworks::builtin);

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = alliance_proto::decode_envelope(data) {
        let again = alliance_proto::decode_envelope(&alliance_proto::encode_envelope(&envelope));
        assert_eq!(again.as_ref(), Ok(&envelope), "protobuf round trip");
        check(&envelope);
    }
    if let Ok(envelope) = Envelope::from_json_slice(data) {
        let again = Envelope::from_json(&envelope.to_json());
        assert_eq!(again.as_ref(), Ok(&envelope), "JSON round trip");
        check(&envelope);
    }
});

fn check(envelope: &Envelope) {
    for expected in payload_type::ALL {
        if let Ok(verified) = verify_signed(envelope, expected, keys_by_id(&KEYS)) {
            assert_eq!(envelope.payload_type, *expected);
            assert!(!verified.payload().is_empty());
            assert_eq!(verified.payload(), envelope.payload.as_slice());
            assert_eq!(verified.report_id(), report_id(envelope));
            assert!(!verified.signers().is_empty());
            for signer in verified.signers() {
                assert!(KEYS.contains(&signer.public_key));
            }
        }
    }
    let _ = verify_pinned(envelope, payload_type::RECEIPT, &KEYS[0]);
    if let Ok(valid) = GENERIC.verify(envelope) {
        assert!(!valid.is_empty());
    }
    // The hub decodes a payload only after verifying it, but a payload is as untrusted as the
    // envelope around it (a registered key may sign anything), so every decoder is fed here
    // whatever the signatures say.
    decode_payload(&envelope.payload_type, &envelope.payload);
}

/// Decodes `payload` with the decoder its type names, and checks a report against the framework
/// as the hub would.
fn decode_payload(kind: &str, payload: &[u8]) {
    match kind {
        payload_type::REPORT => {
            if let Ok(report) = alliance_proto::decode_report(payload) {
                let _ = FRAMEWORKS.check_report(&report);
            }
        }
        payload_type::RECEIPT => drop(alliance_proto::decode_receipt(payload)),
        payload_type::BATCH_RECEIPT => drop(alliance_proto::decode_batch_receipt(payload)),
        payload_type::CUSTODY_RECEIPT => drop(alliance_proto::decode_custody_receipt(payload)),
        payload_type::CUSTODY_BATCH => drop(alliance_proto::decode_custody_batch(payload)),
        payload_type::FRAMEWORK => drop(alliance_proto::decode_framework(payload)),
        payload_type::REGISTRY => drop(alliance_proto::decode_registry(payload)),
        payload_type::WINNING_REVISION => drop(alliance_proto::decode_winning_revision(payload)),
        payload_type::ENROLL_PROOF => drop(alliance_proto::decode_enroll_proof(payload)),
        payload_type::KEY_ROTATION => drop(alliance_proto::decode_key_rotation(payload)),
        _ => {}
    }
}
