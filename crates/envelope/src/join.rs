//! Join codes (DESIGN.md §6): what the hub operator hands to an organisation so that its node can
//! enroll. A code names the upstream to contact (the hub, or the relay the organisation reports
//! through), the SHA-256 fingerprint of that upstream's CA certificate, the SHA-256 fingerprint
//! of the hub's signing key, a one-time token, when the token expires, and the organisation.
//!
//! # Text form
//!
//! `alliance-join:` followed by base64 (either alphabet, padded or not) of seven lines: the
//! format version `1`, the organisation id, the upstream `host:port`, the CA fingerprint and the
//! hub key fingerprint (64 lowercase hex digits each), the token (64 hex digits), the expiry
//! (seconds since the Unix epoch), and a last line holding the first 8 hex digits of the SHA-256
//! of the lines before it. The checksum catches a code damaged by copying; a code altered on
//! purpose is caught further on (the hub knows its tokens and their expiry, and the node checks
//! both fingerprints on first contact).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::text::{decode_base64, encode_base64};

/// What every join code starts with.
pub const JOIN_CODE_PREFIX: &str = "alliance-join:";

/// A parsed join code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinCode {
    /// The organisation the code enrolls.
    pub org_id: String,
    /// Where to enroll: the hub's or the relay's public address, `host:port`.
    pub upstream: String,
    /// SHA-256 of the upstream's CA certificate (DER).
    pub ca_fingerprint: [u8; 32],
    /// SHA-256 of the hub's Ed25519 signing key.
    pub hub_key_fingerprint: [u8; 32],
    /// The one-time token, as the hub issued it.
    pub token: String,
    /// When the token stops working, in seconds since the Unix epoch.
    pub expires_at_unix_seconds: i64,
}

/// Why a piece of text is not a usable join code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinCodeError {
    #[error("a join code starts with {JOIN_CODE_PREFIX:?}")]
    Prefix,
    #[error("the join code is not base64: {0}")]
    Base64(String),
    #[error("the join code is damaged: its checksum does not match (copy it again)")]
    Checksum,
    #[error("join code format version {0:?} is not supported (this build reads version 1)")]
    Version(String),
    #[error("the join code holds {0} lines where 8 are expected")]
    Lines(usize),
    #[error("the join code's {field} is invalid: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    #[error(
        "the join code expired at {expired_at} (seconds since the Unix epoch); ask the hub operator for a new one"
    )]
    Expired { expired_at: i64 },
}

impl JoinCode {
    /// Refuses a code whose expiry is at or before `now` (seconds since the Unix epoch).
    pub fn check_fresh(&self, now_unix_seconds: i64) -> Result<(), JoinCodeError> {
        if now_unix_seconds >= self.expires_at_unix_seconds {
            return Err(JoinCodeError::Expired {
                expired_at: self.expires_at_unix_seconds,
            });
        }
        Ok(())
    }

    /// The seven lines the checksum covers, each ending in a newline.
    fn body(&self) -> String {
        format!(
            "1\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.org_id,
            self.upstream,
            hex::encode(self.ca_fingerprint),
            hex::encode(self.hub_key_fingerprint),
            self.token,
            self.expires_at_unix_seconds
        )
    }
}

impl fmt::Display for JoinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body();
        let text = format!("{body}{}", checksum(&body));
        write!(f, "{JOIN_CODE_PREFIX}{}", encode_base64(text.as_bytes()))
    }
}

impl FromStr for JoinCode {
    type Err = JoinCodeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text
            .trim()
            .strip_prefix(JOIN_CODE_PREFIX)
            .ok_or(JoinCodeError::Prefix)?;
        let bytes = decode_base64(encoded).map_err(|e| JoinCodeError::Base64(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| JoinCodeError::Checksum)?;
        let (body, sum) = match text.rfind('\n') {
            Some(at) => text.split_at(at + 1),
            None => return Err(JoinCodeError::Lines(1)),
        };
        if sum != checksum(body) {
            return Err(JoinCodeError::Checksum);
        }
        // Split at `\n` only: `str::lines` would also drop a `\r` before it, so a field ending
        // in `\r` would read as another value than the one the checksum covers.
        let lines: Vec<&str> = body.split_terminator('\n').collect();
        let [version, org_id, upstream, ca, hub, token, expires] = lines[..] else {
            return Err(JoinCodeError::Lines(lines.len() + 1));
        };
        if version != "1" {
            return Err(JoinCodeError::Version(version.to_owned()));
        }
        Ok(JoinCode {
            org_id: non_empty("organisation id", org_id)?,
            upstream: parse_upstream(upstream)?,
            ca_fingerprint: parse_fingerprint("upstream CA fingerprint", ca)?,
            hub_key_fingerprint: parse_fingerprint("hub key fingerprint", hub)?,
            token: parse_token(token)?,
            expires_at_unix_seconds: expires.parse().map_err(|_| JoinCodeError::Field {
                field: "expiry",
                problem: format!("{expires:?} is not a number of seconds"),
            })?,
        })
    }
}

/// The first 8 hex digits of the SHA-256 of `body`.
fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..4])
}

fn non_empty(field: &'static str, value: &str) -> Result<String, JoinCodeError> {
    if value.is_empty() {
        return Err(JoinCodeError::Field {
            field,
            problem: "it is empty".into(),
        });
    }
    // A carriage return or other control character cannot be part of an id, and one at the end
    // of a line would not survive the code's text form.
    if value.chars().any(char::is_control) {
        return Err(JoinCodeError::Field {
            field,
            problem: format!("{value:?} holds a control character"),
        });
    }
    Ok(value.to_owned())
}

/// `host:port`, with a port that is a number.
fn parse_upstream(value: &str) -> Result<String, JoinCodeError> {
    let problem = |problem: String| JoinCodeError::Field {
        field: "upstream address",
        problem,
    };
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| problem(format!("{value:?} is not host:port")))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(problem(format!("{value:?} is not host:port")));
    }
    Ok(value.to_owned())
}

fn parse_fingerprint(field: &'static str, value: &str) -> Result<[u8; 32], JoinCodeError> {
    let mut out = [0u8; 32];
    if value.len() != 64 || hex::decode_to_slice(value, &mut out).is_err() {
        return Err(JoinCodeError::Field {
            field,
            problem: format!("{value:?} is not 64 hex digits"),
        });
    }
    Ok(out)
}

fn parse_token(value: &str) -> Result<String, JoinCodeError> {
    parse_fingerprint("token", value).map(|_| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::decode_base64;
    use base64::Engine as _;

    fn code() -> JoinCode {
        JoinCode {
            org_id: "ke-cotu".into(),
            upstream: "hub.example.org:7443".into(),
            ca_fingerprint: [1; 32],
            hub_key_fingerprint: [2; 32],
            token: "ab".repeat(32),
            expires_at_unix_seconds: 1_800_000_000,
        }
    }

    #[test]
    fn a_code_survives_its_text_form() {
        let text = code().to_string();
        assert!(text.starts_with(JOIN_CODE_PREFIX));
        assert_eq!(text.parse::<JoinCode>(), Ok(code()));
        // Surrounding whitespace from a terminal paste is forgiven.
        assert_eq!(format!("  {text}\n").parse::<JoinCode>(), Ok(code()));
    }

    #[test]
    fn either_base64_alphabet_with_or_without_padding_is_read() {
        let text = code().to_string();
        let raw = decode_base64(&text[JOIN_CODE_PREFIX.len()..]).unwrap();
        for engine in [
            base64::engine::general_purpose::STANDARD_NO_PAD,
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let other = format!("{JOIN_CODE_PREFIX}{}", engine.encode(&raw));
            assert_eq!(other.parse::<JoinCode>(), Ok(code()), "{other}");
        }
    }

    #[test]
    fn a_damaged_code_is_refused_with_its_cause() {
        let text = code().to_string();
        assert_eq!(
            text.replace(JOIN_CODE_PREFIX, "join:").parse::<JoinCode>(),
            Err(JoinCodeError::Prefix)
        );
        assert!(matches!(
            format!("{text}!").parse::<JoinCode>(),
            Err(JoinCodeError::Base64(_))
        ));
        // One character changed inside the base64 alters a field, which the checksum catches.
        let mut altered = text.clone().into_bytes();
        let at = JOIN_CODE_PREFIX.len() + 20;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(altered.parse::<JoinCode>(), Err(JoinCodeError::Checksum));
    }

    #[test]
    fn fields_are_checked_even_when_the_checksum_matches() {
        let mut bad = code();
        bad.upstream = "no-port".into();
        assert!(matches!(
            bad.to_string().parse::<JoinCode>(),
            Err(JoinCodeError::Field {
                field: "upstream address",
                ..
            })
        ));
        let mut bad = code();
        bad.token = "short".into();
        assert!(matches!(
            bad.to_string().parse::<JoinCode>(),
            Err(JoinCodeError::Field { field: "token", .. })
        ));
    }

    #[test]
    fn expiry_is_checked_against_the_clock() {
        let code = code();
        assert_eq!(code.check_fresh(code.expires_at_unix_seconds - 1), Ok(()));
        assert_eq!(
            code.check_fresh(code.expires_at_unix_seconds),
            Err(JoinCodeError::Expired {
                expired_at: code.expires_at_unix_seconds
            })
        );
    }
}
