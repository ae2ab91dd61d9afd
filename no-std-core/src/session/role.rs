//! The role (client or server side of a connection) as a type parameter.
//!
//! Server-only state (the stored Will Message and its delay timer, Session Expiry
//! bookkeeping) lives in [`ServerState`], which is the [`Role::State`] of [`Server`] only;
//! a [`Client`] session carries a zero-sized [`ClientState`] whose accessors are constant
//! `None`, so firmware instantiating `Session<Client, _>` never links those paths.

use core::fmt::Debug;

use super::storage::{OwnedBytes, Slots};
use super::will::ServerState;

mod sealed {
    pub trait Sealed {}
}

/// Client or server side of a connection. Sealed: implemented by [`Client`] and [`Server`].
pub trait Role: sealed::Sealed + Copy + Default + Debug + 'static {
    /// `true` for [`Server`].
    const IS_SERVER: bool;
    /// Role-specific session state.
    type State<B: OwnedBytes>: RoleState<B>;
    /// A connection's queue of events not yet polled (internal `T`): 8 for either role. Poll
    /// events after every input; beyond 8 the oldest are kept and the rest counted in
    /// `events_lost` (a broker learns a connection's end from `close_reason`, and reads
    /// drops from `Dropped` events, which have their own list). A broker holds one queue per
    /// client connection, so its size is RAM per connection.
    type Events<T: Debug>: Slots<T> + Default + Debug;
    /// A connection's queue of control packets not yet transmitted (internal `T`): 8 for a
    /// server, 4 for a client (PINGREQ, DISCONNECT, PUBCOMP for an unknown identifier).
    type Controls<T: Debug>: Slots<T> + Default + Debug;
    /// What a connection keeps of its [`Config`](super::Config) for the CONNACK it sends:
    /// [`ServerConnAck`] for a server, nothing ([`NoConnAck`]) for a client.
    type ConnAck: ConnAckFields;
}

/// The part of a [`Config`](super::Config) a connection keeps to announce in its CONNACK.
pub trait ConnAckFields: Copy + Default + Debug {
    /// Keeps what the CONNACK needs of `config`.
    fn from_config(config: &super::Config) -> Self;
    /// The 5.0 Server Keep Alive to announce.
    fn server_keep_alive(&self) -> Option<u16>;
    /// Our Maximum Packet Size to announce (5.0).
    fn maximum_packet_size(&self) -> u32;
}

/// A server's CONNACK settings: Server Keep Alive and Maximum Packet Size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerConnAck {
    server_keep_alive: Option<u16>,
    maximum_packet_size: u32,
}

impl Default for ServerConnAck {
    fn default() -> Self {
        Self {
            server_keep_alive: None,
            maximum_packet_size: u32::MAX,
        }
    }
}

impl ConnAckFields for ServerConnAck {
    fn from_config(config: &super::Config) -> Self {
        Self {
            server_keep_alive: config.server_keep_alive,
            maximum_packet_size: config.maximum_packet_size,
        }
    }
    fn server_keep_alive(&self) -> Option<u16> {
        self.server_keep_alive
    }
    fn maximum_packet_size(&self) -> u32 {
        self.maximum_packet_size
    }
}

/// A client sends no CONNACK: its connections keep nothing for one (no RAM).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConnAck;

impl ConnAckFields for NoConnAck {
    fn from_config(_: &super::Config) -> Self {
        Self
    }
    fn server_keep_alive(&self) -> Option<u16> {
        None
    }
    fn maximum_packet_size(&self) -> u32 {
        u32::MAX
    }
}

/// Access to the role-specific part of a session.
pub trait RoleState<B: OwnedBytes>: Default + Debug + Clone {
    /// The server state; always `None` for a client.
    fn server(&self) -> Option<&ServerState<B>>;
    /// The server state, mutably; always `None` for a client.
    fn server_mut(&mut self) -> Option<&mut ServerState<B>>;
}

/// The client side (device, or a bridge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client;

/// The server side (broker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Server;

impl sealed::Sealed for Client {}
impl sealed::Sealed for Server {}

impl Role for Client {
    const IS_SERVER: bool = false;
    type State<B: OwnedBytes> = ClientState;
    type Events<T: Debug> = heapless::Vec<T, 8, u8>;
    type Controls<T: Debug> = heapless::Vec<T, 4, u8>;
    type ConnAck = NoConnAck;
}

impl Role for Server {
    const IS_SERVER: bool = true;
    type State<B: OwnedBytes> = ServerState<B>;
    type Events<T: Debug> = heapless::Vec<T, 8, u8>;
    type Controls<T: Debug> = heapless::Vec<T, 8, u8>;
    type ConnAck = ServerConnAck;
}

/// A client session has no role-specific state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClientState;

impl<B: OwnedBytes> RoleState<B> for ClientState {
    #[inline(always)]
    fn server(&self) -> Option<&ServerState<B>> {
        None
    }
    #[inline(always)]
    fn server_mut(&mut self) -> Option<&mut ServerState<B>> {
        None
    }
}

impl<B: OwnedBytes> RoleState<B> for ServerState<B> {
    #[inline(always)]
    fn server(&self) -> Option<&ServerState<B>> {
        Some(self)
    }
    #[inline(always)]
    fn server_mut(&mut self) -> Option<&mut ServerState<B>> {
        Some(self)
    }
}
