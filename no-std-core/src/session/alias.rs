//! 5.0 Topic Alias maps, one per direction, owned by a [`Connection`](super::Connection):
//! aliases never outlive the network connection (5.0 3.3.2.3.4), and messages are stored
//! with their full topic, so a resend on a new connection cannot carry a stale alias.
//!
//! - Inbound: the peer assigns; the map is bounded by the Topic Alias Maximum *we*
//!   advertised. An alias above it, or an unknown alias with an empty topic, is a
//!   protocol error (0x94 Topic Alias invalid / 0x82).
//! - Outbound: we assign, first come first served, up to the peer's Topic Alias Maximum;
//!   the first PUBLISH on a topic carries topic and alias, later ones an empty topic.

use core::marker::PhantomData;
use core::num::NonZeroU16;

use super::storage::{OwnedBytes, Slots};

/// One alias-to-topic mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias<B> {
    alias: NonZeroU16,
    topic: B,
}

/// Why an inbound alias could not be resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum AliasError {
    /// Alias greater than our Topic Alias Maximum (0x94).
    OutOfRange,
    /// Empty topic with an alias we do not know (0x82).
    Unknown,
    /// The topic does not fit our byte buffers.
    TooLong,
}

/// Inbound map.
#[derive(Debug)]
pub(crate) struct InboundAliases<B, A> {
    map: A,
    _bytes: PhantomData<B>,
}

impl<B, A: Default> Default for InboundAliases<B, A> {
    fn default() -> Self {
        Self {
            map: A::default(),
            _bytes: PhantomData,
        }
    }
}

impl<B: OwnedBytes, A: Slots<Alias<B>>> InboundAliases<B, A> {
    /// Resolves the topic of a received PUBLISH: records `topic` under `alias` when it is
    /// not empty; returns the stored topic index to read back with [`Self::topic`].
    pub(crate) fn resolve(
        &mut self,
        max: u16,
        alias: NonZeroU16,
        topic: &str,
    ) -> Result<Option<usize>, AliasError> {
        // Our Topic Alias Maximum never exceeds the capacity; testing the capacity too (a
        // constant for fixed storage) leaves the map code out of firmware without aliases.
        if alias.get() > max || self.map.capacity() == 0 {
            return Err(AliasError::OutOfRange);
        }
        let existing = self.map.position(|a| a.alias == alias);
        if topic.is_empty() {
            return existing.map(Some).ok_or(AliasError::Unknown);
        }
        let topic = B::from_slice(topic.as_bytes()).ok_or(AliasError::TooLong)?;
        match existing.and_then(|i| self.map.get_mut(i)) {
            Some(entry) => entry.topic = topic,
            None => {
                // Bounded by `max` above; a storage smaller than our advertised maximum
                // cannot remember it.
                self.map
                    .push_back(Alias { alias, topic })
                    .map_err(|_| AliasError::TooLong)?;
            }
        }
        Ok(None)
    }

    /// Most aliases the storage can remember.
    pub(crate) fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Forgets every alias (a new connection starts without any).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    pub(crate) fn topic(&self, index: usize) -> Option<&str> {
        self.map
            .get(index)
            .and_then(|a| core::str::from_utf8(a.topic.as_ref()).ok())
    }
}

/// Outbound map.
#[derive(Debug)]
pub(crate) struct OutboundAliases<B, A> {
    map: A,
    _bytes: PhantomData<B>,
}

impl<B, A: Default> Default for OutboundAliases<B, A> {
    fn default() -> Self {
        Self {
            map: A::default(),
            _bytes: PhantomData,
        }
    }
}

/// How to send one PUBLISH topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// No alias: full topic.
    None,
    /// Full topic plus a new alias (remember it once sent).
    Assign(NonZeroU16),
    /// Empty topic with a known alias.
    Reuse(NonZeroU16),
}

impl<B: OwnedBytes, A: Slots<Alias<B>>> OutboundAliases<B, A> {
    /// Decides how to send `topic` when the peer accepts `max` aliases.
    pub(crate) fn plan(&self, max: u16, topic: &[u8]) -> AliasUse {
        if let Some(a) = self
            .map
            .position(|a| a.topic.as_ref() == topic)
            .and_then(|i| self.map.get(i))
        {
            return AliasUse::Reuse(a.alias);
        }
        let next = self.map.len().saturating_add(1);
        match u16::try_from(next).ok().and_then(NonZeroU16::new) {
            Some(alias) if alias.get() <= max && self.map.len() < self.map.capacity() => {
                AliasUse::Assign(alias)
            }
            _ => AliasUse::None,
        }
    }

    /// Records an assignment after the PUBLISH carrying it was encoded.
    /// Forgets every alias (a new connection starts without any).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    pub(crate) fn commit(&mut self, alias: NonZeroU16, topic: &[u8]) {
        if let Some(topic) = B::from_slice(topic) {
            // Failure only means the alias is not reused.
            let _ = self.map.push_back(Alias { alias, topic });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = heapless::Vec<u8, 16>;
    type A = heapless::Vec<Alias<B>, 2>;

    fn nz(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).unwrap()
    }

    #[test]
    fn inbound_map_mqtt_3_3_2_8() {
        let mut m = InboundAliases::<B, A>::default();
        assert_eq!(m.resolve(2, nz(3), "a"), Err(AliasError::OutOfRange));
        assert_eq!(m.resolve(2, nz(1), ""), Err(AliasError::Unknown));
        assert_eq!(m.resolve(2, nz(1), "a/b"), Ok(None));
        let i = m.resolve(2, nz(1), "").unwrap().unwrap();
        assert_eq!(m.topic(i), Some("a/b"));
        // Re-mapping an alias replaces the topic.
        assert_eq!(m.resolve(2, nz(1), "c"), Ok(None));
        let i = m.resolve(2, nz(1), "").unwrap().unwrap();
        assert_eq!(m.topic(i), Some("c"));
    }

    #[test]
    fn outbound_assigns_up_to_peer_maximum() {
        let mut m = OutboundAliases::<B, A>::default();
        assert_eq!(m.plan(0, b"a"), AliasUse::None);
        assert_eq!(m.plan(1, b"a"), AliasUse::Assign(nz(1)));
        m.commit(nz(1), b"a");
        assert_eq!(m.plan(1, b"a"), AliasUse::Reuse(nz(1)));
        assert_eq!(m.plan(1, b"b"), AliasUse::None);
        assert_eq!(m.plan(5, b"b"), AliasUse::Assign(nz(2)));
        m.commit(nz(2), b"b");
        // Storage capacity (2) reached.
        assert_eq!(m.plan(5, b"c"), AliasUse::None);
    }
}
