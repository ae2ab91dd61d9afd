//! `tern-client`: a `no_std`, no-alloc MQTT client for microcontrollers, built on
//! [`tern_core`]. The client itself arrives with its own issue; this crate currently re-exports
//! the core so firmware builds can already check the core's footprint.
#![no_std]
#![warn(missing_docs)]

pub use tern_core as core_proto;
