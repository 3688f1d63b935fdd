//! Read-only key-value stores (`kv_ro` devices): [`mem::MemKv`], a table
//! compiled into the unikernel (what `crunch` generates), and
//! [`tar::TarKv`], a tar archive on a block device. On unix,
//! `mirage::platform::DirectKv` reads a host directory.
//!
//! Every store digests values with SHA-256 and dictionaries with
//! [`dictionary_digest`], so equal contents give equal digests whatever the
//! store.

pub(crate) mod index;
pub mod mem;
pub mod tar;

use sha2::{Digest, Sha256};

use crate::kv::Kind;

/// The SHA-256 digest of `data` (the digest of a value).
pub fn value_digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The digest of a dictionary from its entries, given sorted by name: the
/// SHA-256 of, for each entry in order, its name's length (8 bytes, big
/// endian), its name, a kind byte (`v` for a value, `d` for a dictionary)
/// and its own 32-byte digest. Every store of this crate digests its
/// dictionaries so (see [`DictionaryDigest`] to feed entries one by one).
pub fn dictionary_digest<'a>(
    entries: impl IntoIterator<Item = (&'a str, Kind, [u8; 32])>,
) -> [u8; 32] {
    let mut h = DictionaryDigest::new();
    for (name, kind, digest) in entries {
        h.add(name.as_bytes(), kind, &digest);
    }
    h.finish()
}

/// [`dictionary_digest`] computed as the entries come, for stores that
/// walk their directories.
#[derive(Debug, Clone, Default)]
pub struct DictionaryDigest(Sha256);

impl DictionaryDigest {
    /// The digest of an empty dictionary, so far.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry (entries come sorted by name, bytewise).
    pub fn add(&mut self, name: &[u8], kind: Kind, digest: &[u8]) {
        self.0.update((name.len() as u64).to_be_bytes());
        self.0.update(name);
        self.0.update(match kind {
            Kind::Value => b"v",
            Kind::Dictionary => b"d",
        });
        self.0.update(digest);
    }

    /// The dictionary's digest.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// `length` bytes (fewer at the end, none past it) of a value of `size`
/// bytes from `offset` on, as a range of the value.
pub(crate) fn partial_range(size: u64, offset: u64, length: usize) -> core::ops::Range<u64> {
    let start = offset.min(size);
    let end = start.saturating_add(length as u64).min(size);
    start..end
}
