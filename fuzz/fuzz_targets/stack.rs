//! The whole receive path of a direct stack (Ethernet, ARP, IPv4 with its
//! options and fragments, IPv6 with its extension headers, ICMP of both
//! families, neighbour discovery, MLD, UDP, TCP, DHCP's port) fed frames
//! cut from the input, on virtual time, with a UDP and a TCP listener of
//! the application's. Each frame is preceded by a length byte and a
//! control byte; the control byte's bits aim the frame: bit 0 its link
//! destination at the stack's address (else broadcast), bit 1 an IPv4
//! destination at the stack's address, bit 2 an IPv6 one, bit 3 the
//! checksums fixed (the IPv4 header's and the transport's, so that frames
//! get past them). Virtual time moves on by the other bits' milliseconds
//! after each frame. One stack serves every input (made once: stacks are
//! leaked), so its state carries over, as on a link. Nothing may panic.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicPtr, Ordering};

use libfuzzer_sys::fuzz_target;
use mirage::Mclock;
use mirage::args::{Ipv4Prefix, Ipv6Prefix};
use mirage::net::MacAddr;
use mirage::net::arp::Arp;
use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, Link, LinkConfig};
use mirage::net::ethernet::Ethif;
use mirage::net::ipv4::{Ipv4, Ipv4Config};
use mirage::net::ipv6::{Ipv6, Ipv6Config};
use mirage::net::stack::{DirectStack, Stackv4v6};
use mirage::net::tcp::Tcp;
use mirage::net::udp::{Udp, UdpSocket};
use mirage::net::wire::checksum::PseudoHeader;
use mirage::net::wire::{icmpv4, icmpv6, ipv4, tcp, udp};
use mirage::random::Rng;
use mirage::rt::{Executor, Spawner, VirtualPlatform, leak, sleep_ns};

const OURS_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OURS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);

/// The stack's clock: the executor's virtual time.
struct Clock(VirtualPlatform);

impl Mclock for Clock {
    fn elapsed_ns(&self) -> u64 {
        use mirage::rt::Platform;
        self.0.now_ns()
    }
}

/// The stack under test and the other end of its link.
struct Rig {
    ex: Executor<VirtualPlatform>,
    peer: Endpoint,
    mac: MacAddr,
}

fn make_rig() -> Rig {
    let platform = VirtualPlatform::new();
    let clock: &'static Clock = leak(Clock(platform.clone()));
    let ex = Executor::new(platform);
    let (ours, peer) = Link::pair(LinkConfig::default());
    let mac = ours.mac();
    ex.block_on(async move {
        let net = leak(ours);
        let eth = leak(Ethif::connect(net));
        let arp = leak(Arp::connect(eth, clock));
        let address = Ipv4Prefix::new(OURS_V4, 24).unwrap();
        let ipv4 = leak(
            Ipv4::connect(
                eth,
                arp,
                clock,
                Ipv4Config {
                    address,
                    gateway: None,
                },
                1,
            )
            .unwrap(),
        );
        let ipv6 = leak(Ipv6::connect(
            eth,
            clock,
            Ipv6Config {
                address: Some(Ipv6Prefix::new(OURS_V6, 64).unwrap()),
                gateway: None,
                slaac: true,
            },
            1,
        ));
        let random = Rng::from_seed(&[7; 32]);
        let stack = DirectStack::connect_with(
            net,
            eth,
            arp,
            ipv4,
            ipv6,
            clock,
            &random,
            false,
            false,
            mirage::net::tcp::Config::default(),
        )
        .await
        .unwrap();
        let spawner = Spawner::for_current_executor().await;
        // The application: a UDP socket on port 7 and a TCP listener on
        // port 80 that read what comes and answer it.
        let socket = stack.udp().bind(7).unwrap();
        spawner.spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, meta)) = socket.recv_from(&mut buf).await {
                let _ = socket
                    .send_to(&buf[..n.min(64)], meta.src, meta.src_port)
                    .await;
            }
        });
        stack
            .tcp()
            .listen(80, |mut flow| async move {
                use embedded_io_async::{Read, Write};
                let mut buf = [0u8; 512];
                while let Ok(n) = flow.read(&mut buf).await {
                    if n == 0 || flow.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            })
            .await
            .unwrap();
    })
    .unwrap();
    Rig { ex, peer, mac }
}

/// Aims and fixes up `frame` as `control` says.
fn aim(frame: &mut [u8], control: u8, mac: MacAddr) {
    if frame.len() < 14 {
        return;
    }
    frame[..6].copy_from_slice(if control & 1 != 0 { &mac.0 } else { &[0xff; 6] });
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &mut frame[14..];
    match ethertype {
        0x0800 if ip.len() >= 20 => {
            if control & 2 != 0 {
                ip[16..20].copy_from_slice(&OURS_V4.octets());
            }
            if control & 8 == 0 {
                return;
            }
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let Ok(mut p) = ipv4::Packet::new_checked(&mut ip[..]) else {
                return;
            };
            p.fill_checksum();
            let (src, dst, proto) = (p.src_addr(), p.dst_addr(), ip[9]);
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
            if ihl < 20 || total < ihl {
                return;
            }
            let ph = PseudoHeader::new(IpAddr::V4(src), IpAddr::V4(dst));
            fix_transport(&mut ip[ihl..total], proto, ph, None);
        }
        0x86dd if ip.len() >= 40 => {
            if control & 4 != 0 {
                ip[24..40].copy_from_slice(&OURS_V6.octets());
            }
            if control & 8 == 0 {
                return;
            }
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]])).min(ip.len() - 40);
            let ph = PseudoHeader::new(IpAddr::V6(src), IpAddr::V6(dst));
            // (Only a transport right behind the fixed header.)
            let next = ip[6];
            fix_transport(&mut ip[40..40 + len], next, ph, Some((src, dst)));
        }
        _ => {}
    }
}

/// Fills the checksum of a TCP, UDP or ICMP message.
fn fix_transport(
    msg: &mut [u8],
    proto: u8,
    ph: Option<PseudoHeader>,
    v6: Option<(Ipv6Addr, Ipv6Addr)>,
) {
    match (proto, ph) {
        (6, Some(ph)) => {
            if let Ok(mut p) = tcp::Packet::new_checked(msg) {
                p.fill_checksum(&ph);
            }
        }
        (17, Some(ph)) => {
            if let Ok(mut p) = udp::Packet::new_checked(msg) {
                p.fill_checksum(&ph);
            }
        }
        (1, _) => {
            if let Ok(mut p) = icmpv4::Packet::new_checked(msg) {
                p.fill_checksum();
            }
        }
        (58, _) => {
            if let (Some((src, dst)), Ok(mut p)) = (v6, icmpv6::Packet::new_checked(msg)) {
                p.fill_checksum(src, dst);
            }
        }
        _ => {}
    }
}

/// The rig, made once in `init` and never freed: a global holds it, so
/// that the leak checker sees the stack's objects reachable to the end.
static RIG: AtomicPtr<Rig> = AtomicPtr::new(core::ptr::null_mut());

fuzz_target!(
    init: RIG.store(Box::into_raw(Box::new(make_rig())), Ordering::Release),
    |data: &[u8]| {
        // SAFETY: `init` stored a valid, never freed `Rig` before any input
        // runs, and libFuzzer runs inputs one at a time on one thread: this
        // is the only reference while it lives.
        let rig = unsafe { &mut *RIG.load(Ordering::Acquire) };
        let mut rest = data;
        while let [len, control, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            let mut frame = tail[..n].to_vec();
            rest = &tail[n..];
            // (Frames of up to 255 bytes, padded to an Ethernet header.)
            frame.resize(frame.len().max(14), 0);
            aim(&mut frame, *control, rig.mac);
            let _ = rig.peer.try_write(frame.len(), |buf| {
                buf[..frame.len()].copy_from_slice(&frame);
                frame.len()
            });
            let wait = u64::from(control >> 4) * 1_000_000;
            rig.ex
                .block_on(async move { sleep_ns(wait.max(1)).await })
                .unwrap();
            // What the stack answered is read and dropped (the link's queue
            // must not fill).
            while let Ok(Some(())) = rig.peer.try_read(|_| ()) {}
        }
    }
);
