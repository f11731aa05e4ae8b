//! Runs every DSSE test vector through the generic layer: the PAE of the decoded envelope must
//! equal the vector's, and the verifier's verdict must equal its `expect`.

use std::collections::BTreeMap;

use alliance_envelope::{DsseVerifier, Envelope, TrustedKey, pae};
use serde::Deserialize;

const VECTORS: &str = include_str!("data/dsse-vectors.json");

#[derive(Deserialize)]
struct File {
    keys: BTreeMap<String, Key>,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Key {
    algorithm: String,
    seed: String,
    public: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    id: String,
    envelope: Envelope,
    trusted_keys: Vec<String>,
    threshold: usize,
    supported_payload_types: Vec<String>,
    pae: String,
    expect: String,
}

#[test]
fn every_vector_gives_its_pae_and_verdict() {
    let file: File = serde_json::from_str(VECTORS).expect("the vectors file is valid JSON");
    let in_file =
        serde_json::from_str::<serde_json::Value>(VECTORS).expect("valid JSON")["vectors"]
            .as_array()
            .expect("vectors is an array")
            .len();
    assert!(in_file > 0);

    let mut checked = 0;
    for vector in &file.vectors {
        let id = &vector.id;
        let signed = hex::decode(&vector.pae).expect("pae is hex");
        let (signed_type, signed_body) = split_pae(&signed);
        assert_eq!(
            pae(&signed_type, &signed_body),
            signed,
            "{id}: pae() rebuilds the vector's PAE from its parts"
        );
        assert_eq!(signed_body, vector.envelope.payload, "{id}: payload");
        // The vector's PAE is what the signatures cover; each must verify over it, so that a
        // rejection below is the verifier's doing and not a broken vector.
        for (index, signature) in vector.envelope.signatures.iter().enumerate() {
            let signer = file
                .keys
                .keys()
                .find(|name| verify_strict(&public_key(&file.keys, name), &signed, &signature.sig));
            assert!(
                signer.is_some(),
                "{id}: signature {index} verifies over the PAE"
            );
        }
        if vector.envelope.pae() == signed {
            assert_eq!(signed_type, vector.envelope.payload_type, "{id}: type");
        } else {
            // The envelope claims another type than the one signed: it must be refused.
            assert_eq!(
                vector.expect, "reject",
                "{id}: type differs from the signed one"
            );
        }

        assert_eq!(
            Envelope::from_json(&vector.envelope.to_json()).as_ref(),
            Ok(&vector.envelope),
            "{id}: JSON form round-trips"
        );

        let trusted = vector
            .trusted_keys
            .iter()
            .map(|name| TrustedKey::with_keyid(name, public_key(&file.keys, name)))
            .collect();
        let verifier = DsseVerifier::new(
            trusted,
            vector.threshold,
            vector.supported_payload_types.iter().cloned(),
        )
        .unwrap_or_else(|e| panic!("{id}: verifier: {e}"));
        let verdict = verifier.verify(&vector.envelope);
        match vector.expect.as_str() {
            "accept" => assert!(verdict.is_ok(), "{id}: refused: {verdict:?}"),
            "reject" => assert!(verdict.is_err(), "{id}: accepted"),
            other => panic!("{id}: unknown expectation {other:?}"),
        }
        checked += 1;
    }
    assert_eq!(checked, in_file, "every vector in the file is checked");
}

#[test]
fn the_keys_are_the_rfc_8032_test_keys() {
    let file: File = serde_json::from_str(VECTORS).expect("the vectors file is valid JSON");
    for (name, key) in &file.keys {
        assert_eq!(key.algorithm, "ed25519", "{name}");
        let mut seed = [0; 32];
        hex::decode_to_slice(&key.seed, &mut seed).expect("seed is 32 bytes of hex");
        let signing = alliance_envelope::SigningKey::from_seed(&seed);
        assert_eq!(hex::encode(signing.public_key()), key.public, "{name}");
    }
}

/// Splits PAE bytes into their payload type and body, reading the lengths the way a careful
/// independent reader would, so that the test does not trust `pae()` to check `pae()`.
fn split_pae(bytes: &[u8]) -> (String, Vec<u8>) {
    let rest = bytes
        .strip_prefix(b"DSSEv1 ")
        .expect("PAE starts with the tag");
    let (type_bytes, rest) = take_field(rest);
    let (body, rest) = take_field_to_end(rest);
    assert!(rest.is_empty());
    let payload_type = String::from_utf8(type_bytes.to_vec()).expect("the type is UTF-8");
    (payload_type, body.to_vec())
}

fn take_field(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (field, rest) = take_field_to_end(bytes);
    (
        field,
        rest.strip_prefix(b" ").expect("a space follows the field"),
    )
}

fn take_field_to_end(bytes: &[u8]) -> (&[u8], &[u8]) {
    let space = bytes
        .iter()
        .position(|&b| b == b' ')
        .expect("a length ends with a space");
    let len: usize = std::str::from_utf8(&bytes[..space])
        .expect("the length is ASCII")
        .parse()
        .expect("the length is decimal");
    let start = space + 1;
    (&bytes[start..start + len], &bytes[start + len..])
}

fn verify_strict(public_key: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key).expect("a valid test key");
    ed25519_dalek::Signature::from_slice(sig)
        .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok())
}

fn public_key(keys: &BTreeMap<String, Key>, name: &str) -> [u8; 32] {
    let key = keys
        .get(name)
        .unwrap_or_else(|| panic!("no key {name:?} in the file"));
    let mut public = [0; 32];
    hex::decode_to_slice(&key.public, &mut public).expect("public key is 32 bytes of hex");
    public
}
