//! examples/kv-rw end to end: a boot counter and notes kept in a chamelon
//! (littlefs) store over `block_of_file("storage")`, run twice on unix
//! (plain, and encrypted with `ccm_block` when built with
//! `MIRAGE_CCM=true`) and twice under the spt tender; the value of the
//! first run must survive into the second, and the plain image must read
//! back in the littlefs reference implementation.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const KEY: &str = "--aes-ccm-key=0x10786d3a9c920d0b3ec80dfaaac557a7";

/// What the application logged.
fn app_lines(out: &Output) -> Vec<String> {
    common::text(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_once("[application] ")
                .map(|(_, rest)| rest.to_string())
        })
        .collect()
}

/// A scratch directory holding a zeroed 1 MiB file named `storage`.
fn storage_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mirage-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join("storage"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    dir
}

fn run_unix(binary: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(binary);
    cmd.current_dir(dir).args(args);
    common::run_with_deadline(cmd, Duration::from_secs(30))
}

fn assert_runs(out: &Output, lines: &[&str]) {
    assert!(
        out.status.success(),
        "{}{}",
        common::text(&out.stdout),
        common::text(&out.stderr)
    );
    let got = app_lines(out);
    for line in lines {
        assert!(got.iter().any(|l| l == line), "missing {line:?} in {got:?}");
    }
}

/// The files of a plain image as the littlefs reference lists them, if it
/// is installed.
fn reference_listing(image: &Path) -> Option<String> {
    let script = common::workspace().join("tests/chamelon_peer.py");
    let out = Command::new("python3")
        .arg(script)
        .args(["list", image.to_str().unwrap(), "512"])
        .output()
        .ok()?;
    let text = common::text(&out.stdout);
    if text.starts_with("SKIPPED") {
        common::skipped("reading the kv-rw image with littlefs-python", text.trim());
        return None;
    }
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    Some(text)
}

#[test]
fn the_count_survives_restarts_on_unix() {
    let binary = common::build_example("kv-rw", "unix");
    let dir = storage_dir("kv-rw-unix");
    let first = run_unix(&binary, &dir, &["--note=first boot"]);
    assert_runs(
        &first,
        &[
            "the store is not formatted: formatting it",
            "boot count: 1",
            "note /notes/0001: first boot",
        ],
    );
    let second = run_unix(
        &binary,
        &dir,
        &["--note=second boot", "--program-block-size=64"],
    );
    assert_runs(
        &second,
        &[
            "boot count: 2",
            "note /notes/0001: first boot",
            "note /notes/0002: second boot",
        ],
    );
    assert!(!app_lines(&second).iter().any(|l| l.contains("formatting")));
    if let Some(listing) = reference_listing(&dir.join("storage")) {
        // "2\n" and the two notes, as the reference reads them.
        assert!(listing.contains("F /counter 320a\n"), "{listing}");
        assert!(
            listing.contains("F /notes/0002 7365636f6e6420626f6f74\n"),
            "{listing}"
        );
    }
    // A bad program size is refused at start.
    let bad = run_unix(&binary, &dir, &["--program-block-size=3"]);
    assert!(!bad.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_count_survives_restarts_over_ccm_block() {
    let binary = common::build_example_with("kv-rw", "unix", &[("MIRAGE_CCM", "true")]);
    let dir = storage_dir("kv-rw-ccm");
    // A fresh encrypted device cannot be read: the application says so
    // and stops until told to format it.
    let refused = run_unix(&binary, &dir, &[KEY]);
    assert!(!refused.status.success());
    assert!(
        common::text(&refused.stderr).contains("does not authenticate"),
        "{}",
        common::text(&refused.stderr)
    );
    assert_runs(
        &run_unix(&binary, &dir, &[KEY, "--format", "--note=secret"]),
        &["boot count: 1"],
    );
    assert_runs(
        &run_unix(&binary, &dir, &[KEY]),
        &["boot count: 2", "note /notes/0001: secret"],
    );
    let raw = std::fs::read(dir.join("storage")).unwrap();
    assert!(
        !raw.windows(6).any(|w| w == b"secret"),
        "the note is encrypted"
    );
    // The wrong key reads nothing.
    let wrong = run_unix(
        &binary,
        &dir,
        &["--aes-ccm-key=0x00786d3a9c920d0b3ec80dfaaac557a7"],
    );
    assert!(!wrong.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs kv-rw twice under the `target` tender on one disk image: the
/// count and the first run's note survive; returns the image's directory.
fn twice_under(target: &str) -> PathBuf {
    let dir = storage_dir(&format!("kv-rw-{target}"));
    let arg = format!("--block:storage={}", dir.join("storage").display());
    let note = format!("--note=from-{target}");
    let first = common::under_tender(target, "kv-rw", &[&arg], &["--solo5:quiet", &note]);
    let kept = format!("note /notes/0001: from-{target}");
    assert_runs(&first, &["boot count: 1", &kept]);
    let second = common::under_tender(target, "kv-rw", &[&arg], &["--solo5:quiet"]);
    assert_runs(&second, &["boot count: 2", &kept]);
    dir
}

#[test]
fn the_count_survives_restarts_under_spt() {
    let dir = twice_under("spt");
    if let Some(listing) = reference_listing(&dir.join("storage")) {
        assert!(listing.contains("F /counter 320a\n"), "{listing}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn builds_for_hvt_and_counts_restarts_where_kvm_runs_it() {
    // The image builds on every host; it runs where KVM runs SSE guests.
    common::build_example("kv-rw", "hvt");
    match mirage_tender::hvt::probe::probe_sse() {
        Ok(true) => {}
        Ok(false) => {
            common::skipped(
                "kv-rw under hvt",
                "this host's KVM emulates guests and cannot run SSE instructions (see tests/solo5_hvt.rs)",
            );
            return;
        }
        Err(e) => {
            common::skipped(
                "kv-rw under hvt",
                &format!("no usable KVM on this host: {e}"),
            );
            return;
        }
    }
    let _ = std::fs::remove_dir_all(twice_under("hvt"));
}
