//! Encode-once fan-out: a message carrying its PUBLISH encoded by
//! [`Message::with_encoded`] goes out byte for byte as a normal encode would write it,
//! with the recipient's Packet Identifier and DUP patched in; the engine falls back to a
//! normal encode whenever the copy would not be exact.
#![cfg(feature = "alloc")]

use std::vec::Vec;

use crate::codec::{Connect, Packet, ProtocolVersion, QoS};
use crate::session::{Config, Connection, Growable, Instant, Message, Server};

type S = Growable<Vec<u8>>;

fn versions() -> Vec<ProtocolVersion> {
    [
        #[cfg(feature = "v3")]
        ProtocolVersion::V3_1_1,
        #[cfg(feature = "v5")]
        ProtocolVersion::V5,
    ]
    .to_vec()
}

/// A server connection that has sent its CONNACK; `alias_max` is the client's Topic Alias
/// Maximum (5.0).
fn server(version: ProtocolVersion, alias_max: u16) -> Connection<Server, S> {
    let now = Instant::from_secs(0);
    #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
    let mut connect = Connect::new(version, "sub");
    #[cfg(feature = "v5")]
    if version.is_v5() && alias_max != 0 {
        connect.properties.topic_alias_maximum = Some(alias_max);
    }
    let _ = alias_max;
    let mut c =
        Connection::<Server, S>::from_connect(now, &connect, None, Config::server()).unwrap();
    let mut buf = [0u8; 256];
    assert!(c.poll_transmit(now, &mut buf).unwrap().is_some(), "CONNACK");
    c
}

/// Publishes `m` twice (so the second one gets packet identifier 2) and returns the second
/// PUBLISH as sent.
fn second_send(c: &mut Connection<Server, S>, m: &Message<Vec<u8>>) -> Vec<u8> {
    let now = Instant::from_secs(1);
    let mut buf = [0u8; 512];
    let mut last = Vec::new();
    for _ in 0..2 {
        c.publish(m.clone()).unwrap();
        let n = c.poll_transmit(now, &mut buf).unwrap().unwrap();
        last = buf[..n].to_vec();
    }
    last
}

fn message(qos: QoS) -> Message<Vec<u8>> {
    #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
    let mut m = Message::new("fan/out", b"payload-bytes", qos, true).unwrap();
    #[cfg(feature = "v5")]
    {
        let p = crate::codec::PublishProperties {
            content_type: Some("text/plain"),
            ..Default::default()
        };
        m.set_properties_from(&p).unwrap();
    }
    m
}

#[test]
fn copy_equals_encode_with_patched_packet_id() {
    for v in versions() {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            #[cfg(not(feature = "qos2"))]
            if qos == QoS::ExactlyOnce {
                continue;
            }
            let plain = message(qos);
            let encoded = plain.clone().with_encoded(v);
            assert!(encoded.encoded().is_some());
            let a = second_send(&mut server(v, 0), &plain);
            let b = second_send(&mut server(v, 0), &encoded);
            assert_eq!(a, b, "{v:?} {qos:?}");
            if qos != QoS::AtMostOnce {
                // The placeholder identifier (1) was patched to this session's second one.
                assert!(matches!(
                    Packet::decode(v, &b).unwrap(),
                    Packet::Publish(p) if p.qos_pid.packet_id().map(|i| i.get()) == Some(2)
                ));
            }
        }
    }
}

#[test]
fn changes_drop_the_encoding() {
    let v = versions()[0];
    let m = message(QoS::AtLeastOnce).with_encoded(v);
    assert!(m.clone().with_qos(QoS::AtMostOnce).encoded().is_none());
    assert!(m.clone().with_retain(false).encoded().is_none());
    assert!(m.clone().with_qos(QoS::AtLeastOnce).encoded().is_some());
    let expiring = m.clone().with_expiry(
        Instant::from_secs(0),
        crate::session::Duration::from_secs(9),
    );
    assert!(expiring.encoded().is_none());
    assert!(
        expiring.with_encoded(v).encoded().is_none(),
        "expiry is written per send"
    );
}

#[cfg(feature = "v5")]
#[test]
fn v5_peer_accepting_aliases_gets_a_normal_encode() {
    let v = ProtocolVersion::V5;
    let plain = message(QoS::AtMostOnce);
    let encoded = plain.clone().with_encoded(v);
    // With aliases the engine assigns one on the first send and reuses it: the copy would
    // lack it, so both sends are normal encodes and match the plain message's.
    let a = second_send(&mut server(v, 4), &plain);
    let b = second_send(&mut server(v, 4), &encoded);
    assert_eq!(a, b);
    assert!(matches!(
        Packet::decode(v, &b).unwrap(),
        Packet::Publish(p) if p.topic.is_empty() && p.properties.topic_alias.map(|a| a.get()) == Some(1)
    ));
}

#[cfg(all(feature = "v3", feature = "v5"))]
#[test]
fn another_version_gets_a_normal_encode() {
    let plain = message(QoS::AtLeastOnce);
    let for_v5 = plain.clone().with_encoded(ProtocolVersion::V5);
    let a = second_send(&mut server(ProtocolVersion::V3_1_1, 0), &plain);
    let b = second_send(&mut server(ProtocolVersion::V3_1_1, 0), &for_v5);
    assert_eq!(a, b);
}
