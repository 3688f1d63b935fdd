//! The one error type of the tenders.
//!
//! Every operation that can fail has its own variant, carrying what failed
//! (which file, which device, which check). The messages follow Solo5's
//! wording where Solo5 has one. A tender prints the error on stderr and
//! exits with status 1 (`TenderError::shows_usage` says whether the usage
//! text should follow, as Solo5 prints it after a bad command line).

use std::fmt;
use std::io;
use std::path::PathBuf;

use solo5_abi::manifest::MftError;
use solo5_abi::note::NoteError;

/// A `Result` whose error is a [`TenderError`].
pub type Result<T> = std::result::Result<T, TenderError>;

/// Everything that makes a tender refuse to run or stop.
#[derive(Debug)]
#[non_exhaustive]
pub enum TenderError {
    // ---- Command line ----------------------------------------------------
    /// No KERNEL operand on the command line.
    MissingKernel,
    /// An option no module handles (Solo5: "Invalid option").
    InvalidOption(String),
    /// `--mem=` is not a positive decimal number of MiB.
    MalformedMem(String),
    /// `--mem=` is outside what this tender supports.
    MemOutOfRange {
        /// The requested size in MiB.
        mib: u64,
        /// The least size in MiB.
        min_mib: u64,
        /// The largest size in MiB.
        max_mib: u64,
    },
    /// A device option whose NAME is not 1 to 67 letters and digits, or
    /// that lacks `=VALUE`.
    MalformedDeviceOption(String),
    /// A device named on the command line that the manifest does not
    /// declare with that type (Solo5: "Resource not declared in manifest").
    NotDeclared {
        /// The device name.
        name: String,
        /// The type the option asks for (`NET_BASIC`, `BLOCK_BASIC`).
        kind: &'static str,
    },
    /// The same device given twice.
    DuplicateDevice {
        /// The option as given the second time.
        option: String,
    },
    /// `--net-mac:` with a value that is not `xx:xx:xx:xx:xx:xx`.
    MalformedMac(String),
    /// A MAC address that is multicast (or all zero).
    BadMac(String),
    /// `--block-sector-size:` that is not a power of 2 in [512, 32768].
    BadSectorSize(String),
    /// The guest's command line does not fit in its buffer.
    CmdlineTooLong {
        /// Its length in bytes, without the NUL.
        len: usize,
    },

    // ---- The kernel file -------------------------------------------------
    /// The unikernel file could not be opened.
    OpenKernel {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Reading a range of the unikernel file failed (an I/O error, or the
    /// file shrank after it was opened).
    ReadKernel(io::Error),
    /// Any ELF, note or load problem of a given unikernel file.
    Kernel {
        /// The file.
        path: PathBuf,
        /// The problem.
        source: Box<TenderError>,
    },

    // ---- ELF header (SOLO5-ABI.md 2.7) -----------------------------------
    /// Shorter than an ELF header.
    ElfTruncated {
        /// The file's size.
        size: usize,
    },
    /// No `\x7fELF` magic.
    ElfNotElf,
    /// `EI_CLASS` is not ELFCLASS64.
    ElfClass(u8),
    /// `EI_DATA` is not ELFDATA2LSB.
    ElfData(u8),
    /// `EI_VERSION` or `e_version` is not EV_CURRENT.
    ElfVersion(u32),
    /// `e_type` is not ET_EXEC.
    ElfType(u16),
    /// `e_machine` is not EM_X86_64.
    ElfMachine(u16),
    /// `e_ehsize` is not 64.
    ElfHeaderSize(u16),
    /// `e_phentsize` is not 56.
    ElfPhentSize(u16),
    /// `e_phnum` is 0.
    ElfNoProgramHeaders,
    /// The program header table is not inside the file.
    ElfProgramHeadersOutOfFile {
        /// `e_phoff`.
        phoff: u64,
        /// `e_phnum`.
        phnum: u16,
    },
    /// `e_entry` is not in `[0x100000, mem_size)`.
    ElfEntry {
        /// `e_entry`.
        entry: u64,
        /// The guest memory size.
        mem_size: u64,
    },

    // ---- PT_LOAD segments (SOLO5-ABI.md 2.7) -----------------------------
    /// `p_vaddr` below 0x100000.
    SegmentBelowMinBase {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
    },
    /// `p_vaddr` lower than the previous segment's.
    SegmentNotAscending {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
    },
    /// `p_align` zero or not a power of 2.
    SegmentAlign {
        /// Program header index.
        index: usize,
        /// `p_align`.
        align: u64,
    },
    /// The aligned start is below the previous segment's end.
    SegmentOverlap {
        /// Program header index.
        index: usize,
        /// The aligned start.
        start: u64,
        /// The previous segment's aligned end.
        previous_end: u64,
    },
    /// The segment does not fit in guest memory.
    SegmentBeyondMemory {
        /// Program header index.
        index: usize,
        /// The end that does not fit (or overflowed).
        end: Option<u64>,
        /// The guest memory size.
        mem_size: u64,
    },
    /// `p_memsz < p_filesz`.
    SegmentMemSize {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// The aligned start or end is not 4 KiB aligned.
    SegmentMisaligned {
        /// Program header index.
        index: usize,
        /// The aligned start.
        start: u64,
        /// The aligned end.
        end: u64,
    },
    /// Writable and executable.
    SegmentWriteExec {
        /// Program header index.
        index: usize,
    },
    /// `p_offset + p_filesz` is not inside the file.
    SegmentBeyondFile {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
    },
    /// A planned segment does not fit the memory slice given to `load`.
    LoadOutOfBounds {
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        memsz: u64,
    },

    // ---- Notes and manifest (SOLO5-ABI.md 2.7, 3) ------------------------
    /// A PT_NOTE segment that is not inside the file.
    NoteBeyondFile {
        /// Program header index.
        index: usize,
    },
    /// A PT_NOTE segment holding a malformed note.
    BadNote {
        /// Program header index.
        index: usize,
        /// The problem.
        source: NoteError,
    },
    /// No ABI note.
    NoAbiNote,
    /// An ABI note too short for target and version.
    AbiNoteTooSmall(usize),
    /// The ABI note is for another target.
    WrongTarget {
        /// The tender's target.
        expected: &'static str,
        /// The note's `abi_target`.
        found: u32,
    },
    /// The ABI note asks for another version.
    UnsupportedAbiVersion(u32),
    /// No manifest note.
    NoManifest,
    /// The manifest fails `mft_validate`.
    InvalidManifest(MftError),

    // ---- Devices ---------------------------------------------------------
    /// A tap interface could not be attached.
    TapAttach {
        /// The interface name.
        iface: String,
        /// Why.
        source: io::Error,
    },
    /// The tap interface exists but is not UP.
    TapNotUp {
        /// The interface name.
        iface: String,
    },
    /// The block device's file could not be opened.
    BlockOpen {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The block device's size could not be found.
    BlockCapacity {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The block size is not a power of 2 at least 512 (and at most 32768).
    BlockSize {
        /// The file.
        path: PathBuf,
        /// The block size.
        block_size: u64,
    },
    /// The capacity is not a multiple of the block size.
    BlockNotAligned {
        /// The file.
        path: PathBuf,
        /// The block size.
        block_size: u64,
    },
    /// The capacity is smaller than one block.
    BlockTooSmall {
        /// The file.
        path: PathBuf,
        /// The block size.
        block_size: u64,
    },
    /// A block read or write failed or was short.
    BlockIo {
        /// "read" or "write".
        op: &'static str,
        /// The byte offset.
        offset: u64,
        /// The length.
        len: usize,
        /// Why.
        source: io::Error,
    },
    /// Devices declared in the manifest but not given on the command line:
    /// (name, type name).
    NotAttached(Vec<(String, &'static str)>),
    /// The manifest given to `attach` is invalid.
    AttachManifest(MftError),

    // ---- Running (spt and hvt) -------------------------------------------
    /// The host refuses to run with `READ_IMPLIES_EXEC`.
    ReadImpliesExec,
    /// Guest memory could not be mapped.
    GuestMemory {
        /// The size asked for.
        mem_size: u64,
        /// Why.
        source: io::Error,
    },
    /// Guest memory's address range is already used in this process.
    GuestMemoryTaken {
        /// The address asked for.
        addr: u64,
        /// The size asked for.
        len: u64,
        /// What the kernel answered.
        source: io::Error,
    },
    /// A host system call failed while preparing the guest.
    Host {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The seccomp filter could not be built or installed.
    Seccomp(String),
}

impl TenderError {
    /// Wraps an ELF, note or load error with the kernel file's name.
    pub fn in_kernel(self, path: impl Into<PathBuf>) -> TenderError {
        TenderError::Kernel {
            path: path.into(),
            source: Box::new(self),
        }
    }

    /// Whether the usage text should follow this error (a bad command line).
    pub fn shows_usage(&self) -> bool {
        matches!(
            self,
            TenderError::MissingKernel | TenderError::InvalidOption(_)
        )
    }
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

impl fmt::Display for TenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TenderError as E;
        const INVALID: &str = "Invalid or unsupported executable";
        match self {
            E::MissingKernel => f.write_str("Missing KERNEL operand"),
            E::InvalidOption(o) => write!(f, "Invalid option: `{o}'"),
            E::MalformedMem(o) => write!(
                f,
                "Malformed argument to --mem: `{o}' (expected --mem=N, N in MiB)"
            ),
            E::MemOutOfRange {
                mib,
                min_mib,
                max_mib,
            } => write!(
                f,
                "Guest memory size {mib} MiB is out of range (--mem must be {min_mib} to {max_mib})"
            ),
            E::MalformedDeviceOption(o) => write!(
                f,
                "Malformed device option `{o}': NAME must be 1 to 67 letters or digits, followed by =VALUE"
            ),
            E::NotDeclared { name, kind } => write!(
                f,
                "Resource not declared in manifest: '{name}' (no device of type {kind} with that name)"
            ),
            E::DuplicateDevice { option } => {
                write!(f, "Device given twice on the command line: `{option}'")
            }
            E::MalformedMac(o) => write!(
                f,
                "Malformed MAC address `{o}' (expected xx:xx:xx:xx:xx:xx)"
            ),
            E::BadMac(o) => write!(f, "MAC address {o} is multicast or zero"),
            E::BadSectorSize(o) => write!(
                f,
                "Block size must be a power of 2 greater than or equal to 512 (and at most 32768): `{o}'"
            ),
            E::CmdlineTooLong { len } => write!(
                f,
                "Guest command line too long ({len} characters, max={} characters)",
                solo5_abi::CMDLINE_SIZE - 1
            ),
            E::OpenKernel { path, source } => {
                write!(f, "{}: Could not open: {source}", path.display())
            }
            E::ReadKernel(source) => write!(f, "Could not read: {source}"),
            E::Kernel { path, source } => write!(f, "{}: {source}", path.display()),
            E::ElfTruncated { size } => {
                write!(f, "{INVALID}: {size} bytes is too small for an ELF header")
            }
            E::ElfNotElf => write!(f, "{INVALID}: not an ELF file"),
            E::ElfClass(c) => write!(f, "{INVALID}: EI_CLASS {c} is not ELFCLASS64"),
            E::ElfData(d) => write!(f, "{INVALID}: EI_DATA {d} is not ELFDATA2LSB"),
            E::ElfVersion(v) => write!(f, "{INVALID}: ELF version {v} is not EV_CURRENT"),
            E::ElfType(t) => write!(f, "{INVALID}: e_type {t} is not ET_EXEC"),
            E::ElfMachine(m) => write!(f, "{INVALID}: e_machine {m} is not EM_X86_64"),
            E::ElfHeaderSize(s) => write!(f, "{INVALID}: e_ehsize {s} is not 64"),
            E::ElfPhentSize(s) => write!(f, "{INVALID}: e_phentsize {s} is not 56"),
            E::ElfNoProgramHeaders => write!(f, "{INVALID}: no program headers"),
            E::ElfProgramHeadersOutOfFile { phoff, phnum } => write!(
                f,
                "{INVALID}: {phnum} program headers at offset {} are not inside the file",
                hex(*phoff)
            ),
            E::ElfEntry { entry, mem_size } => write!(
                f,
                "{INVALID}: entry point {} is outside [0x100000, {})",
                hex(*entry),
                hex(*mem_size)
            ),
            E::SegmentBelowMinBase { index, vaddr } => write!(
                f,
                "{INVALID}: segment {index} at {} is below 0x100000",
                hex(*vaddr)
            ),
            E::SegmentNotAscending { index, vaddr } => write!(
                f,
                "{INVALID}: segment {index} at {} is not in ascending order",
                hex(*vaddr)
            ),
            E::SegmentAlign { index, align } => write!(
                f,
                "{INVALID}: segment {index} alignment {} is not a non-zero power of 2",
                hex(*align)
            ),
            E::SegmentOverlap {
                index,
                start,
                previous_end,
            } => write!(
                f,
                "{INVALID}: segment {index} starting at {} overlaps the previous one ending at {}",
                hex(*start),
                hex(*previous_end)
            ),
            E::SegmentBeyondMemory {
                index,
                end,
                mem_size,
            } => match end {
                Some(end) => write!(
                    f,
                    "{INVALID}: segment {index} ends at {}, beyond guest memory ({})",
                    hex(*end),
                    hex(*mem_size)
                ),
                None => write!(f, "{INVALID}: segment {index}: address overflow"),
            },
            E::SegmentMemSize {
                index,
                filesz,
                memsz,
            } => write!(
                f,
                "{INVALID}: segment {index} memory size {} is smaller than its file size {}",
                hex(*memsz),
                hex(*filesz)
            ),
            E::SegmentMisaligned { index, start, end } => write!(
                f,
                "{INVALID}: segment {index} range [{}, {}) is not 4 KiB aligned",
                hex(*start),
                hex(*end)
            ),
            E::SegmentWriteExec { index } => write!(
                f,
                "{INVALID}: segment {index} is both writable and executable"
            ),
            E::SegmentBeyondFile {
                index,
                offset,
                filesz,
            } => write!(
                f,
                "{INVALID}: segment {index} ({} bytes at offset {}) is not inside the file",
                hex(*filesz),
                hex(*offset)
            ),
            E::LoadOutOfBounds { vaddr, memsz } => write!(
                f,
                "segment at {} of {} bytes does not fit guest memory",
                hex(*vaddr),
                hex(*memsz)
            ),
            E::NoteBeyondFile { index } => write!(
                f,
                "{INVALID}: PT_NOTE segment {index} is not inside the file"
            ),
            E::BadNote { index, source } => {
                write!(f, "{INVALID}: PT_NOTE segment {index}: {source}")
            }
            E::NoAbiNote => f.write_str("No Solo5 ABI information found in executable"),
            E::AbiNoteTooSmall(n) => write!(
                f,
                "No Solo5 ABI information found in executable (ABI note of {n} bytes)"
            ),
            E::WrongTarget { expected, found } => {
                let name = solo5_abi::note::AbiTarget::of_code(*found)
                    .map(|t| t.name())
                    .unwrap_or("unknown");
                write!(
                    f,
                    "Executable is not for the solo5-{expected} target (it is for {name}, ABI target {found})"
                )
            }
            E::UnsupportedAbiVersion(v) => {
                write!(f, "Executable requests unsupported ABI version {v}")
            }
            E::NoManifest => f.write_str("No Solo5 manifest found in executable"),
            E::InvalidManifest(e) => write!(f, "Solo5 manifest is invalid: {e}"),
            E::TapAttach { iface, source } => {
                write!(f, "Could not attach interface: {iface}: {source}")
            }
            E::TapNotUp { iface } => write!(
                f,
                "Could not attach interface: {iface}: the interface is not UP"
            ),
            E::BlockOpen { path, source } => write!(
                f,
                "Could not open block device: {}: {source}",
                path.display()
            ),
            E::BlockCapacity { path, source } => write!(
                f,
                "{}: Could not determine capacity: {source}",
                path.display()
            ),
            E::BlockSize { path, block_size } => write!(
                f,
                "{}: Block size {block_size} is not a power of 2 in [512, 32768]",
                path.display()
            ),
            E::BlockNotAligned { path, block_size } => write!(
                f,
                "{}: Backing storage size must be block aligned ({block_size} bytes)",
                path.display()
            ),
            E::BlockTooSmall { path, block_size } => write!(
                f,
                "{}: Backing storage must be at least 1 block ({block_size} bytes) in size",
                path.display()
            ),
            E::BlockIo {
                op,
                offset,
                len,
                source,
            } => write!(
                f,
                "Block {op} of {len} bytes at offset {offset} failed: {source}"
            ),
            E::NotAttached(devices) => {
                for (name, kind) in devices {
                    writeln!(
                        f,
                        "Device '{name}' of type {kind} declared but not attached."
                    )?;
                }
                f.write_str("All declared devices must be attached. See --help for syntax.")
            }
            E::AttachManifest(e) => write!(f, "Solo5 manifest is invalid: {e}"),
            E::ReadImpliesExec => {
                f.write_str("Cowardly refusing to run with a sys_personality of READ_IMPLIES_EXEC")
            }
            E::GuestMemory { mem_size, source } => write!(
                f,
                "Error allocating guest memory ({} bytes): {source}",
                hex(*mem_size)
            ),
            E::GuestMemoryTaken { addr, len, source } => write!(
                f,
                "Error allocating guest memory: [{}, {}) is already in use in this process ({source})",
                hex(*addr),
                hex(addr.saturating_add(*len))
            ),
            E::Host { what, source } => write!(f, "{what} failed: {source}"),
            E::Seccomp(e) => write!(f, "configuring seccomp failed: {e}"),
        }
    }
}

impl std::error::Error for TenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TenderError::OpenKernel { source, .. }
            | TenderError::ReadKernel(source)
            | TenderError::TapAttach { source, .. }
            | TenderError::BlockOpen { source, .. }
            | TenderError::BlockCapacity { source, .. }
            | TenderError::BlockIo { source, .. }
            | TenderError::GuestMemory { source, .. }
            | TenderError::GuestMemoryTaken { source, .. }
            | TenderError::Host { source, .. } => Some(source),
            TenderError::Kernel { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_solo5() {
        let e = TenderError::NotAttached(vec![("service0".into(), "NET_BASIC")]);
        assert_eq!(
            e.to_string(),
            "Device 'service0' of type NET_BASIC declared but not attached.\n\
             All declared devices must be attached. See --help for syntax."
        );
        let e = TenderError::NoAbiNote.in_kernel("k.spt");
        assert_eq!(
            e.to_string(),
            "k.spt: No Solo5 ABI information found in executable"
        );
        assert!(TenderError::InvalidOption("--x".into()).shows_usage());
        assert!(!TenderError::NoManifest.shows_usage());
    }
}
