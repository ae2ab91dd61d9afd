//! Application messages as a session stores them: full topic name (never an alias), owned
//! payload, and the absolute expiry instant derived from the 5.0 Message Expiry Interval.
//!
//! The other 5.0 PUBLISH properties that are forwarded unchanged (Content Type, Response
//! Topic, Correlation Data, User Properties, Subscription Identifiers) are kept together in
//! one optional byte buffer, so a message costs three buffers (topic, payload, properties)
//! whatever properties it has: with fixed storage, memory is `3 x BYTES` per slot.

use super::storage::OwnedBytes;
use super::time::{Duration, Instant};
#[cfg(feature = "v5")]
use crate::codec::{PayloadFormat, PublishProperties, SubscriptionIds, UserProperties};
use crate::codec::{Publish, QoS};
use crate::topic::TopicName;

/// An application message owned by the session.
///
/// The topic is always the full topic name: topic aliases are applied only when a PUBLISH
/// is encoded, so a message re-sent on a new connection never carries a stale alias.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Message<B> {
    topic: B,
    payload: B,
    #[cfg_attr(feature = "serde", serde(with = "qos_serde"))]
    qos: QoS,
    retain: bool,
    #[cfg_attr(feature = "serde", serde(with = "expiry_serde"))]
    expires_at: Expiry,
    /// 5.0 Payload Format Indicator 1.
    #[cfg(feature = "v5")]
    utf8_payload: bool,
    /// 5.0 forwarded properties, see [`props`].
    #[cfg(feature = "v5")]
    properties: Option<B>,
    /// The PUBLISH already encoded for many recipients ([`Message::with_encoded`]); cleared
    /// by every change to the message. Not persisted.
    #[cfg(feature = "alloc")]
    #[cfg_attr(feature = "serde", serde(skip, default = "no_encoding"))]
    encoded: Option<Encoded<B>>,
}

#[cfg(all(feature = "alloc", feature = "serde"))]
fn no_encoding<B>() -> Option<Encoded<B>> {
    None
}

/// A PUBLISH encoded once (header and payload, contiguous) for one protocol version, with
/// the Packet Identifier and DUP patched per recipient.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoded<B> {
    pub(crate) version: crate::codec::ProtocolVersion,
    /// Where the Packet Identifier is (0: QoS 0, none); the flags are the first byte.
    /// Kept as `u32`, not as a `PublishHeader`: messages are moved by value through the
    /// queues and every byte of `Message` is copied on each move.
    pub(crate) pid_offset: u32,
    pub(crate) bytes: B,
}

#[cfg(feature = "alloc")]
impl<B: OwnedBytes> Encoded<B> {
    /// The header description for patching `bytes`.
    pub(crate) fn header(&self) -> crate::codec::PublishHeader {
        crate::codec::PublishHeader {
            len: self.bytes.as_ref().len(),
            packet_id_offset: (self.pid_offset != 0).then_some(self.pid_offset as usize),
            flags_offset: 0,
        }
    }
}

/// `QoS` (a codec type without serde derives) as its number.
/// A message's expiry instant (`Option<Instant>`) in 8 bytes aligned to 4: the
/// milliseconds as two halves, all ones meaning "never". A plain `Option<Instant>` takes 16
/// bytes and pads every stored message to 8-byte alignment: 12 bytes per message slot on a
/// 32-bit MCU. (An expiry at the very last millisecond, `u64::MAX`, is kept one millisecond
/// earlier.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expiry([u32; 2]);

impl Expiry {
    const NEVER: Self = Self([u32::MAX; 2]);

    fn new(at: Option<Instant>) -> Self {
        match at {
            Some(t) => {
                let m = t.total_millis().min(u64::MAX - 1);
                Self([(m >> 32) as u32, m as u32])
            }
            None => Self::NEVER,
        }
    }

    fn get(self) -> Option<Instant> {
        let [hi, lo] = self.0;
        (self != Self::NEVER).then(|| Instant::from_millis(u64::from(hi) << 32 | u64::from(lo)))
    }
}

/// Serialized as the `Option<Instant>` it stands for.
#[cfg(feature = "serde")]
mod expiry_serde {
    use super::{Expiry, Instant};

    pub(super) fn serialize<S: serde::Serializer>(e: &Expiry, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&e.get(), s)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Expiry, D::Error> {
        <Option<Instant> as serde::Deserialize>::deserialize(d).map(Expiry::new)
    }
}

#[cfg(feature = "serde")]
mod qos_serde {
    use crate::codec::QoS;

    pub(super) fn serialize<S: serde::Serializer>(q: &QoS, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*q as u8)
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<QoS, D::Error> {
        let v = <u8 as serde::Deserialize>::deserialize(d)?;
        QoS::try_from(v).map_err(|_| serde::de::Error::custom("invalid QoS"))
    }
}

/// The stored form of the forwarded 5.0 properties: a sequence of fields
/// `[tag: u8][length: u32 BE][value]`. User Properties and Subscription Identifiers are
/// kept in their wire form (a property block of identifiers 0x26 / 0x0B), which the codec
/// reads back as [`UserProperties::Encoded`] / [`SubscriptionIds::Encoded`]. Reading never
/// panics: a malformed buffer just yields fewer fields.
#[cfg(feature = "v5")]
mod props {
    pub(super) const CONTENT_TYPE: u8 = 1;
    pub(super) const RESPONSE_TOPIC: u8 = 2;
    pub(super) const CORRELATION_DATA: u8 = 3;
    pub(super) const USER_PROPERTIES: u8 = 4;
    pub(super) const SUBSCRIPTION_IDS: u8 = 5;

    pub(super) fn field(blob: &[u8], tag: u8) -> Option<&[u8]> {
        let mut rest = blob;
        while let [t, a, b, c, d, tail @ ..] = rest {
            let len = usize::try_from(u32::from_be_bytes([*a, *b, *c, *d])).ok()?;
            let (value, next) = tail.split_at_checked(len)?;
            if *t == tag {
                return Some(value);
            }
            rest = next;
        }
        None
    }

    /// Appends one field to `out` at `*pos`; with `out` empty only counts.
    pub(super) fn put(out: &mut [u8], pos: &mut usize, tag: u8, value: impl Fn(&mut Emit<'_>)) {
        let start = *pos;
        let mut len = Emit {
            out: &mut [],
            pos: 0,
        };
        value(&mut len);
        let n = len.pos;
        let mut e = Emit { out, pos: start };
        e.bytes(&[tag]);
        e.bytes(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
        value(&mut e);
        *pos = e.pos;
    }

    /// A writer that counts when its buffer is too short (first pass) and writes otherwise.
    pub(super) struct Emit<'o> {
        pub(super) out: &'o mut [u8],
        pub(super) pos: usize,
    }

    impl Emit<'_> {
        pub(super) fn bytes(&mut self, b: &[u8]) {
            let end = self.pos.saturating_add(b.len());
            if let Some(dst) = self.out.get_mut(self.pos..end) {
                dst.copy_from_slice(b);
            }
            self.pos = end;
        }

        pub(super) fn str16(&mut self, s: &str) {
            let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
            self.bytes(&len.to_be_bytes());
            self.bytes(s.as_bytes().get(..usize::from(len)).unwrap_or_default());
        }

        pub(super) fn vbi(&mut self, mut v: u32) {
            loop {
                let mut b = (v % 128) as u8;
                v /= 128;
                if v > 0 {
                    b |= 0x80;
                }
                self.bytes(&[b]);
                if v == 0 {
                    break;
                }
            }
        }
    }
}

/// Why a [`Message`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MessageError {
    /// The topic is not a valid topic name (empty, wildcards, too long).
    InvalidTopic,
    /// The topic, payload or properties do not fit the storage's byte buffers.
    TooLarge,
}

impl core::fmt::Display for MessageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::InvalidTopic => "invalid topic name",
            Self::TooLarge => "message does not fit the session's buffers",
        })
    }
}

impl core::error::Error for MessageError {}

fn copy<B: OwnedBytes>(data: &[u8]) -> Result<B, MessageError> {
    B::from_slice(data).ok_or(MessageError::TooLarge)
}

impl<B: OwnedBytes> Message<B> {
    /// A message with no properties, copying `topic` and `payload`.
    pub fn new(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<Self, MessageError> {
        TopicName::new(topic).map_err(|_| MessageError::InvalidTopic)?;
        Self::from_parts(copy(topic.as_bytes())?, copy(payload)?, qos, retain)
    }

    /// A message from owned parts (no copy); the topic must be a valid UTF-8 topic name.
    pub fn from_parts(topic: B, payload: B, qos: QoS, retain: bool) -> Result<Self, MessageError> {
        let name = core::str::from_utf8(topic.as_ref()).map_err(|_| MessageError::InvalidTopic)?;
        TopicName::new(name).map_err(|_| MessageError::InvalidTopic)?;
        Ok(Self {
            topic,
            payload,
            qos,
            retain,
            expires_at: Expiry::NEVER,
            #[cfg(feature = "v5")]
            utf8_payload: false,
            #[cfg(feature = "v5")]
            properties: None,
            #[cfg(feature = "alloc")]
            encoded: None,
        })
    }

    /// Copies a received PUBLISH (already resolved to its full `topic`) into a message that
    /// can be queued for another session; the expiry interval is taken relative to `now`.
    /// `qos` is the QoS to deliver with (the broker downgrades to the subscription's).
    pub fn from_publish(
        now: Instant,
        topic: &str,
        publish: &Publish<'_>,
        qos: QoS,
    ) -> Result<Self, MessageError> {
        let mut msg = Self::new(topic, publish.payload, qos, publish.retain)?;
        msg.take_publish_properties(now, publish)?;
        Ok(msg)
    }

    /// [`Message::from_publish`] for a PUBLISH decoded from `frame` (the whole packet, fixed
    /// header included) of a `version` connection: `frame` is copied once and the topic and
    /// the payload share that copy (one buffer for the message, no per-part copy) when `B`
    /// can share ([`OwnedBytes::share`]); otherwise they are copied as by
    /// [`Message::from_publish`].
    ///
    /// When the frame is byte for byte what this message encodes to for `version` (same QoS
    /// and RETAIN, no Topic Alias, no Message Expiry, a minimal Remaining Length), the frame
    /// itself becomes the message's encoding ([`Message::with_encoded`]): a subscriber of the
    /// publisher's version and QoS is sent a copy of the received packet with its Packet
    /// Identifier and DUP patched, and the 5.0 properties forwarded exactly as received.
    #[cfg(feature = "alloc")]
    pub fn from_publish_frame(
        now: Instant,
        topic: TopicName<'_>,
        publish: &Publish<'_>,
        qos: QoS,
        version: crate::codec::ProtocolVersion,
        frame: &[u8],
    ) -> Result<Self, MessageError> {
        let Some(owned) = B::from_slice(frame).filter(|o| o.as_ref().len() == frame.len()) else {
            return Self::from_publish(now, topic.as_str(), publish, qos);
        };
        // `part` as a range of `frame` (and so of `owned`), if it lies within it.
        let range_of = |part: &[u8]| {
            let start = (part.as_ptr() as usize).checked_sub(frame.as_ptr() as usize)?;
            let end = start.checked_add(part.len())?;
            (end <= frame.len()).then_some(start..end)
        };
        let topic_range = range_of(topic.as_str().as_bytes());
        let shared = |range: Option<core::ops::Range<usize>>, part: &[u8]| {
            range
                .and_then(|r| owned.share(r))
                .map_or_else(|| copy(part), Ok)
        };
        let mut msg = Self {
            topic: shared(topic_range.clone(), topic.as_str().as_bytes())?,
            payload: shared(range_of(publish.payload), publish.payload)?,
            qos,
            retain: publish.retain,
            expires_at: Expiry::NEVER,
            #[cfg(feature = "v5")]
            utf8_payload: false,
            #[cfg(feature = "v5")]
            properties: None,
            encoded: None,
        };
        msg.take_publish_properties(now, publish)?;
        #[cfg(feature = "v5")]
        let verbatim = publish.properties.topic_alias.is_none()
            && publish.properties.subscription_identifiers.is_empty();
        #[cfg(not(feature = "v5"))]
        let verbatim = true;
        let minimal = matches!(
            crate::codec::FixedHeader::parse(frame),
            Ok(Some((h, n))) if n == 1 + crate::codec::vbi_len(h.remaining_length)
        );
        if let Some(topic_range) = topic_range
            && verbatim
            && minimal
            && qos == publish.qos_pid.qos()
            && msg.expires_at == Expiry::NEVER
            && let Some(bytes) = owned.share(0..frame.len())
        {
            // The Packet Identifier follows the topic; QoS 0 has none (offset 0).
            let pid_offset = match qos {
                QoS::AtMostOnce => Some(0),
                _ => u32::try_from(topic_range.end).ok(),
            };
            if let Some(pid_offset) = pid_offset {
                msg.encoded = Some(Encoded {
                    version,
                    pid_offset,
                    bytes,
                });
            }
        }
        Ok(msg)
    }

    /// The received PUBLISH's stored 5.0 properties and its expiry (relative to `now`); a
    /// no-op without 5.0.
    fn take_publish_properties(
        &mut self,
        now: Instant,
        publish: &Publish<'_>,
    ) -> Result<(), MessageError> {
        #[cfg(feature = "v5")]
        {
            self.set_properties_from(&publish.properties)?;
            self.expires_at = Expiry::new(
                publish
                    .properties
                    .message_expiry_interval
                    .map(|s| now + Duration::from_secs(u64::from(s))),
            );
        }
        let _ = (now, publish);
        Ok(())
    }

    /// Copies the forwardable 5.0 properties of `p` (Payload Format Indicator, Content
    /// Type, Response Topic, Correlation Data, User Properties, Subscription Identifiers);
    /// the Message Expiry Interval is set with [`Message::with_expiry`], a Topic Alias is
    /// never stored.
    #[cfg(feature = "v5")]
    pub fn set_properties_from(&mut self, p: &PublishProperties<'_>) -> Result<(), MessageError> {
        self.forget_encoding();
        self.utf8_payload = p.payload_format_indicator == Some(PayloadFormat::Utf8);
        self.properties = Self::encode_properties(p)?;
        Ok(())
    }

    /// The stored form of the forwarded properties of `p` (`None` when there are none).
    #[cfg(feature = "v5")]
    fn encode_properties(p: &PublishProperties<'_>) -> Result<Option<B>, MessageError> {
        let fill = |out: &mut [u8]| {
            let mut pos = 0;
            if let Some(v) = p.content_type {
                props::put(out, &mut pos, props::CONTENT_TYPE, |e| {
                    e.bytes(v.as_bytes())
                });
            }
            if let Some(v) = p.response_topic {
                props::put(out, &mut pos, props::RESPONSE_TOPIC, |e| {
                    e.bytes(v.as_bytes())
                });
            }
            if let Some(v) = p.correlation_data {
                props::put(out, &mut pos, props::CORRELATION_DATA, |e| e.bytes(v));
            }
            if !p.user_properties.is_empty() {
                props::put(out, &mut pos, props::USER_PROPERTIES, |e| {
                    for (k, v) in p.user_properties.iter() {
                        e.bytes(&[0x26]);
                        e.str16(k);
                        e.str16(v);
                    }
                });
            }
            if !p.subscription_identifiers.is_empty() {
                props::put(out, &mut pos, props::SUBSCRIPTION_IDS, |e| {
                    for id in p.subscription_identifiers.iter() {
                        e.bytes(&[0x0B]);
                        e.vbi(id);
                    }
                });
            }
            pos
        };
        let len = fill(&mut []);
        if len == 0 {
            return Ok(None);
        }
        B::build(len, |out| {
            fill(out);
        })
        .map(Some)
        .ok_or(MessageError::TooLarge)
    }

    /// Sets the Subscription Identifiers the broker forwards to one subscriber (replacing
    /// any), keeping the other properties.
    #[cfg(feature = "v5")]
    pub fn with_subscription_identifiers(mut self, ids: &[u32]) -> Result<Self, MessageError> {
        let mut p = self.publish_properties();
        p.subscription_identifiers = SubscriptionIds::Slice(ids);
        let blob = Self::encode_properties(&p)?;
        self.properties = blob;
        self.forget_encoding();
        Ok(self)
    }

    /// Sets the lifetime: the message expires `lifetime` after `now` (5.0 Message Expiry
    /// Interval). Queued copies are dropped once expired; copies already in flight complete.
    pub fn with_expiry(mut self, now: Instant, lifetime: Duration) -> Self {
        self.forget_encoding();
        self.expires_at = Expiry::new(Some(now + lifetime));
        self
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        core::str::from_utf8(self.topic.as_ref()).unwrap_or_default()
    }

    /// The topic name as stored bytes (valid UTF-8 for a message built by this module);
    /// for byte comparisons that need no `str`.
    pub(crate) fn topic_bytes(&self) -> &[u8] {
        self.topic.as_ref()
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.payload.as_ref()
    }

    /// The QoS this message is sent with.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// The RETAIN flag.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// When the message expires, if it does.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at.get()
    }

    /// `true` once `now` has reached the expiry instant.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.get().is_some_and(|t| now >= t)
    }

    /// The stored 5.0 properties as PUBLISH properties (no Message Expiry Interval, no
    /// Topic Alias: those are per send).
    #[cfg(feature = "v5")]
    pub fn publish_properties(&self) -> PublishProperties<'_> {
        let blob = self.properties.as_ref().map_or(&[][..], AsRef::as_ref);
        let text = |tag| props::field(blob, tag).and_then(|v| core::str::from_utf8(v).ok());
        PublishProperties {
            payload_format_indicator: self.utf8_payload.then_some(PayloadFormat::Utf8),
            message_expiry_interval: None,
            topic_alias: None,
            response_topic: text(props::RESPONSE_TOPIC),
            correlation_data: props::field(blob, props::CORRELATION_DATA),
            user_properties: props::field(blob, props::USER_PROPERTIES)
                .map(UserProperties::Encoded)
                .unwrap_or_default(),
            subscription_identifiers: props::field(blob, props::SUBSCRIPTION_IDS)
                .map(SubscriptionIds::Encoded)
                .unwrap_or_default(),
            content_type: text(props::CONTENT_TYPE),
        }
    }

    /// `true` when the message carries Subscription Identifiers (from a Will or a bridge);
    /// the same as a non-empty `publish_properties().subscription_identifiers`, without
    /// building the other properties (a broker asks for every message it routes).
    #[cfg(feature = "v5")]
    pub fn has_subscription_identifiers(&self) -> bool {
        self.properties
            .as_ref()
            .is_some_and(|b| props::field(b.as_ref(), props::SUBSCRIPTION_IDS).is_some())
    }

    /// Bytes this message accounts for in a queue's byte budget.
    pub fn size(&self) -> usize {
        #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
        let mut n = self.topic.as_ref().len() + self.payload.as_ref().len();
        #[cfg(feature = "v5")]
        {
            n += self.properties.as_ref().map_or(0, |b| b.as_ref().len());
        }
        n
    }

    /// The same message with another QoS: the broker delivers each subscriber a copy at
    /// the lower of the published QoS and the subscription's maximum (3.1.1
    /// [MQTT-3.8.4-6], 5.0 [MQTT-3.8.4-8]). Clones of `B` share the payload when `B` is a
    /// shared buffer.
    #[must_use]
    pub fn with_qos(mut self, qos: QoS) -> Self {
        if qos != self.qos {
            self.forget_encoding();
        }
        self.qos = qos;
        self
    }

    /// The same message with the RETAIN flag set or cleared (a retained message delivered
    /// on subscribe carries 1; a live one 0 unless Retain As Published).
    #[must_use]
    pub fn with_retain(mut self, retain: bool) -> Self {
        if retain != self.retain {
            self.forget_encoding();
        }
        self.retain = retain;
        self
    }

    /// The same message carrying its PUBLISH encoded once for `version`, so that a session
    /// engine sending it copies those bytes and patches only the Packet Identifier and DUP
    /// instead of encoding it again (a broker fanning one message out to many subscribers
    /// of one version encodes it once). Clones share the encoding when `B` is a shared
    /// buffer. A message with a Message Expiry is left as it is: its remaining lifetime is
    /// written at each send. Every later change to the message drops the encoding, and an
    /// engine falls back to a normal encode whenever the copy would not be exact (another
    /// version or QoS, a topic alias to assign, the peer's Maximum Packet Size).
    #[cfg(feature = "alloc")]
    #[must_use]
    pub fn with_encoded(mut self, version: crate::codec::ProtocolVersion) -> Self {
        // Every change to the message drops its encoding, so one that is still here (from
        // an earlier call, or the received frame) is exact.
        if self.encoded.as_ref().is_some_and(|e| e.version == version) {
            return self;
        }
        self.encoded = None;
        if self.expires_at != Expiry::NEVER {
            return self;
        }
        let placeholder = crate::codec::PacketId::MIN;
        let qos_pid = match self.qos {
            QoS::AtMostOnce => crate::codec::QosPid::AtMostOnce,
            QoS::AtLeastOnce => crate::codec::QosPid::AtLeastOnce(placeholder),
            QoS::ExactlyOnce => crate::codec::QosPid::ExactlyOnce(placeholder),
        };
        let p = self.to_publish(Instant::ZERO, qos_pid, false);
        let Ok(head) = p.header_len(version) else {
            return self;
        };
        let payload = p.payload;
        let mut header = None;
        let bytes = B::build(head.saturating_add(payload.len()), |out| {
            let (h, body) = out.split_at_mut(head.min(out.len()));
            header = p.encode_header(version, h).ok();
            if let Some(dst) = body.get_mut(..payload.len()) {
                dst.copy_from_slice(payload);
            }
        });
        if let (Some(bytes), Some(header)) = (bytes, header) {
            self.encoded = Some(Encoded {
                version,
                pid_offset: header
                    .packet_id_offset
                    .and_then(|o| u32::try_from(o).ok())
                    .unwrap_or(0),
                bytes,
            });
        }
        self
    }

    /// The PUBLISH encoded by [`Message::with_encoded`], if any.
    #[cfg(feature = "alloc")]
    pub(crate) fn encoded(&self) -> Option<&Encoded<B>> {
        self.encoded.as_ref()
    }

    fn forget_encoding(&mut self) {
        #[cfg(feature = "alloc")]
        {
            self.encoded = None;
        }
    }

    /// Downgrades the QoS (e.g. to the peer's Maximum QoS).
    pub(crate) fn set_qos(&mut self, qos: QoS) {
        if qos != self.qos {
            self.forget_encoding();
        }
        self.qos = qos;
    }

    /// The PUBLISH for this message: full topic, no alias, remaining lifetime at `now`.
    /// The topic is converted to `str` once here; callers on the send path use `topic` of
    /// the result rather than calling [`Message::topic`] again.
    pub(crate) fn to_publish(
        &self,
        now: Instant,
        qos_pid: crate::codec::QosPid,
        dup: bool,
    ) -> Publish<'_> {
        #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
        let mut p = Publish::new(self.topic(), qos_pid, self.payload());
        p.dup = dup;
        p.retain = self.retain;
        #[cfg(feature = "v5")]
        {
            p.properties = self.publish_properties();
            // 5.0 [MQTT-3.3.2-6]: forward the remaining lifetime (at least 1 s: a copy
            // already in flight when it expired still completes).
            p.properties.message_expiry_interval = self
                .expires_at
                .get()
                .map(|t| u32::try_from((t - now).secs_ceil().max(1)).unwrap_or(u32::MAX));
        }
        let _ = now;
        p
    }
}

#[cfg(all(test, feature = "v5"))]
mod tests {
    use super::*;

    type B = heapless::Vec<u8, 96>;

    #[test]
    fn properties_round_trip_through_one_buffer() {
        let pairs = [("k", "v"), ("name", "value")];
        let p = PublishProperties {
            payload_format_indicator: Some(PayloadFormat::Utf8),
            content_type: Some("text/plain"),
            response_topic: Some("r/t"),
            correlation_data: Some(b"\x00\x01"),
            user_properties: UserProperties::Slice(&pairs),
            subscription_identifiers: SubscriptionIds::Slice(&[1, 300]),
            ..PublishProperties::default()
        };
        let mut m = Message::<B>::new("a/b", b"x", QoS::AtLeastOnce, false).unwrap();
        m.set_properties_from(&p).unwrap();
        assert_eq!(m.publish_properties(), p);
        assert!(m.has_subscription_identifiers());
        let mut plain = Message::<B>::new("a/b", b"x", QoS::AtLeastOnce, false).unwrap();
        assert!(!plain.has_subscription_identifiers());
        let typed = PublishProperties {
            content_type: Some("text/plain"),
            ..PublishProperties::default()
        };
        plain.set_properties_from(&typed).unwrap();
        assert!(!plain.has_subscription_identifiers());
        let m = m.with_subscription_identifiers(&[7]).unwrap();
        let q = m.publish_properties();
        assert_eq!(
            q.subscription_identifiers
                .iter()
                .collect::<std::vec::Vec<_>>(),
            [7]
        );
        assert_eq!(q.user_properties, p.user_properties);
        assert_eq!(q.content_type, Some("text/plain"));
        // Too large for the buffer: refused, not truncated.
        let long = [(
            "k",
            "a long value that does not fit into ninety-six bytes of storage at all, no",
        )];
        let p = PublishProperties {
            user_properties: UserProperties::Slice(&long),
            ..p
        };
        assert_eq!(
            m.clone().set_properties_from(&p),
            Err(MessageError::TooLarge)
        );
    }

    #[test]
    fn malformed_blob_reads_as_absent() {
        assert_eq!(props::field(&[1, 0, 0, 0, 9, b'x'], 1), None);
        assert_eq!(props::field(&[1, 0, 0], 1), None);
        assert_eq!(
            props::field(&[2, 0, 0, 0, 1, b'x', 1, 0, 0, 0, 0], 1),
            Some(&[][..])
        );
    }
}

#[cfg(all(test, feature = "alloc", feature = "v3", feature = "v5"))]
mod frame_tests {
    use super::*;
    use crate::codec::{Packet, PacketId, ProtocolVersion, QosPid, UserProperties};
    use alloc::vec::Vec;

    /// A reference-counted buffer that can share slices, like the broker's payload type.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Shared(bytes::Bytes);

    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl OwnedBytes for Shared {
        fn build(len: usize, fill: impl FnOnce(&mut [u8])) -> Option<Self> {
            let mut v = alloc::vec![0; len];
            fill(&mut v);
            Some(Self(v.into()))
        }
        fn share(&self, range: core::ops::Range<usize>) -> Option<Self> {
            (range.end <= self.0.len()).then(|| Self(self.0.slice(range)))
        }
    }

    fn pid(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    fn frame_of(p: &Publish<'_>, v: ProtocolVersion) -> Vec<u8> {
        let mut out = alloc::vec![0; 256];
        let n = Packet::Publish(*p).encode(v, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn build<B: OwnedBytes>(frame: &[u8], v: ProtocolVersion) -> Message<B> {
        let Packet::Publish(p) = Packet::decode(v, frame).unwrap() else {
            panic!("not a PUBLISH");
        };
        let topic = TopicName::new(p.topic).unwrap();
        Message::from_publish_frame(Instant::ZERO, topic, &p, p.qos_pid.qos(), v, frame).unwrap()
    }

    #[test]
    fn the_received_frame_is_the_encoding_and_shares_one_buffer() {
        for v in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for qos_pid in [QosPid::AtMostOnce, QosPid::AtLeastOnce(pid(9))] {
                let mut p = Publish::new("a/b", qos_pid, b"payload");
                p.retain = true;
                p.properties.user_properties = UserProperties::Slice(&[("k", "v")]);
                p.properties.content_type = Some("text/plain");
                let frame = frame_of(&p, v);
                let m: Message<Shared> = build(&frame, v);
                assert_eq!((m.topic(), m.payload()), ("a/b", &b"payload"[..]));
                assert_eq!((m.qos(), m.retain()), (qos_pid.qos(), true));
                let enc = m.encoded().expect("frame kept as the encoding");
                assert_eq!(enc.bytes.as_ref(), &frame[..]);
                // Topic and payload are slices of the one copy (the encoding's buffer).
                let base = enc.bytes.0.as_ptr() as usize;
                let within = |p: *const u8| (base..base + frame.len()).contains(&(p as usize));
                assert!(within(m.topic.0.as_ptr()) && within(m.payload.0.as_ptr()));
                // It is exactly what encoding the message would give, with the same
                // Packet Identifier offset.
                let fresh = m.clone().with_retain(false).with_retain(true);
                assert!(fresh.encoded().is_none());
                let fresh = fresh.with_encoded(v);
                let fe = fresh.encoded().unwrap();
                assert_eq!(fe.pid_offset, enc.pid_offset);
                let mut a = fe.bytes.as_ref().to_vec();
                let mut b = frame.clone();
                if let Some(p) = qos_pid.packet_id() {
                    fe.header().set_packet_id(&mut a, p).unwrap();
                    enc.header().set_packet_id(&mut b, p).unwrap();
                }
                assert_eq!(a, b, "{v:?} {qos_pid:?}");
                // Asking for the same version keeps it; another version re-encodes.
                assert_eq!(m.clone().with_encoded(v).encoded(), Some(enc));
                let other = if v.is_v5() {
                    ProtocolVersion::V3_1_1
                } else {
                    ProtocolVersion::V5
                };
                let o = m.clone().with_encoded(other);
                assert_eq!(o.encoded().unwrap().version, other);
            }
        }
    }

    #[test]
    fn frames_that_are_not_verbatim_are_not_reused() {
        let v5 = ProtocolVersion::V5;
        // A Topic Alias belongs to the publisher's connection.
        let mut p = Publish::new("a/b", QosPid::AtLeastOnce(pid(1)), b"x");
        p.properties.topic_alias = core::num::NonZeroU16::new(3);
        let frame = frame_of(&p, v5);
        let m: Message<Shared> = build(&frame, v5);
        assert!(m.encoded().is_none());
        assert_eq!(m.topic(), "a/b");
        // A Message Expiry is counted down per send.
        let mut p = Publish::new("a/b", QosPid::AtLeastOnce(pid(1)), b"x");
        p.properties.message_expiry_interval = Some(60);
        let frame = frame_of(&p, v5);
        let m: Message<Shared> = build(&frame, v5);
        assert!(m.encoded().is_none() && m.expires_at().is_some());
        // A non-minimal Remaining Length (accepted from a 3.1.1 client) is not forwarded.
        let v3 = ProtocolVersion::V3_1_1;
        let frame = [0x30, 0x86, 0x00, 0, 3, b'a', b'/', b'b', b'x'];
        let m: Message<Shared> = build(&frame, v3);
        assert!(m.encoded().is_none());
        assert_eq!((m.topic(), m.payload()), ("a/b", &b"x"[..]));
        // A buffer type that cannot share copies each part and keeps no encoding.
        let frame = frame_of(&Publish::new("c", QosPid::AtMostOnce, b"yz"), v3);
        let m: Message<Vec<u8>> = build(&frame, v3);
        assert!(m.encoded().is_none());
        assert_eq!((m.topic(), m.payload()), ("c", &b"yz"[..]));
    }
}
