//! Proportional Rate Reduction (RFC 9937, which obsoletes RFC 6937): how
//! much a sender in SACK fast recovery may send on each acknowledgment.
//!
//! Without it, recovery (RFC 6675) cuts the window to the slow-start
//! threshold at once and sends whenever the pipe falls below it: nothing
//! for the first half of the round trip after the loss, then a burst at
//! whatever rate the acknowledgments come, which is the rate of the
//! bottleneck that just overflowed. PRR spreads the reduction over the
//! round trip instead. While the pipe is above the threshold it sends
//! `ssthresh / RecoverFS` of what the peer reports delivered (so that the
//! flight shrinks in proportion, and reaches the threshold as recovery
//! ends); once the pipe is at or below the threshold (more was lost than
//! the reduction takes) it sends what is delivered, no faster (the
//! conservative bound, PRR-CRB), and one segment more on an
//! acknowledgment that advances `SND.UNA` without showing a new loss
//! (PRR-SSRB, the slow-start bound), climbing back to the threshold.
//!
//! Invariant: the record is that of the connection's current recovery,
//! started by [`Prr::new`] when recovery begins; outside recovery it is
//! stale and nothing reads it.

/// The accounting of one fast recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Prr {
    /// `RecoverFS`: the bytes outstanding and not yet SACKed when
    /// recovery began (the data whose delivery the reduction is spread
    /// over). At least 1.
    recover_fs: usize,
    /// `prr_delivered`: the bytes the peer reported received since then,
    /// cumulatively acknowledged or SACKed.
    delivered: usize,
    /// `prr_out`: the bytes sent since then, new or resent.
    out: usize,
}

impl Prr {
    /// The start of a recovery with `recover_fs` bytes outstanding and
    /// not SACKed.
    pub(crate) fn new(recover_fs: usize) -> Prr {
        Prr {
            recover_fs: recover_fs.max(1),
            delivered: 0,
            out: 0,
        }
    }

    /// An acknowledgment in recovery (the one that started it included)
    /// that reported `delivered` more bytes received, `pipe` bytes now in
    /// the network (RFC 6675's estimate), with the loss response's
    /// `ssthresh`; `safe`: it advanced `SND.UNA` and showed no new loss.
    /// Returns the congestion window for the sends it allows (the pipe
    /// plus `sndcnt`), or `None` when it delivered nothing (RFC 9937
    /// section 6.2: such an acknowledgment, a plain duplicate, allows no
    /// send and leaves the window as it was).
    pub(crate) fn on_ack(
        &mut self,
        delivered: usize,
        pipe: usize,
        ssthresh: usize,
        safe: bool,
        mss: usize,
    ) -> Option<usize> {
        if delivered == 0 {
            return None;
        }
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // The proportional part: ceil(delivered * ssthresh / RecoverFS)
            // less what went already. (In 64 bits: the product of two
            // 32-bit byte counts.)
            let allowed =
                (self.delivered as u64 * ssthresh as u64).div_ceil(self.recover_fs as u64);
            (allowed as usize).saturating_sub(self.out)
        } else {
            // At or below the threshold: what was delivered (and not sent
            // for yet), one segment more on a safe acknowledgment, at most
            // back up to the threshold.
            let mut limit = self.delivered.saturating_sub(self.out).max(delivered);
            if safe {
                limit = limit.saturating_add(mss);
            }
            limit.min(ssthresh - pipe)
        };
        // Nothing sent yet and less than a segment allowed: the fast
        // retransmit goes anyway (section 4, where the count is in
        // segments and zero).
        let sndcnt = if self.out == 0 && sndcnt < mss {
            mss
        } else {
            sndcnt
        };
        Some(pipe + sndcnt)
    }

    /// `bytes` of data (new or resent) left during the recovery.
    pub(crate) fn sent(&mut self, bytes: usize) {
        self.out = self.out.saturating_add(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// One loss in a flight of 20 segments, the threshold at half: the
    /// fast retransmit goes on the first acknowledgment, then a segment on
    /// every other one, never ahead of the proportion; when the peer has
    /// SACKed the other 19 (its acknowledgment of the retransmission ends
    /// recovery), 10 went and the pipe is at the threshold.
    #[test]
    fn the_reduction_is_spread_over_the_acknowledgments() {
        let ssthresh = 10 * MSS;
        let mut prr = Prr::new(20 * MSS);
        let mut pipe = 19 * MSS; // the lost segment is out of the pipe
        let mut sent = 0;
        for ack in 1..=19 {
            pipe -= MSS; // one more segment SACKed
            let proportional = pipe > ssthresh;
            let cwnd = prr.on_ack(MSS, pipe, ssthresh, false, MSS).unwrap();
            while cwnd >= pipe + MSS {
                prr.sent(MSS);
                pipe += MSS;
                sent += 1;
            }
            if ack == 1 {
                assert_eq!(sent, 1, "the fast retransmit");
            } else if proportional {
                assert!(sent * MSS <= (ack * MSS * ssthresh).div_ceil(20 * MSS));
            }
        }
        assert_eq!((sent, pipe), (10, ssthresh));
    }

    /// The first acknowledgment of a recovery allows the fast retransmit
    /// even when the proportion rounds to less than a segment.
    #[test]
    fn the_fast_retransmit_always_goes() {
        let mut prr = Prr::new(100 * MSS);
        let cwnd = prr.on_ack(10, 99 * MSS, 50 * MSS, false, MSS).unwrap();
        assert_eq!(cwnd, 99 * MSS + MSS);
        prr.sent(MSS);
        // The next small delivery allows nothing more.
        let cwnd = prr.on_ack(10, 99 * MSS, 50 * MSS, false, MSS).unwrap();
        assert!(cwnd < 99 * MSS + MSS);
    }

    /// A duplicate that delivered nothing allows nothing and leaves the
    /// window alone.
    #[test]
    fn an_acknowledgment_that_delivers_nothing_allows_nothing() {
        let mut prr = Prr::new(10 * MSS);
        assert_eq!(prr.on_ack(0, 9 * MSS, 5 * MSS, true, MSS), None);
    }

    /// Below the threshold (a burst of losses took the pipe under it), the
    /// conservative bound sends what is delivered; a safe acknowledgment
    /// adds a segment; neither goes past the threshold.
    #[test]
    fn below_the_threshold_the_bounds_climb_back_to_it() {
        let ssthresh = 10 * MSS;
        let mut prr = Prr::new(20 * MSS);
        prr.sent(2 * MSS);
        // Pipe 4 segments: CRB allows the delivery, 2 segments.
        let pipe = 4 * MSS;
        let mut a = prr;
        assert_eq!(
            a.on_ack(2 * MSS, pipe, ssthresh, false, MSS),
            Some(pipe + 2 * MSS)
        );
        // SSRB: one more.
        let mut b = prr;
        assert_eq!(
            b.on_ack(2 * MSS, pipe, ssthresh, true, MSS),
            Some(pipe + 3 * MSS)
        );
        // Capped at the threshold.
        let mut c = prr;
        let pipe = 9 * MSS;
        assert_eq!(c.on_ack(5 * MSS, pipe, ssthresh, true, MSS), Some(ssthresh));
        // Delivered earlier and not yet sent for counts too (CRB).
        let mut d = Prr::new(20 * MSS);
        d.on_ack(6 * MSS, 12 * MSS, ssthresh, false, MSS);
        assert_eq!(
            d.on_ack(MSS, 2 * MSS, ssthresh, false, MSS),
            Some(2 * MSS + 7 * MSS)
        );
    }
}
