/*
 * The boot trampoline of mirage's Solo5 unikernels (hvt and spt).
 *
 * The tender enters _start with RDI pointing to its boot info and RSP at
 * the top of guest memory minus 8. The trampoline clears the frame pointer,
 * aligns the stack to 16 bytes as the SysV ABI wants at a call, and calls
 * into Rust, which never returns.
 */
    .section .text._start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    xorl %ebp, %ebp
    andq $-16, %rsp
    call mirage_solo5_boot
    ud2
    .size _start, . - _start

/* PT_INTERP: running a unikernel directly on the host fails cleanly. */
    .section .interp, "a", @progbits
    .asciz "/nonexistent/solo5/"
    .balign 8

/* Makes the OpenBSD kernel honour PT_INTERP; must be the first PT_NOTE. */
    .section .note.solo5.not_openbsd, "a", @note
    .balign 4
    .long 8
    .long 4
    .long 1
    .asciz "OpenBSD"
    .long 0

    .section .note.GNU-stack, "", @progbits
