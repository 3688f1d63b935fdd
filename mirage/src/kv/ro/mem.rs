//! [`MemKv`]: a read-only store over a static table of paths and contents,
//! what `crunch` compiles a directory into.

use alloc::vec::Vec;

use super::index::Index;
use crate::kv::{Key, Kind, KvError, KvRo, Timestamp};

/// An in-memory read-only store over a `'static` table of `(path, value)`
/// pairs. Paths are `/`-separated (`a/b/c.txt`, a leading `/` or doubled
/// `/` is ignored as in [`Key::v`]); the dictionaries above each path are
/// implied. Every key has the same modification time (the epoch unless set
/// with [`MemKv::with_timestamp`]).
///
/// The table is trusted less than it could be: an entry with an empty path,
/// one whose path is a dictionary implied by an earlier entry, or one below
/// an earlier value is ignored; a repeated path keeps the last value.
pub struct MemKv {
    index: Index<&'static [u8]>,
}

impl MemKv {
    /// The store of `entries`, modified at the epoch.
    pub fn new(entries: &'static [(&'static str, &'static [u8])]) -> Self {
        Self::with_timestamp(entries, (0, 0))
    }

    /// The store of `entries`, every key modified at `timestamp`.
    pub fn with_timestamp(
        entries: &'static [(&'static str, &'static [u8])],
        timestamp: Timestamp,
    ) -> Self {
        let mut index = Index::new(timestamp);
        for (path, value) in entries {
            let key = Key::v(path);
            if let Err(conflict) = index.insert_value(&key, *value, timestamp) {
                log::warn!("kv_ro: table entry {path:?} ignored: {conflict}");
            }
        }
        MemKv { index }
    }
}

impl core::fmt::Debug for MemKv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemKv").finish_non_exhaustive()
    }
}

impl KvRo for MemKv {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        Ok(self.index.exists(key))
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        Ok(self.index.value(key)?.to_vec())
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        let value = *self.index.value(key)?;
        let range = super::partial_range(value.len() as u64, offset, length);
        // Both ends are at most `value.len()`, a `usize`.
        Ok(value[range.start as usize..range.end as usize].to_vec())
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        self.index.list(key)
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        self.index.mtime(key)
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let digest = self
            .index
            .digest(key, async |v: &&'static [u8]| Ok(super::value_digest(v)))
            .await?;
        Ok(digest.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        Ok(self.index.value(key)?.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::kv::ro::{dictionary_digest, value_digest};

    /// Runs a future that never waits (the store never does).
    pub(crate) fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the store waited")
    }

    static TABLE: &[(&str, &[u8])] = &[
        ("b.txt", b"bee"),
        ("a/x", b"0123456789"),
        ("a/c/deep", b""),
        ("/a//y/", b"why"),
        ("", b"ignored: the root"),
        ("a", b"ignored: a dictionary"),
        ("b.txt/z", b"ignored: below a value"),
    ];

    #[test]
    fn table_lookups() {
        let kv = MemKv::with_timestamp(TABLE, (19000, 5));
        run(async {
            assert_eq!(kv.exists(&Key::root()).await, Ok(Some(Kind::Dictionary)));
            assert_eq!(kv.exists(&Key::v("a/c")).await, Ok(Some(Kind::Dictionary)));
            assert_eq!(kv.exists(&Key::v("a/x")).await, Ok(Some(Kind::Value)));
            assert_eq!(kv.exists(&Key::v("nope")).await, Ok(None));
            assert_eq!(kv.get(&Key::v("a/y")).await.unwrap(), b"why");
            assert_eq!(kv.get(&Key::v("b.txt")).await.unwrap(), b"bee");
            assert_eq!(
                kv.get(&Key::v("a")).await,
                Err(KvError::ValueExpected(Key::v("a")))
            );
            assert_eq!(
                kv.get(&Key::v("q")).await,
                Err(KvError::NotFound(Key::v("q")))
            );
            assert_eq!(
                kv.list(&Key::root()).await.unwrap(),
                vec![
                    (Key::v("a"), Kind::Dictionary),
                    (Key::v("b.txt"), Kind::Value)
                ]
            );
            assert_eq!(
                kv.list(&Key::v("a")).await.unwrap(),
                vec![
                    (Key::v("a/c"), Kind::Dictionary),
                    (Key::v("a/x"), Kind::Value),
                    (Key::v("a/y"), Kind::Value)
                ]
            );
            assert_eq!(
                kv.list(&Key::v("b.txt")).await,
                Err(KvError::DictionaryExpected(Key::v("b.txt")))
            );
            assert_eq!(kv.size(&Key::v("a/x")).await, Ok(10));
            assert_eq!(kv.size(&Key::v("a/c/deep")).await, Ok(0));
            assert!(kv.size(&Key::v("a")).await.is_err());
            let x = Key::v("a/x");
            assert_eq!(kv.get_partial(&x, 2, 3).await.unwrap(), b"234");
            assert_eq!(kv.get_partial(&x, 8, 100).await.unwrap(), b"89");
            assert_eq!(kv.get_partial(&x, 10, 1).await.unwrap(), b"");
            assert_eq!(kv.get_partial(&x, u64::MAX, usize::MAX).await.unwrap(), b"");
            assert_eq!(
                kv.get_partial(&x, 0, usize::MAX).await.unwrap(),
                b"0123456789"
            );
            assert_eq!(kv.last_modified(&x).await, Ok((19000, 5)));
            assert_eq!(kv.last_modified(&Key::root()).await, Ok((19000, 5)));
            assert!(kv.last_modified(&Key::v("zz")).await.is_err());
        });
    }

    #[test]
    fn digests() {
        let kv = MemKv::new(TABLE);
        run(async {
            assert_eq!(
                kv.digest(&Key::v("b.txt")).await.unwrap(),
                value_digest(b"bee").to_vec()
            );
            let c = dictionary_digest([("deep", Kind::Value, value_digest(b""))]);
            assert_eq!(kv.digest(&Key::v("a/c")).await.unwrap(), c.to_vec());
            let a = dictionary_digest([
                ("c", Kind::Dictionary, c),
                ("x", Kind::Value, value_digest(b"0123456789")),
                ("y", Kind::Value, value_digest(b"why")),
            ]);
            assert_eq!(kv.digest(&Key::v("a")).await.unwrap(), a.to_vec());
            let root = dictionary_digest([
                ("a", Kind::Dictionary, a),
                ("b.txt", Kind::Value, value_digest(b"bee")),
            ]);
            assert_eq!(kv.digest(&Key::root()).await.unwrap(), root.to_vec());
            assert!(kv.digest(&Key::v("none")).await.is_err());
            // Different contents, different digests.
            static OTHER: &[(&str, &[u8])] = &[("a/x", b"0123456789"), ("a/y", b"whY")];
            let other = MemKv::new(OTHER);
            assert_ne!(other.digest(&Key::v("a")).await.unwrap(), a.to_vec());
        });
    }

    #[test]
    fn empty_table() {
        let kv = MemKv::new(&[]);
        run(async {
            assert_eq!(kv.list(&Key::root()).await, Ok(vec![]));
            assert_eq!(kv.exists(&Key::root()).await, Ok(Some(Kind::Dictionary)));
        });
    }
}
