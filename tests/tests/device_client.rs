//! The device client (`tern-client`, blocking front end over a std TCP stream with
//! `ReadReady`) against the broker under test: QoS 0/1/2 both ways, Will, keep-alive,
//! reconnect with resume when the link is cut in the middle of a QoS 2 flow (exactly once
//! holds), oversize messages. The same scenarios as `device-client/tests/mosquitto.rs`,
//! which runs them against Mosquitto; here they run against Tern by default.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use tern_client::codec::{
    Connect, ProtocolVersion, QoS, ReasonCode, Subscription, SubscriptionOptions, Will,
};
use tern_client::{Client, Event, Fixed, Instant, topic_name};
use tern_tests::Broker;

// --- support (after device-client/tests/common/mod.rs) ---------------------------------

/// `std::net::TcpStream` as an `embedded-io` transport with `ReadReady`.
struct Tcp(TcpStream, Option<usize>);

impl Tcp {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Self(s, None)
    }

    /// Cuts the link (both directions), as a dropped radio link would.
    fn cut(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl embedded_io::ErrorType for Tcp {
    type Error = std::io::Error;
}

impl embedded_io::Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        // A read budget lets a test stop reading at an exact point of a flow.
        let n = self.1.map_or(buf.len(), |b| b.min(buf.len()));
        let n = self.0.read(&mut buf[..n])?;
        if let Some(b) = &mut self.1 {
            *b -= n;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> Result<(), std::io::Error> {
        self.0.flush()
    }
}

impl embedded_io::ReadReady for Tcp {
    fn read_ready(&mut self) -> Result<bool, std::io::Error> {
        if self.1 == Some(0) {
            return Ok(false);
        }
        self.0.set_nonblocking(true)?;
        let mut b = [0u8; 1];
        let r = match self.0.peek(&mut b) {
            Ok(_) => Ok(true), // data, or end of file (read returns 0)
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        };
        self.0.set_nonblocking(false)?;
        r
    }
}

type S = Fixed<4, 0, 0, 0, 0>;
/// Outbox bytes per test client: room for several queued messages.
const OUTBOX: usize = 2048;

/// What a test saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Connected(bool),
    Message {
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        dup: bool,
    },
    Published,
    Subscribed(Vec<u8>),
    Unsubscribed,
    Oversize {
        topic: String,
        size: usize,
    },
    Dropped,
    Disconnected,
}

fn own(e: Event<'_>) -> Seen {
    match e {
        Event::Connected { session_present } => Seen::Connected(session_present),
        Event::Message(p) => Seen::Message {
            topic: p.topic.to_string(),
            payload: p.payload.to_vec(),
            qos: p.qos_pid.qos(),
            dup: p.dup,
        },
        Event::Published { .. } => Seen::Published,
        Event::Subscribed { reason_codes, .. } => {
            Seen::Subscribed(reason_codes.iter().map(|r| r.code()).collect())
        }
        Event::Unsubscribed { .. } => Seen::Unsubscribed,
        Event::Oversize { topic, size, .. } => Seen::Oversize {
            topic: topic.to_string(),
            size,
        },
        Event::Dropped { .. } => Seen::Dropped,
        Event::Disconnected(_) => Seen::Disconnected,
    }
}

static EPOCH: std::sync::OnceLock<StdInstant> = std::sync::OnceLock::new();

/// The caller's clock (milliseconds since the first call in this process).
fn now() -> Instant {
    let e = *EPOCH.get_or_init(StdInstant::now);
    Instant::from_millis(u64::try_from(e.elapsed().as_millis()).unwrap())
}

/// A client, its transport and everything it saw.
struct Dev {
    client: Client<'static, S>,
    io: Tcp,
    seen: Vec<Seen>,
    port: u16,
}

fn leak_buf(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

fn connect_opts(v: ProtocolVersion, id: &str, clean: bool) -> Connect<'_> {
    let mut c = Connect::new(v, id);
    c.clean_start = clean;
    c.keep_alive = 30;
    if v.is_v5() && !clean {
        c.properties.session_expiry_interval = Some(600);
    }
    c
}

impl Dev {
    fn new(port: u16, rx: usize, tx: usize) -> Self {
        Self {
            client: Client::new(leak_buf(rx), leak_buf(tx), leak_buf(OUTBOX)),
            io: Tcp::connect(port),
            seen: Vec::new(),
            port,
        }
    }

    /// Connects and waits for CONNACK; returns Session Present.
    fn connect(&mut self, connect: &Connect<'_>) -> bool {
        self.client.connect(&mut self.io, now(), connect).unwrap();
        match self.wait(|s| matches!(s, Seen::Connected(_))) {
            Seen::Connected(p) => p,
            _ => unreachable!(),
        }
    }

    /// A fresh TCP connection and CONNECT (the session is resumed unless `clean`).
    fn reconnect(&mut self, connect: &Connect<'_>) -> bool {
        self.io = Tcp::connect(self.port);
        self.connect(connect)
    }

    /// Polls once; records and returns any event.
    fn poll(&mut self) -> Option<Seen> {
        let e = self.client.poll(&mut self.io, now()).unwrap().map(own);
        if let Some(e) = &e {
            self.seen.push(e.clone());
        }
        e
    }

    /// Polls until an event satisfying `f` (10 s at most).
    fn wait(&mut self, f: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = StdInstant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.poll() {
                if f(&e) {
                    return e;
                }
            } else {
                std::thread::sleep(Duration::from_millis(2));
            }
            assert!(
                StdInstant::now() < deadline,
                "timed out; seen: {:?}",
                self.seen
            );
        }
    }

    /// Polls for `d`, recording events.
    fn run_for(&mut self, d: Duration) {
        let end = StdInstant::now() + d;
        while StdInstant::now() < end {
            if self.poll().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        let sub = Subscription {
            filter,
            options: SubscriptionOptions::new(qos),
        };
        self.client.subscribe(&mut self.io, now(), &[sub]).unwrap();
        let s = self.wait(|s| matches!(s, Seen::Subscribed(_)));
        assert_eq!(s, Seen::Subscribed(vec![qos as u8]));
    }

    fn messages(&self) -> Vec<(String, Vec<u8>, QoS)> {
        self.seen
            .iter()
            .filter_map(|s| match s {
                Seen::Message {
                    topic,
                    payload,
                    qos,
                    ..
                } => Some((topic.clone(), payload.clone(), *qos)),
                _ => None,
            })
            .collect()
    }
}

fn versions() -> Vec<ProtocolVersion> {
    vec![ProtocolVersion::V3_1_1, ProtocolVersion::V5]
}

/// Waits (bounded) until the broker's answer is readable on `io`, without reading it.
fn wait_readable(io: &mut Tcp) {
    let budget = io.1.take();
    let deadline = StdInstant::now() + Duration::from_secs(10);
    while !embedded_io::ReadReady::read_ready(io).unwrap() {
        assert!(StdInstant::now() < deadline, "no answer from the broker");
        std::thread::sleep(Duration::from_millis(2));
    }
    io.1 = budget;
}

// --- tests ----------------------------------------------------------------------------

#[test]
fn qos_0_1_2_both_ways() {
    let broker = Broker::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port(), 512, 512);
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
    let broker = Broker::start();
    for v in versions() {
        let mut watcher = Dev::new(broker.port(), 256, 256);
        watcher.connect(&connect_opts(v, "watcher", true));
        watcher.subscribe("will/#", QoS::AtLeastOnce);

        let mut dev = Dev::new(broker.port(), 256, 256);
        let mut c = connect_opts(v, "dying", true);
        c.will = Some(Will {
            topic: topic_name("will/dying").unwrap(),
            payload: b"gone",
            qos: QoS::AtLeastOnce,
            retain: false,
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
    let broker = Broker::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port(), 256, 256);
        let mut c = connect_opts(v, "idle", true);
        c.keep_alive = 1; // the broker closes after 1.5 s of silence
        dev.connect(&c);
        dev.run_for(Duration::from_millis(3500));
        assert!(dev.client.is_connected(), "{v:?}: {:?}", dev.seen);
        assert!(!dev.seen.contains(&Seen::Disconnected));
    }
}

/// Outgoing QoS 2: the link dies after our PUBLISH (PUBREC lost), then again after our
/// PUBREL (PUBCOMP lost). Each reconnect resumes the session and re-sends; the subscriber
/// gets the message exactly once.
#[test]
fn outgoing_qos2_survives_cuts_exactly_once() {
    let broker = Broker::start();
    for v in versions() {
        let mut sub = Dev::new(broker.port(), 256, 256);
        sub.connect(&connect_opts(v, "eo-sub", true));
        sub.subscribe("eo/out", QoS::ExactlyOnce);

        let mut dev = Dev::new(broker.port(), 256, 256);
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
        wait_readable(&mut dev.io); // the PUBREC: the broker has the message
        dev.io.cut();
        assert!(dev.reconnect(&c), "session present");
        // Resumed: the PUBLISH was re-sent with DUP. Read exactly the PUBREC (4 bytes), so
        // our PUBREL goes out, then cut before the PUBCOMP is read.
        wait_readable(&mut dev.io);
        dev.io.1 = Some(4);
        dev.poll();
        dev.poll();
        assert_eq!(dev.client.inflight_len(), 1, "{:?}", dev.seen);
        assert!(!dev.seen.contains(&Seen::Published));
        wait_readable(&mut dev.io); // the PUBCOMP: the broker has the PUBREL
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
#[test]
fn incoming_qos2_survives_a_cut_exactly_once() {
    let broker = Broker::start();
    for v in versions() {
        let c = connect_opts(v, "eo-in", false);
        let mut dev = Dev::new(broker.port(), 256, 256);
        dev.connect(&connect_opts(v, "eo-in", true));
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        dev.reconnect(&c);
        dev.subscribe("eo/in", QoS::ExactlyOnce);

        let mut publisher = Dev::new(broker.port(), 256, 256);
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
    let broker = Broker::start();
    for v in versions() {
        let c = connect_opts(v, "alo-in", false);
        let mut dev = Dev::new(broker.port(), 256, 256);
        dev.connect(&connect_opts(v, "alo-in", true));
        dev.client
            .close(&mut dev.io, now(), ReasonCode::NORMAL_DISCONNECTION)
            .unwrap();
        dev.reconnect(&c);
        dev.subscribe("alo/in", QoS::AtLeastOnce);
        dev.io.cut();
        dev.client.on_transport_closed(now());

        let mut publisher = Dev::new(broker.port(), 256, 256);
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
    let broker = Broker::start();
    for v in versions() {
        let mut dev = Dev::new(broker.port(), 128, 256);
        dev.connect(&connect_opts(v, "small", true));
        dev.subscribe("big/#", QoS::AtLeastOnce);
        let mut publisher = Dev::new(broker.port(), 256, 2048);
        publisher.connect(&connect_opts(v, "big-src", true));
        let big = vec![7u8; 1000];
        // S stores at most 256 bytes of payload: send the big one raw through a second client.
        let mut raw = Dev::new(broker.port(), 256, 2048);
        raw.connect(&connect_opts(v, "big-raw", true));
        send_raw_publish(&mut raw, v, "big/one", &big);
        publisher
            .client
            .publish("big/two", b"small", QoS::AtLeastOnce, false)
            .unwrap();
        publisher.wait(|s| *s == Seen::Published);
        dev.wait(|s| matches!(s, Seen::Message { .. }));
        // The two come from different connections (maybe different broker shards): no
        // order between them is promised. Wait for the oversize report (3.1.1), or give
        // a wrongly sent big packet time to show up (5.0).
        if !v.is_v5() {
            if !dev.seen.iter().any(|s| matches!(s, Seen::Oversize { .. })) {
                dev.wait(|s| matches!(s, Seen::Oversize { .. }));
            }
        } else {
            dev.run_for(Duration::from_millis(300));
        }
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
