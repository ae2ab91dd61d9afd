//! Co-location: a connection whose deliveries all come from one other shard moves to that
//! shard.
//!
//! A delivery between shards costs the receiving shard a thread wake-up and an inbox
//! round (lock, batch, task switch), and the subscriber's acknowledgements are then handled
//! on a different core from the publisher's. Under load a batch shares the wake-up, but at
//! a light rate every message pays it alone, and on a 2-core machine that is most of a
//! message's latency. So each connection counts where its deliveries were routed (its own
//! shard or which other one); when at least 9 in 10 of them, and at least [`MIN_REMOTE`],
//! came from exactly one other shard, the connection moves there (`Connection::migrate`):
//! - a light flow (at most [`LIGHT_RATE`] per second) is judged after [`LIGHT_SAMPLE`]
//!   deliveries (first move only) or at the end of a window of 1-2 s, and moves whatever
//!   the shards' load: it adds little to either (at 1,000 messages per second the first
//!   move comes after 64 ms instead of 1-2 s, so nearly every message of a light flow is
//!   delivered without the cross-shard wake-up);
//! - a heavy flow is judged after [`HEAVY_SAMPLE`] deliveries and moves only if the target
//!   shard has no more connections than this one, so that co-locating publisher/subscriber
//!   pairs does not pile every connection onto one shard (a fan-out's subscribers stay
//!   spread; a fan-in's subscriber, fed by several shards, stays put).
//!
//! Two connections feeding each other from two shards (request and response) could both
//! decide to move at the same instant and swap places; windows therefore differ by session
//! (a jitter of up to one second from the session id) and double after every move, and
//! only a connection's first move can be decided early.

use tern_core::session::{Duration, Instant};

use crate::router::SessionId;

/// The shortest observation window.
const WINDOW_MS: u64 = 1000;
/// Remote deliveries a window needs before they say anything.
pub(crate) const MIN_REMOTE: u16 = 8;
/// Deliveries per second above which a flow is heavy.
pub(crate) const LIGHT_RATE: u64 = 5000;
/// Deliveries after which a heavy flow is judged.
pub(crate) const HEAVY_SAMPLE: u16 = 256;
/// Deliveries after which a light flow's first move is judged (before its window ends).
pub(crate) const LIGHT_SAMPLE: u16 = 64;

/// Where a connection's deliveries came from in the current window (16 bytes per
/// connection).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flow {
    since: Instant,
    local: u16,
    remote: u16,
    /// The shard the remote deliveries came from; `u16::MAX` before the first.
    shard: u16,
    /// Remote deliveries came from more than one shard.
    mixed: bool,
    /// Moves so far (each doubles the next window).
    moves: u8,
}

impl Flow {
    /// A window starting at `now`, after `moves` moves.
    pub(crate) fn new(now: Instant, moves: u8) -> Self {
        Self {
            since: now,
            local: 0,
            remote: 0,
            shard: u16::MAX,
            mixed: false,
            moves,
        }
    }

    /// Moves made so far.
    pub(crate) fn moves(&self) -> u8 {
        self.moves
    }

    /// Counts a delivery routed on shard `from` (`None`: the connection's own shard).
    pub(crate) fn record(&mut self, from: Option<usize>) {
        match from {
            None => self.local = self.local.saturating_add(1),
            Some(s) => {
                let s = u16::try_from(s).unwrap_or(u16::MAX - 1);
                if self.shard == u16::MAX {
                    self.shard = s;
                } else if self.shard != s {
                    self.mixed = true;
                }
                self.remote = self.remote.saturating_add(1);
            }
        }
    }

    fn window(&self, id: SessionId) -> Duration {
        let jitter = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54; // 0..1023 ms
        Duration::from_millis((WINDOW_MS + jitter) << self.moves.min(5))
    }

    /// The shard to move to, if this window says so: at the end of the window, or, before
    /// the first move, as soon as a light flow has [`LIGHT_SAMPLE`] deliveries or a heavy
    /// one (more than [`LIGHT_RATE`] per second) [`HEAVY_SAMPLE`]; a heavy flow moves only
    /// towards a shard for which `balanced` holds. A new window starts whenever a verdict
    /// is given.
    pub(crate) fn verdict(
        &mut self,
        now: Instant,
        id: SessionId,
        balanced: impl FnOnce(usize) -> bool,
    ) -> Option<usize> {
        let elapsed_ms = now.saturating_duration_since(self.since).total_millis();
        let total = u64::from(self.local) + u64::from(self.remote);
        let heavy = total * 1000 > LIGHT_RATE * elapsed_ms.max(1);
        let window_over = elapsed_ms >= self.window(id).total_millis();
        // Only a first move is decided early: after that, windows (which differ by
        // session) pace every verdict, so two flows feeding each other cannot keep
        // swapping shards.
        let sample = if heavy { HEAVY_SAMPLE } else { LIGHT_SAMPLE };
        let early = self.moves == 0 && total >= u64::from(sample);
        if !(window_over || early) {
            return None;
        }
        let one_shard =
            self.remote >= MIN_REMOTE && !self.mixed && u64::from(self.remote) * 10 >= total * 9;
        let to = usize::from(self.shard);
        *self = Self::new(now, self.moves);
        (one_shard && (!heavy || balanced(to))).then_some(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn window_of(id: SessionId, moves: u8) -> u64 {
        Flow::new(at(0), moves).window(id).total_millis()
    }

    #[test]
    fn a_light_flow_from_one_shard_moves_there() {
        // Fewer deliveries than an early verdict needs.
        let mut f = Flow::new(at(0), 0);
        for _ in 0..LIGHT_SAMPLE - 24 {
            f.record(Some(1));
        }
        f.record(None);
        assert_eq!(
            f.verdict(at(10), 7, |_| true),
            None,
            "the window is not over"
        );
        assert_eq!(f.verdict(at(2100), 7, |_| true), Some(1));
        // The next window starts empty.
        assert_eq!(f.verdict(at(4300), 7, |_| true), None);
    }

    #[test]
    fn a_light_flow_is_judged_after_its_sample_before_the_first_move_only() {
        // 64 deliveries in 100 ms: 640 per second, light.
        let mut f = Flow::new(at(0), 0);
        (0..LIGHT_SAMPLE - 1).for_each(|_| f.record(Some(1)));
        assert_eq!(f.verdict(at(100), 7, |_| false), None, "not enough yet");
        f.record(Some(1));
        assert_eq!(
            f.verdict(at(100), 7, |_| false),
            Some(1),
            "light: moves whatever the load"
        );
        // After a move, the window paces the verdict.
        let mut moved = Flow::new(at(0), 1);
        (0..LIGHT_SAMPLE).for_each(|_| moved.record(Some(1)));
        assert_eq!(moved.verdict(at(100), 7, |_| true), None);
        // A sample with more than a tenth local stays.
        let mut local = Flow::new(at(0), 0);
        (0..LIGHT_SAMPLE - 7).for_each(|_| local.record(Some(1)));
        (0..7).for_each(|_| local.record(None));
        assert_eq!(local.verdict(at(100), 7, |_| true), None);
    }

    #[test]
    fn mixed_local_heavy_or_sparse_flows_stay() {
        let end = at(2100);
        let mut mixed = Flow::new(at(0), 0);
        (0..50).for_each(|_| mixed.record(Some(1)));
        mixed.record(Some(2));
        assert_eq!(mixed.verdict(end, 7, |_| true), None, "two source shards");

        let mut local = Flow::new(at(0), 0);
        (0..50).for_each(|_| local.record(Some(1)));
        (0..10).for_each(|_| local.record(None));
        assert_eq!(local.verdict(end, 7, |_| true), None, "a sixth is local");

        let mut sparse = Flow::new(at(0), 0);
        (0..MIN_REMOTE - 1).for_each(|_| sparse.record(Some(1)));
        assert_eq!(sparse.verdict(end, 7, |_| true), None, "too few to say");
    }

    #[test]
    fn a_heavy_flow_is_judged_early_and_moves_only_towards_balance() {
        let mut f = Flow::new(at(0), 0);
        (0..HEAVY_SAMPLE - 1).for_each(|_| f.record(Some(1)));
        assert_eq!(f.verdict(at(20), 7, |_| true), None, "not enough yet");
        f.record(Some(1));
        assert_eq!(
            f.verdict(at(20), 7, |_| false),
            None,
            "the target is fuller"
        );
        (0..HEAVY_SAMPLE).for_each(|_| f.record(Some(1)));
        assert_eq!(f.verdict(at(40), 7, |s| s == 1), Some(1));
        // After a move, a heavy flow waits for its window like a light one.
        let mut moved = Flow::new(at(0), 1);
        (0..HEAVY_SAMPLE).for_each(|_| moved.record(Some(1)));
        assert_eq!(moved.verdict(at(20), 7, |_| true), None);
        // Mixed or local heavy flows stay.
        let mut m = Flow::new(at(0), 0);
        (0..HEAVY_SAMPLE).for_each(|i| m.record(Some(usize::from(i % 2))));
        assert_eq!(m.verdict(at(20), 7, |_| true), None);
    }

    #[test]
    fn windows_differ_by_session_and_double_per_move() {
        let w: Vec<u64> = (1..=8).map(|id| window_of(id, 0)).collect();
        assert!(w.iter().all(|&ms| (1000..2024).contains(&ms)), "{w:?}");
        assert!(w.windows(2).any(|p| p[0] != p[1]), "jitter: {w:?}");
        assert_eq!(window_of(3, 1), 2 * window_of(3, 0));
        assert_eq!(window_of(3, 9), 32 * window_of(3, 0), "capped");
    }
}
