//! The DHCPv4 client (the seed's `ipv4_of_dhcp`, MirageOS's `--dhcp`): the
//! state machine of RFC 2131 ([`client`]), without I/O, and the
//! translation between it and the wire format ([`message`], [`reply`]).
//! The IPv4 layer ([`crate::net::ipv4`]) runs it: it feeds it the replies
//! addressed to port 68 and the time, sends what it asks for, and
//! configures itself from the lease.

pub mod client;

use core::net::Ipv4Addr;

use crate::net::MacAddr;
use crate::net::wire::dhcpv4::{MessageType, Repr};

use client::{Reply, ReplyKind, Send};

/// The options the client asks servers for: subnet mask, router, DNS
/// servers, lease time, T1, T2.
pub const PARAMETER_REQUEST_LIST: [u8; 6] = [1, 3, 6, 51, 58, 59];

/// The largest DHCP message the client accepts (option 57).
pub const MAX_MESSAGE_SIZE: u16 = 1500;

/// The message for what the client asks to send, and the IPv4 destination
/// it goes to (broadcast, or the server when renewing); `None` for an ARP
/// probe, which is not a DHCP message.
pub fn message(send: &Send, mac: MacAddr) -> Option<(Repr<'static>, Ipv4Addr)> {
    let mut repr = Repr {
        message_type: MessageType::Discover,
        transaction_id: 0,
        secs: 0,
        broadcast: false,
        client_hardware_addr: mac,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::UNSPECIFIED,
        server_ip: Ipv4Addr::UNSPECIFIED,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        subnet_mask: None,
        router: None,
        dns_servers: alloc::vec::Vec::new(),
        requested_ip: None,
        server_identifier: None,
        lease_time: None,
        renew_time: None,
        rebind_time: None,
        max_size: Some(MAX_MESSAGE_SIZE),
        client_identifier: None,
        parameter_request_list: Some(&PARAMETER_REQUEST_LIST),
    };
    let dst = match *send {
        Send::Discover { xid } => {
            repr.transaction_id = xid;
            Ipv4Addr::BROADCAST
        }
        Send::RequestSelected {
            xid,
            requested,
            server_id,
        } => {
            repr.message_type = MessageType::Request;
            repr.transaction_id = xid;
            repr.requested_ip = Some(requested);
            repr.server_identifier = Some(server_id);
            Ipv4Addr::BROADCAST
        }
        Send::RequestExtend {
            xid,
            ciaddr,
            server,
        } => {
            repr.message_type = MessageType::Request;
            repr.transaction_id = xid;
            repr.client_ip = ciaddr;
            server.unwrap_or(Ipv4Addr::BROADCAST)
        }
        Send::Decline {
            xid,
            requested,
            server_id,
        } => {
            // (RFC 2131 table 5: the address and the server, no
            // parameter request list.)
            repr.message_type = MessageType::Decline;
            repr.transaction_id = xid;
            repr.requested_ip = Some(requested);
            repr.server_identifier = Some(server_id);
            repr.parameter_request_list = None;
            repr.max_size = None;
            Ipv4Addr::BROADCAST
        }
        Send::Probe { .. } => return None,
    };
    Some((repr, dst))
}

/// The reply the client acts on, if `repr` is an OFFER, ACK or NAK.
pub fn reply(repr: &Repr<'_>) -> Option<Reply> {
    let kind = match repr.message_type {
        MessageType::Offer => ReplyKind::Offer,
        MessageType::Ack => ReplyKind::Ack,
        MessageType::Nak => ReplyKind::Nak,
        _ => return None,
    };
    Some(Reply {
        kind,
        xid: repr.transaction_id,
        chaddr: repr.client_hardware_addr,
        your_addr: repr.your_ip,
        server_id: repr.server_identifier,
        lease_secs: repr.lease_time,
        renewal_secs: repr.renew_time,
        rebinding_secs: repr.rebind_time,
        subnet_mask: repr.subnet_mask,
        routers: repr.router.into_iter().collect(),
        dns_servers: repr.dns_servers.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::dhcpv4::Packet;
    use alloc::vec;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 7]);

    #[test]
    fn messages_round_trip_through_the_wire_format() {
        let sends = [
            Send::Discover { xid: 7 },
            Send::RequestSelected {
                xid: 8,
                requested: Ipv4Addr::new(10, 0, 0, 9),
                server_id: Ipv4Addr::new(10, 0, 0, 1),
            },
            Send::RequestExtend {
                xid: 9,
                ciaddr: Ipv4Addr::new(10, 0, 0, 9),
                server: Some(Ipv4Addr::new(10, 0, 0, 1)),
            },
            Send::Decline {
                xid: 10,
                requested: Ipv4Addr::new(10, 0, 0, 9),
                server_id: Ipv4Addr::new(10, 0, 0, 1),
            },
        ];
        let dsts = [
            Ipv4Addr::BROADCAST,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::BROADCAST,
        ];
        for (send, want_dst) in sends.iter().zip(dsts) {
            let (repr, dst) = message(send, MAC).expect("a DHCP message");
            assert_eq!(dst, want_dst);
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            let parsed = Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(parsed, repr);
            // Requests are not replies.
            assert_eq!(reply(&parsed), None);
        }
        // A DECLINE names the address and the server (RFC 2131 table 5).
        let (decline, _) = message(&sends[3], MAC).unwrap();
        assert_eq!(decline.message_type, MessageType::Decline);
        assert_eq!(
            (decline.requested_ip, decline.server_identifier),
            (
                Some(Ipv4Addr::new(10, 0, 0, 9)),
                Some(Ipv4Addr::new(10, 0, 0, 1))
            )
        );
        // An ARP probe is no DHCP message.
        let probe = Send::Probe {
            address: Ipv4Addr::new(10, 0, 0, 9),
        };
        assert!(message(&probe, MAC).is_none());
    }

    #[test]
    fn replies_carry_the_lease_parameters() {
        let (mut repr, _) = message(&Send::Discover { xid: 5 }, MAC).unwrap();
        repr.message_type = MessageType::Ack;
        repr.your_ip = Ipv4Addr::new(10, 0, 0, 9);
        repr.router = Some(Ipv4Addr::new(10, 0, 0, 1));
        repr.lease_time = Some(600);
        repr.dns_servers = vec![Ipv4Addr::new(10, 0, 0, 53)];
        let r = reply(&repr).unwrap();
        assert_eq!(r.kind, ReplyKind::Ack);
        assert_eq!(r.xid, 5);
        assert_eq!(r.routers, [Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(r.lease_secs, Some(600));
        assert_eq!(r.dns_servers, [Ipv4Addr::new(10, 0, 0, 53)]);
    }
}
