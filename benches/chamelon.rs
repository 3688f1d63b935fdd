//! Benchmarks of chamelon (littlefs as a key-value store) over a 16 MiB
//! ramdisk of 512-byte sectors: `set` and `get` of small values (inline in
//! their metadata pair) among 100 keys of one directory, and of 4 KiB
//! values (CTZ skip-lists) for comparison.
//!
//! The littlefs reference implementation's figures for the same workload
//! come from `benches/chamelon_peer.py` (littlefs-python, whose block
//! device callbacks run in Python: not a like-for-like peer, so it is run
//! and reported separately).
//!
//! Run with `cargo bench --bench chamelon` (add `-- --quick` for a short
//! run).

use std::future::Future;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirage::Pclock;
use mirage::block::ramdisk::Ramdisk;
use mirage::kv::chamelon::{self, Chamelon};
use mirage::kv::{Key, KvRo, KvRw};
use mirage::rt::leak;

struct Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        (20_000, 0)
    }
}

/// Runs a future that never waits (ramdisk I/O completes at once).
fn now<F: Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the store waited")
}

/// Keys per directory in the workload.
const KEYS: usize = 100;

fn store(value_len: usize) -> (Chamelon<Ramdisk, Clock>, Vec<Key>) {
    let disk = leak(Ramdisk::new(Ramdisk::DEFAULT_SECTORS, 512));
    now(chamelon::format(disk, 16)).unwrap();
    let kv = now(Chamelon::mount(disk, leak(Clock), 16)).unwrap();
    let keys: Vec<Key> = (0..KEYS)
        .map(|i| Key::v(&format!("bench/key-{i:03}")))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        now(kv.set(key, &vec![i as u8; value_len])).unwrap();
    }
    (kv, keys)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("chamelon");
    for (name, len) in [("32 B", 32usize), ("4 KiB", 4096)] {
        let (kv, keys) = store(len);
        let value = vec![0x5au8; len];
        group.throughput(Throughput::Elements(1));
        let mut i = 0;
        group.bench_function(format!("set {name} (100 keys, ramdisk)"), |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                now(kv.set(&keys[i], black_box(&value))).unwrap();
            })
        });
        let mut j = 0;
        group.bench_function(format!("get {name} (100 keys, ramdisk)"), |b| {
            b.iter(|| {
                j = (j + 1) % KEYS;
                black_box(now(kv.get(&keys[j])).unwrap());
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
