//! [`Session`]: the state that outlives a network connection.

use super::inbound::AckToken;
use super::inbound::{InFlight, InState};
use super::message::Message;
use super::outbound::{OutFlight, OutState};
use super::pid::PidAllocator;
use super::queue::{DropReason, MessageQueue, QueuePolicy, Rejected};
use super::role::{Client, Role, RoleState, Server};
use super::storage::{Slots, Storage};
use super::subscriptions::{self, StoredSubscription};
use super::time::{Instant, earliest};
use super::will::SessionEvent;
use super::{PublishError, SubscribeError};
use crate::codec::{PacketId, QoS, ReasonCode};

/// The session state that outlives a network connection: outgoing in-flight messages,
/// incoming QoS 2 identifiers, the pending queue and (server role) Will and expiry.
///
/// A `Session` is handed to a [`Connection`](super::Connection) for the life of one
/// network connection and taken back with
/// [`Connection::into_session`](super::Connection::into_session). Between connections it
/// can be persisted (feature `serde`: it derives `Serialize` / `Deserialize`, e.g. for
/// postcard), can queue messages for the absent peer ([`Session::publish`]) and, on the
/// server, reports the delayed Will and its own expiry ([`Session::poll_timeout`],
/// [`Session::poll_event`]).
#[derive(Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(bound(
        serialize = "S::Outbound: serde::Serialize, S::Inbound: serde::Serialize, S::Queue: serde::Serialize, S::Subscriptions: serde::Serialize, R::State<S::Bytes>: serde::Serialize",
        deserialize = "S::Outbound: serde::Deserialize<'de>, S::Inbound: serde::Deserialize<'de>, S::Queue: serde::Deserialize<'de>, S::Subscriptions: serde::Deserialize<'de>, R::State<S::Bytes>: serde::Deserialize<'de>"
    ))
)]
//
// `repr(C)` in this order: the message queue (zeroed counters) first, so that building a
// session zeroes them with aligned stores; as laid out by the compiler they followed the
// in-flight table's length byte and were cleared through `__aeabi_memclr`, which no other
// code in client firmware links (about 210 bytes of flash). The narrow fields sit together
// so that the order costs no padding (checked on the broker's `Session<Server, Growable>`).
#[repr(C)]
pub struct Session<R: Role, S: Storage> {
    pub(crate) queue: MessageQueue<S::Bytes, S::Queue>,
    pub(crate) outbound: S::Outbound,
    pub(crate) inbound: S::Inbound,
    pub(crate) pids: PidAllocator,
    /// How many `outbound` entries are marked `resend`, so that a transmit with none
    /// pending does not scan the table (a hint: a scan that finds none resets it). `u16`:
    /// the table holds at most one entry per packet identifier, and firmware pays for it.
    pub(crate) resending: u16,
    /// No entry before this index is marked `resend` (a hint, so that finding the next
    /// PUBREL to send does not walk past every message awaiting PUBCOMP).
    #[cfg_attr(feature = "serde", serde(skip))]
    resend_from: u16,
    /// With `alloc`, two hints about the incoming table in one `u16` (a session's size is
    /// a broker's memory per idle connection):
    /// - the low 15 bits: no incoming entry before this index is undecided or has an
    ///   acknowledgement to send, so that looking for the next PUBACK / PUBREC / PUBCOMP
    ///   does not walk past every QoS 2 message awaiting its PUBREL (a broker's publisher
    ///   has a window of them). Capped at 32,767, which only makes a scan start earlier.
    /// - [`INBOUND_ORDERED`]: the incoming identifiers are known to be in the order a peer
    ///   that numbers upwards allocates them (each further from the first entry, on the
    ///   identifier cycle, than the one before), so a new PUBLISH whose identifier lies
    ///   past the last one needs no scan for a duplicate. Removals keep the order; a clear
    ///   bit only means "unknown".
    ///
    /// Firmware windows are a few entries: it scans.
    #[cfg(feature = "alloc")]
    #[cfg_attr(feature = "serde", serde(skip))]
    inbound_hints: u16,
    pub(crate) subscriptions: S::Subscriptions,
    pub(crate) policy: QueuePolicy,
    pub(crate) role: R::State<S::Bytes>,
    /// With `alloc`: the packet identifiers the in-flight table holds, built once the table
    /// is long enough for a scan per identifier allocation to matter (a broker window of
    /// hundreds); freed when the table empties. Never persisted: rebuilt on demand.
    #[cfg(feature = "alloc")]
    #[cfg_attr(feature = "serde", serde(skip))]
    pid_bits: Option<PidBits>,
}

/// See `Session::inbound_hints`.
#[cfg(feature = "alloc")]
const INBOUND_ORDERED: u16 = 0x8000;

/// Identifiers from this many in-flight entries up are looked up in a bit set.
#[cfg(feature = "alloc")]
const PID_BITS_FROM: usize = 32;

/// One bit per packet identifier (8 KiB, heap).
#[cfg(feature = "alloc")]
struct PidBits(alloc::boxed::Box<[u64; 1024]>);

#[cfg(feature = "alloc")]
impl PidBits {
    fn new() -> Self {
        Self(alloc::boxed::Box::new([0; 1024]))
    }
    /// The word index and the bit of `pid`.
    fn locate(pid: PacketId) -> (usize, u64) {
        let n = usize::from(pid.get());
        (n / 64, 1 << (n % 64))
    }
    fn set(&mut self, pid: PacketId, on: bool) {
        let (i, bit) = Self::locate(pid);
        if let Some(w) = self.0.get_mut(i) {
            if on {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }
    fn clear(&mut self) {
        self.0.fill(0);
    }
    fn contains(&self, pid: PacketId) -> bool {
        let (i, bit) = Self::locate(pid);
        self.0.get(i).is_some_and(|w| w & bit != 0)
    }
}

#[cfg(feature = "alloc")]
impl core::fmt::Debug for PidBits {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let n: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "PidBits({n} set)")
    }
}

impl<R: Role, S: Storage> Default for Session<R, S> {
    fn default() -> Self {
        Self::new(QueuePolicy::default())
    }
}

impl<R: Role, S: Storage> Session<R, S> {
    /// An empty session whose pending queue follows `policy`. Allocates nothing.
    // Always inlined: built in place inside the client's `Connection`, firmware zeroes its
    // counters with fewer copies through temporaries (68 bytes of flash in 3.1.1).
    #[inline(always)]
    pub fn new(policy: QueuePolicy) -> Self {
        Self {
            outbound: S::Outbound::default(),
            inbound: S::Inbound::default(),
            queue: MessageQueue::default(),
            pids: PidAllocator::new(),
            policy,
            subscriptions: S::Subscriptions::default(),
            role: Default::default(),
            resending: 0,
            resend_from: 0,
            #[cfg(feature = "alloc")]
            pid_bits: None,
            #[cfg(feature = "alloc")]
            inbound_hints: 0,
        }
    }

    /// Queues a message for the peer; it is sent (in order) once a connection has window
    /// for it. Works while disconnected (offline queue).
    ///
    /// Errors hand the message back: [`PublishError::Full`] is back-pressure (QoS 1/2 with
    /// [`ReliableOverflow::Backpressure`](super::ReliableOverflow::Backpressure)),
    /// [`PublishError::Dropped`] a drop by policy, to be counted or dead-lettered.
    #[inline]
    pub fn publish(&mut self, message: Message<S::Bytes>) -> Result<(), PublishError<S::Bytes>> {
        self.queue.push(message, &self.policy).map_err(|r| match r {
            Rejected::Full(message) => PublishError::Full(message),
            Rejected::Dropped(message, reason) => PublishError::Dropped { message, reason },
        })
    }

    /// The queue policy.
    pub fn policy(&self) -> &QueuePolicy {
        &self.policy
    }

    /// Changes the queue policy (applies to later pushes).
    pub fn set_policy(&mut self, policy: QueuePolicy) {
        self.policy = policy;
    }

    /// Outgoing QoS 1/2 messages not yet completed (the in-flight count, including QoS 2
    /// messages until PUBCOMP).
    pub fn inflight_len(&self) -> usize {
        self.outbound.len()
    }

    /// Packet identifiers of the in-flight messages, in send order.
    pub fn inflight_ids(&self) -> impl Iterator<Item = PacketId> + '_ {
        (0..self.outbound.len()).filter_map(|i| self.outbound.get(i).map(|e| e.pid))
    }

    /// Incoming QoS 1/2 messages not yet completed.
    pub fn incoming_len(&self) -> usize {
        self.inbound.len()
    }

    /// Messages waiting in the pending queue.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes in the pending queue.
    pub fn queued_bytes(&self) -> usize {
        self.queue.bytes()
    }

    /// The queued messages, in send order.
    pub fn queued(&self) -> impl Iterator<Item = &Message<S::Bytes>> {
        self.queue.iter()
    }

    /// QoS 0 messages dropped by the queue policy so far.
    pub fn qos0_dropped(&self) -> u32 {
        self.queue.qos0_dropped
    }

    /// `true` when the session holds no message state.
    pub fn is_empty(&self) -> bool {
        self.outbound.is_empty() && self.inbound.is_empty() && self.queue.len() == 0
    }

    /// Gives back the heap memory of containers that are empty (with `Growable` storage; a
    /// no-op with `Fixed`). The engine never frees on a removal, so a queue that empties and
    /// refills with every message does not allocate per message; a broker calls this for
    /// sessions that have gone quiet, so that idle sessions hold no heap.
    pub fn release_memory(&mut self) {
        self.outbound.release();
        self.inbound.release();
        self.queue.release();
        self.subscriptions.release();
        #[cfg(feature = "alloc")]
        if self.outbound.is_empty() {
            self.pid_bits = None;
        }
    }

    /// Discards all state: messages and subscriptions (Clean Start, or the session ended).
    pub fn clear(&mut self) {
        self.outbound.clear();
        self.outbound_emptied();
        self.inbound.clear();
        self.inbound_changed(0);
        self.queue.clear();
        self.subscriptions.clear();
    }

    /// Stores a subscription (server: after the broker granted it; client: after SUBACK), or
    /// replaces the one with the same filter (3.1.1 / 5.0 [MQTT-3.8.4-3]). Returns `true`
    /// when it replaced one (5.0 Retain Handling 1 needs to know).
    pub fn subscribe(
        &mut self,
        filter: &str,
        options: crate::codec::SubscriptionOptions,
        identifier: Option<core::num::NonZeroU32>,
    ) -> Result<bool, SubscribeError> {
        subscriptions::subscribe(&mut self.subscriptions, filter, options, identifier)
    }

    /// Removes a subscription; `true` if it existed.
    pub fn unsubscribe(&mut self, filter: &str) -> bool {
        subscriptions::unsubscribe(&mut self.subscriptions, filter)
    }

    /// The stored subscriptions, in the order they were made.
    pub fn subscriptions(&self) -> impl Iterator<Item = &StoredSubscription<S::Bytes>> {
        (0..self.subscriptions.len()).filter_map(|i| self.subscriptions.get(i))
    }

    /// Accepts an incoming QoS 1/2 message (see [`Connection::accept`](super::Connection::accept)).
    /// Also valid while no connection is attached: a QoS 2 decision taken after the
    /// connection dropped is kept, and its PUBREC answers the peer's re-sent PUBLISH. A
    /// token of a message the session has forgotten is ignored.
    pub fn accept(&mut self, token: AckToken, reason: ReasonCode) {
        let code = reason.code();
        // From the back: the decision is usually for the message just received, behind a
        // window of older ones.
        let Some(i) = (0..self.inbound.len())
            .rev()
            .find(|&i| self.inbound.get(i).is_some_and(|e| e.pid == token.pid))
        else {
            return;
        };
        self.inbound_changed(i);
        if let Some(e) = self.inbound.get_mut(i) {
            match (e.state, token.qos) {
                (InState::Qos1Undecided, QoS::AtLeastOnce) => e.state = InState::Qos1Ack(code),
                #[cfg(feature = "qos2")]
                (InState::Qos2Undecided, QoS::ExactlyOnce) => {
                    // Not yet sent: on a resumed session the peer's re-sent PUBLISH (or this
                    // connection) triggers it.
                    e.state = InState::Qos2Rec {
                        reason: code,
                        sent: false,
                    }
                }
                _ => {}
            }
        }
    }

    /// Index of the in-flight entry using `pid`.
    ///
    /// Entries are in allocation order and identifiers are allocated upwards, so the entry
    /// is usually at (or, after removals, before) the identifiers' distance from the first
    /// entry's: that index is tried first, then the ones before it, then the rest. In the
    /// usual case (acknowledgements in order) that is one comparison instead of a walk past
    /// every message still awaiting its PUBCOMP.
    /// Without `alloc` (firmware: a window of a few messages) it is a plain scan, which
    /// links less code.
    pub(crate) fn outbound_position(&self, pid: PacketId) -> Option<usize> {
        if !cfg!(feature = "alloc") {
            return self.outbound.position(|e| e.pid == pid);
        }
        let len = self.outbound.len();
        let first = self.outbound.get(0)?.pid.get();
        // Distance on the identifier cycle 1..=65535 (0 is never used).
        let d = if pid.get() >= first {
            pid.get() - first
        } else {
            u16::MAX - first + pid.get()
        };
        let guess = usize::from(d).min(len - 1);
        let hit = |i: usize| self.outbound.get(i).is_some_and(|e| e.pid == pid);
        (0..=guess)
            .rev()
            .find(|&i| hit(i))
            .or_else(|| (guess + 1..len).find(|&i| hit(i)))
    }

    /// `true` while the outgoing flow `pid`, started with
    /// [`Connection::start_outbox_publish`](super::Connection::start_outbox_publish), still
    /// needs its PUBLISH (not yet acknowledged by PUBACK, or by PUBREC for QoS 2). An
    /// outbox drops a sent message once this is `false`, unless a new session (CONNACK with
    /// Session Present 0) ended the flow: then it sends the message again as a new one.
    pub fn outbox_pending(&self, pid: PacketId) -> bool {
        self.outbound_position(pid)
            .and_then(|i| self.outbound.get(i))
            .is_some_and(|e| match e.state {
                OutState::OutboxPubAck => true,
                #[cfg(feature = "qos2")]
                OutState::OutboxPubRec => true,
                _ => false,
            })
    }

    /// The first entry marked `resend`, if any.
    pub(crate) fn next_resend(&mut self) -> Option<usize> {
        if self.resending == 0 {
            return None;
        }
        let len = self.outbound.len();
        // The hint matters only for long windows (see `outbound_position`).
        let from = if cfg!(feature = "alloc") {
            usize::from(self.resend_from).min(len)
        } else {
            0
        };
        let found = (from..len)
            .find(|&i| self.outbound.get(i).is_some_and(|e| e.resend))
            .or_else(|| (0..from).find(|&i| self.outbound.get(i).is_some_and(|e| e.resend)));
        match found {
            Some(i) => self.resend_from = u16::try_from(i).unwrap_or(u16::MAX),
            // The count was a hint: none left.
            None => self.resending = 0,
        }
        found
    }

    /// `true` when an in-flight entry uses `pid` (a bit test once the table is long; call
    /// [`index_pids`](Self::index_pids) first).
    pub(crate) fn pid_in_flight(&self, pid: PacketId) -> bool {
        #[cfg(feature = "alloc")]
        if let Some(bits) = &self.pid_bits {
            return bits.contains(pid);
        }
        self.outbound_position(pid).is_some()
    }

    /// Builds the identifier bit set once the table is long enough to need it.
    pub(crate) fn index_pids(&mut self) {
        #[cfg(feature = "alloc")]
        if self.pid_bits.is_none() && self.outbound.len() >= PID_BITS_FROM {
            let mut bits = PidBits::new();
            for i in 0..self.outbound.len() {
                if let Some(e) = self.outbound.get(i) {
                    bits.set(e.pid, true);
                }
            }
            self.pid_bits = Some(bits);
        }
    }

    /// Appends an in-flight entry (hands it back when the table is full).
    pub(crate) fn push_outbound(
        &mut self,
        e: OutFlight<S::Bytes>,
    ) -> Result<(), OutFlight<S::Bytes>> {
        let (pid, resend) = (e.pid, e.resend);
        self.outbound.push_back(e)?;
        self.resending = self.resending.saturating_add(u16::from(resend));
        #[cfg(feature = "alloc")]
        if let Some(bits) = &mut self.pid_bits {
            bits.set(pid, true);
        }
        #[cfg(not(feature = "alloc"))]
        let _ = pid;
        Ok(())
    }

    /// Removes in-flight entry `i`.
    pub(crate) fn remove_outbound(&mut self, i: usize) -> Option<OutFlight<S::Bytes>> {
        let e = self.outbound.remove(i)?;
        if i < usize::from(self.resend_from) {
            self.resend_from -= 1;
        }
        if e.resend {
            self.resending = self.resending.saturating_sub(1);
        }
        #[cfg(feature = "alloc")]
        if let Some(bits) = &mut self.pid_bits {
            bits.set(e.pid, false);
        }
        if self.outbound.is_empty() {
            self.outbound_emptied();
        }
        Some(e)
    }

    /// Marks in-flight entry `i` as to be (re-)transmitted, or as transmitted.
    pub(crate) fn set_resend(&mut self, i: usize, resend: bool) {
        if let Some(e) = self.outbound.get_mut(i)
            && e.resend != resend
        {
            e.resend = resend;
            if resend {
                self.resend_from = self.resend_from.min(u16::try_from(i).unwrap_or(u16::MAX));
                self.resending = self.resending.saturating_add(1);
            } else {
                self.resending = self.resending.saturating_sub(1);
            }
        }
    }

    fn outbound_emptied(&mut self) {
        self.resending = 0;
        self.resend_from = 0;
        // The bit set stays allocated (all clear): a busy session's table empties and
        // refills over and over, and building 8 KiB again each time was ~1.5% of a fan-in
        // broker's CPU. It goes with `release_memory` (a session gone quiet).
        #[cfg(feature = "alloc")]
        if let Some(bits) = &mut self.pid_bits {
            bits.clear();
        }
    }

    pub(crate) fn inbound_position(&self, pid: PacketId) -> Option<usize> {
        self.inbound.position(|e| e.pid == pid)
    }

    /// [`inbound_position`](Self::inbound_position) for the identifier of a PUBLISH just
    /// received, which is usually new: with `alloc`, an identifier past the last entry of a
    /// table in allocation order is answered without a scan, and a scan finds out again
    /// whether the table (with the new identifier behind it) is in order. Without `alloc`
    /// (firmware: a few entries) it is the plain scan.
    #[inline]
    pub(crate) fn inbound_position_new(&mut self, pid: PacketId) -> Option<usize> {
        #[cfg(feature = "alloc")]
        {
            let len = self.inbound.len();
            let Some(first) = self.inbound.get(0).map(|e| e.pid.get()) else {
                self.set_inbound_ordered(true);
                return None;
            };
            // Distance on the identifier cycle 1..=65535 (0 is never used).
            let dist = |p: u16| {
                if p >= first {
                    p - first
                } else {
                    u16::MAX - first + p
                }
            };
            let target = dist(pid.get());
            if self.inbound_hints & INBOUND_ORDERED != 0
                && let Some(last) = self.inbound.get(len - 1)
                && target > dist(last.pid.get())
            {
                return None;
            }
            let mut found = None;
            let mut ordered = true;
            let mut prev = 0;
            for i in 0..len {
                let Some(e) = self.inbound.get(i) else { break };
                let d = dist(e.pid.get());
                if e.pid == pid {
                    found = Some(i);
                }
                ordered &= i == 0 || d > prev;
                prev = d;
            }
            // Not found: the caller appends it (or refuses it, which leaves a table that
            // is in order all the same).
            self.set_inbound_ordered(ordered && (found.is_some() || target > prev));
            found
        }
        #[cfg(not(feature = "alloc"))]
        self.inbound_position(pid)
    }

    /// Prepares the state for a resumed session on a new connection (3.1.1 / 5.0
    /// [MQTT-4.4.0-1]): every unacknowledged PUBLISH and every PUBREL is re-sent, in order;
    /// incoming QoS 1 messages whose PUBACK was not sent are forgotten (the peer re-sends
    /// them); incoming QoS 2 identifiers stay until PUBREL.
    pub(crate) fn resume(&mut self) {
        for i in 0..self.outbound.len() {
            if let Some(e) = self.outbound.get_mut(i) {
                e.resend = true;
            }
        }
        self.resending = u16::try_from(self.outbound.len()).unwrap_or(u16::MAX);
        self.resend_from = 0;
        while let Some(i) = self.inbound.position(|e| e.qos() == QoS::AtLeastOnce) {
            self.inbound.remove(i);
        }
        self.inbound_changed(0);
        #[cfg(feature = "qos2")]
        for i in 0..self.inbound.len() {
            if let Some(e) = self.inbound.get_mut(i) {
                match e.state {
                    // The duplicate PUBLISH from the peer triggers the PUBREC again.
                    InState::Qos2Rec { reason, .. } => {
                        e.state = InState::Qos2Rec { reason, sent: true }
                    }
                    // The peer re-sends PUBREL, which is answered then.
                    InState::Qos2Comp => {
                        e.state = InState::Qos2Rec {
                            reason: 0,
                            sent: true,
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The peer has no session: outgoing messages not yet received by it go back to the
    /// front of the queue, in order, to be sent again as new messages with new identifiers;
    /// everything else is discarded. Returns the identifiers of QoS 2 messages that were
    /// already received (PUBREC seen), now complete, and the number of messages that did not
    /// fit back into the queue.
    #[cfg_attr(
        not(feature = "qos2"),
        allow(unused_mut, unused_variables, clippy::infallible_destructuring_match)
    )]
    pub(crate) fn restart(&mut self, mut completed: impl FnMut(PacketId)) -> usize {
        let mut lost = 0;
        let mut requeued = 0;
        while let Some(e) = self.outbound.pop_front() {
            let msg = match e.state {
                OutState::AwaitPubAck(m) => m,
                #[cfg(feature = "qos2")]
                OutState::AwaitPubRec(m) => m,
                #[cfg(feature = "qos2")]
                OutState::AwaitPubComp => {
                    completed(e.pid);
                    continue;
                }
                // The application's outbox sends these again itself.
                _ => continue,
            };
            // Insert after the ones already put back to keep the original order.
            if self.queue_insert(requeued, msg) {
                requeued += 1;
            } else {
                lost += 1;
            }
        }
        self.outbound_emptied();
        self.inbound.clear();
        self.inbound_changed(0);
        lost
    }

    fn queue_insert(&mut self, index: usize, msg: Message<S::Bytes>) -> bool {
        if !self.queue.stores_messages() {
            return false;
        }
        if index == 0 {
            return self.queue.push_front(msg).is_ok();
        }
        self.queue.insert(index, msg).is_ok()
    }

    pub(crate) fn report_drop(&mut self, message: Message<S::Bytes>, reason: DropReason) {
        self.queue.report_drop(message, reason);
    }

    pub(crate) fn entry(&self, i: usize) -> Option<&OutFlight<S::Bytes>> {
        self.outbound.get(i)
    }

    pub(crate) fn inbound_entry(&self, i: usize) -> Option<&InFlight> {
        self.inbound.get(i)
    }

    /// Incoming entry `i` was added or changed state (it may now block or have an
    /// acknowledgement to send); `0` after the table was rebuilt.
    #[inline]
    pub(crate) fn inbound_changed(&mut self, i: usize) {
        #[cfg(feature = "alloc")]
        self.set_ack_from(i.min(usize::from(self.ack_from())));
        let _ = i;
    }

    /// Where to start looking for an acknowledgement to send.
    #[inline]
    pub(crate) fn ack_scan_from(&self) -> usize {
        #[cfg(feature = "alloc")]
        return usize::from(self.ack_from());
        #[cfg(not(feature = "alloc"))]
        0
    }

    /// Every incoming entry before `i` awaits its PUBREL with its PUBREC sent (neither
    /// blocks nor has anything to send).
    #[cfg(feature = "qos2")]
    #[inline]
    pub(crate) fn ack_scanned_to(&mut self, i: usize) {
        #[cfg(feature = "alloc")]
        self.set_ack_from(i);
        let _ = i;
    }

    #[cfg(feature = "alloc")]
    #[inline]
    fn ack_from(&self) -> u16 {
        self.inbound_hints & !INBOUND_ORDERED
    }

    /// Sets the low 15 bits of `inbound_hints` to `i`, capped.
    #[cfg(feature = "alloc")]
    #[inline]
    fn set_ack_from(&mut self, i: usize) {
        let i = u16::try_from(i).unwrap_or(u16::MAX).min(!INBOUND_ORDERED);
        self.inbound_hints = (self.inbound_hints & INBOUND_ORDERED) | i;
    }

    #[cfg(feature = "alloc")]
    #[inline]
    fn set_inbound_ordered(&mut self, on: bool) {
        self.inbound_hints = (self.inbound_hints & !INBOUND_ORDERED) | (u16::from(on) << 15);
    }
}

impl<S: Storage> Session<Server, S> {
    /// Session Expiry Interval, seconds ([`NEVER_EXPIRES`](super::NEVER_EXPIRES) = never).
    pub fn expiry_interval(&self) -> u32 {
        self.role.expiry_interval
    }

    /// `true` once the session has expired at `now` (the broker deletes it).
    pub fn is_expired(&self, now: Instant) -> bool {
        self.role.is_expired(now)
    }

    /// `true` while a Will Message is stored (pending or armed).
    pub fn has_will(&self) -> bool {
        self.role.will.is_some()
    }
}

impl<R: Role, S: Storage> Session<R, S> {
    /// The next instant [`Session::poll_event`] has something to report while no
    /// connection is attached: the delayed Will, the session's expiry, the expiry of a
    /// queued message. (Always `None`-free of server timers for a client.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        let server = self.role.server().and_then(|s| s.poll_timeout());
        earliest(server, self.queue.next_expiry())
    }

    /// Reports what is due at `now` while no connection is attached: the Will
    /// ([`SessionEvent::Will`]) and then the session's end ([`SessionEvent::Expired`])
    /// on a server; expired queued messages are moved to the dropped list reported by the
    /// next connection (or by [`Session::poll_dropped`]).
    pub fn poll_event(&mut self, now: Instant) -> Option<SessionEvent<S::Bytes>> {
        self.queue.expire(now);
        let ev = self.role.server_mut().and_then(|s| s.poll_event(now));
        if matches!(ev, Some(SessionEvent::Expired)) {
            self.clear();
        }
        ev
    }

    /// The next message dropped after it was queued (expired, too large), with the reason.
    pub fn poll_dropped(&mut self) -> Option<(Message<S::Bytes>, DropReason)> {
        self.queue.pop_dropped()
    }
}

/// Client session: the device keeps it across reconnects.
impl<S: Storage> Session<Client, S> {
    /// A client session with the default queue policy.
    pub fn client() -> Self {
        Self::default()
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::super::storage::Growable;
    use super::*;

    /// Identifier lookup (bit set, guessed position), the resend count and the next entry to
    /// re-send agree with the table through pushes,
    /// removals in any order and resumption, and are dropped when the table empties.
    #[test]
    fn pid_bits_and_resend_count_track_the_table() {
        let mut s: Session<Server, Growable> = Session::default();
        // 200 identifiers in allocation order, wrapping past 65535 to 1.
        let pid = |k: u16| {
            let n = if k < 100 { 65436 + k } else { k - 99 };
            PacketId::new(n).unwrap()
        };
        let mut next = 0u16;
        let mut rng = 0x2545_f491_u32;
        for round in 0..2000u32 {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            let len = s.outbound.len();
            if len < 60 && (!rng.is_multiple_of(3) || len == 0) {
                s.index_pids();
                // Identifiers are unique in the table, as the allocator guarantees.
                while s.outbound.position(|e| e.pid == pid(next)).is_some() {
                    next = (next + 1) % 200;
                }
                let e = OutFlight {
                    pid: pid(next),
                    state: OutState::AwaitPubAck(
                        Message::new("t", b"x", QoS::AtLeastOnce, false).unwrap(),
                    ),
                    resend: rng.is_multiple_of(5),
                };
                s.push_outbound(e).unwrap();
                next = (next + 1) % 200;
            } else {
                s.remove_outbound(rng as usize % len);
            }
            if round.is_multiple_of(97) {
                s.resume();
            }
            if round.is_multiple_of(13) && !s.outbound.is_empty() {
                s.set_resend(rng as usize % s.outbound.len(), rng.is_multiple_of(2));
            }
            for k in 0..200 {
                let linear = s.outbound.position(|e| e.pid == pid(k));
                assert_eq!(s.outbound_position(pid(k)), linear, "round {round}");
                assert_eq!(s.pid_in_flight(pid(k)), linear.is_some());
            }
            let resend = (0..s.outbound.len())
                .filter(|&i| s.outbound.get(i).is_some_and(|e| e.resend))
                .count();
            assert_eq!(usize::from(s.resending), resend, "round {round}");
            let first_resend = s.outbound.position(|e| e.resend);
            assert_eq!(s.next_resend(), first_resend, "round {round}");
            if s.outbound.len() > PID_BITS_FROM {
                assert!(s.pid_bits.is_some());
            }
        }
        while !s.outbound.is_empty() {
            s.remove_outbound(0);
        }
        // The bit set is kept for the next burst, with every bit clear.
        assert!(
            s.pid_bits
                .as_ref()
                .is_some_and(|b| b.0.iter().all(|w| *w == 0))
        );
        assert_eq!(s.resending, 0);
    }
}
