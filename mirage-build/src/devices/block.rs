//! `block`: `block_of_file`, `ramdisk`, `block_of_xenstore_id`,
//! `generic_block` and `ccm_block`.

use crate::device::{Connect, Device, Impl, Solo5Device};
use crate::key::{Key, KeyType, Value, key};
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

/// Which device [`generic_block`] gives: the seed's
/// `` [ `XenstoreId | `BlockFile | `Ramdisk ] ``, the configure-time key
/// `block` (`MIRAGE_BLOCK=xenstore|file|ramdisk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// [`block_of_xenstore_id`] (Xen only: the build fails elsewhere).
    XenstoreId,
    /// [`block_of_file`].
    BlockFile,
    /// [`ramdisk`] (MirageOS's default).
    Ramdisk,
}

impl KeyType for BlockKind {
    const EXPECTED: &'static str = "xenstore, file or ramdisk";
    fn parse_key(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "xenstore" => Some(BlockKind::XenstoreId),
            "file" => Some(BlockKind::BlockFile),
            "ramdisk" => Some(BlockKind::Ramdisk),
            _ => None,
        }
    }
    fn show(&self) -> String {
        match self {
            BlockKind::XenstoreId => "xenstore",
            BlockKind::BlockFile => "file",
            BlockKind::Ramdisk => "ramdisk",
        }
        .to_string()
    }
}

/// The configure-time key `[GROUP-]block` of [`generic_block`] (MirageOS's
/// `Key.block ?group ()`): read from `MIRAGE_BLOCK` (or
/// `MIRAGE_<GROUP>_BLOCK`), `ramdisk` unless set, as in MirageOS.
pub fn block_key(group: Option<&str>) -> Key<BlockKind> {
    key(&super::kv::grouped(group, "block"), BlockKind::Ramdisk)
        .doc("How generic_block devices are provided: ramdisk (the default), file or xenstore.")
}

/// The block device `name` as `key` says (the seed's `generic_block
/// ?group ?key name`): [`block_of_xenstore_id`], [`block_of_file`] or
/// [`ramdisk`] of `name`. Without `key`, the configure-time key
/// [`block_key`]`(group)` chooses (`MIRAGE_BLOCK`, default `ramdisk` as in
/// MirageOS).
#[track_caller]
pub fn generic_block(
    group: Option<&str>,
    key: Option<Value<BlockKind>>,
    name: &str,
) -> Impl<Block> {
    let choice = key.unwrap_or_else(|| block_key(group).value());
    crate::device::match_impl(
        choice,
        [
            (BlockKind::XenstoreId, block_of_xenstore_id(name)),
            (BlockKind::BlockFile, block_of_file(name)),
        ],
        &ramdisk(name),
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
