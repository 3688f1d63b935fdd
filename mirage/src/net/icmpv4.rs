//! ICMP for IPv4 (MirageOS's `Icmpv4`): answers echo requests, reports
//! unreachable ports, passes the destination-unreachable messages received
//! up to the transports (RFC 1122 section 4.2.3.9), and hands echo replies to whoever pings (taken all at
//! once with [`Icmpv4::take_replies`], or awaited one by one with
//! [`Icmpv4::next_reply`]).
//!
//! Error messages are rate-limited (a token bucket, as RFC 1812 section
//! 4.3.2.8 asks of routers and hosts commonly do), so that a flood of
//! datagrams to closed ports cannot make the stack flood in return; echo
//! replies are not limited.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::poll_fn;
use core::net::IpAddr;
use core::task::{Poll, Waker};

use crate::Mclock;
use crate::net::ip::{
    Datagram, ErrorRate, IcmpError, IcmpErrorKind, Ip, IpError, SendOptions, protocol,
};
use crate::net::wire::icmpv4::{self as wire, Repr};

/// Error messages allowed per second.
pub const ERRORS_PER_SECOND: u32 = crate::net::ip::ICMP_ERRORS_PER_SECOND;

/// An echo reply received: who answered, and the ids and data it echoed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    /// The host that answered.
    pub src: IpAddr,
    /// The identifier of the request.
    pub ident: u16,
    /// The sequence number of the request.
    pub seq_no: u16,
    /// The data echoed.
    pub data: Vec<u8>,
}

/// The ICMPv4 counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Icmpv4Stats {
    /// Echo requests answered.
    pub echo_replies_sent: u64,
    /// Destination-unreachable messages sent (port and protocol
    /// unreachable).
    pub unreachable_sent: u64,
    /// Error messages not sent because of the rate limit.
    pub rate_limited: u64,
    /// Messages that did not parse (checksum, length, a code their type
    /// does not have).
    pub malformed: u64,
    /// Messages of a type this host does not use (timestamp, address
    /// mask, ...), silently discarded (RFC 1122 section 3.2.2).
    pub unknown_type: u64,
    /// Destination-unreachable messages received (and passed up).
    pub unreachable_received: u64,
    /// Time-exceeded messages sent (fragment reassembly time exceeded).
    pub time_exceeded_sent: u64,
    /// Parameter problems sent (malformed options in a datagram for us).
    pub param_problems_sent: u64,
    /// Time-exceeded messages received (and passed up).
    pub time_exceeded_received: u64,
    /// Parameter-problem messages received (and passed up).
    pub param_problem_received: u64,
    /// Redirects taken (a route to a destination changed).
    pub redirects_taken: u64,
}

struct State {
    errors: ErrorRate,
    stats: Icmpv4Stats,
    /// Echo replies received, oldest first (bounded).
    replies: VecDeque<EchoReply>,
    /// The tasks waiting in [`Icmpv4::next_reply`].
    waiters: Vec<Waker>,
}

/// How many received echo replies are kept for [`Icmpv4::take_replies`].
const MAX_KEPT_REPLIES: usize = 64;

/// ICMPv4 over the IP layer `I`.
pub struct Icmpv4<I: 'static, C: 'static> {
    ip: &'static I,
    clock: &'static C,
    state: RefCell<State>,
}

impl<I, C> core::fmt::Debug for Icmpv4<I, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Icmpv4")
            .field("stats", &self.state.borrow().stats)
            .finish_non_exhaustive()
    }
}

impl<I: Ip, C: Mclock> Icmpv4<I, C> {
    /// ICMPv4 over `ip`.
    pub fn connect(ip: &'static I, clock: &'static C) -> Self {
        Icmpv4 {
            ip,
            clock,
            state: RefCell::new(State {
                errors: ErrorRate::new(),
                stats: Icmpv4Stats::default(),
                replies: VecDeque::new(),
                waiters: Vec::new(),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Icmpv4Stats {
        self.state.borrow().stats
    }

    /// The echo replies received since the last call, oldest first (at most
    /// the last 64).
    pub fn take_replies(&self) -> Vec<EchoReply> {
        self.state.borrow_mut().replies.drain(..).collect()
    }

    /// Waits for an echo reply and takes the oldest one received (of the
    /// last 64 kept, as [`Icmpv4::take_replies`] would return first).
    pub async fn next_reply(&self) -> EchoReply {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            if let Some(reply) = state.replies.pop_front() {
                return Poll::Ready(reply);
            }
            if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                state.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Handles a received ICMP datagram: answers echo requests to our
    /// address (not to broadcasts), keeps echo replies, and returns a
    /// destination-unreachable message (with the datagram it quotes) for
    /// the transports to act on.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn input<'b>(&self, datagram: &'b Datagram<'_>) -> Result<Option<IcmpError<'b>>, IpError> {
        let packet = match wire::Packet::new_checked(&*datagram.payload) {
            Ok(p) => p,
            Err(_) => {
                self.state.borrow_mut().stats.malformed += 1;
                return Ok(None);
            }
        };
        match Repr::parse(&packet) {
            Ok(Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }) => {
                let for_us = self.ip.has_address(datagram.dst);
                if !for_us {
                    return Ok(None);
                }
                let reply = Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                self.state.borrow_mut().stats.echo_replies_sent += 1;
                self.ip.send(
                    Some(datagram.dst),
                    datagram.src,
                    protocol::ICMP,
                    SendOptions::default(),
                    reply.buffer_len(),
                    |_, buf| reply.emit(&mut wire::Packet::new_unchecked(buf)),
                )?;
            }
            Ok(Repr::EchoReply {
                ident,
                seq_no,
                data,
            }) => {
                let mut waiters = {
                    let mut state = self.state.borrow_mut();
                    if state.replies.len() == MAX_KEPT_REPLIES {
                        state.replies.pop_front();
                    }
                    state.replies.push_back(EchoReply {
                        src: datagram.src,
                        ident,
                        seq_no,
                        data: data.to_vec(),
                    });
                    core::mem::take(&mut state.waiters)
                };
                // Woken without a borrow held; the list goes back with its
                // capacity, so that the next wait allocates nothing.
                for waiter in waiters.drain(..) {
                    waiter.wake();
                }
                let mut state = self.state.borrow_mut();
                if state.waiters.is_empty() {
                    state.waiters = waiters;
                }
            }
            Ok(Repr::DstUnreachable { code, mtu, quoted }) => {
                // (Errors are never sent to a broadcast or multicast
                // address, RFC 1122 section 3.2.2.)
                let to_us = self.ip.has_address(datagram.dst);
                let kind = match IcmpErrorKind::from_icmpv4_unreachable(code, mtu) {
                    Some(IcmpErrorKind::TooBig { .. }) => {
                        Some(Self::fragmentation_needed(mtu, quoted))
                    }
                    kind => kind,
                };
                if let (true, Some(kind)) = (to_us, kind) {
                    self.state.borrow_mut().stats.unreachable_received += 1;
                    return Ok(Some(IcmpError { kind, quoted }));
                }
            }
            Ok(Repr::Redirect {
                gateway, quoted, ..
            }) => {
                // RFC 1122 section 3.2.2.2: a host updates its routes (a
                // network redirect taken as a host one, 3.3.1.2), for a
                // datagram we sent; the layer checks the rest.
                use crate::net::wire::ipv4;
                let header = ipv4::Packet::new_unchecked(quoted);
                if self.ip.has_address(datagram.dst)
                    && self.ip.has_address(IpAddr::V4(header.src_addr()))
                    && self.ip.redirect(
                        datagram.src,
                        IpAddr::V4(header.dst_addr()),
                        IpAddr::V4(gateway),
                    )
                {
                    self.state.borrow_mut().stats.redirects_taken += 1;
                }
            }
            // RFC 1122 sections 3.2.2.4 and 3.2.2.5: passed to the
            // transport (as errors, only when sent to us).
            Ok(repr @ (Repr::TimeExceeded { quoted, .. } | Repr::ParamProblem { quoted, .. })) => {
                if self.ip.has_address(datagram.dst) {
                    let mut state = self.state.borrow_mut();
                    let kind = if let Repr::TimeExceeded { .. } = repr {
                        state.stats.time_exceeded_received += 1;
                        IcmpErrorKind::TimeExceeded
                    } else {
                        state.stats.param_problem_received += 1;
                        IcmpErrorKind::ParameterProblem
                    };
                    return Ok(Some(IcmpError { kind, quoted }));
                }
            }
            Err(crate::net::wire::Error::Unsupported) => {
                self.state.borrow_mut().stats.unknown_type += 1;
            }
            Err(_) => self.state.borrow_mut().stats.malformed += 1,
        }
        Ok(None)
    }

    /// Sends an echo request to `dst`.
    pub fn ping(&self, dst: IpAddr, ident: u16, seq_no: u16, data: &[u8]) -> Result<bool, IpError> {
        let request = Repr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        self.ip.send(
            None,
            dst,
            protocol::ICMP,
            SendOptions::default(),
            request.buffer_len(),
            |_, buf| request.emit(&mut wire::Packet::new_unchecked(buf)),
        )
    }

    /// A fragmentation needed report (type 3 code 4) about `quoted`, a
    /// datagram we sent: the path MTU it tells (which the transport, once
    /// it has found the report genuine, hands to the IP layer: see
    /// [`Ip::learn_path_mtu`]). A router that predates RFC 1191 leaves the
    /// next-hop MTU 0 (any value below 68, the least MTU, is as useless):
    /// the MTU is then estimated as the largest plateau of RFC 1191's table
    /// below the quoted datagram's length (section 7).
    #[cold]
    fn fragmentation_needed(mtu: u16, quoted: &[u8]) -> IcmpErrorKind {
        use crate::net::wire::ipv4;
        let mtu = match quoted {
            [first, ..] if mtu < MIN_MTU && quoted.len() >= ipv4::HEADER_LEN && first >> 4 == 4 => {
                plateau_below(ipv4::Packet::new_unchecked(quoted).total_len())
            }
            _ => mtu,
        };
        IcmpErrorKind::TooBig {
            mtu: u32::from(mtu),
        }
    }

    /// Takes a token from the error bucket, refilled once per second.
    fn may_send_error(&self) -> bool {
        let now = self.clock.elapsed_ns();
        let mut state = self.state.borrow_mut();
        let allowed = state.errors.take(now);
        if !allowed {
            state.stats.rate_limited += 1;
        }
        allowed
    }

    /// Reports to the sender of `datagram` that its destination port is
    /// closed (type 3 code 3), quoting its header and first 8 payload
    /// bytes, within the rate limit. Not for broadcasts, multicasts,
    /// reassembled datagrams or datagrams whose source is not one host
    /// (the zero address, class E; RFC 1122 section 3.2.2).
    pub fn port_unreachable(&self, datagram: &Datagram<'_>) -> Result<(), IpError> {
        self.unreachable(datagram, 3)
    }

    /// Reports to the sender of `datagram` that no layer here takes its
    /// protocol (type 3 code 2; RFC 1122 section 3.2.2.1); when, as for
    /// [`Icmpv4::port_unreachable`].
    pub fn protocol_unreachable(&self, datagram: &Datagram<'_>) -> Result<(), IpError> {
        self.unreachable(datagram, 2)
    }

    /// Reports to the source of a datagram whose reassembly timed out that
    /// it was abandoned: time exceeded, code 1 (RFC 792; RFC 1122 section
    /// 3.3.2), quoting `first`, its first fragment's header and first 8
    /// data bytes as received (what [`crate::net::ipv4::Ipv4::take_timed_out`]
    /// returns). Within the rate limit; when, as for
    /// [`Icmpv4::port_unreachable`].
    pub fn reassembly_timed_out(&self, first: &[u8]) -> Result<(), IpError> {
        use crate::net::wire::ipv4;
        // (Its total length is the whole fragment's: only the header is
        // looked at.)
        if first.len() < ipv4::HEADER_LEN {
            return Ok(());
        }
        let header = ipv4::Packet::new_unchecked(first);
        let (src, dst) = (header.src_addr(), header.dst_addr());
        let sent = self.send_error(IpAddr::V4(src), IpAddr::V4(dst), first, |quoted| {
            Repr::TimeExceeded { code: 1, quoted }
        })?;
        if sent {
            self.state.borrow_mut().stats.time_exceeded_sent += 1;
        }
        Ok(())
    }

    /// Reports to the sender of a datagram for us whose options were
    /// malformed that it was dropped: parameter problem, code 0, pointing
    /// at the octet `pointer` of `first`, its header and first 8 data
    /// bytes as received (what [`crate::net::ipv4::Ipv4::take_bad_options`]
    /// returns; RFC 1122 section 3.2.2.5). Within the rate limit; when,
    /// as for [`Icmpv4::port_unreachable`].
    pub fn parameter_problem(&self, first: &[u8], pointer: u8) -> Result<(), IpError> {
        use crate::net::wire::ipv4;
        if first.len() < ipv4::HEADER_LEN {
            return Ok(());
        }
        let header = ipv4::Packet::new_unchecked(first);
        let (src, dst) = (header.src_addr(), header.dst_addr());
        let sent = self.send_error(IpAddr::V4(src), IpAddr::V4(dst), first, |quoted| {
            Repr::ParamProblem {
                code: 0,
                pointer,
                quoted,
            }
        })?;
        if sent {
            self.state.borrow_mut().stats.param_problems_sent += 1;
        }
        Ok(())
    }

    /// Sends destination unreachable with `code` to the sender of
    /// `datagram`, quoting its header and first 8 payload bytes, within
    /// the rate limit. Not for broadcasts, multicasts, reassembled
    /// datagrams or datagrams whose source is not one host (the zero
    /// address, class E; RFC 1122 section 3.2.2).
    fn unreachable(&self, datagram: &Datagram<'_>, code: u8) -> Result<(), IpError> {
        if datagram.packet.is_empty() {
            return Ok(());
        }
        let sent = self.send_error(datagram.src, datagram.dst, datagram.packet, |quoted| {
            Repr::DstUnreachable {
                code,
                mtu: 0,
                quoted,
            }
        })?;
        if sent {
            self.state.borrow_mut().stats.unreachable_sent += 1;
        }
        Ok(())
    }

    /// Sends the error `message` about `packet` (an IPv4 packet from `src`
    /// to `dst`, given its header and first 8 payload bytes to quote) to
    /// `src`, from `dst`, within the rate limit; whether it was sent. Not
    /// about a datagram to a broadcast or multicast address or to an
    /// address not ours, from an address that is not one host's (the
    /// zero address, class E, multicast), or carrying an ICMP error (RFC
    /// 1122 section 3.2.2).
    fn send_error<'q>(
        &self,
        src: IpAddr,
        dst: IpAddr,
        packet: &'q [u8],
        message: impl FnOnce(&'q [u8]) -> Repr<'q>,
    ) -> Result<bool, IpError> {
        let to_group = match dst {
            IpAddr::V4(d) => d.is_broadcast() || d.is_multicast(),
            IpAddr::V6(_) => true,
        };
        let not_one_host = match src {
            IpAddr::V4(s) => s.is_unspecified() || s.is_multicast() || u32::from(s) >> 28 == 0xf,
            IpAddr::V6(_) => true,
        };
        let Some(&first) = packet.first() else {
            return Ok(false);
        };
        let ihl = usize::from(first & 0x0f) * 4;
        // RFC 1122 section 3.2.2: never about an ICMP error message (any
        // type but the queries and their replies, as Linux reads it).
        let about_error = packet.get(9) == Some(&protocol::ICMP)
            && packet
                .get(ihl)
                .is_some_and(|t| !matches!(t, 0 | 8 | 9 | 10 | 13..=18));
        if to_group
            || not_one_host
            || about_error
            || !self.ip.has_address(dst)
            || !self.may_send_error()
        {
            return Ok(false);
        }
        let message = message(&packet[..(ihl + 8).min(packet.len())]);
        self.ip.send(
            Some(dst),
            src,
            protocol::ICMP,
            SendOptions::default(),
            message.buffer_len(),
            |_, buf| message.emit(&mut wire::Packet::new_unchecked(buf)),
        )?;
        Ok(true)
    }
}

/// The least MTU of an IPv4 link (RFC 791).
const MIN_MTU: u16 = 68;

/// The MTUs common on the Internet when RFC 1191 was written (its section
/// 7's table, the "plateaus"), largest first.
const PLATEAUS: [u16; 10] = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/// The largest plateau below `len`, a datagram's length that a router
/// could not forward (RFC 1191 section 5): at least [`MIN_MTU`].
fn plateau_below(len: u16) -> u16 {
    PLATEAUS.into_iter().find(|&p| p < len).unwrap_or(MIN_MTU)
}

#[cfg(test)]
mod tests {
    use super::plateau_below;

    #[test]
    fn the_estimate_is_the_largest_plateau_below_the_length() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(576), 508);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(68), 68);
        assert_eq!(plateau_below(0), 68);
    }
}
