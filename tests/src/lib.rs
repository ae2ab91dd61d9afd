//! Integration and interop tests for Tern; this library holds the shared harness.
//!
//! # Layout
//!
//! - `tests/tests/*.rs`: one file per peer: `raw.rs` (hand-made bytes through
//!   [`tern_core::codec`]), `rumqttc.rs`, `paho.rs` (Python scripts in `tests/scripts/`),
//!   `mosquitto_clients.rs` (`mosquitto_pub` / `mosquitto_sub`) and `device_client.rs`
//!   (`tern-client`).
//! - This library: [`Broker`] (the broker under test), [`RawClient`] (a blocking MQTT
//!   connection over raw bytes), [`Proc`] / [`run`] (external programs with a deadline),
//!   [`python`] (the interpreter `tests/install.sh` set up) and small waiting helpers.
//!
//! # Which broker
//!
//! Every test runs against Tern, started in-process on `127.0.0.1:0` ([`Broker::start`]).
//! With `TERN_TESTS_BROKER=mosquitto` the same tests run against a private Mosquitto on a
//! free port instead: that validates the tests' expectations against a mature broker. A
//! test whose behaviour legitimately differs in Mosquitto (where Mosquitto deviates from
//! the specification) skips itself under that setting only, through
//! [`mosquitto_deviates`], which prints the reason; nothing is ever skipped against Tern.
//!
//! Every wait is bounded ([`TIMEOUT`]) and fails with a message saying what was awaited.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tern_broker::config::{Bind, ByteSize, ListenerConfig, Shards};
use tern_broker::{Config, Server, ServerHandle};
use tern_core::codec::{
    ConnAck, Connect, FixedHeader, Packet, PacketId, ProtocolVersion, PubResponse, Publish, QoS,
    QosPid, Subscribe, Subscription, SubscriptionOptions,
};

/// The longest any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a test waits to conclude that something does *not* arrive.
pub const QUIET: Duration = Duration::from_millis(500);

/// The broker implementation the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// Tern, in-process (the default).
    Tern,
    /// A private Mosquitto process (`TERN_TESTS_BROKER=mosquitto`).
    Mosquitto,
}

/// The broker selected by the `TERN_TESTS_BROKER` environment variable (`tern`, the
/// default, or `mosquitto`). Panics on any other value.
pub fn broker_kind() -> BrokerKind {
    match std::env::var("TERN_TESTS_BROKER").as_deref() {
        Err(_) | Ok("") | Ok("tern") => BrokerKind::Tern,
        Ok("mosquitto") => BrokerKind::Mosquitto,
        Ok(other) => panic!("TERN_TESTS_BROKER={other:?}: expected \"tern\" or \"mosquitto\""),
    }
}

/// `true` (after printing `reason`) when the suite runs against Mosquitto: the calling test
/// checks a rule Mosquitto is known to break, and returns early. Always `false` against
/// Tern, so nothing is ever skipped there.
pub fn mosquitto_deviates(reason: &str) -> bool {
    if broker_kind() == BrokerKind::Mosquitto {
        println!("SKIPPED under TERN_TESTS_BROKER=mosquitto: {reason}");
        true
    } else {
        false
    }
}

/// Settings that both brokers understand; `None` keeps the broker's default.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Largest packet accepted from a client (Tern `limits.max_packet_size`, Mosquitto
    /// `max_packet_size`).
    pub max_packet_size: Option<u32>,
}

/// The broker under test, listening on `127.0.0.1` and a port chosen by the OS. Stopped
/// when dropped.
pub struct Broker {
    addr: SocketAddr,
    // Stops the broker when dropped.
    inner: Inner,
}

enum Inner {
    Tern(ServerHandle),
    Mosquitto(Mosquitto),
}

impl Broker {
    /// Starts the selected broker with default settings.
    pub fn start() -> Self {
        Self::start_with(&Options::default())
    }

    /// Starts the selected broker with `options`.
    pub fn start_with(options: &Options) -> Self {
        match broker_kind() {
            BrokerKind::Tern => {
                let mut config = tern_config();
                if let Some(n) = options.max_packet_size {
                    config.limits.max_packet_size = ByteSize(u64::from(n));
                }
                Self::start_tern(config)
            }
            BrokerKind::Mosquitto => {
                let m = Mosquitto::start(options);
                Self {
                    addr: SocketAddr::from(([127, 0, 0, 1], m.port())),
                    inner: Inner::Mosquitto(m),
                }
            }
        }
    }

    /// Starts Tern with `config` whatever `TERN_TESTS_BROKER` says (for Tern-specific
    /// settings); `config` should come from [`tern_config`].
    pub fn start_tern(config: Config) -> Self {
        let h = Server::new(config).start().expect("start the Tern broker");
        let addr = *h.local_addrs().first().expect("Tern bound no listener");
        Self {
            addr,
            inner: Inner::Tern(h),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The in-process Tern server (for its statistics), `None` for Mosquitto.
    pub fn tern(&self) -> Option<&ServerHandle> {
        match &self.inner {
            Inner::Tern(h) => Some(h),
            Inner::Mosquitto(_) => None,
        }
    }

    /// Mosquitto's log so far (for failure messages), `None` for Tern.
    pub fn mosquitto_log(&self) -> Option<String> {
        match &self.inner {
            Inner::Tern(_) => None,
            Inner::Mosquitto(m) => Some(m.log()),
        }
    }

    /// Which implementation this is.
    pub fn kind(&self) -> BrokerKind {
        match self.inner {
            Inner::Tern(_) => BrokerKind::Tern,
            Inner::Mosquitto(_) => BrokerKind::Mosquitto,
        }
    }
}

/// The Tern configuration the suite uses: one listener on `127.0.0.1:0`, two shards (so
/// that clients of one test land on different shards), everything else default.
pub fn tern_config() -> Config {
    Config {
        listener: vec![ListenerConfig {
            bind: Bind(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..ListenerConfig::default()
        }],
        shards: Shards::Count(2),
        ..Config::default()
    }
}

/// A private Mosquitto (Debian's `/usr/sbin/mosquitto`) on `127.0.0.1` and a free port,
/// anonymous, without persistence; killed when dropped.
pub struct Mosquitto {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    /// Starts one and waits (bounded) until it accepts connections.
    pub fn start(options: &Options) -> Self {
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!("mosquitto is not installed: run `bash tests/install.sh` (apt-get install mosquitto)")
            });
        // Retry on the (rare) race where another process takes the port between our probe
        // and Mosquitto's bind.
        for attempt in 0.. {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!(
                "tern-tests-mosq-{}-{port}-{attempt}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).expect("create the Mosquitto directory");
            let conf = dir.join("mosquitto.conf");
            let mut text =
                format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n");
            if let Some(n) = options.max_packet_size {
                text.push_str(&format!("max_packet_size {n}\n"));
            }
            std::fs::write(&conf, text).expect("write mosquitto.conf");
            let log = std::fs::File::create(dir.join("mosquitto.log")).expect("log file");
            let mut child = Command::new(bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn mosquitto");
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, port, dir };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    let log =
                        std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
                    let _ = std::fs::remove_dir_all(&dir);
                    assert!(
                        attempt < 3,
                        "mosquitto exited ({status}) on port {port}: {log}"
                    );
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not start on port {port} within {TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        unreachable!()
    }

    /// Its port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it logged so far (its standard error).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago on `127.0.0.1`.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {TIMEOUT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A TCP forwarder in front of the broker that can cut every link it carries at once, as
/// a dropped network would: the client sees the connection die, the broker sees it close
/// without DISCONNECT. Lets a third-party client that has no "abort" API (rumqttc, the
/// device client) lose its connection abnormally. Stopped when dropped.
pub struct Proxy {
    addr: SocketAddr,
    links: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    /// Listens on `127.0.0.1` and a free port, forwarding every connection to `broker`.
    pub fn start(broker: &Broker) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let target = broker.addr();
        let links: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (l2, s2) = (links.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                let mut l = l2.lock().expect("proxy links");
                if let (Ok(c2), Ok(s3)) = (client.try_clone(), server.try_clone()) {
                    l.push(c2);
                    l.push(s3);
                }
                if let (Ok(c3), Ok(s4)) = (client.try_clone(), server.try_clone()) {
                    pipe(c3, s4);
                    pipe(server, client);
                }
            }
        });
        Self { addr, links, stop }
    }

    /// The port clients connect to instead of the broker's.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Cuts every link open now (both directions, both sides).
    pub fn cut(&self) {
        for s in self.links.lock().expect("proxy links").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Encodes `p` for a `v` peer into a new vector.
pub fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let len = p.encoded_len(v).expect("encodable packet");
    let mut buf = vec![0; len];
    let n = p.encode(v, &mut buf).expect("encode");
    assert_eq!(n, len);
    buf
}

/// One complete packet as received: fixed header and body.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(pub Vec<u8>);

impl Frame {
    /// The packet type (high nibble of the first byte).
    pub fn packet_type(&self) -> u8 {
        self.0[0] >> 4
    }

    /// Decodes the frame as received on a `v` connection; panics (showing the bytes) if it
    /// does not decode.
    pub fn decode(&self, v: ProtocolVersion) -> Packet<'_> {
        Packet::decode(v, &self.0)
            .unwrap_or_else(|e| panic!("the broker sent an undecodable packet ({e:?}): {self:?}"))
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({:02x?})", self.0)
    }
}

/// How a read from a [`RawClient`] ended without a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoFrame {
    /// The broker closed the connection (end of file or reset); carries any bytes of an
    /// incomplete packet received before.
    Closed(Vec<u8>),
    /// Nothing complete arrived in time.
    TimedOut,
}

/// A blocking MQTT connection that sends and receives whole packets as bytes. It checks
/// nothing itself: tests decide what the broker's answers must be.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Frames set aside by [`RawClient::recv_packet_type`], returned first by later reads.
    pending: VecDeque<Frame>,
    /// The protocol version packets are encoded with.
    pub version: ProtocolVersion,
}

impl RawClient {
    /// Opens a TCP connection to `broker` (no MQTT yet).
    pub fn open(broker: &Broker, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(broker.addr()).expect("TCP connect to the broker");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Self {
            stream,
            buf: Vec::new(),
            pending: VecDeque::new(),
            version,
        }
    }

    /// Opens a connection, sends `connect` and returns the CONNACK frame (panics if the
    /// broker answers anything else, or nothing, within [`TIMEOUT`]).
    pub fn connect_with(broker: &Broker, connect: &Connect<'_>) -> (Self, Frame) {
        let mut c = Self::open(broker, connect.protocol);
        c.send(&Packet::Connect(*connect));
        let f = c.recv();
        assert_eq!(f.packet_type(), 2, "expected CONNACK, got {f:?}");
        (c, f)
    }

    /// Opens a connection with a clean-start CONNECT for `client_id` (keep-alive 60 s) and
    /// asserts that the CONNACK accepts it.
    pub fn connect(broker: &Broker, version: ProtocolVersion, client_id: &str) -> Self {
        let mut connect = Connect::new(version, client_id);
        connect.keep_alive = 60;
        let (c, f) = Self::connect_with(broker, &connect);
        match f.decode(version) {
            Packet::ConnAck(ConnAck { reason, .. }) => {
                assert!(!reason.is_error(), "CONNACK refused the client: {f:?}")
            }
            _ => unreachable!(),
        }
        c
    }

    /// Encodes and sends `p`.
    pub fn send(&mut self, p: &Packet<'_>) {
        let bytes = encode(p, self.version);
        self.send_bytes(&bytes);
    }

    /// Sends raw bytes. A write error (the broker closed first) is ignored: the test
    /// observes the closed connection on its next read.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// The next packet within `timeout`, or why there is none.
    pub fn try_recv(&mut self, timeout: Duration) -> Result<Frame, NoFrame> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        self.read_frame(timeout)
    }

    fn read_frame(&mut self, timeout: Duration) -> Result<Frame, NoFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(f) = self.take_frame() {
                return Ok(f);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoFrame::TimedOut);
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set_read_timeout");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(NoFrame::Closed(std::mem::take(&mut self.buf))),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(NoFrame::Closed(std::mem::take(&mut self.buf))),
            }
        }
    }

    /// The next packet; panics if none arrives within [`TIMEOUT`].
    pub fn recv(&mut self) -> Frame {
        match self.try_recv(TIMEOUT) {
            Ok(f) => f,
            Err(e) => panic!("expected a packet from the broker, got {e:?}"),
        }
    }

    /// The next packet of type `packet_type` (4-bit MQTT Control Packet type); packets of
    /// other types are set aside, in order, for later reads. Panics after [`TIMEOUT`].
    pub fn recv_packet_type(&mut self, packet_type: u8) -> Frame {
        if let Some(i) = self
            .pending
            .iter()
            .position(|f| f.packet_type() == packet_type)
        {
            return self.pending.remove(i).expect("index in range");
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_frame(left) {
                Ok(f) if f.packet_type() == packet_type => return f,
                Ok(f) => self.pending.push_back(f),
                Err(e) => panic!(
                    "expected a packet of type {packet_type}, got {e:?} (set aside: {:?})",
                    self.pending
                ),
            }
        }
    }

    /// Subscribes to `filter` (packet identifier 1, 5.0 options default) and returns the
    /// SUBACK reason codes.
    pub fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        self.subscribe_with(&[Subscription {
            filter,
            options: SubscriptionOptions::new(qos),
        }])
    }

    /// Subscribes to `subs` in one SUBSCRIBE (packet identifier 1) and returns the SUBACK
    /// reason codes.
    pub fn subscribe_with(&mut self, subs: &[Subscription<'_>]) -> Vec<u8> {
        let pid = PacketId::MIN;
        self.send(&Packet::Subscribe(Subscribe::new(pid, subs.into())));
        let f = self.recv_packet_type(9);
        match f.decode(self.version) {
            Packet::SubAck(a) => {
                assert_eq!(a.packet_id, pid, "SUBACK packet id [MQTT-3.8.4-2]");
                a.reason_codes.iter().map(|r| r.code()).collect()
            }
            _ => unreachable!(),
        }
    }

    /// Publishes `payload` on `topic`; QoS 1/2 use packet identifier `pid` and are not
    /// acknowledged here.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool, pid: u16) {
        let mut p = Publish::new(topic, qos_pid(qos, pid), payload);
        p.retain = retain;
        self.send(&Packet::Publish(p));
    }

    /// Publishes and completes the QoS 1/2 flow with the broker (PUBACK, or PUBREC /
    /// PUBREL / PUBCOMP); panics on an error reason code.
    pub fn publish_acked(&mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        let pid = 42;
        self.publish(topic, payload, qos, retain, pid);
        let id = PacketId::new(pid).expect("non-zero");
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                let f = self.recv_packet_type(4);
                match f.decode(self.version) {
                    Packet::PubAck(a) => {
                        assert_eq!(a.packet_id, id);
                        assert!(!a.reason.is_error(), "PUBACK {f:?}");
                    }
                    _ => unreachable!(),
                }
            }
            QoS::ExactlyOnce => {
                let f = self.recv_packet_type(5);
                match f.decode(self.version) {
                    Packet::PubRec(a) => {
                        assert_eq!(a.packet_id, id);
                        assert!(!a.reason.is_error(), "PUBREC {f:?}");
                    }
                    _ => unreachable!(),
                }
                self.send(&Packet::PubRel(PubResponse::new(id)));
                let f = self.recv_packet_type(7);
                assert!(matches!(f.decode(self.version), Packet::PubComp(a) if a.packet_id == id));
            }
        }
    }

    /// The next PUBLISH (other packet types are skipped), owned; QoS 1/2 ones are
    /// acknowledged (PUBACK, or PUBREC then PUBREL awaited and PUBCOMP sent).
    pub fn recv_publish(&mut self) -> Msg {
        let f = self.recv_packet_type(3);
        let m = Msg::from_frame(&f, self.version);
        self.ack(&m);
        m
    }

    /// Acknowledges a received QoS 1/2 message (QoS 2: PUBREC, awaits PUBREL, PUBCOMP).
    pub fn ack(&mut self, m: &Msg) {
        let Some(id) = m.packet_id.and_then(PacketId::new) else {
            return;
        };
        match m.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(&Packet::PubAck(PubResponse::new(id))),
            QoS::ExactlyOnce => {
                self.send(&Packet::PubRec(PubResponse::new(id)));
                let f = self.recv_packet_type(6);
                assert!(
                    matches!(f.decode(self.version), Packet::PubRel(a) if a.packet_id == id),
                    "expected PUBREL for {id}, got {f:?}"
                );
                self.send(&Packet::PubComp(PubResponse::new(id)));
            }
        }
    }

    /// Asserts that no PUBLISH arrives for [`QUIET`] (other packets are ignored).
    pub fn expect_no_publish(&mut self) {
        let deadline = Instant::now() + QUIET;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_recv(left) {
                Err(NoFrame::TimedOut) => return,
                Ok(f) if f.packet_type() != 3 => {}
                other => panic!("expected no PUBLISH, got {other:?}"),
            }
        }
    }

    /// Asserts that no packet arrives for [`QUIET`] (and the connection stays open).
    pub fn expect_silence(&mut self) {
        match self.try_recv(QUIET) {
            Err(NoFrame::TimedOut) => {}
            other => panic!("expected nothing from the broker, got {other:?}"),
        }
    }

    /// Reads until the broker closes the connection (panics after [`TIMEOUT`]) and returns
    /// the complete packets received, then any trailing partial bytes.
    pub fn expect_closed(&mut self) -> (Vec<Frame>, Vec<u8>) {
        let deadline = Instant::now() + TIMEOUT;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.try_recv(left) {
                Ok(f) => frames.push(f),
                Err(NoFrame::Closed(rest)) => return (frames, rest),
                Err(NoFrame::TimedOut) => panic!(
                    "the broker did not close the connection within {TIMEOUT:?} (got {frames:?})"
                ),
            }
        }
    }

    /// Reads until the broker closes the connection and returns the packets it sent first;
    /// panics if it sent a partial packet.
    pub fn expect_closed_frames(&mut self) -> Vec<Frame> {
        let (frames, rest) = self.expect_closed();
        assert!(
            rest.is_empty(),
            "partial packet before close: {rest:02x?} after {frames:?}"
        );
        frames
    }

    /// Closes the TCP connection without DISCONNECT (an abnormal close).
    pub fn drop_link(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// The underlying socket.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    fn take_frame(&mut self) -> Option<Frame> {
        // The broker's own packets always have valid headers; a bad one is a test failure.
        let (hdr, hlen) = match FixedHeader::parse(&self.buf) {
            Ok(Some(h)) => h,
            Ok(None) => return None,
            Err(e) => panic!(
                "the broker sent a bad fixed header ({e:?}): {:02x?}",
                self.buf
            ),
        };
        let total = hlen + usize::try_from(hdr.remaining_length).ok()?;
        if self.buf.len() < total {
            return None;
        }
        let rest = self.buf.split_off(total);
        Some(Frame(std::mem::replace(&mut self.buf, rest)))
    }
}

/// `qos` with packet identifier `pid` (ignored for QoS 0; must be non-zero otherwise).
pub fn qos_pid(qos: QoS, pid: u16) -> QosPid {
    let id = || PacketId::new(pid).expect("packet identifier must be non-zero");
    match qos {
        QoS::AtMostOnce => QosPid::AtMostOnce,
        QoS::AtLeastOnce => QosPid::AtLeastOnce(id()),
        QoS::ExactlyOnce => QosPid::ExactlyOnce(id()),
    }
}

/// A received PUBLISH, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Topic name (empty if the broker used a 5.0 Topic Alias alone).
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// QoS of the delivery.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// DUP flag.
    pub dup: bool,
    /// Packet identifier (QoS 1/2).
    pub packet_id: Option<u16>,
    /// The frame, for property checks (decode it with [`Frame::decode`]).
    pub frame: Frame,
}

impl Msg {
    /// Decodes a PUBLISH frame; panics if it is something else.
    pub fn from_frame(f: &Frame, v: ProtocolVersion) -> Self {
        match f.decode(v) {
            Packet::Publish(p) => Self {
                topic: p.topic.to_owned(),
                payload: p.payload.to_vec(),
                qos: p.qos_pid.qos(),
                retain: p.retain,
                dup: p.dup,
                packet_id: p.qos_pid.packet_id().map(|id| id.get()),
                frame: f.clone(),
            },
            _ => panic!("expected PUBLISH, got {f:?}"),
        }
    }
}

/// The outcome of an external program run by [`run`] or [`Proc::wait`].
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to standard output.
    pub stdout: String,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

impl Finished {
    /// Panics with both outputs unless the program exited with status 0.
    pub fn assert_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

/// A running external program, killed when dropped, whose output is collected in the
/// background so that it can never block on a full pipe.
pub struct Proc {
    child: Child,
    what: String,
    stdout: mpsc::Receiver<String>,
    lines: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Proc {
    /// Spawns `cmd` with piped stdout/stderr; `what` names it in failure messages.
    pub fn spawn(mut cmd: Command, what: &str) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Self {
            child,
            what: what.to_owned(),
            stdout,
            lines: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// Waits (at most [`TIMEOUT`]) for the next line on standard output.
    pub fn line(&mut self) -> String {
        match self.stdout.recv_timeout(TIMEOUT) {
            Ok(l) => {
                self.lines.push(l.clone());
                l
            }
            Err(_) => panic!(
                "{}: no output line within {TIMEOUT:?} (so far: {:?})",
                self.what, self.lines
            ),
        }
    }

    /// Waits until a line satisfying `f` appears on standard output and returns it.
    pub fn wait_line(&mut self, mut f: impl FnMut(&str) -> bool) -> String {
        loop {
            let l = self.line();
            if f(&l) {
                return l;
            }
        }
    }

    /// Waits (at most `timeout`) for the program to exit and collects its output; kills it
    /// and panics on timeout.
    pub fn wait_timeout(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let rest: Vec<String> = self.stdout.try_iter().collect();
                let err = self
                    .stderr
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default();
                panic!(
                    "{} did not exit within {timeout:?}\n--- stdout\n{}\n{}\n--- stderr\n{err}",
                    self.what,
                    self.lines.join("\n"),
                    rest.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        // The reader thread ends at end of file, which follows the exit.
        let mut lines = std::mem::take(&mut self.lines);
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            lines.push(l);
        }
        Finished {
            status,
            stdout: lines.join("\n"),
            stderr: err,
        }
    }

    /// [`Proc::wait_timeout`] with [`TIMEOUT`] plus `extra`.
    pub fn wait(self, extra: Duration) -> Finished {
        self.wait_timeout(TIMEOUT + extra)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` to completion (at most [`TIMEOUT`] plus `extra`) and returns its outcome.
pub fn run(cmd: Command, what: &str, extra: Duration) -> Finished {
    Proc::spawn(cmd, what).wait(extra)
}

/// The Python interpreter of the venv `tests/install.sh` creates (`tests/.venv`), with
/// paho-mqtt installed; panics with instructions if it is missing.
pub fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    let py = venv.join("bin").join("python3");
    assert!(
        py.exists(),
        "{} is missing: run `bash tests/install.sh` (creates the venv with paho-mqtt)",
        py.display()
    );
    py
}

/// The directory of the Python peer scripts (`tests/scripts`).
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts")
}
