//! The eight hypercalls with Solo5's tender semantics (section 2.2). Every
//! guest address is checked against guest memory before use: the argument
//! struct at the hypercall's GPA, then any embedded pointer with its length
//! (overflow-checked); any failure ends the guest with an [`HvtError`].

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use solo5_abi::hvt::{HALT_COOKIE_MAX, args, hypercall as nr};
use solo5_abi::{SOLO5_R_AGAIN, SOLO5_R_EINVAL, SOLO5_R_EUNSPEC, SOLO5_R_OK};

use super::error::{HvtError, Result};
use super::memory::{AccessError, GuestMemory};
use super::poll::Poller;
use crate::devices::{Attached, BlockDevice};

/// What the run loop does after a hypercall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Resume the guest.
    Continue,
    /// The guest halted with this exit status.
    Halt(i32),
}

/// The name of hypercall `nr`, for messages.
pub fn name(hypercall: u16) -> &'static str {
    match hypercall {
        nr::WALLTIME => "WALLTIME",
        nr::PUTS => "PUTS",
        nr::POLL => "POLL",
        nr::BLOCK_WRITE => "BLOCK_WRITE",
        nr::BLOCK_READ => "BLOCK_READ",
        nr::NET_WRITE => "NET_WRITE",
        nr::NET_READ => "NET_READ",
        nr::HALT => "HALT",
        _ => "invalid",
    }
}

/// One hypercall's argument struct, checked in guest memory.
struct Args {
    name: &'static str,
    gpa: u64,
    size: u64,
}

fn access_error(
    e: AccessError,
    mem: &GuestMemory,
    name: &'static str,
    what: &'static str,
    gpa: u64,
    len: u64,
) -> HvtError {
    match e {
        AccessError::OutOfRange => HvtError::InvalidGuestAccess {
            hypercall: name,
            what,
            gpa,
            len,
            mem_size: mem.size(),
        },
        AccessError::ReadOnly => HvtError::ReadOnlyGuestBuffer {
            hypercall: name,
            what,
            gpa,
            len,
        },
    }
}

impl Args {
    fn check(mem: &GuestMemory, hypercall: u16, gpa: u64, size: usize) -> Result<Self> {
        let name = name(hypercall);
        let size = size as u64;
        mem.check(gpa, size)
            .map_err(|e| access_error(e, mem, name, "argument struct", gpa, size))?;
        Ok(Args { name, gpa, size })
    }

    fn err(&self, e: AccessError, mem: &GuestMemory) -> HvtError {
        access_error(e, mem, self.name, "argument struct", self.gpa, self.size)
    }

    fn u64(&self, mem: &GuestMemory, field: usize) -> Result<u64> {
        mem.read_u64(self.gpa + field as u64)
            .map_err(|e| self.err(e, mem))
    }

    fn i32(&self, mem: &GuestMemory, field: usize) -> Result<i32> {
        mem.read_i32(self.gpa + field as u64)
            .map_err(|e| self.err(e, mem))
    }

    fn put_u64(&self, mem: &mut GuestMemory, field: usize, value: u64) -> Result<()> {
        mem.write_u64(self.gpa + field as u64, value)
            .map_err(|e| self.err(e, mem))
    }

    fn put_i32(&self, mem: &mut GuestMemory, field: usize, value: i32) -> Result<()> {
        mem.write_i32(self.gpa + field as u64, value)
            .map_err(|e| self.err(e, mem))
    }

    /// Checks an embedded buffer for reading.
    fn data<'m>(&self, mem: &'m GuestMemory, gpa: u64, len: u64) -> Result<&'m [u8]> {
        mem.slice(gpa, len)
            .map_err(|e| access_error(e, mem, self.name, "data", gpa, len))
    }

    /// Checks an embedded buffer for writing.
    fn data_mut<'m>(&self, mem: &'m mut GuestMemory, gpa: u64, len: u64) -> Result<&'m mut [u8]> {
        if let Err(e) = mem.check_writable(gpa, len) {
            return Err(access_error(e, mem, self.name, "data", gpa, len));
        }
        let mem_size = mem.size();
        mem.slice_mut(gpa, len)
            .map_err(|_| HvtError::InvalidGuestAccess {
                hypercall: self.name,
                what: "data",
                gpa,
                len,
                mem_size,
            })
    }
}

/// The hypercall handlers with the devices and POLL state they use.
#[derive(Debug)]
pub struct Hypercalls<'a> {
    devices: &'a Attached,
    poller: Poller,
    console: RawFd,
}

impl<'a> Hypercalls<'a> {
    /// Handlers over the attached devices (console: stdout). Creates the
    /// POLL timerfd and epoll set, so call it before the seccomp filter.
    pub fn new(devices: &'a Attached) -> Result<Self> {
        let poller = Poller::new(
            devices
                .nets
                .iter()
                .map(|(index, tap)| (*index, tap.fd.as_raw_fd())),
        )?;
        Ok(Hypercalls {
            devices,
            poller,
            console: libc::STDOUT_FILENO,
        })
    }

    /// Sends PUTS output to `fd` instead of stdout (tests). The fd must
    /// stay open while the handlers are used.
    pub fn set_console(&mut self, fd: RawFd) {
        self.console = fd;
    }

    fn block(&self, handle: u64) -> Option<&'a BlockDevice> {
        self.devices
            .blocks
            .iter()
            .find(|(index, _)| *index as u64 == handle)
            .map(|(_, b)| b)
    }

    fn tap(&self, handle: u64) -> Option<(RawFd, u16)> {
        self.devices
            .nets
            .iter()
            .find(|(index, _)| *index as u64 == handle)
            .map(|(_, t)| (t.fd.as_raw_fd(), t.mtu))
    }

    /// Handles hypercall `hypercall` (a port minus 0x500) whose argument
    /// struct the guest placed at `gpa`.
    pub fn handle(&self, mem: &mut GuestMemory, hypercall: u16, gpa: u64) -> Result<Outcome> {
        match hypercall {
            nr::WALLTIME => walltime(mem, gpa),
            nr::PUTS => self.puts(mem, gpa),
            nr::POLL => self.poll(mem, gpa),
            nr::BLOCK_WRITE => self.block_io(mem, hypercall, gpa),
            nr::BLOCK_READ => self.block_io(mem, hypercall, gpa),
            nr::NET_WRITE => self.net_write(mem, gpa),
            nr::NET_READ => self.net_read(mem, gpa),
            nr::HALT => halt(mem, gpa),
            other => Err(HvtError::InvalidHypercall(other)),
        }
    }

    /// PUTS: `write(1, data, len)`, best effort.
    fn puts(&self, mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
        let a = Args::check(mem, nr::PUTS, gpa, args::puts::SIZE)?;
        let data = a.u64(mem, args::puts::DATA)?;
        let len = a.u64(mem, args::puts::LEN)?;
        let mut buf = a.data(mem, data, len)?;
        while !buf.is_empty() {
            // SAFETY: `buf` is a valid, initialised slice of guest memory
            // for the duration of the call.
            let n = unsafe { libc::write(self.console, buf.as_ptr().cast(), buf.len()) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if n <= 0 {
                break;
            }
            buf = &buf[n as usize..];
        }
        Ok(Outcome::Continue)
    }

    /// POLL: wait up to `timeout_nsecs` for a tap; `ready_set` and `ret`.
    fn poll(&self, mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
        let a = Args::check(mem, nr::POLL, gpa, args::poll::SIZE)?;
        let timeout = a.u64(mem, args::poll::TIMEOUT_NSECS)?;
        let (ready_set, ready) = self.poller.wait(timeout)?;
        a.put_u64(mem, args::poll::READY_SET, ready_set)?;
        a.put_i32(mem, args::poll::RET, ready)?;
        Ok(Outcome::Continue)
    }

    /// BLOCK_WRITE and BLOCK_READ: EINVAL for an unknown handle, a length
    /// above `SSIZE_MAX`, a range beyond the capacity or an offset or length
    /// that is not a multiple of the block size; then one
    /// `pwrite`/`pread` of the whole range, whose failure is fatal.
    fn block_io(&self, mem: &mut GuestMemory, hypercall: u16, gpa: u64) -> Result<Outcome> {
        use args::block as f;
        let a = Args::check(mem, hypercall, gpa, f::SIZE)?;
        let handle = a.u64(mem, f::HANDLE)?;
        let offset = a.u64(mem, f::OFFSET)?;
        let data = a.u64(mem, f::DATA)?;
        let len = a.u64(mem, f::LEN)?;
        let Some(dev) = self.block(handle) else {
            a.put_i32(mem, f::RET, SOLO5_R_EINVAL)?;
            return Ok(Outcome::Continue);
        };
        // The device's own check, alignment included: an unaligned request
        // would otherwise pass here and make `read_at`/`write_at` fail, which
        // is fatal, instead of the EINVAL the API promises.
        if !dev.check_access(offset, len) {
            a.put_i32(mem, f::RET, SOLO5_R_EINVAL)?;
            return Ok(Outcome::Continue);
        }
        let io_error = |message: String| HvtError::BlockIo {
            hypercall: a.name,
            handle,
            message,
        };
        if hypercall == nr::BLOCK_WRITE {
            let buf = a.data(mem, data, len)?;
            dev.write_at(offset, buf)
                .map_err(|e| io_error(e.to_string()))?;
        } else {
            let buf = a.data_mut(mem, data, len)?;
            dev.read_at(offset, buf)
                .map_err(|e| io_error(e.to_string()))?;
        }
        a.put_i32(mem, f::RET, SOLO5_R_OK)?;
        Ok(Outcome::Continue)
    }

    /// NET_WRITE: one `write` of the frame to the tap. A frame longer than
    /// the MTU plus the Ethernet header is refused (EINVAL, as the guest's
    /// own check does); a tap that cannot take the frame now is AGAIN, and
    /// any other failure of the write (the interface set down: EIO) is
    /// told to the guest (EUNSPEC), which drops that frame and goes on: a
    /// host-side condition the guest may outlive never stops it.
    fn net_write(&self, mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
        use args::net as f;
        let a = Args::check(mem, nr::NET_WRITE, gpa, f::SIZE)?;
        let handle = a.u64(mem, f::HANDLE)?;
        let data = a.u64(mem, f::DATA)?;
        let len = a.u64(mem, f::LEN)?;
        let Some((fd, mtu)) = self.tap(handle) else {
            a.put_i32(mem, f::RET, SOLO5_R_EINVAL)?;
            return Ok(Outcome::Continue);
        };
        if len > u64::from(mtu) + solo5_abi::SOLO5_NET_HLEN as u64 {
            a.put_i32(mem, f::RET, SOLO5_R_EINVAL)?;
            return Ok(Outcome::Continue);
        }
        let buf = a.data(mem, data, len)?;
        // SAFETY: `buf` is a valid slice of guest memory for the call.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        let ret = if n as u64 == len {
            SOLO5_R_OK
        } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
            SOLO5_R_AGAIN
        } else {
            SOLO5_R_EUNSPEC
        };
        a.put_i32(mem, f::RET, ret)?;
        Ok(Outcome::Continue)
    }

    /// NET_READ: one `read` from the tap; AGAIN on EAGAIN or 0 bytes,
    /// EUNSPEC on any other failure.
    fn net_read(&self, mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
        use args::net as f;
        let a = Args::check(mem, nr::NET_READ, gpa, f::SIZE)?;
        let handle = a.u64(mem, f::HANDLE)?;
        let data = a.u64(mem, f::DATA)?;
        let len = a.u64(mem, f::LEN)?;
        let Some((fd, _)) = self.tap(handle) else {
            a.put_i32(mem, f::RET, SOLO5_R_EINVAL)?;
            return Ok(Outcome::Continue);
        };
        let buf = a.data_mut(mem, data, len)?;
        // SAFETY: `buf` is a valid, writable slice of guest memory for the
        // call (bounds and protection checked).
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            // (Any failure but EAGAIN is the guest's to handle, as for
            // NET_WRITE: its stack pauses reading and tries again.)
            let again = io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
            let ret = if again {
                SOLO5_R_AGAIN
            } else {
                SOLO5_R_EUNSPEC
            };
            a.put_i32(mem, f::RET, ret)?;
            return Ok(Outcome::Continue);
        }
        if n == 0 {
            a.put_i32(mem, f::RET, SOLO5_R_AGAIN)?;
            return Ok(Outcome::Continue);
        }
        a.put_u64(mem, f::LEN, n as u64)?;
        a.put_i32(mem, f::RET, SOLO5_R_OK)?;
        Ok(Outcome::Continue)
    }
}

/// WALLTIME: `clock_gettime(CLOCK_REALTIME)` in nanoseconds.
fn walltime(mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
    let a = Args::check(mem, nr::WALLTIME, gpa, args::walltime::SIZE)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for the call; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let nsecs = (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64);
    a.put_u64(mem, args::walltime::NSECS, nsecs)?;
    Ok(Outcome::Continue)
}

/// HALT: a non-zero cookie must span 512 bytes of guest memory; the exit
/// status becomes the tender's.
fn halt(mem: &mut GuestMemory, gpa: u64) -> Result<Outcome> {
    let a = Args::check(mem, nr::HALT, gpa, args::halt::SIZE)?;
    let cookie = a.u64(mem, args::halt::COOKIE)?;
    if cookie != 0 {
        mem.check(cookie, HALT_COOKIE_MAX)
            .map_err(|e| access_error(e, mem, a.name, "cookie", cookie, HALT_COOKIE_MAX))?;
    }
    let status = a.i32(mem, args::halt::EXIT_STATUS)?;
    Ok(Outcome::Halt(status))
}
