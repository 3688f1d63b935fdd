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
/// This is on the hot path of every TCP and UDP segment, so it sums
/// sixteen bytes at a time as four native-endian 32-bit words added into
/// four 64-bit accumulators (which cannot overflow below 2^32 words, 16
/// GiB): a loop the compiler turns into vector additions. The
/// one's-complement sum is byte-order independent (RFC 1071 section
/// 2(B)): summing native-endian words and swapping the folded result on a
/// little-endian machine gives the big-endian sum.
pub fn data(data: &[u8]) -> u16 {
    let mut acc = [0u64; 4];
    let mut wide = data.chunks_exact(16);
    for c in &mut wide {
        for (i, a) in acc.iter_mut().enumerate() {
            let w = [c[4 * i], c[4 * i + 1], c[4 * i + 2], c[4 * i + 3]];
            *a += u64::from(u32::from_ne_bytes(w));
        }
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    // The last 0 to 15 bytes, in at most four steps (headers are short:
    // this is most of the work for them).
    let mut rest = wide.remainder();
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
    let folded = fold(sum);
    if cfg!(target_endian = "little") {
        folded.swap_bytes()
    } else {
        folded
    }
}

/// Combine partial sums (from [`data`] and the pseudo-header helpers).
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The big-endian 16-bit words of `bytes`, summed.
fn words(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(2)
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum()
}

/// The sum of the IPv4 pseudo-header (RFC 768): addresses, protocol and the
/// upper-layer length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    // Per segment: add the words rather than lay out the 12 bytes.
    fold(words(&src.octets()) + words(&dst.octets()) + u64::from(protocol) + u64::from(length))
}

/// The sum of the IPv6 pseudo-header (RFC 8200 section 8.1): addresses,
/// upper-layer packet length and next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    fold(
        words(&src.octets())
            + words(&dst.octets())
            + u64::from(length >> 16)
            + u64::from(length & 0xffff)
            + u64::from(next_header),
    )
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
    pub fn sum(&self, protocol: u8, length: u32) -> u16 {
        match *self {
            PseudoHeader::V4(s, d) => pseudo_header_v4(s, d, protocol, length as u16),
            PseudoHeader::V6(s, d) => pseudo_header_v6(s, d, protocol, length),
        }
    }
}

#[cfg(test)]
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
