//! Full Rust unikernels (hello, block, crash) under the project's hvt
//! tender. They need a KVM that runs SSE guests: on an emulating KVM (these
//! machines', see SOLO5-ABI.md section 6) a probe guest shows it, the full
//! runs report SKIPPED with the reason, and what does run there is checked:
//! the Solo5 boot path up to the first SSE instruction.

mod common;

use std::process::Output;

/// Whether this host's KVM runs SSE guests; `None` (with the reason
/// printed) when there is no usable KVM at all.
fn kvm_runs_sse() -> Option<bool> {
    match mirage_tender::hvt::probe::probe_sse() {
        Ok(runs) => Some(runs),
        Err(e) => {
            common::skipped("hvt tests", &format!("no usable KVM on this host: {e}"));
            None
        }
    }
}

/// Why full unikernels cannot run under hvt on an emulating KVM.
const SSE_REASON: &str = "this host's KVM emulates guests and cannot run SSE instructions (the probe guest's xorps stopped with an emulation failure); Rust code for the host triple uses SSE, so full Rust unikernels run under hvt only on a host with hardware KVM";

fn hvt(example: &str, tender_args: &[&str], guest_args: &[&str]) -> Output {
    common::under_tender("hvt", example, tender_args, guest_args)
}

use common::text;

#[test]
fn hello_under_hvt() {
    let Some(sse) = kvm_runs_sse() else { return };
    if !sse {
        // The boot path runs SSE-free: banner and memory map through PUTS,
        // then the first SSE instruction stops the guest, clearly.
        let out = hvt("hello", &["--mem=32"], &["--count=1", "--interval-ms=0"]);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("Solo5: Memory map: 32 MB addressable"),
            "{stdout}"
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("suberror=1 (emulation failure"),
            "{}",
            text(&out.stderr)
        );
        common::skipped("full run of hello under hvt", SSE_REASON);
        return;
    }
    let out = hvt(
        "hello",
        &[],
        &["--solo5:quiet", "--count=2", "--interval-ms=10"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout)
            .matches("[INFO] [application] Hello World!")
            .count(),
        2
    );
    let out = hvt(
        "hello",
        &["--mem=2"],
        &["--solo5:quiet", "--count=1", "--interval-ms=0"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn block_and_exit_statuses_under_hvt() {
    let Some(sse) = kvm_runs_sse() else { return };
    if !sse {
        common::skipped("block and crash under hvt", SSE_REASON);
        return;
    }
    let disk = common::ScratchFile::new("hvt-block", 128 * 1024);
    let arg = format!("--block:storage={}", disk.0.display());
    let out = hvt("block", &[&arg], &["--solo5:quiet", "--sectors=16"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("SUCCESS: 16 sectors written, read back and verified"));
    assert_eq!(
        hvt("crash", &[], &["--solo5:quiet", "--how=fail"])
            .status
            .code(),
        Some(1)
    );
    let out = hvt("crash", &[], &["--solo5:quiet", "--how=panic"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stdout).contains("Solo5: ABORT: panicked at"));
}
