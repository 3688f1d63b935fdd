//! Fragment reassembly for IPv4 and IPv6, as a state machine without I/O.
//!
//! A datagram is keyed by what identifies it (for IPv4: source,
//! destination, protocol, identification; for IPv6: source, destination,
//! identification) and completes when its fragments cover `0..total`,
//! `total` being known from the last fragment. Bounds (a flood of fragments
//! cannot grow memory): at most `max_datagrams` in progress, at most
//! `max_bytes` buffered in all, datagrams no longer than 65535 bytes, and
//! each is dropped `timeout_ns` after its first fragment. Overlapping
//! fragments whose bytes differ drop the whole datagram (a crafted overlap
//! is an attack, not a retransmission); with [`Config::no_overlaps`] (for
//! IPv6: RFC 8200 section 4.5, RFC 5722) any overlap does, but for an
//! exact duplicate, which is dropped alone.
//!
//! The header of a datagram's first fragment (offset 0) can be kept with
//! it ([`Reassembler::insert_first`]; counted in `max_bytes`), so that a
//! datagram that times out can be reported to its source with the first
//! fragment quoted ([`TimedOut`]: ICMP time exceeded, code 1, RFC 792,
//! RFC 1122 section 3.3.2, RFC 8200 section 4.5).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Limits and the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Bytes buffered across all datagrams.
    pub max_bytes: usize,
    /// Time a datagram may take to complete.
    pub timeout_ns: u64,
    /// Any overlap, even of equal bytes, drops the datagram (an exact
    /// duplicate of a fragment is only ignored): what IPv6 asks.
    pub no_overlaps: bool,
    /// The longest payload a datagram may have (at most [`MAX_DATAGRAM`];
    /// IPv4: 65535 less the header).
    pub max_len: usize,
}

impl Default for Config {
    /// 64 datagrams, 256 KiB, 30 seconds (Linux's ipfrag_time), equal
    /// overlaps allowed (IPv4).
    fn default() -> Self {
        Config {
            max_datagrams: 64,
            max_bytes: 256 * 1024,
            timeout_ns: 30_000_000_000,
            no_overlaps: false,
            max_len: MAX_DATAGRAM,
        }
    }
}

/// The largest datagram payload.
pub const MAX_DATAGRAM: usize = 65535;

#[derive(Debug)]
struct Datagram {
    /// Fragments by offset; never overlapping with different bytes.
    pieces: BTreeMap<usize, Vec<u8>>,
    total: Option<usize>,
    bytes: usize,
    deadline: u64,
    /// The header of the first fragment, as received (empty until it
    /// arrives, or when not kept).
    head: Vec<u8>,
    /// The first fragment's [`First::tag`], once it arrived.
    tag: Option<u8>,
}

impl Datagram {
    fn complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut next = 0;
        for (&offset, data) in &self.pieces {
            if offset > next {
                return false;
            }
            next = next.max(offset + data.len());
        }
        next >= total
    }

    fn assemble(self) -> Vec<u8> {
        let total = self.total.unwrap_or(0);
        let mut out = alloc::vec![0u8; total];
        for (offset, data) in self.pieces {
            let end = (offset + data.len()).min(total);
            if offset < end {
                out[offset..end].copy_from_slice(&data[..end - offset]);
            }
        }
        out
    }
}

/// What is kept of a datagram's first fragment (offset 0): given with
/// every fragment ([`Reassembler::insert_first`]), used only with that one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct First<'a> {
    /// Its headers as received, for [`TimedOut::first`] (empty: none
    /// kept). They count in `max_bytes`.
    pub head: &'a [u8],
    /// A byte handed back with the whole datagram ([`Whole::tag`]); IPv6:
    /// the first fragment's next header, the only one that counts (RFC
    /// 8200 section 4.5).
    pub tag: u8,
}

/// A reassembled datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// Its payload.
    pub data: Vec<u8>,
    /// The [`First::tag`] of its first fragment (`None` only for an empty
    /// datagram whose first fragment carried nothing).
    pub tag: Option<u8>,
}

/// A datagram abandoned on timeout ([`Reassembler::poll`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut<K> {
    /// Its key.
    pub key: K,
    /// The first fragment as received, if it arrived and its header was
    /// kept: the header given to [`Reassembler::insert_first`] followed by
    /// at most `quote_len` bytes of the fragment's data (what an ICMP time
    /// exceeded message quotes); `None` otherwise.
    pub first: Option<Vec<u8>>,
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The datagram would exceed 65535 bytes.
    TooLong,
    /// Its bytes contradict an earlier fragment (the datagram is dropped).
    Overlap,
    /// A second "last" fragment disagrees on the total length.
    Inconsistent,
    /// No room: too many datagrams or bytes in progress.
    NoRoom,
}

/// Reassembles datagrams keyed by `K`.
#[derive(Debug)]
pub struct Reassembler<K: Ord> {
    config: Config,
    datagrams: BTreeMap<K, Datagram>,
    bytes: usize,
    /// Fragments dropped, for statistics.
    pub dropped: u64,
    /// Datagrams abandoned on timeout.
    pub timed_out: u64,
}

impl<K: Ord + Clone> Reassembler<K> {
    /// An empty reassembler.
    pub fn new(config: Config) -> Self {
        Reassembler {
            config,
            datagrams: BTreeMap::new(),
            bytes: 0,
            dropped: 0,
            timed_out: 0,
        }
    }

    /// Datagrams in progress.
    pub fn in_progress(&self) -> usize {
        self.datagrams.len()
    }

    /// Bytes buffered.
    pub fn buffered(&self) -> usize {
        self.bytes
    }

    fn drop_datagram(&mut self, key: &K) {
        if let Some(d) = self.datagrams.remove(key) {
            self.bytes -= d.bytes;
        }
    }

    /// Adds the fragment of `key` holding `data` at byte `offset` (`more`:
    /// not the last fragment). Returns the whole payload once complete.
    pub fn insert(
        &mut self,
        key: K,
        offset: usize,
        more: bool,
        data: &[u8],
        now: u64,
    ) -> Result<Option<Vec<u8>>, Dropped> {
        let whole = self.insert_first(key, offset, more, data, First::default(), now)?;
        Ok(whole.map(|w| w.data))
    }

    /// [`Reassembler::insert`], keeping `first` with the datagram when this
    /// is its first fragment (offset 0) and none came before: its headers
    /// for [`TimedOut::first`], its tag for [`Whole::tag`].
    pub fn insert_first(
        &mut self,
        key: K,
        offset: usize,
        more: bool,
        data: &[u8],
        first: First<'_>,
        now: u64,
    ) -> Result<Option<Whole>, Dropped> {
        let first = (offset == 0).then_some(first);
        let result = self.insert_inner(key, offset, more, data, first, now);
        if result.is_err() {
            self.dropped += 1;
        }
        result
    }

    fn insert_inner(
        &mut self,
        key: K,
        offset: usize,
        more: bool,
        data: &[u8],
        first: Option<First<'_>>,
        now: u64,
    ) -> Result<Option<Whole>, Dropped> {
        let head = first.map_or(&[][..], |f| f.head);
        let end = offset.checked_add(data.len()).ok_or(Dropped::TooLong)?;
        if end > self.config.max_len.min(MAX_DATAGRAM) {
            self.drop_datagram(&key);
            return Err(Dropped::TooLong);
        }
        if self.bytes + data.len() + head.len() > self.config.max_bytes {
            return Err(Dropped::NoRoom);
        }
        if !self.datagrams.contains_key(&key) {
            if self.datagrams.len() >= self.config.max_datagrams {
                return Err(Dropped::NoRoom);
            }
            self.datagrams.insert(
                key.clone(),
                Datagram {
                    pieces: BTreeMap::new(),
                    total: None,
                    bytes: 0,
                    deadline: now.saturating_add(self.config.timeout_ns),
                    head: Vec::new(),
                    tag: None,
                },
            );
        }
        let datagram = self.datagrams.get_mut(&key).ok_or(Dropped::NoRoom)?;
        if !more {
            match datagram.total {
                Some(total) if total != end => {
                    self.drop_datagram(&key);
                    return Err(Dropped::Inconsistent);
                }
                _ => datagram.total = Some(end),
            }
        }
        if let Some(total) = datagram.total
            && end > total
        {
            self.drop_datagram(&key);
            return Err(Dropped::Inconsistent);
        }
        // Overlaps must agree byte for byte with what is there.
        for (&o, piece) in datagram.pieces.range(..end) {
            let p_end = o + piece.len();
            if p_end <= offset {
                continue;
            }
            let from = offset.max(o);
            let to = end.min(p_end);
            let duplicate = o == offset && piece[..] == data[..];
            if (self.config.no_overlaps && !duplicate)
                || piece[from - o..to - o] != data[from - offset..to - offset]
            {
                self.drop_datagram(&key);
                return Err(Dropped::Overlap);
            }
        }
        if !data.is_empty()
            && datagram
                .pieces
                .get(&offset)
                .is_none_or(|p| p.len() < data.len())
        {
            let old = datagram
                .pieces
                .insert(offset, data.to_vec())
                .map_or(0, |p| p.len());
            datagram.bytes = datagram.bytes + data.len() - old;
            self.bytes = self.bytes + data.len() - old;
        }
        if let Some(first) = first
            && datagram.tag.is_none()
        {
            datagram.tag = Some(first.tag);
            if datagram.head.is_empty() && !first.head.is_empty() {
                datagram.head = first.head.to_vec();
                datagram.bytes += first.head.len();
                self.bytes += first.head.len();
            }
        }
        if datagram.complete() {
            let datagram = self.datagrams.remove(&key).ok_or(Dropped::NoRoom)?;
            self.bytes -= datagram.bytes;
            let tag = datagram.tag;
            return Ok(Some(Whole {
                data: datagram.assemble(),
                tag,
            }));
        }
        Ok(None)
    }

    /// Drops datagrams whose time is up; returns them, with their first
    /// fragment when it arrived and its header was kept (for ICMP time
    /// exceeded), quoting at most `quote_len` bytes of its data.
    pub fn poll(&mut self, now: u64, quote_len: usize) -> Vec<TimedOut<K>> {
        let expired: Vec<K> = self
            .datagrams
            .iter()
            .filter(|(_, d)| d.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::with_capacity(expired.len());
        for key in expired {
            let Some(d) = self.datagrams.remove(&key) else {
                continue;
            };
            self.bytes -= d.bytes;
            let first = (!d.head.is_empty()).then(|| {
                let mut quote = d.head;
                if let Some(data) = d.pieces.get(&0) {
                    quote.extend_from_slice(&data[..data.len().min(quote_len)]);
                }
                quote
            });
            out.push(TimedOut { key, first });
        }
        self.timed_out += out.len() as u64;
        out
    }

    /// When `poll` next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.datagrams.values().map(|d| d.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn fragments_in_any_order_reassemble() {
        let data = payload(3000);
        let orders: [&[usize]; 3] = [&[0, 1, 2], &[2, 1, 0], &[1, 2, 0]];
        for order in orders {
            let mut r: Reassembler<u32> = Reassembler::new(Config::default());
            let mut done = None;
            for &i in order {
                let (start, end) = (i * 1200, ((i + 1) * 1200).min(3000));
                let more = end < 3000;
                if let Some(d) = r.insert(7, start, more, &data[start..end], 0).unwrap() {
                    done = Some(d);
                }
            }
            assert_eq!(done.unwrap(), data);
            assert_eq!(r.in_progress(), 0);
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn duplicates_are_harmless_and_conflicting_overlaps_drop_the_datagram() {
        let data = payload(2000);
        let mut r: Reassembler<u32> = Reassembler::new(Config::default());
        assert_eq!(r.insert(1, 0, true, &data[..1000], 0), Ok(None));
        assert_eq!(r.insert(1, 0, true, &data[..1000], 0), Ok(None));
        assert_eq!(r.insert(1, 500, true, &data[500..1500], 0), Ok(None));
        assert_eq!(
            r.insert(1, 1000, false, &data[1000..], 0),
            Ok(Some(data.clone()))
        );
        let mut evil = data[500..1500].to_vec();
        evil[10] ^= 1;
        r.insert(2, 0, true, &data[..1000], 0).unwrap();
        assert_eq!(r.insert(2, 500, true, &evil, 0), Err(Dropped::Overlap));
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn with_no_overlaps_only_exact_duplicates_are_harmless() {
        let data = payload(2000);
        let mut r: Reassembler<u32> = Reassembler::new(Config {
            no_overlaps: true,
            ..Config::default()
        });
        assert_eq!(r.insert(1, 0, true, &data[..1000], 0), Ok(None));
        assert_eq!(r.insert(1, 0, true, &data[..1000], 0), Ok(None));
        assert_eq!(
            r.insert(1, 1000, false, &data[1000..], 0),
            Ok(Some(data.clone()))
        );
        r.insert(2, 0, true, &data[..1000], 0).unwrap();
        assert_eq!(
            r.insert(2, 500, true, &data[500..1500], 0),
            Err(Dropped::Overlap)
        );
        assert_eq!(r.in_progress(), 0);
    }

    #[test]
    fn hostile_lengths_are_refused() {
        let mut r: Reassembler<u32> = Reassembler::new(Config::default());
        assert_eq!(
            r.insert(1, 65000, true, &[0; 1000], 0),
            Err(Dropped::TooLong)
        );
        r.insert(2, 0, false, &[1; 100], 0).unwrap();
        r.insert(3, 100, false, &[1; 100], 0).unwrap();
        assert_eq!(
            r.insert(3, 0, false, &[1; 50], 0),
            Err(Dropped::Inconsistent)
        );
        r.insert(4, 100, false, &[1; 100], 0).unwrap();
        assert_eq!(
            r.insert(4, 150, true, &[1; 100], 0),
            Err(Dropped::Inconsistent)
        );
        assert_eq!(r.dropped, 3);
    }

    #[test]
    fn a_timed_out_datagram_quotes_its_first_fragment_if_it_arrived() {
        let data = payload(64);
        let mut r: Reassembler<u32> = Reassembler::new(Config {
            timeout_ns: 10,
            ..Config::default()
        });
        // Datagram 1: the first fragment arrived; 2: only a later one; 3:
        // the first, without a header kept.
        let first = |head: &'static [u8]| First { head, tag: 0 };
        r.insert_first(1, 0, true, &data[..32], first(b"HEAD"), 0)
            .unwrap();
        r.insert_first(2, 32, true, &data[32..], first(b"HEAD"), 0)
            .unwrap();
        r.insert(3, 0, true, &data[..32], 0).unwrap();
        // The header is kept once, and counts.
        r.insert_first(1, 0, true, &data[..32], first(b"OTHER"), 0)
            .unwrap();
        assert_eq!(r.buffered(), 32 + 4 + 32 + 32);
        let out = r.poll(10, 8);
        let mut quote = b"HEAD".to_vec();
        quote.extend_from_slice(&data[..8]);
        assert_eq!(
            out,
            [
                TimedOut {
                    key: 1,
                    first: Some(quote)
                },
                TimedOut {
                    key: 2,
                    first: None
                },
                TimedOut {
                    key: 3,
                    first: None
                },
            ]
        );
        assert_eq!((r.in_progress(), r.buffered()), (0, 0));
    }

    #[test]
    fn the_tag_of_the_first_fragment_comes_back_with_the_datagram() {
        let data = payload(32);
        let mut r: Reassembler<u32> = Reassembler::new(Config::default());
        let tag = |tag| First { head: &[], tag };
        r.insert_first(1, 16, false, &data[16..], tag(9), 0)
            .unwrap();
        r.insert_first(1, 0, true, &data[..8], tag(17), 0).unwrap();
        let whole = r.insert_first(1, 8, true, &data[8..16], tag(6), 0);
        assert_eq!(
            whole,
            Ok(Some(Whole {
                data,
                tag: Some(17)
            }))
        );
    }

    #[test]
    fn a_flood_of_fragments_is_bounded_and_times_out() {
        let config = Config {
            max_datagrams: 8,
            max_bytes: 16 * 1024,
            timeout_ns: 1000,
            no_overlaps: false,
            max_len: MAX_DATAGRAM,
        };
        let mut r: Reassembler<u32> = Reassembler::new(config);
        for key in 0..10_000u32 {
            let _ = r.insert(key, 8, true, &[0; 1024], u64::from(key % 10));
            assert!(r.in_progress() <= 8 && r.buffered() <= 16 * 1024);
        }
        assert!(r.dropped >= 10_000 - 8);
        // The first eight (created at times 0..8) time out 1000 later.
        assert_eq!(r.next_deadline(), Some(1000));
        let keys = |v: Vec<TimedOut<u32>>| v.into_iter().map(|t| t.key).collect::<Vec<_>>();
        assert_eq!(keys(r.poll(1000, 8)), [0]);
        assert_eq!(r.poll(1007, 8).len(), 7);
        assert_eq!((r.in_progress(), r.buffered(), r.timed_out), (0, 0, 8));
        assert_eq!(r.insert(1, 0, false, &[5; 10], 2000), Ok(Some(vec![5; 10])));
    }
}
