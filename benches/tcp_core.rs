//! Benchmarks of the sans-IO TCP core (`mirage::net::tcp`): two `TcpEngine`s
//! joined by an in-memory wire (a queue of reused frame buffers, no
//! allocation per segment), on virtual time.
//!
//! - `bulk/0%` and `bulk/1%`: one connection streaming 16 MiB from A to B
//!   (the receiver consumes zero-copy); throughput in bytes/s.
//! - `connect_close`: a connection opened, one byte each way, closed on
//!   both sides (TIME-WAIT records reused by later SYNs and ports).
//! - `request_response`: 64-byte request, 64-byte response on an open
//!   connection with Nagle off.
//!
//! Run with `cargo bench --bench tcp_core` (add `-- --quick` for a short
//! run).

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirage::net::tcp::{Config, ConnId, ListenerId, TcpEngine, TcpError, Transmit};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// One direction of the wire: frames in flight and a pool of buffers.
#[derive(Default)]
struct Link {
    frames: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    /// Drop one frame in `loss_every` (0: none), deterministically spread.
    loss_every: u64,
    count: u64,
    rng: u64,
}

impl Transmit for Link {
    fn mss_hint(&self, _dst: IpAddr) -> usize {
        1460
    }

    fn send(
        &mut self,
        _src: IpAddr,
        _dst: IpAddr,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> bool {
        let mut b = self.pool.pop().unwrap_or_else(|| Vec::with_capacity(2048));
        b.resize(len, 0);
        fill(&mut b);
        self.count += 1;
        if self.loss_every > 0 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            if self.rng.is_multiple_of(self.loss_every) {
                self.pool.push(b);
                return true;
            }
        }
        self.frames.push_back(b);
        true
    }
}

struct Pair {
    a: TcpEngine,
    b: TcpEngine,
    ab: Link,
    ba: Link,
    now: u64,
}

impl Pair {
    fn new(loss_every: u64) -> Pair {
        let cfg = Config {
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            ..Config::default()
        };
        Pair {
            a: TcpEngine::new(cfg.clone(), [1; 32]),
            b: TcpEngine::new(cfg, [2; 32]),
            ab: Link {
                loss_every,
                rng: 0x9e37_79b9,
                ..Link::default()
            },
            ba: Link {
                loss_every,
                rng: 0x7f4a_7c15,
                ..Link::default()
            },
            now: 1_000_000_000,
        }
    }

    /// Deliver what is in flight, dispatch both sides; advance virtual
    /// time by a microsecond, or to the next timer when idle.
    fn step(&mut self) {
        let mut busy = false;
        while let Some(f) = self.ab.frames.pop_front() {
            self.b.process(self.now, &A, &B, &f, &mut self.ba);
            self.ab.pool.push(f);
            busy = true;
        }
        self.b.dispatch(self.now, &mut self.ba);
        while let Some(f) = self.ba.frames.pop_front() {
            self.a.process(self.now, &B, &A, &f, &mut self.ab);
            self.ba.pool.push(f);
            busy = true;
        }
        self.a.dispatch(self.now, &mut self.ab);
        busy |= !self.ab.frames.is_empty();
        if busy {
            self.now += 1_000;
        } else {
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now + 1_000);
            self.now = self.now.max(next).max(self.now + 1_000);
        }
    }

    fn open(&mut self, l: ListenerId, port: u16) -> (ConnId, ConnId) {
        let a = self.a.connect(self.now, (A, 0), (B, port)).unwrap();
        loop {
            self.step();
            if let Some(b) = self.b.accept(l).unwrap() {
                return (a, b);
            }
        }
    }
}

static CHUNK: [u8; 65536] = [0x5a; 65536];

/// Stream `total` bytes from A to B on an open connection.
fn bulk(p: &mut Pair, a: ConnId, b: ConnId, total: usize) {
    let mut sent = 0;
    let mut received = 0;
    while received < total {
        while sent < total {
            let want = total - sent;
            let n =
                p.a.send_with(a, |buf| {
                    let n = buf.len().min(want).min(CHUNK.len());
                    buf[..n].copy_from_slice(&CHUNK[..n]);
                    (n, n)
                })
                .unwrap();
            if n == 0 {
                break;
            }
            sent += n;
        }
        p.step();
        loop {
            let n = p.b.recv_with(b, |d| (d.len(), d.len())).unwrap();
            if n == 0 {
                break;
            }
            black_box(n);
            received += n;
        }
    }
}

fn bench_bulk(c: &mut Criterion) {
    const TOTAL: usize = 16 << 20;
    let mut g = c.benchmark_group("bulk");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    for (name, loss_every) in [("0%", 0u64), ("1%", 100)] {
        let mut p = Pair::new(0);
        let l = p.b.listen(80, 8).unwrap();
        let (a, b) = p.open(l, 80);
        p.ab.loss_every = loss_every;
        p.ba.loss_every = loss_every;
        g.bench_function(name, |bench| bench.iter(|| bulk(&mut p, a, b, TOTAL)));
        let s = p.a.stats();
        eprintln!(
            "bulk {name}: {} segments out, {} retransmitted, {} timeouts, {} SACK recoveries",
            s.segments_out, s.retransmitted, s.timeouts, s.sack_recoveries
        );
    }
    g.finish();
}

fn bench_connect_close(c: &mut Criterion) {
    let mut g = c.benchmark_group("connect_close");
    g.throughput(Throughput::Elements(1));
    let mut p = Pair::new(0);
    let l = p.b.listen(80, 64).unwrap();
    let mut buf = [0u8; 8];
    g.bench_function("one_byte_each_way", |bench| {
        bench.iter(|| {
            let (a, b) = p.open(l, 80);
            p.a.send(a, b"?").unwrap();
            p.a.shutdown_write(a).unwrap();
            loop {
                p.step();
                match p.b.recv(b, &mut buf) {
                    Err(TcpError::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            p.b.send(b, b"!").unwrap();
            p.b.close(b).unwrap();
            loop {
                p.step();
                match p.a.recv(a, &mut buf) {
                    Err(TcpError::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            p.a.close(a).unwrap();
        })
    });
    g.finish();
}

fn bench_request_response(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_response");
    g.throughput(Throughput::Elements(1));
    let mut p = Pair::new(0);
    let l = p.b.listen(80, 8).unwrap();
    let (a, b) = p.open(l, 80);
    p.a.set_nodelay(a, true).unwrap();
    p.b.set_nodelay(b, true).unwrap();
    let msg = [7u8; 64];
    let mut buf = [0u8; 64];
    g.bench_function("64_bytes", |bench| {
        bench.iter(|| {
            p.a.send(a, &msg).unwrap();
            let mut got = 0;
            while got < 64 {
                p.step();
                got += p.b.recv(b, &mut buf[got..]).unwrap();
            }
            p.b.send(b, &buf).unwrap();
            let mut got = 0;
            while got < 64 {
                p.step();
                got += p.a.recv(a, &mut buf[got..]).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_bulk,
    bench_connect_close,
    bench_request_response
);
criterion_main!(benches);
