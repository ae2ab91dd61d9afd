//! Invariants checked on arbitrary input by the `frame` fuzz target and, on stable, by the
//! corpus replay test `no-std-core/tests/fuzz_replay.rs` (both include this file).
//!
//! For any byte string, under every reader mode:
//! - the frame reader either yields a packet, asks for more bytes, or rejects: never panics;
//! - `Incomplete { needed }` always asks for more than is buffered, and a packet consumes at
//!   least one byte and at most what is buffered;
//! - feeding the same bytes one at a time yields exactly the same packets and the same outcome
//!   (reassembly from partial reads is equivalent to one big read);
//! - every decoded packet re-encodes (`encoded_len` equals the bytes `encode` writes, a buffer one
//!   byte short gives `InsufficientSize` with the exact size) and the re-encoding decodes to an
//!   equal packet.

use tern_core::codec::{Decoded, EncodeError, FrameReader, Packet, ProtocolVersion};

const MAX_PACKET: u32 = 4096;

/// How draining a buffer through a reader ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// Every byte was consumed by whole packets, or the rest is an incomplete packet.
    NeedMore,
    /// The reader rejected the input.
    Error,
}

/// What [`check`] saw: how many packets decoded (and round-tripped), and how it ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Packets decoded before the end.
    pub packets: usize,
    /// How it ended.
    pub end: End,
}

fn reader_for(mode: u8) -> FrameReader {
    match mode % 4 {
        1 => FrameReader::with_version(ProtocolVersion::V3_1_1, MAX_PACKET),
        2 => FrameReader::with_version(ProtocolVersion::V5, MAX_PACKET),
        3 => FrameReader::with_version(ProtocolVersion::V3_1, MAX_PACKET),
        _ => FrameReader::new(MAX_PACKET),
    }
}

/// Checks that a decoded packet survives encode → decode unchanged; returns its encoding.
fn roundtrip(packet: &Packet<'_>, version: ProtocolVersion) -> Vec<u8> {
    let len = packet
        .encoded_len(version)
        .unwrap_or_else(|e| panic!("decoded packet does not re-encode: {e:?}\n{packet:?}"));
    let mut out = vec![0u8; len];
    let written = packet
        .encode(version, &mut out)
        .unwrap_or_else(|e| panic!("encode failed after encoded_len: {e:?}\n{packet:?}"));
    assert_eq!(
        written, len,
        "encoded_len disagrees with encode for {packet:?}"
    );
    if len > 0 {
        let mut short = vec![0u8; len - 1];
        match packet.encode(version, &mut short) {
            Err(EncodeError::InsufficientSize { required }) => assert_eq!(required, len),
            other => panic!("short buffer gave {other:?}, expected InsufficientSize"),
        }
    }
    let again = Packet::decode(version, &out).unwrap_or_else(|e| {
        panic!("re-encoded packet does not decode: {e:?}\n{packet:?}\n{out:02x?}")
    });
    assert_eq!(&again, packet, "decode(encode(p)) != p");
    out
}

/// Drains `buf` through `reader` in one go.
fn drain_whole(reader: &mut FrameReader, mut buf: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut packets = Vec::new();
    loop {
        match reader.decode(buf) {
            Ok(Decoded::Incomplete { needed }) => {
                assert!(
                    needed > buf.len(),
                    "Incomplete asks for {needed} with {} buffered",
                    buf.len()
                );
                return (packets, End::NeedMore);
            }
            Ok(Decoded::Packet { packet, consumed }) => {
                assert!(
                    consumed > 0 && consumed <= buf.len(),
                    "consumed {consumed} of {}",
                    buf.len()
                );
                let version = reader
                    .version()
                    .expect("version known once a packet is decoded");
                packets.push(roundtrip(&packet, version));
                buf = &buf[consumed..];
            }
            Err(e) => {
                let _ = e.reason_code();
                return (packets, End::Error);
            }
        }
    }
}

/// Drains `data` through `reader` feeding one more byte at a time, as a socket might.
fn drain_bytewise(reader: &mut FrameReader, data: &[u8]) -> (Vec<Vec<u8>>, End) {
    let mut packets = Vec::new();
    let mut start = 0;
    let mut end = start;
    loop {
        match reader.decode(&data[start..end]) {
            Ok(Decoded::Incomplete { needed }) => {
                assert!(needed > end - start);
                if end == data.len() {
                    return (packets, End::NeedMore);
                }
                end += 1;
            }
            Ok(Decoded::Packet { packet, consumed }) => {
                let version = reader
                    .version()
                    .expect("version known once a packet is decoded");
                packets.push(roundtrip(&packet, version));
                start += consumed;
                end = end.max(start);
            }
            Err(_) => return (packets, End::Error),
        }
    }
}

/// The fuzz entry point: the first byte picks the reader mode (0 server, 1 client 3.1.1,
/// 2 client 5.0, 3 client 3.1), the rest is the stream. Panics on a violated invariant.
pub fn check(data: &[u8]) -> Outcome {
    let Some((&mode, stream)) = data.split_first() else {
        return Outcome {
            packets: 0,
            end: End::NeedMore,
        };
    };
    let whole = drain_whole(&mut reader_for(mode), stream);
    let bytewise = drain_bytewise(&mut reader_for(mode), stream);
    assert_eq!(whole, bytewise, "one read and byte-by-byte reads disagree");
    Outcome {
        packets: whole.0.len(),
        end: whole.1,
    }
}
