//! Protocol edge cases and malformed input over raw bytes: packets are built with
//! `tern_core::codec` where the codec can express them, and written by hand where it must
//! refuse them (malformed on purpose). Each test cites the normative statement it checks
//! (3.1.1 numbering first, then 5.0 where it differs).

use std::time::{Duration, Instant};

use tern_core::codec::{
    Connect, Disconnect, Packet, PacketId, ProtocolVersion, PubResponse, Publish,
    PublishProperties, QoS, QosPid, Subscription, SubscriptionOptions, Unsubscribe,
};
use tern_tests::{
    Broker, Frame, Msg, NoFrame, Options, QUIET, RawClient, TIMEOUT, mosquitto_deviates,
};

const V3: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V3, V5];

/// A whole packet from its first byte and body (Remaining Length computed).
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// A length-prefixed string/binary field.
fn field(s: &[u8]) -> Vec<u8> {
    let mut v = u16::try_from(s.len()).unwrap().to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

/// The reason code of a 5.0 DISCONNECT frame.
fn disconnect_reason(f: &Frame) -> u8 {
    match f.decode(V5) {
        Packet::Disconnect(d) => d.reason.code(),
        _ => panic!("expected DISCONNECT, got {f:?}"),
    }
}

/// The connection is closed; a 5.0 connection first gets DISCONNECT with `v5_reason`, a
/// 3.1.1 connection gets no packet at all (3.1.1 has no server DISCONNECT).
fn assert_closed_with(c: &mut RawClient, v5_reason: u8, what: &str) {
    let frames = c.expect_closed_frames();
    if c.version.is_v5() {
        if frames.is_empty()
            && mosquitto_deviates(&format!(
                "{what}: Mosquitto closes without sending DISCONNECT {v5_reason:#04x} first \
                 (5.0 4.13.1, 3.1.4)"
            ))
        {
            return;
        }
        assert_eq!(
            frames.len(),
            1,
            "{what}: expected one DISCONNECT, got {frames:?}"
        );
        assert_eq!(
            disconnect_reason(&frames[0]),
            v5_reason,
            "{what}: DISCONNECT reason"
        );
    } else {
        assert!(
            frames.is_empty(),
            "{what}: 3.1.1 expects a bare close, got {frames:?}"
        );
    }
}

/// 3.1.1 / 5.0 [MQTT-3.1.0-1]: the first packet from the client must be CONNECT; the
/// server closes the connection without sending anything.
#[test]
fn first_packet_not_connect_is_closed_without_a_word_mqtt_3_1_0_1() {
    let broker = Broker::start();
    for first in [
        packet(0xC0, &[]),                                           // PINGREQ
        packet(0x82, &[&[0, 1][..], &field(b"a/b"), &[0]].concat()), // SUBSCRIBE
        packet(0x30, &[&field(b"a")[..], b"hi"].concat()),           // PUBLISH
    ] {
        let mut c = RawClient::open(&broker, V3);
        c.send_bytes(&first);
        let (frames, rest) = c.expect_closed();
        assert!(
            frames.is_empty() && rest.is_empty(),
            "{first:02x?}: got {frames:?} {rest:02x?}"
        );
    }
    // The broker carries on.
    RawClient::connect(&broker, V5, "after");
}

/// 3.1.1 [MQTT-3.1.0-2]: a second CONNECT is a protocol violation: close. 5.0
/// [MQTT-3.1.0-2]: Protocol Error, DISCONNECT 0x82 then close.
#[test]
fn second_connect_is_a_protocol_error_mqtt_3_1_0_2() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "twice");
        c.send(&Packet::Connect(Connect::new(v, "twice")));
        assert_closed_with(&mut c, 0x82, &format!("{v:?} second CONNECT"));
    }
}

/// A malformed packet after CONNACK (PUBLISH whose topic length runs past the packet).
/// 5.0 [MQTT-4.13.1-1]: DISCONNECT 0x81 Malformed Packet, then close. 3.1.1
/// [MQTT-4.8.0-1]: close, with no DISCONNECT (3.1.1 has none from the server).
#[test]
fn malformed_packet_after_connack_mqtt_4_13_1_1() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "malformed");
        c.send_bytes(&packet(0x30, &[0, 10, b'a']));
        assert_closed_with(&mut c, 0x81, &format!("{v:?} truncated topic"));
    }
}

/// 3.1.1 [MQTT-3.1.3-8]: an empty client id with CleanSession 0 gets CONNACK return code
/// 0x02 Identifier rejected, and the connection is closed [MQTT-3.2.2-5].
#[test]
fn v311_empty_client_id_without_clean_session_is_rejected_mqtt_3_1_3_8() {
    let broker = Broker::start();
    // Built by hand: the codec refuses to encode it.
    let mut c = RawClient::open(&broker, V3);
    c.send_bytes(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 30, 0, 0]);
    assert_eq!(c.expect_closed_frames(), [Frame(vec![0x20, 2, 0, 2])]);
}

/// 3.1.1 [MQTT-3.1.3-6] / [MQTT-3.1.3-7]: an empty client id with CleanSession 1 is
/// accepted (the server assigns one); the client then works normally.
#[test]
fn v311_empty_client_id_with_clean_session_is_accepted_mqtt_3_1_3_6() {
    let broker = Broker::start();
    let mut connect = Connect::new(V3, "");
    connect.keep_alive = 30;
    let (mut c, ack) = RawClient::connect_with(&broker, &connect);
    assert_eq!(
        ack.0,
        [0x20, 2, 0, 0],
        "session present 0, accepted [MQTT-3.2.2-1]"
    );
    assert_eq!(c.subscribe("anon/t", QoS::AtLeastOnce), [1]);
    c.publish_acked("anon/t", b"x", QoS::AtLeastOnce, false);
    assert_eq!(c.recv_publish().payload, b"x");
}

/// 5.0 [MQTT-3.2.2-16]: an empty client id is assigned one, returned in the CONNACK's
/// Assigned Client Identifier property; it is unique [MQTT-3.1.3-6].
#[test]
fn v5_empty_client_id_gets_an_assigned_client_identifier_mqtt_3_2_2_16() {
    let broker = Broker::start();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (mut c, ack) = RawClient::connect_with(&broker, &Connect::new(V5, ""));
        match ack.decode(V5) {
            Packet::ConnAck(a) => {
                assert_eq!(a.reason.code(), 0, "{ack:?}");
                let id = a
                    .properties
                    .assigned_client_identifier
                    .unwrap_or_else(|| panic!("no Assigned Client Identifier: {ack:?}"));
                assert!(!id.is_empty());
                ids.push(id.to_owned());
            }
            _ => unreachable!(),
        }
        c.send(&Packet::PingReq);
        assert_eq!(c.recv().0, [0xD0, 0], "PINGRESP [MQTT-3.12.4-1]");
        // Kept open so that the second id must differ from a live one.
        std::mem::forget(c);
    }
    assert_ne!(ids[0], ids[1]);
}

/// Reserved fixed-header flags: 3.1.1 [MQTT-2.2.2-2] (SUBSCRIBE [MQTT-3.8.1-1], PUBREL
/// [MQTT-3.6.1-1], UNSUBSCRIBE [MQTT-3.10.1-1]), 5.0 [MQTT-2.1.3-1]: other values are
/// malformed. 5.0: DISCONNECT 0x81; 3.1.1: close.
#[test]
fn reserved_fixed_header_flags_are_malformed_mqtt_2_2_2_2() {
    let broker = Broker::start();
    let sub_body = |v5: bool| {
        let mut b = vec![0, 1];
        if v5 {
            b.push(0);
        }
        b.extend(field(b"a/b"));
        b.push(1);
        b
    };
    for v in BOTH {
        let v5 = v.is_v5();
        let unsub_body = [&[0, 2][..], if v5 { &[0] } else { &[] }, &field(b"a/b")].concat();
        let cases: [(&str, Vec<u8>); 5] = [
            ("SUBSCRIBE flags 0", packet(0x80, &sub_body(v5))),
            ("SUBSCRIBE flags 3", packet(0x83, &sub_body(v5))),
            ("UNSUBSCRIBE flags 0", packet(0xA0, &unsub_body)),
            ("PUBREL flags 0", packet(0x60, &[0, 1])),
            ("PINGREQ flags 1", packet(0xC1, &[])),
        ];
        for (what, bytes) in cases {
            if what.starts_with("PINGREQ")
                && mosquitto_deviates("Mosquitto answers a PINGREQ with reserved flags set")
            {
                continue;
            }
            let mut c = RawClient::connect(&broker, v, "flags");
            c.send_bytes(&bytes);
            assert_closed_with(&mut c, 0x81, &format!("{v:?} {what}"));
        }
    }
}

/// 3.1.1 [MQTT-3.1.2-3] / 5.0 [MQTT-3.1.2-3]: the reserved CONNECT flag must be 0, else
/// malformed. 5.0 answers CONNACK 0x81 then closes; 3.1.1 has no such return code: close.
#[test]
fn connect_reserved_flag_is_malformed_mqtt_3_1_2_3() {
    let broker = Broker::start();
    let mut c = RawClient::open(&broker, V3);
    c.send_bytes(&[0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 60, 0, 0]);
    let (frames, rest) = c.expect_closed();
    assert!(frames.is_empty() && rest.is_empty(), "{frames:?}");
    let mut c = RawClient::open(&broker, V5);
    c.send_bytes(&[
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x03, 0, 60, 0, 0, 0,
    ]);
    let frames = c.expect_closed_frames();
    if frames.is_empty() && mosquitto_deviates("Mosquitto closes without CONNACK 0x81") {
        return;
    }
    assert_eq!(frames.len(), 1, "{frames:?}");
    match frames[0].decode(V5) {
        Packet::ConnAck(a) => assert_eq!(a.reason.code(), 0x81, "{frames:?}"),
        _ => panic!("expected CONNACK 0x81, got {frames:?}"),
    }
}

/// 3.1.1 / 5.0 [MQTT-3.3.2-2]: the Topic Name of a PUBLISH must not contain wildcards.
/// The connection is closed (5.0: DISCONNECT with an error reason first), and nothing is
/// delivered.
#[test]
fn publish_to_a_topic_with_wildcards_closes_mqtt_3_3_2_2() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(&broker, V5, "wild-sub");
    assert_eq!(sub.subscribe("w/#", QoS::AtMostOnce), [0]);
    for v in BOTH {
        for topic in ["w/+", "w/#", "w/+/x"] {
            let mut c = RawClient::connect(&broker, v, "wild");
            let mut body = field(topic.as_bytes());
            if v.is_v5() {
                body.push(0);
            }
            body.extend_from_slice(b"x");
            c.send_bytes(&packet(0x30, &body));
            let frames = c.expect_closed_frames();
            if v.is_v5() {
                assert_eq!(frames.len(), 1, "{topic}: {frames:?}");
                let r = disconnect_reason(&frames[0]);
                assert!(
                    [0x81, 0x82, 0x90].contains(&r),
                    "{topic}: DISCONNECT reason {r:#x}, expected Malformed, Protocol Error \
                     or Topic Name invalid"
                );
            } else {
                assert!(frames.is_empty(), "{topic}: {frames:?}");
            }
        }
    }
    sub.expect_no_publish();
}

/// A client may not feed `$SYS`: a message a client publishes to `$SYS/...` is not
/// delivered to `$SYS` subscribers (5.0 4.7.2 / 3.1.1 4.7.2: `$` topics are the server's;
/// "The Server SHOULD prevent Clients from using such Topic Names to exchange messages with
/// other Clients"). The broker may refuse it (5.0 PUBACK error, or a disconnect) or drop it.
#[test]
fn client_publish_to_sys_is_not_delivered() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(&broker, V5, "sys-sub");
    assert_eq!(sub.subscribe("$SYS/tern-tests/#", QoS::AtLeastOnce), [1]);
    let mut c = RawClient::connect(&broker, V5, "sys-pub");
    c.publish("$SYS/tern-tests/x", b"forged", QoS::AtLeastOnce, true, 3);
    match c.try_recv(TIMEOUT) {
        Ok(f) => match f.decode(V5) {
            Packet::PubAck(_) | Packet::Disconnect(_) => {}
            _ => panic!("unexpected answer {f:?}"),
        },
        Err(NoFrame::Closed(_)) => {}
        Err(NoFrame::TimedOut) => panic!("no answer to a QoS 1 PUBLISH on $SYS"),
    }
    match sub.try_recv(QUIET) {
        Err(NoFrame::TimedOut) => {}
        Ok(f) if f.packet_type() == 3 => {
            let m = Msg::from_frame(&f, V5);
            if !mosquitto_deviates("Mosquitto lets clients publish to $SYS") {
                panic!("a client's $SYS message was delivered: {m:?}");
            }
            return;
        }
        other => panic!("{other:?}"),
    }
    // Nor was it retained.
    let mut late = RawClient::connect(&broker, V5, "sys-late");
    assert_eq!(late.subscribe("$SYS/tern-tests/#", QoS::AtLeastOnce), [1]);
    late.expect_no_publish();
}

/// 3.1.1 / 5.0 [MQTT-3.3.1-4]: a PUBLISH with both QoS bits set is malformed (5.0:
/// DISCONNECT 0x81; 3.1.1: close).
#[test]
fn publish_qos_3_is_malformed_mqtt_3_3_1_4() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "qos3");
        let mut body = field(b"q/3");
        body.extend_from_slice(&[0, 5]);
        if v.is_v5() {
            body.push(0);
        }
        body.extend_from_slice(b"x");
        c.send_bytes(&packet(0x36, &body));
        assert_closed_with(&mut c, 0x81, &format!("{v:?} QoS 3"));
    }
}

/// 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error: DISCONNECT
/// 0x82 and close.
#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error_mqtt_3_8_3_4() {
    let broker = Broker::start();
    let mut c = RawClient::connect(&broker, V5, "share-nolocal");
    let body = [&[0, 1, 0][..], &field(b"$share/g/t"), &[0x05]].concat();
    c.send_bytes(&packet(0x82, &body));
    let first = c.try_recv(TIMEOUT);
    if matches!(&first, Ok(f) if f.packet_type() == 9)
        && mosquitto_deviates("Mosquitto 2.0 grants it (SUBACK) instead of a Protocol Error")
    {
        return;
    }
    let f = first.unwrap_or_else(|e| panic!("expected DISCONNECT 0x82, got {e:?}"));
    assert_eq!(disconnect_reason(&f), 0x82);
    assert!(c.expect_closed_frames().is_empty());
}

/// One client sending garbage is closed; the others keep working (the broker does not
/// stall, crash or drop their messages).
#[test]
fn garbage_from_one_client_does_not_disturb_others() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(&broker, V5, "calm-sub");
    assert_eq!(sub.subscribe("calm/#", QoS::AtLeastOnce), [1]);
    let mut publ = RawClient::connect(&broker, V3, "calm-pub");
    for (i, junk) in [
        vec![0xFF; 64],
        vec![0x00, 0x00, 0x00],
        packet(0x30, &[0xFF, 0xFF, 0]),
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], // Remaining Length of 5 bytes
    ]
    .into_iter()
    .enumerate()
    {
        for v in BOTH {
            let mut bad = RawClient::connect(&broker, v, &format!("garbage-{i}"));
            bad.send_bytes(&junk);
            bad.expect_closed();
        }
        publ.publish_acked(
            "calm/t",
            format!("m{i}").as_bytes(),
            QoS::AtLeastOnce,
            false,
        );
        assert_eq!(sub.recv_publish().payload, format!("m{i}").as_bytes());
    }
}

/// A packet larger than the server's maximum. 5.0: the CONNACK announces Maximum Packet
/// Size (3.2.2.3.6) and a larger packet gets DISCONNECT 0x95 Packet too large; 3.1.1:
/// close. Other clients are unaffected.
#[test]
fn packet_over_the_maximum_packet_size_is_refused() {
    let broker = Broker::start_with(&Options {
        max_packet_size: Some(1024),
    });
    let mut sub = RawClient::connect(&broker, V5, "size-sub");
    assert_eq!(sub.subscribe("size/#", QoS::AtMostOnce), [0]);
    for v in BOTH {
        let mut connect = Connect::new(v, "big");
        connect.keep_alive = 30;
        let (mut c, ack) = RawClient::connect_with(&broker, &connect);
        if let Packet::ConnAck(a) = ack.decode(v) {
            assert_eq!(a.reason.code(), 0);
            if v.is_v5() {
                assert_eq!(
                    a.properties.maximum_packet_size.map(|n| n.get()),
                    Some(1024),
                    "CONNACK Maximum Packet Size: {ack:?}"
                );
            }
        }
        c.publish("size/big", &[b'x'; 2000], QoS::AtMostOnce, false, 1);
        assert_closed_with(&mut c, 0x95, &format!("{v:?} 2000-byte PUBLISH"));
    }
    sub.expect_no_publish();
    let mut ok = RawClient::connect(&broker, V3, "small");
    ok.publish("size/small", &[b'x'; 900], QoS::AtMostOnce, false, 1);
    assert_eq!(sub.recv_publish().payload.len(), 900);
}

/// 5.0 [MQTT-3.1.2-24]: the server must not send a packet larger than the client's
/// Maximum Packet Size; it drops the message for that client and carries on
/// [MQTT-3.1.2-25].
#[test]
fn client_maximum_packet_size_is_respected_mqtt_3_1_2_24() {
    let broker = Broker::start();
    let mut connect = Connect::new(V5, "tiny");
    connect.keep_alive = 30;
    connect.properties.maximum_packet_size = std::num::NonZeroU32::new(128);
    let (mut tiny, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(tiny.subscribe("mps/#", QoS::AtLeastOnce), [1]);
    let mut p = RawClient::connect(&broker, V5, "mps-pub");
    p.publish_acked("mps/big", &[b'x'; 500], QoS::AtLeastOnce, false);
    p.publish_acked("mps/small", b"fits", QoS::AtLeastOnce, false);
    let m = tiny.recv_publish();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("mps/small", &b"fits"[..])
    );
    assert!(m.frame.0.len() <= 128);
    tiny.expect_no_publish();
}

/// 3.1.1 [MQTT-3.3.1-10] / [MQTT-3.3.1-11], 5.0 [MQTT-3.3.1-6] / [MQTT-3.3.1-7]: a
/// retained PUBLISH with an empty payload is forwarded as normal, removes the retained
/// message and is not itself stored. Existing subscriptions get RETAIN 0 (3.1.1
/// [MQTT-3.3.1-9], 5.0 [MQTT-3.3.1-12] without Retain As Published).
#[test]
fn retained_message_with_empty_payload_is_not_stored_mqtt_3_3_1_11() {
    let broker = Broker::start();
    for v in BOTH {
        let topic = format!("r/{v:?}/empty");
        let mut sub = RawClient::connect(&broker, v, "ret-sub");
        assert_eq!(sub.subscribe(&topic, QoS::AtLeastOnce), [1]);
        let mut p = RawClient::connect(&broker, v, "ret-pub");
        p.publish_acked(&topic, b"keep", QoS::AtLeastOnce, true);
        let m = sub.recv_publish();
        assert_eq!(
            (m.payload.as_slice(), m.retain),
            (&b"keep"[..], false),
            "{v:?}"
        );
        p.publish_acked(&topic, b"", QoS::AtLeastOnce, true);
        let m = sub.recv_publish();
        assert_eq!((m.payload.as_slice(), m.retain), (&b""[..], false), "{v:?}");
        // Neither the old message nor the empty one is retained now.
        let mut late = RawClient::connect(&broker, v, "ret-late");
        assert_eq!(late.subscribe(&topic, QoS::AtLeastOnce), [1]);
        late.expect_no_publish();
        // A fresh topic whose first retained message is empty stores nothing either.
        let fresh = format!("r/{v:?}/never");
        // QoS 1: the PUBACK says the broker has handled it before the subscription exists.
        p.publish_acked(&fresh, b"", QoS::AtLeastOnce, true);
        assert_eq!(late.subscribe(&fresh, QoS::AtLeastOnce), [1]);
        late.expect_no_publish();
    }
}

/// Keep-alive: 3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]: a client silent for one and a
/// half keep-alive periods is disconnected; 5.0 gets DISCONNECT 0x8D Keep Alive timeout.
#[test]
fn silent_client_is_closed_after_one_and_a_half_keep_alives_mqtt_3_1_2_24() {
    let broker = Broker::start();
    let handles: Vec<_> = BOTH
        .into_iter()
        .map(|v| {
            let mut connect = Connect::new(v, "silent");
            connect.client_id = if v.is_v5() { "silent5" } else { "silent3" };
            connect.keep_alive = 1;
            let (mut c, _) = RawClient::connect_with(&broker, &connect);
            std::thread::spawn(move || {
                let t = Instant::now();
                let frames = c.expect_closed_frames();
                (v, t.elapsed(), frames)
            })
        })
        .collect();
    for h in handles {
        let (v, waited, frames) = h.join().unwrap();
        if waited >= Duration::from_millis(3500)
            && mosquitto_deviates(&format!(
                "Mosquitto 2.0 checks keep-alive coarsely: closed after {waited:?}"
            ))
        {
            continue;
        }
        assert!(
            waited >= Duration::from_millis(1000) && waited < Duration::from_millis(3500),
            "{v:?}: closed after {waited:?}, expected about 1.5 s"
        );
        if v.is_v5() {
            assert_eq!(frames.len(), 1, "{frames:?}");
            if disconnect_reason(&frames[0]) != 0x8D
                && mosquitto_deviates("Mosquitto's keep-alive DISCONNECT reason differs")
            {
                continue;
            }
            assert_eq!(disconnect_reason(&frames[0]), 0x8D);
        } else {
            assert!(frames.is_empty(), "{frames:?}");
        }
    }
}

/// A client that keeps talking (PINGREQ within the keep-alive) stays connected, and each
/// PINGREQ gets a PINGRESP [MQTT-3.12.4-1].
#[test]
fn pingreq_keeps_the_connection_alive_mqtt_3_12_4_1() {
    let broker = Broker::start();
    let mut connect = Connect::new(V5, "pinger");
    connect.keep_alive = 1;
    let (mut c, _) = RawClient::connect_with(&broker, &connect);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(600));
        c.send(&Packet::PingReq);
        assert_eq!(c.recv().0, [0xD0, 0]);
    }
}

/// QoS 1 and 2 acknowledgements carry the PUBLISH's packet identifier (3.1.1 [MQTT-2.3.1-6],
/// 5.0 [MQTT-2.2.1-5]), and the QoS 2 flow runs PUBREC, PUBREL, PUBCOMP (3.1.1 / 5.0
/// [MQTT-4.3.3-...]).
#[test]
fn acknowledgements_carry_the_packet_identifier_mqtt_2_3_1_6() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "acks");
        for pid in [1u16, 7, 65535] {
            c.publish("ack/1", b"x", QoS::AtLeastOnce, false, pid);
            let f = c.recv();
            assert!(
                matches!(f.decode(v), Packet::PubAck(a) if a.packet_id.get() == pid),
                "{v:?}: {f:?}"
            );
            c.publish("ack/2", b"x", QoS::ExactlyOnce, false, pid);
            let f = c.recv();
            assert!(
                matches!(f.decode(v), Packet::PubRec(a) if a.packet_id.get() == pid),
                "{v:?}: {f:?}"
            );
            c.send(&Packet::PubRel(PubResponse::new(
                PacketId::new(pid).unwrap(),
            )));
            let f = c.recv();
            assert!(
                matches!(f.decode(v), Packet::PubComp(a) if a.packet_id.get() == pid),
                "{v:?}: {f:?}"
            );
        }
        // SUBACK and UNSUBACK too (3.1.1 [MQTT-3.8.4-2], [MQTT-3.10.4-4]).
        let id = PacketId::new(300).unwrap();
        let subs = [Subscription {
            filter: "ack/#",
            options: SubscriptionOptions::new(QoS::AtMostOnce),
        }];
        c.send(&Packet::Subscribe(tern_core::codec::Subscribe::new(
            id,
            (&subs).into(),
        )));
        assert!(matches!(c.recv().decode(v), Packet::SubAck(a) if a.packet_id == id));
        let filters = ["ack/#"];
        c.send(&Packet::Unsubscribe(Unsubscribe::new(
            id,
            (&filters).into(),
        )));
        assert!(matches!(c.recv().decode(v), Packet::UnsubAck(a) if a.packet_id == id));
    }
}

/// QoS 2 receiver side (3.1.1 / 5.0 [MQTT-4.3.3-2], Method B in 4.3.3): a PUBLISH re-sent
/// with DUP before the PUBREL must not be delivered twice; after PUBCOMP the identifier
/// is free, and a new PUBLISH with it is a new message.
#[test]
fn qos2_duplicate_publish_is_delivered_once_mqtt_4_3_3_2() {
    let broker = Broker::start();
    for v in BOTH {
        let mut sub = RawClient::connect(&broker, v, "eo-sub");
        assert_eq!(sub.subscribe("eo/t", QoS::ExactlyOnce), [2]);
        let mut c = RawClient::connect(&broker, v, "eo-pub");
        let id = PacketId::new(9).unwrap();
        let mut p = Publish::new("eo/t", QosPid::ExactlyOnce(id), b"once");
        c.send(&Packet::Publish(p));
        assert_eq!(c.recv().packet_type(), 5);
        p.dup = true;
        c.send(&Packet::Publish(p));
        assert_eq!(c.recv().packet_type(), 5, "PUBREC for the DUP too");
        c.send(&Packet::PubRel(PubResponse::new(id)));
        assert_eq!(c.recv().packet_type(), 7);
        let m = sub.recv_publish();
        assert_eq!(
            (m.payload.as_slice(), m.qos),
            (&b"once"[..], QoS::ExactlyOnce)
        );
        sub.expect_no_publish();
        // Same identifier, new message.
        c.publish_acked("eo/t", b"twice", QoS::ExactlyOnce, false);
        let p2 = Publish::new("eo/t", QosPid::ExactlyOnce(id), b"again");
        c.send(&Packet::Publish(p2));
        assert_eq!(c.recv().packet_type(), 5);
        c.send(&Packet::PubRel(PubResponse::new(id)));
        assert_eq!(c.recv().packet_type(), 7);
        let got: Vec<_> = (0..2).map(|_| sub.recv_publish().payload).collect();
        assert_eq!(got, [b"twice".to_vec(), b"again".to_vec()], "{v:?}");
    }
}

/// 5.0 3.3.2.3.4: a Topic Alias greater than the server's Topic Alias Maximum is a
/// Protocol Error, DISCONNECT 0x94 Topic Alias invalid [MQTT-3.3.2-9]; an empty topic with
/// an alias that has no mapping is a Protocol Error too (0x82).
#[test]
fn invalid_topic_alias_is_a_protocol_error_mqtt_3_3_2_9() {
    let broker = Broker::start();
    let (mut c, ack) = RawClient::connect_with(&broker, &Connect::new(V5, "alias"));
    let max = match ack.decode(V5) {
        Packet::ConnAck(a) => a.properties.topic_alias_maximum.unwrap_or(0),
        _ => unreachable!(),
    };
    let over = PacketId::new(max.saturating_add(1).max(1)).unwrap();
    let mut p = Publish::new("alias/t", QosPid::AtMostOnce, b"x");
    p.properties = PublishProperties {
        topic_alias: Some(over),
        ..PublishProperties::default()
    };
    c.send(&Packet::Publish(p));
    assert_closed_with(&mut c, 0x94, &format!("alias {over} over maximum {max}"));

    if max == 0 {
        return;
    }
    let (mut c, _) = RawClient::connect_with(&broker, &Connect::new(V5, "alias2"));
    let mut p = Publish::new("", QosPid::AtMostOnce, b"x");
    p.properties.topic_alias = Some(PacketId::MIN);
    c.send(&Packet::Publish(p));
    assert_closed_with(&mut c, 0x82, "unmapped alias");
}

/// 3.1.1 [MQTT-1.5.3-1], 5.0 [MQTT-1.5.4-1]: a topic that is not well-formed UTF-8 is
/// malformed; so is one containing U+0000 (3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]).
#[test]
fn ill_formed_utf8_topic_is_malformed_mqtt_1_5_3_1() {
    let broker = Broker::start();
    for v in BOTH {
        for topic in [&b"bad/\xFF"[..], b"bad/\xED\xA0\x80", b"bad/\x00"] {
            let mut c = RawClient::connect(&broker, v, "utf8");
            let mut body = field(topic);
            if v.is_v5() {
                body.push(0);
            }
            body.extend_from_slice(b"x");
            c.send_bytes(&packet(0x30, &body));
            assert_closed_with(&mut c, 0x81, &format!("{v:?} topic {topic:02x?}"));
        }
    }
}

/// 3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]: a SUBSCRIBE must carry at least one filter;
/// an empty one is malformed. Same for UNSUBSCRIBE ([MQTT-3.10.3-2]).
#[test]
fn subscribe_without_filters_is_malformed_mqtt_3_8_3_3() {
    let broker = Broker::start();
    for v in BOTH {
        let tail: &[u8] = if v.is_v5() { &[0] } else { &[] };
        for bytes in [
            packet(0x82, &[&[0, 1][..], tail].concat()),
            packet(0xA2, &[&[0, 1][..], tail].concat()),
        ] {
            let mut c = RawClient::connect(&broker, v, "nofilter");
            c.send_bytes(&bytes);
            assert_closed_with(&mut c, 0x81, &format!("{v:?} {bytes:02x?}"));
        }
    }
}

/// After UNSUBSCRIBE the client gets no more messages on that filter (3.1.1
/// [MQTT-3.10.4-1]); its other subscriptions keep working.
#[test]
fn unsubscribe_stops_delivery_mqtt_3_10_4_1() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "unsub");
        assert_eq!(c.subscribe("u/a", QoS::AtLeastOnce), [1]);
        assert_eq!(c.subscribe("u/b", QoS::AtLeastOnce), [1]);
        let filters = ["u/a"];
        let id = PacketId::new(5).unwrap();
        c.send(&Packet::Unsubscribe(Unsubscribe::new(
            id,
            (&filters).into(),
        )));
        let f = c.recv();
        assert!(
            matches!(f.decode(v), Packet::UnsubAck(a) if a.packet_id == id),
            "{f:?}"
        );
        let mut p = RawClient::connect(&broker, V3, "unsub-pub");
        p.publish_acked("u/a", b"gone", QoS::AtLeastOnce, false);
        p.publish_acked("u/b", b"still", QoS::AtLeastOnce, false);
        let m = c.recv_publish();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice()),
            ("u/b", &b"still"[..])
        );
        c.expect_no_publish();
    }
}

/// A normal DISCONNECT closes the connection from the server side too
/// (3.1.1 [MQTT-3.14.4-1] the client closes; the server must not send anything more).
#[test]
fn disconnect_ends_the_connection_mqtt_3_14_4_1() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "bye");
        c.send(&Packet::Disconnect(Disconnect::new()));
        let frames = c.expect_closed_frames();
        assert!(frames.is_empty(), "{v:?}: {frames:?}");
    }
}

/// Overlapping subscriptions (3.1.1 [MQTT-3.3.5-1]): the message is delivered once per
/// client at the maximum QoS of the matching subscriptions (5.0: once at least; Tern and
/// Mosquitto deliver once with the highest QoS).
#[test]
fn overlapping_subscriptions_deliver_at_the_highest_qos_mqtt_3_3_5_1() {
    let broker = Broker::start();
    let mut c = RawClient::connect(&broker, V3, "overlap");
    assert_eq!(c.subscribe("o/+", QoS::AtMostOnce), [0]);
    assert_eq!(c.subscribe("o/#", QoS::AtLeastOnce), [1]);
    let mut p = RawClient::connect(&broker, V3, "overlap-pub");
    p.publish_acked("o/x", b"m", QoS::ExactlyOnce, false);
    // One copy per matching subscription is allowed too ("MAY deliver further copies"):
    // collect them all; the highest QoS must be there.
    let mut copies = vec![c.recv_publish()];
    while let Ok(f) = c.try_recv(QUIET) {
        let m = Msg::from_frame(&f, V3);
        c.ack(&m);
        copies.push(m);
    }
    assert!(copies.len() <= 2, "{copies:?}");
    assert!(copies.iter().all(|m| m.payload == b"m"));
    if copies.iter().all(|m| m.qos == QoS::AtMostOnce)
        && mosquitto_deviates(
            "Mosquitto 2.0 delivers one copy at the QoS of the first matching subscription",
        )
    {
        return;
    }
    assert_eq!(
        copies.iter().map(|m| m.qos).max(),
        Some(QoS::AtLeastOnce),
        "{copies:?}"
    );
}

/// Messages between two clients keep their order (3.1.1 / 5.0 4.6 [MQTT-4.6.0-5]: ordered
/// topic delivery for the same QoS), over many messages and both protocol versions.
#[test]
fn messages_are_delivered_in_order_mqtt_4_6_0_5() {
    let broker = Broker::start();
    let mut sub = RawClient::connect(&broker, V5, "order-sub");
    assert_eq!(sub.subscribe("ord/t", QoS::ExactlyOnce), [2]);
    let mut p = RawClient::connect(&broker, V3, "order-pub");
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        // More than Tern's default in-flight window (32): the rest is queued.
        let mut n: u16 = 50;
        if qos == QoS::ExactlyOnce
            && mosquitto_deviates(
                "Mosquitto 2.0.11 stops delivering QoS 2 messages queued beyond its \
                 max_inflight_messages (20) even after PUBCOMP; using 20 messages",
            )
        {
            n = 20;
        }
        for i in 0..n {
            p.publish("ord/t", format!("{i}").as_bytes(), qos, false, i + 1);
        }
        let mut acks = 0;
        let mut got = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while got.len() < n.into() || acks < n {
            assert!(Instant::now() < deadline, "acks {acks}, got {got:?}");
            if acks < n
                && let Ok(f) = p.try_recv(Duration::from_millis(5))
            {
                match f.decode(V3) {
                    Packet::PubAck(_) | Packet::PubComp(_) => acks += 1,
                    Packet::PubRec(r) => p.send(&Packet::PubRel(PubResponse::new(r.packet_id))),
                    _ => panic!("{f:?}"),
                }
            }
            if got.len() < n.into()
                && let Ok(f) = sub.try_recv(Duration::from_millis(5))
                && f.packet_type() == 3
            {
                let m = Msg::from_frame(&f, V5);
                sub.ack(&m);
                got.push(String::from_utf8(m.payload).unwrap());
            }
        }
        let want: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        assert_eq!(got, want, "{qos:?}");
    }
}

/// Session takeover (3.1.1 [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]): a second connection with
/// the same client id closes the first; a 5.0 first connection gets DISCONNECT 0x8E
/// Session taken over (5.0 3.14.2.1). The new connection works.
#[test]
fn session_takeover_closes_the_old_connection_mqtt_3_1_4_2() {
    let broker = Broker::start();
    for v in BOTH {
        // Clean start, then a resumed session (the new connection takes the session over).
        for persistent in [false, true] {
            let id = format!("taken-{v:?}-{persistent}");
            let mut connect = Connect::new(v, &id);
            connect.keep_alive = 60;
            connect.clean_start = !persistent;
            if persistent && v.is_v5() {
                connect.properties.session_expiry_interval = Some(60);
            }
            let (mut old, _) = RawClient::connect_with(&broker, &connect);
            if persistent {
                assert_eq!(old.subscribe("tk/t", QoS::AtLeastOnce), [1]);
            }
            let (mut new, ack) = RawClient::connect_with(&broker, &connect);
            match ack.decode(v) {
                Packet::ConnAck(a) => {
                    assert_eq!(a.reason.code(), 0);
                    assert_eq!(a.session_present, persistent, "{v:?} Session Present");
                }
                _ => unreachable!(),
            }
            assert_closed_with(
                &mut old,
                0x8E,
                &format!("{v:?} taken over, persistent {persistent}"),
            );
            if !persistent {
                assert_eq!(new.subscribe("tk/t", QoS::AtLeastOnce), [1]);
            }
            new.publish_acked("tk/t", b"x", QoS::AtLeastOnce, false);
            assert_eq!(new.recv_publish().payload, b"x");
            // Exactly once: the taken-over session has one subscription, not two.
            new.expect_no_publish();
        }
    }
}

/// A subscription is in effect once its SUBACK is sent: a message another client
/// publishes right after the SUBACK is delivered, whichever broker shard the two clients
/// landed on (repeated so that both same-shard and cross-shard pairs occur). No
/// normative statement pins this down, but request/response patterns rely on it, and
/// Mosquitto behaves so.
#[test]
fn subscription_is_in_effect_once_acknowledged() {
    let broker = Broker::start();
    let mut p = RawClient::connect(&broker, V5, "fresh-pub");
    for i in 0..20 {
        for v in BOTH {
            let topic = format!("fresh/{v:?}/{i}");
            let mut s = RawClient::connect(&broker, v, &format!("fresh-{v:?}-{i}"));
            assert_eq!(s.subscribe(&topic, QoS::AtLeastOnce), [1]);
            p.publish_acked(&topic, b"now", QoS::AtLeastOnce, false);
            let m = s.recv_publish();
            assert_eq!(
                (m.topic.as_str(), m.payload.as_slice()),
                (topic.as_str(), &b"now"[..])
            );
        }
    }
}

/// 5.0 Receive Maximum from the client: the server sends at most that many unacknowledged
/// QoS 1/2 PUBLISH packets [MQTT-3.3.4-9]; each acknowledgement lets the next one out.
#[test]
fn client_receive_maximum_limits_inflight_mqtt_3_3_4_9() {
    let broker = Broker::start();
    let mut connect = Connect::new(V5, "rm");
    connect.keep_alive = 60;
    connect.properties.receive_maximum = std::num::NonZeroU16::new(2);
    let (mut c, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(c.subscribe("rm/t", QoS::AtLeastOnce), [1]);
    let mut p = RawClient::connect(&broker, V3, "rm-pub");
    for i in 0..5 {
        p.publish_acked("rm/t", format!("{i}").as_bytes(), QoS::AtLeastOnce, false);
    }
    // Two arrive; the third waits for an acknowledgement.
    let a = Msg::from_frame(&c.recv_packet_type(3), V5);
    let b = Msg::from_frame(&c.recv_packet_type(3), V5);
    assert_eq!(
        (a.payload.as_slice(), b.payload.as_slice()),
        (&b"0"[..], &b"1"[..])
    );
    c.expect_no_publish();
    c.ack(&a);
    let m = Msg::from_frame(&c.recv_packet_type(3), V5);
    assert_eq!(m.payload, b"2");
    match c.try_recv(QUIET) {
        Err(NoFrame::TimedOut) => {}
        Ok(f)
            if f.packet_type() == 3
                && mosquitto_deviates(
                    "Mosquitto 2.0.11 lets a third message out after one PUBACK with \
                     Receive Maximum 2",
                ) =>
        {
            return;
        }
        other => panic!("a third unacknowledged PUBLISH (Receive Maximum 2): {other:?}"),
    }
    c.ack(&b);
    c.ack(&m);
    let rest: Vec<_> = (0..2).map(|_| c.recv_publish().payload).collect();
    assert_eq!(rest, [b"3".to_vec(), b"4".to_vec()]);
}

/// Unacknowledged messages are re-sent when a persistent session resumes, with their
/// original packet identifiers and DUP set (3.1.1 [MQTT-4.4.0-1] / [MQTT-3.3.1-1], 5.0
/// [MQTT-4.4.0-1]); an unacknowledged PUBREL is re-sent too. Nothing is re-sent while the
/// connection stays up (5.0 [MQTT-4.4.0-1]: only on reconnect).
#[test]
fn unacknowledged_messages_are_resent_with_dup_on_resume_mqtt_4_4_0_1() {
    let broker = Broker::start();
    for v in BOTH {
        let id = format!("resend-{v:?}");
        let mut connect = Connect::new(v, &id);
        connect.keep_alive = 60;
        connect.clean_start = false;
        if v.is_v5() {
            connect.properties.session_expiry_interval = Some(60);
        }
        let (mut c, _) = RawClient::connect_with(&broker, &connect);
        assert_eq!(c.subscribe("rs/#", QoS::ExactlyOnce), [2]);
        let mut p = RawClient::connect(&broker, V5, &format!("resend-pub-{v:?}"));
        p.publish_acked("rs/1", b"one", QoS::AtLeastOnce, false);
        p.publish_acked("rs/2", b"two", QoS::ExactlyOnce, false);
        p.publish_acked("rs/3", b"three", QoS::ExactlyOnce, false);
        // QoS 1: not acknowledged. QoS 2 "two": not acknowledged. "three": PUBREC sent,
        // PUBREL received, PUBCOMP never sent.
        let m1 = Msg::from_frame(&c.recv_packet_type(3), v);
        let m2 = Msg::from_frame(&c.recv_packet_type(3), v);
        let m3 = Msg::from_frame(&c.recv_packet_type(3), v);
        assert_eq!(
            [&m1.topic, &m2.topic, &m3.topic],
            ["rs/1", "rs/2", "rs/3"],
            "{v:?}"
        );
        let pid3 = PacketId::new(m3.packet_id.unwrap()).unwrap();
        c.send(&Packet::PubRec(PubResponse::new(pid3)));
        let rel = c.recv_packet_type(6);
        c.expect_silence(); // no re-send on a timer
        c.drop_link();

        let (mut c, ack) = RawClient::connect_with(&broker, &connect);
        match ack.decode(v) {
            Packet::ConnAck(a) => assert!(a.session_present, "{v:?}"),
            _ => unreachable!(),
        }
        let mut resent = Vec::new();
        for _ in 0..3 {
            resent.push(c.recv());
        }
        let publishes: Vec<Msg> = resent
            .iter()
            .filter(|f| f.packet_type() == 3)
            .map(|f| Msg::from_frame(f, v))
            .collect();
        assert_eq!(publishes.len(), 2, "{v:?}: {resent:?}");
        for (m, orig) in publishes.iter().zip([&m1, &m2]) {
            assert_eq!(
                (&m.topic, m.packet_id, m.qos, m.dup),
                (&orig.topic, orig.packet_id, orig.qos, true),
                "{v:?}: re-sent with DUP and the same identifier"
            );
        }
        let rels: Vec<_> = resent.iter().filter(|f| f.packet_type() == 6).collect();
        assert_eq!(rels.len(), 1, "{v:?}: PUBREL re-sent: {resent:?}");
        assert_eq!(rels[0].0[..4], rel.0[..4], "{v:?}: same PUBREL identifier");
        // Completing the flows leaves nothing to re-send.
        for m in &publishes {
            c.ack(m);
        }
        c.send(&Packet::PubComp(PubResponse::new(pid3)));
        c.expect_no_publish();
        c.drop_link();
        let (mut c, _) = RawClient::connect_with(&broker, &connect);
        c.expect_silence();
    }
}

/// 5.0 Will Delay Interval: the Will is published only after the delay
/// [MQTT-3.1.3-9], and not at all if the client reconnects (same session) within it.
#[test]
fn will_delay_interval_mqtt_3_1_3_9() {
    use tern_core::codec::Will;
    use tern_core::topic::TopicName;
    let broker = Broker::start();
    let mut watch = RawClient::connect(&broker, V5, "wd-watch");
    assert_eq!(watch.subscribe("wd/#", QoS::AtLeastOnce), [1]);
    let mut connect = Connect::new(V5, "wd");
    connect.keep_alive = 60;
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(60);
    let mut will = Will {
        topic: TopicName::new("wd/gone").unwrap(),
        payload: b"late",
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    };
    will.properties.will_delay_interval = Some(2);
    connect.will = Some(will);

    // Reconnect within the delay: no Will.
    let (c, _) = RawClient::connect_with(&broker, &connect);
    c.drop_link();
    let (c, _) = RawClient::connect_with(&broker, &connect);
    let t = Instant::now();
    match watch.try_recv(Duration::from_millis(2500)) {
        Err(NoFrame::TimedOut) => {}
        other => panic!("Will published although the client came back: {other:?}"),
    }
    // Now stay away: the Will comes after about 2 s.
    c.drop_link();
    let t2 = Instant::now();
    let m = watch.recv_publish();
    let waited = t2.elapsed();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("wd/gone", &b"late"[..])
    );
    assert!(
        waited >= Duration::from_millis(1500),
        "Will published after {waited:?}, before its 2 s delay"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

/// 5.0 Session Expiry Interval: a session is discarded once the interval has passed
/// after the connection closed [MQTT-3.1.2-23]; before that it is resumed.
#[test]
fn session_expires_after_its_interval_mqtt_3_1_2_23() {
    let broker = Broker::start();
    let mut connect = Connect::new(V5, "expiring");
    connect.keep_alive = 60;
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(1);
    let (mut c, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(c.subscribe("se/t", QoS::AtLeastOnce), [1]);
    c.send(&Packet::Disconnect(Disconnect::new()));
    c.expect_closed();
    // Within the interval: resumed.
    let (mut c, ack) = RawClient::connect_with(&broker, &connect);
    assert!(
        matches!(ack.decode(V5), Packet::ConnAck(a) if a.session_present),
        "{ack:?}"
    );
    c.send(&Packet::Disconnect(Disconnect::new()));
    c.expect_closed();
    // Time must pass; there is nothing to wait on.
    std::thread::sleep(Duration::from_millis(2200));
    let (mut c, ack) = RawClient::connect_with(&broker, &connect);
    assert!(
        matches!(ack.decode(V5), Packet::ConnAck(a) if !a.session_present),
        "{ack:?}"
    );
    let mut p = RawClient::connect(&broker, V5, "se-pub");
    p.publish_acked("se/t", b"x", QoS::AtLeastOnce, false);
    c.expect_no_publish();
}

/// 5.0 UNSUBACK reason codes (3.11.3): 0x00 for an existing subscription, 0x11 No
/// subscription existed otherwise, one per filter in order [MQTT-3.11.3-1].
#[test]
fn unsuback_reason_codes_mqtt_3_11_3_1() {
    let broker = Broker::start();
    let mut c = RawClient::connect(&broker, V5, "unsuback");
    assert_eq!(c.subscribe("ua/x", QoS::AtMostOnce), [0]);
    let filters = ["ua/none", "ua/x", "ua/x"];
    let id = PacketId::new(9).unwrap();
    c.send(&Packet::Unsubscribe(Unsubscribe::new(
        id,
        (&filters).into(),
    )));
    let f = c.recv();
    match f.decode(V5) {
        Packet::UnsubAck(a) => {
            assert_eq!(a.packet_id, id);
            let codes: Vec<u8> = a.reason_codes.iter().map(|r| r.code()).collect();
            assert_eq!(codes, [0x11, 0x00, 0x11], "{f:?}");
        }
        _ => panic!("{f:?}"),
    }
}

/// Retained messages on `$` topics are not sent to subscriptions whose filter starts with
/// a wildcard, nor are they matched by live routing ([MQTT-4.7.2-1]); `$app/#` gets them.
#[test]
fn retained_dollar_topics_are_not_matched_by_wildcards_mqtt_4_7_2_1() {
    let broker = Broker::start();
    let mut p = RawClient::connect(&broker, V5, "dollar-pub");
    p.publish_acked("$app/r", b"hidden", QoS::AtLeastOnce, true);
    p.publish_acked("app/r", b"visible", QoS::AtLeastOnce, true);
    for filter in ["#", "+/r"] {
        let mut c = RawClient::connect(&broker, V3, "dollar-wild");
        assert_eq!(c.subscribe(filter, QoS::AtLeastOnce), [1]);
        let m = c.recv_publish();
        assert_eq!((m.topic.as_str(), m.retain), ("app/r", true), "{filter}");
        c.expect_no_publish();
    }
    let mut c = RawClient::connect(&broker, V3, "dollar-exact");
    assert_eq!(c.subscribe("$app/#", QoS::AtLeastOnce), [1]);
    let m = c.recv_publish();
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("$app/r", &b"hidden"[..])
    );
}

/// A SUBSCRIBE whose filter equals an existing subscription's replaces it (3.1.1 / 5.0
/// [MQTT-3.8.4-3]): the new QoS applies and each message is delivered once.
#[test]
fn resubscribing_replaces_the_subscription_mqtt_3_8_4_3() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::connect(&broker, v, "resub");
        assert_eq!(c.subscribe("rsb/t", QoS::AtMostOnce), [0]);
        assert_eq!(c.subscribe("rsb/t", QoS::ExactlyOnce), [2]);
        let mut p = RawClient::connect(&broker, V5, "resub-pub");
        p.publish_acked("rsb/t", b"x", QoS::ExactlyOnce, false);
        let m = c.recv_publish();
        assert_eq!(
            (m.payload.as_slice(), m.qos),
            (&b"x"[..], QoS::ExactlyOnce),
            "{v:?}"
        );
        c.expect_no_publish();
    }
}

/// Large messages (far beyond the broker's 64 KiB read scratch) go through intact, at
/// each QoS, to 3.1.1 and 5.0 subscribers.
#[test]
fn large_messages_pass_intact() {
    let broker = Broker::start();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut s3 = RawClient::connect(&broker, V3, "large-3");
    let mut s5 = RawClient::connect(&broker, V5, "large-5");
    assert_eq!(s3.subscribe("large/#", QoS::ExactlyOnce), [2]);
    assert_eq!(s5.subscribe("large/#", QoS::ExactlyOnce), [2]);
    let mut p = RawClient::connect(&broker, V5, "large-pub");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        p.publish_acked("large/t", &payload, qos, false);
        for s in [&mut s3, &mut s5] {
            let m = s.recv_publish();
            assert_eq!(m.qos, qos);
            assert!(
                m.payload == payload,
                "payload altered ({} bytes)",
                m.payload.len()
            );
        }
    }
}

/// Packets split into single bytes across many TCP segments are reassembled (the
/// Remaining Length, the topic, the payload: every boundary).
#[test]
fn packets_split_byte_by_byte_are_reassembled() {
    let broker = Broker::start();
    for v in BOTH {
        let mut s = RawClient::connect(&broker, V5, "split-sub");
        assert_eq!(s.subscribe("split/t", QoS::AtLeastOnce), [1]);
        let mut c = RawClient::open(&broker, v);
        let mut connect = Connect::new(v, "split");
        connect.keep_alive = 60;
        let mut bytes = tern_tests::encode(&Packet::Connect(connect), v);
        let payload = vec![b'p'; 200]; // a two-byte Remaining Length
        let publish = Publish::new("split/t", QosPid::AtLeastOnce(PacketId::MIN), &payload);
        bytes.extend(tern_tests::encode(&Packet::Publish(publish), v));
        for b in bytes {
            c.send_bytes(&[b]);
        }
        assert_eq!(c.recv().packet_type(), 2, "CONNACK");
        assert_eq!(c.recv().packet_type(), 4, "PUBACK");
        assert_eq!(s.recv_publish().payload, payload, "{v:?}");
    }
}

/// Several packets in one TCP write (CONNECT, SUBSCRIBE, PUBLISH, PINGREQ pipelined) are
/// each handled: CONNACK first, the SUBSCRIBE before the PUBLISH (our own message comes
/// back). The order of PUBACK and PINGRESP is not specified.
#[test]
fn pipelined_packets_are_handled_in_order() {
    let broker = Broker::start();
    for v in BOTH {
        let mut c = RawClient::open(&broker, v);
        let mut connect = Connect::new(v, "pipeline");
        connect.keep_alive = 60;
        let subs = [Subscription {
            filter: "pipe/t",
            options: SubscriptionOptions::new(QoS::AtLeastOnce),
        }];
        let id = PacketId::new(3).unwrap();
        let mut bytes = tern_tests::encode(&Packet::Connect(connect), v);
        bytes.extend(tern_tests::encode(
            &Packet::Subscribe(tern_core::codec::Subscribe::new(id, (&subs).into())),
            v,
        ));
        bytes.extend(tern_tests::encode(
            &Packet::Publish(Publish::new("pipe/t", QosPid::AtLeastOnce(id), b"me")),
            v,
        ));
        bytes.extend(tern_tests::encode(&Packet::PingReq, v));
        c.send_bytes(&bytes);
        let frames: Vec<Frame> = (0..5).map(|_| c.recv()).collect();
        let types: Vec<u8> = frames.iter().map(Frame::packet_type).collect();
        // CONNACK, SUBACK, then PUBACK / our own message / PINGRESP (the delivery may
        // interleave with the acknowledgements).
        assert_eq!(types[..2], [2, 9], "{v:?}: {frames:?}");
        let mut rest = types[2..].to_vec();
        rest.sort();
        assert_eq!(rest, [3, 4, 13], "{v:?}: {frames:?}");
    }
}

/// 5.0 Topic Aliases from the server: a client that announces Topic Alias Maximum 2 may
/// get aliases, never above 2 [MQTT-3.1.2-26], and every message resolves to its real
/// topic (an empty topic only with an alias mapped earlier on this connection).
#[test]
fn topic_aliases_towards_the_client_stay_within_its_maximum_mqtt_3_1_2_26() {
    let broker = Broker::start();
    let mut connect = Connect::new(V5, "alias-rx");
    connect.keep_alive = 60;
    connect.properties.topic_alias_maximum = Some(2);
    let (mut c, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(c.subscribe("ta/#", QoS::AtLeastOnce), [1]);
    let mut p = RawClient::connect(&broker, V3, "alias-tx");
    let topics = ["ta/aaaaaaaaaaaa", "ta/bbbbbbbbbbbb", "ta/cccccccccccc"];
    let mut sent = Vec::new();
    for round in 0..4 {
        for t in topics {
            p.publish_acked(t, format!("{round}").as_bytes(), QoS::AtLeastOnce, false);
            sent.push(t.to_owned());
        }
    }
    let mut map = std::collections::HashMap::new();
    let mut got = Vec::new();
    for _ in 0..sent.len() {
        let m = c.recv_publish();
        let alias = match m.frame.decode(V5) {
            Packet::Publish(pk) => pk.properties.topic_alias.map(|a| a.get()),
            _ => unreachable!(),
        };
        let topic = match (m.topic.is_empty(), alias) {
            (false, Some(a)) => {
                assert!(a <= 2, "alias {a} above the client's maximum 2");
                map.insert(a, m.topic.clone());
                m.topic
            }
            (false, None) => m.topic,
            (true, Some(a)) => {
                assert!(a <= 2, "alias {a} above the client's maximum 2");
                map.get(&a)
                    .unwrap_or_else(|| panic!("alias {a} used before it was mapped"))
                    .clone()
            }
            (true, None) => panic!("empty topic without an alias: {:?}", m.frame),
        };
        got.push(topic);
    }
    assert_eq!(got, sent);
}

/// A retained message sent because of a new subscription carries that subscription's
/// Subscription Identifier ([MQTT-3.3.4-3]) and its remaining Message Expiry Interval
/// ([MQTT-3.3.2-6]).
#[test]
fn retained_delivery_carries_subscription_identifier_and_expiry_mqtt_3_3_4_3() {
    use tern_core::codec::{Subscribe, SubscribeProperties};
    let broker = Broker::start();
    let mut p = RawClient::connect(&broker, V5, "ret-id-pub");
    let mut pk = Publish::new("rid/t", QosPid::AtLeastOnce(PacketId::MIN), b"kept");
    pk.retain = true;
    pk.properties.message_expiry_interval = Some(600);
    p.send(&Packet::Publish(pk));
    assert_eq!(p.recv().packet_type(), 4);
    let mut c = RawClient::connect(&broker, V5, "ret-id-sub");
    let subs = [Subscription {
        filter: "rid/#",
        options: SubscriptionOptions::new(QoS::AtLeastOnce),
    }];
    let mut s = Subscribe::new(PacketId::new(2).unwrap(), (&subs).into());
    s.properties = SubscribeProperties {
        subscription_identifier: std::num::NonZeroU32::new(42),
        ..SubscribeProperties::default()
    };
    c.send(&Packet::Subscribe(s));
    assert_eq!(c.recv_packet_type(9).packet_type(), 9);
    let m = c.recv_publish();
    assert!(m.retain);
    match m.frame.decode(V5) {
        Packet::Publish(pk) => {
            let ids: Vec<u32> = pk.properties.subscription_identifiers.iter().collect();
            assert_eq!(ids, [42], "{:?}", m.frame);
            let left = pk.properties.message_expiry_interval;
            assert!(
                matches!(left, Some(590..=600)),
                "Message Expiry Interval {left:?}, expected about 600"
            );
        }
        _ => unreachable!(),
    }
}

/// A persistent session moves with its client: reconnecting again and again (each new TCP
/// connection may land on another broker shard), the session, its subscription and the
/// QoS 1 messages queued while it was offline follow, in order, exactly once
/// (3.1.1 [MQTT-3.1.2-4] / [MQTT-3.1.2-5], 5.0 [MQTT-3.1.2-5]).
#[test]
fn persistent_session_follows_its_client_across_reconnects_mqtt_3_1_2_5() {
    let broker = Broker::start();
    let mut p = RawClient::connect(&broker, V5, "roam-pub");
    for v in BOTH {
        let id = format!("roam-{v:?}");
        let mut connect = Connect::new(v, &id);
        connect.keep_alive = 60;
        connect.clean_start = false;
        if v.is_v5() {
            connect.properties.session_expiry_interval = Some(60);
        }
        let (mut c, _) = RawClient::connect_with(&broker, &connect);
        assert_eq!(c.subscribe("roam/t", QoS::AtLeastOnce), [1]);
        for round in 0..8 {
            c.send(&Packet::Disconnect(Disconnect::new()));
            c.expect_closed();
            let sent: Vec<Vec<u8>> = (0..3)
                .map(|i| format!("{round}-{i}").into_bytes())
                .collect();
            for m in &sent {
                p.publish_acked("roam/t", m, QoS::AtLeastOnce, false);
            }
            let (c2, ack) = RawClient::connect_with(&broker, &connect);
            c = c2;
            assert!(
                matches!(ack.decode(v), Packet::ConnAck(a) if a.session_present),
                "{v:?} round {round}: {ack:?}"
            );
            let got: Vec<Vec<u8>> = (0..3).map(|_| c.recv_publish().payload).collect();
            // A duplicate would show up first in the next round.
            assert_eq!(got, sent, "{v:?} round {round}");
        }
        c.expect_no_publish();
    }
}

/// Fan-out to many subscribers (spread over the broker's shards): each gets every message,
/// once, in publication order.
#[test]
fn fan_out_to_many_subscribers_in_order() {
    let broker = Broker::start();
    let mut subs: Vec<RawClient> = (0..24)
        .map(|i| {
            let v = BOTH[i % 2];
            let mut c = RawClient::connect(&broker, v, &format!("fan-{i}"));
            assert_eq!(c.subscribe("fan/+", QoS::AtLeastOnce), [1]);
            c
        })
        .collect();
    let mut p = RawClient::connect(&broker, V3, "fan-pub");
    let n = 20;
    for i in 0..n {
        p.publish_acked("fan/t", format!("{i}").as_bytes(), QoS::AtLeastOnce, false);
    }
    let want: Vec<Vec<u8>> = (0..n).map(|i| format!("{i}").into_bytes()).collect();
    for (i, s) in subs.iter_mut().enumerate() {
        let got: Vec<Vec<u8>> = (0..n).map(|_| s.recv_publish().payload).collect();
        assert_eq!(got, want, "subscriber {i}");
    }
    subs[0].expect_no_publish();
}
