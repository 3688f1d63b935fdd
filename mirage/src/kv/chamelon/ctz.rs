//! CTZ skip-lists: how littlefs lays out files too large to inline
//! (DESIGN.md, "CTZ skip-lists"; SPEC.md, `LFS_TYPE_CTZSTRUCT`).
//!
//! A file is a list of blocks, stored backwards from its last block (the
//! head). Block `n > 0` starts with `ctz(n) + 1` little-endian pointers,
//! pointer `x` naming block `n - 2^x`; file data fills the rest. Block 0
//! is all data. So block `n` holds `block_size - 4 (ctz(n) + 1)` bytes of
//! the file, and a byte's block is found from its offset alone.
//!
//! Reading never trusts a pointer: each is checked against the block
//! count, every walk is bounded by the number of blocks the file's size
//! implies, and a size needing more blocks than the file system has is
//! corruption.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::disk::Ctz;
use super::error::{Error, corrupt};
use super::io::Disk;
use crate::block::Block;

/// The block index holding file offset `pos`, and the offset within that
/// block (pointers included): littlefs's `lfs_ctz_index`.
pub(super) fn index(block_size: usize, pos: u64) -> (u64, usize) {
    let b = block_size as u64 - 8;
    let i = pos / b;
    if i == 0 {
        return (0, pos as usize);
    }
    let i = (pos - 4 * (u64::from((i - 1).count_ones()) + 2)) / b;
    let off = pos - b * i - 4 * u64::from(i.count_ones());
    (i, off as usize)
}

/// Bytes of pointers at the start of block `n`.
pub(super) fn header_len(n: u64) -> usize {
    if n == 0 {
        0
    } else {
        4 * (n.trailing_zeros() as usize + 1)
    }
}

/// The file offset of the first data byte of block `n`.
pub(super) fn data_start(block_size: usize, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        (block_size as u64 - 8) * n + 4 * u64::from(n.count_ones()) + header_len(n) as u64
    }
}

/// The index of a file's last block (the head), for a non-empty file.
pub(super) fn last_index(block_size: usize, size: u32) -> u64 {
    index(block_size, u64::from(size).saturating_sub(1)).0
}

fn pointer(data: &[u8], x: u64) -> u32 {
    let at = 4 * x as usize;
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Checks a file structure against the file system before it is walked.
pub(super) fn check<B: Block>(disk: &Disk<'_, B>, ctz: Ctz) -> Result<(), Error> {
    if ctz.size == 0 {
        return Ok(());
    }
    let blocks = last_index(disk.block_size, ctz.size) + 1;
    if ctz.head >= disk.block_count || blocks > u64::from(disk.block_count) {
        return Err(corrupt(format!(
            "a file of {} bytes with head block {} does not fit {} blocks",
            ctz.size, ctz.head, disk.block_count
        )));
    }
    Ok(())
}

fn checked<B: Block>(disk: &Disk<'_, B>, block: u32) -> Result<u32, Error> {
    if block < disk.block_count {
        Ok(block)
    } else {
        Err(corrupt(format!(
            "a file's skip-list points to block {block}, beyond the {} blocks",
            disk.block_count
        )))
    }
}

/// The address of block `target` of the file whose block `current` is at
/// `head`, following the largest skips that do not overshoot.
pub(super) async fn find<B: Block>(
    disk: &Disk<'_, B>,
    mut head: u32,
    mut current: u64,
    target: u64,
) -> Result<u32, Error> {
    while current > target {
        let skip = (64 - (current - target).leading_zeros() as u64 - 1)
            .min(u64::from(current.trailing_zeros()));
        let data = disk.read(head).await?;
        head = checked(disk, pointer(&data, skip))?;
        current -= 1 << skip;
    }
    Ok(head)
}

/// Bytes `[start, start + len)` of the file (fewer at its end): the
/// blocks are read once each, from the last wanted one backwards.
pub(super) async fn read<B: Block>(
    disk: &Disk<'_, B>,
    ctz: Ctz,
    start: u64,
    len: usize,
) -> Result<Vec<u8>, Error> {
    check(disk, ctz)?;
    let size = u64::from(ctz.size);
    if start >= size || len == 0 {
        return Ok(Vec::new());
    }
    let end = size.min(start.saturating_add(len as u64));
    let bs = disk.block_size;
    let (first, _) = index(bs, start);
    let (last, _) = index(bs, end - 1);
    let mut block = find(disk, ctz.head, last_index(bs, ctz.size), last).await?;
    let mut out = vec![0u8; (end - start) as usize];
    let mut n = last;
    loop {
        let data = disk.read(block).await?;
        let from = data_start(bs, n);
        let to = from + (bs - header_len(n)) as u64;
        let (lo, hi) = (from.max(start), to.min(end));
        if lo < hi {
            let at = header_len(n) + (lo - from) as usize;
            out[(lo - start) as usize..(hi - start) as usize]
                .copy_from_slice(&data[at..at + (hi - lo) as usize]);
        }
        if n == first {
            return Ok(out);
        }
        block = checked(disk, pointer(&data, 0))?;
        n -= 1;
    }
}

/// Calls `mark` with every block of the file (as littlefs's
/// `lfs_ctz_traverse`: two pointers per step where the index is even).
pub(super) async fn traverse<B: Block>(
    disk: &Disk<'_, B>,
    ctz: Ctz,
    mut mark: impl FnMut(u32),
) -> Result<(), Error> {
    check(disk, ctz)?;
    if ctz.size == 0 {
        return Ok(());
    }
    let mut head = ctz.head;
    let mut n = last_index(disk.block_size, ctz.size);
    loop {
        mark(head);
        if n == 0 {
            return Ok(());
        }
        let data = disk.read(head).await?;
        if n & 1 == 0 {
            mark(checked(disk, pointer(&data, 0))?);
            head = checked(disk, pointer(&data, 1))?;
            n -= 2;
        } else {
            head = checked(disk, pointer(&data, 0))?;
            n -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_agrees_with_the_block_layout() {
        for bs in [128usize, 512, 4096] {
            let mut pos = 0u64;
            for n in 0..600u64 {
                assert_eq!(data_start(bs, n), pos, "bs {bs} block {n}");
                let cap = (bs - header_len(n)) as u64;
                for p in [pos, pos + cap / 2, pos + cap - 1] {
                    assert_eq!(
                        index(bs, p),
                        (n, header_len(n) + (p - pos) as usize),
                        "bs {bs} pos {p}"
                    );
                }
                pos += cap;
            }
        }
    }
}
