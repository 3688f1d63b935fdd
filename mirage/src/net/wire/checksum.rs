//! The internet checksum (RFC 1071): the one's-complement sum of 16-bit
//! big-endian words, and the IPv4 and IPv6 pseudo-headers that UDP, TCP and
//! ICMPv6 include in it.
//!
//! Sums are folded but not complemented: a checksum field holds
//! `!combine(&[...])`, and a packet verifies when the sum over it (checksum
//! field included) is `0xffff`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The folded one's-complement sum of `data` (an odd trailing byte is
/// padded with zero).
///
/// This is on the hot path of every TCP and UDP segment. On x86-64 it runs
/// an AVX2 kernel when the processor and the system support it (detected
/// once, with `cpuid` and `xgetbv`: a hypervisor guest that did not enable
/// AVX state gets the SSE2 kernel, which every x86-64 has); elsewhere a
/// portable loop. Every kernel adds native-endian 16-bit words: the
/// one's-complement sum is byte-order independent (RFC 1071 section 2(B)),
/// so the folded result is swapped on a little-endian machine to give the
/// big-endian sum.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    // Headers (IPv4, TCP, pure ACKs) are short: summed inline.
    if data.len() <= 64 {
        return finish(short_sum(data));
    }
    finish(native_sum(data))
}

/// The sum of at most a few dozen bytes: eight at a time, then the rest.
#[inline]
fn short_sum(data: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        sum += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        sum += u64::from(u32::from_ne_bytes([w[4], w[5], w[6], w[7]]));
    }
    sum + tail_sum(words.remainder())
}

/// Copies `src` into `dst` (of the same length) and returns the folded
/// one's-complement sum of the bytes, as [`data`] would of either: the
/// payload is read once for both.
///
/// # Panics
/// If the lengths differ.
#[inline]
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    assert_eq!(dst.len(), src.len(), "copy_and_sum: lengths differ");
    if src.is_empty() {
        return 0;
    }
    finish(native_copy_sum(dst, src))
}

/// The sum of a part that starts at an odd offset of the data it belongs
/// to, as it counts in the whole: its bytes fall in the other halves of the
/// words, which swaps its sum (RFC 1071 section 2(B)).
pub fn at_offset(sum: u16, offset: usize) -> u16 {
    if offset % 2 == 1 {
        sum.swap_bytes()
    } else {
        sum
    }
}

/// Folds a sum of native-endian words and gives it in network order.
#[inline]
fn finish(sum: u64) -> u16 {
    let folded = fold(sum);
    if cfg!(target_endian = "little") {
        folded.swap_bytes()
    } else {
        folded
    }
}

/// The unfolded sum of `data` as native-endian 16-bit words (an odd
/// trailing byte as the first byte of a word).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn native_sum(data: &[u8]) -> u64 {
    // (Short data never gets here: `data` sums it inline.)
    if x86::has_avx2() {
        // SAFETY: the processor and the system support AVX2 (checked above).
        unsafe { x86::sum_avx2(data) }
    } else {
        x86::sum_sse2(data)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn native_sum(data: &[u8]) -> u64 {
    portable_sum(data)
}

/// [`native_sum`] while copying `src` into `dst` (same length).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
fn native_copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    if src.len() < 64 {
        dst.copy_from_slice(src);
        return portable_sum(src);
    }
    if x86::has_avx2() {
        // SAFETY: the processor and the system support AVX2 (checked above).
        unsafe { x86::copy_sum_avx2(dst, src) }
    } else {
        x86::copy_sum_sse2(dst, src)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn native_copy_sum(dst: &mut [u8], src: &[u8]) -> u64 {
    dst.copy_from_slice(src);
    portable_sum(src)
}

/// The portable kernel: sixteen bytes at a time as four native-endian
/// 32-bit words added into four 64-bit accumulators (which cannot overflow
/// below 2^32 words, 16 GiB), then the last 0 to 15 bytes.
fn portable_sum(data: &[u8]) -> u64 {
    let mut acc = [0u64; 4];
    let mut wide = data.chunks_exact(16);
    for c in &mut wide {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + tail_sum(wide.remainder())
}

/// The sum of at most 15 bytes, in at most four steps (headers are short:
/// this is most of the work for them).
#[inline]
fn tail_sum(mut rest: &[u8]) -> u64 {
    let mut sum = 0u64;
    if let [a, b, c, d, e, f, g, h, tail @ ..] = rest {
        sum += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        sum += u64::from(u32::from_ne_bytes([*e, *f, *g, *h]));
        rest = tail;
    }
    if let [a, b, c, d, tail @ ..] = rest {
        sum += u64::from(u32::from_ne_bytes([*a, *b, *c, *d]));
        rest = tail;
    }
    if let [a, b, tail @ ..] = rest {
        sum += u64::from(u16::from_ne_bytes([*a, *b]));
        rest = tail;
    }
    if let [last] = rest {
        sum += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    sum
}

/// The x86-64 vector kernels. Each adds the 16-bit words of 16 or 32 bytes
/// at a time, widened to 32-bit lanes, into two accumulators; a lane takes
/// two words a step, so the accumulators are flushed into a 64-bit total
/// every [`x86::BLOCK`] steps, long before a lane could overflow.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use core::arch::x86_64::*;
    use core::sync::atomic::{AtomicU8, Ordering};

    /// Steps between flushes (a lane gains at most 2 * 0xffff a step).
    pub(super) const BLOCK: usize = 16 * 1024;

    /// 0: not yet detected; 1: no AVX2; 2: AVX2.
    static AVX2: AtomicU8 = AtomicU8::new(0);

    /// Whether AVX2 may be used: the processor has it (`cpuid` leaf 7) and
    /// the system saves the AVX state (`OSXSAVE`, and `XCR0` with the SSE
    /// and AVX bits). Detected once.
    #[inline]
    pub(super) fn has_avx2() -> bool {
        match AVX2.load(Ordering::Relaxed) {
            0 => {
                let yes = detect();
                AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
            v => v == 2,
        }
    }

    #[cold]
    fn detect() -> bool {
        // `cpuid` is always available on x86-64 (core's wrapper is safe).
        let max = __cpuid(0).eax;
        if max < 7 {
            return false;
        }
        let leaf1 = __cpuid(1);
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        let avx = leaf1.ecx & (1 << 28) != 0;
        if !(osxsave && avx) {
            return false;
        }
        // SAFETY: OSXSAVE is set, so the system enabled `xgetbv`.
        let xcr0 = unsafe { xgetbv0() };
        if xcr0 & 0b110 != 0b110 {
            return false;
        }
        __cpuid_count(7, 0).ebx & (1 << 5) != 0
    }

    /// `XCR0`. The caller checked `OSXSAVE`.
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv0() -> u64 {
        // SAFETY: the caller checked that the system enabled `xgetbv`.
        unsafe { _xgetbv(0) }
    }

    /// Adds the four 64-bit lanes of `v`.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn lanes64(v: __m128i) -> u64 {
        let mut out = [0u64; 2];
        // SAFETY: `out` is 16 bytes; an unaligned store.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
        out[0] + out[1]
    }

    /// Widens the 32-bit lanes of `v` and adds them.
    #[inline]
    #[target_feature(enable = "sse2")]
    fn sum32x4(v: __m128i) -> u64 {
        let zero = _mm_setzero_si128();
        lanes64(_mm_add_epi64(
            _mm_unpacklo_epi32(v, zero),
            _mm_unpackhi_epi32(v, zero),
        ))
    }

    /// [`super::native_sum`] with SSE2 (every x86-64 has it).
    pub(super) fn sum_sse2(data: &[u8]) -> u64 {
        // SAFETY: SSE2 is part of x86-64's baseline.
        unsafe { sum_sse2_impl(data) }
    }

    #[target_feature(enable = "sse2")]
    fn sum_sse2_impl(data: &[u8]) -> u64 {
        let zero = _mm_setzero_si128();
        let mut total = 0u64;
        let mut chunks = data.chunks_exact(32);
        loop {
            let mut a = zero;
            let mut b = zero;
            let mut n = 0;
            for c in chunks.by_ref() {
                // SAFETY: `c` is 32 bytes; unaligned loads.
                let (x, y) = unsafe {
                    (
                        _mm_loadu_si128(c.as_ptr().cast()),
                        _mm_loadu_si128(c.as_ptr().add(16).cast()),
                    )
                };
                a = _mm_add_epi32(a, _mm_unpacklo_epi16(x, zero));
                b = _mm_add_epi32(b, _mm_unpackhi_epi16(x, zero));
                a = _mm_add_epi32(a, _mm_unpacklo_epi16(y, zero));
                b = _mm_add_epi32(b, _mm_unpackhi_epi16(y, zero));
                n += 1;
                if n == BLOCK / 2 {
                    break;
                }
            }
            total += sum32x4(a) + sum32x4(b);
            if n < BLOCK / 2 {
                break;
            }
        }
        total + super::portable_sum(chunks.remainder())
    }

    /// [`super::native_copy_sum`] with SSE2.
    pub(super) fn copy_sum_sse2(dst: &mut [u8], src: &[u8]) -> u64 {
        // SAFETY: SSE2 is part of x86-64's baseline.
        unsafe { copy_sum_sse2_impl(dst, src) }
    }

    #[target_feature(enable = "sse2")]
    fn copy_sum_sse2_impl(dst: &mut [u8], src: &[u8]) -> u64 {
        let zero = _mm_setzero_si128();
        let mut total = 0u64;
        let mut from = src.chunks_exact(16);
        let mut to = dst.chunks_exact_mut(16);
        loop {
            let mut a = zero;
            let mut b = zero;
            let mut n = 0;
            for (c, d) in from.by_ref().zip(to.by_ref()) {
                // SAFETY: `c` and `d` are 16 bytes; unaligned accesses.
                let x = unsafe { _mm_loadu_si128(c.as_ptr().cast()) };
                // SAFETY: as above.
                unsafe { _mm_storeu_si128(d.as_mut_ptr().cast(), x) };
                a = _mm_add_epi32(a, _mm_unpacklo_epi16(x, zero));
                b = _mm_add_epi32(b, _mm_unpackhi_epi16(x, zero));
                n += 1;
                if n == BLOCK {
                    break;
                }
            }
            total += sum32x4(a) + sum32x4(b);
            if n < BLOCK {
                break;
            }
        }
        let rest = from.remainder();
        to.into_remainder().copy_from_slice(rest);
        total + super::portable_sum(rest)
    }

    /// Adds the 32-bit lanes of a 256-bit accumulator.
    #[target_feature(enable = "avx2")]
    fn sum32x8(v: __m256i) -> u64 {
        sum32x4(_mm256_castsi256_si128(v)) + sum32x4(_mm256_extracti128_si256::<1>(v))
    }

    /// [`super::native_sum`] with AVX2.
    ///
    /// # Safety
    /// The processor and the system support AVX2 ([`has_avx2`]).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sum_avx2(data: &[u8]) -> u64 {
        // SAFETY: `data` is readable for its length; no destination.
        unsafe { kernel_avx2::<false>(data.as_ptr(), core::ptr::null_mut(), data.len()) }
    }

    /// [`super::native_copy_sum`] with AVX2.
    ///
    /// # Safety
    /// The processor and the system support AVX2 ([`has_avx2`]).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_sum_avx2(dst: &mut [u8], src: &[u8]) -> u64 {
        let len = src.len().min(dst.len());
        // SAFETY: `src` is readable and `dst` writable for `len` bytes, and
        // they do not overlap (a shared and an exclusive borrow).
        unsafe { kernel_avx2::<true>(src.as_ptr(), dst.as_mut_ptr(), len) }
    }

    /// The AVX2 kernel: 128 bytes a step in four independent accumulators
    /// of 32-bit lanes (each 32-bit word split into its two 16-bit words
    /// with a mask and a shift, which need no shuffle unit), then 32 bytes
    /// a step, then the portable loop; with `COPY`, every byte read is
    /// also stored at the same offset of `dst`.
    ///
    /// # Safety
    /// AVX2 is supported; `src` is readable for `len` bytes and, with
    /// `COPY`, `dst` writable for `len` bytes without overlapping `src`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn kernel_avx2<const COPY: bool>(src: *const u8, dst: *mut u8, len: usize) -> u64 {
        let mask = _mm256_set1_epi32(0xffff);
        let zero = _mm256_setzero_si256();
        let mut total = 0u64;
        let mut off = 0;
        // A lane gains at most 2 * 0xffff a step: flush every BLOCK / 2
        // steps.
        while len - off >= 128 {
            let steps = ((len - off) / 128).min(BLOCK / 2);
            let (mut a, mut b, mut c, mut d) = (zero, zero, zero, zero);
            for _ in 0..steps {
                // SAFETY: `off + 128 <= len`: in bounds of `src` (and
                // `dst`); unaligned accesses.
                unsafe {
                    let p = src.add(off);
                    let w = _mm256_loadu_si256(p.cast());
                    let x = _mm256_loadu_si256(p.add(32).cast());
                    let y = _mm256_loadu_si256(p.add(64).cast());
                    let z = _mm256_loadu_si256(p.add(96).cast());
                    if COPY {
                        let q = dst.add(off);
                        _mm256_storeu_si256(q.cast(), w);
                        _mm256_storeu_si256(q.add(32).cast(), x);
                        _mm256_storeu_si256(q.add(64).cast(), y);
                        _mm256_storeu_si256(q.add(96).cast(), z);
                    }
                    a = _mm256_add_epi32(a, _mm256_and_si256(w, mask));
                    b = _mm256_add_epi32(b, _mm256_srli_epi32::<16>(w));
                    c = _mm256_add_epi32(c, _mm256_and_si256(x, mask));
                    d = _mm256_add_epi32(d, _mm256_srli_epi32::<16>(x));
                    a = _mm256_add_epi32(a, _mm256_and_si256(y, mask));
                    b = _mm256_add_epi32(b, _mm256_srli_epi32::<16>(y));
                    c = _mm256_add_epi32(c, _mm256_and_si256(z, mask));
                    d = _mm256_add_epi32(d, _mm256_srli_epi32::<16>(z));
                }
                off += 128;
            }
            total += sum32x8(a) + sum32x8(b) + sum32x8(c) + sum32x8(d);
        }
        while len - off >= 32 {
            // SAFETY: `off + 32 <= len`; unaligned accesses.
            let w = unsafe { _mm256_loadu_si256(src.add(off).cast()) };
            if COPY {
                // SAFETY: as above, in `dst`.
                unsafe { _mm256_storeu_si256(dst.add(off).cast(), w) };
            }
            total += sum32x8(_mm256_add_epi32(
                _mm256_and_si256(w, mask),
                _mm256_srli_epi32::<16>(w),
            ));
            off += 32;
        }
        let n = len - off;
        // (A multiple of 32 bytes, as a full segment's payload often is,
        // pays for no empty copy and sum.)
        if n == 0 {
            return total;
        }
        // SAFETY: the last `n` bytes of `src`.
        let rest = unsafe { core::slice::from_raw_parts(src.add(off), n) };
        if COPY {
            // SAFETY: the last `n` bytes of `dst`, not overlapping `src`.
            unsafe { core::ptr::copy_nonoverlapping(rest.as_ptr(), dst.add(off), n) };
        }
        total + super::portable_sum(rest)
    }
}

/// Combine partial sums (from [`data`] and the pseudo-header helpers).
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

#[inline]
fn fold(sum: u64) -> u16 {
    // Four fixed steps: below 2^33, then 2^18, then 0x10003, then 0xffff.
    let s = (sum & 0xffff_ffff) + (sum >> 32);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// The sum of the IPv4 pseudo-header (RFC 768): addresses, protocol and the
/// upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    // Per segment: add the addresses as two 32-bit numbers (their
    // big-endian 16-bit words, with carries the fold adds back) rather
    // than lay out the 12 bytes.
    fold(
        u64::from(src.to_bits())
            + u64::from(dst.to_bits())
            + u64::from(protocol)
            + u64::from(length),
    )
}

/// The sum of the IPv6 pseudo-header (RFC 8200 section 8.1): addresses,
/// upper-layer packet length and next header.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let halves = |a: Ipv6Addr| {
        let bits = a.to_bits();
        u64::from(bits as u32)
            + u64::from((bits >> 32) as u32)
            + u64::from((bits >> 64) as u32)
            + u64::from((bits >> 96) as u32)
    };
    fold(halves(src) + halves(dst) + u64::from(length) + u64::from(next_header))
}

/// The source and destination addresses of a pseudo-header, of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PseudoHeader {
    /// IPv4 source and destination.
    V4(Ipv4Addr, Ipv4Addr),
    /// IPv6 source and destination.
    V6(Ipv6Addr, Ipv6Addr),
}

impl PseudoHeader {
    /// The pseudo-header for two addresses, or `None` if their families
    /// differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<PseudoHeader> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(PseudoHeader::V4(s, d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(PseudoHeader::V6(s, d)),
            _ => None,
        }
    }

    /// The sum of this pseudo-header for `protocol` and an upper-layer
    /// length. For IPv4 the length is taken modulo 2^16, as the field is 16
    /// bits wide (callers pass lengths that fit).
    #[inline]
    pub fn sum(&self, protocol: u8, length: u32) -> u16 {
        match *self {
            PseudoHeader::V4(s, d) => pseudo_header_v4(s, d, protocol, length as u16),
            PseudoHeader::V6(s, d) => pseudo_header_v6(s, d, protocol, length),
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_and_empty() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn combine_folds_carries() {
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
        assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
        assert_eq!(combine(&[]), 0);
        // Splitting the data at an even offset gives the same sum.
        let d = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11];
        assert_eq!(combine(&[data(&d[..4]), data(&d[4..])]), data(&d));
    }

    /// The definition: big-endian 16-bit words, one at a time.
    fn simple(data: &[u8]) -> u16 {
        let mut sum: u64 = 0;
        for (i, b) in data.iter().enumerate() {
            sum += if i % 2 == 0 {
                u64::from(*b) << 8
            } else {
                u64::from(*b)
            };
        }
        fold(sum)
    }

    #[test]
    fn fast_sum_matches_definition_on_random_input() {
        // xorshift: deterministic random lengths, offsets (alignments) and bytes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut buf = alloc::vec![0u8; 4096];
        for _ in 0..2000 {
            for b in buf.iter_mut() {
                *b = next() as u8;
            }
            if next() % 4 == 0 {
                // Runs of 0xff exercise the carries.
                buf.iter_mut().take(1000).for_each(|b| *b = 0xff);
            }
            let start = (next() % 17) as usize;
            let len = (next() % 2000) as usize;
            let d = &buf[start..start + len];
            assert_eq!(data(d), simple(d), "len {len} start {start}");
        }
        for len in 0..64 {
            let d = &buf[1..1 + len];
            assert_eq!(data(d), simple(d));
        }
    }

    #[test]
    fn large_buffer_does_not_overflow() {
        let big = alloc::vec![0xffu8; 300_000];
        assert_eq!(data(&big), 0xffff);
        // Past the vector kernels' flush interval, with every word at the
        // maximum: each kernel's accumulators hold.
        let huge = alloc::vec![0xffu8; 3 << 20 | 1];
        let want = simple(&huge);
        assert_eq!(data(&huge), want);
        let mut out = alloc::vec![0u8; huge.len()];
        assert_eq!(copy_and_sum(&mut out, &huge), want);
        assert_eq!(out, huge);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(finish(x86::sum_sse2(&huge)), want);
            assert_eq!(finish(x86::copy_sum_sse2(&mut out, &huge)), want);
        }
    }

    /// Every kernel (and the copying ones' copies) against the definition,
    /// at every length up to 300 and at random ones, at every alignment.
    #[test]
    fn every_kernel_matches_definition() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = alloc::vec![0u8; 5000];
        let mut out = alloc::vec![0u8; 5000];
        let check = |buf: &[u8], out: &mut [u8], start: usize, len: usize| {
            let d = &buf[start..start + len];
            let want = simple(d);
            assert_eq!(data(d), want, "len {len} start {start}");
            assert_eq!(finish(portable_sum(d)), want);
            if len <= 64 {
                assert_eq!(finish(short_sum(d)), want);
            }
            let o = &mut out[(start * 7) % 13..][..len];
            o.fill(0);
            assert_eq!(copy_and_sum(o, d), want, "copy len {len} start {start}");
            assert_eq!(o, d);
            #[cfg(target_arch = "x86_64")]
            {
                assert_eq!(finish(x86::sum_sse2(d)), want);
                o.fill(0);
                assert_eq!(finish(x86::copy_sum_sse2(o, d)), want);
                assert_eq!(o, d);
                if x86::has_avx2() {
                    // SAFETY: AVX2 is supported (checked).
                    assert_eq!(finish(unsafe { x86::sum_avx2(d) }), want);
                    o.fill(0);
                    // SAFETY: as above.
                    assert_eq!(finish(unsafe { x86::copy_sum_avx2(o, d) }), want);
                    assert_eq!(o, d);
                }
            }
        };
        for round in 0..40 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            if round % 4 == 0 {
                buf.iter_mut().take(3000).for_each(|b| *b = 0xff);
            }
            for len in 0..300 {
                check(&buf, &mut out, round % 33, len);
            }
            for start in 0..33 {
                let len = (x as usize >> 8) % 4900;
                check(&buf, &mut out, start, len.min(5000 - 33));
            }
        }
    }

    #[test]
    fn parts_at_odd_offsets_combine() {
        let d: alloc::vec::Vec<u8> = (0..1001u32).map(|i| (i * 37 + 11) as u8).collect();
        for cut in [0, 1, 2, 7, 500, 1000, 1001] {
            let (a, b) = d.split_at(cut);
            assert_eq!(combine(&[data(a), at_offset(data(b), cut)]), data(&d));
        }
    }

    #[test]
    fn pseudo_headers_match_their_byte_layout() {
        let s = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0xffff, 1);
        let d = Ipv6Addr::new(0xfe80, 1, 2, 3, 4, 5, 0xfffe, 0xffff);
        let mut b = [0u8; 40];
        b[0..16].copy_from_slice(&s.octets());
        b[16..32].copy_from_slice(&d.octets());
        b[32..36].copy_from_slice(&0x0001_ffffu32.to_be_bytes());
        b[39] = 6;
        assert_eq!(pseudo_header_v6(s, d, 6, 0x0001_ffff), data(&b));
        let s4 = Ipv4Addr::new(255, 255, 255, 254);
        let d4 = Ipv4Addr::new(10, 255, 0, 2);
        let b4 = [255, 255, 255, 254, 10, 255, 0, 2, 0, 6, 0xff, 0xfe];
        assert_eq!(pseudo_header_v4(s4, d4, 6, 0xfffe), data(&b4));
    }

    #[test]
    fn pseudo_headers() {
        let s = Ipv4Addr::new(192, 168, 1, 1);
        let d = Ipv4Addr::new(192, 168, 1, 2);
        let expect = data(&[192, 168, 1, 1, 192, 168, 1, 2, 0, 17, 0, 12]);
        assert_eq!(pseudo_header_v4(s, d, 17, 12), expect);
        assert_eq!(PseudoHeader::V4(s, d).sum(17, 12), expect);
        let s6 = Ipv6Addr::LOCALHOST;
        let d6 = Ipv6Addr::UNSPECIFIED;
        assert_eq!(pseudo_header_v6(s6, d6, 58, 8), combine(&[1, 8, 58]));
        assert!(PseudoHeader::new(s.into(), d6.into()).is_none());
    }
}
