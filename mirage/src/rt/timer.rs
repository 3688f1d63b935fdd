//! Timers: the queue of pending deadlines, [`Sleep`] and [`timeout`].

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::Ordering;
use core::task::{Context, Poll, Waker};

use super::executor::{Shared, shared_of};

/// A timer's place in the queue: its deadline, then its arrival order, so
/// timers with one deadline fire in the order they were set.
type TimerKey = (u64, u64);

/// The pending timers of one executor, ordered by deadline.
#[derive(Default)]
pub(super) struct TimerQueue {
    entries: BTreeMap<TimerKey, Waker>,
    next_seq: u64,
    /// The latest time up to which every timer was fired: a queued timer
    /// with a later deadline is still queued (see `Sleep::poll`).
    fired_until: u64,
}

impl TimerQueue {
    fn insert(&mut self, deadline: u64, waker: Waker) -> TimerKey {
        let key = (deadline, self.next_seq);
        self.next_seq += 1;
        self.entries.insert(key, waker);
        key
    }

    fn remove(&mut self, key: TimerKey) {
        self.entries.remove(&key);
    }

    /// Re-registers the timer with `waker` if it is a different waker;
    /// returns false if the timer already fired (it is no longer queued).
    fn refresh(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.entries.get_mut(&key) {
            Some(current) => {
                if !current.will_wake(waker) {
                    *current = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    /// The time up to which timers have been fired.
    pub(super) fn fired_until(&self) -> u64 {
        self.fired_until
    }

    /// The earliest deadline, if any timer is pending.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        self.entries.keys().next().map(|&(deadline, _)| deadline)
    }

    /// Removes and returns the wakers of every timer due at `now`, earliest
    /// first.
    pub(super) fn take_expired(&mut self, now: u64) -> Vec<Waker> {
        self.fired_until = self.fired_until.max(now);
        // The executor asks at every turn; mostly nothing is due, and
        // `split_off` would then move every entry into a new tree.
        if self.next_deadline().is_none_or(|deadline| deadline > now) {
            return Vec::new();
        }
        let later = self.entries.split_off(&(now.saturating_add(1), 0));
        let due = core::mem::replace(&mut self.entries, later);
        due.into_values().collect()
    }

    /// Drops every pending timer.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The number of pending timers.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[derive(Clone, Copy)]
enum Target {
    /// Relative to the first poll.
    After(u64),
    /// An absolute monotonic time.
    At(u64),
}

/// A future that completes once the platform's monotonic clock reaches a
/// deadline. Must be awaited inside a task of a [`super::Executor`].
pub struct Sleep {
    target: Target,
    registration: Option<Registration>,
}

/// A queued [`Sleep`]: its executor, its key, and the waker it was queued
/// with.
struct Registration {
    shared: Arc<Shared>,
    key: TimerKey,
    waker: Waker,
}

/// Sleeps for `ns` nanoseconds, counted from the first poll.
pub fn sleep_ns(ns: u64) -> Sleep {
    Sleep {
        target: Target::After(ns),
        registration: None,
    }
}

/// Sleeps until the monotonic clock reads `deadline_ns`.
pub fn sleep_until(deadline_ns: u64) -> Sleep {
    Sleep {
        target: Target::At(deadline_ns),
        registration: None,
    }
}

impl Future for Sleep {
    type Output = ();

    // (Inlined: its first test is the whole poll of a pending timer, which
    // the stack's runner polls at every turn; the rest is out of line.)
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(reg) = &self.registration
            && reg.key.0 > reg.shared.fired_until.load(Ordering::Relaxed)
            && reg.waker.will_wake(cx.waker())
        {
            return Poll::Pending;
        }
        self.poll_slow(cx)
    }
}

impl Sleep {
    #[inline(never)]
    fn poll_slow(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        if let Some(reg) = &mut this.registration {
            // Queued: pending until the executor fires it, which takes it
            // out of the queue (at the start of the turn after its
            // deadline). No clock read for the tasks that poll a pending
            // timer on every wake-up (the stack's runner does), and, while
            // the same task polls it and fired timers stop short of its
            // deadline, not even a look at the queue.
            // (The executor's thread, which polls, is the one that fires
            // timers: a relaxed load of its copy of `fired_until` suffices.)
            if reg.key.0 > reg.shared.fired_until.load(Ordering::Relaxed)
                && reg.waker.will_wake(cx.waker())
            {
                return Poll::Pending;
            }
            let mut timers = reg.shared.timers.lock();
            if timers.refresh(reg.key, cx.waker()) {
                drop(timers);
                reg.waker = cx.waker().clone();
                return Poll::Pending;
            }
            drop(timers);
            this.registration = None;
            return Poll::Ready(());
        }
        let shared = shared_of(cx.waker(), "mirage::rt::sleep");
        let now = shared.now_ns();
        let deadline = match this.target {
            Target::At(deadline) => deadline,
            Target::After(ns) => {
                let deadline = now.saturating_add(ns);
                this.target = Target::At(deadline);
                deadline
            }
        };
        if now >= deadline {
            return Poll::Ready(());
        }
        let key = shared.timers.lock().insert(deadline, cx.waker().clone());
        this.registration = Some(Registration {
            shared,
            key,
            waker: cx.waker().clone(),
        });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(reg) = self.registration.take() {
            reg.shared.timers.lock().remove(reg.key);
        }
    }
}

/// The deadline of a [`timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl core::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("timed out")
    }
}

/// Runs `future` for at most `ns` nanoseconds: its output, or [`Elapsed`]
/// (and `future` dropped) if the time ran out first.
pub async fn timeout<F: Future>(ns: u64, future: F) -> Result<F::Output, Elapsed> {
    let mut future = core::pin::pin!(future);
    let mut sleep = sleep_ns(ns);
    core::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
