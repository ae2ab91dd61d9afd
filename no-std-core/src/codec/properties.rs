//! MQTT 5.0 properties (section 2.2.2): one struct per packet type, with a typed `Option`
//! field for every property the specification allows there, plus user properties.
//!
//! Decoding rejects property identifiers that are unknown (Malformed Packet) or not allowed
//! on the packet (Protocol Error), duplicates of properties that may appear only once, and
//! values the specification forbids (Protocol Error): Receive Maximum 0, Maximum Packet Size
//! 0, Topic Alias 0 [MQTT-3.3.2-8], Subscription Identifier 0, Maximum QoS other than 0/1,
//! boolean bytes other than 0/1, Response Topic with wildcards [MQTT-3.3.2-14], and
//! Authentication Data without Authentication Method. A Payload Format Indicator of 1 with
//! a payload that is not UTF-8 is *not* rejected (a SHOULD, left to the receiver).

use core::num::{NonZeroU16, NonZeroU32};

use super::QoS;
use super::direct5::Sink;
use super::error::{DecodeError, EncodeError, Malformed, ProtocolViolation};
use super::list::borrowed_list;
use super::wire::{Reader, Writer};
use crate::topic::TopicName;

mod id {
    pub(super) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub(super) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub(super) const CONTENT_TYPE: u8 = 0x03;
    pub(super) const RESPONSE_TOPIC: u8 = 0x08;
    pub(super) const CORRELATION_DATA: u8 = 0x09;
    pub(super) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub(super) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub(super) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub(super) const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub(super) const AUTHENTICATION_METHOD: u8 = 0x15;
    pub(super) const AUTHENTICATION_DATA: u8 = 0x16;
    pub(super) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub(super) const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub(super) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub(super) const RESPONSE_INFORMATION: u8 = 0x1A;
    pub(super) const SERVER_REFERENCE: u8 = 0x1C;
    pub(super) const REASON_STRING: u8 = 0x1F;
    pub(super) const RECEIVE_MAXIMUM: u8 = 0x21;
    pub(super) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub(super) const TOPIC_ALIAS: u8 = 0x23;
    pub(super) const MAXIMUM_QOS: u8 = 0x24;
    pub(super) const RETAIN_AVAILABLE: u8 = 0x25;
    pub(super) const USER_PROPERTY: u8 = 0x26;
    pub(super) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub(super) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub(super) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub(super) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}
use id::*;

/// One decoded property value; its type follows from the identifier.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Byte(u8),
    U16(u16),
    U32(u32),
    Vbi(u32),
    Str(&'a str),
    Bin(&'a [u8]),
    Pair(&'a str, &'a str),
}

fn read_property<'a>(r: &mut Reader<'a>) -> Result<(u8, Value<'a>), DecodeError> {
    let raw = r.vbi()?;
    let id = u8::try_from(raw).map_err(|_| Malformed::UnknownProperty(raw))?;
    let value = match id {
        PAYLOAD_FORMAT_INDICATOR
        | REQUEST_PROBLEM_INFORMATION
        | REQUEST_RESPONSE_INFORMATION
        | MAXIMUM_QOS
        | RETAIN_AVAILABLE
        | WILDCARD_SUBSCRIPTION_AVAILABLE
        | SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | SHARED_SUBSCRIPTION_AVAILABLE => Value::Byte(r.u8()?),
        SERVER_KEEP_ALIVE | RECEIVE_MAXIMUM | TOPIC_ALIAS_MAXIMUM | TOPIC_ALIAS => {
            Value::U16(r.u16()?)
        }
        MESSAGE_EXPIRY_INTERVAL
        | SESSION_EXPIRY_INTERVAL
        | WILL_DELAY_INTERVAL
        | MAXIMUM_PACKET_SIZE => Value::U32(r.u32()?),
        SUBSCRIPTION_IDENTIFIER => Value::Vbi(r.vbi()?),
        CONTENT_TYPE
        | RESPONSE_TOPIC
        | ASSIGNED_CLIENT_IDENTIFIER
        | AUTHENTICATION_METHOD
        | RESPONSE_INFORMATION
        | SERVER_REFERENCE
        | REASON_STRING => Value::Str(r.string()?),
        CORRELATION_DATA | AUTHENTICATION_DATA => Value::Bin(r.binary()?),
        USER_PROPERTY => Value::Pair(r.string()?, r.string()?),
        _ => return Err(Malformed::UnknownProperty(raw).into()),
    };
    Ok((id, value))
}

/// Reads a Property Length and the properties after it, calling `f` for each; returns the
/// whole property block (for the user-property and subscription-identifier lists).
fn read_block<'a>(
    r: &mut Reader<'a>,
    mut f: impl FnMut(u8, Value<'a>) -> Result<(), DecodeError>,
) -> Result<&'a [u8], DecodeError> {
    let len = r.vbi()?;
    let block = r.take(usize::try_from(len).unwrap_or(usize::MAX))?;
    let mut br = Reader::new(block, true);
    while !br.is_empty() {
        let (id, value) = read_property(&mut br)?;
        f(id, value)?;
    }
    Ok(block)
}

/// Writes a Property Length followed by the properties `f` writes.
fn write_block(
    w: &mut Writer<'_>,
    f: impl Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    w.block(f)
}

fn once<T>(slot: &mut Option<T>, id: u8, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(ProtocolViolation::DuplicateProperty(id).into());
    }
    *slot = Some(value);
    Ok(())
}

fn flag(id: u8, b: u8) -> Result<bool, DecodeError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(ProtocolViolation::InvalidPropertyValue(id).into()),
    }
}

fn nz16(id: u8, v: u16) -> Result<NonZeroU16, DecodeError> {
    NonZeroU16::new(v).ok_or(ProtocolViolation::InvalidPropertyValue(id).into())
}

fn nz32(id: u8, v: u32) -> Result<NonZeroU32, DecodeError> {
    NonZeroU32::new(v).ok_or(ProtocolViolation::InvalidPropertyValue(id).into())
}

fn response_topic(s: &str) -> Result<&str, DecodeError> {
    TopicName::new(s)
        .map(|t| t.as_str())
        .map_err(|_| ProtocolViolation::InvalidPropertyValue(RESPONSE_TOPIC).into())
}

fn not_allowed(id: u8) -> DecodeError {
    ProtocolViolation::PropertyNotAllowed(id).into()
}

fn check_auth(method: Option<&str>, data: Option<&[u8]>) -> Result<(), DecodeError> {
    if data.is_some() && method.is_none() {
        return Err(ProtocolViolation::AuthDataWithoutMethod.into());
    }
    Ok(())
}

// --- encoding helpers -------------------------------------------------------------------

fn put_byte(w: &mut Writer<'_>, id: u8, v: Option<u8>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        w.u8(id)?;
        w.u8(v)?;
    }
    Ok(())
}

fn put_bool(w: &mut Writer<'_>, id: u8, v: Option<bool>) -> Result<(), EncodeError> {
    put_byte(w, id, v.map(u8::from))
}

fn put_u16(w: &mut Writer<'_>, id: u8, v: Option<u16>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        w.u8(id)?;
        w.u16(v)?;
    }
    Ok(())
}

fn put_u32(w: &mut Writer<'_>, id: u8, v: Option<u32>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        w.u8(id)?;
        w.u32(v)?;
    }
    Ok(())
}

fn put_str(w: &mut Writer<'_>, id: u8, v: Option<&str>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        w.u8(id)?;
        w.string(v)?;
    }
    Ok(())
}

fn put_bin(w: &mut Writer<'_>, id: u8, v: Option<&[u8]>) -> Result<(), EncodeError> {
    if let Some(v) = v {
        w.u8(id)?;
        w.binary(v)?;
    }
    Ok(())
}

fn put_response_topic(w: &mut Writer<'_>, v: Option<&str>) -> Result<(), EncodeError> {
    if let Some(t) = v {
        TopicName::new(t).map_err(|_| EncodeError::InvalidTopicName)?;
    }
    put_str(w, RESPONSE_TOPIC, v)
}

fn put_users(w: &mut Writer<'_>, users: &UserProperties<'_>) -> Result<(), EncodeError> {
    for (k, v) in users {
        w.u8(USER_PROPERTY)?;
        w.string(k)?;
        w.string(v)?;
    }
    Ok(())
}

fn put_auth(
    w: &mut Writer<'_>,
    method: Option<&str>,
    data: Option<&[u8]>,
) -> Result<(), EncodeError> {
    if data.is_some() && method.is_none() {
        return Err(EncodeError::InvalidValue);
    }
    put_str(w, AUTHENTICATION_METHOD, method)?;
    put_bin(w, AUTHENTICATION_DATA, data)
}

// --- lists ------------------------------------------------------------------------------

/// Takes properties off the front of a property block until one matches `pick`.
fn next_matching<'a, T>(bytes: &mut &'a [u8], pick: impl Fn(Value<'a>) -> Option<T>) -> Option<T> {
    loop {
        let mut r = Reader::new(bytes, false);
        let (_, value) = read_property(&mut r).ok()?;
        *bytes = r.rest();
        if let Some(item) = pick(value) {
            return Some(item);
        }
    }
}

fn parse_user_property<'a>(bytes: &mut &'a [u8]) -> Option<(&'a str, &'a str)> {
    next_matching(bytes, |v| match v {
        Value::Pair(k, v) => Some((k, v)),
        _ => None,
    })
}

fn parse_subscription_id(bytes: &mut &[u8]) -> Option<u32> {
    // Only Subscription Identifier values are VBI-typed.
    next_matching(bytes, |v| match v {
        Value::Vbi(id) => Some(id),
        _ => None,
    })
}

borrowed_list! {
    /// User Properties (identifier 0x26): name/value string pairs, in order, repeatable.
    /// `Encoded` holds a whole property block; iteration yields only the user properties.
    UserProperties, UserPropertiesIter, 'a, (&'a str, &'a str), parse_user_property
}

borrowed_list! {
    /// Subscription Identifiers (0x0B) of a PUBLISH, which may repeat; each is 1 to
    /// 268,435,455. `Encoded` holds a whole property block.
    SubscriptionIds, SubscriptionIdsIter, 'a, u32, parse_subscription_id
}

// --- property structs -------------------------------------------------------------------

/// Payload Format Indicator (0x01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    #[default]
    Unspecified = 0,
    /// 1: UTF-8 encoded character data.
    Utf8 = 1,
}

fn payload_format(b: u8) -> Result<PayloadFormat, DecodeError> {
    match b {
        0 => Ok(PayloadFormat::Unspecified),
        1 => Ok(PayloadFormat::Utf8),
        _ => Err(ProtocolViolation::InvalidPropertyValue(PAYLOAD_FORMAT_INDICATOR).into()),
    }
}

/// Properties of CONNECT (3.1.2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectProperties<'a> {
    /// 0x11 Session Expiry Interval, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x21 Receive Maximum (0 is a Protocol Error).
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x27 Maximum Packet Size (0 is a Protocol Error).
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x22 Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x19 Request Response Information.
    pub request_response_information: Option<bool>,
    /// 0x17 Request Problem Information.
    pub request_problem_information: Option<bool>,
    /// 0x15 Authentication Method.
    pub authentication_method: Option<&'a str>,
    /// 0x16 Authentication Data (requires a method).
    pub authentication_data: Option<&'a [u8]>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> ConnectProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(x)) => once(&mut p.session_expiry_interval, id, x),
            (RECEIVE_MAXIMUM, Value::U16(x)) => once(&mut p.receive_maximum, id, nz16(id, x)?),
            (MAXIMUM_PACKET_SIZE, Value::U32(x)) => {
                once(&mut p.maximum_packet_size, id, nz32(id, x)?)
            }
            (TOPIC_ALIAS_MAXIMUM, Value::U16(x)) => once(&mut p.topic_alias_maximum, id, x),
            (REQUEST_RESPONSE_INFORMATION, Value::Byte(x)) => {
                once(&mut p.request_response_information, id, flag(id, x)?)
            }
            (REQUEST_PROBLEM_INFORMATION, Value::Byte(x)) => {
                once(&mut p.request_problem_information, id, flag(id, x)?)
            }
            (AUTHENTICATION_METHOD, Value::Str(x)) => once(&mut p.authentication_method, id, x),
            (AUTHENTICATION_DATA, Value::Bin(x)) => once(&mut p.authentication_data, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        check_auth(p.authentication_method, p.authentication_data)?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| {
            put_u32(w, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval)?;
            put_u16(
                w,
                RECEIVE_MAXIMUM,
                self.receive_maximum.map(NonZeroU16::get),
            )?;
            put_u32(
                w,
                MAXIMUM_PACKET_SIZE,
                self.maximum_packet_size.map(NonZeroU32::get),
            )?;
            put_u16(w, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum)?;
            put_bool(
                w,
                REQUEST_RESPONSE_INFORMATION,
                self.request_response_information,
            )?;
            put_bool(
                w,
                REQUEST_PROBLEM_INFORMATION,
                self.request_problem_information,
            )?;
            put_auth(w, self.authentication_method, self.authentication_data)?;
            put_users(w, &self.user_properties)
        })
    }
}

impl ConnectProperties<'_> {
    /// The block as [`write`](Self::write) writes it, into a one-pass [`Sink`].
    pub(crate) fn walk(&self, s: &mut Sink<'_, '_>) -> Result<(), EncodeError> {
        s.block(&|s| {
            s.num(
                SESSION_EXPIRY_INTERVAL,
                self.session_expiry_interval.map(u32::to_be_bytes),
            );
            let rm = self.receive_maximum.map(|v| v.get().to_be_bytes());
            s.num(RECEIVE_MAXIMUM, rm);
            let mps = self.maximum_packet_size.map(|v| v.get().to_be_bytes());
            s.num(MAXIMUM_PACKET_SIZE, mps);
            s.num(
                TOPIC_ALIAS_MAXIMUM,
                self.topic_alias_maximum.map(u16::to_be_bytes),
            );
            let rri = self.request_response_information.map(|b| [u8::from(b)]);
            s.num(REQUEST_RESPONSE_INFORMATION, rri);
            let rpi = self.request_problem_information.map(|b| [u8::from(b)]);
            s.num(REQUEST_PROBLEM_INFORMATION, rpi);
            let (method, data) = (self.authentication_method, self.authentication_data);
            if data.is_some() && method.is_none() {
                return Err(EncodeError::InvalidValue);
            }
            s.prop(AUTHENTICATION_METHOD, method.map(str::as_bytes), true)?;
            s.prop(AUTHENTICATION_DATA, data, false)?;
            walk_users(s, &self.user_properties)
        })
    }
}

/// User properties into a one-pass [`Sink`].
fn walk_users(s: &mut Sink<'_, '_>, users: &UserProperties<'_>) -> Result<(), EncodeError> {
    for (k, v) in users {
        s.put(&[USER_PROPERTY]);
        s.field(k.as_bytes(), true)?;
        s.field(v.as_bytes(), true)?;
    }
    Ok(())
}

/// Will Properties of CONNECT (3.1.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WillProperties<'a> {
    /// 0x18 Will Delay Interval, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x01 Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// 0x02 Message Expiry Interval, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type.
    pub content_type: Option<&'a str>,
    /// 0x08 Response Topic (a topic name: no wildcards).
    pub response_topic: Option<&'a str>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<&'a [u8]>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> WillProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (WILL_DELAY_INTERVAL, Value::U32(x)) => once(&mut p.will_delay_interval, id, x),
            (PAYLOAD_FORMAT_INDICATOR, Value::Byte(x)) => {
                once(&mut p.payload_format_indicator, id, payload_format(x)?)
            }
            (MESSAGE_EXPIRY_INTERVAL, Value::U32(x)) => once(&mut p.message_expiry_interval, id, x),
            (CONTENT_TYPE, Value::Str(x)) => once(&mut p.content_type, id, x),
            (RESPONSE_TOPIC, Value::Str(x)) => once(&mut p.response_topic, id, response_topic(x)?),
            (CORRELATION_DATA, Value::Bin(x)) => once(&mut p.correlation_data, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| {
            put_u32(w, WILL_DELAY_INTERVAL, self.will_delay_interval)?;
            put_byte(
                w,
                PAYLOAD_FORMAT_INDICATOR,
                self.payload_format_indicator.map(|f| f as u8),
            )?;
            put_u32(w, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval)?;
            put_str(w, CONTENT_TYPE, self.content_type)?;
            put_response_topic(w, self.response_topic)?;
            put_bin(w, CORRELATION_DATA, self.correlation_data)?;
            put_users(w, &self.user_properties)
        })
    }
}

impl WillProperties<'_> {
    /// The block as [`write`](Self::write) writes it, into a one-pass [`Sink`].
    pub(crate) fn walk(&self, s: &mut Sink<'_, '_>) -> Result<(), EncodeError> {
        s.block(&|s| {
            s.num(
                WILL_DELAY_INTERVAL,
                self.will_delay_interval.map(u32::to_be_bytes),
            );
            let pfi = self.payload_format_indicator.map(|f| [f as u8]);
            s.num(PAYLOAD_FORMAT_INDICATOR, pfi);
            s.num(
                MESSAGE_EXPIRY_INTERVAL,
                self.message_expiry_interval.map(u32::to_be_bytes),
            );
            s.prop(CONTENT_TYPE, self.content_type.map(str::as_bytes), true)?;
            if let Some(t) = self.response_topic
                && s.counting()
            {
                TopicName::new(t).map_err(|_| EncodeError::InvalidTopicName)?;
            }
            s.prop(RESPONSE_TOPIC, self.response_topic.map(str::as_bytes), true)?;
            s.prop(CORRELATION_DATA, self.correlation_data, false)?;
            walk_users(s, &self.user_properties)
        })
    }
}

/// Properties of CONNACK (3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnAckProperties<'a> {
    /// 0x11 Session Expiry Interval, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x21 Receive Maximum (0 is a Protocol Error).
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x24 Maximum QoS: [`QoS::AtMostOnce`] or [`QoS::AtLeastOnce`] only.
    pub maximum_qos: Option<QoS>,
    /// 0x25 Retain Available.
    pub retain_available: Option<bool>,
    /// 0x27 Maximum Packet Size (0 is a Protocol Error).
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x12 Assigned Client Identifier.
    pub assigned_client_identifier: Option<&'a str>,
    /// 0x22 Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x1F Reason String.
    pub reason_string: Option<&'a str>,
    /// 0x28 Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifiers Available.
    pub subscription_identifiers_available: Option<bool>,
    /// 0x2A Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
    /// 0x13 Server Keep Alive, seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x1A Response Information.
    pub response_information: Option<&'a str>,
    /// 0x1C Server Reference.
    pub server_reference: Option<&'a str>,
    /// 0x15 Authentication Method.
    pub authentication_method: Option<&'a str>,
    /// 0x16 Authentication Data.
    pub authentication_data: Option<&'a [u8]>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> ConnAckProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(x)) => once(&mut p.session_expiry_interval, id, x),
            (RECEIVE_MAXIMUM, Value::U16(x)) => once(&mut p.receive_maximum, id, nz16(id, x)?),
            (MAXIMUM_QOS, Value::Byte(x)) => {
                let qos = if flag(id, x)? {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                once(&mut p.maximum_qos, id, qos)
            }
            (RETAIN_AVAILABLE, Value::Byte(x)) => once(&mut p.retain_available, id, flag(id, x)?),
            (MAXIMUM_PACKET_SIZE, Value::U32(x)) => {
                once(&mut p.maximum_packet_size, id, nz32(id, x)?)
            }
            (ASSIGNED_CLIENT_IDENTIFIER, Value::Str(x)) => {
                once(&mut p.assigned_client_identifier, id, x)
            }
            (TOPIC_ALIAS_MAXIMUM, Value::U16(x)) => once(&mut p.topic_alias_maximum, id, x),
            (REASON_STRING, Value::Str(x)) => once(&mut p.reason_string, id, x),
            (WILDCARD_SUBSCRIPTION_AVAILABLE, Value::Byte(x)) => {
                once(&mut p.wildcard_subscription_available, id, flag(id, x)?)
            }
            (SUBSCRIPTION_IDENTIFIER_AVAILABLE, Value::Byte(x)) => {
                once(&mut p.subscription_identifiers_available, id, flag(id, x)?)
            }
            (SHARED_SUBSCRIPTION_AVAILABLE, Value::Byte(x)) => {
                once(&mut p.shared_subscription_available, id, flag(id, x)?)
            }
            (SERVER_KEEP_ALIVE, Value::U16(x)) => once(&mut p.server_keep_alive, id, x),
            (RESPONSE_INFORMATION, Value::Str(x)) => once(&mut p.response_information, id, x),
            (SERVER_REFERENCE, Value::Str(x)) => once(&mut p.server_reference, id, x),
            (AUTHENTICATION_METHOD, Value::Str(x)) => once(&mut p.authentication_method, id, x),
            (AUTHENTICATION_DATA, Value::Bin(x)) => once(&mut p.authentication_data, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        check_auth(p.authentication_method, p.authentication_data)?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let max_qos = match self.maximum_qos {
            None => None,
            Some(QoS::AtMostOnce) => Some(0),
            Some(QoS::AtLeastOnce) => Some(1),
            Some(QoS::ExactlyOnce) => return Err(EncodeError::InvalidValue),
        };
        write_block(w, |w| {
            put_u32(w, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval)?;
            put_u16(
                w,
                RECEIVE_MAXIMUM,
                self.receive_maximum.map(NonZeroU16::get),
            )?;
            put_byte(w, MAXIMUM_QOS, max_qos)?;
            put_bool(w, RETAIN_AVAILABLE, self.retain_available)?;
            put_u32(
                w,
                MAXIMUM_PACKET_SIZE,
                self.maximum_packet_size.map(NonZeroU32::get),
            )?;
            put_str(
                w,
                ASSIGNED_CLIENT_IDENTIFIER,
                self.assigned_client_identifier,
            )?;
            put_u16(w, TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum)?;
            put_str(w, REASON_STRING, self.reason_string)?;
            put_bool(
                w,
                WILDCARD_SUBSCRIPTION_AVAILABLE,
                self.wildcard_subscription_available,
            )?;
            put_bool(
                w,
                SUBSCRIPTION_IDENTIFIER_AVAILABLE,
                self.subscription_identifiers_available,
            )?;
            put_bool(
                w,
                SHARED_SUBSCRIPTION_AVAILABLE,
                self.shared_subscription_available,
            )?;
            put_u16(w, SERVER_KEEP_ALIVE, self.server_keep_alive)?;
            put_str(w, RESPONSE_INFORMATION, self.response_information)?;
            put_str(w, SERVER_REFERENCE, self.server_reference)?;
            put_auth(w, self.authentication_method, self.authentication_data)?;
            put_users(w, &self.user_properties)
        })
    }
}

/// Properties of PUBLISH (3.3.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishProperties<'a> {
    /// 0x01 Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// 0x02 Message Expiry Interval, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x23 Topic Alias (0 is not permitted [MQTT-3.3.2-8]).
    pub topic_alias: Option<NonZeroU16>,
    /// 0x08 Response Topic (a topic name: no wildcards [MQTT-3.3.2-14]).
    pub response_topic: Option<&'a str>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<&'a [u8]>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
    /// 0x0B Subscription Identifiers (server to client; may repeat).
    pub subscription_identifiers: SubscriptionIds<'a>,
    /// 0x03 Content Type.
    pub content_type: Option<&'a str>,
}

impl<'a> PublishProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (PAYLOAD_FORMAT_INDICATOR, Value::Byte(x)) => {
                once(&mut p.payload_format_indicator, id, payload_format(x)?)
            }
            (MESSAGE_EXPIRY_INTERVAL, Value::U32(x)) => once(&mut p.message_expiry_interval, id, x),
            (TOPIC_ALIAS, Value::U16(x)) => once(&mut p.topic_alias, id, nz16(id, x)?),
            (RESPONSE_TOPIC, Value::Str(x)) => once(&mut p.response_topic, id, response_topic(x)?),
            (CORRELATION_DATA, Value::Bin(x)) => once(&mut p.correlation_data, id, x),
            (CONTENT_TYPE, Value::Str(x)) => once(&mut p.content_type, id, x),
            (SUBSCRIPTION_IDENTIFIER, Value::Vbi(x)) => nz32(id, x).map(drop),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        p.user_properties = UserProperties::Encoded(block);
        p.subscription_identifiers = SubscriptionIds::Encoded(block);
        Ok(p)
    }

    /// Whether no property is set (the common PUBLISH): it encodes as a single 0 byte.
    fn is_empty(&self) -> bool {
        self.payload_format_indicator.is_none()
            && self.message_expiry_interval.is_none()
            && self.topic_alias.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none()
            && self.content_type.is_none()
            && self.user_properties.is_empty()
            && self.subscription_identifiers.is_empty()
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.is_empty() {
            // Property Length 0. Both passes take this branch, so block slots stay aligned.
            return w.u8(0);
        }
        write_block(w, |w| {
            put_byte(
                w,
                PAYLOAD_FORMAT_INDICATOR,
                self.payload_format_indicator.map(|f| f as u8),
            )?;
            put_u32(w, MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval)?;
            put_u16(w, TOPIC_ALIAS, self.topic_alias.map(NonZeroU16::get))?;
            put_response_topic(w, self.response_topic)?;
            put_bin(w, CORRELATION_DATA, self.correlation_data)?;
            put_users(w, &self.user_properties)?;
            for sid in &self.subscription_identifiers {
                if sid == 0 {
                    return Err(EncodeError::InvalidValue);
                }
                w.u8(SUBSCRIPTION_IDENTIFIER)?;
                w.vbi(sid)?;
            }
            put_str(w, CONTENT_TYPE, self.content_type)
        })
    }
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: Reason String and
/// User Properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckProperties<'a> {
    /// 0x1F Reason String.
    pub reason_string: Option<&'a str>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

/// Properties of PUBACK, PUBREC, PUBREL and PUBCOMP.
pub type PubResponseProperties<'a> = AckProperties<'a>;

impl<'a> AckProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (REASON_STRING, Value::Str(x)) => once(&mut p.reason_string, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| self.write_fields(w))
    }

    fn write_fields(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        put_str(w, REASON_STRING, self.reason_string)?;
        put_users(w, &self.user_properties)
    }

    /// `true` when no property is set (the acknowledgement may use its short form).
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// Properties of SUBSCRIBE (3.8.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscribeProperties<'a> {
    /// 0x0B Subscription Identifier (1 to 268,435,455; at most once).
    pub subscription_identifier: Option<NonZeroU32>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> SubscribeProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (SUBSCRIPTION_IDENTIFIER, Value::Vbi(x)) => {
                once(&mut p.subscription_identifier, id, nz32(id, x)?)
            }
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| {
            if let Some(sid) = self.subscription_identifier {
                w.u8(SUBSCRIPTION_IDENTIFIER)?;
                w.vbi(sid.get())?;
            }
            put_users(w, &self.user_properties)
        })
    }
}

impl SubscribeProperties<'_> {
    /// The block as [`write`](Self::write) writes it, into a one-pass [`Sink`].
    pub(crate) fn walk(&self, s: &mut Sink<'_, '_>) -> Result<(), EncodeError> {
        s.block(&|s| {
            if let Some(sid) = self.subscription_identifier {
                s.put(&[SUBSCRIPTION_IDENTIFIER]);
                s.vbi(sid.get())?;
            }
            walk_users(s, &self.user_properties)
        })
    }
}

/// Properties of UNSUBSCRIBE (3.10.2.1): User Properties only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnsubscribeProperties<'a> {
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> UnsubscribeProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let block = read_block(r, |id, v| match (id, v) {
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        Ok(Self {
            user_properties: UserProperties::Encoded(block),
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| put_users(w, &self.user_properties))
    }
}

/// Properties of DISCONNECT (3.14.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DisconnectProperties<'a> {
    /// 0x11 Session Expiry Interval, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x1F Reason String.
    pub reason_string: Option<&'a str>,
    /// 0x1C Server Reference.
    pub server_reference: Option<&'a str>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> DisconnectProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (SESSION_EXPIRY_INTERVAL, Value::U32(x)) => once(&mut p.session_expiry_interval, id, x),
            (REASON_STRING, Value::Str(x)) => once(&mut p.reason_string, id, x),
            (SERVER_REFERENCE, Value::Str(x)) => once(&mut p.server_reference, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| self.write_fields(w))
    }

    fn write_fields(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        put_u32(w, SESSION_EXPIRY_INTERVAL, self.session_expiry_interval)?;
        put_str(w, REASON_STRING, self.reason_string)?;
        put_str(w, SERVER_REFERENCE, self.server_reference)?;
        put_users(w, &self.user_properties)
    }

    /// `true` when no property is set.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.server_reference.is_none()
            && self.user_properties.is_empty()
    }
}

/// Properties of AUTH (3.15.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuthProperties<'a> {
    /// 0x15 Authentication Method.
    pub authentication_method: Option<&'a str>,
    /// 0x16 Authentication Data (requires a method).
    pub authentication_data: Option<&'a [u8]>,
    /// 0x1F Reason String.
    pub reason_string: Option<&'a str>,
    /// 0x26 User Properties.
    pub user_properties: UserProperties<'a>,
}

impl<'a> AuthProperties<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        let block = read_block(r, |id, v| match (id, v) {
            (AUTHENTICATION_METHOD, Value::Str(x)) => once(&mut p.authentication_method, id, x),
            (AUTHENTICATION_DATA, Value::Bin(x)) => once(&mut p.authentication_data, id, x),
            (REASON_STRING, Value::Str(x)) => once(&mut p.reason_string, id, x),
            (USER_PROPERTY, _) => Ok(()),
            _ => Err(not_allowed(id)),
        })?;
        check_auth(p.authentication_method, p.authentication_data)?;
        p.user_properties = UserProperties::Encoded(block);
        Ok(p)
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        write_block(w, |w| {
            put_auth(w, self.authentication_method, self.authentication_data)?;
            put_str(w, REASON_STRING, self.reason_string)?;
            put_users(w, &self.user_properties)
        })
    }

    /// `true` when no property is set.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}
