//! One-pass encoders for the packets a client sends with a body and 5.0 properties:
//! CONNECT and SUBSCRIBE, used by [`Connect::encode`] and [`Subscribe::encode`] in builds
//! with feature `v5` (for either version: a 3.1.1 CONNECT / SUBSCRIBE is the same walk
//! without property blocks).
//!
//! Each body is walked twice by one function over a [`Sink`]: counting (checking every
//! value, summing lengths) and then, once [`SliceWriter::packet`] has checked the total
//! and written the fixed header, writing straight into the caller's slice. A property
//! block is measured by a counting walk where its length is written. A client then links
//! neither the two-pass [`Writer`](super::wire::Writer) with its block bookkeeping nor the
//! per-type property writers for these packets (about 600 bytes of flash in a 5.0 client).
//! The bytes and errors are those of [`Packet::encode`] (`tests::v5` compares them),
//! checked in the same order.

#[cfg(doc)]
use super::Packet;
use super::subscribe::check_filter;
use super::wire::VBI_MAX;
use super::{
    Connect, EncodeError, PacketType, ProtocolVersion, SliceWriter, Subscribe, Subscription,
    Subscriptions,
};

/// Where a body walk goes: a counter (no writer) or a writer whose length was checked.
pub(crate) struct Sink<'w, 'o> {
    w: Option<&'w mut SliceWriter<'o>>,
    len: usize,
}

/// A property block's contents, walked into a [`Sink`] (a trait object: one copy of each
/// walk serves both passes).
pub(crate) type BlockFn<'f> = &'f dyn Fn(&mut Sink<'_, '_>) -> Result<(), EncodeError>;

impl Sink<'_, '_> {
    fn counter() -> Sink<'static, 'static> {
        Sink { w: None, len: 0 }
    }

    /// The counting pass: values are checked only here (the writing pass walks the same
    /// packet afterwards).
    pub(crate) fn counting(&self) -> bool {
        self.w.is_none()
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        self.len = self.len.saturating_add(bytes.len());
        if let Some(w) = self.w.as_deref_mut() {
            w.put(bytes);
        }
    }

    /// A Two Byte length-prefixed field; a UTF-8 Encoded String when `string` (U+0000 is
    /// refused, 3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]).
    pub(crate) fn field(&mut self, bytes: &[u8], string: bool) -> Result<(), EncodeError> {
        // A byte loop: `contains` links a word-at-a-time search.
        if self.counting() && string && !bytes.iter().all(|&b| b != 0) {
            return Err(EncodeError::InvalidString);
        }
        let len = u16::try_from(bytes.len())
            .map_err(|_| EncodeError::FieldTooLong { len: bytes.len() })?;
        self.put(&len.to_be_bytes());
        self.put(bytes);
        Ok(())
    }

    /// A Variable Byte Integer.
    pub(crate) fn vbi(&mut self, mut v: u32) -> Result<(), EncodeError> {
        if v > VBI_MAX {
            return Err(EncodeError::ValueOutOfRange);
        }
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            self.put(&[if v > 0 { byte | 0x80 } else { byte }]);
            if v == 0 {
                return Ok(());
            }
        }
    }

    /// A property with a fixed-size value (`id`, then the value's bytes), if present.
    pub(crate) fn num<const N: usize>(&mut self, id: u8, value: Option<[u8; N]>) {
        if let Some(v) = value {
            self.put(&[id]);
            self.put(&v);
        }
    }

    /// A property with a length-prefixed value (a string when `string`), if present.
    pub(crate) fn prop(
        &mut self,
        id: u8,
        value: Option<&[u8]>,
        string: bool,
    ) -> Result<(), EncodeError> {
        if let Some(v) = value {
            self.put(&[id]);
            self.field(v, string)?;
        }
        Ok(())
    }

    /// A property block: its length as a Variable Byte Integer, then its contents.
    pub(crate) fn block(&mut self, f: BlockFn<'_>) -> Result<(), EncodeError> {
        let mut c = Sink::counter();
        f(&mut c)?;
        let len = u32::try_from(c.len)
            .ok()
            .filter(|&l| l <= VBI_MAX)
            .ok_or(EncodeError::PacketTooLarge { size: c.len })?;
        self.vbi(len)?;
        if self.counting() {
            self.len = self.len.saturating_add(c.len);
            Ok(())
        } else {
            f(self)
        }
    }
}

/// Counts `body`, checks the packet against the protocol maximum and `out`, writes the
/// fixed header, then the body.
fn packet(
    first: u8,
    out: &mut [u8],
    body: &dyn Fn(&mut Sink<'_, '_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let mut c = Sink::counter();
    body(&mut c)?;
    let mut w = SliceWriter::packet(out, first, c.len)?;
    body(&mut Sink {
        w: Some(&mut w),
        len: 0,
    })?;
    Ok(w.position())
}

/// CONNECT, either version.
pub(crate) fn connect(c: &Connect<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    packet((PacketType::Connect as u8) << 4, out, &|s| {
        connect_body(c, s)
    })
}

fn connect_body(c: &Connect<'_>, s: &mut Sink<'_, '_>) -> Result<(), EncodeError> {
    let v = c.protocol;
    let v5 = v.is_v5();
    let flags = if v5 { c.flags() } else { c.flags_v3()? };
    let [k0, k1] = c.keep_alive.to_be_bytes();
    s.field(v.protocol_name().as_bytes(), true)?;
    s.put(&[v.level(), flags, k0, k1]);
    if v5 {
        c.properties.walk(s)?;
    }
    s.field(c.client_id.as_bytes(), true)?;
    if let Some(will) = &c.will {
        if v5 {
            will.properties.walk(s)?;
        }
        s.field(will.topic.as_str().as_bytes(), true)?;
        s.field(will.payload, false)?;
    }
    if let Some(u) = c.username {
        s.field(u.as_bytes(), true)?;
    }
    if let Some(p) = c.password {
        s.field(p, false)?;
    }
    Ok(())
}

/// SUBSCRIBE for a peer speaking `version`.
///
/// A list of the application's slice is walked as a slice: a client builds its SUBSCRIBE
/// from one, so the decoded-list path is left out of its firmware where the call inlines.
#[inline]
pub(crate) fn subscribe(
    sub: &Subscribe<'_>,
    version: ProtocolVersion,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let flags = PacketType::Subscribe.required_flags().unwrap_or(0);
    let first = ((PacketType::Subscribe as u8) << 4) | flags;
    let v5 = version.is_v5();
    match sub.filters {
        Subscriptions::Slice(list) => packet(first, out, &|s| {
            subscribe_body(sub, list.iter().copied(), v5, s)
        }),
        Subscriptions::Encoded(_) => packet(first, out, &|s| {
            subscribe_body(sub, sub.filters.iter(), v5, s)
        }),
    }
}

fn subscribe_body<'a>(
    sub: &Subscribe<'_>,
    filters: impl Iterator<Item = Subscription<'a>>,
    v5: bool,
    s: &mut Sink<'_, '_>,
) -> Result<(), EncodeError> {
    s.put(&sub.packet_id.get().to_be_bytes());
    if v5 {
        sub.properties.walk(s)?;
    }
    let mut count = 0usize;
    for f in filters {
        if s.counting() {
            let shared = check_filter(v5, f.filter).ok_or(EncodeError::InvalidTopicFilter)?;
            if shared && f.options.no_local {
                return Err(EncodeError::InvalidValue);
            }
        }
        s.field(f.filter.as_bytes(), true)?;
        s.put(&[f.options.to_byte(v5)]);
        count += 1;
    }
    if count == 0 {
        return Err(EncodeError::EmptyList);
    }
    Ok(())
}
