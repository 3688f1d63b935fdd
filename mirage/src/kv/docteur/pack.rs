//! Git PACK version 2 wire formats, without I/O: the pack header, the
//! header of each packed object, and the delta instructions of
//! `OFS_DELTA`/`REF_DELTA` objects.
//!
//! Every parser checks lengths before reading and reports malformed input
//! as a [`PackError`]; none panics, whatever the bytes.

use alloc::vec::Vec;
use core::fmt;

/// The length of an object id (SHA-1).
pub(crate) const ID_LEN: usize = 20;
/// An object id.
pub(crate) type Id = [u8; ID_LEN];

/// Why pack data is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackError(pub(crate) &'static str);

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The 12-byte pack header: `PACK`, version 2 (or 3), object count.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<u32, PackError> {
    let h = bytes.get(..12).ok_or(PackError("truncated pack header"))?;
    if &h[..4] != b"PACK" {
        return Err(PackError("no PACK signature"));
    }
    let version = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    if version != 2 && version != 3 {
        return Err(PackError("unsupported pack version"));
    }
    Ok(u32::from_be_bytes([h[8], h[9], h[10], h[11]]))
}

/// The type of a git object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A commit.
    Commit,
    /// A tree (a directory).
    Tree,
    /// A blob (file contents).
    Blob,
    /// An annotated tag.
    Tag,
}

impl Kind {
    /// The name in an object's id preimage (`blob 12\0...`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }
}

/// What a packed object's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packed {
    /// The object itself, deflated.
    Whole(Kind),
    /// A delta against the object `distance` bytes before this one.
    OfsDelta { distance: u64 },
    /// A delta against the object with this id.
    RefDelta { base: Id },
}

/// A packed object's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    /// What it is.
    pub(crate) packed: Packed,
    /// The size of the inflated data (of the delta, for deltas).
    pub(crate) size: u64,
    /// The header's length: the zlib stream starts this far in.
    pub(crate) len: usize,
}

/// Parses the header at the start of `bytes` (which holds at least the
/// header: 32 bytes are always enough).
pub(crate) fn parse_entry(bytes: &[u8]) -> Result<EntryHeader, PackError> {
    let first = *bytes.first().ok_or(PackError("truncated object header"))?;
    let type_bits = (first >> 4) & 7;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4;
    let mut i = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *bytes.get(i).ok_or(PackError("truncated object size"))?;
        if shift > 57 {
            return Err(PackError("object size overflows"));
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        i += 1;
    }
    let packed = match type_bits {
        1 => Packed::Whole(Kind::Commit),
        2 => Packed::Whole(Kind::Tree),
        3 => Packed::Whole(Kind::Blob),
        4 => Packed::Whole(Kind::Tag),
        6 => {
            // Big-endian base-128 with an implied +1 per continuation.
            let mut byte = *bytes.get(i).ok_or(PackError("truncated delta offset"))?;
            i += 1;
            let mut distance = u64::from(byte & 0x7f);
            while byte & 0x80 != 0 {
                byte = *bytes.get(i).ok_or(PackError("truncated delta offset"))?;
                i += 1;
                distance = distance
                    .checked_add(1)
                    .and_then(|d| d.checked_mul(128))
                    .map(|d| d | u64::from(byte & 0x7f))
                    .ok_or(PackError("delta offset overflows"))?;
            }
            if distance == 0 {
                return Err(PackError("delta offset of zero"));
            }
            Packed::OfsDelta { distance }
        }
        7 => {
            let base = bytes
                .get(i..i + ID_LEN)
                .ok_or(PackError("truncated delta base id"))?;
            i += ID_LEN;
            let mut id = [0; ID_LEN];
            id.copy_from_slice(base);
            Packed::RefDelta { base: id }
        }
        _ => return Err(PackError("unknown object type")),
    };
    Ok(EntryHeader {
        packed,
        size,
        len: i,
    })
}

/// Reads a delta's little-endian base-128 size at `*at`.
fn delta_size(delta: &[u8], at: &mut usize) -> Result<u64, PackError> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *delta.get(*at).ok_or(PackError("truncated delta size"))?;
        *at += 1;
        if shift > 63 {
            return Err(PackError("delta size overflows"));
        }
        value |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// The base and result sizes a delta starts with.
pub(crate) fn delta_sizes(delta: &[u8]) -> Result<(u64, u64), PackError> {
    let mut at = 0;
    let base = delta_size(delta, &mut at)?;
    let result = delta_size(delta, &mut at)?;
    Ok((base, result))
}

/// Applies `delta` to `base`: copy instructions (ranges of the base) and
/// insert instructions (literal bytes). The result must have the size the
/// delta announces, at most `max` bytes.
pub(crate) fn apply_delta(base: &[u8], delta: &[u8], max: u64) -> Result<Vec<u8>, PackError> {
    let mut at = 0;
    let base_size = delta_size(delta, &mut at)?;
    let result_size = delta_size(delta, &mut at)?;
    if base_size != base.len() as u64 {
        return Err(PackError("delta base size does not match its base"));
    }
    if result_size > max {
        return Err(PackError("delta result too large"));
    }
    let mut out = Vec::with_capacity(result_size as usize);
    while at < delta.len() {
        let op = delta[at];
        at += 1;
        if op & 0x80 != 0 {
            let mut field = |bits: u8, count: usize| -> Result<u64, PackError> {
                let mut v = 0u64;
                for i in 0..count {
                    if bits & (1 << i) != 0 {
                        let b = *delta
                            .get(at)
                            .ok_or(PackError("truncated copy instruction"))?;
                        at += 1;
                        v |= u64::from(b) << (8 * i);
                    }
                }
                Ok(v)
            };
            let offset = field(op & 0x0f, 4)?;
            let mut size = field((op >> 4) & 0x07, 3)?;
            if size == 0 {
                size = 0x10000;
            }
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= base.len() as u64)
                .ok_or(PackError("copy instruction beyond the base"))?;
            if out.len() as u64 + size > result_size {
                return Err(PackError("delta produces more than its size"));
            }
            out.extend_from_slice(&base[offset as usize..end as usize]);
        } else if op != 0 {
            let n = usize::from(op);
            let data = delta
                .get(at..at + n)
                .ok_or(PackError("truncated insert instruction"))?;
            at += n;
            if (out.len() + n) as u64 > result_size {
                return Err(PackError("delta produces more than its size"));
            }
            out.extend_from_slice(data);
        } else {
            return Err(PackError("reserved delta instruction 0"));
        }
    }
    if out.len() as u64 != result_size {
        return Err(PackError("delta produces less than its size"));
    }
    Ok(out)
}

/// The id of an object: the SHA-1 of `KIND SIZE\0DATA`.
pub(crate) fn object_id(kind: Kind, data: &[u8]) -> Id {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(alloc::format!("{} {}\0", kind.name(), data.len()).as_bytes());
    h.update(data);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers() {
        // A blob of 300 bytes: type 3, size 300 = 0b1_0010_1100.
        let h = parse_entry(&[0xbc, 0x12]).unwrap();
        assert_eq!(h.packed, Packed::Whole(Kind::Blob));
        assert_eq!((h.size, h.len), (300, 2));
        // OFS_DELTA of 5 bytes, distance 128 + 1*... ([0x81, 0x00] = 256).
        let h = parse_entry(&[0x65, 0x81, 0x00]).unwrap();
        assert_eq!(h.packed, Packed::OfsDelta { distance: 256 });
        assert_eq!(h.len, 3);
        assert!(parse_entry(&[0x50]).is_err(), "type 5 is reserved");
        assert!(parse_entry(&[0xb0; 12]).is_err(), "unterminated size");
        assert!(parse_entry(&[0x75, 1, 2]).is_err(), "truncated base id");
        assert!(parse_entry(&[0x65, 0x00]).is_err(), "distance 0");
        assert!(
            parse_entry(&[
                0x65, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
            ])
            .is_err()
        );
    }

    #[test]
    fn deltas() {
        let base = b"hello, world";
        // base 12, result 11: copy 0..7 ("hello, "), insert "rust!" -> no,
        // insert 4 bytes "rust".
        let delta = [12, 11, 0x90, 7, 4, b'r', b'u', b's', b't'];
        assert_eq!(apply_delta(base, &delta, 100).unwrap(), b"hello, rust");
        assert_eq!(delta_sizes(&delta).unwrap(), (12, 11));
        assert!(apply_delta(b"short", &delta, 100).is_err(), "base size");
        assert!(apply_delta(base, &delta, 10).is_err(), "too large");
        let beyond = [12, 4, 0x91, 10, 4];
        assert!(apply_delta(base, &beyond, 100).is_err());
        let zero = [12, 1, 0];
        assert!(apply_delta(base, &zero, 100).is_err());
        let short = [12, 5, 2, b'a', b'b'];
        assert!(apply_delta(base, &short, 100).is_err());
        let long = [12, 1, 2, b'a', b'b'];
        assert!(apply_delta(base, &long, 100).is_err());
    }

    #[test]
    fn ids_are_git_ids() {
        // `git hash-object` of an empty file.
        let id = object_id(Kind::Blob, b"");
        assert_eq!(
            id,
            [
                0xe6, 0x9d, 0xe2, 0x9b, 0xb2, 0xd1, 0xd6, 0x43, 0x4b, 0x8b, 0x29, 0xae, 0x77, 0x5a,
                0xd8, 0xc2, 0xe4, 0x8c, 0x53, 0x91
            ]
        );
    }
}
