//! Unit tests of the store over ramdisks: the key-value semantics, files
//! inline and in skip-lists, directories split over several pairs,
//! remounting, formatting, and a few damaged images (the hostile-image and
//! power-loss suites, and the interoperability tests with the reference
//! implementation, are in the workspace's `tests/kv_chamelon.rs`).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use core::future::Future;

use super::*;
use crate::block::ramdisk::Ramdisk;
use crate::rt::leak;

struct Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        (20_000, 7)
    }
}

/// Runs a future that never waits (ramdisk I/O completes at once).
fn now<F: Future>(f: F) -> F::Output {
    crate::rt::now_or_never(f).expect("the future waited")
}

fn disk(blocks: u64, size: u32) -> &'static Ramdisk {
    let d = leak(Ramdisk::new(blocks, size));
    now(format(d, 16)).unwrap();
    d
}

fn store(d: &'static Ramdisk) -> Chamelon<Ramdisk, Clock> {
    now(Chamelon::mount(d, leak(Clock), 16)).unwrap()
}

fn k(s: &str) -> Key {
    Key::v(s)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn values_and_dictionaries() {
    for bs in [512, 4096] {
        let d = disk(256, bs);
        let kv = store(d);
        now(kv.set(&k("a/b/c"), b"hello")).unwrap();
        now(kv.set(&k("a/d"), b"")).unwrap();
        assert_eq!(now(kv.get(&k("a/b/c"))).unwrap(), b"hello");
        assert_eq!(now(kv.exists(&k("a/b"))).unwrap(), Some(Kind::Dictionary));
        assert_eq!(now(kv.exists(&k("a/d"))).unwrap(), Some(Kind::Value));
        assert_eq!(now(kv.exists(&k("a/x"))).unwrap(), None);
        assert_eq!(
            now(kv.exists(&Key::root())).unwrap(),
            Some(Kind::Dictionary)
        );
        assert_eq!(
            now(kv.list(&k("a"))).unwrap(),
            [(k("a/b"), Kind::Dictionary), (k("a/d"), Kind::Value)]
        );
        assert_eq!(
            now(kv.list(&Key::root())).unwrap(),
            [(k("a"), Kind::Dictionary)]
        );
        assert_eq!(now(kv.size(&k("a/b/c"))).unwrap(), 5);
        assert_eq!(now(kv.get_partial(&k("a/b/c"), 1, 3)).unwrap(), b"ell");
        assert_eq!(now(kv.get_partial(&k("a/b/c"), 4, 10)).unwrap(), b"o");
        assert_eq!(now(kv.get_partial(&k("a/b/c"), 99, 10)).unwrap(), b"");
        assert_eq!(now(kv.last_modified(&k("a/d"))).unwrap(), (20_000, 7));
        assert_eq!(now(kv.last_modified(&k("a"))).unwrap(), (20_000, 7));
        assert_eq!(
            now(kv.digest(&k("a/b/c"))).unwrap(),
            Sha256::digest(b"hello").to_vec()
        );
        assert!(matches!(
            now(kv.get(&k("a"))),
            Err(KvError::ValueExpected(_))
        ));
        assert!(
            matches!(now(kv.get(&k("a/b/c/d"))), Err(KvError::DictionaryExpected(x)) if x == k("a/b/c"))
        );
        assert!(matches!(
            now(kv.set(&k("a/b/c/d"), b"x")),
            Err(KvError::DictionaryExpected(_))
        ));
        assert!(matches!(
            now(kv.set(&k("a/b"), b"x")),
            Err(KvError::ValueExpected(_))
        ));
        assert!(matches!(now(kv.get(&k("nope"))), Err(KvError::NotFound(_))));
        assert!(matches!(
            now(kv.set(&k("a/.."), b"x")),
            Err(KvError::NotSupported(_))
        ));
        // Everything is still there after a remount.
        let again = store(d);
        assert_eq!(now(again.get(&k("a/b/c"))).unwrap(), b"hello");
        assert_eq!(
            now(again.digest(&k("a"))).unwrap(),
            now(kv.digest(&k("a"))).unwrap()
        );
    }
}

use sha2::{Digest, Sha256};

#[test]
fn large_values_use_skip_lists() {
    for bs in [512u32, 4096] {
        let d = disk(512, bs);
        let kv = store(d);
        for (i, len) in [65, 511, 512, 513, 1000, 5000, 40_000]
            .into_iter()
            .enumerate()
        {
            if len as u64 > 400 * u64::from(bs) {
                continue;
            }
            let key = k(&format!("f{i}"));
            let data = pattern(len, i as u8);
            now(kv.set(&key, &data)).unwrap();
            assert_eq!(now(kv.get(&key)).unwrap(), data, "bs {bs} len {len}");
            assert_eq!(
                now(kv.get_partial(&key, 100, 700)).unwrap(),
                data[100.min(len)..800.min(len)]
            );
        }
        let again = store(d);
        assert_eq!(now(again.get(&k("f6"))).unwrap(), pattern(40_000, 6));
    }
}

#[test]
fn partial_writes() {
    let d = disk(512, 512);
    let kv = store(d);
    now(kv.set_partial(&k("f"), 3, b"xy")).unwrap();
    assert_eq!(now(kv.get(&k("f"))).unwrap(), b"\0\0\0xy");
    now(kv.set_partial(&k("f"), 1, b"AB")).unwrap();
    assert_eq!(now(kv.get(&k("f"))).unwrap(), b"\0ABxy");
    // Growing past the inline limit, then writing inside and appending.
    let mut model = b"\0ABxy".to_vec();
    for (off, len, seed) in [
        (5usize, 2000usize, 1u8),
        (700, 300, 2),
        (2005, 3000, 3),
        (10, 5, 4),
        (9000, 10, 5),
    ] {
        let data = pattern(len, seed);
        now(kv.set_partial(&k("f"), off as u64, &data)).unwrap();
        if model.len() < off + len {
            model.resize(off + len, 0);
        }
        model[off..off + len].copy_from_slice(&data);
        assert_eq!(
            now(kv.get(&k("f"))).unwrap(),
            model,
            "after writing {len} at {off}"
        );
    }
    let again = store(d);
    assert_eq!(now(again.get(&k("f"))).unwrap(), model);
    now(kv.allocate(&k("z"), 3000)).unwrap();
    assert_eq!(now(kv.get(&k("z"))).unwrap(), vec![0u8; 3000]);
    assert!(now(kv.allocate(&k("z"), 1)).is_err());
}

#[test]
fn remove_and_rename() {
    let d = disk(512, 512);
    let kv = store(d);
    now(kv.set(&k("d/e/g"), b"1")).unwrap();
    now(kv.set(&k("d/big"), &pattern(3000, 9))).unwrap();
    now(kv.rename(&k("d"), &k("z/moved"))).unwrap();
    assert_eq!(now(kv.get(&k("z/moved/e/g"))).unwrap(), b"1");
    assert_eq!(now(kv.get(&k("z/moved/big"))).unwrap(), pattern(3000, 9));
    assert_eq!(now(kv.exists(&k("d"))).unwrap(), None);
    assert!(now(kv.rename(&k("z"), &k("z/inner"))).is_err());
    assert!(now(kv.rename(&k("z/moved/e"), &k("z"))).is_err());
    assert_eq!(now(kv.get(&k("z/moved/e/g"))).unwrap(), b"1");
    // Files: to a new name in the same directory, over another file, into
    // another directory.
    now(kv.set(&k("x1"), b"one")).unwrap();
    now(kv.set(&k("x2"), b"two")).unwrap();
    now(kv.rename(&k("x1"), &k("a1"))).unwrap();
    now(kv.rename(&k("a1"), &k("x2"))).unwrap();
    assert_eq!(now(kv.get(&k("x2"))).unwrap(), b"one");
    assert_eq!(now(kv.exists(&k("a1"))).unwrap(), None);
    now(kv.rename(&k("x2"), &k("z/moved/e/x"))).unwrap();
    assert_eq!(now(kv.get(&k("z/moved/e/x"))).unwrap(), b"one");
    assert!(matches!(
        now(kv.rename(&k("z/moved/e/x"), &k("z/moved"))),
        Err(KvError::ValueExpected(_))
    ));
    now(kv.remove(&k("z"))).unwrap();
    assert_eq!(now(kv.exists(&k("z/moved/e/g"))).unwrap(), None);
    assert!(matches!(
        now(kv.remove(&k("nope"))),
        Err(KvError::NotFound(_))
    ));
    now(kv.set(&k("q/r"), b"r")).unwrap();
    now(kv.remove(&Key::root())).unwrap();
    assert!(now(kv.list(&Key::root())).unwrap().is_empty());
    let again = store(d);
    assert!(now(again.list(&Key::root())).unwrap().is_empty());
    // The freed blocks are found again: the device does not fill up.
    for round in 0..20u8 {
        now(kv.set(&k("cycle/big"), &pattern(20_000, round))).unwrap();
        now(kv.remove(&k("cycle"))).unwrap();
    }
}

#[test]
fn many_entries_split_directories() {
    let d = disk(1024, 512);
    let kv = store(d);
    let names: Vec<_> = (0..300)
        .map(|i| format!("entry-{:04}", (i * 7919) % 300))
        .collect();
    for (i, n) in names.iter().enumerate() {
        now(kv.set(&k(&format!("dir/{n}")), &pattern(i % 60, i as u8))).unwrap();
    }
    let listed = now(kv.list(&k("dir"))).unwrap();
    assert_eq!(listed.len(), 300);
    let again = store(d);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            now(again.get(&k(&format!("dir/{n}")))).unwrap(),
            pattern(i % 60, i as u8)
        );
    }
    for n in names.iter().take(290) {
        now(kv.remove(&k(&format!("dir/{n}")))).unwrap();
    }
    assert_eq!(now(kv.list(&k("dir"))).unwrap().len(), 10);
    now(kv.remove(&k("dir"))).unwrap();
    assert_eq!(now(kv.exists(&k("dir"))).unwrap(), None);
}

#[test]
fn full_device_reports_no_space_and_recovers() {
    let d = disk(64, 512);
    let kv = store(d);
    let mut stored = 0;
    let err = loop {
        match now(kv.set(&k(&format!("f{stored}")), &pattern(2000, stored as u8))) {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
        assert!(
            stored < 100,
            "a 32 KiB device took more than 100 files of 2000 bytes"
        );
    };
    assert_eq!(err, KvError::NoSpace);
    for i in 0..stored {
        assert_eq!(
            now(kv.get(&k(&format!("f{i}")))).unwrap(),
            pattern(2000, i as u8)
        );
    }
    now(kv.remove(&k("f0"))).unwrap();
    now(kv.set(&k("again"), &pattern(2000, 1))).unwrap();
}

#[test]
fn unformatted_devices() {
    let blank = leak(Ramdisk::new(64, 512));
    let clock = leak(Clock);
    assert_eq!(
        now(Chamelon::mount(blank, clock, 16)).unwrap_err(),
        Error::NotFormatted
    );
    let kv = now(Chamelon::connect(blank, clock, 16)).unwrap();
    assert_eq!(now(kv.check()), Err(Error::NotFormatted));
    let e = now(kv.get(&k("x"))).unwrap_err();
    assert!(format!("{e}").contains("not formatted"), "{e}");
    now(kv.format()).unwrap();
    now(kv.set(&k("x"), b"1")).unwrap();
    assert_eq!(now(kv.get(&k("x"))).unwrap(), b"1");
    // A bad program size, a too small device.
    assert!(matches!(
        now(Chamelon::mount(blank, clock, 24)),
        Err(Error::Unsupported(_))
    ));
    assert!(now(format(&Ramdisk::new(2, 512), 16)).is_err());
    // Damaged: the magic is there, no commit checks.
    let d = disk(64, 512);
    let mut image = d.contents();
    for b in [0usize, 512] {
        image[b + 20] ^= 0x55;
    }
    let damaged = leak(Ramdisk::from_image(&image, 512));
    assert!(matches!(
        now(Chamelon::mount(damaged, clock, 16)),
        Err(Error::Corrupt(_))
    ));
    assert!(matches!(
        now(Chamelon::connect(damaged, clock, 16)),
        Err(Error::Corrupt(_))
    ));
    // Another sector size than the file system's block size.
    let wide = leak(Ramdisk::from_image(&d.contents(), 4096));
    assert!(matches!(
        now(Chamelon::mount(wide, clock, 16)),
        Err(Error::Corrupt(_) | Error::Unsupported(_))
    ));
}

#[test]
fn metadata_blocks_round_trip() {
    use super::mdir::{Entry, Layout, MetaPair, emit_block, parse_block};
    let layout = Layout {
        block_size: 512,
        prog_size: 16,
        fcrc: true,
    };
    let mut mp = MetaPair::empty([4, 5], 0);
    mp.entries.push(Entry::new(
        Kind::Value,
        b"name",
        (tag::INLINESTRUCT, b"data".to_vec()),
    ));
    mp.entries[0].set_attr(disk::TIME_ATTR, Some(disk::emit_time((1, 2))));
    mp.entries.push(Entry::new(
        Kind::Dictionary,
        b"sub",
        (tag::DIRSTRUCT, disk::emit_pair([8, 9])),
    ));
    mp.tail = [10, 11];
    mp.gdelta.set_orphans(true);
    let image = emit_block(&mp, 7, &layout).unwrap();
    let log = parse_block(&image).unwrap().unwrap();
    assert_eq!(
        (log.rev, &log.entries, log.tail, log.split),
        (7, &mp.entries, [10, 11], false)
    );
    assert!(log.gdelta.has_orphans());
    // A flipped bit in the commit makes it invalid.
    let mut bad = image.clone();
    bad[30] ^= 1;
    assert_eq!(parse_block(&bad).unwrap(), None);
    // Too much for one block.
    mp.entries = (0..20)
        .map(|i| {
            Entry::new(
                Kind::Value,
                format!("n{i}").as_bytes(),
                (tag::INLINESTRUCT, vec![0; 30]),
            )
        })
        .collect();
    assert!(emit_block(&mp, 1, &layout).is_none());
}

/// Hostile images with every checksum right: loops, impossible sizes,
/// pointers out of range. Each gives an error, never a panic or a hang.
mod hostile {
    use super::super::disk::{Ctz, Superblock, emit_pair};
    use super::super::mdir::{Entry, Layout, MetaPair, emit_block};
    use super::*;

    const LAYOUT: Layout = Layout {
        block_size: 512,
        prog_size: 16,
        fcrc: true,
    };

    fn superblock(count: u32) -> Entry {
        let sb = Superblock {
            version: disk::VERSION,
            block_size: 512,
            block_count: count,
            name_max: 255,
            file_max: disk::FILE_MAX,
            attr_max: disk::ATTR_MAX,
        };
        Entry {
            name: Some((tag::SUPERBLOCK, disk::MAGIC.to_vec())),
            structure: Some((tag::INLINESTRUCT, sb.emit())),
            attrs: Vec::new(),
        }
    }

    fn file(name: &str, structure: (u16, Vec<u8>)) -> Entry {
        Entry::new(Kind::Value, name.as_bytes(), structure)
    }

    fn dir(name: &str, pair: [u32; 2]) -> Entry {
        Entry::new(
            Kind::Dictionary,
            name.as_bytes(),
            (tag::DIRSTRUCT, emit_pair(pair)),
        )
    }

    /// A pair to write: blocks, entries, tail, hard tail?
    type Spec = ([u32; 2], Vec<Entry>, [u32; 2], bool);

    /// An image of 64 blocks holding the given pairs.
    fn image(pairs: &[Spec]) -> &'static Ramdisk {
        let d = leak(Ramdisk::new(64, 512));
        for (pair, entries, tail, split) in pairs {
            let mut mp = MetaPair::empty(*pair, 0);
            mp.entries = entries.clone();
            mp.tail = *tail;
            mp.split = *split;
            let block = emit_block(&mp, 5, &LAYOUT).unwrap();
            now(d.write(u64::from(pair[0]), &block)).unwrap();
        }
        d
    }

    fn mount(d: &'static Ramdisk) -> Result<Chamelon<Ramdisk, Clock>, Error> {
        now(Chamelon::mount(d, leak(Clock), 16))
    }

    fn corrupt<T: core::fmt::Debug>(r: Result<T, KvError>) {
        match r {
            Err(KvError::Store(m)) => assert!(m.contains("corrupt"), "{m}"),
            other => panic!("expected a corruption error, got {other:?}"),
        }
    }

    const NO_TAIL: [u32; 2] = [u32::MAX, u32::MAX];

    #[test]
    fn loops_in_the_metadata_list_and_directories() {
        // The metadata list goes round.
        let d = image(&[
            ([0, 1], vec![superblock(64)], [2, 3], false),
            ([2, 3], vec![], [0, 1], false),
        ]);
        assert!(matches!(mount(d), Err(Error::Corrupt(_))));
        // A directory chain goes round (its own hard tail).
        let root: Spec = (
            [0, 1],
            vec![superblock(64), dir("d", [2, 3])],
            [2, 3],
            false,
        );
        let looping: Spec = (
            [2, 3],
            vec![file("f", (tag::INLINESTRUCT, b"x".to_vec()))],
            [2, 3],
            true,
        );
        assert!(matches!(
            mount(image(&[root.clone(), looping])),
            Err(Error::Corrupt(_))
        ));
        // A directory contains the root: walks stop at the depth bound.
        let d = image(&[root, ([2, 3], vec![dir("e", [0, 1])], NO_TAIL, false)]);
        let kv = mount(d).unwrap();
        assert_eq!(
            now(kv.list(&k("d/e/d/e"))).unwrap(),
            [(k("d/e/d/e/d"), Kind::Dictionary)]
        );
        corrupt(now(kv.digest(&Key::root())));
        corrupt(now(kv.remove(&k("d"))));
    }

    #[test]
    fn impossible_files() {
        let ctz = |head, size| (tag::CTZSTRUCT, Ctz { head, size }.emit());
        let d = image(&[(
            [0, 1],
            vec![
                superblock(64),
                file("far", ctz(9999, 100)),
                file("huge", ctz(5, 0x7fff_ffff)),
                file("bent", ctz(6, 1000)),
                file("odd", (tag::DIRSTRUCT, emit_pair([2, 3]))),
                file("short", (tag::CTZSTRUCT, vec![1, 2, 3])),
                dir("notdir", [70, 71]),
                Entry::new(
                    Kind::Dictionary,
                    b"inline-dir",
                    (tag::INLINESTRUCT, b"x".to_vec()),
                ),
            ],
            NO_TAIL,
            false,
        )]);
        // Block 6 starts with a pointer far beyond the device.
        let mut bent = vec![0u8; 512];
        bent[..4].copy_from_slice(&9999u32.to_le_bytes());
        now(d.write(6, &bent)).unwrap();
        let kv = mount(d).unwrap();
        for name in ["far", "huge", "bent", "odd", "short"] {
            corrupt(now(kv.get(&k(name))));
        }
        corrupt(now(kv.list(&k("notdir"))));
        corrupt(now(kv.list(&k("inline-dir"))));
        // Allocation walks every file: the damage stops it too.
        corrupt(now(kv.set(&k("new"), &pattern(3000, 1))));
        assert_eq!(
            now(kv.size(&k("huge"))).unwrap_err(),
            now(kv.size(&k("huge"))).unwrap_err()
        );
    }

    #[test]
    fn bad_superblocks_and_commits() {
        let mut sb = superblock(64);
        sb.structure.as_mut().unwrap().1[2] = 3; // version 3.x
        assert!(matches!(
            mount(image(&[([0, 1], vec![sb], NO_TAIL, false)])),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            mount(image(&[([0, 1], vec![superblock(1000)], NO_TAIL, false)])),
            Err(Error::Corrupt(_))
        ));
        let mut short = superblock(64);
        short.structure.as_mut().unwrap().1.truncate(10);
        assert!(matches!(
            mount(image(&[([0, 1], vec![short], NO_TAIL, false)])),
            Err(Error::Corrupt(_))
        ));
        // No superblock entry at all.
        assert!(matches!(
            mount(image(&[(
                [0, 1],
                vec![file("f", (tag::INLINESTRUCT, vec![]))],
                NO_TAIL,
                false
            )])),
            Err(Error::Corrupt(_))
        ));
        // A commit (with a good CRC) deleting an id that does not exist.
        let d = image(&[([0, 1], vec![superblock(64)], NO_TAIL, false)]);
        let mut block = vec![0u8; 512];
        now(d.read(0, &mut block)).unwrap();
        let mut mp = MetaPair::empty([0, 1], 0);
        mp.entries = vec![superblock(64)];
        let good = emit_block(&mp, 9, &LAYOUT).unwrap();
        let bad = splice_delete(&good, 7);
        now(d.write(0, &bad)).unwrap();
        assert!(matches!(mount(d), Err(Error::Corrupt(_))));
    }

    /// `block` with one more commit appended: a delete of `id`.
    fn splice_delete(block: &[u8], id: u16) -> Vec<u8> {
        use super::super::crc::crc32;
        use super::super::tag::Tag;
        // Find the end of the first commit by parsing forward.
        let mut off = 4;
        let mut ptag = 0xffff_ffffu32;
        loop {
            let raw =
                u32::from_be_bytes([block[off], block[off + 1], block[off + 2], block[off + 3]]);
            let t = Tag(raw ^ ptag);
            ptag = t.0;
            off += 4 + t.data_len();
            if t.type3() & 0x780 == tag::CCRC {
                ptag ^= u32::from(t.chunk() & 1) << 31;
                break;
            }
        }
        let mut out = block.to_vec();
        let del = Tag::new(tag::DELETE, id, 0);
        let raw = (del.0 ^ ptag).to_be_bytes();
        out[off..off + 4].copy_from_slice(&raw);
        let ccrc = Tag::new(tag::CCRC, 0x3ff, 4);
        let raw2 = (ccrc.0 ^ del.0).to_be_bytes();
        out[off + 4..off + 8].copy_from_slice(&raw2);
        let crc = crc32(crc32(0xffff_ffff, &raw), &raw2);
        out[off + 8..off + 12].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

#[test]
fn directories_made_in_split_directories_link_after_the_last_pair() {
    let d = disk(128, 512);
    let kv = store(d);
    for i in 0..12 {
        now(kv.set(&k(&format!("many/x{i:02}")), &pattern(20 + i, i as u8))).unwrap();
    }
    now(kv.set(&k("many/a-dir/f"), b"f")).unwrap();
    let mut fs = now(fs::Fs::mount(d, 16)).unwrap();
    let many = {
        let Some(slot) = now(fs.find(fs.st.root, b"many")).unwrap() else {
            panic!("many is missing");
        };
        fs.dir_pair(slot.entry()).unwrap()
    };
    let chain = now(fs.chain(many)).unwrap();
    assert!(
        chain.len() > 1,
        "12 entries of ~60 bytes split a 512-byte pair"
    );
    // The new directory's entry went into the first pair, its pair after
    // the last one in the metadata list.
    let slot = now(fs.find(many, b"a-dir")).unwrap().unwrap();
    assert_eq!(slot.mp.pair, chain[0].pair);
    let a_dir = fs.dir_pair(slot.entry()).unwrap();
    assert!(disk::pair_overlaps(chain.last().unwrap().tail, a_dir));
    assert!(!fs.st.gdisk.has_orphans());
    assert_eq!(now(kv.get(&k("many/a-dir/f"))).unwrap(), b"f");
}

#[test]
fn conforms_to_the_key_value_semantics() {
    for bs in [512, 4096] {
        let d = disk(256, bs);
        let kv = store(d);
        now(crate::kv::conformance::check_rw(&kv)).unwrap_or_else(|e| panic!("{bs}: {e}"));
        // What it holds then is still there after a remount.
        let files = now(async {
            let mut files = crate::kv::conformance::Files::new();
            for dir in ["new", "zeros", "batch"] {
                for (key, _) in kv.list(&k(dir)).await.unwrap() {
                    let path = key.segments().join("/");
                    files.insert(path, kv.get(&key).await.unwrap());
                }
            }
            files
        });
        assert_eq!(files.len(), 4);
        now(crate::kv::conformance::check_ro(&store(d), &files)).unwrap();
    }
}
