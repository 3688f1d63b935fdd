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
pub(crate) fn reachable_time(base: u64, seed: u64) -> u64 {
    base / 2 + random_below(seed, base)
}

/// The next seed of a sequence of draws from one first seed.
pub(crate) fn next_seed(seed: u64) -> u64 {
    seed.wrapping_add(0x9e37_79b9_7f4a_7c15)
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
