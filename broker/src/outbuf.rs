//! [`OutBuf`]: a connection's pending output.

/// Bytes to write, in a buffer that is zero-initialised once when it grows and never again:
/// the session engine encodes into `&mut [u8]`, and re-zeroing a 16 KiB slice for every
/// 80-byte delivery (as `Vec::resize` would) cost more than the encoding itself in a
/// fan-out profile. The filled part is `[..filled]`; the rest is initialised spare room.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    buf: Vec<u8>,
    filled: usize,
}

/// The smallest allocation: a CONNACK, a PINGRESP, an acknowledgement or two. Buffers
/// grow geometrically from here, so a connection that only ever sends small packets never
/// allocates a large buffer (10,000 idle clients each touching a 16 KiB buffer once left
/// the heap fragmented at ~19 KB of RSS per connection).
const MIN_ALLOC: usize = 256;

impl OutBuf {
    /// The bytes to write.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.filled).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Bytes held (written or not): what an idle connection would keep.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Forgets the written bytes, keeps the buffer.
    pub(crate) fn clear(&mut self) {
        self.filled = 0;
    }

    /// Spare room of at least `min` bytes after the filled part.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        let want = self.filled.saturating_add(min.max(1));
        if self.buf.len() < want {
            let grown = want.max(self.buf.len() * 2).max(MIN_ALLOC);
            self.buf.resize(grown, 0);
        }
        self.buf.get_mut(self.filled..).unwrap_or_default()
    }

    /// Marks `n` spare bytes as filled.
    pub(crate) fn advance(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.buf.len());
    }

    /// Appends `data`.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        let n = data.len();
        if let Some(dst) = self.spare(n).get_mut(..n) {
            dst.copy_from_slice(data);
            self.advance(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_grows_and_reuses() {
        let mut b = OutBuf::default();
        assert!(b.is_empty());
        b.extend(b"abc");
        let room = b.spare(10);
        assert!(room.len() >= 10);
        room[..2].copy_from_slice(b"de");
        b.advance(2);
        assert_eq!(b.as_slice(), b"abcde");
        let cap = b.capacity();
        b.clear();
        assert!(b.is_empty());
        b.extend(b"x");
        assert_eq!(b.as_slice(), b"x");
        assert_eq!(b.capacity(), cap, "no re-allocation");
        b.extend(&vec![7; 40_000]);
        assert_eq!(b.len(), 40_001);
    }
}
