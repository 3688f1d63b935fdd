//! The spt transport: the guest runs inside the tender's process and makes
//! the Linux system calls the tender's seccomp filter allows.

use core::arch::asm;

use solo5_abi::note::AbiTarget;
use solo5_abi::spt::{BootInfo, syscall as nr};

pub(crate) const TARGET: AbiTarget = AbiTarget::Spt;
pub(crate) const VERSION: u32 = solo5_abi::spt::SPT_ABI_VERSION;

/// `data.u64` of the tender's internal timerfd in the epoll set (`~1U`).
const INTERNAL_TIMERFD: u64 = 0xFFFF_FFFE;
const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const TFD_TIMER_ABSTIME: u64 = 1;
const ARCH_SET_FS: u64 = 0x1002;
const EINTR: i64 = -4;
const EAGAIN: i64 = -11;

/// A raw system call with up to six arguments.
///
/// # Safety
/// The arguments must be valid for system call `n` (pointers to live memory
/// of the right size).
unsafe fn syscall6(n: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64) -> i64 {
    let ret: i64;
    // SAFETY: per this function's contract; `syscall` clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") n as i64 => ret, in("rdi") a1, in("rsi") a2, in("rdx") a3,
             in("r10") a4, in("r8") a5, in("r9") a6, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

pub(crate) struct Boot {
    pub(crate) mem_size: u64,
    pub(crate) cmdline: *const u8,
    pub(crate) mft: *const u8,
    pub(crate) cpu_cycle_freq: u64,
}

static FDS: spin::Once<(i32, i32)> = spin::Once::new();

/// Reads the boot info at `arg`.
///
/// # Safety
/// `arg` is the pointer the tender passed in RDI: a `struct spt_boot_info`.
pub(crate) unsafe fn read_boot(arg: *const u8) -> Boot {
    // SAFETY: per this function's contract.
    let bi = unsafe { &*(arg as *const BootInfo) };
    FDS.call_once(|| (bi.epollfd, bi.timerfd));
    Boot {
        mem_size: bi.mem_size,
        cmdline: bi.cmdline,
        mft: bi.mft,
        cpu_cycle_freq: 0,
    }
}

pub(crate) fn set_tls_base(base: u64) {
    // SAFETY: arch_prctl(ARCH_SET_FS) takes the base by value.
    unsafe { syscall6(nr::ARCH_PRCTL, ARCH_SET_FS, base, 0, 0, 0, 0) };
}

pub(crate) fn init_clock(_freq: u64) {}

#[repr(C)]
#[derive(Default)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

fn clock(id: u64) -> u64 {
    let mut ts = Timespec::default();
    // SAFETY: `ts` is a live timespec for the kernel to fill.
    unsafe {
        syscall6(
            nr::CLOCK_GETTIME,
            id,
            &mut ts as *mut Timespec as u64,
            0,
            0,
            0,
            0,
        )
    };
    (ts.sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.nsec as u64)
}

pub(crate) fn clock_monotonic() -> u64 {
    clock(CLOCK_MONOTONIC)
}

pub(crate) fn clock_wall() -> u64 {
    clock(CLOCK_REALTIME)
}

pub(crate) fn console_write(data: &[u8]) {
    // SAFETY: write(1) reads `data`, which is live for the call.
    unsafe {
        syscall6(
            nr::WRITE,
            1,
            data.as_ptr() as u64,
            data.len() as u64,
            0,
            0,
            0,
        )
    };
}

#[repr(C)]
struct Itimerspec {
    interval: Timespec,
    value: Timespec,
}

#[repr(C, packed)]
#[derive(Clone, Copy)]
struct EpollEvent {
    events: u32,
    data: u64,
}

pub(crate) fn yield_until(deadline: u64) -> u64 {
    let (epollfd, timerfd) = *FDS.get().unwrap_or(&(-1, -1));
    // Solo5's monotonic time is CLOCK_MONOTONIC here, so the deadline arms
    // the timerfd as an absolute time; a zero it_value would disarm it.
    let deadline = deadline.max(1);
    let it = Itimerspec {
        interval: Timespec::default(),
        value: Timespec {
            sec: (deadline / 1_000_000_000) as i64,
            nsec: (deadline % 1_000_000_000) as i64,
        },
    };
    // SAFETY: `it` is a live itimerspec; the old value pointer is NULL.
    unsafe {
        syscall6(
            nr::TIMERFD_SETTIME,
            timerfd as u64,
            TFD_TIMER_ABSTIME,
            &it as *const Itimerspec as u64,
            0,
            0,
            0,
        )
    };
    let mut events = [EpollEvent { events: 0, data: 0 }; 65];
    let n = loop {
        // SAFETY: `events` is a live array of 65 epoll_event for the kernel.
        let n = unsafe {
            syscall6(
                nr::EPOLL_PWAIT,
                epollfd as u64,
                events.as_mut_ptr() as u64,
                events.len() as u64,
                u64::MAX,
                0,
                0,
            )
        };
        if n != EINTR {
            break n;
        }
    };
    let mut ready = 0u64;
    for event in events.iter().take(n.max(0) as usize) {
        let data = event.data;
        if data != INTERNAL_TIMERFD && data < 64 {
            ready |= 1 << data;
        }
    }
    ready
}

pub(crate) fn net_write(_handle: u64, fd: i32, data: &[u8]) -> i32 {
    // SAFETY: write reads `data`, live for the call.
    let n = unsafe {
        syscall6(
            nr::WRITE,
            fd as u64,
            data.as_ptr() as u64,
            data.len() as u64,
            0,
            0,
            0,
        )
    };
    if n == data.len() as i64 {
        solo5_abi::SOLO5_R_OK
    } else {
        solo5_abi::SOLO5_R_EUNSPEC
    }
}

pub(crate) fn net_read(_handle: u64, fd: i32, buf: &mut [u8]) -> (i32, usize) {
    // SAFETY: read writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        syscall6(
            nr::READ,
            fd as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            0,
            0,
            0,
        )
    };
    match n {
        n if n >= 0 => (solo5_abi::SOLO5_R_OK, n as usize),
        EAGAIN => (solo5_abi::SOLO5_R_AGAIN, 0),
        _ => (solo5_abi::SOLO5_R_EUNSPEC, 0),
    }
}

pub(crate) fn block_write(_handle: u64, fd: i32, offset: u64, data: &[u8]) -> i32 {
    // SAFETY: pwrite64 reads `data`, live for the call.
    let n = unsafe {
        syscall6(
            nr::PWRITE64,
            fd as u64,
            data.as_ptr() as u64,
            data.len() as u64,
            offset,
            0,
            0,
        )
    };
    if n == data.len() as i64 {
        solo5_abi::SOLO5_R_OK
    } else {
        solo5_abi::SOLO5_R_EUNSPEC
    }
}

pub(crate) fn block_read(_handle: u64, fd: i32, offset: u64, buf: &mut [u8]) -> i32 {
    // SAFETY: pread64 writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        syscall6(
            nr::PREAD64,
            fd as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
            offset,
            0,
            0,
        )
    };
    if n == buf.len() as i64 {
        solo5_abi::SOLO5_R_OK
    } else {
        solo5_abi::SOLO5_R_EUNSPEC
    }
}

pub(crate) fn halt(status: i32) -> ! {
    loop {
        // SAFETY: exit_group ends the process; it takes the status by value.
        unsafe { syscall6(nr::EXIT_GROUP, status as u64, 0, 0, 0, 0, 0) };
    }
}
