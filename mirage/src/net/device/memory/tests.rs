//! Tests of the in-memory link, over the executor with a virtual clock.

use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use super::*;
use crate::rt::{Executor, Platform, sleep_until};

/// `idle` jumps the clock to the deadline and counts the calls; idling
/// without a deadline (nothing could ever happen) stops the executor.
#[derive(Clone, Default)]
struct VirtualPlatform {
    now: Arc<AtomicU64>,
    idles: Arc<AtomicU64>,
    stop: Arc<AtomicI32>,
}

impl Platform for VirtualPlatform {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        self.idles.fetch_add(1, Ordering::SeqCst);
        match deadline_ns {
            Some(deadline) => {
                self.now.fetch_max(deadline, Ordering::SeqCst);
            }
            None => self.stop.store(15, Ordering::SeqCst),
        }
    }

    fn stop_requested(&self) -> Option<i32> {
        match self.stop.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }
}

fn executor() -> (Executor<VirtualPlatform>, VirtualPlatform) {
    let platform = VirtualPlatform::default();
    (Executor::new(platform.clone()), platform)
}

/// A 64-byte frame carrying `seq`.
fn fill_seq(seq: u64) -> impl FnOnce(&mut [u8]) -> usize {
    move |buf: &mut [u8]| {
        buf[..64].fill(0xab);
        buf[14..22].copy_from_slice(&seq.to_be_bytes());
        64
    }
}

fn seq_of(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[14..22].try_into().unwrap())
}

fn send_seq(ep: &Endpoint, seq: u64) {
    assert_eq!(ep.try_write(64, fill_seq(seq)), Ok(true));
}

/// Every frame waiting at `ep`, copied.
fn drain(ep: &Endpoint) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(frame) = ep.try_read(|f| f.to_vec()).unwrap() {
        out.push(frame);
    }
    out
}

#[test]
fn pair_passes_frames_both_ways_under_the_executor() {
    let (ex, platform) = executor();
    let (a, b) = Link::pair(LinkConfig::default());
    let a = crate::rt::leak(a);
    let b = crate::rt::leak(b);
    // b echoes every frame back with its first byte incremented.
    ex.spawn(async move {
        loop {
            let frame = match b.read(|f| f.to_vec()).await {
                Ok(frame) => frame,
                Err(_) => return,
            };
            b.write(frame.len(), |buf| {
                buf[..frame.len()].copy_from_slice(&frame);
                buf[0] = buf[0].wrapping_add(1);
                frame.len()
            })
            .await
            .unwrap();
        }
    });
    let seqs = ex
        .block_on(async move {
            let mut seqs = Vec::new();
            for seq in 0..100 {
                a.write(64, fill_seq(seq)).await.unwrap();
                let (first, got) = a.read(|f| (f[0], seq_of(f))).await.unwrap();
                assert_eq!(first, 0xac);
                seqs.push(got);
            }
            seqs
        })
        .unwrap();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    let expected = Stats {
        rx_frames: 100,
        rx_bytes: 6400,
        tx_frames: 100,
        tx_bytes: 6400,
        rx_dropped: 0,
        tx_dropped: 0,
    };
    assert_eq!(a.stats(), expected);
    assert_eq!(b.stats(), expected);
    // No timers and never blocked: the tasks woke each other.
    assert_eq!(platform.now_ns(), 0);
    a.reset_stats();
    assert_eq!(a.stats(), Stats::default());
    assert_eq!(b.stats(), expected);
}

#[test]
fn a_reader_waits_through_its_waker() {
    let (ex, platform) = executor();
    let (a, b) = Link::pair(LinkConfig::default());
    let b = crate::rt::leak(b);
    let reader = ex.spawn(async move { b.read(seq_of).await });
    let got = ex
        .block_on(async move {
            sleep_until(1_000).await;
            a.write(64, fill_seq(7)).await.unwrap();
            let got = reader.await;
            (got, a)
        })
        .unwrap()
        .0;
    assert_eq!(got, Ok(7));
    // One idle step to reach the sleep's deadline, none while waiting.
    assert_eq!(platform.idles.load(Ordering::SeqCst), 1);
}

#[test]
fn try_read_on_an_empty_link_is_none() {
    let (a, b) = Link::pair(LinkConfig::default());
    assert_eq!(b.try_read(|f| f.len()), Ok(None));
    send_seq(&a, 1);
    assert_eq!(b.queued(), 1);
    assert_eq!(b.try_read(seq_of), Ok(Some(1)));
    assert_eq!(b.try_read(seq_of), Ok(None));
    assert_eq!(a.try_read(seq_of), Ok(None));
}

#[test]
fn the_bounded_queue_drops_and_counts() {
    let config = LinkConfig {
        queue_len: 4,
        ..LinkConfig::default()
    };
    let (a, b) = Link::pair(config);
    for seq in 0..10 {
        send_seq(&a, seq);
    }
    assert_eq!(b.queued(), 4);
    assert_eq!(a.stats().tx_frames, 10);
    assert_eq!(b.stats().rx_dropped, 6);
    let got: Vec<u64> = drain(&b).iter().map(|f| seq_of(f)).collect();
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(b.stats().rx_frames, 4);
    // Room again.
    send_seq(&a, 10);
    assert_eq!(b.try_read(seq_of), Ok(Some(10)));
}

#[test]
fn the_mtu_is_enforced() {
    let config = LinkConfig {
        mtu: 100,
        ..LinkConfig::default()
    };
    let (a, b) = Link::pair(config);
    assert_eq!(a.mtu(), 100);
    assert_eq!(
        a.try_write(115, |_| unreachable!()),
        Err(NetError::TooLarge)
    );
    assert_eq!(a.try_write(114, |buf| buf.len()), Ok(true));
    assert_eq!(a.try_write(20, |_| 21), Err(NetError::TooLarge));
    assert_eq!(b.try_read(|f| f.len()), Ok(Some(114)));
    assert_eq!(b.try_read(|f| f.len()), Ok(None));
    assert_eq!(a.stats().tx_frames, 1);
    let (ex, _) = executor();
    let result = ex
        .block_on(async move { a.write(1000, |_| 0).await })
        .unwrap();
    assert_eq!(result, Err(NetError::TooLarge));
}

/// Fills a frame of `len` bytes as one TCP segment in IPv4 (`v6`: IPv6)
/// as far as [`is_tcp_segment`] looks, the rest `0x5a`.
fn fill_tcp(len: usize, v6: bool) -> impl FnOnce(&mut [u8]) -> usize {
    move |buf: &mut [u8]| {
        buf.fill(0x5a);
        if v6 {
            buf[12..14].copy_from_slice(&[0x86, 0xdd]);
            buf[14] = 0x60;
            buf[14 + 6] = 6;
        } else {
            buf[12..14].copy_from_slice(&[0x08, 0x00]);
            buf[14] = 0x45;
            buf[14 + 6..14 + 8].copy_from_slice(&[0x40, 0]);
            buf[14 + 9] = 6;
        }
        len
    }
}

#[test]
fn without_the_offload_a_segment_longer_than_the_mtu_is_refused() {
    let (a, b) = Link::pair(LinkConfig::default());
    assert_eq!(a.segmentation_offload(), 0);
    assert_eq!(
        a.try_write_segmented(9000, 1448, |_| unreachable!()),
        Err(NetError::TooLarge)
    );
    assert_eq!(b.try_read(|f| f.len()), Ok(None));
    assert_eq!(a.stats(), Stats::default());
}

#[test]
fn with_the_offload_a_tcp_segment_goes_whole_and_anything_else_is_refused() {
    let config = LinkConfig {
        segmentation_offload: true,
        ..LinkConfig::default()
    };
    let (a, b) = Link::pair(config);
    assert_eq!(a.segmentation_offload(), MAX_SEGMENTED_FRAME_LEN);
    assert_eq!(b.segmentation_offload(), MAX_SEGMENTED_FRAME_LEN);
    // Whole segments of either family, up to the longest frame.
    for (len, v6) in [
        (9014, false),
        (MAX_SEGMENTED_FRAME_LEN, true),
        (1000, false),
    ] {
        assert_eq!(
            a.try_write_segmented(len, 1448, fill_tcp(len, v6)),
            Ok(true)
        );
    }
    let frames = drain(&b);
    let lens: Vec<usize> = frames.iter().map(Vec::len).collect();
    assert_eq!(lens, vec![9014, MAX_SEGMENTED_FRAME_LEN, 1000]);
    assert!(frames.iter().all(|f| is_tcp_segment(f)));
    // Too long, or no segment size: refused unseen.
    let too_long = MAX_SEGMENTED_FRAME_LEN + 1;
    assert_eq!(
        a.try_write_segmented(too_long, 1448, |_| unreachable!()),
        Err(NetError::TooLarge)
    );
    assert_eq!(
        a.try_write_segmented(9014, 0, |_| unreachable!()),
        Err(NetError::TooLarge)
    );
    // Not a TCP segment (UDP; an IPv4 fragment; ARP): refused, counted.
    let udp = |buf: &mut [u8]| {
        let n = fill_tcp(9014, false)(buf);
        buf[14 + 9] = 17;
        n
    };
    let fragment = |buf: &mut [u8]| {
        let n = fill_tcp(9014, false)(buf);
        buf[14 + 6] = 0x20;
        n
    };
    let arp = |buf: &mut [u8]| {
        let n = fill_tcp(9014, false)(buf);
        buf[12..14].copy_from_slice(&[0x08, 0x06]);
        n
    };
    assert_eq!(
        a.try_write_segmented(9014, 1448, udp),
        Err(NetError::TooLarge)
    );
    assert_eq!(
        a.try_write_segmented(9014, 1448, fragment),
        Err(NetError::TooLarge)
    );
    assert_eq!(
        a.try_write_segmented(9014, 1448, arp),
        Err(NetError::TooLarge)
    );
    assert_eq!(b.try_read(|f| f.len()), Ok(None));
    let stats = a.stats();
    assert_eq!((stats.tx_frames, stats.tx_dropped), (3, 3));
    // Plain writes keep the MTU.
    assert_eq!(
        a.try_write(1515, |_| unreachable!()),
        Err(NetError::TooLarge)
    );
}

#[test]
fn the_fill_buffer_has_the_asked_length() {
    let (a, b) = Link::pair(LinkConfig::default());
    for len in [1514, 60, 1000, 0] {
        assert_eq!(
            a.try_write(len, |buf| {
                assert_eq!(buf.len(), len);
                buf.len()
            }),
            Ok(true)
        );
    }
    let lens: Vec<usize> = drain(&b).iter().map(Vec::len).collect();
    assert_eq!(lens, vec![1514, 60, 1000, 0]);
}

#[test]
fn macs_are_the_configured_ones() {
    let (a, b) = Link::pair(LinkConfig::default());
    assert_eq!(a.mac(), MacAddr([2, 0, 0, 0, 0, 1]));
    assert_eq!(b.mac(), MacAddr([2, 0, 0, 0, 0, 2]));
    assert!(a.mac().is_local() && a.mac().is_unicast());
}

#[test]
fn dropping_an_endpoint_disconnects() {
    let (a, b) = Link::pair(LinkConfig::default());
    send_seq(&b, 1);
    assert!(a.peer_connected());
    drop(b);
    assert!(!a.peer_connected());
    assert_eq!(a.try_write(64, fill_seq(2)), Err(NetError::Disconnected));
    // What was queued is still delivered, then the link is gone.
    assert_eq!(a.try_read(seq_of), Ok(Some(1)));
    assert_eq!(a.try_read(seq_of), Err(NetError::Disconnected));
}

#[test]
fn a_waiting_reader_sees_the_disconnection() {
    let (ex, _) = executor();
    let (a, b) = Link::pair(LinkConfig::default());
    let reader = ex.spawn(async move { a.read(|f| f.len()).await });
    let result = ex
        .block_on(async move {
            crate::rt::yield_now().await;
            drop(b);
            reader.await
        })
        .unwrap();
    assert_eq!(result, Err(NetError::Disconnected));
}

const N: u64 = 10_000;

fn faulty(faults: Faults) -> (Endpoint, Endpoint) {
    Link::pair(
        LinkConfig {
            queue_len: 2 * N as usize + 10,
            ..LinkConfig::default()
        }
        .with_faults(faults),
    )
}

/// Sends `N` frames from a to b and returns what b received.
fn run_faults(faults: Faults) -> (Vec<Vec<u8>>, FaultStats) {
    let (a, b) = faulty(faults);
    for seq in 0..N {
        send_seq(&a, seq);
    }
    (drain(&b), a.fault_stats())
}

fn assert_near(count: u64, p: f64) {
    let expected = N as f64 * p;
    // Within 5 standard deviations of the binomial.
    let sd = (N as f64 * p * (1.0 - p)).sqrt();
    let diff = (count as f64 - expected).abs();
    assert!(diff <= 5.0 * sd, "{count} is far from {expected}");
}

#[test]
fn drops_happen_at_their_probability() {
    let faults = Faults {
        seed: 1,
        drop: 0.1,
        ..Faults::NONE
    };
    let (got, stats) = run_faults(faults);
    assert_near(stats.dropped, 0.1);
    assert_eq!(got.len() as u64, N - stats.dropped);
    // The rest arrives in order.
    assert!(got.windows(2).all(|w| seq_of(&w[0]) < seq_of(&w[1])));
    assert_eq!(stats.duplicated + stats.reordered + stats.corrupted, 0);
}

#[test]
fn duplicates_happen_at_their_probability() {
    let (got, stats) = run_faults(Faults {
        seed: 2,
        duplicate: 0.2,
        ..Faults::NONE
    });
    assert_near(stats.duplicated, 0.2);
    assert_eq!(got.len() as u64, N + stats.duplicated);
    let twins = got.windows(2).filter(|w| w[0] == w[1]).count() as u64;
    assert_eq!(twins, stats.duplicated);
}

#[test]
fn reorders_happen_at_their_probability() {
    let p = 0.1;
    let (got, stats) = run_faults(Faults {
        seed: 3,
        reorder: p,
        ..Faults::NONE
    });
    // A frame is held only when none is held: about p / (1 + p) of them.
    assert_near(stats.reordered, p / (1.0 + p));
    let inversions = got
        .windows(2)
        .filter(|w| seq_of(&w[0]) > seq_of(&w[1]))
        .count() as u64;
    // The last frame may still be held back.
    assert!(got.len() as u64 == N || got.len() as u64 == N - 1);
    assert!(inversions == stats.reordered || inversions + 1 == stats.reordered);
    // Each held frame comes right after its successor.
    for w in got.windows(2) {
        if seq_of(&w[0]) > seq_of(&w[1]) {
            assert_eq!(seq_of(&w[0]), seq_of(&w[1]) + 1);
        }
    }
}

#[test]
fn corruption_flips_one_bit_at_its_probability() {
    let (got, stats) = run_faults(Faults {
        seed: 4,
        corrupt: 0.05,
        ..Faults::NONE
    });
    assert_near(stats.corrupted, 0.05);
    assert_eq!(got.len() as u64, N);
    let mut corrupted = 0;
    for (seq, frame) in got.iter().enumerate() {
        let mut clean = vec![0u8; 64];
        fill_seq(seq as u64)(&mut clean);
        let flipped: u32 = frame
            .iter()
            .zip(&clean)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert!(flipped <= 1);
        corrupted += u64::from(flipped);
    }
    assert_eq!(corrupted, stats.corrupted);
}

#[test]
fn the_same_seed_gives_the_same_sequence() {
    let faults = Faults {
        seed: 42,
        drop: 0.05,
        duplicate: 0.05,
        reorder: 0.05,
        corrupt: 0.05,
        delay_ns: 0,
    };
    let first = run_faults(faults);
    let second = run_faults(faults);
    assert_eq!(first, second);
    let other = run_faults(Faults { seed: 43, ..faults });
    assert_ne!(first.0, other.0);
}

#[test]
fn the_directions_have_their_own_faults() {
    let config = LinkConfig {
        faults: [
            Faults {
                drop: 1.0,
                ..Faults::NONE
            },
            Faults::NONE,
        ],
        ..LinkConfig::default()
    };
    let (a, b) = Link::pair(config);
    send_seq(&a, 1);
    send_seq(&b, 2);
    assert_eq!(b.try_read(seq_of), Ok(None));
    assert_eq!(a.try_read(seq_of), Ok(Some(2)));
    assert_eq!(a.fault_stats().dropped, 1);
    assert_eq!(b.fault_stats().dropped, 0);
}

#[test]
fn delay_is_respected_in_virtual_time() {
    let (ex, platform) = executor();
    let (a, b) = Link::pair(LinkConfig::default().with_faults(Faults {
        delay_ns: 1_000,
        ..Faults::NONE
    }));
    let b = crate::rt::leak(b);
    let clock = platform.clone();
    let log = Rc::new(RefCell::new(Vec::new()));
    let seen = log.clone();
    let reader = ex.spawn(async move {
        for _ in 0..3 {
            let seq = b.read(seq_of).await.unwrap();
            seen.borrow_mut().push((seq, clock.now_ns()));
        }
    });
    ex.block_on(async move {
        a.write(64, fill_seq(0)).await.unwrap();
        sleep_until(500).await;
        a.write(64, fill_seq(1)).await.unwrap();
        // Not yet due: try_read must not deliver it either.
        assert_eq!(a.try_read(seq_of), Ok(None));
        sleep_until(2_000).await;
        a.write(64, fill_seq(2)).await.unwrap();
        reader.await;
        assert_eq!(a.fault_stats().delayed, 3);
    })
    .unwrap();
    assert_eq!(*log.borrow(), vec![(0, 1_000), (1, 1_500), (2, 3_000)]);
}

#[test]
fn delayed_frames_are_not_read_early_by_try_read() {
    let (ex, _) = executor();
    let (a, b) = Link::pair(LinkConfig::default().with_faults(Faults {
        delay_ns: 100,
        ..Faults::NONE
    }));
    ex.block_on(async move {
        a.write(64, fill_seq(5)).await.unwrap();
        assert_eq!(b.try_read(seq_of), Ok(None));
        sleep_until(99).await;
        assert_eq!(b.try_read(seq_of), Ok(None));
        sleep_until(100).await;
        assert_eq!(b.try_read(seq_of), Ok(Some(5)));
    })
    .unwrap();
}
