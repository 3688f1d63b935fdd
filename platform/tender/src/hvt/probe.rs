//! Whether this host's KVM runs SSE guests (section 6): an emulating KVM
//! stops at the first SSE instruction with an internal error, so a full
//! Rust unikernel cannot run under hvt there.

use solo5_abi::GUEST_MIN_BASE;

use super::error::{HvtError, Result};
use super::hypercall::Hypercalls;
use super::run::run;
use super::vcpu::Vm;
use crate::devices::Attached;

/// The probe guest, loaded at 0x100000: `xorps %xmm0,%xmm0`, then HALT with
/// the all-zero argument struct at 0x101000 (cookie 0, status 0).
const PROBE_CODE: &[u8] = &[
    0x0f, 0x57, 0xc0, // xorps %xmm0,%xmm0
    0xb8, 0x00, 0x10, 0x10, 0x00, // mov $0x101000,%eax
    0x66, 0xba, 0x08, 0x05, // mov $0x508,%dx
    0xef, // out %eax,(%dx)
    0xf4, // hlt (never reached)
];

/// The message tests print when [`probe_sse`] says no.
pub const SSE_SKIP_MESSAGE: &str = "SKIPPED: this host's KVM cannot run SSE guests";

/// Boots a tiny built-in guest that executes one SSE instruction and then
/// halts with status 0. `Ok(true)`: it ran (hardware virtualization);
/// `Ok(false)`: the exit was an internal (emulation) error, as on an
/// emulating KVM. `Err` if KVM is unusable or anything else happened.
pub fn probe_sse() -> Result<bool> {
    let mut vm = Vm::new(solo5_abi::hvt::MEM_ALIGN)?;
    let base = GUEST_MIN_BASE as usize;
    vm.memory_mut().as_mut_slice()[base..base + PROBE_CODE.len()].copy_from_slice(PROBE_CODE);
    vm.setup_vcpu(GUEST_MIN_BASE)?;
    let devices = Attached {
        manifest: Vec::new(),
        nets: Vec::new(),
        blocks: Vec::new(),
    };
    let hypercalls = Hypercalls::new(&devices)?;
    match run(&mut vm, &hypercalls) {
        Ok(0) => Ok(true),
        Ok(status) => Err(HvtError::UnexpectedExit(format!(
            "SSE probe halted with status {status}"
        ))),
        Err(HvtError::InternalError { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}
