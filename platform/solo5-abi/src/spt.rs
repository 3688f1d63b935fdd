//! The spt protocol on x86_64 Linux: the guest runs inside the tender's
//! process at the addresses it was linked for and makes Linux system calls
//! that the tender's seccomp filter allows.

/// `SPT_ABI_VERSION`.
pub const SPT_ABI_VERSION: u32 = 2;
/// `SPT_HOST_MEM_BASE`: guest memory is mapped from here (above
/// `vm.mmap_min_addr`).
pub const HOST_MEM_BASE: u64 = 0x1_0000;
/// `SPT_BOOT_INFO_BASE`: `struct spt_boot_info`, then the manifest copy and
/// the command line.
pub const BOOT_INFO_BASE: u64 = 0x1_1000;

/// `struct spt_boot_info` (40 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BootInfo {
    /// Guest memory size in bytes.
    pub mem_size: u64,
    /// Highest aligned end of the loaded segments.
    pub kernel_end: u64,
    /// The NUL-terminated command line.
    pub cmdline: *const u8,
    /// The manifest copy.
    pub mft: *const u8,
    /// The epoll instance over the net devices and the timer.
    pub epollfd: i32,
    /// The timerfd used by yield.
    pub timerfd: i32,
}
const _: () = assert!(core::mem::size_of::<BootInfo>() == BOOT_INFO_SIZE);

/// Size of `struct spt_boot_info`.
pub const BOOT_INFO_SIZE: usize = 40;

/// Byte offsets of `struct spt_boot_info`.
pub mod boot_info {
    /// `mem_size`.
    pub const MEM_SIZE: usize = 0;
    /// `kernel_end`.
    pub const KERNEL_END: usize = 8;
    /// `cmdline`.
    pub const CMDLINE: usize = 16;
    /// `mft`.
    pub const MFT: usize = 24;
    /// `epollfd`.
    pub const EPOLLFD: usize = 32;
    /// `timerfd`.
    pub const TIMERFD: usize = 36;
}

/// The x86_64 Linux system calls a spt guest makes.
pub mod syscall {
    /// `read`.
    pub const READ: u64 = 0;
    /// `write`.
    pub const WRITE: u64 = 1;
    /// `pread64`.
    pub const PREAD64: u64 = 17;
    /// `pwrite64`.
    pub const PWRITE64: u64 = 18;
    /// `arch_prctl`.
    pub const ARCH_PRCTL: u64 = 158;
    /// `clock_gettime`.
    pub const CLOCK_GETTIME: u64 = 228;
    /// `exit_group`.
    pub const EXIT_GROUP: u64 = 231;
    /// `epoll_pwait`.
    pub const EPOLL_PWAIT: u64 = 281;
    /// `timerfd_settime`.
    pub const TIMERFD_SETTIME: u64 = 286;
}
