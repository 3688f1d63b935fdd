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

/// A host directory as a read-write store (the seed's `direct_kv_rw`):
/// values are replaced atomically (written beside, then renamed over).
/// Only available on unix: on other targets the graph fails to configure,
/// saying so.
#[track_caller]
pub fn direct_kv_rw(dir: &str) -> Impl<KvRw> {
    let d = dir.to_string();
    let unix = Device::new("direct_kv_rw", "direct_kv_rw", kv_rw())
        .identity(&format!("direct_kv_rw:{dir}"))
        .package(super::mirage_package())
        .rust_type(|_| "mirage::platform::DirectKv".to_string())
        .connect(move |cx| {
            let path = cx.info().manifest_dir().join(&d);
            Connect::expr(format!(
                "mirage::platform::DirectKv::connect({:?})",
                path.display().to_string()
            ))
            .fallible()
        })
        .build();
    let elsewhere = Device::new("direct_kv_rw", "direct_kv_rw", kv_rw())
        .identity(&format!("direct_kv_rw-unavailable:{dir}"))
        .unavailable("direct_kv_rw needs a host file system: it is only available on unix (use chamelon over a block device on hvt and spt)")
        .build();
    crate::device::match_impl(
        crate::key::target(),
        [(crate::key::Target::Unix, unix)],
        &elsewhere,
    )
}
