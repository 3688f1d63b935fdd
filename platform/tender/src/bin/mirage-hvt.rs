//! `mirage-hvt`: the Solo5 hvt tender. Runs a Solo5 hvt unikernel (ABI
//! version 2) as a KVM guest, as Solo5's `solo5-hvt` does:
//!
//! ```text
//! mirage-hvt [ --mem=MiB ] [ --net:NAME=IFACE ] [ --net-mac:NAME=HWADDR ]
//!            [ --block:NAME=PATH ] [ --block-sector-size:NAME=N ]
//!            [ -- ] KERNEL [ ARGS ]
//! ```
//!
//! The exit status is the guest's (`solo5_exit`), or 1 if the tender or the
//! guest failed (with a message on stderr), or 255 on a guest abort.

use std::convert::Infallible;
use std::path::Path;

use mirage_tender::error::TenderError;
use mirage_tender::hvt::boot_info::{self, SegmentRights};
use mirage_tender::hvt::hypercall::Hypercalls;
use mirage_tender::hvt::{self, HvtError, Vm, sandbox};
use mirage_tender::options::{self, Command, Invocation};
use mirage_tender::{devices, elf};
use solo5_abi::manifest::Manifest;
use solo5_abi::note::AbiTarget;

/// Why the tender stops before the guest's exit status is known.
enum Failure {
    /// A command line, kernel or device problem.
    Tender(TenderError),
    /// A KVM set-up or guest failure.
    Hvt(HvtError),
}

impl From<TenderError> for Failure {
    fn from(e: TenderError) -> Self {
        Failure::Tender(e)
    }
}

impl From<HvtError> for Failure {
    fn from(e: HvtError) -> Self {
        Failure::Hvt(e)
    }
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let status = match options::split_command_line(&args) {
        Ok(Command::Help) => {
            eprint!("{}", options::usage(AbiTarget::Hvt));
            1
        }
        Ok(Command::Version) => {
            eprintln!("mirage-hvt tender, version v{}", env!("CARGO_PKG_VERSION"));
            eprintln!("ABI version {}", solo5_abi::hvt::HVT_ABI_VERSION);
            0
        }
        Ok(Command::Run(invocation)) => match run(&invocation) {
            Ok(never) => match never {},
            Err(failure) => report(failure),
        },
        Err(e) => report(Failure::Tender(e)),
    };
    std::process::exit(status);
}

/// Prints a failure (with the usage text after a bad command line); 1.
fn report(failure: Failure) -> i32 {
    match failure {
        Failure::Tender(e) => {
            eprintln!("mirage-hvt: {e}");
            if e.shows_usage() {
                eprint!("{}", options::usage(AbiTarget::Hvt));
            }
        }
        Failure::Hvt(e) => eprintln!("mirage-hvt: {e}"),
    }
    1
}

/// Reads, checks and boots the unikernel, then exits with the guest's
/// status (or 1 after a message). Once the seccomp filter is in place
/// nothing is dropped and the Rust runtime is not cleaned up: the process
/// `_exit`s straight from the run loop, since closing fds, freeing memory
/// or the runtime's clean-up make calls the filter kills.
fn run(invocation: &Invocation) -> Result<Infallible, Failure> {
    let kernel: &Path = &invocation.kernel;
    let file = elf::read_kernel(kernel)?;
    let in_kernel = |e: TenderError| e.in_kernel(kernel);
    let notes = elf::read_notes(&file).map_err(in_kernel)?;
    elf::check_abi(&notes, AbiTarget::Hvt).map_err(in_kernel)?;
    let manifest = Manifest::validate(&notes.manifest)
        .map_err(|e| in_kernel(TenderError::InvalidManifest(e)))?;
    let options = options::parse_options(&invocation.tender_args, &manifest, AbiTarget::Hvt)?;
    let cmdline = options::cmdline(&invocation.guest_args)?;
    sandbox::install_signal_handlers()?;

    let mem_size = hvt::mem_size(options.mem_size)?;
    let mut vm = Vm::new(mem_size)?;
    let plan = elf::plan(&file, mem_size).map_err(in_kernel)?;
    elf::load(&plan, &file, vm.memory_mut().as_mut_slice(), 0).map_err(in_kernel)?;
    vm.setup_vcpu(plan.entry)?;
    let attached = devices::attach(&notes.manifest, &options)?;
    let tsc_hz = vm.tsc_hz();
    boot_info::write(
        vm.memory_mut(),
        plan.kernel_end,
        tsc_hz,
        &attached.manifest,
        &cmdline,
    )?;
    let segments: Vec<SegmentRights> = plan
        .segments
        .iter()
        .map(|s| SegmentRights {
            start: s.aligned_start(),
            end: s.aligned_end(),
            writable: s.writable,
        })
        .collect();
    boot_info::protect_segments(vm.memory_mut(), &segments)?;
    let hypercalls = Hypercalls::new(&attached)?;
    drop(file);
    sandbox::drop_privileges()?;
    let status = match hvt::run::run(&mut vm, &hypercalls) {
        Ok(status) => status,
        Err(e) => report(Failure::Hvt(e)),
    };
    sandbox::exit_now(status)
}
