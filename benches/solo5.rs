//! Figures of the Solo5 targets (issue: freestanding unikernels):
//! - boot-to-exit time of `hello --count=1 --interval-ms=0` under the
//!   project's spt tender, against the unix build of the same application;
//! - the hvt tender's set-up time up to the first guest instruction,
//!   measured as the whole run of a guest whose first instruction halts
//!   (so it is an upper bound: process start, KVM set-up, one exit);
//! - before the timings, a report of the image sizes of `hello` and `block`
//!   for hvt and spt (as built and stripped) and the smallest `--mem` with
//!   which `hello` runs under spt.
//!
//! `cargo bench --bench solo5`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../platform/tender/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::Criterion;

fn quiet(mut cmd: Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

fn stripped_size(path: &Path) -> u64 {
    let copy = std::env::temp_dir().join(format!("mirage-bench-strip-{}", std::process::id()));
    std::fs::copy(path, &copy).expect("copy image");
    let ok = Command::new("strip")
        .arg(&copy)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let size = std::fs::metadata(&copy).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&copy);
    if ok { size } else { 0 }
}

fn report() {
    println!("== image sizes (release) ==");
    for example in ["hello", "block"] {
        for target in ["hvt", "spt"] {
            let path = common::build_example(example, target);
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            println!(
                "{example:>6} {target}: {:>7} bytes as built, {:>7} bytes stripped",
                size,
                stripped_size(&path)
            );
        }
    }
    let spt = common::tender("mirage-spt");
    let hello = common::build_example("hello", "spt");
    let smallest = (1..=64u32).find(|mib| {
        let mut cmd = Command::new(&spt);
        cmd.arg(format!("--mem={mib}")).arg(&hello).args([
            "--solo5:quiet",
            "--count=1",
            "--interval-ms=0",
        ]);
        quiet(cmd)
    });
    match smallest {
        Some(mib) => println!("== smallest --mem for hello under spt: {mib} MiB =="),
        None => println!("== hello did not run under spt with up to 64 MiB =="),
    }
}

fn boot_to_exit(c: &mut Criterion) {
    let unix = common::build_example("hello", "unix");
    let spt_image = common::build_example("hello", "spt");
    let spt = common::tender("mirage-spt");
    let mut group = c.benchmark_group("hello boot-to-exit");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("unix", |b| {
        b.iter(|| {
            let mut cmd = Command::new(&unix);
            cmd.args(["--count=1", "--interval-ms=0"]);
            assert!(quiet(cmd));
        })
    });
    group.bench_function("spt (mirage-spt --mem=32)", |b| {
        b.iter(|| {
            let mut cmd = Command::new(&spt);
            cmd.arg("--mem=32").arg(&spt_image).args([
                "--solo5:quiet",
                "--count=1",
                "--interval-ms=0",
            ]);
            assert!(quiet(cmd));
        })
    });
    group.finish();
}

fn hvt_setup(c: &mut Criterion) {
    match mirage_tender::hvt::Vm::new(2 << 20) {
        Ok(_) => {}
        Err(e) => {
            common::skipped(
                "hvt set-up benchmark",
                &format!("KVM is not usable here: {e}"),
            );
            return;
        }
    }
    let asm = "    .globl _start\n_start:\n    mov $halt_args, %eax\n    mov $0x508, %dx\n    outl %eax, (%dx)\n    .data\n    .p2align 3\nhalt_args: .quad 0, 0\n";
    let guest = support::build_guest("bench-halt", asm, support::AbiTarget::Hvt, &[]);
    let hvt = common::tender("mirage-hvt");
    let mut group = c.benchmark_group("hvt tender set-up to first guest instruction (upper bound)");
    group.measurement_time(Duration::from_secs(5));
    for mem in [2u32, 32, 512] {
        group.bench_function(format!("--mem={mem}"), |b| {
            b.iter(|| {
                let mut cmd = Command::new(&hvt);
                cmd.arg(format!("--mem={mem}")).arg(&guest);
                assert!(quiet(cmd));
            })
        });
    }
    group.finish();
}

fn main() {
    report();
    let mut c = Criterion::default().configure_from_args();
    boot_to_exit(&mut c);
    hvt_setup(&mut c);
    c.final_summary();
}
