//! Protobuf bytes made by hand, for inputs that no well-behaved encoder produces: fields in
//! another order, unknown fields, input nested far deeper than any alliance message; and a gRPC
//! codec that sends such bytes as a request as they are.
//!
//! The tests package must not depend on prost (only `alliance-proto` knows protobuf, checked by
//! `architecture.rs`), and these inputs are exactly what prost would never write, so the few
//! rules of the wire format needed are written out here.

use bytes::{Buf, BufMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Protobuf wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;
const START_GROUP: u64 = 3;
const END_GROUP: u64 = 4;
const FIXED32: u64 = 5;

/// Appends `value` as a base-128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field (a string, bytes or an embedded message).
pub fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | LENGTH_DELIMITED);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a varint field.
pub fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, value);
}

/// `depth` groups of field `field`, each inside the one before: a legal encoding of an unknown
/// field that a decoder can only skip by descending `depth` levels. Tiny on the wire (two bytes
/// per level for small field numbers), it is the cheapest way to send deeply nested input.
pub fn nested_groups(field: u32, depth: usize) -> Vec<u8> {
    let mut start = Vec::new();
    put_varint(&mut start, (u64::from(field) << 3) | START_GROUP);
    let mut end = Vec::new();
    put_varint(&mut end, (u64::from(field) << 3) | END_GROUP);
    let mut out = Vec::with_capacity(depth * (start.len() + end.len()));
    for _ in 0..depth {
        out.extend_from_slice(&start);
    }
    for _ in 0..depth {
        out.extend_from_slice(&end);
    }
    out
}

/// `depth` embedded messages of field `field`, each inside the one before, around `inner`.
pub fn nested_messages(field: u32, depth: usize, inner: &[u8]) -> Vec<u8> {
    let mut out = inner.to_vec();
    for _ in 0..depth {
        let mut outer = Vec::with_capacity(out.len() + 6);
        put_bytes_field(&mut outer, field, &out);
        out = outer;
    }
    out
}

/// The top-level fields of a message, each as its exact bytes (tag included), in order.
///
/// Panics on bytes that are not a well-formed message: it is only used on payloads the tests
/// encoded themselves.
pub fn split_fields(message: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let before = rest.len();
        let tag = take_varint(&mut rest);
        match tag & 7 {
            VARINT => {
                take_varint(&mut rest);
            }
            FIXED64 => rest = &rest[8..],
            LENGTH_DELIMITED => {
                let len = usize::try_from(take_varint(&mut rest)).expect("a length fits");
                rest = &rest[len..];
            }
            FIXED32 => rest = &rest[4..],
            other => panic!("wire type {other} is not expected in a report"),
        }
        let used = before - rest.len();
        let start = message.len() - before;
        fields.push(&message[start..start + used]);
    }
    fields
}

/// The same message with its top-level fields in reverse order: what a different encoder could
/// send for the same report.
pub fn reverse_fields(message: &[u8]) -> Vec<u8> {
    split_fields(message)
        .into_iter()
        .rev()
        .flatten()
        .copied()
        .collect()
}

fn take_varint(rest: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first().expect("a complete varint");
        *rest = tail;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("a varint longer than 10 bytes")
}

/// A gRPC codec that sends a request's bytes exactly as given and hands back the response's
/// bytes undecoded, for calls with requests no generated client can make.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder and decoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytes;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        let mut message = Vec::new();
        put_varint_field(&mut message, 4, 2);
        put_bytes_field(&mut message, 1, b"ke");
        assert_eq!(
            split_fields(&message),
            [&[0x20, 2][..], &[0x0a, 2, b'k', b'e']]
        );
        assert_eq!(reverse_fields(&message), [0x0a, 2, b'k', b'e', 0x20, 2]);
    }

    #[test]
    fn nesting() {
        assert_eq!(nested_groups(1, 2), [0x0b, 0x0b, 0x0c, 0x0c]);
        assert_eq!(nested_messages(1, 2, &[]), [0x0a, 2, 0x0a, 0]);
    }
}
