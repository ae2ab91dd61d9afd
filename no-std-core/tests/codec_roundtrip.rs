//! Property tests for the codec (STYLE.md §8, tier 3), over every packet type in MQTT 3.1,
//! 3.1.1 and 5.0 (strategies in `common`):
//!
//! - encode then decode is the identity, `encoded_len` is what `encode` writes, a buffer one
//!   byte short reports the exact size, and re-encoding the decoded packet gives the same bytes;
//! - the [`FrameReader`] finds every packet of a stream, in order, whatever the read sizes, on
//!   the client side (version known) and on the server side (version learned from CONNECT);
//! - any byte string, and any mutation of a valid stream (flipped bits, changed, inserted or
//!   removed bytes, truncation), either decodes, asks for more bytes or is rejected, never
//!   panics, and whatever decodes re-encodes to an equal packet (the invariants of the `frame`
//!   fuzz target, `fuzz/check.rs`, reused here);
//! - 5.0-only data is dropped, exactly as documented, when encoding for a 3.1.1 peer.

mod common;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/check.rs"]
mod check;

use common::{Desc, SubAckD, VERSIONS, encode_packet, packet, versioned_packet};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use tern_core::codec::{
    Decoded, EncodeError, FrameReader, Packet, ProtocolVersion, QosPid, ReasonCode,
    SubscriptionOptions,
};

/// Large enough for every generated stream; the size limit has its own tests.
const MAX_PACKET: u32 = 1 << 24;

/// The full round trip of one packet; returns its encoding.
fn check_roundtrip(desc: &Desc, v: ProtocolVersion) -> Result<Vec<u8>, TestCaseError> {
    let bytes = desc.encode(v);
    // Too short a buffer: the exact size is reported.
    let mut short = vec![0u8; bytes.len() - 1];
    let short_result = desc.with_packet(|p| p.encode(v, &mut short));
    prop_assert_eq!(
        short_result,
        Err(EncodeError::InsufficientSize {
            required: bytes.len()
        })
    );
    let decoded = Packet::decode(v, &bytes);
    prop_assert!(decoded.is_ok(), "{:?} does not decode: {:?}", desc, decoded);
    let decoded = decoded.unwrap_or(Packet::PingReq);
    desc.with_packet(|p| {
        prop_assert_eq!(&decoded, p);
        Ok(())
    })?;
    prop_assert_eq!(&Desc::from_packet(&decoded), desc);
    // Decoded lists are `Encoded` views of the frame: they re-encode byte for byte.
    prop_assert_eq!(&encode_packet(&decoded, v), &bytes);
    Ok(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1536))]

    #[test]
    fn decode_encode_is_identity((v, desc) in versioned_packet()) {
        check_roundtrip(&desc, v)?;
    }
}

/// A stream of packets for `v` and how to read it: server side (a CONNECT first, the reader
/// learns the version) or client side, and the sizes of successive reads.
fn stream() -> impl Strategy<Value = (ProtocolVersion, bool, Vec<Desc>, Vec<usize>)> {
    select(VERSIONS.to_vec()).prop_flat_map(|v| {
        (
            Just(v),
            any::<bool>(),
            common::connect(v),
            vec(packet(v), 1..6),
            vec(1usize..48, 1..16),
        )
            .prop_map(|(v, server, connect, mut packets, reads)| {
                if server {
                    packets.insert(0, Desc::Connect(connect));
                }
                (v, server, packets, reads)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn frame_reader_yields_every_packet_in_order((v, server, packets, reads) in stream()) {
        let frames: Vec<Vec<u8>> = packets.iter().map(|d| d.encode(v)).collect();
        let wire = frames.concat();
        let mut reader = if server {
            FrameReader::new(MAX_PACKET)
        } else {
            FrameReader::with_version(v, MAX_PACKET)
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut next = 0;
        let mut reads = reads.iter().cycle();
        while fed < wire.len() {
            let n = (*reads.next().unwrap_or(&1)).min(wire.len() - fed);
            buf.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            loop {
                let consumed = match reader.decode(&buf) {
                    Ok(Decoded::Incomplete { needed }) => {
                        prop_assert!(needed > buf.len(), "needed {} with {} buffered", needed, buf.len());
                        break;
                    }
                    Ok(Decoded::Packet { packet, consumed }) => {
                        prop_assert!(next < packets.len(), "extra packet {:?}", packet);
                        prop_assert_eq!(consumed, frames[next].len());
                        packets[next].with_packet(|p| {
                            prop_assert_eq!(&packet, p);
                            Ok(())
                        })?;
                        consumed
                    }
                    Err(e) => return Err(TestCaseError::fail(format!(
                        "reader rejected packet {next} ({:?}): {e:?}", packets.get(next)))),
                };
                next += 1;
                buf.drain(..consumed);
            }
        }
        prop_assert_eq!(next, packets.len());
        prop_assert!(buf.is_empty());
        prop_assert_eq!(reader.version(), Some(v));
    }
}

/// A byte-level change to a valid stream.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::FlipBit(i, bit) => {
            let at = i.index(bytes.len());
            bytes[at] ^= 1 << bit;
        }
        Mutation::Set(i, b) => {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
        Mutation::Insert(i, b) => {
            let at = i.index(bytes.len() + 1);
            bytes.insert(at, *b);
        }
        Mutation::Remove(i) => {
            let at = i.index(bytes.len());
            bytes.remove(at);
        }
        Mutation::Truncate(i) => {
            let at = i.index(bytes.len());
            bytes.truncate(at);
        }
    }
}

/// The reader mode byte of `check::check` for a client speaking `v`, or the server.
fn mode(v: ProtocolVersion, server: bool) -> u8 {
    match (server, v) {
        (true, _) => 0,
        (false, ProtocolVersion::V3_1_1) => 1,
        (false, ProtocolVersion::V5) => 2,
        (false, ProtocolVersion::V3_1) => 3,
    }
}

/// If `frame` decodes as one packet of `v`, it re-encodes to a frame decoding to an equal
/// packet.
fn check_decode_reencode(v: ProtocolVersion, frame: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(p) = Packet::decode(v, frame) {
        let again = encode_packet(&p, v);
        prop_assert_eq!(Packet::decode(v, &again), Ok(p));
    }
    Ok(())
}

/// Bytes shaped like a frame: any first byte, a correct Remaining Length, any body. Gets
/// past the fixed header far more often than uniform bytes.
fn frame_shaped() -> impl Strategy<Value = Vec<u8>> {
    (any::<u8>(), vec(any::<u8>(), 0..40)).prop_map(|(first, body)| {
        let mut frame = vec![first, u8::try_from(body.len()).unwrap_or(0)];
        frame.extend_from_slice(&body);
        frame
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        check::check(&bytes);
        for v in VERSIONS {
            check_decode_reencode(v, &bytes)?;
        }
    }

    #[test]
    fn frame_shaped_bytes_never_panic(mode in 0u8..4, frame in frame_shaped()) {
        let mut input = vec![mode];
        input.extend_from_slice(&frame);
        check::check(&input);
        for v in VERSIONS {
            check_decode_reencode(v, &frame)?;
        }
    }

    #[test]
    fn mutated_streams_never_panic(
        (v, server, packets, _) in stream(),
        mutations in vec(mutation(), 1..4),
    ) {
        let frames: Vec<Vec<u8>> = packets.iter().map(|d| d.encode(v)).collect();
        // The whole stream, through the frame reader (one read and byte by byte).
        let mut wire = frames.concat();
        for m in &mutations {
            mutate(&mut wire, m);
        }
        let mut input = vec![mode(v, server)];
        input.extend_from_slice(&wire);
        check::check(&input);
        // One frame, through `Packet::decode`.
        let mut frame = frames[0].clone();
        for m in &mutations {
            mutate(&mut frame, m);
        }
        check_decode_reencode(v, &frame)?;
    }
}

/// What a 5.0 packet becomes when encoded for a 3.1.1 peer, or `None` when it cannot be
/// (the documented behaviour of [`Packet::encode`]).
fn downgrade(d: &Desc) -> Option<Desc> {
    let mut d = d.clone();
    match &mut d {
        // CONNECT is encoded with its own protocol, whatever the connection's.
        Desc::Connect(_) | Desc::PingReq | Desc::PingResp => {}
        Desc::ConnAck(c) => {
            c.reason.to_v3_connack()?;
            c.properties = Default::default();
        }
        Desc::Publish(p) => {
            if p.topic.is_empty() {
                return None; // a Topic Alias does not exist in 3.1.1
            }
            p.properties = Default::default();
        }
        Desc::PubAck(a) | Desc::PubRec(a) | Desc::PubRel(a) | Desc::PubComp(a) => {
            a.reason = ReasonCode::Success;
            a.properties = Default::default();
        }
        Desc::Subscribe(s) => {
            for (_, options) in &mut s.filters {
                *options = SubscriptionOptions::new(options.qos);
            }
            s.subscription_identifier = None;
            s.user_properties.clear();
        }
        Desc::SubAck(SubAckD {
            reason_codes,
            properties,
            ..
        }) => {
            for code in reason_codes.iter_mut() {
                *code = match code.to_v3_suback() {
                    Some(0) => ReasonCode::GRANTED_QOS_0,
                    Some(1) => ReasonCode::GrantedQoS1,
                    Some(2) => ReasonCode::GrantedQoS2,
                    _ => ReasonCode::UnspecifiedError,
                };
            }
            *properties = Default::default();
        }
        Desc::Unsubscribe(u) => u.user_properties.clear(),
        Desc::UnsubAck(a) => {
            a.reason_codes.clear();
            a.properties = Default::default();
        }
        Desc::Disconnect(x) => *x = Default::default(),
        Desc::Auth(_) => return None,
    }
    Some(d)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v5_data_is_dropped_for_v311(desc in packet(ProtocolVersion::V5)) {
        let v = ProtocolVersion::V3_1_1;
        match downgrade(&desc) {
            Some(expected) => {
                let bytes = desc.encode(v);
                let decoded = Packet::decode(v, &bytes);
                prop_assert!(decoded.is_ok(), "{:?}: {:?}", desc, decoded);
                let decoded = decoded.unwrap_or(Packet::PingReq);
                prop_assert_eq!(Desc::from_packet(&decoded), expected);
            }
            None => {
                let len = desc.with_packet(|p| p.encoded_len(v));
                prop_assert!(len.is_err(), "{:?} should not encode for 3.1.1", desc);
            }
        }
    }
}

/// Remaining Lengths at the Variable Byte Integer boundaries (5.0 Table 1-1, 3.1.1 Table
/// 2.4), up to the four-byte form, through `Packet::decode` and the frame reader.
#[test]
fn remaining_length_boundaries_roundtrip() {
    for (remaining, header) in [
        (127usize, 2usize),
        (128, 3),
        (16_383, 3),
        (16_384, 4),
        (2_097_151, 4),
        (2_097_152, 5),
    ] {
        for v in VERSIONS {
            // Topic "t" (3 bytes), QoS 0, and in 5.0 an empty property block (1 byte).
            let overhead = if v.is_v5() { 4 } else { 3 };
            let payload = vec![0xA5u8; remaining - overhead];
            let publish = Packet::Publish(tern_core::codec::Publish::new(
                "t",
                QosPid::AtMostOnce,
                &payload,
            ));
            let bytes = encode_packet(&publish, v);
            assert_eq!(bytes.len(), header + remaining, "{v:?} {remaining}");
            assert_eq!(Packet::decode(v, &bytes), Ok(publish));
            let mut reader = FrameReader::with_version(v, MAX_PACKET);
            assert_eq!(
                reader.decode(&bytes),
                Ok(Decoded::Packet {
                    packet: publish,
                    consumed: bytes.len()
                })
            );
        }
    }
}
