//! CUBIC's first slow start through a bottleneck, with and without
//! HyStart++ (RFC 9406): a 40 ms round trip (20 ms each way) and 12.5 MB/s
//! (100 Mbit/s) towards B, so that 500 kB in flight fill the path and the
//! rest waits in the bottleneck's queue, which drops what finds it full.

extern crate std;

use super::harness::*;
use crate::net::tcp::{Config, CongestionAlgorithm, Stats};

/// A sends `size` bytes to B with `config` (and `buffer` bytes of send
/// and receive buffer) through a queue of `queue` bytes: A's stats, its
/// slow-start threshold at the end, the bottleneck's drops.
fn through(config: Config, buffer: usize, queue: u64, size: usize) -> (Stats, usize, u64) {
    let config = Config {
        send_buffer: buffer,
        recv_buffer: buffer,
        ..config
    };
    let hystart = config.hystart;
    let (sim, a, took) = one_way_through(config, Bottleneck::at_100_mbit(queue), 20 * MS, size);
    let stats = sim.a.stats().clone();
    let ssthresh = sim.a.info(a).unwrap().ssthresh;
    std::eprintln!(
        "queue {queue}, HyStart++ {hystart}: {} MB in {} ms virtual, {} dropped, {} retransmitted, \
         {} timeouts, ssthresh {ssthresh}, {} HyStart++ exits",
        size >> 20,
        took / MS,
        sim.bottleneck_drops,
        stats.retransmitted,
        stats.timeouts,
        stats.hystart_exits
    );
    (stats, ssthresh, sim.bottleneck_drops)
}

/// A deep queue (6 MB, 480 ms): standard slow start doubles the window
/// past all the path and the queue hold and loses a burst; with HyStart++
/// (the default) the round trip's rise ends slow start after its
/// conservative rounds, and 32 MB arrive without a loss.
#[test]
fn hystart_leaves_slow_start_before_a_deep_queue_overflows() {
    let (with, ssthresh, drops) = through(Config::default(), 16 << 20, 6_000_000, 32 << 20);
    assert_eq!(with.hystart_exits, 1);
    assert_eq!((drops, with.retransmitted, with.timeouts), (0, 0, 0));
    assert!(ssthresh < 6_500_000, "slow start ended at {ssthresh} bytes");
    let without = Config {
        hystart: false,
        ..Config::default()
    };
    let (stats, _, drops) = through(without, 16 << 20, 6_000_000, 32 << 20);
    assert_eq!(stats.hystart_exits, 0);
    assert!(drops > 100, "{drops} dropped");
}

/// Shallower queues (half the path's capacity to four times it) overflow
/// during HyStart++'s conservative rounds too (their growth, a quarter of
/// slow start's, still fills the queue before the five rounds end), but
/// with far fewer losses than standard slow start's doubling.
#[test]
fn hystart_cuts_the_losses_of_a_slow_start_that_overflows() {
    for queue in [250_000, 500_000, 1_000_000, 2_000_000] {
        let (_, _, with) = through(Config::default(), 4 << 20, queue, 16 << 20);
        let without = Config {
            hystart: false,
            ..Config::default()
        };
        let (_, _, without) = through(without, 4 << 20, queue, 16 << 20);
        assert!(
            with > 0 && with * 3 / 2 < without,
            "queue {queue}: {with} dropped with HyStart++, {without} without"
        );
    }
}

/// HyStart++ is CUBIC's; NewReno's slow start is RFC 5681's. And it needs
/// the timestamps' echoes to time every acknowledgment: without them
/// (one round trip timed per flight) it never has the samples it needs,
/// and slow start overflows the deep queue as without it.
#[test]
fn hystart_needs_cubic_and_timestamps() {
    for config in [
        Config {
            congestion: CongestionAlgorithm::NewReno,
            ..Config::default()
        },
        Config {
            timestamps: false,
            ..Config::default()
        },
    ] {
        let (stats, _, drops) = through(config, 16 << 20, 6_000_000, 32 << 20);
        assert_eq!(stats.hystart_exits, 0);
        assert!(drops > 100, "{drops} dropped");
    }
}
