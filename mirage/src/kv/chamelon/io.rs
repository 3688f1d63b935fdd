//! Block I/O in littlefs blocks (one block is one sector of the device)
//! and the cache of metadata pairs.
//!
//! Every address is checked against the file system's block count before
//! the device sees it, so a hostile pointer is a corruption error, not an
//! access beyond the file system.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use super::disk::{Pair, pair_key};
use super::error::{Error, corrupt};
use super::mdir::MetaPair;
use crate::block::Block;

/// At most this many blocks go to the device in one write.
pub(super) const MAX_RUN_BLOCKS: usize = 64;

/// The device seen as littlefs blocks.
#[derive(Debug)]
pub(super) struct Disk<'a, B> {
    block: &'a B,
    /// Bytes per block.
    pub block_size: usize,
    /// Blocks of the file system.
    pub block_count: u32,
}

impl<'a, B: Block> Disk<'a, B> {
    /// The first `block_count` blocks of `block`, `block_size` bytes each
    /// (the device's sector size).
    pub(super) fn new(block: &'a B, block_size: usize, block_count: u32) -> Self {
        Disk {
            block,
            block_size,
            block_count,
        }
    }

    fn check(&self, first: u32, count: usize) -> Result<(), Error> {
        match u64::from(first).checked_add(count as u64) {
            Some(end) if end <= u64::from(self.block_count) => Ok(()),
            _ => Err(corrupt(format!(
                "block {first} is beyond the file system's {} blocks",
                self.block_count
            ))),
        }
    }

    /// Reads block `n`.
    pub(super) async fn read(&self, n: u32) -> Result<Vec<u8>, Error> {
        self.check(n, 1)?;
        let mut buf = vec![0u8; self.block_size];
        self.block.read(u64::from(n), &mut buf).await?;
        Ok(buf)
    }

    /// Reads both blocks of a pair (in one access when they are adjacent
    /// and both readable), each with its own result.
    pub(super) async fn read_pair(
        &self,
        pair: Pair,
    ) -> (Result<Vec<u8>, Error>, Result<Vec<u8>, Error>) {
        let size = self.block_size;
        let lo = pair[0].min(pair[1]);
        if pair[0].abs_diff(pair[1]) == 1 && self.check(lo, 2).is_ok() {
            let mut buf = vec![0u8; 2 * size];
            if self.block.read(u64::from(lo), &mut buf).await.is_ok() {
                let second = buf.split_off(size);
                return if pair[0] == lo {
                    (Ok(buf), Ok(second))
                } else {
                    (Ok(second), Ok(buf))
                };
            }
        }
        (self.read(pair[0]).await, self.read(pair[1]).await)
    }

    /// Writes whole blocks from `first` on.
    pub(super) async fn write(&self, first: u32, data: &[u8]) -> Result<(), Error> {
        self.check(first, data.len() / self.block_size)?;
        self.block.write(u64::from(first), data).await?;
        Ok(())
    }
}

/// Recently used metadata pairs, by their blocks (in either order). The
/// store is the only writer of its device, so an entry stays valid until
/// the store itself writes the pair (which replaces it) or frees it
/// (which evicts it).
#[derive(Debug, Default)]
pub(super) struct Cache {
    map: BTreeMap<(u32, u32), (u64, Rc<MetaPair>)>,
    clock: u64,
}

impl Cache {
    /// Pairs kept at most.
    const CAPACITY: usize = 128;

    /// The cached state of `pair`.
    pub(super) fn get(&mut self, pair: Pair) -> Option<Rc<MetaPair>> {
        self.clock += 1;
        let now = self.clock;
        self.map.get_mut(&pair_key(pair)).map(|(used, mp)| {
            *used = now;
            Rc::clone(mp)
        })
    }

    /// Remembers `mp`, forgetting the least recently used pair if full.
    pub(super) fn put(&mut self, mp: Rc<MetaPair>) {
        self.clock += 1;
        if self.map.len() >= Self::CAPACITY
            && !self.map.contains_key(&pair_key(mp.pair))
            && let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| *k)
        {
            self.map.remove(&oldest);
        }
        self.map.insert(pair_key(mp.pair), (self.clock, mp));
    }

    /// Forgets `pair` (freed).
    pub(super) fn evict(&mut self, pair: Pair) {
        self.map.remove(&pair_key(pair));
    }
}
