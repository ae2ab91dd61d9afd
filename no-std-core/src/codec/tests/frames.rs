//! FrameReader tests: reassembly, limits, first packet, version discovery.

use std::vec::Vec;

use super::*;

/// Feeds `stream` cut at `cuts` (increasing offsets) and checks the packets produced.
fn drain_in_pieces(
    reader: &mut FrameReader,
    stream: &[u8],
    cuts: &[usize],
    expected: &[Packet<'_>],
) {
    let mut start = 0;
    let mut got = 0;
    for &end in cuts.iter().chain(core::iter::once(&stream.len())) {
        loop {
            // `decode_with` agrees with `decode` at every step, version discovery included.
            let mut with = *reader;
            let by_ref = with.decode_with(&stream[start..end], |p, n| (*p, n));
            let by_value = reader.decode(&stream[start..end]);
            match (&by_value, by_ref) {
                (Ok(Decoded::Incomplete { needed }), Ok(DecodedWith::Incomplete { needed: n })) => {
                    assert_eq!(*needed, n)
                }
                (Ok(Decoded::Packet { packet, consumed }), Ok(DecodedWith::Packet((p, n)))) => {
                    assert_eq!((packet, *consumed), (&p, n))
                }
                (Err(a), Err(b)) => assert_eq!(a, &b),
                (a, b) => panic!("decode {a:?}, decode_with {b:?}"),
            }
            assert_eq!(with, *reader);
            match by_value {
                Ok(Decoded::Incomplete { needed }) => {
                    assert!(needed > end - start, "needed {needed} with {}", end - start);
                    break;
                }
                Ok(Decoded::Packet { packet, consumed }) => {
                    assert_eq!(packet, expected[got], "cuts {cuts:?}");
                    got += 1;
                    start += consumed;
                }
                Err(e) => panic!("{e} at cuts {cuts:?}"),
            }
        }
    }
    assert_eq!(got, expected.len());
    assert_eq!(start, stream.len());
}

fn stream_for(v: ProtocolVersion, packets: &[Packet<'_>]) -> Vec<u8> {
    packets.iter().flat_map(|p| enc(p, v)).collect()
}

fn sample_packets(v: ProtocolVersion) -> Vec<Packet<'static>> {
    static SUBS: [Subscription<'static>; 2] = [
        Subscription {
            filter: "a/+",
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        },
        Subscription {
            filter: "#",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        },
    ];
    let mut connect = Connect::new(v, "client");
    connect.keep_alive = 30;
    let big = Publish::new("t", QosPid::AtLeastOnce(pid(2)), &[7u8; 300]);
    #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
    let mut props_publish = Publish::new("p/q", QosPid::ExactlyOnce(pid(9)), b"z");
    #[cfg(feature = "v5")]
    if v.is_v5() {
        static USERS: [(&str, &str); 1] = [("k", "v")];
        static SIDS: [u32; 2] = [5, 300];
        props_publish.properties.user_properties = UserProperties::Slice(&USERS);
        props_publish.properties.subscription_identifiers = SubscriptionIds::Slice(&SIDS);
        props_publish.properties.content_type = Some("c");
        props_publish.properties.topic_alias = NonZeroU16::new(2);
    }
    std::vec![
        Packet::Connect(connect),
        Packet::Publish(props_publish),
        Packet::Publish(Publish::new("a/b", QosPid::AtMostOnce, b"x")),
        Packet::Publish(big),
        Packet::Subscribe(Subscribe::new(pid(3), Subscriptions::Slice(&SUBS))),
        Packet::PingReq,
        Packet::PubAck(PubResponse::new(pid(2))),
        Packet::Disconnect(Disconnect::new()),
    ]
}

#[test]
fn split_at_every_byte_boundary_gives_same_packets() {
    for v in versions() {
        let packets = sample_packets(v);
        let stream = stream_for(v, &packets);
        for k in 0..=stream.len() {
            drain_in_pieces(&mut FrameReader::new(4096), &stream, &[k], &packets);
        }
        // Two cuts around the multi-byte Remaining Length of the 300-byte PUBLISH.
        for a in 0..40 {
            for b in a..60 {
                drain_in_pieces(&mut FrameReader::new(4096), &stream, &[a, b], &packets);
            }
        }
        // One byte at a time.
        let cuts: Vec<usize> = (0..stream.len()).collect();
        drain_in_pieces(&mut FrameReader::new(4096), &stream, &cuts, &packets);
    }
}

#[test]
fn oversize_rejected_right_after_remaining_length() {
    for v in versions() {
        let mut r = FrameReader::with_version(v, 100);
        assert_eq!(
            r.decode(&[0x30, 0xFF]),
            Ok(Decoded::Incomplete { needed: 3 })
        );
        // Remaining Length 16383: rejected before any body byte is buffered.
        assert_eq!(
            r.decode(&[0x30, 0xFF, 0x7F]),
            Err(DecodeError::PacketTooLarge {
                size: 16_386,
                max: 100
            })
        );
        assert_eq!(
            r.decode(&[0x30, 0xFF, 0x7F]).unwrap_err().reason_code(),
            ReasonCode::PacketTooLarge
        );
        // The same through `decode_with`, which never calls its closure then.
        let never = |_: &Packet<'_>, _: usize| -> () { panic!("no packet") };
        assert_eq!(
            r.decode_with(&[0x30, 0xFF], never),
            Ok(DecodedWith::Incomplete { needed: 3 })
        );
        assert_eq!(
            r.decode_with(&[0x30, 0xFF, 0x7F], never),
            Err(DecodeError::PacketTooLarge {
                size: 16_386,
                max: 100
            })
        );
    }
    // [MQTT-3.1.0-1]: a first packet that is not CONNECT, from its first byte.
    let mut r = FrameReader::new(100);
    assert!(matches!(
        r.decode_with(&[0x30], |_, _| ()),
        Err(DecodeError::FirstPacketNotConnect { packet_type: 3 })
    ));
}

#[test]
fn maximum_packet_size_counts_the_fixed_header_v5_section_3_1_2_11_4() {
    for v in versions() {
        let p = Packet::Publish(Publish::new("a/b", QosPid::AtMostOnce, b"123456"));
        let bytes = enc(&p, v);
        let n = bytes.len() as u32;
        let mut ok = FrameReader::with_version(v, n);
        assert_eq!(
            ok.decode(&bytes),
            Ok(Decoded::Packet {
                packet: p,
                consumed: bytes.len()
            })
        );
        let mut small = FrameReader::with_version(v, n - 1);
        assert_eq!(
            small.decode(&bytes[..2]),
            Err(DecodeError::PacketTooLarge {
                size: bytes.len(),
                max: n - 1
            })
        );
    }
}

#[test]
fn first_packet_must_be_connect_v311_and_v5_mqtt_3_1_0_1() {
    let mut r = FrameReader::new(1024);
    assert_eq!(r.decode(&[]), Ok(Decoded::Incomplete { needed: 1 }));
    for first in [0x30u8, 0x20, 0xC0, 0xE0, 0x82] {
        let err = r.decode(&[first]).unwrap_err();
        assert_eq!(
            err,
            DecodeError::FirstPacketNotConnect {
                packet_type: first >> 4
            }
        );
        assert_eq!(err.connack_reason(), None);
    }
    assert_eq!(r.version(), None);
}

#[test]
fn version_learned_from_connect() {
    for v in versions() {
        let mut r = FrameReader::new(1024);
        let bytes = enc(&Packet::Connect(Connect::new(v, "c")), v);
        assert!(matches!(
            r.decode(&bytes),
            Ok(Decoded::Packet {
                packet: Packet::Connect(c),
                ..
            }) if c.protocol == v
        ));
        assert_eq!(r.version(), Some(v));
        // Later packets follow the learned version: a PUBACK with a reason code is 5.0 only.
        let res = r.decode(&[0x40, 3, 0, 1, 0x10]);
        if v.is_v5() {
            assert!(matches!(res, Ok(Decoded::Packet { .. })));
        } else {
            assert_eq!(res, Err(DecodeError::Malformed(Malformed::TrailingBytes)));
        }
    }
}

#[test]
fn unsupported_protocol_level_in_first_connect_v311_and_v5_mqtt_3_1_2_2() {
    let mut r = FrameReader::new(1024);
    let bytes = frame(
        0x10,
        &[0, 4, b'M', b'Q', b'T', b'T', 7, 2, 0, 0, 0, 1, b'a'],
    );
    let err = r.decode(&bytes).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedProtocol { level: 7 });
    // 5.0 CONNACK 0x84; 3.1.1 CONNACK return code 0x01.
    assert_eq!(
        err.connack_reason(),
        Some(ReasonCode::UnsupportedProtocolVersion)
    );
    assert_eq!(
        err.connack_reason().and_then(ReasonCode::to_v3_connack),
        Some(1)
    );
    assert_eq!(r.version(), None);
}

/// Deterministic mutation smoke test (the fuzz target does this at scale): decoding mutated
/// valid streams never panics, and every packet that decodes re-encodes to an equal packet.
#[test]
fn mutated_streams_decode_or_error_and_reencode() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for v in versions() {
        let base = stream_for(v, &sample_packets(v));
        for _ in 0..3000 {
            let mut s = base.clone();
            for _ in 0..(rand() % 4 + 1) {
                let i = (rand() as usize) % s.len();
                s[i] = rand() as u8;
            }
            let cut = (rand() as usize) % (s.len() + 1);
            s.truncate(cut);
            for mut reader in [FrameReader::new(4096), FrameReader::with_version(v, 4096)] {
                let mut rest = &s[..];
                while let Ok(Decoded::Packet { packet, consumed }) = reader.decode(rest) {
                    let version = reader.version().unwrap();
                    let bytes = enc(&packet, version);
                    assert_eq!(Packet::decode(version, &bytes), Ok(packet));
                    rest = &rest[consumed..];
                }
            }
        }
    }
}
