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
use crate::codec::PacketId;

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
            #[cfg(feature = "qos2")]
            OutState::AwaitPubComp => None,
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
