//! The broker's instantiation of the core session engine: payload type, storage, clock,
//! and the slot that holds one client's session on its shard.

use std::cell::RefCell;
use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use tern_core::session::{Connection, Growable, Instant, Message, OwnedBytes, Server, Session};
use tokio::sync::Notify;

use crate::colocate::Flow;
use crate::outbuf::OutBuf;

/// A shared, immutable buffer for topics, payloads and stored properties: a message routed
/// to many subscribers is copied out of the read buffer once and then shared by reference
/// count (`bytes::Bytes`), never copied per subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Payload(pub(crate) Bytes);

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl OwnedBytes for Payload {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        let mut b = BytesMut::zeroed(len);
        fill(&mut b);
        Some(Self(b.freeze()))
    }

    /// One allocation and one copy (the default zeroes a buffer first).
    fn from_slice(data: &[u8]) -> Option<Self> {
        Some(Self(Bytes::copy_from_slice(data)))
    }

    /// A reference-counted slice of the same buffer (the first one turns the buffer into a
    /// shared one: one small allocation per buffer, then none).
    fn share(&self, range: std::ops::Range<usize>) -> Option<Self> {
        (range.start <= range.end && range.end <= self.0.len()).then(|| Self(self.0.slice(range)))
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
        assert_eq!(p.0.as_ptr(), q.0.as_ptr(), "clones share the buffer");
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
