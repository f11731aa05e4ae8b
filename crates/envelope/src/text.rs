//! Base64 as alliance reads and writes it in text forms (the JSON envelope, join codes, exports).
//!
//! Readers are lenient in exactly one way the DSSE protocol asks for: both the standard and the
//! URL-safe alphabet are accepted, with canonical padding or none. Everything else (whitespace,
//! characters of neither alphabet, a mix of the two alphabets, partial padding, data after the
//! padding, stray bits in the last symbol) is refused, so that a damaged code is reported rather
//! than silently read as something else. Writers always use the standard alphabet, padded.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Why a piece of text is not base64 alliance accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Base64Error(String);

/// Decodes base64 in the standard or the URL-safe alphabet, with canonical padding or without.
///
/// The alphabet is chosen from the text itself: a `-` or `_` anywhere means URL-safe, and then a
/// `+` or `/` is refused. Surrounding whitespace is refused too; trim it first if the text came
/// from a terminal.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    let url_safe = text.bytes().any(|b| b == b'-' || b == b'_');
    let padded = text.ends_with('=');
    let engine = match (url_safe, padded) {
        (false, true) => &STANDARD_PADDED,
        (false, false) => &STANDARD_UNPADDED,
        (true, true) => &URL_SAFE_PADDED,
        (true, false) => &URL_SAFE_UNPADDED,
    };
    engine
        .decode(text)
        .map_err(|e| Base64Error(describe(text, e)))
}

/// Encodes bytes as base64 in the standard alphabet, padded.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD_PADDED.encode(bytes)
}

const PADDED: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
const UNPADDED: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::RequireNone);

const STANDARD_PADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PADDED);
const STANDARD_UNPADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, UNPADDED);
const URL_SAFE_PADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, PADDED);
const URL_SAFE_UNPADDED: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, UNPADDED);

/// Turns the decoder's error into a sentence a person pasting a code can act on.
fn describe(text: &str, error: base64::DecodeError) -> String {
    use base64::DecodeError as E;
    match error {
        E::InvalidByte(at, b'=') if only_padding_from(text, at) => {
            format!("too much padding from offset {at}")
        }
        E::InvalidByte(at, b'=') => {
            format!("unexpected '=' at offset {at}: padding may only end the text")
        }
        E::InvalidByte(at, byte) if byte.is_ascii_whitespace() => {
            format!("whitespace at offset {at}")
        }
        E::InvalidByte(at, byte @ (b'+' | b'/' | b'-' | b'_')) => format!(
            "character {:?} at offset {at} mixes the standard and URL-safe alphabets",
            char::from(byte)
        ),
        E::InvalidByte(at, byte) => {
            format!(
                "invalid character {} at offset {at}",
                show_byte(text, at, byte)
            )
        }
        E::InvalidLength(symbols) => {
            format!("{symbols} symbols cannot be base64 (the text is truncated or has extra data)")
        }
        E::InvalidLastSymbol(at, _) => {
            format!("the symbol at offset {at} has stray bits (the text is damaged)")
        }
        E::InvalidPadding => "incorrect padding".to_owned(),
    }
}

/// Whether everything from byte offset `at` on is padding, which means there is too much of it.
fn only_padding_from(text: &str, at: usize) -> bool {
    text.as_bytes()
        .get(at..)
        .is_some_and(|rest| rest.iter().all(|&b| b == b'='))
}

/// Shows the offending character, or its byte value if it is not ASCII.
fn show_byte(text: &str, at: usize, byte: u8) -> String {
    match text.get(at..).and_then(|rest| rest.chars().next()) {
        Some(c) if byte.is_ascii() || !c.is_ascii() => format!("{c:?}"),
        _ => format!("0x{byte:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_alphabets_with_and_without_padding() {
        let bytes = [0xfb, 0xff, 0xbf, 0x3e, 0x3f];
        for text in ["+/+/Pj8=", "+/+/Pj8", "-_-_Pj8=", "-_-_Pj8"] {
            assert_eq!(decode_base64(text).as_deref(), Ok(&bytes[..]), "{text}");
        }
        assert_eq!(encode_base64(&bytes), "+/+/Pj8=");
        assert_eq!(decode_base64(""), Ok(vec![]));
    }

    #[test]
    fn damage_is_refused_with_a_reason() {
        let cases = [
            ("aGVsbG8=xyz", "padding may only end the text"),
            ("aGVsbG8=!", "invalid character '!' at offset 8"),
            ("aGVs bG8=", "whitespace at offset 4"),
            ("aGVsbG8=\n", "whitespace"),
            (" aGVsbG8=", "whitespace at offset 0"),
            ("aGVsbG8!", "invalid character '!' at offset 7"),
            ("aGVsbé8=", "invalid character 'é'"),
            ("+/-_Pj8=", "mixes the standard and URL-safe alphabets"),
            ("aGVsbG8==", "too much padding from offset 7"),
            ("aGVsbA=", "incorrect padding"),
            ("aGVsb", "truncated"),
            ("aGVsbH==", "stray bits"),
        ];
        for (text, reason) in cases {
            match decode_base64(text) {
                Ok(bytes) => panic!("{text:?} was accepted as {bytes:?}"),
                Err(e) => assert!(e.to_string().contains(reason), "{text:?}: {e}"),
            }
        }
    }
}
