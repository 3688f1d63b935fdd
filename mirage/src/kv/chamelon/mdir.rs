//! Metadata blocks: parsing a block's log of commits into the state it
//! describes, and writing a state as one compacted commit (SPEC.md,
//! "Directories / Metadata pairs").
//!
//! A block is a 32-bit revision count followed by commits; a commit is a
//! run of tags with their data, closed by a CRC tag whose checksum covers
//! everything since the previous CRC (the revision count too, for the
//! first commit). Tags are XOR-chained: each is stored XORed with the
//! previous one, the first with `0xffffffff`, and the CRC tag's lowest
//! chunk bit flips the expected valid bit of the next commit's first tag.
//! A fetch keeps the state as of the last commit whose CRC checks; what
//! follows it (an interrupted commit, erased space) is ignored.
//!
//! Parsing never trusts the block: every length is checked against the
//! block, every loop is bounded by the block size, and structural
//! nonsense inside a commit with a good CRC (a splice of an id that does
//! not exist, a short tail) is reported as corruption.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::crc::crc32;
use super::disk::{GState, NULL_PAIR, Pair, emit_pair, pair_is_null, parse_pair};
use super::tag::{self, NO_ID, Tag};
use crate::kv::Kind;

/// At most this many entries in one metadata pair (littlefs keeps ids of
/// a pair below `0xff` so that appends stay cheap).
pub(super) const MAX_ENTRIES: usize = 0xfe;

/// One entry (id) of a metadata pair: its name tag, its structure tag and
/// its user attributes (and any other unique tag types, kept verbatim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Entry {
    /// Name type (`REG`, `DIR`, `SUPERBLOCK`...) and name.
    pub name: Option<(u16, Vec<u8>)>,
    /// Structure type (`DIRSTRUCT`, `INLINESTRUCT`, `CTZSTRUCT`) and data.
    pub structure: Option<(u16, Vec<u8>)>,
    /// Other tags by exact type (user attributes), sorted by type.
    pub attrs: Vec<(u16, Vec<u8>)>,
}

impl Entry {
    /// A file or directory named `name`.
    pub(super) fn new(kind: Kind, name: &[u8], structure: (u16, Vec<u8>)) -> Entry {
        let t = match kind {
            Kind::Value => tag::REG,
            Kind::Dictionary => tag::DIR,
        };
        Entry {
            name: Some((t, name.to_vec())),
            structure: Some(structure),
            attrs: Vec::new(),
        }
    }

    /// What the entry is, if it is a file or a directory.
    pub(super) fn kind(&self) -> Option<Kind> {
        match self.name.as_ref()?.0 {
            tag::REG => Some(Kind::Value),
            tag::DIR => Some(Kind::Dictionary),
            _ => None,
        }
    }

    /// The name of a file or directory entry.
    pub(super) fn file_name(&self) -> Option<&[u8]> {
        self.kind()?;
        self.name.as_ref().map(|(_, n)| n.as_slice())
    }

    /// The data of the attribute of type `t`.
    pub(super) fn attr(&self, t: u16) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets (or with `None` removes) the attribute of type `t`.
    pub(super) fn set_attr(&mut self, t: u16, data: Option<Vec<u8>>) {
        let at = self.attrs.binary_search_by_key(&t, |(k, _)| *k);
        match (at, data) {
            (Ok(i), Some(d)) => self.attrs[i].1 = d,
            (Ok(i), None) => {
                self.attrs.remove(i);
            }
            (Err(i), Some(d)) => self.attrs.insert(i, (t, d)),
            (Err(_), None) => {}
        }
    }

    /// The tags of this entry, in the order a compaction writes them.
    fn tags(&self) -> impl Iterator<Item = (u16, &[u8])> {
        self.name
            .iter()
            .chain(self.structure.iter())
            .chain(self.attrs.iter())
            .map(|(t, d)| (*t, d.as_slice()))
    }

    /// Bytes the entry takes in a compacted commit.
    pub(super) fn encoded_len(&self) -> usize {
        self.tags().map(|(_, d)| 4 + d.len()).sum()
    }
}

/// The state of a metadata pair as of its newest valid commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MetaPair {
    /// The two blocks; `pair[0]` holds the newest commit.
    pub pair: Pair,
    /// The revision count of `pair[0]`.
    pub rev: u32,
    /// Entries by id.
    pub entries: Vec<Entry>,
    /// The next pair of the metadata list (null if none).
    pub tail: Pair,
    /// Whether the tail continues this directory (a hard tail).
    pub split: bool,
    /// This pair's contribution to the global state.
    pub gdelta: GState,
}

impl MetaPair {
    /// An empty pair on the blocks `pair` (not yet written).
    pub(super) fn empty(pair: Pair, rev: u32) -> MetaPair {
        MetaPair {
            pair,
            rev,
            entries: Vec::new(),
            tail: NULL_PAIR,
            split: false,
            gdelta: GState::default(),
        }
    }

    /// The tail, if there is one.
    pub(super) fn tail(&self) -> Option<Pair> {
        (!pair_is_null(self.tail)).then_some(self.tail)
    }
}

/// A block's state: revision, entries, tail and global-state delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Log {
    /// The revision count at the start of the block.
    pub rev: u32,
    /// Entries by id.
    pub entries: Vec<Entry>,
    /// Tail pointer (null if none).
    pub tail: Pair,
    /// Hard tail?
    pub split: bool,
    /// XOR of the move-state deltas of the block.
    pub gdelta: GState,
}

/// The revision count at the start of a block.
pub(super) fn revision(block: &[u8]) -> u32 {
    u32::from_le_bytes([block[0], block[1], block[2], block[3]])
}

/// Parses a block: `Ok(None)` if it holds no valid commit, an error if a
/// valid commit describes an impossible state.
pub(super) fn parse_block(block: &[u8]) -> Result<Option<Log>, String> {
    if block.len() < 12 {
        return Ok(None);
    }
    let size = block.len();
    let mut crc = crc32(0xffff_ffff, &block[..4]);
    let mut off = 4usize;
    let mut ptag = 0xffff_ffffu32;
    // Tags with data ranges; `valid` counts those of checked commits.
    let mut tags: Vec<(Tag, core::ops::Range<usize>)> = Vec::new();
    let mut valid = 0usize;
    let mut commits = 0usize;
    while off + 4 <= size {
        let raw = [block[off], block[off + 1], block[off + 2], block[off + 3]];
        let t = Tag(u32::from_be_bytes(raw) ^ ptag);
        if !t.is_valid() {
            break;
        }
        let end = off + 4 + t.data_len();
        if end > size {
            break;
        }
        crc = crc32(crc, &raw);
        ptag = t.0;
        if t.type3() & 0x780 == tag::CCRC {
            if t.data_len() < 4 {
                break;
            }
            let stored = u32::from_le_bytes([
                block[off + 4],
                block[off + 5],
                block[off + 6],
                block[off + 7],
            ]);
            if stored != crc {
                break;
            }
            ptag ^= u32::from(t.chunk() & 1) << 31;
            crc = 0xffff_ffff;
            valid = tags.len();
            commits += 1;
        } else {
            crc = crc32(crc, &block[off + 4..end]);
            tags.push((t, off + 4..end));
        }
        off = end;
    }
    if commits == 0 {
        return Ok(None);
    }
    let mut log = Log {
        rev: revision(block),
        entries: Vec::new(),
        tail: NULL_PAIR,
        split: false,
        gdelta: GState::default(),
    };
    for (t, range) in &tags[..valid] {
        apply(&mut log, *t, &block[range.clone()])?;
    }
    Ok(Some(log))
}

/// Applies one tag of a checked commit.
fn apply(log: &mut Log, t: Tag, data: &[u8]) -> Result<(), String> {
    let id = usize::from(t.id());
    let owned = || (!t.is_delete()).then(|| data.to_vec());
    match t.type1() {
        tag::T1_SPLICE => match t.type3() {
            tag::CREATE if id <= log.entries.len() && t.id() != NO_ID => {
                log.entries.insert(id, Entry::default());
            }
            tag::DELETE if id < log.entries.len() => {
                log.entries.remove(id);
            }
            _ => {
                return Err(format!(
                    "splice tag {:#x} of id {id} with {} entries",
                    t.type3(),
                    log.entries.len()
                ));
            }
        },
        tag::T1_NAME if t.id() != NO_ID => {
            if id >= log.entries.len() {
                log.entries.resize(id + 1, Entry::default());
            }
            log.entries[id].name = owned().map(|d| (t.type3(), d));
        }
        tag::T1_STRUCT if id < log.entries.len() => {
            log.entries[id].structure = owned().map(|d| (t.type3(), d));
        }
        1 | tag::T1_USERATTR if id < log.entries.len() => {
            log.entries[id].set_attr(t.type3(), owned());
        }
        tag::T1_TAIL => {
            log.tail = parse_pair(data).ok_or("a tail tag shorter than a pair")?;
            log.split = t.chunk() & 1 != 0;
        }
        tag::T1_GSTATE if t.type3() == tag::MOVESTATE => {
            let delta = GState::parse(data).ok_or("a move-state tag shorter than 12 bytes")?;
            log.gdelta = log.gdelta.xor(delta);
        }
        // FCRC, tags of ids that do not exist, unknown pair-level state.
        _ => {}
    }
    Ok(())
}

/// How commits are laid out: block size, program size, forward CRCs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    /// Bytes per block.
    pub block_size: usize,
    /// The program size commits are aligned to.
    pub prog_size: usize,
    /// Whether commits carry a forward CRC (on-disk version 2.1).
    pub fcrc: bool,
}

/// Bytes a compacted commit of `entries` needs for its tags, besides the
/// revision count, the tail, the global state and the CRC.
pub(super) fn entries_len(entries: &[Entry]) -> usize {
    entries.iter().map(Entry::encoded_len).sum()
}

/// Whether entries of `len` bytes (and `count` ids) go into a pair of
/// their own when a pair is split: at most half a block, as littlefs.
pub(super) fn fits_half(layout: &Layout, len: usize, count: usize) -> bool {
    let half = (layout.block_size / 2).next_multiple_of(layout.prog_size);
    count <= MAX_ENTRIES && len <= half.min(layout.block_size.saturating_sub(40))
}

struct Writer<'a> {
    buf: &'a mut [u8],
    off: usize,
    ptag: u32,
    crc: u32,
}

impl Writer<'_> {
    fn put(&mut self, t: u16, id: u16, data: &[u8], limit: usize) -> bool {
        if data.len() > 0x3fe || self.off + 4 + data.len() > limit {
            return false;
        }
        let tagged = Tag::new(t, id, data.len() as u16);
        let raw = ((tagged.0 & 0x7fff_ffff) ^ self.ptag).to_be_bytes();
        self.buf[self.off..self.off + 4].copy_from_slice(&raw);
        self.buf[self.off + 4..self.off + 4 + data.len()].copy_from_slice(data);
        self.crc = crc32(self.crc, &raw);
        self.crc = crc32(self.crc, data);
        self.ptag = tagged.0 & 0x7fff_ffff;
        self.off += 4 + data.len();
        true
    }
}

/// Writes `mp` (entries, tail, global-state delta) as the block image of
/// one compacted commit with revision `rev`; `None` if it does not fit.
/// Unused space is `0xff`, as erased flash, and a forward CRC describes
/// the program unit after the commit so that littlefs may append there.
pub(super) fn emit_block(mp: &MetaPair, rev: u32, layout: &Layout) -> Option<Vec<u8>> {
    let size = layout.block_size;
    let prog = layout.prog_size;
    if mp.entries.len() > MAX_ENTRIES {
        return None;
    }
    let mut buf = vec![0xffu8; size];
    buf[..4].copy_from_slice(&rev.to_le_bytes());
    let crc = crc32(0xffff_ffff, &buf[..4]);
    let mut w = Writer {
        buf: &mut buf,
        off: 4,
        ptag: 0xffff_ffff,
        crc,
    };
    let limit = size.checked_sub(8)?;
    for (id, entry) in mp.entries.iter().enumerate() {
        for (t, data) in entry.tags() {
            if !w.put(t, id as u16, data, limit) {
                return None;
            }
        }
    }
    if let Some(tail) = mp.tail() {
        let t = if mp.split {
            tag::HARDTAIL
        } else {
            tag::SOFTTAIL
        };
        if !w.put(t, NO_ID, &emit_pair(tail), limit) {
            return None;
        }
    }
    let gdelta = mp.gdelta.on_disk();
    if !gdelta.is_zero() && !w.put(tag::MOVESTATE, NO_ID, &gdelta.emit(), limit) {
        return None;
    }
    // Close the commit (littlefs's lfs_dir_commitcrc): a CRC tag padded
    // to the program size, preceded by a forward CRC when another program
    // unit follows; padding beyond 0x3fe bytes takes extra CRC commits.
    let end = (w.off + 20).min(size).next_multiple_of(prog);
    while w.off < end {
        let mut noff = (end - (w.off + 4)).min(0x3fe) + w.off + 4;
        if noff < end {
            noff = noff.min(end - 20);
        }
        let mut perturb = 0xffu8;
        if noff >= end && noff + prog <= size {
            perturb = w.buf[noff];
            if layout.fcrc {
                let mut fcrc = Vec::with_capacity(8);
                fcrc.extend_from_slice(&(prog as u32).to_le_bytes());
                fcrc.extend_from_slice(
                    &crc32(0xffff_ffff, &w.buf[noff..noff + prog]).to_le_bytes(),
                );
                if !w.put(tag::FCRC, NO_ID, &fcrc, size) {
                    return None;
                }
            }
        }
        let pad = noff.checked_sub(w.off + 4)?;
        if !(4..=0x3fe).contains(&pad) || w.off + 8 > size {
            return None;
        }
        let ccrc = Tag::new(tag::CCRC + u16::from((!perturb) >> 7), NO_ID, pad as u16);
        let raw = ((ccrc.0 & 0x7fff_ffff) ^ w.ptag).to_be_bytes();
        w.buf[w.off..w.off + 4].copy_from_slice(&raw);
        let crc = crc32(w.crc, &raw);
        w.buf[w.off + 4..w.off + 8].copy_from_slice(&crc.to_le_bytes());
        w.off = noff;
        w.ptag = (ccrc.0 & 0x7fff_ffff) ^ (u32::from(0x80 & !perturb) << 24);
        w.crc = 0xffff_ffff;
    }
    Some(buf)
}
