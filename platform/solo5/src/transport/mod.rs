//! The transport: how the guest reaches its tender.

#[cfg(feature = "hvt")]
mod hvt;
#[cfg(feature = "hvt")]
pub(crate) use hvt::*;

#[cfg(feature = "spt")]
mod spt;
#[cfg(feature = "spt")]
pub(crate) use spt::*;

/// The target's ABI note: this binding's target and version, in its own
/// section (the linker script gives it its own PT_NOTE).
#[used]
#[unsafe(link_section = ".note.solo5.abi")]
pub(crate) static ABI_NOTE: AbiNote = AbiNote(solo5_abi::note::abi_note(TARGET, VERSION));

/// The ABI note's bytes, 4-aligned as the note section wants.
#[repr(C, align(4))]
pub(crate) struct AbiNote(pub(crate) [u8; solo5_abi::note::ABI_NOTE_SIZE]);

/// Reads the time stamp counter (user mode may, on Linux and in a guest).
pub(crate) fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: rdtsc only reads the counter into edx:eax.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// A hardware random number, if the CPU has RDRAND and it delivers.
pub(crate) fn rdrand() -> Option<u64> {
    // CPUID.01H:ECX bit 30 announces RDRAND.
    let ecx = core::arch::x86_64::__cpuid(1).ecx;
    if ecx & (1 << 30) == 0 {
        return None;
    }
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: rdrand writes a register and the carry flag only; CPUID
        // said the instruction exists.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack))
        };
        if ok == 1 {
            return Some(value);
        }
    }
    None
}
