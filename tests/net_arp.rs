//! Two stacks over the in-memory link, on virtual time: Ethernet and ARP
//! resolving each other, queued packets flushed in order, resolution
//! through loss, replies only for our addresses, a bounded cache under a
//! flood of requests, entries in use checked when no longer trusted,
//! address conflicts detected and defended.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::rc::Rc;

use mirage::Mclock;
use mirage::net::MacAddr;
use mirage::net::arp::{Arp, Arpv4, REDRAW_REACHABLE_NS};
use mirage::net::device::memory::{Endpoint, Faults, Link, LinkConfig};
use mirage::net::device::{NetError, Network};
use mirage::net::ethernet::{Ethernet, Ethif};
use mirage::net::wire::ethernet::EtherType;
use mirage::rt::{Executor, Spawner, VirtualPlatform, leak, sleep_ns, sleep_until};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SEC: u64 = 1_000_000_000;

struct Clock(VirtualPlatform);
impl Mclock for Clock {
    fn elapsed_ns(&self) -> u64 {
        self.0.now()
    }
}

struct Stack {
    eth: &'static Ethif<Endpoint>,
    arp: &'static Arp<Ethif<Endpoint>, Clock>,
    received: Rc<RefCell<Vec<Vec<u8>>>>,
}

/// Reads frames and hands ARP to ARP and IPv4 to the inbox; runs ARP's
/// timers.
fn start(spawner: &Spawner, net: Endpoint, clock: &'static Clock) -> Stack {
    let eth: &'static Ethif<Endpoint> = leak(Ethif::connect(leak(net)));
    let arp: &'static Arp<Ethif<Endpoint>, Clock> = leak(Arp::connect(eth, clock));
    let received = Rc::new(RefCell::new(Vec::new()));
    let inbox = received.clone();
    spawner.spawn(async move {
        loop {
            let frame = eth
                .read(|f| f.map(|f| (f.ethertype, f.payload.to_vec())))
                .await;
            match frame {
                Ok(Some((EtherType::Arp, payload))) => arp.input(&payload).unwrap(),
                Ok(Some((EtherType::Ipv4, payload))) => inbox.borrow_mut().push(payload),
                Ok(_) => {}
                Err(NetError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
    });
    spawner.spawn(async move {
        loop {
            match arp.next_deadline() {
                Some(t) => sleep_until(t).await,
                None => sleep_ns(100_000_000).await,
            }
            arp.poll().unwrap();
        }
    });
    Stack { eth, arp, received }
}

/// Sends an IPv4 "packet" of `len` bytes of `byte` to `ip` through ARP.
fn send(arp: &Arp<Ethif<Endpoint>, Clock>, ip: Ipv4Addr, byte: u8, len: usize) {
    arp.send_ipv4(ip, len, |buf| buf.fill(byte)).unwrap();
}

fn pair(config: LinkConfig) -> (Executor<VirtualPlatform>, Stack, Stack) {
    let platform = VirtualPlatform::new();
    let clock: &'static Clock = leak(Clock(platform.clone()));
    let ex = Executor::new(platform);
    let (na, nb) = Link::pair(config);
    let spawner = ex.spawner();
    let a = start(&spawner, na, clock);
    let b = start(&spawner, nb, clock);
    (ex, a, b)
}

#[test]
fn two_stacks_resolve_each_other_and_queued_packets_arrive_in_order() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (arp_a, arp_b) = (a.arp, b.arp);
    ex.block_on(async move {
        arp_a.set_ips(&[A]).unwrap();
        arp_b.set_ips(&[B]).unwrap();
        for i in 0..3u8 {
            send(arp_a, B, i, 20);
        }
        sleep_ns(SEC / 10).await;
    })
    .unwrap();
    assert_eq!(
        *b.received.borrow(),
        vec![vec![0u8; 20], vec![1; 20], vec![2; 20]]
    );
    assert_eq!(a.arp.cached(B), Some(b.eth.mac()));
    // B learnt A from A's request for B's address.
    assert_eq!(b.arp.cached(A), Some(a.eth.mac()));
    // Once resolved, packets go straight out.
    ex.block_on(async move {
        send(arp_b, A, 9, 8);
        sleep_ns(SEC / 10).await;
    })
    .unwrap();
    assert_eq!(*a.received.borrow(), vec![vec![9u8; 8]]);
}

#[test]
fn resolution_survives_loss_by_retrying() {
    let faults = Faults {
        seed: 11,
        drop: 0.4,
        ..Faults::NONE
    };
    let (ex, a, b) = pair(LinkConfig::default().with_faults(faults));
    let (arp_a, arp_b) = (a.arp, b.arp);
    let received = b.received.clone();
    ex.block_on(async move {
        arp_a.set_ips(&[A]).unwrap();
        arp_b.set_ips(&[B]).unwrap();
        // A packet per attempt, until one gets through (bounded).
        for _ in 0..20 {
            send(arp_a, B, 7, 10);
            sleep_ns(2 * SEC).await;
            if !received.borrow().is_empty() {
                break;
            }
        }
    })
    .unwrap();
    assert!(
        !b.received.borrow().is_empty(),
        "nothing got through in 20 attempts"
    );
    assert_eq!(a.arp.cached(B), Some(b.eth.mac()));
}

#[test]
fn only_our_addresses_are_answered_and_a_request_flood_is_bounded() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (eth_a, arp_a, arp_b) = (a.eth, a.arp, b.arp);
    ex.block_on(async move {
        arp_b.set_ips(&[B]).unwrap();
        arp_a.set_ips(&[A]).unwrap();
        // A asks for an address nobody has: no reply, A gives up.
        send(arp_a, Ipv4Addr::new(10, 0, 0, 99), 1, 1);
        sleep_ns(10 * SEC).await;
        // A flood of requests from 5000 spoofed senders, none for B.
        for i in 0..5000u32 {
            let sender = Ipv4Addr::from(0x0a01_0000 + i);
            let mut pkt = vec![0u8; 28];
            let repr = mirage::net::wire::arp::Repr {
                operation: mirage::net::wire::arp::Operation::Request,
                source_hardware_addr: MacAddr([2, 9, 9, 9, (i >> 8) as u8, i as u8]),
                source_protocol_addr: sender,
                target_hardware_addr: MacAddr::default(),
                target_protocol_addr: Ipv4Addr::new(10, 0, 0, 200),
            };
            repr.emit(&mut mirage::net::wire::arp::Packet::new_unchecked(
                &mut pkt[..],
            ));
            eth_a
                .write(MacAddr::BROADCAST, EtherType::Arp, 28, |buf| {
                    buf[..28].copy_from_slice(&pkt);
                    28
                })
                .await
                .unwrap();
            if i % 100 == 0 {
                sleep_ns(1000).await;
            }
        }
        sleep_ns(SEC).await;
    })
    .unwrap();
    assert_eq!(a.arp.cached(Ipv4Addr::new(10, 0, 0, 99)), None);
    assert_eq!(
        a.arp.stats().dropped,
        1,
        "the packet for the unresolvable address was dropped"
    );
    // Requests not for B create nothing in B's cache (only A, from A's
    // gratuitous announcement? no: announcements are not for B either).
    assert!(
        b.arp.cache_len() <= 1,
        "cache grew to {}",
        b.arp.cache_len()
    );
    assert!(b.received.borrow().is_empty());
    let stats = b.eth.device().stats();
    assert!(stats.rx_frames >= 5000 || stats.rx_dropped > 0);
}

/// An upper layer's doubt (TCP's negative advice) about a neighbour that
/// is there: ARP checks the entry with a request to its link address, the
/// neighbour answers, and the entry stays; a second doubt while the first
/// check runs sends nothing more.
#[test]
fn a_doubted_neighbour_that_answers_keeps_its_entry() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (arp_a, arp_b) = (a.arp, b.arp);
    let mac_b = b.eth.mac();
    ex.block_on(async move {
        arp_a.set_ips(&[A]).unwrap();
        arp_b.set_ips(&[B]).unwrap();
        send(arp_a, B, 1, 20);
        sleep_ns(SEC / 10).await;
        assert_eq!(arp_a.cached(B), Some(mac_b));
        let (sent, answered) = (arp_a.stats().requests_sent, arp_b.stats().replies_sent);
        arp_a.revalidate(B).unwrap();
        arp_a.revalidate(B).unwrap();
        sleep_ns(10 * SEC).await;
        assert_eq!(arp_a.stats().revalidations, 1);
        assert_eq!(arp_a.stats().requests_sent, sent + 1);
        assert_eq!(arp_b.stats().replies_sent, answered + 1);
        assert_eq!(arp_a.cached(B), Some(mac_b));
        // Still used without a new resolution.
        send(arp_a, B, 2, 20);
        sleep_ns(SEC / 10).await;
        assert_eq!(arp_a.stats().requests_sent, sent + 1);
    })
    .unwrap();
    assert_eq!(*b.received.borrow(), vec![vec![1u8; 20], vec![2; 20]]);
}

/// Reachability (RFC 1122 section 2.3.2.1): A sends to B once a second.
/// While B's station answers, A's entry is checked by a unicast request
/// each time it has been trusted for its trusted time (drawn around 30 s),
/// B answers, and nothing is resolved afresh. Then B's station stops
/// answering for B (as if B had moved to another link address, without
/// announcing it): within the next trusted time and three unanswered
/// requests the entry goes, A asks by broadcast, and once B answers again (here by announcing the address)
/// the packets that waited arrive; none was lost.
#[test]
fn a_used_neighbour_is_checked_and_one_that_stops_answering_is_resolved_afresh() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (arp_a, arp_b) = (a.arp, b.arp);
    let mac_b = b.eth.mac();
    let received = b.received.clone();
    ex.block_on(async move {
        arp_a.set_ips(&[A]).unwrap();
        arp_b.set_ips(&[B]).unwrap();
        let mut i = 0u8;
        let mut tick = || {
            send(arp_a, B, i, 20);
            i = i.wrapping_add(1);
        };
        // The trusted time: drawn around 30 s (the same on every run: the
        // seed is the MAC address and the virtual time).
        let reachable = arp_a.reachable_time_ns();
        assert!((15 * SEC..45 * SEC).contains(&reachable), "{reachable}");
        assert_ne!(reachable, 30 * SEC);
        // 100 s with B answering: a check each time the trusted time ends
        // (each answered within the link's delay, which starts the next).
        for _ in 0..100 {
            tick();
            sleep_ns(SEC).await;
        }
        let checks = 100 * SEC / reachable;
        let stats = arp_a.stats();
        assert_eq!(stats.reachability_checks, checks, "{stats:?} {reachable}");
        assert_eq!(
            arp_b.stats().replies_sent,
            1 + checks,
            "the first answer and the checks"
        );
        assert_eq!(arp_a.cached(B), Some(mac_b));
        assert_eq!(received.borrow().len(), 100);
        // B's station stops answering for B.
        arp_b.remove_ip(B);
        let requests = arp_a.stats().requests_sent;
        let mut t = 0;
        while arp_a.cached(B).is_some() {
            tick();
            sleep_ns(SEC).await;
            t += 1;
            assert!(t <= reachable / SEC + 5, "the entry stayed");
        }
        let stats = arp_a.stats();
        assert_eq!(stats.reachability_checks, checks + 1, "{stats:?}");
        // Three unicast requests to the old address; the next packet asks
        // by broadcast and waits.
        assert_eq!(stats.requests_sent, requests + 3);
        let delivered = received.borrow().len();
        tick();
        sleep_ns(SEC / 10).await;
        assert_eq!(arp_a.stats().requests_sent, requests + 4);
        assert_eq!(received.borrow().len(), delivered);
        arp_b.set_ips(&[B]).unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(arp_a.cached(B), Some(mac_b));
        assert_eq!(received.borrow().len(), delivered + 1);
        assert_eq!(arp_a.stats().dropped, 0);
    })
    .unwrap();
}

/// The trusted time is drawn between 0.5 and 1.5 times its base (30 s), as
/// Linux draws its neighbours': two hosts started together draw apart, and
/// each draws again every `REDRAW_REACHABLE_NS` (300 s), at its first poll
/// after then.
#[test]
fn the_trusted_time_is_drawn_per_host_and_again_every_few_minutes() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (arp_a, arp_b) = (a.arp, b.arp);
    let range = 15 * SEC..45 * SEC;
    let first = (arp_a.reachable_time_ns(), arp_b.reachable_time_ns());
    assert!(
        range.contains(&first.0) && range.contains(&first.1),
        "{first:?}"
    );
    assert_ne!(first.0, first.1);
    let mut draws = vec![first.0];
    ex.block_on(async move {
        // (The virtual clock starts at 0, when the hosts were made. The
        // harness polls at least every 100 ms: each draw comes at most that
        // late, and the next is counted from it.)
        for k in 1..=3 {
            sleep_until(k * REDRAW_REACHABLE_NS - SEC).await;
            assert_eq!(arp_a.reachable_time_ns(), *draws.last().unwrap());
            sleep_until(k * REDRAW_REACHABLE_NS + SEC).await;
            let t = arp_a.reachable_time_ns();
            assert!(range.contains(&t), "{t}");
            assert!(!draws.contains(&t), "{t} {draws:?}");
            draws.push(t);
        }
    })
    .unwrap();
}

/// RFC 5227 section 2.4: an ARP packet from another link address that
/// claims one of our addresses is a conflict: counted and logged, and the
/// address defended with one announcement, at most one per 10 s
/// (DEFEND_INTERVAL); the claim is never learnt.
#[test]
fn a_station_claiming_our_address_is_a_conflict_we_defend_against() {
    let (ex, a, b) = pair(LinkConfig::default());
    let (arp_a, eth_b) = (a.arp, b.eth);
    let b_frames = move || eth_b.device().stats().rx_frames;
    ex.block_on(async move {
        arp_a.set_ips(&[A]).unwrap();
        sleep_ns(SEC).await;
        // B's station announces A's address as its own.
        let claim = || async {
            let mut pkt = [0u8; 28];
            let repr = mirage::net::wire::arp::Repr {
                operation: mirage::net::wire::arp::Operation::Request,
                source_hardware_addr: eth_b.mac(),
                source_protocol_addr: A,
                target_hardware_addr: MacAddr::default(),
                target_protocol_addr: A,
            };
            repr.emit(&mut mirage::net::wire::arp::Packet::new_unchecked(
                &mut pkt[..],
            ));
            eth_b
                .write(MacAddr::BROADCAST, EtherType::Arp, 28, |buf| {
                    buf[..28].copy_from_slice(&pkt);
                    28
                })
                .await
                .unwrap();
            sleep_ns(SEC / 10).await;
        };
        let before = b_frames();
        claim().await;
        let s = arp_a.stats();
        assert_eq!((s.conflicts, s.defences), (1, 1));
        assert_eq!(b_frames(), before + 1, "A's announcement");
        // Again within 10 s: counted, not defended.
        claim().await;
        let s = arp_a.stats();
        assert_eq!((s.conflicts, s.defences), (2, 1));
        assert_eq!(b_frames(), before + 1);
        // 10 s after the defence: defended again.
        sleep_ns(10 * SEC).await;
        claim().await;
        let s = arp_a.stats();
        assert_eq!((s.conflicts, s.defences), (3, 2));
        assert_eq!(b_frames(), before + 2);
    })
    .unwrap();
    assert_eq!(a.arp.cached(A), None, "the claim is not learnt");
}
