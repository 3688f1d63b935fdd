//! `pclock` and `mclock`: `default_posix_clock`, `default_monotonic_clock`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Mclock, Pclock, mclock, pclock};

/// The platform's wall clock (the seed's `default_posix_clock`).
#[track_caller]
pub fn default_posix_clock() -> Impl<Pclock> {
    Device::new("pclock", "default_posix_clock", pclock())
        .identity("default_posix_clock")
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::Pclock".to_string())
        .connect(|_| Connect::expr("mirage::platform::Pclock::new()"))
        .build()
}

/// The platform's monotonic clock (the seed's `default_monotonic_clock`).
#[track_caller]
pub fn default_monotonic_clock() -> Impl<Mclock> {
    Device::new("mclock", "default_monotonic_clock", mclock())
        .identity("default_monotonic_clock")
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::Mclock".to_string())
        .connect(|_| Connect::expr("mirage::platform::Mclock::new()"))
        .build()
}
