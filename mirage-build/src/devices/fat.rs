//! `kv_ro`: `fat_ro`.

use crate::device::{Connect, Device, Impl};
use crate::typ::{Block, KvRo, kv_ro};

/// A read-only key-value store over the FAT12/16/32 file system on `block`
/// (the seed's `fat_ro`): files are values, directories dictionaries
/// (`mirage::kv::fat::FatKv`). Connecting fails if the block device does
/// not hold a valid FAT volume.
#[track_caller]
pub fn fat_ro(block: &Impl<Block>) -> Impl<KvRo> {
    let for_type = block.clone();
    let for_connect = block.clone();
    Device::new("fat", "fat_ro", kv_ro())
        .dep(block)
        .package(super::mirage_package())
        .rust_type(move |cx| format!("mirage::kv::fat::FatKv<{}>", cx.ty(&for_type)))
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::kv::fat::FatKv::connect({})",
                cx.var(&for_connect)
            ))
            .awaited()
            .fallible()
        })
        .build()
}
