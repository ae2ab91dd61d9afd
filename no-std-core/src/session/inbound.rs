//! Incoming QoS 1 / QoS 2 flows, receiver side.
//!
//! QoS 2 uses method B of the specification (3.1.1 4.3.3 Figure 4.3, 5.0 4.3.3): the
//! message is delivered on PUBLISH, and its identifier is kept until PUBREL. A PUBLISH
//! with the same identifier before that PUBREL is a duplicate: it is acknowledged again and
//! not delivered again (3.1.1 [MQTT-4.3.3-2]). After PUBCOMP the identifier starts a new
//! message. The table lives in the [`Session`](super::Session), so exactly-once survives
//! reconnects, and it is bounded by the Receive Maximum we advertise.
//!
//! Acknowledgements are decisions of the application: an incoming QoS 1/2 PUBLISH is
//! delivered with an [`AckToken`], and PUBACK / PUBREC go out only once the token is
//! accepted with a reason code. Acknowledgements leave in the order the PUBLISH packets
//! arrived (3.1.1 [MQTT-4.6.0-2], [MQTT-4.6.0-3]), so an undecided message holds back the
//! acknowledgements of later ones.

use crate::codec::{PacketId, QoS, ReasonCode};

/// Receiver state of one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum InState {
    /// QoS 1, delivered, the application has not decided yet.
    Qos1Undecided,
    /// QoS 1, PUBACK with this reason code to send.
    Qos1Ack(u8),
    /// QoS 2, delivered, the application has not decided yet.
    #[cfg(feature = "qos2")]
    Qos2Undecided,
    /// QoS 2, PUBREC with this reason code; `sent` once transmitted (then waiting for PUBREL).
    #[cfg(feature = "qos2")]
    Qos2Rec {
        /// The reason code (below 0x80: the identifier stays in use until PUBREL).
        reason: u8,
        /// PUBREC transmitted.
        sent: bool,
    },
    /// QoS 2, PUBREL received: PUBCOMP to send, then the identifier is free.
    #[cfg(feature = "qos2")]
    Qos2Comp,
}

/// One entry of the incoming table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InFlight {
    pub(crate) pid: PacketId,
    pub(crate) state: InState,
}

impl InFlight {
    /// The packet identifier.
    pub fn packet_id(&self) -> PacketId {
        self.pid
    }

    /// The QoS of the message.
    pub fn qos(&self) -> QoS {
        match self.state {
            InState::Qos1Undecided | InState::Qos1Ack(_) => QoS::AtLeastOnce,
            #[cfg(feature = "qos2")]
            _ => QoS::ExactlyOnce,
        }
    }

    /// Waiting for the application's decision.
    pub(crate) fn is_undecided(&self) -> bool {
        match self.state {
            InState::Qos1Undecided => true,
            #[cfg(feature = "qos2")]
            InState::Qos2Undecided => true,
            _ => false,
        }
    }
}

/// The application's handle on an incoming QoS 1/2 message: pass it to
/// [`Connection::accept`](super::Connection::accept) with a reason code to release the
/// PUBACK / PUBREC. It cannot be copied, so a message is acknowledged at most once.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "the PUBACK/PUBREC is only sent once the token is accepted"]
pub struct AckToken {
    pub(crate) pid: PacketId,
    pub(crate) qos: QoS,
}

impl AckToken {
    /// The packet identifier of the message.
    pub fn packet_id(&self) -> PacketId {
        self.pid
    }

    /// Its QoS (1 or 2).
    pub fn qos(&self) -> QoS {
        self.qos
    }
}

/// Reason code from its stored byte (stored as `u8` so the table needs no codec serde).
pub(crate) fn reason(b: u8) -> ReasonCode {
    ReasonCode::try_from(b).unwrap_or(ReasonCode::UnspecifiedError)
}
