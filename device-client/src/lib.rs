//! `tern-client`: a `no_std`, no-allocation MQTT 3.1.1 / 5.0 client for microcontrollers.
//!
//! It drives the same sans-IO session engine as the Tern broker
//! ([`tern_core::session::Connection`] in the client role), so both share one codec and
//! one set of delivery rules. The client adds buffers, a frame reader and two thin front
//! ends; it opens no socket and reads no clock: time is an [`Instant`] the caller passes
//! in (milliseconds since any epoch, e.g. boot).
//!
//! # Layout
//!
//! - [`Client`] (module `engine`): the one implementation. It owns the session and borrows
//!   the caller's rx/tx buffers; [`Client::publish`] queues, [`Client::prepare`] /
//!   [`Client::take_event`] turn received bytes into [`Event`]s,
//!   [`Client::next_transmit`] yields packets to write.
//! - [`blocking`]: over `embedded-io` `Read + Write + ReadReady`:
//!   [`Client::connect`], [`Client::subscribe`], [`Client::poll`] (never blocks in a read,
//!   so keep-alive works from a super-loop), [`Client::close`].
//! - [`asynch`]: over `embedded-io-async` `Read + Write` (embassy-net's `TcpSocket`):
//!   [`Client::connect_async`], [`Client::subscribe_async`], [`Client::next_event`] (waits
//!   on the transport or a caller-supplied `DelayNs` until the engine's next deadline).
//!
//! ```
//! # #[cfg(feature = "v3")] {
//! use tern_client::{Client, Fixed};
//! use tern_client::codec::{Connect, ProtocolVersion, QoS};
//! use tern_client::session::Instant;
//!
//! let (mut rx, mut tx, mut outbox) = ([0u8; 256], [0u8; 256], [0u8; 128]);
//! // 2 messages in flight each way; no topic aliases (the outbox holds the messages).
//! let mut client = Client::<Fixed<2, 0, 0, 0, 0>>::new(&mut rx, &mut tx, &mut outbox);
//! let n = client
//!     .start_connect(Instant::ZERO, &Connect::new(ProtocolVersion::V3_1_1, "dev1"))
//!     .unwrap();
//! assert_eq!(n, 18); // the CONNECT is in tx; a front end writes it
//! client.publish("sensors/t", b"21.5", QoS::AtLeastOnce, false).unwrap();
//! assert_eq!(client.queued_len(), 1); // in the outbox; sent once CONNACK arrives
//! # }
//! ```
//!
//! # Delivery
//!
//! QoS 0, 1 and 2 both ways; outgoing messages wait in the caller's outbox (see RAM) and
//! go out in publish order; incoming QoS 1/2 messages are acknowledged automatically
//! (QoS 2 is delivered exactly once: a re-sent PUBLISH is acknowledged, not delivered
//! again). Keep-alive is automatic (PINGREQ at the interval; no PINGRESP within 10 s
//! closes the connection). To reconnect, call `connect` again on a new transport with
//! `clean_start = false`: when the broker resumes the session (Session Present), the
//! client re-sends every unacknowledged PUBLISH with DUP and every PUBREL, with their
//! original identifiers and in order, so QoS 1/2 messages survive a dropped link.
//! Nothing is re-sent on a timer (MQTT 5.0 [MQTT-4.4.0-1]).
//!
//! **A session lives in RAM only: it does not survive an MCU reset.** After a reset,
//! connect with a clean session (or expect the broker's resumed session to find the
//! client's side empty: its in-flight messages are lost).
//!
//! Match incoming topics with [`matches()`] (`+` / `#` wildcards) to dispatch them.
//!
//! 5.0 enhanced authentication (AUTH, section 4.12) is not implemented: leave the CONNECT's
//! Authentication Method unset (a broker then never sends AUTH, [MQTT-4.12.0-6]); an AUTH
//! from the broker closes the connection with DISCONNECT 0x82 Protocol Error.
//!
//! # Message sizes
//!
//! - Outgoing: a message's PUBLISH must fit the tx buffer and the (empty) outbox, else
//!   [`Client::publish`] returns [`Error::TooLarge`]. A message larger than the broker's
//!   5.0 Maximum Packet Size is not sent: [`Event::Dropped`].
//! - Incoming, 5.0: the CONNECT advertises `rx.len()` as Maximum Packet Size; a compliant
//!   broker never sends more, and a larger packet is a protocol error (DISCONNECT 0x95,
//!   [`Event::Disconnected`]).
//! - Incoming, 3.1.1: a PUBLISH larger than rx is streamed past without being buffered,
//!   still acknowledged from its header (PUBACK / PUBREC, so it is not re-sent forever)
//!   and reported as [`Event::Oversize`]. Never a hang, never a silent drop. (rx must hold
//!   at least the fixed header, topic and packet identifier.)
//!
//! # RAM
//!
//! All memory is the caller's: the rx, tx and outbox slices plus the [`Client`] value,
//! whose size is fixed by the storage's const generics (no heap, no statics).
//!
//! - **Outbox** (a slice given to [`Client::new`]): every outgoing message, encoded, from
//!   `publish` until it is sent (QoS 0) or acknowledged (QoS 1: PUBACK; QoS 2: PUBREC; the
//!   PUBREL / PUBCOMP half needs no copy). A message takes 7 bytes plus its PUBLISH without
//!   the fixed header and packet identifier: `2 + topic + payload` in 3.1.1, plus the
//!   property block (at least 1 byte) in 5.0; queuing one with 5.0 properties
//!   (`publish_with`) needs 2 to 5 bytes of room beyond that (for its fixed header while it
//!   is encoded; `publish` writes the record directly). A full outbox is back-pressure
//!   ([`Error::QueueFull`]). A message queued in 3.1.1 form is sent with an empty property
//!   block on a 5.0 connection and vice versa (its properties left out).
//! - **State**: `Fixed<INFLIGHT, 0, ALIASES, TOPIC, 0>`: `INFLIGHT` outgoing QoS 1/2 flows
//!   (and our Receive Maximum for incoming ones), `ALIASES` inbound topic aliases of up to
//!   `TOPIC` bytes each (5.0; with 0 the client announces Topic Alias Maximum 0). The
//!   session's own message queue is unused (`QUEUE` = 0 keeps its code out of the build).
//!
//! Measured on `thumbv7em-none-eabihf` (`size_of::<Client<..>>()`, checked by `const`
//! assertions in this crate):
//!
//! | `size_of::<Client<S>>()`, 32-bit Cortex-M | 3.1.1 only | 5.0 + QoS 2 |
//! |---|---|---|
//! | `Fixed<1, 0, 0, 0, 0>` (the size probe) | 248 | 256 |
//! | `Fixed<4, 0, 0, 0, 0>` | 320 | 352 |
//! | `Fixed<4, 0, 4, 64, 0>` (4 inbound aliases of 64 bytes) | 1,376 | 1,664 |
//!
//! plus `rx.len() + tx.len() + outbox.len()` and, during calls, the stack. Of the probe
//! figure (3.1.1), 52 bytes are the client's buffer bookkeeping, 120 the core connection
//! (an 8-entry event queue and a 4-entry control queue, the client role's capacities;
//! limits; keep-alive) and 76 the session (one in-flight slot of 24 bytes, the incoming
//! table, identifier allocation, and 36 bytes of counters and policy of the unused message
//! queue). The `const` assertions below pin the table so it cannot drift.
//!
//! # Transport security
//!
//! TLS stays outside the client: anything implementing `embedded-io(-async)` `Read +
//! Write` is a transport, e.g. an `embedded-tls` connection over an embassy-net socket:
//!
//! ```ignore
//! use embedded_tls::{Aes128GcmSha256, TlsConfig, TlsConnection, TlsContext, UnsecureProvider};
//!
//! let mut socket = embassy_net::tcp::TcpSocket::new(stack, &mut sock_rx, &mut sock_tx);
//! socket.connect(broker_endpoint).await?;
//! let config = TlsConfig::new().with_server_name("broker.example.com");
//! let mut tls = TlsConnection::new(socket, &mut tls_read_buf, &mut tls_write_buf);
//! tls.open(TlsContext::new(&config, UnsecureProvider::new::<Aes128GcmSha256>(rng))).await?;
//! // `tls` implements embedded_io_async::{Read, Write}: the client speaks MQTT over it.
//! client.connect_async(&mut tls, clock(), &connect).await?;
//! loop {
//!     if let Some(ev) = client.next_event(&mut tls, &mut embassy_time::Delay, &clock).await? {
//!         /* ... */
//!     }
//! }
//! ```
//!
//! (`embedded-tls`' blocking `blocking::TlsConnection` implements `embedded_io::{Read,
//! Write}` the same way; give it a `ReadReady` wrapper, or call [`Client::poll`] only when
//! the socket has data.)
//!
//! # Features
//!
//! - `v3` (default): MQTT 3.1.1. `v5` (default): MQTT 5.0. `qos2` (default): QoS 2.
//!   A `--no-default-features --features v3` build compiles no 5.0 code at all.
//! - `defmt`: `defmt::Format` on [`Error`] (and the core's types).
#![no_std]
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(not(any(feature = "v3", feature = "v5")))]
compile_error!("tern-client needs at least one protocol version: enable `v3` and/or `v5`");

pub mod asynch;
pub mod blocking;
mod engine;
mod outbox;

pub use engine::{Client, Event, matches};
pub use tern_core::codec;
pub use tern_core::session;
pub use tern_core::session::{Fixed, Instant};
pub use tern_core::topic;

/// A validated topic name (for a Will), e.g. `topic_name("dev1/status")`.
pub fn topic_name(s: &str) -> Result<topic::TopicName<'_>, topic::TopicError> {
    topic::TopicName::new(s)
}

use core::convert::Infallible;
use core::fmt;

use tern_core::codec::EncodeError;

/// Why a client call failed. `E` is the transport's error type (none for calls that do
/// no I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E = Infallible> {
    /// The transport failed; the connection is closed (the session is kept: reconnect).
    Io(E),
    /// The transport accepted no more bytes (a zero-length write).
    TransportClosed,
    /// No connection (subscribe before CONNACK, or after the connection ended).
    NotConnected,
    /// The message does not fit the session storage or its PUBLISH the tx buffer.
    TooLarge,
    /// The topic is not a valid topic name.
    InvalidTopic,
    /// The outgoing queue is full (back-pressure): poll, then retry.
    QueueFull,
    /// Too many SUBSCRIBE / UNSUBSCRIBE requests awaiting their answer (at most 4).
    NoPacketId,
    /// A packet could not be encoded (e.g. tx too small for the CONNECT or SUBSCRIBE).
    Encode(EncodeError),
}

impl Error {
    /// The same error with a transport error type.
    pub fn lift<E>(self) -> Error<E> {
        match self {
            Self::Io(never) => match never {},
            Self::TransportClosed => Error::TransportClosed,
            Self::NotConnected => Error::NotConnected,
            Self::TooLarge => Error::TooLarge,
            Self::InvalidTopic => Error::InvalidTopic,
            Self::QueueFull => Error::QueueFull,
            Self::NoPacketId => Error::NoPacketId,
            Self::Encode(e) => Error::Encode(e),
        }
    }
}

impl<E> From<EncodeError> for Error<E> {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "transport error: {e:?}"),
            Self::TransportClosed => f.write_str("transport closed"),
            Self::NotConnected => f.write_str("not connected"),
            Self::TooLarge => f.write_str("message too large for the buffers"),
            Self::InvalidTopic => f.write_str("invalid topic name"),
            Self::QueueFull => f.write_str("outgoing queue full"),
            Self::NoPacketId => f.write_str("too many requests awaiting an answer"),
            Self::Encode(e) => write!(f, "encode error: {e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

// The RAM table in the crate documentation, checked at compile time on 32-bit targets.
#[cfg(target_pointer_width = "32")]
const _: () = {
    const PROBE: usize = size_of::<Client<'static, Fixed<1, 0, 0, 0, 0>>>();
    const FOUR: usize = size_of::<Client<'static, Fixed<4, 0, 0, 0, 0>>>();
    const ALIASES: usize = size_of::<Client<'static, Fixed<4, 0, 4, 64, 0>>>();
    #[cfg(not(feature = "v5"))]
    assert!(PROBE <= 248 && FOUR <= 320 && ALIASES <= 1376);
    #[cfg(feature = "v5")]
    assert!(PROBE <= 256 && FOUR <= 352 && ALIASES <= 1664);
};

/// RAM of the probe configuration `Client<Fixed<1, 0, 0, 0, 0>>` (excluding its rx, tx and
/// outbox buffers) in this build, in bytes.
pub const RAM_PROBE: usize = size_of::<Client<'static, Fixed<1, 0, 0, 0, 0>>>();
