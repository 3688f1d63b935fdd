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
use hashbrown::HashMap;

/// What is left of a connection in TIME-WAIT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TwEntry {
    pub(crate) snd_nxt: SeqNumber,
    pub(crate) rcv_nxt: SeqNumber,
    /// (TS.Recent, our clock offset) when timestamps are in use.
    pub(crate) ts: Option<(u32, u32)>,
    pub(crate) window: u16,
    pub(crate) deadline: u64,
}

/// The records, by 4-tuple, with their expiry order.
#[derive(Debug)]
pub(crate) struct TimeWaitTable {
    map: HashMap<FourTuple, TwEntry, KeyedHasher>,
    /// (tuple, deadline) in deadline order; entries whose deadline no
    /// longer matches the record are stale and skipped.
    order: VecDeque<(FourTuple, u64)>,
    max: usize,
}

impl TimeWaitTable {
    pub(crate) fn new(max: usize, hasher: KeyedHasher) -> Self {
        TimeWaitTable {
            map: HashMap::with_hasher(hasher),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn contains(&self, t: &FourTuple) -> bool {
        self.map.contains_key(t)
    }

    pub(crate) fn get_mut(&mut self, t: &FourTuple) -> Option<&mut TwEntry> {
        self.map.get_mut(t)
    }

    pub(crate) fn remove(&mut self, t: &FourTuple) {
        self.map.remove(t);
    }

    /// Add a record; returns whether an older one was evicted for room.
    pub(crate) fn insert(&mut self, t: FourTuple, e: TwEntry) -> bool {
        let mut evicted = false;
        while self.map.len() >= self.max && !self.map.contains_key(&t) {
            let Some((old, d)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.deadline == d) {
                self.map.remove(&old);
                evicted = true;
            }
        }
        self.map.insert(t, e);
        self.order.push_back((t, e.deadline));
        self.compact();
        evicted
    }

    /// A record's deadline moved (a retransmitted FIN restarts 2 MSL).
    pub(crate) fn restart(&mut self, t: &FourTuple, deadline: u64) {
        if let Some(e) = self.map.get_mut(t) {
            e.deadline = deadline;
            self.order.push_back((*t, deadline));
            self.compact();
        }
    }

    /// Stale order entries can pile up only through restarts; rebuild
    /// when they outnumber the records.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 16 {
            let map = &self.map;
            self.order
                .retain(|(t, d)| map.get(t).is_some_and(|e| e.deadline == *d));
        }
    }

    /// Drop the records whose time is up.
    pub(crate) fn expire(&mut self, now: u64) {
        while let Some(&(t, d)) = self.order.front() {
            if d > now {
                break;
            }
            self.order.pop_front();
            if self.map.get(&t).is_some_and(|e| e.deadline == d) {
                self.map.remove(&t);
            }
        }
    }

    /// The earliest deadline (possibly a stale one: harmless, it only
    /// wakes the caller early).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.order.front().map(|e| e.1)
    }
}
