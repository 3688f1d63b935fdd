//! The examples and test unikernels on the unix target (beyond `hello`,
//! which tests/hello.rs covers): the exit status is the job's result, and
//! `block`'s device `storage` is a file of that name.

mod common;

use std::process::Command;
use std::time::Duration;

use common::text;

#[test]
fn the_exit_status_is_the_jobs_result() {
    let crash = common::build_example("crash", "unix");
    let run = |how: &str| {
        let mut cmd = Command::new(&crash);
        cmd.arg(format!("--how={how}"));
        common::run_with_deadline(cmd, Duration::from_secs(60))
    };
    let out = run("ok");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let out = run("fail");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "crash: job unikernel::start failed: failing on purpose\n"
    );
    let out = run("alloc:1000000");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("[INFO] [application] allocated 1000000 bytes"));
}

#[test]
fn block_uses_a_file_named_storage() {
    let block = common::build_example("block", "unix");
    let dir = std::env::temp_dir().join(format!("mirage-unix-block-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = dir.join("storage");
    std::fs::write(&storage, vec![0u8; 64 * 512]).unwrap();
    let mut cmd = Command::new(&block);
    cmd.current_dir(&dir).arg("--sectors=8");
    let out = common::run_with_deadline(cmd, Duration::from_secs(60));
    let bytes = std::fs::read(&storage).unwrap();
    // Without the file, connecting the device fails, naming it.
    std::fs::remove_file(&storage).unwrap();
    let mut cmd = Command::new(&block);
    cmd.current_dir(&dir);
    let missing = common::run_with_deadline(cmd, Duration::from_secs(60));
    std::fs::remove_dir(&dir).unwrap();
    common::assert_exit(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[INFO] [application] storage: 64 sectors of 512 bytes, read-write"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SUCCESS: 8 sectors written, read back and verified"),
        "{stdout}"
    );
    // The pattern is in the file: the first and the last sector.
    let pattern = |sector: usize, offset: usize| ((sector * 131) ^ (offset * 7)) as u8;
    assert!((0..512).all(|i| bytes[i] == pattern(0, i)));
    assert!((0..512).all(|i| bytes[63 * 512 + i] == pattern(63, i)));
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("storage"),
        "{}",
        text(&missing.stderr)
    );
}
