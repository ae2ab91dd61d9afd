//! Property tests: random schedules of publishes, partial deliveries, link cuts (after
//! PUBLISH, PUBREC, PUBREL or PUBCOMP, the packet delivered or lost), reconnects and time,
//! checked against a simple reference model of MQTT's delivery guarantees.
//!
//! Invariants checked after every schedule (and, by the harness, on every packet):
//! - QoS 1: every message not reported dropped is delivered at least once;
//! - QoS 2: exactly once; QoS 0: at most once;
//! - per topic, first deliveries keep publish order, across cuts and resumes;
//! - the receiver's Receive Maximum and Maximum Packet Size are never exceeded, and a
//!   message is reported dropped as too large only if its PUBLISH would exceed it;
//! - queues stay within their configured bounds; no protocol error between two engines.

use std::collections::BTreeMap;
use std::vec::Vec;

use proptest::prelude::*;

use super::harness::*;
use crate::codec::{Packet, PacketType, QoS};
use crate::session::*;

#[derive(Debug, Clone)]
enum Op {
    Publish {
        from_server: bool,
        topic: u8,
        qos: u8,
        size: u8,
    },
    Step,
    Drive,
    CutAfter {
        packet: u8,
        delivered: bool,
    },
    Cut,
    Connect,
    Advance(u8),
    HoldAcks(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0..3u8, 0..3u8, 0..120u8).prop_map(|(from_server, topic, qos, size)| Op::Publish { from_server, topic, qos, size }),
        4 => Just(Op::Step),
        2 => Just(Op::Drive),
        2 => (0..4u8, any::<bool>()).prop_map(|(packet, delivered)| Op::CutAfter { packet, delivered }),
        1 => Just(Op::Cut),
        2 => Just(Op::Connect),
        1 => (0..5u8).prop_map(Op::Advance),
        1 => any::<bool>().prop_map(Op::HoldAcks),
    ]
}

/// The reference model: what was published, per direction.
#[derive(Default)]
struct Model {
    /// id -> (topic, qos as sent)
    sent: BTreeMap<u16, (u8, QoS)>,
}

fn effective(qos: u8) -> QoS {
    match qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ if cfg!(feature = "qos2") => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

fn id_of(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

fn check<B: OwnedBytes>(
    model: &Model,
    delivered: &[Delivered],
    events: &[Event<B>],
    max_packet: u32,
) -> Result<(), TestCaseError> {
    let mut count: BTreeMap<u16, usize> = BTreeMap::new();
    let mut last_per_topic: BTreeMap<String, u16> = BTreeMap::new();
    for d in delivered {
        let id = id_of(&d.payload);
        let n = count.entry(id).or_default();
        *n += 1;
        if *n == 1 {
            // First deliveries keep publish order per topic.
            if let Some(&prev) = last_per_topic.get(&d.topic) {
                prop_assert!(
                    prev < id,
                    "topic {}: {} delivered after {}",
                    d.topic,
                    id,
                    prev
                );
            }
            last_per_topic.insert(d.topic.clone(), id);
        }
    }
    let mut dropped = BTreeMap::new();
    for e in events {
        if let Event::Dropped { message, reason } = e {
            prop_assert_eq!(*reason, DropReason::TooLarge);
            let id = id_of(message.payload());
            // Topic "tN" (2) + id (2) + pid (2) + properties + header: the payload alone
            // must already make the packet exceed the limit.
            prop_assert!(
                message.payload().len() + 6 > max_packet as usize - 8,
                "dropped {} of {} bytes",
                id,
                message.payload().len()
            );
            dropped.insert(id, ());
        }
    }
    for (id, (_, qos)) in &model.sent {
        let n = count.get(id).copied().unwrap_or(0);
        if dropped.contains_key(id) {
            // Dropped before it was ever sent, or on a resend after a reconnect (the first
            // copy may have arrived): never more than once.
            prop_assert!(
                n <= 1,
                "message {} reported dropped but delivered {} times",
                id,
                n
            );
            continue;
        }
        match qos {
            QoS::AtMostOnce => prop_assert!(n <= 1, "QoS 0 message {} delivered {} times", id, n),
            QoS::AtLeastOnce => prop_assert!(n >= 1, "QoS 1 message {} lost", id),
            QoS::ExactlyOnce => prop_assert_eq!(n, 1, "QoS 2 message {} delivered {} times", id, n),
        }
    }
    Ok(())
}

use std::string::String;

// `PublishError` hands the (inline, heapless) message back by design, like heapless's
// `push_back -> Result<(), T>`.
#[allow(clippy::result_large_err)]
fn run<S: Storage>(ops: Vec<Op>, limit_packets: bool) -> Result<(), TestCaseError> {
    let mut p = GenericPair::<S>::new();
    if limit_packets && cfg!(feature = "v5") {
        p.client_max_packet = 96;
        p.server_max_packet = 96;
    }
    p.connect(false);
    let mut models = [Model::default(), Model::default()]; // [to server, to client]
    let mut next_id = 0u16;
    for op in ops {
        match op {
            Op::Publish {
                from_server,
                topic,
                qos,
                size,
            } => {
                next_id += 1;
                let mut payload = next_id.to_be_bytes().to_vec();
                payload.resize(usize::from(size).max(2), 0xAB);
                let topic_name = std::format!("t{topic}");
                let m: Message<S::Bytes> = msg(&topic_name, &payload, effective(qos));
                let r = match (from_server, p.server.as_mut(), p.client.as_mut()) {
                    (true, Some(s), _) => s.publish(m),
                    (true, None, _) => p.server_session.as_mut().map_or(Ok(()), |s| s.publish(m)),
                    (false, _, Some(c)) => c.publish(m),
                    (false, _, None) => p.client_session.as_mut().map_or(Ok(()), |s| s.publish(m)),
                };
                match r {
                    Ok(()) => {
                        let model = &mut models[usize::from(from_server)];
                        model.sent.insert(next_id, (topic, effective(qos)));
                    }
                    // Back-pressure: the application keeps the message; not sent.
                    Err(PublishError::Full(_)) => {}
                    Err(PublishError::Dropped { message, .. }) => {
                        prop_assert_eq!(
                            message.qos(),
                            QoS::AtMostOnce,
                            "QoS 1/2 dropped at publish"
                        );
                    }
                }
            }
            Op::Step => {
                if p.client.is_some() && p.server.is_some() {
                    p.step();
                }
            }
            Op::Drive => p.drive(),
            Op::CutAfter { packet, delivered } => {
                let packet = [
                    PacketType::Publish,
                    PacketType::PubRec,
                    PacketType::PubRel,
                    PacketType::PubComp,
                ][usize::from(packet)];
                p.cut_after = Some(CutAfter { packet, delivered });
            }
            Op::Cut => p.cut(),
            Op::Connect => {
                if p.client.is_some() {
                    p.cut();
                }
                p.connect(false);
            }
            Op::Advance(s) => p.advance(Duration::from_secs(u64::from(s))),
            Op::HoldAcks(h) => {
                p.hold_acks = h;
                if !h && p.server.is_some() {
                    p.release_held();
                }
            }
        }
        // Memory stays within the configured bounds (queue policy: 8 messages).
        let queued = [
            p.client.as_ref().map(|c| c.session().queued_len()),
            p.client_session.as_ref().map(|s| s.queued_len()),
            p.server.as_ref().map(|c| c.session().queued_len()),
            p.server_session.as_ref().map(|s| s.queued_len()),
        ];
        for q in queued.into_iter().flatten() {
            prop_assert!(q <= 8);
        }
    }
    // Settle: a clean link, all acknowledgements released, both sides reconnected twice
    // (the second resume re-sends what the first cut short).
    p.cut_after = None;
    p.hold_acks = false;
    for _ in 0..3 {
        if p.client.is_none() {
            p.connect(false);
        }
        p.release_held();
        p.drive();
        p.reconnect();
    }
    p.drive();
    prop_assert!(p.errors.is_empty(), "protocol errors: {:?}", p.errors);
    prop_assert_eq!(p.client().session().inflight_len(), 0);
    prop_assert_eq!(p.server().session().inflight_len(), 0);
    prop_assert_eq!(p.client().session().queued_len(), 0);
    prop_assert_eq!(p.server().session().queued_len(), 0);
    check(
        &models[0],
        &p.to_server,
        &p.client_events,
        p.server_max_packet,
    )?;
    check(
        &models[1],
        &p.to_client,
        &p.server_events,
        p.client_max_packet,
    )?;
    Ok(())
}

proptest! {
    // No regression files: the tree outside `session/` is not ours to write.
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn delivery_guarantees_hold_under_random_schedules(ops in proptest::collection::vec(op(), 1..40)) {
        run::<FixedS>(ops, false)?;
    }

    /// The same schedules over the growable (broker) storage: same code paths.
    #[cfg(feature = "alloc")]
    #[test]
    fn delivery_guarantees_hold_over_growable_storage(ops in proptest::collection::vec(op(), 1..40)) {
        run::<Growable>(ops, true)?;
    }

    #[test]
    fn delivery_guarantees_hold_with_packet_size_limits(ops in proptest::collection::vec(op(), 1..40)) {
        run::<FixedS>(ops, true)?;
    }

    #[test]
    fn no_panic_on_arbitrary_peer_packets(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        fuzzing::run(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The server closes exactly when 1.5 x Keep Alive has passed without a packet
    /// (3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]), never earlier, and never with 0.
    #[test]
    fn server_keep_alive_closes_exactly_on_time(
        keep_alive in 0..20u16,
        steps in proptest::collection::vec((0..4000u64, any::<bool>()), 1..30),
    ) {
        let mut p = Pair::new();
        p.keep_alive = keep_alive;
        p.connect(false);
        let mut last_rx = p.now;
        let server = p.server.as_mut().unwrap();
        let limit = Duration::from_millis(u64::from(keep_alive) * 1500);
        let mut now = p.now;
        for (ms, ping) in steps {
            prop_assert_eq!(server.poll_timeout(), (keep_alive != 0).then(|| last_rx + limit));
            now = now + Duration::from_millis(ms);
            if server.poll_timeout().is_some_and(|t| t <= now) {
                server.handle_timeout(now);
            }
            let expired = keep_alive != 0 && now - last_rx >= limit;
            prop_assert_eq!(server.close_reason().is_some(), expired);
            if expired {
                prop_assert_eq!(server.close_reason(), Some(CloseReason::KeepAliveTimeout));
                // It closed at the first deadline reached: the deadline was exact.
                break;
            }
            if ping {
                prop_assert!(server.handle_packet(now, Packet::PingReq).is_ok());
                last_rx = now;
            }
        }
    }
}
