//! Benchmarks of the network stack over the in-memory link, against
//! smoltcp on the same link in the same run (issue 4):
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
//!
//! Both stacks run over the same [`Link`]'s endpoints (one `Link` per stack
//! pair, default configuration: MTU 1500, no faults), IPv4 only (smoltcp is
//! built with `proto-ipv4` only; our stacks run with `--ipv4-only` so that
//! neither does IPv6 housekeeping), checksums computed and checked in both.
//!
//! * Ours: two [`mirage::net::stack::DirectStack`]s on one
//!   [`mirage::rt::Executor`], as a unikernel runs them, through the
//!   application API (`UdpSocket::send_to` and `recv_from`; `Icmpv4::ping`
//!   and `next_reply`).
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
//! throughput for both stacks, over every measured run, and the ratio
//! ours / smoltcp (above 1: ours is faster).
//!
//! Run with `cargo bench --bench net` (add `-- --quick` for a short run).

#[path = "../tests/common/netsim.rs"]
mod netsim;

#[path = "net/mirage_side.rs"]
mod mirage_side;

#[path = "net/smoltcp_side.rs"]
mod smoltcp_side;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use mirage::Mclock;
use mirage::net::device::memory::{Link, LinkConfig};
use mirage::rt::Platform;

use mirage_side::MirageHosts;
use smoltcp_side::SmoltcpHosts;

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
    Link::pair(LinkConfig::default())
}

/// A deterministic payload of `len` bytes.
fn payload(len: usize) -> &'static [u8] {
    Box::leak(netsim::payload(len, len as u32).into_boxed_slice())
}

/// Which stack ran a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Mirage,
    Smoltcp,
}

/// Per workload and stack: operations and time over every measured run.
type Totals = BTreeMap<(&'static str, Side), (u64, Duration)>;

thread_local! {
    static TOTALS: RefCell<Totals> = const { RefCell::new(BTreeMap::new()) };
}

fn record(workload: &'static str, side: Side, ops: u64, took: Duration) -> Duration {
    TOTALS.with(|t| {
        let mut t = t.borrow_mut();
        let entry = t.entry((workload, side)).or_default();
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
    mirage: impl Fn(u64) -> Duration,
    smoltcp: impl Fn(u64) -> Duration,
) {
    let mut group = c.benchmark_group(format!("net/{workload}"));
    group.throughput(Throughput::Elements(1));
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
        |n| ours.ping(n),
        |n| theirs.borrow_mut().ping(n),
    );
    ours.check_clean();
}

/// Prints the throughput of each workload on both stacks and their ratio.
fn report() {
    TOTALS.with(|t| {
        let t = t.borrow();
        let rate = |w, s| {
            t.get(&(w, s))
                .map(|&(ops, took)| ops as f64 / took.as_secs_f64())
        };
        let mut workloads: Vec<&str> = t.keys().map(|&(w, _)| w).collect();
        workloads.dedup();
        println!();
        println!(
            "{:<12} {:>16} {:>16} {:>14}",
            "workload", "mirage ops/s", "smoltcp ops/s", "mirage/smoltcp"
        );
        for w in workloads {
            let (Some(ours), Some(theirs)) = (rate(w, Side::Mirage), rate(w, Side::Smoltcp)) else {
                continue;
            };
            println!(
                "{w:<12} {ours:>16.0} {theirs:>16.0} {:>14.2}",
                ours / theirs
            );
        }
    });
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench_udp(&mut c, "udp_64", 64);
    bench_udp(&mut c, "udp_1024", 1024);
    bench_icmp(&mut c);
    c.final_summary();
    report();
}
