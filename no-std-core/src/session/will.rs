//! Server-side session bookkeeping: the Will Message and Session Expiry.
//!
//! - The Will is stored at CONNECT and published on an abnormal end of the connection
//!   (including a keep-alive timeout and a protocol error), or on a DISCONNECT with reason
//!   0x04 "Disconnect with Will Message"; a normal DISCONNECT removes it (3.1.1 and 5.0
//!   [MQTT-3.1.2-10]).
//! - 5.0 Will Delay Interval: the Will goes out at the earlier of the delay and the end of
//!   the session; a new connection to the session within the delay cancels it
//!   ([MQTT-3.1.3-9]).
//! - Session Expiry (5.0 3.1.2.11.2): absent means 0 (the session ends with the
//!   connection), 0xFFFFFFFF never expires; 3.1.1 Clean Session 0 never expires, 1 ends
//!   with the connection. A DISCONNECT may change a non-zero interval but may not raise
//!   it from 0 (Protocol Error, 5.0 3.14.2.2.2).

use super::message::Message;
use super::time::{Duration, Instant, earliest};

/// Session Expiry Interval meaning "never".
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// A stored Will Message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct StoredWill<B> {
    pub(crate) message: Message<B>,
    /// 5.0 Will Delay Interval, seconds.
    pub(crate) delay: u32,
    /// 5.0 Message Expiry Interval of the Will, counted from its publication.
    pub(crate) expiry: Option<u32>,
}

/// What a server session reports once its connection has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent<B> {
    /// Publish this Will Message now (the broker routes it like a PUBLISH from the client).
    Will(Message<B>),
    /// The session expired: the broker deletes it (and its subscriptions).
    Expired,
}

/// Where a server session keeps its Will: boxed with `alloc`, so that the many sessions
/// without one do not carry its ~170 bytes inline.
#[cfg(feature = "alloc")]
type WillSlot<B> = Option<alloc::boxed::Box<StoredWill<B>>>;
#[cfg(not(feature = "alloc"))]
type WillSlot<B> = Option<StoredWill<B>>;

/// Server-only session state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServerState<B> {
    pub(crate) expiry_interval: u32,
    pub(crate) will: WillSlot<B>,
    /// When the last connection ended; `None` while connected.
    pub(crate) ended_at: Option<Instant>,
    /// When the pending Will is due.
    pub(crate) will_due: Option<Instant>,
    pub(crate) expired: bool,
}

impl<B> Default for ServerState<B> {
    fn default() -> Self {
        Self {
            expiry_interval: 0,
            will: None,
            ended_at: None,
            will_due: None,
            expired: false,
        }
    }
}

impl<B: super::storage::OwnedBytes> ServerState<B> {
    /// The Session Expiry Interval in seconds.
    pub fn expiry_interval(&self) -> u32 {
        self.expiry_interval
    }

    /// When the session expires (`None` while connected or if it never expires).
    pub fn expires_at(&self) -> Option<Instant> {
        let ended = self.ended_at?;
        (self.expiry_interval != NEVER_EXPIRES)
            .then(|| ended + Duration::from_secs(u64::from(self.expiry_interval)))
    }

    /// `true` once the session has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expired || self.expires_at().is_some_and(|t| now >= t)
    }

    /// A connection (re)attached: a pending Will is cancelled ([MQTT-3.1.3-9]).
    pub(crate) fn on_connect(&mut self, expiry_interval: u32, will: Option<StoredWill<B>>) {
        self.expiry_interval = expiry_interval;
        #[allow(clippy::useless_conversion)] // identity without `alloc`
        {
            self.will = will.map(Into::into);
        }
        self.ended_at = None;
        self.will_due = None;
        self.expired = false;
    }

    /// The connection ended at `now`; `publish_will` for an abnormal end or reason 0x04.
    pub(crate) fn on_connection_end(&mut self, now: Instant, publish_will: bool) {
        if self.ended_at.is_some() {
            return;
        }
        self.ended_at = Some(now);
        if !publish_will {
            // Normal DISCONNECT: the Will is removed ([MQTT-3.1.2-10]).
            self.will = None;
        }
        self.will_due = self.will.as_ref().map(|w| {
            let delayed = now + Duration::from_secs(u64::from(w.delay));
            earliest(Some(delayed), self.expires_at()).unwrap_or(delayed)
        });
    }

    /// The next instant [`Self::poll_event`] has something to report.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            return None;
        }
        earliest(self.will_due, self.expires_at())
    }

    pub(crate) fn poll_event(&mut self, now: Instant) -> Option<SessionEvent<B>> {
        if self.will_due.is_some_and(|t| now >= t) {
            self.will_due = None;
            if let Some(w) = self.will.take() {
                let mut message = w.message;
                if let Some(secs) = w.expiry {
                    message = message.with_expiry(now, Duration::from_secs(u64::from(secs)));
                }
                return Some(SessionEvent::Will(message));
            }
        }
        if !self.expired && self.expires_at().is_some_and(|t| now >= t) {
            self.expired = true;
            return Some(SessionEvent::Expired);
        }
        None
    }
}
