//! A read-only FAT12/16/32 file system as a key-value store (the seed's
//! `fat_ro`): files are values, directories are dictionaries.
//!
//! [`FatKv::connect`] checks the boot sector and derives the geometry as the
//! Microsoft FAT specification does (the FAT type follows from the cluster
//! count alone). Everything else is read from the block device on demand:
//! FAT entries through a one-sector cache per operation, directories and
//! file data cluster by cluster (runs of consecutive clusters in one read).
//!
//! Keys name entries by their VFAT long name (case-sensitive), or by their
//! 8.3 name in any ASCII case, as FAT itself matches names. Listings show
//! the long name when a valid one is present (its checksum matches the
//! short entry), else the 8.3 name with the NT lowercase flags applied.
//!
//! A corrupt or hostile image gives [`KvError::Store`], never a panic or an
//! unbounded loop: cluster chains are at most as long as the volume has
//! clusters, every cluster number is range-checked, directories hold at most
//! 65536 entries, file sizes are checked against their chains before any
//! buffer is allocated, and a directory that contains itself is reported
//! when a dictionary digest walks into it.
//!
//! Digests are SHA-256: of a file's bytes; of a directory, over its entries
//! sorted by name, each contributing its name's UTF-8 bytes, a zero byte and
//! its own 32-byte digest. Modification times are FAT local times taken as
//! UTC (2-second resolution); the root directory has none and reports the
//! epoch.

mod bpb;
mod dir;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use crate::kv::ro::DictionaryDigest;

use crate::block::Block;
use crate::kv::{Key, Kind, KvError, KvRo, Timestamp};

pub use bpb::FatType;
use bpb::Geometry;
use dir::{Entry, Parser};

/// At most this many entries in a directory (the FAT specification's
/// limit).
const MAX_DIR_ENTRIES: u64 = 65536;

/// Read at most this many bytes from the device at once.
const MAX_RUN_BYTES: u64 = 1 << 20;

fn store(message: String) -> KvError {
    KvError::Store(message)
}

/// A directory: the root, or the one starting at a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    Root,
    Cluster(u32),
}

/// What a key resolves to.
enum Node {
    Root,
    Entry(Entry),
}

/// Where bytes of a file go.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// One sector of the FAT, kept while an operation walks a chain.
struct FatCache {
    sector: Option<u64>,
    buf: Vec<u8>,
}

/// What a FAT entry says about the next cluster.
enum Next {
    Cluster(u32),
    End,
}

/// A read-only FAT file system on the block device `B`, as a [`KvRo`]
/// store.
pub struct FatKv<B: Block + 'static> {
    block: &'static B,
    geo: Geometry,
    /// Device sectors per FAT sector.
    ratio: u64,
}

impl<B: Block + 'static> core::fmt::Debug for FatKv<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FatKv")
            .field("fat_type", &self.geo.fat_type)
            .field("cluster_bytes", &self.geo.cluster_bytes())
            .field("clusters", &self.geo.cluster_count)
            .finish_non_exhaustive()
    }
}

impl<B: Block + 'static> FatKv<B> {
    /// Reads and checks the boot sector of the FAT volume on `block`.
    pub async fn connect(block: &'static B) -> Result<Self, KvError> {
        let info = block.info();
        let device_sector = info.sector_size;
        if device_sector == 0 || !device_sector.is_power_of_two() || device_sector > 4096 {
            return Err(store(format!(
                "fat: unsupported device sector size {device_sector}"
            )));
        }
        let mut boot = vec![0u8; device_sector.max(512) as usize];
        block
            .read(0, &mut boot)
            .await
            .map_err(|e| store(format!("fat: reading the boot sector: {e}")))?;
        let geo = bpb::parse(&boot, device_sector).map_err(store)?;
        let ratio = u64::from(geo.bytes_per_sector / device_sector);
        let needed = geo.used_sectors.saturating_mul(ratio);
        if needed > info.size_sectors {
            return Err(store(format!(
                "fat: the volume needs {needed} sectors, the device has {}",
                info.size_sectors
            )));
        }
        Ok(FatKv { block, geo, ratio })
    }

    /// The FAT variant of the volume.
    pub fn fat_type(&self) -> FatType {
        self.geo.fat_type
    }

    /// Reads whole FAT sectors from `sector` on into `buf`.
    async fn read_sectors(&self, sector: u64, buf: &mut [u8]) -> Result<(), KvError> {
        self.block
            .read(sector * self.ratio, buf)
            .await
            .map_err(|e| store(format!("fat: reading sector {sector}: {e}")))
    }

    fn new_cache(&self) -> FatCache {
        FatCache {
            sector: None,
            buf: vec![0; self.geo.bytes_per_sector as usize],
        }
    }

    /// The byte at `offset` of the FAT in use.
    async fn fat_byte(&self, cache: &mut FatCache, offset: u64) -> Result<u8, KvError> {
        let bps = u64::from(self.geo.bytes_per_sector);
        let sector = offset / bps;
        if sector >= self.geo.fat_sectors {
            return Err(store(format!("fat: FAT offset {offset} beyond the FAT")));
        }
        if cache.sector != Some(sector) {
            cache.sector = None;
            let mut buf = core::mem::take(&mut cache.buf);
            let read = self
                .read_sectors(self.geo.fat_start + sector, &mut buf)
                .await;
            cache.buf = buf;
            read?;
            cache.sector = Some(sector);
        }
        Ok(cache.buf[(offset % bps) as usize])
    }

    /// Follows the FAT from `cluster` (a valid cluster).
    async fn next(&self, cache: &mut FatCache, cluster: u32) -> Result<Next, KvError> {
        let n = u64::from(cluster);
        let (value, bad, end) = match self.geo.fat_type {
            bpb::FatType::Fat12 => {
                let at = n + n / 2;
                let lo = self.fat_byte(cache, at).await?;
                let hi = self.fat_byte(cache, at + 1).await?;
                let raw = u32::from(u16::from_le_bytes([lo, hi]));
                let v = if cluster & 1 == 1 {
                    raw >> 4
                } else {
                    raw & 0xFFF
                };
                (v, 0xFF7, 0xFF8)
            }
            bpb::FatType::Fat16 => {
                let at = n * 2;
                let lo = self.fat_byte(cache, at).await?;
                let hi = self.fat_byte(cache, at + 1).await?;
                (u32::from(u16::from_le_bytes([lo, hi])), 0xFFF7, 0xFFF8)
            }
            bpb::FatType::Fat32 => {
                let at = n * 4;
                let mut b = [0u8; 4];
                for (i, byte) in b.iter_mut().enumerate() {
                    *byte = self.fat_byte(cache, at + i as u64).await?;
                }
                (
                    u32::from_le_bytes(b) & 0x0FFF_FFFF,
                    0x0FFF_FFF7,
                    0x0FFF_FFF8,
                )
            }
        };
        if value >= end {
            Ok(Next::End)
        } else if value == bad {
            Err(store(format!(
                "fat: cluster {cluster} chains to a bad cluster"
            )))
        } else if value < 2 {
            Err(store(format!(
                "fat: cluster {cluster} chains to a free cluster"
            )))
        } else if value > self.geo.max_cluster() {
            Err(store(format!(
                "fat: cluster {cluster} chains to cluster {value}, beyond the last ({})",
                self.geo.max_cluster()
            )))
        } else {
            Ok(Next::Cluster(value))
        }
    }

    /// The clusters of the chain starting at `start`, at most `limit` of
    /// them. A chain longer than the volume's cluster count loops.
    async fn chain(&self, start: u32, limit: u64) -> Result<Vec<u32>, KvError> {
        if start < 2 || start > self.geo.max_cluster() {
            return Err(store(format!("fat: first cluster {start} out of range")));
        }
        let mut cache = self.new_cache();
        let mut clusters = vec![start];
        let mut current = start;
        while (clusters.len() as u64) < limit {
            match self.next(&mut cache, current).await? {
                Next::End => break,
                Next::Cluster(next) => {
                    if clusters.len() as u64 >= u64::from(self.geo.cluster_count) || next == current
                    {
                        return Err(store(format!("fat: the cluster chain from {start} loops")));
                    }
                    clusters.push(next);
                    current = next;
                }
            }
        }
        // A loop shorter than `limit` shows as a cluster met twice.
        let mut seen = clusters.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(store(format!("fat: the cluster chain from {start} loops")));
        }
        Ok(clusters)
    }

    /// The entries of directory `dir`.
    async fn read_dir(&self, dir: Dir) -> Result<Vec<Entry>, KvError> {
        let mut parser = Parser::new(self.geo.fat_type == FatType::Fat32);
        let bps = u64::from(self.geo.bytes_per_sector);
        let cluster = match dir {
            Dir::Root if self.geo.fat_type != FatType::Fat32 => {
                let mut buf = vec![0u8; (self.geo.root_sectors * bps) as usize];
                self.read_sectors(self.geo.root_start, &mut buf).await?;
                parser.feed(&buf);
                return Ok(parser.entries);
            }
            Dir::Root => self.geo.root_cluster,
            Dir::Cluster(c) => c,
        };
        let cluster_bytes = u64::from(self.geo.cluster_bytes());
        let max_clusters = (MAX_DIR_ENTRIES * 32).div_ceil(cluster_bytes);
        let clusters = self.chain(cluster, max_clusters + 1).await?;
        if clusters.len() as u64 > max_clusters {
            return Err(store(format!(
                "fat: directory at cluster {cluster} has more than {MAX_DIR_ENTRIES} entries"
            )));
        }
        let mut buf = vec![0u8; cluster_bytes as usize];
        for &c in &clusters {
            self.read_sectors(self.geo.cluster_sector(c), &mut buf)
                .await?;
            parser.feed(&buf);
            if parser.done {
                break;
            }
        }
        Ok(parser.entries)
    }

    /// The directory an entry names.
    fn dir_of(&self, entry: &Entry) -> Result<Dir, KvError> {
        if entry.cluster == 0 {
            return Err(store(format!(
                "fat: directory {} has no cluster",
                entry.name
            )));
        }
        Ok(Dir::Cluster(entry.cluster))
    }

    /// What `key` names, if anything.
    async fn resolve(&self, key: &Key) -> Result<Option<Node>, KvError> {
        let mut node = Node::Root;
        for segment in key.segments() {
            let dir = match &node {
                Node::Root => Dir::Root,
                Node::Entry(e) if e.is_dir => self.dir_of(e)?,
                Node::Entry(_) => return Ok(None),
            };
            let entries = self.read_dir(dir).await?;
            let found = entries
                .iter()
                .position(|e| e.name == *segment)
                .or_else(|| entries.iter().position(|e| e.is_named(segment)));
            match found {
                Some(i) => {
                    let mut entries = entries;
                    node = Node::Entry(entries.swap_remove(i));
                }
                None => return Ok(None),
            }
        }
        Ok(Some(node))
    }

    async fn resolve_found(&self, key: &Key) -> Result<Node, KvError> {
        self.resolve(key)
            .await?
            .ok_or_else(|| KvError::NotFound(key.clone()))
    }

    /// The file at `key`.
    async fn file(&self, key: &Key) -> Result<Entry, KvError> {
        match self.resolve_found(key).await? {
            Node::Entry(e) if !e.is_dir => Ok(e),
            _ => Err(KvError::ValueExpected(key.clone())),
        }
    }

    /// Sends `length` bytes of `file` from `offset` on (both within the
    /// file) to `sink`, reading only the clusters that hold them.
    async fn read_file(
        &self,
        file: &Entry,
        offset: u64,
        length: u64,
        sink: &mut impl Sink,
    ) -> Result<(), KvError> {
        if length == 0 {
            return Ok(());
        }
        let last = (offset + length - 1) / u64::from(self.geo.cluster_bytes());
        let clusters = self.chain_for(file, last + 1).await?;
        self.read_runs(&clusters, offset, length, sink).await
    }

    /// Sends `length` bytes from `offset` on of the file made of
    /// `clusters` (which hold them) to `sink`; consecutive clusters are
    /// read together.
    async fn read_runs(
        &self,
        clusters: &[u32],
        offset: u64,
        length: u64,
        sink: &mut impl Sink,
    ) -> Result<(), KvError> {
        if length == 0 {
            return Ok(());
        }
        let cluster_bytes = u64::from(self.geo.cluster_bytes());
        let first = offset / cluster_bytes;
        let last = (offset + length - 1) / cluster_bytes;
        let Some(clusters) = clusters.get(first as usize..=last as usize) else {
            return Err(store("fat: read beyond the cluster chain".into()));
        };
        let max_run = (MAX_RUN_BYTES / cluster_bytes).max(1) as usize;
        let mut buf = Vec::new();
        // Position (in the file) of the start of the current run.
        let mut pos = first * cluster_bytes;
        let end = offset + length;
        let mut i = 0;
        while i < clusters.len() {
            let mut run = 1;
            while i + run < clusters.len()
                && run < max_run
                && clusters[i + run] == clusters[i + run - 1] + 1
            {
                run += 1;
            }
            buf.resize(run * cluster_bytes as usize, 0);
            self.read_sectors(self.geo.cluster_sector(clusters[i]), &mut buf)
                .await?;
            let run_end = pos + buf.len() as u64;
            let from = offset.max(pos) - pos;
            let to = end.min(run_end) - pos;
            sink.put(&buf[from as usize..to as usize]);
            pos = run_end;
            i += run;
        }
        Ok(())
    }

    /// The first `count` clusters of `file`, which must have them.
    async fn chain_for(&self, file: &Entry, count: u64) -> Result<Vec<u32>, KvError> {
        if file.cluster == 0 {
            return Err(store(format!(
                "fat: {} has {} bytes but no cluster",
                file.name, file.size
            )));
        }
        let clusters = self.chain(file.cluster, count).await?;
        if (clusters.len() as u64) < count {
            return Err(store(format!(
                "fat: {} has {} bytes but only {} clusters",
                file.name,
                file.size,
                clusters.len()
            )));
        }
        Ok(clusters)
    }

    /// The SHA-256 of `file`'s bytes.
    async fn file_digest(&self, file: &Entry) -> Result<[u8; 32], KvError> {
        let mut hasher = Sha256::new();
        self.read_file(file, 0, u64::from(file.size), &mut hasher)
            .await?;
        Ok(hasher.finalize().into())
    }

    /// The digest of directory `dir` ([`crate::kv::ro::dictionary_digest`]),
    /// walking its tree depth-first without
    /// recursion; each directory is digested once, and one that contains
    /// itself is an error.
    async fn dir_digest(&self, dir: Dir) -> Result<[u8; 32], KvError> {
        struct Frame {
            dir: Dir,
            entries: Vec<Entry>,
            next: usize,
            hasher: DictionaryDigest,
        }
        let sorted = |mut entries: Vec<Entry>| {
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            entries
        };
        let mut memo: BTreeMap<Dir, [u8; 32]> = BTreeMap::new();
        let mut stack = vec![Frame {
            dir,
            entries: sorted(self.read_dir(dir).await?),
            next: 0,
            hasher: DictionaryDigest::new(),
        }];
        loop {
            let Some(top) = stack.last_mut() else {
                return Err(store("fat: digest walk lost its directory".into()));
            };
            if top.next == top.entries.len() {
                let Some(done) = stack.pop() else {
                    return Err(store("fat: digest walk lost its directory".into()));
                };
                let digest = done.hasher.finish();
                memo.insert(done.dir, digest);
                match stack.last_mut() {
                    None => return Ok(digest),
                    Some(parent) => {
                        let name = &parent.entries[parent.next - 1].name;
                        parent
                            .hasher
                            .add(name.as_bytes(), Kind::Dictionary, &digest);
                    }
                }
                continue;
            }
            let entry = top.entries[top.next].clone();
            top.next += 1;
            let digest = if entry.is_dir {
                let child = self.dir_of(&entry)?;
                if let Some(d) = memo.get(&child) {
                    *d
                } else if stack.iter().any(|f| f.dir == child)
                    || (child == Dir::Cluster(self.geo.root_cluster)
                        && stack.iter().any(|f| f.dir == Dir::Root))
                {
                    return Err(store(format!(
                        "fat: directory {} contains itself",
                        entry.name
                    )));
                } else {
                    let entries = sorted(self.read_dir(child).await?);
                    stack.push(Frame {
                        dir: child,
                        entries,
                        next: 0,
                        hasher: DictionaryDigest::new(),
                    });
                    continue;
                }
            } else {
                self.file_digest(&entry).await?
            };
            let Some(top) = stack.last_mut() else {
                return Err(store("fat: digest walk lost its directory".into()));
            };
            let kind = if entry.is_dir {
                Kind::Dictionary
            } else {
                Kind::Value
            };
            top.hasher.add(entry.name.as_bytes(), kind, &digest);
        }
    }
}

impl<B: Block + 'static> KvRo for FatKv<B> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        Ok(self.resolve(key).await?.map(|node| match node {
            Node::Root => Kind::Dictionary,
            Node::Entry(e) if e.is_dir => Kind::Dictionary,
            Node::Entry(_) => Kind::Value,
        }))
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let file = self.file(key).await?;
        let size = u64::from(file.size);
        if size == 0 {
            return Ok(Vec::new());
        }
        // The chain is checked before the value is allocated.
        let count = size.div_ceil(u64::from(self.geo.cluster_bytes()));
        let clusters = self.chain_for(&file, count).await?;
        let mut value = Vec::with_capacity(file.size as usize);
        self.read_runs(&clusters, 0, size, &mut value).await?;
        Ok(value)
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        let file = self.file(key).await?;
        let size = u64::from(file.size);
        if offset >= size {
            return Ok(Vec::new());
        }
        let length = (length as u64).min(size - offset);
        let mut value = Vec::new();
        self.read_file(&file, offset, length, &mut value).await?;
        Ok(value)
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        let dir = match self.resolve_found(key).await? {
            Node::Root => Dir::Root,
            Node::Entry(e) if e.is_dir => self.dir_of(&e)?,
            Node::Entry(_) => return Err(KvError::DictionaryExpected(key.clone())),
        };
        let mut list: Vec<(Key, Kind)> = self
            .read_dir(dir)
            .await?
            .into_iter()
            .map(|e| {
                let kind = if e.is_dir {
                    Kind::Dictionary
                } else {
                    Kind::Value
                };
                (key.add(&e.name), kind)
            })
            .collect();
        list.sort();
        Ok(list)
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        match self.resolve_found(key).await? {
            Node::Root => Ok((0, 0)),
            Node::Entry(e) => Ok(e.modified()),
        }
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let digest = match self.resolve_found(key).await? {
            Node::Root => self.dir_digest(Dir::Root).await?,
            Node::Entry(e) if e.is_dir => self.dir_digest(self.dir_of(&e)?).await?,
            Node::Entry(e) => self.file_digest(&e).await?,
        };
        Ok(digest.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        Ok(u64::from(self.file(key).await?.size))
    }
}
