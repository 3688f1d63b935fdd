//! ICMP for IPv4 (RFC 792): echo request and reply, destination unreachable
//! and time exceeded. The message is the whole buffer (ICMP has no length
//! field: pass the IPv4 payload); the checksum covers all of it.

use super::{Error, Field, Rest, checksum, get_u16, set_u16, sub, sub_mut};

mod field {
    use super::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const UNREACH_MTU: Field = 6..8;
    pub const DATA: Rest = 8..;
}

/// The length of an ICMP header (type, code, checksum and 4 bytes).
pub const HEADER_LEN: usize = field::DATA.start;

/// Message type: echo reply.
pub const TYPE_ECHO_REPLY: u8 = 0;
/// Message type: destination unreachable.
pub const TYPE_DST_UNREACHABLE: u8 = 3;
/// Message type: redirect (RFC 792).
pub const TYPE_REDIRECT: u8 = 5;
/// Message type: echo request.
pub const TYPE_ECHO_REQUEST: u8 = 8;
/// Message type: time exceeded.
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Parameter problem (RFC 792).
pub const TYPE_PARAM_PROBLEM: u8 = 12;
/// Destination unreachable code: fragmentation needed and DF set (the
/// next-hop MTU is in the header, RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;

/// A view over an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking that it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The message type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// The message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The echo identifier (echo messages).
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// The echo sequence number (echo messages).
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// The next-hop MTU (destination unreachable, fragmentation needed).
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::UNREACH_MTU)
    }

    /// The data after the header.
    pub fn data(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        sub(d, HEADER_LEN..d.len())
    }

    /// Whether the checksum over the whole message is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the message type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Set the message code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Set the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    /// Set the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, v);
    }

    /// Set the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, v);
    }

    /// Set the 4 bytes after the checksum to zero and the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 4..6, 0);
        set_u16(self.buffer.as_mut(), field::UNREACH_MTU, v);
    }

    /// Compute and write the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }

    /// The data after the header, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let d = self.buffer.as_mut();
        let len = d.len();
        sub_mut(d, HEADER_LEN..len)
    }
}

/// A parsed ICMPv4 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data echoed back.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data echoed back.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Code (0 net, 1 host, 2 protocol, 3 port, 4 fragmentation
        /// needed, ...).
        code: u8,
        /// Next-hop MTU (meaningful for code 4, else 0).
        mtu: u16,
        /// The quoted IPv4 header and at least 8 bytes of its payload.
        quoted: &'a [u8],
    },
    /// Redirect (RFC 792).
    Redirect {
        /// Code (0 network, 1 host, 2 network and type of service, 3 host
        /// and type of service).
        code: u8,
        /// The gateway to send to instead.
        gateway: core::net::Ipv4Addr,
        /// The quoted IPv4 header and at least 8 bytes of its payload.
        quoted: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Code (0 TTL exceeded in transit, 1 reassembly time exceeded).
        code: u8,
        /// The quoted IPv4 header and at least 8 bytes of its payload.
        quoted: &'a [u8],
    },
    /// Parameter problem (RFC 792; codes of RFC 1108 and RFC 1812).
    ParamProblem {
        /// Code (0 the pointer tells the octet, 1 a required option is
        /// missing, 2 bad length).
        code: u8,
        /// The octet of the quoted datagram in error (code 0).
        pointer: u8,
        /// The quoted IPv4 header and at least 8 bytes of its payload.
        quoted: &'a [u8],
    },
}

/// Check that `quoted` starts with an IPv4 header (version 4, IHL >= 5)
/// followed by at least 8 bytes.
fn check_quoted(quoted: &[u8]) -> Result<(), Error> {
    let first = *quoted.first().ok_or(Error::Truncated)?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 {
        Err(Error::Malformed)
    } else if quoted.len() < ihl + 8 {
        Err(Error::Truncated)
    } else {
        Ok(())
    }
}

impl<'a> Repr<'a> {
    /// Parse a message: checks the checksum, the type and, for errors, the
    /// quoted IPv4 header. Other types are `Unsupported`.
    // Inlined into the caller: the parsed fields stay in registers
    // (returned through memory, they were stored narrowly and loaded
    // wide: store-forwarding stalls on every packet).
    #[inline(always)]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let data = sub(buf, HEADER_LEN..buf.len());
        let (t, code) = (packet.msg_type(), packet.msg_code());
        match t {
            TYPE_ECHO_REQUEST | TYPE_ECHO_REPLY if code == 0 => {
                let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
                Ok(if t == TYPE_ECHO_REQUEST {
                    Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    }
                } else {
                    Repr::EchoReply {
                        ident,
                        seq_no,
                        data,
                    }
                })
            }
            TYPE_DST_UNREACHABLE if code <= 15 => {
                check_quoted(data)?;
                let mtu = if code == CODE_FRAG_NEEDED {
                    packet.next_hop_mtu()
                } else {
                    0
                };
                Ok(Repr::DstUnreachable {
                    code,
                    mtu,
                    quoted: data,
                })
            }
            TYPE_TIME_EXCEEDED if code <= 1 => {
                check_quoted(data)?;
                Ok(Repr::TimeExceeded { code, quoted: data })
            }
            TYPE_PARAM_PROBLEM if code <= 2 => {
                check_quoted(data)?;
                Ok(Repr::ParamProblem {
                    code,
                    pointer: *buf.get(4).ok_or(Error::Truncated)?,
                    quoted: data,
                })
            }
            TYPE_REDIRECT if code <= 3 => {
                check_quoted(data)?;
                let b = buf.get(4..8).ok_or(Error::Truncated)?;
                Ok(Repr::Redirect {
                    code,
                    gateway: core::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]),
                    quoted: data,
                })
            }
            TYPE_ECHO_REQUEST | TYPE_ECHO_REPLY | TYPE_DST_UNREACHABLE | TYPE_TIME_EXCEEDED
            | TYPE_REDIRECT | TYPE_PARAM_PROBLEM => Err(Error::Malformed),
            _ => Err(Error::Unsupported),
        }
    }

    /// The length of the message `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => data.len(),
                Repr::DstUnreachable { quoted, .. }
                | Repr::TimeExceeded { quoted, .. }
                | Repr::ParamProblem { quoted, .. }
                | Repr::Redirect { quoted, .. } => quoted.len(),
            }
    }

    /// Write the message, checksum included.
    ///
    /// # Panics
    /// If the buffer's length is not `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        // Type, code and the 4 bytes after the checksum, as big-endian
        // words; and the data.
        let (type_code, rest, data) = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (
                u16::from(TYPE_ECHO_REQUEST) << 8,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (
                u16::from(TYPE_ECHO_REPLY) << 8,
                (u32::from(ident) << 16) | u32::from(seq_no),
                data,
            ),
            Repr::DstUnreachable { code, mtu, quoted } => (
                (u16::from(TYPE_DST_UNREACHABLE) << 8) | u16::from(code),
                u32::from(mtu),
                quoted,
            ),
            Repr::TimeExceeded { code, quoted } => (
                (u16::from(TYPE_TIME_EXCEEDED) << 8) | u16::from(code),
                0,
                quoted,
            ),
            Repr::Redirect {
                code,
                gateway,
                quoted,
            } => (
                (u16::from(TYPE_REDIRECT) << 8) | u16::from(code),
                u32::from(gateway),
                quoted,
            ),
            Repr::ParamProblem {
                code,
                pointer,
                quoted,
            } => (
                (u16::from(TYPE_PARAM_PROBLEM) << 8) | u16::from(code),
                u32::from(pointer) << 24,
                quoted,
            ),
        };
        // The data first; the checksum sums the header from registers, and
        // the header is written as one word (summing narrow stores back
        // from memory stalls on store forwarding).
        packet.data_mut().copy_from_slice(data);
        let mut sum = u64::from(checksum::data(data))
            + u64::from(type_code)
            + u64::from(rest >> 16)
            + u64::from(rest & 0xffff);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        let word =
            (u64::from(type_code) << 48) | (u64::from(!(sum as u16)) << 32) | u64::from(rest);
        packet.buffer.as_mut()[..HEADER_LEN].copy_from_slice(&word.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;

    // Echo request, ident 0x1234, seq 1, data "abcdefgh" (checksum 0x5435
    // computed independently of this crate).
    const ECHO: [u8; 16] = [
        0x08, 0x00, 0x54, 0x35, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h',
    ];

    // Port unreachable quoting a 20-byte IPv4 header and 8 bytes of UDP.
    const UNREACH: [u8; 36] = [
        0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ICMP header (checksum filled in)
        0x45, 0x00, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, // IPv4 header
        0x30, 0x39, 0x00, 0x35, 0x00, 0x10, 0x00, 0x00, // UDP header
    ];

    #[test]
    fn redirect_round_trips() {
        let quoted = &UNREACH[8..];
        let r = Repr::Redirect {
            code: 1,
            gateway: core::net::Ipv4Addr::new(10, 0, 0, 3),
            quoted,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(&b[..2], &[TYPE_REDIRECT, 1]);
        assert_eq!(&b[4..8], &[10, 0, 0, 3]);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..])), Ok(r));
        // Codes above 3 are malformed.
        b[1] = 4;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Err(Error::Malformed)
        );
    }

    fn echo_repr() -> Repr<'static> {
        Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcdefgh",
        }
    }

    fn unreach() -> [u8; 36] {
        let mut b = UNREACH;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        b
    }

    #[test]
    fn echo_known_good() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(echo_repr()));
        let mut buf = vec![0u8; echo_repr().buffer_len()];
        echo_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &ECHO[..]);
    }

    #[test]
    fn unreachable_round_trip() {
        let b = unreach();
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(
            r,
            Repr::DstUnreachable {
                code: 3,
                mtu: 0,
                quoted: &b[8..],
            }
        );
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], &b[..]);
        for r in [
            Repr::TimeExceeded {
                code: 1,
                quoted: &b[8..],
            },
            Repr::ParamProblem {
                code: 0,
                pointer: 20,
                quoted: &b[8..],
            },
            Repr::DstUnreachable {
                code: CODE_FRAG_NEEDED,
                mtu: 1400,
                quoted: &b[8..],
            },
            Repr::EchoReply {
                ident: 7,
                seq_no: 9,
                data: b"odd",
            },
        ] {
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(Repr::parse(&Packet::new_checked(&buf[..]).unwrap()), Ok(r));
        }
    }

    #[test]
    fn truncated() {
        for bytes in [&ECHO[..], &unreach()[..]] {
            for pre in prefixes(bytes, 0) {
                match Packet::new_checked(pre) {
                    Err(e) => assert_eq!(e, Error::Truncated),
                    Ok(p) => assert!(Repr::parse(&p).is_err(), "{} bytes parsed", pre.len()),
                }
            }
        }
    }

    #[test]
    fn bad_checksum_and_quote() {
        let mut b = ECHO;
        b[15] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Err(Error::Checksum)
        );
        // Quoted header with IHL 4 (checksum fixed up so only the quote is wrong).
        let mut b = unreach();
        b[8] = 0x44;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Err(Error::Malformed)
        );
        // Unknown type.
        let mut b = ECHO;
        b[0] = 13;
        Packet::new_unchecked(&mut b[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&b[..])),
            Err(Error::Unsupported)
        );
    }
}
