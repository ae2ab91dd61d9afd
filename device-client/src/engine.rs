//! The one implementation both front ends drive: a [`Client`] owns the session engine
//! (`tern_core::session::Connection`) and the caller's rx/tx buffers, and turns received
//! bytes into [`Event`]s. It performs no I/O: the front ends ([`blocking`](crate::blocking),
//! [`asynch`](crate::asynch)) move bytes between the transport and the buffers.
//!
//! Front-end contract (what `poll` / `next_event` do, in this order):
//!
//! 1. [`Client::prepare`] at `now`: drops the bytes of the event handed out last, handles
//!    due deadlines (keep-alive) and every buffered packet that produces no event for the
//!    application; returns `true` when an event is ready.
//! 2. Write every packet from [`Client::next_transmit`] until `None`.
//! 3. If an event is ready, return [`Client::take_event`] (it may borrow the rx buffer).
//! 4. Otherwise read into [`Client::rx_space`] and report the count with
//!    [`Client::on_read`], or wait until [`Client::deadline`].

#[cfg(feature = "v5")]
use tern_core::codec::QosPid;
use tern_core::codec::{
    Connect, DecodeError, EncodeError, FixedHeader, Packet, PacketId, PacketType, ProtocolVersion,
    Publish, QoS, ReasonCode, ReasonCodes, Subscribe, Subscription, Unsubscribe,
};
use tern_core::session::{
    self, Client as ClientRole, CloseReason, Config, Connection, DropReason, Incoming, Instant,
    QueuePolicy, Session, Storage,
};

use crate::Error;
use crate::outbox::{Outbox, Resender};

/// An event for the application, from [`Client::take_event`] (through the front ends'
/// `poll` / `next_event`). Borrowed data lives in the rx buffer until the next call.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// CONNACK accepted the connection. With `session_present`, the broker resumed the
    /// session and the client re-sends unacknowledged messages (DUP) and PUBRELs first.
    Connected {
        /// Session Present from CONNACK.
        session_present: bool,
    },
    /// An application message (QoS 1/2: acknowledged automatically by the next call; a
    /// QoS 2 message is delivered once, however often the broker re-sends it). The topic is
    /// the full topic name (a Topic Alias was resolved). Match it with [`matches()`].
    Message(Publish<'a>),
    /// An outgoing QoS 1/2 message completed (PUBACK, PUBCOMP, or a PUBREC error code).
    Published {
        /// Its packet identifier, now free.
        packet_id: PacketId,
        /// The broker's reason code (always Success in 3.1.1).
        reason: ReasonCode,
    },
    /// SUBACK for [`subscribe`](crate::Client::subscribe): one code per filter, in order
    /// (granted QoS 0x00-0x02, or an error such as 0x80).
    Subscribed {
        /// The identifier `subscribe` returned.
        packet_id: PacketId,
        /// The broker's codes.
        reason_codes: ReasonCodes<'a>,
    },
    /// UNSUBACK for [`unsubscribe`](crate::Client::unsubscribe).
    Unsubscribed {
        /// The identifier `unsubscribe` returned.
        packet_id: PacketId,
    },
    /// 3.1.1: an incoming PUBLISH larger than the rx buffer. Its body was streamed past
    /// (never buffered) and it was still acknowledged from its header (PUBACK / PUBREC), so
    /// the broker does not re-send it forever. (5.0 advertises the rx buffer as Maximum
    /// Packet Size; a larger packet closes the connection with DISCONNECT 0x95.)
    Oversize {
        /// Its topic.
        topic: &'a str,
        /// Its QoS.
        qos: QoS,
        /// The whole packet's size in bytes.
        size: usize,
    },
    /// An outgoing message was dropped without being delivered, e.g. larger than the
    /// broker's Maximum Packet Size ([`DropReason::TooLarge`]), or a QoS 0 message pushed
    /// out of a full queue.
    Dropped {
        /// Why.
        reason: DropReason,
    },
    /// The connection ended (call `connect` again on a new transport to resume the
    /// session). The session, with unacknowledged QoS 1/2 messages, is kept in RAM: it
    /// does not survive an MCU reset.
    Disconnected(CloseReason),
}

/// `true` if `topic` matches the MQTT topic `filter` (`+` and `#` wildcards); invalid
/// filters or topic names match nothing. For dispatching [`Event::Message`].
pub fn matches(filter: &str, topic: &str) -> bool {
    match (
        tern_core::topic::TopicFilter::new(filter),
        tern_core::topic::TopicName::new(topic),
    ) {
        (Ok(f), Ok(t)) => f.matches(&t),
        _ => false,
    }
}

/// An event produced by [`Client::prepare`], kept without borrowing until taken.
#[derive(Debug, Clone, Copy)]
enum Ready {
    Connected(bool),
    Published(PacketId, ReasonCode),
    Dropped(DropReason),
    Disconnected(CloseReason),
    /// The packet at the front of rx (this long) is a PUBLISH / SUBACK / UNSUBACK.
    Frame(usize),
    /// 3.1.1 oversize PUBLISH: topic at `rx[start..start + len]` (narrow fields: this
    /// lives in the client's RAM).
    Oversize {
        start: u8,
        len: u16,
        qos: QoS,
        size: usize,
    },
}

/// The MQTT client: session engine plus the caller's buffers. See the
/// [crate documentation](crate) for the API and the RAM it uses.
///
/// `S` is the session storage, [`Fixed`](tern_core::session::Fixed)`<INFLIGHT, 0,
/// ALIASES, TOPIC, 0>`: `INFLIGHT` unacknowledged outgoing (and incoming) QoS 1/2 flows,
/// `ALIASES` inbound topic aliases (5.0; 0 makes our Topic Alias Maximum 0) of topics up
/// to `TOPIC` bytes. The messages themselves live in the outbox slice, so the session's
/// queue (`QUEUE`) and subscription list (`SUBS`) stay empty: use 0 for both. The client
/// assigns no outgoing topic aliases (a stored PUBLISH must stay valid on the next
/// connection, whose aliases start empty).
#[derive(Debug)]
pub struct Client<'b, S: Storage> {
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    /// Bytes buffered in `rx`.
    rx_len: usize,
    /// Bytes to drop from the front of `rx` before the next step (the last event's frame).
    consume: usize,
    /// 3.1.1 oversize PUBLISH: body bytes still to read and discard.
    skip: usize,
    ready: Option<Ready>,
    /// The protocol version of the last `connect` (`None` before the first).
    version: Option<ProtocolVersion>,
    /// Messages dropped before their first send (larger than the broker's Maximum Packet
    /// Size), not reported yet.
    dropped: u8,
    /// tx holds a CONNECT / SUBSCRIBE / UNSUBSCRIBE a front end encoded, handed out first by
    /// the next [`Client::next_transmit`] (so the front ends write every packet through
    /// one flush loop). A flag, not a length: its fixed header gives the length.
    pending: bool,
    /// Outgoing messages, encoded, until sent (QoS 0) or acknowledged.
    outbox: Outbox<'b>,
    /// The engine, kept for the client's whole life: `connect` restarts it in place
    /// ([`Connection::reconnect`]), so the session is never moved or copied. Before the
    /// first `connect` it is idle (closed, holding the empty session).
    conn: Connection<ClientRole, S>,
}

impl<'b, S: Storage> Client<'b, S> {
    /// A client over the caller's buffers: `rx` holds one whole incoming packet (in 5.0 it
    /// is advertised as the Maximum Packet Size), `tx` one whole outgoing packet (CONNECT,
    /// SUBSCRIBE, or the largest PUBLISH), and `outbox` the outgoing messages, encoded,
    /// from [`publish`](Self::publish) until they are sent (QoS 0) or acknowledged (QoS 1:
    /// PUBACK; QoS 2: PUBREC), so that a reconnect re-sends them. Each message takes 7
    /// bytes plus its PUBLISH without fixed header and packet identifier (for a short topic
    /// and payload: 2 + topic + payload in 3.1.1, one more for 5.0 properties); queuing one
    /// with 5.0 properties (`publish_with`) needs room for its fixed header (2 to 5 bytes)
    /// beyond that. No allocation; nothing is sent yet.
    pub fn new(rx: &'b mut [u8], tx: &'b mut [u8], outbox: &'b mut [u8]) -> Self {
        Self {
            rx,
            tx,
            dropped: 0,
            pending: false,
            outbox: Outbox::new(outbox),
            rx_len: 0,
            consume: 0,
            skip: 0,
            ready: None,
            version: None,
            conn: Connection::idle_client(Session::new(QueuePolicy::default())),
        }
    }

    /// `true` between CONNACK and the end of the connection.
    pub fn is_connected(&self) -> bool {
        self.conn.is_connected()
    }

    /// `true` while a connection is open or awaiting its CONNACK (the transport is in use).
    pub fn is_active(&self) -> bool {
        self.conn.close_reason().is_none()
    }

    /// Outgoing QoS 1/2 messages sent and not yet completed (PUBACK; PUBCOMP for QoS 2).
    pub fn inflight_len(&self) -> usize {
        self.conn.session().inflight_len()
    }

    /// Messages in the outbox not sent yet.
    pub fn queued_len(&self) -> usize {
        self.outbox.queued_len()
    }

    /// The connection's limits (the broker's Receive Maximum, Maximum Packet Size, ...).
    pub fn limits(&self) -> Option<&session::Limits> {
        self.version.map(|_| self.conn.limits())
    }

    /// Starts a connection: takes the session back from a previous connection, encodes
    /// `connect` into tx and returns its length (the front end writes it). Clean Start 0
    /// resumes the session: after CONNACK with Session Present, unacknowledged PUBLISH
    /// (DUP) and PUBREL packets are re-sent first.
    ///
    /// 5.0: the CONNECT announces the rx buffer as Maximum Packet Size, Receive Maximum at
    /// most `INFLIGHT` and Topic Alias Maximum at most `ALIASES` (0 without alias storage).
    pub fn start_connect(&mut self, now: Instant, connect: &Connect<'_>) -> Result<usize, Error> {
        self.start(now, connect)
    }

    /// [`Client::start_connect`] with the front end's error type: the front ends convert no
    /// error afterwards ([`Error::lift`] and its per-variant match cost about 100 bytes of
    /// firmware flash, next to the errors built in place here).
    pub(crate) fn start<E>(
        &mut self,
        now: Instant,
        connect: &Connect<'_>,
    ) -> Result<usize, Error<E>> {
        #[cfg_attr(not(feature = "v5"), allow(unused_mut))]
        let mut connect = *connect;
        #[cfg(feature = "v5")]
        if connect.protocol.is_v5() {
            let p = &mut connect.properties;
            p.maximum_packet_size = u32::try_from(self.rx.len())
                .ok()
                .and_then(core::num::NonZeroU32::new);
            let cap = session::Slots::<session::InFlight>::capacity(&S::Inbound::default());
            let cap = u16::try_from(cap).unwrap_or(u16::MAX).max(1);
            p.receive_maximum =
                core::num::NonZeroU16::new(p.receive_maximum.map_or(cap, |r| r.get().min(cap)));
            let aliases =
                session::Slots::<session::Alias<S::Bytes>>::capacity(&S::Aliases::default());
            let aliases = u16::try_from(aliases).unwrap_or(u16::MAX);
            let wanted = p.topic_alias_maximum.unwrap_or(aliases).min(aliases);
            p.topic_alias_maximum = (wanted > 0).then_some(wanted);
        }
        let encoded = connect.encode(self.tx);
        let mut config = Config::client();
        config.maximum_packet_size = u32::try_from(self.rx.len()).unwrap_or(u32::MAX);
        self.rx_len = 0;
        self.consume = 0;
        self.skip = 0;
        self.ready = None;
        self.pending = false;
        self.version = Some(connect.protocol);
        match encoded {
            Ok(n) => {
                self.conn.reconnect(now, &connect, config);
                Ok(n)
            }
            Err(e) => {
                // The previous connection (if any) ends all the same; the session is kept.
                self.conn.end(now);
                Err(Error::Encode(e))
            }
        }
    }

    /// Queues a message, encoded into the outbox; it is sent, in order, by the next `poll`
    /// while the broker's window allows, and kept until sent (QoS 0) or acknowledged.
    /// Works while disconnected (sent after the next CONNACK). [`Error::QueueFull`]: the
    /// outbox is full (poll, then retry); [`Error::TooLarge`]: the PUBLISH does not fit the
    /// tx buffer or the empty outbox. A message larger than the broker's 5.0 Maximum Packet
    /// Size is reported as [`Event::Dropped`] instead of being sent.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<(), Error> {
        check_topic(topic)?;
        let v5 = self.queue_version().is_v5();
        // Worst case as sent: with a packet identifier.
        let body = 2 + topic.len() + usize::from(v5) + payload.len();
        if crate::outbox::publish_size(body, QoS::AtLeastOnce) > self.tx.len() {
            return Err(Error::TooLarge);
        }
        self.outbox.push_plain(v5, topic, payload, qos, retain)
    }

    /// The version a message queued now is encoded for: the last connection's, before the
    /// first one the newest this build speaks.
    fn queue_version(&self) -> ProtocolVersion {
        #[cfg(feature = "v5")]
        let v = ProtocolVersion::V5;
        #[cfg(not(feature = "v5"))]
        let v = ProtocolVersion::V3_1_1;
        self.version.unwrap_or(v)
    }

    /// [`publish`](Self::publish) with 5.0 properties: Response Topic and Correlation Data
    /// (request / response), User Properties, Content Type, Payload Format Indicator,
    /// Message Expiry Interval (sent as given, also on a re-send). A Topic Alias or
    /// Subscription Identifiers in `properties` are ignored (a client sends neither: the
    /// stored PUBLISH must stay valid on the next connection, [MQTT-3.3.4-6]). A 3.1.1
    /// connection sends the message without them.
    #[cfg(feature = "v5")]
    pub fn publish_with(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: &tern_core::codec::PublishProperties<'_>,
    ) -> Result<(), Error> {
        let mut p = Publish::new(topic, QosPid::AtMostOnce, payload);
        p.retain = retain;
        p.properties = *properties;
        p.properties.topic_alias = None;
        p.properties.subscription_identifiers = Default::default();
        self.enqueue(&p, qos)
    }

    #[cfg(feature = "v5")]
    fn enqueue(&mut self, p: &Publish<'_>, qos: QoS) -> Result<(), Error> {
        check_topic(p.topic)?;
        let v = self.queue_version();
        // Worst case as sent: with a packet identifier.
        let mut sized = *p;
        sized.qos_pid = QosPid::AtLeastOnce(PacketId::MIN);
        match sized.encoded_len(v) {
            Ok(n) if n <= self.tx.len() => {}
            _ => return Err(Error::TooLarge),
        }
        self.outbox.push(v, p, qos).map(|_| ())
    }

    /// Encodes a SUBSCRIBE for `filters` into tx (the front end writes it); returns its
    /// length and packet identifier, which the [`Event::Subscribed`] carries back.
    pub fn encode_subscribe(
        &mut self,
        filters: &[Subscription<'_>],
    ) -> Result<(PacketId, usize), Error> {
        self.subscribe_into(filters)
    }

    /// [`Client::encode_subscribe`] with the front end's error type.
    pub(crate) fn subscribe_into<E>(
        &mut self,
        filters: &[Subscription<'_>],
    ) -> Result<(PacketId, usize), Error<E>> {
        let (v, pid) = self.reserve_pid()?;
        let n = Subscribe::new(pid, filters.into()).encode(v, self.tx)?;
        Ok((pid, n))
    }

    /// Encodes an UNSUBSCRIBE for `filters` into tx; see [`Client::encode_subscribe`].
    pub fn encode_unsubscribe(&mut self, filters: &[&str]) -> Result<(PacketId, usize), Error> {
        self.unsubscribe_into(filters)
    }

    /// [`Client::encode_unsubscribe`] with the front end's error type.
    pub(crate) fn unsubscribe_into<E>(
        &mut self,
        filters: &[&str],
    ) -> Result<(PacketId, usize), Error<E>> {
        let (v, pid) = self.reserve_pid()?;
        let n = Unsubscribe::new(pid, filters.into()).encode(v, self.tx)?;
        Ok((pid, n))
    }

    fn reserve_pid<E>(&mut self) -> Result<(ProtocolVersion, PacketId), Error<E>> {
        let c = &mut self.conn;
        if !c.is_connected() {
            return Err(Error::NotConnected);
        }
        c.allocate_packet_id()
            .map(|pid| (c.version(), pid))
            .ok_or(Error::NoPacketId)
    }

    /// Ends the connection with DISCONNECT `reason` (0x00: the broker discards the Will;
    /// 0x04 in 5.0: publish it). The front end then writes the DISCONNECT from
    /// [`Client::next_transmit`] and closes the transport. The session is kept.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        self.conn.disconnect(now, reason);
    }

    /// The transport failed or reached end of file: the connection ends abnormally (the
    /// broker publishes the Will); the session is kept for the next `connect`.
    pub fn on_transport_closed(&mut self, now: Instant) {
        self.conn.handle_transport_closed(now);
    }

    /// The front ends' way to send the packet they just encoded into tx: the next
    /// [`Client::next_transmit`] hands it out before anything else, then what the engine
    /// has to send (encoded on demand, so tx is free whenever the last packet handed out
    /// was written, as after every front-end call).
    pub(crate) fn send_encoded(&mut self) {
        self.pending = true;
    }

    /// The next packet to write, encoded in tx: `Ok(Some(bytes))`, or `Ok(None)` when there
    /// is nothing to send.
    pub fn next_transmit(&mut self, now: Instant) -> Result<Option<&[u8]>, Error> {
        self.transmit(now).map_err(Error::Encode)
    }

    /// [`Client::next_transmit`]; the front ends map the error without [`Error::lift`].
    pub(crate) fn transmit(&mut self, now: Instant) -> Result<Option<&[u8]>, EncodeError> {
        let Self {
            conn,
            tx,
            outbox,
            dropped,
            pending,
            ..
        } = self;
        if core::mem::take(pending)
            && let Ok(Some((header, header_len))) = FixedHeader::parse(tx)
        {
            let n = usize::try_from(header.remaining_length)
                .unwrap_or(usize::MAX)
                .saturating_add(header_len);
            return Ok(tx.get(..n));
        }
        let v5 = conn.version().is_v5();
        let mut resender = Resender { outbox, v5 };
        if let Some(n) = conn.poll_transmit_with(now, tx, &mut resender)? {
            return Ok(tx.get(..n));
        }
        // New messages from the outbox, in order, once everything else is out.
        while let Some((at, qos, size)) = outbox.next_queued(v5, |q| conn.send_qos(q)) {
            if !conn.is_connected() {
                break;
            }
            let max = usize::try_from(conn.limits().peer_max_packet).unwrap_or(usize::MAX);
            if size > max || size > tx.len() {
                // 5.0 [MQTT-3.1.2-24]: never larger than the broker accepts. Reported.
                outbox.drop_at(at);
                *dropped = dropped.saturating_add(1);
                continue;
            }
            let Some(qos_pid) = conn.start_outbox_publish(now, qos) else {
                break;
            };
            let n = outbox.send(at, qos_pid, v5, tx)?;
            return Ok(tx.get(..n));
        }
        Ok(None)
    }

    /// The instant at which the engine needs [`Client::prepare`] even without input
    /// (keep-alive: PINGREQ, or the PINGRESP deadline).
    pub fn deadline(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// Where the next read goes (the free part of rx, or scratch space while an oversize
    /// packet is streamed past). Never empty while a connection is active.
    pub fn rx_space(&mut self) -> &mut [u8] {
        self.apply_consume();
        if self.skip > 0 {
            let n = self.skip.min(self.rx.len());
            return self.rx.get_mut(..n).unwrap_or_default();
        }
        self.rx.get_mut(self.rx_len..).unwrap_or_default()
    }

    /// `n` bytes were read into [`Client::rx_space`]; 0 means the transport reached end of
    /// file.
    pub fn on_read(&mut self, now: Instant, n: usize) {
        if n == 0 {
            self.on_transport_closed(now);
        } else if self.skip > 0 {
            self.skip = self.skip.saturating_sub(n);
        } else {
            self.rx_len = self.rx_len.saturating_add(n).min(self.rx.len());
        }
    }

    fn apply_consume(&mut self) {
        if self.consume > 0 {
            let c = self.consume.min(self.rx_len);
            shift_out(self.rx, c, self.rx_len);
            self.rx_len -= c;
            self.consume = 0;
        }
    }

    /// Processes everything that needs no application attention (due deadlines, acks,
    /// PINGRESP, CONNACK, ...) and returns `true` when an event is ready for
    /// [`Client::take_event`]. Never panics, whatever the broker sent.
    pub fn prepare(&mut self, now: Instant) -> bool {
        self.apply_consume();
        if self.ready.is_some() {
            return true;
        }
        let conn = &mut self.conn;
        // It acts only on what is due at `now` (asking `poll_timeout` first cost more code).
        conn.handle_timeout(now);
        loop {
            if let Some(ev) = conn.poll_event() {
                self.ready = Some(match ev {
                    session::Event::Connected { session_present } => {
                        Ready::Connected(session_present)
                    }
                    session::Event::Published { packet_id, reason } => {
                        self.outbox.sync(conn.session(), false);
                        Ready::Published(packet_id, reason)
                    }
                    session::Event::Dropped { reason, .. } => Ready::Dropped(reason),
                    session::Event::Closed(r) => Ready::Disconnected(r),
                });
                return true;
            }
            if self.dropped > 0 {
                self.dropped -= 1;
                self.ready = Some(Ready::Dropped(DropReason::TooLarge));
                return true;
            }
            if conn.close_reason().is_some() || self.skip > 0 {
                return false;
            }
            // Before the first `connect` the idle engine is closed (returned above).
            let version = conn.version();
            let buf = self.rx.get(..self.rx_len).unwrap_or_default();
            let (header, header_len) = match FixedHeader::parse(buf) {
                Ok(Some(h)) => h,
                Ok(None) => return false,
                Err(e) => {
                    fail(conn, now, e);
                    continue;
                }
            };
            let size = usize::try_from(header.remaining_length)
                .unwrap_or(usize::MAX)
                .saturating_add(header_len);
            if size > self.rx.len() {
                match oversize(conn, now, version, &header, header_len, size, buf) {
                    Ok(r) => {
                        // Everything buffered belongs to this packet; the rest of it is
                        // streamed past.
                        self.skip = size - self.rx_len;
                        self.consume = self.rx_len;
                        self.ready = r;
                        return r.is_some();
                    }
                    Err(()) => continue,
                }
            }
            let Some(frame) = buf.get(..size) else {
                return false;
            };
            if matches!(
                header.packet_type,
                PacketType::Publish | PacketType::SubAck | PacketType::UnsubAck
            ) {
                self.ready = Some(Ready::Frame(size));
                return true;
            }
            // Errors close the connection inside the engine (reported as an event).
            let _ = feed(conn, now, frame);
            // The flows the session no longer has: acknowledged messages leave the outbox;
            // after CONNACK without a session they are sent again. (Only PUBACK / PUBREC /
            // PUBCOMP and CONNACK end flows; for the others the walk finds nothing to do, and
            // one call site is smaller.)
            self.outbox
                .sync(conn.session(), header.packet_type == PacketType::ConnAck);
            shift_out(self.rx, size, self.rx_len);
            self.rx_len -= size;
        }
    }

    /// The event [`Client::prepare`] found, if any (it borrows the rx buffer until the
    /// next call). A message the engine does not deliver (a re-sent QoS 2 duplicate)
    /// yields `None`.
    pub fn take_event(&mut self, now: Instant) -> Option<Event<'_>> {
        let Self {
            rx,
            rx_len,
            consume,
            ready,
            conn,
            ..
        } = self;
        let ev = match ready.take()? {
            Ready::Connected(session_present) => Event::Connected { session_present },
            Ready::Published(packet_id, reason) => Event::Published { packet_id, reason },
            Ready::Dropped(reason) => Event::Dropped { reason },
            Ready::Disconnected(r) => Event::Disconnected(r),
            Ready::Oversize {
                start,
                len,
                qos,
                size,
            } => Event::Oversize {
                topic: rx
                    .get(usize::from(start)..usize::from(start) + usize::from(len))
                    .and_then(tern_core::codec::utf8)
                    .unwrap_or_default(),
                qos,
                size,
            },
            Ready::Frame(size) => {
                *consume = size;
                let frame = rx.get(..size.min(*rx_len))?;
                match feed(conn, now, frame)? {
                    Incoming::Publish { publish, .. } => Event::Message(publish),
                    Incoming::Packet(Packet::SubAck(a)) => Event::Subscribed {
                        packet_id: a.packet_id,
                        reason_codes: a.reason_codes,
                    },
                    Incoming::Packet(Packet::UnsubAck(a)) => Event::Unsubscribed {
                        packet_id: a.packet_id,
                    },
                    _ => return None,
                }
            }
        };
        Some(ev)
    }
}

/// Drops `buf[..n]`, moving `buf[n..len]` to the front. Copies in chunks of at most `n`
/// bytes (never overlapping), so it links `memcpy` only: `copy_within` would pull in
/// `memmove`, about 1.6 KB of flash on a Cortex-M.
pub(crate) fn shift_out(buf: &mut [u8], n: usize, len: usize) {
    let mut at = 0;
    while n > 0 && at + n < len {
        let chunk = n.min(len - at - n);
        if let Some((dst, src)) = buf.get_mut(at..).and_then(|b| b.split_at_mut_checked(n))
            && let (Some(d), Some(s)) = (dst.get_mut(..chunk), src.get(..chunk))
        {
            d.copy_from_slice(s);
        }
        at += chunk;
    }
}

/// [`Error::InvalidTopic`] unless `topic` is a valid topic name.
fn check_topic(topic: &str) -> Result<(), Error> {
    tern_core::topic::TopicName::new(topic)
        .map(|_| ())
        .map_err(|_| Error::InvalidTopic)
}

/// Decodes a whole frame and hands the packet to the engine, straight from the decoder's
/// `Result` (binding it first made a copy: 152 bytes through `__aeabi_memcpy4` in 5.0). A
/// packet that does not parse, or that the engine refuses, closes the connection (`None`, as
/// for a packet that is not the application's business).
fn feed<'a, S: Storage>(
    conn: &'a mut Connection<ClientRole, S>,
    now: Instant,
    frame: &'a [u8],
) -> Option<Incoming<'a>> {
    match Packet::decode_from_server(conn.version(), frame) {
        Ok(packet) => conn.handle_packet_ref(now, &packet).ok().flatten(),
        Err(e) => {
            fail(conn, now, e);
            None
        }
    }
}

/// A packet that does not parse: 5.0 answers DISCONNECT with its reason code; both close.
fn fail<S: Storage>(conn: &mut Connection<ClientRole, S>, now: Instant, e: DecodeError) {
    conn.disconnect(now, e.reason_code());
}

/// A packet larger than rx. 5.0: the broker ignored our Maximum Packet Size (DISCONNECT
/// 0x95). 3.1.1: a PUBLISH is acknowledged from its header and reported; anything else
/// closes the connection (`Err`). `buf` holds what is buffered of the packet. `Ok(None)`: a
/// duplicate, acknowledged again and streamed past without an event.
fn oversize<S: Storage>(
    conn: &mut Connection<ClientRole, S>,
    now: Instant,
    version: ProtocolVersion,
    header: &FixedHeader,
    header_len: usize,
    size: usize,
    buf: &[u8],
) -> Result<Option<Ready>, ()> {
    if version.is_v5() || header.packet_type != PacketType::Publish {
        conn.disconnect(now, ReasonCode::PacketTooLarge);
        return Err(());
    }
    // The head (topic, packet identifier), decoded and checked by the core exactly as a
    // whole PUBLISH would be; the rx buffer must hold it.
    let p = match Publish::decode_head(version, buf) {
        Ok(Some((p, _))) => p,
        Ok(None) => {
            // The head alone does not fit rx: the packet cannot even be acknowledged.
            conn.disconnect(now, ReasonCode::PacketTooLarge);
            return Err(());
        }
        Err(e) => {
            fail(conn, now, e);
            return Err(());
        }
    };
    let qos = p.qos_pid.qos();
    // The topic follows the fixed header and its own 2-byte length.
    // (Both always fit: a fixed header is at most 5 bytes, a topic at most 65,535.)
    let (Ok(start), Ok(len)) = (u8::try_from(header_len + 2), u16::try_from(p.topic.len())) else {
        conn.disconnect(now, ReasonCode::PacketTooLarge);
        return Err(());
    };
    // The engine sees the PUBLISH without its body: it records the flow and queues the
    // PUBACK / PUBREC exactly as for a delivered message (duplicates are not reported).
    match conn.handle_packet(now, Packet::Publish(p)) {
        Ok(Some(_)) => Ok(Some(Ready::Oversize {
            start,
            len,
            qos,
            size,
        })),
        // A duplicate: acknowledged again, not reported again; streamed past all the same.
        Ok(None) => Ok(None),
        Err(_) => Err(()),
    }
}
