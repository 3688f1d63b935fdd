/*
 * Checks c-stubs/mem.c against plain reference loops: every size from 0 to
 * 80 at every pair of alignments, overlapping moves in both directions,
 * and comparisons whose first difference is anywhere, with bytes above
 * 0x7f (which must compare as unsigned). mem.c is compiled with its
 * functions renamed (stub_memcpy...), so the host's C library is not
 * replaced. Prints the first mismatch and exits 1, or exits 0.
 */
#include <stddef.h>
#include <stdio.h>

void *stub_memcpy(void *restrict dst, const void *restrict src, size_t n);
void *stub_memmove(void *dst, const void *src, size_t n);
void *stub_memset(void *dst, int c, size_t n);
int stub_memcmp(const void *a, const void *b, size_t n);
int stub_bcmp(const void *a, const void *b, size_t n);
size_t stub_strlen(const char *s);

#define SIZE 256
static unsigned char buf[SIZE], ref[SIZE];

static void fill(unsigned char *b, unsigned seed)
{
    for (size_t i = 0; i < SIZE; i++)
        b[i] = (unsigned char)(i * 37u + seed * 101u + 11u);
}

static int same(const char *what, size_t n, size_t a, size_t b)
{
    for (size_t i = 0; i < SIZE; i++) {
        if (buf[i] != ref[i]) {
            printf("%s n=%zu at %zu/%zu: byte %zu is %u, expected %u\n", what, n, a, b, i,
                   buf[i], ref[i]);
            return 0;
        }
    }
    return 1;
}

static int sign(int x) { return (x > 0) - (x < 0); }

int main(void)
{
    for (size_t n = 0; n <= 80; n++) {
        for (size_t a = 0; a < 9; a++) {
            for (size_t b = 0; b < 9; b++) {
                /* memcpy, disjoint: dst in the low half, src in the high one */
                fill(buf, 1);
                fill(ref, 1);
                if (stub_memcpy(buf + a, buf + 128 + b, n) != buf + a) {
                    printf("memcpy returned the wrong pointer\n");
                    return 1;
                }
                for (size_t i = 0; i < n; i++)
                    ref[a + i] = ref[128 + b + i];
                if (!same("memcpy", n, a, b))
                    return 1;
                /* memmove, overlapping either way (distance a - b) */
                fill(buf, 2);
                fill(ref, 2);
                unsigned char tmp[SIZE];
                for (size_t i = 0; i < n; i++)
                    tmp[i] = ref[32 + b + i];
                for (size_t i = 0; i < n; i++)
                    ref[32 + a + i] = tmp[i];
                if (stub_memmove(buf + 32 + a, buf + 32 + b, n) != buf + 32 + a) {
                    printf("memmove returned the wrong pointer\n");
                    return 1;
                }
                if (!same("memmove", n, a, b))
                    return 1;
            }
            /* memset, with a byte value above 0x7f given as a negative int */
            fill(buf, 3);
            fill(ref, 3);
            for (size_t i = 0; i < n; i++)
                ref[a + i] = 0xc5;
            if (stub_memset(buf + a, (signed char)0xc5, n) != buf + a) {
                printf("memset returned the wrong pointer\n");
                return 1;
            }
            if (!same("memset", n, a, 0))
                return 1;
        }
        /* memcmp and bcmp: equal, then a difference at each position */
        fill(buf, 4);
        fill(ref, 4);
        if (stub_memcmp(buf, ref, n) != 0 || stub_bcmp(buf, ref, n) != 0) {
            printf("memcmp/bcmp n=%zu: equal buffers differ\n", n);
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            fill(buf, 4);
            buf[i] = 0x01;
            ref[i] = 0xf0;
            if (sign(stub_memcmp(buf, ref, n)) != -1 || sign(stub_memcmp(ref, buf, n)) != 1 ||
                stub_bcmp(buf, ref, n) == 0) {
                printf("memcmp/bcmp n=%zu: difference at %zu (0x01 vs 0xf0) misjudged\n", n, i);
                return 1;
            }
            fill(ref, 4);
        }
        /* strlen */
        char s[100];
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(0x80 | (i + 1));
        s[n] = 0;
        if (stub_strlen(s) != n) {
            printf("strlen of %zu bytes is %zu\n", n, stub_strlen(s));
            return 1;
        }
    }
    return 0;
}
