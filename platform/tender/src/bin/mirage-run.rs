//! `mirage-run KERNEL [TENDER OPTIONS] [ARGS]`: runs a program, booting it
//! under the project's tender for its Solo5 ABI note (`mirage-hvt` or
//! `mirage-spt`, next to this binary) when it is a Solo5 unikernel, and
//! running it directly otherwise. It is the cargo runner of this workspace
//! (see `cargo-runner.sh`), so `cargo run --features target-spt` boots.
//!
//! Arguments after KERNEL that are tender options (`--mem=`, `--net:`,
//! `--net-mac:`, `--block:`, `--block-sector-size:`, `--x-exec-heap`) go
//! to the tender; the rest are the unikernel's.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use solo5_abi::note::{
    ABI1_NOTE_ALIGN, ABI1_NOTE_MAX_SIZE, ABI1_NOTE_TYPE, AbiTarget, read_solo5_note,
};

/// The Solo5 target named by `path`'s ABI note, if it has one.
fn solo5_target(path: &Path) -> std::io::Result<Option<AbiTarget>> {
    // Non-blocking, and only a regular file is read: a FIFO would block
    // `open` (and its reads) forever. Anything else is run as it is, which
    // fails with a clear error if it cannot be executed.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut header = [0u8; 64];
    if file.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" || header[4] != 2 {
        return Ok(None);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 32),
        u16_at(&header, 54),
        u16_at(&header, 56),
    );
    if phentsize < 56 || phnum > 64 {
        return Ok(None);
    }
    let mut phdrs = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff))?;
    if file.read_exact(&mut phdrs).is_err() {
        return Ok(None);
    }
    for ph in phdrs.chunks(phentsize as usize) {
        if u32::from_le_bytes([ph[0], ph[1], ph[2], ph[3]]) != 4 {
            continue;
        }
        let (offset, size) = (u64_at(ph, 8), u64_at(ph, 32).min(4096));
        let mut segment = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset))?;
        if file.read_exact(&mut segment).is_err() {
            continue;
        }
        if let Ok(Some(desc)) = read_solo5_note(
            &segment,
            ABI1_NOTE_TYPE,
            ABI1_NOTE_ALIGN,
            ABI1_NOTE_MAX_SIZE,
        ) && let Some((target, _)) = solo5_abi::note::parse_abi(desc)
        {
            return Ok(AbiTarget::of_code(target));
        }
    }
    Ok(None)
}

fn is_tender_option(arg: &str) -> bool {
    [
        "--mem=",
        "--net:",
        "--net-mac:",
        "--block:",
        "--block-sector-size:",
    ]
    .iter()
    .any(|p| arg.starts_with(p))
        || arg == "--x-exec-heap"
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(kernel) = args.next().map(PathBuf::from) else {
        eprintln!("usage: mirage-run KERNEL [TENDER OPTIONS] [ARGS]");
        std::process::exit(1);
    };
    let rest: Vec<OsString> = args.collect();
    let target = match solo5_target(&kernel) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("mirage-run: {}: {e}", kernel.display());
            std::process::exit(1);
        }
    };
    let error = match target {
        None => Command::new(&kernel).args(&rest).exec(),
        Some(target @ (AbiTarget::Hvt | AbiTarget::Spt)) => {
            let tender = std::env::current_exe()
                .ok()
                .and_then(|exe| {
                    exe.parent()
                        .map(|dir| dir.join(format!("mirage-{}", target.name())))
                })
                .unwrap_or_else(|| PathBuf::from(format!("mirage-{}", target.name())));
            let (options, guest): (Vec<OsString>, Vec<OsString>) = {
                let split = rest
                    .iter()
                    .position(|a| !is_tender_option(&a.to_string_lossy()))
                    .unwrap_or(rest.len());
                (rest[..split].to_vec(), rest[split..].to_vec())
            };
            Command::new(&tender)
                .args(&options)
                .arg(&kernel)
                .args(&guest)
                .exec()
        }
        Some(other) => {
            eprintln!(
                "mirage-run: {} is a Solo5 {} unikernel; this project has tenders for hvt and spt only",
                kernel.display(),
                other.name()
            );
            std::process::exit(1);
        }
    };
    eprintln!("mirage-run: cannot run {}: {error}", kernel.display());
    std::process::exit(1);
}
