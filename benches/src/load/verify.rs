//! Verification while measuring: per-publisher sequence tracking and a latency histogram.
//!
//! Every payload carries its publisher's index and sequence number ([`super::wire::PayloadHeader`]).
//! A subscriber keeps one [`SeqTracker`] per publisher it hears from and applies the guarantee of
//! the tested QoS ([`Guarantee`]): QoS 0 counts losses; QoS 1 requires every message and in-order
//! first delivery (duplicates allowed, counted); QoS 2 also forbids duplicates.

/// What a run promises about delivery, derived from the tested QoS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// QoS 0: losses are counted, never a failure.
    AtMostOnce,
    /// QoS 1: nothing lost, first deliveries in publish order, duplicates counted.
    AtLeastOnce,
    /// QoS 2: as QoS 1, and no duplicates.
    ExactlyOnce,
}

impl Guarantee {
    /// The guarantee of QoS `qos` (anything above 2 is treated as 2).
    pub fn of_qos(qos: u8) -> Self {
        match qos {
            0 => Guarantee::AtMostOnce,
            1 => Guarantee::AtLeastOnce,
            _ => Guarantee::ExactlyOnce,
        }
    }
}

/// Delivery state of one publisher as seen by one subscriber.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    next: u32,
    /// Deliveries received, duplicates included.
    pub received: u64,
    /// Deliveries of a sequence number already seen (or, at QoS 0, arriving late).
    pub duplicates: u64,
    /// Sequence numbers skipped over (QoS 0 losses; at QoS 1/2 an order violation).
    pub skipped: u64,
}

impl SeqTracker {
    /// Records a delivery of `seq` and returns a description of the violation, if the
    /// guarantee is broken by it.
    pub fn record(&mut self, seq: u32, g: Guarantee) -> Option<String> {
        self.received += 1;
        if seq == self.next {
            self.next += 1;
            return None;
        }
        if seq < self.next {
            self.duplicates += 1;
            return (g == Guarantee::ExactlyOnce)
                .then(|| format!("duplicate delivery of seq {seq} at QoS 2"));
        }
        let expected = self.next;
        self.skipped += u64::from(seq - expected);
        self.next = seq + 1;
        (g != Guarantee::AtMostOnce).then(|| {
            format!("expected seq {expected}, got {seq}: messages lost or delivered out of order")
        })
    }

    /// Number of distinct sequence numbers delivered in order so far (the next one expected).
    pub fn in_order(&self) -> u32 {
        self.next
    }

    /// Messages never delivered out of `total` published: skipped ones plus the missing tail.
    pub fn lost(&self, total: u32) -> u64 {
        self.skipped + u64::from(total.saturating_sub(self.next))
    }
}

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const EXACT: u64 = 2 * SUB;
const BUCKETS: usize = (EXACT + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// A log-linear histogram of nanosecond values: exact below 128, then 64 buckets per power of
/// two (under 1.6 % relative error). Fixed size, no allocation per sample.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < EXACT {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        let top = (v >> shift) - SUB;
        (EXACT + u64::from(shift - 1) * SUB + top) as usize
    }

    fn value(index: usize) -> u64 {
        let i = index as u64;
        if i < EXACT {
            return i;
        }
        let shift = (i - EXACT) / SUB + 1;
        let top = (i - EXACT) % SUB + SUB;
        // Middle of the bucket.
        (top << shift) + (1 << shift) / 2
    }

    /// Adds one sample.
    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Adds all samples of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest sample.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0.0..=1.0); `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::value(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos1_allows_duplicates_not_gaps() {
        let mut t = SeqTracker::default();
        let g = Guarantee::AtLeastOnce;
        assert!(t.record(0, g).is_none());
        assert!(t.record(1, g).is_none());
        assert!(t.record(1, g).is_none());
        assert_eq!(t.duplicates, 1);
        assert!(t.record(3, g).is_some());
        assert_eq!(t.lost(4), 1);
    }

    #[test]
    fn qos2_forbids_duplicates() {
        let mut t = SeqTracker::default();
        assert!(t.record(0, Guarantee::ExactlyOnce).is_none());
        assert!(t.record(0, Guarantee::ExactlyOnce).is_some());
    }

    #[test]
    fn qos0_counts_losses() {
        let mut t = SeqTracker::default();
        let g = Guarantee::AtMostOnce;
        assert!(t.record(0, g).is_none());
        assert!(t.record(5, g).is_none());
        assert_eq!(t.lost(10), 4 + 4);
        assert_eq!(t.in_order(), 6);
    }

    #[test]
    fn histogram_quantiles_are_close() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        for (q, want) in [
            (0.5, 50_000_000f64),
            (0.99, 99_000_000.0),
            (0.999, 99_900_000.0),
        ] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.max(), 100_000_000);
        for v in [0u64, 1, 127, 128, 129, 1 << 20, u64::MAX] {
            let i = Histogram::index(v);
            assert!(i < BUCKETS);
            let back = Histogram::value(i);
            assert!(v < EXACT && back == v || (back as f64 - v as f64).abs() / (v as f64) < 0.02);
        }
    }
}
