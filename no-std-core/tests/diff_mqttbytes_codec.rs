//! Differential tests: our codec against `mqttbytes` 0.6 (`v4` for MQTT 3.1 / 3.1.1, `v5` for
//! 5.0), used only as an independent oracle, in both directions, over the packet strategies
//! of `common`:
//!
//! - ours → theirs: our encoding, read by `mqttbytes::{v4,v5}::read`, converted back to our
//!   owned description, equals the packet we encoded (and the whole frame is consumed);
//! - theirs → ours: the mqttbytes packet built from the same description and `write`n is
//!   decoded by [`Packet::decode`] and by the [`FrameReader`] into an equal packet. For 3.1 /
//!   3.1.1 the two encodings must also be identical byte for byte (5.0 property order differs).
//!
//! mqttbytes has known spec bugs and gaps. Each place we knowingly disagree is an [`Allowed`]
//! entry with its reason; [`classify`] says, from the description alone, which entry applies
//! in which direction. A disagreement without an entry fails, and so does an entry that
//! predicts a disagreement that does not happen, so the allowlist stays exact.
//! `allowlist_entries_are_real` shows each entry on a concrete packet.

mod common;

use std::cell::Cell;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use common::{
    AckD, AckProps, AuthD, ConnAckD, ConnAckProps, ConnectD, ConnectProps, Desc, DisconnectD,
    PublishD, PublishProps, SubAckD, SubscribeD, UnsubscribeD, Users, WillD, WillProps, packet,
};
use mqttbytes::{Protocol, v4, v5};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use tern_core::codec::{
    Decoded, FrameReader, Packet, PacketId, PayloadFormat, ProtocolVersion, QoS, QosPid,
    ReasonCode, RetainHandling, SubscriptionOptions,
};

/// mqttbytes' maximum packet size argument: larger than anything generated.
const MAX: usize = 1 << 24;

/// Known mqttbytes 0.6 deviations from the specifications (or gaps), each with the reason we
/// differ. Spec references: 3.1.1 = OASIS MQTT 3.1.1, 5.0 = OASIS MQTT 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// mqttbytes knows only the protocol name "MQTT" (levels 4 and 5): it reads an MQTT 3.1
    /// CONNECT (protocol name "MQIsdp", level 3) as `InvalidProtocol` and cannot write one
    /// (its `Protocol` is `V4 | V5`). Tern supports 3.1 clients. Other 3.1 packets have the
    /// 3.1.1 wire format and are compared normally.
    Mqtt31Connect,
    /// mqttbytes has no AUTH packet (5.0 section 3.15): its reader rejects packet type 15 as
    /// `InvalidPacketType(15)` and it cannot write one.
    NoAuthPacket,
    /// Its v5 reader rejects every Remaining Length of 0 except PINGREQ / PINGRESP
    /// (`PayloadRequired`), so it rejects DISCONNECT `E0 00`: the form 5.0 section 3.14.2.1
    /// prescribes for Normal disconnection without properties ("In this case the DISCONNECT
    /// has a Remaining Length of 0"), and the one `v5::Disconnect::new().write` itself emits.
    ZeroLengthDisconnect,
    /// Its v5 `ConnAck { properties: None, .. }` is written without a Property Length, which
    /// 5.0 section 3.2.2.3.1 requires in CONNACK (no omission rule there, unlike the
    /// acknowledgements); our decoder rightly rejects it as malformed, and so does mqttbytes'
    /// own reader. Modelling rule, not a classifier case: we always hand mqttbytes
    /// `properties: Some(..)`.
    ConnAckWithoutPropertyLength,
    /// Its `Login.password` is a `String`, read with a UTF-8 check (`TopicNotUtf8`), but the
    /// Password is Binary Data (3.1.1 section 3.1.3.5, 5.0 section 3.1.3.5): a non-UTF-8
    /// password is rejected and cannot be represented.
    PasswordNotUtf8,
    /// It treats an empty User Name or Password as absent: written without the field and its
    /// flag, and read back as absent (no `Login` at all when both are empty). Zero-length
    /// values are legal (a UTF-8 Encoded String or Binary Data may have length 0: 3.1.1
    /// sections 1.5.3 and 3.1.3.5, 5.0 sections 1.5.4 and 1.5.6). For 3.1.1 it even writes
    /// `Login { username: "", password: "p" }` as a Password without the User Name Flag, which
    /// [MQTT-3.1.2-22] forbids.
    EmptyCredentialDropped,
    /// Its v5 property readers count the identifier byte of a Subscription Identifier twice
    /// (`cursor += 1` for every property, then `cursor += 1 + id_len`), so after `k` of them
    /// they believe they are `k` bytes further into the property block than they are and stop
    /// early once that reaches the end of the block (5.0 section 2.2.2.1: the Property Length
    /// counts the properties exactly). A PUBLISH may carry several Subscription Identifiers
    /// (5.0 section 3.3.2.3.8) followed by other properties: the unread ones (further
    /// identifiers, Content Type) are taken as payload. See [`subscription_ids_overcounted`].
    /// (SUBSCRIBE has the same miscount but at most one identifier, followed in our encoding
    /// only by User Properties of at least 5 bytes, so it never bites there.)
    SubscriptionIdOvercounted,
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Our encoder, mqttbytes' reader.
    OursToTheirs,
    /// mqttbytes' writer, our decoder.
    TheirsToOurs,
}

/// Whether mqttbytes' PUBLISH property reader stops before the end of the block we encode
/// for `p` ([`Allowed::SubscriptionIdOvercounted`]). Our encoder writes the Subscription
/// Identifiers after every other property but Content Type; everything before them is read
/// correctly.
fn subscription_ids_overcounted(p: &PublishProps) -> bool {
    let vbi_len = |n: u32| match n {
        0..=0x7F => 1,
        0x80..=0x3FFF => 2,
        0x4000..=0x1F_FFFF => 3,
        _ => 4,
    };
    let ids: Vec<usize> = p
        .subscription_identifiers
        .iter()
        .map(|&id| 1 + vbi_len(id))
        .collect();
    let mut remaining =
        ids.iter().sum::<usize>() + p.content_type.as_ref().map_or(0, |ct| 3 + ct.len());
    for (read, size) in ids.iter().enumerate() {
        remaining -= size;
        // After `read + 1` identifiers the reader's cursor is `read + 1` bytes ahead.
        if remaining > 0 && read + 1 >= remaining {
            return true;
        }
    }
    false
}

/// The allowlist entry explaining why mqttbytes disagrees with us on `d` in version `v`,
/// travelling in `dir`, or `None` when the two must agree.
fn classify(dir: Direction, v: ProtocolVersion, d: &Desc) -> Option<Allowed> {
    match d {
        Desc::Connect(c) => {
            if c.protocol == ProtocolVersion::V3_1 {
                return Some(Allowed::Mqtt31Connect);
            }
            if c.password
                .as_deref()
                .is_some_and(|p| std::str::from_utf8(p).is_err())
            {
                return Some(Allowed::PasswordNotUtf8);
            }
            if c.username.as_deref() == Some("") || c.password.as_deref() == Some(&[]) {
                return Some(Allowed::EmptyCredentialDropped);
            }
            None
        }
        Desc::Auth(_) => Some(Allowed::NoAuthPacket),
        Desc::Publish(p)
            if v.is_v5()
                && dir == Direction::OursToTheirs
                && subscription_ids_overcounted(&p.properties) =>
        {
            Some(Allowed::SubscriptionIdOvercounted)
        }
        Desc::Disconnect(x) if v.is_v5() && dir == Direction::OursToTheirs => {
            let no_properties = x.session_expiry_interval.is_none()
                && x.reason_string.is_none()
                && x.server_reference.is_none()
                && x.user_properties.is_empty();
            // A Reason Code is always followed by a Property Length in our encoding (see
            // the note below `ZeroLengthDisconnect` in `allowlist_entries_are_real`).
            (no_properties && x.reason == ReasonCode::NORMAL_DISCONNECTION)
                .then_some(Allowed::ZeroLengthDisconnect)
        }
        _ => None,
    }
}

// --- small conversions -------------------------------------------------------------------

fn their_qos(q: QoS) -> mqttbytes::QoS {
    match q {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

fn our_qos(q: mqttbytes::QoS) -> QoS {
    match q {
        mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
        mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
        mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

fn qos_pid(q: mqttbytes::QoS, pkid: u16) -> Option<QosPid> {
    Some(match q {
        mqttbytes::QoS::AtMostOnce => QosPid::AtMostOnce,
        mqttbytes::QoS::AtLeastOnce => QosPid::AtLeastOnce(PacketId::new(pkid)?),
        mqttbytes::QoS::ExactlyOnce => QosPid::ExactlyOnce(PacketId::new(pkid)?),
    })
}

fn pkid_of(q: QosPid) -> u16 {
    q.packet_id().map_or(0, PacketId::get)
}

/// mqttbytes' `Login`: user name and password as strings, empty meaning absent. A non-UTF-8
/// password is converted lossily (see [`Allowed::PasswordNotUtf8`]).
fn their_login(c: &ConnectD) -> Option<(String, String)> {
    if c.username.is_none() && c.password.is_none() {
        return None;
    }
    Some((
        c.username.clone().unwrap_or_default(),
        String::from_utf8_lossy(c.password.as_deref().unwrap_or_default()).into_owned(),
    ))
}

fn our_login(username: String, password: String) -> (Option<String>, Option<Vec<u8>>) {
    (
        (!username.is_empty()).then_some(username),
        (!password.is_empty()).then(|| password.into_bytes()),
    )
}

fn protocol_of(p: Protocol) -> ProtocolVersion {
    match p {
        Protocol::V4 => ProtocolVersion::V3_1_1,
        Protocol::V5 => ProtocolVersion::V5,
    }
}

fn flag(b: Option<u8>) -> Option<Option<bool>> {
    match b {
        None => Some(None),
        Some(0) => Some(Some(false)),
        Some(1) => Some(Some(true)),
        Some(_) => None,
    }
}

fn nz16(n: Option<u16>) -> Option<Option<NonZeroU16>> {
    match n {
        None => Some(None),
        Some(n) => NonZeroU16::new(n).map(Some),
    }
}

fn nz32(n: Option<u32>) -> Option<Option<NonZeroU32>> {
    match n {
        None => Some(None),
        Some(n) => NonZeroU32::new(n).map(Some),
    }
}

fn payload_format(b: Option<u8>) -> Option<Option<PayloadFormat>> {
    match b {
        None => Some(None),
        Some(0) => Some(Some(PayloadFormat::Unspecified)),
        Some(1) => Some(Some(PayloadFormat::Utf8)),
        Some(_) => None,
    }
}

fn bytes_of(b: Option<&Vec<u8>>) -> Option<Bytes> {
    b.map(|b| Bytes::from(b.clone()))
}

fn vec_of(b: Option<Bytes>) -> Option<Vec<u8>> {
    b.map(|b| b.to_vec())
}

/// Finds the variant of a `#[repr(u8)]` mqttbytes reason enum with wire value `b`.
macro_rules! their_code {
    ($ty:ty: $($variant:ident),+ $(,)?) => {
        |b: u8| -> Option<$ty> { [$(<$ty>::$variant),+].into_iter().find(|c| *c as u8 == b) }
    };
}

// --- 3.1 / 3.1.1: mqttbytes::v4 ----------------------------------------------------------

/// The mqttbytes v4 packet for a description (`None` only where it has no such packet).
fn to_v4(d: &Desc) -> Option<v4::Packet> {
    let ack_pkid = |a: &AckD| a.packet_id.get();
    Some(match d {
        Desc::Connect(c) => v4::Packet::Connect(v4::Connect {
            protocol: Protocol::V4,
            keep_alive: c.keep_alive,
            client_id: c.client_id.clone(),
            clean_session: c.clean_start,
            last_will: c.will.as_ref().map(|w| v4::LastWill {
                topic: w.topic.clone(),
                message: Bytes::from(w.payload.clone()),
                qos: their_qos(w.qos),
                retain: w.retain,
            }),
            login: their_login(c).map(|(username, password)| v4::Login { username, password }),
        }),
        Desc::ConnAck(c) => {
            use v4::ConnectReturnCode as C;
            let code = their_code!(C: Success, RefusedProtocolVersion, BadClientId,
                ServiceUnavailable, BadUserNamePassword, NotAuthorized);
            v4::Packet::ConnAck(v4::ConnAck {
                session_present: c.session_present,
                code: code(c.reason.to_v3_connack()?)?,
            })
        }
        Desc::Publish(p) => v4::Packet::Publish(v4::Publish {
            dup: p.dup,
            qos: their_qos(p.qos_pid.qos()),
            retain: p.retain,
            topic: p.topic.clone(),
            pkid: pkid_of(p.qos_pid),
            payload: Bytes::from(p.payload.clone()),
        }),
        Desc::PubAck(a) => v4::Packet::PubAck(v4::PubAck { pkid: ack_pkid(a) }),
        Desc::PubRec(a) => v4::Packet::PubRec(v4::PubRec { pkid: ack_pkid(a) }),
        Desc::PubRel(a) => v4::Packet::PubRel(v4::PubRel { pkid: ack_pkid(a) }),
        Desc::PubComp(a) => v4::Packet::PubComp(v4::PubComp { pkid: ack_pkid(a) }),
        Desc::Subscribe(s) => v4::Packet::Subscribe(v4::Subscribe {
            pkid: s.packet_id.get(),
            filters: s
                .filters
                .iter()
                .map(|(path, o)| v4::SubscribeFilter::new(path.clone(), their_qos(o.qos)))
                .collect(),
        }),
        Desc::SubAck(a) => v4::Packet::SubAck(v4::SubAck {
            pkid: a.packet_id.get(),
            return_codes: a
                .reason_codes
                .iter()
                .map(|r| v4::SubscribeReasonCode::try_from(r.to_v3_suback()?).ok())
                .collect::<Option<_>>()?,
        }),
        Desc::Unsubscribe(u) => v4::Packet::Unsubscribe(v4::Unsubscribe {
            pkid: u.packet_id.get(),
            topics: u.filters.clone(),
        }),
        Desc::UnsubAck(a) => v4::Packet::UnsubAck(v4::UnsubAck {
            pkid: a.packet_id.get(),
        }),
        Desc::PingReq => v4::Packet::PingReq,
        Desc::PingResp => v4::Packet::PingResp,
        Desc::Disconnect(_) => v4::Packet::Disconnect,
        Desc::Auth(_) => return None,
    })
}

fn write_v4(p: &v4::Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let result = match p {
        v4::Packet::Connect(x) => x.write(&mut buf),
        v4::Packet::ConnAck(x) => x.write(&mut buf),
        v4::Packet::Publish(x) => x.write(&mut buf),
        v4::Packet::PubAck(x) => x.write(&mut buf),
        v4::Packet::PubRec(x) => x.write(&mut buf),
        v4::Packet::PubRel(x) => x.write(&mut buf),
        v4::Packet::PubComp(x) => x.write(&mut buf),
        v4::Packet::Subscribe(x) => x.write(&mut buf),
        v4::Packet::SubAck(x) => x.write(&mut buf),
        v4::Packet::Unsubscribe(x) => x.write(&mut buf),
        v4::Packet::UnsubAck(x) => x.write(&mut buf),
        v4::Packet::PingReq => v4::PingReq.write(&mut buf),
        v4::Packet::PingResp => v4::PingResp.write(&mut buf),
        v4::Packet::Disconnect => v4::Disconnect.write(&mut buf),
    };
    result.unwrap_or_else(|e| panic!("mqttbytes v4 write failed: {e:?} for {p:?}"));
    buf.to_vec()
}

fn ack3(pkid: u16) -> Option<AckD> {
    Some(AckD {
        packet_id: PacketId::new(pkid)?,
        reason: ReasonCode::Success,
        properties: AckProps::default(),
    })
}

/// Our description of an mqttbytes v4 packet (`None` if ours cannot represent it).
fn from_v4(p: v4::Packet) -> Option<Desc> {
    Some(match p {
        v4::Packet::Connect(c) => {
            let (username, password) = c
                .login
                .map_or((None, None), |l| our_login(l.username, l.password));
            Desc::Connect(ConnectD {
                protocol: protocol_of(c.protocol),
                clean_start: c.clean_session,
                keep_alive: c.keep_alive,
                client_id: c.client_id,
                will: c.last_will.map(|w| WillD {
                    topic: w.topic,
                    payload: w.message.to_vec(),
                    qos: our_qos(w.qos),
                    retain: w.retain,
                    properties: WillProps::default(),
                }),
                username,
                password,
                properties: ConnectProps::default(),
            })
        }
        v4::Packet::ConnAck(c) => Desc::ConnAck(ConnAckD {
            session_present: c.session_present,
            reason: ReasonCode::from_v3_connack(c.code as u8)?,
            properties: ConnAckProps::default(),
        }),
        v4::Packet::Publish(p) => Desc::Publish(PublishD {
            dup: p.dup,
            qos_pid: qos_pid(p.qos, p.pkid)?,
            retain: p.retain,
            topic: p.topic,
            payload: p.payload.to_vec(),
            properties: PublishProps::default(),
        }),
        v4::Packet::PubAck(a) => Desc::PubAck(ack3(a.pkid)?),
        v4::Packet::PubRec(a) => Desc::PubRec(ack3(a.pkid)?),
        v4::Packet::PubRel(a) => Desc::PubRel(ack3(a.pkid)?),
        v4::Packet::PubComp(a) => Desc::PubComp(ack3(a.pkid)?),
        v4::Packet::Subscribe(s) => Desc::Subscribe(SubscribeD {
            packet_id: PacketId::new(s.pkid)?,
            filters: s
                .filters
                .into_iter()
                .map(|f| (f.path, SubscriptionOptions::new(our_qos(f.qos))))
                .collect(),
            subscription_identifier: None,
            user_properties: Users::new(),
        }),
        v4::Packet::SubAck(a) => Desc::SubAck(SubAckD {
            packet_id: PacketId::new(a.pkid)?,
            reason_codes: a
                .return_codes
                .into_iter()
                .map(|c| match c {
                    v4::SubscribeReasonCode::Success(mqttbytes::QoS::AtMostOnce) => {
                        ReasonCode::GRANTED_QOS_0
                    }
                    v4::SubscribeReasonCode::Success(mqttbytes::QoS::AtLeastOnce) => {
                        ReasonCode::GrantedQoS1
                    }
                    v4::SubscribeReasonCode::Success(mqttbytes::QoS::ExactlyOnce) => {
                        ReasonCode::GrantedQoS2
                    }
                    v4::SubscribeReasonCode::Failure => ReasonCode::UnspecifiedError,
                })
                .collect(),
            properties: AckProps::default(),
        }),
        v4::Packet::Unsubscribe(u) => Desc::Unsubscribe(UnsubscribeD {
            packet_id: PacketId::new(u.pkid)?,
            filters: u.topics,
            user_properties: Users::new(),
        }),
        v4::Packet::UnsubAck(a) => Desc::UnsubAck(SubAckD {
            packet_id: PacketId::new(a.pkid)?,
            reason_codes: Vec::new(),
            properties: AckProps::default(),
        }),
        v4::Packet::PingReq => Desc::PingReq,
        v4::Packet::PingResp => Desc::PingResp,
        v4::Packet::Disconnect => Desc::Disconnect(DisconnectD::default()),
    })
}

// --- 5.0: mqttbytes::v5 ------------------------------------------------------------------

/// mqttbytes' optional ack properties: `None` when there are none.
macro_rules! their_ack_props {
    ($ty:ident, $p:expr) => {
        (!$p.is_empty()).then(|| v5::$ty {
            reason_string: $p.reason_string.clone(),
            user_properties: $p.user_properties.clone(),
        })
    };
}

fn our_ack_props(p: Option<(Option<String>, Users)>) -> AckProps {
    p.map_or_else(AckProps::default, |(reason_string, user_properties)| {
        AckProps {
            reason_string,
            user_properties,
        }
    })
}

fn their_will_props(p: &WillProps) -> Option<v5::WillProperties> {
    (*p != WillProps::default()).then(|| v5::WillProperties {
        delay_interval: p.will_delay_interval,
        payload_format_indicator: p.payload_format_indicator.map(|f| f as u8),
        message_expiry_interval: p.message_expiry_interval,
        content_type: p.content_type.clone(),
        response_topic: p.response_topic.clone(),
        correlation_data: bytes_of(p.correlation_data.as_ref()),
        user_properties: p.user_properties.clone(),
    })
}

fn their_connect_props(p: &ConnectProps) -> Option<v5::ConnectProperties> {
    (*p != ConnectProps::default()).then(|| v5::ConnectProperties {
        session_expiry_interval: p.session_expiry_interval,
        receive_maximum: p.receive_maximum.map(NonZeroU16::get),
        max_packet_size: p.maximum_packet_size.map(NonZeroU32::get),
        topic_alias_max: p.topic_alias_maximum,
        request_response_info: p.request_response_information.map(u8::from),
        request_problem_info: p.request_problem_information.map(u8::from),
        user_properties: p.user_properties.clone(),
        authentication_method: p.authentication_method.clone(),
        authentication_data: bytes_of(p.authentication_data.as_ref()),
    })
}

fn their_connack_props(p: &ConnAckProps) -> v5::ConnAckProperties {
    v5::ConnAckProperties {
        session_expiry_interval: p.session_expiry_interval,
        receive_max: p.receive_maximum.map(NonZeroU16::get),
        max_qos: p.maximum_qos.map(|q| q as u8),
        retain_available: p.retain_available.map(u8::from),
        max_packet_size: p.maximum_packet_size.map(NonZeroU32::get),
        assigned_client_identifier: p.assigned_client_identifier.clone(),
        topic_alias_max: p.topic_alias_maximum,
        reason_string: p.reason_string.clone(),
        user_properties: p.user_properties.clone(),
        wildcard_subscription_available: p.wildcard_subscription_available.map(u8::from),
        subscription_identifiers_available: p.subscription_identifiers_available.map(u8::from),
        shared_subscription_available: p.shared_subscription_available.map(u8::from),
        server_keep_alive: p.server_keep_alive,
        response_information: p.response_information.clone(),
        server_reference: p.server_reference.clone(),
        authentication_method: p.authentication_method.clone(),
        authentication_data: bytes_of(p.authentication_data.as_ref()),
    }
}

fn their_publish_props(p: &PublishProps) -> Option<v5::PublishProperties> {
    (*p != PublishProps::default()).then(|| v5::PublishProperties {
        payload_format_indicator: p.payload_format_indicator.map(|f| f as u8),
        message_expiry_interval: p.message_expiry_interval,
        topic_alias: p.topic_alias.map(NonZeroU16::get),
        response_topic: p.response_topic.clone(),
        correlation_data: bytes_of(p.correlation_data.as_ref()),
        user_properties: p.user_properties.clone(),
        subscription_identifiers: p
            .subscription_identifiers
            .iter()
            .map(|&id| id as usize)
            .collect(),
        content_type: p.content_type.clone(),
    })
}

/// The mqttbytes v5 packet for a description (`None` only where it has no such packet).
fn to_v5(d: &Desc) -> Option<v5::Packet> {
    Some(match d {
        Desc::Connect(c) => v5::Packet::Connect(v5::Connect {
            protocol: Protocol::V5,
            keep_alive: c.keep_alive,
            client_id: c.client_id.clone(),
            clean_session: c.clean_start,
            last_will: c.will.as_ref().map(|w| v5::LastWill {
                topic: w.topic.clone(),
                message: Bytes::from(w.payload.clone()),
                qos: their_qos(w.qos),
                retain: w.retain,
                properties: their_will_props(&w.properties),
            }),
            login: their_login(c).map(|(username, password)| v5::Login { username, password }),
            properties: their_connect_props(&c.properties),
        }),
        Desc::ConnAck(c) => {
            use v5::ConnectReturnCode as C;
            let code = their_code!(C: Success, UnspecifiedError, MalformedPacket, ProtocolError,
                ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
                BadUserNamePassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
                BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
                PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
                ServerMoved, ConnectionRateExceeded);
            v5::Packet::ConnAck(v5::ConnAck {
                session_present: c.session_present,
                code: code(c.reason.code())?,
                // Always `Some`: see `Allowed::ConnAckWithoutPropertyLength`.
                properties: Some(their_connack_props(&c.properties)),
            })
        }
        Desc::Publish(p) => v5::Packet::Publish(v5::Publish {
            dup: p.dup,
            qos: their_qos(p.qos_pid.qos()),
            retain: p.retain,
            topic: p.topic.clone(),
            pkid: pkid_of(p.qos_pid),
            properties: their_publish_props(&p.properties),
            payload: Bytes::from(p.payload.clone()),
        }),
        Desc::PubAck(a) => {
            use v5::PubAckReason as R;
            let code = their_code!(R: Success, NoMatchingSubscribers, UnspecifiedError,
                ImplementationSpecificError, NotAuthorized, TopicNameInvalid,
                PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid);
            v5::Packet::PubAck(v5::PubAck {
                pkid: a.packet_id.get(),
                reason: code(a.reason.code())?,
                properties: their_ack_props!(PubAckProperties, a.properties),
            })
        }
        Desc::PubRec(a) => {
            use v5::PubRecReason as R;
            let code = their_code!(R: Success, NoMatchingSubscribers, UnspecifiedError,
                ImplementationSpecificError, NotAuthorized, TopicNameInvalid,
                PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid);
            v5::Packet::PubRec(v5::PubRec {
                pkid: a.packet_id.get(),
                reason: code(a.reason.code())?,
                properties: their_ack_props!(PubRecProperties, a.properties),
            })
        }
        Desc::PubRel(a) => {
            use v5::PubRelReason as R;
            let code = their_code!(R: Success, PacketIdentifierNotFound);
            v5::Packet::PubRel(v5::PubRel {
                pkid: a.packet_id.get(),
                reason: code(a.reason.code())?,
                properties: their_ack_props!(PubRelProperties, a.properties),
            })
        }
        Desc::PubComp(a) => {
            use v5::PubCompReason as R;
            let code = their_code!(R: Success, PacketIdentifierNotFound);
            v5::Packet::PubComp(v5::PubComp {
                pkid: a.packet_id.get(),
                reason: code(a.reason.code())?,
                properties: their_ack_props!(PubCompProperties, a.properties),
            })
        }
        Desc::Subscribe(s) => v5::Packet::Subscribe(v5::Subscribe {
            pkid: s.packet_id.get(),
            filters: s
                .filters
                .iter()
                .map(|(path, o)| v5::SubscribeFilter {
                    path: path.clone(),
                    qos: their_qos(o.qos),
                    nolocal: o.no_local,
                    preserve_retain: o.retain_as_published,
                    retain_forward_rule: match o.retain_handling {
                        RetainHandling::SendAtSubscribe => v5::RetainForwardRule::OnEverySubscribe,
                        RetainHandling::SendAtSubscribeIfNew => {
                            v5::RetainForwardRule::OnNewSubscribe
                        }
                        RetainHandling::DoNotSend => v5::RetainForwardRule::Never,
                    },
                })
                .collect(),
            properties: (s.subscription_identifier.is_some() || !s.user_properties.is_empty())
                .then(|| v5::SubscribeProperties {
                    id: s.subscription_identifier.map(|id| id.get() as usize),
                    user_properties: s.user_properties.clone(),
                }),
        }),
        Desc::SubAck(a) => v5::Packet::SubAck(v5::SubAck {
            pkid: a.packet_id.get(),
            return_codes: a
                .reason_codes
                .iter()
                .map(|r| v5::SubscribeReasonCode::try_from(r.code()).ok())
                .collect::<Option<_>>()?,
            properties: their_ack_props!(SubAckProperties, a.properties),
        }),
        Desc::Unsubscribe(u) => v5::Packet::Unsubscribe(v5::Unsubscribe {
            pkid: u.packet_id.get(),
            filters: u.filters.clone(),
            properties: (!u.user_properties.is_empty()).then(|| v5::UnsubscribeProperties {
                user_properties: u.user_properties.clone(),
            }),
        }),
        Desc::UnsubAck(a) => {
            use v5::UnsubAckReason as R;
            let code = their_code!(R: Success, NoSubscriptionExisted, UnspecifiedError,
                ImplementationSpecificError, NotAuthorized, TopicFilterInvalid,
                PacketIdentifierInUse);
            v5::Packet::UnsubAck(v5::UnsubAck {
                pkid: a.packet_id.get(),
                reasons: a
                    .reason_codes
                    .iter()
                    .map(|r| code(r.code()))
                    .collect::<Option<_>>()?,
                properties: their_ack_props!(UnsubAckProperties, a.properties),
            })
        }
        Desc::PingReq => v5::Packet::PingReq,
        Desc::PingResp => v5::Packet::PingResp,
        Desc::Disconnect(x) => v5::Packet::Disconnect(v5::Disconnect {
            reason_code: v5::DisconnectReasonCode::try_from(x.reason.code()).ok()?,
            properties: (x.session_expiry_interval.is_some()
                || x.reason_string.is_some()
                || x.server_reference.is_some()
                || !x.user_properties.is_empty())
            .then(|| v5::DisconnectProperties {
                session_expiry_interval: x.session_expiry_interval,
                reason_string: x.reason_string.clone(),
                user_properties: x.user_properties.clone(),
                server_reference: x.server_reference.clone(),
            }),
        }),
        Desc::Auth(_) => return None,
    })
}

fn write_v5(p: &v5::Packet) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let result = match p {
        v5::Packet::Connect(x) => x.write(&mut buf),
        v5::Packet::ConnAck(x) => x.write(&mut buf),
        v5::Packet::Publish(x) => x.write(&mut buf),
        v5::Packet::PubAck(x) => x.write(&mut buf),
        v5::Packet::PubRec(x) => x.write(&mut buf),
        v5::Packet::PubRel(x) => x.write(&mut buf),
        v5::Packet::PubComp(x) => x.write(&mut buf),
        v5::Packet::Subscribe(x) => x.write(&mut buf),
        v5::Packet::SubAck(x) => x.write(&mut buf),
        v5::Packet::Unsubscribe(x) => x.write(&mut buf),
        v5::Packet::UnsubAck(x) => x.write(&mut buf),
        v5::Packet::PingReq => v5::PingReq.write(&mut buf),
        v5::Packet::PingResp => v5::PingResp.write(&mut buf),
        v5::Packet::Disconnect(x) => x.write(&mut buf),
    };
    result.unwrap_or_else(|e| panic!("mqttbytes v5 write failed: {e:?} for {p:?}"));
    buf.to_vec()
}

fn ack5(pkid: u16, reason: u8, props: Option<(Option<String>, Users)>) -> Option<AckD> {
    Some(AckD {
        packet_id: PacketId::new(pkid)?,
        reason: ReasonCode::try_from(reason).ok()?,
        properties: our_ack_props(props),
    })
}

/// Our description of an mqttbytes v5 packet (`None` if ours cannot represent it).
fn from_v5(p: v5::Packet) -> Option<Desc> {
    Some(match p {
        v5::Packet::Connect(c) => {
            let (username, password) = c
                .login
                .map_or((None, None), |l| our_login(l.username, l.password));
            let will = match c.last_will {
                None => None,
                Some(w) => {
                    let p = w.properties;
                    let properties = match p {
                        None => WillProps::default(),
                        Some(p) => WillProps {
                            will_delay_interval: p.delay_interval,
                            payload_format_indicator: payload_format(p.payload_format_indicator)?,
                            message_expiry_interval: p.message_expiry_interval,
                            content_type: p.content_type,
                            response_topic: p.response_topic,
                            correlation_data: vec_of(p.correlation_data),
                            user_properties: p.user_properties,
                        },
                    };
                    Some(WillD {
                        topic: w.topic,
                        payload: w.message.to_vec(),
                        qos: our_qos(w.qos),
                        retain: w.retain,
                        properties,
                    })
                }
            };
            let properties = match c.properties {
                None => ConnectProps::default(),
                Some(p) => ConnectProps {
                    session_expiry_interval: p.session_expiry_interval,
                    receive_maximum: nz16(p.receive_maximum)?,
                    maximum_packet_size: nz32(p.max_packet_size)?,
                    topic_alias_maximum: p.topic_alias_max,
                    request_response_information: flag(p.request_response_info)?,
                    request_problem_information: flag(p.request_problem_info)?,
                    authentication_method: p.authentication_method,
                    authentication_data: vec_of(p.authentication_data),
                    user_properties: p.user_properties,
                },
            };
            Desc::Connect(ConnectD {
                protocol: protocol_of(c.protocol),
                clean_start: c.clean_session,
                keep_alive: c.keep_alive,
                client_id: c.client_id,
                will,
                username,
                password,
                properties,
            })
        }
        v5::Packet::ConnAck(c) => {
            let properties = match c.properties {
                None => ConnAckProps::default(),
                Some(p) => ConnAckProps {
                    session_expiry_interval: p.session_expiry_interval,
                    receive_maximum: nz16(p.receive_max)?,
                    maximum_qos: match p.max_qos {
                        None => None,
                        Some(0) => Some(QoS::AtMostOnce),
                        Some(1) => Some(QoS::AtLeastOnce),
                        Some(_) => return None,
                    },
                    retain_available: flag(p.retain_available)?,
                    maximum_packet_size: nz32(p.max_packet_size)?,
                    assigned_client_identifier: p.assigned_client_identifier,
                    topic_alias_maximum: p.topic_alias_max,
                    reason_string: p.reason_string,
                    wildcard_subscription_available: flag(p.wildcard_subscription_available)?,
                    subscription_identifiers_available: flag(p.subscription_identifiers_available)?,
                    shared_subscription_available: flag(p.shared_subscription_available)?,
                    server_keep_alive: p.server_keep_alive,
                    response_information: p.response_information,
                    server_reference: p.server_reference,
                    authentication_method: p.authentication_method,
                    authentication_data: vec_of(p.authentication_data),
                    user_properties: p.user_properties,
                },
            };
            Desc::ConnAck(ConnAckD {
                session_present: c.session_present,
                reason: ReasonCode::try_from(c.code as u8).ok()?,
                properties,
            })
        }
        v5::Packet::Publish(p) => {
            let properties = match p.properties {
                None => PublishProps::default(),
                Some(q) => PublishProps {
                    payload_format_indicator: payload_format(q.payload_format_indicator)?,
                    message_expiry_interval: q.message_expiry_interval,
                    topic_alias: nz16(q.topic_alias)?,
                    response_topic: q.response_topic,
                    correlation_data: vec_of(q.correlation_data),
                    user_properties: q.user_properties,
                    subscription_identifiers: q
                        .subscription_identifiers
                        .into_iter()
                        .map(|id| u32::try_from(id).ok())
                        .collect::<Option<_>>()?,
                    content_type: q.content_type,
                },
            };
            Desc::Publish(PublishD {
                dup: p.dup,
                qos_pid: qos_pid(p.qos, p.pkid)?,
                retain: p.retain,
                topic: p.topic,
                payload: p.payload.to_vec(),
                properties,
            })
        }
        v5::Packet::PubAck(a) => Desc::PubAck(ack5(
            a.pkid,
            a.reason as u8,
            a.properties.map(|p| (p.reason_string, p.user_properties)),
        )?),
        v5::Packet::PubRec(a) => Desc::PubRec(ack5(
            a.pkid,
            a.reason as u8,
            a.properties.map(|p| (p.reason_string, p.user_properties)),
        )?),
        v5::Packet::PubRel(a) => Desc::PubRel(ack5(
            a.pkid,
            a.reason as u8,
            a.properties.map(|p| (p.reason_string, p.user_properties)),
        )?),
        v5::Packet::PubComp(a) => Desc::PubComp(ack5(
            a.pkid,
            a.reason as u8,
            a.properties.map(|p| (p.reason_string, p.user_properties)),
        )?),
        v5::Packet::Subscribe(s) => {
            let (sid, user_properties) = s
                .properties
                .map_or((None, Users::new()), |p| (p.id, p.user_properties));
            Desc::Subscribe(SubscribeD {
                packet_id: PacketId::new(s.pkid)?,
                filters: s
                    .filters
                    .into_iter()
                    .map(|f| {
                        let options = SubscriptionOptions {
                            qos: our_qos(f.qos),
                            no_local: f.nolocal,
                            retain_as_published: f.preserve_retain,
                            retain_handling: match f.retain_forward_rule {
                                v5::RetainForwardRule::OnEverySubscribe => {
                                    RetainHandling::SendAtSubscribe
                                }
                                v5::RetainForwardRule::OnNewSubscribe => {
                                    RetainHandling::SendAtSubscribeIfNew
                                }
                                v5::RetainForwardRule::Never => RetainHandling::DoNotSend,
                            },
                        };
                        (f.path, options)
                    })
                    .collect(),
                subscription_identifier: match sid {
                    None => None,
                    Some(id) => Some(NonZeroU32::new(u32::try_from(id).ok()?)?),
                },
                user_properties,
            })
        }
        v5::Packet::SubAck(a) => Desc::SubAck(SubAckD {
            packet_id: PacketId::new(a.pkid)?,
            reason_codes: a
                .return_codes
                .into_iter()
                .map(|c| ReasonCode::try_from(c as u8).ok())
                .collect::<Option<_>>()?,
            properties: our_ack_props(a.properties.map(|p| (p.reason_string, p.user_properties))),
        }),
        v5::Packet::Unsubscribe(u) => Desc::Unsubscribe(UnsubscribeD {
            packet_id: PacketId::new(u.pkid)?,
            filters: u.filters,
            user_properties: u.properties.map_or_else(Users::new, |p| p.user_properties),
        }),
        v5::Packet::UnsubAck(a) => Desc::UnsubAck(SubAckD {
            packet_id: PacketId::new(a.pkid)?,
            reason_codes: a
                .reasons
                .into_iter()
                .map(|c| ReasonCode::try_from(c as u8).ok())
                .collect::<Option<_>>()?,
            properties: our_ack_props(a.properties.map(|p| (p.reason_string, p.user_properties))),
        }),
        v5::Packet::PingReq => Desc::PingReq,
        v5::Packet::PingResp => Desc::PingResp,
        v5::Packet::Disconnect(x) => {
            let mut d = DisconnectD {
                reason: ReasonCode::try_from(x.reason_code as u8).ok()?,
                ..DisconnectD::default()
            };
            if let Some(p) = x.properties {
                d.session_expiry_interval = p.session_expiry_interval;
                d.reason_string = p.reason_string;
                d.server_reference = p.server_reference;
                d.user_properties = p.user_properties;
            }
            Desc::Disconnect(d)
        }
    })
}

// --- the two directions ------------------------------------------------------------------

/// Our encoding, read by mqttbytes: `Err` describes the disagreement.
fn ours_to_theirs(v: ProtocolVersion, d: &Desc) -> Result<(), String> {
    let bytes = d.encode(v);
    let mut stream = BytesMut::from(&bytes[..]);
    let back = if v.is_v5() {
        let p = v5::read(&mut stream, MAX).map_err(|e| format!("v5::read failed: {e:?}"))?;
        from_v5(p.clone()).ok_or_else(|| format!("{p:?} has no equivalent in ours"))?
    } else {
        let p = v4::read(&mut stream, MAX).map_err(|e| format!("v4::read failed: {e:?}"))?;
        from_v4(p.clone()).ok_or_else(|| format!("{p:?} has no equivalent in ours"))?
    };
    if !stream.is_empty() {
        return Err(format!("mqttbytes left {} bytes unread", stream.len()));
    }
    if &back != d {
        return Err(format!("mqttbytes read {back:?}"));
    }
    Ok(())
}

/// mqttbytes' encoding, decoded by us: `Err` describes the disagreement.
fn theirs_to_ours(v: ProtocolVersion, d: &Desc) -> Result<(), String> {
    let theirs = if v.is_v5() {
        to_v5(d).map(|p| write_v5(&p))
    } else {
        to_v4(d).map(|p| write_v4(&p))
    };
    let bytes = theirs.ok_or("mqttbytes cannot represent it")?;
    let decoded =
        Packet::decode(v, &bytes).map_err(|e| format!("we reject {bytes:02x?}: {e:?}"))?;
    d.with_packet(|p| {
        if decoded == *p {
            Ok(())
        } else {
            Err(format!("we decode {bytes:02x?} as {decoded:?}"))
        }
    })?;
    let mut reader = FrameReader::with_version(v, MAX as u32);
    let framed = reader.decode(&bytes);
    if framed
        != Ok(Decoded::Packet {
            packet: decoded,
            consumed: bytes.len(),
        })
    {
        return Err(format!("frame reader: {framed:?}"));
    }
    if !v.is_v5() {
        let ours = d.encode(v);
        if ours != bytes {
            return Err(format!(
                "bytes differ: ours {ours:02x?} mqttbytes {bytes:02x?}"
            ));
        }
    }
    Ok(())
}

/// Counts of one differential run.
#[derive(Debug, Default)]
struct Stats {
    agreed: Cell<u32>,
    allowed: Cell<u32>,
}

/// Runs both directions for `cases` generated packets; fails on an unexplained
/// disagreement or an allowlist entry that does not apply.
fn differential(versions: Vec<ProtocolVersion>, cases: u32) -> Stats {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let stats = Stats::default();
    let strategy = select(versions).prop_flat_map(|v| (Just(v), packet(v)));
    let result = runner.run(&strategy, |(v, d)| {
        for dir in [Direction::OursToTheirs, Direction::TheirsToOurs] {
            let outcome = match dir {
                Direction::OursToTheirs => ours_to_theirs(v, &d),
                Direction::TheirsToOurs => theirs_to_ours(v, &d),
            };
            match (outcome, classify(dir, v, &d)) {
                (Ok(()), None) => stats.agreed.set(stats.agreed.get() + 1),
                (Err(_), Some(_)) => stats.allowed.set(stats.allowed.get() + 1),
                (Err(why), None) => {
                    return Err(TestCaseError::fail(format!(
                        "unexplained disagreement, {dir:?} in {v:?}: {why}"
                    )));
                }
                (Ok(()), Some(entry)) => {
                    return Err(TestCaseError::fail(format!(
                        "allowlist entry {entry:?} predicted a disagreement, {dir:?} in {v:?}, \
                         but mqttbytes agrees"
                    )));
                }
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    stats
}

#[test]
fn v4_codec_agrees_with_mqttbytes() {
    let stats = differential(vec![ProtocolVersion::V3_1, ProtocolVersion::V3_1_1], 1024);
    eprintln!("3.1 / 3.1.1: {stats:?}");
    // Most cases must be real comparisons, not allowlisted.
    assert!(stats.agreed.get() > 4 * stats.allowed.get(), "{stats:?}");
}

#[test]
fn v5_codec_agrees_with_mqttbytes() {
    let stats = differential(vec![ProtocolVersion::V5], 1024);
    eprintln!("5.0: {stats:?}");
    assert!(stats.agreed.get() > 4 * stats.allowed.get(), "{stats:?}");
}

// --- each allowlist entry is real --------------------------------------------------------

fn connect_31_1(username: Option<&str>, password: Option<&[u8]>) -> Desc {
    Desc::Connect(ConnectD {
        protocol: ProtocolVersion::V3_1_1,
        clean_start: true,
        keep_alive: 60,
        client_id: "c".to_owned(),
        will: None,
        username: username.map(str::to_owned),
        password: password.map(<[u8]>::to_vec),
        properties: ConnectProps::default(),
    })
}

fn read4(bytes: &[u8]) -> Result<v4::Packet, mqttbytes::Error> {
    v4::read(&mut BytesMut::from(bytes), MAX)
}

fn read5(bytes: &[u8]) -> Result<v5::Packet, mqttbytes::Error> {
    v5::read(&mut BytesMut::from(bytes), MAX)
}

#[test]
fn allowlist_entries_are_real() {
    use tern_core::codec::{DecodeError, Malformed};

    // Mqtt31Connect: a valid 3.1 CONNECT is rejected; mqttbytes can only write "MQTT".
    let mut c31 = connect_31_1(Some("u"), Some(b"p"));
    if let Desc::Connect(c) = &mut c31 {
        c.protocol = ProtocolVersion::V3_1;
    }
    let bytes = c31.encode(ProtocolVersion::V3_1);
    assert_eq!(&bytes[2..10], b"\0\x06MQIsdp");
    assert!(Packet::decode(ProtocolVersion::V3_1, &bytes).is_ok());
    assert_eq!(read4(&bytes), Err(mqttbytes::Error::InvalidProtocol));
    assert_eq!(
        classify(Direction::OursToTheirs, ProtocolVersion::V3_1, &c31),
        Some(Allowed::Mqtt31Connect)
    );

    // NoAuthPacket: AUTH (5.0 section 3.15) is an invalid packet type to mqttbytes.
    let auth = Desc::Auth(AuthD {
        reason: ReasonCode::ContinueAuthentication,
        authentication_method: Some("SCRAM-SHA-1".to_owned()),
        authentication_data: Some(vec![1, 2, 3]),
        reason_string: None,
        user_properties: Users::new(),
    });
    let bytes = auth.encode(ProtocolVersion::V5);
    assert!(Packet::decode(ProtocolVersion::V5, &bytes).is_ok());
    assert_eq!(read5(&bytes), Err(mqttbytes::Error::InvalidPacketType(15)));
    assert!(to_v5(&auth).is_none());

    // ZeroLengthDisconnect: `E0 00` is what both sides write for a normal disconnection,
    // and mqttbytes cannot read it.
    let normal = Desc::Disconnect(DisconnectD::default());
    assert_eq!(normal.encode(ProtocolVersion::V5), [0xE0, 0x00]);
    assert_eq!(
        write_v5(&v5::Packet::Disconnect(v5::Disconnect::new())),
        [0xE0, 0x00]
    );
    assert_eq!(read5(&[0xE0, 0x00]), Err(mqttbytes::Error::PayloadRequired));
    assert!(Packet::decode(ProtocolVersion::V5, &[0xE0, 0x00]).is_ok());

    // No longer an entry: mqttbytes' (and rumqttc 0.25's) DISCONNECT reader requires a
    // Property Length after the Reason Code, which 5.0 section 3.14.2.2.1 lets a sender
    // omit ("If the Remaining Length is less than 2, a value of 0 is used"); mqttbytes' own
    // writer omits it and cannot read its output back. Our encoder writes it (one byte) so
    // such clients see why they were disconnected; we still read the short form.
    let taken_over = Desc::Disconnect(DisconnectD {
        reason: ReasonCode::SessionTakenOver,
        ..DisconnectD::default()
    });
    assert_eq!(
        taken_over.encode(ProtocolVersion::V5),
        [0xE0, 0x02, 0x8E, 0x00]
    );
    assert!(read5(&[0xE0, 0x02, 0x8E, 0x00]).is_ok());
    assert_eq!(
        write_v5(&to_v5(&taken_over).expect("representable")),
        [0xE0, 0x01, 0x8E]
    );
    assert!(read5(&[0xE0, 0x01, 0x8E]).is_err());
    assert_eq!(
        Packet::decode(ProtocolVersion::V5, &[0xE0, 0x01, 0x8E]).map(|p| Desc::from_packet(&p)),
        Ok(taken_over)
    );

    // ConnAckWithoutPropertyLength: `properties: None` omits the mandatory Property Length.
    let entry = Allowed::ConnAckWithoutPropertyLength;
    let bare = write_v5(&v5::Packet::ConnAck(v5::ConnAck::new(
        v5::ConnectReturnCode::Success,
        false,
    )));
    assert_eq!(bare, [0x20, 0x02, 0x00, 0x00], "{entry:?}");
    assert_eq!(
        Packet::decode(ProtocolVersion::V5, &bare),
        Err(DecodeError::Malformed(Malformed::UnexpectedEnd)),
        "{entry:?}"
    );
    assert!(
        read5(&bare).is_err(),
        "mqttbytes cannot read its own CONNACK"
    );

    // PasswordNotUtf8: a binary password is rejected by mqttbytes.
    let binary_pw = connect_31_1(Some("u"), Some(&[0xFF, 0x00]));
    let bytes = binary_pw.encode(ProtocolVersion::V3_1_1);
    assert!(Packet::decode(ProtocolVersion::V3_1_1, &bytes).is_ok());
    assert_eq!(read4(&bytes), Err(mqttbytes::Error::TopicNotUtf8));
    let bytes5 = {
        let mut d = binary_pw.clone();
        if let Desc::Connect(c) = &mut d {
            c.protocol = ProtocolVersion::V5;
        }
        d.encode(ProtocolVersion::V5)
    };
    assert_eq!(read5(&bytes5), Err(mqttbytes::Error::TopicNotUtf8));

    // SubscriptionIdOvercounted: after two of three Subscription Identifiers mqttbytes
    // believes it has read all 6 property bytes and takes the third as payload, in our bytes
    // and in its own (identical) encoding. Two identifiers alone are read correctly.
    let three_ids = Desc::Publish(PublishD {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: "t".to_owned(),
        payload: b"x".to_vec(),
        properties: PublishProps {
            subscription_identifiers: vec![1, 1, 1],
            ..PublishProps::default()
        },
    });
    let bytes = three_ids.encode(ProtocolVersion::V5);
    assert_eq!(
        bytes,
        [0x30, 11, 0, 1, b't', 6, 0x0B, 1, 0x0B, 1, 0x0B, 1, b'x']
    );
    assert_eq!(write_v5(&to_v5(&three_ids).expect("representable")), bytes);
    match read5(&bytes) {
        Ok(v5::Packet::Publish(p)) => {
            assert_eq!(p.payload, [0x0B, 1, b'x'][..]);
            assert_eq!(
                p.properties.map(|p| p.subscription_identifiers),
                Some(vec![1, 1])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        Packet::decode(ProtocolVersion::V5, &bytes).map(|p| Desc::from_packet(&p)),
        Ok(three_ids.clone())
    );
    assert_eq!(
        classify(Direction::OursToTheirs, ProtocolVersion::V5, &three_ids),
        Some(Allowed::SubscriptionIdOvercounted)
    );
    let Desc::Publish(mut fine) = three_ids else {
        unreachable!()
    };
    fine.properties.subscription_identifiers = vec![1, 2];
    assert!(!subscription_ids_overcounted(&fine.properties));
    assert!(ours_to_theirs(ProtocolVersion::V5, &Desc::Publish(fine)).is_ok());

    // EmptyCredentialDropped: an empty user name vanishes when read ...
    let empty_user = connect_31_1(Some(""), None);
    let bytes = empty_user.encode(ProtocolVersion::V3_1_1);
    match read4(&bytes) {
        Ok(v4::Packet::Connect(c)) => assert_eq!(c.login, None),
        other => panic!("{other:?}"),
    }
    // ... and `Login { "", "p" }` is written as a password without a user name
    // ([MQTT-3.1.2-22]), which we reject.
    let mut login = v4::Connect::new("c");
    login.login = Some(v4::Login::new("", "p"));
    let bytes = write_v4(&v4::Packet::Connect(login));
    assert_eq!(
        bytes[9] & 0xC0,
        0x40,
        "password flag without user name flag"
    );
    assert_eq!(
        Packet::decode(ProtocolVersion::V3_1_1, &bytes),
        Err(DecodeError::Malformed(Malformed::PasswordWithoutUsername))
    );
}
