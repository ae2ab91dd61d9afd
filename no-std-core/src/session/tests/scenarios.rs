//! Deterministic scenarios over the back-to-back harness.

use std::borrow::ToOwned;
use std::vec;
use std::vec::Vec;

use super::harness::*;
use crate::codec::{Packet, PacketId, PacketType, QoS, ReasonCode};
#[cfg(feature = "v5")]
use crate::codec::{Publish, QosPid};
use crate::session::*;

fn connected() -> Pair {
    let mut p = Pair::new();
    p.connect(false);
    p.drive();
    assert!(p.client().is_connected());
    p
}

fn published(events: &[Event<B>]) -> Vec<(u16, ReasonCode)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Published { packet_id, reason } => Some((packet_id.get(), *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn qos1_round_trip_both_directions() {
    let mut p = connected();
    p.client()
        .publish(msg("a/b", b"1", QoS::AtLeastOnce))
        .unwrap();
    p.server()
        .publish(msg("c", b"2", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    assert_eq!(payloads(&p.to_server), [b"1".to_vec()]);
    assert_eq!(payloads(&p.to_client), [b"2".to_vec()]);
    assert_eq!(published(&p.client_events), [(1, ReasonCode::Success)]);
    assert_eq!(published(&p.server_events), [(1, ReasonCode::Success)]);
    assert_eq!(p.client().session().inflight_len(), 0);
    assert_eq!(p.server().session().incoming_len(), 0);
    assert!(p.errors.is_empty());
}

#[cfg(feature = "qos2")]
#[test]
fn qos2_round_trip_mqtt_4_3_3() {
    let mut p = connected();
    p.client()
        .publish(msg("a", b"x", QoS::ExactlyOnce))
        .unwrap();
    p.drive();
    assert_eq!(payloads(&p.to_server), [b"x".to_vec()]);
    assert_eq!(
        wire_types(&p, true),
        [PacketType::Publish, PacketType::PubRel]
    );
    assert_eq!(
        wire_types(&p, false)[1..],
        [PacketType::PubRec, PacketType::PubComp]
    );
    assert_eq!(published(&p.client_events), [(1, ReasonCode::Success)]);
}

#[test]
fn resume_resends_publish_with_dup_and_original_ids_in_order_mqtt_4_4_0_1_mqtt_4_6_0_1() {
    let mut p = connected();
    p.cut_after = Some(CutAfter {
        packet: PacketType::Publish,
        delivered: false,
    });
    for i in 0..3u8 {
        p.client()
            .publish(msg("t", &[i], QoS::AtLeastOnce))
            .unwrap();
    }
    p.drive();
    assert!(p.to_server.is_empty());
    p.reconnect();
    // Sent once each before the cut (only the first reached the wire tap), then re-sent
    // with DUP and the same identifiers, in order ([MQTT-3.3.1-1]: DUP on re-delivery).
    let sent = wire_publishes(&p, true);
    assert_eq!(sent[0], (Some(1), false, vec![0]));
    assert_eq!(
        sent[1..],
        [
            (Some(1), true, vec![0]),
            (Some(2), true, vec![1]),
            (Some(3), true, vec![2])
        ]
    );
    assert_eq!(payloads(&p.to_server), [vec![0], vec![1], vec![2]]);
    assert!(p.to_server.iter().all(|d| d.dup));
    assert_eq!(p.client().session().inflight_len(), 0);
}

#[test]
fn no_timer_retransmission_within_a_connection_mqtt_4_4_0_1() {
    let mut p = connected();
    p.hold_acks = true;
    p.client()
        .publish(msg("t", b"x", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    let before = p.wire.len();
    for _ in 0..10 {
        p.advance(Duration::from_secs(3600));
        p.drive();
    }
    assert_eq!(p.wire.len(), before, "nothing re-sent on a timer");
    assert_eq!(p.client().session().inflight_len(), 1);
}

#[test]
fn acks_wait_for_the_application_decision() {
    let mut p = connected();
    p.hold_acks = true;
    p.server_ack = ReasonCode::NoMatchingSubscribers;
    p.client()
        .publish(msg("t", b"1", QoS::AtLeastOnce))
        .unwrap();
    p.client()
        .publish(msg("t", b"2", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    assert_eq!(p.to_server.len(), 2);
    assert!(!wire_types(&p, false).contains(&PacketType::PubAck));
    // Accepting the second first: PUBACKs still leave in arrival order ([MQTT-4.6.0-2]).
    let mut held = core::mem::take(&mut p.held);
    let second = held.pop().unwrap();
    let first = held.pop().unwrap();
    p.server().accept(second, ReasonCode::NoMatchingSubscribers);
    p.drive();
    assert!(!wire_types(&p, false).contains(&PacketType::PubAck));
    p.server().accept(first, ReasonCode::NoMatchingSubscribers);
    p.drive();
    let expect = if cfg!(feature = "v5") {
        ReasonCode::NoMatchingSubscribers
    } else {
        ReasonCode::Success
    };
    assert_eq!(published(&p.client_events), [(1, expect), (2, expect)]);
}

#[cfg(all(feature = "qos2", feature = "v5"))]
#[test]
fn pubrec_error_ends_the_flow_without_pubrel_v5_4_3_3() {
    let mut p = connected();
    p.server_ack = ReasonCode::NotAuthorized;
    p.client()
        .publish(msg("t", b"x", QoS::ExactlyOnce))
        .unwrap();
    p.drive();
    assert_eq!(
        published(&p.client_events),
        [(1, ReasonCode::NotAuthorized)]
    );
    assert!(!wire_types(&p, true).contains(&PacketType::PubRel));
    assert_eq!(p.client().session().inflight_len(), 0);
    assert_eq!(p.server().session().incoming_len(), 0);
    // The identifier starts a new message.
    p.server_ack = ReasonCode::Success;
    p.client()
        .publish(msg("t", b"y", QoS::ExactlyOnce))
        .unwrap();
    p.drive();
    assert_eq!(payloads(&p.to_server), [b"x".to_vec(), b"y".to_vec()]);
}

#[cfg(feature = "qos2")]
#[test]
fn qos2_exactly_once_across_cuts_after_each_packet_mqtt_4_3_3_2() {
    for (packet, delivered) in [
        (PacketType::Publish, false),
        (PacketType::Publish, true),
        (PacketType::PubRec, false),
        (PacketType::PubRec, true),
        (PacketType::PubRel, false),
        (PacketType::PubRel, true),
        (PacketType::PubComp, false),
        (PacketType::PubComp, true),
    ] {
        for server_sends in [false, true] {
            let mut p = connected();
            p.cut_after = Some(CutAfter { packet, delivered });
            let m = msg("t", b"once", QoS::ExactlyOnce);
            if server_sends {
                p.server().publish(m).unwrap();
            } else {
                p.client().publish(m).unwrap();
            }
            p.drive();
            p.reconnect();
            p.reconnect();
            let got = if server_sends {
                &p.to_client
            } else {
                &p.to_server
            };
            assert_eq!(
                payloads(got),
                [b"once".to_vec()],
                "{packet:?} delivered={delivered} server={server_sends}"
            );
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            assert_eq!(
                p.client().session().inflight_len() + p.server().session().inflight_len(),
                0
            );
            assert_eq!(
                p.client().session().incoming_len() + p.server().session().incoming_len(),
                0
            );
            // After PUBREL the sender never re-sends the PUBLISH (3.1.1 [MQTT-4.3.3-1]).
            let publishes = wire_publishes(&p, !server_sends).len();
            if matches!(packet, PacketType::PubRel | PacketType::PubComp) {
                assert_eq!(publishes, 1, "{packet:?}");
            }
        }
    }
}

#[test]
fn receive_maximum_bounds_the_window_mqtt_3_3_4_7() {
    // The window is the client's configured maximum (6; 3.1.1), further bounded in 5.0 by
    // the server's Receive Maximum (4).
    let mut p = Pair::new();
    p.client_config.max_inflight = 6;
    p.connect(false);
    p.drive();
    let window = if cfg!(feature = "v5") { 4 } else { 6 };
    p.hold_acks = true;
    for i in 0..8u8 {
        p.client()
            .publish(msg("t", &[i], QoS::AtLeastOnce))
            .unwrap();
    }
    p.drive();
    assert_eq!(p.to_server.len(), window);
    assert_eq!(p.client().session().inflight_len(), window);
    while p.to_server.len() < 8 {
        p.release_held();
        p.drive();
    }
    assert_eq!(
        payloads(&p.to_server),
        (0..8u8).map(|i| vec![i]).collect::<Vec<_>>()
    );
    assert!(p.errors.is_empty());
}

#[test]
fn keep_alive_server_closes_at_one_and_a_half_mqtt_3_1_2_24_v311_mqtt_3_1_2_22_v5() {
    let mut p = Pair::new();
    p.keep_alive = 10;
    p.client_config.ping_timeout = Duration::from_secs(100);
    p.connect(false);
    p.drive();
    // The client stays silent: take it away so it does not ping.
    let start = p.now;
    let _client = p.client.take();
    p.advance(Duration::from_millis(14_999));
    assert!(p.server().close_reason().is_none());
    assert_eq!(
        p.server().poll_timeout(),
        Some(start + Duration::from_secs(15))
    );
    p.advance(Duration::from_millis(1));
    assert_eq!(
        p.server().close_reason(),
        Some(CloseReason::KeepAliveTimeout)
    );
}

#[test]
fn keep_alive_client_pings_and_detects_missing_pingresp() {
    let mut p = Pair::new();
    p.keep_alive = 10;
    p.client_config.ping_timeout = Duration::from_secs(5);
    p.connect(false);
    p.drive();
    p.advance(Duration::from_secs(10));
    p.drive();
    assert_eq!(wire_types(&p, true).last(), Some(&PacketType::PingReq));
    assert_eq!(wire_types(&p, false).last(), Some(&PacketType::PingResp));
    assert!(p.client().close_reason().is_none());
    // The server is gone silent: the next PINGRESP never comes.
    let _server = p.server.take();
    p.advance(Duration::from_secs(10));
    p.flush_client_only();
    p.advance(Duration::from_secs(5));
    assert_eq!(
        p.client().close_reason(),
        Some(CloseReason::KeepAliveTimeout)
    );
}

#[cfg(feature = "v5")]
#[test]
fn server_keep_alive_overrides_and_zero_disables() {
    let mut p = Pair::new();
    p.keep_alive = 10;
    p.server_config.server_keep_alive = Some(0);
    p.connect(false);
    p.drive();
    assert_eq!(p.server().keep_alive(), None);
    assert_eq!(
        p.client().keep_alive(),
        None,
        "client adopts the Server Keep Alive"
    );
    p.advance(Duration::from_secs(100_000));
    assert!(p.server().close_reason().is_none());
}

fn will_events(p: &Pair) -> usize {
    p.session_events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Will(m) if m.topic() == "will"))
        .count()
}

#[test]
fn will_published_on_abnormal_end_not_on_disconnect_mqtt_3_1_2_10() {
    // Abnormal: transport lost.
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 0));
    p.connect(false);
    p.drive();
    p.cut();
    assert_eq!(will_events(&p), 1);

    // Normal DISCONNECT: removed.
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 0));
    p.connect(false);
    p.drive();
    let now = p.now;
    p.client().disconnect(now, ReasonCode::NORMAL_DISCONNECTION);
    p.drive_to_server();
    assert!(matches!(
        p.server().close_reason(),
        Some(CloseReason::Disconnected { .. })
    ));
    p.cut();
    assert_eq!(will_events(&p), 0);
    assert!(!p.server_session.as_ref().unwrap().has_will());

    // Keep-alive timeout: published.
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 0));
    p.keep_alive = 1;
    p.connect(false);
    p.drive();
    let _client = p.client.take();
    p.advance(Duration::from_secs(2));
    assert_eq!(
        p.server().close_reason(),
        Some(CloseReason::KeepAliveTimeout)
    );
    p.cut();
    assert_eq!(will_events(&p), 1);
}

#[cfg(feature = "v5")]
#[test]
fn disconnect_with_will_message_0x04() {
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 0));
    p.connect(false);
    p.drive();
    let now = p.now;
    p.client()
        .disconnect(now, ReasonCode::DisconnectWithWillMessage);
    p.drive_to_server();
    p.cut();
    assert_eq!(will_events(&p), 1);
}

#[cfg(feature = "v5")]
#[test]
fn will_delay_cancelled_by_reconnect_mqtt_3_1_3_9() {
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 30));
    p.connect(false);
    p.drive();
    p.cut();
    assert_eq!(will_events(&p), 0);
    assert_eq!(
        p.server_session.as_ref().unwrap().poll_timeout(),
        Some(p.now + Duration::from_secs(30))
    );
    p.advance(Duration::from_secs(29));
    assert_eq!(will_events(&p), 0);
    p.connect(false);
    p.drive();
    p.advance(Duration::from_secs(60));
    assert_eq!(will_events(&p), 0);
    // Without a reconnect it goes out after the delay.
    p.cut();
    p.advance(Duration::from_secs(29));
    assert_eq!(will_events(&p), 0);
    p.advance(Duration::from_secs(1));
    assert_eq!(will_events(&p), 1);
}

#[cfg(feature = "v5")]
#[test]
fn will_goes_out_at_session_end_when_earlier_than_delay() {
    let mut p = Pair::new();
    p.will = Some(("will", b"gone", 3600));
    p.connect(false);
    p.drive();
    // The client lowers the expiry to 10 s on an abnormal-ending DISCONNECT (0x04 keeps the
    // Will): the Will is due at min(3600, 10).
    let now = p.now;
    let mut d = crate::codec::Disconnect::new();
    d.reason = ReasonCode::DisconnectWithWillMessage;
    d.properties.session_expiry_interval = Some(10);
    let r = p.server().handle_packet(now, Packet::Disconnect(d));
    assert!(r.is_ok());
    p.cut();
    p.advance(Duration::from_secs(9));
    assert_eq!(will_events(&p), 0);
    p.advance(Duration::from_secs(1));
    assert_eq!(will_events(&p), 1);
    assert!(p.session_events.contains(&SessionEvent::Expired));
}

#[cfg(feature = "v5")]
#[test]
fn disconnect_may_not_raise_session_expiry_from_zero_v5_3_14_2_2_2() {
    let mut p = Pair::new();
    p.connect(false);
    p.drive();
    // The harness connects with 0xFFFFFFFF; make it 0 first.
    let now = p.now;
    p.server_session = None;
    let mut d = crate::codec::Disconnect::new();
    d.properties.session_expiry_interval = Some(0);
    p.server()
        .handle_packet(now, Packet::Disconnect(d))
        .unwrap();
    p.cut();
    // Now a session with expiry 0: reconnect, then raise it.
    p.connect(false);
    p.drive();
    let mut s = p.server.take().unwrap().into_session(now);
    assert_eq!(s.expiry_interval(), NEVER_EXPIRES);
    s.clear();
    // Build a fresh connection whose CONNECT carries no expiry (0).
    let mut connect = crate::codec::Connect::new(p.version, "c1");
    connect.clean_start = false;
    let mut conn =
        Connection::<Server, FixedS>::from_connect(now, &connect, Some(s), Config::server())
            .unwrap();
    let mut d = crate::codec::Disconnect::new();
    d.properties.session_expiry_interval = Some(100);
    assert_eq!(
        conn.handle_packet(now, Packet::Disconnect(d)),
        Err(ProtocolError::SessionExpiryFromZero)
    );
    let mut buf = [0u8; 64];
    let n = conn.poll_transmit(now, &mut buf).unwrap().unwrap(); // CONNACK
    assert_eq!(buf[0], 0x20);
    let n2 = conn.poll_transmit(now, &mut buf[n..]).unwrap().unwrap();
    assert_eq!(&buf[n..n + n2], &[0xE0, 2, 0x82, 0]);
}

#[cfg(feature = "v5")]
#[test]
fn session_expiry_defaults_to_zero_v5_3_1_2_11_2() {
    let now = Instant::from_secs(1);
    let mut connect = crate::codec::Connect::new(crate::codec::ProtocolVersion::V5, "c1");
    connect.clean_start = false;
    let mut conn =
        Connection::<Server, FixedS>::from_connect(now, &connect, None, Config::server()).unwrap();
    conn.publish(msg("t", b"x", QoS::AtLeastOnce)).unwrap();
    let mut buf = [0u8; 64];
    while conn.poll_transmit(now, &mut buf).unwrap().is_some() {}
    let mut s = conn.into_session(now);
    assert_eq!(s.expiry_interval(), 0);
    assert_eq!(s.poll_event(now), Some(SessionEvent::Expired));
    assert!(s.is_empty());
    let conn = Connection::<Server, FixedS>::from_connect(now, &connect, Some(s), Config::server())
        .unwrap();
    assert_eq!(conn.session().inflight_len(), 0);
}

#[test]
fn clean_start_discards_state() {
    let mut p = connected();
    p.cut_after = Some(CutAfter {
        packet: PacketType::Publish,
        delivered: false,
    });
    p.server()
        .publish(msg("t", b"x", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    p.cut();
    assert_eq!(p.server_session.as_ref().unwrap().inflight_len(), 1);
    p.connect(true);
    p.drive();
    assert_eq!(p.server().session().inflight_len(), 0);
    assert!(p.client_events.iter().any(|e| *e
        == Event::Connected {
            session_present: false
        }));
}

#[cfg(feature = "v5")]
#[test]
fn topic_alias_outbound_assignment_and_inbound_resolution() {
    let mut p = Pair::new();
    p.client_config.topic_alias_maximum = 2;
    p.connect(false);
    p.drive();
    for i in 0..3u8 {
        p.server()
            .publish(msg("long/topic/name", &[i], QoS::AtMostOnce))
            .unwrap();
    }
    p.drive();
    assert!(p.to_client.iter().all(|d| d.topic == "long/topic/name"));
    assert_eq!(p.to_client.len(), 3);
    let topics: Vec<_> = p
        .wire
        .iter()
        .filter(|(s, _)| !*s)
        .filter_map(|(_, b)| match Packet::decode(p.version, b).ok()? {
            Packet::Publish(x) => Some((x.topic.len(), x.properties.topic_alias.map(|a| a.get()))),
            _ => None,
        })
        .collect();
    assert_eq!(topics, [(15, Some(1)), (0, Some(1)), (0, Some(1))]);
}

#[cfg(feature = "v5")]
#[test]
fn resend_after_reconnect_carries_no_stale_alias() {
    let mut p = Pair::new();
    p.client_config.topic_alias_maximum = 2;
    p.connect(false);
    p.drive();
    p.server()
        .publish(msg("a/b", b"0", QoS::AtMostOnce))
        .unwrap();
    p.drive();
    p.cut_after = Some(CutAfter {
        packet: crate::codec::PacketType::Publish,
        delivered: false,
    });
    p.server()
        .publish(msg("a/b", b"1", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    p.reconnect();
    assert_eq!(payloads(&p.to_client), [b"0".to_vec(), b"1".to_vec()]);
    assert!(p.to_client.iter().all(|d| d.topic == "a/b"));
    assert!(p.errors.is_empty());
}

#[cfg(feature = "v5")]
#[test]
fn inbound_alias_above_maximum_is_a_protocol_error() {
    let mut p = connected();
    let now = p.now;
    let mut publish = Publish::new("t", QosPid::AtMostOnce, b"x");
    publish.properties.topic_alias = core::num::NonZeroU16::new(17);
    assert_eq!(
        p.server().handle_packet(now, Packet::Publish(publish)),
        Err(ProtocolError::TopicAliasInvalid)
    );
    assert!(p.server().close_reason().is_some());
}

#[cfg(feature = "v5")]
#[test]
fn packet_too_large_for_peer_is_dropped_and_reported_mqtt_3_1_2_24_mqtt_3_1_2_25() {
    let mut p = Pair::new();
    p.client_max_packet = 64;
    p.connect(false);
    p.drive();
    p.server()
        .publish(msg("t", &[1; 100], QoS::AtLeastOnce))
        .unwrap();
    p.server()
        .publish(msg("t", &[2; 10], QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    assert_eq!(payloads(&p.to_client), [vec![2; 10]]);
    assert!(p.server_events.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::TooLarge, message } if message.payload() == [1; 100]
    )));
    assert_eq!(p.server().session().inflight_len(), 0);
}

/// One counting pass checks the peer's Maximum Packet Size before the buffer size: an
/// oversized message is dropped even into a tiny buffer, and `InsufficientSize` (nothing
/// changed) is only reported for a sendable packet.
#[cfg(feature = "v5")]
#[test]
fn peer_limit_checked_before_buffer_size_and_short_buffer_changes_nothing() {
    let mut p = Pair::new();
    p.client_max_packet = 64;
    p.connect(false);
    p.drive();
    let now = p.now;
    p.server()
        .publish(msg("t", &[1; 100], QoS::AtLeastOnce))
        .unwrap();
    p.server()
        .publish(msg("t", &[2; 10], QoS::AtLeastOnce))
        .unwrap();
    let mut tiny = [0u8; 4];
    let required = match p.server().poll_transmit(now, &mut tiny) {
        Err(crate::codec::EncodeError::InsufficientSize { required }) => required,
        other => panic!("{other:?}"),
    };
    assert!(required <= 64);
    let mut dropped = Vec::new();
    while let Some(e) = p.server().poll_event() {
        dropped.push(e);
    }
    assert!(dropped.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::TooLarge, message } if message.payload() == [1; 100]
    )));
    // Nothing changed: the same answer again, then the packet with a buffer of that size.
    assert_eq!(
        p.server().poll_transmit(now, &mut tiny),
        Err(crate::codec::EncodeError::InsufficientSize { required })
    );
    assert_eq!(p.server().session().inflight_len(), 0);
    let mut buf = vec![0u8; required];
    assert_eq!(p.server().poll_transmit(now, &mut buf), Ok(Some(required)));
    match Packet::decode(p.version, &buf) {
        Ok(Packet::Publish(publish)) => {
            assert_eq!(publish.payload, [2; 10]);
            assert_eq!(publish.topic, "t");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.server().session().inflight_len(), 1);
}

/// An alias assignment that would push the PUBLISH over the peer's limit is left out.
#[cfg(feature = "v5")]
#[test]
fn alias_left_out_when_it_would_exceed_the_peer_limit() {
    // QoS 1 "t" with 8 bytes: 2 + (2 + 1) + 2 + 1 + 8 = 16 bytes; a Topic Alias adds 3.
    for (limit, alias) in [(16, None), (19, core::num::NonZeroU16::new(1))] {
        let mut p = Pair::new();
        p.client_config.topic_alias_maximum = 4;
        p.client_max_packet = limit;
        p.connect(false);
        p.drive();
        let now = p.now;
        p.server()
            .publish(msg("t", &[3; 8], QoS::AtLeastOnce))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = p.server().poll_transmit(now, &mut buf).unwrap().unwrap();
        match Packet::decode(p.version, &buf[..n]) {
            Ok(Packet::Publish(publish)) => {
                assert_eq!(
                    (publish.topic, publish.properties.topic_alias),
                    ("t", alias)
                );
                assert_eq!(n, limit as usize);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(feature = "v5")]
#[test]
fn message_expiry_drops_queued_copies_and_forwards_remaining_lifetime_mqtt_3_3_2_6() {
    let mut p = connected();
    p.hold_acks = true;
    let now = p.now;
    // Fill the window (4) so later messages wait in the queue.
    for i in 0..4u8 {
        p.client()
            .publish(msg("t", &[i], QoS::AtLeastOnce).with_expiry(now, Duration::from_secs(10)))
            .unwrap();
    }
    p.client()
        .publish(msg("t", b"late", QoS::AtLeastOnce).with_expiry(now, Duration::from_secs(10)))
        .unwrap();
    p.advance(Duration::from_millis(2500));
    p.drive();
    // Sent 2.5 s after creation: 7.5 s left, rounded up to 8.
    let expiry: Vec<_> = p
        .wire
        .iter()
        .filter_map(|(_, b)| match Packet::decode(p.version, b).ok()? {
            Packet::Publish(x) => x.properties.message_expiry_interval,
            _ => None,
        })
        .collect();
    assert_eq!(expiry, [8, 8, 8, 8]);
    p.advance(Duration::from_secs(10));
    p.release_held();
    p.drive();
    // In-flight copies completed; the queued one expired and was reported.
    assert_eq!(published(&p.client_events).len(), 4);
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::Dropped { reason: DropReason::Expired, message } if message.payload() == b"late"
    )));
    assert_eq!(p.to_server.len(), 4);
}

#[test]
fn offline_queue_and_backpressure() {
    let mut p = connected();
    p.cut();
    let s = p.server_session.as_mut().unwrap();
    s.set_policy(QueuePolicy {
        max_messages: 2,
        ..QueuePolicy::default()
    });
    s.publish(msg("t", b"1", QoS::AtLeastOnce)).unwrap();
    s.publish(msg("t", b"2", QoS::AtLeastOnce)).unwrap();
    assert!(matches!(
        s.publish(msg("t", b"3", QoS::AtLeastOnce)),
        Err(PublishError::Full(_))
    ));
    p.connect(false);
    p.drive();
    assert_eq!(payloads(&p.to_client), [b"1".to_vec(), b"2".to_vec()]);
}

#[test]
fn illegal_packets_close_with_protocol_error() {
    use crate::codec::PubResponse;
    let pid = PacketId::new(1).unwrap();
    let cases: Vec<Packet<'static>> = vec![
        Packet::PingResp,
        Packet::ConnAck(crate::codec::ConnAck::new(false, ReasonCode::Success)),
        Packet::Connect(crate::codec::Connect::new(version(), "x")),
        #[cfg(feature = "qos2")]
        Packet::PubRel(PubResponse::new(pid)),
    ];
    for packet in cases {
        let mut p = connected();
        let now = p.now;
        if let Packet::PubRel(_) = packet {
            // PUBREL for a QoS 2 message whose PUBREC was not sent yet.
            p.hold_acks = true;
            p.client()
                .publish(msg("t", b"x", QoS::ExactlyOnce))
                .unwrap();
            p.drive();
        }
        let r = p.server().handle_packet(now, packet);
        assert!(r.is_err(), "{packet:?}");
        assert!(matches!(
            p.server().close_reason(),
            Some(CloseReason::Protocol(_))
        ));
        // Afterwards everything is ignored.
        assert_eq!(p.server().handle_packet(now, Packet::PingReq), Ok(None));
    }
    // A client must get CONNACK first.
    let mut p = Pair::new();
    p.connect(false);
    let now = p.now;
    assert!(
        p.client()
            .handle_packet(now, Packet::PubAck(PubResponse::new(pid)))
            .is_err()
    );
}

#[test]
fn lost_server_session_requeues_outgoing_messages_as_new() {
    let mut p = connected();
    p.cut_after = Some(CutAfter {
        packet: PacketType::Publish,
        delivered: false,
    });
    p.client()
        .publish(msg("t", b"1", QoS::AtLeastOnce))
        .unwrap();
    p.client()
        .publish(msg("t", b"2", QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    p.cut();
    assert_eq!(p.client_session.as_ref().unwrap().inflight_len(), 2);
    // The broker lost the session: Session Present 0.
    p.server_session = None;
    p.connect(false);
    p.drive();
    assert!(p.client_events.contains(&Event::Connected {
        session_present: false
    }));
    assert_eq!(payloads(&p.to_server), [b"1".to_vec(), b"2".to_vec()]);
    // Sent as new messages: no DUP.
    assert!(p.to_server.iter().all(|d| !d.dup));
    assert_eq!(p.client().session().inflight_len(), 0);
}

#[test]
fn client_role_carries_no_server_state() {
    assert_eq!(size_of::<ClientState>(), 0);
    assert!(size_of::<Session<Client, FixedS>>() < size_of::<Session<Server, FixedS>>());
}

#[test]
fn never_expires_and_zero_expiry() {
    let mut s = ServerState::<B>::default();
    s.on_connect(NEVER_EXPIRES, None);
    s.on_connection_end(Instant::ZERO, false);
    assert_eq!(s.expires_at(), None);
    assert!(!s.is_expired(Instant::from_secs(u64::MAX / 1000)));
    let mut s = ServerState::<B>::default();
    s.on_connect(0, None);
    s.on_connection_end(Instant::from_secs(5), false);
    assert!(s.is_expired(Instant::from_secs(5)));
}

#[cfg(feature = "alloc")]
#[test]
fn idle_growable_session_holds_no_heap_memory() {
    let mut p = GenericPair::<Growable>::new();
    p.connect(false);
    p.drive();
    for i in 0..20u8 {
        p.client().publish(msg("t", &[i], QoS::AtLeastOnce)).ok();
        p.server().publish(msg("u", &[i], QoS::ExactlyOnce)).ok();
        p.drive();
    }
    assert_eq!(p.to_server.len(), 20);
    p.cut();
    // Kept while in use (no allocation per message), given back by `release_memory`.
    let s = p.server_session.as_mut().unwrap();
    assert!(s.outbound.capacity() > 0 || s.inbound.capacity() > 0);
    s.release_memory();
    assert_eq!((s.inbound.capacity(), s.outbound.capacity()), (0, 0));
    assert_eq!(s.queue.len(), 0);
    let c = p.client_session.as_mut().unwrap();
    c.release_memory();
    assert_eq!((c.inbound.capacity(), c.outbound.capacity()), (0, 0));
}

#[test]
fn subscriptions_survive_reconnects_and_clean_start_discards_them() {
    let mut p = connected();
    let o = crate::codec::SubscriptionOptions::new(QoS::AtLeastOnce);
    assert_eq!(
        p.server().session_mut().subscribe("a/#", o, None),
        Ok(false)
    );
    p.reconnect();
    let filters: Vec<_> = p
        .server()
        .session()
        .subscriptions()
        .map(|s| s.filter().to_owned())
        .collect();
    assert_eq!(filters, ["a/#"]);
    p.cut();
    p.connect(true);
    assert_eq!(p.server().session().subscriptions().count(), 0);
}

/// The scenarios with reconnects, with the client reconnecting in place
/// ([`Connection::reconnect`], as the device client does): the same packets and events.
#[test]
fn client_reconnecting_in_place_behaves_the_same() {
    IN_PLACE.with(|f| f.set(true));
    resume_resends_publish_with_dup_and_original_ids_in_order_mqtt_4_4_0_1_mqtt_4_6_0_1();
    #[cfg(feature = "qos2")]
    qos2_exactly_once_across_cuts_after_each_packet_mqtt_4_3_3_2();
    clean_start_discards_state();
    offline_queue_and_backpressure();
    #[cfg(feature = "v5")]
    {
        resend_after_reconnect_carries_no_stale_alias();
        topic_alias_outbound_assignment_and_inbound_resolution();
        packet_too_large_for_peer_is_dropped_and_reported_mqtt_3_1_2_24_mqtt_3_1_2_25();
        message_expiry_drops_queued_copies_and_forwards_remaining_lifetime_mqtt_3_3_2_6();
    }
}
