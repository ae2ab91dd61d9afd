//! The async front end (embedded-io-async over tokio TCP, `DelayNs` over tokio's timer)
//! against a private Mosquitto: connect, subscribe, QoS 1 and 2 round trip, keep-alive.
mod common;

use common::{Mosquitto, S, connect_opts, leak_buf, now, versions};
use embedded_io_adapters::tokio_1::FromTokio;
use tern_client::codec::{QoS, Subscription, SubscriptionOptions};
use tern_client::{Client, Event};

#[cfg(feature = "qos2")]
const QOS2: QoS = QoS::ExactlyOnce;
#[cfg(not(feature = "qos2"))]
const QOS2: QoS = QoS::AtLeastOnce;

struct TokioDelay;

impl embedded_hal_async::delay::DelayNs for TokioDelay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(std::time::Duration::from_nanos(u64::from(ns))).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn async_round_trip_and_keep_alive() {
    let broker = Mosquitto::start();
    for v in versions() {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", broker.port))
            .await
            .unwrap();
        let mut io = FromTokio::new(tcp);
        let mut client = Client::<S>::new(leak_buf(512), leak_buf(512), leak_buf(common::OUTBOX));
        let mut c = connect_opts(v, "async-dev", true);
        c.keep_alive = 1;
        client.connect_async(&mut io, now(), &c).await.unwrap();
        let mut delay = TokioDelay;
        let mut got = Vec::new();
        let mut subscribed = false;
        let start = std::time::Instant::now();
        // Run for 3 s (keep-alive 1 s: Mosquitto would drop us after 1.5 s of silence).
        while start.elapsed() < std::time::Duration::from_secs(3) {
            let ev = tokio::time::timeout(
                std::time::Duration::from_millis(200),
                client.next_event(&mut io, &mut delay, &now),
            )
            .await;
            let Ok(ev) = ev else { continue };
            match ev.unwrap() {
                Some(Event::Connected { .. }) if !subscribed => {
                    subscribed = true;
                    let sub = Subscription {
                        filter: "a/#",
                        options: SubscriptionOptions::new(QoS::ExactlyOnce),
                    };
                    client
                        .subscribe_async(&mut io, now(), &[sub])
                        .await
                        .unwrap();
                }
                Some(Event::Subscribed { .. }) => {
                    client
                        .publish("a/1", b"one", QoS::AtLeastOnce, false)
                        .unwrap();
                    client
                        .publish("a/2", b"two", QoS::ExactlyOnce, false)
                        .unwrap();
                }
                Some(Event::Message(m)) => got.push((m.topic.to_string(), m.qos_pid.qos())),
                Some(Event::Disconnected(r)) => panic!("{v:?}: disconnected {r:?}"),
                _ => {}
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec![("a/1".into(), QoS::AtLeastOnce), ("a/2".into(), QOS2)],
            "{v:?}"
        );
        assert!(client.is_connected());
    }
}
