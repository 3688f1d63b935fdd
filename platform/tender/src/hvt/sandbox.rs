//! What the tender does after set-up and before the first `KVM_RUN`
//! (section 2.6 steps 4 and 7): SIGINT/SIGTERM handlers, refusing the
//! READ_IMPLIES_EXEC personality, and the seccomp filter.

use std::collections::BTreeMap;
use std::io;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use super::error::{HvtError, Result};

/// `READ_IMPLIES_EXEC` from `<linux/personality.h>`.
const READ_IMPLIES_EXEC: libc::c_ulong = 0x040_0000;

/// The system calls the tender may make once the guest runs: Solo5's
/// list (section 2.6 step 7) plus `brk`, since Rust's allocator (glibc
/// malloc) may grow its heap with it while formatting an error message,
/// where Solo5's C tender never allocates.
pub const ALLOWED_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_ioctl,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_epoll_pwait,
    libc::SYS_timerfd_settime,
    libc::SYS_clock_gettime,
    libc::SYS_exit_group,
    libc::SYS_rt_sigreturn,
    libc::SYS_futex,
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_munmap,
    libc::SYS_madvise,
    libc::SYS_rt_sigprocmask,
    libc::SYS_exit,
    libc::SYS_close,
    libc::SYS_brk,
];

/// Writes "<prefix>Exiting on signal N" to stderr and `_exit(1)`; only
/// async-signal-safe calls.
extern "C" fn on_signal(signal: libc::c_int) {
    let mut buf = [0u8; 64];
    let prefix = b"mirage-hvt: Exiting on signal ";
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut len = prefix.len();
    let mut digits = [0u8; 10];
    let mut n = signal.unsigned_abs();
    let mut d = 0;
    loop {
        digits[d] = b'0' + (n % 10) as u8;
        d += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        buf[len] = digits[d];
        len += 1;
    }
    buf[len] = b'\n';
    len += 1;
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `buf` is valid.
    unsafe {
        libc::write(libc::STDERR_FILENO, buf.as_ptr().cast(), len);
        libc::_exit(1);
    }
}

/// Installs the SIGINT and SIGTERM handlers: "Exiting on signal N", exit 1.
pub fn install_signal_handlers() -> Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed `sigaction` is a valid starting point (empty
        // mask, no flags); the handler only makes async-signal-safe calls.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(signal, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(HvtError::Signals(io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Refuses to go on under the READ_IMPLIES_EXEC personality (which would
/// make every readable guest page executable on the host side too).
pub fn check_personality() -> Result<()> {
    // SAFETY: `personality(0xffffffff)` only queries the current value.
    let persona = unsafe { libc::personality(0xffff_ffff) };
    if persona != -1 && (persona as libc::c_ulong) & READ_IMPLIES_EXEC != 0 {
        return Err(HvtError::ReadImpliesExec);
    }
    Ok(())
}

/// The seccomp program: [`ALLOWED_SYSCALLS`], anything else kills the
/// process.
pub fn seccomp_program() -> Result<BpfProgram> {
    let rules = ALLOWED_SYSCALLS
        .iter()
        .map(|&nr| (nr, Vec::new()))
        .collect::<BTreeMap<_, _>>();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|e| HvtError::Seccomp(e.to_string()))?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| HvtError::Seccomp(e.to_string()))
}

/// Drops privileges as Solo5's `hvt_drop_privileges`: the personality
/// check, then `PR_SET_NO_NEW_PRIVS` and the seccomp filter (default
/// KILL). The tender is single-threaded, so no TSYNC is needed. After
/// this only [`ALLOWED_SYSCALLS`] work: call it last before running.
pub fn drop_privileges() -> Result<()> {
    check_personality()?;
    let program = seccomp_program()?;
    seccompiler::apply_filter(&program).map_err(|e| HvtError::Seccomp(e.to_string()))
}

/// Ends the process with `status` at once (`_exit`, i.e. `exit_group`):
/// no destructors, no Rust runtime clean-up (which calls `sigaltstack`),
/// nothing the seccomp filter would kill. Output goes through unbuffered
/// `write`s, so nothing is lost.
pub fn exit_now(status: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns.
    unsafe { libc::_exit(status) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles() {
        let p = seccomp_program().unwrap();
        assert!(p.len() > ALLOWED_SYSCALLS.len());
    }

    #[test]
    fn this_process_has_no_read_implies_exec() {
        check_personality().unwrap();
    }
}
