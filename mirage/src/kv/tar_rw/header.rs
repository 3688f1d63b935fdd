//! The headers `tar_kv_rw` writes: a POSIX ustar header per value, preceded
//! by a pax extended header (`x`) when the name or the size does not fit
//! the ustar fields. GNU tar, bsdtar and `mirage::kv::ro::tar` read both.

use alloc::string::String;
use alloc::vec::Vec;

/// The size of a tar block.
pub(crate) const BLOCK: usize = 512;

/// The largest size the 11 octal digits of the ustar size field hold.
const MAX_OCTAL_SIZE: u64 = 0o77_777_777_777;

/// Byte ranges of the ustar header's fields.
mod field {
    use core::ops::Range;
    pub(super) const NAME: Range<usize> = 0..100;
    pub(super) const MODE: Range<usize> = 100..108;
    pub(super) const UID: Range<usize> = 108..116;
    pub(super) const GID: Range<usize> = 116..124;
    pub(super) const SIZE: Range<usize> = 124..136;
    pub(super) const MTIME: Range<usize> = 136..148;
    pub(super) const CHECKSUM: Range<usize> = 148..156;
    pub(super) const TYPEFLAG: usize = 156;
    pub(super) const MAGIC: Range<usize> = 257..263;
    pub(super) const VERSION: Range<usize> = 263..265;
    pub(super) const DEVMAJOR: Range<usize> = 329..337;
    pub(super) const DEVMINOR: Range<usize> = 337..345;
    pub(super) const PREFIX: Range<usize> = 345..500;
}

/// Writes `value` as zero-padded octal digits followed by a NUL, filling
/// `out` (the caller checked it fits).
fn octal(out: &mut [u8], value: u64) {
    let digits = out.len() - 1;
    let text = alloc::format!("{value:0digits$o}");
    out[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    out[digits] = 0;
}

/// Splits `path` into the ustar `prefix` and `name` fields, if it fits:
/// the name takes at most 100 bytes, the prefix at most 155, split at a
/// `/` (which neither keeps).
pub(crate) fn split_ustar(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The latest `/` that leaves the name within 100 bytes.
    path.char_indices()
        .filter(|&(i, c)| c == '/' && i <= 155 && path.len() - i - 1 <= 100 && i + 1 < path.len())
        .map(|(i, _)| (&path[..i], &path[i + 1..]))
        .next()
}

/// Fills the ustar header of a regular file; `prefix`/`name` must fit
/// their fields and `size` its field.
fn ustar(prefix: &str, name: &str, typeflag: u8, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[field::NAME][..name.len()].copy_from_slice(name.as_bytes());
    h[field::PREFIX][..prefix.len()].copy_from_slice(prefix.as_bytes());
    octal(&mut h[field::MODE], 0o644);
    octal(&mut h[field::UID], 0);
    octal(&mut h[field::GID], 0);
    octal(&mut h[field::SIZE], size.min(MAX_OCTAL_SIZE));
    octal(&mut h[field::MTIME], mtime.min(MAX_OCTAL_SIZE));
    h[field::TYPEFLAG] = typeflag;
    h[field::MAGIC].copy_from_slice(b"ustar\0");
    h[field::VERSION].copy_from_slice(b"00");
    octal(&mut h[field::DEVMAJOR], 0);
    octal(&mut h[field::DEVMINOR], 0);
    seal(&mut h);
    h
}

/// Computes and stores the header's checksum (six octal digits, NUL,
/// space, as GNU tar writes it).
fn seal(h: &mut [u8; BLOCK]) {
    h[field::CHECKSUM].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = alloc::format!("{sum:06o}\0 ");
    h[field::CHECKSUM].copy_from_slice(text.as_bytes());
}

/// One pax record, `LEN key=value\n`, whose `LEN` counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = key.len() + value.len() + 3; // space, `=`, newline
    let mut len = body + 1;
    while alloc::format!("{len}").len() + body != len {
        len = alloc::format!("{len}").len() + body;
    }
    alloc::format!("{len} {key}={value}\n")
}

/// The longest prefix of `text` of at most `max` bytes ending on a
/// character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The header blocks of a regular file named `path` (no leading `/`) of
/// `size` bytes modified at `mtime` (seconds since the epoch): one ustar
/// block, after a pax header and its records when the name or size needs
/// one.
pub(crate) fn file_headers(path: &str, size: u64, mtime: u64) -> Vec<u8> {
    let split = split_ustar(path);
    let mut records = String::new();
    if split.is_none() {
        records.push_str(&pax_record("path", path));
    }
    if size > MAX_OCTAL_SIZE {
        records.push_str(&pax_record("size", &alloc::format!("{size}")));
    }
    let mut out = Vec::new();
    let (prefix, name) = match split {
        Some(parts) => parts,
        None => {
            let base = path.rsplit('/').next().unwrap_or(path);
            ("", truncate(base, 100))
        }
    };
    if !records.is_empty() {
        let base = truncate(path.rsplit('/').next().unwrap_or(path), 80);
        let pax_name = alloc::format!("PaxHeaders/{base}");
        out.extend_from_slice(&ustar("", &pax_name, b'x', records.len() as u64, mtime));
        out.extend_from_slice(records.as_bytes());
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }
    out.extend_from_slice(&ustar(prefix, name, b'0', size, mtime));
    out
}

/// The ustar header block at `old`, renamed to `path` in place, if the new
/// name fits the ustar fields (the rest of the header is kept).
pub(crate) fn renamed(old: &[u8], path: &str) -> Option<[u8; BLOCK]> {
    let (prefix, name) = split_ustar(path)?;
    let mut h = [0u8; BLOCK];
    h.copy_from_slice(old.get(..BLOCK)?);
    h[field::NAME].fill(0);
    h[field::PREFIX].fill(0);
    h[field::NAME][..name.len()].copy_from_slice(name.as_bytes());
    h[field::PREFIX][..prefix.len()].copy_from_slice(prefix.as_bytes());
    h[field::MAGIC].copy_from_slice(b"ustar\0");
    h[field::VERSION].copy_from_slice(b"00");
    seal(&mut h);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_a_slash() {
        assert_eq!(split_ustar("a/b"), Some(("", "a/b")));
        let long = alloc::format!("{}/{}", "d".repeat(120), "f".repeat(90));
        assert_eq!(split_ustar(&long), Some((&long[..120], &long[121..])));
        assert_eq!(split_ustar(&"x".repeat(101)), None);
        assert_eq!(split_ustar(&alloc::format!("{}/f", "d".repeat(156))), None);
    }

    #[test]
    fn pax_records_count_themselves() {
        assert_eq!(pax_record("path", "a"), "9 path=a\n");
        let r = pax_record("path", &"x".repeat(95));
        assert_eq!(r.len(), 105);
        assert!(r.starts_with("105 "));
    }

    #[test]
    fn headers_and_checksums() {
        let h = file_headers("dir/file", 5, 86_400);
        assert_eq!(h.len(), BLOCK);
        assert_eq!(&h[..8], b"dir/file");
        assert_eq!(&h[124..136], b"00000000005\0");
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(b)
                }
            })
            .sum();
        assert_eq!(&h[148..156], alloc::format!("{sum:06o}\0 ").as_bytes());
        let long = "n".repeat(300);
        let h = file_headers(&long, 1, 0);
        assert_eq!(h.len(), 3 * BLOCK);
        assert_eq!(h[156], b'x');
        let big = file_headers("big", MAX_OCTAL_SIZE + 1, 0);
        assert_eq!(big.len(), 3 * BLOCK);
        assert!(big[BLOCK..].starts_with(b"19 size=8589934592\n"));
    }
}
