//! TCP between two stacks over the in-memory link, on virtual time:
//! connections over both families, echo through the `embedded-io-async`
//! traits, half-close, bulk transfers of tens of megabytes both ways with
//! 0 %, 1 % and 5 % loss plus reordering and duplication (checked end to
//! end), refused connections, churn of thousands of short connections
//! that leaves nothing behind, and ICMP errors from a router on A's path
//! (fragmentation needed, packet too big, rejected SYNs).

#[path = "common/netsim.rs"]
mod netsim;

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

use embedded_io_async::{Read, Write};
use mirage::net::device::Network;
use mirage::net::device::memory::{Faults, LinkConfig};
use mirage::net::ip::Ip;
use mirage::net::stack::Stackv4v6;
use mirage::net::tcp::{Flow, Tcp, TcpError, TcpListener};
use mirage::net::wire::ethernet::EtherType;
use mirage::rt::{Spawner, sleep_ns};

use netsim::{Addressing, Routed, RouterError, SEC, Stack, payload, v4, v4_whole, v6};

fn hosts() -> (Addressing, Addressing) {
    (
        Addressing::both("10.0.0.1", "fd00::1"),
        Addressing::both("10.0.0.2", "fd00::2"),
    )
}

/// A 64-bit FNV-1a digest, to compare streams without keeping them.
#[derive(Clone, Copy)]
struct Digest(u64, u64);

impl Digest {
    fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325, 0)
    }
    fn add(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        self.1 += data.len() as u64;
    }
}

/// The bytes `[offset, offset + buf.len())` of the test stream.
fn stream_bytes(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = offset + i as u64;
        *b = (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8;
    }
}

/// Writes `len` bytes of the test stream to `flow`, then closes it.
async fn send_stream<F: Flow>(mut flow: F, len: u64) -> Digest {
    let mut d = Digest::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0;
    while sent < len {
        let n = ((len - sent) as usize).min(buf.len());
        stream_bytes(sent, &mut buf[..n]);
        flow.write_all(&buf[..n]).await.unwrap();
        d.add(&buf[..n]);
        sent += n as u64;
    }
    flow.close().await.unwrap();
    d
}

/// Reads `flow` to its end.
async fn receive_stream<F: Flow>(mut flow: F) -> Digest {
    let mut d = Digest::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = flow.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        d.add(&buf[..n]);
    }
    d
}

/// A transfer of `len` bytes from `a` to `b` and another from `b` to `a`
/// at once; both arrive intact.
async fn both_ways(a: &'static Stack, b: &'static Stack, dst: IpAddr, len: u64) {
    let listener = b.tcp().bind(5001).unwrap();
    let got = Rc::new(RefCell::new(None));
    let sent_back = Rc::new(RefCell::new(None));
    let (g, s) = (got.clone(), sent_back.clone());
    let spawner = Spawner::for_current_executor().await;
    spawner.spawn(async move {
        let flow = listener.accept().await.unwrap();
        // The server sends its own stream on a second connection.
        let back = b.tcp().connect(flow.remote().0, 5002).await.unwrap();
        let sender = Spawner::for_current_executor()
            .await
            .spawn(send_stream(back, len));
        *g.borrow_mut() = Some(receive_stream(flow).await);
        *s.borrow_mut() = Some(sender.await);
    });
    let back_listener = a.tcp().bind(5002).unwrap();
    let flow = a.tcp().connect(dst, 5001).await.unwrap();
    let sender = spawner.spawn(send_stream(flow, len));
    let back = back_listener.accept().await.unwrap();
    let received_back = receive_stream(back).await;
    let sent = sender.await;
    while got.borrow().is_none() || sent_back.borrow().is_none() {
        sleep_ns(SEC / 10).await;
    }
    let got = got.borrow().unwrap();
    let sent_back = sent_back.borrow().unwrap();
    assert_eq!((got.0, got.1), (sent.0, sent.1), "a to b");
    assert_eq!(
        (received_back.0, received_back.1),
        (sent_back.0, sent_back.1),
        "b to a"
    );
    assert_eq!(got.1, len);
}

fn run_bulk(faults: Faults, len: u64, family_v6: bool) {
    run_bulk_over(LinkConfig::default().with_faults(faults), len, family_v6);
}

/// [`run_bulk`] over a link made by `config`; with its segmentation
/// offload, checks that A's frames were longer than the MTU on average.
fn run_bulk_over(config: LinkConfig, len: u64, family_v6: bool) {
    let (ha, hb) = hosts();
    let faults = config.faults[0];
    netsim::pair(config, ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let dst = if family_v6 {
            v6("fd00::2")
        } else {
            v4("10.0.0.2")
        };
        both_ways(a, b, dst, len).await;
        // Let the closes finish, then nothing is left.
        sleep_ns(200 * SEC).await;
        for s in [a, b] {
            let o = s.direct_tcp().occupancy();
            assert_eq!(o.connections, 0, "{o:?}");
        }
        let stats = a.direct_tcp().stats();
        if faults.drop > 0.0 {
            assert!(stats.retransmitted > 0, "{stats:?}");
        }
        if config.segmentation_offload {
            let sent = a.net().stats();
            let mean = sent.tx_bytes / sent.tx_frames;
            assert!(mean > 1514, "the offload went unused: {sent:?}");
        }
    });
}

const MB: u64 = 1024 * 1024;

#[test]
fn bulk_both_ways_without_loss() {
    run_bulk(Faults::NONE, 24 * MB, false);
}

#[test]
fn bulk_both_ways_over_ipv6_with_one_percent_loss_reordering_and_duplication() {
    let faults = Faults {
        seed: 7,
        drop: 0.01,
        duplicate: 0.01,
        reorder: 0.01,
        corrupt: 0.0,
        delay_ns: 100_000,
    };
    run_bulk(faults, 16 * MB, true);
}

#[test]
fn bulk_both_ways_with_five_percent_loss_reordering_duplication_and_corruption() {
    let faults = Faults {
        seed: 9,
        drop: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        corrupt: 0.01,
        delay_ns: 100_000,
    };
    run_bulk(faults, 10 * MB, false);
}

/// Through the link's segmentation offload (segments of up to 64 KiB go
/// whole), under loss, duplication, reordering and corruption of those
/// segments: both families' streams arrive intact both ways.
#[test]
fn bulk_both_ways_through_segmentation_offload_with_loss_and_corruption() {
    let faults = Faults {
        seed: 11,
        drop: 0.02,
        duplicate: 0.01,
        reorder: 0.02,
        corrupt: 0.01,
        delay_ns: 100_000,
    };
    for (seed, v6) in [(11, false), (12, true)] {
        let config = LinkConfig {
            segmentation_offload: true,
            ..LinkConfig::default().with_faults(Faults { seed, ..faults })
        };
        run_bulk_over(config, 16 * MB, v6);
    }
}

#[test]
fn echo_through_the_embedded_io_traits_and_half_close() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        netsim::serve_echo(b, 7).await;
        for dst in [v4("10.0.0.2"), v6("fd00::2")] {
            let mut flow = a.tcp().connect(dst, 7).await.unwrap();
            assert_eq!(flow.remote(), (dst, 7));
            flow.writev(&[b"hello ", b"mirage"]).await.unwrap();
            let mut got = [0u8; 12];
            flow.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"hello mirage");
            // Half-close: the server sees the end of the stream, then
            // closes; we read the end too.
            flow.write_all(&payload(5000, 3)).await.unwrap();
            flow.shutdown_write().await.unwrap();
            let mut back = Vec::new();
            let mut buf = [0u8; 700];
            loop {
                let n = flow.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            assert_eq!(back, payload(5000, 3));
            // Writing after shutdown is an error.
            assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
            assert_eq!(flow.write_all(b"late").await, Err(TcpError::Closed));
            // The stream ended: an exact read falls short.
            assert!(matches!(
                flow.read_exact(&mut [0u8; 4]).await,
                Err(embedded_io_async::ReadExactError::UnexpectedEof)
            ));
            flow.close().await.unwrap();
        }
        // A closed port refuses; a host that does not answer on the
        // link is unreachable.
        assert_eq!(
            a.tcp().connect(v4("10.0.0.2"), 9).await.err(),
            Some(TcpError::Refused)
        );
        let err = a.tcp().connect(v4("10.0.0.99"), 7).await.err();
        assert_eq!(err, Some(TcpError::HostUnreachable));
    });
}

/// A flow dropped without `close` is closed by the stack's runner, which
/// an application kick wakes: the FIN leaves at once, also right after an
/// earlier kick (a regression: the runner consumed a kick and then stayed
/// unregistered on the signal, and the FIN waited for the next timer, up
/// to 20 minutes with IPv4 only).
#[test]
fn a_dropped_flow_is_closed_at_once_after_an_earlier_kick() {
    let (mut ha, mut hb) = hosts();
    ha.ipv4_only = true;
    hb.ipv4_only = true;
    netsim::pair(
        LinkConfig::default(),
        ha,
        hb,
        move |a, b, clock| async move {
            sleep_ns(3 * SEC).await;
            let (flow, mut server) = netsim::connected(a, b, v4("10.0.0.2"), 7).await;
            sleep_ns(SEC).await;
            for round in 0..2 {
                // A kick the runner consumes on its next turn.
                a.direct_tcp().with_engine(|_| ());
                sleep_ns(SEC / 1000).await;
                if round == 1 {
                    drop(flow);
                    break;
                }
            }
            let started = clock.0.now();
            let mut buf = [0u8; 16];
            assert_eq!(server.read(&mut buf).await.unwrap(), 0);
            let waited = clock.0.now() - started;
            assert!(
                waited < SEC / 100,
                "the FIN came {waited} ns after the drop"
            );
        },
    );
}

#[test]
fn thousands_of_short_connections_leave_nothing_behind() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let served = Rc::new(RefCell::new(0u32));
        let count = served.clone();
        b.tcp()
            .listen(80, move |mut flow| {
                let count = count.clone();
                async move {
                    let mut buf = [0u8; 64];
                    let n = flow.read(&mut buf).await.unwrap();
                    flow.write_all(&buf[..n]).await.unwrap();
                    flow.close().await.unwrap();
                    *count.borrow_mut() += 1;
                }
            })
            .await
            .unwrap();
        for i in 0..3000u32 {
            let dst = if i % 3 == 0 {
                v6("fd00::2")
            } else {
                v4("10.0.0.2")
            };
            let mut flow = a.tcp().connect(dst, 80).await.unwrap();
            flow.write_all(&i.to_be_bytes()).await.unwrap();
            let mut got = [0u8; 4];
            flow.read_exact(&mut got).await.unwrap();
            assert_eq!(u32::from_be_bytes(got), i);
            if i % 10 == 0 {
                flow.abort().unwrap();
            } else {
                flow.close().await.unwrap();
            }
        }
        // Past TIME-WAIT (2 MSL) everything is reclaimed.
        sleep_ns(120 * SEC).await;
        assert_eq!(*served.borrow(), 3000);
        for s in [a, b] {
            let o = s.direct_tcp().occupancy();
            assert_eq!(o.connections, 0, "{o:?}");
            assert_eq!(o.time_wait, 0, "{o:?}");
        }
    });
}

/// `Flow::read_with` and `Flow::write_with` on the direct stack, over a
/// link that loses, duplicates and reorders: a stream written in place in
/// pieces of odd sizes, and read in place consuming only part of each run
/// (so runs straddle the ring's wrap and partial consumption is kept),
/// arrives intact (also when the reader claims more than a run: only the
/// run counts, the bytes past the wrap come next); the end of the stream
/// is an empty slice, again and again; a read given up before any data
/// came leaves the stream whole; a write in place after `shutdown_write`
/// fails as `write` does.
#[test]
fn in_place_reads_and_writes_carry_a_stream_intact() {
    const LEN: u64 = 6 * MB;
    let (ha, hb) = hosts();
    let faults = Faults {
        seed: 11,
        drop: 0.01,
        duplicate: 0.01,
        reorder: 0.01,
        corrupt: 0.0,
        delay_ns: 100_000,
    };
    netsim::pair(
        LinkConfig::default().with_faults(faults),
        ha,
        hb,
        move |a, b, _| async move {
            sleep_ns(3 * SEC).await;
            let listener = b.tcp().bind(5003).unwrap();
            let spawner = Spawner::for_current_executor().await;
            let receiver = spawner.spawn(async move {
                let mut flow = listener.accept().await.unwrap();
                // Nothing was sent yet: a read given up consumes nothing.
                let early = mirage::rt::select(
                    flow.read_with(|run| (run.len(), run.len())),
                    sleep_ns(SEC / 100),
                )
                .await;
                assert!(matches!(early, mirage::rt::Either::Right(())));
                let mut d = Digest::new();
                let mut calls = 0u64;
                loop {
                    calls += 1;
                    // Consume half the run, or 7 bytes, so that the rest
                    // must come again; or claim more than the run, of
                    // which only the run counts.
                    let ended = flow
                        .read_with(|run| {
                            if calls.is_multiple_of(5) {
                                d.add(run);
                                return (usize::MAX, run.is_empty());
                            }
                            let n = if calls.is_multiple_of(3) {
                                run.len().min(7)
                            } else {
                                run.len().div_ceil(2)
                            };
                            d.add(&run[..n]);
                            (n, run.is_empty())
                        })
                        .await
                        .unwrap();
                    if ended {
                        break;
                    }
                    // Let segments in while bytes are held, so that runs
                    // straddle the ring's wrap.
                    if calls.is_multiple_of(4) {
                        mirage::rt::yield_now().await;
                    }
                    if calls.is_multiple_of(64) {
                        sleep_ns(SEC / 1000).await;
                    }
                }
                // The end stays the end.
                for _ in 0..3 {
                    let run = flow.read_with(|run| (usize::MAX, run.len())).await;
                    assert_eq!(run, Ok(0));
                }
                flow.close().await.unwrap();
                d
            });
            let mut flow = a.tcp().connect(v4("10.0.0.2"), 5003).await.unwrap();
            // (After the receiver's early read gave up.)
            sleep_ns(SEC / 10).await;
            let mut sent = Digest::new();
            let mut offset = 0u64;
            let mut piece = 1usize;
            while offset < LEN {
                piece = (piece * 7 + 13) % 3001 + 1;
                let want = piece.min((LEN - offset) as usize);
                let wrote = flow
                    .write_with(|room| {
                        assert!(!room.is_empty());
                        let n = want.min(room.len());
                        stream_bytes(offset, &mut room[..n]);
                        sent.add(&room[..n]);
                        // A claim past the room counts only the room.
                        (if n == room.len() { usize::MAX } else { n }, n)
                    })
                    .await
                    .unwrap();
                offset += wrote as u64;
            }
            flow.shutdown_write().await.unwrap();
            assert_eq!(
                flow.write_with(|room| (room.len(), ())).await,
                Err(TcpError::Closed)
            );
            let got = receiver.await;
            assert_eq!((got.0, got.1), (sent.0, sent.1));
            assert_eq!(got.1, LEN);
            // Both ends of the stream are read: B closed too.
            let end = flow.read_with(|run| (0, run.len())).await;
            assert_eq!(end, Ok(0));
            flow.close().await.unwrap();
        },
    );
}

/// `ReadReady` and `WriteReady` on the direct stack tell whether the next
/// `read` or `write` returns at once: nothing to read before the peer
/// writes; room to write until the send buffer is full (the peer reading
/// nothing), and again once the peer read; at the end of the stream and
/// after `shutdown_write` (also with the send buffer full), ready: the
/// calls return at once.
#[test]
fn readiness_tells_whether_the_next_read_or_write_returns_at_once() {
    use embedded_io_async::{ReadReady, WriteReady};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5004).await;
        assert_eq!(flow.read_ready(), Ok(false));
        assert_eq!(peer.read_ready(), Ok(false));
        assert_eq!(flow.write_ready(), Ok(true));
        peer.write_all(b"ping").await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(flow.read_ready(), Ok(true));
        let mut buf = [0u8; 4];
        flow.read_exact(&mut buf).await.unwrap();
        assert_eq!(flow.read_ready(), Ok(false));
        // The peer reads nothing: the send buffer fills.
        let chunk = vec![0x5a; 16 * 1024];
        let mut written = 0usize;
        while flow.write_ready() == Ok(true) {
            written += flow.write(&chunk).await.unwrap();
            assert!(written < 16 * 1024 * 1024, "the send buffer never filled");
            sleep_ns(SEC / 1000).await;
        }
        assert_eq!(flow.write_ready(), Ok(false));
        let mut drained = 0usize;
        let mut big = vec![0u8; 64 * 1024];
        while drained < written {
            drained += peer.read(&mut big).await.unwrap();
        }
        sleep_ns(SEC / 10).await;
        assert_eq!(flow.write_ready(), Ok(true));
        // Full again, then shut down: ready, since a write fails at once.
        while flow.write_ready() == Ok(true) {
            assert!(flow.write(&chunk).await.unwrap() > 0);
        }
        flow.shutdown_write().await.unwrap();
        assert_eq!(flow.write_ready(), Ok(true));
        assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
        // The peer takes the rest and the end; then the end comes back.
        while peer.read(&mut big).await.unwrap() > 0 {}
        peer.close().await.unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(flow.read_ready(), Ok(true));
        assert_eq!(flow.read(&mut buf).await, Ok(0));
        flow.close().await.unwrap();
    });
}

/// Consuming in place opens the window as `read` does: a sender stalled on
/// a full receive buffer (zero-window probes going out) resumes on the
/// reader's window updates, without waiting for a probe, and the whole
/// stream arrives in moments of virtual time.
#[test]
fn consuming_in_place_reopens_a_closed_window() {
    const LEN: usize = 1024 * 1024;
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig::default(),
        ha,
        hb,
        move |a, b, clock| async move {
            sleep_ns(3 * SEC).await;
            let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5005).await;
            let spawner = Spawner::for_current_executor().await;
            let sender = spawner.spawn(async move {
                flow.write_all(&payload(LEN, 5)).await.unwrap();
                flow
            });
            // B reads nothing for a while: its window closes and A probes.
            sleep_ns(5 * SEC).await;
            let probes = a.direct_tcp().stats().window_probes;
            assert!(probes > 0, "the window never closed");
            let started = clock.0.now();
            let mut got = Vec::new();
            while got.len() < LEN {
                let n = peer
                    .read_with(|run| {
                        got.extend_from_slice(run);
                        (run.len(), run.len())
                    })
                    .await
                    .unwrap();
                assert!(n > 0, "the stream ended early");
            }
            let took = clock.0.now() - started;
            assert!(got == payload(LEN, 5));
            assert_eq!(a.direct_tcp().stats().window_probes, probes);
            assert!(took < SEC / 10, "{took} ns to take the stream");
            sender.await.close().await.unwrap();
        },
    );
}

/// Keep-alive set through the `Flow` trait on an idle connection (nothing
/// else happens on it): A probes after each idle time, B answers, the
/// connection lives on; turned off, A stops probing. (`set_nodelay`'s
/// effect is the engine's unit tests'; here it is only called.)
#[test]
fn keepalive_through_the_flow_probes_an_idle_connection_until_turned_off() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5006).await;
        flow.set_nodelay(true).unwrap();
        // Let the handshake's last ACKs settle: from here on, the
        // connection is idle.
        sleep_ns(SEC).await;
        let probes = || a.direct_tcp().stats().keepalive_probes;
        assert_eq!(probes(), 0);
        flow.set_keepalive(Some(mirage::net::tcp::KeepAlive {
            idle_ns: 10 * SEC,
            interval_ns: SEC,
            count: 3,
        }))
        .unwrap();
        sleep_ns(9 * SEC).await;
        assert_eq!(probes(), 0, "probed before the idle time");
        // Answered probes at about 10, 20 and 30 s.
        sleep_ns(26 * SEC).await;
        assert_eq!(probes(), 3);
        flow.set_keepalive(None).unwrap();
        sleep_ns(40 * SEC).await;
        assert_eq!(probes(), 3, "probed after keep-alive was turned off");
        // The connection is alive.
        flow.write_all(b"still there").await.unwrap();
        let mut buf = [0u8; 11];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still there");
    });
}

/// The user timeout set through the `Flow` trait reaches the connection
/// (its effect is the engine's unit tests', `tcp::tests::user_timeout`),
/// and the connection carries on as before.
#[test]
fn user_timeout_through_the_flow_reaches_the_connection() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5008).await;
        let user_timeout = |flow: &netsim::Flow| {
            a.direct_tcp()
                .with_engine(|e| e.info(flow.id()).unwrap().user_timeout_ns)
        };
        assert_eq!(user_timeout(&flow), None);
        flow.set_user_timeout(Some(30 * SEC)).unwrap();
        assert_eq!(user_timeout(&flow), Some(30 * SEC));
        flow.write_all(b"still there").await.unwrap();
        let mut buf = [0u8; 11];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still there");
        flow.set_user_timeout(None).unwrap();
        assert_eq!(user_timeout(&flow), None);
    });
}

/// What arrived before the peer's reset is read first, then the reset (as
/// Linux, and so the socket stack, does; RFC 9293 would flush it), and a
/// write fails at once: B writes and aborts before A reads.
#[test]
fn what_arrived_before_a_reset_is_read_first() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5020).await;
        peer.write_all(&payload(100_000, 3)).await.unwrap();
        let id = flow.id();
        while a
            .direct_tcp()
            .with_engine(|e| e.info(id))
            .unwrap()
            .recv_queue
            < 100_000
        {
            sleep_ns(SEC / 100).await;
        }
        peer.abort().unwrap();
        sleep_ns(SEC / 10).await;
        assert_eq!(flow.write(b"late").await, Err(TcpError::Reset));
        let mut got = vec![0u8; 100_000];
        flow.read_exact(&mut got).await.unwrap();
        assert_eq!(got, payload(100_000, 3));
        assert_eq!(flow.read(&mut [0u8; 4]).await, Err(TcpError::Reset));
    });
}

/// A peer that resets midway: a large `write_all` ends with the reset (it
/// does not hang), and later reads and writes report it; a reader half
/// waiting in a split flow is woken with it too.
#[test]
fn a_reset_midway_ends_write_all_and_waiting_reads() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5007).await;
        let spawner = Spawner::for_current_executor().await;
        let reader = spawner.spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < 100 * 1024 {
                got += peer.read(&mut buf).await.unwrap();
            }
            // Unread data left: the close resets.
            drop(peer);
        });
        let r = flow.write_all(&payload(8 * 1024 * 1024, 7)).await;
        reader.await;
        assert_eq!(r, Err(TcpError::Reset));
        assert_eq!(flow.read(&mut [0u8; 4]).await, Err(TcpError::Reset));
        assert_eq!(flow.write(b"late").await, Err(TcpError::Reset));
        flow.close().await.unwrap();

        // A split flow's reader, waiting, sees the reset.
        let (mut flow, peer) = netsim::connected(a, b, v4("10.0.0.2"), 5008).await;
        let aborter = spawner.spawn(async move {
            sleep_ns(SEC).await;
            peer.abort().unwrap();
        });
        let (mut r, _w) = flow.split();
        assert_eq!(r.read(&mut [0u8; 4]).await, Err(TcpError::Reset));
        aborter.await;
    });
}

/// Two tasks accepting on one listener both get a connection, as on the
/// socket stack: the second task's wait does not replace the first's
/// (which then waited for good while connections queued up).
#[test]
fn two_tasks_accepting_on_one_listener_both_get_a_connection() {
    use mirage::rt::{Either, join, select};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let listener: &'static _ = Box::leak(Box::new(b.tcp().bind(5009).unwrap()));
        let spawner = Spawner::for_current_executor().await;
        let first = spawner.spawn(async { listener.accept().await.map(|f| f.remote()) });
        let second = spawner.spawn(async { listener.accept().await.map(|f| f.remote()) });
        // (Both tasks wait on the listener before the connections.)
        sleep_ns(SEC).await;
        let x = a.tcp().connect(v4("10.0.0.2"), 5009).await.unwrap();
        let y = a.tcp().connect(v4("10.0.0.2"), 5009).await.unwrap();
        let both = select(join(first, second), sleep_ns(10 * SEC));
        let Either::Left((first, second)) = both.await else {
            panic!("an accepting task was never woken");
        };
        let mut got = [first.unwrap(), second.unwrap()];
        got.sort();
        let mut expected = [x.local(), y.local()];
        expected.sort();
        assert_eq!(got, expected);
    });
}

/// An `accept` future dropped before a connection came (a `select`
/// with a timeout, a task cancelled) leaves no waker in the listener: the
/// wakers it holds are those of the futures still waiting, however many
/// were abandoned before (a waker kept its task alive until the next
/// connection). Those still waiting are woken, also when another future
/// of their task, with the same waker, was dropped.
#[test]
fn a_dropped_accept_leaves_no_waker_behind() {
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    /// Counts its wakes.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let listener = b.tcp().bind(5013).unwrap();
        let poll_once = |waker: &Waker| {
            let mut accept = pin!(listener.accept());
            let polled = accept.as_mut().poll(&mut Context::from_waker(waker));
            assert!(polled.is_pending());
        };
        // A thousand abandoned futures, each its own task's waker.
        let counts: Vec<Arc<Count>> = (0..1000)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        for count in &counts {
            poll_once(&Waker::from(count.clone()));
        }
        let held = counts.iter().filter(|c| Arc::strong_count(c) > 1).count();
        assert_eq!(held, 0, "wakers of dropped accept futures are held");
        // One still waiting, and another of its task dropped.
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut waiting = pin!(listener.accept());
        let mut cx = Context::from_waker(&waker);
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        poll_once(&waker);
        assert_eq!(Arc::strong_count(&count), 3, "the waiting future's waker");
        let _x = a.tcp().connect(v4("10.0.0.2"), 5013).await.unwrap();
        // (Time for the handshake's last ACK to reach B.)
        sleep_ns(SEC).await;
        assert!(
            count.0.load(Ordering::Relaxed) >= 1,
            "the waiting future was not woken"
        );
        let Poll::Ready(Ok(_)) = waiting.as_mut().poll(&mut cx) else {
            panic!("the connection was not accepted");
        };
    });
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 host, as
/// on the socket stack (Linux's dual-stack sockets): TCP connects to it
/// over IPv4 and the flow's `remote()` is the IPv4 address, and UDP writes
/// to it over IPv4. (TCP sent IPv6 SYNs to the mapped address, which must
/// not appear on the wire (RFC 4291 section 2.5.5.2), until it timed out;
/// UDP failed with `NoRoute`.)
#[test]
fn an_ipv4_mapped_address_is_the_ipv4_host() {
    use mirage::net::udp::{Udp, UdpSocket};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let listener = b.tcp().bind(5014).unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let flow = a.tcp().connect(mapped, 5014).await.unwrap();
        assert_eq!(flow.remote(), (v4("10.0.0.2"), 5014));
        let accepted = listener.accept().await.unwrap();
        assert_eq!(accepted.remote(), flow.local());
        let socket = b.udp().bind(7).unwrap();
        a.udp().write(None, mapped, 7, b"mapped").await.unwrap();
        sleep_ns(SEC).await;
        let mut buf = [0u8; 8];
        let (n, meta) = socket
            .try_recv_from(&mut buf)
            .unwrap()
            .expect("not received");
        assert_eq!(
            (&buf[..n], meta.src, meta.dst),
            (&b"mapped"[..], v4("10.0.0.1"), v4("10.0.0.2"))
        );
    });
}

/// `shutdown_write` as on the socket stack: twice is fine, also once the
/// connection ended in order (both FINs acknowledged); on a connection
/// the peer reset it fails with the reset, as `write` does (the peer
/// will never read the end of the stream).
#[test]
fn shutdown_write_twice_after_the_end_and_after_a_reset() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5010).await;
        flow.shutdown_write().await.unwrap();
        flow.shutdown_write().await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).await, Ok(0));
        peer.write_all(b"after").await.unwrap();
        peer.shutdown_write().await.unwrap();
        // Reading goes on after our shutdown, to the peer's end, for good.
        flow.read_exact(&mut buf[..5]).await.unwrap();
        assert_eq!(&buf[..5], b"after");
        for _ in 0..3 {
            assert_eq!(flow.read(&mut buf).await, Ok(0));
        }
        sleep_ns(SEC).await;
        flow.shutdown_write().await.unwrap();
        assert_eq!(flow.write(b"late").await, Err(TcpError::Closed));
        flow.close().await.unwrap();
        peer.close().await.unwrap();

        let (mut flow, peer) = netsim::connected(a, b, v4("10.0.0.2"), 5011).await;
        peer.abort().unwrap();
        sleep_ns(SEC).await;
        assert_eq!(flow.shutdown_write().await, Err(TcpError::Reset));
        assert_eq!(flow.read(&mut buf).await, Err(TcpError::Reset));
        assert_eq!(flow.shutdown_write().await, Err(TcpError::Reset));
        // Empty reads and writes are `Ok(0)` whatever the state, as on the
        // socket stack.
        assert_eq!(flow.read(&mut []).await, Ok(0));
        assert_eq!(flow.write(&[]).await, Ok(0));
        flow.close().await.unwrap();
    });
}

/// `bind(0)` listens on an ephemeral port, as on the socket stack (and
/// as UDP's `bind(0)` does): `local_port` tells it, and connections to it
/// are accepted. `listen(0)` is refused: nobody could know its port.
#[test]
fn binding_port_zero_listens_on_an_ephemeral_port() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let first = b.tcp().bind(0).unwrap();
        let second = b.tcp().bind(0).unwrap();
        let (p, q) = (first.local_port(), second.local_port());
        assert!(p >= 49152 && q >= 49152 && p != q, "{p} {q}");
        for (listener, port) in [(&first, p), (&second, q)] {
            let mut flow = a.tcp().connect(v4("10.0.0.2"), port).await.unwrap();
            let mut accepted = listener.accept().await.unwrap();
            assert_eq!(accepted.local().1, port);
            flow.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            accepted.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi");
        }
        assert_eq!(
            b.tcp().listen(0, |_| async {}).await,
            Err(TcpError::Unaddressable)
        );
    });
}

/// A connect to an address of the link that no neighbour answers for
/// fails with `HostUnreachable` once resolution gave up (a few seconds),
/// as on the socket stack (Linux's `EHOSTUNREACH`), over both families;
/// not with `TimedOut` after the whole SYN retry schedule. The first SYN
/// to a neighbour not yet resolved leaves once it is.
#[test]
fn a_connect_to_a_neighbour_that_never_answers_is_host_unreachable() {
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig::default(),
        ha,
        hb,
        move |a, b, clock| async move {
            sleep_ns(3 * SEC).await;
            for dst in [v4("10.0.0.99"), v6("fd00::99")] {
                let started = clock.0.now();
                let err = a.tcp().connect(dst, 7).await.err();
                assert_eq!(err, Some(TcpError::HostUnreachable), "{dst}");
                let waited = clock.0.now() - started;
                assert!(waited < 10 * SEC, "{dst}: {waited} ns");
            }
            let _listener = b.tcp().bind(7).unwrap();
            let before = a.direct_tcp().stats().retransmitted;
            let flow = a.tcp().connect(v4("10.0.0.2"), 7).await.unwrap();
            assert_eq!(a.direct_tcp().stats().retransmitted, before);
            drop(flow);
        },
    );
}

/// A connect to an endpoint that is not one host's (unspecified,
/// multicast, broadcast addresses; port 0) is `Unaddressable` at once, as
/// on the socket stack: nothing is resolved or sent first.
#[test]
fn a_connect_to_no_unicast_endpoint_is_unaddressable_at_once() {
    let (ha, hb) = hosts();
    netsim::pair(
        LinkConfig::default(),
        ha,
        hb,
        move |a, _, clock| async move {
            sleep_ns(3 * SEC).await;
            for (dst, port) in [
                (v4("0.0.0.0"), 7),
                (v4("255.255.255.255"), 7),
                (v4("224.0.0.1"), 7),
                (v6("::"), 7),
                (v6("ff02::1"), 7),
                (v4("10.0.0.77"), 0),
                (v6("fd00::77"), 0),
            ] {
                let started = clock.0.now();
                let err = a.tcp().connect(dst, port).await.err();
                assert_eq!(err, Some(TcpError::Unaddressable), "{dst} {port}");
                assert_eq!(clock.0.now(), started, "{dst} {port}");
            }
        },
    );
}

/// `writev` hands every buffer to the connection before anything leaves
/// (MirageOS's `writev` is one write): small buffers go in one segment,
/// not the first alone and the rest held by Nagle's algorithm until the
/// peer's (delayed) acknowledgment. Empty buffers and many buffers carry
/// the stream intact.
#[test]
fn writev_sends_its_buffers_together() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5012).await;
        sleep_ns(SEC).await;
        let before = a.direct_tcp().stats().segments_out;
        flow.writev(&[b"GET / HTTP/1.1\r\n", b"", b"Host: b\r\n\r\n"])
            .await
            .unwrap();
        let mut got = [0u8; 27];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"GET / HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(a.direct_tcp().stats().segments_out - before, 1);
        // Many buffers, of every size up to 300 bytes, some empty: more
        // than the send buffer holds at once.
        let data = payload(300 * 301 / 2 * 8, 5);
        let mut bufs = Vec::new();
        let mut at = 0;
        for round in 0..8 {
            for len in 0..=300 {
                let len = if round % 2 == 0 { len } else { 300 - len };
                bufs.push(&data[at..at + len]);
                at += len;
            }
        }
        let reader = Spawner::for_current_executor().await.spawn(async move {
            let mut back = vec![0u8; 300 * 301 / 2 * 8];
            peer.read_exact(&mut back).await.unwrap();
            back
        });
        flow.writev(&bufs).await.unwrap();
        assert!(reader.await == data);
        flow.writev(&[]).await.unwrap();
        flow.shutdown_write().await.unwrap();
        assert_eq!(flow.writev(&[b"late"]).await, Err(TcpError::Closed));
        assert_eq!(flow.writev(&[b""]).await, Ok(()));
    });
}

/// A's side of a path through a router that sends ICMP errors back, as
/// seen at A's device: IPv4 packets longer than `mtu_v4` with DF set are
/// dropped with a fragmentation needed (RFC 1191), IPv6 packets longer
/// than `mtu_v6` with a packet too big (RFC 8201), and TCP segments to
/// `reject_port` with a destination unreachable (`reject_code`: ICMPv4 port
/// unreachable, ICMPv6 administratively prohibited), as a firewall's
/// REJECT does.
struct Router {
    mtu_v4: std::cell::Cell<usize>,
    mtu_v6: std::cell::Cell<usize>,
    reject_port: u16,
    /// Frames dropped with an error sent back.
    dropped: std::cell::Cell<u64>,
    /// The time to live or hop limit of each TCP segment A sent.
    tcp_ttls: RefCell<Vec<u8>>,
    /// The TCP flags and the type of service or traffic class byte of
    /// each TCP segment A sent.
    tcp_tos: RefCell<Vec<(u8, u8)>>,
    /// What the router answers segments to `reject_port` with.
    reject_with: std::cell::Cell<Reject>,
    /// Mark every n-th ECN-capable datagram A sends Congestion
    /// Experienced (RFC 3168) instead of passing it as is (0: never), as
    /// an AQM router does where it would drop; the count of those marked.
    mark_ce_every: std::cell::Cell<u64>,
    ect_seen: std::cell::Cell<u64>,
    ce_marked: std::cell::Cell<u64>,
    /// Give no next-hop MTU in fragmentation-needed reports (0), as routers
    /// older than RFC 1191 do.
    old_style: std::cell::Cell<bool>,
    /// Drop packets too big for the path without a report: a black hole
    /// (RFC 2923 section 2.1, a firewall that filters ICMP).
    silent: std::cell::Cell<bool>,
    /// Packets too big dropped silently.
    swallowed: std::cell::Cell<u64>,
}

/// The error a [`Router`] answers a rejected segment with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    /// Destination unreachable: port (IPv4), prohibited (IPv6).
    Unreachable,
    /// Time exceeded in transit.
    TimeExceeded,
    /// Parameter problem.
    ParameterProblem,
}

impl Router {
    fn new(mtu_v4: usize, mtu_v6: usize, reject_port: u16) -> Self {
        Router {
            mtu_v4: std::cell::Cell::new(mtu_v4),
            mtu_v6: std::cell::Cell::new(mtu_v6),
            reject_port,
            dropped: std::cell::Cell::new(0),
            tcp_ttls: RefCell::new(Vec::new()),
            tcp_tos: RefCell::new(Vec::new()),
            reject_with: std::cell::Cell::new(Reject::Unreachable),
            mark_ce_every: std::cell::Cell::new(0),
            ect_seen: std::cell::Cell::new(0),
            ce_marked: std::cell::Cell::new(0),
            old_style: std::cell::Cell::new(false),
            silent: std::cell::Cell::new(false),
            swallowed: std::cell::Cell::new(0),
        }
    }

    /// Marks `frame` Congestion Experienced if it is ECN-capable and its
    /// turn came (see `mark_ce_every`).
    fn mark(&self, frame: &mut [u8]) {
        use mirage::net::wire::{ethernet, ipv4, ipv6};
        let every = self.mark_ce_every.get();
        if every == 0 || frame.len() < 14 {
            return;
        }
        let ethertype = match ethernet::Packet::new_checked(&*frame) {
            Ok(eth) => eth.ethertype(),
            Err(_) => return,
        };
        let ip = &mut frame[14..];
        let tos = match ethertype {
            EtherType::Ipv4 => ipv4::Packet::new_checked(&*ip).map(|p| p.dscp_ecn()),
            EtherType::Ipv6 => ipv6::Packet::new_checked(&*ip).map(|p| p.traffic_class()),
            _ => return,
        };
        let Ok(tos) = tos else { return };
        if tos & 3 == 0 {
            return;
        }
        self.ect_seen.set(self.ect_seen.get() + 1);
        if !self.ect_seen.get().is_multiple_of(every) {
            return;
        }
        self.ce_marked.set(self.ce_marked.get() + 1);
        if ethertype == EtherType::Ipv4 {
            let mut p = ipv4::Packet::new_unchecked(ip);
            p.set_dscp_ecn(tos | 3);
            p.fill_checksum();
        } else {
            ipv6::Packet::new_unchecked(ip).set_traffic_class(tos | 3);
        }
    }

    /// What becomes of `frame` (sent by A), as [`netsim::Route::route`]
    /// says: passed on, or dropped with the ICMP error frame the router
    /// answers it with, if any (recording what it sees of TCP segments).
    fn verdict(&self, frame: &[u8]) -> Result<(), Option<Vec<u8>>> {
        use mirage::net::wire::{ethernet, ipv4, ipv6};
        let Ok(eth) = ethernet::Packet::new_checked(frame) else {
            return Ok(());
        };
        let ip = eth.payload();
        let (too_big, tcp) = match eth.ethertype() {
            EtherType::Ipv4 => {
                let Ok(p) = ipv4::Packet::new_checked(ip) else {
                    return Ok(());
                };
                let hl = usize::from(p.header_len());
                let tcp = (p.protocol() == ipv4::Protocol::Tcp).then(|| &ip[hl..]);
                if let Some(t) = tcp {
                    self.tcp_ttls.borrow_mut().push(p.ttl());
                    let flags = t.get(13).copied().unwrap_or(0);
                    self.tcp_tos.borrow_mut().push((flags, p.dscp_ecn()));
                }
                let len = usize::from(p.total_len());
                let mtu = if self.old_style.get() {
                    0
                } else {
                    self.mtu_v4.get()
                };
                (
                    (len > self.mtu_v4.get() && p.dont_frag()).then_some(mtu),
                    tcp,
                )
            }
            EtherType::Ipv6 => {
                let Ok(p) = ipv6::Packet::new_checked(ip) else {
                    return Ok(());
                };
                let tcp = (p.next_header() == ipv6::NextHeader::Tcp).then(|| &ip[40..]);
                if let Some(t) = tcp {
                    self.tcp_ttls.borrow_mut().push(p.hop_limit());
                    let flags = t.get(13).copied().unwrap_or(0);
                    self.tcp_tos.borrow_mut().push((flags, p.traffic_class()));
                }
                let len = 40 + usize::from(p.payload_len());
                let mtu = self.mtu_v6.get();
                ((len > mtu).then_some(mtu), tcp)
            }
            _ => return Ok(()),
        };
        let rejected =
            tcp.is_some_and(|t| t.len() >= 4 && t[2..4] == self.reject_port.to_be_bytes());
        let error = match (too_big, rejected) {
            (Some(_), _) if self.silent.get() => {
                self.swallowed.set(self.swallowed.get() + 1);
                return Err(None);
            }
            (Some(mtu), _) => RouterError::TooBig { mtu },
            (None, true) => match self.reject_with.get() {
                Reject::Unreachable => RouterError::Unreachable,
                Reject::TimeExceeded => RouterError::TimeExceeded,
                Reject::ParameterProblem => RouterError::ParameterProblem,
            },
            (None, false) => return Ok(()),
        };
        let Some(reply) = netsim::router_error(frame, error) else {
            return Ok(());
        };
        self.dropped.set(self.dropped.get() + 1);
        Err(Some(reply))
    }
}

impl netsim::Route for Router {
    fn inspects(&self, _len: usize) -> bool {
        true
    }

    fn route(&self, frame: &mut [u8]) -> Result<(), Option<Vec<u8>>> {
        self.verdict(frame)?;
        self.mark(frame);
        Ok(())
    }
}

/// Stack A behind a [`Router`] (path MTUs `mtu_v4` and `mtu_v6`, TCP port
/// `reject_port` rejected), B on the plain link.
fn routed_pair<F, Fut>(mtu_v4: usize, mtu_v6: usize, reject_port: u16, body: F)
where
    F: FnOnce(
            &'static mirage::net::stack::DirectStack<Routed<Router>, netsim::Clock>,
            &'static Stack,
            &'static Routed<Router>,
        ) -> Fut
        + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let config = mirage::net::tcp::Config::default();
    routed_pair_over(
        LinkConfig::default(),
        config,
        mtu_v4,
        mtu_v6,
        reject_port,
        body,
    )
}

/// [`routed_pair`] over a link made by `link`, A's TCP configured by
/// `config`.
fn routed_pair_over<F, Fut>(
    link: LinkConfig,
    config: mirage::net::tcp::Config,
    mtu_v4: usize,
    mtu_v6: usize,
    reject_port: u16,
    body: F,
) where
    F: FnOnce(
            &'static mirage::net::stack::DirectStack<Routed<Router>, netsim::Clock>,
            &'static Stack,
            &'static Routed<Router>,
        ) -> Fut
        + 'static,
    Fut: core::future::Future<Output = ()> + 'static,
{
    let (ha, hb) = hosts();
    let sim = netsim::Sim::new();
    let clock = sim.clock;
    let (na, nb) = netsim::link(link);
    sim.ex
        .block_on(async move {
            let router = Routed::new(na, Router::new(mtu_v4, mtu_v6, reject_port));
            let a = netsim::stack_with(clock, router, ha, 1, config).await;
            let b = netsim::stack(clock, nb, hb, 2).await;
            body(a, b, a.net()).await
        })
        .unwrap();
}

/// A sends `len` bytes of the test stream to B's `port` at `dst` through
/// the router; they arrive intact.
async fn routed_transfer(
    a: &'static mirage::net::stack::DirectStack<Routed<Router>, netsim::Clock>,
    b: &'static Stack,
    dst: IpAddr,
    port: u16,
    len: u64,
) {
    let listener = b.tcp().bind(port).unwrap();
    let flow = a.tcp().connect(dst, port).await.unwrap();
    let sender = Spawner::for_current_executor()
        .await
        .spawn(send_stream(flow, len));
    let got = receive_stream(listener.accept().await.unwrap()).await;
    let sent = sender.await;
    assert_eq!((got.0, got.1), (sent.0, sent.1));
    assert_eq!(got.1, len);
}

/// Over a link of 9,000 bytes with segmentation offload, behind a path
/// of 1,500: once the router's reports lowered the MSS, segments of several
/// MSS go through the offload, which cuts them by the MSS before the
/// router, even those that would fit the link whole; both families'
/// streams arrive without a retransmission timeout.
#[test]
fn through_the_offload_segments_are_cut_by_the_mss_a_narrower_path_needs() {
    let link = LinkConfig {
        mtu: 9000,
        segmentation_offload: true,
        ..LinkConfig::default()
    };
    // (A send buffer of 8 KiB: every segment through the offload fits
    // the link whole.)
    let config = mirage::net::tcp::Config {
        send_buffer: 8192,
        ..mirage::net::tcp::Config::default()
    };
    routed_pair_over(link, config, 1500, 1500, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        routed_transfer(a, b, v4("10.0.0.2"), 5010, 4 * MB).await;
        routed_transfer(a, b, v6("fd00::2"), 5011, 4 * MB).await;
        let stats = a.direct_tcp().stats();
        assert_eq!(stats.pmtu_decreases, 2, "{stats:?}");
        assert_eq!(stats.timeouts, 0, "{stats:?}");
        // A report per family, and a few segments in flight at each (2
        // here; with segments that fit the link sent whole, hundreds).
        assert!(router.dropped.get() <= 16, "{}", router.dropped.get());
        // Segments went through the offload: fewer segments than the
        // stream has MSS.
        assert!(stats.segments_out < 2 * 4 * MB / 1448, "{stats:?}");
    });
}

#[test]
fn fragmentation_needed_from_a_router_shrinks_the_segments_and_the_stream_arrives() {
    routed_pair(1000, 1500, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        routed_transfer(a, b, v4("10.0.0.2"), 5010, 4 * MB).await;
        let stats = a.direct_tcp().stats();
        assert_eq!(stats.pmtu_decreases, 1, "{stats:?}");
        assert!(router.dropped.get() >= 1);
        // The flight was resent at once on the report, not after a timeout.
        assert_eq!(stats.timeouts, 0, "{stats:?}");
        assert_eq!(
            a.icmpv4().stats().unreachable_received,
            router.dropped.get()
        );
    });
}

#[test]
fn packet_too_big_from_a_router_shrinks_the_segments_and_the_stream_arrives() {
    routed_pair(1500, 1280, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        routed_transfer(a, b, v6("fd00::2"), 5011, 4 * MB).await;
        let stats = a.direct_tcp().stats();
        assert_eq!(stats.pmtu_decreases, 1, "{stats:?}");
        assert!(router.dropped.get() >= 1);
        assert_eq!(stats.timeouts, 0, "{stats:?}");
    });
}

#[test]
fn the_path_mtu_a_router_reported_serves_the_next_connections() {
    routed_pair(1000, 1280, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        for (dst, port, mtu) in [(v4("10.0.0.2"), 5012, 1000), (v6("fd00::2"), 5013, 1280)] {
            routed_transfer(a, b, dst, port, MB).await;
            let dropped = router.dropped.get();
            assert!(dropped >= 1, "{dst}");
            // The IP layer kept the path MTU: the next connections start
            // with segments that fit, and the router drops none of them.
            let header = if dst.is_ipv4() { 20 } else { 40 };
            assert_eq!(a.ip().mtu(dst), mtu - header, "{dst}");
            for _ in 0..2 {
                routed_transfer(a, b, dst, port, MB).await;
            }
            assert_eq!(router.dropped.get(), dropped, "{dst}");
            // A new connection announces the MSS of A's link (what A can
            // receive: B sends full segments), sends segments that fit the
            // path, and goes back to full ones once the report expired.
            let listener = b.tcp().bind(port + 100).unwrap();
            let flow = a.tcp().connect(dst, port + 100).await.unwrap();
            let back = listener.accept().await.unwrap();
            let mss =
                |s: &'static mirage::net::stack::DirectStack<Routed<Router>, netsim::Clock>, id| {
                    s.direct_tcp().with_engine(|e| e.info(id)).unwrap().mss
                };
            let b_mss = b
                .direct_tcp()
                .with_engine(|e| e.info(back.id()))
                .unwrap()
                .mss;
            assert_eq!(b_mss, 1500 - header - 20 - 12, "{dst}");
            let mut flow = flow;
            flow.write_all(&[7u8; 4000]).await.unwrap();
            flow.flush().await.unwrap();
            assert_eq!(mss(a, flow.id()), mtu - header - 20 - 12, "{dst}");
            assert_eq!(router.dropped.get(), dropped, "{dst}: none too big");
            sleep_ns(601 * SEC).await;
            let mtus = (router.mtu_v4.replace(1500), router.mtu_v6.replace(1500));
            flow.write_all(&[7u8; 4000]).await.unwrap();
            flow.flush().await.unwrap();
            assert_eq!(mss(a, flow.id()), 1500 - header - 20 - 12, "{dst}");
            router.mtu_v4.set(mtus.0);
            router.mtu_v6.set(mtus.1);
            drop((flow, back));
            router.dropped.set(0);
        }
        assert_eq!(a.direct_tcp().stats().pmtu_decreases, 2);
        assert_eq!(a.ipv4().stats().path_mtu_decreases, 1);
    });
}

/// A fragmentation-needed report that quotes a segment outside every
/// connection's window (a blind forger's guess, sent as a router's) lowers
/// nothing: neither the connection's segments nor the IP layer's path MTU
/// for the peer, which would shrink every later connection to it (RFC
/// 5927).
#[test]
fn a_forged_path_mtu_report_lowers_no_path_mtu() {
    use mirage::net::wire::{ethernet, icmpv4, ipv4};
    routed_pair(1500, 1500, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        let _listener = b.tcp().bind(5016).unwrap();
        let flow = a.tcp().connect(v4("10.0.0.2"), 5016).await.unwrap();
        // Our header and ports, a sequence number far from ours.
        let mut quoted = vec![0u8; 28];
        v4_whole("10.0.0.1", "10.0.0.2", ipv4::Protocol::Tcp, 1480)
            .emit(&mut ipv4::Packet::new_unchecked(&mut quoted[..]));
        quoted[20..22].copy_from_slice(&flow.local().1.to_be_bytes());
        quoted[22..24].copy_from_slice(&5016u16.to_be_bytes());
        quoted[24..28].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        let message = icmpv4::Repr::DstUnreachable {
            code: icmpv4::CODE_FRAG_NEEDED,
            mtu: 600,
            quoted: &quoted,
        };
        let header = v4_whole(
            "10.0.0.254",
            "10.0.0.1",
            ipv4::Protocol::Icmp,
            message.buffer_len(),
        );
        let mut frame = vec![0u8; 14 + header.buffer_len()];
        ethernet::Repr {
            src_addr: mirage::net::device::Network::mac(b.net()),
            dst_addr: mirage::net::device::Network::mac(a.net()),
            ethertype: EtherType::Ipv4,
        }
        .emit(&mut ethernet::Packet::new_unchecked(&mut frame[..]));
        header.emit(&mut ipv4::Packet::new_unchecked(&mut frame[14..]));
        message.emit(&mut icmpv4::Packet::new_unchecked(&mut frame[34..]));
        router.report(frame);
        sleep_ns(SEC).await;
        assert_eq!(a.icmpv4().stats().unreachable_received, 1);
        assert_eq!(a.ip().mtu(v4("10.0.0.2")), 1480);
        assert_eq!(a.ipv4().stats().path_mtu_decreases, 0);
        assert_eq!(a.direct_tcp().stats().pmtu_decreases, 0);
        assert_eq!(a.direct_tcp().stats().icmp_errors_ignored, 1);
        drop(flow);
    });
}

/// One connection through a path whose MTU drops and recovers: ten
/// minutes after the report, TCP asks IP again (whose estimate expired)
/// and tries full segments; the path still takes 1,000 bytes only and
/// reports again; once it takes 1,500 bytes again, full segments go on.
#[test]
fn a_connection_tries_full_segments_again_ten_minutes_after_a_path_mtu_report() {
    routed_pair(1000, 1500, 0, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        let listener = b.tcp().bind(5015).unwrap();
        let mut flow = a.tcp().connect(v4("10.0.0.2"), 5015).await.unwrap();
        let receiver = Spawner::for_current_executor()
            .await
            .spawn(async move { receive_stream(listener.accept().await.unwrap()).await });
        let mut sent = Digest::new();
        let mut offset = 0;
        let id = flow.id();
        for (phase, wait) in [(0, 0), (1, 660), (2, 660)] {
            if phase == 2 {
                router.mtu_v4.set(1500);
            }
            sleep_ns(wait * SEC).await;
            let mut buf = vec![0u8; 256 * 1024];
            stream_bytes(offset, &mut buf);
            flow.write_all(&buf).await.unwrap();
            flow.flush().await.unwrap();
            sent.add(&buf);
            offset += buf.len() as u64;
            sleep_ns(SEC).await;
            let stats = a.direct_tcp().stats();
            let mss = a.direct_tcp().with_engine(|e| e.info(id)).unwrap().mss;
            let expect = match phase {
                0 => (1, 0, 1000 - 52),
                1 => (2, 1, 1000 - 52),
                _ => (2, 2, 1448),
            };
            assert_eq!(
                (stats.pmtu_decreases, stats.pmtu_increases, mss),
                expect,
                "{phase}"
            );
        }
        flow.close().await.unwrap();
        let got = receiver.await;
        assert_eq!((got.0, got.1), (sent.0, sent.1));
    });
}

/// A path that drops full segments without a report (a black hole, RFC
/// 2923 section 2.1): with black-hole detection, the R1-th timeout in a
/// row lowers the segment size (to 1,024 bytes over IPv4, to the 1,280
/// bytes of the IPv6 minimum MTU over IPv6), and the stream arrives.
#[test]
fn black_hole_detection_finds_a_path_that_drops_full_segments_silently() {
    let config = mirage::net::tcp::Config {
        black_hole_detection: true,
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1200,
        1300,
        0,
        |a, b, router| async move {
            router.silent.set(true);
            sleep_ns(3 * SEC).await;
            for (dst, port, mss) in [
                (v4("10.0.0.2"), 5016, 1024),
                (v6("fd00::2"), 5017, 1280 - 72),
            ] {
                let before = a.direct_tcp().stats();
                let listener = b.tcp().bind(port).unwrap();
                let mut flow = a.tcp().connect(dst, port).await.unwrap();
                let receiver = Spawner::for_current_executor()
                    .await
                    .spawn(async move { receive_stream(listener.accept().await.unwrap()).await });
                let mut buf = vec![0u8; MB as usize];
                stream_bytes(0, &mut buf);
                flow.write_all(&buf).await.unwrap();
                let id = flow.id();
                sleep_ns(SEC).await;
                let info = a.direct_tcp().with_engine(|e| e.info(id)).unwrap();
                assert_eq!(info.mss, mss, "{dst}");
                flow.close().await.unwrap();
                let got = receiver.await;
                let mut sent = Digest::new();
                sent.add(&buf);
                assert_eq!((got.0, got.1), (sent.0, sent.1), "{dst}");
                let stats = a.direct_tcp().stats();
                assert_eq!(
                    stats.black_hole_decreases - before.black_hole_decreases,
                    1,
                    "{dst}"
                );
                assert!(stats.timeouts - before.timeouts >= 3, "{dst}: {stats:?}");
            }
            assert_eq!(a.direct_tcp().stats().pmtu_decreases, 0);
            assert_eq!(router.dropped.get(), 0, "no report");
            assert!(router.swallowed.get() >= 6);
        },
    );
}

/// The same path without black-hole detection (the default, as Linux):
/// the full segments are resent until the connection gives up.
#[test]
fn without_black_hole_detection_a_silent_path_times_the_connection_out() {
    let config = mirage::net::tcp::Config {
        user_timeout_ns: Some(60 * SEC),
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1200,
        1500,
        0,
        |a, b, router| async move {
            router.silent.set(true);
            sleep_ns(3 * SEC).await;
            let _listener = b.tcp().bind(5018).unwrap();
            let mut flow = a.tcp().connect(v4("10.0.0.2"), 5018).await.unwrap();
            let buf = vec![0u8; 512 * 1024];
            assert_eq!(flow.write_all(&buf).await, Err(TcpError::TimedOut));
            assert!(a.direct_tcp().stats().timeouts >= 3);
            assert_eq!(a.direct_tcp().stats().black_hole_decreases, 0);
            assert!(router.swallowed.get() >= 3);
        },
    );
}

/// An orphan that gives up tells nobody (RFC 9293's R2 ends a connection
/// without a segment, as Linux's retransmission timer does): A writes into
/// a path that loses its data segments (the router swallows every packet
/// over 100 bytes; pure ACKs pass), drops its flow, and its retransmissions
/// run out (`Stats::aborted_on_timeout`). B, which only reads, would wait
/// for ever; with keep-alive it learns of it once the path carries again:
/// A's stack answers B's probe with a reset.
#[test]
fn an_orphan_that_gives_up_is_found_by_its_peers_keep_alive() {
    let config = mirage::net::tcp::Config {
        max_retries: 3,
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1500,
        1500,
        0,
        |a, b, router| async move {
            sleep_ns(3 * SEC).await;
            let listener = b.tcp().bind(5019).unwrap();
            let mut flow = a.tcp().connect(v4("10.0.0.2"), 5019).await.unwrap();
            let mut peer = listener.accept().await.unwrap();
            peer.set_keepalive(Some(mirage::net::tcp::KeepAlive {
                idle_ns: 30 * SEC,
                interval_ns: SEC,
                count: 3,
            }))
            .unwrap();
            router.silent.set(true);
            router.mtu_v4.set(100);
            flow.write_all(&[7; 1000]).await.unwrap();
            drop(flow);
            sleep_ns(20 * SEC).await;
            assert_eq!(a.direct_tcp().stats().aborted_on_timeout, 1);
            assert_eq!(a.direct_tcp().occupancy().connections, 0);
            assert!(router.swallowed.get() >= 4);
            assert_eq!(b.direct_tcp().stats().keepalive_probes, 0);
            router.mtu_v4.set(1500);
            let mut buf = [0u8; 16];
            assert_eq!(peer.read(&mut buf).await, Err(TcpError::Reset));
            assert_eq!(b.direct_tcp().stats().keepalive_probes, 1);
            assert_eq!(b.direct_tcp().stats().aborted_on_timeout, 0);
        },
    );
}

#[test]
fn an_old_routers_report_without_an_mtu_is_read_with_rfc_1191s_plateaus() {
    routed_pair(1200, 1500, 0, |a, b, router| async move {
        router.old_style.set(true);
        sleep_ns(3 * SEC).await;
        routed_transfer(a, b, v4("10.0.0.2"), 5014, MB).await;
        // 1500 bytes would not go: the plateau below is 1492, which does
        // not go either; the next, 1006, does (not the floor of 552).
        assert_eq!(a.ip().mtu(v4("10.0.0.2")), 1006 - 20);
        assert_eq!(a.direct_tcp().stats().pmtu_decreases, 2);
        assert_eq!(a.ipv4().stats().path_mtu_decreases, 2);
        assert_eq!(a.direct_tcp().stats().timeouts, 0);
    });
}

#[test]
fn a_syn_answered_by_destination_unreachable_fails_the_connect_at_once() {
    routed_pair(1500, 1500, 7777, |a, b, router| async move {
        sleep_ns(3 * SEC).await;
        // (B would answer; the router rejects the SYN before it gets there.)
        let _listener = b.tcp().bind(7777).unwrap();
        for (dst, error) in [
            (v4("10.0.0.2"), TcpError::Refused),
            (v6("fd00::2"), TcpError::HostUnreachable),
        ] {
            let r = a.tcp().connect(dst, 7777).await.map(|_| ());
            assert_eq!(r, Err(error), "{dst}");
        }
        assert_eq!(router.dropped.get(), 2);
        // At once: the SYN was not retransmitted.
        assert_eq!(a.direct_tcp().stats().timeouts, 0);
        assert_eq!(a.direct_tcp().occupancy().connections, 0);
    });
}

/// ICMP time exceeded and parameter problem from a router (both
/// families) reach TCP (RFC 1122 sections 3.2.2.4 and 3.2.2.5: IP MUST
/// pass them to the transport) and do not abort the connect (section
/// 4.2.3.9): the SYN is retransmitted until the attempt times out, which
/// then says `HostUnreachable` after time exceeded (a soft error, as
/// Linux's) and `TimedOut` after parameter problem (counted only).
#[test]
fn time_exceeded_and_parameter_problem_from_a_router_reach_tcp_without_aborting() {
    let config = mirage::net::tcp::Config {
        syn_retries: 2,
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1500,
        1500,
        7778,
        |a, b, router| async move {
            sleep_ns(3 * SEC).await;
            let _listener = b.tcp().bind(7778).unwrap();
            let mut errors = 0;
            for (reject, error) in [
                (Reject::TimeExceeded, TcpError::HostUnreachable),
                (Reject::ParameterProblem, TcpError::TimedOut),
            ] {
                router.reject_with.set(reject);
                for dst in [v4("10.0.0.2"), v6("fd00::2")] {
                    let timeouts = a.direct_tcp().stats().timeouts;
                    let r = a.tcp().connect(dst, 7778).await.map(|_| ());
                    assert_eq!(r, Err(error), "{reject:?} {dst}");
                    // The SYN and its two retransmissions, each answered.
                    assert_eq!(a.direct_tcp().stats().timeouts - timeouts, 3);
                    errors += 3;
                    assert_eq!(a.direct_tcp().stats().icmp_errors, errors);
                }
            }
            assert_eq!(a.icmpv4().stats().time_exceeded_received, 3);
            assert_eq!(a.icmpv4().stats().param_problem_received, 3);
            assert_eq!(a.icmpv4().stats().malformed, 0);
            assert_eq!(a.ipv6().stats().errors_received, 6);
            assert_eq!(a.direct_tcp().occupancy().connections, 0);
        },
    );
}

/// RFC 9293 MUST-57 (section 3.9.1.1 and RFC 1122 4.2.3.10): a SYN
/// addressed to a broadcast or multicast address is silently discarded,
/// and a segment to such an address for no connection draws no RST. The
/// subnet's broadcast address (10.0.0.255 on B's /24) is delivered by IP
/// like the limited broadcast; TCP must not open a connection from it.
#[test]
fn a_syn_to_the_subnet_broadcast_address_is_silently_discarded() {
    use mirage::net::ethernet::Ethernet;
    use mirage::net::wire::checksum::PseudoHeader;
    use mirage::net::wire::{ipv4, tcp as wtcp};
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(2 * SEC).await;
        let _listener = b.tcp().bind(80).unwrap();
        let src: std::net::Ipv4Addr = "10.0.0.1".parse().unwrap();
        let send = |dst: std::net::Ipv4Addr, dst_port: u16, flags: wtcp::Flags| {
            let seg = wtcp::Repr {
                src_port: 40000,
                dst_port,
                seq: wtcp::SeqNumber(1000),
                ack: wtcp::SeqNumber(0),
                flags,
                window: 65535,
                urgent: 0,
                options: wtcp::Options {
                    mss: Some(1460),
                    ..Default::default()
                },
                payload: &[],
            };
            let mut tcp = vec![0u8; seg.buffer_len()];
            let ph = PseudoHeader::new(IpAddr::V4(src), IpAddr::V4(dst)).unwrap();
            seg.emit(&mut wtcp::Packet::new_unchecked(&mut tcp[..]), &ph);
            let ip = ipv4::Repr {
                src_addr: src,
                dst_addr: dst,
                protocol: ipv4::Protocol::Tcp,
                ttl: 64,
                dscp_ecn: 0,
                payload_len: tcp.len(),
                ident: 1,
                dont_fragment: true,
                more_fragments: false,
                frag_offset: 0,
            };
            a.ethernet()
                .send(
                    mirage::net::MacAddr::BROADCAST,
                    EtherType::Ipv4,
                    ip.buffer_len(),
                    |buf| {
                        ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]));
                        buf[ipv4::HEADER_LEN..ip.buffer_len()].copy_from_slice(&tcp);
                        ip.buffer_len()
                    },
                )
                .unwrap();
        };
        let bcast: std::net::Ipv4Addr = "10.0.0.255".parse().unwrap();
        let before = b.direct_tcp().stats();
        // A SYN to the listening port, and a segment for a closed port.
        send(bcast, 80, wtcp::Flags::SYN);
        send(bcast, 81, wtcp::Flags::SYN);
        send(bcast, 81, wtcp::Flags::ACK);
        sleep_ns(SEC).await;
        let after = b.direct_tcp().stats();
        assert_eq!(after.segments_in, before.segments_in + 3, "{after:?}");
        assert_eq!(after.segments_out, before.segments_out, "{after:?}");
        assert_eq!(after.resets_sent, before.resets_sent, "{after:?}");
        assert_eq!(b.direct_tcp().occupancy().connections, 0);
        // The same SYN to B's own address is answered.
        send("10.0.0.2".parse().unwrap(), 80, wtcp::Flags::SYN);
        sleep_ns(SEC / 10).await;
        assert!(b.direct_tcp().stats().segments_out > after.segments_out);
    });
}

/// RFC 9293 MUST-49 (RFC 1122 section 4.2.2.19): the time to live of the
/// segments TCP sends is configurable ([`mirage::net::tcp::Config::ttl`]);
/// by default the IP layer's (64) is used.
#[test]
fn the_time_to_live_of_segments_is_configurable() {
    for (ttl, expected) in [(None, 64), (Some(7), 7)] {
        let config = mirage::net::tcp::Config {
            ttl,
            ..Default::default()
        };
        routed_pair_over(
            LinkConfig::default(),
            config,
            1500,
            1500,
            0,
            move |a, b, router| async move {
                sleep_ns(3 * SEC).await;
                let _listener = b.tcp().bind(7000).unwrap();
                for dst in [v4("10.0.0.2"), v6("fd00::2")] {
                    let mut flow = a.tcp().connect(dst, 7000).await.unwrap();
                    flow.write_all(b"hello").await.unwrap();
                    flow.close().await.unwrap();
                }
                sleep_ns(SEC).await;
                let ttls = router.tcp_ttls.borrow();
                assert!(ttls.len() >= 6, "{ttls:?}");
                assert!(ttls.iter().all(|&t| t == expected), "{ttls:?}");
            },
        );
    }
}

/// RFC 9293 section 3.9.1 (MUST-48, SHLD-21, SHLD-22) over the direct
/// stack's IP layers: every segment A sends carries its DiffServ codepoint
/// in the IPv4 type of service byte or the IPv6 traffic class (`dscp << 2`,
/// ECN bits 0), from the SYN to the last ACK: [`Config::dscp`] (10, AF11)
/// first, then what `Flow::set_dscp` set (46, EF). A connection A accepts
/// carries A's configured codepoint, not the one of the peer's SYN (B's
/// default, 0; B's connection then sends 46).
///
/// [`Config::dscp`]: mirage::net::tcp::Config::dscp
#[test]
fn every_segment_carries_the_connections_dscp() {
    const SYN: u8 = 0x02;
    const FIN: u8 = 0x01;
    let config = mirage::net::tcp::Config {
        dscp: 10,
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1500,
        1500,
        0,
        move |a, b, router| async move {
            sleep_ns(3 * SEC).await;
            let _listener = b.tcp().bind(7000).unwrap();
            for dst in [v4("10.0.0.2"), v6("fd00::2")] {
                router.tcp_tos.borrow_mut().clear();
                let mut flow = a.tcp().connect(dst, 7000).await.unwrap();
                flow.write_all(b"hello").await.unwrap();
                sleep_ns(SEC).await;
                let before: Vec<(u8, u8)> = router.tcp_tos.borrow_mut().drain(..).collect();
                assert!(before.len() >= 3, "{before:?}");
                assert!(before.iter().any(|&(f, _)| f & SYN != 0), "{before:?}");
                assert!(
                    before.iter().all(|&(_, t)| t == 10 << 2),
                    "{dst}: {before:?}"
                );
                assert_eq!(flow.set_dscp(64), Err(TcpError::InvalidArgument));
                flow.set_dscp(46).unwrap();
                flow.write_all(b"more").await.unwrap();
                flow.close().await.unwrap();
                sleep_ns(SEC).await;
                let after: Vec<(u8, u8)> = router.tcp_tos.borrow_mut().drain(..).collect();
                assert!(after.iter().any(|&(f, _)| f & FIN != 0), "{after:?}");
                assert!(after.iter().all(|&(_, t)| t == 46 << 2), "{dst}: {after:?}");
            }
            // Accepted by A: A's codepoint, whatever B's connection carries.
            let listener = a.tcp().bind(7001).unwrap();
            for dst in [v4("10.0.0.1"), v6("fd00::1")] {
                let mut from_b = b.tcp().connect(dst, 7001).await.unwrap();
                from_b.set_dscp(46).unwrap();
                from_b.write_all(b"hi").await.unwrap();
                let mut flow = listener.accept().await.unwrap();
                let mut buf = [0u8; 2];
                flow.read_exact(&mut buf).await.unwrap();
                flow.write_all(b"yo").await.unwrap();
                flow.close().await.unwrap();
                sleep_ns(SEC).await;
                let tos: Vec<(u8, u8)> = router.tcp_tos.borrow_mut().drain(..).collect();
                assert!(tos.iter().any(|&(f, _)| f & SYN != 0), "{tos:?}");
                assert!(tos.iter().all(|&(_, t)| t == 10 << 2), "{dst}: {tos:?}");
                drop(from_b);
            }
        },
    );
}

/// RFC 3168 (RFC 9293 SHLD-8) between two direct stacks: A asks for ECN
/// ([`Ecn::On`]), B accepts it (the default, [`Ecn::Passive`]); a router
/// on A's path marks some of A's data segments Congestion Experienced
/// instead of dropping them. The stream arrives intact; B saw the marks
/// and echoed them, A reduced its window for them (its threshold is set,
/// as after a loss) and resent nothing.
///
/// [`Ecn::On`]: mirage::net::tcp::Ecn::On
/// [`Ecn::Passive`]: mirage::net::tcp::Ecn::Passive
#[test]
fn congestion_marks_from_a_router_slow_the_sender_without_a_loss() {
    const LEN: u64 = 2 << 20;
    let config = mirage::net::tcp::Config {
        ecn: mirage::net::tcp::Ecn::On,
        ..Default::default()
    };
    routed_pair_over(
        LinkConfig::default(),
        config,
        1500,
        1500,
        0,
        move |a, b, router| async move {
            sleep_ns(3 * SEC).await;
            let listener = b.tcp().bind(7000).unwrap();
            router.mark_ce_every.set(50);
            for dst in [v4("10.0.0.2"), v6("fd00::2")] {
                let (a_before, b_before) = (a.direct_tcp().stats(), b.direct_tcp().stats());
                let marked = router.ce_marked.get();
                let mut flow = a.tcp().connect(dst, 7000).await.unwrap();
                let id = flow.id();
                let accepted = listener.accept().await.unwrap();
                let peer = b
                    .direct_tcp()
                    .with_engine(|e| e.info(accepted.id()))
                    .unwrap();
                assert!(peer.ecn, "B accepted ECN: {peer:?}");
                let reader = Spawner::for_current_executor()
                    .await
                    .spawn(receive_stream(accepted));
                let mut d = Digest::new();
                let mut buf = vec![0u8; 16 * 1024];
                let mut sent = 0;
                while sent < LEN {
                    let n = ((LEN - sent) as usize).min(buf.len());
                    stream_bytes(sent, &mut buf[..n]);
                    flow.write_all(&buf[..n]).await.unwrap();
                    d.add(&buf[..n]);
                    sent += n as u64;
                }
                sleep_ns(SEC).await;
                let info = a.direct_tcp().with_engine(|e| e.info(id)).unwrap();
                assert!(info.ecn, "{info:?}");
                assert_eq!(info.bytes_in_flight, 0, "{info:?}");
                assert_eq!(info.retransmits, 0, "{info:?}");
                assert!(
                    info.ssthresh < usize::MAX,
                    "the window was reduced: {info:?}"
                );
                flow.close().await.unwrap();
                let got = reader.await;
                assert_eq!((got.0, got.1), (d.0, d.1));
                assert_eq!(got.1, LEN);
                let (a_after, b_after) = (a.direct_tcp().stats(), b.direct_tcp().stats());
                assert!(router.ce_marked.get() > marked, "{dst}");
                assert!(
                    b_after.ecn_ce_received > b_before.ecn_ce_received,
                    "{b_after:?}"
                );
                assert!(
                    a_after.ecn_reductions > a_before.ecn_reductions,
                    "{a_after:?}"
                );
                assert_eq!(a_after.retransmitted, a_before.retransmitted, "{a_after:?}");
                assert_eq!(a_after.fast_retransmits, a_before.fast_retransmits);
                assert_eq!(a_after.timeouts, a_before.timeouts);
            }
        },
    );
}

/// RFC 9293 MUST-46 (section 3.9.1.1): an OPEN to a broadcast or multicast
/// address is refused. The subnet's broadcast address (10.0.0.255 on A's
/// /24) only the IP layer knows; the limited broadcast and multicast ones
/// are refused as before. Nothing is sent (Linux: `ENETUNREACH`, which the
/// socket stack says as `Unaddressable` too).
#[test]
fn a_connect_to_the_subnet_broadcast_address_is_refused() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, _b, _| async move {
        use mirage::net::device::Network;
        sleep_ns(2 * SEC).await;
        let sent = a.net().stats().tx_frames;
        for dst in ["10.0.0.255", "255.255.255.255", "224.0.0.1"] {
            let r = a.tcp().connect(v4(dst), 80).await;
            assert_eq!(r.err(), Some(TcpError::Unaddressable), "{dst}");
        }
        assert_eq!(a.net().stats().tx_frames, sent, "nothing sent");
        assert_eq!(a.direct_tcp().occupancy().connections, 0);
    });
}

/// Feeds A (10.0.0.1) an ARP reply from B's address (10.0.0.2) at a link
/// address nobody has: A's entry for B is stale.
fn make_b_stale_at(a: &'static Stack) {
    use mirage::net::MacAddr;
    use mirage::net::ethernet::Ethernet;
    use mirage::net::wire::arp::{Operation, PACKET_LEN, Packet, Repr};
    let addr_b = std::net::Ipv4Addr::new(10, 0, 0, 2);
    let stale = MacAddr([2, 0xde, 0xad, 0, 0, 1]);
    let mut packet = [0u8; PACKET_LEN];
    Repr {
        operation: Operation::Reply,
        source_hardware_addr: stale,
        source_protocol_addr: addr_b,
        target_hardware_addr: a.ethernet().mac(),
        target_protocol_addr: std::net::Ipv4Addr::new(10, 0, 0, 1),
    }
    .emit(&mut Packet::new_unchecked(&mut packet[..]));
    a.arp().input(&packet).unwrap();
    assert_eq!(a.arp().cached(addr_b), Some(stale));
}

/// A neighbour whose cached link address went stale: A's ARP entry for B
/// is overwritten with an address nobody has (as when B's interface was
/// replaced and B did not announce itself). A's segments go nowhere until,
/// at R1 (3 retransmission timeouts in a row, RFC 9293 section 3.8.3), TCP
/// passes negative advice to IP, whose ARP checks the entry by unicast
/// requests; nobody answers, the entry goes, a later retransmission
/// resolves B afresh by broadcast, and the stream carries on. The
/// application sees the delivery problem meanwhile
/// (`Flow::consecutive_timeouts`). Without the advice A would resend to the
/// dead address until it gave up, some 9 minutes later.
#[test]
fn negative_advice_at_r1_re_resolves_a_neighbour_gone_stale() {
    use embedded_io_async::ReadReady;
    use mirage::net::ethernet::Ethernet;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5010).await;
        flow.set_nodelay(true).unwrap();
        let mut buf = [0u8; 6];
        flow.write_all(b"before").await.unwrap();
        peer.read_exact(&mut buf).await.unwrap();
        sleep_ns(SEC).await;
        let addr_b = std::net::Ipv4Addr::new(10, 0, 0, 2);
        assert_eq!(a.arp().cached(addr_b), Some(b.ethernet().mac()));
        make_b_stale_at(a);
        assert_eq!(flow.consecutive_timeouts().unwrap(), 0);

        flow.write_all(b"after!").await.unwrap();
        // Timeouts at about 0.2, 0.6 and 1.4 s: R1 reached.
        sleep_ns(2 * SEC).await;
        assert!(flow.consecutive_timeouts().unwrap() >= 3);
        assert!(a.direct_tcp().stats().negative_advice >= 1);
        assert_eq!(a.arp().stats().revalidations, 1);
        assert!(!peer.read_ready().unwrap(), "B got data sent to nobody");
        // Three unanswered unicast requests a second apart, the entry
        // removed, the next retransmission (about 6.2 s) resolves B.
        sleep_ns(18 * SEC).await;
        assert!(peer.read_ready().unwrap(), "the stream did not resume");
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"after!");
        assert_eq!(a.arp().cached(addr_b), Some(b.ethernet().mac()));
        sleep_ns(SEC).await;
        assert_eq!(flow.consecutive_timeouts().unwrap(), 0);
        // The connection is whole both ways.
        peer.write_all(b"answer").await.unwrap();
        flow.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"answer");
    });
}

/// The same while the peer's window is shut, when only zero-window probes
/// go: B stops reading, A's ARP entry for B turns stale (a corrupted
/// reply, as the stack's soak found), and A's probes go to nobody. From
/// the fourth unanswered probe on, TCP passes negative advice (R1 counts
/// probes too), ARP checks the entry, removes it, and the next probe
/// resolves B afresh; once B reads, the whole stream arrives. Without the
/// advice the probes would go to the dead address until the connection
/// gave up, some twelve minutes later.
#[test]
fn unanswered_window_probes_re_resolve_a_neighbour_gone_stale() {
    use mirage::net::ethernet::Ethernet;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (flow, peer) = netsim::connected(a, b, v4("10.0.0.2"), 5011).await;
        let len = 1 << 20;
        let sender = Spawner::for_current_executor()
            .await
            .spawn(send_stream(flow, len));
        // B does not read: its window shuts, A probes it.
        sleep_ns(2 * SEC).await;
        let probes = a.direct_tcp().stats().window_probes;
        assert!(probes >= 1, "the window did not shut");
        make_b_stale_at(a);
        let addr_b = std::net::Ipv4Addr::new(10, 0, 0, 2);
        // Probes about 1.6, 3.2, 6.4 and 12.8 s apart (the fourth with
        // the advice), three unicast requests a second apart, then the
        // next probe resolves B.
        sleep_ns(90 * SEC).await;
        assert!(a.direct_tcp().stats().window_probes >= probes + 4);
        assert!(a.direct_tcp().stats().negative_advice >= 1);
        assert_eq!(a.direct_tcp().stats().timeouts, 0);
        // (B's own check of its entry for A, its reachability time over,
        // can teach A B's address before A's next probe; that probe, the
        // fifth unanswered in a row, then still carries advice: a second
        // check, which B answers.)
        assert!(a.arp().stats().revalidations >= 1);
        assert_eq!(a.arp().cached(addr_b), Some(b.ethernet().mac()));
        // B reads: the whole stream, intact.
        let got = receive_stream(peer).await;
        let sent = sender.await;
        assert_eq!((got.0, got.1), (sent.0, sent.1));
        assert_eq!(got.1, len);
    });
}

/// Over IPv6, TCP's negative advice at R1 makes the first hop's REACHABLE
/// neighbour entry STALE, so that neighbour unreachability detection
/// checks it when it is next used (DELAY, then a unicast probe, which the
/// neighbour answers here: REACHABLE again), and the connection carries
/// on.
#[test]
fn negative_advice_over_ipv6_has_the_neighbour_checked() {
    use mirage::net::ndp::cache::Reachability;
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v6("fd00::2"), 5011).await;
        let b6: std::net::Ipv6Addr = "fd00::2".parse().unwrap();
        assert_eq!(a.ipv6().neighbour(b6), Some(Reachability::Reachable));
        a.ip().negative_advice(v6("fd00::2"));
        assert_eq!(a.ipv6().neighbour(b6), Some(Reachability::Stale));
        flow.write_all(b"more").await.unwrap();
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(a.ipv6().neighbour(b6), Some(Reachability::Delay));
        sleep_ns(7 * SEC).await;
        assert_eq!(a.ipv6().neighbour(b6), Some(Reachability::Reachable));
        flow.write_all(b"still").await.unwrap();
        let mut buf = [0u8; 5];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still");
    });
}

/// Urgent data through the `Flow` trait between two direct stacks (RFC
/// 9293 MUST-30 to 33, 62): the reader is told once the pointer arrives,
/// with the bytes up to the last urgent one (the whole urgent write, more
/// than a segment, and the plain bytes before it); `urgent` counts down as
/// it reads the stream, intact and in line; a second urgent write is told
/// again; once the writer shut down, the wait ends with `Eof`.
#[test]
fn urgent_data_through_the_flow_between_two_stacks() {
    let (ha, hb) = hosts();
    netsim::pair(LinkConfig::default(), ha, hb, move |a, b, _| async move {
        sleep_ns(3 * SEC).await;
        let (mut flow, mut peer) = netsim::connected(a, b, v4("10.0.0.2"), 5010).await;
        assert_eq!(peer.urgent(), Ok(None));
        let urgent = payload(20_000, 5);
        flow.write_all(b"plain ").await.unwrap();
        flow.write_urgent(&urgent).await.unwrap();
        assert_eq!(peer.urgent_arrived().await, Ok(20_006));
        let mut buf = [0u8; 6];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"plain ");
        assert_eq!(peer.urgent(), Ok(Some(20_000)));
        let mut got = vec![0u8; 20_000];
        peer.read_exact(&mut got).await.unwrap();
        assert!(got == urgent);
        assert_eq!(peer.urgent(), Ok(None));
        flow.write_urgent(b"again").await.unwrap();
        assert_eq!(peer.urgent_arrived().await, Ok(5));
        peer.read_exact(&mut buf[..5]).await.unwrap();
        assert_eq!(&buf[..5], b"again");
        flow.shutdown_write().await.unwrap();
        assert_eq!(peer.urgent_arrived().await, Err(TcpError::Eof));
    });
}
