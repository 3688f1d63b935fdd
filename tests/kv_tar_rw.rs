//! `TarKvRw` (`tar_kv_rw`) with GNU tar as the peer: what it writes is
//! extracted by `tar -x` exactly, it appends to archives GNU tar made, and
//! an append cut short by a failing device leaves an archive GNU tar still
//! extracts whole.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mirage::Pclock;
use mirage::block::faulty::{Faulty, POWER_LOST};
use mirage::block::ramdisk::Ramdisk;
use mirage::kv::tar_rw::TarKvRw;
use mirage::kv::{Key, KvError, KvRo, KvRw};

struct Clock;
impl Pclock for Clock {
    fn now_d_ps(&self) -> (i64, u64) {
        // 2024-01-01 00:00:00 UTC.
        (19_723, 0)
    }
}
static CLOCK: Clock = Clock;

/// Runs a future that never waits (a ramdisk never does).
fn run<F: core::future::Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the store waited")
}

fn gnu_tar() -> bool {
    let ok = Command::new("tar")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU tar")
        });
    if !ok {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: GNU tar is not installed (.ci/setup installs it)"
        );
    }
    ok
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-tar-rw-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Extracts `image` with GNU tar into a fresh directory; returns every
/// file (relative path → contents) and tar's standard error.
fn extract(image: &[u8], dir: &Path) -> (BTreeMap<String, Vec<u8>>, String) {
    let file = dir.join("image.tar");
    std::fs::write(&file, image).unwrap();
    let out_dir = dir.join("out");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(&file)
        .arg("-C")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tar -x failed: {stderr}");
    let mut files = BTreeMap::new();
    let mut todo = vec![out_dir.clone()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let rel = path
                    .strip_prefix(&out_dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    (files, stderr)
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 131 + usize::from(seed) * 17) % 251) as u8)
        .collect()
}

#[test]
fn gnu_tar_extracts_what_the_store_wrote() {
    if !gnu_tar() {
        return;
    }
    let dir = scratch("write");
    let disk = Ramdisk::new(8192, 512);
    let long = format!(
        "{}/{}",
        "sub-directory-".repeat(10),
        "é-long-file-name-".repeat(8)
    );
    let mut expected = BTreeMap::new();
    run(async {
        let kv = TarKvRw::connect(&disk, &CLOCK).await.unwrap();
        for (name, data) in [
            ("small", b"hello".to_vec()),
            ("empty", Vec::new()),
            ("d/e/f/exact", bytes(512, 1)),
            ("d/odd", bytes(513, 2)),
            ("large", bytes(700 * 1024, 3)),
            (long.as_str(), bytes(77, 4)),
            ("small", b"replaced".to_vec()),
        ] {
            kv.set(&Key::v(name), &data).await.unwrap();
            expected.insert(name.to_string(), data);
        }
        kv.allocate(&Key::v("zeros"), 1500).await.unwrap();
        kv.set_partial(&Key::v("zeros"), 1000, b"written in place")
            .await
            .unwrap();
        let mut zeros = vec![0; 1500];
        zeros[1000..1016].copy_from_slice(b"written in place");
        expected.insert("zeros".to_string(), zeros);
        kv.rename(&Key::v("d/odd"), &Key::v("renamed/odd"))
            .await
            .unwrap();
        let odd = expected.remove("d/odd").unwrap();
        expected.insert("renamed/odd".to_string(), odd);
        kv.set(&Key::v("scratch"), b"gone").await.unwrap();
        kv.remove(&Key::v("scratch")).await.unwrap();
    });
    let (files, _) = extract(&disk.contents(), &dir);
    assert_eq!(files, expected);
    // GNU tar lists mtimes the clock gave.
    let out = Command::new("tar")
        .args(["--utc", "-tvf"])
        .arg(dir.join("image.tar"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2024-01-01 00:00 small"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn appends_to_an_archive_gnu_tar_made() {
    if !gnu_tar() {
        return;
    }
    let dir = scratch("append");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("docs")).unwrap();
    std::fs::write(src.join("docs/readme"), b"from gnu tar").unwrap();
    std::fs::write(src.join("big"), bytes(40_000, 9)).unwrap();
    let archive = dir.join("gnu.tar");
    let status = Command::new("tar")
        .arg("--format=gnu")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let mut image = std::fs::read(&archive).unwrap();
    image.resize(image.len() + 64 * 1024, 0);
    let disk = Ramdisk::from_image(&image, 512);
    run(async {
        let kv = TarKvRw::connect(&disk, &CLOCK).await.unwrap();
        assert_eq!(
            kv.get(&Key::v("docs/readme")).await.unwrap(),
            b"from gnu tar"
        );
        kv.set(&Key::v("docs/new"), b"from mirage").await.unwrap();
        kv.set(&Key::v("docs/readme"), b"replaced").await.unwrap();
        assert_eq!(kv.get(&Key::v("docs/readme")).await.unwrap(), b"replaced");
    });
    let (files, _) = extract(&disk.contents(), &dir);
    let expected: BTreeMap<String, Vec<u8>> = [
        ("big".to_string(), bytes(40_000, 9)),
        ("docs/new".to_string(), b"from mirage".to_vec()),
        ("docs/readme".to_string(), b"replaced".to_vec()),
    ]
    .into_iter()
    .collect();
    assert_eq!(files, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_interrupted_append_leaves_what_gnu_tar_extracts() {
    if !gnu_tar() {
        return;
    }
    let dir = scratch("cut");
    let first = bytes(3000, 5);
    // A large value written in several chunks, so the append is cut at
    // many points.
    let second = bytes(300 * 1024, 6);
    // How many sector writes the append makes when nothing fails; it is
    // cut at its first few and at points spread over all of it.
    let total = {
        let disk = Ramdisk::new(2048, 512);
        let counting = Faulty::new(&disk);
        run(async {
            let kv = TarKvRw::connect(&disk, &CLOCK).await.unwrap();
            kv.set(&Key::v("first"), &first).await.unwrap();
            let kv = TarKvRw::connect(&counting, &CLOCK).await.unwrap();
            kv.set(&Key::v("second"), &second).await.unwrap();
        });
        counting.sector_writes()
    };
    assert!(total > 600, "{total} sector writes");
    let cuts = (0..8).chain((1..=12).map(|i| i * total / 12 - 1));
    for fail_from in cuts {
        let disk = Ramdisk::new(2048, 512);
        run(async {
            let kv = TarKvRw::connect(&disk, &CLOCK).await.unwrap();
            kv.set(&Key::v("first"), &first).await.unwrap();
            let failing = Faulty::failing_from(&disk, fail_from);
            let cut = TarKvRw::connect(&failing, &CLOCK).await.unwrap();
            match cut.set(&Key::v("second"), &second).await {
                Err(KvError::Store(m)) => assert!(m.contains(POWER_LOST), "{m}"),
                Ok(()) => {}
                Err(e) => panic!("{e}"),
            }
        });
        let (files, stderr) = extract(&disk.contents(), &dir);
        assert_eq!(files.get("first"), Some(&first), "cut at write {fail_from}");
        if let Some(got) = files.get("second") {
            assert_eq!(got, &second, "cut at write {fail_from}");
        } else {
            assert!(
                stderr.is_empty() || stderr.contains("lone zero block"),
                "{stderr}"
            );
        }
        // And the store mounts it again and appends over the remains.
        run(async {
            let kv = TarKvRw::connect(&disk, &CLOCK).await.unwrap();
            kv.set(&Key::v("third"), b"after").await.unwrap();
        });
        let (files, stderr) = extract(&disk.contents(), &dir);
        assert!(stderr.is_empty(), "{stderr}");
        assert_eq!(files.get("third").map(Vec::as_slice), Some(&b"after"[..]));
        assert_eq!(files.get("first"), Some(&first));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
