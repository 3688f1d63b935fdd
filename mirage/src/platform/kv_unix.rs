//! `DirectKv`: a host directory as a key-value store, read (and, for
//! `direct_kv_rw`, written) at run time: the seed's `direct_kv_ro` and
//! `direct_kv_rw` on unix.

extern crate std;

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::kv::ro::dictionary_digest;
use crate::kv::{Key, Kind, KvError, KvRo, Timestamp};

/// A read-only store over a host directory: the key `/a/b` is the file or
/// directory `ROOT/a/b`. Keys with a `.` or `..` segment name nothing;
/// symbolic links are followed only while they stay below the root (a link
/// leading out of it, or dangling, names nothing). Other kinds of files
/// (sockets, devices...) name nothing either. Modification times are the
/// files' mtimes; digests are those of `mirage::kv::ro`.
///
/// As a read-write store (`direct_kv_rw`) every operation is durable when
/// it returns: file contents are synced before they replace the old ones,
/// and the directories whose entries changed are synced after. Inside a
/// [`KvRw::batch`](crate::kv::KvRw::batch) the operations are applied as
/// they come (each replacement stays atomic: file contents are still synced
/// before the rename), but syncing the directories and the in-place writes
/// of `set_partial` is done once for the whole batch, at its end, so a
/// batch of many writes costs one sync per directory instead of one per
/// write. The batch's operations are not undone if `f` fails.
#[derive(Debug, Clone)]
pub struct DirectKv {
    root: PathBuf,
    /// In a batch: what to sync at its end.
    pending: Option<std::sync::Arc<std::sync::Mutex<Pending>>>,
}

/// The syncs a batch defers to its end.
#[derive(Debug, Default)]
struct Pending {
    files: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

fn io_error(key: &Key, e: std::io::Error) -> KvError {
    // A path through a file names nothing, as a missing one.
    if matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    ) {
        KvError::NotFound(key.clone())
    } else {
        KvError::Store(alloc::format!("{key}: {e}"))
    }
}

impl DirectKv {
    /// The store of the directory `root` (which must exist).
    pub fn connect(root: &str) -> Result<Self, std::io::Error> {
        let root = fs::canonicalize(root)
            .map_err(|e| std::io::Error::new(e.kind(), alloc::format!("{root}: {e}")))?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                alloc::format!("{}: not a directory", root.display()),
            ));
        }
        Ok(DirectKv {
            root,
            pending: None,
        })
    }

    /// The canonical host path of `key` and its kind, if it names a file or
    /// directory below the root.
    fn resolve(&self, key: &Key) -> Result<(PathBuf, Kind, fs::Metadata), KvError> {
        let mut path = self.root.clone();
        for segment in key.segments() {
            if segment == "." || segment == ".." || segment.contains('\0') {
                return Err(KvError::NotFound(key.clone()));
            }
            path.push(segment);
        }
        let real = fs::canonicalize(&path).map_err(|e| io_error(key, e))?;
        if !real.starts_with(&self.root) {
            return Err(KvError::NotFound(key.clone()));
        }
        let meta = fs::metadata(&real).map_err(|e| io_error(key, e))?;
        let kind = if meta.is_file() {
            Kind::Value
        } else if meta.is_dir() {
            Kind::Dictionary
        } else {
            return Err(KvError::NotFound(key.clone()));
        };
        Ok((real, kind, meta))
    }

    fn file(&self, key: &Key) -> Result<(PathBuf, fs::Metadata), KvError> {
        match self.resolve(key)? {
            (path, Kind::Value, meta) => Ok((path, meta)),
            _ => Err(KvError::ValueExpected(key.clone())),
        }
    }

    fn entries(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        let (path, kind, _) = self.resolve(key)?;
        if kind != Kind::Dictionary {
            return Err(KvError::DictionaryExpected(key.clone()));
        }
        let mut names = BTreeSet::new();
        for entry in fs::read_dir(&path).map_err(|e| io_error(key, e))? {
            let entry = entry.map_err(|e| io_error(key, e))?;
            if let Ok(name) = entry.file_name().into_string() {
                names.insert(name);
            }
        }
        let mut out = Vec::new();
        for name in names {
            let child = key.add(&name);
            // Entries that lead out of the root or name nothing are hidden.
            if let Ok((_, kind, _)) = self.resolve(&child) {
                out.push((child, kind));
            }
        }
        Ok(out)
    }

    fn file_digest(path: &Path, key: &Key) -> Result<[u8; 32], KvError> {
        use sha2::{Digest, Sha256};
        let mut file = fs::File::open(path).map_err(|e| io_error(key, e))?;
        let mut h = Sha256::new();
        let mut buf = alloc::vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).map_err(|e| io_error(key, e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h.finalize().into())
    }

    /// The digest of `key`; `ancestors` are the canonical directories on
    /// the way down, so a link cycle is an error and not endless.
    fn digest_of(&self, key: &Key, ancestors: &mut Vec<PathBuf>) -> Result<[u8; 32], KvError> {
        let (path, kind, _) = self.resolve(key)?;
        if kind == Kind::Value {
            return Self::file_digest(&path, key);
        }
        if ancestors.contains(&path) {
            return Err(KvError::Store(alloc::format!(
                "{key}: a symbolic link loops back to {}",
                path.display()
            )));
        }
        ancestors.push(path);
        let mut parts: Vec<(String, Kind, [u8; 32])> = Vec::new();
        for (child, kind) in self.entries(key)? {
            let digest = self.digest_of(&child, ancestors)?;
            parts.push((
                child.basename().unwrap_or_default().to_string(),
                kind,
                digest,
            ));
        }
        ancestors.pop();
        Ok(dictionary_digest(
            parts.iter().map(|(n, k, d)| (n.as_str(), *k, *d)),
        ))
    }
}

/// The modification time of `meta` as a timestamp.
fn mtime(meta: &fs::Metadata) -> Timestamp {
    let (seconds, nanos): (i128, u32) = match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => (i128::from(d.as_secs()), d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let mut s = -i128::from(d.as_secs());
                let mut n = d.subsec_nanos();
                if n > 0 {
                    s -= 1;
                    n = 1_000_000_000 - n;
                }
                (s, n)
            }
        },
        Err(_) => (0, 0),
    };
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400) as u64;
    (
        days.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        rest * 1_000_000_000_000 + u64::from(nanos) * 1000,
    )
}

impl KvRo for DirectKv {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        match self.resolve(key) {
            Ok((_, kind, _)) => Ok(Some(kind)),
            Err(KvError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let (path, _) = self.file(key)?;
        fs::read(path).map_err(|e| io_error(key, e))
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        use std::io::{Seek, SeekFrom};
        let (path, meta) = self.file(key)?;
        let range = crate::kv::ro::partial_range(meta.len(), offset, length);
        let mut file = fs::File::open(path).map_err(|e| io_error(key, e))?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_error(key, e))?;
        let mut out = Vec::new();
        file.take(range.end - range.start)
            .read_to_end(&mut out)
            .map_err(|e| io_error(key, e))?;
        Ok(out)
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        self.entries(key)
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        let (_, _, meta) = self.resolve(key)?;
        Ok(mtime(&meta))
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        Ok(self.digest_of(key, &mut Vec::new())?.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        Ok(self.file(key)?.1.len())
    }
}

/// Makes unique names for the temporary files of atomic replacement.
static TEMP_COUNTER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

impl DirectKv {
    /// The host path `key` would have, below the root, for writing: every
    /// segment a plain name, every existing ancestor a directory below the
    /// root (no link leads writes out of it).
    fn writable(&self, key: &Key) -> Result<PathBuf, KvError> {
        if key.is_root() {
            return Err(KvError::ValueExpected(key.clone()));
        }
        let mut path = self.root.clone();
        let mut prefix = Key::root();
        let segments = key.segments();
        for (i, segment) in segments.iter().enumerate() {
            if segment == "." || segment == ".." || segment.contains('\0') {
                return Err(KvError::NotSupported(alloc::format!(
                    "{key}: `.` and `..` are not names"
                )));
            }
            path.push(segment);
            prefix = prefix.add(segment);
            match fs::symlink_metadata(&path) {
                // Nothing there: it and everything below it will be created.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&prefix, e)),
                // Something there: it must resolve below the root.
                Ok(_) => match self.resolve(&prefix) {
                    Ok((real, Kind::Dictionary, _)) => path = real,
                    Ok((real, Kind::Value, _)) if i + 1 == segments.len() => path = real,
                    Ok((_, Kind::Value, _)) => return Err(KvError::DictionaryExpected(prefix)),
                    Err(KvError::NotFound(_)) => {
                        return Err(KvError::NotSupported(alloc::format!(
                            "{prefix} leads outside the store or to a special file"
                        )));
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        Ok(path)
    }

    fn make_parent(&self, key: &Key, path: &Path) -> Result<(), KvError> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_error(key, e))?;
        }
        Ok(())
    }

    /// Makes the entries of the directory holding `path` durable (now, or
    /// at the end of the batch).
    fn sync_parent(&self, key: &Key, path: &Path) -> Result<(), KvError> {
        let Some(dir) = path.parent() else {
            return Ok(());
        };
        match &self.pending {
            Some(p) => {
                p.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .dirs
                    .insert(dir.to_path_buf());
                Ok(())
            }
            None => sync_dir(dir).map_err(|e| io_error(key, e)),
        }
    }

    /// Makes the contents of `file` (at `path`) durable (now, or at the end
    /// of the batch).
    fn sync_file(&self, key: &Key, file: &fs::File, path: &Path) -> Result<(), KvError> {
        match &self.pending {
            Some(p) => {
                p.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .files
                    .insert(path.to_path_buf());
                Ok(())
            }
            None => file.sync_data().map_err(|e| io_error(key, e)),
        }
    }
}

/// Syncs the directory `dir` (its entries).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

impl crate::kv::KvRw for DirectKv {
    /// Atomic replacement: the value is written to a temporary file in the
    /// same directory, synced, then renamed over the old one, so a reader
    /// (or a crash) sees the old value or the new one, never a mix.
    async fn set(&self, key: &Key, value: &[u8]) -> Result<(), KvError> {
        use std::io::Write;
        let path = self.writable(key)?;
        if path.is_dir() {
            return Err(KvError::ValueExpected(key.clone()));
        }
        self.make_parent(key, &path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let temp = path.with_file_name(alloc::format!(
            ".{name}.mirage-tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, core::sync::atomic::Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = fs::File::create(&temp)?;
            file.write_all(value)?;
            file.sync_all()?;
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error(key, e));
        }
        self.sync_parent(key, &path)
    }

    async fn set_partial(&self, key: &Key, offset: u64, data: &[u8]) -> Result<(), KvError> {
        use std::os::unix::fs::FileExt;
        let path = self.writable(key)?;
        if path.is_dir() {
            return Err(KvError::ValueExpected(key.clone()));
        }
        self.make_parent(key, &path)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(key, e))?;
        file.write_all_at(data, offset)
            .map_err(|e| io_error(key, e))?;
        self.sync_file(key, &file, &path)?;
        self.sync_parent(key, &path)
    }

    async fn remove(&self, key: &Key) -> Result<(), KvError> {
        if key.is_root() {
            for (child, kind) in self.entries(key)? {
                let (path, _, _) = self.resolve(&child)?;
                match kind {
                    Kind::Dictionary => fs::remove_dir_all(&path),
                    Kind::Value => fs::remove_file(&path),
                }
                .map_err(|e| io_error(&child, e))?;
            }
            return Ok(());
        }
        let (path, kind, _) = self.resolve(key)?;
        match kind {
            Kind::Dictionary => fs::remove_dir_all(&path),
            Kind::Value => fs::remove_file(&path),
        }
        .map_err(|e| io_error(key, e))?;
        self.sync_parent(key, &path)
    }

    async fn rename(&self, source: &Key, dest: &Key) -> Result<(), KvError> {
        let (from, kind, _) = self.resolve(source)?;
        if source == dest {
            return Ok(());
        }
        if source.is_prefix_of(dest) || source.is_root() {
            return Err(KvError::NotSupported(alloc::format!(
                "moving {source} into itself"
            )));
        }
        let to = self.writable(dest)?;
        match (to.is_dir(), kind) {
            (true, Kind::Value) => return Err(KvError::ValueExpected(dest.clone())),
            (false, Kind::Dictionary) if to.exists() => {
                return Err(KvError::DictionaryExpected(dest.clone()));
            }
            _ => {}
        }
        if kind == Kind::Dictionary && to.is_dir() {
            fs::remove_dir_all(&to).map_err(|e| io_error(dest, e))?;
        }
        self.make_parent(dest, &to)?;
        fs::rename(&from, &to).map_err(|e| io_error(source, e))?;
        self.sync_parent(source, &from)?;
        self.sync_parent(dest, &to)
    }

    async fn allocate(&self, key: &Key, size: u64) -> Result<(), KvError> {
        let path = self.writable(key)?;
        if path.exists() {
            return Err(KvError::NotSupported(alloc::format!(
                "allocate: {key} exists"
            )));
        }
        self.make_parent(key, &path)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_error(key, e))?;
        file.set_len(size).map_err(|e| io_error(key, e))?;
        self.sync_file(key, &file, &path)?;
        self.sync_parent(key, &path)
    }

    /// One sync per written file and changed directory, at the end: see
    /// the type's documentation. `f` runs once.
    async fn batch<R>(
        &self,
        mut f: impl AsyncFnMut(&Self) -> Result<R, KvError>,
    ) -> Result<R, KvError> {
        let pending = std::sync::Arc::new(std::sync::Mutex::new(Pending::default()));
        let view = DirectKv {
            root: self.root.clone(),
            pending: Some(pending.clone()),
        };
        let result = f(&view).await;
        let pending = core::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut synced = Ok(());
        for path in pending.files {
            // A file removed or renamed later in the batch has nothing left
            // to sync.
            if let Ok(file) = fs::OpenOptions::new().write(true).open(&path)
                && let Err(e) = file.sync_data()
            {
                synced = Err(KvError::Store(alloc::format!("{}: {e}", path.display())));
            }
        }
        for dir in pending.dirs {
            match sync_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    synced = Err(KvError::Store(alloc::format!("{}: {e}", dir.display())));
                }
                _ => {}
            }
        }
        let value = result?;
        synced.map(|()| value)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the store waited")
    }

    #[test]
    fn a_host_directory() {
        let base =
            std::env::temp_dir().join(alloc::format!("mirage-direct-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/f"), "0123456789").unwrap();
        fs::write(base.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", root.join("in")).unwrap();
        let kv = DirectKv::connect(root.to_str().unwrap()).unwrap();
        run(async {
            assert_eq!(
                kv.list(&Key::root()).await.unwrap(),
                vec![(Key::v("d"), Kind::Dictionary), (Key::v("in"), Kind::Value)]
            );
            assert_eq!(kv.get(&Key::v("in")).await.unwrap(), b"0123456789");
            assert_eq!(kv.get_partial(&Key::v("d/f"), 8, 5).await.unwrap(), b"89");
            assert_eq!(kv.get_partial(&Key::v("d/f"), 80, 5).await.unwrap(), b"");
            assert_eq!(kv.size(&Key::v("d/f")).await, Ok(10));
            assert_eq!(kv.exists(&Key::v("out")).await, Ok(None));
            assert_eq!(kv.exists(&Key::v("../secret")).await, Ok(None));
            assert_eq!(kv.exists(&Key::v("d/../../secret")).await, Ok(None));
            assert!(matches!(
                kv.get(&Key::v("d")).await,
                Err(KvError::ValueExpected(_))
            ));
            assert!(kv.last_modified(&Key::v("d/f")).await.unwrap().0 > 19_000);
            let f = crate::kv::ro::value_digest(b"0123456789");
            let e = dictionary_digest([]);
            let d = dictionary_digest([("e", Kind::Dictionary, e), ("f", Kind::Value, f)]);
            assert_eq!(kv.digest(&Key::v("d")).await.unwrap(), d.to_vec());
        });
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn writes_replace_atomically_and_stay_below_the_root() {
        use crate::kv::KvRw;
        let base =
            std::env::temp_dir().join(alloc::format!("mirage-direct-rw-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(&root).unwrap();
        fs::write(base.join("outside"), "keep").unwrap();
        std::os::unix::fs::symlink("..", root.join("up")).unwrap();
        let kv = DirectKv::connect(root.to_str().unwrap()).unwrap();
        run(async {
            kv.set(&Key::v("a/b/c"), b"first").await.unwrap();
            assert_eq!(fs::read(root.join("a/b/c")).unwrap(), b"first");
            kv.set(&Key::v("a/b/c"), b"second").await.unwrap();
            assert_eq!(kv.get(&Key::v("a/b/c")).await.unwrap(), b"second");
            // No temporary file is left behind.
            assert_eq!(fs::read_dir(root.join("a/b")).unwrap().count(), 1);
            kv.set_partial(&Key::v("a/b/c"), 8, b"!").await.unwrap();
            assert_eq!(kv.get(&Key::v("a/b/c")).await.unwrap(), b"second\0\0!");
            assert!(matches!(
                kv.set(&Key::v("a/b"), b"x").await,
                Err(KvError::ValueExpected(_))
            ));
            assert!(matches!(
                kv.set(&Key::v("a/b/c/d"), b"x").await,
                Err(KvError::DictionaryExpected(_))
            ));
            // A link out of the root never leads a write out of it.
            assert!(kv.set(&Key::v("up/outside"), b"pwned").await.is_err());
            assert_eq!(fs::read(base.join("outside")).unwrap(), b"keep");
            assert!(kv.set(&Key::v("../escape"), b"x").await.is_err());
            kv.rename(&Key::v("a"), &Key::v("z/moved")).await.unwrap();
            assert_eq!(
                kv.get(&Key::v("z/moved/b/c")).await.unwrap(),
                b"second\0\0!"
            );
            kv.allocate(&Key::v("big"), 4096).await.unwrap();
            assert_eq!(kv.size(&Key::v("big")).await, Ok(4096));
            assert!(kv.allocate(&Key::v("big"), 1).await.is_err());
            kv.remove(&Key::v("z")).await.unwrap();
            assert_eq!(kv.exists(&Key::v("z")).await, Ok(None));
            assert!(matches!(
                kv.remove(&Key::v("nope")).await,
                Err(KvError::NotFound(_))
            ));
            // A batch applies its operations and syncs once at the end;
            // its reads see its writes.
            let n = kv
                .batch(async |b: &DirectKv| {
                    for i in 0..20 {
                        b.set(&Key::v(&alloc::format!("batch/{i}")), b"v").await?;
                    }
                    b.set_partial(&Key::v("batch/0"), 1, b"w").await?;
                    b.rename(&Key::v("batch/1"), &Key::v("moved/1")).await?;
                    b.remove(&Key::v("batch/2")).await?;
                    Ok(b.list(&Key::v("batch")).await?.len())
                })
                .await;
            assert_eq!(n, Ok(18));
            assert_eq!(fs::read(root.join("batch/0")).unwrap(), b"vw");
            assert_eq!(fs::read(root.join("moved/1")).unwrap(), b"v");
            // An error of f is returned; what it did before stays.
            let e = kv
                .batch(async |b: &DirectKv| {
                    b.set(&Key::v("batch/x"), b"x").await?;
                    b.get(&Key::v("batch/none")).await
                })
                .await;
            assert!(matches!(e, Err(KvError::NotFound(_))));
            assert_eq!(kv.get(&Key::v("batch/x")).await.unwrap(), b"x");
        });
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn conforms_to_the_key_value_semantics() {
        use crate::kv::conformance::{check_ro, check_rw, files};
        let base =
            std::env::temp_dir().join(alloc::format!("mirage-direct-conf-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let expected = files([
            ("hello.txt", &b"hello world\n"[..]),
            ("docs/note", b"a note"),
            ("docs/empty", b""),
            ("docs/deep/data.bin", &[7u8; 2000]),
        ]);
        let ro = base.join("ro");
        for (path, data) in &expected {
            let file = ro.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, data).unwrap();
        }
        let rw = base.join("rw");
        fs::create_dir_all(&rw).unwrap();
        run(async {
            let kv = DirectKv::connect(ro.to_str().unwrap()).unwrap();
            check_ro(&kv, &expected).await.unwrap();
            let kv = DirectKv::connect(rw.to_str().unwrap()).unwrap();
            check_rw(&kv).await.unwrap();
        });
        fs::remove_dir_all(&base).unwrap();
    }
}
