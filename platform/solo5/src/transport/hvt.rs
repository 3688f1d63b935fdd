//! The hvt transport: hypercalls are `outl` of the argument struct's guest
//! address to port 0x500 + nr; the tender handles the VM exit and writes
//! the results back into the struct before the guest resumes.

use core::arch::asm;

use solo5_abi::hvt::{BootInfo, HYPERCALL_PIO_BASE, hypercall, structs};
use solo5_abi::note::AbiTarget;

use super::rdtsc;

pub(crate) const TARGET: AbiTarget = AbiTarget::Hvt;
pub(crate) const VERSION: u32 = solo5_abi::hvt::HVT_ABI_VERSION;

/// Issues hypercall `nr` with the argument struct `arg`.
fn hypercall<T>(nr: u16, arg: &mut T) {
    let address = arg as *mut T as usize;
    // Guest memory is at most 4 GiB and identity mapped, so the struct's
    // virtual address is its 32-bit guest physical address.
    debug_assert!(address <= u32::MAX as usize);
    // SAFETY: `out` to the hypercall port traps to the tender, which reads
    // and writes only the `size_of::<T>()` bytes at `address` (a live
    // exclusive borrow); the default memory clobber orders the struct's
    // accesses around the exit.
    unsafe {
        asm!("out dx, eax", in("dx") HYPERCALL_PIO_BASE + nr, in("eax") address as u32, options(nostack, preserves_flags));
    }
}

/// The boot info the tender passed.
pub(crate) struct Boot {
    pub(crate) mem_size: u64,
    pub(crate) cmdline: *const u8,
    pub(crate) mft: *const u8,
    pub(crate) cpu_cycle_freq: u64,
}

/// Reads the boot info at `arg`.
///
/// # Safety
/// `arg` is the pointer the tender passed in RDI: a `struct hvt_boot_info`.
pub(crate) unsafe fn read_boot(arg: *const u8) -> Boot {
    // SAFETY: per this function's contract.
    let bi = unsafe { &*(arg as *const BootInfo) };
    Boot {
        mem_size: bi.mem_size,
        cmdline: bi.cmdline as usize as *const u8,
        mft: bi.mft as usize as *const u8,
        cpu_cycle_freq: bi.cpu_cycle_freq,
    }
}

/// Sets the TLS base (IA32_FS_BASE).
pub(crate) fn set_tls_base(base: u64) {
    // SAFETY: the guest runs in ring 0; writing FS_BASE changes only where
    // %fs-relative accesses go, and nothing in the unikernel uses TLS.
    unsafe {
        asm!("wrmsr", in("ecx") 0xC000_0100u32, in("eax") base as u32, in("edx") (base >> 32) as u32, options(nostack, preserves_flags));
    }
}

/// The TSC clock's scale, fixed at boot.
static TSC: spin::Once<(u64, u32, u32, u64)> = spin::Once::new();

fn mul64_32(a: u64, mult: u32, shift: u32) -> u64 {
    ((u128::from(a) * u128::from(mult)) >> shift) as u64
}

/// Starts the monotonic clock from the TSC frequency, as Solo5's
/// `tscclock` does: the largest shift <= 32 for which the multiplier fits
/// in 32 bits; the time base counts from TSC 0.
pub(crate) fn init_clock(freq: u64) {
    let freq = freq.max(1);
    let mut shift = 32u32;
    let mut mult = u64::MAX;
    while shift > 0 {
        mult = ((1_000_000_000u128 << shift) / u128::from(freq)) as u64;
        if mult <= u64::from(u32::MAX) {
            break;
        }
        shift -= 1;
    }
    let tsc_base = rdtsc();
    let time_base = mul64_32(tsc_base, mult as u32, shift);
    TSC.call_once(|| (tsc_base, mult as u32, shift, time_base));
}

pub(crate) fn clock_monotonic() -> u64 {
    let (tsc_base, mult, shift, time_base) = *TSC.get().unwrap_or(&(0, 1, 0, 0));
    time_base + mul64_32(rdtsc().wrapping_sub(tsc_base), mult, shift)
}

pub(crate) fn clock_wall() -> u64 {
    let mut arg = structs::Walltime::default();
    hypercall(hypercall::WALLTIME, &mut arg);
    arg.nsecs
}

pub(crate) fn console_write(data: &[u8]) {
    let mut arg = structs::Puts {
        data: data.as_ptr() as u64,
        len: data.len() as u64,
    };
    hypercall(hypercall::PUTS, &mut arg);
}

pub(crate) fn yield_until(deadline: u64) -> u64 {
    let now = clock_monotonic();
    let mut arg = structs::Poll {
        timeout_nsecs: deadline.saturating_sub(now),
        ..Default::default()
    };
    hypercall(hypercall::POLL, &mut arg);
    arg.ready_set
}

pub(crate) fn net_write(handle: u64, _fd: i32, data: &[u8]) -> i32 {
    let mut arg = structs::Net {
        handle,
        data: data.as_ptr() as u64,
        len: data.len() as u64,
        ret: 0,
    };
    hypercall(hypercall::NET_WRITE, &mut arg);
    arg.ret
}

pub(crate) fn net_read(handle: u64, _fd: i32, buf: &mut [u8]) -> (i32, usize) {
    let mut arg = structs::Net {
        handle,
        data: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        ret: 0,
    };
    hypercall(hypercall::NET_READ, &mut arg);
    (arg.ret, (arg.len as usize).min(buf.len()))
}

pub(crate) fn block_write(handle: u64, _fd: i32, offset: u64, data: &[u8]) -> i32 {
    let mut arg = structs::Block {
        handle,
        offset,
        data: data.as_ptr() as u64,
        len: data.len() as u64,
        ret: 0,
    };
    hypercall(hypercall::BLOCK_WRITE, &mut arg);
    arg.ret
}

pub(crate) fn block_read(handle: u64, _fd: i32, offset: u64, buf: &mut [u8]) -> i32 {
    let mut arg = structs::Block {
        handle,
        offset,
        data: buf.as_mut_ptr() as u64,
        len: buf.len() as u64,
        ret: 0,
    };
    hypercall(hypercall::BLOCK_READ, &mut arg);
    arg.ret
}

pub(crate) fn halt(status: i32) -> ! {
    let mut arg = structs::Halt {
        cookie: 0,
        exit_status: status,
    };
    loop {
        hypercall(hypercall::HALT, &mut arg);
    }
}
