//! The sans-IO session engine shared by the broker (server role) and the device client
//! (client role): MQTT's delivery rules, written once.
//!
//! The engine is deterministic: the caller feeds decoded packets, application commands and
//! the current time; the engine answers with packets to send, events to deliver and the
//! next deadline. It opens no socket and reads no clock (the API follows quinn-proto's
//! `handle_*` / `poll_*` split and smoltcp's `poll_at`).
//!
//! # Two objects
//!
//! - [`Session`] outlives connections: outgoing in-flight messages, incoming QoS 2
//!   identifiers, the pending (offline) queue, and for the server the Will and the
//!   Session Expiry. With feature `serde` it (de)serialises, e.g. with postcard, so the
//!   broker can persist it.
//! - [`Connection`] lives for one network connection: keep-alive, topic-alias maps and the
//!   limits negotiated in CONNECT / CONNACK. It owns the session while it lives and hands
//!   it back with [`Connection::into_session`]. Its documentation gives the call order.
//!
//! Messages are stored with their full topic name; aliases are applied only when a PUBLISH
//! is encoded, so a resend after a reconnect never carries a stale alias.
//!
//! # Persistence
//!
//! The session types carry `#[cfg_attr(feature = "serde", derive(serde::Serialize,
//! serde::Deserialize))]`: inert until the crate has a `serde` feature (then replace
//! `feature = "serde"` by `feature = "serde"`), because an undeclared feature
//! name trips the workspace's check-cfg lint.
//!
//! # Role and storage
//!
//! The role is a type parameter ([`Client`] or [`Server`]): server-only state (Will
//! timers, session expiry) exists only in `Session<Server, _>`. Storage is a trait
//! ([`Storage`]) with a no-allocation implementation whose capacities are const generics
//! ([`Fixed`]) and, with feature `alloc`, one that grows lazily and is sized by run-time
//! limits (`Growable`, feature `alloc`); both run the same code paths. There is no per-session identifier
//! bitmap: the identifiers in use are those in the in-flight table.
//!
//! # Acknowledgements are the application's decision
//!
//! An incoming QoS 1/2 PUBLISH is returned by [`Connection::handle_packet`] with an
//! [`AckToken`]; PUBACK / PUBREC go out only once the caller passes the token to
//! [`Connection::accept`] with a reason code (the broker answers 0x10 No matching
//! subscribers or 0x87 Not authorized, or acks after a durable write). With
//! [`Config::auto_ack`] (the client default) the engine accepts at once.
//!
//! # Not re-sent on timers
//!
//! Unacknowledged PUBLISH packets (with DUP) and PUBRELs are re-sent only when a session
//! resumes on a new connection, with their original identifiers and in the original order
//! (3.1.1 / 5.0 [MQTT-4.4.0-1], [MQTT-4.6.0-1]).

// Without a protocol version there is no `Connection`; the building blocks stay compiled.
#![cfg_attr(not(any(feature = "v3", feature = "v5")), allow(dead_code))]

#[cfg_attr(not(feature = "v5"), allow(dead_code))]
mod alias;
#[cfg(any(feature = "v3", feature = "v5"))]
mod connection;
mod inbound;
mod keepalive;
mod message;
mod outbound;
mod pid;
mod queue;
mod role;
mod state;
mod storage;
mod subscriptions;
mod time;
mod will;

#[cfg(all(any(fuzzing, test), any(feature = "v3", feature = "v5")))]
pub mod fuzzing;
#[cfg(test)]
mod tests;

use core::fmt;

pub use alias::Alias;
#[cfg(any(feature = "v3", feature = "v5"))]
pub use connection::{AcceptError, Connection, Limits};
pub use inbound::{AckToken, InFlight};
pub use message::{Message, MessageError};
pub use outbound::{NoOutbox, OutFlight, Outbox};
pub use pid::PidAllocator;
pub use queue::{DropReason, Qos0Overflow, QueuePolicy, Queued, ReliableOverflow};
pub use role::{
    Client, ClientState, ConnAckFields, NoConnAck, Role, RoleState, Server, ServerConnAck,
};
pub use state::Session;
#[cfg(feature = "alloc")]
pub use storage::Growable;
pub use storage::{Fixed, OwnedBytes, Slots, Storage};
pub use subscriptions::{StoredSubscription, SubscribeError};
pub use time::{Duration, Instant};
pub use will::{NEVER_EXPIRES, ServerState, SessionEvent};

use crate::codec::{Packet, PacketId, PacketType, Publish, ReasonCode};

/// Per-connection configuration (run time; capacities are further bounded by the storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Our Receive Maximum (5.0): incoming QoS 1/2 messages not yet completed, advertised
    /// in the server's CONNACK (a client advertises it in its own CONNECT, which the engine
    /// reads). 3.1.1 cannot announce one: there the bound is the storage's capacity, and a
    /// peer exceeding it is disconnected (configure the peer's in-flight window below it).
    pub receive_maximum: u16,
    /// Most outgoing QoS 1/2 messages in flight (the window in 3.1.1; in 5.0 further
    /// bounded by the peer's Receive Maximum).
    pub max_inflight: u16,
    /// Our Maximum Packet Size, advertised in the server's CONNACK (enforce it with the
    /// `FrameReader`).
    pub maximum_packet_size: u32,
    /// Our Topic Alias Maximum (server: advertised in CONNACK; a client's comes from its
    /// CONNECT).
    pub topic_alias_maximum: u16,
    /// Accept incoming QoS 1/2 messages at once (no [`AckToken`]).
    pub auto_ack: bool,
    /// Client: how long to wait for PINGRESP.
    pub ping_timeout: Duration,
    /// Server (5.0): the Server Keep Alive to impose instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// Server: the policy of sessions created by [`Connection::from_connect`].
    pub queue: QueuePolicy,
}

impl Config {
    /// Client defaults: auto-ack, 10 s ping timeout, window 16.
    pub fn client() -> Self {
        Self {
            receive_maximum: 16,
            max_inflight: 16,
            maximum_packet_size: u32::MAX,
            topic_alias_maximum: 0,
            auto_ack: true,
            ping_timeout: Duration::from_secs(10),
            server_keep_alive: None,
            queue: QueuePolicy::default(),
        }
    }

    /// Server defaults: explicit acks, window 64, 16 topic aliases.
    pub fn server() -> Self {
        Self {
            receive_maximum: 64,
            max_inflight: 64,
            maximum_packet_size: u32::MAX,
            topic_alias_maximum: 16,
            auto_ack: false,
            ping_timeout: Duration::from_secs(10),
            server_keep_alive: None,
            queue: QueuePolicy::default(),
        }
    }
}

/// What [`Connection::handle_packet`] hands to the application.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// An application message to deliver; `publish.topic` is the full topic name (an alias
    /// was resolved). QoS 1/2 messages carry an [`AckToken`] unless auto-ack is on.
    Publish {
        /// The message, borrowing the receive buffer (or the alias map).
        publish: Publish<'a>,
        /// Pass to [`Connection::accept`] to release the PUBACK / PUBREC.
        token: Option<AckToken>,
    },
    /// A packet the engine leaves to the application: SUBSCRIBE / UNSUBSCRIBE (server),
    /// SUBACK / UNSUBACK (client), AUTH.
    Packet(Packet<'a>),
}

/// What [`Connection::poll_event`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<B> {
    /// The connection is established (client: CONNACK received; server: CONNACK queued).
    Connected {
        /// Session Present.
        session_present: bool,
    },
    /// An outgoing QoS 1/2 flow completed (PUBACK, PUBCOMP, or a PUBREC of 0x80 or above).
    Published {
        /// Its packet identifier (now free).
        packet_id: PacketId,
        /// The peer's reason code.
        reason: ReasonCode,
    },
    /// A message was dropped after it was queued; QoS 1/2 drops are always reported.
    Dropped {
        /// The message, e.g. for a dead-letter topic.
        message: Message<B>,
        /// Why.
        reason: DropReason,
    },
    /// The connection ended; drain `poll_transmit`, close the socket, call
    /// [`Connection::into_session`].
    Closed(CloseReason),
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseReason {
    /// The peer sent DISCONNECT with this reason.
    Disconnected {
        /// 0x00 normal (no Will), 0x04 with Will Message, or an error.
        reason: ReasonCode,
    },
    /// We closed it ([`Connection::disconnect`]).
    Local {
        /// The reason sent in our DISCONNECT (5.0).
        reason: ReasonCode,
    },
    /// Server: nothing received for 1.5 x Keep Alive. Client: no PINGRESP in time.
    KeepAliveTimeout,
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// The transport closed without DISCONNECT.
    TransportClosed,
    /// Client: the server refused the connection in CONNACK.
    Rejected {
        /// The CONNACK reason code.
        reason: ReasonCode,
    },
}

impl CloseReason {
    /// `true` unless the client disconnected normally: the server publishes the Will
    /// (3.1.1 / 5.0 [MQTT-3.1.2-10]; 0x04 asks for it explicitly).
    pub fn publishes_will(self) -> bool {
        !matches!(self, Self::Disconnected { reason } if reason == ReasonCode::NORMAL_DISCONNECTION)
    }
}

/// A packet from the peer that breaks the protocol in the session layer (the codec
/// catches malformed packets before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A packet not allowed in this state or direction (a second CONNECT, anything before
    /// CONNACK, PINGREQ to a client, ...).
    UnexpectedPacket(PacketType),
    /// More unacknowledged QoS 1/2 PUBLISH packets than our Receive Maximum (5.0
    /// [MQTT-3.3.4-7], [MQTT-3.3.4-9]).
    ReceiveMaximumExceeded,
    /// A Topic Alias above our Topic Alias Maximum.
    TopicAliasInvalid,
    /// An empty topic with a Topic Alias we do not know.
    UnknownTopicAlias,
    /// QoS 2 received by a build without `qos2`.
    QosNotSupported,
    /// A PUBLISH reusing an identifier whose flow (of another QoS) is not finished.
    PacketIdInUse,
    /// An acknowledgement that does not match the state of its flow (PUBACK for a QoS 2
    /// message, PUBREL before our PUBREC, ...).
    AckMismatch(PacketType),
    /// DISCONNECT raised the Session Expiry Interval from 0 (5.0 3.14.2.2.2).
    SessionExpiryFromZero,
    /// A topic does not fit the storage's byte buffers.
    ResourceExhausted,
}

impl ProtocolError {
    /// The reason code for the DISCONNECT (5.0).
    pub fn reason_code(self) -> ReasonCode {
        match self {
            Self::ReceiveMaximumExceeded => ReasonCode::ReceiveMaximumExceeded,
            Self::TopicAliasInvalid => ReasonCode::TopicAliasInvalid,
            Self::QosNotSupported => ReasonCode::QoSNotSupported,
            Self::ResourceExhausted => ReasonCode::ImplementationSpecificError,
            Self::UnexpectedPacket(_)
            | Self::UnknownTopicAlias
            | Self::PacketIdInUse
            | Self::AckMismatch(_)
            | Self::SessionExpiryFromZero => ReasonCode::ProtocolError,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedPacket(t) => write!(f, "unexpected {t:?} packet"),
            Self::ReceiveMaximumExceeded => f.write_str("receive maximum exceeded"),
            Self::TopicAliasInvalid => f.write_str("topic alias above the maximum"),
            Self::UnknownTopicAlias => f.write_str("unknown topic alias"),
            Self::QosNotSupported => f.write_str("QoS 2 not supported"),
            Self::PacketIdInUse => f.write_str("packet identifier in use"),
            Self::AckMismatch(t) => write!(f, "{t:?} does not match the flow state"),
            Self::SessionExpiryFromZero => {
                f.write_str("session expiry raised from 0 on DISCONNECT")
            }
            Self::ResourceExhausted => f.write_str("topic does not fit the session buffers"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Why a message was not queued by [`Session::publish`] / [`Connection::publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError<B> {
    /// Back-pressure: the queue is full; the message is handed back (QoS 1/2).
    Full(Message<B>),
    /// Dropped by policy; count it or route it to a dead-letter topic.
    Dropped {
        /// The message.
        message: Message<B>,
        /// Why.
        reason: DropReason,
    },
}

impl<B> fmt::Display for PublishError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("queue full"),
            Self::Dropped { reason, .. } => write!(f, "message dropped: {reason:?}"),
        }
    }
}
