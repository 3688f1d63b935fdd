//! chamelon (littlefs as a key-value store) against the littlefs reference
//! implementation, through power losses, on damaged images and over
//! `ccm_block`.
//!
//! - Images made by littlefs-python (`tests/chamelon_peer.py`) are read
//!   and changed by chamelon, the result read back by the reference, then
//!   changed by the reference and read by chamelon; images chamelon makes
//!   from scratch are read by the reference, file for file. Block sizes 512
//!   and 4096; nested directories; inline and multi-block files.
//! - Power loss: a device that fails every sector write from the Nth on
//!   interrupts a workload at every N; the image must mount (in chamelon
//!   and in the reference) with every file at its old or its new content.
//! - Damaged images: random bytes changed anywhere give errors, never a
//!   panic or a hang.
//! - `ccm_block`: the same store over an encrypted device.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mirage::Pclock;
use mirage::block::Block;
use mirage::block::ccm::CcmBlock;
use mirage::block::faulty::Faulty;
use mirage::block::ramdisk::Ramdisk;
use mirage::kv::chamelon::{self, Chamelon, Error};
use mirage::kv::{Key, Kind, KvError, KvRo, KvRw, conformance};
use mirage::random::Rng;
use mirage::rt::leak;

/// The time every write is stamped with.
const NOW: (i64, u64) = (19_876, 123_456_789);

struct Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        NOW
    }
}

fn clock() -> &'static Clock {
    leak(Clock)
}

/// Runs a future that never waits (these devices answer at once).
fn now<F: Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the future waited")
}

fn k(s: &str) -> Key {
    Key::v(s)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37) ^ seed ^ (i >> 9) as u8)
        .collect()
}

// ----- listings --------------------------------------------------------

/// Files and directories by path: `None` for a directory.
type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// The listing format of chamelon_peer.py: sorted `D /path` and
/// `F /path <hex>` lines.
fn render(tree: &Tree) -> Vec<String> {
    let mut lines: Vec<String> = tree
        .iter()
        .map(|(path, v)| match v {
            None => format!("D {path}"),
            Some(data) => format!("F {path} {}", hex(data)),
        })
        .collect();
    lines.sort();
    lines
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A peer listing as a tree.
fn parse(lines: &[String]) -> Tree {
    lines
        .iter()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let kind = parts.next().unwrap();
            let path = parts.next().unwrap().to_string();
            match kind {
                "D" => (path, None),
                _ => (path, Some(unhex(parts.next().unwrap_or("")))),
            }
        })
        .collect()
}

/// Everything in the store.
fn tree<S: KvRo>(kv: &S) -> Result<Tree, KvError> {
    let mut out = Tree::new();
    let mut pending = vec![Key::root()];
    while let Some(dir) = pending.pop() {
        for (key, kind) in now(kv.list(&dir))? {
            match kind {
                Kind::Dictionary => {
                    out.insert(key.to_string(), None);
                    pending.push(key);
                }
                Kind::Value => {
                    out.insert(key.to_string(), Some(now(kv.get(&key))?));
                }
            }
        }
    }
    Ok(out)
}

/// A tree as the conformance checks take it (directories end in `/`).
fn as_files(tree: &Tree) -> conformance::Files {
    tree.iter()
        .map(|(p, v)| match v {
            Some(data) => (p.clone(), data.clone()),
            None => (format!("{p}/"), Vec::new()),
        })
        .collect()
}

/// Only the files of a tree.
fn files(tree: &Tree) -> BTreeMap<String, Vec<u8>> {
    tree.iter()
        .filter_map(|(p, v)| v.clone().map(|d| (p.clone(), d)))
        .collect()
}

// ----- the peer --------------------------------------------------------

/// Runs tests/chamelon_peer.py; `None` (reported as skipped) without
/// python3 or littlefs-python.
fn peer(args: &[&str]) -> Option<Vec<String>> {
    let script = common::workspace().join("tests/chamelon_peer.py");
    let out = match Command::new("python3").arg(&script).args(args).output() {
        Ok(out) => out,
        Err(e) => {
            common::skipped(
                "littlefs reference checks",
                &format!("python3 does not run: {e}"),
            );
            return None;
        }
    };
    let text = common::text(&out.stdout);
    if let Some(reason) = text.strip_prefix("SKIPPED: ") {
        common::skipped("littlefs reference checks", reason.trim());
        return None;
    }
    assert!(
        out.status.success(),
        "chamelon_peer.py {args:?} failed:\n{}",
        common::text(&out.stderr)
    );
    Some(text.lines().map(str::to_string).collect())
}

fn save(disk: &Ramdisk, path: &Path) {
    std::fs::write(path, disk.contents()).unwrap();
}

fn load(path: &Path, block_size: u32) -> &'static Ramdisk {
    leak(Ramdisk::from_image(
        &std::fs::read(path).unwrap(),
        block_size,
    ))
}

fn mount<B: Block>(disk: &'static B) -> Chamelon<B, Clock> {
    now(Chamelon::mount(disk, clock(), 16)).unwrap()
}

// ----- interoperability ------------------------------------------------

/// A change made through chamelon and, identically, to the model.
fn change<S: KvRw>(kv: &S, model: &mut Tree, op: &Op) {
    now(op.apply(kv)).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    op.apply_model(model);
}

#[test]
fn reference_images_are_read_and_changed() {
    for (bs, count) in [(512u32, 256u32), (4096, 64)] {
        let image = common::ScratchFile::new("lfs-ref", 0);
        let path = image.0.to_str().unwrap();
        let Some(made) = peer(&["make", path, &bs.to_string(), &count.to_string()]) else {
            return;
        };
        let kv = mount(load(&image.0, bs));
        let mut model = parse(&made);
        assert_eq!(
            render(&tree(&kv).unwrap()),
            made,
            "bs {bs}: chamelon reads the reference's image"
        );
        now(conformance::check_ro(&kv, &as_files(&model)))
            .unwrap_or_else(|e| panic!("bs {bs}: {e}"));
        assert_eq!(
            now(kv.size(&k("docs/deep/large.bin"))).unwrap(),
            9 * u64::from(bs) + 77 + 700
        );
        assert_eq!(now(kv.last_modified(&k("hello.txt"))).unwrap(), (0, 0));
        let big = pattern(7 * bs as usize + 3, 1);
        for op in [
            Op::Set("chamelon-small", b"inline value".to_vec()),
            Op::Set("chamelon-big", big.clone()),
            Op::Set("chamelon-remove-me", b"soon gone".to_vec()),
            Op::Set("docs/deep/deeper/added/new", pattern(300, 2)),
            Op::Set("hello.txt", b"Hello from chamelon\n".to_vec()),
            Op::Partial("docs/deep/large.bin", 100, pattern(50, 3)),
            Op::Partial(
                "docs/deep/large.bin",
                9 * u64::from(bs),
                pattern(2 * bs as usize, 4),
            ),
            Op::Partial("docs/inline.bin", 10, pattern(bs as usize, 5)),
            Op::Remove("many/file-03"),
            Op::Rename("docs/new-name", "moved/elsewhere/name"),
            Op::Remove("empty"),
            Op::Rename("docs/deep/deeper", "deeper-moved"),
            Op::Rename("many/file-10", "many/file-00"),
        ] {
            change(&kv, &mut model, &op);
        }
        assert_eq!(tree(&kv).unwrap(), model, "bs {bs}: chamelon's own view");
        now(conformance::check_ro(&kv, &as_files(&model)))
            .unwrap_or_else(|e| panic!("bs {bs}, changed: {e}"));
        let remounted = mount(kv_disk(&kv));
        assert_eq!(tree(&remounted).unwrap(), model, "bs {bs}: after a remount");
        save(kv_disk(&kv), &image.0);
        let listed = peer(&["list", path, &bs.to_string()]).unwrap();
        assert_eq!(
            listed,
            render(&model),
            "bs {bs}: the reference reads chamelon's changes"
        );
        let attr = peer(&["attr", path, &bs.to_string(), "/chamelon-small", "0x74"]).unwrap();
        let mut stamp = (NOW.0 as i32).to_le_bytes().to_vec();
        stamp.extend_from_slice(&NOW.1.to_le_bytes());
        assert_eq!(
            attr,
            [hex(&stamp)],
            "the timestamp attribute as the reference sees it"
        );
        // The reference changes it again (appending to the blocks chamelon
        // wrote), and chamelon reads the result.
        let changed = peer(&["change", path, &bs.to_string()]).unwrap();
        let kv = mount(load(&image.0, bs));
        assert_eq!(
            render(&tree(&kv).unwrap()),
            changed,
            "bs {bs}: chamelon reads the reference's changes"
        );
        let mut expect = model.clone();
        expect.insert(
            "/chamelon-small".into(),
            Some(b"inline value+peer".to_vec()),
        );
        expect.remove("/chamelon-remove-me");
        assert_eq!(
            files(&parse(&changed)).get("/chamelon-small"),
            files(&expect).get("/chamelon-small")
        );
        assert!(!parse(&changed).contains_key("/chamelon-remove-me"));
    }
}

/// The device under a store.
fn kv_disk<C: Pclock>(kv: &Chamelon<Ramdisk, C>) -> &'static Ramdisk {
    kv.device()
}

#[test]
fn chamelon_images_are_read_by_the_reference() {
    // Program sizes from one byte to a whole block: commits are aligned
    // differently, and only some have room for a forward CRC.
    for (bs, count, prog) in [
        (512u32, 512u64, 16u32),
        (512, 512, 1),
        (4096, 96, 4096),
        (4096, 96, 64),
    ] {
        let disk = leak(Ramdisk::new(count, bs));
        now(chamelon::format(disk, prog)).unwrap();
        let kv = now(Chamelon::mount(disk, clock(), prog)).unwrap();
        let mut model = Tree::new();
        let mut ops = vec![
            Op::Set("top", b"top value".to_vec()),
            Op::Set("empty-value", Vec::new()),
            Op::Set("a/b/c/d/e/deep", b"five levels down".to_vec()),
            Op::Set("files/exactly-inline", pattern(bs as usize / 8, 1)),
            Op::Set("files/just-over-inline", pattern(bs as usize / 8 + 1, 2)),
            Op::Set("files/one-block", pattern(bs as usize, 3)),
            Op::Set("files/many-blocks", pattern(13 * bs as usize + 11, 4)),
            Op::Set("files/shrinks", pattern(5 * bs as usize, 5)),
            Op::Set("files/shrinks", b"small now".to_vec()),
            Op::Partial("files/grows", 0, b"start".to_vec()),
            Op::Partial("files/grows", 3 * u64::from(bs), pattern(bs as usize, 6)),
            Op::Set("gone/x", b"x".to_vec()),
            Op::Remove("gone"),
        ];
        // Enough names in one directory to split it over several pairs.
        let names: Vec<String> = (0..120)
            .map(|i| format!("wide/n{:03}", (i * 37) % 120))
            .collect();
        for (i, n) in names.iter().enumerate() {
            ops.push(Op::SetOwned(n.clone(), pattern(i % 40, i as u8)));
        }
        for n in names.iter().step_by(3) {
            ops.push(Op::RemoveOwned(n.clone()));
        }
        ops.push(Op::Rename("wide/n001", "wide/zzz"));
        ops.push(Op::Rename("files/many-blocks", "a/b/moved"));
        for op in &ops {
            change(&kv, &mut model, op);
        }
        assert_eq!(tree(&kv).unwrap(), model);
        let image = common::ScratchFile::new("lfs-ours", 0);
        save(disk, &image.0);
        let Some(listed) = peer(&["list", image.0.to_str().unwrap(), &bs.to_string()]) else {
            return;
        };
        assert_eq!(
            listed,
            render(&model),
            "bs {bs}: the reference reads chamelon's image"
        );
    }
}

// ----- a workload ------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Set(&'static str, Vec<u8>),
    SetOwned(String, Vec<u8>),
    Partial(&'static str, u64, Vec<u8>),
    Rename(&'static str, &'static str),
    Remove(&'static str),
    RemoveOwned(String),
}

impl Op {
    async fn apply<S: KvRw>(&self, kv: &S) -> Result<(), KvError> {
        match self {
            Op::Set(key, v) => kv.set(&k(key), v).await,
            Op::SetOwned(key, v) => kv.set(&k(key), v).await,
            Op::Partial(key, off, v) => kv.set_partial(&k(key), *off, v).await,
            Op::Rename(a, b) => kv.rename(&k(a), &k(b)).await,
            Op::Remove(key) => kv.remove(&k(key)).await,
            Op::RemoveOwned(key) => kv.remove(&k(key)).await,
        }
    }

    fn apply_model(&self, model: &mut Tree) {
        fn dirs(model: &mut Tree, key: &Key) {
            let mut p = key.parent();
            while !p.is_root() {
                model.insert(p.to_string(), None);
                p = p.parent();
            }
        }
        fn under(model: &Tree, path: &str) -> Vec<String> {
            model
                .keys()
                .filter(|p| *p == path || p.starts_with(&format!("{path}/")))
                .cloned()
                .collect()
        }
        match self {
            Op::Set(key, v) => Op::SetOwned(key.to_string(), v.clone()).apply_model(model),
            Op::SetOwned(key, v) => {
                let key = k(key);
                dirs(model, &key);
                model.insert(key.to_string(), Some(v.clone()));
            }
            Op::Partial(key, off, v) => {
                let key = k(key);
                dirs(model, &key);
                let old = model
                    .entry(key.to_string())
                    .or_insert_with(|| Some(Vec::new()));
                let data = old.as_mut().unwrap();
                let end = *off as usize + v.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                data[*off as usize..end].copy_from_slice(v);
            }
            Op::Rename(a, b) => {
                let (a, b) = (k(a).to_string(), k(b));
                for p in under(model, &b.to_string()) {
                    model.remove(&p);
                }
                dirs(model, &b);
                for p in under(model, &a) {
                    let v = model.remove(&p).unwrap();
                    model.insert(format!("{}{}", b, &p[a.len()..]), v);
                }
            }
            Op::Remove(key) => Op::RemoveOwned(key.to_string()).apply_model(model),
            Op::RemoveOwned(key) => {
                for p in under(model, &k(key).to_string()) {
                    model.remove(&p);
                }
            }
        }
    }

    /// Whether the operation may leave some of its files changed and
    /// others not (a recursive remove goes a file at a time).
    fn piecewise(&self) -> bool {
        matches!(self, Op::Remove(_) | Op::RemoveOwned(_))
    }
}

// ----- power loss ------------------------------------------------------

fn workload() -> (Vec<Op>, Vec<Op>) {
    let setup = vec![
        Op::Set("a/one", b"1".to_vec()),
        Op::Set("a/big", pattern(3000, 1)),
        Op::Set("b/c/deep", b"deep".to_vec()),
        Op::Set("top", b"top".to_vec()),
    ];
    let mut ops = vec![
        Op::Set("new/file1", b"created".to_vec()),
        Op::Set("a/one", pattern(2000, 2)),
        Op::Set("a/big", b"small again".to_vec()),
        Op::Partial("a/one", 1990, pattern(500, 3)),
        Op::Partial("top", 3, b"XYZ".to_vec()),
        Op::Rename("a/big", "b/moved"),
        Op::Rename("top", "top2"),
        Op::Set("b/c/deep2", pattern(1500, 4)),
        Op::Rename("b/c", "renamed-dir"),
        Op::Remove("a/one"),
        Op::Remove("renamed-dir"),
    ];
    for i in 0..12 {
        ops.push(Op::SetOwned(
            format!("many/x{i:02}"),
            pattern(20 + i, i as u8),
        ));
    }
    ops.extend([
        // A directory whose entry sorts into the first pair of a split
        // directory while the new pair is linked after its last: two
        // commits, an orphan in between.
        Op::Set("many/a-dir/f", b"in a new directory".to_vec()),
        Op::Remove("many/x03"),
        Op::Remove("many/x07"),
        Op::Rename("many/x00", "many/zz"),
        Op::Rename("many/x11", "b/from-many"),
        Op::Remove("many"),
    ]);
    (setup, ops)
}

/// Runs the workload on `device` until an operation fails; the index of
/// the failed operation, if one did.
fn run_until_failure<B: Block>(device: &'static B, ops: &[Op]) -> Option<usize> {
    let kv = match now(Chamelon::mount(device, clock(), 16)) {
        Ok(kv) => kv,
        Err(_) => return Some(0),
    };
    ops.iter().position(|op| now(op.apply(&kv)).is_err())
}

/// Checks the store after a power loss during `ops[failed]`: every file is
/// at its old or its new content (all of them together, except for a
/// recursive remove, which goes a file at a time).
fn check_after_loss(
    found: &BTreeMap<String, Vec<u8>>,
    models: &[Tree],
    ops: &[Op],
    failed: Option<usize>,
    n: u64,
) {
    let i = failed.unwrap_or(ops.len());
    let before = files(&models[i]);
    if failed.is_none() {
        assert_eq!(found, &before, "write {n}: the workload finished");
        return;
    }
    let after = files(&models[i + 1]);
    if found == &before || found == &after {
        return;
    }
    assert!(
        ops[i].piecewise(),
        "write {n}: {:?} left neither the old nor the new state:\n{found:?}",
        ops[i]
    );
    for (path, v) in found {
        assert!(
            before.get(path) == Some(v) || after.get(path) == Some(v),
            "write {n}: {path} is neither old nor new after {:?}",
            ops[i]
        );
    }
    for path in before.keys().chain(after.keys()) {
        assert!(
            found.contains_key(path) || !after.contains_key(path) || !before.contains_key(path),
            "write {n}: {path} vanished during {:?}",
            ops[i]
        );
    }
}

/// Interrupts the workload at every sector write on `device` (whose
/// initial image is `start`); returns the images left by each loss.
fn power_loss_suite<B: Block>(
    device: &'static B,
    faulty: &'static Faulty<'static, Ramdisk>,
    start: &[u8],
    ops: &[Op],
    models: &[Tree],
) -> Vec<Vec<u8>> {
    let reset = |n: u64| {
        faulty.inner().restore(start).unwrap();
        faulty.arm(n);
    };
    reset(u64::MAX);
    assert_eq!(
        run_until_failure(device, ops),
        None,
        "the workload runs without faults"
    );
    let total = faulty.sector_writes();
    assert!(total > 20, "the workload writes ({total} sectors)");
    let mut images = Vec::new();
    for n in 0..=total {
        reset(n);
        let failed = run_until_failure(device, ops);
        faulty.power_on();
        let kv = now(Chamelon::mount(device, clock(), 16))
            .unwrap_or_else(|e| panic!("write {n}: the image does not mount after the loss: {e}"));
        let found = files(&tree(&kv).unwrap_or_else(|e| panic!("write {n}: {e}")));
        check_after_loss(&found, models, ops, failed, n);
        images.push(faulty.inner().contents());
        // The store is usable: it finishes the interrupted work (pending
        // moves, orphans) with its first change.
        now(kv.set(&k("after/loss"), b"fine")).unwrap_or_else(|e| panic!("write {n}: {e}"));
        let mut expect = found.clone();
        expect.insert("/after/loss".into(), b"fine".to_vec());
        assert_eq!(
            files(&tree(&kv).unwrap()),
            expect,
            "write {n}: after a change"
        );
        let again = mount(device);
        assert_eq!(
            files(&tree(&again).unwrap()),
            expect,
            "write {n}: after a change and a remount"
        );
    }
    images
}

/// Formats `device` and runs `setup` on it; the models of the store
/// before and after each of `ops`.
fn prepare<B: Block>(device: &'static B, setup: &[Op], ops: &[Op]) -> Vec<Tree> {
    now(chamelon::format(device, 16)).unwrap();
    let kv = mount(device);
    let mut start = Tree::new();
    for op in setup {
        change(&kv, &mut start, op);
    }
    let mut models = vec![start];
    for op in ops {
        let mut m = models.last().unwrap().clone();
        op.apply_model(&mut m);
        models.push(m);
    }
    models
}

#[test]
fn power_loss_at_every_write_leaves_old_or_new_files() {
    let (setup, ops) = workload();
    let disk = leak(Ramdisk::new(128, 512));
    let models = prepare(disk, &setup, &ops);
    let start = disk.contents();
    let faulty = leak(Faulty::new(disk));
    let images = power_loss_suite(faulty, faulty, &start, &ops, &models);
    // The reference implementation mounts every image left by a loss,
    // agrees on its contents, recovers it and writes to it.
    let dir = tempdir("lfs-loss");
    for (n, image) in images.iter().enumerate() {
        std::fs::write(dir.join(format!("{n:04}.img")), image).unwrap();
    }
    let Some(report) = peer(&["check-many", dir.to_str().unwrap(), "512"]) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    if std::env::var_os("CHAMELON_KEEP_IMAGES").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let mut sections: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut current = 0;
    for line in report {
        if let Some(name) = line.strip_prefix("== ") {
            current = name[..4].parse().unwrap();
            sections.insert(current, Vec::new());
        } else {
            assert!(!line.starts_with("!!"), "image {current}: {line}");
            sections.get_mut(&current).unwrap().push(line);
        }
    }
    assert_eq!(sections.len(), images.len());
    for (n, lines) in sections {
        let ours = files(&tree(&mount(leak(Ramdisk::from_image(&images[n], 512)))).unwrap());
        assert_eq!(
            files(&parse(&lines)),
            ours,
            "image {n}: the reference and chamelon disagree"
        );
    }
}

#[test]
fn power_loss_over_ccm_block() {
    let (setup, ops) = workload();
    let raw = leak(Faulty::new(leak(Ramdisk::new(256, 512))));
    let rng = leak(Rng::from_seed(&[9u8; 32]));
    let ccm = leak(CcmBlock::connect(raw, rng, Some(KEY), 8).unwrap());
    let models = prepare(ccm, &setup, &ops);
    let start = raw.inner().contents();
    power_loss_suite(ccm, raw, &start, &ops, &models);
}

const KEY: &str = "0x10786d3a9c920d0b3ec80dfaaac557a7";

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ----- ccm_block ---------------------------------------------------------

#[test]
fn over_ccm_block() {
    let raw = leak(Ramdisk::new(512, 512));
    let rng = leak(Rng::from_seed(&[3u8; 32]));
    let ccm = leak(CcmBlock::connect(raw, rng, Some(KEY), 8).unwrap());
    // A fresh encrypted device cannot even be read: connect accepts it,
    // operations say why they fail, formatting makes it usable.
    let kv = now(Chamelon::connect(ccm, clock(), 16)).unwrap();
    assert!(matches!(now(kv.check()), Err(Error::Io(_))));
    assert!(now(kv.get(&k("x"))).is_err());
    now(kv.format()).unwrap();
    let mut model = Tree::new();
    for op in [
        Op::Set("secret/small", b"hidden".to_vec()),
        Op::Set("secret/large", pattern(5000, 7)),
        Op::Partial("secret/large", 4990, pattern(100, 8)),
        Op::Rename("secret/small", "other/small"),
    ] {
        change(&kv, &mut model, &op);
    }
    let again = mount(ccm);
    assert_eq!(tree(&again).unwrap(), model);
    // Nothing of it is readable on the raw device.
    let plain = raw.contents();
    assert!(!plain.windows(6).any(|w| w == b"hidden"));
    assert!(!plain.windows(8).any(|w| w == b"littlefs"));
    // A wrong key cannot mount it.
    let wrong =
        leak(CcmBlock::connect(raw, rng, Some("0x00786d3a9c920d0b3ec80dfaaac557a7"), 8).unwrap());
    assert!(matches!(
        now(Chamelon::mount(wrong, clock(), 16)),
        Err(Error::Io(_))
    ));
    // Decrypted, it is a littlefs image the reference reads.
    let info = ccm.info();
    let decrypted = leak(Ramdisk::new(info.size_sectors, info.sector_size));
    let mut buf = vec![0u8; info.sector_size as usize];
    for s in 0..info.size_sectors {
        if now(ccm.read(s, &mut buf)).is_ok() {
            now(decrypted.write(s, &buf)).unwrap();
        }
    }
    let image = common::ScratchFile::new("lfs-ccm", 0);
    save(decrypted, &image.0);
    if let Some(listed) = peer(&["list", image.0.to_str().unwrap(), "512"]) {
        assert_eq!(listed, render(&model));
    }
}

// ----- damaged images ----------------------------------------------------

/// A small deterministic generator (xorshift).
struct Prng(u64);
impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Reads everything and changes something on a store over a damaged
/// image: any outcome but a panic or a hang.
fn exercise(image: &[u8], bs: u32) {
    let disk = leak(Ramdisk::from_image(image, bs));
    let Ok(kv) = now(Chamelon::mount(disk, clock(), 16)) else {
        return;
    };
    let _ = tree(&kv);
    let _ = now(kv.digest(&Key::root()));
    let _ = now(kv.last_modified(&Key::root()));
    for key in ["docs/deep/large.bin", "many/file-05", "hello.txt"] {
        let _ = now(kv.get_partial(&k(key), 100, 1000));
        let _ = now(kv.size(&k(key)));
    }
    let _ = now(kv.set(&k("new/value"), &pattern(3000, 1)));
    let _ = now(kv.set_partial(&k("docs/deep/large.bin"), 10, b"x"));
    let _ = now(kv.rename(&k("docs"), &k("docs2")));
    let _ = now(kv.remove(&k("many")));
    let _ = tree(&kv);
}

#[test]
fn damaged_images_give_errors_not_panics_or_hangs() {
    // A reference-made image, or chamelon's own when the peer is missing.
    let image = common::ScratchFile::new("lfs-damage", 0);
    let base = match peer(&["make", image.0.to_str().unwrap(), "512", "128"]) {
        Some(_) => std::fs::read(&image.0).unwrap(),
        None => {
            let disk = leak(Ramdisk::new(128, 512));
            now(chamelon::format(disk, 16)).unwrap();
            let kv = mount(disk);
            now(kv.set(&k("docs/deep/large.bin"), &pattern(5000, 1))).unwrap();
            now(kv.set(&k("many/file-05"), b"five")).unwrap();
            disk.contents()
        }
    };
    let worker = std::thread::spawn(move || {
        let mut rng = Prng(0x9e37_79b9_7f4a_7c15);
        // Truncated images.
        for sectors in [0usize, 1, 2, 3, 10, 64, 127] {
            exercise(&base[..sectors * 512], 512);
        }
        // Bytes changed: in metadata blocks, data blocks, anywhere.
        let used: Vec<usize> = (0..base.len() / 512)
            .filter(|b| {
                base[b * 512..(b + 1) * 512]
                    .iter()
                    .any(|&x| x != 0xff && x != 0)
            })
            .collect();
        for round in 0..400 {
            let mut damaged = base.clone();
            let hits = 1 + (rng.next() % 8) as usize;
            for _ in 0..hits {
                let block = used[(rng.next() % used.len() as u64) as usize];
                let at = block * 512 + (rng.next() % 512) as usize;
                damaged[at] = match round % 3 {
                    0 => damaged[at] ^ (1 << (rng.next() % 8)),
                    1 => rng.next() as u8,
                    _ => 0xff,
                };
            }
            exercise(&damaged, 512);
        }
        // Whole blocks swapped or copied over others (stale metadata,
        // pointers to the wrong places), with every checksum intact.
        for _ in 0..200 {
            let mut damaged = base.clone();
            let a = used[(rng.next() % used.len() as u64) as usize];
            let b = used[(rng.next() % used.len() as u64) as usize];
            let block_a = damaged[a * 512..(a + 1) * 512].to_vec();
            damaged.copy_within(b * 512..(b + 1) * 512, a * 512);
            if rng.next().is_multiple_of(2) {
                damaged[b * 512..(b + 1) * 512].copy_from_slice(&block_a);
            }
            exercise(&damaged, 512);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !worker.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "a damaged image hung the store"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.join().expect("a damaged image made the store panic");
}
