//! Acknowledgements of incoming QoS 2 messages with a window of them in flight: PUBREC in
//! arrival order and held behind an undecided message, PUBCOMP for whichever PUBREL comes,
//! method B duplicates answered again (3.1.1 [MQTT-4.3.3-2], [MQTT-4.6.0-2]). With `alloc`
//! the engine skips the entries awaiting PUBREL through a hint; these check it never skips
//! one it should send.
#![cfg(all(feature = "alloc", feature = "qos2"))]

use std::vec::Vec;

use crate::codec::{
    Connect, Packet, PacketId, PacketType, PubResponse, Publish, QosPid, ReasonCode,
};
use crate::session::{AckToken, Config, Connection, Growable, Incoming, Instant, Server};

type S = Growable<Vec<u8>>;

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn server() -> Connection<Server, S> {
    let now = Instant::from_secs(0);
    let version = super::harness::version();
    let connect = Connect::new(version, "pub");
    let mut c =
        Connection::<Server, S>::from_connect(now, &connect, None, Config::server()).unwrap();
    let mut buf = [0u8; 256];
    assert!(c.poll_transmit(now, &mut buf).unwrap().is_some(), "CONNACK");
    c
}

/// Hands the server a QoS 2 PUBLISH with `n`; its token if it is a new message.
fn publish(c: &mut Connection<Server, S>, n: u16) -> Option<AckToken> {
    let p = Publish::new("t", QosPid::ExactlyOnce(pid(n)), b"x");
    match c
        .handle_packet(Instant::from_secs(1), Packet::Publish(p))
        .unwrap()
    {
        Some(Incoming::Publish { token, .. }) => token,
        _ => None,
    }
}

fn pubrel(c: &mut Connection<Server, S>, n: u16) {
    let r = PubResponse::new(pid(n));
    assert!(
        c.handle_packet(Instant::from_secs(1), Packet::PubRel(r))
            .unwrap()
            .is_none()
    );
}

/// Everything the server sends now, as (type, packet identifier).
fn sent(c: &mut Connection<Server, S>) -> Vec<(PacketType, u16)> {
    let version = super::harness::version();
    let mut buf = [0u8; 256];
    let mut out = Vec::new();
    while let Some(n) = c.poll_transmit(Instant::from_secs(1), &mut buf).unwrap() {
        let (t, id) = match Packet::decode(version, &buf[..n]).unwrap() {
            Packet::PubRec(a) => (PacketType::PubRec, a.packet_id),
            Packet::PubComp(a) => (PacketType::PubComp, a.packet_id),
            other => panic!("unexpected {other:?}"),
        };
        out.push((t, id.get()));
    }
    out
}

fn recs(ids: impl IntoIterator<Item = u16>) -> Vec<(PacketType, u16)> {
    ids.into_iter().map(|n| (PacketType::PubRec, n)).collect()
}

fn comps(ids: impl IntoIterator<Item = u16>) -> Vec<(PacketType, u16)> {
    ids.into_iter().map(|n| (PacketType::PubComp, n)).collect()
}

#[test]
fn pubrec_in_order_behind_undecided_and_pubcomp_for_any_pubrel_mqtt_4_3_3_2() {
    let mut c = server();
    let mut tokens: Vec<AckToken> = (1..=20).map(|n| publish(&mut c, n).unwrap()).collect();
    // Message 3 undecided: PUBREC for 1 and 2 only.
    let third = tokens.remove(2);
    for t in tokens {
        c.accept(t, ReasonCode::Success);
    }
    assert_eq!(sent(&mut c), recs([1, 2]));
    c.accept(third, ReasonCode::Success);
    assert_eq!(sent(&mut c), recs(3..=20));
    assert_eq!(sent(&mut c), []);
    // PUBRELs out of order: a PUBCOMP each, in table order.
    for n in [10, 2, 15] {
        pubrel(&mut c, n);
    }
    assert_eq!(sent(&mut c), comps([2, 10, 15]));
    // A new message behind the remaining ones awaiting PUBREL, and a duplicate of one of
    // them (method B: acknowledged again, not delivered again).
    let t = publish(&mut c, 21).unwrap();
    assert!(
        publish(&mut c, 5).is_none(),
        "a duplicate is not delivered again"
    );
    c.accept(t, ReasonCode::Success);
    assert_eq!(sent(&mut c), recs([5, 21]));
    // The first and the last entry, then all the rest.
    pubrel(&mut c, 1);
    pubrel(&mut c, 21);
    assert_eq!(sent(&mut c), comps([1, 21]));
    let rest: Vec<u16> = (3..=20).filter(|n| ![10, 15].contains(n)).collect();
    for &n in rest.iter().rev() {
        pubrel(&mut c, n);
    }
    assert_eq!(sent(&mut c), comps(rest));
    // Nothing left: a PUBREL now is for an unknown identifier, answered anyway.
    pubrel(&mut c, 7);
    assert_eq!(sent(&mut c), comps([7]));
}

#[test]
fn an_undecided_message_behind_the_hint_still_blocks_later_pubrecs() {
    let mut c = server();
    for n in 1..=4 {
        let t = publish(&mut c, n).unwrap();
        c.accept(t, ReasonCode::Success);
    }
    assert_eq!(sent(&mut c), recs(1..=4));
    // 1..=4 await PUBREL (the hint moves past them); 5 is undecided, 6 decided.
    let t5 = publish(&mut c, 5).unwrap();
    let t6 = publish(&mut c, 6).unwrap();
    c.accept(t6, ReasonCode::Success);
    assert_eq!(sent(&mut c), []);
    pubrel(&mut c, 2);
    assert_eq!(sent(&mut c), comps([2]), "PUBCOMP is not held");
    c.accept(t5, ReasonCode::Success);
    assert_eq!(sent(&mut c), recs([5, 6]));
}

/// A new QoS 2 PUBLISH is told from a duplicate whatever the order of the identifiers:
/// upwards (the engine's fast path, no scan), across the wrap from 65535 to 1, out of
/// order, and duplicates of any entry still awaiting PUBREL (method B, 3.1.1
/// [MQTT-4.3.3-2]: acknowledged again, never delivered again). Checked against a plain
/// set of the identifiers awaiting PUBREL.
#[test]
fn duplicates_are_found_in_any_identifier_order_mqtt_4_3_3_2() {
    let mut c = server();
    let mut held: Vec<u16> = Vec::new();
    let mut next: u16 = 65_500;
    let mut seed: u32 = 0x2545_f491;
    let mut rnd = |n: u32| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) % n
    };
    let mut delivered = 0;
    for _ in 0..5_000 {
        let n = match rnd(10) {
            // A duplicate of an entry awaiting PUBREL (any of them, not just the last).
            0 | 1 if !held.is_empty() => held[rnd(held.len() as u32) as usize],
            // An identifier out of order, new or not.
            2 => 1 + rnd(65_535) as u16,
            _ => {
                next = if next == u16::MAX { 1 } else { next + 1 };
                next
            }
        };
        let new = !held.contains(&n);
        match publish(&mut c, n) {
            Some(t) => {
                assert!(new, "identifier {n} was awaiting PUBREL: delivered twice");
                delivered += 1;
                c.accept(t, ReasonCode::Success);
                held.push(n);
            }
            None => assert!(!new, "new identifier {n} taken for a duplicate"),
        }
        assert_eq!(sent(&mut c), recs([n]));
        // PUBRELs, oldest first mostly, sometimes from the middle.
        while held.len() > 24 || (rnd(3) == 0 && !held.is_empty()) {
            let i = if rnd(4) == 0 {
                rnd(held.len() as u32) as usize
            } else {
                0
            };
            let r = held.remove(i);
            pubrel(&mut c, r);
            assert_eq!(sent(&mut c), comps([r]));
        }
    }
    assert!(delivered > 3_000, "mostly new messages: {delivered}");
}
