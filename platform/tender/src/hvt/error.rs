//! The hvt tender's failures: one variant per failing KVM ioctl or set-up
//! step, and one per way a guest can misbehave. Each prints a one-line
//! message naming the problem; the runner prints it and exits with 1.

use std::fmt;
use std::io;

/// Result of an hvt operation.
pub type Result<T> = std::result::Result<T, HvtError>;

/// Which way a guest port access went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `in` (guest reads the port).
    In,
    /// `out` (guest writes the port).
    Out,
}

/// Everything that can go wrong in the hvt tender.
#[derive(Debug)]
pub enum HvtError {
    /// Opening `/dev/kvm` failed.
    OpenKvm(io::Error),
    /// `KVM_GET_API_VERSION` is not 12.
    ApiVersion(i32),
    /// A required KVM capability is missing.
    MissingCapability(&'static str),
    /// `KVM_CREATE_VM` failed.
    CreateVm(io::Error),
    /// The requested memory is below the 2 MiB minimum once rounded down.
    MemTooSmall(u64),
    /// The requested memory is above the 4 GiB maximum once rounded down.
    MemTooLarge(u64),
    /// `mmap` of guest memory failed.
    MmapGuestMemory(io::Error),
    /// `KVM_SET_USER_MEMORY_REGION` failed.
    SetUserMemoryRegion(io::Error),
    /// `KVM_CREATE_VCPU` failed.
    CreateVcpu(io::Error),
    /// `KVM_GET_SUPPORTED_CPUID` failed.
    GetSupportedCpuid(io::Error),
    /// `KVM_SET_CPUID2` failed.
    SetCpuid(io::Error),
    /// `KVM_GET_SREGS` failed.
    GetSregs(io::Error),
    /// `KVM_SET_SREGS` failed.
    SetSregs(io::Error),
    /// `KVM_SET_REGS` failed.
    SetRegs(io::Error),
    /// `KVM_GET_TSC_KHZ` failed (EIO: the host TSC is unstable).
    GetTscKhz(io::Error),
    /// The entry point is outside `[0x100000, mem_size)`.
    BadEntry {
        /// The entry point.
        entry: u64,
        /// Guest memory size.
        mem_size: u64,
    },
    /// The manifest and command line do not fit below 0x100000.
    BootInfoTooLarge {
        /// Manifest size.
        manifest: usize,
        /// Command line size.
        cmdline: usize,
    },
    /// `mprotect` of a loaded segment failed (or its range is invalid).
    Mprotect {
        /// Start of the range.
        gpa: u64,
        /// Its length.
        len: u64,
        /// Why.
        err: io::Error,
    },
    /// The process has the READ_IMPLIES_EXEC personality.
    ReadImpliesExec,
    /// Installing a signal handler failed.
    Signals(io::Error),
    /// Building or installing the seccomp filter failed.
    Seccomp(String),
    /// Creating the POLL timerfd or epoll set failed.
    PollSetup(io::Error),
    /// `KVM_RUN` failed.
    Run(io::Error),
    /// `KVM_RUN` returned EFAULT.
    TranslationFault,
    /// A port access other than a 4-byte `out` to a hypercall port.
    InvalidPortAccess {
        /// The port.
        port: u16,
        /// Its direction.
        direction: Direction,
        /// Bytes per access.
        size: u8,
        /// Number of accesses (string I/O).
        count: u32,
    },
    /// Hypercall 0 (reserved) or any number without a handler.
    InvalidHypercall(u16),
    /// A guest address range outside guest memory.
    InvalidGuestAccess {
        /// The hypercall.
        hypercall: &'static str,
        /// What the range is (argument struct, data, cookie).
        what: &'static str,
        /// Its guest address.
        gpa: u64,
        /// Its length.
        len: u64,
        /// Guest memory size.
        mem_size: u64,
    },
    /// A guest buffer the tender must write lies in a read-only segment.
    ReadOnlyGuestBuffer {
        /// The hypercall.
        hypercall: &'static str,
        /// What the range is.
        what: &'static str,
        /// Its guest address.
        gpa: u64,
        /// Its length.
        len: u64,
    },
    /// A block device's length does not fit `ssize_t`.
    BlockLength(u64),
    /// A block read or write failed or was short.
    BlockIo {
        /// The hypercall.
        hypercall: &'static str,
        /// The device's handle.
        handle: u64,
        /// What the device layer said.
        message: String,
    },
    /// `timerfd_settime` or `epoll_pwait` failed.
    Poll(io::Error),
    /// `KVM_EXIT_FAIL_ENTRY`.
    FailEntry {
        /// `hardware_entry_failure_reason`.
        reason: u64,
        /// The CPU.
        cpu: u32,
    },
    /// `KVM_EXIT_INTERNAL_ERROR`.
    InternalError {
        /// The suberror (1: emulation failure).
        suberror: u32,
    },
    /// `KVM_EXIT_SHUTDOWN`: the guest triple-faulted.
    Shutdown,
    /// `KVM_EXIT_MMIO`: the guest touched guest-physical memory that is
    /// not writable RAM (a write to a read-only segment, or outside the
    /// memslot).
    Mmio {
        /// The guest address.
        gpa: u64,
        /// Bytes accessed.
        len: usize,
        /// Whether it was a write.
        write: bool,
    },
    /// Any other exit reason.
    UnexpectedExit(String),
}

impl fmt::Display for HvtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HvtError::*;
        match self {
            OpenKvm(e) => write!(f, "KVM: cannot open /dev/kvm: {e}"),
            ApiVersion(v) => write!(f, "KVM: API version {v}, expected 12"),
            MissingCapability(c) => write!(f, "KVM: host does not support {c}"),
            CreateVm(e) => write!(f, "KVM: KVM_CREATE_VM: {e}"),
            MemTooSmall(m) => write!(
                f,
                "guest memory of {m} bytes is below the minimum of 2 MiB (sizes are rounded down to 2 MiB)"
            ),
            MemTooLarge(m) => write!(
                f,
                "guest memory of {m} bytes exceeds the maximum of 4096 MiB"
            ),
            MmapGuestMemory(e) => write!(f, "cannot map guest memory: {e}"),
            SetUserMemoryRegion(e) => write!(f, "KVM: KVM_SET_USER_MEMORY_REGION: {e}"),
            CreateVcpu(e) => write!(f, "KVM: KVM_CREATE_VCPU: {e}"),
            GetSupportedCpuid(e) => write!(f, "KVM: KVM_GET_SUPPORTED_CPUID: {e}"),
            SetCpuid(e) => write!(f, "KVM: KVM_SET_CPUID2: {e}"),
            GetSregs(e) => write!(f, "KVM: KVM_GET_SREGS: {e}"),
            SetSregs(e) => write!(f, "KVM: KVM_SET_SREGS: {e}"),
            SetRegs(e) => write!(f, "KVM: KVM_SET_REGS: {e}"),
            GetTscKhz(e) if e.raw_os_error() == Some(libc::EIO) => write!(
                f,
                "KVM: KVM_GET_TSC_KHZ: the host TSC is unstable, cannot run the guest: {e}"
            ),
            GetTscKhz(e) => write!(f, "KVM: KVM_GET_TSC_KHZ: {e}"),
            BadEntry { entry, mem_size } => write!(
                f,
                "entry point {entry:#x} is outside guest memory [0x100000, {mem_size:#x})"
            ),
            BootInfoTooLarge { manifest, cmdline } => write!(
                f,
                "boot info, manifest ({manifest} bytes) and command line ({cmdline} bytes) do not fit below 0x100000"
            ),
            Mprotect { gpa, len, err } => {
                write!(f, "mprotect of guest range {gpa:#x}+{len:#x}: {err}")
            }
            ReadImpliesExec => {
                f.write_str("the process has the READ_IMPLIES_EXEC personality, refusing to run")
            }
            Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Seccomp(m) => write!(f, "cannot install the seccomp filter: {m}"),
            PollSetup(e) => write!(f, "cannot create the POLL timerfd/epoll set: {e}"),
            Run(e) => write!(f, "KVM: KVM_RUN: {e}"),
            TranslationFault => f.write_str("KVM: host/guest translation fault"),
            InvalidPortAccess {
                port,
                direction,
                size,
                count,
            } => write!(
                f,
                "Invalid guest port access: port={port:#x} direction={} size={size} count={count} (only 4-byte out to 0x501..0x508)",
                match direction {
                    Direction::In => "in",
                    Direction::Out => "out",
                }
            ),
            InvalidHypercall(nr) => write!(f, "Invalid guest hypercall: num={nr}"),
            InvalidGuestAccess {
                hypercall,
                what,
                gpa,
                len,
                mem_size,
            } => write!(
                f,
                "Invalid guest access: {hypercall}: {what} gpa={gpa:#x} len={len:#x} is outside guest memory of {mem_size:#x} bytes"
            ),
            ReadOnlyGuestBuffer {
                hypercall,
                what,
                gpa,
                len,
            } => write!(
                f,
                "Invalid guest access: {hypercall}: {what} gpa={gpa:#x} len={len:#x} is in a read-only segment"
            ),
            BlockLength(len) => write!(f, "block access length {len:#x} exceeds SSIZE_MAX"),
            BlockIo {
                hypercall,
                handle,
                message,
            } => write!(f, "{hypercall}: block device {handle}: {message}"),
            Poll(e) => write!(f, "POLL: {e}"),
            FailEntry { reason, cpu } => write!(
                f,
                "KVM: entry failure: hardware_entry_failure_reason={reason:#x} cpu={cpu}"
            ),
            InternalError { suberror } => {
                write!(f, "KVM: internal error exit: suberror={suberror}")?;
                if *suberror == 1 {
                    f.write_str(
                        " (emulation failure: this host's KVM could not emulate a guest instruction, e.g. SSE on an emulating KVM)",
                    )?;
                }
                Ok(())
            }
            Shutdown => f.write_str("KVM: the guest triple-faulted (KVM_EXIT_SHUTDOWN)"),
            Mmio { gpa, len, write } => write!(
                f,
                "KVM: guest {} of {len} bytes at gpa={gpa:#x}, which is not {} guest memory (KVM_EXIT_MMIO)",
                if *write { "write" } else { "read" },
                if *write { "writable" } else { "mapped" }
            ),
            UnexpectedExit(r) => write!(f, "KVM: unexpected exit: {r}"),
        }
    }
}

impl std::error::Error for HvtError {}
