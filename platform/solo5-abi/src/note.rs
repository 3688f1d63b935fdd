//! The ELF notes of a Solo5 unikernel: the ABI note (`.note.solo5.abi`),
//! the manifest note (`.note.solo5.manifest`) and the OpenBSD note, and how
//! a tender reads a Solo5 note from a PT_NOTE segment.
//!
//! Every Solo5 note has the owner `"Solo5\0"` (`n_namesz = 6`, padded to 8),
//! so its header is 20 bytes; each lives alone in its own PT_NOTE segment,
//! because the tender reads only the first note of each segment.

use crate::manifest::MftError;

/// The owner name of Solo5 notes, NUL included.
pub const NOTE_NAME: &[u8; 6] = b"Solo5\0";
/// `n_namesz` of Solo5 notes.
pub const NOTE_NAMESZ: u32 = 6;
/// Size of a Solo5 note header: 12 bytes plus the name padded to 8.
pub const NOTE_HEADER_SIZE: usize = 20;
/// `ABI1_NOTE_TYPE` ("ABI1" read as a little-endian u32).
pub const ABI1_NOTE_TYPE: u32 = 0x3149_4241;
/// `MFT1_NOTE_TYPE` ("MFT1").
pub const MFT1_NOTE_TYPE: u32 = 0x3154_464d;
/// `ABI1_NOTE_ALIGN`.
pub const ABI1_NOTE_ALIGN: usize = 4;
/// `MFT1_NOTE_ALIGN`: the manifest starts 8-aligned, 4 bytes after the header.
pub const MFT1_NOTE_ALIGN: usize = 8;
/// `ABI1_NOTE_MAX_SIZE`.
pub const ABI1_NOTE_MAX_SIZE: usize = 32;
/// `MFT1_NOTE_MAX_SIZE`.
pub const MFT1_NOTE_MAX_SIZE: usize = 6668;
/// Size of the ABI note descriptor (`struct abi1_info`).
pub const ABI1_DESC_SIZE: usize = 16;
/// Size of the whole ABI note.
pub const ABI_NOTE_SIZE: usize = NOTE_HEADER_SIZE + ABI1_DESC_SIZE;
/// Size of the OpenBSD note.
pub const OPENBSD_NOTE_SIZE: usize = 24;

/// `enum abi_target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AbiTarget {
    /// `solo5-hvt`.
    Hvt = 1,
    /// `solo5-spt`.
    Spt = 2,
    /// virtio.
    Virtio = 3,
    /// Muen.
    Muen = 4,
    /// Genode.
    Genode = 5,
    /// Xen.
    Xen = 6,
}

impl AbiTarget {
    /// The target of an `abi_target` value.
    pub fn of_code(code: u32) -> Option<Self> {
        Some(match code {
            1 => AbiTarget::Hvt,
            2 => AbiTarget::Spt,
            3 => AbiTarget::Virtio,
            4 => AbiTarget::Muen,
            5 => AbiTarget::Genode,
            6 => AbiTarget::Xen,
            _ => return None,
        })
    }

    /// The ABI version the bindings of this target emit.
    pub fn version(self) -> u32 {
        match self {
            AbiTarget::Hvt => crate::hvt::HVT_ABI_VERSION,
            AbiTarget::Spt => crate::spt::SPT_ABI_VERSION,
            AbiTarget::Virtio | AbiTarget::Xen => 1,
            AbiTarget::Muen => 4,
            AbiTarget::Genode => 1,
        }
    }

    /// The target's name (`hvt`...).
    pub fn name(self) -> &'static str {
        match self {
            AbiTarget::Hvt => "hvt",
            AbiTarget::Spt => "spt",
            AbiTarget::Virtio => "virtio",
            AbiTarget::Muen => "muen",
            AbiTarget::Genode => "genode",
            AbiTarget::Xen => "xen",
        }
    }
}

fn header(out: &mut [u8], descsz: u32, note_type: u32) {
    crate::write_u32(out, 0, NOTE_NAMESZ);
    crate::write_u32(out, 4, descsz);
    crate::write_u32(out, 8, note_type);
    out[12..18].copy_from_slice(NOTE_NAME);
    out[18] = 0;
    out[19] = 0;
}

const fn put_u32(out: &mut [u8], at: usize, value: u32) {
    let b = value.to_le_bytes();
    out[at] = b[0];
    out[at + 1] = b[1];
    out[at + 2] = b[2];
    out[at + 3] = b[3];
}

/// The bytes of the ABI note for `target` and `version` (a `const fn`, so
/// a guest can place it in a static).
pub const fn abi_note(target: AbiTarget, version: u32) -> [u8; ABI_NOTE_SIZE] {
    let mut out = [0u8; ABI_NOTE_SIZE];
    put_u32(&mut out, 0, NOTE_NAMESZ);
    put_u32(&mut out, 4, ABI1_DESC_SIZE as u32);
    put_u32(&mut out, 8, ABI1_NOTE_TYPE);
    let mut i = 0;
    while i < NOTE_NAME.len() {
        out[12 + i] = NOTE_NAME[i];
        i += 1;
    }
    put_u32(&mut out, 20, target as u32);
    put_u32(&mut out, 24, version);
    out
}

/// The size of the manifest note holding a manifest of `mft_size` bytes.
pub const fn manifest_note_size(mft_size: usize) -> usize {
    NOTE_HEADER_SIZE + 4 + mft_size
}

/// Writes the manifest note holding `mft` into `out`; returns its size.
/// `n_descsz` counts the 4 padding bytes before the manifest, as Solo5's.
pub fn write_manifest_note(mft: &[u8], out: &mut [u8]) -> Result<usize, MftError> {
    let size = manifest_note_size(mft.len());
    if size - NOTE_HEADER_SIZE > MFT1_NOTE_MAX_SIZE {
        return Err(MftError::TooManyDevices(
            mft.len() / crate::manifest::ENTRY_SIZE,
        ));
    }
    let out = out.get_mut(..size).ok_or(MftError::BufferTooSmall)?;
    out.fill(0);
    header(out, (4 + mft.len()) as u32, MFT1_NOTE_TYPE);
    out[NOTE_HEADER_SIZE + 4..].copy_from_slice(mft);
    Ok(size)
}

/// The OpenBSD note (`.note.solo5.not_openbsd`): makes OpenBSD honour
/// PT_INTERP; it must be in the first PT_NOTE.
pub fn openbsd_note() -> [u8; OPENBSD_NOTE_SIZE] {
    let mut out = [0u8; OPENBSD_NOTE_SIZE];
    crate::write_u32(&mut out, 0, 8);
    crate::write_u32(&mut out, 4, 4);
    crate::write_u32(&mut out, 8, 1);
    out[12..20].copy_from_slice(b"OpenBSD\0");
    out
}

/// Why a note could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteError {
    /// The segment is smaller than a note header (`p_filesz < 12`): the ELF
    /// is invalid.
    SegmentTooSmall(usize),
    /// `n_descsz` is 0 or above the note's maximum.
    BadDescSize(u32),
    /// The segment is too small for the declared descriptor.
    Truncated {
        /// Bytes the note declares.
        needed: usize,
        /// Bytes the segment holds.
        have: usize,
    },
}

impl core::fmt::Display for NoteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NoteError::SegmentTooSmall(n) => write!(f, "PT_NOTE segment of {n} bytes is too small"),
            NoteError::BadDescSize(n) => write!(f, "note descriptor size {n} is out of range"),
            NoteError::Truncated { needed, have } => {
                write!(f, "note needs {needed} bytes but its segment has {have}")
            }
        }
    }
}

/// Reads the first note of a PT_NOTE segment as Solo5's `elf_load_note`
/// does: `Ok(None)` if it is not a Solo5 note of `note_type`; its
/// descriptor (after the alignment padding) if it is.
pub fn read_solo5_note(
    segment: &[u8],
    note_type: u32,
    align: usize,
    max_desc: usize,
) -> Result<Option<&[u8]>, NoteError> {
    if segment.len() < 12 {
        return Err(NoteError::SegmentTooSmall(segment.len()));
    }
    let namesz = crate::read_u32(segment, 0).unwrap_or(0);
    let descsz = crate::read_u32(segment, 4).unwrap_or(0);
    let ntype = crate::read_u32(segment, 8).unwrap_or(0);
    if namesz != NOTE_NAMESZ || ntype != note_type || segment.get(12..18) != Some(NOTE_NAME) {
        return Ok(None);
    }
    if descsz == 0 || descsz as usize > max_desc {
        return Err(NoteError::BadDescSize(descsz));
    }
    let needed = NOTE_HEADER_SIZE + descsz as usize;
    if segment.len() < needed {
        return Err(NoteError::Truncated {
            needed,
            have: segment.len(),
        });
    }
    let offset = NOTE_HEADER_SIZE.div_ceil(align) * align;
    if offset > needed {
        return Err(NoteError::BadDescSize(descsz));
    }
    Ok(Some(&segment[offset..needed]))
}

/// The target and version of an ABI note descriptor.
pub fn parse_abi(desc: &[u8]) -> Option<(u32, u32)> {
    Some((crate::read_u32(desc, 0)?, crate::read_u32(desc, 4)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Manifest, manifest_size, write_manifest};

    #[test]
    fn abi_note_matches_solo5s_bytes() {
        let note = abi_note(AbiTarget::Hvt, 2);
        let expected: [u8; 36] = [
            6, 0, 0, 0, 0x10, 0, 0, 0, 0x41, 0x42, 0x49, 0x31, b'S', b'o', b'l', b'o', b'5', 0, 0,
            0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(note, expected);
        let desc = read_solo5_note(&note, ABI1_NOTE_TYPE, ABI1_NOTE_ALIGN, ABI1_NOTE_MAX_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(parse_abi(desc), Some((1, 2)));
    }

    #[test]
    fn manifest_note_round_trips_with_solo5s_descsz() {
        let mut mft = [0u8; 1024];
        let n = write_manifest(&[], &mut mft).unwrap();
        let mut note = [0u8; 2048];
        let size = write_manifest_note(&mft[..n], &mut note).unwrap();
        assert_eq!(size, 20 + 4 + 112);
        // n_descsz = 0x74 for test_hello.hvt.
        assert_eq!(
            &note[..12],
            &[6, 0, 0, 0, 0x74, 0, 0, 0, 0x4d, 0x46, 0x54, 0x31]
        );
        let desc = read_solo5_note(
            &note[..size],
            MFT1_NOTE_TYPE,
            MFT1_NOTE_ALIGN,
            MFT1_NOTE_MAX_SIZE,
        )
        .unwrap()
        .unwrap();
        assert_eq!(desc.len(), manifest_size(0));
        assert!(Manifest::validate(desc).is_ok());
    }

    #[test]
    fn hostile_notes_are_errors_or_ignored() {
        assert_eq!(
            read_solo5_note(&[0; 11], ABI1_NOTE_TYPE, 4, 32),
            Err(NoteError::SegmentTooSmall(11))
        );
        let note = abi_note(AbiTarget::Spt, 2);
        // Another note type, or another owner: not this note.
        assert_eq!(read_solo5_note(&note, MFT1_NOTE_TYPE, 8, 6668), Ok(None));
        let mut other = note;
        other[12] = b'X';
        assert_eq!(read_solo5_note(&other, ABI1_NOTE_TYPE, 4, 32), Ok(None));
        // Truncated.
        assert!(matches!(
            read_solo5_note(&note[..30], ABI1_NOTE_TYPE, 4, 32),
            Err(NoteError::Truncated { .. })
        ));
        // Oversized or empty descriptor.
        let mut big = note;
        big[4] = 33;
        assert_eq!(
            read_solo5_note(&big, ABI1_NOTE_TYPE, 4, 32),
            Err(NoteError::BadDescSize(33))
        );
        big[4] = 0;
        assert_eq!(
            read_solo5_note(&big, ABI1_NOTE_TYPE, 4, 32),
            Err(NoteError::BadDescSize(0))
        );
        // A manifest descriptor too short for its alignment padding.
        let mut tiny = [0u8; 24];
        tiny[..20].copy_from_slice(&note[..20]);
        tiny[4] = 2;
        tiny[8..12].copy_from_slice(&MFT1_NOTE_TYPE.to_le_bytes());
        assert_eq!(
            read_solo5_note(&tiny, MFT1_NOTE_TYPE, 8, 6668),
            Err(NoteError::BadDescSize(2))
        );
    }
}
