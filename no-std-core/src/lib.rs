//! `tern-core`: the sans-IO, `no_std` MQTT protocol core shared by the Tern broker and the
//! Tern device client.
//!
//! # Layout
//!
//! - [`codec`]: the MQTT 3.1 / 3.1.1 / 5.0 wire codec. Decoding borrows from the input
//!   (`Publish<'a>` holds `&'a str` / `&'a [u8]`), encoding writes into a caller-supplied slice.
//!   [`codec`] reassembles packets from partial reads and rejects oversize packets
//!   as soon as their Remaining Length is known.
//! - [`topic`]: validated topic names and filters, wildcard matching, `$share` parsing.
//! - [`session`]: the sans-IO session engine both ends drive: a [`session::Session`] that
//!   outlives connections (in-flight messages, QoS 2 identifiers, queues, subscriptions) and a
//!   [`session::Connection`] for one network connection (keep-alive, topic aliases, negotiated
//!   limits); the role (client or server) is a type parameter. Time is a value the caller
//!   passes in ([`session::Instant`]); the engine answers with packets (`poll_transmit`),
//!   events (`poll_event`) and its next deadline (`poll_timeout`).
//! - `index` (feature `alloc`): the subscription index, a trie over topic levels.
//! - `retain` (feature `alloc`): the retained-message store.
//!
//! The core opens no socket, reads no clock and spawns nothing: bytes and time go in; bytes,
//! events and deadlines come out. It never panics on peer input and never allocates unless the
//! `alloc` feature is enabled.
//!
//! # Features
//!
//! - `v3`: MQTT 3.1 ("MQIsdp", level 3) and 3.1.1 (level 4).
//! - `v5`: MQTT 5.0; 5.0-only fields and properties exist only with this feature.
//! - `qos2`: QoS 2 flows in the session engine.
//! - `alloc`, `std` (implies `alloc`), `defmt`, `arbitrary`, `serde` (persist sessions).
//!
//! With neither `v3` nor `v5` the crate still builds (topics, primitives), but
//! the protocol version type has no variants.
#![no_std]
#![deny(missing_docs)]
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
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
// Without a protocol version there is no packet model or connection to link to.
#![cfg_attr(
    not(any(feature = "v3", feature = "v5")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

#[macro_use]
mod fmt;

pub mod codec;
pub mod topic;

pub mod session;

#[cfg(feature = "alloc")]
pub mod index;
#[cfg(feature = "alloc")]
pub mod retain;
