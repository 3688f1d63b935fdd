//! MirageOS in Rust: the device interfaces, the cooperative runtime and the
//! platform-independent devices of a library operating system.
//!
//! An application is written once against the device traits of this crate
//! (`Time`, `Pclock`, `Mclock`, `Random`, `Console`, ...) and built, unchanged,
//! into a Linux process (`target-unix`) or a standalone unikernel. Which
//! devices it gets is decided at build time by the device graph that the
//! application's `build.rs` describes with `mirage-build`; the generated entry
//! point connects the devices and starts the application's jobs on the
//! executor of [`rt`].
//!
//! The crate is `no_std` + `alloc`. The target is chosen by exactly one cargo
//! feature (`target-unix`, ...); the `platform` module, which exists only with
//! one, is the only place that differs per target. Without a target feature
//! the crate is the platform-independent library alone (used by
//! `mirage-build` and by tests).
#![no_std]
#![deny(unsafe_code)]
// Device operations are `async fn`s in traits: the runtime is single-threaded,
// so the futures need no `Send` bound and the lint's concern does not apply.
#![allow(async_fn_in_trait)]

extern crate alloc;

// The one place that enforces the choice of exactly one target.
#[cfg(any(
    all(feature = "target-unix", feature = "target-hvt"),
    all(feature = "target-unix", feature = "target-spt"),
    all(feature = "target-hvt", feature = "target-spt"),
))]
compile_error!("choose exactly one mirage target feature: target-unix, target-hvt or target-spt");

pub mod args;
pub mod block;
pub mod clock;
pub mod console;
pub mod kv;
pub mod net;
pub mod random;
pub mod reporter;
pub mod rt;
pub mod time;

#[cfg(any(
    feature = "target-unix",
    feature = "target-hvt",
    feature = "target-spt"
))]
pub mod platform;

/// What generated code names from `alloc`: an application's crate may be
/// `no_std` without an `extern crate alloc` of its own.
pub mod export {
    pub use alloc::boxed::Box;
    pub use alloc::format;
    pub use alloc::string::String;
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

/// Includes the entry point that `mirage_build::configure` generated for
/// this application (`OUT_DIR/mirage_main.rs`). An application's
/// `src/main.rs` is its module declarations and this one line.
#[macro_export]
macro_rules! main {
    () => {
        include!(concat!(env!("OUT_DIR"), "/mirage_main.rs"));
    };
}

pub use block::Block;
pub use clock::{Mclock, Pclock};
pub use console::Console;
pub use random::Random;
pub use time::Time;
