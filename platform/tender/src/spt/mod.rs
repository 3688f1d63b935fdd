//! The spt tender (SOLO5-ABI.md section 5): the unikernel runs inside this
//! process, at the addresses it was linked for, behind a seccomp filter
//! that allows exactly the system calls of the Solo5 spt bindings.
//!
//! [`prepare`] does everything that can fail or allocate: it maps guest
//! memory at 0x10000, loads and protects the ELF, attaches the devices,
//! writes the boot info, creates the epoll and timer fds and compiles the
//! filter. [`launch`] then installs the filter and jumps to the guest,
//! allocating nothing on the way.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use solo5_abi::manifest::Manifest;
use solo5_abi::note::AbiTarget;
use solo5_abi::spt::{BOOT_INFO_BASE, BOOT_INFO_SIZE, HOST_MEM_BASE, boot_info, syscall};

use crate::devices::{self, Attached};
use crate::elf;
use crate::error::{Result, TenderError};
use crate::options::{self, Invocation, Options};

/// Guest memory without `--mem`: 512 MiB, as `solo5-spt`.
pub const DEFAULT_MEM_SIZE: u64 = 0x2000_0000;
/// `SPT_INTERNAL_TIMERFD` (`~1U`): the timerfd's `data.u64` in the epoll
/// set, which no manifest index can equal.
pub const INTERNAL_TIMERFD: u64 = !1u32 as u64;
/// Linux's `ARCH_SET_FS` (`arch_prctl`), the only code the guest may use.
pub const ARCH_SET_FS: u64 = 0x1002;

/// Guest memory: the anonymous mapping `[0x10000, mem_size)` at exactly
/// those addresses (guest address == host address).
#[derive(Debug)]
pub struct GuestMemory {
    mem_size: u64,
}

impl GuestMemory {
    /// Maps `[0x10000, mem_size)` read-write (and executable with
    /// `--x-exec-heap`), refusing if any of that range is already mapped.
    pub fn map(mem_size: u64, exec_heap: bool) -> Result<GuestMemory> {
        let len = mem_size
            .checked_sub(HOST_MEM_BASE)
            .filter(|&l| l > 0)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(TenderError::GuestMemory {
                mem_size,
                source: io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        let prot = libc::PROT_READ | libc::PROT_WRITE | if exec_heap { libc::PROT_EXEC } else { 0 };
        // SAFETY: an anonymous private mapping at a fixed address that
        // MAP_FIXED_NOREPLACE guarantees not to replace anything of ours;
        // the result is checked.
        let addr = unsafe {
            libc::mmap(
                HOST_MEM_BASE as *mut libc::c_void,
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            let source = io::Error::last_os_error();
            return Err(if source.raw_os_error() == Some(libc::EEXIST) {
                TenderError::GuestMemoryTaken {
                    addr: HOST_MEM_BASE,
                    len: len as u64,
                    source,
                }
            } else {
                TenderError::GuestMemory { mem_size, source }
            });
        }
        if addr as u64 != HOST_MEM_BASE {
            // A kernel without MAP_FIXED_NOREPLACE put it elsewhere.
            // SAFETY: unmaps exactly the mapping just made.
            unsafe { libc::munmap(addr, len) };
            return Err(TenderError::GuestMemoryTaken {
                addr: HOST_MEM_BASE,
                len: len as u64,
                source: io::Error::from_raw_os_error(libc::EEXIST),
            });
        }
        Ok(GuestMemory { mem_size })
    }

    /// The guest memory size (its end address).
    pub fn mem_size(&self) -> u64 {
        self.mem_size
    }

    /// The memory as bytes; byte 0 is guest address 0x10000.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: [0x10000, mem_size) is our private mapping for as long as
        // self lives (it is never unmapped), and &mut self makes the borrow
        // unique.
        unsafe {
            std::slice::from_raw_parts_mut(
                HOST_MEM_BASE as *mut u8,
                (self.mem_size - HOST_MEM_BASE) as usize,
            )
        }
    }

    /// Applies a segment's real protection to its aligned range.
    pub fn protect(&self, segment: &elf::Segment) -> Result<()> {
        let start = segment.aligned_start();
        let end = segment.aligned_end();
        if start < HOST_MEM_BASE || end > self.mem_size || start >= end {
            return Err(TenderError::LoadOutOfBounds {
                vaddr: segment.vaddr,
                memsz: segment.memsz,
            });
        }
        let mut prot = libc::PROT_NONE;
        if segment.readable {
            prot |= libc::PROT_READ;
        }
        if segment.writable {
            prot |= libc::PROT_WRITE;
        }
        if segment.executable {
            prot |= libc::PROT_EXEC;
        }
        // SAFETY: the range is inside our guest mapping (checked above) and
        // page aligned (checked by elf::plan).
        let rc =
            unsafe { libc::mprotect(start as *mut libc::c_void, (end - start) as usize, prot) };
        if rc != 0 {
            return Err(TenderError::Host {
                what: "mprotect of a guest segment",
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}

/// A guest ready to start: everything is built; only the filter and the
/// jump remain.
#[derive(Debug)]
pub struct Prepared {
    /// Guest memory, loaded.
    pub memory: GuestMemory,
    /// The ELF entry point.
    pub entry: u64,
    /// The devices (their fds must stay open).
    pub attached: Attached,
    /// The guest's epoll set.
    pub epollfd: OwnedFd,
    /// The guest's timer.
    pub timerfd: OwnedFd,
    /// The compiled seccomp filter.
    pub filter: BpfProgram,
}

fn host(what: &'static str) -> TenderError {
    TenderError::Host {
        what,
        source: io::Error::last_os_error(),
    }
}

fn check_personality() -> Result<()> {
    // SAFETY: personality(0xffffffff) only queries.
    let persona = unsafe { libc::personality(0xffff_ffff) };
    if persona < 0 {
        return Err(host("personality"));
    }
    if persona & libc::READ_IMPLIES_EXEC != 0 {
        return Err(TenderError::ReadImpliesExec);
    }
    Ok(())
}

/// Creates the guest's epoll set (with the timer as [`INTERNAL_TIMERFD`]
/// and each tap as its manifest index) and its timerfd.
fn epoll_and_timer(attached: &Attached) -> Result<(OwnedFd, OwnedFd)> {
    // SAFETY: plain system call; result checked.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(host("epoll_create1"));
    }
    // SAFETY: ep is a fresh descriptor owned by nothing else.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    // SAFETY: plain system call; result checked.
    let tfd = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if tfd < 0 {
        return Err(host("timerfd_create"));
    }
    // SAFETY: tfd is a fresh descriptor owned by nothing else.
    let tfd = unsafe { OwnedFd::from_raw_fd(tfd) };
    let add = |fd: i32, data: u64| {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: data,
        };
        // SAFETY: both fds are open; ev lives across the call.
        if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            Err(host("epoll_ctl(EPOLL_CTL_ADD)"))
        } else {
            Ok(())
        }
    };
    add(tfd.as_raw_fd(), INTERNAL_TIMERFD)?;
    for (index, tap) in &attached.nets {
        add(tap.fd.as_raw_fd(), *index as u64)?;
    }
    Ok((ep, tfd))
}

/// Writes `struct spt_boot_info` at 0x11000, the manifest copy right after
/// it and the 8192-byte command line after that.
fn write_boot_info(
    mem: &mut [u8],
    mem_size: u64,
    kernel_end: u64,
    manifest: &[u8],
    cmdline: &[u8],
    epollfd: i32,
    timerfd: i32,
) -> Result<()> {
    let bi = (BOOT_INFO_BASE - HOST_MEM_BASE) as usize;
    let mft = bi + BOOT_INFO_SIZE;
    let line = mft + manifest.len();
    let end = line + solo5_abi::CMDLINE_SIZE;
    let too_small = || TenderError::GuestMemory {
        mem_size,
        source: io::Error::other("too small for the boot info"),
    };
    if end as u64 + HOST_MEM_BASE > solo5_abi::GUEST_MIN_BASE || end > mem.len() {
        return Err(too_small());
    }
    let addr = |off: usize| off as u64 + HOST_MEM_BASE;
    mem[bi..end].fill(0);
    let ok = solo5_abi::write_u64(mem, bi + boot_info::MEM_SIZE, mem_size)
        && solo5_abi::write_u64(mem, bi + boot_info::KERNEL_END, kernel_end)
        && solo5_abi::write_u64(mem, bi + boot_info::CMDLINE, addr(line))
        && solo5_abi::write_u64(mem, bi + boot_info::MFT, addr(mft))
        && solo5_abi::write_u32(mem, bi + boot_info::EPOLLFD, epollfd as u32)
        && solo5_abi::write_u32(mem, bi + boot_info::TIMERFD, timerfd as u32);
    if !ok || cmdline.len() > solo5_abi::CMDLINE_SIZE {
        return Err(too_small());
    }
    mem[mft..line].copy_from_slice(manifest);
    mem[line..line + cmdline.len()].copy_from_slice(cmdline);
    Ok(())
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| TenderError::Seccomp(e.to_string()))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule> {
    SeccompRule::new(conditions).map_err(|e| TenderError::Seccomp(e.to_string()))
}

/// The seccomp filter of SOLO5-ABI.md section 5: default KILL_PROCESS;
/// allows `write(1)`, `exit_group`, `epoll_pwait(epollfd)`,
/// `timerfd_settime(timerfd)`, `clock_gettime(MONOTONIC|REALTIME)`,
/// `arch_prctl(ARCH_SET_FS)`, `read`/`write` on each tap, and
/// `pread64`/`pwrite64` of exactly one block inside each block device.
pub fn seccomp_filter(epollfd: i32, timerfd: i32, attached: &Attached) -> Result<BpfProgram> {
    use SeccompCmpOp::{Eq, Le};
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut add = |nr: u64, r: Option<SeccompRule>| {
        let list = rules.entry(nr as i64).or_default();
        if let Some(r) = r {
            list.push(r);
        }
    };
    add(syscall::WRITE, Some(rule(vec![cond(0, Eq, 1)?])?));
    add(syscall::EXIT_GROUP, None);
    add(
        syscall::EPOLL_PWAIT,
        Some(rule(vec![cond(0, Eq, epollfd as u64)?])?),
    );
    add(
        syscall::TIMERFD_SETTIME,
        Some(rule(vec![cond(0, Eq, timerfd as u64)?])?),
    );
    add(
        syscall::CLOCK_GETTIME,
        Some(rule(vec![cond(0, Eq, libc::CLOCK_MONOTONIC as u64)?])?),
    );
    add(
        syscall::CLOCK_GETTIME,
        Some(rule(vec![cond(0, Eq, libc::CLOCK_REALTIME as u64)?])?),
    );
    add(
        syscall::ARCH_PRCTL,
        Some(rule(vec![cond(0, Eq, ARCH_SET_FS)?])?),
    );
    for (_, tap) in &attached.nets {
        let fd = tap.fd.as_raw_fd() as u64;
        add(syscall::READ, Some(rule(vec![cond(0, Eq, fd)?])?));
        add(syscall::WRITE, Some(rule(vec![cond(0, Eq, fd)?])?));
    }
    for (_, dev) in &attached.blocks {
        let fd = dev.file.as_raw_fd() as u64;
        let last = dev.capacity - dev.block_size;
        for nr in [syscall::PREAD64, syscall::PWRITE64] {
            add(
                nr,
                Some(rule(vec![
                    cond(0, Eq, fd)?,
                    cond(2, Eq, dev.block_size)?,
                    cond(3, Le, last)?,
                ])?),
            );
        }
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| TenderError::Seccomp(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| TenderError::Seccomp(e.to_string()))
}

/// Everything before the jump: reads and checks the unikernel, parses the
/// options, maps and loads guest memory, attaches devices, writes the boot
/// info and compiles the filter.
pub fn prepare(invocation: &Invocation) -> Result<Prepared> {
    let kernel = &invocation.kernel;
    let file = elf::read_kernel(kernel)?;
    let notes = elf::read_notes(&file).map_err(|e| e.in_kernel(kernel))?;
    elf::check_abi(&notes, AbiTarget::Spt).map_err(|e| e.in_kernel(kernel))?;
    let manifest = Manifest::validate(&notes.manifest)
        .map_err(|e| TenderError::InvalidManifest(e).in_kernel(kernel))?;
    let opts: Options = options::parse_options(&invocation.tender_args, &manifest, AbiTarget::Spt)?;
    let cmdline = options::cmdline(&invocation.guest_args)?;
    if opts.x_exec_heap {
        eprintln!(
            "mirage-spt: WARNING: The use of --x-exec-heap is dangerous and not recommended \
             as it makes the heap and stack executable."
        );
    }
    check_personality()?;
    let mem_size = opts.mem_size.unwrap_or(DEFAULT_MEM_SIZE);
    let plan = elf::plan(&file, mem_size).map_err(|e| e.in_kernel(kernel))?;
    let mut memory = GuestMemory::map(mem_size, opts.x_exec_heap)?;
    elf::load(&plan, &file, memory.as_mut_slice(), HOST_MEM_BASE)
        .map_err(|e| e.in_kernel(kernel))?;
    drop(file);
    let attached = devices::attach(&notes.manifest, &opts)?;
    let (epollfd, timerfd) = epoll_and_timer(&attached)?;
    write_boot_info(
        memory.as_mut_slice(),
        mem_size,
        plan.kernel_end,
        &attached.manifest,
        &cmdline,
        epollfd.as_raw_fd(),
        timerfd.as_raw_fd(),
    )?;
    for segment in &plan.segments {
        memory.protect(segment)?;
    }
    let filter = seccomp_filter(epollfd.as_raw_fd(), timerfd.as_raw_fd(), &attached)?;
    Ok(Prepared {
        memory,
        entry: plan.entry,
        attached,
        epollfd,
        timerfd,
        filter,
    })
}

/// Installs the filter (after `PR_SET_NO_NEW_PRIVS`) and jumps to the
/// guest with `rsp = mem_size - 8` and `rdi = &boot_info`. Returns only if
/// the filter could not be installed. Nothing allocates or frees after
/// the filter is in place: `prepared` is never dropped.
pub fn launch(prepared: Prepared) -> TenderError {
    // Faults must kill the process with the signal itself (SIGSEGV, status
    // 139 in a shell), not run Rust's handlers, which would make system
    // calls the filter forbids; and a closed stdout kills as in C.
    for sig in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGPIPE,
    ] {
        // SAFETY: restoring the default disposition of a signal.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let prepared = std::mem::ManuallyDrop::new(prepared);
    let sp = prepared.memory.mem_size() - 8;
    let entry = prepared.entry;
    let bi = BOOT_INFO_BASE;
    if let Err(e) = seccompiler::apply_filter(&prepared.filter) {
        return TenderError::Seccomp(e.to_string());
    }
    // SAFETY: this is the hand-over to the guest, and never returns: the
    // guest's memory is mapped and loaded at its link addresses, the stack
    // pointer is inside guest memory (mem_size - 8, as Solo5's spt_launch),
    // rdi points to the boot info, and the guest ends the process with
    // exit_group (or is killed by a signal). Nothing of the tender runs
    // again, so no Rust invariant is observed after the jump.
    unsafe {
        std::arch::asm!(
            "mov rsp, {sp}",
            "xor ebp, ebp",
            "jmp {entry}",
            sp = in(reg) sp,
            entry = in(reg) entry,
            in("rdi") bi,
            options(noreturn)
        )
    }
}

/// Runs a unikernel under spt: [`prepare`] then [`launch`]. Returns only
/// on error.
pub fn run(invocation: &Invocation) -> TenderError {
    match prepare(invocation) {
        Ok(prepared) => launch(prepared),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles() {
        let attached = Attached {
            manifest: vec![],
            nets: vec![],
            blocks: vec![],
        };
        let prog = seccomp_filter(5, 6, &attached).unwrap();
        assert!(!prog.is_empty());
    }

    #[test]
    fn boot_info_layout() {
        let mut mem = vec![0u8; 0x20_0000 - 0x1_0000];
        let mft = [1u8; 112];
        write_boot_info(&mut mem, 0x20_0000, 0x10_3000, &mft, b"a b\0", 7, 8).unwrap();
        let bi = 0x1000;
        assert_eq!(solo5_abi::read_u64(&mem, bi), Some(0x20_0000));
        assert_eq!(solo5_abi::read_u64(&mem, bi + 8), Some(0x10_3000));
        assert_eq!(solo5_abi::read_u64(&mem, bi + 16), Some(0x11028 + 112));
        assert_eq!(solo5_abi::read_u64(&mem, bi + 24), Some(0x11028));
        assert_eq!(solo5_abi::read_u32(&mem, bi + 32), Some(7));
        assert_eq!(solo5_abi::read_u32(&mem, bi + 36), Some(8));
        assert_eq!(&mem[0x1028 + 112..0x1028 + 116], b"a b\0");
    }
}
