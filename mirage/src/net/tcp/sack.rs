//! Selective acknowledgments (RFC 2018) on both sides.
//!
//! The sender keeps a [`Scoreboard`]: the ranges above `SND.UNA` that the
//! peer reported holding. RFC 6675 loss recovery reads it: `IsLost` (a
//! hole with three SACKed ranges or more than two segments' worth of
//! SACKed bytes above it is lost; [`Scoreboard::lost_edge`] gives the
//! point below which every unSACKed byte is lost), the `pipe` estimate of
//! bytes in the network, and `NextSeg` (the first lost hole not yet
//! retransmitted). It is bounded to [`Scoreboard::limit`] ranges, which the
//! connection sets from its send buffer ([`super::assembler::ranges_for`]:
//! what a window of full segments with every other one lost needs);
//! further ranges are ignored, which only makes recovery more
//! conservative. (A fixed 32 was that bound once: after a burst of losses
//! in a large window the ranges above the 32nd were forgotten, their bytes
//! counted in flight, and recovery sent one segment every few round trips,
//! found through a bottleneck's queue overflowing in slow start.)
//!
//! The receiver reports its out-of-order ranges ([`blocks_from`]) most
//! recently grown first: the range holding the most recently received
//! segment, then the ones reported first in the ACKs before (RFC 2018
//! section 4), up to the option's room. Data received twice is reported
//! once, in a D-SACK block before them (RFC 2883; `Conn::dsack`): the
//! sender learns that it retransmitted needlessly. As a sender, this stack
//! counts the D-SACK blocks it receives (`Stats::dsacks_received`) and
//! does not act on them.

use super::assembler::Assembler;
use crate::net::wire::tcp::{MAX_SACK_BLOCKS, SackBlock, SeqNumber};
use alloc::vec::Vec;

/// RFC 6675's DupThresh.
pub(crate) const DUP_THRESH: usize = 3;

/// SACKed ranges `[left, right)` above `SND.UNA`, sorted and disjoint.
#[derive(Debug, Clone)]
pub(crate) struct Scoreboard {
    ranges: Vec<SackBlock>,
    /// The most ranges kept.
    limit: usize,
}

impl Default for Scoreboard {
    /// An empty scoreboard keeping at most
    /// [`super::assembler::MIN_RANGES`] ranges.
    fn default() -> Self {
        Scoreboard::with_limit(super::assembler::MIN_RANGES)
    }
}

impl Scoreboard {
    /// An empty scoreboard keeping at most `limit` ranges (at least one);
    /// their memory is allocated once the peer SACKs something.
    pub(crate) fn with_limit(limit: usize) -> Self {
        Scoreboard {
            ranges: Vec::new(),
            limit: limit.max(1),
        }
    }

    /// The most ranges kept.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
    }

    /// Empties the scoreboard and keeps at most `limit` ranges from now on
    /// (a connection's slot reused with its buffers).
    pub(crate) fn reset(&mut self, limit: usize) {
        self.clear();
        self.limit = limit.max(1);
    }

    pub(crate) fn ranges(&self) -> &[SackBlock] {
        &self.ranges
    }

    /// The highest SACKed sequence number (exclusive), if any.
    pub(crate) fn highest(&self) -> Option<SeqNumber> {
        self.ranges().last().map(|r| r.1)
    }

    /// Total SACKed bytes.
    #[cfg(test)]
    pub(crate) fn sacked_bytes(&self) -> usize {
        self.ranges().iter().map(|(l, r)| r.since(*l)).sum()
    }

    /// Record the blocks of an ACK. Blocks not strictly inside
    /// `(snd_una, snd_max]` are ignored (RFC 2018 section 4: stale or
    /// bogus). Returns whether anything new was SACKed.
    pub(crate) fn update(
        &mut self,
        blocks: &[SackBlock],
        snd_una: SeqNumber,
        snd_max: SeqNumber,
    ) -> bool {
        let mut grew = false;
        for &(l, r) in blocks {
            if !(l < r && snd_una < r && r <= snd_max) {
                continue;
            }
            let l = l.max(snd_una);
            grew |= self.insert(l, r);
        }
        grew
    }

    fn insert(&mut self, l: SeqNumber, r: SeqNumber) -> bool {
        let i = self.ranges.partition_point(|x| x.1 < l);
        let j = i + self.ranges[i..].partition_point(|x| x.0 <= r);
        if i == j {
            if self.ranges.len() >= self.limit {
                return false;
            }
            self.ranges.insert(i, (l, r));
            return true;
        }
        let nl = self.ranges[i].0.min(l);
        let nr = self.ranges[j - 1].1.max(r);
        let grew = j - i > 1 || nl != self.ranges[i].0 || nr != self.ranges[i].1;
        self.ranges[i] = (nl, nr);
        self.ranges.drain(i + 1..j);
        grew
    }

    /// Forget everything at or below the new `snd_una`.
    pub(crate) fn ack(&mut self, snd_una: SeqNumber) {
        if self.ranges.is_empty() {
            return;
        }
        let gone = self.ranges.partition_point(|x| x.1 <= snd_una);
        self.ranges.drain(..gone);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
    }

    /// Whether `seq` is SACKed.
    #[cfg(test)]
    pub(crate) fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.ranges().iter().any(|&(l, r)| l <= seq && seq < r)
    }

    /// The point below which every unSACKed byte is lost (RFC 6675
    /// `IsLost`), or `None` if no byte is.
    pub(crate) fn lost_edge(&self, mss: usize) -> Option<SeqNumber> {
        let mut bytes = 0;
        for (count, &(l, r)) in self.ranges().iter().rev().enumerate() {
            bytes += r.since(l);
            if count + 1 >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss {
                return Some(l);
            }
        }
        None
    }

    /// UnSACKed bytes in `[from, to)`.
    pub(crate) fn unsacked(&self, from: SeqNumber, to: SeqNumber) -> usize {
        if to <= from {
            return 0;
        }
        let mut n = to.since(from);
        for &(l, r) in self.ranges() {
            let a = l.max(from);
            let b = r.min(to);
            if a < b {
                n -= b.since(a);
            }
        }
        n
    }

    /// RFC 6675 `SetPipe`: unSACKed bytes not deemed lost, plus unSACKed
    /// bytes retransmitted (below `high_rxt`).
    pub(crate) fn pipe(
        &self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        high_rxt: SeqNumber,
        mss: usize,
    ) -> usize {
        let edge = self.lost_edge(mss).unwrap_or(snd_una).max(snd_una);
        let edge = edge.min(snd_max);
        let rxt_end = high_rxt.max(snd_una).min(snd_max);
        self.unsacked(edge, snd_max) + self.unsacked(snd_una, rxt_end)
    }

    /// The last unSACKed run at or after `from` and below `limit`, at most
    /// its last `max` bytes.
    pub(crate) fn last_hole(
        &self,
        from: SeqNumber,
        limit: SeqNumber,
        max: usize,
    ) -> Option<(SeqNumber, usize)> {
        let mut end = limit;
        for &(l, r) in self.ranges().iter().rev() {
            if l >= end {
                continue;
            }
            if r < end {
                break;
            }
            // [l, r) covers the top of what is left.
            end = l;
        }
        if end <= from {
            return None;
        }
        // The hole ends at `end`; it starts after the range below it.
        let start = self
            .ranges()
            .iter()
            .rev()
            .map(|&(_, r)| r)
            .find(|&r| r < end)
            .map_or(from, |r| r.max(from));
        let len = end.since(start).min(max);
        Some((end - len, len))
    }

    /// The first unSACKed run at or after `from` and below `limit`, at most
    /// `max` bytes long and not running into a SACKed range.
    pub(crate) fn next_hole(
        &self,
        from: SeqNumber,
        limit: SeqNumber,
        max: usize,
    ) -> Option<(SeqNumber, usize)> {
        let mut at = from;
        for &(l, r) in self.ranges() {
            if r <= at {
                continue;
            }
            if l <= at {
                at = r;
                continue;
            }
            // A hole [at, l).
            let end = l.min(limit);
            return (at < end).then(|| (at, end.since(at).min(max)));
        }
        (at < limit).then(|| (at, limit.since(at).min(max)))
    }
}

/// The SACK blocks a receiver reports, from its out-of-order ranges
/// (offsets above `rcv_nxt`): most recently grown first, at most `max` (3
/// with timestamps, 4 without).
pub(crate) fn blocks_from(
    asm: &Assembler,
    rcv_nxt: SeqNumber,
    max: usize,
) -> ([SackBlock; MAX_SACK_BLOCKS], u8) {
    let mut out = [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS];
    let mut offs = [(0, 0); MAX_SACK_BLOCKS];
    let n = asm.most_recent(&mut offs[..max.min(MAX_SACK_BLOCKS)]);
    for (o, &(s, e)) in out.iter_mut().zip(&offs[..n]) {
        *o = (rcv_nxt + s as usize, rcv_nxt + e as usize);
    }
    (out, n as u8)
}

/// The SACK blocks of the duplicate ACKs owed for the out-of-order
/// segments of one batch (RFC 5681 section 4.2: an immediate duplicate ACK
/// per out-of-order segment), as they were after each segment: each then
/// reports more than the one before, as ACKs sent one per segment would
/// (Linux), rather than all repeating the latest blocks. Kept for the
/// first [`OwedSacks::MAX`] segments; the ACKs owed beyond report the
/// blocks as they are when sent. Meaningful only while duplicate ACKs are
/// owed.
#[derive(Debug, Clone)]
pub(crate) struct OwedSacks {
    snaps: [([SackBlock; MAX_SACK_BLOCKS], u8); OwedSacks::MAX],
    len: u8,
    /// The next snapshot to send.
    head: u8,
}

impl Default for OwedSacks {
    fn default() -> Self {
        OwedSacks {
            snaps: [([(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS], 0); OwedSacks::MAX],
            len: 0,
            head: 0,
        }
    }
}

impl OwedSacks {
    /// Snapshots kept (of the three duplicate ACKs owed at most, the last
    /// reports the blocks as they are).
    const MAX: usize = 2;

    /// Forget the snapshots (the first duplicate ACK of a batch, or the
    /// cumulative acknowledgment moved).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// Record the blocks after an out-of-order segment.
    pub(crate) fn push(&mut self, blocks: ([SackBlock; MAX_SACK_BLOCKS], u8)) {
        if usize::from(self.len) < Self::MAX {
            self.snaps[usize::from(self.len)] = blocks;
            self.len += 1;
        }
    }

    /// The blocks of the next owed duplicate ACK, if recorded.
    pub(crate) fn next(&self) -> Option<&([SackBlock; MAX_SACK_BLOCKS], u8)> {
        (self.head < self.len).then(|| &self.snaps[usize::from(self.head)])
    }

    /// An owed duplicate ACK left.
    pub(crate) fn sent(&mut self) {
        if self.head < self.len {
            self.head += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn update_merges_and_ignores_bogus() {
        let mut sb = Scoreboard::default();
        let una = s(1000);
        let max = s(10000);
        assert!(sb.update(&[(s(2000), s(3000))], una, max));
        assert!(!sb.update(&[(s(2000), s(3000))], una, max));
        // Beyond snd_max, inverted, below una: ignored.
        assert!(!sb.update(
            &[(s(9000), s(10001)), (s(5000), s(4000)), (s(10), s(900))],
            una,
            max
        ));
        assert!(sb.update(&[(s(3000), s(4000)), (s(6000), s(7000))], una, max));
        assert_eq!(sb.ranges(), &[(s(2000), s(4000)), (s(6000), s(7000))]);
        assert_eq!(sb.sacked_bytes(), 3000);
        assert!(sb.is_sacked(s(2500)) && !sb.is_sacked(s(5000)));
        sb.ack(s(3000));
        assert_eq!(sb.ranges(), &[(s(3000), s(4000)), (s(6000), s(7000))]);
        sb.ack(s(8000));
        assert!(sb.ranges().is_empty());
    }

    #[test]
    fn loss_detection_pipe_and_holes() {
        // mss 1000; sent 0..10000; segments 1, 3, 5, 6 lost (SACKed: 2, 4, 7..9).
        let mss = 1000;
        let mut sb = Scoreboard::default();
        sb.update(
            &[(s(2000), s(3000)), (s(4000), s(5000)), (s(7000), s(10000))],
            s(0),
            s(10000),
        );
        // 3000 bytes SACKed above 7000 > 2 * mss: the hole 5000..7000 is lost.
        assert_eq!(sb.lost_edge(mss), Some(s(7000)));
        // Everything unSACKed is lost, nothing retransmitted: pipe 0.
        assert_eq!(sb.pipe(s(0), s(10000), s(0), mss), 0);
        // After retransmitting 0..1000, it counts.
        assert_eq!(sb.pipe(s(0), s(10000), s(1000), mss), 1000);
        assert_eq!(sb.next_hole(s(0), s(7000), mss), Some((s(0), 1000)));
        assert_eq!(sb.next_hole(s(1000), s(7000), mss), Some((s(1000), 1000)));
        assert_eq!(sb.next_hole(s(2000), s(7000), mss), Some((s(3000), 1000)));
        assert_eq!(sb.next_hole(s(5000), s(7000), 500), Some((s(5000), 500)));
        assert_eq!(sb.next_hole(s(7000), s(7000), mss), None);
        // The last hole: its last bytes, below the limit, from `from` on.
        assert_eq!(sb.last_hole(s(0), s(10000), mss), Some((s(6000), 1000)));
        assert_eq!(sb.last_hole(s(0), s(10000), 3000), Some((s(5000), 2000)));
        assert_eq!(sb.last_hole(s(0), s(6500), mss), Some((s(5500), 1000)));
        assert_eq!(sb.last_hole(s(0), s(5000), mss), Some((s(3000), 1000)));
        assert_eq!(sb.last_hole(s(3500), s(4500), mss), Some((s(3500), 500)));
        assert_eq!(sb.last_hole(s(0), s(12000), mss), Some((s(11000), 1000)));
        assert_eq!(sb.last_hole(s(4000), s(5000), mss), None);
        assert_eq!(sb.last_hole(s(5000), s(5000), mss), None);
        // With one small SACKed range, nothing is lost yet.
        let mut one = Scoreboard::default();
        one.update(&[(s(1000), s(2000))], s(0), s(5000));
        assert_eq!(one.lost_edge(mss), None);
        assert_eq!(one.pipe(s(0), s(5000), s(0), mss), 4000);
        assert_eq!(one.highest(), Some(s(2000)));
    }

    #[test]
    fn bounded() {
        for limit in [super::super::assembler::MIN_RANGES, 300] {
            let mut sb = Scoreboard::with_limit(limit);
            for i in 0..(limit as u32 + 10) {
                sb.update(&[(s(i * 100 + 10), s(i * 100 + 20))], s(0), s(100_000));
            }
            assert_eq!(sb.ranges().len(), limit);
            assert_eq!(sb.limit(), limit);
        }
    }

    #[test]
    fn receiver_blocks_most_recent_first() {
        let mut a = Assembler::default();
        a.add(100, 10).unwrap();
        a.add(300, 10).unwrap();
        a.add(200, 10).unwrap();
        let (b, n) = blocks_from(&a, s(1000), 3);
        assert_eq!(n, 3);
        assert_eq!(b[0], (s(1200), s(1210)));
        assert_eq!(b[1], (s(1300), s(1310)));
        assert_eq!(b[2], (s(1100), s(1110)));
        let (_, n) = blocks_from(&a, s(0), 2);
        assert_eq!(n, 2);
    }

    /// RFC 2018 section 4: after the block of the latest segment, the
    /// blocks reported most recently come first, so that each range is
    /// reported in several ACKs even with more ranges than fit in one.
    #[test]
    fn receiver_repeats_most_recently_reported_blocks() {
        let mut a = Assembler::default();
        // Segments arrive at 100, 200, 300, 400, 500 (holes in between).
        for k in 1..=5 {
            a.add(k * 100, 10).unwrap();
        }
        let (b, n) = blocks_from(&a, s(0), 3);
        assert_eq!(n, 3);
        assert_eq!(
            &b[..3],
            &[(s(500), s(510)), (s(400), s(410)), (s(300), s(310))]
        );
        // The range at 200 grows: it comes first, the others follow by
        // recency, not by offset.
        a.add(210, 10).unwrap();
        let (b, n) = blocks_from(&a, s(0), 4);
        assert_eq!(n, 4);
        assert_eq!(
            &b[..4],
            &[
                (s(200), s(220)),
                (s(500), s(510)),
                (s(400), s(410)),
                (s(300), s(310))
            ]
        );
        // Merging keeps the newest stamp; in-order delivery keeps the order.
        a.add(110, 90).unwrap();
        a.shift(50);
        let (b, n) = blocks_from(&a, s(50), 3);
        assert_eq!(n, 3);
        assert_eq!(
            &b[..3],
            &[(s(100), s(220)), (s(500), s(510)), (s(400), s(410))]
        );
    }
}
