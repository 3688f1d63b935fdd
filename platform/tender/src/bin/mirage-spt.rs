//! `mirage-spt`: runs a Solo5 spt unikernel inside this process behind a
//! seccomp filter. Command line and messages as `solo5-spt`; every error
//! exits with status 1, the guest's own exit status passes through.

use std::process::exit;

use mirage_tender::error::TenderError;
use mirage_tender::options::{self, Command};
use mirage_tender::spt;
use solo5_abi::note::AbiTarget;

fn fail(e: TenderError) -> ! {
    eprintln!("mirage-spt: {e}");
    if e.shows_usage() {
        eprint!("{}", options::usage(AbiTarget::Spt));
    }
    exit(1)
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match options::split_command_line(&args) {
        Ok(Command::Help) => {
            eprint!("{}", options::usage(AbiTarget::Spt));
            exit(1)
        }
        Ok(Command::Version) => {
            eprintln!("mirage-spt tender, version v{}", env!("CARGO_PKG_VERSION"));
            eprintln!("ABI version {}", solo5_abi::spt::SPT_ABI_VERSION);
            exit(0)
        }
        Ok(Command::Run(invocation)) => fail(spt::run(&invocation)),
        Err(e) => fail(e),
    }
}
