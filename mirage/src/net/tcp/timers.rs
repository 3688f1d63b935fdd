//! Time: the retransmission timeout estimator (RFC 6298) and the queue of
//! per-connection deadlines the [`super::TcpEngine`] answers `next_deadline` from.
//!
//! A connection has several timers (retransmission, delayed ACK, persist,
//! keep-alive, TIME-WAIT, FIN-WAIT-2 and SYN-RECEIVED give-up); it reports
//! the earliest as one deadline. The queue registers deadlines lazily: a
//! connection whose deadline moved later keeps its earlier entry, which
//! fires early, finds nothing due and re-registers; a deadline that moved
//! earlier is re-registered at once. Restarting the retransmission timer on
//! every acknowledgment therefore costs no queue operation.

use alloc::vec::Vec;

/// The clock granularity G of RFC 6298 (one millisecond: our timestamp
/// clock).
const GRANULARITY_NS: u64 = 1_000_000;

/// The RTO after the handshake when a SYN timed out (RFC 6298 5.7).
const SYN_TIMED_OUT_RTO_NS: u64 = 3_000_000_000;

/// The smoothed round-trip time and the retransmission timeout.
#[derive(Debug, Clone)]
pub(crate) struct Rtt {
    srtt: Option<u64>,
    rttvar: u64,
    min_rto: u64,
    max_rto: u64,
    initial_rto: u64,
    /// Doublings since the last fresh sample (or acknowledgment).
    backoff: u32,
    /// A tail loss probe proved needless (the original arrived) since the
    /// last sample: the smoothed RTT is short of the path's.
    probe_needless: bool,
    /// The current timeout (backoff included), recomputed when a field
    /// it derives from changes: it is read on every segment sent or
    /// acknowledged.
    rto: u64,
}

impl Rtt {
    pub(crate) fn new(initial_rto: u64, min_rto: u64, max_rto: u64) -> Rtt {
        let mut r = Rtt {
            srtt: None,
            rttvar: 0,
            min_rto,
            max_rto: max_rto.max(min_rto),
            initial_rto,
            backoff: 0,
            probe_needless: false,
            rto: 0,
        };
        r.rto = r.compute_rto();
        r
    }

    /// Take a round-trip sample (RFC 6298 section 2.2 and 2.3).
    pub(crate) fn sample(&mut self, r: u64) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let delta = s.abs_diff(r);
                self.rttvar = (3 * self.rttvar + delta) / 4;
                self.srtt = Some((7 * s + r) / 8);
            }
        }
        self.backoff = 0;
        self.probe_needless = false;
        self.rto = self.compute_rto();
    }

    /// A tail loss probe was needless: the ACK of what it resent came
    /// later than the probe timeout allowed (see [`Rtt::probes_held`]).
    pub(crate) fn probe_was_needless(&mut self) {
        self.probe_needless = true;
    }

    /// Whether tail loss probes wait for a fresh sample: the timer
    /// expired, or a probe was needless, since the last one. Either way
    /// the smoothed RTT proved short; probes timed from it would resend
    /// segments before their ACKs came, and, without timestamps, a resent
    /// segment's ACK is no sample (Karn): the estimate, and the needless
    /// probes, would stay for good.
    pub(crate) fn probes_held(&self) -> bool {
        self.backoff != 0 || self.probe_needless
    }

    /// The smoothed RTT (0 before any sample).
    pub(crate) fn srtt(&self) -> u64 {
        self.srtt.unwrap_or(0)
    }

    /// The smoothed RTT, `None` before any sample.
    pub(crate) fn sampled(&self) -> Option<u64> {
        self.srtt
    }

    /// The RTO without backoff: RFC 6298's `SRTT + max(G, 4 * RTTVAR)`,
    /// with a margin over `SRTT` of at least the configured minimum (as
    /// Linux: a minimum on the whole timeout leaves a path whose round
    /// trip grows, a queue filling, a margin of nothing once the round trip
    /// passes it, and its estimate, one sample a round trip and smoothed,
    /// lags the growth), clamped to the configured bounds.
    fn base(&self) -> u64 {
        let rto = match self.srtt {
            None => self.initial_rto,
            Some(s) => s + GRANULARITY_NS.max(4 * self.rttvar).max(self.min_rto),
        };
        rto.clamp(self.min_rto, self.max_rto)
    }

    /// The current timeout, backoff included.
    pub(crate) fn rto(&self) -> u64 {
        self.rto
    }

    fn compute_rto(&self) -> u64 {
        let shift = self.backoff.min(16);
        self.base().saturating_mul(1 << shift).min(self.max_rto)
    }

    /// The timer expired: double (RFC 6298 5.5).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
        self.rto = self.compute_rto();
    }

    /// RFC 6298 (5.7): the timer expired awaiting the ACK of a SYN; once
    /// the handshake completes, the RTO is at least 3 s until a sample.
    pub(crate) fn syn_timed_out(&mut self) {
        self.initial_rto = self.initial_rto.max(SYN_TIMED_OUT_RTO_NS);
        self.rto = self.compute_rto();
    }

    /// Whether the timer is backed off (no sample since it expired).
    pub(crate) fn backed_off(&self) -> bool {
        self.backoff != 0
    }

    /// The handshake completed: the backoff of a resent SYN ends.
    pub(crate) fn clear_backoff(&mut self) {
        if self.backoff != 0 {
            self.backoff = 0;
            self.rto = self.compute_rto();
        }
    }
}

/// The earlier of two optional deadlines.
#[inline]
pub(crate) fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    from_never(never(a).min(never(b)))
}

/// A deadline as a number: `None` (no deadline) as `u64::MAX`, later than
/// any (so that the earliest of several is a plain minimum, without a
/// branch per deadline).
#[inline(always)]
pub(crate) fn never(d: Option<u64>) -> u64 {
    d.unwrap_or(u64::MAX)
}

/// The inverse of [`never`]: `u64::MAX` is no deadline (a timer that far
/// off, some 584 years of the clock, never fires either).
#[inline(always)]
fn from_never(d: u64) -> Option<u64> {
    (d != u64::MAX).then_some(d)
}

/// Deadlines of connections (by slot index), earliest first: a binary
/// min-heap of `(deadline, slot)` with each slot's position, so that
/// replacing or removing a slot's entry costs no search and no allocation
/// (a B-tree set cost about a thousand instructions per connection).
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: Vec<(u64, u32)>,
    /// The heap index of each slot's entry ([`NOT_QUEUED`]: none).
    pos: Vec<u32>,
}

/// A slot without an entry.
const NOT_QUEUED: u32 = u32::MAX;

impl TimerQueue {
    /// Register `slot` at `at`, replacing its `previous` entry. (Out of
    /// line: lazy registration makes it rare on the data path.)
    #[inline(never)]
    pub(crate) fn set(&mut self, slot: u32, previous: Option<u64>, at: Option<u64>) {
        if previous == at {
            return;
        }
        let s = slot as usize;
        let current = self.pos.get(s).copied().unwrap_or(NOT_QUEUED);
        match (current, at) {
            (NOT_QUEUED, None) => {}
            (NOT_QUEUED, Some(a)) => {
                if self.pos.len() <= s {
                    self.pos.resize(s + 1, NOT_QUEUED);
                }
                let i = self.heap.len();
                self.heap.push((a, slot));
                self.pos[s] = i as u32;
                self.sift_up(i);
            }
            (i, Some(a)) => {
                let i = i as usize;
                let old = self.heap[i].0;
                self.heap[i].0 = a;
                if a < old {
                    self.sift_up(i);
                } else {
                    self.sift_down(i);
                }
            }
            (i, None) => self.remove_at(i as usize),
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<u64> {
        self.heap.first().map(|e| e.0)
    }

    /// Remove and return a slot whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, u32)> {
        let &first = self.heap.first()?;
        if first.0 > now {
            return None;
        }
        self.remove_at(0);
        Some(first)
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    fn remove_at(&mut self, i: usize) {
        let (_, slot) = self.heap[i];
        self.pos[slot as usize] = NOT_QUEUED;
        let last = self.heap.len() - 1;
        if i == last {
            self.heap.pop();
            return;
        }
        self.heap.swap_remove(i);
        self.pos[self.heap[i].1 as usize] = i as u32;
        if i > 0 && self.heap[i] < self.heap[(i - 1) / 2] {
            self.sift_up(i);
        } else {
            self.sift_down(i);
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        let e = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            let p = self.heap[parent];
            if p <= e {
                break;
            }
            self.heap[i] = p;
            self.pos[p.1 as usize] = i as u32;
            i = parent;
        }
        self.heap[i] = e;
        self.pos[e.1 as usize] = i as u32;
    }

    fn sift_down(&mut self, mut i: usize) {
        let e = self.heap[i];
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && self.heap[r] < self.heap[l] {
                r
            } else {
                l
            };
            let child = self.heap[c];
            if e <= child {
                break;
            }
            self.heap[i] = child;
            self.pos[child.1 as usize] = i as u32;
            i = c;
        }
        self.heap[i] = e;
        self.pos[e.1 as usize] = i as u32;
    }
}

use super::Stats;
use super::TcpError;
use super::config::Config;
use super::conn::Conn;
use super::state::State;

impl Conn {
    /// The earliest of the connection's timers, `u64::MAX` for none (see
    /// [`never`]).
    #[inline]
    pub(crate) fn next_deadline_or_never(&self) -> u64 {
        // (After every segment: a minimum without branches.)
        let d = never(self.rto_at).min(never(self.tlp_at));
        let d = d.min(never(self.delack_at)).min(never(self.persist_at));
        d.min(never(self.keepalive_at)).min(never(self.close_at))
    }

    /// Takes the whole flight back to the first unacknowledged byte, to be
    /// sent again (after a retransmission timeout, or when the path MTU
    /// shrank): the SACKed bits go too (RFC 2018 section 8 allows it), and
    /// with them recovery and the probes that were due. What the peer
    /// SACKs from now on is not sent again ([`Conn::skip_sacked`]), and no
    /// loss recovery starts before the flight is acknowledged.
    pub(crate) fn rewind_flight(&mut self) {
        self.rto_recover = Some(self.snd_max);
        // (The timeout answers the loss: a probe's episode needs no cut.)
        self.tlp_episode = None;
        self.sb.clear();
        self.recovery = None;
        self.rxt_mark = None;
        self.dupacks = 0;
        self.rexmit_now = false;
        self.tlp_now = false;
        self.tlp_at = None;
        self.snd_nxt = self.snd_una;
        self.high_rxt = self.snd_una;
    }

    /// After the flight was taken back ([`Conn::rewind_flight`]), `SND.NXT`
    /// moves past bytes the peer has SACKed since: resending them would
    /// only draw duplicates (RFC 6675 section 5.1: the SACK information
    /// after a timeout SHOULD be used; Linux keeps it). They still count
    /// in the flight until acknowledged, as the rest of the flight resent
    /// after a timeout does.
    #[cold]
    pub(crate) fn skip_sacked(&mut self) {
        for &(l, r) in self.sb.ranges() {
            if l <= self.snd_nxt && self.snd_nxt < r {
                self.snd_nxt = r;
            }
        }
    }

    /// Handle the timers due at `now`; `true` when the connection gave up
    /// on a peer that may still hold it (keep-alive probes unanswered),
    /// which a reset then tells, as Linux does: the probes may have been
    /// lost, not the peer.
    #[must_use]
    pub(crate) fn on_timer(&mut self, now: u64, config: &Config, stats: &mut Stats) -> bool {
        if self.close_at.is_some_and(|t| t <= now) {
            self.close_at = None;
            self.terminate(None);
            return false;
        }
        // Not while resending after a timeout (RFC 8985 section 7.2: no
        // probe in loss recovery): the last segment of the flight taken
        // back was likely received, and no recovery may start from what
        // the probe's ACK says before the flight is acknowledged.
        let probe = self.tlp_at.is_some_and(|t| t <= now)
            && self.state.is_synchronized()
            && self.snd_una < self.snd_max
            && self.rto_recover.is_none();
        if self.rto_at.is_some_and(|t| t <= now) {
            if probe && self.tlp_at <= self.rto_at {
                // The probe timeout was capped at the retransmission
                // timeout's moment: the probe goes in its place, and the
                // timeout runs again from it (RFC 8985 section 7.3).
                self.rto_at = Some(self.rto_deadline(now));
            } else {
                self.rto_at = None;
                self.retransmit_timeout(now, config, stats);
                if self.state == State::Closed {
                    return false;
                }
            }
        }
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.tlp_at = None;
            // (A timeout that ran above took the flight back, which clears
            // the probe's deadline: it does not come here.)
            if probe {
                if self.in_recovery() {
                    // Nothing sent or heard for a probe timeout in
                    // recovery: what is in flight is lost (the
                    // retransmission and what followed it, or the ACKs that
                    // would have said otherwise). As RFC 8985's reordering
                    // timer would, resend from the first hole, keeping the
                    // window, rather than wait for the retransmission
                    // timeout.
                    self.high_rxt = self.snd_una;
                    self.rxt_mark = None;
                    self.rexmit_now = true;
                    self.tlp_out = true;
                    stats.recovery_probes += 1;
                } else {
                    self.tlp_now = true;
                    stats.tail_loss_probes += 1;
                }
            }
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            self.ack_now = true;
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            self.persist_backoff = self.persist_backoff.saturating_add(1);
            // A peer that stopped answering the probes is gone (RFC 1122
            // 4.2.2.17 keeps the window shut only while they are answered;
            // Linux gives up after `tcp_retries2` unanswered ones, or once
            // they went unanswered for the user timeout). Nobody holds an
            // orphan: a peer keeping its window shut must not keep it
            // forever either (Linux's orphan retries likewise).
            if self.probes_unanswered(now, config.max_retries)
                || (self.owner == super::conn::Owner::Orphan
                    && self.persist_backoff > config.max_retries)
            {
                self.give_up(stats);
                return false;
            }
            self.count_probe(now);
            stats.window_probes += 1;
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            if let (Some(k), true) = (self.keepalive, self.state.is_synchronized()) {
                if self.snd_una < self.snd_max || !self.tx.is_empty() {
                    // RFC 9293 section 3.8.4 (MUST-26): no probe while
                    // sent data is outstanding (or waits for the peer's
                    // window); the retransmission or persist timer watches
                    // the peer. The idle time counts again (as Linux).
                    self.keepalive_at = Some(now + k.idle_ns);
                    return false;
                }
                if self.probes_unanswered(now, k.count) {
                    self.give_up(stats);
                    return true;
                }
                self.count_probe(now);
                stats.keepalive_probes += 1;
                self.keepalive_at =
                    Some(self.by_user_timeout(now + k.interval_ns, self.probes_since));
            }
        }
        false
    }

    /// Whether the peer left the probes unanswered long enough to give up:
    /// `count` of them, or with a user timeout, for that long since the
    /// first.
    fn probes_unanswered(&self, now: u64, count: u32) -> bool {
        match self.user_timeout {
            Some(t) => self.probes_out > 0 && now.saturating_sub(self.probes_since) >= t,
            None => self.probes_out >= count,
        }
    }

    /// A zero-window or keep-alive probe goes out now, unanswered so far.
    fn count_probe(&mut self, now: u64) {
        if self.probes_out == 0 {
            self.probes_since = now;
        }
        self.probes_out = self.probes_out.saturating_add(1);
        self.probe_now = true;
    }

    /// `deadline`, or the end of the user timeout of a wait that began at
    /// `since` if that comes first: the connection gives up on time.
    #[inline]
    pub(crate) fn by_user_timeout(&self, deadline: u64, since: u64) -> u64 {
        match self.user_timeout {
            Some(t) => deadline.min(since.saturating_add(t)),
            None => deadline,
        }
    }

    /// Sets the user timeout (`None`: give up after counts of tries).
    /// A wait already under way is measured from its start: a timer due
    /// after the new timeout ends is brought forward to that end.
    pub(crate) fn set_user_timeout(&mut self, timeout: Option<u64>) {
        self.user_timeout = timeout;
        if self.retries > 0
            && let Some(at) = self.rto_at
        {
            self.rto_at = Some(self.by_user_timeout(at, self.stalled_since));
        }
        if self.probes_out > 0 {
            if let Some(at) = self.persist_at {
                self.persist_at = Some(self.by_user_timeout(at, self.probes_since));
            }
            if let Some(at) = self.keepalive_at {
                self.keepalive_at = Some(self.by_user_timeout(at, self.probes_since));
            }
        }
    }

    /// The peer stopped answering (RFC 9293's R2): the connection ends
    /// with `TimedOut`, counted in [`Stats::aborted_on_timeout`].
    fn give_up(&mut self, stats: &mut Stats) {
        self.terminate(Some(TcpError::TimedOut));
        stats.aborted_on_timeout += 1;
    }

    /// RFC 6298 section 5.4 to 5.6: resend from the first unacknowledged
    /// byte with one segment of window, timer backed off; give up after
    /// the configured number of tries, or with a user timeout once the
    /// peer made no progress for that long (RFC 9293 section 3.8.3's R2).
    fn retransmit_timeout(&mut self, now: u64, config: &Config, stats: &mut Stats) {
        let syn =
            matches!(self.state, State::SynSent | State::SynReceived) && self.snd_una == self.iss;
        if !syn && self.snd_una >= self.snd_max {
            return;
        }
        self.retries += 1;
        stats.timeouts += 1;
        let gave_up = match self.user_timeout {
            Some(t) => now.saturating_sub(self.stalled_since) >= t,
            None => {
                self.retries
                    > match (syn, self.passive) {
                        (true, false) => config.syn_retries,
                        (true, true) => config.synack_retries,
                        (false, _) => config.max_retries,
                    }
            }
        };
        if gave_up {
            self.give_up(stats);
            return;
        }
        if syn {
            self.snd_nxt = self.iss;
        } else {
            if self.recovery.is_some() {
                // In SACK recovery the window is PRR's, the pipe plus what
                // the last acknowledgment allowed, which after a burst of
                // losses is far below the threshold the recovery converges
                // to: the timeout's response (CUBIC's cut of the window)
                // and its undo start from that threshold.
                self.cc.cwnd = self.cc.cwnd.max(self.cc.ssthresh);
            }
            // Eifel (RFC 3522): the first timeout of a stall may prove
            // spurious (a delay, not a loss); then what it cuts comes back.
            self.undo = (self.retries == 1)
                .then(|| self.undo_point(now, true))
                .flatten();
            self.cc.on_rto(self.flight());
            self.ecn_window_reduced();
            self.rewind_flight();
        }
        self.rtt.back_off();
        self.rtt_seq = None;
    }

    /// Starts the retransmission timer, which was not running: data (or a
    /// SYN) left into an empty flight, or is resent after a timeout.
    #[inline(always)]
    pub(crate) fn start_rto(&mut self, now: u64) {
        if self.retries == 0 {
            self.stalled_since = now;
        }
        self.rto_at = Some(self.rto_deadline(now));
    }

    /// When the retransmission timer started now fires: one timeout from
    /// now, or the end of the user timeout of a stall under way.
    #[inline(always)]
    pub(crate) fn rto_deadline(&self, now: u64) -> u64 {
        let at = now + self.rtt.rto();
        if self.retries > 0 {
            self.by_user_timeout(at, self.stalled_since)
        } else {
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn rfc6298_estimator() {
        let mut r = Rtt::new(1000 * MS, 200 * MS, 60_000 * MS);
        assert_eq!(r.rto(), 1000 * MS);
        r.sample(100 * MS);
        assert_eq!(r.srtt(), 100 * MS);
        // 100 + 4 * 50 = 300 ms.
        assert_eq!(r.rto(), 300 * MS);
        r.sample(100 * MS);
        // rttvar = 3/4 * 50 = 37.5: 4 * rttvar = 150 ms, less than the
        // minimum margin, 200 ms (as Linux; RFC 6298's 100 + 150 = 250 ms
        // would be the timeout).
        assert_eq!(r.rto(), 300 * MS);
        for _ in 0..50 {
            r.sample(10 * MS);
        }
        let srtt = r.srtt();
        assert!((10 * MS..11 * MS).contains(&srtt), "{srtt}");
        assert_eq!(
            r.rto(),
            srtt + 200 * MS,
            "the margin is at least the minimum"
        );
        r.back_off();
        r.back_off();
        assert_eq!(r.rto(), 4 * (srtt + 200 * MS));
        for _ in 0..40 {
            r.back_off();
        }
        assert_eq!(r.rto(), 60_000 * MS, "clamped to the maximum");
        r.sample(10 * MS);
        assert_eq!(r.rto(), r.srtt() + 200 * MS, "a sample clears the backoff");
        // A path whose round trip grows: the timeout keeps the margin.
        let mut r = Rtt::new(1000 * MS, 200 * MS, 60_000 * MS);
        for _ in 0..50 {
            r.sample(500 * MS);
        }
        assert_eq!(r.rto(), r.srtt() + 200 * MS);
        assert!(r.rto() >= 700 * MS);
    }

    #[test]
    fn queue_orders_and_replaces() {
        let mut q = TimerQueue::default();
        q.set(1, None, Some(50));
        q.set(2, None, Some(10));
        q.set(1, Some(50), Some(5));
        assert_eq!(q.next(), Some(5));
        assert_eq!(q.pop_due(4), None);
        assert_eq!(q.pop_due(100), Some((5, 1)));
        assert_eq!(q.pop_due(100), Some((10, 2)));
        assert_eq!(q.pop_due(100), None);
        q.set(3, None, Some(7));
        q.set(3, Some(7), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn queue_matches_an_ordered_set() {
        // Against a B-tree set, over pseudo-random operations.
        let mut q = TimerQueue::default();
        let mut model = alloc::collections::BTreeSet::new();
        let mut reg: [Option<u64>; 16] = [None; 16];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let slot = (x % 16) as u32;
            let now = (x >> 8) % 64;
            match (x >> 20) % 4 {
                0 => {
                    let due = q.pop_due(now);
                    let want = model.first().copied().filter(|e: &(u64, u32)| e.0 <= now);
                    assert_eq!(due, want);
                    if let Some(e) = want {
                        model.remove(&e);
                        reg[e.1 as usize] = None;
                    }
                }
                1 => {
                    let prev = reg[slot as usize];
                    q.set(slot, prev, None);
                    if let Some(p) = prev {
                        model.remove(&(p, slot));
                    }
                    reg[slot as usize] = None;
                }
                _ => {
                    let at = (x >> 32) % 64;
                    let prev = reg[slot as usize];
                    q.set(slot, prev, Some(at));
                    if let Some(p) = prev {
                        model.remove(&(p, slot));
                    }
                    model.insert((at, slot));
                    reg[slot as usize] = Some(at);
                }
            }
            assert_eq!(q.next(), model.first().map(|e| e.0));
            assert_eq!(q.len(), model.len());
        }
    }
}
