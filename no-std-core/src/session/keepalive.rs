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

/// Keep-alive timers of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeepAlive {
    server: bool,
    interval: Option<Duration>,
    ping_timeout: Duration,
    last_rx: Instant,
    last_tx: Instant,
    ping_sent: Option<Instant>,
}

impl KeepAlive {
    /// `secs` = the negotiated Keep Alive (0 disables).
    pub(crate) fn new(server: bool, now: Instant, secs: u16, ping_timeout: Duration) -> Self {
        Self {
            server,
            interval: (secs != 0).then(|| Duration::from_secs(u64::from(secs))),
            ping_timeout,
            last_rx: now,
            last_tx: now,
            ping_sent: None,
        }
    }

    /// Changes the interval (client: the CONNACK carried a Server Keep Alive).
    #[cfg(feature = "v5")]
    pub(crate) fn set_interval(&mut self, secs: u16) {
        self.interval = (secs != 0).then(|| Duration::from_secs(u64::from(secs)));
    }

    /// The negotiated interval.
    pub(crate) fn interval(&self) -> Option<Duration> {
        self.interval
    }

    pub(crate) fn on_receive(&mut self, now: Instant) {
        self.last_rx = now;
    }

    pub(crate) fn on_pingresp(&mut self) {
        self.ping_sent = None;
    }

    pub(crate) fn on_transmit(&mut self, now: Instant) {
        self.last_tx = now;
    }

    pub(crate) fn on_ping_sent(&mut self, now: Instant) {
        self.ping_sent = Some(now);
        self.last_tx = now;
    }

    /// The next instant [`Self::on_timeout`] has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let interval = self.interval?;
        Some(if self.server {
            self.last_rx + interval.times_one_and_half()
        } else if let Some(sent) = self.ping_sent {
            sent + self.ping_timeout
        } else {
            self.last_tx + interval
        })
    }

    pub(crate) fn on_timeout(&self, now: Instant) -> KeepAliveAction {
        match self.deadline() {
            Some(d) if now >= d => {
                if self.server || self.ping_sent.is_some() {
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
        let mut k = KeepAlive::new(true, t0, 10, Duration::ZERO);
        assert_eq!(k.deadline(), Some(Instant::from_secs(115)));
        assert_eq!(
            k.on_timeout(Instant::from_millis(114_999)),
            KeepAliveAction::None
        );
        assert_eq!(
            k.on_timeout(Instant::from_secs(115)),
            KeepAliveAction::Expired
        );
        k.on_receive(Instant::from_secs(110));
        assert_eq!(k.deadline(), Some(Instant::from_secs(125)));
        // Sending does not keep a server connection alive.
        k.on_transmit(Instant::from_secs(124));
        assert_eq!(
            k.on_timeout(Instant::from_secs(125)),
            KeepAliveAction::Expired
        );
    }

    #[test]
    fn zero_disables() {
        let k = KeepAlive::new(true, Instant::ZERO, 0, Duration::ZERO);
        assert_eq!(k.deadline(), None);
        assert_eq!(
            k.on_timeout(Instant::from_secs(1_000_000)),
            KeepAliveAction::None
        );
    }

    #[test]
    fn client_pings_then_detects_missing_pingresp() {
        let mut k = KeepAlive::new(false, Instant::ZERO, 10, Duration::from_secs(5));
        assert_eq!(k.deadline(), Some(Instant::from_secs(10)));
        k.on_transmit(Instant::from_secs(4));
        assert_eq!(k.on_timeout(Instant::from_secs(10)), KeepAliveAction::None);
        assert_eq!(
            k.on_timeout(Instant::from_secs(14)),
            KeepAliveAction::SendPing
        );
        k.on_ping_sent(Instant::from_secs(14));
        assert_eq!(k.deadline(), Some(Instant::from_secs(19)));
        assert_eq!(
            k.on_timeout(Instant::from_secs(19)),
            KeepAliveAction::Expired
        );
        k.on_pingresp();
        assert_eq!(k.deadline(), Some(Instant::from_secs(24)));
    }
}
