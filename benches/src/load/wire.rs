//! Bytes on the wire: packets encoded once with `mqttbytes` and patched per message, and a light
//! frame scanner for the receive path.
//!
//! The tool never encodes or decodes with Tern's own codec, so a codec bug cannot hide itself.
//! Everything the tool sends is produced by `mqttbytes` (v4 = MQTT 3.1.1, v5 = MQTT 5.0): a
//! PUBLISH is encoded once per publisher ([`PublishTemplate`]) and only its packet id and the
//! 16-byte payload header ([`PayloadHeader`]) are overwritten per message; the four acks are
//! encoded once ([`AckTemplates`]) and get their packet id patched. On receive, [`next_frame`]
//! splits the stream on the fixed header and remaining length, and [`parse_publish`] /
//! [`parse_ack`] pick out only the fields the verifier needs.

use bytes::BytesMut;
use mqttbytes::{QoS, v4, v5};

use super::BenchError;

/// The MQTT protocol version spoken by every client of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V4,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    /// The protocol level as used on the command line and in the JSON (`4` or `5`).
    pub fn level(self) -> u8 {
        match self {
            Version::V4 => 4,
            Version::V5 => 5,
        }
    }
}

/// MQTT control packet types, as found in the high nibble of the first byte.
pub mod packet_type {
    /// CONNACK.
    pub const CONNACK: u8 = 2;
    /// PUBLISH.
    pub const PUBLISH: u8 = 3;
    /// PUBACK.
    pub const PUBACK: u8 = 4;
    /// PUBREC.
    pub const PUBREC: u8 = 5;
    /// PUBREL.
    pub const PUBREL: u8 = 6;
    /// PUBCOMP.
    pub const PUBCOMP: u8 = 7;
    /// SUBACK.
    pub const SUBACK: u8 = 9;
    /// PINGRESP.
    pub const PINGRESP: u8 = 13;
    /// DISCONNECT.
    pub const DISCONNECT: u8 = 14;
}

/// Converts a QoS number (0, 1 or 2) to the `mqttbytes` type.
pub fn qos_of(qos: u8) -> Result<QoS, BenchError> {
    match qos {
        0 => Ok(QoS::AtMostOnce),
        1 => Ok(QoS::AtLeastOnce),
        2 => Ok(QoS::ExactlyOnce),
        other => Err(BenchError::Usage(format!(
            "QoS must be 0, 1 or 2, not {other}"
        ))),
    }
}

fn encode_err(what: &str, e: mqttbytes::Error) -> BenchError {
    BenchError::Protocol(format!("mqttbytes could not encode {what}: {e:?}"))
}

/// The first 16 bytes of every payload: who sent it, its place in that publisher's sequence and
/// when it was written to the socket. All fields little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadHeader {
    /// Index of the publisher within the run (0-based).
    pub publisher: u32,
    /// Per-publisher sequence number, starting at 0.
    pub seq: u32,
    /// Send time in nanoseconds since the run's base instant.
    pub sent_ns: u64,
}

impl PayloadHeader {
    /// Size of the header in bytes; payloads must be at least this long.
    pub const LEN: usize = 16;

    /// Writes the header into the first [`Self::LEN`] bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`Self::LEN`].
    pub fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.publisher.to_le_bytes());
        out[4..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.sent_ns.to_le_bytes());
    }

    /// Reads a header from the start of a payload; `None` if it is too short.
    pub fn read(payload: &[u8]) -> Option<Self> {
        let publisher = u32::from_le_bytes(payload.get(0..4)?.try_into().ok()?);
        let seq = u32::from_le_bytes(payload.get(4..8)?.try_into().ok()?);
        let sent_ns = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
        Some(Self {
            publisher,
            seq,
            sent_ns,
        })
    }
}

/// Reads an MQTT variable byte integer; returns the value and the number of bytes used, or
/// `Ok(None)` if `buf` ends before the integer does.
fn read_varint(buf: &[u8]) -> Result<Option<(usize, usize)>, BenchError> {
    let mut value = 0usize;
    for (i, &b) in buf.iter().enumerate() {
        if i == 4 {
            return Err(BenchError::Protocol(
                "malformed variable byte integer".into(),
            ));
        }
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        return Err(BenchError::Protocol(
            "malformed variable byte integer".into(),
        ));
    }
    Ok(None)
}

/// A PUBLISH packet encoded once by `mqttbytes`, with the offsets of the packet id and the
/// payload header located once, so that each message costs one copy and three small writes.
#[derive(Debug, Clone)]
pub struct PublishTemplate {
    bytes: Vec<u8>,
    pkid_at: Option<usize>,
    header_at: usize,
}

impl PublishTemplate {
    /// Encodes a PUBLISH of `payload_len` bytes (at least [`PayloadHeader::LEN`]) to `topic`.
    pub fn new(
        version: Version,
        topic: &str,
        qos: u8,
        payload_len: usize,
    ) -> Result<Self, BenchError> {
        if payload_len < PayloadHeader::LEN {
            return Err(BenchError::Usage(format!(
                "payload must be at least {} bytes (publisher, sequence, timestamp)",
                PayloadHeader::LEN
            )));
        }
        let q = qos_of(qos)?;
        // A recognisable filler: easy to spot in a packet capture.
        let payload: Vec<u8> = (0..payload_len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut buf = BytesMut::new();
        match version {
            Version::V4 => {
                let mut p = v4::Publish::new(topic, q, payload);
                p.pkid = if qos > 0 { 1 } else { 0 };
                p.write(&mut buf).map_err(|e| encode_err("PUBLISH", e))?;
            }
            Version::V5 => {
                let mut p = v5::Publish::new(topic, q, payload);
                p.pkid = if qos > 0 { 1 } else { 0 };
                p.write(&mut buf).map_err(|e| encode_err("PUBLISH", e))?;
            }
        }
        let bytes = buf.to_vec();
        let (_, varint_len) = read_varint(&bytes[1..])?
            .ok_or_else(|| BenchError::Protocol("mqttbytes wrote a truncated PUBLISH".into()))?;
        let topic_at = 1 + varint_len;
        let pkid_at = (qos > 0).then_some(topic_at + 2 + topic.len());
        // The payload is the last field of a PUBLISH in both versions.
        let header_at = bytes.len() - payload_len;
        if let Some(at) = pkid_at
            && bytes.get(at..at + 2) != Some(&[0, 1][..])
        {
            return Err(BenchError::Protocol(
                "could not locate the packet id in the PUBLISH".into(),
            ));
        }
        Ok(Self {
            bytes,
            pkid_at,
            header_at,
        })
    }

    /// Length of one encoded message in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a PUBLISH is never empty (provided for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends one message to `out` with the given packet id (ignored at QoS 0) and header.
    pub fn append(&self, out: &mut Vec<u8>, pkid: u16, header: PayloadHeader) {
        let at = out.len();
        out.extend_from_slice(&self.bytes);
        let msg = &mut out[at..];
        if let Some(p) = self.pkid_at {
            msg[p..p + 2].copy_from_slice(&pkid.to_be_bytes());
        }
        header.write(&mut msg[self.header_at..]);
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP encoded once by `mqttbytes` (success, no properties: four
/// bytes in both versions), patched with a packet id per use.
#[derive(Debug, Clone, Copy)]
pub struct AckTemplates {
    puback: [u8; 4],
    pubrec: [u8; 4],
    pubrel: [u8; 4],
    pubcomp: [u8; 4],
}

/// Which ack to append with [`AckTemplates::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// QoS 1 acknowledgement.
    PubAck,
    /// QoS 2, step 1 (receiver → sender).
    PubRec,
    /// QoS 2, step 2 (sender → receiver).
    PubRel,
    /// QoS 2, step 3 (receiver → sender).
    PubComp,
}

impl AckTemplates {
    /// Encodes the four acks for `version`.
    pub fn new(version: Version) -> Result<Self, BenchError> {
        let mut out = [[0u8; 4]; 4];
        for (i, slot) in out.iter_mut().enumerate() {
            let mut buf = BytesMut::new();
            let r = match (version, i) {
                (Version::V4, 0) => v4::PubAck::new(1).write(&mut buf),
                (Version::V4, 1) => v4::PubRec::new(1).write(&mut buf),
                (Version::V4, 2) => v4::PubRel::new(1).write(&mut buf),
                (Version::V4, _) => v4::PubComp::new(1).write(&mut buf),
                (Version::V5, 0) => v5::PubAck::new(1).write(&mut buf),
                (Version::V5, 1) => v5::PubRec::new(1).write(&mut buf),
                (Version::V5, 2) => v5::PubRel::new(1).write(&mut buf),
                (Version::V5, _) => v5::PubComp::new(1).write(&mut buf),
            };
            r.map_err(|e| encode_err("an ack", e))?;
            *slot = buf[..].try_into().map_err(|_| {
                BenchError::Protocol(format!("mqttbytes wrote a {}-byte ack", buf.len()))
            })?;
        }
        let [puback, pubrec, pubrel, pubcomp] = out;
        Ok(Self {
            puback,
            pubrec,
            pubrel,
            pubcomp,
        })
    }

    /// Appends `ack` for packet id `pkid` to `out`.
    pub fn append(&self, out: &mut Vec<u8>, ack: Ack, pkid: u16) {
        let t = match ack {
            Ack::PubAck => &self.puback,
            Ack::PubRec => &self.pubrec,
            Ack::PubRel => &self.pubrel,
            Ack::PubComp => &self.pubcomp,
        };
        let id = pkid.to_be_bytes();
        out.extend_from_slice(&[t[0], t[1], id[0], id[1]]);
    }
}

/// Encodes a CONNECT (clean session / clean start, no will, no login).
pub fn encode_connect(
    version: Version,
    client_id: &str,
    keep_alive: u16,
) -> Result<Vec<u8>, BenchError> {
    let mut buf = BytesMut::new();
    match version {
        Version::V4 => {
            let mut c = v4::Connect::new(client_id);
            c.keep_alive = keep_alive;
            c.write(&mut buf).map_err(|e| encode_err("CONNECT", e))?;
        }
        Version::V5 => {
            let mut c = v5::Connect::new(client_id);
            c.keep_alive = keep_alive;
            c.write(&mut buf).map_err(|e| encode_err("CONNECT", e))?;
        }
    }
    Ok(buf.to_vec())
}

/// Encodes a SUBSCRIBE for one filter at `qos` with packet id `pkid`.
pub fn encode_subscribe(
    version: Version,
    filter: &str,
    qos: u8,
    pkid: u16,
) -> Result<Vec<u8>, BenchError> {
    let q = qos_of(qos)?;
    let mut buf = BytesMut::new();
    match version {
        Version::V4 => {
            let mut s = v4::Subscribe::new(filter, q);
            s.pkid = pkid;
            s.write(&mut buf).map_err(|e| encode_err("SUBSCRIBE", e))?;
        }
        Version::V5 => {
            let mut s = v5::Subscribe::new(filter, q);
            s.pkid = pkid;
            s.write(&mut buf).map_err(|e| encode_err("SUBSCRIBE", e))?;
        }
    }
    Ok(buf.to_vec())
}

/// Encodes a PINGREQ.
pub fn encode_pingreq() -> Result<Vec<u8>, BenchError> {
    let mut buf = BytesMut::new();
    v4::PingReq
        .write(&mut buf)
        .map_err(|e| encode_err("PINGREQ", e))?;
    Ok(buf.to_vec())
}

/// Encodes a DISCONNECT (normal disconnection).
pub fn encode_disconnect(version: Version) -> Result<Vec<u8>, BenchError> {
    let mut buf = BytesMut::new();
    match version {
        Version::V4 => v4::Disconnect.write(&mut buf),
        Version::V5 => v5::Disconnect::new().write(&mut buf),
    }
    .map_err(|e| encode_err("DISCONNECT", e))?;
    Ok(buf.to_vec())
}

/// One complete frame borrowed from the receive buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The first byte: packet type in the high nibble, flags in the low nibble.
    pub header: u8,
    /// The bytes after the fixed header (variable header and payload).
    pub body: &'a [u8],
}

impl Frame<'_> {
    /// The packet type (high nibble of the first byte).
    pub fn packet_type(&self) -> u8 {
        self.header >> 4
    }
}

/// Splits the next frame off `buf`: `Ok(Some((frame, consumed)))`, or `Ok(None)` if `buf` does
/// not yet hold a whole frame.
pub fn next_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, BenchError> {
    let Some((&header, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let Some((len, varint_len)) = read_varint(rest)? else {
        return Ok(None);
    };
    let start = 1 + varint_len;
    match buf.get(start..start + len) {
        Some(body) => Ok(Some((Frame { header, body }, start + len))),
        None => Ok(None),
    }
}

/// The fields of a received PUBLISH that the verifier uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishView {
    /// Delivered QoS.
    pub qos: u8,
    /// Packet id (0 at QoS 0).
    pub pkid: u16,
    /// The payload header written by the publisher.
    pub header: PayloadHeader,
}

fn short(what: &str) -> BenchError {
    BenchError::Protocol(format!("truncated {what}"))
}

/// Picks the QoS, packet id and payload header out of a PUBLISH frame without decoding the rest.
pub fn parse_publish(version: Version, frame: Frame<'_>) -> Result<PublishView, BenchError> {
    let qos = (frame.header >> 1) & 3;
    if qos == 3 {
        return Err(BenchError::Protocol("PUBLISH with QoS 3".into()));
    }
    let body = frame.body;
    let topic_len = usize::from(u16::from_be_bytes([
        *body.first().ok_or_else(|| short("PUBLISH"))?,
        *body.get(1).ok_or_else(|| short("PUBLISH"))?,
    ]));
    let mut at = 2 + topic_len;
    let mut pkid = 0;
    if qos > 0 {
        let b = body.get(at..at + 2).ok_or_else(|| short("PUBLISH"))?;
        pkid = u16::from_be_bytes([b[0], b[1]]);
        if pkid == 0 {
            return Err(BenchError::Protocol("PUBLISH with packet id 0".into()));
        }
        at += 2;
    }
    if version == Version::V5 {
        let rest = body.get(at..).ok_or_else(|| short("PUBLISH"))?;
        let (props, n) = read_varint(rest)?.ok_or_else(|| short("PUBLISH properties"))?;
        at += n + props;
    }
    let payload = body.get(at..).ok_or_else(|| short("PUBLISH"))?;
    let header = PayloadHeader::read(payload).ok_or_else(|| {
        BenchError::Protocol(format!(
            "PUBLISH payload of {} bytes has no bench header",
            payload.len()
        ))
    })?;
    Ok(PublishView { qos, pkid, header })
}

/// Reads the packet id of a PUBACK/PUBREC/PUBREL/PUBCOMP and fails on an MQTT 5 error reason.
pub fn parse_ack(frame: Frame<'_>) -> Result<u16, BenchError> {
    let b = frame.body;
    let pkid = match b {
        [h, l, ..] => u16::from_be_bytes([*h, *l]),
        _ => return Err(short("ack")),
    };
    if let Some(&reason) = b.get(2)
        && reason >= 0x80
    {
        return Err(BenchError::Protocol(format!(
            "ack (type {}) for packet id {pkid} carries error reason 0x{reason:02x}",
            frame.packet_type()
        )));
    }
    Ok(pkid)
}

/// Checks a CONNACK: fails unless the return / reason code is 0 (accepted).
pub fn check_connack(frame: Frame<'_>) -> Result<(), BenchError> {
    if frame.packet_type() != packet_type::CONNACK {
        return Err(BenchError::Protocol(format!(
            "expected CONNACK, got packet type {}",
            frame.packet_type()
        )));
    }
    match frame.body.get(1) {
        Some(0) => Ok(()),
        Some(code) => Err(BenchError::Protocol(format!(
            "connection refused with code 0x{code:02x}"
        ))),
        None => Err(short("CONNACK")),
    }
}

/// Checks a SUBACK for `pkid`: fails unless the broker granted exactly `qos`.
pub fn check_suback(
    version: Version,
    frame: Frame<'_>,
    pkid: u16,
    qos: u8,
) -> Result<(), BenchError> {
    if frame.packet_type() != packet_type::SUBACK {
        return Err(BenchError::Protocol(format!(
            "expected SUBACK, got packet type {}",
            frame.packet_type()
        )));
    }
    let b = frame.body;
    let got = match b {
        [h, l, ..] => u16::from_be_bytes([*h, *l]),
        _ => return Err(short("SUBACK")),
    };
    if got != pkid {
        return Err(BenchError::Protocol(format!(
            "SUBACK for packet id {got}, expected {pkid}"
        )));
    }
    let mut at = 2;
    if version == Version::V5 {
        let (props, n) = read_varint(&b[2..])?.ok_or_else(|| short("SUBACK properties"))?;
        at += n + props;
    }
    match b.get(at) {
        Some(&code) if code == qos => Ok(()),
        Some(&code) => Err(BenchError::Protocol(format!(
            "subscription at QoS {qos} answered with code 0x{code:02x}"
        ))),
        None => Err(short("SUBACK")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(version: Version, qos: u8) {
        let t = PublishTemplate::new(version, "tb/x/in/3", qos, 64).unwrap();
        let mut out = Vec::new();
        let h1 = PayloadHeader {
            publisher: 3,
            seq: 7,
            sent_ns: 123_456_789,
        };
        let h2 = PayloadHeader {
            publisher: 3,
            seq: 8,
            sent_ns: 987,
        };
        t.append(&mut out, 513, h1);
        t.append(&mut out, 1, h2);
        assert_eq!(out.len(), 2 * t.len());

        // Our scanner.
        let (f1, n1) = next_frame(&out).unwrap().unwrap();
        assert_eq!(f1.packet_type(), packet_type::PUBLISH);
        let v1 = parse_publish(version, f1).unwrap();
        assert_eq!(
            v1,
            PublishView {
                qos,
                pkid: if qos > 0 { 513 } else { 0 },
                header: h1
            }
        );
        let (f2, n2) = next_frame(&out[n1..]).unwrap().unwrap();
        assert_eq!(parse_publish(version, f2).unwrap().header, h2);
        assert_eq!(n1 + n2, out.len());
        assert!(next_frame(&out[..n1 - 1]).unwrap().is_none());

        // The independent decoder agrees.
        let mut b = BytesMut::from(&out[..n1]);
        let (pkid, payload) = match version {
            Version::V4 => match v4::read(&mut b, 1 << 20).unwrap() {
                v4::Packet::Publish(p) => (p.pkid, p.payload),
                other => panic!("{other:?}"),
            },
            Version::V5 => match v5::read(&mut b, 1 << 20).unwrap() {
                v5::Packet::Publish(p) => (p.pkid, p.payload),
                other => panic!("{other:?}"),
            },
        };
        assert_eq!(pkid, if qos > 0 { 513 } else { 0 });
        assert_eq!(PayloadHeader::read(&payload), Some(h1));
        assert_eq!(payload.len(), 64);
    }

    #[test]
    fn publish_template_patches_pkid_and_header() {
        for v in [Version::V4, Version::V5] {
            for q in 0..=2 {
                roundtrip(v, q);
            }
        }
    }

    #[test]
    fn acks_patch_pkid() {
        for v in [Version::V4, Version::V5] {
            let a = AckTemplates::new(v).unwrap();
            let mut out = Vec::new();
            a.append(&mut out, Ack::PubRel, 0x1234);
            assert_eq!(out, [0x62, 0x02, 0x12, 0x34]);
            let (f, _) = next_frame(&out).unwrap().unwrap();
            assert_eq!(parse_ack(f).unwrap(), 0x1234);
        }
    }

    #[test]
    fn scanner_handles_long_lengths_and_errors() {
        let mut pkt = vec![0x30, 0x80, 0x01];
        pkt.extend(std::iter::repeat_n(0u8, 128));
        let (f, n) = next_frame(&pkt).unwrap().unwrap();
        assert_eq!((f.body.len(), n), (128, 131));
        assert!(next_frame(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(next_frame(&[0x30, 0xff]).unwrap().is_none());
        let v5_err = [0x40, 0x03, 0x00, 0x05, 0x80];
        assert!(parse_ack(next_frame(&v5_err).unwrap().unwrap().0).is_err());
    }

    #[test]
    fn suback_and_connack_checks() {
        let ok = [0x90, 0x03, 0x00, 0x01, 0x01];
        let f = next_frame(&ok).unwrap().unwrap().0;
        assert!(check_suback(Version::V4, f, 1, 1).is_ok());
        assert!(check_suback(Version::V4, f, 1, 2).is_err());
        let ok5 = [0x90, 0x04, 0x00, 0x01, 0x00, 0x02];
        assert!(check_suback(Version::V5, next_frame(&ok5).unwrap().unwrap().0, 1, 2).is_ok());
        let refused = [0x20, 0x02, 0x00, 0x05];
        assert!(check_connack(next_frame(&refused).unwrap().unwrap().0).is_err());
    }
}
