//! `Publish::encode_header`: header ++ payload is the full encoding, and the reported offsets
//! patch the per-recipient fields.

use std::vec;
use std::vec::Vec;

use super::*;

fn full(p: &Publish<'_>, v: ProtocolVersion) -> Vec<u8> {
    enc(&Packet::Publish(*p), v)
}

/// Header through `encode_header` (exactly sized buffer), checked against the full encoding.
fn header_checked(p: &Publish<'_>, v: ProtocolVersion) -> (Vec<u8>, PublishHeader) {
    let len = p.header_len(v).unwrap();
    let mut buf = vec![0u8; len];
    let h = p.encode_header(v, &mut buf).unwrap();
    assert_eq!(h.len, len);
    assert_eq!(h.flags_offset, 0);
    let mut joined = buf.clone();
    joined.extend_from_slice(p.payload);
    assert_eq!(joined, full(p, v), "{p:?} in {v:?}");
    // A larger buffer gives the same bytes; one byte less is InsufficientSize.
    let mut big = vec![0xAAu8; len + 7];
    assert_eq!(p.encode_header(v, &mut big), Ok(h));
    assert_eq!(&big[..len], &buf[..]);
    assert_eq!(
        p.encode_header(v, &mut big[..len - 1]),
        Err(EncodeError::InsufficientSize { required: len })
    );
    (buf, h)
}

/// Patches every combination of packet id / DUP / RETAIN into the header and compares with
/// encoding those values.
fn check_patches(p: &Publish<'_>, v: ProtocolVersion) {
    let (base, h) = header_checked(p, v);
    for id in [1u16, 2, 0x00FF, 0x0100, 0xABCD, u16::MAX] {
        for dup in [false, true] {
            for retain in [false, true] {
                let mut expected = *p;
                expected.retain = retain;
                let mut patched = base.clone();
                h.set_retain(&mut patched, retain).unwrap();
                match p.qos_pid {
                    QosPid::AtMostOnce => {
                        assert_eq!(h.packet_id_offset, None);
                        assert_eq!(
                            h.set_packet_id(&mut patched, pid(id)),
                            Err(EncodeError::InvalidValue)
                        );
                        if dup {
                            assert_eq!(
                                h.set_dup(&mut patched, true),
                                Err(EncodeError::InvalidValue)
                            );
                            continue;
                        }
                        h.set_dup(&mut patched, false).unwrap();
                    }
                    QosPid::AtLeastOnce(_) | QosPid::ExactlyOnce(_) => {
                        expected.qos_pid = match p.qos_pid {
                            QosPid::AtLeastOnce(_) => QosPid::AtLeastOnce(pid(id)),
                            _ => QosPid::ExactlyOnce(pid(id)),
                        };
                        expected.dup = dup;
                        h.set_packet_id(&mut patched, pid(id)).unwrap();
                        h.set_dup(&mut patched, dup).unwrap();
                    }
                }
                patched.extend_from_slice(p.payload);
                assert_eq!(
                    patched,
                    full(&expected, v),
                    "id {id} dup {dup} retain {retain}"
                );
            }
        }
    }
    // Patching a too-short slice fails without panicking.
    let mut short = vec![0u8; h.len - 1];
    assert_eq!(
        h.set_retain(&mut [], true),
        Err(EncodeError::InsufficientSize { required: h.len })
    );
    if h.packet_id_offset.is_some() {
        assert_eq!(
            h.set_packet_id(&mut short, pid(1)),
            Err(EncodeError::InsufficientSize { required: h.len })
        );
    }
}

#[cfg(feature = "v5")]
const USERS: [(&str, &str); 2] = [("k", "v"), ("key2", "value2")];

#[allow(unused_mut)]
fn publishes<'a>(topic: &'a str, payload: &'a [u8]) -> Vec<Publish<'a>> {
    let mut out = Vec::new();
    for qos_pid in [
        QosPid::AtMostOnce,
        QosPid::AtLeastOnce(pid(10)),
        QosPid::ExactlyOnce(pid(0x1234)),
    ] {
        let mut p = Publish::new(topic, qos_pid, payload);
        out.push(p);
        p.retain = true;
        p.dup = qos_pid != QosPid::AtMostOnce;
        out.push(p);
        #[cfg(feature = "v5")]
        {
            let mut q = Publish::new(topic, qos_pid, payload);
            q.properties.message_expiry_interval = Some(3600);
            q.properties.content_type = Some("text/plain");
            q.properties.user_properties = UserProperties::Slice(&USERS);
            q.properties.correlation_data = Some(&[1, 2, 3]);
            q.properties.topic_alias = NonZeroU16::new(3);
            out.push(q);
            q.topic = "";
            out.push(q);
        }
    }
    out
}

#[test]
fn header_plus_payload_is_the_full_encoding() {
    let big = vec![0x5Au8; 20_000];
    // Payload sizes putting the Remaining Length on both sides of 127 and 16383.
    let mut sizes = vec![
        0usize, 1, 64, 100, 110, 117, 118, 119, 120, 121, 122, 125, 127, 128,
    ];
    sizes.extend(16_300..16_400);
    sizes.push(big.len());
    for v in versions() {
        for &n in &sizes {
            for p in publishes("sensors/room-1/temperature", &big[..n]) {
                if !v.is_v5() && p.topic.is_empty() {
                    continue;
                }
                header_checked(&p, v);
            }
        }
    }
}

#[test]
fn remaining_length_boundaries_are_crossed() {
    // Sanity check that the sizes above really cross the 1/2 and 2/3 byte VBI boundaries.
    let big = vec![0u8; 16_400];
    for v in versions() {
        let mut header_lens = std::collections::BTreeSet::new();
        for n in [0usize, 110, 120, 128, 16_300, 16_390] {
            let p = Publish::new("a/b", QosPid::AtLeastOnce(pid(1)), &big[..n]);
            header_lens.insert(p.header_len(v).unwrap());
        }
        assert_eq!(header_lens.len(), 3, "{v:?}: {header_lens:?}");
    }
}

#[test]
fn patching_packet_id_dup_retain_equals_encoding_them() {
    let payload = vec![7u8; 300];
    for v in versions() {
        for p in publishes("a/b", &payload) {
            if !v.is_v5() && p.topic.is_empty() {
                continue;
            }
            check_patches(&p, v);
        }
    }
}

#[test]
fn encode_header_validates_like_encode() {
    for v in versions() {
        let mut buf = [0u8; 64];
        let bad_topic = Publish::new("a/+", QosPid::AtMostOnce, b"x");
        assert_eq!(
            bad_topic.encode_header(v, &mut buf),
            Err(EncodeError::InvalidTopicName)
        );
        assert_eq!(bad_topic.header_len(v), Err(EncodeError::InvalidTopicName));
        // Validation comes before the size check, as for `encode`.
        assert_eq!(
            bad_topic.encode_header(v, &mut []),
            Err(EncodeError::InvalidTopicName)
        );
        let mut dup0 = Publish::new("a", QosPid::AtMostOnce, b"x");
        dup0.dup = true;
        assert_eq!(
            dup0.encode_header(v, &mut buf),
            Err(EncodeError::InvalidValue)
        );
        assert_eq!(
            Packet::Publish(dup0).encode(v, &mut buf),
            Err(EncodeError::InvalidValue)
        );
    }
}

proptest::proptest! {
    #[test]
    fn header_plus_payload_prop(
        topic in "[a-z]{1,8}(/[a-z0-9]{0,6}){0,4}",
        payload_len in 0usize..17_000,
        qos in 0u8..3,
        id in 1u16..,
        dup: bool,
        retain: bool,
        props: bool,
        new_id in 1u16..,
        new_dup: bool,
        new_retain: bool,
    ) {
        let payload = vec![0xC3u8; payload_len];
        let qos_pid = match qos {
            0 => QosPid::AtMostOnce,
            1 => QosPid::AtLeastOnce(pid(id)),
            _ => QosPid::ExactlyOnce(pid(id)),
        };
        let mut p = Publish::new(&topic, qos_pid, &payload);
        p.dup = dup && qos > 0;
        p.retain = retain;
        #[cfg(feature = "v5")]
        if props {
            p.properties.message_expiry_interval = Some(u32::from(id));
            p.properties.user_properties = UserProperties::Slice(&USERS);
        }
        let _ = props;
        for v in versions() {
            let len = p.header_len(v).unwrap();
            let mut header = vec![0u8; len];
            let h = p.encode_header(v, &mut header).unwrap();
            let mut joined = header.clone();
            joined.extend_from_slice(&payload);
            proptest::prop_assert_eq!(&joined, &full(&p, v));

            let mut q = p;
            q.retain = new_retain;
            h.set_retain(&mut header, new_retain).unwrap();
            if qos > 0 {
                q.dup = new_dup;
                q.qos_pid = if qos == 1 {
                    QosPid::AtLeastOnce(pid(new_id))
                } else {
                    QosPid::ExactlyOnce(pid(new_id))
                };
                h.set_dup(&mut header, new_dup).unwrap();
                h.set_packet_id(&mut header, pid(new_id)).unwrap();
            }
            header.extend_from_slice(&payload);
            proptest::prop_assert_eq!(&header, &full(&q, v));
        }
    }
}

#[test]
fn decode_head_of_every_prefix() {
    let big = vec![0x5Au8; 20_000];
    for v in versions() {
        for n in [0usize, 64, big.len()] {
            for p in publishes("sensors/room-1/temperature", &big[..n]) {
                if !v.is_v5() && p.topic.is_empty() {
                    continue;
                }
                let wire = full(&p, v);
                let Ok(Packet::Publish(whole)) = Packet::decode(v, &wire) else {
                    panic!("{p:?} does not decode");
                };
                let head_len = wire.len() - n;
                assert_eq!(head_len, p.header_len(v).unwrap());
                let expected = Publish {
                    payload: &[],
                    ..whole
                };
                for k in (0..=head_len + 2).chain([wire.len()]) {
                    let got = Publish::decode_head(v, &wire[..k.min(wire.len())]);
                    if k < head_len {
                        assert_eq!(got, Ok(None), "{k} of {head_len} bytes, {p:?}");
                    } else {
                        assert_eq!(got, Ok(Some((expected, head_len))), "{k} bytes, {p:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn decode_head_applies_the_publish_checks() {
    for v in versions() {
        let p = Publish::new("a/b", QosPid::AtLeastOnce(pid(7)), &[0u8; 300]);
        let wire = full(&p, v);
        let (header_len, topic_at) = (3, 3 + 2);
        let head = |mutate: &dyn Fn(&mut Vec<u8>)| {
            let mut w = wire.clone();
            mutate(&mut w);
            // Only the head is buffered, as for an oversize message.
            Publish::decode_head(v, &w[..header_len + 2 + 3 + 2 + 4]).map(|h| h.map(|(_, n)| n))
        };
        // 3.1.1 and 5.0 [MQTT-3.3.2-2]: no wildcards in a topic name.
        assert_eq!(
            head(&|w| w[topic_at + 2] = b'#'),
            Err(Malformed::InvalidTopicName.into())
        );
        // 3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]: no U+0000.
        assert_eq!(
            head(&|w| w[topic_at + 1] = 0),
            Err(Malformed::NullCharacter.into())
        );
        // 3.1.1 [MQTT-2.3.1-1], 5.0 [MQTT-2.2.1-3]: the packet identifier is non-zero.
        assert!(head(&|w| w[topic_at + 3..topic_at + 5].copy_from_slice(&[0, 0])).is_err());
        // Not a PUBLISH.
        assert!(Publish::decode_head(v, &[0x40, 2, 0, 1]).is_err());
    }
}
