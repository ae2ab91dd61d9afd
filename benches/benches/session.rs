//! Session-engine cost per message, QoS 0 / 1 / 2, for MQTT 3.1.1 and 5.0.
//!
//! A client engine (`Fixed` storage, as on a device) and a server engine (`Growable`, as in
//! the broker) are wired back to back in memory. One iteration carries one 64-byte message
//! through the complete flow: client `publish` → `poll_transmit` → decode → server
//! `handle_packet` → `accept` → acknowledgement(s) back → client `handle_packet`, plus
//! PUBREL/PUBCOMP for QoS 2, and both sides' events drained. So the figure is the engine cost
//! of both ends of one delivery, codec included; there is no socket and no clock.
//! (mqttbytes has no session engine, so there is no side-by-side here.)

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tern_core::codec::{Connect, Packet, ProtocolVersion, QoS, ReasonCode};
use tern_core::session::{
    Client, Config, Connection, Fixed, Growable, Incoming, Instant, Message, Server, Session,
};

type ClientStorage = Fixed<8, 8, 2, 128>;
type ServerStorage = Growable;

const TOPIC: &str = "sensors/building-7/floor-3/room-12/temperature";
const PAYLOAD: [u8; 64] = [0x5a; 64];

struct Pair {
    version: ProtocolVersion,
    now: Instant,
    client: Connection<Client, ClientStorage>,
    server: Connection<Server, ServerStorage>,
    buf: Vec<u8>,
}

impl Pair {
    fn new(version: ProtocolVersion) -> Self {
        let now = Instant::from_secs(0);
        let connect = Connect::new(version, "bench");
        let client = Connection::new_client(now, &connect, Session::default(), Config::client());
        let server =
            Connection::from_connect(now, &connect, None, Config::server()).expect("accepted");
        let mut pair = Self {
            version,
            now,
            client,
            server,
            buf: vec![0u8; 1024],
        };
        pair.server_to_client(); // CONNACK
        while pair.client.poll_event().is_some() {}
        assert!(pair.client.is_connected());
        pair
    }

    /// Moves every packet the server owes to the client.
    fn server_to_client(&mut self) {
        while let Some(n) = self
            .server
            .poll_transmit(self.now, &mut self.buf)
            .expect("fits")
        {
            let packet = Packet::decode(self.version, &self.buf[..n]).expect("decodes");
            black_box(self.client.handle_packet(self.now, packet).expect("legal"));
        }
    }

    /// One message through the whole flow; returns how many packets crossed the link.
    fn deliver(
        &mut self,
        message: Message<<ClientStorage as tern_core::session::Storage>::Bytes>,
    ) -> usize {
        let mut packets = 0;
        self.client.publish(message).expect("window open");
        loop {
            let mut progressed = false;
            while let Some(n) = self
                .client
                .poll_transmit(self.now, &mut self.buf)
                .expect("fits")
            {
                progressed = true;
                packets += 1;
                let packet = Packet::decode(self.version, &self.buf[..n]).expect("decodes");
                let token = match self.server.handle_packet(self.now, packet).expect("legal") {
                    Some(Incoming::Publish { publish, token }) => {
                        black_box(publish.payload);
                        token
                    }
                    _ => None,
                };
                if let Some(token) = token {
                    self.server.accept(token, ReasonCode::Success);
                }
            }
            while let Some(n) = self
                .server
                .poll_transmit(self.now, &mut self.buf)
                .expect("fits")
            {
                progressed = true;
                packets += 1;
                let packet = Packet::decode(self.version, &self.buf[..n]).expect("decodes");
                black_box(self.client.handle_packet(self.now, packet).expect("legal"));
            }
            while let Some(e) = self.server.poll_event() {
                black_box(e);
            }
            while let Some(e) = self.client.poll_event() {
                black_box(e);
            }
            if !progressed {
                return packets;
            }
        }
    }
}

fn bench_session(c: &mut Criterion) {
    for (name, version) in [("v4", ProtocolVersion::V3_1_1), ("v5", ProtocolVersion::V5)] {
        let mut g = c.benchmark_group(format!("session_message_64B_{name}"));
        for (qos, expected_packets) in [
            (QoS::AtMostOnce, 1),
            (QoS::AtLeastOnce, 2),
            (QoS::ExactlyOnce, 4),
        ] {
            let mut pair = Pair::new(version);
            let message = Message::new(TOPIC, &PAYLOAD, qos, false).expect("fits");
            assert_eq!(
                pair.deliver(message.clone()),
                expected_packets,
                "{qos:?} flow"
            );
            assert_eq!(pair.client.session().inflight_len(), 0);
            g.bench_function(format!("qos{}", qos as u8), |b| {
                b.iter(|| black_box(pair.deliver(black_box(message.clone()))))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_session);
criterion_main!(benches);
