//! MQTT 3.1 / 3.1.1 tests (statement ids are 3.1.1's).

use std::vec;
use std::vec::Vec;

use super::*;
use crate::topic::TopicName;

const V: ProtocolVersion = ProtocolVersion::V3_1_1;

fn connect_body(name: &[u8], level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0, name.len() as u8];
    b.extend_from_slice(name);
    b.push(level);
    b.push(flags);
    b.extend_from_slice(&[0, 10]);
    b.extend_from_slice(rest);
    b
}

fn full_connect() -> Connect<'static> {
    Connect {
        protocol: V,
        clean_start: true,
        keep_alive: 10,
        client_id: "cid",
        will: Some(Will {
            topic: TopicName::new("w/t").unwrap(),
            payload: b"bye",
            qos: QoS::AtLeastOnce,
            retain: false,
            #[cfg(feature = "v5")]
            properties: Default::default(),
        }),
        username: Some("user"),
        password: Some(b"pw"),
        #[cfg(feature = "v5")]
        properties: Default::default(),
    }
}

#[test]
fn connect_bytes_exact_v311_section_3_1() {
    let bytes = roundtrip(Packet::Connect(full_connect()), V);
    let mut expected = vec![0x10, 35, 0, 4, b'M', b'Q', b'T', b'T', 4, 0xCE, 0, 10];
    expected.extend_from_slice(&[0, 3, b'c', b'i', b'd']);
    expected.extend_from_slice(&[0, 3, b'w', b'/', b't']);
    expected.extend_from_slice(&[0, 3, b'b', b'y', b'e']);
    expected.extend_from_slice(&[0, 4, b'u', b's', b'e', b'r']);
    expected.extend_from_slice(&[0, 2, b'p', b'w']);
    assert_eq!(bytes, expected);
}

#[test]
fn connect_round_trips_v31_and_v311() {
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        let mut c = full_connect();
        c.protocol = v;
        roundtrip(Packet::Connect(c), v);
        let mut c = Connect::new(v, "x");
        c.clean_start = false;
        c.keep_alive = 65535;
        let bytes = roundtrip(Packet::Connect(c), v);
        if v == ProtocolVersion::V3_1 {
            assert_eq!(&bytes[2..10], &[0, 6, b'M', b'Q', b'I', b's', b'd', b'p']);
            assert_eq!(bytes[10], 3);
        }
    }
}

#[test]
fn connect_encodes_and_decodes_with_its_own_protocol() {
    // CONNECT carries its version: the `version` argument does not override it.
    let c = Connect::new(ProtocolVersion::V3_1, "x");
    let bytes = enc(&Packet::Connect(c), V);
    assert_eq!(bytes[10], 3);
    assert_eq!(dec(V, &bytes), Ok(Packet::Connect(c)));
}

#[test]
fn connect_reserved_flag_v311_mqtt_3_1_2_3() {
    let body = connect_body(b"MQTT", 4, 0x03, &[0, 1, b'a']);
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::ConnectReservedFlag)
    );
}

#[test]
fn connect_will_qos_without_will_v311_mqtt_3_1_2_13() {
    for flags in [0x02 | 0x08, 0x02 | 0x10] {
        let body = connect_body(b"MQTT", 4, flags, &[0, 1, b'a']);
        assert_eq!(
            dec(V, &frame(0x10, &body)),
            malformed(Malformed::WillFlagsWithoutWill)
        );
    }
}

#[test]
fn connect_will_qos_3_v311_mqtt_3_1_2_14() {
    let body = connect_body(
        b"MQTT",
        4,
        0x02 | 0x04 | 0x18,
        &[0, 1, b'a', 0, 1, b't', 0, 0],
    );
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::InvalidQoS)
    );
}

#[test]
fn connect_will_retain_without_will_v311_mqtt_3_1_2_15() {
    let body = connect_body(b"MQTT", 4, 0x02 | 0x20, &[0, 1, b'a']);
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::WillFlagsWithoutWill)
    );
}

#[test]
fn connect_password_without_username_v311_mqtt_3_1_2_22() {
    let body = connect_body(b"MQTT", 4, 0x02 | 0x40, &[0, 1, b'a', 0, 1, b'p']);
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::PasswordWithoutUsername)
    );
    let mut c = Connect::new(V, "a");
    c.password = Some(b"p");
    assert_eq!(
        Packet::Connect(c).encoded_len(V),
        Err(EncodeError::InvalidValue)
    );
}

#[test]
fn connect_unsupported_level_v311_mqtt_3_1_2_2_return_code_1() {
    let body = connect_body(b"MQTT", 6, 0x02, &[0, 1, b'a']);
    let err = dec(V, &frame(0x10, &body)).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedProtocol { level: 6 });
    assert_eq!(
        err.connack_reason().and_then(ReasonCode::to_v3_connack),
        Some(0x01)
    );
}

#[test]
fn connect_protocol_name_and_level_must_agree_v311_mqtt_3_1_2_1() {
    // "MQIsdp" is level 3 only, "MQTT" level 4/5; other names are not MQTT.
    for (name, level) in [(&b"MQTT"[..], 3u8), (b"MQIsdp", 4), (b"MQTX", 4)] {
        let body = connect_body(name, level, 0x02, &[0, 1, b'a']);
        assert!(
            matches!(
                dec(V, &frame(0x10, &body)),
                Err(DecodeError::UnsupportedProtocol { .. })
            ),
            "{name:?} {level}"
        );
    }
}

#[test]
fn connect_v31_long_client_id_is_decoded() {
    // 3.1 limited client ids to 23 bytes; the codec leaves that to the broker.
    let id = "abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rest = vec![0, id.len() as u8];
    rest.extend_from_slice(id.as_bytes());
    let bytes = frame(0x10, &connect_body(b"MQIsdp", 3, 0x02, &rest));
    let Ok(Packet::Connect(c)) = dec(V, &bytes) else {
        panic!()
    };
    assert_eq!(c.protocol, ProtocolVersion::V3_1);
    assert_eq!(c.client_id, id);
}

#[test]
fn connect_empty_client_id_needs_clean_session_v311_mqtt_3_1_3_8() {
    let body = connect_body(b"MQTT", 4, 0x00, &[0, 0]);
    let err = dec(V, &frame(0x10, &body)).unwrap_err();
    assert_eq!(err, DecodeError::ClientIdNotValid);
    assert_eq!(
        err.connack_reason().and_then(ReasonCode::to_v3_connack),
        Some(0x02)
    );
    // With Clean Session 1 an empty id is fine [MQTT-3.1.3-7].
    let body = connect_body(b"MQTT", 4, 0x02, &[0, 0]);
    assert!(
        matches!(dec(V, &frame(0x10, &body)), Ok(Packet::Connect(c)) if c.client_id.is_empty())
    );
}

#[test]
fn connect_will_topic_must_be_topic_name_v311_mqtt_3_1_3_10() {
    let body = connect_body(b"MQTT", 4, 0x06, &[0, 1, b'a', 0, 1, b'#', 0, 0]);
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::InvalidTopicName)
    );
}

#[test]
fn connect_username_must_be_utf8_v311_mqtt_3_1_3_11() {
    let body = connect_body(b"MQTT", 4, 0x82, &[0, 1, b'a', 0, 1, 0xFF]);
    assert_eq!(
        dec(V, &frame(0x10, &body)),
        malformed(Malformed::InvalidUtf8)
    );
}

#[test]
fn connack_bytes_and_return_codes_v311_section_3_2() {
    assert_eq!(
        roundtrip(Packet::ConnAck(ConnAck::new(false, ReasonCode::Success)), V),
        [0x20, 2, 0, 0]
    );
    assert_eq!(
        roundtrip(Packet::ConnAck(ConnAck::new(true, ReasonCode::Success)), V),
        [0x20, 2, 1, 0]
    );
    for rc in 1u8..=5 {
        let code = ReasonCode::from_v3_connack(rc).unwrap();
        assert_eq!(
            roundtrip(Packet::ConnAck(ConnAck::new(false, code)), V),
            [0x20, 2, 0, rc]
        );
    }
    assert_eq!(
        dec(V, &[0x20, 2, 0, 6]),
        malformed(Malformed::InvalidReasonCode(6))
    );
    assert_eq!(
        Packet::ConnAck(ConnAck::new(false, ReasonCode::PacketTooLarge)).encoded_len(V),
        Err(EncodeError::ReasonNotInVersion(ReasonCode::PacketTooLarge))
    );
}

#[test]
fn connack_reserved_flags_v311_section_3_2_2_1() {
    assert_eq!(
        dec(V, &[0x20, 2, 0x02, 0]),
        malformed(Malformed::ConnAckReservedFlags(0x02))
    );
}

#[test]
fn connack_session_present_with_error_v311_mqtt_3_2_2_4() {
    assert_eq!(
        dec(V, &[0x20, 2, 1, 5]),
        violation(ProtocolViolation::SessionPresentOnError)
    );
    assert_eq!(
        Packet::ConnAck(ConnAck::new(true, ReasonCode::NotAuthorized)).encoded_len(V),
        Err(EncodeError::InvalidValue)
    );
}

#[test]
fn publish_bytes_exact_and_round_trip_v311_section_3_3() {
    let p = Publish::new("a/b", QosPid::AtMostOnce, b"hello");
    // QoS 0: no packet identifier [MQTT-2.3.1-5].
    assert_eq!(
        roundtrip(Packet::Publish(p), V),
        [
            0x30, 10, 0, 3, b'a', b'/', b'b', b'h', b'e', b'l', b'l', b'o'
        ]
    );
    let mut p = Publish::new("a/b", QosPid::ExactlyOnce(pid(0x1234)), b"");
    p.dup = true;
    p.retain = true;
    assert_eq!(
        roundtrip(Packet::Publish(p), V),
        [0x3D, 7, 0, 3, b'a', b'/', b'b', 0x12, 0x34]
    );
    roundtrip(
        Packet::Publish(Publish::new("x", QosPid::AtLeastOnce(pid(1)), &[0, 1, 2])),
        ProtocolVersion::V3_1,
    );
}

#[test]
fn publish_topic_without_wildcards_v311_mqtt_3_3_2_2() {
    for topic in [&b"a/+"[..], b"#", b""] {
        let mut body = vec![0, topic.len() as u8];
        body.extend_from_slice(topic);
        assert_eq!(
            dec(V, &frame(0x30, &body)),
            malformed(Malformed::InvalidTopicName)
        );
    }
    assert_eq!(
        Packet::Publish(Publish::new("a/#", QosPid::AtMostOnce, b"")).encoded_len(V),
        Err(EncodeError::InvalidTopicName)
    );
}

#[test]
fn pub_responses_bytes_v311_sections_3_4_to_3_7() {
    let r = PubResponse::new(pid(1));
    assert_eq!(roundtrip(Packet::PubAck(r), V), [0x40, 2, 0, 1]);
    assert_eq!(roundtrip(Packet::PubRec(r), V), [0x50, 2, 0, 1]);
    assert_eq!(roundtrip(Packet::PubRel(r), V), [0x62, 2, 0, 1]);
    assert_eq!(roundtrip(Packet::PubComp(r), V), [0x70, 2, 0, 1]);
    // 3.1.1 acknowledgements have exactly two bytes.
    assert_eq!(
        dec(V, &[0x40, 3, 0, 1, 0]),
        malformed(Malformed::TrailingBytes)
    );
}

#[test]
fn subscribe_bytes_exact_v311_section_3_8_example() {
    // Table 3.6 example: a/b QoS 0, c/d QoS 1, packet id 10.
    let subs = [
        Subscription {
            filter: "a/b",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        },
        Subscription {
            filter: "c/d",
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        },
    ];
    let s = Subscribe::new(pid(10), Subscriptions::Slice(&subs));
    assert_eq!(
        roundtrip(Packet::Subscribe(s), V),
        [
            0x82, 14, 0, 10, 0, 3, b'a', b'/', b'b', 0, 0, 3, b'c', b'/', b'd', 1
        ]
    );
}

#[test]
fn subscribe_needs_a_filter_v311_mqtt_3_8_3_3() {
    assert_eq!(
        dec(V, &[0x82, 2, 0, 1]),
        malformed(Malformed::NoTopicFilter)
    );
    assert_eq!(
        Packet::Subscribe(Subscribe::new(pid(1), Subscriptions::Slice(&[]))).encoded_len(V),
        Err(EncodeError::EmptyList)
    );
}

#[test]
fn subscribe_requested_qos_reserved_bits_v311_mqtt_3_8_3_4() {
    // 0x04 (a 5.0 No Local bit) is reserved in 3.1.1; QoS 3 is malformed.
    assert_eq!(
        dec(V, &frame(0x82, &[0, 1, 0, 1, b'a', 0x04])),
        malformed(Malformed::InvalidSubscriptionOptions(0x04))
    );
    assert_eq!(
        dec(V, &frame(0x82, &[0, 1, 0, 1, b'a', 0x03])),
        malformed(Malformed::InvalidQoS)
    );
}

#[test]
fn subscribe_filter_syntax_v311_mqtt_4_7_1_2_mqtt_4_7_1_3_mqtt_4_7_3_1() {
    for filter in [&b"a/#/b"[..], b"a#", b"a/b+", b""] {
        let mut body = vec![0, 1, 0, filter.len() as u8];
        body.extend_from_slice(filter);
        body.push(0);
        assert_eq!(
            dec(V, &frame(0x82, &body)),
            malformed(Malformed::InvalidTopicFilter),
            "{filter:?}"
        );
    }
    // `$share/...` is an ordinary filter before 5.0.
    let body = [
        0, 1, 0, 9, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'/', b'a', 0,
    ];
    assert!(matches!(
        dec(V, &frame(0x82, &body)),
        Ok(Packet::Subscribe(_))
    ));
}

#[test]
fn suback_bytes_and_return_codes_v311_mqtt_3_9_3_2() {
    let codes = [
        ReasonCode::GRANTED_QOS_0,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::UnspecifiedError,
    ];
    let s = SubAck::new(pid(10), ReasonCodes::Slice(&codes));
    assert_eq!(
        roundtrip(Packet::SubAck(s), V),
        [0x90, 6, 0, 10, 0, 1, 2, 0x80]
    );
    assert_eq!(
        dec(V, &[0x90, 3, 0, 1, 0x03]),
        malformed(Malformed::InvalidReasonCode(0x03))
    );
    // Any 5.0 error code is sent as Failure (0x80).
    let s = SubAck::new(pid(1), ReasonCodes::Slice(&[ReasonCode::NotAuthorized]));
    assert_eq!(enc(&Packet::SubAck(s), V), [0x90, 3, 0, 1, 0x80]);
}

#[test]
fn unsubscribe_bytes_and_needs_a_filter_v311_mqtt_3_10_3_2() {
    let u = Unsubscribe::new(pid(2), Filters::Slice(&["a/b", "c/+"]));
    assert_eq!(
        roundtrip(Packet::Unsubscribe(u), V),
        [
            0xA2, 12, 0, 2, 0, 3, b'a', b'/', b'b', 0, 3, b'c', b'/', b'+'
        ]
    );
    assert_eq!(
        dec(V, &[0xA2, 2, 0, 1]),
        malformed(Malformed::NoTopicFilter)
    );
    assert_eq!(
        dec(V, &frame(0xA2, &[0, 1, 0, 2, b'#', b'a'])),
        malformed(Malformed::InvalidTopicFilter)
    );
}

#[test]
fn unsuback_and_disconnect_bytes_v311() {
    assert_eq!(
        roundtrip(Packet::UnsubAck(UnsubAck::new(pid(2))), V),
        [0xB0, 2, 0, 2]
    );
    assert_eq!(
        roundtrip(Packet::Disconnect(Disconnect::new()), V),
        [0xE0, 0]
    );
    assert_eq!(dec(V, &[0xE0, 1, 0]), malformed(Malformed::TrailingBytes));
}

#[cfg(feature = "v5")]
#[test]
fn five_only_data_is_dropped_for_v311_and_auth_is_refused() {
    let mut p = Publish::new("a", QosPid::AtMostOnce, b"x");
    p.properties.message_expiry_interval = Some(5);
    assert_eq!(enc(&Packet::Publish(p), V), [0x30, 4, 0, 1, b'a', b'x']);
    let mut ack = PubResponse::new(pid(1));
    ack.reason = ReasonCode::NoMatchingSubscribers;
    assert_eq!(enc(&Packet::PubAck(ack), V), [0x40, 2, 0, 1]);
    assert_eq!(
        Packet::Auth(Auth::new(ReasonCode::ContinueAuthentication)).encoded_len(V),
        Err(EncodeError::PacketNotInVersion)
    );
    assert_eq!(
        dec(V, &[0xF0, 0]),
        violation(ProtocolViolation::PacketNotInVersion(15))
    );
}

#[test]
fn remaining_length_non_minimal_is_accepted_in_v311() {
    // 3.1.1 has no minimal-encoding rule: PINGREQ with Remaining Length 0x80 0x00.
    assert_eq!(dec(V, &[0xC0, 0x80, 0x00]), Ok(Packet::PingReq));
}

#[test]
fn interop_with_mqttbytes_v4() {
    use bytes::BytesMut;
    use mqttbytes::v4 as mb;

    // mqttbytes -> tern.
    let mut c = mb::Connect::new("dev-1");
    c.keep_alive = 60;
    c.last_will = Some(mb::LastWill::new(
        "w/t",
        "bye",
        mqttbytes::QoS::AtLeastOnce,
        true,
    ));
    c.set_login("user", "pass");
    let mut buf = BytesMut::new();
    c.write(&mut buf).unwrap();
    let Ok(Packet::Connect(ours)) = dec(V, &buf) else {
        panic!()
    };
    assert_eq!(ours.client_id, "dev-1");
    assert_eq!(ours.keep_alive, 60);
    let will = ours.will.unwrap();
    assert_eq!((will.topic.as_str(), will.payload), ("w/t", &b"bye"[..]));
    assert_eq!((will.qos, will.retain), (QoS::AtLeastOnce, true));
    assert_eq!(ours.username, Some("user"));
    assert_eq!(ours.password, Some(&b"pass"[..]));

    let mut s = mb::Subscribe::new_many([
        mb::SubscribeFilter::new("a/+".into(), mqttbytes::QoS::ExactlyOnce),
        mb::SubscribeFilter::new("#".into(), mqttbytes::QoS::AtMostOnce),
    ]);
    s.pkid = 5; // mqttbytes leaves 0 for the client to fill in [MQTT-2.3.1-1]
    let mut buf = BytesMut::new();
    s.write(&mut buf).unwrap();
    let subs = [
        Subscription {
            filter: "a/+",
            options: SubscriptionOptions::new(QoS::ExactlyOnce),
        },
        Subscription {
            filter: "#",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        },
    ];
    let Ok(Packet::Subscribe(ours)) = dec(V, &buf) else {
        panic!("{:?} {:02x?}", dec(V, &buf), &buf[..])
    };
    assert_eq!(ours.filters, Subscriptions::Slice(&subs));

    // tern -> mqttbytes.
    let mut p = Publish::new("a/b", QosPid::ExactlyOnce(pid(77)), b"payload");
    p.retain = true;
    let bytes = enc(&Packet::Publish(p), V);
    let mut stream = BytesMut::from(&bytes[..]);
    let Ok(mb::Packet::Publish(theirs)) = mb::read(&mut stream, 1 << 20) else {
        panic!()
    };
    assert_eq!(theirs.topic, "a/b");
    assert_eq!(theirs.pkid, 77);
    assert_eq!(theirs.qos, mqttbytes::QoS::ExactlyOnce);
    assert!(theirs.retain);
    assert_eq!(&theirs.payload[..], b"payload");
}

/// `Connect::encode`, `Subscribe::encode` and `Unsubscribe::encode` (one-pass encoders in
/// builds without `v5`) give the bytes and errors of `Packet::encode`, also into short
/// buffers.
#[test]
fn typed_encoders_match_packet_encode_v311() {
    fn same(typed: impl Fn(&mut [u8]) -> Result<usize, EncodeError>, p: Packet<'_>) {
        let mut a = [0u8; 96];
        let mut b = [0u8; 96];
        let expected = p.encode(V, &mut b);
        assert_eq!(typed(&mut a), expected, "{p:?}");
        if let Ok(n) = expected {
            assert_eq!(a[..n], b[..n], "{p:?}");
            for short in 0..n {
                assert_eq!(
                    typed(&mut a[..short]),
                    Err(EncodeError::InsufficientSize { required: n })
                );
            }
        }
    }
    let mut connects = vec![full_connect(), Connect::new(V, "x"), Connect::new(V, "")];
    let mut c = full_connect();
    c.protocol = ProtocolVersion::V3_1;
    c.will = None;
    connects.push(c);
    let mut c = Connect::new(V, "");
    c.clean_start = false; // empty client id without clean session
    connects.push(c);
    let mut c = Connect::new(V, "x");
    c.password = Some(b"pw"); // password without user name
    connects.push(c);
    let mut c = Connect::new(V, "x");
    c.username = Some("a\0b");
    connects.push(c);
    let long = "a".repeat(70_000);
    let mut c = Connect::new(V, "x");
    c.username = Some(&long);
    connects.push(c);
    for c in connects {
        same(|out| c.encode(out), Packet::Connect(c));
    }

    let subs = [
        Subscription {
            filter: "a/+",
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        },
        Subscription {
            filter: "#",
            options: SubscriptionOptions::new(QoS::ExactlyOnce),
        },
    ];
    let bad = [Subscription {
        filter: "a/#/b",
        options: SubscriptionOptions::new(QoS::AtMostOnce),
    }];
    for list in [&subs[..], &subs[1..], &bad[..], &[]] {
        let s = Subscribe::new(pid(7), list.into());
        same(|out| s.encode(V, out), Packet::Subscribe(s));
    }
    for list in [&["a/+", "#"][..], &["x"], &["a\0"], &["a/#/b"], &[]] {
        let u = Unsubscribe::new(pid(9), list.into());
        same(|out| u.encode(V, out), Packet::Unsubscribe(u));
    }
    // Decoded lists (`Encoded`), re-encoded; and hand-built ones the decoder never saw.
    let mut buf = [0u8; 96];
    let n = Packet::Subscribe(Subscribe::new(pid(3), (&subs).into()))
        .encode(V, &mut buf)
        .unwrap();
    let Ok(Packet::Subscribe(s)) = Packet::decode(V, &buf[..n]) else {
        panic!("SUBSCRIBE")
    };
    assert!(matches!(s.filters, Subscriptions::Encoded(_)));
    same(|out| s.encode(V, out), Packet::Subscribe(s));
    let n = Packet::Unsubscribe(Unsubscribe::new(pid(4), (&["a/+", "#"]).into()))
        .encode(V, &mut buf)
        .unwrap();
    let Ok(Packet::Unsubscribe(u)) = Packet::decode(V, &buf[..n]) else {
        panic!("UNSUBSCRIBE")
    };
    assert!(matches!(u.filters, Filters::Encoded(_)));
    same(|out| u.encode(V, out), Packet::Unsubscribe(u));
    for bytes in [&[0, 1, b'a', 1][..], &[0, 1, b'a', 1, 0, 5], &[], &[0xFF]] {
        let s = Subscribe::new(pid(5), Subscriptions::Encoded(bytes));
        same(|out| s.encode(V, out), Packet::Subscribe(s));
        let u = Unsubscribe::new(pid(6), Filters::Encoded(bytes));
        same(|out| u.encode(V, out), Packet::Unsubscribe(u));
    }
}
