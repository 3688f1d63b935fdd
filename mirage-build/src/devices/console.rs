//! `console`: `default_console`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Console, console};

/// The platform's console: standard output on unix, the tender's console
/// on Solo5 targets.
#[track_caller]
pub fn default_console() -> Impl<Console> {
    Device::new("console", "default_console", console())
        .identity("default_console")
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::Console".to_string())
        .connect(|_| Connect::expr("mirage::platform::Console::new()"))
        .build()
}
