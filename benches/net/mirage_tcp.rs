//! The TCP workloads on two of our stacks over the in-memory link, on one
//! executor, through the application API (`Tcp::connect`, `TcpListener::
//! accept`, the flows' `embedded-io-async` `Read` and `Write`), with the
//! engine's default configuration (128 KiB buffers, CUBIC, SACK, window
//! scaling and timestamps on, Nagle on, delayed ACKs of 40 ms).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use embedded_io_async::{Read, Write};
use mirage::net::device::Network;
use mirage::net::device::memory::{Endpoint, LinkConfig};
use mirage::net::stack::{Stackv4v6, TcpOf};
use mirage::net::tcp::{Config, Flow as _, Tcp, TcpListener};
use mirage::rt::Executor;

use super::mirage_side::{Stack, hosts};
use super::{ADDR_B, CHUNK, MESSAGE, MIB, RealClock, TCP_BUFFER, TCP_PORT};

/// A connection of our stack.
type Flow = <TcpOf<Endpoint, RealClock> as Tcp>::Flow;

/// Hosts A and B, and the end of a connection from A to B that the
/// workload drives (taken out while it runs).
pub struct MirageTcp {
    ex: Executor<RealClock>,
    a: &'static Stack,
    b: &'static Stack,
    /// B's end for the bulk workloads, A's for the round trips.
    flow: Option<Flow>,
}

impl MirageTcp {
    /// A connection from A to B, and a task on A that writes to it without
    /// end (so the stream never pauses between the workload's runs).
    pub fn bulk(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config);
        let (a, b) = (hosts.a, hosts.b);
        let (mut client, server) = hosts
            .ex
            .block_on(async move {
                let listener = b.tcp().bind(TCP_PORT).expect("bind");
                let client = a.tcp().connect(IpAddr::V4(ADDR_B), TCP_PORT).await;
                let server = listener.accept().await.expect("accept");
                (client.expect("connect"), server)
            })
            .expect("no stop request");
        hosts.ex.spawn(async move {
            let data = vec![0x5a; CHUNK];
            while client.write_all(&data).await.is_ok() {}
        });
        hosts.flow = Some(server);
        hosts.stream(1, false);
        hosts
    }

    /// An echo server on B and a connection to it from A.
    pub fn round_trip(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config);
        hosts.serve_echo();
        let a = hosts.a;
        let flow = hosts
            .ex
            .block_on(async move { a.tcp().connect(IpAddr::V4(ADDR_B), TCP_PORT).await })
            .expect("no stop request")
            .expect("connect");
        hosts.flow = Some(flow);
        hosts.round_trips(1);
        hosts
    }

    /// An echo server on B, for connections from A.
    pub fn churn(config: LinkConfig) -> Self {
        let mut hosts = Self::hosts(config);
        hosts.serve_echo();
        hosts.connections(1);
        hosts
    }

    /// Spawns B's echo server: it serves one connection at a time, echoing
    /// until the client's end of stream, then closes.
    fn serve_echo(&self) {
        let listener = self.b.tcp().bind(TCP_PORT).expect("bind");
        self.ex.spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let mut flow = listener.accept().await.expect("accept");
                loop {
                    let n = flow.read(&mut buf).await.expect("read");
                    if n == 0 {
                        break;
                    }
                    flow.write_all(&buf[..n]).await.expect("echo");
                }
                flow.close().await.expect("close");
            }
        });
    }

    fn hosts(config: LinkConfig) -> Self {
        // Both stacks get the same buffers.
        let defaults = Config::default();
        assert_eq!(
            (defaults.send_buffer, defaults.recv_buffer),
            (TCP_BUFFER, TCP_BUFFER)
        );
        let (ex, a, b) = hosts(config);
        MirageTcp {
            ex,
            a,
            b,
            flow: None,
        }
    }

    /// Takes `n` MiB of the stream at B: the time until B has read the
    /// last byte, into a buffer, or with `in_place` in the flow's.
    pub fn stream(&mut self, n: u64, in_place: bool) -> Duration {
        let mut rx = self.flow.take().expect("a bulk connection");
        let len = n * MIB as u64;
        let started = Instant::now();
        let rx = self
            .ex
            .block_on(async move {
                let mut buf = vec![0u8; CHUNK];
                let mut got = 0;
                while got < len {
                    let want = (len - got).min(CHUNK as u64) as usize;
                    let n = if in_place {
                        rx.read_with(|run| {
                            let n = run.len().min(want);
                            (n, n)
                        })
                        .await
                    } else {
                        rx.read(&mut buf[..want]).await
                    }
                    .expect("read");
                    assert!(n > 0, "the stream ended early");
                    got += n as u64;
                }
                rx
            })
            .expect("no stop request");
        let took = started.elapsed();
        self.flow = Some(rx);
        took
    }

    /// `n` round trips: A writes a request of [`MESSAGE`] bytes, B echoes
    /// it, A reads the whole response before the next request.
    pub fn round_trips(&mut self, n: u64) -> Duration {
        let mut flow = self.flow.take().expect("a connection");
        let started = Instant::now();
        let flow = self
            .ex
            .block_on(async move {
                let request = [0x5a; MESSAGE];
                let mut response = [0; MESSAGE];
                for _ in 0..n {
                    flow.write_all(&request).await.expect("request");
                    flow.read_exact(&mut response).await.expect("response");
                }
                flow
            })
            .expect("no stop request");
        let took = started.elapsed();
        self.flow = Some(flow);
        took
    }

    /// `n` connections one after the other: A connects, writes a byte,
    /// reads its echo, shuts its direction down and reads B's end of
    /// stream (both FINs have passed: A is in TIME-WAIT), then closes.
    pub fn connections(&mut self, n: u64) -> Duration {
        let tcp = self.a.tcp();
        let started = Instant::now();
        self.ex
            .block_on(async move {
                let mut byte = [0u8; 1];
                for _ in 0..n {
                    let mut flow = tcp
                        .connect(IpAddr::V4(ADDR_B), TCP_PORT)
                        .await
                        .expect("connect");
                    flow.write_all(&[1]).await.expect("write");
                    flow.read_exact(&mut byte).await.expect("echo");
                    flow.shutdown_write().await.expect("shutdown");
                    assert_eq!(flow.read(&mut byte).await.expect("end"), 0);
                    flow.close().await.expect("close");
                }
            })
            .expect("no stop request");
        started.elapsed()
    }

    /// Checks that no frame overflowed a queue of the link, that the
    /// link's faults were applied and its segmentation offload used.
    pub fn check(&self, config: LinkConfig) {
        for host in [self.a, self.b] {
            let link = host.net().stats();
            assert_eq!((link.rx_dropped, link.tx_dropped), (0, 0), "{link:?}");
        }
        if config.segmentation_offload {
            let sent = self.a.net().stats();
            let mean = sent.tx_bytes / sent.tx_frames.max(1);
            assert!(
                mean > config.mtu as u64,
                "the segmentation offload went unused: {sent:?}"
            );
        }
        let lost = self.a.net().fault_stats().dropped + self.b.net().fault_stats().dropped;
        assert_eq!(config.faults[0].drop > 0.0, lost > 0, "frames lost: {lost}");
        if lost > 0 {
            let s = self.a.direct_tcp().stats();
            eprintln!(
                "mirage: {lost} frames lost; A: {} retransmitted, {} fast retransmits, \
                 {} lost retransmissions, {} timeouts, {} tail loss probes, {} recovery probes",
                s.retransmitted,
                s.fast_retransmits,
                s.lost_retransmissions,
                s.timeouts,
                s.tail_loss_probes,
                s.recovery_probes
            );
        }
    }
}
