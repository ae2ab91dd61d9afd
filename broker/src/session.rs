//! The broker's instantiation of the core session engine: payload type, storage, clock,
//! and the slot that holds one client's session on its shard.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, OnceLock};

use tern_core::session::{Connection, Growable, Instant, Message, OwnedBytes, Server, Session};
use tokio::sync::Notify;

use crate::colocate::Flow;
use crate::outbuf::OutBuf;

/// A shared, immutable buffer for topics, payloads and stored properties: a message routed
/// to many subscribers is copied out of the read buffer once and then shared by reference
/// count, never copied per subscriber.
///
/// An `Arc<[u8]>` and a range (24 bytes) rather than a `bytes::Bytes` (32): a message holds
/// up to four of these and is moved by value through routing and the queues, so every byte
/// here is copied several times per delivery; and an `Arc` is one allocation from the
/// start, where a `Bytes` made from a copy allocates its shared header again on its first
/// clone. Clones and drops are one inlined atomic operation.
#[derive(Clone)]
pub(crate) struct Payload {
    buf: Arc<[u8]>,
    start: u32,
    len: u32,
}

impl Payload {
    fn whole(buf: Arc<[u8]>) -> Option<Self> {
        let len = u32::try_from(buf.len()).ok()?;
        Some(Self { buf, start: 0, len })
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        let start = self.start as usize;
        self.buf
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_ref() == other.as_ref()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&bytes::Bytes::copy_from_slice(self.as_ref()), f)
    }
}

impl OwnedBytes for Payload {
    /// One allocation (written in place: `Arc<[u8]>` collects a `TrustedLen` iterator
    /// into its final buffer).
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
        fill(Arc::get_mut(&mut buf)?);
        Self::whole(buf)
    }

    /// One allocation and one copy.
    fn from_slice(data: &[u8]) -> Option<Self> {
        Self::whole(Arc::from(data))
    }

    /// A reference-counted slice of the same buffer (no allocation).
    fn share(&self, range: std::ops::Range<usize>) -> Option<Self> {
        if range.start > range.end || range.end > self.len as usize {
            return None;
        }
        Some(Self {
            buf: Arc::clone(&self.buf),
            start: self.start + u32::try_from(range.start).ok()?,
            len: u32::try_from(range.end - range.start).ok()?,
        })
    }
}

/// Session storage: grows on demand within the configured limits, shares payloads.
pub(crate) type Mem = Growable<Payload>;
/// An application message as sessions queue it.
pub(crate) type Msg = Message<Payload>;
/// One client connection's protocol state.
pub(crate) type CoreConn = Connection<Server, Mem>;
/// One client session.
pub(crate) type CoreSession = Session<Server, Mem>;

fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// The core's clock: milliseconds since the broker's first use of it.
pub(crate) fn now() -> Instant {
    let ms = epoch().elapsed().as_millis();
    Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A core deadline as a tokio instant.
pub(crate) fn to_tokio(i: Instant) -> tokio::time::Instant {
    let since = i.saturating_duration_since(Instant::ZERO).total_millis();
    tokio::time::Instant::from_std(epoch() + std::time::Duration::from_millis(since))
}

/// Where a session is in its life.
pub(crate) enum SlotState {
    /// A connection is attached (its task drives it).
    Online(Box<CoreConn>),
    /// No connection: messages queue in the session until it resumes or expires.
    Offline(Box<CoreSession>),
    /// Taken over by a newer connection, moved away, or ended; the old task must close,
    /// writing these bytes first (a takeover's DISCONNECT 0x8E; usually empty).
    Gone(OutBuf),
}

/// One client's session on its shard, shared by the connection task and the shard's
/// delivery paths (never across threads, never borrowed across an `.await`).
pub(crate) struct Slot {
    pub(crate) state: SlotState,
    /// Where this connection's deliveries come from (see [`crate::colocate`]).
    pub(crate) flow: Flow,
}

/// A [`Slot`] and the `Notify` that wakes its connection task (deliveries queued, taken
/// over, deadline passed, shutdown). The `Notify` sits outside the `RefCell` so the task
/// can wait on it without holding a borrow, and inside the one allocation (an idle
/// connection costs one `Rc` here, not two). Derefs to the `RefCell`.
pub(crate) struct SlotCell {
    pub(crate) notify: Notify,
    cell: RefCell<Slot>,
}

impl SlotCell {
    pub(crate) fn new(conn: Box<CoreConn>, flow: Flow) -> Self {
        Self {
            notify: Notify::new(),
            cell: RefCell::new(Slot {
                state: SlotState::Online(conn),
                flow,
            }),
        }
    }
}

impl std::ops::Deref for SlotCell {
    type Target = RefCell<Slot>;
    fn deref(&self) -> &RefCell<Slot> {
        &self.cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_builds_and_shares() {
        let p = Payload::from_slice(b"abc").unwrap();
        let q = p.clone();
        assert_eq!(q.as_ref(), b"abc");
        assert!(Arc::ptr_eq(&p.buf, &q.buf), "clones share the buffer");
        let b = Payload::build(4, |out| out.copy_from_slice(b"wxyz")).unwrap();
        assert_eq!(b.as_ref(), b"wxyz");
        let s = b.share(1..3).unwrap();
        assert_eq!(s.as_ref(), b"xy");
        assert!(
            Arc::ptr_eq(&s.buf, &b.buf),
            "a share is a slice of the same buffer"
        );
        assert_eq!(s.share(1..2).unwrap().as_ref(), b"y", "a share of a share");
        #[allow(clippy::reversed_empty_ranges)]
        let reversed = b.share(3..2);
        assert!(
            s.share(1..3).is_none() && reversed.is_none(),
            "out of range"
        );
        assert_eq!(
            s,
            Payload::from_slice(b"xy").unwrap(),
            "equality is by content"
        );
        assert_eq!(size_of::<Payload>(), 24);
    }

    #[test]
    fn clock_round_trips_through_tokio_instants() {
        let a = now();
        let t = to_tokio(a + tern_core::session::Duration::from_secs(2));
        let d = t - tokio::time::Instant::from_std(epoch());
        assert_eq!(
            d.as_millis(),
            u128::from(a.saturating_duration_since(Instant::ZERO).total_millis() + 2000)
        );
    }
}
