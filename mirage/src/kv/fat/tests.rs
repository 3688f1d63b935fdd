//! FatKv over hand-built FAT12 images in memory, sound and hostile.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::future::Future;

use super::dir::{checksum, fat_time};
use super::*;
use crate::block::{BlockError, BlockInfo, check_access};
use crate::rt::{Executor, Platform};

/// A platform whose clock never moves; the block device is always ready.
struct Still;

impl Platform for Still {
    fn now_ns(&self) -> u64 {
        0
    }
    fn idle(&self, _deadline_ns: Option<u64>) {}
}

fn run<T: 'static>(future: impl Future<Output = T> + 'static) -> T {
    match Executor::new(Still).block_on(future) {
        Ok(value) => value,
        Err(_) => panic!("stopped"),
    }
}

/// A block device over a vector, counting the sectors read.
struct VecBlock {
    data: Vec<u8>,
    sector_size: u32,
    reads: Cell<u64>,
}

impl Block for VecBlock {
    fn info(&self) -> BlockInfo {
        BlockInfo {
            sector_size: self.sector_size,
            size_sectors: self.data.len() as u64 / u64::from(self.sector_size),
            read_write: false,
        }
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_access(&self.info(), sector, buf.len(), false)?;
        let at = (sector * u64::from(self.sector_size)) as usize;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        self.reads
            .set(self.reads.get() + buf.len() as u64 / u64::from(self.sector_size));
        Ok(())
    }

    async fn write(&self, _sector: u64, _data: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }
}

fn device(data: Vec<u8>) -> &'static VecBlock {
    Box::leak(Box::new(VecBlock {
        data,
        sector_size: 512,
        reads: Cell::new(0),
    }))
}

fn connect(data: Vec<u8>) -> Result<&'static FatKv<VecBlock>, KvError> {
    let block = device(data);
    run(async move { FatKv::connect(block).await }).map(|kv| &*Box::leak(Box::new(kv)))
}

// The layout of the hand-built image: 512-byte sectors, one sector per
// cluster, one reserved sector, two one-sector FATs, a one-sector root
// directory of 16 entries, 64 sectors: 60 clusters, so FAT12.
const SECTORS: usize = 64;
const FAT1: usize = 512;
const FAT2: usize = 1024;
const ROOT: usize = 1536;
const DATA: usize = 2048;
// 2021-06-15 12:34:56.
const DATE: u16 = ((2021 - 1980) << 9) | (6 << 5) | 15;
const TIME: u16 = (12 << 11) | (34 << 5) | (56 / 2);

struct Image {
    bytes: Vec<u8>,
}

impl Image {
    fn new() -> Self {
        let mut bytes = vec![0u8; SECTORS * 512];
        let b = &mut bytes;
        b[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        b[3..11].copy_from_slice(b"MSWIN4.1");
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14..16].copy_from_slice(&1u16.to_le_bytes());
        b[16] = 2;
        b[17..19].copy_from_slice(&16u16.to_le_bytes());
        b[19..21].copy_from_slice(&(SECTORS as u16).to_le_bytes());
        b[21] = 0xF8;
        b[22..24].copy_from_slice(&1u16.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xAA;
        let mut image = Image { bytes };
        image.fat(0, 0xFF8);
        image.fat(1, 0xFFF);
        image
    }

    /// Sets FAT12 entry `n` in both FATs.
    fn fat(&mut self, n: usize, value: u16) {
        for base in [FAT1, FAT2] {
            let at = base + n + n / 2;
            let old = u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]]);
            let new = if n % 2 == 1 {
                (old & 0x000F) | (value << 4)
            } else {
                (old & 0xF000) | (value & 0x0FFF)
            };
            self.bytes[at..at + 2].copy_from_slice(&new.to_le_bytes());
        }
    }

    /// Chains `clusters` and ends the chain.
    fn chain(&mut self, clusters: &[u16]) {
        for pair in clusters.windows(2) {
            self.fat(usize::from(pair[0]), pair[1]);
        }
        if let Some(&last) = clusters.last() {
            self.fat(usize::from(last), 0xFFF);
        }
    }

    fn cluster_at(cluster: u16) -> usize {
        DATA + (usize::from(cluster) - 2) * 512
    }

    /// Writes `data` into consecutive clusters from `first` on.
    fn data(&mut self, first: u16, data: &[u8]) {
        let at = Self::cluster_at(first);
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }

    /// Writes directory slot `slot` of the directory at byte `base`.
    fn slot(&mut self, base: usize, slot: usize, raw: &[u8; 32]) {
        let at = base + slot * 32;
        self.bytes[at..at + 32].copy_from_slice(raw);
    }
}

fn short(name: &[u8; 11], attr: u8, nt: u8, cluster: u16, size: u32) -> [u8; 32] {
    let mut raw = [0u8; 32];
    raw[..11].copy_from_slice(name);
    raw[11] = attr;
    raw[12] = nt;
    raw[22..24].copy_from_slice(&TIME.to_le_bytes());
    raw[24..26].copy_from_slice(&DATE.to_le_bytes());
    raw[26..28].copy_from_slice(&cluster.to_le_bytes());
    raw[28..32].copy_from_slice(&size.to_le_bytes());
    raw
}

/// The LFN slots for `long` before the short entry `short_name`, in disk
/// order (last part first).
fn lfn(long: &str, short_name: &[u8; 11]) -> Vec<[u8; 32]> {
    let mut units: Vec<u16> = long.encode_utf16().collect();
    let parts = units.len().div_ceil(13);
    if !units.len().is_multiple_of(13) {
        units.push(0);
    }
    units.resize(parts * 13, 0xFFFF);
    let sum = checksum(short_name);
    let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    (1..=parts)
        .rev()
        .map(|seq| {
            let mut raw = [0u8; 32];
            raw[0] = seq as u8 | if seq == parts { 0x40 } else { 0 };
            raw[11] = 0x0F;
            raw[13] = sum;
            for (i, &at) in offsets.iter().enumerate() {
                raw[at..at + 2].copy_from_slice(&units[(seq - 1) * 13 + i].to_le_bytes());
            }
            raw
        })
        .collect()
}

const LONG: &str = "A long name, été.txt";
const SUB: u16 = 5;

/// Root: hello.txt (5 bytes, cluster 2, lowercase flags), the long-named
/// file (700 bytes, clusters 3 and 4), SUB (cluster 5) holding INNER.BIN
/// (1 byte, cluster 6), a deleted entry, a volume label, a file whose LFN
/// has a wrong checksum, and an empty file.
fn sound() -> Image {
    let mut img = Image::new();
    let mut slot = 0;
    let mut put = |img: &mut Image, raw: [u8; 32]| {
        img.slot(ROOT, slot, &raw);
        slot += 1;
    };
    put(&mut img, short(b"VOLUME     ", 0x08, 0, 0, 0));
    put(&mut img, short(b"HELLO   TXT", 0x20, 0x18, 2, 5));
    for raw in lfn(LONG, b"ALONGN~1TXT") {
        put(&mut img, raw);
    }
    put(&mut img, short(b"ALONGN~1TXT", 0x20, 0, 3, 700));
    let mut deleted = short(b"GONE    TXT", 0x20, 0, 7, 1);
    deleted[0] = 0xE5;
    put(&mut img, deleted);
    put(&mut img, short(b"SUB        ", 0x10, 0, SUB, 0));
    let mut wrong = lfn("ignored name", b"BADSUM  TXT");
    wrong[0][13] ^= 1;
    for raw in wrong {
        put(&mut img, raw);
    }
    put(&mut img, short(b"BADSUM  TXT", 0x20, 0, 0, 0));
    put(&mut img, short(b"EMPTY      ", 0x20, 0, 0, 0));
    img.chain(&[2]);
    img.data(2, b"hello");
    img.chain(&[3, 4]);
    let long: Vec<u8> = (0..700u32).map(|i| (i % 251) as u8).collect();
    img.data(3, &long);
    img.chain(&[SUB]);
    let sub = Image::cluster_at(SUB);
    img.slot(sub, 0, &short(b".          ", 0x10, 0, SUB, 0));
    img.slot(sub, 1, &short(b"..         ", 0x10, 0, 0, 0));
    img.slot(sub, 2, &short(b"INNER   BIN", 0x20, 0, 6, 1));
    img.chain(&[6]);
    img.data(6, b"!");
    img
}

fn long_bytes() -> Vec<u8> {
    (0..700u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn reads_a_sound_fat12_image() {
    let kv = connect(sound().bytes).unwrap();
    assert_eq!(kv.fat_type(), FatType::Fat12);
    run(async move {
        let root = kv.list(&Key::root()).await.unwrap();
        let names: Vec<String> = root.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            names,
            [
                "/A long name, été.txt",
                "/BADSUM.TXT",
                "/EMPTY",
                "/SUB",
                "/hello.txt"
            ]
        );
        assert_eq!(root[3].1, Kind::Dictionary);
        assert_eq!(kv.get(&Key::v("hello.txt")).await.unwrap(), b"hello");
        // The short name matches in any case; the long name only exactly.
        assert_eq!(kv.get(&Key::v("HeLLo.TxT")).await.unwrap(), b"hello");
        assert_eq!(kv.get(&Key::v(LONG)).await.unwrap(), long_bytes());
        assert_eq!(kv.get(&Key::v("alongn~1.txt")).await.unwrap(), long_bytes());
        assert_eq!(
            kv.get(&Key::v("a long name, été.txt")).await,
            Err(KvError::NotFound(Key::v("a long name, été.txt")))
        );
        assert_eq!(
            kv.get_partial(&Key::v(LONG), 509, 7).await.unwrap(),
            &long_bytes()[509..516]
        );
        assert_eq!(
            kv.get_partial(&Key::v(LONG), 698, 100).await.unwrap(),
            &long_bytes()[698..]
        );
        assert!(
            kv.get_partial(&Key::v(LONG), 700, 5)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(kv.get(&Key::v("EMPTY")).await.unwrap(), b"");
        assert_eq!(kv.size(&Key::v(LONG)).await.unwrap(), 700);
        assert_eq!(kv.get(&Key::v("sub/inner.bin")).await.unwrap(), b"!");
        assert_eq!(
            kv.list(&Key::v("SUB")).await.unwrap(),
            [(Key::v("SUB/INNER.BIN"), Kind::Value)]
        );
        assert_eq!(kv.exists(&Key::v("SUB")).await, Ok(Some(Kind::Dictionary)));
        assert_eq!(
            kv.exists(&Key::v("sub/INNER.BIN")).await,
            Ok(Some(Kind::Value))
        );
        assert_eq!(kv.exists(&Key::v("GONE.TXT")).await, Ok(None));
        assert_eq!(kv.exists(&Key::v("VOLUME")).await, Ok(None));
        assert_eq!(kv.exists(&Key::v("hello.txt/x")).await, Ok(None));
        assert_eq!(kv.exists(&Key::root()).await, Ok(Some(Kind::Dictionary)));
        assert_eq!(
            kv.get(&Key::v("SUB")).await,
            Err(KvError::ValueExpected(Key::v("SUB")))
        );
        assert_eq!(
            kv.list(&Key::v("hello.txt")).await,
            Err(KvError::DictionaryExpected(Key::v("hello.txt")))
        );
        let modified = kv.last_modified(&Key::v("hello.txt")).await.unwrap();
        // 2021-06-15 is day 18793 of the epoch.
        assert_eq!(
            modified,
            (18793, (12 * 3600 + 34 * 60 + 56) * 1_000_000_000_000)
        );
        let digest = kv.digest(&Key::v("hello.txt")).await.unwrap();
        assert_eq!(digest, Sha256::digest(b"hello").to_vec());
        let sub = kv.digest(&Key::v("SUB")).await.unwrap();
        let inner = crate::kv::ro::value_digest(b"!");
        let expected = crate::kv::ro::dictionary_digest([("INNER.BIN", Kind::Value, inner)]);
        assert_eq!(sub, expected.to_vec());
        assert_eq!(kv.digest(&Key::root()).await.unwrap().len(), 32);
    });
}

#[test]
fn get_partial_reads_only_the_clusters_it_needs() {
    let kv = connect(sound().bytes).unwrap();
    run(async move {
        let file = kv.file(&Key::v(LONG)).await.unwrap();
        let before = kv.block.reads.get();
        let mut out = Vec::new();
        kv.read_file(&file, 600, 50, &mut out).await.unwrap();
        // One FAT sector and the second cluster alone: the first is skipped.
        assert_eq!(kv.block.reads.get() - before, 2);
        assert_eq!(out, &long_bytes()[600..650]);
    });
}

#[test]
fn timestamps() {
    assert_eq!(fat_time(0x21, 0), (3652, 0)); // 1980-01-01
    // Out-of-range fields are clamped, never a panic.
    let _ = fat_time(0xFFFF, 0xFFFF);
    let _ = fat_time(0, 0);
}

fn expect_store_error<T: core::fmt::Debug>(result: Result<T, KvError>, what: &str) {
    match result {
        Err(KvError::Store(message)) => {
            assert!(message.contains(what), "{message:?} does not say {what:?}")
        }
        other => panic!("expected an error saying {what:?}, got {other:?}"),
    }
}

#[test]
fn bad_boot_sectors_are_refused() {
    let mut img = sound();
    img.bytes[11..13].copy_from_slice(&0u16.to_le_bytes());
    expect_store_error(connect(img.bytes), "bytes per sector");
    let mut img = sound();
    img.bytes[13] = 3;
    expect_store_error(connect(img.bytes), "sectors per cluster");
    let mut img = sound();
    img.bytes[510] = 0;
    expect_store_error(connect(img.bytes), "signature");
    let mut img = sound();
    img.bytes[16] = 0;
    expect_store_error(connect(img.bytes), "no FAT");
    let mut img = sound();
    img.bytes[14..16].copy_from_slice(&0u16.to_le_bytes());
    expect_store_error(connect(img.bytes), "reserved");
    let mut img = sound();
    img.bytes[19..21].copy_from_slice(&0u16.to_le_bytes());
    expect_store_error(connect(img.bytes), "total sectors");
    let mut img = sound();
    img.bytes[22..24].copy_from_slice(&0u16.to_le_bytes());
    expect_store_error(connect(img.bytes), "FAT size");
    let mut img = sound();
    img.bytes[17..19].copy_from_slice(&0xFFFFu16.to_le_bytes());
    expect_store_error(connect(img.bytes), "no room");
    // A volume larger than its device.
    let mut img = sound();
    img.bytes.truncate(40 * 512);
    expect_store_error(connect(img.bytes), "the device has");
    expect_store_error(connect(vec![0; 100 * 512]), "signature");
}

#[test]
fn a_cluster_loop_is_an_error() {
    let mut img = sound();
    // 3 -> 4 -> 3 under a file of 2000 bytes (four clusters); the first
    // two clusters stay readable.
    img.fat(4, 3);
    img.bytes[ROOT + 4 * 32 + 28..ROOT + 4 * 32 + 32].copy_from_slice(&2000u32.to_le_bytes());
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v(LONG)).await, "loops");
        expect_store_error(kv.get_partial(&Key::v(LONG), 1500, 1).await, "loops");
        assert_eq!(
            kv.get_partial(&Key::v(LONG), 0, 700).await.unwrap(),
            long_bytes()
        );
        expect_store_error(kv.digest(&Key::root()).await, "loops");
        // A long file whose chain loops long before its size.
        expect_store_error(kv.chain(3, u64::MAX).await, "loops");
    });
}

#[test]
fn a_chain_past_the_fat_is_an_error() {
    let mut img = sound();
    img.fat(3, 0xFF0);
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v(LONG)).await, "beyond the last");
    });
    let mut img = sound();
    img.fat(3, 0);
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v(LONG)).await, "free cluster");
    });
    let mut img = sound();
    img.fat(3, 0xFF7);
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v(LONG)).await, "bad cluster");
    });
    // A first cluster beyond the volume.
    let mut img = sound();
    img.bytes[ROOT + 32 + 26..ROOT + 32 + 28].copy_from_slice(&4000u16.to_le_bytes());
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v("hello.txt")).await, "out of range");
    });
}

#[test]
fn a_directory_that_points_to_itself_is_an_error() {
    // Its chain loops on itself.
    let mut img = sound();
    img.fat(usize::from(SUB), SUB);
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.list(&Key::v("SUB")).await, "loops");
        expect_store_error(kv.get(&Key::v("SUB/INNER.BIN")).await, "loops");
    });
    // It contains itself: lookups stay bounded by the key, digests see it.
    let mut img = sound();
    let sub = Image::cluster_at(SUB);
    img.slot(sub, 3, &short(b"LOOP       ", 0x10, 0, SUB, 0));
    let kv = connect(img.bytes).unwrap();
    run(async move {
        assert_eq!(
            kv.get(&Key::v("SUB/LOOP/LOOP/LOOP/INNER.BIN"))
                .await
                .unwrap(),
            b"!"
        );
        expect_store_error(kv.digest(&Key::v("SUB")).await, "contains itself");
        expect_store_error(kv.digest(&Key::root()).await, "contains itself");
    });
}

#[test]
fn a_size_beyond_the_chain_is_an_error() {
    let mut img = sound();
    img.bytes[ROOT + 32 + 28..ROOT + 32 + 32].copy_from_slice(&u32::MAX.to_le_bytes());
    let kv = connect(img.bytes).unwrap();
    run(async move {
        assert_eq!(kv.size(&Key::v("hello.txt")).await, Ok(u64::from(u32::MAX)));
        expect_store_error(kv.get(&Key::v("hello.txt")).await, "only 1 clusters");
        expect_store_error(
            kv.get_partial(&Key::v("hello.txt"), 5000, 10).await,
            "only 1 clusters",
        );
        assert_eq!(
            kv.get_partial(&Key::v("hello.txt"), 1, 3).await.unwrap(),
            b"ell"
        );
        expect_store_error(kv.digest(&Key::v("hello.txt")).await, "only 1 clusters");
    });
    // A non-empty file without a cluster.
    let mut img = sound();
    img.bytes[ROOT + 32 + 26..ROOT + 32 + 28].copy_from_slice(&0u16.to_le_bytes());
    let kv = connect(img.bytes).unwrap();
    run(async move {
        expect_store_error(kv.get(&Key::v("hello.txt")).await, "no cluster");
    });
}

#[test]
fn random_corruption_never_panics() {
    // Flip bytes all over the metadata (boot sector, FATs, directories)
    // with a fixed xorshift sequence; every operation must return.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut img = sound();
        for _ in 0..8 {
            let at = (next() % (DATA as u64 + 4 * 512)) as usize;
            img.bytes[at] = next() as u8;
        }
        let Ok(kv) = connect(img.bytes) else {
            continue;
        };
        run(async move {
            let _ = kv.digest(&Key::root()).await;
            if let Ok(list) = kv.list(&Key::root()).await {
                for (key, _) in list {
                    let _ = kv.get(&key).await;
                    let _ = kv.get_partial(&key, 3, 600).await;
                    let _ = kv.list(&key).await;
                    let _ = kv.last_modified(&key).await;
                }
            }
        });
    }
}
