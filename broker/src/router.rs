//! Fan-out between sessions: the subscription index, the retained store, the client-id
//! registry and the per-shard inboxes.
//!
//! # Why one mutex
//!
//! The routing table ([`RouterState`]) is one `std::sync::Mutex` shared by all shards, held
//! for short, allocation-light sections: one trie match per PUBLISH (plus the retained
//! update for a retained PUBLISH), one insert per SUBSCRIBE filter, one registry lookup per
//! CONNECT. mini-redis `src/db.rs` explains the trade-off: a plain mutex held for a few
//! hundred nanoseconds is cheaper than any message passing as long as the critical section
//! stays short and never awaits. The trie match is usually skipped: each shard remembers what
//! its recent topics matched ([`RouteCache`], checked against the index's generation). With
//! one shard per core (2 on the reference machine) the lock is contended only when two shards
//! route at the same instant, and contention costs a spin, not a sleep, at these hold times.
//! The alternative designed in `ARCHITECTURE.md` (a copy of the index per shard, updated by
//! message) removes that contention at the cost of N copies and one-turn-late visibility; it
//! is the next step if a profile shows the lock.
//!
//! What is *not* shared: message delivery. A match yields `(session, home shard)` pairs; a
//! delivery to a session of the publisher's own shard is a direct enqueue, one to another
//! shard is appended to that shard's [`Inbox`] batch, and the receiving shard is woken once
//! per batch (not per message).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tern_core::codec::{ProtocolVersion, QoS, SubscriptionOptions};
use tern_core::index::{Match, SubscriptionIndex};
use tern_core::retain::{RetainLimits, RetainedStore};
use tern_core::session::Instant;
use tern_core::topic::{TopicFilter, TopicName};
use tokio::sync::{Notify, oneshot};

use crate::connection::Migrant;
use crate::session::{CoreSession, Msg};

/// A session's broker-wide identity; stable for the life of the session (across
/// reconnects and across shards).
pub(crate) type SessionId = u64;

/// A map keyed by [`SessionId`]. Ids are sequential integers chosen by the broker, not by
/// peers, so they need no DoS-resistant hash: a multiplicative hash (SipHash was 14% of the
/// broker's instructions in a fan-out profile: two lookups per delivery).
pub(crate) type IdMap<V> = HashMap<SessionId, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of a `u64` key.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// What the index stores per subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubValue {
    pub(crate) options: SubscriptionOptions,
    pub(crate) identifier: Option<NonZeroU32>,
}

/// Where a session lives.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    pub(crate) shard: usize,
    pub(crate) client_id: Arc<str>,
    /// A connection is attached (shared groups deliver to online members first).
    pub(crate) online: bool,
    /// The protocol version of its (last) connection: copies are encoded once per version.
    pub(crate) version: ProtocolVersion,
}

/// The shared routing table.
pub(crate) struct RouterState {
    /// Mutated only through [`RouterState::index_mut`], which moves `generation` on.
    index: SubscriptionIndex<SessionId, SubValue>,
    /// Changes with every mutable access to `index`: what a shard's [`RouteCache`] knows
    /// was matched under one generation holds only while it is still the current one.
    generation: u64,
    pub(crate) retained: RetainedStore<Msg>,
    /// Client identifier → session.
    pub(crate) clients: HashMap<Arc<str>, SessionId>,
    /// Session → where it lives.
    pub(crate) homes: IdMap<Home>,
    /// Round-robin cursor per shared group (`group` + `\0` + `filter`).
    cursors: HashMap<String, usize>,
}

/// One message for a shard, sent through its [`Inbox`].
pub(crate) enum ShardMsg {
    /// Deliver `msg`, routed on shard `from`, to session `to` (forwarded if the session
    /// has moved).
    Deliver {
        to: SessionId,
        msg: Msg,
        from: usize,
    },
    /// Hand session `id` over to another shard: close its connection with 0x8E Session
    /// taken over (5.0), publish a due Will, and send the session back.
    Takeover {
        id: SessionId,
        reply: oneshot::Sender<Option<CoreSession>>,
    },
    /// Session `id` is moving here (its home already says so): hold its deliveries and
    /// takeover requests until [`ShardMsg::Migrate`] (or [`ShardMsg::MigrateAborted`])
    /// arrives. Pushed while the router lock is held, so it is ahead of any takeover
    /// request sent here for `id`.
    MigrateStart { id: SessionId },
    /// Answer shard `from` with [`ShardMsg::BarrierAck`] behind every delivery already
    /// queued for it.
    Barrier { id: SessionId, from: usize },
    /// Everything the sender routed to session `id` before it started moving has arrived.
    BarrierAck { id: SessionId },
    /// A connection and its session, moved here (see `connection::Migrant`).
    Migrate(Box<Migrant>),
    /// The move of session `id` announced by [`ShardMsg::MigrateStart`] was called off
    /// (the session was taken over meanwhile): forward what was held for it.
    MigrateAborted { id: SessionId },
}

/// A shard's incoming batch queue: appended to by other shards, drained by the shard's
/// inbox task. `notify` is fired only when the batch goes from empty to non-empty, so a
/// busy receiver is woken once per batch, not once per message.
pub(crate) struct Inbox {
    queue: Mutex<Vec<ShardMsg>>,
    pub(crate) notify: Notify,
}

impl Inbox {
    fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            notify: Notify::new(),
        }
    }

    /// Appends a batch; wakes the receiver if it had nothing pending.
    pub(crate) fn push_batch(&self, batch: &mut Vec<ShardMsg>) {
        if batch.is_empty() {
            return;
        }
        let was_empty = {
            let mut q = lock(&self.queue);
            let was_empty = q.is_empty();
            if was_empty {
                std::mem::swap(&mut *q, batch);
            } else {
                q.append(batch);
            }
            was_empty
        };
        if was_empty {
            self.notify.notify_one();
        }
    }

    /// Takes everything pending (swapping in `spare` to reuse its allocation).
    pub(crate) fn take(&self, spare: &mut Vec<ShardMsg>) {
        std::mem::swap(&mut *lock(&self.queue), spare);
    }
}

/// Locks a mutex, recovering from poisoning (a panic in another shard while it held the
/// lock leaves the data consistent: every section is a sequence of complete operations).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The router shared by all shards.
pub(crate) struct Router {
    state: Mutex<RouterState>,
    pub(crate) inboxes: Box<[Inbox]>,
    next_session: AtomicU64,
    next_assigned: AtomicU64,
}

/// Buffers [`RouterState::route`] reuses from one PUBLISH to the next (one per shard), so
/// routing allocates nothing once they have grown.
#[derive(Default)]
pub(crate) struct RouteScratch {
    /// Matching subscriptions, then sorted by session.
    matches: Vec<(SessionId, SubValue)>,
    /// Per (version, QoS, RETAIN) among a message's subscribers, the position in the
    /// targets of the copy encoded for them.
    encodings: Vec<((ProtocolVersion, QoS, bool), usize)>,
    /// This shard's memo of recent match walks.
    cache: RouteCache,
}

/// Slots of a shard's [`RouteCache`] (direct-mapped by a hash of the topic).
const ROUTE_CACHE_SLOTS: usize = 64;
/// Topics longer than this are walked every time (not worth a copy).
const ROUTE_CACHE_MAX_TOPIC: usize = 256;
/// Topics with more matching subscriptions than this are walked every time: the walk is
/// then a small part of the cost of the deliveries.
const ROUTE_CACHE_MAX_MATCHES: usize = 64;

/// A shard's memo of recent match walks: the ordinary subscriptions a topic matched under
/// one generation of the index. A publisher usually sends to the same few topics again and
/// again; skipping the trie walk (a hash lookup and a branch per topic level) saved 10-18%
/// of a fan-in or pairs broker's instructions (callgrind, one shard). Topics whose walk met
/// a shared group are not kept (each message goes to the group's next member), nor are long
/// topics or long match lists. Entries are checked against the index's generation, so any
/// SUBSCRIBE, UNSUBSCRIBE or removed session makes them stale; a collision walks again.
#[derive(Default)]
struct RouteCache {
    /// Empty until the first walk worth keeping; then `ROUTE_CACHE_SLOTS` long.
    slots: Vec<CacheSlot>,
}

#[derive(Default)]
struct CacheSlot {
    /// `0`: empty (generations start at 1).
    generation: u64,
    topic: String,
    matches: Vec<(SessionId, SubValue)>,
}

impl RouteCache {
    /// The slot for `topic`: a hash of its length and its last 16 bytes (topics of one
    /// publisher usually differ at the end: `site/dev-17/temp`).
    fn slot(topic: &str) -> usize {
        let bytes = topic.as_bytes();
        let tail = bytes.get(bytes.len().saturating_sub(16)..).unwrap_or(bytes);
        let mut h = IdHasher(bytes.len() as u64);
        h.write(tail);
        (h.finish() >> 58) as usize % ROUTE_CACHE_SLOTS
    }

    /// The subscriptions `topic` matched under `generation`, if known.
    fn get(&self, generation: u64, topic: &str) -> Option<&[(SessionId, SubValue)]> {
        let slot = self.slots.get(Self::slot(topic))?;
        (slot.generation == generation && slot.topic == topic).then_some(&*slot.matches)
    }

    /// Remembers what `topic` matched under `generation`, if it is worth it.
    fn put(&mut self, generation: u64, topic: &str, matches: &[(SessionId, SubValue)]) {
        if topic.len() > ROUTE_CACHE_MAX_TOPIC || matches.len() > ROUTE_CACHE_MAX_MATCHES {
            return;
        }
        if self.slots.is_empty() {
            self.slots
                .resize_with(ROUTE_CACHE_SLOTS, CacheSlot::default);
        }
        if let Some(slot) = self.slots.get_mut(Self::slot(topic)) {
            slot.generation = generation;
            slot.topic.clear();
            slot.topic.push_str(topic);
            slot.matches.clear();
            slot.matches.extend_from_slice(matches);
        }
    }
}

/// One subscriber's copy of a message, before delivery.
pub(crate) struct Target {
    pub(crate) shard: usize,
    pub(crate) session: SessionId,
    pub(crate) msg: Msg,
}

impl Router {
    pub(crate) fn new(shards: usize, retain: RetainLimits) -> Self {
        Self {
            state: Mutex::new(RouterState {
                index: SubscriptionIndex::new(),
                generation: 1,
                retained: RetainedStore::with_limits(retain),
                clients: HashMap::new(),
                homes: IdMap::default(),
                cursors: HashMap::new(),
            }),
            inboxes: (0..shards).map(|_| Inbox::new()).collect(),
            next_session: AtomicU64::new(1),
            next_assigned: AtomicU64::new(1),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, RouterState> {
        lock(&self.state)
    }

    pub(crate) fn new_session_id(&self) -> SessionId {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh client identifier for a 5.0 client that sent none.
    pub(crate) fn assign_client_id(&self) -> String {
        let n = self.next_assigned.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        format!("tern-{t:x}-{n}")
    }
}

/// What routing one PUBLISH did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Routed {
    /// Subscriptions (sessions, or shared groups) that matched.
    pub(crate) matched: usize,
    /// The retained store refused a new topic (limits).
    pub(crate) retain_refused: bool,
}

impl RouterState {
    /// The subscription index, for reading.
    pub(crate) fn index(&self) -> &SubscriptionIndex<SessionId, SubValue> {
        &self.index
    }

    /// The subscription index, for a change: every shard's [`RouteCache`] goes stale.
    pub(crate) fn index_mut(&mut self) -> &mut SubscriptionIndex<SessionId, SubValue> {
        self.generation += 1;
        &mut self.index
    }

    /// Routes `msg` (published by session `from`, `None` for the broker's own messages
    /// and Wills). Applies the retained-message rules, matches the subscriptions and
    /// appends one copy per subscribing session to `out`.
    ///
    /// - A retained PUBLISH replaces the topic's retained message; with an empty payload it
    ///   deletes it and is not stored ([MQTT-3.3.1-6], [MQTT-3.3.1-7], 5.0 [MQTT-3.3.1-6]ff).
    /// - Overlapping subscriptions of one session yield one copy at the highest granted
    ///   QoS carrying every matching Subscription Identifier (3.1.1 [MQTT-3.3.5-1]; 5.0
    ///   3.3.4 allows one copy and then requires all identifiers, [MQTT-3.3.4-3]).
    /// - The copy's QoS is the lower of the published and the granted QoS; RETAIN is
    ///   cleared unless Retain As Published (3.1.1 [MQTT-3.3.1-9], 5.0 [MQTT-3.3.1-12]).
    /// - No Local: not sent back to its publisher (5.0 [MQTT-3.8.3-3]).
    /// - A shared group gets one copy, for its next member in turn.
    ///
    /// `topic` is `msg`'s topic, validated by the caller (who usually has it at hand: the
    /// stored copy would be checked as UTF-8 again to be borrowed as `str`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn route(
        &mut self,
        from: Option<SessionId>,
        msg: &Msg,
        topic: TopicName<'_>,
        now: Instant,
        scratch: &mut RouteScratch,
        out: &mut Vec<Target>,
    ) -> Routed {
        let RouteScratch {
            matches: scratch,
            encodings: encoded,
            cache,
        } = scratch;
        let mut routed = Routed::default();
        let topic_str = topic.as_str();
        if msg.retain() {
            if msg.payload().is_empty() {
                self.retained.remove(&topic);
            } else {
                let cost = msg.size().saturating_sub(topic_str.len());
                if self
                    .retained
                    .set_with_cost(topic, msg.clone(), cost)
                    .is_err()
                {
                    routed.retain_refused = true;
                }
            }
        }
        let _ = now;
        scratch.clear();
        if let Some(known) = cache.get(self.generation, topic_str) {
            scratch.extend_from_slice(known);
        } else {
            let shared = self.walk(&topic, scratch);
            if !shared {
                cache.put(self.generation, topic_str, scratch);
            }
        }
        // No Local: not back to the publisher (5.0 [MQTT-3.8.3-3]; never set on a shared
        // subscription, [MQTT-3.8.3-4]).
        if from.is_some() {
            scratch.retain(|(client, value)| !(value.options.no_local && Some(*client) == from));
        }
        if scratch.is_empty() {
            return routed;
        }
        scratch.sort_unstable_by_key(|(s, _)| *s);
        // Subscription identifiers are per subscriber: a message that carries some (from a
        // Will or a bridge) gets them replaced even for subscriptions without one.
        let had_ids = msg.has_subscription_identifiers();
        let mut ids: Vec<u32> = Vec::new();
        // Encode once per (version, QoS, RETAIN) among the subscribers; each copy shares
        // the encoding and the engine only patches the packet identifier (and DUP).
        encoded.clear();
        let mut i = 0;
        while let Some(&(session, first)) = scratch.get(i) {
            let mut qos = first.options.qos;
            let mut rap = first.options.retain_as_published;
            ids.clear();
            let mut j = i;
            while let Some(&(s, v)) = scratch.get(j) {
                if s != session {
                    break;
                }
                if v.options.qos > qos {
                    qos = v.options.qos;
                }
                rap |= v.options.retain_as_published;
                if let Some(id) = v.identifier {
                    ids.push(id.get());
                }
                j += 1;
            }
            i = j;
            routed.matched += 1;
            let Some(home) = self.homes.get(&session) else {
                continue;
            };
            let (q, r) = (msg.qos().min(qos), rap && msg.retain());
            if ids.is_empty() && !had_ids {
                let key = (home.version, q, r);
                // The cache holds the index of the first target with this key (not a
                // copy: a copy's reference counts would be taken and dropped per PUBLISH).
                let cached = encoded
                    .iter()
                    .find(|(k, _)| *k == key)
                    .and_then(|&(_, at)| out.get(at))
                    .map(|t| t.msg.clone());
                let copy = match cached {
                    Some(m) => m,
                    None => {
                        encoded.push((key, out.len()));
                        msg.clone().with_qos(q).with_retain(r).with_encoded(key.0)
                    }
                };
                out.push(Target {
                    shard: home.shard,
                    session,
                    msg: copy,
                });
                continue;
            }
            // This subscriber's own Subscription Identifiers: a copy of its own.
            ids.sort_unstable();
            ids.dedup();
            let Ok(copy) = msg
                .clone()
                .with_qos(q)
                .with_retain(r)
                .with_subscription_identifiers(&ids)
            else {
                continue;
            };
            out.push(Target {
                shard: home.shard,
                session,
                msg: copy,
            });
        }
        routed
    }

    /// Appends the subscriptions matching `topic` to `scratch`: every ordinary one (No
    /// Local not applied) and, per matching shared group, its next member in turn. `true`
    /// if a shared group matched (the result then differs from one message to the next).
    fn walk(&mut self, topic: &TopicName<'_>, scratch: &mut Vec<(SessionId, SubValue)>) -> bool {
        let cursors = &mut self.cursors;
        let homes = &self.homes;
        let mut shared = false;
        self.index.for_each_subscriber(topic, |m| match m {
            Match::Subscription { client, value, .. } => scratch.push((*client, *value)),
            Match::Shared {
                group,
                filter,
                members,
            } => {
                shared = true;
                let mut key = String::with_capacity(group.len() + filter.len() + 1);
                key.push_str(group);
                key.push('\0');
                key.push_str(filter);
                // Round-robin over the online members; if none is online, the next
                // member's session queues it.
                let cursor = cursors.entry(key).or_insert(0);
                let n = members.len();
                let start = *cursor % n;
                let online = |i: &usize| {
                    members
                        .get(*i)
                        .and_then(|(c, _)| homes.get(c))
                        .is_some_and(|h| h.online)
                };
                let i = (start..start + n)
                    .map(|i| i % n)
                    .find(online)
                    .unwrap_or(start);
                *cursor = i + 1;
                if let Some((client, value)) = members.get(i) {
                    scratch.push((*client, *value));
                }
            }
        });
        shared
    }

    /// Appends the retained messages matching `filter` to `out`, as a subscription with
    /// `value` receives them on SUBSCRIBE: RETAIN set (3.1.1 [MQTT-3.3.1-8], 5.0
    /// [MQTT-3.3.1-9]), QoS lowered to the granted QoS, expired ones skipped.
    pub(crate) fn retained_for(
        &self,
        filter: TopicFilter<'_>,
        value: SubValue,
        now: Instant,
        out: &mut Vec<Msg>,
    ) {
        self.retained.for_each_matching(&filter, |_, m| {
            if m.is_expired(now) {
                return;
            }
            let mut copy = m
                .clone()
                .with_qos(m.qos().min(value.options.qos))
                .with_retain(true);
            if let Some(id) = value.identifier
                && let Ok(c) = copy.clone().with_subscription_identifiers(&[id.get()])
            {
                copy = c;
            }
            out.push(copy);
        });
    }

    /// Drops expired retained messages; returns how many.
    pub(crate) fn expire_retained(&mut self, now: Instant) -> usize {
        self.retained.retain(|_, m| !m.is_expired(now))
    }

    /// Removes a session's subscriptions (given its filter list) and its registry entries.
    pub(crate) fn forget_session<I>(&mut self, id: SessionId, filters: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.index_mut().remove_client(&id, filters);
        if let Some(home) = self.homes.remove(&id)
            && self.clients.get(&home.client_id) == Some(&id)
        {
            self.clients.remove(&home.client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Payload;
    use tern_core::codec::{QoS, RetainHandling};
    use tern_core::session::Message;
    use tern_core::topic::SharedFilter;

    fn opts(qos: QoS) -> SubValue {
        SubValue {
            options: SubscriptionOptions {
                qos,
                no_local: false,
                retain_as_published: false,
                retain_handling: RetainHandling::SendAtSubscribe,
            },
            identifier: None,
        }
    }

    fn msg(topic: &str, qos: QoS, retain: bool) -> Msg {
        Message::<Payload>::new(topic, b"x", qos, retain).unwrap()
    }

    fn router() -> Router {
        let r = Router::new(2, RetainLimits::UNLIMITED);
        {
            let mut s = r.state();
            for (id, shard) in [(1, 0), (2, 1), (3, 0)] {
                s.homes.insert(
                    id,
                    Home {
                        shard,
                        client_id: format!("c{id}").into(),
                        online: id != 3,
                        version: ProtocolVersion::V3_1_1,
                    },
                );
            }
        }
        r
    }

    fn go(
        s: &mut RouterState,
        from: Option<SessionId>,
        m: &Msg,
        scratch: &mut RouteScratch,
        out: &mut Vec<Target>,
    ) -> Routed {
        let topic = TopicName::new(m.topic()).unwrap();
        s.route(from, m, topic, Instant::ZERO, scratch, out)
    }

    #[test]
    fn overlapping_subscriptions_give_one_copy_at_the_highest_qos() {
        // 3.1.1 [MQTT-3.3.5-1]
        let r = router();
        let mut s = r.state();
        s.index_mut()
            .subscribe(TopicFilter::new("a/#").unwrap(), 1, opts(QoS::AtMostOnce));
        s.index_mut()
            .subscribe(TopicFilter::new("a/+").unwrap(), 1, opts(QoS::ExactlyOnce));
        s.index_mut()
            .subscribe(TopicFilter::new("a/b").unwrap(), 2, opts(QoS::AtMostOnce));
        let (mut scratch, mut out) = (RouteScratch::default(), Vec::new());
        let routed = go(
            &mut s,
            None,
            &msg("a/b", QoS::AtLeastOnce, false),
            &mut scratch,
            &mut out,
        );
        assert_eq!(routed.matched, 2);
        let mut got: Vec<_> = out
            .iter()
            .map(|t| (t.session, t.shard, t.msg.qos()))
            .collect();
        got.sort();
        assert_eq!(got, [(1, 0, QoS::AtLeastOnce), (2, 1, QoS::AtMostOnce)]);
    }

    #[test]
    fn shared_group_round_robin() {
        let r = router();
        let mut s = r.state();
        let f = SharedFilter::parse("$share/g/t").unwrap().unwrap();
        s.index_mut().subscribe_shared(f, 1, opts(QoS::AtMostOnce));
        s.index_mut().subscribe_shared(f, 2, opts(QoS::AtMostOnce));
        let (mut scratch, mut out) = (RouteScratch::default(), Vec::new());
        for _ in 0..4 {
            go(
                &mut s,
                None,
                &msg("t", QoS::AtMostOnce, false),
                &mut scratch,
                &mut out,
            );
        }
        let got: Vec<_> = out.iter().map(|t| t.session).collect();
        assert_eq!(got, [1, 2, 1, 2]);
        // Session 3 is offline: skipped while another member is online.
        s.index_mut().subscribe_shared(f, 3, opts(QoS::AtMostOnce));
        out.clear();
        for _ in 0..4 {
            go(
                &mut s,
                None,
                &msg("t", QoS::AtMostOnce, false),
                &mut scratch,
                &mut out,
            );
        }
        assert!(out.iter().all(|t| t.session != 3), "offline member chosen");
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn retained_replace_and_delete() {
        // [MQTT-3.3.1-10]/[MQTT-3.3.1-11] (3.1.1): empty payload deletes, is not stored.
        let r = router();
        let mut s = r.state();
        let (mut scratch, mut out) = (RouteScratch::default(), Vec::new());
        go(
            &mut s,
            None,
            &msg("r/1", QoS::AtLeastOnce, true),
            &mut scratch,
            &mut out,
        );
        assert_eq!(s.retained.len(), 1);
        let empty = Message::<Payload>::new("r/1", b"", QoS::AtMostOnce, true).unwrap();
        go(&mut s, None, &empty, &mut scratch, &mut out);
        assert_eq!(s.retained.len(), 0);
        let mut found = Vec::new();
        s.retained_for(
            TopicFilter::new("r/#").unwrap(),
            opts(QoS::ExactlyOnce),
            Instant::ZERO,
            &mut found,
        );
        assert!(found.is_empty());
    }

    #[test]
    fn no_local_skips_the_publisher() {
        // 5.0 [MQTT-3.8.3-3]
        let r = router();
        let mut s = r.state();
        let mut v = opts(QoS::AtMostOnce);
        v.options.no_local = true;
        s.index_mut()
            .subscribe(TopicFilter::new("n").unwrap(), 1, v);
        s.index_mut()
            .subscribe(TopicFilter::new("n").unwrap(), 2, opts(QoS::AtMostOnce));
        let mut scratch = RouteScratch::default();
        assert_eq!(targets(&mut s, Some(1), "n", &mut scratch), [2]);
    }

    /// The sessions a message on `topic` from `from` goes to, sorted.
    fn targets(
        s: &mut RouterState,
        from: Option<SessionId>,
        topic: &str,
        scratch: &mut RouteScratch,
    ) -> Vec<SessionId> {
        let mut out = Vec::new();
        go(
            s,
            from,
            &msg(topic, QoS::AtMostOnce, false),
            scratch,
            &mut out,
        );
        let mut got: Vec<_> = out.iter().map(|t| t.session).collect();
        got.sort();
        got
    }

    #[test]
    fn route_cache_follows_every_change_of_the_index() {
        let r = router();
        let mut s = r.state();
        let mut scratch = RouteScratch::default();
        let f = |t| TopicFilter::new(t).unwrap();
        s.index_mut().subscribe(f("c/1"), 1, opts(QoS::AtMostOnce));
        assert_eq!(targets(&mut s, None, "c/1", &mut scratch), [1]);
        // Served from the cache now; a new subscription must show at once.
        assert_eq!(targets(&mut s, None, "c/1", &mut scratch), [1]);
        s.index_mut().subscribe(f("c/+"), 2, opts(QoS::AtMostOnce));
        assert_eq!(targets(&mut s, None, "c/1", &mut scratch), [1, 2]);
        assert_eq!(targets(&mut s, None, "c/2", &mut scratch), [2]);
        s.index_mut().unsubscribe(f("c/1"), &1);
        assert_eq!(targets(&mut s, None, "c/1", &mut scratch), [2]);
        // A shared group is never served from the cache: its members take turns (2 also
        // has its own subscription, and gets one copy).
        let g = SharedFilter::parse("$share/g/c/1").unwrap().unwrap();
        s.index_mut().subscribe_shared(g, 1, opts(QoS::AtMostOnce));
        s.index_mut().subscribe_shared(g, 2, opts(QoS::AtMostOnce));
        let turns: Vec<_> = (0..4)
            .map(|_| targets(&mut s, None, "c/1", &mut scratch))
            .collect();
        assert_eq!(turns, [vec![1, 2], vec![2], vec![1, 2], vec![2]]);
        s.index_mut().unsubscribe_shared(g, &1);
        s.index_mut().unsubscribe_shared(g, &2);
        s.forget_session(2, ["c/+"]);
        assert_eq!(
            targets(&mut s, None, "c/1", &mut scratch),
            Vec::<SessionId>::new()
        );
        assert_eq!(
            targets(&mut s, None, "c/2", &mut scratch),
            Vec::<SessionId>::new()
        );
    }

    #[test]
    fn route_cache_applies_no_local_per_publisher() {
        // 5.0 [MQTT-3.8.3-3]: what the cache holds for one publisher must not leak into
        // what another one's message reaches.
        let r = router();
        let mut s = r.state();
        let mut scratch = RouteScratch::default();
        let mut v = opts(QoS::AtMostOnce);
        v.options.no_local = true;
        s.index_mut()
            .subscribe(TopicFilter::new("n/x").unwrap(), 1, v);
        s.index_mut()
            .subscribe(TopicFilter::new("n/+").unwrap(), 2, opts(QoS::AtMostOnce));
        assert_eq!(targets(&mut s, Some(1), "n/x", &mut scratch), [2]);
        assert_eq!(targets(&mut s, Some(2), "n/x", &mut scratch), [1, 2]);
        assert_eq!(targets(&mut s, None, "n/x", &mut scratch), [1, 2]);
        assert_eq!(targets(&mut s, Some(1), "n/x", &mut scratch), [2]);
    }

    #[test]
    fn route_cache_collisions_and_long_topics_walk_again() {
        let r = router();
        let mut s = r.state();
        let mut scratch = RouteScratch::default();
        s.index_mut()
            .subscribe(TopicFilter::new("#").unwrap(), 1, opts(QoS::AtMostOnce));
        // More topics than slots, and one past the length limit: each still finds its
        // subscriber, over and over.
        let long = "l/".repeat(ROUTE_CACHE_MAX_TOPIC);
        let topics: Vec<String> = (0..3 * ROUTE_CACHE_SLOTS)
            .map(|i| format!("t/{i}"))
            .chain([long])
            .collect();
        for _ in 0..3 {
            for t in &topics {
                assert_eq!(targets(&mut s, None, t, &mut scratch), [1], "{t}");
            }
        }
        s.index_mut()
            .subscribe(TopicFilter::new("t/+").unwrap(), 2, opts(QoS::AtMostOnce));
        for t in topics.iter().take(ROUTE_CACHE_SLOTS) {
            assert_eq!(targets(&mut s, None, t, &mut scratch), [1, 2], "{t}");
        }
    }
}
