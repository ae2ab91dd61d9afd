//! Codec unit tests. Test names carry the normative statement id and the version it comes
//! from (`v311` = MQTT 3.1.1, `v5` = MQTT 5.0); ids differ between versions.

use std::vec;
use std::vec::Vec;

use super::wire::{Reader, Vbi, Writer, parse_vbi};
use super::*;

pub(crate) fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// Wraps `body` in a fixed header with a minimal Remaining Length.
pub(crate) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

pub(crate) fn enc(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let n = p.encoded_len(v).unwrap();
    let mut buf = vec![0u8; n];
    assert_eq!(p.encode(v, &mut buf), Ok(n));
    buf
}

/// Encode, check `encoded_len`, decode, compare; also decode through a `FrameReader`.
pub(crate) fn roundtrip(p: Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let bytes = enc(&p, v);
    assert_eq!(Packet::decode(v, &bytes), Ok(p), "bytes {bytes:02x?}");
    let mut reader = FrameReader::with_version(v, u32::MAX);
    assert_eq!(
        reader.decode(&bytes),
        Ok(Decoded::Packet {
            packet: p,
            consumed: bytes.len()
        })
    );
    bytes
}

fn dec(v: ProtocolVersion, bytes: &[u8]) -> Result<Packet<'_>, DecodeError> {
    Packet::decode(v, bytes)
}

fn malformed(m: Malformed) -> Result<Packet<'static>, DecodeError> {
    Err(DecodeError::Malformed(m))
}

fn violation(p: ProtocolViolation) -> Result<Packet<'static>, DecodeError> {
    Err(DecodeError::Protocol(p))
}

/// All versions compiled in.
fn versions() -> Vec<ProtocolVersion> {
    vec![
        #[cfg(feature = "v3")]
        ProtocolVersion::V3_1,
        #[cfg(feature = "v3")]
        ProtocolVersion::V3_1_1,
        #[cfg(feature = "v5")]
        ProtocolVersion::V5,
    ]
}

// --- primitives --------------------------------------------------------------------------

#[test]
fn variable_byte_integer_spec_table_2_2_boundaries() {
    // 3.1.1 Table 2.4 / 5.0 Table 1-1: sizes of Variable Byte Integers.
    let cases: &[(u32, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for &(value, bytes) in cases {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        w.vbi(value).unwrap();
        let n = w.position();
        assert_eq!(&buf[..n], bytes, "{value}");
        assert!(matches!(parse_vbi(bytes), Ok(Vbi::Done(v, n)) if v == value && n == bytes.len()));
        assert_eq!(vbi_len(value), bytes.len());
    }
    let mut w = Writer::counter();
    assert_eq!(w.vbi(268_435_456), Err(EncodeError::ValueOutOfRange));
}

#[test]
fn remaining_length_more_than_four_bytes_is_malformed_v311_2_2_3_v5_1_5_5() {
    assert_eq!(
        FixedHeader::parse(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        Err(DecodeError::Malformed(Malformed::VarIntTooLong))
    );
    // Four continuation bytes are already conclusive.
    assert_eq!(
        FixedHeader::parse(&[0x30, 0x80, 0x80, 0x80, 0x80]),
        Err(DecodeError::Malformed(Malformed::VarIntTooLong))
    );
}

#[test]
fn fixed_header_incomplete_is_not_an_error() {
    assert_eq!(FixedHeader::parse(&[]), Ok(None));
    assert_eq!(FixedHeader::parse(&[0x30]), Ok(None));
    assert_eq!(FixedHeader::parse(&[0x30, 0x80]), Ok(None));
    assert_eq!(
        FixedHeader::parse(&[0x30, 0x80, 0x01]),
        Ok(Some((
            FixedHeader {
                packet_type: PacketType::Publish,
                flags: 0,
                remaining_length: 128
            },
            3
        )))
    );
}

#[test]
fn reserved_packet_type_zero_is_malformed() {
    assert_eq!(
        FixedHeader::parse(&[0x00, 0x00]),
        Err(DecodeError::Malformed(Malformed::InvalidPacketType(0)))
    );
}

#[test]
fn reserved_fixed_header_flags_v311_mqtt_2_2_2_1_v5_mqtt_2_1_3_1() {
    for t in 1u8..=15 {
        let Some(pt) = PacketType::from_u8(t) else {
            continue;
        };
        let Some(required) = pt.required_flags() else {
            continue;
        };
        for flags in 0u8..16 {
            let r = FixedHeader::parse(&[(t << 4) | flags, 0]);
            if flags == required {
                assert!(matches!(r, Ok(Some(_))), "type {t} flags {flags}");
            } else {
                assert_eq!(
                    r,
                    Err(DecodeError::Malformed(Malformed::InvalidFixedHeaderFlags {
                        packet_type: t,
                        flags
                    })),
                    "type {t} flags {flags}"
                );
            }
        }
    }
}

#[test]
fn pubrel_subscribe_unsubscribe_flags_0010_v311_and_v5_mqtt_3_6_1_1_mqtt_3_8_1_1_mqtt_3_10_1_1() {
    assert_eq!(PacketType::PubRel.required_flags(), Some(0b0010));
    assert_eq!(PacketType::Subscribe.required_flags(), Some(0b0010));
    assert_eq!(PacketType::Unsubscribe.required_flags(), Some(0b0010));
    for v in versions() {
        // PUBREL with flags 0000.
        assert!(matches!(
            dec(v, &[0x60, 2, 0, 1]),
            Err(DecodeError::Malformed(
                Malformed::InvalidFixedHeaderFlags { .. }
            ))
        ));
        assert!(matches!(dec(v, &[0x62, 2, 0, 1]), Ok(Packet::PubRel(_))));
    }
}

#[test]
fn publish_qos_3_is_malformed_mqtt_3_3_1_4_v311_and_v5() {
    assert_eq!(
        FixedHeader::parse(&[0x36, 0]),
        Err(DecodeError::Malformed(Malformed::InvalidQoS))
    );
}

#[test]
fn publish_dup_with_qos0_is_malformed_mqtt_3_3_1_2_v311_and_v5() {
    assert_eq!(
        FixedHeader::parse(&[0x38, 0]),
        Err(DecodeError::Malformed(Malformed::DupWithQoS0))
    );
    let mut p = Publish::new("a", QosPid::AtMostOnce, b"");
    p.dup = true;
    for v in versions() {
        assert_eq!(
            Packet::Publish(p).encoded_len(v),
            Err(EncodeError::InvalidValue)
        );
    }
}

#[test]
fn utf8_ill_formed_rejected_v311_mqtt_1_5_3_1_v5_mqtt_1_5_4_1() {
    // "a" + lone continuation byte; and an encoded surrogate U+D800 (ED A0 80).
    for bad in [&[b'a', 0x80][..], &[0xED, 0xA0, 0x80][..]] {
        let mut body = vec![0, bad.len() as u8];
        body.extend_from_slice(bad);
        for v in versions() {
            assert_eq!(
                dec(v, &frame(0x30, &body)),
                malformed(Malformed::InvalidUtf8)
            );
        }
    }
}

#[test]
fn utf8_null_character_rejected_v311_mqtt_1_5_3_2_v5_mqtt_1_5_4_2() {
    for v in versions() {
        assert_eq!(
            dec(v, &frame(0x30, &[0, 3, b'a', 0, b'b'])),
            malformed(Malformed::NullCharacter)
        );
        assert_eq!(
            Packet::Connect(Connect::new(v, "a\0b")).encoded_len(v),
            Err(EncodeError::InvalidString)
        );
    }
}

#[test]
fn utf8_bom_is_not_stripped_v5_mqtt_1_5_4_3() {
    for v in versions() {
        let mut body = vec![0, 4, 0xEF, 0xBB, 0xBF, b'a'];
        if v.is_v5() {
            body.push(0);
        }
        let bytes = frame(0x30, &body);
        let Ok(Packet::Publish(p)) = dec(v, &bytes) else {
            panic!()
        };
        assert_eq!(p.topic, "\u{FEFF}a");
    }
}

#[test]
fn string_longer_than_65535_cannot_be_encoded() {
    let long = "a".repeat(65_536);
    for v in versions() {
        let mut c = Connect::new(v, "c");
        c.username = Some(&long);
        assert_eq!(
            Packet::Connect(c).encoded_len(v),
            Err(EncodeError::FieldTooLong { len: 65_536 })
        );
    }
}

#[test]
fn remaining_length_over_268435455_cannot_be_encoded() {
    // calloc'd and never touched by the counting pass.
    let payload = vec![0u8; 268_435_456];
    for v in versions() {
        assert!(matches!(
            Packet::Publish(Publish::new("a", QosPid::AtMostOnce, &payload)).encoded_len(v),
            Err(EncodeError::PacketTooLarge { .. })
        ));
    }
}

#[test]
fn insufficient_size_reports_required_and_writes_nothing() {
    let p = Packet::Publish(Publish::new("a/b", QosPid::AtLeastOnce(pid(7)), b"xyz"));
    for v in versions() {
        let n = p.encoded_len(v).unwrap();
        let mut buf = vec![0xAA; n - 1];
        assert_eq!(
            p.encode(v, &mut buf),
            Err(EncodeError::InsufficientSize { required: n })
        );
        assert!(buf.iter().all(|&b| b == 0xAA));
        let mut buf = vec![0u8; n + 5];
        assert_eq!(p.encode(v, &mut buf), Ok(n));
    }
}

#[test]
fn frame_must_match_remaining_length_exactly() {
    for v in versions() {
        // PINGREQ with a body byte.
        assert_eq!(dec(v, &[0xC0, 1, 0]), malformed(Malformed::TrailingBytes));
        // Frame shorter than its Remaining Length.
        assert_eq!(dec(v, &[0x40, 2, 0]), malformed(Malformed::UnexpectedEnd));
        // Frame longer than its Remaining Length.
        assert_eq!(
            dec(v, &[0x40, 2, 0, 1, 9]),
            malformed(Malformed::TrailingBytes)
        );
        // Remaining Length too small for the fields.
        assert_eq!(dec(v, &[0x40, 1, 0]), malformed(Malformed::UnexpectedEnd));
    }
}

#[test]
fn packet_id_zero_rejected_v311_mqtt_2_3_1_1_v5_mqtt_2_2_1_3() {
    for v in versions() {
        let zero = violation(ProtocolViolation::ZeroPacketId);
        assert_eq!(dec(v, &frame(0x32, &[0, 1, b'a', 0, 0])), zero);
        assert_eq!(dec(v, &[0x40, 2, 0, 0]), zero);
        assert_eq!(dec(v, &[0x50, 2, 0, 0]), zero);
        assert_eq!(dec(v, &[0x62, 2, 0, 0]), zero);
        assert_eq!(dec(v, &[0x70, 2, 0, 0]), zero);
        assert_eq!(dec(v, &[0xB0, 2, 0, 0]), zero);
    }
}

#[test]
fn reason_code_conversions() {
    for b in 0u8..=255 {
        if let Ok(code) = ReasonCode::try_from(b) {
            assert_eq!(code.code(), b);
            assert_eq!(code.is_error(), b >= 0x80);
        }
    }
    assert_eq!(ReasonCode::try_from(0x03), Err(0x03));
    assert_eq!(ReasonCode::NORMAL_DISCONNECTION, ReasonCode::Success);
    assert_eq!(
        std::format!("{}", ReasonCode::PacketTooLarge),
        "Packet too large (0x95)"
    );
    // 3.1.1 CONNACK return codes (Table 3.1).
    let map = [
        (0, ReasonCode::Success),
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (rc, code) in map {
        assert_eq!(ReasonCode::from_v3_connack(rc), Some(code));
        assert_eq!(code.to_v3_connack(), Some(rc));
    }
    assert_eq!(ReasonCode::from_v3_connack(6), None);
    assert_eq!(ReasonCode::PacketTooLarge.to_v3_connack(), None);
    assert_eq!(ReasonCode::NotAuthorized.to_v3_suback(), Some(0x80));
    assert_eq!(ReasonCode::GrantedQoS2.to_v3_suback(), Some(2));
}

#[test]
fn decode_error_reason_codes() {
    let e = DecodeError::Malformed(Malformed::InvalidUtf8);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(
        DecodeError::Protocol(ProtocolViolation::ZeroPacketId).reason_code(),
        ReasonCode::ProtocolError
    );
    assert_eq!(
        DecodeError::PacketTooLarge { size: 10, max: 5 }.reason_code(),
        ReasonCode::PacketTooLarge
    );
    assert_eq!(
        DecodeError::UnsupportedProtocol { level: 9 }.connack_reason(),
        Some(ReasonCode::UnsupportedProtocolVersion)
    );
    assert_eq!(
        DecodeError::ClientIdNotValid
            .connack_reason()
            .and_then(ReasonCode::to_v3_connack),
        Some(2)
    );
    assert_eq!(
        DecodeError::FirstPacketNotConnect { packet_type: 3 }.connack_reason(),
        None
    );
    // Display is hand-written and non-empty for every group.
    assert!(!std::format!("{e}").is_empty());
}

#[test]
fn ping_round_trip_and_bytes_all_versions() {
    for v in versions() {
        assert_eq!(roundtrip(Packet::PingReq, v), [0xC0, 0]);
        assert_eq!(roundtrip(Packet::PingResp, v), [0xD0, 0]);
    }
}

#[test]
fn lists_compare_by_items() {
    let subs = [Subscription {
        filter: "a/+",
        options: SubscriptionOptions::new(QoS::AtLeastOnce),
    }];
    let encoded = Subscriptions::Encoded(&[0, 3, b'a', b'/', b'+', 1]);
    assert_eq!(encoded, Subscriptions::Slice(&subs));
    assert_eq!(encoded.len(), 1);
    assert!(!encoded.is_empty());
    assert_ne!(Subscriptions::Encoded(&[]), Subscriptions::Slice(&subs));
    assert!(Subscriptions::default().is_empty());
    // Garbage in a hand-built Encoded list stops iteration instead of panicking.
    assert_eq!(Filters::Encoded(&[0, 9, b'a']).len(), 0);
    assert_eq!(ReasonCodes::Encoded(&[0, 0x03, 0]).len(), 1);
    assert_eq!(
        std::format!("{:?}", Filters::Slice(&["a", "b"])),
        "[\"a\", \"b\"]"
    );
}

#[cfg(any(feature = "v3", feature = "v5"))]
mod frames;
mod peek;
mod publish_header;
#[cfg(feature = "v3")]
mod v3;
#[cfg(feature = "v5")]
mod v5;

#[test]
fn reader_vbi_strict_only_when_asked() {
    let mut r = Reader::new(&[0x80, 0x00], false);
    assert_eq!(r.vbi(), Ok(0));
    let mut r = Reader::new(&[0x80, 0x00], true);
    assert_eq!(
        r.vbi(),
        Err(DecodeError::Malformed(Malformed::NonMinimalVarInt))
    );
}

/// `encode_bare` (the session engine's acknowledgements, DISCONNECT, PINGREQ / PINGRESP)
/// writes the same bytes, and fails the same way, as `Packet::encode` of the same packet
/// without properties: every reason code, every version, every output length.
#[test]
fn encode_bare_matches_the_general_encoder() {
    let general = |p: &Packet<'_>, v, out: &mut [u8]| p.encode(v, out);
    for v in versions() {
        for code in 0..=255u8 {
            let Ok(reason) = ReasonCode::try_from(code) else {
                continue;
            };
            let mut cases: Vec<(PacketType, Option<PacketId>, Packet<'_>)> = Vec::new();
            for t in [
                PacketType::PubAck,
                PacketType::PubRec,
                PacketType::PubRel,
                PacketType::PubComp,
            ] {
                #[allow(unused_mut)]
                let mut r = PubResponse::new(pid(0x1234));
                #[cfg(feature = "v5")]
                {
                    r.reason = reason;
                }
                let p = match t {
                    PacketType::PubAck => Packet::PubAck(r),
                    PacketType::PubRec => Packet::PubRec(r),
                    PacketType::PubRel => Packet::PubRel(r),
                    _ => Packet::PubComp(r),
                };
                cases.push((t, Some(pid(0x1234)), p));
            }
            #[allow(unused_mut)]
            let mut d = Disconnect::new();
            #[cfg(feature = "v5")]
            {
                d.reason = reason;
            }
            cases.push((PacketType::Disconnect, None, Packet::Disconnect(d)));
            if reason == ReasonCode::Success {
                cases.push((PacketType::PingReq, None, Packet::PingReq));
                cases.push((PacketType::PingResp, None, Packet::PingResp));
            }
            for (t, id, p) in cases {
                for len in 0..8 {
                    let (mut a, mut b) = ([0xAAu8; 8], [0xAAu8; 8]);
                    let bare = encode_bare(v.is_v5(), t, id, reason, &mut a[..len]);
                    let want = general(&p, v, &mut b[..len]);
                    assert_eq!(bare, want, "{v:?} {t:?} {reason:?} len {len}");
                    if let Ok(n) = want {
                        assert_eq!(a[..n], b[..n], "{v:?} {t:?} {reason:?}");
                    }
                }
            }
        }
    }
}

/// `utf8` (the decoder's check; `Utf8Chunks` without `alloc`) agrees with
/// `core::str::from_utf8`: every 1- and 2-byte input, 3-byte inputs around the surrogate and
/// overlong boundaries, and random inputs.
#[test]
fn utf8_agrees_with_from_utf8() {
    let check = |b: &[u8]| assert_eq!(utf8(b), core::str::from_utf8(b).ok(), "{b:02x?}");
    check(b"");
    for a in 0..=255u8 {
        check(&[a]);
        for b in 0..=255u8 {
            check(&[a, b]);
            check(&[b'x', a, b]);
        }
    }
    for a in [0xE0u8, 0xED, 0xEF, 0xF0, 0xF4, 0xF5] {
        for b in 0x70..=0xC0u8 {
            for c in [0x7F, 0x80, 0xBF, 0xC0] {
                check(&[a, b, c]);
                check(&[a, b, c, 0x80]);
                check(&[a, b, c, 0x80, b'y']);
            }
        }
    }
    proptest::proptest!(|(v in proptest::collection::vec(proptest::num::u8::ANY, 0..12))| {
        check(&v);
    });
    proptest::proptest!(|(s in "\\PC{0,12}", cut in 0usize..40)| {
        let b = s.as_bytes();
        check(b);
        check(&b[..cut.min(b.len())]);
    });
}
