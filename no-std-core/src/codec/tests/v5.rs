//! MQTT 5.0 tests (statement ids are 5.0's).

use core::num::{NonZeroU16, NonZeroU32};
use std::vec;
use std::vec::Vec;

use super::*;
use crate::topic::TopicName;

const V: ProtocolVersion = ProtocolVersion::V5;

fn connect_body(level: u8, flags: u8, props: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 4, b'M', b'Q', b'T', b'T', level, flags, 0, 10];
    b.push(props.len() as u8);
    b.extend_from_slice(props);
    b.extend_from_slice(rest);
    b
}

fn connect_err(flags: u8, props: &[u8], rest: &[u8]) -> DecodeError {
    dec(V, &frame(0x10, &connect_body(5, flags, props, rest))).unwrap_err()
}

/// A PUBLISH "a" QoS 0 with the given property block.
fn publish_with_props(props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 1, b'a', props.len() as u8];
    body.extend_from_slice(props);
    body.extend_from_slice(payload);
    frame(0x30, &body)
}

fn publish_err(props: &[u8]) -> DecodeError {
    dec(V, &publish_with_props(props, b"")).unwrap_err()
}

const USERS: [(&str, &str); 2] = [("k", "v"), ("k", "w")];

#[test]
fn connect_bytes_exact_v5_section_3_1_example() {
    let mut c = Connect {
        protocol: V,
        clean_start: true,
        keep_alive: 10,
        client_id: "cid",
        will: Some(Will {
            topic: TopicName::new("w/t").unwrap(),
            payload: b"bye",
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties::default(),
        }),
        username: Some("user"),
        password: Some(b"pw"),
        properties: ConnectProperties::default(),
    };
    c.properties.session_expiry_interval = Some(10);
    let bytes = roundtrip(Packet::Connect(c), V);
    let mut expected = vec![0x10, 42, 0, 4, b'M', b'Q', b'T', b'T', 5, 0xCE, 0, 10];
    expected.extend_from_slice(&[5, 0x11, 0, 0, 0, 10]);
    expected.extend_from_slice(&[0, 3, b'c', b'i', b'd']);
    expected.extend_from_slice(&[0]); // Will Properties length
    expected.extend_from_slice(&[0, 3, b'w', b'/', b't']);
    expected.extend_from_slice(&[0, 3, b'b', b'y', b'e']);
    expected.extend_from_slice(&[0, 4, b'u', b's', b'e', b'r']);
    expected.extend_from_slice(&[0, 2, b'p', b'w']);
    assert_eq!(bytes, expected);
}

#[test]
fn connect_round_trip_all_properties_v5() {
    let will = Will {
        topic: TopicName::new("will/topic").unwrap(),
        payload: &[1, 2, 3],
        qos: QoS::ExactlyOnce,
        retain: true,
        properties: WillProperties {
            will_delay_interval: Some(30),
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(60),
            content_type: Some("text/plain"),
            response_topic: Some("resp/t"),
            correlation_data: Some(b"corr"),
            user_properties: UserProperties::Slice(&USERS),
        },
    };
    let c = Connect {
        protocol: V,
        clean_start: false,
        keep_alive: 0,
        client_id: "",
        will: Some(will),
        username: None,
        // 5.0 allows a password without a user name (3.1.2.9).
        password: Some(b"secret"),
        properties: ConnectProperties {
            session_expiry_interval: Some(u32::MAX),
            receive_maximum: NonZeroU16::new(20),
            maximum_packet_size: NonZeroU32::new(1 << 20),
            topic_alias_maximum: Some(10),
            request_response_information: Some(true),
            request_problem_information: Some(false),
            authentication_method: Some("SCRAM-SHA-1"),
            authentication_data: Some(b"data"),
            user_properties: UserProperties::Slice(&USERS),
        },
    };
    roundtrip(Packet::Connect(c), V);
}

#[test]
fn connect_reserved_flag_v5_mqtt_3_1_2_3() {
    assert_eq!(
        connect_err(0x03, &[], &[0, 1, b'a']),
        DecodeError::Malformed(Malformed::ConnectReservedFlag)
    );
}

#[test]
fn connect_will_qos_without_will_v5_mqtt_3_1_2_11() {
    assert_eq!(
        connect_err(0x02 | 0x10, &[], &[0, 1, b'a']),
        DecodeError::Malformed(Malformed::WillFlagsWithoutWill)
    );
}

#[test]
fn connect_will_qos_3_v5_mqtt_3_1_2_12() {
    assert_eq!(
        connect_err(0x02 | 0x04 | 0x18, &[], &[0, 1, b'a', 0, 0, 1, b't', 0, 0]),
        DecodeError::Malformed(Malformed::InvalidQoS)
    );
}

#[test]
fn connect_will_retain_without_will_v5_mqtt_3_1_2_13() {
    assert_eq!(
        connect_err(0x02 | 0x20, &[], &[0, 1, b'a']),
        DecodeError::Malformed(Malformed::WillFlagsWithoutWill)
    );
}

#[test]
fn connect_unsupported_level_v5_mqtt_3_1_2_2_reason_0x84() {
    let err = dec(V, &frame(0x10, &connect_body(6, 0x02, &[], &[0, 1, b'a']))).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedProtocol { level: 6 });
    assert_eq!(
        err.connack_reason(),
        Some(ReasonCode::UnsupportedProtocolVersion)
    );
}

#[test]
fn connect_empty_client_id_without_clean_start_is_decoded_v5() {
    // 5.0 lets the server assign an identifier (3.1.3.1); not a decode error.
    let bytes = frame(0x10, &connect_body(5, 0x00, &[], &[0, 0]));
    assert!(matches!(dec(V, &bytes), Ok(Packet::Connect(c)) if !c.clean_start));
}

#[test]
fn connect_property_values_v5_section_3_1_2_11() {
    let e = |props: &[u8]| connect_err(0x02, props, &[0, 1, b'a']);
    let bad = |id| DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(id));
    // Receive Maximum 0, Maximum Packet Size 0, boolean bytes other than 0/1.
    assert_eq!(e(&[0x21, 0, 0]), bad(0x21));
    assert_eq!(e(&[0x27, 0, 0, 0, 0]), bad(0x27));
    assert_eq!(e(&[0x17, 2]), bad(0x17));
    assert_eq!(e(&[0x19, 2]), bad(0x19));
    // Duplicates of single-occurrence properties.
    assert_eq!(
        e(&[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]),
        DecodeError::Protocol(ProtocolViolation::DuplicateProperty(0x11))
    );
    // Authentication Data without Authentication Method.
    assert_eq!(
        e(&[0x16, 0, 1, 9]),
        DecodeError::Protocol(ProtocolViolation::AuthDataWithoutMethod)
    );
    // Properties of other packets and unknown identifiers.
    assert_eq!(
        e(&[0x23, 0, 1]),
        DecodeError::Protocol(ProtocolViolation::PropertyNotAllowed(0x23))
    );
    assert_eq!(
        e(&[0x7F, 0]),
        DecodeError::Malformed(Malformed::UnknownProperty(0x7F))
    );
    // Property Length larger than the packet.
    assert_eq!(
        dec(
            V,
            &frame(0x10, &[0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 10, 9])
        ),
        malformed(Malformed::UnexpectedEnd)
    );
    // User properties may repeat.
    let props = [0x26, 0, 1, b'k', 0, 1, b'v', 0x26, 0, 1, b'k', 0, 1, b'w'];
    let bytes = frame(0x10, &connect_body(5, 0x02, &props, &[0, 1, b'a']));
    let Ok(Packet::Connect(c)) = dec(V, &bytes) else {
        panic!()
    };
    assert_eq!(c.properties.user_properties, UserProperties::Slice(&USERS));
}

#[test]
fn will_properties_v5_section_3_1_3_2() {
    // Response Topic must be a topic name; Will Delay Interval is not a PUBLISH property.
    let rest = |props: &[u8]| {
        let mut r = vec![0, 1, b'a', props.len() as u8];
        r.extend_from_slice(props);
        r.extend_from_slice(&[0, 1, b't', 0, 0]);
        r
    };
    assert_eq!(
        connect_err(0x06, &[], &rest(&[0x08, 0, 1, b'#'])),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x08))
    );
    assert_eq!(
        connect_err(0x06, &[], &rest(&[0x23, 0, 1])),
        DecodeError::Protocol(ProtocolViolation::PropertyNotAllowed(0x23))
    );
    assert_eq!(
        connect_err(0x06, &[], &rest(&[0x01, 2])),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x01))
    );
}

#[test]
fn variable_byte_integer_must_be_minimal_v5_mqtt_1_5_5_1() {
    // Remaining Length 0 encoded in two bytes.
    assert_eq!(
        dec(V, &[0xC0, 0x80, 0x00]),
        malformed(Malformed::NonMinimalVarInt)
    );
    // Property Length 0 encoded in two bytes.
    assert_eq!(
        dec(V, &frame(0x30, &[0, 1, b'a', 0x80, 0x00])),
        malformed(Malformed::NonMinimalVarInt)
    );
    // CONNECT is checked once its level says 5.0.
    let mut bytes = vec![0x10, 0x8E, 0x00];
    bytes.extend_from_slice(&connect_body(5, 0x02, &[], &[0, 1, b'a']));
    assert_eq!(dec(V, &bytes), malformed(Malformed::NonMinimalVarInt));
}

#[test]
fn connack_bytes_and_round_trip_v5_section_3_2() {
    assert_eq!(
        roundtrip(Packet::ConnAck(ConnAck::new(false, ReasonCode::Success)), V),
        [0x20, 3, 0, 0, 0]
    );
    assert_eq!(
        roundtrip(
            Packet::ConnAck(ConnAck::new(false, ReasonCode::PacketTooLarge)),
            V
        ),
        [0x20, 3, 0, 0x95, 0]
    );
    let props = ConnAckProperties {
        session_expiry_interval: Some(100),
        receive_maximum: NonZeroU16::new(10),
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        maximum_packet_size: NonZeroU32::new(4096),
        assigned_client_identifier: Some("auto-1"),
        topic_alias_maximum: Some(5),
        reason_string: Some("ok"),
        wildcard_subscription_available: Some(true),
        subscription_identifiers_available: Some(false),
        shared_subscription_available: Some(true),
        server_keep_alive: Some(30),
        response_information: Some("resp/"),
        server_reference: Some("other:1883"),
        authentication_method: Some("m"),
        authentication_data: Some(b"d"),
        user_properties: UserProperties::Slice(&USERS),
    };
    let mut c = ConnAck::new(true, ReasonCode::Success);
    c.properties = props;
    roundtrip(Packet::ConnAck(c), V);
}

#[test]
fn connack_reserved_flags_v5_mqtt_3_2_2_1() {
    assert_eq!(
        dec(V, &[0x20, 3, 0x80, 0, 0]),
        malformed(Malformed::ConnAckReservedFlags(0x80))
    );
}

#[test]
fn connack_session_present_with_error_v5_mqtt_3_2_2_6() {
    assert_eq!(
        dec(V, &[0x20, 3, 1, 0x87, 0]),
        violation(ProtocolViolation::SessionPresentOnError)
    );
}

#[test]
fn connack_reason_must_be_a_connect_reason_code_v5_mqtt_3_2_2_8() {
    assert_eq!(
        dec(V, &[0x20, 3, 0, 0x10, 0]),
        malformed(Malformed::InvalidReasonCode(0x10))
    );
    assert_eq!(
        Packet::ConnAck(ConnAck::new(false, ReasonCode::GrantedQoS1)).encoded_len(V),
        Err(EncodeError::ReasonNotInVersion(ReasonCode::GrantedQoS1))
    );
}

#[test]
fn connack_maximum_qos_only_0_or_1_v5_section_3_2_2_3_4() {
    assert_eq!(
        dec(V, &[0x20, 5, 0, 0, 2, 0x24, 2]),
        violation(ProtocolViolation::InvalidPropertyValue(0x24))
    );
    let mut c = ConnAck::new(false, ReasonCode::Success);
    c.properties.maximum_qos = Some(QoS::ExactlyOnce);
    assert_eq!(
        Packet::ConnAck(c).encoded_len(V),
        Err(EncodeError::InvalidValue)
    );
}

#[test]
fn publish_bytes_exact_and_round_trip_v5_section_3_3() {
    let mut p = Publish::new("a/b", QosPid::AtLeastOnce(pid(10)), b"hi");
    p.properties.message_expiry_interval = Some(60);
    assert_eq!(
        roundtrip(Packet::Publish(p), V),
        [
            0x32, 15, 0, 3, b'a', b'/', b'b', 0, 10, 5, 0x02, 0, 0, 0, 60, b'h', b'i'
        ]
    );
    let sids = [1, 268_435_455];
    p.properties = PublishProperties {
        payload_format_indicator: Some(PayloadFormat::Unspecified),
        message_expiry_interval: Some(1),
        topic_alias: NonZeroU16::new(3),
        response_topic: Some("r/t"),
        correlation_data: Some(&[0, 1]),
        user_properties: UserProperties::Slice(&USERS),
        subscription_identifiers: SubscriptionIds::Slice(&sids),
        content_type: Some("json"),
    };
    p.qos_pid = QosPid::ExactlyOnce(pid(65535));
    p.retain = true;
    p.dup = true;
    roundtrip(Packet::Publish(p), V);
}

#[test]
fn publish_topic_without_wildcards_v5_mqtt_3_3_2_2() {
    let bytes = frame(0x30, &[0, 3, b'a', b'/', b'+', 0]);
    assert_eq!(dec(V, &bytes), malformed(Malformed::InvalidTopicName));
}

#[test]
fn publish_empty_topic_needs_topic_alias_v5_section_3_3_2_1() {
    assert_eq!(
        dec(V, &frame(0x30, &[0, 0, 0])),
        violation(ProtocolViolation::EmptyTopicWithoutAlias)
    );
    let mut p = Publish::new("", QosPid::AtMostOnce, b"x");
    assert_eq!(
        Packet::Publish(p).encoded_len(V),
        Err(EncodeError::InvalidTopicName)
    );
    p.properties.topic_alias = NonZeroU16::new(7);
    assert_eq!(
        roundtrip(Packet::Publish(p), V),
        [0x30, 7, 0, 0, 3, 0x23, 0, 7, b'x']
    );
}

#[test]
fn publish_topic_alias_zero_v5_mqtt_3_3_2_8() {
    assert_eq!(
        publish_err(&[0x23, 0, 0]),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x23))
    );
}

#[test]
fn publish_response_topic_no_wildcards_v5_mqtt_3_3_2_14() {
    assert_eq!(
        publish_err(&[0x08, 0, 3, b'a', b'/', b'#']),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x08))
    );
    let mut p = Publish::new("a", QosPid::AtMostOnce, b"");
    p.properties.response_topic = Some("+");
    assert_eq!(
        Packet::Publish(p).encoded_len(V),
        Err(EncodeError::InvalidTopicName)
    );
}

#[test]
fn publish_payload_format_utf8_with_binary_payload_is_accepted_v5_mqtt_3_3_2_4_should() {
    // Checking the payload is only a SHOULD for the receiver: not a decode error.
    let bytes = publish_with_props(&[0x01, 1], &[0xFF, 0xFE]);
    let Ok(Packet::Publish(p)) = dec(V, &bytes) else {
        panic!()
    };
    assert_eq!(
        p.properties.payload_format_indicator,
        Some(PayloadFormat::Utf8)
    );
    assert_eq!(p.payload, &[0xFF, 0xFE]);
    // Values other than 0/1 are a Protocol Error.
    assert_eq!(
        publish_err(&[0x01, 2]),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x01))
    );
}

#[test]
fn publish_subscription_identifiers_v5_section_3_3_2_3_8() {
    // May repeat in PUBLISH; interleaved with other properties.
    let bytes = publish_with_props(&[0x0B, 1, 0x02, 0, 0, 0, 5, 0x0B, 0x80, 0x01], b"");
    let Ok(Packet::Publish(p)) = dec(V, &bytes) else {
        panic!()
    };
    assert_eq!(
        p.properties.subscription_identifiers,
        SubscriptionIds::Slice(&[1, 128])
    );
    assert_eq!(p.properties.subscription_identifiers.len(), 2);
    assert!(p.properties.user_properties.is_empty());
    // 0 is a Protocol Error.
    assert_eq!(
        publish_err(&[0x0B, 0]),
        DecodeError::Protocol(ProtocolViolation::InvalidPropertyValue(0x0B))
    );
    let mut p = Publish::new("a", QosPid::AtMostOnce, b"");
    p.properties.subscription_identifiers = SubscriptionIds::Slice(&[0]);
    assert_eq!(
        Packet::Publish(p).encoded_len(V),
        Err(EncodeError::InvalidValue)
    );
    p.properties.subscription_identifiers = SubscriptionIds::Slice(&[268_435_456]);
    assert_eq!(
        Packet::Publish(p).encoded_len(V),
        Err(EncodeError::ValueOutOfRange)
    );
}

#[test]
fn publish_properties_once_and_allowed_v5_section_2_2_2_2() {
    assert_eq!(
        publish_err(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1]),
        DecodeError::Protocol(ProtocolViolation::DuplicateProperty(0x02))
    );
    assert_eq!(
        publish_err(&[0x11, 0, 0, 0, 1]),
        DecodeError::Protocol(ProtocolViolation::PropertyNotAllowed(0x11))
    );
}

#[test]
fn pub_responses_short_forms_and_reasons_v5_sections_3_4_to_3_7() {
    let r = PubResponse::new(pid(1));
    assert_eq!(roundtrip(Packet::PubAck(r), V), [0x40, 2, 0, 1]);
    assert_eq!(roundtrip(Packet::PubRel(r), V), [0x62, 2, 0, 1]);
    // Reason code without properties.
    let mut r2 = r;
    r2.reason = ReasonCode::NoMatchingSubscribers;
    assert_eq!(roundtrip(Packet::PubAck(r2), V), [0x40, 3, 0, 1, 0x10]);
    assert_eq!(roundtrip(Packet::PubRec(r2), V), [0x50, 3, 0, 1, 0x10]);
    // Reason code 0 with an empty property block is accepted.
    assert_eq!(dec(V, &[0x40, 4, 0, 1, 0, 0]), Ok(Packet::PubAck(r)));
    let mut r3 = r;
    r3.reason = ReasonCode::PacketIdentifierNotFound;
    r3.properties.reason_string = Some("gone");
    r3.properties.user_properties = UserProperties::Slice(&USERS);
    roundtrip(Packet::PubComp(r3), V);
    roundtrip(Packet::PubRel(r3), V);
}

#[test]
fn pub_response_reason_codes_per_packet_v5_mqtt_3_4_2_1_mqtt_3_5_2_1_mqtt_3_6_2_1_mqtt_3_7_2_1() {
    let bad = |b| malformed(Malformed::InvalidReasonCode(b));
    assert_eq!(dec(V, &[0x40, 3, 0, 1, 0x92]), bad(0x92));
    assert_eq!(dec(V, &[0x50, 3, 0, 1, 0x92]), bad(0x92));
    assert_eq!(dec(V, &[0x62, 3, 0, 1, 0x10]), bad(0x10));
    assert_eq!(dec(V, &[0x70, 3, 0, 1, 0x80]), bad(0x80));
    assert_eq!(dec(V, &[0x40, 3, 0, 1, 0x03]), bad(0x03));
    let mut r = PubResponse::new(pid(1));
    r.reason = ReasonCode::NoMatchingSubscribers;
    assert_eq!(
        Packet::PubRel(r).encoded_len(V),
        Err(EncodeError::ReasonNotInVersion(
            ReasonCode::NoMatchingSubscribers
        ))
    );
}

#[test]
fn subscribe_bytes_exact_and_options_v5_section_3_8_3_1() {
    let subs = [
        Subscription {
            filter: "a/+",
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
        },
        Subscription {
            filter: "$share/g/x/#",
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: false,
                retain_as_published: false,
                retain_handling: RetainHandling::SendAtSubscribeIfNew,
            },
        },
    ];
    let mut s = Subscribe::new(pid(5), Subscriptions::Slice(&subs));
    let bytes = roundtrip(Packet::Subscribe(s), V);
    let mut expected = vec![0x82, 24, 0, 5, 0, 0, 3, b'a', b'/', b'+', 0b0010_1110];
    expected.extend_from_slice(&[0, 12]);
    expected.extend_from_slice(b"$share/g/x/#");
    expected.push(0b0001_0001);
    assert_eq!(bytes, expected);
    s.properties.subscription_identifier = NonZeroU32::new(268_435_455);
    s.properties.user_properties = UserProperties::Slice(&USERS);
    roundtrip(Packet::Subscribe(s), V);
}

fn subscribe(filter: &[u8], options: u8, props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 1, props.len() as u8];
    body.extend_from_slice(props);
    body.extend_from_slice(&[0, filter.len() as u8]);
    body.extend_from_slice(filter);
    body.push(options);
    frame(0x82, &body)
}

#[test]
fn subscribe_needs_a_filter_v5_mqtt_3_8_3_2() {
    assert_eq!(
        dec(V, &[0x82, 3, 0, 1, 0]),
        malformed(Malformed::NoTopicFilter)
    );
}

#[test]
fn subscribe_options_reserved_bits_v5_mqtt_3_8_3_5() {
    for b in [0x40, 0x80] {
        assert_eq!(
            dec(V, &subscribe(b"a", b, &[])),
            malformed(Malformed::InvalidSubscriptionOptions(b))
        );
    }
    assert_eq!(
        dec(V, &subscribe(b"a", 0x03, &[])),
        malformed(Malformed::InvalidQoS)
    );
}

#[test]
fn subscribe_retain_handling_3_is_protocol_error_v5_section_3_8_3_1() {
    assert_eq!(
        dec(V, &subscribe(b"a", 0x30, &[])),
        violation(ProtocolViolation::InvalidRetainHandling)
    );
}

#[test]
fn subscribe_no_local_on_shared_subscription_v5_mqtt_3_8_3_4() {
    assert_eq!(
        dec(V, &subscribe(b"$share/g/a", 0x04, &[])),
        violation(ProtocolViolation::NoLocalOnSharedSubscription)
    );
    let subs = [Subscription {
        filter: "$share/g/a",
        options: SubscriptionOptions {
            no_local: true,
            ..SubscriptionOptions::default()
        },
    }];
    assert_eq!(
        Packet::Subscribe(Subscribe::new(pid(1), Subscriptions::Slice(&subs))).encoded_len(V),
        Err(EncodeError::InvalidValue)
    );
}

#[test]
fn subscribe_filter_syntax_v5_mqtt_4_7_1_1_mqtt_4_7_1_2_mqtt_4_7_3_1() {
    for f in [&b"a/#/b"[..], b"a+", b""] {
        assert_eq!(
            dec(V, &subscribe(f, 0, &[])),
            malformed(Malformed::InvalidTopicFilter),
            "{f:?}"
        );
    }
}

#[test]
fn subscribe_shared_filter_syntax_v5_mqtt_4_8_2_1_mqtt_4_8_2_2() {
    for f in [&b"$share//a"[..], b"$share/g+/a", b"$share/g", b"$share/g/"] {
        assert_eq!(
            dec(V, &subscribe(f, 0, &[])),
            malformed(Malformed::InvalidTopicFilter),
            "{f:?}"
        );
    }
    assert!(matches!(
        dec(V, &subscribe(b"$share/g/a/+", 0, &[])),
        Ok(Packet::Subscribe(_))
    ));
}

#[test]
fn subscribe_subscription_identifier_v5_section_3_8_2_1_2() {
    assert_eq!(
        dec(V, &subscribe(b"a", 0, &[0x0B, 0])),
        violation(ProtocolViolation::InvalidPropertyValue(0x0B))
    );
    assert_eq!(
        dec(V, &subscribe(b"a", 0, &[0x0B, 1, 0x0B, 2])),
        violation(ProtocolViolation::DuplicateProperty(0x0B))
    );
}

#[test]
fn suback_round_trip_and_codes_v5_mqtt_3_9_3_1() {
    let codes = [
        ReasonCode::GRANTED_QOS_0,
        ReasonCode::GrantedQoS2,
        ReasonCode::SharedSubscriptionsNotSupported,
    ];
    let mut s = SubAck::new(pid(3), ReasonCodes::Slice(&codes));
    assert_eq!(
        roundtrip(Packet::SubAck(s), V),
        [0x90, 6, 0, 3, 0, 0, 2, 0x9E]
    );
    s.properties.reason_string = Some("why");
    roundtrip(Packet::SubAck(s), V);
    assert_eq!(
        dec(V, &[0x90, 4, 0, 3, 0, 0x92]),
        malformed(Malformed::InvalidReasonCode(0x92))
    );
}

#[test]
fn unsubscribe_round_trip_and_needs_a_filter_v5_mqtt_3_10_3_2() {
    let mut u = Unsubscribe::new(pid(9), Filters::Slice(&["a/#", "$share/g/b"]));
    u.properties.user_properties = UserProperties::Slice(&USERS);
    roundtrip(Packet::Unsubscribe(u), V);
    let u = Unsubscribe::new(pid(9), Filters::Slice(&["a"]));
    assert_eq!(
        roundtrip(Packet::Unsubscribe(u), V),
        [0xA2, 6, 0, 9, 0, 0, 1, b'a']
    );
    assert_eq!(
        dec(V, &[0xA2, 3, 0, 1, 0]),
        malformed(Malformed::NoTopicFilter)
    );
    assert_eq!(
        dec(
            V,
            &frame(
                0xA2,
                &[
                    0, 1, 0, 0, 8, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g'
                ]
            )
        ),
        malformed(Malformed::InvalidTopicFilter)
    );
}

#[test]
fn unsuback_round_trip_and_codes_v5_mqtt_3_11_3_1() {
    let codes = [ReasonCode::Success, ReasonCode::NoSubscriptionExisted];
    let mut u = UnsubAck::new(pid(4));
    u.reason_codes = ReasonCodes::Slice(&codes);
    assert_eq!(
        roundtrip(Packet::UnsubAck(u), V),
        [0xB0, 5, 0, 4, 0, 0, 0x11]
    );
    assert_eq!(
        dec(V, &[0xB0, 4, 0, 4, 0, 0x01]),
        malformed(Malformed::InvalidReasonCode(0x01))
    );
}

#[test]
fn disconnect_forms_v5_section_3_14_and_mqtt_3_14_2_1() {
    assert_eq!(
        roundtrip(Packet::Disconnect(Disconnect::new()), V),
        [0xE0, 0]
    );
    let mut d = Disconnect::new();
    d.reason = ReasonCode::DisconnectWithWillMessage;
    // The Property Length is written even when empty (readable by more clients); the
    // short form without it still decodes.
    assert_eq!(roundtrip(Packet::Disconnect(d), V), [0xE0, 2, 0x04, 0]);
    assert_eq!(dec(V, &[0xE0, 1, 0x04]), Ok(Packet::Disconnect(d)));
    d.properties.session_expiry_interval = Some(0);
    d.properties.reason_string = Some("bye");
    d.properties.server_reference = Some("x");
    d.properties.user_properties = UserProperties::Slice(&USERS);
    roundtrip(Packet::Disconnect(d), V);
    assert_eq!(
        dec(V, &[0xE0, 1, 0x01]),
        malformed(Malformed::InvalidReasonCode(0x01))
    );
    assert_eq!(
        dec(V, &[0xE0, 3, 0x00, 1, 0x12]),
        malformed(Malformed::UnexpectedEnd)
    );
}

#[test]
fn auth_forms_v5_section_3_15_and_mqtt_3_15_2_1() {
    assert_eq!(
        roundtrip(Packet::Auth(Auth::new(ReasonCode::Success)), V),
        [0xF0, 0]
    );
    let mut a = Auth::new(ReasonCode::ContinueAuthentication);
    assert_eq!(roundtrip(Packet::Auth(a), V), [0xF0, 2, 0x18, 0]);
    a.properties.authentication_method = Some("SCRAM");
    a.properties.authentication_data = Some(b"\x00\x01");
    a.properties.reason_string = Some("r");
    a.properties.user_properties = UserProperties::Slice(&USERS);
    roundtrip(Packet::Auth(a), V);
    assert_eq!(
        dec(V, &[0xF0, 2, 0x80, 0]),
        malformed(Malformed::InvalidReasonCode(0x80))
    );
    assert_eq!(
        dec(V, &[0xF0, 6, 0x18, 4, 0x16, 0, 1, 9]),
        violation(ProtocolViolation::AuthDataWithoutMethod)
    );
    // Reserved flags on AUTH [MQTT-2.1.3-1].
    assert!(matches!(
        dec(V, &[0xF1, 0]),
        Err(DecodeError::Malformed(
            Malformed::InvalidFixedHeaderFlags { .. }
        ))
    ));
}

#[test]
fn user_properties_encoded_equals_slice_and_keeps_order_v5_section_3_3_2_3_7() {
    let props = [
        0x26, 0, 1, b'k', 0, 1, b'v', 0x02, 0, 0, 0, 9, 0x26, 0, 1, b'k', 0, 1, b'w',
    ];
    let bytes = publish_with_props(&props, b"");
    let Ok(Packet::Publish(p)) = dec(V, &bytes) else {
        panic!()
    };
    let got: Vec<_> = p.properties.user_properties.iter().collect();
    assert_eq!(got, USERS);
    assert_eq!(p.properties.user_properties, UserProperties::Slice(&USERS));
    assert_eq!(p.properties.message_expiry_interval, Some(9));
}

/// `decode_from_server` (a client without enhanced authentication) refuses AUTH unparsed
/// and packets only a client sends; the rest decodes as with `decode`.
#[test]
fn decode_from_server_refuses_auth_and_client_packets_v5_mqtt_4_12_0_6() {
    for frame in [&[0xF0, 0][..], &[0xF0, 2, 0x18, 0], &[0xF0, 1, 0xFF]] {
        assert_eq!(
            Packet::decode_from_server(V, frame),
            Err(DecodeError::Protocol(ProtocolViolation::AuthNotSupported)),
            "{frame:x?}"
        );
    }
    assert_eq!(
        Packet::decode_from_server(V, &[0xC0, 0]),
        Err(DecodeError::Protocol(ProtocolViolation::WrongDirection(12)))
    );
    for frame in [&[0xD0, 0][..], &[0x40, 3, 0, 1, 0x10], &[0x20, 3, 0, 0, 0]] {
        assert_eq!(
            Packet::decode_from_server(V, frame),
            dec(V, frame),
            "{frame:x?}"
        );
    }
    #[cfg(feature = "v3")]
    assert_eq!(
        Packet::decode_from_server(ProtocolVersion::V3_1_1, &[0xF0, 0]),
        Err(DecodeError::Protocol(
            ProtocolViolation::PacketNotInVersion(15)
        ))
    );
}

/// `Connect::encode` and `Subscribe::encode` (one-pass encoders in builds with `v5`) give
/// the bytes and errors of `Packet::encode`, also into short buffers, with every property.
#[test]
fn typed_encoders_match_packet_encode_v5() {
    fn same(typed: impl Fn(&mut [u8]) -> Result<usize, EncodeError>, p: Packet<'_>) {
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
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
    let will = Will {
        topic: TopicName::new("will/topic").unwrap(),
        payload: &[1, 2, 3],
        qos: QoS::ExactlyOnce,
        retain: true,
        properties: WillProperties {
            will_delay_interval: Some(30),
            payload_format_indicator: Some(PayloadFormat::Utf8),
            message_expiry_interval: Some(60),
            content_type: Some("text/plain"),
            response_topic: Some("resp/t"),
            correlation_data: Some(b"corr"),
            user_properties: UserProperties::Slice(&USERS),
        },
    };
    let full = Connect {
        protocol: V,
        clean_start: false,
        keep_alive: 0,
        client_id: "",
        will: Some(will),
        username: Some("u"),
        password: Some(b"secret"),
        properties: ConnectProperties {
            session_expiry_interval: Some(u32::MAX),
            receive_maximum: NonZeroU16::new(20),
            maximum_packet_size: NonZeroU32::new(1 << 20),
            topic_alias_maximum: Some(10),
            request_response_information: Some(true),
            request_problem_information: Some(false),
            authentication_method: Some("SCRAM-SHA-1"),
            authentication_data: Some(b"data"),
            user_properties: UserProperties::Slice(&USERS),
        },
    };
    let mut connects = vec![full, Connect::new(V, "x"), Connect::new(V, "")];
    // A 3.1.1 CONNECT through the same encoder (its flags checked, no properties).
    #[cfg(feature = "v3")]
    {
        let mut c = full;
        c.protocol = ProtocolVersion::V3_1_1;
        c.client_id = "c";
        c.will.as_mut().unwrap().properties = Default::default();
        c.properties = Default::default();
        connects.push(c);
        c.username = None; // 3.1.1: password without user name
        connects.push(c);
    }
    let mut c = full;
    c.password = Some(b"pw"); // 5.0 allows a password without a user name
    c.username = None;
    connects.push(c);
    let mut c = full;
    c.properties.authentication_method = None; // data without method
    connects.push(c);
    let mut c = full;
    c.will.as_mut().unwrap().properties.response_topic = Some("a/+");
    connects.push(c);
    let mut c = full;
    c.will.as_mut().unwrap().properties.content_type = Some("a\0b");
    connects.push(c);
    let bad_users = [("k", "v\0")];
    let mut c = full;
    c.properties.user_properties = UserProperties::Slice(&bad_users);
    connects.push(c);
    let long = "a".repeat(70_000);
    let mut c = Connect::new(V, "x");
    c.username = Some(&long);
    connects.push(c);
    let mut c = Connect::new(V, "x");
    c.properties.authentication_method = Some(&long);
    connects.push(c);
    // User properties decoded from a block (`Encoded`), re-encoded.
    let mut buf = [0u8; 256];
    let n = Packet::Connect(full).encode(V, &mut buf).unwrap();
    let Ok(Packet::Connect(decoded)) = Packet::decode(V, &buf[..n]) else {
        panic!("CONNECT")
    };
    assert!(matches!(
        decoded.properties.user_properties,
        UserProperties::Encoded(_)
    ));
    connects.push(decoded);
    for c in connects {
        same(|out| c.encode(out), Packet::Connect(c));
    }

    let mut opts = SubscriptionOptions::new(QoS::ExactlyOnce);
    opts.no_local = true;
    opts.retain_as_published = true;
    let subs = [
        Subscription {
            filter: "a/+",
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        },
        Subscription {
            filter: "#",
            options: opts,
        },
        Subscription {
            filter: "$share/g/a",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        },
    ];
    let shared_no_local = [Subscription {
        filter: "$share/g/a",
        options: opts,
    }];
    let bad = [Subscription {
        filter: "a/#/b",
        options: SubscriptionOptions::new(QoS::AtMostOnce),
    }];
    for list in [&subs[..], &subs[1..], &shared_no_local[..], &bad[..], &[]] {
        let mut s = Subscribe::new(pid(7), list.into());
        same(|out| s.encode(V, out), Packet::Subscribe(s));
        s.properties.subscription_identifier = NonZeroU32::new(300);
        s.properties.user_properties = UserProperties::Slice(&USERS);
        same(|out| s.encode(V, out), Packet::Subscribe(s));
        s.properties.subscription_identifier = NonZeroU32::new(u32::MAX);
        same(|out| s.encode(V, out), Packet::Subscribe(s));
        // The same list for a 3.1.1 peer (no properties, QoS-only options).
        #[cfg(feature = "v3")]
        {
            let mut b = [0u8; 256];
            let expected = Packet::Subscribe(s).encode(ProtocolVersion::V3_1_1, &mut b);
            let mut a = [0u8; 256];
            assert_eq!(s.encode(ProtocolVersion::V3_1_1, &mut a), expected);
            if let Ok(n) = expected {
                assert_eq!(a[..n], b[..n]);
            }
        }
    }
    let mut s = Subscribe::new(pid(3), (&subs).into());
    s.properties.user_properties = UserProperties::Slice(&USERS);
    let n = Packet::Subscribe(s).encode(V, &mut buf).unwrap();
    let Ok(Packet::Subscribe(s)) = Packet::decode(V, &buf[..n]) else {
        panic!("SUBSCRIBE")
    };
    assert!(matches!(s.filters, Subscriptions::Encoded(_)));
    same(|out| s.encode(V, out), Packet::Subscribe(s));
}
