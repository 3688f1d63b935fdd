//! `docteur` over PACK images made with the real `git` (through
//! `mirage_build::docteur::make_image`): directories and repositories with
//! subdirectories, many similar files (so git stores deltas) and a large
//! file are served exactly in both modes, with and without the analysis;
//! `git verify-pack` accepts the pack and index inside the image; damaged
//! images are errors.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use mirage::block::ramdisk::Ramdisk;
use mirage::kv::docteur::{Docteur, Mode};
use mirage::kv::{Key, Kind, KvRo, conformance};

/// Runs a future that never waits (a ramdisk never does).
fn run<F: core::future::Future>(f: F) -> F::Output {
    mirage::rt::now_or_never(f).expect("the store waited")
}

fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: git is not installed (.ci/setup installs it)"
        );
    }
    ok
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-docteur-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A pseudo-random byte stream (xorshift), so the large file does not
/// compress away.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

/// Fills `root` and returns every file (key path → contents).
fn populate(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let template: String = (0..80)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    for i in 0..60 {
        // Similar files: one line differs.
        let text = template.replace(&format!("line {}:", i % 80), &format!("LINE {i} CHANGED:"));
        files.insert(format!("pages/page-{i:02}.txt"), text.into_bytes());
    }
    files.insert("big.bin".into(), noise(1536 * 1024, 7));
    files.insert("empty".into(), Vec::new());
    files.insert("a/b/c/deep.txt".into(), b"deep".to_vec());
    files.insert("ünïcode name.txt".into(), "✓".as_bytes().to_vec());
    for (name, data) in &files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    files
}

/// Every value of the store, walking it from the root.
async fn contents(kv: &impl KvRo) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![Key::root()];
    while let Some(dir) = todo.pop() {
        for (key, kind) in kv.list(&dir).await.unwrap() {
            match kind {
                Kind::Dictionary => todo.push(key),
                Kind::Value => {
                    let data = kv.get(&key).await.unwrap();
                    assert_eq!(kv.size(&key).await.unwrap(), data.len() as u64, "{key}");
                    out.insert(key.to_string()[1..].to_string(), data);
                }
            }
        }
    }
    out
}

fn serve_all_ways(image: &[u8], expected: &BTreeMap<String, Vec<u8>>) {
    let disk = Ramdisk::from_image(image, 512);
    for mode in [Mode::Fast, Mode::Light] {
        for analyze in [true, false] {
            run(async {
                let kv = Docteur::connect(&disk, mode, analyze).await.unwrap();
                assert_eq!(
                    &contents(&kv).await,
                    expected,
                    "{mode:?}, analyze {analyze}"
                );
                let big = kv.get_partial(&Key::v("big.bin"), 1_000_000, 10).await;
                if let Some(data) = expected.get("big.bin") {
                    assert_eq!(big.unwrap(), &data[1_000_000..1_000_010]);
                }
                if !analyze {
                    conformance::check_ro(&kv, expected)
                        .await
                        .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
                }
            });
        }
    }
}

/// Runs `git verify-pack -v` on the pack and index inside `image`; returns
/// its output.
fn verify_pack(image: &[u8], dir: &Path) -> String {
    let idx_at = u64::from_le_bytes(image[20..28].try_into().unwrap()) as usize;
    let pack_len = {
        // The pack ends with its SHA-1 before the padding: find its length
        // from the index's copy of that checksum.
        let idx = &image[idx_at..];
        let n = u32::from_be_bytes(idx[8 + 255 * 4..8 + 256 * 4].try_into().unwrap()) as usize;
        let idx_len = 8 + 1024 + 28 * n + 40;
        let sum = &idx[idx_len - 40..idx_len - 20];
        let at = image[28..idx_at]
            .windows(20)
            .rposition(|w| w == sum)
            .unwrap();
        std::fs::write(dir.join("x.idx"), &idx[..idx_len]).unwrap();
        at + 20
    };
    std::fs::write(dir.join("x.pack"), &image[28..28 + pack_len]).unwrap();
    let out = Command::new("git")
        .args(["verify-pack", "-v"])
        .arg(dir.join("x.idx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_directory_is_served_exactly_in_both_modes() {
    if !have_git() {
        return;
    }
    let dir = scratch("dir");
    let src = dir.join("src");
    let files = populate(&src);
    std::fs::create_dir_all(src.join("empty-dir")).unwrap();
    let image_path = dir.join("out/docteur.img");
    mirage_build::docteur::make_image(&src, None, &image_path).unwrap();
    let image = std::fs::read(&image_path).unwrap();
    assert_eq!(image.len() % 512, 0);
    serve_all_ways(&image, &files);
    // git itself accepts the pack, and stored the similar pages as deltas.
    let verified = verify_pack(&image, &dir);
    assert!(
        verified.contains("chain length = "),
        "no deltas:\n{verified}"
    );
    // The same files give the same image.
    let again = dir.join("out/again.img");
    mirage_build::docteur::make_image(&src, None, &again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), image);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn git_in(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_repository_and_its_branches() {
    if !have_git() {
        return;
    }
    let dir = scratch("repo");
    let repo = dir.join("repo");
    let first = populate(&repo);
    git_in(&repo, &["init", "-q", "-b", "main"]);
    git_in(&repo, &["add", "-A"]);
    git_in(&repo, &["commit", "-q", "-m", "first"]);
    git_in(&repo, &["branch", "old"]);
    std::fs::write(repo.join("pages/page-03.txt"), b"rewritten").unwrap();
    std::fs::remove_file(repo.join("a/b/c/deep.txt")).unwrap();
    git_in(&repo, &["add", "-A"]);
    git_in(&repo, &["commit", "-q", "-m", "second"]);
    git_in(
        &repo,
        &[
            "repack",
            "-a",
            "-d",
            "-f",
            "-q",
            "--depth=50",
            "--window=250",
        ],
    );
    let mut second = first.clone();
    second.insert("pages/page-03.txt".into(), b"rewritten".to_vec());
    second.remove("a/b/c/deep.txt");

    let head = dir.join("head.img");
    mirage_build::docteur::make_image(&repo, None, &head).unwrap();
    serve_all_ways(&std::fs::read(&head).unwrap(), &second);
    let old = dir.join("old.img");
    mirage_build::docteur::make_image(&repo, Some("refs/heads/old"), &old).unwrap();
    serve_all_ways(&std::fs::read(&old).unwrap(), &first);
    assert!(mirage_build::docteur::make_image(&repo, Some("no-such-branch"), &old).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damaged_images_are_errors() {
    if !have_git() {
        return;
    }
    let dir = scratch("damaged");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..10 {
        std::fs::write(src.join(format!("f{i}")), format!("file {i} ").repeat(50)).unwrap();
    }
    let path = dir.join("d.img");
    mirage_build::docteur::make_image(&src, None, &path).unwrap();
    let image = std::fs::read(&path).unwrap();
    let open = |bytes: &[u8], mode: Mode, analyze: bool| {
        let mut bytes = bytes.to_vec();
        bytes.resize(bytes.len().next_multiple_of(512).max(512), 0);
        let disk = Ramdisk::from_image(&bytes, 512);
        run(async { Docteur::connect(&disk, mode, analyze).await.map(|_| ()) })
    };
    assert!(open(&image, Mode::Fast, true).is_ok());
    // Truncated anywhere: an error.
    for cut in (0..image.len()).step_by(image.len() / 13 + 1) {
        assert!(
            open(&image[..cut], Mode::Fast, true).is_err(),
            "cut at {cut}"
        );
    }
    // Any flipped byte of the pack is found by the analysis.
    let idx_at = u64::from_le_bytes(image[20..28].try_into().unwrap()) as usize;
    for at in (28..idx_at).step_by(37) {
        let mut bad = image.clone();
        bad[at] ^= 0x01;
        // The padding after the pack's checksum is not checked.
        if bad[at..idx_at].iter().all(|&b| b <= 1) && at > 60 {
            continue;
        }
        assert!(open(&bad, Mode::Light, true).is_err(), "flipped byte {at}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
