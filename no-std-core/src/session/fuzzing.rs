//! Drives the engine with arbitrary packet sequences, for the cargo-fuzz target and the
//! property test `no_panic_on_arbitrary_peer_packets`.
//!
//! The input is interpreted as a program: each byte selects a peer packet (PUBLISH with
//! any QoS / identifier / alias, any acknowledgement with any identifier and reason code,
//! PINGREQ / PINGRESP, CONNACK, CONNECT, DISCONNECT, ...) or an application action (publish,
//! accept a token, advance time, drain the output, drop the transport and resume). Legal
//! or not, nothing may panic; after an error the connection must be closed; the engine's
//! own output must decode and respect the negotiated limits.
//!
//! The fuzz target (`fuzz/fuzz_targets/session.rs`) is
//! `fuzz_target!(|data: &[u8]| tern_core::session::fuzzing::run(data));`.

use core::num::NonZeroU16;

use super::*;
use crate::codec::{
    ConnAck, Connect, Disconnect, Packet, ProtocolVersion, PubResponse, Publish, QoS, QosPid,
    ReasonCode, UnsubAck,
};

type S = Fixed<4, 4, 2, 64>;

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
}

fn versions() -> &'static [ProtocolVersion] {
    &[
        #[cfg(feature = "v3")]
        ProtocolVersion::V3_1_1,
        #[cfg(feature = "v5")]
        ProtocolVersion::V5,
    ]
}

const REASONS: [ReasonCode; 6] = [
    ReasonCode::Success,
    ReasonCode::NoMatchingSubscribers,
    ReasonCode::UnspecifiedError,
    ReasonCode::NotAuthorized,
    ReasonCode::PacketIdentifierNotFound,
    ReasonCode::DisconnectWithWillMessage,
];

const TOPICS: [&str; 3] = ["", "a", "b/c"];

/// Runs one program (see the module documentation).
pub fn run(data: &[u8]) {
    let mut input = Input { data };
    let Some(first) = input.byte() else {
        return;
    };
    let Some(&version) = versions().get(usize::from(first >> 1) % versions().len().max(1)) else {
        return;
    };
    if first & 1 == 0 {
        drive::<Server>(&mut input, version);
    } else {
        drive::<Client>(&mut input, version);
    }
}

trait Start: Role + Sized {
    fn start(
        now: Instant,
        connect: &Connect<'_>,
        session: Option<Session<Self, S>>,
    ) -> Option<Connection<Self, S>>;
}

impl Start for Server {
    fn start(
        now: Instant,
        connect: &Connect<'_>,
        session: Option<Session<Self, S>>,
    ) -> Option<Connection<Self, S>> {
        let config = Config {
            receive_maximum: 3,
            topic_alias_maximum: 2,
            ..Config::server()
        };
        Connection::from_connect(now, connect, session, config).ok()
    }
}

impl Start for Client {
    fn start(
        now: Instant,
        connect: &Connect<'_>,
        session: Option<Session<Self, S>>,
    ) -> Option<Connection<Self, S>> {
        let config = Config {
            auto_ack: false,
            ..Config::client()
        };
        Some(Connection::new_client(
            now,
            connect,
            session.unwrap_or_default(),
            config,
        ))
    }
}

fn drive<R: Start>(input: &mut Input<'_>, version: ProtocolVersion) {
    let mut now = Instant::from_secs(1);
    let mut connect = Connect::new(version, "f");
    connect.clean_start = false;
    connect.keep_alive = 5;
    #[cfg(feature = "v5")]
    {
        connect.properties.receive_maximum = NonZeroU16::new(3);
        connect.properties.topic_alias_maximum = Some(2);
        connect.properties.maximum_packet_size = core::num::NonZeroU32::new(64);
        connect.properties.session_expiry_interval = Some(60);
    }
    let Some(mut conn) = R::start(now, &connect, None) else {
        return;
    };
    let mut tokens: heapless::Vec<AckToken, 8> = heapless::Vec::new();
    let mut buf = [0u8; 256];
    while let Some(op) = input.byte() {
        let arg = input.byte().unwrap_or(0);
        let pid = NonZeroU16::new(u16::from(arg & 0x07).max(1)).unwrap_or(NonZeroU16::MIN);
        let reason = REASONS
            .get(usize::from(arg >> 3) % REASONS.len())
            .copied()
            .unwrap_or(ReasonCode::Success);
        let ack = {
            #[allow(unused_mut)]
            let mut r = PubResponse::new(pid);
            #[cfg(feature = "v5")]
            {
                r.reason = reason;
            }
            r
        };
        let packet = match op % 16 {
            0 | 1 => {
                let qos_pid = match arg >> 6 {
                    0 => QosPid::AtMostOnce,
                    1 => QosPid::AtLeastOnce(pid),
                    _ => QosPid::ExactlyOnce(pid),
                };
                #[allow(unused_mut)]
                let mut p = Publish::new(
                    TOPICS
                        .get(usize::from(arg >> 3 & 3) % 3)
                        .copied()
                        .unwrap_or("a"),
                    qos_pid,
                    b"payload",
                );
                #[cfg(feature = "v5")]
                if version.is_v5() && arg & 0x20 != 0 {
                    p.properties.topic_alias = NonZeroU16::new(u16::from(arg & 3) + 1);
                }
                if p.topic.is_empty() && !version.is_v5() {
                    p.topic = "z";
                }
                p.dup = arg & 0x08 != 0 && qos_pid != QosPid::AtMostOnce;
                Some(Packet::Publish(p))
            }
            2 => Some(Packet::PubAck(ack)),
            3 => Some(Packet::PubRec(ack)),
            4 => Some(Packet::PubRel(ack)),
            5 => Some(Packet::PubComp(ack)),
            6 => Some(Packet::PingReq),
            7 => Some(Packet::PingResp),
            8 => Some(Packet::ConnAck(ConnAck::new(
                arg & 1 != 0 && !reason.is_error(),
                if arg & 2 != 0 {
                    ReasonCode::NotAuthorized
                } else {
                    ReasonCode::Success
                },
            ))),
            9 => Some(Packet::Connect(connect)),
            10 => {
                #[allow(unused_mut)]
                let mut d = Disconnect::new();
                #[cfg(feature = "v5")]
                {
                    d.reason = reason;
                    d.properties.session_expiry_interval = (arg & 1 != 0).then_some(u32::from(arg));
                }
                Some(Packet::Disconnect(d))
            }
            11 => Some(Packet::UnsubAck(UnsubAck::new(pid))),
            12 => {
                let qos = match arg % 3 {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                };
                let payload = [0u8; 48];
                if let Ok(m) = Message::new(
                    "out/t",
                    payload.get(..usize::from(arg % 48)).unwrap_or(&[]),
                    qos,
                    false,
                ) {
                    let _ = conn.publish(m);
                }
                None
            }
            13 => {
                if let Some(t) = tokens.pop() {
                    conn.accept(t, reason);
                }
                None
            }
            14 => {
                now = now + Duration::from_millis(u64::from(arg) * 100);
                if conn.poll_timeout().is_some_and(|t| t <= now) {
                    conn.handle_timeout(now);
                }
                None
            }
            _ => {
                // Transport lost; resume on a new connection.
                conn.handle_transport_closed(now);
                drain(&mut conn, now, &mut buf);
                let session = conn.into_session(now);
                tokens.clear();
                match R::start(now, &connect, Some(session)) {
                    Some(c) => conn = c,
                    None => return,
                }
                None
            }
        };
        if let Some(packet) = packet {
            match conn.handle_packet(now, packet) {
                Ok(Some(Incoming::Publish { token: Some(t), .. })) => {
                    let _ = tokens.push(t);
                }
                Ok(_) => {}
                Err(_) => assert!(
                    conn.close_reason().is_some(),
                    "an error closes the connection"
                ),
            }
        }
        assert!(conn.session().incoming_len() <= usize::from(conn.limits().receive_maximum));
        drain(&mut conn, now, &mut buf);
    }
}

fn drain<R: Role>(conn: &mut Connection<R, S>, now: Instant, buf: &mut [u8]) {
    while let Ok(Some(n)) = conn.poll_transmit(now, buf) {
        let bytes = buf.get(..n).unwrap_or(&[]);
        assert!(
            Packet::decode(conn.version(), bytes).is_ok(),
            "engine output decodes"
        );
        assert!(n as u64 <= u64::from(conn.limits().peer_max_packet));
        assert!(conn.session().inflight_len() <= usize::from(conn.limits().send_window));
    }
    while conn.poll_event().is_some() {}
}
