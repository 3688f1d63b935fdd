//! [`TarKvRw`]: a read-write store over a tar archive on a block device
//! (the seed's `tar_kv_rw`), as `Tar_mirage.Make_KV_RW` of ocaml-tar.
//!
//! The archive stays a tar archive that GNU tar lists and extracts: every
//! write appends POSIX ustar entries (with a pax header when a name or size
//! does not fit ustar) after the last entry, followed by the two zero
//! blocks that end an archive. The store is append-only, so:
//!
//! - `set` appends a new entry; setting an existing value appends another
//!   entry of the same name, which replaces the earlier one (the reader
//!   keeps the last, as extracting does), and the earlier entry's space
//!   stays used;
//! - `allocate` appends an entry of zeros (the key must not exist);
//! - `set_partial` writes in place, only within a value's size (growing a
//!   value is refused, as in ocaml-tar): it is not atomic;
//! - `remove` only removes the archive's last entry, and only when no
//!   earlier entry has the same name (which would otherwise come back);
//!   dictionaries cannot be removed;
//! - `rename` rewrites a value's ustar header in place: only a value whose
//!   entry is the only one of its name, whose header has no extended header
//!   before it, whose new name fits the ustar name fields, and with no entry
//!   of the new name after it; dictionaries cannot be renamed.
//!
//! Every refused operation is a [`KvError::NotSupported`] saying why.
//!
//! Crash safety: an append writes everything past the archive's current
//! end first (the entry's later sectors, its padding, the new end-of-archive
//! zero blocks) and the sector holding the entry's first header block last.
//! Until that last write the archive still ends where it did (its first
//! zero block is untouched), so a device failing at any write leaves the
//! earlier archive whole: [`TarKvRw::connect`] and GNU tar read it, ignoring
//! the unfinished entry after the zero block (GNU tar warns about "a lone
//! zero block"), and the next append overwrites it. `remove` zeroes the
//! removed entry's first header block first, so it is gone at once; a
//! `rename` is one sector write. Header blocks never straddle sectors, so
//! the sector size must be a multiple of 512.
//!
//! Operations are serialized by a [`Lock`]. The default
//! [`KvRw::batch`] applies: each operation is applied and durable when it
//! returns.

mod header;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use header::BLOCK;
use spin::Mutex;

use super::ro::index::Index;
use super::ro::tar::{
    Entry, EntryKind, Extent, LoneZero, index_entry, read_bytes, scan, timestamp,
};
use super::{Key, Kind, KvError, KvRo, KvRw, Timestamp};
use crate::Pclock;
use crate::block::{Block, BlockError, BlockInfo};
use crate::rt::Lock;

/// How much is written to the device at once.
const CHUNK: u64 = 64 * 1024;
/// The two zero blocks that end an archive.
const SENTINEL: u64 = 2 * BLOCK as u64;

/// What the store knows of the archive.
struct State {
    /// Every entry, in archive order.
    entries: Vec<Entry>,
    /// The keys the entries make, the last entry of a name winning.
    index: Index<Extent>,
    /// Where the archive ends (its first zero block): where appends go.
    end: u64,
}

/// A read-write store over the tar archive on the block device `B`,
/// timestamped by the clock `C` (see the module documentation).
pub struct TarKvRw<'a, B: Block, C: 'static> {
    block: &'a B,
    clock: &'static C,
    info: BlockInfo,
    device_size: u64,
    /// Held by every operation, across its device accesses; `state` is
    /// only touched while it is held.
    lock: Lock,
    state: Mutex<State>,
}

impl<B: Block, C> core::fmt::Debug for TarKvRw<'_, B, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TarKvRw")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The bytes of a value being appended.
enum Data<'d> {
    Bytes(&'d [u8]),
    Zeros(u64),
}

/// An entry being appended at `at`: `headers`, the data, zero padding to a
/// whole block, then the two zero blocks of the archive's new end.
struct Append<'d> {
    at: u64,
    headers: Vec<u8>,
    data: Data<'d>,
}

impl Append<'_> {
    fn data_len(&self) -> u64 {
        match self.data {
            Data::Bytes(b) => b.len() as u64,
            Data::Zeros(n) => n,
        }
    }

    /// Where the entry (its padding included) ends; `None` on overflow.
    fn entry_end(&self) -> Option<u64> {
        self.at
            .checked_add(self.headers.len() as u64)?
            .checked_add(self.data_len())?
            .checked_next_multiple_of(BLOCK as u64)
    }

    /// Fills `out` with the bytes the append puts at `pos..` (all of it
    /// within the entry and the zero blocks after it).
    fn fill(&self, pos: u64, out: &mut [u8]) {
        let headers_end = self.at + self.headers.len() as u64;
        let mut out = out;
        if pos < headers_end {
            let from = (pos - self.at) as usize;
            let n = (self.headers.len() - from).min(out.len());
            out[..n].copy_from_slice(&self.headers[from..from + n]);
            out = &mut out[n..];
        }
        let skip = pos.saturating_sub(headers_end) as usize;
        let copied = match self.data {
            Data::Bytes(b) if skip < b.len() => {
                let n = (b.len() - skip).min(out.len());
                out[..n].copy_from_slice(&b[skip..skip + n]);
                n
            }
            _ => 0,
        };
        out[copied..].fill(0);
    }
}

/// A device error while writing, described.
fn device(what: &str, e: BlockError) -> KvError {
    match e {
        BlockError::ReadOnly => {
            KvError::NotSupported(String::from("tar_kv_rw: the block device is read-only"))
        }
        e => KvError::Store(alloc::format!("tar_kv_rw: {what}: {e}")),
    }
}

/// Refused because the archive is append-only.
fn append_only(why: impl core::fmt::Display) -> KvError {
    KvError::NotSupported(alloc::format!("tar_kv_rw is append-only: {why}"))
}

/// The index the `entries` make.
fn rebuild(entries: &[Entry]) -> Result<Index<Extent>, KvError> {
    let mut index = Index::new((0, 0));
    for entry in entries {
        index_entry(&mut index, entry)?;
    }
    Ok(index)
}

/// Whether `entry` names `key`, as a value or a dictionary.
fn names(entry: &Entry, key: &Key) -> bool {
    matches!(&entry.kind, EntryKind::Value(k) | EntryKind::Dictionary(k) if k == key)
}

impl<'a, B: Block, C: Pclock> TarKvRw<'a, B, C> {
    /// Reads the archive on `block` (an empty one if the device starts
    /// with zeros), recovering from an append that was interrupted.
    pub async fn connect(block: &'a B, clock: &'static C) -> Result<Self, KvError> {
        let info = block.info();
        if info.sector_size < BLOCK as u32 || !info.sector_size.is_multiple_of(BLOCK as u32) {
            return Err(KvError::Store(alloc::format!(
                "tar_kv_rw: the sector size {} is not a multiple of 512",
                info.sector_size
            )));
        }
        let device_size = u64::from(info.sector_size)
            .checked_mul(info.size_sectors)
            .ok_or_else(|| KvError::Store("tar_kv_rw: the device's size overflows".into()))?;
        let mut entries = Vec::new();
        let end = scan(block, LoneZero::End, |entry| {
            entries.push(entry);
            Ok(())
        })
        .await?;
        let index = rebuild(&entries)?;
        Ok(TarKvRw {
            block,
            clock,
            info,
            device_size,
            lock: Lock::new(),
            state: Mutex::new(State {
                entries,
                index,
                end,
            }),
        })
    }

    /// The bytes of the archive not used yet (what an append may take,
    /// headers and the two end blocks included).
    pub async fn free(&self) -> u64 {
        let _held = self.lock.lock().await;
        self.device_size.saturating_sub(self.state.lock().end)
    }

    /// Now, in whole seconds since the epoch (as ustar stores it; before
    /// the epoch is the epoch).
    fn now_seconds(&self) -> u64 {
        let (days, ps) = self.clock.now_d_ps();
        let seconds = i128::from(days) * 86_400 + i128::from(ps / 1_000_000_000_000);
        u64::try_from(seconds.max(0)).unwrap_or(u64::MAX)
    }

    fn writable(&self) -> Result<(), KvError> {
        if self.info.read_write {
            Ok(())
        } else {
            Err(KvError::NotSupported(String::from(
                "tar_kv_rw: the block device is read-only",
            )))
        }
    }

    /// Writes the sectors covering `from..to`, each byte of the range set
    /// by `fill(position, bytes)`; the sectors' other bytes are read first
    /// and kept. At most [`CHUNK`] bytes are written at once, in order.
    async fn write_region(
        &self,
        from: u64,
        to: u64,
        fill: impl Fn(u64, &mut [u8]),
    ) -> Result<(), KvError> {
        let s = u64::from(self.info.sector_size);
        let mut sector = from / s;
        let end_sector = to.div_ceil(s);
        let per_write = (CHUNK / s).max(1);
        while sector < end_sector {
            let n = per_write.min(end_sector - sector);
            let pos = sector * s;
            let mut buf = vec![0u8; (n * s) as usize];
            let lo = pos.max(from);
            let hi = (pos + n * s).min(to);
            if lo > pos || hi < pos + n * s {
                self.block
                    .read(sector, &mut buf)
                    .await
                    .map_err(|e| device("reading before a write", e))?;
            }
            fill(lo, &mut buf[(lo - pos) as usize..(hi - pos) as usize]);
            self.block
                .write(sector, &buf)
                .await
                .map_err(|e| device("writing", e))?;
            sector += n;
        }
        Ok(())
    }

    /// Appends `app` (whose `at` is the archive's end): everything after
    /// the sector holding `at` first, that sector last (the commit). Fails
    /// with [`KvError::NoSpace`] if it does not fit with the end blocks.
    async fn append(&self, app: &Append<'_>) -> Result<u64, KvError> {
        let entry_end = app.entry_end().ok_or(KvError::NoSpace)?;
        let total_end = entry_end.checked_add(SENTINEL).ok_or(KvError::NoSpace)?;
        if total_end > self.device_size {
            return Err(KvError::NoSpace);
        }
        let s = u64::from(self.info.sector_size);
        let commit_end = (app.at / s + 1) * s;
        if total_end > commit_end {
            self.write_region(commit_end, total_end, |p, b| app.fill(p, b))
                .await?;
        }
        self.write_region(app.at, total_end.min(commit_end), |p, b| app.fill(p, b))
            .await?;
        Ok(entry_end)
    }

    /// The path stored for a new value at `key` (no leading `/`), after
    /// checking the key can be a value: not the root, no `.`, `..` or NUL
    /// in its segments, not a dictionary, no value above it.
    fn new_value_path(state: &State, key: &Key) -> Result<String, KvError> {
        if key.is_root() {
            return Err(KvError::ValueExpected(key.clone()));
        }
        if key
            .segments()
            .iter()
            .any(|s| s == "." || s == ".." || s.contains('\0'))
        {
            return Err(KvError::NotSupported(alloc::format!(
                "{key}: `.`, `..` and NUL are not names in a tar archive"
            )));
        }
        let mut prefix = Key::root();
        for segment in &key.segments()[..key.segments().len() - 1] {
            prefix = prefix.add(segment);
            if state.index.exists(&prefix) == Some(Kind::Value) {
                return Err(KvError::DictionaryExpected(prefix));
            }
        }
        if state.index.exists(key) == Some(Kind::Dictionary) {
            return Err(KvError::ValueExpected(key.clone()));
        }
        Ok(key.segments().join("/"))
    }

    /// Appends a value at `key` whose contents are `data`.
    async fn append_value(&self, key: &Key, data: Data<'_>) -> Result<(), KvError> {
        self.writable()?;
        let mut state = self.state.lock();
        let path = Self::new_value_path(&state, key)?;
        let seconds = self.now_seconds();
        let size = match data {
            Data::Bytes(b) => b.len() as u64,
            Data::Zeros(n) => n,
        };
        let app = Append {
            at: state.end,
            headers: header::file_headers(&path, size, seconds),
            data,
        };
        let entry_end = self.append(&app).await?;
        let header_at = app.at + app.headers.len() as u64 - BLOCK as u64;
        let entry = Entry {
            start: app.at,
            header: header_at,
            extent: Extent {
                offset: header_at + BLOCK as u64,
                size,
            },
            mtime: timestamp(i128::from(seconds), 0),
            kind: EntryKind::Value(key.clone()),
        };
        index_entry(&mut state.index, &entry)?;
        state.entries.push(entry);
        state.end = entry_end;
        Ok(())
    }

    async fn read(&self, extent: Extent, from: u64, len: u64) -> Result<Vec<u8>, KvError> {
        read_bytes(self.block, &self.info, extent.offset + from, len).await
    }
}

impl<B: Block, C: Pclock> KvRo for TarKvRw<'_, B, C> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        let _held = self.lock.lock().await;
        Ok(self.state.lock().index.exists(key))
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let _held = self.lock.lock().await;
        let extent = *self.state.lock().index.value(key)?;
        self.read(extent, 0, extent.size).await
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        let _held = self.lock.lock().await;
        let extent = *self.state.lock().index.value(key)?;
        let range = super::ro::partial_range(extent.size, offset, length);
        self.read(extent, range.start, range.end - range.start)
            .await
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        let _held = self.lock.lock().await;
        self.state.lock().index.list(key)
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        let _held = self.lock.lock().await;
        self.state.lock().index.mtime(key)
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let _held = self.lock.lock().await;
        // Nobody else touches the state while the lock is held.
        let state = self.state.lock();
        let digest = state
            .index
            .digest(key, async |extent: &Extent| {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                let mut done = 0;
                while done < extent.size {
                    let n = (extent.size - done).min(CHUNK * 16);
                    h.update(self.read(*extent, done, n).await?);
                    done += n;
                }
                Ok(h.finalize().into())
            })
            .await?;
        Ok(digest.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        let _held = self.lock.lock().await;
        Ok(self.state.lock().index.value(key)?.size)
    }
}

impl<B: Block, C: Pclock> KvRw for TarKvRw<'_, B, C> {
    /// Appends an entry (replacing an earlier value of that name).
    async fn set(&self, key: &Key, value: &[u8]) -> Result<(), KvError> {
        let _held = self.lock.lock().await;
        self.append_value(key, Data::Bytes(value)).await
    }

    /// Writes in place, within the value's size only.
    async fn set_partial(&self, key: &Key, offset: u64, data: &[u8]) -> Result<(), KvError> {
        let _held = self.lock.lock().await;
        self.writable()?;
        let extent = *self.state.lock().index.value(key)?;
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= extent.size)
            .ok_or_else(|| {
                append_only(alloc::format!(
                    "set_partial of {key} writes within its {} bytes only",
                    extent.size
                ))
            })?;
        if data.is_empty() {
            return Ok(());
        }
        let from = extent.offset + offset;
        self.write_region(from, extent.offset + end, |p, out| {
            let at = (p - from) as usize;
            out.copy_from_slice(&data[at..at + out.len()]);
        })
        .await
    }

    /// Removes the archive's last entry (see the module documentation).
    async fn remove(&self, key: &Key) -> Result<(), KvError> {
        let _held = self.lock.lock().await;
        self.writable()?;
        let mut state = self.state.lock();
        match state.index.exists(key) {
            None => return Err(KvError::NotFound(key.clone())),
            Some(Kind::Dictionary) => {
                return Err(append_only(alloc::format!(
                    "the dictionary {key} cannot be removed"
                )));
            }
            Some(Kind::Value) => {}
        }
        let Some((last, earlier)) = state.entries.split_last() else {
            return Err(KvError::NotFound(key.clone()));
        };
        if last.kind != EntryKind::Value(key.clone()) {
            return Err(append_only(alloc::format!(
                "only the last entry can be removed, and {key} is not it"
            )));
        }
        if earlier.iter().any(|e| names(e, key)) {
            return Err(append_only(alloc::format!(
                "{key} has an earlier entry, which removing the last would bring back"
            )));
        }
        let start = last.start;
        let index = rebuild(earlier)?;
        // The entry's first block goes first: from then on it is gone.
        let s = u64::from(self.info.sector_size);
        let sector_end = (start / s + 1) * s;
        let zeros_end = start + SENTINEL;
        self.write_region(start, sector_end, |_, out| out.fill(0))
            .await?;
        if zeros_end > sector_end {
            self.write_region(sector_end, zeros_end, |_, out| out.fill(0))
                .await?;
        }
        state.entries.pop();
        state.index = index;
        state.end = start;
        Ok(())
    }

    /// Renames a value by rewriting its header (see the module
    /// documentation).
    async fn rename(&self, source: &Key, dest: &Key) -> Result<(), KvError> {
        let _held = self.lock.lock().await;
        self.writable()?;
        let mut state = self.state.lock();
        match state.index.exists(source) {
            None => return Err(KvError::NotFound(source.clone())),
            Some(Kind::Dictionary) if source != dest => {
                return Err(append_only(alloc::format!(
                    "the dictionary {source} cannot be renamed"
                )));
            }
            Some(_) => {}
        }
        if source == dest {
            return Ok(());
        }
        let path = Self::new_value_path(&state, dest)?;
        let mut found = state
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| names(e, source));
        let (i, entry) = match (found.next(), found.next()) {
            (Some(one), None) => one,
            _ => {
                return Err(append_only(alloc::format!(
                    "{source} has several entries and cannot be renamed"
                )));
            }
        };
        if entry.start != entry.header {
            return Err(append_only(alloc::format!(
                "{source} has an extended header and cannot be renamed in place"
            )));
        }
        if state.entries[i + 1..].iter().any(|e| names(e, dest)) {
            return Err(append_only(alloc::format!(
                "a later entry of {dest} would hide {source} renamed"
            )));
        }
        let header_at = entry.header;
        let old = read_bytes(self.block, &self.info, header_at, BLOCK as u64).await?;
        let new = header::renamed(&old, &path).ok_or_else(|| {
            append_only(alloc::format!(
                "{dest} does not fit the ustar name fields of {source}'s header"
            ))
        })?;
        let mut entries = state.entries.clone();
        entries[i].kind = EntryKind::Value(dest.clone());
        let index = rebuild(&entries)?;
        self.write_region(header_at, header_at + BLOCK as u64, |_, out| {
            out.copy_from_slice(&new)
        })
        .await?;
        state.entries = entries;
        state.index = index;
        Ok(())
    }

    /// Appends an entry of `size` zero bytes (the key must not exist).
    async fn allocate(&self, key: &Key, size: u64) -> Result<(), KvError> {
        let _held = self.lock.lock().await;
        if self.state.lock().index.exists(key).is_some() {
            return Err(KvError::NotSupported(alloc::format!(
                "allocate: {key} exists"
            )));
        }
        self.append_value(key, Data::Zeros(size)).await
    }
}

#[cfg(test)]
mod tests;
