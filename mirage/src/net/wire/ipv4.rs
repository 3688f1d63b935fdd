//! IPv4 (RFC 791) headers. Options are not interpreted but are length-checked
//! and skipped; `emit` writes a 20-byte header without options.

use super::{Error, Field, checksum, get_ipv4, get_u16, set_u16, sub, sub_mut};
use core::net::Ipv4Addr;

/// The protocol an IPv4 packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// ICMP (1).
    Icmp,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(v: u8) -> Self {
        match v {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        match p {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Unknown(other) => other,
        }
    }
}

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC: Field = 12..16;
    pub const DST: Field = 16..20;
}

/// The length of a header without options.
pub const HEADER_LEN: usize = field::DST.end;
/// The largest payload a header without options allows.
pub const MAX_PAYLOAD_LEN: usize = 0xffff - HEADER_LEN;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view over an IPv4 packet.
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

    /// Check that the buffer holds the fixed header, that the header length
    /// (IHL) is at least 20 and fits in the total length, and that the total
    /// length fits in the buffer (bytes after it, such as link-layer padding,
    /// are ignored).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || total_len < header_len {
            Err(Error::Malformed)
        } else if total_len > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL times 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP and ECN byte (former type of service).
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The total length field (header and payload).
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// The more-fragments flag.
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// The fragment offset in bytes (the field times 8).
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// The time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> Protocol {
        self.buffer.as_ref()[field::PROTOCOL].into()
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SRC)
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::DST)
    }

    /// The options (between the fixed header and the header length); empty
    /// if the header length does not fit in the buffer.
    pub fn options(&self) -> &[u8] {
        sub(
            self.buffer.as_ref(),
            HEADER_LEN..usize::from(self.header_len()),
        )
    }

    /// Whether the header checksum is right (false if the header does not
    /// fit in the buffer).
    pub fn verify_checksum(&self) -> bool {
        let d = self.buffer.as_ref();
        match d.get(..usize::from(self.header_len())) {
            Some(h) => checksum::data(h) == 0xffff,
            None => false,
        }
    }

    /// The payload: from the header length to the total length (empty if
    /// those do not fit in the buffer).
    pub fn payload(&self) -> &[u8] {
        sub(
            self.buffer.as_ref(),
            usize::from(self.header_len())..usize::from(self.total_len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the version.
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Set the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    /// Set the DSCP and ECN byte.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Set the total length.
    pub fn set_total_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Set the identification.
    pub fn set_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, v);
    }

    fn set_flg_off(&mut self, mask: u16, bits: u16) {
        let d = self.buffer.as_mut();
        let v = (get_u16(d, field::FLG_OFF) & !mask) | (bits & mask);
        set_u16(d, field::FLG_OFF, v);
    }

    /// Set the don't-fragment flag.
    pub fn set_dont_frag(&mut self, v: bool) {
        self.set_flg_off(FLAG_DF, if v { FLAG_DF } else { 0 });
    }

    /// Set the more-fragments flag.
    pub fn set_more_frags(&mut self, v: bool) {
        self.set_flg_off(FLAG_MF, if v { FLAG_MF } else { 0 });
    }

    /// Set the fragment offset in bytes (rounded down to a multiple of 8).
    pub fn set_frag_offset(&mut self, bytes: u16) {
        self.set_flg_off(OFFSET_MASK, bytes >> 3);
    }

    /// Set the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Set the protocol.
    pub fn set_protocol(&mut self, p: Protocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Compute and write the header checksum (over the header length, or the
    /// fixed header if the header length does not fit).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = usize::from(self.header_len());
        let d = self.buffer.as_ref();
        let sum = checksum::data(d.get(..hl).unwrap_or(&d[..HEADER_LEN]));
        self.set_checksum(!sum);
    }

    /// The payload, mutably (empty if the lengths do not fit).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        sub_mut(self.buffer.as_mut(), range)
    }
}

/// A parsed IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: Protocol,
    /// Time to live.
    pub ttl: u8,
    /// The DSCP and ECN byte (former type of service, RFC 2474 and RFC
    /// 3168): the DiffServ codepoint in the high 6 bits, ECN in the low 2.
    pub dscp_ecn: u8,
    /// Length of the payload in bytes (at most [`MAX_PAYLOAD_LEN`]).
    pub payload_len: usize,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_fragment: bool,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Repr {
    /// Parse a packet: checks lengths, version and header checksum.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::Malformed);
        }
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            // check_len: header_len <= total_len.
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            ident: packet.ident(),
            dont_fragment: packet.dont_frag(),
            more_fragments: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// The length of the header `emit` writes (20 bytes, no options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The length of the whole packet: header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the header (with its checksum); the payload is the caller's to
    /// fill through [`Packet::payload_mut`].
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`]. `payload_len` above
    /// [`MAX_PAYLOAD_LEN`] is clamped.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        // On the path of every datagram sent: the checksum is summed from
        // the fields in registers and the header written as whole words.
        // (Writing it bytewise and summing it back from memory made the
        // loads wait for the narrower stores: store-forwarding stalls.)
        let total = u16::try_from(self.buffer_len()).unwrap_or(u16::MAX);
        let flags_offset = (u16::from(self.dont_fragment) << 14)
            | (u16::from(self.more_fragments) << 13)
            | ((self.frag_offset >> 3) & 0x1fff);
        let ver_ihl = 0x40 | (HEADER_LEN as u32 / 4);
        let ver_tos = (ver_ihl << 8) | u32::from(self.dscp_ecn);
        let w0 = (ver_tos << 16) | u32::from(total);
        let w1 = (u32::from(self.ident) << 16) | u32::from(flags_offset);
        let ttl_proto = (u32::from(self.ttl) << 8) | u32::from(u8::from(self.protocol));
        let src = u32::from(self.src_addr);
        let dst = u32::from(self.dst_addr);
        let halves = |w: u32| u64::from(w >> 16) + u64::from(w & 0xffff);
        let mut sum = u64::from(ver_tos + u32::from(total))
            + halves(w1)
            + u64::from(ttl_proto)
            + halves(src)
            + halves(dst);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let w2 = (ttl_proto << 16) | u32::from(!(sum as u16));
        let head = (u64::from(w0) << 32) | u64::from(w1);
        let mid = (u64::from(w2) << 32) | u64::from(src);
        let buf = &mut packet.buffer.as_mut()[..HEADER_LEN];
        buf[..8].copy_from_slice(&head.to_be_bytes());
        buf[8..16].copy_from_slice(&mid.to_be_bytes());
        buf[16..].copy_from_slice(&dst.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec::Vec;

    // A UDP datagram header from 192.168.0.1 to 192.168.0.199, total length
    // 115, DF, TTL 64, checksum 0xb861 (the well-known worked example).
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn packet() -> Vec<u8> {
        let mut v = HEADER.to_vec();
        v.extend((0..95u8).map(|i| i.wrapping_mul(7) | 1));
        v
    }

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(192, 168, 0, 1),
            dst_addr: Ipv4Addr::new(192, 168, 0, 199),
            protocol: Protocol::Udp,
            ttl: 64,
            dscp_ecn: 0,
            payload_len: 95,
            ident: 0,
            dont_fragment: true,
            more_fragments: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn parse_known_good() {
        let bytes = packet();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(p.payload(), &bytes[20..]);
        assert!(p.options().is_empty());
    }

    #[test]
    fn emit_byte_identical() {
        let bytes = packet();
        let mut buf = alloc::vec![0u8; repr().buffer_len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut p);
        p.payload_mut().copy_from_slice(&bytes[20..]);
        assert_eq!(buf, bytes);
    }

    /// The DSCP and ECN byte is written at byte 1, covered by the header
    /// checksum, and parsed back (RFC 2474: the DiffServ field).
    #[test]
    fn the_dscp_ecn_byte_is_written_checksummed_and_parsed() {
        for v in [0xb8, 0xff, 0x01, 0x04] {
            let r = Repr {
                dscp_ecn: v,
                ..repr()
            };
            let mut buf = alloc::vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(buf[1], v);
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert!(p.verify_checksum(), "{v:#x}");
            assert_eq!(p.dscp_ecn(), v);
            assert_eq!(Repr::parse(&p), Ok(r));
            // The known-good header with the byte set and its checksum
            // filled the slow way: the same bytes.
            let mut slow = HEADER.to_vec();
            slow[1] = v;
            let mut sp = Packet::new_unchecked(&mut slow[..]);
            sp.fill_checksum();
            assert_eq!(&buf[..HEADER_LEN], &slow[..], "{v:#x}");
        }
    }

    #[test]
    fn round_trip_fragment() {
        let r = Repr {
            protocol: Protocol::Unknown(99),
            dont_fragment: false,
            more_fragments: true,
            frag_offset: 1480 * 3,
            ident: 0xbeef,
            payload_len: 0,
            ..repr()
        };
        let mut buf = alloc::vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(r));
    }

    #[test]
    fn options_skipped() {
        // IHL 6 with a router alert option.
        let mut b = alloc::vec![0x46, 0, 0, 28, 0, 1, 0, 0, 1, 1, 0, 0];
        b.extend([
            10, 0, 0, 1, 10, 0, 0, 2, 0x94, 0x04, 0, 0, 0xde, 0xad, 0xbe, 0xef,
        ]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r.payload_len, 4);
        assert_eq!(r.protocol, Protocol::Icmp);
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn truncated() {
        let bytes = packet();
        for pre in prefixes(&bytes, 0) {
            assert!(Packet::new_checked(pre).is_err());
            let p = Packet::new_unchecked(pre);
            if pre.len() >= HEADER_LEN {
                // Accessors of a too-short packet do not panic either.
                let _ = (p.payload(), p.options(), p.verify_checksum());
            }
        }
        // Trailing padding beyond the total length is allowed.
        let mut padded = bytes.clone();
        padded.extend([0; 6]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), repr());
        assert_eq!(p.payload().len(), 95);
    }

    #[test]
    fn lying_lengths() {
        let bytes = packet();
        // Total length larger than the buffer.
        let mut b = bytes.clone();
        b[3] = 0x74;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        // IHL below 5.
        for ihl in 0..5 {
            let mut b = bytes.clone();
            b[0] = 0x40 | ihl;
            assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        }
        // Header length past the total length.
        let mut b = bytes.clone();
        b[2] = 0;
        b[3] = 16;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
        // IHL 15 (60 bytes) in a 40-byte packet.
        let mut b = bytes[..40].to_vec();
        b[0] = 0x4f;
        b[3] = 40;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn bad_checksum_and_version() {
        let mut b = packet();
        b[11] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Checksum));
        let mut b = packet();
        b[0] = 0x65;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Malformed));
    }
}
