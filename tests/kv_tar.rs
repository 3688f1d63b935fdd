//! `TarKv` over archives written by GNU tar (ustar, gnu and pax formats),
//! read back exactly, and over corrupted archives, which must be errors.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mirage::block::ramdisk::Ramdisk;
use mirage::kv::ro::tar::TarKv;
use mirage::kv::{Key, Kind, KvError, KvRo, conformance};
use mirage::rt::{Executor, Platform, leak};

/// A platform over the host's monotonic clock that sleeps when idle.
struct TestPlatform {
    start: Instant,
}

impl Platform for TestPlatform {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        let now = self.now_ns();
        let wait = deadline_ns.map_or(1_000_000, |d| d.saturating_sub(now).min(1_000_000));
        std::thread::sleep(Duration::from_nanos(wait));
    }
}

/// Runs `f` on the executor (whose futures are `'static`: devices are
/// leaked, as the generated entry point does).
fn run<F: std::future::Future + 'static>(f: F) -> F::Output
where
    F::Output: 'static,
{
    Executor::new(TestPlatform {
        start: Instant::now(),
    })
    .block_on(f)
    .expect("the executor stopped")
}

fn skip(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

fn tar_available() -> bool {
    Command::new("tar")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU tar"))
}

/// A scratch directory, fresh for `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-kv-tar-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + usize::from(seed) * 7) % 251) as u8)
        .collect()
}

/// The tree archived: every file with its contents (keys relative).
fn populate(root: &Path, long_names: bool) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("empty".to_string(), Vec::new()),
        ("one".to_string(), bytes(1, 1)),
        ("sizes/511".to_string(), bytes(511, 2)),
        ("sizes/512".to_string(), bytes(512, 3)),
        ("sizes/513".to_string(), bytes(513, 4)),
        ("sizes/100k".to_string(), bytes(100 * 1024, 5)),
        (
            "héllo wörld/ünïcode ✓.txt".to_string(),
            b"non-ascii".to_vec(),
        ),
    ];
    if long_names {
        files.push((format!("{}.txt", "long-name-".repeat(15)), bytes(700, 6)));
        let deep = (0..30)
            .map(|i| format!("level{i:02}"))
            .collect::<Vec<_>>()
            .join("/");
        files.push((format!("{deep}/leaf"), bytes(10, 7)));
    }
    for (name, data) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    files.sort();
    files
}

/// Archives `root`'s contents with GNU tar in `format`.
fn archive(root: &Path, format: &str) -> Vec<u8> {
    let out = root.with_extension(format!("{format}.tar"));
    let status = Command::new("tar")
        .arg(format!("--format={format}"))
        .arg("-cf")
        .arg(&out)
        .arg("-C")
        .arg(root)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar --format={format} failed");
    std::fs::read(out).unwrap()
}

/// Every value below `key`, walking with `list`.
async fn walk<K: KvRo>(kv: &K) -> Result<(Vec<(String, Vec<u8>)>, Vec<String>), KvError> {
    let mut values = Vec::new();
    let mut dictionaries = Vec::new();
    let mut todo = vec![Key::root()];
    while let Some(dir) = todo.pop() {
        let listed = kv.list(&dir).await?;
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted, "list of {dir} is sorted");
        for (child, kind) in listed {
            assert_eq!(kv.exists(&child).await?, Some(kind));
            match kind {
                Kind::Dictionary => {
                    dictionaries.push(child.to_string());
                    todo.push(child);
                }
                Kind::Value => {
                    let data = kv.get(&child).await?;
                    assert_eq!(kv.size(&child).await?, data.len() as u64);
                    values.push((child.to_string()[1..].to_string(), data));
                }
            }
        }
    }
    values.sort();
    dictionaries.sort();
    Ok((values, dictionaries))
}

fn check_format(format: &'static str, long_names: bool) {
    if !tar_available() {
        return skip("GNU tar is not installed");
    }
    let root = scratch(format);
    let files = populate(&root, long_names);
    let tar = archive(&root, format);
    for sector_size in [512, 4096] {
        let block = leak(Ramdisk::read_only(&tar, sector_size));
        let files = files.clone();
        run(async move {
            let kv = TarKv::connect(block).await.unwrap();
            let mut expected: conformance::Files = files.iter().cloned().collect();
            expected.insert("empty-dir/".into(), Vec::new());
            conformance::check_ro(&kv, &expected)
                .await
                .unwrap_or_else(|e| panic!("{format}, {sector_size}: {e}"));
            let (values, dictionaries) = walk(&kv).await.unwrap();
            assert_eq!(values, files, "{format}: every file, exactly");
            assert!(dictionaries.contains(&"/empty-dir".to_string()));
            assert!(dictionaries.contains(&"/sizes".to_string()));
            assert_eq!(kv.list(&Key::v("empty-dir")).await.unwrap(), vec![]);
            assert_eq!(
                kv.list(&Key::v("sizes")).await.unwrap(),
                ["100k", "511", "512", "513"]
                    .iter()
                    .map(|n| (Key::v("sizes").add(n), Kind::Value))
                    .collect::<Vec<_>>()
            );
            let big = Key::v("sizes/100k");
            let data = bytes(100 * 1024, 5);
            for (offset, length) in [
                (0, 10),
                (511, 2),
                (4095, 4098),
                (100 * 1024 - 3, 10),
                (100 * 1024, 1),
                (u64::MAX, 5),
            ] {
                let start = (offset as usize).min(data.len());
                let end = start.saturating_add(length).min(data.len());
                assert_eq!(
                    kv.get_partial(&big, offset, length).await.unwrap(),
                    &data[start..end]
                );
            }
            assert_eq!(kv.exists(&Key::v("nothing")).await.unwrap(), None);
            assert_eq!(
                kv.get(&Key::v("sizes")).await,
                Err(KvError::ValueExpected(Key::v("sizes")))
            );
            assert_eq!(
                kv.list(&Key::v("one")).await,
                Err(KvError::DictionaryExpected(Key::v("one")))
            );
            let mtime = kv.last_modified(&Key::v("one")).await.unwrap();
            let now_days = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                / 86_400) as i64;
            assert!(
                (now_days - 1..=now_days + 1).contains(&mtime.0),
                "{mtime:?}"
            );
            assert_eq!(kv.digest(&Key::v("one")).await.unwrap().len(), 32);
            assert!(kv.digest(&Key::root()).await.is_ok());
        });
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn gnu_tar_ustar() {
    check_format("ustar", false);
}

#[test]
fn gnu_tar_gnu_long_names() {
    check_format("gnu", true);
}

#[test]
fn gnu_tar_pax_long_names() {
    check_format("pax", true);
}

fn connect_error(tar: Vec<u8>) -> String {
    let block = leak(Ramdisk::read_only(&tar, 512));
    run(async move {
        match TarKv::connect(block).await {
            Ok(kv) => panic!("accepted: {:?}", walk(&kv).await),
            Err(e) => e.to_string(),
        }
    })
}

/// The offsets of the headers of `tar` (an archive of `files`).
fn header_of(tar: &[u8], name: &str) -> usize {
    (0..tar.len())
        .step_by(512)
        .find(|&o| tar[o..o + 100].starts_with(name.as_bytes()))
        .unwrap_or_else(|| panic!("no header named {name}"))
}

fn reseal(tar: &mut [u8], at: usize) {
    let h = &mut tar[at..at + 512];
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn corrupted_archives_are_errors() {
    if !tar_available() {
        return skip("GNU tar is not installed");
    }
    let root = scratch("corrupt");
    populate(&root, false);
    let ustar = archive(&root, "ustar");
    populate(&root, true);
    let pax = archive(&root, "pax");

    // A flipped checksum byte.
    let mut t = ustar.clone();
    let at = header_of(&t, "./one");
    t[at + 150] ^= 0x01;
    let e = connect_error(t);
    assert!(
        e.contains(&format!("offset {at}")) && e.contains("checksum"),
        "{e}"
    );

    // Truncated inside the 100 KiB file.
    let at = header_of(&ustar, "./sizes/100k");
    let e = connect_error(ustar[..at + 512 + 50_000].to_vec());
    assert!(
        e.contains(&format!("offset {at}")) && e.contains("reaches past"),
        "{e}"
    );

    // A size pointing past the end.
    let mut t = ustar.clone();
    let at = header_of(&t, "./one");
    t[at + 124..at + 136].copy_from_slice(b"07777777777\0");
    reseal(&mut t, at);
    let e = connect_error(t);
    assert!(
        e.contains(&format!("offset {at}")) && e.contains("reaches past"),
        "{e}"
    );

    // A pax header whose record length is bogus.
    let mut t = pax.clone();
    let at = (0..t.len())
        .step_by(512)
        .find(|&o| t[o + 156] == b'x')
        .expect("a pax header");
    let data = at + 512;
    let space = t[data..].iter().position(|&b| b == b' ').unwrap();
    t[data..data + space].fill(b'9');
    let e = connect_error(t);
    assert!(
        e.contains(&format!("offset {at}")) && e.contains("pax"),
        "{e}"
    );

    // Garbage: each random-ish device is an error or an archive, never a
    // panic or a hang.
    for seed in 0..50u8 {
        let mut t = ustar.clone();
        let at = (usize::from(seed) * 7919) % t.len();
        t[at] ^= seed | 1;
        let block = leak(Ramdisk::read_only(&t, 512));
        run(async move {
            if let Ok(kv) = TarKv::connect(block).await {
                let _ = walk(&kv).await;
            }
        });
    }
    std::fs::remove_dir_all(&root).unwrap();
}
