//! A fixed-capacity byte ring: the send buffer (bytes from the oldest
//! unacknowledged one on) and the receive buffer (in-order bytes not yet
//! read, with out-of-order bytes written ahead of them into the free part,
//! as the [`super::assembler::Assembler`] records).
//!
//! Bytes are copied in once (from the application or the segment) and out
//! once (into the frame or the application), or not at all by an
//! application that writes or reads them in place (`Flow::write_with`,
//! `Flow::read_with`); nothing is allocated after construction.

use alloc::vec::Vec;

use crate::net::wire::checksum;

/// A ring of `capacity` bytes holding `len` bytes from `head` on.
#[derive(Debug)]
pub(crate) struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    /// `buf[..ours]` holds only zeros or bytes written since the ring was
    /// made or [`Ring::renew`]ed: the free room lent to an in-place writer
    /// ([`Ring::free_front_mut`]) is zeroed past it, so that it never
    /// shows an earlier owner's bytes. (A lower bound, kept by that lending
    /// alone, off the path of `enqueue`: bytes appended past it may be
    /// zeroed once more before being lent.)
    ours: usize,
}

impl Ring {
    /// A ring over `storage` (its length is the capacity; its old contents
    /// are never exposed: [`Ring::free_front_mut`] zeroes them first).
    pub(crate) fn from_storage(storage: Vec<u8>) -> Ring {
        Ring {
            buf: storage,
            head: 0,
            len: 0,
            ours: 0,
        }
    }

    /// Empty the ring for a new owner (a pooled connection's next one):
    /// its old bytes will not be shown to it.
    pub(crate) fn renew(&mut self) {
        self.clear();
        self.ours = 0;
    }

    /// Take the storage out (for reuse by another connection), leaving an
    /// empty ring.
    #[cfg(test)]
    pub(crate) fn take_storage(&mut self) -> Vec<u8> {
        self.head = 0;
        self.len = 0;
        self.ours = 0;
        core::mem::take(&mut self.buf)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The physical index of logical offset `off` (which may run up to
    /// `capacity` past the head).
    fn index(&self, off: usize) -> usize {
        let i = self.head + off;
        if i >= self.buf.len() {
            i - self.buf.len()
        } else {
            i
        }
    }

    /// Append as much of `data` as fits; returns how much.
    pub(crate) fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.write_at(self.len, &data[..n]);
        self.len += n;
        n
    }

    /// Write `data` at logical offset `off` from the head into the free
    /// part (without changing the length): out-of-order data. The caller
    /// keeps `off + data.len() <= capacity`.
    pub(crate) fn write_at(&mut self, off: usize, data: &[u8]) {
        if data.is_empty() || self.buf.is_empty() {
            return;
        }
        let start = self.index(off);
        let first = data.len().min(self.buf.len() - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        let rest = data.len() - first;
        if rest > 0 {
            self.buf[..rest].copy_from_slice(&data[first..]);
        }
    }

    /// [`Ring::write_at`] that also returns the folded one's-complement sum
    /// of `data` ([`checksum::copy_and_sum`]: the bytes are read once).
    pub(crate) fn write_at_and_sum(&mut self, off: usize, data: &[u8]) -> u16 {
        if data.is_empty() || self.buf.is_empty() {
            return checksum::data(data);
        }
        let start = self.index(off);
        let first = data.len().min(self.buf.len() - start);
        let (a, b) = data.split_at(first);
        let sum_a = checksum::copy_and_sum(&mut self.buf[start..start + first], a);
        if b.is_empty() {
            return sum_a;
        }
        let sum_b = checksum::copy_and_sum(&mut self.buf[..b.len()], b);
        checksum::combine(&[sum_a, checksum::at_offset(sum_b, first)])
    }

    /// Count `n` more bytes (already written with `write_at`) as held.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// The bytes at logical offsets `off..off + n` (of held bytes), as
    /// one or two slices.
    pub(crate) fn slices(&self, off: usize, n: usize) -> (&[u8], &[u8]) {
        let n = n.min(self.len.saturating_sub(off));
        if n == 0 {
            return (&[], &[]);
        }
        let start = self.index(off);
        let first = n.min(self.buf.len() - start);
        (&self.buf[start..start + first], &self.buf[..n - first])
    }

    /// Copy held bytes at `off..off + out.len()` into `out`.
    pub(crate) fn copy_out(&self, off: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.slices(off, out.len());
        out[..a.len()].copy_from_slice(a);
        if !b.is_empty() {
            out[a.len()..a.len() + b.len()].copy_from_slice(b);
        }
        a.len() + b.len()
    }

    /// Drop `n` bytes from the head. (Bytes written ahead with `write_at`
    /// keep their place; `clear` rewinds an empty ring to index 0.)
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = self.index(n);
        self.len -= n;
    }

    /// Read and consume up to `out.len()` bytes.
    pub(crate) fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let n = self.copy_out(0, out);
        self.consume(n);
        n
    }

    /// The first contiguous run of held bytes.
    pub(crate) fn front(&self) -> &[u8] {
        self.slices(0, self.len).0
    }

    /// The first contiguous run of free space (after the held bytes), for
    /// an appending writer that [`Ring::commit`]s what it wrote there: the
    /// run holds zeros or bytes appended since the ring was made or
    /// renewed, never an earlier owner's.
    pub(crate) fn free_front_mut(&mut self) -> &mut [u8] {
        if self.free() == 0 {
            return &mut [];
        }
        let start = self.index(self.len);
        let end = if start >= self.head {
            self.buf.len()
        } else {
            self.head
        };
        let end = end.min(start + self.free());
        // (Below `start`, `[ours, start)` is not lent; it holds bytes
        // appended since the renewal, as appends go on from index 0: so
        // all of `..end` is the owner's once the room is zeroed.)
        if end > self.ours {
            self.buf[start.max(self.ours)..end].fill(0);
            self.ours = end;
        }
        &mut self.buf[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn wraps_and_preserves_order() {
        let mut r = Ring::from_storage(vec![0; 8]);
        assert_eq!(r.enqueue(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.dequeue(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.enqueue(b"ghijklmn"), 6);
        assert_eq!(r.len(), 8);
        let (a, b) = r.slices(0, 8);
        assert_eq!([a, b].concat(), b"efghijkl");
        assert_eq!(r.front(), b"efgh");
        let (a, b) = r.slices(3, 3);
        assert_eq!([a, b].concat(), b"hij");
        r.consume(8);
        assert!(r.is_empty());
        r.clear();
        assert_eq!(r.free_front_mut().len(), 8);
    }

    #[test]
    fn out_of_order_writes_then_commit() {
        let mut r = Ring::from_storage(vec![0; 8]);
        r.enqueue(b"12345");
        r.consume(5);
        r.clear();
        r.enqueue(b"ab");
        r.write_at(4, b"efgh");
        r.write_at(2, b"cd");
        r.commit(4);
        let mut out = [0u8; 8];
        assert_eq!(r.dequeue(&mut out), 6);
        assert_eq!(&out[..6], b"abcdef");
    }

    /// The room lent to an in-place writer holds zeros or the owner's own
    /// earlier bytes, never those of the storage's earlier owner, and
    /// each byte is zeroed at most once per owner.
    #[test]
    fn the_free_room_never_shows_an_earlier_owners_bytes() {
        let mut r = Ring::from_storage(vec![0xee; 8]);
        assert_eq!(r.free_front_mut(), &[0; 8]);
        r.free_front_mut().copy_from_slice(b"abcdefgh");
        r.commit(8);
        r.consume(8);
        // The owner's own bytes are not zeroed again.
        assert_eq!(r.free_front_mut(), b"abcdefgh");
        // A new owner: the old owner's bytes are zeroed as they are lent,
        // also after appends and a wrap.
        r.renew();
        r.enqueue(b"xy");
        assert_eq!(r.free_front_mut(), &[0; 6]);
        r.renew();
        r.enqueue(b"12345");
        r.consume(5);
        r.enqueue(b"6789");
        r.consume(4);
        assert_eq!(r.free_front_mut(), &[0; 7]);
    }

    #[test]
    fn free_front_is_contiguous_and_bounded() {
        let mut r = Ring::from_storage(vec![0; 8]);
        r.enqueue(b"abcdef");
        r.consume(4);
        // Held: index 4..6; free: 6..8 then 0..4.
        assert_eq!(r.free_front_mut().len(), 2);
        r.free_front_mut().copy_from_slice(b"gh");
        r.commit(2);
        assert_eq!(r.free_front_mut().len(), 4);
        let mut out = [0u8; 4];
        r.dequeue(&mut out);
        assert_eq!(&out, b"efgh");
        // Written and summed across the wrap (an odd split).
        r.clear();
        r.enqueue(b"abc");
        r.consume(3);
        let sum = r.write_at_and_sum(0, b"defghij");
        assert_eq!(sum, checksum::data(b"defghij"));
        r.commit(7);
        let mut out = [0u8; 7];
        assert_eq!(r.dequeue(&mut out), 7);
        assert_eq!(&out, b"defghij");
        let mut empty = Ring::from_storage(Vec::new());
        assert_eq!(empty.write_at_and_sum(0, b"xy"), checksum::data(b"xy"));
        assert_eq!(empty.enqueue(b"x"), 0);
        empty.write_at(0, b"");
        assert!(empty.free_front_mut().is_empty());
    }
}
