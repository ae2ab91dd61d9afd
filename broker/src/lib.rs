//! `tern-broker`: the Tern MQTT broker for edge and IoT gateways.
//!
//! The broker is a thin tokio shell around [`tern_core`]: it accepts connections, moves
//! bytes between sockets and the core's codec and session engine, and fans messages out.
//! The protocol decisions live in the core; this crate owns sockets, threads, timers,
//! configuration, persistence and authentication plumbing.
//!
//! # Status: shell foundations, no sessions yet
//!
//! The session engine is not wired in. The server binds its listeners, runs its shards,
//! enforces the connection limit and the CONNECT timeout, and shuts down gracefully, but
//! **every well-formed CONNECT is answered with CONNACK 0x88 Server unavailable** (3.1 /
//! 3.1.1: return code 3) and the connection is closed. A first packet that is not CONNECT
//! closes the connection without a word; a malformed CONNECT gets the CONNACK reason of
//! its decode error. See [Placeholder](#placeholder) below and `ARCHITECTURE.md`.
//!
//! # Layout
//!
//! - [`config`]: the TOML configuration, its defaults and its validation.
//! - [`server`]: [`Server`] binds listeners and starts the shards; [`ServerHandle`] reads
//!   the bound addresses and stops the server.
//! - `connection` (private): one client connection; today the placeholder described above.
//! - [`shutdown`]: the shutdown trigger, the per-task listener and process signals.
//! - [`transport`]: the [`Transport`](transport::Transport) trait and plain TCP.
//! - [`store`]: the [`Store`](store::Store) trait (awaitable durable writes) and
//!   [`MemoryStore`](store::MemoryStore).
//! - [`auth`]: [`Authenticator`](auth::Authenticator) / [`Authorizer`](auth::Authorizer)
//!   and [`AllowAll`](auth::AllowAll).
//!
//! # Placeholder
//!
//! The exact behaviour until the session engine lands is documented on the `connection`
//! module: CONNACK 0x88 / return code 3 for a CONNECT the authenticator accepts, the
//! authenticator's reason otherwise, [`DecodeError::connack_reason`] for a malformed
//! CONNECT (not sent to 3.1.1 peers when 3.1.1 has no such code), silence for a first
//! packet that is not CONNECT.
//!
//! [`DecodeError::connack_reason`]: tern_core::codec::DecodeError::connack_reason
#![warn(missing_docs)]

pub mod auth;
pub mod config;
mod connection;
mod outbuf;
mod router;
pub mod server;
mod session;
mod shard;
pub mod shutdown;
pub mod store;
mod sys;
pub mod transport;

pub use config::Config;
pub use server::{Server, ServerError, ServerHandle};

/// The broker's version string, as published on `$SYS/broker/version`.
pub const VERSION: &str = concat!("tern ", env!("CARGO_PKG_VERSION"));
