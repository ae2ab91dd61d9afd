//! Packet identifier allocation without a bitmap.
//!
//! Identifiers in use are exactly those of the in-flight table (plus a few reserved for
//! SUBSCRIBE / UNSUBSCRIBE), so the allocator keeps only a cursor and asks a predicate
//! whether a candidate is taken. It walks forward from the last identifier it gave out, so
//! a released identifier is not reused at once (which makes late duplicates from the peer
//! easier to tell apart), and it skips identifiers in use (3.1.1 [MQTT-2.3.1-2], 5.0
//! [MQTT-2.2.1-3]: a new packet must use an identifier that is not in use).

use crate::codec::PacketId;

/// Hands out packet identifiers 1..=65535 in a cycle, skipping those in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PidAllocator {
    last: u16,
}

impl Default for PidAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl PidAllocator {
    /// An allocator whose first identifier is 1.
    pub const fn new() -> Self {
        Self { last: 0 }
    }

    /// The next identifier after the last one handed out for which `in_use` is false, or
    /// `None` if all 65,535 are in use. Costs one `in_use` call per identifier skipped.
    pub fn allocate(&mut self, mut in_use: impl FnMut(PacketId) -> bool) -> Option<PacketId> {
        let mut candidate = self.last;
        for _ in 0..u16::MAX {
            candidate = candidate.wrapping_add(1);
            let Some(id) = PacketId::new(candidate) else {
                continue;
            };
            if !in_use(id) {
                self.last = candidate;
                return Some(id);
            }
        }
        // One more round covers the identifier skipped as zero.
        let id = PacketId::new(candidate.wrapping_add(1)).filter(|&id| !in_use(id))?;
        self.last = id.get();
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn cycles_and_skips_in_use_mqtt_2_2_1_3() {
        let mut a = PidAllocator::new();
        assert_eq!(a.allocate(|_| false), Some(pid(1)));
        assert_eq!(a.allocate(|id| id == pid(2)), Some(pid(3)));
        let mut a = PidAllocator { last: u16::MAX - 1 };
        assert_eq!(a.allocate(|_| false), Some(pid(u16::MAX)));
        // Wraps past zero.
        assert_eq!(a.allocate(|_| false), Some(pid(1)));
    }

    #[test]
    fn exhausted() {
        let mut a = PidAllocator::new();
        assert_eq!(a.allocate(|_| true), None);
        // Only one free identifier, anywhere in the space.
        for free in [1u16, 2, 500, u16::MAX] {
            let mut a = PidAllocator { last: 7 };
            assert_eq!(a.allocate(|id| id.get() != free), Some(pid(free)));
        }
    }
}
