//! What the IP layers share: the seed's `ip` device types (`ipv4`, `ipv6`,
//! `ipv4v6`, all `Tcpip.Ip.S`) as the [`Ip`] trait, received datagrams,
//! send options and errors.
//!
//! # Contract
//!
//! * Addresses are [`IpAddr`] whatever the layer's family: a layer of one
//!   family answers a destination of the other with
//!   [`IpError::WrongFamily`] (the dual layer [`crate::net::ipv4v6`]
//!   routes by family).
//! * [`Ip::send`] never waits: the packet is handed to the device (or
//!   queued while the neighbour is resolved, bounded) and the call returns;
//!   `Ok(false)` means the device could not take it now (nothing was
//!   queued). The `fill` closure writes the upper-layer payload in place
//!   (zero-copy), given the source address the layer chose, so that UDP,
//!   TCP and ICMPv6 can compute their pseudo-header checksums.
//! * Received datagrams are lent to the upper layers as [`Datagram`]s
//!   borrowing the device's frame, or owning the payload when it was
//!   reassembled from fragments.

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;

use super::device::NetError;

/// IP protocol numbers (IPv4's protocol, IPv6's next header).
pub mod protocol {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// Why a datagram could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpError {
    /// No route to the destination (off-link and no gateway).
    NoRoute(IpAddr),
    /// The next hop towards the destination did not answer resolution.
    HostUnreachable(IpAddr),
    /// The layer has no address of the destination's family (not
    /// configured yet, or that family is disabled).
    NoAddress(IpAddr),
    /// The destination is of a family this layer does not speak.
    WrongFamily(IpAddr),
    /// The datagram does not fit the MTU and may not be fragmented, or
    /// exceeds the largest datagram.
    TooBig {
        /// The payload length asked for.
        len: usize,
        /// The largest payload that can be sent.
        max: usize,
    },
    /// The device failed.
    Net(NetError),
}

impl fmt::Display for IpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpError::NoRoute(dst) => write!(f, "no route to {dst}"),
            IpError::HostUnreachable(dst) => {
                write!(f, "{dst} is unreachable (no link-layer answer)")
            }
            IpError::NoAddress(dst) => write!(f, "no source address to reach {dst}"),
            IpError::WrongFamily(dst) => write!(f, "{dst} is of another address family"),
            IpError::TooBig { len, max } => {
                write!(f, "datagram payload of {len} bytes exceeds {max}")
            }
            IpError::Net(e) => write!(f, "{e}"),
        }
    }
}

impl From<NetError> for IpError {
    fn from(e: NetError) -> Self {
        IpError::Net(e)
    }
}

/// How a datagram is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Time to live (IPv4) or hop limit (IPv6); `None` for the layer's
    /// default (64). IPv4 never sends a time to live of 0 (RFC 1122
    /// section 3.2.1.7): `Some(0)` means the default there.
    pub ttl: Option<u8>,
    /// Whether the datagram may be fragmented when it exceeds the MTU
    /// (IPv4: else the don't-fragment bit is set and an oversized datagram
    /// is refused).
    pub fragment: bool,
    /// The DiffServ codepoint (RFC 2474): the high 6 bits of IPv4's type
    /// of service byte and of IPv6's traffic class; 0 (the default) is
    /// best effort. Only its low 6 bits are used: the two ECN bits (RFC
    /// 3168) are [`SendOptions::ecn`]'s, whatever this holds.
    pub dscp: u8,
    /// The ECN field (RFC 3168 section 5): the low 2 bits of the type of
    /// service byte and of the traffic class. 0 (the default): not
    /// ECN-capable; [`ECT_0`]: an ECN-capable transport, which routers
    /// may mark [`ECN_CE`] instead of dropping. Only its low 2 bits are
    /// used. Set by a transport that reacts to congestion marks (TCP on a
    /// connection that negotiated ECN); the DiffServ interfaces of TCP and
    /// UDP (`Config::dscp`, `set_dscp`, `write_dscp`) cannot set it.
    pub ecn: u8,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            ttl: None,
            fragment: true,
            dscp: 0,
            ecn: 0,
        }
    }
}

impl SendOptions {
    /// The type of service (IPv4) or traffic class (IPv6) byte these
    /// options send: [`SendOptions::dscp`] in the high 6 bits,
    /// [`SendOptions::ecn`] in the low 2.
    #[inline(always)]
    pub const fn tos(&self) -> u8 {
        (self.dscp << 2) | (self.ecn & ECN_MASK)
    }
}

/// The largest DiffServ codepoint (6 bits, RFC 2474).
pub const MAX_DSCP: u8 = 63;

/// The ECN field's bits in the type of service / traffic class byte.
pub const ECN_MASK: u8 = 0b11;
/// ECN-Capable Transport codepoint ECT(0) (RFC 3168 section 5), the one
/// RFC 3168's TCP sends.
pub const ECT_0: u8 = 0b10;
/// Congestion Experienced (RFC 3168 section 5): a router marked the
/// datagram instead of dropping it.
pub const ECN_CE: u8 = 0b11;

/// What an ICMP error message received says about a datagram we sent
/// (ICMPv4 destination unreachable, ICMPv6 destination unreachable and
/// packet too big), as the ICMP layers pass it to the transports (RFC 1122
/// section 4.2.3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpErrorKind {
    /// No route to the destination's network (ICMPv4 codes 0, 6, 9 and 11;
    /// ICMPv6 code 0).
    NetUnreachable,
    /// The destination host is unreachable (ICMPv4 codes 1, 5, 7, 8, 10,
    /// 12, 14 and 15; ICMPv6 codes 2 and 3).
    HostUnreachable,
    /// Communication administratively prohibited (ICMPv4 code 13; ICMPv6
    /// codes 1, 5 and 6).
    Prohibited,
    /// The destination does not speak the protocol (ICMPv4 code 2).
    ProtocolUnreachable,
    /// The destination port is closed (ICMPv4 code 3, ICMPv6 code 4).
    PortUnreachable,
    /// The datagram did not fit a link of the path: ICMPv4 fragmentation
    /// needed (code 4, RFC 1191) or ICMPv6 packet too big (RFC 8201).
    TooBig {
        /// The MTU of that link as reported (0: an old router that did
        /// not say).
        mtu: u32,
    },
    /// The datagram's time to live or hop limit ran out on the way, or
    /// its fragments were not all received in time: ICMPv4 time exceeded
    /// (RFC 792; RFC 1122 section 3.2.2.4: passed to the transport, MUST),
    /// ICMPv6 time exceeded (RFC 4443 section 3.3).
    TimeExceeded,
    /// A node of the path could not process the datagram's header:
    /// ICMPv4 parameter problem (RFC 1122 section 3.2.2.5: passed to the
    /// transport, MUST), ICMPv6 parameter problem (RFC 4443 section 3.4).
    ParameterProblem,
    /// An ICMPv6 error message of a type this host does not know (below
    /// 128, none of the four above): RFC 4443 section 2.4 (d) says it
    /// MUST be passed to the upper layer that sent the quoted packet.
    /// (ICMPv4 messages of unknown types are silently discarded, as RFC
    /// 1122 section 3.2.2 asks.)
    Unknown {
        /// Its ICMPv6 type.
        icmp_type: u8,
        /// Its code.
        code: u8,
    },
}

impl IcmpErrorKind {
    /// The meaning of an ICMPv4 destination unreachable `code` (with the
    /// next-hop `mtu` of code 4); `None` for codes RFC 792 and RFC 1812 do
    /// not define.
    pub fn from_icmpv4_unreachable(code: u8, mtu: u16) -> Option<IcmpErrorKind> {
        Some(match code {
            0 | 6 | 9 | 11 => IcmpErrorKind::NetUnreachable,
            1 | 5 | 7 | 8 | 10 | 12 | 14 | 15 => IcmpErrorKind::HostUnreachable,
            2 => IcmpErrorKind::ProtocolUnreachable,
            3 => IcmpErrorKind::PortUnreachable,
            4 => IcmpErrorKind::TooBig {
                mtu: u32::from(mtu),
            },
            13 => IcmpErrorKind::Prohibited,
            _ => return None,
        })
    }

    /// The meaning of an ICMPv6 destination unreachable `code` (RFC 4443
    /// section 3.1); `None` for codes it does not define.
    pub fn from_icmpv6_unreachable(code: u8) -> Option<IcmpErrorKind> {
        Some(match code {
            0 => IcmpErrorKind::NetUnreachable,
            2 | 3 => IcmpErrorKind::HostUnreachable,
            1 | 5 | 6 => IcmpErrorKind::Prohibited,
            4 => IcmpErrorKind::PortUnreachable,
            _ => return None,
        })
    }
}

/// An ICMP error received about a datagram we sent: what it says and the
/// datagram's quoted start (its IP header and at least 8 bytes of its
/// payload, as RFC 792 and RFC 4443 quote it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpError<'a> {
    /// What went wrong.
    pub kind: IcmpErrorKind,
    /// The quoted datagram, from its IP header on (checked by the
    /// transport that reads it).
    pub quoted: &'a [u8],
}

impl IcmpError<'_> {
    /// The upper-layer protocol of the quoted datagram (behind an IPv6
    /// fragment header, as this stack sends a fragmented datagram), if the
    /// quote shows it: which transport the error is for.
    pub fn quoted_protocol(&self) -> Option<u8> {
        let q = self.quoted;
        match q.first()? >> 4 {
            4 => q.get(9).copied(),
            6 => match *q.get(6)? {
                44 => q.get(40).copied(),
                p => Some(p),
            },
            _ => None,
        }
    }
}

/// The default time to live and hop limit.
pub const DEFAULT_TTL: u8 = 64;

/// A received datagram, for the upper layers.
#[derive(Debug, Clone)]
pub struct Datagram<'a> {
    /// The sender.
    pub src: IpAddr,
    /// The destination (ours, or a broadcast or multicast address).
    pub dst: IpAddr,
    /// The upper-layer protocol.
    pub protocol: u8,
    /// The time to live or hop limit it arrived with.
    pub ttl: u8,
    /// The type of service (IPv4) or traffic class (IPv6) byte it arrived
    /// with, passed up as RFC 1122 section 3.2.1.6 asks: the DiffServ
    /// codepoint in the high 6 bits (`tos >> 2`, RFC 2474), the ECN bits
    /// in the low 2 (RFC 3168). For a datagram reassembled from
    /// fragments, that of the fragment that completed it (a sender gives
    /// them all the same).
    pub tos: u8,
    /// The upper-layer payload: borrowed from the frame, or owned when it
    /// was reassembled from fragments.
    pub payload: Cow<'a, [u8]>,
    /// The IP packet as received (header included), for ICMP errors that
    /// quote it; empty when no error may be sent about it: for a
    /// reassembled datagram, and for one received in a link-layer
    /// broadcast or multicast frame (RFC 1122 section 3.2.2, RFC 4443
    /// section 2.4 (e)).
    pub packet: &'a [u8],
}

/// ICMP error messages each ICMP layer may send per second (RFC 1812
/// 4.3.2.8, RFC 4443 section 2.4 (f)).
pub const ICMP_ERRORS_PER_SECOND: u32 = 100;

/// The rate limit of an ICMP layer's error messages: a bucket of
/// [`ICMP_ERRORS_PER_SECOND`] tokens, refilled whole each second.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorRate {
    tokens: u32,
    refilled_at: u64,
}

impl ErrorRate {
    /// A full bucket.
    pub(crate) const fn new() -> Self {
        ErrorRate {
            tokens: ICMP_ERRORS_PER_SECOND,
            refilled_at: 0,
        }
    }

    /// Takes a token at `now` (ns); `false` when none is left this second.
    pub(crate) fn take(&mut self, now: u64) -> bool {
        if now.saturating_sub(self.refilled_at) >= 1_000_000_000 {
            self.tokens = ICMP_ERRORS_PER_SECOND;
            self.refilled_at = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// The seed's IP device types (`Tcpip.Ip.S`): `ipv4`, `ipv6`, `ipv4v6`.
pub trait Ip {
    /// Our source address for reaching `dst`, if we have one.
    fn src(&self, dst: IpAddr) -> Option<IpAddr>;

    /// Our configured addresses (MirageOS's `get_ip`).
    fn addresses(&self) -> Vec<IpAddr>;

    /// Whether `addr` is one of [`Ip::addresses`] (without building the
    /// list: layers answer it from their state).
    fn has_address(&self, addr: IpAddr) -> bool {
        self.addresses().contains(&addr)
    }

    /// Whether `addr` is a broadcast address of one of our networks (an
    /// IPv4 subnet's directed broadcast, which only the layer knows; the
    /// limited broadcast and multicast addresses are plain to see). A
    /// connection-oriented transport refuses to open a connection to one
    /// (RFC 9293 section 3.9.1.1, MUST-46). Default: none.
    fn is_broadcast(&self, addr: IpAddr) -> bool {
        let _ = addr;
        false
    }

    /// The largest upper-layer payload that reaches `dst` without
    /// fragmentation (the path's, as far as the layer knows it).
    fn mtu(&self, dst: IpAddr) -> usize;

    /// The largest upper-layer payload the link `dst` is reached through
    /// carries: [`Ip::mtu`] without what routers reported of the path
    /// (what a transport announces it can receive). Default: [`Ip::mtu`].
    fn link_mtu(&self, dst: IpAddr) -> usize {
        self.mtu(dst)
    }

    /// Takes an ICMP redirect from the router `from`: datagrams to `dst`
    /// go to `gateway` from now on (RFC 1122 section 3.2.2.2), if the
    /// layer finds it valid (section 3.3.1.2); whether it was taken. Layers
    /// without routes take none (the default).
    fn redirect(&self, from: IpAddr, dst: IpAddr, gateway: IpAddr) -> bool {
        let _ = (from, dst, gateway);
        false
    }

    /// A router reported that the path to `dst` takes packets of `mtu`
    /// bytes at most (ICMPv4 fragmentation needed, RFC 1191; ICMPv6 packet
    /// too big, RFC 8201), and the transport whose packet it quotes found
    /// the report genuine (TCP: the quoted segment is in its window, RFC
    /// 5927): a layer that keeps path MTUs lowers its estimate for `dst`,
    /// which [`Ip::mtu`] then reports (within bounds: a report may still
    /// be forged). Whether the estimate dropped. Layers that keep none
    /// take nothing (the default).
    fn learn_path_mtu(&self, dst: IpAddr, mtu: usize) -> bool {
        let _ = (dst, mtu);
        false
    }

    /// Negative advice from a transport (RFC 9293 section 3.8.3: TCP's
    /// retransmissions to `dst` reached R1; RFC 1122 section 3.3.1.4): the
    /// path to `dst` may be broken. A layer forgets the redirect it took
    /// for `dst`, if any, and has the first hop's link address checked
    /// (IPv4: ARP's unicast poll, [`crate::net::arp::Arp::revalidate`];
    /// IPv6: neighbour unreachability detection). Default: nothing.
    fn negative_advice(&self, dst: IpAddr) {
        let _ = dst;
    }

    /// Sends a datagram of `len` payload bytes to `dst` without waiting (see
    /// the module's contract): `fill(src, payload)` writes the payload.
    fn send(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Result<bool, IpError>;

    /// Whether the device offers TCP segmentation offload at all (a
    /// capability fixed when it was connected; [`Ip::segmentation_offload`]
    /// tells what a destination takes now). Default: no.
    fn offers_segmentation_offload(&self) -> bool {
        false
    }

    /// The longest TCP segment (TCP header included) that
    /// [`Ip::send_segmented`] takes towards `dst` now: the device offers
    /// TCP segmentation offload and the next hop's link address is known;
    /// 0 (the default) otherwise.
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        let _ = dst;
        0
    }

    /// Sends one TCP segment of `len` bytes (header included, checksum
    /// written by `fill`), longer than [`Ip::mtu`] allows, from `src` to
    /// `dst` through the device's segmentation offload, which sends its
    /// payload in pieces of `segment_size` bytes (the connection's MSS):
    /// one packet, never fragmented. `None` (nothing sent, `fill` not
    /// called) when [`Ip::segmentation_offload`] would not take it. The
    /// default has no offload.
    fn send_segmented(
        &self,
        src: IpAddr,
        dst: IpAddr,
        options: SendOptions,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        let _ = (src, dst, options, len, segment_size, fill);
        None
    }

    /// Waits until a datagram to `dst` can go straight to the link: the
    /// link-layer address of its next hop known, asked for if need be.
    /// Fails when the neighbour does not answer.
    async fn resolve(&self, dst: IpAddr) -> Result<(), IpError>;

    /// [`Ip::send`] when the neighbour `dst` is reached through is resolved
    /// already; `None` (nothing sent, `fill` not called) when it is not, or
    /// when the layer cannot tell. The fast path of a send that would
    /// otherwise [`Ip::resolve`] first.
    #[allow(clippy::too_many_arguments)]
    fn send_resolved(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        let _ = (src, dst, protocol, options, len, fill);
        None
    }

    /// MirageOS's `write`: waits for the next hop's resolution, then
    /// [`Ip::send`]s, failing when the device could not take the datagram.
    async fn write(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        payload: &[u8],
    ) -> Result<(), IpError> {
        self.resolve(dst).await?;
        let sent = self.send(src, dst, protocol, options, payload.len(), |_, buf| {
            buf.copy_from_slice(payload)
        })?;
        if sent {
            Ok(())
        } else {
            Err(IpError::Net(NetError::Device(
                "the transmit queue is full".into(),
            )))
        }
    }
}

impl<T: Ip> Ip for &T {
    fn src(&self, dst: IpAddr) -> Option<IpAddr> {
        (**self).src(dst)
    }
    fn addresses(&self) -> Vec<IpAddr> {
        (**self).addresses()
    }
    fn has_address(&self, addr: IpAddr) -> bool {
        (**self).has_address(addr)
    }
    fn is_broadcast(&self, addr: IpAddr) -> bool {
        (**self).is_broadcast(addr)
    }
    fn mtu(&self, dst: IpAddr) -> usize {
        (**self).mtu(dst)
    }
    fn link_mtu(&self, dst: IpAddr) -> usize {
        (**self).link_mtu(dst)
    }
    fn redirect(&self, from: IpAddr, dst: IpAddr, gateway: IpAddr) -> bool {
        (**self).redirect(from, dst, gateway)
    }
    fn negative_advice(&self, dst: IpAddr) {
        (**self).negative_advice(dst)
    }
    fn learn_path_mtu(&self, dst: IpAddr, mtu: usize) -> bool {
        (**self).learn_path_mtu(dst, mtu)
    }
    async fn resolve(&self, dst: IpAddr) -> Result<(), IpError> {
        (**self).resolve(dst).await
    }
    fn offers_segmentation_offload(&self) -> bool {
        (**self).offers_segmentation_offload()
    }
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        (**self).segmentation_offload(dst)
    }
    fn send_segmented(
        &self,
        src: IpAddr,
        dst: IpAddr,
        options: SendOptions,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        (**self).send_segmented(src, dst, options, len, segment_size, fill)
    }
    fn send(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Result<bool, IpError> {
        (**self).send(src, dst, protocol, options, len, fill)
    }
    fn send_resolved(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        (**self).send_resolved(src, dst, protocol, options, len, fill)
    }
}
