//! Two stacks over the in-memory link, on virtual time: ICMP echo over
//! both families, UDP both ways, IPv4 and IPv6 fragmentation and
//! reassembly, behaviour under loss, reordering, duplication and
//! corruption, unreachable ports, the `--ipv4-only`/`--ipv6-only`
//! switches, duplicate address detection, and bounded memory under floods
//! of fragments.

#[path = "common/netsim.rs"]
mod netsim;

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::task::{Context, Poll};

use mirage::net::MacAddr;
use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, Faults, LinkConfig};
use mirage::net::device::{NetError, Stats};
use mirage::net::ethernet::Ethernet;
use mirage::net::ip::Ip;
use mirage::net::ipv6::autoconf::AddrState;
use mirage::net::stack::Stackv4v6;
use mirage::net::udp::{Udp, UdpSocket};
use mirage::net::wire::ethernet::EtherType;
use mirage::net::wire::ipv4;
use mirage::rt::{Spawner, sleep_ns, timeout};

use netsim::{Addressing, SEC, Stack, payload, v4, v4_whole, v6};

fn hosts() -> (Addressing, Addressing) {
    (
        Addressing::both("10.0.0.1", "fd00::1"),
        Addressing::both("10.0.0.2", "fd00::2"),
    )
}

/// Receives datagrams on `port` of `stack` into a shared list.
async fn collect<S: Stackv4v6>(
    stack: &'static S,
    port: u16,
) -> Rc<RefCell<Vec<(IpAddr, Vec<u8>)>>> {
    let got = Rc::new(RefCell::new(Vec::new()));
    let sink = got.clone();
    let socket = stack.udp().bind(port).unwrap();
    Spawner::for_current_executor().await.spawn(async move {
        let mut buf = vec![0u8; 70_000];
        while let Ok((n, meta)) = socket.recv_from(&mut buf).await {
            sink.borrow_mut().push((meta.src, buf[..n].to_vec()));
        }
    });
    got
}

#[test]
fn echo_over_both_families_once_addresses_are_usable() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        // IPv6 addresses pass DAD after a second.
        assert!(a.ipv6().addresses().is_empty());
        sleep_ns(2 * SEC).await;
        let mut want = vec![v4("10.0.0.1"), v6("fd00::1")];
        want.push(IpAddr::V6(mirage::net::ipv6::addr::link_local(
            a.ethernet().mac(),
        )));
        let mut have = a.ip().addresses();
        have.sort();
        want.sort();
        assert_eq!(have, want);

        a.icmpv4().ping(v4("10.0.0.2"), 7, 1, b"ping4").unwrap();
        a.ipv6()
            .ping("fd00::2".parse().unwrap(), 8, 1, b"ping6")
            .unwrap();
        let ll_b = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        a.ipv6().ping(ll_b, 9, 1, b"ll").unwrap();
        sleep_ns(SEC).await;
        let r4 = a.icmpv4().take_replies();
        assert_eq!(r4.len(), 1);
        assert_eq!(
            (r4[0].src, r4[0].ident, &r4[0].data[..]),
            (v4("10.0.0.2"), 7, &b"ping4"[..])
        );
        let r6 = a.ipv6().take_replies();
        assert_eq!(r6.len(), 2, "{r6:?}");
        assert!(
            r6.iter()
                .any(|r| r.src == v6("fd00::2") && r.data == b"ping6")
        );
        assert!(
            r6.iter()
                .any(|r| r.src == IpAddr::V6(ll_b) && r.data == b"ll")
        );
        assert_eq!(b.icmpv4().stats().echo_replies_sent, 1);
        assert_eq!(b.ipv6().stats().echo_replies_sent, 2);

        // A task waiting for the next reply is woken by it, and takes it.
        let waiter = Spawner::for_current_executor()
            .await
            .spawn(async move { a.icmpv4().next_reply().await });
        a.icmpv4().ping(v4("10.0.0.2"), 7, 2, b"again").unwrap();
        let reply = timeout(SEC, waiter).await.expect("woken by the reply");
        assert_eq!(
            (reply.src, reply.seq_no, &reply.data[..]),
            (v4("10.0.0.2"), 2, &b"again"[..])
        );
        assert!(a.icmpv4().take_replies().is_empty());
    });
}

#[test]
fn udp_both_ways_over_both_families() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 5000).await;
        let at_b = collect(b, 7).await;
        for i in 0..50u32 {
            let dst = if i.is_multiple_of(2) {
                v4("10.0.0.2")
            } else {
                v6("fd00::2")
            };
            a.udp()
                .write(Some(5000), dst, 7, &payload(100 + i as usize, i))
                .await
                .unwrap();
        }
        let sock = b.udp().bind(0).unwrap();
        sock.send_to(b"reply", v4("10.0.0.1"), 5000).await.unwrap();
        sock.send_to(b"reply6", v6("fd00::1"), 5000).await.unwrap();
        sleep_ns(SEC).await;
        let got = at_b.borrow();
        assert_eq!(got.len(), 50);
        for (i, (src, data)) in got.iter().enumerate() {
            let i = i as u32;
            assert_eq!(
                *src,
                if i.is_multiple_of(2) {
                    v4("10.0.0.1")
                } else {
                    v6("fd00::1")
                }
            );
            assert_eq!(*data, payload(100 + i as usize, i));
        }
        let back = at_a.borrow();
        assert_eq!(
            *back,
            vec![
                (v4("10.0.0.2"), b"reply".to_vec()),
                (v6("fd00::2"), b"reply6".to_vec())
            ]
        );
        assert_eq!(b.udp().stats().delivered, 50);
    });
}

/// Two tasks receiving on one UDP socket both get a datagram, as on the
/// socket stack (whose reactor wakes every task waiting on a socket): the
/// second task's wait does not replace the first's, which then waited for
/// good while datagrams queued up. A receive dropped while waiting (a
/// `select` with a timeout) leaves no waker behind.
#[test]
fn two_tasks_receiving_on_one_udp_socket_both_get_a_datagram() {
    use mirage::rt::{Either, join, select};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// Wakes nothing.
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket: &'static _ = Box::leak(Box::new(b.udp().bind(7).unwrap()));
        let receive = || async {
            let mut buf = [0u8; 16];
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            buf[..n].to_vec()
        };
        let spawner = Spawner::for_current_executor().await;
        let first = spawner.spawn(receive());
        let second = spawner.spawn(receive());
        // (Both tasks wait on the socket before the datagrams.)
        sleep_ns(SEC).await;
        for data in [b"one", b"two"] {
            a.udp().write(None, v4("10.0.0.2"), 7, data).await.unwrap();
        }
        let both = select(join(first, second), sleep_ns(10 * SEC));
        let Either::Left((first, second)) = both.await else {
            panic!("a receiving task was never woken");
        };
        let mut got = [first, second];
        got.sort();
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        // Abandoned receives hold no waker.
        let noop = Arc::new(Noop);
        for _ in 0..100 {
            let mut buf = [0u8; 16];
            let mut recv = std::pin::pin!(socket.recv_from(&mut buf));
            let waker = Waker::from(noop.clone());
            assert!(
                recv.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
        assert_eq!(
            Arc::strong_count(&noop),
            1,
            "wakers of dropped receives are held"
        );
    });
}

/// `write` from port `Some(0)` is from an ephemeral port, as on the
/// socket stack (whose kernel binds port 0 to one), not from port 0 (which
/// no reply can reach).
#[test]
fn a_udp_write_from_port_zero_is_from_an_ephemeral_port() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket = b.udp().bind(7).unwrap();
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            // (Twice: the neighbour unknown, then known.)
            for _ in 0..2 {
                a.udp().write(Some(0), dst, 7, b"hi").await.unwrap();
                sleep_ns(SEC).await;
                let mut buf = [0u8; 4];
                let (_, meta) = socket.try_recv_from(&mut buf).unwrap().expect("received");
                assert_ne!(meta.src_port, 0, "{dst}");
            }
        }
    });
}

#[test]
fn fragmented_datagrams_reassemble_both_ways_over_both_families() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 9).await;
        let at_b = collect(b, 9).await;
        let sizes = [1473, 3000, 8000, 65_507 - 48];
        for (i, &len) in sizes.iter().enumerate() {
            let p = payload(len, i as u32);
            a.udp().write(Some(9), v4("10.0.0.2"), 9, &p).await.unwrap();
            b.udp().write(Some(9), v6("fd00::1"), 9, &p).await.unwrap();
        }
        sleep_ns(SEC).await;
        for (got, who) in [(&at_b, "b"), (&at_a, "a")] {
            let got = got.borrow();
            assert_eq!(got.len(), sizes.len(), "{who}");
            for (i, &len) in sizes.iter().enumerate() {
                assert_eq!(got[i].1, payload(len, i as u32), "{who} datagram {i}");
            }
        }
        assert_eq!(a.ipv4().stats().fragmented, sizes.len() as u64);
        assert_eq!(b.ipv4().stats().reassembled, sizes.len() as u64);
        assert_eq!(b.ipv6().stats().fragmented, sizes.len() as u64);
        assert_eq!(a.ipv6().stats().reassembled, sizes.len() as u64);
        // Nothing is left behind.
        assert_eq!(b.ipv4().reassembly(), (0, 0));
        assert_eq!(a.ipv6().reassembly(), (0, 0));
    });
}

#[test]
fn faults_lose_datagrams_but_never_corrupt_or_wedge_the_stack() {
    let faults = Faults {
        seed: 42,
        drop: 0.1,
        duplicate: 0.1,
        reorder: 0.2,
        corrupt: 0.1,
        delay_ns: 0,
    };
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig::default().with_faults(faults),
        ha,
        hb,
        move |a, b, _| async move {
            sleep_ns(5 * SEC).await;
            let at_b = collect(b, 7).await;
            let mut sent = Vec::new();
            for i in 0..400u32 {
                let dst = if i.is_multiple_of(2) {
                    v4("10.0.0.2")
                } else {
                    v6("fd00::2")
                };
                let p = payload(200 + (i as usize % 3000), i);
                // Large ones are fragmented: a lost fragment loses it all.
                a.udp().write(Some(4000), dst, 7, &p).await.unwrap();
                sent.push(p);
                sleep_ns(SEC / 100).await;
            }
            sleep_ns(40 * SEC).await;
            let got = at_b.borrow().clone();
            // Every datagram that arrived is one that was sent, intact
            // (corrupted frames fail a checksum; duplicates may repeat).
            for (_, data) in got.iter() {
                assert!(sent.contains(data), "a datagram arrived altered");
            }
            let distinct: std::collections::HashSet<_> =
                got.iter().map(|(_, d)| d.clone()).collect();
            assert!(
                distinct.len() > 150,
                "only {} of 400 datagrams arrived",
                distinct.len()
            );
            // Corrupted frames were caught somewhere below UDP (or by it).
            let caught = b.ipv4().stats().malformed
                + b.ipv6().stats().malformed
                + b.udp().stats().malformed
                + b.ethernet().dropped()
                + b.ipv4().stats().not_for_us
                + b.ipv6().stats().not_for_us;
            assert!(caught > 0);
            // Fragments that never completed were let go.
            assert_eq!(b.ipv4().reassembly(), (0, 0));
            assert_eq!(b.ipv6().reassembly(), (0, 0));
            // And the stacks still work: echo gets through (retrying).
            let mut answered = false;
            for seq in 0..20 {
                a.icmpv4().ping(v4("10.0.0.2"), 1, seq, b"x").unwrap();
                sleep_ns(SEC).await;
                if !a.icmpv4().take_replies().is_empty() {
                    answered = true;
                    break;
                }
            }
            assert!(answered);
        },
    );
}

#[test]
fn closed_ports_are_reported_by_icmp_within_a_rate_limit() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        for _ in 0..150 {
            a.udp()
                .write(None, v4("10.0.0.2"), 999, b"x")
                .await
                .unwrap();
        }
        // To a broadcast: never reported.
        a.udp()
            .write(None, v4("10.0.0.255"), 999, b"x")
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        let s = b.icmpv4().stats();
        assert_eq!(
            s.unreachable_sent,
            mirage::net::icmpv4::ERRORS_PER_SECOND as u64
        );
        assert_eq!(s.rate_limited, 150 - s.unreachable_sent);
        assert_eq!(b.udp().stats().no_listener, 151);
    });
}

#[test]
fn closed_ports_are_reported_by_icmpv6_within_a_rate_limit() {
    // RFC 4443 3.1 and 2.4 (e), (f): port unreachable for a datagram to a
    // closed port, rate-limited; never for one sent to a multicast group.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        for _ in 0..150 {
            a.udp().write(None, v6("fd00::2"), 999, b"x").await.unwrap();
        }
        a.udp().write(None, v6("ff02::1"), 999, b"x").await.unwrap();
        sleep_ns(SEC / 10).await;
        let s = b.ipv6().stats();
        let limit = mirage::net::ip::ICMP_ERRORS_PER_SECOND as u64;
        assert_eq!((s.errors_sent, s.rate_limited), (limit, 150 - limit));
        assert_eq!(b.udp().stats().no_listener, 151);
        // Each arrived at A, parsed as a port unreachable.
        assert_eq!(a.ipv6().stats().errors_received, limit);
        // The bucket fills again after a second.
        sleep_ns(SEC).await;
        a.udp().write(None, v6("fd00::2"), 999, b"x").await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(b.ipv6().stats().errors_sent, limit + 1);
        // IPv4 has its own bucket.
        assert_eq!(b.icmpv4().stats().unreachable_sent, 0);
    });
}

/// Destination port 0 is reserved and no listener can have it: a write to
/// it is `InvalidArgument` on every path, and nothing goes (as Linux's
/// `EINVAL`, which the socket stack reports the same way).
#[test]
fn udp_to_port_0_is_refused_on_every_path() {
    use mirage::net::udp::UdpError;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket = a.udp().bind(5353).unwrap();
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            let refused = Err(UdpError::InvalidArgument);
            assert_eq!(a.udp().write(None, dst, 0, b"x").await, refused);
            assert_eq!(a.udp().write(Some(5353), dst, 0, b"x").await, refused);
            assert_eq!(a.udp().write_dscp(None, dst, 0, 10, b"x").await, refused);
            assert_eq!(socket.send_to(b"x", dst, 0).await, refused);
        }
        sleep_ns(SEC / 10).await;
        assert_eq!(a.udp().stats().sent, 0);
        assert_eq!(b.udp().stats().no_listener, 0);
    });
}

/// RFC 1122 4.1.3.3: UDP passes the ICMP errors it receives to the
/// application. A socket that sent to a closed port learns it from
/// `take_error` (the port unreachable, with the datagram's destination),
/// once, over both families; an error about a datagram of no bound
/// socket (`write` from an ephemeral port) is only counted.
#[test]
fn icmp_errors_about_a_sockets_datagrams_reach_it() {
    use mirage::net::ip::IcmpErrorKind;
    use mirage::net::udp::SendError;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket = a.udp().bind(5353).unwrap();
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            assert_eq!(socket.take_error(), None);
            socket.send_to(b"anyone?", dst, 999).await.unwrap();
            sleep_ns(SEC / 10).await;
            assert_eq!(
                socket.take_error(),
                Some(SendError {
                    kind: IcmpErrorKind::PortUnreachable,
                    dst: Some((dst, 999)),
                }),
                "{dst}"
            );
            assert_eq!(socket.take_error(), None, "taken");
        }
        assert_eq!(a.udp().stats().icmp_errors, 2);
        a.udp()
            .write(None, v4("10.0.0.2"), 999, b"x")
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(a.udp().stats().icmp_errors_ignored, 1);
        assert_eq!(socket.take_error(), None);
        // TCP saw none of them.
        assert_eq!(a.direct_tcp().stats().icmp_errors, 0);
        assert_eq!(b.udp().stats().no_listener, 3);
    });
}

/// RFC 4443 2.4 (d): an ICMPv6 error message of a type this host does
/// not know MUST be passed to the upper layer that sent the packet it
/// quotes: the socket whose datagram it quotes learns it from
/// `take_error`, with its type and code.
#[test]
fn an_icmpv6_error_of_an_unknown_type_reaches_the_socket_it_quotes() {
    use mirage::net::ip::IcmpErrorKind;
    use mirage::net::udp::SendError;
    use mirage::net::wire::{icmpv6, ipv6};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket = a.udp().bind(5353).unwrap();
        let (ours, theirs): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        // The datagram quoted: our socket's to port 999 of B.
        let mut quoted = vec![0x60, 0, 0, 0, 0, 15, 17, 64];
        quoted.extend_from_slice(&ours.octets());
        quoted.extend_from_slice(&theirs.octets());
        quoted.extend_from_slice(&[0x14, 0xe9, 0x03, 0xe7, 0, 15, 0, 0]);
        // Type 100 (private experimentation, an error type), code 7.
        let mut icmp = vec![100, 7, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        icmpv6::Packet::new_unchecked(&mut icmp[..]).fill_checksum(theirs, ours);
        let send = |icmp: &[u8]| {
            raw_v6_hops(
                b.ethernet(),
                a.ethernet().mac(),
                (theirs, ours),
                ipv6::NextHeader::Icmpv6,
                64,
                icmp,
            )
        };
        send(&icmp);
        sleep_ns(SEC / 10).await;
        assert_eq!(
            socket.take_error(),
            Some(SendError {
                kind: IcmpErrorKind::Unknown {
                    icmp_type: 100,
                    code: 7
                },
                dst: Some((IpAddr::V6(theirs), 999)),
            })
        );
        let stats = a.ipv6().stats();
        assert_eq!((stats.errors_received, stats.unknown_type), (1, 0));
        // With a wrong checksum: dropped, counted as malformed.
        icmp[1] = 8;
        send(&icmp);
        sleep_ns(SEC / 10).await;
        assert_eq!(socket.take_error(), None);
        assert_eq!(a.ipv6().stats().malformed, stats.malformed + 1);
    });
}

/// RFC 1122 3.2.2.5 (SHOULD; Linux does it): a datagram for us whose IP
/// options are malformed is dropped with a parameter problem (code 0) to
/// its sender, pointing at the octet at fault, which reaches the sender's
/// socket; to a broadcast address, silently. Well-formed options (router
/// alert) are taken.
#[test]
fn malformed_ip_options_draw_a_parameter_problem() {
    use mirage::net::ip::IcmpErrorKind;
    use mirage::net::udp::SendError;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let socket = a.udp().bind(5000).unwrap();
        let at_b = collect(b, 7).await;
        // From A's port 5000 to B's port 7, "hi", behind the 4 bytes of
        // `options` (IHL 6). (The subnet's broadcast address goes in a
        // frame to B alone: only the IP destination tells it.)
        let send = |dst: &str, options: [u8; 4]| {
            let udp = [0x13, 0x88, 0, 7, 0, 10, 0, 0, b'h', b'i'];
            send_v4_with_options(a, b, dst, &options, &udp)
        };
        // Record route (7) with a length of 1: the length octet (21).
        send("10.0.0.2", [7, 1, 0, 0]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().param_problems_sent, 1);
        assert_eq!(a.icmpv4().stats().param_problem_received, 1);
        assert_eq!(
            socket.take_error(),
            Some(SendError {
                kind: IcmpErrorKind::ParameterProblem,
                dst: Some((v4("10.0.0.2"), 7)),
            })
        );
        // To the broadcast address: dropped without a word.
        send("10.0.0.255", [7, 1, 0, 0]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().param_problems_sent, 1);
        assert!(at_b.borrow().is_empty(), "none delivered");
        // The router alert option (148, length 4) is fine.
        send("10.0.0.2", [148, 4, 0, 0]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        assert_eq!(b.icmpv4().stats().param_problems_sent, 1);
    });
}

#[test]
fn an_unknown_protocol_is_reported_over_both_families() {
    // RFC 1122 3.2.2.1: protocol unreachable over IPv4; RFC 8200 4:
    // parameter problem code 1 over IPv6. Not for a broadcast, nor for
    // "no next header" (RFC 8200 4.7).
    use mirage::net::wire::ipv6::NextHeader;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_b = b.ethernet().mac();
        let v4_to = |dst: &str| v4_whole("10.0.0.1", dst, ipv4::Protocol::Unknown(253), 8);
        send_v4(a, mac_b, &v4_to("10.0.0.2"), &[0; 8]);
        send_v4(a, mac_b, &v4_to("10.0.0.255"), &[0; 8]);
        send_v6(a, b, NextHeader::Unknown(253), 64, &[0; 8]);
        // Behind a destination options header (8 bytes, padding only).
        send_v6(
            a,
            b,
            NextHeader::DestOptions,
            64,
            &[253, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        send_v6(a, b, NextHeader::NoNextHeader, 64, &[0; 8]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().unreachable_sent, 1);
        assert_eq!(a.icmpv4().stats().unreachable_received, 1);
        assert_eq!(b.ipv6().stats().errors_sent, 2);
        assert_eq!(a.ipv6().stats().errors_received, 2);
    });
}

#[test]
fn family_switches_turn_a_family_off() {
    let (mut ha, hb) = hosts();
    ha.ipv4_only = true;
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        assert_eq!(a.ip().addresses(), vec![v4("10.0.0.1")]);
        let err = a.udp().write(None, v6("fd00::2"), 7, b"x").await;
        assert!(err.is_err());
        // B pings A over IPv6: A is silent.
        b.ipv6()
            .ping("fd00::1".parse().unwrap(), 1, 1, b"x")
            .unwrap();
        sleep_ns(4 * SEC).await;
        assert!(b.ipv6().take_replies().is_empty());
        b.icmpv4().ping(v4("10.0.0.1"), 1, 1, b"x").unwrap();
        sleep_ns(SEC).await;
        assert_eq!(b.icmpv4().take_replies().len(), 1);
    });
}

/// Two hosts configured with one address: the first to probe it keeps it
/// (each host's first probe goes at a random moment of its first second,
/// RFC 4862 section 5.4.2), the other hears that probe while its own copy
/// is tentative and gives it up (section 5.4.3); the link-local addresses
/// differ and both are usable.
#[test]
fn duplicate_addresses_are_detected_and_not_used() {
    let ha = Addressing::both("10.0.0.1", "fd00::7");
    let hb = Addressing::both("10.0.0.2", "fd00::7");
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let dup: std::net::Ipv6Addr = "fd00::7".parse().unwrap();
        let mut holders = 0;
        for s in [a, b] {
            let states = s.ipv6().address_states();
            holders += states.iter().filter(|x| x.addr == dup).count();
            assert!(
                states.iter().all(|x| x.state == AddrState::Preferred),
                "{states:?}"
            );
            assert!(states.iter().any(|x| x.addr.segments()[0] == 0xfe80));
        }
        assert_eq!(holders, 1, "one host keeps the address");
    });
}

/// Hosts started together send their first DAD probes at different random
/// moments of their first second (RFC 4862 section 5.4.2), not all at
/// once: a fleet of unikernels booted together does not flood the link.
#[test]
fn the_first_dad_probes_of_hosts_started_together_go_at_random_moments() {
    let mut firsts = Vec::new();
    for seed in 1..=4u32 {
        let sim = netsim::Sim::new();
        let clock = sim.clock;
        let (na, nb) = netsim::link(LinkConfig::default());
        let first = sim
            .ex
            .block_on(async move {
                let rec = Rc::new(ReadFaults {
                    record: std::cell::Cell::new(true),
                    ..ReadFaults::default()
                });
                let flaky = FlakyDevice {
                    inner: na,
                    faults: rec.clone(),
                };
                let h = Addressing::both("10.0.0.1", "fd00::1");
                let _a = netsim::stack(clock, flaky, h, seed as u8).await;
                let _peer = nb;
                let start = mirage::Mclock::elapsed_ns(clock);
                // The first IPv6 frame the host sends is its first probe
                // or the MLD report that goes just before it.
                let ipv6 = |f: &Vec<u8>| f.get(12..14) == Some(&[0x86, 0xdd][..]);
                while !rec.written.borrow().iter().any(ipv6) {
                    sleep_ns(SEC / 100).await;
                }
                mirage::Mclock::elapsed_ns(clock) - start
            })
            .unwrap();
        assert!(first <= SEC, "{first}");
        firsts.push(first / (SEC / 100));
    }
    firsts.sort();
    firsts.dedup();
    assert!(firsts.len() >= 3, "{firsts:?}");
}

#[test]
fn a_flood_of_fragments_stays_within_the_reassembly_bounds() {
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig {
            queue_len: 100_000,
            ..LinkConfig::default()
        },
        ha,
        hb,
        move |a, b, _| async move {
            sleep_ns(2 * SEC).await;
            let mac_b = {
                a.icmpv4().ping(v4("10.0.0.2"), 1, 1, b"x").unwrap();
                sleep_ns(SEC / 10).await;
                a.arp().cached("10.0.0.2".parse().unwrap()).unwrap()
            };
            // 20000 first fragments of datagrams that never complete.
            for ident in 0..20_000u32 {
                let repr = ipv4::Repr {
                    src_addr: "10.0.0.1".parse().unwrap(),
                    dst_addr: "10.0.0.2".parse().unwrap(),
                    protocol: ipv4::Protocol::Udp,
                    ttl: 64,
                    dscp_ecn: 0,
                    payload_len: 1000,
                    ident: ident as u16,
                    dont_fragment: false,
                    more_fragments: true,
                    frag_offset: (ident / 65536 * 8) as u16,
                };
                a.ethernet()
                    .send(mac_b, EtherType::Ipv4, repr.buffer_len(), |buf| {
                        repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
                        repr.buffer_len()
                    })
                    .unwrap();
                if ident.is_multiple_of(500) {
                    sleep_ns(1000).await;
                    let (n, bytes) = b.ipv4().reassembly();
                    assert!(
                        n <= 64 && bytes <= 256 * 1024,
                        "{n} datagrams, {bytes} bytes"
                    );
                }
            }
            sleep_ns(SEC).await;
            let (n, bytes) = b.ipv4().reassembly();
            assert!(n <= 64 && bytes <= 256 * 1024);
            assert!(b.ipv4().stats().frag_dropped > 19_000);
            // Timed out after 30 s: everything is released.
            sleep_ns(31 * SEC).await;
            assert_eq!(b.ipv4().reassembly(), (0, 0));
            // B still reassembles real datagrams.
            let at_b = collect(b, 9).await;
            a.udp()
                .write(None, v4("10.0.0.2"), 9, &payload(4000, 1))
                .await
                .unwrap();
            sleep_ns(SEC).await;
            assert_eq!(at_b.borrow().len(), 1);
        },
    );
}

/// Sends, from A's device to `mac_b`, the IPv4 packet `repr` carrying
/// `payload` (built by hand: the stacks' own checks do not apply).
fn send_v4(a: &Stack, mac_b: MacAddr, repr: &ipv4::Repr, payload: &[u8]) {
    a.ethernet()
        .send(mac_b, EtherType::Ipv4, repr.buffer_len(), |buf| {
            repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
            buf[ipv4::HEADER_LEN..repr.buffer_len()].copy_from_slice(payload);
            repr.buffer_len()
        })
        .unwrap();
}

/// Sends, from A's device to `mac_b`, a UDP datagram "hi" from `src`
/// port 0x1234 to B's (10.0.0.2) `dst_port`, without a checksum (allowed
/// over IPv4).
fn send_hi_v4(a: &Stack, mac_b: MacAddr, src: &str, dst_port: u16) {
    let [hi, lo] = dst_port.to_be_bytes();
    let udp = [0x12, 0x34, hi, lo, 0, 10, 0, 0, b'h', b'i'];
    let repr = v4_whole(src, "10.0.0.2", ipv4::Protocol::Udp, udp.len());
    send_v4(a, mac_b, &repr, &udp);
}

/// RFC 1122 3.3.6: the old broadcast form with a host part of 0 (the
/// subnet's network address, 10.0.0.0/24 here) SHOULD be accepted as a
/// broadcast, as Linux does: a UDP listener gets the datagram, and a port
/// without one draws no port unreachable (no ICMP error about a
/// broadcast).
#[test]
fn datagrams_to_the_subnets_network_address_are_broadcasts() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 7).await;
        let mac_b = b.ethernet().mac();
        for port in [7u16, 8] {
            let [hi, lo] = port.to_be_bytes();
            let udp = [0x12, 0x34, hi, lo, 0, 10, 0, 0, b'h', b'i'];
            let repr = v4_whole("10.0.0.1", "10.0.0.0", ipv4::Protocol::Udp, udp.len());
            send_v4(a, mac_b, &repr, &udp);
        }
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1, "the listener's");
        assert_eq!(at_b.borrow()[0].1, b"hi");
        assert_eq!(b.icmpv4().stats().unreachable_sent, 0);
        assert_eq!(b.ipv4().stats().not_for_us, 0);
    });
}

#[test]
fn datagrams_from_a_loopback_source_are_dropped() {
    // RFC 1122 3.2.1.3 (g): 127/8 must not appear outside a host, and a
    // host must silently discard a datagram with such a source.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_b = {
            a.icmpv4().ping(v4("10.0.0.2"), 1, 1, b"x").unwrap();
            sleep_ns(SEC / 10).await;
            a.arp().cached("10.0.0.2".parse().unwrap()).unwrap()
        };
        let at_b = collect(b, 9).await;
        let send = |src: &str| send_hi_v4(a, mac_b, src, 9);
        // The same datagram from a real neighbour gets through.
        send("10.0.0.1");
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        let before = b.ipv4().stats().not_for_us;
        send("127.0.0.1");
        send("127.1.2.3");
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1, "a loopback source was delivered");
        assert_eq!(b.ipv4().stats().not_for_us, before + 2);
    });
}

#[test]
fn datagrams_from_martian_sources_are_dropped() {
    // RFC 1122 3.2.1.3: a host silently discards a datagram whose source
    // is not a valid one: "this network" (0/8) but from a host learning
    // its address (a DHCP client's broadcast), and, as Linux, our own
    // address (a spoof or a loop). RFC 4291 2.5.3: ::1 never leaves a
    // node.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_b = b.ethernet().mac();
        let at_b = collect(b, 9).await;
        let udp = [0x12, 0x34, 0, 9, 0, 10, 0, 0, b'h', b'i'];
        let send = |src: &str, dst: &str| {
            let repr = v4_whole(src, dst, ipv4::Protocol::Udp, udp.len());
            send_v4(a, mac_b, &repr, &udp);
        };
        // A DHCP client's way: from 0.0.0.0 to the limited broadcast.
        send("0.0.0.0", "255.255.255.255");
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        let before = b.ipv4().stats().not_for_us;
        send("0.0.0.0", "10.0.0.2");
        send("0.1.2.3", "10.0.0.2");
        send("10.0.0.2", "10.0.0.2");
        send("10.0.0.2", "255.255.255.255");
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1, "a martian source was delivered");
        assert_eq!(b.ipv4().stats().not_for_us, before + 4);
        // IPv6: from ::1, the same UDP datagram (checksummed for it).
        use mirage::net::wire::checksum::PseudoHeader;
        use mirage::net::wire::{ipv6, udp};
        let (_, dst) = v6_pair();
        let r = udp::Repr {
            src_port: 5000,
            dst_port: 9,
            payload: b"hi",
        };
        let send6 = |src: std::net::Ipv6Addr| {
            let mut d = vec![0u8; r.buffer_len()];
            r.emit(
                &mut udp::Packet::new_unchecked(&mut d[..]),
                &PseudoHeader::V6(src, dst),
            );
            let h = ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: ipv6::NextHeader::Udp,
                hop_limit: 64,
                payload_len: d.len(),
                traffic_class: 0,
                flow_label: 0,
            };
            a.ethernet()
                .send(mac_b, EtherType::Ipv6, h.buffer_len(), |buf| {
                    h.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
                    buf[40..h.buffer_len()].copy_from_slice(&d);
                    h.buffer_len()
                })
                .unwrap();
        };
        send6("fd00::1".parse().unwrap());
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 2);
        send6(std::net::Ipv6Addr::LOCALHOST);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 2, "a datagram from ::1 was delivered");
    });
}

/// Sends, from A to B's link address, the UDP datagram `udp` from
/// 10.0.0.1 to `dst` with the IPv4 `options` (a multiple of 4 bytes).
fn send_v4_with_options(a: &Stack, b: &Stack, dst: &str, options: &[u8], udp: &[u8]) {
    let repr = v4_whole(
        "10.0.0.1",
        dst,
        ipv4::Protocol::Udp,
        options.len() + udp.len(),
    );
    let mut packet = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut packet[..]));
    packet[20..20 + options.len()].copy_from_slice(options);
    packet[20 + options.len()..].copy_from_slice(udp);
    let mut p = ipv4::Packet::new_unchecked(&mut packet[..]);
    p.set_header_len(20 + options.len() as u8);
    p.fill_checksum();
    a.ethernet()
        .send(b.ethernet().mac(), EtherType::Ipv4, packet.len(), |buf| {
            buf[..packet.len()].copy_from_slice(&packet);
            packet.len()
        })
        .unwrap();
}

#[test]
fn ipv4_options_are_checked_and_source_routes_refused() {
    // RFC 791 3.1 / RFC 1122 3.2.1.8: options of a wrong length make the
    // header malformed. A source route, completed or not, is dropped (RFC
    // 7126 4.3's default, Linux's `accept_source_route` 0): taken, it
    // would owe TCP's replies the reversed route (RFC 1122 4.2.3.8).
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let udp = [0x12, 0x34, 0, 9, 0, 10, 0, 0, b'h', b'i'];
        let send = |options: &[u8]| send_v4_with_options(a, b, "10.0.0.2", options, &udp);
        // Taken: padding.
        send(&[1, 1, 1, 0]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        // Refused: a length of 1, loose or strict routes, completed or not.
        send(&[7, 1, 0, 0]);
        send(&[131, 7, 8, 10, 0, 0, 9, 0]);
        send(&[131, 7, 4, 10, 0, 0, 9, 0]);
        send(&[137, 7, 8, 10, 0, 0, 9, 0]);
        send(&[137, 7, 4, 10, 0, 0, 9, 0]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1, "bad options were taken");
        assert_eq!(b.ipv4().stats().malformed, 5);
    });
}

/// A's and B's IPv6 addresses in [`hosts`].
fn v6_pair() -> (std::net::Ipv6Addr, std::net::Ipv6Addr) {
    ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap())
}

/// A UDP datagram from port 5000 to port 9 carrying `payload`,
/// checksummed for A's IPv6 address to B's.
fn udp_v6(payload: &[u8]) -> Vec<u8> {
    use mirage::net::wire::checksum::PseudoHeader;
    use mirage::net::wire::udp;
    let (src, dst) = v6_pair();
    let r = udp::Repr {
        src_port: 5000,
        dst_port: 9,
        payload,
    };
    let mut d = vec![0u8; r.buffer_len()];
    r.emit(
        &mut udp::Packet::new_unchecked(&mut d[..]),
        &PseudoHeader::V6(src, dst),
    );
    d
}

/// A fragment header (of `next`, at `offset`, M flag `more`,
/// identification `ident`) followed by `data`.
fn v6_fragment(
    next: mirage::net::wire::ipv6::NextHeader,
    offset: u16,
    more: bool,
    ident: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut body = vec![0u8; 8 + data.len()];
    mirage::net::wire::ipv6::FragmentHeader {
        next_header: next,
        frag_offset: offset,
        more_fragments: more,
        ident,
    }
    .emit(&mut body[..8]);
    body[8..].copy_from_slice(data);
    body
}

/// Sends, from A's device to B's, an IPv6 packet from A's address to B's
/// whose first header is `next`, with `hop_limit` and `body` as payload
/// (built by hand: the stacks' own checks do not apply).
fn send_v6(
    a: &Stack,
    b: &Stack,
    next: mirage::net::wire::ipv6::NextHeader,
    hop_limit: u8,
    body: &[u8],
) {
    send_v6_to(a, b.ethernet().mac(), next, hop_limit, body)
}

/// [`send_v6`], in a frame to `mac`.
fn send_v6_to(
    a: &Stack,
    mac: MacAddr,
    next: mirage::net::wire::ipv6::NextHeader,
    hop_limit: u8,
    body: &[u8],
) {
    use mirage::net::wire::ipv6;
    let (src, dst) = v6_pair();
    let r = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: next,
        hop_limit,
        payload_len: body.len(),
        traffic_class: 0,
        flow_label: 0,
    };
    a.ethernet()
        .send(mac, EtherType::Ipv6, r.buffer_len(), |buf| {
            r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
            buf[40..r.buffer_len()].copy_from_slice(body);
            r.buffer_len()
        })
        .unwrap();
}

/// Sends from A to B a fragment (identification 7) of a UDP datagram
/// over IPv6.
fn send_udp_v6_fragment(a: &Stack, b: &Stack, offset: u16, more: bool, data: &[u8]) {
    use mirage::net::wire::ipv6::NextHeader;
    let body = v6_fragment(NextHeader::Udp, offset, more, 7, data);
    send_v6(a, b, NextHeader::Fragment, 64, &body);
}

#[test]
fn an_atomic_fragment_is_processed_alone_and_leaves_reassembly_alone() {
    // RFC 6946 section 4: an IPv6 fragment with offset 0 and M clear is
    // processed in isolation, not mixed with fragments of the same
    // identification (a forged one must not kill a reassembly).
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let send =
            |offset: u16, more: bool, data: &[u8]| send_udp_v6_fragment(a, b, offset, more, data);
        let whole = udp_v6(&[0x5a; 24]);
        let atomic = udp_v6(b"atomic");
        send(0, true, &whole[..16]);
        send(0, false, &atomic);
        send(16, false, &whole[16..]);
        sleep_ns(SEC / 10).await;
        let got: Vec<Vec<u8>> = at_b.borrow().iter().map(|(_, d)| d.clone()).collect();
        assert_eq!(got, vec![b"atomic".to_vec(), vec![0x5a; 24]]);
        assert_eq!(b.ipv6().reassembly(), (0, 0));
    });
}

#[test]
fn no_port_unreachable_for_a_source_that_is_not_one_host() {
    // RFC 1122 3.2.2: no ICMP error for a datagram whose source does not
    // define a single host (the zero address, class E).
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_b = b.ethernet().mac();
        let send = |src: &str| send_hi_v4(a, mac_b, src, 4444);
        // From a host: answered.
        send("10.0.0.1");
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().unreachable_sent, 1);
        send("0.0.0.0");
        send("240.0.0.1");
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().unreachable_sent, 1);
    });
}

#[test]
fn no_icmp_error_about_a_datagram_sent_as_a_link_layer_broadcast() {
    // RFC 1122 3.2.2 and RFC 4443 2.4 (e.3, e.4): no ICMP error about a
    // datagram received as a link-layer broadcast or multicast, even to
    // our unicast address.
    use mirage::net::wire::ipv6::NextHeader;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_b = b.ethernet().mac();
        // Unicast frames: answered (closed port, unknown next header).
        send_hi_v4(a, mac_b, "10.0.0.1", 4444);
        send_v6(a, b, NextHeader::Unknown(253), 64, &[0; 8]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.icmpv4().stats().unreachable_sent, 1);
        assert_eq!(b.ipv6().stats().errors_sent, 1);
        // The same in frames to the broadcast and to a multicast address.
        for mac in [MacAddr::BROADCAST, MacAddr([0x33, 0x33, 0, 0, 0, 1])] {
            send_hi_v4(a, mac, "10.0.0.1", 4444);
            send_v6_to(a, mac, NextHeader::Unknown(253), 64, &[0; 8]);
        }
        sleep_ns(SEC / 10).await;
        assert_eq!(b.udp().stats().no_listener, 3);
        assert_eq!(b.icmpv4().stats().unreachable_sent, 1);
        assert_eq!(b.ipv6().stats().errors_sent, 1);
    });
}

#[test]
fn neighbour_discovery_in_fragments_is_ignored() {
    // RFC 6980 section 5: NDP messages carried in IPv6 fragments (atomic
    // ones included) are silently ignored.
    use mirage::net::wire::{icmpv6, ipv6};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let (src, dst) = v6_pair();
        let ns = icmpv6::Repr::NeighborSolicit {
            target_addr: dst,
            lladdr: Some(a.ethernet().mac()),
        };
        let mut icmp = vec![0u8; ns.buffer_len()];
        ns.emit(&mut icmpv6::Packet::new_unchecked(&mut icmp[..]), src, dst);
        let send = |frag: Option<(u16, bool)>, data: &[u8]| match frag {
            Some((offset, more)) => {
                let body = v6_fragment(ipv6::NextHeader::Icmpv6, offset, more, 9, data);
                send_v6(a, b, ipv6::NextHeader::Fragment, 255, &body);
            }
            None => send_v6(a, b, ipv6::NextHeader::Icmpv6, 255, data),
        };
        let before = b.ipv6().stats().nd_dropped;
        // Whole: taken.
        send(None, &icmp);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.ipv6().stats().nd_dropped, before);
        // Atomic fragment, then two fragments: ignored.
        send(Some((0, false)), &icmp);
        send(Some((0, true)), &icmp[..16]);
        send(Some((16, false)), &icmp[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.ipv6().stats().nd_dropped, before + 2);
    });
}

#[test]
fn overlapping_ipv6_fragments_drop_the_datagram_even_when_they_agree() {
    // RFC 8200 section 4.5 (RFC 5722): if fragments of an IPv6 datagram
    // overlap, the datagram is discarded (exact duplicates may be dropped
    // alone).
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let send =
            |offset: u16, more: bool, data: &[u8]| send_udp_v6_fragment(a, b, offset, more, data);
        let whole = udp_v6(&[0x5a; 24]);
        // An exact duplicate is harmless.
        send(0, true, &whole[..16]);
        send(0, true, &whole[..16]);
        send(16, false, &whole[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        // A partial overlap, though its bytes agree, discards it all.
        send(0, true, &whole[..16]);
        send(8, true, &whole[8..24]);
        send(16, false, &whole[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1, "overlapping fragments reassembled");
        // (The last fragment, after the discard, starts afresh.)
        assert_eq!(b.ipv6().reassembly(), (1, 16));
    });
}

#[test]
fn a_hop_by_hop_header_after_a_fragment_header_is_malformed() {
    // RFC 8200 section 4.1: the hop-by-hop options header may only come
    // right after the IPv6 header, not after a fragment header.
    use mirage::net::wire::ipv6;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let send = |next: ipv6::NextHeader, offset: u16, more: bool, data: &[u8]| {
            let body = v6_fragment(next, offset, more, 7, data);
            send_v6(a, b, ipv6::NextHeader::Fragment, 64, &body);
        };
        let udp = udp_v6(b"hbh");
        // Hop-by-hop: next header UDP, length 0, a PadN option of 4.
        let mut hbh = vec![17, 0, 1, 4, 0, 0, 0, 0];
        hbh.extend_from_slice(&udp);
        // A UDP fragment gets through (atomic, then in two pieces).
        send(ipv6::NextHeader::Udp, 0, false, &udp);
        send(ipv6::NextHeader::Udp, 0, true, &udp[..8]);
        send(ipv6::NextHeader::Udp, 8, false, &udp[8..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 2);
        let before = b.ipv6().stats().malformed;
        send(ipv6::NextHeader::HopByHop, 0, false, &hbh);
        send(ipv6::NextHeader::HopByHop, 0, true, &hbh[..8]);
        send(ipv6::NextHeader::HopByHop, 8, false, &hbh[8..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(
            at_b.borrow().len(),
            2,
            "hop-by-hop after a fragment accepted"
        );
        assert_eq!(b.ipv6().stats().malformed, before + 2);
    });
}

#[test]
fn a_datagram_refused_as_too_big_is_not_counted_as_sent() {
    // Ipv4Stats::sent (and Ipv6Stats::sent) counts datagrams sent; one refused for the MTU with
    // fragmentation forbidden is not, and takes no identification.
    use mirage::net::ip::{IpError, SendOptions};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, _b, _| async move {
        sleep_ns(2 * SEC).await;
        let before = a.ipv4().stats().sent;
        let options = SendOptions {
            ttl: None,
            fragment: false,
            ..Default::default()
        };
        let r = a
            .ipv4()
            .send(None, v4("10.0.0.2"), 17, options, 2000, |_, buf| {
                buf.fill(0)
            });
        assert!(matches!(r, Err(IpError::TooBig { .. })), "{r:?}");
        assert_eq!(a.ipv4().stats().sent, before);
        // The same over IPv6.
        let before = a.ipv6().stats().sent;
        let r = a
            .ipv6()
            .send(None, v6("fd00::2"), 17, options, 2000, |_, buf| buf.fill(0));
        assert!(matches!(r, Err(IpError::TooBig { .. })), "{r:?}");
        assert_eq!(a.ipv6().stats().sent, before);
    });
}

#[test]
fn an_ipv6_fragment_not_a_multiple_of_8_with_more_to_come_is_discarded() {
    // RFC 8200 section 4.5: a fragment whose length is not a multiple of
    // 8 and whose M flag is set must be discarded.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let send =
            |offset: u16, more: bool, data: &[u8]| send_udp_v6_fragment(a, b, offset, more, data);
        let whole = udp_v6(&[0x5a; 24]);
        let before = b.ipv6().stats().malformed;
        send(0, true, &whole[..12]);
        sleep_ns(SEC / 10).await;
        assert_eq!(b.ipv6().reassembly(), (0, 0));
        assert_eq!(b.ipv6().stats().malformed, before + 1);
        // Fragments of a multiple of 8 still reassemble.
        send(0, true, &whole[..16]);
        send(16, false, &whole[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
    });
}

#[test]
fn ipv4_fragments_beyond_65535_bytes_with_the_header_are_dropped() {
    // RFC 791: the total length, header included, is at most 65535; the
    // fragments of a "datagram" whose payload ends past 65515 (after a
    // 20-byte header) are dropped (ping of death), not reassembled.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let mac_b = b.ethernet().mac();
        let send_all = |len: usize, ident: u16| {
            // UDP to port 9 with no checksum, `len` bytes in all.
            let mut whole = vec![0x33u8; len];
            whole[..8].copy_from_slice(&[0x12, 0x34, 0, 9, (len >> 8) as u8, len as u8, 0, 0]);
            for (i, chunk) in whole.chunks(1480).enumerate() {
                let offset = i * 1480;
                let repr = ipv4::Repr {
                    src_addr: "10.0.0.1".parse().unwrap(),
                    dst_addr: "10.0.0.2".parse().unwrap(),
                    protocol: ipv4::Protocol::Udp,
                    ttl: 64,
                    dscp_ecn: 0,
                    payload_len: chunk.len(),
                    ident,
                    dont_fragment: false,
                    more_fragments: offset + chunk.len() < len,
                    frag_offset: offset as u16,
                };
                send_v4(a, mac_b, &repr, chunk);
            }
        };
        // The largest: 65515 bytes of payload.
        send_all(65_515, 1);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 1);
        send_all(65_520, 2);
        sleep_ns(SEC / 10).await;
        assert_eq!(
            at_b.borrow().len(),
            1,
            "a datagram over 65535 bytes was reassembled"
        );
    });
}

#[test]
fn a_write_to_a_silent_neighbour_fails_on_an_idle_stack() {
    // Nothing else happens on the stack: the resolution's retries must
    // still run (the write's own task waits for them), and the write
    // fails instead of waiting for ever.
    for dst in [v4("10.0.0.98"), v6("fd00::98")] {
        let (ha, hb) = hosts();
        netsim::pair(LinkConfig::default(), ha, hb, move |a, _b, _| async move {
            sleep_ns(30 * SEC).await;
            let r = timeout(20 * SEC, a.udp().write(None, dst, 9, b"x")).await;
            assert_eq!(
                r,
                Ok(Err(mirage::net::udp::UdpError::Ip(
                    mirage::net::ip::IpError::HostUnreachable(dst)
                ))),
                "{dst}"
            );
        });
    }
}

#[test]
fn a_silent_peer_times_out_resolution_without_blocking_others() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        // Nobody has 10.0.0.99 or fd00::99. Sent without waiting, the
        // datagrams are queued, then dropped and counted.
        for _ in 0..3 {
            a.udp().send(None, v4("10.0.0.99"), 9, b"x").unwrap();
            a.udp().send(None, v6("fd00::99"), 9, b"x").unwrap();
        }
        // Written (waiting for resolution), they fail after the retries.
        let failures = Rc::new(RefCell::new(Vec::new()));
        for dst in [v4("10.0.0.98"), v6("fd00::98")] {
            let failures = failures.clone();
            Spawner::for_current_executor().await.spawn(async move {
                let r = a.udp().write(None, dst, 9, b"x").await;
                failures.borrow_mut().push((dst, r));
            });
        }
        // Meanwhile others are reached at once.
        let at_b = collect(b, 9).await;
        a.udp().write(None, v4("10.0.0.2"), 9, b"ok").await.unwrap();
        a.udp().write(None, v6("fd00::2"), 9, b"ok").await.unwrap();
        let r = timeout(SEC, async {
            while at_b.borrow().len() < 2 {
                sleep_ns(SEC / 100).await;
            }
        })
        .await;
        assert!(r.is_ok());
        assert!(failures.borrow().is_empty());
        sleep_ns(10 * SEC).await;
        let failures = failures.borrow();
        assert_eq!(failures.len(), 2);
        for (dst, r) in failures.iter() {
            assert_eq!(
                r,
                &Err(mirage::net::udp::UdpError::Ip(
                    mirage::net::ip::IpError::HostUnreachable(*dst)
                ))
            );
        }
        assert_eq!(a.arp().stats().dropped, 3);
        assert!(a.arp().cached("10.0.0.99".parse().unwrap()).is_none());
        assert_eq!(a.ipv6().neighbour("fd00::99".parse().unwrap()), None);
    });
}

/// Valid frames from the peer `src_mac`/10.0.0.9/fe80::9 to `dst_mac`:
/// ARP, ICMP echo, UDP, an IPv4 fragment, ICMPv6 echo, neighbour
/// solicitation and advertisement, a router advertisement, UDP over IPv6,
/// and a DHCP offer.
fn valid_frames(src_mac: mirage::net::MacAddr, dst_mac: mirage::net::MacAddr) -> Vec<Vec<u8>> {
    use mirage::net::wire::checksum::PseudoHeader;
    use mirage::net::wire::{arp, ethernet, icmpv4, icmpv6, ipv6, udp};
    use std::net::{Ipv4Addr, Ipv6Addr};
    let me4 = Ipv4Addr::new(10, 0, 0, 9);
    let a4 = Ipv4Addr::new(10, 0, 0, 1);
    let me6: Ipv6Addr = "fe80::9".parse().unwrap();
    let a6: Ipv6Addr = "fd00::1".parse().unwrap();
    let frame = |ethertype: EtherType, payload: Vec<u8>| {
        let mut f = vec![0u8; 14 + payload.len()];
        ethernet::Repr {
            src_addr: src_mac,
            dst_addr: dst_mac,
            ethertype,
        }
        .emit(&mut ethernet::Packet::new_unchecked(&mut f[..]));
        f[14..].copy_from_slice(&payload);
        f
    };
    let v4 = |protocol: ipv4::Protocol, body: Vec<u8>, more: bool, offset: u16| {
        let r = ipv4::Repr {
            src_addr: me4,
            dst_addr: a4,
            protocol,
            ttl: 64,
            dscp_ecn: 0,
            payload_len: body.len(),
            ident: 77,
            dont_fragment: false,
            more_fragments: more,
            frag_offset: offset,
        };
        let mut p = vec![0u8; r.buffer_len()];
        r.emit(&mut ipv4::Packet::new_unchecked(&mut p[..]));
        p[20..].copy_from_slice(&body);
        frame(EtherType::Ipv4, p)
    };
    let v6 = |next: ipv6::NextHeader, dst: Ipv6Addr, hop: u8, body: Vec<u8>| {
        let r = ipv6::Repr {
            src_addr: me6,
            dst_addr: dst,
            next_header: next,
            hop_limit: hop,
            payload_len: body.len(),
            traffic_class: 0,
            flow_label: 0,
        };
        let mut p = vec![0u8; r.buffer_len()];
        r.emit(&mut ipv6::Packet::new_unchecked(&mut p[..]));
        p[40..].copy_from_slice(&body);
        frame(EtherType::Ipv6, p)
    };
    let udp_body = |ph: PseudoHeader, payload: &[u8]| {
        let r = udp::Repr {
            src_port: 67,
            dst_port: 68,
            payload,
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut udp::Packet::new_unchecked(&mut b[..]), &ph);
        b
    };
    let icmp6 = |r: icmpv6::Repr<'_>, dst: Ipv6Addr| {
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut icmpv6::Packet::new_unchecked(&mut b[..]), me6, dst);
        b
    };
    let mut out = Vec::new();
    let mut a = vec![0u8; 28];
    arp::Repr {
        operation: arp::Operation::Request,
        source_hardware_addr: src_mac,
        source_protocol_addr: me4,
        target_hardware_addr: mirage::net::MacAddr::default(),
        target_protocol_addr: a4,
    }
    .emit(&mut arp::Packet::new_unchecked(&mut a[..]));
    out.push(frame(EtherType::Arp, a));
    let echo = icmpv4::Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data: b"hostile",
    };
    let mut e = vec![0u8; echo.buffer_len()];
    echo.emit(&mut icmpv4::Packet::new_unchecked(&mut e[..]));
    out.push(v4(ipv4::Protocol::Icmp, e, false, 0));
    out.push(v4(
        ipv4::Protocol::Udp,
        udp_body(PseudoHeader::V4(me4, a4), b"datagram"),
        false,
        0,
    ));
    out.push(v4(ipv4::Protocol::Udp, vec![7u8; 64], true, 0));
    out.push(v4(ipv4::Protocol::Udp, vec![7u8; 64], false, 64));
    let mut offer = vec![0u8; 300];
    let dhcp = mirage::net::wire::dhcpv4::Repr {
        message_type: mirage::net::wire::dhcpv4::MessageType::Offer,
        transaction_id: 1,
        secs: 0,
        broadcast: false,
        client_hardware_addr: dst_mac,
        client_ip: Ipv4Addr::UNSPECIFIED,
        your_ip: Ipv4Addr::new(10, 0, 0, 5),
        server_ip: me4,
        relay_agent_ip: Ipv4Addr::UNSPECIFIED,
        subnet_mask: None,
        router: None,
        dns_servers: vec![],
        requested_ip: None,
        server_identifier: Some(me4),
        lease_time: Some(60),
        renew_time: None,
        rebind_time: None,
        max_size: None,
        client_identifier: None,
        parameter_request_list: None,
    };
    offer.resize(dhcp.buffer_len(), 0);
    dhcp.emit(&mut mirage::net::wire::dhcpv4::Packet::new_unchecked(
        &mut offer[..],
    ));
    out.push(v4(
        ipv4::Protocol::Udp,
        udp_body(PseudoHeader::V4(me4, a4), &offer),
        false,
        0,
    ));
    out.push(v6(
        ipv6::NextHeader::Icmpv6,
        a6,
        64,
        icmp6(
            icmpv6::Repr::EchoRequest {
                ident: 1,
                seq_no: 1,
                data: b"v6",
            },
            a6,
        ),
    ));
    let sn: Ipv6Addr = "ff02::1:ff00:1".parse().unwrap();
    out.push(v6(
        ipv6::NextHeader::Icmpv6,
        sn,
        255,
        icmp6(
            icmpv6::Repr::NeighborSolicit {
                target_addr: a6,
                lladdr: Some(src_mac),
            },
            sn,
        ),
    ));
    out.push(v6(
        ipv6::NextHeader::Icmpv6,
        a6,
        255,
        icmp6(
            icmpv6::Repr::NeighborAdvert {
                router: false,
                solicited: true,
                override_: true,
                target_addr: me6,
                lladdr: Some(src_mac),
            },
            a6,
        ),
    ));
    let all: Ipv6Addr = "ff02::1".parse().unwrap();
    out.push(v6(
        ipv6::NextHeader::Icmpv6,
        all,
        255,
        icmp6(
            icmpv6::Repr::RouterAdvert {
                hop_limit: 64,
                managed: false,
                other: false,
                router_lifetime: 100,
                reachable_time: 0,
                retrans_time: 0,
                lladdr: Some(src_mac),
                mtu: Some(1300),
                prefix_info: Some(icmpv6::PrefixInfo {
                    prefix_len: 64,
                    on_link: true,
                    autonomous: true,
                    valid_lifetime: 100,
                    preferred_lifetime: 50,
                    prefix: "2001:db8::".parse().unwrap(),
                }),
            },
            all,
        ),
    ));
    out.push(v6(
        ipv6::NextHeader::Udp,
        a6,
        64,
        udp_body(PseudoHeader::V6(me6, a6), b"v6 datagram"),
    ));
    out
}

#[test]
fn hostile_frames_are_dropped_and_counted_never_a_panic() {
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig {
            queue_len: 1_000_000,
            ..LinkConfig::default()
        },
        ha,
        hb,
        move |a, b, _| async move {
            sleep_ns(2 * SEC).await;
            let (src, dst) = (b.ethernet().mac(), a.ethernet().mac());
            let frames = valid_frames(src, dst);
            let raw = b.net();
            let inject = |f: &[u8]| {
                raw.try_write(f.len(), |buf| {
                    buf[..f.len()].copy_from_slice(f);
                    f.len()
                })
                .unwrap();
            };
            let mut rng = 0x2545_f491_4f6c_dd1du64;
            let mut next = move || {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng
            };
            for (i, f) in frames.iter().enumerate() {
                // Every truncation.
                for n in 0..f.len() {
                    inject(&f[..n]);
                }
                // Bit flips and byte overwrites anywhere.
                for _ in 0..300 {
                    let mut g = f.clone();
                    let at = next() as usize % g.len();
                    if next() % 2 == 0 {
                        g[at] ^= 1 << (next() % 8);
                    } else {
                        g[at] = next() as u8;
                    }
                    inject(&g);
                }
                // Garbage after the valid frame.
                let mut g = f.clone();
                g.extend((0..40).map(|_| next() as u8));
                inject(&g);
                if i % 3 == 0 {
                    sleep_ns(1000).await;
                }
            }
            // Pure noise, of every length, with our MAC as destination.
            for _ in 0..3000 {
                let len = next() as usize % 1514;
                let mut g: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                if g.len() >= 14 {
                    g[..6].copy_from_slice(&dst.0);
                }
                inject(&g);
            }
            sleep_ns(SEC).await;
            let s4 = a.ipv4().stats();
            let s6 = a.ipv6().stats();
            assert!(a.ethernet().dropped() > 0);
            assert!(s4.malformed > 100, "{s4:?}");
            assert!(s6.malformed > 100, "{s6:?}");
            assert!(a.arp().stats().malformed > 0);
            assert!(a.udp().stats().malformed > 0);
            assert!(a.icmpv4().stats().malformed > 0);
            // Hostile neighbour discovery was refused somewhere.
            assert!(s6.nd_dropped > 0 || s6.malformed > 0);
            // Memory stays bounded and the stack still answers.
            assert!(a.ipv4().reassembly().1 <= 256 * 1024);
            assert!(a.ipv6().neighbours_len() <= 1024);
            sleep_ns(60 * SEC).await;
            b.icmpv4().take_replies();
            b.icmpv4().ping(v4("10.0.0.1"), 5, 5, b"alive").unwrap();
            b.ipv6()
                .ping("fd00::1".parse().unwrap(), 5, 5, b"alive")
                .unwrap();
            sleep_ns(SEC).await;
            assert_eq!(b.icmpv4().take_replies().len(), 1);
            assert!(b.ipv6().take_replies().iter().any(|r| r.data == b"alive"));
        },
    );
}

/// An endpoint of the in-memory link whose reads fail with a device error
/// (before taking a frame) while `failing` is above zero, each failed read
/// counting it down, as a backend with a transient I/O failure does; and
/// whose `fail_write`th write (counting from 1) fails so.
struct FlakyDevice {
    inner: Endpoint,
    faults: Rc<ReadFaults>,
}

/// What a test sets and reads of a [`FlakyDevice`].
#[derive(Default)]
struct ReadFaults {
    /// Reads still to fail.
    failing: Cell<u32>,
    /// Reads tried.
    reads: Cell<u64>,
    /// An MTU the device reports instead of the link's (a device whose MTU
    /// drops while the stack runs).
    reported_mtu: Cell<Option<usize>>,
    /// The frames read, when `record` is set.
    recorded: RefCell<Vec<Vec<u8>>>,
    /// Whether to keep the frames read in `recorded` (and those written in
    /// `written`).
    record: Cell<bool>,
    /// The frames written, when `record` is set.
    written: RefCell<Vec<Vec<u8>>>,
    /// Writes tried.
    writes: Cell<u64>,
    /// Which write fails (0: none).
    fail_write: Cell<u64>,
}

impl FlakyDevice {
    /// `handle`, keeping a copy of the frame when recording.
    fn recording<'h, R>(
        &'h self,
        handle: impl FnOnce(&[u8]) -> R + 'h,
    ) -> impl FnOnce(&[u8]) -> R + 'h {
        move |bytes| {
            if self.faults.record.get() {
                self.faults.recorded.borrow_mut().push(bytes.to_vec());
            }
            handle(bytes)
        }
    }

    fn tried(&self) -> Result<(), NetError> {
        let f = &self.faults;
        f.reads.set(f.reads.get() + 1);
        match f.failing.get() {
            0 => Ok(()),
            n => {
                f.failing.set(n - 1);
                Err(NetError::Device("injected read failure".into()))
            }
        }
    }
}

impl Network for FlakyDevice {
    fn mac(&self) -> MacAddr {
        self.inner.mac()
    }
    fn mtu(&self) -> usize {
        self.faults
            .reported_mtu
            .get()
            .unwrap_or_else(|| self.inner.mtu())
    }
    fn stats(&self) -> Stats {
        self.inner.stats()
    }
    fn reset_stats(&self) {
        self.inner.reset_stats()
    }
    async fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError> {
        self.inner.write(len, fill).await
    }
    fn try_write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        let f = &self.faults;
        f.writes.set(f.writes.get() + 1);
        if f.writes.get() == f.fail_write.get() {
            return Err(NetError::Device("injected write failure".into()));
        }
        self.inner.try_write(len, |frame| {
            let n = fill(frame);
            if f.record.get() {
                f.written.borrow_mut().push(frame[..n].to_vec());
            }
            n
        })
    }
    async fn read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<R, NetError> {
        self.tried()?;
        self.inner.read(self.recording(handle)).await
    }
    fn poll_read<R>(
        &self,
        cx: &mut Context<'_>,
        handle: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R, NetError>> {
        if let Err(e) = self.tried() {
            return Poll::Ready(Err(e));
        }
        self.inner.poll_read(cx, self.recording(handle))
    }
    fn try_read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        self.tried()?;
        self.inner.try_read(self.recording(handle))
    }
}

/// Stack B over a [`FlakyDevice`].
type FlakyStack = mirage::net::stack::DirectStack<FlakyDevice, netsim::Clock>;

/// Stacks A (over a plain endpoint) and B (over a [`FlakyDevice`]), on
/// virtual time; `body` gets both and the faults of B's device.
fn flaky_pair<F, Fut>(body: F)
where
    F: FnOnce(&'static Stack, &'static FlakyStack, Rc<ReadFaults>) -> Fut + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let (ha, hb) = hosts();
    flaky_pair_with(ha, hb, body)
}

/// [`flaky_pair`] with A addressed by `ha`, B by `hb`.
fn flaky_pair_with<F, Fut>(ha: Addressing, hb: Addressing, body: F)
where
    F: FnOnce(&'static Stack, &'static FlakyStack, Rc<ReadFaults>) -> Fut + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    flaky_pair_from(ha, hb, ReadFaults::default(), body)
}

/// [`flaky_pair_with`] whose device at B starts with `faults` (recording
/// from the first frame, say).
fn flaky_pair_from<F, Fut>(ha: Addressing, hb: Addressing, faults: ReadFaults, body: F)
where
    F: FnOnce(&'static Stack, &'static FlakyStack, Rc<ReadFaults>) -> Fut + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let sim = netsim::Sim::new();
    let clock = sim.clock;
    let (na, nb) = netsim::link(LinkConfig::default());
    sim.ex
        .block_on(async move {
            let a = netsim::stack(clock, na, ha, 1).await;
            let faults = Rc::new(faults);
            let flaky = FlakyDevice {
                inner: nb,
                faults: faults.clone(),
            };
            let b = netsim::stack(clock, flaky, hb, 2).await;
            body(a, b, faults).await
        })
        .unwrap();
}

#[test]
fn transient_device_errors_pause_reading_but_lose_nothing() {
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 7).await;
        // Warm ARP up, then make the next five reads fail.
        a.udp()
            .write(Some(5000), v4("10.0.0.2"), 7, b"first")
            .await
            .unwrap();
        sleep_ns(SEC).await;
        faults.failing.set(5);
        for i in 0..40u32 {
            a.udp()
                .write(Some(5000), v4("10.0.0.2"), 7, &payload(64, i))
                .await
                .unwrap();
            sleep_ns(SEC / 100).await;
        }
        sleep_ns(2 * SEC).await;
        assert_eq!(
            faults.failing.get(),
            0,
            "the runner read again after errors"
        );
        // The frames waited in the device's queue while reading paused:
        // every datagram arrived, in order.
        let got = at_b.borrow().clone();
        assert_eq!(got.len(), 41);
        assert_eq!(got[0].1, b"first");
        for (i, (_, data)) in got[1..].iter().enumerate() {
            assert_eq!(*data, payload(64, i as u32));
        }
        // And the stack still answers.
        a.udp()
            .write(Some(5000), v4("10.0.0.2"), 7, b"later")
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow().len(), 42);
    });
}

/// An IP layer sends at once, without a resolution to await, when the
/// next hop's link-layer address is known, on both families; before, it
/// says it cannot (and sends nothing).
#[test]
fn sends_to_a_resolved_neighbour_need_no_resolution_on_both_families() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let at_b = collect(b, 7).await;
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            let ip = a.ip();
            // A UDP datagram from port 5000 to 7 without a checksum.
            let datagram = |_: IpAddr, buf: &mut [u8]| {
                let mut header = [0u8; 8];
                header[..2].copy_from_slice(&5000u16.to_be_bytes());
                header[2..4].copy_from_slice(&7u16.to_be_bytes());
                header[4..6].copy_from_slice(&(buf.len() as u16).to_be_bytes());
                buf[..8].copy_from_slice(&header);
                buf[8..].fill(0x5a);
            };
            let before = ip.send_resolved(None, dst, 17, Default::default(), 16, datagram);
            assert!(before.is_none(), "{dst}: sent before resolution");
            ip.resolve(dst).await.unwrap();
            let after = ip.send_resolved(None, dst, 17, Default::default(), 16, datagram);
            assert!(matches!(after, Some(Ok(true))), "{dst}: {after:?}");
        }
        // A source that is not ours: an error, nothing sent.
        let foreign = a.ip().send_resolved(
            Some(v6("fd00::99")),
            v6("fd00::2"),
            17,
            Default::default(),
            16,
            |_, buf: &mut [u8]| buf.fill(0),
        );
        assert!(matches!(foreign, Some(Err(_))), "{foreign:?}");
        sleep_ns(SEC / 10).await;
        // (Without a checksum, B takes the IPv4 one only: RFC 8200 makes
        // the UDP checksum mandatory over IPv6.)
        assert_eq!(at_b.borrow().len(), 1);
    });
}

#[test]
fn a_device_that_keeps_failing_is_retried_slowly_not_in_a_spin() {
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 7).await;
        // Warm ARP up (B must read A's request to answer it), then make
        // every read fail.
        a.udp()
            .write(Some(5000), v4("10.0.0.2"), 7, b"first")
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(at_b.borrow_mut().drain(..).count(), 1);
        faults.failing.set(u32::MAX);
        let reads = faults.reads.get();
        for i in 0..20u32 {
            a.udp()
                .write(Some(5000), v4("10.0.0.2"), 7, &payload(64, i))
                .await
                .unwrap_or_else(|e| panic!("write {i}: {e:?}"));
            sleep_ns(SEC).await;
        }
        // 20 s of errors: pauses of 1, 2, 4 ... ms up to 1 s, so about 30
        // reads, not millions.
        let tried = faults.reads.get() - reads;
        assert!(
            (10..=60).contains(&tried),
            "{tried} reads in 20 s of errors"
        );
        assert!(at_b.borrow().is_empty());
        // When the device recovers, reading resumes within the pause and
        // the queued datagrams arrive.
        faults.failing.set(0);
        sleep_ns(2 * SEC).await;
        assert_eq!(at_b.borrow().len(), 20, "reading resumed after recovery");
    });
}

#[test]
fn a_reassembly_timeout_is_reported_with_time_exceeded_if_the_first_fragment_came() {
    // RFC 792, RFC 1122 3.3.2 (IPv4) and RFC 8200 4.5 (IPv6): when the
    // reassembly of a datagram times out and its first fragment arrived,
    // time exceeded (code 1) goes to its source, quoting that fragment;
    // not when only later fragments came, nor for a broadcast.
    use mirage::net::wire::{icmpv4, icmpv6, ipv6};
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let mac_a = a.ethernet().mac();
        faults.record.set(true);
        let v4_fragment = |dst: &str, ident: u16, offset: u16| {
            let repr = ipv4::Repr {
                src_addr: "10.0.0.2".parse().unwrap(),
                dst_addr: dst.parse().unwrap(),
                protocol: ipv4::Protocol::Udp,
                ttl: 64,
                dscp_ecn: 0,
                payload_len: 16,
                ident,
                dont_fragment: false,
                more_fragments: true,
                frag_offset: offset,
            };
            let mut packet = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ipv4::Packet::new_unchecked(&mut packet[..]));
            for (i, x) in packet[20..].iter_mut().enumerate() {
                *x = i as u8 + 1;
            }
            packet
        };
        let (src6, dst6): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        let v6_first = {
            let body = v6_fragment(ipv6::NextHeader::Udp, 0, true, 0x77, &[9u8; 16]);
            let r = ipv6::Repr {
                src_addr: src6,
                dst_addr: dst6,
                next_header: ipv6::NextHeader::Fragment,
                hop_limit: 64,
                payload_len: body.len(),
                traffic_class: 0,
                flow_label: 0,
            };
            let mut packet = vec![0u8; r.buffer_len()];
            r.emit(&mut ipv6::Packet::new_unchecked(&mut packet[..]));
            packet[40..].copy_from_slice(&body);
            packet
        };
        let first4 = v4_fragment("10.0.0.1", 0x4242, 0);
        let frames: [(EtherType, Vec<u8>); 4] = [
            (EtherType::Ipv4, first4.clone()),
            // Only a later fragment; and a first one to a broadcast.
            (EtherType::Ipv4, v4_fragment("10.0.0.1", 0x4343, 8)),
            (EtherType::Ipv4, v4_fragment("10.0.0.255", 0x4444, 0)),
            (EtherType::Ipv6, v6_first.clone()),
        ];
        for (ethertype, f) in &frames {
            b.ethernet()
                .send(mac_a, *ethertype, f.len(), |buf| {
                    buf[..f.len()].copy_from_slice(f);
                    f.len()
                })
                .unwrap();
        }
        sleep_ns(SEC).await;
        assert_eq!(a.ipv4().reassembly().0, 3);
        assert_eq!(a.ipv6().reassembly().0, 1);
        sleep_ns(31 * SEC).await;
        assert_eq!(a.ipv4().reassembly(), (0, 0));
        assert_eq!(a.ipv6().reassembly(), (0, 0));
        let recorded = faults.recorded.borrow();
        let mut v4_errors = Vec::new();
        let mut v6_errors = Vec::new();
        for frame in recorded.iter() {
            let Ok(eth) = mirage::net::wire::ethernet::Packet::new_checked(&frame[..]) else {
                continue;
            };
            let payload = &frame[14..];
            match eth.ethertype() {
                EtherType::Ipv4 => {
                    let p = ipv4::Packet::new_checked(payload).unwrap();
                    if p.protocol() == ipv4::Protocol::Icmp {
                        let m = icmpv4::Packet::new_checked(p.payload()).unwrap();
                        let repr = icmpv4::Repr::parse(&m).unwrap();
                        v4_errors.push((p.src_addr(), p.dst_addr(), format!("{repr:?}")));
                    }
                }
                EtherType::Ipv6 => {
                    let p = ipv6::Packet::new_checked(payload).unwrap();
                    if p.next_header() == ipv6::NextHeader::Icmpv6 {
                        let m = icmpv6::Packet::new_checked(p.payload()).unwrap();
                        if let Ok(r @ icmpv6::Repr::TimeExceeded { .. }) =
                            icmpv6::Repr::parse(&m, p.src_addr(), p.dst_addr())
                        {
                            v6_errors.push((p.src_addr(), p.dst_addr(), format!("{r:?}")));
                        }
                    }
                }
                _ => {}
            }
        }
        let quote4 = icmpv4::Repr::TimeExceeded {
            code: 1,
            quoted: &first4[..28],
        };
        assert_eq!(
            v4_errors,
            [(
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                format!("{quote4:?}")
            )]
        );
        let quote6 = icmpv6::Repr::TimeExceeded {
            code: 1,
            data: &v6_first,
        };
        assert_eq!(v6_errors, [(dst6, src6, format!("{quote6:?}"))]);
        assert_eq!(a.icmpv4().stats().time_exceeded_sent, 1);
        assert_eq!(b.icmpv4().stats().time_exceeded_received, 1);
    });
}

/// Sends, from `from`'s device to `mac`, an IPv6 packet from `src` to `dst`
/// whose first header is `next`, carrying `body` (built by hand).
fn raw_v6<E: Ethernet>(
    from: &E,
    mac: MacAddr,
    addrs: (std::net::Ipv6Addr, std::net::Ipv6Addr),
    next: mirage::net::wire::ipv6::NextHeader,
    body: &[u8],
) {
    raw_v6_hops(from, mac, addrs, next, 64, body);
}

/// [`raw_v6`] with the hop limit `hop_limit`.
fn raw_v6_hops<E: Ethernet>(
    from: &E,
    mac: MacAddr,
    (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr),
    next: mirage::net::wire::ipv6::NextHeader,
    hop_limit: u8,
    body: &[u8],
) {
    use mirage::net::wire::ipv6;
    let r = ipv6::Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: next,
        hop_limit,
        payload_len: body.len(),
        traffic_class: 0,
        flow_label: 0,
    };
    from.send(mac, EtherType::Ipv6, r.buffer_len(), |buf| {
        r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
        buf[40..r.buffer_len()].copy_from_slice(body);
        r.buffer_len()
    })
    .unwrap();
}

/// A UDP datagram from port 5000 to port 9 carrying `payload`,
/// checksummed for `src` to `dst`.
fn udp6_between(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    use mirage::net::wire::checksum::PseudoHeader;
    use mirage::net::wire::udp;
    let r = udp::Repr {
        src_port: 5000,
        dst_port: 9,
        payload,
    };
    let mut d = vec![0u8; r.buffer_len()];
    r.emit(
        &mut udp::Packet::new_unchecked(&mut d[..]),
        &PseudoHeader::V6(src, dst),
    );
    d
}

/// The ICMPv6 parameter problems (code, pointer) among `frames`.
fn param_problems(frames: &[Vec<u8>]) -> Vec<(u8, u32)> {
    use mirage::net::wire::{icmpv6, ipv6};
    let mut out = Vec::new();
    for frame in frames {
        let Some(payload) = frame.get(14..) else {
            continue;
        };
        let Ok(p) = ipv6::Packet::new_checked(payload) else {
            continue;
        };
        if p.next_header() != ipv6::NextHeader::Icmpv6 {
            continue;
        }
        let Ok(m) = icmpv6::Packet::new_checked(p.payload()) else {
            continue;
        };
        if let Ok(icmpv6::Repr::ParamProblem { code, pointer, .. }) =
            icmpv6::Repr::parse(&m, p.src_addr(), p.dst_addr())
        {
            out.push((code, pointer));
        }
    }
    out
}

#[test]
fn ipv6_options_and_routing_headers_are_processed_as_a_host_must() {
    // RFC 8200 4.2: an unrecognized option is skipped (type 00xxxxxx),
    // discards the packet (01), and also draws parameter problem code 2
    // pointing at it (10; 11 unless sent to a multicast address). 4.4: a
    // routing header of a type not supported (all, for a host) is ignored
    // when segments left is 0, else the packet is discarded with
    // parameter problem code 0 pointing at the routing type.
    use mirage::net::wire::ipv6::NextHeader;
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 9).await;
        let mac_a = a.ethernet().mac();
        let (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        let group: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
        faults.record.set(true);
        // A destination options header holding one option of `kind` (4
        // bytes of data), then UDP.
        let send_opt = |to: std::net::Ipv6Addr, kind: u8| {
            let mut body = vec![17, 0, kind, 4, 0, 0, 0, 0];
            body.extend(udp6_between(src, to, b"opt"));
            raw_v6(
                b.ethernet(),
                mac_a,
                (src, to),
                NextHeader::DestOptions,
                &body,
            );
        };
        // A routing header (type 4) with `left` segments left, then UDP.
        let send_rh = |left: u8| {
            let mut body = vec![17, 2, 4, left, 0, 0, 0, 0];
            body.extend([0u8; 16]);
            body.extend(udp6_between(src, dst, b"rh"));
            raw_v6(b.ethernet(), mac_a, (src, dst), NextHeader::Routing, &body);
        };
        send_opt(dst, 0x05);
        send_rh(0);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_a.borrow().len(), 2, "skippable headers were refused");
        let group_cases = [(group, 0x45), (group, 0x85), (group, 0xc5)];
        for (to, kind) in [(dst, 0x45), (dst, 0x85), (dst, 0xc5)]
            .into_iter()
            .chain(group_cases)
        {
            send_opt(to, kind);
        }
        send_rh(1);
        sleep_ns(SEC / 10).await;
        assert_eq!(
            at_a.borrow().len(),
            2,
            "a packet that must be discarded was delivered"
        );
        assert_eq!(
            param_problems(&faults.recorded.borrow()),
            [(2, 42), (2, 42), (2, 42), (0, 42)]
        );
    });
}

#[test]
fn a_first_fragment_without_the_whole_header_chain_is_refused() {
    // RFC 7112 section 5: a first fragment that does not hold the whole
    // IPv6 header chain (up to and including the upper-layer header) is
    // dropped, with parameter problem code 3.
    use mirage::net::wire::ipv6::NextHeader;
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 9).await;
        let mac_a = a.ethernet().mac();
        let pair: (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        faults.record.set(true);
        let udp = udp6_between(pair.0, pair.1, &[7u8; 16]);
        let send = |ident: u32, next: NextHeader, offset: u16, more: bool, data: &[u8]| {
            let body = v6_fragment(next, offset, more, ident, data);
            raw_v6(b.ethernet(), mac_a, pair, NextHeader::Fragment, &body);
        };
        // A first fragment holding only a destination options header
        // (padding), the UDP header in the second: refused.
        let mut chain = vec![17, 0, 1, 4, 0, 0, 0, 0];
        chain.extend(&udp);
        send(1, NextHeader::DestOptions, 0, true, &chain[..8]);
        send(1, NextHeader::DestOptions, 8, false, &chain[8..]);
        // The same datagram with the UDP header in the first: taken.
        send(2, NextHeader::DestOptions, 0, true, &chain[..16]);
        send(2, NextHeader::DestOptions, 16, false, &chain[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_a.borrow().len(), 1);
        assert_eq!(param_problems(&faults.recorded.borrow()), [(3, 0)]);
    });
}

#[test]
fn no_time_exceeded_about_an_icmp_error() {
    // RFC 1122 3.2.2 and RFC 4443 2.4 (e.1): no ICMP error about an ICMP
    // error message, time exceeded for its reassembly included; about an
    // echo request, yes.
    use mirage::net::wire::ipv6::NextHeader;
    flaky_pair(|a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_a = a.ethernet().mac();
        // First fragments of ICMP messages of `kind`, 16 bytes.
        let v4_first = |ident: u16, kind: u8| {
            let repr = ipv4::Repr {
                src_addr: "10.0.0.2".parse().unwrap(),
                dst_addr: "10.0.0.1".parse().unwrap(),
                protocol: ipv4::Protocol::Icmp,
                ttl: 64,
                dscp_ecn: 0,
                payload_len: 16,
                ident,
                dont_fragment: false,
                more_fragments: true,
                frag_offset: 0,
            };
            b.ethernet()
                .send(mac_a, EtherType::Ipv4, repr.buffer_len(), |buf| {
                    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
                    buf[20..repr.buffer_len()].fill(0);
                    buf[20] = kind;
                    repr.buffer_len()
                })
                .unwrap();
        };
        let pair: (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        let v6_first = |ident: u32, kind: u8| {
            let mut data = [0u8; 16];
            data[0] = kind;
            let body = v6_fragment(NextHeader::Icmpv6, 0, true, ident, &data);
            raw_v6(b.ethernet(), mac_a, pair, NextHeader::Fragment, &body);
        };
        // Destination unreachable: no report; echo request: reported.
        v4_first(1, 3);
        v4_first(2, 8);
        v6_first(1, 1);
        v6_first(2, 128);
        sleep_ns(32 * SEC).await;
        assert_eq!(a.icmpv4().stats().time_exceeded_sent, 1);
        assert_eq!(a.ipv6().stats().errors_sent, 1);
    });
}

#[test]
fn bad_ipv6_fragment_lengths_draw_a_parameter_problem() {
    // RFC 8200 4.5: a fragment with M set whose length is not a multiple
    // of 8, or one that would make the reassembled payload exceed 65535
    // bytes, is discarded, and parameter problem code 0 should go to its
    // source, pointing at the payload length, or at the fragment offset.
    use mirage::net::wire::ipv6::NextHeader;
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let mac_a = a.ethernet().mac();
        let pair: (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        faults.record.set(true);
        let udp = udp6_between(pair.0, pair.1, &[7u8; 16]);
        let send = |ident: u32, offset: u16, more: bool, data: &[u8]| {
            let body = v6_fragment(NextHeader::Udp, offset, more, ident, data);
            raw_v6(b.ethernet(), mac_a, pair, NextHeader::Fragment, &body);
        };
        send(1, 0, true, &udp[..12]);
        send(2, 65528, false, &[0; 16]);
        // Up to 65535 bytes: taken.
        send(3, 65520, false, &[0; 15]);
        sleep_ns(SEC / 10).await;
        assert_eq!(param_problems(&faults.recorded.borrow()), [(0, 4), (0, 42)]);
        assert_eq!(a.ipv6().reassembly().0, 1);
    });
}

#[test]
fn no_ipv4_datagram_leaves_with_a_time_to_live_of_0() {
    // RFC 1122 3.2.1.7: a host must not send a datagram with a time to
    // live of 0 (the layer's default is used instead).
    flaky_pair(|a, _b, faults| async move {
        sleep_ns(2 * SEC).await;
        let dst = v4("10.0.0.2");
        a.ip().resolve(dst).await.unwrap();
        faults.record.set(true);
        let options = mirage::net::ip::SendOptions {
            ttl: Some(0),
            fragment: true,
            ..Default::default()
        };
        let sent = a
            .ip()
            .send(None, dst, 253, options, 8, |_, buf| buf.fill(0));
        assert_eq!(sent, Ok(true));
        sleep_ns(SEC / 10).await;
        let ttls: Vec<u8> = faults
            .recorded
            .borrow()
            .iter()
            .filter(|f| f.len() >= 34 && f[12..14] == [8, 0] && f[23] == 253)
            .map(|f| f[22])
            .collect();
        assert_eq!(ttls, [64]);
    });
}

#[test]
fn an_echo_request_to_all_nodes_is_answered_from_a_unicast_address() {
    // RFC 4443 4.1: an echo reply should answer an echo request sent to a
    // multicast address, from a unicast address of the interface.
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        a.ipv6()
            .ping("ff02::1".parse().unwrap(), 3, 1, b"all")
            .unwrap();
        sleep_ns(SEC / 10).await;
        let replies = a.ipv6().take_replies();
        let ll_b = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(replies[0].src, IpAddr::V6(ll_b));
        assert_eq!(replies[0].data, b"all");
    });
}

#[test]
fn a_dad_probe_not_sent_to_the_solicited_node_group_is_ignored() {
    // RFC 4861 7.1.1: a neighbour solicitation from the unspecified
    // address must be sent to a solicited-node multicast address; another
    // (here to all-nodes) is invalid and must not make a tentative address
    // fail DAD.
    use mirage::net::wire::{icmpv6, ipv6};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        let target: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
        assert!(
            b.ipv6()
                .address_states()
                .iter()
                .any(|x| x.addr == target && matches!(x.state, AddrState::Tentative { .. }))
        );
        let src = std::net::Ipv6Addr::UNSPECIFIED;
        let dst: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
        let ns = icmpv6::Repr::NeighborSolicit {
            target_addr: target,
            lladdr: None,
        };
        let mut icmp = vec![0u8; ns.buffer_len()];
        ns.emit(&mut icmpv6::Packet::new_unchecked(&mut icmp[..]), src, dst);
        let r = ipv6::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ipv6::NextHeader::Icmpv6,
            hop_limit: 255,
            payload_len: icmp.len(),
            traffic_class: 0,
            flow_label: 0,
        };
        a.ethernet()
            .send(
                MacAddr([0x33, 0x33, 0, 0, 0, 1]),
                EtherType::Ipv6,
                r.buffer_len(),
                |buf| {
                    r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
                    buf[40..r.buffer_len()].copy_from_slice(&icmp);
                    r.buffer_len()
                },
            )
            .unwrap();
        sleep_ns(3 * SEC).await;
        assert!(
            b.ipv6()
                .address_states()
                .iter()
                .any(|x| x.addr == target && x.state == AddrState::Preferred),
            "{:?}",
            b.ipv6().address_states()
        );
    });
}

#[test]
fn only_the_first_fragments_next_header_counts() {
    // RFC 8200 4.5: the next header values in the fragment headers of the
    // fragments of one packet may differ; only the offset-zero fragment's
    // is used for reassembly.
    use mirage::net::wire::ipv6::NextHeader;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let whole = udp_v6(&[0x5a; 24]);
        let send = |next: NextHeader, offset: u16, more: bool, data: &[u8]| {
            let body = v6_fragment(next, offset, more, 11, data);
            send_v6(a, b, NextHeader::Fragment, 64, &body);
        };
        // The first fragment first, then a last one saying "TCP".
        send(NextHeader::Udp, 0, true, &whole[..16]);
        send(NextHeader::Tcp, 16, false, &whole[16..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(
            at_b.borrow().len(),
            1,
            "the last fragment's next header was used"
        );
    });
}

#[test]
fn a_hop_by_hop_header_out_of_place_draws_parameter_problem_code_1() {
    // RFC 8200 4 and 4.1: hop-by-hop options only right after the IPv6
    // header; elsewhere it is a next header not recognized there:
    // parameter problem code 1 pointing at the field that names it.
    use mirage::net::wire::ipv6::NextHeader;
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 9).await;
        let mac_a = a.ethernet().mac();
        let pair: (std::net::Ipv6Addr, std::net::Ipv6Addr) =
            ("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap());
        faults.record.set(true);
        let udp = udp6_between(pair.0, pair.1, b"x");
        // Destination options (naming hop-by-hop), hop-by-hop, UDP.
        let mut body = vec![0, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
        body.extend(&udp);
        raw_v6(b.ethernet(), mac_a, pair, NextHeader::DestOptions, &body);
        // An atomic fragment whose fragment header names hop-by-hop.
        let atomic = v6_fragment(NextHeader::HopByHop, 0, false, 5, &body[8..]);
        raw_v6(b.ethernet(), mac_a, pair, NextHeader::Fragment, &atomic);
        // Hop-by-hop first is fine.
        raw_v6(b.ethernet(), mac_a, pair, NextHeader::HopByHop, &body[8..]);
        sleep_ns(SEC / 10).await;
        assert_eq!(at_a.borrow().len(), 1);
        assert_eq!(
            param_problems(&faults.recorded.borrow()),
            [(1, 40), (1, 40)]
        );
    });
}

#[test]
fn a_packet_too_big_lowers_the_path_mtu_for_datagrams() {
    // RFC 8201 section 4: on packet too big, a node must reduce its
    // estimate of the path MTU (not below 1280): a later UDP datagram too
    // big for it is fragmented at the source.
    use mirage::net::wire::{icmpv6, ipv6};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let at_b = collect(b, 9).await;
        let (to_b, to_c) = (v6("fd00::2"), v6("fd00::3"));
        assert_eq!(a.ip().mtu(to_b), 1500 - 40);
        a.udp().write(None, to_b, 9, &[1; 1400]).await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ipv6().stats().fragmented, 0);
        // A packet too big (MTU 1000: taken as 1280) quoting a packet from
        // A to B; and one quoting a packet A did not send.
        let (src, dst) = v6_pair();
        let ptb = |from: std::net::Ipv6Addr, mtu: u32| {
            let mut quoted = [0u8; 48];
            ipv6::Repr {
                src_addr: from,
                dst_addr: dst,
                next_header: ipv6::NextHeader::Udp,
                hop_limit: 64,
                payload_len: 1408,
                traffic_class: 0,
                flow_label: 0,
            }
            .emit(&mut ipv6::Packet::new_unchecked(&mut quoted[..]));
            let m = icmpv6::Repr::PktTooBig { mtu, data: &quoted };
            let mut icmp = vec![0u8; m.buffer_len()];
            m.emit(&mut icmpv6::Packet::new_unchecked(&mut icmp[..]), dst, src);
            raw_v6(
                b.ethernet(),
                a.ethernet().mac(),
                (dst, src),
                ipv6::NextHeader::Icmpv6,
                &icmp,
            );
        };
        ptb("fd00::99".parse().unwrap(), 1280);
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ip().mtu(to_b), 1500 - 40, "a stranger's packet counted");
        ptb(src, 1000);
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ip().mtu(to_b), 1280 - 40);
        assert_eq!(a.ip().mtu(to_c), 1500 - 40);
        a.udp().write(None, to_b, 9, &[2; 1400]).await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ipv6().stats().fragmented, 1);
        let got: Vec<usize> = at_b.borrow().iter().map(|(_, d)| d.len()).collect();
        assert_eq!(got, [1400, 1400]);
        // The estimate ages out after 10 minutes.
        sleep_ns(601 * SEC).await;
        assert_eq!(a.ip().mtu(to_b), 1500 - 40);
    });
}

#[test]
fn an_icmp_redirect_from_the_gateway_reroutes_a_destination() {
    // RFC 1122 3.2.2.2 and 3.3.1.2: a host receiving a redirect from the
    // first-hop gateway of a destination must update its route to it (a
    // redirect from anyone else is discarded).
    use mirage::net::wire::icmpv4;
    let mut ha = Addressing::both("10.0.0.1", "fd00::1");
    ha.ipv4 = Some((
        "10.0.0.1/24".parse().unwrap(),
        Some("10.0.0.2".parse().unwrap()),
    ));
    let hb = Addressing::both("10.0.0.2", "fd00::2");
    flaky_pair_with(ha, hb, |a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let far = v4("192.0.2.7");
        faults.record.set(true);
        let redirect = |from: &str| {
            let mut quoted = [0u8; 28];
            v4_whole("10.0.0.1", "192.0.2.7", ipv4::Protocol::Udp, 8)
                .emit(&mut ipv4::Packet::new_unchecked(&mut quoted[..]));
            let m = icmpv4::Repr::Redirect {
                code: 1,
                gateway: "10.0.0.3".parse().unwrap(),
                quoted: &quoted,
            };
            let mut icmp = vec![0u8; m.buffer_len()];
            m.emit(&mut icmpv4::Packet::new_unchecked(&mut icmp[..]));
            let repr = v4_whole(from, "10.0.0.1", ipv4::Protocol::Icmp, icmp.len());
            b.ethernet()
                .send(
                    a.ethernet().mac(),
                    EtherType::Ipv4,
                    repr.buffer_len(),
                    |buf| {
                        repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
                        buf[20..repr.buffer_len()].copy_from_slice(&icmp);
                        repr.buffer_len()
                    },
                )
                .unwrap();
        };
        // (Frames at B: datagrams for 192.0.2.7, ARP requests for 10.0.0.3.)
        let seen = |faults: &ReadFaults| {
            let frames = faults.recorded.borrow();
            let via_b = frames
                .iter()
                .filter(|f| f[12..14] == [8, 0] && f[30..34] == [192, 0, 2, 7])
                .count();
            let asks = frames
                .iter()
                .filter(|f| f[12..14] == [8, 6] && f[14 + 24..14 + 28] == [10, 0, 0, 3])
                .count();
            (via_b, asks)
        };
        a.udp().write(None, far, 9, b"one").await.unwrap();
        // A redirect from a host that is not the gateway: ignored.
        redirect("10.0.0.5");
        sleep_ns(SEC / 10).await;
        a.udp().write(None, far, 9, b"two").await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(seen(&faults), (2, 0));
        assert_eq!(a.icmpv4().stats().redirects_taken, 0);
        // From the gateway: datagrams to 192.0.2.7 now go to 10.0.0.3.
        redirect("10.0.0.2");
        sleep_ns(SEC / 10).await;
        assert_eq!(a.icmpv4().stats().redirects_taken, 1);
        let _ = a.udp().write(None, far, 9, b"three").await;
        sleep_ns(SEC / 10).await;
        let (via_b, asks) = seen(&faults);
        assert_eq!(via_b, 2, "still sent through the old gateway");
        assert!(asks >= 1, "10.0.0.3 was never asked for");
        // A new configuration forgets the routes redirects made.
        let config = a.ipv4().config().unwrap();
        a.ipv4()
            .set_config(mirage::net::ipv4::Ipv4Config {
                address: "10.0.0.1/16".parse().unwrap(),
                ..config
            })
            .unwrap();
        a.udp().write(None, far, 9, b"four").await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(seen(&faults).0, 3, "a redirect outlived the configuration");
        // Negative advice about the destination (TCP's, at R1) forgets the
        // redirect too (RFC 1122 3.3.1.4): through the gateway again.
        redirect("10.0.0.2");
        sleep_ns(SEC / 10).await;
        let _ = a.udp().write(None, far, 9, b"five").await;
        sleep_ns(SEC / 10).await;
        assert_eq!(seen(&faults).0, 3);
        a.ip().negative_advice(far);
        a.udp().write(None, far, 9, b"six").await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(seen(&faults).0, 4, "the redirect outlived negative advice");
    });
}

/// ICMP messages of types this host does not use (an ICMPv4 timestamp
/// request, an ICMPv6 informational type of private experimentation) are
/// silently discarded (RFC 1122 3.2.2, RFC 4443 2.4 (b)) and counted as
/// such, not as malformed.
#[test]
fn icmp_messages_of_unknown_types_are_counted_apart_from_malformed_ones() {
    use mirage::net::wire::{icmpv4, icmpv6, ipv6};
    flaky_pair(|a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let mac_a = a.ethernet().mac();
        // A timestamp request (type 13): identifier, sequence, 3 times.
        let mut icmp = [0u8; 20];
        icmp[0] = 13;
        icmpv4::Packet::new_unchecked(&mut icmp[..]).fill_checksum();
        let repr = v4_whole("10.0.0.2", "10.0.0.1", ipv4::Protocol::Icmp, icmp.len());
        b.ethernet()
            .send(mac_a, EtherType::Ipv4, repr.buffer_len(), |buf| {
                repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
                buf[20..repr.buffer_len()].copy_from_slice(&icmp);
                repr.buffer_len()
            })
            .unwrap();
        // Type 200 (private experimentation) to all nodes.
        let b_ll = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        let all: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
        let mut icmp = [0u8; 24];
        icmp[0] = 200;
        icmpv6::Packet::new_unchecked(&mut icmp[..]).fill_checksum(b_ll, all);
        raw_v6_hops(
            b.ethernet(),
            MacAddr([0x33, 0x33, 0, 0, 0, 1]),
            (b_ll, all),
            ipv6::NextHeader::Icmpv6,
            1,
            &icmp,
        );
        sleep_ns(SEC / 10).await;
        let (v4, v6) = (a.icmpv4().stats(), a.ipv6().stats());
        assert_eq!((v4.unknown_type, v4.malformed), (1, 0), "{v4:?}");
        assert_eq!((v6.unknown_type, v6.malformed), (1, 0), "{v6:?}");
    });
}

/// MLDv2 (RFC 9777; RFC 8504 5.10: nodes MUST support it as listeners,
/// or switches that snoop MLD stop passing them neighbour solicitations):
/// the host reports its solicited-node groups when its addresses appear,
/// twice, to ff02::16 with hop limit 1 behind the router alert option, and
/// answers a general query from a link-local router within its maximum
/// response delay; a query from elsewhere is ignored. An MLDv1 query puts
/// it in MLDv1 compatibility mode (section 8.2.1): it answers with MLDv1
/// reports, another listener's report suppresses its own, and MLDv2
/// queries are answered in MLDv1 as well.
#[test]
fn mld_reports_the_solicited_node_groups_and_answers_queries() {
    use mirage::net::ipv6::addr::{link_local, solicited_node};
    use mirage::net::wire::{icmpv6, ipv6, mld};
    let (ha, hb) = hosts();
    let faults = ReadFaults::default();
    faults.record.set(true);
    flaky_pair_from(ha, hb, faults, |a, b, faults| async move {
        sleep_ns(3 * SEC).await;
        let a_ll = link_local(a.ethernet().mac());
        let mut groups = vec![
            solicited_node(a_ll),
            solicited_node("fd00::1".parse::<std::net::Ipv6Addr>().unwrap()),
        ];
        groups.sort();
        // (Both may be the same group: one record then.)
        groups.dedup();
        // A's reports seen at B: (source, record types, groups).
        let reports =
            |faults: &ReadFaults| -> Vec<(std::net::Ipv6Addr, u8, Vec<std::net::Ipv6Addr>)> {
                faults
                    .recorded
                    .borrow()
                    .iter()
                    .filter(|f| f[..6] == [0x33, 0x33, 0, 0, 0, 0x16] && f[12..14] == [0x86, 0xdd])
                    .map(|f| {
                        let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
                        assert_eq!(ip.hop_limit(), 1);
                        assert_eq!(ip.next_header(), ipv6::NextHeader::HopByHop);
                        assert_eq!(ip.dst_addr(), mld::ALL_MLDV2_ROUTERS);
                        let hbh = &ip.payload()[..8];
                        assert_eq!(hbh, mld::ROUTER_ALERT_HBH);
                        let msg = &ip.payload()[8..];
                        assert!(
                            icmpv6::Packet::new_unchecked(msg)
                                .verify_checksum(ip.src_addr(), ip.dst_addr())
                        );
                        assert_eq!(msg[0], mld::TYPE_REPORT_V2);
                        let n = usize::from(u16::from_be_bytes([msg[6], msg[7]]));
                        let records: Vec<&[u8]> = msg[8..].chunks(20).take(n).collect();
                        let kind = records[0][0];
                        assert!(records.iter().all(|r| r[0] == kind));
                        let mut gs: Vec<std::net::Ipv6Addr> = records
                            .iter()
                            .map(|r| {
                                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&r[4..20]).unwrap())
                            })
                            .collect();
                        gs.sort();
                        (ip.src_addr(), kind, gs)
                    })
                    .collect()
            };
        let joined = reports(&faults);
        assert!(joined.len() >= 2, "{joined:?}");
        // Joins (CHANGE_TO_EXCLUDE_MODE), each told twice; all groups.
        assert!(joined.iter().all(|(_, kind, _)| *kind == 4), "{joined:?}");
        let mut told: Vec<std::net::Ipv6Addr> =
            joined.iter().flat_map(|(_, _, g)| g.clone()).collect();
        told.sort();
        told.dedup();
        assert_eq!(told, groups);
        assert_eq!(a.ipv6().stats().mld_reports_sent, joined.len() as u64);

        // A general query (MLDv2, 1 s) from B's link-local address.
        let b_ll = link_local(b.ethernet().mac());
        let all = "ff02::1".parse().unwrap();
        let query = |src: std::net::Ipv6Addr, len: usize| {
            let mut q = vec![0u8; len];
            q[0] = mld::TYPE_QUERY;
            q[4..6].copy_from_slice(&1000u16.to_be_bytes());
            icmpv6::Packet::new_unchecked(&mut q[..]).fill_checksum(src, all);
            raw_v6_hops(
                b.ethernet(),
                MacAddr([0x33, 0x33, 0, 0, 0, 1]),
                (src, all),
                ipv6::NextHeader::Icmpv6,
                1,
                &q,
            );
        };
        let before = reports(&faults).len();
        query(b_ll, mld::QUERY_V2_LEN);
        sleep_ns(SEC + SEC / 10).await;
        let answered = reports(&faults);
        assert_eq!(answered.len(), before + 1, "{answered:?}");
        // MODE_IS_EXCLUDE for every group, from A's link-local address.
        assert_eq!(answered[before], (a_ll, 2, groups.clone()));
        assert_eq!(a.ipv6().stats().mld_queries, 1);
        // Not from a link-local address: ignored.
        query("fd00::2".parse().unwrap(), mld::QUERY_V2_LEN);
        sleep_ns(2 * SEC).await;
        assert_eq!(reports(&faults).len(), before + 1);
        assert_eq!(a.ipv6().stats().mld_queries_ignored, 1);

        // An MLDv1 query (RFC 9777 section 8.2.1): A answers in MLDv1, a
        // report (type 131) to each group, from its link-local address.
        // A's MLDv1 messages seen at B: (source, destination, type, group).
        let v1 = |faults: &ReadFaults| -> Vec<(
            std::net::Ipv6Addr,
            std::net::Ipv6Addr,
            u8,
            std::net::Ipv6Addr,
        )> {
            faults
                .recorded
                .borrow()
                .iter()
                .filter(|f| f[0] == 0x33 && f[12..14] == [0x86, 0xdd])
                .filter_map(|f| {
                    let ip = ipv6::Packet::new_checked(&f[14..]).unwrap();
                    let msg = ip.payload().get(8..)?;
                    if ip.next_header() != ipv6::NextHeader::HopByHop
                        || !matches!(msg[0], mld::TYPE_REPORT_V1 | mld::TYPE_DONE)
                    {
                        return None;
                    }
                    assert_eq!(ip.hop_limit(), 1);
                    assert_eq!(&ip.payload()[..8], mld::ROUTER_ALERT_HBH);
                    assert_eq!(msg.len(), mld::V1_LEN);
                    assert!(
                        icmpv6::Packet::new_unchecked(msg)
                            .verify_checksum(ip.src_addr(), ip.dst_addr())
                    );
                    let group =
                        std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&msg[8..24]).unwrap());
                    Some((ip.src_addr(), ip.dst_addr(), msg[0], group))
                })
                .collect()
        };
        assert!(v1(&faults).is_empty());
        query(b_ll, mld::QUERY_V1_LEN);
        sleep_ns(SEC + SEC / 10).await;
        let expected: Vec<_> = groups
            .iter()
            .map(|&g| (a_ll, g, mld::TYPE_REPORT_V1, g))
            .collect();
        let mut got = v1(&faults);
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(reports(&faults).len(), before + 1, "no MLDv2 report");
        assert_eq!(a.ipv6().stats().mld_queries, 2);
        // Another listener's MLDv1 report for the groups, heard right
        // after the next query, suppresses A's answers (RFC 2710).
        query(b_ll, mld::QUERY_V1_LEN);
        for &g in &groups {
            let mut msg = [0u8; mld::V1_LEN];
            mld::emit_v1(&mut msg, b_ll, mld::V1Message::Report, g);
            let o = g.octets();
            raw_v6_hops(
                b.ethernet(),
                MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]),
                (b_ll, g),
                ipv6::NextHeader::Icmpv6,
                1,
                &msg,
            );
        }
        sleep_ns(SEC + SEC / 10).await;
        assert_eq!(v1(&faults).len(), expected.len(), "suppressed");
        // An MLDv2 query in MLDv1 mode is answered in MLDv1 too.
        query(b_ll, mld::QUERY_V2_LEN);
        sleep_ns(SEC + SEC / 10).await;
        assert_eq!(v1(&faults).len(), 2 * expected.len());
        assert_eq!(reports(&faults).len(), before + 1, "no MLDv2 report");
    });
}

/// A router advertisement of a default router at `mac` (30 minutes, no
/// prefix).
fn default_router_advert(mac: MacAddr) -> mirage::net::wire::icmpv6::Repr<'static> {
    mirage::net::wire::icmpv6::Repr::RouterAdvert {
        hop_limit: 64,
        managed: false,
        other: false,
        router_lifetime: 1800,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: Some(mac),
        mtu: None,
        prefix_info: None,
    }
}

/// RFC 4861 6.3.6: of several default routers, one known reachable or
/// probably reachable is preferred, and while none is they are taken in
/// turn. The first router advertised is gone (nobody has its link
/// address): datagrams to an off-link destination go to it until
/// neighbour unreachability detection gives it up, then through the
/// second (B), and keep going there. (Before, every later one waited for
/// the first router's resolution and was dropped with it.)
#[test]
fn a_default_router_that_answers_is_preferred_to_one_that_does_not() {
    use mirage::net::wire::{icmpv6, ipv6};
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let b_ll = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        let dead: std::net::Ipv6Addr = "fe80::9".parse().unwrap();
        let all: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
        let advertise = |src: std::net::Ipv6Addr, mac: MacAddr| {
            let m = default_router_advert(mac);
            let mut icmp = vec![0u8; m.buffer_len()];
            m.emit(&mut icmpv6::Packet::new_unchecked(&mut icmp[..]), src, all);
            raw_v6_hops(
                b.ethernet(),
                MacAddr([0x33, 0x33, 0, 0, 0, 1]),
                (src, all),
                ipv6::NextHeader::Icmpv6,
                255,
                &icmp,
            );
        };
        // (The dead router's RA comes first: it heads the list.)
        advertise(dead, MacAddr([2, 0, 0, 0, 0, 9]));
        advertise(b_ll, b.ethernet().mac());
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ipv6().routers(), [dead, b_ll]);
        faults.record.set(true);
        let far: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        // Both routers' entries start STALE (from their advertisements),
        // the dead one first: datagrams go to it until neighbour
        // unreachability detection gives it up (DELAY 5 s, then 3 probes
        // a second apart); then to B.
        for _ in 0..15 {
            let _ = a.udp().send(None, IpAddr::V6(far), 9, b"x");
            sleep_ns(SEC).await;
        }
        // (Datagrams for `far` seen at B, by the MAC they were sent to.)
        let sent_to: Vec<[u8; 6]> = faults
            .recorded
            .borrow()
            .iter()
            .filter(|f| f[12..14] == [0x86, 0xdd] && f[14 + 24..14 + 40] == far.octets())
            .map(|f| f[..6].try_into().unwrap())
            .collect();
        let mac_b = b.ethernet().mac().0;
        assert!(sent_to.len() >= 10, "{sent_to:?}");
        assert_eq!(sent_to[0], [2, 0, 0, 0, 0, 9]);
        assert!(
            sent_to.iter().rev().take(4).all(|m| *m == mac_b),
            "not through B: {sent_to:?}"
        );
    });
}

#[test]
fn an_icmpv6_redirect_from_the_router_changes_the_first_hop() {
    // RFC 4861 8.1 and 8.3: a valid redirect (from the current first hop
    // of the destination, hop limit 255, a link-local target) makes the
    // host send to the target; one from another node is discarded.
    use mirage::net::wire::{icmpv6, ipv6};
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let mac_a = a.ethernet().mac();
        let b_ll = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        let far: std::net::Ipv6Addr = "2001:db8::7".parse().unwrap();
        let nd = |src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, m: icmpv6::Repr<'_>| {
            let mut icmp = vec![0u8; m.buffer_len()];
            m.emit(&mut icmpv6::Packet::new_unchecked(&mut icmp[..]), src, dst);
            let r = ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: ipv6::NextHeader::Icmpv6,
                hop_limit: 255,
                payload_len: icmp.len(),
                traffic_class: 0,
                flow_label: 0,
            };
            b.ethernet()
                .send(mac_a, EtherType::Ipv6, r.buffer_len(), |buf| {
                    r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
                    buf[40..r.buffer_len()].copy_from_slice(&icmp);
                    r.buffer_len()
                })
                .unwrap();
        };
        // B advertises itself as a router.
        nd(
            b_ll,
            "ff02::1".parse().unwrap(),
            default_router_advert(b.ethernet().mac()),
        );
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ipv6().routers(), [b_ll]);
        faults.record.set(true);
        let target_mac = MacAddr([2, 0, 0, 0, 0, 3]);
        let redirect = |from: &str| {
            nd(
                from.parse().unwrap(),
                "fd00::1".parse().unwrap(),
                icmpv6::Repr::Redirect {
                    target_addr: "fe80::3".parse().unwrap(),
                    dst_addr: far,
                    lladdr: Some(target_mac),
                },
            )
        };
        // (Datagrams for `far` seen at B, by the MAC they were sent to.)
        let sent_to = |faults: &ReadFaults| -> Vec<[u8; 6]> {
            faults
                .recorded
                .borrow()
                .iter()
                .filter(|f| f[12..14] == [0x86, 0xdd] && f[14 + 24..14 + 40] == far.octets())
                .map(|f| f[..6].try_into().unwrap())
                .collect()
        };
        let send = || a.udp().send(None, IpAddr::V6(far), 9, b"x").unwrap();
        send();
        redirect("fe80::9");
        sleep_ns(SEC / 10).await;
        send();
        sleep_ns(SEC / 10).await;
        let mac_b = b.ethernet().mac().0;
        assert_eq!(sent_to(&faults), [mac_b, mac_b]);
        assert_eq!(a.ipv6().stats().redirects_taken, 0);
        redirect(&b_ll.to_string());
        sleep_ns(SEC / 10).await;
        assert_eq!(a.ipv6().stats().redirects_taken, 1);
        send();
        sleep_ns(SEC / 10).await;
        assert_eq!(sent_to(&faults), [mac_b, mac_b, target_mac.0]);
        // Negative advice about the destination (TCP's, at R1) forgets the
        // redirect: through the router again.
        a.ip().negative_advice(IpAddr::V6(far));
        send();
        sleep_ns(SEC / 10).await;
        assert_eq!(sent_to(&faults), [mac_b, mac_b, target_mac.0, mac_b]);
    });
}

/// A device whose MTU is too small for an IPv4 fragment (below 28: 20
/// bytes of header and 8 of payload) makes a datagram that needs
/// fragments a `TooBig` error, not a panic, and counts nothing as sent;
/// the stack goes on once the MTU is back.
#[test]
fn fragmenting_over_a_link_too_small_for_a_fragment_is_an_error_not_a_panic() {
    use mirage::net::ip::{IpError, SendOptions};
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let at_a = collect(a, 7).await;
        b.udp()
            .write(Some(5000), v4("10.0.0.1"), 7, b"first")
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        for mtu in [0, 20, 27] {
            faults.reported_mtu.set(Some(mtu));
            let before = b.ipv4().stats();
            let r = b.ipv4().send(
                None,
                v4("10.0.0.1"),
                17,
                SendOptions::default(),
                100,
                |_, buf| buf.fill(0),
            );
            assert!(matches!(r, Err(IpError::TooBig { .. })), "MTU {mtu}: {r:?}");
            let after = b.ipv4().stats();
            assert_eq!(
                (after.sent, after.fragmented),
                (before.sent, before.fragmented)
            );
        }
        faults.reported_mtu.set(None);
        b.udp()
            .write(Some(5000), v4("10.0.0.1"), 7, &payload(3000, 1))
            .await
            .unwrap();
        sleep_ns(SEC / 10).await;
        let got = at_a.borrow();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, payload(3000, 1));
    });
}

/// `--ipv4-only` with `--ipv6-only` leaves no family: the stack refuses
/// to start, with a message that names both options (as MirageOS refuses
/// the combination), rather than running with no IP at all.
#[test]
fn a_stack_with_both_families_switched_off_refuses_to_start() {
    let sim = netsim::Sim::new();
    let clock = sim.clock;
    let (na, _nb) = netsim::link(LinkConfig::default());
    let mut addressing = Addressing::both("10.0.0.1", "fd00::1");
    addressing.ipv4_only = true;
    addressing.ipv6_only = true;
    let refused = sim
        .ex
        .block_on(async move { netsim::try_stack(clock, na, addressing, 1).await.err() })
        .unwrap();
    assert_eq!(
        refused,
        Some(NetError::Device(mirage::net::stack::NO_FAMILY_LEFT.into()))
    );
}

/// The type of service (IPv4) or traffic class (IPv6) byte of each IP
/// packet among `frames` (Ethernet frames) carrying `protocol` (IPv6:
/// directly or behind a fragment header), in order.
fn tos_of(frames: &[Vec<u8>], protocol: u8) -> Vec<u8> {
    frames
        .iter()
        .filter_map(|f| match f.get(12..14)? {
            [8, 0] if *f.get(23)? == protocol => Some(f[15]),
            [0x86, 0xdd] if *f.get(20)? == protocol || (f[20] == 44 && *f.get(54)? == protocol) => {
                Some((f[14] << 4) | (f[15] >> 4))
            }
            _ => None,
        })
        .collect()
}

/// RFC 2474 and RFC 9293 section 3.9.1 (MUST-48): a datagram sent with a
/// DiffServ codepoint carries it in IPv4's type of service byte and in
/// IPv6's traffic class, `dscp << 2`, in every fragment; the two ECN bits
/// stay 0 (not ECN-capable, RFC 3168), even when the IP layer is given a
/// byte with its low bits set (only 6 bits count). RFC 1122 section
/// 3.2.1.6: the receiving IP passes the byte up, and UDP's metadata has
/// it.
#[test]
fn the_dscp_is_sent_in_every_fragment_and_passed_up_to_udp() {
    use mirage::net::ip::SendOptions;
    use mirage::net::udp::UdpError;
    flaky_pair(|a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        let sock = b.udp().bind(9).unwrap();
        a.ip().resolve(v4("10.0.0.2")).await.unwrap();
        a.ip().resolve(v6("fd00::2")).await.unwrap();
        faults.record.set(true);
        // EF (46): 0xb8. A datagram of 3000 bytes goes in 3 fragments.
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            for len in [100, 3000] {
                let data = payload(len, 1);
                a.udp()
                    .write_dscp(Some(4000), dst, 9, 46, &data)
                    .await
                    .unwrap();
            }
        }
        // The default: best effort.
        a.udp()
            .write(Some(4000), v4("10.0.0.2"), 9, b"be")
            .await
            .unwrap();
        // Out of range: refused, nothing sent.
        let r = a
            .udp()
            .write_dscp(Some(4000), v4("10.0.0.2"), 9, 64, b"no")
            .await;
        assert_eq!(r, Err(UdpError::InvalidArgument));
        sleep_ns(SEC / 10).await;
        let udp = tos_of(&faults.recorded.borrow(), 17);
        assert_eq!(udp, [0xb8, 0xb8, 0xb8, 0xb8, 0xb8, 0xb8, 0xb8, 0xb8, 0]);
        let mut buf = vec![0u8; 4000];
        let mut got = Vec::new();
        while let Some((n, meta)) = sock.try_recv_from(&mut buf).unwrap() {
            got.push((n, meta.tos));
        }
        let want = [(100, 0xb8), (3000, 0xb8), (100, 0xb8), (3000, 0xb8), (2, 0)];
        assert_eq!(got, want);
        // The IP layer: a codepoint above 63 keeps its low 6 bits; the ECN
        // bits are 0 over both families, fragments included.
        faults.recorded.borrow_mut().clear();
        let options = SendOptions {
            dscp: 0xff,
            ..Default::default()
        };
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            for len in [8, 3000] {
                let sent = a
                    .ip()
                    .send(None, dst, 253, options, len, |_, buf| buf.fill(0));
                assert_eq!(sent, Ok(true));
            }
        }
        sleep_ns(SEC / 10).await;
        let raw = tos_of(&faults.recorded.borrow(), 253);
        assert_eq!(raw, [0xfc; 8]);
    });
}

/// RFC 1122 section 3.2.1.6: the whole type of service byte received
/// (ECN bits included) is passed up to the transport, over both families.
#[test]
fn the_received_tos_byte_reaches_udp_whole() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        use mirage::net::wire::ipv6::NextHeader;
        sleep_ns(2 * SEC).await;
        let sock = b.udp().bind(9).unwrap();
        let mac_b = b.ethernet().mac();
        // "hi" to port 9, type of service 0x2b (DSCP 10, AF11; ECN 3, CE).
        let udp = [0x12, 0x34, 0, 9, 0, 10, 0, 0, b'h', b'i'];
        let repr = ipv4::Repr {
            dscp_ecn: 0x2b,
            ..v4_whole("10.0.0.1", "10.0.0.2", ipv4::Protocol::Udp, udp.len())
        };
        send_v4(a, mac_b, &repr, &udp);
        // Over IPv6 with traffic class 0x29 (DSCP 10, ECT(1)).
        {
            use mirage::net::wire::ipv6;
            let (src, dst) = v6_pair();
            let body = udp_v6(b"v6");
            let r = ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: NextHeader::Udp,
                hop_limit: 64,
                payload_len: body.len(),
                traffic_class: 0x29,
                flow_label: 0,
            };
            a.ethernet()
                .send(mac_b, EtherType::Ipv6, r.buffer_len(), |buf| {
                    r.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..]));
                    buf[40..r.buffer_len()].copy_from_slice(&body);
                    r.buffer_len()
                })
                .unwrap();
        }
        sleep_ns(SEC / 10).await;
        let mut buf = [0u8; 16];
        let (n, meta) = sock.try_recv_from(&mut buf).unwrap().unwrap();
        assert_eq!((&buf[..n], meta.tos), (&b"hi"[..], 0x2b));
        let (n, meta) = sock.try_recv_from(&mut buf).unwrap().unwrap();
        assert_eq!((&buf[..n], meta.tos), (&b"v6"[..], 0x29));
    });
}

/// What IPv4's and IPv6's input hand to the transports (RFC 1122 section
/// 3.2.1.6): the datagram's type of service or traffic class byte, also
/// after reassembly.
#[test]
fn ip_input_passes_the_tos_byte_up_with_the_datagram() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |_a, b, _| async move {
        use mirage::net::wire::ipv6;
        sleep_ns(2 * SEC).await;
        let payload = [0u8; 8];
        let mut frame = vec![0u8; 28];
        let repr = ipv4::Repr {
            dscp_ecn: 0xb9,
            ..v4_whole("10.0.0.1", "10.0.0.2", ipv4::Protocol::Unknown(253), 8)
        };
        repr.emit(&mut ipv4::Packet::new_unchecked(&mut frame[..]));
        frame[20..].copy_from_slice(&payload);
        let d = b.ipv4().input(&frame).expect("delivered");
        assert_eq!((d.protocol, d.tos), (253, 0xb9));
        // Two fragments: the datagram has the byte they carry.
        let mut got = None;
        for (offset, more) in [(0u16, true), (8, false)] {
            let repr = ipv4::Repr {
                dont_fragment: false,
                more_fragments: more,
                frag_offset: offset,
                ident: 9,
                ..repr
            };
            let mut frame = vec![0u8; 28];
            repr.emit(&mut ipv4::Packet::new_unchecked(&mut frame[..]));
            if let Some(d) = b.ipv4().input(&frame) {
                got = Some((d.payload.len(), d.tos));
            }
        }
        assert_eq!(got, Some((16, 0xb9)));
        let (src, dst) = v6_pair();
        let r = ipv6::Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: ipv6::NextHeader::Unknown(253),
            hop_limit: 64,
            payload_len: 8,
            traffic_class: 0x62,
            flow_label: 0,
        };
        let mut frame = vec![0u8; 48];
        r.emit(&mut ipv6::Packet::new_unchecked(&mut frame[..]));
        let d = b.ipv6().input(&frame).expect("delivered");
        assert_eq!((d.protocol, d.tos), (253, 0x62));
    });
}

/// A device error on one send does not lose the rest of what a poll of
/// the IPv6 layer had due: B's second write (its first MLD report, in the
/// poll that also sends its DAD probes) fails, and the DAD probes of both
/// its addresses still go (before, the poll returned at the error and the
/// addresses became usable unchecked).
#[test]
fn a_failed_send_loses_nothing_else_the_ipv6_timers_had_due() {
    use mirage::net::wire::{icmpv6, ipv6};
    let faults = ReadFaults::default();
    faults.record.set(true);
    faults.fail_write.set(2);
    let (ha, hb) = hosts();
    flaky_pair_from(ha, hb, faults, |_a, b, faults| async move {
        sleep_ns(3 * SEC).await;
        let written = faults.written.borrow();
        let probes: Vec<std::net::Ipv6Addr> = written
            .iter()
            .filter(|f| f[12..14] == [0x86, 0xdd])
            .filter_map(|f| {
                let ip = ipv6::Packet::new_checked(&f[14..]).ok()?;
                let msg = icmpv6::Packet::new_checked(ip.payload()).ok()?;
                let repr = icmpv6::Repr::parse(&msg, ip.src_addr(), ip.dst_addr()).ok()?;
                match repr {
                    icmpv6::Repr::NeighborSolicit { target_addr, .. }
                        if ip.src_addr().is_unspecified() =>
                    {
                        Some(target_addr)
                    }
                    _ => None,
                }
            })
            .collect();
        let b_ll = mirage::net::ipv6::addr::link_local(b.ethernet().mac());
        let fd: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
        assert!(probes.contains(&b_ll), "{probes:?}");
        assert!(probes.contains(&fd), "{probes:?}");
        assert_eq!(faults.writes.get() as usize, written.len() + 1);
    });
}

/// The same for ARP: two addresses being resolved have their requests
/// repeated in the same poll; the first repeat fails at the device, and
/// the other still goes (before, the poll returned at the error).
#[test]
fn a_failed_arp_request_loses_no_other_one() {
    // (B without IPv6: the write made to fail is an ARP request's, not an
    // IPv6 timer's message that happens to be due then.)
    let (ha, mut hb) = hosts();
    hb.ipv4_only = true;
    flaky_pair_with(ha, hb, |_a, b, faults| async move {
        sleep_ns(2 * SEC).await;
        faults.record.set(true);
        let (x, y) = (v4("10.0.0.8"), v4("10.0.0.9"));
        let requests = |faults: &ReadFaults, ip: IpAddr| {
            let IpAddr::V4(ip) = ip else { unreachable!() };
            faults
                .written
                .borrow()
                .iter()
                .filter(|f| f[12..14] == [0x08, 0x06] && f[38..42] == ip.octets())
                .count()
        };
        // (Both requests go at once; their repeats are due together.)
        let write = |dst| async move {
            let _ = b.udp().write(Some(5000), dst, 7, b"anyone?").await;
        };
        let check = async {
            sleep_ns(SEC / 10).await;
            assert_eq!((requests(&faults, x), requests(&faults, y)), (1, 1));
            faults.fail_write.set(faults.writes.get() + 1);
            sleep_ns(10 * SEC).await;
        };
        mirage::rt::join(write(x), mirage::rt::join(write(y), check)).await;
        let tries = 1 + mirage::net::arp::cache::Config::default().retries as usize;
        let (nx, ny) = (requests(&faults, x), requests(&faults, y));
        assert_eq!(nx + ny, 2 * tries - 1, "{nx} {ny}");
    });
}
