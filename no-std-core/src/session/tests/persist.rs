//! Persistence: a `Session` with unacknowledged state survives a postcard round trip (as the
//! broker's `Store` will write it) and resumes exactly as the original would: unacknowledged
//! PUBLISH re-sent with DUP and the original identifiers, in order ([MQTT-4.4.0-1]), QoS 2
//! delivered exactly once.
#![cfg(feature = "serde")]

use std::vec;
use std::vec::Vec;

use super::harness::*;
use crate::codec::{PacketType, QoS};
use crate::session::*;

/// Serializes with postcard and reads it back.
fn through_postcard<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> (T, usize) {
    let bytes = postcard::to_allocvec(value).expect("session serializes");
    let back = postcard::from_bytes(&bytes).expect("session deserializes");
    (back, bytes.len())
}

fn persist_and_resume<S>()
where
    S: Storage,
    Session<Client, S>: serde::Serialize + serde::de::DeserializeOwned,
    Session<Server, S>: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut p = GenericPair::<S>::new();
    p.connect(false);
    p.drive();
    // The link dies right after the first PUBLISH reaches the server (not yet acknowledged).
    p.cut_after = Some(CutAfter {
        packet: PacketType::Publish,
        delivered: true,
    });
    p.client()
        .publish(msg("t", &[0], QoS::ExactlyOnce))
        .unwrap();
    p.client()
        .publish(msg("t", &[1], QoS::AtLeastOnce))
        .unwrap();
    p.client()
        .publish(msg("t", &[2], QoS::AtLeastOnce))
        .unwrap();
    p.drive();
    p.cut();
    let before = p.client_session.as_ref().unwrap().inflight_len();
    assert_eq!(before, 3, "all three unacknowledged when the link died");

    // Both sides persist and reload their sessions (a broker restart, say).
    let (client, client_len) = through_postcard(p.client_session.as_ref().unwrap());
    let (server, server_len) = through_postcard(p.server_session.as_ref().unwrap());
    assert!(client_len > 0 && server_len > 0);
    p.client_session = Some(client);
    p.server_session = Some(server);
    assert_eq!(p.client_session.as_ref().unwrap().inflight_len(), before);

    p.cut_after = None;
    p.connect(false);
    p.drive();
    let resent: Vec<_> = wire_publishes(&p, true).into_iter().skip(1).collect();
    assert_eq!(
        resent,
        vec![
            (Some(1), true, vec![0]),
            (Some(2), true, vec![1]),
            (Some(3), true, vec![2])
        ],
        "resent with DUP, original ids, original order"
    );
    // The QoS 2 message reached the server before the cut and again after: delivered once.
    assert_eq!(payloads(&p.to_server), [vec![0], vec![1], vec![2]]);
    assert_eq!(p.client().session().inflight_len(), 0);
}

#[test]
fn fixed_session_survives_postcard_and_resumes_mqtt_4_4_0_1() {
    persist_and_resume::<FixedS>();
}

#[cfg(feature = "alloc")]
#[test]
fn growable_session_survives_postcard_and_resumes_mqtt_4_4_0_1() {
    persist_and_resume::<Growable>();
}
