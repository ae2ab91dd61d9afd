//! Who may connect ([`Authenticator`]) and what they may do ([`Authorizer`]).
//!
//! Both are object-safe and shared by every shard (`Arc<dyn ...>`). Decisions are
//! synchronous: the planned backends (a password file of salted hashes, an ACL file) answer
//! from memory. What that costs: a backend that must ask a remote service cannot be written
//! against these traits as they are; it would get an asynchronous variant then. A slow
//! password hash (argon2, bcrypt) runs on the shard's thread and delays that shard's other
//! clients for its duration, so the password-file backend will cache verified credentials.
//!
//! Until those backends exist, [`AllowAll`] is the only implementation; `allow_anonymous =
//! false` is rejected at start-up rather than silently accepting everyone.

use std::net::SocketAddr;

use tern_core::codec::{ProtocolVersion, ReasonCode};
use tern_core::topic::{TopicFilter, TopicName};

/// What the broker knows about a client when it sends CONNECT.
#[derive(Debug, Clone, Copy)]
pub struct ConnectInfo<'a> {
    /// The peer address, when the transport has one.
    pub peer: Option<SocketAddr>,
    /// The protocol version of the CONNECT.
    pub protocol: ProtocolVersion,
    /// The client identifier as sent (possibly empty).
    pub client_id: &'a str,
    /// The User Name, if any.
    pub username: Option<&'a str>,
    /// The Password, if any.
    pub password: Option<&'a [u8]>,
}

/// An authentication decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the client in.
    Allow,
    /// Refuse with this CONNACK reason (5.0), mapped to the nearest 3.1.1 return code
    /// (0x86 Bad User Name or Password -> 4, otherwise 5 Not Authorized).
    Deny(ReasonCode),
}

/// Decides whether a CONNECT is accepted.
pub trait Authenticator: Send + Sync + 'static {
    /// Called once per CONNECT, before any session state is touched.
    fn authenticate(&self, client: &ConnectInfo<'_>) -> AuthDecision;
}

/// An authenticated client, as the [`Authorizer`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    /// The client identifier (assigned or sent).
    pub client_id: &'a str,
    /// The User Name it authenticated with, if any.
    pub username: Option<&'a str>,
}

/// Decides what an authenticated client may publish and subscribe to.
pub trait Authorizer: Send + Sync + 'static {
    /// May `client` publish to `topic`? (`$SYS/...` is refused by the broker before this.)
    fn may_publish(&self, client: &ClientInfo<'_>, topic: TopicName<'_>) -> bool;
    /// May `client` subscribe to `filter`?
    fn may_subscribe(&self, client: &ClientInfo<'_>, filter: TopicFilter<'_>) -> bool;
}

/// Lets everyone in and allows everything: anonymous access (`allow_anonymous = true`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, _: &ConnectInfo<'_>) -> AuthDecision {
        AuthDecision::Allow
    }
}

impl Authorizer for AllowAll {
    fn may_publish(&self, _: &ClientInfo<'_>, _: TopicName<'_>) -> bool {
        true
    }
    fn may_subscribe(&self, _: &ClientInfo<'_>, _: TopicFilter<'_>) -> bool {
        true
    }
}
