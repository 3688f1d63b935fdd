//! IPv6 (RFC 8200): the fixed 40-byte header, and a walk over the extension
//! headers (hop-by-hop options, routing, destination options, fragment)
//! that finds the upper-layer protocol and the fragment header.

use super::{Error, Field, get_ipv6, get_u16, get_u32, set_u16, set_u32, sub, sub_mut};
use core::net::Ipv6Addr;

/// The value of a next-header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextHeader {
    /// Hop-by-hop options (0).
    HopByHop,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// Routing header (43).
    Routing,
    /// Fragment header (44).
    Fragment,
    /// ICMPv6 (58).
    Icmpv6,
    /// No next header (59).
    NoNextHeader,
    /// Destination options (60).
    DestOptions,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for NextHeader {
    fn from(v: u8) -> Self {
        match v {
            0 => NextHeader::HopByHop,
            6 => NextHeader::Tcp,
            17 => NextHeader::Udp,
            43 => NextHeader::Routing,
            44 => NextHeader::Fragment,
            58 => NextHeader::Icmpv6,
            59 => NextHeader::NoNextHeader,
            60 => NextHeader::DestOptions,
            other => NextHeader::Unknown(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(n: NextHeader) -> u8 {
        match n {
            NextHeader::HopByHop => 0,
            NextHeader::Tcp => 6,
            NextHeader::Udp => 17,
            NextHeader::Routing => 43,
            NextHeader::Fragment => 44,
            NextHeader::Icmpv6 => 58,
            NextHeader::NoNextHeader => 59,
            NextHeader::DestOptions => 60,
            NextHeader::Unknown(other) => other,
        }
    }
}

mod field {
    use super::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Field = 8..24;
    pub const DST: Field = 24..40;
}

/// The length of the fixed header.
pub const HEADER_LEN: usize = field::DST.end;

/// A view over an IPv6 packet.
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

    /// Check that the buffer holds the fixed header and the payload length
    /// it declares (bytes after that are ignored).
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || HEADER_LEN + usize::from(self.payload_len()) > len {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// The traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// The flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// The payload length (extension headers included).
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The next header of the fixed header.
    pub fn next_header(&self) -> NextHeader {
        self.buffer.as_ref()[field::NXT_HDR].into()
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        get_ipv6(self.buffer.as_ref(), field::SRC)
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        get_ipv6(self.buffer.as_ref(), field::DST)
    }

    /// The payload as the payload length delimits it (empty if that does
    /// not fit in the buffer).
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        sub(self.buffer.as_ref(), HEADER_LEN..end)
    }

    /// The extension headers at the start of the payload.
    pub fn ext_headers(&self) -> ExtHeaders<'_> {
        ExtHeaders::new(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_ver_tc_flow(&mut self, mask: u32, bits: u32) {
        let d = self.buffer.as_mut();
        let v = (get_u32(d, field::VER_TC_FLOW) & !mask) | (bits & mask);
        set_u32(d, field::VER_TC_FLOW, v);
    }

    /// Set the version.
    pub fn set_version(&mut self, v: u8) {
        self.set_ver_tc_flow(0xf000_0000, u32::from(v) << 28);
    }

    /// Set the traffic class.
    pub fn set_traffic_class(&mut self, v: u8) {
        self.set_ver_tc_flow(0x0ff0_0000, u32::from(v) << 20);
    }

    /// Set the flow label (the low 20 bits of `v`).
    pub fn set_flow_label(&mut self, v: u32) {
        self.set_ver_tc_flow(0x000f_ffff, v);
    }

    /// Set the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }

    /// Set the next header.
    pub fn set_next_header(&mut self, v: NextHeader) {
        self.buffer.as_mut()[field::NXT_HDR] = v.into();
    }

    /// Set the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Set the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Set the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        sub_mut(self.buffer.as_mut(), HEADER_LEN..end)
    }
}

/// A parsed IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// The next header of the fixed header.
    pub next_header: NextHeader,
    /// Hop limit.
    pub hop_limit: u8,
    /// Payload length (extension headers included).
    pub payload_len: usize,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Parse the fixed header: checks lengths and version.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::Malformed);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            hop_limit: packet.hop_limit(),
            payload_len: usize::from(packet.payload_len()),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// The length of the whole packet: fixed header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Write the fixed header; the payload is the caller's to fill.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`]. A `payload_len` above
    /// 65535 is clamped.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

/// The length of a fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// A parsed fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentHeader {
    /// The header after this one.
    pub next_header: NextHeader,
    /// Offset of this fragment in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// The M flag: more fragments follow.
    pub more_fragments: bool,
    /// Identification.
    pub ident: u32,
}

impl FragmentHeader {
    /// Parse a fragment header from the start of `data`.
    pub fn parse(data: &[u8]) -> Result<FragmentHeader, Error> {
        let h = data.get(..FRAGMENT_HEADER_LEN).ok_or(Error::Truncated)?;
        let off = get_u16(h, 2..4);
        Ok(FragmentHeader {
            next_header: h[0].into(),
            frag_offset: off & 0xfff8,
            more_fragments: off & 1 != 0,
            ident: get_u32(h, 4..8),
        })
    }

    /// The length `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        FRAGMENT_HEADER_LEN
    }

    /// Write the header.
    ///
    /// # Panics
    /// If `data` is shorter than [`FRAGMENT_HEADER_LEN`].
    pub fn emit(&self, data: &mut [u8]) {
        data[0] = self.next_header.into();
        data[1] = 0;
        set_u16(
            data,
            2..4,
            (self.frag_offset & 0xfff8) | u16::from(self.more_fragments),
        );
        set_u32(data, 4..8, self.ident);
    }
}

/// One extension header found by [`ExtHeaders`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtHeader<'a> {
    /// Which extension header this is.
    pub kind: NextHeader,
    /// The header after this one.
    pub next_header: NextHeader,
    /// The whole header, its first two bytes included.
    pub data: &'a [u8],
    /// Its offset in the IPv6 payload.
    pub offset: usize,
}

impl ExtHeader<'_> {
    /// The fragment header, if this is one.
    pub fn fragment(&self) -> Option<FragmentHeader> {
        match self.kind {
            NextHeader::Fragment => FragmentHeader::parse(self.data).ok(),
            _ => None,
        }
    }
}

/// Whether a next-header value names an extension header [`ExtHeaders`]
/// walks over.
pub fn is_ext_header(n: NextHeader) -> bool {
    matches!(
        n,
        NextHeader::HopByHop | NextHeader::Routing | NextHeader::DestOptions | NextHeader::Fragment
    )
}

/// An iterator over the extension headers at the start of an IPv6 payload.
/// It yields each header, or one error (then stops): `Truncated` if a header
/// runs past the payload, `Malformed` if hop-by-hop options are not first.
#[derive(Debug, Clone)]
pub struct ExtHeaders<'a> {
    next: NextHeader,
    payload: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> ExtHeaders<'a> {
    /// Walk `payload`, whose first header is `first` (the fixed header's
    /// next header).
    pub fn new(first: NextHeader, payload: &'a [u8]) -> ExtHeaders<'a> {
        ExtHeaders {
            next: first,
            payload,
            offset: 0,
            failed: false,
        }
    }

    /// Walk every extension header and return the upper layer.
    pub fn upper_layer(mut self) -> Result<UpperLayer<'a>, Error> {
        let mut fragment = None;
        for h in &mut self {
            let h = h?;
            if let Some(f) = h.fragment() {
                fragment = Some(f);
            }
        }
        Ok(UpperLayer {
            protocol: self.next,
            offset: self.offset,
            payload: sub(self.payload, self.offset..self.payload.len()),
            fragment,
        })
    }
}

impl<'a> Iterator for ExtHeaders<'a> {
    type Item = Result<ExtHeader<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || !is_ext_header(self.next) {
            return None;
        }
        let kind = self.next;
        let rest = sub(self.payload, self.offset..self.payload.len());
        let result = (|| {
            if kind == NextHeader::HopByHop && self.offset != 0 {
                return Err(Error::Malformed);
            }
            let len = match kind {
                NextHeader::Fragment => FRAGMENT_HEADER_LEN,
                _ => (usize::from(*rest.get(1).ok_or(Error::Truncated)?) + 1) * 8,
            };
            let data = rest.get(..len).ok_or(Error::Truncated)?;
            Ok(ExtHeader {
                kind,
                next_header: data[0].into(),
                data,
                offset: self.offset,
            })
        })();
        match result {
            Ok(h) => {
                self.next = h.next_header;
                self.offset += h.data.len();
                Some(Ok(h))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// What follows the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// The upper-layer protocol (the last next header).
    pub protocol: NextHeader,
    /// Its offset in the IPv6 payload.
    pub offset: usize,
    /// The upper-layer data.
    pub payload: &'a [u8],
    /// The (last) fragment header seen, if any.
    pub fragment: Option<FragmentHeader>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;
    use alloc::vec::Vec;

    // fe80::1 -> ff02::1, hop limit 255, traffic class 0xb8, flow label
    // 0x12345, with a hop-by-hop header (router alert), a fragment header
    // and 4 bytes of ICMPv6.
    fn packet() -> Vec<u8> {
        let mut v = vec![0x6b, 0x81, 0x23, 0x45, 0x00, 0x14, 0x00, 0xff];
        v.extend([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        // Hop-by-hop: next = fragment, len 0, router alert option, PadN 0.
        v.extend([44, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        // Fragment: next = ICMPv6, offset 185*8, M, ident 0xdeadbeef.
        v.extend([58, 0, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef]);
        v.extend([0x80, 0, 0x12, 0x34]);
        v
    }

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            dst_addr: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            next_header: NextHeader::HopByHop,
            hop_limit: 255,
            payload_len: 20,
            traffic_class: 0xb8,
            flow_label: 0x12345,
        }
    }

    #[test]
    fn parse_and_emit_known_good() {
        let bytes = packet();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr()));
        let mut buf = vec![0u8; repr().buffer_len()];
        let mut q = Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut q);
        q.payload_mut().copy_from_slice(&bytes[40..]);
        assert_eq!(buf, bytes);
    }

    #[test]
    fn walk_ext_headers() {
        let bytes = packet();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let hs: Vec<_> = p.ext_headers().collect::<Result<_, _>>().unwrap();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].kind, NextHeader::HopByHop);
        assert_eq!(hs[1].offset, 8);
        let up = p.ext_headers().upper_layer().unwrap();
        assert_eq!(up.protocol, NextHeader::Icmpv6);
        assert_eq!(up.offset, 16);
        assert_eq!(up.payload, &[0x80, 0, 0x12, 0x34]);
        let f = up.fragment.unwrap();
        assert_eq!(
            f,
            FragmentHeader {
                next_header: NextHeader::Icmpv6,
                frag_offset: 185 * 8,
                more_fragments: true,
                ident: 0xdeadbeef,
            }
        );
        let mut b = [0u8; 8];
        f.emit(&mut b);
        assert_eq!(&b[..], &bytes[48..56]);
    }

    #[test]
    fn ext_header_errors() {
        // Hop-by-hop not first.
        let e = ExtHeaders::new(NextHeader::DestOptions, &[0, 0, 1, 4, 0, 0, 0, 0, 6, 0]);
        assert_eq!(e.upper_layer().unwrap_err(), Error::Malformed);
        // Length past the end.
        let e = ExtHeaders::new(NextHeader::Routing, &[6, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(e.upper_layer().unwrap_err(), Error::Truncated);
        let e = ExtHeaders::new(NextHeader::Fragment, &[6, 0, 0]);
        assert_eq!(e.upper_layer().unwrap_err(), Error::Truncated);
        // Every truncation of the walk's input fails, never panics.
        let bytes = packet();
        for pre in prefixes(&bytes[40..56], 0) {
            assert!(
                ExtHeaders::new(NextHeader::HopByHop, pre)
                    .upper_layer()
                    .is_err()
            );
        }
        // No extension headers at all.
        let up = ExtHeaders::new(NextHeader::Udp, &[1, 2])
            .upper_layer()
            .unwrap();
        assert_eq!(
            (up.protocol, up.offset, up.payload),
            (NextHeader::Udp, 0, &[1u8, 2][..])
        );
    }

    #[test]
    fn truncated_and_lying_lengths() {
        let bytes = packet();
        for pre in prefixes(&bytes, 0) {
            assert_eq!(Packet::new_checked(pre).unwrap_err(), Error::Truncated);
            if pre.len() >= HEADER_LEN {
                let p = Packet::new_unchecked(pre);
                let _ = (p.payload(), p.ext_headers().upper_layer());
            }
        }
        let mut b = bytes.clone();
        b[5] = 21;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Truncated);
        let mut b = bytes.clone();
        b[0] = 0x4b;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn round_trip() {
        let r = Repr {
            next_header: NextHeader::Unknown(200),
            payload_len: 0,
            flow_label: 0xfffff,
            traffic_class: 0xff,
            ..repr()
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(r));
    }
}
