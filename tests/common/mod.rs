//! Shared helpers of the integration tests: building the examples for a
//! target (each target in its own target directory, built once per test
//! process) and running programs with a deadline.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();

/// Builds `example` for `target` (`unix`, `hvt`, `spt`) in release mode,
/// once per test process, and returns the binary's path.
pub fn build_example(example: &str, target: &str) -> PathBuf {
    build_example_with(example, target, &[])
}

/// As [`build_example`], with configure-time keys (`MIRAGE_*` variables).
/// Every variant of a target builds in that target's directory (only the
/// example itself is rebuilt when the keys change); each variant's binary
/// is copied beside cargo's under a name of its own.
pub fn build_example_with(example: &str, target: &str, keys: &[(&str, &str)]) -> PathBuf {
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let suffix: String = keys
        .iter()
        .map(|(k, v)| format!("-{}-{v}", k.to_lowercase()))
        .collect();
    let key = format!("{example}/{target}{suffix}");
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let target_dir = workspace().join("target").join(format!("nested-{target}"));
    let mut cmd = Command::new(cargo());
    cmd.current_dir(workspace())
        .args(["build", "--release", "--quiet", "-p", example])
        .env("CARGO_TARGET_DIR", &target_dir);
    for (k, v) in keys {
        cmd.env(k, v);
    }
    if target != "unix" {
        cmd.args([
            "--no-default-features",
            "--features",
            &format!("target-{target}"),
        ]);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building {example} for {target} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A later build of another variant overwrites cargo's binary: each
    // variant keeps a copy of its own.
    let built_path = target_dir.join("release").join(example);
    let path = target_dir
        .join("release")
        .join(format!("{example}.variant{suffix}"));
    std::fs::copy(&built_path, &path).expect("copy the variant's binary");
    built.push((key, path.clone()));
    path
}

/// Runs `cmd` to completion within `limit`, killing it past the deadline
/// (and failing the test).
pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The text of `path`'s `readelf` output for `flag`.
pub fn readelf(flag: &str, path: &Path) -> String {
    let out = Command::new("readelf")
        .args([flag, "-W"])
        .arg(path)
        .output()
        .expect("readelf runs (binutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

static TENDERS: OnceLock<PathBuf> = OnceLock::new();

/// The project's tender `name` (`mirage-spt`, `mirage-hvt`), built in
/// release mode once per test process.
pub fn tender(name: &str) -> PathBuf {
    let dir = TENDERS.get_or_init(|| {
        let target_dir = workspace().join("target").join("nested-tender");
        let out = Command::new(cargo())
            .current_dir(workspace())
            .args(["build", "--release", "--quiet", "-p", "mirage-tender"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the tenders failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target_dir.join("release")
    });
    dir.join(name)
}

/// A scratch file of `size` zero bytes, removed when dropped.
pub struct ScratchFile(pub PathBuf);

impl ScratchFile {
    /// A new scratch file named after `tag`.
    pub fn new(tag: &str, size: u64) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mirage-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let file = std::fs::File::create(&path).expect("create scratch file");
        file.set_len(size).expect("size scratch file");
        ScratchFile(path)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reports a skipped check loudly: written straight to the process's
/// stderr, which the test harness does not capture, so it shows in every
/// `cargo test` run, not only in failures.
pub fn skipped(what: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}: {why}");
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `example` built for `target` (`hvt`, `spt`) under the project's
/// tender for it, with a deadline.
pub fn under_tender(
    target: &str,
    example: &str,
    tender_args: &[&str],
    guest_args: &[&str],
) -> Output {
    let mut cmd = Command::new(tender(&format!("mirage-{target}")));
    cmd.args(tender_args)
        .arg(build_example(example, target))
        .args(guest_args);
    run_with_deadline(cmd, Duration::from_secs(120))
}

/// Asserts that `out` exited with `code`, showing its output if not.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
