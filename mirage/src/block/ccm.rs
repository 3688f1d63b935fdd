//! `ccm_block`: an AES-CCM encrypted block device with the on-disk layout
//! of MirageOS's mirage-block-ccm, so images move between the two.
//!
//! Each sector `s` of this device is stored in sectors `2s` and `2s + 1`
//! of the underlying device (so the capacity is halved), read and written
//! together as one `2 * sector_size` buffer:
//! `[ciphertext of the sector (sector_size) | 16-byte CCM tag | nonce
//! (nonce_len) | additional authenticated data (the rest)]`; nonce and AAD
//! are fresh random bytes on every write. The key is AES-128, -192 or -256
//! (16, 24 or 32 bytes); the nonce length is 7 to 13 bytes (8 by default).
//! A wrong key or any changed byte makes the read fail: never wrong data.

use alloc::format;
use alloc::string::String;
use alloc::vec;

use aes::{Aes128, Aes192, Aes256};
use ccm::Ccm;
use ccm::aead::array::Array;
use ccm::aead::{AeadInOut, KeyInit};
use ccm::consts::{U7, U8, U9, U10, U11, U12, U13, U16};

use super::{Block, BlockError, BlockInfo, check_access};
use crate::random::Random;

/// The CCM tag size of mirage-block-ccm (`CCM16`).
pub const TAG_SIZE: usize = 16;
/// The default nonce length.
pub const DEFAULT_NONCE_LEN: usize = 8;

/// An encrypted view of the block device `B`, nonces drawn from `R`.
pub struct CcmBlock<B: 'static, R: 'static> {
    raw: &'static B,
    random: &'static R,
    key: alloc::vec::Vec<u8>,
    nonce_len: usize,
    info: BlockInfo,
}

impl<B: Block, R: Random> core::fmt::Debug for CcmBlock<B, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CcmBlock")
            .field("info", &self.info)
            .field("nonce_len", &self.nonce_len)
            .finish_non_exhaustive()
    }
}

/// Parses a hex key, with or without a `0x` prefix: 32, 48 or 64 digits.
pub fn parse_key(hex: &str) -> Result<alloc::vec::Vec<u8>, BlockError> {
    let digits = hex.trim();
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(digits);
    let bad = || {
        BlockError::Device(format!(
            "AES-CCM key: expected 32, 48 or 64 hex digits, got `{hex}`"
        ))
    };
    if !matches!(digits.len(), 32 | 48 | 64) {
        return Err(bad());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

macro_rules! with_ccm {
    ($key:expr, $nonce_len:expr, |$c:ident| $body:expr) => {{
        macro_rules! go {
            ($cipher:ty, $n:ty) => {{
                let $c = Ccm::<$cipher, U16, $n>::new_from_slice($key)
                    .map_err(|_| BlockError::Device(String::from("AES-CCM: bad key length")))?;
                $body
            }};
        }
        macro_rules! by_nonce {
            ($cipher:ty) => {
                match $nonce_len {
                    7 => go!($cipher, U7),
                    8 => go!($cipher, U8),
                    9 => go!($cipher, U9),
                    10 => go!($cipher, U10),
                    11 => go!($cipher, U11),
                    12 => go!($cipher, U12),
                    13 => go!($cipher, U13),
                    n => Err(BlockError::Device(format!(
                        "AES-CCM: nonce length {n} is not 7 to 13"
                    ))),
                }
            };
        }
        match $key.len() {
            16 => by_nonce!(Aes128),
            24 => by_nonce!(Aes192),
            32 => by_nonce!(Aes256),
            n => Err(BlockError::Device(format!("AES-CCM: key of {n} bytes"))),
        }
    }};
}

impl<B: Block, R: Random> CcmBlock<B, R> {
    /// The encrypted device over `raw`, with `key` (hex, `0x` optional) and
    /// `nonce_len` (7 to 13; MirageOS's default is 8).
    pub fn connect(
        raw: &'static B,
        random: &'static R,
        key: Option<&str>,
        nonce_len: usize,
    ) -> Result<Self, BlockError> {
        let key = parse_key(
            key.ok_or_else(|| BlockError::Device(String::from("AES-CCM: no key given")))?,
        )?;
        let raw_info = raw.info();
        let size = raw_info.sector_size as usize;
        if !(7..=13).contains(&nonce_len) {
            return Err(BlockError::Device(format!(
                "AES-CCM: nonce length {nonce_len} is not 7 to 13"
            )));
        }
        if size <= (TAG_SIZE + nonce_len) * 2 {
            return Err(BlockError::Device(format!(
                "AES-CCM: sectors of {size} bytes are too small"
            )));
        }
        Ok(CcmBlock {
            raw,
            random,
            key,
            nonce_len,
            info: BlockInfo {
                sector_size: raw_info.sector_size,
                size_sectors: raw_info.size_sectors / 2,
                read_write: raw_info.read_write,
            },
        })
    }

    /// Encrypts `plain` into the two-sector `pair` with fresh nonce and AAD.
    fn seal(&self, plain: &[u8], pair: &mut [u8]) -> Result<(), BlockError> {
        let size = plain.len();
        let (body, rest) = pair.split_at_mut(size);
        body.copy_from_slice(plain);
        let (tag_slot, fill) = rest.split_at_mut(TAG_SIZE);
        self.random.fill(fill);
        let (nonce, aad) = fill.split_at(self.nonce_len);
        with_ccm!(&self.key, self.nonce_len, |cipher| {
            let tag = cipher
                .encrypt_inout_detached(
                    &Array::try_from(nonce).map_err(|_| nonce_error())?,
                    aad,
                    body.into(),
                )
                .map_err(|_| BlockError::Device(String::from("AES-CCM: encryption failed")))?;
            tag_slot.copy_from_slice(&tag);
            Ok(())
        })
    }

    /// Decrypts the two-sector `pair` into `plain`; an error if the tag
    /// does not verify.
    fn open(&self, pair: &mut [u8], plain: &mut [u8], sector: u64) -> Result<(), BlockError> {
        let size = plain.len();
        let (body, rest) = pair.split_at_mut(size);
        let (tag, fill) = rest.split_at(TAG_SIZE);
        let (nonce, aad) = fill.split_at(self.nonce_len);
        with_ccm!(&self.key, self.nonce_len, |cipher| {
            cipher
                .decrypt_inout_detached(
                    &Array::try_from(nonce).map_err(|_| nonce_error())?,
                    aad,
                    (&mut *body).into(),
                    &Array::try_from(tag).map_err(|_| nonce_error())?,
                )
                .map_err(|_| {
                    BlockError::Device(format!(
                        "AES-CCM: sector {sector} does not authenticate (wrong key or altered data)"
                    ))
                })?;
            plain.copy_from_slice(body);
            Ok(())
        })
    }
}

fn nonce_error() -> BlockError {
    BlockError::Device(String::from("AES-CCM: malformed nonce or tag"))
}

impl<B: Block, R: Random> Block for CcmBlock<B, R> {
    fn info(&self) -> BlockInfo {
        self.info
    }

    async fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, buf.len(), false)?;
        let size = self.info.sector_size as usize;
        let mut pair = vec![0u8; 2 * size];
        for (i, chunk) in buf.chunks_mut(size).enumerate() {
            let s = sector + i as u64;
            self.raw.read(2 * s, &mut pair).await?;
            self.open(&mut pair, chunk, s)?;
        }
        Ok(())
    }

    async fn write(&self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        check_access(&self.info, sector, data.len(), true)?;
        let size = self.info.sector_size as usize;
        let mut pair = vec![0u8; 2 * size];
        for (i, chunk) in data.chunks(size).enumerate() {
            self.seal(chunk, &mut pair)?;
            self.raw.write(2 * (sector + i as u64), &pair).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::ramdisk::Ramdisk;
    use crate::random::Rng;
    use core::future::Future;

    /// Runs a future that never waits (the ramdisk's do not).
    fn now<F: Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the device waited")
    }

    const KEY: &str = "0x10786d3a9c920d0b3ec80dfaaac557a7";

    fn setup(
        sectors: u64,
        key: &str,
        nonce_len: usize,
    ) -> (&'static Ramdisk, CcmBlock<Ramdisk, Rng>) {
        let raw: &'static Ramdisk = crate::rt::leak(Ramdisk::new(sectors, 512));
        let rng: &'static Rng = crate::rt::leak(Rng::from_seed(&[7u8; 32]));
        let dev = CcmBlock::connect(raw, rng, Some(key), nonce_len).unwrap();
        (raw, dev)
    }

    fn data(seed: u8) -> vec::Vec<u8> {
        (0..512)
            .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn sectors_round_trip_and_the_capacity_is_halved() {
        let (_, dev) = setup(16, KEY, 8);
        assert_eq!(dev.info().size_sectors, 8);
        assert_eq!(dev.info().sector_size, 512);
        let mut all = vec::Vec::new();
        for s in 0..8u8 {
            all.extend(data(s + 1));
        }
        now(dev.write(0, &all)).unwrap();
        let mut back = vec![0u8; all.len()];
        now(dev.read(0, &mut back)).unwrap();
        assert_eq!(back, all);
        let mut one = vec![0u8; 512];
        now(dev.read(5, &mut one)).unwrap();
        assert_eq!(one, data(6));
        assert!(matches!(
            now(dev.read(8, &mut one)),
            Err(BlockError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn the_layout_is_mirage_block_ccms() {
        let (raw, dev) = setup(8, KEY, 8);
        let plain = data(9);
        now(dev.write(2, &plain)).unwrap();
        let image = raw.contents();
        let pair = &image[4 * 512..6 * 512];
        // [ciphertext | 16-byte tag | 8-byte nonce | AAD to the end],
        // decrypted here with the CCM primitive alone.
        let key = parse_key(KEY).unwrap();
        let cipher = Ccm::<Aes128, U16, U8>::new_from_slice(&key).unwrap();
        let mut body = pair[..512].to_vec();
        let tag = Array::try_from(&pair[512..528]).unwrap();
        let nonce = Array::try_from(&pair[528..536]).unwrap();
        cipher
            .decrypt_inout_detached(&nonce, &pair[536..], body.as_mut_slice().into(), &tag)
            .unwrap();
        assert_eq!(body, plain);
        assert_ne!(&pair[..512], &plain[..], "stored encrypted");
    }

    #[test]
    fn every_write_uses_a_fresh_nonce() {
        let (raw, dev) = setup(4, KEY, 8);
        now(dev.write(0, &data(1))).unwrap();
        let first = raw.contents()[..1024].to_vec();
        now(dev.write(0, &data(1))).unwrap();
        let second = raw.contents()[..1024].to_vec();
        assert_ne!(first[528..536], second[528..536]);
        assert_ne!(first[..512], second[..512]);
    }

    #[test]
    fn tampering_or_a_wrong_key_is_a_read_error_never_wrong_data() {
        let (raw, dev) = setup(4, KEY, 8);
        now(dev.write(1, &data(3))).unwrap();
        let image = raw.contents();
        for offset in [0usize, 300, 511, 512, 527, 528, 535, 536, 1023] {
            let mut bad = image.clone();
            bad[1024 + offset] ^= 0x01;
            let raw2: &'static Ramdisk = crate::rt::leak(Ramdisk::from_image(&bad, 512));
            let rng: &'static Rng = crate::rt::leak(Rng::from_seed(&[1u8; 32]));
            let dev2 = CcmBlock::connect(raw2, rng, Some(KEY), 8).unwrap();
            let mut out = vec![0u8; 512];
            assert!(
                now(dev2.read(1, &mut out)).is_err(),
                "byte {offset} altered"
            );
            assert!(
                out.iter().all(|&b| b == 0),
                "no plaintext leaks out on failure"
            );
        }
        let rng: &'static Rng = crate::rt::leak(Rng::from_seed(&[1u8; 32]));
        let other =
            CcmBlock::connect(raw, rng, Some("00112233445566778899aabbccddeeff"), 8).unwrap();
        let mut out = vec![0u8; 512];
        assert!(now(other.read(1, &mut out)).is_err());
        // An untouched, never-written sector does not authenticate either.
        assert!(now(dev.read(3, &mut out)).is_err());
    }

    #[test]
    fn every_key_size_and_nonce_length() {
        for key in [KEY, &"ab".repeat(24), &"cd".repeat(32)] {
            for nonce_len in 7..=13 {
                let (_, dev) = setup(4, key, nonce_len);
                now(dev.write(1, &data(5))).unwrap();
                let mut out = vec![0u8; 512];
                now(dev.read(1, &mut out)).unwrap();
                assert_eq!(out, data(5), "key {} nonce {nonce_len}", key.len());
            }
        }
    }

    #[test]
    fn bad_keys_and_parameters_are_refused() {
        assert!(parse_key("0x1234").is_err());
        assert!(parse_key(&"zz".repeat(16)).is_err());
        assert!(parse_key(&"a".repeat(33)).is_err());
        assert_eq!(parse_key(&"0A".repeat(16)).unwrap(), vec![10u8; 16]);
        let raw: &'static Ramdisk = crate::rt::leak(Ramdisk::new(4, 512));
        let rng: &'static Rng = crate::rt::leak(Rng::from_seed(&[7u8; 32]));
        assert!(CcmBlock::connect(raw, rng, None, 8).is_err());
        assert!(CcmBlock::connect(raw, rng, Some(KEY), 6).is_err());
        assert!(CcmBlock::connect(raw, rng, Some(KEY), 14).is_err());
        let tiny: &'static Ramdisk = crate::rt::leak(Ramdisk::new(4, 32));
        assert!(CcmBlock::connect(tiny, rng, Some(KEY), 8).is_err());
    }
}
