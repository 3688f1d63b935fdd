//! A turnstile: lets one operation at a time through, across `.await`s.
//!
//! The store's operations read and write several blocks each; two of them
//! interleaved at their awaits would each see the other's half-done
//! changes. Waiters park their wakers and are all woken when the holder
//! leaves (one of them gets through, the others park again), so a waiter
//! that was dropped never strands the rest.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use spin::Mutex;

#[derive(Debug, Default)]
struct Inner {
    busy: bool,
    waiters: Vec<Waker>,
}

/// One operation at a time.
#[derive(Debug, Default)]
pub(super) struct Turnstile {
    inner: Mutex<Inner>,
}

/// Holding this is being the one operation let through.
#[derive(Debug)]
pub(super) struct Pass<'a> {
    turnstile: &'a Turnstile,
}

/// The future of [`Turnstile::enter`].
pub(super) struct Enter<'a> {
    turnstile: &'a Turnstile,
}

impl Turnstile {
    /// Waits until no other operation is in, then enters.
    pub(super) fn enter(&self) -> Enter<'_> {
        Enter { turnstile: self }
    }
}

impl<'a> Future for Enter<'a> {
    type Output = Pass<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Pass<'a>> {
        let mut inner = self.turnstile.inner.lock();
        if inner.busy {
            if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inner.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        } else {
            inner.busy = true;
            Poll::Ready(Pass {
                turnstile: self.turnstile,
            })
        }
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut inner = self.turnstile.inner.lock();
            inner.busy = false;
            core::mem::take(&mut inner.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_at_a_time() {
        let t = Turnstile::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut first = core::pin::pin!(t.enter());
        let pass = match first.as_mut().poll(&mut cx) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("an idle turnstile lets in"),
        };
        let mut second = core::pin::pin!(t.enter());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        drop(pass);
        assert!(second.as_mut().poll(&mut cx).is_ready());
    }
}
