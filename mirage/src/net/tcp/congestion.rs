//! Congestion control: the congestion window and slow-start threshold,
//! grown on acknowledgments and cut on loss, by NewReno (RFC 5681 with
//! appropriate byte counting, RFC 3465, L = 2) or CUBIC (RFC 9438, with
//! its Reno-friendly region and fast convergence). The loss recovery that
//! decides *what* to retransmit (NewReno partial acknowledgments, RFC 6582,
//! or the SACK scoreboard, RFC 6675) is the connection's; this module only
//! sizes the window.
//!
//! The initial window is RFC 6928's ten segments. CUBIC's first slow start
//! follows HyStart++ (RFC 9406, as RFC 9438 section 4.10 asks;
//! [`super::hystart`]) unless `Config::hystart` is off: it may end on a
//! rise of the round trip, before any loss.

use super::hystart::{CSS_GROWTH_DIVISOR, Growth, HyStart};
use crate::net::wire::tcp::SeqNumber;

/// Which algorithm grows the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// RFC 5681 / RFC 6582: additive increase, halving on loss.
    NewReno,
    /// RFC 9438: a cubic function of the time since the last loss, backing
    /// off to 0.7 of the window.
    #[default]
    Cubic,
}

/// CUBIC's multiplicative decrease factor.
const BETA_CUBIC: f64 = 0.7;
/// CUBIC's scaling constant (segments per second cubed).
const C_CUBIC: f64 = 0.4;
/// Segments in the initial window (RFC 6928).
const INITIAL_SEGMENTS: usize = 10;

/// The window state of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
    algo: CongestionAlgorithm,
    mss: usize,
    /// Congestion window, bytes.
    pub(crate) cwnd: usize,
    /// Slow-start threshold, bytes.
    pub(crate) ssthresh: usize,
    /// Bytes acknowledged toward the next NewReno increment.
    acked: usize,
    // CUBIC state, in segments and seconds.
    w_max: f64,
    k: f64,
    origin: f64,
    epoch_ns: Option<u64>,
    w_est: f64,
    /// HyStart++ while CUBIC's first slow start lasts.
    hystart: Option<HyStart>,
}

/// What HyStart++ needs of an acknowledgment of new data (see
/// [`Congestion::on_ack`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AckedRound {
    /// The acknowledgment.
    pub(crate) ack: SeqNumber,
    /// The highest sequence number sent.
    pub(crate) snd_max: SeqNumber,
    /// The round trip it measured (the timestamp echo), if any.
    pub(crate) rtt_ns: Option<u64>,
}

impl Congestion {
    /// The window of a new connection using `algo`, with HyStart++ in its
    /// first slow start if `hystart` and `algo` is CUBIC.
    pub(crate) fn new(algo: CongestionAlgorithm, mss: usize, hystart: bool) -> Congestion {
        let mss = mss.max(1);
        Congestion {
            algo,
            mss,
            cwnd: INITIAL_SEGMENTS * mss,
            ssthresh: usize::MAX,
            acked: 0,
            w_max: 0.0,
            k: 0.0,
            origin: 0.0,
            epoch_ns: None,
            w_est: 0.0,
            hystart: (hystart && algo == CongestionAlgorithm::Cubic).then(HyStart::new),
        }
    }

    pub(crate) fn algorithm(&self) -> CongestionAlgorithm {
        self.algo
    }

    /// Switch algorithm, keeping the window and threshold.
    pub(crate) fn set_algorithm(&mut self, algo: CongestionAlgorithm) {
        if algo != self.algo {
            self.algo = algo;
            self.acked = 0;
            self.epoch_ns = None;
            self.w_max = self.cwnd as f64 / self.mss as f64;
            if algo != CongestionAlgorithm::Cubic {
                self.hystart = None;
            }
        }
    }

    /// The segment size changed (MSS negotiation): keep the window in
    /// segments, and at least one.
    pub(crate) fn set_mss(&mut self, mss: usize) {
        let mss = mss.max(1);
        if self.cwnd == INITIAL_SEGMENTS * self.mss {
            self.cwnd = INITIAL_SEGMENTS * mss;
        }
        self.mss = mss;
        self.cwnd = self.cwnd.max(mss);
    }

    /// The SYN or SYN-ACK was lost (its retransmission timer expired):
    /// the window starts at one segment (RFC 5681 section 3.1, RFC 6928
    /// section 2: a MUST), then grows in slow start.
    pub(crate) fn syn_timed_out(&mut self) {
        self.cwnd = self.mss;
        self.acked = 0;
    }

    /// Data goes again after an idle time longer than the retransmission
    /// timeout (RFC 5681 section 4.1): the window is at most the initial
    /// one, the restart window; the threshold keeps three quarters of the
    /// window it had, for slow start to take it back there (as Linux's
    /// `tcp_cwnd_restart`), and CUBIC's curve starts again.
    pub(crate) fn restart_after_idle(&mut self) {
        let restart = INITIAL_SEGMENTS * self.mss;
        if self.cwnd > restart {
            self.ssthresh = self.ssthresh.max(self.cwnd / 4 * 3);
            self.cwnd = restart;
        }
        self.acked = 0;
        self.epoch_ns = None;
    }

    /// The path's segment size changed (path MTU discovery) mid-connection:
    /// the window stays in bytes (the path did not signal congestion), but
    /// never below one segment, RFC 5681's loss window. A window smaller
    /// than a segment lets no full segment go, and sender SWS avoidance
    /// then holds the data back with nothing in flight to clock it out
    /// (found by the stack's soak: a path found wider again after ten
    /// minutes raised the segment size to 1,228 bytes over a window of
    /// 500, and the connection stalled for good).
    pub(crate) fn set_path_mss(&mut self, mss: usize) {
        self.mss = mss.max(1);
        self.cwnd = self.cwnd.max(self.mss);
    }

    pub(crate) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Whether [`Self::on_ack`] uses the round trips of acknowledgments
    /// now (HyStart++ in the first slow start).
    pub(crate) fn wants_round_trips(&self) -> bool {
        self.hystart.is_some() && self.in_slow_start()
    }

    /// `acked` new bytes were acknowledged outside loss recovery, at `now`
    /// with smoothed round-trip time `srtt_ns`. `segment`: the payload of
    /// the largest segment the sender sends, the MSS or more through a
    /// device's segmentation offload. Slow start grows by at most two such
    /// segments per ACK (RFC 3465's L of 2 SMSS, which bounds the burst a
    /// stretch ACK releases: an ACK of one segment through the offload
    /// covers many MSS without having stretched anything, and counts them
    /// all, as Linux counts the MSS-sized packets of its TSO segments).
    /// In HyStart++'s conservative phase the growth is a quarter of that;
    /// `round` is what it needs of the acknowledgment (taken when
    /// [`Self::wants_round_trips`]). True when HyStart++ ended slow start.
    pub(crate) fn on_ack(
        &mut self,
        acked: usize,
        segment: usize,
        now_ns: u64,
        srtt_ns: u64,
        round: Option<AckedRound>,
    ) -> bool {
        if acked == 0 {
            return false;
        }
        if self.in_slow_start() {
            let most = 2 * segment.max(self.mss);
            let mut grow = acked.min(most);
            if let (Some(h), Some(r)) = (self.hystart.as_mut(), round) {
                match h.on_ack(r.ack, r.snd_max, r.rtt_ns) {
                    Growth::Full => {}
                    Growth::Conservative => grow = (grow / CSS_GROWTH_DIVISOR).max(1),
                    Growth::Avoidance => {
                        self.end_slow_start();
                        return true;
                    }
                }
            }
            self.cwnd = self.cwnd.saturating_add(grow);
            return false;
        }
        match self.algo {
            CongestionAlgorithm::NewReno => {
                self.acked += acked;
                if self.acked >= self.cwnd {
                    self.acked -= self.cwnd;
                    self.cwnd = self.cwnd.saturating_add(self.mss);
                }
            }
            CongestionAlgorithm::Cubic => self.cubic_ack(acked, now_ns, srtt_ns),
        }
        false
    }

    /// HyStart++'s conservative rounds are over: congestion avoidance
    /// from this window on (RFC 9406 section 4.2: the threshold is the
    /// window). Without a loss there is no `W_max` yet: RFC 9438 section
    /// 4.10 takes the window as it, with `K` = 0, so that CUBIC's curve
    /// starts from the window, as [`Self::cubic_ack`]'s first epoch does.
    #[cold]
    fn end_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
        self.w_max = self.cwnd as f64 / self.mss as f64;
        self.epoch_ns = None;
        self.hystart = None;
    }

    /// New bytes were acknowledged outside loss recovery while the window
    /// was not what limited sending (the application or the peer's window
    /// was): no growth (RFC 9438 section 5.8), and CUBIC's curve starts
    /// again from the window where it is used again, lest the time it was
    /// unused count as growth (as FreeBSD's CUBIC restarts its epoch).
    pub(crate) fn on_ack_unused(&mut self) {
        self.epoch_ns = None;
    }

    fn cubic_ack(&mut self, acked: usize, now_ns: u64, srtt_ns: u64) {
        let mss = self.mss as f64;
        let cwnd = self.cwnd as f64 / mss;
        let epoch = match self.epoch_ns {
            Some(e) => e,
            None => {
                self.epoch_ns = Some(now_ns);
                if cwnd < self.w_max {
                    self.k = cbrt((self.w_max - cwnd) / C_CUBIC);
                    self.origin = self.w_max;
                } else {
                    self.k = 0.0;
                    self.origin = cwnd;
                }
                self.w_est = cwnd;
                now_ns
            }
        };
        let t = (now_ns.saturating_sub(epoch) + srtt_ns) as f64 / 1e9;
        let d = t - self.k;
        let target = (self.origin + C_CUBIC * d * d * d).clamp(cwnd, 1.5 * cwnd);
        let alpha = if self.w_est < self.w_max {
            3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC)
        } else {
            1.0
        };
        let acked_seg = acked as f64 / mss;
        self.w_est += alpha * acked_seg / cwnd;
        let new = if target < self.w_est {
            self.w_est
        } else {
            cwnd + (target - cwnd) / cwnd * acked_seg
        };
        let bytes = (new * mss) as usize;
        self.cwnd = self.cwnd.max(bytes);
    }

    /// A loss detected by duplicate acknowledgments or SACK with `flight`
    /// bytes outstanding: set `ssthresh` (NewReno: half the flight, RFC
    /// 5681; CUBIC: β times the window, RFC 9438) and start recovery with
    /// `cwnd = ssthresh`.
    pub(crate) fn on_loss(&mut self, flight: usize) {
        // (HyStart++ is for the first slow start only: RFC 9406 section
        // 4.3. Later ones end at the threshold this sets.)
        self.hystart = None;
        let floor = 2 * self.mss;
        match self.algo {
            CongestionAlgorithm::NewReno => {
                self.ssthresh = (flight / 2).max(floor);
            }
            CongestionAlgorithm::Cubic => {
                let cwnd = self.cwnd as f64 / self.mss as f64;
                // Fast convergence: release bandwidth to newer flows.
                self.w_max = if cwnd < self.w_max {
                    cwnd * (1.0 + BETA_CUBIC) / 2.0
                } else {
                    cwnd
                };
                // The window, not the flight (RFC 9438 section 4.6 allows
                // it where the window grows only while used, as here: see
                // `Conn::process_ack`). The flight at detection can be far
                // below the window the path carried: the ACKs of a batch
                // are processed before anything new is sent, and one that
                // advances SND.UNA can also show the loss (with SACK, in the
                // same batch), cutting to a fraction of the window.
                self.ssthresh = ((self.cwnd as f64 * BETA_CUBIC) as usize).max(floor);
                self.epoch_ns = None;
            }
        }
        self.cwnd = self.ssthresh;
        self.acked = 0;
    }

    /// The retransmission timer expired: back to one segment.
    pub(crate) fn on_rto(&mut self, flight: usize) {
        self.hystart = None;
        if self.cwnd > self.mss {
            self.on_loss(flight);
        }
        self.cwnd = self.mss;
        self.acked = 0;
    }

    /// A loss response proved needless (Eifel, D-SACK): the window and the
    /// threshold go back to at least what they were `before` it (the
    /// larger of then and now, as Linux's `tcp_undo_cwnd_reduction`), and
    /// CUBIC's curve to the one before the loss if CUBIC is still the
    /// algorithm; the algorithm and the segment size stay as they are now
    /// (the application may have switched one, the path changed the
    /// other since).
    pub(crate) fn undo(&mut self, before: &Congestion) {
        self.cwnd = self.cwnd.max(before.cwnd);
        self.ssthresh = self.ssthresh.max(before.ssthresh);
        self.acked = 0;
        if self.algo == before.algo {
            self.w_max = before.w_max;
            self.k = before.k;
            self.origin = before.origin;
            self.epoch_ns = before.epoch_ns;
            self.w_est = before.w_est;
            self.hystart = before.hystart.clone();
        }
    }

    /// Recovery ended: the window is the threshold set when it began
    /// (RFC 6582 section 3.2 step 3's second option, RFC 6675, and what
    /// Linux's proportional rate reduction ends with). The first option,
    /// at most one segment more than is in flight, leaves one segment of
    /// window when a fast path acknowledged everything during recovery,
    /// and one segment at a time waits for the peer's delayed ACK.
    pub(crate) fn on_recovery_exit(&mut self) {
        self.cwnd = self.ssthresh.max(self.mss);
    }
}

/// The cube root of a non-negative number (`core` has no `cbrt`): a bit
/// trick for the first guess, then Newton's method.
fn cbrt(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 0.0;
    }
    let mut y = f64::from_bits(x.to_bits() / 3 + 0x2a9f_7893_782d_a1ce);
    for _ in 0..6 {
        y -= (y * y * y - x) / (3.0 * y * y);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    #[test]
    fn cube_root() {
        for (x, r) in [
            (27.0, 3.0),
            (1000.0, 10.0),
            (0.125, 0.5),
            (2.0, 1.259_921_05),
        ] {
            assert!((cbrt(x) - r).abs() < 1e-6, "{x}");
        }
        assert_eq!(cbrt(0.0), 0.0);
        assert_eq!(cbrt(-1.0), 0.0);
    }

    #[test]
    fn slow_start_then_newreno_linear_growth() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, MSS, true);
        assert_eq!(c.cwnd, 10 * MSS);
        c.on_ack(5 * MSS, MSS, 0, 0, None); // ABC: at most 2 MSS per ACK
        assert_eq!(c.cwnd, 12 * MSS);
        // Segments of 4 MSS through an offload: at most 8 MSS per ACK.
        c.on_ack(10 * MSS, 4 * MSS, 0, 0, None);
        assert_eq!(c.cwnd, 20 * MSS);
        c.on_ack(3 * MSS, 4 * MSS, 0, 0, None);
        assert_eq!(c.cwnd, 23 * MSS);
        c.cwnd = 12 * MSS;
        c.on_loss(20 * MSS);
        assert_eq!((c.ssthresh, c.cwnd), (10 * MSS, 10 * MSS));
        assert!(!c.in_slow_start());
        // A whole window of ACKs adds one segment.
        for _ in 0..10 {
            c.on_ack(MSS, MSS, 0, 0, None);
        }
        assert_eq!(c.cwnd, 11 * MSS);
        c.on_rto(11 * MSS);
        assert_eq!(c.cwnd, MSS);
        assert_eq!(c.ssthresh, 5500);
        c.on_loss(MSS);
        assert_eq!(c.ssthresh, 2 * MSS, "floor of two segments");
    }

    #[test]
    fn the_window_stays_at_least_one_segment_when_the_segment_grows() {
        for algo in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let mut c = Congestion::new(algo, 500, false);
            c.on_rto(4 * 500);
            assert_eq!(c.cwnd, 500);
            // The path takes larger segments again: one of them fits.
            c.set_path_mss(1228);
            assert_eq!(c.cwnd, 1228);
            // A smaller one: the window stays in bytes.
            c.set_path_mss(536);
            assert_eq!(c.cwnd, 1228);
            c.on_rto(1228);
            c.set_mss(1460);
            assert_eq!(c.cwnd, 1460);
        }
    }

    #[test]
    fn cubic_backs_off_from_the_window_even_with_little_in_flight() {
        // A batch of ACKs advanced SND.UNA and showed the loss before
        // anything new went out: 11 segments in flight of a window of 24.
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, MSS, false);
        c.cwnd = 24 * MSS;
        c.on_loss(11 * MSS);
        assert_eq!(c.ssthresh, (24.0 * MSS as f64 * BETA_CUBIC) as usize);
        assert_eq!(c.cwnd, c.ssthresh);
    }

    #[test]
    fn cubic_backs_off_to_seventy_percent_and_regrows_to_w_max() {
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, MSS, false);
        c.cwnd = 100 * MSS;
        c.on_loss(100 * MSS);
        assert_eq!(c.cwnd, 70 * MSS);
        assert!((c.w_max - 100.0).abs() < 1e-9);
        // Grow for K seconds (K = cbrt(30 / 0.4) ~ 4.2 s) with a 100 ms RTT
        // (long enough that the Reno-friendly estimate stays below).
        let mut now = 0u64;
        let rtt = 100_000_000;
        while now < 4_200_000_000 {
            let w = c.cwnd;
            for _ in 0..(w / MSS) {
                c.on_ack(MSS, MSS, now, rtt, None);
            }
            now += rtt;
        }
        let w = c.cwnd / MSS;
        assert!((95..=106).contains(&w), "plateau near W_max, got {w}");
        // Then it probes beyond.
        while now < 8_000_000_000 {
            let w = c.cwnd;
            for _ in 0..(w / MSS) {
                c.on_ack(MSS, MSS, now, rtt, None);
            }
            now += rtt;
        }
        assert!(c.cwnd / MSS > 110);
        // A second loss below W_max shrinks W_max (fast convergence).
        c.cwnd = 80 * MSS;
        c.w_max = 100.0;
        c.on_loss(80 * MSS);
        assert!((c.w_max - 68.0).abs() < 1e-9);
        assert_eq!(c.cwnd, 56 * MSS);
    }

    #[test]
    fn cubic_does_not_count_time_the_window_was_unused() {
        // After a loss at 100 segments (70 now), the window is used for a
        // round trip, then left unused for 100 s (the application had
        // little to send), then used again: the curve restarts there, a
        // few segments a round trip near W_max, instead of taking the
        // 100 s as growth (half the window more per round trip, the most
        // the target allows).
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, MSS, false);
        c.cwnd = 100 * MSS;
        c.on_loss(100 * MSS);
        let rtt = 100_000_000;
        let round = |c: &mut Congestion, now: u64| {
            for _ in 0..(c.cwnd / MSS) {
                c.on_ack(MSS, MSS, now, rtt, None);
            }
        };
        round(&mut c, 0);
        c.on_ack_unused();
        let before = c.cwnd;
        round(&mut c, 100_000_000_000);
        round(&mut c, 100_100_000_000);
        assert!(c.cwnd - before < 5 * MSS, "{before} -> {}", c.cwnd);
    }

    #[test]
    fn recovery_exit_sets_the_threshold() {
        let mut c = Congestion::new(CongestionAlgorithm::NewReno, MSS, true);
        c.on_loss(40 * MSS);
        assert_eq!(c.ssthresh, 20 * MSS);
        // Whatever is still in flight (here: nothing, a fast path
        // acknowledged it all), the window is the threshold.
        c.cwnd = 3 * MSS;
        c.on_recovery_exit();
        assert_eq!(c.cwnd, 20 * MSS);
    }
}
