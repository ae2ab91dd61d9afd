//! MQTT 5.0 reason codes (section 2.4), also used to carry 3.1.1 CONNACK return codes and
//! the SUBACK failure code.

use core::fmt;

use super::PacketType;

macro_rules! reason_codes {
    ($($(#[doc = $doc:literal])* $name:ident = $value:literal, $text:literal;)*) => {
        /// An MQTT 5.0 Reason Code (section 2.4).
        ///
        /// The value `0x00` means Success, Normal disconnection or Granted QoS 0 depending on
        /// the packet; it is one variant, [`ReasonCode::Success`], with the aliases
        /// [`ReasonCode::NORMAL_DISCONNECTION`] and [`ReasonCode::GRANTED_QOS_0`].
        ///
        /// The type exists without the `v5` feature: MQTT 3.1.1 CONNACK return codes and the
        /// SUBACK return codes map onto it (see [`ReasonCode::from_v3_connack`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
        #[repr(u8)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $($(#[doc = $doc])* $name = $value,)*
        }

        impl TryFrom<u8> for ReasonCode {
            type Error = u8;
            /// Maps a wire byte to a reason code; unknown values are handed back.
            fn try_from(value: u8) -> Result<Self, u8> {
                match value {
                    $($value => Ok(Self::$name),)*
                    other => Err(other),
                }
            }
        }

        impl ReasonCode {
            /// Every reason code, in code order.
            const ALL: &[ReasonCode] = &[$(Self::$name,)*];

            /// The name the specification gives this code.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }
        }
    };
}

reason_codes! {
    /// 0x00 Success / Normal disconnection / Granted QoS 0.
    Success = 0x00, "Success";
    /// 0x01 Granted QoS 1 (SUBACK).
    GrantedQoS1 = 0x01, "Granted QoS 1";
    /// 0x02 Granted QoS 2 (SUBACK).
    GrantedQoS2 = 0x02, "Granted QoS 2";
    /// 0x04 Disconnect with Will Message (DISCONNECT).
    DisconnectWithWillMessage = 0x04, "Disconnect with Will Message";
    /// 0x10 No matching subscribers (PUBACK, PUBREC).
    NoMatchingSubscribers = 0x10, "No matching subscribers";
    /// 0x11 No subscription existed (UNSUBACK).
    NoSubscriptionExisted = 0x11, "No subscription existed";
    /// 0x18 Continue authentication (AUTH).
    ContinueAuthentication = 0x18, "Continue authentication";
    /// 0x19 Re-authenticate (AUTH).
    ReAuthenticate = 0x19, "Re-authenticate";
    /// 0x80 Unspecified error; also the 3.1.1 SUBACK "Failure" return code.
    UnspecifiedError = 0x80, "Unspecified error";
    /// 0x81 Malformed Packet.
    MalformedPacket = 0x81, "Malformed Packet";
    /// 0x82 Protocol Error.
    ProtocolError = 0x82, "Protocol Error";
    /// 0x83 Implementation specific error.
    ImplementationSpecificError = 0x83, "Implementation specific error";
    /// 0x84 Unsupported Protocol Version (3.1.1 return code 0x01).
    UnsupportedProtocolVersion = 0x84, "Unsupported Protocol Version";
    /// 0x85 Client Identifier not valid (3.1.1 return code 0x02).
    ClientIdentifierNotValid = 0x85, "Client Identifier not valid";
    /// 0x86 Bad User Name or Password (3.1.1 return code 0x04).
    BadUserNameOrPassword = 0x86, "Bad User Name or Password";
    /// 0x87 Not authorized (3.1.1 return code 0x05).
    NotAuthorized = 0x87, "Not authorized";
    /// 0x88 Server unavailable (3.1.1 return code 0x03).
    ServerUnavailable = 0x88, "Server unavailable";
    /// 0x89 Server busy.
    ServerBusy = 0x89, "Server busy";
    /// 0x8A Banned.
    Banned = 0x8A, "Banned";
    /// 0x8B Server shutting down.
    ServerShuttingDown = 0x8B, "Server shutting down";
    /// 0x8C Bad authentication method.
    BadAuthenticationMethod = 0x8C, "Bad authentication method";
    /// 0x8D Keep Alive timeout.
    KeepAliveTimeout = 0x8D, "Keep Alive timeout";
    /// 0x8E Session taken over.
    SessionTakenOver = 0x8E, "Session taken over";
    /// 0x8F Topic Filter invalid.
    TopicFilterInvalid = 0x8F, "Topic Filter invalid";
    /// 0x90 Topic Name invalid.
    TopicNameInvalid = 0x90, "Topic Name invalid";
    /// 0x91 Packet Identifier in use.
    PacketIdentifierInUse = 0x91, "Packet Identifier in use";
    /// 0x92 Packet Identifier not found.
    PacketIdentifierNotFound = 0x92, "Packet Identifier not found";
    /// 0x93 Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93, "Receive Maximum exceeded";
    /// 0x94 Topic Alias invalid.
    TopicAliasInvalid = 0x94, "Topic Alias invalid";
    /// 0x95 Packet too large.
    PacketTooLarge = 0x95, "Packet too large";
    /// 0x96 Message rate too high.
    MessageRateTooHigh = 0x96, "Message rate too high";
    /// 0x97 Quota exceeded.
    QuotaExceeded = 0x97, "Quota exceeded";
    /// 0x98 Administrative action.
    AdministrativeAction = 0x98, "Administrative action";
    /// 0x99 Payload format invalid.
    PayloadFormatInvalid = 0x99, "Payload format invalid";
    /// 0x9A Retain not supported.
    RetainNotSupported = 0x9A, "Retain not supported";
    /// 0x9B QoS not supported.
    QoSNotSupported = 0x9B, "QoS not supported";
    /// 0x9C Use another server.
    UseAnotherServer = 0x9C, "Use another server";
    /// 0x9D Server moved.
    ServerMoved = 0x9D, "Server moved";
    /// 0x9E Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E, "Shared Subscriptions not supported";
    /// 0x9F Connection rate exceeded.
    ConnectionRateExceeded = 0x9F, "Connection rate exceeded";
    /// 0xA0 Maximum connect time.
    MaximumConnectTime = 0xA0, "Maximum connect time";
    /// 0xA1 Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "Subscription Identifiers not supported";
    /// 0xA2 Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// 0x00 in DISCONNECT: Normal disconnection.
    pub const NORMAL_DISCONNECTION: Self = Self::Success;
    /// 0x00 in SUBACK: Granted QoS 0.
    pub const GRANTED_QOS_0: Self = Self::Success;

    /// The wire value.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// `true` for failure codes (value 0x80 or greater, section 2.4).
    pub const fn is_error(self) -> bool {
        self.code() >= 0x80
    }

    /// Maps an MQTT 3.1 / 3.1.1 CONNACK return code (0..=5) to a reason code.
    pub const fn from_v3_connack(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Success,
            1 => Self::UnsupportedProtocolVersion,
            2 => Self::ClientIdentifierNotValid,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }

    /// The MQTT 3.1 / 3.1.1 CONNACK return code for this reason, if 3.1.1 has one.
    pub const fn to_v3_connack(self) -> Option<u8> {
        Some(match self {
            Self::Success => 0,
            Self::UnsupportedProtocolVersion => 1,
            Self::ClientIdentifierNotValid => 2,
            Self::ServerUnavailable => 3,
            Self::BadUserNameOrPassword => 4,
            Self::NotAuthorized => 5,
            _ => return None,
        })
    }

    /// The MQTT 3.1.1 SUBACK return code for this reason: 0x00/0x01/0x02 for granted QoS
    /// and 0x80 (Failure) for every error code. `None` for non-error codes that are not
    /// a granted QoS.
    pub const fn to_v3_suback(self) -> Option<u8> {
        match self {
            Self::Success => Some(0),
            Self::GrantedQoS1 => Some(1),
            Self::GrantedQoS2 => Some(2),
            other if other.is_error() => Some(0x80),
            _ => None,
        }
    }

    /// Whether the 5.0 specification allows this code in a packet of type `packet`
    /// (CONNACK [MQTT-3.2.2-8], PUBACK [MQTT-3.4.2-1], PUBREC [MQTT-3.5.2-1],
    /// PUBREL [MQTT-3.6.2-1], PUBCOMP [MQTT-3.7.2-1], SUBACK [MQTT-3.9.3-1],
    /// UNSUBACK [MQTT-3.11.3-1], DISCONNECT [MQTT-3.14.2-1], AUTH [MQTT-3.15.2-1]).
    ///
    /// A lookup in bit sets built at compile time from the lists in `allowed_in_spec`
    /// (a chain of comparisons there is ~300 bytes of firmware flash, this ~60).
    pub const fn allowed_in(self, packet: PacketType) -> bool {
        const CONNACK: AllowedSet = AllowedSet::of(PacketType::ConnAck);
        const PUBACK: AllowedSet = AllowedSet::of(PacketType::PubAck);
        const PUBREL: AllowedSet = AllowedSet::of(PacketType::PubRel);
        const SUBACK: AllowedSet = AllowedSet::of(PacketType::SubAck);
        const UNSUBACK: AllowedSet = AllowedSet::of(PacketType::UnsubAck);
        const DISCONNECT: AllowedSet = AllowedSet::of(PacketType::Disconnect);
        const AUTH: AllowedSet = AllowedSet::of(PacketType::Auth);
        let set = match packet {
            PacketType::ConnAck => CONNACK,
            PacketType::PubAck | PacketType::PubRec => PUBACK,
            PacketType::PubRel | PacketType::PubComp => PUBREL,
            PacketType::SubAck => SUBACK,
            PacketType::UnsubAck => UNSUBACK,
            PacketType::Disconnect => DISCONNECT,
            PacketType::Auth => AUTH,
            _ => return false,
        };
        set.contains(self.code())
    }

    /// [`allowed_in`](Self::allowed_in) as the specification lists it (evaluated at
    /// compile time only).
    const fn allowed_in_spec(self, packet: PacketType) -> bool {
        use ReasonCode as R;
        match packet {
            PacketType::ConnAck => matches!(
                self,
                R::Success
                    | R::UnspecifiedError
                    | R::MalformedPacket
                    | R::ProtocolError
                    | R::ImplementationSpecificError
                    | R::UnsupportedProtocolVersion
                    | R::ClientIdentifierNotValid
                    | R::BadUserNameOrPassword
                    | R::NotAuthorized
                    | R::ServerUnavailable
                    | R::ServerBusy
                    | R::Banned
                    | R::BadAuthenticationMethod
                    | R::TopicNameInvalid
                    | R::PacketTooLarge
                    | R::QuotaExceeded
                    | R::PayloadFormatInvalid
                    | R::RetainNotSupported
                    | R::QoSNotSupported
                    | R::UseAnotherServer
                    | R::ServerMoved
                    | R::ConnectionRateExceeded
            ),
            PacketType::PubAck | PacketType::PubRec => matches!(
                self,
                R::Success
                    | R::NoMatchingSubscribers
                    | R::UnspecifiedError
                    | R::ImplementationSpecificError
                    | R::NotAuthorized
                    | R::TopicNameInvalid
                    | R::PacketIdentifierInUse
                    | R::QuotaExceeded
                    | R::PayloadFormatInvalid
            ),
            PacketType::PubRel | PacketType::PubComp => {
                matches!(self, R::Success | R::PacketIdentifierNotFound)
            }
            PacketType::SubAck => matches!(
                self,
                R::Success
                    | R::GrantedQoS1
                    | R::GrantedQoS2
                    | R::UnspecifiedError
                    | R::ImplementationSpecificError
                    | R::NotAuthorized
                    | R::TopicFilterInvalid
                    | R::PacketIdentifierInUse
                    | R::QuotaExceeded
                    | R::SharedSubscriptionsNotSupported
                    | R::SubscriptionIdentifiersNotSupported
                    | R::WildcardSubscriptionsNotSupported
            ),
            PacketType::UnsubAck => matches!(
                self,
                R::Success
                    | R::NoSubscriptionExisted
                    | R::UnspecifiedError
                    | R::ImplementationSpecificError
                    | R::NotAuthorized
                    | R::TopicFilterInvalid
                    | R::PacketIdentifierInUse
            ),
            PacketType::Disconnect => matches!(
                self,
                R::Success
                    | R::DisconnectWithWillMessage
                    | R::UnspecifiedError
                    | R::MalformedPacket
                    | R::ProtocolError
                    | R::ImplementationSpecificError
                    | R::NotAuthorized
                    | R::ServerBusy
                    | R::ServerShuttingDown
                    | R::KeepAliveTimeout
                    | R::SessionTakenOver
                    | R::TopicFilterInvalid
                    | R::TopicNameInvalid
                    | R::ReceiveMaximumExceeded
                    | R::TopicAliasInvalid
                    | R::PacketTooLarge
                    | R::MessageRateTooHigh
                    | R::QuotaExceeded
                    | R::AdministrativeAction
                    | R::PayloadFormatInvalid
                    | R::RetainNotSupported
                    | R::QoSNotSupported
                    | R::UseAnotherServer
                    | R::ServerMoved
                    | R::SharedSubscriptionsNotSupported
                    | R::ConnectionRateExceeded
                    | R::MaximumConnectTime
                    | R::SubscriptionIdentifiersNotSupported
                    | R::WildcardSubscriptionsNotSupported
            ),
            PacketType::Auth => {
                matches!(
                    self,
                    R::Success | R::ContinueAuthentication | R::ReAuthenticate
                )
            }
            _ => false,
        }
    }
}

/// A set of reason codes: bit `n` of `low` is code `n` (0x00-0x1F), of `high[0]` code
/// `0x80 + n`, of `high[1]` code `0xA0 + n` (no code lies elsewhere: checked when built).
#[derive(Clone, Copy)]
struct AllowedSet {
    low: u32,
    high: [u32; 2],
}

impl AllowedSet {
    /// The codes `allowed_in_spec` allows in `packet`.
    const fn of(packet: PacketType) -> Self {
        let (mut low, mut h0, mut h1) = (0u32, 0u32, 0u32);
        let mut rest = ReasonCode::ALL;
        while let [code, tail @ ..] = rest {
            if code.allowed_in_spec(packet) {
                let c = code.code();
                let bit = 1u32 << (c & 31);
                // Fails the build (this runs at compile time) if the table must grow.
                assert!(matches!(c >> 5, 0 | 4 | 5), "reason code outside the table");
                match c >> 5 {
                    0 => low |= bit,
                    4 => h0 |= bit,
                    _ => h1 |= bit,
                }
            }
            rest = tail;
        }
        Self {
            low,
            high: [h0, h1],
        }
    }

    const fn contains(self, c: u8) -> bool {
        let [h0, h1] = self.high;
        let word = match c >> 5 {
            0 => self.low,
            4 => h0,
            5 => h1,
            _ => 0,
        };
        (word >> (c & 31)) & 1 != 0
    }
}

impl From<ReasonCode> for u8 {
    fn from(r: ReasonCode) -> u8 {
        r.code()
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_in_table_matches_the_specification_lists() {
        let mut checked = 0;
        for byte in 0..=u8::MAX {
            let Ok(code) = ReasonCode::try_from(byte) else {
                continue;
            };
            for t in 0..=15u8 {
                let Some(packet) = PacketType::from_u8(t) else {
                    continue;
                };
                assert_eq!(
                    code.allowed_in(packet),
                    code.allowed_in_spec(packet),
                    "{code:?} in {packet:?}"
                );
                checked += 1;
            }
        }
        let types = (0..=15u8).filter_map(PacketType::from_u8).count();
        assert_eq!(checked, ReasonCode::ALL.len() * types);
        assert!(ReasonCode::ServerMoved.allowed_in(PacketType::ConnAck));
        assert!(!ReasonCode::ServerMoved.allowed_in(PacketType::PubAck));
    }
}
