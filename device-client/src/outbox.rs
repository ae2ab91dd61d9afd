//! The outbox: outgoing messages kept encoded in a caller-supplied byte slice, from
//! `publish` until they are sent (QoS 0) or acknowledged (QoS 1: PUBACK; QoS 2: PUBREC),
//! so that a reconnect that resumes the session re-sends them (DUP) and one that does not
//! sends them again as new messages. The session engine tracks their flows
//! ([`Connection::start_outbox_publish`](tern_core::session::Connection::start_outbox_publish))
//! and asks for the bytes through [`session::Outbox`].
//!
//! Records follow each other from the start of the slice, in publish order:
//!
//! ```text
//! [body length: u16 BE][topic end: u16 BE][flags: u8][packet id: u16 BE][body]
//! ```
//!
//! The body is the PUBLISH without its fixed header and without a packet identifier (the
//! topic, then in 5.0 the property block, then the payload); the identifier goes at "topic
//! end" when the packet is written. Flags: bit 0 RETAIN, bits 1-2 the QoS asked for, bit 6
//! encoded for 5.0, bit 7 sent (the identifier is valid). Writing the packet rebuilds the
//! fixed header, so the QoS can be lowered to the broker's Maximum QoS and DUP set on a
//! re-send without touching the record.

use tern_core::codec::{EncodeError, PacketId, QoS, QosPid, SliceWriter};
#[cfg(feature = "v5")]
use tern_core::codec::{FixedHeader, Packet, ProtocolVersion, Publish};
use tern_core::session::{self, Session, Storage};

use crate::Error;

/// Bytes of a record before its body.
pub(crate) const RECORD_HEADER: usize = 7;

const RETAIN: u8 = 0x01;
const V5: u8 = 0x40;
const SENT: u8 = 0x80;

/// The caller's outbox slice and how much of it records use.
#[derive(Debug)]
pub(crate) struct Outbox<'b> {
    buf: &'b mut [u8],
    used: usize,
}

/// One record, read from the slice.
#[derive(Clone, Copy)]
struct Record<'a> {
    flags: u8,
    topic_end: usize,
    pid: u16,
    body: &'a [u8],
}

impl Record<'_> {
    fn qos(&self) -> QoS {
        match (self.flags >> 1) & 3 {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        }
    }

    fn sent(&self) -> bool {
        self.flags & SENT != 0
    }

    /// The body for a connection of `v5` (converted if it was encoded for the other
    /// version): the part before the identifier, the property block to insert (5.0 from
    /// 3.1.1: none, i.e. its zero length), and the rest.
    #[cfg_attr(not(all(feature = "v3", feature = "v5")), allow(unused_mut))]
    fn parts(&self, v5: bool) -> (&[u8], &'static [u8], &[u8]) {
        let (head, mut tail) = self.body.split_at(self.topic_end.min(self.body.len()));
        let mut insert: &'static [u8] = &[];
        #[cfg(all(feature = "v3", feature = "v5"))]
        if (self.flags & V5 != 0) != v5 {
            if v5 {
                insert = &[0];
            } else {
                // Drop the property block: a variable byte integer length, then that many.
                let mut len = 0usize;
                let mut shift = 0;
                let mut n = 0usize;
                for &b in tail.iter().take(4) {
                    len |= usize::from(b & 0x7F) << shift;
                    shift += 7;
                    n += 1;
                    if b & 0x80 == 0 {
                        break;
                    }
                }
                tail = tail.get(n.saturating_add(len)..).unwrap_or_default();
            }
        }
        let _ = v5;
        (head, insert, tail)
    }

    /// The PUBLISH's size when written at `qos` on a connection of `v5`.
    fn size(&self, qos: QoS, v5: bool) -> usize {
        let (a, b, c) = self.parts(v5);
        publish_size(a.len() + b.len() + c.len(), qos)
    }

    /// Writes the PUBLISH with `qos_pid` (and DUP) into `out`: `Ok(None)` if larger than
    /// `max`.
    fn write(
        &self,
        qos_pid: QosPid,
        dup: bool,
        v5: bool,
        out: &mut [u8],
        max: usize,
    ) -> Result<Option<usize>, EncodeError> {
        let qos = qos_pid.qos();
        let (a, b, c) = self.parts(v5);
        let pid = qos_pid.packet_id().map(PacketId::get);
        // The Remaining Length, from the parts (not from the total size: at 127 / 128 the
        // length of its own encoding would be miscounted).
        let rl = a.len() + b.len() + c.len() + if pid.is_some() { 2 } else { 0 };
        if SliceWriter::packet_len(rl) > max {
            return Ok(None);
        }
        // [MQTT-3.3.1-2]: DUP is 0 on a QoS 0 PUBLISH.
        let dup = dup && pid.is_some();
        let first = 0x30 | u8::from(dup) << 3 | (qos as u8) << 1 | (self.flags & RETAIN);
        let mut w = SliceWriter::packet(out, first, rl)?;
        w.put(a);
        if let Some(pid) = pid {
            w.put(&pid.to_be_bytes());
        }
        w.put(b);
        w.put(c);
        Ok(Some(w.position()))
    }
}

/// The size of a PUBLISH whose body (without packet identifier) is `body` bytes, at `qos`.
pub(crate) fn publish_size(body: usize, qos: QoS) -> usize {
    SliceWriter::packet_len(body + if qos == QoS::AtMostOnce { 0 } else { 2 })
}

impl<'b> Outbox<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, used: 0 }
    }

    /// The record at `at`, if one starts there.
    fn record(&self, at: usize) -> Option<Record<'_>> {
        let h = self.buf.get(at..at + RECORD_HEADER)?;
        let body_len = usize::from(u16::from_be_bytes([*h.first()?, *h.get(1)?]));
        let topic_end = usize::from(u16::from_be_bytes([*h.get(2)?, *h.get(3)?]));
        let flags = *h.get(4)?;
        let pid = u16::from_be_bytes([*h.get(5)?, *h.get(6)?]);
        let start = at + RECORD_HEADER;
        let body = self.buf.get(start..start + body_len)?;
        Some(Record {
            flags,
            topic_end,
            pid,
            body,
        })
    }

    /// The first record, in order, for which `pred` holds, with its offset.
    fn find(&self, mut pred: impl FnMut(&Record<'_>) -> bool) -> Option<(usize, Record<'_>)> {
        let mut at = 0;
        while at < self.used {
            let r = self.record(at)?;
            if pred(&r) {
                return Some((at, r));
            }
            at += RECORD_HEADER + r.body.len();
        }
        None
    }

    /// Messages not sent yet.
    pub(crate) fn queued_len(&self) -> usize {
        let mut n = 0;
        self.find(|r| {
            n += usize::from(!r.sent());
            false
        });
        n
    }

    /// Appends a message without 5.0 properties, written directly (no PUBLISH encoder: the
    /// body is the topic's length and bytes, on a 5.0 connection an empty property block,
    /// then the payload). `topic` was validated. [`Error::QueueFull`] while earlier records
    /// leave too little room; [`Error::TooLarge`] if it could never fit.
    pub(crate) fn push_plain(
        &mut self,
        v5: bool,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), Error> {
        let topic_end = 2 + topic.len();
        let body_len = topic_end + usize::from(v5) + payload.len();
        let (Ok(body16), Ok(end16)) = (u16::try_from(body_len), u16::try_from(topic_end)) else {
            return Err(Error::TooLarge);
        };
        let n = RECORD_HEADER + body_len;
        let Some(dst) = self.buf.get_mut(self.used..self.used + n) else {
            return Err(if n > self.buf.len() || self.used == 0 {
                Error::TooLarge
            } else {
                Error::QueueFull
            });
        };
        let mut flags = u8::from(retain) | (qos as u8) << 1;
        if v5 {
            flags |= V5;
        }
        let [b0, b1] = body16.to_be_bytes();
        let [t0, t1] = end16.to_be_bytes();
        let mut w = SliceWriter::new(dst);
        w.put(&[b0, b1, t0, t1, flags, 0, 0]);
        w.field(topic.as_bytes());
        if v5 {
            w.put(&[0]);
        }
        w.put(payload);
        self.used += n;
        Ok(())
    }

    /// Appends `publish` (its QoS field is ignored: `qos` is kept), encoded for `version`
    /// (a message with 5.0 properties); returns the record's offset.
    /// The record takes 7 bytes plus the body, and encoding it needs room for its fixed
    /// header (2 to 5 bytes) beyond that: the whole PUBLISH is encoded after the record
    /// header, then the body moved over the fixed header. (Sizing the body first instead
    /// links a second counting pass of the encoder: about 1 KB of flash in 3.1.1, 2.8 KB
    /// in 5.0.) [`Error::QueueFull`] while earlier records leave too little room;
    /// [`Error::TooLarge`] if it could never fit.
    #[cfg(feature = "v5")]
    pub(crate) fn push(
        &mut self,
        version: ProtocolVersion,
        publish: &Publish<'_>,
        qos: QoS,
    ) -> Result<usize, Error> {
        let free = self.buf.get_mut(self.used..).unwrap_or_default();
        let start = RECORD_HEADER.min(free.len());
        let (header, space) = free.split_at_mut(start);
        let full = match Packet::Publish(*publish).encode(version, space) {
            Ok(n) => n,
            Err(EncodeError::InsufficientSize { required }) => {
                return Err(
                    if required + RECORD_HEADER > self.buf.len() || self.used == 0 {
                        Error::TooLarge
                    } else {
                        Error::QueueFull
                    },
                );
            }
            Err(e) => return Err(Error::Encode(e)),
        };
        let Ok(Some((_, fixed))) = FixedHeader::parse(space) else {
            return Err(Error::TooLarge);
        };
        let body_len = full - fixed;
        let topic_end = 2 + publish.topic.len();
        let (Ok(body16), Ok(topic16)) = (u16::try_from(body_len), u16::try_from(topic_end)) else {
            return Err(Error::TooLarge);
        };
        // The body moves to right after the record header (over the fixed header).
        crate::engine::shift_out(space, fixed, full);
        let mut flags = u8::from(publish.retain) | (qos as u8) << 1;
        if version.is_v5() {
            flags |= V5;
        }
        let [b0, b1] = body16.to_be_bytes();
        let [t0, t1] = topic16.to_be_bytes();
        if let Some(h) = header.get_mut(..RECORD_HEADER) {
            h.copy_from_slice(&[b0, b1, t0, t1, flags, 0, 0]);
        }
        let at = self.used;
        self.used += RECORD_HEADER + body_len;
        Ok(at)
    }

    /// Removes the record at `at`.
    fn remove(&mut self, at: usize) {
        if let Some(r) = self.record(at) {
            let n = RECORD_HEADER + r.body.len();
            if let Some(tail) = self.buf.get_mut(at..self.used) {
                crate::engine::shift_out(tail, n, self.used - at);
            }
            self.used -= n;
        }
    }

    /// Reconciles the sent records with the session's flows. A sent record whose flow the
    /// session no longer has is dropped (`requeue` false: acknowledged, or ended by the
    /// engine; after PUBACK / PUBREC / PUBCOMP and on every `Published` event) or, after
    /// CONNACK (`requeue` true: a new session, Session Present 0), marked unsent so that it
    /// goes out again as a new message, in its place in the order.
    pub(crate) fn sync<R: session::Role, S: Storage>(
        &mut self,
        session: &Session<R, S>,
        requeue: bool,
    ) {
        let mut at = 0;
        while let Some(r) = self.record(at).filter(|_| at < self.used) {
            let gone =
                r.sent() && PacketId::new(r.pid).is_none_or(|pid| !session.outbox_pending(pid));
            let next = at + RECORD_HEADER + r.body.len();
            if gone && !requeue {
                self.remove(at);
                continue;
            }
            if gone && let Some(f) = self.buf.get_mut(at + 4) {
                *f &= !SENT;
            }
            at = next;
        }
    }

    /// The first record not sent yet: its offset, the QoS it goes out with (`send_qos` of
    /// the QoS asked for) and its size then on a connection of `v5`.
    pub(crate) fn next_queued(
        &self,
        v5: bool,
        send_qos: impl Fn(QoS) -> QoS,
    ) -> Option<(usize, QoS, usize)> {
        let (at, r) = self.find(|r| !r.sent())?;
        let qos = send_qos(r.qos());
        Some((at, qos, r.size(qos, v5)))
    }

    /// Writes the record at `at` as its first send with `qos_pid`, then drops it (QoS 0) or
    /// marks it sent. The caller checked its size.
    pub(crate) fn send(
        &mut self,
        at: usize,
        qos_pid: QosPid,
        v5: bool,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let n = match self.record(at) {
            Some(r) => r.write(qos_pid, false, v5, out, usize::MAX)?.unwrap_or(0),
            None => 0,
        };
        match qos_pid.packet_id() {
            None => self.remove(at),
            Some(pid) => {
                let [p0, p1] = pid.get().to_be_bytes();
                if let Some(h) = self.buf.get_mut(at + 4..at + RECORD_HEADER) {
                    let flags = h.first().copied().unwrap_or(0) | SENT;
                    h.copy_from_slice(&[flags, p0, p1]);
                }
            }
        }
        Ok(n)
    }

    /// Drops the record at `at` (too large for the broker or the tx buffer).
    pub(crate) fn drop_at(&mut self, at: usize) {
        self.remove(at);
    }
}

/// The engine's view: the version of the connection being served, and the outbox.
pub(crate) struct Resender<'o, 'b> {
    pub(crate) outbox: &'o mut Outbox<'b>,
    pub(crate) v5: bool,
}

impl session::Outbox for Resender<'_, '_> {
    fn resend(
        &mut self,
        qos_pid: QosPid,
        out: &mut [u8],
        max: usize,
    ) -> Result<Option<usize>, EncodeError> {
        let Some(pid) = qos_pid.packet_id().map(PacketId::get) else {
            return Ok(None);
        };
        match self.outbox.find(|r| r.sent() && r.pid == pid) {
            Some((_, r)) => r.write(qos_pid, true, self.v5, out, max),
            None => Ok(None),
        }
    }
}
