//! The Solo5 ABI (Solo5 0.12 on x86_64: hvt ABI 2, spt ABI 2, manifest
//! version 1), shared by the mirage guests and both tenders.
//!
//! Everything here is data: constants, `#[repr(C)]` layouts with their
//! sizes and field offsets checked at compile time, the ELF notes a
//! unikernel carries, and the manifest with its validation rules. The
//! tenders read guest memory through the byte offsets (never through raw
//! pointers); the guests use the `#[repr(C)]` structs.
//!
//! Reference: `shared/design/SOLO5-ABI.md` of this project, which follows
//! Solo5's `include/solo5.h`, `include/hvt_abi.h`, `include/mft_abi.h` and
//! `include/elf_abi.h`.
#![no_std]
#![deny(unsafe_code)]

pub mod hvt;
pub mod manifest;
pub mod note;
pub mod spt;

/// `solo5_result_t`: success.
pub const SOLO5_R_OK: i32 = 0;
/// `solo5_result_t`: not possible now, retry later.
pub const SOLO5_R_AGAIN: i32 = 1;
/// `solo5_result_t`: invalid argument.
pub const SOLO5_R_EINVAL: i32 = 2;
/// `solo5_result_t`: unspecified error.
pub const SOLO5_R_EUNSPEC: i32 = 3;

/// `SOLO5_EXIT_SUCCESS`.
pub const SOLO5_EXIT_SUCCESS: i32 = 0;
/// `SOLO5_EXIT_FAILURE`.
pub const SOLO5_EXIT_FAILURE: i32 = 1;
/// `SOLO5_EXIT_ABORT`: abort, assertion, panic, stack-protector failure.
pub const SOLO5_EXIT_ABORT: i32 = 255;

/// Ethernet address length.
pub const SOLO5_NET_ALEN: usize = 6;
/// Ethernet header length (the MTU excludes it).
pub const SOLO5_NET_HLEN: usize = 14;

/// The lowest guest address an ELF segment may load at (also the text start
/// of every linker script).
pub const GUEST_MIN_BASE: u64 = 0x10_0000;

/// The command line buffer's size, NUL included.
pub const CMDLINE_SIZE: usize = 8192;

/// The least memory the bindings accept above the end of the image
/// (`heap_start + 0x80000 > mem_size` is "Not enough memory").
pub const MIN_FREE_MEMORY: u64 = 0x8_0000;

/// Page size of every layout here.
pub const PAGE_SIZE: u64 = 4096;

/// `struct solo5_start_info`: what `solo5_app_main` receives.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct StartInfo {
    /// Command line (NUL-terminated), `--solo5:` tokens removed.
    pub cmdline: *const u8,
    /// Start of the heap (page aligned, above the image).
    pub heap_start: usize,
    /// Size of the heap; the initial stack grows down from its end.
    pub heap_size: usize,
}
const _: () = assert!(core::mem::size_of::<StartInfo>() == 24);

/// `struct solo5_net_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct NetInfo {
    /// The interface's MAC address.
    pub mac_address: [u8; SOLO5_NET_ALEN],
    /// The MTU, Ethernet header excluded.
    pub mtu: usize,
}
const _: () = assert!(core::mem::size_of::<NetInfo>() == 16);

/// `struct solo5_block_info`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockInfo {
    /// Capacity in bytes.
    pub capacity: u64,
    /// Block size in bytes; every access is exactly one block.
    pub block_size: u64,
}
const _: () = assert!(core::mem::size_of::<BlockInfo>() == 16);

/// The Solo5 log levels set by the leading `--solo5:` command-line tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `--solo5:quiet` and `--solo5:error`.
    Error,
    /// `--solo5:warn`.
    Warn,
    /// `--solo5:info` (the default).
    Info,
    /// `--solo5:debug`.
    Debug,
}

/// Splits the leading `--solo5:{quiet,error,warn,info,debug}` tokens off a
/// command line as the Solo5 bindings do: returns the log level they set
/// (the last one wins, `Info` without any) and the rest of the line.
pub fn strip_solo5_options(cmdline: &str) -> (LogLevel, &str) {
    let (level, rest) = strip_solo5_options_bytes(cmdline.as_bytes());
    // The tokens are ASCII, so what is left starts at a character boundary.
    (level, &cmdline[cmdline.len() - rest.len()..])
}

/// [`strip_solo5_options`] of a command line given as bytes, which need
/// not be UTF-8 (a tender passes its arguments' bytes as they are).
pub fn strip_solo5_options_bytes(cmdline: &[u8]) -> (LogLevel, &[u8]) {
    fn skip_spaces(b: &[u8]) -> &[u8] {
        let n = b.iter().take_while(|&&c| c == b' ').count();
        &b[n..]
    }
    let mut level = LogLevel::Info;
    let mut rest = skip_spaces(cmdline);
    loop {
        let (token, after) = match rest.iter().position(|&c| c == b' ') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, &rest[rest.len()..]),
        };
        let chosen = match token {
            b"--solo5:quiet" | b"--solo5:error" => LogLevel::Error,
            b"--solo5:warn" => LogLevel::Warn,
            b"--solo5:info" => LogLevel::Info,
            b"--solo5:debug" => LogLevel::Debug,
            _ => return (level, rest),
        };
        level = chosen;
        rest = skip_spaces(after);
    }
}

/// Reads a little-endian `u32` at `offset` of `bytes`, if in range.
pub fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian `u64` at `offset` of `bytes`, if in range.
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let b = bytes.get(offset..offset.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Writes a little-endian `u32` at `offset` of `bytes`; false if out of range.
pub fn write_u32(bytes: &mut [u8], offset: usize, value: u32) -> bool {
    match offset
        .checked_add(4)
        .and_then(|end| bytes.get_mut(offset..end))
    {
        Some(b) => {
            b.copy_from_slice(&value.to_le_bytes());
            true
        }
        None => false,
    }
}

/// Writes a little-endian `u64` at `offset` of `bytes`; false if out of range.
pub fn write_u64(bytes: &mut [u8], offset: usize, value: u64) -> bool {
    match offset
        .checked_add(8)
        .and_then(|end| bytes.get_mut(offset..end))
    {
        Some(b) => {
            b.copy_from_slice(&value.to_le_bytes());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solo5_options_are_stripped_from_the_front_only() {
        assert_eq!(strip_solo5_options(""), (LogLevel::Info, ""));
        assert_eq!(
            strip_solo5_options("--solo5:quiet --count=1"),
            (LogLevel::Error, "--count=1")
        );
        assert_eq!(
            strip_solo5_options("--solo5:debug --solo5:warn  a b"),
            (LogLevel::Warn, "a b")
        );
        assert_eq!(
            strip_solo5_options("a --solo5:quiet"),
            (LogLevel::Info, "a --solo5:quiet")
        );
        assert_eq!(
            strip_solo5_options("--solo5:loud"),
            (LogLevel::Info, "--solo5:loud")
        );
        assert_eq!(
            strip_solo5_options("--solo5:error --solo5:info é"),
            (LogLevel::Info, "é")
        );
        // Bytes that are not UTF-8 stay as they are, even glued to a token.
        assert_eq!(
            strip_solo5_options_bytes(b"--solo5:warn --a=\xff b"),
            (LogLevel::Warn, &b"--a=\xff b"[..])
        );
        assert_eq!(
            strip_solo5_options_bytes(b"--solo5:quiet\xff"),
            (LogLevel::Info, &b"--solo5:quiet\xff"[..])
        );
    }

    #[test]
    fn byte_access_is_bounds_checked() {
        let mut b = [0u8; 12];
        assert!(write_u64(&mut b, 4, 0x0102_0304_0506_0708));
        assert_eq!(read_u64(&b, 4), Some(0x0102_0304_0506_0708));
        assert_eq!(read_u32(&b, 4), Some(0x0506_0708));
        assert!(!write_u64(&mut b, 5, 1));
        assert_eq!(read_u64(&b, usize::MAX), None);
        assert_eq!(read_u32(&b, 9), None);
    }
}
