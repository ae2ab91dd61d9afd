//! `peek_connect_version`: the version a (possibly broken) CONNECT announces.

use std::vec::Vec;

use super::*;

/// A CONNECT frame with the given protocol name and level followed by `rest`.
fn connect_frame(name: &[u8], level: u8, rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.push(level);
    body.extend_from_slice(rest);
    frame(0x10, &body)
}

#[cfg(feature = "v3")]
#[test]
fn peek_v3_1_mqisdp_level_3() {
    let f = connect_frame(b"MQIsdp", 3, &[0x02, 0, 60, 0, 1, b'c']);
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V3_1));
}

#[cfg(feature = "v3")]
#[test]
fn peek_v3_1_1_mqtt_level_4() {
    let f = connect_frame(b"MQTT", 4, &[0x02, 0, 60, 0, 0]);
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V3_1_1));
    // Exactly up to the level byte is enough.
    assert_eq!(
        peek_connect_version(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4]),
        Some(ProtocolVersion::V3_1_1)
    );
}

#[cfg(feature = "v5")]
#[test]
fn peek_v5_mqtt_level_5() {
    let f = connect_frame(b"MQTT", 5, &[0x02, 0, 60, 0, 0, 0]);
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V5));
    // Two-byte Remaining Length (value larger than the bytes present), then truncated.
    let f = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 5];
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V5));
}

#[cfg(feature = "v5")]
#[test]
fn peek_ignores_what_follows_the_level() {
    // Reserved connect flag set, bad fixed header flags, a body that does not match the
    // Remaining Length: the version is still readable, and decoding still fails.
    let mut f = connect_frame(b"MQTT", 5, &[0x01, 0, 60]);
    f[0] = 0x1F;
    assert!(Packet::decode(ProtocolVersion::V5, &f).is_err());
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V5));
    let mut f = connect_frame(b"MQTT", 5, &[0x02, 0, 60, 0, 0, 0]);
    f.extend_from_slice(b"trailing");
    assert_eq!(peek_connect_version(&f), Some(ProtocolVersion::V5));
}

#[test]
fn peek_unknown_name_or_level_is_none() {
    for (name, level) in [
        (&b"MQTT"[..], 3),
        (b"MQTT", 6),
        (b"MQTT", 0),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
        (b"mqtt", 4),
        (b"MQTTX", 4),
        (b"", 4),
    ] {
        let f = connect_frame(name, level, &[0x02, 0, 60, 0, 0]);
        assert_eq!(peek_connect_version(&f), None, "{name:?}/{level}");
    }
}

#[test]
fn peek_truncated_or_not_connect_is_none() {
    let full = [
        0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0, 0,
    ];
    for n in 0..9 {
        assert_eq!(peek_connect_version(&full[..n]), None, "{n} bytes");
    }
    // Not a CONNECT.
    assert_eq!(peek_connect_version(&[0x30, 0]), None);
    let mut other = full;
    other[0] = 0x20;
    assert_eq!(peek_connect_version(&other), None);
    // Remaining Length longer than four bytes, or still incomplete.
    assert_eq!(
        peek_connect_version(&[0x10, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 4, b'M']),
        None
    );
    assert_eq!(peek_connect_version(&[0x10, 0x80, 0x80]), None);
    // A name length running past the end.
    assert_eq!(
        peek_connect_version(&[0x10, 7, 0, 200, b'M', b'Q', b'T', b'T', 4]),
        None
    );
}

proptest::proptest! {
    /// Never panics; whenever decoding a frame yields a CONNECT, peeking agrees with it.
    #[test]
    fn peek_total_and_agrees_with_decode(
        level in 2u8..7,
        mqisdp: bool,
        tail in proptest::collection::vec(proptest::num::u8::ANY, 0..48),
        cut in 0usize..64,
    ) {
        let name: &[u8] = if mqisdp { b"MQIsdp" } else { b"MQTT" };
        let f = connect_frame(name, level, &tail);
        let f = &f[..cut.min(f.len())];
        let peeked = peek_connect_version(f);
        if let Some(v) = versions().first().copied()
            && let Ok(Packet::Connect(c)) = Packet::decode(v, f)
        {
            proptest::prop_assert_eq!(peeked, Some(c.protocol));
        }
        let random = peek_connect_version(&tail);
        if let Some(v) = random {
            proptest::prop_assert!(versions().contains(&v));
        }
    }
}
