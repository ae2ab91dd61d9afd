//! Tern-specific behaviour that has no Mosquitto counterpart to compare with: graceful
//! shutdown, `$SYS`, the configured queue limits. These always run against Tern.

use std::time::Duration;

use tern_broker::config::ByteSize;
use tern_core::codec::{Connect, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_tests::{Broker, NoFrame, RawClient, tern_config, wait_until};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

/// 5.0 4.13 / 3.14: a server shutting down sends DISCONNECT 0x8B Server shutting down to a
/// 5.0 client; a 3.1.1 client, which has no server DISCONNECT, is just closed.
#[test]
fn shutdown_sends_0x8b_to_v5_clients_only() {
    let broker = Broker::start_tern(tern_config());
    let mut v5 = RawClient::connect(&broker, V5, "shut-v5");
    let mut v3 = RawClient::connect(&broker, V311, "shut-v3");
    broker.tern().expect("tern").shutdown();
    let frames = v5.expect_closed_frames();
    let last = frames.last().expect("a DISCONNECT before the close");
    match last.decode(V5) {
        Packet::Disconnect(d) => assert_eq!(d.reason, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    assert!(
        v3.expect_closed_frames().is_empty(),
        "3.1.1 gets no DISCONNECT"
    );
}

/// `$SYS/broker/...` is published on the interval with Mosquitto's topic names, retained,
/// and counts what happened.
#[test]
fn sys_topics_are_published_with_mosquitto_names() {
    let mut config = tern_config();
    config.sys_interval_secs = 1;
    let broker = Broker::start_tern(config);
    let mut pubc = RawClient::connect(&broker, V311, "sys-pub");
    for i in 0..5u8 {
        pubc.publish_acked("sys/test", &[i], QoS::AtLeastOnce, false);
    }
    let mut sub = RawClient::connect(&broker, V311, "sys-sub");
    assert_eq!(sub.subscribe("$SYS/broker/#", QoS::AtMostOnce), [0]);
    let want = [
        "$SYS/broker/version",
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/publish/messages/received",
        "$SYS/broker/publish/messages/sent",
        "$SYS/broker/publish/messages/dropped",
        "$SYS/broker/load/bytes/received",
        "$SYS/broker/load/bytes/sent",
    ];
    let mut seen = std::collections::HashMap::new();
    // The retained values delivered on subscribe may predate this subscriber's connection,
    // and an interval's topics arrive one by one: wait until the latest value of each
    // counter checked below is from an interval that counts both clients and the five
    // publications.
    let at_least = |seen: &std::collections::HashMap<String, String>, topic: &str, n: u64| {
        seen.get(topic)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|v| v >= n)
    };
    wait_until(
        "every $SYS topic, counting both clients and the publications",
        || {
            let m = sub.recv_publish();
            seen.insert(
                m.topic.clone(),
                String::from_utf8_lossy(&m.payload).into_owned(),
            );
            want.iter().all(|t| seen.contains_key(*t))
                && at_least(&seen, "$SYS/broker/clients/connected", 2)
                && at_least(&seen, "$SYS/broker/publish/messages/received", 5)
        },
    );
    assert!(seen["$SYS/broker/version"].starts_with("tern "), "{seen:?}");
    let connected: u32 = seen["$SYS/broker/clients/connected"].parse().unwrap();
    assert!(connected >= 2, "{seen:?}");
    let published: u64 = seen["$SYS/broker/publish/messages/received"]
        .parse()
        .unwrap();
    assert!(published >= 5, "{seen:?}");
}

/// Limits: a persistent session queues at most `max_queued_messages` while offline; the
/// excess is dropped and counted, never allocated.
#[test]
fn offline_queue_is_bounded_by_max_queued_messages() {
    let mut config = tern_config();
    config.limits.max_queued_messages = 3;
    // One shard: a PUBACK does not wait for a delivery to another shard, so with two the
    // last messages could still be on their way when the subscriber is back online, and
    // be delivered live (CI saw [0, 1, 2, 8, 9]).
    config.shards = tern_broker::config::Shards::Count(1);
    let broker = Broker::start_tern(config);
    let mut connect = Connect::new(V311, "bounded");
    connect.clean_start = false;
    connect.keep_alive = 60;
    let (mut sub, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(sub.subscribe("bounded/#", QoS::AtLeastOnce), [1]);
    sub.send(&Packet::Disconnect(tern_core::codec::Disconnect::new()));
    let _ = sub.expect_closed();
    let mut pubc = RawClient::connect(&broker, V311, "bounded-pub");
    for i in 0..10u8 {
        pubc.publish_acked("bounded/t", &[i], QoS::AtLeastOnce, false);
    }
    let (mut sub, ack) = RawClient::connect_with(&broker, &connect);
    assert!(matches!(ack.decode(V311), Packet::ConnAck(a) if a.session_present));
    let mut got = Vec::new();
    loop {
        match sub.try_recv(Duration::from_millis(700)) {
            Ok(f) if f.packet_type() == 3 => {
                let m = tern_tests::Msg::from_frame(&f, V311);
                sub.ack(&m);
                got.push(m.payload[0]);
            }
            Ok(_) => {}
            Err(NoFrame::TimedOut) => break,
            Err(NoFrame::Closed(rest)) => panic!("closed: {rest:?}"),
        }
    }
    // The first three were queued, the rest refused (QoS 1 is never evicted for newer).
    assert_eq!(got, [0, 1, 2]);
}

/// The broker-wide cap: with `max_queued_bytes_total` reached by one offline session, a
/// second session's messages are dropped too; delivery resumes once the queue drains.
#[test]
fn broker_wide_queued_bytes_cap() {
    let mut config = tern_config();
    config.limits.max_queued_bytes = ByteSize(2_000);
    config.limits.max_queued_bytes_total = ByteSize(2_000);
    // One shard: a PUBACK does not wait for a delivery to another shard, so with two the
    // checks below could run before session a's queue has filled (the cap itself is the
    // same sum of per-shard gauges either way).
    config.shards = tern_broker::config::Shards::Count(1);
    let broker = Broker::start_tern(config);
    let mut connect = Connect::new(V311, "cap-a");
    connect.clean_start = false;
    connect.keep_alive = 60;
    let (mut a, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(a.subscribe("cap/#", QoS::AtLeastOnce), [1]);
    a.send(&Packet::Disconnect(tern_core::codec::Disconnect::new()));
    let _ = a.expect_closed();
    let mut pubc = RawClient::connect(&broker, V311, "cap-pub");
    // Each message costs its topic and payload (~505 bytes): four fit in 2,000.
    for i in 0..8u8 {
        pubc.publish_acked("cap/t", &[i; 500], QoS::AtLeastOnce, false);
    }
    // A live subscriber of another topic gets nothing while the cap is reached...
    let mut b = RawClient::connect(&broker, V311, "cap-b");
    assert_eq!(b.subscribe("other", QoS::AtLeastOnce), [1]);
    pubc.publish_acked("other", &[9; 500], QoS::AtLeastOnce, false);
    b.expect_no_publish();
    // ...and gets it again once session a has drained its queue.
    let (mut a, _) = RawClient::connect_with(&broker, &connect);
    let mut n = 0;
    wait_until("session a drains", || {
        let m = a.recv_publish();
        assert_eq!(m.payload.len(), 500);
        n += 1;
        n == 3
    });
    // Three fitted (3 x 505 bytes); the fourth and later went over both caps.
    a.expect_no_publish();
    pubc.publish_acked("other", &[7; 500], QoS::AtLeastOnce, false);
    let m = b.recv_publish();
    assert_eq!(m.payload, [7; 500]);
}

/// A 3.1.1 publisher (client id `prefix-N`) connected to another shard than the session of
/// `sub`, and that shard. The kernel spreads connections over the shards by their ports, so
/// this reconnects until one lands elsewhere.
fn publisher_on_another_shard(broker: &Broker, sub: &str, prefix: &str) -> (RawClient, usize) {
    let h = broker.tern().expect("tern");
    let home = h.client_shard(sub).expect("a session");
    (0..64)
        .find_map(|n| {
            let id = format!("{prefix}-{n}");
            let c = RawClient::connect(broker, V311, &id);
            h.client_shard(&id).filter(|&s| s != home).map(|s| (c, s))
        })
        .expect("a publisher on the other shard within 64 connections")
}

/// Co-location: a subscriber fed at a light rate by a publisher on the other shard moves
/// to the publisher's shard while messages flow. QoS 1 order per publisher holds across the
/// move [MQTT-4.6.0-2]: nothing is lost, duplicated or reordered, though messages are in
/// flight as it happens; the moved connection works on (SUBSCRIBE, PINGREQ, the
/// connection count) and its session can still be taken over [MQTT-3.1.4-2].
#[test]
fn light_flow_subscriber_moves_to_the_publishers_shard_in_order() {
    let broker = Broker::start_tern(tern_config());
    let h = broker.tern().expect("tern");
    let mut connect = Connect::new(V311, "colo-sub");
    connect.clean_start = false;
    connect.keep_alive = 60;
    let (mut sub, _) = RawClient::connect_with(&broker, &connect);
    assert_eq!(sub.subscribe("colo/t", QoS::AtLeastOnce), [1]);
    let (mut pubc, there) = publisher_on_another_shard(&broker, "colo-sub", "colo-pub");
    // Bursts of 5 unacknowledged QoS 1 messages, about 250 per second: light.
    let mut next = 0u32;
    let mut moved_at = None;
    let start = std::time::Instant::now();
    while moved_at.is_none_or(|m| next < m + 100) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the subscriber did not move to shard {there} within 10 s ({next} messages)"
        );
        for k in 0..5u32 {
            let i = next + k;
            pubc.publish(
                "colo/t",
                &i.to_be_bytes(),
                QoS::AtLeastOnce,
                false,
                (k + 1) as u16,
            );
        }
        for _ in 0..5 {
            assert_eq!(pubc.recv_packet_type(4).packet_type(), 4);
        }
        for _ in 0..5 {
            let m = sub.recv_publish();
            assert_eq!(m.payload, next.to_be_bytes(), "message {next} out of order");
            assert!(!m.dup, "message {next} re-sent");
            next += 1;
        }
        if moved_at.is_none() && h.client_shard("colo-sub") == Some(there) {
            moved_at = Some(next);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sub.expect_no_publish();
    assert_eq!(
        h.stats().connections(),
        2,
        "the move kept one connection slot"
    );
    // The moved connection serves on.
    assert_eq!(sub.subscribe("colo/u", QoS::AtLeastOnce), [1]);
    pubc.publish_acked("colo/u", b"after", QoS::AtLeastOnce, false);
    assert_eq!(sub.recv_publish().payload, b"after");
    sub.send(&Packet::PingReq);
    assert_eq!(sub.recv_packet_type(13).packet_type(), 13);
    // And its session is found where it moved: a new connection takes it over.
    let (mut again, ack) = RawClient::connect_with(&broker, &connect);
    assert!(matches!(ack.decode(V311), Packet::ConnAck(a) if a.session_present));
    let _ = sub.expect_closed();
    pubc.publish_acked("colo/t", b"last", QoS::AtLeastOnce, false);
    assert_eq!(again.recv_publish().payload, b"last");
}

/// Co-location of a heavy flow: a subscriber fed at full speed by one publisher on the
/// other shard moves early (after a few hundred deliveries) while dozens of QoS 1 messages
/// are in flight; every message still arrives exactly once and in order [MQTT-4.6.0-2].
#[test]
fn heavy_flow_moves_mid_stream_without_loss_or_reordering() {
    const N: u32 = 20_000;
    let mut config = tern_config();
    // Room for the whole backlog: a drop for a full queue would look like a lost message.
    config.limits.max_queued_messages = N;
    let broker = Broker::start_tern(config);
    let h = broker.tern().expect("tern");
    let mut sub = RawClient::connect(&broker, V311, "colo-heavy-sub");
    assert_eq!(sub.subscribe("colo/heavy", QoS::AtLeastOnce), [1]);
    let (mut pubc, there) = publisher_on_another_shard(&broker, "colo-heavy-sub", "colo-heavy-pub");
    // The publisher stays at most 500 messages ahead of the subscriber.
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&received);
    let publisher = std::thread::spawn(move || {
        // A window of 32 unacknowledged messages (packet ids 1..=32).
        let mut acked = 0u32;
        for i in 0..N {
            while i > seen.load(std::sync::atomic::Ordering::Relaxed) + 500 {
                std::thread::sleep(Duration::from_micros(200));
            }
            if i >= 32 {
                assert_eq!(pubc.recv_packet_type(4).packet_type(), 4);
                acked += 1;
            }
            let pid = (i % 32 + 1) as u16;
            pubc.publish("colo/heavy", &i.to_be_bytes(), QoS::AtLeastOnce, false, pid);
        }
        while acked < N {
            assert_eq!(pubc.recv_packet_type(4).packet_type(), 4);
            acked += 1;
        }
        pubc
    });
    for i in 0..N {
        let m = sub.recv_publish();
        assert_eq!(m.payload, i.to_be_bytes(), "message {i} out of order");
        assert!(!m.dup, "message {i} re-sent");
        received.store(i + 1, std::sync::atomic::Ordering::Relaxed);
    }
    let _pubc = publisher.join().expect("publisher thread");
    sub.expect_no_publish();
    assert_eq!(
        h.client_shard("colo-heavy-sub"),
        Some(there),
        "the subscriber moved to its publisher's shard"
    );
}
