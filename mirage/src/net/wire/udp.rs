//! UDP (RFC 768; RFC 8200 section 8.1 for IPv6). The checksum covers the IP
//! pseudo-header: over IPv4 a zero checksum means none was sent, over IPv6
//! it is mandatory.

use super::checksum::{self, PseudoHeader};
use super::{Error, Field, get_u16, set_u16, sub, sub_mut};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// The length of a UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;
/// The IP protocol number of UDP.
pub const PROTOCOL: u8 = 17;

/// A view over a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking its lengths (see [`Packet::check_len`]).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the header, that the length field is at
    /// least 8 and that it fits in the buffer (bytes after it are ignored).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            Err(Error::Malformed)
        } else if field_len > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field (header and payload).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram as the length field delimits it (empty if that does not
    /// fit in the buffer).
    fn datagram(&self) -> &[u8] {
        sub(self.buffer.as_ref(), 0..usize::from(self.len()))
    }

    /// Whether the checksum (with the pseudo-header) is right. A zero
    /// checksum field is not accepted here; see [`Repr::parse`].
    pub fn verify_checksum(&self, ph: &PseudoHeader) -> bool {
        let d = self.datagram();
        checksum::combine(&[ph.sum(PROTOCOL, d.len() as u32), checksum::data(d)]) == 0xffff
    }

    /// The payload, up to the length field (empty if that does not fit).
    pub fn payload(&self) -> &[u8] {
        sub(self.buffer.as_ref(), HEADER_LEN..usize::from(self.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, v);
    }

    /// Set the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, v);
    }

    /// Set the length field.
    pub fn set_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Compute and write the checksum over the pseudo-header and the
    /// datagram the length field delimits. A computed zero is sent as
    /// 0xffff, as zero means "no checksum".
    pub fn fill_checksum(&mut self, ph: &PseudoHeader) {
        self.set_checksum(0);
        let d = self.datagram();
        let sum = !checksum::combine(&[ph.sum(PROTOCOL, d.len() as u32), checksum::data(d)]);
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// Writes the whole header (ports, the length of the buffer and the
    /// checksum with `ph`, or none when `ph` is `None`) once the payload is
    /// in place. The checksum sums the header from registers and the header
    /// is written as one word: summing header fields back from memory just
    /// after storing them narrowly stalls the loads (store forwarding).
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`] or longer than 65535
    /// bytes.
    pub fn emit_header(&mut self, src_port: u16, dst_port: u16, ph: Option<&PseudoHeader>) {
        let buf = self.buffer.as_mut();
        let len = u16::try_from(buf.len()).expect("a UDP datagram fits its length field");
        let sum = match ph {
            Some(ph) => {
                let payload = checksum::data(&buf[HEADER_LEN..]);
                let header = u64::from(src_port) + u64::from(dst_port) + u64::from(len);
                let mut sum =
                    u64::from(ph.sum(PROTOCOL, u32::from(len))) + header + u64::from(payload);
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                match !(sum as u16) {
                    0 => 0xffff,
                    s => s,
                }
            }
            None => 0,
        };
        let word = (u64::from(src_port) << 48)
            | (u64::from(dst_port) << 32)
            | (u64::from(len) << 16)
            | u64::from(sum);
        buf[..HEADER_LEN].copy_from_slice(&word.to_be_bytes());
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        sub_mut(self.buffer.as_mut(), HEADER_LEN..end)
    }
}

/// A parsed UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parse a datagram received between the pseudo-header's addresses:
    /// checks lengths and the checksum (a zero checksum is accepted over
    /// IPv4 only).
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        ph: &PseudoHeader,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        // A zero field means "no checksum": allowed over IPv4 only (RFC 768;
        // RFC 8200 section 8.1). Over IPv6 it is refused before summing, as
        // one's complement makes zero and 0xffff equal: a datagram whose
        // checksum is 0xffff would otherwise verify with a zero field.
        let zero = packet.checksum() == 0;
        let v4 = matches!(ph, PseudoHeader::V4(..));
        if zero && !v4 {
            return Err(Error::Checksum);
        }
        if !zero && !packet.verify_checksum(ph) {
            return Err(Error::Checksum);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: sub(buf, HEADER_LEN..usize::from(packet.len())),
        })
    }

    /// The length of the datagram `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Write the datagram, payload and checksum included.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`, or that is above 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, ph: &PseudoHeader) {
        let len = u16::try_from(self.buffer_len()).expect("UDP datagram longer than 65535");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(ph);
    }
}

/// What an ICMP error message quotes of a UDP datagram we sent (RFC 792,
/// RFC 4443: the invoking packet's IP header and at least 8 bytes of its
/// payload): the addresses and ports; `src` and `src_port` are ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quoted {
    /// The quoted source address (ours).
    pub src: core::net::IpAddr,
    /// The quoted destination address.
    pub dst: core::net::IpAddr,
    /// The quoted source port (ours).
    pub src_port: u16,
    /// The quoted destination port.
    pub dst_port: u16,
}

impl Quoted {
    /// Parse the packet an ICMP error quotes: its IP header (see
    /// `wire::quoted_ip`: a datagram sent in fragments included), then the
    /// 8 bytes of the UDP header. `Unsupported` if the packet does not
    /// carry UDP or is not a first fragment; `Truncated` if the quote
    /// stops before the UDP header's end; `Malformed` for a bad version or
    /// IPv4 header length.
    pub fn parse(quoted: &[u8]) -> Result<Quoted, Error> {
        let (src, dst, protocol, udp_at) = super::quoted_ip(quoted)?;
        if protocol != PROTOCOL {
            return Err(Error::Unsupported);
        }
        let udp = quoted
            .get(udp_at..udp_at + HEADER_LEN)
            .ok_or(Error::Truncated)?;
        Ok(Quoted {
            src,
            dst,
            src_port: get_u16(udp, field::SRC_PORT),
            dst_port: get_u16(udp, field::DST_PORT),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;
    use core::net::{Ipv4Addr, Ipv6Addr};

    const V4: PseudoHeader = PseudoHeader::V4(
        Ipv4Addr::new(192, 168, 1, 10),
        Ipv4Addr::new(192, 168, 1, 1),
    );
    const V6: PseudoHeader = PseudoHeader::V6(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
    );

    // 50000 -> 53, "mirage", checksummed for V4 and V6.
    const DGRAM_V4: [u8; 14] = [
        0xc3, 0x50, 0x00, 0x35, 0x00, 0x0e, 0x71, 0xc0, b'm', b'i', b'r', b'a', b'g', b'e',
    ];
    const DGRAM_V6: [u8; 14] = [
        0xc3, 0x50, 0x00, 0x35, 0x00, 0x0e, 0xf8, 0x17, b'm', b'i', b'r', b'a', b'g', b'e',
    ];

    fn repr() -> Repr<'static> {
        Repr {
            src_port: 50000,
            dst_port: 53,
            payload: b"mirage",
        }
    }

    #[test]
    fn known_good_both_families() {
        for (bytes, ph) in [(&DGRAM_V4, V4), (&DGRAM_V6, V6)] {
            let p = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(Repr::parse(&p, &ph).unwrap(), repr());
            let mut buf = vec![0u8; repr().buffer_len()];
            repr().emit(&mut Packet::new_unchecked(&mut buf[..]), &ph);
            assert_eq!(&buf[..], &bytes[..]);
        }
    }

    #[test]
    fn round_trip_empty_and_odd() {
        for payload in [&b""[..], &b"x"[..], &[0xff; 301][..]] {
            let r = Repr {
                src_port: 1,
                dst_port: 2,
                payload,
            };
            for ph in [V4, V6] {
                let mut buf = vec![0u8; r.buffer_len()];
                r.emit(&mut Packet::new_unchecked(&mut buf[..]), &ph);
                assert_ne!(Packet::new_unchecked(&buf[..]).checksum(), 0);
                let p = Packet::new_checked(&buf[..]).unwrap();
                assert_eq!(Repr::parse(&p, &ph), Ok(r));
            }
        }
    }

    #[test]
    fn zero_checksum() {
        let mut b = DGRAM_V4;
        b[6] = 0;
        b[7] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V4), Ok(repr()));
        assert_eq!(Repr::parse(&p, &V6), Err(Error::Checksum));
    }

    #[test]
    fn zero_checksum_over_ipv6_is_refused_even_when_the_sum_is_zero() {
        // A datagram whose checksum is 0xffff (its sum is zero): the same
        // datagram with a zero field sums right too, in one's complement,
        // but RFC 8200 section 8.1 says a zero checksum over IPv6 is dropped.
        let mut b = [0u8; 16];
        b[..14].copy_from_slice(&DGRAM_V6);
        b[5] = 16;
        b[6] = 0;
        b[7] = 0;
        Packet::new_unchecked(&mut b[..]).fill_checksum(&V6);
        let c = Packet::new_unchecked(&b[..]).checksum();
        b[14..16].copy_from_slice(&c.to_be_bytes());
        Packet::new_unchecked(&mut b[..]).fill_checksum(&V6);
        assert_eq!(Packet::new_unchecked(&b[..]).checksum(), 0xffff);
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &V6).is_ok());
        b[6] = 0;
        b[7] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V6), Err(Error::Checksum));
    }

    #[test]
    fn bad_checksum() {
        let mut b = DGRAM_V4;
        b[13] ^= 0x10;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V4), Err(Error::Checksum));
        // The wrong pseudo-header is caught too.
        let p = Packet::new_checked(&DGRAM_V4[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V6), Err(Error::Checksum));
    }

    #[test]
    fn truncated() {
        for pre in prefixes(&DGRAM_V4, 0) {
            assert!(Packet::new_checked(pre).is_err());
            let p = Packet::new_unchecked(pre);
            if pre.len() >= HEADER_LEN {
                let _ = (p.payload(), p.verify_checksum(&V4));
            }
        }
    }

    #[test]
    fn lying_lengths() {
        for l in 0..8 {
            let mut b = DGRAM_V4;
            b[5] = l;
            assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        }
        let mut b = DGRAM_V4;
        b[5] = 15;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        // Trailing bytes after the length are ignored.
        let mut b = DGRAM_V4.to_vec();
        b.extend([0xaa, 0xbb]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V4), Ok(repr()));
    }

    #[test]
    fn a_quoted_datagram_parses_for_both_families_and_fragments() {
        let mut v4 = vec![0u8; 28];
        v4[0] = 0x45;
        v4[9] = PROTOCOL;
        v4[12..16].copy_from_slice(&[10, 0, 0, 1]);
        v4[16..20].copy_from_slice(&[10, 0, 0, 2]);
        v4[20..24].copy_from_slice(&[0x13, 0x88, 0, 9]);
        let q = Quoted::parse(&v4).unwrap();
        assert_eq!(
            (q.src, q.dst, q.src_port, q.dst_port),
            (
                Ipv4Addr::new(10, 0, 0, 1).into(),
                Ipv4Addr::new(10, 0, 0, 2).into(),
                5000,
                9
            )
        );
        assert_eq!(Quoted::parse(&v4[..27]), Err(Error::Truncated));
        v4[7] = 8; // a later fragment
        assert_eq!(Quoted::parse(&v4), Err(Error::Unsupported));
        v4[7] = 0;
        v4[9] = 6;
        assert_eq!(Quoted::parse(&v4), Err(Error::Unsupported));

        let mut v6 = vec![0u8; 56];
        v6[0] = 0x60;
        v6[6] = 44; // a fragment header
        v6[8..24].copy_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6[40] = PROTOCOL;
        v6[48..52].copy_from_slice(&[0x13, 0x88, 0, 9]);
        let q = Quoted::parse(&v6).unwrap();
        assert_eq!(
            (q.src, q.src_port, q.dst_port),
            (Ipv6Addr::LOCALHOST.into(), 5000, 9)
        );
        v6[42] = 1; // offset 32: not the first fragment
        assert_eq!(Quoted::parse(&v6), Err(Error::Unsupported));
        assert_eq!(Quoted::parse(&v6[..47]), Err(Error::Truncated));
        assert_eq!(Quoted::parse(&[0x20; 40]), Err(Error::Malformed));
        for pre in prefixes(&v4, 0) {
            let _ = Quoted::parse(pre);
        }
    }
}
