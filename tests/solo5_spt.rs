//! Full Rust unikernels (hello, block, crash) built for spt and run at
//! native speed under the project's spt tender.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

fn spt(example: &str, tender_args: &[&str], guest_args: &[&str]) -> Output {
    common::under_tender("spt", example, tender_args, guest_args)
}

use common::text;

fn app_lines(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains("[application]"))
        .map(|l| l.split_once(": ").map(|x| x.1).unwrap_or(l).to_string())
        .collect()
}

#[test]
fn hello_runs_and_exits_zero() {
    let out = spt(
        "hello",
        &[],
        &["--count=3", "--interval-ms=20", "--hello=Bonjour"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(app_lines(&out), vec!["[INFO] [application] Bonjour"; 3]);
    let stdout = text(&out.stdout);
    // The Solo5 banner and exit message at the default log level.
    assert!(stdout.starts_with("            |      ___|\n"), "{stdout}");
    assert!(
        stdout.contains("Solo5: Memory map: 512 MB addressable"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("Solo5: solo5_exit(0) called\n"),
        "{stdout}"
    );
}

#[test]
fn solo5_quiet_silences_the_bindings_only() {
    let out = spt(
        "hello",
        &[],
        &["--solo5:quiet", "--count=1", "--interval-ms=0"],
    );
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("Solo5:"), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("[INFO] [application] Hello World!"));
}

#[test]
fn runtime_argument_errors_and_help_come_from_the_solo5_command_line() {
    let out = spt("hello", &[], &["--solo5:quiet", "--cuont=2"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stdout).contains("unknown argument '--cuont' (did you mean '--count'?)"));
    let out = spt("hello", &[], &["--solo5:quiet", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for arg in [
        "--hello=STRING",
        "--count=INT",
        "--interval-ms=INT",
        "--logs=",
    ] {
        assert!(help.contains(arg), "{help}");
    }
}

#[test]
fn a_command_line_that_is_not_utf8_is_an_argument_error() {
    use std::os::unix::ffi::OsStringExt;
    let mut cmd = Command::new(common::tender("mirage-spt"));
    cmd.arg(common::build_example("hello", "spt"))
        .arg("--solo5:quiet")
        .arg(std::ffi::OsString::from_vec(b"--hello=caf\xe9".to_vec()));
    let out = common::run_with_deadline(cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stdout),
        "hello: argument '--hello=caf\u{fffd}' is not valid UTF-8\n\
         Try 'hello --help' for more information.\n"
    );
}

#[test]
fn hello_runs_in_two_mebibytes() {
    let out = spt(
        "hello",
        &["--mem=2"],
        &["--solo5:quiet", "--count=2", "--interval-ms=0"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(app_lines(&out).len(), 2);
}

#[test]
fn block_verifies_its_sectors_on_a_solo5_block_device() {
    let disk = common::ScratchFile::new("block", 256 * 1024);
    let arg = format!("--block:storage={}", disk.0.display());
    let out = spt("block", &[&arg], &["--solo5:quiet", "--sectors=40"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let lines = app_lines(&out);
    assert_eq!(
        lines[0],
        "[INFO] [application] storage: 512 sectors of 512 bytes, read-write"
    );
    assert_eq!(
        lines[1],
        "[INFO] [application] SUCCESS: 40 sectors written, read back and verified"
    );
    // The pattern really is on disk: sector 0 and the last sector.
    let bytes = std::fs::read(&disk.0).unwrap();
    let pattern = |sector: usize, offset: usize| ((sector * 131) ^ (offset * 7)) as u8;
    assert!((0..512).all(|i| bytes[i] == pattern(0, i)));
    assert!((0..512).all(|i| bytes[511 * 512 + i] == pattern(511, i)));
}

#[test]
fn block_with_a_larger_sector_size() {
    let disk = common::ScratchFile::new("block4k", 64 * 1024);
    let arg = format!("--block:storage={}", disk.0.display());
    let out = spt(
        "block",
        &[&arg, "--block-sector-size:storage=4096"],
        &["--solo5:quiet"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(app_lines(&out)[0].ends_with("storage: 16 sectors of 4096 bytes, read-write"));
}

#[test]
fn an_unattached_block_device_stops_the_tender() {
    let out = spt("block", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("Device 'storage' of type BLOCK_BASIC declared but not attached.")
    );
}

#[test]
fn exit_statuses_pass_through() {
    let out = spt("crash", &[], &["--solo5:quiet", "--how=ok"]);
    assert_eq!(out.status.code(), Some(0));
    let out = spt("crash", &[], &["--solo5:quiet", "--how=fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("crash: job unikernel::start failed: failing on purpose"));
}

#[test]
fn a_panic_prints_its_message_and_aborts_with_255() {
    let out = spt("crash", &[], &["--solo5:quiet", "--how=panic"]);
    assert_eq!(out.status.code(), Some(255));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Solo5: ABORT: panicked at"), "{stdout}");
    assert!(stdout.contains("panicking on purpose"), "{stdout}");
}

#[test]
fn the_stack_protector_canary_is_set_at_boot_and_a_smash_aborts() {
    let canary = || {
        let out = spt("crash", &[], &["--solo5:quiet", "--how=canary"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        let line = app_lines(&out).pop().expect("the canary line");
        let hex = line
            .strip_prefix("[INFO] [application] canary 0x")
            .unwrap_or_else(|| panic!("{line}"));
        u64::from_str_radix(hex, 16).unwrap()
    };
    let (a, b) = (canary(), canary());
    // As Solo5's crt_init_ssp: from the TSC, with byte 1 zero (a string
    // copy stops there); never the link-time value, different per boot.
    for c in [a, b] {
        assert_eq!(c & 0xff00, 0, "{c:#x}");
        assert_ne!(c, 0x0000_0aff_0a0d_ff00, "the canary was not set at boot");
    }
    assert_ne!(a, b, "two boots, one canary");
    let out = spt("crash", &[], &["--solo5:quiet", "--how=stack-smash"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        text(&out.stdout).contains("Solo5: ABORT: stack protector failure"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn solo5_log_level_tokens_are_honoured_as_solo5_does() {
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--count=1", "--interval-ms=0"]);
        let out = spt("hello", &[], &all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stdout)
        );
        text(&out.stdout)
    };
    // info and debug: the banner and the exit message; error (= quiet) and
    // warn: neither. The application's own logs are not affected.
    for (tokens, bindings) in [
        (&["--solo5:info"][..], true),
        (&["--solo5:debug"][..], true),
        (&["--solo5:warn"][..], false),
        (&["--solo5:error"][..], false),
        (&["--solo5:debug", "--solo5:quiet"][..], false),
        (&["--solo5:quiet", "--solo5:info"][..], true),
    ] {
        let stdout = run(tokens);
        assert_eq!(
            stdout.contains("Solo5: Memory map:") && stdout.contains("Solo5: solo5_exit(0) called"),
            bindings,
            "{tokens:?}: {stdout}"
        );
        if !bindings {
            assert!(!stdout.contains("Solo5:"), "{tokens:?}: {stdout}");
        }
        assert_eq!(
            stdout.matches("[INFO] [application] Hello World!").count(),
            1,
            "{tokens:?}: {stdout}"
        );
    }
    // Only leading tokens are the bindings': later ones, and unknown ones,
    // are the application's (which does not know them).
    for args in [&["--count=1", "--solo5:quiet"][..], &["--solo5:loud"][..]] {
        let out = spt("hello", &[], args);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{args:?}: {}",
            text(&out.stdout)
        );
        assert!(
            text(&out.stdout).contains("unknown argument '--solo5:"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn the_heap_is_usable_and_bounded_by_memory() {
    let out = spt(
        "crash",
        &["--mem=8"],
        &["--solo5:quiet", "--how=alloc:4000000"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("allocated 4000000 bytes"));
    // More than the memory there is: the allocator fails, the unikernel aborts.
    let out = spt(
        "crash",
        &["--mem=4"],
        &["--solo5:quiet", "--how=alloc:8000000"],
    );
    assert_eq!(out.status.code(), Some(255), "{}", text(&out.stdout));
}

#[test]
fn cargo_run_boots_through_the_runner() {
    let disk = common::ScratchFile::new("run", 64 * 1024);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(common::workspace())
        .env(
            "CARGO_TARGET_DIR",
            common::workspace().join("target").join("nested-spt"),
        )
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "block",
            "--no-default-features",
        ])
        .args(["--features", "target-spt", "--"])
        .arg(format!("--block:storage={}", disk.0.display()))
        .args(["--solo5:quiet", "--sectors=4"]);
    let out = common::run_with_deadline(cmd, Duration::from_secs(300));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("SUCCESS: 4 sectors written, read back and verified"));
}

#[test]
fn the_sandbox_holds_for_a_rust_unikernel() {
    use std::os::unix::process::ExitStatusExt;
    // TLS base zero: a %fs-relative read hits the unmapped zero page.
    let out = spt("crash", &[], &["--solo5:quiet", "--how=tls"]);
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{out:?}");
    // Text is not writable.
    let out = spt("crash", &[], &["--solo5:quiet", "--how=write-text"]);
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{out:?}");
    // A system call outside the filter kills the process.
    let out = spt("crash", &[], &["--solo5:quiet", "--how=syscall"]);
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{out:?}");
}
