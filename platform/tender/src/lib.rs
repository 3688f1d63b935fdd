//! The host side of mirage's Solo5 targets: a library with one module per
//! concern and two thin runners, `mirage-hvt` (a KVM guest) and `mirage-spt`
//! (a seccomp-sandboxed process). Both boot any conforming Solo5 0.12
//! unikernel, and treat everything the unikernel supplies (its ELF, its
//! notes, and at run time every address and length) as hostile.

pub mod devices;
pub mod elf;
pub mod error;
pub mod hvt;
pub mod options;
pub mod spt;
