//! Time as plain values: the engine never reads a clock (modelled on smoltcp `src/time.rs`).
//!
//! An [`Instant`] is milliseconds since an arbitrary epoch chosen by the caller (boot time on a
//! device, process start on the broker); a [`Duration`] is a span in milliseconds. All
//! arithmetic saturates, so no input makes it panic or wrap.

use core::fmt;
use core::ops::{Add, Sub};

/// Milliseconds as two 32-bit halves, most significant first.
///
/// The same values and order as a `u64`, but aligned to 4 bytes: on a 32-bit MCU (where a
/// `u64` is two registers anyway) a `u64` field would align the client's whole state to 8
/// bytes, padding it and making the compiler zero it with `__aeabi_memclr8`, one more
/// 164-byte routine in flash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Millis([u32; 2]);

impl Millis {
    const fn new(v: u64) -> Self {
        Self([(v >> 32) as u32, v as u32])
    }

    const fn get(self) -> u64 {
        ((self.0[0] as u64) << 32) | self.0[1] as u64
    }
}

impl PartialOrd for Millis {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Millis {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.get().cmp(&other.get())
    }
}

/// The serialized form of [`Instant`] and [`Duration`]: `{ millis: u64 }`.
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct MillisRepr {
    millis: u64,
}

/// A point in time, in milliseconds since a caller-chosen epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "MillisRepr", into = "MillisRepr")
)]
pub struct Instant {
    millis: Millis,
}

/// A span of time in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "MillisRepr", into = "MillisRepr")
)]
pub struct Duration {
    millis: Millis,
}

macro_rules! millis_impls {
    ($t:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("millis", &self.millis.get())
                    .finish()
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $t {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(f, "{}ms", self.millis.get())
            }
        }

        #[cfg(feature = "serde")]
        impl From<MillisRepr> for $t {
            fn from(r: MillisRepr) -> Self {
                Self::from_millis(r.millis)
            }
        }

        #[cfg(feature = "serde")]
        impl From<$t> for MillisRepr {
            fn from(t: $t) -> Self {
                Self {
                    millis: t.total_millis(),
                }
            }
        }
    };
}

millis_impls!(Instant);
millis_impls!(Duration);

impl Instant {
    /// The epoch.
    pub const ZERO: Self = Self {
        millis: Millis::new(0),
    };

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Self {
            millis: Millis::new(millis),
        }
    }

    /// An instant `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: Millis::new(secs.saturating_mul(1000)),
        }
    }

    /// Milliseconds since the epoch.
    pub const fn total_millis(self) -> u64 {
        self.millis.get()
    }

    /// `self - earlier`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration {
            millis: Millis::new(self.total_millis().saturating_sub(earlier.total_millis())),
        }
    }
}

impl Duration {
    /// No time.
    pub const ZERO: Self = Self {
        millis: Millis::new(0),
    };

    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Self {
            millis: Millis::new(millis),
        }
    }

    /// A span of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: Millis::new(secs.saturating_mul(1000)),
        }
    }

    /// The span in milliseconds.
    pub const fn total_millis(self) -> u64 {
        self.millis.get()
    }

    /// The span in whole seconds, rounded up (a remaining lifetime of 1 ms is 1 s, never 0).
    ///
    /// Computed as a long division over 16-bit limbs with 32-bit divisions: a 64-bit
    /// division is a ~860-byte library routine on 32-bit MCUs, this is a few instructions.
    pub const fn secs_ceil(self) -> u64 {
        let m = self.total_millis();
        let mut q: u64 = 0;
        let mut r: u32 = 0;
        let mut shift = 64;
        while shift > 0 {
            shift -= 16;
            // r < 1000, so the partial dividend fits 26 bits.
            let d = (r << 16) | ((m >> shift) as u32 & 0xFFFF);
            q = (q << 16) | (d / 1000) as u64;
            r = d % 1000;
        }
        if r > 0 { q + 1 } else { q }
    }

    /// `self * 3 / 2` (the 1.5 x Keep Alive grace of the server).
    pub const fn times_one_and_half(self) -> Self {
        Self {
            millis: Millis::new(self.total_millis().saturating_add(self.total_millis() / 2)),
        }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            millis: Millis::new(self.total_millis().saturating_add(rhs.total_millis())),
        }
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration {
            millis: Millis::new(self.total_millis().saturating_add(rhs.total_millis())),
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.total_millis();
        write!(f, "{}.{:03}s", m / 1000, m % 1000)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.total_millis();
        write!(f, "{}.{:03}s", m / 1000, m % 1000)
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(u64::MAX - 1);
        assert_eq!((t + Duration::from_secs(5)).total_millis(), u64::MAX);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(Duration::from_secs(u64::MAX).total_millis(), u64::MAX);
    }

    #[test]
    fn ceil_and_grace() {
        assert_eq!(Duration::from_millis(1).secs_ceil(), 1);
        assert_eq!(Duration::from_millis(1000).secs_ceil(), 1);
        assert_eq!(Duration::from_millis(1001).secs_ceil(), 2);
        assert_eq!(Duration::from_millis(0).secs_ceil(), 0);
        for m in [999, 65_535_999, 65_536_001, 1 << 40, u64::MAX - 1, u64::MAX] {
            assert_eq!(
                Duration::from_millis(m).secs_ceil(),
                m.div_ceil(1000),
                "{m}"
            );
        }
        assert_eq!(
            Duration::from_secs(10).times_one_and_half(),
            Duration::from_secs(15)
        );
        assert_eq!(
            earliest(Some(Instant::from_secs(3)), Some(Instant::from_secs(2))),
            Some(Instant::from_secs(2))
        );
        assert_eq!(
            earliest(None, Some(Instant::from_secs(2))),
            Some(Instant::from_secs(2))
        );
    }
}
