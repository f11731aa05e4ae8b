//! Join codes as an operator pastes them into `node init`. Parsing must answer with a code or an
//! error, never panic; and a code that parses must survive its own text form: formatting it and
//! parsing the result gives the same code.
//!
//! Random text almost never gets past the checksum, so the first byte picks one of two modes:
//! - `0`: the rest is the decoded body of a code (the seven lines). The harness appends the
//!   right checksum and wraps it as a code, so the fuzzer explores the field parsers.
//! - anything else: the whole input is the text of a code, as pasted.

#![no_main]

use alliance_envelope::JoinCode;
use alliance_envelope::text::encode_base64;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let text = match data.split_first() {
        Some((0, body)) => wrap(body),
        _ => match std::str::from_utf8(data) {
            Ok(text) => text.to_owned(),
            Err(_) => return,
        },
    };
    let Ok(code) = text.parse::<JoinCode>() else {
        return;
    };
    let formatted = code.to_string();
    match formatted.parse::<JoinCode>() {
        Ok(again) => assert_eq!(again, code, "{text:?} formatted as {formatted:?}"),
        Err(e) => panic!("{text:?} parsed, but its text form {formatted:?} does not: {e}"),
    }
    // The code's own text is its canonical form: formatting it again changes nothing.
    assert_eq!(
        formatted.parse::<JoinCode>().map(|c| c.to_string()),
        Ok(formatted)
    );
});

/// A join code whose body is `body`, followed by the checksum the format asks for (the first 8
/// hex digits of the SHA-256 of the body), in base64.
fn wrap(body: &[u8]) -> String {
    let sum = hex::encode(&Sha256::digest(body)[..4]);
    let mut raw = body.to_vec();
    raw.extend_from_slice(sum.as_bytes());
    format!(
        "{}{}",
        alliance_envelope::JOIN_CODE_PREFIX,
        encode_base64(&raw)
    )
}
