//! Co-location: a connection whose deliveries all come from one other shard, at a light
//! rate, moves to that shard.
//!
//! A delivery between shards costs a thread wake-up on the receiving shard; under load it
//! is shared by a whole batch, but at a light rate every message pays it alone, and on a
//! 2-core machine that wake-up is most of a message's latency. So each connection counts
//! where its deliveries were routed (its own shard or which other one) over a window; at
//! the end of a window in which at least [`MIN_REMOTE`] deliveries came from exactly one
//! other shard, at least 9 in 10 of all of them, and no more than [`LIGHT_RATE`] per
//! second, the connection moves there (`Connection::migrate`). Heavy flows stay where
//! they are: they are batched already, and moving them would trade the wake-up for an
//! unbalanced shard.
//!
//! Two connections feeding each other from two shards (request and response) could both
//! decide to move at the same instant and swap places; windows therefore differ by session
//! (a jitter of up to one second from the session id) and double after every move.

use tern_core::session::{Duration, Instant};

use crate::router::SessionId;

/// The shortest observation window.
const WINDOW_MS: u64 = 1000;
/// Remote deliveries a window needs before they say anything.
pub(crate) const MIN_REMOTE: u16 = 8;
/// Deliveries per second above which a flow is not light (and stays put).
pub(crate) const LIGHT_RATE: u64 = 5000;

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

    /// Once the window of session `id` is over: the shard to move to, if the window says
    /// so; a new window starts either way. `None` while the window runs.
    pub(crate) fn verdict(&mut self, now: Instant, id: SessionId) -> Option<usize> {
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < self.window(id) {
            return None;
        }
        let total = u64::from(self.local) + u64::from(self.remote);
        let light = total * 1000 <= LIGHT_RATE * elapsed.total_millis().max(1);
        let move_to = (self.remote >= MIN_REMOTE
            && !self.mixed
            && u64::from(self.remote) * 10 >= total * 9
            && light)
            .then_some(usize::from(self.shard));
        *self = Self::new(now, self.moves);
        move_to
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
        let mut f = Flow::new(at(0), 0);
        for _ in 0..100 {
            f.record(Some(1));
        }
        f.record(None);
        assert_eq!(f.verdict(at(10), 7), None, "the window is not over");
        assert_eq!(f.verdict(at(2100), 7), Some(1));
        // The next window starts empty.
        assert_eq!(f.verdict(at(4300), 7), None);
    }

    #[test]
    fn mixed_local_heavy_or_sparse_flows_stay() {
        let end = at(2100);
        let mut mixed = Flow::new(at(0), 0);
        (0..50).for_each(|_| mixed.record(Some(1)));
        mixed.record(Some(2));
        assert_eq!(mixed.verdict(end, 7), None, "two source shards");

        let mut local = Flow::new(at(0), 0);
        (0..50).for_each(|_| local.record(Some(1)));
        (0..10).for_each(|_| local.record(None));
        assert_eq!(local.verdict(end, 7), None, "a sixth is local");

        let mut sparse = Flow::new(at(0), 0);
        (0..MIN_REMOTE - 1).for_each(|_| sparse.record(Some(1)));
        assert_eq!(sparse.verdict(end, 7), None, "too few to say");

        let mut heavy = Flow::new(at(0), 0);
        (0..u16::MAX).for_each(|_| heavy.record(Some(1)));
        assert_eq!(heavy.verdict(at(3000), 7), None, "more than LIGHT_RATE/s");
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
