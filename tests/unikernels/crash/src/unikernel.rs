//! Ends as `how` says: `ok`, `fail`, `panic`, `alloc:N`, or one of the
//! sandbox checks: `tls` (reads through the TLS base, which boot set to
//! zero: must fault), `write-text` (writes to its own code: must fault),
//! `syscall` (makes a system call the spt tender forbids: killed); or, on
//! the Solo5 targets, one of the stack-protector checks: `canary` (prints
//! the canary boot set, `__stack_chk_guard`), `stack-smash` (calls
//! `__stack_chk_fail` as a smashed C frame would: aborts).

use mirage::export::{String, Vec};

#[cfg(not(mirage_target = "unix"))]
unsafe extern "C" {
    /// The stack-protector canary (c-stubs/ssp.c), set at boot.
    static __stack_chk_guard: usize;
    /// What code built with a stack protector calls on a smashed frame.
    fn __stack_chk_fail() -> !;
}

/// The stack-protector checks, on the Solo5 targets only.
#[cfg(not(mirage_target = "unix"))]
fn stack_protector(how: &str) -> Result<(), String> {
    match how {
        "canary" => {
            // SAFETY: a plain read of a word-sized C global that only boot
            // writes, before the application runs.
            let canary = unsafe { core::ptr::read_volatile(&raw const __stack_chk_guard) };
            log::info!(target: "application", "canary {canary:#018x}");
            Ok(())
        }
        // SAFETY: `__stack_chk_fail` takes no argument and never returns.
        _ => unsafe { __stack_chk_fail() },
    }
}

#[cfg(mirage_target = "unix")]
fn stack_protector(_how: &str) -> Result<(), String> {
    Err(String::from(
        "the stack-protector checks are for the Solo5 targets",
    ))
}

/// Runs the chosen ending.
pub async fn start(how: String) -> Result<(), String> {
    match how.as_str() {
        "ok" => Ok(()),
        "canary" | "stack-smash" => stack_protector(&how),
        "fail" => Err(String::from("failing on purpose")),
        "panic" => panic!("panicking on purpose"),
        "tls" => {
            let value: u64;
            // SAFETY: deliberately reads %fs:0x28 (a stack-protector slot in
            // a C runtime); the TLS base is zero, so this must fault.
            unsafe { core::arch::asm!("mov {}, fs:[0x28]", out(reg) value) };
            Err(mirage::export::format!(
                "read {value:#x} through a zero TLS base"
            ))
        }
        "write-text" => {
            let code = start as *const () as *mut u8;
            // SAFETY: deliberately writes to the code of this function; text
            // is mapped without write permission, so this must fault.
            unsafe { core::ptr::write_volatile(code, 0xcc) };
            Err(String::from("wrote to text"))
        }
        "syscall" => {
            let pid: i64;
            // SAFETY: getpid takes no argument and touches no memory; the spt
            // seccomp filter does not allow it, so the process is killed.
            unsafe {
                core::arch::asm!("syscall", inlateout("rax") 39i64 => pid, lateout("rcx") _, lateout("r11") _)
            };
            Err(mirage::export::format!("getpid returned {pid}"))
        }
        other => match other
            .strip_prefix("alloc:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => {
                let mut v: Vec<u8> = Vec::new();
                v.resize(n, 7);
                log::info!(target: "application", "allocated {} bytes", v.len());
                Ok(())
            }
            None => Err(String::from("unknown --how")),
        },
    }
}
