//! The fixed-layout values littlefs stores in tag data (SPEC.md): block
//! pairs, the superblock, file structures, the global state and the
//! timestamp attribute of this implementation. All little-endian.

use alloc::vec::Vec;

use super::tag::{self, NULL};

/// A metadata pair: two block addresses. In memory, `[0]` is the block
/// holding the newest commit.
pub(super) type Pair = [u32; 2];

/// The null pair (no tail).
pub(super) const NULL_PAIR: Pair = [NULL, NULL];

/// The superblock pair.
pub(super) const SUPERBLOCK_PAIR: Pair = [0, 1];

/// The magic name of the superblock entry.
pub(super) const MAGIC: &[u8; 8] = b"littlefs";

/// The on-disk version this implementation writes (2.1, with forward
/// CRCs); it reads 2.0 and 2.1.
pub(super) const VERSION: u32 = 0x0002_0001;

/// Defaults and upper bounds of the superblock limits (littlefs's
/// `LFS_NAME_MAX`, `LFS_FILE_MAX`, `LFS_ATTR_MAX`).
pub(super) const NAME_MAX: u32 = 255;
pub(super) const NAME_MAX_LIMIT: u32 = 1022;
pub(super) const FILE_MAX: u32 = 0x7fff_ffff;
pub(super) const ATTR_MAX: u32 = 1022;

/// The user attribute holding an entry's modification time: the type
/// MirageOS's chamelon uses (`'t'`), 12 bytes: days since the epoch as a
/// signed 32-bit number, then picoseconds of the day as 64 bits.
pub(super) const TIME_ATTR: u16 = tag::USERATTR | 0x74;
/// Size of the timestamp attribute.
pub(super) const TIME_LEN: usize = 12;

fn le32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// Whether two pairs share a block (littlefs's `lfs_pair_cmp == 0`).
pub(super) fn pair_overlaps(a: Pair, b: Pair) -> bool {
    a[0] == b[0] || a[0] == b[1] || a[1] == b[0] || a[1] == b[1]
}

/// Whether a pair is null (either block null).
pub(super) fn pair_is_null(p: Pair) -> bool {
    p[0] == NULL || p[1] == NULL
}

/// The pair in a canonical order, as a map key.
pub(super) fn pair_key(p: Pair) -> (u32, u32) {
    (p[0].min(p[1]), p[0].max(p[1]))
}

/// Parses the 8 bytes of a pair, if there are 8.
pub(super) fn parse_pair(data: &[u8]) -> Option<Pair> {
    (data.len() >= 8).then(|| [le32(data, 0), le32(data, 4)])
}

/// The 8 bytes of a pair.
pub(super) fn emit_pair(p: Pair) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    out.extend_from_slice(&p[0].to_le_bytes());
    out.extend_from_slice(&p[1].to_le_bytes());
    out
}

/// The superblock entry's inline structure (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Superblock {
    /// Major version in the top 16 bits, minor in the low 16.
    pub version: u32,
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in the file system.
    pub block_count: u32,
    /// Longest name (0: the default).
    pub name_max: u32,
    /// Largest file (0: the default).
    pub file_max: u32,
    /// Largest user attribute (0: the default).
    pub attr_max: u32,
}

impl Superblock {
    /// Size of the structure on disk.
    pub(super) const LEN: usize = 24;

    /// Parses the structure (at least 24 bytes).
    pub(super) fn parse(data: &[u8]) -> Option<Superblock> {
        (data.len() >= Self::LEN).then(|| Superblock {
            version: le32(data, 0),
            block_size: le32(data, 4),
            block_count: le32(data, 8),
            name_max: le32(data, 12),
            file_max: le32(data, 16),
            attr_max: le32(data, 20),
        })
    }

    /// The 24 bytes of the structure.
    pub(super) fn emit(&self) -> Vec<u8> {
        [
            self.version,
            self.block_size,
            self.block_count,
            self.name_max,
            self.file_max,
            self.attr_max,
        ]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect()
    }
}

/// A CTZ skip-list: the head (last) block and the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ctz {
    /// The block holding the end of the file.
    pub head: u32,
    /// The file size in bytes.
    pub size: u32,
}

impl Ctz {
    /// Parses the 8 bytes of the structure.
    pub(super) fn parse(data: &[u8]) -> Option<Ctz> {
        (data.len() >= 8).then(|| Ctz {
            head: le32(data, 0),
            size: le32(data, 4),
        })
    }

    /// The 8 bytes of the structure.
    pub(super) fn emit(&self) -> Vec<u8> {
        emit_pair([self.head, self.size])
    }
}

/// The global state (or a pair's delta of it): the move state of SPEC.md.
/// Bit 31 of `tag` says orphans may exist; a non-zero `type1` says the
/// entry `id` of `pair` was moved elsewhere and counts as deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct GState {
    /// Sync bit, move type and move id (the size bits are in-memory only
    /// in littlefs and always zero here).
    pub tag: u32,
    /// The pair holding the moved entry.
    pub pair: Pair,
}

impl GState {
    /// Size of the state on disk.
    pub(super) const LEN: usize = 12;

    /// Parses 12 bytes, dropping the size bits littlefs never stores.
    pub(super) fn parse(data: &[u8]) -> Option<GState> {
        (data.len() >= Self::LEN).then(|| GState {
            tag: le32(data, 0),
            pair: [le32(data, 4), le32(data, 8)],
        })
    }

    /// The 12 bytes of the state.
    pub(super) fn emit(&self) -> Vec<u8> {
        [self.tag, self.pair[0], self.pair[1]]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    /// The XOR of two states.
    pub(super) fn xor(self, other: GState) -> GState {
        GState {
            tag: self.tag ^ other.tag,
            pair: [self.pair[0] ^ other.pair[0], self.pair[1] ^ other.pair[1]],
        }
    }

    /// Whether all bits are zero.
    pub(super) fn is_zero(&self) -> bool {
        self.tag == 0 && self.pair == [0, 0]
    }

    /// The state without the size bits (which never go to disk).
    pub(super) fn on_disk(self) -> GState {
        GState {
            tag: self.tag & !0x3ff,
            ..self
        }
    }

    /// Whether orphaned metadata pairs may exist.
    pub(super) fn has_orphans(&self) -> bool {
        self.tag & 0x8000_0000 != 0
    }

    /// Sets or clears the orphan (sync) bit.
    pub(super) fn set_orphans(&mut self, orphans: bool) {
        self.tag = (self.tag & !0x8000_0000) | (u32::from(orphans) << 31);
    }

    /// The pending move, if any: the pair and the id of the moved entry.
    pub(super) fn pending_move(&self) -> Option<(Pair, u16)> {
        (self.tag & 0x7000_0000 != 0).then_some((self.pair, ((self.tag >> 10) & 0x3ff) as u16))
    }

    /// Records (or, with `None`, clears) a pending move.
    pub(super) fn set_move(&mut self, moved: Option<(Pair, u16)>) {
        self.tag &= !0x7fff_fc00;
        match moved {
            Some((pair, id)) => {
                self.tag |= tag::Tag::new(tag::DELETE, id, 0).0;
                self.pair = pair;
            }
            None => self.pair = [0, 0],
        }
    }
}

/// The 12 bytes of a timestamp attribute.
pub(super) fn emit_time((days, ps): (i64, u64)) -> Vec<u8> {
    let days = i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX });
    let mut out = Vec::with_capacity(TIME_LEN);
    out.extend_from_slice(&days.to_le_bytes());
    out.extend_from_slice(&ps.to_le_bytes());
    out
}

/// Parses a timestamp attribute (12 bytes or more).
pub(super) fn parse_time(data: &[u8]) -> Option<(i64, u64)> {
    if data.len() < TIME_LEN {
        return None;
    }
    let days = i32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let mut ps = [0u8; 8];
    ps.copy_from_slice(&data[4..12]);
    Some((i64::from(days), u64::from_le_bytes(ps)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_round_trip() {
        let sb = Superblock {
            version: VERSION,
            block_size: 512,
            block_count: 2048,
            name_max: 255,
            file_max: FILE_MAX,
            attr_max: ATTR_MAX,
        };
        assert_eq!(Superblock::parse(&sb.emit()), Some(sb));
        assert_eq!(Superblock::parse(&[0; 23]), None);
        let ctz = Ctz {
            head: 9,
            size: 1234,
        };
        assert_eq!(Ctz::parse(&ctz.emit()), Some(ctz));
        assert_eq!(parse_pair(&emit_pair([3, 4])), Some([3, 4]));
        assert_eq!(parse_time(&emit_time((19_000, 42))), Some((19_000, 42)));
        assert_eq!(
            parse_time(&emit_time((i64::MAX, 1))),
            Some((i64::from(i32::MAX), 1))
        );
    }

    #[test]
    fn global_state_bits() {
        let mut g = GState::default();
        g.set_orphans(true);
        assert!(g.has_orphans() && g.pending_move().is_none());
        g.set_move(Some(([7, 8], 3)));
        assert_eq!(g.pending_move(), Some(([7, 8], 3)));
        assert_eq!(GState::parse(&g.emit()), Some(g));
        g.set_move(None);
        g.set_orphans(false);
        assert!(g.is_zero());
        assert!(pair_overlaps([1, 2], [2, 5]) && !pair_overlaps([1, 2], [3, 4]));
    }
}
