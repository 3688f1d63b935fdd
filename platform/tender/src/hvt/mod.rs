//! The hvt tender: runs a Solo5 hvt unikernel as a KVM guest
//! (`shared/design/SOLO5-ABI.md`, section 2).
//!
//! One concern per module:
//! - [`memory`]: guest memory sizing and the bounds-checked [`GuestMemory`];
//! - [`vcpu`]: the KVM VM, its one memslot and one vCPU, the page tables,
//!   GDT and initial register state ([`Vm`]);
//! - [`boot_info`]: `struct hvt_boot_info`, the manifest copy and the command
//!   line at 0x10000, and the host-side protection of the loaded segments;
//! - [`hypercall`]: the eight hypercalls, every guest address checked;
//! - [`poll`]: the timerfd and epoll set behind the POLL hypercall;
//! - [`run`]: the `KVM_RUN` loop and the handling of every exit;
//! - [`sandbox`]: signals, the personality check and the seccomp filter;
//! - [`probe`]: [`probe_sse`], whether this host's KVM runs SSE guests.
//!
//! The ring I/O extension of Solo5 0.11+ (section 2.9) is **not**
//! implemented: the boot info's `host_features` and `net_ring` are 0, so
//! guests fall back to the NET_READ/NET_WRITE hypercalls, which is what
//! Solo5's guests do under any tender without the ring. For the same
//! reason guest memory is never bumped by the 2 MiB ring area when a
//! network device is attached: the guest gets exactly the sized memory.
//!
//! Everything the guest supplies at run time (port, direction, size,
//! argument address, embedded pointers and lengths) is hostile: a bad
//! value ends the guest with an [`HvtError`] naming it, exit status 1;
//! the tender never reads or writes outside guest memory.

pub mod boot_info;
pub mod error;
pub mod hypercall;
pub mod memory;
pub mod poll;
pub mod probe;
pub mod run;
pub mod sandbox;
pub mod vcpu;

#[cfg(test)]
mod tests;

pub use error::{HvtError, Result};
pub use memory::{GuestMemory, mem_size};
pub use probe::probe_sse;
pub use vcpu::Vm;
