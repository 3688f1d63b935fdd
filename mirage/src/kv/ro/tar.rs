//! [`TarKv`]: a read-only store over a tar archive on a block device (the
//! seed's `tar_kv_ro`).
//!
//! [`TarKv::connect`] reads every header once and keeps an index of the
//! archive's files and directories; values are read from the device when
//! asked for. Formats: v7, POSIX ustar (with the `prefix` field), GNU (long
//! names and links, `././@LongLink` entries of type `L`/`K`; sizes in
//! base-256; old sparse headers skipped) and pax (per-file `x` headers
//! overriding `path`, `size` and `mtime`; global `g` headers are checked and
//! otherwise ignored). Regular files (`0`, `\0`, `7`) become values,
//! directories (`5`, or a v7 file whose name ends with `/`) dictionaries;
//! links, devices and the rest are skipped. A later file replaces an earlier
//! one of the same name, as when tar extracts.
//!
//! The archive ends at two zero blocks or at the end of the device. Anything
//! inconsistent (a bad header checksum, a malformed number, a size reaching
//! past the device, an extended header with nothing after it or with a bad
//! record, a name with a `..` segment, a file where a directory is) is an
//! error naming the offset of the header concerned. Each header moves the
//! offset forward by at least one block, so reading always ends.

use alloc::string::String;
use alloc::vec::Vec;

use super::index::Index;
use crate::block::{Block, BlockInfo};
use crate::kv::{Key, Kind, KvError, KvRo, Timestamp};

/// The size of a tar block (headers and the unit of data padding).
const BLOCK: u64 = 512;
/// The largest GNU long name or link accepted.
const MAX_LONG_NAME: u64 = 64 * 1024;
/// The largest pax extended header accepted.
const MAX_PAX: u64 = 1024 * 1024;
/// How much is read from the device at once while scanning headers.
const SCAN_CHUNK: u64 = 64 * 1024;

/// Where a value lies on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Its first byte.
    pub(crate) offset: u64,
    /// Its size.
    pub(crate) size: u64,
}

/// A read-only store over the tar archive on the block device `B`.
pub struct TarKv<'a, B: Block> {
    block: &'a B,
    info: BlockInfo,
    index: Index<Extent>,
}

impl<B: Block> core::fmt::Debug for TarKv<'_, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TarKv")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// An error at the header at `offset`.
fn bad(offset: u64, what: impl core::fmt::Display) -> KvError {
    KvError::Store(alloc::format!("tar: header at offset {offset}: {what}"))
}

/// Reads `len` bytes at byte `offset` of the device.
pub(crate) async fn read_bytes<B: Block>(
    block: &B,
    info: &BlockInfo,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, KvError> {
    crate::block::read_bytes(block, info, offset, len)
        .await
        .map_err(|e| KvError::Store(alloc::format!("tar: reading {len} bytes at {offset}: {e}")))
}

/// A sequential reader of the archive while it is scanned, reading the
/// device in chunks.
struct Scanner<'b, B: Block> {
    block: &'b B,
    info: BlockInfo,
    device_size: u64,
    chunk_start: u64,
    chunk: Vec<u8>,
}

impl<B: Block> Scanner<'_, B> {
    /// `len` bytes at `offset`, which the caller checked are on the device.
    async fn read(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, KvError> {
        let chunk_end = self.chunk_start + self.chunk.len() as u64;
        if offset >= self.chunk_start && offset + len <= chunk_end {
            let from = (offset - self.chunk_start) as usize;
            return Ok(self.chunk[from..from + len as usize].to_vec());
        }
        if len > SCAN_CHUNK {
            return read_bytes(self.block, &self.info, offset, len).await;
        }
        let sector_size = u64::from(self.info.sector_size);
        let start = offset - offset % sector_size;
        let end = start
            .saturating_add(SCAN_CHUNK)
            .max(offset + len)
            .min(self.device_size);
        self.chunk = read_bytes(self.block, &self.info, start, end - start).await?;
        self.chunk_start = start;
        let from = (offset - start) as usize;
        Ok(self.chunk[from..from + len as usize].to_vec())
    }
}

/// The text of a NUL-terminated (or full) header field.
fn field(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(n) => &bytes[..n],
        None => bytes,
    }
}

/// A numeric header field: octal digits between optional leading spaces
/// and a NUL or space terminator, or GNU base-256 (high bit of the first
/// byte set; negative only if `signed`).
fn number(bytes: &[u8], what: &str, offset: u64) -> Result<i128, KvError> {
    if let Some(&first) = bytes.first()
        && first & 0x80 != 0
    {
        // Big-endian two's complement; bit 7 of the first byte marks the
        // form and bit 6 is the sign.
        let negative = first & 0x40 != 0;
        let mut value: i128 = if negative { -1 } else { 0 };
        let head = if negative { first } else { first & 0x7f };
        for b in core::iter::once(head).chain(bytes[1..].iter().copied()) {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(i128::from(b)))
                .ok_or_else(|| bad(offset, alloc::format!("{what}: base-256 number overflows")))?;
        }
        return Ok(value);
    }
    let text = bytes;
    let mut i = 0;
    while i < text.len() && text[i] == b' ' {
        i += 1;
    }
    let mut value: i128 = 0;
    let mut digits = 0;
    while i < text.len() && (b'0'..=b'7').contains(&text[i]) {
        value = value * 8 + i128::from(text[i] - b'0');
        digits += 1;
        i += 1;
    }
    // The rest: terminators only.
    if text[i..].iter().any(|&b| b != 0 && b != b' ') {
        return Err(bad(
            offset,
            alloc::format!(
                "{what}: {:?} is not an octal number",
                String::from_utf8_lossy(text)
            ),
        ));
    }
    if digits == 0 && text.iter().any(|&b| b != 0 && b != b' ') {
        return Err(bad(offset, alloc::format!("{what}: no digits")));
    }
    Ok(value)
}

/// Seconds since the epoch (and a fraction in picoseconds) as a timestamp.
pub(crate) fn timestamp(seconds: i128, frac_ps: u64) -> Timestamp {
    let seconds = seconds.clamp(i128::from(i64::MIN) * 2, i128::from(i64::MAX));
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400) as u64;
    (
        days.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        rest * 1_000_000_000_000 + frac_ps.min(999_999_999_999),
    )
}

/// A pax time: decimal seconds, optionally negative, with an optional
/// fraction.
fn pax_time(text: &str) -> Option<Timestamp> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: i128 = int.parse().ok()?;
    let mut ps: u64 = 0;
    for (i, d) in frac.bytes().take(12).enumerate() {
        ps += u64::from(d - b'0') * 10u64.pow(11 - i as u32);
    }
    if negative {
        // -1.25 is 1.25 s before the epoch: -2 s + 0.75 s.
        if ps == 0 {
            Some(timestamp(-seconds, 0))
        } else {
            Some(timestamp(-seconds - 1, 1_000_000_000_000 - ps))
        }
    } else {
        Some(timestamp(seconds, ps))
    }
}

/// What a pax extended header sets for the next file.
#[derive(Debug, Default, Clone)]
struct Pax {
    path: Option<String>,
    size: Option<u64>,
    mtime: Option<Timestamp>,
}

/// Parses pax records (`LEN KEY=VALUE\n`, `LEN` counting the whole
/// record), checking each.
fn parse_pax(data: &[u8], offset: u64) -> Result<Pax, KvError> {
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        // GNU tar pads the last block with NULs only after the records.
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .take(20)
            .position(|&b| b == b' ')
            .ok_or_else(|| bad(offset, "pax record without a length"))?;
        let len: usize = core::str::from_utf8(&rest[..space])
            .ok()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad(offset, "pax record with a bad length"))?;
        if len <= space + 1 || len > rest.len() {
            return Err(bad(
                offset,
                alloc::format!("pax record length {len} is out of range"),
            ));
        }
        let record = &rest[space + 1..len];
        rest = &rest[len..];
        let Some(record) = record.strip_suffix(b"\n") else {
            return Err(bad(offset, "pax record not ended by a newline"));
        };
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad(offset, "pax record without `=`"))?;
        let (name, value) = (&record[..eq], &record[eq + 1..]);
        let text = || {
            core::str::from_utf8(value)
                .map(String::from)
                .map_err(|_| bad(offset, "pax value is not UTF-8"))
        };
        match name {
            b"path" => {
                pax.path = if value.is_empty() {
                    None
                } else {
                    Some(text()?)
                }
            }
            b"size" => {
                pax.size = if value.is_empty() {
                    None
                } else {
                    Some(
                        text()?
                            .parse()
                            .map_err(|_| bad(offset, "pax size is not a number"))?,
                    )
                }
            }
            b"mtime" => {
                pax.mtime = if value.is_empty() {
                    None
                } else {
                    Some(pax_time(&text()?).ok_or_else(|| bad(offset, "pax mtime is not a time"))?)
                }
            }
            _ => {}
        }
    }
    Ok(pax)
}

/// The key a tar name stands for: `.` segments dropped, `..` refused.
fn key_of(name: &str, offset: u64) -> Result<Key, KvError> {
    let key = Key::v(name);
    if key.segments().iter().any(|s| s == "..") {
        return Err(bad(
            offset,
            alloc::format!("name {name:?} has a `..` segment"),
        ));
    }
    let kept: Vec<&str> = key
        .segments()
        .iter()
        .map(String::as_str)
        .filter(|s| *s != ".")
        .collect();
    Ok(Key::v(&kept.join("/")))
}

/// The name bytes as text (invalid UTF-8 replaced, with a warning).
fn text_of(bytes: &[u8], offset: u64) -> String {
    match core::str::from_utf8(bytes) {
        Ok(t) => String::from(t),
        Err(_) => {
            log::warn!("tar: header at offset {offset}: name is not UTF-8");
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Verifies the header checksum: the sum of the header's bytes with the
/// checksum field counted as spaces, unsigned (or signed, as some old tars
/// wrote it).
fn check_checksum(header: &[u8], offset: u64) -> Result<(), KvError> {
    let stored = number(&header[148..156], "checksum", offset)?;
    let mut unsigned: i128 = 0;
    let mut signed: i128 = 0;
    for (i, &b) in header.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i128::from(b);
        signed += i128::from(b as i8);
    }
    if stored == unsigned || stored == signed {
        Ok(())
    } else {
        Err(bad(
            offset,
            alloc::format!("checksum {stored:o} does not match the header's {unsigned:o}"),
        ))
    }
}

/// What an entry of the archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A regular file: a value.
    Value(Key),
    /// A directory: a dictionary.
    Dictionary(Key),
    /// Anything else (links, devices...): skipped.
    Other,
}

/// One entry of the archive, as [`scan`] finds it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Offset of its first header block (its extended headers included).
    pub(crate) start: u64,
    /// Offset of its own (last) header block.
    pub(crate) header: u64,
    /// Offset of its data, and their size.
    pub(crate) extent: Extent,
    /// Its modification time.
    pub(crate) mtime: Timestamp,
    /// What it is.
    pub(crate) kind: EntryKind,
}

/// How [`scan`] treats a zero block followed by anything but a second one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoneZero {
    /// An error (a corrupt archive).
    Error,
    /// The end of the archive: what follows is an append that was
    /// interrupted before its first block was written (how `tar_kv_rw`
    /// appends), ignored as GNU tar ignores it.
    End,
}

/// Adds `entry` to `index`, as extracting it would.
pub(crate) fn index_entry(index: &mut Index<Extent>, entry: &Entry) -> Result<(), KvError> {
    let conflict = |c: super::index::Conflict| bad(entry.header, c);
    match &entry.kind {
        EntryKind::Dictionary(key) => index.insert_dictionary(key, entry.mtime).map_err(conflict),
        EntryKind::Value(key) => index
            .insert_value(key, entry.extent, entry.mtime)
            .map_err(conflict),
        EntryKind::Other => Ok(()),
    }
}

/// Reads every header of the archive on `block` in order, giving each
/// entry to `found`, and returns the offset where the archive ends (its
/// first zero block, or the device's end).
pub(crate) async fn scan<B: Block>(
    block: &B,
    lone_zero: LoneZero,
    mut found: impl FnMut(Entry) -> Result<(), KvError>,
) -> Result<u64, KvError> {
    let info = block.info();
    let device_size = u64::from(info.sector_size)
        .checked_mul(info.size_sectors)
        .ok_or_else(|| KvError::Store("tar: the device's size overflows".into()))?;
    if info.sector_size == 0 {
        return Err(KvError::Store("tar: the device's sector size is 0".into()));
    }
    let mut scan = Scanner {
        block,
        info,
        device_size,
        chunk_start: 0,
        chunk: Vec::new(),
    };
    let mut offset: u64 = 0;
    // Pending extended headers for the next entry, with their offset.
    let mut long_name: Option<(Vec<u8>, u64)> = None;
    let mut long_link: Option<u64> = None;
    let mut pax: Option<(Pax, u64)> = None;
    loop {
        // The first of the pending extended headers.
        let pending = [
            long_name.as_ref().map(|(_, o)| *o),
            long_link,
            pax.as_ref().map(|(_, o)| *o),
        ]
        .into_iter()
        .flatten()
        .min();
        if offset
            .checked_add(BLOCK)
            .is_none_or(|end| end > device_size)
        {
            if let Some(at) = pending {
                return Err(bad(at, "extended header followed by the device's end"));
            }
            return Ok(offset.min(device_size));
        }
        let header = scan.read(offset, BLOCK).await?;
        if header.iter().all(|&b| b == 0) {
            let next = offset + BLOCK;
            if next.checked_add(BLOCK).is_some_and(|e| e <= device_size) {
                let second = scan.read(next, BLOCK).await?;
                if second.iter().any(|&b| b != 0) {
                    if lone_zero == LoneZero::Error {
                        return Err(bad(
                            offset,
                            "a single zero block in the middle of the archive",
                        ));
                    }
                    log::warn!(
                        "tar: the archive ends at the zero block at offset {offset}: what follows is an interrupted append"
                    );
                    if let Some(at) = pending {
                        log::warn!("tar: the extended header at offset {at} is ignored");
                    }
                    return Ok(offset);
                }
            }
            if let Some(at) = pending {
                return Err(bad(at, "extended header followed by the archive's end"));
            }
            return Ok(offset);
        }
        check_checksum(&header, offset)?;
        let typeflag = header[156];
        let ustar = &header[257..263] == b"ustar\0";
        let header_size = number(&header[124..136], "size", offset)?;
        let header_size = u64::try_from(header_size)
            .map_err(|_| bad(offset, alloc::format!("negative size {header_size}")))?;
        let size = match (&pax, typeflag) {
            (_, b'L' | b'K' | b'x' | b'g') | (None, _) => header_size,
            (Some((p, _)), _) => p.size.unwrap_or(header_size),
        };
        let mut data = offset + BLOCK;
        // Old GNU sparse files: extension headers before the data.
        if typeflag == b'S' && header[482] != 0 {
            loop {
                if data.checked_add(BLOCK).is_none_or(|e| e > device_size) {
                    return Err(bad(offset, "sparse headers run past the device's end"));
                }
                let ext = scan.read(data, BLOCK).await?;
                data += BLOCK;
                if ext[504] == 0 {
                    break;
                }
            }
        }
        let end = data
            .checked_add(size)
            .filter(|&end| end <= device_size)
            .ok_or_else(|| {
                bad(
                    offset,
                    alloc::format!("size {size} reaches past the device's {device_size} bytes"),
                )
            })?;
        // Past the addressable range: the loop ends at its next check.
        let next = end.checked_next_multiple_of(BLOCK).unwrap_or(u64::MAX);
        match typeflag {
            b'L' | b'K' => {
                if size > MAX_LONG_NAME {
                    return Err(bad(offset, alloc::format!("long name of {size} bytes")));
                }
                let bytes = scan.read(data, size).await?;
                let Some(end) = bytes.iter().position(|&b| b == 0) else {
                    return Err(bad(offset, "long name not NUL-terminated"));
                };
                if typeflag == b'L' {
                    long_name = Some((bytes[..end].to_vec(), offset));
                } else {
                    long_link = Some(offset);
                }
            }
            b'x' | b'g' => {
                if size > MAX_PAX {
                    return Err(bad(offset, alloc::format!("pax header of {size} bytes")));
                }
                let bytes = scan.read(data, size).await?;
                let parsed = parse_pax(&bytes, offset)?;
                if typeflag == b'x' {
                    pax = Some((parsed, offset));
                }
            }
            _ => {
                let name = if let Some((p, _)) = pax.as_ref().filter(|(p, _)| p.path.is_some()) {
                    p.path.clone().unwrap_or_default()
                } else if let Some((bytes, _)) = &long_name {
                    text_of(bytes, offset)
                } else {
                    let name = field(&header[0..100]);
                    let prefix = field(&header[345..500]);
                    if ustar && !prefix.is_empty() {
                        let mut full = prefix.to_vec();
                        full.push(b'/');
                        full.extend_from_slice(name);
                        text_of(&full, offset)
                    } else {
                        text_of(name, offset)
                    }
                };
                let mtime = match pax.as_ref().and_then(|(p, _)| p.mtime) {
                    Some(t) => t,
                    None => timestamp(number(&header[136..148], "mtime", offset)?, 0),
                };
                let regular = matches!(typeflag, b'0' | b'\0' | b'7');
                let directory = typeflag == b'5' || (regular && name.ends_with('/'));
                let kind = if directory {
                    EntryKind::Dictionary(key_of(&name, offset)?)
                } else if regular {
                    let key = key_of(&name, offset)?;
                    if key.is_root() {
                        return Err(bad(
                            offset,
                            alloc::format!("file with the empty name {name:?}"),
                        ));
                    }
                    EntryKind::Value(key)
                } else {
                    EntryKind::Other
                };
                found(Entry {
                    start: pending.unwrap_or(offset),
                    header: offset,
                    extent: Extent { offset: data, size },
                    mtime,
                    kind,
                })?;
                long_name = None;
                long_link = None;
                pax = None;
            }
        }
        offset = next;
    }
}

impl<'a, B: Block> TarKv<'a, B> {
    /// Reads the archive's headers on `block` and indexes its files and
    /// directories.
    pub async fn connect(block: &'a B) -> Result<Self, KvError> {
        let mut index = Index::new((0, 0));
        scan(block, LoneZero::Error, |entry| {
            index_entry(&mut index, &entry)
        })
        .await?;
        Ok(TarKv {
            block,
            info: block.info(),
            index,
        })
    }

    async fn read(&self, extent: &Extent, from: u64, len: u64) -> Result<Vec<u8>, KvError> {
        read_bytes(self.block, &self.info, extent.offset + from, len).await
    }
}

impl<B: Block> KvRo for TarKv<'_, B> {
    async fn exists(&self, key: &Key) -> Result<Option<Kind>, KvError> {
        Ok(self.index.exists(key))
    }

    async fn get(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let extent = *self.index.value(key)?;
        self.read(&extent, 0, extent.size).await
    }

    async fn get_partial(&self, key: &Key, offset: u64, length: usize) -> Result<Vec<u8>, KvError> {
        let extent = *self.index.value(key)?;
        let range = super::partial_range(extent.size, offset, length);
        self.read(&extent, range.start, range.end - range.start)
            .await
    }

    async fn list(&self, key: &Key) -> Result<Vec<(Key, Kind)>, KvError> {
        self.index.list(key)
    }

    async fn last_modified(&self, key: &Key) -> Result<Timestamp, KvError> {
        self.index.mtime(key)
    }

    async fn digest(&self, key: &Key) -> Result<Vec<u8>, KvError> {
        let digest = self
            .index
            .digest(key, async |extent: &Extent| {
                use sha2::{Digest, Sha256};
                // In pieces, so a large value is not read at once.
                let mut h = Sha256::new();
                let mut done = 0;
                while done < extent.size {
                    let n = (extent.size - done).min(SCAN_CHUNK * 16);
                    h.update(self.read(extent, done, n).await?);
                    done += n;
                }
                Ok(h.finalize().into())
            })
            .await?;
        Ok(digest.to_vec())
    }

    async fn size(&self, key: &Key) -> Result<u64, KvError> {
        Ok(self.index.value(key)?.size)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;
    use crate::block::ramdisk::Ramdisk;
    use crate::kv::ro::value_digest;

    fn run<F: core::future::Future>(f: F) -> F::Output {
        crate::rt::now_or_never(f).expect("the device waited")
    }

    fn octal(field: &mut [u8], value: u64) {
        let text = alloc::format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    }

    fn seal(h: &mut [u8; 512]) {
        h[148..156].fill(b' ');
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        let text = alloc::format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(text.as_bytes());
    }

    /// A ustar header.
    fn header(name: &str, typeflag: u8, size: u64, mtime: u64) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], 0o644);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], mtime);
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        seal(&mut h);
        h
    }

    fn push(archive: &mut Vec<u8>, header: [u8; 512], data: &[u8]) {
        archive.extend_from_slice(&header);
        archive.extend_from_slice(data);
        archive.resize(archive.len().next_multiple_of(512), 0);
    }

    fn file(archive: &mut Vec<u8>, name: &str, data: &[u8]) {
        push(
            archive,
            header(name, b'0', data.len() as u64, 1_700_000_000),
            data,
        );
    }

    fn end(mut archive: Vec<u8>) -> Vec<u8> {
        archive.extend_from_slice(&[0; 1024]);
        archive
    }

    fn pax_record(key: &str, value: &str) -> String {
        let body = alloc::format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while body.len() + len.to_string().len() != len {
            len += 1;
        }
        alloc::format!("{len}{body}")
    }

    fn open(data: Vec<u8>, sector_size: u32) -> Result<Vec<(String, Vec<u8>)>, KvError> {
        let block = Ramdisk::read_only(&data, sector_size);
        run(async {
            let kv = TarKv::connect(&block).await?;
            let mut out = Vec::new();
            let mut todo = vec![Key::root()];
            while let Some(k) = todo.pop() {
                for (child, kind) in kv.list(&k).await? {
                    match kind {
                        Kind::Dictionary => {
                            out.push((alloc::format!("{child}/"), Vec::new()));
                            todo.push(child);
                        }
                        Kind::Value => out.push((child.to_string(), kv.get(&child).await?)),
                    }
                }
            }
            out.sort();
            Ok(out)
        })
    }

    fn entry(name: &str, data: &[u8]) -> (String, Vec<u8>) {
        (name.to_string(), data.to_vec())
    }

    #[test]
    fn ustar_files_and_directories() {
        let mut a = Vec::new();
        push(&mut a, header("./", b'5', 0, 5), b"");
        push(&mut a, header("./dir/", b'5', 0, 86_400 * 3 + 7), b"");
        file(&mut a, "./dir/one", b"1");
        let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        file(&mut a, "dir/big", &big);
        file(&mut a, "empty", b"");
        push(&mut a, header("old-dir/", b'\0', 0, 0), b"");
        push(&mut a, header("link", b'2', 0, 0), b"");
        // The prefix field.
        let mut h = header("tail", b'0', 3, 0);
        h[345..351].copy_from_slice(b"pre/fx");
        seal(&mut h);
        push(&mut a, h, b"abc");
        let a = end(a);
        for sector_size in [512, 4096] {
            assert_eq!(
                open(a.clone(), sector_size).unwrap(),
                vec![
                    entry("/dir/", b""),
                    entry("/dir/big", &big),
                    entry("/dir/one", b"1"),
                    entry("/empty", b""),
                    entry("/old-dir/", b""),
                    entry("/pre/", b""),
                    entry("/pre/fx/", b""),
                    entry("/pre/fx/tail", b"abc"),
                ]
            );
        }
        let block = Ramdisk::read_only(&a, 4096);
        run(async {
            let kv = TarKv::connect(&block).await.unwrap();
            let k = Key::v("dir/big");
            assert_eq!(kv.size(&k).await, Ok(5000));
            assert_eq!(kv.get_partial(&k, 4095, 3).await.unwrap(), &big[4095..4098]);
            assert_eq!(kv.get_partial(&k, 4999, 3).await.unwrap(), &big[4999..]);
            assert_eq!(kv.get_partial(&k, 5000, 3).await.unwrap(), b"");
            assert_eq!(kv.get_partial(&k, u64::MAX, usize::MAX).await.unwrap(), b"");
            assert_eq!(kv.digest(&k).await.unwrap(), value_digest(&big).to_vec());
            assert_eq!(
                kv.last_modified(&Key::v("dir")).await,
                Ok((3, 7 * 1_000_000_000_000))
            );
            assert_eq!(
                kv.last_modified(&Key::root()).await,
                Ok((0, 5 * 1_000_000_000_000))
            );
            assert_eq!(kv.exists(&Key::v("link")).await, Ok(None));
            assert_eq!(
                kv.get(&Key::v("dir")).await,
                Err(KvError::ValueExpected(Key::v("dir")))
            );
            assert!(kv.digest(&Key::root()).await.is_ok());
        });
    }

    #[test]
    fn gnu_long_names_and_base256() {
        let long = "d/".repeat(80) + "file-with-a-long-name";
        let mut a = Vec::new();
        let mut name = long.clone().into_bytes();
        name.push(0);
        let mut h = header("././@LongLink", b'L', name.len() as u64, 0);
        h[257..265].copy_from_slice(b"ustar  \0");
        seal(&mut h);
        push(&mut a, h, &name);
        let mut h = header(&long[..100], b'0', 0, 0);
        h[257..265].copy_from_slice(b"ustar  \0");
        // A base-256 size of 600.
        h[124..136].fill(0);
        h[124] = 0x80;
        h[134] = 2;
        h[135] = 88;
        seal(&mut h);
        push(&mut a, h, &[b'x'; 600]);
        // A long link, then the link itself (skipped).
        push(&mut a, header("././@LongLink", b'K', 4, 0), b"abc\0");
        push(&mut a, header("sym", b'2', 0, 0), b"");
        let files = open(end(a), 512).unwrap();
        let last = files.last().unwrap();
        assert_eq!(last.0, alloc::format!("/{long}"));
        assert_eq!(last.1, [b'x'; 600]);
        assert_eq!(files.iter().filter(|(_, d)| !d.is_empty()).count(), 1);
    }

    #[test]
    fn pax_overrides() {
        let mut a = Vec::new();
        let global = pax_record("path", "ignored");
        push(
            &mut a,
            header("pax_global_header", b'g', global.len() as u64, 0),
            global.as_bytes(),
        );
        let records = pax_record("path", "héllo/wörld")
            + &pax_record("mtime", "86401.5")
            + &pax_record("size", "4")
            + &pax_record("comment", "x=y");
        push(
            &mut a,
            header("PaxHeaders/x", b'x', records.len() as u64, 0),
            records.as_bytes(),
        );
        // The header's own size is wrong on purpose: the pax one wins.
        push(&mut a, header("short", b'0', 0, 0), b"data");
        file(&mut a, "after", b"!");
        let block = Ramdisk::read_only(&end(a), 512);
        run(async {
            let kv = TarKv::connect(&block).await.unwrap();
            let k = Key::v("héllo/wörld");
            assert_eq!(kv.get(&k).await.unwrap(), b"data");
            assert_eq!(kv.last_modified(&k).await, Ok((1, 1_500_000_000_000)));
            assert_eq!(kv.get(&Key::v("after")).await.unwrap(), b"!");
            assert_eq!(kv.exists(&Key::v("short")).await, Ok(None));
            assert_eq!(kv.exists(&Key::v("ignored")).await, Ok(None));
        });
        assert_eq!(pax_time("-1.25"), Some((-1, 86_398_750_000_000_000)));
        assert_eq!(pax_time("12x"), None);
    }

    fn error_of(data: Vec<u8>) -> String {
        match open(data, 512) {
            Ok(files) => panic!("accepted: {files:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn corrupt_archives_are_errors() {
        let mut good = Vec::new();
        file(&mut good, "a", b"hello");
        file(&mut good, "b", &[7; 700]);
        let good = end(good);
        assert!(open(good.clone(), 512).is_ok());

        let mut bad_sum = good.clone();
        bad_sum[512 + 512 + 150] ^= 1;
        assert!(error_of(bad_sum).contains("offset 1024: checksum"));

        let mut h = header("a", b'0', 5, 0);
        h[124 + 3] = b'9';
        seal(&mut h);
        let mut non_octal = Vec::new();
        push(&mut non_octal, h, b"hello");
        let e = error_of(end(non_octal));
        assert!(e.contains("offset 0") && e.contains("size"), "{e}");

        let truncated = good[..1024 + 512 + 300].to_vec();
        assert!(error_of(truncated).contains("offset 1024: size 700 reaches past"));

        let mut too_big = Vec::new();
        push(&mut too_big, header("a", b'0', 0o77777777777, 0), b"");
        assert!(error_of(end(too_big)).contains("reaches past"));

        for record in [
            "99 path=x\n",
            "5 path=x\n",
            "9 pathx\n\0",
            "x path=y\n",
            "10 path=xy",
        ] {
            let mut a = Vec::new();
            push(
                &mut a,
                header("p", b'x', record.len() as u64, 0),
                record.as_bytes(),
            );
            file(&mut a, "f", b"");
            let e = error_of(end(a));
            assert!(e.contains("offset 0: pax"), "{record:?}: {e}");
        }

        let mut dangling = Vec::new();
        push(&mut dangling, header("././@LongLink", b'L', 4, 0), b"abc\0");
        assert!(error_of(end(dangling)).contains("offset 0: extended header"));

        let mut unterminated = Vec::new();
        push(
            &mut unterminated,
            header("././@LongLink", b'L', 3, 0),
            b"abc",
        );
        file(&mut unterminated, "f", b"");
        assert!(error_of(end(unterminated)).contains("NUL"));

        let mut lone_zero = Vec::new();
        file(&mut lone_zero, "a", b"");
        lone_zero.extend_from_slice(&[0; 512]);
        file(&mut lone_zero, "b", b"");
        assert!(error_of(end(lone_zero)).contains("offset 512: a single zero block"));

        let mut escape = Vec::new();
        file(&mut escape, "a/../../etc/passwd", b"");
        assert!(error_of(end(escape)).contains("`..`"));

        let mut conflict = Vec::new();
        file(&mut conflict, "a", b"");
        file(&mut conflict, "a/b", b"");
        assert!(error_of(end(conflict)).contains("offset 512: /a is a value"));

        let mut huge = header("a", b'0', 0, 0);
        huge[124..136].fill(0xff);
        seal(&mut huge);
        let mut a = Vec::new();
        push(&mut a, huge, b"");
        assert!(error_of(end(a)).contains("negative size"));
    }

    #[test]
    fn archive_ends_at_the_device_end() {
        let mut a = Vec::new();
        file(&mut a, "a", b"x");
        assert_eq!(open(a, 512).unwrap(), vec![entry("/a", b"x")]);
        assert_eq!(open(Vec::new(), 512).unwrap(), vec![]);
        assert_eq!(open(vec![0; 512], 512).unwrap(), vec![]);
        // A later file of the same name replaces the earlier one.
        let mut a = Vec::new();
        file(&mut a, "a", b"old");
        file(&mut a, "a", b"new");
        assert_eq!(open(end(a), 512).unwrap(), vec![entry("/a", b"new")]);
    }
}
