//! Key-value stores: the read-only `kv_ro` (`Mirage_kv.RO`) and read-write
//! `kv_rw` (`Mirage_kv.RW`) device types, with hierarchical keys.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub mod chamelon;
pub mod conformance;
pub mod docteur;
pub mod fat;
pub mod ro;
pub mod rw_mem;
pub mod tar_rw;

/// A hierarchical key: a path of non-empty segments (`/a/b/c`); the root
/// is the empty path. Segments never contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key {
    segments: Vec<String>,
}

impl Key {
    /// The root (the empty path).
    pub fn root() -> Self {
        Key::default()
    }

    /// Parses `a/b/c` or `/a/b/c`; empty segments (`a//b`, trailing `/`)
    /// are dropped, as `Mirage_kv.Key.v` does.
    pub fn v(path: &str) -> Self {
        Key {
            segments: path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    /// The key's segments.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The key one segment deeper (`/a` + `b` = `/a/b`); a segment with a
    /// `/` adds each of its parts.
    pub fn add(&self, segment: &str) -> Self {
        let mut key = self.clone();
        key.segments.extend(
            segment
                .split('/')
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        key
    }

    /// The parent key (the root's parent is the root).
    pub fn parent(&self) -> Self {
        let mut key = self.clone();
        key.segments.pop();
        key
    }

    /// The last segment, if any.
    pub fn basename(&self) -> Option<&str> {
        self.segments.last().map(String::as_str)
    }

    /// Whether `self` is a strict prefix of `other`.
    pub fn is_prefix_of(&self, other: &Key) -> bool {
        self.segments.len() < other.segments.len() && other.segments.starts_with(&self.segments)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for s in &self.segments {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

/// What a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A value (a file).
    Value,
    /// A dictionary (a directory).
    Dictionary,
}

/// The errors every store shares (`Mirage_kv.error`); stores add their own
/// through [`KvError::Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// Nothing at this key.
    NotFound(Key),
    /// A value is where a dictionary was expected.
    DictionaryExpected(Key),
    /// A dictionary is where a value was expected.
    ValueExpected(Key),
    /// (RW) the store has no room left.
    NoSpace,
    /// (RW) a [`KvRw::batch`] could not be applied after this many
    /// attempts (other writers kept changing the store).
    TooManyRetries(u32),
    /// (RW) the store is read-only or the operation is not supported.
    NotSupported(String),
    /// The store's own failure (I/O, corrupt image...), described.
    Store(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NotFound(k) => write!(f, "{k}: not found"),
            KvError::DictionaryExpected(k) => write!(f, "{k}: a dictionary was expected"),
            KvError::ValueExpected(k) => write!(f, "{k}: a value was expected"),
            KvError::NoSpace => f.write_str("no space left"),
            KvError::TooManyRetries(n) => {
                write!(f, "the batch was not applied after {n} attempts")
            }
            KvError::NotSupported(what) => write!(f, "not supported: {what}"),
            KvError::Store(message) => f.write_str(message),
        }
    }
}

/// A POSIX time as `(days, picoseconds)` since the epoch (as
/// `Pclock::now_d_ps`).
pub type Timestamp = (i64, u64);

/// A read-only key-value store (the seed's `kv_ro`, `Mirage_kv.RO`).
pub trait KvRo {
    /// Whether `key` names a value, a dictionary, or nothing.
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError>;
    /// The value at `key`.
    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError>;
    /// At most `length` bytes of the value at `key` from `offset` on (fewer
    /// at the end of the value, none past it).
    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError>;
    /// The entries of the dictionary at `key` (full keys), sorted.
    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError>;
    /// When the value or dictionary at `key` last changed.
    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError>;
    /// A digest of the value at `key` (its SHA-256), or of a dictionary's
    /// contents ([`ro::dictionary_digest`]): equal contents have equal
    /// digests in every store of this crate.
    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError>;
    /// The size in bytes of the value at `key`.
    async fn size(&self, key: &Key) -> Result<u64, KvError>;
}

/// A read-write key-value store (the seed's `kv_rw`, `Mirage_kv.RW`).
pub trait KvRw: KvRo {
    /// Sets the value at `key` (creating dictionaries on the way).
    async fn set(&self, key: &Key, value: &[u8]) -> Result<(), KvError>;
    /// Writes `data` into the value at `key` from `offset` on, growing it.
    async fn set_partial(&self, key: &Key, offset: u64, data: &[u8]) -> Result<(), KvError>;
    /// Removes the value or dictionary (recursively) at `key`.
    async fn remove(&self, key: &Key) -> Result<(), KvError>;
    /// Moves the value or dictionary at `source` to `dest`.
    async fn rename(&self, source: &Key, dest: &Key) -> Result<(), KvError>;
    /// Creates a value of `size` zero bytes at `key` (fails if it exists).
    async fn allocate(&self, key: &Key, size: u64) -> Result<(), KvError>;

    /// Runs `f` over the store as one batch of operations (`Mirage_kv.RW`'s
    /// `batch`) and returns what `f` returns.
    ///
    /// `f` is given a store to work on (`self`, or a view of it) and may
    /// read and write it freely; its reads see its own writes. What a store
    /// guarantees beyond that is its own, documented on its implementation:
    /// some apply the whole batch or nothing of it (when `f` fails, or the
    /// device fails, nothing is visible), some make it durable once at the
    /// end instead of after every operation. A store that retries a batch
    /// (because other writers changed the store while it ran) calls `f`
    /// again, at most [`BATCH_RETRIES`] times in all, then fails with
    /// [`KvError::TooManyRetries`]; `f` must therefore be safe to run again.
    ///
    /// The default runs `f` on `self` directly: each operation is applied,
    /// and durable, as it would be outside a batch, and an error of `f`
    /// leaves the operations before it applied.
    async fn batch<R>(&self, f: impl AsyncFnMut(&Self) -> Result<R, KvError>) -> Result<R, KvError>
    where
        Self: Sized,
    {
        let mut f = f;
        f(self).await
    }
}

/// How many times a store runs a [`KvRw::batch`] at most before giving up
/// (13, as `Mirage_kv`'s default).
pub const BATCH_RETRIES: u32 = 13;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let k = Key::v("/a//b/c/");
        assert_eq!(k.segments(), ["a", "b", "c"]);
        assert_eq!(alloc::format!("{k}"), "/a/b/c");
        assert_eq!(k.parent(), Key::v("a/b"));
        assert_eq!(k.basename(), Some("c"));
        assert_eq!(Key::root().add("x/y"), Key::v("x/y"));
        assert!(Key::v("a").is_prefix_of(&k) && !k.is_prefix_of(&k));
        assert_eq!(alloc::format!("{}", Key::root()), "/");
        assert_eq!(Key::root().parent(), Key::root());
    }
}
