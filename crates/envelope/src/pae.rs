//! The DSSE v1 pre-authentication encoding: the exact bytes every signature covers.

/// Returns `PAE(payload_type, payload)`:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where each `LEN` is the ASCII decimal
/// byte length of what follows it.
///
/// Binding the payload type into the signed bytes is what stops a signature over one kind of
/// document from being replayed as another kind.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        PREFIX.len() + type_len.len() + payload_type.len() + body_len.len() + payload.len() + 4,
    );
    out.extend_from_slice(PREFIX);
    out.push(b' ');
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The protocol tag that opens every PAE.
const PREFIX: &[u8] = b"DSSEv1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_byte_lengths_in_decimal() {
        assert_eq!(pae("t", b"hello"), b"DSSEv1 1 t 5 hello");
        // "ä" is two bytes in UTF-8, so the type length is 2, not 1.
        assert_eq!(pae("ä", b""), "DSSEv1 2 ä 0 ".as_bytes());
    }

    #[test]
    fn empty_type_and_body_keep_every_separator() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn lengths_with_several_digits() {
        let body = vec![b'x'; 1234];
        let out = pae("application/x", &body);
        assert!(out.starts_with(b"DSSEv1 13 application/x 1234 x"));
        assert_eq!(out.len(), "DSSEv1 13 application/x 1234 ".len() + 1234);
    }
}
