//! The out-of-order record of the receive side: which byte ranges past the
//! next expected byte (`RCV.NXT`) have arrived. Offsets are relative to
//! `RCV.NXT`; when in-order data arrives the ranges shift down.
//!
//! Bounded: at most [`Assembler::limit`] separate ranges, a number the
//! connection sets from its receive buffer ([`ranges_for`]: one per 512
//! bytes, at least [`MIN_RANGES`]), so that a window of full segments of
//! which every other one was lost is held whole; a segment that would need
//! more is refused and its bytes dropped (the sender retransmits them).
//! The bytes live in the receive ring, so they are bounded by the receive
//! window; the ranges' own memory (12 bytes a range) is allocated only
//! once data arrives out of order.

use alloc::vec::Vec;

/// The fewest separate out-of-order ranges kept, whatever the buffer.
pub(crate) const MIN_RANGES: usize = 32;

/// The ranges kept for a receive buffer of `buffer` bytes: one per 512
/// bytes, at least [`MIN_RANGES`]. A window of full-sized segments (512
/// bytes or more: RFC 9293's least MSS is 536) with every other one lost
/// needs one per two segments; smaller pieces that would make more are
/// refused.
pub(crate) fn ranges_for(buffer: usize) -> usize {
    (buffer / 512).max(MIN_RANGES)
}

/// Sorted, disjoint, non-adjacent ranges `[start, end)` of offsets.
#[derive(Debug, Clone)]
pub(crate) struct Assembler {
    ranges: Vec<(u32, u32)>,
    /// When each range last grew: a stamp from `clock`, higher is more
    /// recent (the SACK blocks are reported most recent first).
    grown: Vec<u32>,
    /// The most ranges kept.
    limit: usize,
    /// The last stamp given out.
    clock: u32,
}

/// The segment would need more than [`Assembler::limit`] ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyRanges;

impl Default for Assembler {
    /// An empty record keeping at most [`MIN_RANGES`] ranges.
    fn default() -> Self {
        Assembler::with_limit(MIN_RANGES)
    }
}

impl Assembler {
    /// An empty record keeping at most `limit` ranges (at least one).
    pub(crate) fn with_limit(limit: usize) -> Self {
        Assembler {
            ranges: Vec::new(),
            grown: Vec::new(),
            limit: limit.max(1),
            clock: 0,
        }
    }

    /// The most ranges kept.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// The record of a new connection keeping at most `limit` ranges, in
    /// this one's memory (a connection's slot reused with its buffers).
    pub(crate) fn reset(&mut self, limit: usize) {
        self.clear();
        self.limit = limit.max(1);
        self.clock = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.grown.clear();
    }

    /// The ranges, in order.
    #[cfg(test)]
    pub(crate) fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// The first part of `[start, start + len)` that a range already
    /// holds, if any.
    pub(crate) fn overlap(&self, start: u32, len: u32) -> Option<(u32, u32)> {
        let end = start.saturating_add(len);
        self.ranges
            .iter()
            .find(|&&(s, e)| s < end && start < e)
            .map(|&(s, e)| (s.max(start), e.min(end)))
    }

    /// Fill `out` with the ranges that grew most recently, most recent
    /// first (RFC 2018 section 4: the first SACK block holds the segment
    /// that arrived last, the others repeat the most recently reported
    /// blocks); returns how many.
    pub(crate) fn most_recent(&self, out: &mut [(u32, u32)]) -> usize {
        let mut n = 0;
        let mut below: Option<u32> = None;
        while n < out.len() {
            let mut best: Option<usize> = None;
            for (k, &g) in self.grown.iter().enumerate() {
                if below.is_none_or(|l| g < l) && best.is_none_or(|b| g > self.grown[b]) {
                    best = Some(k);
                }
            }
            let Some(b) = best else { break };
            out[n] = self.ranges[b];
            below = Some(self.grown[b]);
            n += 1;
        }
        n
    }

    /// A new stamp, above every stamp in use.
    fn tick(&mut self) -> u32 {
        if self.clock == u32::MAX {
            // Renumber by rank (the stamps are distinct), keeping the order.
            let old = self.grown.clone();
            for (k, g) in self.grown.iter_mut().enumerate() {
                *g = old.iter().filter(|&&o| o < old[k]).count() as u32;
            }
            self.clock = self.grown.len() as u32;
        }
        self.clock += 1;
        self.clock
    }

    /// Record `[start, start + len)`, merging with overlapping or adjacent
    /// ranges.
    pub(crate) fn add(&mut self, start: u32, len: u32) -> Result<(), TooManyRanges> {
        if len == 0 {
            return Ok(());
        }
        let end = start.saturating_add(len);
        // First range whose end reaches `start` (could merge).
        let i = self.ranges.partition_point(|r| r.1 < start);
        // Ranges i..j overlap or touch [start, end).
        let j = i + self.ranges[i..].partition_point(|r| r.0 <= end);
        if i == j {
            if self.ranges.len() >= self.limit {
                return Err(TooManyRanges);
            }
            let stamp = self.tick();
            self.ranges.insert(i, (start, end));
            self.grown.insert(i, stamp);
        } else {
            let stamp = self.tick();
            let s = self.ranges[i].0.min(start);
            let e = self.ranges[j - 1].1.max(end);
            self.ranges[i] = (s, e);
            self.grown[i] = stamp;
            self.ranges.drain(i + 1..j);
            self.grown.drain(i + 1..j);
        }
        Ok(())
    }

    /// Forget everything at or past offset `end` (nothing of the stream
    /// lies past the peer's FIN).
    pub(crate) fn truncate(&mut self, end: u32) {
        let keep = self.ranges.partition_point(|r| r.0 < end);
        self.ranges.truncate(keep);
        self.grown.truncate(keep);
        if let Some(last) = self.ranges.last_mut() {
            last.1 = last.1.min(end);
        }
    }

    /// If a range starts at offset 0, remove it and return its length;
    /// then shift every offset down by the bytes now in order (`advance`,
    /// which is at least that length when in-order data was just added).
    // (Inlined: it runs for every in-order segment and mostly returns at
    // once; LLVM's own choice varied with unrelated code, ~25 Ir per
    // request/response round trip.)
    #[inline]
    pub(crate) fn take_front(&mut self) -> u32 {
        match self.ranges.first() {
            Some(&(0, n)) => {
                self.ranges.remove(0);
                self.grown.remove(0);
                self.shift(n);
                n
            }
            _ => 0,
        }
    }

    /// Shift offsets down by `n` (RCV.NXT advanced by `n`); ranges below
    /// are cut.
    // (Inlined down to the test: it runs for every in-order segment, and
    // mostly finds nothing out of order; the vector's drain, called on an
    // empty record, cost 48 instructions per request/response round trip.)
    #[inline]
    pub(crate) fn shift(&mut self, n: u32) {
        if !self.ranges.is_empty() {
            self.shift_ranges(n);
        }
    }

    /// [`Self::shift`] with ranges held.
    #[inline(never)]
    fn shift_ranges(&mut self, n: u32) {
        let gone = self.ranges.partition_point(|r| r.1 <= n);
        self.ranges.drain(..gone);
        self.grown.drain(..gone);
        for r in &mut self.ranges {
            *r = (r.0.saturating_sub(n), r.1 - n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_cuts_at_the_end() {
        let mut a = Assembler::default();
        a.add(10, 5).unwrap();
        a.add(20, 10).unwrap();
        a.add(40, 5).unwrap();
        a.truncate(25);
        assert_eq!(a.ranges(), &[(10, 15), (20, 25)]);
        let mut out = [(0, 0); 4];
        assert_eq!(a.most_recent(&mut out), 2);
        assert_eq!(&out[..2], &[(20, 25), (10, 15)]);
        a.truncate(10);
        assert!(a.is_empty());
    }

    #[test]
    fn merges_and_takes_front() {
        let mut a = Assembler::default();
        a.add(10, 5).unwrap();
        a.add(20, 5).unwrap();
        a.add(15, 5).unwrap(); // bridges both
        assert_eq!(a.ranges(), &[(10, 25)]);
        a.add(30, 2).unwrap();
        a.add(0, 3).unwrap();
        assert_eq!(a.ranges(), &[(0, 3), (10, 25), (30, 32)]);
        let mut out = [(0, 0); 1];
        assert_eq!(a.most_recent(&mut out), 1);
        assert_eq!(out[0], (0, 3));
        assert_eq!(a.take_front(), 3);
        assert_eq!(a.ranges(), &[(7, 22), (27, 29)]);
        assert_eq!(a.take_front(), 0);
        a.add(0, 8).unwrap();
        assert_eq!(a.take_front(), 22);
        assert_eq!(a.ranges(), &[(5, 7)]);
        a.shift(6);
        assert_eq!(a.ranges(), &[(0, 1)]);
        a.shift(1);
        assert!(a.is_empty());
    }

    #[test]
    fn recency_order_survives_clock_wrap() {
        let mut a = Assembler::default();
        a.add(100, 10).unwrap();
        a.add(300, 10).unwrap();
        a.clock = u32::MAX - 1;
        a.add(500, 10).unwrap(); // the last stamp before renumbering
        let mut out = [(0, 0); 4];
        assert_eq!(a.most_recent(&mut out), 3);
        assert_eq!(&out[..3], &[(500, 510), (300, 310), (100, 110)]);
        a.add(200, 10).unwrap(); // renumbers
        a.add(400, 10).unwrap();
        let mut out = [(0, 0); 4];
        assert_eq!(a.most_recent(&mut out), 4);
        assert_eq!(out, [(400, 410), (200, 210), (500, 510), (300, 310)]);
    }

    #[test]
    fn bounded_number_of_ranges() {
        assert_eq!(ranges_for(128 * 1024), 256);
        assert_eq!(ranges_for(4096), MIN_RANGES);
        let mut big = Assembler::with_limit(ranges_for(128 * 1024));
        for i in 0..256 {
            big.add(i * 10 + 1, 2).unwrap();
        }
        assert_eq!(big.add(5000, 1), Err(TooManyRanges));
        big.reset(300);
        assert!(big.is_empty());
        assert_eq!(big.limit(), 300);
        let mut a = Assembler::default();
        for i in 0..MIN_RANGES as u32 {
            a.add(i * 10 + 1, 2).unwrap();
        }
        assert_eq!(a.add(1000, 1), Err(TooManyRanges));
        // Merging into an existing range still works when full.
        a.add(3, 2).unwrap();
        assert_eq!(a.ranges()[0], (1, 5));
        a.add(0, 1000).unwrap();
        assert_eq!(a.ranges(), &[(0, 1000)]);
    }

    #[test]
    fn random_against_bitmap() {
        let mut x: u64 = 12345;
        for _ in 0..200 {
            let mut a = Assembler::default();
            let mut bits = [false; 300];
            for _ in 0..20 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let s = (x % 250) as u32;
                let l = ((x >> 20) % 40) as u32;
                if a.add(s, l).is_ok() {
                    for b in &mut bits[s as usize..(s + l) as usize] {
                        *b = true;
                    }
                }
            }
            let mut expect = alloc::vec::Vec::new();
            let mut i = 0;
            while i < bits.len() {
                if bits[i] {
                    let s = i;
                    while i < bits.len() && bits[i] {
                        i += 1;
                    }
                    expect.push((s as u32, i as u32));
                } else {
                    i += 1;
                }
            }
            assert_eq!(a.ranges(), &expect[..]);
        }
    }
}
