//! `tern-broker`: the Tern MQTT broker for edge and IoT gateways.
//!
//! The broker is a thin tokio shell around [`tern_core`]: it accepts connections, moves bytes
//! between sockets and the core's codec and session engine, and fans messages out. The full
//! broker arrives with its own issue; this crate currently exposes the build identity only.
#![warn(missing_docs)]

/// The broker's version string, as published on `$SYS/broker/version`.
pub const VERSION: &str = concat!("tern ", env!("CARGO_PKG_VERSION"));
