/*
 * The stack protector: the canary (set at boot from the TSC, as Solo5 does)
 * and the failure handler, which reports and aborts with status 255.
 */
#include <stdint.h>

uintptr_t __stack_chk_guard = 0x00000aff0a0dff00ULL;

extern void mirage_solo5_stack_smashed(void) __attribute__((noreturn));

__attribute__((noreturn)) void __stack_chk_fail(void)
{
    mirage_solo5_stack_smashed();
}
