//! Outgoing QoS 1 / QoS 2 flows: one [`OutFlight`] per packet identifier in use, kept in
//! send order in the session's in-flight table.
//!
//! ```text
//! QoS 1:  AwaitPubAck  --PUBACK-->  done
//! QoS 2:  AwaitPubRec  --PUBREC (< 0x80)-->  AwaitPubComp  --PUBCOMP-->  done
//!                      --PUBREC (>= 0x80)--> done (no PUBREL, 5.0 4.3.3)
//! ```
//!
//! Nothing is re-sent on a timer. When a session resumes, every entry is marked `resend`:
//! PUBLISH again with DUP set, PUBREL again, with the original identifiers and in the
//! original order (3.1.1 [MQTT-4.4.0-1], [MQTT-4.6.0-1]; 5.0 [MQTT-4.4.0-1]).

use super::message::Message;
use crate::codec::{EncodeError, PacketId, QosPid};

/// The state of one outgoing QoS 1/2 message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
// Named after what each state awaits, like rustls's `Expect*` states.
#[allow(clippy::enum_variant_names)]
pub(crate) enum OutState<B> {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck(Message<B>),
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    #[cfg(feature = "qos2")]
    AwaitPubRec(Message<B>),
    /// PUBREL sent, waiting for PUBCOMP; the message itself is no longer needed.
    #[cfg(feature = "qos2")]
    AwaitPubComp,
    /// QoS 1 PUBLISH sent from the application's [`Outbox`] (the engine keeps no copy),
    /// waiting for PUBACK.
    OutboxPubAck,
    /// QoS 2 PUBLISH sent from the application's [`Outbox`], waiting for PUBREC.
    #[cfg(feature = "qos2")]
    OutboxPubRec,
}

/// Where an application that keeps its outgoing PUBLISH packets itself (a client with a
/// caller-supplied outbox buffer) has them. The engine tracks their flows like those of
/// the messages it stores (started with
/// [`Connection::start_outbox_publish`](super::Connection::start_outbox_publish)) and asks
/// the outbox for the packet when a resumed session must re-send it.
pub trait Outbox {
    /// Writes into `out` the PUBLISH of the in-flight message `qos_pid` (the identifier and
    /// QoS it was first sent with) with DUP set, and returns its length. `Ok(None)` when it
    /// cannot be sent: unknown, or larger than `max` (the peer's Maximum Packet Size); the
    /// engine then ends its flow, reported as `Published` with 0x95 Packet too large.
    /// [`EncodeError::InsufficientSize`]: `out` is too short (nothing changed).
    fn resend(
        &mut self,
        qos_pid: QosPid,
        out: &mut [u8],
        max: usize,
    ) -> Result<Option<usize>, EncodeError>;
}

/// The [`Outbox`] of an application that gives the engine all its messages: it has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOutbox;

impl Outbox for NoOutbox {
    fn resend(&mut self, _: QosPid, _: &mut [u8], _: usize) -> Result<Option<usize>, EncodeError> {
        Ok(None)
    }
}

/// One entry of the outgoing in-flight table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct OutFlight<B> {
    pub(crate) pid: PacketId,
    pub(crate) state: OutState<B>,
    /// Must be (re-)transmitted on the current connection.
    pub(crate) resend: bool,
}

impl<B> OutFlight<B> {
    /// The packet identifier.
    pub fn packet_id(&self) -> PacketId {
        self.pid
    }

    /// The message, while its PUBLISH may still have to be re-sent.
    pub fn message(&self) -> Option<&Message<B>> {
        match &self.state {
            OutState::AwaitPubAck(m) => Some(m),
            #[cfg(feature = "qos2")]
            OutState::AwaitPubRec(m) => Some(m),
            _ => None,
        }
    }

    /// `true` once PUBREL has been sent (QoS 2, second half).
    pub fn is_released(&self) -> bool {
        #[cfg(feature = "qos2")]
        if matches!(self.state, OutState::AwaitPubComp) {
            return true;
        }
        false
    }
}
