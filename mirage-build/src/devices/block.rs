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

/// A block device in memory, named `name` (the seed's `ramdisk`): 16 MiB of
/// 512-byte sectors, zeroed at start.
#[track_caller]
pub fn ramdisk(name: &str) -> Impl<Block> {
    let name = name.to_string();
    Device::new("ramdisk", "ramdisk", block())
        .identity(&format!("ramdisk:{name}"))
        .package(super::mirage_package())
        .rust_type(|_| "mirage::block::ramdisk::Ramdisk".to_string())
        .connect(move |_| {
            Connect::expr(format!(
                "mirage::block::ramdisk::Ramdisk::connect({name:?})"
            ))
        })
        .build()
}

/// The XenStore block device `id` (the seed's `block_of_xenstore_id`). No
/// target of this version runs on Xen: a graph that uses it fails to
/// configure, saying so.
#[track_caller]
pub fn block_of_xenstore_id(id: &str) -> Impl<Block> {
    Device::new("block_xen", "block_of_xenstore_id", block())
        .identity(&format!("block_of_xenstore_id:{id}"))
        .unavailable(&format!(
            "the XenStore block device `{id}` needs a Xen target; this version has unix, hvt and spt (use block_of_file or ramdisk)"
        ))
        .build()
}

/// The block device `name` chosen by the configure-time key `block`
/// (`MIRAGE_BLOCK=file|ramdisk|xenstore`, default `file`): the seed's
/// `generic_block`.
#[track_caller]
pub fn generic_block(name: &str) -> Impl<Block> {
    let choice = crate::key::key("block", "file".to_string())
        .doc("How generic_block devices are provided: file, ramdisk or xenstore.");
    crate::device::match_impl(
        choice.value(),
        [
            ("ramdisk".to_string(), ramdisk(name)),
            ("xenstore".to_string(), block_of_xenstore_id(name)),
        ],
        &block_of_file(name),
    )
}

/// An AES-CCM encrypted view of `block` (the seed's `ccm_block ?nonce_len
/// key block`), with the on-disk layout of MirageOS's mirage-block-ccm: each
/// sector takes two of `block`'s, so the capacity is halved. `key` is the
/// runtime argument holding the hex key (16, 24 or 32 bytes, `0x`
/// optional); `nonce_len` is 7 to 13 (default 8). Nonces and padding come
/// from `default_random`.
#[track_caller]
pub fn ccm_block(
    nonce_len: Option<usize>,
    key: &crate::runtime_arg::RuntimeArg<Option<String>>,
    block_dev: &Impl<Block>,
) -> Impl<Block> {
    let nonce_len = nonce_len.unwrap_or(8);
    let random = super::default_random();
    let (b, r, k) = (block_dev.clone(), random.clone(), key.clone());
    let b2 = block_dev.clone();
    Device::new("ccm_block", "ccm_block", block())
        .dep(block_dev)
        .dep(&random)
        .runtime_arg(key)
        .package(super::mirage_package())
        .rust_type(move |cx| {
            format!(
                "mirage::block::ccm::CcmBlock<{}, mirage::random::Rng>",
                cx.ty(&b2)
            )
        })
        .connect(move |cx| {
            Connect::expr(format!(
                "mirage::block::ccm::CcmBlock::connect({}, {}, {}.as_deref(), {nonce_len})",
                cx.var(&b),
                cx.var(&r),
                cx.arg(&k)
            ))
            .fallible()
        })
        .build()
}
