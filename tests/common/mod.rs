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
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{example}/{target}");
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let target_dir = workspace().join("target").join(format!("nested-{target}"));
    let mut cmd = Command::new(cargo());
    cmd.current_dir(workspace())
        .args(["build", "--release", "--quiet", "-p", example])
        .env("CARGO_TARGET_DIR", &target_dir);
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
    let path = target_dir.join("release").join(example);
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
