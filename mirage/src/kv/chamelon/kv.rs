//! The key-value view of the file system: keys are paths, values files,
//! dictionaries directories (the `Mirage_kv.RO`/`RW` semantics of
//! `kv_rw_mem`, over littlefs).

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use sha2::{Digest, Sha256};

use super::ctz;
use super::disk::{self, Pair, TIME_ATTR, TIME_LEN};
use super::error::{Error, corrupt};
use super::fs::{FileData, Fs, MAX_DEPTH, Slot};
use super::mdir::Entry;
use super::tag;
use crate::block::Block;
use crate::kv::{Key, Kind, KvError, Timestamp};

/// What a key resolves to.
pub(super) enum Node {
    /// The root directory.
    Root,
    /// An entry of some directory.
    Entry(Slot),
}

/// The key made of the first `n` segments of `key`.
fn prefix(key: &Key, n: usize) -> Key {
    key.segments()[..n]
        .iter()
        .fold(Key::root(), |k, s| k.add(s))
}

/// An entry's modification time (the epoch when it has none).
fn time_of(e: &Entry) -> Timestamp {
    e.attr(TIME_ATTR)
        .and_then(disk::parse_time)
        .unwrap_or((0, 0))
}

impl<B: Block> Fs<'_, B> {
    /// The bytes of a key segment used as a new name.
    fn name<'k>(&self, segment: &'k str) -> Result<&'k [u8], Error> {
        let bad =
            |why: &str| Error::Kv(KvError::NotSupported(format!("the name {segment:?} {why}")));
        if segment == "." || segment == ".." {
            return Err(bad("cannot be used in littlefs"));
        }
        if segment.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        if segment.len() > self.st.cfg.name_max as usize {
            return Err(bad(&format!(
                "is longer than the file system's {} bytes",
                self.st.cfg.name_max
            )));
        }
        Ok(segment.as_bytes())
    }

    /// The timestamp attribute for `now`, if the file system allows it.
    fn stamp(&self, now: Timestamp) -> Vec<(u16, Vec<u8>)> {
        if self.st.cfg.attr_max as usize >= TIME_LEN {
            vec![(TIME_ATTR, disk::emit_time(now))]
        } else {
            Vec::new()
        }
    }

    /// Where `key` is.
    pub(super) async fn resolve(&mut self, key: &Key) -> Result<Node, Error> {
        let segments = key.segments();
        let mut head = self.st.root;
        for (i, segment) in segments.iter().enumerate() {
            let slot = self
                .find(head, segment.as_bytes())
                .await?
                .ok_or_else(|| KvError::NotFound(key.clone()))?;
            if i + 1 == segments.len() {
                return Ok(Node::Entry(slot));
            }
            match slot.entry().kind() {
                Some(Kind::Dictionary) => head = self.dir_pair(slot.entry())?,
                _ => return Err(KvError::DictionaryExpected(prefix(key, i + 1)).into()),
            }
        }
        Ok(Node::Root)
    }

    /// The first pair of the directory at `key`.
    async fn dir_at(&mut self, key: &Key) -> Result<Pair, Error> {
        match self.resolve(key).await? {
            Node::Root => Ok(self.st.root),
            Node::Entry(s) if s.entry().kind() == Some(Kind::Dictionary) => {
                self.dir_pair(s.entry())
            }
            Node::Entry(_) => Err(KvError::DictionaryExpected(key.clone()).into()),
        }
    }

    /// The file at `key`.
    async fn file_at(&mut self, key: &Key) -> Result<FileData, Error> {
        match self.resolve(key).await? {
            Node::Entry(s) if s.entry().kind() == Some(Kind::Value) => self.file_of(s.entry()),
            _ => Err(KvError::ValueExpected(key.clone()).into()),
        }
    }

    /// The directory `key`, created (with its parents) if missing.
    async fn mkdir_p(&mut self, key: &Key, now: Timestamp) -> Result<Pair, Error> {
        let mut head = self.st.root;
        for (i, segment) in key.segments().iter().enumerate() {
            let name = self.name(segment)?;
            head = match self.find(head, name).await? {
                Some(s) if s.entry().kind() == Some(Kind::Dictionary) => {
                    self.dir_pair(s.entry())?
                }
                Some(_) => return Err(KvError::DictionaryExpected(prefix(key, i + 1)).into()),
                None => self.mkdir(head, name, self.stamp(now)).await?,
            };
        }
        Ok(head)
    }

    // ----- reading -----------------------------------------------------

    pub(super) async fn exists(&mut self, key: &Key) -> Result<Option<Kind>, Error> {
        match self.resolve(key).await {
            Ok(Node::Root) => Ok(Some(Kind::Dictionary)),
            Ok(Node::Entry(s)) => Ok(s.entry().kind()),
            // Nothing is below a value.
            Err(Error::Kv(KvError::NotFound(_) | KvError::DictionaryExpected(_))) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn get(
        &mut self,
        key: &Key,
        start: u64,
        len: Option<usize>,
    ) -> Result<Vec<u8>, Error> {
        let file = self.file_at(key).await?;
        let len = len.unwrap_or_else(|| usize::try_from(file.size()).unwrap_or(usize::MAX));
        self.read_file(&file, start, len).await
    }

    pub(super) async fn size(&mut self, key: &Key) -> Result<u64, Error> {
        Ok(self.file_at(key).await?.size())
    }

    pub(super) async fn list(&mut self, key: &Key) -> Result<Vec<(Key, Kind)>, Error> {
        let head = self.dir_at(key).await?;
        let mut out: Vec<(Key, Kind)> = self
            .entries(head)
            .await?
            .into_iter()
            .filter_map(|(_, _, e)| {
                let name = String::from_utf8_lossy(e.file_name()?).into_owned();
                Some((key.add(&name), e.kind()?))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    pub(super) async fn last_modified(&mut self, key: &Key) -> Result<Timestamp, Error> {
        let (own, head) = match self.resolve(key).await? {
            Node::Root => ((0, 0), self.st.root),
            Node::Entry(s) => match s.entry().kind() {
                Some(Kind::Dictionary) => (time_of(s.entry()), self.dir_pair(s.entry())?),
                _ => return Ok(time_of(s.entry())),
            },
        };
        let children = self.entries(head).await?;
        Ok(children
            .iter()
            .map(|(_, _, e)| time_of(e))
            .fold(own, core::cmp::max))
    }

    pub(super) async fn digest(&mut self, key: &Key) -> Result<Vec<u8>, Error> {
        match self.resolve(key).await? {
            Node::Root => self.dir_digest(self.st.root, 0).await,
            Node::Entry(s) => match s.entry().kind() {
                Some(Kind::Dictionary) => {
                    let head = self.dir_pair(s.entry())?;
                    self.dir_digest(head, 0).await
                }
                _ => {
                    let file = self.file_of(s.entry())?;
                    self.file_digest(&file).await
                }
            },
        }
    }

    async fn file_digest(&self, file: &FileData) -> Result<Vec<u8>, Error> {
        let mut h = Sha256::new();
        let size = file.size();
        let chunk = 1u64 << 20;
        let mut at = 0;
        while at < size {
            h.update(self.read_file(file, at, chunk as usize).await?);
            at += chunk;
        }
        Ok(h.finalize().to_vec())
    }

    /// [`crate::kv::ro::dictionary_digest`] of the entries, sorted by name.
    fn dir_digest(
        &mut self,
        head: Pair,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + '_>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(corrupt(format!(
                    "directories nested deeper than {MAX_DEPTH} (a loop?)"
                )));
            }
            let mut children = self.entries(head).await?;
            children.sort_by(|a, b| a.2.file_name().cmp(&b.2.file_name()));
            let mut h = crate::kv::ro::DictionaryDigest::new();
            for (_, _, e) in children {
                let (kind, d) = match e.kind() {
                    Some(Kind::Dictionary) => {
                        let sub = self.dir_pair(&e)?;
                        (Kind::Dictionary, self.dir_digest(sub, depth + 1).await?)
                    }
                    _ => {
                        let file = self.file_of(&e)?;
                        (Kind::Value, self.file_digest(&file).await?)
                    }
                };
                h.add(e.file_name().unwrap_or_default(), kind, &d);
            }
            Ok(h.finish().to_vec())
        })
    }

    // ----- writing -----------------------------------------------------

    /// Gives the file `name` of the directory at `head` (at `existing`, if
    /// there is one) the structure `structure` and the time `now`.
    async fn put_file(
        &mut self,
        head: Pair,
        existing: Option<Slot>,
        name: &[u8],
        structure: (u16, Vec<u8>),
        now: Timestamp,
    ) -> Result<(), Error> {
        let stamp = self.stamp(now);
        match existing {
            Some(slot) => {
                let mut mp = self.fetch_owned(slot.mp.pair).await?;
                let e = &mut mp.entries[slot.id];
                e.structure = Some(structure);
                for (t, d) in stamp {
                    e.set_attr(t, Some(d));
                }
                self.commit(mp).await.map(|_| ())
            }
            None => {
                let mut e = Entry::new(Kind::Value, name, structure);
                e.attrs = stamp;
                self.insert(head, e).await
            }
        }
    }

    /// The directory holding `key` (created if missing), the name of `key`
    /// in it, and the entry already there.
    async fn place(
        &mut self,
        key: &Key,
        now: Timestamp,
    ) -> Result<(Pair, Vec<u8>, Option<Slot>), Error> {
        let base = key
            .basename()
            .ok_or_else(|| KvError::ValueExpected(Key::root()))?;
        let name = self.name(base)?.to_vec();
        let head = self.mkdir_p(&key.parent(), now).await?;
        let existing = self.find(head, &name).await?;
        if existing
            .as_ref()
            .is_some_and(|s| s.entry().kind() == Some(Kind::Dictionary))
        {
            return Err(KvError::ValueExpected(key.clone()).into());
        }
        Ok((head, name, existing))
    }

    /// Checks that a file of `size` bytes is possible at all.
    fn check_size(&self, size: u64) -> Result<(), Error> {
        let capacity = u64::from(self.st.cfg.block_count) * self.disk.block_size as u64;
        if size > u64::from(self.st.cfg.file_max) || size > capacity {
            return Err(Error::NoSpace);
        }
        Ok(())
    }

    pub(super) async fn set(
        &mut self,
        key: &Key,
        value: &[u8],
        now: Timestamp,
    ) -> Result<(), Error> {
        self.check_size(value.len() as u64)?;
        let (head, name, existing) = self.place(key, now).await?;
        let structure = self.new_file(value).await?;
        self.put_file(head, existing, &name, structure, now).await
    }

    pub(super) async fn allocate(
        &mut self,
        key: &Key,
        size: u64,
        now: Timestamp,
    ) -> Result<(), Error> {
        if self.exists(key).await?.is_some() {
            return Err(KvError::NotSupported(format!("allocate: {key} exists")).into());
        }
        self.check_size(size)?;
        self.set(key, &vec![0u8; size as usize], now).await
    }

    pub(super) async fn set_partial(
        &mut self,
        key: &Key,
        offset: u64,
        data: &[u8],
        now: Timestamp,
    ) -> Result<(), Error> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::NoSpace)?;
        self.check_size(end)?;
        let (head, name, existing) = self.place(key, now).await?;
        let old = match &existing {
            Some(s) => Some(self.file_of(s.entry())?),
            None => None,
        };
        let old_size = old.as_ref().map_or(0, FileData::size);
        let size = old_size.max(end);
        let bs = self.disk.block_size;
        // The blocks of a skip-list before the first changed byte (never
        // its last block) are kept; everything after is rewritten.
        let (keep, reuse) = match &old {
            Some(FileData::Ctz(c)) if c.size > 0 && size > u64::from(self.st.cfg.inline_max) => {
                let changed = offset.min(old_size);
                let keep = ctz::index(bs, changed).0.min(ctz::last_index(bs, c.size));
                (keep, Some(*c))
            }
            _ => (0, None),
        };
        let start = ctz::data_start(bs, keep);
        let mut content = match &old {
            Some(file) if old_size > start => {
                self.read_file(file, start, (old_size - start) as usize)
                    .await?
            }
            _ => Vec::new(),
        };
        content.resize((size - start) as usize, 0);
        let at = (offset - start) as usize;
        content[at..at + data.len()].copy_from_slice(data);
        let structure = if size <= u64::from(self.st.cfg.inline_max) {
            (tag::INLINESTRUCT, content)
        } else {
            let c = self.write_ctz(reuse, keep, &content).await?;
            (tag::CTZSTRUCT, c.emit())
        };
        self.put_file(head, existing, &name, structure, now).await
    }

    pub(super) async fn remove(&mut self, key: &Key) -> Result<(), Error> {
        match self.resolve(key).await? {
            Node::Root => {
                for (child, kind) in self.list(&Key::root()).await? {
                    match kind {
                        Kind::Dictionary => self.remove_tree(&child).await?,
                        Kind::Value => match self.resolve(&child).await? {
                            Node::Entry(s) => self.remove_file(s).await?,
                            Node::Root => {}
                        },
                    }
                }
                Ok(())
            }
            Node::Entry(s) if s.entry().kind() == Some(Kind::Dictionary) => {
                self.remove_tree(key).await
            }
            Node::Entry(s) => self.remove_file(s).await,
        }
    }

    /// Removes the directory `key` and everything in it, depth first;
    /// the files of each pair go in one commit.
    async fn remove_tree(&mut self, key: &Key) -> Result<(), Error> {
        let mut stack = vec![key.clone()];
        while let Some(dir) = stack.last().cloned() {
            if stack.len() > MAX_DEPTH {
                return Err(corrupt(format!(
                    "directories nested deeper than {MAX_DEPTH} (a loop?)"
                )));
            }
            let head = self.dir_at(&dir).await?;
            // Files first, a pair at a time.
            loop {
                let chain = self.chain(head).await?;
                let Some(mp) = chain
                    .into_iter()
                    .find(|mp| mp.entries.iter().any(|e| e.kind() == Some(Kind::Value)))
                else {
                    break;
                };
                let mut mp = Rc::unwrap_or_clone(mp);
                mp.entries.retain(|e| e.kind() != Some(Kind::Value));
                self.commit_or_drop(head, mp).await?;
            }
            let sub = self.entries(head).await?.into_iter().find_map(|(_, _, e)| {
                e.file_name()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
            });
            match sub {
                Some(name) => stack.push(dir.add(&name)),
                None => {
                    let Node::Entry(slot) = self.resolve(&dir).await? else {
                        return Err(KvError::NotSupported(String::from(
                            "removing the root directory",
                        ))
                        .into());
                    };
                    self.remove_dir(slot).await?;
                    stack.pop();
                }
            }
        }
        Ok(())
    }

    pub(super) async fn rename(
        &mut self,
        source: &Key,
        dest: &Key,
        now: Timestamp,
    ) -> Result<(), Error> {
        if source == dest {
            return self.resolve(source).await.map(|_| ());
        }
        if source.is_root() || source.is_prefix_of(dest) {
            return Err(KvError::NotSupported(format!("moving {source} into itself")).into());
        }
        let base = dest
            .basename()
            .ok_or_else(|| KvError::ValueExpected(Key::root()))?;
        let name = self.name(base)?.to_vec();
        let Node::Entry(src) = self.resolve(source).await? else {
            return Err(KvError::NotSupported(String::from("moving the root")).into());
        };
        let kind = src.entry().kind();
        match self.resolve(dest).await {
            Ok(Node::Entry(d)) => match (d.entry().kind(), kind) {
                (Some(Kind::Dictionary), Some(Kind::Value)) => {
                    return Err(KvError::ValueExpected(dest.clone()).into());
                }
                (Some(Kind::Value), Some(Kind::Dictionary)) => {
                    return Err(KvError::DictionaryExpected(dest.clone()).into());
                }
                (Some(Kind::Dictionary), _) if dest.is_prefix_of(source) => {
                    return Err(KvError::NotSupported(format!(
                        "moving {source} over its parent {dest}"
                    ))
                    .into());
                }
                (Some(Kind::Dictionary), _) => self.remove_tree(dest).await?,
                _ => {}
            },
            Ok(Node::Root) => return Err(KvError::ValueExpected(Key::root()).into()),
            Err(Error::Kv(KvError::NotFound(_))) => {}
            Err(e) => return Err(e),
        }
        let head = self.mkdir_p(&dest.parent(), now).await?;
        // Creating directories may have moved the source: look again.
        let Node::Entry(src) = self.resolve(source).await? else {
            return Err(KvError::NotFound(source.clone()).into());
        };
        let mut moved = src.entry().clone();
        if let Some((_, n)) = moved.name.as_mut() {
            *n = name.clone();
        }
        let existing = self.find(head, &name).await?;
        let (mut target, id, replace) = match existing {
            Some(d) => (self.fetch_owned(d.mp.pair).await?, d.id, true),
            None => {
                let (mp, id) = self.insertion_point(head, &name).await?;
                (mp, id, false)
            }
        };
        if replace {
            target.entries[id] = moved;
        } else {
            target.entries.insert(id, moved);
        }
        if disk::pair_overlaps(target.pair, src.mp.pair) {
            let from = if !replace && id <= src.id {
                src.id + 1
            } else {
                src.id
            };
            target.entries.remove(from);
            self.commit(target).await.map(|_| ())
        } else {
            self.st.gstate.set_move(Some((src.mp.pair, src.id as u16)));
            self.commit(target).await?;
            self.st.gstate.set_move(None);
            let mut mp = self.fetch_owned(src.mp.pair).await?;
            mp.entries.remove(src.id);
            self.commit_or_drop(src.head, mp).await
        }
    }
}
