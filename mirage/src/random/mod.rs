//! The `random` device (`Mirage_random.S`, `Mirage_crypto_rng`): a
//! cryptographically secure random number generator.
//!
//! The device is [`Rng`], a [Fortuna](fortuna) CSPRNG behind a spin lock. The
//! platform creates it seeded from its entropy source ([`Rng::from_seed`])
//! and may keep feeding it entropy events ([`Rng::add_entropy`],
//! [`Rng::accumulator`]). It implements [`Random`], and the `rand_core` 0.10
//! traits `TryRng` + `TryCryptoRng` (hence `Rng` + `CryptoRng`) for both
//! `Rng` (use `&mut rng`) and `&Rng`, so it can be passed to any `rand`
//! 0.10 API that wants a cryptographic RNG.

use alloc::vec;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt;

pub mod fortuna;

pub use fortuna::Fortuna;

/// A source of cryptographically secure random bytes (the seed's `random`
/// device type).
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The minimum length in bytes of the seed given to [`Rng::from_seed`]:
/// 256 bits, the size of the generator's key.
pub const MIN_SEED_LEN: usize = 32;

/// The `random` device: a [`Fortuna`] CSPRNG behind a [`spin::Mutex`],
/// seeded at construction so that it never produces unseeded output.
///
/// Use it through [`Random::fill`], [`Rng::generate`], or the `rand_core`
/// traits (implemented for `Rng` and `&Rng`).
pub struct Rng {
    /// The generator and its entropy pools.
    fortuna: spin::Mutex<Fortuna>,
    /// A monotonic clock in nanoseconds, if any: limits reseeds from the
    /// entropy pools to one per 100 ms.
    clock: Option<fn() -> u64>,
}

impl Rng {
    /// A generator seeded with `seed`, which must be at least
    /// [`MIN_SEED_LEN`] bytes of platform entropy (e.g. from `getrandom`).
    /// Reseeds from the entropy pools are not rate-limited (there is no
    /// clock); see [`from_seed_with_clock`](Self::from_seed_with_clock).
    ///
    /// # Panics
    ///
    /// If `seed` is shorter than [`MIN_SEED_LEN`] bytes.
    pub fn from_seed(seed: &[u8]) -> Rng {
        Rng::new(seed, None)
    }

    /// A generator seeded with `seed` (as [`from_seed`](Self::from_seed))
    /// that reads the monotonic nanosecond clock `clock` to reseed from the
    /// entropy pools at most once per
    /// [`MIN_RESEED_INTERVAL_NS`](fortuna::MIN_RESEED_INTERVAL_NS).
    ///
    /// # Panics
    ///
    /// If `seed` is shorter than [`MIN_SEED_LEN`] bytes.
    pub fn from_seed_with_clock(seed: &[u8], clock: fn() -> u64) -> Rng {
        Rng::new(seed, Some(clock))
    }

    /// Common constructor.
    fn new(seed: &[u8], clock: Option<fn() -> u64>) -> Rng {
        assert!(
            seed.len() >= MIN_SEED_LEN,
            "random: seed of {} bytes, at least {MIN_SEED_LEN} needed",
            seed.len()
        );
        let mut fortuna = Fortuna::new();
        fortuna.reseed(seed);
        Rng {
            fortuna: spin::Mutex::new(fortuna),
            clock,
        }
    }

    /// Mixes `seed` directly into the generator's key (no pools).
    pub fn reseed(&self, seed: &[u8]) {
        self.fortuna.lock().reseed(seed);
    }

    /// Adds the entropy event `data` from source `source` to pool `pool`
    /// (modulo 32); see [`Fortuna::add_entropy`]. The generator reseeds from
    /// the pools at the next request once pool 0 has 64 bytes.
    pub fn add_entropy(&self, source: u8, pool: usize, data: &[u8]) {
        self.fortuna.lock().add_entropy(source, pool, data);
    }

    /// An accumulator for entropy source `source` that spreads its events
    /// over the pools round-robin (as `Mirage_crypto_rng.accumulate`).
    pub fn accumulator(&self, source: u8) -> Accumulator<'_> {
        Accumulator {
            rng: self,
            source,
            next_pool: 0,
        }
    }

    /// `n` fresh random bytes.
    pub fn generate(&self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.fill(&mut buf);
        buf
    }
}

impl Random for Rng {
    /// Fills `buf` with random bytes from the Fortuna generator.
    ///
    /// # Panics
    ///
    /// Never in practice: the generator is seeded at construction and its
    /// counter would have to wrap around 2^128 to become unseeded again.
    fn fill(&self, buf: &mut [u8]) {
        let now = self.clock.map(|clock| clock());
        if let Err(e) = self.fortuna.lock().generate(buf, now) {
            panic!("random: {e}");
        }
    }
}

impl fmt::Debug for Rng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rng")
            .field("clock", &self.clock.is_some())
            .finish_non_exhaustive()
    }
}

/// Feeds one entropy source's events into the pools of an [`Rng`] in turn:
/// event `k` goes to pool `k mod 32` (as `Mirage_crypto_rng.accumulate`).
#[derive(Debug)]
pub struct Accumulator<'a> {
    /// The generator fed.
    rng: &'a Rng,
    /// The entropy source's id.
    source: u8,
    /// The pool of the next event.
    next_pool: usize,
}

impl Accumulator<'_> {
    /// Adds the entropy event `data` to the next pool.
    pub fn add(&mut self, data: &[u8]) {
        self.rng.add_entropy(self.source, self.next_pool, data);
        self.next_pool = (self.next_pool + 1) % fortuna::POOL_COUNT;
    }
}

/// `rand_core` 0.10 fallible-RNG trait for a shared [`Rng`]: it never fails.
impl rand_core::TryRng for &Rng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

/// A shared [`Rng`] is a cryptographically secure RNG.
impl rand_core::TryCryptoRng for &Rng {}

/// `rand_core` 0.10 fallible-RNG trait for an owned [`Rng`] (`&mut Rng`
/// gets it too): it never fails.
impl rand_core::TryRng for Rng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        (&*self).try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        (&*self).try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        (&*self).try_fill_bytes(dst)
    }
}

/// An [`Rng`] is a cryptographically secure RNG.
impl rand_core::TryCryptoRng for Rng {}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::CryptoRng;

    const SEED: [u8; 32] = [0x42; 32];

    #[test]
    fn seeded_at_construction_and_deterministic_per_seed() {
        let a = Rng::from_seed(&SEED);
        let b = Rng::from_seed(&SEED);
        let c = Rng::from_seed(&[0x43; 32]);
        let x = a.generate(100);
        assert_eq!(x.len(), 100);
        assert_ne!(x, [0; 100]);
        assert_eq!(x, b.generate(100));
        assert_ne!(x, c.generate(100));
        // Consecutive requests differ.
        assert_ne!(a.generate(100), x);
    }

    #[test]
    fn output_is_fortunas() {
        let rng = Rng::from_seed(&SEED);
        let mut f = Fortuna::new();
        f.reseed(&SEED);
        let mut expected = [0; 64];
        f.generate(&mut expected, None).unwrap();
        let mut got = [0; 64];
        rng.fill(&mut got);
        assert_eq!(got, expected);
    }

    #[test]
    #[should_panic(expected = "at least 32")]
    fn short_seed_is_refused() {
        let _ = Rng::from_seed(&[1; 31]);
    }

    #[test]
    fn entropy_events_reseed() {
        let a = Rng::from_seed(&SEED);
        let b = Rng::from_seed(&SEED);
        // Less than 64 bytes in pool 0: no reseed yet, outputs stay equal.
        a.add_entropy(1, 0, &[9; 63]);
        assert_eq!(a.generate(32), b.generate(32));
        a.add_entropy(1, 0, &[9; 1]);
        assert_ne!(a.generate(32), b.generate(32));
    }

    #[test]
    fn accumulator_spreads_events_round_robin() {
        let a = Rng::from_seed(&SEED);
        let b = Rng::from_seed(&SEED);
        let mut acc = a.accumulator(7);
        for k in 0..(2 * fortuna::POOL_COUNT + 3) {
            let data = [k as u8; 40];
            acc.add(&data);
            b.add_entropy(7, k % fortuna::POOL_COUNT, &data);
        }
        assert_eq!(a.generate(48), b.generate(48));
    }

    #[test]
    fn clock_rate_limits_pool_reseeds() {
        fn frozen() -> u64 {
            1_000_000
        }
        let a = Rng::from_seed_with_clock(&SEED, frozen);
        let b = Rng::from_seed(&SEED);
        let c = Rng::from_seed(&SEED);
        // The first pool reseed happens in all three.
        for r in [&a, &b, &c] {
            r.add_entropy(0, 0, &[5; 64]);
        }
        let first = a.generate(16);
        assert_eq!(first, b.generate(16));
        assert_eq!(first, c.generate(16));
        // The second is too soon for `a` (its clock is frozen) but not for
        // `b` (no clock); `c` gets no new entropy at all.
        a.add_entropy(0, 0, &[6; 64]);
        b.add_entropy(0, 0, &[6; 64]);
        let second = a.generate(16);
        assert_ne!(second, b.generate(16));
        assert_eq!(second, c.generate(16));
    }

    fn needs_crypto_rng<R: CryptoRng>(rng: &mut R) -> (u32, u64, [u8; 5]) {
        let mut b = [0; 5];
        rng.fill_bytes(&mut b);
        (rng.next_u32(), rng.next_u64(), b)
    }

    #[test]
    fn rand_core_traits() {
        let shared = Rng::from_seed(&SEED);
        let mut handle = &shared;
        let (u, v, b) = needs_crypto_rng(&mut handle);

        // The same stream as the device's: 5 bytes, then 4, then 8.
        let reference = Rng::from_seed(&SEED);
        assert_eq!(b[..], reference.generate(5)[..]);
        assert_eq!(u.to_le_bytes()[..], reference.generate(4)[..]);
        assert_eq!(v.to_le_bytes()[..], reference.generate(8)[..]);

        let mut owned = Rng::from_seed(&SEED);
        assert_eq!(needs_crypto_rng(&mut owned), (u, v, b));
        let mut owned2 = Rng::from_seed(&SEED);
        assert_eq!(needs_crypto_rng(&mut &mut owned2), (u, v, b));
    }

    #[test]
    fn usable_as_a_random_device() {
        fn draw<R: Random>(r: &R) -> [u8; 24] {
            let mut b = [0; 24];
            r.fill(&mut b);
            b
        }
        let rng = Rng::from_seed(&SEED);
        assert_ne!(draw(&rng), draw(&rng));
    }
}
