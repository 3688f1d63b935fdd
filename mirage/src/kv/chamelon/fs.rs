//! The file system: mounting, fetching and committing metadata pairs,
//! the metadata list (littlefs's "threaded" tail list), directory chains,
//! files, and the consistency fixes after a power loss.
//!
//! # How changes reach the disk
//!
//! Every change of a metadata pair is written as one compacted commit into
//! the pair's *other* block, with the revision count raised by one, so the
//! block holding the current state is never overwritten: a write that
//! fails or is torn leaves the previous state readable, and a fetch takes
//! the newest block whose commit checks. (littlefs appends commits to the
//! current block while it has room; on a block device where a littlefs
//! block is one sector, appending would rewrite the only current copy.)
//! File data is copy-on-write: new blocks are written first, then one
//! commit switches the entry to them.
//!
//! Operations that touch two pairs follow littlefs's protocol, so the
//! reference implementation recovers them too, and so do we on the next
//! mount: creating a directory links the new pair into the metadata list
//! before (or in the same commit as) the entry naming it, under the
//! global "orphans" bit; removing one drops the entry first, then unlinks
//! the pair; renaming across pairs records the source as a pending move in
//! the global state with the commit creating the destination, so the
//! source counts as deleted until the next commit removes it.
//!
//! # Bounds
//!
//! Every walk over pairs (metadata list, directory chain, traversal) keeps
//! a set of visited pairs and stops with a corruption error at the first
//! repeat; directory recursion is bounded by [`MAX_DEPTH`].

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::ctz;
use super::disk::{
    self, Ctz, GState, MAGIC, NULL_PAIR, Pair, SUPERBLOCK_PAIR, Superblock, pair_is_null, pair_key,
    pair_overlaps,
};
use super::error::{Error, corrupt};
use super::io::{Cache, Disk, MAX_RUN_BLOCKS};
use super::lookahead::Lookahead;
use super::mdir::{self, Entry, Layout, MetaPair, entries_len, fits_half, parse_block, revision};
use super::tag;
use crate::block::Block;
use crate::kv::Kind;

/// Directories nest at most this deep (recursive operations stop there).
pub(super) const MAX_DEPTH: usize = 128;

/// The file system's parameters, from the superblock and the device.
#[derive(Debug, Clone, Copy)]
pub(super) struct Config {
    /// Block size, program size, forward CRCs.
    pub layout: Layout,
    /// Blocks in the file system.
    pub block_count: u32,
    /// Longest name.
    pub name_max: u32,
    /// Largest file.
    pub file_max: u32,
    /// Largest user attribute.
    pub attr_max: u32,
    /// Largest file stored inline in its metadata pair.
    pub inline_max: u32,
}

/// Checks the block and program sizes.
pub(super) fn check_geometry(block_size: u32, prog_size: u32) -> Result<(), Error> {
    if !(128..=(1 << 20)).contains(&block_size) || !block_size.is_power_of_two() {
        return Err(Error::Unsupported(format!(
            "a block (sector) size of {block_size} bytes: littlefs needs a power of two of at least 128"
        )));
    }
    if prog_size == 0 || !prog_size.is_power_of_two() || prog_size > block_size {
        return Err(Error::Unsupported(format!(
            "program block size {prog_size}: it must be a power of two no larger than the block size {block_size}"
        )));
    }
    Ok(())
}

/// What survives between operations: the configuration, where the root
/// is, the global state, the allocator and the cache.
#[derive(Debug)]
pub(super) struct State {
    /// Parameters.
    pub cfg: Config,
    /// The root directory's first pair.
    pub root: Pair,
    /// The global state as it should be.
    pub gstate: GState,
    /// The global state as the disk has it (XOR of all pairs' deltas).
    pub gdisk: GState,
    /// Whether pending moves and orphans have been dealt with.
    pub consistent: bool,
    /// Free blocks.
    pub alloc: Lookahead,
    /// Recently fetched pairs.
    pub cache: Cache,
}

/// Where a directory entry is: the directory's first pair, the pair
/// holding it and its id there.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    /// The first pair of the directory.
    pub head: Pair,
    /// The pair holding the entry (as fetched).
    pub mp: Rc<MetaPair>,
    /// The entry's id in that pair.
    pub id: usize,
}

impl Slot {
    /// The entry.
    pub(super) fn entry(&self) -> &Entry {
        &self.mp.entries[self.id]
    }
}

/// A mounted file system: the device and the state.
pub(super) struct Fs<'a, B> {
    /// The device.
    pub disk: Disk<'a, B>,
    /// The state.
    pub st: State,
}

/// Formats `block` as an empty littlefs (version 2.1) file system: the
/// superblock entry written into both blocks of the pair (0, 1).
pub(super) async fn format<B: Block>(block: &B, prog_size: u32) -> Result<(), Error> {
    let info = block.info();
    check_geometry(info.sector_size, prog_size)?;
    if !info.read_write {
        return Err(Error::Io(crate::block::BlockError::ReadOnly));
    }
    let count = u32::try_from(info.size_sectors)
        .unwrap_or(u32::MAX - 1)
        .min(u32::MAX - 1);
    if count < 4 {
        return Err(Error::Unsupported(format!(
            "a device of {count} blocks is too small for littlefs"
        )));
    }
    let bs = info.sector_size as usize;
    let disk = Disk::new(block, bs, count);
    let layout = Layout {
        block_size: bs,
        prog_size: prog_size as usize,
        fcrc: true,
    };
    let sb = Superblock {
        version: disk::VERSION,
        block_size: info.sector_size,
        block_count: count,
        name_max: disk::NAME_MAX,
        file_max: disk::FILE_MAX,
        attr_max: disk::ATTR_MAX,
    };
    let mut mp = MetaPair::empty(SUPERBLOCK_PAIR, 0);
    mp.entries.push(Entry {
        name: Some((tag::SUPERBLOCK, MAGIC.to_vec())),
        structure: Some((tag::INLINESTRUCT, sb.emit())),
        attrs: Vec::new(),
    });
    // Whatever block 1 holds, block 0's new revision is newer, so a power
    // loss between the two writes still leaves the new superblock current.
    let stale = match disk.read(1).await {
        Ok(data) => revision(&data),
        Err(_) => 0,
    };
    for (n, rev) in [(0u32, stale.wrapping_add(1)), (1, stale.wrapping_add(2))] {
        let image = mdir::emit_block(&mp, rev, &layout).ok_or_else(|| {
            Error::Unsupported(String::from("the superblock does not fit a block"))
        })?;
        disk.write(n, &image).await?;
    }
    Ok(())
}

impl<'a, B: Block> Fs<'a, B> {
    /// Mounts the file system on `block`: checks the superblock, walks the
    /// metadata list to sum the global state.
    pub(super) async fn mount(block: &'a B, prog_size: u32) -> Result<Fs<'a, B>, Error> {
        let info = block.info();
        check_geometry(info.sector_size, prog_size)?;
        let bs = info.sector_size as usize;
        let device_blocks = u32::try_from(info.size_sectors)
            .unwrap_or(u32::MAX - 1)
            .min(u32::MAX - 1);
        if device_blocks < 2 {
            return Err(Error::NotFormatted);
        }
        let cfg = Config {
            layout: Layout {
                block_size: bs,
                prog_size: prog_size as usize,
                fcrc: true,
            },
            block_count: device_blocks,
            name_max: disk::NAME_MAX,
            file_max: disk::FILE_MAX,
            attr_max: disk::ATTR_MAX,
            inline_max: 0,
        };
        let mut fs = Fs {
            disk: Disk::new(block, bs, device_blocks),
            st: State {
                cfg,
                root: NULL_PAIR,
                gstate: GState::default(),
                gdisk: GState::default(),
                consistent: true,
                alloc: Lookahead::new(device_blocks),
                cache: Cache::default(),
            },
        };
        if let Err(e) = fs.fetch(SUPERBLOCK_PAIR).await {
            return Err(match e {
                Error::Corrupt(_) if !fs.has_magic().await => Error::NotFormatted,
                other => other,
            });
        }
        let mut superblock = None;
        let mut gstate = GState::default();
        let damaged = fs
            .walk_list(|mp| {
                match superblock_of(mp) {
                    Ok(Some(sb)) => superblock = Some((sb, mp.pair)),
                    Ok(None) => {}
                    Err(e) => return Some(e),
                }
                gstate = gstate.xor(mp.gdelta);
                None
            })
            .await?;
        if let Some(e) = damaged {
            return Err(e);
        }
        let (sb, root) =
            superblock.ok_or_else(|| corrupt("no superblock entry in the metadata list"))?;
        fs.st.root = root;
        fs.st.cfg = config_of(&sb, &fs.st.cfg, device_blocks)?;
        fs.disk = Disk::new(block, bs, fs.st.cfg.block_count);
        fs.st.alloc = Lookahead::new(fs.st.cfg.block_count);
        fs.st.gdisk = gstate.on_disk();
        fs.st.gstate = fs.st.gdisk;
        fs.st.consistent = fs.st.gdisk.pending_move().is_none() && !fs.st.gdisk.has_orphans();
        Ok(fs)
    }

    /// Whether block 0 or 1 carries the littlefs magic where a superblock
    /// would (offset 8): tells a damaged file system from none.
    async fn has_magic(&self) -> bool {
        for n in [0, 1] {
            if let Ok(data) = self.disk.read(n).await
                && data.get(8..16) == Some(MAGIC.as_slice())
            {
                return true;
            }
        }
        false
    }

    /// The state of the pair `pair`: the newest of its two blocks holding
    /// a valid commit.
    pub(super) async fn fetch(&mut self, pair: Pair) -> Result<Rc<MetaPair>, Error> {
        let count = self.disk.block_count;
        if pair[0] >= count || pair[1] >= count || pair[0] == pair[1] {
            return Err(corrupt(format!(
                "metadata pair {pair:?} is not a pair of blocks below {count}"
            )));
        }
        if let Some(mp) = self.st.cache.get(pair) {
            return Ok(mp);
        }
        // A block that cannot be read (a torn write on an encrypted
        // device) counts as one without a valid commit, as long as the
        // other block has one.
        let (a, b) = self.disk.read_pair(pair).await;
        let mut failure = None;
        let mut blocks = Vec::with_capacity(2);
        for (n, other, read) in [(pair[0], pair[1], a), (pair[1], pair[0], b)] {
            match read {
                Ok(data) => blocks.push((n, other, data)),
                Err(e) => failure = Some(e),
            }
        }
        if let [(_, _, a), (_, _, b)] = blocks.as_slice()
            && (revision(b).wrapping_sub(revision(a)) as i32) > 0
        {
            blocks.swap(0, 1);
        }
        for (first, second, data) in blocks {
            match parse_block(&data) {
                Ok(Some(log)) => {
                    let mp = MetaPair {
                        pair: [first, second],
                        rev: log.rev,
                        entries: log.entries,
                        tail: log.tail,
                        split: log.split,
                        gdelta: log.gdelta,
                    };
                    let mp = Rc::new(mp);
                    self.st.cache.put(Rc::clone(&mp));
                    return Ok(mp);
                }
                Ok(None) => {}
                Err(what) => return Err(corrupt(format!("metadata block {first}: {what}"))),
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        Err(corrupt(format!(
            "metadata pair {pair:?} holds no valid commit"
        )))
    }

    /// The state of `pair`, to be changed and committed.
    pub(super) async fn fetch_owned(&mut self, pair: Pair) -> Result<MetaPair, Error> {
        Ok(Rc::unwrap_or_clone(self.fetch(pair).await?))
    }

    /// The id hidden by a pending move in `mp`, if any.
    pub(super) fn moved_id(&self, mp: &MetaPair) -> Option<usize> {
        self.st
            .gdisk
            .pending_move()
            .filter(|(p, _)| pair_overlaps(*p, mp.pair))
            .map(|(_, id)| usize::from(id))
    }

    /// Visits the pairs of the directory starting at `head`, in order,
    /// with the id a pending move hides in each, until `visit` returns
    /// something.
    async fn walk_chain<T>(
        &mut self,
        head: Pair,
        mut visit: impl FnMut(&Rc<MetaPair>, Option<usize>) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let mut seen = BTreeSet::new();
        let mut pair = head;
        loop {
            if !seen.insert(pair_key(pair)) {
                return Err(corrupt(format!("directory chain at {head:?} loops")));
            }
            let mp = self.fetch(pair).await?;
            if let Some(found) = visit(&mp, self.moved_id(&mp)) {
                return Ok(Some(found));
            }
            match mp.split.then(|| mp.tail()).flatten() {
                Some(next) => pair = next,
                None => return Ok(None),
            }
        }
    }

    /// The pairs of the directory starting at `head`, in order.
    pub(super) async fn chain(&mut self, head: Pair) -> Result<Vec<Rc<MetaPair>>, Error> {
        let mut out = Vec::new();
        self.walk_chain(head, |mp, _| {
            out.push(Rc::clone(mp));
            None::<()>
        })
        .await?;
        Ok(out)
    }

    /// The visible file and directory entries of the directory at `head`:
    /// (pair, id, entry) in directory order.
    pub(super) async fn entries(&mut self, head: Pair) -> Result<Vec<(Pair, usize, Entry)>, Error> {
        let mut out = Vec::new();
        for mp in self.chain(head).await? {
            let hidden = self.moved_id(&mp);
            for (id, e) in mp.entries.iter().enumerate() {
                if Some(id) != hidden && e.kind().is_some() {
                    out.push((mp.pair, id, e.clone()));
                }
            }
        }
        Ok(out)
    }

    /// The entry `name` of the directory at `head`.
    pub(super) async fn find(&mut self, head: Pair, name: &[u8]) -> Result<Option<Slot>, Error> {
        self.walk_chain(head, |mp, hidden| {
            let id = mp
                .entries
                .iter()
                .enumerate()
                .position(|(id, e)| Some(id) != hidden && e.file_name() == Some(name))?;
            Some(Slot {
                head,
                mp: Rc::clone(mp),
                id,
            })
        })
        .await
    }

    /// The first pair of the directory an entry names.
    pub(super) fn dir_pair(&self, e: &Entry) -> Result<Pair, Error> {
        match &e.structure {
            Some((tag::DIRSTRUCT, data)) => {
                let pair =
                    disk::parse_pair(data).ok_or_else(|| corrupt("a short directory structure"))?;
                if pair_is_null(pair) {
                    return Err(corrupt("a directory entry without a pair"));
                }
                Ok(pair)
            }
            _ => Err(corrupt("a directory entry without a directory structure")),
        }
    }

    /// A file's size and where its data is.
    pub(super) fn file_of(&self, e: &Entry) -> Result<FileData, Error> {
        match &e.structure {
            Some((tag::INLINESTRUCT, data)) => Ok(FileData::Inline(data.clone())),
            Some((tag::CTZSTRUCT, data)) => {
                let c = Ctz::parse(data).ok_or_else(|| corrupt("a short file structure"))?;
                ctz::check(&self.disk, c)?;
                Ok(FileData::Ctz(c))
            }
            _ => Err(corrupt("a file entry without a file structure")),
        }
    }

    /// Bytes `[start, start + len)` of a file (fewer at its end).
    pub(super) async fn read_file(
        &self,
        data: &FileData,
        start: u64,
        len: usize,
    ) -> Result<Vec<u8>, Error> {
        match data {
            FileData::Inline(bytes) => {
                let from = usize::try_from(start)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let to = from.saturating_add(len).min(bytes.len());
                Ok(bytes[from..to].to_vec())
            }
            FileData::Ctz(c) => ctz::read(&self.disk, *c, start, len).await,
        }
    }

    // ----- allocation --------------------------------------------------

    /// A free block.
    pub(super) async fn alloc_block(&mut self) -> Result<u32, Error> {
        loop {
            if let Some(b) = self.st.alloc.take() {
                return Ok(b);
            }
            if self.st.alloc.exhausted() {
                return Err(Error::NoSpace);
            }
            self.st.alloc.begin_scan();
            self.scan().await?;
        }
    }

    /// Marks every block the file system references in the allocator's
    /// window: pairs reachable from the superblock by tails or directory
    /// structures (so half-linked pairs count too), and files' blocks.
    async fn scan(&mut self) -> Result<(), Error> {
        let mut queue = vec![SUPERBLOCK_PAIR];
        let mut seen = BTreeSet::new();
        while let Some(pair) = queue.pop() {
            if !seen.insert(pair_key(pair)) {
                continue;
            }
            if seen.len() as u64 > u64::from(self.disk.block_count) {
                return Err(corrupt("more metadata pairs than blocks"));
            }
            self.st.alloc.mark(pair[0]);
            self.st.alloc.mark(pair[1]);
            let mp = self.fetch(pair).await?;
            if let Some(t) = mp.tail() {
                queue.push(t);
            }
            for e in &mp.entries {
                match &e.structure {
                    Some((tag::DIRSTRUCT, d)) => {
                        if let Some(p) = disk::parse_pair(d).filter(|p| !pair_is_null(*p)) {
                            queue.push(p);
                        }
                    }
                    Some((tag::CTZSTRUCT, d)) => {
                        if let Some(c) = Ctz::parse(d) {
                            let alloc = &mut self.st.alloc;
                            ctz::traverse(&self.disk, c, |b| alloc.mark(b)).await?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Two free blocks as a new, empty pair.
    async fn alloc_pair(&mut self) -> Result<MetaPair, Error> {
        let a = self.alloc_block().await?;
        let b = self.alloc_block().await?;
        Ok(MetaPair::empty([a, b], 0))
    }

    // ----- commits -----------------------------------------------------

    fn layout(&self) -> Layout {
        self.st.cfg.layout
    }

    /// Writes a pair that nothing references yet: both blocks, the first
    /// with no valid commit (so that every block of a pair has been
    /// written, which encrypted devices need to read it back), the second
    /// with the state.
    async fn write_new_pair(&mut self, mp: &mut MetaPair) -> Result<(), Error> {
        let bs = self.disk.block_size;
        let image =
            mdir::emit_block(mp, mp.rev.wrapping_add(1), &self.layout()).ok_or(Error::NoSpace)?;
        let mut blank = vec![0u8; bs];
        blank[..4].copy_from_slice(&mp.rev.to_le_bytes());
        if mp.pair[1] == mp.pair[0].wrapping_add(1) {
            let mut both = blank;
            both.extend_from_slice(&image);
            self.disk.write(mp.pair[0], &both).await?;
        } else {
            self.disk.write(mp.pair[0], &blank).await?;
            self.disk.write(mp.pair[1], &image).await?;
        }
        mp.rev = mp.rev.wrapping_add(1);
        mp.pair.swap(0, 1);
        self.st.cache.put(Rc::new(mp.clone()));
        Ok(())
    }

    /// Commits the new state `mp` of an existing pair, carrying any change
    /// of the global state; splits the pair (moving its last entries into
    /// new pairs linked after it) when the state does not fit one block.
    pub(super) async fn commit(&mut self, mut mp: MetaPair) -> Result<MetaPair, Error> {
        let delta = self.st.gstate.xor(self.st.gdisk).on_disk();
        mp.gdelta = mp.gdelta.xor(delta);
        loop {
            let layout = self.layout();
            if let Some(image) = mdir::emit_block(&mp, mp.rev.wrapping_add(1), &layout) {
                self.disk.write(mp.pair[1], &image).await?;
                mp.rev = mp.rev.wrapping_add(1);
                mp.pair.swap(0, 1);
                self.st.gdisk = self.st.gstate.on_disk();
                self.st.cache.put(Rc::new(mp.clone()));
                return Ok(mp);
            }
            let end = mp.entries.len();
            if end < 2 {
                return Err(Error::NoSpace);
            }
            let mut split = 0;
            while end - split > 1 {
                if fits_half(&layout, entries_len(&mp.entries[split..]), end - split) {
                    break;
                }
                split += (end - split) / 2;
            }
            if split == 0 {
                split = end / 2;
            }
            let mut new = self.alloc_pair().await?;
            new.entries = mp.entries.split_off(split);
            new.tail = mp.tail;
            new.split = mp.split;
            self.write_new_pair(&mut new).await?;
            mp.tail = new.pair;
            mp.split = true;
        }
    }

    /// Commits `mp`, or, if it has no entries left and is not the first
    /// pair of its directory, drops it from the chain: its predecessor
    /// takes over its tail and its share of the global state.
    pub(super) async fn commit_or_drop(&mut self, head: Pair, mp: MetaPair) -> Result<(), Error> {
        if mp.entries.is_empty() && !pair_overlaps(head, mp.pair) {
            let chain = self.chain(head).await?;
            if let Some(pred) = chain
                .iter()
                .position(|p| pair_overlaps(p.pair, mp.pair))
                .and_then(|i| i.checked_sub(1))
                .map(|i| (*chain[i]).clone())
            {
                let mut pred = pred;
                pred.tail = mp.tail;
                pred.split = mp.split;
                pred.gdelta = pred.gdelta.xor(mp.gdelta);
                self.commit(pred).await?;
                self.st.cache.evict(mp.pair);
                return Ok(());
            }
        }
        self.commit(mp).await.map(|_| ())
    }

    /// Visits the pairs of the metadata list from the superblock on,
    /// until `visit` returns something.
    async fn walk_list<T>(
        &mut self,
        mut visit: impl FnMut(&MetaPair) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let mut seen = BTreeSet::new();
        let mut cur = SUPERBLOCK_PAIR;
        loop {
            if !seen.insert(pair_key(cur)) {
                return Err(corrupt("the metadata list loops"));
            }
            let mp = self.fetch(cur).await?;
            if let Some(found) = visit(&mp) {
                return Ok(Some(found));
            }
            match mp.tail() {
                Some(t) => cur = t,
                None => return Ok(None),
            }
        }
    }

    /// The pair of the metadata list whose tail is `pair`.
    async fn list_pred(&mut self, pair: Pair) -> Result<Option<MetaPair>, Error> {
        self.walk_list(|mp| {
            mp.tail()
                .is_some_and(|t| pair_overlaps(t, pair))
                .then(|| mp.clone())
        })
        .await
    }

    /// Where a new entry `name` goes in the directory at `head`: the pair
    /// holding the first greater name (littlefs keeps names sorted), or the
    /// end of the last pair; and the last pair.
    async fn insertion(
        &mut self,
        head: Pair,
        name: &[u8],
    ) -> Result<(MetaPair, usize, MetaPair), Error> {
        let chain = self.chain(head).await?;
        let last = chain
            .last()
            .map(|p| (**p).clone())
            .ok_or_else(|| corrupt("an empty directory chain"))?;
        for mp in chain {
            let greater = mp
                .entries
                .iter()
                .position(|e| e.file_name().is_some_and(|n| n > name));
            if let Some(id) = greater {
                return Ok(((*mp).clone(), id, last));
            }
        }
        let id = last.entries.len();
        Ok((last.clone(), id, last))
    }

    /// Where a new entry `name` goes in the directory at `head`: the pair
    /// and the id.
    pub(super) async fn insertion_point(
        &mut self,
        head: Pair,
        name: &[u8],
    ) -> Result<(MetaPair, usize), Error> {
        let (mp, id, _) = self.insertion(head, name).await?;
        Ok((mp, id))
    }

    /// Adds `entry` (a file) to the directory at `head`.
    pub(super) async fn insert(&mut self, head: Pair, entry: Entry) -> Result<(), Error> {
        let name = entry.file_name().unwrap_or_default().to_vec();
        let (mut mp, id, _) = self.insertion(head, &name).await?;
        mp.entries.insert(id, entry);
        self.commit(mp).await.map(|_| ())
    }

    /// Creates the directory `name` in the directory at `head`, with the
    /// attributes `attrs`; returns its first pair.
    pub(super) async fn mkdir(
        &mut self,
        head: Pair,
        name: &[u8],
        attrs: Vec<(u16, Vec<u8>)>,
    ) -> Result<Pair, Error> {
        let (target, id, last) = self.insertion(head, name).await?;
        let mut dir = self.alloc_pair().await?;
        dir.tail = last.tail;
        self.write_new_pair(&mut dir).await?;
        let mut entry = Entry::new(
            Kind::Dictionary,
            name,
            (tag::DIRSTRUCT, disk::emit_pair(dir.pair)),
        );
        entry.attrs = attrs;
        if pair_overlaps(target.pair, last.pair) {
            let mut mp = target;
            mp.entries.insert(id, entry);
            mp.tail = dir.pair;
            self.commit(mp).await?;
        } else {
            // Link the new pair into the metadata list first: until the
            // entry exists it is an orphan, which the global state says.
            self.st.gstate.set_orphans(true);
            let mut end = last;
            end.tail = dir.pair;
            self.commit(end).await?;
            self.st.gstate.set_orphans(false);
            let mut mp = self.fetch_owned(target.pair).await?;
            mp.entries.insert(id, entry);
            self.commit(mp).await?;
        }
        Ok(dir.pair)
    }

    /// Removes the file entry at `slot`.
    pub(super) async fn remove_file(&mut self, slot: Slot) -> Result<(), Error> {
        let mut mp = self.fetch_owned(slot.mp.pair).await?;
        mp.entries.remove(slot.id);
        self.commit_or_drop(slot.head, mp).await
    }

    /// Removes the directory entry at `slot` (whose directory must already
    /// be empty) and unlinks its pairs from the metadata list.
    pub(super) async fn remove_dir(&mut self, slot: Slot) -> Result<(), Error> {
        let dir = self.dir_pair(slot.entry())?;
        let chain = self.chain(dir).await?;
        let last_tail = chain.last().map_or(NULL_PAIR, |p| p.tail);
        let stolen = chain.iter().fold(GState::default(), |g, p| g.xor(p.gdelta));
        self.st.gstate.set_orphans(true);
        let mut mp = self.fetch_owned(slot.mp.pair).await?;
        mp.entries.remove(slot.id);
        self.commit_or_drop(slot.head, mp).await?;
        self.st.gstate.set_orphans(false);
        match self.list_pred(dir).await? {
            Some(mut pred) => {
                pred.tail = last_tail;
                pred.split = false;
                pred.gdelta = pred.gdelta.xor(stolen);
                self.commit(pred).await?;
            }
            None => {
                let root = self.fetch_owned(self.st.root).await?;
                self.commit(root).await?;
            }
        }
        for p in &chain {
            self.st.cache.evict(p.pair);
        }
        Ok(())
    }

    // ----- files -------------------------------------------------------

    /// The structure of a file holding `data` from scratch: inline if
    /// small, else a new skip-list.
    pub(super) async fn new_file(&mut self, data: &[u8]) -> Result<(u16, Vec<u8>), Error> {
        if data.len() as u64 > u64::from(self.st.cfg.file_max) {
            return Err(Error::NoSpace);
        }
        if data.len() <= self.st.cfg.inline_max as usize {
            return Ok((tag::INLINESTRUCT, data.to_vec()));
        }
        let c = self.write_ctz(None, 0, data).await?;
        Ok((tag::CTZSTRUCT, c.emit()))
    }

    /// Writes a skip-list reusing blocks `[0, keep)` of `old` and filling
    /// new blocks with `data`, the file's bytes from the start of block
    /// `keep` on.
    pub(super) async fn write_ctz(
        &mut self,
        old: Option<Ctz>,
        keep: u64,
        data: &[u8],
    ) -> Result<Ctz, Error> {
        let bs = self.disk.block_size;
        let start = ctz::data_start(bs, keep);
        let size = start + data.len() as u64;
        if size > u64::from(self.st.cfg.file_max) || data.is_empty() {
            return Err(Error::NoSpace);
        }
        let mut blocks: Vec<u32> = Vec::new();
        let mut old_blocks: Vec<(u64, u32)> = Vec::new();
        let mut run: Vec<u8> = Vec::new();
        let mut run_first = 0u32;
        let mut pos = 0usize;
        let mut n = keep;
        while pos < data.len() {
            let b = self.alloc_block().await?;
            let mut buf = vec![0u8; bs];
            let header = ctz::header_len(n);
            for x in 0..header / 4 {
                let target = n - (1u64 << x);
                let addr = if target >= keep {
                    blocks[(target - keep) as usize]
                } else {
                    self.old_block(old, target, &mut old_blocks).await?
                };
                buf[4 * x..4 * x + 4].copy_from_slice(&addr.to_le_bytes());
            }
            let take = (bs - header).min(data.len() - pos);
            buf[header..header + take].copy_from_slice(&data[pos..pos + take]);
            let adjacent = !run.is_empty() && b == run_first.wrapping_add((run.len() / bs) as u32);
            if !run.is_empty() && (!adjacent || run.len() / bs >= MAX_RUN_BLOCKS) {
                self.disk.write(run_first, &run).await?;
                run.clear();
            }
            if run.is_empty() {
                run_first = b;
            }
            run.extend_from_slice(&buf);
            blocks.push(b);
            pos += take;
            n += 1;
        }
        if !run.is_empty() {
            self.disk.write(run_first, &run).await?;
        }
        Ok(Ctz {
            head: *blocks.last().ok_or(Error::NoSpace)?,
            size: size as u32,
        })
    }

    /// The address of block `n` of the old file `old`.
    async fn old_block(
        &self,
        old: Option<Ctz>,
        n: u64,
        memo: &mut Vec<(u64, u32)>,
    ) -> Result<u32, Error> {
        if let Some((_, b)) = memo.iter().find(|(i, _)| *i == n) {
            return Ok(*b);
        }
        let old = old.ok_or_else(|| corrupt("a skip-list block without a file"))?;
        let b = ctz::find(
            &self.disk,
            old.head,
            ctz::last_index(self.disk.block_size, old.size),
            n,
        )
        .await?;
        memo.push((n, b));
        Ok(b)
    }

    // ----- consistency -------------------------------------------------

    /// Finishes what a power loss interrupted, before the first change:
    /// deletes the source of a pending move, then unlinks orphaned pairs
    /// from the metadata list (or relinks half-orphans) as littlefs's
    /// `lfs_fs_forceconsistency` does.
    pub(super) async fn make_consistent(&mut self) -> Result<(), Error> {
        if self.st.consistent {
            return Ok(());
        }
        if let Some((pair, id)) = self.st.gdisk.pending_move() {
            let mut mp = self.fetch_owned(pair).await?;
            self.st.gstate.set_move(None);
            if usize::from(id) < mp.entries.len() {
                mp.entries.remove(usize::from(id));
            }
            self.commit(mp).await?;
        }
        if self.st.gdisk.has_orphans() {
            self.deorphan(true).await?;
            self.deorphan(false).await?;
            self.st.gstate.set_orphans(false);
            let root = self.fetch_owned(self.st.root).await?;
            self.commit(root).await?;
        }
        self.st.consistent = true;
        Ok(())
    }

    /// One pass over the metadata list: relinking half-orphans (a list
    /// entry whose directory entry names other blocks) or unlinking full
    /// orphans (a directory's first pair no entry names).
    async fn deorphan(&mut self, half: bool) -> Result<(), Error> {
        let mut prev: Option<MetaPair> = None;
        let mut cur = SUPERBLOCK_PAIR;
        let mut steps = 0u64;
        loop {
            steps += 1;
            if steps > 2 * u64::from(self.disk.block_count) {
                return Err(corrupt("the metadata list loops"));
            }
            let dir = self.fetch(cur).await?;
            if let Some(p) = prev.as_ref().filter(|p| !p.split) {
                let parent = self.parent_of(cur).await?;
                if half {
                    if let Some(named) = parent.filter(|n| pair_key(*n) != pair_key(cur)) {
                        let mut p = p.clone();
                        p.tail = named;
                        prev = Some(self.commit(p).await?);
                        cur = named;
                        continue;
                    }
                } else if parent.is_none() {
                    let mut p = p.clone();
                    p.tail = dir.tail;
                    p.split = dir.split;
                    p.gdelta = p.gdelta.xor(dir.gdelta);
                    let p = self.commit(p).await?;
                    self.st.cache.evict(dir.pair);
                    match p.tail() {
                        Some(t) => {
                            cur = t;
                            prev = Some(p);
                            continue;
                        }
                        None => return Ok(()),
                    }
                }
            }
            match dir.tail() {
                Some(t) => {
                    cur = t;
                    prev = Some(Rc::unwrap_or_clone(dir));
                }
                None => return Ok(()),
            }
        }
    }

    /// The pair named by the directory entry that points at `pair`.
    async fn parent_of(&mut self, pair: Pair) -> Result<Option<Pair>, Error> {
        self.walk_list(|mp| {
            mp.entries.iter().find_map(|e| match &e.structure {
                Some((tag::DIRSTRUCT, d)) => {
                    disk::parse_pair(d).filter(|p| pair_overlaps(*p, pair))
                }
                _ => None,
            })
        })
        .await
    }
}

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub(super) enum FileData {
    /// In the metadata pair.
    Inline(Vec<u8>),
    /// In a skip-list.
    Ctz(Ctz),
}

impl FileData {
    /// The file's size.
    pub(super) fn size(&self) -> u64 {
        match self {
            FileData::Inline(d) => d.len() as u64,
            FileData::Ctz(c) => u64::from(c.size),
        }
    }
}

/// The superblock of `mp`, if its entry 0 is the superblock entry.
fn superblock_of(mp: &MetaPair) -> Result<Option<Superblock>, Error> {
    let Some(e) = mp.entries.first() else {
        return Ok(None);
    };
    match &e.name {
        Some((tag::SUPERBLOCK, name)) if name.as_slice() == MAGIC.as_slice() => {}
        _ => return Ok(None),
    }
    match &e.structure {
        Some((tag::INLINESTRUCT, data)) => Superblock::parse(data)
            .map(Some)
            .ok_or_else(|| corrupt("a superblock shorter than 24 bytes")),
        _ => Err(corrupt("a superblock entry without its structure")),
    }
}

/// The configuration a superblock describes on this device.
fn config_of(sb: &Superblock, base: &Config, device_blocks: u32) -> Result<Config, Error> {
    let (major, minor) = (sb.version >> 16, sb.version & 0xffff);
    if major != 2 || minor > 1 {
        return Err(Error::Unsupported(format!(
            "littlefs on-disk version {major}.{minor}: this implementation reads 2.0 and 2.1"
        )));
    }
    let bs = base.layout.block_size;
    if sb.block_size as usize != bs {
        return Err(Error::Unsupported(format!(
            "the file system has {}-byte blocks but the device's sectors are {bs} bytes",
            sb.block_size
        )));
    }
    if sb.block_count < 2 || sb.block_count > device_blocks {
        return Err(corrupt(format!(
            "the superblock counts {} blocks, the device has {device_blocks}",
            sb.block_count
        )));
    }
    let or = |v: u32, default: u32| if v == 0 { default } else { v };
    let name_max = or(sb.name_max, disk::NAME_MAX);
    let file_max = or(sb.file_max, disk::FILE_MAX);
    let attr_max = or(sb.attr_max, disk::ATTR_MAX);
    if name_max > disk::NAME_MAX_LIMIT || file_max > disk::FILE_MAX || attr_max > disk::ATTR_MAX {
        return Err(Error::Unsupported(format!(
            "superblock limits name_max {name_max}, file_max {file_max}, attr_max {attr_max} exceed littlefs's"
        )));
    }
    Ok(Config {
        layout: Layout {
            block_size: bs,
            prog_size: base.layout.prog_size,
            fcrc: minor >= 1,
        },
        block_count: sb.block_count,
        name_max,
        file_max,
        attr_max,
        inline_max: attr_max.min((bs / 8) as u32).min(0x3fe),
    })
}
