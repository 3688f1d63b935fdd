//! The vCPU loop (section 2.6 step 8): `KVM_RUN` until the guest halts or
//! does something fatal. Only a 4-byte `out` to ports 0x501..0x508 is a
//! hypercall; every other exit ends the guest with an error.

use kvm_ioctls::VcpuExit;
use solo5_abi::hvt::{HYPERCALL_PIO_BASE, hypercall};

use super::error::{Direction, HvtError, Result};
use super::hypercall::{Hypercalls, Outcome};
use super::vcpu::{Vm, os_error};

/// What one exit asked for, copied out of the vCPU's `kvm_run` page.
enum Exit {
    /// A port access: port, direction, the first 4 data bytes.
    Io(u16, Direction, u32),
    /// Anything that ends the guest.
    Fatal(HvtError),
    /// `KVM_EXIT_INTR` and the like: run again.
    Again,
}

/// Runs the guest until it halts; returns its exit status.
pub fn run(vm: &mut Vm, hypercalls: &Hypercalls<'_>) -> Result<i32> {
    loop {
        let exit = match vm.vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) => {
                let mut value = [0u8; 4];
                let n = data.len().min(4);
                value[..n].copy_from_slice(&data[..n]);
                Exit::Io(port, Direction::Out, u32::from_le_bytes(value))
            }
            Ok(VcpuExit::IoIn(port, _)) => Exit::Io(port, Direction::In, 0),
            Ok(VcpuExit::FailEntry(reason, cpu)) => {
                Exit::Fatal(HvtError::FailEntry { reason, cpu })
            }
            Ok(VcpuExit::InternalError) => Exit::Fatal(HvtError::InternalError { suberror: 0 }),
            Ok(VcpuExit::Shutdown) => Exit::Fatal(HvtError::Shutdown),
            Ok(VcpuExit::Intr) => Exit::Again,
            Ok(VcpuExit::MmioWrite(gpa, data)) => Exit::Fatal(HvtError::Mmio {
                gpa,
                len: data.len(),
                write: true,
            }),
            Ok(VcpuExit::MmioRead(gpa, data)) => Exit::Fatal(HvtError::Mmio {
                gpa,
                len: data.len(),
                write: false,
            }),
            Ok(VcpuExit::MemoryFault { .. }) => Exit::Fatal(HvtError::TranslationFault),
            Ok(other) => Exit::Fatal(HvtError::UnexpectedExit(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Exit::Again,
            Err(e) if e.errno() == libc::EFAULT => Exit::Fatal(HvtError::TranslationFault),
            Err(e) => Exit::Fatal(HvtError::Run(os_error(e))),
        };
        match exit {
            Exit::Again => continue,
            Exit::Fatal(HvtError::InternalError { .. }) => {
                return Err(HvtError::InternalError {
                    suberror: internal_suberror(vm),
                });
            }
            Exit::Fatal(e) => return Err(e),
            Exit::Io(port, direction, value) => {
                let (size, count) = io_size(vm);
                let nr = port.wrapping_sub(HYPERCALL_PIO_BASE);
                if direction != Direction::Out
                    || size != 4
                    || count != 1
                    || port < HYPERCALL_PIO_BASE
                    || nr >= hypercall::MAX
                {
                    return Err(HvtError::InvalidPortAccess {
                        port,
                        direction,
                        size,
                        count,
                    });
                }
                match hypercalls.handle(vm.memory_mut(), nr, u64::from(value))? {
                    Outcome::Continue => {}
                    Outcome::Halt(status) => return Ok(status),
                }
            }
        }
    }
}

/// The `io` exit's size and count (valid right after a `KVM_EXIT_IO`).
fn io_size(vm: &mut Vm) -> (u8, u32) {
    let run = vm.vcpu.get_kvm_run();
    // SAFETY: called only after `KVM_RUN` returned `KVM_EXIT_IO`, so `io`
    // is the union member the kernel filled in; it is plain data.
    let io = unsafe { run.__bindgen_anon_1.io };
    (io.size, io.count)
}

/// The suberror of a `KVM_EXIT_INTERNAL_ERROR` (valid right after it).
fn internal_suberror(vm: &mut Vm) -> u32 {
    let run = vm.vcpu.get_kvm_run();
    // SAFETY: called only after `KVM_RUN` returned
    // `KVM_EXIT_INTERNAL_ERROR`, so `internal` is the union member the
    // kernel filled in; it is plain data.
    unsafe { run.__bindgen_anon_1.internal.suberror }
}
