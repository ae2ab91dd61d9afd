//! PUBLISH (3.3).

#[cfg(feature = "v5")]
use super::properties::PublishProperties;
use super::wire::{Reader, Writer};
use super::{
    DecodeError, EncodeError, FixedHeader, Malformed, Packet, PacketId, PacketType,
    ProtocolVersion, ProtocolViolation, QoS, QosPid, read_packet_id,
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
        let mut publish = Self::decode_fields(v5, flags, r)?;
        publish.payload = r.take(r.remaining())?;
        Ok(publish)
    }

    /// Decodes the head of a PUBLISH (fixed header, topic, packet identifier, 5.0
    /// properties: everything but the payload) from the first bytes of its frame, with the
    /// same checks as [`Packet::decode`](super::Packet::decode).
    ///
    /// For a receiver that cannot buffer the whole packet, e.g. a 3.1.1 device client that
    /// acknowledges an oversize message from its head and streams past the body. Returns the
    /// PUBLISH with an empty payload and the length of the head, or `Ok(None)` when `prefix`
    /// ends before the head does. `prefix` must start with a PUBLISH fixed header.
    pub fn decode_head(
        version: ProtocolVersion,
        prefix: &'a [u8],
    ) -> Result<Option<(Self, usize)>, DecodeError> {
        let Some((header, header_len)) = FixedHeader::parse(prefix)? else {
            return Ok(None);
        };
        if header.packet_type != PacketType::Publish {
            return Err(Malformed::InvalidPacketType(header.packet_type as u8).into());
        }
        let body_len = usize::try_from(header.remaining_length).unwrap_or(usize::MAX);
        let rest = prefix.get(header_len..).unwrap_or_default();
        let complete = rest.len() >= body_len;
        let body = rest.get(..body_len).unwrap_or(rest);
        let mut r = Reader::new(body, version.is_v5());
        match Self::decode_fields(version.is_v5(), header.flags, &mut r) {
            Ok(publish) => Ok(Some((publish, header_len + (body.len() - r.remaining())))),
            // The head runs past what is buffered: not an error yet.
            Err(DecodeError::Malformed(Malformed::UnexpectedEnd)) if !complete => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Everything before the payload; the payload is left empty.
    #[inline]
    fn decode_fields(v5: bool, flags: u8, r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        // FixedHeader::parse already rejected QoS 3 [MQTT-3.3.1-4] and DUP on QoS 0
        // [MQTT-3.3.1-2].
        let dup = flags & 0b1000 != 0;
        let retain = flags & 1 != 0;
        let qos = QoS::from_bits((flags >> 1) & 0b11)?;
        // Topic Name: UTF-8 Encoded String [MQTT-3.3.2-1]. UTF-8 is checked here; U+0000 and
        // wildcards in one pass by `TopicName::new`.
        let topic = super::wire::utf8(r.binary()?).ok_or(Malformed::InvalidUtf8)?;
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
        Ok(Self {
            dup,
            qos_pid,
            retain,
            topic,
            payload: &[],
            #[cfg(feature = "v5")]
            properties,
        })
    }

    /// The length of the header [`Publish::encode_header`] writes: the whole packet as
    /// [`Packet::encode`] would write it, minus the payload. Validates every field.
    pub fn header_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let (total, _, _) = Packet::Publish(*self).lengths(version)?;
        Ok(total.saturating_sub(self.payload.len()))
    }

    /// Writes everything of this PUBLISH except the payload into `out`: the fixed header
    /// (whose Remaining Length counts the payload), the Topic Name, the Packet Identifier and
    /// the 5.0 properties. `header ++ payload` is byte for byte what
    /// [`Packet::encode`] writes for `Packet::Publish(*self)`.
    ///
    /// This is for encode-once fan-out: serialize a message once, share the payload, and
    /// patch the per-recipient fields through the returned [`PublishHeader`]
    /// ([`PublishHeader::set_packet_id`], [`PublishHeader::set_dup`],
    /// [`PublishHeader::set_retain`]). Changing the QoS (and so the presence of the Packet
    /// Identifier), the topic or a property changes the length: encode again for those.
    ///
    /// Validation is the same as [`Packet::encode`], done before the first byte is written;
    /// a short `out` gives [`EncodeError::InsufficientSize`] with the header length.
    ///
    /// ```
    /// # #[cfg(feature = "v3")] {
    /// use tern_core::codec::{Packet, ProtocolVersion, Publish, QosPid};
    /// use core::num::NonZeroU16;
    ///
    /// let pid = |n| NonZeroU16::new(n).unwrap();
    /// let publish = Publish::new("a/b", QosPid::AtLeastOnce(pid(1)), b"hi");
    /// let v = ProtocolVersion::V3_1_1;
    /// let mut header = [0u8; 16];
    /// let h = publish.encode_header(v, &mut header).unwrap();
    /// assert_eq!(&header[..h.len], &[0x32, 9, 0, 3, b'a', b'/', b'b', 0, 1]);
    ///
    /// // Per subscriber: patch the packet identifier and RETAIN, then send header + payload.
    /// h.set_packet_id(&mut header, pid(7)).unwrap();
    /// h.set_retain(&mut header, true).unwrap();
    /// let mut expected = publish;
    /// expected.qos_pid = QosPid::AtLeastOnce(pid(7));
    /// expected.retain = true;
    /// let mut full = [0u8; 16];
    /// let n = Packet::Publish(expected).encode(v, &mut full).unwrap();
    /// assert_eq!([&header[..h.len], publish.payload].concat(), &full[..n]);
    /// # }
    /// ```
    pub fn encode_header(
        &self,
        version: ProtocolVersion,
        out: &mut [u8],
    ) -> Result<PublishHeader, EncodeError> {
        let (total, body, blocks) = Packet::Publish(*self).lengths(version)?;
        let len = total.saturating_sub(self.payload.len());
        let out = out
            .get_mut(..len)
            .ok_or(EncodeError::InsufficientSize { required: len })?;
        let mut w = Writer::with_blocks(out, blocks);
        w.u8(((PacketType::Publish as u8) << 4) | self.flags())?;
        w.vbi(body)?;
        let packet_id_offset = self.write_head(version, &mut w)?;
        debug_assert_eq!(w.position(), len);
        Ok(PublishHeader {
            len,
            packet_id_offset,
            flags_offset: 0,
        })
    }

    pub(crate) fn write(&self, v: ProtocolVersion, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        self.write_head(v, w)?;
        w.bytes(self.payload)
    }

    /// Writes the variable header (everything but the payload); returns the writer position
    /// of the Packet Identifier, if there is one.
    fn write_head(
        &self,
        v: ProtocolVersion,
        w: &mut Writer<'_>,
    ) -> Result<Option<usize>, EncodeError> {
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
        let mut packet_id_offset = None;
        if let Some(id) = self.qos_pid.packet_id() {
            packet_id_offset = Some(w.position());
            w.u16(id.get())?;
        }
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        Ok(packet_id_offset)
    }
}

/// Where the per-recipient fields sit in a PUBLISH header written by
/// [`Publish::encode_header`], so they can be patched without encoding again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublishHeader {
    /// Length of the header in bytes; the payload follows it.
    pub len: usize,
    /// Offset of the two-byte big-endian Packet Identifier; `None` for QoS 0.
    pub packet_id_offset: Option<usize>,
    /// Offset of the first byte (packet type and the DUP, QoS, RETAIN flags): always 0.
    pub flags_offset: usize,
}

impl PublishHeader {
    const DUP: u8 = 0b1000;
    const QOS: u8 = 0b0110;
    const RETAIN: u8 = 0b0001;

    /// Writes `id` as the Packet Identifier of `header` (the bytes this header describes).
    ///
    /// Fails with [`EncodeError::InvalidValue`] for a QoS 0 header, which has no Packet
    /// Identifier, or with [`EncodeError::InsufficientSize`] if `header` is shorter than
    /// [`PublishHeader::len`].
    pub fn set_packet_id(&self, header: &mut [u8], id: PacketId) -> Result<(), EncodeError> {
        let at = self.packet_id_offset.ok_or(EncodeError::InvalidValue)?;
        let dst = header
            .get_mut(..self.len)
            .and_then(|h| h.get_mut(at..at.saturating_add(2)))
            .ok_or(EncodeError::InsufficientSize { required: self.len })?;
        dst.copy_from_slice(&id.get().to_be_bytes());
        Ok(())
    }

    /// Sets or clears the DUP flag of `header`.
    ///
    /// Fails with [`EncodeError::InvalidValue`] when setting DUP on a QoS 0 header
    /// (3.1.1 [MQTT-3.3.1-2], 5.0 [MQTT-3.3.1-2]), or with
    /// [`EncodeError::InsufficientSize`] if `header` is shorter than [`PublishHeader::len`].
    pub fn set_dup(&self, header: &mut [u8], dup: bool) -> Result<(), EncodeError> {
        let first = self.first_byte(header)?;
        if dup && *first & Self::QOS == 0 {
            return Err(EncodeError::InvalidValue);
        }
        Self::set_bit(first, Self::DUP, dup);
        Ok(())
    }

    /// Sets or clears the RETAIN flag of `header`.
    ///
    /// Fails with [`EncodeError::InsufficientSize`] if `header` is shorter than
    /// [`PublishHeader::len`].
    pub fn set_retain(&self, header: &mut [u8], retain: bool) -> Result<(), EncodeError> {
        let first = self.first_byte(header)?;
        Self::set_bit(first, Self::RETAIN, retain);
        Ok(())
    }

    fn first_byte<'h>(&self, header: &'h mut [u8]) -> Result<&'h mut u8, EncodeError> {
        header
            .get_mut(..self.len)
            .and_then(|h| h.get_mut(self.flags_offset))
            .ok_or(EncodeError::InsufficientSize { required: self.len })
    }

    fn set_bit(byte: &mut u8, bit: u8, on: bool) {
        if on {
            *byte |= bit;
        } else {
            *byte &= !bit;
        }
    }
}
