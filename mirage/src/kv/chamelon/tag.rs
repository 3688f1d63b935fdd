//! Metadata tags: the 32-bit words that describe every entry of a metadata
//! log (littlefs SPEC.md, "Metadata tags").
//!
//! `[valid:1 | type3:11 (type1:3 + chunk:8) | id:10 | size:10]`, stored
//! big-endian and XORed with the previous tag of the block. The valid bit
//! of a decoded tag is zero. A size of `0x3ff` marks a deleted tag, which
//! carries no data.

/// The null block address.
pub(super) const NULL: u32 = u32::MAX;
/// The id of tags that belong to the metadata pair, not to an entry.
pub(super) const NO_ID: u16 = 0x3ff;
/// The size that marks a deleted tag.
pub(super) const DELETED: u16 = 0x3ff;

/// Abstract types (`type1`, the top three bits of `type3`).
pub(super) const T1_NAME: u16 = 0x0;
pub(super) const T1_STRUCT: u16 = 0x2;
pub(super) const T1_USERATTR: u16 = 0x3;
pub(super) const T1_SPLICE: u16 = 0x4;
pub(super) const T1_TAIL: u16 = 0x6;
pub(super) const T1_GSTATE: u16 = 0x7;

/// Full types (`type3`).
pub(super) const REG: u16 = 0x001;
pub(super) const DIR: u16 = 0x002;
pub(super) const SUPERBLOCK: u16 = 0x0ff;
pub(super) const DIRSTRUCT: u16 = 0x200;
pub(super) const INLINESTRUCT: u16 = 0x201;
pub(super) const CTZSTRUCT: u16 = 0x202;
pub(super) const USERATTR: u16 = 0x300;
pub(super) const CREATE: u16 = 0x401;
pub(super) const DELETE: u16 = 0x4ff;
pub(super) const CCRC: u16 = 0x500;
pub(super) const FCRC: u16 = 0x5ff;
pub(super) const SOFTTAIL: u16 = 0x600;
pub(super) const HARDTAIL: u16 = 0x601;
pub(super) const MOVESTATE: u16 = 0x7ff;

/// A decoded tag (valid bit clear for a valid tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tag(pub u32);

impl Tag {
    /// The tag of type `type3` for entry `id` with `size` bytes of data.
    pub(super) const fn new(type3: u16, id: u16, size: u16) -> Tag {
        Tag(((type3 as u32 & 0x7ff) << 20) | ((id as u32 & 0x3ff) << 10) | (size as u32 & 0x3ff))
    }

    /// Whether the valid bit says the tag was written.
    pub(super) fn is_valid(self) -> bool {
        self.0 & 0x8000_0000 == 0
    }

    /// The abstract type (0 to 7).
    pub(super) fn type1(self) -> u16 {
        ((self.0 >> 28) & 0x7) as u16
    }

    /// The full 11-bit type.
    pub(super) fn type3(self) -> u16 {
        ((self.0 >> 20) & 0x7ff) as u16
    }

    /// The 8-bit chunk.
    pub(super) fn chunk(self) -> u8 {
        (self.0 >> 20) as u8
    }

    /// The entry id (`NO_ID` for pair-level tags).
    pub(super) fn id(self) -> u16 {
        ((self.0 >> 10) & 0x3ff) as u16
    }

    /// The size field.
    pub(super) fn size(self) -> u16 {
        (self.0 & 0x3ff) as u16
    }

    /// Whether this tag deletes what it names.
    pub(super) fn is_delete(self) -> bool {
        self.size() == DELETED
    }

    /// The bytes of data that follow the tag.
    pub(super) fn data_len(self) -> usize {
        if self.is_delete() {
            0
        } else {
            usize::from(self.size())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let t = Tag::new(INLINESTRUCT, 5, 24);
        assert_eq!(t.0, 0x2010_1418);
        assert!(t.is_valid());
        assert_eq!((t.type1(), t.type3(), t.chunk()), (T1_STRUCT, 0x201, 0x01));
        assert_eq!((t.id(), t.size(), t.data_len()), (5, 24, 24));
        let d = Tag::new(USERATTR | 0x74, 3, DELETED);
        assert!(d.is_delete());
        assert_eq!(d.data_len(), 0);
        assert_eq!(Tag::new(DELETE, 7, 0).type1(), T1_SPLICE);
        assert!(!Tag(0xffff_ffff).is_valid());
    }
}
