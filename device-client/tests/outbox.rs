//! The outbox (outgoing messages kept encoded in a caller-supplied slice) through the
//! client's sans-IO API, against canned broker packets: order, DUP re-sends after a
//! resumed session, new identifiers after a new one, QoS 2 freeing its copy at PUBREC,
//! back-pressure, the broker's 5.0 limits, and a message queued for one protocol version
//! sent over a connection of the other.
#![cfg(all(feature = "v3", feature = "v5", feature = "qos2"))]

use tern_client::codec::{
    ConnAck, Connect, Packet, PacketId, ProtocolVersion, PubResponse, PublishProperties, QoS,
    ReasonCode,
};
use tern_client::session::{DropReason, Instant};
use tern_client::{Client, Error, Event, Fixed};

type S = Fixed<4, 0, 0, 0, 0>;

/// What the client sent: a PUBLISH reduced to what the tests compare, or another packet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Publish {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        pid: Option<u16>,
        dup: bool,
        user_props: usize,
    },
    PubRel(u16),
    Other,
}

/// A client and the version its broker speaks.
struct Rig {
    client: Client<'static, S>,
    v: ProtocolVersion,
}

fn leak(n: usize) -> &'static mut [u8] {
    Vec::leak(vec![0u8; n])
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

impl Rig {
    fn new(outbox: usize) -> Self {
        Self {
            client: Client::new(leak(512), leak(512), leak(outbox)),
            v: ProtocolVersion::V3_1_1,
        }
    }

    /// CONNECT (persistent session), then the broker's CONNACK; returns what was sent after it.
    fn connect(&mut self, v: ProtocolVersion, present: bool, ack: ConnAck<'_>) -> Vec<Out> {
        self.v = v;
        let mut c = Connect::new(v, "dev");
        c.clean_start = false;
        c.keep_alive = 0;
        self.client.start_connect(Instant::ZERO, &c).unwrap();
        let mut ack = ack;
        ack.session_present = present;
        let mut buf = [0u8; 64];
        let n = Packet::ConnAck(ack).encode(v, &mut buf).unwrap();
        let events = self.feed(&buf[..n]);
        assert!(
            events.contains(&format!("connected {present}")),
            "{events:?}"
        );
        self.sent()
    }

    fn lose_link(&mut self) {
        self.client.on_transport_closed(Instant::ZERO);
        while self.client.prepare(Instant::ZERO) {
            let _ = self.client.take_event(Instant::ZERO);
        }
    }

    /// Delivers broker bytes; returns the events, as text.
    fn feed(&mut self, mut bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        loop {
            while self.client.prepare(Instant::ZERO) {
                match self.client.take_event(Instant::ZERO) {
                    Some(Event::Connected { session_present }) => {
                        events.push(format!("connected {session_present}"))
                    }
                    Some(Event::Published { packet_id, reason }) => {
                        events.push(format!("published {} {:?}", packet_id.get(), reason))
                    }
                    Some(Event::Dropped { reason }) => events.push(format!("dropped {reason:?}")),
                    Some(e) => events.push(format!("{e:?}")),
                    None => {}
                }
            }
            if bytes.is_empty() {
                return events;
            }
            let space = self.client.rx_space();
            let n = space.len().min(bytes.len());
            space[..n].copy_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.client.on_read(Instant::ZERO, n);
        }
    }

    fn ack(&mut self, ty: u8, id: u16) -> Vec<String> {
        let mut buf = [0u8; 16];
        let r = PubResponse::new(pid(id));
        let p = match ty {
            4 => Packet::PubAck(r),
            5 => Packet::PubRec(r),
            _ => Packet::PubComp(r),
        };
        let n = p.encode(self.v, &mut buf).unwrap();
        self.feed(&buf[..n])
    }

    /// Everything the client writes now, decoded.
    fn sent(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        let v = self.v;
        while let Some(bytes) = self.client.next_transmit(Instant::ZERO).unwrap() {
            let bytes = bytes.to_vec();
            out.push(match Packet::decode(v, &bytes).unwrap() {
                Packet::Publish(p) => Out::Publish {
                    topic: p.topic.into(),
                    payload: p.payload.into(),
                    qos: p.qos_pid.qos(),
                    pid: p.qos_pid.packet_id().map(|p| p.get()),
                    dup: p.dup,
                    user_props: p.properties.user_properties.iter().count(),
                },
                Packet::PubRel(r) => Out::PubRel(r.packet_id.get()),
                _ => Out::Other,
            });
        }
        out
    }
}

fn publish(topic: &str, qos: QoS, pid: Option<u16>, dup: bool) -> Out {
    Out::Publish {
        topic: topic.into(),
        payload: b"x".to_vec(),
        qos,
        pid,
        dup,
        user_props: 0,
    }
}

fn ok_ack() -> ConnAck<'static> {
    ConnAck::new(false, ReasonCode::Success)
}

/// [MQTT-4.4.0-1] (3.1.1 and 5.0): on a resumed session the client re-sends every
/// unacknowledged PUBLISH with DUP set and its original identifier, in the original
/// order; [MQTT-4.6.0-1]: in the order published.
#[test]
fn resumed_session_resends_unacknowledged_with_dup_in_order() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let mut r = Rig::new(256);
        for t in ["a", "b", "c"] {
            r.client.publish(t, b"x", QoS::AtLeastOnce, false).unwrap();
        }
        assert_eq!(r.client.queued_len(), 3);
        let first = r.connect(v, false, ok_ack());
        assert_eq!(
            first,
            vec![
                publish("a", QoS::AtLeastOnce, Some(1), false),
                publish("b", QoS::AtLeastOnce, Some(2), false),
                publish("c", QoS::AtLeastOnce, Some(3), false),
            ],
            "{v:?}"
        );
        assert_eq!(r.ack(4, 2), vec!["published 2 Success"]);
        assert_eq!((r.client.queued_len(), r.client.inflight_len()), (0, 2));
        r.lose_link();
        let again = r.connect(v, true, ok_ack());
        assert_eq!(
            again,
            vec![
                publish("a", QoS::AtLeastOnce, Some(1), true),
                publish("c", QoS::AtLeastOnce, Some(3), true),
            ],
            "{v:?}"
        );
        r.ack(4, 1);
        r.ack(4, 3);
        assert_eq!(r.client.inflight_len(), 0);
        // A record takes 7 bytes + body (2 + topic, 1 property byte, payload), written in
        // place by `publish`: exactly one fits.
        let mut r2 = Rig::new(7 + 2 + 1 + 1 + 1);
        r2.client
            .publish("t", b"x", QoS::AtLeastOnce, false)
            .unwrap();
        assert_eq!(
            r2.client.publish("t", b"x", QoS::AtLeastOnce, false),
            Err(Error::QueueFull)
        );
    }
}

/// A new session (Session Present 0) knows none of the earlier identifiers: the
/// unacknowledged messages go out again as new messages (DUP 0, identifiers afresh),
/// ahead of later ones and in their order; QoS 0 messages leave the outbox once sent.
#[test]
fn new_session_sends_unacknowledged_again_as_new_messages() {
    let mut r = Rig::new(256);
    r.client
        .publish("q0", b"x", QoS::AtMostOnce, false)
        .unwrap();
    r.client
        .publish("a", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    r.client
        .publish("b", b"x", QoS::ExactlyOnce, false)
        .unwrap();
    let first = r.connect(ProtocolVersion::V5, false, ok_ack());
    assert_eq!(first.len(), 3);
    assert_eq!(first[0], publish("q0", QoS::AtMostOnce, None, false));
    r.lose_link();
    r.client
        .publish("later", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    let again = r.connect(ProtocolVersion::V5, false, ok_ack());
    assert_eq!(
        again,
        vec![
            publish("a", QoS::AtLeastOnce, Some(3), false),
            publish("b", QoS::ExactlyOnce, Some(4), false),
            publish("later", QoS::AtLeastOnce, Some(5), false),
        ]
    );
}

/// QoS 2: PUBREC ends the need for the message's copy (the outbox has room again), the
/// PUBREL follows; on a resumed session the PUBREL is re-sent, not the PUBLISH
/// ([MQTT-4.4.0-1]); PUBCOMP completes the flow.
#[test]
fn qos2_pubrec_frees_the_copy_and_a_resume_resends_pubrel() {
    // Room for exactly one record of topic "t", payload "x" (5.0: 1 property byte).
    let mut r = Rig::new(7 + 2 + 1 + 1 + 1);
    r.client
        .publish("t", b"x", QoS::ExactlyOnce, false)
        .unwrap();
    let sent = r.connect(ProtocolVersion::V5, false, ok_ack());
    assert_eq!(sent, vec![publish("t", QoS::ExactlyOnce, Some(1), false)]);
    assert_eq!(
        r.client.publish("t", b"x", QoS::ExactlyOnce, false),
        Err(Error::QueueFull),
        "the PUBLISH is kept until PUBREC"
    );
    assert!(r.ack(5, 1).is_empty());
    assert_eq!(r.sent(), vec![Out::PubRel(1)]);
    r.client
        .publish("t", b"x", QoS::ExactlyOnce, false)
        .unwrap();
    r.lose_link();
    let again = r.connect(ProtocolVersion::V5, true, ok_ack());
    assert_eq!(
        again,
        vec![
            Out::PubRel(1),
            publish("t", QoS::ExactlyOnce, Some(2), false)
        ]
    );
    assert_eq!(r.ack(7, 1), vec!["published 1 Success"]);
}

/// A full outbox is back-pressure; a message that could never fit is refused.
#[test]
fn full_outbox_is_back_pressure_and_oversize_is_refused() {
    let mut r = Rig::new(40);
    r.client
        .publish("t", &[7; 20], QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        r.client.publish("t", &[7; 20], QoS::AtLeastOnce, false),
        Err(Error::QueueFull)
    );
    assert_eq!(
        r.client.publish("t", &[7; 40], QoS::AtLeastOnce, false),
        Err(Error::TooLarge)
    );
    assert_eq!(
        r.client.publish("t", &[7; 600], QoS::AtLeastOnce, false),
        Err(Error::TooLarge),
        "larger than tx"
    );
    assert_eq!(
        r.client.publish("a/+", b"x", QoS::AtLeastOnce, false),
        Err(Error::InvalidTopic)
    );
}

/// 5.0: the broker's Receive Maximum bounds the messages in flight [MQTT-3.3.4-7], its
/// Maximum QoS lowers the QoS [MQTT-3.2.2-11] and a PUBLISH over its Maximum Packet Size
/// is not sent but reported [MQTT-3.1.2-24].
#[test]
fn v5_connack_limits_apply_to_outbox_messages() {
    let mut r = Rig::new(512);
    r.client
        .publish("a", b"x", QoS::ExactlyOnce, false)
        .unwrap();
    r.client
        .publish("big", &[1; 100], QoS::AtLeastOnce, false)
        .unwrap();
    r.client
        .publish("b", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    let mut ack = ok_ack();
    ack.properties.receive_maximum = core::num::NonZeroU16::new(1);
    ack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    ack.properties.maximum_packet_size = core::num::NonZeroU32::new(64);
    let sent = r.connect(ProtocolVersion::V5, false, ack);
    assert_eq!(sent, vec![publish("a", QoS::AtLeastOnce, Some(1), false)]);
    // "big" was dropped in its turn, reported before the next event.
    let events = r.ack(4, 1);
    assert_eq!(
        events,
        vec![
            format!("dropped {:?}", DropReason::TooLarge),
            "published 1 Success".into()
        ]
    );
    assert_eq!(
        r.sent(),
        vec![publish("b", QoS::AtLeastOnce, Some(2), false)]
    );
}

/// A message queued in one protocol version's form is sent as a valid packet of the
/// version the connection speaks: 5.0 properties are left out on 3.1.1, and a 3.1.1 record
/// gets an empty property block on 5.0.
#[test]
fn queued_form_converts_between_versions() {
    let mut r = Rig::new(256);
    // Before the first connect the client encodes for 5.0.
    let props = PublishProperties {
        response_topic: Some("reply/to"),
        correlation_data: Some(b"c1"),
        ..Default::default()
    };
    r.client
        .publish_with("p5", b"x", QoS::AtLeastOnce, false, &props)
        .unwrap();
    let sent = r.connect(ProtocolVersion::V3_1_1, false, ok_ack());
    assert_eq!(sent, vec![publish("p5", QoS::AtLeastOnce, Some(1), false)]);
    r.ack(4, 1);
    r.lose_link();
    // Now encoded for 3.1.1 (the last connection's version), sent over 5.0.
    r.client
        .publish("p3", b"x", QoS::AtLeastOnce, false)
        .unwrap();
    let sent = r.connect(ProtocolVersion::V5, false, ok_ack());
    assert_eq!(sent, vec![publish("p3", QoS::AtLeastOnce, Some(2), false)]);
    // And 5.0 properties survive a 5.0 connection.
    let pairs = [("k", "v"), ("k2", "v2")];
    let ud = PublishProperties {
        user_properties: (&pairs[..]).into(),
        ..Default::default()
    };
    r.client
        .publish_with("u", b"x", QoS::AtMostOnce, false, &ud)
        .unwrap();
    match r.sent().as_slice() {
        [Out::Publish { user_props, .. }] => assert_eq!(*user_props, 2),
        other => panic!("{other:?}"),
    }
}

/// 5.0: the client implements no enhanced authentication (it sends no Authentication
/// Method, so a compliant broker never sends AUTH, [MQTT-4.12.0-6]): an AUTH closes the
/// connection with DISCONNECT 0x82 Protocol Error.
#[test]
fn auth_from_the_broker_is_a_protocol_error() {
    let mut r = Rig::new(64);
    assert!(r.connect(ProtocolVersion::V5, false, ok_ack()).is_empty());
    let events = r.feed(&[0xF0, 2, 0x18, 0]);
    assert_eq!(
        events,
        vec![format!(
            "{:?}",
            Event::Disconnected(tern_client::session::CloseReason::Local {
                reason: ReasonCode::ProtocolError
            })
        )]
    );
    let sent = r
        .client
        .next_transmit(Instant::ZERO)
        .unwrap()
        .unwrap()
        .to_vec();
    match Packet::decode(ProtocolVersion::V5, &sent) {
        Ok(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::ProtocolError),
        other => panic!("{other:?}"),
    }
}

/// Every PUBLISH written from the outbox carries the right Remaining Length, also where
/// its Variable Byte Integer grows from one byte to two (Remaining Length 127 / 128), on
/// the first send and on a re-send.
#[test]
fn remaining_length_at_the_one_to_two_byte_boundary() {
    for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for len in 110..140 {
            let payload = vec![7u8; len];
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                let mut r = Rig::new(512);
                r.client.publish("t", &payload, qos, false).unwrap();
                let pid = (qos != QoS::AtMostOnce).then_some(1);
                // `sent` decodes every packet (a wrong Remaining Length does not decode).
                let sent = |dup| Out::Publish {
                    topic: "t".into(),
                    payload: payload.clone(),
                    qos,
                    pid,
                    dup,
                    user_props: 0,
                };
                assert_eq!(
                    r.connect(v, false, ok_ack()),
                    vec![sent(false)],
                    "{v:?} {len}"
                );
                if pid.is_some() {
                    // A re-send on a resumed session (DUP).
                    r.lose_link();
                    assert_eq!(
                        r.connect(v, true, ok_ack()),
                        vec![sent(true)],
                        "{v:?} {len}"
                    );
                }
            }
        }
    }
}
