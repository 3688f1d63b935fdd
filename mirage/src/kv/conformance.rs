//! The `Mirage_kv` semantics every store of this crate shares, as checks
//! any store can be put through (the stores' tests run every store here
//! through them, over images the real tools made where there are tools).
//!
//! [`check_ro`] compares a store with the files it should hold:
//!
//! - `exists` names values and dictionaries (the root and every directory
//!   above a file) and is `None` for anything else, a key below a value
//!   included;
//! - `get`, `size` and `digest` of a value are its bytes, its length and
//!   its SHA-256 ([`value_digest`]); `get_partial` gives at most `length`
//!   bytes from `offset` on, fewer at the end, none past it;
//! - `list` of a dictionary is its entries, as full keys, sorted; its
//!   `digest` is [`dictionary_digest`] of its entries, so equal contents
//!   have equal digests in every store;
//! - a value where a dictionary is expected is
//!   [`KvError::DictionaryExpected`], a dictionary where a value is
//!   expected [`KvError::ValueExpected`], a key bound to nothing
//!   [`KvError::NotFound`] (or `DictionaryExpected` naming the value on
//!   its way); `last_modified` answers for every key that exists.
//!
//! [`check_rw`] runs `set`, `set_partial`, `allocate`, `rename`, `remove`
//! and `batch` on an empty store, checking it with [`check_ro`] after each
//! step and the errors of the refused operations.
//!
//! Both return a description of the first difference found.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::ro::{dictionary_digest, value_digest};
use super::{Key, Kind, KvError, KvRo, KvRw};

/// What a store should hold: every value by path (`a/b/c`); the
/// dictionaries above them are implied, and a path ending in `/` (with no
/// contents) is a dictionary, so empty ones can be named.
pub type Files = BTreeMap<String, Vec<u8>>;

/// Whether the entry `path` of [`Files`] names a dictionary.
fn names_a_dictionary(path: &str) -> bool {
    path.ends_with('/')
}

/// The tree of `files`: every dictionary with its entries.
fn dictionaries(files: &Files) -> BTreeMap<Key, BTreeMap<String, Kind>> {
    let mut dirs: BTreeMap<Key, BTreeMap<String, Kind>> = BTreeMap::new();
    dirs.insert(Key::root(), BTreeMap::new());
    for path in files.keys() {
        let key = Key::v(path);
        let segments = key.segments();
        let mut parent = Key::root();
        for (i, segment) in segments.iter().enumerate() {
            let kind = if i + 1 == segments.len() && !names_a_dictionary(path) {
                Kind::Value
            } else {
                Kind::Dictionary
            };
            dirs.entry(parent.clone())
                .or_default()
                .insert(segment.clone(), kind);
            parent = parent.add(segment);
            if kind == Kind::Dictionary {
                dirs.entry(parent.clone()).or_default();
            }
        }
    }
    dirs
}

/// The digest `key` must have in a store holding `values` in `dirs`.
fn expected_digest(
    values: &BTreeMap<Key, &[u8]>,
    dirs: &BTreeMap<Key, BTreeMap<String, Kind>>,
    key: &Key,
) -> [u8; 32] {
    match dirs.get(key) {
        None => value_digest(values.get(key).copied().unwrap_or_default()),
        Some(entries) => {
            let parts: Vec<(String, Kind, [u8; 32])> = entries
                .iter()
                .map(|(name, kind)| {
                    (
                        name.clone(),
                        *kind,
                        expected_digest(values, dirs, &key.add(name)),
                    )
                })
                .collect();
            dictionary_digest(parts.iter().map(|(n, k, d)| (n.as_str(), *k, *d)))
        }
    }
}

/// Fails with `what` unless `ok`.
fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// Checks that `result` is the error `expected` says.
fn refused<T: core::fmt::Debug>(
    op: &str,
    key: &Key,
    result: Result<T, KvError>,
    expected: impl Fn(&KvError) -> bool,
) -> Result<(), String> {
    match result {
        Err(e) if expected(&e) => Ok(()),
        other => Err(format!("{op} {key}: unexpected {other:?}")),
    }
}

/// Checks the reads of `store` against `files` (see the module's
/// documentation).
pub async fn check_ro<S: KvRo>(store: &S, files: &Files) -> Result<(), String> {
    let dirs = dictionaries(files);
    let values: BTreeMap<Key, &[u8]> = files
        .iter()
        .filter(|(p, _)| !names_a_dictionary(p))
        .map(|(p, data)| (Key::v(p), data.as_slice()))
        .collect();
    for (dir, entries) in &dirs {
        let kind = store.exists(dir).await;
        ensure(kind == Ok(Some(Kind::Dictionary)), || {
            format!("exists {dir}: {kind:?}, a dictionary expected")
        })?;
        let listed = store.list(dir).await;
        let expected: Vec<(Key, Kind)> = entries
            .iter()
            .map(|(name, kind)| (dir.add(name), *kind))
            .collect();
        ensure(listed.as_ref() == Ok(&expected), || {
            format!("list {dir}: {listed:?}, expected {expected:?}")
        })?;
        let digest = store.digest(dir).await;
        let want = expected_digest(&values, &dirs, dir).to_vec();
        ensure(digest.as_ref() == Ok(&want), || {
            format!("digest of the dictionary {dir}: {digest:?}, expected {want:?}")
        })?;
        let is_value_expected = |e: &KvError| *e == KvError::ValueExpected(dir.clone());
        refused("get", dir, store.get(dir).await, is_value_expected)?;
        refused("size", dir, store.size(dir).await, is_value_expected)?;
        refused(
            "get_partial",
            dir,
            store.get_partial(dir, 0, 1).await,
            is_value_expected,
        )?;
        let mtime = store.last_modified(dir).await;
        ensure(mtime.is_ok(), || format!("last_modified {dir}: {mtime:?}"))?;
    }
    for (key, data) in &values {
        let (key, data) = (key.clone(), *data);
        let kind = store.exists(&key).await;
        ensure(kind == Ok(Some(Kind::Value)), || {
            format!("exists {key}: {kind:?}, a value expected")
        })?;
        let got = store.get(&key).await;
        ensure(got.as_deref() == Ok(data), || {
            format!(
                "get {key}: {} bytes expected, got {:?}",
                data.len(),
                got.as_ref().map(Vec::len)
            )
        })?;
        let size = store.size(&key).await;
        ensure(size == Ok(data.len() as u64), || {
            format!("size {key}: {size:?}, expected {}", data.len())
        })?;
        let digest = store.digest(&key).await;
        let want = value_digest(data).to_vec();
        ensure(digest.as_ref() == Ok(&want), || {
            format!("digest {key}: {digest:?}")
        })?;
        let len = data.len() as u64;
        for (offset, length) in [
            (0, 0),
            (0, 1),
            (0, usize::MAX),
            (1, 2),
            (len / 2, 700),
            (len.saturating_sub(1), 10),
            (len, 5),
            (len + 1, 5),
            (u64::MAX, usize::MAX),
        ] {
            let start = offset.min(len) as usize;
            let end = (start as u64).saturating_add(length as u64).min(len) as usize;
            let part = store.get_partial(&key, offset, length).await;
            ensure(part.as_deref() == Ok(&data[start..end]), || {
                format!(
                    "get_partial {key} at {offset} for {length}: {:?}, expected {} bytes",
                    part.as_ref().map(Vec::len),
                    end - start
                )
            })?;
        }
        let mtime = store.last_modified(&key).await;
        ensure(mtime.is_ok(), || format!("last_modified {key}: {mtime:?}"))?;
        let is_dictionary_expected = |e: &KvError| *e == KvError::DictionaryExpected(key.clone());
        refused("list", &key, store.list(&key).await, is_dictionary_expected)?;
        // A key below a value names nothing.
        let below = key.add("below");
        let kind = store.exists(&below).await;
        ensure(kind == Ok(None), || format!("exists {below}: {kind:?}"))?;
        let through = |e: &KvError| {
            *e == KvError::NotFound(below.clone()) || *e == KvError::DictionaryExpected(key.clone())
        };
        refused("get", &below, store.get(&below).await, through)?;
        refused("size", &below, store.size(&below).await, through)?;
    }
    // Keys bound to nothing.
    let mut missing: BTreeSet<Key> = BTreeSet::new();
    for dir in dirs.keys() {
        missing.insert(dir.add("no such key"));
    }
    for key in &missing {
        let kind = store.exists(key).await;
        ensure(kind == Ok(None), || format!("exists {key}: {kind:?}"))?;
        let not_found = |e: &KvError| *e == KvError::NotFound(key.clone());
        refused("get", key, store.get(key).await, not_found)?;
        refused(
            "get_partial",
            key,
            store.get_partial(key, 0, 9).await,
            not_found,
        )?;
        refused("size", key, store.size(key).await, not_found)?;
        refused("digest", key, store.digest(key).await, not_found)?;
        refused("list", key, store.list(key).await, not_found)?;
        refused(
            "last_modified",
            key,
            store.last_modified(key).await,
            not_found,
        )?;
    }
    Ok(())
}

/// A value of `len` bytes that differs at every offset and per `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Runs the writes of `Mirage_kv.RW` on `store`, which must be empty, and
/// checks it after each (see the module's documentation); `store` holds
/// the last step's files afterwards.
pub async fn check_rw<S: KvRw>(store: &S) -> Result<(), String> {
    let mut files = Files::new();
    check_ro(store, &files)
        .await
        .map_err(|e| format!("the store is not empty: {e}"))?;
    let k = Key::v;
    let fail = |op: &str, e: KvError| format!("{op}: {e}");

    // set: dictionaries are made on the way; a value is replaced.
    for (path, data) in [
        ("a/b/c", b"hello".to_vec()),
        ("a/d", Vec::new()),
        ("a/e", b"e".to_vec()),
        ("top", pattern(3000, 1)),
        ("a/b/c", b"replaced".to_vec()),
    ] {
        store
            .set(&k(path), &data)
            .await
            .map_err(|e| fail(&format!("set {path}"), e))?;
        files.insert(path.to_string(), data);
    }
    check_ro(store, &files).await?;
    refused("set", &k("a/b"), store.set(&k("a/b"), b"x").await, |e| {
        *e == KvError::ValueExpected(k("a/b"))
    })?;
    refused(
        "set",
        &k("top/x"),
        store.set(&k("top/x"), b"x").await,
        |e| matches!(e, KvError::DictionaryExpected(_)),
    )?;
    check_ro(store, &files).await?;

    // set_partial: writes inside a value, grows it (zeros in a gap), and
    // makes a value (and its dictionaries) that was not there.
    for (path, offset, data) in [
        ("top", 10, b"in place".to_vec()),
        ("top", 2990, pattern(30, 2)),
        ("a/d", 4, b"xy".to_vec()),
        ("new/p", 2, b"z".to_vec()),
    ] {
        store
            .set_partial(&k(path), offset, &data)
            .await
            .map_err(|e| fail(&format!("set_partial {path} at {offset}"), e))?;
        let value = files.entry(path.to_string()).or_default();
        let end = offset as usize + data.len();
        if value.len() < end {
            value.resize(end, 0);
        }
        value[offset as usize..end].copy_from_slice(&data);
    }
    check_ro(store, &files).await?;

    // allocate: zeros, only where nothing is.
    store
        .allocate(&k("zeros/z"), 1000)
        .await
        .map_err(|e| fail("allocate zeros/z", e))?;
    files.insert("zeros/z".to_string(), vec![0; 1000]);
    store
        .set(&k("zeros/keep"), b"k")
        .await
        .map_err(|e| fail("set zeros/keep", e))?;
    files.insert("zeros/keep".to_string(), b"k".to_vec());
    ensure(store.allocate(&k("top"), 5).await.is_err(), || {
        String::from("allocate over a value succeeded")
    })?;
    check_ro(store, &files).await?;

    // rename (leaving no dictionary empty: whether an emptied one stays
    // is the store's own): a dictionary, a value over another, a
    // dictionary into a dictionary made on the way.
    for (from, to) in [("a/b", "moved"), ("a/d", "a/e"), ("a", "x/a2")] {
        store
            .rename(&k(from), &k(to))
            .await
            .map_err(|e| fail(&format!("rename {from} to {to}"), e))?;
        let prefix = format!("{from}/");
        let moved: Vec<String> = files
            .keys()
            .filter(|p| *p == from || p.starts_with(&prefix))
            .cloned()
            .collect();
        for path in moved {
            let value = files.remove(&path).unwrap_or_default();
            files.insert(format!("{to}{}", &path[from.len()..]), value);
        }
    }
    check_ro(store, &files).await?;
    refused(
        "rename",
        &k("nope"),
        store.rename(&k("nope"), &k("n2")).await,
        |e| *e == KvError::NotFound(k("nope")),
    )?;

    // remove: a value, dictionaries with everything in them, nothing.
    for path in ["zeros/z", "moved", "x"] {
        store
            .remove(&k(path))
            .await
            .map_err(|e| fail(&format!("remove {path}"), e))?;
        let prefix = format!("{path}/");
        files.retain(|p, _| p != path && !p.starts_with(&prefix));
    }
    check_ro(store, &files).await?;
    refused("remove", &k("nope"), store.remove(&k("nope")).await, |e| {
        *e == KvError::NotFound(k("nope"))
    })?;

    // batch: f's reads see its writes; its result is returned, its
    // writes stay; its error is returned.
    let mut runs = 0;
    let result = store
        .batch(async |b: &S| {
            runs += 1;
            b.set(&k("batch/one"), b"1").await?;
            b.set(&k("batch/two"), b"2").await?;
            let seen = b.get(&k("batch/one")).await?;
            b.remove(&k("top")).await?;
            Ok(seen)
        })
        .await;
    ensure(result.as_deref() == Ok(&b"1"[..]), || {
        format!("batch: {result:?}")
    })?;
    ensure(runs == 1, || format!("batch: f ran {runs} times alone"))?;
    files.insert("batch/one".into(), b"1".to_vec());
    files.insert("batch/two".into(), b"2".to_vec());
    files.remove("top");
    check_ro(store, &files).await?;
    let failed = store
        .batch(async |b: &S| b.get(&k("batch/none")).await)
        .await;
    refused("batch", &k("batch/none"), failed, |e| {
        *e == KvError::NotFound(k("batch/none"))
    })?;
    check_ro(store, &files).await
}

/// `files` from `(path, contents)` pairs.
pub fn files<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Files {
    entries
        .into_iter()
        .map(|(path, data)| (path.to_string(), data.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::ro::mem::MemKv;
    use crate::kv::rw_mem::MemRw;

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the store waited")
    }

    struct Clock;
    impl crate::Pclock for Clock {
        fn now_d_ps(&self) -> (i64, u64) {
            (19_000, 0)
        }
    }

    static TABLE: &[(&str, &[u8])] = &[
        ("hello.txt", b"hello world\n"),
        ("docs/note", b"a note"),
        ("docs/empty", b""),
        ("docs/deep/data.bin", &[7u8; 2000]),
    ];

    #[test]
    fn the_in_memory_stores_conform() {
        let expected = files(TABLE.iter().copied());
        run(check_ro(&MemKv::new(TABLE), &expected)).unwrap();
        let rw = MemRw::new(crate::rt::leak(Clock));
        run(check_rw(&rw)).unwrap();
    }

    #[test]
    fn differences_are_found() {
        let mut expected = files(TABLE.iter().copied());
        expected.insert("docs/note".into(), b"another note".to_vec());
        let e = run(check_ro(&MemKv::new(TABLE), &expected)).unwrap_err();
        assert!(e.starts_with("digest of the dictionary /:"), "{e}");
        let mut expected = files(TABLE.iter().copied());
        expected.remove("hello.txt");
        let e = run(check_ro(&MemKv::new(TABLE), &expected)).unwrap_err();
        assert!(e.starts_with("list /:"), "{e}");
        let rw = MemRw::new(crate::rt::leak(Clock));
        run(rw.set(&Key::v("x"), b"")).unwrap();
        let e = run(check_rw(&rw)).unwrap_err();
        assert!(e.starts_with("the store is not empty"), "{e}");
    }
}
