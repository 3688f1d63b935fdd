//! How a stack configures itself from its link, against a scripted peer on
//! the in-memory link, on virtual time: a DHCP server (discover, offer,
//! request, ack; renewal at T1 by unicast, rebinding at T2 by broadcast,
//! loss at expiry and a fresh start), and an IPv6 router (SLAAC from its
//! advertisement, default route through it, lifetimes).

#[path = "common/netsim.rs"]
mod netsim;

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::rc::Rc;

use mirage::net::MacAddr;
use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, LinkConfig};
use mirage::net::ethernet::{Ethernet, Ethif};
use mirage::net::ipv6::addr::{link_local, with_interface_id};
use mirage::net::ipv6::autoconf::{AddrState, Origin};
use mirage::net::stack::Stackv4v6;
use mirage::net::udp::{Udp, UdpSocket};
use mirage::net::wire::checksum::PseudoHeader;
use mirage::net::wire::dhcpv4::{self, MessageType};
use mirage::net::wire::ethernet::EtherType;
use mirage::net::wire::icmpv6::{self, PrefixInfo};
use mirage::net::wire::{arp, ipv4, ipv6, udp};
use mirage::rt::{Spawner, leak, sleep_ns};

use netsim::{Addressing, SEC, Sim, link};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);

/// What the scripted DHCP server does with each kind of request.
#[derive(Default)]
struct Script {
    /// Answer REQUESTs unicast to the server (renewals).
    answer_renewals: bool,
    /// Answer broadcast REQUESTs carrying ciaddr (rebindings).
    answer_rebinds: bool,
    /// Answer anything at all.
    silent: bool,
    /// Until when (virtual ns) another station holds the offered address:
    /// ARP requests and probes for it are answered.
    squatted_until: u64,
    /// The addresses DECLINEd.
    declined: Vec<Ipv4Addr>,
    /// What came in: (message type, ciaddr, IP destination, time).
    seen: Vec<(MessageType, Ipv4Addr, Ipv4Addr, u64)>,
}

/// Sends an IPv4/UDP datagram from the server.
fn send_udp(eth: &Ethif<Endpoint>, dst_mac: MacAddr, dst: Ipv4Addr, payload: &[u8]) {
    send_udp_ports(eth, dst_mac, dst, (67, 68), payload)
}

/// [`send_udp`] between other ports.
fn send_udp_ports(
    eth: &Ethif<Endpoint>,
    dst_mac: MacAddr,
    dst: Ipv4Addr,
    (src_port, dst_port): (u16, u16),
    payload: &[u8],
) {
    let udp_len = udp::HEADER_LEN + payload.len();
    let header = ipv4::Repr {
        src_addr: SERVER,
        dst_addr: dst,
        protocol: ipv4::Protocol::Udp,
        ttl: 64,
        dscp_ecn: 0,
        payload_len: udp_len,
        ident: 1,
        dont_fragment: false,
        more_fragments: false,
        frag_offset: 0,
    };
    let len = header.buffer_len();
    eth.send(dst_mac, EtherType::Ipv4, len, |buf| {
        header.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
        udp::Repr {
            src_port,
            dst_port,
            payload,
        }
        .emit(
            &mut udp::Packet::new_unchecked(&mut buf[ipv4::HEADER_LEN..len]),
            &PseudoHeader::V4(SERVER, dst),
        );
        len
    })
    .unwrap();
}

/// The server: answers ARP for its address and DHCP as `script` says.
fn serve(
    spawner: &Spawner,
    eth: &'static Ethif<Endpoint>,
    clock: &'static netsim::Clock,
    script: Rc<RefCell<Script>>,
) {
    spawner.spawn(async move {
        loop {
            let frame = eth
                .read(|f| f.map(|f| (f.src, f.ethertype, f.payload.to_vec())))
                .await;
            let Ok(Some((src_mac, ethertype, payload))) = frame else {
                if frame.is_err() {
                    return;
                }
                continue;
            };
            match ethertype {
                EtherType::Arp => {
                    let p = arp::Packet::new_checked(&payload[..]).unwrap();
                    let r = arp::Repr::parse(&p).unwrap();
                    let squatted = clock.0.now() < script.borrow().squatted_until
                        && r.target_protocol_addr == OFFERED;
                    if r.operation == arp::Operation::Request
                        && (r.target_protocol_addr == SERVER || squatted)
                    {
                        let reply = arp::Repr {
                            operation: arp::Operation::Reply,
                            source_hardware_addr: eth.mac(),
                            source_protocol_addr: r.target_protocol_addr,
                            target_hardware_addr: r.source_hardware_addr,
                            target_protocol_addr: r.source_protocol_addr,
                        };
                        eth.send(r.source_hardware_addr, EtherType::Arp, 28, |buf| {
                            reply.emit(&mut arp::Packet::new_unchecked(&mut buf[..28]));
                            28
                        })
                        .unwrap();
                    }
                }
                EtherType::Ipv4 => {
                    let p = ipv4::Packet::new_checked(&payload[..]).unwrap();
                    let ip = ipv4::Repr::parse(&p).unwrap();
                    if ip.protocol != ipv4::Protocol::Udp {
                        continue;
                    }
                    let u = udp::Packet::new_checked(p.payload()).unwrap();
                    if u.dst_port() != 67 {
                        continue;
                    }
                    let d = dhcpv4::Packet::new_checked(u.payload()).unwrap();
                    let req = dhcpv4::Repr::parse(&d).unwrap();
                    let answer = {
                        let mut s = script.borrow_mut();
                        s.seen
                            .push((req.message_type, req.client_ip, ip.dst_addr, clock.0.now()));
                        if req.message_type == MessageType::Decline {
                            s.declined.extend(req.requested_ip);
                        }
                        let renewal =
                            req.message_type == MessageType::Request && ip.dst_addr == SERVER;
                        let rebind = req.message_type == MessageType::Request
                            && ip.dst_addr.is_broadcast()
                            && !req.client_ip.is_unspecified();
                        !s.silent
                            && (!renewal || s.answer_renewals)
                            && (!rebind || s.answer_rebinds)
                    };
                    if !answer {
                        continue;
                    }
                    let kind = match req.message_type {
                        MessageType::Discover => MessageType::Offer,
                        MessageType::Request => MessageType::Ack,
                        _ => continue,
                    };
                    let reply = dhcpv4::Repr {
                        message_type: kind,
                        transaction_id: req.transaction_id,
                        secs: 0,
                        broadcast: false,
                        client_hardware_addr: req.client_hardware_addr,
                        client_ip: req.client_ip,
                        your_ip: OFFERED,
                        server_ip: SERVER,
                        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
                        subnet_mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
                        router: Some(SERVER),
                        dns_servers: vec![Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)],
                        requested_ip: None,
                        server_identifier: Some(SERVER),
                        lease_time: Some(60),
                        renew_time: Some(30),
                        rebind_time: Some(52),
                        max_size: None,
                        client_identifier: None,
                        parameter_request_list: None,
                    };
                    let mut buf = vec![0u8; reply.buffer_len()];
                    reply.emit(&mut dhcpv4::Packet::new_unchecked(&mut buf[..]));
                    let dst = if req.client_ip.is_unspecified() {
                        Ipv4Addr::BROADCAST
                    } else {
                        req.client_ip
                    };
                    let dst_mac = if dst.is_broadcast() {
                        MacAddr::BROADCAST
                    } else {
                        src_mac
                    };
                    send_udp(eth, dst_mac, dst, &buf);
                }
                _ => {}
            }
        }
    });
}

/// Runs `body` with a stack configured by DHCP from the scripted server
/// (`script`) over the link, once its lease is bound: the stack, the
/// server's Ethernet layer, the clock and the script.
fn with_dhcp_client<F, Fut>(script: Script, body: F)
where
    F: FnOnce(
            &'static netsim::Stack,
            &'static Ethif<Endpoint>,
            &'static netsim::Clock,
            Rc<RefCell<Script>>,
        ) -> Fut
        + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let sim = Sim::new();
    let (client_net, server_net) = link(LinkConfig::default());
    let clock = sim.clock;
    let script = Rc::new(RefCell::new(script));
    sim.ex
        .block_on(async move {
            let server_eth: &'static Ethif<Endpoint> = leak(Ethif::connect(leak(server_net)));
            serve(
                &Spawner::for_current_executor().await,
                server_eth,
                clock,
                script.clone(),
            );
            let addressing = Addressing {
                ipv4: None,
                ..Addressing::both("0.0.0.0", "fd00::9")
            };
            let stack = netsim::stack(clock, client_net, addressing, 3).await;
            body(stack, server_eth, clock, script).await
        })
        .unwrap();
}

#[test]
fn dhcp_leases_renews_rebinds_and_starts_over_when_the_lease_is_lost() {
    let script = Script {
        answer_renewals: true,
        answer_rebinds: true,
        ..Script::default()
    };
    with_dhcp_client(script, |stack, server_eth, _, s| async move {
        let ipv4 = stack.ipv4();
        // Bound: the address, netmask, gateway and DNS servers.
        let config = ipv4.config().unwrap();
        assert_eq!(config.address.to_string(), "10.0.0.77/24");
        assert_eq!(config.gateway, Some(SERVER));
        let lease = ipv4.lease().unwrap();
        assert_eq!(
            lease.dns_servers,
            [Ipv4Addr::new(10, 0, 0, 53), Ipv4Addr::new(10, 0, 0, 54)]
        );
        assert_eq!(
            (lease.lease_secs, lease.renewal_secs, lease.rebinding_secs),
            (60, 30, 52)
        );
        let granted = lease.granted_at;
        {
            let seen = &s.borrow().seen;
            let kinds: Vec<_> = seen.iter().map(|x| x.0).collect();
            assert_eq!(kinds, [MessageType::Discover, MessageType::Request]);
        }
        // The address works: ARP for it is answered, UDP goes out from it.
        assert!(stack.addresses().contains(&IpAddr::V4(OFFERED)));

        // T1: a unicast renewal, answered: the lease is extended.
        sleep_ns(31 * SEC).await;
        {
            let seen = &s.borrow().seen;
            let (kind, ciaddr, dst, at) = *seen.last().unwrap();
            assert_eq!((kind, ciaddr, dst), (MessageType::Request, OFFERED, SERVER));
            assert!(at >= granted + 30 * SEC && at < granted + 31 * SEC);
        }
        let renewed = ipv4.lease().unwrap().granted_at;
        assert!(renewed > granted);

        // Now renewals go unanswered: at T2 the client rebinds by
        // broadcast, which is answered.
        s.borrow_mut().answer_renewals = false;
        sleep_ns(53 * SEC).await;
        {
            let seen = &s.borrow().seen;
            let rebind = seen
                .iter()
                .find(|x| x.2.is_broadcast() && x.1 == OFFERED)
                .expect("a rebinding request");
            assert!(rebind.3 >= renewed + 52 * SEC);
        }
        assert!(ipv4.lease().unwrap().granted_at > renewed);
        assert!(ipv4.config().is_some());

        // Silence: the lease expires, the address goes, and the client
        // starts over with a DISCOVER.
        s.borrow_mut().silent = true;
        let before = s.borrow().seen.len();
        sleep_ns(61 * SEC).await;
        assert!(ipv4.config().is_none());
        assert!(ipv4.lease().is_none());
        assert!(!stack.addresses().contains(&IpAddr::V4(OFFERED)));
        // Without an address, a unicast datagram that is not a DHCP
        // reply is not for us (RFC 1122 3.2.1.3), whatever its address.
        {
            let sock = stack.udp().bind(9).unwrap();
            let client_mac = stack.ethernet().mac();
            for dst in [OFFERED, Ipv4Addr::new(192, 0, 2, 1)] {
                send_udp_ports(server_eth, client_mac, dst, (5000, 9), b"stray");
            }
            let mut buf = [0u8; 64];
            let got = mirage::rt::timeout(SEC / 10, sock.recv_from(&mut buf)).await;
            assert!(got.is_err(), "delivered without an address: {got:?}");
        }
        assert!(
            s.borrow().seen[before..]
                .iter()
                .any(|x| x.0 == MessageType::Discover),
            "no fresh DISCOVER"
        );
        // Back in service, the client is configured again.
        s.borrow_mut().silent = false;
        sleep_ns(70 * SEC).await;
        assert_eq!(ipv4.config().map(|c| c.address.address()), Some(OFFERED));
    });
}

/// A router advertisement from `router` for `prefix`/64 with lifetimes.
fn router_advert(
    eth: &Ethif<Endpoint>,
    router: Ipv6Addr,
    prefix: Ipv6Addr,
    router_lifetime: u16,
    valid: u32,
    preferred: u32,
) {
    router_advert_with(
        eth,
        router,
        prefix,
        router_lifetime,
        valid,
        preferred,
        &[],
        0,
    )
}

/// [`router_advert`], with more prefix information options (autonomous,
/// on-link, /64, the same lifetimes) for `more` after the first, and a
/// reachable time of `reachable_ms` (0: unspecified).
#[allow(clippy::too_many_arguments)]
fn router_advert_with(
    eth: &Ethif<Endpoint>,
    router: Ipv6Addr,
    prefix: Ipv6Addr,
    router_lifetime: u16,
    valid: u32,
    preferred: u32,
    more: &[Ipv6Addr],
    reachable_ms: u32,
) {
    let ra = icmpv6::Repr::RouterAdvert {
        hop_limit: 64,
        managed: false,
        other: false,
        router_lifetime,
        reachable_time: reachable_ms,
        retrans_time: 0,
        lladdr: Some(eth.mac()),
        mtu: Some(1400),
        prefix_info: Some(PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: valid,
            preferred_lifetime: preferred,
            prefix,
        }),
    };
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let mut message = vec![0u8; ra.buffer_len()];
    ra.emit(
        &mut icmpv6::Packet::new_unchecked(&mut message[..]),
        router,
        all_nodes,
    );
    for p in more {
        let mut o = [0u8; 32];
        o[..4].copy_from_slice(&[3, 4, 64, 0xc0]);
        o[4..8].copy_from_slice(&valid.to_be_bytes());
        o[8..12].copy_from_slice(&preferred.to_be_bytes());
        o[16..].copy_from_slice(&p.octets());
        message.extend_from_slice(&o);
    }
    icmpv6::Packet::new_unchecked(&mut message[..]).fill_checksum(router, all_nodes);
    let header = ipv6::Repr {
        src_addr: router,
        dst_addr: all_nodes,
        next_header: ipv6::NextHeader::Icmpv6,
        hop_limit: 255,
        payload_len: message.len(),
        traffic_class: 0,
        flow_label: 0,
    };
    let len = header.buffer_len();
    eth.send(
        MacAddr([0x33, 0x33, 0, 0, 0, 1]),
        EtherType::Ipv6,
        len,
        |buf| {
            header.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
            buf[ipv6::HEADER_LEN..len].copy_from_slice(&message);
            len
        },
    )
    .unwrap();
}

#[test]
fn slaac_takes_every_prefix_of_a_router_advertisement() {
    // RFC 4861 6.3.4 and RFC 4862 5.5.3: each prefix information option of
    // an advertisement is processed, not only the first.
    let sim = Sim::new();
    let (host_net, router_net) = link(LinkConfig::default());
    let clock = sim.clock;
    sim.ex
        .block_on(async move {
            let router_eth: &'static Ethif<Endpoint> = leak(Ethif::connect(leak(router_net)));
            let router_ll = link_local(router_eth.mac());
            let addressing = Addressing {
                ipv6: None,
                slaac: true,
                ..Addressing::both("10.0.0.2", "::")
            };
            let host = netsim::stack(clock, host_net, addressing, 4).await;
            sleep_ns(3 * SEC).await;
            // RFC 4861 6.3.2: ReachableTime is drawn around BaseReachableTime,
            // 30 s until a router gives another (10 s below).
            let reachable = host.ipv6().reachable_time_ns();
            assert!((15 * SEC..45 * SEC).contains(&reachable), "{reachable}");
            let prefixes: [Ipv6Addr; 3] = [
                "2001:db8:1:2::".parse().unwrap(),
                "2001:db8:3:4::".parse().unwrap(),
                "fd00:5:6:7::".parse().unwrap(),
            ];
            router_advert_with(
                router_eth,
                router_ll,
                prefixes[0],
                1800,
                600,
                300,
                &prefixes[1..],
                10_000,
            );
            sleep_ns(2 * SEC).await;
            let reachable = host.ipv6().reachable_time_ns();
            assert!((5 * SEC..15 * SEC).contains(&reachable), "{reachable}");
            assert_ne!(reachable, 10 * SEC);
            let mac = host.ethernet().mac();
            let states = host.ipv6().address_states();
            for p in prefixes {
                let want = with_interface_id(p, mac);
                assert!(
                    states
                        .iter()
                        .any(|a| a.addr == want && a.state == AddrState::Preferred),
                    "no address in {p}/64: {states:?}"
                );
            }
        })
        .unwrap();
}

#[test]
fn slaac_forms_an_address_from_a_router_advertisement_and_routes_through_the_router() {
    let sim = Sim::new();
    let (host_net, router_net) = link(LinkConfig::default());
    let clock = sim.clock;
    sim.ex
        .block_on(async move {
            let router_eth: &'static Ethif<Endpoint> = leak(Ethif::connect(leak(router_net)));
            let router_mac = router_eth.mac();
            let router_ll = link_local(router_mac);
            // Count the router solicitations the host sends.
            let solicits = Rc::new(RefCell::new(0u32));
            let frames: Rc<RefCell<Vec<Vec<u8>>>> = Rc::new(RefCell::new(Vec::new()));
            let (sc, fr) = (solicits.clone(), frames.clone());
            Spawner::for_current_executor().await.spawn(async move {
                while let Ok(Some(f)) = router_eth
                    .read(|f| f.map(|f| (f.ethertype, f.payload.to_vec())))
                    .await
                    .map(|f| f.or(Some((EtherType::Unknown(0), Vec::new()))))
                {
                    if f.0 != EtherType::Ipv6 {
                        continue;
                    }
                    let p = ipv6::Packet::new_checked(&f.1[..]).unwrap();
                    if p.next_header() == ipv6::NextHeader::Icmpv6
                        && p.payload().first() == Some(&icmpv6::TYPE_ROUTER_SOLICIT)
                    {
                        *sc.borrow_mut() += 1;
                    }
                    fr.borrow_mut().push(f.1);
                }
            });
            let addressing = Addressing {
                ipv6: None,
                slaac: true,
                ..Addressing::both("10.0.0.2", "::")
            };
            let host = netsim::stack(clock, host_net, addressing, 4).await;
            // DAD of the link-local address, then router solicitations.
            sleep_ns(3 * SEC).await;
            assert!(*solicits.borrow() >= 1, "no router solicitation");
            let prefix: Ipv6Addr = "2001:db8:1:2::".parse().unwrap();
            router_advert(router_eth, router_ll, prefix, 1800, 600, 300);
            sleep_ns(2 * SEC).await;
            let mac = host.ethernet().mac();
            let slaac = with_interface_id(prefix, mac);
            let states = host.ipv6().address_states();
            let formed = states
                .iter()
                .find(|a| a.addr == slaac)
                .unwrap_or_else(|| panic!("no SLAAC address in {states:?}"));
            assert_eq!(formed.origin, Origin::Autoconf);
            assert_eq!(formed.state, AddrState::Preferred);
            assert_eq!(host.ipv6().routers(), [router_ll]);
            // The advertised MTU applies.
            assert_eq!(
                mirage::net::ip::Ip::mtu(host.ipv6(), IpAddr::V6(slaac)),
                1400 - 40
            );
            // Solicitations stop once a router answered.
            let n = *solicits.borrow();
            sleep_ns(20 * SEC).await;
            assert_eq!(*solicits.borrow(), n);
            // Off-link traffic goes to the router (resolved by NDP first),
            // from the SLAAC address.
            frames.borrow_mut().clear();
            let far: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
            host.udp()
                .send(Some(1000), IpAddr::V6(far), 9, b"far")
                .unwrap();
            sleep_ns(SEC / 10).await;
            let sent_ns = frames.borrow().iter().any(|f| {
                let p = ipv6::Packet::new_checked(&f[..]).unwrap();
                p.next_header() == ipv6::NextHeader::Icmpv6
                    && p.payload().first() == Some(&icmpv6::TYPE_NEIGHBOR_SOLICIT)
            });
            // The router's address was learnt from its advertisement: no
            // solicitation needed, the datagram goes straight out.
            let datagram = frames.borrow().iter().find_map(|f| {
                let p = ipv6::Packet::new_checked(&f[..]).unwrap();
                (p.next_header() == ipv6::NextHeader::Udp).then(|| (p.src_addr(), p.dst_addr()))
            });
            assert_eq!(datagram, Some((slaac, far)), "sent NS: {sent_ns}");
            // Preferred lifetime over: deprecated; valid lifetime over: gone.
            sleep_ns(300 * SEC).await;
            let state = host
                .ipv6()
                .address_states()
                .into_iter()
                .find(|a| a.addr == slaac);
            assert_eq!(state.map(|a| a.state), Some(AddrState::Deprecated));
            sleep_ns(300 * SEC).await;
            assert!(!host.ipv6().address_states().iter().any(|a| a.addr == slaac));
            let _ = host.net().stats();
        })
        .unwrap();
}

/// RFC 2131 4.4.1: the client checks an acknowledged address with ARP
/// before it uses it; when another station answers for it, the client
/// DECLINEs it (a MUST then) and starts over ten seconds later. Here the
/// offered address is squatted at first: declined, not used; once the
/// squatter is gone, the next round binds it.
#[test]
fn dhcp_declines_an_address_another_station_answers_for() {
    // The squatter leaves after 5 s.
    let script = Script {
        squatted_until: 5 * SEC,
        ..Script::default()
    };
    with_dhcp_client(script, |stack, _, clock, s| async move {
        let bound_at = clock.0.now();
        assert_eq!(s.borrow().declined, [OFFERED]);
        let kinds: Vec<_> = s.borrow().seen.iter().map(|x| x.0).collect();
        assert_eq!(
            kinds,
            [
                MessageType::Discover,
                MessageType::Request,
                MessageType::Decline,
                MessageType::Discover,
                MessageType::Request
            ]
        );
        let restart = s.borrow().seen[3].3;
        let declined_at = s.borrow().seen[2].3;
        assert!(restart >= declined_at + 10 * SEC, "{declined_at} {restart}");
        // Bound at last, two probes after the second ACK.
        assert!(bound_at >= restart + 2 * SEC, "{restart} {bound_at}");
        assert_eq!(stack.ipv4().config().unwrap().address.address(), OFFERED);
    });
}
