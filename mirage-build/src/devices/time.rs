//! `time`: `default_time`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Time, time};

/// The platform's timer (the seed's `default_time`).
#[track_caller]
pub fn default_time() -> Impl<Time> {
    Device::new("time", "default_time", time())
        .identity("default_time")
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::Time".to_string())
        .connect(|_| Connect::expr("mirage::platform::Time::new()"))
        .build()
}
