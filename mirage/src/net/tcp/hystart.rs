//! HyStart++ (RFC 9406): the first slow start ends on a rise of the round
//! trip, before the queue it builds overflows, rather than on the loss the
//! overflow causes.
//!
//! RFC 9438 section 4.10 asks CUBIC to use it. Slow start is measured in
//! rounds (a round ends when the highest sequence number sent at its start
//! is acknowledged). Once a round has seen [`N_RTT_SAMPLE`] round-trip
//! samples and its least sample exceeds the previous round's least by
//! [`rtt_threshold`] (an eighth of it, between 4 and 16 ms), the queue at
//! the bottleneck grows: slow start turns conservative (CSS), the window
//! growing a quarter as fast, for [`CSS_ROUNDS`] rounds, then congestion
//! avoidance takes over with the threshold at the window. A CSS round whose
//! least sample falls below the one that started it says the rise was
//! noise: slow start resumes.
//!
//! This module is the state machine alone; the window's arithmetic is
//! [`super::congestion::Congestion`]'s, which consults it on each
//! acknowledgment of its first slow start and drops it at the first loss or
//! congestion mark (RFC 9406 section 4.3: HyStart++ only for the initial
//! slow start; later ones stop at the threshold a loss set).

use crate::net::wire::tcp::SeqNumber;

/// Samples a round needs before its least one is compared (RFC 9406's
/// `N_RTT_SAMPLE`).
pub(crate) const N_RTT_SAMPLE: u32 = 8;
/// The least rise that counts, nanoseconds (`MIN_RTT_THRESH`, 4 ms).
pub(crate) const MIN_RTT_THRESH_NS: u64 = 4_000_000;
/// The greatest rise asked for, nanoseconds (`MAX_RTT_THRESH`, 16 ms).
pub(crate) const MAX_RTT_THRESH_NS: u64 = 16_000_000;
/// The rise asked for is the last round's least sample over this
/// (`MIN_RTT_DIVISOR`).
pub(crate) const MIN_RTT_DIVISOR: u64 = 8;
/// In CSS the window grows by this fraction of slow start's growth
/// (`CSS_GROWTH_DIVISOR`).
pub(crate) const CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds of CSS before congestion avoidance (`CSS_ROUNDS`).
pub(crate) const CSS_ROUNDS: u32 = 5;

/// No sample yet.
const NONE: u64 = u64::MAX;

/// Where HyStart++ is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Standard slow start, watching the round trip.
    SlowStart,
    /// Conservative slow start: the round trip rose.
    Css {
        /// The least sample of the round that started it
        /// (`cssBaselineMinRtt`).
        baseline_ns: u64,
        /// Its rounds completed.
        rounds: u32,
    },
}

/// What an acknowledgment in slow start does to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Growth {
    /// Slow start's growth.
    Full,
    /// A [`CSS_GROWTH_DIVISOR`]th of it.
    Conservative,
    /// Slow start is over: congestion avoidance from this window on.
    Avoidance,
}

/// The HyStart++ state of one connection's first slow start.
#[derive(Debug, Clone)]
pub(crate) struct HyStart {
    phase: Phase,
    /// The sequence number whose acknowledgment ends the round
    /// (`windowEnd`); `None` before the first acknowledgment.
    window_end: Option<SeqNumber>,
    /// The least sample of the last round (`lastRoundMinRTT`), or [`NONE`].
    last_round_min_ns: u64,
    /// The least sample of this round (`currentRoundMinRTT`), or [`NONE`].
    round_min_ns: u64,
    /// This round's samples (`rttSampleCount`).
    samples: u32,
}

/// The rise of the least round trip that ends standard slow start after a
/// round whose least sample was `last_ns` (RFC 9406's `RttThresh`).
pub(crate) fn rtt_threshold(last_ns: u64) -> u64 {
    (last_ns / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH_NS, MAX_RTT_THRESH_NS)
}

impl HyStart {
    /// At the start of the first slow start.
    pub(crate) fn new() -> HyStart {
        HyStart {
            phase: Phase::SlowStart,
            window_end: None,
            last_round_min_ns: NONE,
            round_min_ns: NONE,
            samples: 0,
        }
    }

    /// Whether slow start is conservative now.
    #[cfg(test)]
    fn in_css(&self) -> bool {
        matches!(self.phase, Phase::Css { .. })
    }

    /// An acknowledgment of new data up to `ack`, in slow start, with
    /// `snd_max` the highest sequence number sent and `rtt_ns` the round
    /// trip it measured, if it measured one: how the window grows for it.
    pub(crate) fn on_ack(
        &mut self,
        ack: SeqNumber,
        snd_max: SeqNumber,
        rtt_ns: Option<u64>,
    ) -> Growth {
        let window_end = *self.window_end.get_or_insert(snd_max);
        if let Some(rtt) = rtt_ns {
            self.round_min_ns = self.round_min_ns.min(rtt);
            self.samples = self.samples.saturating_add(1);
        }
        let measured = self.samples >= N_RTT_SAMPLE && self.round_min_ns != NONE;
        match self.phase {
            Phase::SlowStart => {
                if measured
                    && self.last_round_min_ns != NONE
                    && self.round_min_ns
                        >= self
                            .last_round_min_ns
                            .saturating_add(rtt_threshold(self.last_round_min_ns))
                {
                    self.phase = Phase::Css {
                        baseline_ns: self.round_min_ns,
                        rounds: 0,
                    };
                }
            }
            Phase::Css { baseline_ns, .. } => {
                if measured && self.round_min_ns < baseline_ns {
                    // The rise was not the queue's: back to slow start.
                    self.phase = Phase::SlowStart;
                }
            }
        }
        if ack >= window_end {
            // The round ends; the next one runs to what is sent by now.
            if let Phase::Css { rounds, .. } = &mut self.phase {
                *rounds += 1;
                if *rounds >= CSS_ROUNDS {
                    return Growth::Avoidance;
                }
            }
            self.last_round_min_ns = self.round_min_ns;
            self.round_min_ns = NONE;
            self.samples = 0;
            self.window_end = Some(snd_max);
        }
        match self.phase {
            Phase::SlowStart => Growth::Full,
            Phase::Css { .. } => Growth::Conservative,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// The `k`th of `n` acknowledgments of the round that started at
    /// `start`, measuring `rtt`: what is sent when it arrives is taken to
    /// reach the end of the next round once the round ends.
    fn ack(h: &mut HyStart, start: u32, n: u32, k: u32, rtt: Option<u64>) -> Growth {
        let snd_max = if k == n { start + 2 * n } else { start + n };
        h.on_ack(SeqNumber(start + k), SeqNumber(snd_max), rtt)
    }

    /// Feeds one round of `n` acknowledgments, each measuring `rtt`: what
    /// the last one, which ends the round, returned.
    fn round(h: &mut HyStart, start: &mut u32, n: u32, rtt: u64) -> Growth {
        let mut g = Growth::Full;
        for k in 1..=n {
            g = ack(h, *start, n, k, Some(rtt));
        }
        *start += n;
        g
    }

    /// The four CSS rounds after the first, each measuring `rtt`: three
    /// conservative, the last ending slow start.
    fn last_css_rounds(h: &mut HyStart, seq: &mut u32, rtt: u64) {
        for _ in 0..3 {
            assert_eq!(round(h, seq, 10, rtt), Growth::Conservative);
        }
        assert_eq!(round(h, seq, 10, rtt), Growth::Avoidance);
    }

    #[test]
    fn the_threshold_is_an_eighth_of_the_round_trip_within_4_and_16_ms() {
        assert_eq!(rtt_threshold(10 * MS), 4 * MS);
        assert_eq!(rtt_threshold(80 * MS), 10 * MS);
        assert_eq!(rtt_threshold(500 * MS), 16 * MS);
    }

    #[test]
    fn a_rise_of_the_least_round_trip_starts_css_and_five_rounds_end_slow_start() {
        let mut h = HyStart::new();
        let mut seq = 0;
        assert_eq!(round(&mut h, &mut seq, 10, 40 * MS), Growth::Full);
        // A rise below the threshold (5 ms for 40 ms): still slow start.
        assert_eq!(round(&mut h, &mut seq, 10, 44 * MS), Growth::Full);
        assert!(!h.in_css());
        // 44 + 5.5 ms and more: CSS, at the eighth sample.
        let seen: alloc::vec::Vec<_> = (1..=10)
            .map(|k| ack(&mut h, seq, 10, k, Some(50 * MS)))
            .collect();
        seq += 10;
        assert_eq!(seen[6], Growth::Full);
        assert_eq!(seen[7], Growth::Conservative);
        assert!(h.in_css());
        // That round was the first of CSS; four more, the last ending it.
        last_css_rounds(&mut h, &mut seq, 50 * MS);
    }

    #[test]
    fn a_round_trip_back_below_the_baseline_resumes_slow_start() {
        let mut h = HyStart::new();
        let mut seq = 0;
        round(&mut h, &mut seq, 10, 40 * MS);
        round(&mut h, &mut seq, 10, 50 * MS);
        assert!(h.in_css());
        // The next round's least sample is below the baseline of 50 ms.
        assert_eq!(round(&mut h, &mut seq, 10, 45 * MS), Growth::Full);
        assert!(!h.in_css());
        // And a later rise starts CSS afresh, its rounds counted anew.
        round(&mut h, &mut seq, 10, 60 * MS);
        assert!(h.in_css());
        last_css_rounds(&mut h, &mut seq, 60 * MS);
    }

    #[test]
    fn too_few_samples_decide_nothing() {
        // Seven samples a round (a round trip timed once a flight, as
        // without timestamps, gives one): never CSS, however the round
        // trip rises.
        let mut h = HyStart::new();
        let mut seq = 0;
        for (k, rtt) in [40, 80, 160, 320].into_iter().enumerate() {
            for i in 1..=10 {
                let sample = (i <= 7).then_some(rtt * MS);
                assert_eq!(ack(&mut h, seq, 10, i, sample), Growth::Full, "{k}");
            }
            seq += 10;
        }
        assert!(!h.in_css());
    }
}
