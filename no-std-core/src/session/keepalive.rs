//! Keep-alive as deadlines.
//!
//! - Server side: if no packet arrives within 1.5 x Keep Alive, the connection is closed
//!   (3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]). The interval is the Server Keep Alive
//!   when the server sets one (5.0 3.2.2.3.14), else the client's; 0 disables it.
//! - Client side: a PINGREQ is due when nothing has been sent for Keep Alive (3.1.1
//!   [MQTT-3.1.2-23], 5.0 [MQTT-3.1.2-20]); a PINGRESP must then arrive within the ping
//!   timeout, or the connection is considered broken (3.1.1 3.1.2.10).

use super::time::{Duration, Instant};

/// What [`KeepAlive::on_timeout`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeepAliveAction {
    /// Nothing due.
    None,
    /// Client: send PINGREQ now.
    SendPing,
    /// Server: no packet for 1.5 x Keep Alive. Client: no PINGRESP in time.
    Expired,
}

/// The keep-alive deadlines of one connection.
///
/// Kept small (32 bytes on 32-bit targets, every device pays for it): one timestamp serves
/// both roles, the last receive for a server and the last transmit for a client (the only
/// one each role's deadline reads), and the interval is kept in seconds as received. The
/// role is not stored: every method that depends on it takes `server` (the engine passes
/// its role's constant, so firmware links only the client's branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeepAlive {
    /// Server: when the last packet arrived. Client: when the last packet was sent.
    last: Instant,
    /// Client: when the unanswered PINGREQ went out (meaningful while `ping_pending`).
    ping_sent: Instant,
    ping_timeout: Duration,
    /// Keep Alive in seconds; 0 disables it.
    interval_secs: u16,
    /// Client: a PINGREQ is awaiting its PINGRESP.
    ping_pending: bool,
}

impl KeepAlive {
    pub(crate) fn new(now: Instant, secs: u16, ping_timeout: Duration) -> Self {
        Self {
            last: now,
            ping_sent: now,
            ping_timeout,
            interval_secs: secs,
            ping_pending: false,
        }
    }

    #[cfg(feature = "v5")]
    pub(crate) fn set_interval(&mut self, secs: u16) {
        self.interval_secs = secs;
    }

    pub(crate) fn interval(&self) -> Option<Duration> {
        (self.interval_secs != 0).then(|| Duration::from_secs(u64::from(self.interval_secs)))
    }

    pub(crate) fn on_receive(&mut self, server: bool, now: Instant) {
        if server {
            self.last = now;
        }
    }

    pub(crate) fn on_pingresp(&mut self) {
        self.ping_pending = false;
    }

    pub(crate) fn on_transmit(&mut self, server: bool, now: Instant) {
        if !server {
            self.last = now;
        }
    }

    pub(crate) fn on_ping_sent(&mut self, server: bool, now: Instant) {
        self.ping_sent = now;
        self.ping_pending = true;
        self.on_transmit(server, now);
    }

    pub(crate) fn deadline(&self, server: bool) -> Option<Instant> {
        let interval = self.interval()?;
        Some(if server {
            self.last + interval.times_one_and_half()
        } else if self.ping_pending {
            self.ping_sent + self.ping_timeout
        } else {
            self.last + interval
        })
    }

    pub(crate) fn on_timeout(&self, server: bool, now: Instant) -> KeepAliveAction {
        match self.deadline(server) {
            Some(d) if now >= d => {
                if server || self.ping_pending {
                    KeepAliveAction::Expired
                } else {
                    KeepAliveAction::SendPing
                }
            }
            _ => KeepAliveAction::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_closes_at_one_and_a_half_keep_alive_mqtt_3_1_2_24_v311_mqtt_3_1_2_22_v5() {
        let t0 = Instant::from_secs(100);
        let mut k = KeepAlive::new(t0, 10, Duration::ZERO);
        assert_eq!(k.deadline(true), Some(Instant::from_secs(115)));
        assert_eq!(
            k.on_timeout(true, Instant::from_millis(114_999)),
            KeepAliveAction::None
        );
        assert_eq!(
            k.on_timeout(true, Instant::from_secs(115)),
            KeepAliveAction::Expired
        );
        k.on_receive(true, Instant::from_secs(110));
        assert_eq!(k.deadline(true), Some(Instant::from_secs(125)));
        // Sending does not keep a server connection alive.
        k.on_transmit(true, Instant::from_secs(124));
        assert_eq!(
            k.on_timeout(true, Instant::from_secs(125)),
            KeepAliveAction::Expired
        );
    }

    #[test]
    fn zero_disables() {
        let k = KeepAlive::new(Instant::ZERO, 0, Duration::ZERO);
        assert_eq!(k.deadline(true), None);
        assert_eq!(
            k.on_timeout(true, Instant::from_secs(1_000_000)),
            KeepAliveAction::None
        );
    }

    #[test]
    fn client_pings_then_detects_missing_pingresp() {
        let mut k = KeepAlive::new(Instant::ZERO, 10, Duration::from_secs(5));
        assert_eq!(k.deadline(false), Some(Instant::from_secs(10)));
        k.on_transmit(false, Instant::from_secs(4));
        assert_eq!(
            k.on_timeout(false, Instant::from_secs(10)),
            KeepAliveAction::None
        );
        assert_eq!(
            k.on_timeout(false, Instant::from_secs(14)),
            KeepAliveAction::SendPing
        );
        k.on_ping_sent(false, Instant::from_secs(14));
        assert_eq!(k.deadline(false), Some(Instant::from_secs(19)));
        assert_eq!(
            k.on_timeout(false, Instant::from_secs(19)),
            KeepAliveAction::Expired
        );
        k.on_pingresp();
        assert_eq!(k.deadline(false), Some(Instant::from_secs(24)));
    }
}
