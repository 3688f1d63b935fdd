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
use alloc::vec::Vec;
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
///
/// Laid out for a full table under connection churn (every new record
/// evicts the oldest): the hash index holds only slot numbers, and the
/// expiry order carries each record's hash and a stamp, so that an
/// eviction, an expiry or an insertion touches the index (4 bytes a
/// record), the stamps (4 bytes a record) and the two ends of the order,
/// which stay in cache, and not the records themselves, which a look-up
/// reads only when its hash's tag matches. (With the records in the hash
/// table, two cache misses per connection closed were a tenth of the
/// connection rate's gap to smoltcp.)
///
/// Invariants: `index` holds each live slot once, under its record's
/// hash; a slot is live or in `free`; a live record has at least one
/// order entry whose stamp is the slot's current stamp and whose deadline
/// is the record's, and only such an entry is *current*: any other (a
/// record replaced, restarted or removed since) is stale and skipped.
#[derive(Debug)]
pub(crate) struct TimeWaitTable {
    /// Live slots by the keyed hash of their record's 4-tuple.
    index: HashTable<u32>,
    hasher: KeyedHasher,
    /// The records, live or free.
    slots: Vec<Slot>,
    /// Each slot's stamp, bumped whenever its record is replaced,
    /// restarted or removed (wrapping: a stale entry 2^32 changes old
    /// would be taken for current, long after compaction dropped it).
    stamps: Vec<u32>,
    /// Free slots, reused last in first out.
    free: Vec<u32>,
    /// In deadline order.
    order: VecDeque<Due>,
    max: usize,
}

/// A record and its 4-tuple (and the tuple's hash, for the index's
/// growth).
#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    tuple: FourTuple,
    entry: TwEntry,
}

/// An entry of the expiry order: when `slot`'s record ends, if the slot's
/// stamp is still `stamp`.
#[derive(Debug, Clone, Copy)]
struct Due {
    deadline: u64,
    hash: u64,
    slot: u32,
    stamp: u32,
}

impl TimeWaitTable {
    pub(crate) fn new(max: usize, hasher: KeyedHasher) -> Self {
        TimeWaitTable {
            index: HashTable::new(),
            hasher,
            slots: Vec::new(),
            stamps: Vec::new(),
            free: Vec::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The keyed hash of a 4-tuple (the same as the connection table's:
    /// computed once, used for both).
    #[inline]
    pub(crate) fn hash(&self, t: &FourTuple) -> u64 {
        self.hasher.hash_one(t)
    }

    /// The slot of `t`'s record (`h` its hash).
    #[inline]
    fn find(&self, h: u64, t: &FourTuple) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(h, |&s| slots[s as usize].tuple == *t)
            .copied()
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, t: &FourTuple) -> bool {
        self.contains_hashed(self.hash(t), t)
    }

    /// Whether `t` (whose hash is `h`) has a record.
    pub(crate) fn contains_hashed(&self, h: u64, t: &FourTuple) -> bool {
        self.find(h, t).is_some()
    }

    /// The record of `t` (whose hash is `h`).
    pub(crate) fn get(&self, h: u64, t: &FourTuple) -> Option<&TwEntry> {
        self.find(h, t).map(|s| &self.slots[s as usize].entry)
    }

    #[cfg(test)]
    pub(crate) fn remove(&mut self, t: &FourTuple) {
        self.remove_hashed(self.hash(t), t);
    }

    /// Drop the record of `t` (whose hash is `h`), if any.
    pub(crate) fn remove_hashed(&mut self, h: u64, t: &FourTuple) {
        let slots = &self.slots;
        if let Ok(o) = self.index.find_entry(h, |&s| slots[s as usize].tuple == *t) {
            let (s, _) = o.remove();
            self.release(s);
        }
    }

    /// `s` left the index: its order entries go stale, and it is free.
    fn release(&mut self, s: u32) {
        self.restamp(s);
        self.free.push(s);
    }

    /// Makes every order entry of `s` stale; returns the new stamp.
    fn restamp(&mut self, s: u32) -> u32 {
        let stamp = &mut self.stamps[s as usize];
        *stamp = stamp.wrapping_add(1);
        *stamp
    }

    /// Whether an order entry is its record's current one.
    #[inline]
    fn is_current(&self, d: &Due) -> bool {
        self.stamps[d.slot as usize] == d.stamp
    }

    /// Ends the record of a current order entry (already taken out of the
    /// order), without reading the record.
    fn end(&mut self, d: &Due) {
        if let Ok(o) = self.index.find_entry(d.hash, |&s| s == d.slot) {
            o.remove();
        }
        self.release(d.slot);
    }

    #[cfg(test)]
    pub(crate) fn insert(&mut self, t: FourTuple, e: TwEntry) -> bool {
        self.insert_hashed(self.hash(&t), t, e)
    }

    /// Add a record for `t` (whose hash is `h`); returns whether an older
    /// one was evicted for room.
    pub(crate) fn insert_hashed(&mut self, h: u64, t: FourTuple, e: TwEntry) -> bool {
        let record = Slot {
            hash: h,
            tuple: t,
            entry: e,
        };
        let slots = &mut self.slots;
        let s = match self.index.entry(
            h,
            |&s| slots[s as usize].tuple == t,
            |&s| slots[s as usize].hash,
        ) {
            Entry::Occupied(o) => {
                let s = *o.get();
                slots[s as usize] = record;
                self.restamp(s);
                s
            }
            Entry::Vacant(v) => {
                let s = match self.free.pop() {
                    Some(s) => {
                        slots[s as usize] = record;
                        s
                    }
                    None => {
                        // (More slots than `u32::MAX` would need as many
                        // records: `max` bounds them far below.)
                        let s = u32::try_from(slots.len()).unwrap_or(u32::MAX);
                        slots.push(record);
                        self.stamps.push(0);
                        s
                    }
                };
                v.insert(s);
                s
            }
        };
        let due = Due {
            deadline: e.deadline,
            hash: h,
            slot: s,
            stamp: self.stamps[s as usize],
        };
        // Inserted first, then the oldest records beyond the bound dropped
        // (never the new one, whose entry is the only current one at the
        // back).
        self.order.push_back(due);
        let mut evicted = false;
        while self.index.len() > self.max {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if old.slot == s && old.stamp == due.stamp {
                self.order.push_front(old); // (only the new record is left)
                break;
            }
            if self.is_current(&old) {
                self.end(&old);
                evicted = true;
            }
        }
        self.compact();
        // Deadlines mostly come in order (now + 2 MSL), but a connection
        // of the application's closed after its TIME-WAIT began keeps its
        // earlier deadline: its entry moves to its place, lest it wait for
        // the later ones ahead of it to expire.
        let n = self.order.len();
        if n > 1 && self.order[n - 2].deadline > e.deadline {
            let last = self.order.pop_back();
            let at = self.order.partition_point(|x| x.deadline <= e.deadline);
            if let Some(last) = last {
                self.order.insert(at, last);
            }
        }
        evicted
    }

    /// A record's deadline moved (a retransmitted FIN restarts 2 MSL:
    /// `deadline` is no earlier than any record's). (The same deadline
    /// again, FINs within one clock reading, adds no order entry: the
    /// record's current one stands.)
    pub(crate) fn restart(&mut self, h: u64, t: &FourTuple, deadline: u64) {
        let Some(s) = self.find(h, t) else { return };
        let e = &mut self.slots[s as usize].entry;
        if e.deadline != deadline {
            e.deadline = deadline;
            let stamp = self.restamp(s);
            self.order.push_back(Due {
                deadline,
                hash: h,
                slot: s,
                stamp,
            });
            self.compact();
        }
    }

    /// Stale order entries pile up through restarts and removals; rebuild
    /// when they outnumber the records.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.index.len() + 16 {
            let stamps = &self.stamps;
            self.order.retain(|d| stamps[d.slot as usize] == d.stamp);
        }
    }

    /// Drop the records whose time is up.
    #[inline]
    pub(crate) fn expire(&mut self, now: u64) {
        // (At every dispatch: most find nothing due.)
        if self.order.front().is_some_and(|d| d.deadline <= now) {
            self.expire_due(now);
        }
    }

    fn expire_due(&mut self, now: u64) {
        while self.order.front().is_some_and(|d| d.deadline <= now) {
            if let Some(d) = self.order.pop_front()
                && self.is_current(&d)
            {
                self.end(&d);
            }
        }
    }

    /// The earliest deadline (possibly a stale one: harmless, it only
    /// wakes the caller early).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.order.front().map(|d| d.deadline)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

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

    /// The layout's invariants (see [`TimeWaitTable`]).
    fn check_invariants(tw: &TimeWaitTable) {
        let mut live = std::collections::HashSet::new();
        for &s in tw.index.iter() {
            assert!(live.insert(s), "slot {s} indexed twice");
            assert!(!tw.free.contains(&s), "slot {s} live and free");
            let r = &tw.slots[s as usize];
            assert_eq!(r.hash, tw.hash(&r.tuple));
            assert!(
                tw.order
                    .iter()
                    .any(|d| d.slot == s && tw.is_current(d) && d.deadline == r.entry.deadline),
                "slot {s} has no current order entry"
            );
        }
        assert_eq!(live.len() + tw.free.len(), tw.slots.len());
        assert_eq!(tw.stamps.len(), tw.slots.len());
        assert!(tw.order.iter().is_sorted_by_key(|d| d.deadline));
    }

    /// Random insertions (new and again, deadlines mostly rising, some
    /// earlier), removals, restarts and expiries against a plain map:
    /// the table holds what the map holds, at most `max` records, and a
    /// full table evicts a record no younger than any it keeps.
    #[test]
    fn matches_a_plain_map_under_random_operations() {
        use std::collections::HashMap;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut draw = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for max in [1, 3, 16] {
            let mut tw = TimeWaitTable::new(max, Secrets::new(&[3; 32]).table_hasher());
            let mut model: HashMap<u16, u64> = HashMap::new();
            let mut now = 0u64;
            for step in 0..8_000u32 {
                let p = 1 + draw(40) as u16;
                match draw(10) {
                    0..=4 => {
                        now += draw(3);
                        let deadline = if draw(8) == 0 {
                            now + draw(50)
                        } else {
                            now + 100
                        };
                        let mut e = entry(deadline);
                        e.snd_nxt = SeqNumber(step);
                        let evicted = tw.insert(tuple(p), e);
                        model.insert(p, deadline);
                        if model.len() > max {
                            assert!(evicted);
                            let gone: std::vec::Vec<u16> = model
                                .keys()
                                .copied()
                                .filter(|&q| !tw.contains(&tuple(q)))
                                .collect();
                            assert_eq!(gone.len(), model.len() - max, "step {step}");
                            let gone: std::vec::Vec<(u16, u64)> = gone
                                .into_iter()
                                .map(|q| (q, model.remove(&q).unwrap_or(0)))
                                .collect();
                            for (q, d) in gone {
                                assert_ne!(q, p, "the new record was evicted");
                                // (The new record stays, whatever its deadline.)
                                assert!(
                                    model.iter().all(|(&q, &k)| q == p || k >= d),
                                    "step {step}"
                                );
                            }
                        } else {
                            assert!(!evicted, "step {step}");
                        }
                        let got = tw.get(tw.hash(&tuple(p)), &tuple(p)).copied();
                        assert_eq!(got.map(|e| e.snd_nxt), Some(SeqNumber(step)));
                    }
                    5 => {
                        tw.remove(&tuple(p));
                        model.remove(&p);
                    }
                    6 | 7 => {
                        // (As the engine: now + 2 MSL, never before another.)
                        let deadline = now + 100;
                        tw.restart(tw.hash(&tuple(p)), &tuple(p), deadline);
                        if let Some(d) = model.get_mut(&p) {
                            *d = deadline;
                        }
                    }
                    _ => {
                        now += draw(20);
                        tw.expire(now);
                        model.retain(|_, d| *d > now);
                    }
                }
                assert_eq!(tw.len(), model.len(), "step {step}");
                for q in 1..=40 {
                    let got = tw.get(tw.hash(&tuple(q)), &tuple(q)).map(|e| e.deadline);
                    assert_eq!(got, model.get(&q).copied(), "port {q} at step {step}");
                }
                if let Some(&earliest) = model.values().min() {
                    assert!(tw.next_deadline().is_some_and(|d| d <= earliest));
                }
                check_invariants(&tw);
            }
        }
    }
}
