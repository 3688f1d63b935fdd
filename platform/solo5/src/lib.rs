//! The guest side of mirage's Solo5 targets: one Solo5-ABI layer (start
//! info, manifest lookup, console, both clocks, `yield` with a deadline and
//! a ready set, net and block devices, exit and abort) over two transports,
//! selected by one cargo feature: `hvt` (hypercalls through I/O ports in a
//! KVM guest) or `spt` (the Linux system calls the spt tender's seccomp
//! filter allows). Everything above the transport is shared.
//!
//! Boot: the tender enters `_start` (c-stubs/boot.S), which aligns the stack
//! and calls `boot::mirage_solo5_boot`; that sets the stack-protector
//! canary and a zero TLS base, reads the boot info, strips the `--solo5:`
//! options off the command line, prints the Solo5 banner (unless quiet),
//! hands the heap to the allocator and calls the application's
//! `solo5_app_main`, exiting with its result.
//!
//! Without a transport feature the crate is empty (so the workspace builds).
#![no_std]
#![deny(unsafe_code)]

#[cfg(all(feature = "hvt", feature = "spt"))]
compile_error!("mirage-solo5: choose one transport, `hvt` or `spt`");

#[cfg(any(feature = "hvt", feature = "spt"))]
mod api;
#[cfg(any(feature = "hvt", feature = "spt"))]
#[allow(unsafe_code)]
mod boot;
#[cfg(all(any(feature = "hvt", feature = "spt"), not(test)))]
#[allow(unsafe_code)]
mod runtime;
#[cfg(any(feature = "hvt", feature = "spt"))]
#[allow(unsafe_code)]
mod transport;

#[cfg(any(feature = "hvt", feature = "spt"))]
pub use api::*;
#[cfg(any(feature = "hvt", feature = "spt"))]
pub use boot::{cmdline, heap, log_level, mem_size};

pub use solo5_abi::{BlockInfo, LogLevel, NetInfo, StartInfo};
