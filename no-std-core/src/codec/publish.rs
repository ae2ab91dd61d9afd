//! PUBLISH (3.3).

#[cfg(feature = "v5")]
use super::properties::PublishProperties;
use super::wire::{Reader, Writer};
use super::{
    DecodeError, EncodeError, Malformed, ProtocolVersion, ProtocolViolation, QoS, QosPid,
    read_packet_id,
};
use crate::topic::{TopicError, TopicName};

/// PUBLISH: an application message. Topic and payload borrow from the frame (zero copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// DUP: this may be a re-delivery (must be `false` for QoS 0 [MQTT-3.3.1-2]).
    pub dup: bool,
    /// QoS and, for QoS 1 and 2, the packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name: a valid topic name (no wildcards [MQTT-3.3.2-2]); in 5.0 it may be empty
    /// when a Topic Alias property is present.
    pub topic: &'a str,
    /// Payload.
    pub payload: &'a [u8],
    /// 5.0 PUBLISH properties.
    #[cfg(feature = "v5")]
    pub properties: PublishProperties<'a>,
}

impl<'a> Publish<'a> {
    /// A PUBLISH without DUP, RETAIN or properties.
    pub fn new(topic: &'a str, qos_pid: QosPid, payload: &'a [u8]) -> Self {
        Self {
            dup: false,
            qos_pid,
            retain: false,
            topic,
            payload,
            #[cfg(feature = "v5")]
            properties: PublishProperties::default(),
        }
    }

    pub(crate) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | ((self.qos_pid.qos() as u8) << 1) | u8::from(self.retain)
    }

    #[inline]
    pub(crate) fn decode(v5: bool, flags: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        // FixedHeader::parse already rejected QoS 3 [MQTT-3.3.1-4] and DUP on QoS 0
        // [MQTT-3.3.1-2].
        let dup = flags & 0b1000 != 0;
        let retain = flags & 1 != 0;
        let qos = QoS::from_bits((flags >> 1) & 0b11)?;
        // Topic Name: UTF-8 Encoded String [MQTT-3.3.2-1]. UTF-8 is checked here; U+0000 and
        // wildcards in one pass by `TopicName::new`.
        let topic = core::str::from_utf8(r.binary()?).map_err(|_| Malformed::InvalidUtf8)?;
        // In 5.0 an empty topic is allowed with a Topic Alias, checked after the properties.
        if !(v5 && topic.is_empty()) {
            TopicName::new(topic).map_err(|e| match e {
                TopicError::NullCharacter => Malformed::NullCharacter,
                _ => Malformed::InvalidTopicName,
            })?;
        }
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            QoS::AtLeastOnce => QosPid::AtLeastOnce(read_packet_id(r)?),
            QoS::ExactlyOnce => QosPid::ExactlyOnce(read_packet_id(r)?),
        };
        #[cfg(feature = "v5")]
        let properties = if v5 {
            PublishProperties::decode(r)?
        } else {
            PublishProperties::default()
        };
        #[cfg(feature = "v5")]
        let alias = properties.topic_alias.is_some();
        #[cfg(not(feature = "v5"))]
        let alias = false;
        if v5 && topic.is_empty() && !alias {
            // 5.0: an empty topic name is a Protocol Error without a Topic Alias.
            return Err(ProtocolViolation::EmptyTopicWithoutAlias.into());
        }
        let payload = r.take(r.remaining())?;
        Ok(Self {
            dup,
            qos_pid,
            retain,
            topic,
            payload,
            #[cfg(feature = "v5")]
            properties,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let v5 = v.is_v5();
        if self.dup && self.qos_pid == QosPid::AtMostOnce {
            return Err(EncodeError::InvalidValue);
        }
        #[cfg(feature = "v5")]
        let alias = self.properties.topic_alias.is_some();
        #[cfg(not(feature = "v5"))]
        let alias = false;
        // Validated once, in the counting pass (see `Writer::is_counting`); TopicName also
        // covers the U+0000 rule, so the topic is written as plain length-prefixed bytes.
        if w.is_counting() && !(v5 && alias && self.topic.is_empty()) {
            TopicName::new(self.topic).map_err(|_| EncodeError::InvalidTopicName)?;
        }
        w.binary(self.topic.as_bytes())?;
        if let Some(id) = self.qos_pid.packet_id() {
            w.u16(id.get())?;
        }
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        w.bytes(self.payload)
    }
}
