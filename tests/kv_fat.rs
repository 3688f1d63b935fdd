//! `mirage::kv::fat::FatKv` against images made by the real tools:
//! `mkfs.fat` (dosfstools) formats FAT12, FAT16 and FAT32 images, mtools
//! (`mmd`, `mcopy`) fills them with long, mixed-case and non-ASCII names,
//! nested directories and files around the sector and cluster sizes; the
//! store must read every byte, listing, size and time back. Also: the
//! `fat_ro` device of `mirage-build` in a generated entry point.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mirage::block::ramdisk::Ramdisk;
use mirage::kv::fat::{FatKv, FatType};
use mirage::kv::{Key, Kind, KvError, KvRo, conformance};
use mirage::rt::{Executor, Platform};

/// The executor's platform: the block device below is always ready.
struct Ready;

impl Platform for Ready {
    fn now_ns(&self) -> u64 {
        0
    }
    fn idle(&self, _deadline_ns: Option<u64>) {}
}

fn run<T: 'static>(future: impl Future<Output = T> + 'static) -> T {
    Executor::new(Ready)
        .block_on(future)
        .unwrap_or_else(|_| panic!("stopped"))
}

fn skipped(reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// The full path of `tool` on PATH or in the sbin directories.
fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

struct Tools {
    mkfs: PathBuf,
    mmd: PathBuf,
    mcopy: PathBuf,
}

fn tools() -> Option<Tools> {
    let find = || {
        Some(Tools {
            mkfs: find_tool("mkfs.fat")?,
            mmd: find_tool("mmd")?,
            mcopy: find_tool("mcopy")?,
        })
    };
    if let Some(tools) = find() {
        return Some(tools);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root && std::env::var_os("CI").is_some() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "dosfstools", "mtools"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        if let Some(tools) = find() {
            return Some(tools);
        }
    }
    skipped("mkfs.fat (dosfstools) and mmd/mcopy (mtools) are not installed");
    None
}

fn scratch(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mirage-kv-fat-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check(command: &mut Command) {
    let out = command
        .env("MTOOLS_SKIP_CHECK", "1")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deterministic contents: `n` bytes depending on `seed`.
fn contents(seed: usize, n: usize) -> Vec<u8> {
    let mut x = seed as u32 ^ 0x9E37_79B9;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The tree written to an image: files by path, and directories.
struct Tree {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
}

fn tree(cluster: usize) -> Tree {
    let dirs: Vec<String> = [
        "sizes",
        "Deep Dir",
        "Deep Dir/level 1",
        "Deep Dir/level 1/Level2",
        "Deep Dir/level 1/Level2/niveau é 3",
        "many",
        "empty",
    ]
    .map(String::from)
    .to_vec();
    let mut names: Vec<(String, usize)> = vec![
        ("a file with a long name.txt".into(), 1000),
        ("MixedCase.Txt".into(), 13),
        ("été.txt".into(), 7),
        ("lower.txt".into(), 9),
        ("UPPER.TXT".into(), 10),
        ("NOEXT".into(), 3),
        ("sizes/zero".into(), 0),
        ("sizes/one".into(), 1),
        ("sizes/511".into(), 511),
        ("sizes/512".into(), 512),
        ("sizes/513".into(), 513),
        ("sizes/cluster-1".into(), cluster - 1),
        ("sizes/cluster".into(), cluster),
        ("sizes/cluster+1".into(), cluster + 1),
        ("sizes/100 KiB.bin".into(), 100 * 1024),
        ("Deep Dir/level 1/sibling.txt".into(), 42),
        (
            "Deep Dir/level 1/Level2/niveau é 3/Deep File.bin".into(),
            3000,
        ),
    ];
    // Enough long names that the directory spans several clusters.
    for i in 0..40 {
        names.push((
            format!("many/a rather long file name number {i:02}.dat"),
            i * 37,
        ));
    }
    let files = names
        .into_iter()
        .enumerate()
        .map(|(seed, (name, n))| (name, contents(seed, n)))
        .collect();
    Tree { files, dirs }
}

/// Formats `image` (`kib` KiB) with `mkfs_args` and writes `tree` into it.
fn make_image(tools: &Tools, image: &Path, kib: u64, mkfs_args: &[&str], tree: &Tree) {
    let _ = std::fs::remove_file(image);
    check(
        Command::new(&tools.mkfs)
            .args(mkfs_args)
            .arg("-C")
            .arg(image)
            .arg(kib.to_string()),
    );
    for dir in &tree.dirs {
        check(
            Command::new(&tools.mmd)
                .arg("-i")
                .arg(image)
                .arg(format!("::/{dir}")),
        );
    }
    let host = scratch("host");
    for (i, (name, data)) in tree.files.iter().enumerate() {
        let source = host.join(format!("f{i}"));
        std::fs::write(&source, data).unwrap();
        check(
            Command::new(&tools.mcopy)
                .arg("-i")
                .arg(image)
                .arg(&source)
                .arg(format!("::/{name}")),
        );
    }
    let _ = std::fs::remove_dir_all(host);
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Reads everything back and compares it with `tree`.
async fn read_back(kv: &'static FatKv<Ramdisk>, tree: &Tree, cluster: usize) {
    let now_days = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 86_400) as i64;
    // Every file, whole and in parts.
    for (name, data) in &tree.files {
        let key = Key::v(name);
        assert_eq!(kv.exists(&key).await, Ok(Some(Kind::Value)), "{name}");
        assert_eq!(kv.size(&key).await, Ok(data.len() as u64), "{name}");
        let got = kv.get(&key).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *data, "{name}: contents differ");
        let n = data.len() as u64;
        for (offset, length) in [
            (0, 1),
            (1, 3),
            (7, 1000),
            (511, 2),
            (cluster as u64 - 1, 3),
            (cluster as u64 + 5, cluster * 2 + 1),
            (n.saturating_sub(1), 10),
            (n, 4),
            (n + 5, 4),
        ] {
            let start = offset.min(n) as usize;
            let end = (offset as usize)
                .saturating_add(length)
                .min(data.len())
                .max(start);
            assert_eq!(
                kv.get_partial(&key, offset, length).await.unwrap(),
                &data[start..end],
                "{name} at {offset}+{length}"
            );
        }
        let (days, ps) = kv.last_modified(&key).await.unwrap();
        assert!(
            (days - now_days).abs() <= 1,
            "{name}: modified on day {days}"
        );
        assert!(ps < 86_400 * 1_000_000_000_000);
        assert_eq!(kv.digest(&key).await.unwrap().len(), 32);
    }
    // Every directory's listing, the root's included.
    let mut expected: BTreeMap<Key, Vec<(Key, Kind)>> = BTreeMap::new();
    expected.insert(Key::root(), Vec::new());
    for dir in &tree.dirs {
        let key = Key::v(dir);
        expected
            .entry(key.parent())
            .or_default()
            .push((key.clone(), Kind::Dictionary));
        expected.entry(key).or_default();
    }
    for name in tree.files.keys() {
        let key = Key::v(name);
        expected
            .entry(key.parent())
            .or_default()
            .push((key, Kind::Value));
    }
    for (dir, mut entries) in expected {
        entries.sort();
        assert_eq!(kv.list(&dir).await.unwrap(), entries, "list {dir}");
        assert_eq!(kv.exists(&dir).await, Ok(Some(Kind::Dictionary)), "{dir}");
        if !dir.is_root() {
            let (days, _) = kv.last_modified(&dir).await.unwrap();
            assert!(
                (days - now_days).abs() <= 1,
                "{dir}: modified on day {days}"
            );
            assert_eq!(kv.get(&dir).await, Err(KvError::ValueExpected(dir.clone())));
        }
    }
    // Short names match in any case; long names exactly.
    assert_eq!(
        kv.get(&Key::v("upper.txt")).await.unwrap(),
        tree.files["UPPER.TXT"]
    );
    assert_eq!(
        kv.get(&Key::v("LOWER.TXT")).await.unwrap(),
        tree.files["lower.txt"]
    );
    assert_eq!(
        kv.exists(&Key::v("A FILE WITH A LONG NAME.TXT")).await,
        Ok(None)
    );
    assert_eq!(kv.exists(&Key::v("nothing here")).await, Ok(None));
    assert_eq!(kv.exists(&Key::v("UPPER.TXT/below")).await, Ok(None));
    assert_eq!(
        kv.get(&Key::v("missing")).await,
        Err(KvError::NotFound(Key::v("missing")))
    );
    // Digests: equal contents give equal digests; the tree has one.
    let root = kv.digest(&Key::root()).await.unwrap();
    assert_eq!(root.len(), 32);
    assert_eq!(kv.digest(&Key::root()).await.unwrap(), root);
    assert_ne!(kv.digest(&Key::v("many")).await.unwrap(), root);
    assert_eq!(
        kv.digest(&Key::v("sizes/zero")).await.unwrap(),
        kv.digest(&Key::v("many/a rather long file name number 00.dat"))
            .await
            .unwrap()
    );
}

fn round_trip(name: &str, kib: u64, mkfs_args: &[&str], cluster: usize, fat_type: FatType) {
    let Some(tools) = tools() else {
        return;
    };
    let dir = scratch(name);
    let image = dir.join("fat.img");
    let tree = tree(cluster);
    make_image(&tools, &image, kib, mkfs_args, &tree);
    let data = std::fs::read(&image).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let block = leak(Ramdisk::read_only(&data, 512));
    let kv = leak(run(async move { FatKv::connect(block).await }).unwrap());
    assert_eq!(kv.fat_type(), fat_type);
    let tree = leak(tree);
    run(async move { read_back(kv, tree, cluster).await });
    // The semantics every store shares, digests included.
    let mut expected: conformance::Files = tree.files.clone();
    for dir in &tree.dirs {
        expected.insert(format!("{dir}/"), Vec::new());
    }
    let expected = leak(expected);
    run(async move { conformance::check_ro(kv, expected).await })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn fat12_made_by_mkfs_fat_and_mtools() {
    round_trip(
        "fat12",
        1024,
        &["-F", "12", "-s", "2"],
        1024,
        FatType::Fat12,
    );
}

#[test]
fn fat16_made_by_mkfs_fat_and_mtools() {
    round_trip(
        "fat16",
        20 * 1024,
        &["-F", "16", "-s", "4"],
        2048,
        FatType::Fat16,
    );
}

#[test]
fn fat32_made_by_mkfs_fat_and_mtools() {
    round_trip(
        "fat32",
        40 * 1024,
        &["-F", "32", "-s", "1"],
        512,
        FatType::Fat32,
    );
}

/// A corrupted real image: an error or a value, never a panic or a hang.
#[test]
fn corrupted_fat16_image_fails_cleanly() {
    let Some(tools) = tools() else {
        return;
    };
    let dir = scratch("corrupt");
    let image = dir.join("fat.img");
    let tree = tree(2048);
    make_image(&tools, &image, 20 * 1024, &["-F", "16", "-s", "4"], &tree);
    let pristine = std::fs::read(&image).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Make every FAT entry of the first FAT point at cluster 2: chains loop.
    let mut data = pristine.clone();
    let reserved = u16::from_le_bytes([data[14], data[15]]) as usize;
    let fat_sectors = u16::from_le_bytes([data[22], data[23]]) as usize;
    for entry in 2..fat_sectors * 256 {
        let at = reserved * 512 + entry * 2;
        data[at..at + 2].copy_from_slice(&2u16.to_le_bytes());
    }
    let kv = leak(
        run(async move { FatKv::connect(leak(Ramdisk::read_only(&data, 512))).await }).unwrap(),
    );
    let errors = RefCell::new(0);
    let errors = leak(errors);
    run(async move {
        for name in ["sizes/100 KiB.bin", "many", "Deep Dir/level 1"] {
            let key = Key::v(name);
            if kv.get(&key).await.is_err() && kv.list(&key).await.is_err() {
                *errors.borrow_mut() += 1;
            }
        }
        assert!(kv.digest(&Key::root()).await.is_err());
    });
    assert_eq!(*errors.borrow(), 3);
}

// ---------------------------------------------------------------------
// The `fat_ro` device in a generated entry point.

use mirage_build::prelude::*;

#[test]
fn fat_ro_connects_over_its_block_device() {
    let dir = scratch("app");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\nmirage = { path = \"../mirage\" }\n\n[features]\ndefault = [\"target-unix\"]\ntarget-unix = [\"mirage/target-unix\"]\n",
    )
    .unwrap();
    let vars = [
        ("CARGO_FEATURE_TARGET_UNIX", "1"),
        ("CARGO_FEATURE_DEFAULT", "1"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into_iter()
    .collect();
    let env = BuildEnv {
        vars,
        out_dir: dir.clone(),
        manifest_dir: dir.clone(),
    };
    let kv = fat_ro(&block_of_file("disk.img"));
    let job = mirage_build::main("app::start", kv_ro() >> job()).apply(&kv);
    let app = register("fat", [job]).reporter(no_reporter());
    let out = evaluate_application(&app, &env).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.main_rs
            .contains("mirage::kv::fat::FatKv<mirage::platform::BlockFile>"),
        "{}",
        out.main_rs
    );
    assert!(
        out.main_rs
            .contains("mirage::kv::fat::FatKv::connect(block_disk_img_2)\n            .await\n            .map_err("),
        "{}",
        out.main_rs
    );
    assert!(out.text.contains("fat_ro"), "{}", out.text);
}
