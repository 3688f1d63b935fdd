//! The neighbour cache of RFC 4861 section 7.3: INCOMPLETE (a solicitation
//! is out, packets wait), REACHABLE (confirmed recently), STALE (not
//! confirmed; usable, and checked when used), DELAY (used while stale;
//! waiting for upper-layer confirmation), PROBE (unicast solicitations).
//!
//! Bounded like the ARP cache: at most `capacity` entries (the oldest
//! evicted), at most `queue_limit` packets waiting per address, every drop
//! counted. Solicited advertisements resolve an address; unsolicited ones
//! only update existing entries.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use crate::net::MacAddr;

/// RFC 4861's constants, in nanoseconds where they are times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most entries kept.
    pub capacity: usize,
    /// Most packets waiting for one address.
    pub queue_limit: usize,
    /// REACHABLE_TIME (30 s; a router advertisement may change it).
    pub reachable_ns: u64,
    /// RETRANS_TIMER (1 s).
    pub retrans_ns: u64,
    /// DELAY_FIRST_PROBE_TIME (5 s).
    pub delay_ns: u64,
    /// MAX_MULTICAST_SOLICIT and MAX_UNICAST_SOLICIT (3).
    pub max_solicit: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 1024,
            queue_limit: 16,
            reachable_ns: 30_000_000_000,
            retrans_ns: 1_000_000_000,
            delay_ns: 5_000_000_000,
            max_solicit: 3,
        }
    }
}

/// The reachability state of a neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reachability {
    /// Resolution in progress.
    Incomplete,
    /// Confirmed within the reachable time.
    Reachable,
    /// Not confirmed recently.
    Stale,
    /// Used while stale; a probe follows unless confirmed.
    Delay,
    /// Being probed by unicast solicitations.
    Probe,
}

#[derive(Debug)]
struct Entry<P> {
    state: Reachability,
    mac: Option<MacAddr>,
    /// When the state's timer fires.
    timer: u64,
    /// Solicitations sent in this state.
    sent: u32,
    queue: VecDeque<P>,
    created: u64,
}

/// What the caller must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solicit {
    /// A multicast solicitation to the address's solicited-node group.
    Multicast(Ipv6Addr),
    /// A unicast solicitation to the neighbour at this MAC address.
    Unicast(Ipv6Addr, MacAddr),
}

/// The result of resolving an address to send a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution<P> {
    /// Send the packet to this MAC address now.
    Send(MacAddr, P),
    /// The packet waits; send this solicitation (if any).
    Queued(Option<Solicit>),
}

/// The neighbour cache. `P` is a waiting packet.
#[derive(Debug)]
pub struct Cache<P> {
    config: Config,
    entries: BTreeMap<Ipv6Addr, Entry<P>>,
    /// Packets dropped (queue full, resolution failed, eviction).
    pub dropped: u64,
}

impl<P> Cache<P> {
    /// An empty cache.
    pub fn new(config: Config) -> Self {
        Cache {
            config,
            entries: BTreeMap::new(),
            dropped: 0,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The state of `ip`'s entry.
    pub fn state(&self, ip: &Ipv6Addr) -> Option<Reachability> {
        self.entries.get(ip).map(|e| e.state)
    }

    /// REACHABLE_TIME in use.
    pub fn reachable_time(&self) -> u64 {
        self.config.reachable_ns
    }

    /// Sets REACHABLE_TIME (from a router advertisement, or drawn again
    /// around it).
    pub fn set_reachable_time(&mut self, ns: u64) {
        if ns > 0 {
            self.config.reachable_ns = ns;
        }
    }

    fn make_room(&mut self) {
        if self.entries.len() < self.config.capacity {
            return;
        }
        if let Some(ip) = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.created)
            .map(|(ip, _)| *ip)
            && let Some(e) = self.entries.remove(&ip)
        {
            self.dropped += e.queue.len() as u64;
        }
    }

    /// The link-layer address to send to `ip` now, if the entry has one
    /// (REACHABLE, STALE, DELAY or PROBE); a STALE entry moves to DELAY, as
    /// [`Cache::resolve`] does. `None` when the caller must resolve (and
    /// queue its packet with [`Cache::resolve`]).
    pub fn usable(&mut self, ip: &Ipv6Addr, now: u64) -> Option<MacAddr> {
        let delay = self.config.delay_ns;
        let e = self.entries.get_mut(ip)?;
        if e.state == Reachability::Incomplete {
            return None;
        }
        if e.state == Reachability::Stale {
            e.state = Reachability::Delay;
            e.timer = now.saturating_add(delay);
        }
        e.mac
    }

    /// Sets RETRANS_TIMER (from a router advertisement).
    pub fn set_retrans_time(&mut self, ns: u64) {
        if ns > 0 {
            self.config.retrans_ns = ns;
        }
    }

    /// Starts resolving `ip` without a packet (a caller waiting for the
    /// address): the solicitation to send now, if one must go out.
    pub fn request(&mut self, ip: Ipv6Addr, now: u64) -> Option<Solicit> {
        if self.entries.contains_key(&ip) {
            return None;
        }
        self.make_room();
        self.entries.insert(
            ip,
            Entry {
                state: Reachability::Incomplete,
                mac: None,
                timer: now.saturating_add(self.config.retrans_ns),
                sent: 1,
                queue: VecDeque::new(),
                created: now,
            },
        );
        Some(Solicit::Multicast(ip))
    }

    /// Resolves `ip` to send `packet` at `now`.
    pub fn resolve(&mut self, ip: Ipv6Addr, packet: P, now: u64) -> Resolution<P> {
        let delay = self.config.delay_ns;
        let limit = self.config.queue_limit;
        match self.entries.get_mut(&ip) {
            Some(e) if e.state == Reachability::Incomplete => {
                if e.queue.len() < limit {
                    e.queue.push_back(packet);
                } else {
                    self.dropped += 1;
                }
                Resolution::Queued(None)
            }
            Some(e) => {
                if e.state == Reachability::Stale {
                    e.state = Reachability::Delay;
                    e.timer = now.saturating_add(delay);
                }
                match e.mac {
                    Some(mac) => Resolution::Send(mac, packet),
                    None => Resolution::Queued(None),
                }
            }
            None => {
                self.make_room();
                let mut queue = VecDeque::new();
                if limit > 0 {
                    queue.push_back(packet);
                } else {
                    self.dropped += 1;
                }
                self.entries.insert(
                    ip,
                    Entry {
                        state: Reachability::Incomplete,
                        mac: None,
                        timer: now.saturating_add(self.config.retrans_ns),
                        sent: 1,
                        queue,
                        created: now,
                    },
                );
                Resolution::Queued(Some(Solicit::Multicast(ip)))
            }
        }
    }

    /// Handles a neighbour advertisement for `ip` (RFC 4861 7.2.5):
    /// `solicited` (S flag), `override_` (O flag), the target link-layer
    /// address if given. Returns packets now deliverable, with the MAC.
    pub fn advertised(
        &mut self,
        ip: Ipv6Addr,
        mac: Option<MacAddr>,
        solicited: bool,
        override_: bool,
        now: u64,
    ) -> (Option<MacAddr>, Vec<P>) {
        let reachable = now.saturating_add(self.config.reachable_ns);
        let Some(e) = self.entries.get_mut(&ip) else {
            return (None, Vec::new());
        };
        if e.state == Reachability::Incomplete {
            let Some(mac) = mac.filter(MacAddr::is_unicast) else {
                return (None, Vec::new());
            };
            e.mac = Some(mac);
            (e.state, e.timer) = if solicited {
                (Reachability::Reachable, reachable)
            } else {
                (Reachability::Stale, u64::MAX)
            };
            e.sent = 0;
            return (Some(mac), e.queue.drain(..).collect());
        }
        let changed = mac.is_some_and(|m| Some(m) != e.mac);
        if !override_ && changed {
            if e.state == Reachability::Reachable {
                e.state = Reachability::Stale;
                e.timer = u64::MAX;
            }
            return (e.mac, Vec::new());
        }
        if let Some(m) = mac.filter(MacAddr::is_unicast) {
            e.mac = Some(m);
        }
        if solicited {
            e.state = Reachability::Reachable;
            e.timer = reachable;
            e.sent = 0;
        } else if changed {
            e.state = Reachability::Stale;
            e.timer = u64::MAX;
        }
        (e.mac, Vec::new())
    }

    /// Records `mac` for `ip` from a solicitation or router advertisement
    /// carrying a source link-layer address: creates a STALE entry, or
    /// makes an existing one STALE if the address changed.
    pub fn seen(&mut self, ip: Ipv6Addr, mac: MacAddr, now: u64) -> Vec<P> {
        if !mac.is_unicast() || ip.is_unspecified() || ip.is_multicast() {
            return Vec::new();
        }
        if !self.entries.contains_key(&ip) {
            self.make_room();
        }
        let e = self.entries.entry(ip).or_insert(Entry {
            state: Reachability::Stale,
            mac: Some(mac),
            timer: u64::MAX,
            sent: 0,
            queue: VecDeque::new(),
            created: now,
        });
        if e.mac != Some(mac) || e.state == Reachability::Incomplete {
            e.mac = Some(mac);
            e.state = Reachability::Stale;
            e.timer = u64::MAX;
            e.sent = 0;
        }
        e.queue.drain(..).collect()
    }

    /// An upper layer confirmed `ip` is reachable (a TCP ACK, say).
    pub fn confirm(&mut self, ip: &Ipv6Addr, now: u64) {
        let reachable = now.saturating_add(self.config.reachable_ns);
        if let Some(e) = self.entries.get_mut(ip)
            && e.mac.is_some()
        {
            e.state = Reachability::Reachable;
            e.timer = reachable;
            e.sent = 0;
        }
    }

    /// An upper layer doubts that `ip` is reachable (TCP's negative advice,
    /// RFC 9293 section 3.8.3): a REACHABLE entry becomes STALE, as when its
    /// reachable time ends, so that the next packet sent to it starts
    /// neighbour unreachability detection (DELAY, then unicast probes;
    /// RFC 4861 section 7.3.3). Whether it changed.
    pub fn suspect(&mut self, ip: &Ipv6Addr) -> bool {
        match self.entries.get_mut(ip) {
            Some(e) if e.state == Reachability::Reachable => {
                e.state = Reachability::Stale;
                e.timer = u64::MAX;
                true
            }
            _ => false,
        }
    }

    /// Advances to `now`: the solicitations to send, and the addresses
    /// given up on.
    pub fn poll(&mut self, now: u64) -> (Vec<Solicit>, Vec<Ipv6Addr>) {
        let Config {
            retrans_ns,
            max_solicit,
            ..
        } = self.config;
        let mut send = Vec::new();
        let mut failed = Vec::new();
        let mut dropped = 0u64;
        self.entries.retain(|ip, e| {
            if e.timer > now {
                return true;
            }
            match e.state {
                Reachability::Incomplete | Reachability::Probe if e.sent >= max_solicit => {
                    dropped += e.queue.len() as u64;
                    failed.push(*ip);
                    false
                }
                Reachability::Incomplete => {
                    e.sent += 1;
                    e.timer = now.saturating_add(retrans_ns);
                    send.push(Solicit::Multicast(*ip));
                    true
                }
                Reachability::Reachable => {
                    e.state = Reachability::Stale;
                    e.timer = u64::MAX;
                    true
                }
                Reachability::Delay | Reachability::Probe => {
                    e.state = Reachability::Probe;
                    e.sent += 1;
                    e.timer = now.saturating_add(retrans_ns);
                    if let Some(mac) = e.mac {
                        send.push(Solicit::Unicast(*ip, mac));
                    }
                    true
                }
                Reachability::Stale => true,
            }
        });
        self.dropped += dropped;
        (send, failed)
    }

    /// When `poll` next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.entries
            .values()
            .map(|e| e.timer)
            .filter(|&t| t != u64::MAX)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const IP: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_suspected_neighbour_is_probed_when_next_used() {
        let mut c: Cache<u32> = Cache::new(Config::default());
        assert!(!c.suspect(&IP), "no entry");
        c.request(IP, 0);
        assert!(!c.suspect(&IP), "incomplete");
        c.advertised(IP, Some(MAC), true, false, 0);
        assert_eq!(c.state(&IP), Some(Reachability::Reachable));
        assert!(c.suspect(&IP));
        assert_eq!(c.state(&IP), Some(Reachability::Stale));
        assert!(!c.suspect(&IP), "already stale");
        // Used (a retransmission): DELAY, then unicast probes.
        assert_eq!(c.usable(&IP, SEC), Some(MAC));
        assert_eq!(c.state(&IP), Some(Reachability::Delay));
        let (send, _) = c.poll(SEC + Config::default().delay_ns);
        assert_eq!(send, [Solicit::Unicast(IP, MAC)]);
        assert_eq!(c.state(&IP), Some(Reachability::Probe));
    }

    #[test]
    fn incomplete_to_reachable_to_stale_to_delay_to_probe() {
        let mut c: Cache<u32> = Cache::new(Config::default());
        assert_eq!(
            c.resolve(IP, 1, 0),
            Resolution::Queued(Some(Solicit::Multicast(IP)))
        );
        assert_eq!(c.resolve(IP, 2, 0), Resolution::Queued(None));
        assert_eq!(
            c.advertised(IP, Some(MAC), true, true, SEC),
            (Some(MAC), vec![1, 2])
        );
        assert_eq!(c.state(&IP), Some(Reachability::Reachable));
        c.poll(SEC + 30 * SEC);
        assert_eq!(c.state(&IP), Some(Reachability::Stale));
        assert_eq!(c.resolve(IP, 3, 40 * SEC), Resolution::Send(MAC, 3));
        assert_eq!(c.state(&IP), Some(Reachability::Delay));
        let (send, _) = c.poll(45 * SEC);
        assert_eq!(send, [Solicit::Unicast(IP, MAC)]);
        assert_eq!(c.state(&IP), Some(Reachability::Probe));
        c.advertised(IP, Some(MAC), true, false, 45 * SEC + 1);
        assert_eq!(c.state(&IP), Some(Reachability::Reachable));
    }

    #[test]
    fn unanswered_solicitations_give_up_and_drop_the_queue() {
        let mut c: Cache<u32> = Cache::new(Config::default());
        c.resolve(IP, 1, 0);
        let mut sent = 1;
        let mut t = 0;
        loop {
            t += SEC;
            let (send, failed) = c.poll(t);
            sent += send.len();
            if !failed.is_empty() {
                break;
            }
        }
        assert_eq!(sent, 3);
        assert_eq!(c.dropped, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn unsolicited_advertisements_do_not_create_or_silently_override() {
        let mut c: Cache<u32> = Cache::new(Config::default());
        assert_eq!(c.advertised(IP, Some(MAC), false, true, 0), (None, vec![]));
        assert!(c.is_empty());
        c.resolve(IP, 1, 0);
        c.advertised(IP, Some(MAC), true, true, 0);
        // A different address without the override flag: kept, made stale.
        assert_eq!(c.advertised(IP, Some(OTHER), false, false, 1).0, Some(MAC));
        assert_eq!(c.state(&IP), Some(Reachability::Stale));
        // With the override flag: replaced.
        assert_eq!(c.advertised(IP, Some(OTHER), false, true, 2).0, Some(OTHER));
    }

    #[test]
    fn solicitations_seen_create_stale_entries_and_a_flood_is_bounded() {
        let mut c: Cache<u32> = Cache::new(Config {
            capacity: 32,
            ..Config::default()
        });
        c.seen(IP, MAC, 0);
        assert_eq!(c.state(&IP), Some(Reachability::Stale));
        for i in 0..5000u16 {
            c.seen(
                Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, i),
                MAC,
                u64::from(i),
            );
            assert!(c.len() <= 32);
        }
        c.confirm(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 4999), 6000);
        assert_eq!(
            c.state(&Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, 4999)),
            Some(Reachability::Reachable)
        );
    }
}
