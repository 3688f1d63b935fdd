//! IPv4 (the seed's `ipv4` device type; `create_ipv4` for a static
//! address, `ipv4_of_dhcp` for one leased by DHCP): routing to the
//! gateway, the time to live, header checksums, fragmentation of oversized
//! datagrams on send, reassembly with bounded memory and timeouts
//! ([`crate::net::frag`]), rejection of malformed headers.
//!
//! The layer is synchronous (see [`crate::net::ip`]): [`Ipv4::input`]
//! classifies a received packet and returns the datagram for the upper
//! layers; [`Ip::send`] writes one out through ARP. With DHCP the layer
//! runs the client itself: it takes the replies for port 68 out of the
//! input, sends what the client asks for, and (re)configures its address,
//! its gateway and ARP from the lease.

use alloc::borrow::Cow;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::poll_fn;
use core::hint::cold_path;
use core::net::{IpAddr, Ipv4Addr};
use core::task::{Poll, Waker};

use crate::Mclock;
use crate::args::Ipv4Prefix;
use crate::net::arp::{Arp, Arpv4};
use crate::net::destination::DestinationCache;
use crate::net::device::{NetError, Network};
use crate::net::dhcp::{self, client};
use crate::net::ethernet::{Ethernet, Ethif};
use crate::net::frag::{self, Reassembler};
use crate::net::ip::{DEFAULT_TTL, Datagram, Ip, IpError, SendOptions, protocol};
use crate::net::wire::checksum::PseudoHeader;
use crate::net::wire::dhcpv4;
use crate::net::wire::ethernet::EtherType;
use crate::net::wire::ipv4::{self as wire, HEADER_LEN};
use crate::net::wire::udp;

/// A static configuration (the seed's `ipv4_config`): our address with
/// its prefix, and the default gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Config {
    /// Our address and the length of the on-link prefix.
    pub address: Ipv4Prefix,
    /// Where off-link datagrams go.
    pub gateway: Option<Ipv4Addr>,
}

/// The IPv4 counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ipv4Stats {
    /// Datagrams handed to the upper layers.
    pub delivered: u64,
    /// Datagrams sent (fragments counted once per datagram).
    pub sent: u64,
    /// Packets that did not parse (length, version, checksum).
    pub malformed: u64,
    /// Packets for another host, or from a source that cannot be one.
    pub not_for_us: u64,
    /// Fragments dropped by reassembly (no room, overlap, too long).
    pub frag_dropped: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Datagrams sent in fragments.
    pub fragmented: u64,
    /// Fragmentation-needed reports (validated by the transport) that
    /// lowered the path MTU of a destination (RFC 1191).
    pub path_mtu_decreases: u64,
}

/// What identifies the fragments of one datagram (RFC 791).
type FragKey = (Ipv4Addr, Ipv4Addr, u8, u16);

struct Dhcp {
    client: client::Client,
    lease: Option<client::Lease>,
}

struct State {
    config: Option<Ipv4Config>,
    dhcp: Option<Dhcp>,
    ident: u16,
    frags: Reassembler<FragKey>,
    stats: Ipv4Stats,
    /// Tasks waiting for an address ([`Ipv4::configured`]).
    waiters: Vec<Waker>,
    /// The first fragments of datagrams whose reassembly timed out, for
    /// ICMP time exceeded ([`Ipv4::take_timed_out`]; bounded).
    timed_out: Vec<Vec<u8>>,
    /// The headers (and first 8 data bytes) of datagrams for us with
    /// malformed options, with the offset of the octet at fault, for ICMP
    /// parameter problem ([`Ipv4::take_bad_options`]; bounded as
    /// `timed_out`).
    bad_options: Vec<(Vec<u8>, u8)>,
    /// Routes changed by ICMP redirects: the gateway of a destination.
    redirects: DestinationCache<Ipv4Addr, Ipv4Addr>,
    /// Path MTUs lower than the link's, as routers reported them
    /// ([`Ip::learn_path_mtu`]).
    path_mtus: DestinationCache<Ipv4Addr, usize>,
}

/// How many destinations redirects may reroute.
const MAX_REDIRECTS: usize = 16;

/// How long a route a redirect made lasts.
const REDIRECT_LIFETIME_NS: u64 = 600_000_000_000;

/// How many destinations' path MTUs are kept.
const MAX_PATH_MTUS: usize = 32;

/// How long a path MTU a router reported is kept (RFC 1191 section 6.3:
/// 10 minutes; afterwards the link's MTU is tried again).
const PATH_MTU_LIFETIME_NS: u64 = 600_000_000_000;

/// The least path MTU taken from a report (Linux's `min_pmtu`): a smaller
/// one is taken as this. RFC 1191's least is 68, but a report that low
/// only ever comes from an attacker wanting tiny segments; TCP's segments
/// never go below it either.
pub const MIN_PATH_MTU: usize = 552;

/// How many timed-out first fragments [`Ipv4::take_timed_out`] keeps.
const MAX_TIMED_OUT: usize = 16;

/// The data bytes of a timed-out datagram's first fragment quoted after its
/// header (RFC 792: the header and the first 64 bits of data).
const QUOTED_DATA: usize = 8;

/// The IPv4 layer over the Ethernet layer `E` and its ARP (MirageOS's
/// `Static_ipv4.Make`).
pub struct Ipv4<E: 'static, C: 'static> {
    eth: &'static E,
    arp: &'static Arp<E, C>,
    clock: &'static C,
    state: RefCell<State>,
}

impl<E: Ethernet, C: Mclock> core::fmt::Debug for Ipv4<E, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ipv4")
            .field("config", &self.state.borrow().config)
            .finish_non_exhaustive()
    }
}

/// Why the options of a datagram for us cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionsRefused {
    /// An option's length is below 2 or runs past the header (or a source
    /// route's pointer is missing): the offset, in the options, of the
    /// octet at fault (RFC 1122 section 3.2.2.5's parameter problem
    /// points at it).
    Malformed(usize),
    /// A loose or strict source route, completed or not: dropped, as RFC
    /// 7126 section 4.3 recommends by default and Linux does
    /// (`accept_source_route` 0). A host that took a completed one would
    /// owe TCP's replies the reversed route (RFC 1122 section 4.2.3.8),
    /// which this stack cannot send; one not completed makes us a hop on
    /// its way, and this host does not forward (RFC 1122 section 3.3.5).
    SourceRouted,
}

/// Whether the options of a datagram for us can be taken (RFC 791 section
/// 3.1, RFC 1122 section 3.2.1.8): each but end-of-list and no-operation
/// has a length of at least 2 that stays inside the header; no source
/// route (see [`OptionsRefused::SourceRouted`]).
fn check_options(options: &[u8]) -> Result<(), OptionsRefused> {
    const LSRR: u8 = 131;
    const SSRR: u8 = 137;
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => return Ok(()),
            1 => i += 1,
            _ => {
                // (A kind in the last octet: its length is missing.)
                let Some(&len) = options.get(i + 1) else {
                    return Err(OptionsRefused::Malformed(i));
                };
                let len = usize::from(len);
                if len < 2 || i + len > options.len() {
                    return Err(OptionsRefused::Malformed(i + 1));
                }
                if kind == LSRR || kind == SSRR {
                    // (Its pointer octet must be there.)
                    return Err(if len >= 3 {
                        OptionsRefused::SourceRouted
                    } else {
                        OptionsRefused::Malformed(i + 1)
                    });
                }
                i += len;
            }
        }
    }
    Ok(())
}

/// The broadcast address of the prefix.
fn subnet_broadcast(p: &Ipv4Prefix) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(p.network()) | !u32::from(p.netmask()))
}

impl<E: Ethernet, C: Mclock> Ipv4<E, C> {
    fn new(
        eth: &'static E,
        arp: &'static Arp<E, C>,
        clock: &'static C,
        ident: u16,
        config: Option<Ipv4Config>,
        dhcp: Option<Dhcp>,
    ) -> Self {
        Ipv4 {
            eth,
            arp,
            clock,
            state: RefCell::new(State {
                config,
                dhcp,
                ident,
                // RFC 791: the total length, header included, is at most
                // 65535: the payload at most 65515 after a 20-byte header
                // (options in the first fragment are not counted).
                frags: Reassembler::new(frag::Config {
                    max_len: wire::MAX_PAYLOAD_LEN,
                    ..frag::Config::default()
                }),
                stats: Ipv4Stats::default(),
                waiters: Vec::new(),
                timed_out: Vec::new(),
                bad_options: Vec::new(),
                redirects: DestinationCache::new(MAX_REDIRECTS),
                path_mtus: DestinationCache::new(MAX_PATH_MTUS),
            }),
        }
    }

    /// The layer with the static `config` (the seed's `create_ipv4`):
    /// announces the address through ARP. `seed` (from the random device)
    /// picks the first identification.
    pub fn connect(
        eth: &'static E,
        arp: &'static Arp<E, C>,
        clock: &'static C,
        config: Ipv4Config,
        seed: u32,
    ) -> Result<Self, IpError> {
        let ip = Self::new(eth, arp, clock, seed as u16, Some(config), None);
        arp.set_ips(&[config.address.address()])?;
        Ok(ip)
    }

    /// The layer without an address, leasing one by DHCP (the seed's
    /// `ipv4_of_dhcp`); the exchange starts at the first [`Ipv4::poll`].
    /// `seed` (from the random device) picks transaction ids and the first
    /// identification.
    pub fn connect_dhcp(
        eth: &'static E,
        arp: &'static Arp<E, C>,
        clock: &'static C,
        seed: u32,
    ) -> Self {
        let dhcp = Dhcp {
            client: client::Client::new(eth.mac(), seed),
            lease: None,
        };
        Self::new(eth, arp, clock, (seed >> 16) as u16, None, Some(dhcp))
    }

    /// The ARP layer below.
    pub fn arp(&self) -> &'static Arp<E, C> {
        self.arp
    }

    /// The current configuration (`None` while DHCP has no lease).
    pub fn config(&self) -> Option<Ipv4Config> {
        self.state.borrow().config
    }

    /// The DHCP lease, if this layer uses DHCP and holds one.
    pub fn lease(&self) -> Option<client::Lease> {
        self.state
            .borrow()
            .dhcp
            .as_ref()
            .and_then(|d| d.lease.clone())
    }

    /// The counters.
    pub fn stats(&self) -> Ipv4Stats {
        let state = self.state.borrow();
        let mut stats = state.stats;
        stats.frag_dropped = state.frags.dropped;
        stats
    }

    /// Datagrams in reassembly and the bytes they hold.
    pub fn reassembly(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.frags.in_progress(), state.frags.buffered())
    }

    /// Replaces the static configuration, announcing the new address.
    pub fn set_config(&self, config: Ipv4Config) -> Result<(), IpError> {
        {
            let mut state = self.state.borrow_mut();
            // Routes from redirects and path MTUs were for the old network.
            if state.config != Some(config) {
                state.redirects.clear();
                state.path_mtus.clear();
            }
            state.config = Some(config);
        }
        self.arp.set_ips(&[config.address.address()])?;
        self.wake_waiters();
        Ok(())
    }

    /// Waits until the layer has an address (at once for a static one).
    pub async fn configured(&self) -> Ipv4Config {
        poll_fn(|cx| {
            let mut state = self.state.borrow_mut();
            match state.config {
                Some(config) => Poll::Ready(config),
                None => {
                    if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn wake_waiters(&self) {
        let waiters = core::mem::take(&mut self.state.borrow_mut().waiters);
        for w in waiters {
            w.wake();
        }
    }

    /// Whether a packet to `dst` is for us: our address, the broadcast
    /// addresses (limited, the subnet's, and the subnet's network address,
    /// the old form with host part 0 that RFC 1122 3.3.6 says to accept,
    /// as Linux does, but on /31 and /32 where it is a host), a multicast
    /// group.
    fn accepts(&self, state: &State, dst: Ipv4Addr, protocol: u8) -> bool {
        if dst.is_broadcast() || dst.is_multicast() {
            return true;
        }
        match &state.config {
            Some(c) => {
                dst == c.address.address()
                    || dst == subnet_broadcast(&c.address)
                    || (dst == c.address.network() && c.address.len() < 31)
            }
            // Unconfigured: only DHCP replies (which may be unicast to the
            // offered address) get through.
            None => state.dhcp.is_some() && protocol == protocol::UDP,
        }
    }

    /// Handles a received IPv4 packet (the payload of a frame of
    /// EtherType IPv4): the datagram for the upper layers, or `None` when
    /// it was malformed, not for us, a fragment of an incomplete datagram,
    /// or a DHCP reply the layer consumed itself. Every drop is counted.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn input<'a>(&self, packet: &'a [u8]) -> Option<Datagram<'a>> {
        self.input_link(packet, false)
    }

    /// [`Ipv4::input`] for a packet that came in a frame to a link-layer
    /// broadcast or multicast address when `link_multicast` is set: then
    /// the datagram's [`Datagram::packet`] is left empty, so that no ICMP
    /// error is sent about it (RFC 1122 section 3.2.2).
    #[inline(always)]
    pub fn input_link<'a>(&self, packet: &'a [u8], link_multicast: bool) -> Option<Datagram<'a>> {
        let parsed = wire::Packet::new_checked(packet).and_then(|p| {
            let repr = wire::Repr::parse(&p)?;
            Ok((repr, p))
        });
        let Ok((repr, view)) = parsed else {
            cold_path();
            self.state.borrow_mut().stats.malformed += 1;
            return None;
        };
        let protocol = u8::from(repr.protocol);
        let src = repr.src_addr;
        // check_len: the header and the declared length lie inside the
        // buffer, the header inside the declared length.
        let total = usize::from(view.total_len());
        let payload = &packet[usize::from(view.header_len())..total];
        // (A datagram with malformed options is dropped, but once found
        // to be for us, with a parameter problem to its sender.)
        let mut bad_option = None;
        if usize::from(view.header_len()) > HEADER_LEN {
            cold_path();
            match check_options(view.options()) {
                Ok(()) => {}
                Err(OptionsRefused::Malformed(at)) => bad_option = Some(HEADER_LEN + at),
                Err(OptionsRefused::SourceRouted) => {
                    self.state.borrow_mut().stats.malformed += 1;
                    return None;
                }
            }
        }
        // (Without an address, only DHCP's replies are taken: see below.)
        let unconfigured = {
            let mut state = self.state.borrow_mut();
            // RFC 1122 3.2.1.3: broadcast, multicast and loopback (127/8,
            // which must not appear outside a host) sources are discarded;
            // so are "this network" sources (0/8), which only a host that
            // does not know its address yet sends (a DHCP client), to the
            // limited broadcast address: only those are taken, as Linux
            // does. Our own address as the source is a spoof or a loop
            // (Linux's martian source).
            // (On every packet: the common case, a source in 1/8 to 223/8
            // but 127/8, is told by one range check of the first octet.)
            let first = src.octets()[0];
            let bad_source = if first.wrapping_sub(1) < 223 && first != 127 {
                state.config.is_some_and(|c| {
                    src == c.address.address() || src == subnet_broadcast(&c.address)
                })
            } else {
                // (Class E, 240/4 but the limited broadcast, is taken, as
                // Linux does.)
                match first {
                    0 => !repr.dst_addr.is_broadcast(),
                    255 => src.is_broadcast(),
                    _ => first < 240,
                }
            };
            if bad_source || !self.accepts(&state, repr.dst_addr, protocol) {
                cold_path();
                state.stats.not_for_us += 1;
                return None;
            }
            if let Some(at) = bad_option {
                cold_path();
                state.stats.malformed += 1;
                // RFC 1122 section 3.2.2.5 (SHOULD; Linux does): the
                // header and 8 bytes of the datagram, for the ICMP layer
                // (not about a broadcast or multicast).
                let dst = repr.dst_addr;
                let to_one = !link_multicast
                    && !dst.is_broadcast()
                    && !dst.is_multicast()
                    && state
                        .config
                        .is_none_or(|c| dst != subnet_broadcast(&c.address));
                if to_one && state.bad_options.len() < MAX_TIMED_OUT {
                    let end = total.min(usize::from(view.header_len()) + QUOTED_DATA);
                    state.bad_options.push((packet[..end].to_vec(), at as u8));
                }
                return None;
            }
            state.config.is_none()
        };
        let (payload, quoted) = if repr.more_fragments || repr.frag_offset != 0 {
            cold_path();
            let now = self.clock.elapsed_ns();
            let key = (src, repr.dst_addr, protocol, repr.ident);
            let mut state = self.state.borrow_mut();
            // The first fragment's header is kept, for time exceeded (not
            // about a link-layer broadcast).
            let head = if link_multicast {
                &packet[..0]
            } else {
                &packet[..usize::from(view.header_len())]
            };
            let done = state.frags.insert_first(
                key,
                usize::from(repr.frag_offset),
                repr.more_fragments,
                payload,
                frag::First { head, tag: 0 },
                now,
            );
            match done {
                Ok(Some(whole)) => {
                    state.stats.reassembled += 1;
                    (Cow::Owned(whole.data), &packet[..0])
                }
                Ok(None) | Err(_) => return None,
            }
        } else if link_multicast {
            (Cow::Borrowed(payload), &packet[..0])
        } else {
            (Cow::Borrowed(payload), &packet[..total])
        };
        if protocol == protocol::UDP && self.dhcp_input(src, repr.dst_addr, &payload) {
            return None;
        }
        // Unconfigured (a lease lost), a unicast datagram that was not a
        // DHCP reply is for an address we do not have (RFC 1122 3.2.1.3).
        if unconfigured && !repr.dst_addr.is_broadcast() && !repr.dst_addr.is_multicast() {
            cold_path();
            self.state.borrow_mut().stats.not_for_us += 1;
            return None;
        }
        self.state.borrow_mut().stats.delivered += 1;
        Some(Datagram {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(repr.dst_addr),
            protocol,
            ttl: repr.ttl,
            tos: repr.dscp_ecn,
            payload,
            packet: quoted,
        })
    }

    /// Hands a UDP datagram for the DHCP client's port to the client;
    /// whether it was taken.
    fn dhcp_input(&self, src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> bool {
        if self.state.borrow().dhcp.is_none() {
            return false;
        }
        let Ok(packet) = udp::Packet::new_checked(datagram) else {
            return false;
        };
        if packet.dst_port() != dhcpv4::CLIENT_PORT || packet.src_port() != dhcpv4::SERVER_PORT {
            return false;
        }
        let ph = PseudoHeader::V4(src, dst);
        let Ok(udp) = udp::Repr::parse(&packet, &ph) else {
            return true;
        };
        let reply = dhcpv4::Packet::new_checked(udp.payload)
            .and_then(|p| dhcpv4::Repr::parse(&p))
            .ok()
            .and_then(|r| dhcp::reply(&r));
        if let Some(reply) = reply {
            let now = self.clock.elapsed_ns();
            let (send, event) = {
                let mut state = self.state.borrow_mut();
                let Some(d) = state.dhcp.as_mut() else {
                    return true;
                };
                d.client.handle(&reply, now)
            };
            self.dhcp_act(send, event);
        }
        true
    }

    /// Sends what the DHCP client asked for and applies what happened.
    fn dhcp_act(&self, send: Option<client::Send>, event: Option<client::Event>) {
        // ARP watches the address the client checks, if any (after every
        // step of the client: this is where they all come).
        let checking = self
            .state
            .borrow()
            .dhcp
            .as_ref()
            .and_then(|d| d.client.checking());
        self.arp.watch(checking);
        match event {
            Some(client::Event::Bound(lease)) => {
                let address = Ipv4Prefix::new(lease.address, lease.prefix_len)
                    .unwrap_or_else(|_| Ipv4Prefix::new(lease.address, 32).expect("/32 is valid"));
                let config = Ipv4Config {
                    address,
                    gateway: lease.gateway,
                };
                let changed = self.state.borrow().config != Some(config);
                if let Some(d) = self.state.borrow_mut().dhcp.as_mut() {
                    d.lease = Some(lease);
                }
                if changed {
                    log::info!(target: "ipv4", "DHCP lease: {address}, gateway {:?}", config.gateway);
                    // A failure to announce is not a failure to configure.
                    let _ = self.set_config(config);
                }
            }
            Some(client::Event::Lost) => {
                log::warn!(target: "ipv4", "DHCP lease lost");
                let mut state = self.state.borrow_mut();
                state.config = None;
                state.redirects.clear();
                state.path_mtus.clear();
                if let Some(d) = state.dhcp.as_mut() {
                    d.lease = None;
                }
                drop(state);
                self.arp.set_ips(&[]).ok();
            }
            None => {}
        }
        match send {
            // The check of an acknowledged address: through ARP.
            Some(client::Send::Probe { address }) => {
                let _ = self.arp.probe(address);
            }
            // Lost messages are retransmitted by the client.
            Some(send) => {
                let _ = self.dhcp_send(&send);
            }
            None => {}
        }
    }

    /// Sends a DHCP message: from 0.0.0.0 to the broadcast address (or,
    /// when renewing, from our address to the server through ARP).
    fn dhcp_send(&self, send: &client::Send) -> Result<bool, IpError> {
        let Some((repr, dst)) = dhcp::message(send, self.eth.mac()) else {
            return Ok(false);
        };
        let src = match send {
            client::Send::RequestExtend { ciaddr, .. } => *ciaddr,
            _ => Ipv4Addr::UNSPECIFIED,
        };
        let dhcp_len = repr.buffer_len();
        let udp_len = udp::HEADER_LEN + dhcp_len;
        let len = HEADER_LEN + udp_len;
        let ident = self.next_ident();
        let fill = |buf: &mut [u8]| {
            wire::Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: wire::Protocol::Udp,
                ttl: DEFAULT_TTL,
                dscp_ecn: 0,
                payload_len: udp_len,
                ident,
                dont_fragment: false,
                more_fragments: false,
                frag_offset: 0,
            }
            .emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
            let mut dgram = udp::Packet::new_unchecked(&mut buf[HEADER_LEN..len]);
            dgram.set_src_port(dhcpv4::CLIENT_PORT);
            dgram.set_dst_port(dhcpv4::SERVER_PORT);
            dgram.set_len(udp_len as u16);
            repr.emit(&mut dhcpv4::Packet::new_unchecked(dgram.payload_mut()));
            dgram.fill_checksum(&PseudoHeader::V4(src, dst));
        };
        self.state.borrow_mut().stats.sent += 1;
        if dst.is_broadcast() {
            self.eth
                .send(
                    crate::net::MacAddr::BROADCAST,
                    EtherType::Ipv4,
                    len,
                    |buf| {
                        fill(buf);
                        len
                    },
                )
                .map_err(IpError::Net)
        } else {
            self.arp.send_ipv4(dst, len, fill).map_err(IpError::Net)
        }
    }

    /// The first fragments (header and first 8 data bytes, as received)
    /// of the datagrams whose reassembly timed out since the last call,
    /// oldest first (at most 16), for the ICMP layer to report (time
    /// exceeded, code 1: RFC 792, RFC 1122 section 3.3.2). Datagrams whose
    /// first fragment never arrived are not reported.
    pub fn take_timed_out(&self) -> Vec<Vec<u8>> {
        core::mem::take(&mut self.state.borrow_mut().timed_out)
    }

    /// The datagrams for us whose options were malformed since the last
    /// call (header and first 8 data bytes, as received), each with the
    /// offset in it of the octet at fault, for the ICMP layer to report
    /// (parameter problem, code 0: RFC 1122 section 3.2.2.5). At most 16
    /// wait; [`Ipv4::next_deadline`] is due while any does.
    pub fn take_bad_options(&self) -> Vec<(Vec<u8>, u8)> {
        core::mem::take(&mut self.state.borrow_mut().bad_options)
    }

    /// Runs the timers: reassembly timeouts (see [`Ipv4::take_timed_out`])
    /// and the DHCP client.
    pub fn poll(&self) {
        let now = self.clock.elapsed_ns();
        {
            let mut state = self.state.borrow_mut();
            for t in state.frags.poll(now, QUOTED_DATA) {
                if let Some(first) = t.first
                    && state.timed_out.len() < MAX_TIMED_OUT
                {
                    state.timed_out.push(first);
                }
            }
        }
        let due = {
            let mut state = self.state.borrow_mut();
            match state.dhcp.as_mut() {
                Some(d) if d.client.next_deadline() <= now => Some(match d.client.checking() {
                    // An acknowledged address another station answered for
                    // while it was checked: declined (RFC 2131 4.4.1).
                    Some(address) if self.arp.take_claimed() => {
                        log::warn!(target: "ipv4", "DHCP: {address} is in use on the link: declined");
                        (d.client.conflict(address, now), None)
                    }
                    _ => d.client.poll(now),
                }),
                _ => None,
            }
        };
        if let Some((send, event)) = due {
            self.dhcp_act(send, event);
        }
    }

    /// When [`Ipv4::poll`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        let state = self.state.borrow();
        if !state.bad_options.is_empty() {
            // (Parameter problems to send: now.)
            return Some(0);
        }
        let dhcp = state.dhcp.as_ref().map(|d| d.client.next_deadline());
        match (state.frags.next_deadline(), dhcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn next_ident(&self) -> u16 {
        let mut state = self.state.borrow_mut();
        state.ident = state.ident.wrapping_add(1);
        state.ident
    }

    /// The neighbour a datagram to `dst` goes to.
    // Inlined: on the path of every datagram sent (the redirect lookup,
    // off-link only, is kept out of line).
    #[inline]
    fn next_hop(&self, config: &Ipv4Config, dst: Ipv4Addr) -> Result<Ipv4Addr, IpError> {
        if config.address.contains(dst) {
            // On the link; its broadcast address is everyone's.
            return Ok(if dst == subnet_broadcast(&config.address) {
                Ipv4Addr::BROADCAST
            } else {
                dst
            });
        }
        if dst.is_broadcast() || dst.is_multicast() {
            return Ok(dst);
        }
        if !self.state.borrow().redirects.is_empty()
            && let Some(gateway) = self.redirected(dst)
        {
            return Ok(gateway);
        }
        config.gateway.ok_or(IpError::NoRoute(IpAddr::V4(dst)))
    }

    /// The gateway a redirect gave for `dst`, if it has not expired.
    #[inline(never)]
    fn redirected(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let state = self.state.borrow();
        if state.redirects.is_empty() {
            return None;
        }
        state.redirects.get(dst, self.clock.elapsed_ns())
    }

    /// Sends one packet (a whole datagram or a fragment) to `hop`.
    #[allow(clippy::too_many_arguments)]
    fn send_packet(
        &self,
        hop: Ipv4Addr,
        header: wire::Repr,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<bool, IpError> {
        let len = HEADER_LEN + header.payload_len;
        self.arp
            .send_ipv4(hop, len, |buf| {
                header.emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
                fill(&mut buf[HEADER_LEN..len]);
            })
            .map_err(IpError::Net)
    }
}

impl<N: Network, C: Mclock> Ipv4<Ethif<N>, C> {
    /// The layer with an address leased by DHCP (the connect step of the
    /// seed's `ipv4_of_dhcp`): waits for the lease, then returns the layer
    /// for the rest of the program.
    pub async fn connect_leased(
        eth: &'static Ethif<N>,
        arp: &'static Arp<Ethif<N>, C>,
        clock: &'static C,
        random: &impl crate::Random,
    ) -> Result<&'static Self, IpError> {
        let ip = crate::rt::leak(Self::connect_dhcp(
            eth,
            arp,
            clock,
            crate::net::seed(random),
        ));
        let config = ip.acquire(eth).await?;
        log::info!(target: "ipv4", "configured by DHCP: {}", config.address);
        Ok(ip)
    }

    /// Runs the DHCP exchange until a lease configures the layer, reading
    /// the network itself (ARP and IPv4 frames; others are dropped): the
    /// connect step of `ipv4_of_dhcp`, before the stack's runner takes
    /// the device over. Returns at once for a static configuration.
    pub async fn acquire(&self, eth: &'static Ethif<N>) -> Result<Ipv4Config, IpError> {
        loop {
            // (The client's timers first: binding after the check of the
            // address happens in a poll, not on a frame.)
            self.poll();
            if let Some(config) = self.config() {
                return Ok(config);
            }
            self.arp.poll()?;
            let deadline = [self.next_deadline(), self.arp.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            let frame = crate::rt::select(
                eth.read(|frame| {
                    if let Some(frame) = frame {
                        match frame.ethertype {
                            EtherType::Arp => self.arp.input(frame.payload),
                            EtherType::Ipv4 => {
                                // Until configured, only DHCP is taken.
                                let _ = self.input(frame.payload);
                                Ok(())
                            }
                            _ => Ok(()),
                        }
                    } else {
                        Ok(())
                    }
                }),
                crate::rt::deadline(deadline),
            )
            .await;
            if let crate::rt::Either::Left(result) = frame {
                match result {
                    Ok(r) => r?,
                    Err(NetError::Disconnected) => {
                        return Err(IpError::Net(NetError::Disconnected));
                    }
                    Err(e) => return Err(IpError::Net(e)),
                }
            }
        }
    }
}

impl<E: Ethernet, C: Mclock> Ip for Ipv4<E, C> {
    fn src(&self, dst: IpAddr) -> Option<IpAddr> {
        match dst {
            IpAddr::V4(_) => self
                .state
                .borrow()
                .config
                .map(|c| IpAddr::V4(c.address.address())),
            IpAddr::V6(_) => None,
        }
    }

    fn addresses(&self) -> Vec<IpAddr> {
        self.state
            .borrow()
            .config
            .map(|c| IpAddr::V4(c.address.address()))
            .into_iter()
            .collect()
    }

    fn has_address(&self, addr: IpAddr) -> bool {
        let config = self.state.borrow().config;
        matches!((addr, config), (IpAddr::V4(a), Some(c)) if a == c.address.address())
    }

    fn is_broadcast(&self, addr: IpAddr) -> bool {
        let config = self.state.borrow().config;
        matches!(
            (addr, config),
            (IpAddr::V4(a), Some(c)) if c.address.len() < 31 && a == subnet_broadcast(&c.address)
        )
    }

    /// The link's MTU, or the path MTU a router reported for `dst` while
    /// the report lasts.
    fn mtu(&self, dst: IpAddr) -> usize {
        let link = self.eth.mtu();
        let state = self.state.borrow();
        let path = match dst {
            IpAddr::V4(d) if !state.path_mtus.is_empty() => state
                .path_mtus
                .get(d, self.clock.elapsed_ns())
                .map_or(link, |p| p.min(link)),
            _ => link,
        };
        path.saturating_sub(HEADER_LEN)
    }

    fn link_mtu(&self, _dst: IpAddr) -> usize {
        self.eth.mtu().saturating_sub(HEADER_LEN)
    }

    /// RFC 1191 section 6.3: the estimate for `dst` drops to `mtu` (at
    /// least [`MIN_PATH_MTU`]) for 10 minutes, unless it is already as low;
    /// at most 32 destinations are kept. Whether the estimate dropped
    /// ([`Ipv4Stats::path_mtu_decreases`]).
    fn learn_path_mtu(&self, dst: IpAddr, mtu: usize) -> bool {
        let IpAddr::V4(dst4) = dst else { return false };
        let mtu = mtu.max(MIN_PATH_MTU);
        if mtu >= self.mtu(dst) + HEADER_LEN {
            return false;
        }
        let now = self.clock.elapsed_ns();
        let mut state = self.state.borrow_mut();
        state.path_mtus.insert(dst4, mtu, now, PATH_MTU_LIFETIME_NS);
        state.stats.path_mtu_decreases += 1;
        true
    }

    /// RFC 1122 section 3.3.1.2: taken only for an off-link unicast `dst`,
    /// from the gateway datagrams to it go through now, to a `gateway` on
    /// our subnet that is not us; network redirects are host ones. A
    /// redirect to the default gateway drops the route. Routes last 10
    /// minutes; at most 16 are kept.
    fn redirect(&self, from: IpAddr, dst: IpAddr, gateway: IpAddr) -> bool {
        let (IpAddr::V4(from), IpAddr::V4(dst), IpAddr::V4(gateway)) = (from, dst, gateway) else {
            return false;
        };
        let Some(config) = self.config() else {
            return false;
        };
        let prefix = &config.address;
        let valid = !prefix.contains(dst)
            && !dst.is_broadcast()
            && !dst.is_multicast()
            && !dst.is_unspecified()
            && prefix.contains(gateway)
            && gateway != prefix.address()
            && gateway != prefix.network()
            && gateway != subnet_broadcast(prefix)
            && self.redirected(dst).or(config.gateway) == Some(from);
        if !valid {
            return false;
        }
        let now = self.clock.elapsed_ns();
        let mut state = self.state.borrow_mut();
        if config.gateway == Some(gateway) {
            state.redirects.remove(dst);
        } else {
            state
                .redirects
                .insert(dst, gateway, now, REDIRECT_LIFETIME_NS);
        }
        true
    }

    /// A redirect taken for `dst` is forgotten (RFC 1122 section 3.3.1.4:
    /// the redirected gateway may be the dead one; Linux's
    /// `ipv4_negative_advice` drops such a route too), and the first hop's
    /// ARP entry is checked by unicast requests
    /// ([`Arp::revalidate`](crate::net::arp::Arp::revalidate)).
    fn negative_advice(&self, dst: IpAddr) {
        let IpAddr::V4(dst4) = dst else { return };
        let Some(config) = self.config() else { return };
        {
            self.state.borrow_mut().redirects.remove(dst4);
        }
        let Ok(hop) = self.next_hop(&config, dst4) else {
            return;
        };
        if hop.is_broadcast() || hop.is_multicast() {
            return;
        }
        if let Err(e) = self.arp.revalidate(hop) {
            log::debug!(target: "ipv4", "checking {hop}: {e}");
        }
    }

    async fn resolve(&self, dst: IpAddr) -> Result<(), IpError> {
        let IpAddr::V4(dst4) = dst else {
            return Err(IpError::WrongFamily(dst));
        };
        let config = self.state.borrow().config.ok_or(IpError::NoAddress(dst))?;
        let hop = self.next_hop(&config, dst4)?;
        if hop.is_broadcast() || hop.is_multicast() {
            return Ok(());
        }
        match self.arp.query(hop).await {
            Ok(_) => Ok(()),
            Err(crate::net::arp::ArpError::Timeout(_)) => Err(IpError::HostUnreachable(dst)),
            Err(crate::net::arp::ArpError::Net(e)) => Err(IpError::Net(e)),
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
        // (Never `None` unless asked for resolved hops only.)
        self.send_via(src, dst, protocol, options, len, fill, false, 0)
            .unwrap_or(Ok(false))
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
        self.offload_towards(dst, offload)
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
        // (`send_via` checks the rest: the next hop resolved, the length
        // within IPv4's.)
        if segment_size == 0 || HEADER_LEN + len > self.eth.segmentation_offload() {
            return None;
        }
        let options = SendOptions {
            fragment: false,
            ..options
        };
        let fill = |_, buf: &mut [u8]| fill(buf);
        let tcp = wire::Protocol::Tcp.into();
        self.send_via(Some(src), dst, tcp, options, len, fill, true, segment_size)
    }

    // (Out of line: inlined into `Ipv4v6`'s, its arguments were copied
    // once more, about 35 instructions per UDP datagram; whether it is
    // inlined otherwise depends on where the code lands.)
    #[inline(never)]
    fn send_resolved(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
    ) -> Option<Result<bool, IpError>> {
        self.send_via(src, dst, protocol, options, len, fill, true, 0)
    }
}

impl<E: Ethernet, C: Mclock> Ipv4<E, C> {
    /// [`Ip::segmentation_offload`] once the device offers `offload`: the
    /// route's next hop must be resolved.
    #[inline(never)]
    fn offload_towards(&self, dst: IpAddr, offload: usize) -> usize {
        let IpAddr::V4(dst4) = dst else {
            return 0;
        };
        let Some(config) = self.state.borrow().config else {
            return 0;
        };
        match self.next_hop(&config, dst4) {
            Ok(hop) if self.arp.resolved(hop).is_some() => {
                offload.min(wire::MAX_PAYLOAD_LEN + HEADER_LEN) - HEADER_LEN
            }
            _ => 0,
        }
    }

    /// Takes back the counter and identification that
    /// [`Ipv4::send_via`] took for a datagram it does not send.
    #[cold]
    fn unsend(&self) {
        let mut state = self.state.borrow_mut();
        state.ident = state.ident.wrapping_sub(1);
        state.stats.sent -= 1;
    }

    /// [`Ip::send`]; with `resolved_only`, `None` (nothing sent) when the
    /// next hop is not resolved yet; with a `segment_size`, a TCP segment
    /// goes through the device's segmentation offload, whatever its length
    /// ([`Ip::send_segmented`], which checked it).
    #[allow(clippy::too_many_arguments)]
    fn send_via(
        &self,
        src: Option<IpAddr>,
        dst: IpAddr,
        protocol: u8,
        options: SendOptions,
        len: usize,
        fill: impl FnOnce(IpAddr, &mut [u8]),
        resolved_only: bool,
        segment_size: usize,
    ) -> Option<Result<bool, IpError>> {
        let IpAddr::V4(dst4) = dst else {
            return Some(Err(IpError::WrongFamily(dst)));
        };
        if len > wire::MAX_PAYLOAD_LEN {
            return Some(Err(IpError::TooBig {
                len,
                max: wire::MAX_PAYLOAD_LEN,
            }));
        }
        // One borrow of the state per datagram: the configuration, the
        // identification and the counter (undone below if nothing is sent).
        let (config, ident) = {
            let mut state = self.state.borrow_mut();
            let Some(config) = state.config else {
                return Some(Err(IpError::NoAddress(dst)));
            };
            state.ident = state.ident.wrapping_add(1);
            state.stats.sent += 1;
            (config, state.ident)
        };
        let src4 = match src {
            None => config.address.address(),
            Some(IpAddr::V4(s)) => s,
            Some(other) => {
                self.unsend();
                return Some(Err(IpError::WrongFamily(other)));
            }
        };
        let hop = match self.next_hop(&config, dst4) {
            Ok(hop) => hop,
            Err(e) => {
                self.unsend();
                return Some(Err(e));
            }
        };
        // The neighbour's address, looked up once for the whole send.
        let mac = self.arp.resolved(hop);
        if resolved_only && mac.is_none() {
            self.unsend();
            return None;
        }
        let max = self.eth.mtu().saturating_sub(HEADER_LEN);
        let mut header = wire::Repr {
            src_addr: src4,
            dst_addr: dst4,
            protocol: wire::Protocol::from(protocol),
            // RFC 1122 section 3.2.1.7: never a time to live of 0.
            ttl: match options.ttl {
                None | Some(0) => DEFAULT_TTL,
                Some(ttl) => ttl,
            },
            // (Fragments carry it too: each is sent with this header.)
            dscp_ecn: options.tos(),
            payload_len: len,
            ident,
            dont_fragment: !options.fragment,
            more_fragments: false,
            frag_offset: 0,
        };
        // A segment for the offload goes to it even when it fits the link:
        // the device cuts it by the MSS, which the path may need (a link
        // of 9,000 bytes behind a path of 1,500).
        if segment_size > 0
            && let Some(mac) = mac
        {
            // (Once per many MSS: out of the way of the plain sends.)
            cold_path();
            return Some(
                self.eth
                    .send_segmented(
                        mac,
                        EtherType::Ipv4,
                        HEADER_LEN + len,
                        segment_size,
                        |buf| {
                            header.emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
                            fill(IpAddr::V4(src4), &mut buf[HEADER_LEN..HEADER_LEN + len]);
                            HEADER_LEN + len
                        },
                    )
                    .map_err(IpError::Net),
            );
        }
        if len <= max {
            let fill = |buf: &mut [u8]| fill(IpAddr::V4(src4), buf);
            return Some(match mac {
                Some(mac) => self
                    .arp
                    .send_ipv4_resolved(mac, HEADER_LEN + len, |buf| {
                        header.emit(&mut wire::Packet::new_unchecked(&mut buf[..]));
                        fill(&mut buf[HEADER_LEN..]);
                    })
                    .map_err(IpError::Net),
                None => self.send_packet(hop, header, fill),
            });
        }
        if !options.fragment {
            self.unsend();
            return Some(Err(IpError::TooBig { len, max }));
        }
        // Fragment: the payload is written once, then cut into pieces of a
        // multiple of 8 bytes. A link that cannot carry 8 bytes after the
        // header (an MTU below 28; RFC 791 asks for 68 at least) cannot
        // carry fragments either.
        let piece = max & !7;
        if piece == 0 {
            self.unsend();
            return Some(Err(IpError::TooBig { len, max }));
        }
        self.state.borrow_mut().stats.fragmented += 1;
        let mut payload = vec![0u8; len];
        fill(IpAddr::V4(src4), &mut payload);
        let mut sent_all = true;
        for (i, chunk) in payload.chunks(piece).enumerate() {
            let offset = i * piece;
            header.payload_len = chunk.len();
            header.frag_offset = offset as u16;
            header.more_fragments = offset + chunk.len() < len;
            match self.send_packet(hop, header, |buf| buf.copy_from_slice(chunk)) {
                Ok(sent) => sent_all &= sent,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(sent_all))
    }
}

#[cfg(test)]
mod tests {
    use super::{OptionsRefused, check_options};

    #[test]
    fn options_are_checked_and_source_routes_refused() {
        use OptionsRefused::{Malformed, SourceRouted};
        // No-operations, end of list, then anything (ignored).
        assert_eq!(check_options(&[1, 1, 0, 0xff]), Ok(()));
        // Record route (7) with room for one address, pointer 4.
        assert_eq!(check_options(&[7, 7, 4, 0, 0, 0, 0, 0]), Ok(()));
        // A length below 2, past the header (both: the length octet at
        // fault), or missing (the kind's).
        assert_eq!(check_options(&[7, 1, 0, 0]), Err(Malformed(1)));
        assert_eq!(check_options(&[7, 9, 4, 0, 0, 0, 0, 0]), Err(Malformed(1)));
        assert_eq!(check_options(&[1, 1, 1, 7]), Err(Malformed(3)));
        // Loose and strict source routes, completed (pointer 8 > 7) or not
        // (pointer 4: we are a hop on the way): refused; too short for a
        // pointer: malformed.
        for kind in [131, 137] {
            assert_eq!(
                check_options(&[kind, 7, 8, 10, 0, 0, 9, 0]),
                Err(SourceRouted)
            );
            assert_eq!(
                check_options(&[kind, 7, 4, 10, 0, 0, 9, 0]),
                Err(SourceRouted)
            );
            assert_eq!(check_options(&[kind, 2, 1, 0]), Err(Malformed(1)));
        }
    }
}
