//! The `random` device (`Mirage_random.S`, `Mirage_crypto_rng`): a
//! cryptographically secure random number generator.

/// A source of cryptographically secure random bytes (the seed's `random`
/// device type).
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}
