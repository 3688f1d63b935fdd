//! Waiting for both of two futures ([`join`]), polled in turn by one task:
//! the two directions of a flow's halves, say, where doing one after the
//! other would wait for good.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Waits for both `a` and `b`, polling each (`a` first) whenever the task
/// is woken, and gives both outputs. A future that completed is dropped at
/// once; its output is kept until the other completes.
pub fn join<A: Future, B: Future>(a: A, b: B) -> Join<A, B> {
    Join {
        a: Step::Running(a),
        b: Step::Running(b),
    }
}

/// Where one of [`Join`]'s futures is.
enum Step<F: Future> {
    /// Not complete yet.
    Running(F),
    /// Complete, with its output.
    Done(F::Output),
    /// Its output was given out.
    Taken,
}

impl<F: Future> Step<F> {
    /// Polls the future if it is still running.
    ///
    /// # Safety
    ///
    /// `self` is structurally pinned: the caller never moves it.
    unsafe fn poll(&mut self, cx: &mut Context<'_>) {
        if let Step::Running(future) = self {
            // SAFETY: the future is pinned in place (the caller's contract)
            // until the assignment below drops it in place, which `Pin`
            // allows.
            let future = unsafe { Pin::new_unchecked(future) };
            if let Poll::Ready(out) = future.poll(cx) {
                *self = Step::Done(out);
            }
        }
    }

    fn is_done(&self) -> bool {
        matches!(self, Step::Done(_))
    }

    /// The output of a complete future (its state becomes `Taken`); a
    /// running future is left where it is.
    fn take(&mut self) -> Option<F::Output> {
        if !self.is_done() {
            return None;
        }
        match core::mem::replace(self, Step::Taken) {
            Step::Done(out) => Some(out),
            _ => None,
        }
    }
}

/// The future of [`join`]. Polled again after it completed (a misuse of
/// any future), it stays pending and registers nothing.
pub struct Join<A: Future, B: Future> {
    a: Step<A>,
    b: Step<B>,
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `a` and `b` are structurally pinned: running futures are
        // only polled in place and dropped in place (replaced by their
        // output, which is not pinned and may move); nothing moves them.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        unsafe {
            this.a.poll(cx);
            this.b.poll(cx);
        }
        if this.a.is_done() && this.b.is_done() {
            // (Both are `Done`: moving outputs out moves no future.)
            if let (Some(a), Some(b)) = (this.a.take(), this.b.take()) {
                return Poll::Ready((a, b));
            }
        }
        Poll::Pending
    }
}
