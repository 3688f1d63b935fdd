//! Pseudo-random spreads of protocol timers, so that hosts started together
//! (or sharing a link) do not act in step: start-up delays and the
//! neighbour caches' reachable times. Not for secrets (see
//! [`crate::Random`] for those).

/// A pseudo-random time in `[0, bound)` from `seed` (SplitMix64's
/// finaliser).
pub(crate) fn random_below(seed: u64, bound: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z % bound.max(1)
}

/// A reachable time drawn from its base `base` (RFC 4861 section 6.3.2, a
/// SHOULD for IPv6; Linux draws ARP's the same way): uniformly between 0.5
/// and 1.5 times it (MIN_RANDOM_FACTOR, MAX_RANDOM_FACTOR), so that hosts
/// do not time their neighbours out in step.
fn reachable_time(base: u64, seed: u64) -> u64 {
    base / 2 + random_below(seed, base)
}

/// A neighbour cache's reachable time, drawn with [`reachable_time`] from
/// its base: at first, when the base changes, and again once `interval`
/// has passed since the last timed draw (checked by
/// [`ReachableTime::redraw_due`], at the owner's polls: no timer of its
/// own to wake an idle host).
#[derive(Debug)]
pub(crate) struct ReachableTime {
    base: u64,
    /// The draws' generator state.
    seed: u64,
    interval: u64,
    redraw_at: u64,
}

impl ReachableTime {
    /// Drawn around `base` at `now`, seeded by `seed`, again every
    /// `interval`; and the first draw.
    pub(crate) fn new(base: u64, seed: u64, now: u64, interval: u64) -> (Self, u64) {
        let mut r = ReachableTime {
            base,
            seed,
            interval,
            redraw_at: now.saturating_add(interval),
        };
        let t = r.draw();
        (r, t)
    }

    /// A new draw.
    fn draw(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        reachable_time(self.base, self.seed)
    }

    /// A new draw if `interval` has passed at `now`.
    pub(crate) fn redraw_due(&mut self, now: u64) -> Option<u64> {
        if now < self.redraw_at {
            return None;
        }
        self.redraw_at = now.saturating_add(self.interval);
        Some(self.draw())
    }

    /// Sets the base (0 is ignored); a new draw if it changed.
    pub(crate) fn set_base(&mut self, base: u64) -> Option<u64> {
        if base == 0 || base == self.base {
            return None;
        }
        self.base = base;
        Some(self.draw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_time_is_drawn_around_its_base() {
        let base = 30_000_000_000;
        let draws: alloc::vec::Vec<u64> = (1..=64u64)
            .map(|seed| reachable_time(base, seed << 32 | 0x0a00_0001))
            .collect();
        assert!(draws.iter().all(|&t| (base / 2..base / 2 * 3).contains(&t)));
        let (lo, hi) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(hi - lo > base / 2, "{lo} {hi}");
    }
}
