//! The workloads on two of our stacks over the in-memory link, on one
//! executor, through the application API.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, LinkConfig};
use mirage::net::stack::{DirectStack, Stackv4v6, UdpOf};
use mirage::net::udp::{Udp, UdpSocket};
use mirage::rt::{Executor, leak};

use super::netsim::{self, Addressing};
use super::{
    ADDR_A, ADDR_B, BURST, PING_DATA, PING_IDENT, PORT_A, PORT_B, PREFIX_LEN, RealClock, link_with,
};

/// One of our stacks over the link.
pub type Stack = DirectStack<Endpoint, RealClock>;
type Socket = <UdpOf<Endpoint, RealClock> as Udp>::Socket;

/// A static IPv4 address on an IPv4-only stack.
fn ipv4_only(addr: std::net::Ipv4Addr) -> Addressing {
    Addressing {
        ipv4: Some((format!("{addr}/{PREFIX_LEN}").parse().unwrap(), None)),
        ipv6: None,
        slaac: false,
        ipv4_only: true,
        ipv6_only: false,
    }
}

/// An executor on the real clock, and hosts A and B over a link made by
/// `config`, their runners spawned on it.
pub fn hosts(config: LinkConfig) -> (Executor<RealClock>, &'static Stack, &'static Stack) {
    let ex = Executor::new(RealClock);
    let clock = leak(RealClock);
    let (na, nb) = link_with(config);
    let (a, b) = ex
        .block_on(async move {
            let a = netsim::stack(clock, na, ipv4_only(ADDR_A), 1).await;
            let b = netsim::stack(clock, nb, ipv4_only(ADDR_B), 2).await;
            (a, b)
        })
        .expect("no stop request");
    (ex, a, b)
}

/// Hosts A and B, their runners spawned on `ex`, with a UDP socket each.
pub struct MirageHosts {
    ex: Executor<RealClock>,
    a: &'static Stack,
    b: &'static Stack,
    tx: &'static Socket,
    rx: &'static Socket,
}

impl MirageHosts {
    /// Connects both stacks and warms them up (ARP resolved both ways).
    pub fn new() -> Self {
        let (ex, a, b) = hosts(LinkConfig::default());
        let tx = leak(a.udp().bind(PORT_A).unwrap());
        let rx = leak(b.udp().bind(PORT_B).unwrap());
        let hosts = MirageHosts { ex, a, b, tx, rx };
        hosts.udp(BURST, &[0; 8]);
        hosts.ping(1);
        hosts
    }

    /// Sends `n` datagrams of `payload` from A to B in bursts; the time
    /// until B's socket has taken the last one.
    pub fn udp(&self, n: u64, payload: &'static [u8]) -> Duration {
        let (tx, rx) = (self.tx, self.rx);
        let dst = IpAddr::V4(ADDR_B);
        let mut buf = vec![0u8; 2048];
        let started = Instant::now();
        self.ex
            .block_on(async move {
                let mut left = n;
                while left > 0 {
                    let burst = left.min(BURST);
                    for _ in 0..burst {
                        tx.send_to(payload, dst, PORT_B).await.expect("send");
                    }
                    for _ in 0..burst {
                        let (len, meta) = rx.recv_from(&mut buf).await.expect("receive");
                        assert_eq!((len, meta.src_port), (payload.len(), PORT_A));
                    }
                    left -= burst;
                }
            })
            .expect("no stop request");
        started.elapsed()
    }

    /// `n` echo round trips from A to B, one after the other.
    pub fn ping(&self, n: u64) -> Duration {
        let icmp = self.a.icmpv4();
        let dst = IpAddr::V4(ADDR_B);
        let started = Instant::now();
        self.ex
            .block_on(async move {
                for i in 0..n {
                    let seq = i as u16;
                    assert!(icmp.ping(dst, PING_IDENT, seq, PING_DATA).expect("ping"));
                    let reply = icmp.next_reply().await;
                    assert_eq!((reply.seq_no, reply.data.len()), (seq, PING_DATA.len()));
                }
            })
            .expect("no stop request");
        started.elapsed()
    }

    /// Checks that nothing was dropped on the way.
    pub fn check_clean(&self) {
        for host in [self.a, self.b] {
            let link = host.net().stats();
            assert_eq!((link.rx_dropped, link.tx_dropped), (0, 0), "{link:?}");
            let udp = host.udp().stats();
            assert_eq!((udp.queue_full, udp.malformed), (0, 0), "{udp:?}");
        }
    }
}
