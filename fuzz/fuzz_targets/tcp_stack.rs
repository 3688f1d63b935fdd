//! The TCP receive path: a `TcpEngine` with a listener on port 80 and an open
//! (SYN-SENT) connection to 10.0.0.2:80 is fed a sequence of segments cut
//! from the input (each preceded by a length byte and a control byte; the
//! checksum is fixed up so the segments reach the state machine), with
//! time advancing and `dispatch` running in between, and the application
//! reading and writing, by copy or in place. A control byte with the top
//! bit set makes the chunk an ICMP error instead (`TcpEngine::icmp_error`):
//! its kind from the control byte, its MTU from the chunk's last byte,
//! its quote the chunk
//! itself or the chunk after an IPv4 header from us to the peer (so that
//! ports and sequence numbers can match a connection). The connection also
//! sends urgent data, and its urgent count is checked. An input of odd
//! length runs with a user timeout of its first byte times 100 ms (0: at
//! once). Nothing may panic and the tables stay within their bounds.
#![no_main]

use core::net::{IpAddr, Ipv4Addr};
use core::task::Waker;
use libfuzzer_sys::fuzz_target;
use mirage::net::ip::{IcmpError, IcmpErrorKind};
use mirage::net::tcp::{Config, Ecn, TcpEngine, Transmit};
use mirage::net::wire::checksum::PseudoHeader;
use mirage::net::wire::tcp::Packet;

const US: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

struct Sink(usize);

impl Transmit for Sink {
    fn mss_hint(&self, _dst: IpAddr) -> usize {
        1460
    }

    fn send(&mut self, _s: IpAddr, _d: IpAddr, len: usize, fill: impl FnOnce(&mut [u8])) -> bool {
        if self.0 == 0 {
            return false;
        }
        self.0 -= 1;
        let mut b = vec![0u8; len];
        fill(&mut b);
        Packet::new_checked(&b[..]).expect("we emit well-formed segments");
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let config = Config {
        max_connections: 8,
        max_backlog: 4,
        max_time_wait: 8,
        send_buffer: 4096,
        recv_buffer: 4096,
        user_timeout_ns: (data.len() % 2 == 1).then(|| u64::from(data[0]) * 100_000_000),
        ecn: if data.len() % 3 == 0 {
            Ecn::On
        } else {
            Ecn::Passive
        },
        black_hole_detection: data.len() % 5 == 0,
        ..Config::default()
    };
    let mut tcp = TcpEngine::new(config, [7; 32]);
    let l = tcp.listen(80, 4).unwrap();
    let c = tcp.connect(0, (US, 40000), (PEER, 80)).unwrap();
    let _ = tcp.send(c, b"hello");
    let mut now = 1_000_000_000u64;
    let mut rest = data;
    let mut buf = [0u8; 64];
    while let [len, ctl, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let mut seg = tail[..n].to_vec();
        rest = &tail[n..];
        if ctl & 0x80 != 0 {
            let m = seg.last().copied();
            let kind = match (ctl >> 1) % 6 {
                0 => IcmpErrorKind::NetUnreachable,
                1 => IcmpErrorKind::HostUnreachable,
                2 => IcmpErrorKind::Prohibited,
                3 => IcmpErrorKind::ProtocolUnreachable,
                4 => IcmpErrorKind::PortUnreachable,
                _ => IcmpErrorKind::TooBig {
                    mtu: u32::from(m.unwrap_or(0)) * 8,
                },
            };
            let mut quoted = seg.clone();
            if ctl & 1 == 0 {
                quoted = vec![
                    0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                ];
                quoted.extend_from_slice(&seg);
            }
            tcp.icmp_error(
                now,
                &IcmpError {
                    kind,
                    quoted: &quoted,
                },
            );
        } else {
            if let Ok(mut p) = Packet::new_checked(&mut seg[..]) {
                if ctl & 1 == 0 {
                    p.fill_checksum(&PseudoHeader::new(PEER, US).unwrap());
                }
            }
            // (The ECN field too: CE marks for connections using ECN.)
            tcp.process_tos(now, &PEER, &US, (ctl >> 5) & 3, &seg, &mut Sink(16));
        }
        now += u64::from(*ctl >> 1) * 1_000_000;
        tcp.dispatch(now, &mut Sink(usize::from(ctl & 7)));
        // The application's operations: copying, or in place (then with
        // partial consumption, and claims past what it was given).
        let over = ctl & 0x10 != 0;
        while let Ok(Some(id)) = tcp.accept(l) {
            let _ = tcp.recv(id, &mut buf);
            if ctl & 0x20 != 0 {
                let mut fill = Some(|room: &mut [u8]| {
                    let n = room.len().min(5);
                    room[..n].copy_from_slice(&b"reply"[..n]);
                    (if over { usize::MAX } else { n }, ())
                });
                let _ = tcp.send_with_or_register(id, &mut fill, Waker::noop());
            } else {
                let _ = tcp.send(id, b"reply");
            }
            if ctl & 0x40 != 0 {
                let _ = tcp.close(id);
            }
        }
        if ctl & 0x20 != 0 {
            let mut take = Some(|run: &[u8]| (if over { usize::MAX } else { run.len() / 2 }, ()));
            let _ = tcp.recv_with_or_register(c, &mut take, Waker::noop());
        } else {
            let _ = tcp.recv(c, &mut buf);
        }
        // Urgent data: sent, and the peer's pointers (from any segment
        // with URG) never put the urgent data further than the receive
        // buffer and the 16-bit pointer field reach.
        if ctl & 0x08 != 0 {
            let _ = tcp.send_urgent(c, b"!");
        }
        if let Ok(Some(u)) = tcp.urgent(c) {
            assert!(u <= 2 * 4096 + 0xffff, "{u}");
        }
        let _ = tcp.poll_urgent(c, Waker::noop());
        let o = tcp.occupancy();
        assert!(o.connections <= 8 && o.time_wait <= 8, "{o:?}");
    }
});
