//! Multicast Listener Discovery version 2 (RFC 9777, which obsoletes RFC
//! 3810) and, for its compatibility mode (section 8), version 1 (RFC
//! 2710): the listener's messages, carried in ICMPv6. A query (type 130,
//! either version) and an MLDv1 report (type 131, heard from other
//! listeners) are parsed; an MLDv2 report (type 143) and MLDv1's report and
//! done (type 132) are emitted.
//!
//! A query of 24 bytes is MLDv1's (RFC 2710); an MLDv2 query has at least
//! 28 (section 5.1.10 of RFC 9777: the length tells the versions apart).
//! MLDv2 reports go to `ff02::16`, an MLDv1 report to its group and a done
//! to `ff02::2` ([`V1Message::dst`]); all with a hop limit of 1 behind a
//! hop-by-hop header holding the router alert option
//! ([`ROUTER_ALERT_HBH`]).

use core::net::Ipv6Addr;

use super::{Error, get_ipv6, get_u16, icmpv6};

/// ICMPv6 type of a multicast listener query.
pub const TYPE_QUERY: u8 = 130;
/// ICMPv6 type of an MLDv2 listener report.
pub const TYPE_REPORT_V2: u8 = 143;
/// ICMPv6 type of an MLDv1 listener report.
pub const TYPE_REPORT_V1: u8 = 131;
/// ICMPv6 type of an MLDv1 listener done.
pub const TYPE_DONE: u8 = 132;
/// Where MLDv1 dones go: all routers (`ff02::2`).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// Where MLDv2 reports go: all MLDv2-capable routers (`ff02::16`).
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// The hop-by-hop options header every MLD message carries: next header
/// ICMPv6 (58), length 0 (8 bytes), the router alert option (type 5,
/// length 2, value 0: "datagram contains a Multicast Listener Discovery
/// message", RFC 2711), then a PadN of 2 bytes.
pub const ROUTER_ALERT_HBH: [u8; 8] = [58, 0, 5, 2, 0, 0, 1, 0];

/// The length of an MLDv1 query (RFC 2710).
pub const QUERY_V1_LEN: usize = 24;
/// The length of every MLDv1 message (RFC 2710 section 3).
pub const V1_LEN: usize = 24;
/// The least length of an MLDv2 query (no sources).
pub const QUERY_V2_LEN: usize = 28;

/// The length of a report's fixed part.
pub const REPORT_HEADER_LEN: usize = 8;
/// The length of a multicast address record without sources or
/// auxiliary data.
pub const RECORD_LEN: usize = 20;

/// A parsed multicast listener query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Query {
    /// MLDv1 (24 bytes) or MLDv2 (28 or more).
    pub version: u8,
    /// The longest delay allowed before the answer, in milliseconds
    /// (decoded from the Maximum Response Code, RFC 9777 section 5.1.3).
    pub max_response_ms: u32,
    /// The group asked about; the unspecified address for a general query.
    pub group: Ipv6Addr,
    /// Number of sources (MLDv2; 0 in general and group-specific queries).
    pub sources: u16,
}

impl Query {
    /// Parses a query: the whole ICMPv6 message, from its type byte, whose
    /// checksum the caller has verified. `Unsupported` if it is not a
    /// query; `Truncated` or `Malformed` for a length that is neither
    /// MLDv1's nor MLDv2's with its sources.
    pub fn parse(msg: &[u8]) -> Result<Query, Error> {
        if msg.first() != Some(&TYPE_QUERY) {
            return Err(Error::Unsupported);
        }
        if msg.len() < QUERY_V1_LEN {
            return Err(Error::Truncated);
        }
        let code = get_u16(msg, 4..6);
        let group = get_ipv6(msg, 8..24);
        if msg.len() < QUERY_V2_LEN {
            // MLDv1: exactly 24 bytes; its delay is in milliseconds.
            return if msg.len() == QUERY_V1_LEN {
                Ok(Query {
                    version: 1,
                    max_response_ms: u32::from(code),
                    group,
                    sources: 0,
                })
            } else {
                Err(Error::Malformed)
            };
        }
        let sources = get_u16(msg, 26..28);
        if msg.len() < QUERY_V2_LEN + 16 * usize::from(sources) {
            return Err(Error::Truncated);
        }
        Ok(Query {
            version: 2,
            max_response_ms: max_response_ms(code),
            group,
            sources,
        })
    }
}

/// The Maximum Response Delay in milliseconds of a Maximum Response Code
/// (RFC 9777 section 5.1.3): the code itself below 32768, else a floating
/// point value `|1|exp|mant|` meaning `(mant | 0x1000) << (exp + 3)`.
pub fn max_response_ms(code: u16) -> u32 {
    if code < 0x8000 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 12) & 0x7);
        let mant = u32::from(code & 0x0fff);
        (mant | 0x1000) << (exp + 3)
    }
}

/// The type of a multicast address record (RFC 9777 section 5.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// Current state: listening to every source but none (`MODE_IS_EXCLUDE`
    /// with no sources), the answer to a query.
    IsExclude = 2,
    /// State change: stopped listening (`CHANGE_TO_INCLUDE_MODE`, no
    /// sources).
    ToInclude = 3,
    /// State change: started listening to every source
    /// (`CHANGE_TO_EXCLUDE_MODE`, no sources).
    ToExclude = 4,
}

/// Emits an MLDv2 report with one record of `kind` and no sources for each
/// of `groups`, from `src` (to [`ALL_MLDV2_ROUTERS`]), checksum included,
/// into `buf`, which must be [`report_len`] long.
///
/// # Panics
/// If `buf` is not `report_len(groups.len())` long, or there are more than
/// 65,535 groups.
pub fn emit_report(buf: &mut [u8], src: Ipv6Addr, kind: RecordType, groups: &[Ipv6Addr]) {
    assert_eq!(buf.len(), report_len(groups.len()));
    let n = u16::try_from(groups.len()).expect("at most 65535 records");
    buf[..REPORT_HEADER_LEN].fill(0);
    buf[0] = TYPE_REPORT_V2;
    buf[6..8].copy_from_slice(&n.to_be_bytes());
    for (record, group) in buf[REPORT_HEADER_LEN..]
        .chunks_exact_mut(RECORD_LEN)
        .zip(groups)
    {
        record[..4].copy_from_slice(&[kind as u8, 0, 0, 0]);
        record[4..].copy_from_slice(&group.octets());
    }
    icmpv6::Packet::new_unchecked(buf).fill_checksum(src, ALL_MLDV2_ROUTERS);
}

/// The length of a report of `records` records without sources.
pub const fn report_len(records: usize) -> usize {
    REPORT_HEADER_LEN + RECORD_LEN * records
}

/// The two MLDv1 messages a listener sends (RFC 2710 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum V1Message {
    /// "Listening to the group": sent to the group itself.
    Report = 131,
    /// "Stopped listening to the group": sent to all routers.
    Done = 132,
}

impl V1Message {
    /// Where the message about `group` goes.
    pub fn dst(self, group: Ipv6Addr) -> Ipv6Addr {
        match self {
            V1Message::Report => group,
            V1Message::Done => ALL_ROUTERS,
        }
    }
}

/// Emits the MLDv1 `message` about `group` from `src` (to
/// [`V1Message::dst`]), checksum included, into `buf`, which must be
/// [`V1_LEN`] long (its Maximum Response Delay and reserved field are 0).
///
/// # Panics
/// If `buf` is not [`V1_LEN`] long.
pub fn emit_v1(buf: &mut [u8], src: Ipv6Addr, message: V1Message, group: Ipv6Addr) {
    assert_eq!(buf.len(), V1_LEN);
    buf[..8].fill(0);
    buf[0] = message as u8;
    buf[8..].copy_from_slice(&group.octets());
    icmpv6::Packet::new_unchecked(buf).fill_checksum(src, message.dst(group));
}

/// The group of an MLDv1 report (the whole ICMPv6 message, whose checksum
/// the caller has verified): `Unsupported` if it is not one, `Truncated`
/// when shorter than [`V1_LEN`] (longer ones are taken, their tail
/// ignored, as RFC 2710 section 3 asks).
pub fn parse_v1_report(msg: &[u8]) -> Result<Ipv6Addr, Error> {
    if msg.first() != Some(&TYPE_REPORT_V1) {
        return Err(Error::Unsupported);
    }
    if msg.len() < V1_LEN {
        return Err(Error::Truncated);
    }
    Ok(get_ipv6(msg, 8..24))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x0001);

    fn query(len: usize, code: u16, group: Ipv6Addr, sources: u16) -> alloc::vec::Vec<u8> {
        let mut q = alloc::vec![0u8; len.max(QUERY_V2_LEN)];
        q[0] = TYPE_QUERY;
        q[4..6].copy_from_slice(&code.to_be_bytes());
        q[8..24].copy_from_slice(&group.octets());
        q[26..28].copy_from_slice(&sources.to_be_bytes());
        q.truncate(len);
        q
    }

    #[test]
    fn queries_of_both_versions_parse_and_bad_lengths_do_not() {
        let q = Query::parse(&query(28, 10_000, Ipv6Addr::UNSPECIFIED, 0)).unwrap();
        assert_eq!(
            q,
            Query {
                version: 2,
                max_response_ms: 10_000,
                group: Ipv6Addr::UNSPECIFIED,
                sources: 0
            }
        );
        let q = Query::parse(&query(24, 1000, GROUP, 0)).unwrap();
        assert_eq!((q.version, q.max_response_ms, q.group), (1, 1000, GROUP));
        // Two sources need 32 more bytes.
        assert_eq!(
            Query::parse(&query(28 + 31, 0, GROUP, 2)),
            Err(Error::Truncated)
        );
        assert_eq!(
            Query::parse(&query(28 + 32, 0, GROUP, 2)).unwrap().sources,
            2
        );
        assert_eq!(Query::parse(&query(25, 0, GROUP, 0)), Err(Error::Malformed));
        assert_eq!(Query::parse(&query(23, 0, GROUP, 0)), Err(Error::Truncated));
        assert_eq!(Query::parse(&[]), Err(Error::Unsupported));
        assert_eq!(Query::parse(&[TYPE_REPORT_V2; 28]), Err(Error::Unsupported));
    }

    #[test]
    fn the_maximum_response_code_decodes_both_forms() {
        assert_eq!(max_response_ms(0), 0);
        assert_eq!(max_response_ms(0x7fff), 32767);
        // |1|000|000000000000|: 0x1000 << 3.
        assert_eq!(max_response_ms(0x8000), 32768);
        // The largest: (0xfff | 0x1000) << 10.
        assert_eq!(max_response_ms(0xffff), 8_387_584);
    }

    #[test]
    fn a_report_holds_a_record_per_group_and_a_valid_checksum() {
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let groups = [GROUP, Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff12, 0x3456)];
        let mut buf = alloc::vec![0xaau8; report_len(2)];
        emit_report(&mut buf, src, RecordType::ToExclude, &groups);
        assert_eq!(buf.len(), 48);
        assert_eq!(&buf[..2], &[143, 0]);
        assert_eq!(&buf[4..8], &[0, 0, 0, 2]);
        assert_eq!(&buf[8..12], &[4, 0, 0, 0]);
        assert_eq!(&buf[12..28], &GROUP.octets());
        assert_eq!(buf[28], 4);
        assert!(icmpv6::Packet::new_unchecked(&buf[..]).verify_checksum(src, ALL_MLDV2_ROUTERS));
    }

    #[test]
    fn mldv1_messages_go_to_their_group_or_all_routers_and_reports_parse() {
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let mut buf = [0xaau8; V1_LEN];
        emit_v1(&mut buf, src, V1Message::Report, GROUP);
        assert_eq!(&buf[..8], &[131, 0, buf[2], buf[3], 0, 0, 0, 0]);
        assert_eq!(&buf[8..], &GROUP.octets());
        assert!(icmpv6::Packet::new_unchecked(&buf[..]).verify_checksum(src, GROUP));
        assert_eq!(parse_v1_report(&buf), Ok(GROUP));
        // A longer one is taken, its tail ignored; a shorter one is not.
        let mut long = buf.to_vec();
        long.extend_from_slice(&[1, 2, 3, 4]);
        assert_eq!(parse_v1_report(&long), Ok(GROUP));
        assert_eq!(parse_v1_report(&buf[..23]), Err(Error::Truncated));
        emit_v1(&mut buf, src, V1Message::Done, GROUP);
        assert_eq!(buf[0], 132);
        assert!(icmpv6::Packet::new_unchecked(&buf[..]).verify_checksum(src, ALL_ROUTERS));
        assert_eq!(parse_v1_report(&buf), Err(Error::Unsupported));
    }
}
