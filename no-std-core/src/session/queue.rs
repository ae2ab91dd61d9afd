//! The bounded pending queue: messages waiting for the send window, or for an offline
//! client to come back. Capacity is counted in messages and in bytes, and overflow follows
//! an explicit [`QueuePolicy`]: QoS 0 may be dropped (oldest or newest); QoS 1/2 is never
//! dropped silently: the caller gets it back (back-pressure) or, if the policy says so, a
//! "dropped" outcome with a [`DropReason`].
//!
//! Messages dropped *later* (expired while queued, too large for the peer) move to a
//! dropped list inside the same budget, which the engine reports as
//! [`Event::Dropped`](super::Event::Dropped); so memory stays within the configured bounds
//! even if the application is slow to poll.

use core::marker::PhantomData;

use super::message::Message;
use super::storage::{OwnedBytes, Slots};
use super::time::Instant;
use crate::codec::QoS;

/// What to do with a QoS 0 message that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Qos0Overflow {
    /// Evict the oldest queued QoS 0 messages to make room (the freshest data wins).
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
}

/// What to do with a QoS 1/2 message that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReliableOverflow {
    /// Hand the message back to the caller ([`PublishError::Full`](super::PublishError::Full)).
    #[default]
    Backpressure,
    /// Drop it, reporting [`DropReason::QueueFull`] so the broker can count it or route it
    /// to a dead-letter topic.
    Drop,
}

/// Capacity and overflow policy of a pending queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct QueuePolicy {
    /// Most messages queued (further bounded by the storage's capacity).
    pub max_messages: usize,
    /// Most bytes queued, counted by [`Message::size`].
    pub max_bytes: usize,
    /// QoS 0 overflow.
    pub qos0: Qos0Overflow,
    /// QoS 1/2 overflow.
    pub reliable: ReliableOverflow,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        Self {
            max_messages: 1000,
            max_bytes: 1 << 20,
            qos0: Qos0Overflow::DropOldest,
            reliable: ReliableOverflow::Backpressure,
        }
    }
}

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DropReason {
    /// The queue was full (message count or bytes).
    QueueFull,
    /// Its Message Expiry Interval passed before it could be sent.
    Expired,
    /// The PUBLISH would exceed the peer's Maximum Packet Size (or our queue's byte budget).
    TooLarge,
}

/// A queue slot: a message, and why it was dropped once it was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Queued<B> {
    message: Message<B>,
    dropped: Option<DropReason>,
}

/// Outcome of [`MessageQueue::push`] when the message was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejected<B> {
    /// Back-pressure: the message is handed back.
    Full(Message<B>),
    /// Dropped by policy.
    Dropped(Message<B>, DropReason),
}

/// Pending and dropped messages sharing one budget and one container: the dropped ones
/// (oldest first) at the front, then the pending ones in send order. One container rather
/// than two of the same capacity because the budget bounds their sum: with fixed storage a
/// second list would be a second set of message slots never used at the same time (a
/// `Fixed<.., QUEUE, ..>` session holds `QUEUE` messages, not `2 x QUEUE`).
///
/// `repr(C)` with the container between the counters: zeroing them then takes a few
/// stores rather than a call to `__aeabi_memclr8` (164 bytes of flash on a Cortex-M).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(C)]
pub(crate) struct MessageQueue<B, Q> {
    _bytes: PhantomData<B>,
    bytes: usize,
    /// QoS 0 messages evicted or refused (counted, not reported one by one).
    pub(crate) qos0_dropped: u32,
    /// `items[..dropped]` are dropped messages to report, `items[dropped..]` are pending.
    items: Q,
    /// How many messages at the front of `items` are dropped ones.
    dropped: usize,
    /// QoS 1/2 drops that found the dropped list full (counted only).
    pub(crate) unreported: u32,
    /// Pending messages with an expiry: when 0, [`Self::expire`] and
    /// [`Self::next_expiry`] return at once instead of scanning the queue (they run on
    /// every send, and a subscriber's queue can hold a million messages).
    #[cfg_attr(feature = "serde", serde(default))]
    expiring: usize,
}

impl<B, Q: Default> Default for MessageQueue<B, Q> {
    fn default() -> Self {
        Self {
            _bytes: PhantomData,
            items: Q::default(),
            dropped: 0,
            bytes: 0,
            qos0_dropped: 0,
            unreported: 0,
            expiring: 0,
        }
    }
}

impl<B: OwnedBytes, Q: Slots<Queued<B>>> MessageQueue<B, Q> {
    /// `false` for a storage with no queue slots (a client whose messages live in its own
    /// outbox): then the session never holds a message at all. A constant for fixed
    /// storage, so the engine's code that sends stored messages is left out of firmware.
    pub(crate) fn stores_messages(&self) -> bool {
        self.items.capacity() != 0
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len().saturating_sub(self.dropped)
    }

    /// The pending message at `index` (in send order).
    fn pending(&self, index: usize) -> Option<&Queued<B>> {
        self.items.get(self.dropped.saturating_add(index))
    }

    /// Index in `items` of the first pending message matching `pred`.
    fn position_pending(&self, mut pred: impl FnMut(&Message<B>) -> bool) -> Option<usize> {
        (self.dropped..self.items.len())
            .find(|&i| self.items.get(i).is_some_and(|q| pred(&q.message)))
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bookkeeping for a message leaving the pending list.
    fn left(&mut self, m: &Message<B>) {
        self.bytes = self.bytes.saturating_sub(m.size());
        if m.expires_at().is_some() {
            self.expiring = self.expiring.saturating_sub(1);
        }
    }

    fn fits(&self, size: usize, policy: &QueuePolicy) -> bool {
        self.items.len() < policy.max_messages.min(self.items.capacity())
            && self.bytes.saturating_add(size) <= policy.max_bytes
    }

    /// Evicts the oldest QoS 0 message; `false` if there is none.
    fn evict_oldest_qos0(&mut self) -> bool {
        match self.position_pending(|m| m.qos() == QoS::AtMostOnce) {
            Some(i) => {
                if let Some(q) = self.items.remove(i) {
                    self.left(&q.message);
                    self.qos0_dropped = self.qos0_dropped.saturating_add(1);
                }
                true
            }
            None => false,
        }
    }

    /// Queues `message` at the back, applying `policy` if it does not fit.
    pub(crate) fn push(
        &mut self,
        message: Message<B>,
        policy: &QueuePolicy,
    ) -> Result<(), Rejected<B>> {
        let size = message.size();
        if size > policy.max_bytes {
            if message.qos() == QoS::AtMostOnce {
                self.qos0_dropped = self.qos0_dropped.saturating_add(1);
            }
            return Err(Rejected::Dropped(message, DropReason::TooLarge));
        }
        let reliable = message.qos() != QoS::AtMostOnce;
        // QoS 0 may always be evicted: for a new QoS 1/2 message, and for a new QoS 0
        // message under DropOldest.
        if reliable || policy.qos0 == Qos0Overflow::DropOldest {
            while !self.fits(size, policy) && self.evict_oldest_qos0() {}
        }
        if !self.fits(size, policy) {
            return Err(match (reliable, policy.reliable) {
                (false, _) => {
                    self.qos0_dropped = self.qos0_dropped.saturating_add(1);
                    Rejected::Dropped(message, DropReason::QueueFull)
                }
                (true, ReliableOverflow::Backpressure) => Rejected::Full(message),
                (true, ReliableOverflow::Drop) => Rejected::Dropped(message, DropReason::QueueFull),
            });
        }
        let expires = message.expires_at().is_some();
        match self.items.push_back(Queued {
            message,
            dropped: None,
        }) {
            Ok(()) => {
                self.bytes += size;
                self.expiring += usize::from(expires);
                Ok(())
            }
            Err(q) => Err(Rejected::Full(q.message)),
        }
    }

    /// Puts a message back at the front (a message taken out of flight to be re-sent as a new
    /// one). Ignores the budget: the message was already accounted for once.
    pub(crate) fn push_front(&mut self, message: Message<B>) -> Result<(), Message<B>> {
        self.insert(0, message)
    }

    /// Inserts at `index` (see [`Self::push_front`]).
    pub(crate) fn insert(&mut self, index: usize, message: Message<B>) -> Result<(), Message<B>> {
        let size = message.size();
        let expires = message.expires_at().is_some();
        self.items
            .insert(
                self.dropped.saturating_add(index),
                Queued {
                    message,
                    dropped: None,
                },
            )
            .map(|()| {
                self.bytes += size;
                self.expiring += usize::from(expires);
            })
            .map_err(|q| q.message)
    }

    /// Reports a message dropped outside the queue (in flight, too large for the peer).
    /// Shares the budget; beyond it the drop is only counted.
    pub(crate) fn report_drop(&mut self, message: Message<B>, reason: DropReason) {
        if message.qos() == QoS::AtMostOnce {
            self.qos0_dropped = self.qos0_dropped.saturating_add(1);
        } else if self
            .items
            .insert(
                self.dropped,
                Queued {
                    message,
                    dropped: Some(reason),
                },
            )
            .is_ok()
        {
            self.dropped += 1;
        } else {
            self.unreported = self.unreported.saturating_add(1);
        }
    }

    pub(crate) fn front(&self) -> Option<&Message<B>> {
        self.pending(0).map(|q| &q.message)
    }

    pub(crate) fn pop_front(&mut self) -> Option<Message<B>> {
        let q = self.items.remove(self.dropped)?;
        self.left(&q.message);
        Some(q.message)
    }

    /// Moves the front message to the dropped list.
    pub(crate) fn drop_front(&mut self, reason: DropReason) {
        self.drop_at(self.dropped, reason);
    }

    /// Moves the pending message at `items[i]` to the end of the dropped block (a QoS 0
    /// message is removed and counted instead).
    fn drop_at(&mut self, i: usize, reason: DropReason) {
        let Some(q) = self.items.get_mut(i) else {
            return;
        };
        let qos0 = q.message.qos() == QoS::AtMostOnce;
        if !qos0 {
            q.dropped = Some(reason);
        }
        let (size, expires) = (q.message.size(), q.message.expires_at().is_some());
        self.bytes = self.bytes.saturating_sub(size);
        if expires {
            self.expiring = self.expiring.saturating_sub(1);
        }
        if qos0 {
            // QoS 0 drops are counted, not reported.
            self.items.remove(i);
            self.qos0_dropped = self.qos0_dropped.saturating_add(1);
            return;
        }
        if i != self.dropped {
            // Keep the dropped block in drop order, the pending ones in send order.
            if let Some(q) = self.items.remove(i) {
                let _ = self.items.insert(self.dropped, q);
            }
        }
        self.dropped += 1;
    }

    /// Moves every expired message to the dropped list, keeping the order of the others.
    pub(crate) fn expire(&mut self, now: Instant) {
        if self.expiring == 0 || !self.stores_messages() {
            return;
        }
        while let Some(i) = self.position_pending(|m| m.is_expired(now)) {
            self.drop_at(i, DropReason::Expired);
        }
    }

    /// The earliest expiry among queued messages.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        if self.expiring == 0 || !self.stores_messages() {
            return None;
        }
        // A plain loop: `Iterator::min` is a 180-byte function on a Cortex-M.
        let mut min: Option<Instant> = None;
        for t in self.iter().filter_map(Message::expires_at) {
            if min.is_none_or(|m| t < m) {
                min = Some(t);
            }
        }
        min
    }

    /// The next dropped message to report.
    pub(crate) fn pop_dropped(&mut self) -> Option<(Message<B>, DropReason)> {
        if self.dropped == 0 || !self.stores_messages() {
            return None;
        }
        let q = self.items.pop_front()?;
        self.dropped -= 1;
        Some((q.message, q.dropped.unwrap_or(DropReason::QueueFull)))
    }

    /// Frees the container's memory if it is empty (see [`Slots::release`]).
    pub(crate) fn release(&mut self) {
        self.items.release();
    }

    pub(crate) fn clear(&mut self) {
        if self.dropped == 0 {
            self.items.clear();
        } else {
            // Dropped messages stay to be reported.
            while self.items.len() > self.dropped {
                self.items.remove(self.items.len() - 1);
            }
        }
        self.bytes = 0;
        self.expiring = 0;
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Message<B>> {
        (0..self.len()).filter_map(|i| self.pending(i).map(|q| &q.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::time::Duration;

    type B = heapless::Vec<u8, 16>;
    type Q = MessageQueue<B, heapless::Vec<Queued<B>, 4>>;

    fn msg(topic: &str, qos: QoS) -> Message<B> {
        Message::new(topic, b"xy", qos, false).unwrap()
    }

    fn topics(q: &Q) -> std::vec::Vec<std::string::String> {
        q.iter().map(|m| m.topic().into()).collect()
    }

    #[test]
    fn expiry_bookkeeping_follows_every_path_in_and_out() {
        let policy = QueuePolicy::default();
        let mut q = Q::default();
        let t0 = Instant::from_secs(0);
        let lifetime = Duration::from_secs(5);
        q.push(msg("keep", QoS::AtLeastOnce), &policy).unwrap();
        assert_eq!(q.next_expiry(), None);
        q.push(
            msg("x1", QoS::AtLeastOnce).with_expiry(t0, lifetime),
            &policy,
        )
        .unwrap();
        q.push_front(msg("x0", QoS::AtMostOnce).with_expiry(t0, lifetime))
            .unwrap();
        assert_eq!(q.expiring, 2);
        assert_eq!(q.next_expiry(), Some(t0 + lifetime));
        // Leaving by pop_front counts down too.
        assert_eq!(q.pop_front().unwrap().topic(), "x0");
        assert_eq!(q.expiring, 1);
        q.expire(Instant::from_secs(10));
        assert_eq!(topics(&q), ["keep"]);
        assert_eq!(q.expiring, 0);
        assert_eq!(q.next_expiry(), None);
        q.insert(1, msg("x2", QoS::AtLeastOnce).with_expiry(t0, lifetime))
            .unwrap();
        q.clear();
        assert_eq!((q.expiring, q.bytes()), (0, 0));
    }

    #[test]
    fn dropped_and_pending_share_one_container() {
        let policy = QueuePolicy::default();
        let mut q = Q::default(); // 4 slots
        let t0 = Instant::from_secs(0);
        q.push(msg("a", QoS::AtLeastOnce), &policy).unwrap();
        let b = msg("b", QoS::ExactlyOnce).with_expiry(t0, Duration::from_secs(1));
        q.push(b, &policy).unwrap();
        q.push(msg("c", QoS::AtLeastOnce), &policy).unwrap();
        q.push(msg("z", QoS::AtMostOnce), &policy).unwrap();
        q.expire(Instant::from_secs(2)); // "b", from the middle
        q.drop_front(DropReason::TooLarge); // "a"
        assert_eq!(topics(&q), ["c", "z"]);
        q.drop_at(q.dropped + 1, DropReason::Expired); // QoS 0: counted, gone
        assert_eq!((q.len(), q.qos0_dropped), (1, 1));
        q.report_drop(msg("d", QoS::AtLeastOnce), DropReason::TooLarge);
        // 3 dropped + 1 pending fill the 4 slots.
        assert!(matches!(
            q.push(msg("e", QoS::AtLeastOnce), &policy),
            Err(Rejected::Full(_))
        ));
        q.report_drop(msg("f", QoS::AtLeastOnce), DropReason::TooLarge);
        assert_eq!(q.unreported, 1);
        // Clearing the pending messages keeps the drops to report, in drop order.
        q.clear();
        assert_eq!((q.len(), q.front()), (0, None));
        let drops: std::vec::Vec<_> = core::iter::from_fn(|| q.pop_dropped())
            .map(|(m, r)| (std::string::String::from(m.topic()), r))
            .collect();
        assert_eq!(
            drops,
            [
                ("b".into(), DropReason::Expired),
                ("a".into(), DropReason::TooLarge),
                ("d".into(), DropReason::TooLarge)
            ]
        );
        q.push(msg("g", QoS::AtLeastOnce), &policy).unwrap();
        assert_eq!(q.pop_front().map(|m| m.topic().len()), Some(1));
        assert_eq!(q.pop_dropped(), None);
    }

    #[test]
    fn qos0_drop_oldest_and_newest() {
        let mut policy = QueuePolicy {
            max_messages: 2,
            ..QueuePolicy::default()
        };
        let mut q = Q::default();
        for t in ["a", "b", "c"] {
            assert_eq!(q.push(msg(t, QoS::AtMostOnce), &policy), Ok(()));
        }
        assert_eq!(topics(&q), ["b", "c"]);
        assert_eq!(q.qos0_dropped, 1);
        policy.qos0 = Qos0Overflow::DropNewest;
        assert!(matches!(
            q.push(msg("d", QoS::AtMostOnce), &policy),
            Err(Rejected::Dropped(_, DropReason::QueueFull))
        ));
        assert_eq!(topics(&q), ["b", "c"]);
    }

    #[test]
    fn reliable_is_never_dropped_silently() {
        let mut policy = QueuePolicy {
            max_messages: 2,
            ..QueuePolicy::default()
        };
        let mut q = Q::default();
        assert_eq!(q.push(msg("a", QoS::AtLeastOnce), &policy), Ok(()));
        assert_eq!(q.push(msg("b", QoS::AtMostOnce), &policy), Ok(()));
        // A QoS 0 message is evicted to admit a QoS 1 message.
        assert_eq!(q.push(msg("c", QoS::AtLeastOnce), &policy), Ok(()));
        assert_eq!(topics(&q), ["a", "c"]);
        assert!(
            matches!(q.push(msg("d", QoS::AtLeastOnce), &policy), Err(Rejected::Full(m)) if m.topic() == "d")
        );
        policy.reliable = ReliableOverflow::Drop;
        assert!(matches!(
            q.push(msg("d", QoS::AtLeastOnce), &policy),
            Err(Rejected::Dropped(_, DropReason::QueueFull))
        ));
        // The storage capacity (4) bounds a larger policy.
        policy.max_messages = 100;
        q.push(msg("e", QoS::AtLeastOnce), &policy).unwrap();
        q.push(msg("f", QoS::AtLeastOnce), &policy).unwrap();
        assert!(q.push(msg("g", QoS::AtLeastOnce), &policy).is_err());
    }

    #[test]
    fn byte_budget() {
        let policy = QueuePolicy {
            max_bytes: 6,
            ..QueuePolicy::default()
        };
        let mut q = Q::default();
        q.push(msg("a", QoS::AtLeastOnce), &policy).unwrap(); // 3 bytes
        q.push(msg("b", QoS::AtLeastOnce), &policy).unwrap(); // 6 bytes
        assert!(matches!(
            q.push(msg("c", QoS::AtLeastOnce), &policy),
            Err(Rejected::Full(_))
        ));
        assert_eq!(q.bytes(), 6);
        let big = Message::new("t", &[0; 10], QoS::AtLeastOnce, false).unwrap();
        assert!(matches!(
            q.push(big, &policy),
            Err(Rejected::Dropped(_, DropReason::TooLarge))
        ));
        q.pop_front();
        assert_eq!(q.bytes(), 3);
    }

    #[test]
    fn expiry_moves_to_dropped_within_budget() {
        let policy = QueuePolicy {
            max_messages: 3,
            ..QueuePolicy::default()
        };
        let mut q = Q::default();
        let t0 = Instant::ZERO;
        q.push(msg("a", QoS::AtLeastOnce), &policy).unwrap();
        q.push(
            msg("b", QoS::AtLeastOnce).with_expiry(t0, Duration::from_secs(5)),
            &policy,
        )
        .unwrap();
        q.push(msg("c", QoS::AtLeastOnce), &policy).unwrap();
        assert_eq!(q.next_expiry(), Some(Instant::from_secs(5)));
        q.expire(Instant::from_secs(4));
        assert_eq!(q.len(), 3);
        q.expire(Instant::from_secs(5));
        assert_eq!(topics(&q), ["a", "c"]);
        // The dropped message still counts until it is reported.
        assert!(q.push(msg("d", QoS::AtLeastOnce), &policy).is_err());
        let (m, r) = q.pop_dropped().unwrap();
        assert_eq!((m.topic(), r), ("b", DropReason::Expired));
        assert!(q.push(msg("d", QoS::AtLeastOnce), &policy).is_ok());
    }
}
