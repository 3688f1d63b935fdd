//! The Solo5 API (`include/solo5.h`) in Rust: console, clocks, yield, net,
//! block, exit and abort, over the selected transport.

use solo5_abi::manifest::DeviceKind;
use solo5_abi::{BlockInfo, LogLevel, NetInfo, SOLO5_R_AGAIN, SOLO5_R_OK};

use crate::boot::state;
use crate::transport;

/// A Solo5 call's failure (`solo5_result_t` other than OK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solo5Error {
    /// `SOLO5_R_AGAIN`: nothing now, try later.
    Again,
    /// `SOLO5_R_EINVAL`: invalid argument (unknown device, misaligned...).
    Invalid,
    /// `SOLO5_R_EUNSPEC`: anything else.
    Unspecified,
}

impl core::fmt::Display for Solo5Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Solo5Error::Again => "try again",
            Solo5Error::Invalid => "invalid argument",
            Solo5Error::Unspecified => "unspecified error",
        })
    }
}

fn result(code: i32) -> Result<(), Solo5Error> {
    match code {
        SOLO5_R_OK => Ok(()),
        SOLO5_R_AGAIN => Err(Solo5Error::Again),
        solo5_abi::SOLO5_R_EINVAL => Err(Solo5Error::Invalid),
        _ => Err(Solo5Error::Unspecified),
    }
}

/// A small stack buffer to format a line without the heap (boot and
/// panic messages); overlong text is cut.
pub(crate) struct LineBuf {
    bytes: [u8; 512],
    len: usize,
}

impl LineBuf {
    pub(crate) fn new() -> Self {
        LineBuf {
            bytes: [0; 512],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Write for LineBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes to the console (best effort, never fails).
pub fn console_write(data: &[u8]) {
    transport::console_write(data)
}

/// Monotonic time in nanoseconds.
pub fn clock_monotonic() -> u64 {
    transport::clock_monotonic()
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn clock_wall() -> u64 {
    transport::clock_wall()
}

/// Blocks until the monotonic clock reaches `deadline` or a network device
/// is readable; returns the set of ready handles (bit `h` for handle `h`).
pub fn yield_until(deadline: u64) -> u64 {
    transport::yield_until(deadline)
}

/// A 64-bit hardware random number (RDRAND), if the CPU has one.
pub fn hardware_random() -> Option<u64> {
    transport::rdrand()
}

/// The time stamp counter, a source of timing jitter for seeding.
pub fn cycle_counter() -> u64 {
    transport::rdtsc()
}

/// An acquired network device.
#[derive(Debug, Clone, Copy)]
pub struct NetDevice {
    /// The handle (the manifest index; bit of the yield ready set).
    pub handle: u64,
    fd: i32,
    /// MAC address and MTU.
    pub info: NetInfo,
}

/// Acquires the network device `name` (declared in the manifest).
pub fn net_acquire(name: &str) -> Result<NetDevice, Solo5Error> {
    let entry = state()
        .manifest
        .find(name, DeviceKind::Net)
        .ok_or(Solo5Error::Invalid)?;
    if !entry.attached() {
        abort_with("Solo5: ABORT: net device not attached\n");
    }
    Ok(NetDevice {
        handle: entry.index as u64,
        fd: entry.hostfd(),
        info: NetInfo {
            mac_address: entry.net_mac(),
            mtu: usize::from(entry.net_mtu()),
        },
    })
}

impl NetDevice {
    /// Sends one frame (Ethernet header included, at most MTU + 14 bytes).
    pub fn write(&self, frame: &[u8]) -> Result<(), Solo5Error> {
        if frame.len() > self.info.mtu + solo5_abi::SOLO5_NET_HLEN {
            return Err(Solo5Error::Invalid);
        }
        result(transport::net_write(self.handle, self.fd, frame))
    }

    /// Receives one frame into `buf` (at least MTU + 14 bytes); `Again`
    /// when none is waiting.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Solo5Error> {
        if buf.len() < self.info.mtu + solo5_abi::SOLO5_NET_HLEN {
            return Err(Solo5Error::Invalid);
        }
        let (code, len) = transport::net_read(self.handle, self.fd, buf);
        result(code).map(|()| len)
    }
}

/// An acquired block device.
#[derive(Debug, Clone, Copy)]
pub struct BlockDevice {
    /// The handle (the manifest index).
    pub handle: u64,
    fd: i32,
    /// Capacity and block size in bytes.
    pub info: BlockInfo,
}

/// Acquires the block device `name` (declared in the manifest).
pub fn block_acquire(name: &str) -> Result<BlockDevice, Solo5Error> {
    let entry = state()
        .manifest
        .find(name, DeviceKind::Block)
        .ok_or(Solo5Error::Invalid)?;
    if !entry.attached() {
        abort_with("Solo5: ABORT: block device not attached\n");
    }
    Ok(BlockDevice {
        handle: entry.index as u64,
        fd: entry.hostfd(),
        info: BlockInfo {
            capacity: entry.block_capacity(),
            block_size: u64::from(entry.block_size()),
        },
    })
}

impl BlockDevice {
    fn check(&self, offset: u64, len: usize) -> Result<(), Solo5Error> {
        let bs = self.info.block_size;
        let end = offset.checked_add(len as u64).ok_or(Solo5Error::Invalid)?;
        if bs == 0 || !offset.is_multiple_of(bs) || len as u64 != bs || end > self.info.capacity {
            return Err(Solo5Error::Invalid);
        }
        Ok(())
    }

    /// Writes one block at byte `offset` (a multiple of the block size).
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), Solo5Error> {
        self.check(offset, data.len())?;
        result(transport::block_write(self.handle, self.fd, offset, data))
    }

    /// Reads one block at byte `offset` (a multiple of the block size).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Solo5Error> {
        self.check(offset, buf.len())?;
        result(transport::block_read(self.handle, self.fd, offset, buf))
    }
}

/// Exits with `status` (`solo5_exit`).
pub fn exit(status: i32) -> ! {
    if crate::boot::log_level_or_info() >= LogLevel::Info {
        let mut line = LineBuf::new();
        let _ = core::fmt::write(
            &mut line,
            format_args!("Solo5: solo5_exit({status}) called\n"),
        );
        console_write(line.as_bytes());
    }
    transport::halt(status)
}

/// Aborts with status 255 (`solo5_abort`).
pub fn abort() -> ! {
    abort_with("Solo5: solo5_abort() called\n")
}

/// Prints `message` and halts with status 255.
pub(crate) fn abort_with(message: &str) -> ! {
    console_write(message.as_bytes());
    transport::halt(solo5_abi::SOLO5_EXIT_ABORT)
}
