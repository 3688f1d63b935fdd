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

    /// Raises the signal, waking the task waiting for it (which stays
    /// registered: see [`Signal::poll_wait`]).
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waiter.take() {
            w.wake_by_ref();
            // (Unless the wake registered a waker meanwhile.)
            let newer = self.waiter.take();
            self.waiter.set(newer.or(Some(w)));
        }
    }

    /// Whether the signal is raised (and lowers it): `Ready` if it was,
    /// `Pending` if not. Either way the task of `cx` is registered to be
    /// woken by the next raise, and stays registered (a raise after it
    /// stopped waiting wakes it spuriously): a consumer that polls the
    /// signal within a longer-lived future of its own, and goes on
    /// waiting after a `Ready`, is never left unregistered. One consumer
    /// only: a second task polling the signal replaces the first.
    #[inline]
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<()> {
        let waker = match self.waiter.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        self.waiter.set(Some(waker));
        if self.raised.replace(false) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits until the signal is raised, and lowers it.
    pub async fn wait(&self) {
        poll_fn(|cx| self.poll_wait(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::task::Wake;
    use core::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_consumer_stays_registered_after_ready() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let signal = Signal::new();
        // Raised before the first wait: Ready, and registered all the same.
        signal.raise();
        assert_eq!(signal.poll_wait(&mut cx), Poll::Ready(()));
        signal.raise();
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        // Ready again (the raise is remembered), then pending; each raise
        // wakes the consumer, which never polled again in between.
        assert_eq!(signal.poll_wait(&mut cx), Poll::Ready(()));
        assert_eq!(signal.poll_wait(&mut cx), Poll::Pending);
        signal.raise();
        signal.raise();
        assert_eq!(count.0.load(Ordering::Relaxed), 3);
    }
}
