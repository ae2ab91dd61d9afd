//! Shared code for the Tern benchmarks and the `tern-bench` load tool.
//!
//! - [`load`]: the end-to-end load tool behind the `tern-bench` binary (scenarios, an
//!   independent `mqttbytes` encoder, a light frame scanner, verification, JSON reports).

pub mod load;
