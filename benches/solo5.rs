//! Figures of the Solo5 targets (issue: freestanding unikernels):
//! - boot-to-exit time of `hello --count=1 --interval-ms=0` under the
//!   project's spt tender, against the unix build of the same application;
//! - the hvt tender's set-up time up to the first guest instruction:
//!   in process (the KVM VM with its memory, page tables, GDT and vCPU
//!   state; then the same plus running the guest to its first VM exit, a
//!   HALT that is its second instruction), and as the whole run of the
//!   `mirage-hvt` binary on such a guest (an upper bound: process start,
//!   reading the ELF, KVM set-up, seccomp, one exit);
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

/// The hvt set-up measured inside this process, without the tender
/// binary's process start, ELF reading and seccomp filter.
fn hvt_setup_in_process(c: &mut Criterion) {
    use mirage_tender::devices::Attached;
    use mirage_tender::hvt::Vm;
    use mirage_tender::hvt::hypercall::Hypercalls;
    if let Err(e) = Vm::new(2 << 20) {
        common::skipped(
            "hvt set-up benchmark",
            &format!("KVM is not usable here: {e}"),
        );
        return;
    }
    // mov $0x101000, %eax; mov $0x508, %dx; out %eax, (%dx): HALT with the
    // (zeroed) argument struct at 0x101000, status 0.
    const CODE: [u8; 10] = [0xb8, 0x00, 0x10, 0x10, 0x00, 0x66, 0xba, 0x08, 0x05, 0xef];
    const ENTRY: u64 = 0x10_0000;
    let setup = |mem: u64| {
        let mut vm = Vm::new(mem).expect("a VM");
        vm.memory_mut().as_mut_slice()[ENTRY as usize..ENTRY as usize + CODE.len()]
            .copy_from_slice(&CODE);
        vm.setup_vcpu(ENTRY).expect("the vCPU");
        vm
    };
    let devices = Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: Vec::new(),
    };
    let hypercalls = Hypercalls::new(&devices).expect("the hypercall handlers");
    let mut group = c.benchmark_group("hvt set-up in process");
    group.measurement_time(Duration::from_secs(5));
    for mem in [2u64, 32, 512] {
        // Tearing the VM down is not set-up: it is dropped outside the timing.
        group.bench_function(format!("VM and vCPU ready, --mem={mem}"), |b| {
            b.iter_with_large_drop(|| setup(mem << 20))
        });
        group.bench_function(format!("to the first VM exit, --mem={mem}"), |b| {
            b.iter_with_large_drop(|| {
                let mut vm = setup(mem << 20);
                assert_eq!(
                    mirage_tender::hvt::run::run(&mut vm, &hypercalls).ok(),
                    Some(0)
                );
                vm
            })
        });
    }
    group.finish();
}

fn main() {
    report();
    let mut c = Criterion::default().configure_from_args();
    boot_to_exit(&mut c);
    hvt_setup_in_process(&mut c);
    hvt_setup(&mut c);
    c.final_summary();
}
