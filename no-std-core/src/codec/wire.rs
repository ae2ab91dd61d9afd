//! Wire primitives: a bounds-checked [`Reader`] over a received frame and a [`Writer`] that
//! either counts or writes.
//!
//! Every access is checked (`get`, `split_at_checked`); nothing here indexes or panics.
//! Running out of input inside a frame is [`Malformed::UnexpectedEnd`]: the frame reader
//! only hands complete frames to the decoder, so a short field is a malformed packet,
//! never "need more bytes".

use super::error::{DecodeError, EncodeError, Malformed};

/// Largest value a Variable Byte Integer can carry (4 bytes of 7 bits).
pub(crate) const VBI_MAX: u32 = 268_435_455;

/// Number of bytes `value` takes as a minimal Variable Byte Integer.
pub(crate) const fn vbi_len(value: u32) -> usize {
    // Branch-free: smaller in firmware than an if-chain.
    1 + (value >= 0x80) as usize + (value >= 0x4000) as usize + (value >= 0x20_0000) as usize
}

/// Writes a packet straight into a slice already known to hold it, for encoders that know
/// the body's length before writing it (one pass): [`SliceWriter::packet`] checks the
/// length and writes the fixed header, then the body goes in part by part. The 3.1.1
/// CONNECT / SUBSCRIBE / UNSUBSCRIBE encoders of builds without `v5` use it, and so does a
/// client writing a PUBLISH it keeps encoded, so firmware has one such writer.
///
/// ```
/// use tern_core::codec::SliceWriter;
///
/// let mut buf = [0u8; 8];
/// let mut w = SliceWriter::packet(&mut buf, 0x30, 5).unwrap();
/// w.field(b"a/b");
/// assert_eq!(w.position(), SliceWriter::packet_len(5));
/// assert_eq!(&buf[..7], &[0x30, 5, 0, 3, b'a', b'/', b'b']);
/// ```
#[derive(Debug)]
pub struct SliceWriter<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl<'o> SliceWriter<'o> {
    /// A writer at the start of `out` (for records that are not packets).
    pub fn new(out: &'o mut [u8]) -> Self {
        Self { out, at: 0 }
    }

    /// The size of a packet with a body of `body_len` bytes: fixed header plus body
    /// (saturating).
    pub fn packet_len(body_len: usize) -> usize {
        let rl = u32::try_from(body_len).unwrap_or(u32::MAX);
        body_len.saturating_add(1 + vbi_len(rl))
    }

    /// Checks a packet with a body of `body_len` bytes against the protocol maximum
    /// ([`EncodeError::PacketTooLarge`]) and `out` ([`EncodeError::InsufficientSize`]),
    /// then writes its fixed header: `first` (type and flags), then the Remaining Length.
    pub fn packet(out: &'o mut [u8], first: u8, body_len: usize) -> Result<Self, EncodeError> {
        let mut rl = u32::try_from(body_len)
            .ok()
            .filter(|&l| l <= VBI_MAX)
            .ok_or(EncodeError::PacketTooLarge { size: body_len })?;
        let total = Self::packet_len(body_len);
        let out = out
            .get_mut(..total)
            .ok_or(EncodeError::InsufficientSize { required: total })?;
        let mut w = Self::new(out);
        w.put(&[first]);
        loop {
            let byte = (rl & 0x7F) as u8;
            rl >>= 7;
            w.put(&[if rl > 0 { byte | 0x80 } else { byte }]);
            if rl == 0 {
                return Ok(w);
            }
        }
    }

    /// Appends `bytes`. What would run past the end of the slice is not written (the
    /// length was checked up front), but still counted.
    pub fn put(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        if let Some(d) = self.out.get_mut(self.at..end) {
            d.copy_from_slice(bytes);
        }
        self.at = end;
    }

    /// Appends a Two Byte length-prefixed field (its length checked by the caller: a longer
    /// one is written with length 65,535).
    pub fn field(&mut self, bytes: &[u8]) {
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.put(&len.to_be_bytes());
        self.put(bytes);
    }

    /// Bytes written so far (the packet's length once its body is complete).
    pub fn position(&self) -> usize {
        self.at
    }
}

/// Result of parsing a Variable Byte Integer from the front of a buffer.
pub(crate) enum Vbi {
    /// More bytes are needed to finish the integer.
    Incomplete,
    /// The value and the number of bytes it used.
    Done(u32, usize),
}

/// Parses a Variable Byte Integer (at most four bytes) from the front of `buf`.
pub(crate) fn parse_vbi(buf: &[u8]) -> Result<Vbi, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..4usize {
        let Some(&byte) = buf.get(i) else {
            return Ok(Vbi::Incomplete);
        };
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Vbi::Done(value, i + 1));
        }
    }
    Err(Malformed::VarIntTooLong.into())
}

/// A cursor over the bytes of one received frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    /// Reject non-minimal Variable Byte Integers (MQTT 5.0 [MQTT-1.5.5-1]).
    strict_vbi: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], strict_vbi: bool) -> Self {
        Self { buf, strict_vbi }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Fails with [`Malformed::TrailingBytes`] unless everything was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Malformed::TrailingBytes.into())
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self
            .buf
            .split_at_checked(n)
            .ok_or(Malformed::UnexpectedEnd)?;
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&b, tail) = self.buf.split_first().ok_or(Malformed::UnexpectedEnd)?;
        self.buf = tail;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        let arr: [u8; 2] = b.try_into().map_err(|_| Malformed::UnexpectedEnd)?;
        Ok(u16::from_be_bytes(arr))
    }

    #[cfg_attr(not(feature = "v5"), allow(dead_code))]
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let arr: [u8; 4] = b.try_into().map_err(|_| Malformed::UnexpectedEnd)?;
        Ok(u32::from_be_bytes(arr))
    }

    /// A Variable Byte Integer; non-minimal encodings are rejected when `strict_vbi`.
    #[cfg_attr(not(feature = "v5"), allow(dead_code))]
    pub(crate) fn vbi(&mut self) -> Result<u32, DecodeError> {
        match parse_vbi(self.buf)? {
            Vbi::Incomplete => Err(Malformed::UnexpectedEnd.into()),
            Vbi::Done(value, used) => {
                if self.strict_vbi && used != vbi_len(value) {
                    return Err(Malformed::NonMinimalVarInt.into());
                }
                self.take(used)?;
                Ok(value)
            }
        }
    }

    /// Two Byte length-prefixed Binary Data.
    pub(crate) fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 and no U+0000
    /// (3.1.1 [MQTT-1.5.3-1]/[MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-1]/[MQTT-1.5.4-2]).
    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        let bytes = self.binary()?;
        check_utf8(bytes)
    }
}

/// `true` if `s` contains U+0000. A plain byte loop: `str::contains` links the pattern
/// searcher and `memchr` into firmware for strings that are a few bytes long.
pub(crate) fn has_nul(s: &str) -> bool {
    s.bytes().any(|b| b == 0)
}

/// `bytes` as a `&str` when it is well-formed UTF-8: the check the decoder applies to
/// strings, for an application that wants the same one (firmware then links one UTF-8
/// validator).
///
/// Without `alloc` (firmware) this goes through [`<[u8]>::utf8_chunks`], whose byte loop is
/// about 80 bytes of flash smaller than [`core::str::from_utf8`] and its word-at-a-time
/// ASCII path; with `alloc` (the broker, where topics are decoded on the hot path) it is
/// `from_utf8`. Both accept exactly the well-formed UTF-8 strings.
///
/// ```
/// use tern_core::codec::utf8;
///
/// assert_eq!(utf8("a/ü".as_bytes()), Some("a/ü"));
/// assert_eq!(utf8(b""), Some(""));
/// assert_eq!(utf8(b"a\xC3"), None); // truncated sequence
/// assert_eq!(utf8(b"\xED\xA0\x80"), None); // a surrogate
/// ```
pub fn utf8(bytes: &[u8]) -> Option<&str> {
    #[cfg(feature = "alloc")]
    {
        core::str::from_utf8(bytes).ok()
    }
    #[cfg(not(feature = "alloc"))]
    {
        // The first chunk is all of `bytes` exactly when nothing is invalid.
        match bytes.utf8_chunks().next() {
            None => Some(""),
            Some(c) if c.valid().len() == bytes.len() => Some(c.valid()),
            Some(_) => None,
        }
    }
}

/// Validates an MQTT UTF-8 Encoded String.
pub(crate) fn check_utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let s = utf8(bytes).ok_or(Malformed::InvalidUtf8)?;
    if has_nul(s) {
        return Err(Malformed::NullCharacter.into());
    }
    Ok(s)
}

/// Writes wire primitives into a slice, or only counts them.
///
/// Encoding runs the same code twice: once with [`Writer::counter`] to learn the exact
/// length (and validate every value), then, once the caller's buffer is known to be
/// large enough, with [`Writer::with_blocks`]. Lengths therefore cannot drift from what is
/// written.
///
/// Length-prefixed blocks (5.0 property blocks) are measured once: the counting pass records
/// each block's length in order ([`Writer::block`]), and the writing pass, given the
/// counter's [`Writer::blocks`], reuses them in the same order. A block beyond the recorded
/// ones (none today: a packet has at most two) is measured where it is written.
#[derive(Debug)]
pub(crate) struct Writer<'b> {
    buf: Option<&'b mut [u8]>,
    pos: usize,
    blocks: BlockLens,
}

/// Property-block lengths recorded by a counting pass, in the order the blocks are written.
/// A packet has at most two blocks (CONNECT: connect and will properties). Empty without
/// feature `v5` (no property blocks): firmware then neither stores nor zeroes it; with it
/// the counters are bytes, so a counting [`Writer`] is zeroed with a few stores (with
/// `usize` counters it linked `__aeabi_memclr8`, 174 bytes of flash).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BlockLens {
    #[cfg(feature = "v5")]
    lens: [u32; 2],
    /// How many entries of `lens` hold recorded lengths.
    #[cfg(feature = "v5")]
    recorded: u8,
    /// Blocks seen so far in this pass.
    #[cfg(feature = "v5")]
    next: u8,
}

impl<'b> Writer<'b> {
    pub(crate) fn counter() -> Writer<'static> {
        Writer {
            buf: None,
            pos: 0,
            blocks: BlockLens::default(),
        }
    }

    /// A writer that measures each length-prefixed block itself (tests use it directly).
    #[cfg(test)]
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Self::with_blocks(buf, BlockLens::default())
    }

    /// A writer reusing the block lengths a counting pass over the same packet recorded.
    pub(crate) fn with_blocks(buf: &'b mut [u8], recorded: BlockLens) -> Self {
        Self {
            buf: Some(buf),
            pos: 0,
            #[cfg(feature = "v5")]
            blocks: BlockLens {
                next: 0,
                ..recorded
            },
            #[cfg(not(feature = "v5"))]
            blocks: recorded,
        }
    }

    /// The block lengths recorded so far (counting pass).
    pub(crate) fn blocks(&self) -> BlockLens {
        self.blocks
    }

    /// Writes a block prefixed by its length as a Variable Byte Integer.
    ///
    /// The counting pass runs `f` once and records the length; the writing pass takes the
    /// recorded length (or, for a writer without recorded lengths, measures `f` first).
    #[cfg(feature = "v5")]
    pub(crate) fn block(
        &mut self,
        f: impl Fn(&mut Writer<'_>) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        // Without `alloc` (firmware) through a trait object: one copy of the bookkeeping for
        // every property block type, and `f` compiled once rather than once per pass that
        // calls it (about 650 bytes of flash in a 5.0 client). With `alloc` (the broker)
        // monomorphised as before: no indirect call.
        #[cfg(not(feature = "alloc"))]
        let f: &dyn Fn(&mut Writer<'_>) -> Result<(), EncodeError> = &f;
        #[cfg(feature = "alloc")]
        let f = &f;
        self.block_with(f)
    }

    #[cfg(feature = "v5")]
    fn block_with<F: Fn(&mut Writer<'_>) -> Result<(), EncodeError> + ?Sized>(
        &mut self,
        f: &F,
    ) -> Result<(), EncodeError> {
        let to_u32 = |len: usize| {
            u32::try_from(len)
                .ok()
                .filter(|&l| l <= VBI_MAX)
                .ok_or(EncodeError::PacketTooLarge { size: len })
        };
        let slot = self.blocks.next;
        self.blocks.next = slot.saturating_add(1);
        if self.is_counting() {
            let start = self.pos;
            f(self)?;
            let len = to_u32(self.pos - start)?;
            if let Some(l) = self.blocks.lens.get_mut(usize::from(slot)) {
                *l = len;
                self.blocks.recorded = slot + 1;
            }
            self.pos = self
                .pos
                .checked_add(vbi_len(len))
                .ok_or(EncodeError::PacketTooLarge { size: usize::MAX })?;
            return Ok(());
        }
        let len = match self.blocks.lens.get(usize::from(slot)) {
            Some(&len) if slot < self.blocks.recorded => len,
            _ => to_u32(measure(f)?)?,
        };
        self.vbi(len)?;
        f(self)
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether this is the counting pass. Every encode runs the counting pass first over the
    /// same packet, so value checks (U+0000, topic syntax, ...) run only there, once.
    pub(crate) fn is_counting(&self) -> bool {
        self.buf.is_none()
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .pos
            .checked_add(data.len())
            .ok_or(EncodeError::PacketTooLarge { size: usize::MAX })?;
        if let Some(buf) = self.buf.as_deref_mut() {
            let dst = buf
                .get_mut(self.pos..end)
                .ok_or(EncodeError::InsufficientSize { required: end })?;
            dst.copy_from_slice(data);
        }
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    #[cfg_attr(not(feature = "v5"), allow(dead_code))]
    pub(crate) fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn vbi(&mut self, mut v: u32) -> Result<(), EncodeError> {
        if v > VBI_MAX {
            return Err(EncodeError::ValueOutOfRange);
        }
        let mut out = [0u8; 4];
        let mut n = 0;
        for slot in out.iter_mut() {
            let mut byte = (v & 0x7F) as u8;
            v >>= 7;
            if v > 0 {
                byte |= 0x80;
            }
            *slot = byte;
            n += 1;
            if v == 0 {
                break;
            }
        }
        self.bytes(out.get(..n).unwrap_or(&[]))
    }

    pub(crate) fn binary(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let len =
            u16::try_from(data.len()).map_err(|_| EncodeError::FieldTooLong { len: data.len() })?;
        self.u16(len)?;
        self.bytes(data)
    }

    /// A UTF-8 Encoded String; U+0000 is refused (3.1.1 [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-2]).
    pub(crate) fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        if self.is_counting() && has_nul(s) {
            return Err(EncodeError::InvalidString);
        }
        self.binary(s.as_bytes())
    }
}

/// Runs `f` against a counting writer and returns the number of bytes it would write.
#[cfg(feature = "v5")]
pub(crate) fn measure(
    f: impl FnOnce(&mut Writer<'_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let mut w = Writer::counter();
    f(&mut w)?;
    Ok(w.position())
}
