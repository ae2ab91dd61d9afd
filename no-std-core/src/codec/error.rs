//! Codec errors: [`DecodeError`] (what is wrong with received bytes, and which reason code
//! to answer with) and [`EncodeError`] (why a packet cannot be written).
//!
//! "Need more bytes" is not an error: [`FixedHeader::parse`](super::FixedHeader::parse)
//! returns `Ok(None)` and the [`FrameReader`](super::frame::FrameReader) returns
//! [`Decoded::Incomplete`](super::frame::Decoded::Incomplete).

use core::fmt;

use super::reason::ReasonCode;

/// The bytes do not follow the wire format: answered with 0x81 Malformed Packet
/// (5.0), or by closing the connection (3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Malformed {
    /// A field runs past the end of the packet (the Remaining Length is too small).
    UnexpectedEnd,
    /// Bytes are left over after the last field of the packet.
    TrailingBytes,
    /// A Variable Byte Integer (e.g. the Remaining Length) has more than four bytes.
    VarIntTooLong,
    /// 5.0: a Variable Byte Integer is not minimally encoded [MQTT-1.5.5-1].
    NonMinimalVarInt,
    /// Packet type 0 is reserved (and 15 is reserved before 5.0 or without feature `v5`).
    InvalidPacketType(u8),
    /// Reserved fixed-header flags have the wrong value
    /// (3.1.1 [MQTT-2.2.2-1], 5.0 [MQTT-2.1.3-1]).
    InvalidFixedHeaderFlags {
        /// The packet type (high nibble of byte 1).
        packet_type: u8,
        /// The flags found (low nibble of byte 1).
        flags: u8,
    },
    /// A QoS field has the value 3 (PUBLISH [MQTT-3.3.1-4], Will QoS, subscription options).
    InvalidQoS,
    /// PUBLISH with QoS 0 has DUP set [MQTT-3.3.1-2].
    DupWithQoS0,
    /// A string is not well-formed UTF-8 (3.1.1 [MQTT-1.5.3-1], 5.0 [MQTT-1.5.4-1]).
    InvalidUtf8,
    /// A string contains U+0000 (3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]).
    NullCharacter,
    /// A topic name is empty or contains a wildcard ([MQTT-3.3.2-2], [MQTT-4.7.3-1]).
    InvalidTopicName,
    /// A topic filter is not well-formed (3.1.1 [MQTT-4.7.1-2]/[MQTT-4.7.1-3],
    /// 5.0 [MQTT-4.7.1-1]/[MQTT-4.7.1-2], [MQTT-4.7.3-1]; 5.0 `$share` syntax).
    InvalidTopicFilter,
    /// SUBSCRIBE carries no topic filter (3.1.1 [MQTT-3.8.3-3], 5.0 [MQTT-3.8.3-2]).
    NoTopicFilter,
    /// Subscription options reserved bits are set (3.1.1 [MQTT-3-8.3-4], 5.0 [MQTT-3.8.3-5]).
    InvalidSubscriptionOptions(u8),
    /// The CONNECT reserved flag is set [MQTT-3.1.2-3].
    ConnectReservedFlag,
    /// Will QoS or Will Retain set without the Will Flag
    /// (3.1.1 [MQTT-3.1.2-13]/[MQTT-3.1.2-15], 5.0 [MQTT-3.1.2-11]/[MQTT-3.1.2-13]).
    WillFlagsWithoutWill,
    /// 3.1 / 3.1.1: Password Flag set without the User Name Flag [MQTT-3.1.2-22].
    PasswordWithoutUsername,
    /// CONNACK acknowledge flags reserved bits are set (3.1.1 section 3.2.2.1,
    /// 5.0 [MQTT-3.2.2-1]).
    ConnAckReservedFlags(u8),
    /// A reason code or return code that does not exist, or is not allowed in this packet.
    InvalidReasonCode(u8),
    /// 5.0: an unknown property identifier.
    UnknownProperty(u32),
}

/// The bytes are well-formed but break a protocol rule: answered with 0x82 Protocol
/// Error (5.0), or by closing the connection (3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A Packet Identifier is zero (3.1.1 [MQTT-2.3.1-1], 5.0 [MQTT-2.2.1-3]).
    ZeroPacketId,
    /// 5.0: a property that is not allowed on this packet type (section 2.2.2.2).
    PropertyNotAllowed(u8),
    /// 5.0: a property that may appear only once appears twice.
    DuplicateProperty(u8),
    /// 5.0: a property has a value the specification forbids (for example Receive
    /// Maximum 0, Topic Alias 0 [MQTT-3.3.2-8], a boolean byte other than 0/1).
    InvalidPropertyValue(u8),
    /// 5.0: Authentication Data without Authentication Method.
    AuthDataWithoutMethod,
    /// 5.0: Retain Handling has the value 3.
    InvalidRetainHandling,
    /// 5.0: No Local set on a shared subscription [MQTT-3.8.3-4].
    NoLocalOnSharedSubscription,
    /// 5.0: PUBLISH with an empty topic name and no Topic Alias.
    EmptyTopicWithoutAlias,
    /// CONNACK with Session Present set and a failure code
    /// (3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]).
    SessionPresentOnError,
    /// The packet type does not exist in the negotiated protocol version (AUTH before 5.0).
    PacketNotInVersion(u8),
    /// A packet type only a client sends, received by a client
    /// ([`Packet::decode_from_server`](super::Packet::decode_from_server): CONNECT,
    /// SUBSCRIBE, UNSUBSCRIBE, PINGREQ).
    WrongDirection(u8),
    /// 5.0: AUTH received through
    /// [`Packet::decode_from_server`](super::Packet::decode_from_server), the entry point of
    /// a client without enhanced authentication (section 4.12).
    AuthNotSupported,
}

/// Why received bytes could not be decoded. Map to a reason code with
/// [`DecodeError::reason_code`]; when decoding CONNECT, use [`DecodeError::connack_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes do not follow the wire format (0x81).
    Malformed(Malformed),
    /// Well-formed bytes that break a protocol rule (0x82).
    Protocol(ProtocolViolation),
    /// The packet (fixed header included) exceeds the maximum packet size (0x95). Detected
    /// as soon as the Remaining Length is known; `size` is the whole frame length, so a
    /// caller may skip it.
    PacketTooLarge {
        /// Length of the whole packet in bytes, fixed header included.
        size: usize,
        /// The configured maximum.
        max: u32,
    },
    /// CONNECT names a protocol name / level this build does not support (0x84; 3.1.1
    /// return code 0x01) ([MQTT-3.1.2-1], 3.1.1/5.0 [MQTT-3.1.2-2]).
    UnsupportedProtocol {
        /// The protocol level byte found (0 if the protocol name was not recognized).
        level: u8,
    },
    /// 3.1 / 3.1.1: CONNECT with an empty client identifier and Clean Session 0
    /// (0x85; 3.1.1 return code 0x02) [MQTT-3.1.3-8].
    ClientIdNotValid,
    /// The first packet on a server connection is not CONNECT (3.1.1 and 5.0
    /// [MQTT-3.1.0-1]); close the connection without a CONNACK.
    FirstPacketNotConnect {
        /// The packet type received (high nibble of byte 1).
        packet_type: u8,
    },
}

impl From<Malformed> for DecodeError {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}

impl From<ProtocolViolation> for DecodeError {
    fn from(p: ProtocolViolation) -> Self {
        Self::Protocol(p)
    }
}

impl DecodeError {
    /// The 5.0 reason code for a DISCONNECT (or CONNACK) answering this error.
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Malformed(_) => ReasonCode::MalformedPacket,
            Self::Protocol(_) | Self::FirstPacketNotConnect { .. } => ReasonCode::ProtocolError,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::UnsupportedProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            Self::ClientIdNotValid => ReasonCode::ClientIdentifierNotValid,
        }
    }

    /// For an error found while decoding CONNECT: the CONNACK reason to answer with before
    /// closing, or `None` when no CONNACK may be sent (first packet not CONNECT).
    ///
    /// For a 3.1 / 3.1.1 peer use [`ReasonCode::to_v3_connack`]: 0x84 maps to return
    /// code 0x01 and 0x85 to 0x02; the other codes have no 3.1.1 equivalent and the
    /// server closes the connection without CONNACK ([MQTT-3.1.4-1]).
    pub const fn connack_reason(&self) -> Option<ReasonCode> {
        match self {
            Self::FirstPacketNotConnect { .. } => None,
            other => Some(other.reason_code()),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("field runs past the end of the packet"),
            Self::TrailingBytes => f.write_str("unexpected bytes after the last field"),
            Self::VarIntTooLong => f.write_str("variable byte integer longer than 4 bytes"),
            Self::NonMinimalVarInt => f.write_str("variable byte integer not minimally encoded"),
            Self::InvalidPacketType(t) => write!(f, "reserved packet type {t}"),
            Self::InvalidFixedHeaderFlags { packet_type, flags } => {
                write!(
                    f,
                    "invalid flags {flags:#06b} for packet type {packet_type}"
                )
            }
            Self::InvalidQoS => f.write_str("QoS value 3"),
            Self::DupWithQoS0 => f.write_str("DUP flag set on a QoS 0 PUBLISH"),
            Self::InvalidUtf8 => f.write_str("string is not well-formed UTF-8"),
            Self::NullCharacter => f.write_str("string contains U+0000"),
            Self::InvalidTopicName => f.write_str("invalid topic name"),
            Self::InvalidTopicFilter => f.write_str("invalid topic filter"),
            Self::NoTopicFilter => f.write_str("no topic filter in (UN)SUBSCRIBE"),
            Self::InvalidSubscriptionOptions(b) => {
                write!(f, "subscription options reserved bits set ({b:#04x})")
            }
            Self::ConnectReservedFlag => f.write_str("CONNECT reserved flag set"),
            Self::WillFlagsWithoutWill => f.write_str("Will QoS/Retain set without Will Flag"),
            Self::PasswordWithoutUsername => f.write_str("password flag without user name flag"),
            Self::ConnAckReservedFlags(b) => write!(f, "CONNACK reserved flags set ({b:#04x})"),
            Self::InvalidReasonCode(c) => write!(f, "invalid reason code {c:#04x}"),
            Self::UnknownProperty(id) => write!(f, "unknown property identifier {id:#04x}"),
        }
    }
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroPacketId => f.write_str("packet identifier 0"),
            Self::PropertyNotAllowed(id) => {
                write!(f, "property {id:#04x} not allowed on this packet")
            }
            Self::DuplicateProperty(id) => write!(f, "property {id:#04x} appears twice"),
            Self::InvalidPropertyValue(id) => write!(f, "invalid value for property {id:#04x}"),
            Self::AuthDataWithoutMethod => {
                f.write_str("authentication data without authentication method")
            }
            Self::InvalidRetainHandling => f.write_str("retain handling value 3"),
            Self::NoLocalOnSharedSubscription => f.write_str("No Local on a shared subscription"),
            Self::EmptyTopicWithoutAlias => f.write_str("empty topic name without topic alias"),
            Self::SessionPresentOnError => {
                f.write_str("CONNACK session present with a failure code")
            }
            Self::PacketNotInVersion(t) => {
                write!(f, "packet type {t} not in this protocol version")
            }
            Self::WrongDirection(t) => write!(f, "packet type {t} is never sent by a server"),
            Self::AuthNotSupported => f.write_str("AUTH without enhanced authentication"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(m) => write!(f, "malformed packet: {m}"),
            Self::Protocol(p) => write!(f, "protocol error: {p}"),
            Self::PacketTooLarge { size, max } => {
                write!(f, "packet of {size} bytes exceeds the maximum of {max}")
            }
            Self::UnsupportedProtocol { level } => {
                write!(f, "unsupported protocol name or level {level}")
            }
            Self::ClientIdNotValid => f.write_str("client identifier not valid"),
            Self::FirstPacketNotConnect { packet_type } => {
                write!(f, "first packet is type {packet_type}, not CONNECT")
            }
        }
    }
}

impl core::error::Error for Malformed {}
impl core::error::Error for ProtocolViolation {}
impl core::error::Error for DecodeError {}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output slice is too short; nothing useful was written. Retry with at least
    /// `required` bytes.
    InsufficientSize {
        /// Bytes the whole packet needs.
        required: usize,
    },
    /// A string or binary field is longer than 65,535 bytes.
    FieldTooLong {
        /// The field's length.
        len: usize,
    },
    /// The Remaining Length would exceed 268,435,455.
    PacketTooLarge {
        /// The body length that was computed (saturated).
        size: usize,
    },
    /// A Variable Byte Integer value exceeds 268,435,455 (e.g. a Subscription Identifier).
    ValueOutOfRange,
    /// A string contains U+0000 (3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]).
    InvalidString,
    /// A PUBLISH topic is not a valid topic name ([MQTT-3.3.2-2]); 5.0 allows an empty
    /// one only together with a Topic Alias.
    InvalidTopicName,
    /// A topic filter is not valid (or, in 5.0, a malformed `$share/` filter).
    InvalidTopicFilter,
    /// SUBSCRIBE / UNSUBSCRIBE without filters.
    EmptyList,
    /// The reason code cannot be sent in this packet type or protocol version (e.g. 0x95
    /// in a 3.1.1 CONNACK).
    ReasonNotInVersion(ReasonCode),
    /// The packet type does not exist in the target protocol version (AUTH before 5.0).
    PacketNotInVersion,
    /// A field value the specification forbids (zero Topic Alias, Receive Maximum 0,
    /// Maximum QoS 2, Session Present with a failure code, No Local on a shared
    /// subscription, password without user name in 3.1.1, ...).
    InvalidValue,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InsufficientSize { required } => {
                write!(f, "output buffer too small: {required} bytes required")
            }
            Self::FieldTooLong { len } => write!(f, "field of {len} bytes exceeds 65535"),
            Self::PacketTooLarge { size } => {
                write!(f, "remaining length {size} exceeds 268435455")
            }
            Self::ValueOutOfRange => f.write_str("variable byte integer out of range"),
            Self::InvalidString => f.write_str("string contains U+0000"),
            Self::InvalidTopicName => f.write_str("invalid topic name"),
            Self::InvalidTopicFilter => f.write_str("invalid topic filter"),
            Self::EmptyList => f.write_str("empty list where at least one item is required"),
            Self::ReasonNotInVersion(r) => {
                write!(f, "reason code {r} not allowed in this packet or version")
            }
            Self::PacketNotInVersion => f.write_str("packet type not in this protocol version"),
            Self::InvalidValue => f.write_str("field value forbidden by the specification"),
        }
    }
}

impl core::error::Error for EncodeError {}
