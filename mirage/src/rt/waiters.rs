//! The wakers of the futures waiting for one kind of event (a connection
//! to accept, a datagram to receive), each under a token the future keeps:
//! several futures may wait at once, each is woken by the next event, and
//! one dropped while waiting takes its waker out.

use alloc::vec::Vec;
use core::task::Waker;

/// Waiting futures' wakers, by token (0: a task's own registration,
/// without a future to cancel it; see [`Waiters::register_task`]).
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    wakers: Vec<(u64, Waker)>,
    /// The last token given out.
    last_token: u64,
}

impl Waiters {
    /// Registers `w` for the future whose token is `token` (0 at first,
    /// which this sets to a new one; the future keeps it for its next
    /// registrations), in place of its earlier waker.
    pub(crate) fn register(&mut self, token: &mut u64, w: &Waker) {
        if *token == 0 {
            self.last_token += 1;
            *token = self.last_token;
        }
        match self.wakers.iter_mut().find(|(t, _)| t == token) {
            Some((_, o)) => o.clone_from(w),
            None => self.wakers.push((*token, w.clone())),
        }
    }

    /// Registers `w` without a token: once per task (a task registering
    /// again is not added twice); only an event takes it out.
    pub(crate) fn register_task(&mut self, w: &Waker) {
        if !self.wakers.iter().any(|(t, o)| *t == 0 && o.will_wake(w)) {
            self.wakers.push((0, w.clone()));
        }
    }

    /// Takes the waker of the future `token` out (it stopped waiting).
    pub(crate) fn cancel(&mut self, token: u64) {
        if let Some(i) = self.wakers.iter().position(|(t, _)| *t == token) {
            self.wakers.swap_remove(i);
        }
    }

    /// Wakes every waiting future (those that find nothing register
    /// again).
    #[inline]
    pub(crate) fn wake_all(&mut self) {
        // (Popped: cheaper than a `drain`, on every event.)
        while let Some((_, w)) = self.wakers.pop() {
            w.wake();
        }
    }
}
