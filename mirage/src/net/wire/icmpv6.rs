//! ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861): echo request and
//! reply, destination unreachable, packet too big, router solicitation
//! and advertisement, neighbor solicitation and advertisement, and the NDP
//! options source/target link-layer address, prefix information and MTU.
//! The message is the whole buffer (pass the upper-layer payload); the
//! checksum covers it and the IPv6 pseudo-header.

use super::{Error, Field, checksum, get_ipv6, get_mac, get_u16, get_u32, set_u16, set_u32, sub};
use crate::net::MacAddr;
use core::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const PKT_TOO_BIG_MTU: Field = 4..8;
    pub const PARAM_PROBLEM_POINTER: Field = 4..8;
    pub const CUR_HOP_LIMIT: usize = 4;
    pub const ROUTER_FLAGS: usize = 5;
    pub const ROUTER_LIFETIME: Field = 6..8;
    pub const REACHABLE_TIME: Field = 8..12;
    pub const RETRANS_TIME: Field = 12..16;
    pub const NEIGHBOR_FLAGS: usize = 4;
    pub const TARGET_ADDR: Field = 8..24;
    pub const REDIRECT_DST: Field = 24..40;
}

/// The length of the ICMPv6 header (type, code, checksum and 4 bytes).
pub const HEADER_LEN: usize = 8;
/// The next-header value of ICMPv6.
pub const NEXT_HEADER: u8 = 58;

/// Message type: destination unreachable.
pub const TYPE_DST_UNREACHABLE: u8 = 1;
/// Message type: packet too big (RFC 4443 section 3.2; the link's MTU is in
/// the header, RFC 8201).
pub const TYPE_PKT_TOO_BIG: u8 = 2;
/// Message type: time exceeded (RFC 4443 section 3.3).
pub const TYPE_TIME_EXCEEDED: u8 = 3;
/// Message type: parameter problem (RFC 4443 section 3.4).
pub const TYPE_PARAM_PROBLEM: u8 = 4;
/// Message type: echo request.
pub const TYPE_ECHO_REQUEST: u8 = 128;
/// Message type: echo reply.
pub const TYPE_ECHO_REPLY: u8 = 129;
/// Message type: router solicitation.
pub const TYPE_ROUTER_SOLICIT: u8 = 133;
/// Message type: router advertisement.
pub const TYPE_ROUTER_ADVERT: u8 = 134;
/// Message type: neighbor solicitation.
pub const TYPE_NEIGHBOR_SOLICIT: u8 = 135;
/// Message type: neighbor advertisement.
pub const TYPE_NEIGHBOR_ADVERT: u8 = 136;
/// Message type: redirect (RFC 4861 section 4.5).
pub const TYPE_REDIRECT: u8 = 137;

const RS_OPTIONS: usize = 8;
const RA_OPTIONS: usize = 16;
const NEIGHBOR_OPTIONS: usize = 24;
const REDIRECT_OPTIONS: usize = 40;

const FLAG_MANAGED: u8 = 0x80;
const FLAG_OTHER: u8 = 0x40;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A view over an ICMPv6 message.
///
/// Fields of a message type the buffer is too short for read as zero.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking that it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn u16_at(&self, f: Field) -> u16 {
        self.buffer.as_ref().get(f).map_or(0, |b| get_u16(b, 0..2))
    }

    fn u32_at(&self, f: Field) -> u32 {
        self.buffer.as_ref().get(f).map_or(0, |b| get_u32(b, 0..4))
    }

    /// The message type.
    pub fn msg_type(&self) -> u8 {
        self.byte(field::TYPE)
    }

    /// The message code.
    pub fn msg_code(&self) -> u8 {
        self.byte(field::CODE)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The echo identifier.
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::ECHO_IDENT)
    }

    /// The echo sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::ECHO_SEQNO)
    }

    /// The MTU of the next-hop link (packet too big).
    pub fn pkt_too_big_mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::PKT_TOO_BIG_MTU)
    }

    /// The offset of the problem in the invoking packet (parameter
    /// problem).
    pub fn param_problem_pointer(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::PARAM_PROBLEM_POINTER)
    }

    /// Router advertisement: the current hop limit.
    pub fn cur_hop_limit(&self) -> u8 {
        self.byte(field::CUR_HOP_LIMIT)
    }

    /// Router advertisement: the flags byte (M 0x80, O 0x40).
    pub fn router_flags(&self) -> u8 {
        self.byte(field::ROUTER_FLAGS)
    }

    /// Router advertisement: the router lifetime in seconds.
    pub fn router_lifetime(&self) -> u16 {
        self.u16_at(field::ROUTER_LIFETIME)
    }

    /// Router advertisement: the reachable time in milliseconds.
    pub fn reachable_time(&self) -> u32 {
        self.u32_at(field::REACHABLE_TIME)
    }

    /// Router advertisement: the retransmission timer in milliseconds.
    pub fn retrans_time(&self) -> u32 {
        self.u32_at(field::RETRANS_TIME)
    }

    /// Neighbor advertisement: the flags byte (R 0x80, S 0x40, O 0x20).
    pub fn neighbor_flags(&self) -> u8 {
        self.byte(field::NEIGHBOR_FLAGS)
    }

    /// Neighbor solicitation or advertisement: the target address.
    pub fn target_addr(&self) -> Ipv6Addr {
        self.buffer
            .as_ref()
            .get(field::TARGET_ADDR)
            .map_or(Ipv6Addr::UNSPECIFIED, |b| get_ipv6(b, 0..16))
    }

    /// The data after the 8-byte header (echo data, the invoking packet of
    /// an error, or the NDP body).
    pub fn data(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        sub(d, HEADER_LEN..d.len())
    }

    /// Whether the checksum over the pseudo-header and message is right.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        sum(self.buffer.as_ref(), src, dst) == 0xffff
    }
}

fn sum(msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
    checksum::combine(&[
        checksum::pseudo_header_v6(src, dst, NEXT_HEADER, len),
        checksum::data(msg),
    ])
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the message type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the message code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Compute and write the checksum.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let s = sum(self.buffer.as_ref(), src, dst);
        self.set_checksum(!s);
    }

    /// The data after the 8-byte header, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let d = self.buffer.as_mut();
        let len = d.len();
        super::sub_mut(d, HEADER_LEN..len)
    }
}

/// The prefix information option (RFC 4861 section 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixInfo {
    /// Prefix length in bits (at most 128).
    pub prefix_len: u8,
    /// L flag: the prefix is on-link.
    pub on_link: bool,
    /// A flag: the prefix may be used for autonomous address
    /// configuration.
    pub autonomous: bool,
    /// Valid lifetime in seconds.
    pub valid_lifetime: u32,
    /// Preferred lifetime in seconds.
    pub preferred_lifetime: u32,
    /// The prefix.
    pub prefix: Ipv6Addr,
}

/// Option type: source link-layer address.
pub const OPT_SOURCE_LLADDR: u8 = 1;
/// Option type: target link-layer address.
pub const OPT_TARGET_LLADDR: u8 = 2;
/// Option type: prefix information.
pub const OPT_PREFIX_INFO: u8 = 3;
/// Option type: MTU.
pub const OPT_MTU: u8 = 5;

/// A parsed NDP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscOption<'a> {
    /// Source link-layer address (an Ethernet address).
    SourceLinkLayerAddr(MacAddr),
    /// Target link-layer address (an Ethernet address).
    TargetLinkLayerAddr(MacAddr),
    /// Prefix information.
    PrefixInformation(PrefixInfo),
    /// MTU.
    Mtu(u32),
    /// Any other option, skipped by [`Repr::parse`].
    Unknown {
        /// Option type.
        kind: u8,
        /// The whole option, type and length bytes included.
        data: &'a [u8],
    },
}

impl NdiscOption<'_> {
    /// The length `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        match self {
            NdiscOption::SourceLinkLayerAddr(_)
            | NdiscOption::TargetLinkLayerAddr(_)
            | NdiscOption::Mtu(_) => 8,
            NdiscOption::PrefixInformation(_) => 32,
            NdiscOption::Unknown { data, .. } => data.len(),
        }
    }

    /// Write the option at the start of `buf`.
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        buf.fill(0);
        let (kind, units) = match self {
            NdiscOption::SourceLinkLayerAddr(_) => (OPT_SOURCE_LLADDR, 1),
            NdiscOption::TargetLinkLayerAddr(_) => (OPT_TARGET_LLADDR, 1),
            NdiscOption::Mtu(_) => (OPT_MTU, 1),
            NdiscOption::PrefixInformation(_) => (OPT_PREFIX_INFO, 4),
            NdiscOption::Unknown { data, .. } => {
                buf.copy_from_slice(data);
                return;
            }
        };
        buf[0] = kind;
        buf[1] = units;
        match self {
            NdiscOption::SourceLinkLayerAddr(m) | NdiscOption::TargetLinkLayerAddr(m) => {
                buf[2..8].copy_from_slice(&m.0)
            }
            NdiscOption::Mtu(mtu) => set_u32(buf, 4..8, *mtu),
            NdiscOption::PrefixInformation(p) => {
                buf[2] = p.prefix_len;
                buf[3] = if p.on_link { 0x80 } else { 0 } | if p.autonomous { 0x40 } else { 0 };
                set_u32(buf, 4..8, p.valid_lifetime);
                set_u32(buf, 8..12, p.preferred_lifetime);
                buf[16..32].copy_from_slice(&p.prefix.octets());
            }
            NdiscOption::Unknown { .. } => {}
        }
    }
}

/// An iterator over the NDP options of a message body. It yields each
/// option, or one error (then stops): `Malformed` for a zero length or a
/// known option of the wrong length, `Truncated` for one that runs past the
/// end.
#[derive(Debug, Clone)]
pub struct NdiscOptions<'a> {
    rest: &'a [u8],
}

impl<'a> NdiscOptions<'a> {
    /// Iterate over the options in `data`.
    pub fn new(data: &'a [u8]) -> NdiscOptions<'a> {
        NdiscOptions { rest: data }
    }

    fn parse_one(&self) -> Result<(NdiscOption<'a>, usize), Error> {
        let rest = self.rest;
        let units = *rest.get(1).ok_or(Error::Truncated)?;
        if units == 0 {
            return Err(Error::Malformed);
        }
        let len = usize::from(units) * 8;
        let o = rest.get(..len).ok_or(Error::Truncated)?;
        let kind = o[0];
        let opt = match (kind, units) {
            (OPT_SOURCE_LLADDR, _) => NdiscOption::SourceLinkLayerAddr(get_mac(o, 2..8)),
            (OPT_TARGET_LLADDR, _) => NdiscOption::TargetLinkLayerAddr(get_mac(o, 2..8)),
            (OPT_MTU, 1) => NdiscOption::Mtu(get_u32(o, 4..8)),
            (OPT_PREFIX_INFO, 4) => {
                let prefix_len = o[2];
                if prefix_len > 128 {
                    return Err(Error::Malformed);
                }
                NdiscOption::PrefixInformation(PrefixInfo {
                    prefix_len,
                    on_link: o[3] & 0x80 != 0,
                    autonomous: o[3] & 0x40 != 0,
                    valid_lifetime: get_u32(o, 4..8),
                    preferred_lifetime: get_u32(o, 8..12),
                    prefix: get_ipv6(o, 16..32),
                })
            }
            (OPT_MTU | OPT_PREFIX_INFO, _) => return Err(Error::Malformed),
            _ => NdiscOption::Unknown { kind, data: o },
        };
        Ok((opt, len))
    }
}

impl<'a> Iterator for NdiscOptions<'a> {
    type Item = Result<NdiscOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match self.parse_one() {
            Ok((opt, len)) => {
                self.rest = sub(self.rest, len..self.rest.len());
                Some(Ok(opt))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// A parsed ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data echoed back.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Code (0 no route, 1 prohibited, 3 address, 4 port, ...).
        code: u8,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Packet too big (RFC 4443 section 3.2; its code, 0, is ignored on
    /// receipt).
    PktTooBig {
        /// The MTU of the link the packet did not fit.
        mtu: u32,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Time exceeded (RFC 4443 section 3.3).
    TimeExceeded {
        /// Code (0 hop limit exceeded in transit, 1 fragment reassembly
        /// time exceeded).
        code: u8,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Parameter problem (RFC 4443 section 3.4).
    ParamProblem {
        /// Code (0 erroneous header field, 1 unrecognized next header, 2
        /// unrecognized option, ...).
        code: u8,
        /// The offset in the invoking packet where the problem was found.
        pointer: u32,
        /// As much of the invoking packet as fits.
        data: &'a [u8],
    },
    /// Router solicitation.
    RouterSolicit {
        /// Source link-layer address option.
        lladdr: Option<MacAddr>,
    },
    /// Router advertisement.
    RouterAdvert {
        /// Current hop limit (0: unspecified).
        hop_limit: u8,
        /// M flag: addresses are available via DHCPv6.
        managed: bool,
        /// O flag: other configuration is available via DHCPv6.
        other: bool,
        /// Router lifetime in seconds (0: not a default router).
        router_lifetime: u16,
        /// Reachable time in milliseconds.
        reachable_time: u32,
        /// Retransmission timer in milliseconds.
        retrans_time: u32,
        /// Source link-layer address option.
        lladdr: Option<MacAddr>,
        /// MTU option.
        mtu: Option<u32>,
        /// Prefix information option (the first one).
        prefix_info: Option<PrefixInfo>,
    },
    /// Neighbor solicitation.
    NeighborSolicit {
        /// The address being resolved.
        target_addr: Ipv6Addr,
        /// Source link-layer address option.
        lladdr: Option<MacAddr>,
    },
    /// Redirect (RFC 4861 section 4.5).
    Redirect {
        /// The better first hop: a router's link-local address, or the
        /// destination itself when it is on the link.
        target_addr: Ipv6Addr,
        /// The destination redirected.
        dst_addr: Ipv6Addr,
        /// Target link-layer address option (the redirected header option
        /// is skipped).
        lladdr: Option<MacAddr>,
    },
    /// Neighbor advertisement.
    NeighborAdvert {
        /// R flag: the sender is a router.
        router: bool,
        /// S flag: sent in response to a solicitation.
        solicited: bool,
        /// O flag: override an existing cache entry.
        override_: bool,
        /// The advertised address.
        target_addr: Ipv6Addr,
        /// Target link-layer address option.
        lladdr: Option<MacAddr>,
    },
}

/// What `Repr::parse` keeps from a message's NDP options.
#[derive(Default)]
struct Opts {
    source: Option<MacAddr>,
    target: Option<MacAddr>,
    mtu: Option<u32>,
    prefix: Option<PrefixInfo>,
}

fn parse_opts(data: &[u8]) -> Result<Opts, Error> {
    let mut o = Opts::default();
    for opt in NdiscOptions::new(data) {
        match opt? {
            NdiscOption::SourceLinkLayerAddr(m) => o.source = o.source.or(Some(m)),
            NdiscOption::TargetLinkLayerAddr(m) => o.target = o.target.or(Some(m)),
            NdiscOption::Mtu(m) => o.mtu = o.mtu.or(Some(m)),
            NdiscOption::PrefixInformation(p) => o.prefix = o.prefix.or(Some(p)),
            NdiscOption::Unknown { .. } => {}
        }
    }
    Ok(o)
}

impl<'a> Repr<'a> {
    /// Parse a message sent from `src` to `dst`: checks the checksum, the
    /// type and code, the NDP body lengths and options (unknown options
    /// are skipped). Other types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let from =
            |start: usize| -> Result<&'a [u8], Error> { buf.get(start..).ok_or(Error::Truncated) };
        let (t, code) = (packet.msg_type(), packet.msg_code());
        let ndp = (TYPE_ROUTER_SOLICIT..=TYPE_REDIRECT).contains(&t);
        if (ndp || t == TYPE_ECHO_REQUEST || t == TYPE_ECHO_REPLY) && code != 0 {
            return Err(Error::Malformed);
        }
        match t {
            TYPE_ECHO_REQUEST => Ok(Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: from(HEADER_LEN)?,
            }),
            TYPE_ECHO_REPLY => Ok(Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data: from(HEADER_LEN)?,
            }),
            TYPE_DST_UNREACHABLE => Ok(Repr::DstUnreachable {
                code,
                data: from(HEADER_LEN)?,
            }),
            TYPE_PKT_TOO_BIG => Ok(Repr::PktTooBig {
                mtu: packet.pkt_too_big_mtu(),
                data: from(HEADER_LEN)?,
            }),
            TYPE_TIME_EXCEEDED => Ok(Repr::TimeExceeded {
                code,
                data: from(HEADER_LEN)?,
            }),
            TYPE_PARAM_PROBLEM => Ok(Repr::ParamProblem {
                code,
                pointer: packet.param_problem_pointer(),
                data: from(HEADER_LEN)?,
            }),
            TYPE_ROUTER_SOLICIT => Ok(Repr::RouterSolicit {
                lladdr: parse_opts(from(RS_OPTIONS)?)?.source,
            }),
            TYPE_ROUTER_ADVERT => {
                let o = parse_opts(from(RA_OPTIONS)?)?;
                let flags = packet.router_flags();
                Ok(Repr::RouterAdvert {
                    hop_limit: packet.cur_hop_limit(),
                    managed: flags & FLAG_MANAGED != 0,
                    other: flags & FLAG_OTHER != 0,
                    router_lifetime: packet.router_lifetime(),
                    reachable_time: packet.reachable_time(),
                    retrans_time: packet.retrans_time(),
                    lladdr: o.source,
                    mtu: o.mtu,
                    prefix_info: o.prefix,
                })
            }
            TYPE_NEIGHBOR_SOLICIT | TYPE_NEIGHBOR_ADVERT => {
                let o = parse_opts(from(NEIGHBOR_OPTIONS)?)?;
                let target_addr = packet.target_addr();
                if target_addr.is_multicast() {
                    return Err(Error::Malformed);
                }
                if t == TYPE_NEIGHBOR_SOLICIT {
                    return Ok(Repr::NeighborSolicit {
                        target_addr,
                        lladdr: o.source,
                    });
                }
                let flags = packet.neighbor_flags();
                Ok(Repr::NeighborAdvert {
                    router: flags & FLAG_ROUTER != 0,
                    solicited: flags & FLAG_SOLICITED != 0,
                    override_: flags & FLAG_OVERRIDE != 0,
                    target_addr,
                    lladdr: o.target,
                })
            }
            TYPE_REDIRECT => {
                let o = parse_opts(from(REDIRECT_OPTIONS)?)?;
                let dst_addr = get_ipv6(buf, field::REDIRECT_DST);
                if dst_addr.is_multicast() {
                    return Err(Error::Malformed);
                }
                Ok(Repr::Redirect {
                    target_addr: packet.target_addr(),
                    dst_addr,
                    lladdr: o.target,
                })
            }
            _ => Err(Error::Unsupported),
        }
    }

    fn options(&self) -> [Option<NdiscOption<'static>>; 3] {
        match *self {
            Repr::RouterSolicit { lladdr } | Repr::NeighborSolicit { lladdr, .. } => {
                [lladdr.map(NdiscOption::SourceLinkLayerAddr), None, None]
            }
            Repr::NeighborAdvert { lladdr, .. } | Repr::Redirect { lladdr, .. } => {
                [lladdr.map(NdiscOption::TargetLinkLayerAddr), None, None]
            }
            Repr::RouterAdvert {
                lladdr,
                mtu,
                prefix_info,
                ..
            } => [
                lladdr.map(NdiscOption::SourceLinkLayerAddr),
                mtu.map(NdiscOption::Mtu),
                prefix_info.map(NdiscOption::PrefixInformation),
            ],
            _ => [None, None, None],
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. }
            | Repr::EchoReply { data, .. }
            | Repr::DstUnreachable { data, .. }
            | Repr::PktTooBig { data, .. }
            | Repr::TimeExceeded { data, .. }
            | Repr::ParamProblem { data, .. } => HEADER_LEN + data.len(),
            Repr::RouterSolicit { .. } => RS_OPTIONS,
            Repr::RouterAdvert { .. } => RA_OPTIONS,
            Repr::NeighborSolicit { .. } | Repr::NeighborAdvert { .. } => NEIGHBOR_OPTIONS,
            Repr::Redirect { .. } => REDIRECT_OPTIONS,
        }
    }

    /// The length of the message `emit` writes.
    pub fn buffer_len(&self) -> usize {
        let opts: usize = self
            .options()
            .iter()
            .flatten()
            .map(|o| o.buffer_len())
            .sum();
        self.body_len() + opts
    }

    /// Write the message from `src` to `dst`, checksum included. NDP
    /// options are written in the order link-layer address, MTU, prefix
    /// information.
    ///
    /// # Panics
    /// If the buffer's length is not `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        let body_len = self.body_len();
        let buf = packet.buffer.as_mut();
        buf[..body_len].fill(0);
        let (t, code) = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                set_u16(buf, field::ECHO_IDENT, ident);
                set_u16(buf, field::ECHO_SEQNO, seq_no);
                buf[HEADER_LEN..body_len].copy_from_slice(data);
                let t = if matches!(self, Repr::EchoRequest { .. }) {
                    TYPE_ECHO_REQUEST
                } else {
                    TYPE_ECHO_REPLY
                };
                (t, 0)
            }
            Repr::DstUnreachable { code, data } => {
                buf[HEADER_LEN..body_len].copy_from_slice(data);
                (TYPE_DST_UNREACHABLE, code)
            }
            Repr::PktTooBig { mtu, data } => {
                set_u32(buf, field::PKT_TOO_BIG_MTU, mtu);
                buf[HEADER_LEN..body_len].copy_from_slice(data);
                (TYPE_PKT_TOO_BIG, 0)
            }
            Repr::TimeExceeded { code, data } => {
                buf[HEADER_LEN..body_len].copy_from_slice(data);
                (TYPE_TIME_EXCEEDED, code)
            }
            Repr::ParamProblem {
                code,
                pointer,
                data,
            } => {
                set_u32(buf, field::PARAM_PROBLEM_POINTER, pointer);
                buf[HEADER_LEN..body_len].copy_from_slice(data);
                (TYPE_PARAM_PROBLEM, code)
            }
            Repr::RouterSolicit { .. } => (TYPE_ROUTER_SOLICIT, 0),
            Repr::RouterAdvert {
                hop_limit,
                managed,
                other,
                router_lifetime,
                reachable_time,
                retrans_time,
                ..
            } => {
                buf[field::CUR_HOP_LIMIT] = hop_limit;
                buf[field::ROUTER_FLAGS] =
                    if managed { FLAG_MANAGED } else { 0 } | if other { FLAG_OTHER } else { 0 };
                set_u16(buf, field::ROUTER_LIFETIME, router_lifetime);
                set_u32(buf, field::REACHABLE_TIME, reachable_time);
                set_u32(buf, field::RETRANS_TIME, retrans_time);
                (TYPE_ROUTER_ADVERT, 0)
            }
            Repr::NeighborSolicit { target_addr, .. } => {
                buf[field::TARGET_ADDR].copy_from_slice(&target_addr.octets());
                (TYPE_NEIGHBOR_SOLICIT, 0)
            }
            Repr::NeighborAdvert {
                router,
                solicited,
                override_,
                target_addr,
                ..
            } => {
                buf[field::NEIGHBOR_FLAGS] = if router { FLAG_ROUTER } else { 0 }
                    | if solicited { FLAG_SOLICITED } else { 0 }
                    | if override_ { FLAG_OVERRIDE } else { 0 };
                buf[field::TARGET_ADDR].copy_from_slice(&target_addr.octets());
                (TYPE_NEIGHBOR_ADVERT, 0)
            }
            Repr::Redirect {
                target_addr,
                dst_addr,
                ..
            } => {
                buf[field::TARGET_ADDR].copy_from_slice(&target_addr.octets());
                buf[field::REDIRECT_DST].copy_from_slice(&dst_addr.octets());
                (TYPE_REDIRECT, 0)
            }
        };
        buf[field::TYPE] = t;
        buf[field::CODE] = code;
        let mut at = body_len;
        for opt in self.options().iter().flatten() {
            opt.emit(&mut buf[at..]);
            at += opt.buffer_len();
        }
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;
    use alloc::vec::Vec;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    const MAC1: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 1]);
    const MAC2: MacAddr = MacAddr([0x52, 0x54, 0, 0, 0, 2]);

    // Messages with checksums computed independently of this crate.
    fn ra() -> Vec<u8> {
        let mut v = vec![
            134, 0, 0x61, 0xac, 64, 0xc0, 0x07, 0x08, 0, 0, 0x75, 0x30, 0, 0, 3, 0xe8,
        ];
        v.extend([1, 1, 0x52, 0x54, 0, 0, 0, 1]);
        v.extend([5, 1, 0, 0, 0, 0, 5, 0xdc]);
        v.extend([
            3, 4, 64, 0xc0, 0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40, 0, 0, 0, 0,
        ]);
        v.extend(a("2001:db8::").octets());
        v
    }
    fn ns() -> Vec<u8> {
        let mut v = vec![135, 0, 0x2a, 0x43, 0, 0, 0, 0];
        v.extend(a("fe80::1").octets());
        v.extend([1, 1, 0x52, 0x54, 0, 0, 0, 2]);
        v
    }
    fn na() -> Vec<u8> {
        let mut v = vec![136, 0, 0xc7, 0xc7, 0x60, 0, 0, 0];
        v.extend(a("fe80::1").octets());
        v.extend([2, 1, 0x52, 0x54, 0, 0, 0, 1]);
        v
    }
    fn rs() -> Vec<u8> {
        vec![133, 0, 0x29, 0xd6, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0, 0, 2]
    }
    fn echo() -> Vec<u8> {
        let mut v = vec![128, 0, 0xc1, 0xeb, 0xab, 0xcd, 0, 7];
        v.extend(b"ping6!");
        v
    }

    fn cases() -> Vec<(Vec<u8>, &'static str, &'static str, Repr<'static>)> {
        vec![
            (
                ra(),
                "fe80::1",
                "ff02::1",
                Repr::RouterAdvert {
                    hop_limit: 64,
                    managed: true,
                    other: true,
                    router_lifetime: 1800,
                    reachable_time: 30000,
                    retrans_time: 1000,
                    lladdr: Some(MAC1),
                    mtu: Some(1500),
                    prefix_info: Some(PrefixInfo {
                        prefix_len: 64,
                        on_link: true,
                        autonomous: true,
                        valid_lifetime: 86400,
                        preferred_lifetime: 14400,
                        prefix: "2001:db8::".parse().unwrap(),
                    }),
                },
            ),
            (
                ns(),
                "fe80::2",
                "ff02::1:ff00:1",
                Repr::NeighborSolicit {
                    target_addr: "fe80::1".parse().unwrap(),
                    lladdr: Some(MAC2),
                },
            ),
            (
                na(),
                "fe80::1",
                "fe80::2",
                Repr::NeighborAdvert {
                    router: false,
                    solicited: true,
                    override_: true,
                    target_addr: "fe80::1".parse().unwrap(),
                    lladdr: Some(MAC1),
                },
            ),
            (
                rs(),
                "fe80::2",
                "ff02::2",
                Repr::RouterSolicit { lladdr: Some(MAC2) },
            ),
            (
                echo(),
                "fe80::2",
                "fe80::1",
                Repr::EchoRequest {
                    ident: 0xabcd,
                    seq_no: 7,
                    data: b"ping6!",
                },
            ),
        ]
    }

    #[test]
    fn known_good_parse_and_emit() {
        for (bytes, s, d, want) in cases() {
            let p = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(Repr::parse(&p, a(s), a(d)), Ok(want));
            let mut buf = vec![0u8; want.buffer_len()];
            want.emit(&mut Packet::new_unchecked(&mut buf[..]), a(s), a(d));
            assert_eq!(buf, bytes);
        }
    }

    #[test]
    fn truncated() {
        for (bytes, s, d, _) in cases() {
            for pre in prefixes(&bytes, 0) {
                match Packet::new_checked(pre) {
                    Err(e) => assert_eq!(e, Error::Truncated),
                    Ok(p) => assert!(Repr::parse(&p, a(s), a(d)).is_err()),
                }
                // Accessors never panic, whatever the length.
                let p = Packet::new_unchecked(pre);
                let _ = (p.target_addr(), p.retrans_time(), p.data(), p.msg_type());
            }
        }
    }

    #[test]
    fn packet_too_big_carries_the_mtu() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let r = Repr::PktTooBig {
            mtu: 0x0001_0500,
            data: &[0x60, 0, 0, 0],
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), s, d);
        assert_eq!(&b[..2], &[TYPE_PKT_TOO_BIG, 0]);
        assert_eq!(&b[4..8], &[0, 1, 5, 0]);
        // A truncated header is refused, not a panic.
        assert!(Repr::parse(&Packet::new_unchecked(&b[..6]), s, d).is_err());
    }

    #[test]
    fn redirect_round_trips_and_skips_the_redirected_header() {
        let (s, d) = (a("fe80::1"), a("2001:db8::2"));
        let r = Repr::Redirect {
            target_addr: a("fe80::3"),
            dst_addr: a("2001:db8::7"),
            lladdr: Some(MacAddr([2, 0, 0, 0, 0, 3])),
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), s, d);
        assert_eq!((b[0], b.len()), (TYPE_REDIRECT, 48));
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..]), s, d), Ok(r));
        // A redirected header option (type 4, 8 bytes) after it.
        b.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0, 0]);
        Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..]), s, d), Ok(r));
    }

    #[test]
    fn time_exceeded_round_trips() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let r = Repr::TimeExceeded {
            code: 1,
            data: &[0x60, 0, 0, 0],
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), s, d);
        assert_eq!(&b[..2], &[TYPE_TIME_EXCEEDED, 1]);
        assert_eq!(&b[4..12], &[0, 0, 0, 0, 0x60, 0, 0, 0]);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..]), s, d), Ok(r));
    }

    #[test]
    fn parameter_problem_carries_the_pointer() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        let r = Repr::ParamProblem {
            code: 1,
            pointer: 0x0102_0348,
            data: &[0x60, 0, 0, 0],
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), s, d);
        assert_eq!(&b[..2], &[TYPE_PARAM_PROBLEM, 1]);
        assert_eq!(&b[4..12], &[1, 2, 3, 0x48, 0x60, 0, 0, 0]);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..]), s, d), Ok(r));
    }

    #[test]
    fn round_trip_others() {
        let (s, d) = (a("2001:db8::1"), a("2001:db8::2"));
        for r in [
            Repr::DstUnreachable {
                code: 4,
                data: &[0x60, 0, 0, 0, 0, 0],
            },
            Repr::PktTooBig {
                mtu: 1280,
                data: &[0x60, 0, 0, 0, 0, 0],
            },
            Repr::ParamProblem {
                code: 1,
                pointer: 40,
                data: &[0x60, 0, 0, 0, 0, 0],
            },
            Repr::EchoReply {
                ident: 1,
                seq_no: 2,
                data: b"",
            },
            Repr::RouterSolicit { lladdr: None },
            Repr::RouterAdvert {
                hop_limit: 0,
                managed: false,
                other: true,
                router_lifetime: 0,
                reachable_time: 0,
                retrans_time: 0,
                lladdr: None,
                mtu: Some(1280),
                prefix_info: None,
            },
            Repr::NeighborAdvert {
                router: true,
                solicited: false,
                override_: false,
                target_addr: s,
                lladdr: None,
            },
        ] {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]), s, d);
            assert_eq!(
                Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), s, d),
                Ok(r)
            );
        }
    }

    #[test]
    fn bad_checksum() {
        let b = ns();
        let p = Packet::new_checked(&b[..]).unwrap();
        // Right bytes, wrong pseudo-header.
        assert_eq!(
            Repr::parse(&p, a("fe80::3"), a("ff02::1:ff00:1")),
            Err(Error::Checksum)
        );
        let mut b = ns();
        b[30] ^= 0x80;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, a("fe80::2"), a("ff02::1:ff00:1")),
            Err(Error::Checksum)
        );
    }

    #[test]
    fn bad_options() {
        let (s, d) = (a("fe80::2"), a("ff02::1:ff00:1"));
        let fix = |mut b: Vec<u8>| {
            Packet::new_unchecked(&mut b[..]).fill_checksum(s, d);
            b
        };
        // Zero option length.
        let mut b = ns();
        b[25] = 0;
        let b = fix(b);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..]), s, d),
            Err(Error::Malformed)
        );
        // Option length past the end.
        let mut b = ns();
        b[25] = 2;
        let b = fix(b);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..]), s, d),
            Err(Error::Truncated)
        );
        // Unknown options are skipped.
        let mut b = ns();
        b.extend([200, 1, 1, 2, 3, 4, 5, 6]);
        let b = fix(b);
        assert!(Repr::parse(&Packet::new_unchecked(&b[..]), s, d).is_ok());
        // Prefix info with the wrong length, or a prefix length over 128.
        let opts: Vec<_> = NdiscOptions::new(&[3, 1, 0, 0, 0, 0, 0, 0]).collect();
        assert_eq!(opts, [Err(Error::Malformed)]);
        let mut p = ra()[40..].to_vec();
        p[2] = 129;
        assert_eq!(NdiscOptions::new(&p).next(), Some(Err(Error::Malformed)));
        // Multicast target, non-zero code.
        let mut b = ns();
        b[8] = 0xff;
        let b = fix(b);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..]), s, d),
            Err(Error::Malformed)
        );
        let mut b = ns();
        b[1] = 1;
        let b = fix(b);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..]), s, d),
            Err(Error::Malformed)
        );
    }
}
