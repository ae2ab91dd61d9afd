//! CONNACK (3.2), PUBACK / PUBREC / PUBREL / PUBCOMP (3.4 - 3.7), DISCONNECT (3.14) and
//! AUTH (3.15, 5.0 only).

#[cfg(not(feature = "v5"))]
use core::marker::PhantomData;

#[cfg(feature = "v5")]
use super::properties::{AckProperties, AuthProperties, ConnAckProperties, DisconnectProperties};
use super::wire::{Reader, Writer};
use super::{
    DecodeError, EncodeError, Malformed, PacketId, PacketType, ProtocolVersion, ProtocolViolation,
    ReasonCode, read_packet_id,
};

/// Reads a 5.0 reason code and checks it is allowed in `packet`.
#[cfg(feature = "v5")]
pub(crate) fn read_reason(
    r: &mut Reader<'_>,
    packet: PacketType,
) -> Result<ReasonCode, DecodeError> {
    let b = r.u8()?;
    match ReasonCode::try_from(b) {
        Ok(code) if code.allowed_in(packet) => Ok(code),
        _ => Err(Malformed::InvalidReasonCode(b).into()),
    }
}

/// Checks a 5.0 reason code may be sent in `packet`.
pub(crate) fn check_reason(code: ReasonCode, packet: PacketType) -> Result<(), EncodeError> {
    if code.allowed_in(packet) {
        Ok(())
    } else {
        Err(EncodeError::ReasonNotInVersion(code))
    }
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck<'a> {
    /// Session Present.
    pub session_present: bool,
    /// 5.0 Connect Reason Code; for 3.1 / 3.1.1 the return code 0..=5 mapped with
    /// [`ReasonCode::from_v3_connack`] / [`ReasonCode::to_v3_connack`]. Encoding a code that
    /// has no 3.1.1 return code for a 3.1.1 peer fails with
    /// [`EncodeError::ReasonNotInVersion`].
    pub reason: ReasonCode,
    /// 5.0 CONNACK properties.
    #[cfg(feature = "v5")]
    pub properties: ConnAckProperties<'a>,
    /// Lifetime marker for builds without `v5`; construct with [`ConnAck::new`].
    #[cfg(not(feature = "v5"))]
    #[doc(hidden)]
    pub _lifetime: PhantomData<&'a ()>,
}

impl<'a> ConnAck<'a> {
    /// A CONNACK without properties.
    pub fn new(session_present: bool, reason: ReasonCode) -> Self {
        Self {
            session_present,
            reason,
            #[cfg(feature = "v5")]
            properties: ConnAckProperties::default(),
            #[cfg(not(feature = "v5"))]
            _lifetime: PhantomData,
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let flags = r.u8()?;
        // Bits 7-1 reserved: 3.1.1 section 3.2.2.1, 5.0 [MQTT-3.2.2-1].
        if flags & 0b1111_1110 != 0 {
            return Err(Malformed::ConnAckReservedFlags(flags).into());
        }
        let session_present = flags & 1 != 0;
        let reason = if v5 {
            #[cfg(feature = "v5")]
            {
                read_reason(r, PacketType::ConnAck)?
            }
            #[cfg(not(feature = "v5"))]
            {
                return Err(Malformed::UnexpectedEnd.into());
            }
        } else {
            // 3.1.1: return codes 0..=5; 6..=255 are reserved (Table 3.1).
            let code = r.u8()?;
            ReasonCode::from_v3_connack(code).ok_or(Malformed::InvalidReasonCode(code))?
        };
        // 3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]: no Session Present with a failure.
        if session_present && reason.is_error() {
            return Err(ProtocolViolation::SessionPresentOnError.into());
        }
        #[cfg(feature = "v5")]
        let properties = if v5 {
            ConnAckProperties::decode(r)?
        } else {
            ConnAckProperties::default()
        };
        Ok(Self {
            session_present,
            reason,
            #[cfg(feature = "v5")]
            properties,
            #[cfg(not(feature = "v5"))]
            _lifetime: PhantomData,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.session_present && self.reason.is_error() {
            return Err(EncodeError::InvalidValue);
        }
        w.u8(u8::from(self.session_present))?;
        if v.is_v5() {
            check_reason(self.reason, PacketType::ConnAck)?;
            w.u8(self.reason.code())?;
            #[cfg(feature = "v5")]
            self.properties.write(w)?;
            Ok(())
        } else {
            let code = self
                .reason
                .to_v3_connack()
                .ok_or(EncodeError::ReasonNotInVersion(self.reason))?;
            w.u8(code)
        }
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP: a packet identifier and, in 5.0, a reason code and
/// properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubResponse<'a> {
    /// The packet identifier of the PUBLISH (or PUBREL) being acknowledged.
    pub packet_id: PacketId,
    /// 5.0 reason code ([`ReasonCode::Success`] when the peer omitted it).
    #[cfg(feature = "v5")]
    pub reason: ReasonCode,
    /// 5.0 properties.
    #[cfg(feature = "v5")]
    pub properties: AckProperties<'a>,
    /// Lifetime marker for builds without `v5`; construct with [`PubResponse::new`].
    #[cfg(not(feature = "v5"))]
    #[doc(hidden)]
    pub _lifetime: PhantomData<&'a ()>,
}

/// PUBACK (QoS 1 acknowledgement).
pub type PubAck<'a> = PubResponse<'a>;
/// PUBREC (QoS 2 delivery part 1).
pub type PubRec<'a> = PubResponse<'a>;
/// PUBREL (QoS 2 delivery part 2).
pub type PubRel<'a> = PubResponse<'a>;
/// PUBCOMP (QoS 2 delivery part 3).
pub type PubComp<'a> = PubResponse<'a>;

impl<'a> PubResponse<'a> {
    /// A successful acknowledgement without properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            #[cfg(feature = "v5")]
            reason: ReasonCode::Success,
            #[cfg(feature = "v5")]
            properties: AckProperties::default(),
            #[cfg(not(feature = "v5"))]
            _lifetime: PhantomData,
        }
    }

    pub(crate) fn decode(
        v5: bool,
        packet: PacketType,
        r: &mut Reader<'a>,
    ) -> Result<Self, DecodeError> {
        let _ = (v5, packet);
        let packet_id = read_packet_id(r)?;
        #[cfg(feature = "v5")]
        {
            // 5.0: reason code and properties may be omitted (3.4.2.1).
            let mut reason = ReasonCode::Success;
            let mut properties = AckProperties::default();
            if v5 && !r.is_empty() {
                reason = read_reason(r, packet)?;
                if !r.is_empty() {
                    properties = AckProperties::decode(r)?;
                }
            }
            Ok(Self {
                packet_id,
                reason,
                properties,
            })
        }
        #[cfg(not(feature = "v5"))]
        Ok(Self::new(packet_id))
    }

    pub(crate) fn write(
        &self,
        v: ProtocolVersion,
        packet: PacketType,
        w: &mut Writer<'_>,
    ) -> Result<(), EncodeError> {
        let _ = (v, packet);
        w.u16(self.packet_id.get())?;
        #[cfg(feature = "v5")]
        if v.is_v5() && (self.reason != ReasonCode::Success || !self.properties.is_empty()) {
            check_reason(self.reason, packet)?;
            w.u8(self.reason.code())?;
            if !self.properties.is_empty() {
                self.properties.write(w)?;
            }
        }
        Ok(())
    }
}

/// DISCONNECT. In 3.1 / 3.1.1 it has no fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// 5.0 Disconnect Reason Code ([`ReasonCode::NORMAL_DISCONNECTION`] when omitted).
    #[cfg(feature = "v5")]
    pub reason: ReasonCode,
    /// 5.0 properties.
    #[cfg(feature = "v5")]
    pub properties: DisconnectProperties<'a>,
    /// Lifetime marker for builds without `v5`; construct with [`Disconnect::new`].
    #[cfg(not(feature = "v5"))]
    #[doc(hidden)]
    pub _lifetime: PhantomData<&'a ()>,
}

impl Default for Disconnect<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Disconnect<'a> {
    /// A normal disconnection without properties.
    pub fn new() -> Self {
        Self {
            #[cfg(feature = "v5")]
            reason: ReasonCode::NORMAL_DISCONNECTION,
            #[cfg(feature = "v5")]
            properties: DisconnectProperties::default(),
            #[cfg(not(feature = "v5"))]
            _lifetime: PhantomData,
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let _ = &r;
        #[cfg(feature = "v5")]
        {
            let mut this = Self::new();
            // 5.0: reason code and properties may be omitted (3.14.2.1).
            if v5 && !r.is_empty() {
                this.reason = read_reason(r, PacketType::Disconnect)?;
                if !r.is_empty() {
                    this.properties = DisconnectProperties::decode(r)?;
                }
            }
            Ok(this)
        }
        #[cfg(not(feature = "v5"))]
        {
            let _ = v5;
            Ok(Self::new())
        }
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let _ = (&v, &w);
        #[cfg(feature = "v5")]
        if v.is_v5() && (self.reason != ReasonCode::Success || !self.properties.is_empty()) {
            check_reason(self.reason, PacketType::Disconnect)?;
            w.u8(self.reason.code())?;
            // The Property Length may be omitted after the reason code (3.14.2.2), but
            // some clients (rumqttc 0.25) cannot read that form and then miss the reason
            // (0x8E Session taken over, 0x8D Keep Alive timeout): one byte buys interop.
            self.properties.write(w)?;
        }
        Ok(())
    }
}

/// AUTH (5.0 only): extended authentication exchange.
#[cfg(feature = "v5")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Authenticate Reason Code: Success, Continue authentication or Re-authenticate.
    pub reason: ReasonCode,
    /// AUTH properties.
    pub properties: AuthProperties<'a>,
}

#[cfg(feature = "v5")]
impl<'a> Auth<'a> {
    /// An AUTH without properties.
    pub fn new(reason: ReasonCode) -> Self {
        Self {
            reason,
            properties: AuthProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut this = Self::new(ReasonCode::Success);
        // Reason code and properties may be omitted when Success (3.15.2.1).
        if !r.is_empty() {
            this.reason = read_reason(r, PacketType::Auth)?;
            if !r.is_empty() {
                this.properties = AuthProperties::decode(r)?;
            }
        }
        Ok(this)
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if !v.is_v5() {
            return Err(EncodeError::PacketNotInVersion);
        }
        if self.reason != ReasonCode::Success || !self.properties.is_empty() {
            check_reason(self.reason, PacketType::Auth)?;
            w.u8(self.reason.code())?;
            self.properties.write(w)?;
        }
        Ok(())
    }
}
