//! TIME-WAIT without a connection: once a connection nobody holds any
//! more reaches TIME-WAIT, its buffers go back to the pool and only what
//! RFC 9293 needs to answer old duplicates stays (sequence numbers, the
//! timestamp state, the window): a few dozen bytes for 2 MSL.
//!
//! Bounded by `Config::max_time_wait`: when full, the oldest record is
//! dropped early (as Linux's `tcp_max_tw_buckets`); a SYN that is clearly
//! new (RFC 6191: beyond `RCV.NXT`, or with a newer timestamp) ends the
//! record at once and opens a new connection.

use super::secret::{FourTuple, KeyedHasher};
use crate::net::wire::tcp::SeqNumber;
use alloc::collections::VecDeque;
use core::hash::BuildHasher;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// What is left of a connection in TIME-WAIT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TwEntry {
    pub(crate) snd_nxt: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// (TS.Recent, our clock offset) when timestamps are in use.
    pub(crate) ts: Option<(u32, u32)>,
    pub(crate) window: u16,
    pub(crate) deadline: u64,
    /// The connection's DiffServ codepoint, for the ACKs the record sends.
    pub(crate) dscp: u8,
}

/// The records, by 4-tuple, with their expiry order.
#[derive(Debug)]
pub(crate) struct TimeWaitTable {
    /// (keyed hash, tuple, record): the hash is kept so that growth
    /// does not hash every record again.
    map: HashTable<(u64, FourTuple, TwEntry)>,
    hasher: KeyedHasher,
    /// (hash, tuple, deadline) in deadline order; entries whose deadline no
    /// longer matches the record are stale and skipped.
    order: VecDeque<(u64, FourTuple, u64)>,
    max: usize,
}

impl TimeWaitTable {
    pub(crate) fn new(max: usize, hasher: KeyedHasher) -> Self {
        TimeWaitTable {
            map: HashTable::new(),
            hasher,
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The keyed hash of a 4-tuple (the same as the connection table's:
    /// computed once, used for both).
    #[inline]
    pub(crate) fn hash(&self, t: &FourTuple) -> u64 {
        self.hasher.hash_one(t)
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, t: &FourTuple) -> bool {
        self.contains_hashed(self.hash(t), t)
    }

    /// Whether `t` (whose hash is `h`) has a record.
    pub(crate) fn contains_hashed(&self, h: u64, t: &FourTuple) -> bool {
        self.map.find(h, |e| e.1 == *t).is_some()
    }

    /// The record of `t` (whose hash is `h`).
    pub(crate) fn get_mut(&mut self, h: u64, t: &FourTuple) -> Option<&mut TwEntry> {
        self.map.find_mut(h, |e| e.1 == *t).map(|e| &mut e.2)
    }

    #[cfg(test)]
    pub(crate) fn remove(&mut self, t: &FourTuple) {
        self.remove_hashed(self.hash(t), t);
    }

    /// Drop the record of `t` (whose hash is `h`), if any.
    pub(crate) fn remove_hashed(&mut self, h: u64, t: &FourTuple) {
        if let Ok(o) = self.map.find_entry(h, |e| e.1 == *t) {
            o.remove();
        }
    }

    #[cfg(test)]
    pub(crate) fn insert(&mut self, t: FourTuple, e: TwEntry) -> bool {
        self.insert_hashed(self.hash(&t), t, e)
    }

    /// Add a record for `t` (whose hash is `h`); returns whether an older
    /// one was evicted for room.
    pub(crate) fn insert_hashed(&mut self, h: u64, t: FourTuple, e: TwEntry) -> bool {
        // Inserted first, then the oldest records beyond the bound dropped
        // (never the new one): when full, one hash per record rather than
        // a look-up before each step and two per eviction.
        let mut evicted = false;
        match self.map.entry(h, |x| x.1 == t, |x| x.0) {
            Entry::Occupied(mut o) => o.get_mut().2 = e,
            Entry::Vacant(v) => {
                v.insert((h, t, e));
            }
        }
        self.order.push_back((h, t, e.deadline));
        while self.map.len() > self.max {
            let Some(&(oh, old, d)) = self.order.front() else {
                break;
            };
            if old == t && self.order.len() == 1 {
                break; // (only the new record's entry is left)
            }
            self.order.pop_front();
            // (An older entry of the new record's 4-tuple is stale: its
            // entry at the back stays.)
            if old != t
                && let Ok(o) = self.map.find_entry(oh, |x| x.1 == old)
                && o.get().2.deadline == d
            {
                o.remove();
                evicted = true;
            }
        }
        self.compact();
        // Deadlines mostly come in order (now + 2 MSL), but a connection
        // of the application's closed after its TIME-WAIT began keeps its
        // earlier deadline: its entry moves to its place, lest it wait for
        // the later ones ahead of it to expire.
        let n = self.order.len();
        if n > 1 && self.order[n - 2].2 > e.deadline {
            let last = self.order.pop_back();
            let at = self.order.partition_point(|x| x.2 <= e.deadline);
            if let Some(last) = last {
                self.order.insert(at, last);
            }
        }
        evicted
    }

    /// A record's deadline moved (a retransmitted FIN restarts 2 MSL).
    /// (The same deadline again, FINs within one clock reading, adds no
    /// order entry: one of the record's deadline is not stale, and would
    /// not be compacted away.)
    pub(crate) fn restart(&mut self, h: u64, t: &FourTuple, deadline: u64) {
        if let Some(e) = self.get_mut(h, t)
            && e.deadline != deadline
        {
            e.deadline = deadline;
            self.order.push_back((h, *t, deadline));
            self.compact();
        }
    }

    /// Stale order entries can pile up only through restarts; rebuild
    /// when they outnumber the records.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 16 {
            let map = &self.map;
            self.order.retain(|(h, t, d)| {
                map.find(*h, |x| x.1 == *t)
                    .is_some_and(|e| e.2.deadline == *d)
            });
        }
    }

    /// Drop the records whose time is up.
    #[inline]
    pub(crate) fn expire(&mut self, now: u64) {
        // (At every dispatch: most find nothing due.)
        if self.order.front().is_some_and(|e| e.2 <= now) {
            self.expire_due(now);
        }
    }

    fn expire_due(&mut self, now: u64) {
        while let Some(&(h, t, d)) = self.order.front() {
            if d > now {
                break;
            }
            self.order.pop_front();
            if let Ok(o) = self.map.find_entry(h, |x| x.1 == t)
                && o.get().2.deadline == d
            {
                o.remove();
            }
        }
    }

    /// The earliest deadline (possibly a stale one: harmless, it only
    /// wakes the caller early).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.order.front().map(|e| e.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tcp::secret::Secrets;
    use crate::net::tcp::secret::tests::tuple;

    fn entry(deadline: u64) -> TwEntry {
        TwEntry {
            snd_nxt: SeqNumber(1),
            rcv_nxt: SeqNumber(2),
            ts: None,
            window: 100,
            deadline,
            dscp: 0,
        }
    }

    #[test]
    fn full_table_drops_the_oldest_records() {
        let mut tw = TimeWaitTable::new(3, Secrets::new(&[1; 32]).table_hasher());
        for p in 1..=3 {
            assert!(!tw.insert(tuple(p), entry(u64::from(p))));
        }
        // A record again: replaced, nothing evicted.
        assert!(!tw.insert(tuple(2), entry(10)));
        assert_eq!(tw.len(), 3);
        // New records: the oldest go (1, then 3: 2's deadline moved).
        assert!(tw.insert(tuple(4), entry(11)));
        assert!(!tw.contains(&tuple(1)));
        assert!(tw.insert(tuple(5), entry(12)));
        assert!(!tw.contains(&tuple(3)));
        assert_eq!(tw.len(), 3);
        for p in [2, 4, 5] {
            assert!(tw.contains(&tuple(p)));
        }
        // A 4-tuple whose stale entry is the oldest comes back.
        tw.remove(&tuple(2));
        assert!(!tw.insert(tuple(6), entry(13)));
        assert!(tw.insert(tuple(2), entry(14)));
        assert_eq!(tw.len(), 3);
        for p in [2, 5, 6] {
            assert!(tw.contains(&tuple(p)), "{p}");
        }
        tw.expire(13);
        assert_eq!(tw.len(), 1);
        assert!(tw.contains(&tuple(2)));
        assert_eq!(tw.next_deadline(), Some(14));
    }

    /// A peer sending FINs to a record restarts it each time: with the
    /// same clock reading (one batch of segments, a coarse clock) the
    /// restarts must not pile up entries (stale ones are compacted, but
    /// one of the same deadline is not stale).
    #[test]
    fn restarts_at_one_instant_do_not_grow_the_order() {
        let mut tw = TimeWaitTable::new(8, Secrets::new(&[1; 32]).table_hasher());
        tw.insert(tuple(1), entry(10));
        for _ in 0..10_000 {
            tw.restart(tw.hash(&tuple(1)), &tuple(1), 20);
        }
        assert!(tw.order.len() <= 18, "{} order entries", tw.order.len());
        tw.expire(20);
        assert_eq!(tw.len(), 0);
    }
}
