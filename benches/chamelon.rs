//! Benchmarks of chamelon (littlefs as a key-value store) over a 16 MiB
//! ramdisk of 512-byte sectors: `set` and `get` of small values (inline in
//! their metadata pair) among 100 keys of one directory, and of 4 KiB
//! values (CTZ skip-lists) for comparison.
//!
//! The peer, like for like: the littlefs reference implementation (its C
//! sources, version 2.9, built by the `littlefs2-sys` crate) in the same
//! process, on the same workload over the same kind of device (a 16 MiB
//! in-memory image of 512-byte blocks, program size 16, one block of
//! cache), a `set` being open/write/close and a `get` open/read/close into
//! a fresh buffer, as chamelon's `get` returns a fresh value. It is built
//! with `--features littlefs-peer` (its bindings need libclang); without
//! it, its figures are reported as skipped. `benches/chamelon_peer.py`
//! runs the same workload through littlefs-python, whose block device
//! callbacks run in Python: an upper bound only.
//!
//! Run with `cargo bench --bench chamelon --features littlefs-peer` (add
//! `-- --quick` for a short run).

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
    littlefs_c::bench(c);
}

/// The littlefs reference implementation on the same workload.
#[cfg(feature = "littlefs-peer")]
mod littlefs_c {
    use std::ffi::{CString, c_int, c_void};
    use std::hint::black_box;

    use criterion::{Criterion, Throughput};
    use littlefs2_sys as lfs;

    use super::KEYS;

    const BLOCK_SIZE: usize = 512;
    const BLOCK_COUNT: usize = 32768;
    const CACHE_SIZE: usize = 512;
    const LOOKAHEAD_SIZE: usize = 16;

    /// The in-memory image behind `lfs_config::context`.
    struct Image(Vec<u8>);

    impl Image {
        /// The byte range `off..off + size` of `block`, if it is on the image.
        fn range(
            &self,
            block: lfs::lfs_block_t,
            off: lfs::lfs_off_t,
            size: lfs::lfs_size_t,
        ) -> Option<std::ops::Range<usize>> {
            let start = (block as usize)
                .checked_mul(BLOCK_SIZE)?
                .checked_add(off as usize)?;
            let end = start.checked_add(size as usize)?;
            (off as usize + size as usize <= BLOCK_SIZE && end <= self.0.len())
                .then_some(start..end)
        }
    }

    /// Block device callbacks over the [`Image`] in `context`.
    unsafe extern "C" fn read(
        c: *const lfs::lfs_config,
        block: lfs::lfs_block_t,
        off: lfs::lfs_off_t,
        buffer: *mut c_void,
        size: lfs::lfs_size_t,
    ) -> c_int {
        // SAFETY: littlefs passes back the configuration it was given,
        // whose context is the live, boxed Image of the file system, and
        // calls one callback at a time.
        let image = unsafe { &*((*c).context as *const Image) };
        let Some(range) = image.range(block, off, size) else {
            return lfs::lfs_error_LFS_ERR_IO;
        };
        // SAFETY: littlefs's buffer holds `size` writable bytes, and the
        // range (of that length) is within the image.
        unsafe {
            std::ptr::copy_nonoverlapping(
                image.0[range].as_ptr(),
                buffer.cast::<u8>(),
                size as usize,
            )
        };
        0
    }

    unsafe extern "C" fn prog(
        c: *const lfs::lfs_config,
        block: lfs::lfs_block_t,
        off: lfs::lfs_off_t,
        buffer: *const c_void,
        size: lfs::lfs_size_t,
    ) -> c_int {
        // SAFETY: as in `read`; nothing else refers to the image while
        // littlefs runs a callback.
        let image = unsafe { &mut *((*c).context as *mut Image) };
        let Some(range) = image.range(block, off, size) else {
            return lfs::lfs_error_LFS_ERR_IO;
        };
        // SAFETY: littlefs's buffer holds `size` readable bytes, and the
        // range (of that length) is within the image.
        let data = unsafe { std::slice::from_raw_parts(buffer.cast::<u8>(), size as usize) };
        image.0[range].copy_from_slice(data);
        0
    }

    /// Memory needs no erasing (littlefs 2 assumes no erased value), as
    /// chamelon's ramdisk is never erased either.
    unsafe extern "C" fn erase(_: *const lfs::lfs_config, _: lfs::lfs_block_t) -> c_int {
        0
    }

    unsafe extern "C" fn sync(_: *const lfs::lfs_config) -> c_int {
        0
    }

    /// A mounted littlefs over an in-memory image. Everything littlefs
    /// points into is boxed, so it stays put while `Lfs` moves.
    struct Lfs {
        lfs: Box<lfs::lfs_t>,
        config: Box<lfs::lfs_config>,
        _image: Box<Image>,
        _buffers: [Box<[u8]>; 3],
        file_buffer: Box<[u8]>,
    }

    fn check(what: &str, rc: c_int) {
        assert!(rc >= 0, "littlefs: {what} failed with {rc}");
    }

    impl Lfs {
        /// Formats and mounts a fresh image.
        fn new() -> Self {
            let mut image = Box::new(Image(vec![0; BLOCK_SIZE * BLOCK_COUNT]));
            let mut buffers = [
                vec![0u8; CACHE_SIZE].into_boxed_slice(),
                vec![0u8; CACHE_SIZE].into_boxed_slice(),
                vec![0u8; LOOKAHEAD_SIZE].into_boxed_slice(),
            ];
            let config = Box::new(lfs::lfs_config {
                context: (&mut *image as *mut Image).cast(),
                read: Some(read),
                prog: Some(prog),
                erase: Some(erase),
                sync: Some(sync),
                read_size: 16,
                prog_size: 16,
                block_size: BLOCK_SIZE as u32,
                block_count: BLOCK_COUNT as u32,
                block_cycles: -1,
                cache_size: CACHE_SIZE as u32,
                lookahead_size: LOOKAHEAD_SIZE as u32,
                read_buffer: buffers[0].as_mut_ptr().cast(),
                prog_buffer: buffers[1].as_mut_ptr().cast(),
                lookahead_buffer: buffers[2].as_mut_ptr().cast(),
                ..Default::default()
            });
            let mut fs = Lfs {
                lfs: Box::default(),
                config,
                _image: image,
                _buffers: buffers,
                file_buffer: vec![0u8; CACHE_SIZE].into_boxed_slice(),
            };
            // SAFETY: the state, configuration, image and buffers are
            // boxed and owned by `fs`, which outlives every use of them.
            unsafe {
                check("format", lfs::lfs_format(&mut *fs.lfs, &*fs.config));
                check("mount", lfs::lfs_mount(&mut *fs.lfs, &*fs.config));
            }
            fs
        }

        fn mkdir(&mut self, path: &str) {
            let path = CString::new(path).unwrap();
            // SAFETY: a mounted file system and a NUL-terminated path.
            check("mkdir", unsafe {
                lfs::lfs_mkdir(&mut *self.lfs, path.as_ptr())
            });
        }

        /// Opens `path` with `flags`, runs `f` on the open file, closes it.
        fn with_file<R>(
            &mut self,
            path: &CString,
            flags: u32,
            f: impl FnOnce(*mut lfs::lfs_t, *mut lfs::lfs_file_t) -> R,
        ) -> R {
            let mut file = lfs::lfs_file_t::default();
            let file_config = lfs::lfs_file_config {
                buffer: self.file_buffer.as_mut_ptr().cast(),
                ..Default::default()
            };
            // SAFETY: a mounted file system, a NUL-terminated path, and a
            // file, configuration and buffer that live until the close.
            unsafe {
                check(
                    "open",
                    lfs::lfs_file_opencfg(
                        &mut *self.lfs,
                        &mut file,
                        path.as_ptr(),
                        flags as c_int,
                        &file_config,
                    ),
                );
            }
            let result = f(&mut *self.lfs, &mut file);
            // SAFETY: the file opened above, closed once.
            check("close", unsafe {
                lfs::lfs_file_close(&mut *self.lfs, &mut file)
            });
            result
        }

        /// `set`: the file holds `data` afterwards.
        fn set(&mut self, path: &CString, data: &[u8]) {
            let flags = lfs::lfs_open_flags_LFS_O_WRONLY
                | lfs::lfs_open_flags_LFS_O_CREAT
                | lfs::lfs_open_flags_LFS_O_TRUNC;
            self.with_file(path, flags, |fs, file| {
                // SAFETY: an open file and `data.len()` readable bytes.
                let n = unsafe {
                    lfs::lfs_file_write(fs, file, data.as_ptr().cast(), data.len() as u32)
                };
                assert_eq!(n, data.len() as i32, "littlefs: write");
            });
        }

        /// `get`: the file's `len` bytes, in a fresh buffer.
        fn get(&mut self, path: &CString, len: usize) -> Vec<u8> {
            self.with_file(path, lfs::lfs_open_flags_LFS_O_RDONLY, |fs, file| {
                let mut out = vec![0u8; len];
                // SAFETY: an open file and `len` writable bytes.
                let n =
                    unsafe { lfs::lfs_file_read(fs, file, out.as_mut_ptr().cast(), len as u32) };
                assert_eq!(n, len as i32, "littlefs: read");
                out
            })
        }
    }

    impl Drop for Lfs {
        fn drop(&mut self) {
            // SAFETY: mounted in `new`, unmounted once.
            unsafe { lfs::lfs_unmount(&mut *self.lfs) };
        }
    }

    pub(super) fn bench(c: &mut Criterion) {
        let mut group = c.benchmark_group("littlefs_c");
        for (name, len) in [("32 B", 32usize), ("4 KiB", 4096)] {
            let mut fs = Lfs::new();
            fs.mkdir("bench");
            let paths: Vec<CString> = (0..KEYS)
                .map(|i| CString::new(format!("bench/key-{i:03}")).unwrap())
                .collect();
            for (i, path) in paths.iter().enumerate() {
                fs.set(path, &vec![i as u8; len]);
            }
            let value = vec![0x5au8; len];
            group.throughput(Throughput::Elements(1));
            let mut i = 0;
            group.bench_function(format!("set {name} (100 keys, memory)"), |b| {
                b.iter(|| {
                    i = (i + 1) % KEYS;
                    fs.set(&paths[i], black_box(&value));
                })
            });
            let mut j = 0;
            group.bench_function(format!("get {name} (100 keys, memory)"), |b| {
                b.iter(|| {
                    j = (j + 1) % KEYS;
                    black_box(fs.get(&paths[j], len));
                })
            });
        }
        group.finish();
    }
}

/// Without the peer built, its figures are reported as skipped.
#[cfg(not(feature = "littlefs-peer"))]
mod littlefs_c {
    pub(super) fn bench(_: &mut criterion::Criterion) {
        eprintln!(
            "SKIPPED: littlefs_c (the littlefs reference implementation): build with `--features littlefs-peer` (needs libclang)"
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
