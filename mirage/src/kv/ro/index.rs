//! The tree of keys shared by the read-only stores: each key is a value
//! (with the store's handle `V` on its contents) or a dictionary (with its
//! entries), and every key has a modification time.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::kv::{Key, Kind, KvError, Timestamp};

/// What a key names.
pub(crate) enum Node<V> {
    /// A value, read through the store's handle.
    Value(V),
    /// A dictionary: its entries' names and kinds, sorted.
    Dictionary(BTreeMap<String, Kind>),
}

/// Why an entry cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The key is (or is below) a value and would need to be a dictionary.
    ValueInTheWay(Key),
    /// The key is a dictionary and cannot become a value.
    DictionaryInTheWay(Key),
}

impl core::fmt::Display for Conflict {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Conflict::ValueInTheWay(k) => write!(f, "{k} is a value, not a dictionary"),
            Conflict::DictionaryInTheWay(k) => write!(f, "{k} is a dictionary, not a value"),
        }
    }
}

/// A tree of keys.
pub(crate) struct Index<V> {
    nodes: BTreeMap<Key, (Node<V>, Timestamp)>,
}

impl<V> Index<V> {
    /// A tree holding only the root dictionary, modified at `mtime`.
    pub(crate) fn new(mtime: Timestamp) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(Key::root(), (Node::Dictionary(BTreeMap::new()), mtime));
        Index { nodes }
    }

    /// Makes every dictionary above `key` exist (implied dictionaries take
    /// `mtime`) and records `key` in its parent as `kind`.
    fn make_parents(&mut self, key: &Key, kind: Kind, mtime: Timestamp) -> Result<(), Conflict> {
        let segments = key.segments();
        // First check, so a conflict leaves the tree unchanged.
        let mut prefix = Key::root();
        for segment in &segments[..segments.len().saturating_sub(1)] {
            prefix = prefix.add(segment);
            if let Some((Node::Value(_), _)) = self.nodes.get(&prefix) {
                return Err(Conflict::ValueInTheWay(prefix));
            }
        }
        let mut parent = Key::root();
        for (i, segment) in segments.iter().enumerate() {
            let child = parent.add(segment);
            let child_kind = if i + 1 == segments.len() {
                kind
            } else {
                Kind::Dictionary
            };
            if let Some((Node::Dictionary(entries), _)) = self.nodes.get_mut(&parent) {
                entries.insert(segment.clone(), child_kind);
            }
            if child_kind == Kind::Dictionary && !self.nodes.contains_key(&child) {
                self.nodes
                    .insert(child.clone(), (Node::Dictionary(BTreeMap::new()), mtime));
            }
            parent = child;
        }
        Ok(())
    }

    /// Adds (or replaces) the value at `key`.
    pub(crate) fn insert_value(
        &mut self,
        key: &Key,
        value: V,
        mtime: Timestamp,
    ) -> Result<(), Conflict> {
        match self.nodes.get(key) {
            Some((Node::Dictionary(_), _)) => {
                return Err(Conflict::DictionaryInTheWay(key.clone()));
            }
            _ if key.is_root() => return Err(Conflict::DictionaryInTheWay(key.clone())),
            _ => {}
        }
        self.make_parents(key, Kind::Value, mtime)?;
        self.nodes.insert(key.clone(), (Node::Value(value), mtime));
        Ok(())
    }

    /// Makes the dictionary at `key` exist, modified at `mtime`.
    pub(crate) fn insert_dictionary(
        &mut self,
        key: &Key,
        mtime: Timestamp,
    ) -> Result<(), Conflict> {
        if let Some((Node::Value(_), _)) = self.nodes.get(key) {
            return Err(Conflict::ValueInTheWay(key.clone()));
        }
        self.make_parents(key, Kind::Dictionary, mtime)?;
        if let Some((_, t)) = self.nodes.get_mut(key) {
            *t = mtime;
        }
        Ok(())
    }

    /// What `key` names.
    pub(crate) fn exists(&self, key: &Key) -> Option<Kind> {
        self.nodes.get(key).map(|(node, _)| match node {
            Node::Value(_) => Kind::Value,
            Node::Dictionary(_) => Kind::Dictionary,
        })
    }

    /// The node at `key`.
    pub(crate) fn node(&self, key: &Key) -> Result<&Node<V>, KvError> {
        self.nodes
            .get(key)
            .map(|(node, _)| node)
            .ok_or_else(|| KvError::NotFound(key.clone()))
    }

    /// The value's handle at `key`.
    pub(crate) fn value(&self, key: &Key) -> Result<&V, KvError> {
        match self.node(key)? {
            Node::Value(v) => Ok(v),
            Node::Dictionary(_) => Err(KvError::ValueExpected(key.clone())),
        }
    }

    /// The sorted entries of the dictionary at `key`.
    pub(crate) fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        match self.node(key)? {
            Node::Dictionary(entries) => Ok(entries
                .iter()
                .map(|(name, kind)| (key.add(name), *kind))
                .collect()),
            Node::Value(_) => Err(KvError::DictionaryExpected(key.clone())),
        }
    }

    /// When `key` was last modified.
    pub(crate) fn mtime(&self, key: &Key) -> Result<Timestamp, KvError> {
        self.nodes
            .get(key)
            .map(|(_, t)| *t)
            .ok_or_else(|| KvError::NotFound(key.clone()))
    }

    /// The digest of `key`: `value_digest` of a value's handle, and
    /// [`super::dictionary_digest`] for dictionaries, computed bottom-up
    /// without recursion.
    pub(crate) async fn digest(
        &self,
        key: &Key,
        value_digest: impl AsyncFn(&V) -> Result<[u8; 32], KvError>,
    ) -> Result<[u8; 32], KvError> {
        match self.node(key)? {
            Node::Value(v) => return value_digest(v).await,
            Node::Dictionary(_) => {}
        }
        // Keys below `key` follow it in order; children before parents when
        // walked backwards.
        let below: Vec<&Key> = self
            .nodes
            .range(key.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| *k == key || key.is_prefix_of(k))
            .collect();
        let mut digests: BTreeMap<&Key, [u8; 32]> = BTreeMap::new();
        for k in below.into_iter().rev() {
            let digest = match self.node(k)? {
                Node::Value(v) => value_digest(v).await?,
                Node::Dictionary(entries) => {
                    let mut parts = Vec::with_capacity(entries.len());
                    for (name, kind) in entries {
                        let child = k.add(name);
                        let d = digests.get(&child).copied().ok_or_else(|| {
                            KvError::Store(alloc::format!("{child}: missing from the index"))
                        })?;
                        parts.push((name.as_str(), *kind, d));
                    }
                    super::dictionary_digest(parts)
                }
            };
            digests.insert(k, digest);
        }
        digests
            .get(key)
            .copied()
            .ok_or_else(|| KvError::NotFound(key.clone()))
    }
}
