//! A deterministic in-memory harness in the style of quinn-proto's `Pair`: a client engine
//! and a server engine wired back to back through byte-level links, a virtual clock, link
//! cuts (optionally right after a chosen packet type, delivered or lost) and reconnects.
//!
//! Every packet crosses the link encoded and is decoded on the other side, so the codec and
//! the engine are exercised together. The harness checks, on every packet, that the
//! receiver's Maximum Packet Size and Receive Maximum are respected.

use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use crate::codec::{Connect, Packet, PacketType, ProtocolVersion, QoS, ReasonCode};
use crate::session::*;

/// Default storage of the harness: fixed capacities, so it runs in every feature
/// combination. [`GenericPair`] also runs over [`Growable`] storage (feature `alloc`).
pub(crate) type FixedS = Fixed<8, 8, 4, 128>;
pub(crate) type B = <FixedS as Storage>::Bytes;
/// The pair over fixed storage.
pub(crate) type Pair = GenericPair<FixedS>;

pub(crate) fn version() -> ProtocolVersion {
    #[cfg(feature = "v5")]
    return ProtocolVersion::V5;
    #[cfg(not(feature = "v5"))]
    ProtocolVersion::V3_1_1
}

/// A message as the receiving application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) dup: bool,
}

/// Where a cut happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CutAfter {
    pub(crate) packet: PacketType,
    /// The packet reaches the peer before the link dies.
    pub(crate) delivered: bool,
}

std::thread_local! {
    /// Set by a test to run the pair's client reconnects in place
    /// ([`Connection::reconnect`] on the old connection) instead of through
    /// `into_session` and [`Connection::new_client`].
    pub(crate) static IN_PLACE: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

pub(crate) struct GenericPair<S: Storage> {
    /// The client connection kept across a cut (in-place mode, [`IN_PLACE`]).
    pub(crate) parked: Option<Connection<Client, S>>,
    pub(crate) now: Instant,
    pub(crate) version: ProtocolVersion,
    pub(crate) client: Option<Connection<Client, S>>,
    pub(crate) client_session: Option<Session<Client, S>>,
    pub(crate) server: Option<Connection<Server, S>>,
    pub(crate) server_session: Option<Session<Server, S>>,
    c2s: VecDeque<Vec<u8>>,
    s2c: VecDeque<Vec<u8>>,
    pub(crate) to_server: Vec<Delivered>,
    pub(crate) to_client: Vec<Delivered>,
    pub(crate) client_events: Vec<Event<S::Bytes>>,
    pub(crate) server_events: Vec<Event<S::Bytes>>,
    pub(crate) session_events: Vec<SessionEvent<S::Bytes>>,
    pub(crate) errors: Vec<ProtocolError>,
    pub(crate) cut_after: Option<CutAfter>,
    pub(crate) keep_alive: u16,
    pub(crate) client_config: Config,
    pub(crate) server_config: Config,
    /// Maximum Packet Size each side announces (client in CONNECT, server in CONNACK).
    pub(crate) client_max_packet: u32,
    pub(crate) server_max_packet: u32,
    /// Reason code the server application accepts QoS 1/2 messages with.
    pub(crate) server_ack: ReasonCode,
    /// Server tokens not yet accepted (when `hold_acks`).
    pub(crate) held: Vec<AckToken>,
    pub(crate) hold_acks: bool,
    pub(crate) will: Option<(&'static str, &'static [u8], u32)>,
    pub(crate) packets: usize,
    /// Every packet put on a link: (towards the server, bytes).
    pub(crate) wire: Vec<(bool, Vec<u8>)>,
}

impl<S: Storage> GenericPair<S> {
    pub(crate) fn new() -> Self {
        Self {
            parked: None,
            now: Instant::from_secs(1000),
            version: version(),
            client: None,
            client_session: Some(Session::new(QueuePolicy {
                max_messages: 8,
                ..QueuePolicy::default()
            })),
            server: None,
            server_session: None,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            to_server: Vec::new(),
            to_client: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            session_events: Vec::new(),
            errors: Vec::new(),
            cut_after: None,
            keep_alive: 0,
            client_config: Config::client(),
            server_config: Config {
                receive_maximum: 4,
                max_inflight: 4,
                queue: QueuePolicy {
                    max_messages: 8,
                    ..QueuePolicy::default()
                },
                ..Config::server()
            },
            client_max_packet: u32::MAX,
            server_max_packet: u32::MAX,
            server_ack: ReasonCode::Success,
            held: Vec::new(),
            hold_acks: false,
            will: None,
            packets: 0,
            wire: Vec::new(),
        }
    }

    pub(crate) fn client(&mut self) -> &mut Connection<Client, S> {
        self.client.as_mut().expect("client connected")
    }

    pub(crate) fn server(&mut self) -> &mut Connection<Server, S> {
        self.server.as_mut().expect("server connected")
    }

    /// Opens a new connection: the client sends CONNECT, the server accepts it with its
    /// stored session.
    pub(crate) fn connect(&mut self, clean_start: bool) {
        assert!(self.client.is_none() && self.server.is_none());
        let mut connect = Connect::new(self.version, "c1");
        connect.clean_start = clean_start;
        connect.keep_alive = self.keep_alive;
        if let Some((topic, payload, _delay)) = self.will {
            connect.will = Some(crate::codec::Will {
                topic: crate::topic::TopicName::new(topic).unwrap(),
                payload,
                qos: QoS::AtLeastOnce,
                retain: false,
                #[cfg(feature = "v5")]
                properties: crate::codec::WillProperties {
                    will_delay_interval: Some(_delay),
                    ..Default::default()
                },
            });
        }
        #[cfg(feature = "v5")]
        {
            connect.properties.session_expiry_interval = Some(NEVER_EXPIRES);
            connect.properties.receive_maximum =
                core::num::NonZeroU16::new(self.client_config.receive_maximum);
            connect.properties.maximum_packet_size =
                core::num::NonZeroU32::new(self.client_max_packet);
            connect.properties.topic_alias_maximum = Some(self.client_config.topic_alias_maximum);
        }
        let mut buf = [0u8; 512];
        let n = Packet::Connect(connect)
            .encode(self.version, &mut buf)
            .unwrap();
        self.client = Some(match self.parked.take() {
            Some(mut c) => {
                c.reconnect(self.now, &connect, self.client_config);
                c
            }
            None => {
                let session = self.client_session.take().expect("client session");
                Connection::new_client(self.now, &connect, session, self.client_config)
            }
        });
        // The server decodes the CONNECT from the wire.
        let Packet::Connect(decoded) = Packet::decode(self.version, &buf[..n]).unwrap() else {
            panic!("not a CONNECT")
        };
        let mut config = self.server_config;
        config.maximum_packet_size = self.server_max_packet;
        let session = self.server_session.take();
        self.server = Some(Connection::from_connect(self.now, &decoded, session, config).unwrap());
    }

    /// The link dies: packets in flight are lost, both sides see the transport close.
    pub(crate) fn cut(&mut self) {
        self.c2s.clear();
        self.s2c.clear();
        if let Some(mut c) = self.client.take() {
            c.handle_transport_closed(self.now);
            drain_events(&mut c, &mut self.client_events);
            if IN_PLACE.with(|f| f.get()) {
                self.parked = Some(c);
            } else {
                self.client_session = Some(c.into_session(self.now));
            }
        }
        if let Some(mut s) = self.server.take() {
            s.handle_transport_closed(self.now);
            drain_events(&mut s, &mut self.server_events);
            self.server_session = Some(s.into_session(self.now));
        }
        self.poll_server_session();
    }

    pub(crate) fn poll_server_session(&mut self) {
        if let Some(s) = self.server_session.as_mut() {
            while let Some(e) = s.poll_event(self.now) {
                self.session_events.push(e);
            }
        }
    }

    pub(crate) fn reconnect(&mut self) {
        self.cut();
        self.connect(false);
        self.drive();
    }

    /// Moves the clock and lets both sides handle their deadlines.
    pub(crate) fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        if let Some(c) = self.client.as_mut()
            && c.poll_timeout().is_some_and(|t| t <= self.now)
        {
            c.handle_timeout(self.now);
        }
        if let Some(s) = self.server.as_mut()
            && s.poll_timeout().is_some_and(|t| t <= self.now)
        {
            s.handle_timeout(self.now);
        }
        self.poll_server_session();
    }

    /// Drains transmissions of both sides onto the links. Returns whether anything moved.
    fn flush(&mut self) -> bool {
        let mut moved = false;
        let mut buf = [0u8; 1024];
        if let Some(c) = self.client.as_mut() {
            while let Some(n) = c.poll_transmit(self.now, &mut buf).unwrap() {
                assert!(
                    n as u64 <= u64::from(self.server_max_packet),
                    "client sent {n} bytes, server maximum {}",
                    self.server_max_packet
                );
                assert!(c.session().inflight_len() <= usize::from(c.limits().send_window));
                self.c2s.push_back(buf[..n].to_vec());
                moved = true;
            }
            drain_events(c, &mut self.client_events);
        }
        if let Some(s) = self.server.as_mut() {
            while let Some(n) = s.poll_transmit(self.now, &mut buf).unwrap() {
                assert!(
                    n as u64 <= u64::from(self.client_max_packet),
                    "server sent {n} bytes, client maximum {}",
                    self.client_max_packet
                );
                assert!(s.session().inflight_len() <= usize::from(s.limits().send_window));
                self.s2c.push_back(buf[..n].to_vec());
                moved = true;
            }
            drain_events(s, &mut self.server_events);
        }
        moved
    }

    /// Delivers one packet in each direction. Returns whether anything was delivered.
    pub(crate) fn step(&mut self) -> bool {
        let moved = self.flush();
        let mut delivered = false;
        if let Some(bytes) = self.c2s.pop_front() {
            delivered = true;
            if self.deliver(bytes, true) {
                return true;
            }
        }
        if let Some(bytes) = self.s2c.pop_front() {
            delivered = true;
            self.deliver(bytes, false);
        }
        moved || delivered
    }

    /// Runs until neither side has anything to send (or a cut happened).
    pub(crate) fn drive(&mut self) {
        for _ in 0..10_000 {
            if self.client.is_none() || self.server.is_none() {
                return;
            }
            if !self.step() {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Hands `bytes` to the receiving side; returns `true` if the link was cut.
    fn deliver(&mut self, bytes: Vec<u8>, to_server: bool) -> bool {
        self.packets += 1;
        self.wire.push((to_server, bytes.clone()));
        let packet = Packet::decode(self.version, &bytes).expect("engine sent a valid packet");
        let ptype = packet.packet_type();
        let cut = self.cut_after.filter(|c| c.packet == ptype);
        if let Some(c) = cut {
            self.cut_after = None;
            if !c.delivered {
                self.cut();
                return true;
            }
        }
        let now = self.now;
        let result = if to_server {
            let conn = self.server.as_mut().expect("server");
            let (out, accept) = receive(conn, now, packet, &mut self.to_server);
            if let Some(token) = accept {
                if self.hold_acks {
                    self.held.push(token);
                } else {
                    conn.accept(token, self.server_ack);
                }
            }
            out
        } else {
            let conn = self.client.as_mut().expect("client");
            let (out, accept) = receive(conn, now, packet, &mut self.to_client);
            if let Some(token) = accept {
                conn.accept(token, ReasonCode::Success);
            }
            out
        };
        if let Err(e) = result {
            self.errors.push(e);
        }
        if cut.is_some() {
            self.cut();
            return true;
        }
        false
    }

    /// Flushes the client only (the server is gone).
    pub(crate) fn flush_client_only(&mut self) {
        let mut buf = [0u8; 1024];
        if let Some(c) = self.client.as_mut() {
            while let Some(n) = c.poll_transmit(self.now, &mut buf).unwrap() {
                self.c2s.push_back(buf[..n].to_vec());
            }
        }
    }

    /// Flushes the client and delivers everything it sent to the server.
    pub(crate) fn drive_to_server(&mut self) {
        self.flush_client_only();
        while let Some(b) = self.c2s.pop_front() {
            if self.deliver(b, true) {
                return;
            }
        }
    }

    pub(crate) fn release_held(&mut self) {
        let held = core::mem::take(&mut self.held);
        let reason = self.server_ack;
        for t in held {
            match (self.server.as_mut(), self.server_session.as_mut()) {
                (Some(c), _) => c.accept(t, reason),
                (None, Some(s)) => s.accept(t, reason),
                (None, None) => {}
            }
        }
    }
}

fn receive<R: Role, S: Storage>(
    conn: &mut Connection<R, S>,
    now: Instant,
    packet: Packet<'_>,
    sink: &mut Vec<Delivered>,
) -> (Result<(), ProtocolError>, Option<AckToken>) {
    match conn.handle_packet(now, packet) {
        Ok(Some(Incoming::Publish { publish, token })) => {
            sink.push(Delivered {
                topic: publish.topic.into(),
                payload: publish.payload.to_vec(),
                qos: publish.qos_pid.qos(),
                dup: publish.dup,
            });
            (Ok(()), token)
        }
        Ok(_) => (Ok(()), None),
        Err(e) => (Err(e), None),
    }
}

fn drain_events<R: Role, S: Storage>(conn: &mut Connection<R, S>, out: &mut Vec<Event<S::Bytes>>) {
    while let Some(e) = conn.poll_event() {
        out.push(e);
    }
}

pub(crate) fn msg<B: OwnedBytes>(topic: &str, payload: &[u8], qos: QoS) -> Message<B> {
    Message::new(topic, payload, qos, false).unwrap()
}

/// Decoded PUBLISH packets seen on the wire in one direction: (pid, dup, payload).
pub(crate) fn wire_publishes<S: Storage>(
    p: &GenericPair<S>,
    to_server: bool,
) -> Vec<(Option<u16>, bool, Vec<u8>)> {
    p.wire
        .iter()
        .filter(|(dir, _)| *dir == to_server)
        .filter_map(|(_, b)| match Packet::decode(p.version, b).ok()? {
            Packet::Publish(publish) => Some((
                publish.qos_pid.packet_id().map(|id| id.get()),
                publish.dup,
                publish.payload.to_vec(),
            )),
            _ => None,
        })
        .collect()
}

/// Types of the packets seen on the wire in one direction.
pub(crate) fn wire_types<S: Storage>(p: &GenericPair<S>, to_server: bool) -> Vec<PacketType> {
    p.wire
        .iter()
        .filter(|(dir, _)| *dir == to_server)
        .filter_map(|(_, b)| Packet::decode(p.version, b).ok().map(|p| p.packet_type()))
        .collect()
}

pub(crate) fn payloads(d: &[Delivered]) -> Vec<Vec<u8>> {
    d.iter().map(|d| d.payload.clone()).collect()
}
