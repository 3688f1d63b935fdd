//! Reading a Solo5 unikernel's ELF file as Solo5's `tenders/common/elf.c`
//! does (SOLO5-ABI.md 2.7): its notes (ABI and manifest), then a load plan
//! with every check of `elf_load`, then the copy into guest memory.
//!
//! The file is read by ranges, as Solo5 reads it with `pread` ([`Image`]):
//! only the ELF header, the program headers, the first note of each
//! `PT_NOTE` segment and the `PT_LOAD` segments, which go straight into
//! guest memory. The rest of the file (symbols, debug information, or the
//! hole of a huge sparse file) is never read.
//!
//! The file is hostile: every offset and size is bounds-checked and every
//! sum overflow-checked; nothing here panics on any input.

use solo5_abi::GUEST_MIN_BASE;
use solo5_abi::PAGE_SIZE;
use solo5_abi::manifest::Manifest;
use solo5_abi::note::{self, AbiTarget};

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Result, TenderError};

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u32 = 1;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
/// The most of a `PT_NOTE` segment that is read: its first note, at most
/// a header and the largest descriptor (the manifest's).
const NOTE_READ_MAX: usize = note::NOTE_HEADER_SIZE + note::MFT1_NOTE_MAX_SIZE;

/// The Solo5 notes of a unikernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes {
    /// `abi_target` of the ABI note.
    pub abi_target: u32,
    /// `abi_version` of the ABI note.
    pub abi_version: u32,
    /// The manifest (`struct mft`), validated, as in the file.
    pub manifest: Vec<u8>,
}

/// One `PT_LOAD` segment to load (only those with `p_filesz != 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// `p_vaddr`: guest address of the first byte.
    pub vaddr: u64,
    /// `p_filesz`: bytes copied from the file.
    pub filesz: u64,
    /// `p_memsz`: bytes in memory (the tail after `filesz` is zeroed).
    pub memsz: u64,
    /// `p_offset`: where the bytes are in the file.
    pub offset: u64,
    /// `p_align`: a power of 2.
    pub align: u64,
    /// `PF_R`.
    pub readable: bool,
    /// `PF_W`.
    pub writable: bool,
    /// `PF_X`.
    pub executable: bool,
}

impl Segment {
    /// The start of the range to protect: `p_vaddr` aligned down to
    /// `p_align` (4 KiB aligned once planned).
    pub fn aligned_start(&self) -> u64 {
        self.vaddr & !(self.align.wrapping_sub(1))
    }

    /// The end of the range to protect: `p_vaddr + p_memsz` aligned up to
    /// `p_align` (checked by [`plan`]; saturates on a segment not planned).
    pub fn aligned_end(&self) -> u64 {
        align_up(self.vaddr.saturating_add(self.memsz), self.align).unwrap_or(u64::MAX)
    }
}

/// What [`plan`] found: where to enter, where the image ends, what to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadPlan {
    /// `e_entry`.
    pub entry: u64,
    /// The highest aligned segment end (`boot_info.kernel_end`).
    pub kernel_end: u64,
    /// The non-empty `PT_LOAD` segments, in file order.
    pub segments: Vec<Segment>,
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    Some(v.checked_add(mask)? & !mask)
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    solo5_abi::read_u32(b, off).unwrap_or(0)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    solo5_abi::read_u64(b, off).unwrap_or(0)
}

/// A program header, as read.
#[derive(Debug, Clone, Copy)]
struct Phdr {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

struct Header {
    entry: u64,
    phdrs: Vec<Phdr>,
}

/// A unikernel's file, read by ranges.
pub trait Image {
    /// The size of the file in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes at `offset`; the callers check that the
    /// range lies within [`Image::size`] first.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

impl Image for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let bytes = file_range(self, offset, buf.len() as u64)
            .ok_or(TenderError::ElfTruncated { size: self.len() })?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl Image for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

/// A unikernel's file on disk, opened by [`read_kernel`].
#[derive(Debug)]
pub struct KernelFile {
    file: File,
    size: u64,
}

impl Image for KernelFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        // A file that shrank since it was opened ends early: an error.
        self.file
            .read_exact_at(buf, offset)
            .map_err(TenderError::ReadKernel)
    }
}

/// Whether `size` bytes at `offset` lie within `image`.
fn within<I: Image + ?Sized>(image: &I, offset: u64, size: u64) -> bool {
    offset
        .checked_add(size)
        .is_some_and(|end| end <= image.size())
}

/// The header checks of `elf_load` (everything but the entry point).
fn header<I: Image + ?Sized>(image: &I) -> Result<Header> {
    if image.size() < EHDR_SIZE as u64 {
        return Err(TenderError::ElfTruncated {
            size: image.size() as usize,
        });
    }
    let mut ehdr = [0u8; EHDR_SIZE];
    image.read_at(0, &mut ehdr)?;
    let file = &ehdr[..];
    if &file[..4] != b"\x7fELF" {
        return Err(TenderError::ElfNotElf);
    }
    if file[4] != ELFCLASS64 {
        return Err(TenderError::ElfClass(file[4]));
    }
    if file[5] != ELFDATA2LSB {
        return Err(TenderError::ElfData(file[5]));
    }
    if u32::from(file[6]) != EV_CURRENT {
        return Err(TenderError::ElfVersion(u32::from(file[6])));
    }
    let e_version = u32_at(file, 20);
    if e_version != EV_CURRENT {
        return Err(TenderError::ElfVersion(e_version));
    }
    let e_type = u16_at(file, 16);
    if e_type != ET_EXEC {
        return Err(TenderError::ElfType(e_type));
    }
    let e_machine = u16_at(file, 18);
    if e_machine != EM_X86_64 {
        return Err(TenderError::ElfMachine(e_machine));
    }
    let e_ehsize = u16_at(file, 52);
    if usize::from(e_ehsize) != EHDR_SIZE {
        return Err(TenderError::ElfHeaderSize(e_ehsize));
    }
    let e_phentsize = u16_at(file, 54);
    if usize::from(e_phentsize) != PHDR_SIZE {
        return Err(TenderError::ElfPhentSize(e_phentsize));
    }
    let phnum = u16_at(file, 56);
    if phnum == 0 {
        return Err(TenderError::ElfNoProgramHeaders);
    }
    let phoff = u64_at(file, 32);
    let table_len = usize::from(phnum) * PHDR_SIZE;
    if !within(image, phoff, table_len as u64) {
        return Err(TenderError::ElfProgramHeadersOutOfFile { phoff, phnum });
    }
    let mut table = vec![0u8; table_len];
    image.read_at(phoff, &mut table)?;
    let phdrs = table
        .chunks_exact(PHDR_SIZE)
        .map(|p| Phdr {
            p_type: u32_at(p, 0),
            flags: u32_at(p, 4),
            offset: u64_at(p, 8),
            vaddr: u64_at(p, 16),
            filesz: u64_at(p, 32),
            memsz: u64_at(p, 40),
            align: u64_at(p, 48),
        })
        .collect();
    Ok(Header {
        entry: u64_at(file, 24),
        phdrs,
    })
}

/// Opens the unikernel file at `path`, which must be a regular file: it is
/// opened non-blocking and checked with `fstat` before it is read, so a FIFO
/// (which would block `open` forever) or a device such as `/dev/zero`
/// (which would be read until memory runs out) is a clear error instead.
/// Nothing is read yet: [`read_notes`], [`plan`] and [`load`] read what
/// they need.
pub fn read_kernel(path: &Path) -> Result<KernelFile> {
    let fail = |source| TenderError::OpenKernel {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(fail(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok(KernelFile {
        file,
        size: meta.len(),
    })
}

fn file_range(file: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    file.get(start..end)
}

/// Reads the ABI and manifest notes as Solo5's `elf_load_note` does: the
/// first note of each PT_NOTE segment only (a PT_NOTE smaller than a note
/// header makes the file invalid); both notes must be there; the manifest
/// must pass `mft_validate`. The ELF header is checked first.
pub fn read_notes<I: Image + ?Sized>(image: &I) -> Result<Notes> {
    let header = header(image)?;
    let mut abi: Option<(u32, u32)> = None;
    let mut manifest: Option<Vec<u8>> = None;
    for (index, ph) in header.phdrs.iter().enumerate() {
        if ph.p_type != PT_NOTE {
            continue;
        }
        if !within(image, ph.offset, ph.filesz) {
            return Err(TenderError::NoteBeyondFile { index });
        }
        // Only the segment's first note is read, so no more than the
        // largest note (header and descriptor) is needed.
        let len = ph.filesz.min(NOTE_READ_MAX as u64) as usize;
        let mut segment = vec![0u8; len];
        image.read_at(ph.offset, &mut segment)?;
        let segment = &segment[..];
        let bad = |source| TenderError::BadNote { index, source };
        if segment.len() < 12 {
            return Err(bad(note::NoteError::SegmentTooSmall(segment.len())));
        }
        if abi.is_none()
            && let Some(desc) = note::read_solo5_note(
                segment,
                note::ABI1_NOTE_TYPE,
                note::ABI1_NOTE_ALIGN,
                note::ABI1_NOTE_MAX_SIZE,
            )
            .map_err(bad)?
        {
            abi = Some(note::parse_abi(desc).ok_or(TenderError::AbiNoteTooSmall(desc.len()))?);
            continue;
        }
        if manifest.is_none()
            && let Some(desc) = note::read_solo5_note(
                segment,
                note::MFT1_NOTE_TYPE,
                note::MFT1_NOTE_ALIGN,
                note::MFT1_NOTE_MAX_SIZE,
            )
            .map_err(bad)?
        {
            manifest = Some(desc.to_vec());
        }
    }
    let (abi_target, abi_version) = abi.ok_or(TenderError::NoAbiNote)?;
    let manifest = manifest.ok_or(TenderError::NoManifest)?;
    Manifest::validate(&manifest).map_err(TenderError::InvalidManifest)?;
    Ok(Notes {
        abi_target,
        abi_version,
        manifest,
    })
}

/// Checks that the notes are for `target` at the version this tender
/// speaks (hvt 2, spt 2).
pub fn check_abi(notes: &Notes, target: AbiTarget) -> Result<()> {
    if notes.abi_target != target as u32 {
        return Err(TenderError::WrongTarget {
            expected: target.name(),
            found: notes.abi_target,
        });
    }
    if notes.abi_version != target.version() {
        return Err(TenderError::UnsupportedAbiVersion(notes.abi_version));
    }
    Ok(())
}

/// Checks the ELF header and every non-empty `PT_LOAD` segment against a
/// guest memory of `mem_size` bytes, with every check of Solo5's
/// `elf_load` (SOLO5-ABI.md 2.7), and says what to load.
pub fn plan<I: Image + ?Sized>(image: &I, mem_size: u64) -> Result<LoadPlan> {
    let header = header(image)?;
    if header.entry < GUEST_MIN_BASE || header.entry >= mem_size {
        return Err(TenderError::ElfEntry {
            entry: header.entry,
            mem_size,
        });
    }
    let mut segments = Vec::new();
    let mut previous_end = 0u64;
    let mut previous_vaddr = 0u64;
    let mut kernel_end = 0u64;
    for (index, ph) in header.phdrs.iter().enumerate() {
        if ph.p_type != PT_LOAD || ph.filesz == 0 {
            continue;
        }
        let vaddr = ph.vaddr;
        if vaddr < GUEST_MIN_BASE {
            return Err(TenderError::SegmentBelowMinBase { index, vaddr });
        }
        if vaddr < previous_vaddr {
            return Err(TenderError::SegmentNotAscending { index, vaddr });
        }
        if ph.align == 0 || !ph.align.is_power_of_two() {
            return Err(TenderError::SegmentAlign {
                index,
                align: ph.align,
            });
        }
        let start = vaddr & !(ph.align - 1);
        if start < GUEST_MIN_BASE {
            return Err(TenderError::SegmentBelowMinBase {
                index,
                vaddr: start,
            });
        }
        if start < previous_end {
            return Err(TenderError::SegmentOverlap {
                index,
                start,
                previous_end,
            });
        }
        let beyond = |end| TenderError::SegmentBeyondMemory {
            index,
            end,
            mem_size,
        };
        let file_end = vaddr.checked_add(ph.filesz).ok_or(beyond(None))?;
        if file_end > mem_size {
            return Err(beyond(Some(file_end)));
        }
        if ph.memsz < ph.filesz {
            return Err(TenderError::SegmentMemSize {
                index,
                filesz: ph.filesz,
                memsz: ph.memsz,
            });
        }
        let end = vaddr
            .checked_add(ph.memsz)
            .and_then(|e| align_up(e, ph.align))
            .ok_or(beyond(None))?;
        if end > mem_size {
            return Err(beyond(Some(end)));
        }
        if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
            return Err(TenderError::SegmentMisaligned { index, start, end });
        }
        let writable = ph.flags & PF_W != 0;
        let executable = ph.flags & PF_X != 0;
        if writable && executable {
            return Err(TenderError::SegmentWriteExec { index });
        }
        if !within(image, ph.offset, ph.filesz) {
            return Err(TenderError::SegmentBeyondFile {
                index,
                offset: ph.offset,
                filesz: ph.filesz,
            });
        }
        segments.push(Segment {
            vaddr,
            filesz: ph.filesz,
            memsz: ph.memsz,
            offset: ph.offset,
            align: ph.align,
            readable: ph.flags & PF_R != 0,
            writable,
            executable,
        });
        previous_vaddr = vaddr;
        previous_end = end;
        kernel_end = kernel_end.max(end);
    }
    Ok(LoadPlan {
        entry: header.entry,
        kernel_end,
        segments,
    })
}

/// Reads each planned segment from `image` straight into `mem` (the guest
/// memory, whose first byte is guest address `mem_base`) and zeroes its
/// tail up to `p_memsz`. Bounds-checked: a segment outside `mem` or the
/// file is an error.
pub fn load<I: Image + ?Sized>(
    plan: &LoadPlan,
    image: &I,
    mem: &mut [u8],
    mem_base: u64,
) -> Result<()> {
    for s in &plan.segments {
        let oob = || TenderError::LoadOutOfBounds {
            vaddr: s.vaddr,
            memsz: s.memsz,
        };
        let start = s
            .vaddr
            .checked_sub(mem_base)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(oob)?;
        let memsz = usize::try_from(s.memsz).map_err(|_| oob())?;
        let end = start.checked_add(memsz).ok_or_else(oob)?;
        let dest = mem.get_mut(start..end).ok_or_else(oob)?;
        let filesz = usize::try_from(s.filesz)
            .ok()
            .filter(|&n| n <= dest.len() && within(image, s.offset, s.filesz))
            .ok_or(TenderError::SegmentBeyondFile {
                index: 0,
                offset: s.offset,
                filesz: s.filesz,
            })?;
        let (head, tail) = dest.split_at_mut(filesz);
        image.read_at(s.offset, head)?;
        tail.fill(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use solo5_abi::manifest::write_manifest;

    const MEM: u64 = 0x40_0000;

    /// A minimal ELF: header, `phdrs` program headers, then `body`.
    fn elf(phdrs: &[(u32, u32, u64, u64, u64, u64, u64)], body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; EHDR_SIZE];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&0x10_0000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for &(t, flags, off, vaddr, filesz, memsz, align) in phdrs {
            let mut p = [0u8; PHDR_SIZE];
            p[0..4].copy_from_slice(&t.to_le_bytes());
            p[4..8].copy_from_slice(&flags.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&filesz.to_le_bytes());
            p[40..48].copy_from_slice(&memsz.to_le_bytes());
            p[48..56].copy_from_slice(&align.to_le_bytes());
            f.extend_from_slice(&p);
        }
        f.extend_from_slice(body);
        f
    }

    fn notes_body(target: AbiTarget) -> (Vec<u8>, u64, u64, u64, u64) {
        let abi = note::abi_note(target, 2);
        let mut mft = [0u8; 512];
        let n = write_manifest(&[], &mut mft).unwrap();
        let mut mnote = [0u8; 1024];
        let m = note::write_manifest_note(&mft[..n], &mut mnote).unwrap();
        let mut body = abi.to_vec();
        body.extend_from_slice(&mnote[..m]);
        (body, 0, abi.len() as u64, abi.len() as u64, m as u64)
    }

    #[test]
    fn notes_are_read_and_checked() {
        let (body, a_off, a_len, m_off, m_len) = notes_body(AbiTarget::Spt);
        let base = (EHDR_SIZE + 2 * PHDR_SIZE) as u64;
        let f = elf(
            &[
                (PT_NOTE, 4, base + a_off, 0, a_len, a_len, 4),
                (PT_NOTE, 4, base + m_off, 0, m_len, m_len, 8),
            ],
            &body,
        );
        let notes = read_notes(&f).unwrap();
        assert_eq!((notes.abi_target, notes.abi_version), (2, 2));
        assert!(check_abi(&notes, AbiTarget::Spt).is_ok());
        assert!(matches!(
            check_abi(&notes, AbiTarget::Hvt),
            Err(TenderError::WrongTarget { found: 2, .. })
        ));
        // Only the manifest: no ABI note.
        let f = elf(
            &[
                (PT_NOTE, 4, base + m_off, 0, m_len, m_len, 8),
                (0, 0, 0, 0, 0, 0, 0),
            ],
            &body,
        );
        assert!(matches!(read_notes(&f), Err(TenderError::NoAbiNote)));
        // A PT_NOTE under 12 bytes invalidates the file.
        let f = elf(
            &[
                (PT_NOTE, 4, base + a_off, 0, a_len, a_len, 4),
                (PT_NOTE, 4, base + m_off, 0, 8, 8, 8),
            ],
            &body,
        );
        assert!(matches!(read_notes(&f), Err(TenderError::BadNote { .. })));
        // A PT_NOTE beyond the file.
        let f = elf(
            &[
                (PT_NOTE, 4, base + a_off, 0, 1 << 20, 1 << 20, 4),
                (0, 0, 0, 0, 0, 0, 0),
            ],
            &body,
        );
        assert!(matches!(
            read_notes(&f),
            Err(TenderError::NoteBeyondFile { .. })
        ));
    }

    #[test]
    fn load_checks_follow_solo5() {
        let body = vec![0xAAu8; 0x2000];
        let off = 0x1000u64;
        let mut pad = vec![0u8; off as usize - EHDR_SIZE - 2 * PHDR_SIZE];
        pad.extend_from_slice(&body);
        let good = |p2: (u32, u32, u64, u64, u64, u64, u64)| {
            elf(
                &[
                    (PT_LOAD, PF_R | PF_X, off, 0x10_0000, 0x1000, 0x1000, 0x1000),
                    p2,
                ],
                &pad,
            )
        };
        let ok = plan(
            &good((
                PT_LOAD,
                PF_R | PF_W,
                off + 0x1000,
                0x10_1000,
                0x800,
                0x3000,
                0x1000,
            )),
            MEM,
        )
        .unwrap();
        assert_eq!(ok.kernel_end, 0x10_4000);
        assert_eq!(ok.segments.len(), 2);
        assert_eq!(ok.segments[1].aligned_start(), 0x10_1000);
        assert_eq!(ok.segments[1].aligned_end(), 0x10_4000);
        // Empty segments are skipped entirely, even nonsense ones.
        let skipped = plan(&good((PT_LOAD, 7, 0, 0, 0, 0x100_0000_0000, 3)), MEM).unwrap();
        assert_eq!(skipped.segments.len(), 1);
        assert_eq!(skipped.kernel_end, 0x10_1000);

        type Case = (
            (u32, u32, u64, u64, u64, u64, u64),
            fn(&TenderError) -> bool,
        );
        let cases: Vec<Case> = vec![
            ((PT_LOAD, PF_R, off, 0xF_F000, 0x10, 0x10, 0x1000), |e| {
                matches!(
                    e,
                    TenderError::SegmentNotAscending { .. }
                        | TenderError::SegmentBelowMinBase { .. }
                )
            }),
            ((PT_LOAD, PF_R, off, 0x10_2000, 0x10, 0x10, 0x1800), |e| {
                matches!(e, TenderError::SegmentAlign { .. })
            }),
            ((PT_LOAD, PF_R, off, 0x10_0800, 0x10, 0x10, 0x1000), |e| {
                matches!(e, TenderError::SegmentOverlap { .. })
            }),
            ((PT_LOAD, PF_R, off, 0x10_2010, 0x10, 0x10, 0x10), |e| {
                matches!(e, TenderError::SegmentMisaligned { .. })
            }),
            ((PT_LOAD, PF_R, off, 0x10_2000, 0x20, 0x10, 0x1000), |e| {
                matches!(e, TenderError::SegmentMemSize { .. })
            }),
            ((PT_LOAD, PF_R, off, MEM - 0x10, 0x20, 0x20, 0x1000), |e| {
                matches!(e, TenderError::SegmentBeyondMemory { .. })
            }),
            (
                (PT_LOAD, PF_R, off, MEM - 0x1000, 0x20, 0x2000, 0x1000),
                |e| matches!(e, TenderError::SegmentBeyondMemory { .. }),
            ),
            (
                (PT_LOAD, PF_R, off, u64::MAX - 0x10, 0x20, 0x20, 0x1000),
                |e| matches!(e, TenderError::SegmentBeyondMemory { .. }),
            ),
            (
                (PT_LOAD, PF_W | PF_X, off, 0x10_2000, 0x20, 0x20, 0x1000),
                |e| matches!(e, TenderError::SegmentWriteExec { .. }),
            ),
            (
                (PT_LOAD, PF_R, u64::MAX, 0x10_2000, 0x20, 0x20, 0x1000),
                |e| matches!(e, TenderError::SegmentBeyondFile { .. }),
            ),
            (
                (PT_LOAD, PF_R, off, 0x10_2000, 0x10_0000, 0x10_0000, 0x1000),
                |e| matches!(e, TenderError::SegmentBeyondFile { .. }),
            ),
        ];
        for (i, (ph, check)) in cases.into_iter().enumerate() {
            let e = plan(&good(ph), MEM).unwrap_err();
            assert!(check(&e), "case {i}: {e}");
        }
        // Entry point.
        let mut f = good((PT_LOAD, PF_R, off, 0x10_2000, 0x10, 0x10, 0x1000));
        f[24..32].copy_from_slice(&MEM.to_le_bytes());
        assert!(matches!(plan(&f, MEM), Err(TenderError::ElfEntry { .. })));
        f[24..32].copy_from_slice(&0xF_FFFFu64.to_le_bytes());
        assert!(matches!(plan(&f, MEM), Err(TenderError::ElfEntry { .. })));
    }

    #[test]
    fn each_segment_rule_on_its_own() {
        let body = vec![0xAAu8; 0x3000];
        let off = 0x1000u64;
        let mut pad = vec![0u8; off as usize - EHDR_SIZE - 2 * PHDR_SIZE];
        pad.extend_from_slice(&body);
        let two = |a: (u64, u64), b: (u64, u64)| {
            elf(
                &[
                    (PT_LOAD, PF_R | PF_X, off, a.0, 0x10, 0x10, a.1),
                    (PT_LOAD, PF_R, off + 0x1000, b.0, 0x10, 0x10, b.1),
                ],
                &pad,
            )
        };
        // p_vaddr below 0x100000 (first segment: nothing to be out of order with).
        assert!(matches!(
            plan(&two((0xF_F000, 0x1000), (0x10_1000, 0x1000)), MEM),
            Err(TenderError::SegmentBelowMinBase {
                index: 0,
                vaddr: 0xF_F000
            })
        ));
        // p_vaddr above the minimum, but aligned down below it.
        assert!(matches!(
            plan(&two((0x10_0000, 0x1000), (0x10_1000, 0x20_0000)), MEM),
            Err(TenderError::SegmentBelowMinBase { index: 1, vaddr: 0 })
        ));
        // Descending p_vaddr.
        assert!(matches!(
            plan(&two((0x10_2000, 0x1000), (0x10_0000, 0x1000)), MEM),
            Err(TenderError::SegmentNotAscending {
                index: 1,
                vaddr: 0x10_0000
            })
        ));
        // p_align zero or not a power of 2.
        for align in [0, 3, 0x1800] {
            assert!(
                matches!(
                    plan(&two((0x10_0000, 0x1000), (0x10_1000, align)), MEM),
                    Err(TenderError::SegmentAlign { index: 1, .. })
                ),
                "{align}"
            );
        }
        // Extreme addresses and alignments are errors, never a panic.
        for v in [0, 1, 0x10_0000, u64::MAX / 2, u64::MAX - 0xFFF, u64::MAX] {
            for a in [1, 0x1000, 1 << 63] {
                let _ = plan(&two((0x10_0000, 0x1000), (v, a)), MEM);
                let _ = plan(&two((v, a), (v, a)), u64::MAX);
            }
        }
        assert!(plan(&two((0x10_0000, 0x1000), (0x10_1000, 0x1000)), MEM).is_ok());
    }

    #[test]
    fn header_checks() {
        let f = elf(&[(PT_NOTE, 0, 0, 0, 0, 0, 0)], &[]);
        assert!(header(&f).is_ok());
        let patch = |at: usize, v: &[u8]| {
            let mut g = f.clone();
            g[at..at + v.len()].copy_from_slice(v);
            header(&g).err().unwrap()
        };
        assert!(matches!(patch(0, b"\x7fELG"), TenderError::ElfNotElf));
        assert!(matches!(patch(4, &[1]), TenderError::ElfClass(1)));
        assert!(matches!(patch(5, &[2]), TenderError::ElfData(2)));
        assert!(matches!(patch(6, &[0]), TenderError::ElfVersion(0)));
        assert!(matches!(patch(20, &[2]), TenderError::ElfVersion(2)));
        assert!(matches!(patch(16, &[3]), TenderError::ElfType(3)));
        assert!(matches!(patch(18, &[40]), TenderError::ElfMachine(40)));
        assert!(matches!(patch(52, &[63]), TenderError::ElfHeaderSize(63)));
        assert!(matches!(patch(54, &[55]), TenderError::ElfPhentSize(55)));
        assert!(matches!(patch(56, &[0]), TenderError::ElfNoProgramHeaders));
        assert!(matches!(
            patch(56, &[2]),
            TenderError::ElfProgramHeadersOutOfFile { .. }
        ));
        assert!(matches!(
            patch(32, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            TenderError::ElfProgramHeadersOutOfFile { .. }
        ));
        assert!(matches!(
            header(&f[..40]),
            Err(TenderError::ElfTruncated { size: 40 })
        ));
    }

    /// An image that counts the bytes read from it.
    struct Counted {
        bytes: Vec<u8>,
        read: std::cell::Cell<u64>,
    }

    impl Image for Counted {
        fn size(&self) -> u64 {
            self.bytes.size()
        }

        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            self.read.set(self.read.get() + buf.len() as u64);
            self.bytes.read_at(offset, buf)
        }
    }

    #[test]
    fn only_headers_notes_and_segments_are_read() {
        // Notes, one loadable page, then 1 MiB that nothing refers to
        // (as symbols and debug information are), and a PT_NOTE segment
        // far larger than its first note.
        let (body, a_off, a_len, m_off, _) = notes_body(AbiTarget::Spt);
        let base = (EHDR_SIZE + 3 * PHDR_SIZE) as u64;
        let text = base + body.len() as u64;
        let mut tail = body.clone();
        tail.extend((0..0x1000u32).map(|i| i as u8));
        tail.resize(tail.len() + (1 << 20), 0xEE);
        let bytes = elf(
            &[
                (PT_NOTE, 4, base + a_off, 0, a_len, a_len, 4),
                (PT_NOTE, 4, base + m_off, 0, 1 << 20, 1 << 20, 8),
                (
                    PT_LOAD,
                    PF_R | PF_X,
                    text,
                    0x10_0000,
                    0x1000,
                    0x2000,
                    0x1000,
                ),
            ],
            &tail,
        );
        let image = Counted {
            bytes,
            read: Default::default(),
        };
        let notes = read_notes(&image).unwrap();
        assert_eq!(notes.abi_target, AbiTarget::Spt as u32);
        let plan = plan(&image, MEM).unwrap();
        let mut mem = vec![0xFFu8; 0x3000];
        load(&plan, &image, &mut mem, 0x10_0000).unwrap();
        assert!(mem[..0x1000].iter().enumerate().all(|(i, &b)| b == i as u8));
        assert!(mem[0x1000..0x2000].iter().all(|&b| b == 0));
        assert!(mem[0x2000..].iter().all(|&b| b == 0xFF));
        // The headers (by read_notes and by plan), the first note of each
        // PT_NOTE (the second's read capped at the largest note), the page.
        let headers = (EHDR_SIZE + 3 * PHDR_SIZE) as u64;
        let notes = a_len + NOTE_READ_MAX as u64;
        assert_eq!(image.read.get(), 2 * headers + notes + 0x1000);
        // The same file in memory gives the same results.
        assert_eq!(
            read_notes(&image.bytes).unwrap(),
            read_notes(&image).unwrap()
        );
    }

    #[test]
    fn a_failed_read_is_an_error() {
        struct Broken;
        impl Image for Broken {
            fn size(&self) -> u64 {
                1 << 20
            }
            fn read_at(&self, _: u64, _: &mut [u8]) -> Result<()> {
                Err(TenderError::ReadKernel(io::Error::from(
                    io::ErrorKind::UnexpectedEof,
                )))
            }
        }
        assert!(matches!(
            read_notes(&Broken),
            Err(TenderError::ReadKernel(_))
        ));
        assert!(matches!(
            plan(&Broken, MEM),
            Err(TenderError::ReadKernel(_))
        ));
    }

    #[test]
    fn load_copies_and_zeroes() {
        let file: Vec<u8> = (0..=255u8).collect();
        let plan = LoadPlan {
            entry: 0x10_0000,
            kernel_end: 0x10_1000,
            segments: vec![Segment {
                vaddr: 0x10_0010,
                filesz: 4,
                memsz: 8,
                offset: 16,
                align: 0x1000,
                readable: true,
                writable: false,
                executable: true,
            }],
        };
        let mut mem = vec![0xFFu8; 0x2000];
        load(&plan, &file, &mut mem, 0xF_F000).unwrap();
        assert_eq!(&mem[0x1010..0x1019], &[16, 17, 18, 19, 0, 0, 0, 0, 0xFF]);
        assert!(matches!(
            load(&plan, &file, &mut mem[..0x1014], 0xF_F000),
            Err(TenderError::LoadOutOfBounds { .. })
        ));
        assert!(load(&plan, &file, &mut mem, 0x10_0011).is_err());
    }
}
