//! The ARP cache, as a state machine without I/O: every call takes the
//! current monotonic time, and the caller sends what it is told to send.
//!
//! An entry is `Pending` (a request is out; packets for the address wait in
//! a small queue) or `Resolved` (the MAC address, valid until it expires).
//! Invariants: at most `capacity` entries (a flood of new addresses evicts
//! the oldest entries instead of growing the table), at most
//! `queue_limit` waiting packets per address, a pending entry is retried
//! `retries` times every `retry_ns` and then dropped with its queue.
//!
//! A resolved entry an upper layer doubts ([`Cache::revalidate`]: TCP's
//! negative advice, RFC 9293 section 3.8.3) keeps serving while it is
//! checked by unicast requests to its link address, `probes` of them
//! `retry_ns` apart (RFC 1122 section 2.3.2.1's unicast poll); an answer
//! (any ARP packet from the address) confirms it, silence removes it, so
//! that the next packet resolves the address afresh by broadcast (the
//! neighbour may have moved to another link address).
//!
//! Reachability (as Linux's neighbour states REACHABLE, STALE and PROBE):
//! an entry is trusted for `reachable_ns` after it was last confirmed; an
//! entry used after that is checked the same way, without an upper layer's
//! doubt, so that a neighbour that moved to another link address is found
//! within about `reachable_ns` plus the probes by any traffic, UDP
//! included, not only when TCP's retransmissions give up (RFC 1122 section
//! 2.3.2.1 asks for such a check of entries in use). An entry nobody uses
//! is not checked (no traffic for it), and expires after `lifetime_ns` as
//! before.
//!
//! Use is seen without a clock read or a write on the send path's fast
//! case: [`Cache::lookup`] marks an entry used when it misses the
//! remembered last lookup, and every [`Cache::poll`] (each entry's check
//! among them) forgets that lookup, so the first use of an entry after
//! its check is always such a miss.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::Cell;
use core::net::Ipv4Addr;

use crate::net::MacAddr;

/// The cache's limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Most entries kept.
    pub capacity: usize,
    /// Most packets waiting for one address.
    pub queue_limit: usize,
    /// How long a resolved entry stays valid.
    pub lifetime_ns: u64,
    /// Time between two requests for a pending address.
    pub retry_ns: u64,
    /// Requests sent after the first before giving up.
    pub retries: u32,
    /// Unicast requests that check a doubted entry before it is removed.
    pub probes: u32,
    /// How long an entry is trusted after its last confirmation; used
    /// later, it is checked by `probes` unicast requests. (The ARP layer
    /// takes it as a base, and has its cache trust entries for a time
    /// drawn between 0.5 and 1.5 times it: see
    /// [`super::Arp::connect_with`].)
    pub reachable_ns: u64,
}

impl Default for Config {
    /// MirageOS's arp defaults: 20 minutes of validity, a request every
    /// second, 5 retries; bounded at 1024 entries and 16 waiting packets.
    /// A doubted entry gets 3 unicast requests (Linux's `ucast_solicit`);
    /// an entry is trusted for 30 s (Linux's `base_reachable_time`).
    fn default() -> Self {
        Config {
            capacity: 1024,
            queue_limit: 16,
            lifetime_ns: 1_200_000_000_000,
            retry_ns: 1_000_000_000,
            retries: 5,
            probes: 3,
            reachable_ns: 30_000_000_000,
        }
    }
}

#[derive(Debug)]
enum Entry<P> {
    Pending {
        next_request: u64,
        sent: u32,
        queue: VecDeque<P>,
        created: u64,
    },
    Resolved {
        mac: MacAddr,
        expires: u64,
        created: u64,
        /// When the entry stops being trusted (its last confirmation plus
        /// `reachable_ns`): checked then if it was used.
        check_at: u64,
        /// Looked up since its last check (see the module documentation).
        used: Cell<bool>,
        /// Being checked ([`Cache::revalidate`], or used past `check_at`).
        probe: Option<Probe>,
    },
}

/// The unicast poll of a doubted entry.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// When the next request goes (or the entry is removed).
    next_request: u64,
    /// Requests sent so far.
    sent: u32,
}

impl<P> Entry<P> {
    fn created(&self) -> u64 {
        match self {
            Entry::Pending { created, .. } | Entry::Resolved { created, .. } => *created,
        }
    }
}

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The address is resolved.
    Found(MacAddr),
    /// A request must be sent now (the address was unknown).
    SendRequest,
    /// A request is already out; wait.
    Waiting,
}

/// The ARP cache. `P` is a waiting packet (an owned frame payload).
#[derive(Debug)]
pub struct Cache<P> {
    config: Config,
    entries: BTreeMap<Ipv4Addr, Entry<P>>,
    /// The earliest deadline of the entries, once computed (`None`: to be
    /// computed). Every change of the entries forgets it, so that asking
    /// for it on every turn of the stack's runner does not walk a full
    /// cache each time.
    next_deadline: Cell<Option<Option<u64>>>,
    /// The last address [`Cache::lookup`] found resolved, and its link
    /// address (forgotten, like `next_deadline`, by every change of the
    /// entries): the send path of a connection asks for one neighbour
    /// over and over.
    last: Cell<Option<(Ipv4Addr, MacAddr)>>,
    /// Packets dropped: queue full, address unresolvable, entry evicted.
    pub dropped: u64,
    /// Entries whose check started because they were used past their
    /// trusted time.
    pub reachability_checks: u64,
}

/// What `poll` asks the caller to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Addresses to send a request for now.
    pub requests: Vec<Ipv4Addr>,
    /// Addresses given up on (their waiting packets were dropped).
    pub failed: Vec<Ipv4Addr>,
    /// Doubted entries to check now: a request to the address, sent to
    /// its cached link address.
    pub probes: Vec<(Ipv4Addr, MacAddr)>,
}

impl<P> Cache<P> {
    /// An empty cache.
    pub fn new(config: Config) -> Self {
        Cache {
            config,
            entries: BTreeMap::new(),
            next_deadline: Cell::new(None),
            last: Cell::new(None),
            dropped: 0,
            reachability_checks: 0,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How long an entry is trusted after its last confirmation, now.
    pub fn reachable_time(&self) -> u64 {
        self.config.reachable_ns
    }

    /// Sets how long entries confirmed from now on are trusted (the ARP
    /// layer draws it around [`Config::reachable_ns`]); 0 is ignored.
    pub fn set_reachable_time(&mut self, ns: u64) {
        if ns > 0 {
            self.config.reachable_ns = ns;
        }
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The resolved address of `ip`, if valid at `now`.
    pub fn get(&self, ip: Ipv4Addr, now: u64) -> Option<MacAddr> {
        match self.entries.get(&ip) {
            Some(Entry::Resolved { mac, expires, .. }) if *expires > now => Some(*mac),
            _ => None,
        }
    }

    /// The resolved address of `ip`, whatever its age: an entry serves
    /// until [`Cache::poll`] expires it, which the caller runs at the
    /// entry's deadline ([`Cache::next_deadline`]); MirageOS's ARP likewise
    /// uses an entry until its tick removes it. This is the lookup of the
    /// send path, which then reads no clock per packet.
    // (Inlined into every send: a call costs as much as the hit.)
    #[inline]
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        if let Some((last, mac)) = self.last.get()
            && last == ip
        {
            return Some(mac);
        }
        match self.entries.get(&ip) {
            Some(Entry::Resolved { mac, used, .. }) => {
                used.set(true);
                self.last.set(Some((ip, *mac)));
                Some(*mac)
            }
            _ => None,
        }
    }

    /// The entries are about to change: forget what was derived from them.
    fn changed(&self) {
        self.next_deadline.set(None);
        self.last.set(None);
    }

    /// Makes room for one more entry: evicts the oldest (dropping its
    /// queue) when the cache is full.
    fn make_room(&mut self) {
        if self.entries.len() < self.config.capacity {
            return;
        }
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.created())
            .map(|(ip, _)| *ip);
        if let Some(ip) = oldest
            && let Some(Entry::Pending { queue, .. }) = self.entries.remove(&ip)
        {
            self.dropped += queue.len() as u64;
        }
    }

    /// Looks `ip` up for sending `packet`: `Found` (send it now), or the
    /// packet is queued until resolution (`SendRequest`: the caller sends
    /// the first request; `Waiting`: one is out). A full queue drops the
    /// packet (counted).
    pub fn resolve(&mut self, ip: Ipv4Addr, packet: P, now: u64) -> (Lookup, Option<P>) {
        self.changed();
        if let Some(Entry::Resolved {
            mac, expires, used, ..
        }) = self.entries.get(&ip)
            && *expires > now
        {
            used.set(true);
            return (Lookup::Found(*mac), Some(packet));
        }
        match self.entries.get_mut(&ip) {
            Some(Entry::Pending { queue, .. }) => {
                if queue.len() < self.config.queue_limit {
                    queue.push_back(packet);
                } else {
                    self.dropped += 1;
                }
                (Lookup::Waiting, None)
            }
            _ => {
                self.request(ip, now);
                match self.entries.get_mut(&ip) {
                    Some(Entry::Pending { queue, .. }) if self.config.queue_limit > 0 => {
                        queue.push_back(packet);
                    }
                    _ => self.dropped += 1,
                }
                (Lookup::SendRequest, None)
            }
        }
    }

    /// Starts resolving `ip` without a packet to send (a caller waiting
    /// for the address): `SendRequest` when a request must go out now.
    pub fn request(&mut self, ip: Ipv4Addr, now: u64) -> Lookup {
        self.changed();
        if let Some(mac) = self.get(ip, now) {
            return Lookup::Found(mac);
        }
        if self.is_pending(ip) {
            return Lookup::Waiting;
        }
        self.entries.remove(&ip);
        self.make_room();
        self.entries.insert(
            ip,
            Entry::Pending {
                next_request: now.saturating_add(self.config.retry_ns),
                sent: 1,
                queue: VecDeque::new(),
                created: now,
            },
        );
        Lookup::SendRequest
    }

    /// Whether a request for `ip` is out.
    pub fn is_pending(&self, ip: Ipv4Addr) -> bool {
        matches!(self.entries.get(&ip), Some(Entry::Pending { .. }))
    }

    /// Records `ip` at `mac` (a reply to us, or a request from `ip` for our
    /// address). Only addresses already in the cache are updated unless
    /// `create` is set (RFC 826's merge rule: a stranger's traffic cannot
    /// fill the table). Returns the packets that were waiting for `ip`.
    pub fn learn(&mut self, ip: Ipv4Addr, mac: MacAddr, now: u64, create: bool) -> Vec<P> {
        self.changed();
        if !mac.is_unicast() || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return Vec::new();
        }
        let expires = now.saturating_add(self.config.lifetime_ns);
        let check_at = now.saturating_add(self.config.reachable_ns);
        match self.entries.get_mut(&ip) {
            Some(entry) => {
                let created = entry.created();
                let old = core::mem::replace(
                    entry,
                    Entry::Resolved {
                        mac,
                        expires,
                        created,
                        check_at,
                        used: Cell::new(false),
                        probe: None,
                    },
                );
                match old {
                    Entry::Pending { queue, .. } => queue.into_iter().collect(),
                    Entry::Resolved { .. } => Vec::new(),
                }
            }
            None if create => {
                self.make_room();
                self.entries.insert(
                    ip,
                    Entry::Resolved {
                        mac,
                        expires,
                        created: now,
                        check_at,
                        used: Cell::new(false),
                        probe: None,
                    },
                );
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Forgets `ip` (address change), dropping waiting packets.
    pub fn remove(&mut self, ip: Ipv4Addr) {
        self.changed();
        if let Some(Entry::Pending { queue, .. }) = self.entries.remove(&ip) {
            self.dropped += queue.len() as u64;
        }
    }

    /// An upper layer doubts that the neighbour `ip` still answers at its
    /// cached link address (RFC 9293's negative advice): a resolved entry
    /// that is not being checked already starts its check, and the link
    /// address to send the first unicast request to is returned. The entry
    /// serves meanwhile; [`Cache::poll`] repeats the request and removes
    /// the entry if no ARP packet from `ip` came ([`Cache::learn`] ends
    /// the check).
    pub fn revalidate(&mut self, ip: Ipv4Addr, now: u64) -> Option<MacAddr> {
        let retry = self.config.retry_ns;
        match self.entries.get_mut(&ip) {
            Some(Entry::Resolved {
                mac,
                probe: probe @ None,
                ..
            }) => {
                *probe = Some(Probe {
                    next_request: now.saturating_add(retry),
                    sent: 1,
                });
                let mac = *mac;
                self.changed();
                Some(mac)
            }
            _ => None,
        }
    }

    /// Advances time to `now`: expires old entries, starts the check of
    /// entries used past their trusted time, and says which requests to
    /// repeat and which addresses to give up on.
    pub fn poll(&mut self, now: u64) -> Due {
        self.changed();
        let mut due = Due::default();
        let retry = self.config.retry_ns;
        let retries = self.config.retries;
        let probes = self.config.probes;
        let reachable = self.config.reachable_ns;
        let mut dropped = 0u64;
        let mut checks = 0u64;
        self.entries.retain(|ip, entry| match entry {
            Entry::Resolved {
                expires,
                probe: Some(probe),
                mac,
                ..
            } => {
                if *expires <= now {
                    return false;
                }
                if probe.next_request > now {
                    return true;
                }
                if probe.sent >= probes {
                    // No answer: the neighbour is resolved afresh when next
                    // used.
                    return false;
                }
                probe.sent += 1;
                probe.next_request = now.saturating_add(retry);
                due.probes.push((*ip, *mac));
                true
            }
            Entry::Resolved {
                expires,
                check_at,
                used,
                probe: probe @ None,
                mac,
                ..
            } => {
                if *expires <= now {
                    return false;
                }
                if *check_at <= now {
                    if used.replace(false) {
                        // Used, no longer trusted: checked as a doubted
                        // entry is (the answer's `learn` ends the check).
                        *probe = Some(Probe {
                            next_request: now.saturating_add(retry),
                            sent: 1,
                        });
                        due.probes.push((*ip, *mac));
                        checks += 1;
                    } else {
                        // Unused: nothing to check until it is.
                        *check_at = now.saturating_add(reachable);
                    }
                }
                true
            }
            Entry::Pending {
                next_request,
                sent,
                queue,
                ..
            } => {
                if *next_request > now {
                    return true;
                }
                if *sent > retries {
                    dropped += queue.len() as u64;
                    due.failed.push(*ip);
                    return false;
                }
                *sent += 1;
                *next_request = now.saturating_add(retry);
                due.requests.push(*ip);
                true
            }
        });
        self.dropped += dropped;
        self.reachability_checks += checks;
        due
    }

    /// When `poll` next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        if let Some(known) = self.next_deadline.get() {
            return known;
        }
        let next = self
            .entries
            .values()
            .map(|e| match e {
                Entry::Pending { next_request, .. } => *next_request,
                Entry::Resolved {
                    expires,
                    probe: Some(p),
                    ..
                } => p.next_request.min(*expires),
                Entry::Resolved {
                    expires, check_at, ..
                } => (*expires).min(*check_at),
            })
            .min();
        self.next_deadline.set(Some(next));
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const SEC: u64 = 1_000_000_000;

    fn cache() -> Cache<u32> {
        Cache::new(Config::default())
    }

    #[test]
    fn the_remembered_lookup_follows_every_change() {
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        assert_eq!(c.lookup(A), Some(MAC));
        assert_eq!(c.lookup(A), Some(MAC));
        let other = MacAddr([2, 0, 0, 0, 0, 2]);
        c.learn(A, other, 1, false);
        assert_eq!(c.lookup(A), Some(other));
        assert_eq!(c.lookup(B), None);
        c.remove(A);
        assert_eq!(c.lookup(A), None);
        c.learn(A, MAC, 2, true);
        assert_eq!(c.lookup(A), Some(MAC));
        c.poll(2 + Config::default().lifetime_ns);
        assert_eq!(c.lookup(A), None);
    }

    #[test]
    fn resolution_flushes_the_queue_in_order() {
        let mut c = cache();
        assert_eq!(c.resolve(A, 1, 0), (Lookup::SendRequest, None));
        assert_eq!(c.resolve(A, 2, 1), (Lookup::Waiting, None));
        assert_eq!(c.get(A, 2), None);
        assert_eq!(c.learn(A, MAC, 3, false), vec![1, 2]);
        assert_eq!(c.resolve(A, 3, 4), (Lookup::Found(MAC), Some(3)));
    }

    #[test]
    fn requests_are_retried_then_given_up_with_their_queue() {
        let mut c = cache();
        c.resolve(A, 1, 0);
        c.resolve(A, 2, 0);
        let mut sent = 1;
        let mut t = 0;
        loop {
            t += SEC;
            let due = c.poll(t);
            sent += due.requests.len();
            if !due.failed.is_empty() {
                assert_eq!(due.failed, [A]);
                break;
            }
            assert!(t < 100 * SEC, "never gives up");
        }
        assert_eq!(sent, 1 + Config::default().retries as usize);
        assert_eq!(c.dropped, 2);
        assert!(c.is_empty());
    }

    #[test]
    fn entries_expire() {
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        let (life, reach) = (
            Config::default().lifetime_ns,
            Config::default().reachable_ns,
        );
        // (Unused, the entry is not checked at its trusted time's end.)
        let mut t = 0;
        while t + reach < life {
            t += reach;
            assert_eq!(c.next_deadline(), Some(t));
            assert_eq!(c.poll(t), Due::default());
        }
        assert_eq!(c.next_deadline(), Some(life));
        assert_eq!(c.get(A, life - 1), Some(MAC));
        // Past its lifetime an entry is invalid, but still looked up on the
        // send path until the poll at its deadline removes it.
        assert_eq!(c.get(A, life), None);
        assert_eq!(c.lookup(A), Some(MAC));
        c.poll(life);
        assert_eq!(c.lookup(A), None);
        assert!(c.is_empty());
    }

    #[test]
    fn the_next_deadline_follows_every_change() {
        let mut c = cache();
        let (reach, retry) = (Config::default().reachable_ns, Config::default().retry_ns);
        assert_eq!(c.next_deadline(), None);
        c.learn(A, MAC, 10, true);
        assert_eq!(c.next_deadline(), Some(10 + reach));
        c.request(B, 20);
        assert_eq!(c.next_deadline(), Some(20 + retry));
        c.poll(20 + retry);
        assert_eq!(c.next_deadline(), Some(20 + 2 * retry));
        c.learn(B, MAC, 30, false);
        assert_eq!(c.next_deadline(), Some(10 + reach));
        c.remove(A);
        assert_eq!(c.next_deadline(), Some(30 + reach));
        assert_eq!(c.resolve(A, 7, 40), (Lookup::SendRequest, None));
        assert_eq!(c.next_deadline(), Some(40 + retry));
    }

    #[test]
    fn a_doubted_entry_serves_while_checked_then_goes_unless_confirmed() {
        let mut c = cache();
        let (retry, probes) = (Config::default().retry_ns, Config::default().probes);
        c.learn(A, MAC, 0, true);
        assert_eq!(c.revalidate(B, 10), None, "not cached");
        assert_eq!(c.revalidate(A, 10), Some(MAC));
        assert_eq!(c.revalidate(A, 11), None, "already being checked");
        assert_eq!(c.next_deadline(), Some(10 + retry));
        let mut sent = 1;
        let mut t = 10;
        while c.lookup(A).is_some() {
            t += retry;
            let due = c.poll(t);
            assert!(due.requests.is_empty() && due.failed.is_empty());
            sent += due.probes.len();
            assert!(due.probes.iter().all(|&p| p == (A, MAC)));
            assert!(t < 100 * SEC, "never removed");
        }
        assert_eq!(sent, probes as usize);
        assert_eq!(t, 10 + u64::from(probes) * retry);
        assert!(c.is_empty());
        // Used again: resolved afresh by broadcast, the packet waiting.
        assert_eq!(c.resolve(A, 1, t), (Lookup::SendRequest, None));
        assert_eq!(c.dropped, 0);

        // An answer ends the check, with a fresh lifetime.
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        c.revalidate(A, 10);
        c.poll(10 + retry);
        let moved = MacAddr([2, 0, 0, 0, 0, 9]);
        c.learn(A, moved, 20 + retry, false);
        assert_eq!(
            c.next_deadline(),
            Some(20 + retry + Config::default().reachable_ns)
        );
        assert!(c.poll(100 * SEC).probes.is_empty());
        assert_eq!(c.lookup(A), Some(moved));
        // And a later doubt starts a new check.
        assert_eq!(c.revalidate(A, 100 * SEC), Some(moved));
    }

    #[test]
    fn a_used_entry_is_checked_when_no_longer_trusted_and_goes_unless_confirmed() {
        let (reach, retry, probes) = (
            Config::default().reachable_ns,
            Config::default().retry_ns,
            Config::default().probes,
        );
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        assert_eq!(c.lookup(A), Some(MAC));
        assert_eq!(c.poll(reach - 1), Due::default());
        // (Through the remembered lookup, which the poll forgot: still
        // seen as used.)
        assert_eq!(c.lookup(A), Some(MAC));
        assert_eq!(c.next_deadline(), Some(reach));
        let due = c.poll(reach);
        assert_eq!(due.probes, [(A, MAC)]);
        assert_eq!(c.reachability_checks, 1);
        // It serves while checked; silence removes it after the probes.
        let mut t = reach;
        let mut sent = 1;
        while c.lookup(A).is_some() {
            assert_eq!(c.next_deadline(), Some(t + retry));
            t += retry;
            sent += c.poll(t).probes.len();
        }
        assert_eq!(
            (sent, t),
            (probes as usize, reach + u64::from(probes) * retry)
        );
        assert_eq!(c.resolve(A, 1, t), (Lookup::SendRequest, None));

        // An answer confirms it: trusted again from then, and checked
        // again only if used again.
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        c.lookup(A);
        assert_eq!(c.poll(reach).probes, [(A, MAC)]);
        c.learn(A, MAC, reach + 5, false);
        assert_eq!(c.next_deadline(), Some(2 * reach + 5));
        assert_eq!(c.poll(2 * reach + 5), Due::default());
        assert_eq!(
            c.resolve(A, 1, 2 * reach + 6),
            (Lookup::Found(MAC), Some(1))
        );
        assert_eq!(c.poll(3 * reach + 5).probes, [(A, MAC)]);
        assert_eq!(c.reachability_checks, 2);
    }

    #[test]
    fn an_entry_unused_since_its_check_is_not_checked_until_used() {
        let reach = Config::default().reachable_ns;
        let mut c = cache();
        c.learn(A, MAC, 0, true);
        c.learn(B, MAC, 0, true);
        assert_eq!(c.lookup(B), Some(MAC));
        assert_eq!(c.poll(reach).probes, [(B, MAC)]);
        c.learn(B, MAC, reach + 1, false);
        assert_eq!(c.poll(2 * reach), Due::default());
        assert_eq!(c.lookup(A), Some(MAC));
        assert_eq!(c.poll(3 * reach).probes, [(A, MAC)]);
        assert_eq!(c.reachability_checks, 2);
    }

    #[test]
    fn strangers_cannot_create_entries_and_bad_addresses_are_ignored() {
        let mut c = cache();
        assert!(c.learn(B, MAC, 0, false).is_empty());
        assert!(c.is_empty());
        c.learn(Ipv4Addr::BROADCAST, MAC, 0, true);
        c.learn(A, MacAddr::BROADCAST, 0, true);
        c.learn(A, MacAddr([1, 0, 0, 0, 0, 0]), 0, true);
        assert!(c.is_empty());
    }

    #[test]
    fn a_flood_is_bounded() {
        let config = Config {
            capacity: 64,
            queue_limit: 4,
            ..Config::default()
        };
        let mut c: Cache<u32> = Cache::new(config);
        for i in 0..10_000u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 + i);
            c.learn(ip, MAC, u64::from(i), true);
            c.resolve(Ipv4Addr::from(0x0b00_0000 + i), i, u64::from(i));
            assert!(c.len() <= 64);
        }
        for i in 0..100 {
            c.resolve(B, i, 20_000);
        }
        // B's queue holds at most 4; the rest were dropped and counted.
        assert!(c.dropped >= 96);
        assert!(c.len() <= 64);
    }
}
