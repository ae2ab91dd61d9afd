//! The server over real sockets: start/stop, CONNECT acceptance and refusal, malformed
//! input, limits. Plain blocking std sockets against a server on `127.0.0.1:0`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tern_broker::config::{Bind, ByteSize, ListenerConfig, Shards};
use tern_broker::{Config, Server, ServerHandle};
use tern_core::codec::{Connect, Packet, ProtocolVersion};

fn config() -> Config {
    Config {
        listener: vec![ListenerConfig {
            bind: Bind("127.0.0.1:0".parse().unwrap()),
            ..ListenerConfig::default()
        }],
        shards: Shards::Count(2),
        ..Config::default()
    }
}

fn start(c: Config) -> (ServerHandle, SocketAddr) {
    let h = Server::new(c).start().expect("start");
    let addr = h.local_addrs()[0];
    assert_ne!(addr.port(), 0);
    (h, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Everything the server sends until it closes the connection.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    match s.read_to_end(&mut v) {
        Ok(_) => v,
        // An RST after the answer still counts as closed.
        Err(e) if e.kind() == ErrorKind::ConnectionReset => v,
        Err(e) => panic!("server did not close: {e} (got {v:x?})"),
    }
}

fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = vec![0; p.encoded_len(v).unwrap()];
    p.encode(v, &mut buf).unwrap();
    buf
}

fn connect_packet(v: ProtocolVersion, client_id: &str) -> Vec<u8> {
    encode(&Packet::Connect(Connect::new(v, client_id)), v)
}

/// CONNECT then DISCONNECT: the server answers CONNACK and closes.
fn connect_disconnect(v: ProtocolVersion, client_id: &str) -> Vec<u8> {
    let mut b = connect_packet(v, client_id);
    b.extend_from_slice(&[0xE0, 0]);
    b
}

/// `(first byte, reason / return code)` of a CONNACK with a one-byte Remaining Length.
fn connack_code(got: &[u8]) -> (u8, u8) {
    assert!(got.len() >= 4, "no CONNACK: {got:x?}");
    (got[0], got[3])
}

/// Sends `bytes` and returns everything received until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(bytes).unwrap();
    read_to_close(&mut s)
}

#[test]
fn starts_and_stops_via_the_handle() {
    let (h, addr) = start(config());
    let mut idle = connect(addr);
    let t = Instant::now();
    h.shutdown();
    // The idle connection (no CONNECT yet) is closed by the shutdown, not by its timeout.
    assert_eq!(read_to_close(&mut idle), b"");
    h.join().expect("clean stop");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(addr).is_err(), "listener still open");
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let (h, addr) = start(config());
    drop(h);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn connect_v311_is_accepted() {
    let (_h, addr) = start(config());
    let got = exchange(addr, &connect_disconnect(ProtocolVersion::V3_1_1, "c1"));
    assert_eq!(got, [0x20, 2, 0, 0]);
}

#[test]
fn connect_v31_is_accepted() {
    let (_h, addr) = start(config());
    let got = exchange(addr, &connect_disconnect(ProtocolVersion::V3_1, "c1"));
    assert_eq!(got, [0x20, 2, 0, 0]);
}

#[test]
fn connect_v5_is_accepted_with_the_broker_limits() {
    let (_h, addr) = start(config());
    let got = exchange(addr, &connect_disconnect(ProtocolVersion::V5, "c1"));
    assert_eq!(connack_code(&got), (0x20, 0));
    match Packet::decode(ProtocolVersion::V5, &got).unwrap() {
        Packet::ConnAck(ack) => {
            assert!(!ack.session_present);
            assert_eq!(ack.properties.receive_maximum.map(|r| r.get()), Some(1024));
            assert_eq!(ack.properties.topic_alias_maximum, Some(10));
            assert_eq!(
                ack.properties.maximum_packet_size.map(|r| r.get()),
                Some(1 << 20)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_split_across_reads_is_reassembled() {
    let (_h, addr) = start(config());
    let bytes = connect_disconnect(ProtocolVersion::V3_1_1, "split");
    let mut s = connect(addr);
    for chunk in bytes.chunks(3) {
        s.write_all(chunk).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_to_close(&mut s), [0x20, 2, 0, 0]);
}

#[test]
fn first_packet_not_connect_closes_silently() {
    let (h, addr) = start(config());
    // PINGREQ, then a PUBLISH: [MQTT-3.1.0-1], no CONNACK.
    assert_eq!(exchange(addr, &[0xC0, 0]), b"");
    assert_eq!(exchange(addr, &[0x30, 5, 0, 1, b'a', b'h', b'i']), b"");
    // The broker carries on.
    assert_eq!(
        exchange(addr, &connect_disconnect(ProtocolVersion::V3_1_1, "ok")),
        [0x20, 2, 0, 0]
    );
    drop(h);
}

#[test]
fn malformed_connect_gets_its_reason() {
    let (_h, addr) = start(config());
    // 3.1.1, empty client id with Clean Session 0: return code 2 [MQTT-3.1.3-8].
    let bad_id = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x00, 0, 60, 0, 0];
    assert_eq!(exchange(addr, &bad_id), [0x20, 2, 0, 2]);
    // Unknown protocol level 6: return code 1 in the 3.1.1 form.
    let bad_level = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 6, 0x02, 0, 60, 0, 0];
    assert_eq!(exchange(addr, &bad_level), [0x20, 2, 0, 1]);
    // 5.0 with the reserved CONNECT flag set: 0x81 Malformed Packet.
    let v5_reserved = [
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x03, 0, 60, 0, 0, 0,
    ];
    assert_eq!(connack_code(&exchange(addr, &v5_reserved)), (0x20, 0x81));
    // 3.1.1 with the reserved flag: no 3.1.1 return code exists, close without CONNACK.
    let v311_reserved = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x03, 0, 60, 0, 0];
    assert_eq!(exchange(addr, &v311_reserved), b"");
}

#[test]
fn oversized_connect_gets_packet_too_large() {
    let mut c = config();
    c.limits.max_packet_size = ByteSize(128);
    let (_h, addr) = start(c);
    let id = "x".repeat(200);
    assert_eq!(
        connack_code(&exchange(addr, &connect_packet(ProtocolVersion::V5, &id))),
        (0x20, 0x95)
    );
    // 3.1.1 has no return code for it: closed without CONNACK.
    assert_eq!(
        exchange(addr, &connect_packet(ProtocolVersion::V3_1_1, &id)),
        b""
    );
}

#[test]
fn connection_limit_is_enforced() {
    let mut c = config();
    c.limits.max_connections = 2;
    let (h, addr) = start(c);
    let mut a = connect(addr);
    let b = connect(addr);
    // Both slots are taken once the server has accepted them.
    let t = Instant::now();
    while h.stats().connections() < 2 {
        assert!(t.elapsed() < Duration::from_secs(5), "not accepted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut third = connect(addr);
    assert_eq!(read_to_close(&mut third), b"");
    assert_eq!(h.stats().refused(), 1);
    // The first two are still served.
    a.write_all(&connect_disconnect(ProtocolVersion::V3_1_1, "a"))
        .unwrap();
    assert_eq!(read_to_close(&mut a), [0x20, 2, 0, 0]);
    drop(a);
    drop(b);
    // Slots come back when connections end.
    let t = Instant::now();
    while h.stats().connections() > 0 {
        assert!(t.elapsed() < Duration::from_secs(5), "slots not released");
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = exchange(addr, &connect_disconnect(ProtocolVersion::V5, "again"));
    assert_eq!(connack_code(&got), (0x20, 0));
}

#[test]
fn connect_timeout_closes_idle_connections() {
    let mut c = config();
    c.limits.connect_timeout_secs = 1;
    let (_h, addr) = start(c);
    let mut s = connect(addr);
    let t = Instant::now();
    assert_eq!(read_to_close(&mut s), b"");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn several_listeners_and_one_shard() {
    let mut c = config();
    c.shards = Shards::Count(1);
    c.listener.push(ListenerConfig {
        bind: Bind("127.0.0.1:0".parse().unwrap()),
        ..ListenerConfig::default()
    });
    let (h, _) = start(c);
    assert_eq!(h.local_addrs().len(), 2);
    for &addr in h.local_addrs() {
        assert_eq!(
            exchange(addr, &connect_disconnect(ProtocolVersion::V3_1_1, "m")),
            [0x20, 2, 0, 0]
        );
    }
}

#[test]
fn a_port_in_use_fails_start_up() {
    let (_h, addr) = start(config());
    let mut c = config();
    c.listener[0].bind = Bind(addr);
    let err = Server::new(c).start().expect_err("port already served");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on {addr}")),
        "{err}"
    );
}
