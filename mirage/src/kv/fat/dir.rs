//! Directory entries: 8.3 names with their case flags, VFAT long names,
//! attributes, sizes and modification times.

use alloc::string::String;
use alloc::vec::Vec;

use crate::kv::Timestamp;

/// Attribute bits.
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_LONG_NAME: u8 = 0x0F;

/// One file or directory of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The long name if a valid one precedes the entry, else the 8.3 name
    /// with its case flags applied.
    pub name: String,
    /// The 8.3 name as stored (`BASE.EXT`, no case flags applied).
    pub short: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// First cluster (0: none).
    pub cluster: u32,
    /// Size in bytes (files).
    pub size: u32,
    /// Modification date and time, as stored.
    pub date: u16,
    /// See `date`.
    pub time: u16,
}

impl Entry {
    /// Whether `segment` names this entry: exactly its long name, or its
    /// 8.3 name in any (ASCII) case.
    pub fn is_named(&self, segment: &str) -> bool {
        self.name == segment || self.short.eq_ignore_ascii_case(segment)
    }

    /// The modification time.
    pub fn modified(&self) -> Timestamp {
        fat_time(self.date, self.time)
    }
}

/// The long-name entries seen so far, waiting for their short entry.
#[derive(Default)]
struct LongName {
    /// UCS-2 units by sequence number (index 0 is sequence 1).
    parts: Vec<[u16; 13]>,
    /// The next sequence number expected (counting down to 1); 0: none
    /// pending.
    expect: u8,
    checksum: u8,
    /// Whether the accumulation is consistent.
    valid: bool,
}

impl LongName {
    fn reset(&mut self) {
        self.parts.clear();
        self.expect = 0;
        self.valid = false;
    }

    fn push(&mut self, raw: &[u8]) {
        let ord = raw[0];
        let seq = ord & 0x1F;
        let checksum = raw[13];
        let mut units = [0u16; 13];
        let offsets = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (unit, &at) in units.iter_mut().zip(offsets.iter()) {
            *unit = u16::from_le_bytes([raw[at], raw[at + 1]]);
        }
        if ord & 0x40 != 0 {
            self.reset();
            if !(1..=20).contains(&seq) {
                return;
            }
            self.parts.resize(usize::from(seq), [0xFFFF; 13]);
            self.parts[usize::from(seq) - 1] = units;
            self.expect = seq - 1;
            self.checksum = checksum;
            self.valid = true;
        } else if self.valid && seq != 0 && seq == self.expect && checksum == self.checksum {
            self.parts[usize::from(seq) - 1] = units;
            self.expect -= 1;
        } else {
            self.reset();
        }
    }

    /// The long name for the short entry whose raw name is `short`, if
    /// the pending entries are complete, match its checksum and decode.
    fn take(&mut self, short: &[u8]) -> Option<String> {
        let ok = self.valid && self.expect == 0 && self.checksum == checksum(short);
        let units: Vec<u16> = self
            .parts
            .iter()
            .flatten()
            .copied()
            .take_while(|&u| u != 0)
            .collect();
        self.reset();
        if !ok {
            return None;
        }
        let name: String = char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .ok()?;
        usable(&name).then_some(name)
    }
}

/// Whether `name` can be a key segment.
fn usable(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The VFAT checksum of an 11-byte short name.
pub(crate) fn checksum(short: &[u8]) -> u8 {
    short.iter().take(11).fold(0u8, |sum, &b| {
        ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(b)
    })
}

/// Code page 437, bytes 0x80..=0xFF.
const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

fn oem_char(b: u8) -> char {
    if b < 0x80 {
        char::from(b)
    } else {
        CP437_HIGH
            .chars()
            .nth(usize::from(b - 0x80))
            .unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// `c` in lower case, if that is one character.
fn lowercase(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Decodes an 8.3 name part (code page 437), lowercased if `lower`.
fn short_part(bytes: &[u8], lower: bool) -> String {
    let len = bytes.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    bytes[..len]
        .iter()
        .map(|&b| {
            let c = oem_char(b);
            if lower { lowercase(c) } else { c }
        })
        .collect()
}

/// The 8.3 name of `raw` (11 bytes, 0x05 already mapped), with the case
/// flags `nt` applied or not.
fn short_name(raw: &[u8], nt: Option<u8>) -> String {
    let lower_base = nt.is_some_and(|f| f & 0x08 != 0);
    let lower_ext = nt.is_some_and(|f| f & 0x10 != 0);
    let mut name = short_part(&raw[..8], lower_base);
    let ext = short_part(&raw[8..11], lower_ext);
    if !ext.is_empty() {
        name.push('.');
        name.push_str(&ext);
    }
    name
}

/// Parses directory entries from consecutive 32-byte slots.
#[derive(Default)]
pub(crate) struct Parser {
    long: LongName,
    /// Whether the end-of-directory marker was seen.
    pub done: bool,
    /// The entries so far.
    pub entries: Vec<Entry>,
    /// Whether this directory's first-cluster high words count (FAT32).
    pub fat32: bool,
}

impl Parser {
    /// A parser for a directory of a FAT32 volume or not.
    pub fn new(fat32: bool) -> Self {
        Parser {
            fat32,
            ..Parser::default()
        }
    }

    /// Feeds whole 32-byte slots (a trailing partial slot is ignored);
    /// stops at the end-of-directory marker.
    pub fn feed(&mut self, bytes: &[u8]) {
        for raw in bytes.chunks_exact(32) {
            if self.done {
                return;
            }
            self.slot(raw);
        }
    }

    fn slot(&mut self, raw: &[u8]) {
        let attr = raw[11];
        match raw[0] {
            0x00 => {
                self.done = true;
                return;
            }
            0xE5 => {
                self.long.reset();
                return;
            }
            _ => {}
        }
        if attr & 0x3F == ATTR_LONG_NAME {
            self.long.push(raw);
            return;
        }
        let mut short = [0u8; 11];
        short.copy_from_slice(&raw[..11]);
        let long = self.long.take(&short);
        if attr & ATTR_VOLUME_ID != 0 {
            return;
        }
        if short[0] == 0x05 {
            short[0] = 0xE5;
        }
        let stored = short_name(&short, None);
        let name = long.unwrap_or_else(|| short_name(&short, Some(raw[12])));
        if !usable(&name) {
            return;
        }
        let high = if self.fat32 {
            u32::from(u16::from_le_bytes([raw[20], raw[21]])) << 16
        } else {
            0
        };
        let low = u32::from(u16::from_le_bytes([raw[26], raw[27]]));
        self.entries.push(Entry {
            name,
            short: stored,
            is_dir: attr & ATTR_DIRECTORY != 0,
            cluster: high | low,
            size: u32::from_le_bytes([raw[28], raw[29], raw[30], raw[31]]),
            time: u16::from_le_bytes([raw[22], raw[23]]),
            date: u16::from_le_bytes([raw[24], raw[25]]),
        });
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A FAT date and time (local time, taken as UTC) as a [`Timestamp`];
/// out-of-range fields are clamped.
pub(crate) fn fat_time(date: u16, time: u16) -> Timestamp {
    let year = 1980 + i64::from(date >> 9);
    let month = i64::from((date >> 5) & 0x0F).clamp(1, 12);
    let day = i64::from(date & 0x1F).max(1);
    let hours = u64::from(time >> 11).min(23);
    let minutes = u64::from((time >> 5) & 0x3F).min(59);
    let seconds = (u64::from(time & 0x1F) * 2).min(59);
    let days = days_from_civil(year, month, day);
    let ps = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000_000;
    (days, ps)
}
