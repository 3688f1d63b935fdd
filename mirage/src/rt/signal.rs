//! A wake-up signal between tasks of one executor: a producer raises it
//! (any number of times), one consumer waits for it. Raising it while no
//! one waits is remembered until the next wait, so a raise is never lost.

use core::cell::Cell;
use core::future::poll_fn;
use core::task::{Context, Poll, Waker};

/// A single-consumer wake-up signal (single-threaded: `Cell`s).
#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl core::fmt::Debug for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signal")
            .field("raised", &self.raised.get())
            .finish_non_exhaustive()
    }
}

impl Signal {
    /// A signal not raised.
    pub const fn new() -> Self {
        Signal {
            raised: Cell::new(false),
            waiter: Cell::new(None),
        }
    }

    /// Raises the signal, waking the task waiting for it.
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waiter.take() {
            w.wake();
        }
    }

    /// Whether the signal is raised (and lowers it): `Ready` if it was,
    /// else registers `cx` to be woken by the next raise.
    #[inline]
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raised.replace(false) {
            return Poll::Ready(());
        }
        let waker = match self.waiter.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.waiter.set(Some(waker));
        Poll::Pending
    }

    /// Waits until the signal is raised, and lowers it.
    pub async fn wait(&self) {
        poll_fn(|cx| self.poll_wait(cx)).await
    }
}
