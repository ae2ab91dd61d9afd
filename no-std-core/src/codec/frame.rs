//! Reassembling packets from partial reads, sans-IO, over the caller's buffer.
//!
//! The [`FrameReader`] owns no bytes. The connection keeps received bytes in its own buffer
//! and calls [`FrameReader::decode`] with everything not yet consumed:
//!
//! 1. [`Decoded::Incomplete`] `{ needed }`: keep the bytes, read more, and call again once
//!    the buffer holds at least `needed` bytes (calling earlier is harmless).
//! 2. [`Decoded::Packet`] `{ packet, consumed }`: handle `packet` (it borrows the buffer),
//!    then drop `consumed` bytes from the front and call again: more packets may be buffered.
//! 3. `Err(e)`: the peer broke the protocol; answer with `e.reason_code()` (or, for the
//!    first CONNECT, `e.connack_reason()`) where the version allows it, and close.
//!    [`DecodeError::PacketTooLarge`] is reported as soon as the Remaining Length is known,
//!    before the body is buffered, and carries the frame size.
//!
//! A server creates the reader with [`FrameReader::new`]: the protocol version is unknown
//! until CONNECT, so the first packet must be CONNECT ([MQTT-3.1.0-1]) and its protocol
//! level fixes the version for the rest of the connection. A client, which chose the
//! version, uses [`FrameReader::with_version`].
//!
//! ```
//! # #[cfg(feature = "v3")] {
//! use tern_core::codec::{Decoded, FrameReader, Packet};
//!
//! let mut reader = FrameReader::new(1024);
//! // A 3.1.1 CONNECT (client id "a") followed by a PINGREQ, received in two pieces.
//! let wire = [
//!     0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a', 0xC0, 0,
//! ];
//! assert_eq!(reader.decode(&wire[..5]), Ok(Decoded::Incomplete { needed: 15 }));
//! let Ok(Decoded::Packet { packet: Packet::Connect(c), consumed: 15 }) = reader.decode(&wire)
//! else { panic!() };
//! assert_eq!(c.client_id, "a");
//! assert_eq!(reader.version(), Some(tern_core::codec::ProtocolVersion::V3_1_1));
//! assert_eq!(
//!     reader.decode(&wire[15..]),
//!     Ok(Decoded::Packet { packet: Packet::PingReq, consumed: 2 })
//! );
//! # }
//! ```

use super::{
    DecodeError, FixedHeader, Packet, PacketType, ProtocolVersion, decode_body, decode_body_then,
};

/// The outcome of [`FrameReader::decode`].
// `Packet` is returned by value: the core has no allocator to box it, and it only borrows.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'b> {
    /// Not a whole packet yet: call again when the buffer holds at least `needed` bytes.
    Incomplete {
        /// Minimum total buffered bytes before the next call can make progress.
        needed: usize,
    },
    /// One packet, borrowing from the buffer; drop `consumed` bytes after handling it.
    Packet {
        /// The decoded packet.
        packet: Packet<'b>,
        /// Length of its frame, to remove from the front of the buffer.
        consumed: usize,
    },
}

/// The outcome of [`FrameReader::decode_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodedWith<R> {
    /// Not a whole packet yet: call again when the buffer holds at least `needed` bytes.
    Incomplete {
        /// Minimum total buffered bytes before the next call can make progress.
        needed: usize,
    },
    /// One packet was decoded and handed to the closure; what it returned.
    Packet(R),
}

/// Finds packet boundaries in a byte stream and decodes packets; see the
/// [module documentation](self) for the call protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameReader {
    version: Option<ProtocolVersion>,
    max_packet_size: u32,
}

impl FrameReader {
    /// A server-side reader: the version is learned from the first packet, which must be
    /// CONNECT. `max_packet_size` bounds whole packets, fixed header included (as the 5.0
    /// Maximum Packet Size does).
    pub const fn new(max_packet_size: u32) -> Self {
        Self {
            version: None,
            max_packet_size,
        }
    }

    /// A reader for a connection whose version is already known (client side).
    pub const fn with_version(version: ProtocolVersion, max_packet_size: u32) -> Self {
        Self {
            version: Some(version),
            max_packet_size,
        }
    }

    /// The protocol version, once known.
    pub const fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The maximum packet size, fixed header included.
    pub const fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Changes the maximum packet size (e.g. after CONNECT negotiated a smaller one).
    pub fn set_max_packet_size(&mut self, max_packet_size: u32) {
        self.max_packet_size = max_packet_size;
    }

    /// Decodes the packet at the front of `buf`, if it is complete.
    #[inline]
    pub fn decode<'b>(&mut self, buf: &'b [u8]) -> Result<Decoded<'b>, DecodeError> {
        let (header, header_len, body, size) = match self.frame(buf)? {
            Ok(frame) => frame,
            Err(needed) => return Ok(Decoded::Incomplete { needed }),
        };
        let packet = decode_body(self.version, &header, header_len, body)?;
        if let (None, Packet::Connect(connect)) = (self.version, &packet) {
            self.version = Some(connect.protocol);
        }
        Ok(Decoded::Packet {
            packet,
            consumed: size,
        })
    }

    /// [`decode`](Self::decode) that hands the packet, and the length of its frame, to `f`
    /// where the decoder built it, and returns what `f` returns: no copy of the whole
    /// `Packet` (hundreds of bytes, its largest variant's size) into [`Decoded`]. For a
    /// broker handling millions of small packets a second.
    #[inline]
    pub fn decode_with<'b, R>(
        &mut self,
        buf: &'b [u8],
        f: impl FnOnce(&Packet<'b>, usize) -> R,
    ) -> Result<DecodedWith<R>, DecodeError> {
        let (header, header_len, body, size) = match self.frame(buf)? {
            Ok(frame) => frame,
            Err(needed) => return Ok(DecodedWith::Incomplete { needed }),
        };
        let version = self.version;
        let (learned, r) =
            decode_body_then::<false, _>(version, &header, header_len, body, |packet| {
                let learned = match (version, packet) {
                    (None, Packet::Connect(connect)) => Some(connect.protocol),
                    _ => None,
                };
                (learned, f(packet, size))
            })?;
        if learned.is_some() {
            self.version = learned;
        }
        Ok(DecodedWith::Packet(r))
    }

    /// The fixed header, its length, the body and the whole frame's length of the packet at
    /// the front of `buf`; `Err(needed)` while it is incomplete.
    #[inline]
    #[allow(clippy::type_complexity)]
    fn frame<'b>(
        &self,
        buf: &'b [u8],
    ) -> Result<Result<(FixedHeader, usize, &'b [u8], usize), usize>, DecodeError> {
        // [MQTT-3.1.0-1]: reject as soon as the first byte shows another packet type.
        if self.version.is_none()
            && let Some(&first) = buf.first()
            && first >> 4 != PacketType::Connect as u8
        {
            return Err(DecodeError::FirstPacketNotConnect {
                packet_type: first >> 4,
            });
        }
        let Some((header, header_len)) = FixedHeader::parse(buf)? else {
            return Ok(Err(buf.len().saturating_add(1)));
        };
        let size = usize::try_from(header.remaining_length)
            .unwrap_or(usize::MAX)
            .saturating_add(header_len);
        if size > usize::try_from(self.max_packet_size).unwrap_or(usize::MAX) {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: self.max_packet_size,
            });
        }
        match buf.get(header_len..size) {
            Some(body) => Ok(Ok((header, header_len, body, size))),
            None => Ok(Err(size)),
        }
    }
}
