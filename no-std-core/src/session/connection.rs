//! [`Connection`]: the state of one network connection, driving a [`Session`].

#[cfg(feature = "v5")]
use super::alias::AliasError;
use super::alias::{AliasUse, InboundAliases, OutboundAliases};
use super::inbound::{AckToken, InFlight, InState, reason};
use super::keepalive::{KeepAlive, KeepAliveAction};
use super::message::Message;
use super::outbound::{NoOutbox, OutFlight, OutState, Outbox};
use super::queue::DropReason;
use super::role::{Client, ConnAckFields, Role, RoleState, Server};
use super::state::Session;
use super::storage::{Slots, Storage};
use super::time::{Instant, earliest};
use super::will::{NEVER_EXPIRES, StoredWill};
use super::{CloseReason, Config, Event, Incoming, ProtocolError, PublishError};
use crate::codec::{
    ConnAck, Connect, Disconnect, EncodeError, Packet, PacketId, PacketType, ProtocolVersion,
    PubResponse, Publish, QoS, QosPid, ReasonCode, encode_bare, encode_empty,
};

const RESERVED_CAP: usize = 4;
/// The largest packet MQTT can express: 1 + 4 + 268,435,455.
const PROTOCOL_MAX_PACKET: u32 = 268_435_460;

/// Packets the engine owes the peer outside the message flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    ConnAck { session_present: bool },
    PingReq,
    PingResp,
    PubComp { pid: PacketId, reason: ReasonCode },
    Disconnect { reason: ReasonCode },
}

/// Events without payload, queued in the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lite {
    Connected {
        session_present: bool,
    },
    Published {
        packet_id: PacketId,
        reason: ReasonCode,
    },
    Closed(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Client: CONNECT sent, waiting for CONNACK.
    AwaitConnAck,
    Open,
    Closed(CloseReason),
}

/// Limits in force on this connection, from CONNECT / CONNACK and [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Most outgoing QoS 1/2 messages in flight: the peer's Receive Maximum (5.0) bounded by
    /// [`Config::max_inflight`] and the storage capacity.
    pub send_window: u16,
    /// The peer's Maximum Packet Size (protocol maximum when it set none).
    pub peer_max_packet: u32,
    /// The peer's Topic Alias Maximum (aliases we may assign).
    pub peer_alias_max: u16,
    /// Our Receive Maximum: most incoming QoS 1/2 messages not yet completed.
    pub receive_maximum: u16,
    /// Our Topic Alias Maximum (aliases the peer may assign).
    pub alias_max: u16,
    /// The highest QoS the peer accepts from us (5.0 Maximum QoS of the server).
    pub max_qos: QoS,
}

/// Why [`Connection::from_connect`] failed; answer with [`AcceptError::reason_code`] in
/// the CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AcceptError {
    /// The Will does not fit the session's byte buffers.
    WillTooLarge,
}

impl AcceptError {
    /// The CONNACK reason code.
    pub fn reason_code(self) -> ReasonCode {
        match self {
            Self::WillTooLarge => ReasonCode::PacketTooLarge,
        }
    }
}

/// One network connection of a [`Session`]: keep-alive, topic-alias maps and the limits
/// negotiated in CONNECT / CONNACK. Sans-IO and deterministic.
///
/// # Call order
///
/// Create it with [`Connection::from_connect`] (server, after decoding CONNECT and deciding
/// to accept it) or [`Connection::new_client`] (client, after sending CONNECT); a client
/// can instead keep one `Connection` for its life ([`Connection::idle_client`], then
/// [`Connection::reconnect`] for each connection) so the session never moves. Then loop:
///
/// 1. **Inputs**: [`handle_packet`](Self::handle_packet) for each decoded packet (it
///    returns incoming application messages directly, borrowing the receive buffer, each
///    QoS 1/2 one with an [`AckToken`]), [`handle_timeout`](Self::handle_timeout) when the
///    deadline from [`poll_timeout`](Self::poll_timeout) is reached, and
///    [`handle_transport_closed`](Self::handle_transport_closed) when the socket dies.
/// 2. **Commands**: [`publish`](Self::publish), [`accept`](Self::accept) (releases the
///    PUBACK / PUBREC for a token), [`disconnect`](Self::disconnect),
///    [`allocate_packet_id`](Self::allocate_packet_id) (for SUBSCRIBE / UNSUBSCRIBE).
/// 3. **Outputs**, after every input or command: [`poll_transmit`](Self::poll_transmit)
///    until it returns `Ok(None)` (write each packet out), [`poll_event`](Self::poll_event)
///    until `None`, then wait for the socket, the application or
///    [`poll_timeout`](Self::poll_timeout).
///
/// Once [`close_reason`](Self::close_reason) is `Some`, drain `poll_transmit` (it yields at
/// most a DISCONNECT) and `poll_event`, close the socket and take the session back with
/// [`into_session`](Self::into_session).
///
/// Getters: [`session`](Self::session), [`version`](Self::version),
/// [`limits`](Self::limits), [`is_connected`](Self::is_connected).
///
/// Time is only what the caller passes in; nothing is re-sent on a timer (5.0
/// [MQTT-4.4.0-1]): a lost acknowledgement is the keep-alive's business.
///
/// ```
/// # #[cfg(feature = "v5")] {
/// use tern_core::codec::{Connect, Packet, ProtocolVersion, QoS, ReasonCode};
/// use tern_core::session::{
///     Client, Config, Connection, Event, Fixed, Incoming, Instant, Message, Server, Session,
/// };
///
/// type S = Fixed<4, 4, 2, 64>; // no allocation: capacities are const generics
/// let v5 = ProtocolVersion::V5;
/// let now = Instant::from_secs(0);
/// let connect = Connect::new(v5, "dev1");
/// // Client: the application has encoded and sent `connect`.
/// let mut client =
///     Connection::<Client, S>::new_client(now, &connect, Session::default(), Config::client());
/// // Server: the broker decoded it, authenticated it and found no stored session.
/// let mut server =
///     Connection::<Server, S>::from_connect(now, &connect, None, Config::server()).unwrap();
/// client.publish(Message::new("sensors/t", b"21.5", QoS::AtLeastOnce, false).unwrap()).unwrap();
///
/// let mut buf = [0u8; 128];
/// let n = server.poll_transmit(now, &mut buf).unwrap().unwrap(); // CONNACK
/// client.handle_packet(now, Packet::decode(v5, &buf[..n]).unwrap()).unwrap();
/// let n = client.poll_transmit(now, &mut buf).unwrap().unwrap(); // PUBLISH, id 1
/// let token = match server.handle_packet(now, Packet::decode(v5, &buf[..n]).unwrap()) {
///     Ok(Some(Incoming::Publish { publish, token })) => {
///         assert_eq!((publish.topic, publish.payload), ("sensors/t", &b"21.5"[..]));
///         token.unwrap()
///     }
///     other => panic!("{other:?}"),
/// };
/// // The PUBACK waits for the application's decision (route, authorise, persist...).
/// assert_eq!(server.poll_transmit(now, &mut buf), Ok(None));
/// server.accept(token, ReasonCode::NoMatchingSubscribers);
/// let n = server.poll_transmit(now, &mut buf).unwrap().unwrap(); // PUBACK 0x10
/// client.handle_packet(now, Packet::decode(v5, &buf[..n]).unwrap()).unwrap();
/// assert_eq!(client.poll_event(), Some(Event::Connected { session_present: false }));
/// assert!(matches!(
///     client.poll_event(),
///     Some(Event::Published { reason: ReasonCode::NoMatchingSubscribers, .. })
/// ));
/// assert_eq!(client.session().inflight_len(), 0);
/// # }
/// ```
#[derive(Debug)]
pub struct Connection<R: Role, S: Storage> {
    session: Session<R, S>,
    version: ProtocolVersion,
    state: State,
    keep_alive: KeepAlive,
    limits: Limits,
    aliases_in: InboundAliases<S::Bytes, S::Aliases>,
    aliases_out: OutboundAliases<S::Bytes, S::Aliases>,
    control: R::Controls<Control>,
    events: R::Events<Lite>,
    reserved: heapless::Vec<PacketId, RESERVED_CAP, u8>,
    /// What is used of the [`Config`] after construction (the rest is in `limits`,
    /// `keep_alive` and `connack`): a client keeps 1 byte rather than the whole `Config`.
    auto_ack: bool,
    /// Server: what the CONNACK announces of the `Config` (a client keeps nothing).
    #[cfg_attr(not(feature = "v5"), allow(dead_code))]
    connack: R::ConnAck,
    events_lost: u32,
}

fn nz16(v: u16) -> u16 {
    v.max(1)
}

impl<R: Role, S: Storage> Connection<R, S> {
    fn with_parts(
        now: Instant,
        session: Session<R, S>,
        version: ProtocolVersion,
        keep_alive_secs: u16,
        config: Config,
        state: State,
    ) -> Self {
        let mut conn = Self {
            session,
            version,
            state,
            keep_alive: KeepAlive::new(now, 0, config.ping_timeout),
            limits: Limits {
                send_window: 1,
                peer_max_packet: PROTOCOL_MAX_PACKET,
                peer_alias_max: 0,
                receive_maximum: 1,
                alias_max: 0,
                max_qos: QoS::ExactlyOnce,
            },
            aliases_in: InboundAliases::default(),
            aliases_out: OutboundAliases::default(),
            control: Default::default(),
            events: Default::default(),
            reserved: heapless::Vec::new(),
            auto_ack: config.auto_ack,
            connack: R::ConnAck::default(),
            events_lost: 0,
        };
        conn.reset(now, version, keep_alive_secs, config, state);
        conn
    }

    /// Sets every field but the session to its value at the start of a connection (one
    /// code path for a new `Connection` and a client reconnecting in place).
    fn reset(
        &mut self,
        now: Instant,
        version: ProtocolVersion,
        keep_alive_secs: u16,
        config: Config,
        state: State,
    ) {
        let inflight_cap = u16::try_from(self.session.outbound.capacity()).unwrap_or(u16::MAX);
        let inbound_cap = u16::try_from(self.session.inbound.capacity()).unwrap_or(u16::MAX);
        self.limits = Limits {
            send_window: nz16(config.max_inflight.min(inflight_cap)),
            peer_max_packet: PROTOCOL_MAX_PACKET,
            peer_alias_max: 0,
            // 3.1.1 cannot announce a limit: there the bound is what the storage holds.
            receive_maximum: if version.is_v5() {
                nz16(config.receive_maximum.min(inbound_cap))
            } else {
                nz16(inbound_cap)
            },
            alias_max: 0,
            max_qos: QoS::ExactlyOnce,
        };
        self.version = version;
        self.state = state;
        self.keep_alive = KeepAlive::new(now, keep_alive_secs, config.ping_timeout);
        self.aliases_in.clear();
        self.aliases_out.clear();
        self.control.clear();
        self.events.clear();
        self.reserved.clear();
        self.auto_ack = config.auto_ack;
        self.connack = R::ConnAck::from_config(&config);
        self.events_lost = 0;
    }

    // ---- getters ------------------------------------------------------------------------

    /// The session (for inspection or persistence while connected).
    pub fn session(&self) -> &Session<R, S> {
        &self.session
    }

    /// The session, mutably: e.g. to record a granted subscription
    /// ([`Session::subscribe`]) when handling SUBSCRIBE / SUBACK.
    pub fn session_mut(&mut self) -> &mut Session<R, S> {
        &mut self.session
    }

    /// The protocol version of this connection.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `true` between CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.state == State::Open
    }

    /// Why the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.state {
            State::Closed(r) => Some(r),
            _ => None,
        }
    }

    /// The keep-alive interval in force (`None`: disabled).
    pub fn keep_alive(&self) -> Option<super::Duration> {
        self.keep_alive.interval()
    }

    /// Events dropped because the application did not poll them in time.
    pub fn events_lost(&self) -> u32 {
        self.events_lost
    }

    /// Ends the connection (if it has not ended, as a lost transport at `now`) and hands
    /// the session back.
    pub fn into_session(mut self, now: Instant) -> Session<R, S> {
        self.close(now, CloseReason::TransportClosed);
        self.session
    }

    // ---- application commands -----------------------------------------------------------

    /// Queues a message for the peer (see [`Session::publish`]); it is sent by
    /// [`poll_transmit`](Self::poll_transmit) once the send window allows.
    #[inline]
    pub fn publish(&mut self, message: Message<S::Bytes>) -> Result<(), PublishError<S::Bytes>> {
        self.session.publish(message)
    }

    /// Accepts an incoming QoS 1/2 message with `reason` (5.0: e.g. 0x10 No matching
    /// subscribers, 0x87 Not authorized; 3.1.1 acknowledgements carry no reason code). The
    /// PUBACK / PUBREC goes out from [`poll_transmit`](Self::poll_transmit), in arrival
    /// order. A token from a message the session has since forgotten is ignored.
    pub fn accept(&mut self, token: AckToken, reason: ReasonCode) {
        self.session.accept(token, reason);
    }

    /// Closes the connection: queues a DISCONNECT with `reason` (a client always; a server
    /// only in 5.0, where e.g. 0x8E Session taken over or 0x8B Server shutting down apply).
    /// A client closing with 0x00 asks the server to discard its Will; 0x04 to publish it.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        if !R::IS_SERVER || self.version.is_v5() {
            self.push_control(Control::Disconnect { reason });
        }
        self.close(now, CloseReason::Local { reason });
    }

    /// The transport closed or failed without a DISCONNECT: an abnormal end (the server
    /// publishes the Will).
    pub fn handle_transport_closed(&mut self, now: Instant) {
        self.close(now, CloseReason::TransportClosed);
    }

    /// Reserves a packet identifier for a SUBSCRIBE or UNSUBSCRIBE the application encodes
    /// itself; it is released by the matching SUBACK / UNSUBACK. At most 4 at a time.
    pub fn allocate_packet_id(&mut self) -> Option<PacketId> {
        if self.reserved.is_full() {
            return None;
        }
        let pid = self.allocate_pid()?;
        self.reserved.push(pid).ok()?;
        Some(pid)
    }

    fn allocate_pid(&mut self) -> Option<PacketId> {
        self.session.index_pids();
        let session = &self.session;
        let reserved = &self.reserved;
        let mut pids = session.pids;
        let pid = pids.allocate(|id| session.pid_in_flight(id) || reserved.contains(&id))?;
        self.session.pids = pids;
        Some(pid)
    }

    // ---- inputs -------------------------------------------------------------------------

    /// Handles one decoded packet received at `now`.
    ///
    /// Returns an application message to deliver ([`Incoming::Publish`], with the topic
    /// already resolved from a topic alias), a packet that is the application's business
    /// ([`Incoming::Packet`]: SUBSCRIBE, UNSUBSCRIBE, SUBACK, UNSUBACK, AUTH), or `None`.
    /// An illegal packet yields the [`ProtocolError`], after which the connection is closed
    /// (5.0: a DISCONNECT with [`ProtocolError::reason_code`] is queued). Never panics.
    #[inline]
    pub fn handle_packet<'a>(
        &'a mut self,
        now: Instant,
        packet: Packet<'a>,
    ) -> Result<Option<Incoming<'a>>, ProtocolError> {
        self.handle_packet_ref(now, &packet)
    }

    /// [`handle_packet`](Self::handle_packet) by reference: for a caller that keeps the
    /// decoded packet where the decoder put it. A `Packet` is as large as its largest variant
    /// (CONNECT, hundreds of bytes with 5.0), and a broker handles millions of small ones
    /// (acknowledgements) a second: each copy into an argument is a `memcpy` call.
    pub fn handle_packet_ref<'a>(
        &'a mut self,
        now: Instant,
        packet: &Packet<'a>,
    ) -> Result<Option<Incoming<'a>>, ProtocolError> {
        if matches!(self.state, State::Closed(_)) {
            return Ok(None);
        }
        self.keep_alive.on_receive(R::IS_SERVER, now);
        match self.dispatch(now, packet) {
            Ok(Dispatched::None) => Ok(None),
            Ok(Dispatched::Packet(p)) => Ok(Some(Incoming::Packet(p))),
            Ok(Dispatched::Publish {
                publish,
                alias_index,
                token,
            }) => {
                let mut publish = publish;
                if let Some(i) = alias_index {
                    publish.topic = self.aliases_in.topic(i).unwrap_or_default();
                }
                Ok(Some(Incoming::Publish { publish, token }))
            }
            Err(e) => {
                self.fail(now, e);
                Err(e)
            }
        }
    }

    fn fail(&mut self, now: Instant, e: ProtocolError) {
        if self.version.is_v5() {
            self.push_control(Control::Disconnect {
                reason: e.reason_code(),
            });
        }
        self.close(now, CloseReason::Protocol(e));
    }

    fn dispatch<'a>(
        &mut self,
        now: Instant,
        packet: &Packet<'a>,
    ) -> Result<Dispatched<'a>, ProtocolError> {
        let unexpected = Err(ProtocolError::UnexpectedPacket(packet.packet_type()));
        if self.state == State::AwaitConnAck {
            // Client: the first packet from the server must be CONNACK (3.1.1
            // [MQTT-3.2.0-1], 5.0 [MQTT-3.2.0-1]).
            return match packet {
                Packet::ConnAck(ack) => {
                    self.on_connack(now, ack);
                    Ok(Dispatched::None)
                }
                _ => unexpected,
            };
        }
        match packet {
            Packet::Publish(p) => self.on_publish(*p),
            Packet::PubAck(ack) => self.on_puback(ack).map(|()| Dispatched::None),
            Packet::PubRec(ack) => self.on_pubrec(ack).map(|()| Dispatched::None),
            Packet::PubRel(ack) => self.on_pubrel(ack).map(|()| Dispatched::None),
            Packet::PubComp(ack) => self.on_pubcomp(ack).map(|()| Dispatched::None),
            Packet::PingReq if R::IS_SERVER => {
                self.push_control(Control::PingResp);
                Ok(Dispatched::None)
            }
            Packet::PingResp if !R::IS_SERVER => {
                self.keep_alive.on_pingresp();
                Ok(Dispatched::None)
            }
            Packet::Disconnect(d) => {
                self.on_disconnect(now, d)?;
                Ok(Dispatched::None)
            }
            Packet::Subscribe(_) | Packet::Unsubscribe(_) if R::IS_SERVER => {
                Ok(Dispatched::Packet(*packet))
            }
            Packet::SubAck(a) if !R::IS_SERVER => {
                self.release_reserved(a.packet_id);
                Ok(Dispatched::Packet(*packet))
            }
            Packet::UnsubAck(a) if !R::IS_SERVER => {
                self.release_reserved(a.packet_id);
                Ok(Dispatched::Packet(*packet))
            }
            #[cfg(feature = "v5")]
            Packet::Auth(_) => Ok(Dispatched::Packet(*packet)),
            // A second CONNECT (3.1.1 [MQTT-3.1.0-2], 5.0 [MQTT-3.1.0-2]), a CONNACK after
            // the first, or a packet of the wrong direction.
            _ => unexpected,
        }
    }

    fn release_reserved(&mut self, pid: PacketId) {
        if let Some(i) = self.reserved.iter().position(|&p| p == pid) {
            self.reserved.swap_remove(i);
        }
    }

    fn on_publish<'a>(&mut self, p: Publish<'a>) -> Result<Dispatched<'a>, ProtocolError> {
        #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
        let mut alias_index = None;
        #[cfg(feature = "v5")]
        if let Some(alias) = p.properties.topic_alias {
            alias_index = self
                .aliases_in
                .resolve(self.limits.alias_max, alias, p.topic)
                .map_err(|e| match e {
                    AliasError::OutOfRange => ProtocolError::TopicAliasInvalid,
                    AliasError::Unknown => ProtocolError::UnknownTopicAlias,
                    AliasError::TooLong => ProtocolError::ResourceExhausted,
                })?;
        }
        let (pid, qos) = match p.qos_pid {
            QosPid::AtMostOnce => {
                return Ok(Dispatched::Publish {
                    publish: p,
                    alias_index,
                    token: None,
                });
            }
            QosPid::AtLeastOnce(pid) => (pid, QoS::AtLeastOnce),
            QosPid::ExactlyOnce(pid) => (pid, QoS::ExactlyOnce),
        };
        #[cfg(not(feature = "qos2"))]
        if qos == QoS::ExactlyOnce {
            return Err(ProtocolError::QosNotSupported);
        }
        if let Some(i) = self.session.inbound_position_new(pid) {
            self.session.inbound_changed(i);
            let Some(e) = self.session.inbound.get_mut(i) else {
                return Ok(Dispatched::None);
            };
            return match (qos, e.state) {
                // A duplicate of a QoS 1 message not yet acknowledged: the pending PUBACK
                // covers it.
                (QoS::AtLeastOnce, InState::Qos1Undecided | InState::Qos1Ack(_)) => {
                    Ok(Dispatched::None)
                }
                // QoS 2 method B: acknowledge again, do not deliver again (3.1.1
                // [MQTT-4.3.3-2]).
                #[cfg(feature = "qos2")]
                (QoS::ExactlyOnce, InState::Qos2Rec { reason, .. }) => {
                    e.state = InState::Qos2Rec {
                        reason,
                        sent: false,
                    };
                    Ok(Dispatched::None)
                }
                #[cfg(feature = "qos2")]
                (QoS::ExactlyOnce, InState::Qos2Undecided | InState::Qos2Comp) => {
                    Ok(Dispatched::None)
                }
                _ => Err(ProtocolError::PacketIdInUse),
            };
        }
        // 5.0 [MQTT-3.3.4-9] / [MQTT-3.3.4-7]: the peer may not exceed our Receive Maximum.
        if self.session.inbound.len() >= usize::from(self.limits.receive_maximum) {
            return Err(ProtocolError::ReceiveMaximumExceeded);
        }
        let auto = self.auto_ack;
        let state = match qos {
            QoS::AtLeastOnce if auto => InState::Qos1Ack(0),
            #[cfg(feature = "qos2")]
            QoS::ExactlyOnce if auto => InState::Qos2Rec {
                reason: 0,
                sent: false,
            },
            #[cfg(feature = "qos2")]
            QoS::ExactlyOnce => InState::Qos2Undecided,
            _ => InState::Qos1Undecided,
        };
        self.session
            .inbound
            .push_back(InFlight { pid, state })
            .map_err(|_| ProtocolError::ReceiveMaximumExceeded)?;
        let last = self.session.inbound.len().saturating_sub(1);
        self.session.inbound_changed(last);
        Ok(Dispatched::Publish {
            publish: p,
            alias_index,
            token: (!auto).then_some(AckToken { pid, qos }),
        })
    }

    fn complete(&mut self, i: usize, pid: PacketId, reason: ReasonCode) {
        self.session.remove_outbound(i);
        self.push_event(Lite::Published {
            packet_id: pid,
            reason,
        });
    }

    fn on_puback(&mut self, ack: &PubResponse<'_>) -> Result<(), ProtocolError> {
        let Some(i) = self.session.outbound_position(ack.packet_id) else {
            // Unknown identifier: a stale duplicate; ignored.
            return Ok(());
        };
        match self.session.entry(i).map(|e| &e.state) {
            Some(OutState::AwaitPubAck(_) | OutState::OutboxPubAck) => {
                self.complete(i, ack.packet_id, ack_reason(ack));
                Ok(())
            }
            _ => Err(ProtocolError::AckMismatch(PacketType::PubAck)),
        }
    }

    fn on_pubrec(&mut self, ack: &PubResponse<'_>) -> Result<(), ProtocolError> {
        let Some(i) = self.session.outbound_position(ack.packet_id) else {
            return Ok(());
        };
        match self.session.outbound.get_mut(i) {
            #[cfg(feature = "qos2")]
            Some(e) if matches!(e.state, OutState::AwaitPubRec(_) | OutState::OutboxPubRec) => {
                let r = ack_reason(ack);
                if r.is_error() {
                    // 5.0 4.3.3: a PUBREC of 0x80 or above ends the flow; no PUBREL.
                    self.complete(i, ack.packet_id, r);
                } else {
                    e.state = OutState::AwaitPubComp;
                    self.session.set_resend(i, true);
                }
                Ok(())
            }
            // A duplicate PUBREC after PUBREL was sent: ignored (the PUBREL is on its way).
            #[cfg(feature = "qos2")]
            Some(e) if matches!(e.state, OutState::AwaitPubComp) => Ok(()),
            _ => Err(ProtocolError::AckMismatch(PacketType::PubRec)),
        }
    }

    fn on_pubcomp(&mut self, ack: &PubResponse<'_>) -> Result<(), ProtocolError> {
        let Some(i) = self.session.outbound_position(ack.packet_id) else {
            return Ok(());
        };
        match self.session.entry(i) {
            #[cfg(feature = "qos2")]
            Some(e) if matches!(e.state, OutState::AwaitPubComp) => {
                // PUBCOMP before our PUBREL went out (e.resend) would be a peer error, but
                // completing is the only sensible reaction.
                self.complete(i, ack.packet_id, ack_reason(ack));
                Ok(())
            }
            _ => Err(ProtocolError::AckMismatch(PacketType::PubComp)),
        }
    }

    fn on_pubrel(&mut self, ack: &PubResponse<'_>) -> Result<(), ProtocolError> {
        let pid = ack.packet_id;
        let Some(i) = self.session.inbound_position(pid) else {
            // Unknown identifier: answer PUBCOMP anyway (the message was completed before);
            // 5.0 says so with 0x92 Packet Identifier not found.
            let reason = if self.version.is_v5() {
                ReasonCode::PacketIdentifierNotFound
            } else {
                ReasonCode::Success
            };
            self.push_control(Control::PubComp { pid, reason });
            return Ok(());
        };
        self.session.inbound_changed(i);
        match self.session.inbound.get_mut(i) {
            #[cfg(feature = "qos2")]
            Some(e)
                if matches!(
                    e.state,
                    InState::Qos2Rec { sent: true, .. } | InState::Qos2Comp
                ) =>
            {
                e.state = InState::Qos2Comp;
                Ok(())
            }
            _ => Err(ProtocolError::AckMismatch(PacketType::PubRel)),
        }
    }

    fn on_disconnect(&mut self, now: Instant, d: &Disconnect<'_>) -> Result<(), ProtocolError> {
        let _ = d;
        #[allow(unused_mut)]
        let reason;
        #[cfg(not(feature = "v5"))]
        {
            reason = ReasonCode::NORMAL_DISCONNECTION;
        }
        #[cfg(feature = "v5")]
        {
            reason = d.reason;
            if let (Some(new), Some(s)) = (
                d.properties.session_expiry_interval,
                self.session.role.server_mut(),
            ) {
                if s.expiry_interval == 0 && new != 0 {
                    // 5.0 3.14.2.2.2: may not be raised from 0 (Protocol Error).
                    return Err(ProtocolError::SessionExpiryFromZero);
                }
                s.expiry_interval = new;
            }
        }
        self.close(now, CloseReason::Disconnected { reason });
        Ok(())
    }

    fn on_connack(&mut self, now: Instant, ack: &ConnAck<'_>) {
        if ack.reason.is_error() {
            self.close(now, CloseReason::Rejected { reason: ack.reason });
            return;
        }
        #[cfg(feature = "v5")]
        if self.version.is_v5() {
            let p = &ack.properties;
            if let Some(rm) = p.receive_maximum {
                self.limits.send_window = self.limits.send_window.min(rm.get());
            }
            if let Some(m) = p.maximum_packet_size {
                self.limits.peer_max_packet = m.get();
            }
            self.limits.peer_alias_max = p.topic_alias_maximum.unwrap_or(0);
            if let Some(ka) = p.server_keep_alive {
                self.keep_alive.set_interval(ka);
            }
            if let Some(q) = p.maximum_qos {
                self.limits.max_qos = q;
            }
        }
        if ack.session_present {
            self.session.resume();
        } else {
            // QoS 2 flows past PUBREC are complete: reported (the first 32), in order.
            let (events, events_lost) = (&mut self.events, &mut self.events_lost);
            let mut reported = 0u8;
            let lost = self.session.restart(|pid| {
                if reported < 32 {
                    reported += 1;
                    let done = Lite::Published {
                        packet_id: pid,
                        reason: ReasonCode::Success,
                    };
                    if events.push_back(done).is_err() {
                        *events_lost = events_lost.saturating_add(1);
                    }
                }
            });
            self.events_lost = self
                .events_lost
                .saturating_add(u32::try_from(lost).unwrap_or(u32::MAX));
        }
        self.state = State::Open;
        self.push_event(Lite::Connected {
            session_present: ack.session_present,
        });
    }

    /// Handles the deadline from [`poll_timeout`](Self::poll_timeout): keep-alive (server:
    /// close after 1.5 x Keep Alive of silence; client: PINGREQ, or close when the PINGRESP
    /// is late) and the expiry of queued messages. Only what is due at `now` happens, so a
    /// call before the deadline (or without one) changes nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        self.session.queue.expire(now);
        match self.keep_alive.on_timeout(R::IS_SERVER, now) {
            KeepAliveAction::None => {}
            KeepAliveAction::SendPing => {
                if self.state == State::Open {
                    self.push_control(Control::PingReq);
                    self.keep_alive.on_ping_sent(R::IS_SERVER, now);
                }
            }
            KeepAliveAction::Expired => {
                if R::IS_SERVER && self.version.is_v5() {
                    self.push_control(Control::Disconnect {
                        reason: ReasonCode::KeepAliveTimeout,
                    });
                }
                self.close(now, CloseReason::KeepAliveTimeout);
            }
        }
    }

    fn close(&mut self, now: Instant, reason: CloseReason) {
        if matches!(self.state, State::Closed(_)) {
            return;
        }
        self.state = State::Closed(reason);
        self.push_event(Lite::Closed(reason));
        if let Some(s) = self.session.role.server_mut() {
            s.on_connection_end(now, reason.publishes_will());
        }
    }

    fn push_control(&mut self, c: Control) {
        if self.control.push_back(c).is_err() {
            // Only reachable if the caller does not drain poll_transmit after each input:
            // PINGRESP / PUBCOMP for an unknown identifier are then dropped.
            debug!("control queue full");
        }
    }

    fn push_event(&mut self, e: Lite) {
        if self.events.push_back(e).is_err() {
            self.events_lost = self.events_lost.saturating_add(1);
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next instant [`handle_timeout`](Self::handle_timeout) must be called, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.state, State::Closed(_)) {
            return None;
        }
        earliest(
            self.keep_alive.deadline(R::IS_SERVER),
            self.session.queue.next_expiry(),
        )
    }

    /// The next event: CONNACK received, an outgoing flow completed, a message dropped
    /// after it was queued, the connection closed.
    pub fn poll_event(&mut self) -> Option<Event<S::Bytes>> {
        if let Some(e) = self.events.pop_front() {
            return Some(match e {
                Lite::Connected { session_present } => Event::Connected { session_present },
                Lite::Published { packet_id, reason } => Event::Published { packet_id, reason },
                Lite::Closed(r) => Event::Closed(r),
            });
        }
        self.session
            .queue
            .pop_dropped()
            .map(|(message, reason)| Event::Dropped { message, reason })
    }

    /// Encodes the next packet to send into `out` and returns its length; `Ok(None)` when
    /// there is nothing to send. On [`EncodeError::InsufficientSize`] nothing changed: grow
    /// `out` and call again.
    ///
    /// Order: control packets (CONNACK first, PINGREQ/PINGRESP, DISCONNECT), then
    /// acknowledgements of incoming messages (in arrival order), then re-sent PUBLISH
    /// (DUP) and PUBREL packets in their original order, then new messages from the queue
    /// while the send window allows.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<usize>, EncodeError> {
        self.poll_transmit_with(now, out, &mut NoOutbox)
    }

    /// [`poll_transmit`](Self::poll_transmit) for an application that keeps (some of) its
    /// outgoing PUBLISH packets itself: a re-sent one is written by `outbox`. Its new
    /// messages go after everything this returns: once it returns `Ok(None)`, start each
    /// with [`start_outbox_publish`](Self::start_outbox_publish).
    pub fn poll_transmit_with(
        &mut self,
        now: Instant,
        out: &mut [u8],
        outbox: &mut impl Outbox,
    ) -> Result<Option<usize>, EncodeError> {
        if let Some(&c) = self.control.get(0) {
            let n = self.encode_control(c, out)?;
            self.control.pop_front();
            if c == Control::PingReq {
                self.keep_alive.on_ping_sent(R::IS_SERVER, now);
            } else {
                self.keep_alive.on_transmit(R::IS_SERVER, now);
            }
            return Ok(Some(n));
        }
        if self.state != State::Open {
            return Ok(None);
        }
        if let Some(n) = self.transmit_ack(out)? {
            self.keep_alive.on_transmit(R::IS_SERVER, now);
            return Ok(Some(n));
        }
        if let Some(n) = self.transmit_resend(now, out, outbox)? {
            self.keep_alive.on_transmit(R::IS_SERVER, now);
            return Ok(Some(n));
        }
        if let Some(n) = self.transmit_queued(now, out)? {
            self.keep_alive.on_transmit(R::IS_SERVER, now);
            return Ok(Some(n));
        }
        Ok(None)
    }

    fn encode_control(&self, c: Control, out: &mut [u8]) -> Result<usize, EncodeError> {
        match c {
            Control::ConnAck { session_present } if R::IS_SERVER => {
                #[allow(unused_mut)]
                let mut ack = ConnAck::new(session_present, ReasonCode::Success);
                #[cfg(feature = "v5")]
                if self.version.is_v5() {
                    let p = &mut ack.properties;
                    p.receive_maximum = core::num::NonZeroU16::new(self.limits.receive_maximum);
                    p.topic_alias_maximum =
                        (self.limits.alias_max != 0).then_some(self.limits.alias_max);
                    let max = self.connack.maximum_packet_size();
                    p.maximum_packet_size = (max < PROTOCOL_MAX_PACKET)
                        .then(|| core::num::NonZeroU32::new(max))
                        .flatten();
                    p.server_keep_alive = self.connack.server_keep_alive();
                    #[cfg(not(feature = "qos2"))]
                    {
                        p.maximum_qos = Some(QoS::AtLeastOnce);
                    }
                }
                ack.encode(self.version, out)
            }
            Control::PingReq => encode_empty(PacketType::PingReq, out),
            Control::PingResp if R::IS_SERVER => encode_empty(PacketType::PingResp, out),
            // Only a server queues CONNACK and PINGRESP (the guard keeps their encoders
            // out of client firmware); nothing to write.
            Control::ConnAck { .. } | Control::PingResp => Ok(0),
            Control::PubComp { pid, reason } => {
                self.encode_ack(PacketType::PubComp, pid, reason, out)
            }
            Control::Disconnect { reason } => encode_bare(
                self.version.is_v5(),
                PacketType::Disconnect,
                None,
                reason,
                out,
            ),
        }
    }

    /// A PUBACK / PUBREC / PUBREL / PUBCOMP for `pid` with `reason` (5.0; 3.1.1 carries
    /// none). Acknowledgements never carry a reason string or user properties, so they can
    /// never exceed the peer's Maximum Packet Size (5.0 [MQTT-3.1.2-25] ff.).
    fn encode_ack(
        &self,
        packet_type: PacketType,
        pid: PacketId,
        reason: ReasonCode,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        encode_bare(self.version.is_v5(), packet_type, Some(pid), reason, out)
    }

    /// PUBACK / PUBREC (in arrival order, held behind undecided messages) and PUBCOMP.
    fn transmit_ack(&mut self, out: &mut [u8]) -> Result<Option<usize>, EncodeError> {
        let mut blocked = false;
        // Entries before the hint await their PUBREL (see `Session::ack_scan_from`); so do
        // those this scan passes while `idle`, and the hint moves past them.
        let mut i = self.session.ack_scan_from();
        #[cfg(feature = "qos2")]
        let mut idle = true;
        while let Some(&e) = self.session.inbound_entry(i) {
            if e.is_undecided() {
                blocked = true;
            }
            match e.state {
                InState::Qos1Ack(r) if !blocked => {
                    let n = self.encode_ack(PacketType::PubAck, e.pid, reason(r), out)?;
                    self.session.inbound.remove(i);
                    return Ok(Some(n));
                }
                #[cfg(feature = "qos2")]
                InState::Qos2Rec {
                    reason: r,
                    sent: false,
                } if !blocked => {
                    let n = self.encode_ack(PacketType::PubRec, e.pid, reason(r), out)?;
                    if r >= 0x80 && self.version.is_v5() {
                        // The flow ends here; the identifier is free (5.0 4.3.3). (3.1.1 has
                        // no way to refuse: the PUBREC went out without a reason code.)
                        self.session.inbound.remove(i);
                    } else if let Some(e) = self.session.inbound.get_mut(i) {
                        e.state = InState::Qos2Rec {
                            reason: r,
                            sent: true,
                        };
                    }
                    return Ok(Some(n));
                }
                #[cfg(feature = "qos2")]
                InState::Qos2Comp => {
                    let n =
                        self.encode_ack(PacketType::PubComp, e.pid, ReasonCode::Success, out)?;
                    self.session.inbound.remove(i);
                    return Ok(Some(n));
                }
                #[cfg(feature = "qos2")]
                InState::Qos2Rec { sent: true, .. } if idle => {
                    self.session.ack_scanned_to(i + 1);
                }
                #[cfg(feature = "qos2")]
                _ => idle = false,
                #[cfg(not(feature = "qos2"))]
                _ => {}
            }
            i += 1;
        }
        Ok(None)
    }

    /// Re-sent PUBLISH (DUP) and PUBREL, in their original order.
    fn transmit_resend(
        &mut self,
        now: Instant,
        out: &mut [u8],
        outbox: &mut impl Outbox,
    ) -> Result<Option<usize>, EncodeError> {
        let max = usize::try_from(self.limits.peer_max_packet).unwrap_or(usize::MAX);
        // Without queue slots no message was ever stored here (see `stores_messages`).
        let stored = self.session.queue.stores_messages();
        while let Some(i) = self.session.next_resend() {
            let Some(e) = self.session.entry(i) else {
                return Ok(None);
            };
            let pid = e.pid;
            let result = match &e.state {
                OutState::AwaitPubAck(m) if stored => {
                    self.encode_publish(now, m, QosPid::AtLeastOnce(pid), true, out)
                }
                #[cfg(feature = "qos2")]
                OutState::AwaitPubRec(m) if stored => {
                    self.encode_publish(now, m, QosPid::ExactlyOnce(pid), true, out)
                }
                #[cfg(feature = "qos2")]
                OutState::AwaitPubRec(_) => Err(Send::TooLarge),
                OutState::AwaitPubAck(_) => Err(Send::TooLarge),
                #[cfg(feature = "qos2")]
                OutState::AwaitPubComp => self
                    .encode_ack(PacketType::PubRel, pid, ReasonCode::Success, out)
                    .map(|n| (n, AliasUse::None))
                    .map_err(Send::Encode),
                OutState::OutboxPubAck => from_outbox(outbox, QosPid::AtLeastOnce(pid), out, max),
                #[cfg(feature = "qos2")]
                OutState::OutboxPubRec => from_outbox(outbox, QosPid::ExactlyOnce(pid), out, max),
            };
            match result {
                Ok((n, alias)) => {
                    self.commit_alias(alias, i);
                    self.session.set_resend(i, false);
                    return Ok(Some(n));
                }
                Err(Send::Encode(err)) => return Err(err),
                Err(Send::TooLarge) => {
                    // The peer's limit shrank since the first attempt: the message is
                    // treated as delivered and reported dropped (5.0 [MQTT-3.1.2-25]).
                    // (Stored messages exist only with queue slots: `stored`.)
                    match self.session.remove_outbound(i).map(|e| e.state) {
                        Some(OutState::AwaitPubAck(m)) if stored => {
                            self.session.report_drop(m, DropReason::TooLarge)
                        }
                        #[cfg(feature = "qos2")]
                        Some(OutState::AwaitPubRec(m)) if stored => {
                            self.session.report_drop(m, DropReason::TooLarge)
                        }
                        #[cfg(feature = "qos2")]
                        Some(OutState::OutboxPubAck | OutState::OutboxPubRec) => {
                            self.push_event(Lite::Published {
                                packet_id: pid,
                                reason: ReasonCode::PacketTooLarge,
                            })
                        }
                        #[cfg(not(feature = "qos2"))]
                        Some(OutState::OutboxPubAck) => self.push_event(Lite::Published {
                            packet_id: pid,
                            reason: ReasonCode::PacketTooLarge,
                        }),
                        _ => {}
                    }
                }
            }
        }
        Ok(None)
    }

    fn commit_alias(&mut self, alias: AliasUse, i: usize) {
        if let AliasUse::Assign(a) = alias
            && let Some(m) = self.session.outbound.get(i).and_then(|e| e.message())
        {
            self.aliases_out.commit(a, m.topic_bytes());
        }
    }

    /// New messages from the queue, while the window allows.
    fn transmit_queued(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<usize>, EncodeError> {
        if !self.session.queue.stores_messages() {
            return Ok(None);
        }
        self.session.queue.expire(now);
        loop {
            self.session.index_pids();
            let Some(front) = self.session.queue.front() else {
                return Ok(None);
            };
            #[allow(unused_mut)]
            let mut qos = front.qos().min(self.limits.max_qos);
            #[cfg(not(feature = "qos2"))]
            {
                qos = qos.min(QoS::AtLeastOnce);
            }
            // The allocator advances only once the PUBLISH is encoded.
            let mut pids = self.session.pids;
            let qos_pid = if qos == QoS::AtMostOnce {
                QosPid::AtMostOnce
            } else {
                // 5.0 [MQTT-3.3.4-7] (client) / [MQTT-3.3.4-9] (server): no more than the
                // peer's Receive Maximum unacknowledged.
                if self.session.outbound.len() >= usize::from(self.limits.send_window)
                    || self.session.outbound.len() >= self.session.outbound.capacity()
                {
                    return Ok(None);
                }
                let session = &self.session;
                let reserved = &self.reserved;
                let Some(pid) =
                    pids.allocate(|id| session.pid_in_flight(id) || reserved.contains(&id))
                else {
                    return Ok(None);
                };
                if qos == QoS::AtLeastOnce {
                    QosPid::AtLeastOnce(pid)
                } else {
                    QosPid::ExactlyOnce(pid)
                }
            };
            match self.encode_publish(now, front, qos_pid, false, out) {
                Err(Send::Encode(e)) => return Err(e),
                Err(Send::TooLarge) => {
                    // 5.0 [MQTT-3.1.2-25]: not sent, treated as delivered, reported.
                    self.session.queue.drop_front(DropReason::TooLarge);
                }
                Ok((n, alias)) => {
                    let Some(mut msg) = self.session.queue.pop_front() else {
                        return Ok(None);
                    };
                    if let AliasUse::Assign(a) = alias {
                        self.aliases_out.commit(a, msg.topic_bytes());
                    }
                    if let Some(pid) = qos_pid.packet_id() {
                        self.session.pids = pids;
                        msg.set_qos(qos);
                        let state = match qos_pid {
                            #[cfg(feature = "qos2")]
                            QosPid::ExactlyOnce(_) => OutState::AwaitPubRec(msg),
                            _ => OutState::AwaitPubAck(msg),
                        };
                        // Capacity checked above.
                        let _ = self.session.push_outbound(OutFlight {
                            pid,
                            state,
                            resend: false,
                        });
                    }
                    return Ok(Some(n));
                }
            }
        }
    }

    /// The QoS a message published at `qos` goes out with on this connection: at most the
    /// peer's Maximum QoS (and 1 without the `qos2` feature).
    pub fn send_qos(&self, qos: QoS) -> QoS {
        #[allow(unused_mut)]
        let mut q = qos.min(self.limits.max_qos);
        #[cfg(not(feature = "qos2"))]
        {
            q = q.min(QoS::AtLeastOnce);
        }
        q
    }

    /// Starts the flow of a new PUBLISH at `qos` (from [`send_qos`](Self::send_qos)) that
    /// the application sends from its own [`Outbox`], once
    /// [`poll_transmit_with`](Self::poll_transmit_with) has nothing to send: returns the
    /// packet identifier to write into it (`QosPid::AtMostOnce` for QoS 0), or `None` while
    /// it must wait (not connected; the send window, i.e. the peer's Receive Maximum
    /// [MQTT-3.3.4-7], or the in-flight table is full). The caller writes the packet right
    /// away; the engine then awaits its acknowledgement (reported as
    /// [`Event::Published`]) and asks the outbox for it again when a resumed session
    /// re-sends it. A new session (Session Present 0) forgets such flows: the application
    /// sends those messages again as new ones
    /// ([`Session::outbox_pending`](super::Session::outbox_pending) tells which are gone).
    pub fn start_outbox_publish(&mut self, now: Instant, qos: QoS) -> Option<QosPid> {
        if self.state != State::Open {
            return None;
        }
        let qos_pid = if qos == QoS::AtMostOnce {
            QosPid::AtMostOnce
        } else {
            let len = self.session.outbound.len();
            if len >= usize::from(self.limits.send_window)
                || len >= self.session.outbound.capacity()
            {
                return None;
            }
            let pid = self.allocate_pid()?;
            let (state, qos_pid) = match qos {
                #[cfg(feature = "qos2")]
                QoS::ExactlyOnce => (OutState::OutboxPubRec, QosPid::ExactlyOnce(pid)),
                _ => (OutState::OutboxPubAck, QosPid::AtLeastOnce(pid)),
            };
            self.session
                .push_outbound(OutFlight {
                    pid,
                    state,
                    resend: false,
                })
                .ok()?;
            qos_pid
        };
        self.keep_alive.on_transmit(R::IS_SERVER, now);
        Some(qos_pid)
    }

    fn encode_publish(
        &self,
        now: Instant,
        msg: &Message<S::Bytes>,
        qos_pid: QosPid,
        dup: bool,
        out: &mut [u8],
    ) -> Result<(usize, AliasUse), Send> {
        #[cfg(feature = "alloc")]
        if let Some(n) = self.copy_encoded(msg, qos_pid, dup, out)? {
            return Ok((n, AliasUse::None));
        }
        #[allow(unused_mut)]
        let mut p = msg.to_publish(now, qos_pid, dup);
        #[allow(unused_mut)]
        let mut alias = AliasUse::None;
        #[cfg(feature = "v5")]
        if self.version.is_v5() {
            alias = self
                .aliases_out
                .plan(self.limits.peer_alias_max, p.topic.as_bytes());
            match alias {
                AliasUse::None => {}
                AliasUse::Assign(a) => p.properties.topic_alias = Some(a),
                AliasUse::Reuse(a) => {
                    p.properties.topic_alias = Some(a);
                    p.topic = "";
                }
            }
        }
        // 5.0 [MQTT-3.1.2-24]: never send a packet larger than the peer's maximum. One
        // counting pass checks the limit and sizes the write.
        let max = usize::try_from(self.limits.peer_max_packet).unwrap_or(usize::MAX);
        let encode = |p: &Publish<'_>, out: &mut [u8]| {
            p.encode_limited(self.version, out, max)
                .map_err(|e| match e {
                    // The packet is sendable; the caller's buffer is short: grow and retry.
                    EncodeError::InsufficientSize { .. } => Send::Encode(e),
                    // Over the peer's limit, or not encodable at all: drop it.
                    _ => Send::TooLarge,
                })
        };
        let result = encode(&p, out);
        #[cfg(feature = "v5")]
        if matches!(alias, AliasUse::Assign(_)) && matches!(result, Err(Send::TooLarge)) {
            // Assigning an alias costs 3 bytes: send without one rather than not at all.
            p.properties.topic_alias = None;
            return encode(&p, out).map(|n| (n, AliasUse::None));
        }
        result.map(|n| (n, alias))
    }
}

#[cfg(feature = "alloc")]
impl<R: Role, S: Storage> Connection<R, S> {
    /// Sends `msg` by copying its encoding from [`Message::with_encoded`] and patching the
    /// Packet Identifier and DUP, when that copy is exactly what encoding would produce:
    /// same version and QoS, no topic alias to apply (the peer accepts none) and within the
    /// peer's Maximum Packet Size. `Ok(None)`: encode normally.
    fn copy_encoded(
        &self,
        msg: &Message<S::Bytes>,
        qos_pid: QosPid,
        dup: bool,
        out: &mut [u8],
    ) -> Result<Option<usize>, Send> {
        let Some(enc) = msg.encoded() else {
            return Ok(None);
        };
        let bytes = enc.bytes.as_ref();
        let len = bytes.len();
        if enc.version != self.version
            || qos_pid.qos() != msg.qos()
            || (self.version.is_v5() && self.limits.peer_alias_max != 0)
            || u32::try_from(len).map_or(true, |n| n > self.limits.peer_max_packet)
        {
            return Ok(None);
        }
        let dst = out
            .get_mut(..len)
            .ok_or(Send::Encode(EncodeError::InsufficientSize {
                required: len,
            }))?;
        dst.copy_from_slice(bytes);
        let header = enc.header();
        if let Some(pid) = qos_pid.packet_id() {
            header.set_packet_id(dst, pid).map_err(Send::Encode)?;
        }
        header.set_dup(dst, dup).map_err(Send::Encode)?;
        Ok(Some(len))
    }
}

/// A re-sent PUBLISH from the application's outbox.
fn from_outbox(
    outbox: &mut impl Outbox,
    qos_pid: QosPid,
    out: &mut [u8],
    max: usize,
) -> Result<(usize, AliasUse), Send> {
    match outbox.resend(qos_pid, out, max) {
        Ok(Some(n)) => Ok((n, AliasUse::None)),
        Ok(None) => Err(Send::TooLarge),
        Err(e) => Err(Send::Encode(e)),
    }
}

/// Why a PUBLISH could not be encoded.
enum Send {
    /// Larger than the peer accepts (or not encodable at all): drop it.
    TooLarge,
    /// The caller's buffer: grow and retry.
    Encode(EncodeError),
}

enum Dispatched<'a> {
    None,
    Packet(Packet<'a>),
    Publish {
        publish: Publish<'a>,
        alias_index: Option<usize>,
        token: Option<AckToken>,
    },
}

fn ack_reason(ack: &PubResponse<'_>) -> ReasonCode {
    #[cfg(feature = "v5")]
    return ack.reason;
    #[cfg(not(feature = "v5"))]
    {
        let _ = ack;
        ReasonCode::Success
    }
}

// ---- role-specific constructors -----------------------------------------------------------

impl<S: Storage> Connection<Server, S> {
    /// Accepts a decoded CONNECT received at `now` (authentication and authorisation are
    /// the broker's, before this call) and queues the successful CONNACK.
    ///
    /// `session` is the stored session for this client identifier, if any. It is resumed
    /// when Clean Start is 0 and it has not expired (Session Present = 1): unacknowledged
    /// PUBLISH and PUBREL packets are then re-sent first. Otherwise it is discarded. The
    /// Will is stored; a pending delayed Will of the session is cancelled ([MQTT-3.1.3-9]).
    pub fn from_connect(
        now: Instant,
        connect: &Connect<'_>,
        session: Option<Session<Server, S>>,
        config: Config,
    ) -> Result<Self, AcceptError> {
        let present = !connect.clean_start && session.as_ref().is_some_and(|s| !s.is_expired(now));
        let mut session = match session {
            Some(s) if present => s,
            _ => Session::new(config.queue),
        };
        let v5 = connect.protocol.is_v5();
        #[allow(unused_mut)]
        let mut keep_alive = connect.keep_alive;
        #[allow(unused_mut)]
        let mut expiry = if connect.clean_start {
            0
        } else {
            NEVER_EXPIRES
        };
        #[cfg(feature = "v5")]
        if v5 {
            // 5.0 3.1.2.11.2: absent means 0, whatever Clean Start says.
            expiry = connect.properties.session_expiry_interval.unwrap_or(0);
            if let Some(ka) = config.server_keep_alive {
                keep_alive = ka;
            }
        }
        let will = match &connect.will {
            Some(w) => Some(stored_will::<S>(w).ok_or(AcceptError::WillTooLarge)?),
            None => None,
        };
        session.role.on_connect(expiry, will);
        if present {
            session.resume();
        } else {
            session.clear();
        }
        let mut conn = Self::with_parts(
            now,
            session,
            connect.protocol,
            keep_alive,
            config,
            State::Open,
        );
        // Never advertise more aliases than the storage can remember.
        let alias_cap = u16::try_from(conn.aliases_in.capacity()).unwrap_or(u16::MAX);
        conn.limits.alias_max = if v5 {
            config.topic_alias_maximum.min(alias_cap)
        } else {
            0
        };
        #[cfg(feature = "v5")]
        if v5 {
            let p = &connect.properties;
            if let Some(rm) = p.receive_maximum {
                conn.limits.send_window = conn.limits.send_window.min(rm.get());
            }
            if let Some(m) = p.maximum_packet_size {
                conn.limits.peer_max_packet = m.get();
            }
            conn.limits.peer_alias_max = p.topic_alias_maximum.unwrap_or(0);
        }
        #[cfg(not(feature = "qos2"))]
        {
            conn.limits.max_qos = QoS::AtLeastOnce;
        }
        conn.push_control(Control::ConnAck {
            session_present: present,
        });
        conn.push_event(Lite::Connected {
            session_present: present,
        });
        Ok(conn)
    }
}

fn stored_will<S: Storage>(w: &crate::codec::Will<'_>) -> Option<StoredWill<S::Bytes>> {
    #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
    let mut message = Message::new(w.topic.as_str(), w.payload, w.qos, w.retain).ok()?;
    #[cfg(feature = "v5")]
    {
        let p = &w.properties;
        let props = crate::codec::PublishProperties {
            payload_format_indicator: p.payload_format_indicator,
            content_type: p.content_type,
            response_topic: p.response_topic,
            correlation_data: p.correlation_data,
            user_properties: p.user_properties,
            ..Default::default()
        };
        message.set_properties_from(&props).ok()?;
        Some(StoredWill {
            message,
            delay: p.will_delay_interval.unwrap_or(0),
            expiry: p.message_expiry_interval,
        })
    }
    #[cfg(not(feature = "v5"))]
    Some(StoredWill {
        message,
        delay: 0,
        expiry: None,
    })
}

impl<S: Storage> Connection<Client, S> {
    /// Starts a client connection: the application has encoded and sent `connect` (the
    /// engine reads its Clean Start, Keep Alive and, in 5.0, the limits it announces: keep
    /// its Receive Maximum and Topic Alias Maximum within the storage's capacities, which
    /// the engine enforces). The
    /// connection waits for CONNACK; on it, the session is resumed (Session Present 1:
    /// unacknowledged PUBLISH / PUBREL re-sent) or restarted (outgoing messages go back to
    /// the queue as new messages, incoming state is discarded).
    pub fn new_client(
        now: Instant,
        connect: &Connect<'_>,
        session: Session<Client, S>,
        config: Config,
    ) -> Self {
        let mut conn = Self::with_parts(
            now,
            session,
            connect.protocol,
            connect.keep_alive,
            config,
            State::AwaitConnAck,
        );
        conn.announce(connect);
        conn
    }

    /// A client connection that has not started (or has ended): it holds `session`, as
    /// after a lost transport, until [`reconnect`](Self::reconnect) starts a connection in
    /// place. For a client that keeps one `Connection` for its whole life rather than
    /// moving the session in and out of it (firmware: the session is never copied).
    pub fn idle_client(session: Session<Client, S>) -> Self {
        #[cfg(feature = "v3")]
        let version = ProtocolVersion::V3_1_1;
        #[cfg(not(feature = "v3"))]
        let version = ProtocolVersion::V5;
        Self::with_parts(
            Instant::ZERO,
            session,
            version,
            0,
            Config::client(),
            State::Closed(CloseReason::TransportClosed),
        )
    }

    /// Starts a new connection on the same session, in place: the same as
    /// `Connection::new_client(now, connect, old.into_session(now), config)` (the current
    /// connection, if any, ends as a lost transport; its unpolled events are discarded),
    /// without moving the session.
    pub fn reconnect(&mut self, now: Instant, connect: &Connect<'_>, config: Config) {
        self.close(now, CloseReason::TransportClosed);
        self.reset(
            now,
            connect.protocol,
            connect.keep_alive,
            config,
            State::AwaitConnAck,
        );
        self.announce(connect);
    }

    /// Ends the connection in place, as [`into_session`](Self::into_session) does (as a lost
    /// transport, if it had not ended), and discards its unpolled events and packets: the
    /// connection is idle, as from [`idle_client`](Self::idle_client), and keeps the session.
    pub fn end(&mut self, now: Instant) {
        self.close(now, CloseReason::TransportClosed);
        let version = self.version;
        self.reset(
            now,
            version,
            0,
            Config::client(),
            State::Closed(CloseReason::TransportClosed),
        );
    }

    /// 5.0: the limits the client announced in `connect`, bounded by the storage.
    fn announce(&mut self, connect: &Connect<'_>) {
        let _ = connect;
        #[cfg(feature = "v5")]
        if connect.protocol.is_v5() {
            let p = &connect.properties;
            let cap = u16::try_from(self.session.inbound.capacity()).unwrap_or(u16::MAX);
            self.limits.receive_maximum = p.receive_maximum.map_or(u16::MAX, |r| r.get()).min(cap);
            let alias_cap = u16::try_from(self.aliases_in.capacity()).unwrap_or(u16::MAX);
            self.limits.alias_max = p.topic_alias_maximum.unwrap_or(0).min(alias_cap);
        }
    }
}
