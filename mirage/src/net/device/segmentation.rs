//! TCP segmentation in software: what a NIC's TSO (or virtio-net's
//! `VIRTIO_NET_HDR_GSO_TCPV4` / `_TCPV6` on the host side) does with a
//! frame handed to [`super::Network::try_write_segmented`], for a device or
//! a wire that has to carry it as frames of at most the MTU.
//!
//! The segment is cut into pieces of `segment_size` payload bytes (the
//! last one shorter); each piece gets copies of the Ethernet, IP and TCP
//! headers (TCP options included, timestamps and SACK blocks as they are),
//! with:
//! - IPv4: the total length, an identification one higher per piece (as
//!   Linux's GSO) and the header checksum; IPv6: the payload length;
//! - TCP: the sequence number advanced by the piece's offset, FIN and PSH
//!   on the last piece only, CWR on the first only, the urgent pointer
//!   made relative to the piece (URG cleared on pieces past the urgent
//!   point), and the checksum over the piece.
//!
//! A segment whose payload fits one piece is passed on unchanged.

use super::ETHERNET_HEADER_LEN;
use crate::net::wire::checksum;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Why a frame could not be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentationError {
    /// Not one TCP segment in IPv4 or IPv6 (another protocol, an IPv4
    /// fragment, IPv6 extension headers), see
    /// [`super::is_tcp_segment`].
    NotTcp,
    /// A header is cut short, or a length field disagrees with the frame.
    Malformed,
    /// A segment size of 0.
    NoSegmentSize,
}

/// The TCP flags a piece may lose.
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const URG: u8 = 0x20;
const CWR: u8 = 0x80;

/// Where the parts of a frame of one TCP segment are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The IP header's length.
    pub ip_len: usize,
    /// Whether it is IPv6.
    pub v6: bool,
    /// The TCP header's length, options included.
    pub tcp_len: usize,
    /// The end of the IP packet in the frame (Ethernet padding excluded).
    pub end: usize,
}

impl Layout {
    /// Where the TCP header starts in the frame.
    pub fn tcp_at(&self) -> usize {
        ETHERNET_HEADER_LEN + self.ip_len
    }
}

/// The layout of `frame`, one TCP segment (Ethernet header first), its
/// lengths checked against each other and the frame.
pub fn layout(frame: &[u8]) -> Result<Layout, SegmentationError> {
    if !super::is_tcp_segment(frame) {
        return Err(SegmentationError::NotTcp);
    }
    let ip = &frame[ETHERNET_HEADER_LEN..];
    let v6 = ip[0] >> 4 == 6;
    let (ip_len, packet_len) = if v6 {
        (40, 40 + usize::from(u16::from_be_bytes([ip[4], ip[5]])))
    } else {
        (
            usize::from(ip[0] & 0x0f) * 4,
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
        )
    };
    if ip_len < 20 || packet_len > ip.len() || packet_len < ip_len + 20 {
        return Err(SegmentationError::Malformed);
    }
    let tcp = &ip[ip_len..packet_len];
    let tcp_len = usize::from(tcp[12] >> 4) * 4;
    if tcp_len < 20 || tcp_len > tcp.len() {
        return Err(SegmentationError::Malformed);
    }
    Ok(Layout {
        ip_len,
        v6,
        tcp_len,
        end: ETHERNET_HEADER_LEN + packet_len,
    })
}

/// Cuts `frame` (one TCP segment, Ethernet header first) into frames of at
/// most `segment_size` TCP payload bytes and hands each to `emit`, in
/// order; how many it handed. Nothing is handed when the frame is refused.
pub fn segment(
    frame: &[u8],
    segment_size: usize,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, SegmentationError> {
    if segment_size == 0 {
        return Err(SegmentationError::NoSegmentSize);
    }
    let l = layout(frame)?;
    let headers = ETHERNET_HEADER_LEN + l.ip_len + l.tcp_len;
    let payload = &frame[headers..l.end];
    if payload.len() <= segment_size {
        emit(&frame[..l.end]);
        return Ok(1);
    }
    let ip_at = ETHERNET_HEADER_LEN;
    let tcp_at = l.tcp_at();
    let seq = u32::from_be_bytes(frame[tcp_at + 4..tcp_at + 8].try_into().unwrap());
    let flags = frame[tcp_at + 13];
    let urgent = u16::from_be_bytes([frame[tcp_at + 18], frame[tcp_at + 19]]);
    let ident = u16::from_be_bytes([frame[ip_at + 4], frame[ip_at + 5]]);
    let mut piece = Vec::with_capacity(headers + segment_size);
    let count = payload.len().div_ceil(segment_size);
    for (i, chunk) in payload.chunks(segment_size).enumerate() {
        let offset = i * segment_size;
        piece.clear();
        piece.extend_from_slice(&frame[..headers]);
        piece.extend_from_slice(chunk);
        let tcp_total = l.tcp_len + chunk.len();
        // The IP header.
        if l.v6 {
            piece[ip_at + 4..ip_at + 6].copy_from_slice(&(tcp_total as u16).to_be_bytes());
        } else {
            let total = (l.ip_len + tcp_total) as u16;
            piece[ip_at + 2..ip_at + 4].copy_from_slice(&total.to_be_bytes());
            let id = ident.wrapping_add(i as u16);
            piece[ip_at + 4..ip_at + 6].copy_from_slice(&id.to_be_bytes());
            piece[ip_at + 10..ip_at + 12].fill(0);
            let sum = !checksum::data(&piece[ip_at..tcp_at]);
            piece[ip_at + 10..ip_at + 12].copy_from_slice(&sum.to_be_bytes());
        }
        // The TCP header.
        let tcp = &mut piece[tcp_at..];
        let piece_seq = seq.wrapping_add(offset as u32);
        tcp[4..8].copy_from_slice(&piece_seq.to_be_bytes());
        let mut f = flags;
        if i + 1 < count {
            f &= !(FIN | PSH);
        }
        if i > 0 {
            f &= !CWR;
        }
        let mut up = 0;
        if flags & URG != 0 && usize::from(urgent) > offset {
            up = urgent - offset as u16;
        } else {
            f &= !URG;
        }
        tcp[13] = f;
        tcp[18..20].copy_from_slice(&up.to_be_bytes());
        tcp[16..18].fill(0);
        let pseudo = pseudo_header(frame, l.v6, tcp_total);
        // (The TCP header's length is a multiple of 4: the payload's sum
        // adds in as it is.)
        let sum = !checksum::combine(&[
            pseudo,
            checksum::data(&tcp[..l.tcp_len]),
            checksum::data(chunk),
        ]);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());
        emit(&piece);
    }
    Ok(count)
}

/// The sum of the pseudo-header of a TCP segment of `tcp_total` bytes
/// with the addresses of `frame` (of IPv6 if `v6`, else IPv4).
pub fn pseudo_header(frame: &[u8], v6: bool, tcp_total: usize) -> u16 {
    let ip = &frame[ETHERNET_HEADER_LEN..];
    if v6 {
        let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&ip[at..at + 16]).unwrap());
        checksum::pseudo_header_v6(addr(8), addr(24), 6, tcp_total as u32)
    } else {
        let addr = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&ip[at..at + 4]).unwrap());
        checksum::pseudo_header_v4(addr(12), addr(16), 6, tcp_total as u16)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::net::MacAddr;
    use crate::net::wire::checksum::PseudoHeader;
    use crate::net::wire::ethernet::{self, EtherType};
    use crate::net::wire::tcp::{Flags, Options, Packet, Repr, SeqNumber};
    use crate::net::wire::{ipv4, ipv6};
    use alloc::vec;
    use core::net::IpAddr;

    /// The addresses of [`frame`]'s segments: from A to B.
    pub(crate) const A4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    pub(crate) const B4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    pub(crate) const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    pub(crate) const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

    /// A frame of one TCP segment from A to B carrying `payload`, with
    /// timestamps, `flags` and `urgent`.
    pub(crate) fn frame(v6: bool, payload: &[u8], flags: Flags, urgent: u16) -> Vec<u8> {
        let repr = Repr {
            src_port: 5000,
            dst_port: 80,
            seq: SeqNumber(0xffff_f000),
            ack: SeqNumber(77),
            flags,
            window: 512,
            urgent,
            options: Options {
                timestamp: Some((1, 2)),
                ..Options::default()
            },
            payload,
        };
        let tcp_len = repr.header_len() + payload.len();
        let (src, dst, ip_len) = if v6 {
            (IpAddr::V6(A6), IpAddr::V6(B6), 40)
        } else {
            (IpAddr::V4(A4), IpAddr::V4(B4), 20)
        };
        let mut f = vec![0u8; ETHERNET_HEADER_LEN + ip_len + tcp_len];
        ethernet::Repr {
            src_addr: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_addr: MacAddr([2, 0, 0, 0, 0, 2]),
            ethertype: if v6 { EtherType::Ipv6 } else { EtherType::Ipv4 },
        }
        .emit(&mut ethernet::Packet::new_unchecked(&mut f[..]));
        let ip = &mut f[ETHERNET_HEADER_LEN..];
        if v6 {
            ipv6::Repr {
                src_addr: A6,
                dst_addr: B6,
                next_header: ipv6::NextHeader::Tcp,
                hop_limit: 64,
                payload_len: tcp_len,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut ip[..]));
        } else {
            ipv4::Repr {
                src_addr: A4,
                dst_addr: B4,
                protocol: ipv4::Protocol::Tcp,
                ttl: 64,
                dscp_ecn: 0,
                payload_len: tcp_len,
                ident: 0xfffe,
                dont_fragment: true,
                more_fragments: false,
                frag_offset: 0,
            }
            .emit(&mut ipv4::Packet::new_unchecked(&mut ip[..]));
        }
        let mut p = Packet::new_unchecked(&mut ip[ip_len..]);
        repr.emit(&mut p, &PseudoHeader::new(src, dst).unwrap());
        f
    }

    /// Each piece checked (the IP header's checksum and lengths, TCP's
    /// checksum); the pieces' (seq, flags, urgent pointer, IPv4
    /// identification, timestamps) and their payloads joined.
    #[allow(clippy::type_complexity)]
    fn pieces(
        v6: bool,
        frame: &[u8],
        size: usize,
    ) -> (Vec<(u32, Flags, u16, u16, Option<(u32, u32)>)>, Vec<u8>) {
        let mut out = Vec::new();
        let mut joined = Vec::new();
        let n = segment(frame, size, |piece| {
            let ip = &piece[ETHERNET_HEADER_LEN..];
            let (tcp, ident, ph) = if v6 {
                let p = ipv6::Packet::new_checked(ip).unwrap();
                assert_eq!(40 + usize::from(p.payload_len()), ip.len());
                (&ip[40..], 0, PseudoHeader::V6(A6, B6))
            } else {
                let p = ipv4::Packet::new_checked(ip).unwrap();
                assert!(p.verify_checksum(), "IPv4 header checksum");
                assert_eq!(usize::from(p.total_len()), ip.len());
                (&ip[20..], p.ident(), PseudoHeader::V4(A4, B4))
            };
            let p = Packet::new_checked(tcp).unwrap();
            assert!(p.verify_checksum(&ph), "TCP checksum");
            let repr = Repr::parse(&p, &ph).unwrap();
            assert!(repr.payload.len() <= size);
            out.push((
                repr.seq.0,
                repr.flags,
                repr.urgent,
                ident,
                repr.options.timestamp,
            ));
            joined.extend_from_slice(repr.payload);
        })
        .unwrap();
        assert_eq!(n, out.len());
        (out, joined)
    }

    #[test]
    fn a_segment_is_cut_into_valid_pieces_of_the_size_asked() {
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        for v6 in [false, true] {
            let flags = Flags::ACK | Flags::PSH | Flags::FIN | Flags::CWR;
            let f = frame(v6, &payload, flags, 0);
            let (out, joined) = pieces(v6, &f, 1448);
            assert_eq!(joined, payload);
            assert_eq!(out.len(), 7);
            for (i, &(seq, fl, _, ident, ts)) in out.iter().enumerate() {
                // Sequence numbers advance (and wrap) by the pieces.
                assert_eq!(seq, 0xffff_f000u32.wrapping_add(i as u32 * 1448));
                assert_eq!(ts, Some((1, 2)));
                assert!(fl.ack());
                assert_eq!(fl.fin(), i == 6, "FIN on the last only");
                assert_eq!(fl.psh(), i == 6, "PSH on the last only");
                assert_eq!(fl.cwr(), i == 0, "CWR on the first only");
                if !v6 {
                    assert_eq!(ident, 0xfffeu16.wrapping_add(i as u16));
                }
            }
        }
    }

    #[test]
    fn a_segment_that_fits_passes_unchanged() {
        let f = frame(false, &[5; 1448], Flags::ACK | Flags::PSH, 0);
        let mut seen = Vec::new();
        assert_eq!(segment(&f, 1448, |p| seen.push(p.to_vec())), Ok(1));
        assert_eq!(seen, vec![f]);
    }

    #[test]
    fn the_urgent_pointer_follows_the_pieces() {
        // Urgent data ends 3,000 bytes in: pieces 0 and 1 point to it
        // (relative to their own sequence numbers), piece 2 and on have
        // passed it.
        let f = frame(false, &[1; 6000], Flags::ACK | Flags::URG, 3000);
        let (out, _) = pieces(false, &f, 1448);
        let urgent: Vec<(bool, u16)> = out.iter().map(|p| (p.1.urg(), p.2)).collect();
        assert_eq!(
            urgent,
            vec![
                (true, 3000),
                (true, 1552),
                (true, 104),
                (false, 0),
                (false, 0)
            ]
        );
    }

    #[test]
    fn frames_that_are_not_one_tcp_segment_are_refused() {
        let good = frame(false, &[1; 3000], Flags::ACK, 0);
        let refused = |f: &[u8], size: usize| {
            let mut called = false;
            let r = segment(f, size, |_| called = true);
            assert!(!called);
            r.unwrap_err()
        };
        assert_eq!(refused(&good, 0), SegmentationError::NoSegmentSize);
        let mut udp = good.clone();
        udp[ETHERNET_HEADER_LEN + 9] = 17;
        assert_eq!(refused(&udp, 1448), SegmentationError::NotTcp);
        // The IPv4 total length past the frame, a TCP data offset past
        // the segment or below 20 bytes.
        let mut long = good.clone();
        long[ETHERNET_HEADER_LEN + 2..ETHERNET_HEADER_LEN + 4]
            .copy_from_slice(&5000u16.to_be_bytes());
        assert_eq!(refused(&long, 1448), SegmentationError::Malformed);
        for offset in [0x40, 0xf0] {
            let mut bad = frame(false, &[], Flags::ACK, 0);
            bad[ETHERNET_HEADER_LEN + 20 + 12] = offset;
            assert_eq!(
                refused(&bad, 1448),
                SegmentationError::Malformed,
                "{offset:#x}"
            );
        }
        assert_eq!(refused(&good[..30], 1448), SegmentationError::NotTcp);
    }
}
