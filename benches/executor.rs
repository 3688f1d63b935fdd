//! Benchmarks of the cooperative executor (`mirage::rt`) over a trivial
//! platform: spawning, waking through `yield_now`, and timers.
//!
//! Run with `cargo bench --bench executor` (add `-- --quick` for a short
//! run).

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mirage::rt::{Executor, Platform, Spawner, sleep_ns, sleep_until, yield_now};

/// A platform with `Instant` as its monotonic clock and no event sources:
/// idling just returns (the executor then re-checks its timers), so a timer
/// costs no real sleep beyond its deadline.
struct BenchPlatform;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Platform for BenchPlatform {
    fn now_ns(&self) -> u64 {
        // Offset by one second so that `sleep_until(0)` is in the past.
        1_000_000_000 + epoch().elapsed().as_nanos() as u64
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        // No deadline and nothing ready: every task waits for a wake that
        // can never come, which is a bug in the benchmark.
        assert!(
            deadline_ns.is_some(),
            "executor idle without a deadline: deadlock"
        );
    }
}

/// How many tasks the spawn and timer benchmarks run per iteration.
const TASKS: u64 = 1000;
/// How many hand-offs the ping-pong benchmark makes per iteration.
const HANDOFFS: u64 = 10_000;

/// Spawns `TASKS` tasks that complete at once and joins them all.
async fn spawn_and_join() -> u64 {
    let spawner = Spawner::for_current_executor().await;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| spawner.spawn(async move { black_box(i) }))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// Two tasks pass a turn back and forth `HANDOFFS` times, each yielding to
/// the executor while it is the other's turn.
async fn ping_pong() -> u64 {
    let spawner = Spawner::for_current_executor().await;
    let turns = Rc::new(Cell::new(0u64));
    let player = |me: u64| {
        let turns = turns.clone();
        spawner.spawn(async move {
            let mut mine = 0u64;
            loop {
                let n = turns.get();
                if n >= HANDOFFS {
                    return mine;
                }
                if n % 2 == me {
                    turns.set(n + 1);
                    mine += 1;
                }
                yield_now().await;
            }
        })
    };
    let (ping, pong) = (player(0), player(1));
    let total = ping.await + pong.await;
    assert_eq!(total, HANDOFFS);
    total
}

/// `TASKS` tasks each sleep 0 to 999 ns, and are joined.
async fn short_sleeps() -> u64 {
    let spawner = Spawner::for_current_executor().await;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            spawner.spawn(async move {
                sleep_ns(i % 1000).await;
                i
            })
        })
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// `TASKS` tasks each sleep until a deadline already in the past (which
/// fires on the first poll, without touching the timer queue).
async fn past_deadlines() -> u64 {
    let spawner = Spawner::for_current_executor().await;
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            spawner.spawn(async move {
                sleep_until(i).await;
                i
            })
        })
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// Runs `make()`'s future once outside the measurement, checking its result
/// and that it does not take long (timers must not really sleep).
fn sanity_check<F, Fut>(executor: &Executor<BenchPlatform>, name: &str, make: F, expected: u64)
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64> + 'static,
{
    let started = Instant::now();
    let output = executor.block_on(make()).expect("no stop request");
    let took = started.elapsed();
    assert_eq!(output, expected, "{name}: wrong result");
    assert!(
        took < Duration::from_secs(1),
        "{name}: one iteration took {took:?}"
    );
    assert_eq!(executor.live_tasks(), 0, "{name}: tasks left behind");
}

const SUM_OF_TASKS: u64 = TASKS * (TASKS - 1) / 2;

fn bench_spawn(c: &mut Criterion) {
    let executor = Executor::new(BenchPlatform);
    sanity_check(&executor, "spawn", spawn_and_join, SUM_OF_TASKS);
    let mut group = c.benchmark_group("spawn");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("spawn_and_complete_1000", |b| {
        b.iter(|| {
            executor
                .block_on(spawn_and_join())
                .expect("no stop request")
        })
    });
    group.finish();
}

fn bench_yield(c: &mut Criterion) {
    let executor = Executor::new(BenchPlatform);
    sanity_check(&executor, "yield", ping_pong, HANDOFFS);
    let mut group = c.benchmark_group("yield");
    group.throughput(Throughput::Elements(HANDOFFS));
    group.bench_function("ping_pong_10000", |b| {
        b.iter(|| executor.block_on(ping_pong()).expect("no stop request"))
    });
    group.finish();
}

fn bench_timers(c: &mut Criterion) {
    let executor = Executor::new(BenchPlatform);
    sanity_check(&executor, "timers", short_sleeps, SUM_OF_TASKS);
    sanity_check(&executor, "past deadlines", past_deadlines, SUM_OF_TASKS);
    let mut group = c.benchmark_group("timers");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("sleep_0_to_999ns_1000", |b| {
        b.iter(|| executor.block_on(short_sleeps()).expect("no stop request"))
    });
    group.bench_function("sleep_until_past_1000", |b| {
        b.iter(|| {
            executor
                .block_on(past_deadlines())
                .expect("no stop request")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_spawn, bench_yield, bench_timers);
criterion_main!(benches);
