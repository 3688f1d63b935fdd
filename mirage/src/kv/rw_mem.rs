//! `kv_rw_mem`: a read-write key-value store in memory (as mirage-kv-mem).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use spin::Mutex;

use core::sync::atomic::{AtomicU64, Ordering};

use super::{BATCH_RETRIES, Key, Kind, KvError, KvRo, KvRw, Timestamp};
use crate::Pclock;

#[derive(Debug, Clone)]
enum Node {
    Value {
        data: Vec<u8>,
        modified: Timestamp,
    },
    Dictionary {
        entries: BTreeMap<String, Node>,
        modified: Timestamp,
    },
}

impl Node {
    fn empty_dir(now: Timestamp) -> Self {
        Node::Dictionary {
            entries: BTreeMap::new(),
            modified: now,
        }
    }

    fn modified(&self) -> Timestamp {
        match self {
            Node::Value { modified, .. } | Node::Dictionary { modified, .. } => *modified,
        }
    }

    fn digest(&self) -> Vec<u8> {
        match self {
            Node::Value { data, .. } => Sha256::digest(data).to_vec(),
            Node::Dictionary { entries, .. } => {
                let mut h = super::ro::DictionaryDigest::new();
                for (name, node) in entries {
                    let kind = match node {
                        Node::Value { .. } => Kind::Value,
                        Node::Dictionary { .. } => Kind::Dictionary,
                    };
                    h.add(name.as_bytes(), kind, &node.digest());
                }
                h.finish().to_vec()
            }
        }
    }
}

/// A read-write store in memory (the seed's `kv_rw_mem`): dictionaries are
/// created by `set` on the way and timestamps come from `clock`. Everything
/// is lost when the unikernel stops.
///
/// A [`KvRw::batch`] is a transaction: `f` runs on a private copy of the
/// store and the copy replaces the store's contents only if `f` succeeds
/// and no other write happened meanwhile (otherwise `f` runs again on the
/// newer contents, up to [`BATCH_RETRIES`] times). Other users of the store
/// see all of the batch or nothing of it.
pub struct MemRw<C: 'static> {
    clock: &'static C,
    root: Mutex<Node>,
    /// Bumped by every write: how a batch notices a concurrent one.
    version: AtomicU64,
}

impl<C: Pclock> core::fmt::Debug for MemRw<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemRw").finish_non_exhaustive()
    }
}

impl<C: Pclock> MemRw<C> {
    /// An empty store timestamped by `clock`.
    pub fn new(clock: &'static C) -> Self {
        MemRw {
            root: Mutex::new(Node::empty_dir(clock.now_d_ps())),
            clock,
            version: AtomicU64::new(0),
        }
    }

    /// Records a write (see [`MemRw::version`]).
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    fn find<'a>(node: &'a Node, key: &Key) -> Result<&'a Node, KvError> {
        let mut node = node;
        for (depth, segment) in key.segments().iter().enumerate() {
            match node {
                Node::Dictionary { entries, .. } => {
                    node = entries
                        .get(segment)
                        .ok_or_else(|| KvError::NotFound(key.clone()))?;
                }
                Node::Value { .. } => {
                    let mut prefix = Key::root();
                    for s in &key.segments()[..depth] {
                        prefix = prefix.add(s);
                    }
                    return Err(KvError::DictionaryExpected(prefix));
                }
            }
        }
        Ok(node)
    }

    /// The dictionary that holds (or will hold) `key`, created on the way.
    fn parent_mut<'a>(
        root: &'a mut Node,
        key: &Key,
        now: Timestamp,
    ) -> Result<&'a mut BTreeMap<String, Node>, KvError> {
        let segments = key.segments();
        let Some((_, dirs)) = segments.split_last() else {
            return Err(KvError::ValueExpected(Key::root()));
        };
        let mut node = root;
        let mut prefix = Key::root();
        for segment in dirs {
            prefix = prefix.add(segment);
            let Node::Dictionary { entries, modified } = node else {
                return Err(KvError::DictionaryExpected(prefix.parent()));
            };
            *modified = now;
            node = entries
                .entry(segment.clone())
                .or_insert_with(|| Node::empty_dir(now));
        }
        match node {
            Node::Dictionary { entries, modified } => {
                *modified = now;
                Ok(entries)
            }
            Node::Value { .. } => Err(KvError::DictionaryExpected(prefix)),
        }
    }

    fn take(root: &mut Node, key: &Key, now: Timestamp) -> Result<Node, KvError> {
        let name = key
            .basename()
            .ok_or(KvError::NotSupported(String::from("removing the root")))?;
        Self::find(root, &key.parent())?;
        let entries = Self::parent_mut(root, key, now)?;
        entries
            .remove(name)
            .ok_or_else(|| KvError::NotFound(key.clone()))
    }
}

impl<C: Pclock> KvRo for MemRw<C> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        let root = self.root.lock();
        match Self::find(&root, key) {
            Ok(Node::Value { .. }) => Ok(Some(Kind::Value)),
            Ok(Node::Dictionary { .. }) => Ok(Some(Kind::Dictionary)),
            // Nothing is below a value.
            Err(KvError::NotFound(_) | KvError::DictionaryExpected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        match Self::find(&self.root.lock(), key)? {
            Node::Value { data, .. } => Ok(data.clone()),
            Node::Dictionary { .. } => Err(KvError::ValueExpected(key.clone())),
        }
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        match Self::find(&self.root.lock(), key)? {
            Node::Value { data, .. } => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = start.saturating_add(length).min(data.len());
                Ok(data[start..end].to_vec())
            }
            Node::Dictionary { .. } => Err(KvError::ValueExpected(key.clone())),
        }
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        match Self::find(&self.root.lock(), key)? {
            Node::Dictionary { entries, .. } => Ok(entries
                .iter()
                .map(|(name, node)| {
                    let kind = match node {
                        Node::Value { .. } => Kind::Value,
                        Node::Dictionary { .. } => Kind::Dictionary,
                    };
                    (key.add(name), kind)
                })
                .collect()),
            Node::Value { .. } => Err(KvError::DictionaryExpected(key.clone())),
        }
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        Ok(Self::find(&self.root.lock(), key)?.modified())
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        Ok(Self::find(&self.root.lock(), key)?.digest())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        match Self::find(&self.root.lock(), key)? {
            Node::Value { data, .. } => Ok(data.len() as u64),
            Node::Dictionary { .. } => Err(KvError::ValueExpected(key.clone())),
        }
    }
}

impl<C: Pclock> KvRw for MemRw<C> {
    async fn set(&self, key: &Key, value: &[u8]) -> Result<(), KvError> {
        self.changed();
        let now = self.clock.now_d_ps();
        let mut root = self.root.lock();
        let name = key
            .basename()
            .ok_or_else(|| KvError::ValueExpected(Key::root()))?;
        let entries = Self::parent_mut(&mut root, key, now)?;
        if let Some(Node::Dictionary { .. }) = entries.get(name) {
            return Err(KvError::ValueExpected(key.clone()));
        }
        entries.insert(
            String::from(name),
            Node::Value {
                data: value.to_vec(),
                modified: now,
            },
        );
        Ok(())
    }

    async fn set_partial(&self, key: &Key, offset: u64, data: &[u8]) -> Result<(), KvError> {
        self.changed();
        let now = self.clock.now_d_ps();
        let mut root = self.root.lock();
        let name = key
            .basename()
            .ok_or_else(|| KvError::ValueExpected(Key::root()))?;
        let entries = Self::parent_mut(&mut root, key, now)?;
        let node = entries
            .entry(String::from(name))
            .or_insert_with(|| Node::Value {
                data: Vec::new(),
                modified: now,
            });
        match node {
            Node::Value {
                data: value,
                modified,
            } => {
                let start = usize::try_from(offset).map_err(|_| KvError::NoSpace)?;
                let end = start.checked_add(data.len()).ok_or(KvError::NoSpace)?;
                if value.len() < end {
                    value.resize(end, 0);
                }
                value[start..end].copy_from_slice(data);
                *modified = now;
                Ok(())
            }
            Node::Dictionary { .. } => Err(KvError::ValueExpected(key.clone())),
        }
    }

    async fn remove(&self, key: &Key) -> Result<(), KvError> {
        self.changed();
        let now = self.clock.now_d_ps();
        let mut root = self.root.lock();
        if key.is_root() {
            *root = Node::empty_dir(now);
            return Ok(());
        }
        Self::take(&mut root, key, now).map(|_| ())
    }

    async fn rename(&self, source: &Key, dest: &Key) -> Result<(), KvError> {
        self.changed();
        let now = self.clock.now_d_ps();
        let mut root = self.root.lock();
        if source == dest {
            return Self::find(&root, source).map(|_| ());
        }
        if source.is_prefix_of(dest) || source.is_root() {
            return Err(KvError::NotSupported(alloc::format!(
                "moving {source} into itself"
            )));
        }
        let node = Self::find(&root, source)?.clone();
        let name = dest
            .basename()
            .ok_or_else(|| KvError::ValueExpected(Key::root()))?;
        {
            let entries = Self::parent_mut(&mut root, dest, now)?;
            match (entries.get(name), &node) {
                (Some(Node::Dictionary { .. }), Node::Value { .. }) => {
                    return Err(KvError::ValueExpected(dest.clone()));
                }
                (Some(Node::Value { .. }), Node::Dictionary { .. }) => {
                    return Err(KvError::DictionaryExpected(dest.clone()));
                }
                _ => {}
            }
            entries.insert(String::from(name), node);
        }
        Self::take(&mut root, source, now).map(|_| ())
    }

    async fn allocate(&self, key: &Key, size: u64) -> Result<(), KvError> {
        if self.exists(key).await?.is_some() {
            return Err(KvError::NotSupported(alloc::format!(
                "allocate: {key} exists"
            )));
        }
        let size = usize::try_from(size).map_err(|_| KvError::NoSpace)?;
        self.set(key, &alloc::vec![0u8; size]).await
    }

    /// All or nothing: see the type's documentation.
    async fn batch<R>(
        &self,
        mut f: impl AsyncFnMut(&Self) -> Result<R, KvError>,
    ) -> Result<R, KvError> {
        for _ in 0..BATCH_RETRIES {
            let (copy, version) = {
                let root = self.root.lock();
                (root.clone(), self.version.load(Ordering::Relaxed))
            };
            let view = MemRw {
                clock: self.clock,
                root: Mutex::new(copy),
                version: AtomicU64::new(0),
            };
            let result = f(&view).await?;
            let mut root = self.root.lock();
            if self.version.load(Ordering::Relaxed) == version {
                *root = view.root.into_inner();
                self.changed();
                return Ok(result);
            }
        }
        Err(KvError::TooManyRetries(BATCH_RETRIES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::future::Future;

    struct Clock;
    impl Pclock for Clock {
        fn now_d_ps(&self) -> (i64, u64) {
            (20000, 5)
        }
    }

    fn now<F: Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the store waited")
    }

    fn store() -> MemRw<Clock> {
        MemRw::new(crate::rt::leak(Clock))
    }

    #[test]
    fn set_get_list_and_kinds() {
        let kv = store();
        now(kv.set(&Key::v("a/b/c"), b"hello")).unwrap();
        now(kv.set(&Key::v("a/d"), b"")).unwrap();
        assert_eq!(now(kv.get(&Key::v("a/b/c"))).unwrap(), b"hello");
        assert_eq!(
            now(kv.exists(&Key::v("a/b"))).unwrap(),
            Some(Kind::Dictionary)
        );
        assert_eq!(now(kv.exists(&Key::v("a/x"))).unwrap(), None);
        assert_eq!(
            now(kv.list(&Key::v("a"))).unwrap(),
            [
                (Key::v("a/b"), Kind::Dictionary),
                (Key::v("a/d"), Kind::Value)
            ]
        );
        assert_eq!(now(kv.size(&Key::v("a/b/c"))).unwrap(), 5);
        assert_eq!(now(kv.get_partial(&Key::v("a/b/c"), 1, 3)).unwrap(), b"ell");
        assert_eq!(now(kv.get_partial(&Key::v("a/b/c"), 4, 10)).unwrap(), b"o");
        assert_eq!(now(kv.get_partial(&Key::v("a/b/c"), 99, 10)).unwrap(), b"");
        assert_eq!(now(kv.last_modified(&Key::v("a/d"))).unwrap(), (20000, 5));
        assert_eq!(
            now(kv.digest(&Key::v("a/b/c"))).unwrap(),
            Sha256::digest(b"hello").to_vec()
        );
        assert!(matches!(
            now(kv.get(&Key::v("a"))),
            Err(KvError::ValueExpected(_))
        ));
        assert!(
            matches!(now(kv.get(&Key::v("a/b/c/d"))), Err(KvError::DictionaryExpected(k)) if k == Key::v("a/b/c"))
        );
        assert!(matches!(
            now(kv.set(&Key::v("a/b/c/d"), b"x")),
            Err(KvError::DictionaryExpected(_))
        ));
        assert!(matches!(
            now(kv.set(&Key::v("a/b"), b"x")),
            Err(KvError::ValueExpected(_))
        ));
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let kv = store();
        now(kv.set(&Key::v("keep"), b"1")).unwrap();
        // A failing batch leaves nothing behind; its reads saw its writes.
        let failed = now(kv.batch(async |b: &MemRw<Clock>| {
            b.set(&Key::v("a"), b"x").await?;
            assert_eq!(b.get(&Key::v("a")).await?, b"x");
            b.remove(&Key::v("keep")).await?;
            b.get(&Key::v("missing")).await
        }));
        assert_eq!(failed, Err(KvError::NotFound(Key::v("missing"))));
        assert_eq!(now(kv.exists(&Key::v("a"))).unwrap(), None);
        assert_eq!(now(kv.get(&Key::v("keep"))).unwrap(), b"1");
        // A successful one is applied whole, and returns f's value.
        let n = now(kv.batch(async |b: &MemRw<Clock>| {
            b.set(&Key::v("a"), b"x").await?;
            b.set(&Key::v("d/b"), b"y").await?;
            Ok(7)
        }));
        assert_eq!(n, Ok(7));
        assert_eq!(now(kv.get(&Key::v("d/b"))).unwrap(), b"y");
        // A write to the store while the batch runs makes it run again on
        // the newer contents.
        let mut runs = 0;
        let r = now(kv.batch(async |b: &MemRw<Clock>| {
            runs += 1;
            if runs == 1 {
                kv.set(&Key::v("outside"), b"o").await?;
            }
            let seen = b.exists(&Key::v("outside")).await?;
            b.set(&Key::v("inside"), b"i").await?;
            Ok(seen)
        }));
        assert_eq!(r, Ok(Some(Kind::Value)));
        assert_eq!(runs, 2);
        assert_eq!(now(kv.get(&Key::v("inside"))).unwrap(), b"i");
        assert_eq!(now(kv.get(&Key::v("outside"))).unwrap(), b"o");
        // One that always conflicts gives up.
        let r = now(kv.batch(async |_: &MemRw<Clock>| {
            kv.set(&Key::v("again"), b"o").await?;
            Ok(())
        }));
        assert_eq!(r, Err(KvError::TooManyRetries(BATCH_RETRIES)));
    }

    #[test]
    fn partial_writes_remove_rename_allocate() {
        let kv = store();
        now(kv.set_partial(&Key::v("f"), 3, b"xy")).unwrap();
        assert_eq!(now(kv.get(&Key::v("f"))).unwrap(), b"\0\0\0xy");
        now(kv.set_partial(&Key::v("f"), 1, b"AB")).unwrap();
        assert_eq!(now(kv.get(&Key::v("f"))).unwrap(), b"\0ABxy");
        now(kv.set(&Key::v("d/e/g"), b"1")).unwrap();
        now(kv.rename(&Key::v("d"), &Key::v("z/moved"))).unwrap();
        assert_eq!(now(kv.get(&Key::v("z/moved/e/g"))).unwrap(), b"1");
        assert_eq!(now(kv.exists(&Key::v("d"))).unwrap(), None);
        assert!(now(kv.rename(&Key::v("z"), &Key::v("z/inner"))).is_err());
        now(kv.allocate(&Key::v("big"), 1000)).unwrap();
        assert_eq!(now(kv.size(&Key::v("big"))).unwrap(), 1000);
        assert!(now(kv.allocate(&Key::v("big"), 1)).is_err());
        now(kv.remove(&Key::v("z"))).unwrap();
        assert_eq!(now(kv.exists(&Key::v("z/moved/e/g"))).unwrap(), None);
        assert!(matches!(
            now(kv.remove(&Key::v("nope"))),
            Err(KvError::NotFound(_))
        ));
        now(kv.remove(&Key::root())).unwrap();
        assert!(now(kv.list(&Key::root())).unwrap().is_empty());
    }
}
