//! Stored values: a format-version byte, then the body; and the errors for values that cannot
//! be read.
//!
//! The version byte lets a later build change one kind of value without rewriting the whole
//! database: it reads both versions and writes the new one. This build knows only version 1.

use std::fmt::Display;

use crate::error::StoreError;

/// The version byte this build writes, and the only one it reads.
pub(crate) const VALUE_VERSION: u8 = 1;

/// `body` behind the version byte.
pub(crate) fn versioned(body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + body.len());
    value.push(VALUE_VERSION);
    value.extend_from_slice(body);
    value
}

/// The body of a stored value, after checking its version byte.
pub(crate) fn body<'v>(
    tree: &'static str,
    key: &[u8],
    value: &'v [u8],
) -> Result<&'v [u8], StoreError> {
    match value.split_first() {
        Some((&VALUE_VERSION, body)) => Ok(body),
        Some((version, _)) => Err(corrupt(
            tree,
            key,
            format_args!(
                "value format version {version}, but this build reads only {VALUE_VERSION}"
            ),
        )),
        None => Err(corrupt(tree, key, "empty value")),
    }
}

/// A `u64` counter as stored.
pub(crate) fn encode_u64(n: u64) -> Vec<u8> {
    versioned(&n.to_be_bytes())
}

/// A stored `u64` counter; an absent one is 0.
pub(crate) fn decode_u64(
    tree: &'static str,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<u64, StoreError> {
    let Some(value) = value else {
        return Ok(0);
    };
    let body = body(tree, key, value)?;
    fixed::<8>(tree, key, body).map(u64::from_be_bytes)
}

/// Exactly `N` bytes.
pub(crate) fn fixed<const N: usize>(
    tree: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<[u8; N], StoreError> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        corrupt(
            tree,
            key,
            format_args!("{} bytes where {N} were expected", bytes.len()),
        )
    })
}

/// A `Corrupt` error naming the tree and key.
pub(crate) fn corrupt(tree: &'static str, key: &[u8], problem: impl Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        key: display_key(key),
        problem: problem.to_string(),
    }
}

/// A key as people read it: text if it is printable UTF-8, hex otherwise (report ids, sequence
/// numbers).
pub(crate) fn display_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.is_empty() && !text.chars().any(char::is_control) => {
            format!("{text:?}")
        }
        _ => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// A JSON value behind the version byte. Serializing the store's plain structs (strings,
/// integers, byte arrays) cannot fail in practice; if it ever did, nothing is written.
pub(crate) fn encode_json(
    tree: &'static str,
    value: &impl serde::Serialize,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map(|body| versioned(&body))
        .map_err(|e| StoreError::Io(format!("cannot encode a value for tree {tree}: {e}")))
}

/// The JSON value behind the version byte of `value`, stored under `key` in `tree`.
pub(crate) fn decode_json<T: for<'de> serde::Deserialize<'de>>(
    tree: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(body(tree, key, value)?).map_err(|e| corrupt(tree, key, e))
}

/// Asserts that `e` is `Corrupt` in `in_tree` at `at_key`, with a problem saying `saying`.
#[cfg(test)]
pub(crate) fn assert_corrupt(e: StoreError, in_tree: &str, at_key: &str, saying: &str) {
    match &e {
        StoreError::Corrupt { tree, key, problem } => {
            assert_eq!(*tree, in_tree);
            assert_eq!(key, at_key);
            assert!(problem.contains(saying), "{problem}");
        }
        _ => panic!("not Corrupt: {e:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_version() {
        let value = versioned(b"abc");
        assert_eq!(value, b"\x01abc");
        assert_eq!(body("t", b"k", &value).unwrap(), b"abc");
        let e = body("t", b"k", b"\x02abc").unwrap_err();
        assert!(e.to_string().contains("value format version 2"), "{e}");
        assert!(matches!(
            body("t", b"k", b""),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn counters_round_trip_and_default_to_zero() {
        assert_eq!(decode_u64("t", b"k", None).unwrap(), 0);
        let v = encode_u64(u64::MAX - 1);
        assert_eq!(decode_u64("t", b"k", Some(&v)).unwrap(), u64::MAX - 1);
        let e = decode_u64("t", b"k", Some(b"\x01abc")).unwrap_err();
        assert_eq!(
            e,
            StoreError::Corrupt {
                tree: "t",
                key: "\"k\"".into(),
                problem: "3 bytes where 8 were expected".into()
            }
        );
    }

    #[test]
    fn keys_display_as_text_or_hex() {
        assert_eq!(display_key(b"ituc-africa"), "\"ituc-africa\"");
        assert_eq!(display_key(&[0, 0, 1, 255]), "000001ff");
        assert_eq!(display_key(b""), "");
    }
}
