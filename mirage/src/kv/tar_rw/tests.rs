use alloc::collections::BTreeMap;
use alloc::string::ToString;

use super::*;
use crate::block::faulty::Faulty;
use crate::block::ramdisk::Ramdisk;
use crate::kv::ro::tar::TarKv;

struct Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        (20_000, 7_000_000_000_000)
    }
}

fn clock() -> &'static Clock {
    crate::rt::leak(Clock)
}

/// Runs a future that never waits (a ramdisk never does).
fn run<F: core::future::Future>(f: F) -> F::Output {
    crate::rt::now_or_never(f).expect("the store waited")
}

/// Every value of the store, by path.
async fn contents(kv: &impl KvRo) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![Key::root()];
    while let Some(dir) = todo.pop() {
        for (key, kind) in kv.list(&dir).await.unwrap() {
            match kind {
                Kind::Dictionary => todo.push(key),
                Kind::Value => {
                    out.insert(key.to_string(), kv.get(&key).await.unwrap());
                }
            }
        }
    }
    out
}

/// A device of `sectors` sectors: zeros for the first two blocks (an empty
/// archive), junk after, so nothing relies on zeros past the end.
fn device(sectors: u64, sector_size: u32) -> Ramdisk {
    let mut image = vec![0xa5u8; (sectors * u64::from(sector_size)) as usize];
    image[..1024].fill(0);
    Ramdisk::from_image(&image, sector_size)
}

fn long_name() -> String {
    alloc::format!("{}/{}", "deep".repeat(30), "n".repeat(120))
}

/// One step of the workload.
#[derive(Clone)]
enum Step {
    Set(String, Vec<u8>),
    Allocate(String, u64),
    SetPartial(String, u64, Vec<u8>),
    Rename(String, String),
    Remove(String),
}

impl Step {
    async fn apply(&self, kv: &impl KvRw) -> Result<(), KvError> {
        match self {
            Step::Set(k, v) => kv.set(&Key::v(k), v).await,
            Step::Allocate(k, n) => kv.allocate(&Key::v(k), *n).await,
            Step::SetPartial(k, at, v) => kv.set_partial(&Key::v(k), *at, v).await,
            Step::Rename(a, b) => kv.rename(&Key::v(a), &Key::v(b)).await,
            Step::Remove(k) => kv.remove(&Key::v(k)).await,
        }
    }

    /// What the step does to the model of the contents.
    fn model(&self, m: &mut BTreeMap<String, Vec<u8>>) {
        let path = |k: &str| Key::v(k).to_string();
        match self {
            Step::Set(k, v) => {
                m.insert(path(k), v.clone());
            }
            Step::Allocate(k, n) => {
                m.insert(path(k), vec![0; *n as usize]);
            }
            Step::SetPartial(k, at, v) => {
                let at = *at as usize;
                m.get_mut(&path(k)).unwrap()[at..at + v.len()].copy_from_slice(v);
            }
            Step::Rename(a, b) => {
                let v = m.remove(&path(a)).unwrap();
                m.insert(path(b), v);
            }
            Step::Remove(k) => {
                m.remove(&path(k));
            }
        }
    }
}

fn workload() -> Vec<Step> {
    vec![
        Step::Set("a".into(), b"alpha".to_vec()),
        Step::Set("dir/b".into(), vec![7u8; 3000]),
        Step::Allocate("z".into(), 1000),
        Step::SetPartial("z".into(), 10, b"xyz".to_vec()),
        Step::Set("a".into(), b"again".to_vec()),
        Step::Set(long_name(), b"long".to_vec()),
        Step::Rename("dir/b".into(), "moved/b".into()),
        Step::Remove(long_name()),
        Step::Set("last".into(), vec![1u8; 700]),
    ]
}

#[test]
fn every_interrupted_write_leaves_the_archive_readable() {
    for sector_size in [512u32, 4096] {
        let mut completed = false;
        for fail_from in 0.. {
            let disk = device(64 * 1024 / u64::from(sector_size), sector_size);
            let failing = Faulty::failing_from(&disk, fail_from);
            let mut before = BTreeMap::new();
            let mut failed_at = None;
            run(async {
                let kv = TarKvRw::connect(&failing, clock()).await.unwrap();
                for (i, step) in workload().into_iter().enumerate() {
                    if step.apply(&kv).await.is_err() {
                        failed_at = Some((i, step));
                        return;
                    }
                    step.model(&mut before);
                }
            });
            // Whatever happened, the archive mounts, with each operation
            // either done or not done.
            let after = run(async {
                let kv = TarKvRw::connect(&disk, clock()).await.unwrap();
                contents(&kv).await
            });
            match failed_at {
                None => {
                    assert_eq!(after, before, "{sector_size}: the whole workload");
                    // Every step wrote at least once, so each was cut.
                    assert!(fail_from > workload().len() as u64, "{fail_from}");
                    completed = true;
                    break;
                }
                Some((step, op)) => {
                    let mut done = before.clone();
                    op.model(&mut done);
                    assert!(
                        after == before || after == done,
                        "{sector_size}: writes from {fail_from} failing at step {step}: {:?}",
                        after.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
        assert!(completed);
    }
}

#[test]
fn the_archive_is_a_tar_archive() {
    let disk = device(256, 512);
    run(async {
        let kv = TarKvRw::connect(&disk, clock()).await.unwrap();
        kv.set(&Key::v("x/y"), b"hello").await.unwrap();
        kv.set(&Key::v(&long_name()), &[3; 600]).await.unwrap();
        kv.allocate(&Key::v("zeros"), 513).await.unwrap();
        assert_eq!(kv.get(&Key::v("x/y")).await.unwrap(), b"hello");
        assert_eq!(kv.size(&Key::v("zeros")).await, Ok(513));
        assert_eq!(
            kv.last_modified(&Key::v("x/y")).await,
            Ok((20_000, 7_000_000_000_000))
        );
        assert_eq!(
            kv.digest(&Key::v("x/y")).await.unwrap(),
            crate::kv::ro::value_digest(b"hello").to_vec()
        );
        // The strict reader reads the same archive.
        let ro = TarKv::connect(&disk).await.unwrap();
        assert_eq!(contents(&ro).await, contents(&kv).await);
        assert_eq!(
            ro.digest(&Key::root()).await.unwrap(),
            kv.digest(&Key::root()).await.unwrap()
        );
    });
}

#[test]
fn refused_operations_say_why_and_change_nothing() {
    let disk = device(32, 512);
    run(async {
        let kv = TarKvRw::connect(&disk, clock()).await.unwrap();
        kv.set(&Key::v("a"), b"1").await.unwrap();
        kv.set(&Key::v("d/e"), b"2").await.unwrap();
        kv.set(&Key::v("a"), b"3").await.unwrap();
        let image = disk.contents();
        let not_supported = |r: Result<(), KvError>, what: &str| match r {
            Err(KvError::NotSupported(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{what}: {other:?}"),
        };
        not_supported(kv.remove(&Key::v("d/e")).await, "only the last entry");
        not_supported(kv.remove(&Key::v("a")).await, "earlier entry");
        not_supported(kv.remove(&Key::v("d")).await, "dictionary");
        not_supported(
            kv.rename(&Key::v("a"), &Key::v("b")).await,
            "several entries",
        );
        not_supported(kv.rename(&Key::v("d"), &Key::v("b")).await, "dictionary");
        not_supported(
            kv.set_partial(&Key::v("d/e"), 1, b"x").await,
            "within its 1 bytes",
        );
        not_supported(kv.allocate(&Key::v("a"), 1).await, "exists");
        not_supported(kv.set(&Key::v("q/../r"), b"").await, "`..`");
        assert_eq!(
            kv.set(&Key::v("a/b"), b"").await,
            Err(KvError::DictionaryExpected(Key::v("a")))
        );
        assert_eq!(
            kv.set(&Key::v("d"), b"").await,
            Err(KvError::ValueExpected(Key::v("d")))
        );
        assert_eq!(
            kv.remove(&Key::v("none")).await,
            Err(KvError::NotFound(Key::v("none")))
        );
        // The device is full long before this.
        assert_eq!(
            kv.set(&Key::v("big"), &[0; 20_000]).await,
            Err(KvError::NoSpace)
        );
        assert_eq!(
            kv.allocate(&Key::v("huge"), u64::MAX - 100).await,
            Err(KvError::NoSpace)
        );
        assert_eq!(disk.contents(), image, "refusals wrote nothing");
        // What is allowed: the last entry goes, renames in place.
        kv.rename(&Key::v("d/e"), &Key::v("f/g")).await.unwrap();
        assert_eq!(kv.get(&Key::v("f/g")).await.unwrap(), b"2");
        assert_eq!(kv.exists(&Key::v("d")).await, Ok(None));
        kv.set(&Key::v("tmp"), b"t").await.unwrap();
        kv.remove(&Key::v("tmp")).await.unwrap();
        assert_eq!(kv.exists(&Key::v("tmp")).await, Ok(None));
        let again = TarKvRw::connect(&disk, clock()).await.unwrap();
        assert_eq!(contents(&again).await, contents(&kv).await);
        assert_eq!(again.free().await, kv.free().await);
    });
}

#[test]
fn read_only_devices_and_bad_sector_sizes() {
    let ro = Ramdisk::read_only(&device(8, 512).contents(), 512);
    run(async {
        let kv = TarKvRw::connect(&ro, clock()).await.unwrap();
        assert!(matches!(
            kv.set(&Key::v("a"), b"").await,
            Err(KvError::NotSupported(m)) if m.contains("read-only")
        ));
    });
    struct Odd;
    impl Block for Odd {
        fn info(&self) -> BlockInfo {
            BlockInfo {
                sector_size: 256,
                size_sectors: 8,
                read_write: true,
            }
        }
        async fn read(&self, _: u64, _: &mut [u8]) -> Result<(), BlockError> {
            Ok(())
        }
        async fn write(&self, _: u64, _: &[u8]) -> Result<(), BlockError> {
            Ok(())
        }
    }
    assert!(run(TarKvRw::connect(&Odd, clock())).is_err());
}

#[test]
fn reads_conform_to_the_key_value_semantics() {
    let disk = device(512, 512);
    let files = crate::kv::conformance::files([
        ("hello.txt", &b"hello world\n"[..]),
        ("docs/note", b"a note"),
        ("docs/empty", b""),
        ("docs/deep/data.bin", &[7u8; 2000]),
    ]);
    run(async {
        let kv = TarKvRw::connect(&disk, clock()).await.unwrap();
        for (path, data) in &files {
            kv.set(&Key::v(path), data).await.unwrap();
        }
        crate::kv::conformance::check_ro(&kv, &files).await.unwrap();
        // The read-only store over the same archive agrees.
        let ro = TarKv::connect(&disk).await.unwrap();
        crate::kv::conformance::check_ro(&ro, &files).await.unwrap();
        // A batch runs f once, its reads seeing its writes.
        let n = kv
            .batch(async |b: &TarKvRw<'_, Ramdisk, Clock>| {
                b.set(&Key::v("batch/x"), b"x").await?;
                Ok(b.get(&Key::v("batch/x")).await?.len())
            })
            .await;
        assert_eq!(n, Ok(1));
    });
}
