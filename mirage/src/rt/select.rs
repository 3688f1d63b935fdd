//! Waiting for the first of two futures ([`select`]), and an optional
//! deadline ([`deadline`]) for loops that wait for events or a timer that
//! may not be set.

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
/// the other is dropped.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = core::pin::pin!(a);
    let mut b = core::pin::pin!(b);
    core::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        if let Poll::Ready(out) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(out));
        }
        Poll::Pending
    })
    .await
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

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(sleep) => Pin::new(sleep).poll(cx),
            None => Poll::Pending,
        }
    }
}
