//! The configuration of an IPv6 interface as a state machine without I/O:
//! its addresses with duplicate address detection (RFC 4862 section 5.4),
//! stateless autoconfiguration from router advertisements (SLAAC, RFC 4862
//! section 5.5), the default routers and on-link prefixes (RFC 4861
//! section 6.3.4), router solicitation at start (section 6.3.7), and the
//! choice of source address and next hop.
//!
//! Every call takes the monotonic time; the layer sends what it is told.
//! Bounds: at most [`MAX_ADDRESSES`] addresses, [`MAX_ROUTERS`] routers and
//! [`MAX_PREFIXES`] prefixes, so advertisements from a hostile router
//! cannot grow the state.

use alloc::vec::Vec;
use core::net::Ipv6Addr;

use super::addr::{is_link_local, prefix_of, same_prefix, with_interface_id};
use crate::net::MacAddr;
use crate::net::wire::icmpv6::PrefixInfo;

const SEC: u64 = 1_000_000_000;

/// Most addresses an interface holds.
pub const MAX_ADDRESSES: usize = 8;
/// Most default routers remembered.
pub const MAX_ROUTERS: usize = 4;
/// Most on-link prefixes remembered.
pub const MAX_PREFIXES: usize = 8;
/// RetransTimer's default: the wait for a DAD answer (RFC 4861).
pub const DAD_WAIT_NS: u64 = SEC;
/// MAX_RTR_SOLICITATION_DELAY (RFC 4861 section 10): the most the first
/// DAD probe after start waits (RFC 4862 section 5.4.2), a random time
/// below it.
pub const MAX_RTR_SOLICITATION_DELAY_NS: u64 = SEC;
/// MAX_RTR_SOLICITATIONS (RFC 4861 section 10).
pub const MAX_RTR_SOLICITATIONS: u32 = 3;
/// RTR_SOLICITATION_INTERVAL.
pub const RTR_SOLICITATION_INTERVAL_NS: u64 = 4 * SEC;

/// Where an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The link-local address of the MAC address.
    LinkLocal,
    /// Given by the configuration (`--ipv6`).
    Static,
    /// Formed from a router's prefix (SLAAC).
    Autoconf,
}

/// The state of an address (RFC 4862 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrState {
    /// Being checked for uniqueness: not usable. The probe goes out at
    /// the first poll from `until` on; the check ends, without an answer,
    /// one wait after it.
    Tentative {
        /// When the next step (probe, or end of the check) is due.
        until: u64,
        /// Whether the probe is out.
        probed: bool,
    },
    /// Usable.
    Preferred,
    /// Usable for existing communication only (preferred lifetime over).
    Deprecated,
}

/// An address of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub addr: Ipv6Addr,
    /// The length of its on-link prefix.
    pub prefix_len: u8,
    /// Its state.
    pub state: AddrState,
    /// Where it came from.
    pub origin: Origin,
    /// When it becomes deprecated (`u64::MAX`: never).
    pub preferred_until: u64,
    /// When it is removed (`u64::MAX`: never).
    pub valid_until: u64,
}

impl Address {
    /// Whether the address may be used as a source.
    pub fn usable(&self) -> bool {
        !matches!(self.state, AddrState::Tentative { .. })
    }
}

#[derive(Debug, Clone, Copy)]
struct Router {
    addr: Ipv6Addr,
    until: u64,
}

#[derive(Debug, Clone, Copy)]
struct Prefix {
    prefix: Ipv6Addr,
    len: u8,
    until: u64,
}

/// What [`Autoconf::poll`] asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Send a DAD solicitation for each of these tentative addresses.
    pub dad_probes: Vec<Ipv6Addr>,
    /// These addresses passed DAD and are now usable.
    pub now_preferred: Vec<Ipv6Addr>,
    /// Send a router solicitation.
    pub router_solicit: bool,
}

/// The interface's configuration.
#[derive(Debug)]
pub struct Autoconf {
    mac: MacAddr,
    addresses: Vec<Address>,
    routers: Vec<Router>,
    prefixes: Vec<Prefix>,
    /// The configured gateway, used when no router advertised itself.
    static_gateway: Option<Ipv6Addr>,
    /// Whether addresses are formed from advertised prefixes.
    slaac: bool,
    rs_sent: u32,
    next_rs: Option<u64>,
    /// Until when no first DAD probe goes ([`Autoconf::delay_first_probes`]):
    /// addresses added before then (an early router advertisement's) wait
    /// too.
    quiet_until: u64,
    /// Addresses dropped as duplicates.
    pub duplicates: u64,
}

impl Autoconf {
    /// The configuration of the interface `mac`, starting at `now` with its
    /// link-local address and the static address `fixed` (if any) both
    /// tentative, and router solicitation once the link-local address is
    /// usable. `slaac`: form addresses from advertised prefixes.
    pub fn new(
        mac: MacAddr,
        fixed: Option<(Ipv6Addr, u8)>,
        gateway: Option<Ipv6Addr>,
        slaac: bool,
        now: u64,
    ) -> Self {
        let mut a = Autoconf {
            mac,
            addresses: Vec::new(),
            routers: Vec::new(),
            prefixes: Vec::new(),
            static_gateway: gateway,
            slaac,
            rs_sent: 0,
            next_rs: None,
            quiet_until: 0,
            duplicates: 0,
        };
        a.add(
            super::addr::link_local(mac),
            64,
            Origin::LinkLocal,
            u64::MAX,
            u64::MAX,
            now,
        );
        if let Some((addr, len)) = fixed {
            a.add(addr, len, Origin::Static, u64::MAX, u64::MAX, now);
        }
        a
    }

    /// The first DAD probes of the addresses not yet probed go at `at`
    /// rather than at the next poll: RFC 4862 section 5.4.2's random delay
    /// before the first message an interface sends after it starts, so
    /// that hosts started together (a fleet of unikernels) do not all send
    /// at once. (RFC 4861 section 6.3.7: the router solicitation that
    /// follows DAD needs no delay of its own after this one.) Addresses
    /// added before `at` wait for it too.
    pub fn delay_first_probes(&mut self, at: u64) {
        self.quiet_until = at;
        for a in &mut self.addresses {
            if let AddrState::Tentative {
                until,
                probed: false,
            } = &mut a.state
            {
                *until = (*until).max(at);
            }
        }
    }

    /// The addresses, in the order they were added.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The state of our address `addr`, if it is one.
    pub fn state_of(&self, addr: Ipv6Addr) -> Option<AddrState> {
        self.addresses
            .iter()
            .find(|a| a.addr == addr)
            .map(|a| a.state)
    }

    /// Whether `addr` is one of our usable addresses.
    pub fn is_ours(&self, addr: Ipv6Addr) -> bool {
        self.addresses.iter().any(|a| a.addr == addr && a.usable())
    }

    /// Whether `addr` is one of our addresses, tentative ones included.
    pub fn is_ours_or_tentative(&self, addr: Ipv6Addr) -> bool {
        self.addresses.iter().any(|a| a.addr == addr)
    }

    /// Adds a tentative address (no-op if present or full).
    fn add(
        &mut self,
        addr: Ipv6Addr,
        prefix_len: u8,
        origin: Origin,
        preferred_until: u64,
        valid_until: u64,
        now: u64,
    ) -> bool {
        if self.addresses.len() >= MAX_ADDRESSES || self.is_ours_or_tentative(addr) {
            return false;
        }
        self.addresses.push(Address {
            addr,
            prefix_len,
            // The probe goes out at the next poll (after the start's quiet
            // time).
            state: AddrState::Tentative {
                until: now.max(self.quiet_until),
                probed: false,
            },
            origin,
            preferred_until,
            valid_until,
        });
        true
    }

    /// Duplicate address detection found another node using (or trying)
    /// `addr`: drops it if it is still tentative. Whether it was.
    pub fn dad_failed(&mut self, addr: Ipv6Addr) -> bool {
        let before = self.addresses.len();
        self.addresses
            .retain(|a| !(a.addr == addr && matches!(a.state, AddrState::Tentative { .. })));
        let failed = self.addresses.len() != before;
        if failed {
            self.duplicates += 1;
        }
        failed
    }

    /// A router advertisement from `router` at `now`: its lifetime as a
    /// default router, and its prefix information (on-link prefixes; a
    /// /64 with the A flag forms an address). Returns whether an address
    /// was added.
    pub fn router_advert(
        &mut self,
        router: Ipv6Addr,
        router_lifetime_s: u16,
        prefix: Option<PrefixInfo>,
        now: u64,
    ) -> bool {
        // Routers must speak from their link-local address.
        if !is_link_local(router) {
            return false;
        }
        self.next_rs = None;
        let until = now.saturating_add(u64::from(router_lifetime_s) * SEC);
        match self.routers.iter().position(|r| r.addr == router) {
            Some(i) if router_lifetime_s == 0 => self.routers[i].until = now,
            Some(i) => self.routers[i].until = until,
            None if router_lifetime_s > 0 && self.routers.len() < MAX_ROUTERS => {
                self.routers.push(Router {
                    addr: router,
                    until,
                })
            }
            None => {}
        }
        self.routers.retain(|r| r.until > now);
        let Some(p) = prefix else {
            return false;
        };
        if is_link_local(p.prefix) || p.preferred_lifetime > p.valid_lifetime {
            return false;
        }
        let lifetime = |secs: u32| {
            if secs == u32::MAX {
                u64::MAX
            } else {
                now.saturating_add(u64::from(secs) * SEC)
            }
        };
        if p.on_link {
            let network = prefix_of(p.prefix, p.prefix_len);
            let valid = lifetime(p.valid_lifetime);
            match self
                .prefixes
                .iter()
                .position(|q| q.prefix == network && q.len == p.prefix_len)
            {
                Some(i) => self.prefixes[i].until = valid,
                None if p.valid_lifetime > 0 && self.prefixes.len() < MAX_PREFIXES => {
                    self.prefixes.push(Prefix {
                        prefix: network,
                        len: p.prefix_len,
                        until: valid,
                    })
                }
                None => {}
            }
        }
        // (A zero valid lifetime still updates an address already formed,
        // RFC 4862 5.5.3 e; it only forms none, 5.5.3 d.)
        if !(self.slaac && p.autonomous && p.prefix_len == 64) {
            return false;
        }
        let addr = with_interface_id(p.prefix, self.mac);
        let (preferred, valid) = (lifetime(p.preferred_lifetime), lifetime(p.valid_lifetime));
        if let Some(a) = self.addresses.iter_mut().find(|a| a.addr == addr) {
            // RFC 4862 5.5.3 e: a valid lifetime is only shortened below two
            // hours by an advertisement that says at least that much.
            let two_hours = now.saturating_add(7200 * SEC);
            a.valid_until = if valid > two_hours || valid > a.valid_until {
                valid
            } else {
                a.valid_until.min(two_hours)
            };
            a.preferred_until = preferred;
            if a.state == AddrState::Deprecated && preferred > now {
                a.state = AddrState::Preferred;
            }
            return false;
        }
        if p.valid_lifetime == 0 {
            return false;
        }
        self.add(addr, 64, Origin::Autoconf, preferred, valid, now)
    }

    /// Advances to `now`: DAD probes and their outcome, router
    /// solicitations, lifetimes.
    pub fn poll(&mut self, now: u64) -> Due {
        let mut due = Due::default();
        for a in &mut self.addresses {
            match a.state {
                AddrState::Tentative { until, probed } if until <= now => {
                    if probed {
                        a.state = AddrState::Preferred;
                        due.now_preferred.push(a.addr);
                    } else {
                        a.state = AddrState::Tentative {
                            until: now.saturating_add(DAD_WAIT_NS),
                            probed: true,
                        };
                        due.dad_probes.push(a.addr);
                    }
                }
                AddrState::Preferred if a.preferred_until <= now => {
                    a.state = AddrState::Deprecated;
                }
                _ => {}
            }
        }
        self.addresses.retain(|a| a.valid_until > now);
        self.routers.retain(|r| r.until > now);
        self.prefixes.retain(|p| p.until > now);
        // Solicit routers once the link-local address is usable.
        let link_local_ready = self
            .addresses
            .iter()
            .any(|a| a.origin == Origin::LinkLocal && a.usable());
        if link_local_ready && self.routers.is_empty() && self.rs_sent < MAX_RTR_SOLICITATIONS {
            let at = *self.next_rs.get_or_insert(now);
            if at <= now {
                self.rs_sent += 1;
                self.next_rs = Some(now.saturating_add(RTR_SOLICITATION_INTERVAL_NS));
                due.router_solicit = true;
            }
        }
        due
    }

    /// When [`Autoconf::poll`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        let addresses = self.addresses.iter().map(|a| match a.state {
            AddrState::Tentative { until, .. } => until,
            AddrState::Preferred => a.preferred_until.min(a.valid_until),
            AddrState::Deprecated => a.valid_until,
        });
        let routers = self.routers.iter().map(|r| r.until);
        let prefixes = self.prefixes.iter().map(|p| p.until);
        let rs = if self.routers.is_empty() && self.rs_sent < MAX_RTR_SOLICITATIONS {
            self.next_rs
        } else {
            None
        };
        addresses
            .chain(routers)
            .chain(prefixes)
            .chain(rs)
            .filter(|&t| t != u64::MAX)
            .min()
    }

    /// Our source address for `dst` (RFC 6724 in brief: the link-local
    /// address for link-local and link-scoped multicast destinations; else
    /// a preferred global address, one sharing the longest prefix with
    /// `dst` first, a deprecated one if no other).
    pub fn source_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let link_scope =
            is_link_local(dst) || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2);
        let pick = |origin_ok: &dyn Fn(&Address) -> bool, state: AddrState| {
            self.addresses
                .iter()
                .filter(|a| a.state == state && origin_ok(a))
                .max_by_key(|a| (u128::from(a.addr) ^ u128::from(dst)).leading_zeros())
                .map(|a| a.addr)
        };
        if link_scope {
            return pick(&|a| a.origin == Origin::LinkLocal, AddrState::Preferred);
        }
        let global = |a: &Address| a.origin != Origin::LinkLocal;
        pick(&global, AddrState::Preferred).or_else(|| pick(&global, AddrState::Deprecated))
    }

    /// Whether `dst` is on the link: link-local, or inside a prefix of one
    /// of our addresses or an advertised on-link prefix.
    pub fn on_link(&self, dst: Ipv6Addr) -> bool {
        is_link_local(dst)
            || self
                .addresses
                .iter()
                .any(|a| a.origin == Origin::Static && same_prefix(a.addr, dst, a.prefix_len))
            || self
                .prefixes
                .iter()
                .any(|p| same_prefix(p.prefix, dst, p.len))
    }

    /// The neighbour a datagram to the unicast `dst` goes to: `dst` itself
    /// on the link, else a default router (an advertised one first, then
    /// the configured gateway).
    pub fn next_hop(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        if self.on_link(dst) {
            return Some(dst);
        }
        self.routers.first().map(|r| r.addr).or(self.static_gateway)
    }

    /// [`Autoconf::next_hop`] with RFC 4861 section 6.3.6's default router
    /// selection among several advertised routers: the first that is
    /// reachable or probably reachable (`reachable`: its neighbour entry is
    /// in any state but INCOMPLETE) is preferred; when none is, they are
    /// taken in turn (`turn` counts the choices), so that a dead router
    /// does not take every datagram while another would do.
    pub fn next_hop_by(
        &self,
        dst: Ipv6Addr,
        reachable: impl Fn(Ipv6Addr) -> bool,
        turn: &core::cell::Cell<usize>,
    ) -> Option<Ipv6Addr> {
        if self.on_link(dst) || self.routers.len() < 2 {
            return self.next_hop(dst);
        }
        if let Some(r) = self.routers.iter().find(|r| reachable(r.addr)) {
            return Some(r.addr);
        }
        let i = turn.get();
        turn.set(i.wrapping_add(1));
        Some(self.routers[i % self.routers.len()].addr)
    }

    /// The default routers currently known (advertised ones, then the
    /// configured gateway).
    pub fn routers(&self) -> Vec<Ipv6Addr> {
        self.routers
            .iter()
            .map(|r| r.addr)
            .chain(self.static_gateway)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x42]);

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn prefix(p: &str, valid: u32, preferred: u32) -> PrefixInfo {
        PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: valid,
            preferred_lifetime: preferred,
            prefix: addr(p),
        }
    }

    /// When the address `a` stops being valid.
    fn valid_until(c: &Autoconf, a: Ipv6Addr) -> u64 {
        c.addresses()
            .iter()
            .find(|x| x.addr == a)
            .unwrap()
            .valid_until
    }

    /// Runs polls until every tentative address is decided.
    fn settle(c: &mut Autoconf, mut now: u64) -> u64 {
        for _ in 0..4 {
            c.poll(now);
            now += DAD_WAIT_NS;
        }
        now
    }

    #[test]
    fn addresses_pass_dad_in_two_steps() {
        let mut c = Autoconf::new(MAC, Some((addr("fd00::5"), 64)), None, true, 0);
        assert!(!c.is_ours(addr("fd00::5")) && c.is_ours_or_tentative(addr("fd00::5")));
        let due = c.poll(0);
        assert_eq!(due.dad_probes.len(), 2);
        assert!(due.now_preferred.is_empty());
        assert_eq!(c.next_deadline(), Some(DAD_WAIT_NS));
        let due = c.poll(DAD_WAIT_NS);
        assert_eq!(due.now_preferred.len(), 2);
        // The link-local address is usable: routers are solicited.
        assert!(due.router_solicit);
        assert!(c.is_ours(addr("fd00::5")));
        assert_eq!(c.source_for(addr("fd00::9")), Some(addr("fd00::5")));
        assert_eq!(
            c.source_for(addr("fe80::1")),
            Some(super::super::addr::link_local(MAC))
        );
    }

    #[test]
    fn a_conflict_during_dad_drops_the_address() {
        let mut c = Autoconf::new(MAC, Some((addr("fd00::5"), 64)), None, true, 0);
        c.poll(0);
        assert!(c.dad_failed(addr("fd00::5")));
        assert!(!c.is_ours_or_tentative(addr("fd00::5")));
        // A usable address is not given up by a late conflict.
        settle(&mut c, 0);
        assert!(!c.dad_failed(super::super::addr::link_local(MAC)));
        assert_eq!(c.duplicates, 1);
    }

    #[test]
    fn router_solicitations_are_bounded_and_stop_with_an_advertisement() {
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let mut sent = 0;
        for t in 0..60 {
            if c.poll(t * SEC).router_solicit {
                sent += 1;
            }
        }
        assert_eq!(sent, MAX_RTR_SOLICITATIONS);
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let now = settle(&mut c, 0);
        c.router_advert(addr("fe80::1"), 600, None, now);
        assert!(
            !c.poll(now + 10 * RTR_SOLICITATION_INTERVAL_NS)
                .router_solicit
        );
    }

    #[test]
    fn a_reachable_default_router_is_preferred_else_they_take_turns() {
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let now = settle(&mut c, 0);
        let (r1, r2, r3) = (addr("fe80::1"), addr("fe80::2"), addr("fe80::3"));
        let far = addr("2001:db8::7");
        let turn = core::cell::Cell::new(0);
        c.router_advert(r1, 1800, None, now);
        // One router: it, whatever its state.
        assert_eq!(c.next_hop_by(far, |_| false, &turn), Some(r1));
        c.router_advert(r2, 1800, None, now);
        c.router_advert(r3, 1800, None, now);
        // The first reachable one.
        assert_eq!(c.next_hop_by(far, |r| r == r2 || r == r3, &turn), Some(r2));
        // None: in turn.
        let picks: Vec<_> = (0..4)
            .map(|_| c.next_hop_by(far, |_| false, &turn))
            .collect();
        assert_eq!(picks, [Some(r1), Some(r2), Some(r3), Some(r1)]);
        // On the link: the destination itself.
        let on_link = with_interface_id(addr("fe80::"), MacAddr([2, 0, 0, 0, 0, 7]));
        assert_eq!(c.next_hop_by(on_link, |_| false, &turn), Some(on_link));
    }

    /// RFC 4862 section 5.4.2: the first probes wait for the random delay
    /// after start, those of an address an early advertisement brings too.
    #[test]
    fn no_probe_goes_before_the_delay_after_start() {
        let mut c = Autoconf::new(MAC, Some((addr("fd00::5"), 64)), None, true, 0);
        c.delay_first_probes(700);
        assert!(c.poll(0).dad_probes.is_empty());
        assert_eq!(c.next_deadline(), Some(700));
        assert!(c.router_advert(
            addr("fe80::1"),
            1800,
            Some(prefix("2001:db8::", 10_000, 100)),
            100
        ));
        assert!(c.poll(100).dad_probes.is_empty());
        assert_eq!(c.poll(700).dad_probes.len(), 3);
    }

    #[test]
    fn slaac_respects_lifetimes_and_the_two_hour_rule() {
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let now = settle(&mut c, 0);
        assert!(c.router_advert(
            addr("fe80::1"),
            1800,
            Some(prefix("2001:db8::", 10_000, 100)),
            now
        ));
        let now = settle(&mut c, now);
        let a = with_interface_id(addr("2001:db8::"), MAC);
        assert!(c.is_ours(a));
        assert_eq!(c.next_hop(addr("2001:db8::77")), Some(addr("2001:db8::77")));
        assert_eq!(c.next_hop(addr("2001:db9::1")), Some(addr("fe80::1")));
        // A short valid lifetime cannot cut the address below two hours.
        c.router_advert(addr("fe80::1"), 1800, Some(prefix("2001:db8::", 5, 5)), now);
        assert_eq!(valid_until(&c, a), now + 7200 * SEC);
        // Deprecated after the preferred lifetime, still a source if alone.
        c.poll(now + 10 * SEC);
        assert_eq!(c.state_of(a), Some(AddrState::Deprecated));
        assert_eq!(c.source_for(addr("2001:db9::1")), Some(a));
        c.poll(now + 7201 * SEC);
        assert_eq!(c.state_of(a), None);
    }

    #[test]
    fn a_zero_valid_lifetime_deprecates_and_applies_the_two_hour_rule() {
        // RFC 4862 5.5.3 e: an advertisement for the prefix of an address
        // already formed resets its preferred lifetime, and cuts a valid
        // lifetime over two hours to two hours, even when it says zero.
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let now = settle(&mut c, 0);
        c.router_advert(
            addr("fe80::1"),
            1800,
            Some(prefix("2001:db8::", 10_000, 1000)),
            now,
        );
        let now = settle(&mut c, now);
        let a = with_interface_id(addr("2001:db8::"), MAC);
        assert_eq!(c.state_of(a), Some(AddrState::Preferred));
        c.router_advert(addr("fe80::1"), 1800, Some(prefix("2001:db8::", 0, 0)), now);
        assert_eq!(valid_until(&c, a), now + 7200 * SEC);
        c.poll(now + SEC);
        assert_eq!(c.state_of(a), Some(AddrState::Deprecated));
    }

    #[test]
    fn hostile_advertisements_cannot_grow_the_state() {
        let mut c = Autoconf::new(MAC, None, None, true, 0);
        let now = settle(&mut c, 0);
        for i in 0..5000u32 {
            let router =
                Ipv6Addr::from(0xfe80_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(i));
            let p = Ipv6Addr::from(
                0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + (u128::from(i) << 64),
            );
            c.router_advert(router, 9000, Some(prefix(&p.to_string(), 9000, 9000)), now);
            // Not from a link-local source: ignored.
            c.router_advert(p, 9000, None, now);
        }
        assert!(c.routers().len() <= MAX_ROUTERS);
        assert!(c.prefixes.len() <= MAX_PREFIXES);
        assert!(c.addresses().len() <= MAX_ADDRESSES);
        // Link-local prefixes and preferred > valid are refused.
        let before = c.addresses().len();
        c.router_advert(addr("fe80::1"), 60, Some(prefix("fe80::", 100, 100)), now);
        c.router_advert(
            addr("fe80::1"),
            60,
            Some(prefix("2001:db8:9::", 10, 100)),
            now,
        );
        assert_eq!(c.addresses().len(), before);
    }
}
