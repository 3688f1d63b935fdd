//! Waiting for the first of two futures ([`select`]), and an optional
//! deadline ([`deadline`], [`MovingDeadline`]) for loops that wait for
//! events or a timer that may not be set.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::timer::{Sleep, sleep_until};

/// Which of two futures finished first, with its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first.
    Left(A),
    /// The second.
    Right(B),
}

/// Waits for `a` or `b`, whichever completes first (`a` is polled first);
/// the other is dropped (both are, as soon as one completes).
pub fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select {
        a: Some(a),
        b: Some(b),
    }
}

/// The future of [`select`]. (A plain future rather than an `async fn`:
/// an `async fn` moves its arguments once more, into its own locals, at
/// the first poll; the stack's runner makes two of these per turn.)
pub struct Select<A, B> {
    a: Option<A>,
    b: Option<B>,
}

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `a` and `b` are structurally pinned: they are never moved
        // out of the pinned `Select` (no `Unpin` projection, no
        // `mem::swap`/`take`); they are only polled in place through
        // `Pin::new_unchecked` and dropped in place (overwritten with
        // `None`), which `Pin` allows.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(a) = this.a.as_mut() {
            // SAFETY: see above; `a` stays where it is until dropped.
            let a = unsafe { Pin::new_unchecked(a) };
            if let Poll::Ready(out) = a.poll(cx) {
                this.a = None;
                this.b = None;
                return Poll::Ready(Either::Left(out));
            }
        }
        if let Some(b) = this.b.as_mut() {
            // SAFETY: see above; `b` stays where it is until dropped.
            let b = unsafe { Pin::new_unchecked(b) };
            if let Poll::Ready(out) = b.poll(cx) {
                this.a = None;
                this.b = None;
                return Poll::Ready(Either::Right(out));
            }
        }
        Poll::Pending
    }
}

/// A timer that may be unset: completes when the monotonic clock reaches
/// the deadline, never when there is none.
pub struct Deadline(Option<Sleep>);

/// Waits until `deadline_ns`, or forever when it is `None`.
pub fn deadline(deadline_ns: Option<u64>) -> Deadline {
    Deadline(deadline_ns.map(sleep_until))
}

impl Future for Deadline {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(sleep) => Pin::new(sleep).poll(cx),
            None => Poll::Pending,
        }
    }
}

/// A timer on a deadline that may move, for a hand-written poll that waits
/// for events and for a layer's next timer at once: each poll gives the
/// current deadline, and the timer is re-armed only when it changed.
#[derive(Default)]
pub struct MovingDeadline {
    armed: Option<u64>,
    timer: Option<Sleep>,
}

impl core::fmt::Debug for MovingDeadline {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MovingDeadline")
            .field("armed", &self.armed)
            .finish()
    }
}

impl MovingDeadline {
    /// No deadline yet.
    pub const fn new() -> Self {
        MovingDeadline {
            armed: None,
            timer: None,
        }
    }

    /// Whether the monotonic clock has reached `deadline_ns` (never when
    /// it is `None`); if not, `cx` is woken when it does. Once reached,
    /// the timer is disarmed: the next call arms it again.
    pub fn poll_reached(&mut self, cx: &mut Context<'_>, deadline_ns: Option<u64>) -> bool {
        if deadline_ns != self.armed {
            self.armed = deadline_ns;
            self.timer = deadline_ns.map(sleep_until);
        }
        let Some(timer) = &mut self.timer else {
            return false;
        };
        if Pin::new(timer).poll(cx).is_pending() {
            return false;
        }
        self.armed = None;
        self.timer = None;
        true
    }
}
