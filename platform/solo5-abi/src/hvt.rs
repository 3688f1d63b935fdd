//! The hvt guest/host protocol on x86_64: hypercalls through I/O ports,
//! the guest memory layout, the boot info and the initial vCPU state.

/// `HVT_ABI_VERSION`.
pub const HVT_ABI_VERSION: u32 = 2;
/// `HVT_HYPERCALL_PIO_BASE`: hypercall `nr` is an `outl` to `0x500 + nr`.
pub const HYPERCALL_PIO_BASE: u16 = 0x500;
/// `HVT_HALT_COOKIE_MAX`.
pub const HALT_COOKIE_MAX: u64 = 512;
/// Default guest memory (512 MiB).
pub const DEFAULT_MEM_SIZE: u64 = 0x2000_0000;
/// Guest memory granularity: sizes are rounded down to 2 MiB.
pub const MEM_ALIGN: u64 = 0x20_0000;
/// The largest guest memory (4 GiB, the reach of 4 page directories).
pub const MAX_MEM_SIZE: u64 = 0x1_0000_0000;

/// Hypercall numbers (`enum hvt_hypercall`; 0 is reserved).
pub mod hypercall {
    /// `HVT_HYPERCALL_WALLTIME`.
    pub const WALLTIME: u16 = 1;
    /// `HVT_HYPERCALL_PUTS`.
    pub const PUTS: u16 = 2;
    /// `HVT_HYPERCALL_POLL`.
    pub const POLL: u16 = 3;
    /// `HVT_HYPERCALL_BLOCK_WRITE`.
    pub const BLOCK_WRITE: u16 = 4;
    /// `HVT_HYPERCALL_BLOCK_READ`.
    pub const BLOCK_READ: u16 = 5;
    /// `HVT_HYPERCALL_NET_WRITE`.
    pub const NET_WRITE: u16 = 6;
    /// `HVT_HYPERCALL_NET_READ`.
    pub const NET_READ: u16 = 7;
    /// `HVT_HYPERCALL_HALT`.
    pub const HALT: u16 = 8;
    /// `HVT_HYPERCALL_MAX`: numbers are below this.
    pub const MAX: u16 = 9;
}

/// Guest physical (= virtual) addresses of the layout.
pub mod layout {
    /// The boot GDT (not present in the guest page tables).
    pub const GDT_BASE: u64 = 0x1000;
    /// The PML4 (CR3).
    pub const PML4_BASE: u64 = 0x2000;
    /// The PDPT.
    pub const PDPT_BASE: u64 = 0x3000;
    /// Four page directories, up to 4 GiB.
    pub const PDE_BASE: u64 = 0x4000;
    /// The page table for the first 2 MiB.
    pub const PT0_BASE: u64 = 0x8000;
    /// `struct hvt_boot_info` (RDI at entry), then the manifest copy, then
    /// the command line; 0x10000..0x100000 is read-only for the guest.
    pub const BOOT_INFO_BASE: u64 = 0x1_0000;
}

/// Initial control registers and segments.
pub mod cpu {
    /// CR0: PE | NE | WP | PG.
    pub const CR0: u64 = 0x8001_0021;
    /// CR4: PAE | OSFXSR | OSXMMEXCPT.
    pub const CR4: u64 = 0x620;
    /// EFER: LME | LMA.
    pub const EFER: u64 = 0x500;
    /// The 64-bit code descriptor (GDT entry 1, selector 0x08).
    pub const GDT_CODE: u64 = 0x00AF_9900_0000_FFFF;
    /// The data descriptor (GDT entry 2, selector 0x10).
    pub const GDT_DATA: u64 = 0x00CF_9300_0000_FFFF;
    /// The code selector.
    pub const CS: u16 = 0x08;
    /// The data selector.
    pub const DS: u16 = 0x10;
    /// RFLAGS at entry (interrupts off).
    pub const RFLAGS: u64 = 0x2;
    /// Page table entry: present.
    pub const PTE_P: u64 = 1 << 0;
    /// Page table entry: writable.
    pub const PTE_RW: u64 = 1 << 1;
    /// Page directory entry: 2 MiB page.
    pub const PTE_PS: u64 = 1 << 7;
}

/// `struct hvt_boot_info` (56 bytes with the ring extension).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct BootInfo {
    /// Guest memory size in bytes (the ring area excluded).
    pub mem_size: u64,
    /// Highest aligned end of the loaded segments.
    pub kernel_end: u64,
    /// TSC frequency in Hz.
    pub cpu_cycle_freq: u64,
    /// Guest address of the NUL-terminated command line.
    pub cmdline: u64,
    /// Guest address of the manifest copy.
    pub mft: u64,
    /// Bit 0: the ring I/O extension is active.
    pub host_features: u32,
    /// Reserved; guests never write it.
    pub guest_features: u32,
    /// Guest address of the ring, or 0.
    pub net_ring: u64,
}
const _: () = assert!(core::mem::size_of::<BootInfo>() == BOOT_INFO_SIZE);

/// Size of `struct hvt_boot_info`.
pub const BOOT_INFO_SIZE: usize = 56;

/// Byte offsets of `struct hvt_boot_info`.
pub mod boot_info {
    /// `mem_size`.
    pub const MEM_SIZE: usize = 0;
    /// `kernel_end`.
    pub const KERNEL_END: usize = 8;
    /// `cpu_cycle_freq`.
    pub const CPU_CYCLE_FREQ: usize = 16;
    /// `cmdline`.
    pub const CMDLINE: usize = 24;
    /// `mft`.
    pub const MFT: usize = 32;
    /// `host_features`.
    pub const HOST_FEATURES: usize = 40;
    /// `guest_features`.
    pub const GUEST_FEATURES: usize = 44;
    /// `net_ring`.
    pub const NET_RING: usize = 48;
}

/// The hypercall argument structs: sizes and byte offsets.
pub mod args {
    /// `hvt_hc_walltime {u64 nsecs}`.
    pub mod walltime {
        /// Size.
        pub const SIZE: usize = 8;
        /// `nsecs` (out).
        pub const NSECS: usize = 0;
    }
    /// `hvt_hc_puts {u64 data; u64 len}`.
    pub mod puts {
        /// Size.
        pub const SIZE: usize = 16;
        /// `data`.
        pub const DATA: usize = 0;
        /// `len`.
        pub const LEN: usize = 8;
    }
    /// `hvt_hc_poll {u64 timeout_nsecs; u64 ready_set; i32 ret}`.
    pub mod poll {
        /// Size.
        pub const SIZE: usize = 24;
        /// `timeout_nsecs` (in, relative).
        pub const TIMEOUT_NSECS: usize = 0;
        /// `ready_set` (out).
        pub const READY_SET: usize = 8;
        /// `ret` (out).
        pub const RET: usize = 16;
    }
    /// `hvt_hc_block_{write,read} {u64 handle; u64 offset; u64 data; u64 len; i32 ret}`.
    pub mod block {
        /// Size.
        pub const SIZE: usize = 40;
        /// `handle`.
        pub const HANDLE: usize = 0;
        /// `offset`.
        pub const OFFSET: usize = 8;
        /// `data`.
        pub const DATA: usize = 16;
        /// `len`.
        pub const LEN: usize = 24;
        /// `ret` (out).
        pub const RET: usize = 32;
    }
    /// `hvt_hc_net_{write,read} {u64 handle; u64 data; u64 len; i32 ret}`.
    pub mod net {
        /// Size.
        pub const SIZE: usize = 32;
        /// `handle`.
        pub const HANDLE: usize = 0;
        /// `data`.
        pub const DATA: usize = 8;
        /// `len` (in; out for reads).
        pub const LEN: usize = 16;
        /// `ret` (out).
        pub const RET: usize = 24;
    }
    /// `hvt_hc_halt {u64 cookie; i32 exit_status}`.
    pub mod halt {
        /// Size.
        pub const SIZE: usize = 16;
        /// `cookie` (guest address or 0).
        pub const COOKIE: usize = 0;
        /// `exit_status`.
        pub const EXIT_STATUS: usize = 8;
    }
}

/// `#[repr(C)]` hypercall argument structs for the guest side.
pub mod structs {
    /// `hvt_hc_walltime`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Walltime {
        /// Out: nanoseconds since the epoch.
        pub nsecs: u64,
    }
    /// `hvt_hc_puts`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Puts {
        /// The text's address.
        pub data: u64,
        /// Its length.
        pub len: u64,
    }
    /// `hvt_hc_poll`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Poll {
        /// In: relative timeout.
        pub timeout_nsecs: u64,
        /// Out: ready handles.
        pub ready_set: u64,
        /// Out: number of ready handles.
        pub ret: i32,
    }
    /// `hvt_hc_block_write` / `hvt_hc_block_read`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Block {
        /// Device handle.
        pub handle: u64,
        /// Byte offset.
        pub offset: u64,
        /// Buffer address.
        pub data: u64,
        /// Length.
        pub len: u64,
        /// Out: result code.
        pub ret: i32,
    }
    /// `hvt_hc_net_write` / `hvt_hc_net_read`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Net {
        /// Device handle.
        pub handle: u64,
        /// Buffer address.
        pub data: u64,
        /// Length (out: bytes read).
        pub len: u64,
        /// Out: result code.
        pub ret: i32,
    }
    /// `hvt_hc_halt`.
    #[repr(C)]
    #[derive(Debug, Default)]
    pub struct Halt {
        /// Cookie address or 0.
        pub cookie: u64,
        /// Exit status.
        pub exit_status: i32,
    }
    const _: () = assert!(core::mem::size_of::<Poll>() == super::args::poll::SIZE);
    const _: () = assert!(core::mem::size_of::<Block>() == super::args::block::SIZE);
    const _: () = assert!(core::mem::size_of::<Net>() == super::args::net::SIZE);
    const _: () = assert!(core::mem::size_of::<Halt>() == super::args::halt::SIZE);
    const _: () = assert!(core::mem::offset_of!(Block, ret) == super::args::block::RET);
    const _: () = assert!(core::mem::offset_of!(Net, ret) == super::args::net::RET);
}
