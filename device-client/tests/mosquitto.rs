//! The blocking client against a private Mosquitto (Debian's `mosquitto`, installed by
//! `./ci.sh install`): QoS 0/1/2 both ways, Will, keep-alive, reconnect with resume when
//! the link is cut in the middle of a QoS 2 flow (exactly once holds), oversize messages.
mod common;

use std::time::Duration;

use common::*;
use tern_client::codec::{ProtocolVersion, QoS, ReasonCode, Will};
use tern_client::topic_name;

#[cfg(feature = "qos2")] // without it the engine downgrades QoS 2 to 1
#[test]
fn qos_0_1_2_both_ways() {
    let broker = Mosquitto::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port, 512, 512);
        assert!(!dev.connect(&connect_opts(v, "qos-dev", true)));
        dev.subscribe("q/#", QoS::ExactlyOnce);
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            dev.client
                .publish(&format!("q/{i}"), format!("m{i}").as_bytes(), qos, false)
                .unwrap();
        }
        // Our own messages come back through our subscription, each at its QoS.
        while dev.messages().len() < 3
            || dev.seen.iter().filter(|s| **s == Seen::Published).count() < 2
        {
            dev.wait(|_| true);
        }
        let mut got = dev.messages();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("q/0".into(), b"m0".to_vec(), QoS::AtMostOnce),
                ("q/1".into(), b"m1".to_vec(), QoS::AtLeastOnce),
                ("q/2".into(), b"m2".to_vec(), QoS::ExactlyOnce),
            ],
            "{v:?}"
        );
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        assert_eq!(dev.client.inflight_len(), 0);
    }
}

#[test]
fn will_is_published_when_the_link_dies() {
    let broker = Mosquitto::start();
    for v in versions() {
        let mut watcher = Dev::new(broker.port, 256, 256);
        watcher.connect(&connect_opts(v, "watcher", true));
        watcher.subscribe("will/#", QoS::AtLeastOnce);

        let mut dev = Dev::new(broker.port, 256, 256);
        let mut c = connect_opts(v, "dying", true);
        c.will = Some(Will {
            topic: topic_name("will/dying").unwrap(),
            payload: b"gone",
            qos: QoS::AtLeastOnce,
            retain: false,
            #[cfg(feature = "v5")]
            properties: Default::default(),
        });
        dev.connect(&c);
        dev.io.cut();
        let m = watcher.wait(|s| matches!(s, Seen::Message { .. }));
        assert!(
            matches!(m, Seen::Message { ref topic, ref payload, .. } if topic == "will/dying" && payload == b"gone"),
            "{m:?}"
        );
    }
}

#[test]
fn keep_alive_holds_an_idle_connection() {
    let broker = Mosquitto::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port, 256, 256);
        let mut c = connect_opts(v, "idle", true);
        c.keep_alive = 1; // Mosquitto closes after 1.5 s of silence
        dev.connect(&c);
        dev.run_for(Duration::from_millis(3500));
        assert!(dev.client.is_connected(), "{v:?}: {:?}", dev.seen);
        assert!(!dev.seen.contains(&Seen::Disconnected));
    }
}

/// Outgoing QoS 2: the link dies after our PUBLISH (PUBREC lost), then again after our
/// PUBREL (PUBCOMP lost). Each reconnect resumes the session and re-sends; the subscriber
/// gets the message exactly once.
#[cfg(feature = "qos2")] // without it the engine downgrades QoS 2 to 1
#[test]
fn outgoing_qos2_survives_cuts_exactly_once() {
    let broker = Mosquitto::start();
    for v in versions() {
        let mut sub = Dev::new(broker.port, 256, 256);
        sub.connect(&connect_opts(v, "eo-sub", true));
        sub.subscribe("eo/out", QoS::ExactlyOnce);

        let mut dev = Dev::new(broker.port, 256, 256);
        let c = connect_opts(v, "eo-pub", false);
        dev.connect(&connect_opts(v, "eo-pub", true));
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        assert!(!dev.reconnect(&c));
        // Cut 1: the PUBLISH goes out, the answer is never read.
        dev.client
            .publish("eo/out", b"once", QoS::ExactlyOnce, false)
            .unwrap();
        dev.client.flush(&mut dev.io, now()).unwrap();
        assert_eq!(dev.client.inflight_len(), 1);
        std::thread::sleep(Duration::from_millis(100));
        dev.io.cut();
        assert!(dev.reconnect(&c), "session present");
        // Resumed: the PUBLISH was re-sent with DUP. Read exactly the PUBREC (4 bytes), so
        // our PUBREL goes out, then cut before the PUBCOMP is read.
        std::thread::sleep(Duration::from_millis(100));
        dev.io.1 = Some(4);
        dev.poll();
        dev.poll();
        assert_eq!(dev.client.inflight_len(), 1, "{:?}", dev.seen);
        assert!(!dev.seen.contains(&Seen::Published));
        std::thread::sleep(Duration::from_millis(100));
        dev.io.cut();
        assert!(dev.reconnect(&c));
        dev.wait(|s| *s == Seen::Published);
        assert_eq!(dev.client.inflight_len(), 0);
        sub.run_for(Duration::from_millis(500));
        assert_eq!(
            sub.messages(),
            vec![("eo/out".into(), b"once".to_vec(), QoS::ExactlyOnce)],
            "{v:?}"
        );
    }
}

/// Incoming QoS 2: the link dies right after the message was delivered and our PUBREC
/// written. The broker re-sends PUBLISH (DUP) or PUBREL on the resumed session; the
/// application sees the message exactly once.
#[cfg(feature = "qos2")] // without it the engine downgrades QoS 2 to 1
#[test]
fn incoming_qos2_survives_a_cut_exactly_once() {
    let broker = Mosquitto::start();
    for v in versions() {
        let c = connect_opts(v, "eo-in", false);
        let mut dev = Dev::new(broker.port, 256, 256);
        dev.connect(&connect_opts(v, "eo-in", true));
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        dev.reconnect(&c);
        dev.subscribe("eo/in", QoS::ExactlyOnce);

        let mut publisher = Dev::new(broker.port, 256, 256);
        publisher.connect(&connect_opts(v, "eo-src", true));
        publisher
            .client
            .publish("eo/in", b"exactly", QoS::ExactlyOnce, false)
            .unwrap();
        publisher.wait(|s| *s == Seen::Published);

        dev.wait(|s| matches!(s, Seen::Message { .. }));
        dev.poll(); // writes the PUBREC
        dev.io.cut();
        assert!(dev.reconnect(&c));
        dev.run_for(Duration::from_millis(500));
        assert_eq!(
            dev.messages(),
            vec![("eo/in".into(), b"exactly".to_vec(), QoS::ExactlyOnce)],
            "{v:?}"
        );
        // The broker completed the flow: nothing is re-sent on a further resume.
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        dev.reconnect(&c);
        dev.run_for(Duration::from_millis(300));
        assert_eq!(dev.messages().len(), 1);
    }
}

/// Incoming QoS 1 with the link cut before our PUBACK: the broker re-sends (DUP) on the
/// resumed session; QoS 1 is at least once.
#[test]
fn incoming_qos1_redelivered_after_a_cut() {
    let broker = Mosquitto::start();
    for v in versions() {
        let c = connect_opts(v, "alo-in", false);
        let mut dev = Dev::new(broker.port, 256, 256);
        dev.connect(&connect_opts(v, "alo-in", true));
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        dev.reconnect(&c);
        dev.subscribe("alo/in", QoS::AtLeastOnce);
        dev.io.cut();
        dev.client.on_transport_closed(now());

        let mut publisher = Dev::new(broker.port, 256, 256);
        publisher.connect(&connect_opts(v, "alo-src", true));
        publisher
            .client
            .publish("alo/in", b"queued", QoS::AtLeastOnce, false)
            .unwrap();
        publisher.wait(|s| *s == Seen::Published);

        assert!(dev.reconnect(&c));
        dev.wait(|s| matches!(s, Seen::Message { .. }));
        assert_eq!(
            dev.messages(),
            vec![("alo/in".into(), b"queued".to_vec(), QoS::AtLeastOnce)]
        );
    }
}

/// 3.1.1: a message larger than rx is streamed past, acknowledged and reported; the
/// connection carries on. 5.0: the client's Maximum Packet Size (its rx) keeps the broker
/// from sending it at all.
#[test]
fn oversize_messages() {
    let broker = Mosquitto::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port, 128, 256);
        dev.connect(&connect_opts(v, "small", true));
        dev.subscribe("big/#", QoS::AtLeastOnce);
        let mut publisher = Dev::new(broker.port, 256, 2048);
        publisher.connect(&connect_opts(v, "big-src", true));
        let big = vec![7u8; 1000];
        // S stores at most 256 bytes of payload: send the big one raw through a second client.
        let mut raw = Dev::new(broker.port, 256, 2048);
        raw.connect(&connect_opts(v, "big-raw", true));
        send_raw_publish(&mut raw, v, "big/one", &big);
        publisher
            .client
            .publish("big/two", b"small", QoS::AtLeastOnce, false)
            .unwrap();
        publisher.wait(|s| *s == Seen::Published);
        dev.wait(|s| matches!(s, Seen::Message { .. }));
        assert!(dev.client.is_connected(), "{v:?} {:?}", dev.seen);
        assert_eq!(
            dev.messages(),
            vec![("big/two".into(), b"small".to_vec(), QoS::AtLeastOnce)]
        );
        let oversize: Vec<_> = dev
            .seen
            .iter()
            .filter(|s| matches!(s, Seen::Oversize { .. }))
            .collect();
        if v.is_v5() {
            assert!(oversize.is_empty(), "{:?}", dev.seen);
        } else {
            assert_eq!(oversize.len(), 1, "{:?}", dev.seen);
            assert!(
                matches!(oversize[0], Seen::Oversize { topic, size } if topic == "big/one" && *size > 1000)
            );
            // It was acknowledged: a resumed session would not bring it back; the link stays
            // up and quiet.
            dev.run_for(Duration::from_millis(300));
            assert_eq!(
                dev.seen
                    .iter()
                    .filter(|s| matches!(s, Seen::Oversize { .. }))
                    .count(),
                1
            );
        }
    }
}

/// Writes a QoS 1 PUBLISH encoded by the codec directly (bypassing the session storage).
fn send_raw_publish(dev: &mut Dev, v: ProtocolVersion, topic: &str, payload: &[u8]) {
    use std::io::Write;
    use tern_client::codec::{Packet, Publish, QosPid};
    let pid = tern_client::codec::PacketId::new(4242).unwrap();
    let mut buf = vec![0u8; payload.len() + 64];
    let n = Packet::Publish(Publish::new(topic, QosPid::AtLeastOnce(pid), payload))
        .encode(v, &mut buf)
        .unwrap();
    dev.io.0.write_all(&buf[..n]).unwrap();
}
