//! One shard's state and its delivery paths: the session table, the outgoing batches to
//! other shards, the inbox task that drains this shard's batch queue, and housekeeping
//! (offline sessions' Wills and expiry, retained-message expiry, `$SYS`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration as StdDuration;

use tern_core::codec::{QoS, ReasonCode};
use tern_core::session::{Instant, PublishError, SessionEvent};
use tern_core::topic::TopicName;
use tokio::sync::mpsc::Sender;
use tokio::sync::{Notify, oneshot};
use tracing::debug;

use crate::connection::OUT_BATCH;
use crate::outbuf::OutBuf;
use crate::router::{IdMap, RouteScratch, Routed, SessionId, ShardMsg, Target};
use crate::server::Shared;
use crate::session::{CoreSession, Msg, SlotCell, SlotState, now};
use crate::shutdown::Shutdown;

/// Per-shard message counters for `$SYS`. Each is written only by its shard's thread (a
/// relaxed load and store, no read-modify-write), read by the `$SYS` publisher.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Every packet received.
    pub(crate) msgs_received: AtomicU64,
    /// Every packet sent.
    pub(crate) msgs_sent: AtomicU64,
    /// PUBLISH packets received.
    pub(crate) pub_received: AtomicU64,
    /// PUBLISH packets sent.
    pub(crate) pub_sent: AtomicU64,
    /// Messages dropped (queue full, too large, expired, not authorised).
    pub(crate) pub_dropped: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    /// Connections closed for a protocol violation or malformed packet.
    pub(crate) protocol_errors: AtomicU64,
    /// Bytes queued in the sessions of this shard (for `limits.max_queued_bytes_total`).
    pub(crate) queued_bytes: AtomicI64,
    /// Connections on this shard now (for co-location's balance check).
    pub(crate) connections: AtomicU64,
}

/// Adds `n` to a single-writer counter.
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Subtracts `n` from a single-writer counter.
pub(crate) fn unbump(c: &AtomicU64, n: u64) {
    c.store(
        c.load(Ordering::Relaxed).saturating_sub(n),
        Ordering::Relaxed,
    );
}

/// Where a takeover request wants the session.
pub(crate) type TakeoverReply = oneshot::Sender<Option<CoreSession>>;

/// Matches and targets of one routing call, reused.
type Scratch = (RouteScratch, Vec<Target>);

/// State owned by one shard and shared by its tasks (never across threads).
pub(crate) struct ShardCtx {
    pub(crate) id: usize,
    pub(crate) shared: Arc<Shared>,
    /// The read buffer every connection of this shard reads into; a connection keeps only
    /// the leftover of a partial frame between reads.
    pub(crate) scratch: RefCell<Box<[u8]>>,
    /// Sessions living on this shard.
    pub(crate) sessions: RefCell<IdMap<Rc<SlotCell>>>,
    /// Deliveries for a session that is moving here (takeover or migration in progress).
    pending: RefCell<IdMap<Vec<Msg>>>,
    /// Sessions announced as migrating here ([`ShardMsg::MigrateStart`]) with the takeover
    /// requests that arrived for them before the session did.
    incoming: RefCell<IdMap<Vec<TakeoverReply>>>,
    /// Sessions of this shard on their way out: barrier acknowledgements still missing.
    migrating: RefCell<IdMap<usize>>,
    /// Messages for other shards, flushed once per batch of input.
    outbox: RefCell<Vec<Vec<ShardMsg>>>,
    /// Reused buffers for routing.
    route_scratch: RefCell<Scratch>,
    /// Output buffers not in use (a connection holds one only while writing).
    spare_out: RefCell<Vec<OutBuf>>,
    /// The engines' deadlines of this shard's connections, earliest first; the timer task
    /// wakes a connection (through its slot's `Notify`) when its deadline passes.
    timers: RefCell<BTreeSet<(Instant, SessionId)>>,
    /// Wakes the timer task when a deadline earlier than all others is armed.
    timer_changed: Notify,
    /// Shutdown has started: connections say goodbye (0x8B in 5.0) on their next wake-up.
    stopping: Cell<bool>,
    /// A delivery woke a connection of this shard (see [`ShardCtx::take_woke_local`]).
    woke_local: Cell<bool>,
}

impl ShardCtx {
    pub(crate) fn new(id: usize, shared: Arc<Shared>, scratch_len: usize) -> Self {
        let shards = shared.router.inboxes.len();
        Self {
            id,
            shared,
            scratch: RefCell::new(vec![0; scratch_len].into_boxed_slice()),
            sessions: RefCell::new(IdMap::default()),
            pending: RefCell::new(IdMap::default()),
            incoming: RefCell::new(IdMap::default()),
            migrating: RefCell::new(IdMap::default()),
            outbox: RefCell::new((0..shards).map(|_| Vec::new()).collect()),
            route_scratch: RefCell::new((RouteScratch::default(), Vec::new())),
            spare_out: RefCell::new(Vec::new()),
            timers: RefCell::new(BTreeSet::new()),
            timer_changed: Notify::new(),
            stopping: Cell::new(false),
            woke_local: Cell::new(false),
        }
    }

    /// `true` once shutdown has started.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Arms session `id`'s deadline (replacing the one in `armed`).
    pub(crate) fn arm(
        &self,
        id: SessionId,
        armed: &mut Option<Instant>,
        deadline: Option<Instant>,
    ) {
        let mut timers = self.timers.borrow_mut();
        if *armed == deadline && deadline.is_none_or(|d| timers.contains(&(d, id))) {
            return;
        }
        if let Some(old) = armed.take() {
            timers.remove(&(old, id));
        }
        if let Some(d) = deadline {
            let earliest = timers.first().is_none_or(|&(first, _)| d < first);
            timers.insert((d, id));
            if earliest {
                self.timer_changed.notify_one();
            }
        }
        *armed = deadline;
    }

    /// Removes session `id`'s deadline.
    pub(crate) fn disarm(&self, id: SessionId, armed: Option<Instant>) {
        if let Some(d) = armed {
            self.timers.borrow_mut().remove(&(d, id));
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.shared.counters[self.id]
    }

    /// Records that this shard's sessions now queue `after - before` bytes more.
    pub(crate) fn queued_delta(&self, before: usize, after: usize) {
        if before != after {
            let c = &self.counters().queued_bytes;
            let d = after as i64 - before as i64;
            c.store(c.load(Ordering::Relaxed) + d, Ordering::Relaxed);
        }
    }

    /// Bytes queued in all sessions of all shards.
    pub(crate) fn queued_total(&self) -> u64 {
        let sum: i64 = self
            .shared
            .counters
            .iter()
            .map(|c| c.queued_bytes.load(Ordering::Relaxed))
            .sum();
        u64::try_from(sum).unwrap_or(0)
    }

    /// An output buffer (empty), from the shard's spares.
    pub(crate) fn take_out(&self) -> OutBuf {
        self.spare_out.borrow_mut().pop().unwrap_or_default()
    }

    /// Returns an output buffer; big ones are freed so that idle memory stays small.
    pub(crate) fn give_out(&self, mut out: OutBuf) {
        out.clear();
        let mut spare = self.spare_out.borrow_mut();
        if out.capacity() != 0 && out.capacity() <= 2 * OUT_BATCH && spare.len() < 16 {
            spare.push(out);
        }
    }

    /// Routes `msg` published by `from` (`None`: Will or broker message) to every matching
    /// session: same-shard sessions get it at once, others through the batch queues
    /// (flushed by [`flush`](Self::flush)).
    pub(crate) fn publish(&self, from: Option<SessionId>, msg: &Msg, now: Instant) -> Routed {
        match TopicName::new(msg.topic()) {
            Ok(topic) => self.publish_to(from, msg, topic, now),
            Err(_) => Routed::default(),
        }
    }

    /// [`publish`](Self::publish) of a message whose topic the caller has validated.
    pub(crate) fn publish_to(
        &self,
        from: Option<SessionId>,
        msg: &Msg,
        topic: TopicName<'_>,
        now: Instant,
    ) -> Routed {
        let mut rs = self.route_scratch.borrow_mut();
        let (scratch, targets) = &mut *rs;
        targets.clear();
        let routed = self
            .shared
            .router
            .state()
            .route(from, msg, topic, now, scratch, targets);
        if routed.retain_refused {
            bump(&self.counters().pub_dropped, 1);
        }
        for t in targets.drain(..) {
            if t.shard == self.id {
                self.deliver(t.session, t.msg, None);
            } else if let Some(batch) = self.outbox.borrow_mut().get_mut(t.shard) {
                batch.push(ShardMsg::Deliver {
                    to: t.session,
                    msg: t.msg,
                    from: self.id,
                });
            }
        }
        routed
    }

    /// `true` if session `id` is on this shard.
    pub(crate) fn has_session(&self, id: SessionId) -> bool {
        self.sessions.borrow().contains_key(&id)
    }

    /// `true` if a delivery woke a connection of this shard since the last call.
    pub(crate) fn take_woke_local(&self) -> bool {
        self.woke_local.replace(false)
    }

    /// Queues `msg` in session `id` of this shard and wakes its connection; `from` is the
    /// shard that routed it (`None`: this one).
    pub(crate) fn deliver(&self, id: SessionId, msg: Msg, from: Option<usize>) {
        let slot = self.sessions.borrow().get(&id).cloned();
        let Some(slot) = slot else {
            self.deliver_elsewhere(id, msg);
            return;
        };
        // The broker-wide cap on queued bytes (`limits.max_queued_bytes_total`).
        let cap = self.shared.config.limits.max_queued_bytes_total.0;
        if self.queued_total().saturating_add(msg.size() as u64) > cap {
            bump(&self.counters().pub_dropped, 1);
            return;
        }
        let mut guard = slot.borrow_mut();
        let s = &mut *guard;
        let result = match &mut s.state {
            SlotState::Online(conn) => {
                let before = conn.session().queued_bytes();
                let r = conn.publish(msg);
                self.queued_delta(before, conn.session().queued_bytes());
                s.flow.record(from);
                slot.notify.notify_one();
                self.woke_local.set(true);
                r
            }
            SlotState::Offline(session) => {
                if msg.qos() == QoS::AtMostOnce && !self.shared.config.sessions.queue_qos0_offline {
                    return;
                }
                let before = session.queued_bytes();
                let r = session.publish(msg);
                self.queued_delta(before, session.queued_bytes());
                r
            }
            SlotState::Gone(_) => {
                drop(guard);
                self.deliver_elsewhere(id, msg);
                return;
            }
        };
        match result {
            Ok(()) => {}
            Err(PublishError::Full(_) | PublishError::Dropped { .. }) => {
                bump(&self.counters().pub_dropped, 1);
            }
        }
    }

    /// A delivery for a session not (or no longer) here: forward it to where it lives now,
    /// hold it if it is moving here, or drop it if the session is gone.
    fn deliver_elsewhere(&self, id: SessionId, msg: Msg) {
        let home = self.shared.router.state().homes.get(&id).map(|h| h.shard);
        match home {
            Some(shard) if shard == self.id => {
                let cap = self.shared.config.limits.max_queued_messages as usize;
                let mut pending = self.pending.borrow_mut();
                let q = pending.entry(id).or_default();
                if q.len() < cap {
                    q.push(msg);
                } else {
                    bump(&self.counters().pub_dropped, 1);
                }
            }
            Some(shard) => {
                if let Some(batch) = self.outbox.borrow_mut().get_mut(shard) {
                    batch.push(ShardMsg::Deliver {
                        to: id,
                        msg,
                        from: self.id,
                    });
                }
            }
            None => {}
        }
    }

    /// Registers a connected session on this shard and hands it what arrived meanwhile.
    pub(crate) fn insert(&self, id: SessionId, slot: Rc<SlotCell>) {
        if let SlotState::Online(conn) = &slot.borrow().state {
            self.queued_delta(0, conn.session().queued_bytes());
        }
        self.sessions.borrow_mut().insert(id, slot);
        let held = self.pending.borrow_mut().remove(&id);
        for msg in held.into_iter().flatten() {
            self.deliver(id, msg, None);
        }
    }

    /// Sends every batch appended for other shards; one wake per receiving shard at most.
    pub(crate) fn flush(&self) {
        let mut outbox = self.outbox.borrow_mut();
        for (shard, batch) in outbox.iter_mut().enumerate() {
            if !batch.is_empty()
                && let Some(inbox) = self.shared.router.inboxes.get(shard)
            {
                inbox.push_batch(batch);
            }
        }
    }

    /// A takeover request for session `id`: answered now, or held if the session is
    /// migrating here and has not arrived yet.
    fn takeover_request(&self, id: SessionId, reply: TakeoverReply, now: Instant) {
        if !self.sessions.borrow().contains_key(&id)
            && let Some(held) = self.incoming.borrow_mut().get_mut(&id)
        {
            held.push(reply);
            return;
        }
        let _ = reply.send(self.take_session(id, now));
    }

    /// Starts moving session `id` (attached to a connection of this shard) to shard `to`:
    /// its home changes now, so new deliveries go there (and wait for it); every other
    /// shard is asked for a barrier, behind the deliveries it routed here before. `false`
    /// if the session is not this shard's to move.
    pub(crate) fn start_migration(&self, id: SessionId, to: usize) -> bool {
        let inboxes = &self.shared.router.inboxes;
        if to == self.id || to >= inboxes.len() {
            return false;
        }
        {
            let mut r = self.shared.router.state();
            match r.homes.get_mut(&id) {
                Some(h) if h.shard == self.id => h.shard = to,
                _ => return false,
            }
            // Under the lock: ahead of any takeover request that reads the new home.
            if let Some(inbox) = inboxes.get(to) {
                inbox.push_batch(&mut vec![ShardMsg::MigrateStart { id }]);
            }
        }
        self.migrating.borrow_mut().insert(id, inboxes.len() - 1);
        for (shard, inbox) in inboxes.iter().enumerate() {
            if shard != self.id {
                inbox.push_batch(&mut vec![ShardMsg::Barrier { id, from: self.id }]);
            }
        }
        true
    }

    /// `true` once every barrier of the migration of `id` is back (or none is pending).
    pub(crate) fn migration_ready(&self, id: SessionId) -> bool {
        self.migrating.borrow().get(&id).is_none_or(|&n| n == 0)
    }

    fn barrier_acked(&self, id: SessionId) {
        let ready = match self.migrating.borrow_mut().get_mut(&id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if ready && let Some(slot) = self.sessions.borrow().get(&id) {
            slot.notify.notify_one();
        }
    }

    /// Calls off the outgoing migration of `id` to `to` before the session left: its home
    /// is this shard again, and `to` forwards what it held for it back here.
    pub(crate) fn cancel_migration(&self, id: SessionId, to: usize) {
        self.migrating.borrow_mut().remove(&id);
        {
            let mut r = self.shared.router.state();
            if let Some(h) = r.homes.get_mut(&id)
                && h.shard == to
            {
                h.shard = self.id;
            }
        }
        if let Some(inbox) = self.shared.router.inboxes.get(to) {
            inbox.push_batch(&mut vec![ShardMsg::MigrateAborted { id }]);
        }
    }

    /// Ends the outgoing migration of `id`: `Some(conn)` to ship (the session leaves
    /// this shard's table), `None` if it was taken over meanwhile (shard `to` is told to
    /// forward what it held).
    pub(crate) fn finish_migration(
        &self,
        id: SessionId,
        slot: &SlotCell,
        to: usize,
    ) -> Option<Box<crate::session::CoreConn>> {
        self.migrating.borrow_mut().remove(&id);
        let mut s = slot.borrow_mut();
        match std::mem::replace(&mut s.state, SlotState::Gone(OutBuf::default())) {
            SlotState::Online(conn) => {
                self.sessions.borrow_mut().remove(&id);
                self.queued_delta(conn.session().queued_bytes(), 0);
                Some(conn)
            }
            other => {
                s.state = other;
                if let Some(inbox) = self.shared.router.inboxes.get(to) {
                    inbox.push_batch(&mut vec![ShardMsg::MigrateAborted { id }]);
                }
                None
            }
        }
    }

    /// A migration here was called off: what was held for the session goes where it
    /// lives now.
    fn migrate_aborted(&self, id: SessionId) {
        let takeovers = self.incoming.borrow_mut().remove(&id).unwrap_or_default();
        let held = self.pending.borrow_mut().remove(&id).unwrap_or_default();
        let home = self.shared.router.state().homes.get(&id).map(|h| h.shard);
        for reply in takeovers {
            let mut outbox = self.outbox.borrow_mut();
            match home
                .filter(|&h| h != self.id)
                .and_then(|h| outbox.get_mut(h))
            {
                Some(batch) => batch.push(ShardMsg::Takeover { id, reply }),
                None => {
                    let _ = reply.send(None);
                }
            }
        }
        // Forwarded to the session's home (or held again, should that be here).
        for msg in held {
            self.deliver_elsewhere(id, msg);
        }
    }

    /// A migrated session arrived (after [`ShardMsg::MigrateStart`]): the takeover requests
    /// held for it, which now find it here.
    pub(crate) fn arrived(&self, id: SessionId) -> Vec<TakeoverReply> {
        self.incoming.borrow_mut().remove(&id).unwrap_or_default()
    }

    /// Takes session `id` away from this shard for a new connection of its client: the
    /// attached connection (if any) is closed with 0x8E Session taken over (5.0
    /// [MQTT-3.1.4-3]), a Will now due is published, and the session is returned.
    pub(crate) fn take_session(&self, id: SessionId, now: Instant) -> Option<CoreSession> {
        let slot = self.sessions.borrow_mut().remove(&id)?;
        let mut s = slot.borrow_mut();
        let session = match std::mem::replace(&mut s.state, SlotState::Gone(OutBuf::default())) {
            SlotState::Online(mut conn) => {
                conn.disconnect(now, ReasonCode::SessionTakenOver);
                let mut farewell = OutBuf::default();
                crate::connection::drain_transmit(&mut conn, now, &mut farewell);
                s.state = SlotState::Gone(farewell);
                slot.notify.notify_one();
                conn.into_session(now)
            }
            SlotState::Offline(session) => *session,
            SlotState::Gone(_) => return None,
        };
        drop(s);
        let mut session = session;
        self.queued_delta(session.queued_bytes(), 0);
        // A Will without delay is due now (the old connection ended abnormally); a delayed
        // one is cancelled by the new connection ([MQTT-3.1.3-9]).
        while let Some(ev) = session.poll_event(now) {
            match ev {
                SessionEvent::Will(msg) => {
                    self.publish(None, &msg, now);
                }
                SessionEvent::Expired => break,
            }
        }
        Some(session)
    }

    /// A connection ended: publishes what the session says is due (Will, end of a
    /// zero-expiry session) and keeps the session offline or deletes it.
    pub(crate) fn end_session(&self, id: SessionId, slot: &Rc<SlotCell>, now: Instant) {
        let mut s = slot.borrow_mut();
        let mut session = match std::mem::replace(&mut s.state, SlotState::Gone(OutBuf::default()))
        {
            SlotState::Online(conn) => conn.into_session(now),
            SlotState::Offline(session) => *session,
            SlotState::Gone(_) => return,
        };
        drop(s);
        if self.settle(id, &mut session, now) {
            slot.borrow_mut().state = SlotState::Offline(Box::new(session));
            if let Some(h) = self.shared.router.state().homes.get_mut(&id) {
                h.online = false;
            }
        } else {
            self.sessions.borrow_mut().remove(&id);
        }
    }

    /// Publishes a due Will; deletes the session if it expired. `true` if it lives on.
    fn settle(&self, id: SessionId, session: &mut CoreSession, now: Instant) -> bool {
        let before = session.queued_bytes();
        let lives = self.settle_events(id, session, now);
        self.queued_delta(before, session.queued_bytes());
        lives
    }

    fn settle_events(&self, id: SessionId, session: &mut CoreSession, now: Instant) -> bool {
        while let Some(ev) = session.poll_event(now) {
            match ev {
                SessionEvent::Will(msg) => {
                    self.publish(None, &msg, now);
                }
                SessionEvent::Expired => {
                    let filters: Vec<String> = session
                        .subscriptions()
                        .map(|s| s.filter().to_owned())
                        .collect();
                    self.shared.router.state().forget_session(id, &filters);
                    return false;
                }
            }
        }
        true
    }

    /// Offline sessions: delayed Wills and expiry.
    fn sweep(&self, now: Instant) {
        // One pass: empty session containers keep their allocation while in use (the
        // engine does not free on every removal) and are given back here, once a second, so
        // that sessions gone quiet hold no heap; offline sessions with something due are
        // collected.
        let mut due: Vec<(SessionId, Rc<SlotCell>)> = Vec::new();
        for (id, slot) in self.sessions.borrow().iter() {
            let Ok(mut s) = slot.try_borrow_mut() else {
                continue;
            };
            match &mut s.state {
                SlotState::Online(conn) => conn.session_mut().release_memory(),
                SlotState::Offline(session) => {
                    session.release_memory();
                    if session.poll_timeout().is_some_and(|t| t <= now) {
                        due.push((*id, Rc::clone(slot)));
                    }
                }
                SlotState::Gone(_) => {}
            }
        }
        // Deliveries held for a session that never arrived (its takeover failed, or it
        // was discarded) are dropped.
        {
            let sessions = self.sessions.borrow();
            let router = self.shared.router.state();
            self.pending.borrow_mut().retain(|id, _| {
                !sessions.contains_key(id)
                    && router.homes.get(id).is_some_and(|h| h.shard == self.id)
            });
        }
        for (id, slot) in due {
            let state = std::mem::replace(
                &mut slot.borrow_mut().state,
                SlotState::Gone(OutBuf::default()),
            );
            if let SlotState::Offline(mut session) = state {
                if self.settle(id, &mut session, now) {
                    slot.borrow_mut().state = SlotState::Offline(session);
                } else {
                    self.sessions.borrow_mut().remove(&id);
                }
            }
        }
        self.flush();
    }
}

/// Drains this shard's inbox: deliveries from other shards, takeover requests and
/// connections migrating here (spawned as tasks that hold `done`, like accepted ones).
pub(crate) async fn inbox_task(ctx: Rc<ShardCtx>, mut shutdown: Shutdown, done: Sender<()>) {
    let mut batch = Vec::new();
    loop {
        let Some(inbox) = ctx.shared.router.inboxes.get(ctx.id) else {
            return;
        };
        tokio::select! {
            () = inbox.notify.notified() => {}
            () = shutdown.recv() => return,
        }
        inbox.take(&mut batch);
        let t = now();
        for m in batch.drain(..) {
            match m {
                ShardMsg::Deliver { to, msg, from } => ctx.deliver(to, msg, Some(from)),
                ShardMsg::Takeover { id, reply } => ctx.takeover_request(id, reply, t),
                ShardMsg::MigrateStart { id } => {
                    ctx.incoming.borrow_mut().insert(id, Vec::new());
                }
                ShardMsg::Barrier { id, from } => {
                    if let Some(batch) = ctx.outbox.borrow_mut().get_mut(from) {
                        batch.push(ShardMsg::BarrierAck { id });
                    }
                }
                ShardMsg::BarrierAck { id } => ctx.barrier_acked(id),
                ShardMsg::Migrate(m) => {
                    crate::connection::adopt(&ctx, *m, &shutdown, &done, t);
                }
                ShardMsg::MigrateAborted { id } => ctx.migrate_aborted(id),
            }
        }
        ctx.flush();
    }
}

/// Asks shard `home` for session `id` (see [`ShardCtx::take_session`]).
pub(crate) async fn take_remote(ctx: &ShardCtx, home: usize, id: SessionId) -> Option<CoreSession> {
    let (tx, rx) = oneshot::channel();
    let inbox = ctx.shared.router.inboxes.get(home)?;
    inbox.push_batch(&mut vec![ShardMsg::Takeover { id, reply: tx }]);
    match tokio::time::timeout(StdDuration::from_secs(5), rx).await {
        Ok(Ok(s)) => s,
        _ => {
            debug!(
                shard = ctx.id,
                "takeover of session {id} from shard {home} failed"
            );
            None
        }
    }
}

/// Once a second: offline sessions' Wills and expiry; on shard 0 also expired retained
/// messages and `$SYS`.
pub(crate) async fn housekeeping_task(ctx: Rc<ShardCtx>, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sys_every = u64::from(ctx.shared.config.sys_interval_secs);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.recv() => return,
        }
        let t = now();
        ctx.sweep(t);
        if ctx.id == 0 {
            if n.is_multiple_of(10) {
                ctx.shared.router.state().expire_retained(t);
            }
            if sys_every != 0 && n.is_multiple_of(sys_every) {
                crate::sys::publish(&ctx, t);
                ctx.flush();
            }
        }
        n += 1;
    }
}

/// The shard's one timer: wakes connections whose engine deadline has passed (keep-alive,
/// message expiry); at shutdown, wakes every connection to say goodbye.
pub(crate) async fn timer_task(ctx: Rc<ShardCtx>, mut shutdown: Shutdown) {
    loop {
        let next = ctx.timers.borrow().first().map(|&(t, _)| t);
        let far = tokio::time::Instant::now() + StdDuration::from_secs(86_400);
        tokio::select! {
            () = tokio::time::sleep_until(next.map_or(far, crate::session::to_tokio)) => {
                let t = now();
                let mut due = Vec::new();
                {
                    let mut timers = ctx.timers.borrow_mut();
                    while let Some(&(d, id)) = timers.first() {
                        if d > t {
                            break;
                        }
                        timers.pop_first();
                        due.push(id);
                    }
                }
                let sessions = ctx.sessions.borrow();
                for id in due {
                    if let Some(slot) = sessions.get(&id) {
                        slot.notify.notify_one();
                    }
                }
            }
            () = ctx.timer_changed.notified() => {}
            () = shutdown.recv() => {
                ctx.stopping.set(true);
                for slot in ctx.sessions.borrow().values() {
                    slot.notify.notify_one();
                }
                return;
            }
        }
    }
}
