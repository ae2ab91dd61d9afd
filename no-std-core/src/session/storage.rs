//! Where a session keeps its state: a trait with a fixed-capacity implementation for
//! firmware ([`Fixed`], over `heapless`) and a growable one for the broker ([`Growable`],
//! feature `alloc`).
//!
//! The engine only needs ordered sequences ([`Slots`]): the in-flight table, the incoming
//! QoS 2 identifiers, the pending queue and the topic-alias maps are all small ordered
//! lists searched linearly (their length is bounded by a Receive Maximum or an alias
//! maximum, and order is what resumption must preserve). There is deliberately no
//! 65,536-entry identifier bitmap: identifiers in use are exactly those in the in-flight
//! table. The [`Growable`] containers start empty without allocating and give their memory
//! back when they empty, so an idle broker session costs only its fixed header.

use super::alias::Alias;
use super::inbound::InFlight;
use super::outbound::OutFlight;
use super::queue::Queued;
use super::subscriptions::StoredSubscription;

/// An ordered sequence with a hard capacity: the only container the engine uses.
///
/// Indexing methods take an index that may be out of range and answer `None`; no method
/// panics.
pub trait Slots<T> {
    /// Number of items.
    fn len(&self) -> usize;
    /// `true` when there are no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The most items this container can ever hold (`usize::MAX` when it grows on demand).
    fn capacity(&self) -> usize;
    /// Appends, or hands the item back when full.
    fn push_back(&mut self, item: T) -> Result<(), T>;
    /// Removes and returns the first item.
    fn pop_front(&mut self) -> Option<T>;
    /// The item at `index`.
    fn get(&self, index: usize) -> Option<&T>;
    /// The item at `index`, mutably.
    fn get_mut(&mut self, index: usize) -> Option<&mut T>;
    /// Removes the item at `index`, keeping the order of the others.
    fn remove(&mut self, index: usize) -> Option<T>;
    /// Inserts at `index` (at most `len()`), or hands the item back when full or out of range.
    fn insert(&mut self, index: usize, item: T) -> Result<(), T>;
    /// Removes everything (a growable container also frees its memory).
    fn clear(&mut self);
    /// Gives back memory the container no longer needs: a growable container that is empty
    /// frees its allocation. Called while the session is quiet (not on every removal: a
    /// queue that empties and refills per message would allocate and free each time).
    fn release(&mut self) {}
    /// Index of the first item matching `pred`.
    fn position(&self, mut pred: impl FnMut(&T) -> bool) -> Option<usize> {
        (0..self.len()).find(|&i| self.get(i).is_some_and(&mut pred))
    }
}

impl<T, const N: usize, L: heapless::LenType> Slots<T> for heapless::Vec<T, N, L> {
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    fn capacity(&self) -> usize {
        N
    }
    fn push_back(&mut self, item: T) -> Result<(), T> {
        self.push(item)
    }
    fn pop_front(&mut self) -> Option<T> {
        Slots::remove(self, 0)
    }
    fn get(&self, index: usize) -> Option<&T> {
        self.as_slice().get(index)
    }
    fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.as_mut_slice().get_mut(index)
    }
    // `remove` and `insert` move items by swapping rather than with `heapless::Vec`'s
    // `ptr::copy`: on MCUs that would link `memmove` (about 1.6 KB of flash) for containers
    // that hold a handful of items.
    fn remove(&mut self, index: usize) -> Option<T> {
        let tail = self.as_mut_slice().get_mut(index..)?;
        if tail.is_empty() {
            return None;
        }
        for i in 1..tail.len() {
            swap_with_previous(tail, i);
        }
        self.pop()
    }
    fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        if index > self.as_slice().len() {
            return Err(item);
        }
        self.push(item)?;
        if let Some(tail) = self.as_mut_slice().get_mut(index..) {
            for i in (1..tail.len()).rev() {
                swap_with_previous(tail, i);
            }
        }
        Ok(())
    }
    fn clear(&mut self) {
        heapless::Vec::clear(self);
    }
}

/// Swaps `s[i - 1]` and `s[i]` (no-op out of range) through disjoint borrows:
/// `slice::swap` must allow `i == j` and so moves with `memmove`.
fn swap_with_previous<T>(s: &mut [T], i: usize) {
    let (a, b) = s.split_at_mut(i.min(s.len()));
    if let (Some(x), Some(y)) = (a.last_mut(), b.first_mut()) {
        core::mem::swap(x, y);
    }
}

#[cfg(feature = "alloc")]
impl<T> Slots<T> for alloc::collections::VecDeque<T> {
    fn len(&self) -> usize {
        alloc::collections::VecDeque::len(self)
    }
    fn capacity(&self) -> usize {
        usize::MAX
    }
    fn push_back(&mut self, item: T) -> Result<(), T> {
        alloc::collections::VecDeque::push_back(self, item);
        Ok(())
    }
    fn pop_front(&mut self) -> Option<T> {
        alloc::collections::VecDeque::pop_front(self)
    }
    fn get(&self, index: usize) -> Option<&T> {
        alloc::collections::VecDeque::get(self, index)
    }
    fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        alloc::collections::VecDeque::get_mut(self, index)
    }
    fn remove(&mut self, index: usize) -> Option<T> {
        alloc::collections::VecDeque::remove(self, index)
    }
    fn insert(&mut self, index: usize, item: T) -> Result<(), T> {
        if index > alloc::collections::VecDeque::len(self) {
            return Err(item);
        }
        alloc::collections::VecDeque::insert(self, index, item);
        Ok(())
    }
    fn clear(&mut self) {
        *self = alloc::collections::VecDeque::new();
    }
    fn release(&mut self) {
        if alloc::collections::VecDeque::is_empty(self) {
            // An idle session holds no heap memory.
            self.shrink_to_fit();
        }
    }
}

/// Owned bytes a session can keep (topic names, payloads, stored properties).
///
/// Implemented for `heapless::Vec<u8, N>` (firmware) and, with `alloc`, for `Vec<u8>`,
/// `Box<[u8]>` and, where the target has atomics, `Arc<[u8]>` (cheap clones for fan-out).
/// The broker can wrap `bytes::Bytes` in a newtype.
pub trait OwnedBytes: AsRef<[u8]> + Clone + core::fmt::Debug + 'static {
    /// `len` bytes written by `fill` (which gets a zeroed slice of exactly `len` bytes), or
    /// `None` if `len` does not fit.
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self>;

    /// Copies `data`, or `None` if it does not fit.
    fn from_slice(data: &[u8]) -> Option<Self> {
        Self::build(data.len(), |out| out.copy_from_slice(data))
    }

    /// A handle to `self.as_ref()[range]` that shares this buffer's storage, for types that
    /// can (a reference-counted slice such as `bytes::Bytes`): a message built from one
    /// received packet then holds one buffer for its topic, payload and encoding
    /// (`Message::from_publish_frame`, feature `alloc`). `None` (the
    /// default) when the type cannot share or the range is out of bounds; callers copy then.
    fn share(&self, range: core::ops::Range<usize>) -> Option<Self> {
        let _ = range;
        None
    }
}

impl<const N: usize, L: heapless::LenType + 'static> OwnedBytes for heapless::Vec<u8, N, L> {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        let mut v = heapless::Vec::new();
        v.resize(len, 0).ok()?;
        fill(&mut v);
        Some(v)
    }
}

#[cfg(feature = "alloc")]
impl OwnedBytes for alloc::vec::Vec<u8> {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        let mut v = alloc::vec![0; len];
        fill(&mut v);
        Some(v)
    }
}

#[cfg(feature = "alloc")]
impl OwnedBytes for alloc::boxed::Box<[u8]> {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        alloc::vec::Vec::build(len, fill).map(Into::into)
    }
}

#[cfg(all(feature = "alloc", target_has_atomic = "ptr"))]
impl OwnedBytes for alloc::sync::Arc<[u8]> {
    fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
        alloc::vec::Vec::build(len, fill).map(Into::into)
    }
}

/// The containers one session uses. Pick [`Fixed`] (no allocation, capacities as const
/// generics) or `Growable` (feature `alloc`, sized at run time by [`Limits`](super::Limits)).
/// Both run the same engine code.
pub trait Storage {
    /// Owned bytes for topics and payloads.
    type Bytes: OwnedBytes;
    /// Outgoing QoS 1/2 messages awaiting acknowledgement, in send order.
    type Outbound: Slots<OutFlight<Self::Bytes>> + Default + core::fmt::Debug;
    /// Incoming QoS 1/2 messages awaiting the application's decision or PUBREL.
    type Inbound: Slots<InFlight> + Default + core::fmt::Debug;
    /// Messages waiting for the send window or for the peer to come back.
    type Queue: Slots<Queued<Self::Bytes>> + Default + core::fmt::Debug;
    /// One topic-alias map (inbound or outbound).
    type Aliases: Slots<Alias<Self::Bytes>> + Default + core::fmt::Debug;
    /// The session's subscriptions.
    type Subscriptions: Slots<StoredSubscription<Self::Bytes>> + Default + core::fmt::Debug;
}

/// No-allocation storage for firmware.
///
/// - `INFLIGHT`: outgoing in-flight messages, and incoming unacknowledged messages (our
///   Receive Maximum is at most this);
/// - `QUEUE`: messages waiting for the window;
/// - `ALIASES`: topic aliases per direction;
/// - `BYTES`: the longest topic or payload kept;
/// - `SUBS`: subscriptions (default 8).
///
/// Lengths are kept narrow (firmware pays for every byte of a session): `BYTES` is at most
/// 65,535 and each count at most 255 (checked at compile time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fixed<
    const INFLIGHT: usize,
    const QUEUE: usize,
    const ALIASES: usize,
    const BYTES: usize,
    const SUBS: usize = 8,
>;

impl<
    const INFLIGHT: usize,
    const QUEUE: usize,
    const ALIASES: usize,
    const BYTES: usize,
    const SUBS: usize,
> Storage for Fixed<INFLIGHT, QUEUE, ALIASES, BYTES, SUBS>
{
    // Narrow lengths: firmware pays for every byte of a session.
    type Bytes = heapless::Vec<u8, BYTES, u16>;
    type Outbound = heapless::Vec<OutFlight<Self::Bytes>, INFLIGHT, u8>;
    type Inbound = heapless::Vec<InFlight, INFLIGHT, u8>;
    type Queue = heapless::Vec<Queued<Self::Bytes>, QUEUE, u8>;
    type Aliases = heapless::Vec<Alias<Self::Bytes>, ALIASES, u8>;
    type Subscriptions = heapless::Vec<StoredSubscription<Self::Bytes>, SUBS, u8>;
}

/// Heap storage for the broker: every container starts empty without allocating, grows on
/// demand up to the run-time [`Limits`](super::Limits), and frees its memory when it empties.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Growable<B = alloc::vec::Vec<u8>>(core::marker::PhantomData<B>);

#[cfg(feature = "alloc")]
impl<B: OwnedBytes> Storage for Growable<B> {
    type Bytes = B;
    type Outbound = alloc::collections::VecDeque<OutFlight<B>>;
    type Inbound = alloc::collections::VecDeque<InFlight>;
    type Queue = alloc::collections::VecDeque<Queued<B>>;
    type Aliases = alloc::collections::VecDeque<Alias<B>>;
    type Subscriptions = alloc::collections::VecDeque<StoredSubscription<B>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise<S: Slots<u32> + Default>() {
        let mut s = S::default();
        assert!(s.is_empty());
        for i in 0..4 {
            assert_eq!(s.push_back(i), Ok(()));
        }
        assert_eq!(s.remove(1), Some(1));
        assert_eq!(s.remove(10), None);
        assert_eq!(s.get(1), Some(&2));
        assert_eq!(s.position(|&x| x == 3), Some(2));
        assert_eq!(s.pop_front(), Some(0));
        assert_eq!(s.insert(0, 7), Ok(()));
        assert_eq!(s.insert(9, 7), Err(7));
        assert_eq!(s.pop_front(), Some(7));
        if let Some(x) = s.get_mut(0) {
            *x = 9;
        }
        assert_eq!(s.get(0), Some(&9));
        s.clear();
        assert_eq!(s.len(), 0);
        assert_eq!(s.pop_front(), None);
    }

    #[test]
    fn heapless_slots() {
        exercise::<heapless::Vec<u32, 4>>();
        let mut v: heapless::Vec<u32, 1> = heapless::Vec::new();
        assert_eq!(Slots::push_back(&mut v, 1), Ok(()));
        assert_eq!(Slots::push_back(&mut v, 2), Err(2));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn growable_slots_free_memory_when_empty() {
        exercise::<alloc::collections::VecDeque<u32>>();
        let mut v = alloc::collections::VecDeque::new();
        assert_eq!(v.capacity(), 0, "an idle container holds no heap memory");
        Slots::push_back(&mut v, 1u32).ok();
        assert!(alloc::collections::VecDeque::capacity(&v) > 0);
        Slots::pop_front(&mut v);
        // Kept while in use (no allocation per message for a queue that empties and
        // refills), given back by `release`.
        assert!(alloc::collections::VecDeque::capacity(&v) > 0);
        Slots::release(&mut v);
        assert_eq!(alloc::collections::VecDeque::capacity(&v), 0);
        Slots::push_back(&mut v, 1u32).ok();
        Slots::release(&mut v);
        assert!(
            alloc::collections::VecDeque::capacity(&v) > 0,
            "in use: kept"
        );
    }

    #[test]
    fn owned_bytes() {
        assert!(<heapless::Vec<u8, 2> as OwnedBytes>::from_slice(b"abc").is_none());
        assert_eq!(
            <heapless::Vec<u8, 4> as OwnedBytes>::from_slice(b"abc").map(|v| v.len()),
            Some(3)
        );
    }
}
