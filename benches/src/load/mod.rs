//! The `tern-bench` end-to-end load tool: drives any MQTT broker at `HOST:PORT` and verifies the
//! delivery guarantees while it measures.
//!
//! # Layout
//!
//! - [`config`]: the scenarios and their [`Params`], parsed from the command line.
//! - [`wire`]: packets encoded once with `mqttbytes` (an encoder independent of Tern's codec) and
//!   patched per message; a light frame scanner for the receive path.
//! - [`verify`]: per-publisher sequence tracking ([`verify::SeqTracker`]) and a latency
//!   histogram.
//! - [`client`]: one TCP connection with a receive buffer and batched writes.
//! - [`scenario`]: the scenarios, run on a single-threaded tokio runtime so the tool's own CPU
//!   use is at most one core and easy to judge ([`Report::tool_bound`]).
//! - [`sys`]: CPU time and RSS from `/proc`, the open-file limit.
//! - [`report`]: the [`Report`] of a run and its one-line JSON form.
//!
//! # Data flow of a throughput run
//!
//! Subscribers connect and subscribe first, then publishers connect; the clock (wall, own CPU,
//! broker CPU) starts when every client is ready. Each publisher fills a buffer with as many
//! messages as its window allows (QoS 1/2) or a batch (QoS 0), writes it with one call, then reads
//! acks. Each subscriber reads as much as the socket holds, scans the frames, records each
//! delivery with its publisher's [`verify::SeqTracker`], queues PUBACK/PUBREC/PUBCOMP and writes
//! them with one call. The run ends when every subscriber has every message (or, once publishers
//! are done, after a quiet period), and fails at once when the hard time limit passes.

pub mod client;
pub mod config;
pub mod report;
pub mod scenario;
pub mod sys;
pub mod verify;
pub mod wire;

use std::fmt;
use std::io;

pub use config::{Params, Scenario};
pub use report::Report;
pub use scenario::run;

/// Why a run could not complete or failed its checks.
#[derive(Debug)]
pub enum BenchError {
    /// Bad command-line arguments or parameters.
    Usage(String),
    /// A socket operation failed.
    Io {
        /// What the tool was doing.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The broker sent something malformed, unexpected or refusing.
    Protocol(String),
    /// A delivery guarantee of the tested QoS was broken.
    Violation(String),
    /// The hard time limit of the run passed.
    TimeLimit(String),
}

impl BenchError {
    /// Wraps an I/O error with what the tool was doing.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(m) => write!(f, "usage: {m}"),
            BenchError::Io { context, source } => write!(f, "{context}: {source}"),
            BenchError::Protocol(m) => write!(f, "protocol: {m}"),
            BenchError::Violation(m) => write!(f, "violation: {m}"),
            BenchError::TimeLimit(m) => write!(f, "time limit exceeded: {m}"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
