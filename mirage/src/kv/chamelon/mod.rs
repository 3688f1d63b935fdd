//! `chamelon`: a littlefs (version 2) file system on a block device as a
//! read-write key-value store, on-disk compatible with the littlefs
//! reference implementation (as MirageOS's chamelon is).
//!
//! # On disk
//!
//! The littlefs block size is the device's sector size; the program size
//! (`program_block_size`, 16 by default in MirageOS) aligns commits. Keys
//! are paths: values are regular files, dictionaries directories. Small
//! values (up to an eighth of a block, at most 1022 bytes) are stored
//! inline in their directory's metadata pair, larger ones as CTZ
//! skip-lists. Images written here are littlefs 2.1 images the reference
//! implementation reads and modifies, and the other way round (2.0 images
//! are kept 2.0: their commits get no forward CRC).
//!
//! Each value and directory carries its modification time as the user
//! attribute `0x74` that MirageOS's chamelon writes: 12 bytes, the days
//! since the epoch (signed 32 bits) then the picoseconds of the day (64
//! bits), little-endian. Entries without it (made by other littlefs tools)
//! report the epoch. A directory's `last_modified` is the latest of its
//! own time and its direct entries' (as chamelon's: one level deep).
//! `digest` is SHA-256: of a value's bytes; of a directory,
//! [`crate::kv::ro::dictionary_digest`] of its entries (as every store of
//! this crate).
//!
//! # Power loss
//!
//! Every change reaches the disk as copy-on-write data blocks followed by
//! one commit into the *other* block of a metadata pair (the module `fs` explains
//! the protocol), so after a power loss at any write the file system
//! mounts, each value is at its old or its new content, and the reference
//! implementation's recovery (pending moves, orphans) is done on the next
//! change. Operations touching several values (a recursive remove, a
//! `set` creating directories) are sequences of such atomic steps.
//!
//! # Hostile images
//!
//! A corrupt or hostile image gives [`Error::Corrupt`] (as
//! `KvError::Store`), never a panic, a hang or an allocation beyond the
//! device's size: see the modules `mdir`, `ctz` and `fs` for the bounds.
//!
//! # Mounting and formatting
//!
//! [`Chamelon::mount`] rejects a device without a littlefs file system
//! ([`Error::NotFormatted`]) or with a damaged one. [`Chamelon::connect`],
//! which the `chamelon` device of `mirage-build` uses, rejects a damaged or
//! unusable file system but accepts a device it cannot mount for want of a
//! file system (not formatted, or unreadable: an encrypted device never
//! written); every operation then fails with that reason until
//! [`Chamelon::format`] formats the device. [`format`] formats a device
//! without mounting it (MirageOS's `chamelon format`).

mod crc;
mod ctz;
mod disk;
mod error;
mod fs;
mod io;
mod kv;
mod lock;
mod lookahead;
mod mdir;
mod tag;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use spin::Mutex;

pub use error::Error;

use crate::Pclock;
use crate::block::Block;
use crate::kv::{Key, Kind, KvError, KvRo, KvRw, Timestamp};
use fs::{Fs, State};
use io::Disk;
use lock::Turnstile;

/// MirageOS's default program block size.
pub const DEFAULT_PROGRAM_BLOCK_SIZE: u32 = 16;

/// Formats `block` as an empty littlefs file system whose block size is
/// the device's sector size; `program_block_size` aligns its commits (a
/// power of two, at most the sector size). Erases whatever the device held
/// as far as littlefs is concerned.
pub async fn format<B: Block>(block: &B, program_block_size: u32) -> Result<(), Error> {
    fs::format(block, program_block_size).await
}

/// A littlefs file system on the block device `B` as a key-value store,
/// timestamped by the clock `C` (the seed's `chamelon`).
pub struct Chamelon<B: 'static, C: 'static> {
    block: &'static B,
    clock: &'static C,
    program_block_size: u32,
    turnstile: Turnstile,
    /// The mounted state between operations; `None` until mounted, or
    /// after an operation that changed the disk failed or was cancelled
    /// (the next operation mounts again).
    state: Mutex<Option<State>>,
}

impl<B: Block, C: Pclock> core::fmt::Debug for Chamelon<B, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Chamelon")
            .field("block", &self.block.info())
            .field("program_block_size", &self.program_block_size)
            .finish_non_exhaustive()
    }
}

impl<B: Block, C: Pclock> Chamelon<B, C> {
    fn unmounted(block: &'static B, clock: &'static C, program_block_size: u32) -> Self {
        Chamelon {
            block,
            clock,
            program_block_size,
            turnstile: Turnstile::default(),
            state: Mutex::new(None),
        }
    }

    /// Mounts the file system on `block`: an error if the device holds
    /// none ([`Error::NotFormatted`]), a damaged one, or one it cannot use.
    pub async fn mount(
        block: &'static B,
        clock: &'static C,
        program_block_size: u32,
    ) -> Result<Self, Error> {
        let fs = Fs::mount(block, program_block_size).await?;
        let store = Self::unmounted(block, clock, program_block_size);
        *store.state.lock() = Some(fs.st);
        Ok(store)
    }

    /// Connects the store as the `chamelon` device does: as [`mount`], but
    /// a device without a file system (not formatted, or unreadable) gives
    /// a store whose operations report why until [`Chamelon::format`].
    ///
    /// [`mount`]: Chamelon::mount
    pub async fn connect(
        block: &'static B,
        clock: &'static C,
        program_block_size: u32,
    ) -> Result<Self, Error> {
        match Self::mount(block, clock, program_block_size).await {
            Ok(store) => Ok(store),
            Err(e @ (Error::NotFormatted | Error::Io(_))) => {
                log::warn!(target: "chamelon", "{e}; the store is usable once formatted");
                Ok(Self::unmounted(block, clock, program_block_size))
            }
            Err(e) => Err(e),
        }
    }

    /// Formats the device (erasing the file system it held) and mounts the
    /// fresh, empty file system.
    pub async fn format(&self) -> Result<(), Error> {
        let _pass = self.turnstile.enter().await;
        *self.state.lock() = None;
        fs::format(self.block, self.program_block_size).await?;
        let fs = Fs::mount(self.block, self.program_block_size).await?;
        *self.state.lock() = Some(fs.st);
        Ok(())
    }

    /// Mounts the file system if it is not mounted: `Ok` if the store is
    /// usable, else why not ([`Error::NotFormatted`]...).
    pub async fn check(&self) -> Result<(), Error> {
        let _pass = self.turnstile.enter().await;
        let state = self.take().await?;
        *self.state.lock() = Some(state);
        Ok(())
    }

    /// The block device under the store.
    pub fn device(&self) -> &'static B {
        self.block
    }

    /// The program block size commits are aligned to.
    pub fn program_block_size(&self) -> u32 {
        self.program_block_size
    }

    async fn take(&self) -> Result<State, Error> {
        let taken = self.state.lock().take();
        match taken {
            Some(state) => Ok(state),
            None => Ok(Fs::mount(self.block, self.program_block_size).await?.st),
        }
    }

    /// Runs `op` on the mounted file system, one operation at a time. An
    /// operation that writes first completes what a power loss left
    /// undone; if it fails, the in-memory state is dropped and the next
    /// operation mounts afresh from the disk.
    async fn run<R>(
        &self,
        write: bool,
        op: impl AsyncFnOnce(&mut Fs<'static, B>) -> Result<R, Error>,
    ) -> Result<R, KvError> {
        let _pass = self.turnstile.enter().await;
        let state = self.take().await?;
        let mut fs = Fs {
            disk: Disk::new(
                self.block,
                state.cfg.layout.block_size,
                state.cfg.block_count,
            ),
            st: state,
        };
        let result = if write {
            fs.st.alloc.checkpoint();
            match fs.make_consistent().await {
                Ok(()) => op(&mut fs).await,
                Err(e) => Err(e),
            }
        } else {
            op(&mut fs).await
        };
        if result.is_ok() || !write {
            *self.state.lock() = Some(fs.st);
        }
        result.map_err(KvError::from)
    }
}

impl<B: Block, C: Pclock> KvRo for Chamelon<B, C> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        self.run(false, async |fs| fs.exists(key).await).await
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        self.run(false, async |fs| fs.get(key, 0, None).await).await
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        self.run(false, async |fs| fs.get(key, offset, Some(length)).await)
            .await
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        self.run(false, async |fs| fs.list(key).await).await
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        self.run(false, async |fs| fs.last_modified(key).await)
            .await
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        self.run(false, async |fs| fs.digest(key).await).await
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        self.run(false, async |fs| fs.size(key).await).await
    }
}

impl<B: Block, C: Pclock> KvRw for Chamelon<B, C> {
    async fn set(&self, key: &Key, value: &[u8]) -> Result<(), KvError> {
        let now = self.clock.now_d_ps();
        self.run(true, async |fs| fs.set(key, value, now).await)
            .await
    }

    async fn set_partial(&self, key: &Key, offset: u64, data: &[u8]) -> Result<(), KvError> {
        let now = self.clock.now_d_ps();
        self.run(true, async |fs| {
            fs.set_partial(key, offset, data, now).await
        })
        .await
    }

    async fn remove(&self, key: &Key) -> Result<(), KvError> {
        self.run(true, async |fs| fs.remove(key).await).await
    }

    async fn rename(&self, source: &Key, dest: &Key) -> Result<(), KvError> {
        let now = self.clock.now_d_ps();
        self.run(true, async |fs| fs.rename(source, dest, now).await)
            .await
    }

    async fn allocate(&self, key: &Key, size: u64) -> Result<(), KvError> {
        let now = self.clock.now_d_ps();
        self.run(true, async |fs| fs.allocate(key, size, now).await)
            .await
    }
}
