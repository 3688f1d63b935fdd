//! Benchmarks of the storage devices: `kv_ro` gets of a small (100 B) and a
//! large (1 MiB) value on crunch (`MemKv`), tar (`TarKv` over a ramdisk),
//! FAT (`FatKv` over a ramdisk holding an image made by `mkfs.fat` and
//! `mcopy`) and docteur (both modes, over a ramdisk holding an image made
//! with `git`); and `ccm_block` sequential read and write throughput
//! against the plain ramdisk under it.
//!
//! Run with `cargo bench --bench storage` (add `-- --quick` for a short
//! run). A store whose tool is missing is skipped with a printed reason.

use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirage::Block;
use mirage::block::ccm::CcmBlock;
use mirage::block::ramdisk::Ramdisk;
use mirage::kv::docteur::{Docteur, Mode};
use mirage::kv::fat::FatKv;
use mirage::kv::ro::mem::MemKv;
use mirage::kv::ro::tar::TarKv;
use mirage::kv::tar_rw::TarKvRw;
use mirage::kv::{Key, KvRo, KvRw};
use mirage::random::Rng;

/// Runs a future that never waits (a ramdisk never does).
fn run<F: core::future::Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the device waited")
}

fn skip(what: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}: {reason}");
}

const SMALL: usize = 100;
const LARGE: usize = 1024 * 1024;

fn value(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

fn files() -> [(&'static str, Vec<u8>); 2] {
    [("small", value(SMALL, 1)), ("dir/large", value(LARGE, 2))]
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-bench-storage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src/dir")).unwrap();
    for (name, data) in files() {
        std::fs::write(dir.join("src").join(name), data).unwrap();
    }
    dir
}

/// Benchmarks a get of each value of `kv`, in group `kv_ro_get/NAME`
/// (docteur's figures are of objects it has decoded and cached before).
fn gets(c: &mut Criterion, name: &str, kv: &impl KvRo) {
    let mut group = c.benchmark_group(format!("kv_ro_get/{name}"));
    for (key, data) in files() {
        let key = Key::v(key);
        assert_eq!(run(kv.get(&key)).unwrap(), data, "{name} serves {key}");
        group.throughput(Throughput::Bytes(data.len() as u64));
        let label = if data.len() == SMALL { "100B" } else { "1MiB" };
        group.bench_function(label, |b| {
            b.iter(|| black_box(run(kv.get(black_box(&key))).unwrap()))
        });
    }
    group.finish();
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

/// A FAT image holding the files, made with mkfs.fat and mcopy.
fn fat_image(dir: &Path) -> Result<Vec<u8>, String> {
    let image = dir.join("fat.img");
    let tool = |cmd: &mut Command| -> Result<(), String> {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    tool(
        Command::new("mkfs.fat")
            .args(["-C", "-F", "16"])
            .arg(&image)
            .arg("32768"),
    )?;
    tool(Command::new("mmd").arg("-i").arg(&image).arg("::dir"))?;
    for (name, _) in files() {
        tool(
            Command::new("mcopy")
                .arg("-i")
                .arg(&image)
                .arg(dir.join("src").join(name))
                .arg(format!("::{name}")),
        )?;
    }
    std::fs::read(&image).map_err(|e| e.to_string())
}

fn kv_ro(c: &mut Criterion) {
    let dir = scratch();
    // crunch: the table compiled into the binary.
    let table: &'static [(&'static str, &'static [u8])] = Box::leak(
        files()
            .into_iter()
            .map(|(k, v)| (k, &*Box::leak(v.into_boxed_slice())))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    gets(c, "crunch", &MemKv::new(table));

    // tar: an archive written on a ramdisk.
    let disk = leak(Ramdisk::new(8192, 512));
    struct Epoch;
    impl mirage::Pclock for Epoch {
        fn now_d_ps(&self) -> (i64, u64) {
            (0, 0)
        }
    }
    run(async {
        let rw = TarKvRw::connect(disk, leak(Epoch)).await.unwrap();
        for (k, v) in files() {
            rw.set(&Key::v(k), &v).await.unwrap();
        }
    });
    gets(c, "tar", &run(TarKv::connect(disk)).unwrap());

    // FAT: mkfs.fat and mtools.
    match fat_image(&dir) {
        Ok(image) => {
            let disk = leak(Ramdisk::from_image(&image, 512));
            gets(c, "fat", &run(FatKv::connect(disk)).unwrap());
        }
        Err(reason) => skip("kv_ro_get/fat", &format!("cannot make the image: {reason}")),
    }

    // docteur: a PACK image made with git.
    let image = dir.join("docteur.img");
    match mirage_build::docteur::make_image(&dir.join("src"), None, &image) {
        Ok(_) => {
            let disk = leak(Ramdisk::from_image(&std::fs::read(&image).unwrap(), 512));
            gets(
                c,
                "docteur-fast",
                &run(Docteur::connect(disk, Mode::Fast, true)).unwrap(),
            );
            gets(
                c,
                "docteur-light",
                &run(Docteur::connect(disk, Mode::Light, false)).unwrap(),
            );
            // Decoded objects are cached: a store connected afresh for
            // each get measures inflating (and the connect, in Light mode
            // without the analysis: the header, index and root commit).
            let mut group = c.benchmark_group("kv_ro_get/docteur-cold");
            for (key, data) in files() {
                let key = Key::v(key);
                group.throughput(Throughput::Bytes(data.len() as u64));
                let label = if data.len() == SMALL { "100B" } else { "1MiB" };
                group.bench_function(label, |b| {
                    b.iter(|| {
                        run(async {
                            let kv = Docteur::connect(disk, Mode::Light, false).await.unwrap();
                            black_box(kv.get(&key).await.unwrap())
                        })
                    })
                });
            }
            group.finish();
        }
        Err(reason) => skip("kv_ro_get/docteur", &reason),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sequential reads and writes of the whole device in 64 KiB requests.
fn sequential<B: Block>(c: &mut Criterion, name: &str, block: &B) {
    const REQUEST: usize = 64 * 1024;
    let info = block.info();
    let per = (REQUEST / info.sector_size as usize) as u64;
    let requests = info.size_sectors / per;
    let total = requests * REQUEST as u64;
    let mut group = c.benchmark_group(format!("block_sequential/{name}"));
    group.throughput(Throughput::Bytes(total));
    let data = value(REQUEST, 3);
    group.bench_function("write", |b| {
        b.iter(|| {
            for i in 0..requests {
                run(block.write(i * per, &data)).unwrap();
            }
        })
    });
    let mut buf = vec![0u8; REQUEST];
    group.bench_function("read", |b| {
        b.iter(|| {
            for i in 0..requests {
                run(block.read(i * per, &mut buf)).unwrap();
            }
            black_box(&buf);
        })
    });
    group.finish();
}

fn ccm_block(c: &mut Criterion) {
    // 8 MiB of 512-byte sectors under the encryption (4 MiB above it).
    let plain = leak(Ramdisk::new(16 * 1024, 512));
    sequential(c, "ramdisk", plain);
    let raw = leak(Ramdisk::new(16 * 1024, 512));
    let rng = leak(Rng::from_seed(&[0x5a; 64]));
    let ccm = CcmBlock::connect(raw, rng, Some("0x10786d3a9c920d0b3ec80dfaaac557a7"), 8).unwrap();
    sequential(c, "ccm_block", &ccm);
}

criterion_group!(benches, kv_ro, ccm_block);
criterion_main!(benches);
