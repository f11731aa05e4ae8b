//! Inputs that break a property of the fuzz targets in `fuzz/`, kept here verbatim so that the
//! fix stays fixed without the fuzzer (these tests do not read anything under `fuzz/`).

use alliance_envelope::{JoinCode, JoinCodeError};

/// The `join_code` target's round-trip property (the input is the one that target panics on; it
/// came from reading the parser against that property, and the target confirmed it, while ten
/// minutes of fuzzing had not reached it): a code whose organisation line ended in two
/// carriage returns (`x\r\r\n`) parsed, but only one of them was stripped, as `str::lines`
/// strips a `\r\n` ending. The organisation id `"x\r"` then formatted as the line `x\r\n`,
/// which parsed back as `"x"`: formatting and parsing a code changed it. The body is seven
/// lines ending in `\n` exactly, and a control character in the organisation id is refused.
#[test]
fn a_carriage_return_in_the_organisation_id_is_refused() {
    let code = concat!(
        "alliance-join:MQp4DQ0KaHViOjEKYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYW",
        "JhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYgphYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYm",
        "FiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiCmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYW",
        "JhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWIKNQo2M2RmNjdkOA==",
    );
    let parsed = code.parse::<JoinCode>();
    let Err(JoinCodeError::Field { field, problem }) = &parsed else {
        panic!("expected the organisation id to be refused, got {parsed:?}");
    };
    assert_eq!(*field, "organisation id");
    assert!(problem.contains("control character"), "{problem}");
}

/// The same code with one carriage return, as a `\r\n` line ending, is refused the same way:
/// the body is split at `\n` only, so the `\r` stays in the field instead of being dropped.
#[test]
fn a_crlf_line_ending_does_not_vanish_from_a_field() {
    let token = "ab".repeat(32);
    let body = format!("1\nx\r\nhub:1\n{token}\n{token}\n{token}\n5\n");
    let parsed = wrap(&body).parse::<JoinCode>();
    assert!(
        matches!(
            &parsed,
            Err(JoinCodeError::Field {
                field: "organisation id",
                ..
            })
        ),
        "{parsed:?}"
    );
    // Without the carriage return the code is sound, and survives its text form.
    let body = format!("1\nx\nhub:1\n{token}\n{token}\n{token}\n5\n");
    let code: JoinCode = wrap(&body).parse().expect("a sound code");
    assert_eq!(code.to_string().parse::<JoinCode>(), Ok(code));
}

/// The text of a join code whose body is `body`, with the checksum the format asks for. The
/// checksum is computed here rather than through `JoinCode`, since a code with this body could
/// not be built through its fields.
fn wrap(body: &str) -> String {
    use sha2::{Digest, Sha256};
    let sum = hex::encode(&Sha256::digest(body.as_bytes())[..4]);
    let raw = format!("{body}{sum}");
    format!(
        "{}{}",
        alliance_envelope::JOIN_CODE_PREFIX,
        alliance_envelope::text::encode_base64(raw.as_bytes())
    )
}
