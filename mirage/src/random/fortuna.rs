//! The Fortuna cryptographically secure pseudo-random number generator
//! (Ferguson & Schneier, *Cryptography Engineering*, chapter 9), with the
//! behaviour of MirageOS's `mirage-crypto-rng` Fortuna.
//!
//! Fortuna has two parts:
//!
//! * the [`Generator`]: AES-256 in counter mode with a 256-bit key and a
//!   128-bit (big-endian) counter. A reseed sets `key = SHAd256(key || seed)`
//!   and increments the counter. Every request is served in chunks of at most
//!   [`CHUNK_SIZE`] bytes; after each chunk two more keystream blocks become
//!   the new key, so a later compromise of the state does not reveal earlier
//!   output (backtracking resistance). A generator whose counter is still zero
//!   has never been seeded and refuses to produce output ([`Error::Unseeded`]).
//! * the accumulator ([`Fortuna`]): [`POOL_COUNT`] pools, each a running
//!   SHA-256 hash of the entropy events added to it with
//!   [`Fortuna::add_entropy`]. When a request arrives and pool 0 has collected
//!   at least [`MIN_POOL_SIZE`] bytes (and, if the caller passes the time, the
//!   last pool reseed is at least [`MIN_RESEED_INTERVAL_NS`] old), the
//!   generator is reseeded from the pools: on the `r`-th such reseed pool `i`
//!   is used (and emptied) iff `2^i` divides `r`.
//!
//! SHAd256 is SHA-256 applied twice: `SHAd256(x) = SHA-256(SHA-256(x))`.
//! A pool contributes `SHAd256(pool contents)` to the reseed.

use aes::Aes256;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use core::fmt;
use sha2::{Digest, Sha256};

/// The AES block size in bytes; the generator counts in blocks.
pub const BLOCK_SIZE: usize = 16;

/// The size of the generator's AES-256 key in bytes.
pub const KEY_SIZE: usize = 32;

/// The number of entropy pools of the accumulator.
pub const POOL_COUNT: usize = 32;

/// The number of entropy bytes pool 0 must have collected before a request
/// reseeds the generator from the pools.
pub const MIN_POOL_SIZE: usize = 64;

/// The minimum time between two reseeds from the pools, in nanoseconds
/// (100 ms, as in Ferguson & Schneier), enforced when the caller passes the
/// current time to [`Fortuna::generate`].
pub const MIN_RESEED_INTERVAL_NS: u64 = 100_000_000;

/// The largest number of bytes produced under one key: longer requests are
/// split into chunks of this size with a rekey after each.
///
/// This is `mirage-crypto`'s chunk size (2^16 bytes), chosen so that the
/// output stream is the same as MirageOS's for the same seed and requests;
/// it is well inside Ferguson & Schneier's bound of 2^20 bytes per key.
pub const CHUNK_SIZE: usize = 1 << 16;

/// Errors of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The generator has never been seeded, so it has no secret to produce
    /// output from (`Mirage_crypto_rng.Unseeded_generator`).
    Unseeded,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unseeded => f.write_str("the random number generator has not been seeded"),
        }
    }
}

impl core::error::Error for Error {}

/// SHA-256 of the concatenation of `parts`.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHAd256 of the concatenation of `parts`: SHA-256 applied twice.
pub fn shad256(parts: &[&[u8]]) -> [u8; 32] {
    sha256(&[&sha256(parts)])
}

/// Fills `out` with the AES-CTR keystream of `cipher` starting at counter
/// block `counter` (a 128-bit big-endian integer, incremented modulo 2^128
/// per block); a final partial block uses the first bytes of its block.
/// Returns the counter of the block after the last one used.
fn ctr_keystream(cipher: &Aes256, counter: u128, out: &mut [u8]) -> u128 {
    let mut ctr = counter;
    let (blocks, tail) = aes::Block::slice_as_chunks_mut(out);
    for block in blocks.iter_mut() {
        *block = Array::from(ctr.to_be_bytes());
        ctr = ctr.wrapping_add(1);
    }
    cipher.encrypt_blocks(blocks);
    if !tail.is_empty() {
        let mut block = aes::Block::from(ctr.to_be_bytes());
        cipher.encrypt_block(&mut block);
        tail.copy_from_slice(&block[..tail.len()]);
        ctr = ctr.wrapping_add(1);
    }
    ctr
}

/// Fills `out` with the AES-256-CTR keystream for `key`, starting at the
/// counter block `counter` (the 16-byte initial counter block read as a
/// big-endian integer, incremented by one per block modulo 2^128).
///
/// Encrypting is XORing the keystream into the plaintext. This is the exact
/// function the [`Generator`] produces its output with.
pub fn aes256_ctr_keystream(key: &[u8; KEY_SIZE], counter: u128, out: &mut [u8]) {
    let cipher = Aes256::new(&Array::from(*key));
    ctr_keystream(&cipher, counter, out);
}

/// The Fortuna generator: AES-256 in counter mode, rekeyed after every
/// request (see the [module documentation](self)).
pub struct Generator {
    /// The current key.
    key: [u8; KEY_SIZE],
    /// `key`'s expanded AES key schedule.
    cipher: Aes256,
    /// The counter block of the next keystream block; zero iff never seeded.
    counter: u128,
}

impl Generator {
    /// A new, unseeded generator (all-zero key, counter zero).
    pub fn new() -> Self {
        let key = [0; KEY_SIZE];
        Generator {
            key,
            cipher: Aes256::new(&Array::from(key)),
            counter: 0,
        }
    }

    /// Whether the generator has been seeded at least once (its counter is
    /// not zero), i.e. whether [`generate`](Self::generate) can succeed.
    pub fn is_seeded(&self) -> bool {
        self.counter != 0
    }

    /// Mixes `seed` into the key (`key = SHAd256(key || seed)`) and
    /// increments the counter, which marks the generator as seeded.
    pub fn reseed(&mut self, seed: &[u8]) {
        self.reseed_with(|h| h.update(seed));
    }

    /// Reseeds with the bytes `feed` adds to a hash that already holds the
    /// current key: `key = SHAd256(key || fed bytes)`, counter + 1.
    fn reseed_with(&mut self, feed: impl FnOnce(&mut Sha256)) {
        let mut h = Sha256::new();
        h.update(self.key);
        feed(&mut h);
        let inner: [u8; 32] = h.finalize().into();
        self.set_key(sha256(&[&inner]));
        self.counter = self.counter.wrapping_add(1);
    }

    /// Replaces the key (and its key schedule).
    fn set_key(&mut self, key: [u8; KEY_SIZE]) {
        self.key = key;
        self.cipher = Aes256::new(&Array::from(key));
    }

    /// Fills `buf` with pseudo-random bytes, in chunks of at most
    /// [`CHUNK_SIZE`] bytes each followed by a rekey. An empty request
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Unseeded`] if the generator has never been seeded; `buf` is
    /// then left unchanged.
    pub fn generate(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        if !self.is_seeded() {
            return Err(Error::Unseeded);
        }
        for chunk in buf.chunks_mut(CHUNK_SIZE) {
            self.generate_rekey(chunk);
        }
        Ok(())
    }

    /// Fills `chunk` (at most [`CHUNK_SIZE`] bytes) with keystream, then
    /// takes the next two blocks as the new key. The counter advances by
    /// `ceil(len / 16) + 2` blocks; the unused end of a partial last block is
    /// discarded.
    fn generate_rekey(&mut self, chunk: &mut [u8]) {
        debug_assert!(chunk.len() <= CHUNK_SIZE);
        let next = ctr_keystream(&self.cipher, self.counter, chunk);
        let mut new_key = [0; KEY_SIZE];
        self.counter = ctr_keystream(&self.cipher, next, &mut new_key);
        self.set_key(new_key);
    }
}

impl Default for Generator {
    fn default() -> Self {
        Generator::new()
    }
}

impl fmt::Debug for Generator {
    // The key and counter are secret: show only whether it is seeded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("seeded", &self.is_seeded())
            .finish_non_exhaustive()
    }
}

/// The whole Fortuna CSPRNG: a [`Generator`] plus the entropy accumulator
/// with its [`POOL_COUNT`] pools (see the [module documentation](self)).
pub struct Fortuna {
    /// The generator that produces the output.
    generator: Generator,
    /// The pools: running SHA-256 hashes of their entropy events.
    pools: [Sha256; POOL_COUNT],
    /// Entropy bytes added to pool 0 since its last use (event data only,
    /// not the two-byte event headers, as `mirage-crypto` counts).
    pool0_len: usize,
    /// The number of reseeds from the pools so far.
    reseed_count: u64,
    /// The time (ns) of the last reseed from the pools that was given a time.
    last_reseed_ns: Option<u64>,
}

impl Fortuna {
    /// A new, unseeded Fortuna with empty pools.
    pub fn new() -> Self {
        Fortuna {
            generator: Generator::new(),
            pools: core::array::from_fn(|_| Sha256::new()),
            pool0_len: 0,
            reseed_count: 0,
            last_reseed_ns: None,
        }
    }

    /// Whether the generator has been seeded, i.e. whether a request can
    /// succeed without a reseed from the pools.
    pub fn is_seeded(&self) -> bool {
        self.generator.is_seeded()
    }

    /// Reseeds the generator directly with `seed` (e.g. initial entropy from
    /// the platform), bypassing the pools: `key = SHAd256(key || seed)`,
    /// counter + 1.
    pub fn reseed(&mut self, seed: &[u8]) {
        self.generator.reseed(seed);
    }

    /// The number of reseeds from the pools performed so far.
    pub fn reseed_count(&self) -> u64 {
        self.reseed_count
    }

    /// The number of entropy bytes pool 0 has collected since its last use.
    pub fn pool0_len(&self) -> usize {
        self.pool0_len
    }

    /// Adds the entropy event `data` from entropy source `source` to pool
    /// `pool` (taken modulo [`POOL_COUNT`]).
    ///
    /// The pool hashes `source`, the length of `data` as one byte, then
    /// `data`, as in Ferguson & Schneier and `mirage-crypto`. Events longer
    /// than 255 bytes are added as consecutive events of at most 255 bytes,
    /// so that the length byte is always exact.
    pub fn add_entropy(&mut self, source: u8, pool: usize, data: &[u8]) {
        let pool = pool % POOL_COUNT;
        let hash = &mut self.pools[pool];
        if data.is_empty() {
            hash.update([source, 0]);
        }
        for event in data.chunks(usize::from(u8::MAX)) {
            // `chunks(255)` yields at most 255 bytes: the cast is exact.
            hash.update([source, event.len() as u8]);
            hash.update(event);
        }
        if pool == 0 {
            self.pool0_len = self.pool0_len.saturating_add(data.len());
        }
    }

    /// Fills `buf` with random bytes.
    ///
    /// First, if pool 0 holds at least [`MIN_POOL_SIZE`] bytes, the
    /// generator is reseeded from the pools — unless `now_ns` is given, a
    /// previous pool reseed was given a time too, and fewer than
    /// [`MIN_RESEED_INTERVAL_NS`] have passed since. `now_ns` is a monotonic
    /// time in nanoseconds; `None` applies no time limit (for callers without
    /// a clock, and for tests).
    ///
    /// # Errors
    ///
    /// [`Error::Unseeded`] if the generator has never been seeded (neither
    /// by [`reseed`](Self::reseed) nor from the pools); `buf` is then left
    /// unchanged. Output is never produced from the unseeded state.
    pub fn generate(&mut self, buf: &mut [u8], now_ns: Option<u64>) -> Result<(), Error> {
        self.reseed_from_pools(now_ns);
        self.generator.generate(buf)
    }

    /// Reseeds from the pools if pool 0 is full enough and the time limit
    /// allows it; returns whether it did.
    fn reseed_from_pools(&mut self, now_ns: Option<u64>) -> bool {
        if self.pool0_len < MIN_POOL_SIZE {
            return false;
        }
        if let (Some(now), Some(last)) = (now_ns, self.last_reseed_ns)
            && now.saturating_sub(last) < MIN_RESEED_INTERVAL_NS
        {
            return false;
        }
        if now_ns.is_some() {
            self.last_reseed_ns = now_ns;
        }
        self.reseed_count = self.reseed_count.wrapping_add(1);
        self.pool0_len = 0;
        let r = self.reseed_count;
        let pools = &mut self.pools;
        self.generator.reseed_with(|h| {
            for (i, pool) in pools.iter_mut().enumerate() {
                // Pool i is used iff 2^i divides r.
                if r.trailing_zeros() < i as u32 {
                    break;
                }
                let contents: [u8; 32] = core::mem::take(pool).finalize().into();
                h.update(sha256(&[&contents]));
            }
        });
        true
    }
}

impl Default for Fortuna {
    fn default() -> Self {
        Fortuna::new()
    }
}

impl fmt::Debug for Fortuna {
    // The generator's key and the pools are secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fortuna")
            .field("seeded", &self.is_seeded())
            .field("reseed_count", &self.reseed_count)
            .field("pool0_len", &self.pool0_len)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Decodes a hex string (whitespace ignored).
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|b| match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => panic!("bad hex digit {b}"),
            })
            .collect();
        assert!(digits.len().is_multiple_of(2));
        digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
    }

    fn hex32(s: &str) -> [u8; 32] {
        hex(s).try_into().unwrap()
    }

    fn hex_u128(s: &str) -> u128 {
        u128::from_be_bytes(hex(s).try_into().unwrap())
    }

    fn seeded(seed: &[u8]) -> Fortuna {
        let mut f = Fortuna::new();
        f.reseed(seed);
        f
    }

    // ---- Known-answer tests -------------------------------------------

    #[test]
    fn sha256_fips180_abc() {
        assert_eq!(
            sha256(&[b"abc"]).to_vec(),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn sha256_fips180_two_blocks() {
        assert_eq!(
            sha256(&[b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"]).to_vec(),
            hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        );
    }

    #[test]
    fn sha256_fips180_million_a() {
        let a = vec![b'a'; 1_000_000];
        assert_eq!(
            sha256(&[&a]).to_vec(),
            hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        );
        // The same through incremental updates of odd sizes.
        let mut h = Sha256::new();
        for piece in a.chunks(997) {
            h.update(piece);
        }
        let d: [u8; 32] = h.finalize().into();
        assert_eq!(d, sha256(&[&a]));
    }

    #[test]
    fn shad256_is_sha256_twice() {
        for msg in [&b""[..], b"abc", &[0x5a; 200]] {
            let once: [u8; 32] = Sha256::digest(msg).into();
            let twice: [u8; 32] = Sha256::digest(once).into();
            assert_eq!(shad256(&[msg]), twice);
        }
        // Parts are concatenated.
        assert_eq!(shad256(&[b"ab", b"", b"c"]), shad256(&[b"abc"]));
        assert_eq!(
            shad256(&[b"abc"]).to_vec(),
            sha256(&[&hex(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            )])
            .to_vec()
        );
    }

    const FIPS197_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const FIPS197_PT: &str = "00112233445566778899aabbccddeeff";
    const FIPS197_CT: &str = "8ea2b7ca516745bfeafc49904b496089";

    #[test]
    fn aes256_fips197_c3() {
        let cipher = Aes256::new(&Array::from(hex32(FIPS197_KEY)));
        let mut block = aes::Block::try_from(&hex(FIPS197_PT)[..]).unwrap();
        cipher.encrypt_block(&mut block);
        assert_eq!(block.to_vec(), hex(FIPS197_CT));
        // The CTR keystream block for counter block = PT is AES(PT).
        let mut ks = [0; 16];
        aes256_ctr_keystream(&hex32(FIPS197_KEY), hex_u128(FIPS197_PT), &mut ks);
        assert_eq!(ks.to_vec(), hex(FIPS197_CT));
    }

    const SP800_38A_KEY: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
    const SP800_38A_CTR: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    const SP800_38A_PT: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                                30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const SP800_38A_CT: &str = "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
                                2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6";

    #[test]
    fn aes256_ctr_sp800_38a_f55() {
        let pt = hex(SP800_38A_PT);
        let ct = hex(SP800_38A_CT);
        let mut ks = vec![0; 64];
        aes256_ctr_keystream(&hex32(SP800_38A_KEY), hex_u128(SP800_38A_CTR), &mut ks);
        let enc: Vec<u8> = pt.iter().zip(&ks).map(|(p, k)| p ^ k).collect();
        assert_eq!(enc, ct);
        // A partial last block is the prefix of the full keystream.
        let mut short = vec![0; 40];
        aes256_ctr_keystream(&hex32(SP800_38A_KEY), hex_u128(SP800_38A_CTR), &mut short);
        assert_eq!(short[..], ks[..40]);
        // The internal function reports the next counter.
        let cipher = Aes256::new(&Array::from(hex32(SP800_38A_KEY)));
        let next = ctr_keystream(&cipher, hex_u128(SP800_38A_CTR), &mut short);
        assert_eq!(next, hex_u128(SP800_38A_CTR) + 3);
    }

    #[test]
    fn ctr_counter_wraps_modulo_2_128() {
        let key = [7; 32];
        let mut ks = [0; 32];
        aes256_ctr_keystream(&key, u128::MAX, &mut ks);
        let mut last = [0; 16];
        aes256_ctr_keystream(&key, u128::MAX, &mut last);
        let mut first = [0; 16];
        aes256_ctr_keystream(&key, 0, &mut first);
        assert_eq!(ks[..16], last);
        assert_eq!(ks[16..], first);
    }

    // ---- Generator behaviour --------------------------------------------

    #[test]
    fn unseeded_is_an_error() {
        let mut f = Fortuna::new();
        assert!(!f.is_seeded());
        let mut buf = [0xaa; 40];
        assert_eq!(f.generate(&mut buf, None), Err(Error::Unseeded));
        assert_eq!(buf, [0xaa; 40], "buffer left unchanged");
        assert_eq!(f.generate(&mut [], None), Err(Error::Unseeded));
        let mut g = Generator::new();
        assert_eq!(g.generate(&mut buf), Err(Error::Unseeded));
        assert!(!g.is_seeded());
    }

    #[test]
    fn same_seed_same_output_different_seed_different_output() {
        let (mut a, mut b, mut c) = (seeded(b"seed"), seeded(b"seed"), seeded(b"seeD"));
        let (mut x, mut y, mut z) = ([0; 100], [0; 100], [0; 100]);
        for _ in 0..3 {
            a.generate(&mut x, None).unwrap();
            b.generate(&mut y, None).unwrap();
            c.generate(&mut z, None).unwrap();
            assert_eq!(x, y);
            assert_ne!(x, z);
        }
    }

    #[test]
    fn first_output_is_ctr_keystream_of_shad256_key() {
        let seed = b"an initial seed of some thirty-two or more bytes";
        let mut f = seeded(seed);
        // Independently: key = SHA-256(SHA-256(zero key || seed)), counter 1.
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(seed);
        let key: [u8; 32] = Sha256::digest(h.finalize()).into();
        assert_eq!(f.generator.key, key);
        assert_eq!(f.generator.counter, 1);

        let mut out = [0; 50];
        f.generate(&mut out, None).unwrap();
        // 50 bytes = 4 blocks (the last partial), then 2 rekey blocks.
        let mut expected = [0; 6 * 16];
        aes256_ctr_keystream(&key, 1, &mut expected);
        assert_eq!(out[..], expected[..50]);
        assert_eq!(f.generator.key[..], expected[64..96]);
        assert_eq!(f.generator.counter, 1 + 6);

        // The next request runs under the new key from counter 7.
        let mut out2 = [0; 16];
        f.generate(&mut out2, None).unwrap();
        let mut expected2 = [0; 16];
        aes256_ctr_keystream(&expected[64..96].try_into().unwrap(), 7, &mut expected2);
        assert_eq!(out2, expected2);
    }

    #[test]
    fn a_second_reseed_chains_the_key() {
        let mut f = seeded(b"one");
        let k1 = f.generator.key;
        f.reseed(b"two");
        assert_eq!(f.generator.key, shad256(&[&k1, b"two"]));
        assert_eq!(f.generator.counter, 2);
    }

    #[test]
    fn requests_never_repeat_and_rekey_every_time() {
        let mut f = seeded(b"rekey");
        let mut outputs: Vec<Vec<u8>> = Vec::new();
        let mut keys = vec![f.generator.key];
        let mut counter = f.generator.counter;
        for len in [1usize, 16, 17, 32, 100, 1, 16] {
            let mut buf = vec![0; len];
            f.generate(&mut buf, None).unwrap();
            assert!(!keys.contains(&f.generator.key), "key changed");
            keys.push(f.generator.key);
            assert!(f.generator.counter > counter);
            counter = f.generator.counter;
            outputs.push(buf);
        }
        for (i, a) in outputs.iter().enumerate() {
            for b in &outputs[i + 1..] {
                let n = a.len().min(b.len());
                assert_ne!(a[..n], b[..n], "outputs repeat");
            }
        }
        // An empty request is a no-op.
        let before = (f.generator.key, f.generator.counter);
        f.generate(&mut [], None).unwrap();
        assert_eq!((f.generator.key, f.generator.counter), before);
    }

    #[test]
    fn large_requests_are_split_into_chunks_and_filled() {
        let len = 2 * CHUNK_SIZE + 100;
        let mut f = seeded(b"chunks");
        let mut big = vec![0; len];
        f.generate(&mut big, None).unwrap();

        // The same as three separate requests of the chunk sizes.
        let mut g = seeded(b"chunks");
        let mut parts = Vec::new();
        for n in [CHUNK_SIZE, CHUNK_SIZE, 100] {
            let mut p = vec![0; n];
            g.generate(&mut p, None).unwrap();
            parts.extend_from_slice(&p);
        }
        assert_eq!(big, parts);
        assert_eq!(f.generator.key, g.generator.key);

        // And built by hand: each chunk under its own key, rekeyed after.
        let mut key = seeded(b"chunks").generator.key;
        let mut ctr = 1u128;
        let mut expected = Vec::new();
        for n in [CHUNK_SIZE, CHUNK_SIZE, 100] {
            let blocks = n.div_ceil(16) + 2;
            let mut ks = vec![0; blocks * 16];
            aes256_ctr_keystream(&key, ctr, &mut ks);
            expected.extend_from_slice(&ks[..n]);
            key = ks[ks.len() - 32..].try_into().unwrap();
            ctr += blocks as u128;
        }
        assert_eq!(big, expected);
        assert_eq!(f.generator.counter, ctr);
        // The chunks differ (not one keystream restarted) and the end is filled.
        assert_ne!(big[..100], big[CHUNK_SIZE..CHUNK_SIZE + 100]);
        assert_ne!(big[len - 100..], [0; 100]);
    }

    // ---- Accumulator behaviour ------------------------------------------

    /// Independent model of one pool: the raw bytes it has hashed.
    fn event(source: u8, data: &[u8]) -> Vec<u8> {
        let mut e = vec![source, data.len() as u8];
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn pool_i_is_used_on_reseed_r_iff_2_pow_i_divides_r() {
        let mut f = seeded(b"pools");
        let mut model: Vec<Vec<u8>> = vec![Vec::new(); POOL_COUNT];
        for r in 1u64..=40 {
            for (i, pool) in model.iter_mut().enumerate() {
                let data = [r as u8, i as u8, 0x42, 0x17];
                f.add_entropy(3, i, &data);
                pool.extend(event(3, &data));
            }
            // Top pool 0 up to the threshold.
            let filler = [r as u8; MIN_POOL_SIZE];
            f.add_entropy(9, 0, &filler);
            model[0].extend(event(9, &filler));

            let old_key = f.generator.key;
            assert!(f.reseed_from_pools(None));
            assert_eq!(f.reseed_count(), r);

            let mut h = Sha256::new();
            h.update(old_key);
            let mut used = Vec::new();
            for (i, pool) in model.iter_mut().enumerate() {
                if r.is_multiple_of(1u64 << i) {
                    h.update(shad256(&[pool]));
                    pool.clear();
                    used.push(i);
                }
            }
            let expected: [u8; 32] = Sha256::digest(h.finalize()).into();
            assert_eq!(f.generator.key, expected, "reseed {r} used pools {used:?}");
        }
    }

    #[test]
    fn high_pools_are_used_on_their_reseed() {
        let mut f = seeded(b"high");
        for i in 0..POOL_COUNT {
            f.add_entropy(1, i, &[i as u8; 64]);
        }
        // The next reseed is number 2^31: every pool is used.
        f.reseed_count = (1 << 31) - 1;
        let old_key = f.generator.key;
        assert!(f.reseed_from_pools(None));
        let mut h = Sha256::new();
        h.update(old_key);
        for i in 0..POOL_COUNT {
            h.update(shad256(&[&event(1, &[i as u8; 64])]));
        }
        let expected: [u8; 32] = Sha256::digest(h.finalize()).into();
        assert_eq!(f.generator.key, expected);
    }

    #[test]
    fn automatic_reseed_only_once_pool0_has_64_bytes() {
        let mut f = Fortuna::new();
        // Lots of entropy in the other pools does not trigger a reseed.
        for i in 1..POOL_COUNT {
            f.add_entropy(0, i, &[0x11; 200]);
        }
        for _ in 0..(MIN_POOL_SIZE - 1) {
            f.add_entropy(5, 0, &[0x22]);
        }
        assert_eq!(f.pool0_len(), 63);
        assert_eq!(f.generate(&mut [0; 8], None), Err(Error::Unseeded));
        assert_eq!(f.reseed_count(), 0);

        f.add_entropy(5, 0, &[0x22]);
        assert_eq!(f.pool0_len(), 64);
        let mut buf = [0; 8];
        f.generate(&mut buf, None).unwrap();
        assert_eq!(f.reseed_count(), 1);
        assert_eq!(f.pool0_len(), 0);
        assert!(f.is_seeded());

        // A seeded generator does not reseed until pool 0 refills.
        let key = f.generator.key;
        f.add_entropy(5, 0, &[0x33; 63]);
        f.generate(&mut buf, None).unwrap();
        assert_eq!(f.reseed_count(), 1);
        assert_ne!(f.generator.key, key);
        f.add_entropy(5, 0, &[0x33]);
        f.generate(&mut buf, None).unwrap();
        assert_eq!(f.reseed_count(), 2);
    }

    #[test]
    fn pool_reseeds_are_rate_limited_when_given_the_time() {
        let mut f = Fortuna::new();
        f.add_entropy(0, 0, &[1; 64]);
        f.generate(&mut [0; 4], Some(5_000)).unwrap();
        assert_eq!(f.reseed_count(), 1);

        f.add_entropy(0, 0, &[2; 64]);
        f.generate(&mut [0; 4], Some(5_000 + MIN_RESEED_INTERVAL_NS - 1))
            .unwrap();
        assert_eq!(f.reseed_count(), 1, "too soon");
        assert_eq!(f.pool0_len(), 64, "entropy kept for later");
        f.generate(&mut [0; 4], Some(5_000 + MIN_RESEED_INTERVAL_NS))
            .unwrap();
        assert_eq!(f.reseed_count(), 2);

        // Without a time there is no limit.
        f.add_entropy(0, 0, &[3; 64]);
        f.generate(&mut [0; 4], None).unwrap();
        assert_eq!(f.reseed_count(), 3);
    }

    #[test]
    fn add_entropy_hashes_source_and_length_prefix() {
        let mut f = seeded(b"prefix");
        let old_key = f.generator.key;
        let long = [0x5c; 300];
        f.add_entropy(0xfe, POOL_COUNT, &long); // pool index wraps to 0
        assert_eq!(f.pool0_len(), 300);
        assert!(f.reseed_from_pools(None));
        // Long events are split into events of at most 255 bytes.
        let mut contents = event(0xfe, &long[..255]);
        contents.extend(event(0xfe, &long[255..]));
        assert_eq!(
            f.generator.key,
            shad256(&[&old_key, &shad256(&[&contents])])
        );
    }

    #[test]
    fn debug_does_not_leak_state() {
        let f = seeded(b"secret");
        let s = alloc::format!("{f:?} {:?}", f.generator);
        assert!(s.contains("seeded: true"));
        assert!(!s.contains("key"));
    }
}
