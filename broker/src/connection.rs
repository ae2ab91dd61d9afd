//! One client connection: reading, framing and answering.
//!
//! # Placeholder behaviour
//!
//! The session engine (`tern_core::session`) is not wired in yet. Until it is, a
//! connection reads its first packet and:
//!
//! - a CONNECT that decodes and passes the [`Authenticator`](crate::auth::Authenticator) is
//!   answered with CONNACK 0x88 Server unavailable (5.0) / return code 3 (3.1, 3.1.1), then
//!   the connection is closed; a CONNECT the authenticator refuses gets its reason instead;
//! - a first packet that is not CONNECT closes the connection without a word
//!   [MQTT-3.1.0-1];
//! - a CONNECT that fails to decode gets a CONNACK with
//!   [`DecodeError::connack_reason`] in the form of the version it announced (3.1.1 form
//!   when the version is unknown), then the close; a 3.1.1 peer gets no CONNACK when 3.1.1
//!   has no return code for the reason (malformed packet) [MQTT-3.1.4-1];
//! - no CONNECT within `limits.connect_timeout_secs`: closed.
//!
//! # Read path
//!
//! On each readiness wake-up the connection copies its leftover partial frame (if any) to
//! the front of its shard's scratch buffer, reads everything available after it, decodes
//! every whole packet in place, queues the answers into one output buffer, and keeps only
//! the bytes of an unfinished frame. An idle connection therefore holds no read buffer. A
//! frame larger than the scratch buffer is read into the connection's own buffer, grown to
//! the frame size the decoder reported (already checked against the maximum packet size).
//! The answers are written with one `write_all` per wake-up.

use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tern_core::codec::{
    ConnAck, Connect, DecodeError, Decoded, Disconnect, FrameReader, Packet, ProtocolVersion,
    ReasonCode, peek_connect_version,
};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::debug;

use crate::auth::{AuthDecision, ConnectInfo};
use crate::server::{ConnectionPermit, ShardCtx};
use crate::shutdown::Shutdown;
use crate::transport::Transport;

/// Size of each shard's read scratch buffer.
pub(crate) const SCRATCH_LEN: usize = 64 * 1024;
/// Read at least this much per `try_read`.
const MIN_READ: usize = 4096;
/// Longest wait for a write to complete before the peer is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the final answer: how long to drain the peer's input before closing, so that the
/// kernel sends FIN rather than RST (which could discard our CONNACK at the peer).
const LINGER: Duration = Duration::from_secs(2);

/// How a connection ended (for the debug log).
#[derive(Debug)]
enum End {
    PeerClosed,
    ConnectTimeout,
    Shutdown,
    /// CONNACK sent with this failure reason.
    Refused(ReasonCode),
    /// First packet was not CONNECT.
    NotConnect(u8),
    /// The peer broke the protocol.
    Invalid(DecodeError),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::ConnectTimeout => f.write_str("no CONNECT in time"),
            Self::Shutdown => f.write_str("server shutting down"),
            Self::Refused(r) => write!(f, "CONNECT refused: {r}"),
            Self::NotConnect(t) => write!(f, "first packet type {t} is not CONNECT"),
            Self::Invalid(e) => write!(f, "{e}"),
        }
    }
}

/// What one read produced.
enum Step {
    /// Nothing to do until the next wake-up (spurious wake-up or partial frame).
    Continue,
    /// End of stream.
    Eof,
    /// Write the queued output, then close.
    Close(End),
}

/// A client connection on its shard.
pub(crate) struct Connection<T> {
    transport: T,
    ctx: Rc<ShardCtx>,
    _permit: ConnectionPermit,
    reader: FrameReader,
    /// Bytes of an unfinished frame; empty (unallocated) between whole packets.
    leftover: Vec<u8>,
    /// Total bytes the decoder needs before it can make progress.
    needed: usize,
}

impl<T: Transport> Connection<T> {
    pub(crate) fn new(transport: T, ctx: Rc<ShardCtx>, permit: ConnectionPermit) -> Self {
        let max = u32::try_from(ctx.shared.config.limits.max_packet_size.0).unwrap_or(u32::MAX);
        Self {
            transport,
            ctx,
            _permit: permit,
            reader: FrameReader::new(max),
            leftover: Vec::new(),
            needed: 0,
        }
    }

    /// Serves the connection until it ends; errors are logged, never propagated.
    pub(crate) async fn run(mut self, mut shutdown: Shutdown) {
        let peer = self.transport.peer_addr();
        match self.serve(&mut shutdown).await {
            Ok(end) => debug!(shard = self.ctx.id, ?peer, "connection ended: {end}"),
            Err(e) => debug!(shard = self.ctx.id, ?peer, "connection failed: {e}"),
        }
    }

    async fn serve(&mut self, shutdown: &mut Shutdown) -> io::Result<End> {
        let connect_timeout = Duration::from_secs(u64::from(
            self.ctx.shared.config.limits.connect_timeout_secs,
        ));
        let deadline = Instant::now() + connect_timeout;
        let mut out = Vec::new();
        loop {
            tokio::select! {
                r = self.transport.readable() => r?,
                () = sleep_until(deadline) => return Ok(End::ConnectTimeout),
                () = shutdown.recv() => return Ok(End::Shutdown),
            }
            match self.read_and_decode(&mut out)? {
                Step::Continue => {}
                Step::Eof => return Ok(End::PeerClosed),
                Step::Close(end) => {
                    if !out.is_empty() {
                        timeout(WRITE_TIMEOUT, self.transport.write_all(&out))
                            .await
                            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
                    }
                    self.linger(shutdown).await;
                    return Ok(end);
                }
            }
        }
    }

    /// Reads what is available and handles every whole packet; never awaits, so the
    /// shard's scratch buffer is borrowed only here.
    fn read_and_decode(&mut self, out: &mut Vec<u8>) -> io::Result<Step> {
        let ctx = Rc::clone(&self.ctx);
        let mut scratch = ctx.scratch.borrow_mut();
        let kept = self.leftover.len();
        let mut big = std::mem::take(&mut self.leftover);
        let in_scratch = kept.saturating_add(MIN_READ) <= scratch.len();
        let read = if in_scratch {
            let (head, tail) = scratch.split_at_mut(kept);
            head.copy_from_slice(&big);
            self.transport.try_read(tail)
        } else {
            // A frame larger than the scratch buffer: grow the connection's own buffer to
            // the frame size (bounded by the maximum packet size, checked by the decoder).
            let want = self.needed.max(kept.saturating_add(MIN_READ));
            big.resize(want, 0);
            let r = self
                .transport
                .try_read(big.get_mut(kept..).unwrap_or_default());
            big.truncate(kept + r.as_ref().map_or(0, |&n| n));
            r
        };
        let n = match read {
            Ok(0) => return Ok(Step::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.leftover = big;
                return Ok(Step::Continue);
            }
            Err(e) => return Err(e),
        };
        let filled = kept + n;
        let data: &[u8] = if in_scratch {
            scratch.get(..filled).unwrap_or_default()
        } else {
            &big
        };
        let (consumed, step) = self.decode_all(data, out);
        let rest = data.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            self.leftover = Vec::new();
        } else if in_scratch {
            self.leftover = rest.to_vec();
        } else {
            big.drain(..consumed);
            self.leftover = big;
        }
        Ok(step)
    }

    /// Decodes and handles packets from the front of `data`; returns the bytes consumed.
    fn decode_all(&mut self, data: &[u8], out: &mut Vec<u8>) -> (usize, Step) {
        let mut pos = 0;
        loop {
            let rest = data.get(pos..).unwrap_or_default();
            match self.reader.decode(rest) {
                Ok(Decoded::Incomplete { needed }) => {
                    self.needed = needed;
                    return (pos, Step::Continue);
                }
                Ok(Decoded::Packet { packet, consumed }) => {
                    pos += consumed;
                    if let Some(end) = self.on_packet(packet, out) {
                        return (pos, Step::Close(end));
                    }
                }
                Err(e) => return (pos, Step::Close(self.on_decode_error(e, rest, out))),
            }
        }
    }

    /// Handles one packet; `Some` ends the connection.
    ///
    /// This is where the session engine slots in: `Connection::handle_packet`, then
    /// `poll_transmit` into `out` and `poll_event` to the router.
    fn on_packet(&mut self, packet: Packet<'_>, out: &mut Vec<u8>) -> Option<End> {
        match packet {
            Packet::Connect(c) => {
                let reason = match self.authenticate(&c) {
                    AuthDecision::Allow => ReasonCode::ServerUnavailable,
                    AuthDecision::Deny(r) if c.protocol.is_v5() || r.to_v3_connack().is_some() => r,
                    AuthDecision::Deny(_) => ReasonCode::NotAuthorized,
                };
                write_connack(out, c.protocol, reason);
                Some(End::Refused(reason))
            }
            // The FrameReader rejects anything but CONNECT first; after CONNECT the placeholder
            // has already closed. Kept total for when the engine arrives.
            other => Some(End::NotConnect(other.packet_type() as u8)),
        }
    }

    fn authenticate(&self, c: &Connect<'_>) -> AuthDecision {
        self.ctx.shared.authenticator.authenticate(&ConnectInfo {
            peer: self.transport.peer_addr(),
            protocol: c.protocol,
            client_id: c.client_id,
            username: c.username,
            password: c.password,
        })
    }

    /// Answers a decode error: CONNACK while connecting, DISCONNECT (5.0) afterwards.
    fn on_decode_error(&mut self, e: DecodeError, frame: &[u8], out: &mut Vec<u8>) -> End {
        if let DecodeError::FirstPacketNotConnect { packet_type } = e {
            return End::NotConnect(packet_type);
        }
        match self.reader.version() {
            None => {
                if let Some(reason) = e.connack_reason() {
                    // The CONNECT did not decode; answer in the form of the version it
                    // announced, 3.1.1 when that is unknown (as [MQTT-3.1.2-2] asks for an
                    // unsupported level).
                    let version = peek_connect_version(frame).unwrap_or(ProtocolVersion::V3_1_1);
                    write_connack(out, version, reason);
                }
            }
            Some(v) if v.is_v5() => {
                let mut d = Disconnect::new();
                d.reason = e.reason_code();
                encode_into(out, &Packet::Disconnect(d), v);
            }
            // 3.1.1: close without a word.
            Some(_) => {}
        }
        End::Invalid(e)
    }

    /// Sends FIN, then reads and discards until the peer closes (or `LINGER` passes), so
    /// the final answer is not lost to an RST.
    async fn linger(&mut self, shutdown: &mut Shutdown) {
        if self.transport.shutdown().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        loop {
            tokio::select! {
                r = self.transport.readable() => if r.is_err() { return },
                () = sleep_until(deadline) => return,
                () = shutdown.recv() => return,
            }
            let ctx = Rc::clone(&self.ctx);
            let mut scratch = ctx.scratch.borrow_mut();
            match self.transport.try_read(&mut scratch) {
                Ok(0) => return,
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return,
                _ => {}
            }
        }
    }
}

/// Queues a CONNACK with `reason` in `version`'s wire form. A 3.1 / 3.1.1 peer gets the
/// 3.1.1 return code, or nothing when there is none ([MQTT-3.1.4-1]: close instead).
fn write_connack(out: &mut Vec<u8>, version: ProtocolVersion, reason: ReasonCode) {
    if !version.is_v5() && reason.to_v3_connack().is_none() {
        return;
    }
    encode_into(out, &Packet::ConnAck(ConnAck::new(false, reason)), version);
}

/// Appends `packet` encoded for `version` to `out`.
fn encode_into(out: &mut Vec<u8>, packet: &Packet<'_>, version: ProtocolVersion) {
    let start = out.len();
    match packet.encoded_len(version) {
        Ok(len) => {
            out.resize(start + len, 0);
            if let Err(e) = packet.encode(version, out.get_mut(start..).unwrap_or_default()) {
                out.truncate(start);
                debug!("cannot encode {:?}: {e}", packet.packet_type());
            }
        }
        Err(e) => debug!("cannot encode {:?}: {e}", packet.packet_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_hint() {
        // The broker answers a broken CONNECT in the version `peek_connect_version` reads.
        let connect_version_hint = peek_connect_version;
        let v311 = [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
        assert_eq!(connect_version_hint(&v311), Some(ProtocolVersion::V3_1_1));
        let v5 = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 5];
        assert_eq!(connect_version_hint(&v5), Some(ProtocolVersion::V5));
        let v31 = [0x10, 20, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3];
        assert_eq!(connect_version_hint(&v31), Some(ProtocolVersion::V3_1));
        assert_eq!(connect_version_hint(&[0x10, 13, 0, 4, b'M']), None);
        assert_eq!(connect_version_hint(&[0x30, 0]), None);
    }

    #[test]
    fn connack_forms() {
        let mut out = Vec::new();
        write_connack(
            &mut out,
            ProtocolVersion::V3_1_1,
            ReasonCode::ServerUnavailable,
        );
        assert_eq!(out, [0x20, 2, 0, 3]);
        out.clear();
        write_connack(&mut out, ProtocolVersion::V5, ReasonCode::ServerUnavailable);
        assert_eq!(out, [0x20, 3, 0, 0x88, 0]);
        out.clear();
        write_connack(
            &mut out,
            ProtocolVersion::V3_1_1,
            ReasonCode::MalformedPacket,
        );
        assert!(out.is_empty());
    }
}
