//! SUBSCRIBE (3.8), SUBACK (3.9), UNSUBSCRIBE (3.10) and UNSUBACK (3.11).

#[cfg(not(feature = "v5"))]
use core::marker::PhantomData;

use super::ack::check_reason;
#[cfg(feature = "v5")]
use super::ack::read_reason;
#[cfg(feature = "v5")]
use super::properties::{AckProperties, SubscribeProperties, UnsubscribeProperties};
use super::wire::{Reader, Writer};
use super::{
    DecodeError, EncodeError, Filters, Malformed, PacketId, PacketType, ProtocolVersion,
    ProtocolViolation, ReasonCodes, SubscriptionOptions, Subscriptions, read_packet_id,
};
use crate::topic::{SharedFilter, TopicFilter};

/// One SUBSCRIBE entry: a topic filter and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subscription<'a> {
    /// The topic filter (validated: filter syntax, and in 5.0 `$share/{group}/{filter}`).
    pub filter: &'a str,
    /// Subscription options.
    pub options: SubscriptionOptions,
}

/// Validates a topic filter; returns whether it is a 5.0 shared subscription.
///
/// 3.1.1 [MQTT-4.7.1-2] / [MQTT-4.7.1-3] / [MQTT-4.7.3-1], 5.0 [MQTT-4.7.1-1] /
/// [MQTT-4.7.1-2] / [MQTT-4.7.3-1]; 5.0 shared subscriptions [MQTT-4.8.2-1] /
/// [MQTT-4.8.2-2]. Before 5.0 `$share/...` is an ordinary filter.
pub(crate) fn check_filter(v5: bool, filter: &str) -> Option<bool> {
    if v5 {
        match SharedFilter::parse(filter) {
            Ok(Some(_)) => return Some(true),
            Ok(None) => {}
            Err(_) => return None,
        }
    }
    TopicFilter::new(filter).ok().map(|_| false)
}

/// SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// The subscriptions (at least one).
    pub filters: Subscriptions<'a>,
    /// 5.0 SUBSCRIBE properties.
    #[cfg(feature = "v5")]
    pub properties: SubscribeProperties<'a>,
}

impl<'a> Subscribe<'a> {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Subscriptions<'a>) -> Self {
        Self {
            packet_id,
            filters,
            #[cfg(feature = "v5")]
            properties: SubscribeProperties::default(),
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        #[cfg(feature = "v5")]
        let properties = if v5 {
            SubscribeProperties::decode(r)?
        } else {
            SubscribeProperties::default()
        };
        let payload = r.rest();
        let mut count = 0usize;
        while !r.is_empty() {
            // Topic Filter: UTF-8 Encoded String (3.1.1 and 5.0 [MQTT-3.8.3-1]).
            let filter = r.string()?;
            let options = SubscriptionOptions::decode(r.u8()?, v5)?;
            let shared = check_filter(v5, filter).ok_or(Malformed::InvalidTopicFilter)?;
            // 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
            if shared && options.no_local {
                return Err(ProtocolViolation::NoLocalOnSharedSubscription.into());
            }
            count += 1;
        }
        // 3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]: at least one filter.
        if count == 0 {
            return Err(Malformed::NoTopicFilter.into());
        }
        Ok(Self {
            packet_id,
            filters: Subscriptions::Encoded(payload),
            #[cfg(feature = "v5")]
            properties,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let v5 = v.is_v5();
        w.u16(self.packet_id.get())?;
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        let mut count = 0usize;
        for sub in &self.filters {
            let shared = check_filter(v5, sub.filter).ok_or(EncodeError::InvalidTopicFilter)?;
            if shared && sub.options.no_local {
                return Err(EncodeError::InvalidValue);
            }
            w.string(sub.filter)?;
            w.u8(sub.options.to_byte(v5))?;
            count += 1;
        }
        if count == 0 {
            return Err(EncodeError::EmptyList);
        }
        Ok(())
    }
}

/// SUBACK: one reason code per requested filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One reason code per subscription, in order. For 3.1.1 peers error codes are sent as
    /// return code 0x80 (Failure) ([`ReasonCode::to_v3_suback`](super::ReasonCode::to_v3_suback)).
    pub reason_codes: ReasonCodes<'a>,
    /// 5.0 SUBACK properties.
    #[cfg(feature = "v5")]
    pub properties: AckProperties<'a>,
}

impl<'a> SubAck<'a> {
    /// A SUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: ReasonCodes<'a>) -> Self {
        Self {
            packet_id,
            reason_codes,
            #[cfg(feature = "v5")]
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        #[cfg(feature = "v5")]
        let properties = if v5 {
            AckProperties::decode(r)?
        } else {
            AckProperties::default()
        };
        let payload = r.rest();
        while !r.is_empty() {
            if v5 {
                #[cfg(feature = "v5")]
                read_reason(r, PacketType::SubAck)?;
            } else {
                // 3.1.1 [MQTT-3.9.3-2]: only 0x00, 0x01, 0x02 and 0x80.
                let b = r.u8()?;
                if !matches!(b, 0 | 1 | 2 | 0x80) {
                    return Err(Malformed::InvalidReasonCode(b).into());
                }
            }
        }
        Ok(Self {
            packet_id,
            reason_codes: ReasonCodes::Encoded(payload),
            #[cfg(feature = "v5")]
            properties,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let v5 = v.is_v5();
        w.u16(self.packet_id.get())?;
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        for code in &self.reason_codes {
            if v5 {
                check_reason(code, PacketType::SubAck)?;
                w.u8(code.code())?;
            } else {
                let b = code
                    .to_v3_suback()
                    .ok_or(EncodeError::ReasonNotInVersion(code))?;
                w.u8(b)?;
            }
        }
        Ok(())
    }
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters to remove (at least one).
    pub filters: Filters<'a>,
    /// 5.0 UNSUBSCRIBE properties.
    #[cfg(feature = "v5")]
    pub properties: UnsubscribeProperties<'a>,
}

impl<'a> Unsubscribe<'a> {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Filters<'a>) -> Self {
        Self {
            packet_id,
            filters,
            #[cfg(feature = "v5")]
            properties: UnsubscribeProperties::default(),
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        #[cfg(feature = "v5")]
        let properties = if v5 {
            UnsubscribeProperties::decode(r)?
        } else {
            UnsubscribeProperties::default()
        };
        let payload = r.rest();
        let mut count = 0usize;
        while !r.is_empty() {
            // UTF-8 Encoded String (3.1.1 and 5.0 [MQTT-3.10.3-1]).
            let filter = r.string()?;
            check_filter(v5, filter).ok_or(Malformed::InvalidTopicFilter)?;
            count += 1;
        }
        // 3.1.1 and 5.0 [MQTT-3.10.3-2]: at least one filter.
        if count == 0 {
            return Err(Malformed::NoTopicFilter.into());
        }
        Ok(Self {
            packet_id,
            filters: Filters::Encoded(payload),
            #[cfg(feature = "v5")]
            properties,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let v5 = v.is_v5();
        w.u16(self.packet_id.get())?;
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        let mut count = 0usize;
        for filter in &self.filters {
            check_filter(v5, filter).ok_or(EncodeError::InvalidTopicFilter)?;
            w.string(filter)?;
            count += 1;
        }
        if count == 0 {
            return Err(EncodeError::EmptyList);
        }
        Ok(())
    }
}

/// UNSUBACK. In 3.1 / 3.1.1 it carries only the packet identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsubAck<'a> {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// 5.0: one reason code per filter, in order.
    #[cfg(feature = "v5")]
    pub reason_codes: ReasonCodes<'a>,
    /// 5.0 UNSUBACK properties.
    #[cfg(feature = "v5")]
    pub properties: AckProperties<'a>,
    /// Lifetime marker for builds without `v5`; construct with [`UnsubAck::new`].
    #[cfg(not(feature = "v5"))]
    #[doc(hidden)]
    pub _lifetime: PhantomData<&'a ()>,
}

impl<'a> UnsubAck<'a> {
    /// An UNSUBACK without reason codes or properties (3.1.1 form).
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            #[cfg(feature = "v5")]
            reason_codes: ReasonCodes::default(),
            #[cfg(feature = "v5")]
            properties: AckProperties::default(),
            #[cfg(not(feature = "v5"))]
            _lifetime: PhantomData,
        }
    }

    pub(crate) fn decode(v5: bool, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
        let mut this = Self::new(packet_id);
        #[cfg(feature = "v5")]
        if v5 {
            this.properties = AckProperties::decode(r)?;
            let payload = r.rest();
            while !r.is_empty() {
                read_reason(r, PacketType::UnsubAck)?;
            }
            this.reason_codes = ReasonCodes::Encoded(payload);
        }
        let _ = v5;
        Ok(this)
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u16(self.packet_id.get())?;
        #[cfg(feature = "v5")]
        if v.is_v5() {
            self.properties.write(w)?;
            for code in &self.reason_codes {
                check_reason(code, PacketType::UnsubAck)?;
                w.u8(code.code())?;
            }
        }
        let _ = v;
        Ok(())
    }
}
