//! `block`: `block_of_file`.

use crate::device::{Connect, Device, Impl, Solo5Device};
use crate::typ::{Block, block};

/// The block device `name` (the seed's `block_of_file`): on unix the file
/// at that path; on Solo5 targets the block device of that name, declared
/// in the unikernel's manifest and attached by the tender
/// (`--block:NAME=PATH`).
#[track_caller]
pub fn block_of_file(name: &str) -> Impl<Block> {
    let path = name.to_string();
    let stem: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Device::new(&format!("block_{stem}"), "block_of_file", block())
        .identity(&format!("block_of_file:{name}"))
        .package(super::mirage_package())
        .solo5_device(Solo5Device::Block(name.to_string()))
        .rust_type(|_| "mirage::platform::BlockFile".to_string())
        .connect(move |_| {
            Connect::expr(format!("mirage::platform::BlockFile::connect({path:?})")).fallible()
        })
        .build()
}
