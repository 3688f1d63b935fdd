//! An in-memory link between two [`Endpoint`]s, for tests and benchmarks:
//! what one endpoint writes the other reads, through a bounded queue per
//! direction, with optional faults injected per direction from a seeded
//! PRNG (so a seed always yields the same sequence of faults).
//!
//! * The queue towards an endpoint holds at most [`LinkConfig::queue_len`]
//!   frames; a frame arriving at a full queue is dropped and counted in the
//!   receiving endpoint's `rx_dropped`. Writes therefore never wait.
//! * [`Faults`] apply, in this order, to every frame written: drop
//!   (the frame vanishes "on the wire"), corrupt (one random bit flipped,
//!   anywhere: in headers that no checksum covers too, such as Ethernet's
//!   and ARP's, which a real link's frame check sequence would protect),
//!   duplicate (a copy follows the frame), reorder (the frame is held back
//!   and delivered right after the next frame of the direction; a held frame
//!   waits for that next frame), delay (the frame is delivered no earlier
//!   than `delay_ns` after it was written, in the executor's clock). What
//!   was applied is counted in [`FaultStats`].
//! * Delays use the executor's timers ([`crate::rt::sleep_ns`]): they start
//!   when the frame is written from inside an executor task that has used
//!   the link asynchronously (`read`/`write`) before; a frame written before
//!   any such use is delayed from the moment a reader first looks at it.
//! * Dropping an endpoint disconnects the link: its peer reads the frames
//!   still queued, then gets [`NetError::Disconnected`], as do its writes.
//! * With [`LinkConfig::segmentation_offload`], both endpoints offer TCP
//!   segmentation offload ([`Network::segmentation_offload`]): a TCP
//!   segment of up to [`MAX_SEGMENTED_FRAME_LEN`] bytes goes over the link
//!   whole and its reader gets it so, as Linux's veth pair passes a
//!   segmentation-offload packet from one namespace's stack to the other's
//!   without cutting it. The faults apply to it as to any frame (so a drop
//!   loses the whole segment, as a burst of losses on a wire would).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use super::{
    MAX_SEGMENTED_FRAME_LEN, NetError, Network, Stats, StatsCell, check_len, check_segmented,
    check_used, is_tcp_segment, max_frame_len,
};
use crate::net::MacAddr;
use crate::rt::{Sleep, sleep_ns};

/// The faults injected into one direction of a link. Probabilities are in
/// `[0, 1]`; 0 disables the fault (and draws nothing from the PRNG).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Seed of the direction's PRNG.
    pub seed: u64,
    /// Probability that a frame is lost.
    pub drop: f64,
    /// Probability that a frame is delivered twice.
    pub duplicate: f64,
    /// Probability that a frame is held back and delivered after the next.
    pub reorder: f64,
    /// Probability that one random bit of a frame is flipped.
    pub corrupt: f64,
    /// Every frame is delivered no earlier than this many nanoseconds after
    /// it was written.
    pub delay_ns: u64,
}

impl Faults {
    /// No faults: a perfect wire.
    pub const NONE: Faults = Faults {
        seed: 0,
        drop: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        corrupt: 0.0,
        delay_ns: 0,
    };
}

impl Faults {
    /// Whether no fault is enabled (the seed is then unused).
    fn is_perfect(&self) -> bool {
        self.drop <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
            && self.delay_ns == 0
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::NONE
    }
}

/// How a [`Link`] is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// The MTU of both endpoints (Ethernet header excluded).
    pub mtu: usize,
    /// How many frames each direction's queue holds.
    pub queue_len: usize,
    /// The MAC addresses of the first and the second endpoint.
    pub macs: [MacAddr; 2],
    /// The faults of the frames sent by the first and by the second
    /// endpoint.
    pub faults: [Faults; 2],
    /// Whether both endpoints offer TCP segmentation offload (see the
    /// module documentation).
    pub segmentation_offload: bool,
}

impl Default for LinkConfig {
    /// MTU 1500, 256 frames per queue, MACs `02:00:00:00:00:01` and
    /// `02:00:00:00:00:02`, no faults, no segmentation offload.
    fn default() -> Self {
        LinkConfig {
            mtu: 1500,
            queue_len: 256,
            macs: [
                MacAddr([0x02, 0, 0, 0, 0, 1]),
                MacAddr([0x02, 0, 0, 0, 0, 2]),
            ],
            faults: [Faults::NONE; 2],
            segmentation_offload: false,
        }
    }
}

impl LinkConfig {
    /// This configuration with `faults` in both directions (each direction
    /// draws from its own PRNG, seeded from `faults.seed` and the
    /// direction).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = [faults; 2];
        self
    }
}

/// What the faults of one direction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Frames lost.
    pub dropped: u64,
    /// Frames delivered twice.
    pub duplicated: u64,
    /// Frames held back behind the next frame.
    pub reordered: u64,
    /// Frames with a bit flipped.
    pub corrupted: u64,
    /// Frames delayed.
    pub delayed: u64,
}

/// SplitMix64: a small, fast, seedable PRNG (not cryptographic).
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`; draws nothing when `p <= 0`.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// Uniform in `[0, n)`, `n > 0`.
    fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift: bias below 2^-64 * n, irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A frame in flight.
struct Frame {
    buf: Vec<u8>,
    /// Completes once the frame's delay has passed.
    /// (Boxed: only delayed frames have one, and a small `Frame` is moved
    /// into the queue without a store-forwarding stall.)
    ready: Option<Box<Sleep>>,
}

/// One direction of the link: the frames towards one endpoint.
struct Direction {
    queue: VecDeque<Frame>,
    /// A frame held back by the reorder fault.
    held: Option<Frame>,
    /// Buffers to reuse, so steady traffic allocates nothing.
    pool: Vec<Vec<u8>>,
    /// The tasks waiting to read.
    readers: Vec<Waker>,
    rng: SplitMix64,
    faults: Faults,
    fault_stats: FaultStats,
}

impl Direction {
    // Inlined: a frame's buffer passed by value is copied as whole words
    // right after its fields were stored, which stalls on store forwarding.
    #[inline(always)]
    fn recycle(&mut self, buf: Vec<u8>, capacity: usize) {
        if self.pool.len() < capacity {
            self.pool.push(buf);
        }
    }

    // Inlined: a frame's buffer passed by value is copied as whole words
    // right after its fields were stored, which stalls on store forwarding.
    #[inline(always)]
    fn enqueue(&mut self, frame: Frame, capacity: usize, rx_stats: &StatsCell) {
        if self.queue.len() >= capacity {
            rx_stats.rx_drop();
            self.recycle(frame.buf, capacity);
        } else {
            self.queue.push_back(frame);
        }
    }

    /// A frame's delay, started now if `clock` (a waker of an executor
    /// task) is known.
    fn stamp(&mut self, clock: Option<&Waker>) -> Option<Box<Sleep>> {
        if self.faults.delay_ns == 0 {
            return None;
        }
        self.fault_stats.delayed += 1;
        let mut sleep = Box::new(sleep_ns(self.faults.delay_ns));
        if let Some(waker) = clock {
            // The first poll fixes the deadline; the timer then wakes
            // `waker` (spuriously, harmless) unless a reader polls first.
            let _ = Pin::new(&mut *sleep).poll(&mut Context::from_waker(waker));
        }
        Some(sleep)
    }

    /// Puts `buf` on the wire: applies the faults and queues what is left.
    // Inlined: a frame's buffer passed by value is copied as whole words
    // right after its fields were stored, which stalls on store forwarding.
    #[inline(always)]
    fn transmit(
        &mut self,
        buf: Vec<u8>,
        clock: Option<&Waker>,
        capacity: usize,
        rx_stats: &StatsCell,
    ) {
        if self.faults.is_perfect() {
            // Nothing to draw, hold back or delay.
            self.enqueue(Frame { buf, ready: None }, capacity, rx_stats);
            return;
        }
        self.transmit_with_faults(buf, clock, capacity, rx_stats);
    }

    /// [`Self::transmit`] on a link with faults. (Out of line: a fault-free
    /// link, the usual one, keeps only the test above in every write.)
    #[inline(never)]
    fn transmit_with_faults(
        &mut self,
        mut buf: Vec<u8>,
        clock: Option<&Waker>,
        capacity: usize,
        rx_stats: &StatsCell,
    ) {
        let faults = self.faults;
        if self.rng.chance(faults.drop) {
            self.fault_stats.dropped += 1;
            self.recycle(buf, capacity);
            return;
        }
        if self.rng.chance(faults.corrupt) && !buf.is_empty() {
            let bit = self.rng.below(buf.len() as u64 * 8) as usize;
            buf[bit / 8] ^= 1 << (bit % 8);
            self.fault_stats.corrupted += 1;
        }
        let copy = if self.rng.chance(faults.duplicate) {
            self.fault_stats.duplicated += 1;
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(&buf);
            Some(copy)
        } else {
            None
        };
        for buf in [Some(buf), copy].into_iter().flatten() {
            let frame = Frame {
                buf,
                ready: self.stamp(clock),
            };
            if self.held.is_none() && self.rng.chance(faults.reorder) {
                self.fault_stats.reordered += 1;
                self.held = Some(frame);
                continue;
            }
            self.enqueue(frame, capacity, rx_stats);
            if let Some(held) = self.held.take() {
                self.enqueue(held, capacity, rx_stats);
            }
        }
    }
}

/// What both endpoints share.
struct Shared {
    mtu: usize,
    /// [`LinkConfig::segmentation_offload`].
    segmentation_offload: bool,
    queue_len: usize,
    /// `dirs[i]`: the frames towards endpoint `i`.
    dirs: [RefCell<Direction>; 2],
    stats: [StatsCell; 2],
    alive: [Cell<bool>; 2],
    /// Per endpoint, a waker of the executor task that last used it
    /// asynchronously: it lets delays start from a synchronous write.
    /// (Per endpoint: two stacks' runners taking turns on one link would
    /// otherwise replace one waker with the other's at every frame.)
    clock: [RefCell<Option<Waker>>; 2],
    /// Whether any direction delays frames (else `clock` is not needed).
    delays: bool,
    /// Per endpoint, the first task that waited to read from it: it stays
    /// registered (woken by reference at every frame, and not cloned again
    /// when it waits again), since one task (a stack's runner) usually
    /// reads an endpoint for its whole life. Other waiting readers are in
    /// `Direction::readers`, woken once. (Outside the `Direction` so that
    /// no mutable borrow is held while it is woken.)
    reader: [RefCell<Option<Waker>>; 2],
}

impl Shared {
    /// Wakes the kept reader of endpoint `side`, if any (by reference: it
    /// stays registered).
    fn wake_reader(&self, side: usize) {
        if let Some(reader) = &*self.reader[side].borrow() {
            reader.wake_by_ref();
        }
    }

    /// Keeps `waker` as `side`'s clock (see `clock`), when frames may be
    /// delayed. (Inlined: on every asynchronous read, and without delays
    /// it is one test.)
    #[inline]
    fn remember_clock(&self, side: usize, waker: &Waker) {
        if self.delays {
            self.remember_clock_now(side, waker);
        }
    }

    #[inline(never)]
    fn remember_clock_now(&self, side: usize, waker: &Waker) {
        let mut clock = self.clock[side].borrow_mut();
        if !clock.as_ref().is_some_and(|c| c.will_wake(waker)) {
            *clock = Some(waker.clone());
        }
    }

    /// A waker of an executor task that used the link, `side`'s first.
    fn any_clock(&self, side: usize) -> Option<Waker> {
        self.clock[side]
            .borrow()
            .clone()
            .or_else(|| self.clock[1 - side].borrow().clone())
    }
}

/// An in-memory link: see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct Link;

impl Link {
    /// Two connected endpoints.
    pub fn pair(config: LinkConfig) -> (Endpoint, Endpoint) {
        let direction = |towards: usize| {
            // The faults of the frames towards `towards` are those of the
            // other endpoint; its PRNG is seeded with the direction mixed in.
            let faults = config.faults[1 - towards];
            let mut seeder = SplitMix64(faults.seed ^ (towards as u64 + 1));
            RefCell::new(Direction {
                queue: VecDeque::with_capacity(config.queue_len.min(1024)),
                held: None,
                pool: Vec::new(),
                readers: Vec::new(),
                rng: SplitMix64(seeder.next_u64()),
                faults,
                fault_stats: FaultStats::default(),
            })
        };
        let shared = Rc::new(Shared {
            mtu: config.mtu,
            segmentation_offload: config.segmentation_offload,
            queue_len: config.queue_len,
            dirs: [direction(0), direction(1)],
            stats: [StatsCell::new(), StatsCell::new()],
            alive: [Cell::new(true), Cell::new(true)],
            clock: [RefCell::new(None), RefCell::new(None)],
            delays: config.faults.iter().any(|f| f.delay_ns != 0),
            reader: [RefCell::new(None), RefCell::new(None)],
        });
        (
            Endpoint {
                shared: shared.clone(),
                side: 0,
                mac: config.macs[0],
            },
            Endpoint {
                shared,
                side: 1,
                mac: config.macs[1],
            },
        )
    }
}

/// One end of a [`Link`].
pub struct Endpoint {
    shared: Rc<Shared>,
    side: usize,
    mac: MacAddr,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("side", &self.side)
            .field("mac", &self.mac)
            .field("mtu", &self.shared.mtu)
            .finish()
    }
}

impl Endpoint {
    fn peer(&self) -> usize {
        1 - self.side
    }

    /// What the faults did to the frames this endpoint sent.
    pub fn fault_stats(&self) -> FaultStats {
        self.shared.dirs[self.peer()].borrow().fault_stats
    }

    /// How many frames are queued towards this endpoint (delivered or
    /// still delayed).
    pub fn queued(&self) -> usize {
        self.shared.dirs[self.side].borrow().queue.len()
    }

    /// Whether the other endpoint still exists.
    pub fn peer_connected(&self) -> bool {
        self.shared.alive[self.peer()].get()
    }

    /// Sends one frame (see [`Network::write`]); `clock` starts a delay.
    /// `segment`: a TCP segment through the segmentation offload (see
    /// [`Network::try_write_segmented`], which checked its length).
    // (Inlined: `segment` is a constant at every call.)
    #[inline(always)]
    fn send(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
        clock: Option<&Waker>,
        segment: bool,
    ) -> Result<(), NetError> {
        if !segment {
            check_len(len, self.shared.mtu)?;
        }
        let peer = self.peer();
        if !self.shared.alive[peer].get() {
            return Err(NetError::Disconnected);
        }
        let capacity = self.shared.queue_len;
        let mut buf = self.shared.dirs[peer]
            .borrow_mut()
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(max_frame_len(self.shared.mtu)));
        if buf.len() < len {
            buf.resize(len, 0);
        } else {
            buf.truncate(len);
        }
        // No borrow is held while the caller fills the buffer.
        let used = match check_used(fill(&mut buf), len) {
            Ok(used) if segment && !is_tcp_segment(&buf[..used]) => {
                self.shared.stats[self.side].tx_drop();
                Err(NetError::TooLarge)
            }
            checked => checked,
        };
        let used = match used {
            Ok(used) => used,
            Err(error) => {
                self.shared.dirs[peer].borrow_mut().recycle(buf, capacity);
                return Err(error);
            }
        };
        buf.truncate(used);
        self.shared.stats[self.side].sent(used);
        let mut readers = {
            let mut dir = self.shared.dirs[peer].borrow_mut();
            dir.transmit(buf, clock, capacity, &self.shared.stats[peer]);
            core::mem::take(&mut dir.readers)
        };
        self.shared.wake_reader(peer);
        if readers.is_empty() {
            return Ok(());
        }
        // No borrow is held while waking; the emptied list goes back (with
        // its capacity, so that waiting again allocates nothing) unless a
        // reader registered meanwhile.
        for reader in readers.drain(..) {
            reader.wake();
        }
        let mut dir = self.shared.dirs[peer].borrow_mut();
        if dir.readers.is_empty() {
            dir.readers = readers;
        }
        Ok(())
    }

    /// Takes the next due frame, or registers `cx` (if any) to wait.
    fn take(&self, mut cx: Option<&mut Context<'_>>) -> Result<Option<Vec<u8>>, NetError> {
        let mut dir = self.shared.dirs[self.side].borrow_mut();
        let dir = &mut *dir;
        match dir.queue.front_mut() {
            Some(frame) => {
                let due = match (&mut frame.ready, &mut cx) {
                    (None, _) => true,
                    (Some(sleep), Some(cx)) => Pin::new(&mut **sleep).poll(cx).is_ready(),
                    // Without a context, the delay's timer needs the waker
                    // of an executor task: a waiting reader's, or the
                    // last user's.
                    (Some(sleep), None) => {
                        let waker = dir
                            .readers
                            .first()
                            .cloned()
                            .or_else(|| self.shared.reader[self.side].borrow().clone())
                            .or_else(|| self.shared.any_clock(self.side));
                        waker.is_some_and(|waker| {
                            Pin::new(&mut **sleep)
                                .poll(&mut Context::from_waker(&waker))
                                .is_ready()
                        })
                    }
                };
                if due {
                    return Ok(dir.queue.pop_front().map(|frame| frame.buf));
                }
            }
            None if !self.shared.alive[self.peer()].get() => {
                return Err(NetError::Disconnected);
            }
            None => {}
        }
        if let Some(cx) = cx {
            let waker = cx.waker();
            // The first waiting reader is kept in `Shared::reader`; others
            // (or any while it is being woken) wait in the list.
            let kept = match self.shared.reader[self.side].try_borrow_mut() {
                Ok(mut reader) => match &*reader {
                    Some(r) => r.will_wake(waker),
                    None => {
                        *reader = Some(waker.clone());
                        true
                    }
                },
                Err(_) => false,
            };
            if !kept && !dir.readers.iter().any(|w| w.will_wake(waker)) {
                dir.readers.push(waker.clone());
            }
        }
        Ok(None)
    }

    /// The clock of a synchronous write: a delay needs an executor task's
    /// waker (see `Direction::stamp`). (Inlined: on every frame's path.)
    #[inline(always)]
    fn write_clock(&self) -> Option<Waker> {
        let delayed = self.shared.dirs[self.peer()].borrow().faults.delay_ns != 0;
        if delayed {
            self.shared.any_clock(self.side)
        } else {
            None
        }
    }

    /// Lends `buf` to `handle`, counts it and recycles it.
    fn deliver<R>(&self, buf: Vec<u8>, handle: impl FnOnce(&[u8]) -> R) -> R {
        self.shared.stats[self.side].received(buf.len());
        let out = handle(&buf);
        self.shared.dirs[self.side]
            .borrow_mut()
            .recycle(buf, self.shared.queue_len);
        out
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shared.alive[self.side].set(false);
        self.shared.wake_reader(self.peer());
        let readers = core::mem::take(&mut self.shared.dirs[self.peer()].borrow_mut().readers);
        for reader in readers {
            reader.wake();
        }
    }
}

impl Network for Endpoint {
    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn mtu(&self) -> usize {
        self.shared.mtu
    }

    fn stats(&self) -> Stats {
        self.shared.stats[self.side].get()
    }

    fn reset_stats(&self) {
        self.shared.stats[self.side].reset();
    }

    async fn write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), NetError> {
        let waker = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        self.shared.remember_clock(self.side, &waker);
        self.send(len, fill, Some(&waker), false)
    }

    fn try_write(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        self.send(len, fill, self.write_clock().as_ref(), false)
            .map(|()| true)
    }

    #[inline]
    fn segmentation_offload(&self) -> usize {
        if self.shared.segmentation_offload {
            MAX_SEGMENTED_FRAME_LEN
        } else {
            0
        }
    }

    fn try_write_segmented(
        &self,
        len: usize,
        segment_size: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<bool, NetError> {
        check_segmented(len, segment_size, self.segmentation_offload())?;
        self.send(len, fill, self.write_clock().as_ref(), true)
            .map(|()| true)
    }

    async fn read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<R, NetError> {
        let buf = poll_fn(|cx| {
            self.shared.remember_clock(self.side, cx.waker());
            match self.take(Some(cx)) {
                Ok(Some(buf)) => Poll::Ready(Ok(buf)),
                Ok(None) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            }
        })
        .await?;
        Ok(self.deliver(buf, handle))
    }

    fn try_read<R>(&self, handle: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, NetError> {
        Ok(self.take(None)?.map(|buf| self.deliver(buf, handle)))
    }

    fn poll_read<R>(
        &self,
        cx: &mut Context<'_>,
        handle: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R, NetError>> {
        self.shared.remember_clock(self.side, cx.waker());
        match self.take(Some(cx)) {
            Ok(Some(buf)) => Poll::Ready(Ok(self.deliver(buf, handle))),
            Ok(None) => Poll::Pending,
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

#[cfg(test)]
mod tests;
