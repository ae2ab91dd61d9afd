//! Shared by the codec property and differential tests: owned packet descriptions
//! ([`Desc`]), proptest strategies producing valid ones for each protocol version, and the
//! conversions between a description and our borrowed [`Packet`].
//!
//! Our packets borrow their strings, payloads and lists, so a strategy cannot yield them
//! directly. It yields a [`Desc`] (owned `String`s / `Vec`s); [`Desc::with_packet`] lends it
//! out as a `Packet<'_>` built over slices, and [`Desc::from_packet`] copies a decoded packet
//! back into a description.
//!
//! The strategies generate only packets that the specification of the chosen version allows
//! and that survive an encode for that version unchanged: for 3.1 / 3.1.1 no 5.0 data at all
//! (properties, acknowledgement reason codes, 5.0 subscription options), reason codes only
//! from [`ReasonCode::allowed_in`], a packet identifier wherever QoS > 0, DUP only with
//! QoS > 0, no password without a user name and no empty client identifier without Clean
//! Session before 5.0, no No Local on a 5.0 shared subscription, Authentication Data only with
//! an Authentication Method.

#![allow(dead_code)] // each test crate uses a different subset

use std::num::{NonZeroU16, NonZeroU32};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use tern_core::codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, Filters, Packet, PacketId, PacketType, PayloadFormat,
    ProtocolVersion, PubResponse, Publish, PublishProperties, QoS, QosPid, ReasonCode, ReasonCodes,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, Subscription, SubscriptionIds,
    SubscriptionOptions, Subscriptions, UnsubAck, Unsubscribe, UnsubscribeProperties,
    UserProperties, Will, WillProperties,
};
use tern_core::topic::TopicName;

/// Every protocol version, in the order 3.1, 3.1.1, 5.0.
pub(crate) const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// User Properties, in order (names may repeat).
pub(crate) type Users = Vec<(String, String)>;

// --- descriptions ------------------------------------------------------------------------

/// CONNECT properties (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnectProps {
    pub(crate) session_expiry_interval: Option<u32>,
    pub(crate) receive_maximum: Option<NonZeroU16>,
    pub(crate) maximum_packet_size: Option<NonZeroU32>,
    pub(crate) topic_alias_maximum: Option<u16>,
    pub(crate) request_response_information: Option<bool>,
    pub(crate) request_problem_information: Option<bool>,
    pub(crate) authentication_method: Option<String>,
    pub(crate) authentication_data: Option<Vec<u8>>,
    pub(crate) user_properties: Users,
}

/// Will properties (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct WillProps {
    pub(crate) will_delay_interval: Option<u32>,
    pub(crate) payload_format_indicator: Option<PayloadFormat>,
    pub(crate) message_expiry_interval: Option<u32>,
    pub(crate) content_type: Option<String>,
    pub(crate) response_topic: Option<String>,
    pub(crate) correlation_data: Option<Vec<u8>>,
    pub(crate) user_properties: Users,
}

/// A Will Message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WillD {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) properties: WillProps,
}

/// CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectD {
    pub(crate) protocol: ProtocolVersion,
    pub(crate) clean_start: bool,
    pub(crate) keep_alive: u16,
    pub(crate) client_id: String,
    pub(crate) will: Option<WillD>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) properties: ConnectProps,
}

/// CONNACK properties (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ConnAckProps {
    pub(crate) session_expiry_interval: Option<u32>,
    pub(crate) receive_maximum: Option<NonZeroU16>,
    pub(crate) maximum_qos: Option<QoS>,
    pub(crate) retain_available: Option<bool>,
    pub(crate) maximum_packet_size: Option<NonZeroU32>,
    pub(crate) assigned_client_identifier: Option<String>,
    pub(crate) topic_alias_maximum: Option<u16>,
    pub(crate) reason_string: Option<String>,
    pub(crate) wildcard_subscription_available: Option<bool>,
    pub(crate) subscription_identifiers_available: Option<bool>,
    pub(crate) shared_subscription_available: Option<bool>,
    pub(crate) server_keep_alive: Option<u16>,
    pub(crate) response_information: Option<String>,
    pub(crate) server_reference: Option<String>,
    pub(crate) authentication_method: Option<String>,
    pub(crate) authentication_data: Option<Vec<u8>>,
    pub(crate) user_properties: Users,
}

/// CONNACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnAckD {
    pub(crate) session_present: bool,
    pub(crate) reason: ReasonCode,
    pub(crate) properties: ConnAckProps,
}

/// PUBLISH properties (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct PublishProps {
    pub(crate) payload_format_indicator: Option<PayloadFormat>,
    pub(crate) message_expiry_interval: Option<u32>,
    pub(crate) topic_alias: Option<NonZeroU16>,
    pub(crate) response_topic: Option<String>,
    pub(crate) correlation_data: Option<Vec<u8>>,
    pub(crate) user_properties: Users,
    pub(crate) subscription_identifiers: Vec<u32>,
    pub(crate) content_type: Option<String>,
}

/// PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublishD {
    pub(crate) dup: bool,
    pub(crate) qos_pid: QosPid,
    pub(crate) retain: bool,
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) properties: PublishProps,
}

/// Reason String and User Properties: the properties of PUBACK/PUBREC/PUBREL/PUBCOMP,
/// SUBACK and UNSUBACK (5.0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct AckProps {
    pub(crate) reason_string: Option<String>,
    pub(crate) user_properties: Users,
}

impl AckProps {
    pub(crate) fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckD {
    pub(crate) packet_id: PacketId,
    pub(crate) reason: ReasonCode,
    pub(crate) properties: AckProps,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscribeD {
    pub(crate) packet_id: PacketId,
    pub(crate) filters: Vec<(String, SubscriptionOptions)>,
    pub(crate) subscription_identifier: Option<NonZeroU32>,
    pub(crate) user_properties: Users,
}

/// SUBACK or UNSUBACK (3.1.1 UNSUBACK: no reason codes, no properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubAckD {
    pub(crate) packet_id: PacketId,
    pub(crate) reason_codes: Vec<ReasonCode>,
    pub(crate) properties: AckProps,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnsubscribeD {
    pub(crate) packet_id: PacketId,
    pub(crate) filters: Vec<String>,
    pub(crate) user_properties: Users,
}

/// DISCONNECT (3.1.1: no fields, i.e. the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DisconnectD {
    pub(crate) reason: ReasonCode,
    pub(crate) session_expiry_interval: Option<u32>,
    pub(crate) reason_string: Option<String>,
    pub(crate) server_reference: Option<String>,
    pub(crate) user_properties: Users,
}

impl Default for DisconnectD {
    fn default() -> Self {
        Self {
            reason: ReasonCode::NORMAL_DISCONNECTION,
            session_expiry_interval: None,
            reason_string: None,
            server_reference: None,
            user_properties: Users::new(),
        }
    }
}

/// AUTH (5.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthD {
    pub(crate) reason: ReasonCode,
    pub(crate) authentication_method: Option<String>,
    pub(crate) authentication_data: Option<Vec<u8>>,
    pub(crate) reason_string: Option<String>,
    pub(crate) user_properties: Users,
}

/// An owned description of one packet of any type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Desc {
    Connect(ConnectD),
    ConnAck(ConnAckD),
    Publish(PublishD),
    PubAck(AckD),
    PubRec(AckD),
    PubRel(AckD),
    PubComp(AckD),
    Subscribe(SubscribeD),
    SubAck(SubAckD),
    Unsubscribe(UnsubscribeD),
    UnsubAck(SubAckD),
    PingReq,
    PingResp,
    Disconnect(DisconnectD),
    Auth(AuthD),
}

// --- description <-> packet --------------------------------------------------------------

fn borrow_users(users: &Users) -> Vec<(&str, &str)> {
    users
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn own_users(users: &UserProperties<'_>) -> Users {
    users
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn own_ack(p: &PubResponse<'_>) -> AckD {
    AckD {
        packet_id: p.packet_id,
        reason: p.reason,
        properties: own_ack_props(&p.properties),
    }
}

fn own_ack_props(p: &AckProperties<'_>) -> AckProps {
    AckProps {
        reason_string: p.reason_string.map(str::to_owned),
        user_properties: own_users(&p.user_properties),
    }
}

/// The borrowed lists a [`Packet`] over a [`Desc`] needs: item slices whose items borrow
/// from the description.
struct Scratch<'d> {
    users: Vec<(&'d str, &'d str)>,
    will_users: Vec<(&'d str, &'d str)>,
    subs: Vec<Subscription<'d>>,
    filters: Vec<&'d str>,
}

impl<'d> Scratch<'d> {
    fn new(d: &'d Desc) -> Self {
        let mut s = Scratch {
            users: Vec::new(),
            will_users: Vec::new(),
            subs: Vec::new(),
            filters: Vec::new(),
        };
        match d {
            Desc::Connect(c) => {
                s.users = borrow_users(&c.properties.user_properties);
                if let Some(w) = &c.will {
                    s.will_users = borrow_users(&w.properties.user_properties);
                }
            }
            Desc::ConnAck(c) => s.users = borrow_users(&c.properties.user_properties),
            Desc::Publish(p) => s.users = borrow_users(&p.properties.user_properties),
            Desc::PubAck(a) | Desc::PubRec(a) | Desc::PubRel(a) | Desc::PubComp(a) => {
                s.users = borrow_users(&a.properties.user_properties);
            }
            Desc::Subscribe(sub) => {
                s.users = borrow_users(&sub.user_properties);
                s.subs = sub
                    .filters
                    .iter()
                    .map(|(filter, options)| Subscription {
                        filter,
                        options: *options,
                    })
                    .collect();
            }
            Desc::SubAck(a) | Desc::UnsubAck(a) => {
                s.users = borrow_users(&a.properties.user_properties);
            }
            Desc::Unsubscribe(u) => {
                s.users = borrow_users(&u.user_properties);
                s.filters = u.filters.iter().map(String::as_str).collect();
            }
            Desc::PingReq | Desc::PingResp => {}
            Desc::Disconnect(x) => s.users = borrow_users(&x.user_properties),
            Desc::Auth(a) => s.users = borrow_users(&a.user_properties),
        }
        s
    }

    fn ack_props<'s>(&'s self, p: &'s AckProps) -> AckProperties<'s> {
        AckProperties {
            reason_string: p.reason_string.as_deref(),
            user_properties: UserProperties::Slice(&self.users),
        }
    }

    fn ack<'s>(&'s self, a: &'s AckD) -> PubResponse<'s> {
        PubResponse {
            packet_id: a.packet_id,
            reason: a.reason,
            properties: self.ack_props(&a.properties),
        }
    }

    fn packet<'s>(&'s self, d: &'s Desc) -> Packet<'s> {
        let users = UserProperties::Slice(&self.users);
        match d {
            Desc::Connect(c) => Packet::Connect(Connect {
                protocol: c.protocol,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: &c.client_id,
                will: c.will.as_ref().map(|w| Will {
                    topic: TopicName::new(&w.topic).expect("generated will topics are valid"),
                    payload: &w.payload,
                    qos: w.qos,
                    retain: w.retain,
                    properties: WillProperties {
                        will_delay_interval: w.properties.will_delay_interval,
                        payload_format_indicator: w.properties.payload_format_indicator,
                        message_expiry_interval: w.properties.message_expiry_interval,
                        content_type: w.properties.content_type.as_deref(),
                        response_topic: w.properties.response_topic.as_deref(),
                        correlation_data: w.properties.correlation_data.as_deref(),
                        user_properties: UserProperties::Slice(&self.will_users),
                    },
                }),
                username: c.username.as_deref(),
                password: c.password.as_deref(),
                properties: ConnectProperties {
                    session_expiry_interval: c.properties.session_expiry_interval,
                    receive_maximum: c.properties.receive_maximum,
                    maximum_packet_size: c.properties.maximum_packet_size,
                    topic_alias_maximum: c.properties.topic_alias_maximum,
                    request_response_information: c.properties.request_response_information,
                    request_problem_information: c.properties.request_problem_information,
                    authentication_method: c.properties.authentication_method.as_deref(),
                    authentication_data: c.properties.authentication_data.as_deref(),
                    user_properties: users,
                },
            }),
            Desc::ConnAck(c) => {
                let p = &c.properties;
                Packet::ConnAck(ConnAck {
                    session_present: c.session_present,
                    reason: c.reason,
                    properties: ConnAckProperties {
                        session_expiry_interval: p.session_expiry_interval,
                        receive_maximum: p.receive_maximum,
                        maximum_qos: p.maximum_qos,
                        retain_available: p.retain_available,
                        maximum_packet_size: p.maximum_packet_size,
                        assigned_client_identifier: p.assigned_client_identifier.as_deref(),
                        topic_alias_maximum: p.topic_alias_maximum,
                        reason_string: p.reason_string.as_deref(),
                        wildcard_subscription_available: p.wildcard_subscription_available,
                        subscription_identifiers_available: p.subscription_identifiers_available,
                        shared_subscription_available: p.shared_subscription_available,
                        server_keep_alive: p.server_keep_alive,
                        response_information: p.response_information.as_deref(),
                        server_reference: p.server_reference.as_deref(),
                        authentication_method: p.authentication_method.as_deref(),
                        authentication_data: p.authentication_data.as_deref(),
                        user_properties: users,
                    },
                })
            }
            Desc::Publish(p) => {
                let q = &p.properties;
                Packet::Publish(Publish {
                    dup: p.dup,
                    qos_pid: p.qos_pid,
                    retain: p.retain,
                    topic: &p.topic,
                    payload: &p.payload,
                    properties: PublishProperties {
                        payload_format_indicator: q.payload_format_indicator,
                        message_expiry_interval: q.message_expiry_interval,
                        topic_alias: q.topic_alias,
                        response_topic: q.response_topic.as_deref(),
                        correlation_data: q.correlation_data.as_deref(),
                        user_properties: users,
                        subscription_identifiers: SubscriptionIds::Slice(
                            &q.subscription_identifiers,
                        ),
                        content_type: q.content_type.as_deref(),
                    },
                })
            }
            Desc::PubAck(a) => Packet::PubAck(self.ack(a)),
            Desc::PubRec(a) => Packet::PubRec(self.ack(a)),
            Desc::PubRel(a) => Packet::PubRel(self.ack(a)),
            Desc::PubComp(a) => Packet::PubComp(self.ack(a)),
            Desc::Subscribe(s) => Packet::Subscribe(Subscribe {
                packet_id: s.packet_id,
                filters: Subscriptions::Slice(&self.subs),
                properties: SubscribeProperties {
                    subscription_identifier: s.subscription_identifier,
                    user_properties: users,
                },
            }),
            Desc::SubAck(a) => Packet::SubAck(SubAck {
                packet_id: a.packet_id,
                reason_codes: ReasonCodes::Slice(&a.reason_codes),
                properties: self.ack_props(&a.properties),
            }),
            Desc::Unsubscribe(u) => Packet::Unsubscribe(Unsubscribe {
                packet_id: u.packet_id,
                filters: Filters::Slice(&self.filters),
                properties: UnsubscribeProperties {
                    user_properties: users,
                },
            }),
            Desc::UnsubAck(a) => Packet::UnsubAck(UnsubAck {
                packet_id: a.packet_id,
                reason_codes: ReasonCodes::Slice(&a.reason_codes),
                properties: self.ack_props(&a.properties),
            }),
            Desc::PingReq => Packet::PingReq,
            Desc::PingResp => Packet::PingResp,
            Desc::Disconnect(x) => Packet::Disconnect(Disconnect {
                reason: x.reason,
                properties: DisconnectProperties {
                    session_expiry_interval: x.session_expiry_interval,
                    reason_string: x.reason_string.as_deref(),
                    server_reference: x.server_reference.as_deref(),
                    user_properties: users,
                },
            }),
            Desc::Auth(a) => Packet::Auth(Auth {
                reason: a.reason,
                properties: AuthProperties {
                    authentication_method: a.authentication_method.as_deref(),
                    authentication_data: a.authentication_data.as_deref(),
                    reason_string: a.reason_string.as_deref(),
                    user_properties: users,
                },
            }),
        }
    }
}

impl Desc {
    /// Lends the description out as our borrowed packet (lists as `Slice`s).
    pub(crate) fn with_packet<R>(&self, f: impl FnOnce(&Packet<'_>) -> R) -> R {
        let scratch = Scratch::new(self);
        let packet = scratch.packet(self);
        f(&packet)
    }

    /// Encodes for `version`, checking that `encoded_len` agrees with `encode`.
    pub(crate) fn encode(&self, version: ProtocolVersion) -> Vec<u8> {
        self.with_packet(|p| encode_packet(p, version))
    }

    /// Copies a (decoded) packet into an owned description.
    pub(crate) fn from_packet(p: &Packet<'_>) -> Self {
        match p {
            Packet::Connect(c) => Desc::Connect(ConnectD {
                protocol: c.protocol,
                clean_start: c.clean_start,
                keep_alive: c.keep_alive,
                client_id: c.client_id.to_owned(),
                will: c.will.as_ref().map(|w| WillD {
                    topic: w.topic.as_str().to_owned(),
                    payload: w.payload.to_vec(),
                    qos: w.qos,
                    retain: w.retain,
                    properties: WillProps {
                        will_delay_interval: w.properties.will_delay_interval,
                        payload_format_indicator: w.properties.payload_format_indicator,
                        message_expiry_interval: w.properties.message_expiry_interval,
                        content_type: w.properties.content_type.map(str::to_owned),
                        response_topic: w.properties.response_topic.map(str::to_owned),
                        correlation_data: w.properties.correlation_data.map(<[u8]>::to_vec),
                        user_properties: own_users(&w.properties.user_properties),
                    },
                }),
                username: c.username.map(str::to_owned),
                password: c.password.map(<[u8]>::to_vec),
                properties: ConnectProps {
                    session_expiry_interval: c.properties.session_expiry_interval,
                    receive_maximum: c.properties.receive_maximum,
                    maximum_packet_size: c.properties.maximum_packet_size,
                    topic_alias_maximum: c.properties.topic_alias_maximum,
                    request_response_information: c.properties.request_response_information,
                    request_problem_information: c.properties.request_problem_information,
                    authentication_method: c.properties.authentication_method.map(str::to_owned),
                    authentication_data: c.properties.authentication_data.map(<[u8]>::to_vec),
                    user_properties: own_users(&c.properties.user_properties),
                },
            }),
            Packet::ConnAck(c) => {
                let p = &c.properties;
                Desc::ConnAck(ConnAckD {
                    session_present: c.session_present,
                    reason: c.reason,
                    properties: ConnAckProps {
                        session_expiry_interval: p.session_expiry_interval,
                        receive_maximum: p.receive_maximum,
                        maximum_qos: p.maximum_qos,
                        retain_available: p.retain_available,
                        maximum_packet_size: p.maximum_packet_size,
                        assigned_client_identifier: p.assigned_client_identifier.map(str::to_owned),
                        topic_alias_maximum: p.topic_alias_maximum,
                        reason_string: p.reason_string.map(str::to_owned),
                        wildcard_subscription_available: p.wildcard_subscription_available,
                        subscription_identifiers_available: p.subscription_identifiers_available,
                        shared_subscription_available: p.shared_subscription_available,
                        server_keep_alive: p.server_keep_alive,
                        response_information: p.response_information.map(str::to_owned),
                        server_reference: p.server_reference.map(str::to_owned),
                        authentication_method: p.authentication_method.map(str::to_owned),
                        authentication_data: p.authentication_data.map(<[u8]>::to_vec),
                        user_properties: own_users(&p.user_properties),
                    },
                })
            }
            Packet::Publish(p) => {
                let q = &p.properties;
                Desc::Publish(PublishD {
                    dup: p.dup,
                    qos_pid: p.qos_pid,
                    retain: p.retain,
                    topic: p.topic.to_owned(),
                    payload: p.payload.to_vec(),
                    properties: PublishProps {
                        payload_format_indicator: q.payload_format_indicator,
                        message_expiry_interval: q.message_expiry_interval,
                        topic_alias: q.topic_alias,
                        response_topic: q.response_topic.map(str::to_owned),
                        correlation_data: q.correlation_data.map(<[u8]>::to_vec),
                        user_properties: own_users(&q.user_properties),
                        subscription_identifiers: q.subscription_identifiers.iter().collect(),
                        content_type: q.content_type.map(str::to_owned),
                    },
                })
            }
            Packet::PubAck(a) => Desc::PubAck(own_ack(a)),
            Packet::PubRec(a) => Desc::PubRec(own_ack(a)),
            Packet::PubRel(a) => Desc::PubRel(own_ack(a)),
            Packet::PubComp(a) => Desc::PubComp(own_ack(a)),
            Packet::Subscribe(s) => Desc::Subscribe(SubscribeD {
                packet_id: s.packet_id,
                filters: s
                    .filters
                    .iter()
                    .map(|sub| (sub.filter.to_owned(), sub.options))
                    .collect(),
                subscription_identifier: s.properties.subscription_identifier,
                user_properties: own_users(&s.properties.user_properties),
            }),
            Packet::SubAck(a) => Desc::SubAck(SubAckD {
                packet_id: a.packet_id,
                reason_codes: a.reason_codes.iter().collect(),
                properties: own_ack_props(&a.properties),
            }),
            Packet::Unsubscribe(u) => Desc::Unsubscribe(UnsubscribeD {
                packet_id: u.packet_id,
                filters: u.filters.iter().map(str::to_owned).collect(),
                user_properties: own_users(&u.properties.user_properties),
            }),
            Packet::UnsubAck(a) => Desc::UnsubAck(SubAckD {
                packet_id: a.packet_id,
                reason_codes: a.reason_codes.iter().collect(),
                properties: own_ack_props(&a.properties),
            }),
            Packet::PingReq => Desc::PingReq,
            Packet::PingResp => Desc::PingResp,
            Packet::Disconnect(x) => Desc::Disconnect(DisconnectD {
                reason: x.reason,
                session_expiry_interval: x.properties.session_expiry_interval,
                reason_string: x.properties.reason_string.map(str::to_owned),
                server_reference: x.properties.server_reference.map(str::to_owned),
                user_properties: own_users(&x.properties.user_properties),
            }),
            Packet::Auth(a) => Desc::Auth(AuthD {
                reason: a.reason,
                authentication_method: a.properties.authentication_method.map(str::to_owned),
                authentication_data: a.properties.authentication_data.map(<[u8]>::to_vec),
                reason_string: a.properties.reason_string.map(str::to_owned),
                user_properties: own_users(&a.properties.user_properties),
            }),
        }
    }

    /// The packet type.
    pub(crate) fn packet_type(&self) -> PacketType {
        self.with_packet(|p| p.packet_type())
    }
}

/// Encodes `p` for `version`, checking that `encoded_len` agrees with `encode`.
pub(crate) fn encode_packet(p: &Packet<'_>, version: ProtocolVersion) -> Vec<u8> {
    let len = p
        .encoded_len(version)
        .unwrap_or_else(|e| panic!("encoded_len failed: {e:?} for {p:?}"));
    let mut out = vec![0u8; len];
    let written = p
        .encode(version, &mut out)
        .unwrap_or_else(|e| panic!("encode failed: {e:?} for {p:?}"));
    assert_eq!(
        written, len,
        "encode wrote {written}, encoded_len said {len}"
    );
    out
}

// --- strategies --------------------------------------------------------------------------

/// A character for strings: mostly ASCII letters, some specials, some anywhere in Unicode
/// (multi-byte UTF-8), never U+0000 ([MQTT-1.5.4-2] / 3.1.1 [MQTT-1.5.3-2]).
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => select(vec![
            '/', ' ', '$', '+', '#', '\u{1}', '\u{7f}', 'é', 'ß', '€', '中', '😀', '\u{feff}',
            '\u{ffff}', '\u{10ffff}',
        ]),
        2 => any::<char>().prop_map(|c| if c == '\0' { '\u{1}' } else { c }),
    ]
}

/// A UTF-8 Encoded String (0 to 7 characters, up to 28 bytes).
pub(crate) fn text() -> impl Strategy<Value = String> {
    vec(text_char(), 0..8).prop_map(String::from_iter)
}

/// Binary Data (0 to 11 bytes).
pub(crate) fn binary() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..12)
}

/// A PUBLISH / Will payload: usually short, sometimes long enough for a two-byte Remaining
/// Length.
pub(crate) fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => vec(any::<u8>(), 0..24),
        1 => vec(any::<u8>(), 120..260),
    ]
}

/// A character of a topic level: no `/`, `+`, `#` or U+0000.
fn level_char() -> impl Strategy<Value = char> {
    text_char().prop_map(|c| match c {
        '/' | '+' | '#' => '_',
        c => c,
    })
}

fn level() -> impl Strategy<Value = String> {
    vec(level_char(), 0..5).prop_map(String::from_iter)
}

/// A valid topic name: 1 to 3 levels (empty levels allowed), sometimes under `$SYS/`.
pub(crate) fn topic_name() -> impl Strategy<Value = String> {
    (prop::bool::weighted(0.1), vec(level(), 1..4)).prop_map(|(sys, levels)| {
        let mut topic = levels.join("/");
        if sys {
            topic.insert_str(0, "$SYS/");
        }
        if topic.is_empty() {
            topic.push('t');
        }
        topic
    })
}

/// A valid non-shared topic filter with `+` levels and an optional trailing `#`.
fn plain_filter() -> impl Strategy<Value = String> {
    let filter_level = prop_oneof![5 => level(), 2 => Just("+".to_owned())];
    (vec(filter_level, 0..4), prop::bool::weighted(0.3)).prop_map(|(mut levels, hash)| {
        if hash {
            levels.push("#".to_owned());
        }
        let mut filter = levels.join("/");
        if filter.is_empty() {
            filter.push('f');
        }
        if filter.starts_with("$share/") {
            // Not meant to be shared: keep it an ordinary filter in 5.0.
            filter.replace_range(..1, "_");
        }
        filter
    })
}

/// A topic filter and whether it is a `$share/{ShareName}/{filter}` (5.0 shared
/// subscription; an ordinary filter in 3.1.1).
pub(crate) fn topic_filter() -> impl Strategy<Value = (String, bool)> {
    let group = vec(level_char(), 1..5).prop_map(String::from_iter);
    prop_oneof![
        4 => plain_filter().prop_map(|f| (f, false)),
        1 => (group, plain_filter()).prop_map(|(g, f)| (format!("$share/{g}/{f}"), true)),
    ]
}

pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

pub(crate) fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![
        1 => Just(1u16),
        1 => Just(u16::MAX),
        6 => 1..=u16::MAX,
    ]
    .prop_map(|n| PacketId::new(n).expect("non-zero"))
}

/// A Subscription Identifier (1 to 268,435,455), with the VBI length boundaries.
fn subscription_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => select(vec![1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455]),
        3 => 1..=268_435_455u32,
    ]
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|n| NonZeroU16::new(n).expect("non-zero"))
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(|n| NonZeroU32::new(n).expect("non-zero"))
}

fn users() -> impl Strategy<Value = Users> {
    prop_oneof![
        2 => Just(Users::new()),
        3 => vec((text(), text()), 1..4),
    ]
}

fn payload_format() -> impl Strategy<Value = PayloadFormat> {
    select(vec![PayloadFormat::Unspecified, PayloadFormat::Utf8])
}

/// Authentication Method and Data: data only together with a method.
fn auth_method_data() -> impl Strategy<Value = (Option<String>, Option<Vec<u8>>)> {
    (option::of(text()), option::of(binary())).prop_map(|(m, d)| {
        let d = if m.is_some() { d } else { None };
        (m, d)
    })
}

/// Every reason code the 5.0 specification allows in a packet of type `pt`.
pub(crate) fn reasons_for(pt: PacketType) -> Vec<ReasonCode> {
    (0..=u8::MAX)
        .filter_map(|b| ReasonCode::try_from(b).ok())
        .filter(|r| r.allowed_in(pt))
        .collect()
}

fn reason(pt: PacketType) -> impl Strategy<Value = ReasonCode> {
    select(reasons_for(pt))
}

fn connect_props() -> impl Strategy<Value = ConnectProps> {
    (
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(nz32()),
        option::of(any::<u16>()),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
        auth_method_data(),
        users(),
    )
        .prop_map(|(sei, rm, mps, tam, rri, rpi, (am, ad), up)| ConnectProps {
            session_expiry_interval: sei,
            receive_maximum: rm,
            maximum_packet_size: mps,
            topic_alias_maximum: tam,
            request_response_information: rri,
            request_problem_information: rpi,
            authentication_method: am,
            authentication_data: ad,
            user_properties: up,
        })
}

fn will_props() -> impl Strategy<Value = WillProps> {
    (
        option::of(any::<u32>()),
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(text()),
        option::of(topic_name()),
        option::of(binary()),
        users(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| WillProps {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        })
}

fn will(v5: bool) -> impl Strategy<Value = WillD> {
    let props = if v5 {
        will_props().boxed()
    } else {
        Just(WillProps::default()).boxed()
    };
    (topic_name(), payload(), qos(), any::<bool>(), props).prop_map(
        |(topic, payload, qos, retain, properties)| WillD {
            topic,
            payload,
            qos,
            retain,
            properties,
        },
    )
}

/// CONNECT with `protocol` = `v`.
pub(crate) fn connect(v: ProtocolVersion) -> BoxedStrategy<ConnectD> {
    let v5 = v.is_v5();
    let props = if v5 {
        connect_props().boxed()
    } else {
        Just(ConnectProps::default()).boxed()
    };
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        option::of(will(v5)),
        option::of(text()),
        option::of(binary()),
        props,
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                let mut c = ConnectD {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                };
                if !v5 {
                    // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name.
                    if c.password.is_some() && c.username.is_none() {
                        c.username = Some("user".to_owned());
                    }
                    // 3.1.1 [MQTT-3.1.3-7]/[MQTT-3.1.3-8]: an empty client id needs Clean Session.
                    if c.client_id.is_empty() {
                        c.clean_start = true;
                    }
                }
                c
            },
        )
        .boxed()
}

fn connack_props() -> impl Strategy<Value = ConnAckProps> {
    (
        (
            option::of(any::<u32>()),
            option::of(nz16()),
            option::of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
            option::of(any::<bool>()),
            option::of(nz32()),
            option::of(text()),
            option::of(any::<u16>()),
            option::of(text()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<u16>()),
            option::of(text()),
            option::of(text()),
            auth_method_data(),
            users(),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs), (wsa, sia, ssa, ska, ri, sr, (am, ad), up))| {
                ConnAckProps {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                    user_properties: up,
                }
            },
        )
}

pub(crate) fn connack(v: ProtocolVersion) -> BoxedStrategy<ConnAckD> {
    let (reason, props) = if v.is_v5() {
        (reason(PacketType::ConnAck).boxed(), connack_props().boxed())
    } else {
        let codes: Vec<_> = (0..=5).filter_map(ReasonCode::from_v3_connack).collect();
        (select(codes).boxed(), Just(ConnAckProps::default()).boxed())
    };
    (any::<bool>(), reason, props)
        .prop_map(|(session_present, reason, properties)| ConnAckD {
            // 3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]: no Session Present with a failure.
            session_present: session_present && !reason.is_error(),
            reason,
            properties,
        })
        .boxed()
}

fn publish_props() -> impl Strategy<Value = PublishProps> {
    (
        option::of(payload_format()),
        option::of(any::<u32>()),
        option::of(nz16()),
        option::of(topic_name()),
        option::of(binary()),
        users(),
        prop_oneof![2 => Just(Vec::new()), 1 => vec(subscription_id(), 1..4)],
        option::of(text()),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, sids, ct)| PublishProps {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
            subscription_identifiers: sids,
            content_type: ct,
        })
}

pub(crate) fn publish(v: ProtocolVersion) -> BoxedStrategy<PublishD> {
    let v5 = v.is_v5();
    let props = if v5 {
        publish_props().boxed()
    } else {
        Just(PublishProps::default()).boxed()
    };
    (
        qos(),
        packet_id(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        prop::bool::weighted(0.3),
        payload(),
        props,
    )
        .prop_map(
            move |(qos, pid, dup, retain, topic, empty_topic, payload, properties)| {
                let qos_pid = match qos {
                    QoS::AtMostOnce => QosPid::AtMostOnce,
                    QoS::AtLeastOnce => QosPid::AtLeastOnce(pid),
                    QoS::ExactlyOnce => QosPid::ExactlyOnce(pid),
                };
                // 5.0: an empty topic name is allowed together with a Topic Alias.
                let topic = if v5 && empty_topic && properties.topic_alias.is_some() {
                    String::new()
                } else {
                    topic
                };
                PublishD {
                    // [MQTT-3.3.1-2]: DUP is 0 for QoS 0.
                    dup: dup && qos != QoS::AtMostOnce,
                    qos_pid,
                    retain,
                    topic,
                    payload,
                    properties,
                }
            },
        )
        .boxed()
}

fn ack_props(v5: bool) -> BoxedStrategy<AckProps> {
    if v5 {
        (option::of(text()), users())
            .prop_map(|(reason_string, user_properties)| AckProps {
                reason_string,
                user_properties,
            })
            .boxed()
    } else {
        Just(AckProps::default()).boxed()
    }
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP (`pt`).
pub(crate) fn pub_response(v: ProtocolVersion, pt: PacketType) -> BoxedStrategy<AckD> {
    let reason = if v.is_v5() {
        reason(pt).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), reason, ack_props(v.is_v5()))
        .prop_map(|(packet_id, reason, properties)| AckD {
            packet_id,
            reason,
            properties,
        })
        .boxed()
}

fn subscription_options(v5: bool) -> BoxedStrategy<SubscriptionOptions> {
    if v5 {
        (
            qos(),
            any::<bool>(),
            any::<bool>(),
            select(vec![
                RetainHandling::SendAtSubscribe,
                RetainHandling::SendAtSubscribeIfNew,
                RetainHandling::DoNotSend,
            ]),
        )
            .prop_map(
                |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                },
            )
            .boxed()
    } else {
        qos().prop_map(SubscriptionOptions::new).boxed()
    }
}

pub(crate) fn subscribe(v: ProtocolVersion) -> BoxedStrategy<SubscribeD> {
    let v5 = v.is_v5();
    let (sid, up) = if v5 {
        (option::of(subscription_id()).boxed(), users().boxed())
    } else {
        (Just(None).boxed(), Just(Users::new()).boxed())
    };
    (
        packet_id(),
        vec((topic_filter(), subscription_options(v5)), 1..5),
        sid,
        up,
    )
        .prop_map(
            move |(packet_id, filters, sid, user_properties)| SubscribeD {
                packet_id,
                filters: filters
                    .into_iter()
                    .map(|((filter, shared), mut options)| {
                        // 5.0 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error.
                        if v5 && shared {
                            options.no_local = false;
                        }
                        (filter, options)
                    })
                    .collect(),
                subscription_identifier: sid.map(|n| NonZeroU32::new(n).expect("non-zero")),
                user_properties,
            },
        )
        .boxed()
}

pub(crate) fn suback(v: ProtocolVersion) -> BoxedStrategy<SubAckD> {
    let codes = if v.is_v5() {
        reasons_for(PacketType::SubAck)
    } else {
        // 3.1.1 [MQTT-3.9.3-2]: 0x00, 0x01, 0x02 and 0x80 only.
        vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ]
    };
    (packet_id(), vec(select(codes), 1..5), ack_props(v.is_v5()))
        .prop_map(|(packet_id, reason_codes, properties)| SubAckD {
            packet_id,
            reason_codes,
            properties,
        })
        .boxed()
}

pub(crate) fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<UnsubscribeD> {
    let up = if v.is_v5() {
        users().boxed()
    } else {
        Just(Users::new()).boxed()
    };
    (packet_id(), vec(topic_filter(), 1..5), up)
        .prop_map(|(packet_id, filters, user_properties)| UnsubscribeD {
            packet_id,
            filters: filters.into_iter().map(|(f, _)| f).collect(),
            user_properties,
        })
        .boxed()
}

pub(crate) fn unsuback(v: ProtocolVersion) -> BoxedStrategy<SubAckD> {
    let codes = if v.is_v5() {
        vec(reason(PacketType::UnsubAck), 1..5).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), codes, ack_props(v.is_v5()))
        .prop_map(|(packet_id, reason_codes, properties)| SubAckD {
            packet_id,
            reason_codes,
            properties,
        })
        .boxed()
}

pub(crate) fn disconnect(v: ProtocolVersion) -> BoxedStrategy<DisconnectD> {
    if !v.is_v5() {
        return Just(DisconnectD::default()).boxed();
    }
    (
        prop_oneof![1 => Just(ReasonCode::NORMAL_DISCONNECTION), 2 => reason(PacketType::Disconnect)],
        option::of(any::<u32>()),
        option::of(text()),
        option::of(text()),
        users(),
    )
        .prop_map(
            |(reason, session_expiry_interval, reason_string, server_reference, user_properties)| {
                DisconnectD {
                    reason,
                    session_expiry_interval,
                    reason_string,
                    server_reference,
                    user_properties,
                }
            },
        )
        .boxed()
}

pub(crate) fn auth() -> BoxedStrategy<AuthD> {
    (
        reason(PacketType::Auth),
        auth_method_data(),
        option::of(text()),
        users(),
    )
        .prop_map(|(reason, (am, ad), reason_string, user_properties)| AuthD {
            reason,
            authentication_method: am,
            authentication_data: ad,
            reason_string,
            user_properties,
        })
        .boxed()
}

/// Any packet valid in `v` (AUTH only in 5.0; CONNECT with `protocol` = `v`).
pub(crate) fn packet(v: ProtocolVersion) -> BoxedStrategy<Desc> {
    let mut arms: Vec<(u32, BoxedStrategy<Desc>)> = vec![
        (3, connect(v).prop_map(Desc::Connect).boxed()),
        (2, connack(v).prop_map(Desc::ConnAck).boxed()),
        (4, publish(v).prop_map(Desc::Publish).boxed()),
        (
            1,
            pub_response(v, PacketType::PubAck)
                .prop_map(Desc::PubAck)
                .boxed(),
        ),
        (
            1,
            pub_response(v, PacketType::PubRec)
                .prop_map(Desc::PubRec)
                .boxed(),
        ),
        (
            1,
            pub_response(v, PacketType::PubRel)
                .prop_map(Desc::PubRel)
                .boxed(),
        ),
        (
            1,
            pub_response(v, PacketType::PubComp)
                .prop_map(Desc::PubComp)
                .boxed(),
        ),
        (2, subscribe(v).prop_map(Desc::Subscribe).boxed()),
        (2, suback(v).prop_map(Desc::SubAck).boxed()),
        (2, unsubscribe(v).prop_map(Desc::Unsubscribe).boxed()),
        (1, unsuback(v).prop_map(Desc::UnsubAck).boxed()),
        (1, Just(Desc::PingReq).boxed()),
        (1, Just(Desc::PingResp).boxed()),
        (1, disconnect(v).prop_map(Desc::Disconnect).boxed()),
    ];
    if v.is_v5() {
        arms.push((1, auth().prop_map(Desc::Auth).boxed()));
    }
    Union::new_weighted(arms).boxed()
}

/// A protocol version and a packet valid in it.
pub(crate) fn versioned_packet() -> BoxedStrategy<(ProtocolVersion, Desc)> {
    select(VERSIONS.to_vec())
        .prop_flat_map(|v| (Just(v), packet(v)))
        .boxed()
}
