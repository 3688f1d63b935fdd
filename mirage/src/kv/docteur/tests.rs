//! Hand-built images: packs with whole objects and both kinds of deltas,
//! then hostile ones (loops, huge sizes, truncation, flipped bytes).

use alloc::string::ToString;

use super::*;
use crate::block::ramdisk::Ramdisk;

/// Runs a future that never waits (a ramdisk never does).
fn run<F: core::future::Future>(f: F) -> F::Output {
    crate::rt::now_or_never(f).expect("the store waited")
}

/// A pack being built: raw entries, then an image.
#[derive(Default)]
struct PackBuilder {
    body: Vec<u8>,
    /// (id, pack offset, crc)
    entries: Vec<(Id, u64, u32)>,
}

fn entry_header(type_bits: u8, size: u64) -> Vec<u8> {
    let mut out = vec![(type_bits << 4) | (size & 0x0f) as u8];
    let mut rest = size >> 4;
    while rest > 0 {
        *out.last_mut().unwrap() |= 0x80;
        out.push((rest & 0x7f) as u8);
        rest >>= 7;
    }
    out
}

impl PackBuilder {
    fn offset(&self) -> u64 {
        PACK_HEADER + self.body.len() as u64
    }

    /// Adds raw entry bytes for the object `id`; returns its pack offset.
    fn raw(&mut self, id: Id, bytes: &[u8]) -> u64 {
        let at = self.offset();
        self.body.extend_from_slice(bytes);
        self.entries.push((id, at, crc32fast::hash(bytes)));
        at
    }

    fn whole(&mut self, kind: ObjectKind, data: &[u8]) -> (Id, u64) {
        let type_bits = match kind {
            ObjectKind::Commit => 1,
            ObjectKind::Tree => 2,
            ObjectKind::Blob => 3,
            ObjectKind::Tag => 4,
        };
        let mut bytes = entry_header(type_bits, data.len() as u64);
        bytes.extend(miniz_oxide::deflate::compress_to_vec_zlib(data, 6));
        let id = pack::object_id(kind, data);
        (id, self.raw(id, &bytes))
    }

    /// A delta (insert-only) producing `data` from a base at `base_at`
    /// of `base_len` bytes, as an OFS_DELTA.
    fn ofs_delta(&mut self, base_at: u64, base_len: usize, kind: ObjectKind, data: &[u8]) -> u64 {
        let delta = insert_delta(base_len, data);
        let at = self.offset();
        let mut bytes = entry_header(6, delta.len() as u64);
        let mut distance = at - base_at;
        let mut enc = vec![(distance & 0x7f) as u8];
        distance >>= 7;
        while distance > 0 {
            distance -= 1;
            enc.push(0x80 | (distance & 0x7f) as u8);
            distance >>= 7;
        }
        enc.reverse();
        bytes.extend(enc);
        bytes.extend(miniz_oxide::deflate::compress_to_vec_zlib(&delta, 6));
        self.raw(pack::object_id(kind, data), &bytes)
    }

    /// A REF_DELTA against `base`, indexed under `id`.
    fn ref_delta(&mut self, id: Id, base: Id, delta: &[u8]) -> u64 {
        let mut bytes = entry_header(7, delta.len() as u64);
        bytes.extend_from_slice(&base);
        bytes.extend(miniz_oxide::deflate::compress_to_vec_zlib(delta, 6));
        self.raw(id, &bytes)
    }

    /// The image: root id, index offset, pack, index.
    fn image(&self, root: Id) -> Vec<u8> {
        use sha1::{Digest, Sha1};
        let mut pack = b"PACK".to_vec();
        pack.extend_from_slice(&2u32.to_be_bytes());
        pack.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        pack.extend_from_slice(&self.body);
        let pack_sum: [u8; 20] = Sha1::digest(&pack).into();
        pack.extend_from_slice(&pack_sum);
        let mut sorted = self.entries.clone();
        sorted.sort();
        let mut idx = vec![0xff, b't', b'O', b'c', 0, 0, 0, 2];
        for b in 0..256usize {
            let count = sorted
                .iter()
                .filter(|(id, _, _)| usize::from(id[0]) <= b)
                .count();
            idx.extend_from_slice(&(count as u32).to_be_bytes());
        }
        for (id, _, _) in &sorted {
            idx.extend_from_slice(id);
        }
        for (_, _, crc) in &sorted {
            idx.extend_from_slice(&crc.to_be_bytes());
        }
        for (_, at, _) in &sorted {
            idx.extend_from_slice(&(*at as u32).to_be_bytes());
        }
        idx.extend_from_slice(&pack_sum);
        let idx_sum: [u8; 20] = Sha1::digest(&idx).into();
        idx.extend_from_slice(&idx_sum);
        let mut image = root.to_vec();
        let idx_at = (28 + pack.len()).next_multiple_of(512);
        image.extend_from_slice(&(idx_at as u64).to_le_bytes());
        image.extend_from_slice(&pack);
        image.resize(idx_at, 0);
        image.extend_from_slice(&idx);
        image.resize(image.len().next_multiple_of(512), 0);
        image
    }
}

/// A delta that inserts `data` (in pieces of at most 127 bytes).
fn insert_delta(base_len: usize, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for mut v in [base_len as u64, data.len() as u64] {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    for piece in data.chunks(127) {
        out.push(piece.len() as u8);
        out.extend_from_slice(piece);
    }
    out
}

fn tree(entries: &[(&str, &str, Id)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (mode, name, id) in entries {
        out.extend_from_slice(alloc::format!("{mode} {name}\0").as_bytes());
        out.extend_from_slice(id);
    }
    out
}

/// A small repository: `/a` (whole), `/d/b` (an OFS_DELTA on `/a`),
/// `/d/c` (a REF_DELTA on `/a`), and a commit.
fn sample() -> (PackBuilder, Id) {
    let mut p = PackBuilder::default();
    let a = b"the first file, whole".to_vec();
    let (a_id, a_at) = p.whole(ObjectKind::Blob, &a);
    let b = b"the second file, a delta".to_vec();
    p.ofs_delta(a_at, a.len(), ObjectKind::Blob, &b);
    let b_id = pack::object_id(ObjectKind::Blob, &b);
    let c = b"the third, by reference".to_vec();
    let c_id = pack::object_id(ObjectKind::Blob, &c);
    p.ref_delta(c_id, a_id, &insert_delta(a.len(), &c));
    let (d_id, _) = p.whole(
        ObjectKind::Tree,
        &tree(&[("100644", "b", b_id), ("100755", "c", c_id)]),
    );
    let (root_tree, _) = p.whole(
        ObjectKind::Tree,
        &tree(&[("100644", "a", a_id), ("40000", "d", d_id)]),
    );
    let commit = alloc::format!(
        "tree {}\nauthor A <a@b> 86400 +0000\ncommitter A <a@b> 172800 +0000\n\nm\n",
        hex(&root_tree)
    );
    let (commit_id, _) = p.whole(ObjectKind::Commit, commit.as_bytes());
    (p, commit_id)
}

fn open(image: &[u8], mode: Mode, analyze: bool) -> Result<(), KvError> {
    let disk = Ramdisk::from_image(image, 512);
    run(async { Docteur::connect(&disk, mode, analyze).await.map(|_| ()) })
}

#[test]
fn a_hand_built_image_in_both_modes() {
    let (p, root) = sample();
    let disk = Ramdisk::from_image(&p.image(root), 512);
    for mode in [Mode::Fast, Mode::Light] {
        for analyze in [true, false] {
            run(async {
                let kv = Docteur::connect(&disk, mode, analyze).await.unwrap();
                assert_eq!(
                    kv.get(&Key::v("a")).await.unwrap(),
                    b"the first file, whole"
                );
                assert_eq!(
                    kv.get(&Key::v("d/b")).await.unwrap(),
                    b"the second file, a delta"
                );
                assert_eq!(
                    kv.get(&Key::v("d/c")).await.unwrap(),
                    b"the third, by reference"
                );
                assert_eq!(kv.size(&Key::v("d/b")).await, Ok(24));
                assert_eq!(
                    kv.get_partial(&Key::v("d/c"), 4, 5).await.unwrap(),
                    b"third"
                );
                assert_eq!(
                    kv.list(&Key::root()).await.unwrap(),
                    vec![(Key::v("a"), Kind::Value), (Key::v("d"), Kind::Dictionary)]
                );
                assert_eq!(kv.exists(&Key::v("d/x")).await, Ok(None));
                assert_eq!(kv.exists(&Key::v("a/x")).await, Ok(None));
                assert_eq!(
                    kv.get(&Key::v("d")).await,
                    Err(KvError::ValueExpected(Key::v("d")))
                );
                assert_eq!(kv.last_modified(&Key::v("d/b")).await, Ok((2, 0)));
                let b = crate::kv::ro::value_digest(b"the second file, a delta");
                let c = crate::kv::ro::value_digest(b"the third, by reference");
                let d = crate::kv::ro::dictionary_digest([
                    ("b", Kind::Value, b),
                    ("c", Kind::Value, c),
                ]);
                assert_eq!(kv.digest(&Key::v("d")).await.unwrap(), d.to_vec());
                assert_eq!(kv.digest(&Key::v("d/b")).await.unwrap(), b.to_vec());
            });
        }
    }
}

#[test]
fn a_ref_delta_loop_is_an_error() {
    let mut p = PackBuilder::default();
    let looping = [0x42; 20];
    // The object is indexed under `looping` and is a delta against it.
    p.ref_delta(looping, looping, &insert_delta(3, b"x"));
    let (t, _) = p.whole(ObjectKind::Tree, &tree(&[("100644", "f", looping)]));
    let image = p.image(t);
    for mode in [Mode::Fast, Mode::Light] {
        let e = open(&image, mode, true).unwrap_err().to_string();
        assert!(e.contains("loops"), "{e}");
    }
    let disk = Ramdisk::from_image(&image, 512);
    run(async {
        let kv = Docteur::connect(&disk, Mode::Light, false).await.unwrap();
        let e = kv.get(&Key::v("f")).await.unwrap_err().to_string();
        assert!(e.contains("loops"), "{e}");
    });
}

#[test]
fn huge_sizes_are_errors() {
    let mut p = PackBuilder::default();
    let mut raw = entry_header(3, 1 << 40);
    raw.extend(miniz_oxide::deflate::compress_to_vec_zlib(b"tiny", 6));
    let id = [7; 20];
    p.raw(id, &raw);
    // A delta announcing a result bigger than allowed.
    let mut big = insert_delta(4, b"");
    big[1..].fill(0);
    let huge_delta = {
        let mut d = vec![4u8];
        let mut v = MAX_OBJECT + 1;
        while v >= 0x80 {
            d.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        d.push(v as u8);
        d
    };
    let (tiny, _) = p.whole(ObjectKind::Blob, b"four");
    let bomb = [9; 20];
    p.ref_delta(bomb, tiny, &huge_delta);
    let (t, _) = p.whole(
        ObjectKind::Tree,
        &tree(&[("100644", "huge", id), ("100644", "bomb", bomb)]),
    );
    let image = p.image(t);
    let e = open(&image, Mode::Fast, true).unwrap_err().to_string();
    assert!(e.contains("more than"), "{e}");
    let disk = Ramdisk::from_image(&image, 512);
    run(async {
        let kv = Docteur::connect(&disk, Mode::Fast, false).await.unwrap();
        let e = kv.get(&Key::v("huge")).await.unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        let e = kv.get(&Key::v("bomb")).await.unwrap_err().to_string();
        assert!(e.contains("too large"), "{e}");
    });
}

#[test]
fn truncated_and_corrupted_images_are_errors() {
    let (p, root) = sample();
    let image = p.image(root);
    assert!(open(&image, Mode::Fast, true).is_ok());
    for cut in [0, 20, 40, 100, 512, image.len() - 512] {
        let mut short = image[..cut].to_vec();
        short.resize(short.len().next_multiple_of(512).max(512), 0);
        assert!(open(&short, Mode::Fast, true).is_err(), "cut at {cut}");
        assert!(open(&short, Mode::Light, false).is_err(), "cut at {cut}");
    }
    // A flipped bit in the pack: the analysis finds it.
    let mut flipped = image.clone();
    flipped[28 + 12 + 5] ^= 0x10;
    assert!(open(&flipped, Mode::Fast, true).is_err());
    // A flipped bit in the index: its checksum.
    let idx_at = u64::from_le_bytes(image[20..28].try_into().unwrap()) as usize;
    let mut flipped = image.clone();
    flipped[idx_at + 1100] ^= 1;
    let e = open(&flipped, Mode::Light, false).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    // An unknown root.
    let mut other = image.clone();
    other[0] ^= 1;
    assert!(open(&other, Mode::Light, false).is_err());
}

#[test]
fn random_corruption_never_panics() {
    let (p, root) = sample();
    let image = p.image(root);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..400 {
        let mut bad = image.clone();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % bad.len() as u64) as usize;
            bad[at] = (seed >> 32) as u8;
        }
        for (mode, analyze) in [(Mode::Fast, true), (Mode::Light, false)] {
            let disk = Ramdisk::from_image(&bad, 512);
            run(async {
                if let Ok(kv) = Docteur::connect(&disk, mode, analyze).await {
                    for key in ["a", "d/b", "d/c", "d"] {
                        let _ = kv.get(&Key::v(key)).await;
                        let _ = kv.size(&Key::v(key)).await;
                        let _ = kv.digest(&Key::v(key)).await;
                    }
                    let _ = kv.list(&Key::v("d")).await;
                }
            });
        }
    }
}
