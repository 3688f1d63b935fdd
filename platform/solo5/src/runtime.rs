//! What a freestanding Rust program needs from its platform: the global
//! allocator over the Solo5 heap, the panic handler, and link stubs for the
//! unwinder that a `panic = "abort"`-less build still references.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hands `[start, start + size)` to the allocator.
pub(crate) fn init_heap(start: usize, size: usize) {
    // SAFETY: called once at boot with the heap region the tender gave the
    // guest, above the image and below the reserved stack; nothing else
    // uses it.
    unsafe { ALLOCATOR.lock().init(start as *mut u8, size) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = crate::api::LineBuf::new();
    let _ = core::fmt::write(&mut line, format_args!("Solo5: ABORT: {info}\n"));
    crate::api::console_write(line.as_bytes());
    crate::transport::halt(solo5_abi::SOLO5_EXIT_ABORT)
}

/// Referenced by `core`'s unwinding landing pads; never called, as the
/// panic handler aborts instead of unwinding.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Referenced by landing pads; never reached (see `rust_eh_personality`).
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::api::abort()
}

/// Called by `__stack_chk_fail` (c-stubs/ssp.c).
#[unsafe(no_mangle)]
pub extern "C" fn mirage_solo5_stack_smashed() -> ! {
    crate::api::abort_with("Solo5: ABORT: stack protector failure\n")
}
