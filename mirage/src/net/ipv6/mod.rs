//! IPv6 (the seed's `ipv6` device type, `create_ipv6`): addresses from the
//! configuration (`--ipv6`, `--ipv6-gateway`), the link-local address,
//! neighbour discovery (solicitation, advertisement, the neighbour cache
//! of [`crate::net::ndp`]), router solicitation and advertisement with
//! SLAAC, duplicate address detection ([`autoconf`]), ICMPv6 echo,
//! fragmentation and reassembly.
//!
//! Like IPv4 the layer is synchronous (see [`crate::net::ip`]): ICMPv6 is
//! handled inside [`Ipv6::input`], which returns the other datagrams for
//! the upper layers. Multicast listener discovery is not sent: the stack
//! accepts every multicast frame, and the links it runs on (taps, Solo5
//! devices) do not filter by group.

pub mod addr;
pub mod autoconf;
pub mod mld;

use alloc::borrow::Cow;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::poll_fn;
use core::net::{IpAddr, Ipv6Addr};
use core::task::{Poll, Waker};

use crate::Mclock;
use crate::args::Ipv6Prefix;
use crate::net::MacAddr;
use crate::net::destination::DestinationCache;
use crate::net::ethernet::Ethernet;
use crate::net::frag::{self, Reassembler};
use crate::net::icmpv4::EchoReply;
use crate::net::ip::{
    DEFAULT_TTL, Datagram, ErrorRate, IcmpError, IcmpErrorKind, Ip, IpError, SendOptions, protocol,
};
use crate::net::jitter::{self, ReachableTime};
use crate::net::ndp::cache::{self as ndp, Resolution, Solicit};
use crate::net::wire::ethernet::EtherType;
use crate::net::wire::icmpv6::{self as icmp, Repr as IcmpRepr};
use crate::net::wire::ipv6::{
    self as wire, ExtHeaders, FRAGMENT_HEADER_LEN, FragmentHeader, HEADER_LEN, NextHeader,
};
use crate::net::wire::mld as mld_wire;
use crate::rt::MovingDeadline;

use addr::{ALL_NODES, ALL_ROUTERS, multicast_mac, solicited_node};
use autoconf::{AddrState, Autoconf};

/// The IPv6 minimum link MTU (RFC 8200 section 5).
pub const MIN_MTU: usize = 1280;

/// The most of an invoking packet an ICMPv6 error quotes: what fits in the
/// minimum MTU after the IPv6 and ICMPv6 headers (RFC 4443 section 2.4
/// (c)).
const MAX_QUOTED: usize = MIN_MTU - HEADER_LEN - 8;

/// A configuration (the seed's `ipv6_config`): a static address with its
/// prefix and a gateway, both optional (the link-local address and SLAAC
/// work without them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ipv6Config {
    /// A static address and the length of its on-link prefix.
    pub address: Option<Ipv6Prefix>,
    /// The default gateway when no router advertises itself.
    pub gateway: Option<Ipv6Addr>,
    /// Whether to form addresses from advertised prefixes (SLAAC).
    pub slaac: bool,
}

/// The IPv6 counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv6Stats {
    /// Datagrams handed to the upper layers.
    pub delivered: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Packets that did not parse, or whose extension headers could not be
    /// processed (an option or routing header a host must refuse).
    pub malformed: u64,
    /// Packets for another host or group.
    pub not_for_us: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Datagrams sent in fragments.
    pub fragmented: u64,
    /// Echo requests answered.
    pub echo_replies_sent: u64,
    /// Neighbour discovery messages dropped (hop limit not 255, carried in
    /// a fragment, bad source, hostile options).
    pub nd_dropped: u64,
    /// Error messages sent (port unreachable, unknown next header,
    /// reassembly time exceeded).
    pub errors_sent: u64,
    /// Error messages not sent because of the rate limit.
    pub rate_limited: u64,
    /// Redirects taken (a destination's first hop changed).
    pub redirects_taken: u64,
    /// Error messages received (and passed up to the transports):
    /// destination unreachable, packet too big, parameter problem, time
    /// exceeded, and error types unknown here (RFC 4443 section 2.4 (d)).
    pub errors_received: u64,
    /// ICMPv6 messages of a type this host does not use, silently
    /// discarded (RFC 4443 section 2.4 (b)); not counted as malformed.
    pub unknown_type: u64,
    /// MLD reports sent (the groups this host listens to: [`mld`]): MLDv2
    /// reports, and MLDv1 reports and dones in MLDv1 compatibility mode.
    pub mld_reports_sent: u64,
    /// Multicast listener queries taken (either version).
    pub mld_queries: u64,
    /// Multicast listener queries ignored: not from a link-local address
    /// (RFC 9777 section 5.1.14).
    pub mld_queries_ignored: u64,
}

/// Ways a packet is delivered to the link.
#[derive(Clone, Copy)]
enum Hop {
    Mac(MacAddr),
    Neighbour(Ipv6Addr),
}

/// Where a router advertisement's options start (RFC 4861 section 4.2).
const RA_OPTIONS: usize = 16;

/// The prefix information options of one router advertisement processed
/// (a bound on the work a hostile one makes).
const MAX_PREFIX_OPTIONS: usize = 16;

/// What identifies the fragments of one datagram (RFC 8200 section 4.5).
type FragKey = (Ipv6Addr, Ipv6Addr, u32);

/// Received echo replies kept for [`Ipv6::take_replies`].
const MAX_KEPT_REPLIES: usize = 64;

struct State {
    conf: Autoconf,
    neighbours: ndp::Cache<Vec<u8>>,
    frags: Reassembler<FragKey>,
    /// The link MTU (from the device, lowered by an advertised MTU).
    mtu: usize,
    hop_limit: u8,
    ident: u32,
    stats: Ipv6Stats,
    /// The rate limit of the ICMPv6 errors sent.
    errors: ErrorRate,
    /// Path MTUs learnt from packet too big messages (RFC 8201).
    path_mtus: DestinationCache<Ipv6Addr, usize>,
    /// First hops changed by redirects (RFC 4861 section 8.3).
    redirects: DestinationCache<Ipv6Addr, Ipv6Addr>,
    replies: Vec<EchoReply>,
    /// Tasks waiting for a neighbour's resolution ([`Ip::resolve`]).
    waiters: Vec<Waker>,
    /// The MLDv2 listener: our solicited-node groups, reported.
    mld: mld::Listener,
    /// Whether MLD reports go from our link-local address yet (else `::`).
    mld_from_link_local: bool,
    /// Default routers chosen in turn while none is known reachable (RFC
    /// 4861 section 6.3.6).
    router_turn: core::cell::Cell<usize>,
    /// The neighbour cache's ReachableTime, drawn between 0.5 and 1.5
    /// times BaseReachableTime (RFC 4861 6.3.2: 30 s, or a router's), again
    /// every [`REDRAW_REACHABLE_NS`] and when the base changes.
    reachable: ReachableTime,
}

/// The IPv6 layer over the Ethernet layer `E` (MirageOS's `Ipv6.Make`).
pub struct Ipv6<E: 'static, C: 'static> {
    eth: &'static E,
    clock: &'static C,
    state: RefCell<State>,
}

impl<E: Ethernet, C: Mclock> core::fmt::Debug for Ipv6<E, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ipv6")
            .field("addresses", &self.state.borrow().conf.addresses())
            .finish_non_exhaustive()
    }
}

impl<E: Ethernet, C: Mclock> Ipv6<E, C> {
    /// The layer over `eth` with `config` (the seed's `create_ipv6`): the
    /// link-local and static addresses start tentative and are checked by
    /// DAD from the first [`Ipv6::poll`]; routers are solicited once the
    /// link-local address is usable. `seed` picks fragment identifiers.
    pub fn connect(eth: &'static E, clock: &'static C, config: Ipv6Config, seed: u32) -> Self {
        let now = clock.elapsed_ns();
        let fixed = config.address.map(|p| (p.address(), p.len()));
        // (Seeded by the stack and the MAC address: hosts started together
        // on one link send at different moments.)
        let mix = {
            let m = eth.mac().0;
            u64::from(seed) << 32 | u64::from(u32::from_be_bytes([m[2], m[3], m[4], m[5]]))
        };
        let mut conf = Autoconf::new(eth.mac(), fixed, config.gateway, config.slaac, now);
        conf.delay_first_probes(
            now + jitter::random_below(mix, autoconf::MAX_RTR_SOLICITATION_DELAY_NS),
        );
        let (reachable, first_reachable) = ReachableTime::new(
            ndp::Config::default().reachable_ns,
            mix,
            now,
            REDRAW_REACHABLE_NS,
        );
        let mut state = State {
            conf,
            neighbours: ndp::Cache::new(ndp::Config::default()),
            // RFC 8200 section 4.5: overlapping fragments discard the
            // datagram.
            frags: Reassembler::new(frag::Config {
                no_overlaps: true,
                ..frag::Config::default()
            }),
            mtu: eth.mtu().max(MIN_MTU),
            hop_limit: DEFAULT_TTL,
            ident: seed,
            stats: Ipv6Stats::default(),
            errors: ErrorRate::new(),
            path_mtus: DestinationCache::new(MAX_PATH_MTUS),
            redirects: DestinationCache::new(MAX_REDIRECTS),
            replies: Vec::new(),
            waiters: Vec::new(),
            mld: mld::Listener::new(mld::Config::default(), mix),
            mld_from_link_local: false,
            router_turn: core::cell::Cell::new(0),
            reachable,
        };
        state.neighbours.set_reachable_time(first_reachable);
        Ipv6 {
            eth,
            clock,
            state: RefCell::new(state),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Ipv6Stats {
        self.state.borrow().stats
    }

    /// Our addresses and their states.
    pub fn address_states(&self) -> Vec<autoconf::Address> {
        self.state.borrow().conf.addresses().to_vec()
    }

    /// The default routers known.
    pub fn routers(&self) -> Vec<Ipv6Addr> {
        self.state.borrow().conf.routers()
    }

    /// The neighbour cache's ReachableTime (RFC 4861 6.3.2: drawn between
    /// half and one and a half BaseReachableTime, 30 s or a router's).
    pub fn reachable_time_ns(&self) -> u64 {
        self.state.borrow().neighbours.reachable_time()
    }

    /// The neighbour cache's state of `ip`.
    pub fn neighbour(&self, ip: Ipv6Addr) -> Option<ndp::Reachability> {
        self.state.borrow().neighbours.state(&ip)
    }

    /// Entries in the neighbour cache.
    pub fn neighbours_len(&self) -> usize {
        self.state.borrow().neighbours.len()
    }

    /// Datagrams in reassembly and the bytes they hold.
    pub fn reassembly(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.frags.in_progress(), state.frags.buffered())
    }

    /// The echo replies received since the last call, oldest first.
    pub fn take_replies(&self) -> Vec<EchoReply> {
        core::mem::take(&mut self.state.borrow_mut().replies)
    }

    /// Sends an echo request to `dst`.
    pub fn ping(
        &self,
        dst: Ipv6Addr,
        ident: u16,
        seq_no: u16,
        data: &[u8],
    ) -> Result<bool, IpError> {
        let request = IcmpRepr::EchoRequest {
            ident,
            seq_no,
            data,
        };
        self.send_icmp(None, dst, 0, &request)
    }

    /// Sends the ICMPv6 message `repr` to `dst` (hop limit 255 for
    /// neighbour discovery when `hop_limit` is 255; 0 for the default).
    fn send_icmp(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        hop_limit: u8,
        repr: &IcmpRepr<'_>,
    ) -> Result<bool, IpError> {
        let options = SendOptions {
            ttl: (hop_limit != 0).then_some(hop_limit),
            ..SendOptions::default()
        };
        self.send_v6(
            src,
            dst,
            protocol::ICMPV6,
            options,
            repr.buffer_len(),
            |src, buf| repr.emit(&mut icmp::Packet::new_unchecked(buf), src, dst),
        )
    }

    /// Sends a neighbour solicitation for `target`: to its solicited-node
    /// group, or unicast to `mac`; from `::` without our link-layer address
    /// for DAD.
    fn solicit(
        &self,
        target: Ipv6Addr,
        unicast: Option<MacAddr>,
        dad: bool,
    ) -> Result<(), IpError> {
        let repr = IcmpRepr::NeighborSolicit {
            target_addr: target,
            lladdr: (!dad).then(|| self.eth.mac()),
        };
        let src = if dad {
            Ipv6Addr::UNSPECIFIED
        } else {
            match self.state.borrow().conf.source_for(target) {
                Some(s) => s,
                // Nothing usable to ask from yet.
                None => return Ok(()),
            }
        };
        let dst = match unicast {
            Some(_) => target,
            None => solicited_node(target),
        };
        let hop = match unicast {
            Some(mac) => Hop::Mac(mac),
            None => Hop::Mac(multicast_mac(dst)),
        };
        let len = repr.buffer_len();
        self.transmit(hop, src, dst, protocol::ICMPV6, 255, 0, len, |src, buf| {
            repr.emit(&mut icmp::Packet::new_unchecked(buf), src, dst)
        })
        .map(drop)
    }

    fn router_solicit(&self) -> Result<(), IpError> {
        let Some(src) = self.state.borrow().conf.source_for(ALL_ROUTERS) else {
            return Ok(());
        };
        let repr = IcmpRepr::RouterSolicit {
            lladdr: Some(self.eth.mac()),
        };
        let len = repr.buffer_len();
        self.transmit(
            Hop::Mac(multicast_mac(ALL_ROUTERS)),
            src,
            ALL_ROUTERS,
            protocol::ICMPV6,
            255,
            0,
            len,
            |src, buf| repr.emit(&mut icmp::Packet::new_unchecked(buf), src, ALL_ROUTERS),
        )
        .map(drop)
    }

    /// Runs the timers: DAD, router solicitation, lifetimes, the neighbour
    /// cache, reassembly.
    pub fn poll(&self) -> Result<(), IpError> {
        let now = self.clock.elapsed_ns();
        let (due, (solicits, failed)) = {
            let mut state = self.state.borrow_mut();
            // (At the first poll after its time: not a timer of its own,
            // which would wake an idle host every two hours for it.)
            if let Some(t) = state.reachable.redraw_due(now) {
                state.neighbours.set_reachable_time(t);
            }
            let timed_out = state.frags.poll(now, MIN_MTU);
            drop(state);
            // RFC 8200 section 4.5: time exceeded (code 1) for a datagram
            // whose first fragment arrived.
            for t in timed_out {
                if let Some(first) = t.first {
                    let (src, dst, _) = t.key;
                    let sent = self.send_error(src, dst, &first, false, |data| {
                        IcmpRepr::TimeExceeded { code: 1, data }
                    });
                    if let Err(e) = sent {
                        log::debug!(target: "ipv6", "time exceeded to {src}: {e}");
                    }
                }
            }
            let mut state = self.state.borrow_mut();
            (state.conf.poll(now), state.neighbours.poll(now))
        };
        if !failed.is_empty() {
            self.wake_waiters();
        }
        // Every message due goes, whatever an earlier send did: the timers
        // that called for them have moved on (a DAD probe skipped is never
        // sent). The first error is returned.
        let mut first_error = None;
        let mut sent = |result: Result<(), IpError>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        // (Before the DAD probes: a switch that snoops MLD forwards the
        // solicited-node group's traffic once told, RFC 4862 section
        // 5.4.2.)
        self.sync_groups(now);
        let reports = self.state.borrow_mut().mld.poll(now);
        for r in reports {
            sent(match r {
                mld::Report::V2 { kind, groups } => self.send_mld_report(kind, &groups),
                mld::Report::V1 { message, group } => self.send_mld_v1(message, group),
            });
        }
        for a in &due.now_preferred {
            log::info!(target: "ipv6", "address {a} is usable");
        }
        for target in due.dad_probes {
            sent(self.solicit(target, None, true));
        }
        // Announce what passed DAD, so neighbours update their caches.
        for a in due.now_preferred {
            sent(self.advertise(a, ALL_NODES, false));
        }
        if due.router_solicit {
            sent(self.router_solicit());
        }
        for s in solicits {
            sent(match s {
                Solicit::Multicast(ip) => self.solicit(ip, None, false),
                Solicit::Unicast(ip, mac) => self.solicit(ip, Some(mac), false),
            });
        }
        first_error.map_or(Ok(()), Err)
    }

    /// When [`Ipv6::poll`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        let state = self.state.borrow();
        [
            state.conf.next_deadline(),
            state.neighbours.next_deadline(),
            state.frags.next_deadline(),
            state.mld.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The groups to listen to follow our addresses (their solicited-node
    /// groups, tentative addresses included once their first probe is
    /// due, RFC 4862 section 5.4.2): the MLD listener reports a change.
    fn sync_groups(&self, now: u64) {
        let mut state = self.state.borrow_mut();
        // (Not before an address's first probe: joining is delayed with it,
        // RFC 4862 section 5.4.2.)
        let wanted: Vec<Ipv6Addr> = state
            .conf
            .addresses()
            .iter()
            .filter(|a| !matches!(a.state, AddrState::Tentative { probed: false, .. }))
            .map(|a| solicited_node(a.addr))
            .collect();
        state.mld.set_groups(&wanted, now);
        // The link-local address passed DAD: what went from `::` goes
        // again from it.
        let from_link_local = mld_source(&state.conf) != Ipv6Addr::UNSPECIFIED;
        if from_link_local && !state.mld_from_link_local {
            state.mld.report_again(now);
        }
        state.mld_from_link_local = from_link_local;
    }

    /// Sends MLDv2 reports with a `kind` record for each of `groups` (as
    /// many reports as the MTU needs): to `ff02::16`, hop limit 1, behind
    /// the router alert option, from our link-local address once it is
    /// usable and from `::` before (RFC 9777 section 5.2.13).
    fn send_mld_report(
        &self,
        kind: mld_wire::RecordType,
        groups: &[Ipv6Addr],
    ) -> Result<(), IpError> {
        let (src, mtu) = {
            let state = self.state.borrow();
            (mld_source(&state.conf), state.mtu)
        };
        let hbh = mld_wire::ROUTER_ALERT_HBH.len();
        let per_report =
            (mtu - HEADER_LEN - hbh - mld_wire::REPORT_HEADER_LEN) / mld_wire::RECORD_LEN;
        for chunk in groups.chunks(per_report.max(1)) {
            let len = hbh + mld_wire::report_len(chunk.len());
            self.transmit(
                Hop::Mac(multicast_mac(mld_wire::ALL_MLDV2_ROUTERS)),
                src,
                mld_wire::ALL_MLDV2_ROUTERS,
                u8::from(NextHeader::HopByHop),
                1,
                0,
                len,
                |src, buf| {
                    buf[..hbh].copy_from_slice(&mld_wire::ROUTER_ALERT_HBH);
                    mld_wire::emit_report(&mut buf[hbh..], src, kind, chunk);
                },
            )?;
            self.state.borrow_mut().stats.mld_reports_sent += 1;
        }
        Ok(())
    }

    /// Sends the MLDv1 `message` about `group` (MLDv1 compatibility mode):
    /// to [`mld_wire::V1Message::dst`], hop limit 1, behind the router
    /// alert option, from the same source as MLDv2 reports (RFC 3590
    /// section 4).
    fn send_mld_v1(&self, message: mld_wire::V1Message, group: Ipv6Addr) -> Result<(), IpError> {
        let src = mld_source(&self.state.borrow().conf);
        let dst = message.dst(group);
        let hbh = mld_wire::ROUTER_ALERT_HBH.len();
        self.transmit(
            Hop::Mac(multicast_mac(dst)),
            src,
            dst,
            u8::from(NextHeader::HopByHop),
            1,
            0,
            hbh + mld_wire::V1_LEN,
            |src, buf| {
                buf[..hbh].copy_from_slice(&mld_wire::ROUTER_ALERT_HBH);
                mld_wire::emit_v1(&mut buf[hbh..], src, message, group);
            },
        )?;
        self.state.borrow_mut().stats.mld_reports_sent += 1;
        Ok(())
    }

    /// A multicast listener query (checksum verified): taken by the MLD
    /// listener if it is from a link-local address.
    fn mld_query(&self, src: Ipv6Addr, data: &[u8], now: u64) {
        let mut state = self.state.borrow_mut();
        match mld_wire::Query::parse(data) {
            Ok(q) if addr::is_link_local(src) && state.mld.query(&q, now) => {
                state.stats.mld_queries += 1;
            }
            Ok(_) => state.stats.mld_queries_ignored += 1,
            Err(_) => state.stats.malformed += 1,
        }
    }

    /// Sends a neighbour advertisement for our `target` to `dst`.
    fn advertise(&self, target: Ipv6Addr, dst: Ipv6Addr, solicited: bool) -> Result<(), IpError> {
        let repr = IcmpRepr::NeighborAdvert {
            router: false,
            solicited,
            override_: true,
            target_addr: target,
            lladdr: Some(self.eth.mac()),
        };
        let len = repr.buffer_len();
        let hop = if dst.is_multicast() {
            Hop::Mac(multicast_mac(dst))
        } else {
            Hop::Neighbour(dst)
        };
        self.transmit(
            hop,
            target,
            dst,
            protocol::ICMPV6,
            255,
            0,
            len,
            |src, buf| repr.emit(&mut icmp::Packet::new_unchecked(buf), src, dst),
        )
        .map(drop)
    }

    /// Whether a packet to `dst` is for us: one of our addresses (tentative
    /// ones only for neighbour discovery, checked later), the solicited-node
    /// group of one of them, or all nodes.
    fn accepts(state: &State, dst: Ipv6Addr) -> bool {
        if dst == ALL_NODES {
            return true;
        }
        if dst.is_multicast() {
            return state
                .conf
                .addresses()
                .iter()
                .any(|a| solicited_node(a.addr) == dst);
        }
        state.conf.is_ours_or_tentative(dst)
    }

    /// Handles a received IPv6 packet (the payload of a frame of EtherType
    /// IPv6): ICMPv6 is handled here (echo, neighbour and router discovery);
    /// other datagrams are returned for the upper layers, and so are the
    /// ICMPv6 errors transports act on (destination unreachable, packet too
    /// big: protocol 58, checksum not yet verified). Every drop is counted.
    pub fn input<'a>(&self, packet: &'a [u8]) -> Option<Datagram<'a>> {
        self.input_link(packet, false)
    }

    /// [`Ipv6::input`] for a packet that came in a frame to a link-layer
    /// broadcast or multicast address when `link_multicast` is set: no
    /// ICMPv6 error is sent about it (RFC 4443 section 2.4 (e.3), (e.4)),
    /// and the datagram's [`Datagram::packet`] is left empty for that.
    pub fn input_link<'a>(&self, packet: &'a [u8], link_multicast: bool) -> Option<Datagram<'a>> {
        let parsed = wire::Packet::new_checked(packet).and_then(|p| {
            let repr = wire::Repr::parse(&p)?;
            Ok((repr, p))
        });
        let Ok((repr, view)) = parsed else {
            self.state.borrow_mut().stats.malformed += 1;
            return None;
        };
        let (src, dst) = (repr.src_addr, repr.dst_addr);
        {
            let mut state = self.state.borrow_mut();
            // RFC 4291 section 2.7: a multicast address is never a
            // source; section 2.5.3: the loopback address never leaves a
            // node (as Linux, a packet from it is dropped).
            if src.is_multicast() || src.is_loopback() || !Self::accepts(&state, dst) {
                state.stats.not_for_us += 1;
                return None;
            }
        }
        // Walk the extension headers up to the upper layer, or to a
        // fragment header (what follows it is the fragment's data).
        // check_len: the declared payload lies inside the buffer.
        let payload = &packet[HEADER_LEN..HEADER_LEN + usize::from(view.payload_len())];
        let mut next = repr.next_header;
        let mut offset = 0;
        let mut fragment = None;
        // (What an error about this packet quotes: nothing when it came
        // in a link-layer multicast.)
        let whole = if link_multicast {
            &packet[..0]
        } else {
            &packet[..HEADER_LEN + payload.len()]
        };
        // (Where the next-header field naming the current header is.)
        let mut field = 6;
        for h in ExtHeaders::new(repr.next_header, payload) {
            let h = match h {
                Ok(h) => h,
                // RFC 8200 section 4.1: hop-by-hop options anywhere but
                // first is a next header not recognized there: parameter
                // problem code 1 at the field that names it (as Linux).
                Err(crate::net::wire::Error::Malformed) => {
                    let fault = HeaderFault::problem(1, 0);
                    self.ext_header_fault(src, dst, whole, field, fault);
                    return None;
                }
                Err(_) => {
                    self.state.borrow_mut().stats.malformed += 1;
                    return None;
                }
            };
            field = HEADER_LEN + h.offset;
            if let Err(fault) = check_ext_header(&h) {
                self.ext_header_fault(src, dst, whole, HEADER_LEN + h.offset, fault);
                return None;
            }
            next = h.next_header;
            offset = h.offset + h.data.len();
            if let Some(f) = h.fragment() {
                fragment = Some(f);
                break;
            }
        }
        let (protocol, data, quoted): (NextHeader, Cow<'a, [u8]>, &'a [u8]) = match fragment {
            None => (
                next,
                Cow::Borrowed(&payload[offset..]),
                &packet[..HEADER_LEN + payload.len()],
            ),
            // An atomic fragment (offset 0, M clear) is a whole datagram:
            // processed in isolation, never mixed with fragments of the
            // same identification (RFC 6946 section 4).
            Some(f) if f.frag_offset == 0 && !f.more_fragments => {
                let rest = &payload[offset..];
                // (Hop-by-hop options come only right after the IPv6
                // header, RFC 8200 section 4.1: not after a fragment header.)
                match upper_layer_checked(f.next_header, rest) {
                    _ if after_fragment_hbh(&f) => {
                        let fault = HeaderFault::problem(1, 0);
                        let at = HEADER_LEN + offset - FRAGMENT_HEADER_LEN;
                        self.ext_header_fault(src, dst, whole, at, fault);
                        return None;
                    }
                    Ok(upper) if upper.fragment.is_none() => (
                        upper.protocol,
                        Cow::Borrowed(&rest[upper.offset..]),
                        &packet[..HEADER_LEN + payload.len()],
                    ),
                    Err(Some((at, fault))) => {
                        self.ext_header_fault(src, dst, whole, HEADER_LEN + offset + at, fault);
                        return None;
                    }
                    _ => {
                        self.state.borrow_mut().stats.malformed += 1;
                        return None;
                    }
                }
            }
            // A fragment with more to come must be a multiple of 8 bytes
            // long (RFC 8200 section 4.5): else it is discarded, with
            // parameter problem code 0 pointing at the payload length.
            Some(f) if f.more_fragments && !(payload.len() - offset).is_multiple_of(8) => {
                let fault = HeaderFault::problem(0, 4);
                self.ext_header_fault(src, dst, whole, 0, fault);
                return None;
            }
            // Nor may the datagram it belongs to exceed 65535 bytes of
            // payload (its unfragmentable part, less the fragment header,
            // included): discarded, with parameter problem code 0 pointing
            // at the fragment offset.
            Some(f)
                if payload.len() - FRAGMENT_HEADER_LEN + usize::from(f.frag_offset)
                    > usize::from(u16::MAX) =>
            {
                let fault = HeaderFault::problem(0, 2);
                self.ext_header_fault(
                    src,
                    dst,
                    whole,
                    HEADER_LEN + offset - FRAGMENT_HEADER_LEN,
                    fault,
                );
                return None;
            }
            // RFC 7112 section 5: a first fragment must hold the whole
            // header chain, the upper-layer header included; else it is
            // dropped, with parameter problem code 3.
            Some(f) if f.frag_offset == 0 && !chain_complete(f.next_header, &payload[offset..]) => {
                let fault = HeaderFault::problem(3, 0);
                self.ext_header_fault(src, dst, whole, 0, fault);
                return None;
            }
            Some(f) => {
                let now = self.clock.elapsed_ns();
                let mut state = self.state.borrow_mut();
                // The first fragment's headers (the IPv6 header up to the
                // fragment header) are kept, for time exceeded (not about
                // a link-layer multicast).
                let head = if link_multicast {
                    &packet[..0]
                } else {
                    &packet[..(HEADER_LEN + offset).min(MAX_QUOTED)]
                };
                let done = state.frags.insert_first(
                    (src, dst, f.ident),
                    usize::from(f.frag_offset),
                    f.more_fragments,
                    &payload[offset..],
                    frag::First {
                        head,
                        tag: u8::from(f.next_header),
                    },
                    now,
                );
                match done {
                    Ok(Some(frag::Whole { data: whole, tag })) => {
                        state.stats.reassembled += 1;
                        drop(state);
                        // The reassembled data may start with more
                        // extension headers; what follows the fragment
                        // header is named by the first fragment's (RFC
                        // 8200 section 4.5: the others' may differ).
                        // (No error quotes a reassembled datagram.)
                        let next = tag.map_or(f.next_header, NextHeader::from);
                        match upper_layer_checked(next, &whole) {
                            Ok(upper)
                                if upper.fragment.is_none() && next != NextHeader::HopByHop =>
                            {
                                let start = upper.offset;
                                let protocol = upper.protocol;
                                let mut whole = whole;
                                whole.drain(..start);
                                (protocol, Cow::Owned(whole), &packet[..0])
                            }
                            _ => {
                                self.state.borrow_mut().stats.malformed += 1;
                                return None;
                            }
                        }
                    }
                    Ok(None) | Err(_) => return None,
                }
            }
        };
        // ICMPv6 is handled here, but for the error messages, which concern
        // a transport (destination unreachable, packet too big, time
        // exceeded, parameter problem, unknown ones): they go up with the other
        // datagrams, for the stack to hand to TCP (RFC 1122 section
        // 4.2.3.9, RFC 4443 section 2.4 (e)).
        // (Error messages of types this host does not know go up as well:
        // RFC 4443 section 2.4 (d).)
        if protocol == NextHeader::Icmpv6 && data.first().is_none_or(|&t| t >= 128) {
            self.icmp_input(src, dst, repr.hop_limit, fragment.is_some(), &data);
            return None;
        }
        {
            let state = self.state.borrow();
            // Tentative addresses receive nothing but neighbour discovery.
            if !dst.is_multicast() && !state.conf.is_ours(dst) {
                return None;
            }
        }
        self.state.borrow_mut().stats.delivered += 1;
        Some(Datagram {
            src: IpAddr::V6(src),
            dst: IpAddr::V6(dst),
            protocol: u8::from(protocol),
            ttl: repr.hop_limit,
            tos: repr.traffic_class,
            payload: data,
            packet: if link_multicast { &quoted[..0] } else { quoted },
        })
    }

    /// Drops a packet (from `src` to `dst`) whose extension header at
    /// `header_at` in `packet` cannot be processed, and sends the
    /// parameter problem the fault calls for (quoting `packet`; nothing
    /// when it is empty).
    fn ext_header_fault(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &[u8],
        header_at: usize,
        fault: HeaderFault,
    ) {
        self.state.borrow_mut().stats.malformed += 1;
        if let HeaderFault::Problem { code, at, to_group } = fault
            && !packet.is_empty()
        {
            let pointer = u32::try_from(header_at + at).unwrap_or(u32::MAX);
            let sent = self.send_error(src, dst, packet, to_group, |data| IcmpRepr::ParamProblem {
                code,
                pointer,
                data,
            });
            if let Err(e) = sent {
                log::debug!(target: "ipv6", "parameter problem to {src}: {e}");
            }
        }
    }

    /// The neighbour a datagram to the unicast `dst` goes to: the first
    /// hop a redirect gave (until it expires), else the configuration's
    /// (on the link, or a default router: one known reachable first, RFC
    /// 4861 section 6.3.6, so that a router found dead by neighbour
    /// unreachability detection, after TCP's negative advice say, is left
    /// for another).
    fn route(&self, state: &State, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        if !state.redirects.is_empty()
            && let Some(hop) = state.redirects.get(dst, self.clock.elapsed_ns())
        {
            return Some(hop);
        }
        let neighbours = &state.neighbours;
        let reachable =
            |r| matches!(neighbours.state(&r), Some(s) if s != ndp::Reachability::Incomplete);
        state.conf.next_hop_by(dst, reachable, &state.router_turn)
    }

    /// Another node uses, or checks, our tentative `addr`: give it up.
    fn dad_conflict(&self, addr: Ipv6Addr) {
        if self.state.borrow_mut().conf.dad_failed(addr) {
            log::error!(target: "ipv6", "{addr} is in use on the link (DAD)");
        }
    }

    fn nd_drop(&self) {
        self.state.borrow_mut().stats.nd_dropped += 1;
    }

    /// The ICMPv6 error in `datagram` (one [`Ipv6::input`] returned with
    /// protocol 58: destination unreachable, packet too big, time exceeded,
    /// parameter problem, or an error type unknown here), with the
    /// packet it quotes, for the transports to act on (RFC 4443 section
    /// 2.4 (e)); `None` (counted as malformed) if it does not parse or its
    /// checksum is wrong, or if it was sent to a multicast address.
    pub fn icmp_error<'b>(&self, datagram: &'b Datagram<'_>) -> Option<IcmpError<'b>> {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (datagram.src, datagram.dst) else {
            return None;
        };
        if dst.is_multicast() {
            return None;
        }
        let parsed = icmp::Packet::new_checked(&*datagram.payload)
            .and_then(|p| IcmpRepr::parse(&p, src, dst));
        let error = match parsed {
            Ok(IcmpRepr::DstUnreachable { code, data }) => {
                IcmpErrorKind::from_icmpv6_unreachable(code)
                    .map(|kind| IcmpError { kind, quoted: data })
            }
            Ok(IcmpRepr::PktTooBig { mtu, data }) => {
                self.packet_too_big(mtu, data);
                Some(IcmpError {
                    kind: IcmpErrorKind::TooBig { mtu },
                    quoted: data,
                })
            }
            Ok(IcmpRepr::TimeExceeded { data, .. }) => Some(IcmpError {
                kind: IcmpErrorKind::TimeExceeded,
                quoted: data,
            }),
            Ok(IcmpRepr::ParamProblem { data, .. }) => Some(IcmpError {
                kind: IcmpErrorKind::ParameterProblem,
                quoted: data,
            }),
            Ok(_) => None,
            // An error message of a type unknown here (RFC 4443 section
            // 2.4 (d)): its checksum checked, its quote passed up.
            Err(crate::net::wire::Error::Unsupported) => {
                let message = &*datagram.payload;
                match icmp::Packet::new_checked(message) {
                    Ok(p) if message[0] < 128 && p.verify_checksum(src, dst) => Some(IcmpError {
                        kind: IcmpErrorKind::Unknown {
                            icmp_type: message[0],
                            code: message[1],
                        },
                        quoted: message.get(8..).unwrap_or_default(),
                    }),
                    _ => {
                        self.state.borrow_mut().stats.malformed += 1;
                        None
                    }
                }
            }
            Err(_) => {
                self.state.borrow_mut().stats.malformed += 1;
                None
            }
        };
        if error.is_some() {
            self.state.borrow_mut().stats.errors_received += 1;
        }
        error
    }

    /// Lowers the path MTU towards the destination of `quoted` (a packet we
    /// sent, as a packet too big message quotes it) to `mtu`
    /// ([`Ip::learn_path_mtu`]). Not for a TCP segment: TCP hands the
    /// report on once it has found it genuine (the quoted segment in a
    /// connection's window, RFC 5927), as for IPv4; other packets (UDP's,
    /// which the layer fragments to the path MTU) have nothing to check.
    fn packet_too_big(&self, mtu: u32, quoted: &[u8]) {
        if quoted.len() < HEADER_LEN || quoted[0] >> 4 != 6 {
            return;
        }
        let header = wire::Packet::new_unchecked(quoted);
        if header.next_header() == wire::NextHeader::Tcp {
            return;
        }
        let (from, to) = (header.src_addr(), header.dst_addr());
        if !self.state.borrow().conf.is_ours(from) {
            return;
        }
        let mtu = usize::try_from(mtu).unwrap_or(usize::MAX);
        self.learn_path_mtu(IpAddr::V6(to), mtu);
    }

    /// Reports to the sender of `datagram` (one [`Ipv6::input`] returned)
    /// that its destination port is closed: destination unreachable, code
    /// 4 (RFC 4443 section 3.1), quoting as much of the packet as fits in
    /// the minimum MTU (section 2.4 (c)), within the rate limit (2.4 (f)).
    /// Not for a datagram sent to a multicast address, from an address
    /// that is not one node's (2.4 (e)), or reassembled from fragments.
    pub fn port_unreachable(&self, datagram: &Datagram<'_>) -> Result<(), IpError> {
        self.datagram_error(datagram, |data| IcmpRepr::DstUnreachable { code: 4, data })
    }

    /// Reports to the sender of `datagram` (one [`Ipv6::input`] returned)
    /// that no upper layer here takes its protocol: parameter problem,
    /// code 1, pointing at the next-header field that named it (RFC 8200
    /// section 4, RFC 4443 section 3.4); nothing for "no next header" (59,
    /// RFC 8200 section 4.7); when, as for [`Ipv6::port_unreachable`].
    pub fn unknown_next_header(&self, datagram: &Datagram<'_>) -> Result<(), IpError> {
        if datagram.protocol == u8::from(NextHeader::NoNextHeader) {
            return Ok(());
        }
        let Some(pointer) = next_header_field(datagram.packet) else {
            return Ok(());
        };
        self.datagram_error(datagram, |data| IcmpRepr::ParamProblem {
            code: 1,
            pointer,
            data,
        })
    }

    /// Sends the error `message` about `datagram` (see
    /// [`Ipv6::send_error`]); nothing for one reassembled from fragments.
    fn datagram_error<'d>(
        &self,
        datagram: &Datagram<'d>,
        message: impl FnOnce(&'d [u8]) -> IcmpRepr<'d>,
    ) -> Result<(), IpError> {
        let (IpAddr::V6(src), IpAddr::V6(dst)) = (datagram.src, datagram.dst) else {
            return Ok(());
        };
        if datagram.packet.is_empty() {
            return Ok(());
        }
        self.send_error(src, dst, datagram.packet, false, message)
    }

    /// Sends the error `message` (given as much of `packet`, received from
    /// `src` for `dst`, as fits in the minimum MTU, RFC 4443 section 2.4
    /// (c)) to `src`, within the rate limit (section 2.4 (f)); nothing for
    /// a packet sent to an address not ours or (unless `to_group`, for the
    /// exceptions of section 2.4 (e.2)) to a multicast address, from an
    /// address that is not one node's, or carrying an ICMPv6 error itself
    /// (section 2.4 (e)).
    fn send_error<'d>(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &'d [u8],
        to_group: bool,
        message: impl FnOnce(&'d [u8]) -> IcmpRepr<'d>,
    ) -> Result<(), IpError> {
        if (dst.is_multicast() && !to_group)
            || src.is_multicast()
            || src.is_unspecified()
            || src.is_loopback()
            || carries_icmp_error(packet)
        {
            return Ok(());
        }
        {
            let now = self.clock.elapsed_ns();
            let mut state = self.state.borrow_mut();
            if !dst.is_multicast() && !state.conf.is_ours(dst) {
                return Ok(());
            }
            if !state.errors.take(now) {
                state.stats.rate_limited += 1;
                return Ok(());
            }
            state.stats.errors_sent += 1;
        }
        let message = message(&packet[..packet.len().min(MAX_QUOTED)]);
        // (About a packet to a group, from one of our unicast addresses.)
        let from = (!dst.is_multicast()).then_some(dst);
        self.send_icmp(from, src, 0, &message)?;
        Ok(())
    }

    fn icmp_input(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        fragmented: bool,
        data: &[u8],
    ) {
        let now = self.clock.elapsed_ns();
        if data.first() == Some(&mld_wire::TYPE_QUERY) {
            match icmp::Packet::new_checked(data) {
                Ok(p) if p.verify_checksum(src, dst) => self.mld_query(src, data, now),
                _ => self.state.borrow_mut().stats.malformed += 1,
            }
            return;
        }
        if data.first() == Some(&mld_wire::TYPE_REPORT_V1) {
            // Another listener's MLDv1 report (to a group of ours, or the
            // datagram would not have been taken).
            let verified =
                icmp::Packet::new_checked(data).is_ok_and(|p| p.verify_checksum(src, dst));
            let mut state = self.state.borrow_mut();
            match mld_wire::parse_v1_report(data) {
                // (A report goes to its group: RFC 2710 section 3.)
                Ok(group) if verified && group == dst => state.mld.heard_v1_report(group, now),
                _ => state.stats.malformed += 1,
            }
            return;
        }
        let parsed = icmp::Packet::new_checked(data).and_then(|p| IcmpRepr::parse(&p, src, dst));
        let repr = match parsed {
            Ok(r) => r,
            Err(e) => {
                let mut state = self.state.borrow_mut();
                if e == crate::net::wire::Error::Unsupported {
                    state.stats.unknown_type += 1;
                } else {
                    state.stats.malformed += 1;
                }
                return;
            }
        };
        let now = self.clock.elapsed_ns();
        let nd = matches!(
            repr,
            IcmpRepr::NeighborSolicit { .. }
                | IcmpRepr::NeighborAdvert { .. }
                | IcmpRepr::RouterAdvert { .. }
                | IcmpRepr::RouterSolicit { .. }
                | IcmpRepr::Redirect { .. }
        );
        // RFC 4861: neighbour discovery comes from the link only; RFC 6980
        // section 5: never in fragments (atomic ones included).
        if nd && (hop_limit != 255 || fragmented) {
            self.nd_drop();
            return;
        }
        // Errors in sending replies are the device's: nothing to do here.
        let _ = self.icmp_handle(src, dst, now, repr, data);
        if nd {
            self.wake_waiters();
        }
    }

    fn wake_waiters(&self) {
        let waiters = core::mem::take(&mut self.state.borrow_mut().waiters);
        for w in waiters {
            w.wake();
        }
    }

    fn icmp_handle(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        now: u64,
        repr: IcmpRepr<'_>,
        message: &[u8],
    ) -> Result<(), IpError> {
        match repr {
            IcmpRepr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                // RFC 4443 section 4.1: a request to a multicast group
                // (one we listen to) is answered too, from a unicast
                // address of ours.
                let from = if dst.is_multicast() {
                    None
                } else if self.state.borrow().conf.is_ours(dst) {
                    Some(dst)
                } else {
                    return Ok(());
                };
                if src.is_unspecified() {
                    return Ok(());
                }
                self.state.borrow_mut().stats.echo_replies_sent += 1;
                let reply = IcmpRepr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                self.send_icmp(from, src, 0, &reply)?;
            }
            IcmpRepr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                let mut state = self.state.borrow_mut();
                if state.replies.len() == MAX_KEPT_REPLIES {
                    state.replies.remove(0);
                }
                state.replies.push(EchoReply {
                    src: IpAddr::V6(src),
                    ident,
                    seq_no,
                    data: data.to_vec(),
                });
            }
            IcmpRepr::NeighborSolicit {
                target_addr,
                lladdr,
            } => {
                let dad = src.is_unspecified();
                // From `::` it must go to the target's solicited-node group
                // and carry no link-layer address (RFC 4861 7.1.1).
                if target_addr.is_multicast()
                    || (dad && (lladdr.is_some() || dst != solicited_node(target_addr)))
                {
                    self.nd_drop();
                    return Ok(());
                }
                let state_of = self.state.borrow().conf.state_of(target_addr);
                match state_of {
                    None => {}
                    // Someone else is checking the same address.
                    Some(AddrState::Tentative { .. }) if dad => self.dad_conflict(target_addr),
                    Some(AddrState::Tentative { .. }) => {}
                    Some(_) => {
                        if dad {
                            self.advertise(target_addr, ALL_NODES, false)?;
                        } else {
                            let waiting = match lladdr {
                                Some(mac) => self.state.borrow_mut().neighbours.seen(src, mac, now),
                                None => Vec::new(),
                            };
                            self.flush(src, waiting)?;
                            self.advertise(target_addr, src, true)?;
                        }
                    }
                }
            }
            IcmpRepr::NeighborAdvert {
                solicited,
                override_,
                target_addr,
                lladdr,
                ..
            } => {
                if target_addr.is_multicast() || (solicited && dst.is_multicast()) {
                    self.nd_drop();
                    return Ok(());
                }
                let ours = self.state.borrow().conf.state_of(target_addr);
                match ours {
                    Some(AddrState::Tentative { .. }) => self.dad_conflict(target_addr),
                    Some(_) => {}
                    None => {
                        let (_, waiting) = self.state.borrow_mut().neighbours.advertised(
                            target_addr,
                            lladdr,
                            solicited,
                            override_,
                            now,
                        );
                        self.flush(target_addr, waiting)?;
                    }
                }
            }
            IcmpRepr::RouterAdvert {
                hop_limit,
                router_lifetime,
                reachable_time,
                retrans_time,
                lladdr,
                mtu,
                prefix_info,
                ..
            } => {
                if !addr::is_link_local(src) {
                    self.nd_drop();
                    return Ok(());
                }
                let waiting = {
                    let mut state = self.state.borrow_mut();
                    if hop_limit != 0 {
                        state.hop_limit = hop_limit;
                    }
                    let base = u64::from(reachable_time) * 1_000_000;
                    if let Some(t) = state.reachable.set_base(base) {
                        state.neighbours.set_reachable_time(t);
                    }
                    state
                        .neighbours
                        .set_retrans_time(u64::from(retrans_time) * 1_000_000);
                    if let Some(mtu) = mtu {
                        let mtu = usize::try_from(mtu).unwrap_or(usize::MAX);
                        if (MIN_MTU..=self.eth.mtu()).contains(&mtu) {
                            state.mtu = mtu;
                        }
                    }
                    // Every prefix information option counts (RFC 4861
                    // section 6.3.4), not only the first the parser keeps.
                    let mut autoconf = false;
                    let mut prefixes = message
                        .get(RA_OPTIONS..)
                        .map(icmp::NdiscOptions::new)
                        .into_iter()
                        .flatten()
                        .filter_map(|o| match o {
                            Ok(icmp::NdiscOption::PrefixInformation(p)) => Some(p),
                            _ => None,
                        })
                        .take(MAX_PREFIX_OPTIONS)
                        .peekable();
                    if prefixes.peek().is_none() {
                        autoconf = state
                            .conf
                            .router_advert(src, router_lifetime, prefix_info, now);
                    }
                    for p in prefixes {
                        autoconf |= state.conf.router_advert(src, router_lifetime, Some(p), now);
                    }
                    if autoconf {
                        log::info!(target: "ipv6", "autoconfiguring from {src}'s prefix");
                    }
                    match lladdr {
                        Some(mac) => state.neighbours.seen(src, mac, now),
                        None => Vec::new(),
                    }
                };
                self.flush(src, waiting)?;
                // New tentative addresses start DAD at once.
                self.poll()?;
            }
            IcmpRepr::Redirect {
                target_addr,
                dst_addr,
                lladdr,
            } => {
                // RFC 4861 section 8.1: from the current first hop for the
                // destination, at a link-local address; the target is a
                // router (link-local) or the destination itself.
                let valid = addr::is_link_local(src)
                    && (addr::is_link_local(target_addr) || target_addr == dst_addr)
                    && self.route(&self.state.borrow(), dst_addr) == Some(src);
                if !valid {
                    self.nd_drop();
                    return Ok(());
                }
                let waiting = {
                    let mut state = self.state.borrow_mut();
                    state
                        .redirects
                        .insert(dst_addr, target_addr, now, REDIRECT_LIFETIME_NS);
                    state.stats.redirects_taken += 1;
                    match lladdr {
                        Some(mac) => state.neighbours.seen(target_addr, mac, now),
                        None => Vec::new(),
                    }
                };
                self.flush(target_addr, waiting)?;
            }
            // (The errors go up to the transports: see `input`.)
            IcmpRepr::RouterSolicit { .. }
            | IcmpRepr::ParamProblem { .. }
            | IcmpRepr::TimeExceeded { .. }
            | IcmpRepr::DstUnreachable { .. }
            | IcmpRepr::PktTooBig { .. } => {}
        }
        Ok(())
    }

    /// Sends packets that waited for `ip`'s resolution.
    fn flush(&self, ip: Ipv6Addr, packets: Vec<Vec<u8>>) -> Result<(), IpError> {
        if packets.is_empty() {
            return Ok(());
        }
        let mac = self
            .state
            .borrow_mut()
            .neighbours
            .usable(&ip, self.clock.elapsed_ns());
        if let Some(mac) = mac {
            for p in packets {
                self.eth.send(mac, EtherType::Ipv6, p.len(), |buf| {
                    buf[..p.len()].copy_from_slice(&p);
                    p.len()
                })?;
            }
        }
        Ok(())
    }

    /// The link address a TCP segment to `dst` goes to through the
    /// segmentation offload: a unicast destination's next hop, usable now
    /// (a segment for the offload is never queued for resolution).
    fn offload_hop(&self, dst: IpAddr) -> Option<MacAddr> {
        let IpAddr::V6(dst6) = dst else {
            return None;
        };
        if dst6.is_multicast() {
            return None;
        }
        let now = self.clock.elapsed_ns();
        let mut state = self.state.borrow_mut();
        let hop = self.route(&state, dst6)?;
        state.neighbours.usable(&hop, now)
    }

    /// Writes a packet of `len` payload bytes from `src` to `dst` through
    /// `hop`: straight into the device's frame when the link-layer address
    /// is known, else into a buffer queued for the neighbour's resolution.
    #[allow(clippy::too_many_arguments)]
    fn transmit(
        &self,
        hop: Hop,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        hop_limit: u8,
        traffic_class: u8,
        len: usize,
        fill: impl FnOnce(Ipv6Addr, &mut [u8]),
    ) -> Result<bool, IpError> {
        let total = HEADER_LEN + len;
        let header = wire::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: NextHeader::from(next_header),
            hop_limit,
            payload_len: len,
            traffic_class,
            flow_label: 0,
        };
        let write = |buf: &mut [u8]| {
            header.emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
            fill(src, &mut buf[HEADER_LEN..total]);
            total
        };
        let now = self.clock.elapsed_ns();
        let mac = match hop {
            Hop::Mac(mac) => mac,
            Hop::Neighbour(ip) => {
                let known = self.state.borrow_mut().neighbours.usable(&ip, now);
                match known {
                    Some(mac) => mac,
                    None => {
                        let mut packet = vec![0u8; total];
                        write(&mut packet);
                        let resolution =
                            self.state.borrow_mut().neighbours.resolve(ip, packet, now);
                        match resolution {
                            Resolution::Send(mac, packet) => {
                                return Ok(self.eth.send(mac, EtherType::Ipv6, total, |buf| {
                                    buf[..total].copy_from_slice(&packet);
                                    total
                                })?);
                            }
                            Resolution::Queued(Some(Solicit::Multicast(ip))) => {
                                self.solicit(ip, None, false)?;
                            }
                            Resolution::Queued(Some(Solicit::Unicast(ip, mac))) => {
                                self.solicit(ip, Some(mac), false)?;
                            }
                            Resolution::Queued(None) => {}
                        }
                        return Ok(true);
                    }
                }
            }
        };
        Ok(self.eth.send(mac, EtherType::Ipv6, total, write)?)
    }

    /// [`Ip::send`] for an IPv6 destination.
    fn send_v6(
        &self,
        src: Option<Ipv6Addr>,
        dst: Ipv6Addr,
        next_header: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(Ipv6Addr, &mut [u8]),
    ) -> Result<bool, IpError> {
        let dst_ip = IpAddr::V6(dst);
        // (Fragments carry it too.)
        let tclass = options.tos();
        let (src, hop, mtu, hop_limit, ident) = {
            let mut state = self.state.borrow_mut();
            let src = source(&state.conf, src, dst)?;
            let hop = if dst.is_multicast() {
                Hop::Mac(multicast_mac(dst))
            } else {
                Hop::Neighbour(self.route(&state, dst).ok_or(IpError::NoRoute(dst_ip))?)
            };
            state.ident = state.ident.wrapping_add(1);
            state.stats.sent += 1;
            let hop_limit = options.ttl.unwrap_or(state.hop_limit);
            // A datagram that may be fragmented is cut to the path MTU
            // learnt (RFC 8201 section 4); one that may not (TCP, which
            // finds its own) is only held to the link's.
            let mtu = if options.fragment && !state.path_mtus.is_empty() {
                path_mtu(&state, dst, self.clock.elapsed_ns())
            } else {
                state.mtu
            };
            (src, hop, mtu - HEADER_LEN, hop_limit, state.ident)
        };
        if len <= mtu {
            return self.transmit(hop, src, dst, next_header, hop_limit, tclass, len, fill);
        }
        if !options.fragment || len > usize::from(u16::MAX) {
            // Nothing is sent: the counter and identification go back.
            let mut state = self.state.borrow_mut();
            state.ident = state.ident.wrapping_sub(1);
            state.stats.sent -= 1;
            return Err(IpError::TooBig { len, max: mtu });
        }
        // Fragment at the source (RFC 8200 section 4.5): the payload is
        // written once and cut into pieces of a multiple of 8 bytes, each
        // behind a fragment header.
        self.state.borrow_mut().stats.fragmented += 1;
        let mut payload = vec![0u8; len];
        fill(src, &mut payload);
        let piece = (mtu - FRAGMENT_HEADER_LEN) & !7;
        let mut all = true;
        for (i, chunk) in payload.chunks(piece).enumerate() {
            let offset = i * piece;
            let header = FragmentHeader {
                next_header: NextHeader::from(next_header),
                frag_offset: offset as u16,
                more_fragments: offset + chunk.len() < len,
                ident,
            };
            all &= self.transmit(
                hop,
                src,
                dst,
                u8::from(NextHeader::Fragment),
                hop_limit,
                tclass,
                FRAGMENT_HEADER_LEN + chunk.len(),
                |_, buf| {
                    header.emit(&mut buf[..FRAGMENT_HEADER_LEN]);
                    buf[FRAGMENT_HEADER_LEN..].copy_from_slice(chunk);
                },
            )?;
        }
        Ok(all)
    }
}

/// The longest payload of a packet through the segmentation offload (the
/// payload length field's; no jumbograms).
const MAX_SEGMENTED_PAYLOAD: usize = 0xffff;

/// The source of MLD reports: our link-local address once usable, `::`
/// before (RFC 9777 section 5.2.13).
fn mld_source(conf: &Autoconf) -> Ipv6Addr {
    conf.addresses()
        .iter()
        .find(|a| addr::is_link_local(a.addr) && a.usable())
        .map_or(Ipv6Addr::UNSPECIFIED, |a| a.addr)
}

/// How often ReachableTime is drawn again (RFC 4861 6.3.2: "at least
/// every few hours").
const REDRAW_REACHABLE_NS: u64 = 2 * 3600 * 1_000_000_000;

/// How long a path MTU learnt from packet too big is kept (RFC 8201 section
/// 5.3: at least 5 minutes, 10 recommended).
const PATH_MTU_LIFETIME_NS: u64 = 600_000_000_000;

/// How many destinations' path MTUs are kept.
const MAX_PATH_MTUS: usize = 32;

/// How many destinations redirects may reroute.
const MAX_REDIRECTS: usize = 16;

/// How long a first hop a redirect gave lasts.
const REDIRECT_LIFETIME_NS: u64 = 600_000_000_000;

/// The MTU of the path to `dst` at `now`: the link's, or lower when a
/// packet too big said so and the estimate has not expired.
fn path_mtu(state: &State, dst: Ipv6Addr, now: u64) -> usize {
    state
        .path_mtus
        .get(dst, now)
        .map_or(state.mtu, |mtu| mtu.min(state.mtu))
}

/// The source address of a datagram to `dst`: `src` if it is one of ours,
/// else, without one, the address chosen for `dst`.
fn source(conf: &Autoconf, src: Option<Ipv6Addr>, dst: Ipv6Addr) -> Result<Ipv6Addr, IpError> {
    match src {
        Some(s) if conf.is_ours(s) => Ok(s),
        Some(s) => Err(IpError::NoAddress(IpAddr::V6(s))),
        None => conf
            .source_for(dst)
            .ok_or(IpError::NoAddress(IpAddr::V6(dst))),
    }
}

impl<E: Ethernet, C: Mclock> Ip for Ipv6<E, C> {
    /// A redirect taken for `dst` is forgotten (the redirected first hop
    /// may be the dead one), and the first hop's neighbour entry, if
    /// REACHABLE, becomes STALE, so that the next packet sent to it starts
    /// neighbour unreachability detection ([`crate::net::ndp::cache::Cache::suspect`]).
    fn negative_advice(&self, dst: IpAddr) {
        let IpAddr::V6(dst6) = dst else { return };
        if dst6.is_multicast() {
            return;
        }
        let mut state = self.state.borrow_mut();
        state.redirects.remove(dst6);
        if let Some(hop) = self.route(&state, dst6) {
            state.neighbours.suspect(&hop);
        }
    }

    async fn resolve(&self, dst: IpAddr) -> Result<(), IpError> {
        let IpAddr::V6(dst6) = dst else {
            return Err(IpError::WrongFamily(dst));
        };
        if dst6.is_multicast() {
            return Ok(());
        }
        let now = self.clock.elapsed_ns();
        let solicit = {
            let mut state = self.state.borrow_mut();
            state.conf.source_for(dst6).ok_or(IpError::NoAddress(dst))?;
            let hop = self.route(&state, dst6).ok_or(IpError::NoRoute(dst))?;
            if state.neighbours.usable(&hop, now).is_some() {
                return Ok(());
            }
            state.neighbours.request(hop, now).map(|s| (hop, s))
        };
        let hop = match solicit {
            Some((hop, Solicit::Multicast(ip))) => {
                self.solicit(ip, None, false)?;
                hop
            }
            Some((hop, Solicit::Unicast(ip, mac))) => {
                self.solicit(ip, Some(mac), false)?;
                hop
            }
            None => self
                .route(&self.state.borrow(), dst6)
                .ok_or(IpError::NoRoute(dst))?,
        };
        // As in `Arp::query`: this task runs the layer's timers (the
        // solicitation's retries) too, which an idle runner does not know
        // of.
        let mut retries = MovingDeadline::new();
        poll_fn(|cx| {
            loop {
                {
                    let now = self.clock.elapsed_ns();
                    let mut state = self.state.borrow_mut();
                    if state.neighbours.usable(&hop, now).is_some() {
                        return Poll::Ready(Ok(()));
                    }
                    if state.neighbours.state(&hop).is_none() {
                        return Poll::Ready(Err(IpError::HostUnreachable(dst)));
                    }
                    if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiters.push(cx.waker().clone());
                    }
                }
                if !retries.poll_reached(cx, self.next_deadline()) {
                    return Poll::Pending;
                }
                if let Err(e) = self.poll() {
                    log::debug!(target: "ipv6", "{e}");
                }
            }
        })
        .await
    }

    fn src(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V6(d) => self.state.borrow().conf.source_for(d).map(IpAddr::V6),
            IpAddr::V4(_) => None,
        }
    }

    fn addresses(&self) -> Vec<IpAddr> {
        self.state
            .borrow()
            .conf
            .addresses()
            .iter()
            .filter(|a| a.usable())
            .map(|a| IpAddr::V6(a.addr))
            .collect()
    }

    /// RFC 8201: the estimate for `dst` drops to `mtu`, never below 1280
    /// (section 4), for 10 minutes (section 5.3), for at most 32
    /// destinations. Whether it dropped.
    fn learn_path_mtu(&self, dst: IpAddr, mtu: usize) -> bool {
        let IpAddr::V6(dst6) = dst else { return false };
        let now = self.clock.elapsed_ns();
        let mut state = self.state.borrow_mut();
        let mtu = mtu.max(MIN_MTU);
        if mtu >= path_mtu(&state, dst6, now) {
            return false;
        }
        state.path_mtus.insert(dst6, mtu, now, PATH_MTU_LIFETIME_NS);
        true
    }

    fn link_mtu(&self, _dst: IpAddr) -> usize {
        self.state.borrow().mtu - HEADER_LEN
    }

    fn mtu(&self, dst: IpAddr) -> usize {
        let state = self.state.borrow();
        match dst {
            IpAddr::V6(d) if !state.path_mtus.is_empty() => {
                path_mtu(&state, d, self.clock.elapsed_ns()) - HEADER_LEN
            }
            _ => state.mtu - HEADER_LEN,
        }
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
        let IpAddr::V6(dst6) = dst else {
            return Err(IpError::WrongFamily(dst));
        };
        let src6 = match src {
            None => None,
            Some(IpAddr::V6(s)) => Some(s),
            Some(other) => return Err(IpError::WrongFamily(other)),
        };
        self.send_v6(src6, dst6, protocol, options, len, |s, buf| {
            fill(IpAddr::V6(s), buf)
        })
    }

    fn offers_segmentation_offload(&self) -> bool {
        self.eth.segmentation_offload() > 0
    }

    #[inline]
    fn segmentation_offload(&self, dst: IpAddr) -> usize {
        let offload = self.eth.segmentation_offload();
        if offload == 0 {
            return 0;
        }
        match self.offload_hop(dst) {
            Some(_) => offload.min(HEADER_LEN + MAX_SEGMENTED_PAYLOAD) - HEADER_LEN,
            None => 0,
        }
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
        if segment_size == 0
            || len > MAX_SEGMENTED_PAYLOAD
            || HEADER_LEN + len > self.eth.segmentation_offload()
        {
            return None;
        }
        let (IpAddr::V6(src6), IpAddr::V6(dst6)) = (src, dst) else {
            return None;
        };
        let mac = self.offload_hop(dst)?;
        let header = {
            let mut state = self.state.borrow_mut();
            source(&state.conf, Some(src6), dst6).ok()?;
            state.stats.sent += 1;
            wire::Repr {
                src_addr: src6,
                dst_addr: dst6,
                next_header: NextHeader::Tcp,
                hop_limit: options.ttl.unwrap_or(state.hop_limit),
                payload_len: len,
                traffic_class: options.tos(),
                flow_label: 0,
            }
        };
        let total = HEADER_LEN + len;
        let sent = self
            .eth
            .send_segmented(mac, EtherType::Ipv6, total, segment_size, |buf| {
                header.emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
                fill(&mut buf[HEADER_LEN..total]);
                total
            });
        Some(sent.map_err(IpError::Net))
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
        let IpAddr::V6(dst6) = dst else {
            return Some(Err(IpError::WrongFamily(dst)));
        };
        if !dst6.is_multicast() {
            let mut state = self.state.borrow_mut();
            // Without a source address of ours, `send` fails before any
            // neighbour is looked at: the cache is left alone (a STALE
            // entry would otherwise move to DELAY for nothing sent).
            let ours = match src {
                Some(IpAddr::V6(s)) => source(&state.conf, Some(s), dst6).is_ok(),
                Some(IpAddr::V4(_)) => false,
                None => source(&state.conf, None, dst6).is_ok(),
            };
            if ours {
                // The next hop must have a link-layer address now
                // (REACHABLE, STALE, DELAY or PROBE); without a route, the
                // waiting path reports the error.
                let now = self.clock.elapsed_ns();
                let hop = self.route(&state, dst6)?;
                state.neighbours.usable(&hop, now)?;
            }
        }
        Some(self.send(src, dst, protocol, options, len, fill))
    }
}

/// The offset in `packet` (an IPv6 packet, header first) of the
/// next-header field that names its upper layer: the fixed header's, or
/// the last extension header's; `None` if the headers do not parse.
fn next_header_field(packet: &[u8]) -> Option<u32> {
    let first = NextHeader::from(*packet.get(6)?);
    let mut field = 6;
    for h in ExtHeaders::new(first, packet.get(HEADER_LEN..)?) {
        field = HEADER_LEN + h.ok()?.offset;
    }
    u32::try_from(field).ok()
}

/// Whether `packet` (an IPv6 packet, header first) carries an ICMPv6 error
/// message (type below 128), about which no error is sent (RFC 4443
/// section 2.4 (e.1)); `false` if its headers do not parse that far.
fn carries_icmp_error(packet: &[u8]) -> bool {
    let Some(first) = packet.get(6) else {
        return false;
    };
    let Some(payload) = packet.get(HEADER_LEN..) else {
        return false;
    };
    match ExtHeaders::new(NextHeader::from(*first), payload).upper_layer() {
        Ok(upper) => {
            upper.protocol == NextHeader::Icmpv6
                && upper.fragment.is_none_or(|f| f.frag_offset == 0)
                && upper.payload.first().is_some_and(|&t| t < 128)
        }
        Err(_) => false,
    }
}

/// What an extension header that cannot be processed calls for (RFC 8200
/// sections 4.2 and 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderFault {
    /// Discard the packet silently.
    Discard,
    /// Discard it and send parameter problem with `code`, pointing at
    /// byte `at` of the header; `to_group`: even when the packet was sent
    /// to a multicast address.
    Problem { code: u8, at: usize, to_group: bool },
}

impl HeaderFault {
    /// Parameter problem with `code` at byte `at`, not sent about a packet
    /// to a multicast address.
    fn problem(code: u8, at: usize) -> Self {
        HeaderFault::Problem {
            code,
            at,
            to_group: false,
        }
    }
}

/// Processes the extension header `h` as a host does: the options of a
/// hop-by-hop or destination options header (none is recognized but the
/// padding, so each acts as its type's two high-order bits say, RFC 8200
/// section 4.2), a routing header (no type is supported: one with
/// segments left is refused, section 4.4; RFC 5095 deprecated type 0).
fn check_ext_header(h: &wire::ExtHeader<'_>) -> Result<(), HeaderFault> {
    match h.kind {
        NextHeader::HopByHop | NextHeader::DestOptions => {
            let data = h.data;
            let mut i = 2;
            while let Some(&kind) = data.get(i) {
                // Pad1: a single byte.
                if kind == 0 {
                    i += 1;
                    continue;
                }
                let Some(&len) = data.get(i + 1) else {
                    return Err(HeaderFault::Discard);
                };
                let end = i + 2 + usize::from(len);
                if end > data.len() {
                    return Err(HeaderFault::Discard);
                }
                // PadN, or an unrecognized option.
                if kind != 1 {
                    match kind >> 6 {
                        0 => {}
                        1 => return Err(HeaderFault::Discard),
                        action => {
                            return Err(HeaderFault::Problem {
                                code: 2,
                                at: i,
                                to_group: action == 2,
                            });
                        }
                    }
                }
                i = end;
            }
            Ok(())
        }
        NextHeader::Routing if h.data.get(3).is_some_and(|&left| left != 0) => {
            Err(HeaderFault::problem(0, 2))
        }
        _ => Ok(()),
    }
}

/// [`ExtHeaders::upper_layer`], processing each header on the way as
/// [`check_ext_header`] does; the error is the offset in `data` of the
/// header at fault and the fault, or `None` for headers that do not parse.
fn upper_layer_checked(
    first: NextHeader,
    data: &[u8],
) -> Result<wire::UpperLayer<'_>, Option<(usize, HeaderFault)>> {
    let walk = ExtHeaders::new(first, data);
    for h in walk.clone() {
        let h = h.map_err(|_| None)?;
        check_ext_header(&h).map_err(|fault| Some((h.offset, fault)))?;
    }
    walk.upper_layer().map_err(|_| None)
}

/// Whether `data` (after a fragment header of offset 0, whose next header
/// is `first`) holds the whole header chain: every extension header, and
/// the upper-layer header (TCP's 20 bytes, UDP's and ICMPv6's 8; as Linux
/// checks), RFC 7112 section 5.
fn chain_complete(first: NextHeader, data: &[u8]) -> bool {
    match ExtHeaders::new(first, data).upper_layer() {
        Ok(upper) => {
            let needed = match upper.protocol {
                NextHeader::Tcp => 20,
                NextHeader::Udp | NextHeader::Icmpv6 => 8,
                _ => 0,
            };
            upper.payload.len() >= needed
        }
        Err(_) => false,
    }
}

/// Whether the fragment header `f` is followed by a hop-by-hop options
/// header, which may only come right after the IPv6 header (RFC 8200
/// section 4.1).
fn after_fragment_hbh(f: &wire::FragmentHeader) -> bool {
    f.next_header == NextHeader::HopByHop
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4861 6.3.2: ReachableTime lies between half and one and a half
    /// BaseReachableTime, and differs from host to host.
    #[test]
    fn options_act_as_their_type_says_and_padding_is_skipped() {
        let header = |data: &'static [u8]| wire::ExtHeader {
            kind: NextHeader::DestOptions,
            next_header: NextHeader::Udp,
            data,
            offset: 8,
        };
        // Pad1, PadN (2 bytes), an option to skip (type 0x1e).
        assert_eq!(
            check_ext_header(&header(&[17, 0, 0, 1, 0, 0x1e, 0, 0, 0, 0])),
            Ok(())
        );
        assert_eq!(
            check_ext_header(&header(&[17, 0, 0, 0x5e, 0, 0, 0, 0])),
            Err(HeaderFault::Discard)
        );
        assert_eq!(
            check_ext_header(&header(&[17, 0, 0, 0xde, 0, 0, 0, 0])),
            Err(HeaderFault::problem(2, 3))
        );
        // An option running past the header, or without its length.
        assert_eq!(
            check_ext_header(&header(&[17, 0, 1, 9, 0, 0, 0, 0])),
            Err(HeaderFault::Discard)
        );
        assert_eq!(
            check_ext_header(&header(&[17, 0, 0, 0, 0, 0, 0, 0x1e])),
            Err(HeaderFault::Discard)
        );
    }

    #[test]
    fn the_pointer_names_the_next_header_field_of_the_upper_layer() {
        let mut packet = vec![0u8; HEADER_LEN + 24];
        packet[0] = 0x60;
        packet[6] = 253;
        assert_eq!(next_header_field(&packet), Some(6));
        // Hop-by-hop options (8 bytes), then destination options (16),
        // whose next-header field names 253.
        packet[6] = 0;
        packet[40] = 60;
        packet[48] = 253;
        packet[49] = 1;
        assert_eq!(next_header_field(&packet), Some(48));
        // A header that runs past the packet: no pointer.
        packet[49] = 9;
        assert_eq!(next_header_field(&packet), None);
        assert_eq!(next_header_field(&packet[..5]), None);
    }
}
