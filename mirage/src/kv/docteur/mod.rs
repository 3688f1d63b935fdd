//! [`Docteur`]: a read-only store over a git PACK version 2 image on a
//! block device (the seed's `docteur`, after the OCaml docteur).
//!
//! # The image
//!
//! The layout docteur's `docteur.make` writes, which `mirage-build` makes
//! from a directory or a git repository with the `git` command:
//!
//! | bytes | what |
//! | --- | --- |
//! | 0..20 | the id (SHA-1) of the root commit (or tree) |
//! | 20..28 | little-endian u64: where the pack index starts in the image |
//! | 28.. | the PACK file (version 2), its trailing SHA-1 included |
//! | | zero padding to a 512-byte boundary |
//! | index.. | the pack index (`.idx` version 2) of that pack |
//! | | zero padding to a 512-byte boundary |
//!
//! Keys are the paths of the commit's tree: files (regular or executable)
//! are values, directories dictionaries; symbolic links and submodules are
//! left out. Every key was last modified when the commit was made (its
//! committer time). Digests are SHA-256, as the other stores'.
//!
//! # Modes
//!
//! [`Mode::Fast`] walks the whole tree when the store connects and keeps
//! the layout (every key and where its object lies), so a `get` decodes
//! one object. [`Mode::Light`] keeps nothing but the pack index and walks
//! the trees from the root at every access.
//!
//! # Checks
//!
//! Connecting with `analyze` (the default in `mirage-build`) verifies the
//! whole image first, as docteur's analysis does: every object is inflated
//! and its deltas resolved, its id computed and compared with the index,
//! the CRC-32 of every packed entry compared with the index's, the pack's
//! trailing SHA-1 and the index's own SHA-1 checked. Without it, only the
//! headers and the index's checksum are checked, and a corrupt object is
//! an error when it is read.
//!
//! Hostile images are errors, never a panic or a hang: objects are at most
//! [`MAX_OBJECT`] bytes (inflated, and after applying deltas), delta chains
//! at most [`MAX_DELTA_CHAIN`] long (a chain that loops is caught at once),
//! trees at most [`MAX_TREE_DEPTH`] deep with at most [`MAX_ENTRIES`]
//! entries walked in all.

mod git;
mod idx;
mod pack;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use pack::{EntryHeader, ID_LEN, Id, Kind as ObjectKind, PackError, Packed};
use spin::Mutex;

use super::ro::index::Index;
use super::ro::tar::timestamp;
use super::{Key, Kind, KvError, KvRo, Timestamp};
use crate::block::{Block, BlockInfo};

/// The largest object (inflated, or produced by a delta) decoded.
pub const MAX_OBJECT: u64 = 256 * 1024 * 1024;
/// The longest delta chain followed.
pub const MAX_DELTA_CHAIN: usize = 10_000;
/// The deepest directory served.
pub const MAX_TREE_DEPTH: usize = 256;
/// The most tree entries walked to build a layout or a digest.
pub const MAX_ENTRIES: usize = 4 * 1024 * 1024;

/// Where the pack starts in the image.
const PACK_START: u64 = 28;
/// The pack header's length.
const PACK_HEADER: u64 = 12;
/// How much compressed data is read from the device at once.
const CHUNK: u64 = 32 * 1024;
/// How many bytes of decoded objects are kept for reuse.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How the store finds keys (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The layout is walked once at start and kept.
    Fast,
    /// Nothing is kept: every access walks the trees from the root.
    Light,
}

/// A decoded object.
type Object = (ObjectKind, Arc<Vec<u8>>);

/// Recently decoded objects by offset, oldest evicted first.
#[derive(Default)]
struct Cache {
    objects: BTreeMap<u64, Object>,
    order: VecDeque<u64>,
    bytes: usize,
}

impl Cache {
    fn get(&self, at: u64) -> Option<Object> {
        self.objects.get(&at).cloned()
    }

    fn insert(&mut self, at: u64, object: Object) {
        let len = object.1.len();
        if len > CACHE_BYTES / 4 || self.objects.contains_key(&at) {
            return;
        }
        while self.bytes + len > CACHE_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, data)) = self.objects.remove(&old) {
                self.bytes -= data.len();
            }
        }
        self.bytes += len;
        self.order.push_back(at);
        self.objects.insert(at, object);
    }
}

/// A read-only store over the docteur image on the block device `B` (see
/// the module documentation).
pub struct Docteur<'a, B: Block> {
    block: &'a B,
    info: BlockInfo,
    /// Where object data may lie: up to the pack's trailer (when analysed)
    /// or the index.
    pack_end: u64,
    /// The pack index, whole.
    idx: Vec<u8>,
    layout: idx::Layout,
    root_tree: Id,
    mtime: Timestamp,
    /// `Fast`: every key, values with the offset of their blob.
    tree: Option<Index<u64>>,
    cache: Mutex<Cache>,
}

impl<B: Block> core::fmt::Debug for Docteur<'_, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Docteur")
            .field("objects", &self.layout.n)
            .field("fast", &self.tree.is_some())
            .finish_non_exhaustive()
    }
}

fn corrupt(what: impl core::fmt::Display) -> KvError {
    KvError::Store(alloc::format!("docteur: {what}"))
}

fn pack_error(at: u64) -> impl Fn(PackError) -> KvError {
    move |e| corrupt(alloc::format!("object at offset {at}: {e}"))
}

fn hex(id: &Id) -> String {
    id.iter().map(|b| alloc::format!("{b:02x}")).collect()
}

impl<'a, B: Block> Docteur<'a, B> {
    /// Opens the image on `block` in `mode`, verifying it whole first if
    /// `analyze` (see the module documentation).
    pub async fn connect(block: &'a B, mode: Mode, analyze: bool) -> Result<Self, KvError> {
        let info = block.info();
        let device_size = u64::from(info.sector_size)
            .checked_mul(info.size_sectors)
            .ok_or_else(|| corrupt("the device's size overflows"))?;
        let read = |offset: u64, len: u64| async move {
            crate::block::read_bytes(block, &info, offset, len)
                .await
                .map_err(|e| corrupt(alloc::format!("reading {len} bytes at {offset}: {e}")))
        };
        if device_size < PACK_START + PACK_HEADER {
            return Err(corrupt("the device is too small for an image"));
        }
        let head = read(0, PACK_START + PACK_HEADER).await?;
        let mut root = [0; ID_LEN];
        root.copy_from_slice(&head[..ID_LEN]);
        let mut raw = [0; 8];
        raw.copy_from_slice(&head[ID_LEN..PACK_START as usize]);
        let idx_at = u64::from_le_bytes(raw);
        if idx_at < PACK_START + PACK_HEADER + ID_LEN as u64
            || idx_at.saturating_add(idx::Layout::HEADER_LEN as u64) > device_size
        {
            return Err(corrupt(alloc::format!(
                "the index offset {idx_at} is outside the image"
            )));
        }
        let count = pack::parse_header(&head[PACK_START as usize..]).map_err(corrupt)?;
        // The index: header, then its tables, then its large offsets.
        let fixed = idx::Layout::parse(&read(idx_at, idx::Layout::HEADER_LEN as u64).await?)
            .map_err(corrupt)?;
        if fixed.n != count {
            return Err(corrupt(alloc::format!(
                "the pack holds {count} objects and its index {}",
                fixed.n
            )));
        }
        let fixed_len = fixed.fixed_len() as u64;
        if idx_at.saturating_add(fixed_len) > device_size {
            return Err(corrupt("the index runs past the device's end"));
        }
        let mut idx = read(idx_at, fixed_len).await?;
        let total = fixed.total_len(fixed.large_count(&idx).map_err(corrupt)?) as u64;
        if idx_at.saturating_add(total) > device_size {
            return Err(corrupt("the index runs past the device's end"));
        }
        idx = read(idx_at, total).await?;
        {
            use sha1::{Digest, Sha1};
            let (body, sum) = idx.split_at(idx.len() - ID_LEN);
            if Sha1::digest(body).as_slice() != sum {
                return Err(corrupt("the index's checksum does not match"));
            }
        }
        let mut store = Docteur {
            block,
            info,
            pack_end: idx_at,
            idx,
            layout: fixed,
            root_tree: [0; ID_LEN],
            mtime: (0, 0),
            tree: None,
            cache: Mutex::new(Cache::default()),
        };
        if analyze {
            store.analyze().await?;
        }
        let root_at = store
            .lookup(&root)?
            .ok_or_else(|| corrupt(alloc::format!("the root {} is not in the pack", hex(&root))))?;
        let (kind, data) = store.object(root_at).await?;
        let (tree, seconds) = match kind {
            ObjectKind::Commit => git::parse_commit(&data).map_err(pack_error(root_at))?,
            ObjectKind::Tree => (root, 0),
            _ => return Err(corrupt("the root is neither a commit nor a tree")),
        };
        store.root_tree = tree;
        store.mtime = timestamp(i128::from(seconds), 0);
        if mode == Mode::Fast {
            store.tree = Some(store.walk(&Key::root(), tree).await?);
        }
        Ok(store)
    }

    /// Reads `len` bytes of object data at `at`, which must lie in the pack.
    async fn read(&self, at: u64, len: u64) -> Result<Vec<u8>, KvError> {
        if at < PACK_START + PACK_HEADER || at.saturating_add(len) > self.pack_end {
            return Err(corrupt(alloc::format!(
                "object data at {at} ({len} bytes) lies outside the pack"
            )));
        }
        crate::block::read_bytes(self.block, &self.info, at, len)
            .await
            .map_err(|e| corrupt(alloc::format!("reading {len} bytes at {at}: {e}")))
    }

    /// The header of the object at `at`.
    async fn header(&self, at: u64) -> Result<EntryHeader, KvError> {
        let len = (self.pack_end.saturating_sub(at)).min(32);
        let bytes = self.read(at, len).await?;
        let h = pack::parse_entry(&bytes).map_err(pack_error(at))?;
        if h.size > MAX_OBJECT {
            return Err(corrupt(alloc::format!(
                "object at offset {at}: {} bytes is more than {MAX_OBJECT}",
                h.size
            )));
        }
        Ok(h)
    }

    /// Inflates the zlib stream at `at` into exactly `size` bytes; returns
    /// them and the stream's compressed length.
    async fn inflate(&self, at: u64, size: u64) -> Result<(Vec<u8>, u64), KvError> {
        use miniz_oxide::inflate::stream::{InflateState, inflate};
        use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
        let bad = |what: &str| corrupt(alloc::format!("object data at offset {at}: {what}"));
        if size > MAX_OBJECT {
            return Err(bad("too large"));
        }
        // One byte more than announced, to catch a stream that has more.
        let limit = size as usize + 1;
        let mut state = InflateState::new_boxed(DataFormat::Zlib);
        let mut out = vec![0u8; limit.min(64 * 1024)];
        let mut written = 0;
        let mut input = Vec::new();
        let mut used = 0;
        let mut next = at;
        loop {
            if used == input.len() {
                let n = self.pack_end.saturating_sub(next).min(CHUNK);
                if n == 0 {
                    return Err(bad("the zlib stream runs past the pack"));
                }
                input = self.read(next, n).await?;
                next += n;
                used = 0;
            }
            if written == out.len() {
                let grown = (out.len() * 2).min(limit);
                out.resize(grown, 0);
            }
            let r = inflate(
                &mut state,
                &input[used..],
                &mut out[written..],
                MZFlush::None,
            );
            used += r.bytes_consumed;
            written += r.bytes_written;
            if written > size as usize {
                return Err(bad("inflates to more than its size"));
            }
            match r.status {
                Ok(MZStatus::StreamEnd) => break,
                Ok(_) => {}
                // No progress: more input (read above) or more room.
                Err(MZError::Buf) if used == input.len() || written == out.len() => {}
                Err(_) => return Err(bad("corrupt zlib data")),
            }
        }
        if written != size as usize {
            return Err(bad("inflates to less than its size"));
        }
        out.truncate(written);
        let consumed = next - input.len() as u64 + used as u64 - at;
        Ok((out, consumed))
    }

    /// The device offset of the object `id`, from the index.
    fn lookup(&self, id: &Id) -> Result<Option<u64>, KvError> {
        let Some(i) = self.layout.find(&self.idx, id).map_err(corrupt)? else {
            return Ok(None);
        };
        let at = self.layout.offset(&self.idx, i).map_err(corrupt)? + PACK_START;
        if at < PACK_START + PACK_HEADER || at >= self.pack_end {
            return Err(corrupt(alloc::format!(
                "the index puts {} outside the pack",
                hex(id)
            )));
        }
        Ok(Some(at))
    }

    /// The object at `at`, its deltas resolved.
    async fn object(&self, at: u64) -> Result<Object, KvError> {
        if let Some(hit) = self.cache.lock().get(at) {
            return Ok(hit);
        }
        let mut chain: Vec<(u64, EntryHeader)> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut here = at;
        let mut base = loop {
            if let Some(hit) = self.cache.lock().get(here) {
                break hit;
            }
            if !seen.insert(here) {
                return Err(corrupt(alloc::format!(
                    "object at offset {at}: its delta chain loops"
                )));
            }
            let h = self.header(here).await?;
            match h.packed {
                Packed::Whole(kind) => {
                    let (data, _) = self.inflate(here + h.len as u64, h.size).await?;
                    let object = (kind, Arc::new(data));
                    self.cache.lock().insert(here, object.clone());
                    break object;
                }
                Packed::OfsDelta { distance } => {
                    chain.push((here, h));
                    here = here.checked_sub(distance).ok_or_else(|| {
                        corrupt(alloc::format!(
                            "object at offset {here}: delta base before the pack"
                        ))
                    })?;
                }
                Packed::RefDelta { base } => {
                    chain.push((here, h));
                    here = self.lookup(&base)?.ok_or_else(|| {
                        corrupt(alloc::format!(
                            "object at offset {here}: delta base {} is not in the pack",
                            hex(&base)
                        ))
                    })?;
                }
            }
            if chain.len() > MAX_DELTA_CHAIN {
                return Err(corrupt(alloc::format!(
                    "object at offset {at}: delta chain longer than {MAX_DELTA_CHAIN}"
                )));
            }
        };
        for (here, h) in chain.into_iter().rev() {
            let (delta, _) = self.inflate(here + h.len as u64, h.size).await?;
            let data = pack::apply_delta(&base.1, &delta, MAX_OBJECT).map_err(pack_error(here))?;
            base = (base.0, Arc::new(data));
            self.cache.lock().insert(here, base.clone());
        }
        Ok(base)
    }

    /// The size of the object at `at` (a delta's is read from its start).
    async fn object_size(&self, at: u64) -> Result<u64, KvError> {
        let h = self.header(at).await?;
        match h.packed {
            Packed::Whole(_) => Ok(h.size),
            _ => {
                let (delta, _) = self.inflate(at + h.len as u64, h.size).await?;
                Ok(pack::delta_sizes(&delta).map_err(pack_error(at))?.1)
            }
        }
    }

    /// The object `id`, which must be of `kind`.
    async fn object_of(&self, id: &Id, kind: ObjectKind) -> Result<(u64, Arc<Vec<u8>>), KvError> {
        let at = self
            .lookup(id)?
            .ok_or_else(|| corrupt(alloc::format!("object {} is not in the pack", hex(id))))?;
        let (got, data) = self.object(at).await?;
        if got != kind {
            return Err(corrupt(alloc::format!(
                "object {} is a {}, not a {}",
                hex(id),
                got.name(),
                kind.name()
            )));
        }
        Ok((at, data))
    }

    /// The entries of the tree `id`.
    async fn tree_entries(&self, id: &Id) -> Result<Vec<git::TreeEntry>, KvError> {
        let (at, data) = self.object_of(id, ObjectKind::Tree).await?;
        git::parse_tree(&data).map_err(pack_error(at))
    }

    /// Every key below the tree `id` (at `prefix`), values with the offset
    /// of their blob.
    async fn walk(&self, prefix: &Key, id: Id) -> Result<Index<u64>, KvError> {
        let mut index = Index::new(self.mtime);
        let mut todo = vec![(prefix.clone(), id)];
        let mut walked = 0usize;
        while let Some((dir, tree)) = todo.pop() {
            if dir.segments().len() > MAX_TREE_DEPTH {
                return Err(corrupt(alloc::format!(
                    "{dir}: trees deeper than {MAX_TREE_DEPTH}"
                )));
            }
            if !dir.is_root() {
                index
                    .insert_dictionary(&dir, self.mtime)
                    .map_err(|c| corrupt(alloc::format!("{c}")))?;
            }
            for entry in self.tree_entries(&tree).await? {
                walked += 1;
                if walked > MAX_ENTRIES {
                    return Err(corrupt(alloc::format!(
                        "more than {MAX_ENTRIES} tree entries"
                    )));
                }
                let key = dir.add(&entry.name);
                match entry.kind {
                    Kind::Dictionary => todo.push((key, entry.id)),
                    Kind::Value => {
                        let at = self.lookup(&entry.id)?.ok_or_else(|| {
                            corrupt(alloc::format!("{key}: its blob is not in the pack"))
                        })?;
                        index
                            .insert_value(&key, at, self.mtime)
                            .map_err(|c| corrupt(alloc::format!("{c}")))?;
                    }
                }
            }
        }
        Ok(index)
    }

    /// What `key` names, walking the trees from the root (`Light`).
    async fn resolve(&self, key: &Key) -> Result<Option<(Kind, Id)>, KvError> {
        let mut current = (Kind::Dictionary, self.root_tree);
        for segment in key.segments() {
            if current.0 == Kind::Value {
                return Ok(None);
            }
            let entries = self.tree_entries(&current.1).await?;
            match entries.into_iter().find(|e| &e.name == segment) {
                Some(e) => current = (e.kind, e.id),
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The offset of the blob of the value at `key`.
    async fn value(&self, key: &Key) -> Result<u64, KvError> {
        if let Some(tree) = &self.tree {
            return tree.value(key).copied();
        }
        match self.resolve(key).await? {
            None => Err(KvError::NotFound(key.clone())),
            Some((Kind::Dictionary, _)) => Err(KvError::ValueExpected(key.clone())),
            Some((Kind::Value, id)) => self
                .lookup(&id)?
                .ok_or_else(|| corrupt(alloc::format!("{key}: its blob is not in the pack"))),
        }
    }

    /// The contents of the blob at `at`.
    async fn blob(&self, at: u64) -> Result<Arc<Vec<u8>>, KvError> {
        match self.object(at).await? {
            (ObjectKind::Blob, data) => Ok(data),
            (kind, _) => Err(corrupt(alloc::format!(
                "object at offset {at} is a {}, not a blob",
                kind.name()
            ))),
        }
    }

    /// Verifies the whole pack against its index (see the module
    /// documentation) and bounds the pack to its trailer.
    async fn analyze(&mut self) -> Result<(), KvError> {
        use sha1::{Digest, Sha1};
        let mut pack_sum = Sha1::new();
        pack_sum.update(self.read_header_bytes().await?);
        let mut at = PACK_START + PACK_HEADER;
        let mut found: Vec<(u64, u32)> = Vec::with_capacity(self.layout.n as usize);
        for _ in 0..self.layout.n {
            let h = self.header(at).await?;
            let (_, consumed) = self.inflate(at + h.len as u64, h.size).await?;
            let len = h.len as u64 + consumed;
            let mut crc = crc32fast::Hasher::new();
            let mut done = 0;
            while done < len {
                let n = (len - done).min(CHUNK);
                let raw = self.read(at + done, n).await?;
                crc.update(&raw);
                pack_sum.update(&raw);
                done += n;
            }
            found.push((at, crc.finalize()));
            at += len;
        }
        let trailer = crate::block::read_bytes(self.block, &self.info, at, ID_LEN as u64)
            .await
            .map_err(|e| corrupt(alloc::format!("reading the pack's checksum: {e}")))?;
        if at + ID_LEN as u64 > self.pack_end || pack_sum.finalize().as_slice() != trailer {
            return Err(corrupt("the pack's checksum does not match"));
        }
        let idx_pack_sum = &self.idx[self.idx.len() - 2 * ID_LEN..self.idx.len() - ID_LEN];
        if idx_pack_sum != trailer.as_slice() {
            return Err(corrupt("the index belongs to another pack"));
        }
        self.pack_end = at;
        for (offset, crc) in found {
            let (kind, data) = self.object(offset).await?;
            let id = pack::object_id(kind, &data);
            let i = self
                .layout
                .find(&self.idx, &id)
                .map_err(corrupt)?
                .ok_or_else(|| {
                    corrupt(alloc::format!(
                        "object at offset {offset} ({}) is not in the index",
                        hex(&id)
                    ))
                })?;
            let indexed_at = self.layout.offset(&self.idx, i).map_err(corrupt)? + PACK_START;
            let indexed_crc = self.layout.crc(&self.idx, i).map_err(corrupt)?;
            if indexed_at != offset || indexed_crc != crc {
                return Err(corrupt(alloc::format!(
                    "object {} at offset {offset} does not match its index entry",
                    hex(&id)
                )));
            }
        }
        Ok(())
    }

    async fn read_header_bytes(&self) -> Result<Vec<u8>, KvError> {
        crate::block::read_bytes(self.block, &self.info, PACK_START, PACK_HEADER)
            .await
            .map_err(|e| corrupt(alloc::format!("reading the pack header: {e}")))
    }

    /// The layout below `key` (a dictionary), from memory or walked.
    async fn subtree(&self, key: &Key) -> Result<Option<Index<u64>>, KvError> {
        if self.tree.is_some() {
            return Ok(None);
        }
        match self.resolve(key).await? {
            Some((Kind::Dictionary, id)) => Ok(Some(self.walk(key, id).await?)),
            _ => Ok(None),
        }
    }
}

impl<B: Block> KvRo for Docteur<'_, B> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        match &self.tree {
            Some(tree) => Ok(tree.exists(key)),
            None => Ok(self.resolve(key).await?.map(|(kind, _)| kind)),
        }
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let at = self.value(key).await?;
        Ok(self.blob(at).await?.as_ref().clone())
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        let at = self.value(key).await?;
        let data = self.blob(at).await?;
        let range = super::ro::partial_range(data.len() as u64, offset, length);
        Ok(data[range.start as usize..range.end as usize].to_vec())
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        if let Some(tree) = &self.tree {
            return tree.list(key);
        }
        match self.resolve(key).await? {
            None => Err(KvError::NotFound(key.clone())),
            Some((Kind::Value, _)) => Err(KvError::DictionaryExpected(key.clone())),
            Some((Kind::Dictionary, id)) => {
                let mut out: Vec<(Key, Kind)> = self
                    .tree_entries(&id)
                    .await?
                    .into_iter()
                    .map(|e| (key.add(&e.name), e.kind))
                    .collect();
                out.sort();
                Ok(out)
            }
        }
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        match self.exists(key).await? {
            Some(_) => Ok(self.mtime),
            None => Err(KvError::NotFound(key.clone())),
        }
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let blob_digest = async |at: &u64| Ok(super::ro::value_digest(&self.blob(*at).await?));
        let digest = match (&self.tree, self.subtree(key).await?) {
            (Some(tree), _) => tree.digest(key, blob_digest).await?,
            (None, Some(sub)) => sub.digest(key, blob_digest).await?,
            (None, None) => blob_digest(&self.value(key).await?).await?,
        };
        Ok(digest.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        let at = self.value(key).await?;
        self.object_size(at).await
    }
}

#[cfg(test)]
mod tests;
