//! ARP (the seed's `arpv4` device type, `arp`): answers requests for our
//! addresses, resolves others' through the cache ([`cache`], the state
//! machine without I/O), queues IPv4 packets while resolving (bounded),
//! announces our addresses with gratuitous ARP at start and on change.
//!
//! Like the other layers the protocol runs synchronously: [`Arp::input`]
//! handles a received packet (answering and flushing waiting packets from
//! inside the call), [`Arp::send_ipv4`] sends or queues an IPv4 packet, and
//! [`Arp::poll`] runs the retries and expiries when [`Arp::next_deadline`]
//! comes. The state lives in a `RefCell` that is never borrowed across a
//! call into another layer or an await.
//!
//! [`Arp::revalidate`] takes an upper layer's doubt about a neighbour (TCP's
//! negative advice): its entry is checked by unicast requests and removed
//! if nobody answers (see [`cache`]). An entry used more than its trusted
//! time after its last confirmation is checked the same way, whatever the
//! traffic; the trusted time is drawn between 0.5 and 1.5 times
//! [`Config::reachable_ns`] (as Linux draws its neighbours'), so that hosts
//! on one link do not check their entries in step.

pub mod cache;

use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::poll_fn;
use core::net::Ipv4Addr;
use core::task::{Poll, Waker};

use crate::Mclock;
use crate::net::MacAddr;
use crate::net::device::NetError;
use crate::net::ethernet::Ethernet;
use crate::net::jitter::ReachableTime;
use crate::net::wire::arp::{self as wire, Operation, PACKET_LEN};
use crate::net::wire::ethernet::EtherType;
use crate::rt::MovingDeadline;

pub use cache::Config;
use cache::{Cache, Lookup};

/// The seed's `arpv4` device type (`Arp.S`): the addresses we answer for,
/// and resolution of others'.
pub trait Arpv4 {
    /// Our addresses.
    fn ips(&self) -> Vec<Ipv4Addr>;
    /// Replaces our addresses, announcing each new one.
    fn set_ips(&self, ips: &[Ipv4Addr]) -> Result<(), NetError>;
    /// Adds an address, announcing it.
    fn add_ip(&self, ip: Ipv4Addr) -> Result<(), NetError>;
    /// Stops answering for `ip`.
    fn remove_ip(&self, ip: Ipv4Addr);
    /// The link-layer address of `ip`, asking for it and waiting for the
    /// answer (or the last retry) when it is not cached.
    async fn query(&self, ip: Ipv4Addr) -> Result<MacAddr, ArpError>;
}

/// Why a resolution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArpError {
    /// Nobody answered our requests.
    Timeout(Ipv4Addr),
    /// The device failed.
    Net(NetError),
}

impl core::fmt::Display for ArpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ArpError::Timeout(ip) => write!(f, "ARP: no answer for {ip}"),
            ArpError::Net(e) => write!(f, "ARP: {e}"),
        }
    }
}

/// The ARP counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArpStats {
    /// IPv4 packets dropped: queue full, address unresolvable, evicted.
    pub dropped: u64,
    /// ARP packets that did not parse.
    pub malformed: u64,
    /// Requests we answered.
    pub replies_sent: u64,
    /// Requests we sent (unicast checks of doubted entries included).
    pub requests_sent: u64,
    /// Doubted entries whose check started ([`Arp::revalidate`]).
    pub revalidations: u64,
    /// Entries whose check started because they were used past their
    /// trusted time ([`Config::reachable_ns`]).
    pub reachability_checks: u64,
    /// ARP packets from another link address that claimed one of our
    /// addresses (an address conflict, RFC 5227 section 2.4).
    pub conflicts: u64,
    /// Announcements sent to defend an address in conflict (at most one
    /// per [`DEFEND_INTERVAL_NS`]).
    pub defences: u64,
}

/// RFC 5227's DEFEND_INTERVAL: at most one announcement per this long to
/// defend an address in conflict.
pub const DEFEND_INTERVAL_NS: u64 = 10_000_000_000;

struct State {
    cache: Cache<Vec<u8>>,
    ips: Vec<Ipv4Addr>,
    malformed: u64,
    replies_sent: u64,
    requests_sent: u64,
    revalidations: u64,
    conflicts: u64,
    defences: u64,
    /// When we last defended an address (see [`DEFEND_INTERVAL_NS`]).
    defended_at: Option<u64>,
    /// An address being checked before use ([`Arp::watch`]), and whether
    /// another station has answered for it or probed it since.
    watched: Option<Ipv4Addr>,
    claimed: bool,
    /// Tasks waiting in [`Arpv4::query`].
    waiters: Vec<Waker>,
    /// The cache's trusted time, drawn between 0.5 and 1.5 times
    /// [`Config::reachable_ns`] as Linux draws its neighbours', again every
    /// [`REDRAW_REACHABLE_NS`].
    reachable: ReachableTime,
}

/// How often the trusted time is drawn again (Linux's neighbour tables
/// draw theirs every 300 s).
pub const REDRAW_REACHABLE_NS: u64 = 300_000_000_000;

/// The ARP layer over the Ethernet layer `E`, timed by the monotonic clock
/// `C` (MirageOS's `Arp.Make`).
pub struct Arp<E: 'static, C: 'static> {
    eth: &'static E,
    clock: &'static C,
    state: RefCell<State>,
}

impl<E: Ethernet, C: Mclock> core::fmt::Debug for Arp<E, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Arp")
            .field("ips", &self.state.borrow().ips)
            .finish_non_exhaustive()
    }
}

impl<E: Ethernet, C: Mclock> Arp<E, C> {
    /// The layer over `eth`, with the cache limits of `config`; the time an
    /// entry is trusted is drawn between 0.5 and 1.5 times
    /// [`Config::reachable_ns`], and again every [`REDRAW_REACHABLE_NS`].
    pub fn connect_with(eth: &'static E, clock: &'static C, config: Config) -> Self {
        let now = clock.elapsed_ns();
        // (Seeded by the MAC address and the time: hosts started together
        // on one link draw apart.)
        let m = eth.mac().0;
        let mix = u64::from(u32::from_be_bytes([m[2], m[3], m[4], m[5]])) << 32 ^ now;
        let (reachable, first) =
            ReachableTime::new(config.reachable_ns, mix, now, REDRAW_REACHABLE_NS);
        let mut cache = Cache::new(config);
        cache.set_reachable_time(first);
        let state = State {
            cache,
            ips: Vec::new(),
            malformed: 0,
            replies_sent: 0,
            requests_sent: 0,
            revalidations: 0,
            conflicts: 0,
            defences: 0,
            defended_at: None,
            watched: None,
            claimed: false,
            waiters: Vec::new(),
            reachable,
        };
        Arp {
            eth,
            clock,
            state: RefCell::new(state),
        }
    }

    /// How long an entry is trusted after its last confirmation, as drawn
    /// last.
    pub fn reachable_time_ns(&self) -> u64 {
        self.state.borrow().cache.reachable_time()
    }

    /// The layer over `eth` with MirageOS's defaults.
    pub fn connect(eth: &'static E, clock: &'static C) -> Self {
        Self::connect_with(eth, clock, Config::default())
    }

    /// The resolved address of `ip`, if cached.
    pub fn cached(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.state.borrow().cache.get(ip, self.clock.elapsed_ns())
    }

    /// The counters.
    pub fn stats(&self) -> ArpStats {
        let state = self.state.borrow();
        ArpStats {
            dropped: state.cache.dropped,
            malformed: state.malformed,
            replies_sent: state.replies_sent,
            requests_sent: state.requests_sent,
            revalidations: state.revalidations,
            reachability_checks: state.cache.reachability_checks,
            conflicts: state.conflicts,
            defences: state.defences,
        }
    }

    /// The number of cache entries.
    pub fn cache_len(&self) -> usize {
        self.state.borrow().cache.len()
    }

    /// Sends an ARP packet to `target_mac`: a request (broadcast, or
    /// unicast to check a cached entry) or a reply.
    fn send(
        &self,
        op: Operation,
        target_ip: Ipv4Addr,
        target_mac: MacAddr,
        source_ip: Ipv4Addr,
    ) -> Result<bool, NetError> {
        let request = op == Operation::Request;
        let repr = wire::Repr {
            operation: op,
            source_hardware_addr: self.eth.mac(),
            source_protocol_addr: source_ip,
            target_hardware_addr: if request {
                MacAddr::default()
            } else {
                target_mac
            },
            target_protocol_addr: target_ip,
        };
        let dst = target_mac;
        {
            let mut state = self.state.borrow_mut();
            if request {
                state.requests_sent += 1;
            } else {
                state.replies_sent += 1;
            }
        }
        self.eth.send(dst, EtherType::Arp, PACKET_LEN, |buf| {
            repr.emit(&mut wire::Packet::new_unchecked(&mut buf[..PACKET_LEN]));
            PACKET_LEN
        })
    }

    /// Announces `ip` (a gratuitous request: sender and target are `ip`).
    fn announce(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        self.send(Operation::Request, ip, MacAddr::BROADCAST, ip)
            .map(drop)
    }

    /// Sends an ARP probe for `ip` (RFC 5227 section 2.1.1): a broadcast
    /// request from the unspecified address, which does not touch the
    /// caches of those who hear it; the station that has `ip` answers.
    pub fn probe(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        self.send(
            Operation::Request,
            ip,
            MacAddr::BROADCAST,
            Ipv4Addr::UNSPECIFIED,
        )
        .map(drop)
    }

    /// Watches `ip` (an address about to be used: `None` stops): any ARP
    /// packet from another station that answers for it, announces it or
    /// probes it too is remembered, for [`Arp::take_claimed`]. Watching
    /// the address watched already keeps what was seen.
    pub fn watch(&self, ip: Option<Ipv4Addr>) {
        let mut state = self.state.borrow_mut();
        if state.watched != ip {
            state.watched = ip;
            state.claimed = false;
        }
    }

    /// Whether another station claimed the watched address since the last
    /// call (or since [`Arp::watch`]).
    pub fn take_claimed(&self) -> bool {
        core::mem::take(&mut self.state.borrow_mut().claimed)
    }

    /// Another station claims our `ip` (RFC 5227 section 2.4): the
    /// conflict is logged and counted, and the address defended by one
    /// announcement, unless one went less than [`DEFEND_INTERVAL_NS`] ago
    /// (option (b): a host keeps its configured address; the other side
    /// learns of the conflict and, if it follows RFC 5227, gives way).
    #[cold]
    #[inline(never)]
    fn conflict(&self, ip: Ipv4Addr, mac: MacAddr, now: u64) -> Result<(), NetError> {
        let defend = {
            let mut state = self.state.borrow_mut();
            state.conflicts += 1;
            let defend = state
                .defended_at
                .is_none_or(|t| now.saturating_sub(t) >= DEFEND_INTERVAL_NS);
            if defend {
                state.defended_at = Some(now);
                state.defences += 1;
            }
            defend
        };
        log::error!(target: "arp", "{mac} claims our address {ip}: an address conflict");
        if defend {
            self.announce(ip)?;
        }
        Ok(())
    }

    /// Asks who has `ip`: broadcast, or with `to` the link address to
    /// check (RFC 1122 section 2.3.2.1's unicast poll).
    fn request(&self, ip: Ipv4Addr, to: MacAddr) -> Result<(), NetError> {
        let source = self
            .state
            .borrow()
            .ips
            .first()
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        self.send(Operation::Request, ip, to, source).map(drop)
    }

    /// An upper layer doubts that the neighbour `ip` still answers at its
    /// cached link address (RFC 9293 section 3.8.3: TCP's negative advice
    /// after R1 retransmissions; RFC 1122 section 2.3.2.1 (4) asks for
    /// such advice to reach the cache). A resolved entry keeps serving
    /// while it is checked by unicast requests ([`Config::probes`],
    /// [`Config::retry_ns`] apart): an answer confirms it, silence removes
    /// it, and the next packet to `ip` resolves it afresh by broadcast. An
    /// entry being checked, pending or absent is left alone.
    pub fn revalidate(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        let now = self.clock.elapsed_ns();
        let mac = {
            let mut state = self.state.borrow_mut();
            let mac = state.cache.revalidate(ip, now);
            state.revalidations += u64::from(mac.is_some());
            mac
        };
        match mac {
            Some(mac) => self.request(ip, mac),
            None => Ok(()),
        }
    }

    fn send_ipv4_to(&self, mac: MacAddr, packet: &[u8]) -> Result<bool, NetError> {
        self.eth.send(mac, EtherType::Ipv4, packet.len(), |buf| {
            buf[..packet.len()].copy_from_slice(packet);
            packet.len()
        })
    }

    fn wake_waiters(&self) {
        let waiters = core::mem::take(&mut self.state.borrow_mut().waiters);
        for waker in waiters {
            waker.wake();
        }
    }

    /// Handles an ARP packet (the payload of a frame of EtherType ARP):
    /// learns the sender (creating an entry only when the packet is for one
    /// of our addresses), sends the packets that waited for it, and answers
    /// requests for our addresses. Malformed packets are counted.
    pub fn input(&self, payload: &[u8]) -> Result<(), NetError> {
        let now = self.clock.elapsed_ns();
        let repr = match wire::Packet::new_checked(payload).and_then(|p| wire::Repr::parse(&p)) {
            Ok(repr) => repr,
            Err(_) => {
                self.state.borrow_mut().malformed += 1;
                return Ok(());
            }
        };
        let (waiting, for_us, learnt, claimed) = {
            let mut state = self.state.borrow_mut();
            if let Some(w) = state.watched
                && repr.source_hardware_addr != self.eth.mac()
                && (repr.source_protocol_addr == w
                    || (repr.source_protocol_addr.is_unspecified()
                        && repr.target_protocol_addr == w))
            {
                // (It answers for the address, announces it, or probes it
                // too: RFC 5227 section 2.1.1's conflicts.)
                state.claimed = true;
            }
            let for_us = state.ips.contains(&repr.target_protocol_addr);
            let ours = state.ips.contains(&repr.source_protocol_addr);
            if ours {
                // Someone claims our address: never learn it, nor answer
                // it (as Linux, whose route check refuses a local source).
                if repr.source_hardware_addr != self.eth.mac() {
                    drop(state);
                    self.conflict(repr.source_protocol_addr, repr.source_hardware_addr, now)?;
                }
                (Vec::new(), for_us, false, true)
            } else {
                let before = state.cache.get(repr.source_protocol_addr, now);
                let waiting = state.cache.learn(
                    repr.source_protocol_addr,
                    repr.source_hardware_addr,
                    now,
                    for_us,
                );
                let after = state.cache.get(repr.source_protocol_addr, now);
                (waiting, for_us, before != after, false)
            }
        };
        for packet in waiting {
            self.send_ipv4_to(repr.source_hardware_addr, &packet)?;
        }
        if learnt {
            self.wake_waiters();
        }
        if for_us
            && !claimed
            && repr.operation == Operation::Request
            && repr.source_hardware_addr.is_unicast()
        {
            self.send(
                Operation::Reply,
                repr.source_protocol_addr,
                repr.source_hardware_addr,
                repr.target_protocol_addr,
            )?;
        }
        Ok(())
    }

    /// Sends an IPv4 packet of `len` bytes to the neighbour `ip` (or to
    /// everyone when `ip` is the broadcast address): `fill` writes it in
    /// place when the address is resolved (zero-copy); otherwise the packet
    /// is written into a buffer and queued until resolution (bounded: a
    /// full queue drops it, counted). `Ok(false)` when the device could not
    /// take the frame now.
    pub fn send_ipv4(
        &self,
        ip: Ipv4Addr,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<bool, NetError> {
        if let Some(mac) = self.resolved(ip) {
            return self.send_ipv4_resolved(mac, len, fill);
        }
        let mut packet = vec![0u8; len];
        fill(&mut packet);
        let now = self.clock.elapsed_ns();
        let (lookup, packet) = self.state.borrow_mut().cache.resolve(ip, packet, now);
        match (lookup, packet) {
            // Resolved meanwhile (cannot happen single-threaded, but cheap).
            (Lookup::Found(mac), Some(packet)) => self.send_ipv4_to(mac, &packet),
            (Lookup::SendRequest, _) => self.request(ip, MacAddr::BROADCAST).map(|()| true),
            _ => Ok(true),
        }
    }

    /// The link-layer address of the neighbour `ip` if it is known without
    /// asking: cached, or the broadcast or a multicast address.
    #[inline]
    pub fn resolved(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        if ip.is_broadcast() {
            Some(MacAddr::BROADCAST)
        } else if ip.is_multicast() {
            let o = ip.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        } else {
            // No clock read per packet: an entry serves until `poll`
            // expires it at its deadline.
            self.state.borrow().cache.lookup(ip)
        }
    }

    /// Sends an IPv4 packet of `len` bytes to `mac` (from
    /// [`Arp::resolved`]): `fill` writes it in place.
    pub fn send_ipv4_resolved(
        &self,
        mac: MacAddr,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<bool, NetError> {
        self.eth.send(mac, EtherType::Ipv4, len, |buf| {
            fill(&mut buf[..len]);
            len
        })
    }

    /// Runs the cache's timers: repeats requests, gives up, expires
    /// entries. Call when [`Arp::next_deadline`] comes.
    pub fn poll(&self) -> Result<(), NetError> {
        let now = self.clock.elapsed_ns();
        let due = {
            let mut state = self.state.borrow_mut();
            // (At the first poll after its time: not a timer of its own,
            // which would wake an idle host for it.)
            if let Some(t) = state.reachable.redraw_due(now) {
                state.cache.set_reachable_time(t);
            }
            state.cache.poll(now)
        };
        if !due.failed.is_empty() {
            self.wake_waiters();
        }
        // Every request due goes, whatever an earlier one did (the cache
        // counted them all as sent); the first error is returned.
        let broadcasts = due.requests.into_iter().map(|ip| (ip, MacAddr::BROADCAST));
        let mut first_error = None;
        for (ip, mac) in broadcasts.chain(due.probes) {
            if let Err(e) = self.request(ip, mac) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// When [`Arp::poll`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        self.state.borrow().cache.next_deadline()
    }
}

impl<E: Ethernet, C: Mclock> Arpv4 for Arp<E, C> {
    fn ips(&self) -> Vec<Ipv4Addr> {
        self.state.borrow().ips.clone()
    }

    fn set_ips(&self, ips: &[Ipv4Addr]) -> Result<(), NetError> {
        {
            let mut state = self.state.borrow_mut();
            for ip in ips {
                state.cache.remove(*ip);
            }
            state.ips = ips.to_vec();
        }
        for &ip in ips {
            self.announce(ip)?;
        }
        Ok(())
    }

    fn add_ip(&self, ip: Ipv4Addr) -> Result<(), NetError> {
        {
            let mut state = self.state.borrow_mut();
            if state.ips.contains(&ip) {
                return Ok(());
            }
            state.cache.remove(ip);
            state.ips.push(ip);
        }
        self.announce(ip)
    }

    fn remove_ip(&self, ip: Ipv4Addr) {
        self.state.borrow_mut().ips.retain(|&i| i != ip);
    }

    async fn query(&self, ip: Ipv4Addr) -> Result<MacAddr, ArpError> {
        // As on the send path, an entry serves until `poll` expires it.
        if let Some(mac) = self.state.borrow().cache.lookup(ip) {
            return Ok(mac);
        }
        let now = self.clock.elapsed_ns();
        let lookup = self.state.borrow_mut().cache.request(ip, now);
        if lookup == Lookup::SendRequest {
            self.request(ip, MacAddr::BROADCAST)
                .map_err(ArpError::Net)?;
        }
        // The stack's runner sends the retries when its timer fires, but
        // an idle runner does not know of this resolution: this task runs
        // them as well when the cache's next deadline passes (a retry sent
        // by one is not due for the other).
        let mut retries = MovingDeadline::new();
        poll_fn(|cx| {
            loop {
                {
                    let mut state = self.state.borrow_mut();
                    if let Some(mac) = state.cache.lookup(ip) {
                        return Poll::Ready(Ok(mac));
                    }
                    if !state.cache.is_pending(ip) {
                        return Poll::Ready(Err(ArpError::Timeout(ip)));
                    }
                    if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        state.waiters.push(cx.waker().clone());
                    }
                }
                if !retries.poll_reached(cx, self.next_deadline()) {
                    return Poll::Pending;
                }
                // (A retry the device refused goes at the next deadline,
                // as from the runner.)
                if let Err(e) = self.poll() {
                    log::debug!(target: "arp", "{e}");
                }
            }
        })
        .await
    }
}
