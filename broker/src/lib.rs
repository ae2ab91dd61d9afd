//! `tern-broker`: the Tern MQTT broker for edge and IoT gateways.
//!
//! The broker is a thin tokio shell around [`tern_core`]: it accepts connections, moves
//! bytes between sockets and the core's codec and session engine, and fans messages out.
//! The protocol decisions live in the core; this crate owns sockets, threads, timers,
//! configuration, persistence and authentication plumbing.
//!
//! # Status
//!
//! A complete MQTT 3.1 / 3.1.1 / 5.0 broker over plain TCP, in memory (see `README.md` for
//! the feature list). TLS / WebSocket listeners, password files and ACLs, durable
//! persistence and the bridge are later work; the [`transport`], [`auth`] and [`store`]
//! traits are where they plug in.
//!
//! # Layout
//!
//! - [`config`]: the TOML configuration, its defaults and its validation.
//! - [`server`]: [`Server`] binds listeners and starts the shards; [`ServerHandle`] reads
//!   the bound addresses and stops the server.
//! - `connection` (private): one client connection: CONNECT, the read/decode/engine/write
//!   loop, SUBSCRIBE / UNSUBSCRIBE, the end of a connection.
//! - `shard` (private): a shard's sessions, same-shard delivery, the batch queues to other
//!   shards, session takeover, housekeeping.
//! - `router` (private): the subscription index, retained store and client-id registry.
//! - `session` (private): the core engine's instantiation (`bytes::Bytes` payloads).
//! - `sys` (private): `$SYS/broker/...`.
//! - [`shutdown`]: the shutdown trigger, the per-task listener and process signals.
//! - [`transport`]: the [`Transport`](transport::Transport) trait and plain TCP.
//! - [`store`]: the [`Store`](store::Store) trait (awaitable durable writes) and
//!   [`MemoryStore`](store::MemoryStore).
//! - [`auth`]: [`Authenticator`](auth::Authenticator) / [`Authorizer`](auth::Authorizer)
//!   and [`AllowAll`](auth::AllowAll).
//!
#![warn(missing_docs)]

pub mod auth;
mod colocate;
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
