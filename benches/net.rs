//! Benchmarks of the network stack over the in-memory link, against
//! smoltcp on the same link in the same run (issues 4 and 5):
//!
//! * `udp_64` / `udp_1024`: UDP datagrams of 64 or 1024 payload bytes,
//!   one direction, from a socket of host A to a socket of host B; the
//!   throughput is in datagrams delivered to B's socket per second.
//!   Datagrams go in bursts of [`BURST`]: the sender queues a burst, the
//!   receiver takes it all, then the next burst (so neither the link's
//!   queue nor a socket's queue ever overflows, and nothing is lost).
//! * `icmp_echo`: ICMP echo round trips (56 data bytes, as `ping`): A pings
//!   B and waits for the reply before the next request; throughput in round
//!   trips per second.
//! * `tcp_bulk` / `tcp_bulk_loss1`: one TCP connection from A to B, A
//!   writing [`CHUNK`]s without end and B reading them; an operation is a
//!   mebibyte read by B (the stream goes on from one run to the next, and
//!   never pauses), so the throughput is in MiB/s. `tcp_bulk_loss1` loses 1 % of the frames
//!   in each direction ([`lossy`]: seeded, the same faults for both
//!   stacks, in ten samples of several mebibytes since a retransmission
//!   timeout can cost a second).
//! * `tcp_bulk_in_place`: `tcp_bulk` with B reading in place, without a
//!   copy into a buffer of its own: ours through `Flow::read_with`,
//!   smoltcp through `Socket::recv` with a closure (A writes as in
//!   `tcp_bulk`).
//! * `tcp_bulk_offload`: `tcp_bulk` over a link whose endpoints offer TCP
//!   segmentation offload (`LinkConfig::segmentation_offload`: a segment
//!   of up to 64 KiB goes over the link whole, as over Linux's veth pair).
//!   Ours sends new data in segments of up to 45 MSS through it, each
//!   copied and checksummed whole on both sides as any segment; smoltcp
//!   has no such offload and sends MSS-sized segments over the same link,
//!   so its figure is `tcp_bulk`'s.
//! * `tcp_connect`: connections from A to B's echo server, one after the
//!   other: connect, a byte each way, both directions closed (A reaches
//!   TIME-WAIT); connections per second. Both stacks send the same frames
//!   (5 from A, 4 from B).
//! * `tcp_rr_64`: request/response on one connection: A writes
//!   [`MESSAGE`] bytes, B echoes them, A reads them all before the next
//!   request; round trips per second.
//!
//! Every TCP connection of both stacks has [`TCP_BUFFER`] bytes of send and
//! of receive buffer (our default; smoltcp's sockets are given the same),
//! and each stack its default behaviour otherwise (ours: CUBIC, SACK,
//! timestamps, window scaling, Nagle, 40 ms delayed ACKs, a least
//! retransmission timeout of 200 ms; smoltcp: no congestion control,
//! window scaling, Nagle, 10 ms delayed ACKs, a least retransmission
//! timeout of 1 s).
//!
//! Both stacks run over the same [`Link`]'s endpoints (one `Link` per stack
//! pair, default configuration: MTU 1500, queues of 256 frames, no faults
//! but those of `tcp_bulk_loss1`), IPv4 only (smoltcp is
//! built with `proto-ipv4` only; our stacks run with `--ipv4-only` so that
//! neither does IPv6 housekeeping), checksums computed and checked in both.
//!
//! * Ours: two [`mirage::net::stack::DirectStack`]s on one
//!   [`mirage::rt::Executor`], as a unikernel runs them, through the
//!   application API (`UdpSocket::send_to` and `recv_from`; `Icmpv4::ping`
//!   and `next_reply`; `Tcp::connect`, `TcpListener::accept` and the
//!   flows' `embedded-io-async` `Read` and `Write`).
//! * smoltcp: two `Interface`s whose `phy::Device` wraps the same kind of
//!   `Endpoint`; its tokens lend the link's own buffers
//!   (`Network::try_read` / `try_write`), so both stacks pay the same link
//!   cost. They are driven the idiomatic way, by calling `Interface::poll`
//!   in a loop, without an executor.
//!
//! Time: both stacks read one real monotonic clock ([`RealClock`], from
//! `std::time::Instant`), not the virtual time of the tests, so that their
//! protocol timers (ARP lifetimes, smoltcp's neighbour cache) behave as on
//! a real machine. The executor's idle step sleeps until the next timer;
//! with a correct benchmark it never blocks while a datagram is in flight,
//! and idling with no timer at all (a lost datagram, a deadlock) panics
//! instead of hanging.
//!
//! After criterion's own report, a table gives each workload's mean
//! throughput for both stacks, over every run (warm-up included), and the
//! ratio
//! ours / smoltcp (above 1: ours is faster).
//!
//! Run with `cargo bench --bench net` (add `-- --quick` for a short run,
//! `-- tcp` for the TCP workloads only). For a profiler,
//! `NET_BENCH_RUN=<workload>/<mirage|smoltcp>/<n>` runs `n` operations of
//! one workload on one stack after its set-up, and nothing else. On a
//! machine whose speed drifts, `NET_BENCH_PAIRED=<runs>[/<workload>]`
//! alternates short runs of both stacks instead and prints the ratios of
//! the best and of the median runs (see [`paired`]).

#[path = "../tests/common/netsim.rs"]
mod netsim;

#[path = "net/mirage_side.rs"]
mod mirage_side;

#[path = "net/smoltcp_side.rs"]
mod smoltcp_side;

#[path = "net/mirage_tcp.rs"]
mod mirage_tcp;

#[path = "net/smoltcp_tcp.rs"]
mod smoltcp_tcp;

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use mirage::Mclock;
use mirage::net::device::memory::{Faults, Link, LinkConfig};
use mirage::rt::Platform;

use mirage_side::MirageHosts;
use mirage_tcp::MirageTcp;
use smoltcp_side::SmoltcpHosts;
use smoltcp_tcp::SmoltcpTcp;

/// Datagrams sent back to back before the receiver takes them.
pub const BURST: u64 = 32;
/// Host A's address (the sender, the pinger).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Host B's address (the receiver, the echoer).
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The prefix length of both addresses.
pub const PREFIX_LEN: u8 = 24;
/// A's UDP port.
pub const PORT_A: u16 = 5000;
/// B's UDP port.
pub const PORT_B: u16 = 7;
/// The identifier of the echo requests.
pub const PING_IDENT: u16 = 0x4d52;
/// The data of an echo request (`ping`'s default size).
pub const PING_DATA: &[u8] = &[0x5a; 56];
/// B's listening TCP port.
pub const TCP_PORT: u16 = 5001;
/// The send and the receive buffer of every TCP connection of both stacks
/// (our engine's default).
pub const TCP_BUFFER: usize = 128 * 1024;
/// The operation of the bulk workloads: a mebibyte of the stream.
pub const MIB: usize = 1 << 20;
/// What the bulk sender hands its stack at a time, and the most the
/// receiver takes at a time.
pub const CHUNK: usize = 64 * 1024;
/// The size of a request and of a response.
pub const MESSAGE: usize = 64;

/// The link of the lossy workloads: 1 % of the frames lost in each
/// direction, from seeded PRNGs (the same faults for both stacks).
pub fn lossy() -> LinkConfig {
    LinkConfig::default().with_faults(Faults {
        seed: 0x5eed,
        drop: 0.01,
        ..Faults::NONE
    })
}

/// The start of the benchmark's monotonic time.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The real monotonic clock both stacks read: nanoseconds since
/// [`epoch`], plus one second so that no deadline is ever at time 0.
#[derive(Debug, Clone, Copy)]
pub struct RealClock;

impl RealClock {
    /// Monotonic nanoseconds.
    pub fn now_ns() -> u64 {
        1_000_000_000 + epoch().elapsed().as_nanos() as u64
    }
}

impl Mclock for RealClock {
    fn elapsed_ns(&self) -> u64 {
        Self::now_ns()
    }
}

impl Platform for RealClock {
    fn now_ns(&self) -> u64 {
        Self::now_ns()
    }

    /// No event sources (the link wakes its readers itself): sleeps until
    /// the deadline. Without one every task waits for a wake that cannot
    /// come, which is a bug of the benchmark.
    fn idle(&self, deadline_ns: Option<u64>) {
        let deadline = deadline_ns.expect("executor idle without a deadline: deadlock");
        let now = Self::now_ns();
        if deadline > now {
            std::thread::sleep(Duration::from_nanos(deadline - now));
        }
    }
}

/// A link between two endpoints, as both stacks use it.
pub fn link() -> (
    mirage::net::device::memory::Endpoint,
    mirage::net::device::memory::Endpoint,
) {
    link_with(LinkConfig::default())
}

/// A link with `config` (faults for the lossy workloads).
pub fn link_with(
    config: LinkConfig,
) -> (
    mirage::net::device::memory::Endpoint,
    mirage::net::device::memory::Endpoint,
) {
    Link::pair(config)
}

/// A deterministic payload of `len` bytes.
fn payload(len: usize) -> &'static [u8] {
    Box::leak(netsim::payload(len, len as u32).into_boxed_slice())
}

/// Which stack ran a workload.
#[derive(Debug, Clone, Copy)]
enum Side {
    Mirage,
    Smoltcp,
}

/// What one operation of a workload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A datagram, a round trip, a connection: measured briefly.
    Op,
    /// A mebibyte of a TCP stream: measured in few, long samples.
    Mib,
}

impl Unit {
    fn rate(self) -> &'static str {
        match self {
            Unit::Op => "ops/s",
            Unit::Mib => "MiB/s",
        }
    }
}

/// Per workload, in the order run: its unit, and per stack the operations
/// and time over every run (warm-up included).
type Totals = Vec<(&'static str, Unit, [(u64, Duration); 2])>;

thread_local! {
    static TOTALS: RefCell<Totals> = const { RefCell::new(Vec::new()) };
}

fn record(workload: &'static str, side: Side, ops: u64, took: Duration) -> Duration {
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        let row = t
            .iter_mut()
            .find(|row| row.0 == workload)
            .expect("the workload was announced");
        let entry = &mut row.2[side as usize];
        entry.0 += ops;
        entry.1 += took;
    });
    took
}

/// Benchmarks one workload on both stacks: `mirage(n)` and `smoltcp(n)`
/// do `n` operations and return how long they took.
fn compare(
    c: &mut Criterion,
    workload: &'static str,
    unit: Unit,
    mirage: impl Fn(u64) -> Duration,
    smoltcp: impl Fn(u64) -> Duration,
) {
    TOTALS.with(|t| t.borrow_mut().push((workload, unit, Default::default())));
    let mut group = c.benchmark_group(format!("net/{workload}"));
    match unit {
        Unit::Op => {
            group.throughput(Throughput::Elements(1));
        }
        Unit::Mib => {
            // One operation can take a second on a lossy link (smoltcp's
            // least retransmission timeout): ten samples of equal length.
            group
                .throughput(Throughput::Bytes(MIB as u64))
                .sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(3));
        }
    }
    group.bench_function("mirage", |b| {
        b.iter_custom(|n| record(workload, Side::Mirage, n, mirage(n)))
    });
    group.bench_function("smoltcp", |b| {
        b.iter_custom(|n| record(workload, Side::Smoltcp, n, smoltcp(n)))
    });
    group.finish();
}

fn bench_udp(c: &mut Criterion, workload: &'static str, len: usize) {
    let data = payload(len);
    let ours = MirageHosts::new();
    let theirs = RefCell::new(SmoltcpHosts::new());
    compare(
        c,
        workload,
        Unit::Op,
        |n| ours.udp(n, data),
        |n| theirs.borrow_mut().udp(n, data),
    );
    ours.check_clean();
}

fn bench_icmp(c: &mut Criterion) {
    let ours = MirageHosts::new();
    let theirs = RefCell::new(SmoltcpHosts::new());
    compare(
        c,
        "icmp_echo",
        Unit::Op,
        |n| ours.ping(n),
        |n| theirs.borrow_mut().ping(n),
    );
    ours.check_clean();
}

/// The TCP workloads: their names, units and links, and how each stack
/// sets them up and runs them.
#[derive(Debug, Clone, Copy)]
enum TcpWorkload {
    Bulk,
    BulkInPlace,
    BulkOffload,
    BulkLoss1,
    Connect,
    RoundTrip,
}

impl TcpWorkload {
    const ALL: [TcpWorkload; 6] = [
        TcpWorkload::Bulk,
        TcpWorkload::BulkInPlace,
        TcpWorkload::BulkOffload,
        TcpWorkload::BulkLoss1,
        TcpWorkload::Connect,
        TcpWorkload::RoundTrip,
    ];

    fn name(self) -> &'static str {
        match self {
            TcpWorkload::Bulk => "tcp_bulk",
            TcpWorkload::BulkInPlace => "tcp_bulk_in_place",
            TcpWorkload::BulkOffload => "tcp_bulk_offload",
            TcpWorkload::BulkLoss1 => "tcp_bulk_loss1",
            TcpWorkload::Connect => "tcp_connect",
            TcpWorkload::RoundTrip => "tcp_rr_64",
        }
    }

    fn unit(self) -> Unit {
        match self {
            TcpWorkload::Bulk
            | TcpWorkload::BulkInPlace
            | TcpWorkload::BulkOffload
            | TcpWorkload::BulkLoss1 => Unit::Mib,
            TcpWorkload::Connect | TcpWorkload::RoundTrip => Unit::Op,
        }
    }

    fn link(self) -> LinkConfig {
        match self {
            TcpWorkload::BulkLoss1 => lossy(),
            TcpWorkload::BulkOffload => LinkConfig {
                segmentation_offload: true,
                ..LinkConfig::default()
            },
            _ => LinkConfig::default(),
        }
    }

    fn mirage(self) -> MirageTcp {
        match self {
            TcpWorkload::Bulk
            | TcpWorkload::BulkInPlace
            | TcpWorkload::BulkOffload
            | TcpWorkload::BulkLoss1 => MirageTcp::bulk(self.link()),
            TcpWorkload::Connect => MirageTcp::churn(self.link()),
            TcpWorkload::RoundTrip => MirageTcp::round_trip(self.link()),
        }
    }

    fn smoltcp(self) -> SmoltcpTcp {
        match self {
            TcpWorkload::Bulk
            | TcpWorkload::BulkInPlace
            | TcpWorkload::BulkOffload
            | TcpWorkload::BulkLoss1 => SmoltcpTcp::bulk(self.link()),
            TcpWorkload::Connect => SmoltcpTcp::churn(self.link()),
            TcpWorkload::RoundTrip => SmoltcpTcp::round_trip(self.link()),
        }
    }

    fn run_mirage(self, hosts: &mut MirageTcp, n: u64) -> Duration {
        match self {
            TcpWorkload::Bulk | TcpWorkload::BulkOffload | TcpWorkload::BulkLoss1 => {
                hosts.stream(n, false)
            }
            TcpWorkload::BulkInPlace => hosts.stream(n, true),
            TcpWorkload::Connect => hosts.connections(n),
            TcpWorkload::RoundTrip => hosts.round_trips(n),
        }
    }

    fn run_smoltcp(self, hosts: &mut SmoltcpTcp, n: u64) -> Duration {
        match self {
            TcpWorkload::Bulk | TcpWorkload::BulkOffload | TcpWorkload::BulkLoss1 => {
                hosts.stream(n, false)
            }
            TcpWorkload::BulkInPlace => hosts.stream(n, true),
            TcpWorkload::Connect => hosts.connections(n),
            TcpWorkload::RoundTrip => hosts.round_trips(n),
        }
    }
}

/// One TCP workload on both stacks; then the links are checked.
fn bench_tcp(c: &mut Criterion, w: TcpWorkload) {
    let ours = RefCell::new(w.mirage());
    let theirs = RefCell::new(w.smoltcp());
    compare(
        c,
        w.name(),
        w.unit(),
        |n| w.run_mirage(&mut ours.borrow_mut(), n),
        |n| w.run_smoltcp(&mut theirs.borrow_mut(), n),
    );
    ours.borrow().check(w.link());
    theirs.borrow().check(w.link());
}

/// Prints the throughput of each workload on both stacks and their ratio.
fn report() {
    TOTALS.with(|t| {
        println!();
        println!(
            "{:<14} {:>6} {:>14} {:>14} {:>14}",
            "workload", "unit", "mirage", "smoltcp", "mirage/smoltcp"
        );
        for &(w, unit, [ours, theirs]) in t.borrow().iter() {
            if ours.0 == 0 || theirs.0 == 0 {
                // Filtered out.
                continue;
            }
            let rate = |(ops, took): (u64, Duration)| ops as f64 / took.as_secs_f64();
            let (ours, theirs) = (rate(ours), rate(theirs));
            println!(
                "{w:<14} {:>6} {ours:>14.0} {theirs:>14.0} {:>14.2}",
                unit.rate(),
                ours / theirs
            );
        }
    });
}

/// Runs `n` operations of one workload on one stack, after its set-up,
/// for a profiler (`NET_BENCH_RUN=<workload>/<mirage|smoltcp>/<n>`): the
/// difference between two runs with different `n` is the cost of the
/// operations alone.
fn profile(spec: &str) {
    let parts: Vec<&str> = spec.split('/').collect();
    let [workload, side, n] = parts[..] else {
        panic!("NET_BENCH_RUN={spec}: expected <workload>/<mirage|smoltcp>/<n>");
    };
    let n: u64 = n.parse().expect("a number of operations");
    let took = match (workload, side) {
        ("udp_64", "mirage") => MirageHosts::new().udp(n, payload(64)),
        ("udp_64", "smoltcp") => SmoltcpHosts::new().udp(n, payload(64)),
        ("udp_1024", "mirage") => MirageHosts::new().udp(n, payload(1024)),
        ("udp_1024", "smoltcp") => SmoltcpHosts::new().udp(n, payload(1024)),
        ("icmp_echo", "mirage") => MirageHosts::new().ping(n),
        ("icmp_echo", "smoltcp") => SmoltcpHosts::new().ping(n),
        (name, side @ ("mirage" | "smoltcp")) => {
            let Some(w) = TcpWorkload::ALL.into_iter().find(|w| w.name() == name) else {
                panic!("NET_BENCH_RUN={spec}: no such workload");
            };
            if side == "mirage" {
                let mut hosts = w.mirage();
                let took = w.run_mirage(&mut hosts, n);
                hosts.check(w.link());
                took
            } else {
                let mut hosts = w.smoltcp();
                let took = w.run_smoltcp(&mut hosts, n);
                hosts.check(w.link());
                took
            }
        }
        _ => panic!("NET_BENCH_RUN={spec}: no such stack"),
    };
    println!("{spec}: {took:?}");
}

/// Operations per run of each workload in [`paired`]: runs of about a
/// tenth of a second for our stack on this kind of machine (the lossy
/// bulk: a few seconds for smoltcp's).
fn paired_ops(workload: &str) -> u64 {
    match workload {
        "udp_64" => 400_000,
        "udp_1024" => 300_000,
        "icmp_echo" => 150_000,
        "tcp_bulk" | "tcp_bulk_in_place" => 300,
        "tcp_bulk_offload" => 800,
        "tcp_bulk_loss1" => 16,
        "tcp_connect" => 20_000,
        "tcp_rr_64" => 150_000,
        _ => unreachable!("a workload of the benchmark"),
    }
}

/// Both stacks set up for one workload of [`paired`].
trait Pair {
    /// A run of our stack: how long it took.
    fn ours(&mut self) -> Duration;
    /// A run of smoltcp: how long it took.
    fn theirs(&mut self) -> Duration;
    /// Checks what the criterion runs check after the workload (no frame
    /// or datagram dropped, the link's faults applied).
    fn check(&self);
}

/// A UDP or ICMP workload: `len` bytes per datagram, `None` for echo.
struct DatagramPair {
    a: MirageHosts,
    b: SmoltcpHosts,
    len: Option<usize>,
    n: u64,
}

impl Pair for DatagramPair {
    fn ours(&mut self) -> Duration {
        match self.len {
            Some(len) => self.a.udp(self.n, payload(len)),
            None => self.a.ping(self.n),
        }
    }

    fn theirs(&mut self) -> Duration {
        match self.len {
            Some(len) => self.b.udp(self.n, payload(len)),
            None => self.b.ping(self.n),
        }
    }

    fn check(&self) {
        self.a.check_clean();
    }
}

/// A TCP workload.
struct TcpPair {
    w: TcpWorkload,
    a: MirageTcp,
    b: SmoltcpTcp,
    n: u64,
}

impl Pair for TcpPair {
    fn ours(&mut self) -> Duration {
        self.w.run_mirage(&mut self.a, self.n)
    }

    fn theirs(&mut self) -> Duration {
        self.w.run_smoltcp(&mut self.b, self.n)
    }

    fn check(&self) {
        self.a.check(self.w.link());
        self.b.check(self.w.link());
    }
}

/// The paired measurement (`NET_BENCH_PAIRED=<runs>[/<workload>]`): for
/// each workload (or the one named), both stacks set up once, one run of
/// each to warm up, then `runs` runs of each alternated, ours then
/// smoltcp's; printed: the best and the median time of each, and ours /
/// smoltcp's throughput from the best and from the medians. On a machine
/// whose speed drifts (a busy VM), alternating short runs compares the
/// stacks at the same moments, which whole criterion runs, each stack
/// measured for seconds after the other, do not.
fn paired(spec: &str) {
    let (runs, only) = match spec.split_once('/') {
        Some((runs, workload)) => (runs, Some(workload)),
        None => (spec, None),
    };
    let runs: usize = runs
        .parse()
        .ok()
        .filter(|&r| r > 0)
        .unwrap_or_else(|| panic!("NET_BENCH_PAIRED={spec}: expected <runs>[/<workload>]"));
    let names = ["udp_64", "udp_1024", "icmp_echo"]
        .into_iter()
        .chain(TcpWorkload::ALL.iter().map(|w| w.name()));
    let names: Vec<&str> = names.filter(|w| only.is_none_or(|o| o == *w)).collect();
    assert!(
        !names.is_empty(),
        "NET_BENCH_PAIRED={spec}: no such workload"
    );
    println!(
        "{:<18} {:>8} {:>22} {:>22} {:>8} {:>8}",
        "workload", "ops/run", "mirage best/median ms", "smoltcp best/median ms", "best", "median"
    );
    for name in names {
        let n = paired_ops(name);
        let mut pair: Box<dyn Pair> = match name {
            "udp_64" | "udp_1024" | "icmp_echo" => Box::new(DatagramPair {
                a: MirageHosts::new(),
                b: SmoltcpHosts::new(),
                len: match name {
                    "udp_64" => Some(64),
                    "udp_1024" => Some(1024),
                    _ => None,
                },
                n,
            }),
            _ => {
                let w = TcpWorkload::ALL
                    .into_iter()
                    .find(|w| w.name() == name)
                    .expect("a TCP workload");
                Box::new(TcpPair {
                    w,
                    a: w.mirage(),
                    b: w.smoltcp(),
                    n,
                })
            }
        };
        pair.ours();
        pair.theirs();
        let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
        for _ in 0..runs {
            a.push(pair.ours());
            b.push(pair.theirs());
        }
        pair.check();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let stats = |v: &mut Vec<Duration>| {
            v.sort();
            (ms(v[0]), ms(v[v.len() / 2]))
        };
        let ((a_best, a_median), (b_best, b_median)) = (stats(&mut a), stats(&mut b));
        println!(
            "{name:<18} {n:>8} {:>22} {:>22} {:>8.2} {:>8.2}",
            format!("{a_best:.1} / {a_median:.1}"),
            format!("{b_best:.1} / {b_median:.1}"),
            b_best / a_best,
            b_median / a_median
        );
    }
}

fn main() {
    if let Ok(spec) = std::env::var("NET_BENCH_RUN") {
        profile(&spec);
        return;
    }
    if let Ok(spec) = std::env::var("NET_BENCH_PAIRED") {
        paired(&spec);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_udp(&mut c, "udp_64", 64);
    bench_udp(&mut c, "udp_1024", 1024);
    bench_icmp(&mut c);
    for w in TcpWorkload::ALL {
        bench_tcp(&mut c, w);
    }
    c.final_summary();
    report();
}
