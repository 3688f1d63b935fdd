//! The git pack index, version 2 (`.idx`), without I/O: its layout and
//! lookups over its bytes.
//!
//! Layout: `\377tOc`, version 2, a fan-out table of 256 big-endian counts,
//! then for the `n` objects sorted by id: their ids (20 bytes each), the
//! CRC-32 of each packed entry, each pack offset (4 bytes; with the high
//! bit set, an index into a table of 8-byte offsets that follows), then the
//! pack's SHA-1 and the index's own SHA-1 of everything before it.

use super::pack::{ID_LEN, Id, PackError};

/// Where each table of an index of `n` objects starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The object count.
    pub(crate) n: u32,
    ids: usize,
    crcs: usize,
    offsets: usize,
    large: usize,
}

const FANOUT: usize = 8;
const HEADER: usize = FANOUT + 256 * 4;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Layout {
    /// Checks the header and fan-out table (`bytes` holds at least
    /// [`Layout::HEADER_LEN`] bytes) and locates the tables.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, PackError> {
        let h = bytes
            .get(..HEADER)
            .ok_or(PackError("truncated pack index"))?;
        if h[..4] != [0xff, b't', b'O', b'c'] || be32(&h[4..8]) != 2 {
            return Err(PackError("not a version 2 pack index"));
        }
        let mut previous = 0;
        for i in 0..256 {
            let count = be32(&h[FANOUT + 4 * i..]);
            if count < previous {
                return Err(PackError("pack index fan-out decreases"));
            }
            previous = count;
        }
        let n = previous;
        let count = n as usize;
        let ids = HEADER;
        let crcs = ids + count * ID_LEN;
        let offsets = crcs + count * 4;
        let large = offsets + count * 4;
        Ok(Layout {
            n,
            ids,
            crcs,
            offsets,
            large,
        })
    }

    /// The bytes the header and fan-out take.
    pub(crate) const HEADER_LEN: usize = HEADER;

    /// The length of the index up to its large-offset table.
    pub(crate) fn fixed_len(&self) -> usize {
        self.large
    }

    /// The `i`-th id.
    pub(crate) fn id(&self, bytes: &[u8], i: u32) -> Result<Id, PackError> {
        let at = self.ids + i as usize * ID_LEN;
        let b = bytes
            .get(at..at + ID_LEN)
            .ok_or(PackError("truncated pack index"))?;
        let mut id = [0; ID_LEN];
        id.copy_from_slice(b);
        Ok(id)
    }

    /// The `i`-th CRC-32.
    pub(crate) fn crc(&self, bytes: &[u8], i: u32) -> Result<u32, PackError> {
        let at = self.crcs + i as usize * 4;
        bytes
            .get(at..at + 4)
            .map(be32)
            .ok_or(PackError("truncated pack index"))
    }

    /// The `i`-th pack offset.
    pub(crate) fn offset(&self, bytes: &[u8], i: u32) -> Result<u64, PackError> {
        let at = self.offsets + i as usize * 4;
        let v = bytes
            .get(at..at + 4)
            .map(be32)
            .ok_or(PackError("truncated pack index"))?;
        if v & 0x8000_0000 == 0 {
            return Ok(u64::from(v));
        }
        let at = self.large + (v & 0x7fff_ffff) as usize * 8;
        let b = bytes
            .get(at..at + 8)
            .ok_or(PackError("large pack offset beyond the index"))?;
        let mut raw = [0; 8];
        raw.copy_from_slice(b);
        Ok(u64::from_be_bytes(raw))
    }

    /// How many large offsets the offset table refers to (one past the
    /// highest index used).
    pub(crate) fn large_count(&self, bytes: &[u8]) -> Result<usize, PackError> {
        let mut count = 0;
        for i in 0..self.n {
            let at = self.offsets + i as usize * 4;
            let v = bytes
                .get(at..at + 4)
                .map(be32)
                .ok_or(PackError("truncated pack index"))?;
            if v & 0x8000_0000 != 0 {
                count = count.max((v & 0x7fff_ffff) as usize + 1);
            }
        }
        Ok(count)
    }

    /// The whole index's length, given its large-offset count.
    pub(crate) fn total_len(&self, large: usize) -> usize {
        self.large + large * 8 + 2 * ID_LEN
    }

    /// The position of `id`, by binary search within its fan-out bucket.
    pub(crate) fn find(&self, bytes: &[u8], id: &Id) -> Result<Option<u32>, PackError> {
        let bucket = usize::from(id[0]);
        let lo_at = FANOUT + 4 * bucket;
        let mut lo = if bucket == 0 {
            0
        } else {
            be32(&bytes[lo_at - 4..])
        };
        let mut hi = be32(&bytes[lo_at..]);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.id(bytes, mid)?.cmp(id) {
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
                core::cmp::Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }
}
