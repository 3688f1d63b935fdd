//! What the tender hands the guest at 0x10000 (section 2.5): `struct
//! hvt_boot_info`, the filled-in manifest copy right after it, then the
//! 8192-byte command line buffer; and the host-side protection of the
//! loaded segments (section 2.7).

use solo5_abi::hvt::{BOOT_INFO_SIZE, boot_info as off, layout};
use solo5_abi::{CMDLINE_SIZE, GUEST_MIN_BASE};

use super::error::{HvtError, Result};
use super::memory::{GuestMemory, Protection};

/// Where the manifest copy goes: right after the boot info.
pub const MANIFEST_GPA: u64 = layout::BOOT_INFO_BASE + BOOT_INFO_SIZE as u64;

/// The guest addresses the boot info points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootLayout {
    /// The manifest copy.
    pub manifest: u64,
    /// The command line buffer (8192 bytes).
    pub cmdline: u64,
}

/// Writes the boot info, the manifest copy and the command line.
///
/// `manifest` is the tender's filled-in copy; `cmdline` the guest's
/// command line, NUL-terminated (at most 8192 bytes with the NUL; a longer
/// or unterminated one is cut and terminated). `host_features`,
/// `guest_features` and `net_ring` stay 0: no ring I/O, guests use the
/// network hypercalls. Must run before any range is made read-only.
pub fn write(
    memory: &mut GuestMemory,
    kernel_end: u64,
    cpu_cycle_freq: u64,
    manifest: &[u8],
    cmdline: &[u8],
) -> Result<BootLayout> {
    let too_large = || HvtError::BootInfoTooLarge {
        manifest: manifest.len(),
        cmdline: cmdline.len(),
    };
    let cmdline_gpa = MANIFEST_GPA
        .checked_add(manifest.len() as u64)
        .ok_or_else(too_large)?;
    let end = cmdline_gpa
        .checked_add(CMDLINE_SIZE as u64)
        .ok_or_else(too_large)?;
    if end > GUEST_MIN_BASE || cmdline.len() > CMDLINE_SIZE {
        return Err(too_large());
    }
    let mem_size = memory.size();
    let mem = memory.as_mut_slice();
    let base = layout::BOOT_INFO_BASE as usize;
    let info = &mut mem[base..base + BOOT_INFO_SIZE];
    info.fill(0);
    let fields = [
        (off::MEM_SIZE, mem_size),
        (off::KERNEL_END, kernel_end),
        (off::CPU_CYCLE_FREQ, cpu_cycle_freq),
        (off::CMDLINE, cmdline_gpa),
        (off::MFT, MANIFEST_GPA),
        (off::NET_RING, 0),
    ];
    for (at, value) in fields {
        info[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
    info[off::HOST_FEATURES..off::HOST_FEATURES + 4].fill(0);
    info[off::GUEST_FEATURES..off::GUEST_FEATURES + 4].fill(0);

    let m = MANIFEST_GPA as usize;
    mem[m..m + manifest.len()].copy_from_slice(manifest);
    let c = cmdline_gpa as usize;
    let buf = &mut mem[c..c + CMDLINE_SIZE];
    buf.fill(0);
    let n = cmdline
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(cmdline.len())
        .min(CMDLINE_SIZE - 1);
    buf[..n].copy_from_slice(&cmdline[..n]);
    Ok(BootLayout {
        manifest: MANIFEST_GPA,
        cmdline: cmdline_gpa,
    })
}

/// One loaded segment's page-aligned range and rights, as the ELF loader
/// planned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRights {
    /// Aligned start.
    pub start: u64,
    /// Aligned end.
    pub end: u64,
    /// PF_W.
    pub writable: bool,
}

/// `mprotect`s every loaded segment: writable ones `PROT_READ|PROT_WRITE`,
/// every other one (text included: PF_X is never host-executable)
/// `PROT_READ`. KVM maps the pages into the guest with the same rights, so
/// a guest write to its text or rodata stops the guest.
pub fn protect_segments(memory: &mut GuestMemory, segments: &[SegmentRights]) -> Result<()> {
    for s in segments {
        let len = s.end.checked_sub(s.start).ok_or(HvtError::Mprotect {
            gpa: s.start,
            len: 0,
            err: std::io::Error::from_raw_os_error(libc::EINVAL),
        })?;
        let prot = if s.writable {
            Protection::ReadWrite
        } else {
            Protection::ReadOnly
        };
        memory.protect(s.start, len, prot)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_info_manifest_and_cmdline_are_laid_out_per_2_5() {
        let mut m = GuestMemory::new(4 << 20).unwrap();
        let manifest = vec![0xabu8; 112];
        let l = write(&mut m, 0x10_8000, 2_000_000_000, &manifest, b"a b\0").unwrap();
        assert_eq!(l.manifest, 0x10038);
        assert_eq!(l.cmdline, 0x10038 + 112);
        assert_eq!(m.read_u64(0x10000).unwrap(), 4 << 20);
        assert_eq!(m.read_u64(0x10008).unwrap(), 0x10_8000);
        assert_eq!(m.read_u64(0x10010).unwrap(), 2_000_000_000);
        assert_eq!(m.read_u64(0x10018).unwrap(), 0x10038 + 112);
        assert_eq!(m.read_u64(0x10020).unwrap(), 0x10038);
        assert_eq!(m.read_u64(0x10028).unwrap(), 0);
        assert_eq!(m.read_u64(0x10030).unwrap(), 0);
        assert_eq!(m.slice(0x10038, 112).unwrap(), &manifest[..]);
        assert_eq!(m.slice(l.cmdline, 4).unwrap(), b"a b\0");
    }

    #[test]
    fn oversized_input_is_refused() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        let big = vec![1u8; 0x10_0000];
        assert!(matches!(
            write(&mut m, 0, 0, &big, b"\0"),
            Err(HvtError::BootInfoTooLarge { .. })
        ));
        let long = vec![b'x'; CMDLINE_SIZE + 1];
        assert!(write(&mut m, 0, 0, &[0; 112], &long).is_err());
        // An unterminated line of exactly 8192 bytes is cut to 8191 + NUL.
        let full = vec![b'y'; CMDLINE_SIZE];
        let l = write(&mut m, 0, 0, &[0; 112], &full).unwrap();
        let buf = m.slice(l.cmdline, CMDLINE_SIZE as u64).unwrap();
        assert_eq!(buf[CMDLINE_SIZE - 2], b'y');
        assert_eq!(buf[CMDLINE_SIZE - 1], 0);
    }

    #[test]
    fn segments_are_protected() {
        let mut m = GuestMemory::new(2 << 20).unwrap();
        protect_segments(
            &mut m,
            &[
                SegmentRights {
                    start: 0x10_0000,
                    end: 0x10_2000,
                    writable: false,
                },
                SegmentRights {
                    start: 0x10_2000,
                    end: 0x10_3000,
                    writable: true,
                },
            ],
        )
        .unwrap();
        assert!(m.write_u64(0x10_1000, 0).is_err());
        assert!(m.write_u64(0x10_2000, 0).is_ok());
    }
}
