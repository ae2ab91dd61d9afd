//! CONNECT (3.1).

#[cfg(feature = "v5")]
use super::properties::{ConnectProperties, WillProperties};
use super::wire::{Reader, Writer};
use super::{DecodeError, EncodeError, Malformed, ProtocolVersion, QoS};
use crate::topic::TopicName;

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Protocol version (name and level). CONNECT carries its own version: decoding takes it
    /// from the packet and encoding writes it, whatever version is passed to
    /// [`Packet::decode`](super::Packet::decode) / [`Packet::encode`](super::Packet::encode).
    pub protocol: ProtocolVersion,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive, seconds (0 disables).
    pub keep_alive: u16,
    /// Client Identifier (may be empty: 3.1.1 with clean session, 5.0 always). 3.1 client
    /// identifiers longer than 23 bytes are decoded; the broker decides.
    pub client_id: &'a str,
    /// Will Message.
    pub will: Option<Will<'a>>,
    /// User Name.
    pub username: Option<&'a str>,
    /// Password (binary data).
    pub password: Option<&'a [u8]>,
    /// 5.0 CONNECT properties.
    #[cfg(feature = "v5")]
    pub properties: ConnectProperties<'a>,
}

/// The Will Message of a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Will<'a> {
    /// Will Topic.
    pub topic: TopicName<'a>,
    /// Will Payload.
    pub payload: &'a [u8],
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// 5.0 Will Properties.
    #[cfg(feature = "v5")]
    pub properties: WillProperties<'a>,
}

const CLEAN: u8 = 0b0000_0010;
const WILL: u8 = 0b0000_0100;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USERNAME: u8 = 0b1000_0000;

/// The protocol version a CONNECT frame announces, read from its first bytes only: fixed
/// header, Remaining Length, Protocol Name and Protocol Level.
///
/// For answering a CONNECT that failed to decode ([`Packet::decode`](super::Packet::decode),
/// [`FrameReader::decode`](super::FrameReader::decode)) with a CONNACK in the form the client
/// expects: a 5.0 reason code or a 3.1.1 return code. Nothing after the Protocol Level is
/// looked at, and the fixed header flags and the Remaining Length value are not checked, so
/// `frame` may be malformed or truncated after the level byte.
///
/// Returns `None` if the first byte is not a CONNECT, the bytes end before the Protocol Level,
/// the Remaining Length is longer than four bytes, or the name/level pair is not a version
/// this build supports (see [`ProtocolVersion::from_name_level`]). Never panics.
///
/// ```
/// # #[cfg(all(feature = "v3", feature = "v5"))] {
/// use tern_core::codec::{ProtocolVersion, peek_connect_version};
///
/// let frame = [0x10, 0x0A, 0, 4, b'M', b'Q', b'T', b'T', 5, 0xFF /* bad flags */];
/// assert_eq!(peek_connect_version(&frame), Some(ProtocolVersion::V5));
/// assert_eq!(peek_connect_version(&frame[..8]), None);
/// # }
/// ```
pub fn peek_connect_version(frame: &[u8]) -> Option<ProtocolVersion> {
    let (&first, rest) = frame.split_first()?;
    if first >> 4 != super::PacketType::Connect as u8 {
        return None;
    }
    let used = match super::wire::parse_vbi(rest).ok()? {
        super::wire::Vbi::Done(_, used) => used,
        super::wire::Vbi::Incomplete => return None,
    };
    let mut r = Reader::new(rest.get(used..)?, false);
    let name = r.binary().ok()?;
    let level = r.u8().ok()?;
    ProtocolVersion::from_name_level(name, level)
}

/// Decodes a CONNECT body; the version comes from the packet.
pub(crate) fn decode(body: &[u8]) -> Result<Connect<'_>, DecodeError> {
    // Protocol name and level first: until they are known the rest cannot be interpreted.
    let mut r = Reader::new(body, false);
    let name = r.binary()?;
    let level = r.u8()?;
    let protocol =
        ProtocolVersion::from_name_level(name, level).ok_or(DecodeError::UnsupportedProtocol {
            level: if name == b"MQTT" || name == b"MQIsdp" {
                level
            } else {
                0
            },
        })?;
    let v5 = protocol.is_v5();
    let mut r = Reader::new(r.rest(), v5);

    let flags = r.u8()?;
    // [MQTT-3.1.2-3] (3.1.1 and 5.0): the reserved flag must be 0.
    if flags & 1 != 0 {
        return Err(Malformed::ConnectReservedFlag.into());
    }
    let has_will = flags & WILL != 0;
    let will_qos_bits = (flags >> WILL_QOS_SHIFT) & 0b11;
    let will_retain = flags & WILL_RETAIN != 0;
    if has_will {
        // 3.1.1 [MQTT-3.1.2-14], 5.0 [MQTT-3.1.2-12]: Will QoS 3 is malformed.
        QoS::from_bits(will_qos_bits)?;
    } else if will_qos_bits != 0 || will_retain {
        // 3.1.1 [MQTT-3.1.2-13]/[MQTT-3.1.2-15], 5.0 [MQTT-3.1.2-11]/[MQTT-3.1.2-13].
        return Err(Malformed::WillFlagsWithoutWill.into());
    }
    let has_username = flags & USERNAME != 0;
    let has_password = flags & PASSWORD != 0;
    // 3.1.1 [MQTT-3.1.2-22]: no password without a user name (5.0 allows it).
    if !v5 && has_password && !has_username {
        return Err(Malformed::PasswordWithoutUsername.into());
    }
    let clean_start = flags & CLEAN != 0;
    let keep_alive = r.u16()?;
    #[cfg(feature = "v5")]
    let properties = if v5 {
        ConnectProperties::decode(&mut r)?
    } else {
        ConnectProperties::default()
    };

    // Client Identifier: 3.1.1 [MQTT-3.1.3-4] / 5.0 [MQTT-3.1.3-4] UTF-8 Encoded String.
    let client_id = r.string()?;
    // 3.1.1 [MQTT-3.1.3-8]: an empty client id requires Clean Session 1.
    if !v5 && client_id.is_empty() && !clean_start {
        return Err(DecodeError::ClientIdNotValid);
    }

    let will = if has_will {
        #[cfg(feature = "v5")]
        let properties = if v5 {
            WillProperties::decode(&mut r)?
        } else {
            WillProperties::default()
        };
        // Will Topic: 3.1.1 [MQTT-3.1.3-10], 5.0 [MQTT-3.1.3-11]; a topic name.
        let topic = TopicName::new(r.string()?).map_err(|_| Malformed::InvalidTopicName)?;
        let payload = r.binary()?;
        Some(Will {
            topic,
            payload,
            qos: QoS::from_bits(will_qos_bits)?,
            retain: will_retain,
            #[cfg(feature = "v5")]
            properties,
        })
    } else {
        None
    };
    // User Name: 3.1.1 [MQTT-3.1.3-11], 5.0 [MQTT-3.1.3-12]: UTF-8 Encoded String.
    let username = if has_username {
        Some(r.string()?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary()?)
    } else {
        None
    };
    r.finish()?;
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        #[cfg(feature = "v5")]
        properties,
    })
}

impl<'a> Connect<'a> {
    /// A CONNECT with the given protocol and client identifier, clean start, no keep-alive,
    /// will, credentials or properties.
    pub fn new(protocol: ProtocolVersion, client_id: &'a str) -> Self {
        Self {
            protocol,
            clean_start: true,
            keep_alive: 0,
            client_id,
            will: None,
            username: None,
            password: None,
            #[cfg(feature = "v5")]
            properties: ConnectProperties::default(),
        }
    }

    /// Encodes with `self.protocol`, whatever version the connection was told to use.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let v = self.protocol;
        let v5 = v.is_v5();
        let flags = if v5 { self.flags() } else { self.flags_v3()? };
        w.string(v.protocol_name())?;
        w.u8(v.level())?;
        w.u8(flags)?;
        w.u16(self.keep_alive)?;
        #[cfg(feature = "v5")]
        if v5 {
            self.properties.write(w)?;
        }
        w.string(self.client_id)?;
        if let Some(will) = &self.will {
            #[cfg(feature = "v5")]
            if v5 {
                will.properties.write(w)?;
            }
            w.string(will.topic.as_str())?;
            w.binary(will.payload)?;
        }
        if let Some(username) = self.username {
            w.string(username)?;
        }
        if let Some(password) = self.password {
            w.binary(password)?;
        }
        Ok(())
    }

    /// The Connect Flags byte, after the 3.1 / 3.1.1 rules this struct can break: no
    /// password without a user name [MQTT-3.1.2-22], no empty client identifier without
    /// Clean Session [MQTT-3.1.3-8].
    pub(crate) fn flags_v3(&self) -> Result<u8, EncodeError> {
        if self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::InvalidValue);
        }
        if self.client_id.is_empty() && !self.clean_start {
            return Err(EncodeError::InvalidValue);
        }
        Ok(self.flags())
    }

    /// The Connect Flags byte.
    pub(crate) fn flags(&self) -> u8 {
        let mut flags = 0u8;
        if self.clean_start {
            flags |= CLEAN;
        }
        if let Some(will) = &self.will {
            flags |= WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        flags
    }
}
