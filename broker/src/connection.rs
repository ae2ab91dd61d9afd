//! One client connection: reading, framing, the session engine, writing.
//!
//! # Life of a connection
//!
//! 1. **CONNECT.** The first frame is read into a small buffer of the connection's own and
//!    decoded. A first packet that is not CONNECT closes the connection without a word
//!    [MQTT-3.1.0-1]; a CONNECT that fails to decode gets a CONNACK with
//!    [`DecodeError::connack_reason`] in the form of the version it announced (nothing for a
//!    3.1.1 peer when 3.1.1 has no return code for the reason [MQTT-3.1.4-1]); no CONNECT
//!    within `limits.connect_timeout_secs` closes it. An accepted CONNECT takes over an
//!    existing session of the same client identifier, on this shard or, by message, on
//!    another one (the old connection gets DISCONNECT 0x8E in 5.0), and creates the core
//!    [`Connection`](tern_core::session::Connection), which queues the CONNACK.
//! 2. **Open.** On each wake-up (socket readable, deliveries queued by other sessions, the
//!    engine's deadline, shutdown) the connection reads everything available into its
//!    shard's scratch buffer, decodes every whole packet in place and hands it to the
//!    engine, routes incoming messages, then drains every packet the engine has to send into
//!    one output buffer and writes it with one `write_all` (one syscall when the socket has
//!    room). Only an unfinished frame's bytes are kept between reads; the output buffer goes
//!    back to the shard when written.
//! 3. **End.** The session stays on the shard (offline) or is deleted, per its expiry; a
//!    due Will is published. A taken-over connection writes its DISCONNECT and leaves the
//!    session to its successor.
//!
//! A connection may also **move** to another shard while open ([`crate::colocate`] says
//! when): its socket, engine and session travel as a [`Migrant`] and a new task on the
//! other shard carries on from phase 2; the peer sees nothing.

use std::fmt;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tern_core::codec::{
    ConnAck, Connect, DecodeError, Decoded, DecodedWith, EncodeError, FrameReader, Packet,
    ProtocolVersion, QoS, ReasonCode, ReasonCodes, SubAck, Subscribe, UnsubAck, Unsubscribe,
    peek_connect_version,
};
use tern_core::session::{
    CloseReason, Config as EngineConfig, Event, Incoming, Instant, Qos0Overflow, QueuePolicy,
    ReliableOverflow,
};
use tern_core::topic::{SharedFilter, TopicFilter, TopicName};
use tokio::time::{sleep_until, timeout};
use tracing::{debug, info};

use crate::auth::{AuthDecision, ClientInfo, ConnectInfo};
use crate::colocate::Flow;
use crate::config::OverflowPolicy;
use crate::outbuf::OutBuf;
use crate::router::{Home, SessionId, ShardMsg, SubValue};
use crate::server::ConnectionPermit;
use crate::session::{CoreConn, Msg, SlotCell, SlotState, now};
use crate::shard::{ShardCtx, bump, take_remote, unbump};
use crate::shutdown::Shutdown;
use crate::transport::Transport;

/// Size of each shard's read scratch buffer.
pub(crate) const SCRATCH_LEN: usize = 64 * 1024;
/// Read at least this much per `try_read`.
const MIN_READ: usize = 4096;
/// Longest wait for a write to complete before the peer is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After the final answer: how long to drain the peer's input before closing, so that the
/// kernel sends FIN rather than RST (which could discard our last packet at the peer).
const LINGER: Duration = Duration::from_secs(2);
/// Output gathered per write: a burst of deliveries is written in slices of this size.
pub(crate) const OUT_BATCH: usize = 64 * 1024;
/// A read of at most this many packets is "light load" (see `Connection::light_read`).
const LIGHT_READ: u64 = 2;
/// Longest wait for the other shards' barriers when a connection moves.
const MIGRATE_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// The peer sent a malformed packet.
    Invalid(DecodeError),
    /// The engine closed the connection.
    Closed(CloseReason),
    /// A newer connection took the session.
    TakenOver,
    /// The connection moved to this shard.
    Migrated(usize),
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
            Self::Closed(r) => write!(f, "{r:?}"),
            Self::TakenOver => f.write_str("session taken over"),
            Self::Migrated(to) => write!(f, "moved to shard {to}"),
        }
    }
}

/// A connection after its CONNECT was accepted.
struct Attached {
    id: SessionId,
    slot: Rc<SlotCell>,
    client_id: Arc<str>,
    username: Option<Arc<str>>,
    version: ProtocolVersion,
}

/// A client connection on its shard.
pub(crate) struct Connection<T> {
    transport: T,
    ctx: Rc<ShardCtx>,
    /// Counts this connection against `limits.max_connections`; travels with a move.
    permit: Option<ConnectionPermit>,
    reader: FrameReader,
    /// Bytes of an unfinished frame; empty (unallocated) between whole packets.
    leftover: Vec<u8>,
    /// Total bytes the decoder needs before it can make progress.
    needed: usize,
    /// Pending output (taken from the shard's spares while in use).
    out: OutBuf,
    /// The last read held only a few packets (light load; see `open`).
    light_read: bool,
}

impl<T: Transport> Connection<T> {
    pub(crate) fn new(transport: T, ctx: Rc<ShardCtx>, permit: ConnectionPermit) -> Self {
        let max = u32::try_from(ctx.shared.config.limits.max_packet_size.0).unwrap_or(u32::MAX);
        bump(&ctx.counters().connections, 1);
        Self {
            transport,
            ctx,
            permit: Some(permit),
            reader: FrameReader::new(max),
            leftover: Vec::new(),
            needed: 0,
            out: OutBuf::default(),
            light_read: false,
        }
    }

    /// Serves the connection until it ends; errors are logged, never propagated.
    ///
    /// Written as a function returning an `async move` block rather than an `async fn`
    /// taking `self` by value: the latter keeps both the argument and its moved copy in the
    /// task (about 170 bytes more per connection, idle or not).
    /// `done` is held until the connection has ended (the shard waits for every such guard
    /// at shutdown).
    pub(crate) fn run(
        self,
        shutdown: Shutdown,
        done: tokio::sync::mpsc::Sender<()>,
    ) -> impl Future<Output = ()> {
        let mut conn = self;
        let mut shutdown = shutdown;
        async move {
            let _done = done;
            let result = conn.serve(&mut shutdown).await;
            conn.log_end(&result);
        }
    }

    async fn serve(&mut self, shutdown: &mut Shutdown) -> io::Result<End> {
        // The CONNECT phase and the closing paths run once per connection: their futures
        // are boxed so that the task's own state (held while the connection idles) is
        // only what the open phase needs.
        let accepted = match Box::pin(self.read_connect(shutdown)).await? {
            // The frame lives only in this arm, so the task does not keep room for it.
            Ok(frame) => Box::pin(self.accept(&frame)).await,
            Err(end) => Err(end),
        };
        let attached = match accepted {
            Ok(a) => a,
            Err(end) => {
                Box::pin(self.finish(shutdown)).await?;
                return Ok(end);
            }
        };
        let result = self.open(&attached, shutdown).await;
        self.ended(&attached);
        result
    }

    /// After phase 2: whatever happened, the session is settled (unless a successor took
    /// it or it moved away). Not part of an `async fn`, so it adds nothing to the task.
    fn ended(&mut self, attached: &Attached) {
        let taken = matches!(attached.slot.borrow().state, SlotState::Gone(_));
        if !taken {
            if let SlotState::Online(conn) = &mut attached.slot.borrow_mut().state {
                conn.handle_transport_closed(now());
            }
            self.ctx.end_session(attached.id, &attached.slot, now());
            self.ctx.flush();
        }
        self.ctx.give_out(std::mem::take(&mut self.out));
    }

    /// Writes pending output, sends FIN and lingers briefly so the last packet is not lost
    /// to an RST.
    async fn finish(&mut self, shutdown: &mut Shutdown) -> io::Result<()> {
        self.write_out().await?;
        Box::pin(self.linger(shutdown)).await;
        Ok(())
    }

    async fn write_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            // Nothing was encoded: the buffer taken for it goes back too (an idle
            // connection holds none).
            if self.out.capacity() != 0 {
                self.ctx.give_out(std::mem::take(&mut self.out));
            }
            return Ok(());
        }
        let n = self.out.len();
        // Usually the socket has room and one `write` takes everything; only a full socket
        // buffer needs the (boxed, so the idle task does not carry its timer) slow path.
        let written = match self.transport.try_write(self.out.as_slice()) {
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        if written < n {
            Box::pin(self.write_rest(written)).await?;
        }
        bump(&self.ctx.counters().bytes_sent, n as u64);
        // The buffer goes back to the shard: an idle connection holds none.
        self.ctx.give_out(std::mem::take(&mut self.out));
        Ok(())
    }

    /// Writes `out[from..]`, waiting for the socket at most [`WRITE_TIMEOUT`].
    async fn write_rest(&mut self, from: usize) -> io::Result<()> {
        let rest = self.out.as_slice().get(from..).unwrap_or_default();
        timeout(WRITE_TIMEOUT, self.transport.write_all(rest))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    // ---- phase 1: CONNECT ----------------------------------------------------------------

    /// Reads until the first whole frame: `Ok(Ok(frame))` for a CONNECT (its bytes; what
    /// follows stays in `leftover`), `Ok(Err(end))` when the connection must end (any
    /// answer is in `out`).
    async fn read_connect(&mut self, shutdown: &mut Shutdown) -> io::Result<Result<Vec<u8>, End>> {
        let connect_timeout = Duration::from_secs(u64::from(
            self.ctx.shared.config.limits.connect_timeout_secs,
        ));
        let deadline = tokio::time::Instant::now() + connect_timeout;
        loop {
            tokio::select! {
                r = self.transport.readable() => r?,
                () = sleep_until(deadline) => return Ok(Err(End::ConnectTimeout)),
                () = shutdown.recv() => return Ok(Err(End::Shutdown)),
            }
            // Read into the shard's scratch (no buffer of our own in the task's state, so
            // a connection waiting for its CONNECT costs little); keep what arrived.
            let read = {
                let ctx = Rc::clone(&self.ctx);
                let mut scratch = ctx.scratch.borrow_mut();
                let r = self.transport.try_read(&mut scratch);
                if let Ok(n) = r {
                    self.leftover
                        .extend_from_slice(scratch.get(..n).unwrap_or_default());
                }
                r
            };
            match read {
                Ok(0) => return Ok(Err(End::PeerClosed)),
                Ok(n) => bump(&self.ctx.counters().bytes_received, n as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            match self.reader.decode(&self.leftover) {
                Ok(Decoded::Incomplete { .. }) => {}
                Ok(Decoded::Packet { packet, consumed }) => {
                    if !matches!(packet, Packet::Connect(_)) {
                        // The reader only lets CONNECT through first; kept total.
                        return Ok(Err(End::NotConnect(packet.packet_type() as u8)));
                    }
                    let frame = self.leftover.drain(..consumed).collect();
                    if self.leftover.is_empty() {
                        self.leftover = Vec::new();
                    }
                    return Ok(Ok(frame));
                }
                Err(e) => {
                    let data = std::mem::take(&mut self.leftover);
                    return Ok(Err(self.on_connect_error(e, &data)));
                }
            }
        }
    }

    /// Answers a CONNECT that did not decode.
    fn on_connect_error(&mut self, e: DecodeError, frame: &[u8]) -> End {
        bump(&self.ctx.counters().protocol_errors, 1);
        if let DecodeError::FirstPacketNotConnect { packet_type } = e {
            return End::NotConnect(packet_type);
        }
        if let Some(reason) = e.connack_reason() {
            // Answer in the form of the version the CONNECT announced, 3.1.1 when that is
            // unknown (as [MQTT-3.1.2-2] asks for an unsupported level).
            let version = peek_connect_version(frame).unwrap_or(ProtocolVersion::V3_1_1);
            write_connack(&mut self.out, version, reason);
        }
        End::Invalid(e)
    }

    /// Authenticates, finds or takes over the session, and attaches it.
    async fn accept(&mut self, frame: &[u8]) -> Result<Attached, End> {
        let version = self.reader.version().unwrap_or(ProtocolVersion::V3_1_1);
        let Ok(Packet::Connect(mut connect)) = Packet::decode(version, frame) else {
            return Err(End::NotConnect(0));
        };
        let v5 = connect.protocol.is_v5();
        bump(&self.ctx.counters().msgs_received, 1);
        let refuse = |out: &mut OutBuf, r: ReasonCode| {
            write_connack(out, connect.protocol, r);
            End::Refused(r)
        };
        match self.authenticate(&connect) {
            AuthDecision::Allow => {}
            AuthDecision::Deny(r) if v5 || r.to_v3_connack().is_some() => {
                return Err(refuse(&mut self.out, r));
            }
            AuthDecision::Deny(_) => return Err(refuse(&mut self.out, ReasonCode::NotAuthorized)),
        }
        let config = &self.ctx.shared.config;
        // Client identifier: an empty one is assigned; 3.1.1 allows that only with
        // CleanSession 1 ([MQTT-3.1.3-8]: return code 0x02 otherwise).
        let mut assigned = None;
        let client_id: Arc<str> = if connect.client_id.is_empty() {
            if !v5 && !connect.clean_start {
                return Err(refuse(&mut self.out, ReasonCode::ClientIdentifierNotValid));
            }
            let id = self.ctx.shared.router.assign_client_id();
            assigned = Some(id.clone());
            id.into()
        } else {
            connect.client_id.into()
        };
        // Session Expiry: capped by configuration (and told to the client in CONNACK).
        let mut expiry_capped = None;
        if v5
            && let Some(e) = connect.properties.session_expiry_interval
            && e > config.sessions.max_session_expiry_secs
        {
            connect.properties.session_expiry_interval =
                Some(config.sessions.max_session_expiry_secs);
            expiry_capped = Some(config.sessions.max_session_expiry_secs);
        }
        // Keep Alive: a 5.0 client asking for more than the maximum (or none) is told the
        // maximum as Server Keep Alive.
        let max_ka = config.limits.max_keep_alive_secs;
        let server_keep_alive =
            (v5 && (connect.keep_alive == 0 || connect.keep_alive > max_ka)).then_some(max_ka);

        // Take the previous session of this client over, wherever it lives.
        let prev = {
            let r = self.ctx.shared.router.state();
            r.clients
                .get(&client_id)
                .map(|id| (*id, r.homes.get(id).map(|h| h.shard)))
        };
        let t = now();
        let old = match prev {
            // Here: taken at once. Homed here but not arrived (migrating here): through
            // this shard's own inbox, where the request waits for the session.
            Some((pid, Some(home))) if home == self.ctx.id && self.ctx.has_session(pid) => {
                self.ctx.take_session(pid, t)
            }
            Some((pid, Some(home))) => {
                let s = take_remote(&self.ctx, home, pid).await;
                self.ctx.flush();
                s
            }
            _ => None,
        };
        let t = now();
        let resume = !connect.clean_start && old.as_ref().is_some_and(|s| !s.is_expired(t));
        let id = {
            let mut r = self.ctx.shared.router.state();
            let home = Home {
                shard: self.ctx.id,
                client_id: Arc::clone(&client_id),
                online: true,
                version: connect.protocol,
            };
            match prev {
                Some((pid, _)) if resume => {
                    r.homes.insert(pid, home);
                    r.clients.insert(Arc::clone(&client_id), pid);
                    pid
                }
                _ => {
                    if let Some((pid, _)) = prev {
                        let filters: Vec<String> = old
                            .iter()
                            .flat_map(|s| s.subscriptions().map(|s| s.filter().to_owned()))
                            .collect();
                        r.forget_session(pid, &filters);
                    }
                    let id = self.ctx.shared.router.new_session_id();
                    r.homes.insert(id, home);
                    r.clients.insert(Arc::clone(&client_id), id);
                    id
                }
            }
        };
        let engine = engine_config(config, server_keep_alive);
        let session = if resume { old } else { None };
        let mut conn = match CoreConn::from_connect(t, &connect, session, engine) {
            Ok(c) => c,
            Err(e) => {
                self.ctx.shared.router.state().forget_session(id, [""; 0]);
                return Err(refuse(&mut self.out, e.reason_code()));
            }
        };
        // The engine's CONNACK, completed with the broker's 5.0 properties.
        let mut first = [0u8; 512];
        if let Ok(Some(n)) = conn.poll_transmit(t, &mut first) {
            let bytes = first.get(..n).unwrap_or_default();
            match Packet::decode(connect.protocol, bytes) {
                Ok(Packet::ConnAck(mut ack)) if v5 => {
                    let p = &mut ack.properties;
                    p.assigned_client_identifier = assigned.as_deref();
                    p.session_expiry_interval = expiry_capped;
                    if !config.retain_available {
                        p.retain_available = Some(false);
                    }
                    if !config.shared_subscriptions_available {
                        p.shared_subscription_available = Some(false);
                    }
                    encode_into(&mut self.out, &Packet::ConnAck(ack), connect.protocol);
                }
                _ => self.out.extend(bytes),
            }
            bump(&self.ctx.counters().msgs_sent, 1);
        }
        let slot = Rc::new(SlotCell::new(Box::new(conn), Flow::new(t, 0)));
        self.ctx.insert(id, Rc::clone(&slot));
        self.ctx.flush();
        debug!(shard = self.ctx.id, client = %client_id, session = id, resume, "connected");
        Ok(Attached {
            id,
            slot,
            client_id,
            username: connect.username.map(Into::into),
            version: connect.protocol,
        })
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

    // ---- phase 2: open -------------------------------------------------------------------

    async fn open(&mut self, a: &Attached, shutdown: &mut Shutdown) -> io::Result<End> {
        // Bytes that arrived behind the CONNECT.
        if !self.leftover.is_empty() {
            let data = std::mem::take(&mut self.leftover);
            let (consumed, end) = self.decode_all(a, &data);
            let rest = data.get(consumed..).unwrap_or_default();
            self.leftover = rest.to_vec();
            if let Some(end) = end {
                return Box::pin(self.close(a, end, shutdown)).await;
            }
        }
        // The engine's deadline is armed in the shard's timer set (one tokio timer per
        // shard, not per connection: no timer registration per wake-up, and an idle
        // connection's task holds no timer).
        let mut armed = None;
        // The last read filled the buffer (see `Step::More`).
        let mut backlog = false;
        let result = loop {
            // Output: everything the engine has, written in one go per batch.
            loop {
                let more = self.drain(a);
                self.ctx.flush();
                if let Err(e) = self.write_out().await {
                    self.ctx.disarm(a.id, armed);
                    return Err(e);
                }
                if !more {
                    break;
                }
                // A deep queue (a subscriber of many publishers) is written one batch per
                // turn: the other connections of the shard get theirs in between, so their
                // acknowledgements are not held up behind it.
                tokio::task::yield_now().await;
            }
            if let Some(end) = self.closed(a) {
                break Box::pin(self.close(a, end, shutdown)).await;
            }
            if std::mem::take(&mut backlog) {
                tokio::task::yield_now().await;
            }
            let t = now();
            if let Some(to) = self.migration_target(a, t) {
                self.ctx.disarm(a.id, armed.take());
                if Box::pin(self.migrate(a, to)).await {
                    break Ok(End::Migrated(to));
                }
                continue;
            }
            let deadline = match &mut a.slot.borrow_mut().state {
                SlotState::Online(conn) => {
                    if conn.poll_timeout().is_some_and(|d| d <= t) {
                        // Keep-alive, and expired queued messages (which free queue bytes).
                        let before = conn.session().queued_bytes();
                        conn.handle_timeout(t);
                        self.ctx.queued_delta(before, conn.session().queued_bytes());
                        continue;
                    }
                    conn.poll_timeout()
                }
                _ => None,
            };
            if self.ctx.is_stopping() {
                if let SlotState::Online(conn) = &mut a.slot.borrow_mut().state {
                    conn.disconnect(t, ReasonCode::ServerShuttingDown);
                }
                self.drain(a);
                if let Err(e) = Box::pin(self.finish(shutdown)).await {
                    self.ctx.disarm(a.id, armed);
                    return Err(e);
                }
                break Ok(End::Shutdown);
            }
            self.ctx.arm(a.id, &mut armed, deadline);
            tokio::select! {
                r = self.transport.readable() => {
                    let step = match r {
                        Ok(()) => self.read_and_decode(a),
                        Err(e) => Err(e),
                    };
                    match step {
                        // Under light load, a delivery to a subscriber of this shard goes
                        // out before this connection's own acknowledgements: the woken
                        // subscriber runs first, so a message's latency does not include
                        // the write of the publisher's PUBACK. (Under load, reads hold many
                        // packets and output stays batched.)
                        Ok(Step::Continue) if self.light_read && self.ctx.take_woke_local() => {
                            tokio::task::yield_now().await;
                        }
                        Ok(Step::Continue) => {}
                        // A publisher with a deep socket backlog would otherwise hold the
                        // shard for many reads in a row (tokio's readiness stays set, so
                        // `readable` does not yield), starving the subscribers it feeds.
                        Ok(Step::More) => backlog = true,
                        Ok(Step::Eof) => {
                            if let SlotState::Online(conn) = &mut a.slot.borrow_mut().state {
                                conn.handle_transport_closed(now());
                            }
                            break Ok(End::PeerClosed);
                        }
                        Ok(Step::Close(end)) => break Box::pin(self.close(a, end, shutdown)).await,
                        Err(e) => break Err(e),
                    }
                }
                // Deliveries, a takeover, the shard's timer or shutdown.
                () = a.slot.notify.notified() => {}
            }
        };
        self.ctx.disarm(a.id, armed);
        result
    }

    /// The shard this connection should move to now, if any (see [`crate::colocate`]).
    fn migration_target(&self, a: &Attached, now: Instant) -> Option<usize> {
        let shared = &self.ctx.shared;
        if !shared.config.colocate || shared.router.inboxes.len() < 2 || self.ctx.is_stopping() {
            return None;
        }
        let counters = &shared.counters;
        let here = self.ctx.id;
        let connections = |s: usize| {
            counters
                .get(s)
                .map_or(u64::MAX, |c| c.connections.load(Ordering::Relaxed))
        };
        // A heavy flow moves only to a shard with no more connections than this one.
        let balanced = |to: usize| connections(to) <= connections(here);
        let to = a.slot.borrow_mut().flow.verdict(now, a.id, balanced)?;
        (to != here).then_some(to)
    }

    /// Moves this connection to shard `to`; `true` if it left (this task then ends
    /// without touching the session), `false` if it stays (the transport cannot move, or
    /// the session was taken over meanwhile: the loop then closes it).
    ///
    /// Order is kept: the session's home changes first, so new deliveries go to `to` and
    /// wait there; then every other shard answers a barrier behind what it routed here
    /// before the change; only then does the session, with all of that queued, leave.
    async fn migrate(&mut self, a: &Attached, to: usize) -> bool {
        let Some(stream) = self.transport.duplicate() else {
            return false;
        };
        let Some(permit) = self.permit.take() else {
            return false;
        };
        if !self.ctx.start_migration(a.id, to) {
            self.permit = Some(permit);
            return false;
        }
        // The slot's `Notify` fires for the last barrier, for deliveries, for a takeover
        // (which can still come from a request sent here before the home changed) and at
        // shutdown.
        let online = || matches!(a.slot.borrow().state, SlotState::Online(_));
        let barriers = async {
            while online() && !self.ctx.migration_ready(a.id) && !self.ctx.is_stopping() {
                a.slot.notify.notified().await;
            }
        };
        let timed_out = timeout(MIGRATE_TIMEOUT, barriers).await.is_err();
        if online() && (timed_out || self.ctx.is_stopping()) {
            // Stay: a stopping broker says goodbye from here (5.0: DISCONNECT 0x8B).
            debug!(
                shard = self.ctx.id,
                session = a.id,
                timed_out,
                "migration called off"
            );
            self.ctx.cancel_migration(a.id, to);
            self.permit = Some(permit);
            return false;
        }
        let moves = a.slot.borrow().flow.moves().saturating_add(1);
        let Some(conn) = self.ctx.finish_migration(a.id, &a.slot, to) else {
            self.permit = Some(permit);
            return false;
        };
        let migrant = Migrant {
            stream,
            permit,
            reader: self.reader,
            leftover: std::mem::take(&mut self.leftover),
            needed: self.needed,
            id: a.id,
            conn,
            client_id: Arc::clone(&a.client_id),
            username: a.username.clone(),
            version: a.version,
            moves,
        };
        if let Some(inbox) = self.ctx.shared.router.inboxes.get(to) {
            inbox.push_batch(&mut vec![ShardMsg::Migrate(Box::new(migrant))]);
        }
        debug!(shard = self.ctx.id, client = %a.client_id, session = a.id, to, "connection moved");
        true
    }

    /// `Some` once the connection is over: taken over, or closed by the engine.
    fn closed(&self, a: &Attached) -> Option<End> {
        match &a.slot.borrow().state {
            SlotState::Online(conn) => conn.close_reason().map(End::Closed),
            _ => Some(End::TakenOver),
        }
    }

    /// Writes the last packets (the DISCONNECT of a takeover included) and closes.
    async fn close(&mut self, a: &Attached, end: End, shutdown: &mut Shutdown) -> io::Result<End> {
        self.drain(a);
        let farewell = match &mut a.slot.borrow_mut().state {
            SlotState::Gone(farewell) => std::mem::take(farewell),
            _ => OutBuf::default(),
        };
        self.out.extend(farewell.as_slice());
        let by_peer = matches!(end, End::Closed(CloseReason::Disconnected { .. }));
        if by_peer {
            self.write_out().await?;
        } else {
            self.finish(shutdown).await?;
        }
        Ok(end)
    }

    /// Drains the engine's packets into `out` (up to [`OUT_BATCH`]) and handles its
    /// events; `true` if there is more to send.
    fn drain(&mut self, a: &Attached) -> bool {
        let mut guard = a.slot.borrow_mut();
        let SlotState::Online(conn) = &mut guard.state else {
            return false;
        };
        if self.out.capacity() == 0 {
            self.out = self.ctx.take_out();
        }
        let before = conn.session().queued_bytes();
        let (packets, publishes, more) = drain_transmit(conn, now(), &mut self.out);
        self.ctx.queued_delta(before, conn.session().queued_bytes());
        let c = self.ctx.counters();
        bump(&c.msgs_sent, packets);
        bump(&c.pub_sent, publishes);
        while let Some(ev) = conn.poll_event() {
            if let Event::Dropped { .. } = ev {
                bump(&c.pub_dropped, 1);
            }
        }
        more
    }

    /// Reads what is available and handles every whole packet; never awaits, so the
    /// shard's scratch buffer is borrowed only here.
    fn read_and_decode(&mut self, a: &Attached) -> io::Result<Step> {
        let ctx = Rc::clone(&self.ctx);
        let mut scratch = ctx.scratch.borrow_mut();
        let kept = self.leftover.len();
        let mut big = std::mem::take(&mut self.leftover);
        let in_scratch = kept.saturating_add(MIN_READ) <= scratch.len();
        // `room`: what this read was offered; a read that fills it probably left more in
        // the socket.
        let (read, room) = if in_scratch {
            let (head, tail) = scratch.split_at_mut(kept);
            head.copy_from_slice(&big);
            let room = tail.len();
            (self.transport.try_read(tail), room)
        } else {
            // A frame larger than the scratch buffer: grow the connection's own buffer to
            // the frame size (bounded by the maximum packet size, checked by the decoder).
            let want = self.needed.max(kept.saturating_add(MIN_READ));
            big.resize(want, 0);
            let r = self
                .transport
                .try_read(big.get_mut(kept..).unwrap_or_default());
            big.truncate(kept + r.as_ref().map_or(0, |&n| n));
            (r, want.saturating_sub(kept))
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
        bump(&ctx.counters().bytes_received, n as u64);
        let full = n == room;
        let filled = kept + n;
        let data: &[u8] = if in_scratch {
            scratch.get(..filled).unwrap_or_default()
        } else {
            &big
        };
        let (consumed, end) = self.decode_all(a, data);
        let rest = data.get(consumed..).unwrap_or_default();
        if rest.is_empty() {
            self.leftover = Vec::new();
        } else if in_scratch {
            self.leftover = rest.to_vec();
        } else {
            big.drain(..consumed);
            self.leftover = big;
        }
        Ok(match end {
            Some(end) => Step::Close(end),
            None if full => Step::More,
            None => Step::Continue,
        })
    }

    /// Decodes and handles packets from the front of `data`; returns the bytes consumed and
    /// why the connection must end, if it must.
    fn decode_all(&mut self, a: &Attached, data: &[u8]) -> (usize, Option<End>) {
        // One clock read per batch of packets (the engine counts in milliseconds).
        let t = now();
        self.ctx.take_woke_local();
        let mut pos = 0;
        let mut received = 0u64;
        let end = loop {
            let rest = data.get(pos..).unwrap_or_default();
            // The packet is handled where the decoder built it (no copy of the `Packet`);
            // the reader is a copy for the call, so that the closure may borrow `self`.
            let mut reader = self.reader;
            let step = reader.decode_with(rest, |packet, consumed| {
                let frame = rest.get(..consumed).unwrap_or_default();
                (consumed, self.on_packet(a, packet, frame, t))
            });
            self.reader = reader;
            match step {
                Ok(DecodedWith::Incomplete { needed }) => {
                    self.needed = needed;
                    break None;
                }
                Ok(DecodedWith::Packet((consumed, end))) => {
                    pos += consumed;
                    received += 1;
                    if let Some(end) = end {
                        break Some(end);
                    }
                }
                Err(e) => {
                    // Malformed after CONNACK: 5.0 gets DISCONNECT with the reason code,
                    // 3.1.1 is closed without a word ([MQTT-4.8.0-1], 5.0 4.13).
                    bump(&self.ctx.counters().protocol_errors, 1);
                    info!(client = %a.client_id, "closing: malformed packet: {e}");
                    if let SlotState::Online(conn) = &mut a.slot.borrow_mut().state {
                        conn.disconnect(t, e.reason_code());
                    }
                    break Some(End::Invalid(e));
                }
            }
        };
        bump(&self.ctx.counters().msgs_received, received);
        self.light_read = received <= LIGHT_READ;
        (pos, end)
    }

    /// Handles one packet after CONNECT (`frame`: its bytes); `Some` ends the connection.
    fn on_packet(
        &mut self,
        a: &Attached,
        packet: &Packet<'_>,
        frame: &[u8],
        t: Instant,
    ) -> Option<End> {
        let mut guard = a.slot.borrow_mut();
        let SlotState::Online(conn) = &mut guard.state else {
            return Some(End::TakenOver);
        };
        // The engine takes the packet by reference: `packet` (borrowing the read buffer, not
        // the engine) still serves below, once the engine is free again, for SUBSCRIBE /
        // UNSUBSCRIBE and a PUBLISH's topic. (Copies of the whole `Packet`, 272 bytes, the
        // size of CONNECT, were a measurable part of the hot path.)
        // One match on the engine's answer, not a binding of its `Ok` value first: that
        // would copy the whole `Incoming` (a `Packet` wide) for every packet.
        match conn.handle_packet_ref(t, packet) {
            Err(e) => {
                bump(&self.ctx.counters().protocol_errors, 1);
                info!(client = %a.client_id, "closing: protocol error: {e}");
                Some(End::Closed(CloseReason::Protocol(e)))
            }
            Ok(None) => None,
            Ok(Some(Incoming::Publish { publish, token })) => {
                bump(&self.ctx.counters().pub_received, 1);
                let config = &self.ctx.shared.config;
                let qos = publish.qos_pid.qos();
                if publish.retain && !config.retain_available {
                    // 5.0 [MQTT-3.3.1-16]: DISCONNECT 0x9A Retain not supported.
                    conn.disconnect(t, ReasonCode::RetainNotSupported);
                    return None;
                }
                // The topic as received (borrowing the read buffer, so it outlives the
                // engine's borrow below and is routed without being checked again), unless a
                // Topic Alias supplied it.
                let received = match packet {
                    Packet::Publish(p) if std::ptr::eq(p.topic, publish.topic) => Some(p.topic),
                    _ => None,
                };
                let (topic, route_topic) = match received {
                    Some(r) => {
                        let topic = self.admit(a, r);
                        (topic, topic)
                    }
                    None => (self.admit(a, publish.topic), None),
                };
                let Some(topic) = topic else {
                    // Clients may not publish to $SYS; others per the authorizer. The
                    // message is acknowledged (0x87 in 5.0) and dropped.
                    bump(&self.ctx.counters().pub_dropped, 1);
                    if let Some(token) = token {
                        conn.accept(token, ReasonCode::NotAuthorized);
                    }
                    return None;
                };
                // One copy of the packet holds the message's topic, payload and (for
                // subscribers of this version and QoS) its encoding.
                let msg = Msg::from_publish_frame(t, topic, &publish, qos, a.version, frame);
                drop(guard);
                let reason = match msg {
                    Ok(msg) => {
                        let routed = match route_topic {
                            Some(topic) => self.ctx.publish_to(Some(a.id), &msg, topic, t),
                            None => self.ctx.publish(Some(a.id), &msg, t),
                        };
                        if routed.matched == 0 && a.version.is_v5() {
                            ReasonCode::NoMatchingSubscribers
                        } else {
                            ReasonCode::Success
                        }
                    }
                    Err(_) => ReasonCode::ImplementationSpecificError,
                };
                if let (Some(token), SlotState::Online(conn)) =
                    (token, &mut a.slot.borrow_mut().state)
                {
                    conn.accept(token, reason);
                }
                None
            }
            Ok(Some(Incoming::Packet(Packet::Subscribe(_)))) => match packet {
                Packet::Subscribe(s) => self.on_subscribe(a, conn, s, t),
                _ => None,
            },
            Ok(Some(Incoming::Packet(Packet::Unsubscribe(_)))) => {
                if let Packet::Unsubscribe(u) = packet {
                    self.on_unsubscribe(a, conn, u, t);
                }
                None
            }
            Ok(Some(Incoming::Packet(_))) => {
                // AUTH without an authentication method in CONNECT: Protocol Error (5.0
                // [MQTT-3.15.0-?], 4.12).
                conn.disconnect(t, ReasonCode::ProtocolError);
                None
            }
        }
    }

    /// `topic` as the name a client may publish to: a valid topic name, not `$SYS/...`
    /// (clients may not publish there), and allowed by the authorizer.
    fn admit<'t>(&self, a: &Attached, topic: &'t str) -> Option<TopicName<'t>> {
        TopicName::new(topic).ok().filter(|name| {
            !topic.starts_with("$SYS")
                && self.ctx.shared.authorizer.may_publish(
                    &ClientInfo {
                        client_id: &a.client_id,
                        username: a.username.as_deref(),
                    },
                    *name,
                )
        })
    }

    /// SUBSCRIBE: validates and authorises each filter, records it in the session and the
    /// index, answers SUBACK, then queues the retained messages (after the SUBACK).
    fn on_subscribe(
        &mut self,
        a: &Attached,
        conn: &mut CoreConn,
        s: &Subscribe<'_>,
        t: Instant,
    ) -> Option<End> {
        let v5 = a.version.is_v5();
        let config = &self.ctx.shared.config;
        let identifier = s.properties.subscription_identifier;
        let mut codes: Vec<ReasonCode> = Vec::new();
        let mut retained: Vec<Msg> = Vec::new();
        for sub in s.filters.iter() {
            let options = sub.options;
            let value = SubValue {
                options,
                identifier,
            };
            let shared = match SharedFilter::parse(sub.filter) {
                Ok(Some(f)) => Some(f),
                Ok(None) => None,
                Err(_) => {
                    codes.push(ReasonCode::TopicFilterInvalid);
                    continue;
                }
            };
            if shared.is_some() && options.no_local {
                // 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
                conn.disconnect(t, ReasonCode::ProtocolError);
                return None;
            }
            if shared.is_some() && !config.shared_subscriptions_available {
                codes.push(ReasonCode::SharedSubscriptionsNotSupported);
                continue;
            }
            let filter = match shared {
                Some(f) => f.filter(),
                None => match TopicFilter::new(sub.filter) {
                    Ok(f) => f,
                    Err(_) => {
                        codes.push(ReasonCode::TopicFilterInvalid);
                        continue;
                    }
                },
            };
            let who = ClientInfo {
                client_id: &a.client_id,
                username: a.username.as_deref(),
            };
            if !self.ctx.shared.authorizer.may_subscribe(&who, filter) {
                codes.push(ReasonCode::NotAuthorized);
                continue;
            }
            let existed = match conn
                .session_mut()
                .subscribe(sub.filter, options, identifier)
            {
                Ok(existed) => existed,
                Err(_) => {
                    codes.push(ReasonCode::QuotaExceeded);
                    continue;
                }
            };
            let mut r = self.ctx.shared.router.state();
            match shared {
                Some(sf) => {
                    r.index_mut().subscribe_shared(sf, a.id, value);
                }
                None => {
                    r.index_mut().subscribe(filter, a.id, value);
                    // Retained messages: Retain Handling 0 always, 1 only for a new
                    // subscription, 2 never (5.0 3.8.3.1); none for a shared subscription.
                    let send = match options.retain_handling {
                        tern_core::codec::RetainHandling::SendAtSubscribe => true,
                        tern_core::codec::RetainHandling::SendAtSubscribeIfNew => !existed,
                        tern_core::codec::RetainHandling::DoNotSend => false,
                    };
                    if send {
                        r.retained_for(filter, value, t, &mut retained);
                    }
                }
            }
            codes.push(granted(options.qos));
        }
        // The SUBACK goes after whatever the engine already had queued.
        if self.out.capacity() == 0 {
            self.out = self.ctx.take_out();
        }
        let before = conn.session().queued_bytes();
        let (packets, publishes, _) = drain_transmit(conn, t, &mut self.out);
        let mut ack = SubAck::new(s.packet_id, ReasonCodes::Slice(&codes));
        if let Some(bad) = codes.iter().find(|c| c.is_error()) {
            ack.properties.reason_string = Some(bad.description());
        }
        if !v5 {
            // 3.1.1 knows only 0x80 Failure.
            for c in &mut codes {
                if c.is_error() {
                    *c = ReasonCode::UnspecifiedError;
                }
            }
            ack = SubAck::new(s.packet_id, ReasonCodes::Slice(&codes));
        }
        encode_into(&mut self.out, &Packet::SubAck(ack), a.version);
        let c = self.ctx.counters();
        bump(&c.msgs_sent, packets + 1);
        bump(&c.pub_sent, publishes);
        for m in retained {
            if conn.publish(m).is_err() {
                bump(&c.pub_dropped, 1);
            }
        }
        self.ctx.queued_delta(before, conn.session().queued_bytes());
        None
    }

    /// UNSUBSCRIBE: removes each filter from the session and the index; UNSUBACK with 0x00
    /// or 0x11 No subscription existed per filter (5.0).
    fn on_unsubscribe(
        &mut self,
        a: &Attached,
        conn: &mut CoreConn,
        u: &Unsubscribe<'_>,
        t: Instant,
    ) {
        let mut codes: Vec<ReasonCode> = Vec::new();
        {
            let mut r = self.ctx.shared.router.state();
            for f in u.filters.iter() {
                let had = conn.session_mut().unsubscribe(f);
                let removed = match SharedFilter::parse(f) {
                    Ok(Some(sf)) => r.index_mut().unsubscribe_shared(sf, &a.id).is_some(),
                    Ok(None) => TopicFilter::new(f)
                        .ok()
                        .and_then(|tf| r.index_mut().unsubscribe(tf, &a.id))
                        .is_some(),
                    Err(_) => false,
                };
                codes.push(if had || removed {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                });
            }
        }
        if self.out.capacity() == 0 {
            self.out = self.ctx.take_out();
        }
        let before = conn.session().queued_bytes();
        let (packets, publishes, _) = drain_transmit(conn, t, &mut self.out);
        self.ctx.queued_delta(before, conn.session().queued_bytes());
        let mut ack = UnsubAck::new(u.packet_id);
        ack.reason_codes = ReasonCodes::Slice(&codes);
        if let Some(bad) = codes.iter().find(|c| c.is_error()) {
            ack.properties.reason_string = Some(bad.description());
        }
        encode_into(&mut self.out, &Packet::UnsubAck(ack), a.version);
        let c = self.ctx.counters();
        bump(&c.msgs_sent, packets + 1);
        bump(&c.pub_sent, publishes);
    }

    /// Sends FIN, then reads and discards until the peer closes (or `LINGER` passes), so
    /// the final answer is not lost to an RST.
    async fn linger(&mut self, shutdown: &mut Shutdown) {
        if self.transport.shutdown().await.is_err() {
            return;
        }
        let deadline = tokio::time::Instant::now() + LINGER;
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

/// An open connection on its way to another shard: what the new task there needs to
/// carry on (the socket is a duplicate descriptor of the same TCP connection; the old
/// one is closed without a FIN when the old task ends).
pub(crate) struct Migrant {
    stream: std::net::TcpStream,
    permit: ConnectionPermit,
    reader: FrameReader,
    leftover: Vec<u8>,
    needed: usize,
    id: SessionId,
    conn: Box<CoreConn>,
    client_id: Arc<str>,
    username: Option<Arc<str>>,
    version: ProtocolVersion,
    moves: u8,
}

/// Takes in a connection that moved to this shard: its session joins the shard (with what
/// was delivered for it meanwhile), takeover requests that waited for it are answered,
/// and a task carries on serving it.
pub(crate) fn adopt(
    ctx: &Rc<ShardCtx>,
    m: Migrant,
    shutdown: &Shutdown,
    done: &tokio::sync::mpsc::Sender<()>,
    t: Instant,
) {
    let Migrant {
        stream,
        permit,
        reader,
        leftover,
        needed,
        id,
        conn,
        client_id,
        username,
        version,
        moves,
    } = m;
    let slot = Rc::new(SlotCell::new(conn, Flow::new(t, moves)));
    ctx.insert(id, Rc::clone(&slot));
    for reply in ctx.arrived(id) {
        let _ = reply.send(ctx.take_session(id, t));
    }
    let stream = match tokio::net::TcpStream::from_std(stream) {
        Ok(s) => s,
        Err(e) => {
            debug!(shard = ctx.id, session = id, "moved connection lost: {e}");
            if let SlotState::Online(conn) = &mut slot.borrow_mut().state {
                conn.handle_transport_closed(t);
            }
            ctx.end_session(id, &slot, t);
            ctx.flush();
            return;
        }
    };
    bump(&ctx.counters().connections, 1);
    let conn = Connection {
        transport: crate::transport::Tcp::new(stream),
        ctx: Rc::clone(ctx),
        permit: Some(permit),
        reader,
        leftover,
        needed,
        out: OutBuf::default(),
        light_read: false,
    };
    let attached = Attached {
        id,
        slot,
        client_id,
        username,
        version,
    };
    tokio::task::spawn_local(conn.resume(attached, shutdown.clone(), done.clone()));
}

impl<T: Transport> Connection<T> {
    /// [`run`](Self::run) for a connection that moved here with its session attached. A
    /// future of its own, so that accepted connections' tasks do not carry an
    /// `Option<Attached>` (every idle connection would pay for it).
    fn resume(
        self,
        attached: Attached,
        shutdown: Shutdown,
        done: tokio::sync::mpsc::Sender<()>,
    ) -> impl Future<Output = ()> {
        let mut conn = self;
        let mut shutdown = shutdown;
        async move {
            let _done = done;
            let result = conn.open(&attached, &mut shutdown).await;
            conn.ended(&attached);
            conn.log_end(&result);
        }
    }

    fn log_end(&self, result: &io::Result<End>) {
        let peer = self.transport.peer_addr();
        match result {
            Ok(end) => debug!(shard = self.ctx.id, ?peer, "connection ended: {end}"),
            Err(e) => debug!(shard = self.ctx.id, ?peer, "connection failed: {e}"),
        }
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        unbump(&self.ctx.counters().connections, 1);
    }
}

/// What one read produced.
enum Step {
    /// Nothing to do until the next wake-up (spurious wake-up or partial frame).
    Continue,
    /// The read filled the buffer: more input is probably waiting, but the shard's other
    /// connections get a turn first.
    More,
    /// End of stream.
    Eof,
    /// Write the queued output, then close.
    Close(End),
}

/// The SUBACK code granting `qos`.
fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

/// The engine configuration for one connection.
fn engine_config(config: &crate::Config, server_keep_alive: Option<u16>) -> EngineConfig {
    let l = &config.limits;
    let mut e = EngineConfig::server();
    e.receive_maximum = l.receive_maximum;
    e.max_inflight = l.max_inflight;
    e.maximum_packet_size = u32::try_from(l.max_packet_size.0).unwrap_or(u32::MAX);
    e.topic_alias_maximum = l.topic_alias_maximum;
    e.auto_ack = false;
    e.server_keep_alive = server_keep_alive;
    e.queue = QueuePolicy {
        max_messages: l.max_queued_messages as usize,
        max_bytes: usize::try_from(l.max_queued_bytes.0).unwrap_or(usize::MAX),
        qos0: match config.sessions.qos0_overflow {
            OverflowPolicy::DropOldest => Qos0Overflow::DropOldest,
            OverflowPolicy::DropNewest => Qos0Overflow::DropNewest,
        },
        reliable: ReliableOverflow::Backpressure,
    };
    e
}

/// Drains the engine's packets into `out`, stopping after [`OUT_BATCH`] bytes. Returns
/// (packets, of which PUBLISH, more pending).
pub(crate) fn drain_transmit(
    conn: &mut CoreConn,
    now: Instant,
    out: &mut OutBuf,
) -> (u64, u64, bool) {
    let mut packets = 0;
    let mut publishes = 0;
    let mut want = 128;
    let more = loop {
        if out.len() >= OUT_BATCH {
            break true;
        }
        let room = out.spare(want);
        match conn.poll_transmit(now, room) {
            Ok(Some(n)) => {
                if room.first().is_some_and(|b| b >> 4 == 3) {
                    publishes += 1;
                }
                packets += 1;
                out.advance(n);
                want = 128;
            }
            Ok(None) => break false,
            Err(EncodeError::InsufficientSize { required }) => want = required,
            Err(e) => {
                debug!("cannot encode: {e}");
                break false;
            }
        }
    };
    (packets, publishes, more)
}

/// Queues a CONNACK with `reason` in `version`'s wire form. A 3.1 / 3.1.1 peer gets the
/// 3.1.1 return code, or nothing when there is none ([MQTT-3.1.4-1]: close instead).
fn write_connack(out: &mut OutBuf, version: ProtocolVersion, reason: ReasonCode) {
    if !version.is_v5() && reason.to_v3_connack().is_none() {
        return;
    }
    let mut ack = ConnAck::new(false, reason);
    if version.is_v5() {
        // Every negative acknowledgement says why, in words too.
        ack.properties.reason_string = Some(reason.description());
    }
    encode_into(out, &Packet::ConnAck(ack), version);
}

/// Appends `packet` encoded for `version` to `out`.
fn encode_into(out: &mut OutBuf, packet: &Packet<'_>, version: ProtocolVersion) {
    match packet.encoded_len(version) {
        Ok(len) => match packet.encode(version, out.spare(len)) {
            Ok(n) => out.advance(n),
            Err(e) => debug!("cannot encode {:?}: {e}", packet.packet_type()),
        },
        Err(e) => debug!("cannot encode {:?}: {e}", packet.packet_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_hint() {
        // The broker answers a broken CONNECT in the version `peek_connect_version` reads.
        let v311 = [0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
        assert_eq!(peek_connect_version(&v311), Some(ProtocolVersion::V3_1_1));
        let v5 = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 5];
        assert_eq!(peek_connect_version(&v5), Some(ProtocolVersion::V5));
        let v31 = [0x10, 20, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3];
        assert_eq!(peek_connect_version(&v31), Some(ProtocolVersion::V3_1));
        assert_eq!(peek_connect_version(&[0x10, 13, 0, 4, b'M']), None);
        assert_eq!(peek_connect_version(&[0x30, 0]), None);
    }

    #[test]
    fn connack_forms() {
        let mut out = OutBuf::default();
        write_connack(
            &mut out,
            ProtocolVersion::V3_1_1,
            ReasonCode::ServerUnavailable,
        );
        assert_eq!(out.as_slice(), [0x20, 2, 0, 3]);
        out.clear();
        write_connack(&mut out, ProtocolVersion::V5, ReasonCode::ServerUnavailable);
        match Packet::decode(ProtocolVersion::V5, out.as_slice()).unwrap() {
            Packet::ConnAck(ack) => {
                assert_eq!(ack.reason, ReasonCode::ServerUnavailable);
                assert_eq!(ack.properties.reason_string, Some("Server unavailable"));
            }
            other => panic!("{other:?}"),
        }
        out.clear();
        write_connack(
            &mut out,
            ProtocolVersion::V3_1_1,
            ReasonCode::MalformedPacket,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn granted_codes() {
        assert_eq!(granted(QoS::AtMostOnce).code(), 0);
        assert_eq!(granted(QoS::AtLeastOnce).code(), 1);
        assert_eq!(granted(QoS::ExactlyOnce).code(), 2);
    }
}
