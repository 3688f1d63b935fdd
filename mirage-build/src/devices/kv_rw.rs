//! `kv_rw`: `kv_rw_mem`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{KvRw, Pclock, kv_rw};

/// A read-write store in memory, timestamped by `clock` (default
/// `default_posix_clock`): the seed's `kv_rw_mem ?clock ()`.
#[track_caller]
pub fn kv_rw_mem(clock: Option<Impl<Pclock>>) -> Impl<KvRw> {
    let clock = match clock {
        Some(clock) => clock,
        None => super::default_posix_clock(),
    };
    let (c, t) = (clock.clone(), clock.clone());
    Device::new("kv_rw_mem", "kv_rw_mem", kv_rw())
        .dep(&clock)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::kv::rw_mem::MemRw<{}>", cx.ty(&t)))
        .connect(move |cx| Connect::expr(format!("mirage::kv::rw_mem::MemRw::new({})", cx.var(&c))))
        .build()
}
