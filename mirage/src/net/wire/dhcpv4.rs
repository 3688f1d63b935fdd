//! DHCP for IPv4 (RFC 2131, options RFC 2132) over the BOOTP message
//! (RFC 951): the fixed 236-byte header, the magic cookie, and the options
//! this stack uses. Unknown options are skipped; the options must end with
//! an End option inside the buffer.

use super::{Error, Field, Rest, get_ipv4, get_mac, get_u16, get_u32, set_u16, set_u32, sub};
use crate::net::MacAddr;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

mod field {
    use super::{Field, Rest};
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Field = 4..8;
    pub const SECS: Field = 8..10;
    pub const FLAGS: Field = 10..12;
    pub const CIADDR: Field = 12..16;
    pub const YIADDR: Field = 16..20;
    pub const SIADDR: Field = 20..24;
    pub const GIADDR: Field = 24..28;
    pub const CHADDR: Field = 28..44;
    pub const SNAME: Field = 44..108;
    pub const FILE: Field = 108..236;
    pub const MAGIC: Field = 236..240;
    pub const OPTIONS: Rest = 240..;
}

/// The length of the BOOTP header and magic cookie, before the options.
pub const HEADER_LEN: usize = field::OPTIONS.start;
/// The magic cookie that marks DHCP options.
pub const MAGIC_COOKIE: u32 = 0x6382_5363;
/// The smallest message `emit` writes (the BOOTP minimum; shorter ones are
/// padded).
pub const MIN_MESSAGE_LEN: usize = 300;
/// The UDP port of DHCP servers.
pub const SERVER_PORT: u16 = 67;
/// The UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;

const FLAG_BROADCAST: u16 = 0x8000;
const OP_BOOTREQUEST: u8 = 1;
const OP_BOOTREPLY: u8 = 2;

/// Option codes (RFC 2132).
pub mod opt {
    /// Pad.
    pub const PAD: u8 = 0;
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Router.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DNS_SERVERS: u8 = 6;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// IP address lease time.
    pub const LEASE_TIME: u8 = 51;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_IDENTIFIER: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) time.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time.
    pub const REBINDING_TIME: u8 = 59;
    /// Client identifier.
    pub const CLIENT_IDENTIFIER: u8 = 61;
    /// End.
    pub const END: u8 = 255;
}

/// The DHCP message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
    /// Any other value.
    Unknown(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Unknown(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(m: MessageType) -> u8 {
        match m {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Unknown(other) => other,
        }
    }
}

impl MessageType {
    /// The BOOTP op code messages of this type carry: 2 (BOOTREPLY) for
    /// offers, acks and naks, else 1 (BOOTREQUEST).
    pub fn opcode(self) -> u8 {
        match self {
            MessageType::Offer | MessageType::Ack | MessageType::Nak => OP_BOOTREPLY,
            _ => OP_BOOTREQUEST,
        }
    }
}

/// One option found by [`Options`]: its code and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DhcpOption<'a> {
    /// The option code.
    pub kind: u8,
    /// The option data (without code and length).
    pub data: &'a [u8],
}

/// An iterator over DHCP options, skipping Pad and stopping at End. It
/// yields one `Truncated` error (then stops) if an option runs past the
/// buffer or the buffer ends before End.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Options<'a> {
    /// Iterate over the options in `data`.
    pub fn new(data: &'a [u8]) -> Options<'a> {
        Options {
            rest: data,
            done: false,
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<DhcpOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some((&kind, tail)) = self.rest.split_first() else {
                self.done = true;
                return Some(Err(Error::Truncated));
            };
            match kind {
                opt::PAD => self.rest = tail,
                opt::END => self.done = true,
                _ => {
                    let parsed = tail.split_first().and_then(|(&len, tail)| {
                        let len = usize::from(len);
                        Some((tail.get(..len)?, sub(tail, len..tail.len())))
                    });
                    return match parsed {
                        Some((data, rest)) => {
                            self.rest = rest;
                            Some(Ok(DhcpOption { kind, data }))
                        }
                        None => {
                            self.done = true;
                            Some(Err(Error::Truncated))
                        }
                    };
                }
            }
        }
        None
    }
}

/// A view over a DHCP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wrap a buffer, checking that it holds the header and magic cookie.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds the header and magic cookie (the options
    /// are checked as they are read).
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

    /// The op code (1 request, 2 reply).
    pub fn opcode(&self) -> u8 {
        self.buffer.as_ref()[field::OP]
    }

    /// The hardware type (1 for Ethernet).
    pub fn hardware_type(&self) -> u8 {
        self.buffer.as_ref()[field::HTYPE]
    }

    /// The hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// The relay hop count.
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }

    /// The transaction identifier.
    pub fn transaction_id(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::XID)
    }

    /// Seconds since the client began.
    pub fn secs(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SECS)
    }

    /// The flags field.
    pub fn flags(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS)
    }

    /// The client IP address (ciaddr).
    pub fn client_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::CIADDR)
    }

    /// "Your" IP address (yiaddr).
    pub fn your_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::YIADDR)
    }

    /// The next server IP address (siaddr).
    pub fn server_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::SIADDR)
    }

    /// The relay agent IP address (giaddr).
    pub fn relay_agent_ip(&self) -> Ipv4Addr {
        get_ipv4(self.buffer.as_ref(), field::GIADDR)
    }

    /// The client hardware address (the first 6 bytes of chaddr).
    pub fn client_hardware_addr(&self) -> MacAddr {
        get_mac(
            self.buffer.as_ref(),
            field::CHADDR.start..field::CHADDR.start + 6,
        )
    }

    /// The magic cookie field.
    pub fn magic_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::MAGIC)
    }

    /// The options area (everything after the magic cookie).
    pub fn options(&self) -> Options<'_> {
        let d = self.buffer.as_ref();
        Options::new(sub(d, field::OPTIONS.start..d.len()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the op code.
    pub fn set_opcode(&mut self, v: u8) {
        self.buffer.as_mut()[field::OP] = v;
    }

    /// Set the hardware type.
    pub fn set_hardware_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::HTYPE] = v;
    }

    /// Set the hardware address length.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    /// Set the hop count.
    pub fn set_hops(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOPS] = v;
    }

    /// Set the transaction identifier.
    pub fn set_transaction_id(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::XID, v);
    }

    /// Set the seconds field.
    pub fn set_secs(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::SECS, v);
    }

    /// Set the flags field.
    pub fn set_flags(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::FLAGS, v);
    }

    /// Set ciaddr.
    pub fn set_client_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::CIADDR].copy_from_slice(&a.octets());
    }

    /// Set yiaddr.
    pub fn set_your_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::YIADDR].copy_from_slice(&a.octets());
    }

    /// Set siaddr.
    pub fn set_server_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SIADDR].copy_from_slice(&a.octets());
    }

    /// Set giaddr.
    pub fn set_relay_agent_ip(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::GIADDR].copy_from_slice(&a.octets());
    }

    /// Set chaddr to an Ethernet address (the other 10 bytes zero).
    pub fn set_client_hardware_addr(&mut self, m: MacAddr) {
        let d = &mut self.buffer.as_mut()[field::CHADDR];
        d.fill(0);
        d[..6].copy_from_slice(&m.0);
    }

    /// Set the magic cookie field.
    pub fn set_magic_number(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), field::MAGIC, v);
    }

    /// Zero the sname and file fields.
    pub fn clear_sname_and_file(&mut self) {
        self.buffer.as_mut()[field::SNAME].fill(0);
        self.buffer.as_mut()[field::FILE].fill(0);
    }
}

/// A parsed DHCP message (with an Ethernet client hardware address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// The message type; the BOOTP op code follows from it.
    pub message_type: MessageType,
    /// Transaction identifier.
    pub transaction_id: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// The broadcast flag.
    pub broadcast: bool,
    /// Client hardware address.
    pub client_hardware_addr: MacAddr,
    /// ciaddr.
    pub client_ip: Ipv4Addr,
    /// yiaddr.
    pub your_ip: Ipv4Addr,
    /// siaddr.
    pub server_ip: Ipv4Addr,
    /// giaddr.
    pub relay_agent_ip: Ipv4Addr,
    /// Subnet mask option.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Router option (the first router).
    pub router: Option<Ipv4Addr>,
    /// Domain name server option (empty: absent; at most 63 are emitted).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Requested IP address option.
    pub requested_ip: Option<Ipv4Addr>,
    /// Server identifier option.
    pub server_identifier: Option<Ipv4Addr>,
    /// Lease time option, in seconds.
    pub lease_time: Option<u32>,
    /// Renewal (T1) time option, in seconds.
    pub renew_time: Option<u32>,
    /// Rebinding (T2) time option, in seconds.
    pub rebind_time: Option<u32>,
    /// Maximum message size option.
    pub max_size: Option<u16>,
    /// Client identifier option (1 to 255 bytes).
    pub client_identifier: Option<&'a [u8]>,
    /// Parameter request list option (1 to 255 option codes).
    pub parameter_request_list: Option<&'a [u8]>,
}

fn exact<const N: usize>(data: &[u8]) -> Result<[u8; N], Error> {
    data.try_into().map_err(|_| Error::Malformed)
}

fn non_empty(data: &[u8]) -> Result<&[u8], Error> {
    if data.is_empty() {
        Err(Error::Malformed)
    } else {
        Ok(data)
    }
}

fn addresses(data: &[u8]) -> Result<impl Iterator<Item = Ipv4Addr> + '_, Error> {
    if data.is_empty() || !data.len().is_multiple_of(4) {
        return Err(Error::Malformed);
    }
    Ok(data
        .chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3])))
}

impl<'a> Repr<'a> {
    /// Parse a message: checks the header (Ethernet hardware addresses
    /// only, else `Unsupported`), the magic cookie, every option's bounds
    /// and the lengths of the known options, the presence of a message type
    /// and that the op code matches it.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        if packet.hardware_type() != 1 || packet.hardware_len() != 6 {
            return Err(Error::Unsupported);
        }
        if packet.magic_number() != MAGIC_COOKIE {
            return Err(Error::Malformed);
        }
        let buf: &'a [u8] = packet.buffer.as_ref();
        let mut r = Repr {
            message_type: MessageType::Unknown(0),
            transaction_id: packet.transaction_id(),
            secs: packet.secs(),
            broadcast: packet.flags() & FLAG_BROADCAST != 0,
            client_hardware_addr: packet.client_hardware_addr(),
            client_ip: packet.client_ip(),
            your_ip: packet.your_ip(),
            server_ip: packet.server_ip(),
            relay_agent_ip: packet.relay_agent_ip(),
            subnet_mask: None,
            router: None,
            dns_servers: Vec::new(),
            requested_ip: None,
            server_identifier: None,
            lease_time: None,
            renew_time: None,
            rebind_time: None,
            max_size: None,
            client_identifier: None,
            parameter_request_list: None,
        };
        let mut message_type = None;
        for o in Options::new(sub(buf, field::OPTIONS.start..buf.len())) {
            let DhcpOption { kind, data } = o?;
            match kind {
                opt::MESSAGE_TYPE => message_type = Some(MessageType::from(exact::<1>(data)?[0])),
                opt::SUBNET_MASK => r.subnet_mask = Some(exact::<4>(data)?.into()),
                opt::ROUTER => r.router = addresses(data)?.next(),
                opt::DNS_SERVERS => r.dns_servers = addresses(data)?.collect(),
                opt::REQUESTED_IP => r.requested_ip = Some(exact::<4>(data)?.into()),
                opt::SERVER_IDENTIFIER => r.server_identifier = Some(exact::<4>(data)?.into()),
                opt::LEASE_TIME => r.lease_time = Some(u32::from_be_bytes(exact(data)?)),
                opt::RENEWAL_TIME => r.renew_time = Some(u32::from_be_bytes(exact(data)?)),
                opt::REBINDING_TIME => r.rebind_time = Some(u32::from_be_bytes(exact(data)?)),
                opt::MAX_MESSAGE_SIZE => r.max_size = Some(u16::from_be_bytes(exact(data)?)),
                opt::CLIENT_IDENTIFIER => r.client_identifier = Some(non_empty(data)?),
                opt::PARAMETER_REQUEST_LIST => r.parameter_request_list = Some(non_empty(data)?),
                _ => {}
            }
        }
        r.message_type = message_type.ok_or(Error::Malformed)?;
        if let MessageType::Unknown(_) = r.message_type {
            return Err(Error::Unsupported);
        }
        if packet.opcode() != r.message_type.opcode() {
            return Err(Error::Malformed);
        }
        Ok(r)
    }

    fn dns_len(&self) -> usize {
        self.dns_servers.len().min(63)
    }

    /// The length of the options `emit` writes, End included.
    fn options_len(&self) -> usize {
        let mut n = 3 + 1; // message type, end
        let addr = [
            self.subnet_mask,
            self.router,
            self.requested_ip,
            self.server_identifier,
        ];
        n += 6 * addr.iter().flatten().count();
        let times = [self.lease_time, self.renew_time, self.rebind_time];
        n += 6 * times.iter().flatten().count();
        n += self.max_size.map_or(0, |_| 4);
        if self.dns_len() > 0 {
            n += 2 + 4 * self.dns_len();
        }
        for list in [self.client_identifier, self.parameter_request_list]
            .into_iter()
            .flatten()
        {
            if !list.is_empty() {
                n += 2 + list.len().min(255);
            }
        }
        n
    }

    /// The length of the message `emit` writes (at least
    /// [`MIN_MESSAGE_LEN`]).
    pub fn buffer_len(&self) -> usize {
        (HEADER_LEN + self.options_len()).max(MIN_MESSAGE_LEN)
    }

    /// Write the message: the header (op code from the message type, hops
    /// 0, sname and file empty), the cookie, the options in the order
    /// message type, client identifier, requested IP, server identifier,
    /// maximum size, parameter request list, lease, T1, T2, subnet mask,
    /// router, DNS servers, then End and Pad up to `buffer_len()`. Empty
    /// lists are left out; longer than 255 bytes are cut.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_opcode(self.message_type.opcode());
        packet.set_hardware_type(1);
        packet.set_hardware_len(6);
        packet.set_hops(0);
        packet.set_transaction_id(self.transaction_id);
        packet.set_secs(self.secs);
        packet.set_flags(if self.broadcast { FLAG_BROADCAST } else { 0 });
        packet.set_client_ip(self.client_ip);
        packet.set_your_ip(self.your_ip);
        packet.set_server_ip(self.server_ip);
        packet.set_relay_agent_ip(self.relay_agent_ip);
        packet.set_client_hardware_addr(self.client_hardware_addr);
        packet.clear_sname_and_file();
        packet.set_magic_number(MAGIC_COOKIE);

        let total = self.buffer_len();
        let out = &mut packet.buffer.as_mut()[HEADER_LEN..total];
        out.fill(opt::PAD);
        let mut w = Writer { out, at: 0 };
        w.put(opt::MESSAGE_TYPE, &[self.message_type.into()]);
        if let Some(id) = self.client_identifier {
            w.put(opt::CLIENT_IDENTIFIER, id);
        }
        if let Some(a) = self.requested_ip {
            w.put(opt::REQUESTED_IP, &a.octets());
        }
        if let Some(a) = self.server_identifier {
            w.put(opt::SERVER_IDENTIFIER, &a.octets());
        }
        if let Some(s) = self.max_size {
            w.put(opt::MAX_MESSAGE_SIZE, &s.to_be_bytes());
        }
        if let Some(l) = self.parameter_request_list {
            w.put(opt::PARAMETER_REQUEST_LIST, l);
        }
        for (code, t) in [
            (opt::LEASE_TIME, self.lease_time),
            (opt::RENEWAL_TIME, self.renew_time),
            (opt::REBINDING_TIME, self.rebind_time),
        ] {
            if let Some(t) = t {
                w.put(code, &t.to_be_bytes());
            }
        }
        if let Some(a) = self.subnet_mask {
            w.put(opt::SUBNET_MASK, &a.octets());
        }
        if let Some(a) = self.router {
            w.put(opt::ROUTER, &a.octets());
        }
        if self.dns_len() > 0 {
            let mut b = [0u8; 252];
            for (chunk, a) in b.chunks_exact_mut(4).zip(&self.dns_servers) {
                chunk.copy_from_slice(&a.octets());
            }
            w.put(opt::DNS_SERVERS, &b[..4 * self.dns_len()]);
        }
        w.out[w.at] = opt::END;
    }
}

struct Writer<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, code: u8, data: &[u8]) {
        let data = &data[..data.len().min(255)];
        if data.is_empty() {
            return;
        }
        self.out[self.at] = code;
        self.out[self.at + 1] = data.len() as u8;
        self.out[self.at + 2..self.at + 2 + data.len()].copy_from_slice(data);
        self.at += 2 + data.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::testutil::prefixes;
    use alloc::vec;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

    /// The BOOTP header (236 bytes) by hand.
    fn header(op: u8, xid: u32, flags: u16, yiaddr: [u8; 4], siaddr: [u8; 4]) -> Vec<u8> {
        let mut v = vec![op, 1, 6, 0];
        v.extend(xid.to_be_bytes());
        v.extend([0, 3]); // secs
        v.extend(flags.to_be_bytes());
        v.extend([0, 0, 0, 0]); // ciaddr
        v.extend(yiaddr);
        v.extend(siaddr);
        v.extend([0, 0, 0, 0]); // giaddr
        v.extend(MAC.0);
        v.extend([0; 10 + 64 + 128]);
        v.extend([0x63, 0x82, 0x53, 0x63]);
        v
    }

    fn pad(mut v: Vec<u8>) -> Vec<u8> {
        v.resize(v.len().max(300), 0);
        v
    }

    // A DHCPDISCOVER as a client sends it.
    fn discover() -> Vec<u8> {
        let mut v = header(1, 0x3903_f326, 0x8000, [0; 4], [0; 4]);
        v.extend([53, 1, 1]);
        v.extend([61, 7, 1, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        v.extend([57, 2, 0x05, 0xdc]);
        v.extend([55, 4, 1, 3, 6, 51]);
        v.push(255);
        pad(v)
    }

    fn discover_repr(bytes: &[u8]) -> Repr<'_> {
        Repr {
            message_type: MessageType::Discover,
            transaction_id: 0x3903_f326,
            secs: 3,
            broadcast: true,
            client_hardware_addr: MAC,
            client_ip: Ipv4Addr::UNSPECIFIED,
            your_ip: Ipv4Addr::UNSPECIFIED,
            server_ip: Ipv4Addr::UNSPECIFIED,
            relay_agent_ip: Ipv4Addr::UNSPECIFIED,
            subnet_mask: None,
            router: None,
            dns_servers: vec![],
            requested_ip: None,
            server_identifier: None,
            lease_time: None,
            renew_time: None,
            rebind_time: None,
            max_size: Some(1500),
            client_identifier: Some(&bytes[245..252]),
            parameter_request_list: Some(&[1, 3, 6, 51]),
        }
    }

    // A DHCPACK as a server sends it.
    fn ack() -> Vec<u8> {
        let mut v = header(2, 0x3903_f326, 0, [192, 168, 1, 100], [192, 168, 1, 1]);
        v.extend([53, 1, 5]);
        v.extend([54, 4, 192, 168, 1, 1]);
        v.extend([51, 4, 0, 0, 0x0e, 0x10]);
        v.extend([58, 4, 0, 0, 0x07, 0x08]);
        v.extend([59, 4, 0, 0, 0x0c, 0x4e]);
        v.extend([1, 4, 255, 255, 255, 0]);
        v.extend([3, 4, 192, 168, 1, 1]);
        v.extend([6, 8, 192, 168, 1, 1, 9, 9, 9, 9]);
        v.push(255);
        pad(v)
    }

    fn ack_repr() -> Repr<'static> {
        Repr {
            message_type: MessageType::Ack,
            broadcast: false,
            your_ip: Ipv4Addr::new(192, 168, 1, 100),
            server_ip: Ipv4Addr::new(192, 168, 1, 1),
            server_identifier: Some(Ipv4Addr::new(192, 168, 1, 1)),
            lease_time: Some(3600),
            renew_time: Some(1800),
            rebind_time: Some(3150),
            subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
            router: Some(Ipv4Addr::new(192, 168, 1, 1)),
            dns_servers: vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(9, 9, 9, 9)],
            max_size: None,
            client_identifier: None,
            parameter_request_list: None,
            ..discover_repr(&[0; 300])
        }
    }

    #[test]
    fn known_good_parse_and_emit() {
        let d = discover();
        let p = Packet::new_checked(&d[..]).unwrap();
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, discover_repr(&d));
        let mut buf = vec![0xeeu8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, d);

        let a = ack();
        let r = Repr::parse(&Packet::new_checked(&a[..]).unwrap()).unwrap();
        assert_eq!(r, ack_repr());
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, a);
    }

    #[test]
    fn round_trip_request_and_long_lists() {
        let d = discover();
        let dns: Vec<_> = (0..80).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let r = Repr {
            message_type: MessageType::Request,
            requested_ip: Some(Ipv4Addr::new(192, 168, 1, 100)),
            server_identifier: Some(Ipv4Addr::new(192, 168, 1, 1)),
            dns_servers: dns.clone(),
            ..discover_repr(&d)
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let back = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(back.dns_servers, dns[..63]);
        assert_eq!(
            back,
            Repr {
                dns_servers: dns[..63].to_vec(),
                ..r
            }
        );
    }

    #[test]
    fn truncated() {
        let d = discover();
        // Every cut before the End option fails.
        for pre in prefixes(&d, 0).take(263) {
            match Packet::new_checked(pre) {
                Err(e) => assert_eq!(e, Error::Truncated),
                Ok(p) => assert!(Repr::parse(&p).is_err(), "{} bytes parsed", pre.len()),
            }
        }
        // Cuts in the padding after End are fine.
        assert!(Repr::parse(&Packet::new_checked(&d[..263]).unwrap()).is_ok());
    }

    #[test]
    fn lying_option_lengths() {
        // Option length past the end.
        let mut d = discover()[..263].to_vec();
        d[257] = 30; // the parameter request list claims 30 bytes
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Truncated));
        // A known option with the wrong length.
        let mut d = discover();
        d[241] = 2;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Malformed)
        );
        // No End.
        let mut d = discover()[..262].to_vec();
        d.extend([0; 10]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn invalid_headers() {
        let mut d = discover();
        d[236] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Malformed)
        );
        let mut d = discover();
        d[2] = 16;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Unsupported)
        );
        let mut d = discover();
        d[0] = 2;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Malformed)
        );
        // No message type: plain BOOTP.
        let mut d = discover();
        d[240] = 0;
        d[241] = 0;
        d[242] = 0;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap()),
            Err(Error::Malformed)
        );
        // Unknown options are skipped.
        let mut d = discover();
        d.splice(240..240, [224, 3, 1, 2, 3]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&d[..]).unwrap())
                .unwrap()
                .secs,
            3
        );
    }
}
