//! Wire formats: the packets of the network stack, parsed and emitted
//! zero-copy, never panicking on any input.
//!
//! Each format lives in its own module and follows one contract:
//!
//! - `Packet<T: AsRef<[u8]>>` is a view over a buffer. `new_unchecked` wraps
//!   any buffer; `new_checked` wraps it only after checking that every field
//!   the view reads (including the lengths the packet itself declares) lies
//!   inside the buffer, so that afterwards no accessor can panic. Getters
//!   read the fields; setters (under `AsMut<[u8]>`) write them; `payload()`
//!   is the part after the header (bounded by the declared length where the
//!   format has one). Byte offsets are named ranges in each module's private
//!   `field` module.
//! - `Repr` is the parsed, validated meaning of a packet. `Repr::parse`
//!   checks everything the view does not (versions, checksums, field values)
//!   and returns an [`Error`] rather than panicking, whatever the bytes.
//!   `Repr::buffer_len` is the size of the buffer that `Repr::emit` fills;
//!   `emit` writes the packet (computing lengths and checksums) into a
//!   `Packet` over a buffer at least that long. Formats whose checksum covers
//!   an IP pseudo-header (UDP, ICMPv6) take the addresses in `parse` and
//!   `emit`.
//!
//! Hostile input is never a panic: every length, offset and option is
//! bounds-checked, slices are taken with checked ranges, and no arithmetic on
//! a field read from the wire can overflow. `emit` is not input handling: it
//! may panic if given a buffer shorter than `buffer_len()`.
//!
//! Parsing then emitting a `Repr` and parsing again gives the same `Repr`
//! (the fuzz targets in `fuzz/` check this).

pub mod arp;
pub mod checksum;
pub mod dhcpv4;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod mld;
pub mod tcp;
pub mod udp;

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use core::ops::{Range, RangeFrom};

/// The IP header of a packet an ICMP error quotes (RFC 792, RFC 4443):
/// its addresses, its upper-layer protocol, and where that layer's header
/// starts. IPv4 with any options (a fragment other than the first is
/// `Unsupported`: its payload is not the transport header); IPv6 with
/// the transport right after the fixed header or behind the fragment
/// header of a first fragment (as this stack sends fragments). The
/// quoted header's length and checksum fields are not checked (the quote
/// is usually cut short). `Truncated` if the quote stops within the IP
/// header; `Malformed` for a bad version or IPv4 header length.
pub(crate) fn quoted_ip(quoted: &[u8]) -> Result<(IpAddr, IpAddr, u8, usize), Error> {
    let first = *quoted.first().ok_or(Error::Truncated)?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 {
                return Err(Error::Malformed);
            }
            if quoted.len() < ihl {
                return Err(Error::Truncated);
            }
            if get_u16(quoted, 6..8) & 0x1fff != 0 {
                return Err(Error::Unsupported);
            }
            let (src, dst) = (get_ipv4(quoted, 12..16), get_ipv4(quoted, 16..20));
            Ok((IpAddr::V4(src), IpAddr::V4(dst), quoted[9], ihl))
        }
        6 => {
            if quoted.len() < 40 {
                return Err(Error::Truncated);
            }
            let (src, dst) = (get_ipv6(quoted, 8..24), get_ipv6(quoted, 24..40));
            let (protocol, at) = match quoted[6] {
                // A fragment header: the first fragment's only.
                44 => {
                    let frag = quoted.get(40..48).ok_or(Error::Truncated)?;
                    if get_u16(frag, 2..4) & 0xfff8 != 0 {
                        return Err(Error::Unsupported);
                    }
                    (frag[0], 48)
                }
                p => (p, 40),
            };
            Ok((IpAddr::V6(src), IpAddr::V6(dst), protocol, at))
        }
        _ => Err(Error::Malformed),
    }
}

/// Why a packet could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the packet's header or declared length.
    Truncated,
    /// A field holds a value the format forbids (a length that lies, a bad
    /// version, an option that runs past its end, ...).
    Malformed,
    /// The checksum does not match.
    Checksum,
    /// The packet is well-formed but uses a variant this stack does not
    /// handle (another hardware type, an unknown message type, ...).
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => "truncated packet",
            Error::Malformed => "malformed packet",
            Error::Checksum => "bad checksum",
            Error::Unsupported => "unsupported packet",
        })
    }
}

impl core::error::Error for Error {}

/// A field: a range of byte offsets.
pub(crate) type Field = Range<usize>;
/// The rest of a packet from an offset.
pub(crate) type Rest = RangeFrom<usize>;

// The helpers below index with fixed-size fields; callers guarantee (through
// `check_len`) that the buffer covers them. They are `#[inline]`: the
// generic `Packet` accessors that call them are instantiated in the crate
// that uses them (the stack's users), and a call across crates per field
// cost more than the field access.

#[inline]
pub(crate) fn get_u16(data: &[u8], field: Field) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&data[field]);
    u16::from_be_bytes(b)
}

#[inline]
pub(crate) fn get_u32(data: &[u8], field: Field) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[field]);
    u32::from_be_bytes(b)
}

#[inline]
pub(crate) fn set_u16(data: &mut [u8], field: Field, value: u16) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn set_u32(data: &mut [u8], field: Field, value: u32) {
    data[field].copy_from_slice(&value.to_be_bytes());
}

#[inline]
pub(crate) fn get_ipv4(data: &[u8], field: Field) -> Ipv4Addr {
    let mut b = [0u8; 4];
    b.copy_from_slice(&data[field]);
    Ipv4Addr::from(b)
}

#[inline]
pub(crate) fn get_ipv6(data: &[u8], field: Field) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[field]);
    Ipv6Addr::from(b)
}

#[inline]
pub(crate) fn get_mac(data: &[u8], field: Field) -> super::MacAddr {
    let mut b = [0u8; 6];
    b.copy_from_slice(&data[field]);
    super::MacAddr(b)
}

/// `data[range]`, or an empty slice where the range is not inside `data`.
#[inline]
pub(crate) fn sub(data: &[u8], range: Field) -> &[u8] {
    data.get(range).unwrap_or(&[])
}

/// `data[range]` mutably, or an empty slice where the range is not inside.
#[inline]
pub(crate) fn sub_mut(data: &mut [u8], range: Field) -> &mut [u8] {
    data.get_mut(range).unwrap_or(&mut [])
}

#[cfg(test)]
pub(crate) mod testutil {
    /// Every strict prefix of `bytes` from `from` on, for truncation tests.
    pub fn prefixes(bytes: &[u8], from: usize) -> impl Iterator<Item = &[u8]> {
        (from..bytes.len()).map(move |n| &bytes[..n])
    }
}
